// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file kernel_config.hpp
//! Which kernel runs a plan, chosen in one place: select_kernel(architecture, problem). The
//! plan calls it once, when it is made, and keeps the answer (plan::kernel()); the launch
//! reads it and never queries the device.

#include <varattn/error.hpp>
#include <varattn/options.hpp>
#include <varattn/tile_shape.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>

namespace varattn {

//! A device's compute capability; 0.0 when no device could be read.
struct device_arch {
  int32_t major = 0;
  int32_t minor = 0;

  //! The current device's: one cudaGetDevice and two attribute reads (host-side, no stream
  //! work, legal under capture). Without a usable device (a build machine) it returns 0.0
  //! and clears the error it caused: with no device no earlier error can be pending.
  static device_arch current() {
    int device = 0;
    device_arch arch;
    if (cudaGetDevice(&device) != cudaSuccess) {
      (void)cudaGetLastError();
      return arch;
    }
    VARATTN_CUDA_CHECK(cudaDeviceGetAttribute(&arch.major, cudaDevAttrComputeCapabilityMajor, device));
    VARATTN_CUDA_CHECK(cudaDeviceGetAttribute(&arch.minor, cudaDevAttrComputeCapabilityMinor, device));
    return arch;
  }
};

//! The kernel a plan runs: its family and its compile-time shape, which the launch
//! instantiates from the same constexpr functions below.
struct kernel_config {
  kernel_family family = kernel_family::sm80;  //!< never automatic
  tile_shape tile{};   //!< tile.block_m: query rows a tile covers (the plan's unit of work)
  int32_t stages = 1;  //!< K and V buffers in flight (sm80: one of each, refilled in turn)
  //! Query heads of one kv head a tile covers (decode tiles, Hopper GQA packing): the kernel's
  //! tile has rows() = block_m x pack rows, and the grid runs heads_q / pack head groups.
  int32_t pack = 1;

  constexpr int32_t threads() const { return tile.warps * 32; }
  //! Whether a tile may hold a group of whole short segments (work_item::group): the sm80
  //! short tile (several warps of one 16-row m-tile each), whose per-row key ranges
  //! (detail/kernel/segment_group.cuh) mask each row to its own segment's keys. Above head
  //! dim 128 that is the only sm80 tile, long segments' too: its groups fit 32 keys.
  //! The Hopper short tile (hopper_short_config) is that tile on wgmma: it groups too.
  constexpr bool groups_segments() const {
    return (family == kernel_family::sm80 && tile.warps > 1 && tile.m_tiles() == 1) ||
           hopper_short();
  }
  //! The Hopper short tile: one warpgroup, 64 rows (detail/sm90/short_tile.cuh).
  constexpr bool hopper_short() const {
    return family == kernel_family::sm90 && tile.block_m == 64 && tile.warps == 4;
  }
  //! The Hopper tall tile (detail/sm90/forward_tile.cuh): the sm90 family's other tile, the
  //! one with a persistent grid, a tile counter and the Hopper backward.
  constexpr bool hopper_tall() const { return family == kernel_family::sm90 && !hopper_short(); }
  constexpr int32_t rows() const { return tile.block_m * pack; }

  //! The same compiled kernel (the launch's check): pack is a run-time value of that kernel.
  constexpr bool same_kernel(const kernel_config& b) const {
    return family == b.family && rows() == b.rows() && tile.block_n == b.tile.block_n &&
           tile.warps == b.tile.warps && stages == b.stages;
  }
  friend constexpr bool operator==(const kernel_config& a, const kernel_config& b) {
    return a.same_kernel(b) && a.tile.block_m == b.tile.block_m && a.pack == b.pack;
  }
};

namespace detail {

//! Head dims every kernel takes: whole 16-byte vectors a row (multiples of 8), at most the
//! 256 columns a wgmma n-dimension covers.
constexpr bool supported_head_dim(int32_t head_dim) {
  return head_dim % 8 == 0 && head_dim >= 32 && head_dim <= 256;
}

constexpr kernel_config sm80_config(int32_t head_dim, int32_t max_q_length) {
  return {kernel_family::sm80, tile_shape_for(head_dim, max_q_length), 1};
}

//! Decode tiles: one warp, 16 rows of (query, head) pairs. Few query rows against many keys
//! (decoding, speculative decoding, few-query serving) waste most of a 64-row tile, and every
//! query head re-reads its kv head's keys; a decode tile packs the query heads that share a kv
//! head (GQA) into its rows, so one CTA reads those keys once for all of them.
inline constexpr int32_t kDecodeRows = 16;

//! Query heads a decode tile packs for `group_size` query heads a kv head: the largest power
//! of two dividing it, at most kDecodeRows (a power of two: the kernel splits a row index
//! with a shift).
constexpr int32_t decode_pack(int32_t group_size) {
  const int32_t lowest_bit = group_size & -group_size;
  return lowest_bit > kDecodeRows ? kDecodeRows : lowest_bit;
}

//! A decode tile takes a plan whose every segment fits one tile: at most 16 / pack query rows.
constexpr bool decode_fits(int32_t max_q_length, int32_t group_size) {
  return group_size > 0 && max_q_length <= kDecodeRows / decode_pack(group_size);
}

//! The decode tile: kDecodeRows / pack query rows x pack heads, one warp, the short tile's
//! keys a step (32 above head dim 128, as its warps').
constexpr kernel_config decode_config(int32_t head_dim, int32_t group_size) {
  const int32_t pack = decode_pack(group_size);
  return {kernel_family::sm80, {kDecodeRows / pack, head_dim > 128 ? 32 : 64, 1}, 1, pack};
}

//! Segments of at least this many query rows take a head dim's long-segment Hopper tile
//! where it has one (sm90_config). Between the sweep's 1024 (the tall d80 tile +4%) and 4096
//! (-3%); 2048 itself is untimed.
inline constexpr int32_t kLongSegment = 2048;

//! Hopper: 128 query rows (two consumer warpgroups of 64) and a producer warpgroup. 128 keys a
//! step up to head dim 128; above, 64, so that O (head_dim / 2 fp32 a thread), S and P stay
//! within the consumers' 240 registers; at 256, 80 (FA3's step there: 0 spill, and Q + two
//! stages of K and V take 225 of the 227 KB a block may have). At head dims 64 and 72, 192
//! rows (three consumer warpgroups, 160 registers each): a step's products are short there,
//! so two warpgroups' products could not cover one's softmax (FA3's tile at d64; vl-full-d72
//! -11%, twelfth session). At 80, for long segments (kLongSegment), FA4's shape: 192 rows x
//! 144 keys a step with P through shared memory (hopper_traits::kPInSmem; with P in registers
//! O's 40 registers a thread spilled at 192 rows and vl-full-d80 ran 8% slower); 144 keys
//! spread a step's fixed costs (turn, barriers, waits, O's rescale) over 12.5% more keys.
//! Also FA4's step and layout there: the three warpgroups in turns, P stored inside the
//! softmax, Q, K, V and P in 32-byte blocks (vl-full-d80 -5.5%, H100; bench/NOTES.md,
//! seventieth session).
//! Shorter segments keep 128 x 128 there: a 192-row tile's unused rows cost more than it saves
//! (H200, sweep-d80: s256 +14%, s1024 +4%, s4096 -3%, s16384 -5%; bench/NOTES.md, thirty-
//! fourth session). Two stages of K and V: three at head dim 128 would take 225 of the 227 KB
//! a block may have and ran no faster (bench/NOTES.md, step 13; ninth session, step 2).
//! `max_q_length`: the longest query segment the plan covers.
constexpr kernel_config sm90_config(int32_t head_dim, int32_t max_q_length) {
  if (head_dim == 64 || head_dim == 72) return {kernel_family::sm90, {192, 128, 16}, 2};
  if (head_dim == 80 && max_q_length >= kLongSegment) {
    return {kernel_family::sm90, {192, 144, 16}, 2};
  }
  return {kernel_family::sm90, {128, head_dim <= 128 ? 128 : head_dim == 256 ? 80 : 64, 12}, 2};
}

//! Hopper GQA packing: query heads of one kv head a Hopper tile packs into its rows, row =
//! query x pack + head (head fastest), so that the tile's block_m x pack rows span block_m =
//! rows / pack queries and every head of the group shares one pass over the kv head's keys.
//! Under a causal or sliding window a tile's keys follow its queries: a tile of 128 / pack
//! queries takes fewer steps, fewer of them masked, than one of 128 (q < k: the diagonal
//! crosses a second key block less often). Without a window every row sees every key and
//! packing would change only the padding of segments' last tiles: not measured, so those
//! plans stay unpacked. The whole group when it is a power of two (the kernel splits a row
//! with a shift) above 1 dividing the rows; else 1. (bench/experiments/
//! gqa_forward_vs_fa4_study_s35.md, lead 2; FA4's pack_gqa.)
constexpr int32_t hopper_pack(int32_t rows, int32_t group_size, bool windowed) {
  const bool power_of_two = group_size > 1 && (group_size & (group_size - 1)) == 0;
  return windowed && power_of_two && rows % group_size == 0 ? group_size : 1;
}

//! Segments of at most this many query rows fill a short (64-row) tile, which wastes no rows
//! on them (tiny-d64, vl-window): the sm80 short tile, or on Hopper its wgmma form below.
inline constexpr int32_t kShortSegment = 64;

//! Head dims with a Hopper short tile: 128 (sweep-d128-s64 -6.7% against the sm80 tile, H100)
//! and 64 (tiny-d64 -3.9%, sweep-d64-s64 -2.2%, once no copy-engine box reads past its rows;
//! bench/NOTES.md, fifty-ninth and sixtieth sessions). Not 80: boxes of 128 and 32 bytes read
//! 1.48x the bytes, 16-column ones ran 0.99-1.18x the time (fifty-ninth).
constexpr bool has_hopper_short(int32_t head_dim) { return head_dim == 64 || head_dim == 128; }

//! The Hopper short tile: the sm80 short tile's 64 rows x 64 keys, its work lists and groups,
//! computed by one warpgroup with the copy engine and wgmma (detail/sm90/short_tile.cuh): the
//! sm80 tile's copies and mma.sync products are a quarter of its instructions
//! (bench/experiments/short_tile_floor_s44.md); this one issues 17-24% fewer.
constexpr kernel_config hopper_short_config() {
  return {kernel_family::sm90, {64, 64, 4}, 1};
}

//! A head dim's Hopper tile for plans whose longest segment is long (kLongSegment rows or more)
//! or not: the kernel's template choice (sm90::hopper_traits), one kernel where both agree.
constexpr kernel_config sm90_tile(int32_t head_dim, bool long_segments) {
  return sm90_config(head_dim, long_segments ? kLongSegment : kShortSegment + 1);
}
constexpr bool has_long_segment_tile(int32_t head_dim) {
  return !(sm90_tile(head_dim, true) == sm90_tile(head_dim, false));
}

//! Whether Hopper tile `c` (an sm90_config) packs GQA heads at all: every tile but the long-
//! segment ones (has_long_segment_tile: d80's 192 x 144, P through shared memory, three
//! consumer warpgroups of 160 registers). Packed, that tile spilled more (ptxas, bf16: 56 / 52
//! / 120 bytes of stack / spill stores / spill loads against the unpacked 32 / 28 / 48, and 5
//! more local loads and 2 more stores in every step of one loop copy), and no timed row has
//! long d80 GQA under a window (bench/experiments/review_s36_pack_gqa.md, F3). So its plans
//! keep 192 queries a tile, in both builders' lists, and launch.cuh has no packed long-segment
//! kernel.
constexpr bool sm90_tile_packs(int32_t head_dim, const kernel_config& c) {
  return !(has_long_segment_tile(head_dim) && c.same_kernel(sm90_tile(head_dim, true)));
}

//! sm90_config with the heads of a group packed (hopper_pack, where sm90_tile_packs): the same
//! kernel (rows() and the launch shape), block_m / pack queries a tile.
constexpr kernel_config sm90_packed_config(int32_t head_dim, int32_t max_q_length,
                                           int32_t group_size, bool windowed) {
  kernel_config c = sm90_config(head_dim, max_q_length);
  if (!sm90_tile_packs(head_dim, c)) return c;
  c.pack = hopper_pack(c.tile.block_m, group_size, windowed);
  c.tile.block_m /= c.pack;
  return c;
}

//! The fewest queries a Hopper tile for this head dim and length covers, whatever the group:
//! its rows over the largest group that packs them (the largest power of two dividing them:
//! 128 at 128 rows, 1 query a tile; 64 at 192, 3).
constexpr int32_t sm90_fewest_queries(int32_t head_dim, int32_t max_q_length) {
  const int32_t rows = sm90_config(head_dim, max_q_length).rows();
  return sm90_packed_config(head_dim, max_q_length, rows & -rows, true).tile.block_m;
}

}  // namespace detail

//! The one selection: the kernel family and tile for a device, a head dim, the longest
//! query segment the plan covers and the query heads a kv head has, honouring `request`.
//! Segments that fit a decode tile take it (an sm80-family kernel, on every architecture).
//! automatic on Hopper: longer segments the Hopper tile, short ones (kShortSegment) the Hopper
//! short tile where the head dim has one (64, 128); kernel_family::sm90 keeps the Hopper tile
//! for both.
//! `windowed`: the plan is causal or has a sliding window (a row's keys depend on the row):
//! the Hopper tile then packs a GQA group's heads (detail::hopper_pack).
//! Throws for an sm90 request that the device cannot run.
inline kernel_config select_kernel(device_arch arch, int32_t head_dim, int32_t max_q_length,
                                   kernel_family request, int32_t group_size = 1,
                                   bool windowed = false) {
  const bool hopper = arch.major == 9;
  const bool decode = detail::decode_fits(max_q_length, group_size);
  switch (request) {
    case kernel_family::sm80:
      return decode ? detail::decode_config(head_dim, group_size)
                    : detail::sm80_config(head_dim, max_q_length);
    case kernel_family::sm90:
      if (!hopper) {
        detail::fail("kernel_family::sm90 needs an sm_90 device; the current one is sm_",
                     arch.major, arch.minor, arch.major == 0 ? " (none readable)" : "");
      }
      return detail::sm90_packed_config(head_dim, max_q_length, group_size, windowed);
    case kernel_family::automatic:
      break;
  }
  if (decode) return detail::decode_config(head_dim, group_size);
  if (hopper && max_q_length > detail::kShortSegment) {
    return detail::sm90_packed_config(head_dim, max_q_length, group_size, windowed);
  }
  if (hopper && detail::has_hopper_short(head_dim)) return detail::hopper_short_config();
  return detail::sm80_config(head_dim, max_q_length);
}

}  // namespace varattn
