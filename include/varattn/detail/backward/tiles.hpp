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
  //! Whether a backward on the sm80 kernels that does not ask to be deterministic sums dQ
  //! with atomics in the dK/dV kernel (faster where measured) or runs the deterministic dQ
  //! kernel anyway. (The Hopper kernel always sums dQ itself unless asked not to.)
  bool atomic_dq = true;

  constexpr int32_t kv_warps() const { return kv_keys / 16; }
  constexpr int32_t q_warps() const { return q_rows / 16; }
};

//! Per thread, an accumulator of 16 rows x head dim takes head_dim / 2 floats, a 16 x n score
//! fragment n / 2. Shared memory holds the CTA's own tiles once and the tiles it streams twice
//! where that fits 99 KB (what an sm_86/89 block may have; backward_traits): the next step's
//! loads then fly during this step's products. Head dim 256 takes 2 warps and 32 x 32 tiles,
//! streamed once; the dQ kernel's 32 keys a step above head dim 80 keep its two buffers
//! under the limit. Above head dim 64 the dK/dV kernel takes 32 queries a step: with 64, the
//! softcap variants at head dims 72 and 80 spilled (ptxas -v).
constexpr backward_tiles backward_tiles_for(int32_t head_dim) {
  if (head_dim > 128) return {32, 32, 32, 32, true};
  if (head_dim > 80) return {64, 32, 64, 32, false};
  // Head dims 72 and 80 on the sm80 kernels: the deterministic dQ kernel was faster on the
  // H200 (before the Hopper kernel took these head dims there; bwd/vl-full-d80
  // 5.62 ms against 6.54 with atomics, bwd/vl-window-d80 0.292 against 0.312; bench/NOTES.md).
  if (head_dim > 64) return {64, 32, 64, 64, false, false};
  return {64, 64, 64, 64, false};
}

//! Head dims with a Hopper (sm_90a, wgmma) dK/dV kernel (backward/sm90): whole 16-byte
//! chunks up to 128, where dK and dV of 64 keys (head_dim floats a thread together) fit a
//! consumer's registers beside the scores (dkdv_kernel.cuh), and 256, whose two warpgroups
//! split the channels instead (hopper_split_backward_head_dim, dkdv_split_kernel.cuh). The
//! other head dims above 128 run the sm80 kernels on every device.
constexpr bool hopper_split_backward_head_dim(int32_t head_dim) { return head_dim == 256; }
constexpr bool hopper_backward_head_dim(int32_t head_dim) {
  return (head_dim % 8 == 0 && head_dim >= 32 && head_dim <= 128) ||
         hopper_split_backward_head_dim(head_dim);
}

}  // namespace varattn::detail
