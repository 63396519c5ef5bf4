// Run never waits on the host: a multi-layer forward captured in global mode (which any
// synchronization would invalidate) replays to the same bits as direct runs.
#include <algorithm>
#include <vector>

#include "harness.cuh"

TEST_CASE("a plan reused by several layers replays from a CUDA graph bit for bit") {
  using element = __nv_bfloat16;
  using view = varattn::packed_view<element>;
  constexpr int kLayers = 4;
  const auto segs = varattn::segments::from_lengths({64, 1, 130, 0, 77, 256, 3});
  for (const bool causal : {false, true}) {
    CAPTURE(causal);
    varattn::attention_options options;
    options.causal = causal;
    const int32_t heads = 4, d = 80, rows = segs.total();
    const auto plan = varattn::plan::make(segs, segs, {heads, heads, d}, options,
                                          varattn::launch_policy::per_segment);
    const std::size_t n = std::size_t(rows) * heads * d;

    std::mt19937_64 rng(causal ? 41 : 42);
    std::vector<thrust::device_vector<element>> q, k, v, out;
    for (int l = 0; l < kLayers; ++l) {
      q.emplace_back(test::random_elements<element>(n, rng));
      k.emplace_back(test::random_elements<element>(n, rng));
      v.emplace_back(test::random_elements<element>(n, rng));
      out.emplace_back(n);
    }
    const auto at = [&](thrust::device_vector<element>& x) {
      return view::contiguous(thrust::raw_pointer_cast(x.data()), rows, heads, d);
    };
    test::stream_guard s;
    const auto forward_all = [&] {
      for (int l = 0; l < kLayers; ++l) {
        varattn::forward<element>(plan, at(q[l]), at(k[l]), at(v[l]), at(out[l]), s.stream);
      }
    };

    forward_all();  // direct
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    std::vector<std::vector<element>> direct;
    for (auto& o : out) direct.emplace_back(o.size());
    for (int l = 0; l < kLayers; ++l) {
      thrust::copy(out[l].begin(), out[l].end(), direct[l].begin());
    }

    cudaGraph_t graph = nullptr;
    VARATTN_CUDA_CHECK(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeGlobal));
    forward_all();
    VARATTN_CUDA_CHECK(cudaStreamEndCapture(s.stream, &graph));
    REQUIRE(graph != nullptr);
    size_t nodes = 0;
    VARATTN_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &nodes));
    CHECK(nodes == kLayers * plan.launches().size());
    cudaGraphExec_t exec = nullptr;
    VARATTN_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));

    for (auto& o : out) {
      VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(o.data()), test::kPoison,
                                         o.size() * sizeof(element), s.stream));
    }
    VARATTN_CUDA_CHECK(cudaGraphLaunch(exec, s.stream));
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    for (int l = 0; l < kLayers; ++l) {
      std::vector<element> replayed(n);
      thrust::copy(out[l].begin(), out[l].end(), replayed.begin());
      CHECK(std::memcmp(replayed.data(), direct[l].data(), n * sizeof(element)) == 0);
    }
    VARATTN_CUDA_CHECK(cudaGraphExecDestroy(exec));
    VARATTN_CUDA_CHECK(cudaGraphDestroy(graph));
  }
}

TEST_CASE("plan building on the device and all layers replay from one graph as offsets change") {
  using element = __half;
  using view = varattn::packed_view<element>;
  constexpr int kLayers = 3;
  // Two tables with the same count and total: the graph is captured once, on the first.
  const std::vector<int32_t> first = {64, 1, 130, 0, 77, 256, 3};
  const std::vector<int32_t> second = {3, 256, 0, 77, 130, 1, 64};
  const int32_t heads = 2, d = 128;
  for (const bool causal : {false, true}) {
    CAPTURE(causal);
    varattn::attention_options options;
    options.causal = causal;
    const auto segs_a = varattn::segments::from_lengths(first);
    const auto segs_b = varattn::segments::from_lengths(second);
    const int32_t rows = segs_a.total();
    const std::size_t n = std::size_t(rows) * heads * d;
    std::mt19937_64 rng(causal ? 51 : 52);
    std::vector<thrust::device_vector<element>> q, k, v, out;
    for (int l = 0; l < kLayers; ++l) {
      q.emplace_back(test::random_elements<element>(n, rng));
      k.emplace_back(test::random_elements<element>(n, rng));
      v.emplace_back(test::random_elements<element>(n, rng));
      out.emplace_back(n);
    }
    const auto at = [&](thrust::device_vector<element>& x) {
      return view::contiguous(thrust::raw_pointer_cast(x.data()), rows, heads, d);
    };
    test::stream_guard s;
    // What each layer must produce, from host-built fused plans.
    const auto expected = [&](const varattn::segments& segs) {
      const auto p = varattn::plan::make(segs, segs, {heads, heads, d}, options,
                                         varattn::launch_policy::fused, s.stream);
      std::vector<std::vector<element>> result;
      for (int l = 0; l < kLayers; ++l) {
        varattn::forward<element>(p, at(q[l]), at(k[l]), at(v[l]), at(out[l]), s.stream);
        VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
        result.emplace_back(n);
        thrust::copy(out[l].begin(), out[l].end(), result.back().begin());
      }
      return result;
    };
    const auto want_a = expected(segs_a);
    const auto want_b = expected(segs_b);

    const auto plan = varattn::plan::reserve_on_device(static_cast<int32_t>(first.size()), rows,
                                                       rows, {heads, heads, d}, options);
    thrust::device_vector<int32_t> cu(segs_a.offsets());
    const varattn::device_span<const int32_t> cu_span{thrust::raw_pointer_cast(cu.data()),
                                                      cu.size()};
    cudaGraph_t graph = nullptr;
    VARATTN_CUDA_CHECK(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeGlobal));
    varattn::build_on_device(plan, cu_span, cu_span, s.stream);
    for (int l = 0; l < kLayers; ++l) {
      varattn::forward<element>(plan, at(q[l]), at(k[l]), at(v[l]), at(out[l]), s.stream);
    }
    VARATTN_CUDA_CHECK(cudaStreamEndCapture(s.stream, &graph));
    size_t nodes = 0;
    VARATTN_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &nodes));
    CHECK(nodes == 1 + kLayers);
    cudaGraphExec_t exec = nullptr;
    VARATTN_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));

    for (const auto* table : {&segs_a, &segs_b}) {
      const auto& want = table == &segs_a ? want_a : want_b;
      thrust::copy(table->offsets().begin(), table->offsets().end(), cu.begin());
      for (auto& o : out) {
        VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(o.data()), test::kPoison,
                                           o.size() * sizeof(element), s.stream));
      }
      VARATTN_CUDA_CHECK(cudaGraphLaunch(exec, s.stream));
      plan.check_device_build(s.stream);
      for (int l = 0; l < kLayers; ++l) {
        std::vector<element> replayed(n);
        thrust::copy(out[l].begin(), out[l].end(), replayed.begin());
        CHECK(std::memcmp(replayed.data(), want[l].data(), n * sizeof(element)) == 0);
      }
    }
    VARATTN_CUDA_CHECK(cudaGraphExecDestroy(exec));
    VARATTN_CUDA_CHECK(cudaGraphDestroy(graph));
  }
}

TEST_CASE("invalid device offsets make build_on_device report, and the forward write nothing") {
  const auto plan = varattn::plan::reserve_on_device(2, 4, 4, {1, 1, 64});
  test::stream_guard s;
  thrust::device_vector<int32_t> cu(std::vector<int32_t>{0, 7, 4});
  const varattn::device_span<const int32_t> span{thrust::raw_pointer_cast(cu.data()), 3};
  CHECK_THROWS_WITH_AS(plan.check_device_build(s.stream),
                       "device cu_seqlens rejected by build_on_device: build_on_device was not "
                       "called",
                       varattn::error);
  varattn::build_on_device(plan, span, span, s.stream);
  CHECK_THROWS_WITH_AS(plan.check_device_build(s.stream),
                       "device cu_seqlens rejected by build_on_device: cu_seqlens_q or "
                       "cu_seqlens_k decreases",
                       varattn::error);
  thrust::device_vector<__half> x(4 * 64), o(4 * 64);
  VARATTN_CUDA_CHECK(cudaMemset(thrust::raw_pointer_cast(o.data()), test::kPoison, 4 * 64 * 2));
  const auto xv =
      varattn::packed_view<__half>::contiguous(thrust::raw_pointer_cast(x.data()), 4, 1, 64);
  const auto ov =
      varattn::packed_view<__half>::contiguous(thrust::raw_pointer_cast(o.data()), 4, 1, 64);
  varattn::forward<__half>(plan, xv, xv, xv, ov, s.stream);
  VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
  std::vector<unsigned char> bytes(4 * 64 * 2);
  VARATTN_CUDA_CHECK(cudaMemcpy(bytes.data(), thrust::raw_pointer_cast(o.data()), bytes.size(),
                                cudaMemcpyDeviceToHost));
  CHECK(std::count(bytes.begin(), bytes.end(), test::kPoison) == static_cast<long>(bytes.size()));
  CHECK_THROWS_WITH_AS(varattn::build_on_device(plan, {span.data, 2}, span, s.stream),
                       "cu_seqlens_q has 2 offsets, the plan expects 3", varattn::error);
  thrust::device_vector<int32_t> short_total(std::vector<int32_t>{0, 1, 3});
  const varattn::device_span<const int32_t> short_span{thrust::raw_pointer_cast(short_total.data()),
                                                       3};
  varattn::build_on_device(plan, short_span, short_span, s.stream);
  CHECK_THROWS_WITH_AS(plan.check_device_build(s.stream),
                       "device cu_seqlens rejected by build_on_device: the last offset differs "
                       "from rows_q or rows_k",
                       varattn::error);
  thrust::device_vector<int32_t> good(std::vector<int32_t>{0, 1, 4});
  const varattn::device_span<const int32_t> good_span{thrust::raw_pointer_cast(good.data()), 3};
  varattn::build_on_device(plan, good_span, good_span, s.stream);
  CHECK_NOTHROW(plan.check_device_build(s.stream));
}
