// SPDX-License-Identifier: Apache-2.0
// Views that do not fit the plan are rejected on the host, naming the argument and values.
#include <cuda_bf16.h>
#include <doctest/doctest.h>

#include <varattn/validate.hpp>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
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
  // The logsumexp of 4 heads x 16 rows, a head every 20 floats (padded), in its own memory.
  alignas(16) std::vector<float> lse_storage = std::vector<float>(4 * 32);
  varattn::logsumexp_view lse{lse_storage.data(), 20};
  void check() const { varattn::validate<element>(p, q, k, v, o); }
  void check_lse() const { varattn::validate<element>(p, q, k, v, o, lse); }
  // A forward_scratch in its own memory (when `scratch` is left as is).
  alignas(16) std::vector<unsigned> scratch_storage = std::vector<unsigned>(4);
  varattn::forward_scratch scratch{scratch_storage.data()};
  void check_scratch() const {
    varattn::detail::validate_scratch<element>(scratch, p, lse, q, k, v, o);
  }
};

std::string pointer_text(const void* p) {
  std::ostringstream out;
  out << p;
  return out.str();
}

// The message of the varattn::error that (f.*check)() throws ("(no error)" if none).
std::string error_message(const fixture& f, void (fixture::*check)() const) {
  try {
    (f.*check)();
  } catch (const varattn::error& e) {
    return e.what();
  }
  return "(no error)";
}
std::string message(const fixture& f) { return error_message(f, &fixture::check); }
std::string lse_message(const fixture& f) { return error_message(f, &fixture::check_lse); }
std::string scratch_message(const fixture& f) { return error_message(f, &fixture::check_scratch); }

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}
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

TEST_CASE("a logsumexp view that fits passes; a null one is not requested") {
  fixture f;
  CHECK_NOTHROW(f.check_lse());
  f.lse.head_stride = 16;  // dense [heads, rows]
  CHECK_NOTHROW(f.check_lse());
  // lse right after o's last byte, and ending right before q's first: no overlap.
  fixture g;
  g.lse.data = reinterpret_cast<float*>(g.storage.data() + 52 * 4 * 64);
  CHECK_NOTHROW(g.check_lse());
  fixture h;
  h.q = view::contiguous(h.storage.data() + 4 * 20 * 2, 16, 4, 64);  // q after lse's 80 floats
  h.k = view::contiguous(h.storage.data() + 20 * 4 * 64, 10, 2, 64);
  h.v = view::contiguous(h.storage.data() + 30 * 4 * 64, 10, 2, 64);
  h.o = view::contiguous(h.storage.data() + 40 * 4 * 64, 16, 4, 64);
  h.lse.data = reinterpret_cast<float*>(h.storage.data());
  CHECK_NOTHROW(h.check_lse());
  // Not requested: nothing about it is checked.
  fixture n;
  n.lse = {nullptr, -7};
  CHECK_NOTHROW(n.check_lse());
  // The overload without lse still validates the views.
  fixture m;
  m.q.rows = 17;
  CHECK_THROWS_WITH_AS(m.check_lse(), "q.rows = 17 != cu_seqlens_q[2] = 16", varattn::error);
}

TEST_CASE("a logsumexp view that is misaligned, too narrow or too wide is rejected") {
  fixture f;
  f.lse.data = reinterpret_cast<float*>(reinterpret_cast<char*>(f.lse_storage.data()) + 2);
  CHECK(lse_message(f) ==
        "lse.data = " + pointer_text(f.lse.data) + " is not 4-byte aligned (float)");
  fixture g;
  g.lse.head_stride = 15;
  CHECK(lse_message(g) == "lse.head_stride = 15 < rows_q = 16 (each head holds rows_q floats)");
  g.lse.head_stride = -16;
  CHECK(lse_message(g) == "lse.head_stride = -16 < rows_q = 16 (each head holds rows_q floats)");
  fixture h;  // 4 heads x head_stride floats x 4 bytes past int64
  constexpr int64_t max_floats = std::numeric_limits<int64_t>::max() / 4;
  h.lse.head_stride = max_floats / 4 + 1;
  CHECK(lse_message(h) == "lse.head_stride = " + std::to_string(max_floats / 4 + 1) +
                              " x heads_q = 4 floats overflow a 64-bit byte offset");
  h.lse.head_stride = max_floats / 4;  // fits int64; from near the top, wraps the addresses
  h.lse.data = reinterpret_cast<float*>(~std::uintptr_t{0} - 4095);
  CHECK(lse_message(h) == "lse spans " + std::to_string(3 * (max_floats / 4) + 16) +
                              " floats from lse.data = " + pointer_text(h.lse.data) +
                              ", past the end of the address space");
}

TEST_CASE("a logsumexp view that shares memory with o, q, k or v is rejected") {
  const std::string tail = "]; lse must not share memory with q, k, v or o";
  fixture f;  // on o's first rows
  f.lse.data = reinterpret_cast<float*>(f.o.data);
  CHECK(starts_with(lse_message(f), "lse overlaps o: lse spans bytes [" +
                                        pointer_text(f.o.data) + ", "));
  CHECK(lse_message(f).find(tail) != std::string::npos);
  fixture g;  // its last float on o's first element
  g.lse.data = reinterpret_cast<float*>(g.o.data) - (3 * 20 + 16 - 1);
  CHECK(starts_with(lse_message(g), "lse overlaps o: "));
  fixture h;  // its first float on o's last element (2 bytes)
  h.lse.data = reinterpret_cast<float*>(h.o.data + 16 * 4 * 64 - 2);
  CHECK(starts_with(lse_message(h), "lse overlaps o: "));
  fixture i;  // in place (o == q): q is reported as o
  i.o = i.q;
  i.lse.data = reinterpret_cast<float*>(i.q.data + 64);
  CHECK(starts_with(lse_message(i), "lse overlaps o: "));
  fixture j;
  j.lse.data = reinterpret_cast<float*>(j.q.data + 5 * 4 * 64);
  CHECK(starts_with(lse_message(j), "lse overlaps q: "));
  fixture k;  // between k's rows: the ranges overlap
  k.lse.data = reinterpret_cast<float*>(k.k.data + 2 * 2 * 64 + 8);
  CHECK(starts_with(lse_message(k), "lse overlaps k: "));
  fixture v;  // ends in v's first row
  v.lse.data = reinterpret_cast<float*>(v.v.data) - (3 * 20 + 16 - 4);
  CHECK(starts_with(lse_message(v), "lse overlaps k: ") == false);
  CHECK(starts_with(lse_message(v), "lse overlaps v: lse spans bytes ["));
  // The views' own errors come first.
  fixture w;
  w.lse.data = reinterpret_cast<float*>(w.o.data);
  w.o.head_stride = 0;
  CHECK(starts_with(lse_message(w), "o.head_stride = 0 < 64: "));
}

TEST_CASE("a forward scratch that is misaligned or shares memory with a view is rejected") {
  fixture ok;
  CHECK(scratch_message(ok) == "(no error)");
  ok.scratch.data = nullptr;  // none: one CTA a tile, nothing to check
  CHECK(scratch_message(ok) == "(no error)");
  fixture f;
  f.scratch.data = reinterpret_cast<char*>(f.scratch_storage.data()) + 2;
  CHECK(scratch_message(f) == "scratch.data = " + pointer_text(f.scratch.data) +
                                  " is not 4-byte aligned (32-bit counters)");
  const std::string tail = "]; the scratch must not share memory with q, k, v, o, lse or the plan";
  fixture g;  // on o's last 4 bytes and past them
  g.scratch.data = g.o.data + 16 * 4 * 64 - 2;
  const char* o_last = reinterpret_cast<char*>(g.o.data + 16 * 4 * 64) - 1;
  CHECK(scratch_message(g) == "scratch overlaps o: scratch spans bytes [" +
                                  pointer_text(g.scratch.data) + ", " +
                                  pointer_text(static_cast<char*>(g.scratch.data) + 7) +
                                  "] and o [" + pointer_text(g.o.data) + ", " +
                                  pointer_text(o_last) + tail);
  fixture h;  // its last 4 bytes on q's first element
  h.scratch.data = reinterpret_cast<char*>(h.q.data) - 4;
  CHECK(starts_with(scratch_message(h), "scratch overlaps q: "));
  fixture i;
  i.scratch.data = i.k.data + 64;
  CHECK(starts_with(scratch_message(i), "scratch overlaps k: "));
  fixture j;
  j.scratch.data = j.v.data + 2 * 64;
  CHECK(starts_with(scratch_message(j), "scratch overlaps v: "));
  fixture l;  // in the logsumexp's last head
  l.scratch.data = l.lse.data + 3 * 20 + 8;
  CHECK(starts_with(scratch_message(l), "scratch overlaps lse: "));
  fixture m;  // in the logsumexp's padding between heads: the range still overlaps
  m.scratch.data = m.lse.data + 16;
  CHECK(starts_with(scratch_message(m), "scratch overlaps lse: "));
  fixture n;  // just past the logsumexp's last row
  n.scratch.data = n.lse.data + 3 * 20 + 16;
  CHECK(scratch_message(n) == "(no error)");
}
