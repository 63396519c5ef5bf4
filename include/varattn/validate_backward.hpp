// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file validate_backward.hpp
//! Host checks of backward()'s arguments against a plan, run before any launch: every view's
//! shape, alignment and strides (as validate() checks the forward's), gradients whose
//! elements are distinct and share no byte with an input, each other, the logsumexp or the
//! workspace, the forward's logsumexp, and the workspace's size and alignment.

#include <varattn/backward_workspace.hpp>
#include <varattn/error.hpp>
#include <varattn/options.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/plan.hpp>
#include <varattn/validate.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>

namespace varattn {
namespace detail {

inline void fail_overlap(const char* a_name, byte_range a, const char* b_name, byte_range b,
                         const char* rule) {
  fail(a_name, " overlaps ", b_name, ": ", a_name, " spans bytes [",
       reinterpret_cast<const void*>(a.first), ", ", reinterpret_cast<const void*>(a.last),
       "] and ", b_name, " [", reinterpret_cast<const void*>(b.first), ", ",
       reinterpret_cast<const void*>(b.last), "]; ", rule);
}

inline bool overlap(byte_range a, byte_range b) {
  return !(a.empty || b.empty || a.last < b.first || b.last < a.first);
}

inline byte_range range_of_bytes(const void* data, std::size_t bytes) {
  if (bytes == 0) return {};
  const auto first = reinterpret_cast<std::uintptr_t>(data);
  return {first, first + bytes - 1, false};
}

}  // namespace detail

//! Throws varattn::error naming the first argument of backward() that does not fit the plan:
//! q, k, v, o, d_o, d_q, d_k, d_v as validate() checks q and o (rows, heads, head dim, 16-byte
//! alignment, strides); d_q, d_k, d_v whose elements overlap each other, or that share memory
//! with q, k, v, o, d_o, each other, the logsumexp or the workspace (no in-place gradients);
//! a logsumexp that is missing (the forward's, float32: lse.data null), misaligned, or has a
//! head_stride below rows_q; a workspace smaller than backward_workspace_bytes(p, options),
//! null or not 16-byte aligned.
template <class Element>
void validate_backward(const plan& p, const packed_view<const Element>& q,
                       const packed_view<const Element>& k, const packed_view<const Element>& v,
                       const packed_view<const Element>& o, const packed_view<const Element>& d_o,
                       const logsumexp_view& lse, const packed_view<Element>& d_q,
                       const packed_view<Element>& d_k, const packed_view<Element>& d_v,
                       const void* workspace, std::size_t workspace_bytes,
                       backward_options options = {}) {
  using detail::fail;
  const attention_shape& s = p.shape();
  detail::validate_view("q", q, p.rows_q(), p.rows_q_source(), s.heads_q, s.head_dim);
  detail::validate_view("k", k, p.rows_k(), p.rows_k_source(), s.heads_kv, s.head_dim);
  detail::validate_view("v", v, p.rows_k(), p.rows_k_source(), s.heads_kv, s.head_dim);
  detail::validate_view("o", o, p.rows_q(), p.rows_q_source(), s.heads_q, s.head_dim);
  detail::validate_view("d_o", d_o, p.rows_q(), p.rows_q_source(), s.heads_q, s.head_dim);
  detail::validate_view("d_q", d_q, p.rows_q(), p.rows_q_source(), s.heads_q, s.head_dim);
  detail::validate_view("d_k", d_k, p.rows_k(), p.rows_k_source(), s.heads_kv, s.head_dim);
  detail::validate_view("d_v", d_v, p.rows_k(), p.rows_k_source(), s.heads_kv, s.head_dim);
  detail::validate_distinct("d_q", d_q);
  detail::validate_distinct("d_k", d_k);
  detail::validate_distinct("d_v", d_v);

  // The forward's logsumexp: read, never written.
  if (lse.data == nullptr && p.rows_q() > 0) {
    fail("lse.data is a null pointer: backward needs the forward's logsumexp (forward with a "
         "logsumexp_view)");
  }
  if (reinterpret_cast<std::uintptr_t>(lse.data) % alignof(float) != 0) {
    fail("lse.data = ", static_cast<const void*>(lse.data), " is not 4-byte aligned (float)");
  }
  if (lse.head_stride < p.rows_q()) {
    fail("lse.head_stride = ", lse.head_stride, " < rows_q = ", p.rows_q(),
         " (each head holds rows_q floats)");
  }
  constexpr int64_t max_floats = std::numeric_limits<int64_t>::max() / int64_t{sizeof(float)};
  if (lse.head_stride > max_floats / s.heads_q) {
    fail("lse.head_stride = ", lse.head_stride, " x heads_q = ", s.heads_q,
         " floats overflow a 64-bit byte offset");
  }
  const detail::byte_range lse_range = detail::range_of(lse, s.heads_q, p.rows_q());
  if (!lse_range.empty && lse_range.last < lse_range.first) {
    fail("lse spans ", (int64_t{s.heads_q} - 1) * lse.head_stride + p.rows_q(),
         " floats from lse.data = ", static_cast<const void*>(lse.data),
         ", past the end of the address space");
  }

  const std::size_t needed = backward_workspace_bytes(p, options);
  if (workspace_bytes < needed) {
    fail("workspace_bytes = ", workspace_bytes, " < ", needed,
         " (backward_workspace_bytes for this plan",
         options.deterministic ? ", deterministic)" : ")");
  }
  if (workspace == nullptr && needed > 0) fail("workspace is a null pointer");
  if (reinterpret_cast<std::uintptr_t>(workspace) % detail::kWorkspaceAlignment != 0) {
    fail("workspace = ", workspace, " is not 16-byte aligned");
  }

  // Written ranges against everything else. Compared as byte ranges, as validate() does.
  struct named {
    const char* name;
    detail::byte_range range;
  };
  const named written[] = {{"d_q", detail::range_of(d_q)},
                           {"d_k", detail::range_of(d_k)},
                           {"d_v", detail::range_of(d_v)},
                           {"workspace", detail::range_of_bytes(workspace, needed)}};
  const named read[] = {{"q", detail::range_of(q)},     {"k", detail::range_of(k)},
                        {"v", detail::range_of(v)},     {"o", detail::range_of(o)},
                        {"d_o", detail::range_of(d_o)}, {"lse", lse_range}};
  constexpr const char* kRule =
      "d_q, d_k, d_v and the workspace must not share memory with q, k, v, o, d_o, lse or "
      "each other";
  for (std::size_t i = 0; i < 4; ++i) {
    for (const named& r : read) {
      if (detail::overlap(written[i].range, r.range)) {
        detail::fail_overlap(written[i].name, written[i].range, r.name, r.range, kRule);
      }
    }
    for (std::size_t j = i + 1; j < 4; ++j) {
      if (detail::overlap(written[i].range, written[j].range)) {
        detail::fail_overlap(written[i].name, written[i].range, written[j].name,
                             written[j].range, kRule);
      }
    }
  }
}

}  // namespace varattn
