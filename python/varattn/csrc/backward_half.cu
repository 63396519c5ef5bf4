// SPDX-License-Identifier: Apache-2.0
// The op's __half backward: every head dim's backward kernels for this element type.
#include "backward_element.hpp"

#include <varattn/backward.cuh>

namespace varattn_torch {

void backward_element(const varattn::plan& plan, const_grad_view<__half> q,
                      const_grad_view<__half> k, const_grad_view<__half> v,
                      const_grad_view<__half> o, const_grad_view<__half> d_o,
                      varattn::logsumexp_view lse, varattn::packed_view<__half> d_q,
                      varattn::packed_view<__half> d_k, varattn::packed_view<__half> d_v,
                      void* workspace, std::size_t workspace_bytes, cudaStream_t stream,
                      varattn::backward_options options) {
  varattn::backward<__half>(plan, q, k, v, o, d_o, lse, d_q, d_k, d_v, workspace,
                            workspace_bytes, stream, options);
}

}  // namespace varattn_torch
