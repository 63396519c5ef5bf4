// SPDX-License-Identifier: Apache-2.0
// The double-precision reference against a naive softmax(Q K^T + mask) V built from
// explicit matrices, on tiny cases.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <varattn/reference.hpp>
#include <vector>

namespace {

// out[i] = sum_j softmax_j(scale * q_i . k_j + mask_ij) v_j for one segment and head, with
// the mask as an explicit matrix of 0 / -inf.
std::vector<double> naive(const std::vector<double>& q, const std::vector<double>& k,
                          const std::vector<double>& v, int lq, int lk, int d, double scale,
                          bool causal) {
  std::vector<double> s(std::size_t(lq) * lk), out(std::size_t(lq) * d, 0.0);
  for (int i = 0; i < lq; ++i) {
    for (int j = 0; j < lk; ++j) {
      double dot = 0;
      for (int c = 0; c < d; ++c) dot += q[i * d + c] * k[j * d + c];
      const bool hidden = causal && j > i + (lk - lq);
      s[i * lk + j] = hidden ? -INFINITY : scale * dot;
    }
    double mx = -INFINITY;
    for (int j = 0; j < lk; ++j) mx = std::max(mx, s[i * lk + j]);
    if (mx == -INFINITY) continue;  // no visible key: zeros
    double sum = 0;
    for (int j = 0; j < lk; ++j) sum += std::exp(s[i * lk + j] - mx);
    for (int j = 0; j < lk; ++j) {
      for (int c = 0; c < d; ++c)
        out[i * d + c] += std::exp(s[i * lk + j] - mx) / sum * v[j * d + c];
    }
  }
  return out;
}

}  // namespace

TEST_CASE("reference equals the naive formula per segment and head (GQA, causal, scale)") {
  const std::vector<int32_t> lq = {3, 0, 5, 4, 2};
  const std::vector<int32_t> lk = {3, 2, 4, 6, 0};
  const int heads_q = 4, heads_kv = 2, d = 8;
  const auto segs_q = varattn::segments::from_lengths(lq, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths(lk, "cu_seqlens_k");
  for (const bool causal : {false, true}) {
    for (const unsigned seed : {7u, 8u}) {
      std::mt19937 rng(seed);
      std::normal_distribution<float> normal;
      std::vector<float> q(segs_q.total() * heads_q * d), k(segs_k.total() * heads_kv * d),
          v(k.size());
      for (float& x : q) x = normal(rng);
      for (float& x : k) x = normal(rng);
      for (float& x : v) x = normal(rng);
      varattn::attention_options options;
      options.causal = causal;
      options.scale = 0.25f;  // exact in float and double
      const auto out = varattn::reference_attention<float>(
          segs_q, segs_k,
          varattn::packed_view<const float>::contiguous(q.data(), segs_q.total(), heads_q, d),
          varattn::packed_view<const float>::contiguous(k.data(), segs_k.total(), heads_kv, d),
          varattn::packed_view<const float>::contiguous(v.data(), segs_k.total(), heads_kv, d),
          options);
      REQUIRE(out.size() == q.size());
      for (std::size_t s = 0; s < lq.size(); ++s) {
        for (int h = 0; h < heads_q; ++h) {
          const int hk = h / (heads_q / heads_kv);
          std::vector<double> qs, ks, vs;
          for (int i = 0; i < lq[s]; ++i)
            for (int c = 0; c < d; ++c)
              qs.push_back(q[((segs_q[s].begin + i) * heads_q + h) * d + c]);
          for (int j = 0; j < lk[s]; ++j)
            for (int c = 0; c < d; ++c) {
              ks.push_back(k[((segs_k[s].begin + j) * heads_kv + hk) * d + c]);
              vs.push_back(v[((segs_k[s].begin + j) * heads_kv + hk) * d + c]);
            }
          const auto expected = naive(qs, ks, vs, lq[s], lk[s], d, 0.25, causal);
          for (int i = 0; i < lq[s]; ++i)
            for (int c = 0; c < d; ++c)
              CHECK(out[((segs_q[s].begin + i) * heads_q + h) * d + c] ==
                    doctest::Approx(expected[i * d + c]).epsilon(1e-12));
        }
      }
    }
  }
}

TEST_CASE("reference of one key is that key's value; of no visible key, zeros") {
  const auto segs_q = varattn::segments::from_lengths({2}, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths({1}, "cu_seqlens_k");
  const std::vector<float> q = {1, 2, 3, 4}, k = {0.5f, -1}, v = {7, -3};
  varattn::attention_options causal;
  causal.causal = true;
  const auto out = varattn::reference_attention<float>(
      segs_q, segs_k, varattn::packed_view<const float>::contiguous(q.data(), 2, 1, 2),
      varattn::packed_view<const float>::contiguous(k.data(), 1, 1, 2),
      varattn::packed_view<const float>::contiguous(v.data(), 1, 1, 2), causal);
  // Bottom-right causal: query 0 sees key j <= 0 + (1 - 2) = -1, i.e. none; query 1 sees key 0.
  CHECK(out == std::vector<double>{0, 0, 7, -3});
}

TEST_CASE("reference rejects views that do not fit the segments, before reading them") {
  const auto segs_q = varattn::segments::from_lengths({4, 8}, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths({3, 2}, "cu_seqlens_k");
  using view = varattn::packed_view<const float>;
  // Exactly as large as the segments say: a read past them is a heap overflow (ASan).
  const std::vector<float> q(12 * 4 * 8), k(5 * 2 * 8), v(k.size());
  const view good_q = view::contiguous(q.data(), 12, 4, 8);
  const view good_k = view::contiguous(k.data(), 5, 2, 8);
  const view good_v = view::contiguous(v.data(), 5, 2, 8);
  const auto run = [&](view q_view, view k_view, view v_view) {
    return varattn::reference_attention<float>(segs_q, segs_k, q_view, k_view, v_view);
  };
  CHECK(run(good_q, good_k, good_v).size() == q.size());

  CHECK_THROWS_WITH_AS(run(view::contiguous(q.data(), 10, 4, 8), good_k, good_v),
                       "q.rows = 10 != cu_seqlens_q[2] = 12", varattn::error);
  CHECK_THROWS_WITH_AS(run(good_q, view::contiguous(k.data(), 4, 2, 8), good_v),
                       "k.rows = 4 != cu_seqlens_k[2] = 5", varattn::error);
  CHECK_THROWS_WITH_AS(run(good_q, good_k, view::contiguous(v.data(), 6, 2, 8)),
                       "v.rows = 6 != cu_seqlens_k[2] = 5", varattn::error);

  CHECK_THROWS_WITH_AS(run(view::contiguous(q.data(), 12, 0, 8), good_k, good_v),
                       "q.heads = 0 must be positive", varattn::error);
  CHECK_THROWS_WITH_AS(run(good_q, view::contiguous(k.data(), 5, 0, 8), good_v),
                       "k.heads = 0 must be positive", varattn::error);  // was SIGFPE
  CHECK_THROWS_WITH_AS(run(good_q, good_k, view::contiguous(v.data(), 5, 1, 8)),
                       "v.heads = 1 != k.heads = 2", varattn::error);
  CHECK_THROWS_WITH_AS(run(good_q, view::contiguous(k.data(), 5, 3, 8),
                           view::contiguous(v.data(), 5, 3, 8)),
                       "q.heads = 4 is not a multiple of k.heads = 3", varattn::error);

  CHECK_THROWS_WITH_AS(run(view::contiguous(q.data(), 12, 4, 0), good_k, good_v),
                       "q.head_dim = 0 must be positive", varattn::error);
  CHECK_THROWS_WITH_AS(run(good_q, view::contiguous(k.data(), 5, 2, 16), good_v),
                       "k.head_dim = 16 != q.head_dim = 8", varattn::error);
  CHECK_THROWS_WITH_AS(run(good_q, good_k, view::contiguous(v.data(), 5, 2, 4)),
                       "v.head_dim = 4 != q.head_dim = 8", varattn::error);

  CHECK_THROWS_WITH_AS(run(view::contiguous(nullptr, 12, 4, 8), good_k, good_v),
                       "q.data is a null pointer", varattn::error);
  CHECK_THROWS_WITH_AS(run(good_q, good_k, view::contiguous(nullptr, 5, 2, 8)),
                       "v.data is a null pointer", varattn::error);
  const auto segs_k_empty = varattn::segments::from_lengths({0, 0}, "cu_seqlens_k");
  // No rows: no storage needed (as validate() allows).
  CHECK(varattn::reference_attention<float>(segs_q, segs_k_empty, good_q,
                                            view::contiguous(nullptr, 0, 2, 8),
                                            view::contiguous(nullptr, 0, 2, 8)) ==
        std::vector<double>(q.size(), 0.0));
}
