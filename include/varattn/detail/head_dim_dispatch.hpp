// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file head_dim_dispatch.hpp
//! Maps a runtime head dimension to its compile-time instantiation: one generic lambda,
//! called with std::integral_constant<int32_t, HeadDim>, for the compiled list.

#include <varattn/error.hpp>
#include <varattn/head_dims.hpp>

#include <cstdint>
#include <type_traits>

namespace varattn::detail {

template <int32_t... HeadDims, class F>
void dispatch_head_dim(head_dim_list<HeadDims...>, int32_t head_dim, F&& f) {
  const bool found =
      ((head_dim == HeadDims ? (f(std::integral_constant<int32_t, HeadDims>{}), true) : false) ||
       ...);
  if (!found) {
    fail("head_dim = ", head_dim, " is not instantiated (available: ",
         head_dim_list<HeadDims...>::to_string(), ")");
  }
}

template <class F>
void dispatch_head_dim(int32_t head_dim, F&& f) {
  dispatch_head_dim(head_dims{}, head_dim, static_cast<F&&>(f));
}

}  // namespace varattn::detail
