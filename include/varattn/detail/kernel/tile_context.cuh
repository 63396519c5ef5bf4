// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tile_context.cuh
//! Everything one (segment, q-tile, head) work item needs to know, computed once at the top
//! of the tile by both kernels: its rows, its heads, its mask, the key blocks it visits and
//! the pointers its loads and stores start from.

#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/mask.hpp>

#include <cstdint>

namespace varattn::detail {

template <class Element, int BlockM, int BlockN>
struct tile_context {
  int32_t query0;  //!< the tile's first query row in its segment
  int32_t rows;    //!< query rows of the tile inside the segment (<= BlockM)
  int32_t k_length;
  segment_mask mask;
  segment_mask::blocks blocks;  //!< the key blocks of BlockN keys the tile visits
  int32_t unmasked_first;       //!< keys [unmasked_first, unmasked_end) every row sees
  int32_t unmasked_end;
  const Element* q;             //!< the tile's first query row, its head
  const Element* k;             //!< the segment's first key, the head's kv head
  const Element* v;
  Element* o;  //!< the tile's first output row, its head
  float* lse;  //!< the tile's first logsumexp, its head; null: not asked for

  __device__ __forceinline__ static tile_context make(const forward_params<Element>& p,
                                                      const segment_bounds& seg, int q_tile,
                                                      int head) {
    tile_context t;
    t.query0 = q_tile * BlockM;
    t.rows = min(BlockM, seg.q_length - t.query0);
    t.k_length = seg.k_length;
    t.mask = segment_mask::make(p.mask, seg.q_length, seg.k_length);
    t.blocks = t.mask.key_blocks(t.query0, t.rows, BlockN);
    // Over all BlockM rows (rows past the segment too): the mask's boundary may only widen.
    const segment_mask::key_range unmasked = t.mask.unmasked_keys(t.query0, BlockM);
    t.unmasked_first = unmasked.first;
    t.unmasked_end = unmasked.end;
    const int kv_head = head / p.group_size;
    const int64_t row = int64_t{seg.q_begin} + t.query0;
    t.q = p.q + row * p.q_token_stride + head * p.q_head_stride;
    t.k = p.k + int64_t{seg.k_begin} * p.k_token_stride + kv_head * p.k_head_stride;
    t.v = p.v + int64_t{seg.k_begin} * p.v_token_stride + kv_head * p.v_head_stride;
    t.o = p.o + row * p.o_token_stride + head * p.o_head_stride;
    t.lse = p.lse == nullptr ? nullptr : p.lse + head * p.lse_head_stride + row;
    return t;
  }

  //! The first key of main-loop step `step`.
  __device__ __forceinline__ int32_t key0(int step) const { return (blocks.first + step) * BlockN; }

  //! True when some score of the block at `key0` is hidden from some row of the tile: only
  //! those blocks pay for the element mask.
  __device__ __forceinline__ bool partial(int32_t key0) const {
    return key0 < unmasked_first || key0 + BlockN > unmasked_end;
  }

  //! Steps that rows [first, first + count) of the tile need: the tile's blocks up to the
  //! last one these rows see (a lower part of a causal tile may stop early). The leading
  //! blocks are the tile's: a window's upper rows mask theirs.
  __device__ __forceinline__ int steps_for_rows(int first, int count) const {
    count = min(count, rows - first);
    if (count <= 0) return 0;
    const int32_t end = mask.end_key(query0 + first, count);
    const int32_t steps = (end - blocks.first * BlockN + BlockN - 1) / BlockN;
    return max(0, min(blocks.count, steps));
  }
};

}  // namespace varattn::detail
