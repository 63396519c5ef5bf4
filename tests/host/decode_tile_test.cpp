// SPDX-License-Identifier: Apache-2.0
// Decode tiles (kernel_config.hpp): which plans take them, how many query heads they pack,
// and that plans and workspaces sized for them cover every (segment, head, q-tile).
#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <tuple>
#include <varattn/plan.hpp>
#include <vector>

using varattn::attention_options;
using varattn::attention_shape;
using varattn::kernel_family;
using varattn::plan;
using varattn::segments;
namespace detail = varattn::detail;

TEST_CASE("decode_pack: the largest power of two dividing the group, at most 16") {
  const std::map<int32_t, int32_t> expected = {{1, 1}, {2, 2}, {3, 1},   {4, 4},   {6, 2},
                                               {8, 8}, {12, 4}, {16, 16}, {32, 16}, {48, 16}};
  for (const auto& [group, pack] : expected) {
    CAPTURE(group);
    CHECK(detail::decode_pack(group) == pack);
  }
}

TEST_CASE("select_kernel takes a decode tile when every segment fits one") {
  const varattn::device_arch hopper{9, 0}, ampere{8, 0};
  for (const varattn::device_arch arch : {hopper, ampere, varattn::device_arch{}}) {
    for (const int32_t group : {1, 2, 4, 8, 32}) {
      const int32_t pack = detail::decode_pack(group);
      const int32_t fits = 16 / pack;  // query rows a decode tile holds
      CAPTURE(group);
      const varattn::kernel_config c =
          varattn::select_kernel(arch, 128, fits, kernel_family::automatic, group);
      CHECK(c.family == kernel_family::sm80);
      CHECK(c.pack == pack);
      CHECK(c.tile.block_m == fits);
      CHECK(c.rows() == 16);
      CHECK(c.tile.warps == 1);
      CHECK(c == varattn::select_kernel(arch, 128, fits, kernel_family::sm80, group));
      // One more row: the short tile (or, on Hopper above 64 rows, the Hopper kernel).
      const varattn::kernel_config longer =
          varattn::select_kernel(arch, 128, fits + 1, kernel_family::automatic, group);
      CHECK(longer.pack == 1);
      CHECK(longer.tile.warps == 4);
    }
  }
  // An explicit sm90 request keeps the Hopper kernel.
  CHECK(varattn::select_kernel(hopper, 128, 1, kernel_family::sm90, 4).family ==
        kernel_family::sm90);
  // Head dims above 128 take 32 keys a step, as the short tile's warps do.
  CHECK(detail::decode_config(256, 4).tile.block_n == 32);
  CHECK(detail::decode_config(128, 4).tile.block_n == 64);
}

TEST_CASE("a per_segment decode plan: one tile a segment, every (segment, head) visited once") {
  attention_options sm80;  // no device read
  sm80.kernel = kernel_family::sm80;
  const std::vector<int32_t> lengths_q = {1, 0, 4, 3, 2, 1, 4};
  const std::vector<int32_t> lengths_k = {900, 5, 0, 2048, 33, 1, 257};
  const segments q = segments::from_lengths(lengths_q, "cu_seqlens_q");
  const segments k = segments::from_lengths(lengths_k, "cu_seqlens_k");
  {  // per_segment: no upload (fused plans' decode items are checked on the GPU)
    const plan p =
        plan::make(q, k, attention_shape{32, 8, 128}, sm80, varattn::launch_policy::per_segment);
    CHECK(p.kernel().pack == 4);
    CHECK(p.tile().block_m == 4);
    std::map<std::tuple<int32_t, int32_t, int32_t>, int> seen;
    p.for_each_work_item([&](int32_t s, int32_t head, int32_t tile) { ++seen[{s, head, tile}]; });
    std::size_t expected = 0;
    for (std::size_t s = 0; s < lengths_q.size(); ++s) {
      if (lengths_q[s] == 0) continue;
      for (int32_t head = 0; head < 32; ++head) {
        CHECK(seen[{static_cast<int32_t>(s), head, 0}] == 1);
        ++expected;
      }
    }
    CHECK(seen.size() == expected);
    // One launch a non-empty segment, one tile each.
    for (const varattn::segment_launch& l : p.launches()) CHECK(l.q_tiles == 1);
  }
}

TEST_CASE("workspace_bytes covers device-built decode plans of every group size") {
  attention_options sm80;
  sm80.kernel = kernel_family::sm80;
  alignas(16) static unsigned char memory[1 << 20];
  varattn::device_report report{};
  for (const int32_t max_q : {1, 2, 3, 4, 8, 16, 17}) {
    for (const int32_t group : {1, 2, 4, 8, 16, 32}) {
      for (const int32_t rows_q : {0, 1, 100, 4000}) {
        CAPTURE(max_q);
        CAPTURE(group);
        CAPTURE(rows_q);
        const int32_t segment_count = 50;
        const attention_shape shape{32, 32 / group, 64};
        // The bound from on_device's arguments, and the one from the head dim alone (any group).
        const std::size_t exact = plan::workspace_bytes(segment_count, rows_q, shape, sm80, max_q);
        const std::size_t bytes = plan::workspace_bytes(segment_count, rows_q, 64, max_q);
        CHECK(exact <= bytes);
        REQUIRE(bytes <= sizeof(memory));
        for (const std::size_t given : {exact, bytes}) {
          const plan p =
              plan::on_device({memory, given, &report}, segment_count, rows_q, rows_q, shape,
                              sm80, max_q);
          // on_device checked the bytes against the plan's buffers (it throws when short).
          CHECK(p.kernel().pack ==
                (detail::decode_fits(max_q, group) ? detail::decode_pack(group) : 1));
        }
      }
    }
  }
}
