// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file online_softmax.cuh
//! The running max and sum of the two query rows one thread holds in the mma C layout
//! (rows g and g + 8 of its warp's 16), the rescaling of the output accumulator, and each
//! row's normalizer and logsumexp at the end. Both kernels' scores have this layout.

#include <cfloat>
#include <cmath>

namespace varattn::detail {

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

//! Reduces over the 4 lanes of a quad, which together hold one row of a C fragment.
template <class Op>
__device__ __forceinline__ float quad_reduce(float x, Op op) {
  x = op(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return op(x, __shfl_xor_sync(0xffffffffu, x, 2));
}

//! Folds the first N values of v pairwise into v[0] (compile-time recursion: ptxas keeps a
//! runtime-bounded fold in local memory).
template <int N, int Size, class Op>
__device__ __forceinline__ float fold(float (&v)[Size], Op op) {
  if constexpr (N == 1) {
    return v[0];
  } else {
#pragma unroll
    for (int t = 0; t < N / 2; ++t) v[t] = op(v[t], v[t + (N + 1) / 2]);
    return fold<(N + 1) / 2>(v, op);
  }
}

//! The maximum of row r (0 or 1) of a thread's C fragments, s[t][2r] and s[t][2r + 1], as a
//! balanced tree: depth log2(2 * ScoreTiles) instead of a chain of ScoreTiles dependent maxima
//! ahead of the first exp2.
template <int ScoreTiles>
__device__ __forceinline__ float row_max_of(const float (&s)[ScoreTiles][4], int r) {
  const auto max = [](float a, float b) { return fmaxf(a, b); };
  float v[ScoreTiles];
#pragma unroll
  for (int t = 0; t < ScoreTiles; ++t) v[t] = max(s[t][2 * r], s[t][2 * r + 1]);
  return fold<ScoreTiles>(v, max);
}

struct online_softmax {
  //! update<.., StaleMax = true>: how far (log2 units) a row's max may rise before it is taken
  //! (FlashAttention-4's Blackwell forward rescales on this condition, with 8).
  static constexpr float kStaleMaxLog2 = 8.f;
  //! The bound of update's StaleMax in the scores' units (exp2_scale > 0; finite).
  __device__ __forceinline__ static float stale_bound_for(float exp2_scale) {
    return fminf(kStaleMaxLog2 / exp2_scale, FLT_MAX);  // 8 / tiny = inf
  }
  float row_max[2] = {-INFINITY, -INFINITY};  //!< scores before exp2_scale
  float row_sum[2] = {0.f, 0.f};  //!< this thread's partial sums; quad-reduced at the end

  //! Turns scores s (raw q.k, masked entries -inf) into unnormalized probabilities in place
  //! and returns in alpha the factor exp2(scale * (old max - new max)) by which each row's
  //! output accumulator must be rescaled. TreeMax: each row's max as a tree (row_max_of), not
  //! a chain; the kernel's traits choose it (ptxas schedules the exp2s differently after it).
  //! StaleMax: a row keeps its running max unless the new one exceeds it by more than
  //! `stale_bound` (stale_bound_for: kStaleMaxLog2 in exp2's units); alpha is then exactly 1,
  //! so a lazy rescale skips. A row's first keys always move it (the old max is -inf). The
  //! probabilities are then at most 2^kStaleMaxLog2 (finite in both 16-bit types, at the same
  //! relative precision); O, the row sum and the logsumexp all refer to the kept max.
  template <bool TreeMax = false, bool StaleMax = false, int ScoreTiles>
  __device__ __forceinline__ void update(float (&s)[ScoreTiles][4], float exp2_scale,
                                         float (&alpha)[2], float stale_bound = 0.f) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      // Two statements: take_max writes alpha[r], which exponentiate then reads.
      const float shift = take_max<TreeMax, StaleMax>(s, r, exp2_scale, alpha, stale_bound);
      exponentiate(s, r, exp2_scale, shift, alpha[r]);
    }
  }

  //! update in two halves, both rows' maxima first, for a caller that works in between (the
  //! Hopper forward's P-in-shared-memory tile waits there for the previous P V). `shift`: what
  //! each row's exp2s subtract.
  template <bool TreeMax = false, bool StaleMax = false, int ScoreTiles>
  __device__ __forceinline__ void update_max(const float (&s)[ScoreTiles][4], float exp2_scale,
                                             float (&alpha)[2], float (&shift)[2],
                                             float stale_bound = 0.f) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      shift[r] = take_max<TreeMax, StaleMax>(s, r, exp2_scale, alpha, stale_bound);
    }
  }
  template <int ScoreTiles>
  __device__ __forceinline__ void update_exp2(float (&s)[ScoreTiles][4], float exp2_scale,
                                              const float (&alpha)[2], const float (&shift)[2]) {
#pragma unroll
    for (int r = 0; r < 2; ++r) exponentiate(s, r, exp2_scale, shift[r], alpha[r]);
  }

  //! o *= alpha row by row. Lazy: once the running max settles (most steps of a long row),
  //! alpha is 1 for every row of the warp: skip the whole accumulator (warp-uniform branch;
  //! costs registers).
  template <bool Lazy, int OutTiles>
  __device__ __forceinline__ static void rescale(float (&o)[OutTiles][4], const float (&alpha)[2]) {
    if (Lazy && !__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) return;
#pragma unroll
    for (int t = 0; t < OutTiles; ++t) {
      o[t][0] *= alpha[0];
      o[t][1] *= alpha[0];
      o[t][2] *= alpha[1];
      o[t][3] *= alpha[1];
    }
  }

  //! update() and rescale() in one.
  template <bool Lazy, int ScoreTiles, int OutTiles>
  __device__ __forceinline__ void step(float (&s)[ScoreTiles][4], float (&o)[OutTiles][4],
                                       float exp2_scale) {
    float alpha[2];
    update(s, exp2_scale, alpha);
    rescale<Lazy>(o, alpha);
  }

  //! For each of the two rows: 1 / (row sum), 0 for rows that saw no key (their output is
  //! zeros); and the natural-log logsumexp of the scaled scores, -inf for those rows.
  __device__ __forceinline__ void finish(float exp2_scale, float (&inv)[2], float (&lse)[2]) const {
    constexpr float kLn2 = 0.6931471805599453f;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float l = quad_reduce(row_sum[r], [](float a, float b) { return a + b; });
      inv[r] = l > 0.f ? 1.f / l : 0.f;
      lse[r] = l > 0.f ? (row_max[r] * exp2_scale + __log2f(l)) * kLn2 : -INFINITY;
    }
  }

 private:
  //! Row r's new running max (update's TreeMax and StaleMax) into row_max and its alpha into
  //! alpha[r]; returns the shift its exp2s subtract.
  template <bool TreeMax, bool StaleMax, int ScoreTiles>
  __device__ __forceinline__ float take_max(const float (&s)[ScoreTiles][4], int r,
                                            float exp2_scale, float (&alpha)[2],
                                            float stale_bound) {
    float m = row_max[r];
    if constexpr (TreeMax) {
      m = fmaxf(m, row_max_of(s, r));
    } else {
#pragma unroll
      for (int t = 0; t < ScoreTiles; ++t) m = fmaxf(m, fmaxf(s[t][2 * r], s[t][2 * r + 1]));
    }
    m = quad_reduce(m, [](float a, float b) { return fmaxf(a, b); });
    float shift;
    if constexpr (StaleMax) {
      // Taken: m is finite. Kept (also when both are -inf): the old shift, alpha exactly 1.
      const bool take = m > row_max[r] + stale_bound;
      const float kept_shift = row_max[r] == -INFINITY ? 0.f : row_max[r] * exp2_scale;
      shift = take ? m * exp2_scale : kept_shift;
      // A row's first keys (old max -inf): O and its sum are still zero, so no rescale.
      const bool rescale = take && row_max[r] != -INFINITY;
      alpha[r] = rescale ? fast_exp2(row_max[r] * exp2_scale - shift) : 1.f;
      row_max[r] = take ? m : row_max[r];
    } else {
      // A row that has seen only masked keys keeps max -inf; subtracting 0 keeps exp2 at 0.
      shift = m == -INFINITY ? 0.f : m * exp2_scale;
      alpha[r] = fast_exp2(row_max[r] * exp2_scale - shift);
      row_max[r] = m;
    }
    return shift;
  }
  //! Row r's scores to exp2(scale * s - shift) in place; its sum rescaled by alpha, plus theirs.
  template <int ScoreTiles>
  __device__ __forceinline__ void exponentiate(float (&s)[ScoreTiles][4], int r, float exp2_scale,
                                               float shift, float alpha) {
    float sum = 0.f;
#pragma unroll
    for (int t = 0; t < ScoreTiles; ++t) {
      s[t][2 * r] = fast_exp2(fmaf(s[t][2 * r], exp2_scale, -shift));
      s[t][2 * r + 1] = fast_exp2(fmaf(s[t][2 * r + 1], exp2_scale, -shift));
      sum += s[t][2 * r] + s[t][2 * r + 1];
    }
    row_sum[r] = row_sum[r] * alpha + sum;
  }
};

}  // namespace varattn::detail
