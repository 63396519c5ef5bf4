#pragma once
//! \file tile_shape.hpp
//! The tile each CTA computes, as one constexpr function of the head dimension, shared by
//! the host (plan decomposition) and the kernels.

#include <cstdint>

namespace varattn {

struct tile_shape {
  int32_t block_m;  //!< query rows per CTA tile (16 per warp)
  int32_t block_n;  //!< keys per main-loop step
  int32_t warps;
};

constexpr tile_shape tile_shape_for(int32_t head_dim) {
  // 4 warps x 16 rows. Per thread, the 16 x block_n fp32 scores take block_n / 2 registers
  // and the 16 x head_dim fp32 output head_dim / 2: at head_dim 256, 32 keys per step keep
  // the sum under the 255-register limit.
  return {64, head_dim > 128 ? 32 : 64, 4};
}

constexpr int32_t ceil_div(int32_t a, int32_t b) { return (a + b - 1) / b; }

}  // namespace varattn
