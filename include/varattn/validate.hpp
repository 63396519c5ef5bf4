// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file validate.hpp
//! Host checks of q, k, v, o against a plan, run by forward() before any launch.

#include <varattn/error.hpp>
#include <varattn/forward_scratch.hpp>
#include <varattn/options.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/plan.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>

namespace varattn {
namespace detail {

// The kernels move 16-byte vectors: 8 elements of 2 bytes.
inline constexpr int64_t kVectorElements = 8;

template <class Element>
void validate_view(const char* name, const packed_view<Element>& view, int64_t rows,
                   const std::string& rows_source, int32_t heads, int32_t head_dim) {
  static_assert(sizeof(Element) == 2, "varattn kernels take 2-byte elements (half, bfloat16)");
  // An empty tensor may have no storage (PyTorch gives such tensors a null pointer).
  if (view.data == nullptr && rows > 0) fail(name, ".data is a null pointer");
  if (view.rows != rows) fail(name, ".rows = ", view.rows, " != ", rows_source);
  if (view.heads != heads) fail(name, ".heads = ", view.heads, " != ", heads);
  if (view.head_dim != head_dim) fail(name, ".head_dim = ", view.head_dim, " != ", head_dim);
  if (reinterpret_cast<std::uintptr_t>(view.data) % 16 != 0) {
    fail(name, ".data = ", static_cast<const void*>(view.data),
         " is not 16-byte aligned (the kernels load 16-byte vectors)");
  }
  if (view.token_stride % kVectorElements != 0 || view.token_stride <= 0) {
    fail(name, ".token_stride = ", view.token_stride,
         " must be a positive multiple of 8 elements (16-byte vectors)");
  }
  if (view.head_stride % kVectorElements != 0 || view.head_stride < 0) {
    fail(name, ".head_stride = ", view.head_stride,
         " must be a non-negative multiple of 8 elements (16-byte vectors)");
  }
}

//! The element range [first, last] a view touches (empty when it has no elements), in bytes.
struct byte_range {
  std::uintptr_t first = 0, last = 0;
  bool empty = true;
};
template <class Element>
byte_range range_of(const packed_view<Element>& view) {
  if (view.rows <= 0 || view.heads <= 0 || view.head_dim <= 0) return {};
  const int64_t last = (view.rows - 1) * view.token_stride +
                       int64_t{view.heads - 1} * view.head_stride + view.head_dim - 1;
  const auto first = reinterpret_cast<std::uintptr_t>(view.data);
  return {first, first + static_cast<std::uintptr_t>(last) * sizeof(Element) + sizeof(Element) - 1,
          false};
}

//! o is written by many CTAs at once: its elements must be distinct. Checked by nesting its
//! two strided dims (either order: token-major or head-major), each stride at least the span
//! of what it steps over.
template <class Element>
void validate_distinct(const char* name, const packed_view<Element>& view) {
  struct dim {
    const char* stride_name;
    int64_t count, stride;
  };
  dim dims[2] = {{"head_stride", view.heads, view.head_stride},
                 {"token_stride", view.rows, view.token_stride}};
  if (dims[1].stride < dims[0].stride) std::swap(dims[0], dims[1]);
  int64_t span = view.head_dim;  // elements covered by the dims nested so far
  for (const dim& d : dims) {
    if (d.count <= 1) continue;
    if (d.stride < span) {
      fail(name, ".", d.stride_name, " = ", d.stride, " < ", span, ": ", name,
           "'s elements overlap (it is written, so each element must be distinct)");
    }
    span += (d.count - 1) * d.stride;
  }
}

//! o may not share memory with an input (CTAs would read what others write), except exact
//! aliasing of q: each CTA reads its q rows before writing the same rows of o.
template <class Element>
void validate_no_overlap(const packed_view<Element>& o, const char* input_name,
                         const packed_view<const Element>& input, bool in_place_allowed) {
  const byte_range a = range_of(o), b = range_of(input);
  if (a.empty || b.empty || a.last < b.first || b.last < a.first) return;
  if (in_place_allowed && static_cast<const void*>(o.data) == input.data &&
      o.token_stride == input.token_stride && o.head_stride == input.head_stride) {
    return;
  }
  fail("o overlaps ", input_name, ": o spans bytes [", reinterpret_cast<const void*>(a.first),
       ", ", reinterpret_cast<const void*>(a.last), "] and ", input_name, " [",
       reinterpret_cast<const void*>(b.first), ", ", reinterpret_cast<const void*>(b.last),
       "]; o must not share memory with q, k or v (o == q with equal strides, in place, is "
       "allowed)");
}

//! Throws when two byte ranges share a byte: "<a> overlaps <b>: <a> spans bytes [..] and <b>
//! [..]; <rule>".
inline void fail_on_overlap(const char* a_name, byte_range a, const char* b_name, byte_range b,
                            const char* rule) {
  if (a.empty || b.empty || a.last < b.first || b.last < a.first) return;
  fail(a_name, " overlaps ", b_name, ": ", a_name, " spans bytes [",
       reinterpret_cast<const void*>(a.first), ", ", reinterpret_cast<const void*>(a.last),
       "] and ", b_name, " [", reinterpret_cast<const void*>(b.first), ", ",
       reinterpret_cast<const void*>(b.last), "]; ", rule);
}

//! The bytes the logsumexp of `heads` heads of `rows` rows spans: from data to the last row
//! of the last head (empty when there are no rows). validate_lse checked that it fits.
inline byte_range range_of(const logsumexp_view& lse, int32_t heads, int64_t rows) {
  if (rows <= 0 || heads <= 0) return {};
  const auto first = reinterpret_cast<std::uintptr_t>(lse.data);
  const auto elements = static_cast<std::uintptr_t>((int64_t{heads} - 1) * lse.head_stride + rows);
  return {first, first + elements * sizeof(float) - 1, false};
}

//! The logsumexp view (when requested: data != nullptr) for heads_q heads of rows_q rows:
//! float-aligned, each head's rows_q floats apart from the next head's, every offset
//! h * head_stride + row representable in bytes, and no byte shared with q, k, v or o (lse
//! is written while they are read or written). Ranges are compared, as for o.
template <class Element>
void validate_lse(const logsumexp_view& lse, int32_t heads_q, int64_t rows_q,
                  const packed_view<const Element>& q, const packed_view<const Element>& k,
                  const packed_view<const Element>& v, const packed_view<Element>& o) {
  if (lse.data == nullptr) return;  // not requested
  if (reinterpret_cast<std::uintptr_t>(lse.data) % alignof(float) != 0) {
    fail("lse.data = ", static_cast<const void*>(lse.data), " is not 4-byte aligned (float)");
  }
  if (lse.head_stride < rows_q) {
    fail("lse.head_stride = ", lse.head_stride, " < rows_q = ", rows_q,
         " (each head holds rows_q floats)");
  }
  // Offsets up to heads_q * head_stride floats, in bytes, within int64 and the address space.
  constexpr int64_t max_floats = std::numeric_limits<int64_t>::max() / int64_t{sizeof(float)};
  if (heads_q > 0 && lse.head_stride > max_floats / heads_q) {
    fail("lse.head_stride = ", lse.head_stride, " x heads_q = ", heads_q,
         " floats overflow a 64-bit byte offset");
  }
  const byte_range l = range_of(lse, heads_q, rows_q);
  if (l.empty) return;
  if (l.last < l.first) {
    fail("lse spans ", (int64_t{heads_q} - 1) * lse.head_stride + rows_q,
         " floats from lse.data = ", static_cast<const void*>(lse.data),
         ", past the end of the address space");
  }
  const char* rule = "lse must not share memory with q, k, v or o";
  fail_on_overlap("lse", l, "o", range_of(o), rule);
  fail_on_overlap("lse", l, "q", range_of(q), rule);
  fail_on_overlap("lse", l, "k", range_of(k), rule);
  fail_on_overlap("lse", l, "v", range_of(v), rule);
}

//! A GQA-packed Hopper tile (kernel_config::pack > 1) loads `pack` query heads in one box
//! (sm90/tensor_map.hpp): q's heads must be distinct (head_stride > 0). Checked with the views,
//! before any launch: in the launch a bucketed plan's earlier buckets would have run already.
template <class Element>
void validate_packed_q(const plan& p, const packed_view<const Element>& q) {
  const auto check = [&](const plan& part) {
    const kernel_config& kernel = part.kernel();
    if (kernel.family == kernel_family::sm90 && kernel.pack > 1 && q.head_stride == 0 &&
        q.rows > 0) {
      fail("q.head_stride = 0: a GQA-packed Hopper tile loads ", kernel.pack,
           " distinct heads a box (make the plan with attention_options::kernel = "
           "kernel_family::sm80, or pass distinct heads)");
    }
  };
  if (p.policy() == launch_policy::bucketed) {
    for (const plan& bucket : p.buckets()) check(bucket);
  } else {
    check(p);
  }
}

//! A forward_scratch, when given (data != nullptr): 4-byte aligned (32-bit atomics) and no
//! byte shared with q, k, v, o, the logsumexp or the plan's device buffer (its counters change
//! while they are read or written).
template <class Element>
void validate_scratch(const forward_scratch& scratch, const plan& p, const logsumexp_view& lse,
                      const packed_view<const Element>& q, const packed_view<const Element>& k,
                      const packed_view<const Element>& v, const packed_view<Element>& o) {
  if (scratch.data == nullptr) return;  // one CTA a tile
  const auto first = reinterpret_cast<std::uintptr_t>(scratch.data);
  if (first % alignof(unsigned int) != 0) {
    fail("scratch.data = ", scratch.data, " is not 4-byte aligned (32-bit counters)");
  }
  const byte_range c{first, first + kForwardScratchBytes - 1, false};
  const char* rule = "the scratch must not share memory with q, k, v, o, lse or the plan";
  fail_on_overlap("scratch", c, "o", range_of(o), rule);
  fail_on_overlap("scratch", c, "q", range_of(q), rule);
  fail_on_overlap("scratch", c, "k", range_of(k), rule);
  fail_on_overlap("scratch", c, "v", range_of(v), rule);
  if (lse.data != nullptr) {
    fail_on_overlap("scratch", c, "lse", range_of(lse, p.shape().heads_q, p.rows_q()), rule);
  }
  const auto plan_buffer = [&](const plan& part) {
    const auto base = reinterpret_cast<std::uintptr_t>(part.device().count);
    if (base == 0) return;
    fail_on_overlap("scratch", c, "the plan's device buffer",
                    byte_range{base, base + part.device_bytes() - 1, false}, rule);
  };
  plan_buffer(p);
  for (const plan& bucket : p.buckets()) plan_buffer(bucket);
}

}  // namespace detail

//! Throws varattn::error naming the first argument that does not fit the plan, or an o
//! whose elements overlap each other or an input's memory (o == q exactly is allowed: in
//! place), or a requested logsumexp (lse.data != nullptr) that is misaligned, has a
//! head_stride below rows_q or shares memory with q, k, v or o, or a q whose heads share
//! memory (head_stride 0) for a GQA-packed Hopper plan. Ranges are compared, so o or lse
//! interleaved between another view's elements is rejected too.
template <class Element>
void validate(const plan& p, const packed_view<const Element>& q,
              const packed_view<const Element>& k, const packed_view<const Element>& v,
              const packed_view<Element>& o, const logsumexp_view& lse) {
  const attention_shape& s = p.shape();
  detail::validate_view("q", q, p.rows_q(), p.rows_q_source(), s.heads_q, s.head_dim);
  detail::validate_packed_q(p, q);
  detail::validate_view("k", k, p.rows_k(), p.rows_k_source(), s.heads_kv, s.head_dim);
  detail::validate_view("v", v, p.rows_k(), p.rows_k_source(), s.heads_kv, s.head_dim);
  detail::validate_view("o", o, p.rows_q(), p.rows_q_source(), s.heads_q, s.head_dim);
  detail::validate_distinct("o", o);
  detail::validate_no_overlap(o, "q", q, true);
  detail::validate_no_overlap(o, "k", k, false);
  detail::validate_no_overlap(o, "v", v, false);
  detail::validate_lse(lse, s.heads_q, p.rows_q(), q, k, v, o);
}

//! The same, without a logsumexp.
template <class Element>
void validate(const plan& p, const packed_view<const Element>& q,
              const packed_view<const Element>& k, const packed_view<const Element>& v,
              const packed_view<Element>& o) {
  validate(p, q, k, v, o, logsumexp_view{});
}

}  // namespace varattn
