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
  segment_mask mask;
  segment_mask::blocks blocks;  //!< the key blocks of BlockN keys the tile visits
  int32_t unmasked_first;       //!< keys [unmasked_first, unmasked_end) every row sees
  int32_t unmasked_end;
  // Row and head indices rather than pointers: the sm80 short tiles run under a 128-register
  // cap, and four live 64-bit pointers spilled there (ptxas -v); the pointers are computed
  // where they are used (one multiply-add each).
  int32_t q_row;  //!< the tile's first row in q, o and the logsumexp
  int32_t k_row;  //!< the segment's first row in k and v
  int32_t head;
  int32_t kv_head;

  __device__ __forceinline__ static tile_context make(const forward_params<Element>& p,
                                                      const segment_bounds& seg, int q_tile,
                                                      int head) {
    tile_context t;
    t.query0 = q_tile * BlockM;
    t.rows = min(BlockM, seg.q_length - t.query0);
    t.mask = segment_mask::make(p.mask, seg.q_length, seg.k_length);
    t.blocks = t.mask.key_blocks(t.query0, t.rows, BlockN);
    // Over all BlockM rows (rows past the segment too): the mask's boundary may only widen.
    const segment_mask::key_range unmasked = t.mask.unmasked_keys(t.query0, BlockM);
    t.unmasked_first = unmasked.first;
    t.unmasked_end = unmasked.end;
    t.q_row = seg.q_begin + t.query0;
    t.k_row = seg.k_begin;
    t.head = head;
    t.kv_head = head / p.group_size;
    return t;
  }

  //! The tile's first query row, its head.
  __device__ __forceinline__ const Element* q(const forward_params<Element>& p) const {
    return p.q + int64_t{q_row} * p.q_token_stride + int64_t{head} * p.q_head_stride;
  }
  //! Key `key` of the segment, the head's kv head.
  __device__ __forceinline__ const Element* k(const forward_params<Element>& p, int32_t key) const {
    return p.k + (int64_t{k_row} + key) * p.k_token_stride + int64_t{kv_head} * p.k_head_stride;
  }
  __device__ __forceinline__ const Element* v(const forward_params<Element>& p, int32_t key) const {
    return p.v + (int64_t{k_row} + key) * p.v_token_stride + int64_t{kv_head} * p.v_head_stride;
  }
  //! The tile's first output row, its head.
  __device__ __forceinline__ Element* o(const forward_params<Element>& p) const {
    return p.o + int64_t{q_row} * p.o_token_stride + int64_t{head} * p.o_head_stride;
  }
  //! The tile's first logsumexp, its head; null when not asked for.
  __device__ __forceinline__ float* lse(const forward_params<Element>& p) const {
    return p.lse == nullptr ? nullptr : p.lse + int64_t{head} * p.lse_head_stride + q_row;
  }

  //! The first key of main-loop step `step`.
  __device__ __forceinline__ int32_t key0(int step) const { return (blocks.first + step) * BlockN; }

  //! True when some score of the block at `key0` is hidden from some row of the tile: only
  //! those blocks pay for the element mask.
  __device__ __forceinline__ bool partial(int32_t key0) const {
    return key0 < unmasked_first || key0 + BlockN > unmasked_end;
  }

  //! Steps that rows [first, first + count) of the tile need: the tile's blocks up to the
  //! last one these rows see (the first rows of a causal tile may stop early). The leading
  //! blocks are the tile's: with a left window, the later rows mask the ones they do not see.
  __device__ __forceinline__ int steps_for_rows(int first, int count) const {
    count = min(count, rows - first);
    if (count <= 0) return 0;
    const int32_t end = mask.end_key(query0 + first, count);
    const int32_t steps = (end - blocks.first * BlockN + BlockN - 1) / BlockN;
    return max(0, min(blocks.count, steps));
  }
};

}  // namespace varattn::detail
