// SPDX-License-Identifier: Apache-2.0
// Compiled by the host compiler only: the host headers, cudart and CCCL (which CUDA 13
// keeps outside the default include path) must all come from varattn::varattn.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cub/version.cuh>
#include <exception>
#include <varattn/plan.hpp>
#include <varattn/segments.hpp>
#include <varattn/version.hpp>

static_assert(CUB_VERSION >= 200000, "CCCL's CUB reached a .cpp file");
static_assert(varattn::head_dims::contains(64) && varattn::head_dims::contains(128) &&
                  !varattn::head_dims::contains(80),
              "VARATTN_HEAD_DIMS=64,128 must reach the host compiler as two values");

constexpr bool same(const char* a, const char* b) {
  return *a == *b && (*a == '\0' || same(a + 1, b + 1));
}
static_assert(same(VARATTN_VERSION_STRING, EXPECTED_VERSION_STRING),
              "the installed version.hpp and varattnConfigVersion.cmake disagree");

int main() try {
  const auto segs = varattn::segments::from_lengths({5, 64, 1});
  // per_segment: a host-only plan (automatic would allocate its fused work list on a GPU).
  const auto plan = varattn::plan::make(segs, segs, {/*heads_q=*/8, /*heads_kv=*/8, 64}, {},
                                        varattn::launch_policy::per_segment);
  int runtime = 0;
  VARATTN_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  std::printf("host: varattn %s, plan with %zu launches, head dims %s, CUB %d, CUDA runtime %d\n",
              VARATTN_VERSION_STRING, plan.launches().size(),
              varattn::head_dims::to_string().c_str(), CUB_VERSION, runtime);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "consumer_host: %s\n", e.what());
  return 1;
}
