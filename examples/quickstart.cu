// SPDX-License-Identifier: Apache-2.0
// Quick start: attention over packed variable-length sequences whose bounds live on the
// device, timed, and checked against varattn's host reference.
//
//   build/examples/quickstart
//
// Prints the time per forward and the relative L2 error; exits 1 if the error is too large.

#include <varattn/varattn.hpp>

#include "example_common.cuh"

#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/host_vector.h>
#include <thrust/scan.h>
#include <thrust/tabulate.h>

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <vector>

using example::element;
using example::has_cuda_device;
using example::random_tensor;

int main() try {
  if (!has_cuda_device()) {
    std::puts("no CUDA device found");
    return 0;
  }

  // Seven sequences of different lengths packed back to back; 8 query heads share 2 kv
  // heads (GQA); causal, so each token attends to the ones before it.
  const std::vector<int32_t> lengths = {1, 17, 64, 100, 129, 300, 512};
  const varattn::attention_shape shape{/*heads_q=*/8, /*heads_kv=*/2, /*head_dim=*/128};
  const varattn::attention_options options{/*causal=*/true};

  cudaStream_t stream = nullptr;
  VARATTN_CUDA_CHECK(cudaStreamCreate(&stream));

  // cu_seqlens = [0, 1, 18, 82, ...] computed on the device, as a model would have it.
  thrust::device_vector<int32_t> d_lengths(lengths.begin(), lengths.end());
  thrust::device_vector<int32_t> cu_seqlens(lengths.size() + 1, 0);
  thrust::inclusive_scan(thrust::cuda::par.on(stream), d_lengths.begin(), d_lengths.end(),
                         cu_seqlens.begin() + 1);

  // The one wait: copy the bounds to the host once, then plan the work once.
  varattn::segment_reader reader;
  const varattn::segments segs = reader.read_and_wait(
      {thrust::raw_pointer_cast(cu_seqlens.data()), cu_seqlens.size()}, stream);
  const varattn::plan plan = varattn::plan::make(segs, segs, shape, options);

  const int64_t total = segs.total();
  const auto q = random_tensor(std::size_t(total) * shape.heads_q * shape.head_dim, 1, stream);
  const auto k = random_tensor(std::size_t(total) * shape.heads_kv * shape.head_dim, 2, stream);
  const auto v = random_tensor(std::size_t(total) * shape.heads_kv * shape.head_dim, 3, stream);
  thrust::device_vector<element> o(q.size());

  using const_view = varattn::packed_view<const element>;
  const const_view q_view = const_view::contiguous(thrust::raw_pointer_cast(q.data()), total,
                                                   shape.heads_q, shape.head_dim);
  const const_view k_view = const_view::contiguous(thrust::raw_pointer_cast(k.data()), total,
                                                   shape.heads_kv, shape.head_dim);
  const const_view v_view = const_view::contiguous(thrust::raw_pointer_cast(v.data()), total,
                                                   shape.heads_kv, shape.head_dim);
  const auto o_view = varattn::packed_view<element>::contiguous(
      thrust::raw_pointer_cast(o.data()), total, shape.heads_q, shape.head_dim);

  // Warm up once, then time back-to-back forwards with events on the same stream.
  varattn::forward<element>(plan, q_view, k_view, v_view, o_view, stream);
  constexpr int kRepeats = 20;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  VARATTN_CUDA_CHECK(cudaEventCreate(&start));
  VARATTN_CUDA_CHECK(cudaEventCreate(&stop));
  VARATTN_CUDA_CHECK(cudaEventRecord(start, stream));
  for (int i = 0; i < kRepeats; ++i) {
    varattn::forward<element>(plan, q_view, k_view, v_view, o_view, stream);
  }
  VARATTN_CUDA_CHECK(cudaEventRecord(stop, stream));
  VARATTN_CUDA_CHECK(cudaEventSynchronize(stop));
  float elapsed_ms = 0;
  VARATTN_CUDA_CHECK(cudaEventElapsedTime(&elapsed_ms, start, stop));

  // Check against the double-precision host reference on the same data.
  const thrust::host_vector<element> h_q = q, h_k = k, h_v = v, h_o = o;
  const std::vector<double> expected = varattn::reference_attention<element>(
      segs, segs, const_view::contiguous(h_q.data(), total, shape.heads_q, shape.head_dim),
      const_view::contiguous(h_k.data(), total, shape.heads_kv, shape.head_dim),
      const_view::contiguous(h_v.data(), total, shape.heads_kv, shape.head_dim), options);
  double error = 0;
  double norm = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double diff = double(__bfloat162float(h_o[i])) - expected[i];
    error += diff * diff;
    norm += expected[i] * expected[i];
  }
  const double relative_error = std::sqrt(error / norm);
  constexpr double kTolerance = 1e-2;  // bf16 keeps about 3 significant digits

  std::printf("%zu segments, %lld tokens, heads %d/%d, head_dim %d, causal\n", segs.size(),
              static_cast<long long>(total), shape.heads_q, shape.heads_kv, shape.head_dim);
  std::printf("forward: %.3f ms\n", elapsed_ms / kRepeats);
  std::printf("relative L2 error vs reference: %.2e (tolerance %.0e)\n", relative_error,
              kTolerance);

  VARATTN_CUDA_CHECK(cudaEventDestroy(start));
  VARATTN_CUDA_CHECK(cudaEventDestroy(stop));
  VARATTN_CUDA_CHECK(cudaStreamDestroy(stream));
  return relative_error <= kTolerance ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "quickstart: %s\n", e.what());
  return 1;
}
