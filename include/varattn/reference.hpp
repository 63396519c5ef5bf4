// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file reference.hpp
//! Attention on the host in double precision over the same packed views and segments:
//! the yardstick for tests and for users checking their integration.

#include <varattn/error.hpp>
#include <varattn/options.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/segments.hpp>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace varattn {
namespace detail {
inline double to_double(float x) { return x; }
inline double to_double(double x) { return x; }
inline double to_double(__half x) { return __half2float(x); }
inline double to_double(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class Element>
void check_reference_view(const char* name, const packed_view<const Element>& view,
                          const segments& segs) {
  if (view.rows != segs.total()) {
    fail(name, ".rows = ", view.rows, " != ", segs.name(), "[", segs.size(), "] = ", segs.total());
  }
  // No rows need no storage (as validate() allows for the kernels).
  if (view.data == nullptr && view.rows > 0) fail(name, ".data is a null pointer");
}

//! The checks of reference_attention_lse (and the backward references): the options, and the
//! views' rows, heads and head dims against the segments and each other.
template <class Element>
void check_reference_problem(const segments& segs_q, const segments& segs_k,
                             const packed_view<const Element>& q,
                             const packed_view<const Element>& k,
                             const packed_view<const Element>& v,
                             const attention_options& options) {
  if (segs_q.size() != segs_k.size()) {
    fail(segs_q.name(), " has ", segs_q.size(), " segments but ", segs_k.name(), " has ",
         segs_k.size());
  }
  if (options.window_left < -1) {
    fail("window_left = ", options.window_left, " must be -1 (unbounded) or >= 0");
  }
  if (options.window_right < -1) {
    fail("window_right = ", options.window_right, " must be -1 (unbounded) or >= 0");
  }
  if (!(options.softcap >= 0.0f) || !std::isfinite(options.softcap)) {
    fail("softcap = ", options.softcap, " must be 0 (off) or positive and finite");
  }
  if (q.heads <= 0) fail("q.heads = ", q.heads, " must be positive");
  if (k.heads <= 0) fail("k.heads = ", k.heads, " must be positive");
  if (v.heads != k.heads) fail("v.heads = ", v.heads, " != k.heads = ", k.heads);
  if (q.heads % k.heads != 0) {
    fail("q.heads = ", q.heads, " is not a multiple of k.heads = ", k.heads);
  }
  if (q.head_dim <= 0) fail("q.head_dim = ", q.head_dim, " must be positive");
  if (k.head_dim != q.head_dim) {
    fail("k.head_dim = ", k.head_dim, " != q.head_dim = ", q.head_dim);
  }
  if (v.head_dim != q.head_dim) {
    fail("v.head_dim = ", v.head_dim, " != q.head_dim = ", q.head_dim);
  }
  check_reference_view("q", q, segs_q);
  check_reference_view("k", k, segs_k);
  check_reference_view("v", v, segs_k);
}
}  // namespace detail

//! The keys query row `i` of a segment of `len_q` queries and `len_k` keys sees: [first, last]
//! (empty when first > last). Bottom-right aligned, diagonal j = i + len_k - len_q; `left` and
//! `right` keys before and after it, -1 unbounded; causal makes right = min(right, 0).
struct visible_key_range {
  int64_t first = 0, last = -1;
  bool empty() const { return first > last; }
  int64_t size() const { return empty() ? 0 : last - first + 1; }
};
inline visible_key_range reference_visible_keys(int64_t i, int64_t len_q, int64_t len_k,
                              const attention_options& options) {
  const int64_t diag = i + len_k - len_q;
  int64_t right = options.window_right;
  if (options.causal) right = right < 0 ? 0 : std::min<int64_t>(right, 0);
  visible_key_range r{0, len_k - 1};
  if (options.window_left >= 0) r.first = std::max<int64_t>(r.first, diag - options.window_left);
  if (right >= 0) r.last = std::min<int64_t>(r.last, diag + right);
  return r;
}

//! Out and logsumexp of reference_attention_lse.
struct reference_result {
  std::vector<double> out;  //!< [rows_q, heads_q, head_dim], dense row-major
  std::vector<double> lse;  //!< [heads_q, rows_q]: lse[h * rows_q + row] (natural log)
};

namespace detail {
//! reference_attention_lse's rows [row_begin, row_end) of segment s and query head h, written
//! into `result` (sized for every row: out zeros, lse -inf). The units of one call write
//! disjoint elements, so a caller may compute them on several threads (the tests do, with a
//! const `include_row`; reference_attention_lse passes its own copy, which may be stateful).
template <class Element, class RowFilter>
void reference_rows(const segments& segs_q, const segments& segs_k, packed_view<const Element> q,
                    packed_view<const Element> k, packed_view<const Element> v,
                    const attention_options& options, RowFilter& include_row,
                    std::size_t s, int32_t h, int32_t row_begin, int32_t row_end,
                    reference_result& result) {
  const int32_t d = q.head_dim;
  const int32_t hk = h / (q.heads / k.heads);
  const double scale = options.scale ? *options.scale : 1.0 / std::sqrt(double(d));
  const double cap = options.softcap;
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  const int64_t rows_q = q.rows;
  const segment sq = segs_q[s];
  const segment sk = segs_k[s];
  std::vector<double> scores(std::size_t(sk.length));
  for (int32_t i = row_begin; i < row_end; ++i) {
    const int64_t row = int64_t{sq.begin} + i;
    double* oi = &result.out[(std::size_t(row) * q.heads + h) * d];
    double& lse = result.lse[std::size_t(h) * rows_q + row];
    if (!include_row(sq.begin + i)) {
      std::fill(oi, oi + d, nan);
      lse = nan;
      continue;
    }
    const visible_key_range keys = reference_visible_keys(i, sq.length, sk.length, options);
    if (keys.empty()) continue;  // zeros, -inf
    const Element* qi = q.at(row, h);
    double max_score = -inf;
    for (int64_t j = keys.first; j <= keys.last; ++j) {
      const Element* kj = k.at(sk.begin + j, hk);
      double dot = 0;
      for (int32_t c = 0; c < d; ++c) {
        dot += detail::to_double(qi[c]) * detail::to_double(kj[c]);
      }
      double score = dot * scale;
      if (cap > 0) score = cap * std::tanh(score / cap);
      scores[j] = score;
      max_score = std::max(max_score, score);
    }
    double sum = 0;
    for (int64_t j = keys.first; j <= keys.last; ++j) {
      sum += (scores[j] = std::exp(scores[j] - max_score));
    }
    lse = max_score + std::log(sum);
    for (int64_t j = keys.first; j <= keys.last; ++j) {
      const Element* vj = v.at(sk.begin + j, hk);
      const double p = scores[j] / sum;
      for (int32_t c = 0; c < d; ++c) oi[c] += p * detail::to_double(vj[c]);
    }
  }
}

//! A result sized for q's rows: out zeros, lse -inf (what a row that sees no key keeps).
template <class Element>
reference_result empty_reference(packed_view<const Element> q) {
  reference_result result;
  result.out.assign(std::size_t(q.rows) * q.heads * q.head_dim, 0.0);
  result.lse.assign(std::size_t(q.rows) * q.heads, -std::numeric_limits<double>::infinity());
  return result;
}
}  // namespace detail

//! Returns the output and the logsumexp of every query row for host views q, k, v. Same
//! semantics as the kernels (options.hpp): bottom-right aligned causal mask and window, the
//! score s = scale * q.k, softcapped to cap * tanh(s / cap) when options.softcap > 0; rows
//! that see no key are 0 with logsumexp -inf. Only query rows r with include_row(r) are
//! computed (long segments are costly in double precision); the others are NaN in both.
//! Throws varattn::error, before reading any element, if the options are invalid (window
//! below -1, softcap negative or not finite) or the views' rows, heads or head dims do not fit
//! the segments and each other (their strides and storage are the caller's to vouch for).
template <class Element, class RowFilter>
reference_result reference_attention_lse(const segments& segs_q, const segments& segs_k,
                                         packed_view<const Element> q,
                                         packed_view<const Element> k,
                                         packed_view<const Element> v,
                                         const attention_options& options,
                                         RowFilter include_row) {
  detail::check_reference_problem(segs_q, segs_k, q, k, v, options);
  reference_result result = detail::empty_reference(q);
  for (std::size_t s = 0; s < segs_q.size(); ++s) {
    for (int32_t h = 0; h < q.heads; ++h) {
      detail::reference_rows(segs_q, segs_k, q, k, v, options, include_row, s, h, 0,
                             segs_q[s].length, result);
    }
  }
  return result;
}

//! All rows.
template <class Element>
reference_result reference_attention_lse(const segments& segs_q, const segments& segs_k,
                                         packed_view<const Element> q,
                                         packed_view<const Element> k,
                                         packed_view<const Element> v,
                                         const attention_options& options = {}) {
  return reference_attention_lse(segs_q, segs_k, q, k, v, options, [](int32_t) { return true; });
}

//! Returns out[rows_q, heads_q, head_dim] (dense, row-major): reference_attention_lse's out.
template <class Element, class RowFilter>
std::vector<double> reference_attention(const segments& segs_q, const segments& segs_k,
                                        packed_view<const Element> q,
                                        packed_view<const Element> k,
                                        packed_view<const Element> v,
                                        const attention_options& options,
                                        RowFilter include_row) {
  return reference_attention_lse(segs_q, segs_k, q, k, v, options, std::move(include_row)).out;
}

//! All rows.
template <class Element>
std::vector<double> reference_attention(const segments& segs_q, const segments& segs_k,
                                        packed_view<const Element> q,
                                        packed_view<const Element> k,
                                        packed_view<const Element> v,
                                        const attention_options& options = {}) {
  return reference_attention(segs_q, segs_k, q, k, v, options, [](int32_t) { return true; });
}

}  // namespace varattn
