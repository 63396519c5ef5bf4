// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file reference_backward.hpp
//! The gradients of attention on the host in double precision: dq, dk, dv of the loss
//! sum(out * d_o) for the same options and semantics as reference_attention (reference.hpp),
//! the yardstick of the backward kernels' tests.

#include <varattn/error.hpp>
#include <varattn/options.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/reference.hpp>
#include <varattn/segments.hpp>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace varattn {

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
  if (d_o.rows != q.rows) detail::fail("d_o.rows = ", d_o.rows, " != q.rows = ", q.rows);
  if (d_o.heads != q.heads) detail::fail("d_o.heads = ", d_o.heads, " != q.heads = ", q.heads);
  if (d_o.head_dim != q.head_dim) {
    detail::fail("d_o.head_dim = ", d_o.head_dim, " != q.head_dim = ", q.head_dim);
  }
  if (d_o.data == nullptr && d_o.rows > 0) detail::fail("d_o.data is a null pointer");
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
        double big_d = 0;
        for (int32_t c = 0; c < d; ++c) big_d += detail::to_double(doi[c]) * oi[c];
        for (int64_t j = keys.first; j <= keys.last; ++j) {
          const int64_t key = int64_t{sk.begin} + j;
          const Element* kj = k.at(key, hk);
          const Element* vj = v.at(key, hk);
          double dot = 0, dp = 0;
          for (int32_t c = 0; c < d; ++c) {
            dot += detail::to_double(qi[c]) * detail::to_double(kj[c]);
            dp += detail::to_double(doi[c]) * detail::to_double(vj[c]);
          }
          double score = dot * scale;
          double slope = scale;  // d score / d (q.k)
          if (cap > 0) {
            const double t = std::tanh(score / cap);
            score = cap * t;
            slope = scale * (1 - t * t);
          }
          const double p = std::exp(score - lse);
          const double ds = p * (dp - big_d) * slope;
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

}  // namespace varattn
