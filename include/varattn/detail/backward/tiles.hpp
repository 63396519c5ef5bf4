// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tiles.hpp
//! The backward kernels' tiles, one constexpr function of the head dim, for the host (the
//! workspace's work lists are sized from them) and the kernels.

#include <cstdint>

namespace varattn::detail {

//! dK/dV kernel: a CTA owns `kv_keys` keys of one kv head (16 a warp) and visits the queries
//! that see them `kv_queries` at a time; dQ kernel: a CTA owns `q_rows` query rows of one q
//! head (16 a warp) and visits their keys `q_keys` at a time.
struct backward_tiles {
  int32_t kv_keys;
  int32_t kv_queries;
  int32_t q_rows;
  int32_t q_keys;
  //! dK and dV accumulated in two passes over the queries (dV, then dK): above head dim 128
  //! both accumulators (head_dim floats a thread) would not fit in registers.
  bool kv_two_passes;

  constexpr int32_t kv_warps() const { return kv_keys / 16; }
  constexpr int32_t q_warps() const { return q_rows / 16; }
};

//! Per thread, an accumulator of 16 rows x head dim takes head_dim / 2 floats, a 16 x n score
//! fragment n / 2. Shared memory holds two [keys] and two [queries] tiles of padded rows
//! (head_dim rounded up to 16, plus 8): at most 68 KB, under the 99 KB an sm_86/89 block may
//! have. Head dim 256 takes 2 warps and 32 x 32 tiles, so two tiles of each stay small.
constexpr backward_tiles backward_tiles_for(int32_t head_dim) {
  if (head_dim > 128) return {32, 32, 32, 32, true};
  if (head_dim > 80) return {64, 32, 64, 64, false};
  return {64, 64, 64, 64, false};
}

}  // namespace varattn::detail
