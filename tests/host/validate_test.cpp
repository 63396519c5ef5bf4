// SPDX-License-Identifier: Apache-2.0
// Views that do not fit the plan are rejected on the host, naming the argument and values.
#include <cuda_bf16.h>
#include <doctest/doctest.h>

#include <varattn/validate.hpp>
#include <sstream>
#include <vector>

using element = __nv_bfloat16;
using view = varattn::packed_view<element>;
using const_view = varattn::packed_view<const element>;

namespace {
struct fixture {
  varattn::segments q_segs = varattn::segments::from_lengths({5, 11}, "cu_seqlens_q");
  varattn::segments k_segs = varattn::segments::from_lengths({7, 3}, "cu_seqlens_k");
  varattn::plan p =
      varattn::plan::make(q_segs, k_segs, {4, 2, 64}, {}, varattn::launch_policy::per_segment);
  // Host memory stands in for device memory: validation never dereferences.
  alignas(16) std::vector<element> storage = std::vector<element>(4096 * 64);
  // Disjoint regions: q, k, v, then o.
  view q = view::contiguous(storage.data(), 16, 4, 64);
  view k = view::contiguous(storage.data() + 16 * 4 * 64, 10, 2, 64);
  view v = view::contiguous(storage.data() + 26 * 4 * 64, 10, 2, 64);
  view o = view::contiguous(storage.data() + 36 * 4 * 64, 16, 4, 64);
  void check() const { varattn::validate<element>(p, q, k, v, o); }
};
}  // namespace

TEST_CASE("views that fit the plan pass") {
  fixture f;
  CHECK_NOTHROW(f.check());
  // Fused qkv: q, k, v as slices of one [rows, 3, heads, d] buffer.
  fixture g;
  g.p =
      varattn::plan::make(g.q_segs, g.q_segs, {4, 4, 64}, {}, varattn::launch_policy::per_segment);
  g.q = {g.storage.data(), 16, 4, 64, 3 * 4 * 64, 64};
  g.k = {g.storage.data() + 4 * 64, 16, 4, 64, 3 * 4 * 64, 64};
  g.v = {g.storage.data() + 8 * 64, 16, 4, 64, 3 * 4 * 64, 64};
  g.o = view::contiguous(g.storage.data() + 48 * 4 * 64, 16, 4, 64);
  CHECK_NOTHROW(g.check());
  // Head-major views ([heads, rows, d] transposed, as from a [1, heads, tokens, d] tensor).
  fixture h;
  h.o = {h.storage.data() + 36 * 4 * 64, 16, 4, 64, 64, 16 * 64};
  CHECK_NOTHROW(h.check());
  // In place: o is exactly q.
  fixture i;
  i.o = i.q;
  CHECK_NOTHROW(i.check());
}

TEST_CASE("an o that overlaps itself or an input is rejected") {
  fixture f;
  f.o.head_stride = 0;
  CHECK_THROWS_WITH_AS(f.check(),
                       "o.head_stride = 0 < 64: o's elements overlap (it is written, so each "
                       "element must be distinct)",
                       varattn::error);
  fixture g;
  g.o.token_stride = 128;  // < heads * head_stride = 256
  CHECK_THROWS_WITH_AS(g.check(),
                       "o.token_stride = 128 < 256: o's elements overlap (it is written, so "
                       "each element must be distinct)",
                       varattn::error);
  fixture h;  // head-major with rows overlapping the next head
  h.o = {h.storage.data() + 36 * 4 * 64, 16, 4, 64, 64, 8 * 64};
  CHECK_THROWS_WITH_AS(h.check(),
                       "o.head_stride = 512 < 1024: o's elements overlap (it is written, so "
                       "each element must be distinct)",
                       varattn::error);
  const auto starts_with = [](const std::string& text, const std::string& prefix) {
    return text.compare(0, prefix.size(), prefix) == 0;
  };
  const auto message = [](const fixture& x) -> std::string {
    try {
      x.check();
    } catch (const varattn::error& e) {
      return e.what();
    }
    return "(no error)";
  };
  fixture over_k;  // o's first rows over k's memory
  over_k.o.data = over_k.k.data;
  CHECK(starts_with(message(over_k), "o overlaps k: o spans bytes ["));
  fixture over_v;  // o starts in v's last row
  over_v.o.data = over_v.v.data + 10 * 2 * 64 - 64;
  CHECK(starts_with(message(over_v), "o overlaps k: ") == false);
  CHECK(starts_with(message(over_v), "o overlaps v: o spans bytes ["));
  fixture shifted;  // o = q one token on: not in place, CTAs race
  shifted.o.data = shifted.q.data + 4 * 64;
  CHECK(starts_with(message(shifted), "o overlaps q: o spans bytes ["));
  fixture strided;  // o == q's pointer but other strides: not in place
  strided.o = {strided.q.data, 16, 4, 64, 4 * 64 + 64 * 4, 64};
  CHECK(starts_with(message(strided), "o overlaps q: "));
  CHECK(message(strided).find("(o == q with equal strides, in place, is allowed)") !=
        std::string::npos);
}

TEST_CASE("the last offset must match the rows of q, k, v and o") {
  fixture f;
  f.q.rows = 17;
  CHECK_THROWS_WITH_AS(f.check(), "q.rows = 17 != cu_seqlens_q[2] = 16", varattn::error);
  fixture g;
  g.v.rows = 9;
  CHECK_THROWS_WITH_AS(g.check(), "v.rows = 9 != cu_seqlens_k[2] = 10", varattn::error);
  fixture h;
  h.o.rows = 15;
  CHECK_THROWS_WITH_AS(h.check(), "o.rows = 15 != cu_seqlens_q[2] = 16", varattn::error);
}

TEST_CASE("null pointers, wrong heads and head dims are rejected") {
  fixture f;
  f.k.data = nullptr;
  CHECK_THROWS_WITH_AS(f.check(), "k.data is a null pointer", varattn::error);
  fixture g;
  g.o.heads = 2;
  CHECK_THROWS_WITH_AS(g.check(), "o.heads = 2 != 4", varattn::error);
  fixture h;
  h.v.head_dim = 128;
  CHECK_THROWS_WITH_AS(h.check(), "v.head_dim = 128 != 64", varattn::error);
}

TEST_CASE("misaligned pointers and strides are rejected") {
  fixture f;
  f.q.data = f.storage.data() + 1;
  const std::string address = [&] {
    std::ostringstream out;
    out << static_cast<const void*>(f.q.data);
    return out.str();
  }();
  CHECK_THROWS_WITH_AS(
      f.check(),
      ("q.data = " + address + " is not 16-byte aligned (the kernels load 16-byte vectors)")
          .c_str(),
      varattn::error);
  fixture g;
  g.k.token_stride = 130;
  CHECK_THROWS_WITH_AS(g.check(),
                       "k.token_stride = 130 must be a positive multiple of 8 elements "
                       "(16-byte vectors)",
                       varattn::error);
  fixture h;
  h.o.head_stride = 68;
  CHECK_THROWS_WITH_AS(h.check(),
                       "o.head_stride = 68 must be a non-negative multiple of 8 elements "
                       "(16-byte vectors)",
                       varattn::error);
}
