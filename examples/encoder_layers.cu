// SPDX-License-Identifier: Apache-2.0
// Encoder layers: the attention of a 32-layer windowed vision encoder, 256 windows of 64
// tokens, 16 heads, head dim 80. One read of cu_seqlens and one plan serve all 32 layers;
// the forwards go back to back on one stream and the host waits for nothing in between.
//
//   build/examples/encoder_layers
//
// Each layer reads q, k and v as strided views of its own fused qkv projection
// [tokens, 3, heads, head_dim], the layout a single qkv linear layer produces.

#include <varattn/varattn.hpp>

#include "example_common.cuh"

#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/sequence.h>
#include <thrust/tabulate.h>

#include <cuda_bf16.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <vector>

using example::element;
using example::has_cuda_device;
using example::random_element;

int main() try {
  if (!has_cuda_device()) {
    std::puts("no CUDA device found");
    return 0;
  }

  constexpr int kLayers = 32;
  constexpr int32_t kWindows = 256;
  constexpr int32_t kWindowTokens = 64;
  const varattn::attention_shape shape{/*heads_q=*/16, /*heads_kv=*/16, /*head_dim=*/80};
  const int64_t width = int64_t{shape.heads_q} * shape.head_dim;  // one of q, k, v per token

  cudaStream_t stream = nullptr;
  VARATTN_CUDA_CHECK(cudaStreamCreate(&stream));

  // The windowing step of the model leaves cu_seqlens = [0, 64, 128, ...] on the device.
  thrust::device_vector<int32_t> cu_seqlens(kWindows + 1);
  thrust::sequence(thrust::cuda::par.on(stream), cu_seqlens.begin(), cu_seqlens.end(), 0,
                   kWindowTokens);

  // The only host wait of the batch; the plan is then shared by every layer.
  varattn::segment_reader reader;
  const varattn::segments segs = reader.read_and_wait(
      {thrust::raw_pointer_cast(cu_seqlens.data()), cu_seqlens.size()}, stream);
  // fused: one launch per layer covers all 256 windows (per_segment would make 256).
  const varattn::plan plan =
      varattn::plan::make(segs, segs, shape, {}, varattn::launch_policy::fused, stream);
  const int host_waits = 1;

  const int64_t tokens = segs.total();
  std::vector<thrust::device_vector<element>> qkv(kLayers);
  for (int layer = 0; layer < kLayers; ++layer) {
    qkv[layer].resize(std::size_t(tokens * 3 * width));
    thrust::tabulate(thrust::cuda::par.on(stream), qkv[layer].begin(), qkv[layer].end(),
                     random_element{uint32_t(layer)});
  }
  thrust::device_vector<element> o(std::size_t(tokens * width));
  const auto o_view = varattn::packed_view<element>::contiguous(
      thrust::raw_pointer_cast(o.data()), tokens, shape.heads_q, shape.head_dim);

  // q, k, v of one layer: rows 3 * width apart, heads head_dim apart, inside one buffer.
  struct layer_inputs {
    varattn::packed_view<const element> q, k, v;
  };
  auto inputs_of = [&](int layer) {
    const element* base = thrust::raw_pointer_cast(qkv[layer].data());
    auto slice = [&](int64_t offset) {
      auto view = varattn::packed_view<const element>::contiguous(base + offset, tokens,
                                                                  shape.heads_q, shape.head_dim);
      view.token_stride = 3 * width;  // skip the other two of q, k, v
      return view;
    };
    return layer_inputs{slice(0), slice(width), slice(2 * width)};
  };

  // First call per kernel configures its shared memory; keep it out of the timing.
  const layer_inputs first = inputs_of(0);
  varattn::forward<element>(plan, first.q, first.k, first.v, o_view, stream);

  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  VARATTN_CUDA_CHECK(cudaEventCreate(&start));
  VARATTN_CUDA_CHECK(cudaEventCreate(&stop));
  VARATTN_CUDA_CHECK(cudaEventRecord(start, stream));
  for (int layer = 0; layer < kLayers; ++layer) {
    const layer_inputs in = inputs_of(layer);
    varattn::forward<element>(plan, in.q, in.k, in.v, o_view, stream);
  }
  VARATTN_CUDA_CHECK(cudaEventRecord(stop, stream));
  // One sync at the end of the batch, to read the timer.
  VARATTN_CUDA_CHECK(cudaEventSynchronize(stop));
  float elapsed_ms = 0;
  VARATTN_CUDA_CHECK(cudaEventElapsedTime(&elapsed_ms, start, stop));

  std::printf("%d layers, %d windows of %d tokens, heads %d, head_dim %d\n", kLayers, kWindows,
              kWindowTokens, shape.heads_q, shape.head_dim);
  std::printf("attention: %.3f ms per layer\n", elapsed_ms / kLayers);
  std::printf("host waits: %d (one read of cu_seqlens for all %d layers)\n", host_waits, kLayers);

  VARATTN_CUDA_CHECK(cudaEventDestroy(start));
  VARATTN_CUDA_CHECK(cudaEventDestroy(stop));
  VARATTN_CUDA_CHECK(cudaStreamDestroy(stream));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "encoder_layers: %s\n", e.what());
  return 1;
}
