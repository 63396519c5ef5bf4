#pragma once
//! \file head_dims.hpp
//! The head dimensions the kernels are instantiated for.
//!
//! Define VARATTN_HEAD_DIMS (a comma-separated list, e.g. `-DVARATTN_HEAD_DIMS=64,128`) for
//! every translation unit to compile fewer; the CMake option VARATTN_HEAD_DIMS does that.

#include <cstdint>
#include <string>

#ifndef VARATTN_HEAD_DIMS
#define VARATTN_HEAD_DIMS 64, 80, 96, 128, 256
#endif

namespace varattn {

template <int32_t... HeadDims>
struct head_dim_list {
  static constexpr bool contains(int32_t head_dim) { return ((head_dim == HeadDims) || ...); }
  static std::string to_string() {
    std::string out;
    ((out += (out.empty() ? "" : ", ") + std::to_string(HeadDims)), ...);
    return out;
  }
};

//! The compiled head dimensions.
using head_dims = head_dim_list<VARATTN_HEAD_DIMS>;

}  // namespace varattn
