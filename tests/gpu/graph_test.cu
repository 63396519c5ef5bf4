// SPDX-License-Identifier: Apache-2.0
// Run never waits on the host: a multi-layer forward captured in global mode (which any
// synchronization would invalidate) replays to the same bits as direct runs; so does a
// training step (device-built plan, forwards with the logsumexp, then backwards).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "harness.cuh"

TEST_CASE("a plan reused by several layers replays from a CUDA graph bit for bit") {
  if (!test::instantiated(80)) return;
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
  if (!test::instantiated(128)) return;
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

    auto plan = varattn::plan::reserve_on_device(static_cast<int32_t>(first.size()), rows,
                                                       rows, {heads, heads, d}, options);
    thrust::device_vector<int32_t> cu(segs_a.offsets());
    const varattn::device_span<const int32_t> cu_span{thrust::raw_pointer_cast(cu.data()),
                                                      cu.size()};
    // The captured layers run the persistent grid (a tile counter): the same bits as one CTA
    // a tile (`expected`), and the counter back at zero after every replay.
    thrust::device_vector<unsigned> counter(varattn::kForwardScratchBytes / sizeof(unsigned), 0u);
    const varattn::forward_scratch scratch{thrust::raw_pointer_cast(counter.data())};
    cudaGraph_t graph = nullptr;
    VARATTN_CUDA_CHECK(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeGlobal));
    varattn::build_on_device(plan, cu_span, cu_span, s.stream);
    for (int l = 0; l < kLayers; ++l) {
      varattn::forward<element>(plan, at(q[l]), at(k[l]), at(v[l]), at(out[l]),
                                varattn::logsumexp_view{}, s.stream, scratch);
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
      for (const unsigned c : thrust::host_vector<unsigned>(counter)) CHECK(c == 0u);
    }
    VARATTN_CUDA_CHECK(cudaGraphExecDestroy(exec));
    VARATTN_CUDA_CHECK(cudaGraphDestroy(graph));
  }
}

TEST_CASE("invalid device offsets turn every output element into NaN and are reported by name") {
  if (!test::instantiated(64)) return;
  const int32_t heads = 2, d = 64;
  test::stream_guard s;
  // rows_q = rows_k = 100 over three segments, as the PyTorch op saw them.
  auto plan = varattn::plan::reserve_on_device(3, 100, 100, {heads, heads, d});
  CHECK_THROWS_WITH_AS(plan.check_device_build(s.stream),
                       "check_device_build: build_on_device was not called on this plan",
                       varattn::error);
  std::mt19937_64 rng(7);
  const std::size_t n = 100 * heads * d;
  const thrust::device_vector<__half> x(test::random_elements<__half>(n, rng));
  thrust::device_vector<__half> o(n);
  const auto xv = varattn::packed_view<const __half>::contiguous(thrust::raw_pointer_cast(x.data()),
                                                                 100, heads, d);
  const auto ov =
      varattn::packed_view<__half>::contiguous(thrust::raw_pointer_cast(o.data()), 100, heads, d);
  CHECK_THROWS_WITH_AS(varattn::forward<__half>(plan, xv, xv, xv, ov, s.stream),
                       "forward: the plan was reserved on the device but build_on_device was "
                       "never called on it",
                       varattn::error);
  const std::vector<int32_t> good{0, 30, 70, 100};
  struct bad_case {
    std::vector<int32_t> q, k;
    const char* message;
  };
  const bad_case cases[] = {
      {{0, 70, 30, 100}, good, "cu_seqlens_q[2] = 30 < cu_seqlens_q[1] = 70"},
      {{0, 50, 60, 1000000}, good, "cu_seqlens_q[3] = 1000000 != rows_q = 100 (the rows of q)"},
      {{0, -20, 50, 100}, good, "cu_seqlens_q[1] = -20 < cu_seqlens_q[0] = 0"},
      {{5, 30, 70, 100}, good, "cu_seqlens_q[0] = 5 != 0"},
      {good, {0, 30, 20, 100}, "cu_seqlens_k[2] = 20 < cu_seqlens_k[1] = 30"},
      {good, {0, 30, 70, 99}, "cu_seqlens_k[3] = 99 != rows_k = 100 (the rows of k and v)"},
  };
  const auto run = [&](const std::vector<int32_t>& q_offsets, const std::vector<int32_t>& k_offsets) {
    thrust::device_vector<int32_t> cu_q(q_offsets), cu_k(k_offsets);
    VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(o.data()), 0, n * 2, s.stream));
    varattn::build_on_device(plan, {thrust::raw_pointer_cast(cu_q.data()), cu_q.size()},
                             {thrust::raw_pointer_cast(cu_k.data()), cu_k.size()}, s.stream);
    varattn::forward<__half>(plan, xv, xv, xv, ov, s.stream);
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));  // cu_q / cu_k die after this
    std::vector<__half> out(n);
    thrust::copy(o.begin(), o.end(), out.begin());
    return out;
  };
  for (const bad_case& c : cases) {
    CAPTURE(c.message);
    const std::vector<__half> out = run(c.q, c.k);
    int64_t nan = 0;
    for (const __half h : out) nan += std::isnan(__half2float(h)) ? 1 : 0;
    CHECK(nan == static_cast<int64_t>(n));  // every element, written on the device
    // Reported without a wait (the run above synchronized only to read o).
    CHECK_THROWS_WITH_AS(plan.raise_device_error(),
                         (std::string("device offsets rejected (every output element of that "
                                      "forward is NaN): ") + c.message).c_str(),
                         varattn::error);
    CHECK_NOTHROW(plan.raise_device_error());  // taken: reported once
  }
  // Two bad builds in a row: the first failure is kept until taken.
  run(cases[0].q, cases[0].k);
  run(cases[3].q, cases[3].k);
  CHECK_THROWS_WITH_AS(plan.check_device_build(s.stream),
                       "device offsets rejected (every output element of that forward is NaN): "
                       "cu_seqlens_q[2] = 30 < cu_seqlens_q[1] = 70",
                       varattn::error);
  // Valid offsets afterwards: finite output, nothing reported.
  const std::vector<__half> out = run(good, good);
  int64_t finite = 0;
  for (const __half h : out) finite += std::isfinite(__half2float(h)) ? 1 : 0;
  CHECK(finite == static_cast<int64_t>(n));
  CHECK_NOTHROW(plan.check_device_build(s.stream));
  // The host sees what needs no device data.
  CHECK_THROWS_WITH_AS(varattn::plan::reserve_on_device(0, 100, 100, {heads, heads, d}),
                       "segment_count = 0 cannot cover rows_q = 100 and rows_k = 100 "
                       "(cu_seqlens = [0] describes empty q, k and v)",
                       varattn::error);
  thrust::device_vector<int32_t> two(std::vector<int32_t>{0, 100});
  CHECK_THROWS_WITH_AS(varattn::build_on_device(plan, {thrust::raw_pointer_cast(two.data()), 2},
                                                {thrust::raw_pointer_cast(two.data()), 2}, s.stream),
                       "cu_seqlens_q has 2 offsets, the plan expects 4", varattn::error);
}

// The persistent grid (a tile counter) on rejected offsets: more entries than SMs, so each CTA
// fills several entries' rows with NaN; no CTA touches the counter, which stays zero. And a
// scratch inside the plan's own device buffer is rejected on the host.
TEST_CASE("persistent grid: rejected offsets fill every row with NaN, the counter untouched") {
  const int32_t segments = 300, rows = 40000, heads = 4, d = 128;
  test::stream_guard s;
  if (!test::instantiated(d)) return;
  // On Hopper the plan takes the sm90 kernel (tall tiles); elsewhere the sm80 kernel, which
  // ignores the scratch: the NaN fill and the untouched counter hold for both.
  auto plan = varattn::plan::reserve_on_device(segments, rows, rows, {heads, heads, d});
  std::mt19937_64 rng(8);
  const std::size_t n = std::size_t(rows) * heads * d;
  const thrust::device_vector<__nv_bfloat16> x(test::random_elements<__nv_bfloat16>(n, rng));
  thrust::device_vector<__nv_bfloat16> o(n);
  using const_view = varattn::packed_view<const __nv_bfloat16>;
  const auto xv = const_view::contiguous(thrust::raw_pointer_cast(x.data()), rows, heads, d);
  const auto ov = varattn::packed_view<__nv_bfloat16>::contiguous(
      thrust::raw_pointer_cast(o.data()), rows, heads, d);
  std::vector<int32_t> offsets(segments + 1);
  for (int32_t i = 0; i <= segments; ++i) {
    offsets[i] = static_cast<int32_t>(int64_t{i} * rows / segments);
  }
  std::swap(offsets[10], offsets[11]);  // cu_seqlens_q decreases at 11
  const std::string message = "cu_seqlens_q[11] = " + std::to_string(offsets[11]) +
                              " < cu_seqlens_q[10] = " + std::to_string(offsets[10]);
  const thrust::device_vector<int32_t> cu(offsets);
  thrust::device_vector<unsigned> counter(varattn::kForwardScratchBytes / sizeof(unsigned), 0u);
  const varattn::forward_scratch scratch{thrust::raw_pointer_cast(counter.data())};
  varattn::build_on_device(plan, {thrust::raw_pointer_cast(cu.data()), cu.size()},
                           {thrust::raw_pointer_cast(cu.data()), cu.size()}, s.stream);
  VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(o.data()), 0, n * 2, s.stream));
  varattn::forward<__nv_bfloat16>(plan, xv, xv, xv, ov, s.stream, scratch);
  VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
  std::vector<__nv_bfloat16> out(n);
  thrust::copy(o.begin(), o.end(), out.begin());
  int64_t nan = 0;
  for (const __nv_bfloat16 h : out) nan += std::isnan(__bfloat162float(h)) ? 1 : 0;
  CHECK(nan == static_cast<int64_t>(n));
  for (const unsigned c : thrust::host_vector<unsigned>(counter)) CHECK(c == 0u);
  CHECK_THROWS_WITH_AS(plan.raise_device_error(),
                       ("device offsets rejected (every output element of that forward is NaN): " +
                        message).c_str(),
                       varattn::error);
  // A scratch in the plan's own buffer (its item list) is caught before any launch.
  void* inside = const_cast<varattn::work_item*>(plan.device().items) + 3;
  const auto base = reinterpret_cast<std::uintptr_t>(plan.device().count);
  std::ostringstream expected;
  expected << "scratch overlaps the plan's device buffer: scratch spans bytes [" << inside << ", "
           << static_cast<void*>(static_cast<char*>(inside) + 7)
           << "] and the plan's device buffer ["
           << reinterpret_cast<void*>(base) << ", "
           << reinterpret_cast<void*>(base + plan.device_bytes() - 1)
           << "]; the scratch must not share memory with q, k, v, o, lse or the plan";
  CHECK_THROWS_WITH_AS(
      varattn::forward<__nv_bfloat16>(plan, xv, xv, xv, ov, s.stream, {inside}),
      expected.str().c_str(), varattn::error);
}

// A training step's attention as one graph: the plan built on the device from device
// cu_seqlens, every layer's forward writing o and the logsumexp (each layer its own, as a
// training step keeps them), then the layers' backwards in reverse order sharing one workspace
// (they run in order on one stream). Captured in global mode, where any host synchronization
// or allocation invalidates the capture: the capture succeeding is the zero-host-sync check.
// Every output is NaN-poisoned before each run; the replays must give the eager run's bits
// (o, the logsumexp, dk and dv always: fixed summation order; dq with backward_options
// deterministic) or, dq on the default atomic path, come within 1e-3 relative L2 of it.
TEST_CASE("graph: a training step (plan built on the device, forward with lse then backward, "
          "several layers) replays in one graph and matches eager") {
  using element = __nv_bfloat16;
  using view = varattn::packed_view<element>;
  using const_view = varattn::packed_view<const element>;
  constexpr int kLayers = 3;
  constexpr int kReplays = 2;
  const int32_t heads_q = 4, heads_kv = 2, d = 64;
  if (!test::instantiated(d)) return;
  const auto segs = varattn::segments::from_lengths({1, 17, 0, 80, 130});
  const int32_t rows = segs.total();
  const std::size_t nq = std::size_t(rows) * heads_q * d, nk = std::size_t(rows) * heads_kv * d;
  const std::size_t n_lse = std::size_t(rows) * heads_q;
  varattn::attention_options options;
  options.causal = true;

  struct layer_buffers {
    thrust::device_vector<element> q, k, v, d_o, o, d_q, d_k, d_v;
    thrust::device_vector<float> lse;
  };
  std::mt19937_64 rng(61);
  std::vector<layer_buffers> layers(kLayers);
  for (layer_buffers& b : layers) {
    b.q = test::random_elements<element>(nq, rng);
    b.k = test::random_elements<element>(nk, rng);
    b.v = test::random_elements<element>(nk, rng);
    b.d_o = test::random_elements<element>(nq, rng);
    b.o.resize(nq);
    b.d_q.resize(nq);
    b.d_k.resize(nk);
    b.d_v.resize(nk);
    b.lse.resize(n_lse);
  }
  const auto in = [&](const thrust::device_vector<element>& x, int32_t heads) {
    return const_view::contiguous(thrust::raw_pointer_cast(x.data()), rows, heads, d);
  };
  const auto out = [&](thrust::device_vector<element>& x, int32_t heads) {
    return view::contiguous(thrust::raw_pointer_cast(x.data()), rows, heads, d);
  };
  const auto lse_of = [&](thrust::device_vector<float>& x) {
    return varattn::logsumexp_view{thrust::raw_pointer_cast(x.data()), rows};
  };

  test::stream_guard s;
  auto plan = varattn::plan::reserve_on_device(static_cast<int32_t>(segs.size()), rows, rows,
                                               {heads_q, heads_kv, d}, options);
  const thrust::device_vector<int32_t> cu(segs.offsets());
  const varattn::device_span<const int32_t> cu_span{thrust::raw_pointer_cast(cu.data()),
                                                    cu.size()};

  for (const bool deterministic : {false, true}) {
    CAPTURE(deterministic);
    varattn::backward_options backward_options;
    backward_options.deterministic = deterministic;
    const std::size_t workspace_bytes = varattn::backward_workspace_bytes(plan, backward_options);
    thrust::device_vector<uint4> workspace(std::max<std::size_t>((workspace_bytes + 15) / 16, 1));
    void* const workspace_ptr = thrust::raw_pointer_cast(workspace.data());

    const auto step = [&] {
      varattn::build_on_device(plan, cu_span, cu_span, s.stream);
      for (layer_buffers& b : layers) {
        varattn::forward<element>(plan, in(b.q, heads_q), in(b.k, heads_kv), in(b.v, heads_kv),
                                  out(b.o, heads_q), lse_of(b.lse), s.stream);
      }
      for (int l = kLayers - 1; l >= 0; --l) {
        layer_buffers& b = layers[std::size_t(l)];
        varattn::backward<element>(
            plan, in(b.q, heads_q), in(b.k, heads_kv), in(b.v, heads_kv), in(b.o, heads_q),
            in(b.d_o, heads_q), lse_of(b.lse), out(b.d_q, heads_q), out(b.d_k, heads_kv),
            out(b.d_v, heads_kv), workspace_ptr, workspace_bytes, s.stream, backward_options);
      }
    };
    const auto poison = [&] {
      const auto fill = [&](auto& x) {
        using value = typename std::decay_t<decltype(x)>::value_type;
        VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(x.data()), test::kPoison,
                                           x.size() * sizeof(value), s.stream));
      };
      for (layer_buffers& b : layers) {
        fill(b.o);
        fill(b.lse);
        fill(b.d_q);
        fill(b.d_k);
        fill(b.d_v);
      }
      fill(workspace);
    };
    // Per layer: o, dq, dk, dv, then the logsumexp, read back after the run.
    struct results {
      std::vector<std::vector<element>> tensors;
      std::vector<std::vector<float>> lse;
    };
    const auto read = [&] {
      plan.check_device_build(s.stream);  // waits for the run, reports rejected offsets
      results r;
      for (layer_buffers& b : layers) {
        for (const auto* x : {&b.o, &b.d_q, &b.d_k, &b.d_v}) {
          r.tensors.emplace_back(x->size());
          thrust::copy(x->begin(), x->end(), r.tensors.back().begin());
        }
        r.lse.emplace_back(b.lse.size());
        thrust::copy(b.lse.begin(), b.lse.end(), r.lse.back().begin());
      }
      return r;
    };

    poison();
    step();  // eager
    const results eager = read();
    // Every element written and finite (each query row sees a key: causal, len_q = len_k).
    for (const auto& t : eager.tensors) {
      int64_t finite = 0;
      for (const element x : t) finite += std::isfinite(__bfloat162float(x)) ? 1 : 0;
      CHECK(finite == static_cast<int64_t>(t.size()));
    }
    for (const auto& t : eager.lse) {
      int64_t finite = 0;
      for (const float x : t) finite += std::isfinite(x) ? 1 : 0;
      CHECK(finite == static_cast<int64_t>(t.size()));
    }

    cudaGraph_t graph = nullptr;
    VARATTN_CUDA_CHECK(cudaStreamBeginCapture(s.stream, cudaStreamCaptureModeGlobal));
    step();
    REQUIRE(cudaStreamEndCapture(s.stream, &graph) == cudaSuccess);  // no host sync inside
    REQUIRE(graph != nullptr);
    cudaGraphExec_t exec = nullptr;
    VARATTN_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));

    for (int replay = 0; replay < kReplays; ++replay) {
      CAPTURE(replay);
      poison();
      VARATTN_CUDA_CHECK(cudaGraphLaunch(exec, s.stream));
      const results got = read();
      for (std::size_t i = 0; i < got.tensors.size(); ++i) {
        const int layer = int(i / 4), which = int(i % 4);  // o, dq, dk, dv
        CAPTURE(layer);
        CAPTURE(which);
        const std::vector<element>& want = eager.tensors[i];
        const std::vector<element>& have = got.tensors[i];
        REQUIRE(have.size() == want.size());
        if (which == 1 && !deterministic) {  // dq through float32 atomics: order may differ
          double err2 = 0, ref2 = 0;
          int64_t finite = 0;
          for (std::size_t e = 0; e < want.size(); ++e) {
            const double x = __bfloat162float(have[e]), y = __bfloat162float(want[e]);
            finite += std::isfinite(x) ? 1 : 0;
            err2 += (x - y) * (x - y);
            ref2 += y * y;
          }
          CHECK(finite == static_cast<int64_t>(have.size()));
          CHECK(std::sqrt(err2) <= 1e-3 * std::sqrt(ref2));
        } else {
          CHECK(std::memcmp(have.data(), want.data(), have.size() * sizeof(element)) == 0);
        }
      }
      for (std::size_t l = 0; l < got.lse.size(); ++l) {
        CAPTURE(l);
        CHECK(std::memcmp(got.lse[l].data(), eager.lse[l].data(), n_lse * sizeof(float)) == 0);
      }
    }
    VARATTN_CUDA_CHECK(cudaGraphExecDestroy(exec));
    VARATTN_CUDA_CHECK(cudaGraphDestroy(graph));
  }
}
