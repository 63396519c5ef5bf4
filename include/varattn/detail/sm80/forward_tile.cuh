// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file forward_tile.cuh
//! One CTA computes one (segment, head, q-tile) work item: the FlashAttention-2 main loop
//! on sm80 tensor cores. Each warp owns 16 query rows; scores and probabilities stay in
//! registers between the two products.

#include <varattn/detail/kernel/epilogue.cuh>
#include <varattn/detail/kernel/kernel_traits.cuh>
#include <varattn/detail/kernel/mask.cuh>
#include <varattn/detail/kernel/online_softmax.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/tile_loader.cuh>
#include <varattn/detail/sm80/cp_async.cuh>
#include <varattn/detail/sm80/ldmatrix.cuh>
#include <varattn/detail/sm80/mma.cuh>

#include <cstdint>

namespace varattn::detail {

//! S[m][16 x BlockN] = Q[m] K^T for the warp's m-tiles: A from the Q tile, B from the K
//! tile (both [row][channel] in shared memory); each B fragment feeds every m-tile.
template <class Traits, class Element>
__device__ __forceinline__ void score_product(
    float (&s)[Traits::kMTiles][Traits::kScoreTiles][4], const Element* sq, const Element* sk,
    int lane) {
  using mma = sm80::mma_16816<Element>;
  const Element* a_row =
      sq + (lane % 8 + ((lane / 8) % 2) * 8) * Traits::kStride + (lane / 16) * 8;
  const Element* b_row =
      sk + (lane % 8 + (lane / 16) * 8) * Traits::kStride + ((lane / 8) % 2) * 8;
#pragma unroll
  for (int kk = 0; kk < Traits::kKSteps; ++kk) {
    uint32_t a[Traits::kMTiles][4];
#pragma unroll
    for (int m = 0; m < Traits::kMTiles; ++m) {
      sm80::ldmatrix_x4(a[m], a_row + m * 16 * Traits::kStride + kk * 16);
    }
#pragma unroll
    for (int n = 0; n < Traits::kScoreTiles / 2; ++n) {
      uint32_t b[4];
      sm80::ldmatrix_x4(b, b_row + n * 16 * Traits::kStride + kk * 16);
#pragma unroll
      for (int m = 0; m < Traits::kMTiles; ++m) {
        mma::run(s[m][2 * n], a[m], b[0], b[1]);
        mma::run(s[m][2 * n + 1], a[m], b[2], b[3]);
      }
    }
  }
}

//! O[m][16 x HeadDim] += P[m] V: A is P straight from the score registers (the C layout of
//! two n8 tiles is the A layout of one k16 step), B from the V tile through ldmatrix.trans.
template <class Traits, class Element>
__device__ __forceinline__ void value_product(
    float (&o)[Traits::kMTiles][Traits::kOutTiles][4],
    const float (&p)[Traits::kMTiles][Traits::kScoreTiles][4], const Element* sv, int lane) {
  using mma = sm80::mma_16816<Element>;
  const Element* b_row =
      sv + (lane % 8 + ((lane / 8) % 2) * 8) * Traits::kStride + (lane / 16) * 8;
#pragma unroll
  for (int kc = 0; kc < Traits::kBlockN / 16; ++kc) {
    uint32_t a[Traits::kMTiles][4];
#pragma unroll
    for (int m = 0; m < Traits::kMTiles; ++m) {
      a[m][0] = mma::pack(p[m][2 * kc][0], p[m][2 * kc][1]);
      a[m][1] = mma::pack(p[m][2 * kc][2], p[m][2 * kc][3]);
      a[m][2] = mma::pack(p[m][2 * kc + 1][0], p[m][2 * kc + 1][1]);
      a[m][3] = mma::pack(p[m][2 * kc + 1][2], p[m][2 * kc + 1][3]);
    }
#pragma unroll
    for (int n = 0; n < Traits::kOutTiles / 2; ++n) {
      uint32_t b[4];
      sm80::ldmatrix_x4_trans(b, b_row + kc * 16 * Traits::kStride + n * 16);
#pragma unroll
      for (int m = 0; m < Traits::kMTiles; ++m) {
        mma::run(o[m][2 * n], a[m], b[0], b[1]);
        mma::run(o[m][2 * n + 1], a[m], b[2], b[3]);
      }
    }
  }
}

template <class Element, int HeadDim, int BlockM, bool Causal>
__device__ __forceinline__ void forward_tile(const forward_params<Element>& p,
                                             const segment_bounds& seg, int q_tile, int head,
                                             Element* smem) {
  using T = kernel_traits<Element, HeadDim, BlockM>;
  Element* sq = smem;
  Element* sk = sq + T::kBlockM * T::kStride;
  Element* sv = sk + T::kBlockN * T::kStride;
  const int warp = static_cast<int>(threadIdx.x / 32);
  const int lane = static_cast<int>(threadIdx.x % 32);

  const int query0 = q_tile * T::kBlockM;
  const int q_rows = min(T::kBlockM, seg.q_length - query0);
  const int kv_head = head / p.group_size;
  const Element* q =
      p.q + (int64_t{seg.q_begin} + query0) * p.q_token_stride + head * p.q_head_stride;
  const Element* k = p.k + int64_t{seg.k_begin} * p.k_token_stride + kv_head * p.k_head_stride;
  const Element* v = p.v + int64_t{seg.k_begin} * p.v_token_stride + kv_head * p.v_head_stride;
  Element* o = p.o + (int64_t{seg.q_begin} + query0) * p.o_token_stride + head * p.o_head_stride;

  const score_mask<Causal> mask{seg.k_length, seg.k_length - seg.q_length};
  const int kv_steps = (mask.visible_keys(query0 + q_rows) + T::kBlockN - 1) / T::kBlockN;

  // Q, the first K and the first V go out together: a one-step tile (short segments) then
  // waits for memory once.
  load_tile_async<T, T::kBlockM>(sq, q, p.q_token_stride, q_rows);
  if (kv_steps > 0) load_tile_async<T, T::kBlockN>(sk, k, p.k_token_stride, seg.k_length);
  sm80::cp_async_commit();
  if (kv_steps > 0) load_tile_async<T, T::kBlockN>(sv, v, p.v_token_stride, seg.k_length);
  sm80::cp_async_commit();

  float acc[T::kMTiles][T::kOutTiles][4] = {};
  online_softmax softmax[T::kMTiles];
  const int warp_row0 = warp * T::kWarpRows;  // the warp's first row in the tile
  const Element* sq_warp = sq + warp_row0 * T::kStride;

  for (int step = 0; step < kv_steps; ++step) {
    const int key0 = step * T::kBlockN;
    if (step == 0) {
      sm80::cp_async_wait<1>();  // Q and K landed; V may still be on its way
      __syncthreads();
    } else {
      // K landed, and every warp is done with the previous V: refill V.
      sm80::cp_async_wait<0>();
      __syncthreads();
      load_tile_async<T, T::kBlockN>(sv, v + key0 * p.v_token_stride, p.v_token_stride,
                                     seg.k_length - key0);
      sm80::cp_async_commit();
    }

    float s[T::kMTiles][T::kScoreTiles][4] = {};
    score_product<T>(s, sq_warp, sk, lane);
    const bool masked = mask.needed(query0, key0, T::kBlockN);
#pragma unroll
    for (int m = 0; m < T::kMTiles; ++m) {
      if (masked) mask.apply(s[m], query0 + warp_row0 + m * 16, key0);
      softmax[m].template step<T::kLazyRescale>(s[m], acc[m], p.scale_log2);
    }

    // V landed, and every warp is done with K: prefetch the next K under the PV product.
    sm80::cp_async_wait<0>();
    __syncthreads();
    if (step + 1 < kv_steps) {
      const int next = key0 + T::kBlockN;
      load_tile_async<T, T::kBlockN>(sk, k + next * p.k_token_stride, p.k_token_stride,
                                     seg.k_length - next);
      sm80::cp_async_commit();
    }
    value_product<T>(acc, s, sv, lane);
  }

  // With no key step the Q copies may still be landing in rows the epilogue reuses.
  sm80::cp_async_wait<0>();
  __syncthreads();
#pragma unroll
  for (int m = 0; m < T::kMTiles; ++m) {
    float inv[2];
    softmax[m].inverse_sums(inv);
    const int row0 = warp_row0 + m * 16;
    store_output<T>(acc[m], inv, sq + row0 * T::kStride, o + row0 * p.o_token_stride,
                    p.o_token_stride, q_rows - row0);
  }
}

}  // namespace varattn::detail
