// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file params.cuh
//! What every forward kernel receives: pointers and strides of q, k, v, o (in elements), the
//! logsumexp output, the mask's window and the softmax's constants; and the bounds of the
//! segment one CTA works in, read once per tile.

#include <varattn/detail/mask.hpp>
#include <varattn/options.hpp>
#include <varattn/packed_view.hpp>

#include <cmath>
#include <cstdint>

namespace varattn::detail {

template <class Element>
struct forward_params {
  const Element* q;
  const Element* k;
  const Element* v;
  Element* o;
  int64_t q_token_stride, q_head_stride;
  int64_t k_token_stride, k_head_stride;
  int64_t v_token_stride, v_head_stride;
  int64_t o_token_stride, o_head_stride;
  float* lse;               //!< null: not asked for
  int64_t lse_head_stride;  //!< lse of row r, q head h at lse[h * lse_head_stride + r]
  int32_t group_size;       //!< q heads per kv head
  window mask;              //!< the plan's window (causal folded in)
  //! The scores the softmax sees are s = q.k (no softcap) or tanh(q.k * softcap_scale)
  //! (softcap_scale = scale / cap); it exponentiates exp2(s * exp2_scale) with exp2_scale =
  //! scale * log2(e) or cap * log2(e): the scale is applied once, after the running max.
  float softcap_scale;
  float exp2_scale;
  int64_t rows_q;  //!< rows of q and o: what a rejected plan fills with NaN
  int32_t head_dim;
  int32_t heads_q;  //!< heads of q and o (the Hopper kernel's tensor maps)
  int32_t heads_k;  //!< heads of k and v
  int64_t rows_k;   //!< rows of k and v
};

template <class Element>
forward_params<Element> make_forward_params(const packed_view<const Element>& q,
                                            const packed_view<const Element>& k,
                                            const packed_view<const Element>& v,
                                            const packed_view<Element>& o,
                                            const logsumexp_view& lse, window mask, float scale,
                                            float softcap) {
  constexpr float kLog2e = 1.4426950408889634f;
  return {q.data,
          k.data,
          v.data,
          o.data,
          q.token_stride,
          q.head_stride,
          k.token_stride,
          k.head_stride,
          v.token_stride,
          v.head_stride,
          o.token_stride,
          o.head_stride,
          lse.data,
          lse.head_stride,
          q.heads / k.heads,
          mask,
          softcap > 0.0f ? scale / softcap : 0.0f,
          (softcap > 0.0f ? softcap : scale) * kLog2e,
          o.rows,
          o.head_dim,
          q.heads,
          k.heads,
          k.rows};
}

//! One segment's rows in q (and o) and in k (and v).
struct segment_bounds {
  int32_t q_begin;
  int32_t q_length;
  int32_t k_begin;
  int32_t k_length;
};

}  // namespace varattn::detail
