// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file parallel.hpp
//! The tests' host work on every core. The GPU tests spend most of their time on the host:
//! drawing the inputs, the double-precision reference (reference.hpp) and scoring the
//! outputs, each serial over tens of millions of elements on the large problems. Every
//! result here is the same whatever the number of threads.

#include <varattn/reference.hpp>

#include <algorithm>
#include <atomic>
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
