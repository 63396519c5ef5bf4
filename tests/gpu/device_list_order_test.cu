// SPDX-License-Identifier: Apache-2.0
// The fused forward's work list built on the device (device_plan.cuh) is exactly the stable
// size-class order (tests/common/list_order_reference.hpp): classes largest first, segment
// order within a class, a run's largest tile first, short segments grouped within each
// builder thread's range. The order only moves time, never results
// (the other GPU tests check those); this pins it, as the benchmarks' figures depend on it.
// And the backward's grid ranks map onto its k list (locate_rank_in_warp), unit- and
// item-major, as the host's reference locate_rank says, holes past the total included. And
// the class ends the builder writes beside the forward's list (the Hopper forward's
// class-major ranks, locate_class_rank) are the reference's, element by element, capped with
// the count, zeroed by a failed build.
#include <varattn/detail/backward/work_list.cuh>

#include <thrust/copy.h>
#include <thrust/fill.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <vector>

#include "../common/list_order_reference.hpp"
#include "harness.cuh"

TEST_CASE("device-built work lists: the forward's list is the stable size-class order") {
  if (!test::instantiated(128)) return;
  std::mt19937 rng(71);
  std::vector<int32_t> many(3000);  // more segments than the builder's threads, several each
  for (int32_t& n : many) n = static_cast<int32_t>(rng() % 300);
  std::vector<int32_t> tiny(3000);  // short segments: grouped (sm80 short tiles)
  for (int32_t& n : tiny) n = static_cast<int32_t>(rng() % 41);
  const std::vector<std::vector<int32_t>> tables = {
      {476, 2016, 0, 2843, 1, 8192, 140, 1155, 64, 65}, many, {16384}, tiny};
  struct mask {
    bool causal;
    int32_t left, right;
  };
  for (const auto& lengths : tables) {
    for (const int32_t prefix : {0, 700}) {  // keys = queries, or a cached prefix before them
      for (const mask m : {mask{false, -1, -1}, mask{true, -1, -1}, mask{false, 255, 255},
                           mask{true, 1023, -1}}) {
        CAPTURE(lengths.size());
        CAPTURE(prefix);
        CAPTURE(m.causal);
        CAPTURE(m.left);
        std::vector<int32_t> k_lengths = lengths;
        for (int32_t& n : k_lengths) n += prefix;
        const auto segs_q = varattn::segments::from_lengths(lengths);
        const auto segs_k = varattn::segments::from_lengths(k_lengths);
        varattn::attention_options options;
        options.causal = m.causal;
        options.window_left = m.left;
        options.window_right = m.right;
        test::stream_guard s;
        // The tile from the longest segment (the short tile for `tiny`: groups).
        const int32_t max_q = *std::max_element(lengths.begin(), lengths.end());
        auto p = varattn::plan::reserve_on_device(static_cast<int32_t>(lengths.size()),
                                                  segs_q.total(), segs_k.total(), {2, 2, 128},
                                                  options, max_q);
        thrust::device_vector<int32_t> cu_q(segs_q.offsets()), cu_k(segs_k.offsets());
        varattn::build_on_device(p, {thrust::raw_pointer_cast(cu_q.data()), cu_q.size()},
                                 {thrust::raw_pointer_cast(cu_k.data()), cu_k.size()}, s.stream);
        p.check_device_build(s.stream);
        VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
        const varattn::device_work work = p.device();
        int32_t count = -1;
        VARATTN_CUDA_CHECK(cudaMemcpy(&count, work.count, sizeof count, cudaMemcpyDeviceToHost));
        const auto want = test::class_ordered_list(
            lengths, k_lengths, p.tile().block_m, p.tile().block_n,
            varattn::detail::window{p.window_left(), p.window_right()},
            p.kernel().groups_segments());
        if (&lengths == &tables.back() && prefix == 0) {  // short segments, keys as queries
          CHECK(p.kernel().groups_segments());
          CHECK(std::count_if(want.begin(), want.end(), [](const varattn::work_item& item) {
                  return item.is_group();
                }) > 0);
        }
        REQUIRE(count == static_cast<int32_t>(want.size()));
        std::vector<varattn::work_item> got(want.size());
        VARATTN_CUDA_CHECK(cudaMemcpy(got.data(), work.items, got.size() * sizeof(got[0]),
                                      cudaMemcpyDeviceToHost));
        int32_t mismatches = 0;
        for (std::size_t i = 0; i < want.size(); ++i) {
          if (got[i].segment != want[i].segment || got[i].q_tile != want[i].q_tile) ++mismatches;
        }
        CHECK(mismatches == 0);
      }
    }
  }
}

namespace {

using class_ends = std::array<int32_t, varattn::detail::kSegmentClasses>;

// The Hopper forward's rank shape for a plan (sm90/tile_schedule.cuh's constructor): heads_q /
// pack head groups; a band is the head groups of one kv head where pack divides the group.
struct rank_shape {
  uint32_t groups;
  uint32_t band;
};
rank_shape rank_shape_of(const varattn::plan& p, const varattn::attention_shape& shape) {
  const int32_t pack = p.kernel().pack, group = shape.heads_q / shape.heads_kv;
  return {static_cast<uint32_t>(shape.heads_q / pack),
          static_cast<uint32_t>(group % pack == 0 && group >= pack ? group / pack : 1)};
}

// Every rank below `ranks` through the kernels' locate_class_rank over the device's ends.
__global__ void locate_every_class_rank(const int32_t* ends, uint32_t groups, uint32_t band,
                                        uint32_t ranks, int3* out) {
  for (uint32_t r = blockIdx.x * blockDim.x + threadIdx.x; r < ranks;
       r += gridDim.x * blockDim.x) {
    const varattn::detail::class_rank at =
        varattn::detail::locate_class_rank(r, ends, groups, band);
    out[r] = {at.found ? 1 : 0, at.index, at.group};
  }
}

class_ends read_ends(const int32_t* device_ends) {
  class_ends ends{};
  VARATTN_CUDA_CHECK(cudaMemcpy(ends.data(), device_ends, sizeof ends, cudaMemcpyDeviceToHost));
  return ends;
}

// The ranks decoded on the device over the device-built ends, against the host's
// locate_class_rank over the reference's ends: every rank below count x groups found, on a
// distinct (item, head group), its item's class never before the previous rank's; none past.
void check_device_ranks(const int32_t* device_ends, const class_ends& want, rank_shape shape) {
  const auto count = static_cast<uint32_t>(want.back());
  const uint32_t valid = count * shape.groups, ranks = valid + shape.groups + 7;
  thrust::device_vector<int3> d_out(ranks, int3{-1, -1, -1});
  locate_every_class_rank<<<std::min<uint32_t>((ranks + 255) / 256, 1024), 256>>>(
      device_ends, shape.groups, shape.band, ranks, thrust::raw_pointer_cast(d_out.data()));
  VARATTN_CUDA_CHECK(cudaGetLastError());
  VARATTN_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<int3> got(d_out.begin(), d_out.end());
  std::vector<char> seen(valid, 0);
  int32_t mismatches = 0, repeats = 0, out_of_order = 0, last_slot = 0;
  for (uint32_t r = 0; r < ranks; ++r) {
    const varattn::detail::class_rank at =
        varattn::detail::locate_class_rank(r, want.data(), shape.groups, shape.band);
    const int3 g = got[r];
    if (r >= valid) {
      mismatches += g.x != 0 || at.found;
      continue;
    }
    if (!at.found || g.x != 1 || g.y != at.index || g.z != at.group) {
      ++mismatches;
      continue;
    }
    char& mark = seen[static_cast<std::size_t>(at.index) * shape.groups + at.group];
    repeats += mark;
    mark = 1;
    const int32_t slot = static_cast<int32_t>(
        std::upper_bound(want.begin(), want.end(), at.index) - want.begin());
    out_of_order += slot < last_slot;
    last_slot = slot;
  }
  CHECK(mismatches == 0);
  CHECK(repeats == 0);
  CHECK(out_of_order == 0);
}

}  // namespace

// The forward's device-built plans (MHA; GQA, packed under a mask on Hopper, kv-head bands
// without; d80's long-segment tile): the class ends the builder writes equal the reference's
// (the class sizes of its list, summed), element by element, and the host builder's rule
// (list_class_ends) over the device's own items; the ranks decoded over them cover every
// (item, head group) once, classes in turn. Random tables (several seeds), empty segments,
// length 1, lengths off the tile, one 16k segment, thousands of tiny ones (grouped on the
// short tile), none at all; no mask, causal, a window; keys as queries and a cached prefix.
TEST_CASE("device-built work lists: the class ends equal the host reference's") {
  if (!test::instantiated(128)) return;
  std::vector<std::vector<int32_t>> tables = {
      {476, 2016, 0, 2843, 1, 8192, 140, 1155, 64, 65},
      {63, 65, 127, 129, 191, 193, 255, 257, 1, 0, 383, 385},
      std::vector<int32_t>(100, 1),
      {16384},
      {0, 0, 0}};
  for (const uint32_t seed : {73u, 74u, 75u}) {
    std::mt19937 rng(seed);
    std::vector<int32_t> lengths(seed == 75u ? 3000 : 400);
    // 75: thousands of tiny segments (groups on the short tile); else up to 300 or 5000 rows
    const uint32_t bound = seed == 75u ? 41 : seed == 73u ? 301 : 5001;
    for (int32_t& n : lengths) n = static_cast<int32_t>(rng() % bound);
    tables.push_back(lengths);
  }
  struct mask {
    bool causal;
    int32_t left, right;
  };
  struct layout {
    varattn::attention_shape shape;
    bool tight;  // max_q_length: the longest segment (d80: the 192 x 144 tile from 2048 rows)
  };
  std::vector<layout> layouts = {{{2, 2, 128}, false}, {{8, 2, 128}, true}};
  if (varattn::head_dims::contains(80)) layouts.push_back({{2, 2, 80}, true});
  for (const auto& lengths : tables) {
    for (const int32_t prefix : {0, 700}) {
      for (const mask m : {mask{false, -1, -1}, mask{true, -1, -1}, mask{false, 255, 255},
                           mask{true, 1023, -1}}) {
        for (const layout& l : layouts) {
          CAPTURE(lengths.size());
          CAPTURE(prefix);
          CAPTURE(m.causal);
          CAPTURE(m.left);
          CAPTURE(l.shape.heads_q);
          CAPTURE(l.shape.head_dim);
          std::vector<int32_t> k_lengths = lengths;
          for (int32_t& n : k_lengths) n += prefix;
          const auto segs_q = varattn::segments::from_lengths(lengths);
          const auto segs_k = varattn::segments::from_lengths(k_lengths);
          varattn::attention_options options;
          options.causal = m.causal;
          options.window_left = m.left;
          options.window_right = m.right;
          test::stream_guard s;
          const int32_t max_q = *std::max_element(lengths.begin(), lengths.end());
          auto p = varattn::plan::reserve_on_device(static_cast<int32_t>(lengths.size()),
                                                    segs_q.total(), segs_k.total(), l.shape,
                                                    options, l.tight ? max_q : -1);
          CAPTURE(p.kernel().pack);
          CAPTURE(p.tile().block_m);
          const varattn::device_work work = p.device();
          // Poisoned: every end must be written.
          VARATTN_CUDA_CHECK(cudaMemsetAsync(const_cast<int32_t*>(work.class_ends), 0xff,
                                             sizeof(class_ends), s.stream));
          thrust::device_vector<int32_t> cu_q(segs_q.offsets()), cu_k(segs_k.offsets());
          varattn::build_on_device(p, {thrust::raw_pointer_cast(cu_q.data()), cu_q.size()},
                                   {thrust::raw_pointer_cast(cu_k.data()), cu_k.size()},
                                   s.stream);
          p.check_device_build(s.stream);
          VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
          const varattn::detail::window w{p.window_left(), p.window_right()};
          const bool grouping = p.kernel().groups_segments();
          const class_ends want = test::class_ordered_ends(
              lengths, k_lengths, p.tile().block_m, p.tile().block_n, w, grouping);
          const class_ends got = read_ends(work.class_ends);
          int32_t count = -1;
          VARATTN_CUDA_CHECK(cudaMemcpy(&count, work.count, sizeof count, cudaMemcpyDeviceToHost));
          REQUIRE(count == want.back());
          int32_t differ = 0;
          for (std::size_t slot = 0; slot < want.size(); ++slot) differ += got[slot] != want[slot];
          CHECK(differ == 0);
          std::vector<varattn::work_item> items(static_cast<std::size_t>(count));
          VARATTN_CUDA_CHECK(cudaMemcpy(items.data(), work.items, items.size() * sizeof(items[0]),
                                        cudaMemcpyDeviceToHost));
          CHECK(varattn::detail::list_class_ends(items, segs_q, segs_k, p.tile().block_m,
                                                 p.tile().block_n, w) == got);
          if (&lengths == &tables[0] && prefix == 0 && !m.causal && m.left < 0) {
            // 8192 .. 1: more than one class, so that the ranks are not head-major
            CHECK(std::count_if(want.begin(), want.end() - 1, [&](int32_t end) {
                    return end > 0 && end < want.back();
                  }) > 0);
          }
          check_device_ranks(work.class_ends, want, rank_shape_of(p, l.shape));
        }
      }
    }
  }
}

// The builder caps its list at the plan's capacity (an upper bound that valid offsets never
// pass: the builder's own guard, driven here with smaller ones): the class ends stop at the
// capacity as the count does, so that no rank decodes past the written items. A failed build
// (count 0) leaves every end 0, and the next valid build writes them all again.
TEST_CASE("class-major ranks: a capped build's class ends stop at its capacity, a failed "
          "build's are zero") {
  const std::vector<int32_t> lengths = {476, 2016, 0, 2843, 1, 8192, 140, 1155, 64, 65};
  const auto segs = varattn::segments::from_lengths(lengths);
  const auto n = static_cast<int32_t>(lengths.size());
  const int32_t rows = segs.total(), block_m = 128, block_n = 128;
  varattn::attention_options causal;
  causal.causal = true;
  const auto w = varattn::detail::window::of(causal);
  const class_ends full = test::class_ordered_ends(lengths, lengths, block_m, block_n, w);
  const std::vector<varattn::work_item> list =
      test::class_ordered_list(lengths, lengths, block_m, block_n, w);
  const int32_t total = full.back();
  REQUIRE(total == static_cast<int32_t>(list.size()));
  thrust::device_vector<int32_t> cu(segs.offsets()), header(2 + varattn::detail::kBuildKeyWords);
  thrust::device_vector<int32_t> plan_cu_q(n + 1), plan_cu_k(n + 1);
  thrust::device_vector<int32_t> ends(varattn::detail::kSegmentClasses);
  thrust::device_vector<varattn::work_item> items(static_cast<std::size_t>(total));
  auto report = varattn::detail::make_pinned_array<varattn::device_report>(1);
  std::memset(report.get(), 0, sizeof(varattn::device_report));
  int32_t* h = thrust::raw_pointer_cast(header.data());
  const auto build = [&](const int32_t* offsets, int32_t capacity) {
    thrust::fill(ends.begin(), ends.end(), -1);  // every end must be written
    varattn::detail::build_work_list_kernel<><<<1, varattn::detail::kBuildThreads>>>(
        offsets, offsets, n, rows, rows, block_m, block_n, w, false, capacity, false, h, h + 1,
        h + 2, thrust::raw_pointer_cast(plan_cu_q.data()),
        thrust::raw_pointer_cast(plan_cu_k.data()), thrust::raw_pointer_cast(ends.data()),
        thrust::raw_pointer_cast(items.data()), report.get());
    VARATTN_CUDA_CHECK(cudaGetLastError());
    VARATTN_CUDA_CHECK(cudaDeviceSynchronize());
  };
  const int32_t* valid = thrust::raw_pointer_cast(cu.data());
  // At the total, one short, on a class boundary, half, one item, none.
  const int32_t boundary = *std::find_if(full.begin(), full.end(), [](int32_t e) { return e > 0; });
  for (const int32_t capacity : {total, total - 1, boundary, total / 2, 1, 0}) {
    CAPTURE(capacity);
    build(valid, capacity);
    const int32_t count = header[0];
    CHECK(count == std::min(total, capacity));
    CHECK(static_cast<int32_t>(header[1]) == 0);  // status
    const class_ends got = read_ends(thrust::raw_pointer_cast(ends.data()));
    CHECK(got == test::class_ordered_ends(lengths, lengths, block_m, block_n, w, false, capacity));
    CHECK(got.back() == count);
    std::vector<varattn::work_item> written(static_cast<std::size_t>(count));
    thrust::copy(items.begin(), items.begin() + count, written.begin());
    int32_t mismatches = 0;
    for (int32_t i = 0; i < count; ++i) {
      mismatches += written[i].segment != list[i].segment || written[i].q_tile != list[i].q_tile;
    }
    CHECK(mismatches == 0);
    check_device_ranks(thrust::raw_pointer_cast(ends.data()), got, {4, 2});
  }
  // Invalid offsets (decreasing) after a valid build: count 0, every end 0; then valid again.
  thrust::device_vector<int32_t> bad(segs.offsets());
  bad[3] = bad[2] - 1;
  build(valid, total);
  build(thrust::raw_pointer_cast(bad.data()), total);
  CHECK(static_cast<int32_t>(header[0]) == 0);
  CHECK(static_cast<int32_t>(header[1]) != 0);
  CHECK(read_ends(thrust::raw_pointer_cast(ends.data())) == class_ends{});
  check_device_ranks(thrust::raw_pointer_cast(ends.data()), class_ends{}, {4, 2});
  const int32_t code = report.get()->code;
  CHECK(code == varattn::device_report::kDecreasing);
  build(valid, total);
  CHECK(static_cast<int32_t>(header[0]) == total);
  CHECK(read_ends(thrust::raw_pointer_cast(ends.data())) == full);
}

namespace {
__global__ void locate_every_rank(const int32_t* counts, int32_t units, bool item_major,
                                  int32_t ranks, int3* out) {
  // Whole warps over every rank: a warp's lanes ask for 32 different ranks, one at a time.
  const int32_t lane = static_cast<int32_t>(threadIdx.x % 32);
  const int32_t warp = static_cast<int32_t>((blockIdx.x * blockDim.x + threadIdx.x) / 32);
  for (int32_t i = 0; i < 32; ++i) {
    const int32_t rank = warp * 32 + i;
    const varattn::detail::listed_rank at =
        varattn::detail::locate_rank_in_warp(rank, counts, units, item_major);
    if (lane == i && rank < ranks) out[rank] = {at.found ? 1 : 0, at.unit, at.index};
  }
}
}  // namespace

TEST_CASE("device-built work lists: the backward's warp-wide rank mapping equals locate_rank") {
  std::mt19937 rng(72);
  for (int trial = 0; trial < 24; ++trial) {
    CAPTURE(trial);
    std::vector<int32_t> counts(varattn::detail::kSegmentClasses, 0);
    // one filled slot (the division path), none (every rank a hole), or up to 32
    const int filled = trial % 4 == 0 ? 1 : trial == 1 ? 0 : static_cast<int>(rng() % 32) + 1;
    for (int i = 0; i < filled; ++i) counts[rng() % 32] += static_cast<int32_t>(rng() % 200) + 1;
    const int32_t units = static_cast<int32_t>(rng() % 40) + 1;
    int32_t total = 0;
    for (const int32_t n : counts) total += n;
    // holes past it; at least one rank (no class filled: every rank a hole)
    const int32_t ranks = total * units + 1 + static_cast<int32_t>(rng() % 300);
    thrust::device_vector<int32_t> d_counts(counts);
    for (const bool item_major : {false, true}) {
      CAPTURE(item_major);
      thrust::device_vector<int3> d_out(static_cast<std::size_t>(ranks), int3{-1, -1, -1});
      const int32_t warps = (ranks + 31) / 32;
      locate_every_rank<<<(warps + 3) / 4, 128>>>(thrust::raw_pointer_cast(d_counts.data()), units,
                                                  item_major, ranks,
                                                  thrust::raw_pointer_cast(d_out.data()));
      VARATTN_CUDA_CHECK(cudaGetLastError());
      VARATTN_CUDA_CHECK(cudaDeviceSynchronize());
      const std::vector<int3> got(d_out.begin(), d_out.end());
      int32_t mismatches = 0;
      for (int32_t r = 0; r < ranks; ++r) {
        const varattn::detail::listed_rank want =
            varattn::detail::locate_rank(r, counts.data(), units, item_major);
        const int3 g = got[static_cast<std::size_t>(r)];
        if (g.x != (want.found ? 1 : 0) ||
            (want.found && (g.y != want.unit || g.z != want.index))) {
          ++mismatches;
        }
      }
      CHECK(mismatches == 0);
    }
  }
}

namespace {

// The when_changed cases' problem: two offset sets of one count and total (so that one plan
// fits both) rewritten in place in one device array, causal, head dim 128.
struct rewritable_offsets {
  const std::vector<int32_t> first = {476, 2016, 0, 1, 8192, 140, 65};
  const std::vector<int32_t> second = {2016, 476, 140, 0, 65, 8192, 1};
  const varattn::segments segs_a = varattn::segments::from_lengths(first);
  const varattn::segments segs_b = varattn::segments::from_lengths(second);
  const int32_t rows = segs_a.total();
  const int32_t segments = static_cast<int32_t>(first.size());
  const varattn::attention_shape shape{2, 2, 128};
  const varattn::attention_options causal = [] {
    varattn::attention_options options;
    options.causal = true;
    return options;
  }();
  thrust::device_vector<int32_t> cu = thrust::device_vector<int32_t>(segs_a.offsets());
  const varattn::device_span<const int32_t> cu_span{thrust::raw_pointer_cast(cu.data()),
                                                    cu.size()};
};

}  // namespace

// build_on_device with rebuild::when_changed (the PyTorch op's builds) returns at once only when
// the buffer holds the list of these very offsets and plan: a skip is seen by poisoning the
// items in between (a skipped build leaves the poison, a real one overwrites it), and every
// change (the offsets rewritten in place, another plan on the same workspace, a failed build,
// a zeroed header) must rebuild the exact list.
TEST_CASE("device-built work lists: rebuild::when_changed skips only an unchanged list") {
  if (!test::instantiated(128)) return;
  rewritable_offsets o;
  test::stream_guard s;
  // One workspace for every plan below, as the op's plan cache gives one a stream (MHA: the
  // options change no tile, so {} bounds the causal plans too; 64: the shortest max_q below).
  thrust::device_vector<uint4> workspace(
      (varattn::plan::workspace_bytes(o.segments, o.rows, o.shape, {}, 64) + 15) / 16);
  auto report = varattn::detail::make_pinned_array<varattn::device_report>(1);
  std::memset(report.get(), 0, sizeof(varattn::device_report));
  const varattn::plan_workspace ws{thrust::raw_pointer_cast(workspace.data()),
                                   workspace.size() * sizeof(uint4), report.get()};
  const auto make = [&](const varattn::attention_options& options, int32_t max_q) {
    return varattn::plan::on_device(ws, o.segments, o.rows, o.rows, o.shape, options, max_q);
  };
  // The list in the buffer, or count -1 when the items still hold the poison.
  const auto list_of = [&](const varattn::plan& p) {
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    const varattn::device_work work = p.device();
    int32_t count = -1;
    VARATTN_CUDA_CHECK(cudaMemcpy(&count, work.count, sizeof count, cudaMemcpyDeviceToHost));
    std::vector<varattn::work_item> got(static_cast<std::size_t>(std::max(count, 0)));
    VARATTN_CUDA_CHECK(cudaMemcpy(got.data(), work.items, got.size() * sizeof(got[0]),
                                  cudaMemcpyDeviceToHost));
    return got;
  };
  const auto want = [&](const varattn::plan& p, const std::vector<int32_t>& lengths) {
    return test::class_ordered_list(lengths, lengths, p.tile().block_m, p.tile().block_n,
                                    varattn::detail::window{p.window_left(), p.window_right()},
                                    p.kernel().groups_segments());
  };
  const auto same = [](const std::vector<varattn::work_item>& a,
                       const std::vector<varattn::work_item>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (a[i].segment != b[i].segment || a[i].q_tile != b[i].q_tile) return false;
    }
    return true;
  };
  // The class ends beside the list (the Hopper forward's ranks, locate_class_rank): poisoned
  // with the items, so that a skip leaves both and a build rewrites both.
  using ends_t = std::array<int32_t, varattn::detail::kSegmentClasses>;
  ends_t poisoned_ends;
  poisoned_ends.fill(-1);
  const auto ends_of = [&](const varattn::plan& p) {
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    ends_t ends{};
    VARATTN_CUDA_CHECK(cudaMemcpy(ends.data(), p.device().class_ends, sizeof ends,
                                  cudaMemcpyDeviceToHost));
    return ends;
  };
  const auto want_ends = [&](const varattn::plan& p, const std::vector<int32_t>& lengths) {
    return test::class_ordered_ends(lengths, lengths, p.tile().block_m, p.tile().block_n,
                                    varattn::detail::window{p.window_left(), p.window_right()},
                                    p.kernel().groups_segments());
  };
  const auto poison_items = [&](const varattn::plan& p) {
    const varattn::device_work work = p.device();
    VARATTN_CUDA_CHECK(cudaMemsetAsync(const_cast<varattn::work_item*>(work.items), 0xff,
                                       std::size_t(work.capacity) * sizeof(varattn::work_item),
                                       s.stream));
    VARATTN_CUDA_CHECK(cudaMemsetAsync(const_cast<int32_t*>(work.class_ends), 0xff,
                                       sizeof(ends_t), s.stream));
  };
  // The workspace's history of full builds (as the op keeps one a cache entry): without it a
  // when_changed build on a caller's workspace is refused.
  varattn::build_history history;
  const auto build = [&](varattn::plan& p, varattn::rebuild when) {
    varattn::build_on_device(p, o.cu_span, o.cu_span, s.stream, when, &history);
  };
  const auto is_poisoned = [&](const varattn::plan& p) {
    const auto got = list_of(p);
    return !got.empty() && got[0].segment == -1 && got[0].q_tile == -1;
  };

  // A fresh history (as the op's new cache entry has): the first when_changed build is full,
  // whatever the header holds (zeroed here; the zeroed-header path itself is checked below).
  VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(workspace.data()), 0,
                                     varattn::plan::kHeaderBytes, s.stream));
  auto p = make(o.causal, -1);
  CHECK_THROWS_WITH_AS(
      varattn::build_on_device(p, o.cu_span, o.cu_span, s.stream, varattn::rebuild::when_changed),
      "build_on_device: rebuild::when_changed on a caller's workspace (plan::on_device) needs "
      "that workspace's build_history",
      varattn::error);
  build(p, varattn::rebuild::when_changed);
  CHECK(same(list_of(p), want(p, o.first)));
  CHECK(ends_of(p) == want_ends(p, o.first));
  // The same offsets and plan: skipped (the poison stays), and `always` writes it again.
  poison_items(p);
  build(p, varattn::rebuild::when_changed);
  CHECK(is_poisoned(p));
  CHECK(ends_of(p) == poisoned_ends);
  build(p, varattn::rebuild::always);
  CHECK(same(list_of(p), want(p, o.first)));
  CHECK(ends_of(p) == want_ends(p, o.first));
  // A plan made anew per call (as the op does) with the same parameters: still skipped.
  auto again = make(o.causal, -1);
  poison_items(again);
  build(again, varattn::rebuild::when_changed);
  CHECK(is_poisoned(again));
  CHECK(ends_of(again) == poisoned_ends);
  build(again, varattn::rebuild::always);
  // The offsets rewritten in place (same count and total): built. thrust writes `cu` outside
  // s.stream: the builds enqueued before must have read it first (under a sanitizer the
  // `always` build above ran after an unsynchronized copy and keyed the new offsets).
  VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
  thrust::copy(o.segs_b.offsets().begin(), o.segs_b.offsets().end(), o.cu.begin());
  poison_items(again);
  build(again, varattn::rebuild::when_changed);
  CHECK(same(list_of(again), want(again, o.second)));
  CHECK(ends_of(again) == want_ends(again, o.second));
  // Another plan on the same workspace and offsets (no mask; the short tile): built.
  for (const int32_t max_q : {-1, 64}) {
    CAPTURE(max_q);
    auto other = make(varattn::attention_options{}, max_q);
    // Without the hint the tile is the causal plan's: only the window tells the lists apart.
    if (max_q < 0) CHECK(other.tile().block_m == again.tile().block_m);
    poison_items(other);
    build(other, varattn::rebuild::when_changed);
    CHECK(same(list_of(other), want(other, o.second)));
    CHECK(ends_of(other) == want_ends(other, o.second));
  }
  // A failed build is never taken as unchanged: invalid offsets, reported; the same invalid
  // offsets again, reported again; then the valid ones, built.
  VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
  const std::vector<int32_t> saved(o.cu.begin(), o.cu.end());
  o.cu[2] = o.cu[1] - 1;  // decreasing
  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    build(again, varattn::rebuild::when_changed);
    CHECK(list_of(again).empty());  // count 0
    CHECK(ends_of(again) == ends_t{});  // no class beside count 0
    CHECK_THROWS_AS(again.raise_device_error(), varattn::error);
  }
  thrust::copy(saved.begin(), saved.end(), o.cu.begin());
  poison_items(again);
  build(again, varattn::rebuild::when_changed);
  CHECK(same(list_of(again), want(again, o.second)));
  CHECK(ends_of(again) == want_ends(again, o.second));
  CHECK_NOTHROW(again.raise_device_error());
  // The header zeroed: built.
  VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(workspace.data()), 0,
                                     varattn::plan::kHeaderBytes, s.stream));
  poison_items(again);
  build(again, varattn::rebuild::when_changed);
  CHECK(same(list_of(again), want(again, o.second)));
  CHECK(ends_of(again) == want_ends(again, o.second));
}

// A buffer whose header claims a successful build of these very offsets and plan while its
// items hold something else (memory an allocator handed over, a workspace first built only
// in a graph not replayed yet): the first when_changed build of each context (outside
// capture; each capture) must write the list all the same. The header is forged by copying
// a built plan's buffer over another's and poisoning the items.
TEST_CASE("device-built work lists: rebuild::when_changed never trusts a header its context "
          "did not build") {
  if (!test::instantiated(128)) return;
  const std::vector<int32_t> lengths = {476, 2016, 0, 1, 8192, 140, 65};
  const auto segs = varattn::segments::from_lengths(lengths);
  const int32_t rows = segs.total(), segments = static_cast<int32_t>(lengths.size());
  const varattn::attention_shape shape{2, 2, 128};
  varattn::attention_options causal;
  causal.causal = true;
  test::stream_guard s;
  const thrust::device_vector<int32_t> cu(segs.offsets());
  const varattn::device_span<const int32_t> cu_span{thrust::raw_pointer_cast(cu.data()),
                                                    cu.size()};
  auto built = varattn::plan::reserve_on_device(segments, rows, rows, shape, causal);
  varattn::build_on_device(built, cu_span, cu_span, s.stream);
  built.check_device_build(s.stream);
  const auto want = test::class_ordered_list(
      lengths, lengths, built.tile().block_m, built.tile().block_n,
      varattn::detail::window{built.window_left(), built.window_right()},
      built.kernel().groups_segments());
  // `p`'s buffer made to look built (built's bytes) with poisoned items.
  const auto forge = [&](const varattn::plan& p) {
    REQUIRE(p.device_bytes() == built.device_bytes());
    VARATTN_CUDA_CHECK(cudaMemcpyAsync(const_cast<int32_t*>(p.device().count), built.device().count,
                                       built.device_bytes(), cudaMemcpyDeviceToDevice, s.stream));
    const std::size_t item_bytes = std::size_t(p.device().capacity) * sizeof(varattn::work_item);
    VARATTN_CUDA_CHECK(cudaMemsetAsync(const_cast<varattn::work_item*>(p.device().items), 0xff,
                                       item_bytes, s.stream));
  };
  const auto holds_list = [&](const varattn::plan& p) {
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    int32_t count = -1;
    VARATTN_CUDA_CHECK(cudaMemcpy(&count, p.device().count, sizeof count, cudaMemcpyDeviceToHost));
    if (count != static_cast<int32_t>(want.size())) return false;
    std::vector<varattn::work_item> got(want.size());
    VARATTN_CUDA_CHECK(cudaMemcpy(got.data(), p.device().items, got.size() * sizeof(got[0]),
                                  cudaMemcpyDeviceToHost));
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (got[i].segment != want[i].segment || got[i].q_tile != want[i].q_tile) return false;
    }
    return true;
  };
  const auto when_changed = varattn::rebuild::when_changed;

  SUBCASE("a reserved plan's first build") {
    auto p = varattn::plan::reserve_on_device(segments, rows, rows, shape, causal);
    forge(p);
    varattn::build_on_device(p, cu_span, cu_span, s.stream, when_changed);
    CHECK(holds_list(p));
    forge(p);  // from now on the plan vouches for its buffer: skipped, the poison stays
    varattn::build_on_device(p, cu_span, cu_span, s.stream, when_changed);
    CHECK(!holds_list(p));
  }
  SUBCASE("the first eager build after a capture that was never replayed") {
    auto p = varattn::plan::reserve_on_device(segments, rows, rows, shape, causal);
    forge(p);
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    cudaGraph_t graph = nullptr;
    VARATTN_CUDA_CHECK(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeGlobal));
    varattn::build_on_device(p, cu_span, cu_span, s.stream, when_changed);  // full in the graph
    varattn::build_on_device(p, cu_span, cu_span, s.stream, when_changed);  // skipped on replay
    VARATTN_CUDA_CHECK(cudaStreamEndCapture(s.stream, &graph));
    cudaGraphExec_t exec = nullptr;
    VARATTN_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    varattn::build_on_device(p, cu_span, cu_span, s.stream, when_changed);  // eager: full
    CHECK(holds_list(p));
    forge(p);
    VARATTN_CUDA_CHECK(cudaGraphLaunch(exec, s.stream));
    CHECK(holds_list(p));
    VARATTN_CUDA_CHECK(cudaGraphExecDestroy(exec));
    VARATTN_CUDA_CHECK(cudaGraphDestroy(graph));
  }
  SUBCASE("a caller's workspace with its build_history") {
    thrust::device_vector<uint4> workspace((built.device_bytes() + 15) / 16);
    auto report = varattn::detail::make_pinned_array<varattn::device_report>(1);
    std::memset(report.get(), 0, sizeof(varattn::device_report));
    const varattn::plan_workspace ws{thrust::raw_pointer_cast(workspace.data()),
                                     workspace.size() * sizeof(uint4), report.get()};
    varattn::build_history history;
    auto p = varattn::plan::on_device(ws, segments, rows, rows, shape, causal);
    forge(p);
    varattn::build_on_device(p, cu_span, cu_span, s.stream, when_changed, &history);
    CHECK(holds_list(p));
    auto again = varattn::plan::on_device(ws, segments, rows, rows, shape, causal);
    forge(again);
    varattn::build_on_device(again, cu_span, cu_span, s.stream, when_changed, &history);
    CHECK(!holds_list(again));  // the history has a full build: skipped
  }
}

// A graph of two when_changed builds on one plan, replayed with the offsets rewritten in place
// between replays: the capture's first build is full at every replay (build_history), so it
// writes the current offsets' list (copied aside within the graph), and the second, after the
// items are poisoned, skips (it follows the first in the same replay: the key matches). Invalid
// offsets fail both builds (a failed build is never taken as unchanged) and are reported; the
// next replay with valid offsets writes their list again.
TEST_CASE("device-built work lists: one graph's builds follow offsets rewritten between replays") {
  if (!test::instantiated(128)) return;
  rewritable_offsets o;
  test::stream_guard s;
  auto p = varattn::plan::reserve_on_device(o.segments, o.rows, o.rows, o.shape, o.causal);
  const varattn::device_work work = p.device();
  auto* items = const_cast<varattn::work_item*>(work.items);
  const std::size_t item_bytes = std::size_t(work.capacity) * sizeof(varattn::work_item);
  thrust::device_vector<varattn::work_item> aside(static_cast<std::size_t>(work.capacity));
  const auto want = [&](const std::vector<int32_t>& lengths) {
    return test::class_ordered_list(lengths, lengths, p.tile().block_m, p.tile().block_n,
                                    varattn::detail::window{p.window_left(), p.window_right()},
                                    p.kernel().groups_segments());
  };
  const auto when_changed = varattn::rebuild::when_changed;

  cudaGraph_t graph = nullptr;
  VARATTN_CUDA_CHECK(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeGlobal));
  varattn::build_on_device(p, o.cu_span, o.cu_span, s.stream, when_changed);  // the capture's first
  VARATTN_CUDA_CHECK(cudaMemcpyAsync(thrust::raw_pointer_cast(aside.data()), items, item_bytes,
                                     cudaMemcpyDeviceToDevice, s.stream));
  VARATTN_CUDA_CHECK(cudaMemsetAsync(items, 0xff, item_bytes, s.stream));
  varattn::build_on_device(p, o.cu_span, o.cu_span, s.stream, when_changed);  // may skip
  VARATTN_CUDA_CHECK(cudaStreamEndCapture(s.stream, &graph));
  cudaGraphExec_t exec = nullptr;
  VARATTN_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));

  const auto replay_with = [&](const std::vector<int32_t>& offsets) {
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));  // thrust writes outside s.stream
    thrust::copy(offsets.begin(), offsets.end(), o.cu.begin());
    VARATTN_CUDA_CHECK(cudaGraphLaunch(exec, s.stream));
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
  };
  const auto count = [&] {
    int32_t c = -1;
    VARATTN_CUDA_CHECK(cudaMemcpy(&c, work.count, sizeof c, cudaMemcpyDeviceToHost));
    return c;
  };
  const auto first_build_wrote = [&](const std::vector<varattn::work_item>& expected) {
    std::vector<varattn::work_item> got(expected.size());
    VARATTN_CUDA_CHECK(cudaMemcpy(got.data(), thrust::raw_pointer_cast(aside.data()),
                                  got.size() * sizeof(got[0]), cudaMemcpyDeviceToHost));
    if (count() != static_cast<int32_t>(expected.size())) return false;
    for (std::size_t i = 0; i < got.size(); ++i) {
      if (got[i].segment != expected[i].segment || got[i].q_tile != expected[i].q_tile) {
        return false;
      }
    }
    return true;
  };
  const auto second_skipped = [&] {  // the poison is still there
    varattn::work_item head{};
    VARATTN_CUDA_CHECK(cudaMemcpy(&head, items, sizeof head, cudaMemcpyDeviceToHost));
    return head.segment == -1 && head.q_tile == -1;
  };

  for (int round = 0; round < 2; ++round) {
    CAPTURE(round);
    replay_with(o.segs_a.offsets());
    CHECK(first_build_wrote(want(o.first)));
    CHECK(second_skipped());
    CHECK_NOTHROW(p.raise_device_error());
    replay_with(o.segs_b.offsets());
    CHECK(first_build_wrote(want(o.second)));
    CHECK(second_skipped());
  }
  std::vector<int32_t> invalid = o.segs_a.offsets();
  invalid[2] = invalid[1] - 1;  // decreasing
  replay_with(invalid);
  CHECK(count() == 0);
  CHECK_THROWS_AS(p.raise_device_error(), varattn::error);
  replay_with(o.segs_a.offsets());
  CHECK(first_build_wrote(want(o.first)));
  CHECK(second_skipped());
  CHECK_NOTHROW(p.raise_device_error());
  VARATTN_CUDA_CHECK(cudaGraphExecDestroy(exec));
  VARATTN_CUDA_CHECK(cudaGraphDestroy(graph));
}
