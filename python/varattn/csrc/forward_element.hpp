// SPDX-License-Identifier: Apache-2.0
// varattn::forward for the op's two element types, each instantiated in its own translation
// unit (forward_half.cu, forward_bf16.cu) so that the extension's kernels compile in parallel.
#pragma once

#include <varattn/forward_scratch.hpp>
#include <varattn/options.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/plan.hpp>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

namespace varattn_torch {

template <class Element>
using const_view = varattn::packed_view<const Element>;

// `lse.data == nullptr`: no logsumexp requested; `scratch.data == nullptr`: one CTA a tile.
void forward_element(const varattn::plan& plan, const_view<__half> q, const_view<__half> k,
                     const_view<__half> v, varattn::packed_view<__half> o,
                     varattn::logsumexp_view lse, cudaStream_t stream,
                     varattn::forward_scratch scratch);
void forward_element(const varattn::plan& plan, const_view<__nv_bfloat16> q,
                     const_view<__nv_bfloat16> k, const_view<__nv_bfloat16> v,
                     varattn::packed_view<__nv_bfloat16> o, varattn::logsumexp_view lse,
                     cudaStream_t stream, varattn::forward_scratch scratch);

}  // namespace varattn_torch
