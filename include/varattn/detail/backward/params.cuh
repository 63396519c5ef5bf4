// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file params.cuh
//! What every backward kernel receives: pointers and strides (in elements) of the inputs q,
//! k, v, o, d_o and the gradients d_q, d_k, d_v, the forward's logsumexp, D in the
//! workspace (and the dQ accumulator), the mask's window and the score constants the forward
//! used (kernel/params.cuh).

#include <varattn/detail/mask.hpp>
#include <varattn/detail/sm90/tensor_map.hpp>
#include <varattn/options.hpp>
#include <varattn/packed_view.hpp>

#include <cuda.h>

#include <cstdint>

namespace varattn::detail {

//! A packed tensor on the device: element (row, head, channel) at data[row * token_stride +
//! head * head_stride + channel].
template <class T>
struct device_rows {
  T* data;
  int64_t token_stride;
  int64_t head_stride;

  template <class Element>
  static device_rows of(const packed_view<Element>& view) {
    return {view.data, view.token_stride, view.head_stride};
  }
  __device__ __forceinline__ T* at(int64_t row, int32_t head) const {
    return data + row * token_stride + int64_t{head} * head_stride;
  }
};

template <class Element>
struct backward_params {
  device_rows<const Element> q, k, v, o, d_o;
  device_rows<Element> d_q, d_k, d_v;
  const float* lse;         //!< the forward's: row r of q head h at lse[h * lse_head_stride + r]
  int64_t lse_head_stride;
  float* delta;             //!< D = rowsum(d_o * o): row r of q head h at delta[h * rows_q + r]
  //! The atomic path's dQ accumulator, [rows_q, heads_q, head_dim]; null: deterministic path.
  float* dq_acc;
  int32_t group_size;       //!< q heads per kv head
  int32_t heads_q;
  int32_t heads_kv;
  int32_t head_dim;
  int64_t rows_q;
  int64_t rows_k;
  window mask;              //!< the plan's window (causal folded in)
  //! As the forward's: the score modifier turns q.k into s (q.k, or tanh(q.k * softcap_scale)),
  //! P = exp2(s * exp2_scale - lse * log2(e)); scale multiplies dQ and dK at the end.
  float softcap_scale;
  float exp2_scale;
  float scale;
  //! CTAs a kv head's q heads are split over (backward_head_splits), and the q heads of each
  //! (group_size / head_splits); above 1 split the dK/dV kernels write float32 partials,
  //! [rows_k, heads_kv, head_splits, 2, head_dim], to dkv_partial.
  int32_t head_splits = 1;
  int32_t split_heads = 1;
  float* dkv_partial = nullptr;
  //! The Hopper kernel's tensor maps (sm90/tensor_map.hpp), made by backward_program::prepare,
  //! else unset: its atomic path's dq_acc; its tile loads, q and d_o in boxes of its query
  //! step, k and v of its key tile.
  CUtensorMap dq_map{};
  sm90::segment_map q_map{}, d_o_map{}, k_map{}, v_map{};
};

template <class Element>
backward_params<Element> make_backward_params(
    const packed_view<const Element>& q, const packed_view<const Element>& k,
    const packed_view<const Element>& v, const packed_view<const Element>& o,
    const packed_view<const Element>& d_o, const logsumexp_view& lse,
    const packed_view<Element>& d_q, const packed_view<Element>& d_k,
    const packed_view<Element>& d_v, float* delta, float* dq_acc, window mask, float scale,
    float softcap) {
  constexpr float kLog2e = 1.4426950408889634f;
  using in = device_rows<const Element>;
  using out = device_rows<Element>;
  return {in::of(q),   in::of(k),   in::of(v),   in::of(o),
          in::of(d_o), out::of(d_q), out::of(d_k), out::of(d_v),
          lse.data,    lse.head_stride,
          delta,       dq_acc,
          q.heads / k.heads, q.heads, k.heads, q.head_dim,
          q.rows,      k.rows,      mask,
          softcap > 0.0f ? scale / softcap : 0.0f,
          (softcap > 0.0f ? softcap : scale) * kLog2e,
          scale};
}

}  // namespace varattn::detail
