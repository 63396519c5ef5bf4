// SPDX-License-Identifier: Apache-2.0
// Hopper GQA packing (kernel_config::pack, detail::hopper_pack): under a causal or sliding
// window a Hopper tile holds block_m / g queries x the g query heads of one kv head (row =
// query x g + head). Each case first checks, on an sm_90 device, that the plan packs as
// expected (and that a plan without a window does not), then the forward and its logsumexp
// against the reference under every variant (per_segment, fused, bucketed, built on the
// device) and both families: groups of 4, 8, 16, 32, 64 and 128 (MQA), q shorter and longer
// than k, lengths off the packed tile (128 / g or 192 / g queries), empty segments, length 1,
// causal, a sliding window and a right window alone.
#include "harness.cuh"

namespace {

bool on_hopper() { return varattn::device_arch::current().major == 9; }

// The pack of the fused plan the harness makes for `pr` under automatic (sm_90 only).
void check_pack(const test::problem& pr, int32_t expected) {
  if (!on_hopper()) return;
  const varattn::segments segs_q = varattn::segments::from_lengths(pr.lengths_q);
  const varattn::segments segs_k =
      varattn::segments::from_lengths(pr.lengths_k.empty() ? pr.lengths_q : pr.lengths_k);
  const varattn::plan p =
      varattn::plan::make(segs_q, segs_k, {pr.heads_q, pr.heads_kv, pr.head_dim}, pr.options,
                          varattn::launch_policy::fused);
  REQUIRE(p.kernel().family == varattn::kernel_family::sm90);
  CHECK(p.kernel().pack == expected);
  CHECK(p.kernel().rows() == varattn::detail::sm90_config(pr.head_dim, 65536).tile.block_m);
}

struct packed_case {
  const char* name;
  int32_t heads_q, heads_kv;
  std::vector<int32_t> lengths_q, lengths_k;
};

// At least one segment above 64 queries in each, so that automatic takes the Hopper kernel.
const packed_case kCases[] = {
    // GQA 4: 32 queries a 128-row tile (48 at 192): lengths off both, an empty segment, 1.
    {"GQA 8:2 (g 4), q = k", 8, 2, {1, 0, 77, 300, 33}, {}},
    // GQA 8: q shorter than k (the diagonal inside the tile's key blocks), a segment with
    // queries and no key.
    {"GQA 16:2 (g 8), q < k", 16, 2, {130, 5, 0, 257, 3}, {500, 9, 3, 260, 0}},
    // q longer than k: the first rows see no key under causal (bottom-right alignment).
    {"GQA 8:1 (g 8), q > k", 8, 1, {400, 70, 1}, {129, 0, 1}},
    // MQA: 4 queries a 128-row tile, 6 at 192.
    {"MQA 32:1 (g 32)", 32, 1, {1, 200, 7, 0, 131}, {1, 700, 64, 5, 131}},
};

}  // namespace

TEST_CASE("Hopper GQA packing: groups of 4, 8 and 32, causal and not, with the logsumexp") {
  for (const int32_t d : {128, 64}) {  // 128- and 192-row tiles
    if (!test::instantiated(d)) continue;
    CAPTURE(d);
    for (const packed_case& c : kCases) {
      for (const bool causal : {true, false}) {
        CAPTURE(c.name);
        CAPTURE(causal);
        test::problem pr;
        pr.heads_q = c.heads_q;
        pr.heads_kv = c.heads_kv;
        pr.head_dim = d;
        pr.lengths_q = c.lengths_q;
        pr.lengths_k = c.lengths_k;
        pr.options.causal = causal;
        pr.with_lse = true;
        check_pack(pr, causal ? c.heads_q / c.heads_kv : 1);  // no window: unpacked
        test::check<__nv_bfloat16>(pr, {7});
      }
    }
  }
}

TEST_CASE("Hopper GQA packing under a sliding window, a softcap and fp16") {
  if (!test::instantiated(128)) return;
  test::problem pr;
  pr.heads_q = 8;
  pr.heads_kv = 2;
  pr.head_dim = 128;
  pr.lengths_q = {300, 0, 65, 1};
  pr.lengths_k = {420, 2, 65, 1};
  pr.options.window_left = 90;  // not causal: a left window alone packs too
  pr.options.window_right = 17;
  pr.options.softcap = 30.0f;
  pr.with_lse = true;
  check_pack(pr, 4);
  test::check<__half>(pr, {8});
}

TEST_CASE("Hopper GQA packing: a device-built plan with a tight max_q_length") {
  if (!test::instantiated(64)) return;
  test::problem pr;  // MQA 16:1 at the 192-row tile: 12 queries a tile
  pr.heads_q = 16;
  pr.heads_kv = 1;
  pr.head_dim = 64;
  pr.lengths_q = {100, 13, 0, 12, 250};
  pr.lengths_k = {100, 40, 0, 12, 251};
  pr.options.causal = true;
  pr.with_lse = true;
  pr.device_max_q_length = 250;
  check_pack(pr, 16);
  test::check<__nv_bfloat16>(pr, {9});
}

TEST_CASE("Hopper GQA packing of short segments under kernel_family::sm90") {
  if (!on_hopper() || !test::instantiated(128)) return;
  test::problem pr;  // every segment <= 64 queries: automatic would take sm80, sm90 packs
  pr.heads_q = 16;
  pr.heads_kv = 4;
  pr.head_dim = 128;
  pr.lengths_q = {64, 1, 0, 31, 33, 8};
  pr.lengths_k = {64, 9, 4, 31, 100, 8};
  pr.options.causal = true;
  pr.options.kernel = varattn::kernel_family::sm90;
  pr.with_lse = true;
  const varattn::segments segs_q = varattn::segments::from_lengths(pr.lengths_q);
  const varattn::segments segs_k = varattn::segments::from_lengths(pr.lengths_k);
  const varattn::plan p =
      varattn::plan::make(segs_q, segs_k, {16, 4, 128}, pr.options, varattn::launch_policy::fused);
  CHECK(p.kernel().pack == 4);
  CHECK(p.kernel().tile.block_m == 32);
  test::check<__nv_bfloat16>(pr, {10});
}

TEST_CASE("Hopper GQA packing: groups of 64 and 128 (a warpgroup's rows inside one query)") {
  // 128 / g queries a 128-row tile: 2 at g 64, 1 at g 128 (both warpgroups hold heads of the
  // one query); 3 a 192-row tile at g 64 (g 128 does not divide 192: unpacked).
  for (const int32_t d : {128, 64}) {
    if (!test::instantiated(d)) continue;
    CAPTURE(d);
    for (const int32_t g : {64, 128}) {
      CAPTURE(g);
      test::problem pr;
      pr.heads_q = g;
      pr.heads_kv = 1;
      pr.head_dim = d;
      pr.lengths_q = {1, 67, 0, 3};
      pr.lengths_k = {5, 131, 2, 3};
      pr.options.causal = true;
      pr.with_lse = true;
      const int32_t rows = varattn::detail::sm90_config(d, 65536).tile.block_m;
      check_pack(pr, rows % g == 0 ? g : 1);
      test::check<__nv_bfloat16>(pr, {11});
    }
  }
}

TEST_CASE("Hopper GQA packing under a right window alone") {
  if (!test::instantiated(64)) return;
  test::problem pr;  // GQA 4 at the 192-row tile: 48 queries a tile, keys to 40 past the diagonal
  pr.heads_q = 8;
  pr.heads_kv = 2;
  pr.head_dim = 64;
  pr.lengths_q = {200, 1, 70};
  pr.lengths_k = {150, 6, 300};
  pr.options.window_right = 40;
  pr.with_lse = true;
  check_pack(pr, 4);
  test::check<__half>(pr, {12});
}
