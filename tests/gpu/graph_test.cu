// Run never waits on the host: a multi-layer forward captured in global mode (which any
// synchronization would invalidate) replays to the same bits as direct runs.
#include "harness.cuh"

#include <vector>

namespace {

struct stream_guard {
  cudaStream_t stream = nullptr;
  stream_guard() { VARATTN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)); }
  ~stream_guard() { cudaStreamDestroy(stream); }
};

}  // namespace

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
    const auto plan = varattn::plan::make(segs, segs, {heads, heads, d}, options);
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
    stream_guard s;
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
