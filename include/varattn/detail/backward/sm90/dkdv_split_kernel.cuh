// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file dkdv_split_kernel.cuh
//! dK and dV (and, with AtomicDq, dQ) on Hopper tensor cores at head dim 256, where a
//! warpgroup cannot hold dK and dV of 64 keys (split_traits.cuh). A CTA owns 64 keys; its
//! producer warpgroup is dkdv_kernel.cuh's (K and V once, then each step's Q, dO, lse and D
//! into a two-buffer ring); its two consumer warpgroups split each step of 64 queries:
//!   S^T = K Q_g^T, dP^T = V dO_g^T     warpgroup g: the step's queries [32 g, + 32) (N = 32),
//!                                      all 64 keys (M), K-major operands as dkdv_kernel's;
//!   P^T, dS^T                          in registers as there (mask, softcap, lse, D), then
//!                                      stored [query][key] (stmatrix .trans) into the step's
//!                                      P and dS tiles, rows [32 g, + 32);
//!   -- both warpgroups meet (named barrier 1): the tiles hold all 64 queries --
//!   dQ_g = dS K_g                      channels [128 g, + 128) of the step's dQ (M = queries,
//!                                      dS K-major, K through the transpose), issued with
//!   dV_g += P^T dO_g, dK_g += dS^T Q_g  on the tensor cores (M = keys: P, dS and dO, Q
//!                                      through both transposes; channels [128 g, + 128));
//!                                      dQ then added to the float32 accumulator (below).
//! Compared with the two-warpgroup kernel (keys split, P and dS in registers), this one reads
//! P and dS from shared memory and meets once a step; it is the shape FlashAttention-3 takes
//! at head dim 256 (64 x 64 tiles, two warpgroups splitting S by columns and dK/dV by
//! channels). A full step's dQ goes to the accumulator by tensor reductions (as dkdv_kernel's)
//! from boxes staged in the warpgroup's own blocks of the step's Q and dO tiles, which its dV
//! and dK products have read by then (no other room: shared memory is spent), and which the
//! producer's warp 1 (the dQ writer, dq_handoff) hands to the copy engine; a segment's
//! last, partial step by `red.global.add.v2.f32` from registers, which need not wait for
//! those products (staged and clipped as dkdv_kernel's, it was +3.5% on llm-d256-causal:
//! bench/NOTES.md, twenty-eighth session).

#include <varattn/detail/backward/dq_accumulator.cuh>
#include <varattn/detail/backward/sm90/dkdv_kernel.cuh>
#include <varattn/detail/backward/sm90/split_traits.cuh>

#include <cmath>
#include <cstdint>

namespace varattn::detail::sm90 {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

//! Step buffer `buf`'s P and dS tiles, after the producer's K, V and two (Q, dO) buffers.
template <class T>
__device__ __forceinline__ unsigned char* split_p(const backward_smem<T>& sm, int buf) {
  return sm.q(2) + buf * 2 * T::kPdsBytes;
}
template <class T>
__device__ __forceinline__ unsigned char* split_ds(const backward_smem<T>& sm, int buf) {
  return split_p(sm, buf) + T::kPdsBytes;
}

//! Box `box` (0-3) of a warpgroup's staged dQ (a full step's 64 queries x 32 of its 128
//! channels, float32, the dQ map's 128-byte swizzle): the warpgroup's two 64-channel blocks
//! (from block0) of the step's Q tile, then of its dO tile, 8 KB each as a box is.
template <class T>
__device__ __forceinline__ unsigned char* split_dq_box(const backward_smem<T>& sm, int buf,
                                                       int block0, int box) {
  static_assert(T::query_tile::kBlockBytes == T::kQueries * 32 * 4, "a box a block");
  return (box < 2 ? sm.q(buf) : sm.d_o(buf)) + (block0 + box % 2) * T::query_tile::kBlockBytes;
}

//! A warpgroup's dQ (M = queries, N = its channels) into its boxes. dq[n][e]: query warp 16 +
//! lane / 4 (+ 8 for e >= 2), channel 8 n + 2 (lane % 4) (+ 1 for odd e), box n / 4. A box's
//! 128-byte rows swizzle as a 16-bit tile's (swizzled_offset_128b, a float two elements); a
//! float2 store of the warp covers 8 rows x 2 units, each bank twice (two wavefronts, the
//! least).
template <class T>
__device__ __forceinline__ void stage_split_dq(const backward_smem<T>& sm, int buf, int block0,
                                               const float (&dq)[T::kOutTiles][4], int warp,
                                               int lane) {
#pragma unroll
  for (int n = 0; n < T::kOutTiles; ++n) {
    unsigned char* box = split_dq_box<T>(sm, buf, block0, n / 4);
    const int col = ((n % 4) * 8 + (lane % 4) * 2) * 2;  // in 16-bit elements
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int query = warp * 16 + lane / 4 + half * 8;
      *reinterpret_cast<float2*>(box + swizzled_offset_128b(query, col)) =
          make_float2(dq[n][2 * half], dq[n][2 * half + 1]);
    }
  }
}

//! One query step of consumer warpgroup `group` on buffer `buf` of the ring. True when it
//! staged a full step's dQ in its boxes (AtomicDq), for the writer warp to add.
template <class T, class Modifier, bool AtomicDq, class Element>
__device__ __forceinline__ bool split_step(const backward_params<Element>& p, const kv_tile& t,
                                           const backward_smem<T>& sm,
                                           const float (&rows)[2 * T::kQueries], int group,
                                           const step_place& at, int buf,
                                           float (&dv)[T::kOutTiles][4],
                                           float (&dk)[T::kOutTiles][4]) {
  constexpr wgmma_shape<Element, T::kHalfQueries> score_shape{};
  constexpr wgmma_shape<Element, T::kHalfChannels> out_shape{};
  if (!at.runs) return false;  // no query of the step sees a key of the CTA (both skip)
  const int warp = static_cast<int>(threadIdx.x / 32) % 4;
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int32_t query0 = at.query0;
  const int half0 = group * T::kHalfQueries;  // the warpgroup's first query in the step
  const unsigned char* sq = sm.q(buf);
  const unsigned char* sdo = sm.d_o(buf);
  unsigned char* sp = split_p(sm, buf);
  unsigned char* sds = split_ds(sm, buf);

  // S^T and dP^T of the warpgroup's queries: two wgmma groups, K-major operands (Q and dO
  // from the warpgroup's first row: 32 rows, whole 8-row swizzle periods, further).
  float s[T::kScoreTiles][4];
  float dp[T::kScoreTiles][4];
  {
    // acc = A B^T over the head dim: A = K or V [key][channel], B = the warpgroup's Q or dO
    // rows; one wgmma group.
    const auto issue_scores = [&](float(&acc)[T::kScoreTiles][4], const unsigned char* a,
                                  const unsigned char* b) {
      const uint64_t a_desc = descriptor_128b(a);
      const uint64_t b_desc = descriptor_128b(b + half0 * 128);
#pragma unroll
      for (int kk = 0; kk < T::kKSteps; ++kk) {
        const int offset = (kk % 4) * 32;
        mma_ss(score_shape, acc, advance(a_desc, (kk / 4) * T::key_tile::kBlockBytes + offset),
               advance(b_desc, (kk / 4) * T::query_tile::kBlockBytes + offset), kk > 0);
      }
      commit();
    };
    fence();
    issue_scores(s, sm.k(), sq);
    issue_scores(dp, sm.v(), sdo);
  }

  // P^T while dP^T is still in the tensor cores (with softcap both first: its 1 - x^2 needs
  // x, which P^T overwrites), as the two-warpgroup kernel's backward_step.
  if constexpr (Modifier::kSoftcap) {
    wait<0>();
    fence_registers(dp);
  } else {
    wait<1>();
  }
  fence_registers(s);
  Modifier::apply(s, p.softcap_scale);
  const float* s_lse = rows + half0;
  const float* s_delta = rows + T::kQueries + half0;
  uint32_t pa[T::kHalfQueries / 16][4];  // P^T, then dS^T: 16-bit A fragments, for the stores
  uint32_t da[T::kHalfQueries / 16][4];
  with_mask_test(at.partial, [&](auto masked) {
    // The mask test by bits (element_mask), but with softcap: there its exp2 stays under the
    // test, and the bits cost more than the 32 elements' tests they replace (SASS).
    uint32_t mask_bits[2];
    const auto visible =
        element_mask<!Modifier::kSoftcap, decltype(masked)::value, T::kScoreTiles>(
            t.mask, t.key0, query0 + half0, t.keys, warp, lane, mask_bits);
#pragma unroll
    for (int n = 0; n < T::kScoreTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = n * 8 + (lane % 4) * 2 + (e % 2);  // query in the warpgroup's half
        probability_term<Modifier>(s[n][e], dp[n][e], visible(n, e), s_lse[col], s_delta + col,
                                   p.exp2_scale);
      }
      if (n % 2 == 1) sm80::pack_a_fragment<Element>(pa[n / 2], s[n - 1], s[n]);
    }
  });
  // P and dS [query][key] into the step's tiles, rows [half0, + 32): matrix i of a k16 chunk
  // is keys 8 (i % 2) + [0, 8) x queries 8 (i / 2) + [0, 8) of the warp's (the A fragment's
  // register order); transposed, lane l addresses row l % 8 of matrix l / 8.
  const auto store_tile = [&](unsigned char* tile, const uint32_t(&a)[T::kHalfQueries / 16][4]) {
    const int matrix = lane / 8;
    const int key = warp * 16 + (matrix % 2) * 8;
    const uint32_t address = shared_address(tile);
#pragma unroll
    for (int kc = 0; kc < T::kHalfQueries / 16; ++kc) {
      const int query = half0 + kc * 16 + (matrix / 2) * 8 + lane % 8;
      stmatrix_x4_trans(address + swizzled_offset_128b(query, key), a[kc]);
    }
  };
  store_tile(sp, pa);  // while dP^T may still be in the tensor cores
  if constexpr (!Modifier::kSoftcap) {
    wait<0>();
    fence_registers(dp);
  }
  // dS^T from P rounded to 16 bits, as dV's P is.
#pragma unroll
  for (int n = 0; n < T::kScoreTiles; ++n) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int col = n * 8 + (lane % 4) * 2 + (e % 2);
      const float pv = sm80::mma_16816<Element>::unpack(pa[n / 2][(n % 2) * 2 + e / 2], e % 2);
      dp[n][e] = Modifier::kSoftcap ? pv * dp[n][e] : pv * (dp[n][e] - s_delta[col]);
    }
  }
#pragma unroll
  for (int kc = 0; kc < T::kHalfQueries / 16; ++kc) {
    sm80::pack_a_fragment<Element>(da[kc], dp[2 * kc], dp[2 * kc + 1]);
  }
  store_tile(sds, da);
  fence_proxy_async();                         // the stores, for the wgmmas below
  named_barrier_sync(1, T::kConsumerThreads);  // both halves of P and dS are in

  // The warpgroup's channels of K, Q and dO: its two 64-column blocks.
  const int block0 = group * (T::kHalfChannels / 64);
  float dq[AtomicDq ? T::kOutTiles : 1][4];
  if constexpr (AtomicDq) {
    // dQ = dS K: A = dS [query][key] K-major, B = K [key][channel] through the transpose.
    const uint64_t ds_desc = descriptor_128b(sds);
    const uint64_t k_desc = descriptor_128b_mn(sm.k() + block0 * T::key_tile::kBlockBytes,
                                               T::key_tile::kBlockBytes);
    fence();
#pragma unroll
    for (int kk = 0; kk < T::kKeyKSteps; ++kk) {
      mma_ss_bt(out_shape, dq, advance(ds_desc, kk * 32), advance(k_desc, kk * 16 * 128),
                kk > 0);
    }
    commit();
  }
  // acc += A^T B over the step's 64 queries: A = P or dS [query][key] (M = keys, through the
  // transpose), B = dO or Q [query][channel] (through the transpose).
  const auto issue_out = [&](float(&acc)[T::kOutTiles][4], const unsigned char* a,
                             const unsigned char* b) {
    const uint64_t a_desc = descriptor_128b_mn(a, T::kPdsBytes);
    const uint64_t b_desc = descriptor_128b_mn(b + block0 * T::query_tile::kBlockBytes,
                                               T::query_tile::kBlockBytes);
    fence();
#pragma unroll
    for (int kk = 0; kk < T::kStepKSteps; ++kk) {
      mma_ss_atbt(out_shape, acc, advance(a_desc, kk * 16 * 128), advance(b_desc, kk * 16 * 128),
                  true);
    }
    commit();
  };
  issue_out(dv, sp, sdo);
  issue_out(dk, sds, sq);
  if constexpr (AtomicDq) {
    const int32_t rows_left = t.seg.q_length - query0;
    const int64_t q_row = int64_t{t.seg.q_begin} + query0;
    if (rows_left >= T::kQueries) {
      wait<0>();  // dQ, dV and dK: the warpgroup's blocks of Q and dO are read (the other
                  // warpgroup reads only its own since barrier 1)
      fence_registers(dq);
      stage_split_dq<T>(sm, buf, block0, dq, warp, lane);
      fence_proxy_async();  // the stores, for the copy engine (the writer's reductions)
      fence_registers(dv);
      fence_registers(dk);
      return true;
    }
    wait<2>();  // dQ (dV and dK may still run)
    fence_registers(dq);
    // dq[n][e]: query warp 16 + lane / 4 (+ 8 for e >= 2), channel 128 group + 8 n + 2 (lane
    // % 4) (+ 1 for odd e): pairs of adjacent channels, one vector reduction each. Rows past
    // the segment (a partial last step) are not added.
    constexpr int kChannels = 2 * T::kHalfChannels;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int query = warp * 16 + lane / 4 + half * 8;
      if (query >= rows_left) continue;
      float* row = p.dq_acc + ((q_row + query) * p.heads_q + at.head) * int64_t{kChannels} +
                   group * T::kHalfChannels + (lane % 4) * 2;
#pragma unroll
      for (int n = 0; n < T::kOutTiles; ++n) {
        atomic_add_pair(row + n * 8, dq[n][2 * half], dq[n][2 * half + 1]);
      }
    }
  }
  wait<0>();  // dV and dK: the step's Q, dO, P and dS are read
  fence_registers(dv);
  fence_registers(dk);
  return false;
}

//! The atomic path's hand-off of a step's staged dQ from the consumers to the writer warp
//! (the producer's warp 1: FlashAttention-4's dQ writer). Both consumer warpgroups arrive on
//! staged[b] once done with ring buffer b's item (its last wait; a full step's boxes staged and
//! fenced), thread 0 first writing slot[b]: the step's first q row, or -1 when nothing was
//! staged (a partial step's dQ went from registers), and its q head. The writer adds both
//! warpgroups' boxes, waits until the copy engine has read them and arrives on the ring's
//! empty[b] for all 256 consumer threads: no consumer waits for a read, and the buffer goes
//! back to the producer as soon as it is read.
struct dq_handoff {
  uint64_t staged[2];
  int2 slot[2];
};

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

//! CTA per (k tile of 64 keys, kv head); grid and work as the two-warpgroup kernel's.
template <class Element, int HeadDim, class Modifier, bool AtomicDq>
__global__ void __launch_bounds__(hopper_split_backward_traits<Element, HeadDim>::kThreads, 1)
    dkdv_split_kernel(const __grid_constant__ backward_params<Element> p,
                      const __grid_constant__ backward_work work) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = hopper_split_backward_traits<Element, HeadDim>;
  __shared__ float rows[2][2 * T::kQueries];  // a step's lse, then D, two buffers
  __shared__ step_barriers bar;
  __shared__ dq_handoff hand;
  static_assert(sizeof(rows) + sizeof(bar) + sizeof(hand) <= T::kStaticSmemBytes,
                "traits' static budget");
  static_assert(sizeof(bar.full) / sizeof(bar.full[0]) == T::kRing,
                "a P/dS buffer for each buffer of the ring (split_traits.cuh)");
  static_assert(!AtomicDq || (T::kProducerCopyThreads % 32 == 0 &&
                              T::kProducerCopyThreads < T::kProducerThreads),
                "the dQ writer is the producer's first warp past its copy threads: without it "
                "no thread arrives on empty (a hang)");
  if (AtomicDq && threadIdx.x == 0) {  // fenced with the ring's barriers (run_roles)
    mbarrier_init(&hand.staged[0], T::kConsumerThreads);
    mbarrier_init(&hand.staged[1], T::kConsumerThreads);
  }
  // The writer: one thread of the producer's first spare warp.
  const auto write_dq = [&](const backward_smem<T>& sm, int warp, int lane, int32_t items) {
    if constexpr (AtomicDq) {
      if (warp != T::kProducerCopyThreads / 32 || lane != 0) return;
      if (items > 0) prefetch_tensor_map(&p.dq_map);
      for (int32_t item = 0; item < items; ++item) {
        const int buf = item % 2;
        mbarrier_wait(&hand.staged[buf], (item / 2) & 1);
        const int2 slot = hand.slot[buf];
        if (slot.x >= 0) {
#pragma unroll
          for (int box = 0; box < 8; ++box) {  // 4 a warpgroup, its channel half
            bulk_reduce_add_rows(&p.dq_map, split_dq_box<T>(sm, buf, 2 * (box / 4), box % 4),
                                 box * 32, slot.y, slot.x, T::kQueries, p.rows_q);
          }
          bulk_commit();
          bulk_wait_read<0>();
        }
        mbarrier_arrive(&bar.empty[buf], T::kConsumerThreads);
      }
      bulk_wait<0>();  // dQ's reductions done before the CTA exits
    }
  };
  run_roles<T>(
      p, work, rows, bar,
      [&](const kv_tile& t, const backward_smem<T>& sm, int group, int warp, int lane,
          int64_t k_row, int32_t items) {
        float dv[T::kOutTiles][4] = {};
        float dk[T::kOutTiles][4] = {};
        const step_order order = order_of<T, T::kQueries>(t, p.split_heads);  // produce_steps'
        int32_t step, head;
        order.first(step, head);
        const full_queries full = full_steps<T>(t, 0);
        for (int32_t item = 0; item < items; ++item) {
          const int buf = item % 2;
          const step_place at = place_step<T>(t, step, head, 0, full);  // both: the CTA's keys
          mbarrier_wait(&bar.full[buf], (item / 2) & 1);  // the step's tiles (and K, V) are in
          const bool staged =
              split_step<T, Modifier, AtomicDq>(p, t, sm, rows[buf], group, at, buf, dv, dk);
          if constexpr (AtomicDq) {  // to the writer, which releases the buffer
            if (threadIdx.x == 0) {
              hand.slot[buf] = make_int2(staged ? t.seg.q_begin + at.query0 : -1, at.head);
            }
            mbarrier_arrive(&hand.staged[buf]);
          } else {
            mbarrier_arrive(&bar.empty[buf]);  // split_step's last wait: reads done
          }
          order.next(step, head);
        }

        // The warpgroup's channel half of the CTA's keys. Staged (no head splits), its tiles
        // cover the ring's dQ boxes: first the writer's release of the last buffer.
        const auto last_buffer_released = [&] {
          if (AtomicDq && items > 0) {
            mbarrier_wait(&bar.empty[(items - 1) % 2], ((items - 1) / 2) & 1);
          }
        };
        store_dkdv_cta<T, HeadDim, T::kHalfChannels>(p, t, sm, dk, dv, k_row, group, warp, lane,
                                                     last_buffer_released);
      },
      write_dq);
#else
  (void)p, (void)work;
#endif
}

//! The launch shape of the head-dim-256 kernel, as backward/launch.cuh reads it.
template <class Element, int HeadDim, class Modifier, bool AtomicDq>
struct split_backward_program : program_shape<hopper_split_backward_traits<Element, HeadDim>> {
  using traits = hopper_split_backward_traits<Element, HeadDim>;
  static constexpr auto kernel = dkdv_split_kernel<Element, HeadDim, Modifier, AtomicDq>;

  //! The tile loads' tensor maps and (atomic path) the dQ accumulator's.
  static void prepare(backward_params<Element>& p) {
    if (AtomicDq && p.rows_q > 0) {
      p.dq_map = dq_tensor_map(p.dq_acc, p.rows_q, p.heads_q, p.head_dim, traits::kQueries);
    }
    prepare_tile_maps(p, traits::kQueries, traits::kKeys);
  }
  static void require_compiled_in() { require_backward_body<kernel>(); }
};

}  // namespace varattn::detail::sm90
