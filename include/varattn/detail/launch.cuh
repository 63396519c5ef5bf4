// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file launch.cuh
//! The launch policies: every kernel of a plan back to back on one stream, no host wait.
//! The kernel is the one the plan selected (plan::kernel(), kernel_config.hpp).

#include <varattn/detail/kernel/params.cuh>
#include <varattn/detail/kernel/score_modifier.cuh>
#include <varattn/detail/kernel/work_source.cuh>
#include <varattn/detail/launch_kernel.cuh>
#include <varattn/detail/sm80/forward_kernel.cuh>
#include <varattn/detail/sm90/forward_kernel.cuh>
#include <varattn/detail/sm90/short_tile.cuh>
#include <varattn/error.hpp>
#include <varattn/forward_scratch.hpp>
#include <varattn/plan.hpp>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <tuple>
#include <type_traits>

namespace varattn::detail {

//! Launches a kernel (sm80::program, sm90::program) under the plan's policy:
//! per_segment, one launch a segment; fused, one launch over the work list: one CTA an entry,
//! or, for a persistent program given a tile counter (forward_scratch) where the plan's
//! tile_counter() (or the scratch's force_persistent) asks for it, one an SM, or, for a
//! grid-stride program's device-built list, one pass of resident CTAs.
template <class Program, class Element>
void run_program(const plan& p, const forward_params<Element>& params, cudaStream_t stream,
                 forward_scratch scratch) {
  static_assert(sizeof(Element) == 2, "16-bit elements");
  const kernel_config& config = p.kernel();
  if (!config.same_kernel(Program::kConfig)) fail("the plan's kernel has no instantiation here");
  const auto groups = static_cast<unsigned>(p.shape().heads_q / config.pack);
  Program::require_compiled_in();
  const auto kernel = Program::kernel;
  // The kernel's parameters: params, the work source, then the program's own (the Hopper
  // kernel's tensor maps), made once for all of this run's launches.
  const auto arguments = Program::arguments(params, config.pack);
  const auto launch_one = [&](dim3 grid, const work_source& work) {
    std::apply(
        [&](const auto&... more) {
          launch_kernel(kernel, grid, dim3(Program::kThreads), Program::kSmemBytes, stream,
                        params, work, more...);
        },
        arguments);
  };
  switch (p.policy()) {
    case launch_policy::per_segment: {
      allow_shared_memory(kernel, Program::kSmemBytes);
      for (const segment_launch& s : p.launches()) {
        const dim3 grid(static_cast<unsigned>(s.q_tiles), groups);
        launch_one(grid, work_source::one_segment(
                             {s.q_begin, s.q_length, s.k_begin, s.k_length}, config.pack));
      }
      return;
    }
    case launch_policy::fused: {
      allow_shared_memory(kernel, Program::kSmemBytes);
      const device_work work = p.device();
      // The plan checked that this fits gridDim.x.
      long long ctas = static_cast<long long>(work.capacity) * groups;
      if (ctas == 0) return;
      // Long tiles run one CTA a tile (kLongTileSteps): the counter stays untouched, at zero.
      auto* tiles = static_cast<unsigned int*>(scratch.data);
      if (!Program::kPersistent || !(p.tile_counter() || scratch.force_persistent)) {
        tiles = nullptr;
      }
      if (tiles != nullptr) ctas = std::min<long long>(ctas, multiprocessors());
      // A device-built list launches its capacity, an upper bound (tiny-d64: ~3,190 items a
      // head against ~1,560): CTAs past the count only read it and exit, ~half of tiny-d64's
      // 51,000. A grid-stride program runs one pass of resident CTAs instead. Host-built lists
      // keep one CTA a rank: the block scheduler balances their longest-first order.
      int32_t strided_groups = 0;
      if (Program::kGridStride && p.built_on_device()) {
        const long long resident =
            multiprocessors() * resident_ctas(kernel, Program::kThreads, Program::kSmemBytes);
        if (resident < ctas) {
          ctas = resident;
          strided_groups = static_cast<int32_t>(groups);
        }
      }
      launch_one(dim3(static_cast<unsigned>(ctas)),
                 work_source::listed(work, config.pack, tiles, strided_groups));
      return;
    }
    case launch_policy::automatic:  // resolved by plan::make
    case launch_policy::bucketed:   // split into fused buckets by launch()
      break;
  }
  fail("unknown launch policy");
}

//! Runs the kernel the plan selected; a bucketed plan runs its fused buckets one after the
//! other. Instantiates, per head dim and score modifier, the Hopper kernel, packed (GQA) and
//! not (and, unpacked only, its long-segment tile where the head dim has one: 80), the Hopper
//! short tile (head dims 64 and 128) and the sm80 kernel's tiles: decode, short and tall (short
//! and tall are one above head dim 128).
//! `scratch`: the forward's (data null: none); buckets run in stream order, each deciding
//! whether to use it (plan::tile_counter) and leaving it zero for the next.
template <class Element, int HeadDim>
void launch(const plan& p, const forward_params<Element>& params, cudaStream_t stream,
            forward_scratch scratch) {
  if (p.policy() == launch_policy::bucketed) {
    for (const plan& bucket : p.buckets()) {
      launch<Element, HeadDim>(bucket, params, stream, scratch);
    }
    return;
  }
  const auto with_modifier = [&](auto softcap) {
    using modifier = score_modifier<decltype(softcap)::value>;
    const kernel_config& config = p.kernel();
    if (config.family == kernel_family::sm90) {
      if constexpr (has_hopper_short(HeadDim)) {
        if (config.hopper_short()) {
          return run_program<sm90::short_program<Element, HeadDim, modifier>>(p, params, stream,
                                                                               scratch);
        }
      }
      // A tile packing a GQA group's heads (kernel_config::pack) is a kernel of its own, with
      // one tile: the long-segment tile never packs (sm90_tile_packs), so it has no packed
      // instance (a packed plan of its shape would fail run_program's check).
      if (config.pack > 1) {
        return run_program<sm90::program<Element, HeadDim, false, modifier, true>>(p, params,
                                                                                   stream, scratch);
      }
      if constexpr (has_long_segment_tile(HeadDim)) {
        if (config.same_kernel(sm90_tile(HeadDim, true))) {
          return run_program<sm90::program<Element, HeadDim, true, modifier>>(p, params, stream,
                                                                              scratch);
        }
      }
      return run_program<sm90::program<Element, HeadDim, false, modifier>>(p, params, stream,
                                                                           scratch);
    }
    constexpr int kShort = sm80_config(HeadDim, kShortSegment).tile.block_m;
    constexpr int kTall = sm80_config(HeadDim, kShortSegment + 1).tile.block_m;
    if (config.tile.warps == 1) {
      return run_program<sm80::program<Element, HeadDim, kDecodeRows, modifier>>(p, params,
                                                                                 stream, scratch);
    }
    if (config.tile.block_m == kShort) {
      return run_program<sm80::program<Element, HeadDim, kShort, modifier>>(p, params, stream,
                                                                             scratch);
    }
    if constexpr (kTall != kShort) {
      return run_program<sm80::program<Element, HeadDim, kTall, modifier>>(p, params, stream,
                                                                            scratch);
    }
    fail("plan tile height ", config.tile.block_m, " has no kernel for head_dim ", HeadDim);
  };
  if (p.softcap() > 0.0f) {
    with_modifier(std::true_type{});
  } else {
    with_modifier(std::false_type{});
  }
}

}  // namespace varattn::detail
