// SPDX-License-Identifier: Apache-2.0
// The fused plan's upload: one asynchronous copy of [count, status, cu_q, cu_k, class ends,
// items] from pinned memory, an event recorded after it on the same stream, and forwards
// ordered after that event; a per_segment plan makes no CUDA call at all.
#include <doctest/doctest.h>

#include "stub_checks.hpp"

#include <cstdint>
#include <varattn/plan.hpp>
#include <vector>

using stub::call_kind;
using varattn::launch_policy;
using varattn::plan;
using varattn::segments;

namespace {
const cudaStream_t stream_a = stub::fake_stream(1);
const cudaStream_t stream_b = stub::fake_stream(2);
}  // namespace

TEST_CASE("a fused plan uploads once on its stream, then records its event there") {
  const stub::clean_scope scope;
  const segments q = segments::from_lengths({100, 0, 7, 300}, "cu_seqlens_q");
  const segments k = segments::from_lengths({90, 4, 7, 310}, "cu_seqlens_k");
  const plan p = plan::make(q, k, {8, 2, 128}, {true}, launch_policy::fused, stream_a);
  REQUIRE(p.policy() == launch_policy::fused);

  const auto copies = stub::calls_of(call_kind::memcpy_async);
  const auto records = stub::calls_of(call_kind::event_record);
  const auto creates = stub::calls_of(call_kind::event_create);
  REQUIRE(copies.size() == 1);
  REQUIRE(records.size() == 1);
  REQUIRE(creates.size() == 1);
  CHECK(copies[0].stream == stream_a);
  CHECK(copies[0].copy_kind == cudaMemcpyHostToDevice);
  CHECK(copies[0].ptr == p.device().count);
  // From pinned memory, or the copy would not be asynchronous.
  CHECK(stub::is_pinned(copies[0].src, copies[0].bytes));
  CHECK(records[0].stream == stream_a);
  CHECK(records[0].event == creates[0].event);
  // The record follows the copy: it is what later streams wait on.
  std::size_t copy_at = 0, record_at = 0;
  for (std::size_t i = 0; i < stub::calls().size(); ++i) {
    if (stub::calls()[i].kind == call_kind::memcpy_async) copy_at = i;
    if (stub::calls()[i].kind == call_kind::event_record) record_at = i;
  }
  CHECK(copy_at < record_at);
  // No host wait of any kind.
  CHECK(stub::count(call_kind::stream_synchronize) == 0);
  CHECK(stub::count(call_kind::event_synchronize) == 0);

  // What arrived (the stub copied it at once into malloc-backed "device" memory).
  const varattn::device_work w = p.device();
  CHECK(*w.count == static_cast<int32_t>(p.work().size()));
  CHECK(w.capacity == static_cast<int32_t>(p.work().size()));
  CHECK(*w.status == 0);
  CHECK(std::vector<int32_t>(w.cu_q, w.cu_q + q.offsets().size()) == q.offsets());
  CHECK(std::vector<int32_t>(w.cu_k, w.cu_k + k.offsets().size()) == k.offsets());
  REQUIRE(!p.work().empty());
  for (std::size_t i = 0; i < p.work().size(); ++i) {
    CAPTURE(i);
    CHECK(w.items[i].segment == p.work()[i].segment);
    CHECK(w.items[i].q_tile == p.work()[i].q_tile);
  }
  // The class ends (locate_class_rank: the Hopper forward's class-major ranks), between cu_k
  // and the items: each item's step class counted along the list, as the device's builder
  // places it (tile_steps), largest class first, ending at the count.
  const varattn::tile_shape tile = p.tile();
  const varattn::detail::window window{p.window_left(), p.window_right()};
  std::vector<int32_t> ends(varattn::detail::kSegmentClasses, 0);
  for (const varattn::work_item& item : p.work()) {
    REQUIRE(!item.is_group());  // the sm90 / sm80 tall tiles here do not group
    const int32_t steps =
        varattn::detail::tile_steps(q[item.segment].length, k[item.segment].length, item.q_tile,
                                    tile.block_m, tile.block_n, window);
    ++ends[static_cast<std::size_t>(varattn::detail::size_class_slot(steps))];
  }
  for (std::size_t slot = 1; slot < ends.size(); ++slot) ends[slot] += ends[slot - 1];
  CHECK(std::vector<int32_t>(w.class_ends, w.class_ends + ends.size()) == ends);
  CHECK(ends.back() == static_cast<int32_t>(p.work().size()));
  const auto host_ends = varattn::detail::list_class_ends(p.work(), q, k, tile.block_m,
                                                          tile.block_n, window);
  CHECK(std::vector<int32_t>(host_ends.begin(), host_ends.end()) == ends);
  CHECK(w.class_ends == w.cu_k + k.offsets().size());
  // The copy covers the whole buffer, items included.
  const auto* end = reinterpret_cast<const char*>(w.items + p.work().size());
  CHECK(copies[0].bytes == static_cast<std::size_t>(end - reinterpret_cast<const char*>(w.count)));
  CHECK(reinterpret_cast<std::uintptr_t>(w.items) % 16 == 0);

  SUBCASE("order_after_upload waits on that event, on the forward's stream") {
    stub::reset();
    p.order_after_upload(stream_b);
    const auto waits = stub::calls_of(call_kind::stream_wait_event);
    REQUIRE(waits.size() == 1);
    CHECK(waits[0].stream == stream_b);
    CHECK(waits[0].event == creates[0].event);
    CHECK(waits[0].flags == cudaEventWaitDefault);
    CHECK(stub::count(call_kind::stream_synchronize) == 0);
    CHECK(stub::count(call_kind::memcpy_async) == 0);
  }
  SUBCASE("under graph capture the wait is an external-event node") {
    stub::reset();
    stub::set_capturing(true);
    p.order_after_upload(stream_b);
    const auto queries = stub::calls_of(call_kind::stream_is_capturing);
    REQUIRE(queries.size() == 1);
    CHECK(queries[0].stream == stream_b);
    const auto waits = stub::calls_of(call_kind::stream_wait_event);
    REQUIRE(waits.size() == 1);
    CHECK(waits[0].stream == stream_b);
    CHECK(waits[0].event == creates[0].event);
    CHECK(waits[0].flags == cudaEventWaitExternal);
    CHECK(cudaEventWaitExternal == 0x1);
  }
  SUBCASE("a failed wait is reported, not ignored") {
    stub::reset();
    stub::fail_next(call_kind::stream_wait_event, cudaErrorInvalidResourceHandle);
    CHECK_THROWS_AS(p.order_after_upload(stream_b), varattn::error);
  }
}

TEST_CASE("a bucketed plan orders the forward after every bucket's upload") {
  const stub::clean_scope scope;
  const segments q = segments::from_lengths({10, 300, 40}, "cu_seqlens_q");
  const plan p = plan::make(q, q, {4, 2, 64}, {}, launch_policy::bucketed, stream_a);
  REQUIRE(p.buckets().size() == 2);
  const auto creates = stub::calls_of(call_kind::event_create);
  CHECK(stub::count(call_kind::memcpy_async) == 2);
  for (const stub::call& c : stub::calls_of(call_kind::memcpy_async)) CHECK(c.stream == stream_a);
  stub::reset();
  p.order_after_upload(stream_b);
  const auto waits = stub::calls_of(call_kind::stream_wait_event);
  REQUIRE(waits.size() == 2);
  REQUIRE(creates.size() == 2);
  CHECK(waits[0].event == creates[0].event);
  CHECK(waits[1].event == creates[1].event);
  for (const stub::call& c : waits) CHECK(c.stream == stream_b);
}

TEST_CASE("a per_segment plan makes no CUDA call, in make or in order_after_upload") {
  const stub::clean_scope scope;
  const segments q = segments::from_lengths({100, 0, 7, 300}, "cu_seqlens_q");
  const plan p = plan::make(q, q, {8, 2, 128}, {}, launch_policy::per_segment, stream_a);
  p.order_after_upload(stream_b);
  // automatic with one segment resolves to per_segment: host only too.
  const segments one = segments::from_lengths({300});
  const plan single = plan::make(one, one, {4, 4, 64}, {}, launch_policy::automatic, stream_a);
  CHECK(single.policy() == launch_policy::per_segment);
  single.order_after_upload(stream_b);
  CHECK(stub::calls().empty());
}

TEST_CASE("a fused plan with no work item uploads its header and no items") {
  const stub::clean_scope scope;
  // Every segment empty: the work list is empty, so its data() may be null; the plan must
  // not pass that to memcpy (the sanitized build of this test reports it if it does).
  for (const std::vector<int32_t>& lengths :
       {std::vector<int32_t>{0, 0}, std::vector<int32_t>{0}, std::vector<int32_t>{}}) {
    CAPTURE(lengths.size());
    const segments q = segments::from_lengths(lengths, "cu_seqlens_q");
    stub::reset();
    const plan p = plan::make(q, q, {4, 2, 64}, {}, launch_policy::fused, stream_a);
    CHECK(p.work().empty());
    const varattn::device_work w = p.device();
    CHECK(w.capacity == 0);
    CHECK(*w.count == 0);
    CHECK(*w.status == 0);
    CHECK(std::vector<int32_t>(w.cu_q, w.cu_q + q.offsets().size()) == q.offsets());
    // No items: every class ends at 0 (no rank decodes).
    CHECK(std::vector<int32_t>(w.class_ends, w.class_ends + varattn::detail::kSegmentClasses) ==
          std::vector<int32_t>(varattn::detail::kSegmentClasses, 0));
    CHECK(stub::count(call_kind::memcpy_async) == 1);
    p.order_after_upload(stream_b);
    CHECK(stub::count(call_kind::stream_wait_event) == 1);
    int visits = 0;
    p.for_each_work_item([&](int32_t, int32_t, int32_t) { ++visits; });
    CHECK(visits == 0);
  }
}
