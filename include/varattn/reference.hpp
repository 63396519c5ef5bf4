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
}  // namespace detail

//! Returns out[rows_q, heads_q, head_dim] (dense, row-major) for host views q, k, v.
//! Same semantics as the kernels: bottom-right causal alignment, rows that see no key are 0.
//! Only query rows r with include_row(r) are computed (long segments are costly in double
//! precision); the others are NaN. Throws varattn::error, before reading any element, if the
//! views' rows, heads or head dims do not fit the segments and each other (their strides
//! and storage are the caller's to vouch for).
template <class Element, class RowFilter>
std::vector<double> reference_attention(const segments& segs_q, const segments& segs_k,
                                        packed_view<const Element> q,
                                        packed_view<const Element> k,
                                        packed_view<const Element> v,
                                        const attention_options& options,
                                        RowFilter include_row) {
  if (segs_q.size() != segs_k.size()) {
    detail::fail(segs_q.name(), " has ", segs_q.size(), " segments but ", segs_k.name(),
                 " has ", segs_k.size());
  }
  if (q.heads <= 0) detail::fail("q.heads = ", q.heads, " must be positive");
  if (k.heads <= 0) detail::fail("k.heads = ", k.heads, " must be positive");
  if (v.heads != k.heads) detail::fail("v.heads = ", v.heads, " != k.heads = ", k.heads);
  if (q.heads % k.heads != 0) {
    detail::fail("q.heads = ", q.heads, " is not a multiple of k.heads = ", k.heads);
  }
  if (q.head_dim <= 0) detail::fail("q.head_dim = ", q.head_dim, " must be positive");
  if (k.head_dim != q.head_dim) {
    detail::fail("k.head_dim = ", k.head_dim, " != q.head_dim = ", q.head_dim);
  }
  if (v.head_dim != q.head_dim) {
    detail::fail("v.head_dim = ", v.head_dim, " != q.head_dim = ", q.head_dim);
  }
  detail::check_reference_view("q", q, segs_q);
  detail::check_reference_view("k", k, segs_k);
  detail::check_reference_view("v", v, segs_k);
  const int32_t d = q.head_dim;
  const int32_t group = q.heads / k.heads;
  const double scale = options.scale ? *options.scale : 1.0 / std::sqrt(double(d));
  std::vector<double> out(std::size_t(q.rows) * q.heads * d, 0.0);
  std::vector<double> scores;
  for (std::size_t s = 0; s < segs_q.size(); ++s) {
    const segment sq = segs_q[s];
    const segment sk = segs_k[s];
    scores.resize(std::size_t(sk.length));
    for (int32_t h = 0; h < q.heads; ++h) {
      const int32_t hk = h / group;
      for (int32_t i = 0; i < sq.length; ++i) {
        double* oi = &out[(std::size_t(sq.begin + i) * q.heads + h) * d];
        if (!include_row(sq.begin + i)) {
          std::fill(oi, oi + d, std::numeric_limits<double>::quiet_NaN());
          continue;
        }
        const Element* qi = q.at(sq.begin + i, h);
        // Last visible key; bottom-right aligned when causal.
        const int64_t last = options.causal ? std::min<int64_t>(sk.length - 1,
                                                                int64_t(i) + sk.length - sq.length)
                                            : sk.length - 1;
        if (last < 0) continue;
        double max_score = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j <= last; ++j) {
          const Element* kj = k.at(sk.begin + j, hk);
          double dot = 0;
          for (int32_t c = 0; c < d; ++c) dot += detail::to_double(qi[c]) * detail::to_double(kj[c]);
          scores[j] = dot * scale;
          max_score = std::max(max_score, scores[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j <= last; ++j) sum += (scores[j] = std::exp(scores[j] - max_score));
        for (int64_t j = 0; j <= last; ++j) {
          const Element* vj = v.at(sk.begin + j, hk);
          const double p = scores[j] / sum;
          for (int32_t c = 0; c < d; ++c) oi[c] += p * detail::to_double(vj[c]);
        }
      }
    }
  }
  return out;
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
