// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file group_isolation.cuh
//! Keeps a group tile's segments apart when one of them holds an inf or NaN. A group tile
//! (segment_group.cuh) runs O += P V for every row over all the group's keys, P being zero at
//! the other segments' keys; 0 x inf and 0 x NaN are NaN, so one non-finite element of one
//! segment's V would reach that channel of every row of the tile. (A tile of one segment never
//! meets another's keys: V's rows past the segment are zeros, by the copies or the warpgroup.)
//!
//! So a group tile's epilogue probes the rows it stages (one packed fma for two elements, a
//! warp vote), stores the finite ones, and has the warp recompute each non-finite one (the rare
//! path: inputs that hold inf or NaN) in float, straight from q, k and v in memory, over the
//! keys the row sees and no other: the row's own IEEE result, finite when only a neighbour held
//! the inf or NaN (then within rounding of a clean run, not bitwise: P is not rounded to 16
//! bits here), inf or NaN when the row's own inputs hold one. Its q row is still intact in place
//! (o aliasing q): the row was not stored. The logsumexp, which never depends on V, stays the
//! tile's. No barrier, and no second copy of the tile's code: a second pass of the whole tile,
//! inline or out of line, spilled at head dim 64 or serialized the Hopper tile's wgmma (ptxas;
//! bench/NOTES.md, sixty-first session).

#include <varattn/detail/element_convert.cuh>
#include <varattn/detail/kernel/online_softmax.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/score_modifier.cuh>
#include <varattn/detail/kernel/segment_group.cuh>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace varattn::detail {

//! Turns NaN once any packed element added is inf or NaN: fma(word, 0, probe) is +-0 for a
//! finite word and NaN otherwise, and NaN sticks. One instruction for two elements.
template <class Element>
struct nonfinite_probe {
  uint32_t bits = 0;

  __device__ __forceinline__ void add(uint32_t word) {
    if constexpr (std::is_same_v<Element, __half>) {
      asm("fma.rn.f16x2 %0, %1, %2, %0;" : "+r"(bits) : "r"(word), "r"(0u));
    } else {
      static_assert(std::is_same_v<Element, __nv_bfloat16>, "half or bfloat16");
      asm("fma.rn.bf16x2 %0, %1, %2, %0;" : "+r"(bits) : "r"(word), "r"(0u));
    }
  }
  __device__ __forceinline__ bool hit() const { return (bits & 0x7fff7fffu) != 0; }
};

//! The rows of a warp's 16 (mma C layout: lane l holds rows l / 4 and l / 4 + 8) whose staged
//! output holds an inf or NaN, bit r for row r, from each thread's `flags` (bit 0: its row
//! l / 4, bit 1: l / 4 + 8). The whole warp calls it.
__device__ __forceinline__ uint32_t nonfinite_rows(uint32_t flags) {
  if (__ballot_sync(~0u, flags != 0) == 0) return 0;  // the common case: one vote
  const uint32_t low = __ballot_sync(~0u, flags & 1u), high = __ballot_sync(~0u, flags & 2u);
  uint32_t rows = 0;
  for (int g = 0; g < 8; ++g) {
    rows |= ((low >> (4 * g)) & 0xfu) != 0 ? 1u << g : 0u;
    rows |= ((high >> (4 * g)) & 0xfu) != 0 ? 1u << (g + 8) : 0u;
  }
  return rows;
}

//! Writes o_row, the attention of one query row (q_row) over keys [keys.first, keys.end) (key
//! j's rows: k + j * k_stride, v + j * v_stride), computed by one warp in float: lanes hold
//! channels, scores are warp sums, the softmax as the tiles' (softcap, exp2_scale; no key:
//! zeros).
template <int HeadDim, class Modifier, class Element>
__device__ __forceinline__ void recompute_row(const Element* q_row, const Element* k,
                                              int64_t k_stride, const Element* v, int64_t v_stride,
                                              row_keys keys, float softcap_scale, float exp2_scale,
                                              Element* o_row) {
  constexpr int kPerLane = (HeadDim + 31) / 32;
  const int lane = static_cast<int>(threadIdx.x % 32);
  // q is read at each score (L1 hits) rather than held: the rare path asks few registers.
  const auto score = [&](int32_t key) {
    const Element* k_row = k + key * k_stride;
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int c = lane + 32 * i;
      if (c < HeadDim) s = fmaf(detail::to_float(q_row[c]), detail::to_float(k_row[c]), s);
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) s += __shfl_xor_sync(~0u, s, offset);
    return Modifier::apply(s, softcap_scale);
  };
  float m = -INFINITY;
  for (int32_t key = keys.first; key < keys.end; ++key) {
    const float s = score(key);
    m = s > m || s != s ? s : m;  // a NaN score makes the row NaN, as it would in exact math
  }
  const float shift = m == -INFINITY ? 0.f : m * exp2_scale;
  float l = 0.f;
  float o[kPerLane] = {};
  for (int32_t key = keys.first; key < keys.end; ++key) {
    const float p = fast_exp2(fmaf(score(key), exp2_scale, -shift));
    l += p;
    const Element* v_row = v + key * v_stride;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int c = lane + 32 * i;
      if (c < HeadDim) o[i] = fmaf(p, detail::to_float(v_row[c]), o[i]);
    }
  }
  const float inv = l > 0.f ? 1.f / l : 0.f;
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) {
    const int c = lane + 32 * i;
    if (c < HeadDim) o_row[c] = detail::from_float<Element>(o[i] * inv);
  }
}

//! A group tile's rare path, by one warp: recomputes the tile rows row0 + r for the bits r of
//! `rows` (nonfinite_rows), each over its own keys (table: the group's offsets), into o_row(r).
template <int HeadDim, class Modifier, class Element, class Tile, class RowAddress>
__device__ __forceinline__ void recompute_rows(uint32_t rows, int row0,
                                               const forward_params<Element>& p, const Tile& tile,
                                               const group_table& table, int32_t count,
                                               RowAddress o_row) {
  for (; rows != 0; rows &= rows - 1) {
    const int r = row0 + __ffs(rows) - 1;
    recompute_row<HeadDim, Modifier>(tile.q(p) + int64_t{r} * p.q_token_stride, tile.k(p, 0),
                                     p.k_token_stride, tile.v(p, 0), p.v_token_stride,
                                     table.keys_of_row(r, count, p.mask), p.softcap_scale,
                                     p.exp2_scale, o_row(r));
  }
}

}  // namespace varattn::detail
