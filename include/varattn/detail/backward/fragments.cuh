// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file fragments.cuh
//! The backward kernels' building blocks on sm80 tensor cores, for one warp and 16 result
//! rows: the three products (A B^T with both operands in shared memory; P B with P in
//! registers; A B with A stored transposed), a tile load with cp.async, and a store of a
//! 16-row fragment to global memory.
//! Fragment layouts: detail/sm80/mma.cuh.

#include <varattn/detail/sm80/cp_async.cuh>
#include <varattn/detail/sm80/ldmatrix.cuh>
#include <varattn/detail/sm80/mma.cuh>

#include <cstdint>
#include <type_traits>

namespace varattn::detail {

//! acc[16 x 8 NTiles] += A B^T over KSteps x 16 channels: A is 16 rows of a [row][channel]
//! shared tile, B's rows are the result's columns ([column][channel]), both `Stride` apart.
template <class Element, int Stride, int KSteps, int NTiles>
__device__ __forceinline__ void product_abt(float (&acc)[NTiles][4], const Element* a,
                                            const Element* b, int lane) {
  static_assert(NTiles % 2 == 0, "B fragments come in pairs of n8 tiles");
  using mma = sm80::mma_16816<Element>;
  const Element* a_row = a + (lane % 8 + ((lane / 8) % 2) * 8) * Stride + (lane / 16) * 8;
  const Element* b_row = b + (lane % 8 + (lane / 16) * 8) * Stride + ((lane / 8) % 2) * 8;
  // Unrolled, so that ptxas issues the next k-step's ldmatrix ahead of this one's mma (one
  // or two warps a scheduler here: latency is not hidden by other warps); ptxas -v shows no
  // spill at any head dim.
#pragma unroll
  for (int kk = 0; kk < KSteps; ++kk) {
    uint32_t af[4];
    sm80::ldmatrix_x4(af, a_row + kk * 16);
#pragma unroll
    for (int n = 0; n < NTiles / 2; ++n) {
      uint32_t bf[4];
      sm80::ldmatrix_x4(bf, b_row + n * 16 * Stride + kk * 16);
      mma::run(acc[2 * n], af, bf[0], bf[1]);
      mma::run(acc[2 * n + 1], af, bf[2], bf[3]);
    }
  }
}

//! acc[16 x 8 OutTiles] += P B: P is 16 x (16 KChunks) in registers (C layout, rounded to
//! Element), B a [k][column] shared tile (`Stride` apart) read transposed.
template <class Element, int Stride, int KChunks, int OutTiles>
__device__ __forceinline__ void product_pb(float (&acc)[OutTiles][4],
                                           const float (&p)[2 * KChunks][4], const Element* b,
                                           int lane) {
  static_assert(OutTiles % 2 == 0, "B fragments come in pairs of n8 tiles");
  using mma = sm80::mma_16816<Element>;
  const Element* b_row = b + (lane % 8 + ((lane / 8) % 2) * 8) * Stride + (lane / 16) * 8;
#pragma unroll
  for (int kc = 0; kc < KChunks; ++kc) {
    uint32_t af[4];
    sm80::pack_a_fragment<Element>(af, p[2 * kc], p[2 * kc + 1]);
#pragma unroll
    for (int n = 0; n < OutTiles / 2; ++n) {
      uint32_t bf[4];
      sm80::ldmatrix_x4_trans(bf, b_row + kc * 16 * Stride + n * 16);
      mma::run(acc[2 * n], af, bf[0], bf[1]);
      mma::run(acc[2 * n + 1], af, bf[2], bf[3]);
    }
  }
}

//! acc[16 x 8 NTiles] += A B over KSteps x 16: A is stored transposed, a [k][row] shared tile
//! (the 16 rows from `a`, `AStride` apart), and read with ldmatrix.trans; B a [k][column] tile
//! (`BStride` apart, the columns from `b`) read transposed, as in product_pb.
template <class Element, int AStride, int BStride, int KSteps, int NTiles>
__device__ __forceinline__ void product_tab(float (&acc)[NTiles][4], const Element* a,
                                            const Element* b, int lane) {
  static_assert(NTiles % 2 == 0, "B fragments come in pairs of n8 tiles");
  using mma = sm80::mma_16816<Element>;
  // ldmatrix.trans of the 8 x 8 block (k, row) gives the A fragment's (row, k) block: matrix
  // i holds rows 8 (i % 2) on and k 8 (i / 2) on, as a0..a3 of mma.m16n8k16.
  const Element* a_row = a + (lane % 8 + (lane / 16) * 8) * AStride + ((lane / 8) % 2) * 8;
  const Element* b_row = b + (lane % 8 + ((lane / 8) % 2) * 8) * BStride + (lane / 16) * 8;
#pragma unroll
  for (int kk = 0; kk < KSteps; ++kk) {
    uint32_t af[4];
    sm80::ldmatrix_x4_trans(af, a_row + kk * 16 * AStride);
#pragma unroll
    for (int n = 0; n < NTiles / 2; ++n) {
      uint32_t bf[4];
      sm80::ldmatrix_x4_trans(bf, b_row + kk * 16 * BStride + n * 16);
      mma::run(acc[2 * n], af, bf[0], bf[1]);
      mma::run(acc[2 * n + 1], af, bf[2], bf[3]);
    }
  }
}

//! Copies `Rows` rows (`token_stride` apart from `gmem`) into a shared tile with cp.async,
//! `Threads` threads taking 16-byte vectors in turn; rows from `valid_rows` on and the
//! padding columns are zero-filled, so the products read finite zeros there.
template <class Traits, int Rows, int Threads, class Element>
__device__ __forceinline__ void load_rows_async(Element* smem, const Element* gmem,
                                                int64_t token_stride, int valid_rows) {
  constexpr int kVectors = Rows * Traits::kPaddedChunks;
  // Not unrolled: unrolled, the per-vector offsets (loop-invariant across the kernels' steps)
  // were hoisted out of the step loops and held in registers, which spilled at head dim 256.
#pragma unroll 1
  for (int i0 = 0; i0 < kVectors; i0 += Threads) {
    const int i = i0 + static_cast<int>(threadIdx.x);
    if (kVectors % Threads != 0 && i >= kVectors) break;
    const int row = i / Traits::kPaddedChunks;
    const int chunk = i % Traits::kPaddedChunks;
    const bool valid = row < valid_rows && chunk < Traits::kChunks;
    sm80::cp_async_16(smem + row * Traits::kStride + chunk * 8,
                      valid ? gmem + row * token_stride + chunk * 8 : gmem, valid);
  }
}

//! Stores the pair (a, b) at `out`: a float2, or packed to 16 bits.
template <class Out>
__device__ __forceinline__ void store_pair(Out* out, float a, float b) {
  if constexpr (std::is_same_v<Out, float>) {
    *reinterpret_cast<float2*>(out) = make_float2(a, b);
  } else {
    *reinterpret_cast<uint32_t*>(out) = sm80::mma_16816<Out>::pack(a, b);
  }
}

//! Writes factor * acc (16 rows, the first at `out`, `token_stride` apart; columns below
//! head_dim) as pairs of Out (the element type, or float for partial sums), skipping rows from
//! `valid_rows` on. Straight from registers: no shared memory (the tiles may still be in use
//! by other warps).
template <class Out, int OutTiles>
__device__ __forceinline__ void store_fragment(const float (&acc)[OutTiles][4], float factor,
                                               Out* out, int64_t token_stride,
                                               int valid_rows, int head_dim, int lane) {
  const int row = lane / 4;
#pragma unroll
  for (int t = 0; t < OutTiles; ++t) {
    const int col = t * 8 + (lane % 4) * 2;  // head_dim is a multiple of 8: col + 1 fits too
    if (col >= head_dim) continue;
    if (row < valid_rows) {
      store_pair(out + row * token_stride + col, acc[t][0] * factor, acc[t][1] * factor);
    }
    if (row + 8 < valid_rows) {
      store_pair(out + (row + 8) * token_stride + col, acc[t][2] * factor, acc[t][3] * factor);
    }
  }
}

}  // namespace varattn::detail
