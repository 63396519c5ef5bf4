// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file traits.cuh
//! Compile-time shape of the backward kernels for one (Element, HeadDim): the tiles of
//! tiles.hpp, the padded shared-memory rows and the mma step counts.

#include <varattn/detail/backward/tiles.hpp>
#include <varattn/kernel_config.hpp>

#include <cstdint>

namespace varattn::detail {

template <class Element, int HeadDim>
struct backward_traits {
  static_assert(supported_head_dim(HeadDim), "head dims are multiples of 8 from 32 to 256");
  static constexpr backward_tiles kTiles = backward_tiles_for(HeadDim);
  //! The mma k-step is 16 channels: head dims off it (72, 88...) compute on zero-filled
  //! columns up to the next multiple of 16 and store only HeadDim (as the forward does).
  static constexpr int kPaddedDim = (HeadDim + 15) / 16 * 16;
  //! Rows padded by 16 bytes: ldmatrix's 8 row reads and cp.async's writes hit distinct banks.
  static constexpr int kStride = kPaddedDim + 8;
  static constexpr int kChunks = HeadDim / 8;           //!< 16-byte vectors a row in memory
  static constexpr int kPaddedChunks = kPaddedDim / 8;  //!< ... in shared memory
  static constexpr int kKSteps = kPaddedDim / 16;       //!< k-steps of a product over channels
  static constexpr int kOutTiles = kPaddedDim / 8;      //!< n8 tiles of a 16 x head_dim result

  //! Dynamic shared memory an sm_86/89 block may have: a streamed tile is double-buffered
  //! only where both buffers fit it.
  static constexpr int kSmemLimit = 99 * 1024;
  static constexpr int kRowBytes = kStride * static_cast<int>(sizeof(Element));

  // dK/dV kernel: K and V once; Q, dO, lse and D per query step, in kKvBuffers buffers.
  static constexpr int kKvKeys = kTiles.kv_keys;
  static constexpr int kKvQueries = kTiles.kv_queries;
  static constexpr int kKvThreads = kTiles.kv_warps() * 32;
  static constexpr bool kKvTwoPasses = kTiles.kv_two_passes;
  static constexpr int kKvStepBytes =
      2 * kKvQueries * kRowBytes + 2 * kKvQueries * static_cast<int>(sizeof(float));
  //! dS^T of the CTA's keys for the atomic dQ path (dq_accumulator.cuh), [key][query] padded
  //! by 16 bytes; counted in the buffer choice whichever path runs.
  static constexpr int kDsStride = kKvQueries + 8;
  static constexpr int kDsBytes = kKvKeys * kDsStride * static_cast<int>(sizeof(Element));
  static constexpr int kKvFixedBytes = 2 * kKvKeys * kRowBytes + kDsBytes;
  static constexpr int kKvBuffers = kKvFixedBytes + 2 * kKvStepBytes <= kSmemLimit ? 2 : 1;
  static constexpr int kKvSmemBytes = kKvFixedBytes + kKvBuffers * kKvStepBytes;
  //! The atomic dQ path's blocks of dS K: n8 tiles of a 16-row block a warp sums at once (an
  //! even divisor of kOutTiles, at most 8: 32 floats a thread beside dK and dV).
  static constexpr int kDqChunkTiles = kOutTiles % 8 == 0   ? 8
                                       : kOutTiles % 6 == 0 ? 6
                                       : kOutTiles % 4 == 0 ? 4
                                                            : 2;

  // dQ kernel: Q and dO once; K and V per key step, in kQBuffers buffers.
  static constexpr int kQRows = kTiles.q_rows;
  static constexpr int kQKeys = kTiles.q_keys;
  static constexpr int kQThreads = kTiles.q_warps() * 32;
  static constexpr int kQStepBytes = 2 * kQKeys * kRowBytes;
  static constexpr int kQBuffers =
      2 * kQRows * kRowBytes + 2 * kQStepBytes <= kSmemLimit ? 2 : 1;
  static constexpr int kQSmemBytes = 2 * kQRows * kRowBytes + kQBuffers * kQStepBytes;

  static_assert(kKvKeys % 16 == 0 && kKvQueries % 16 == 0 && kQRows % 16 == 0 &&
                    kQKeys % 16 == 0,
                "tiles are whole k16 steps");
};

}  // namespace varattn::detail
