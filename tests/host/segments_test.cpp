// The segment table from host spans: contents, iterator laws, and every rejected input.
#include <doctest/doctest.h>

#include <algorithm>
#include <iterator>
#include <numeric>
#include <type_traits>
#include <varattn/device_segments.hpp>
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
