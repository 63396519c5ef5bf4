// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file packed_view.hpp
//! A non-owning view of a packed [rows, heads, head_dim] tensor with arbitrary token and
//! head strides (in elements), so q, k and v may be slices of one fused qkv buffer.

#include <cstdint>
#include <type_traits>

namespace varattn {

//! Element (row t, head h, channel d) lives at `data[t * token_stride + h * head_stride + d]`.
//! The channel stride is 1.
template <class Element>
struct packed_view {
  Element* data = nullptr;
  int64_t rows = 0;
  int32_t heads = 0;
  int32_t head_dim = 0;
  int64_t token_stride = 0;
  int64_t head_stride = 0;

  //! A dense [rows, heads, head_dim] tensor.
  static constexpr packed_view contiguous(Element* data, int64_t rows, int32_t heads,
                                          int32_t head_dim) {
    return {data, rows, heads, head_dim, int64_t{heads} * head_dim, head_dim};
  }

  //! Views of mutable elements convert to views of const ones.
  template <class E = Element, class = std::enable_if_t<!std::is_const_v<E>>>
  constexpr operator packed_view<const E>() const {
    return {data, rows, heads, head_dim, token_stride, head_stride};
  }

  constexpr Element* at(int64_t row, int32_t head) const {
    return data + row * token_stride + head * head_stride;
  }
};

}  // namespace varattn
