// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tile_shape.hpp
//! The tile a CTA computes, and the sm80 kernel's choice of it as one constexpr function of
//! the head dimension and the longest segment (kernel_config.hpp picks between kernels).

#include <varattn/detail/host_device.hpp>

#include <cstdint>

namespace varattn {

struct tile_shape {
  int32_t block_m;  //!< query rows per CTA tile
  int32_t block_n;  //!< keys per main-loop step
  int32_t warps;    //!< warps per CTA (sm90: two or three consumer warpgroups and one producer)

  //! sm80: 16-row mma tiles per warp; each k/v fragment read from shared memory feeds this many.
  constexpr int32_t m_tiles() const { return block_m / (16 * warps); }
};

//! The sm80 kernel's tile. Tall tiles (32 rows a warp) halve the shared-memory reads per flop
//! on long segments; segments of 64 rows or fewer take short tiles, which waste no rows on
//! them. Per thread, the fp32 scores take m_tiles * block_n / 2 registers and the output
//! m_tiles * head_dim / 2: head dims over 128 keep one m-tile and 32 keys a step to stay
//! under 255 registers; from head dim 96, 64 keys a step spill 24 to 204 bytes (ptxas -v,
//! sm_90a), so tall tiles take 32 (64 ran equal non-causal and 3-4% faster causal, but spilled).
constexpr tile_shape tile_shape_for(int32_t head_dim, int32_t max_segment_length) {
  if (head_dim > 128) return {64, 32, 4};
  if (max_segment_length > 64) return {128, head_dim > 80 ? 32 : 64, 4};
  return {64, 64, 4};
}

//! ceil(a / b) for a >= 0, b > 0; in int64 because a + b - 1 overflows int32 near 2^31.
VARATTN_HOST_DEVICE constexpr int32_t ceil_div(int32_t a, int32_t b) {
  return static_cast<int32_t>((int64_t{a} + b - 1) / b);
}

}  // namespace varattn
