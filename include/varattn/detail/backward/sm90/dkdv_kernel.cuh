// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file dkdv_kernel.cuh
//! dK and dV on Hopper tensor cores (sm_90a wgmma): the sm80 dK/dV kernel's algorithm
//! (backward/dkdv_kernel.cuh) with a CTA of two consumer warpgroups, 64 keys each (the wgmma's
//! 64 rows are keys), and a producer warpgroup. The producer copies K and V once into 128-byte
//! swizzled shared memory, then per query step of kQueries queries (80 at head dim 128, 128 at
//! 64, else 64; every q head of the CTA's share of the group, every step that sees its keys) Q,
//! dO, lse and D into a two-buffer ring (mbarriers full/empty; the tiles by the copy engine
//! from one thread, lse and D by cp.async), while each consumer computes on its step's:
//!   S^T = K Q^T, dP^T = V dO^T       wgmma, both operands K-major in shared memory;
//!   P^T = exp2(S^T scale - lse), dS^T = P^T (dP^T - D) (x softcap's 1 - tanh^2), in registers
//!                                    (the accumulator is the mma.sync C layout: row = key);
//!   dV += P^T dO, dK += dS^T Q       wgmma, A = P^T / dS^T packed to 16 bits in registers,
//!                                    B = dO / Q through the transpose bit;
//!   dQ^T += K^T dS^T (AtomicDq)      both warpgroups' dS [query][key] to shared memory
//!                                    (stmatrix .trans; two buffers, one at head dims
//!                                    32-56), one barrier of the consumers, then
//!                                    warpgroup c: channels [64 c, + 64) (the
//!                                    wgmma's 64 rows, so any queries a step; at head dim 64,
//!                                    one chunk: the 64 channels of queries [64 c, + 64)) over
//!                                    all 128 keys (K through the transpose bit, dS K-major),
//!                                    staged as float32 in swizzled kQueries-row x 32-channel
//!                                    boxes; then warpgroup 1's first thread hands each box to
//!                                    the copy engine, one tensor reduction
//!                                    (sm90/bulk_reduce.cuh) into the float32 accumulator (a
//!                                    segment's partial last step too: the map clips its
//!                                    rows past the segment).
//! The softmax's exp2 of P^T runs while dP^T is still in the tensor cores (without softcap; at
//! 128 queries its second half beside dS^T: kDsInMaskPaths); dV's wgmma while dS^T is
//! computed (at 64 queries: kEarlyDv); the dQ stores while dK's wgmma runs. The consumers
//! meet at the dS barrier, and the reducer waits (the other arrives) at
//! the staging barrier (at head dims 32-56, own keys and one dS buffer: neither), and no consumer
//! issues a cp.async: a warp that issues tensor reductions must not (its cp.async waits would
//! also wait for the reductions to land: one scoreboard in the SASS; bench/NOTES.md, seventh
//! session). At head dim 64 (128 queries a step) a segment's last step with at most 32 rows in
//! it runs at 32 queries, after the CTA's other steps (kTailQueries, step_order): in vit's
//! 1,025-row segments 8 of a (segment, head)'s 81 CTA-steps were full steps for one row.

#include <varattn/detail/backward/dkdv_kernel.cuh>
#include <varattn/detail/backward/fragments.cuh>
#include <varattn/detail/backward/params.cuh>
#include <varattn/detail/backward/sm90/traits.cuh>
#include <varattn/detail/backward/step_order.hpp>
#include <varattn/detail/backward/work_list.cuh>
#include <varattn/detail/kernel/online_softmax.cuh>
#include <varattn/detail/mask.hpp>
#include <varattn/detail/sm80/cp_async.cuh>
#include <varattn/detail/sm80/mma.cuh>
#include <varattn/detail/sm90/bulk_reduce.cuh>
#include <varattn/detail/sm90/compiled_in.hpp>
#include <varattn/detail/sm90/mbarrier.cuh>
#include <varattn/detail/sm90/stmatrix.cuh>
#include <varattn/detail/sm90/swizzled_tile.cuh>
#include <varattn/detail/sm90/tensor_map.hpp>
#include <varattn/detail/sm90/tma_load.cuh>
#include <varattn/detail/sm90/wgmma.cuh>
#include <varattn/error.hpp>

#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace varattn::detail::sm90 {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

//! The kernel's shared memory: K and V of the CTA's keys, two buffers of (Q, dO), each
//! warpgroup's dS (kDsBuffers of them), the dQ boxes; all on the swizzle's 1024-byte period.
template <class T>
struct backward_smem {
  unsigned char* base;
  //! Each tile's offset from `base` in 16-byte units (a descriptor's start-address unit): the
  //! pointers below and the descriptors (descriptor()) take them.
  static constexpr int kKeyUnits = T::key_tile::kBytes / 16;
  static constexpr int kQueryUnits = T::query_tile::kBytes / 16;
  __device__ __forceinline__ static int k16() { return 0; }
  __device__ __forceinline__ static int v16() { return kKeyUnits; }
  __device__ __forceinline__ static int q16(int buf) {
    return 2 * kKeyUnits + buf * 2 * kQueryUnits;
  }
  __device__ __forceinline__ static int d_o16(int buf) { return q16(buf) + kQueryUnits; }
  __device__ __forceinline__ static int ds16(int buf, int group) {
    return q16(2) + (buf * T::kWarpgroups + group) * (T::kDsBytes / 16);
  }
  __device__ __forceinline__ static int dq_box16(int box) {
    return ds16(T::kDsBuffers, 0) + box * (T::kDqBoxBytes / 16);
  }
  __device__ __forceinline__ unsigned char* k() const { return base; }
  __device__ __forceinline__ unsigned char* v() const { return base + 16 * v16(); }
  __device__ __forceinline__ unsigned char* q(int buf) const { return base + 16 * q16(buf); }
  __device__ __forceinline__ unsigned char* d_o(int buf) const {
    return base + 16 * d_o16(buf);
  }
  //! Warpgroup `group`'s dS in buffer `buf`: the 64-key blocks of the step's [query][128 keys]
  //! tile follow one another (the dQ products read both as one 128-key operand).
  __device__ __forceinline__ unsigned char* ds(int buf, int group) const {
    return base + 16 * ds16(buf, group);
  }
  __device__ __forceinline__ unsigned char* dq_box(int box) const {
    return base + 16 * dq_box16(box);
  }
  //! The shared address of `base` (1024-byte aligned) >> 4, descriptor()'s `base4`.
  __device__ __forceinline__ uint32_t address4() const { return shared_address(base) >> 4; }
  //! descriptor_128b (a leading offset of 16 bytes) or descriptor_128b_mn (`leading_bytes`)
  //! of the tile `units` 16-byte units past `base`, from base4 by adds of constants
  //! (descriptor_at), without descriptor()'s conversion, mask, shift and or, which ptxas redid
  //! for each product of each step (~8 uniform instructions a descriptor, SASS).
  __device__ __forceinline__ static uint64_t descriptor(uint32_t base4, int units,
                                                        uint32_t leading_bytes = 16) {
    return descriptor_at(base4 + static_cast<uint32_t>(units), leading_bytes, 1024);
  }
};

//! Whether kernel T places a tile's steps from its first visible query (kv_tile::place): where
//! the step does not divide the tile (head dim 128: 80 rows, 128 keys); elsewhere the fixed
//! grid, whose steps are the same for equal-length causal tiles. order_of's band period
//! follows the same placement.
template <class T>
constexpr bool kStepsFromFirstQuery = T::kKeys % T::kQueries != 0;

//! The order of CTA `t`'s items (step_order.hpp): its main steps step-major, then, where its
//! last step is a tail step (at most TailQueries of its rows in the segment:
//! hopper_backward_traits::kTailQueries; only where TailQueries < T::kQueries, the
//! head-dim-64 kernel without softcap), that step of each head, run at TailQueries queries.
template <class T, int TailQueries>
__device__ __forceinline__ step_order order_of(const kv_tile& t, int32_t heads) {
  const bool tail = TailQueries < T::kQueries && t.step_end > t.step_first &&
                    t.seg.q_length - t.query0(t.step_end - 1, T::kQueries) <= TailQueries;
  return step_order::make(t.step_first, t.step_end, t.q_head0, heads, t.key0 / T::kKeys, tail,
                          t.query0(t.step_first, T::kQueries), T::kQueries,
                          band_period<kStepsFromFirstQuery<T>>(t.mask, T::kKeys, T::kQueries));
}

//! At 128 queries a step (head dim 64) the consumers' steps take what is the same in every
//! step from step_consts, found once a CTA: NVVM left that address math in the step loop
//! and ptxas re-derived it there every step (~30 instructions a warp-step, SASS). Other head
//! dims: as before (their SASS unchanged).
template <class T>
constexpr bool kHoistedStep = T::kQueries == 128;

//! A consumer thread's per-step constants (kHoistedStep): the ring barriers' shared address
//! and the byte offsets of its dQ staging stores from the first box (store_dq_chunk).
struct step_consts {
  uint32_t bar;           //!< shared_address of step_barriers (full[0]; empty[0] 16 bytes on)
  uint32_t dq_offset[4];  //!< element e of n8 tile 0 at query block 0 (dq_offsets)
};

//! The producer's copies of query step `item` (in step_order's order, the consumers') into
//! buffer `buf`: Q and dO by the copy engine from the producer's first thread, their bytes
//! announced on `full` (rows past the segment arrive as zeros); lse and D by cp.async from
//! the T::kProducerCopyThreads copy threads (zero there: those rows' Q = dO = 0 make their dV,
//! dK and dQ terms 0, whatever P they get).
template <class T, class Element>
__device__ __forceinline__ void load_step(const backward_params<Element>& p, const kv_tile& t,
                                          const backward_smem<T>& sm,
                                          float (&rows)[2][2 * T::kQueries], uint64_t* full,
                                          const step_order& order, int32_t item, int buf) {
  int32_t step, head;
  order.locate(item, step, head);
  const int32_t query0 = t.query0(step, T::kQueries);
  const int32_t valid = min(T::kQueries, t.seg.q_length - query0);
  const int32_t q_row = t.seg.q_begin + query0;
  const int thread = static_cast<int>(threadIdx.x) - T::kConsumerThreads;
  if (thread == 0) {
    mbarrier_expect_tx(full, 2 * T::query_tile::kBytes);
    T::query_tile::load_boxes(p.q_map, sm.q(buf), full, q_row, valid, head);
    T::query_tile::load_boxes(p.d_o_map, sm.d_o(buf), full, q_row, valid, head);
  }
  if constexpr (T::kProducerCopyThreads < T::kProducerThreads) {
    // One warp: rows lane + 32 j of both arrays, from their bases at the step's first row
    // (one 64-bit product each a step). A row past the segment reads nothing (zero-filled)
    // and takes row 0's address, which lies in it, not p.delta's (a 64-bit select a copy).
    static_assert(T::kQueries % T::kProducerCopyThreads == 0, "whole rows a lane");
    const float* const lse = p.lse + int64_t{head} * p.lse_head_stride + q_row;
    const float* const delta = p.delta + int64_t{head} * p.rows_q + q_row;
#pragma unroll
    for (int j = 0; j < T::kQueries / T::kProducerCopyThreads; ++j) {
      const int row = thread + j * T::kProducerCopyThreads;
      const bool ok = row < valid;
      const int at = ok ? row : 0;
      sm80::cp_async_4(&rows[buf][row], lse + at, ok);
      sm80::cp_async_4(&rows[buf][T::kQueries + row], delta + at, ok);
    }
  } else {
    // lse then D of each row: one or two values a thread (160 of them at 80 queries a step).
    for (int i = thread; i < 2 * T::kQueries; i += T::kProducerThreads) {
      const int row = i % T::kQueries;
      const bool ok = row < valid;
      const float* src = i < T::kQueries
                             ? p.lse + int64_t{head} * p.lse_head_stride + q_row + row
                             : p.delta + int64_t{head} * p.rows_q + q_row + row;
      sm80::cp_async_4(&rows[buf][i], ok ? src : p.delta, ok);
    }
  }
  sm80::cp_async_commit();
}

//! A row's lse in the exp2's base, as each step's P^T takes it: lse log2(e), and +inf for a row
//! that sees no key (lse -inf), so that its P = exp2(x - inf) = 0. The producer converts its
//! own copies once they land, off the consumers' path (else 3 instructions a column a step:
//! 60 a warp at head dim 128, FA4 keeps this in its preprocess).
__device__ __forceinline__ float log2_lse(float lse) {
  constexpr float kLog2e = 1.4426950408889634f;
  return lse == -INFINITY ? INFINITY : lse * kLog2e;
}

//! Whether a query of the step (rows [query0, query0 + kQueries)) sees a key of warpgroup
//! `group` (keys [key0 + 64 group, + 64) of the segment): the same on every thread of the CTA.
template <class T>
__device__ __forceinline__ bool group_sees(const kv_tile& t, int32_t query0, int group) {
  const int32_t group_key0 = t.key0 + group * 64;
  return group_key0 < t.seg.k_length && t.mask.end_key(query0, T::kQueries) > group_key0 &&
         t.mask.first_key(query0) < group_key0 + 64;
}

//! Issues dQ^T(channels [64 chunk, + 64) x queries [P half, + P)) = K^T dS^T, P = Queries /
//! kDqQueryHalves (`Queries`: the step's, T::kQueries or T::kTailQueries on a tail step), over
//! the keys of warpgroups [key_group0, + key_groups) (their 64-key blocks of dS follow one
//! another in shared memory, as their rows of K do) as one wgmma group: A = K [key][channel]
//! through the transpose bit (one 64-channel block: M), B = dS [query][key] K-major, as Q is
//! for S^T (the half's rows of each block: P rows, a whole number of the swizzle's 8-row
//! periods, further). store_dq_chunk takes the result once it is waited for.
template <class T, class Element, int Queries>
__device__ __forceinline__ void issue_dq_chunk(float (&dq)[Queries / T::kDqQueryHalves / 8][4],
                                               uint32_t base4, int ds_buf, int chunk,
                                               int half, int key_group0, int key_groups) {
  constexpr int kPartQueries = Queries / T::kDqQueryHalves;
  constexpr wgmma_shape<Element, kPartQueries> dq_shape{};
  using smem = backward_smem<T>;
  const uint64_t k_desc =
      smem::descriptor(base4, smem::k16() + chunk * (T::key_tile::kBlockBytes / 16),
                       T::key_tile::kBlockBytes);
  // The groups' blocks follow one another; the half's rows start as far into each.
  const uint64_t ds_desc =
      smem::descriptor(base4, smem::ds16(ds_buf, 0) + half * kPartQueries * (128 / 16));
  fence();  // the previous step's dq registers were read by the stage's stores
#pragma unroll
  for (int i = 0; i < 4 * T::kWarpgroups; ++i) {
    if (i >= 4 * key_groups) break;
    const int kk = 4 * key_group0 + i;  // the k16 step over the CTA's 128 keys
    mma_ss_at(dq_shape, dq, advance(k_desc, kk * 16 * 128),
              advance(ds_desc, (kk / 4) * T::kDsBytes + (kk % 4) * 32), i > 0);
  }
  commit();
}

//! A step's dQ^T chunk (its query half `half`) is staged as float32 [query][channel] in the
//! swizzled boxes for the tensor reductions (reduce_dq), transposed on the way (a register's
//! neighbour is the next query, a row apart there). A segment's partial last step is staged
//! whole: its rows past the segment are clipped by the reductions (dq_tensor_map). The
//! caller has waited for issue_dq_chunk's group.
template <class T, int Queries>
__device__ __forceinline__ void store_dq_chunk(const backward_smem<T>& sm,
                                               float (&dq)[Queries / T::kDqQueryHalves / 8][4],
                                               int chunk, int half, int box0,
                                               const step_consts& k) {
  constexpr int kPartQueries = Queries / T::kDqQueryHalves;
  if constexpr (kHoistedStep<T>) {
    // The bytes below, the thread's part from k.dq_offset (dq_offsets): the query block's
    // rows a uniform add, tile n's an immediate.
    static_assert(T::kDqChunks == 1, "chunk 0, both boxes");
    (void)chunk;
    fence_registers(dq);
    unsigned char* base = sm.dq_box(box0) + half * kPartQueries * 128;
#pragma unroll
    for (int n = 0; n < kPartQueries / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        *reinterpret_cast<float*>(base + k.dq_offset[e] + n * 8 * 128) = dq[n][e];
      }
    }
    fence_proxy_async();  // the stores, for the copy engine
    return;
  }
  const int warp = static_cast<int>(threadIdx.x / 32) % 4;
  const int lane = static_cast<int>(threadIdx.x % 32);
  fence_registers(dq);
  // dq[n][e]: channel 64 chunk + 16 warp + lane / 4 (+ 8 for e >= 2), query kPartQueries half +
  // 8 n + 2 (lane % 4) (+ 1 for odd e). A warp's 16 channels lie in one 32-channel box.
  const int channel = chunk * 64 + warp * 16 + lane / 4;
  const int query0 = half * kPartQueries;
  const int box = chunk * 2 + warp / 2;
  // Channels past the head dim's last box (nothing staged); none where the boxes cover
  // every chunk (head dims that are multiples of 64): no test there.
  if (T::kDqBoxes < 2 * T::kDqChunks && box >= T::kDqBoxes) return;
  // Channel c of query r: byte (c % 32) * 4 of the row's 128, its 16-byte unit XOR r % 8
  // (the 128-byte swizzle). One register of the warp: 8 channels (two units) of 4 queries
  // two rows apart (four distinct XORs): 32 distinct banks.
  unsigned char* base = sm.dq_box(box0 + box);
#pragma unroll
  for (int n = 0; n < kPartQueries / 8; ++n) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int query = query0 + n * 8 + (lane % 4) * 2 + e % 2;
      const int byte = ((channel + (e / 2) * 8) % 32) * 4;
      // query & 7, not % 8: query0 is a multiple of 8, so ptxas sees the same 8 row phases
      // for every half (with a signed % it kept ~9 per-half remainders live in the loop).
      const int offset = query * 128 + ((byte / 16) ^ (query & 7)) * 16 + byte % 16;
      *reinterpret_cast<float*>(base + offset) = dq[n][e];
    }
  }
  fence_proxy_async();  // the stores, for the copy engine
}

//! store_dq_chunk's offset of element e of a thread's tile 0 (kHoistedStep: chunk 0) from
//! box 0 at query block 0: its box warp / 2 and the swizzled byte of its channel and query
//! (query & 7 as there: query blocks and tiles start on multiples of 8).
template <class T>
__device__ __forceinline__ void dq_offsets(uint32_t (&offset)[4], int warp, int lane) {
  const int channel = warp * 16 + lane / 4;
  const int box = warp / 2;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const int query = (lane % 4) * 2 + e % 2;
    const int byte = ((channel + (e / 2) * 8) % 32) * 4;
    offset[e] = static_cast<uint32_t>(box * T::kDqBoxBytes + query * 128 +
                                      ((byte / 16) ^ (query & 7)) * 16 + byte % 16);
  }
}

//! A warpgroup's first thread hands a step's boxes (from box0 on) to the copy engine: one
//! tensor reduction a kQueries-row x 32-channel box into the float32 accumulator, of its
//! first `valid` rows (the step's rows in the segment). The boxes are free again once its
//! previous group was read (bulk_wait_read).
template <class T, class Element>
__device__ __forceinline__ void reduce_dq(const backward_params<Element>& p,
                                          const backward_smem<T>& sm, int box0, int32_t q_row,
                                          int32_t valid, int32_t head) {
  if (threadIdx.x % 128 != 0) return;
#pragma unroll
  for (int box = 0; box < T::kDqBoxes; ++box) {
    bulk_reduce_add_rows(&p.dq_map, sm.dq_box(box0 + box), box * 32, head, q_row, valid,
                         p.rows_q);
  }
  bulk_commit();
}

//! Where a consumer warpgroup's query step lies and which of its products run. The consumers
//! compute it before they wait for the step's tiles, from counters (no item / steps
//! division): after the wait, this chain of ~80 dependent uniform instructions stood between
//! the tiles' arrival and the step's first wgmma (SASS and ncu, fourteenth session).
struct step_place {
  int32_t query0;  //!< the step's first query in the segment
  int32_t head;    //!< its q head
  bool active;     //!< a query of the step sees a key of the warpgroup
  bool runs;       //!< a query sees a key of either warpgroup (else the CTA skips the step)
  bool partial;    //!< some query does not see every key of the warpgroup: the mask test
};

//! Steps with lo <= q0 <= hi: unmasked_keys(q0, kQueries) holds the warpgroup's 64 keys
//! (active, runs, no mask test). Once a CTA.
struct full_queries {
  int32_t lo, hi;
};
template <class T>
__device__ __forceinline__ full_queries full_steps(const kv_tile& t, int group) {
  const int64_t key0 = int64_t{t.key0} + group * 64;
  if (key0 + 64 > t.seg.k_length) return {INT32_MAX, INT32_MIN};
  return {segment_mask::clamp32(key0 + 63 - t.mask.max_offset),
          segment_mask::clamp32(key0 - (T::kQueries - 1) - t.mask.min_offset)};
}

//! `group`'s keys: [64 group, + 64) of the CTA where the warpgroups split the keys; where they
//! share them (the head-dim-256 kernel's 64 keys: group 0), the CTA's.
template <class T>
__device__ __forceinline__ step_place place_step(const kv_tile& t, int32_t step, int32_t head,
                                                 int group, full_queries full) {
  constexpr bool kKeysSplit = T::kKeys == 64 * T::kWarpgroups;
  static_assert(T::kWarpgroups == 2 && (kKeysSplit || T::kKeys == 64),
                "group_sees of both warpgroups, or of the one 64-key block");
  step_place at;
  at.query0 = t.query0(step, T::kQueries);
  at.head = head;
  if (at.query0 >= full.lo && at.query0 <= full.hi) {  // the common step: two compares
    at.active = at.runs = true;
    at.partial = false;
    return at;
  }
  at.active = group_sees<T>(t, at.query0, group);
  at.runs = at.active || (kKeysSplit && group_sees<T>(t, at.query0, group ^ 1));
  const int32_t group_key0 = t.key0 + group * 64;
  const segment_mask::key_range unmasked = t.mask.unmasked_keys(at.query0, T::kQueries);
  at.partial = group_key0 < unmasked.first || group_key0 + 64 > unmasked.end;
  return at;
}

//! One element of P^T (exp2 of the scaled score less its row's log2-sum-exp `lse2`, which the
//! producer wrote: log2_lse; 0 where masked) in place of its score, and with softcap dP^T's
//! factor: (dP - D) (1 - x^2) for the capped score x, 0 where masked. Both Hopper kernels'
//! steps take it. The factor first: with the exp2 first (bf0d32c), ptxas spilled in the
//! softcap kernels' unmasked step (backward_step's probabilities has the rest).
//! Without softcap the exp2 runs on every element and a select drops the hidden ones (their
//! inf or NaN too): under the test, ptxas predicated each element's lse load, exp2_scale
//! reload and exp2 apart (a masked step's P^T at head dim 128: 303 instructions a warp with
//! element_mask's bits, 239 this way). With softcap the exp2 stays under the test: the select
//! spilled there (head dim 128, atomic dQ: 44/40 bytes of spill stores/loads, against 28/32).
template <class Modifier>
__device__ __forceinline__ void probability_term(float& s, float& dp, bool visible, float lse2,
                                                 const float* delta, float exp2_scale) {
  const float x = s;
  if constexpr (Modifier::kSoftcap) {
    dp = visible ? (dp - *delta) * (1.f - x * x) : 0.f;
    s = visible ? fast_exp2(fmaf(x, exp2_scale, -lse2)) : 0.f;
  } else {
    const float pv = fast_exp2(fmaf(x, exp2_scale, -lse2));
    s = visible ? pv : 0.f;
  }
}

//! Whether a consumer thread's element [n][e] of S^T is visible, as `visible(n, e)`: the mma C
//! layout's key key0 + 16 warp + lane / 4 (+ 8 for e >= 2) and query query0 + 8 n + 2 (lane %
//! 4) + e % 2, where key0 and query0 are the warpgroup's first and its keys from `keys` on lie
//! past the segment. Without Masked (a full step) always. With Bits, from the columns of the
//! thread's Tiles n8 tiles that each of its two keys sees, as bits found once (segment_mask::
//! column_bits: ~50 instructions, 19 of them column_base_of's, uniform), so that an element
//! is an AND with an immediate; else visible() on each element (a subtract and three
//! compares: a masked step's P^T at head dim 128 was 357 instructions a warp, 239 with the
//! bits, against 110 for a full one).
//! `keys`: the CTA's count less the warpgroup's first key in the tile, not k_length - key0
//! (the same for the test): with that one, ptxas parked the CTA's first key in local memory
//! across the step loop of the head-dim-128 kernel (4/8 bytes of spill stores/loads).
//! `bits`: with Find, where the bits are written; without, the bits an earlier call found for
//! the same step (the head-dim-64 step's second masked path).
template <bool Bits, bool Masked, int Tiles, bool Find = true>
__device__ __forceinline__ auto element_mask(const segment_mask& mask, int32_t key0,
                                             int32_t query0, int32_t keys, int warp, int lane,
                                             uint32_t (&bits)[2]) {
  if constexpr (!Masked) {
    return [](int, int) { return true; };
  } else if constexpr (Bits) {
    if constexpr (Find) {
      const segment_mask::column_base seen = mask.column_base_of(key0, query0, Tiles, keys);
      const int g = warp * 16 + lane / 4;
      bits[0] = segment_mask::column_bits(seen, g, lane % 4);
      bits[1] = segment_mask::column_bits(seen, g + 8, lane % 4);
    }
    return [b0 = bits[0], b1 = bits[1]](int n, int e) {
      return ((e / 2 ? b1 : b0) & (1u << (2 * n + e % 2))) != 0;
    };
  } else {
    const int32_t key = key0 + warp * 16 + lane / 4;
    const int32_t query = query0 + (lane % 4) * 2;
    return [mask, key, query](int n, int e) {
      return mask.visible(query + n * 8 + e % 2, key + (e / 2) * 8);
    };
  }
}

//! One query step of one consumer warpgroup (`group`: keys [64 group, 64 group + 64) of the
//! CTA), on buffer `buf` of the ring, at `Queries` queries: T::kQueries, or T::kTailQueries
//! where the step's rows in the segment are no more (its first rows of the buffers; the
//! caller decides, the same for both warpgroups).
template <class T, class Modifier, bool AtomicDq, int Queries, class Element>
__device__ __forceinline__ void backward_step(const backward_params<Element>& p,
                                              const kv_tile& t, const backward_smem<T>& sm,
                                              const float (&rows)[2 * T::kQueries], int group,
                                              const step_place& at, int buf,
                                              float (&dv)[T::kOutTiles][4],
                                              float (&dk)[T::kOutTiles][4],
                                              const step_consts& k, int warp_of, int lane_of) {
  static_assert(Queries == T::kQueries || Queries == T::kTailQueries, "a step or a tail step");
  constexpr int kScoreTiles = Queries / 8;  // n8 tiles of S^T a warpgroup
  constexpr wgmma_shape<Element, Queries> score_shape{};
  constexpr wgmma_shape<Element, T::kOutTiles * 8> out_shape{};
  // kHoistedStep: the consumer's (run_roles'), not re-derived from threadIdx every step.
  const int warp = kHoistedStep<T> ? warp_of : static_cast<int>(threadIdx.x / 32) % 4;
  const int lane = kHoistedStep<T> ? lane_of : static_cast<int>(threadIdx.x % 32);
  const int32_t query0 = at.query0;
  const int32_t group_key0 = t.key0 + group * 64;  // the warpgroup's first key in the segment
  // No query of the step sees a key of the warpgroup (causal or window edges, keys past the
  // segment): no dK, dV terms; its dS is zero for the CTA's dQ. Neither: the CTA skips.
  const bool active = at.active;
  if (!at.runs) return;
  const int ds_buf = T::kDsBuffers == 1 ? 0 : buf;
  // The tiles in 16-byte units from sm.base (backward_smem::descriptor).
  using smem = backward_smem<T>;
  const uint32_t base4 = sm.address4();
  const int sk = smem::k16() + group * 64 * (128 / 16);  // the group's rows of each block
  const int sv = smem::v16() + group * 64 * (128 / 16);
  const int sq = smem::q16(buf);
  const int sdo = smem::d_o16(buf);

  uint32_t pa[Queries / 16][4];  // P^T, then dS^T: A fragments of dV, dK
  uint32_t da[Queries / 16][4];
  // A tail step's dV and dK terms go to accumulators of its own, the first k16 product
  // overwriting (scale-d 0: no zeroing instructions), added to dv and dk after the step's last
  // wait: with dv and dk the accumulators of wgmmas in two loops (the main steps' and the tail
  // steps'), ptxas serialized every wgmma of the kernel (warning C7515; the main step's 32
  // HGMMAs each waited, against 5 waits without the tail). One tail step a head in a CTA: its
  // 64 FADDs do not count.
  constexpr bool kTail = Queries < T::kQueries;
  float tail_dv[T::kOutTiles][4];
  float tail_dk[T::kOutTiles][4];
  float(&acc_dv)[T::kOutTiles][4] = kTail ? tail_dv : dv;
  float(&acc_dk)[T::kOutTiles][4] = kTail ? tail_dk : dk;
  // acc += A^T B over the step's queries as one wgmma group: dV (A = P^T, B = dO) and dK
  // (A = dS^T, B = Q), B through the transpose bit (a tail step's: acc = A^T B).
  const auto issue_out = [&](float(&acc)[T::kOutTiles][4], const uint32_t(&a)[Queries / 16][4],
                             int b) {
    const uint64_t b_desc = smem::descriptor(base4, b, T::query_tile::kBlockBytes);
    fence();
#pragma unroll
    for (int kc = 0; kc < Queries / 16; ++kc) {
      mma_rs(out_shape, acc, a[kc], advance(b_desc, kc * 16 * 128), !kTail || kc > 0);
    }
    commit();
  };
  // dV += P^T dO; dK += dS^T Q. With AtomicDq after the dQ products: the dQ stores then run
  // while dK computes.
  const auto issue_dv = [&] { issue_out(acc_dv, pa, sdo); };
  const auto issue_dk = [&] { issue_out(acc_dk, da, sq); };
  // The order by role where dV follows dS^T and the reducer adds dQ (80 queries: head dim
  // 128; 128 queries: head dim 64, dV after the mask paths' join): the reducer runs behind
  // (its reductions after the staging barrier), so its dS^T is the last before the dS
  // barrier, and a dV issued there ran ahead of both warpgroups' dQ in the tensor pipe (320
  // cycles at head dim 128, 256 at 64, on the path to the staging and the reductions). It
  // issues dV with dK after its dQ; the other warpgroup, which waits at the dS barrier,
  // issues dV and dK before it (neither reads the other's dS), so after the barrier only dQ
  // precedes the reducer's dV and dK, which run under the staging and the reductions.
  constexpr bool kByRole = AtomicDq && !T::kDqOwnKeys && !T::kEarlyDv;
  const bool behind = kByRole && group == T::kReducer;
  // Before the dS barrier: dV, and by role dK too, of every warpgroup but the one behind.
  const auto issue_leading = [&] {
    if (behind) return;
    issue_dv();
    if (kByRole) issue_dk();
  };
  if (active) {
    float s[kScoreTiles][4];
    float dp[kScoreTiles][4];
    const uint64_t k_desc = smem::descriptor(base4, sk), q_desc = smem::descriptor(base4, sq);
    const uint64_t v_desc = smem::descriptor(base4, sv), do_desc = smem::descriptor(base4, sdo);
    fence();
#pragma unroll
    for (int kk = 0; kk < T::kKSteps; ++kk) {
      const int offset = (kk % 4) * 32;  // bytes into the 64-column block
      mma_ss(score_shape, s, advance(k_desc, (kk / 4) * T::key_tile::kBlockBytes + offset),
             advance(q_desc, (kk / 4) * T::query_tile::kBlockBytes + offset), kk > 0);
    }
    commit();
#pragma unroll
    for (int kk = 0; kk < T::kKSteps; ++kk) {
      const int offset = (kk % 4) * 32;
      mma_ss(score_shape, dp, advance(v_desc, (kk / 4) * T::key_tile::kBlockBytes + offset),
             advance(do_desc, (kk / 4) * T::query_tile::kBlockBytes + offset), kk > 0);
    }
    commit();

    // P^T while dP^T is still in the tensor cores; with softcap both first (its 1 - x^2
    // needs x, which P^T overwrites: (dP^T - D)(1 - x^2) is folded into dp in the same pass).
    if constexpr (Modifier::kSoftcap) {
      wait<0>();
      fence_registers(dp);
    } else {
      wait<1>();
    }
    fence_registers(s);
    Modifier::apply(s, p.softcap_scale);
    const bool partial = at.partial;
    const float* s_lse = rows;
    const float* s_delta = rows + T::kQueries;
    // dS^T of n8 tile n, in place of dP^T. P in float32 from s while dV's wgmma reads pa
    // (kEarlyDv), and in the 128-query step without softcap, where s keeps it until dS^T (no
    // unpacking from pa: 64 instructions a thread-step; ptxas: no spill, top register R235);
    // else from pa, rounded to 16 bits as dV's P^T is (dS^T is rounded so for dK and dQ next).
    constexpr bool kFloatP = T::kEarlyDv || (T::kDsInMaskPaths && !Modifier::kSoftcap);
    const auto ds_tile = [&](int n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int col = n * 8 + (lane % 4) * 2 + (e % 2);
        const float pv =
            kFloatP ? s[n][e]
                    : sm80::mma_16816<Element>::unpack(pa[n / 2][(n % 2) * 2 + e / 2], e % 2);
        dp[n][e] = Modifier::kSoftcap ? pv * dp[n][e] : pv * (dp[n][e] - s_delta[col]);
      }
    };
    const auto pack_ds = [&](int kc) {
      sm80::pack_a_fragment<Element>(da[kc], dp[2 * kc], dp[2 * kc + 1]);
    };
    // dS [query][key] into the warpgroup's swizzled block, from the A fragments of dS^T
    // (a pair of adjacent queries a register): a0 (key g, query 2t), a1 (g + 8, 2t), a2 (g,
    // 2t + 8), a3 (g + 8, 2t + 8) of each k16 chunk, so matrix i of a chunk is keys
    // 8 (i % 2) + [0, 8) x queries 8 (i / 2) + [0, 8) of the warp's; transposed, its row j is
    // query 8 (i / 2) + j: lane l addresses row l % 8 of matrix l / 8. (AtomicDq: dQ's B.)
    const auto store_ds = [&](int kc) {
      if constexpr (AtomicDq) {
        const uint32_t s_ds = shared_address(sm.ds(ds_buf, group));
        const int matrix = lane / 8;
        const int key = warp * 16 + (matrix % 2) * 8;
        const int query = kc * 16 + (matrix / 2) * 8 + lane % 8;
        stmatrix_x4_trans(s_ds + swizzled_offset_128b(query, key), da[kc]);
      }
    };
    // P^T of n8 tiles [first, end) (and softcap's dp factor); the mask test only where the
    // warpgroup's keys are not all seen by every query of the step (causal and window edges,
    // the segment's end). With softcap from the last tile down: from the first, with the
    // lse the producer converts (log2_lse), ptxas spilled loop values around the unmasked
    // step's exp2 (d128 atomic kernel 72/76 bytes of spill stores/loads, d64 60/64; down,
    // with probability_term's factor first, 28/32 at both: the prologue's 4 bytes alone).
    // The mask test by bits (element_mask), found in the masked path (in place_step, before
    // the wait, ptxas spilled at head dim 128: 4/12 bytes); at 128 queries (kDsInMaskPaths)
    // in the first of its two masked paths, kept for the second. Not on a tail step: there
    // the bits cost more than the 16 elements' tests they replace (SASS, head dim 64).
    constexpr bool kMaskBits = !kTail;
    uint32_t mask_bits[2];  // found by probabilities' first masked call (`find`)
    const auto probabilities = [&](auto masked, auto first, auto end, auto find) {
      constexpr int kFirst = decltype(first)::value, kEnd = decltype(end)::value;
      constexpr bool kDown = Modifier::kSoftcap;
      static_assert(kFirst % 2 == 0 && kEnd % 2 == 0, "whole k16 chunks (the packing)");
      const auto visible =
          element_mask<kMaskBits, decltype(masked)::value, T::kQueries / 8, decltype(find)::value>(
              t.mask, group_key0, query0, t.keys - group * 64, warp, lane, mask_bits);
#pragma unroll
      for (int i = kFirst; i < kEnd; ++i) {
        const int n = kDown ? kFirst + kEnd - 1 - i : i;
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int col = n * 8 + (lane % 4) * 2 + (e % 2);  // query in the step
          probability_term<Modifier>(s[n][e], dp[n][e], visible(n, e), s_lse[col], s_delta + col,
                                     p.exp2_scale);
        }
        // P^T packed as soon as a k16 chunk is done (in each branch): without kFloatP, dS^T
        // below takes P from these 16-bit pairs, and the float32 P^T dies here (registers).
        if (n % 2 == (kDown ? 0 : 1)) {
          sm80::pack_a_fragment<Element>(pa[n / 2], s[n & ~1], s[n | 1]);
        }
      }
    };
    using tile0 = std::integral_constant<int, 0>;
    using tile_half = std::integral_constant<int, kScoreTiles / 2>;
    using tile_end = std::integral_constant<int, kScoreTiles>;
    if constexpr (T::kDsInMaskPaths && !Modifier::kSoftcap) {
      // The exp2's first half alone (dP^T's time), the dP^T wait, then its second half in one
      // basic block with dS^T, its packing and stmatrix, which ptxas interleaves: the exp2 is
      // XU-bound, dS^T issue-bound (FA4's shape, fa4_d64_backward_sass_s32.md 3.1). With the
      // wait in that block too, ptxas hoisted it above the unmasked path's exp2 (after 1 of 64
      // MUFU): the warps then idled through dP^T.
      static_assert(kScoreTiles % 4 == 0, "halves of whole k16 chunks");
      with_mask_test(partial, [&](auto masked) {
        probabilities(masked, tile0{}, tile_half{}, std::true_type{});
      });
      wait<0>();  // dP^T
      fence_registers(dp);
      with_mask_test(partial, [&](auto masked) {
        probabilities(masked, tile_half{}, tile_end{}, std::false_type{});
#pragma unroll
        for (int kc = 0; kc < Queries / 16; ++kc) {
          ds_tile(2 * kc);
          ds_tile(2 * kc + 1);
          pack_ds(kc);
          store_ds(kc);
        }
      });
      issue_leading();  // after the join: dS^T reads pa (FA4's place too)
    } else {
      with_mask_test(partial, [&](auto masked) {
        probabilities(masked, tile0{}, tile_end{}, std::true_type{});
      });
      // With kEarlyDv, dV += P^T dO goes to the tensor cores as soon as P^T is packed: dS^T,
      // its packing and its shared-memory copy below run while it computes. (The copy
      // precedes dK's wgmma: the A registers of a wgmma in flight may not even be read, PTX
      // ISA.)
      if constexpr (T::kEarlyDv) issue_dv();
      if constexpr (!Modifier::kSoftcap) {
        wait<T::kEarlyDv ? 1 : 0>();  // dP^T (with kEarlyDv, dV may still run)
        fence_registers(dp);
      }
#pragma unroll
      for (int n = 0; n < kScoreTiles; ++n) ds_tile(n);
#pragma unroll
      for (int kc = 0; kc < Queries / 16; ++kc) pack_ds(kc);
      // dS's stmatrix before dV's wgmma (FA4's order): issued after dV's HGMMAs, the stores
      // were still in flight at the fence before the dS barrier (~130 cycles a step of
      // long-scoreboard samples there, on the late warpgroup's path to the barrier), and dV's
      // tensor work ran ~1,200 cycles before dQ's with the pipe idle between
      // (dkdv_schedule_vs_fa4_s35.md); now it runs up to the barrier.
#pragma unroll
      for (int kc = 0; kc < Queries / 16; ++kc) store_ds(kc);
      if constexpr (!T::kEarlyDv) issue_leading();
    }
    if constexpr (!AtomicDq) issue_dk();
  } else if constexpr (AtomicDq && !T::kDqOwnKeys) {
    // No keys of this warpgroup seen: its dS block is zero in the CTA's dQ sum (the step's
    // first Queries rows: all the dQ products read).
    const int i = static_cast<int>(threadIdx.x % 128);
#pragma unroll
    for (int part = 0; part < Queries * 128 / (128 * 16); ++part) {
      *reinterpret_cast<uint4*>(sm.ds(ds_buf, group) + part * 128 * 16 + i * 16) =
          make_uint4(0, 0, 0, 0);
    }
  }

  if constexpr (AtomicDq) {
    const int32_t head = at.head;
    const int32_t q_row = t.seg.q_begin + query0;  // rows_q < 2^31 (dq_tensor_map)
    // The step's rows in the segment (at most Queries on a tail step: the caller's test).
    const int32_t valid = min(Queries, t.seg.q_length - query0);
    fence_proxy_async();  // the dS stores, for the dQ wgmma
    if constexpr (T::kDqOwnKeys) {
      // The warpgroup alone (named barrier 4 or 5, its 128 threads; a constant id each, so that
      // ptxas counts 2 barriers, not 16); none if it saw no key.
      const auto warpgroup_sync = [group] {
        if (group == 0) {
          named_barrier_sync(4, 128);
        } else {
          named_barrier_sync(5, 128);
        }
      };
      if (active) {
        const int box0 = group * T::kDqBoxes;
        if (threadIdx.x % 128 == 0) bulk_wait_read<0>();  // its previous boxes were read
        warpgroup_sync();                                  // its dS is in; its boxes free
        float dq[Queries / T::kDqQueryHalves / 8][4];
        issue_dq_chunk<T, Element, Queries>(dq, base4, ds_buf, 0, 0, group, 1);
        issue_dk();
        wait<1>();  // dV and dQ (dK may still run)
        store_dq_chunk<T, Queries>(sm, dq, 0, 0, box0, k);
        warpgroup_sync();                                  // its boxes are staged
        reduce_dq<T>(p, sm, box0, q_row, valid, head);
      }
    } else {
      if (group == T::kReducer) bulk_wait_read<0>();  // the previous step's boxes were read
      named_barrier_sync(1, T::kConsumerThreads);  // both dS blocks are in; boxes free
      // Warpgroup `group`'s part of dQ: a 64-channel chunk of the step's queries, or at head dim
      // 64 (one chunk) a half of its queries; either way disjoint box bytes, over all keys.
      constexpr bool kHalves = T::kDqQueryHalves > 1;
      static_assert(T::kDqChunks * T::kDqQueryHalves == T::kWarpgroups, "a part a warpgroup");
      const int chunk = kHalves ? 0 : group;
      const int half = kHalves ? group : 0;
      float dq[Queries / T::kDqQueryHalves / 8][4];
      issue_dq_chunk<T, Element, Queries>(dq, base4, ds_buf, chunk, half, 0, T::kWarpgroups);
      if (behind && active) {
        issue_dv();
        issue_dk();
        wait<2>();  // dQ (dV and dK may still run)
      } else if (!kByRole && active) {
        issue_dk();
        wait<1>();  // dV and dQ (dK may still run)
      } else {
        wait<0>();  // dQ; by role also the leading warpgroup's dV and dK (before the barrier)
      }
      store_dq_chunk<T, Queries>(sm, dq, chunk, half, 0, k);
      if (group == T::kReducer) {
        named_barrier_sync(1 + T::kWarpgroups, T::kConsumerThreads);  // every chunk is staged
        reduce_dq<T>(p, sm, 0, q_row, valid, head);
      } else {
        named_barrier_arrive(1 + T::kWarpgroups, T::kConsumerThreads);
      }
    }
  }
  wait<0>();  // on every path: ptxas then sees no wgmma in flight at the loop's back edge
  if (active) {
    if constexpr (kTail) {
      fence_registers(tail_dv);
      fence_registers(tail_dk);
#pragma unroll
      for (int i = 0; i < T::kOutTiles; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) dv[i][j] += tail_dv[i][j], dk[i][j] += tail_dk[i][j];
      }
    }
    fence_registers(dv);
    fence_registers(dk);
    fence_registers(pa);
    fence_registers(da);
  }
}

//! The ring's handshake: full[b] once the producer's copies of a step into buffer b have
//! landed (its copy threads arrive once their lse and D copies have, and the copy engine
//! completes the tiles' announced bytes), empty[b] once both consumer warpgroups are done
//! with the step that used it: their 256 threads arrive, or (dkdv_split_kernel.cuh, atomic
//! dQ) the dQ writer arrives for all 256 once they have handed it the step (dq_handoff) and
//! the copy engine has read the step's dQ boxes.
struct step_barriers {
  uint64_t full[2];
  uint64_t empty[2];
};

//! The producer's copy threads: K and V once with step 0's tiles, then each step's Q, dO, lse
//! and D into buffer item % 2 once the consumers have released it. A step is signalled as
//! soon as its lse and D have landed, before the producer waits to refill the other buffer, so
//! the signal never waits on the consumers.
template <class T, int TailQueries, class Element>
__device__ __forceinline__ void produce_steps(const backward_params<Element>& p,
                                              const kv_tile& t, const backward_smem<T>& sm,
                                              float (&rows)[2][2 * T::kQueries],
                                              step_barriers& bar,
                                              int32_t k_row, int32_t items) {
  if (items == 0) return;  // no step: dK and dV are zeros, K and V unread
  if (threadIdx.x == T::kConsumerThreads) {
    // Here, not at the kernel's top: computed there, it moved the CTA's first key into a
    // uniform register for the whole kernel and added ~24 instructions to each step (SASS).
    const int32_t kv_head = t.kv_head(p.head_splits);
    prefetch_tensor_map(&p.q_map.map);
    prefetch_tensor_map(&p.d_o_map.map);
    mbarrier_expect_tx(&bar.full[0], 2 * T::key_tile::kBytes);
    T::key_tile::load_boxes(p.k_map, sm.k(), &bar.full[0], k_row, t.keys, kv_head);
    T::key_tile::load_boxes(p.v_map, sm.v(), &bar.full[0], k_row, t.keys, kv_head);
  }
  const step_order order = order_of<T, TailQueries>(t, p.split_heads);  // the consumers' order
  load_step<T>(p, t, sm, rows, &bar.full[0], order, 0, 0);
  for (int32_t item = 1; item <= items; ++item) {
    sm80::cp_async_wait<0>();
    // This thread's lse copies of the step (load_step's rows) into the exp2's base; the arrive
    // releases them to the consumers with the copies.
    const unsigned i = threadIdx.x - T::kConsumerThreads;
    if constexpr (T::kProducerCopyThreads < T::kProducerThreads) {
#pragma unroll
      for (int j = 0; j < T::kQueries / T::kProducerCopyThreads; ++j) {
        float& lse = rows[(item - 1) % 2][i + j * T::kProducerCopyThreads];
        lse = log2_lse(lse);
      }
    } else {
      static_assert(T::kQueries <= T::kProducerThreads, "one lse a producer thread");
      if (i < T::kQueries) rows[(item - 1) % 2][i] = log2_lse(rows[(item - 1) % 2][i]);
    }
    mbarrier_arrive(&bar.full[(item - 1) % 2]);
    if (item == items) break;
    const int buf = item % 2;
    if (item >= 2) mbarrier_wait_parked(&bar.empty[buf], ((item - 2) / 2) & 1);
    load_step<T>(p, t, sm, rows, &bar.full[buf], order, item, buf);
  }
}

//! A role or hook that does nothing: run_roles' default spare role, store_dkdv_cta's default
//! hook.
struct no_op {
  template <class... Args>
  __device__ void operator()(const Args&...) const {}
};

//! What both Hopper dK/dV kernels (this file's and dkdv_split_kernel.cuh's) do before their
//! roles part: the CTA's first k tile and heads (none: return), its shared memory on the
//! swizzle's 1024-byte period, the ring's barriers; then the producer warpgroup runs every
//! step (produce_steps) and the consumer warpgroups, their registers raised, run
//! `consume(t, sm, group, warp, lane, k_row, items)`; the producer's warps past its copy
//! threads run `spare(sm, warp, lane, items)` (the split kernel's dQ writer) or leave. `rows`
//! and `bar` are the kernel's static shared memory (its size is what require_compiled_in reads).
template <class T, int TailQueries = T::kQueries, class Element, class Consume,
          class Spare = no_op>
__device__ __forceinline__ void run_roles(const backward_params<Element>& p,
                                          const backward_work& work,
                                          float (&rows)[2][2 * T::kQueries], step_barriers& bar,
                                          const Consume& consume, const Spare& spare = {}) {
  kv_tile t;
  int k_tile, unit;
  if (!work.initial(t.seg, k_tile, unit)) return;
  t.assign_heads(unit, p.split_heads);
  extern __shared__ uint4 smem[];
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const backward_smem<T> sm{reinterpret_cast<unsigned char*>(smem) + ((1024 - base % 1024) % 1024)};
  // Broadcast from lane 0: ptxas then knows the warpgroup is warp-uniform.
  const int group = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x / 128), 0);
  const int warp = static_cast<int>(threadIdx.x / 32) % 4;
  const int lane = static_cast<int>(threadIdx.x % 32);

  t.mask = segment_mask::make(p.mask, t.seg.q_length, t.seg.k_length);
  t.place<kStepsFromFirstQuery<T>>(k_tile, T::kKeys, T::kQueries);

  const int64_t k_row = int64_t{t.seg.k_begin} + t.key0;
  const int32_t items = t.items(p.split_heads);
  if (threadIdx.x == 0) {
    for (int i = 0; i < 2; ++i) {
      mbarrier_init(&bar.full[i], T::kProducerCopyThreads);
      mbarrier_init(&bar.empty[i], T::kConsumerThreads);
    }
    mbarrier_init_fence();
  }
  __syncthreads();  // the last CTA-wide barrier: the roles part here

  if (group == T::kWarpgroups) {
    set_max_registers<false, T::kProducerRegisters>();  // all four warps (.aligned)
    // Warps past the copy threads: the spare role, if any, else they leave (no CTA barrier
    // follows).
    if (warp * 32 >= T::kProducerCopyThreads) {
      spare(sm, warp, lane, items);
      return;
    }
    produce_steps<T, TailQueries>(p, t, sm, rows, bar, static_cast<int32_t>(k_row), items);
    return;
  }
  set_max_registers<true, T::kConsumerRegisters>();
  consume(t, sm, group, warp, lane, k_row, items);
}

//! The keys and channels of dK and dV a consumer warp holds: 16 keys from `key` (in the CTA's
//! tile) and `Channels` channels from `channel0`. The two-warpgroup kernels split keys (a
//! warpgroup's 64 keys, all HeadDim channels); the head-dim-256 kernel splits channels.
template <int HeadDim, int Channels>
struct warp_slice {
  static constexpr bool kSplitKeys = Channels == HeadDim;
  int key, channel0;
  __device__ __forceinline__ warp_slice(int group, int warp)
      : key((kSplitKeys ? group * 64 : 0) + warp * 16),
        channel0(kSplitKeys ? 0 : group * Channels) {}
};

//! The CTA's dK (times scale) and dV without head splits, through shared memory: from the
//! fragments (a thread's register pairs are two channels of one key, so straight to global
//! memory they are 4-byte stores a row apart: the store queue held the CTA's end ~1,400 cycles
//! longer than FA4's at d64, NOTES thirty-second) into a [key][channel] tile of each, then
//! 16-byte vectors of whole rows to d_k and d_v, rows from t.keys on (past the segment) left
//! out. A warp holds `Channels` channels of 16 keys: all HeadDim of its warpgroup's 64 keys,
//! or (head dim 256, dkdv_split_kernel.cuh, where the warpgroups split channels, not keys) its
//! warpgroup's channels of all 64 keys, whose two tiles are then the warpgroup's own. The tiles
//! take K's, V's and the Q/dO ring's space, which no product reads once every consumer has
//! passed the barrier below; tensor reductions still reading dQ boxes there (the split
//! kernel's) must be waited for before it. A row's pitch is an odd number of 16-byte units, so
//! a fragment store's 8 rows of 4 words fall on 32 banks. Each warp reads back only the 16
//! rows it wrote.
template <class T, int HeadDim, int Channels = HeadDim, class Element>
__device__ __forceinline__ void store_dkdv_staged(const backward_params<Element>& p,
                                                  const kv_tile& t, const backward_smem<T>& sm,
                                                  const float (&dk)[T::kOutTiles][4],
                                                  const float (&dv)[T::kOutTiles][4],
                                                  int64_t k_row, int group, int warp, int lane) {
  using mma = sm80::mma_16816<Element>;
  static_assert(T::kOutTiles * 8 == Channels && HeadDim % Channels == 0,
                "a warp's fragments are its channels");
  constexpr int kUnits = Channels / 8;                      // 16-byte units of a row
  constexpr int kPitch = (kUnits % 2 == 0 ? kUnits + 1 : kUnits) * 16;  // bytes
  constexpr int kTileBytes = T::kKeys * kPitch;
  static_assert(2 * (HeadDim / Channels) * kTileBytes <=
                    2 * T::key_tile::kBytes + 4 * T::query_tile::kBytes,
                "dK and dV fit K, V and the Q/dO ring");
  named_barrier_sync(1, T::kConsumerThreads);  // every product (K, V, Q, dO reads) retired
  const warp_slice<HeadDim, Channels> at(group, warp);
  const int warp_key = at.key, channel0 = at.channel0;
  unsigned char* const tile0 = sm.k() + (at.kSplitKeys ? 0 : group * 2 * kTileBytes);
  unsigned char* const tiles[2] = {tile0, tile0 + kTileBytes};
  const float (*const accs[2])[4] = {dk, dv};
#pragma unroll
  for (int which = 0; which < 2; ++which) {
    const float factor = which == 0 ? p.scale : 1.f;
#pragma unroll
    for (int n = 0; n < T::kOutTiles; ++n) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int key = warp_key + lane / 4 + half * 8;
        *reinterpret_cast<uint32_t*>(tiles[which] + key * kPitch + n * 16 + (lane % 4) * 4) =
            mma::pack(accs[which][n][2 * half] * factor, accs[which][n][2 * half + 1] * factor);
      }
    }
  }
  __syncwarp();
  const int rows = t.keys - warp_key;  // the warp's rows in the segment (may be <= 0)
#pragma unroll
  for (int which = 0; which < 2; ++which) {
    const device_rows<Element>& grad = which == 0 ? p.d_k : p.d_v;
#pragma unroll
    for (int i = lane; i < 16 * kUnits; i += 32) {
      const int row = i / kUnits, unit = i % kUnits;
      if (row >= rows) continue;
      const uint4 value =
          *reinterpret_cast<const uint4*>(tiles[which] + (warp_key + row) * kPitch + unit * 16);
      *reinterpret_cast<uint4*>(grad.at(k_row + warp_key + row, t.unit) + channel0 + unit * 8) =
          value;
    }
  }
}

//! The CTA's dK and dV: without head splits through shared memory (store_dkdv_staged, after
//! `before_staging()`: what must be done before its tiles overwrite the ring), else the
//! float32 partials (backward_layout), each warp's 16 keys from registers.
template <class T, int HeadDim, int Channels = HeadDim, class Element,
          class BeforeStaging = no_op>
__device__ __forceinline__ void store_dkdv_cta(const backward_params<Element>& p,
                                               const kv_tile& t, const backward_smem<T>& sm,
                                               const float (&dk)[T::kOutTiles][4],
                                               const float (&dv)[T::kOutTiles][4],
                                               int64_t k_row, int group, int warp, int lane,
                                               const BeforeStaging& before_staging = {}) {
  if (p.head_splits == 1) {
    before_staging();
    store_dkdv_staged<T, HeadDim, Channels>(p, t, sm, dk, dv, k_row, group, warp, lane);
    return;
  }
  const warp_slice<HeadDim, Channels> at(group, warp);
  store_dkdv<false, HeadDim>(p, t, dv, k_row + at.key, t.keys - at.key, lane, at.channel0);
  store_dkdv<true, HeadDim>(p, t, dk, k_row + at.key, t.keys - at.key, lane, at.channel0);
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

//! CTA per (k tile of kKeys keys, kv head); grid and work as the sm80 dK/dV kernel's, with
//! the work list built for kKeys-key tiles.
template <class Element, int HeadDim, class Modifier, bool AtomicDq>
__global__ void __launch_bounds__(hopper_backward_traits<Element, HeadDim>::kThreads, 1)
    dkdv_kernel(const __grid_constant__ backward_params<Element> p,
                const __grid_constant__ backward_work work) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = hopper_backward_traits<Element, HeadDim>;
  // Static shared memory only in the sm_90a body: require_compiled_in() reads its size.
  __shared__ float rows[2][2 * T::kQueries];  // a step's lse, then D, two buffers
  __shared__ step_barriers bar;
  static_assert(sizeof(rows) + sizeof(bar) <= T::kStaticSmemBytes, "traits' static budget");
  // Tail steps (traits) but with softcap: there its tail step's code cost the main step
  // 20 / 44 bytes more of spill stores / loads (ptxas).
  constexpr int kTailQueries = Modifier::kSoftcap ? T::kQueries : T::kTailQueries;
  run_roles<T, kTailQueries>(p, work, rows, bar, [&](const kv_tile& t, const backward_smem<T>& sm,
                                                     int group, int warp, int lane, int64_t k_row,
                                                     int32_t items) {
    if constexpr (AtomicDq) {
      if (threadIdx.x == T::kReducer * 128) prefetch_tensor_map(&p.dq_map);  // the issuer
    }
    float dv[T::kOutTiles][4] = {};
    float dk[T::kOutTiles][4] = {};
    // Items in load_step's order (step_order.hpp): the main steps step-major, counted; then
    // the tail steps, one a head (none unless the CTA's last step is one).
    const step_order order = order_of<T, kTailQueries>(t, p.split_heads);
    int32_t step, head;
    order.first(step, head);
    const full_queries full = full_steps<T>(t, group);
    step_consts k{};
    if constexpr (kHoistedStep<T>) {
      // Through a shuffle: a static barrier's address ptxas re-derived (S2UR of the CTA id,
      // ULEA) at every step's top; a shuffle's result it keeps.
      k.bar = __shfl_sync(0xffffffffu, shared_address(&bar), 0);
      dq_offsets<T>(k.dq_offset, warp, lane);
    }
    // The ring's barriers of buffer `buf` (kHoistedStep: from k.bar).
    const auto wait_full = [&](int buf, uint32_t parity) {
      if constexpr (kHoistedStep<T>) {
        mbarrier_wait(k.bar + 8 * buf, parity);
      } else {
        mbarrier_wait(&bar.full[buf], parity);
      }
    };
    const auto arrive_empty = [&](int buf) {
      if constexpr (kHoistedStep<T>) {
        mbarrier_arrive(k.bar + 16 + 8 * buf);
      } else {
        mbarrier_arrive(&bar.empty[buf]);
      }
    };
    int32_t item = 0;
    for (; item < order.main_items; ++item) {
      const int buf = item % 2;
      const step_place at = place_step<T>(t, step, head, group, full);
      wait_full(buf, (item / 2) & 1);  // the step's tiles (and K, V) are in
      backward_step<T, Modifier, AtomicDq, T::kQueries>(p, t, sm, rows[buf], group, at, buf, dv,
                                                        dk, k, warp, lane);
      arrive_empty(buf);  // backward_step's last wait: its reads are done
      order.next(step, head);
    }
    if constexpr (kTailQueries < T::kQueries) {
      // A loop of its own: beside the main step in one loop body, the tail step's code cost
      // the main step 56 bytes of spills (ptxas, head dim 64).
      for (head = t.q_head0; item < items; ++item, ++head) {
        const int buf = item % 2;
        const step_place at = place_step<T>(t, order.main_end, head, group, full);
        wait_full(buf, (item / 2) & 1);
        backward_step<T, Modifier, AtomicDq, kTailQueries>(p, t, sm, rows[buf], group, at, buf, dv,
                                                    dk, k, warp, lane);
        arrive_empty(buf);
      }
    }

    store_dkdv_cta<T, HeadDim>(p, t, sm, dk, dv, k_row, group, warp, lane);
    if constexpr (AtomicDq) {
      // dQ's last reductions done before the CTA exits (after the stores: they drain meanwhile).
      bulk_wait<0>();  // the threads that issued tensor reductions wait; the others pass
    }
  });
#else
  (void)p, (void)work;
#endif
}

//! The tensor maps of the kernels' tile loads (Q and dO boxes of `queries` rows, K and V of
//! `keys`), encoded for this run (host-side, no sync; a CUDA graph keeps them by value).
template <class Element>
void prepare_tile_maps(backward_params<Element>& p, int32_t queries, int32_t keys) {
  const auto view = [&](const device_rows<const Element>& rows, int64_t count, int32_t heads) {
    return packed_view<const Element>{rows.data,         count, heads, p.head_dim,
                                      rows.token_stride, rows.head_stride};
  };
  p.q_map = make_segment_map(view(p.q, p.rows_q, p.heads_q), queries, "q");
  p.d_o_map = make_segment_map(view(p.d_o, p.rows_q, p.heads_q), queries, "d_o");
  p.k_map = make_segment_map(view(p.k, p.rows_k, p.heads_kv), keys, "k");
  p.v_map = make_segment_map(view(p.v, p.rows_k, p.heads_kv), keys, "v");
}

//! Throws unless the binary loaded for the current device holds `Kernel`'s sm_90a body
//! (compiled_in.hpp).
template <auto Kernel>
void require_backward_body() {
  require_sm90_body<Kernel>(
      "the plan selected the sm90 kernel, but the binary loaded for the current device has no "
      "sm_90a code for the Hopper backward (compile for sm_90a, e.g. CMAKE_CUDA_ARCHITECTURES "
      "\"80;90a\", run on the Hopper device the plan was made for, or make the plan with "
      "attention_options::kernel = kernel_family::sm80)");
}

//! What backward/launch.cuh reads of a Hopper dK/dV kernel's traits (this kernel's or the
//! split kernel's at head dim 256). The kernel itself is not a parameter: a kernel template's
//! instance has internal linkage in nvcc's host code, and a base class named by it would
//! too (g++'s -Wsubobject-linkage).
template <class Traits>
struct program_shape {
  static constexpr int kKeys = Traits::kKeys;
  static constexpr int kThreads = Traits::kThreads;
  static constexpr int kSmemBytes = Traits::kSmemBytes;
};

//! The launch shape of the Hopper dK/dV kernel, as backward/launch.cuh reads it.
template <class Element, int HeadDim, class Modifier, bool AtomicDq>
struct backward_program : program_shape<hopper_backward_traits<Element, HeadDim>> {
  using traits = hopper_backward_traits<Element, HeadDim>;
  static constexpr auto kernel = dkdv_kernel<Element, HeadDim, Modifier, AtomicDq>;

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
