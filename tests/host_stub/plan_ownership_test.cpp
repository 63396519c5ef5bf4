// SPDX-License-Identifier: Apache-2.0
// Move-only plans: a moved-from plan refuses every use by name, the plan it moved into works
// on the same device buffers, and each allocation is freed exactly once, whatever the moves.
#include <doctest/doctest.h>

#include "stub_checks.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <varattn/plan.hpp>
#include <vector>

using varattn::launch_policy;
using varattn::plan;
using varattn::segments;

static_assert(!std::is_copy_constructible_v<plan>);
static_assert(!std::is_copy_assignable_v<plan>);
static_assert(std::is_nothrow_move_constructible_v<plan>);
static_assert(std::is_nothrow_move_assignable_v<plan>);

namespace {

const cudaStream_t stream_a = stub::fake_stream(1);

const segments q_segs = segments::from_lengths({10, 300, 40}, "cu_seqlens_q");
const segments k_segs = segments::from_lengths({12, 310, 5}, "cu_seqlens_k");
constexpr varattn::attention_shape shape{4, 2, 64};

enum class kind { per_segment, fused, bucketed, reserved };
const kind all_kinds[] = {kind::per_segment, kind::fused, kind::bucketed, kind::reserved};

const char* name_of(kind k) {
  switch (k) {
    case kind::per_segment: return "per_segment";
    case kind::fused: return "fused";
    case kind::bucketed: return "bucketed";
    case kind::reserved: return "reserve_on_device";
  }
  return "?";
}

plan make(kind k) {
  switch (k) {
    case kind::per_segment:
      return plan::make(q_segs, k_segs, shape, {}, launch_policy::per_segment, stream_a);
    case kind::fused: return plan::make(q_segs, k_segs, shape, {}, launch_policy::fused, stream_a);
    case kind::bucketed:
      return plan::make(q_segs, k_segs, shape, {}, launch_policy::bucketed, stream_a);
    case kind::reserved: return plan::reserve_on_device(3, 350, 327, shape);
  }
  throw 0;
}

// Allocations (device, pinned, events) each kind of plan above makes: a fused plan a device
// buffer, its pinned staging and an event; the bucketed one splits into two fused buckets.
struct owned {
  std::size_t device, pinned, events;
};
owned owned_by(kind k) {
  switch (k) {
    case kind::per_segment: return {0, 0, 0};
    case kind::fused: return {1, 1, 1};
    case kind::bucketed: return {2, 2, 2};
    case kind::reserved: return {1, 1, 0};
  }
  return {};
}

// What a plan does, compared before and after a move. device() only for fused plans: the
// others have no device buffer to point into.
struct snapshot {
  launch_policy policy{};
  int32_t segment_count = 0, rows_q = 0, rows_k = 0;
  bool built_on_device = false;
  std::vector<std::tuple<int32_t, int32_t, int32_t>> visits;
  std::vector<std::pair<int32_t, int32_t>> work;
  std::vector<std::tuple<int32_t, int32_t, int32_t>> launches;
  std::vector<const void*> device;
  std::vector<int32_t> capacity;

  bool operator==(const snapshot& o) const {
    return std::tie(policy, segment_count, rows_q, rows_k, built_on_device, visits, work,
                    launches, device, capacity) ==
           std::tie(o.policy, o.segment_count, o.rows_q, o.rows_k, o.built_on_device, o.visits,
                    o.work, o.launches, o.device, o.capacity);
  }
};

void add_device(snapshot& s, const plan& p) {
  if (p.policy() != launch_policy::fused) return;
  const varattn::device_work w = p.device();
  s.device.insert(s.device.end(), {w.count, w.status, w.cu_q, w.cu_k, w.items});
  s.capacity.push_back(w.capacity);
}

snapshot snapshot_of(const plan& p) {
  snapshot s;
  s.policy = p.policy();
  s.segment_count = p.segment_count();
  s.rows_q = p.rows_q();
  s.rows_k = p.rows_k();
  s.built_on_device = p.built_on_device();
  if (!p.built_on_device()) {
    p.for_each_work_item([&](int32_t seg, int32_t head, int32_t tile) {
      s.visits.emplace_back(seg, head, tile);
    });
  }
  for (const varattn::work_item& w : p.work()) s.work.emplace_back(w.segment, w.q_tile);
  for (const varattn::segment_launch& l : p.launches()) {
    s.launches.emplace_back(l.segment, l.q_begin, l.q_tiles);
  }
  add_device(s, p);
  for (const plan& bucket : p.buckets()) add_device(s, bucket);
  return s;
}

std::string moved_from(const char* caller) {
  return std::string(caller) + ": the plan is empty (moved from); make a new one";
}

void check_moved_from(const plan& a) {
  CHECK(a.empty());
  CHECK_THROWS_WITH_AS(a.for_each_work_item([](int32_t, int32_t, int32_t) {}),
                       moved_from("for_each_work_item").c_str(), varattn::error);
  CHECK_THROWS_WITH_AS(a.raise_device_error(), moved_from("raise_device_error").c_str(),
                       varattn::error);
  CHECK_THROWS_WITH_AS(a.check_device_build(stream_a), moved_from("check_device_build").c_str(),
                       varattn::error);
  CHECK_THROWS_WITH_AS(a.require_runnable("forward"), moved_from("forward").c_str(),
                       varattn::error);
  CHECK_THROWS_WITH_AS(a.require_usable("build_on_device"),
                       moved_from("build_on_device").c_str(), varattn::error);
  // The refusals come before any CUDA call (check_device_build would synchronize).
  CHECK(stub::count(stub::call_kind::stream_synchronize) == 0);
}

void check_works(const plan& b, kind k, const snapshot& before) {
  CHECK_FALSE(b.empty());
  CHECK(snapshot_of(b) == before);
  CHECK_NOTHROW(b.raise_device_error());
  if (k == kind::reserved) {
    CHECK_THROWS_WITH_AS(b.require_runnable("forward"),
                         "forward: the plan was reserved on the device but build_on_device was "
                         "never called on it",
                         varattn::error);
  } else {
    CHECK_NOTHROW(b.require_runnable("forward"));
  }
}

}  // namespace

TEST_CASE("a moved-from plan refuses every use by name; the plan moved into works unchanged") {
  for (const kind k : all_kinds) {
    CAPTURE(name_of(k));
    const stub::clean_scope scope;
    plan a = make(k);
    const snapshot before = snapshot_of(a);
    CHECK_FALSE(a.empty());
    stub::reset();
    const plan b = std::move(a);
    // Moving hands over the handles: no CUDA call at all.
    CHECK(stub::calls().empty());
    check_moved_from(a);
    check_works(b, k, before);
  }
}

TEST_CASE("move assignment: the source is left empty, the target takes its buffers") {
  for (const kind k : all_kinds) {
    CAPTURE(name_of(k));
    const stub::clean_scope scope;
    plan a = make(k);
    const snapshot before = snapshot_of(a);
    plan b = make(kind::fused);
    stub::reset();
    b = std::move(a);
    check_moved_from(a);
    check_works(b, k, before);
  }
}

TEST_CASE("a moved-from plan can be assigned a new plan; self-move-assignment keeps a plan") {
  for (const kind k : all_kinds) {
    CAPTURE(name_of(k));
    const stub::clean_scope scope;
    plan a = make(k);
    const snapshot before = snapshot_of(a);
    plan b = std::move(a);
    a = make(k);
    CHECK_FALSE(a.empty());
    CHECK_NOTHROW(a.raise_device_error());
    check_works(b, k, before);
    plan& alias = b;  // through a reference: the compiler's self-move warning stays quiet
    b = std::move(alias);
    check_works(b, k, before);
  }
}

TEST_CASE("every allocation of a plan is freed exactly once when its last owner dies") {
  for (const kind k : all_kinds) {
    CAPTURE(name_of(k));
    const stub::clean_scope scope;  // checks live counts return and no bad free was seen
    const owned expected = owned_by(k);
    {
      plan a = make(k);
      CHECK(stub::count(stub::call_kind::malloc) == expected.device);
      CHECK(stub::count(stub::call_kind::malloc_host) == expected.pinned);
      CHECK(stub::count(stub::call_kind::event_create) == expected.events);
      plan b = std::move(a);
      plan c = std::move(b);
      // Nothing freed while an owner lives, whichever plan that is.
      CHECK(stub::count(stub::call_kind::free) == 0);
      CHECK(stub::count(stub::call_kind::free_host) == 0);
      CHECK(stub::count(stub::call_kind::event_destroy) == 0);
    }
    CHECK(stub::count(stub::call_kind::free) == expected.device);
    CHECK(stub::count(stub::call_kind::free_host) == expected.pinned);
    CHECK(stub::count(stub::call_kind::event_destroy) == expected.events);
    // Freed are exactly the pointers allocated.
    std::vector<const void*> allocated, freed;
    for (const stub::call& c : stub::calls()) {
      if (c.kind == stub::call_kind::malloc || c.kind == stub::call_kind::malloc_host) {
        allocated.push_back(c.ptr);
      }
      if (c.kind == stub::call_kind::free || c.kind == stub::call_kind::free_host) {
        freed.push_back(c.ptr);
      }
    }
    std::sort(allocated.begin(), allocated.end());
    std::sort(freed.begin(), freed.end());
    CHECK(allocated == freed);
  }
}

TEST_CASE("move assignment frees what the target owned, at once and only that") {
  for (const kind k : all_kinds) {
    CAPTURE(name_of(k));
    const stub::clean_scope scope;
    plan target = make(k);
    const std::size_t device_before = stub::live_device();
    const std::size_t pinned_before = stub::live_pinned();
    const std::size_t events_before = stub::live_events();
    plan source = make(kind::per_segment);  // owns nothing
    target = std::move(source);
    const owned freed = owned_by(k);
    CHECK(stub::live_device() == device_before - freed.device);
    CHECK(stub::live_pinned() == pinned_before - freed.pinned);
    CHECK(stub::live_events() == events_before - freed.events);
    CHECK(target.policy() == launch_policy::per_segment);
    CHECK(source.empty());
  }
}

TEST_CASE("a bucketed plan owns one upload per bucket and frees each bucket once") {
  const stub::clean_scope scope;
  const std::size_t device_before = stub::live_device();
  const std::size_t events_before = stub::live_events();
  {
    const plan p = make(kind::bucketed);
    REQUIRE(p.buckets().size() == 2);
    // The buckets (moved into the parent's vector) each kept their own buffer and event.
    CHECK(p.buckets()[0].device().count != p.buckets()[1].device().count);
    const auto creates = stub::calls_of(stub::call_kind::event_create);
    const auto records = stub::calls_of(stub::call_kind::event_record);
    REQUIRE(creates.size() == 2);
    REQUIRE(records.size() == 2);
    CHECK(records[0].event == creates[0].event);
    CHECK(records[1].event == creates[1].event);
    CHECK(creates[0].event != creates[1].event);
    // The vector moves its plans as it grows, and with them their buckets.
    std::vector<plan> many;
    for (int i = 0; i < 5; ++i) many.push_back(make(kind::bucketed));
    CHECK(stub::live_device() == device_before + 12);
    CHECK(stub::live_events() == events_before + 12);
  }
}
