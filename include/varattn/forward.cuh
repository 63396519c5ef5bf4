// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file forward.cuh
//! The dispatcher: runs a plan on q, k, v into o on one stream. Validates on the host,
//! then launches; never allocates, never synchronizes, safe inside CUDA graph capture. With a
//! forward_scratch, fused Hopper launches run a persistent grid where the plan's tile_counter()
//! says so (forward_scratch.hpp).

#include <varattn/detail/arch_guard.cuh>
#include <varattn/detail/head_dim_dispatch.hpp>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/launch.cuh>
#include <varattn/forward_scratch.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/options.hpp>
#include <varattn/plan.hpp>
#include <varattn/validate.hpp>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <type_traits>

namespace varattn {

//! o = softmax(scale * q k^T [softcapped, masked]) v, segment by segment, as planned, and
//! when `lse.data` is set the logsumexp of every query row (options.hpp). Throws
//! varattn::error before any launch if a view does not fit the plan (o and lse untouched),
//! and after a launch that CUDA rejects.
template <class Element>
void forward(const plan& p, packed_view<const Element> q, packed_view<const Element> k,
             packed_view<const Element> v, packed_view<Element> o, logsumexp_view lse,
             cudaStream_t stream = nullptr, forward_scratch scratch = {}) {
  static_assert(std::is_same_v<Element, __half> || std::is_same_v<Element, __nv_bfloat16>,
                "varattn::forward takes __half or __nv_bfloat16");
  p.require_runnable("forward");
  validate(p, q, k, v, o, lse);
  detail::validate_scratch(scratch, p, lse, q, k, v, o);
  p.order_after_upload(stream);
  const auto params = detail::make_forward_params(
      q, k, v, o, lse, detail::window{p.window_left(), p.window_right()}, p.scale(), p.softcap());
  detail::dispatch_head_dim(p.head_dim(), [&](auto head_dim) {
    detail::launch<Element, decltype(head_dim)::value>(p, params, stream, scratch);
  });
}

//! The same without the logsumexp.
template <class Element>
void forward(const plan& p, packed_view<const Element> q, packed_view<const Element> k,
             packed_view<const Element> v, packed_view<Element> o, cudaStream_t stream = nullptr,
             forward_scratch scratch = {}) {
  forward(p, q, k, v, o, logsumexp_view{}, stream, scratch);
}

}  // namespace varattn
