// SPDX-License-Identifier: Apache-2.0
// tests/common/parallel.hpp: the GPU tests' host work on every core must give what the serial
// code gives, whatever the number of threads.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "../common/mask_options.hpp"
#include "../common/parallel.hpp"

TEST_CASE("parallel_for runs every index once and rethrows a unit's exception") {
  std::vector<int> hits(1000, 0);
  test::parallel_for(1000, [&](int64_t i) { ++hits[std::size_t(i)]; });
  for (const int h : hits) CHECK(h == 1);
  test::parallel_for(0, [](int64_t) { FAIL("no index in an empty range"); });
  CHECK_THROWS_WITH_AS(test::parallel_for(100,
                                          [](int64_t i) {
                                            if (i == 37) throw std::runtime_error("unit 37");
                                          }),
                       "unit 37", std::runtime_error);
}

TEST_CASE("chunked returns the chunks' results in order, the last one short") {
  const std::size_t n = 3 * test::kChunk + 5;
  const auto spans = test::chunked<std::size_t>(
      n, [](std::size_t first, std::size_t last) { return (last - first) * 1000000 + first / test::kChunk; });
  REQUIRE(spans.size() == 4);
  CHECK(spans[0] == test::kChunk * 1000000);
  CHECK(spans[2] == test::kChunk * 1000000 + 2);
  CHECK(spans[3] == 5 * 1000000 + 3);
}

TEST_CASE("the reference on every core equals reference_attention_lse element for element") {
  // Segments under, on and over the 32-row unit, an empty one, keys shorter and longer than
  // the queries, a keyless one; GQA; every mask the tests sweep; half the rows sampled.
  const std::vector<int32_t> lq = {1, 32, 33, 0, 100, 7, 70};
  const std::vector<int32_t> lk = {5, 32, 10, 3, 130, 0, 64};
  const int32_t heads_q = 4, heads_kv = 2, d = 16;
  const auto segs_q = varattn::segments::from_lengths(lq, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths(lk, "cu_seqlens_k");
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  std::vector<float> q(std::size_t(segs_q.total()) * heads_q * d);
  std::vector<float> k(std::size_t(segs_k.total()) * heads_kv * d), v(k.size());
  for (float& x : q) x = normal(rng);
  for (float& x : k) x = normal(rng);
  for (float& x : v) x = normal(rng);
  using view = varattn::packed_view<const float>;
  const view qv = view::contiguous(q.data(), segs_q.total(), heads_q, d);
  const view kv = view::contiguous(k.data(), segs_k.total(), heads_kv, d);
  const view vv = view::contiguous(v.data(), segs_k.total(), heads_kv, d);
  const auto sampled = [](int32_t row) { return row % 2 == 0; };
  for (const auto& options : {test::mask_options(false, -1, -1), test::mask_options(true, -1, -1),
                              test::mask_options(false, 3, 2), test::mask_options(true, 8, 0, 5.0f)}) {
    CAPTURE(options.causal);
    CAPTURE(options.window_left);
    const auto serial = varattn::reference_attention_lse(segs_q, segs_k, qv, kv, vv, options, sampled);
    const auto parallel = test::reference_on_every_core(segs_q, segs_k, qv, kv, vv, options, sampled);
    REQUIRE(parallel.out.size() == serial.out.size());
    REQUIRE(parallel.lse.size() == serial.lse.size());
    // Bits, NaN (unsampled rows) included.
    CHECK(std::memcmp(parallel.out.data(), serial.out.data(), serial.out.size() * sizeof(double)) == 0);
    CHECK(std::memcmp(parallel.lse.data(), serial.lse.data(), serial.lse.size() * sizeof(double)) == 0);
  }
  // The same checks as the serial reference, before reading any element.
  const std::string mismatch = "k.rows = " + std::to_string(segs_k.total()) +
                               " != cu_seqlens_q[7] = " + std::to_string(segs_q.total());
  CHECK_THROWS_WITH_AS(test::reference_on_every_core(segs_q, segs_q, qv, kv, vv, {}, sampled),
                       mismatch.c_str(), varattn::error);
}

TEST_CASE("the backward reference on every core equals reference_attention_backward bit for bit") {
  // The forward test's segments (units of 32 query and key rows, empty and keyless segments,
  // q shorter and longer than k), GQA 4:2 and MQA 4:1, every mask the tests sweep, softcap.
  const std::vector<int32_t> lq = {1, 32, 33, 0, 100, 7, 70};
  const std::vector<int32_t> lk = {5, 32, 10, 3, 130, 0, 64};
  const int32_t heads_q = 4, d = 16;
  const auto segs_q = varattn::segments::from_lengths(lq, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths(lk, "cu_seqlens_k");
  using view = varattn::packed_view<const float>;
  for (const int32_t heads_kv : {2, 1}) {
    CAPTURE(heads_kv);
    std::mt19937 rng(static_cast<unsigned>(20 + heads_kv));
    std::normal_distribution<float> normal;
    std::vector<float> q(std::size_t(segs_q.total()) * heads_q * d), d_o(q.size());
    std::vector<float> k(std::size_t(segs_k.total()) * heads_kv * d), v(k.size());
    for (auto* x : {&q, &d_o, &k, &v}) {
      for (float& e : *x) e = normal(rng);
    }
    const view qv = view::contiguous(q.data(), segs_q.total(), heads_q, d);
    const view dov = view::contiguous(d_o.data(), segs_q.total(), heads_q, d);
    const view kv = view::contiguous(k.data(), segs_k.total(), heads_kv, d);
    const view vv = view::contiguous(v.data(), segs_k.total(), heads_kv, d);
    for (const auto& options :
         {test::mask_options(false, -1, -1), test::mask_options(true, -1, -1),
          test::mask_options(false, 3, 2), test::mask_options(true, 8, 0, 5.0f)}) {
      CAPTURE(options.causal);
      CAPTURE(options.window_left);
      const auto serial =
          varattn::reference_attention_backward(segs_q, segs_k, qv, kv, vv, dov, options);
      const auto parallel =
          test::backward_reference_on_every_core(segs_q, segs_k, qv, kv, vv, dov, options);
      const auto same = [](const std::vector<double>& a, const std::vector<double>& b) {
        return a.size() == b.size() &&
               std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
      };
      CHECK(same(parallel.dq, serial.dq));
      CHECK(same(parallel.dk, serial.dk));
      CHECK(same(parallel.dv, serial.dv));
      CHECK(same(parallel.out, serial.out));
      CHECK(same(parallel.lse, serial.lse));
    }
  }
  // The serial reference's checks, d_o's too.
  const std::vector<float> q(std::size_t(segs_q.total()) * heads_q * d, 1.0f);
  const std::vector<float> k(std::size_t(segs_k.total()) * 2 * d, 1.0f);
  const view qv = view::contiguous(q.data(), segs_q.total(), heads_q, d);
  const view kv = view::contiguous(k.data(), segs_k.total(), 2, d);
  const view short_d_o = view::contiguous(q.data(), segs_q.total(), heads_q - 1, d);
  CHECK_THROWS_WITH_AS(
      test::backward_reference_on_every_core(segs_q, segs_k, qv, kv, kv, short_d_o, {}),
      "d_o.heads = 3 != q.heads = 4", varattn::error);
}
