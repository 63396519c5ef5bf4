#pragma once
//! \file segments.hpp
//! The host table of segment bounds: `cu_seqlens = [0, l0, l0+l1, ..., total]` read once,
//! validated, and iterable as `segment{index, begin, length}`.

#include <varattn/error.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace varattn {

//! One packed sequence: rows [begin, begin + length) of the packed tensor.
struct segment {
  int32_t index;
  int32_t begin;
  int32_t length;

  constexpr int32_t end() const { return begin + length; }
  friend constexpr bool operator==(const segment& a, const segment& b) {
    return a.index == b.index && a.begin == b.begin && a.length == b.length;
  }
  friend constexpr bool operator!=(const segment& a, const segment& b) { return !(a == b); }
};

//! A validated, immutable table of segments. Random-access range of `segment`
//! (its iterators are std::vector's, so every <algorithm> works on it).
class segments {
 public:
  using value_type = segment;
  using const_iterator = std::vector<segment>::const_iterator;
  using iterator = const_iterator;
  using size_type = std::size_t;

  segments() = default;

  //! Builds the table from host offsets `cu_seqlens[0..count)` (count = segments + 1).
  //! No CUDA call, no wait. `name` appears in error messages ("cu_seqlens_q[2] = ...").
  static segments from_host(const int32_t* cu_seqlens, std::size_t count,
                            const char* name = "cu_seqlens") {
    if (cu_seqlens == nullptr) detail::fail(name, " is a null pointer");
    if (count == 0) detail::fail(name, " is empty: it needs at least one offset (0)");
    if (cu_seqlens[0] != 0) detail::fail(name, "[0] = ", cu_seqlens[0], " != 0");
    segments table;
    table.offsets_.assign(cu_seqlens, cu_seqlens + count);
    table.items_.reserve(count - 1);
    for (std::size_t i = 1; i < count; ++i) {
      if (cu_seqlens[i] < cu_seqlens[i - 1]) {
        detail::fail(name, "[", i, "] = ", cu_seqlens[i], " < ", name, "[", i - 1,
                     "] = ", cu_seqlens[i - 1]);
      }
      const int32_t length = cu_seqlens[i] - cu_seqlens[i - 1];
      table.items_.push_back({static_cast<int32_t>(i - 1), cu_seqlens[i - 1], length});
      if (length > table.max_length_) table.max_length_ = length;
    }
    table.name_ = name;
    return table;
  }
  static segments from_host(const std::vector<int32_t>& cu_seqlens,
                            const char* name = "cu_seqlens") {
    return from_host(cu_seqlens.data(), cu_seqlens.size(), name);
  }

  //! Builds the table from segment lengths (a convenience for tests and examples).
  static segments from_lengths(const std::vector<int32_t>& lengths,
                               const char* name = "cu_seqlens") {
    std::vector<int32_t> offsets(1, 0);
    for (int32_t length : lengths) {
      if (length < 0) detail::fail(name, ": segment length ", length, " < 0");
      offsets.push_back(offsets.back() + length);
    }
    return from_host(offsets, name);
  }

  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  size_type size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  const segment& operator[](size_type i) const { return items_[i]; }

  //! Number of rows covered: the last offset.
  int32_t total() const { return offsets_.empty() ? 0 : offsets_.back(); }
  int32_t max_length() const { return max_length_; }
  //! The offsets as given, `size() + 1` of them.
  const std::vector<int32_t>& offsets() const { return offsets_; }
  //! The argument name used in error messages.
  const char* name() const { return name_; }

 private:
  std::vector<segment> items_;
  std::vector<int32_t> offsets_;
  int32_t max_length_ = 0;
  const char* name_ = "cu_seqlens";
};

}  // namespace varattn
