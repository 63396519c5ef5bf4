// SPDX-License-Identifier: Apache-2.0
// The short tiles' strided grid (the sm80 short tile, and on sm_90 the Hopper short tile that
// automatic plans there): a device-built list whose capacity x head groups is more
// than one pass of resident CTAs launches that pass, and each CTA runs several tiles
// (launch.cuh, work_source::at_rank). Every case here makes the grid smaller than its ranks
// for certain: 600 or more short segments (tiny-d64's sizes) over 4 query heads against ~660
// resident short-tile CTAs on an H200 (fewer on smaller GPUs). The first case reads the grid
// from the captured kernel node, so that a change which stops striding fails here instead of
// leaving the path untested.

#include <cstddef>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "harness.cuh"

namespace {

//! Segment lengths of 0-40 queries, keys 0-7 more, every ninth segment without keys.
struct short_table {
  std::vector<int32_t> q, k;
};
short_table short_segments(int32_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  short_table t;
  for (int32_t i = 0; i < count; ++i) {
    const auto q = static_cast<int32_t>(rng() % 41);
    t.q.push_back(q);
    t.k.push_back(i % 9 == 4 ? 0 : q + static_cast<int32_t>(rng() % 8));
  }
  return t;
}

//! The forward's kernel node in a captured build + forward (the builder is one CTA): its grid
//! and the strided_groups its work_source carries.
struct forward_node {
  unsigned grid = 0;
  int32_t strided_groups = -1;
};
forward_node forward_node_of(cudaGraph_t graph) {
  std::size_t count = 0;
  VARATTN_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &count));
  std::vector<cudaGraphNode_t> nodes(count);
  VARATTN_CUDA_CHECK(cudaGraphGetNodes(graph, nodes.data(), &count));
  forward_node found;
  for (cudaGraphNode_t node : nodes) {
    cudaGraphNodeType type;
    VARATTN_CUDA_CHECK(cudaGraphNodeGetType(node, &type));
    if (type != cudaGraphNodeTypeKernel) continue;
    cudaKernelNodeParams params{};
    VARATTN_CUDA_CHECK(cudaGraphKernelNodeGetParams(node, &params));
    if (params.gridDim.x == 1) continue;  // build_work_list_kernel
    found.grid = params.gridDim.x;
    // The kernel's second parameter is its work_source.
    std::memcpy(&found.strided_groups,
                static_cast<const char*>(params.kernelParams[1]) +
                    offsetof(varattn::detail::work_source, strided_groups),
                sizeof(int32_t));
  }
  return found;
}

//! The short tiles that stride: sm80's at head dim 64, and automatic's at 64 and 128 (on
//! sm_90 the Hopper short tile; elsewhere the sm80 tile again).
struct short_case {
  varattn::kernel_family family;
  int32_t head_dim;
};
constexpr short_case kShortCases[] = {{varattn::kernel_family::sm80, 64},
                                      {varattn::kernel_family::automatic, 64},
                                      {varattn::kernel_family::automatic, 128}};
constexpr int kShortCaseCount = static_cast<int>(sizeof(kShortCases) / sizeof(kShortCases[0]));

}  // namespace

TEST_CASE("short-tile strided grid: a capped device-built list matches the host-built list "
          "and replays from a graph as offsets change") {
  using element = __nv_bfloat16;
  using view = varattn::packed_view<element>;
  using const_view = varattn::packed_view<const element>;
  const int32_t heads_q = 4, heads_kv = 2, segments = 600, max_q = 40;
  const short_table a = short_segments(segments, 5);
  // The same lengths reversed: the same count and totals, so one capture serves both.
  const short_table b{{a.q.rbegin(), a.q.rend()}, {a.k.rbegin(), a.k.rend()}};
  const auto a_q = varattn::segments::from_lengths(a.q), a_k = varattn::segments::from_lengths(a.k);
  const auto b_q = varattn::segments::from_lengths(b.q), b_k = varattn::segments::from_lengths(b.k);
  const int32_t rows_q = a_q.total(), rows_k = a_k.total();
  for (int run = 0; run < 2 * kShortCaseCount; ++run) {
    const varattn::kernel_family family = kShortCases[run / 2].family;
    const int32_t d = kShortCases[run / 2].head_dim;
    const bool causal = run % 2 == 1;
    if (!test::instantiated(d)) continue;
    CAPTURE(test::family_name(family));
    CAPTURE(d);
    CAPTURE(causal);
    const std::size_t nq = std::size_t(rows_q) * heads_q * d;
    const std::size_t nk = std::size_t(rows_k) * heads_kv * d;
    varattn::attention_options options;
    options.kernel = family;
    options.causal = causal;
    std::mt19937_64 rng(causal ? 61 : 62);
    const thrust::device_vector<element> q(test::random_elements<element>(nq, rng));
    const thrust::device_vector<element> k(test::random_elements<element>(nk, rng));
    const thrust::device_vector<element> v(test::random_elements<element>(nk, rng));
    thrust::device_vector<element> o(nq);
    const auto qv = const_view::contiguous(thrust::raw_pointer_cast(q.data()), rows_q, heads_q, d);
    const auto kv = const_view::contiguous(thrust::raw_pointer_cast(k.data()), rows_k, heads_kv, d);
    const auto vv = const_view::contiguous(thrust::raw_pointer_cast(v.data()), rows_k, heads_kv, d);
    const auto ov = view::contiguous(thrust::raw_pointer_cast(o.data()), rows_q, heads_q, d);
    test::stream_guard s;
    const auto poison = [&] {
      VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(o.data()), test::kPoison,
                                         nq * sizeof(element), s.stream));
    };
    const auto result = [&] {
      VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
      std::vector<element> h(nq);
      thrust::copy(o.begin(), o.end(), h.begin());
      return h;
    };
    // The host-built list (one CTA a tile, groups over the whole table): the expected values.
    // Its groups differ from the device's (each builder thread groups its own range), so the
    // bits may differ; the values agree to the element type's rounding.
    const auto host_built = [&](const varattn::segments& sq, const varattn::segments& sk) {
      const auto p = varattn::plan::make(sq, sk, {heads_q, heads_kv, d}, options,
                                         varattn::launch_policy::fused, s.stream);
      poison();
      varattn::forward<element>(p, qv, kv, vv, ov, s.stream);
      return result();
    };
    const auto want_a = host_built(a_q, a_k), want_b = host_built(b_q, b_k);

    auto plan = varattn::plan::reserve_on_device(segments, rows_q, rows_k,
                                                 {heads_q, heads_kv, d}, options, max_q);
    REQUIRE(plan.kernel().tile.block_m == 64);
    thrust::device_vector<int32_t> cu_q(a_q.offsets()), cu_k(a_k.offsets());
    const varattn::device_span<const int32_t> q_span{thrust::raw_pointer_cast(cu_q.data()),
                                                     cu_q.size()};
    const varattn::device_span<const int32_t> k_span{thrust::raw_pointer_cast(cu_k.data()),
                                                     cu_k.size()};
    const auto load = [&](const varattn::segments& sq, const varattn::segments& sk) {
      thrust::copy(sq.offsets().begin(), sq.offsets().end(), cu_q.begin());
      thrust::copy(sk.offsets().begin(), sk.offsets().end(), cu_k.begin());
    };
    // Eager: every element written, and within bfloat16's tolerance of the host-built list.
    const auto eager = [&](const varattn::segments& sq, const varattn::segments& sk,
                           const std::vector<element>& want) {
      load(sq, sk);
      varattn::build_on_device(plan, q_span, k_span, s.stream);
      poison();
      varattn::forward<element>(plan, qv, kv, vv, ov, s.stream);
      const std::vector<element> got = result();
      plan.check_device_build(s.stream);
      double diff = 0, norm = 0;
      int64_t nan = 0;
      for (std::size_t i = 0; i < nq; ++i) {
        const double g = __bfloat162float(got[i]), w = __bfloat162float(want[i]);
        nan += std::isnan(g) ? 1 : 0;
        diff += (g - w) * (g - w);
        norm += w * w;
      }
      CHECK(nan == 0);
      CHECK(std::sqrt(diff / std::max(norm, 1e-30)) <= test::tolerance<element>());
      return got;
    };
    const auto eager_a = eager(a_q, a_k, want_a), eager_b = eager(b_q, b_k, want_b);

    // Captured: the grid is less than the ranks, and replays give the eager bits.
    load(a_q, a_k);
    cudaGraph_t graph = nullptr;
    VARATTN_CUDA_CHECK(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeGlobal));
    varattn::build_on_device(plan, q_span, k_span, s.stream);
    varattn::forward<element>(plan, qv, kv, vv, ov, s.stream);
    VARATTN_CUDA_CHECK(cudaStreamEndCapture(s.stream, &graph));
    const forward_node node = forward_node_of(graph);
    CHECK(int64_t{node.grid} < int64_t{plan.device().capacity} * heads_q);
    CHECK(node.strided_groups == heads_q);
    cudaGraphExec_t exec = nullptr;
    VARATTN_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    for (const bool first : {true, false, true}) {
      CAPTURE(first);
      first ? load(a_q, a_k) : load(b_q, b_k);
      poison();
      VARATTN_CUDA_CHECK(cudaGraphLaunch(exec, s.stream));
      const std::vector<element> got = result();
      plan.check_device_build(s.stream);
      const std::vector<element>& want = first ? eager_a : eager_b;
      CHECK(std::memcmp(got.data(), want.data(), nq * sizeof(element)) == 0);
    }
    VARATTN_CUDA_CHECK(cudaGraphExecDestroy(exec));
    VARATTN_CUDA_CHECK(cudaGraphDestroy(graph));
  }
}

// Against the double-precision reference, every launch policy (the device-built one strides):
// groups of short segments, segments without keys, causal, the logsumexp. Small enough for
// racecheck (`-tc='short-tile strided*'`).
TEST_CASE("short-tile strided grid: groups, keyless tiles and the logsumexp") {
  const short_table t = short_segments(600, 93);
  for (const short_case c : kShortCases) {
    if (!test::instantiated(c.head_dim)) continue;
    CAPTURE(test::family_name(c.family));
    CAPTURE(c.head_dim);
    test::problem pr;  // 4 query heads on 2 kv heads
    pr.lengths_q = t.q;
    pr.lengths_k = t.k;
    pr.head_dim = c.head_dim;
    pr.options.kernel = c.family;
    pr.options.causal = true;
    pr.with_lse = true;
    pr.device_max_q_length = 40;
    test::check<__nv_bfloat16>(pr, {94}, false);
  }
}

// A rejected table through the capped grid: each CTA fills its stride of the list's entries,
// so every row of o and of the logsumexp must be NaN, and the report names the entry.
TEST_CASE("short-tile strided grid: rejected offsets fill every o and logsumexp element with "
          "NaN") {
  const int32_t segments = 3000, rows = 60000, heads = 4;
  for (const short_case c : kShortCases) {
    const int32_t d = c.head_dim;
    if (!test::instantiated(d)) continue;
    CAPTURE(test::family_name(c.family));
    CAPTURE(d);
    test::stream_guard s;
    varattn::attention_options options;
    options.kernel = c.family;
    auto plan = varattn::plan::reserve_on_device(segments, rows, rows, {heads, heads, d}, options,
                                                 /*max_q_length=*/64);
    REQUIRE(plan.kernel().tile.block_m == 64);
    std::mt19937_64 rng(9);
    const std::size_t n = std::size_t(rows) * heads * d;
    const thrust::device_vector<__nv_bfloat16> x(test::random_elements<__nv_bfloat16>(n, rng));
    thrust::device_vector<__nv_bfloat16> o(n);
    thrust::device_vector<float> lse(std::size_t(rows) * heads);
    using const_view = varattn::packed_view<const __nv_bfloat16>;
    const auto xv = const_view::contiguous(thrust::raw_pointer_cast(x.data()), rows, heads, d);
    const auto ov = varattn::packed_view<__nv_bfloat16>::contiguous(
        thrust::raw_pointer_cast(o.data()), rows, heads, d);
    std::vector<int32_t> offsets(segments + 1);
    for (int32_t i = 0; i <= segments; ++i) offsets[i] = i * (rows / segments);
    std::swap(offsets[10], offsets[11]);  // cu_seqlens_q decreases at 11
    const std::string message = "cu_seqlens_q[11] = " + std::to_string(offsets[11]) +
                                " < cu_seqlens_q[10] = " + std::to_string(offsets[10]);
    const thrust::device_vector<int32_t> cu(offsets);
    varattn::build_on_device(plan, {thrust::raw_pointer_cast(cu.data()), cu.size()},
                             {thrust::raw_pointer_cast(cu.data()), cu.size()}, s.stream);
    VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(o.data()), 0, n * 2, s.stream));
    VARATTN_CUDA_CHECK(
        cudaMemsetAsync(thrust::raw_pointer_cast(lse.data()), 0, lse.size() * 4, s.stream));
    varattn::forward<__nv_bfloat16>(plan, xv, xv, xv, ov,
                                    varattn::logsumexp_view{thrust::raw_pointer_cast(lse.data()), rows},
                                    s.stream);
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    const thrust::host_vector<__nv_bfloat16> out(o);
    int64_t nan = 0;
    for (const __nv_bfloat16 h : out) nan += std::isnan(__bfloat162float(h)) ? 1 : 0;
    CHECK(nan == static_cast<int64_t>(n));
    const thrust::host_vector<float> lse_out(lse);
    int64_t lse_nan = 0;
    for (const float f : lse_out) lse_nan += std::isnan(f) ? 1 : 0;
    CHECK(lse_nan == static_cast<int64_t>(lse_out.size()));
    CHECK_THROWS_WITH_AS(plan.raise_device_error(),
                         ("device offsets rejected (every output element of that forward is NaN): " +
                          message).c_str(),
                         varattn::error);
  }
}
