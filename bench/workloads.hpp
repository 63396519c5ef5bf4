// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file workloads.hpp
//! The benchmark workloads (host only, no CUDA), with the FLOP and byte counts every program
//! reports. The data is compiled in: workloads_data.hpp, which bench/gen_workloads.py writes
//! together with bench/workloads.json (the JSON is for compare.py), so the benchmark needs no
//! JSON reader and no dependency beyond Google Benchmark.

#include "workloads_data.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace varattn_bench {

//! One workload of workloads_data.hpp, in the form the benchmark uses.
struct workload {
  std::string name;
  std::string group;
  int32_t heads_q = 0;
  int32_t heads_kv = 0;
  int32_t head_dim = 0;
  bool causal = false;
  int32_t window_left = -1;   //!< varattn::attention_options::window_left (-1: unbounded)
  int32_t window_right = -1;  //!< varattn::attention_options::window_right (-1: unbounded)
  float softcap = 0.0f;       //!< 0: off
  bool lse = false;           //!< the forward also writes the logsumexp (float32 [heads_q, rows_q])
  int32_t encoder_layers = 0;
  std::vector<int32_t> lengths_q;
  std::vector<int32_t> lengths_k;  //!< equal to lengths_q unless the workload gives lengths_k

  int64_t rows_q() const { return sum(lengths_q); }
  int64_t rows_k() const { return sum(lengths_k); }

  //! Query-key pairs the attention evaluates. Bottom-right aligned, as varattn: in a
  //! segment, query i sees key j iff i + off - left <= j <= i + off + right with
  //! off = len_k - len_q, left = window_left, right = window_right (-1: unbounded), and
  //! causal making right = min(right, 0); so query i sees
  //! max(0, min(len_k - 1, i + off + right) - max(0, i + off - left) + 1) keys
  //! (causal alone: L(L+1)/2 a segment when len_q = len_k = L; neither: len_q * len_k).
  double visible_pairs() const {
    constexpr int64_t unbounded = int64_t(1) << 40;
    const int64_t left = window_left < 0 ? unbounded : window_left;
    int64_t right = window_right < 0 ? unbounded : window_right;
    if (causal) right = std::min<int64_t>(right, 0);
    double pairs = 0;
    for (std::size_t s = 0; s < lengths_q.size(); ++s) {
      const int64_t lq = lengths_q[s], lk = lengths_k[s], off = lk - lq;
      if (left >= unbounded && right >= unbounded) {
        pairs += double(lq) * double(lk);
        continue;
      }
      for (int64_t i = 0; i < lq; ++i) {
        const int64_t hi = std::min(lk - 1, i + off + right);
        const int64_t lo = std::max<int64_t>(0, i + off - left);
        if (hi >= lo) pairs += double(hi - lo + 1);
      }
    }
    return pairs;
  }
  //! 2 FLOPs per multiply-add, two products (q·kᵀ and p·v) per pair, per q head and channel.
  double flops() const { return 4.0 * visible_pairs() * heads_q * head_dim; }
  //! q, k, v read once and o written once; with lse, 4 bytes a query row and head more.
  double bytes(int element_size) const {
    return double(element_size) * head_dim *
               (2.0 * double(rows_q()) * heads_q + 2.0 * double(rows_k()) * heads_kv) +
           (lse ? 4.0 * double(rows_q()) * heads_q : 0.0);
  }
  //! The backward (varattn_bench's bwd/): 2.5x the forward's FLOPs, its five products
  //! (q·kᵀ again, dO·vᵀ, Pᵀ·dO, dSᵀ·q, dS·k) over the forward's two.
  double backward_flops() const { return 2.5 * flops(); }
  //! q, k, v, o, d_o and the float32 logsumexp read once, dq, dk, dv written once (the
  //! workspace's D = rowsum(d_o * o) not counted).
  double backward_bytes(int element_size) const {
    return double(element_size) * head_dim *
               (4.0 * double(rows_q()) * heads_q + 4.0 * double(rows_k()) * heads_kv) +
           4.0 * double(rows_q()) * heads_q;
  }

 private:
  static int64_t sum(const std::vector<int32_t>& v) {
    int64_t total = 0;
    for (int32_t x : v) total += x;
    return total;
  }
};

//! The workloads of workloads_data.hpp, in its order (gen_workloads.py validated them:
//! unique names, positive head counts, lengths and their totals within int32).
inline std::vector<workload> builtin_workloads() {
  std::vector<workload> out;
  for (const workload_spec& spec : kWorkloadSpecs) {
    workload w;
    w.name = spec.name;
    w.group = spec.group;
    w.heads_q = spec.heads_q;
    w.heads_kv = spec.heads_kv;
    w.head_dim = spec.head_dim;
    w.causal = spec.causal;
    w.window_left = spec.window_left;
    w.window_right = spec.window_right;
    w.softcap = spec.softcap;
    w.lse = spec.lse;
    w.encoder_layers = spec.encoder_layers;
    if (spec.segments > 0) {
      w.lengths_q.assign(spec.lengths_q, spec.lengths_q + spec.segments);
      w.lengths_k.assign(spec.lengths_k, spec.lengths_k + spec.segments);
    }
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace varattn_bench
