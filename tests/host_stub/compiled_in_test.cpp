// SPDX-License-Identifier: Apache-2.0
// The Hopper kernels' launchers ask, before every launch, whether the binary image loaded for
// the current device carries the kernel's sm_90a body (detail/sm90/compiled_in.hpp: only that
// body declares static shared memory). The answer is remembered per device and per kernel, so
// a plan made while a Hopper device was current, run while another device is, throws instead
// of running the empty stub (which writes nothing).
#include "stub_checks.hpp"

#include <varattn/detail/sm90/compiled_in.hpp>
#include <varattn/error.hpp>

#include <doctest/doctest.h>

namespace {

// Stand-ins for two kernels (only their addresses are used).
void kernel_a() {}
void kernel_b() {}

constexpr const char* kMessage = "no sm_90a body";

}  // namespace

TEST_CASE("sm90 body check: asked once a device and kernel; a device without the body throws") {
  stub::clean_scope scope;
  using varattn::detail::sm90::require_sm90_body;
  stub::set_function_static_smem(0, 80);  // device 0's image: the sm_90a body
  stub::set_function_static_smem(1, 0);   // device 1's: the empty stub
  stub::set_current_device(0);
  CHECK_NOTHROW(require_sm90_body<&kernel_a>(kMessage));
  CHECK_NOTHROW(require_sm90_body<&kernel_a>(kMessage));
  CHECK(stub::function_reads() == 1);  // remembered for device 0
  stub::set_current_device(1);
  CHECK_THROWS_WITH_AS(require_sm90_body<&kernel_a>(kMessage),
                       "no sm_90a body (current device 1)", varattn::error);
  CHECK_THROWS_WITH_AS(require_sm90_body<&kernel_a>(kMessage),
                       "no sm_90a body (current device 1)", varattn::error);
  CHECK(stub::function_reads() == 2);  // remembered for device 1 too
  stub::set_current_device(0);
  CHECK_NOTHROW(require_sm90_body<&kernel_a>(kMessage));
  CHECK_NOTHROW(require_sm90_body<&kernel_b>(kMessage));  // another kernel: asked on its own
  CHECK(stub::function_reads() == 3);
  // A device past the remembered range is asked every time.
  stub::set_function_static_smem(70, 80);
  stub::set_current_device(70);
  CHECK_NOTHROW(require_sm90_body<&kernel_a>(kMessage));
  CHECK_NOTHROW(require_sm90_body<&kernel_a>(kMessage));
  CHECK(stub::function_reads() == 5);
  CHECK(stub::last_error() == cudaSuccess);
}
