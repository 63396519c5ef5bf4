// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file segments.hpp
//! The host table of segment bounds: `cu_seqlens = [0, l0, l0+l1, ..., total]` read once,
//! validated, and iterable as `segment{index, begin, length}`.

#include <varattn/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace varattn {

//! Most offsets a table takes, segments + 1: segment indices and offsets are int32.
inline constexpr std::size_t kMaxOffsets = std::size_t{INT32_MAX} + 1;

namespace detail {
//! The name that error messages use when the caller gives none (or a null one).
inline constexpr const char* kDefaultSegmentsName = "cu_seqlens";
inline const char* name_or_default(const char* name) {
  return name != nullptr ? name : kDefaultSegmentsName;
}
//! Rejects more offsets than int32 indices allow, before any of them is read.
inline void check_offset_count(const char* name, std::size_t count) {
  if (count > kMaxOffsets) {
    fail(name, " has ", count, " offsets: at most ", kMaxOffsets, " fit int32 segment indices");
  }
}
}  // namespace detail

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

  //! Builds the table from host offsets `cu_seqlens[0..count)` (count = segments + 1, at
  //! most kMaxOffsets). No CUDA call, no wait. `name` appears in error messages
  //! ("cu_seqlens_q[2] = ..."); the table keeps a copy, and null means "cu_seqlens".
  static segments from_host(const int32_t* cu_seqlens, std::size_t count,
                            const char* name = detail::kDefaultSegmentsName) {
    name = detail::name_or_default(name);
    if (cu_seqlens == nullptr) detail::fail(name, " is a null pointer");
    if (count == 0) detail::fail(name, " is empty: it needs at least one offset (0)");
    detail::check_offset_count(name, count);
    if (cu_seqlens[0] != 0) detail::fail(name, "[0] = ", cu_seqlens[0], " != 0");
    segments table;
    table.offsets_.assign(cu_seqlens, cu_seqlens + count);
    table.items_.reserve(count - 1);
    for (std::size_t i = 1; i < count; ++i) {
      if (cu_seqlens[i] < cu_seqlens[i - 1]) {
        detail::fail(name, "[", i, "] = ", cu_seqlens[i], " < ", name, "[", i - 1,
                     "] = ", cu_seqlens[i - 1]);
      }
      // Cannot overflow: [0] == 0 and monotone make every offset non-negative.
      const int32_t length = cu_seqlens[i] - cu_seqlens[i - 1];
      table.items_.push_back({static_cast<int32_t>(i - 1), cu_seqlens[i - 1], length});
      if (length > table.max_length_) table.max_length_ = length;
    }
    table.name_ = name;
    return table;
  }
  static segments from_host(const std::vector<int32_t>& cu_seqlens,
                            const char* name = detail::kDefaultSegmentsName) {
    return from_host(cu_seqlens.data(), cu_seqlens.size(), name);
  }

  //! Builds the table from segment lengths (a convenience for tests and examples). Their
  //! sum must fit int32.
  static segments from_lengths(const std::vector<int32_t>& lengths,
                               const char* name = detail::kDefaultSegmentsName) {
    name = detail::name_or_default(name);
    std::vector<int32_t> offsets(1, 0);
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      const int32_t length = lengths[i];
      if (length < 0) detail::fail(name, ": segment length ", length, " < 0");
      if (length > INT32_MAX - offsets.back()) {
        detail::fail(name, ": offsets overflow int32 at segment ", i, " (", offsets.back(),
                     " + ", length, ")");
      }
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
  //! The argument name used in error messages (the table's own copy).
  const char* name() const { return name_.c_str(); }

 private:
  std::vector<segment> items_;
  std::vector<int32_t> offsets_;
  int32_t max_length_ = 0;
  // Owned: plan::make and others name the table long after the caller's string is gone.
  std::string name_ = detail::kDefaultSegmentsName;
};

}  // namespace varattn
