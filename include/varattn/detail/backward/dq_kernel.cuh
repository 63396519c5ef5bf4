// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file dq_kernel.cuh
//! dQ: one CTA per (q tile of a segment, q head), each warp 16 of its rows, visiting the key
//! blocks the tile sees (the forward's key range, segment_mask::key_blocks): S = Q K^T, P =
//! exp(s - lse), dP = dO V^T, dS = P o (dP - D) (times the softcap's 1 - tanh^2), dQ += dS K;
//! dQ *= scale at the end. Separate from the dK/dV kernel so that each dQ element is summed by
//! one CTA in a fixed order: no float atomics, bit-identical run to run.

#include <varattn/detail/arch_guard.cuh>
#include <varattn/detail/backward/fragments.cuh>
#include <varattn/detail/backward/params.cuh>
#include <varattn/detail/backward/traits.cuh>
#include <varattn/detail/backward/work_list.cuh>
#include <varattn/detail/kernel/online_softmax.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/mask.hpp>
#include <varattn/detail/sm80/cp_async.cuh>

#include <cmath>
#include <cstdint>

namespace varattn::detail {

template <class Element, int HeadDim, class Modifier>
__global__ void __launch_bounds__(backward_traits<Element, HeadDim>::kQThreads)
    dq_kernel(const __grid_constant__ backward_params<Element> p,
              const __grid_constant__ backward_work work) {
  using T = backward_traits<Element, HeadDim>;
  constexpr int kKTiles = T::kQKeys / 8;  // n8 tiles of S's columns (keys)
  constexpr float kLog2e = 1.4426950408889634f;
  segment_bounds seg;
  int q_tile, head;
  if (!work.initial(seg, q_tile, head)) return;
  extern __shared__ uint4 smem_vectors[];  // 16-byte aligned for cp.async and ldmatrix
  Element* sq = reinterpret_cast<Element*>(smem_vectors);
  Element* sdo = sq + T::kQRows * T::kStride;
  Element* s_keys = sdo + T::kQRows * T::kStride;  // kQBuffers x (K, V) of kQKeys rows
  const int warp = static_cast<int>(threadIdx.x / 32);
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int kv_head = head / p.group_size;

  const int32_t query0 = q_tile * T::kQRows;
  const int32_t rows = min(T::kQRows, seg.q_length - query0);
  const segment_mask mask = segment_mask::make(p.mask, seg.q_length, seg.k_length);
  const segment_mask::blocks blocks = mask.key_blocks(query0, rows, T::kQKeys);
  // Over all kQRows rows (rows past the segment too): the unmasked range may only shrink.
  const segment_mask::key_range unmasked = mask.unmasked_keys(query0, T::kQRows);
  const int64_t q_row = int64_t{seg.q_begin} + query0;

  load_rows_async<T, T::kQRows, T::kQThreads>(sq, p.q.at(q_row, head), p.q.token_stride, rows);
  load_rows_async<T, T::kQRows, T::kQThreads>(sdo, p.d_o.at(q_row, head), p.d_o.token_stride,
                                              rows);
  sm80::cp_async_commit();
  // K and V of key block `step` into buffer `buf`, one commit group.
  const auto load_keys = [&](int32_t step, int buf) {
    const int32_t key0 = (blocks.first + step) * T::kQKeys;
    const int64_t k_row = int64_t{seg.k_begin} + key0;
    Element* sk = s_keys + buf * 2 * T::kQKeys * T::kStride;
    load_rows_async<T, T::kQKeys, T::kQThreads>(sk, p.k.at(k_row, kv_head), p.k.token_stride,
                                                seg.k_length - key0);
    load_rows_async<T, T::kQKeys, T::kQThreads>(sk + T::kQKeys * T::kStride,
                                                p.v.at(k_row, kv_head), p.v.token_stride,
                                                seg.k_length - key0);
    sm80::cp_async_commit();
  };
  if (blocks.count > 0) load_keys(0, 0);

  // The thread's two rows (lane / 4 and lane / 4 + 8 of the warp's 16): log2-scaled
  // logsumexp (+inf past the segment and for rows that see no key: P = 0 there) and D.
  const int warp_row0 = warp * 16;
  float lse2[2], delta[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = warp_row0 + lane / 4 + 8 * i;
    lse2[i] = INFINITY;
    delta[i] = 0.f;
    if (r < rows) {
      const float lse = p.lse[int64_t{head} * p.lse_head_stride + q_row + r];
      lse2[i] = lse == -INFINITY ? INFINITY : lse * kLog2e;
      delta[i] = p.delta[int64_t{head} * p.rows_q + q_row + r];
    }
  }

  // With two buffers, block i + 1's loads are issued right after the barrier that starts
  // block i (their buffer was last read in block i - 1) and fly during block i's products.
  float dq[T::kOutTiles][4] = {};
  for (int step = 0; step < blocks.count; ++step) {
    const int buf = T::kQBuffers == 2 ? step % 2 : 0;
    const int32_t key0 = (blocks.first + step) * T::kQKeys;
    sm80::cp_async_wait<0>();
    __syncthreads();  // this block's K and V are in; every warp is done with the other buffer
    if (T::kQBuffers == 2 && step + 1 < blocks.count) load_keys(step + 1, buf ^ 1);
    const Element* sk = s_keys + buf * 2 * T::kQKeys * T::kStride;
    const Element* sv = sk + T::kQKeys * T::kStride;

    float ds[kKTiles][4] = {};  // dP = dO V^T, then dS in place
    product_abt<Element, T::kStride, T::kKSteps, kKTiles>(ds, sdo + warp_row0 * T::kStride, sv,
                                                          lane);
    float s[kKTiles][4] = {};
    product_abt<Element, T::kStride, T::kKSteps, kKTiles>(s, sq + warp_row0 * T::kStride, sk,
                                                          lane);
    Modifier::apply(s, p.softcap_scale);
    const bool partial = key0 < unmasked.first || key0 + T::kQKeys > unmasked.end;
    with_mask_test(partial, [&](auto masked) {
#pragma unroll
      for (int n = 0; n < kKTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int32_t query = query0 + warp_row0 + lane / 4 + (e / 2) * 8;
          const int32_t key = key0 + n * 8 + (lane % 4) * 2 + (e % 2);
          const bool visible = !decltype(masked)::value || mask.visible(query, key);
          const float x = s[n][e];
          const float prob = visible ? fast_exp2(fmaf(x, p.exp2_scale, -lse2[e / 2])) : 0.f;
          float d = prob * (ds[n][e] - delta[e / 2]);
          if constexpr (Modifier::kSoftcap) d *= visible ? 1.f - x * x : 0.f;
          ds[n][e] = d;
        }
      }
    });
    product_pb<Element, T::kStride, T::kQKeys / 16, T::kOutTiles>(dq, ds, sk, lane);
    if (T::kQBuffers == 1 && step + 1 < blocks.count) {
      __syncthreads();  // every warp is done with the one buffer
      load_keys(step + 1, 0);
    }
  }
  sm80::cp_async_wait<0>();  // with no key block, Q and dO may still be landing
  store_fragment<Element>(dq, p.scale, p.d_q.at(q_row + warp_row0, head), p.d_q.token_stride,
                          rows - warp_row0, HeadDim, lane);
}

}  // namespace varattn::detail
