// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file validate.hpp
//! Host checks of q, k, v, o against a plan, run by forward() before any launch.

#include <varattn/error.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/plan.hpp>

#include <cstdint>
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

}  // namespace detail

//! Throws varattn::error naming the first argument that does not fit the plan, or an o
//! whose elements overlap each other or an input's memory (o == q exactly is allowed: in
//! place). Ranges are compared, so o interleaved between an input's elements is rejected too.
template <class Element>
void validate(const plan& p, const packed_view<const Element>& q,
              const packed_view<const Element>& k, const packed_view<const Element>& v,
              const packed_view<Element>& o) {
  const attention_shape& s = p.shape();
  detail::validate_view("q", q, p.rows_q(), p.rows_q_source(), s.heads_q, s.head_dim);
  detail::validate_view("k", k, p.rows_k(), p.rows_k_source(), s.heads_kv, s.head_dim);
  detail::validate_view("v", v, p.rows_k(), p.rows_k_source(), s.heads_kv, s.head_dim);
  detail::validate_view("o", o, p.rows_q(), p.rows_q_source(), s.heads_q, s.head_dim);
  detail::validate_distinct("o", o);
  detail::validate_no_overlap(o, "q", q, true);
  detail::validate_no_overlap(o, "k", k, false);
  detail::validate_no_overlap(o, "v", v, false);
}

}  // namespace varattn
