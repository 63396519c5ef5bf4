// SPDX-License-Identifier: Apache-2.0
// The op's __half forward: every head dim's kernels for this element type.
#include "forward_element.hpp"

#include <varattn/forward.cuh>

namespace varattn_torch {

void forward_element(const varattn::plan& plan, const_view<__half> q, const_view<__half> k,
                     const_view<__half> v, varattn::packed_view<__half> o,
                     varattn::logsumexp_view lse, cudaStream_t stream,
                     varattn::forward_scratch scratch) {
  varattn::forward<__half>(plan, q, k, v, o, lse, stream, scratch);
}

}  // namespace varattn_torch
