// SPDX-License-Identifier: Apache-2.0
// backward()'s arguments that do not fit the plan are rejected on the host, naming the
// argument and values; the workspace size for each launch policy, without a device.
#include <cuda_bf16.h>
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <varattn/backward_workspace.hpp>
#include <varattn/validate_backward.hpp>
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
  // Host memory stands in for device memory: validation never dereferences. Disjoint regions:
  // q, k, v, o, d_o, d_q, d_k, d_v.
  alignas(16) std::vector<element> storage = std::vector<element>(24576);
  element* at(std::size_t offset) { return storage.data() + offset; }
  view q = view::contiguous(at(0), 16, 4, 64);
  view k = view::contiguous(at(4096), 10, 2, 64);
  view v = view::contiguous(at(5376), 10, 2, 64);
  view o = view::contiguous(at(6656), 16, 4, 64);
  view d_o = view::contiguous(at(10752), 16, 4, 64);
  view d_q = view::contiguous(at(14848), 16, 4, 64);
  view d_k = view::contiguous(at(18944), 10, 2, 64);
  view d_v = view::contiguous(at(20224), 10, 2, 64);
  alignas(16) std::vector<float> lse_storage = std::vector<float>(4 * 16);
  varattn::logsumexp_view lse{lse_storage.data(), 16};
  alignas(16) std::vector<unsigned char> workspace_storage = std::vector<unsigned char>(1024);
  void* workspace = workspace_storage.data();
  std::size_t workspace_bytes = 368;
  varattn::backward_options options{true};  // deterministic: D alone for per_segment plans

  void check() const {
    varattn::validate_backward<element>(p, q, k, v, o, d_o, lse, d_q, d_k, d_v, workspace,
                                        workspace_bytes, options);
  }
  std::string message() const {
    try {
      check();
    } catch (const varattn::error& e) {
      return e.what();
    }
    return "(no error)";
  }
};

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Host memory for an on_device plan: on_device with kernel_family::sm80 makes no CUDA call.
struct device_plan_memory {
  alignas(16) std::vector<unsigned char> bytes = std::vector<unsigned char>(1 << 16);
  varattn::device_report report{};
  varattn::plan_workspace workspace() { return {bytes.data(), bytes.size(), &report}; }
};

}  // namespace

TEST_CASE("backward: arguments that fit the plan pass") {
  fixture f;
  // D: 16 rows x 4 heads x float, and 112 bytes of room to round the pointer up to a line.
  CHECK(varattn::backward_workspace_bytes(f.p, f.options) == 256 + 112);
  CHECK_NOTHROW(f.check());
  fixture big;  // more workspace than needed is fine
  big.workspace_bytes = 1024;
  CHECK_NOTHROW(big.check());
  fixture strided;  // gradients head-major, lse padded
  strided.d_q = {strided.at(14848), 16, 4, 64, 64, 16 * 64};
  strided.lse = {strided.lse_storage.data(), 16};
  CHECK_NOTHROW(strided.check());
}

TEST_CASE("backward: the deterministic workspace holds D and, for fused plans, the work lists") {
  const varattn::backward_options det{true};
  varattn::attention_options sm80;
  sm80.kernel = varattn::kernel_family::sm80;
  device_plan_memory memory;
  // 3 segments over 100 q rows and 130 k rows, d = 64: 64-row q tiles and 64-key k tiles, so
  // 100 / 64 + 3 = 4 q items and 130 / 64 + 3 = 5 k items; D takes 100 x 4 floats = 1600
  // bytes, the lists start at the next line, 1664: the header 144 (4 counts, 32 size classes),
  // the items 20 each: 1664 + 144 + 80 + 100 = 1988, aligned to 2000; and 112 bytes of room to
  // round the pointer up to a line.
  const auto p64 = varattn::plan::on_device(memory.workspace(), 3, 100, 130, {4, 2, 64}, sm80);
  CHECK(varattn::backward_workspace_bytes(p64, det) == 2000 + 112);
  const auto l64 = varattn::detail::backward_layout::of(p64, det);
  CHECK(l64.q_capacity == 4);
  CHECK(l64.k_capacity == 5);
  CHECK(l64.dq_acc == 1664);
  CHECK(l64.lists == 1664);
  CHECK(l64.q_items() == 1808);
  CHECK(l64.k_items() == 1888);
  // d = 256: 32-row tiles: 100 / 32 + 3 = 6 and 130 / 32 + 3 = 7 items: 1808 + 120 + 140 =
  // 2068, aligned to 2080.
  const auto p256 = varattn::plan::on_device(memory.workspace(), 3, 100, 130, {4, 2, 256}, sm80);
  CHECK(varattn::backward_workspace_bytes(p256, det) == 2080 + 112);
  // No rows, no segments: the list header alone (and the room).
  const auto empty = varattn::plan::on_device(memory.workspace(), 0, 0, 0, {4, 2, 64}, sm80);
  CHECK(varattn::backward_workspace_bytes(empty, det) == 144 + 112);
  // A moved-from plan is refused by name.
  varattn::plan moved = varattn::plan::on_device(memory.workspace(), 3, 100, 130, {4, 2, 64}, sm80);
  varattn::plan taken = std::move(moved);
  CHECK_THROWS_WITH_AS(varattn::backward_workspace_bytes(moved),
                       "backward_workspace_bytes: the plan is empty (moved from); make a new one",
                       varattn::error);
}

TEST_CASE("backward: 8 or more q heads a kv head split over CTAs, with float32 dK/dV partials") {
  // The smallest divisor of the group from 4 up is a CTA's share of q heads.
  CHECK(varattn::detail::backward_head_splits(2, 2) == 1);
  CHECK(varattn::detail::backward_head_splits(8, 2) == 1);   // group 4
  CHECK(varattn::detail::backward_head_splits(7, 1) == 1);   // group 7: no divisor 4..6
  CHECK(varattn::detail::backward_head_splits(8, 1) == 2);   // 4 heads a CTA
  CHECK(varattn::detail::backward_head_splits(32, 1) == 8);  // MQA 32:1
  CHECK(varattn::detail::backward_head_splits(48, 4) == 3);  // group 12
  CHECK(varattn::detail::backward_head_splits(10, 1) == 2);  // group 10: 5 heads a CTA
  CHECK(varattn::detail::backward_head_splits(11, 1) == 1);  // prime: all 11 in one CTA
  const varattn::backward_options det{true};
  varattn::attention_options sm80;
  sm80.kernel = varattn::kernel_family::sm80;
  device_plan_memory memory;
  // 3 segments, 100 q rows, 130 k rows, 16 q heads on 2 kv heads, d = 64, deterministic: D
  // 100 x 16 floats = 6400 bytes, then 2 splits x 130 rows x 2 kv heads x 2 x 64 floats =
  // 266240 bytes of partials, then the header and 4 q + 5 k items (144 + 180), aligned to 16,
  // and the room to round the pointer up (112); every region ends on a line here.
  const auto p = varattn::plan::on_device(memory.workspace(), 3, 100, 130, {16, 2, 64}, sm80);
  const auto l = varattn::detail::backward_layout::of(p, det);
  CHECK(l.head_splits == 2);
  CHECK(l.dkv_partial == 6400);
  CHECK(l.lists == 6400 + 266240);
  CHECK(varattn::backward_workspace_bytes(p, det) == 6400 + 266240 + 336 + 112);
  // The atomic path: the dQ accumulator (100 x 16 x 64 floats) comes first.
  const auto a = varattn::detail::backward_layout::of(p, {});
  CHECK(a.dkv_partial == 6400 + 409600);
  CHECK(a.lists == 6400 + 409600 + 266240);
}

TEST_CASE("backward: the default (atomic dQ) workspace adds the float32 dQ accumulator") {
  varattn::attention_options sm80;
  sm80.kernel = varattn::kernel_family::sm80;
  device_plan_memory memory;
  // As above (3 segments, 100 q rows, 130 k rows, 4 q heads, d = 64): D 1600 bytes, then dQ
  // from the next line (1664) 100 x 4 x 64 floats = 102400 bytes, then the header 144 and the
  // 5 k items (no q items): 1664 + 102400 + 144 + 100 = 104308, aligned to 104320, + 112.
  const auto p64 = varattn::plan::on_device(memory.workspace(), 3, 100, 130, {4, 2, 64}, sm80);
  CHECK(varattn::backward_workspace_bytes(p64) == 104320 + 112);
  const auto l64 = varattn::detail::backward_layout::of(p64, {});
  CHECK(l64.dq_acc == 1664);
  CHECK(l64.lists == 104064);
  CHECK(l64.q_capacity == 0);
  CHECK(l64.k_capacity == 5);
  CHECK(l64.k_items() == 104208);
  // On the sm80 kernels, head dims 72 and 80 run the dQ kernel whatever the options
  // (backward_tiles::atomic_dq; the Hopper kernel sums dQ itself at every head dim):
  // no accumulator, and the q-tile list.
  const auto p80 = varattn::plan::on_device(memory.workspace(), 3, 100, 130, {4, 2, 80}, sm80);
  CHECK_FALSE(varattn::detail::backward_layout::of(p80, {}).atomic_dq);
  CHECK(varattn::backward_workspace_bytes(p80) ==
        varattn::backward_workspace_bytes(p80, varattn::backward_options{true}));
  CHECK(l64.atomic_dq);
  // per_segment: D and dQ, no lists: 16 rows x 4 heads x (1 + 64) floats = 256 + 16384, + 112.
  fixture f;
  CHECK(varattn::backward_workspace_bytes(f.p) == 16752);
  fixture small;
  small.options = {};
  small.workspace_bytes = 16751;
  CHECK(small.message() == "workspace_bytes = 16751 < 16752 (backward_workspace_bytes for this plan)");
  fixture det;
  det.workspace_bytes = 367;
  CHECK(det.message() ==
        "workspace_bytes = 367 < 368 (backward_workspace_bytes for this plan, deterministic)");
}

TEST_CASE("backward: views that do not fit the plan are rejected by name") {
  fixture a;
  a.d_q.rows = 15;
  CHECK(a.message() == "d_q.rows = 15 != cu_seqlens_q[2] = 16");
  fixture b;
  b.d_k.heads = 1;
  CHECK(b.message() == "d_k.heads = 1 != 2");
  fixture c;
  c.d_o.head_dim = 32;
  CHECK(c.message() == "d_o.head_dim = 32 != 64");
  fixture d;
  d.d_v.data = d.at(20224 + 1);
  CHECK(starts_with(d.message(), "d_v.data = "));
  CHECK(d.message().find("is not 16-byte aligned (the kernels load 16-byte vectors)") !=
        std::string::npos);
  fixture e;
  e.o.token_stride = 4 * 64 + 4;
  CHECK(e.message() == "o.token_stride = 260 must be a positive multiple of 8 elements (16-byte "
                       "vectors)");
  fixture f;
  f.v.rows = 9;
  CHECK(f.message() == "v.rows = 9 != cu_seqlens_k[2] = 10");
  fixture g;
  g.d_q.data = nullptr;
  CHECK(g.message() == "d_q.data is a null pointer");
}

TEST_CASE("backward: gradients that overlap themselves, an input, each other or the workspace") {
  fixture a;
  a.d_q.head_stride = 0;
  CHECK(a.message() == "d_q.head_stride = 0 < 64: d_q's elements overlap (it is written, so each "
                       "element must be distinct)");
  fixture b;  // in place is not allowed: dK/dV read q while dQ is written
  b.d_q.data = b.q.data;
  CHECK(starts_with(b.message(), "d_q overlaps q: d_q spans bytes ["));
  CHECK(b.message().find("; d_q, d_k, d_v and the workspace must not share memory with q, k, v, "
                         "o, d_o, lse or each other") != std::string::npos);
  fixture c;
  c.d_k.data = c.d_v.data;
  CHECK(starts_with(c.message(), "d_k overlaps d_v: d_k spans bytes ["));
  fixture d;  // d_v inside d_o
  d.d_v.data = d.d_o.data + 64;
  CHECK(starts_with(d.message(), "d_v overlaps d_o: "));
  fixture e;
  e.workspace = e.o.data;
  CHECK(starts_with(e.message(), "workspace overlaps o: workspace spans bytes ["));
  fixture f;  // the logsumexp inside d_k
  f.lse.data = reinterpret_cast<float*>(f.d_k.data);
  CHECK(starts_with(f.message(), "d_k overlaps lse: "));
  fixture g;  // the workspace inside d_q
  g.workspace = g.d_q.data + 64;
  CHECK(starts_with(g.message(), "d_q overlaps workspace: "));
}

TEST_CASE("backward: the forward's logsumexp is required and checked") {
  fixture a;
  a.lse.data = nullptr;
  CHECK(a.message() == "lse.data is a null pointer: backward needs the forward's logsumexp "
                       "(forward with a logsumexp_view)");
  fixture b;
  b.lse.data = reinterpret_cast<float*>(reinterpret_cast<char*>(b.lse_storage.data()) + 2);
  CHECK(starts_with(b.message(), "lse.data = "));
  CHECK(b.message().find(" is not 4-byte aligned (float)") != std::string::npos);
  fixture c;
  c.lse.head_stride = 15;
  CHECK(c.message() == "lse.head_stride = 15 < rows_q = 16 (each head holds rows_q floats)");
  fixture d;
  d.lse.head_stride = INT64_MAX / 8;
  CHECK(d.message() == "lse.head_stride = 1152921504606846975 x heads_q = 4 floats overflow a "
                       "64-bit byte offset");
}

TEST_CASE("backward: the workspace must be large enough, present and aligned") {
  fixture a;
  a.workspace_bytes = 367;
  CHECK(a.message() ==
        "workspace_bytes = 367 < 368 (backward_workspace_bytes for this plan, deterministic)");
  fixture b;
  b.workspace = nullptr;
  CHECK(b.message() == "workspace is a null pointer");
  fixture c;
  c.workspace = c.workspace_storage.data() + 8;
  CHECK(starts_with(c.message(), "workspace = "));
  CHECK(c.message().find(" is not 16-byte aligned") != std::string::npos);
}

TEST_CASE("backward: every workspace region starts on a 128-byte line, whatever the pointer") {
  // 101 q rows x 16 q heads: D is 6464 bytes, half a line past a line. Packed after it, the
  // dQ accumulator's rows of 32 floats would each cross two L2 lines (two requests each for
  // the copy engine's reductions).
  varattn::attention_options sm80;
  sm80.kernel = varattn::kernel_family::sm80;
  device_plan_memory memory;
  const auto p = varattn::plan::on_device(memory.workspace(), 3, 101, 130, {16, 1, 64}, sm80);
  const auto l = varattn::detail::backward_layout::of(p, {});
  REQUIRE(l.atomic_dq);
  REQUIRE(l.head_splits == 4);
  CHECK(l.dq_acc == 6528);  // 6464 rounded up to a line
  CHECK(l.dq_acc % varattn::detail::kRegionAlignment == 0);
  CHECK(l.dkv_partial % varattn::detail::kRegionAlignment == 0);
  CHECK(l.lists % varattn::detail::kRegionAlignment == 0);
  CHECK(l.dkv_partial >= l.dq_acc + 101 * 16 * 64 * sizeof(float));
  CHECK(l.lists >= l.dkv_partial + 4 * 130 * 1 * 2 * 64 * sizeof(float));
  const std::size_t used = l.k_items() + std::size_t(l.k_capacity) * sizeof(varattn::backward_item);
  // Any 16-byte aligned pointer: the origin is the next line, and the regions end inside the
  // caller's bytes (compared as addresses: the workspace is not host memory).
  alignas(128) static unsigned char block[128 * 2];
  for (std::size_t offset = 0; offset < 128; offset += 16) {
    CAPTURE(offset);
    void* workspace = block + offset;
    const auto start = reinterpret_cast<std::uintptr_t>(workspace);
    const auto origin = reinterpret_cast<std::uintptr_t>(varattn::detail::workspace_origin(workspace));
    CHECK(origin % 128 == 0);
    CHECK(origin >= start);
    CHECK(origin + used <= start + l.bytes);
  }
}
