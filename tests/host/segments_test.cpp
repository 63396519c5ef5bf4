// SPDX-License-Identifier: Apache-2.0
// The segment table from host spans: contents, iterator laws, the name it owns, and every
// rejected input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <numeric>
#include <string>
#include <type_traits>
#include <utility>
#include <varattn/device_segments.hpp>
#include <varattn/plan.hpp>
#include <varattn/segments.hpp>
#include <vector>

using varattn::segment;
using varattn::segments;

TEST_CASE("segments from host offsets hold index, begin and length") {
  const std::vector<int32_t> cu = {0, 5, 5, 12, 13};
  const segments segs = segments::from_host(cu);
  REQUIRE(segs.size() == 4);
  CHECK(segs[0] == segment{0, 0, 5});
  CHECK(segs[1] == segment{1, 5, 0});
  CHECK(segs[2] == segment{2, 5, 7});
  CHECK(segs[3] == segment{3, 12, 1});
  CHECK(segs.total() == 13);
  CHECK(segs.max_length() == 7);
  CHECK(segs.offsets() == cu);

  int32_t expected_index = 0;
  for (segment s : segs) {
    CHECK(s.index == expected_index);
    CHECK(s.begin == cu[expected_index]);
    CHECK(s.end() == cu[expected_index + 1]);
    ++expected_index;
  }
  CHECK(expected_index == 4);
}

TEST_CASE("segments from lengths equal segments from their prefix sums") {
  const std::vector<int32_t> lengths = {3, 0, 64, 1, 65};
  std::vector<int32_t> cu(1, 0);
  std::partial_sum(lengths.begin(), lengths.end(), std::back_inserter(cu));
  const segments a = segments::from_lengths(lengths);
  const segments b = segments::from_host(cu);
  CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
  CHECK_THROWS_WITH_AS(segments::from_lengths({4, -1}), "cu_seqlens: segment length -1 < 0",
                       varattn::error);
}

TEST_CASE("a table with only the leading 0 has no segments") {
  const segments segs = segments::from_host(std::vector<int32_t>{0});
  CHECK(segs.empty());
  CHECK(segs.begin() == segs.end());
  CHECK(segs.total() == 0);
}

TEST_CASE("segment iterators are random-access iterators") {
  using it = segments::const_iterator;
  static_assert(
      std::is_same_v<std::iterator_traits<it>::iterator_category, std::random_access_iterator_tag>);
  static_assert(std::is_same_v<std::iterator_traits<it>::value_type, segment>);

  const segments segs = segments::from_lengths({4, 1, 9, 0, 2, 7});
  const it first = segs.begin();
  const it last = segs.end();
  CHECK(last - first == 6);
  CHECK(first + 6 == last);
  CHECK(6 + first == last);
  CHECK(last - 6 == first);
  CHECK(first[2] == segs[2]);
  CHECK(*(first + 3) == segs[3]);
  CHECK(first < last);
  CHECK(last > first);
  CHECK(first <= first);
  it walker = first;
  walker += 4;
  CHECK(walker->length == 2);
  walker -= 1;
  CHECK((*walker).index == 3);
  CHECK((walker++)->index == 3);
  CHECK((walker--)->index == 4);
  CHECK((++walker)->index == 4);
  CHECK((--walker)->index == 3);

  // <algorithm> works on the table.
  const auto longest =
      std::max_element(first, last, [](segment a, segment b) { return a.length < b.length; });
  CHECK(longest->index == 2);
  CHECK(std::count_if(first, last, [](segment s) { return s.length == 0; }) == 1);
  // The segment holding a row: the first whose end lies past it (empty ones are skipped).
  const auto holding = [&](int32_t row) {
    return std::lower_bound(first, last, row, [](segment s, int32_t r) { return s.end() <= r; });
  };
  CHECK(holding(10)->index == 2);
  CHECK(holding(14)->index == 4);
  std::vector<segment> sorted(first, last);
  std::sort(sorted.begin(), sorted.end(), [](segment a, segment b) { return a.length > b.length; });
  CHECK(sorted.front().index == 2);
  CHECK(std::distance(std::reverse_iterator<it>(last), std::reverse_iterator<it>(first)) == 6);
}

TEST_CASE("bad cu_seqlens are rejected with the argument and the values") {
  // An empty vector's data() may or may not be null: pass null explicitly.
  CHECK_THROWS_WITH_AS(segments::from_host(nullptr, 0, "cu_seqlens_q"),
                       "cu_seqlens_q is a null pointer", varattn::error);
  const int32_t one = 0;
  CHECK_THROWS_WITH_AS(segments::from_host(&one, 0, "cu_seqlens_q"),
                       "cu_seqlens_q is empty: it needs at least one offset (0)", varattn::error);
  CHECK_THROWS_WITH_AS(segments::from_host(std::vector<int32_t>{2, 5}), "cu_seqlens[0] = 2 != 0",
                       varattn::error);
  CHECK_THROWS_WITH_AS(segments::from_host(std::vector<int32_t>{0, 5, 3, 9}),
                       "cu_seqlens[2] = 3 < cu_seqlens[1] = 5", varattn::error);
  CHECK_THROWS_WITH_AS(segments::from_host(std::vector<int32_t>{0, 128, 256, 90}, "cu_seqlens_k"),
                       "cu_seqlens_k[3] = 90 < cu_seqlens_k[2] = 256", varattn::error);
}

TEST_CASE("segment_reader rejects a null or empty device span before any CUDA call") {
  varattn::segment_reader reader;
  CHECK_THROWS_WITH_AS(reader.read_and_wait({nullptr, 3}, nullptr, "cu_seqlens_k"),
                       "cu_seqlens_k is a null pointer", varattn::error);
  const int32_t offsets[1] = {0};
  CHECK_THROWS_WITH_AS(reader.read_and_wait({offsets, 0}, nullptr),
                       "cu_seqlens is empty: it needs at least one offset (0)", varattn::error);
  CHECK(reader.capacity() == 0);  // nothing was pinned
}

TEST_CASE("segments own their name: it outlives the caller's string") {
  std::string q_name = "cu_seqlens_q";
  std::string k_name = "cu_seqlens_k";
  const segments q = segments::from_lengths({3, 4}, q_name.c_str());
  segments k3 = segments::from_lengths({3, 4, 1}, k_name.c_str());
  // Same length: rewritten in place, so a stored pointer would now read the new text.
  q_name.assign("overwritten!");
  k_name.assign("overwritten!");
  CHECK_THROWS_WITH_AS(varattn::plan::make(q, k3, {2, 2, 64}),
                       "cu_seqlens_q has 2 segments but cu_seqlens_k has 3", varattn::error);

  // Names from temporaries destroyed at the end of each full-expression (heap-allocated:
  // longer than the small-string buffer).
  const segments q_long =
      segments::from_lengths({3, 4}, std::string("cu_seqlens_q of the first batch").c_str());
  const segments k_long =
      segments::from_host(std::vector<int32_t>{0, 3, 7, 8},
                          std::string("cu_seqlens_k of the first batch").c_str());
  CHECK_THROWS_WITH_AS(
      varattn::plan::make(q_long, k_long, {2, 2, 64}),
      "cu_seqlens_q of the first batch has 2 segments but cu_seqlens_k of the first batch has 3",
      varattn::error);

  // Copies and moves carry the name.
  segments copy = q_long;
  segments moved = std::move(k3);
  CHECK(std::string(copy.name()) == "cu_seqlens_q of the first batch");
  CHECK(std::string(moved.name()) == "cu_seqlens_k");
  copy = moved;
  CHECK(std::string(copy.name()) == "cu_seqlens_k");
  static_assert(std::is_nothrow_move_constructible_v<segments>);
}

TEST_CASE("a null name is the default name") {
  CHECK(std::string(segments::from_lengths({2}, nullptr).name()) == "cu_seqlens");
  CHECK(std::string(segments::from_host(std::vector<int32_t>{0, 1}, nullptr).name()) ==
        "cu_seqlens");
  CHECK_THROWS_WITH_AS(segments::from_host(nullptr, 1, nullptr), "cu_seqlens is a null pointer",
                       varattn::error);
  CHECK_THROWS_WITH_AS(segments::from_lengths({1, -2}, nullptr),
                       "cu_seqlens: segment length -2 < 0", varattn::error);
  CHECK(std::string(segments().name()) == "cu_seqlens");
}

TEST_CASE("lengths whose sum overflows int32 are rejected, naming the segment and the sum") {
  CHECK_THROWS_WITH_AS(segments::from_lengths({INT32_MAX, 1}, "cu_seqlens_q"),
                       "cu_seqlens_q: offsets overflow int32 at segment 1 (2147483647 + 1)",
                       varattn::error);
  CHECK_THROWS_WITH_AS(segments::from_lengths({5, INT32_MAX - 6, 2, 4}),
                       "cu_seqlens: offsets overflow int32 at segment 2 (2147483646 + 2)",
                       varattn::error);
  // The largest total that fits is accepted.
  const segments full = segments::from_lengths({INT32_MAX - 1, 1, 0});
  CHECK(full.total() == INT32_MAX);
  CHECK(full.max_length() == INT32_MAX - 1);
}

TEST_CASE("more offsets than int32 segment indices allow are rejected before they are read") {
  const int32_t zero = 0;
  // Only the count is wrong: the check runs before the first entry is read past `zero`.
  CHECK_THROWS_WITH_AS(
      segments::from_host(&zero, (std::size_t{1} << 31) + 1, "cu_seqlens_q"),
      "cu_seqlens_q has 2147483649 offsets: at most 2147483648 fit int32 segment indices",
      varattn::error);
}

TEST_CASE("segment_reader rejects a span too long for int32 offsets before any CUDA call") {
  varattn::segment_reader reader;
  // Never dereferenced: the size check comes first, and this machine may have no GPU.
  const auto* fake = reinterpret_cast<const int32_t*>(std::uintptr_t{0x1000});
  CHECK_THROWS_WITH_AS(
      reader.read_and_wait({fake, (std::size_t{1} << 62) + 1}, nullptr, "cu_seqlens_k"),
      "cu_seqlens_k has 4611686018427387905 offsets: at most 2147483648 fit int32 segment "
      "indices",
      varattn::error);
  CHECK_THROWS_WITH_AS(reader.read_and_wait({fake, (std::size_t{1} << 31) + 1}, nullptr),
                       "cu_seqlens has 2147483649 offsets: at most 2147483648 fit int32 segment "
                       "indices",
                       varattn::error);
  CHECK(reader.capacity() == 0);  // nothing was pinned, nothing recorded as pinned
}
