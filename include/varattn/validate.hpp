#pragma once
//! \file validate.hpp
//! Host checks of q, k, v, o against a plan, run by forward() before any launch.

#include <varattn/error.hpp>
#include <varattn/packed_view.hpp>
#include <varattn/plan.hpp>

#include <cstdint>
#include <string>

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

}  // namespace detail

//! Throws varattn::error naming the first argument that does not fit the plan.
template <class Element>
void validate(const plan& p, const packed_view<const Element>& q,
              const packed_view<const Element>& k, const packed_view<const Element>& v,
              const packed_view<Element>& o) {
  const attention_shape& s = p.shape();
  detail::validate_view("q", q, p.rows_q(), p.rows_q_source(), s.heads_q, s.head_dim);
  detail::validate_view("k", k, p.rows_k(), p.rows_k_source(), s.heads_kv, s.head_dim);
  detail::validate_view("v", v, p.rows_k(), p.rows_k_source(), s.heads_kv, s.head_dim);
  detail::validate_view("o", o, p.rows_q(), p.rows_q_source(), s.heads_q, s.head_dim);
}

}  // namespace varattn
