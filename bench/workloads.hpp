// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file workloads.hpp
//! The benchmark workloads (host only, no CUDA), with the FLOP and byte counts every program
//! reports. The data is compiled in: workloads_data.hpp, which bench/gen_workloads.py writes
//! together with bench/workloads.json (the JSON is for compare.py), so the benchmark needs no
//! JSON reader and no dependency beyond Google Benchmark.

#include "workloads_data.hpp"

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
  int32_t encoder_layers = 0;
  std::vector<int32_t> lengths_q;
  std::vector<int32_t> lengths_k;  //!< equal to lengths_q unless the workload gives lengths_k

  int64_t rows_q() const { return sum(lengths_q); }
  int64_t rows_k() const { return sum(lengths_k); }

  //! Query-key pairs the attention evaluates. Causal (bottom-right aligned, as varattn):
  //! query i of a segment sees key j iff j <= i + len_k - len_q, so the segment contributes
  //! sum_{i=0}^{len_q-1} clamp(i + len_k - len_q + 1, 0, len_k) pairs (= L(L+1)/2 when
  //! len_q = len_k = L); non-causal: len_q * len_k.
  double visible_pairs() const {
    double pairs = 0;
    for (std::size_t s = 0; s < lengths_q.size(); ++s) {
      const int64_t lq = lengths_q[s], lk = lengths_k[s];
      if (!causal) {
        pairs += double(lq) * double(lk);
        continue;
      }
      for (int64_t i = 0; i < lq; ++i) {
        const int64_t seen = i + lk - lq + 1;
        pairs += double(seen < 0 ? 0 : (seen > lk ? lk : seen));
      }
    }
    return pairs;
  }
  //! 2 FLOPs per multiply-add, two products (q·kᵀ and p·v) per pair, per q head and channel.
  double flops() const { return 4.0 * visible_pairs() * heads_q * head_dim; }
  //! q, k, v read once and o written once.
  double bytes(int element_size) const {
    return double(element_size) * head_dim *
           (2.0 * double(rows_q()) * heads_q + 2.0 * double(rows_k()) * heads_kv);
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
