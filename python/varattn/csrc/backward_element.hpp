// SPDX-License-Identifier: Apache-2.0
// varattn::backward for the op's two element types, each instantiated in its own translation
// unit (backward_half.cu, backward_bf16.cu) so that the extension's kernels compile in parallel.
// `options` picks how dQ is summed: float32 atomics (default) or deterministic.
#pragma once

#include <varattn/options.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/plan.hpp>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstddef>

namespace varattn_torch {

template <class Element>
using const_grad_view = varattn::packed_view<const Element>;

void backward_element(const varattn::plan& plan, const_grad_view<__half> q,
                      const_grad_view<__half> k, const_grad_view<__half> v,
                      const_grad_view<__half> o, const_grad_view<__half> d_o,
                      varattn::logsumexp_view lse, varattn::packed_view<__half> d_q,
                      varattn::packed_view<__half> d_k, varattn::packed_view<__half> d_v,
                      void* workspace, std::size_t workspace_bytes, cudaStream_t stream,
                      varattn::backward_options options);
void backward_element(const varattn::plan& plan, const_grad_view<__nv_bfloat16> q,
                      const_grad_view<__nv_bfloat16> k, const_grad_view<__nv_bfloat16> v,
                      const_grad_view<__nv_bfloat16> o, const_grad_view<__nv_bfloat16> d_o,
                      varattn::logsumexp_view lse, varattn::packed_view<__nv_bfloat16> d_q,
                      varattn::packed_view<__nv_bfloat16> d_k,
                      varattn::packed_view<__nv_bfloat16> d_v, void* workspace,
                      std::size_t workspace_bytes, cudaStream_t stream,
                      varattn::backward_options options);

}  // namespace varattn_torch
