// SPDX-License-Identifier: Apache-2.0
// Hopper GQA packing (detail::hopper_pack): which plans pack a kv head's query heads into one
// Hopper tile, how many queries a tile then covers (the work list's unit, both builders'),
// that d80's long-segment tile never packs, and that workspace_bytes bounds a device-built
// plan's packed list: exactly from on_device's arguments, and for any group from the head dim.
#include "stub_checks.hpp"

#include <varattn/kernel_config.hpp>
#include <varattn/plan.hpp>
#include <varattn/validate.hpp>

#include <cuda_bf16.h>

#include <cstdint>
#include <doctest/doctest.h>
#include <vector>

using varattn::kernel_family;
using varattn::launch_policy;
using varattn::plan;
using varattn::segments;

namespace {

const cudaStream_t stream_a = stub::fake_stream(1);
const varattn::device_arch hopper{9, 0};

varattn::attention_options causal() {
  varattn::attention_options o;
  o.causal = true;
  return o;
}

// Host memory stands in for the caller's device workspace: on_device never touches it.
struct alignas(16) block {
  unsigned char bytes[16];
};

}  // namespace

TEST_CASE("hopper_pack: whole power-of-two groups dividing the tile, under a window only") {
  using varattn::detail::hopper_pack;
  CHECK(hopper_pack(128, 4, true) == 4);
  CHECK(hopper_pack(128, 128, true) == 128);
  CHECK(hopper_pack(192, 32, true) == 32);
  CHECK(hopper_pack(192, 64, true) == 64);
  CHECK(hopper_pack(192, 128, true) == 1);  // does not divide 192
  CHECK(hopper_pack(128, 256, true) == 1);  // more heads than rows
  CHECK(hopper_pack(128, 6, true) == 1);    // not a power of two
  CHECK(hopper_pack(128, 1, true) == 1);
  CHECK(hopper_pack(128, 0, true) == 1);
  CHECK(hopper_pack(128, 4, false) == 1);  // no window: unpacked
}

TEST_CASE("select_kernel packs the Hopper tile for windowed GQA plans, same kernel") {
  for (const kernel_family request : {kernel_family::automatic, kernel_family::sm90}) {
    for (const int32_t d : {64, 128, 256}) {
      CAPTURE(d);
      const varattn::kernel_config plain = varattn::select_kernel(hopper, d, 1000, request, 8);
      const varattn::kernel_config packed =
          varattn::select_kernel(hopper, d, 1000, request, 8, true);
      CHECK(plain.pack == 1);
      CHECK(packed.family == kernel_family::sm90);
      CHECK(packed.pack == 8);
      CHECK(packed.tile.block_m * 8 == plain.tile.block_m);
      CHECK(packed.same_kernel(plain));  // one compiled tile shape; Packed is its own kernel
      CHECK(!(packed == plain));
    }
  }
  // The sm80 family and the decode tile never take it; nor does a GQA group of 3.
  CHECK(varattn::select_kernel(hopper, 128, 1000, kernel_family::sm80, 8, true).pack == 1);
  CHECK(varattn::select_kernel(hopper, 128, 2, kernel_family::automatic, 8, true) ==
        varattn::detail::decode_config(128, 8));
  CHECK(varattn::select_kernel(hopper, 128, 1000, kernel_family::automatic, 3, true).pack == 1);
  CHECK(varattn::select_kernel({8, 0}, 128, 1000, kernel_family::automatic, 8, true).pack == 1);
}

TEST_CASE("a causal GQA plan on sm_90 lists tiles of block_m / g queries, every policy") {
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  const std::vector<int32_t> lengths = {1, 0, 77, 300, 33};
  const segments segs = segments::from_lengths(lengths);
  constexpr varattn::attention_shape gqa{16, 4, 128};  // g 4: 32 queries a tile
  for (const launch_policy policy : {launch_policy::per_segment, launch_policy::fused}) {
    CAPTURE(static_cast<int>(policy));
    const plan p = plan::make(segs, segs, gqa, causal(), policy, stream_a);
    CHECK(p.kernel().pack == 4);
    CHECK(p.tile().block_m == 32);
    int64_t tiles = 0;
    for (const int32_t length : lengths) tiles += varattn::ceil_div(length, 32);
    if (policy == launch_policy::fused) {
      CHECK(static_cast<int64_t>(p.work().size()) == tiles);
    } else {
      int64_t launched = 0;
      for (const auto& launch : p.launches()) launched += launch.q_tiles;
      CHECK(launched == tiles);
    }
    // Every (segment, head, q tile) once: 16 heads of each 32-query tile.
    int64_t calls = 0;
    p.for_each_work_item([&](int32_t, int32_t, int32_t) { ++calls; });
    CHECK(calls == tiles * 16);
  }
  // Not causal: unpacked. MQA 32:1 at head dim 64: 6 queries a 192-row tile.
  CHECK(plan::make(segs, segs, gqa, {}, launch_policy::fused, stream_a).kernel().pack == 1);
  const plan mqa = plan::make(segs, segs, {32, 1, 64}, causal(), launch_policy::fused, stream_a);
  CHECK(mqa.kernel().pack == 32);
  CHECK(mqa.tile().block_m == 6);
}

TEST_CASE("workspace_bytes from on_device's arguments bounds a packed device-built plan's list") {
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  constexpr varattn::attention_shape mqa{32, 1, 128};  // 4 queries a tile
  const int32_t segments_n = 3, rows = 350;
  const plan reserved = plan::reserve_on_device(segments_n, rows, rows, mqa, causal());
  CHECK(reserved.kernel().pack == 32);
  CHECK(reserved.device().capacity == rows / 4 + segments_n);
  const std::size_t bytes = plan::workspace_bytes(segments_n, rows, mqa, causal());
  CHECK(bytes == reserved.device_bytes());  // exact: Hopper's tile covers the fewest queries
  CHECK(bytes > plan::workspace_bytes(segments_n, rows, mqa));  // not causal: unpacked
  std::vector<block> memory(bytes / sizeof(block) + 1);
  varattn::device_report report{};
  const plan p =
      plan::on_device({memory.data(), bytes, &report}, segments_n, rows, rows, mqa, causal());
  CHECK(p.device().capacity == reserved.device().capacity);
  // Sized for another plan (unpacked: no window), the workspace is short for this one.
  const std::size_t unpacked = plan::workspace_bytes(segments_n, rows, mqa);
  CHECK_THROWS_AS(
      plan::on_device({memory.data(), unpacked, &report}, segments_n, rows, rows, mqa, causal()),
      varattn::error);
  // on_device's heads checks, before any sizing.
  CHECK_THROWS_WITH_AS(plan::workspace_bytes(segments_n, rows, {32, 0, 128}, causal()),
                       "heads_kv = 0 must be positive", varattn::error);
  CHECK_THROWS_WITH_AS(plan::workspace_bytes(segments_n, rows, {6, 4, 128}, causal()),
                       "heads_q = 6 is not a multiple of heads_kv = 4", varattn::error);
}

TEST_CASE("workspace_bytes from the head dim alone bounds every group's packed plan") {
  // The call from before the packing cannot know the group: it must still size any plan
  // that on_device makes for that head dim (a packed tile down to 1 query at g = 128).
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  std::vector<block> memory;
  varattn::device_report report{};
  for (const int32_t d : {64, 72, 80, 96, 128, 256}) {
    if (!varattn::head_dims::contains(d)) continue;
    for (const int32_t g : {1, 2, 4, 8, 16, 32, 64, 128}) {
      for (const int32_t max_q : {-1, 1, 16, 17, 100, 3000}) {
        for (const int32_t rows : {0, 1, 350, 5000}) {
          CAPTURE(d);
          CAPTURE(g);
          CAPTURE(max_q);
          CAPTURE(rows);
          const int32_t segments_n = rows == 0 ? 1 : 3;
          const varattn::attention_shape shape{g, 1, d};
          const std::size_t bytes = plan::workspace_bytes(segments_n, rows, d, max_q);
          const std::size_t exact = plan::workspace_bytes(segments_n, rows, shape, causal(), max_q);
          CHECK(exact <= bytes);
          memory.resize(bytes / sizeof(block) + 1);
          for (const std::size_t given : {exact, bytes}) {
            const plan p = plan::on_device({memory.data(), given, &report}, segments_n, rows, rows,
                                           shape, causal(), max_q);
            CHECK(p.device_bytes() <= given);
          }
        }
      }
    }
  }
}

TEST_CASE("workspace_bytes bounds a packed d80 plan without max_q_length over 2048 rows") {
  // Without max_q_length a device-built plan selects at min(rows_q, kLongSegment - 1) queries
  // (never d80's 192-row tile): the bound must use the same length, or it would count
  // 192 / g queries a tile against the plan's 128 / g.
  if (!varattn::head_dims::contains(80)) return;
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  for (const int32_t g : {2, 4, 8, 32}) {
    CAPTURE(g);
    const varattn::attention_shape shape{g, 1, 80};
    for (const int32_t rows : {2047, 2048, 5000}) {
      CAPTURE(rows);
      const std::size_t bytes = plan::workspace_bytes(2, rows, shape, causal());
      std::vector<block> memory(bytes / sizeof(block) + 1);
      varattn::device_report report{};
      const plan p = plan::on_device({memory.data(), bytes, &report}, 2, rows, rows, shape, causal());
      CHECK(p.kernel().pack == g);
      CHECK(p.device_bytes() <= bytes);
    }
  }
}

TEST_CASE("d80's long-segment tile (192 x 144, P in shared memory) never packs") {
  // Packed it spilled more and nothing times it (review_s36_pack_gqa.md, F3): hopper_pack's
  // gate leaves it out, in select_kernel and so in the host- and the device-built plans alike.
  using varattn::detail::sm90_tile;
  using varattn::detail::sm90_tile_packs;
  CHECK(!sm90_tile_packs(80, sm90_tile(80, true)));
  CHECK(sm90_tile_packs(80, sm90_tile(80, false)));
  for (const int32_t d : {64, 72, 96, 128, 256}) {
    CAPTURE(d);
    CHECK(sm90_tile_packs(d, sm90_tile(d, true)));
  }
  for (const kernel_family request : {kernel_family::automatic, kernel_family::sm90}) {
    for (const int32_t g : {2, 4, 8, 16, 32, 64}) {
      CAPTURE(g);
      const varattn::kernel_config tall =
          varattn::select_kernel(hopper, 80, varattn::detail::kLongSegment, request, g, true);
      CHECK(tall == sm90_tile(80, true));  // unpacked: 192 queries, pack 1
      CHECK(tall.tile.block_m == 192);
      // Below kLongSegment the 128-row tile packs as at other head dims.
      const varattn::kernel_config shorter = varattn::select_kernel(
          hopper, 80, varattn::detail::kLongSegment - 1, request, g, true);
      CHECK(shorter.pack == g);
      CHECK(shorter.tile.block_m * g == 128);
    }
  }
  if (!varattn::head_dims::contains(80)) return;
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  const std::vector<int32_t> lengths = {2100, 5, 300};
  const segments segs = segments::from_lengths(lengths);
  const int32_t rows = 2405;
  for (const int32_t g : {2, 8}) {
    CAPTURE(g);
    const varattn::attention_shape shape{g * 2, 2, 80};
    const plan host = plan::make(segs, segs, shape, causal(), launch_policy::fused, stream_a);
    CHECK(host.kernel() == sm90_tile(80, true));
    CHECK(host.work().size() == 11 + 1 + 2);  // ceil(L / 192) a segment
    // The device-built plan given the same bound picks the same tile; so does the bucketed
    // plan's long bucket (segments above kShortSegment: 2100 and 300).
    const std::size_t bytes = plan::workspace_bytes(3, rows, shape, causal(), 2100);
    std::vector<block> memory(bytes / sizeof(block) + 1);
    varattn::device_report report{};
    const plan device =
        plan::on_device({memory.data(), bytes, &report}, 3, rows, rows, shape, causal(), 2100);
    CHECK(device.kernel() == host.kernel());
    CHECK(device.device().capacity == rows / 192 + 3);
    const plan bucketed =
        plan::make(segs, segs, shape, causal(), launch_policy::bucketed, stream_a);
    REQUIRE(bucketed.buckets().size() == 2);
    CHECK(bucketed.buckets().back().kernel() == sm90_tile(80, true));
    CHECK(bucketed.buckets().back().work().size() == 11 + 2);
  }
}

TEST_CASE("a packed plan refuses q with head_stride 0 before any launch, every policy") {
  // The packed Q box holds g distinct heads. validate() refuses before the first launch: in
  // the launch, a bucketed plan's short (sm80) bucket would already have written o.
  if (!varattn::head_dims::contains(128)) return;
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  using element = __nv_bfloat16;
  using view = varattn::packed_view<element>;
  const segments segs = segments::from_lengths({300, 10});
  alignas(16) static element storage[4 * 310 * 8 * 128];
  view q = view::contiguous(storage, 310, 8, 128);
  q.head_stride = 0;  // every q head reads the same elements
  q.token_stride = 128;
  const view k = view::contiguous(storage + 310 * 8 * 128, 310, 2, 128);
  const view v = view::contiguous(storage + 2 * 310 * 8 * 128, 310, 2, 128);
  const view o = view::contiguous(storage + 3 * 310 * 8 * 128, 310, 8, 128);
  for (const launch_policy policy :
       {launch_policy::per_segment, launch_policy::fused, launch_policy::bucketed}) {
    CAPTURE(static_cast<int>(policy));
    const plan p = plan::make(segs, segs, {8, 2, 128}, causal(), policy, stream_a);
    CHECK_THROWS_WITH_AS(varattn::validate<element>(p, q, k, v, o),
                         "q.head_stride = 0: a GQA-packed Hopper tile loads 4 distinct heads a "
                         "box (make the plan with attention_options::kernel = "
                         "kernel_family::sm80, or pass distinct heads)",
                         varattn::error);
    // Unpacked (no window) and sm80 plans take it, as before.
    CHECK_NOTHROW(varattn::validate<element>(
        plan::make(segs, segs, {8, 2, 128}, {}, policy, stream_a), q, k, v, o));
    varattn::attention_options sm80 = causal();
    sm80.kernel = kernel_family::sm80;
    CHECK_NOTHROW(varattn::validate<element>(plan::make(segs, segs, {8, 2, 128}, sm80, policy,
                                                        stream_a),
                                             q, k, v, o));
  }
}
