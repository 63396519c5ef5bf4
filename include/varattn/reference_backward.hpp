// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file reference_backward.hpp
//! The gradients of attention on the host in double precision: dq, dk, dv of the loss
//! sum(out * d_o) for the same options and semantics as reference_attention (reference.hpp),
//! the yardstick of the backward kernels' tests; of every row, or of chosen rows only (long
//! segments).

#include <varattn/error.hpp>
#include <varattn/options.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/reference.hpp>
#include <varattn/segments.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace varattn {

namespace detail {
//! d_o must have q's rows, heads and head dim (and storage if it has rows).
template <class Element>
void check_reference_d_o(const packed_view<const Element>& q,
                         const packed_view<const Element>& d_o) {
  if (d_o.rows != q.rows) fail("d_o.rows = ", d_o.rows, " != q.rows = ", q.rows);
  if (d_o.heads != q.heads) fail("d_o.heads = ", d_o.heads, " != q.heads = ", q.heads);
  if (d_o.head_dim != q.head_dim) {
    fail("d_o.head_dim = ", d_o.head_dim, " != q.head_dim = ", q.head_dim);
  }
  if (d_o.data == nullptr && d_o.rows > 0) fail("d_o.data is a null pointer");
}

//! The score of q.k = `dot` and its slope d score / d (q.k): scale * dot and scale, or with a
//! softcap cap * tanh(scale * dot / cap) and scale * (1 - tanh^2).
struct reference_score {
  double score, slope;
};
inline reference_score reference_score_of(double dot, double scale, double cap) {
  if (!(cap > 0)) return {dot * scale, scale};
  const double t = std::tanh(dot * scale / cap);
  return {cap * t, scale * (1 - t * t)};
}

//! D = d_o . out of one query row (`d` channels).
template <class Element>
double reference_row_delta(const Element* d_o, const double* out, int32_t d) {
  double big_d = 0;
  for (int32_t c = 0; c < d; ++c) big_d += to_double(d_o[c]) * out[c];
  return big_d;
}

//! One (query row, key) pair: p = exp(score - lse) and ds = p (d_o . v - D) d score / d (q.k).
struct reference_pair {
  double p, ds;
};
template <class Element>
reference_pair reference_pair_of(const Element* q, const Element* d_o, const Element* k,
                                 const Element* v, int32_t d, double scale, double cap,
                                 double lse, double big_d) {
  double dot = 0, dp = 0;
  for (int32_t c = 0; c < d; ++c) {
    dot += to_double(q[c]) * to_double(k[c]);
    dp += to_double(d_o[c]) * to_double(v[c]);
  }
  const reference_score sc = reference_score_of(dot, scale, cap);
  const double p = std::exp(sc.score - lse);
  return {p, p * (dp - big_d) * sc.slope};
}
}  // namespace detail

//! Gradients of reference_attention_backward, each dense and row-major like q, k, v.
struct reference_gradients {
  std::vector<double> dq;   //!< [rows_q, heads_q, head_dim]
  std::vector<double> dk;   //!< [rows_k, heads_kv, head_dim]: summed over each group's q heads
  std::vector<double> dv;   //!< [rows_k, heads_kv, head_dim]
  std::vector<double> out;  //!< the forward's output, [rows_q, heads_q, head_dim]
  std::vector<double> lse;  //!< the forward's logsumexp, [heads_q, rows_q]
};

//! Returns dL/dq, dL/dk, dL/dv for L = sum(out * d_o), out = reference_attention(q, k, v,
//! options). Per query row i of q head h and each key j it sees (reference_visible_keys):
//! p_j = exp(score_j - lse_i), dv_j += p_j d_o_i, dp_j = d_o_i . v_j, D_i = d_o_i . out_i,
//! ds_j = p_j (dp_j - D_i) times d score / d (q.k): scale, or scale (1 - tanh^2(scale q.k /
//! cap)) with softcap; dq_i += ds_j k_j, dk_j += ds_j q_i. q head h's kv head is h / (heads_q
//! / heads_kv), so dk and dv sum over the q heads of a group. Rows that see no key have out 0
//! and contribute nothing: their dq is 0. Throws as reference_attention_lse does, and if d_o
//! does not have q's rows, heads and head dim.
template <class Element>
reference_gradients reference_attention_backward(const segments& segs_q, const segments& segs_k,
                                                 packed_view<const Element> q,
                                                 packed_view<const Element> k,
                                                 packed_view<const Element> v,
                                                 packed_view<const Element> d_o,
                                                 const attention_options& options = {}) {
  // Validates options and views (throws before reading any element).
  reference_result forward = reference_attention_lse(segs_q, segs_k, q, k, v, options);
  detail::check_reference_d_o(q, d_o);
  const int32_t d = q.head_dim;
  const int32_t group = q.heads / k.heads;
  const double scale = options.scale ? *options.scale : 1.0 / std::sqrt(double(d));
  const double cap = options.softcap;
  const int64_t rows_q = q.rows;
  reference_gradients g;
  g.dq.assign(std::size_t(rows_q) * q.heads * d, 0.0);
  g.dk.assign(std::size_t(k.rows) * k.heads * d, 0.0);
  g.dv.assign(g.dk.size(), 0.0);
  const auto dk_at = [&](int64_t row, int32_t head) {
    return &g.dk[(std::size_t(row) * k.heads + head) * d];
  };
  const auto dv_at = [&](int64_t row, int32_t head) {
    return &g.dv[(std::size_t(row) * k.heads + head) * d];
  };
  for (std::size_t s = 0; s < segs_q.size(); ++s) {
    const segment sq = segs_q[s];
    const segment sk = segs_k[s];
    for (int32_t h = 0; h < q.heads; ++h) {
      const int32_t hk = h / group;
      for (int32_t i = 0; i < sq.length; ++i) {
        const int64_t row = int64_t{sq.begin} + i;
        const visible_key_range keys = reference_visible_keys(i, sq.length, sk.length, options);
        if (keys.empty()) continue;  // out 0, whatever q, k and v: no gradient
        const Element* qi = q.at(row, h);
        const Element* doi = d_o.at(row, h);
        const double* oi = &forward.out[(std::size_t(row) * q.heads + h) * d];
        const double lse = forward.lse[std::size_t(h) * rows_q + row];
        double* dqi = &g.dq[(std::size_t(row) * q.heads + h) * d];
        const double big_d = detail::reference_row_delta(doi, oi, d);
        for (int64_t j = keys.first; j <= keys.last; ++j) {
          const int64_t key = int64_t{sk.begin} + j;
          const Element* kj = k.at(key, hk);
          const Element* vj = v.at(key, hk);
          const auto [p, ds] =
              detail::reference_pair_of(qi, doi, kj, vj, d, scale, cap, lse, big_d);
          double* dkj = dk_at(key, hk);
          double* dvj = dv_at(key, hk);
          for (int32_t c = 0; c < d; ++c) {
            dvj[c] += p * detail::to_double(doi[c]);
            dqi[c] += ds * detail::to_double(kj[c]);
            dkj[c] += ds * detail::to_double(qi[c]);
          }
        }
      }
    }
  }
  g.out = std::move(forward.out);
  g.lse = std::move(forward.lse);
  return g;
}

//! The gradients of chosen rows only, for problems too long to compute every row of (a 16k
//! segment): dq of the query rows r with include_query(r), dk and dv of the key rows r with
//! include_key(r), each for every head; every other element is NaN. The chosen rows equal
//! reference_attention_backward's (the same sums in the same order). `forward` is
//! reference_attention_lse(segs_q, segs_k, q, k, v, options, filter) for a filter that keeps
//! at least the chosen query rows and every query row that sees a chosen key (the O(len^2 d)
//! part of a long segment: a caller may compute it in parts, on several threads); it becomes
//! the result's out and lse. A chosen row costs one pass over the rows it pairs with: its keys
//! for dq; for dk and dv, the queries that see it, of each q head of its kv head's group.
//! Throws as reference_attention_backward does, and if `forward` does not have q's rows and
//! heads or lacks (NaN) a row that a chosen row needs.
template <class Element, class QueryFilter, class KeyFilter>
reference_gradients reference_attention_backward_rows(
    const segments& segs_q, const segments& segs_k, packed_view<const Element> q,
    packed_view<const Element> k, packed_view<const Element> v, packed_view<const Element> d_o,
    const attention_options& options, reference_result forward, QueryFilter include_query,
    KeyFilter include_key) {
  detail::check_reference_problem(segs_q, segs_k, q, k, v, options);
  detail::check_reference_d_o(q, d_o);
  const int32_t d = q.head_dim;
  const int32_t group = q.heads / k.heads;
  const double scale = options.scale ? *options.scale : 1.0 / std::sqrt(double(d));
  const double cap = options.softcap;
  const int64_t rows_q = q.rows;
  const std::size_t out_size = std::size_t(rows_q) * q.heads * d;
  const std::size_t lse_size = std::size_t(rows_q) * q.heads;
  if (forward.out.size() != out_size || forward.lse.size() != lse_size) {
    detail::fail("forward has ", forward.out.size(), " out and ", forward.lse.size(),
                 " lse elements; q's rows and heads need ", out_size, " and ", lse_size);
  }
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  reference_gradients g;
  g.dq.assign(out_size, nan);
  g.dk.assign(std::size_t(k.rows) * k.heads * d, nan);
  g.dv.assign(g.dk.size(), nan);
  // Query row `row` of q head h: its lse and D = d_o . out.
  struct row_terms {
    double lse, big_d;
  };
  const auto terms_of = [&](int64_t row, int32_t h) {
    const double lse = forward.lse[std::size_t(h) * rows_q + row];
    if (std::isnan(lse)) {
      detail::fail("forward's lse of query row ", row, ", head ", h,
                   " is NaN (not computed), and a chosen row needs it");
    }
    const double* oi = &forward.out[(std::size_t(row) * q.heads + h) * d];
    return row_terms{lse, detail::reference_row_delta(d_o.at(row, h), oi, d)};
  };
  // p and ds of the pair (query row `row` of q head h, key row `key` of its kv head).
  const auto pair_of = [&](int64_t row, int32_t h, int64_t key, row_terms t) {
    return detail::reference_pair_of(q.at(row, h), d_o.at(row, h), k.at(key, h / group),
                                     v.at(key, h / group), d, scale, cap, t.lse, t.big_d);
  };
  for (std::size_t s = 0; s < segs_q.size(); ++s) {
    const segment sq = segs_q[s];
    const segment sk = segs_k[s];
    for (int32_t i = 0; i < sq.length; ++i) {
      if (!include_query(sq.begin + i)) continue;
      const int64_t row = int64_t{sq.begin} + i;
      const visible_key_range keys = reference_visible_keys(i, sq.length, sk.length, options);
      for (int32_t h = 0; h < q.heads; ++h) {
        double* dqi = &g.dq[(std::size_t(row) * q.heads + h) * d];
        std::fill(dqi, dqi + d, 0.0);
        if (keys.empty()) continue;  // out 0, whatever q, k and v: no gradient
        const row_terms t = terms_of(row, h);
        for (int64_t j = keys.first; j <= keys.last; ++j) {
          const int64_t key = int64_t{sk.begin} + j;
          const double ds = pair_of(row, h, key, t).ds;
          const Element* kj = k.at(key, h / group);
          for (int32_t c = 0; c < d; ++c) dqi[c] += ds * detail::to_double(kj[c]);
        }
      }
    }
    for (int32_t j = 0; j < sk.length; ++j) {
      if (!include_key(sk.begin + j)) continue;
      const int64_t key = int64_t{sk.begin} + j;
      for (int32_t hk = 0; hk < k.heads; ++hk) {
        double* dkj = &g.dk[(std::size_t(key) * k.heads + hk) * d];
        double* dvj = &g.dv[(std::size_t(key) * k.heads + hk) * d];
        std::fill(dkj, dkj + d, 0.0);
        std::fill(dvj, dvj + d, 0.0);
        for (int32_t h = hk * group; h < (hk + 1) * group; ++h) {
          for (int32_t i = 0; i < sq.length; ++i) {
            const visible_key_range keys = reference_visible_keys(i, sq.length, sk.length, options);
            if (j < keys.first || j > keys.last) continue;
            const int64_t row = int64_t{sq.begin} + i;
            const detail::reference_pair pt = pair_of(row, h, key, terms_of(row, h));
            const Element* qi = q.at(row, h);
            const Element* doi = d_o.at(row, h);
            for (int32_t c = 0; c < d; ++c) {
              dvj[c] += pt.p * detail::to_double(doi[c]);
              dkj[c] += pt.ds * detail::to_double(qi[c]);
            }
          }
        }
      }
    }
  }
  g.out = std::move(forward.out);
  g.lse = std::move(forward.lse);
  return g;
}

}  // namespace varattn
