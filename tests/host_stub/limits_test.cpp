// SPDX-License-Identifier: Apache-2.0
// Shapes past the launch limits and invalid counts are rejected before any CUDA call, and a
// CUDA call that fails midway through making a plan leaves nothing allocated.
#include <doctest/doctest.h>

#include "stub_checks.hpp"

#include <climits>
#include <cstdint>
#include <string>
#include <utility>
#include <varattn/plan.hpp>

using stub::call_kind;
using varattn::launch_policy;
using varattn::plan;
using varattn::segments;

namespace {

const cudaStream_t stream_a = stub::fake_stream(1);

// The message of the varattn::error `f` throws ("" if it throws none).
template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const varattn::error& e) {
    return e.what();
  }
  return "";
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

TEST_CASE("per_segment rejects more than 65535 q heads, its grid's y limit") {
  const stub::clean_scope scope;
  const segments segs = segments::from_lengths({100, 30});
  CHECK_THROWS_WITH_AS(plan::make(segs, segs, {65536, 1, 64}, {}, launch_policy::per_segment),
                       "heads_q = 65536 exceeds 65535, the per_segment launch's grid limit (use "
                       "launch_policy::fused)",
                       varattn::error);
  CHECK_NOTHROW(plan::make(segs, segs, {65535, 1, 64}, {}, launch_policy::per_segment));
  // fused puts the heads in gridDim.x: many more fit.
  CHECK_NOTHROW(plan::make(segs, segs, {65536, 1, 64}, {}, launch_policy::fused, stream_a));
}

TEST_CASE("a fused grid of more than 2^31 - 1 CTAs is rejected before anything is allocated") {
  const stub::clean_scope scope;
  // The most rows a plan covers (kMaxRows) in tall tiles (128 rows): 16777214 items bound;
  // x 129 heads = 2164260606 CTAs.
  constexpr int32_t rows = varattn::kMaxRows;
  CHECK_THROWS_WITH_AS(plan::reserve_on_device(1, rows, rows, {129, 1, 64}),
                       "fused launch: 16777214 work items x heads_q = 129 = 2164260606 CTAs "
                       "exceed the grid limit of 2147483647",
                       varattn::error);
  // The item count alone past int32: 16777213 from the rows plus one per segment.
  CHECK_THROWS_WITH_AS(plan::reserve_on_device(INT32_MAX, rows, 0, {1, 1, 64}),
                       "fused launch: 2164260860 work items x heads_q = 1 = 2164260860 CTAs "
                       "exceed the grid limit of 2147483647",
                       varattn::error);
  // One head fewer fits: on_device passes the grid check and stops at the workspace.
  CHECK_THROWS_WITH_AS(plan::on_device({}, 1, rows, rows, {128, 1, 64}),
                       "workspace.data is a null pointer", varattn::error);
  CHECK_THROWS_WITH_AS(plan::on_device({}, 1, rows, rows, {129, 1, 64}),
                       "fused launch: 16777214 work items x heads_q = 129 = 2164260606 CTAs "
                       "exceed the grid limit of 2147483647",
                       varattn::error);
  // Host-built: 2 items (one tile per segment) x 2^30 heads.
  const segments segs = segments::from_lengths({100, 100});
  CHECK_THROWS_WITH_AS(
      plan::make(segs, segs, {1 << 30, 1, 64}, {}, launch_policy::fused, stream_a),
      "fused launch: 2 work items x heads_q = 1073741824 = 2147483648 CTAs exceed the grid "
      "limit of 2147483647",
      varattn::error);
  CHECK(stub::calls().empty());
}

TEST_CASE("device-built plans reject negative counts and zero segments over rows") {
  const stub::clean_scope scope;
  const varattn::attention_shape shape{4, 2, 64};
  CHECK_THROWS_WITH_AS(plan::reserve_on_device(0, 100, 100, shape),
                       "segment_count = 0 cannot cover rows_q = 100 and rows_k = 100 "
                       "(cu_seqlens = [0] describes empty q, k and v)",
                       varattn::error);
  CHECK_THROWS_WITH_AS(plan::reserve_on_device(0, 0, 5, shape),
                       "segment_count = 0 cannot cover rows_q = 0 and rows_k = 5 "
                       "(cu_seqlens = [0] describes empty q, k and v)",
                       varattn::error);
  CHECK_THROWS_WITH_AS(plan::reserve_on_device(-1, 100, 100, shape), "segment_count = -1 < 0",
                       varattn::error);
  CHECK_THROWS_WITH_AS(plan::reserve_on_device(2, -3, 100, shape), "rows_q = -3 < 0",
                       varattn::error);
  CHECK_THROWS_WITH_AS(plan::reserve_on_device(2, 100, -7, shape), "rows_k = -7 < 0",
                       varattn::error);
  CHECK_THROWS_WITH_AS(plan::workspace_bytes(-2, 100, 64), "segment_count = -2 < 0",
                       varattn::error);
  CHECK_THROWS_WITH_AS(plan::workspace_bytes(3, -1, 64), "rows_q = -1 < 0", varattn::error);
  CHECK_THROWS_WITH_AS(plan::reserve_on_device(2, 100, 100, {3, 2, 64}),
                       "heads_q = 3 is not a multiple of heads_kv = 2", varattn::error);
  CHECK(stub::calls().empty());
  // Zero segments over zero rows is a valid, empty plan.
  const plan empty = plan::reserve_on_device(0, 0, 0, shape);
  CHECK(empty.device().capacity == 0);
}

TEST_CASE("a failed CUDA call while making a plan throws CUDA's error and leaks nothing") {
  const segments q = segments::from_lengths({10, 300, 40}, "cu_seqlens_q");
  const varattn::attention_shape shape{4, 2, 64};
  const auto fused = [&] { plan::make(q, q, shape, {}, launch_policy::fused, stream_a); };
  const auto bucketed = [&] { plan::make(q, q, shape, {}, launch_policy::bucketed, stream_a); };
  const auto reserved = [&] { plan::reserve_on_device(3, 350, 350, shape); };
  struct failing {
    const char* name;
    call_kind kind;
    cudaError_t status;
  };
  const failing fused_failures[] = {
      {"cudaMalloc", call_kind::malloc, cudaErrorMemoryAllocation},
      {"cudaMallocHost", call_kind::malloc_host, cudaErrorMemoryAllocation},
      {"cudaMemcpyAsync", call_kind::memcpy_async, cudaErrorInvalidValue},
      {"cudaEventCreateWithFlags", call_kind::event_create, cudaErrorMemoryAllocation},
      {"cudaEventRecord", call_kind::event_record, cudaErrorInvalidResourceHandle},
  };
  for (const failing& f : fused_failures) {
    CAPTURE(f.name);
    // The bucketed plan with skip 1: its second bucket fails after the first was made.
    for (const std::pair<bool, int>& bucket_skip : {std::pair{false, 0}, std::pair{true, 0},
                                                     std::pair{true, 1}}) {
      const bool bucket = bucket_skip.first;
      CAPTURE(bucket);
      CAPTURE(bucket_skip.second);
      const stub::clean_scope scope;
      stub::fail_next(f.kind, f.status, bucket_skip.second);
      const std::string message = bucket ? message_of(bucketed) : message_of(fused);
      CHECK(starts_with(message, std::string("CUDA error: ") + cudaGetErrorString(f.status) +
                                     " (" + cudaGetErrorName(f.status) + ") in " + f.name + "("));
      // A plan refused before any CUDA call (a head dim not built in) has no call to read.
      REQUIRE_FALSE(stub::calls_of(f.kind).empty());
      CHECK(stub::calls_of(f.kind).back().result == f.status);
    }
  }
  for (const call_kind kind : {call_kind::malloc, call_kind::malloc_host}) {
    const stub::clean_scope scope;
    stub::fail_next(kind);
    const std::string message = message_of(reserved);
    CHECK(starts_with(message,
                      "CUDA error: out of memory (cudaErrorMemoryAllocation) in cudaMalloc"));
  }
}
