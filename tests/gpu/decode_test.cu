// SPDX-License-Identifier: Apache-2.0
// Decode tiles (one warp, 16 rows of (query, head) pairs; kernel_config.hpp): plans whose
// segments have at most 16 / pack query rows, pack = the query heads packed per kv head.
// Every case first checks that the plan really takes the decode tile with the expected pack,
// then runs the harness (every launch policy incl. device-built plans given the true bound,
// NaN-poisoned outputs, every element against the double reference); both element types,
// every default head dim, fresh inputs per seed.
#include <random>
#include <string>
#include <vector>

#include "harness.cuh"

namespace {

struct decode_case {
  const char* name;
  int32_t heads_q, heads_kv;
  int32_t max_q;       // query lengths drawn from [0, max_q] (every one of them appears)
  int32_t max_k;       // key lengths drawn from [0, max_k]
  int32_t segments;
  bool causal = false;
  int32_t left = -1, right = -1;
  float softcap = 0.0f;
  bool lse = false;
};

std::vector<decode_case> cases() {
  return {
      // name, heads_q, heads_kv, max_q, max_k, segments, causal, left, right, softcap, lse
      {"GQA 32:8 (pack 4), 0-4 queries, causal, lse", 32, 8, 4, 700, 24, true, -1, -1, 0, true},
      {"GQA 32:8 (pack 4), 0-4 queries, full", 32, 8, 4, 300, 16},
      {"GQA 16:2 (pack 8), 0-2 queries, window (100, 0), softcap 30", 16, 2, 2, 500, 16, false, 100,
       0, 30.0f, true},
      {"MQA 16:1 (pack 16), 0-1 query, causal", 16, 1, 1, 400, 16, true},
      {"MQA 32:1 (pack 16, two tiles a query), 0-1 query", 32, 1, 1, 300, 12, false, -1, -1, 0,
       true},
      {"MHA 4:4 (pack 1), 0-16 queries, causal", 4, 4, 16, 300, 20, true},
      {"GQA 6:2 (group 3: pack 1), 0-16 queries, window (7, 7)", 6, 2, 16, 200, 16, false, 7, 7},
  };
}

std::vector<int32_t> draw(std::mt19937& rng, int32_t count, int32_t max, bool all_small) {
  std::vector<int32_t> lengths(static_cast<std::size_t>(count));
  std::uniform_int_distribution<int32_t> length(0, max);
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    // The first max + 1 segments take every length 0..max; the rest are random.
    lengths[i] = all_small && i <= std::size_t(max) ? static_cast<int32_t>(i) : length(rng);
  }
  std::shuffle(lengths.begin(), lengths.end(), rng);
  return lengths;
}

// The plan the harness will make under `automatic` takes the decode tile with this pack.
void check_decode_plan(const test::problem& pr) {
  const auto q = varattn::segments::from_lengths(pr.lengths_q, "cu_seqlens_q");
  const auto k = varattn::segments::from_lengths(pr.lengths_k, "cu_seqlens_k");
  const varattn::plan p = varattn::plan::make(q, k, {pr.heads_q, pr.heads_kv, pr.head_dim},
                                              pr.options, varattn::launch_policy::per_segment);
  CHECK(p.kernel().tile.warps == 1);
  CHECK(p.kernel().pack == varattn::detail::decode_pack(pr.heads_q / pr.heads_kv));
}

template <class Element>
void check_decode() {
  uint64_t seed = 4000;
  std::mt19937 rng(20261130);
  for (const decode_case& c : cases()) {
    for (const int32_t d : test::head_dims_to_test()) {
      if (!test::instantiated(d)) continue;
      CAPTURE(std::string(c.name));
      CAPTURE(d);
      test::problem pr;
      pr.lengths_q = draw(rng, c.segments, c.max_q, true);
      pr.lengths_k = draw(rng, c.segments, c.max_k, false);
      pr.lengths_k[0] = 1;  // a one-key segment
      pr.heads_q = c.heads_q;
      pr.heads_kv = c.heads_kv;
      pr.head_dim = d;
      pr.options.causal = c.causal;
      pr.options.window_left = c.left;
      pr.options.window_right = c.right;
      pr.options.softcap = c.softcap;
      pr.q_gain = c.softcap > 0 ? 8.0f : 1.0f;
      pr.with_lse = c.lse;
      pr.device_max_q_length = c.max_q;
      check_decode_plan(pr);
      test::check<Element>(pr, {seed, seed + 1}, false);
      seed += 2;
    }
  }
}

}  // namespace

TEST_CASE("bfloat16: decode tiles match the reference") { check_decode<__nv_bfloat16>(); }
TEST_CASE("half: decode tiles match the reference") { check_decode<__half>(); }

TEST_CASE("decode tiles: 2,048 tiny segments, one 16k-key segment, q longer than k") {
  std::mt19937 rng(11);
  for (const int32_t d : {64, 128}) {
    if (!test::instantiated(d)) continue;
    CAPTURE(d);
    test::problem tiny;  // thousands of tiny ones, GQA 32:8
    tiny.lengths_q = draw(rng, 2048, 4, true);
    tiny.lengths_k = draw(rng, 2048, 40, false);
    tiny.heads_q = 32;
    tiny.heads_kv = 8;
    tiny.head_dim = d;
    tiny.options.causal = true;
    tiny.device_max_q_length = 4;
    check_decode_plan(tiny);
    test::check<__nv_bfloat16>(tiny, {21}, true);

    test::problem long_keys;  // one query row against 16,384 keys, and a short neighbour
    long_keys.lengths_q = {1, 4, 0};
    long_keys.lengths_k = {16384, 3, 9};
    long_keys.heads_q = 8;
    long_keys.heads_kv = 2;
    long_keys.head_dim = d;
    long_keys.with_lse = true;
    long_keys.device_max_q_length = 4;
    check_decode_plan(long_keys);
    test::check<__half>(long_keys, {22}, true);

    // Causal with q longer than k (bottom-right): the first query rows see no key and must
    // be zero, with -inf logsumexp (the harness checks keyless rows).
    test::problem keyless = long_keys;
    keyless.lengths_q = {4, 3, 2};
    keyless.lengths_k = {2, 0, 1};
    keyless.options.causal = true;
    check_decode_plan(keyless);
    test::check<__nv_bfloat16>(keyless, {23}, true);
  }
}

TEST_CASE("decode tiles: device-built plans bounded below the longest segment (several tiles)") {
  // reserve_on_device's max_q_length only picks the tile: a bound of 1 takes the decode tile,
  // and segments of up to 40 queries then need up to 40 / (16 / pack) tiles each. The harness's
  // device-built variant runs that (the host-built variants see the true lengths: short tiles).
  std::mt19937 rng(31);
  struct shape_case {
    int32_t heads_q, heads_kv, pack;
  };
  for (const shape_case c : {shape_case{32, 8, 4}, shape_case{16, 1, 16}, shape_case{6, 2, 1}}) {
    for (const int32_t d : {64, 128}) {
      if (!test::instantiated(d)) continue;
      CAPTURE(c.heads_q);
      CAPTURE(d);
      const varattn::plan bounded = varattn::plan::reserve_on_device(
          4, 100, 400, {c.heads_q, c.heads_kv, d}, {}, /*max_q_length=*/1);
      CHECK(bounded.kernel().tile.warps == 1);
      CHECK(bounded.kernel().pack == c.pack);
      test::problem pr;
      pr.lengths_q = draw(rng, 12, 40, false);
      pr.lengths_q[0] = 40;  // several tiles at every pack (16 / pack <= 16 query rows a tile)
      pr.lengths_q[1] = 17;
      pr.lengths_q[2] = 0;
      pr.lengths_k = draw(rng, 12, 300, false);
      pr.heads_q = c.heads_q;
      pr.heads_kv = c.heads_kv;
      pr.head_dim = d;
      pr.options.causal = true;
      pr.options.window_left = 5;
      pr.with_lse = true;
      pr.device_max_q_length = 1;
      test::check<__nv_bfloat16>(pr, {41}, true);
    }
  }
}

TEST_CASE("decode tiles: rejected device offsets turn every output and logsumexp element NaN") {
  if (!test::instantiated(64)) return;
  // The NaN fill of a rejected build covers all pack heads of each CTA's head group.
  test::stream_guard s;
  const int32_t heads_q = 8, heads_kv = 2, d = 64, rows = 100;  // group 4: pack 4
  auto plan = varattn::plan::reserve_on_device(3, rows, rows, {heads_q, heads_kv, d}, {},
                                               /*max_q_length=*/4);
  REQUIRE(plan.kernel().pack == 4);
  std::mt19937_64 rng(8);
  const thrust::device_vector<__half> q(test::random_elements<__half>(std::size_t(rows) * heads_q * d, rng));
  const thrust::device_vector<__half> kv(test::random_elements<__half>(std::size_t(rows) * heads_kv * d, rng));
  thrust::device_vector<__half> o(std::size_t(rows) * heads_q * d);
  thrust::device_vector<float> lse(std::size_t(heads_q) * rows);
  const thrust::device_vector<int32_t> cu_q(std::vector<int32_t>{0, 70, 30, 100});  // not sorted
  const thrust::device_vector<int32_t> cu_k(std::vector<int32_t>{0, 30, 70, 100});
  VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(o.data()), 0, o.size() * 2, s.stream));
  VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(lse.data()), 0, lse.size() * 4, s.stream));
  varattn::build_on_device(plan, {thrust::raw_pointer_cast(cu_q.data()), cu_q.size()},
                           {thrust::raw_pointer_cast(cu_k.data()), cu_k.size()}, s.stream);
  using view = varattn::packed_view<const __half>;
  varattn::forward<__half>(
      plan, view::contiguous(thrust::raw_pointer_cast(q.data()), rows, heads_q, d),
      view::contiguous(thrust::raw_pointer_cast(kv.data()), rows, heads_kv, d),
      view::contiguous(thrust::raw_pointer_cast(kv.data()), rows, heads_kv, d),
      varattn::packed_view<__half>::contiguous(thrust::raw_pointer_cast(o.data()), rows, heads_q, d),
      varattn::logsumexp_view{thrust::raw_pointer_cast(lse.data()), rows}, s.stream);
  VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
  std::vector<__half> out(o.size());
  std::vector<float> lse_out(lse.size());
  thrust::copy(o.begin(), o.end(), out.begin());
  thrust::copy(lse.begin(), lse.end(), lse_out.begin());
  int64_t nan = 0;
  for (const __half h : out) nan += std::isnan(__half2float(h)) ? 1 : 0;
  CHECK(nan == static_cast<int64_t>(out.size()));
  int64_t lse_nan = 0;
  for (const float x : lse_out) lse_nan += std::isnan(x) ? 1 : 0;
  CHECK(lse_nan == static_cast<int64_t>(lse_out.size()));
  CHECK_THROWS_AS(plan.check_device_build(s.stream), varattn::error);
}
