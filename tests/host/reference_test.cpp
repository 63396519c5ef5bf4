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
