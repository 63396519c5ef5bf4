// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file short_tile.cuh
//! The Hopper short tile (kernel_config::hopper_short): the sm80 short tile's work (64 query
//! rows of one segment, or of a group of whole short segments, against 64 keys a step; the
//! same work lists, mask, softmax and epilogue, one warp a 16-row m-tile) with the copy engine
//! and wgmma in place of 128 threads' cp.async copies and mma.sync + ldmatrix products. Thread
//! 0 loads Q, K and V in row-clipped boxes of 16 rows (tensor_map.hpp), those that hold rows,
//! into the 128-byte swizzled layout; the warpgroup issues S = Q K^T (m64n64, both from shared
//! memory) and O += P V (m64nD, P from registers, V through the transpose bit). Of a warp's
//! ~1,240 instructions a tile, the sm80 tile's copies took 148 / 266 and its products 104 / 129
//! at head dims 64 / 80 (bench/experiments/short_tile_floor_s44.md); here neither runs on the
//! warps (17-24% fewer warp-instructions). Plans take it at head dims 64 and 128
//! (kernel_config.hpp: has_hopper_short). The next step's K loads once every warp's S has read
//! K, V's once every O += P V has read V.
//!
//! No box reaches past its rows once they are 16 or more: the last box ends at the last row,
//! overlapping the one before it. A box that crosses the segment's end reads ~768 bytes more
//! from DRAM than its rows, whatever it zero-fills (ncu, H100: tiny-d64 1.09x the sm80 tile's
//! bytes, one such box a tensor a tile; bench/NOTES.md, sixtieth session). So V's rows past the
//! step's keys hold older data (P's zeros there would multiply a neighbour's inf or NaN) and
//! the warpgroup zeroes them before O += P V. A group tile recomputes the rows it staged
//! non-finite, each from its own segment's keys (group_isolation.cuh).

#include <varattn/detail/kernel/epilogue.cuh>
#include <varattn/detail/kernel/group_isolation.cuh>
#include <varattn/detail/kernel/online_softmax.cuh>
#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/score_modifier.cuh>
#include <varattn/detail/kernel/segment_group.cuh>
#include <varattn/detail/kernel/tile_context.cuh>
#include <varattn/detail/kernel/work_source.cuh>
#include <varattn/detail/sm80/kernel_traits.cuh>
#include <varattn/detail/sm80/mma.cuh>
#include <varattn/detail/sm80/store_output.cuh>
#include <varattn/detail/sm90/compiled_in.hpp>
#include <varattn/detail/sm90/forward_tile.cuh>
#include <varattn/detail/sm90/mbarrier.cuh>
#include <varattn/detail/sm90/swizzled_tile.cuh>
#include <varattn/detail/sm90/tensor_map.hpp>
#include <varattn/detail/sm90/wgmma.cuh>
#include <varattn/kernel_config.hpp>

#include <cstdint>
#include <tuple>

namespace varattn::detail::sm90 {

template <class Element, int HeadDim>
struct short_traits {
  static_assert(has_hopper_short(HeadDim), "head dims 64 and 128 (kernel_config.hpp)");
  static constexpr kernel_config kConfig = hopper_short_config();
  //! The sm80 short tile this one replaces: its register cap (CTAs an SM), grid stride and
  //! lazy rescale, chosen and measured for the same tiles.
  using sm80_short = sm80::kernel_traits<Element, HeadDim, 64>;
  static constexpr int kBlockM = 64;
  static constexpr int kBlockN = 64;
  static constexpr int kThreads = 128;
  static constexpr int kHeadDim = HeadDim;
  static_assert(kConfig.tile.block_m == kBlockM && kConfig.tile.block_n == kBlockN &&
                    kConfig.threads() == kThreads,
                "the plan's configuration is the kernel's");
  static constexpr int kMinBlocks = sm80_short::kMinBlocks;
  static constexpr bool kGridStride = sm80_short::kGridStride;
  static constexpr bool kLazyRescale = sm80_short::kLazyRescale;
  using tile = swizzled_tile<64, HeadDim>;  //!< Q, K and V alike
  //! Q, K and V arrive in boxes of this many rows, only those that hold rows of the segment
  //! (or group).
  static constexpr int kBoxRows = 16;
  static constexpr int kKSteps = (HeadDim + 15) / 16;  //!< k16 steps of Q K^T (zero-padded)
  static constexpr int kScoreTiles = kBlockN / 8;
  static constexpr int kOutTiles = HeadDim / 8;  //!< n8 tiles of O: wgmma's n is HeadDim
  //! The epilogue (sm80::store_output) stages each warp's 16 rows at this pitch over Q and K,
  //! which no product reads by then.
  static constexpr int kStride = sm80_short::kStride;
  static constexpr int kChunks = sm80_short::kChunks;
  static_assert(kBlockM * kStride * static_cast<int>(sizeof(Element)) <= 2 * tile::kBytes,
                "the staging fits Q and K");
  static_assert(kThreads > kMaxGroupSegments, "a thread an offset fills the group table");
  static constexpr int kTilesBytes = 3 * tile::kBytes;
  //! + the group table; + 1 KB: the dynamic base is rounded up to the swizzle's period.
  static constexpr int kSmemBytes = kTilesBytes + static_cast<int>(sizeof(group_table)) + 1024;
};

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

//! The tile's two barriers: `qk` completes once Q and step 0's K (later steps: K) have landed,
//! `v` once the step's V has; both complete once a step, so one parity serves both.
struct short_barriers {
  uint64_t qk;
  uint64_t v;
};

//! One work item (sm80 forward_tile's, on wgmma). `phase`: the barriers' parity, carried over
//! a strided CTA's tiles.
template <class T, class Modifier, class Element>
__device__ __forceinline__ void short_tile(const forward_params<Element>& p,
                                           const forward_maps& maps, const segment_bounds& seg,
                                           int q_tile, int head, const segment_group& group,
                                           unsigned char* smem, short_barriers& bar,
                                           uint32_t& phase) {
  using tile_t = typename T::tile;
  unsigned char* const sq = smem;
  unsigned char* const sk = sq + tile_t::kBytes;
  unsigned char* const sv = sk + tile_t::kBytes;
  auto* table = reinterpret_cast<group_table*>(smem + T::kTilesBytes);
  const int warp = static_cast<int>(threadIdx.x / 32);

  auto tile = tile_context<Element, T::kBlockM, T::kBlockN>::make(p, seg, q_tile, head);
  const bool grouped = group.count > 0;
  if (grouped) tile.hold_group();
  const int kv_steps = tile.blocks.count;
  const int valid_rows = tile.valid_rows();
  // The `valid` rows from row `first` (head `at_head`) in boxes of kBoxRows rows, only those
  // that hold rows, the last ending at row valid - 1 when valid >= kBoxRows (below, one box
  // zero-fills the rest); completing on `barrier`; rows_bytes is what they deliver. The rest
  // of the tile keeps older rows: Q's are never stored, K's keys are masked, V's are zeroed
  // (zero_rows_past). The caller announces the bytes: thread 0's arrival is the phase's one.
  const auto rows_bytes = [](int32_t valid) {
    return static_cast<uint32_t>((valid + T::kBoxRows - 1) / T::kBoxRows * T::kBoxRows *
                                 tile_t::kRowBytes * tile_t::kBlocks);
  };
  const auto load_rows = [&](const segment_map& map, unsigned char* to, uint64_t* barrier,
                             int32_t first, int32_t valid, int32_t at_head) {
    for (int32_t r0 = 0; r0 < valid; r0 += T::kBoxRows) {
      const int32_t at = valid >= T::kBoxRows ? min(r0, valid - T::kBoxRows) : r0;
#pragma unroll
      for (int block = 0; block < tile_t::kBlocks; ++block) {
        tma_load_box(map, to + block * tile_t::kBlockBytes + at * tile_t::kRowBytes, barrier,
                     first + at, valid - at, at_head, block * tile_t::kBlockColumns);
      }
    }
  };
  // V's rows from `keys` (< kBlockN: the last step's) on, those no box of the step zero-fills,
  // to zeros by the warpgroup (whole 128-byte rows: the swizzle permutes chunks within a row),
  // for the async proxy; the caller's CTA barrier then makes them the wgmma's. The rows' last
  // reader was the previous step's (or tile's) O += P V, behind a CTA barrier; the step's boxes
  // write rows below `keys` only.
  const auto zero_rows_past = [&](int32_t keys) {
    const int32_t from = max(keys, T::kBoxRows);
    constexpr int kChunksARow = tile_t::kRowBytes / 16;
    const int chunks = (T::kBlockN - from) * kChunksARow;
    for (int i = static_cast<int>(threadIdx.x); i < chunks * tile_t::kBlocks; i += T::kThreads) {
      const int block = i / chunks;
      const int chunk = i % chunks;
      reinterpret_cast<uint4*>(sv + block * tile_t::kBlockBytes + from * tile_t::kRowBytes)[chunk] =
          make_uint4(0, 0, 0, 0);
    }
    fence_proxy_async();
  };
  const auto keys_of = [&](int step) {
    return min(T::kBlockN, tile.mask.k_length - tile.key0(step));
  };
  const auto load_k = [&](int step) {
    load_rows(maps.k, sk, &bar.qk, tile.k_row + tile.key0(step), keys_of(step), tile.kv_head);
  };
  const auto load_v = [&](int step) {
    load_rows(maps.v, sv, &bar.v, tile.k_row + tile.key0(step), keys_of(step), tile.kv_head);
  };
  // Q with the first K and V (a tile without keys loads nothing: its rows are zeros).
  if (threadIdx.x == 0 && kv_steps > 0) {
    mbarrier_arrive_expect_tx(&bar.qk, rows_bytes(valid_rows) + rows_bytes(keys_of(0)));
    load_rows(maps.q, sq, &bar.qk, tile.q_row, valid_rows, tile.head);
    load_k(0);
    mbarrier_arrive_expect_tx(&bar.v, rows_bytes(keys_of(0)));
    load_v(0);
  }
  // A one-step tile (the usual short one) zeroes V's rows here, behind the group table's
  // barrier; a longer one before its last step's O += P V.
  const bool zero_now = kv_steps == 1 && keys_of(0) < T::kBlockN;
  if (zero_now) zero_rows_past(keys_of(0));
  if (grouped) table->fill(group);
  if (grouped || zero_now) __syncthreads();  // the table before any row reads it, V's zeros

  float acc[T::kOutTiles][4] = {};
  online_softmax softmax;
  const int warp_row0 = warp * 16;  // the warp's first row in the tile
  // A warp whose rows all lie past the segment's end joins the wgmmas (warpgroup-wide) but
  // skips the mask and softmax: its rows are never stored (their Q rows hold older data).
  const bool warp_has_rows = warp_row0 < valid_rows;
  const uint64_t q_desc = descriptor_128b(sq);
  const uint64_t k_desc = descriptor_128b(sk);
  const uint64_t v_desc = descriptor_128b_mn(sv, tile_t::kBlockBytes);
  constexpr wgmma_shape<Element, T::kBlockN> score_shape{};
  constexpr wgmma_shape<Element, T::kHeadDim> out_shape{};

  for (int step = 0; step < kv_steps; ++step) {
    const int32_t key0 = tile.key0(step);
    float s[T::kScoreTiles][4];
    mbarrier_wait(&bar.qk, phase);
    fence();
#pragma unroll
    for (int kk = 0; kk < T::kKSteps; ++kk) {
      const uint32_t offset = (kk / 4) * tile_t::kBlockBytes + (kk % 4) * 32;  // k16 step kk
      mma_ss(score_shape, s, advance(q_desc, offset), advance(k_desc, offset), kk > 0);
    }
    commit();
    wait<0>();
    fence_registers(s);
    if (step + 1 < kv_steps) {
      __syncthreads();  // every warp's S has read K
      if (threadIdx.x == 0) {
        mbarrier_arrive_expect_tx(&bar.qk, rows_bytes(keys_of(step + 1)));
        load_k(step + 1);
      }
    }
    if (warp_has_rows) {
      Modifier::apply(s, p.softcap_scale);
      if (grouped) {  // the thread's rows r and r + 8
        const int r = warp_row0 + static_cast<int>(threadIdx.x % 32) / 4;
        mask_to_row_keys(s, table->keys_of_row(r, group.count, p.mask),
                         table->keys_of_row(r + 8, group.count, p.mask), key0);
      } else if (tile.partial(key0)) {
        tile.apply_mask(s, warp_row0, key0);
      }
      softmax.template step<T::kLazyRescale>(s, acc, p.exp2_scale);
    }
    uint32_t a[T::kBlockN / 16][4];  // P, the A fragments of O += P V
#pragma unroll
    for (int kc = 0; kc < T::kBlockN / 16; ++kc) {
      sm80::pack_a_fragment<Element>(a[kc], s[2 * kc], s[2 * kc + 1]);
    }
    if (const int32_t keys = keys_of(step); keys < T::kBlockN && !zero_now) {
      zero_rows_past(keys);
      __syncthreads();
    }
    mbarrier_wait(&bar.v, phase);
    fence();
#pragma unroll
    for (int kc = 0; kc < T::kBlockN / 16; ++kc) {
      mma_rs(out_shape, acc, a[kc], advance(v_desc, kc * 16 * 128), true);
    }
    commit();
    wait<0>();
    fence_registers(acc);
    fence_registers(a);
    if (step + 1 < kv_steps) {
      __syncthreads();  // every warp's O += P V has read V
      if (threadIdx.x == 0) {
        mbarrier_arrive_expect_tx(&bar.v, rows_bytes(keys_of(step + 1)));
        load_v(step + 1);
      }
    }
    phase ^= 1;
  }

  __syncthreads();  // every product has read Q and K: the staging overwrites them
  if (warp_has_rows) {
    const auto lse_rows = tile.lse_rows(p);
    const auto o_rows = tile.o_rows(p);
    const row_results rows = finish_rows(softmax, p.exp2_scale, lse_rows.first != nullptr,
                                         lse_rows, warp_row0, valid_rows);
    sm80::store_output<T>(
        acc, rows, reinterpret_cast<Element*>(smem) + warp_row0 * T::kStride,
        valid_rows - warp_row0, grouped, [&](int r) { return o_rows(warp_row0 + r); },
        [&](uint32_t bad) {
          recompute_rows<T::kHeadDim, Modifier>(bad, warp_row0, p, tile, *table, group.count,
                                                o_rows);
        });
  }
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

template <class Element, int HeadDim, class Modifier>
__global__ void __launch_bounds__(short_traits<Element, HeadDim>::kThreads,
                                  short_traits<Element, HeadDim>::kMinBlocks)
    short_kernel(const __grid_constant__ forward_params<Element> params,
                 const __grid_constant__ work_source work,
                 const __grid_constant__ forward_maps maps) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = short_traits<Element, HeadDim>;
  // Static shared memory only in the sm_90a body: require_compiled_in() reads its size.
  __shared__ short_barriers bar;
  extern __shared__ uint4 smem[];
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  unsigned char* aligned = reinterpret_cast<unsigned char*>(smem) + ((1024 - base % 1024) % 1024);
  if (threadIdx.x == 0) {
    prefetch_tensor_map(&maps.q.map);  // into the descriptor cache before the first box
    prefetch_tensor_map(&maps.k.map);
    prefetch_tensor_map(&maps.v.map);
    mbarrier_init(&bar.qk, 1);
    mbarrier_init(&bar.v, 1);
    mbarrier_init_fence();
  }
  __syncthreads();
  uint32_t phase = 0;
  segment_bounds seg;
  int q_tile, head;
  segment_group group;
  if (!T::kGridStride || work.strided_groups == 0) {
    if (!work.initial(params, seg, q_tile, head, group)) return;
    short_tile<T, Modifier>(params, maps, seg, q_tile, head, group, aligned, bar, phase);
    return;
  }
  if constexpr (T::kGridStride) {
    for (uint32_t rank = blockIdx.x; work.at_rank(params, rank, seg, q_tile, head, group);
         rank += gridDim.x) {
      short_tile<T, Modifier>(params, maps, seg, q_tile, head, group, aligned, bar, phase);
      fence_proxy_async();  // the staging's stores before the next tile's copies land there
      __syncthreads();      // and its reads back
    }
  }
#else
  (void)params, (void)work, (void)maps;
#endif
}

//! The launch shape of the Hopper short tile, as launch.cuh's run_program reads it.
template <class Element, int HeadDim, class Modifier>
struct short_program {
  using traits = short_traits<Element, HeadDim>;
  static constexpr kernel_config kConfig = traits::kConfig;
  static constexpr int kThreads = traits::kThreads;
  static constexpr int kSmemBytes = traits::kSmemBytes;
  static constexpr auto kernel = short_kernel<Element, HeadDim, Modifier>;
  static constexpr bool kPersistent = false;  //!< no tile counter
  //! A device-built list: one pass of resident CTAs striding over its ranks (as the sm80
  //! short tile's).
  static constexpr bool kGridStride = traits::kGridStride;

  //! q, k and v in boxes of kBoxRows rows (tensor_map.hpp), encoded for this run.
  static std::tuple<forward_maps> arguments(const forward_params<Element>& p, int32_t /*pack*/) {
    return {make_forward_maps(p, traits::kBoxRows, traits::kBoxRows, traits::kBoxRows)};
  }

  static void require_compiled_in() {
    require_sm90_body<kernel>(
        "the plan selected the Hopper short tile, but the binary loaded for the current device "
        "has no sm_90a code for it (compile for sm_90a, e.g. CMAKE_CUDA_ARCHITECTURES "
        "\"80;90a\", run on the Hopper device the plan was made for, or make the plan with "
        "attention_options::kernel = kernel_family::sm80)");
  }
};

}  // namespace varattn::detail::sm90
