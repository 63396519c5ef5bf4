// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file backward.cuh
//! The backward dispatcher: dq, dk, dv of a forward that ran the same plan, on one stream.
//! Validates on the host, then launches; never allocates, never synchronizes, safe inside CUDA
//! graph capture (device-built plans included: their work lists are written on the device).

#include <varattn/backward_workspace.hpp>
#include <varattn/detail/arch_guard.cuh>
#include <varattn/detail/backward/launch.cuh>
#include <varattn/detail/backward/params.cuh>
#include <varattn/detail/head_dim_dispatch.hpp>
#include <varattn/detail/kernel/score_modifier.cuh>
#include <varattn/options.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/plan.hpp>
#include <varattn/validate_backward.hpp>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <type_traits>

namespace varattn {

//! Writes d_q, d_k, d_v: the gradients of sum(o * d_o) with respect to q, k, v, where o =
//! forward(p, q, k, v) and `lse` is the logsumexp that forward wrote (FlashAttention-2's
//! backward: P is recomputed from q, k and lse; D = rowsum(d_o * o) goes to the workspace).
//! d_k and d_v sum over the q heads of each kv head's group; every element of the three is
//! written (rows that see no key, and keys no query sees, get 0). d_k and d_v are summed in a
//! fixed order; d_q too with `options.deterministic` (two runs give identical bits), else (the
//! default) through float32 atomics (backward_options), except on the sm80 kernels at head
//! dims where their deterministic dQ kernel is the faster one (72 and 80, backward_tiles).
//! `workspace`: device memory of backward_workspace_bytes(p, options) bytes (the atomic path's
//! accumulator takes 4 rows_q heads_q head_dim of them), 16-byte aligned, not shared with any
//! view, used until the work enqueued here has run. Runs the sm80 kernels, except dK/dV (and
//! the dQ terms, added by the copy engine's bulk reductions; at head dim 256 by vector
//! reductions from registers) at head dims 32-128 and 256 of plans whose forward runs the sm90
//! family: those take the Hopper wgmma kernels (a binary without sm_90a code then throws, as
//! the forward).
//!
//! Throws varattn::error before any launch if an argument does not fit the plan
//! (validate_backward), and after a launch that CUDA rejects. A device-built plan whose offsets
//! the device rejected gets NaN in every gradient element (plan::raise_device_error names them).
template <class Element>
void backward(const plan& p, packed_view<const Element> q, packed_view<const Element> k,
              packed_view<const Element> v, packed_view<const Element> o,
              packed_view<const Element> d_o, logsumexp_view lse, packed_view<Element> d_q,
              packed_view<Element> d_k, packed_view<Element> d_v, void* workspace,
              std::size_t workspace_bytes, cudaStream_t stream = nullptr,
              backward_options options = {}) {
  static_assert(std::is_same_v<Element, __half> || std::is_same_v<Element, __nv_bfloat16>,
                "varattn::backward takes __half or __nv_bfloat16");
  p.require_runnable("backward");
  validate_backward(p, q, k, v, o, d_o, lse, d_q, d_k, d_v, workspace, workspace_bytes,
                    options);
  const detail::backward_layout layout = detail::backward_layout::of(p, options);
  detail::check_backward_grid(p, layout);
  p.order_after_upload(stream);
  char* bytes = detail::workspace_origin(workspace);  // the layout's line-aligned regions
  auto params = detail::make_backward_params(
      q, k, v, o, d_o, lse, d_q, d_k, d_v, reinterpret_cast<float*>(bytes),
      layout.atomic_dq ? reinterpret_cast<float*>(bytes + layout.dq_acc) : nullptr,
      detail::window{p.window_left(), p.window_right()}, p.scale(), p.softcap());
  params.head_splits = layout.head_splits;
  params.split_heads = params.group_size / layout.head_splits;
  if (layout.head_splits > 1) {
    params.dkv_partial = reinterpret_cast<float*>(bytes + layout.dkv_partial);
  }
  detail::dispatch_head_dim(p.head_dim(), [&](auto head_dim) {
    constexpr int kHeadDim = decltype(head_dim)::value;
    const auto run = [&](auto softcap) {
      using modifier = detail::score_modifier<decltype(softcap)::value>;
      // No atomic kernels where the head dim's tiles never take them (backward_tiles).
      if constexpr (detail::backward_tiles_for(kHeadDim).atomic_dq ||
                    detail::hopper_backward_head_dim(kHeadDim)) {
        if (layout.atomic_dq) {
          detail::run_backward<Element, kHeadDim, modifier, true>(p, params, layout, bytes, stream);
          return;
        }
      }
      detail::run_backward<Element, kHeadDim, modifier, false>(p, params, layout, bytes, stream);
    };
    if (p.softcap() > 0.0f) {
      run(std::true_type{});
    } else {
      run(std::false_type{});
    }
  });
}

}  // namespace varattn
