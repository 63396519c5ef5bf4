// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file forward_tile.cuh
//! A CTA computes (segment, head, q-tile) work items on Hopper tensor cores (sm_90a), one at a
//! time.
//! Two consumer warpgroups (three at head dims 64 and 72, and in head dim 80's long-segment
//! tile) take 64 query rows each; the last warpgroup produces: one of its threads has the copy
//! engine (TMA) load Q once and K, V tiles of 128 keys (144 in that d80 tile, 64 above 128)
//! into a two-stage ring, and the warpgroup hands most of its registers to the consumers
//! (setmaxnreg: 24 and 240, or 160 for three, a thread). The roles meet only at mbarriers, so
//! each warpgroup runs at its own pace: while one computes its softmax, another's wgmma keeps
//! the tensor cores busy (no CTA-wide barrier in the loop).
//!
//! Per step a consumer warpgroup issues S = Q K^T (wgmma, Q and K from shared memory),
//! masks, runs the online softmax in registers (the sm80 code: the wgmma accumulator has the
//! mma.sync C layout), packs P to 16 bits in registers and issues O += P V (wgmma, P from
//! registers, or in head dim 80's long-segment tile from shared memory, V from shared memory
//! through the transpose bit).

#include <varattn/detail/kernel/epilogue.cuh>
#include <varattn/detail/kernel/online_softmax.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/score_modifier.cuh>
#include <varattn/detail/kernel/tile_context.cuh>
#include <varattn/detail/sm80/mma.cuh>
#include <varattn/detail/sm90/mbarrier.cuh>
#include <varattn/detail/sm90/stmatrix.cuh>
#include <varattn/detail/sm90/store_output.cuh>
#include <varattn/detail/sm90/swizzled_tile.cuh>
#include <varattn/detail/sm90/tensor_map.hpp>
#include <varattn/detail/sm90/tile_schedule.cuh>
#include <varattn/detail/sm90/tma_load.cuh>
#include <varattn/detail/sm90/wgmma.cuh>
#include <varattn/kernel_config.hpp>
#include <varattn/packed_view.hpp>

#include <cstdint>
#include <type_traits>

namespace varattn::detail::sm90 {

//! The Hopper kernel's tile for head dim `HeadDim` and plans whose longest segment has fewer
//! than kLongSegment query rows (LongSegments false) or more (true; the same tile but at 80).
template <class Element, int HeadDim, bool LongSegments>
struct hopper_traits {
  static constexpr kernel_config kConfig = sm90_tile(HeadDim, LongSegments);
  static constexpr int kBlockM = kConfig.tile.block_m;  //!< consumer warpgroups x 64 rows
  static constexpr int kBlockN = kConfig.tile.block_n;  //!< keys a step
  static constexpr int kStages = kConfig.stages;        //!< K and V ring depth
  //! Two consumer warpgroups, three at head dims 64 and 72 and in d80's long-segment tile
  //! (kernel_config.hpp).
  static constexpr int kWarpgroups = kBlockM / 64;
  static_assert(kWarpgroups == 2 || kWarpgroups == 3, "64 query rows a consumer warpgroup");
  static constexpr int kConsumerThreads = 128 * kWarpgroups;
  static constexpr int kProducerThreads = 128;
  static constexpr int kThreads = kConsumerThreads + kProducerThreads;
  static_assert(kThreads == kConfig.threads(), "the plan's configuration is the kernel's");
  //! Registers a thread after the split. The launch gives 64K / kThreads (168 for 384
  //! threads, 128 for 512); the producer's warpgroup keeps 24 and the consumers take the rest:
  //! 24 x 128 + 240 x 256 and 24 x 128 + 160 x 384 <= 64K (ptxas -v: no spills; d80's
  //! long-segment tile needs P stored inside the softmax and its stmatrix address pinned for
  //! that: bench/experiments/hopper_forward_d80_fa4_step.md). One producer thread issues the
  //! copies; its warpgroup exists for the registers it gives up.
  static constexpr int kProducerRegisters = 24;
  static constexpr int kConsumerRegisters = kWarpgroups == 2 ? 240 : 160;
  static_assert(kProducerRegisters * kProducerThreads + kConsumerRegisters * kConsumerThreads <=
                    65536 / kThreads / 8 * 8 * kThreads,
                "setmaxnreg can only hand out the registers the launch gave the CTA");
  //! P through shared memory (A of O += P V from a [64][kBlockN] tile a warpgroup, mma_ss_bt)
  //! rather than registers: at head dim 80 three warpgroups' O (40 registers a thread), P (36)
  //! and S (72) do not fit 160 registers; with P in registers the 192-row tile spilled and ran
  //! 8% slower than two warpgroups (bench/NOTES.md, twelfth session, 5). FA4's d80 shape.
  static constexpr bool kPInSmem = HeadDim == 80 && kWarpgroups == 3;
  //! Warpgroups take turns issuing their products (ping-pong) when all run every step: two,
  //! and the three of that d80 tile in a ring (FA4's order there, with P_j stored inside the
  //! softmax of S_j: consume). The three of head dims 64 and 72 interleave on their own (each
  //! one's softmax under the other two's products).
  static constexpr bool kPingPong = kWarpgroups == 2 || kPInSmem;
  //! Q, K, V and P in blocks of 16 columns (the 32-byte swizzle) when P is in shared memory
  //! (FA4's d80 layout): in 64-column blocks 80 channels take two blocks, the second 3/4
  //! padding that the copy engine moved (Q and K: 2.49 against FA4's 1.91 GB, s50's pages),
  //! and P's 144 keys 384 bytes a row; 175 KB instead of 220 (V and P narrow) or 265.
  static constexpr int kNarrowRowBytes = kPInSmem ? 32 : 128;
  using q_tile = swizzled_tile<kBlockM, HeadDim, kNarrowRowBytes>;
  using k_tile = swizzled_tile<kBlockN, HeadDim, kNarrowRowBytes>;
  using v_tile = swizzled_tile<kBlockN, HeadDim, kNarrowRowBytes>;
  using p_tile = swizzled_tile<64, kBlockN, 32>;  //!< [row][key], K-major (kPInSmem)
  static constexpr int kPBytes = kPInSmem ? kWarpgroups * p_tile::kBytes : 0;
  //! + 1 KB: the dynamic base is rounded up to the swizzle's 1024-byte period.
  static constexpr int kSmemBytes =
      q_tile::kBytes + kStages * (k_tile::kBytes + v_tile::kBytes) + kPBytes + 1024;
  static_assert(kSmemBytes <= 227 * 1024, "an H100/H200 SM's 227 KB (and advance's 2^18)");
  static constexpr int kScoreTiles = kBlockN / 8;  //!< n8 tiles of S a warpgroup row block
  static constexpr int kOutTiles = HeadDim / 8;    //!< n8 tiles of O: wgmma's n is HeadDim
  static constexpr int kKSteps = (HeadDim + 15) / 16;  //!< k16 steps of Q K^T (zero-padded)
  //! The softmax's row max as a tree (online_softmax::update): at head dim 64 it measured
  //! -1.7% (vit-l14-d64) and -2.8% (llm-d64-mqa-causal) on the H200; at 128 mixed (long rows
  //! +0.6-0.9%, llm-causal -1.5%, prefill -1.1%), at 80 within noise; 72, 96 and 256 untimed
  //! (bench/NOTES.md, nineteenth session).
  static constexpr bool kTreeRowMax = HeadDim == 64;
  //! A row's running max kept until the new one exceeds it by more than 2^8 in exp2's units
  //! (online_softmax::update's StaleMax): alpha is then exactly 1 on almost every step, and the
  //! lazy rescale's kOutTiles x 4 FMULs (64 at head dim 128) leave the turn between S_j and
  //! P_{j-1} V_{j-1} (bench/experiments/d128_forward_vs_fa4_sass_s35.md). Every head dim and
  //! both tiles of 80 (the 192-row one stores P, at most 2^8, in shared memory as 16 bits).
  //! H200 s36, fused bf16: d128 -1.5 to -4.1%, d64 -1.6 to -3.9%, d80 -0.6 to -1.7% (NOTES).
  static constexpr bool kStaleMax = true;
};

//! The tensors the producer loads from: Q in boxes of kBlockM rows, K and V of kBlockN
//! (tensor_map.hpp; made on the host for each run, kernel parameters).
struct forward_maps {
  segment_map q, k, v;
};

//! A run's forward_maps: q in boxes of `q_rows` rows (of `pack` heads), k of `k_rows`, v of
//! `v_rows`; v in blocks of VRowBytes, q and k of QKRowBytes (swizzled_tile's). Host-side, no
//! sync; a CUDA graph keeps them by value.
template <int VRowBytes = 128, int QKRowBytes = 128, class Element>
forward_maps make_forward_maps(const forward_params<Element>& p, int q_rows, int k_rows,
                               int v_rows, int pack = 1) {
  const auto view = [](const Element* data, int64_t rows, int32_t heads, int32_t head_dim,
                       int64_t token_stride, int64_t head_stride) {
    return packed_view<const Element>{data, rows, heads, head_dim, token_stride, head_stride};
  };
  return {make_segment_map<QKRowBytes>(
              view(p.q, p.rows_q, p.heads_q, p.head_dim, p.q_token_stride, p.q_head_stride),
              q_rows, "q", pack),
          make_segment_map<QKRowBytes>(
              view(p.k, p.rows_k, p.heads_k, p.head_dim, p.k_token_stride, p.k_head_stride),
              k_rows, "k"),
          make_segment_map<VRowBytes>(
              view(p.v, p.rows_k, p.heads_k, p.head_dim, p.v_token_stride, p.v_head_stride),
              v_rows, "v")};
}

//! Whether consume runs the steady loop: the unmasked steps in a loop of their own, Q's k-step
//! descriptors pinned, V's stage by advance_low, one lane a warp releasing a K or V stage.
//! Off where it spilled (ptxas -v, spill stores/loads in bytes, bf16, without -> with it; s37):
//! d80's 192 x 144 tile, P in shared memory (28/48 -> 72/140, Q's k-steps not pinned), and
//! packed softcap tiles of three warpgroups (d72 8/8 -> 352/416, 15 STL + 17 LDL a step in the
//! unmasked loop; d64 0/0 -> 8/32).
template <class T, class Modifier, bool Packed>
inline constexpr bool kSteadyLoop =
    !T::kPInSmem && !(Packed && Modifier::kSoftcap && T::kWarpgroups == 3);

//! Whether one lane a consumer warp releases a K or V stage (consume's `release`): in the
//! steady loop, and in d80's P-in-shared-memory tile, where K_j's release is the branch that
//! holds the wait for P_{j-1} V_{j-1} below the row maxima (consume's `probabilities`).
template <class T, class Modifier, bool Packed>
inline constexpr bool kElectedRelease = kSteadyLoop<T, Modifier, Packed> || T::kPInSmem;

//! Arrivals that complete a K or V stage's empty barrier a step: one a consumer warp where
//! kElectedRelease, else every consumer thread.
template <class T, class Modifier, bool Packed>
inline constexpr int kStageReleaseArrivals =
    kElectedRelease<T, Modifier, Packed> ? T::kConsumerThreads / 32 : T::kConsumerThreads;

//! Full barriers: the producer's thread arrives announcing the tile's bytes, which the copy
//! engine completes. Empty barriers: one lane of each consumer warp arrives on a K or V
//! stage's once the warp's wait for the wgmma that read it has returned (consume's `release`;
//! every consumer thread without kElectedRelease); all consumer threads arrive on q_empty once
//! a tile's last S = Q K^T has landed. One phase of q_full and q_empty a tile, one of a stage's
//! barriers every kStages steps of the CTA's tiles.
template <int Stages>
struct pipeline_barriers {
  uint64_t q_full;
  uint64_t q_empty;
  uint64_t k_full[Stages];
  uint64_t v_full[Stages];
  uint64_t k_empty[Stages];
  uint64_t v_empty[Stages];
};

//! Where a CTA's step g (counted over all its tiles) lives in the K/V ring.
struct ring_slot {
  int stage;
  uint32_t phase;
};
template <int Stages>
__host__ __device__ __forceinline__ ring_slot ring_slot_of(int32_t g) {
  return {g % Stages, static_cast<uint32_t>(g / Stages) & 1};
}
//! The slot of the step after `at`'s. The consumers carry their slots from step to step: from
//! the step count (ring_slot_of, a signed divide and remainder) each step's three slots cost
//! ~20 uniform instructions (SASS of 131db2f).
template <int Stages>
__host__ __device__ __forceinline__ ring_slot next_slot(ring_slot at) {
  return at.stage + 1 == Stages ? ring_slot{0, at.phase ^ 1} : ring_slot{at.stage + 1, at.phase};
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

//! The producer (one thread), for a tile whose first step is the CTA's step `first_step`
//! (the consumers are done with the last tile's Q): Q, then per step K and V of kBlockN keys
//! each into their ring stage once the consumers have released it, each by the copy engine
//! with its bytes announced on the full barrier. Rows past the segment arrive as zeros. A
//! tile with no step still completes its q_full phase (no copy).
template <class T, class Tile>
__device__ __forceinline__ void produce(const forward_maps& maps, const Tile& tile,
                                        unsigned char* sq, unsigned char* sk, unsigned char* sv,
                                        pipeline_barriers<T::kStages>& bar, int32_t first_step) {
  const int kv_steps = tile.blocks.count;
  if (kv_steps == 0) {
    mbarrier_arrive(&bar.q_full);
    return;
  }
  const int32_t keys = tile.mask.k_length;
  mbarrier_arrive_expect_tx(&bar.q_full, T::q_tile::kBytes);
  // Packed: boxes of kBlockM >> shift queries x the group's heads (rows query x pack + head).
  T::q_tile::template load_boxes<Tile::kPacked>(maps.q, sq, &bar.q_full, tile.q_row, tile.rows,
                                                tile.head);
  for (int step = 0; step < kv_steps; ++step) {
    const int32_t g = first_step + step;
    const ring_slot at = ring_slot_of<T::kStages>(g);
    const int32_t key0 = tile.key0(step);
    if (g >= T::kStages) mbarrier_wait_parked(&bar.k_empty[at.stage], at.phase ^ 1);
    mbarrier_arrive_expect_tx(&bar.k_full[at.stage], T::k_tile::kBytes);
    T::k_tile::load_boxes(maps.k, sk + at.stage * T::k_tile::kBytes, &bar.k_full[at.stage],
                          tile.k_row + key0, keys - key0, tile.kv_head);
    if (g >= T::kStages) mbarrier_wait_parked(&bar.v_empty[at.stage], at.phase ^ 1);
    mbarrier_arrive_expect_tx(&bar.v_full[at.stage], T::v_tile::kBytes);
    T::v_tile::load_boxes(maps.v, sv + at.stage * T::v_tile::kBytes, &bar.v_full[at.stage],
                          tile.k_row + key0, keys - key0, tile.kv_head);
  }
}

//! A descriptor computed once (a tile's operand at stage 0), then only advanced. The empty asm
//! hides its origin from the front end (NVVM), which otherwise sank the computation into the
//! loop: every step rebuilt its descriptors from the shared window's base (S2UR SR_CgaCtaId,
//! the 1024-byte alignment, mask, shift, or: ~25 uniform instructions a step, SASS of
//! 131db2f).
__device__ __forceinline__ uint64_t pinned(uint64_t desc) {
  asm volatile("" : "+l"(desc));
  return desc;
}
//! A 32-bit value (an address) kept the same way.
__device__ __forceinline__ uint32_t pinned(uint32_t value) {
  asm volatile("" : "+r"(value));
  return value;
}

//! Issues S = Q K^T for the warpgroup's 64 rows (one commit group), from the descriptors of
//! its Q rows (each k-step's, or the rows' one: QDescs 1) and of the K stage.
template <class T, class Element, int QDescs>
__device__ __forceinline__ void issue_scores(float (&s)[T::kScoreTiles][4],
                                             const uint64_t (&q_desc)[QDescs], uint64_t k_desc) {
  static_assert(QDescs == 1 || QDescs == T::kKSteps, "a Q descriptor a k-step, or the rows'");
  constexpr wgmma_shape<Element, T::kBlockN> shape{};
  fence();
#pragma unroll
  for (int kk = 0; kk < T::kKSteps; ++kk) {  // k16 steps over the head dim
    // A k16 step's columns start at row 0's offset (no swizzle there): 32 bytes into a
    // 64-column block, or one 16-column block.
    const uint64_t q = QDescs == 1 ? advance(q_desc[0], T::q_tile::offset(0, 16 * kk))
                                   : q_desc[kk % QDescs];
    mma_ss(shape, s, q, advance(k_desc, T::k_tile::offset(0, 16 * kk)), kk > 0);
  }
  commit();
}

//! V [key][channel] as B of O += P V: MN-major, through the transpose (stage 0's; a stage's
//! is one add).
template <class T>
__device__ __forceinline__ uint64_t values_descriptor(const unsigned char* sv) {
  return descriptor_mn_major<T::v_tile::kRowBytes>(sv, T::v_tile::kBlockBytes);
}

//! Issues O += P V (one commit group); P in registers, V through the V stage's descriptor.
template <class T, class Element>
__device__ __forceinline__ void issue_values(float (&o)[T::kOutTiles][4],
                                             const uint32_t (&pa)[T::kBlockN / 16][4],
                                             uint64_t v_desc) {
  constexpr wgmma_shape<Element, T::kOutTiles * 8> shape{};
  fence();
#pragma unroll
  for (int kc = 0; kc < T::kBlockN / 16; ++kc) {
    mma_rs(shape, o, pa[kc], advance(v_desc, kc * 16 * T::v_tile::kRowBytes), true);
  }
  commit();
}

//! Issues O += P V (one commit group) with P from the warpgroup's tile in shared memory
//! (kPInSmem; store_probabilities wrote it): a k16 step of P is one 16-key block.
template <class T, class Element>
__device__ __forceinline__ void issue_values(float (&o)[T::kOutTiles][4], uint64_t p_desc,
                                             uint64_t v_desc) {
  static_assert(T::p_tile::kBlockColumns == 16, "one block a k16 step");
  constexpr wgmma_shape<Element, T::kOutTiles * 8> shape{};
  fence();
#pragma unroll
  for (int kc = 0; kc < T::kBlockN / 16; ++kc) {
    mma_ss_bt(shape, o, advance(p_desc, kc * T::p_tile::kBlockBytes),
              advance(v_desc, kc * 16 * T::v_tile::kRowBytes), true);
  }
  commit();
}

//! P (fp32 C layout) packed to 16-bit A fragments: two n8 tiles of C are one k16 step of A.
template <class Element, int ScoreTiles>
__device__ __forceinline__ void pack_probabilities(uint32_t (&pa)[ScoreTiles / 2][4],
                                                   const float (&s)[ScoreTiles][4]) {
#pragma unroll
  for (int kc = 0; kc < ScoreTiles / 2; ++kc) {
    sm80::pack_a_fragment<Element>(pa[kc], s[2 * kc], s[2 * kc + 1]);
  }
}

//! P packed as above and stored to the warpgroup's [64][kBlockN] tile (kPInSmem): a k16 step's
//! A fragment of the warp's 16 rows is the four 8 x 8 matrices of one stmatrix (rows 0-7 and
//! 8-15 of keys 0-7, then of keys 8-15), one 16-key block, each 8-lane row group's addresses on
//! distinct banks (the 32-byte swizzle). Then the stores are made visible to wgmma; the
//! warpgroup meets (its turn's barrier, or P's meeting) before its O += P V, which reads all
//! four warps' rows. `base`: this thread's address in the first block (probabilities_address).
template <class T>
__device__ __forceinline__ uint32_t probabilities_address(unsigned char* p_rows) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int matrix = lane / 8;
  const auto row = static_cast<uint32_t>(threadIdx.x / 32 % 4 * 16 + (matrix & 1) * 8 + lane % 8);
  return shared_address(p_rows) + T::p_tile::offset(row, (matrix >> 1) * 8);
}
template <class T, class Element>
__device__ __forceinline__ void store_probabilities(uint32_t base,
                                                    const float (&s)[T::kScoreTiles][4]) {
#pragma unroll
  for (int kc = 0; kc < T::kScoreTiles / 2; ++kc) {
    uint32_t a[4];
    sm80::pack_a_fragment<Element>(a, s[2 * kc], s[2 * kc + 1]);
    stmatrix_x4(base + kc * T::p_tile::kBlockBytes, a);
  }
  fence_proxy_async();
}

//! One consumer warpgroup (rows [64 * group, 64 * group + 64) of the tile), software-
//! pipelined: step j issues S_j = Q K_j^T and then O += P_{j-1} V_{j-1}, and runs the softmax
//! of S_j while the second product is still on the tensor cores; step j + 1 waits for that
//! product at its top and rescales O before issuing the next (kPInSmem: the softmax of S_j
//! does, after its row maxima). (Against the unpipelined loop, A/B/A/B: long-d128 3.93 vs
//! 4.30 ms.)
template <class T, class Modifier, class Tile, class Element>
__device__ __forceinline__ void consume(const forward_params<Element>& p, const Tile& tile,
                                        int group, unsigned char* sq, unsigned char* sk,
                                        unsigned char* sv, unsigned char* sp,
                                        pipeline_barriers<T::kStages>& bar, int32_t first_step) {
  const int warp = static_cast<int>(threadIdx.x / 32) % 4;
  const int row0 = group * 64;  // the warpgroup's first row in the tile
  const int kv_steps = tile.blocks.count;

  // Steps the rows [row0, row0 + 64) need: none past the segment's last query (short last
  // tiles), none past the last key the rows see (causal or a right window: warpgroup 0 may
  // skip the tile's last steps).
  const int group_steps = tile.steps_for_rows(row0, 64);
  // Ping-pong (when every warpgroup runs every step): the warpgroups take turns issuing their
  // products, so that one's softmax runs while the others' products hold the tensor cores.
  // Turn t of warpgroup g waits on named barrier 1 + g, which the warpgroup before it in the
  // ring (the other one of two; of three, g - 1, and 2 before 0) arrives at after issuing its
  // own turn: 256 threads, 128 syncing and 128 arriving. The last warpgroup opens with an
  // arrival so that warpgroup 0 goes first, and skips its last one (no turn of warpgroup 0 is
  // left to open): the counts match. Ids 1-3; P's meeting (kPInSmem without turns) uses 4-6.
  constexpr int kLast = T::kWarpgroups - 1;
  const bool pingpong = T::kPingPong && tile.steps_for_rows(0, 64) == kv_steps &&
                        tile.steps_for_rows(64, 64) == kv_steps &&
                        (T::kWarpgroups == 2 || tile.steps_for_rows(128, 64) == kv_steps);
  const auto turn_begin = [&] {
    if (pingpong) named_barrier_sync(1 + group, 256);
  };
  const auto turn_end = [&](bool last) {
    if (pingpong && !(last && group == kLast)) {
      named_barrier_arrive(T::kWarpgroups == 2 ? 2 - group : group == kLast ? 1 : group + 2, 256);
    }
  };
  if (pingpong && group == kLast && kv_steps > 0) named_barrier_arrive(1, 256);
  // A K or V stage is released by one lane a warp (the empty barriers count warps): the wgmma
  // wait before it is the whole warp's, so one arrival says as much as 32, and the stage's
  // barrier takes 8 arrivals a step, not 256 (12, not 384, with three warpgroups; FA4's sm90
  // forward: an elected lane). `when`: a step's condition in the same predicate (as a branch
  // around it, ptxas added one); in the P-in-shared-memory tile a branch in the source, which
  // `probabilities` needs. (kElectedRelease only; otherwise every consumer thread arrives:
  // kStageReleaseArrivals, which forward_tiles gives the barriers, says which.)
  constexpr bool kSteady = kSteadyLoop<T, Modifier, Tile::kPacked>;
  constexpr bool kElected = kElectedRelease<T, Modifier, Tile::kPacked>;
  static_assert(kStageReleaseArrivals<T, Modifier, Tile::kPacked> ==
                (kElected ? T::kConsumerThreads / 32 : T::kConsumerThreads));
  const bool elected = threadIdx.x % 32 == 0;
  const auto release = [&](uint64_t* empty, bool when = true) {
    if constexpr (kSteady) {
      mbarrier_arrive_if(empty, elected && when);
    } else if constexpr (kElected) {
      if (elected && when) mbarrier_arrive(empty);
    } else if (when) {
      mbarrier_arrive(empty);
    }
  };

  float o[T::kOutTiles][4] = {};
  float s[T::kScoreTiles][4] = {};
  uint32_t pa[T::kPInSmem ? 1 : T::kBlockN / 16][4];  // P's A fragments (in registers)
  online_softmax softmax;
  // The operands' descriptors, once a tile: a stage's is one add. The rows' Q descriptor is
  // advanced from the tile's: built from the rows' address, its high word was a constant to
  // ptxas, which then added each k-step's offset with a carry into a re-moved constant
  // (3 uniform instructions a k-step, 2 this way). Each k-step's Q descriptor is pinned: from
  // one, the persistent loop re-added the offsets every step (UIADD3 + UIADD3.X a k-step, the
  // pair being odd); so they stay in uniform registers (d128 SASS, s36).
  constexpr int kQkRowBytes = T::q_tile::kRowBytes;
  const uint64_t q_base = advance(descriptor_k_major<kQkRowBytes>(sq), row0 * kQkRowBytes);
  // Pinned one by one only where they fit the uniform registers beside the rest: at 256 (16
  // k-steps) the multi-tile loop then built its descriptors in vector registers (41 R2UR a
  // step with the elected release), and d80's 192 x 144 tile (P in shared memory) spilled
  // more (ptxas -v 28/48 -> 100/176 bytes; it has no steady loop now); there the tile's one
  // pinned descriptor, as before (review_s36_d128_forward_leads.md).
  constexpr bool kPinEachQ = T::kKSteps <= 8 && kSteady;
  constexpr int kQDescs = kPinEachQ ? T::kKSteps : 1;  // issue_scores advances a lone one
  uint64_t q_desc[kQDescs];
#pragma unroll
  for (int kk = 0; kk < kQDescs; ++kk) {
    q_desc[kk] = pinned(advance(q_base, T::q_tile::offset(0, 16 * kk)));
  }
  const uint64_t k_desc = pinned(descriptor_k_major<T::k_tile::kRowBytes>(sk));
  const uint64_t v_desc = pinned(values_descriptor<T>(sv));
  const auto k_stage = [&](ring_slot at) { return advance(k_desc, at.stage * T::k_tile::kBytes); };
  const auto v_stage = [&](ring_slot at) {
    if constexpr (kSteady) {
      return advance_low(v_desc, at.stage * (T::v_tile::kBytes / 16));
    } else {
      return advance(v_desc, at.stage * T::v_tile::kBytes);
    }
  };
  unsigned char* p_rows = sp + group * T::p_tile::kBytes;  // kPInSmem: this warpgroup's P
  const uint64_t p_desc =
      T::kPInSmem ? pinned(descriptor_k_major<T::p_tile::kRowBytes>(p_rows)) : 0;
  // kPInSmem: this thread's stmatrix address, once a tile and pinned (with the turns' state
  // live across the loop, ptxas rebuilt it from the thread index every step: S2R and 11
  // integer instructions, bench/experiments/hopper_forward_d80_three_turns.md).
  const uint32_t p_address = T::kPInSmem ? pinned(probabilities_address<T>(p_rows)) : 0;
  // P_{j-1} packed out of S's registers before S_j overwrites them (kPInSmem: stored by the
  // softmax of S_{j-1}, probabilities), and O += P_{j-1} V_{j-1}.
  const auto keep_probabilities = [&] {
    if constexpr (!T::kPInSmem) pack_probabilities<Element>(pa, s);
  };
  const auto issue_probabilities_values = [&](ring_slot at) {
    if constexpr (T::kPInSmem) {
      // Every warp's P rows are stored and fenced: with turns, this warpgroup's 128 threads
      // synced on the turn's barrier after their stores.
      if (!pingpong) named_barrier_sync(4 + group, 128);
      issue_values<T, Element>(o, p_desc, v_stage(at));
    } else {
      issue_values<T, Element>(o, pa, v_stage(at));
    }
  };
  const auto fence_probabilities = [&] {
    if constexpr (!T::kPInSmem) fence_registers(pa);
  };

  const auto slot = [&](int step) { return ring_slot_of<T::kStages>(first_step + step); };
  // The slots of the steps j, j - 1 and j - 2 (next_slot): step 0's here, carried below.
  ring_slot at = slot(0), previous = at, before = at;
  // S_j masked and turned into probabilities; alpha rescales O for the new row maxima.
  const float stale_bound = T::kStaleMax ? online_softmax::stale_bound_for(p.exp2_scale) : 0.f;
  // `masked`: std::true_type or std::false_type (a run of the steady loop), or test_partial:
  // the block's partial() at run time (step 0, and every step without kSteadyLoop).
  // kPInSmem, FA4's order: the softmax of S_j also releases K_j and stores P_j, so that step
  // j + 1 issues S_{j+1} right after its K wait and turn. `in_flight` (std::true_type from
  // step 1 on): P_{j-1} V_{j-1} runs under the row maxima, then is waited for (the P tile and O
  // are free), V_{j-1} released and O rescaled. K_j's release, a branch to one lane a warp in
  // the source, comes between: after it ptxas keeps the wait below the maxima (SASS: the
  // release predicated, then the wait), where in the maxima's own block it hoisted the wait
  // to the block's top, above all 76 FMNMX (s58); a wait inside the lazy rescale's
  // warp-uniform branch (s58's form) had the warps of a warpgroup wait at different
  // instructions, against wgmma's contract (synccheck). Check the SASS after any change here:
  // bench/experiments/hopper_forward_d80_fa4_step.md.
  struct test_partial {};
  const auto probabilities = [&](int step, float(&alpha)[2], auto masked, auto in_flight) {
    const int key0 = tile.key0(step);
    Modifier::apply(s, p.softcap_scale);
    bool mask_block;
    if constexpr (std::is_same_v<decltype(masked), test_partial>) {
      mask_block = tile.partial(key0);
    } else {
      mask_block = decltype(masked)::value;
    }
    if (mask_block) {
      if constexpr (Tile::kPacked) {  // a thread's two rows: queries row >> shift
        tile.apply_mask(s, row0 + warp * 16, key0);
      } else {
        tile.mask.apply(s, tile.query0 + row0 + warp * 16, key0);
      }
    }
    if constexpr (T::kPInSmem) {
      float shift[2];
      softmax.template update_max<T::kTreeRowMax, T::kStaleMax>(s, p.exp2_scale, alpha, shift,
                                                                stale_bound);
      release(&bar.k_empty[at.stage]);
      if constexpr (decltype(in_flight)::value) {
        wait<0>();  // P_{j-1} V_{j-1}
        fence_registers(o);
        release(&bar.v_empty[previous.stage]);
        online_softmax::rescale<true>(o, alpha);
      }
      softmax.update_exp2(s, p.exp2_scale, alpha, shift);
      store_probabilities<T, Element>(p_address, s);
    } else {
      softmax.template update<T::kTreeRowMax, T::kStaleMax>(s, p.exp2_scale, alpha, stale_bound);
    }
  };
  // The first step is peeled off so that the loop below is straight-line: with `if (step > 0)`
  // around its second product's wait, ptxas could not tell that P V had landed before O was
  // rescaled, and serialized every wgmma (C7514).
  // The wait for P_{j-1} V_{j-1} sits at the top of step j + 1, after the K spin (a block
  // boundary): placed after the softmax of S_j, ptxas moved it above that softmax (ncu of
  // 6e6dbfa: 14.6% of the stall samples there), so the softmax never ran under the product.
  // O is rescaled before the next P V is issued (it is not in flight then). kPInSmem: the
  // softmax of S_j waits for it after its row maxima and rescales O there (probabilities).
  float alpha[2] = {1.f, 1.f};
  if (group_steps > 0) {
    mbarrier_wait(&bar.k_full[at.stage], at.phase);
    turn_begin();
    issue_scores<T, Element>(s, q_desc, k_stage(at));
    turn_end(false);
    wait<0>();
    fence_registers(s);
    if constexpr (!T::kPInSmem) release(&bar.k_empty[at.stage]);
    // O is still zero: its rescale is a no-op.
    probabilities(0, alpha, test_partial{}, std::false_type{});
  }
  // The P-in-shared-memory tile releases K_j and waits for P_{j-1} V_{j-1} in probabilities:
  // main_step's order is the other tiles'.
  static_assert(!(kSteady && T::kPInSmem), "main_step would release K_j twice");
  const auto main_step = [&](int step, auto masked) {
    before = previous;
    previous = at;
    at = next_slot<T::kStages>(at);

    mbarrier_wait(&bar.k_full[at.stage], at.phase);
    wait<0>();  // P_{j-2} V_{j-2} (none at step 1): its P tile is free
    fence_registers(o);
    fence_probabilities();
    release(&bar.v_empty[before.stage], step >= 2);
    keep_probabilities();  // P_{j-1}, before S_j overwrites s
    turn_begin();
    issue_scores<T, Element>(s, q_desc, k_stage(at));
    online_softmax::rescale<true>(o, alpha);  // lazy: skipped once no row max moves (is taken)
    mbarrier_wait(&bar.v_full[previous.stage], previous.phase);
    issue_probabilities_values(previous);
    turn_end(false);
    wait<1>();  // S_j landed; P_{j-1} V_{j-1} may still run
    fence_registers(s);
    release(&bar.k_empty[at.stage]);
    probabilities(step, alpha, masked, std::false_type{});
  };
  // The steps that need no mask (all but a causal tile's diagonal and a segment's last) run in
  // a loop of their own, without the per-step test (FA4's steady loop has none): a run of
  // masked steps (a left window's), the unmasked run, the masked rest. Packed tiles too:
  // unmasked_steps() and partial() read the same key range, over the tile's queries.
  if constexpr (kSteady) {
    const auto unmasked = tile.unmasked_steps();
    for (int step = 1; step < group_steps;) {
      const bool masked = step < unmasked.first || step >= unmasked.end;
      const int end = min(group_steps, step < unmasked.first ? unmasked.first
                                       : masked              ? group_steps
                                                             : unmasked.end);
      with_mask_test(masked, [&](auto mask) {
        for (; step < end; ++step) main_step(step, mask);
      });
    }
  } else {
    // main_step's body written out: through the lambda, the multi-tile copy of d80's 192 x 144
    // tile took 6 more uniform instructions a step; so the SASS is as before the steady loop.
    for (int step = 1; step < group_steps; ++step) {
      before = previous;
      previous = at;
      at = next_slot<T::kStages>(at);

      mbarrier_wait(&bar.k_full[at.stage], at.phase);
      if constexpr (!T::kPInSmem) {  // kPInSmem: in the softmax of S_{j-1}
        wait<0>();
        fence_registers(o);
        fence_probabilities();
        release(&bar.v_empty[before.stage], step >= 2);
        keep_probabilities();
      }
      turn_begin();
      issue_scores<T, Element>(s, q_desc, k_stage(at));
      if constexpr (!T::kPInSmem) online_softmax::rescale<true>(o, alpha);
      mbarrier_wait(&bar.v_full[previous.stage], previous.phase);
      issue_probabilities_values(previous);
      turn_end(false);
      wait<1>();
      fence_registers(s);
      if constexpr (!T::kPInSmem) release(&bar.k_empty[at.stage]);
      probabilities(step, alpha, test_partial{}, std::true_type{});
    }
  }
  // Outside the `if`: inside it, ptxas added a second wait after the last product (C7517).
  wait<0>();
  fence_registers(o);
  fence_probabilities();
  mbarrier_arrive(&bar.q_empty);  // every S of the tile has landed: Q may be refilled
  if (group_steps > 0) {  // `at` is the last step's slot, `previous` the one before
    // kPInSmem: V_{n-2} released and P_{n-1} stored by the last step's softmax.
    if constexpr (!T::kPInSmem) {
      if (group_steps >= 2) release(&bar.v_empty[previous.stage]);
      keep_probabilities();
    }
    mbarrier_wait(&bar.v_full[at.stage], at.phase);
    turn_begin();
    if constexpr (!T::kPInSmem) online_softmax::rescale<true>(o, alpha);
    issue_probabilities_values(at);
    turn_end(true);
    wait<0>();
    fence_registers(o);
    fence_probabilities();
    release(&bar.v_empty[at.stage]);
  }
  // Steps past this warpgroup's rows: still release every stage (the producer refills them
  // for this tile or the CTA's next one), in order (an arrival before the stage is full
  // would count towards its previous use).
  for (int step = group_steps; step < kv_steps; ++step) {
    const ring_slot skipped = slot(step);
    mbarrier_wait(&bar.k_full[skipped.stage], skipped.phase);
    release(&bar.k_empty[skipped.stage]);
    mbarrier_wait(&bar.v_full[skipped.stage], skipped.phase);
    release(&bar.v_empty[skipped.stage]);
  }

  const int warp_row0 = row0 + warp * 16;
  if constexpr (Tile::kPacked) {  // row r: query r >> shift of head head + r % pack
    const auto lse_rows = tile.lse_rows(p);
    const row_results rows = finish_rows(softmax, p.exp2_scale, lse_rows.first != nullptr, lse_rows,
                                         warp_row0, tile.valid_rows());
    const auto o_rows = tile.o_rows(p);
    store_output(
        o, rows, o_rows.first, [&](int r) { return o_rows(r) - o_rows.first; }, warp_row0,
        tile.valid_rows());
  } else {
    const row_results rows = finish_rows(softmax, p.exp2_scale, tile.lse(p), warp_row0, tile.rows);
    store_output(o, rows, tile.o(p), p.o_token_stride, warp_row0, tile.rows);
  }
}

//! A CTA's tiles, in the order `schedule` gives them (tile_schedule.cuh). The producer
//! thread publishes tile n in `published[n % 2]` before completing its q_full phase; every
//! consumer thread reads it after its q_full wait (the tile number's parity; also a
//! warpgroup with no step in the tile, lest a skipped phase read as complete) and arrives on
//! q_empty once the tile's last S has landed, after which the producer reuses Q. Packed (GQA,
//! kernel_config::pack heads a tile): tile rows are query x pack + head (tile_context). The ring's
//! stages and phases count the CTA's steps over all its tiles. So the producer loads a tile's
//! Q and K/V while the consumers still finish the previous tile (its last product, the
//! softmax's end, the stores).
template <class T, class Modifier, bool Packed, class Element>
__device__ __forceinline__ void forward_tiles(const forward_params<Element>& p,
                                              const forward_maps& maps,
                                              const tile_schedule& schedule, unsigned char* smem,
                                              pipeline_barriers<T::kStages>& bar,
                                              tile_id (&published)[2]) {
  using Tile = tile_context<Element, T::kBlockM, T::kBlockN, Packed>;
  constexpr int kStageReleases = kStageReleaseArrivals<T, Modifier, Packed>;
  // A tile's context; id.head is a head group of schedule.pack() heads when Packed.
  const auto tile_of = [&](const tile_id& id) {
    return Tile::make(p, id.seg, id.q_tile, id.head, schedule.pack());
  };
  unsigned char* sq = smem;
  unsigned char* sk = sq + T::q_tile::kBytes;
  unsigned char* sv = sk + T::kStages * T::k_tile::kBytes;
  unsigned char* sp = sv + T::kStages * T::v_tile::kBytes;  // kPInSmem: P, a tile a warpgroup

  if (threadIdx.x == 0) {
    mbarrier_init(&bar.q_full, 1);
    mbarrier_init(&bar.q_empty, T::kConsumerThreads);
    for (int i = 0; i < T::kStages; ++i) {
      mbarrier_init(&bar.k_full[i], 1);
      mbarrier_init(&bar.v_full[i], 1);
      mbarrier_init(&bar.k_empty[i], kStageReleases);  // consume's `release`
      mbarrier_init(&bar.v_empty[i], kStageReleases);
    }
    mbarrier_init_fence();
  }
  __syncthreads();  // the last CTA-wide barrier: the roles part here

  // (int32 steps: 2^31 steps in one CTA would take the kernel over 40 minutes.)
  int32_t first_step = 0;
  // Broadcast from lane 0: ptxas then knows the role is warp-uniform. Branching on threadIdx
  // directly, it treated the consumer path as divergent and serialized its wgmma (C7518).
  const int warp_group = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x / 128), 0);
  if (warp_group == T::kConsumerThreads / 128) {
    set_max_registers<false, T::kProducerRegisters>();
    if (threadIdx.x != T::kConsumerThreads) return;
    prefetch_tensor_map(&maps.q.map);
    prefetch_tensor_map(&maps.k.map);
    prefetch_tensor_map(&maps.v.map);
    // Tile n is published in slot n % 2, written once the consumers have read slot n % 2's
    // previous tile (n - 2: they read it before their q_empty arrival for n - 2, which the
    // producer waited for before producing n - 1), and read back here: the id needs no
    // registers while the producer waits.
    if (!schedule.first(published[0])) published[0].head = -1;
    for (int32_t item = 0;; ++item) {
      if (item > 0) mbarrier_wait_parked(&bar.q_empty, (item - 1) & 1);
      const tile_id id = published[item & 1];
      if (id.head < 0) {
        mbarrier_arrive(&bar.q_full);  // release: the consumers see the end after their wait
        break;
      }
      const Tile tile = tile_of(id);
      produce<T>(maps, tile, sq, sk, sv, bar, first_step);  // arrives on q_full (release)
      first_step += tile.blocks.count;
      tile_id& next = published[(item + 1) & 1];
      if (!schedule.next(next)) next.head = -1;  // under the consumers' last steps of this tile
    }
    schedule.finish();
  } else {
    set_max_registers<true, T::kConsumerRegisters>();
    if (schedule.one_tile()) {
      // A call site of its own: in the loop below, ptxas serialized every wgmma (C7512) and
      // spilled.
      mbarrier_wait(&bar.q_full, 0);
      const tile_id id = published[0];
      if (id.head < 0) return;
      consume<T, Modifier>(p, tile_of(id), warp_group, sq, sk, sv, sp, bar, 0);
      return;
    }
    for (int32_t item = 0;; ++item) {
      mbarrier_wait(&bar.q_full, item & 1);
      const tile_id id = published[item & 1];
      if (id.head < 0) break;
      const Tile tile = tile_of(id);
      consume<T, Modifier>(p, tile, warp_group, sq, sk, sv, sp, bar, first_step);
      first_step += tile.blocks.count;
    }
  }
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace varattn::detail::sm90
