// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file swizzled_tile.cuh
//! Global -> shared copies of a [Rows, HeadDim] tile into the 128-byte swizzled layout that
//! wgmma reads (wgmma.cuh): ceil(HeadDim / 64) blocks of [Rows][64] (head dims off 64 use the
//! first columns of the last block, which the products never read past); by the copy engine
//! (load_boxes: one instruction a block) or with 16-byte cp.async copies, consecutive threads
//! along a row (coalesced reads; the swizzle spreads each 8-row group's writes over all
//! banks). Rows past `valid_rows`, and the columns from HeadDim up to the next multiple of 16
//! (the k16 steps of Q K^T read them), are zero-filled.
//! RowBytes = 32: blocks of [Rows][16] with the 32-byte swizzle (the copy engine only), which
//! waste no columns at head dim 80 (the forward's 192 x 144 tile: Q, K, V and P).

#include <varattn/detail/sm80/cp_async.cuh>
#include <varattn/detail/sm90/tma_load.cuh>
#include <varattn/detail/sm90/wgmma.cuh>

#include <cstdint>

namespace varattn::detail::sm90 {

template <int Rows, int HeadDim, int RowBytes = 128>
struct swizzled_tile {
  static_assert(HeadDim % 8 == 0 && HeadDim <= 256, "whole 16-byte chunks, at most 256 columns");
  static_assert(RowBytes == 128 || (RowBytes == 32 && HeadDim % 16 == 0), "whole blocks");
  static constexpr int kRowBytes = RowBytes;                      //!< a block's row
  static constexpr int kBlockColumns = RowBytes / 2;              //!< 64 or 16
  static constexpr int kBlocks = (HeadDim + kBlockColumns - 1) / kBlockColumns;
  static constexpr int kBlockBytes = Rows * RowBytes;  //!< one [Rows][kBlockColumns] block
  static constexpr int kBytes = kBlocks * kBlockBytes;

  //! Byte offset of element (row, column) from the tile's start.
  __host__ __device__ static constexpr uint32_t offset(uint32_t row, uint32_t column) {
    return column / kBlockColumns * kBlockBytes +
           swizzled_offset<RowBytes>(row, column % kBlockColumns);
  }
  static constexpr int kChunks = HeadDim / 8;                     //!< 16-byte chunks a row
  static constexpr int kPaddedChunks = (HeadDim + 15) / 16 * 2;  //!< ... written, with zeros
  static constexpr int kSlots = kBlocks * 8;  //!< chunk columns of the layout, >= kPaddedChunks

  //! Issues this thread's share of the copy; `Threads` threads take part, `thread` in
  //! [0, Threads). A thread keeps one chunk column a pass (two passes over the columns above
  //! head dim 128) and walks down the rows, so its pointers advance by constants (few
  //! registers: the producer runs on 24); threads on unused columns copy nothing.
  template <int Threads, class Element>
  __device__ __forceinline__ static void load_async(unsigned char* smem, const Element* gmem,
                                                    int64_t token_stride, int valid_rows,
                                                    int thread) {
    static_assert(RowBytes == 128, "the cp.async copy writes 128-byte blocks");
    // Columns a pass: all of them when they fit, else a divisor of kSlots that leaves at
    // least 8 rows a step (head dims 136-192 have 24 columns: three passes of 8).
    constexpr int kSlotsAPass = kSlots <= Threads / 8                ? kSlots
                                : kSlots % (Threads / 8) == 0 ? Threads / 8
                                                                     : 8;
    constexpr int kRowsAStep = Threads / kSlotsAPass;
    static_assert(Threads % kSlotsAPass == 0 && kSlots % kSlotsAPass == 0 &&
                      Rows % kRowsAStep == 0,
                  "tile must split evenly over the threads");
    static_assert(kRowsAStep % 8 == 0, "a step keeps each thread's swizzle phase");
#pragma unroll
    for (int pass = 0; pass < kSlots / kSlotsAPass; ++pass) {
      const int chunk = pass * kSlotsAPass + thread % kSlotsAPass;
      if (chunk >= kPaddedChunks) continue;
      const bool real = chunk < kChunks;
      int row = thread / kSlotsAPass;
      unsigned char* dst =
          smem + (chunk / 8) * kBlockBytes + swizzled_offset_128b(row, (chunk % 8) * 8);
      const Element* src = gmem + row * token_stride + chunk * 8;
      const int64_t src_step = kRowsAStep * token_stride;
#pragma unroll 4
      for (int step = 0; step < Rows / kRowsAStep; ++step) {
        const bool valid = real && row < valid_rows;
        sm80::cp_async_16(dst, valid ? src : gmem, valid);
        row += kRowsAStep;
        dst += kRowsAStep * 128;
        src += src_step;
      }
    }
  }

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  //! The same tile by the copy engine, issued by one thread: one box a block (the map's box
  //! holds Rows rows of kBlockColumns with this swizzle: make_segment_map's RowBytes), kBytes
  //! completing on `barrier` (zeros included); rows from `valid_rows` on and the columns past
  //! the tensor's head dim arrive as zeros.
  //! HeadsInBox (a packed tile's Q, the map's boxes hold `pack` heads): rows are tokens x
  //! heads, first_row and valid_rows count tokens and `head` is the box's first.
  template <bool HeadsInBox = false>
  __device__ __forceinline__ static void load_boxes(const segment_map& map, unsigned char* smem,
                                                    uint64_t* barrier, int32_t first_row,
                                                    int32_t valid_rows, int32_t head) {
#pragma unroll
    for (int block = 0; block < kBlocks; ++block) {
      if constexpr (HeadsInBox) {
        tma_load_packed_box(map, smem + block * kBlockBytes, barrier, first_row, valid_rows, head,
                            block * kBlockColumns);
      } else {
        tma_load_box(map, smem + block * kBlockBytes, barrier, first_row, valid_rows, head,
                     block * kBlockColumns);
      }
    }
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
};

}  // namespace varattn::detail::sm90
