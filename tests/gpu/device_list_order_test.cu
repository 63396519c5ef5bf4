// SPDX-License-Identifier: Apache-2.0
// The fused forward's work list built on the device (device_plan.cuh) is exactly the stable
// size-class order (tests/common/list_order_reference.hpp): classes largest first, segment
// order within a class, a run's largest tile first, short segments grouped within each
// builder thread's range. The order only moves time, never results
// (the other GPU tests check those); this pins it, as the benchmarks' figures depend on it.
// And the backward's grid ranks map onto its k list (locate_rank_in_warp) as the host's
// reference locate_rank says, holes past the total included.
#include <varattn/detail/backward/work_list.cuh>

#include <algorithm>
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
__global__ void locate_every_rank(const int32_t* counts, int32_t units, int32_t ranks,
                                  int3* out) {
  // Whole warps over every rank: a warp's lanes ask for 32 different ranks, one at a time.
  const int32_t lane = static_cast<int32_t>(threadIdx.x % 32);
  const int32_t warp = static_cast<int32_t>((blockIdx.x * blockDim.x + threadIdx.x) / 32);
  for (int32_t i = 0; i < 32; ++i) {
    const int32_t rank = warp * 32 + i;
    const varattn::detail::listed_rank at =
        varattn::detail::locate_rank_in_warp(rank, counts, units);
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
    thrust::device_vector<int3> d_out(static_cast<std::size_t>(ranks), int3{-1, -1, -1});
    const int32_t warps = (ranks + 31) / 32;
    locate_every_rank<<<(warps + 3) / 4, 128>>>(thrust::raw_pointer_cast(d_counts.data()), units,
                                                ranks, thrust::raw_pointer_cast(d_out.data()));
    VARATTN_CUDA_CHECK(cudaGetLastError());
    VARATTN_CUDA_CHECK(cudaDeviceSynchronize());
    const std::vector<int3> got(d_out.begin(), d_out.end());
    int32_t mismatches = 0;
    for (int32_t r = 0; r < ranks; ++r) {
      const varattn::detail::listed_rank want =
          varattn::detail::locate_rank(r, counts.data(), units);
      const int3 g = got[static_cast<std::size_t>(r)];
      if (g.x != (want.found ? 1 : 0) || (want.found && (g.y != want.unit || g.z != want.index))) {
        ++mismatches;
      }
    }
    CHECK(mismatches == 0);
  }
}
