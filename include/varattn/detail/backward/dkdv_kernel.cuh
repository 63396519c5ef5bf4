// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file dkdv_kernel.cuh
//! dK and dV: one CTA per (k tile of a segment, kv head), each warp 16 of its keys. The CTA
//! visits every q head of the group and every query tile that sees one of its keys, and
//! recomputes, transposed (keys are the rows): S^T = K Q^T, P^T = exp(s - lse) from the
//! forward's logsumexp, dV += P^T dO; dP^T = V dO^T, dS^T = P^T o (dP^T - D) (times the
//! softcap's 1 - tanh^2), dK += dS^T Q, and dK *= scale at the end. Each dK and dV element is
//! written once, by one CTA, in a fixed order. With AtomicDq the CTA also adds dS K to the dQ
//! accumulator (dq_accumulator.cuh); without it the dQ kernel computes dQ.

#include <varattn/detail/arch_guard.cuh>
#include <varattn/detail/backward/dq_accumulator.cuh>
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

//! The CTA's keys and the query steps that see them.
struct kv_tile {
  segment_bounds seg;
  segment_mask mask;
  int32_t key0;        //!< the tile's first key in its segment
  int32_t keys;        //!< keys of the tile inside the segment
  int32_t step_first;  //!< query steps [step_first, step_end) of kv_queries rows
  int32_t step_end;
  int32_t kv_head;

  //! With seg and mask set: the tile is k tile `k_tile` of `tile_keys` keys, and the query
  //! steps of `step_rows` rows that see its keys. Query i sees key j iff min_offset <= j - i
  //! <= max_offset: the queries [key0 - max_offset, key0 + keys - 1 - min_offset] (int64: the
  //! offsets may be INT32_MIN / INT32_MAX).
  __device__ __forceinline__ void place(int k_tile, int32_t tile_keys, int32_t step_rows) {
    key0 = k_tile * tile_keys;
    keys = min(tile_keys, seg.k_length - key0);
    const int64_t first = int64_t{key0} - mask.max_offset;
    const int64_t last = int64_t{key0} + keys - 1 - mask.min_offset;
    const int64_t q_first = first < 0 ? 0 : first;
    const int64_t q_last = last < seg.q_length - 1 ? last : seg.q_length - 1;
    step_first = static_cast<int32_t>(q_first / step_rows);
    step_end = q_last < q_first ? step_first : static_cast<int32_t>(q_last / step_rows) + 1;
  }
};

//! The dK/dV kernel's shared memory: K and V; kKvBuffers x (Q, dO) of a query step; as many
//! x (logsumexp, D) of its rows; dS^T for the atomic dQ path.
template <class Element, int HeadDim>
struct kv_smem {
  using T = backward_traits<Element, HeadDim>;
  Element* base;

  __device__ __forceinline__ Element* k() const { return base; }
  __device__ __forceinline__ Element* v() const { return base + T::kKvKeys * T::kStride; }
  __device__ __forceinline__ Element* q(int buf) const {
    return base + (2 * T::kKvKeys + buf * 2 * T::kKvQueries) * T::kStride;
  }
  __device__ __forceinline__ Element* d_o(int buf) const {
    return q(buf) + T::kKvQueries * T::kStride;
  }
  //! 2 kKvQueries floats a buffer: the rows' logsumexp, then their D.
  __device__ __forceinline__ float* rows(int buf) const {
    return reinterpret_cast<float*>(q(T::kKvBuffers)) + buf * 2 * T::kKvQueries;
  }
  __device__ __forceinline__ Element* ds() const {
    return reinterpret_cast<Element*>(rows(T::kKvBuffers));
  }
};

//! Issues the cp.async loads of query step `item` (of the pass's group_size x steps, head-
//! major) into buffer `buf`: Q and dO rows (zero past the segment) and the rows' logsumexp
//! and D (zero past the segment: those rows have Q = dO = 0, so whatever P they get, their
//! dV, dK and dQ terms are 0).
template <class Element, int HeadDim>
__device__ __forceinline__ void load_query_step(const backward_params<Element>& p,
                                                const kv_tile& t,
                                                const kv_smem<Element, HeadDim>& sm, int32_t item,
                                                int buf) {
  using T = backward_traits<Element, HeadDim>;
  const int32_t steps = t.step_end - t.step_first;
  const int32_t head = t.kv_head * p.group_size + item / steps;
  const int32_t query0 = (t.step_first + item % steps) * T::kKvQueries;
  const int32_t rows = min(T::kKvQueries, t.seg.q_length - query0);
  const int64_t q_row = int64_t{t.seg.q_begin} + query0;
  load_rows_async<T, T::kKvQueries, T::kKvThreads>(sm.q(buf), p.q.at(q_row, head),
                                                   p.q.token_stride, rows);
  load_rows_async<T, T::kKvQueries, T::kKvThreads>(sm.d_o(buf), p.d_o.at(q_row, head),
                                                   p.d_o.token_stride, rows);
  float* s_rows = sm.rows(buf);
  for (int r = static_cast<int>(threadIdx.x); r < 2 * T::kKvQueries; r += T::kKvThreads) {
    const int row = r % T::kKvQueries;
    const bool valid = row < rows;
    const float* src = r < T::kKvQueries
                           ? p.lse + int64_t{head} * p.lse_head_stride + q_row + row
                           : p.delta + int64_t{head} * p.rows_q + q_row + row;
    sm80::cp_async_4(s_rows + r, valid ? src : p.delta, valid);
  }
  sm80::cp_async_commit();
}

//! One pass over the group's q heads and the query steps: dV (DoV) and / or dK (DoK) and the
//! dQ terms (DoQ, with DoK). With two buffers, step i + 1's loads are issued right after the
//! barrier that starts step i (the buffer they fill was last read in step i - 1) and fly
//! during step i's products.
template <class Element, int HeadDim, class Modifier, bool DoV, bool DoK, bool DoQ>
__device__ __forceinline__ void dkdv_pass(
    const backward_params<Element>& p, const kv_tile& t, const kv_smem<Element, HeadDim>& sm,
    float (&dv)[backward_traits<Element, HeadDim>::kOutTiles][4],
    float (&dk)[backward_traits<Element, HeadDim>::kOutTiles][4]) {
  using T = backward_traits<Element, HeadDim>;
  static_assert(DoK || !DoQ, "the dQ terms need dS");
  constexpr int kQTiles = T::kKvQueries / 8;  // n8 tiles of S^T's columns (queries)
  constexpr float kLog2e = 1.4426950408889634f;
  const int warp = static_cast<int>(threadIdx.x / 32);
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int32_t warp_key0 = t.key0 + warp * 16;  // the warp's first key in the segment
  const int32_t steps = t.step_end - t.step_first;
  const int32_t items = p.group_size * steps;

  __syncthreads();  // a previous pass's last step is done with the buffers
  if (items > 0) load_query_step<Element, HeadDim>(p, t, sm, 0, 0);
  for (int32_t item = 0; item < items; ++item) {
    const int buf = T::kKvBuffers == 2 ? item % 2 : 0;
    const int32_t query0 = (t.step_first + item % steps) * T::kKvQueries;
    sm80::cp_async_wait<0>();
    __syncthreads();  // this step's tiles are in; every warp is done with the other buffer
    if (T::kKvBuffers == 2 && item + 1 < items) {
      load_query_step<Element, HeadDim>(p, t, sm, item + 1, buf ^ 1);
    }
    const Element* sq = sm.q(buf);
    const Element* sdo = sm.d_o(buf);
    const float* s_lse = sm.rows(buf);
    const float* s_delta = s_lse + T::kKvQueries;

    // dP^T = V dO^T first: the scores then turn into P and dS in place, one array each.
    float dp[kQTiles][4] = {};
    if constexpr (DoK) {
      product_abt<Element, T::kStride, T::kKSteps, kQTiles>(dp, sm.v() + warp * 16 * T::kStride,
                                                            sdo, lane);
    }
    float s[kQTiles][4] = {};
    product_abt<Element, T::kStride, T::kKSteps, kQTiles>(s, sm.k() + warp * 16 * T::kStride, sq,
                                                          lane);
    Modifier::apply(s, p.softcap_scale);
    // Every query of the step sees every key of the tile: no element mask.
    const segment_mask::key_range unmasked = t.mask.unmasked_keys(query0, T::kKvQueries);
    const bool partial = t.key0 < unmasked.first || t.key0 + T::kKvKeys > unmasked.end;
    with_mask_test(partial, [&](auto masked) {
#pragma unroll
      for (int n = 0; n < kQTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int col = n * 8 + (lane % 4) * 2 + (e % 2);  // query in the step
          const int32_t key = warp_key0 + lane / 4 + (e / 2) * 8;
          const bool visible = !decltype(masked)::value || t.mask.visible(query0 + col, key);
          // A row that sees no key has lse -inf: P = exp2(-inf) = 0 there.
          const float lse = s_lse[col];
          const float lse2 = lse == -INFINITY ? INFINITY : lse * kLog2e;
          const float x = s[n][e];
          const float prob = visible ? fast_exp2(fmaf(x, p.exp2_scale, -lse2)) : 0.f;
          s[n][e] = prob;
          if constexpr (DoK) {
            float ds = prob * (dp[n][e] - s_delta[col]);
            if constexpr (Modifier::kSoftcap) ds *= visible ? 1.f - x * x : 0.f;
            dp[n][e] = ds;
          }
        }
      }
    });
    if constexpr (DoV) {
      product_pb<Element, T::kStride, T::kKvQueries / 16, T::kOutTiles>(dv, s, sdo, lane);
    }
    if constexpr (DoK) {
      product_pb<Element, T::kStride, T::kKvQueries / 16, T::kOutTiles>(dk, dp, sq, lane);
    }
    if constexpr (DoQ) {
      const int32_t head = t.kv_head * p.group_size + item / steps;
      add_dq_terms<Element, HeadDim>(p, dp, sm.ds(), sm.k(), int64_t{t.seg.q_begin} + query0,
                                     t.seg.q_length - query0, head, warp, lane);
    }
    if (T::kKvBuffers == 1 && item + 1 < items) {
      __syncthreads();  // every warp is done with the one buffer
      load_query_step<Element, HeadDim>(p, t, sm, item + 1, 0);
    }
  }
}

template <class Element, int HeadDim, class Modifier, bool AtomicDq>
__global__ void __launch_bounds__(backward_traits<Element, HeadDim>::kKvThreads)
    dkdv_kernel(const __grid_constant__ backward_params<Element> p,
                const __grid_constant__ backward_work work) {
  using T = backward_traits<Element, HeadDim>;
  kv_tile t;
  int k_tile;
  if (!work.initial(t.seg, k_tile, t.kv_head)) return;
  extern __shared__ uint4 smem_vectors[];  // 16-byte aligned for cp.async and ldmatrix
  const kv_smem<Element, HeadDim> sm{reinterpret_cast<Element*>(smem_vectors)};
  const int warp = static_cast<int>(threadIdx.x / 32);
  const int lane = static_cast<int>(threadIdx.x % 32);

  t.mask = segment_mask::make(p.mask, t.seg.q_length, t.seg.k_length);
  t.place(k_tile, T::kKvKeys, T::kKvQueries);

  const int64_t k_row = int64_t{t.seg.k_begin} + t.key0;
  load_rows_async<T, T::kKvKeys, T::kKvThreads>(sm.k(), p.k.at(k_row, t.kv_head),
                                                 p.k.token_stride, t.keys);
  load_rows_async<T, T::kKvKeys, T::kKvThreads>(sm.v(), p.v.at(k_row, t.kv_head),
                                                 p.v.token_stride, t.keys);
  sm80::cp_async_commit();

  const int64_t warp_row = k_row + warp * 16;
  const int valid = t.keys - warp * 16;
  float acc[T::kOutTiles][4] = {};
  if constexpr (T::kKvTwoPasses) {
    // dV, then dK: one accumulator at a time (head dims above 128).
    dkdv_pass<Element, HeadDim, Modifier, true, false, false>(p, t, sm, acc, acc);
    store_fragment<Element>(acc, 1.f, p.d_v.at(warp_row, t.kv_head), p.d_v.token_stride, valid,
                            HeadDim, lane);
#pragma unroll
    for (int i = 0; i < T::kOutTiles; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
    dkdv_pass<Element, HeadDim, Modifier, false, true, AtomicDq>(p, t, sm, acc, acc);
    store_fragment<Element>(acc, p.scale, p.d_k.at(warp_row, t.kv_head), p.d_k.token_stride,
                            valid, HeadDim, lane);
  } else {
    float dk[T::kOutTiles][4] = {};
    dkdv_pass<Element, HeadDim, Modifier, true, true, AtomicDq>(p, t, sm, acc, dk);
    store_fragment<Element>(acc, 1.f, p.d_v.at(warp_row, t.kv_head), p.d_v.token_stride, valid,
                            HeadDim, lane);
    store_fragment<Element>(dk, p.scale, p.d_k.at(warp_row, t.kv_head), p.d_k.token_stride,
                            valid, HeadDim, lane);
  }
  sm80::cp_async_wait<0>();  // with no query step, K and V may still be landing
}

}  // namespace varattn::detail
