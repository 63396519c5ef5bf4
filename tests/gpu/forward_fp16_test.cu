// SPDX-License-Identifier: Apache-2.0
#include "forward_cases.cuh"

TEST_CASE("half forward matches the reference for every head dim") {
  test::check_every_head_dim<__half>();
}
