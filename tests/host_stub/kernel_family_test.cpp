// SPDX-License-Identifier: Apache-2.0
// The kernel a plan runs is chosen once, when it is made: kernel_family::automatic reads the
// device's compute capability once (one cudaGetDevice, two attribute reads), sm80 reads
// nothing, sm90 refuses a device that is not sm_90; without a device automatic plans the sm80
// kernel and leaves no CUDA error pending. Every policy and the device-built plans.
#include "stub_checks.hpp"

#include <varattn/kernel_config.hpp>
#include <varattn/plan.hpp>

#include <cstdint>
#include <doctest/doctest.h>
#include <string>
#include <utility>
#include <vector>

using varattn::kernel_family;
using varattn::launch_policy;
using varattn::plan;
using varattn::segments;

namespace {

const cudaStream_t stream_a = stub::fake_stream(1);
constexpr varattn::attention_shape shape{4, 2, 128};

varattn::attention_options family(kernel_family f) {
  varattn::attention_options o;
  o.kernel = f;
  return o;
}

// One plan of each way to make one, over `lengths` (the device-built ones over their total).
std::vector<plan> plans_of(const std::vector<int32_t>& lengths, varattn::attention_options o) {
  const segments segs = segments::from_lengths(lengths);
  std::vector<plan> out;
  for (const launch_policy p :
       {launch_policy::per_segment, launch_policy::fused, launch_policy::bucketed}) {
    out.push_back(plan::make(segs, segs, shape, o, p, stream_a));
  }
  out.push_back(plan::reserve_on_device(static_cast<int32_t>(segs.size()), segs.total(),
                                        segs.total(), shape, o, segs.max_length()));
  return out;
}

// The families a plan runs: its own, or its buckets'.
std::vector<kernel_family> families_of(const plan& p) {
  if (p.policy() != launch_policy::bucketed) return {p.kernel().family};
  std::vector<kernel_family> out;
  for (const plan& b : p.buckets()) out.push_back(b.kernel().family);
  return out;
}

}  // namespace

TEST_CASE("kernel_family::sm80 reads no device and plans the sm80 kernel") {
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  const auto plans = plans_of({300, 20, 700}, family(kernel_family::sm80));
  CHECK(stub::device_reads() == 0);
  CHECK(stub::attribute_reads() == 0);
  for (const plan& p : plans) {
    for (const kernel_family f : families_of(p)) CHECK(f == kernel_family::sm80);
  }
  CHECK(plans[0].kernel() == varattn::select_kernel({}, 128, 700, kernel_family::sm80));
}

TEST_CASE("automatic reads the compute capability once per plan, whatever the policy") {
  const stub::clean_scope scope;
  const segments segs = segments::from_lengths({300, 20, 700});
  for (const launch_policy p : {launch_policy::automatic, launch_policy::per_segment,
                                launch_policy::fused, launch_policy::bucketed}) {
    CAPTURE(static_cast<int>(p));
    stub::reset();
    stub::set_compute_capability(9, 0);
    const plan made = plan::make(segs, segs, shape, {}, p, stream_a);
    CHECK(stub::device_reads() == 1);
    CHECK(stub::attribute_reads() == 2);
  }
  stub::reset();
  const plan reserved = plan::reserve_on_device(3, 1020, 1020, shape);
  CHECK(stub::device_reads() == 1);
  CHECK(stub::attribute_reads() == 2);
  // on_device: the architecture is its only CUDA call (it fails at the workspace afterwards).
  stub::reset();
  CHECK_THROWS_WITH_AS(plan::on_device({}, 3, 1020, 1020, shape),
                       "workspace.data is a null pointer", varattn::error);
  CHECK(stub::device_reads() == 1);
  CHECK(stub::calls().empty());
  stub::reset();
  CHECK_THROWS_AS(plan::on_device({}, 3, 1020, 1020, shape, family(kernel_family::sm80)),
                  varattn::error);
  CHECK(stub::device_reads() == 0);
}

TEST_CASE("automatic on sm_90 takes the Hopper kernel for long segments, its short tile for short ones") {
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  const varattn::device_arch hopper{9, 0};
  // Long segments: sm90 everywhere (the bucketed plan: the Hopper short tile for its short
  // segment's bucket, the Hopper tile for the long one).
  const auto plans = plans_of({300, 20, 700}, {});
  CHECK(plans[0].kernel() == varattn::select_kernel(hopper, 128, 700, kernel_family::automatic));
  CHECK(plans[0].kernel().family == kernel_family::sm90);
  CHECK(!plans[0].kernel().hopper_short());
  CHECK(plans[1].kernel().family == kernel_family::sm90);
  CHECK(families_of(plans[2]) ==
        std::vector<kernel_family>{kernel_family::sm90, kernel_family::sm90});
  CHECK(plans[2].buckets()[0].kernel().hopper_short());
  CHECK(!plans[2].buckets()[1].kernel().hopper_short());
  CHECK(plans[3].kernel().family == kernel_family::sm90);
  // Every segment within a short tile: the Hopper short tile (64 x 64, one warpgroup), which
  // groups segments as the sm80 short tile does.
  for (const plan& p : plans_of({64, 3, 50}, {})) {
    if (p.policy() != launch_policy::bucketed) {
      CHECK(p.kernel().hopper_short());
      continue;
    }
    for (const plan& b : p.buckets()) CHECK(b.kernel().hopper_short());
  }
  for (const int32_t d : {64, 128}) {
    CAPTURE(d);
    const varattn::kernel_config short_tile =
        varattn::select_kernel(hopper, d, 64, kernel_family::automatic);
    CHECK(short_tile == varattn::kernel_config{kernel_family::sm90, {64, 64, 4}, 1});
    CHECK(short_tile.groups_segments());
    CHECK(short_tile.threads() == 128);
  }
  // Other head dims keep the sm80 short tile (kernel_config.hpp: has_hopper_short).
  for (const int32_t d : {80, 72, 96, 256}) {
    CAPTURE(d);
    CHECK(varattn::select_kernel(hopper, d, 64, kernel_family::automatic).family ==
          kernel_family::sm80);
  }
  // kernel_family::sm90 on sm_90: the Hopper tile even for short segments.
  for (const plan& p : plans_of({64, 3, 50}, family(kernel_family::sm90))) {
    for (const kernel_family f : families_of(p)) CHECK(f == kernel_family::sm90);
    CHECK(!p.kernel().hopper_short());
  }
}

TEST_CASE("head dim 80 on sm_90: the longest segment picks 128 x 128 or the 192 x 144 tile") {
  const varattn::device_arch hopper{9, 0};
  const int32_t long_rows = varattn::detail::kLongSegment;
  for (const kernel_family request : {kernel_family::automatic, kernel_family::sm90}) {
    const varattn::kernel_config shorter =
        varattn::select_kernel(hopper, 80, long_rows - 1, request);
    const varattn::kernel_config longer = varattn::select_kernel(hopper, 80, long_rows, request);
    CHECK(shorter.family == kernel_family::sm90);
    CHECK(shorter.tile.block_m == 128);
    CHECK(shorter.tile.block_n == 128);
    CHECK(longer.family == kernel_family::sm90);
    CHECK(longer.tile.block_m == 192);
    CHECK(longer.tile.block_n == 144);
    CHECK(longer.threads() == 512);
    CHECK(varattn::select_kernel(hopper, 80, 100000, request) == longer);
  }
  // Plans: the host-built ones from their longest segment, device-built ones from the bound
  // they are given; without one (-1: rows_q) never the long-segment tile, since the segments
  // may all be short (a 192-row tile on 256-row segments ran 14% slower).
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  constexpr varattn::attention_shape d80{4, 2, 80};
  const segments long_one = segments::from_lengths({long_rows, 300});
  const segments short_ones = segments::from_lengths(std::vector<int32_t>(16, long_rows / 8));
  for (const launch_policy policy : {launch_policy::per_segment, launch_policy::fused}) {
    CHECK(plan::make(long_one, long_one, d80, {}, policy, stream_a).kernel().tile.block_m == 192);
    CHECK(plan::make(short_ones, short_ones, d80, {}, policy, stream_a).kernel().tile.block_m ==
          128);
  }
  const int32_t rows = 2 * long_rows;
  CHECK(plan::reserve_on_device(2, rows, rows, d80, {}, long_rows).kernel().tile.block_m == 192);
  CHECK(plan::reserve_on_device(2, rows, rows, d80, {}, long_rows - 1).kernel().tile.block_m ==
        128);
  CHECK(plan::reserve_on_device(2, rows, rows, d80).kernel().tile.block_m == 128);
  // Other head dims keep one Hopper tile whatever the length.
  for (const int32_t head_dim : {64, 72, 96, 128, 256}) {
    CAPTURE(head_dim);
    CHECK(varattn::select_kernel(hopper, head_dim, 100, kernel_family::automatic) ==
          varattn::select_kernel(hopper, head_dim, 100000, kernel_family::automatic));
  }
}

TEST_CASE("automatic on other architectures plans the sm80 kernel") {
  const stub::clean_scope scope;
  for (const auto& [major, minor] :
       std::vector<std::pair<int, int>>{{8, 0}, {8, 6}, {8, 9}, {10, 0}, {12, 0}}) {
    CAPTURE(major);
    CAPTURE(minor);
    stub::reset();
    stub::set_compute_capability(major, minor);
    for (const plan& p : plans_of({300, 20, 700}, {})) {
      for (const kernel_family f : families_of(p)) CHECK(f == kernel_family::sm80);
    }
  }
}

TEST_CASE("without a device, automatic plans sm80 and clears the error it caused") {
  const stub::clean_scope scope;
  stub::set_no_device();
  const segments segs = segments::from_lengths({300, 20});
  const plan p = plan::make(segs, segs, shape, {}, launch_policy::fused, stream_a);
  CHECK(p.kernel().family == kernel_family::sm80);
  CHECK(stub::device_reads() == 1);
  CHECK(stub::last_error() == cudaSuccess);
}

TEST_CASE("kernel_family::sm90 without an sm_90 device is refused before anything is made") {
  const stub::clean_scope scope;
  const segments segs = segments::from_lengths({300, 20});
  stub::set_compute_capability(8, 0);
  CHECK_THROWS_WITH_AS(
      plan::make(segs, segs, shape, family(kernel_family::sm90), launch_policy::fused, stream_a),
      "kernel_family::sm90 needs an sm_90 device; the current one is sm_80", varattn::error);
  CHECK(stub::calls().empty());
  stub::reset();
  stub::set_compute_capability(10, 0);
  CHECK_THROWS_WITH_AS(plan::reserve_on_device(2, 320, 320, shape, family(kernel_family::sm90)),
                       "kernel_family::sm90 needs an sm_90 device; the current one is sm_100",
                       varattn::error);
  CHECK(stub::calls().empty());
  stub::reset();
  stub::set_no_device();
  CHECK_THROWS_WITH_AS(plan::make(segs, segs, shape, family(kernel_family::sm90)),
                       "kernel_family::sm90 needs an sm_90 device; the current one is sm_00 "
                       "(none readable)",
                       varattn::error);
  CHECK(stub::last_error() == cudaSuccess);
  CHECK(stub::calls().empty());
}

TEST_CASE("invalid windows and softcaps are refused before any allocation") {
  const stub::clean_scope scope;
  const segments segs = segments::from_lengths({300, 20});
  varattn::attention_options o;
  o.window_left = -2;
  CHECK_THROWS_WITH_AS(plan::make(segs, segs, shape, o, launch_policy::fused, stream_a),
                       "window_left = -2 must be -1 (unbounded) or >= 0", varattn::error);
  o = {};
  o.window_right = -3;
  CHECK_THROWS_WITH_AS(plan::reserve_on_device(2, 320, 320, shape, o),
                       "window_right = -3 must be -1 (unbounded) or >= 0", varattn::error);
  o = {};
  o.softcap = -0.5f;
  CHECK_THROWS_WITH_AS(plan::make(segs, segs, shape, o, launch_policy::bucketed, stream_a),
                       "softcap = -0.5 must be 0 (off) or positive and finite", varattn::error);
  CHECK(stub::calls().empty());
}

TEST_CASE("bucketed plans split only when both buckets have segments and kernels differ") {
  const stub::clean_scope scope;
  stub::set_compute_capability(9, 0);
  const auto bucketed = [](const std::vector<int32_t>& lengths, varattn::attention_shape s) {
    const segments segs = segments::from_lengths(lengths);
    stub::reset();
    stub::set_compute_capability(9, 0);
    return plan::make(segs, segs, s, {}, launch_policy::bucketed, stream_a);
  };
  // Every segment short (no long bucket): one child, one allocation, one upload. (A long
  // bucket of length 0 would select a decode tile, unlike the short one: no empty child.)
  for (const varattn::attention_shape s : {varattn::attention_shape{4, 4, 64},
                                           varattn::attention_shape{8, 2, 256}}) {
    const plan p = bucketed({20, 40, 10}, s);
    CHECK(p.buckets().size() == 1);
    CHECK(stub::calls_of(stub::call_kind::malloc).size() == 1);
    CHECK(stub::calls_of(stub::call_kind::memcpy_async).size() == 1);
  }
  // Decode-sized short segments with long ones: a decode bucket and a Hopper bucket.
  const plan p = bucketed({2, 300, 1, 700}, {16, 2, 128});  // group 8: decode up to 2 queries
  REQUIRE(p.buckets().size() == 2);
  CHECK(p.buckets()[0].kernel().pack == 8);
  CHECK(p.buckets()[0].kernel().tile.warps == 1);
  CHECK(p.buckets()[1].kernel().family == kernel_family::sm90);
}
