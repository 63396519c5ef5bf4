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
  view q = view::contiguous(storage.data(), 16, 4, 64);
  view k = view::contiguous(storage.data(), 10, 2, 64);
  view v = view::contiguous(storage.data(), 10, 2, 64);
  view o = view::contiguous(storage.data(), 16, 4, 64);
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
  g.o = view::contiguous(g.storage.data(), 16, 4, 64);
  CHECK_NOTHROW(g.check());
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
