// SPDX-License-Identifier: Apache-2.0
// One small problem for each kernel family and tile height, under every variant: the target of
// compute-sanitizer's racecheck (run_on_gpu.sh's sanitize stage), too slow for the full tables.
#include "harness.cuh"

TEST_CASE("every kernel family on a small problem") {
  for (const bool causal : {false, true}) {
    CAPTURE(causal);
    // Tall tiles with several k/v steps, a last tile of 44 rows and len_q != len_k: the Hopper
    // kernel for head dim 128 on sm_90a builds, the sm80 kernel for head dim 64.
    for (const int32_t d : {128, 64}) {
      CAPTURE(d);
      test::problem tall;
      tall.lengths_q = {300, 40};
      tall.lengths_k = {700, 450};
      tall.heads_q = 2;
      tall.heads_kv = 1;
      tall.head_dim = d;
      tall.options.causal = causal;
      test::check<__nv_bfloat16>(tall, {41});
    }
    test::problem short_tiles;  // every segment <= 64 rows: short tiles
    short_tiles.lengths_q = {50, 64, 3};
    short_tiles.head_dim = 80;
    short_tiles.options.causal = causal;
    test::check<__half>(short_tiles, {42});
  }
}
