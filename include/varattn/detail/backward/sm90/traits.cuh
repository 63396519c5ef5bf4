// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file traits.cuh
//! Compile-time shape of the Hopper (sm_90a) dK/dV kernel for one (Element, HeadDim); the head
//! dims it takes: hopper_backward_head_dim (backward/tiles.hpp).

#include <varattn/detail/backward/tiles.hpp>
#include <varattn/detail/sm90/swizzled_tile.cuh>

#include <cstdint>

namespace varattn::detail::sm90 {

template <class Element, int HeadDim>
struct hopper_backward_traits {
  static_assert(hopper_backward_head_dim(HeadDim) && !hopper_split_backward_head_dim(HeadDim),
                "the two-warpgroup Hopper backward takes head dims 32-128");
  //! Warpgroups of a CTA, 64 keys each (wgmma's M = keys): they share the Q and dO tiles of
  //! a query step, so the tiles are read once for 128 keys.
  static constexpr int kWarpgroups = 2;
  static constexpr int kKeys = 64 * kWarpgroups;  //!< keys a CTA (the work list's k tile)
  //! Queries a step (wgmma's N of S^T, dP^T and dQ^T; the k of dV and dK): 80 at head dim 128
  //! (FlashAttention-3's d128 step: the step's fixed costs, its barriers and waits, spread over
  //! 25% more work; shared memory then just fits; 48 cost the d128 backward rows 8.5-19%, H100:
  //! the fixed costs are ~22-29% of an 80-query step, bench/NOTES.md sixty-eighth session),
  //! 128 at head dim 64 (the fixed costs weigh twice as much against products half as long:
  //! vit-l14-d64 -9.6%, MQA d64 -1.8%, H200 A/B; softcap then spills 52/44 bytes of
  //! stores/loads since the work lists by class, 36/44 before, unmeasured), else 64 (at
  //! 104-120, 80 spilled 12-48 bytes and nothing measured them).
  static constexpr int kQueries = HeadDim == 128 ? 80 : HeadDim == 64 ? 128 : 64;
  //! dV's wgmma issued before dS^T is computed (under it), where the registers allow: at 80
  //! and 128 queries P^T's packed A fragments beside S^T and dP^T in float32 spill; there dV
  //! follows dS^T (FlashAttention-3's order) and dS^T takes P rounded to 16 bits, as dV does.
  static constexpr bool kEarlyDv = kQueries == 64;
  //! dS^T, its packing and its stmatrix computed inside the mask test's paths, in one basic
  //! block with the second half of P^T's exp2, and dV issued after them: at 128 queries (64
  //! exp2 a thread) the exp2 is XU-bound and dS^T issue-bound, and ptxas interleaves them only
  //! within a block (fa4_d64_backward_sass_s32.md, 3.1). Not with softcap (the kernel's test:
  //! there dP^T is waited before P^T).
  static constexpr bool kDsInMaskPaths = kQueries == 128;
  //! Warpgroups 0 and 1 compute (64 keys each); warpgroup 2 produces: K and V once, then each
  //! step's Q, dO, lse and D into a two-buffer ring (cp.async, mbarriers), and hands most of
  //! its registers to the consumers (setmaxnreg, as the forward's: 24 x 128 + 240 x 256).
  static constexpr int kConsumerThreads = 128 * kWarpgroups;
  static constexpr int kProducerThreads = 128;
  static constexpr int kThreads = kConsumerThreads + kProducerThreads;
  static constexpr int kProducerRegisters = 24;
  static constexpr int kConsumerRegisters = 240;
  //! The producer threads that copy a step's lse and D and arrive on its `full` barrier (the
  //! rest of the producer warpgroup leaves after the register hand-over). One warp at 128
  //! queries (head dim 64): four warps each woke ~24 times a wait on `empty` (5 instructions a
  //! wake) and split the 256 copies with 64-bit addresses a copy, ~1,060 producer
  //! instructions a CTA-step against ~5,500 of the consumers' (ncu, vit-l14-d64, s42); one
  //! warp takes both arrays' bases once a step. Elsewhere all four (s36: fewer producer
  //! instructions at head dim 128, 10 a step, cost 1-3%).
  static constexpr int kProducerCopyThreads = kQueries == 128 ? 32 : kProducerThreads;
  //! The consumer warpgroup whose first thread issues every tensor reduction of dQ (except at
  //! head dims 32-56, where each warpgroup's first thread issues its own: kDqOwnKeys).
  static constexpr int kReducer = 1;
  using key_tile = swizzled_tile<kKeys, HeadDim>;      //!< K or V, loaded once
  using query_tile = swizzled_tile<kQueries, HeadDim>;  //!< Q or dO of a step, two buffers
  //! A warpgroup's dS of a step, [kQueries queries][64 keys]: one 64-column block of the
  //! step's [kQueries][128 keys] (K-major: B of dQ^T = K^T dS^T, as Q is of S^T = K Q^T).
  static constexpr int kDsBytes = kQueries * 128;
  static constexpr int kOutTiles = HeadDim / 8;     //!< n8 tiles of dK, dV (wgmma N = HeadDim)
  static constexpr int kKSteps = (HeadDim + 15) / 16;  //!< k16 steps (zero-padded columns)
  //! 64-channel blocks of dQ^T += K^T dS^T (M = channels: wgmma's 64 rows, whatever the
  //! queries a step), one a warpgroup (up to head dim 64 there is one: kDqQueryHalves or
  //! kDqOwnKeys split the work), each summed over the CTA's 128 keys before it leaves the SM.
  //! The last block of a head dim off 64 is computed whole and only its head dim's channels
  //! are added.
  static constexpr int kDqChunks = (HeadDim + 63) / 64;
  static_assert(kDqChunks <= kWarpgroups, "a dQ chunk a warpgroup");
  //! A step's float32 dQ on its way to the tensor reductions (bulk_reduce_add_rows; a partial
  //! last step's rows past the segment are clipped by dq_tensor_map):
  //! boxes of kQueries query rows x 32 channels, 128 bytes a row, 128-byte swizzled (a warp's
  //! stores of one register, 8 channels of 4 rows, land on distinct banks); channels past the
  //! head dim are computed and staged but clipped by the copy engine.
  static constexpr int kDqBoxes = (HeadDim + 31) / 32;
  static constexpr int kDqBoxBytes = kQueries * 128;
  //! At head dims 32-56 (one 64-channel chunk, 64 queries a step) each warpgroup sums dQ over
  //! its own 64 keys and adds it itself (its own boxes, its first thread): both share the dQ
  //! products, and no CTA barrier joins them in the step. Elsewhere every dQ term is summed
  //! over all 128 keys (both dS^T blocks) and the reducer adds every box: above head dim 64
  //! warpgroup c takes channels [64 c, + 64) of the step's queries; at head dim 64 (128
  //! queries) warpgroup h takes the 64 channels of queries [64 h, + 64) (kDqQueryHalves,
  //! FlashAttention's AtomLayoutMdQ = 2): 32 KB of reductions a step, not own keys' 64 KB
  //! (H200 A/B, 2026-12-01, on a tree that also had the unlanded work lists by class: MQA
  //! d64 backward -8.3%, vit-l14-d64 -2.7%; on their first version -7.4%, -2.3%; NOTES.md).
  static constexpr bool kDqOwnKeys = HeadDim <= 64 && kQueries == 64;
  //! A tail step: a step whose rows in the segment are at most kTailQueries (a segment's
  //! last, partial step) runs the same code at kTailQueries queries (wgmma N, the k of dV and
  //! dK, the exp2 and dS elements: a quarter at head dim 64); its Q, dO, lse and D are the
  //! first rows of the full step's buffers (rows past the segment are zeros there, as in a
  //! full partial step) and its dQ rows past the segment are clipped by the reductions as
  //! before. Only at 128 queries (head dim 64), where a one-row step cost a full step: vit's
  //! 1,025-row segments give 8 of every 81 CTA-steps one row. Elsewhere kTailQueries ==
  //! kQueries: no tail code; nor with softcap, where the kernel turns it off (spills).
  static constexpr int kTailQueries = kQueries == 128 ? 32 : kQueries;
  static constexpr int kDqBoxSets = kDqOwnKeys ? kWarpgroups : 1;
  //! Query blocks of a step's dQ, one a warpgroup where a single 64-channel chunk is summed
  //! over all keys (head dim 64), else 1; kDqQueries: a warpgroup's queries of dQ^T (the
  //! wgmma's N; its block starts kDqQueries rows further in each dS block, 8 KB at 64: on the
  //! swizzle's period).
  static constexpr int kDqQueryHalves = !kDqOwnKeys && kDqChunks == 1 ? kWarpgroups : 1;
  static constexpr int kDqQueries = kQueries / kDqQueryHalves;
  static_assert(kDqChunks * kDqQueryHalves == (kDqOwnKeys ? 1 : kWarpgroups),
                "a dQ chunk or query block a warpgroup");
  static_assert(kDqQueries * kDqQueryHalves == kQueries && kDqQueries % 16 == 0 &&
                    kDqQueries * 128 % 1024 == 0,
                "query blocks of whole k16 and swizzle periods");
  static_assert(kTailQueries % (16 * kDqQueryHalves) == 0 && kTailQueries <= kQueries &&
                    kTailQueries / kDqQueryHalves * 128 % 1024 == 0,
                "a tail step's query blocks of whole k16 and swizzle periods");
  //! dS buffers: with no CTA-wide barrier at the step's start, a warpgroup may write the next
  //! step's dS while the other's dQ wgmma still reads this step's (not with kDqOwnKeys: each
  //! reads only its own block, after its own wait).
  static constexpr int kDsBuffers = kDqOwnKeys ? 1 : 2;
  //! K, V; two buffers of (Q, dO); dS per warpgroup and buffer; the dQ boxes; + 1 KB: the
  //! dynamic base is rounded up to the swizzle's 1024-byte period. (lse and D of a step and
  //! the mbarriers are static shared memory.)
  static constexpr int kSmemBytes = 2 * key_tile::kBytes + 4 * query_tile::kBytes +
                                    kDsBuffers * kWarpgroups * kDsBytes +
                                    kDqBoxSets * kDqBoxes * kDqBoxBytes + 1024;
  static_assert(key_tile::kBytes % 1024 == 0 && query_tile::kBytes % 1024 == 0 &&
                    kDsBytes % 1024 == 0 && kDqBoxBytes % 1024 == 0,
                "every tile starts on the swizzle's period");
  //! The static shared memory beside: a step's lse and D, two buffers, and the mbarriers.
  static constexpr int kStaticSmemBytes = 2 * 2 * kQueries * 4 + 64;
  static_assert(kSmemBytes + kStaticSmemBytes <= 227 * 1024,
                "an H100/H200 SM's 227 KB (and advance's 2^18)");
};

}  // namespace varattn::detail::sm90
