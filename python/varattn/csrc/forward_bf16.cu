// SPDX-License-Identifier: Apache-2.0
// The op's __nv_bfloat16 forward: every head dim's kernels for this element type.
#include "forward_element.hpp"

#include <varattn/forward.cuh>

namespace varattn_torch {

void forward_element(const varattn::plan& plan, const_view<__nv_bfloat16> q,
                     const_view<__nv_bfloat16> k, const_view<__nv_bfloat16> v,
                     varattn::packed_view<__nv_bfloat16> o, varattn::logsumexp_view lse,
                     cudaStream_t stream, varattn::forward_scratch scratch) {
  varattn::forward<__nv_bfloat16>(plan, q, k, v, o, lse, stream, scratch);
}

}  // namespace varattn_torch
