// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file dkdv_kernel.cuh
//! dK and dV: one CTA per (k tile of a segment, kv head), each warp 16 of its keys. The CTA
//! visits every q head of the group (with 8 or more, its share of them: backward_head_splits)
//! and every query tile that sees one of its keys, and recomputes, transposed (keys are the
//! rows): S^T = K Q^T, P^T = exp(s - lse) from the forward's logsumexp, dV += P^T dO;
//! dP^T = V dO^T, dS^T = P^T o (dP^T - D) (times the softcap's 1 - tanh^2), dK += dS^T Q, and
//! dK *= scale at the end. Each dK and dV element is written once, by one CTA, in a fixed
//! order (with head splits, each split's float32 partial, summed in split order by
//! dkv_partial_sum_kernel). With AtomicDq the CTA also adds dS K to the dQ accumulator
//! (dq_accumulator.cuh); without it the dQ kernel computes dQ.

#include <varattn/detail/arch_guard.cuh>
#include <varattn/detail/backward/dq_accumulator.cuh>
#include <varattn/detail/backward/fragments.cuh>
#include <varattn/detail/backward/params.cuh>
#include <varattn/detail/backward/query_steps.hpp>
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
  //! Step s holds the queries [query_origin + s rows, + rows) (query0()): 0, steps on
  //! multiples of the step's rows from the segment's query 0; or, placed FromFirstQuery, the
  //! tile's first query that sees one of its keys, with step_first 0 (place()).
  int32_t query_origin;
  //! The grid's head index: kv head x backward_head_splits + split (the kv head alone
  //! without splits); the CTA's q heads are [q_head0, q_head0 + split_heads).
  int32_t unit;
  int32_t q_head0;

  __device__ __forceinline__ void assign_heads(int grid_head, int32_t split_heads) {
    unit = grid_head;
    q_head0 = grid_head * split_heads;
  }
  __device__ __forceinline__ int32_t kv_head(int32_t head_splits) const {
    return head_splits == 1 ? unit : unit / head_splits;
  }

  //! The q head of item `item` of the CTA's split_heads x steps (head-major), and their count.
  __device__ __forceinline__ int32_t head_of(int32_t item) const {
    return q_head0 + item / (step_end - step_first);
  }
  __device__ __forceinline__ int32_t items(int32_t split_heads) const {
    return split_heads * (step_end - step_first);
  }
  //! The first query (in the segment) of step `step` of `step_rows` rows.
  __device__ __forceinline__ int32_t query0(int32_t step, int32_t step_rows) const {
    return query_origin + step * step_rows;
  }

  //! With seg and mask set: the tile is k tile `k_tile` of `tile_keys` keys, and the query
  //! steps of `step_rows` rows that see its keys (steps_of_tile, query_steps.hpp: on the
  //! segment's multiples of step_rows, or FromFirstQuery from the first query that sees one
  //! of its keys, with step_first 0). Only where the step does not divide the tile
  //! (run_roles): elsewhere an equal-length causal tile's steps are the same on both grids,
  //! and the kernels keep their code (bench/experiments/causal_backward_gap_d256.md). The
  //! last step's rows past q_last inside the segment see none of the tile's keys (the mask
  //! test hides them); rows past the segment may run unmasked, in a full step too, as on the
  //! fixed grid: their Q, dO, lse and D load as zeros and their dQ is clipped.
  template <bool FromFirstQuery = false>
  __device__ __forceinline__ void place(int k_tile, int32_t tile_keys, int32_t step_rows) {
    key0 = k_tile * tile_keys;
    keys = min(tile_keys, seg.k_length - key0);
    const query_steps s =
        steps_of_tile<FromFirstQuery>(mask, seg.q_length, key0, keys, step_rows);
    query_origin = s.origin;
    step_first = s.first;
    step_end = s.end;
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

//! Issues the cp.async loads of query step `item` (of the CTA's q_heads x steps, head-
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
  const int32_t head = t.head_of(item);
  const int32_t query0 = t.query0(t.step_first + item % steps, T::kKvQueries);
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

//! One pass over the CTA's q heads and the query steps: dV (DoV) and / or dK (DoK) and the
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
  const int32_t items = t.items(p.split_heads);

  __syncthreads();  // a previous pass's last step is done with the buffers
  if (items > 0) load_query_step<Element, HeadDim>(p, t, sm, 0, 0);
  for (int32_t item = 0; item < items; ++item) {
    const int buf = T::kKvBuffers == 2 ? item % 2 : 0;
    const int32_t query0 = t.query0(t.step_first + item % steps, T::kKvQueries);
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
      const int32_t head = t.head_of(item);
      add_dq_terms<Element, HeadDim>(p, dp, sm.ds(), sm.k(), int64_t{t.seg.q_begin} + query0,
                                     t.seg.q_length - query0, head, warp, lane);
    }
    if (T::kKvBuffers == 1 && item + 1 < items) {
      __syncthreads();  // every warp is done with the one buffer
      load_query_step<Element, HeadDim>(p, t, sm, item + 1, 0);
    }
  }
}

//! Writes a warp's 16 rows of dK (IsK: times scale) or dV from `row` on (rows from `valid`
//! on skipped): into d_k / d_v, or with head splits into the CTA's float32 partials
//! (backward_layout), which dkv_partial_sum_kernel adds up. `acc` holds the channels from
//! `channel0` on (the head-dim-256 Hopper kernel's warpgroups hold a half each).
template <bool IsK, int HeadDim, class Element, int OutTiles>
__device__ __forceinline__ void store_dkdv(const backward_params<Element>& p, const kv_tile& t,
                                           const float (&acc)[OutTiles][4], int64_t row,
                                           int valid, int lane, int channel0 = 0) {
  const float factor = IsK ? p.scale : 1.f;
  // The channels of acc that exist: OutTiles x 8 of them, fewer past the head dim.
  const int channels = HeadDim - channel0 < OutTiles * 8 ? HeadDim - channel0 : OutTiles * 8;
  if (p.head_splits > 1) {
    const int64_t units = int64_t{p.heads_kv} * p.head_splits;
    const int64_t stride = units * 2 * p.head_dim;  // floats a key row
    float* out = p.dkv_partial + row * stride + int64_t{t.unit} * 2 * p.head_dim +
                 (IsK ? 0 : p.head_dim) + channel0;
    store_fragment(acc, factor, out, stride, valid, channels, lane);
  } else {  // no splits: the unit is the kv head
    const device_rows<Element>& grad = IsK ? p.d_k : p.d_v;
    store_fragment(acc, factor, grad.at(row, t.unit) + channel0, grad.token_stride, valid,
                   channels, lane);
  }
}

inline constexpr int kDkvSumThreads = 256;

//! With head splits: d_k and d_v = the sum of the splits' partials, in split order (the same
//! bits every run), 8 channels a thread at a time, grid-strided. Not when the device rejected
//! the plan's offsets (`status` non-zero): the D kernel filled d_k and d_v with NaN.
template <class Element>
__global__ void __launch_bounds__(kDkvSumThreads)
    dkv_partial_sum_kernel(const __grid_constant__ backward_params<Element> p,
                           const int32_t* status) {
  if (status != nullptr && *status != 0) return;
  const int32_t vectors_a_row = p.head_dim / 8;
  const int64_t rows_heads = p.rows_k * p.heads_kv;
  const int64_t total = rows_heads * 2 * vectors_a_row;  // dK, then dV, of each (row, head)
  for (int64_t i = int64_t{blockIdx.x} * kDkvSumThreads + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * kDkvSumThreads) {
    const int64_t row_head = i / (2 * vectors_a_row);
    const int32_t c = static_cast<int32_t>(i % (2 * vectors_a_row)) * 8;  // into [dK | dV]
    float sum[8] = {};
    const float* partial = p.dkv_partial + row_head * p.head_splits * 2 * p.head_dim + c;
    for (int32_t split = 0; split < p.head_splits; ++split) {
      const auto* in = reinterpret_cast<const float4*>(partial + split * 2 * p.head_dim);
      const float4 lo = in[0], hi = in[1];
      sum[0] += lo.x, sum[1] += lo.y, sum[2] += lo.z, sum[3] += lo.w;
      sum[4] += hi.x, sum[5] += hi.y, sum[6] += hi.z, sum[7] += hi.w;
    }
    const bool is_k = c < p.head_dim;
    const device_rows<Element>& grad = is_k ? p.d_k : p.d_v;
    Element* out = grad.at(row_head / p.heads_kv, static_cast<int32_t>(row_head % p.heads_kv)) +
                   (is_k ? c : c - p.head_dim);
#pragma unroll
    for (int j = 0; j < 8; j += 2) store_pair(out + j, sum[j], sum[j + 1]);
  }
}

template <class Element, int HeadDim, class Modifier, bool AtomicDq>
__global__ void __launch_bounds__(backward_traits<Element, HeadDim>::kKvThreads)
    dkdv_kernel(const __grid_constant__ backward_params<Element> p,
                const __grid_constant__ backward_work work) {
  using T = backward_traits<Element, HeadDim>;
  kv_tile t;
  int k_tile, unit;
  if (!work.initial(t.seg, k_tile, unit)) return;
  t.assign_heads(unit, p.split_heads);
  const int32_t kv_head = t.kv_head(p.head_splits);
  extern __shared__ uint4 smem_vectors[];  // 16-byte aligned for cp.async and ldmatrix
  const kv_smem<Element, HeadDim> sm{reinterpret_cast<Element*>(smem_vectors)};
  const int warp = static_cast<int>(threadIdx.x / 32);
  const int lane = static_cast<int>(threadIdx.x % 32);

  t.mask = segment_mask::make(p.mask, t.seg.q_length, t.seg.k_length);
  t.place(k_tile, T::kKvKeys, T::kKvQueries);

  const int64_t k_row = int64_t{t.seg.k_begin} + t.key0;
  load_rows_async<T, T::kKvKeys, T::kKvThreads>(sm.k(), p.k.at(k_row, kv_head),
                                                 p.k.token_stride, t.keys);
  load_rows_async<T, T::kKvKeys, T::kKvThreads>(sm.v(), p.v.at(k_row, kv_head),
                                                 p.v.token_stride, t.keys);
  sm80::cp_async_commit();

  const int64_t warp_row = k_row + warp * 16;
  const int valid = t.keys - warp * 16;
  float acc[T::kOutTiles][4] = {};
  if constexpr (T::kKvTwoPasses) {
    // dV, then dK: one accumulator at a time (head dims above 128).
    dkdv_pass<Element, HeadDim, Modifier, true, false, false>(p, t, sm, acc, acc);
    store_dkdv<false, HeadDim>(p, t, acc, warp_row, valid, lane);
#pragma unroll
    for (int i = 0; i < T::kOutTiles; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
    dkdv_pass<Element, HeadDim, Modifier, false, true, AtomicDq>(p, t, sm, acc, acc);
    store_dkdv<true, HeadDim>(p, t, acc, warp_row, valid, lane);
  } else {
    float dk[T::kOutTiles][4] = {};
    dkdv_pass<Element, HeadDim, Modifier, true, true, AtomicDq>(p, t, sm, acc, dk);
    store_dkdv<false, HeadDim>(p, t, acc, warp_row, valid, lane);
    store_dkdv<true, HeadDim>(p, t, dk, warp_row, valid, lane);
  }
  sm80::cp_async_wait<0>();  // with no query step, K and V may still be landing
}

}  // namespace varattn::detail
