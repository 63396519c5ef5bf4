// SPDX-License-Identifier: Apache-2.0
// The double-precision reference gradients against central finite differences of the double
// forward reference (L = sum(out * d_o)), for every option, GQA / MQA, and segments that are
// empty, of length 1, with q shorter and longer than k, and with rows that see no key; the
// gradients of chosen rows (reference_attention_backward_rows, the long segments' yardstick)
// against the full reference.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <varattn/reference_backward.hpp>
#include <vector>

#include "../common/mask_options.hpp"

namespace {

using view = varattn::packed_view<const double>;

struct grad_case {
  const char* name;
  varattn::attention_options options;
  double q_gain = 1.0;  // larger scores where softcap's tanh should bend them
};

std::vector<grad_case> cases() {
  using test::mask_options;
  varattn::attention_options scaled;
  scaled.scale = 0.7f;
  return {
      {"none", mask_options(false, -1, -1)},
      {"causal", mask_options(true, -1, -1)},
      {"window (2, 1)", mask_options(false, 2, 1)},
      {"window (0, 0)", mask_options(false, 0, 0)},
      {"causal + left 1", mask_options(true, 1, -1)},
      {"left only (1, -1)", mask_options(false, 1, -1)},
      {"right only (-1, 0)", mask_options(false, -1, 0)},
      {"softcap 2", mask_options(false, -1, -1, 2.0f), 3.0},
      {"softcap 1.5, causal, window (3, 0)", mask_options(true, 3, -1, 1.5f), 3.0},
      {"scale 0.7", scaled},
  };
}

struct problem {
  std::vector<int32_t> lq = {0, 1, 5, 3, 4, 2, 3};
  std::vector<int32_t> lk = {3, 1, 3, 6, 0, 2, 1};
  int32_t heads_q = 4, heads_kv = 2, d = 4;
};

// Sum of out * d_o over every element: the loss whose gradients the reference returns.
double loss(const varattn::segments& sq, const varattn::segments& sk, const problem& pr,
            const std::vector<double>& q, const std::vector<double>& k,
            const std::vector<double>& v, const std::vector<double>& d_o,
            const varattn::attention_options& options) {
  const auto out = varattn::reference_attention<double>(
      sq, sk, view::contiguous(q.data(), sq.total(), pr.heads_q, pr.d),
      view::contiguous(k.data(), sk.total(), pr.heads_kv, pr.d),
      view::contiguous(v.data(), sk.total(), pr.heads_kv, pr.d), options);
  double sum = 0;
  for (std::size_t i = 0; i < out.size(); ++i) sum += out[i] * d_o[i];
  return sum;
}

// The segments of `pr` and its q, k, v, d_o drawn from `rng` (normal; q times c.q_gain).
struct inputs {
  varattn::segments sq, sk;
  std::vector<double> q, k, v, d_o;

  inputs(const problem& pr, const grad_case& c, std::mt19937& rng)
      : sq(varattn::segments::from_lengths(pr.lq, "cu_seqlens_q")),
        sk(varattn::segments::from_lengths(pr.lk, "cu_seqlens_k")),
        q(std::size_t(sq.total()) * pr.heads_q * pr.d),
        k(std::size_t(sk.total()) * pr.heads_kv * pr.d),
        v(k.size()),
        d_o(q.size()) {
    std::normal_distribution<double> normal;
    for (double& x : q) x = c.q_gain * normal(rng);
    for (double& x : k) x = normal(rng);
    for (double& x : v) x = normal(rng);
    for (double& x : d_o) x = normal(rng);
  }
};

void check_against_finite_differences(const problem& pr, const grad_case& c, unsigned seed) {
  CAPTURE(std::string(c.name));
  CAPTURE(pr.heads_q);
  CAPTURE(pr.heads_kv);
  CAPTURE(seed);
  std::mt19937 rng(seed);
  inputs in(pr, c, rng);
  const varattn::segments& sq = in.sq;
  const varattn::segments& sk = in.sk;
  std::vector<double>& q = in.q;  // perturbed in place by the finite differences
  std::vector<double>& k = in.k;
  std::vector<double>& v = in.v;
  const std::vector<double>& d_o = in.d_o;
  const auto g = varattn::reference_attention_backward<double>(
      sq, sk, view::contiguous(q.data(), sq.total(), pr.heads_q, pr.d),
      view::contiguous(k.data(), sk.total(), pr.heads_kv, pr.d),
      view::contiguous(v.data(), sk.total(), pr.heads_kv, pr.d),
      view::contiguous(d_o.data(), sq.total(), pr.heads_q, pr.d), c.options);
  REQUIRE(g.dq.size() == q.size());
  REQUIRE(g.dk.size() == k.size());
  REQUIRE(g.dv.size() == v.size());
  // Central differences: error ~ h^2 * (third derivative) + rounding ~ 1e-16 / h.
  constexpr double h = 1e-5;
  const auto fd = [&](std::vector<double>& x, std::size_t i) {
    const double saved = x[i];
    x[i] = saved + h;
    const double up = loss(sq, sk, pr, q, k, v, d_o, c.options);
    x[i] = saved - h;
    const double down = loss(sq, sk, pr, q, k, v, d_o, c.options);
    x[i] = saved;
    return (up - down) / (2 * h);
  };
  double max_error = 0, max_grad = 0;
  int64_t bad = 0;
  const auto compare = [&](const char* which, std::vector<double>& x,
                           const std::vector<double>& grad) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double expected = fd(x, i);
      const double error = std::fabs(grad[i] - expected);
      max_error = std::max(max_error, error);
      max_grad = std::max(max_grad, std::fabs(expected));
      if (error > 1e-6 * std::max(1.0, std::fabs(expected))) {
        ++bad;
        if (bad <= 5) {
          MESSAGE(which, "[", i, "]: reference ", grad[i], ", finite difference ", expected);
        }
      }
    }
  };
  compare("dq", q, g.dq);
  compare("dk", k, g.dk);
  compare("dv", v, g.dv);
  CHECK(bad == 0);
  CHECK(max_grad > 0.1);  // the problem has gradients to check, not only zeros
  // Rows that see no key: out 0 and dq exactly 0.
  for (std::size_t s = 0; s < sq.size(); ++s) {
    for (int32_t i = 0; i < sq[s].length; ++i) {
      if (!varattn::reference_visible_keys(i, sq[s].length, sk[s].length, c.options).empty()) {
        continue;
      }
      const std::size_t row = std::size_t(sq[s].begin) + i;
      for (std::size_t e = 0; e < std::size_t(pr.heads_q) * pr.d; ++e) {
        CHECK(g.dq[row * pr.heads_q * pr.d + e] == 0.0);
        CHECK(g.out[row * pr.heads_q * pr.d + e] == 0.0);
      }
    }
  }
}

}  // namespace

TEST_CASE("reference gradients equal finite differences: every option, GQA 2:1") {
  const problem pr;
  unsigned seed = 100;
  for (const grad_case& c : cases()) {
    check_against_finite_differences(pr, c, seed++);
    check_against_finite_differences(pr, c, seed++);
  }
}

TEST_CASE("reference gradients equal finite differences: MQA (4:1) and MHA (3:3)") {
  problem mqa;
  mqa.heads_q = 4;
  mqa.heads_kv = 1;
  problem mha;
  mha.heads_q = 3;
  mha.heads_kv = 3;
  mha.d = 3;
  unsigned seed = 200;
  for (const grad_case& c : cases()) {
    check_against_finite_differences(mqa, c, seed++);
    check_against_finite_differences(mha, c, seed++);
  }
}

TEST_CASE("reference gradients: the problem has the edge cases it claims") {
  // Keyless rows: causal with q longer than k (segment 2: 5 queries, 3 keys) and k empty
  // (segment 4); an empty q segment with keys (segment 0): its dk and dv are 0.
  const problem pr;
  const auto sq = varattn::segments::from_lengths(pr.lq, "cu_seqlens_q");
  const auto sk = varattn::segments::from_lengths(pr.lk, "cu_seqlens_k");
  varattn::attention_options causal;
  causal.causal = true;
  CHECK(varattn::reference_visible_keys(0, 5, 3, causal).empty());
  CHECK(varattn::reference_visible_keys(1, 5, 3, causal).empty());
  CHECK(!varattn::reference_visible_keys(2, 5, 3, causal).empty());
  CHECK(varattn::reference_visible_keys(0, 4, 0, {}).empty());
  std::vector<double> ones_q(std::size_t(sq.total()) * pr.heads_q * pr.d, 1.0);
  std::vector<double> ones_k(std::size_t(sk.total()) * pr.heads_kv * pr.d, 0.5);
  const auto g = varattn::reference_attention_backward<double>(
      sq, sk, view::contiguous(ones_q.data(), sq.total(), pr.heads_q, pr.d),
      view::contiguous(ones_k.data(), sk.total(), pr.heads_kv, pr.d),
      view::contiguous(ones_k.data(), sk.total(), pr.heads_kv, pr.d),
      view::contiguous(ones_q.data(), sq.total(), pr.heads_q, pr.d), causal);
  for (int32_t j = 0; j < 3; ++j) {  // segment 0's keys: no query
    for (int32_t e = 0; e < pr.heads_kv * pr.d; ++e) {
      CHECK(g.dk[std::size_t(j) * pr.heads_kv * pr.d + e] == 0.0);
      CHECK(g.dv[std::size_t(j) * pr.heads_kv * pr.d + e] == 0.0);
    }
  }
  // Segment 6 (3 queries, 1 key, causal: only its last query sees the key): that row's
  // softmax is 1 on its key, so dv = its d_o summed over the 2 q heads of the group, and
  // dk = 0 (the softmax of one key has no slope).
  const std::size_t key = std::size_t(sk[6].begin);
  for (int32_t e = 0; e < pr.heads_kv * pr.d; ++e) {
    CHECK(g.dv[key * pr.heads_kv * pr.d + e] == doctest::Approx(2.0));
    CHECK(g.dk[key * pr.heads_kv * pr.d + e] == doctest::Approx(0.0));
  }
}

TEST_CASE("reference gradients reject a d_o that does not fit q") {
  const auto sq = varattn::segments::from_lengths({2, 3}, "cu_seqlens_q");
  const auto sk = varattn::segments::from_lengths({1, 4}, "cu_seqlens_k");
  const std::vector<double> q(5 * 2 * 4), k(5 * 1 * 4), d_o(q.size());
  const auto run = [&](view o) {
    return varattn::reference_attention_backward<double>(
        sq, sk, view::contiguous(q.data(), 5, 2, 4), view::contiguous(k.data(), 5, 1, 4),
        view::contiguous(k.data(), 5, 1, 4), o);
  };
  CHECK_NOTHROW(run(view::contiguous(d_o.data(), 5, 2, 4)));
  CHECK_THROWS_WITH_AS(run(view::contiguous(d_o.data(), 4, 2, 4)), "d_o.rows = 4 != q.rows = 5",
                       varattn::error);
  CHECK_THROWS_WITH_AS(run(view::contiguous(d_o.data(), 5, 1, 4)), "d_o.heads = 1 != q.heads = 2",
                       varattn::error);
  CHECK_THROWS_WITH_AS(run(view::contiguous(d_o.data(), 5, 2, 2)),
                       "d_o.head_dim = 2 != q.head_dim = 4", varattn::error);
  CHECK_THROWS_WITH_AS(run(view::contiguous(static_cast<const double*>(nullptr), 5, 2, 4)),
                       "d_o.data is a null pointer", varattn::error);
}

namespace {

// The chosen rows of reference_attention_backward_rows against the full reference (the same
// sums in the same order: equal up to rounding), every other row NaN; with `forward` of every
// row, and of only the rows the function needs (chosen queries, queries that see a chosen key).
void check_chosen_rows(const problem& pr, const grad_case& c, unsigned seed) {
  CAPTURE(std::string(c.name));
  CAPTURE(pr.heads_q);
  CAPTURE(pr.heads_kv);
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const inputs in(pr, c, rng);
  const varattn::segments& sq = in.sq;
  const varattn::segments& sk = in.sk;
  const view vq = view::contiguous(in.q.data(), sq.total(), pr.heads_q, pr.d);
  const view vk = view::contiguous(in.k.data(), sk.total(), pr.heads_kv, pr.d);
  const view vv = view::contiguous(in.v.data(), sk.total(), pr.heads_kv, pr.d);
  const view vdo = view::contiguous(in.d_o.data(), sq.total(), pr.heads_q, pr.d);
  const auto full =
      varattn::reference_attention_backward<double>(sq, sk, vq, vk, vv, vdo, c.options);
  std::bernoulli_distribution half(0.5);
  std::vector<char> chosen_q(std::size_t(sq.total())), chosen_k(std::size_t(sk.total()));
  for (char& x : chosen_q) x = half(rng);
  for (char& x : chosen_k) x = half(rng);
  // The query rows the function needs: the chosen ones and those that see a chosen key.
  std::vector<char> needed = chosen_q;
  for (std::size_t s = 0; s < sq.size(); ++s) {
    for (int32_t i = 0; i < sq[s].length; ++i) {
      const auto keys = varattn::reference_visible_keys(i, sq[s].length, sk[s].length, c.options);
      for (int64_t j = keys.first; j <= keys.last; ++j) {
        if (chosen_k[std::size_t(sk[s].begin + j)]) needed[std::size_t(sq[s].begin + i)] = 1;
      }
    }
  }
  const auto compare = [&](const std::vector<double>& got, const std::vector<double>& want,
                           const std::vector<char>& chosen, int64_t row_elements) {
    int64_t bad = 0;
    for (std::size_t e = 0; e < want.size(); ++e) {
      const bool in = chosen[e / std::size_t(row_elements)];
      bad += in ? !(std::fabs(got[e] - want[e]) <= 1e-12 * std::max(1.0, std::fabs(want[e])))
                : !std::isnan(got[e]);
    }
    return bad;
  };
  for (const bool only_needed : {false, true}) {
    CAPTURE(only_needed);
    auto forward = varattn::reference_attention_lse<double>(
        sq, sk, vq, vk, vv, c.options,
        [&](int32_t row) { return !only_needed || needed[std::size_t(row)]; });
    const auto rows = varattn::reference_attention_backward_rows<double>(
        sq, sk, vq, vk, vv, vdo, c.options, std::move(forward),
        [&](int32_t row) { return chosen_q[std::size_t(row)] != 0; },
        [&](int32_t row) { return chosen_k[std::size_t(row)] != 0; });
    CHECK(compare(rows.dq, full.dq, chosen_q, int64_t{pr.heads_q} * pr.d) == 0);
    CHECK(compare(rows.dk, full.dk, chosen_k, int64_t{pr.heads_kv} * pr.d) == 0);
    CHECK(compare(rows.dv, full.dv, chosen_k, int64_t{pr.heads_kv} * pr.d) == 0);
    if (!only_needed) {
      CHECK(rows.out == full.out);
      CHECK(rows.lse == full.lse);
    }
  }
  // Every row chosen: the full reference again.
  const auto all = varattn::reference_attention_backward_rows<double>(
      sq, sk, vq, vk, vv, vdo, c.options,
      varattn::reference_attention_lse<double>(sq, sk, vq, vk, vv, c.options),
      [](int32_t) { return true; }, [](int32_t) { return true; });
  const std::vector<char> every_q(chosen_q.size(), 1), every_k(chosen_k.size(), 1);
  CHECK(compare(all.dq, full.dq, every_q, int64_t{pr.heads_q} * pr.d) == 0);
  CHECK(compare(all.dk, full.dk, every_k, int64_t{pr.heads_kv} * pr.d) == 0);
  CHECK(compare(all.dv, full.dv, every_k, int64_t{pr.heads_kv} * pr.d) == 0);
}

}  // namespace

TEST_CASE("reference gradients of chosen rows equal the full reference's: every option, GQA, MQA") {
  problem gqa;  // the edge-case segments above, 4:2 heads
  problem mqa;
  mqa.heads_q = 3;
  mqa.heads_kv = 1;
  problem longer;  // longer segments, so the masks cut inside them
  longer.lq = {23, 0, 40, 9, 1};
  longer.lk = {23, 5, 31, 17, 1};
  longer.d = 8;
  unsigned seed = 300;
  for (const grad_case& c : cases()) {
    check_chosen_rows(gqa, c, seed++);
    check_chosen_rows(mqa, c, seed++);
    check_chosen_rows(longer, c, seed++);
  }
}

TEST_CASE("reference gradients of chosen rows reject a forward that lacks a needed row") {
  const auto sq = varattn::segments::from_lengths({2, 3}, "cu_seqlens_q");
  const auto sk = varattn::segments::from_lengths({1, 4}, "cu_seqlens_k");
  const std::vector<double> q(5 * 2 * 4, 0.5), k(5 * 1 * 4, 0.25), d_o(q.size(), 1.0);
  const view vq = view::contiguous(q.data(), 5, 2, 4), vk = view::contiguous(k.data(), 5, 1, 4);
  const auto forward = varattn::reference_attention_lse<double>(
      sq, sk, vq, vk, vk, {}, [](int32_t row) { return row != 3; });  // row 3 not computed
  const auto run = [&](varattn::reference_result f, int32_t query, int32_t key) {
    return varattn::reference_attention_backward_rows<double>(
        sq, sk, vq, vk, vk, view::contiguous(d_o.data(), 5, 2, 4), {}, std::move(f),
        [&](int32_t row) { return row == query; }, [&](int32_t row) { return row == key; });
  };
  // Query row 2 and key row 0 (segment 0's) need neither row 3 nor anything else of segment 1.
  const auto g = run(forward, 2, 0);
  CHECK(!std::isnan(g.dq[2 * 2 * 4]));
  CHECK(std::isnan(g.dq[3 * 2 * 4]));
  CHECK(!std::isnan(g.dk[0]));
  CHECK(std::isnan(g.dk[1 * 4]));
  CHECK_THROWS_WITH_AS(run(forward, 3, 0),
                       "forward's lse of query row 3, head 0 is NaN (not computed), and a chosen "
                       "row needs it",
                       varattn::error);
  CHECK_THROWS_WITH_AS(run(forward, -1, 2),  // key 2 (segment 1's): every query of it sees it
                       "forward's lse of query row 3, head 0 is NaN (not computed), and a chosen "
                       "row needs it",
                       varattn::error);
  varattn::reference_result short_forward = forward;
  short_forward.lse.pop_back();
  CHECK_THROWS_WITH_AS(run(short_forward, 2, 0),
                       "forward has 40 out and 9 lse elements; q's rows and heads need 40 and 10",
                       varattn::error);
  CHECK_THROWS_WITH_AS(varattn::reference_attention_backward_rows<double>(
                           sq, sk, vq, vk, vk, view::contiguous(d_o.data(), 4, 2, 4), {}, forward,
                           [](int32_t) { return true; }, [](int32_t) { return true; }),
                       "d_o.rows = 4 != q.rows = 5", varattn::error);
}
