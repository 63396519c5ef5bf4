// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file forward_tile.cuh
//! One CTA computes one (segment, head, q-tile) work item: the FlashAttention-2 main loop
//! on sm80 tensor cores. Each warp owns 16 query rows; scores and probabilities stay in
//! registers between the two products. The decode tile (one warp) packs `pack` query heads of
//! one kv head into its 16 rows (tile_context), so their keys are read once. A group tile
//! recomputes the rows it staged non-finite, each from its own segment's keys
//! (group_isolation.cuh).

#include <varattn/detail/kernel/epilogue.cuh>
#include <varattn/detail/kernel/group_isolation.cuh>
#include <varattn/detail/kernel/online_softmax.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/score_modifier.cuh>
#include <varattn/detail/kernel/tile_context.cuh>
#include <varattn/detail/sm80/cp_async.cuh>
#include <varattn/detail/sm80/kernel_traits.cuh>
#include <varattn/detail/sm80/ldmatrix.cuh>
#include <varattn/detail/sm80/mma.cuh>
#include <varattn/detail/sm80/store_output.cuh>
#include <varattn/detail/sm80/tile_loader.cuh>

#include <cstdint>

namespace varattn::detail::sm80 {

//! S[m][16 x BlockN] = Q[m] K^T for the warp's m-tiles: A from the Q tile, B from the K
//! tile (both [row][channel] in shared memory); each B fragment feeds every m-tile.
template <class Traits, class Element>
__device__ __forceinline__ void score_product(
    float (&s)[Traits::kMTiles][Traits::kScoreTiles][4], const Element* sq, const Element* sk,
    int lane) {
  using mma = mma_16816<Element>;
  const Element* a_row =
      sq + (lane % 8 + ((lane / 8) % 2) * 8) * Traits::kStride + (lane / 16) * 8;
  const Element* b_row =
      sk + (lane % 8 + (lane / 16) * 8) * Traits::kStride + ((lane / 8) % 2) * 8;
#pragma unroll
  for (int kk = 0; kk < Traits::kKSteps; ++kk) {
    uint32_t a[Traits::kMTiles][4];
#pragma unroll
    for (int m = 0; m < Traits::kMTiles; ++m) {
      ldmatrix_x4(a[m], a_row + m * 16 * Traits::kStride + kk * 16);
    }
#pragma unroll
    for (int n = 0; n < Traits::kScoreTiles / 2; ++n) {
      uint32_t b[4];
      ldmatrix_x4(b, b_row + n * 16 * Traits::kStride + kk * 16);
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
  using mma = mma_16816<Element>;
  const Element* b_row =
      sv + (lane % 8 + ((lane / 8) % 2) * 8) * Traits::kStride + (lane / 16) * 8;
#pragma unroll
  for (int kc = 0; kc < Traits::kBlockN / 16; ++kc) {
    uint32_t a[Traits::kMTiles][4];
#pragma unroll
    for (int m = 0; m < Traits::kMTiles; ++m) {
      pack_a_fragment<Element>(a[m], p[m][2 * kc], p[m][2 * kc + 1]);
    }
#pragma unroll
    for (int n = 0; n < Traits::kOutTiles / 2; ++n) {
      uint32_t b[4];
      ldmatrix_x4_trans(b, b_row + kc * 16 * Traits::kStride + n * 16);
#pragma unroll
      for (int m = 0; m < Traits::kMTiles; ++m) {
        mma::run(o[m][2 * n], a[m], b[0], b[1]);
        mma::run(o[m][2 * n + 1], a[m], b[2], b[3]);
      }
    }
  }
}

template <class Element, int HeadDim, int BlockM, class Modifier>
__device__ __forceinline__ void forward_tile(const forward_params<Element>& p,
                                             const segment_bounds& seg, int q_tile, int head,
                                             int pack, const segment_group& group,
                                             Element* smem) {
  using T = kernel_traits<Element, HeadDim, BlockM>;
  Element* sq = smem;
  Element* sk = sq + T::kBlockM * T::kStride;
  Element* sv = sk + T::kBlockN * T::kStride;
  auto* table = reinterpret_cast<group_table*>(reinterpret_cast<unsigned char*>(smem) +
                                               T::kTileBytes);  // kGroups only
  const int warp = static_cast<int>(threadIdx.x / 32);
  const int lane = static_cast<int>(threadIdx.x % 32);

  auto tile =
      tile_context<Element, T::kBlockM, T::kBlockN, T::kDecode>::make(p, seg, q_tile, head, pack);
  const bool grouped = T::kGroups && group.count > 0;
  if (grouped) tile.hold_group();
  const int kv_steps = tile.blocks.count;
  const int valid_rows = tile.valid_rows();

  // Q, the first K and the first V go out together: a one-step tile (short segments) then
  // waits for memory once.
  if constexpr (T::kDecode) {
    load_rows_async<T, T::kBlockM>(sq, tile.q_rows(p), valid_rows);  // rows of several heads
  } else {
    load_tile_async<T, T::kBlockM>(sq, tile.q(p), p.q_token_stride, valid_rows);
  }
  if (kv_steps > 0) {
    const int key0 = tile.key0(0);
    load_tile_async<T, T::kBlockN>(sk, tile.k(p, key0), p.k_token_stride,
                                   tile.mask.k_length - key0);
  }
  cp_async_commit();
  if (kv_steps > 0) {
    const int key0 = tile.key0(0);
    load_tile_async<T, T::kBlockN>(sv, tile.v(p, key0), p.v_token_stride,
                                   tile.mask.k_length - key0);
  }
  cp_async_commit();
  // Read after step 0's barrier; the offsets' loads wait under the copies.
  if (grouped) table->fill(group);

  float acc[T::kMTiles][T::kOutTiles][4] = {};
  online_softmax softmax[T::kMTiles];
  const int warp_row0 = warp * T::kWarpRows;  // the warp's first row in the tile
  const Element* sq_warp = sq + warp_row0 * T::kStride;
  // A warp whose rows all lie past the segment's end (a 20-row segment leaves two of a short
  // tile's four warps so) only joins the tile's copies and barriers: its products, softmax and
  // stores would all be discarded, and the SM's other warps get its issue slots.
  const bool warp_has_rows = warp_row0 < valid_rows;

  for (int step = 0; step < kv_steps; ++step) {
    const int key0 = tile.key0(step);
    if (step == 0) {
      cp_async_wait<1>();  // Q and K landed; V may still be on its way
      __syncthreads();
    } else {
      // K landed, and every warp is done with the previous V: refill V.
      cp_async_wait<0>();
      __syncthreads();
      load_tile_async<T, T::kBlockN>(sv, tile.v(p, key0), p.v_token_stride,
                                     tile.mask.k_length - key0);
      cp_async_commit();
    }

    float s[T::kMTiles][T::kScoreTiles][4] = {};
    if (warp_has_rows) {
      score_product<T>(s, sq_warp, sk, lane);
      const bool masked = tile.partial(key0);
#pragma unroll
      for (int m = 0; m < T::kMTiles; ++m) {
        Modifier::apply(s[m], p.softcap_scale);
        if (grouped) {  // one m-tile a warp (kernel_traits): the thread's rows r and r + 8
          const int r = warp_row0 + lane / 4;
          mask_to_row_keys(s[m], table->keys_of_row(r, group.count, p.mask),
                           table->keys_of_row(r + 8, group.count, p.mask), key0);
        } else if (masked) {
          tile.apply_mask(s[m], warp_row0 + m * 16, key0);
        }
        softmax[m].template step<T::kLazyRescale>(s[m], acc[m], p.exp2_scale);
      }
    }

    // V landed, and every warp is done with K: prefetch the next K under the PV product.
    cp_async_wait<0>();
    __syncthreads();
    if (step + 1 < kv_steps) {
      const int next = tile.key0(step + 1);
      load_tile_async<T, T::kBlockN>(sk, tile.k(p, next), p.k_token_stride,
                                     tile.mask.k_length - next);
      cp_async_commit();
    }
    if (warp_has_rows) value_product<T>(acc, s, sv, lane);
  }

  // With no key step the Q copies may still be landing in rows the epilogue reuses.
  cp_async_wait<0>();
  __syncthreads();
  if (!warp_has_rows) return;
  const auto lse_rows = tile.lse_rows(p);
  const auto o_rows = tile.o_rows(p);
#pragma unroll
  for (int m = 0; m < T::kMTiles; ++m) {
    const int row0 = warp_row0 + m * 16;
    const row_results rows =
        finish_rows(softmax[m], p.exp2_scale, lse_rows.first != nullptr, lse_rows, row0, valid_rows);
    store_output<T>(
        acc[m], rows, sq + row0 * T::kStride, valid_rows - row0, grouped,  // a group: one m-tile
        [&](int r) { return o_rows(row0 + r); },
        [&](uint32_t bad) {
          recompute_rows<HeadDim, Modifier>(bad, row0, p, tile, *table, group.count, o_rows);
        });
  }
}

}  // namespace varattn::detail::sm80
