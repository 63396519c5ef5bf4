// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file parallel.hpp
//! The tests' host work on every core. The GPU tests spend most of their time on the host:
//! drawing the inputs, the double-precision reference (reference.hpp) and scoring the
//! outputs, each serial over tens of millions of elements on the large problems. Every
//! result here is the same whatever the number of threads.

#include <varattn/reference.hpp>
#include <varattn/reference_backward.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace test {

//! Runs work(i) for every i in [0, n) on the host's cores, indices handed out one at a time in
//! increasing order (so that units of unequal size balance). After a unit throws, no thread
//! starts another; once every thread has stopped, one of the exceptions (the lowest thread's)
//! is rethrown, as is a failure to start a thread.
template <class Work>
void parallel_for(int64_t n, const Work& work) {
  const int64_t threads =
      std::min<int64_t>(n, std::max<int64_t>(1, std::thread::hardware_concurrency()));
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) work(i);
    return;
  }
  std::atomic<int64_t> next{0};
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(threads));
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads));
  std::exception_ptr start_failure;
  try {
    for (int64_t t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        try {
          for (int64_t i = next++; i < n; i = next++) work(i);
        } catch (...) {
          errors[std::size_t(t)] = std::current_exception();
          next = n;  // the others stop at their next unit
        }
      });
    }
  } catch (...) {  // a thread could not start: stop the others, then report it
    start_failure = std::current_exception();
    next = n;
  }
  for (std::thread& thread : pool) thread.join();
  if (start_failure) std::rethrow_exception(start_failure);
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

//! reference_attention_lse on every core, equal to it element for element: units of up to
//! kReferenceRows rows of one segment and one query head, so that one long segment (a causal
//! 16k segment is ~1e10 multiply-adds in double a head) spreads over the cores too.
//! `include_row` is called from several threads in no set order: it must be a pure function
//! of the row (as the tests' samplers are).
constexpr int32_t kReferenceRows = 32;
template <class Element, class RowFilter>
varattn::reference_result reference_on_every_core(const varattn::segments& segs_q,
                                                  const varattn::segments& segs_k,
                                                  varattn::packed_view<const Element> q,
                                                  varattn::packed_view<const Element> k,
                                                  varattn::packed_view<const Element> v,
                                                  const varattn::attention_options& options,
                                                  const RowFilter& include_row) {
  varattn::detail::check_reference_problem(segs_q, segs_k, q, k, v, options);
  varattn::reference_result result = varattn::detail::empty_reference(q);
  struct unit {
    std::size_t segment;
    int32_t head, row_begin, row_end;
  };
  std::vector<unit> units;
  for (std::size_t s = 0; s < segs_q.size(); ++s) {
    for (int32_t h = 0; h < q.heads; ++h) {
      for (int32_t r = 0; r < segs_q[s].length; r += kReferenceRows) {
        units.push_back({s, h, r, std::min(segs_q[s].length, r + kReferenceRows)});
      }
    }
  }
  parallel_for(static_cast<int64_t>(units.size()), [&](int64_t i) {
    const unit& u = units[std::size_t(i)];
    varattn::detail::reference_rows(segs_q, segs_k, q, k, v, options, include_row, u.segment,
                                    u.head, u.row_begin, u.row_end, result);
  });
  return result;
}

//! reference_attention_backward on every core, equal to it element for element: the forward by
//! reference_on_every_core, then units of up to kReferenceRows rows of one segment: query rows
//! of one q head (their dq, each summed over its keys in order) and key rows of one kv head
//! (their dk and dv, each summed over the group's q heads, then the rows that see it, in order:
//! the serial reference's order). Throws as the serial reference does.
template <class Element>
varattn::reference_gradients backward_reference_on_every_core(
    const varattn::segments& segs_q, const varattn::segments& segs_k,
    varattn::packed_view<const Element> q, varattn::packed_view<const Element> k,
    varattn::packed_view<const Element> v, varattn::packed_view<const Element> d_o,
    const varattn::attention_options& options) {
  varattn::reference_result forward = reference_on_every_core(
      segs_q, segs_k, q, k, v, options, [](int64_t) { return true; });
  varattn::detail::check_reference_d_o(q, d_o);
  const int32_t d = q.head_dim;
  const int32_t group = q.heads / k.heads;
  const double scale = options.scale ? *options.scale : 1.0 / std::sqrt(double(d));
  const double cap = options.softcap;
  const int64_t rows_q = q.rows;
  varattn::reference_gradients g;
  g.dq.assign(std::size_t(rows_q) * q.heads * d, 0.0);
  g.dk.assign(std::size_t(k.rows) * k.heads * d, 0.0);
  g.dv.assign(g.dk.size(), 0.0);
  // D = d_o . out of every (query row, q head), once.
  std::vector<double> big_d(std::size_t(rows_q) * q.heads);
  parallel_for(rows_q, [&](int64_t row) {
    for (int32_t h = 0; h < q.heads; ++h) {
      const double* oi = &forward.out[(std::size_t(row) * q.heads + h) * d];
      big_d[std::size_t(row) * q.heads + h] =
          varattn::detail::reference_row_delta(d_o.at(row, h), oi, d);
    }
  });
  // p and ds of (query i of the segment, q head h) with its key j.
  const auto pair_of = [&](const varattn::segment& sq, const varattn::segment& sk, int32_t h,
                           int32_t i, int64_t j) {
    const int64_t row = int64_t{sq.begin} + i;
    const double lse = forward.lse[std::size_t(h) * rows_q + row];
    const int64_t key = int64_t{sk.begin} + j;
    return varattn::detail::reference_pair_of(q.at(row, h), d_o.at(row, h), k.at(key, h / group),
                                              v.at(key, h / group), d, scale, cap, lse,
                                              big_d[std::size_t(row) * q.heads + h]);
  };
  struct unit {
    std::size_t segment;
    int32_t head, row_begin, row_end;
    bool keys;  //!< rows of k (dk, dv of kv head `head`), else of q (dq of q head `head`)
  };
  std::vector<unit> units;
  for (std::size_t s = 0; s < segs_q.size(); ++s) {
    for (int32_t h = 0; h < q.heads; ++h) {
      for (int32_t r = 0; r < segs_q[s].length; r += kReferenceRows) {
        units.push_back({s, h, r, std::min(segs_q[s].length, r + kReferenceRows), false});
      }
    }
    for (int32_t hk = 0; hk < k.heads; ++hk) {
      for (int32_t r = 0; r < segs_k[s].length; r += kReferenceRows) {
        units.push_back({s, hk, r, std::min(segs_k[s].length, r + kReferenceRows), true});
      }
    }
  }
  parallel_for(static_cast<int64_t>(units.size()), [&](int64_t u_index) {
    const unit& u = units[std::size_t(u_index)];
    const varattn::segment sq = segs_q[u.segment];
    const varattn::segment sk = segs_k[u.segment];
    if (!u.keys) {
      for (int32_t i = u.row_begin; i < u.row_end; ++i) {
        const varattn::visible_key_range keys =
            varattn::reference_visible_keys(i, sq.length, sk.length, options);
        if (keys.empty()) continue;  // out 0: no gradient
        double* dqi = &g.dq[((std::size_t(sq.begin) + i) * q.heads + u.head) * d];
        for (int64_t j = keys.first; j <= keys.last; ++j) {
          const double ds = pair_of(sq, sk, u.head, i, j).ds;
          const Element* kj = k.at(int64_t{sk.begin} + j, u.head / group);
          for (int32_t c = 0; c < d; ++c) dqi[c] += ds * varattn::detail::to_double(kj[c]);
        }
      }
      return;
    }
    for (int32_t j = u.row_begin; j < u.row_end; ++j) {
      const std::size_t at = ((std::size_t(sk.begin) + j) * k.heads + u.head) * d;
      double* dkj = &g.dk[at];
      double* dvj = &g.dv[at];
      for (int32_t h = u.head * group; h < (u.head + 1) * group; ++h) {
        for (int32_t i = 0; i < sq.length; ++i) {
          const varattn::visible_key_range keys =
              varattn::reference_visible_keys(i, sq.length, sk.length, options);
          if (keys.empty() || j < keys.first || j > keys.last) continue;
          const varattn::detail::reference_pair pt = pair_of(sq, sk, h, i, j);
          const int64_t row = int64_t{sq.begin} + i;
          const Element* qi = q.at(row, h);
          const Element* doi = d_o.at(row, h);
          for (int32_t c = 0; c < d; ++c) {
            dvj[c] += pt.p * varattn::detail::to_double(doi[c]);
            dkj[c] += pt.ds * varattn::detail::to_double(qi[c]);
          }
        }
      }
    }
  });
  g.out = std::move(forward.out);
  g.lse = std::move(forward.lse);
  return g;
}

//! Runs chunk(first, last) over [0, n) in chunks of kChunk elements on every core and returns
//! the chunks' results in chunk order (for a reduction that does not depend on the threads).
constexpr std::size_t kChunk = std::size_t{1} << 16;
template <class Result, class Chunk>
std::vector<Result> chunked(std::size_t n, const Chunk& chunk) {
  static_assert(!std::is_same_v<Result, bool>, "std::vector<bool> elements share bytes");
  std::vector<Result> results((n + kChunk - 1) / kChunk);
  parallel_for(static_cast<int64_t>(results.size()), [&](int64_t c) {
    const std::size_t first = std::size_t(c) * kChunk;
    results[std::size_t(c)] = chunk(first, std::min(n, first + kChunk));
  });
  return results;
}

}  // namespace test
