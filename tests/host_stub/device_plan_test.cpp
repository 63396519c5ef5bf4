// SPDX-License-Identifier: Apache-2.0
// Plans built on the device, on the host side: what reserve_on_device allocates, that
// on_device calls nothing, the refusals before build_on_device, and how a device report
// written into pinned memory becomes an error (once).
#include <doctest/doctest.h>

#include "stub_checks.hpp"

#include <cstdint>
#include <cstdio>
#include <string>
#include <varattn/plan.hpp>
#include <vector>

using stub::call_kind;
using varattn::device_report;
using varattn::plan;

namespace {

const cudaStream_t stream_a = stub::fake_stream(1);
constexpr varattn::attention_shape shape{4, 2, 64};

// Host memory stands in for the caller's device workspace: on_device never touches it.
struct alignas(16) block {
  unsigned char bytes[16];
};
struct workspace_memory {
  explicit workspace_memory(std::size_t bytes) : blocks(bytes / sizeof(block) + 2) {}
  std::vector<block> blocks;
  device_report report{};
  void* data() { return blocks.data(); }
};

std::string rejected(const std::string& what) {
  return "device offsets rejected (every output element of that forward is NaN): " + what;
}

// Writes a report as the device does: the fields, then the code.
void write_report(device_report* r, int32_t code, int32_t array, int32_t index, int32_t value,
                  int32_t bound) {
  r->array = array;
  r->index = index;
  r->value = value;
  r->bound = bound;
  r->code = code;
}

// Each report kind gives its exact message once; the next call finds the report taken.
void check_reports(const plan& p, device_report* r) {
  CHECK_NOTHROW(p.raise_device_error());
  write_report(r, device_report::kDecreasing, 0, 2, 30, 70);
  CHECK_THROWS_WITH_AS(p.raise_device_error(),
                       rejected("cu_seqlens_q[2] = 30 < cu_seqlens_q[1] = 70").c_str(),
                       varattn::error);
  CHECK(r->code == device_report::kNone);
  CHECK_NOTHROW(p.raise_device_error());

  write_report(r, device_report::kFirstNotZero, 0, 0, 5, 0);
  CHECK_THROWS_WITH_AS(p.raise_device_error(), rejected("cu_seqlens_q[0] = 5 != 0").c_str(),
                       varattn::error);
  CHECK_NOTHROW(p.raise_device_error());

  write_report(r, device_report::kLastMismatch, 1, 3, 99, 100);
  const std::string last_k = rejected("cu_seqlens_k[3] = 99 != rows_k = 100 (the rows of k and v)");
  CHECK_THROWS_WITH_AS(p.raise_device_error(), last_k.c_str(), varattn::error);
  CHECK_NOTHROW(p.raise_device_error());

  write_report(r, device_report::kLastMismatch, 0, 3, 12, 11);
  CHECK_THROWS_WITH_AS(p.raise_device_error(),
                       rejected("cu_seqlens_q[3] = 12 != rows_q = 11 (the rows of q)").c_str(),
                       varattn::error);

  write_report(r, device_report::kDecreasing, 1, 1, -4, 0);
  CHECK_THROWS_WITH_AS(p.raise_device_error(),
                       rejected("cu_seqlens_k[1] = -4 < cu_seqlens_k[0] = 0").c_str(),
                       varattn::error);
  CHECK_NOTHROW(p.raise_device_error());
}

void check_unbuilt(const plan& p) {
  stub::reset();
  CHECK(p.built_on_device());
  CHECK_THROWS_WITH_AS(p.check_device_build(stream_a),
                       "check_device_build: build_on_device was not called on this plan",
                       varattn::error);
  CHECK_THROWS_WITH_AS(p.require_runnable("forward"),
                       "forward: the plan was reserved on the device but build_on_device was "
                       "never called on it",
                       varattn::error);
  CHECK_THROWS_WITH_AS(p.for_each_work_item([](int32_t, int32_t, int32_t) {}),
                       "for_each_work_item: the plan was built on the device", varattn::error);
  // Refused before waiting on anything.
  CHECK(stub::calls().empty());
}

}  // namespace

TEST_CASE("reserve_on_device allocates workspace_bytes and one zeroed pinned report, no copy") {
  const stub::clean_scope scope;
  for (const int32_t max_q_length : {-1, 50, 350}) {
    CAPTURE(max_q_length);
    stub::reset();
    const plan p = plan::reserve_on_device(3, 350, 327, shape, {}, max_q_length);
    const auto mallocs = stub::calls_of(call_kind::malloc);
    const auto pinned = stub::calls_of(call_kind::malloc_host);
    REQUIRE(mallocs.size() == 1);
    REQUIRE(pinned.size() == 1);
    CHECK(mallocs[0].bytes == plan::workspace_bytes(3, 350, shape, {}, max_q_length));
    CHECK(pinned[0].bytes == sizeof(device_report));
    CHECK(p.device().count == mallocs[0].ptr);
    // The stub fills new memory with 0xA5: zeros here were written by the plan.
    const auto* report = static_cast<const device_report*>(pinned[0].ptr);
    CHECK(report->code == 0);
    CHECK(report->array == 0);
    CHECK(report->index == 0);
    CHECK(report->value == 0);
    CHECK(report->bound == 0);
    // Nothing to upload and nothing to wait for: the device writes the buffer.
    CHECK(stub::count(call_kind::memcpy_async) == 0);
    CHECK(stub::count(call_kind::stream_synchronize) == 0);
    CHECK(stub::count(call_kind::event_create) == 0);
    CHECK(p.rows_q() == 350);
    CHECK(p.rows_k() == 327);
    CHECK(p.rows_q_source() == "rows_q = 350");
    CHECK(p.rows_k_source() == "rows_k = 327");
    CHECK(p.work().empty());
  }
  // A short max_q_length picks short tiles, so more items and more bytes than the default.
  CHECK(plan::workspace_bytes(3, 350, shape, {}, 50) > plan::workspace_bytes(3, 350, shape));
}

TEST_CASE("a reserved plan refuses to run or be checked before build_on_device") {
  const stub::clean_scope scope;
  const plan p = plan::reserve_on_device(3, 350, 327, shape);
  check_unbuilt(p);
  // A host-built plan was not built on the device at all.
  const auto segs = varattn::segments::from_lengths({3, 4});
  const plan host = plan::make(segs, segs, shape, {}, varattn::launch_policy::per_segment);
  CHECK_THROWS_WITH_AS(host.check_device_build(stream_a),
                       "check_device_build: the plan was not built on the device",
                       varattn::error);
  CHECK_NOTHROW(host.raise_device_error());  // no report: nothing to raise
}

TEST_CASE("a reserved plan raises the report the device wrote into its pinned memory, once") {
  const stub::clean_scope scope;
  const plan p = plan::reserve_on_device(3, 350, 327, shape);
  const auto pinned = stub::calls_of(call_kind::malloc_host);
  REQUIRE(pinned.size() == 1);
  stub::reset();
  check_reports(p, static_cast<device_report*>(pinned[0].ptr));
  // Raising reads pinned memory only: no CUDA call, no wait.
  CHECK(stub::calls().empty());
}

TEST_CASE("on_device makes no CUDA call and reports through the caller's report") {
  const stub::clean_scope scope;
  const std::size_t bytes = plan::workspace_bytes(3, 350, shape);
  workspace_memory memory(bytes);
  const varattn::plan_workspace ws{memory.data(), bytes, &memory.report};
  const plan p = plan::on_device(ws, 3, 350, 327, shape);
  CHECK(stub::calls().empty());
  CHECK(p.device().count == memory.data());
  CHECK(p.device().capacity ==
        plan::reserve_on_device(3, 350, 327, shape).device().capacity);
  stub::reset();
  check_unbuilt(p);
  check_reports(p, &memory.report);
  // The plan borrowed the memory: dying frees nothing.
  { const plan q = plan::on_device(ws, 3, 350, 327, shape); }
  CHECK(stub::calls().empty());
}

TEST_CASE("on_device names the workspace field it rejects") {
  const stub::clean_scope scope;
  const std::size_t bytes = plan::workspace_bytes(3, 350, shape);
  workspace_memory memory(bytes);
  device_report* report = &memory.report;

  CHECK_THROWS_WITH_AS(plan::on_device({nullptr, bytes, report}, 3, 350, 327, shape),
                       "workspace.data is a null pointer", varattn::error);

  // 8-byte aligned, not 16: a check for a smaller alignment passes it.
  void* misaligned = static_cast<unsigned char*>(memory.data()) + 8;
  char pointer[32];
  std::snprintf(pointer, sizeof(pointer), "%p", misaligned);
  CHECK_THROWS_WITH_AS(plan::on_device({misaligned, bytes, report}, 3, 350, 327, shape),
                       (std::string("workspace.data = ") + pointer + " is not 16-byte aligned")
                           .c_str(),
                       varattn::error);

  CHECK_THROWS_WITH_AS(plan::on_device({memory.data(), bytes - 1, report}, 3, 350, 327, shape),
                       ("workspace.bytes = " + std::to_string(bytes - 1) + " < " +
                        std::to_string(bytes) + " (plan::workspace_bytes for this shape)")
                           .c_str(),
                       varattn::error);
  // Exactly workspace_bytes is enough.
  CHECK_NOTHROW(plan::on_device({memory.data(), bytes, report}, 3, 350, 327, shape));

  CHECK_THROWS_WITH_AS(plan::on_device({memory.data(), bytes, nullptr}, 3, 350, 327, shape),
                       "workspace.report is a null pointer", varattn::error);
  // The counts are checked like reserve_on_device's.
  CHECK_THROWS_WITH_AS(plan::on_device({memory.data(), bytes, report}, -1, 350, 327, shape),
                       "segment_count = -1 < 0", varattn::error);
  CHECK(stub::calls().empty());
}

// rebuild::when_changed may skip only after a build of the same context: outside capture, or
// the same capture (by id). The first build of each context is full; a context switched away
// from and back (another capture between) is full again; a build whose launch failed is not
// recorded (build_on_device records after the launch), so the next one stays full.
TEST_CASE("build_history: the first build of each stream context is full") {
  using varattn::build_history;
  using varattn::rebuild;
  stub::reset();
  build_history h;
  const auto next = [&](rebuild want) {
    const build_history::context c = build_history::context_of(stream_a);
    const rebuild got = h.resolve(c, rebuild::when_changed);
    h.record(c);
    return got == want;
  };
  CHECK(next(rebuild::always));        // eager, first
  CHECK(next(rebuild::when_changed));  // eager again
  stub::set_capturing(true, 7);
  CHECK(next(rebuild::always));        // capture 7, first
  CHECK(next(rebuild::when_changed));  // capture 7 again
  stub::set_capturing(true, 8);
  CHECK(next(rebuild::always));        // another capture
  stub::set_capturing(true, 7);
  CHECK(next(rebuild::always));        // capture 7 after 8: its header may be 8's
  stub::set_capturing(false);
  CHECK(next(rebuild::when_changed));  // eager: the eager builds ran in stream order
  // rebuild::always stays always wherever it is asked for.
  CHECK(h.resolve(build_history::context_of(stream_a), rebuild::always) == rebuild::always);
  // Nothing recorded (a launch that failed): a fresh history keeps resolving to always.
  build_history fresh;
  const build_history::context c = build_history::context_of(stream_a);
  CHECK(fresh.resolve(c, rebuild::when_changed) == rebuild::always);
  CHECK(fresh.resolve(c, rebuild::when_changed) == rebuild::always);
  CHECK(stub::count(call_kind::stream_capture_info) == 9);  // one a context_of
}
