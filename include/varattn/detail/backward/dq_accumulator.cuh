// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file dq_accumulator.cuh
//! dQ without the deterministic pass (backward_options): the dK/dV kernel, which has dS^T of
//! its keys and a query step in registers, adds dQ += dS K for those keys into a float32
//! accumulator in the workspace ([rows_q, heads_q, head_dim], zeroed by a memset) with
//! atomics; a last kernel writes d_q = scale * accumulator. Five tile products a step in all,
//! where the deterministic path's separate dQ kernel recomputes S and dP (seven).

#include <varattn/detail/backward/fragments.cuh>
#include <varattn/detail/backward/params.cuh>
#include <varattn/detail/backward/traits.cuh>
#include <varattn/detail/sm80/mma.cuh>

#include <cstdint>
#include <type_traits>

namespace varattn::detail {

//! Adds (a, b) to the float pair at `address` (8-byte aligned): one vector reduction on sm_90,
//! two atomics before it.
__device__ __forceinline__ void atomic_add_pair(float* address, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("red.global.add.v2.f32 [%0], {%1, %2};" ::"l"(address), "f"(a), "f"(b)
               : "memory");
#else
  atomicAdd(address, a);
  atomicAdd(address + 1, b);
#endif
}

//! One query step's dQ terms of the CTA's keys. `ds` is the warp's dS^T (its 16 keys x
//! kKvQueries queries, C layout); the CTA's dS^T goes to `s_ds` ([key][query], Element), then
//! the warps share the step's (16-query m-tile, 64-channel chunk) blocks of dS K, each block
//! summed over all kKvKeys keys in registers and added to the accumulator once. Rows from
//! `rows` on (past the segment) are not added. The caller's next barrier orders the reads of
//! s_ds before the next step's writes.
template <class Element, int HeadDim, int QTiles>
__device__ __forceinline__ void add_dq_terms(const backward_params<Element>& p,
                                             const float (&ds)[QTiles][4], Element* s_ds,
                                             const Element* sk, int64_t q_row, int32_t rows,
                                             int32_t head, int warp, int lane) {
  using T = backward_traits<Element, HeadDim>;
  using mma = sm80::mma_16816<Element>;
  constexpr int kChunkTiles = T::kDqChunkTiles;
  constexpr int kChunks = T::kOutTiles / kChunkTiles;
  constexpr int kMTiles = T::kKvQueries / 16;
#pragma unroll
  for (int n = 0; n < QTiles; ++n) {
    const int key = warp * 16 + lane / 4;
    const int query = n * 8 + (lane % 4) * 2;
    *reinterpret_cast<uint32_t*>(s_ds + key * T::kDsStride + query) =
        mma::pack(ds[n][0], ds[n][1]);
    *reinterpret_cast<uint32_t*>(s_ds + (key + 8) * T::kDsStride + query) =
        mma::pack(ds[n][2], ds[n][3]);
  }
  __syncthreads();  // the CTA's dS^T is in
  for (int block = warp; block < kMTiles * kChunks; block += T::kKvThreads / 32) {
    const int m = block % kMTiles;
    const int chunk = block / kMTiles;
    float acc[kChunkTiles][4] = {};
    product_tab<Element, T::kDsStride, T::kStride, T::kKvKeys / 16, kChunkTiles>(
        acc, s_ds + m * 16, sk + chunk * kChunkTiles * 8, lane);
    const int row = m * 16 + lane / 4;
#pragma unroll
    for (int t = 0; t < kChunkTiles; ++t) {
      const int col = (chunk * kChunkTiles + t) * 8 + (lane % 4) * 2;
      if (col >= HeadDim) continue;  // padding channels of head dims off 16
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int r = row + half * 8;
        if (r >= rows) continue;
        float* out = p.dq_acc + ((q_row + r) * p.heads_q + head) * int64_t{HeadDim} + col;
        atomic_add_pair(out, acc[t][2 * half], acc[t][2 * half + 1]);
      }
    }
  }
}

inline constexpr int kDqConvertThreads = 256;

//! d_q = scale * accumulator, 8 channels a thread at a time, grid-strided. Not when the
//! device rejected the plan's offsets (`status` non-zero): the D kernel filled d_q with NaN.
template <class Element>
__global__ void __launch_bounds__(kDqConvertThreads)
    dq_convert_kernel(const __grid_constant__ backward_params<Element> p, const int32_t* status) {
  using mma = sm80::mma_16816<Element>;
  if (status != nullptr && *status != 0) return;
  const int32_t vectors_a_row = p.head_dim / 8;
  const int64_t total = p.rows_q * p.heads_q * vectors_a_row;
  for (int64_t i = int64_t{blockIdx.x} * kDqConvertThreads + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * kDqConvertThreads) {
    const int64_t row_head = i / vectors_a_row;
    const int32_t c = static_cast<int32_t>(i % vectors_a_row) * 8;
    const auto* in = reinterpret_cast<const float4*>(p.dq_acc + row_head * p.head_dim + c);
    const float4 lo = in[0], hi = in[1];
    uint4 out;
    out.x = mma::pack(lo.x * p.scale, lo.y * p.scale);
    out.y = mma::pack(lo.z * p.scale, lo.w * p.scale);
    out.z = mma::pack(hi.x * p.scale, hi.y * p.scale);
    out.w = mma::pack(hi.z * p.scale, hi.w * p.scale);
    *reinterpret_cast<uint4*>(p.d_q.at(row_head / p.heads_q,
                                       static_cast<int32_t>(row_head % p.heads_q)) + c) = out;
  }
}

}  // namespace varattn::detail
