// SPDX-License-Identifier: Apache-2.0
// The double-precision reference against a naive softmax(Q K^T + mask) V built from
// explicit matrices, on tiny cases; windows, softcap and the logsumexp by hand.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <varattn/reference.hpp>
#include <vector>

namespace {

// out[i] = sum_j softmax_j(S_ij + mask_ij) v_j for one segment and head, with the mask as an
// explicit matrix of 0 / -inf and S = scale * q k^T, or cap * tanh(scale * q k^T / cap).
struct naive_result {
  std::vector<double> out, lse;
};
naive_result naive(const std::vector<double>& q, const std::vector<double>& k,
                   const std::vector<double>& v, int lq, int lk, int d, double scale,
                   const std::function<bool(int, int)>& visible, double cap = 0) {
  std::vector<double> s(std::size_t(lq) * lk);
  naive_result r{std::vector<double>(std::size_t(lq) * d, 0.0), std::vector<double>(lq, -INFINITY)};
  for (int i = 0; i < lq; ++i) {
    for (int j = 0; j < lk; ++j) {
      double dot = 0;
      for (int c = 0; c < d; ++c) dot += q[i * d + c] * k[j * d + c];
      double score = scale * dot;
      if (cap > 0) score = cap * std::tanh(score / cap);
      s[i * lk + j] = visible(i, j) ? score : -INFINITY;
    }
    double mx = -INFINITY;
    for (int j = 0; j < lk; ++j) mx = std::max(mx, s[i * lk + j]);
    if (mx == -INFINITY) continue;  // no visible key: zeros, lse -inf
    double sum = 0;
    for (int j = 0; j < lk; ++j) sum += std::exp(s[i * lk + j] - mx);
    r.lse[i] = mx + std::log(sum);
    for (int j = 0; j < lk; ++j) {
      for (int c = 0; c < d; ++c)
        r.out[i * d + c] += std::exp(s[i * lk + j] - mx) / sum * v[j * d + c];
    }
  }
  return r;
}

// The mask from the definition in options.hpp, written out independently of the reference:
// query i sees key j iff 0 <= j < lk and i + diag - left <= j <= i + diag + right.
std::function<bool(int, int)> mask_of(const varattn::attention_options& o, int lq, int lk) {
  return [=](int i, int j) {
    const int diag = lk - lq;
    const int right = o.causal ? (o.window_right == -1 ? 0 : std::min(o.window_right, 0))
                               : o.window_right;
    if (j < 0 || j >= lk) return false;
    if (o.window_left != -1 && j < i + diag - o.window_left) return false;
    if (right != -1 && j > i + diag + right) return false;
    return true;
  };
}

using view = varattn::packed_view<const float>;

// Random q, k, v for the segments; the reference against naive() per segment and head, out
// and lse, for `options`.
void check_against_naive(const std::vector<int32_t>& lq, const std::vector<int32_t>& lk,
                         const varattn::attention_options& options, unsigned seed,
                         float q_gain = 1.0f) {
  const int heads_q = 4, heads_kv = 2, d = 8;
  const auto segs_q = varattn::segments::from_lengths(lq, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths(lk, "cu_seqlens_k");
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> q(segs_q.total() * heads_q * d), k(segs_k.total() * heads_kv * d),
      v(k.size());
  for (float& x : q) x = q_gain * normal(rng);
  for (float& x : k) x = normal(rng);
  for (float& x : v) x = normal(rng);
  const double scale = options.scale ? *options.scale : 1.0 / std::sqrt(double(d));
  const auto ref = varattn::reference_attention_lse<float>(
      segs_q, segs_k, view::contiguous(q.data(), segs_q.total(), heads_q, d),
      view::contiguous(k.data(), segs_k.total(), heads_kv, d),
      view::contiguous(v.data(), segs_k.total(), heads_kv, d), options);
  REQUIRE(ref.out.size() == q.size());
  REQUIRE(ref.lse.size() == std::size_t(segs_q.total()) * heads_q);
  for (std::size_t s = 0; s < lq.size(); ++s) {
    for (int h = 0; h < heads_q; ++h) {
      const int hk = h / (heads_q / heads_kv);
      std::vector<double> qs, ks, vs;
      for (int i = 0; i < lq[s]; ++i)
        for (int c = 0; c < d; ++c) qs.push_back(q[((segs_q[s].begin + i) * heads_q + h) * d + c]);
      for (int j = 0; j < lk[s]; ++j)
        for (int c = 0; c < d; ++c) {
          ks.push_back(k[((segs_k[s].begin + j) * heads_kv + hk) * d + c]);
          vs.push_back(v[((segs_k[s].begin + j) * heads_kv + hk) * d + c]);
        }
      const naive_result expected = naive(qs, ks, vs, lq[s], lk[s], d, scale,
                                          mask_of(options, lq[s], lk[s]), options.softcap);
      for (int i = 0; i < lq[s]; ++i) {
        CAPTURE(s);
        CAPTURE(h);
        CAPTURE(i);
        const int row = segs_q[s].begin + i;
        const double lse = ref.lse[std::size_t(h) * segs_q.total() + row];
        if (expected.lse[i] == -INFINITY) {
          CHECK(lse == -INFINITY);
        } else {
          CHECK(lse == doctest::Approx(expected.lse[i]).epsilon(1e-12));
        }
        for (int c = 0; c < d; ++c)
          CHECK(ref.out[(std::size_t(row) * heads_q + h) * d + c] ==
                doctest::Approx(expected.out[i * d + c]).epsilon(1e-12));
      }
    }
  }
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
          const auto expected =
              naive(qs, ks, vs, lq[s], lk[s], d, 0.25, [&](int i, int j) {
                return !(causal && j > i + (lk[s] - lq[s]));
              }).out;
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

TEST_CASE("window 0 on both sides: each query sees only its diagonal key") {
  // len_q = 3, len_k = 5: diagonal j = i + 2. out[i] = v[i + 2], lse[i] = its score.
  const auto segs_q = varattn::segments::from_lengths({3}, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths({5}, "cu_seqlens_k");
  const std::vector<float> q = {1, 2, 3, 4, 5, 6};
  const std::vector<float> k = {1, 0, 0, 1, 1, 1, 0.5f, -1, 2, 0.25f};
  const std::vector<float> v = {10, 11, 20, 21, 30, 31, 40, 41, 50, 51};
  varattn::attention_options options;
  options.window_left = 0;
  options.window_right = 0;
  options.scale = 0.5f;
  for (const bool causal : {false, true}) {  // causal changes nothing: right is 0 already
    options.causal = causal;
    const auto r = varattn::reference_attention_lse<float>(
        segs_q, segs_k, view::contiguous(q.data(), 3, 1, 2), view::contiguous(k.data(), 5, 1, 2),
        view::contiguous(v.data(), 5, 1, 2), options);
    CHECK(r.out == std::vector<double>{30, 31, 40, 41, 50, 51});
    // Scores: 0.5 * q0.k2 = 0.5 * (1 + 2) = 1.5; q1.k3 = 1.5 - 4 = -2.5 -> -1.25;
    // q2.k4 = 10 + 1.5 = 11.5 -> 5.75.
    CHECK(r.lse == std::vector<double>{1.5, -1.25, 5.75});
  }
}

TEST_CASE("window 1 on one side: the diagonal key and its neighbour") {
  const auto segs = varattn::segments::from_lengths({4}, "cu_seqlens_q");
  const std::vector<float> q(8, 0.0f), k = {0, 0, 0, 0, 0, 0, 0, 0};  // all scores 0
  const std::vector<float> v = {1, 0, 2, 0, 4, 0, 8, 0};
  varattn::attention_options left;  // keys i - 1 and i: mean of v[i - 1], v[i]
  left.window_left = 1;
  left.window_right = 0;
  const auto l = varattn::reference_attention_lse<float>(
      segs, segs, view::contiguous(q.data(), 4, 1, 2), view::contiguous(k.data(), 4, 1, 2),
      view::contiguous(v.data(), 4, 1, 2), left);
  CHECK(l.out == std::vector<double>{1, 0, 1.5, 0, 3, 0, 6, 0});
  CHECK(l.lse == std::vector<double>{0, std::log(2.0), std::log(2.0), std::log(2.0)});
  varattn::attention_options right;  // keys i and i + 1
  right.window_left = 0;
  right.window_right = 1;
  const auto r = varattn::reference_attention_lse<float>(
      segs, segs, view::contiguous(q.data(), 4, 1, 2), view::contiguous(k.data(), 4, 1, 2),
      view::contiguous(v.data(), 4, 1, 2), right);
  CHECK(r.out == std::vector<double>{1.5, 0, 3, 0, 6, 0, 8, 0});
  CHECK(r.lse == std::vector<double>{std::log(2.0), std::log(2.0), std::log(2.0), 0});
}

TEST_CASE("the visible keys of a row follow the definition") {
  using varattn::reference_visible_keys;
  varattn::attention_options o;
  // Full: every key; empty k: none.
  CHECK(reference_visible_keys(0, 3, 5, o).first == 0);
  CHECK(reference_visible_keys(0, 3, 5, o).last == 4);
  CHECK(reference_visible_keys(2, 3, 0, o).empty());
  // Causal, q longer than k (len_q 4, len_k 2, diag -2) with left 1: rows 0 and 1 see no key,
  // row 2 sees key 0, row 3 keys 0 and 1.
  o.causal = true;
  o.window_left = 1;
  CHECK(reference_visible_keys(0, 4, 2, o).empty());
  CHECK(reference_visible_keys(1, 4, 2, o).empty());
  CHECK(reference_visible_keys(2, 4, 2, o).first == 0);
  CHECK(reference_visible_keys(2, 4, 2, o).last == 0);
  CHECK(reference_visible_keys(3, 4, 2, o).first == 0);
  CHECK(reference_visible_keys(3, 4, 2, o).last == 1);
  // Causal, q shorter than k (len_q 2, len_k 5, diag 3) with left 1: [2, 3] and [3, 4].
  CHECK(reference_visible_keys(0, 2, 5, o).first == 2);
  CHECK(reference_visible_keys(0, 2, 5, o).last == 3);
  CHECK(reference_visible_keys(1, 2, 5, o).first == 3);
  CHECK(reference_visible_keys(1, 2, 5, o).last == 4);
  // Causal folds into right = min(right, 0): a right window of 3 stays 0.
  o.window_right = 3;
  CHECK(reference_visible_keys(0, 2, 5, o).last == 3);
  // A window entirely past the keys: right 0, left 0 with len_q > len_k.
  o = {};
  o.window_left = 0;
  o.window_right = 0;
  CHECK(reference_visible_keys(0, 5, 2, o).empty());  // diagonal -3
  CHECK(reference_visible_keys(4, 5, 2, o).size() == 1);
}

TEST_CASE("a window wider than the segment is full attention; (w - 1, 0) is causal + left") {
  const std::vector<int32_t> lq = {3, 7, 1, 0, 9}, lk = {3, 4, 6, 2, 12};
  const auto segs_q = varattn::segments::from_lengths(lq, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths(lk, "cu_seqlens_k");
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> q(segs_q.total() * 2 * 8), k(segs_k.total() * 2 * 8), v(k.size());
  for (float& x : q) x = normal(rng);
  for (float& x : k) x = normal(rng);
  for (float& x : v) x = normal(rng);
  const auto run = [&](const varattn::attention_options& o) {
    return varattn::reference_attention_lse<float>(
        segs_q, segs_k, view::contiguous(q.data(), segs_q.total(), 2, 8),
        view::contiguous(k.data(), segs_k.total(), 2, 8),
        view::contiguous(v.data(), segs_k.total(), 2, 8), o);
  };
  varattn::attention_options wide;
  wide.window_left = 20;
  wide.window_right = 20;
  const auto full = run({});
  CHECK(run(wide).out == full.out);
  CHECK(run(wide).lse == full.lse);
  varattn::attention_options causal;
  causal.causal = true;
  varattn::attention_options wide_right;  // right 20 >= every key after the diagonal
  wide_right.window_left = 20;
  wide_right.window_right = 0;
  CHECK(run(wide_right).out == run(causal).out);
  varattn::attention_options mistral;  // (w - 1, 0) with w = 3
  mistral.window_left = 2;
  mistral.window_right = 0;
  varattn::attention_options causal_left = causal;
  causal_left.window_left = 2;
  CHECK(run(mistral).out == run(causal_left).out);
  CHECK(run(mistral).lse == run(causal_left).lse);
  CHECK(run(mistral).out != full.out);
}

TEST_CASE("windows, causal and softcap equal the naive formula (out and lse)") {
  // q longer than k, shorter, equal, one key, no key, no query.
  const std::vector<int32_t> lq = {3, 0, 5, 4, 2, 9, 1, 6};
  const std::vector<int32_t> lk = {3, 2, 4, 6, 0, 3, 1, 13};
  for (const bool causal : {false, true}) {
    for (const int32_t left : {-1, 0, 1, 3, 20}) {
      for (const int32_t right : {-1, 0, 1, 4}) {
        for (const float cap : {0.0f, 5.0f}) {
          CAPTURE(causal);
          CAPTURE(left);
          CAPTURE(right);
          CAPTURE(cap);
          varattn::attention_options o;
          o.causal = causal;
          o.window_left = left;
          o.window_right = right;
          o.softcap = cap;
          check_against_naive(lq, lk, o, 7u + unsigned(left + 1) * 5u + unsigned(right + 1),
                              cap > 0 ? 8.0f : 1.0f);
        }
      }
    }
  }
}

TEST_CASE("softcap: huge scores stay finite and equal cap * tanh(score / cap)") {
  // Two keys, scores +-1e6 before the cap (5): capped to +-5 (tanh(2e5) = 1 in double).
  const auto segs_q = varattn::segments::from_lengths({1}, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths({2}, "cu_seqlens_k");
  const std::vector<float> q = {1000, 0}, k = {1000, 0, -1000, 0}, v = {1, 2, 3, 4};
  varattn::attention_options o;
  o.scale = 1.0f;
  o.softcap = 5.0f;
  const auto r = varattn::reference_attention_lse<float>(
      segs_q, segs_k, view::contiguous(q.data(), 1, 1, 2), view::contiguous(k.data(), 2, 1, 2),
      view::contiguous(v.data(), 2, 1, 2), o);
  const double p0 = std::exp(5.0) / (std::exp(5.0) + std::exp(-5.0)), p1 = 1 - p0;
  CHECK(r.out[0] == doctest::Approx(p0 * 1 + p1 * 3).epsilon(1e-14));
  CHECK(r.out[1] == doctest::Approx(p0 * 2 + p1 * 4).epsilon(1e-14));
  CHECK(r.lse[0] == doctest::Approx(std::log(std::exp(5.0) + std::exp(-5.0))).epsilon(1e-14));
  // A moderate score: 50 * tanh(30 / 50) for one key is its lse.
  const std::vector<float> q1 = {3, 0}, k1 = {10, 0};
  o.softcap = 50.0f;
  const auto one = varattn::reference_attention_lse<float>(
      segs_q, segs_q, view::contiguous(q1.data(), 1, 1, 2), view::contiguous(k1.data(), 1, 1, 2),
      view::contiguous(v.data(), 1, 1, 2), o);
  CHECK(one.lse[0] == doctest::Approx(50 * std::tanh(30.0 / 50)).epsilon(1e-14));
  CHECK(one.out == std::vector<double>{1, 2});
  // Without softcap, the same huge scores: finite too (max subtracted), all weight on key 0.
  o.softcap = 0;
  const auto raw = varattn::reference_attention_lse<float>(
      segs_q, segs_k, view::contiguous(q.data(), 1, 1, 2), view::contiguous(k.data(), 2, 1, 2),
      view::contiguous(v.data(), 2, 1, 2), o);
  CHECK(raw.out == std::vector<double>{1, 2});
  CHECK(raw.lse[0] == 1e6);
}

TEST_CASE("lse: a one-key row's is its score; keyless rows are zeros and -inf; skipped rows NaN") {
  // Causal, len_q 3 > len_k 1: rows 0, 1 see no key, row 2 sees key 0. Two heads.
  const auto segs_q = varattn::segments::from_lengths({3}, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths({1}, "cu_seqlens_k");
  const std::vector<float> q = {1, 1, 1, 1, 1, 1, 1, 1, 2, 3, -1, 1};  // [3 rows, 2 heads, 2]
  const std::vector<float> k = {0.5f, 0.25f}, v = {7, -3};
  varattn::attention_options o;
  o.causal = true;
  o.scale = 2.0f;
  const auto r = varattn::reference_attention_lse<float>(
      segs_q, segs_k, view::contiguous(q.data(), 3, 2, 2), view::contiguous(k.data(), 1, 1, 2),
      view::contiguous(v.data(), 1, 1, 2), o);
  CHECK(r.out == std::vector<double>{0, 0, 0, 0, 0, 0, 0, 0, 7, -3, 7, -3});
  const double inf = std::numeric_limits<double>::infinity();
  // lse[h * rows_q + row]: head 0 row 2: 2 * (1 + 0.75) = 3.5; head 1: 2 * (-0.5 + 0.25).
  CHECK(r.lse == std::vector<double>{-inf, -inf, 3.5, -inf, -inf, -0.5});
  // Rows left out by the filter are NaN in out and lse, the others as before.
  const auto some = varattn::reference_attention_lse<float>(
      segs_q, segs_k, view::contiguous(q.data(), 3, 2, 2), view::contiguous(k.data(), 1, 1, 2),
      view::contiguous(v.data(), 1, 1, 2), o, [](int32_t row) { return row != 1; });
  CHECK(std::isnan(some.lse[1]));
  CHECK(std::isnan(some.lse[4]));
  CHECK(some.lse[2] == 3.5);
  CHECK(some.lse[0] == -inf);
  for (int c = 4; c < 8; ++c) CHECK(std::isnan(some.out[c]));
  CHECK(some.out[8] == 7);
}

TEST_CASE("reference rejects invalid windows and softcaps") {
  const auto segs = varattn::segments::from_lengths({2}, "cu_seqlens_q");
  const std::vector<float> x(4, 1.0f);
  const auto run = [&](const varattn::attention_options& o) {
    return varattn::reference_attention<float>(segs, segs, view::contiguous(x.data(), 2, 1, 2),
                                               view::contiguous(x.data(), 2, 1, 2),
                                               view::contiguous(x.data(), 2, 1, 2), o);
  };
  varattn::attention_options o;
  o.window_left = -2;
  CHECK_THROWS_WITH_AS(run(o), "window_left = -2 must be -1 (unbounded) or >= 0", varattn::error);
  o.window_left = 0;
  o.window_right = -5;
  CHECK_THROWS_WITH_AS(run(o), "window_right = -5 must be -1 (unbounded) or >= 0",
                       varattn::error);
  o.window_right = -1;
  o.softcap = -1.0f;
  CHECK_THROWS_WITH_AS(run(o), "softcap = -1 must be 0 (off) or positive and finite",
                       varattn::error);
  o.softcap = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS(run(o), "softcap = inf must be 0 (off) or positive and finite",
                       varattn::error);
  o.softcap = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(run(o), "softcap = nan must be 0 (off) or positive and finite",
                       varattn::error);
  o.softcap = 0.0f;
  CHECK(run(o).size() == 4);
}

TEST_CASE("the reference takes a stateful row filter (a mutable lambda), once a row and head") {
  const auto segs = varattn::segments::from_lengths({2, 0, 3}, "cu_seqlens_q");
  const int heads = 2, d = 4;
  std::vector<float> x(std::size_t(segs.total()) * heads * d, 0.25f);
  using view = varattn::packed_view<const float>;
  const view xv = view::contiguous(x.data(), segs.total(), heads, d);
  int calls = 0;
  const auto ref = varattn::reference_attention_lse<float>(
      segs, segs, xv, xv, xv, {}, [n = 0, &calls](int32_t row) mutable {
        calls = ++n;
        return row != 3;
      });
  CHECK(calls == segs.total() * heads);
  CHECK(std::isnan(ref.out[(3 * heads + 1) * d]));  // row 3 filtered out: NaN
  CHECK(ref.out[(4 * heads + 1) * d] == doctest::Approx(0.25));
}
