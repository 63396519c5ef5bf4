// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file mask.hpp
//! The one mask (none, causal, sliding window) for the host and both kernels. It answers
//! "which key blocks does a query tile visit" (the main loops skip the rest; the work list
//! sorts tiles by the same key range), "which blocks straddle an edge" and "which scores are
//! hidden" (set to -inf on those blocks only), from a window of key offsets around each
//! query's bottom-right-aligned diagonal.

#include <varattn/detail/host_device.hpp>
#include <varattn/options.hpp>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace varattn::detail {

#if defined(__CUDACC__)
//! Sets to -inf the scores of one warp's 16 x (8 * ScoreTiles) fragment (the mma C layout of
//! both kernels) that `hidden(half, key)` hides: half 0 is the thread's row lane / 4, half 1
//! its row lane / 4 + 8; column 0 is key `key0`. Every mask (a segment's window, a group's
//! per-row key ranges) is this loop with its own test.
template <int ScoreTiles, class Hidden>
__device__ __forceinline__ void hide_scores(float (&s)[ScoreTiles][4], int32_t key0,
                                            const Hidden& hidden) {
  const int lane = static_cast<int>(threadIdx.x % 32);
#pragma unroll
  for (int t = 0; t < ScoreTiles; ++t) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int32_t key = key0 + t * 8 + (lane % 4) * 2 + (e % 2);
      if (hidden(e / 2, key)) s[t][e] = -INFINITY;
    }
  }
}
#endif

//! The plan's window: keys a query sees before (left) and after (right) its diagonal;
//! -1 = unbounded. Causal is right = 0.
struct window {
  int32_t left = -1;
  int32_t right = -1;

  static constexpr window of(const attention_options& options) {
    return {options.window_left, options.causal ? 0 : options.window_right};
  }
  //! Causal or sliding: which keys a query sees depends on the query.
  VARATTN_HOST_DEVICE constexpr bool bounded() const { return left >= 0 || right >= 0; }
  //! Both sides finite: a key is seen by at most left + right + 1 queries (causal alone is
  //! not: a key's queries run to the segment's end).
  VARATTN_HOST_DEVICE constexpr bool banded() const { return left >= 0 && right >= 0; }
};

//! The window in one segment, as offsets key - query: query i sees key j iff
//! j < k_length and min_offset <= j - i <= max_offset. Offsets are clamped to int32, which
//! keeps j - i (both in [0, 2^31)) exact; plans limit q and k to kMaxRows rows, so that a
//! key or query plus one block (at most 256) stays within int32 as well.
struct segment_mask {
  int32_t k_length;
  int32_t min_offset;
  int32_t max_offset;

  VARATTN_HOST_DEVICE static int32_t clamp32(int64_t x) {
    return static_cast<int32_t>(x < INT32_MIN ? INT32_MIN : (x > INT32_MAX ? INT32_MAX : x));
  }

  VARATTN_HOST_DEVICE static segment_mask make(window w, int32_t q_length, int32_t k_length) {
    const int64_t diagonal = int64_t{k_length} - q_length;
    return {k_length, w.left < 0 ? INT32_MIN : clamp32(diagonal - w.left),
            w.right < 0 ? INT32_MAX : clamp32(diagonal + w.right)};
  }

  //! Keys [first, end) seen by some query in [query0, query0 + rows); end <= first: none.
  VARATTN_HOST_DEVICE int32_t first_key(int32_t query0) const {
    const int64_t first = int64_t{query0} + min_offset;
    return first < 0 ? 0 : static_cast<int32_t>(first);
  }
  VARATTN_HOST_DEVICE int32_t end_key(int32_t query0, int32_t rows) const {
    const int64_t end = int64_t{query0} + rows + max_offset;  // last query's last key + 1
    return end > k_length ? k_length : static_cast<int32_t>(end < 0 ? 0 : end);
  }

  //! The key blocks of `block_n` keys that queries [query0, query0 + rows) visit: blocks
  //! first, first + 1, ..., first + count - 1 (block b covers keys [b * block_n, ...)).
  struct blocks {
    int32_t first;
    int32_t count;
  };
  VARATTN_HOST_DEVICE blocks key_blocks(int32_t query0, int32_t rows, int32_t block_n) const {
    const int32_t begin = first_key(query0);
    const int32_t end = end_key(query0, rows);
    if (rows <= 0 || end <= begin) return {0, 0};
    // Unsigned: end - first * block_n + block_n - 1 stays below 2^32 (no int64 division).
    const auto first = static_cast<uint32_t>(begin) / static_cast<uint32_t>(block_n);
    const uint32_t span = static_cast<uint32_t>(end) - first * static_cast<uint32_t>(block_n);
    return {static_cast<int32_t>(first),
            static_cast<int32_t>((span + static_cast<uint32_t>(block_n) - 1) /
                                 static_cast<uint32_t>(block_n))};
  }

  //! Keys [first, end) that every query in [query0, query0 + rows) sees (empty when end <=
  //! first): a key block inside it needs no mask.
  struct key_range {
    int32_t first;
    int32_t end;
  };
  VARATTN_HOST_DEVICE key_range unmasked_keys(int32_t query0, int32_t rows) const {
    return {first_key(query0 + rows - 1), end_key(query0, 1)};
  }

  VARATTN_HOST_DEVICE bool visible(int32_t query, int32_t key) const {
    const int32_t offset = key - query;
    return key < k_length && offset >= min_offset && offset <= max_offset;
  }

  //! Which elements of a transposed score tile (a key a row: the backward's S^T) are visible,
  //! as bits. A thread of the mma C layout holds, in the row of key key0 + g (g in [0, 64)),
  //! the columns 8 n + p (n < tiles <= 16, p < 2) from its first, query query0 + 2 t (t =
  //! lane % 4). column_bits(column_base_of(key0, query0, tiles, keys), g, t) has bit 2 n + p
  //! set iff visible(query0 + 2 t + 8 n + p, key0 + g) (bits 2 tiles and up: any), so that an
  //! element's test is an AND with an immediate. column_base_of is the same for the 64 rows
  //! (uniform registers in the kernels); `keys`: rows g < keys are keys of the segment, i.e.
  //! k_length - key0, or any value of at least 64 where that is. No int32 wraps for key0 in
  //! [0, kMaxRows) and query0 in [0, kMaxRows + 128] (a step past a plan's rows):
  //! bench/experiments/hopper_backward_mask_bits_check.cpp tests it against visible().
  struct column_base {
    int32_t first;  //!< key0's first seen column + 7, clamped (column_bits)
    int32_t end;    //!< its last seen column + 8, clamped
    int32_t keys;   //!< rows g < keys are keys of the segment
  };
  VARATTN_HOST_DEVICE column_base column_base_of(int32_t key0, int32_t query0, int32_t tiles,
                                                 int32_t keys) const {
    // Key key0 + g sees the thread's column 8 n + p iff min_offset <= d + s - (8 n + p) <=
    // max_offset, s = g - 2 t in [-6, 63]: 8 n + p in [d - max_offset, d - min_offset] + s.
    // column_bits counts the thread's columns below the first and below one past the last
    // from x = that column + 7: 0 for every x <= 7, all 2 tiles for every x >= 8 tiles + 1.
    // So x's uniform part is clamped to [-62, 8 tiles + 7], through the offsets (they may be
    // INT32_MIN or INT32_MAX: nothing wraps), which changes no count for any s.
    const int32_t d = key0 - query0;  // exact: both in [0, 2^31)
    const int32_t low = -62, high = 8 * tiles + 7;
    const auto clamp = [](int32_t x, int32_t lo, int32_t hi) {
      return x < lo ? lo : (x > hi ? hi : x);
    };
    return {d + 7 - clamp(max_offset, d + 7 - high, d + 7 - low),
            d + 8 - clamp(min_offset, d + 8 - high, d + 8 - low), keys};
  }
  VARATTN_HOST_DEVICE static uint32_t column_bits(const column_base& b, int32_t g, int32_t t) {
    const int32_t s = g - 2 * t;
    // The thread's columns below column x - 7: ceil((x - 7) / 8) of the 8 n and
    // ceil((x - 8) / 8) of the 8 n + 1, for x >= 1 (below that none, as at 1).
    const auto below = [](int32_t x) {
      x = x > 1 ? x : 1;
      return (x >> 3) + ((x - 1) >> 3);
    };
#if defined(__CUDA_ARCH__)
    // The low c bits, c >= 0 (c >= 32: all; the funnel shift clamps its count to 32).
    const auto ones = [](int32_t c) { return __funnelshift_lc(~0u, 0u, c); };
#else
    const auto ones = [](int32_t c) { return c >= 32 ? ~0u : (1u << c) - 1u; };
#endif
    const uint32_t bits = ones(below(b.end + s)) & ~ones(below(b.first + s));
    return g < b.keys ? bits : 0u;  // a select, not a branch: the same work on every row
  }

#if defined(__CUDACC__)
  //! s is one warp's 16 x (8 * ScoreTiles) fragment in the mma C layout (both kernels' score
  //! layout) whose row 0 is query `query0` and column 0 is key `key0`.
  template <int ScoreTiles>
  __device__ __forceinline__ void apply(float (&s)[ScoreTiles][4], int32_t query0,
                                        int32_t key0) const {
    const int32_t query = query0 + static_cast<int32_t>(threadIdx.x % 32) / 4;
    apply_rows(s, query, query + 8, key0);
  }
  //! The same where the thread's two rows (lane / 4 and lane / 4 + 8) are queries `low` and
  //! `high` (packed tiles, whose rows repeat a query for several heads).
  template <int ScoreTiles>
  __device__ __forceinline__ void apply_rows(float (&s)[ScoreTiles][4], int32_t low, int32_t high,
                                             int32_t key0) const {
    hide_scores(s, key0,
                [&](int half, int32_t key) { return !visible(half == 0 ? low : high, key); });
  }
#endif
};

#if defined(__CUDACC__)
//! Calls `body(masked)` once: with std::true_type when `partial` (some element of the tile
//! may be masked), else with std::false_type. An element loop written with
//! `visible = !decltype(masked)::value || mask.visible(query, key)` then exists twice, and
//! the common copy has no mask test: with a run-time `!partial || ...` in each element,
//! ptxas branched on every element of the backward's score loops
//! (bench/experiments/backward_unmasked_path.md).
template <class Body>
__device__ __forceinline__ void with_mask_test(bool partial, const Body& body) {
  if (partial) {
    body(std::true_type{});
  } else {
    body(std::false_type{});
  }
}
#endif

}  // namespace varattn::detail
