// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tile_context.cuh
//! Everything one (segment, q-tile, head) work item needs to know, computed once at the top
//! of the tile by both kernels: its rows, its heads, its mask, the key blocks it visits and
//! the pointers its loads and stores start from.
//!
//! A packed tile (decode and Hopper GQA tiles, kernel_config::pack) holds `pack` query heads of
//! one kv head: its row r is query query0 + (r >> shift) of head head + (r & (pack - 1)), pack =
//! 1 << shift.
//! Unpacked tiles are the case shift = 0, known at compile time.

#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/mask.hpp>

#include <cstdint>

namespace varattn::detail {

template <class Element, int BlockM, int BlockN, bool Packed = false>
struct tile_context {
  static constexpr bool kPacked = Packed;
  int32_t query0;  //!< the tile's first query row in its segment
  int32_t rows;    //!< query rows of the tile inside the segment (<= BlockM >> shift)
  segment_mask mask;
  segment_mask::blocks blocks;  //!< the key blocks of BlockN keys the tile visits
  int32_t unmasked_first;       //!< keys [unmasked_first, unmasked_end) every row sees
  int32_t unmasked_end;
  // Row and head indices rather than pointers: the sm80 short tiles run under a 128-register
  // cap, and four live 64-bit pointers spilled there (ptxas -v); the pointers are computed
  // where they are used (one multiply-add each).
  int32_t q_row;  //!< the tile's first row in q, o and the logsumexp
  int32_t k_row;  //!< the segment's first row in k and v
  int32_t head;   //!< the tile's (first) query head
  int32_t kv_head;
  int32_t packed_shift;  //!< log2(pack); read only when Packed

  //! `head` is the grid's head index: a head group of `pack` heads when Packed.
  __device__ __forceinline__ static tile_context make(const forward_params<Element>& p,
                                                      const segment_bounds& seg, int q_tile,
                                                      int head, int pack = 1) {
    tile_context t;
    t.packed_shift = Packed ? __ffs(pack) - 1 : 0;
    const int32_t query_rows = t.query_rows();
    t.query0 = q_tile * query_rows;
    t.rows = min(query_rows, seg.q_length - t.query0);
    t.mask = segment_mask::make(p.mask, seg.q_length, seg.k_length);
    t.blocks = t.mask.key_blocks(t.query0, t.rows, BlockN);
    // Over all the tile's query rows (rows past the segment too): the boundary may only widen.
    const segment_mask::key_range unmasked = t.mask.unmasked_keys(t.query0, query_rows);
    t.unmasked_first = unmasked.first;
    t.unmasked_end = unmasked.end;
    t.q_row = seg.q_begin + t.query0;
    t.k_row = seg.k_begin;
    t.head = Packed ? head * pack : head;
    t.kv_head = t.head / p.group_size;
    return t;
  }

  //! A group's tile (segment_group.cuh; `make` saw the group as one segment's tile 0): one
  //! step over all its keys (at most BlockN, the builder's bound), every score masked per row.
  __device__ __forceinline__ void hold_group() {
    mask = {mask.k_length, INT32_MIN, INT32_MAX};
    blocks = {0, mask.k_length > 0 ? 1 : 0};
    unmasked_first = unmasked_end = 0;
  }

  __device__ __forceinline__ int32_t shift() const { return Packed ? packed_shift : 0; }
  //! Query rows the tile covers (BlockM unless packed).
  __device__ __forceinline__ int32_t query_rows() const { return BlockM >> shift(); }
  //! Tile rows that hold a query of the segment: rows [0, valid_rows()).
  __device__ __forceinline__ int32_t valid_rows() const { return rows << shift(); }
  //! Tile row r's query, relative to query0.
  __device__ __forceinline__ int32_t row_query(int r) const { return r >> shift(); }

  //! Where tile row r lies in q, o or the logsumexp, from the tile's first row: `token_stride`
  //! apart, or (packed) query r >> shift of head + (r & (pack - 1)).
  template <class Pointer>
  struct row_addresses {
    Pointer first;
    int64_t token_stride;
    int64_t head_stride;
    int32_t shift;
    __device__ __forceinline__ Pointer operator()(int r) const {
      if (!Packed) return first + r * token_stride;
      return first + (r >> shift) * token_stride + (r & ((1 << shift) - 1)) * head_stride;
    }
  };

  //! The tile's first query row, its head.
  __device__ __forceinline__ const Element* q(const forward_params<Element>& p) const {
    return p.q + int64_t{q_row} * p.q_token_stride + int64_t{head} * p.q_head_stride;
  }
  __device__ __forceinline__ row_addresses<const Element*> q_rows(
      const forward_params<Element>& p) const {
    return {q(p), p.q_token_stride, p.q_head_stride, shift()};
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
  __device__ __forceinline__ row_addresses<Element*> o_rows(const forward_params<Element>& p) const {
    return {o(p), p.o_token_stride, p.o_head_stride, shift()};
  }
  //! The tile's first logsumexp, its head; null when not asked for.
  __device__ __forceinline__ float* lse(const forward_params<Element>& p) const {
    return p.lse == nullptr ? nullptr : p.lse + int64_t{head} * p.lse_head_stride + q_row;
  }
  __device__ __forceinline__ row_addresses<float*> lse_rows(const forward_params<Element>& p) const {
    return {lse(p), 1, p.lse_head_stride, shift()};
  }

  //! Masks one warp's 16 x (8 * ScoreTiles) scores whose first row is tile row `row0` and
  //! first column key `key0` (mma C layout: a thread holds rows row0 + lane / 4 and + 8).
  template <int ScoreTiles>
  __device__ __forceinline__ void apply_mask(float (&s)[ScoreTiles][4], int row0,
                                             int32_t key0) const {
    const int r = row0 + static_cast<int>(threadIdx.x % 32) / 4;
    mask.apply_rows(s, query0 + row_query(r), query0 + row_query(r + 8), key0);
  }

  //! The first key of main-loop step `step`.
  __device__ __forceinline__ int32_t key0(int step) const { return (blocks.first + step) * BlockN; }

  //! True when some score of the block at `key0` is hidden from some row of the tile: only
  //! those blocks pay for the element mask.
  __device__ __forceinline__ bool partial(int32_t key0) const {
    return key0 < unmasked_first || key0 + BlockN > unmasked_end;
  }

  //! The main-loop steps whose blocks are not partial(): [first, end), empty when end <= first
  //! (the keys every row sees are one range, so these steps are one run).
  struct step_range {
    int first;
    int end;
  };
  __device__ __forceinline__ step_range unmasked_steps() const {
    // The first block at or after unmasked_first, the last ending at or before unmasked_end
    // (both keys >= 0: unsigned divisions, exact for any BlockN; once a tile).
    const auto n = static_cast<uint32_t>(BlockN);
    const auto first = static_cast<int>((static_cast<uint32_t>(unmasked_first) + n - 1) / n);
    const auto end = static_cast<int>(static_cast<uint32_t>(unmasked_end) / n);
    return {first - blocks.first, end - blocks.first};
  }

  //! Steps that rows [first, first + count) of the tile need: the tile's blocks up to the
  //! last one these rows see (the first rows of a causal tile may stop early). The leading
  //! blocks are the tile's: with a left window, the later rows mask the ones they do not see.
  //! Packed: tile rows, whose queries are rows >> shift.
  __device__ __forceinline__ int steps_for_rows(int first, int count) const {
    if constexpr (Packed) {  // the queries of rows [first, first + count)
      const int32_t last = row_query(first + count - 1);
      first = row_query(first);
      count = last + 1 - first;
    }
    count = min(count, rows - first);
    if (count <= 0) return 0;
    const int32_t end = mask.end_key(query0 + first, count);
    const int32_t steps = (end - blocks.first * BlockN + BlockN - 1) / BlockN;
    return max(0, min(blocks.count, steps));
  }
};

}  // namespace varattn::detail
