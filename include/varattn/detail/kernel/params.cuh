// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file params.cuh
//! What every forward kernel receives: pointers and strides of q, k, v, o (in elements),
//! and the bounds of the segment one CTA works in, read once per tile.

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
  int32_t group_size;  //!< q heads per kv head
  float scale_log2;    //!< softmax scale * log2(e): the kernels exponentiate with exp2
  int64_t rows_q;      //!< rows of q and o: what a rejected plan fills with NaN
  int32_t head_dim;
};

template <class Element>
forward_params<Element> make_forward_params(const packed_view<const Element>& q,
                                            const packed_view<const Element>& k,
                                            const packed_view<const Element>& v,
                                            const packed_view<Element>& o, float scale) {
  return {q.data,         k.data,         v.data,         o.data,
          q.token_stride, q.head_stride,  k.token_stride, k.head_stride,
          v.token_stride, v.head_stride,  o.token_stride, o.head_stride,
          q.heads / k.heads, scale * 1.4426950408889634f,
          o.rows,         o.head_dim};
}

//! One segment's rows in q (and o) and in k (and v).
struct segment_bounds {
  int32_t q_begin;
  int32_t q_length;
  int32_t k_begin;
  int32_t k_length;
};

}  // namespace varattn::detail
