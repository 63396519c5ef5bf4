// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file head_dims.hpp
//! The head dimensions the kernels are instantiated for.
//!
//! The list comes from, first to last: a definition on the command line (a comma-separated
//! list, the same for every translation unit: `-DVARATTN_HEAD_DIMS=64,128` to g++ or clang,
//! `-DVARATTN_HEAD_DIMS=64\,128` to nvcc, which splits -D values at commas);
//! varattn/config.hpp, which CMake generates from its VARATTN_HEAD_DIMS option and the PyTorch
//! package's build from its environment variable; otherwise every supported head dim.

#if __has_include(<varattn/config.hpp>)
#include <varattn/config.hpp>
#endif

#include <cstdint>
#include <string>

#ifndef VARATTN_HEAD_DIMS
#define VARATTN_HEAD_DIMS 64, 72, 80, 96, 128, 256
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
