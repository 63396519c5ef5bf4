// SPDX-License-Identifier: Apache-2.0
#pragma once
// The program both consumer projects build: a plan, and where there is a GPU, one fp16
// forward for head dim 128. Each project's main.cu adds its own check of the head dims.
#include <cuda_fp16.h>
#include <varattn/varattn.hpp>

#include <cstdio>
#include <exception>

int main() try {
  const auto segs = varattn::segments::from_lengths({3, 0, 70, 128});
  const varattn::attention_shape shape{/*heads_q=*/4, /*heads_kv=*/2, /*head_dim=*/128};
  // per_segment: the plan is made before the GPU check, so it must not touch the device.
  const auto plan = varattn::plan::make(segs, segs, shape, {/*causal=*/true},
                                        varattn::launch_policy::per_segment);
  std::printf("varattn %s; plan: %zu launches for %zu segments, head dims %s\n",
              VARATTN_VERSION_STRING, plan.launches().size(), segs.size(),
              varattn::head_dims::to_string().c_str());

  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::puts("no CUDA device found");
    return 0;
  }
  const int64_t rows = segs.total();
  __half* q = nullptr;
  __half* kv = nullptr;
  __half* o = nullptr;
  const size_t q_bytes = sizeof(__half) * rows * shape.heads_q * shape.head_dim;
  const size_t kv_bytes = sizeof(__half) * rows * shape.heads_kv * shape.head_dim;
  VARATTN_CUDA_CHECK(cudaMalloc(&q, q_bytes));
  VARATTN_CUDA_CHECK(cudaMalloc(&kv, kv_bytes));
  VARATTN_CUDA_CHECK(cudaMalloc(&o, q_bytes));
  VARATTN_CUDA_CHECK(cudaMemset(q, 0, q_bytes));
  VARATTN_CUDA_CHECK(cudaMemset(kv, 0, kv_bytes));
  using view = varattn::packed_view<const __half>;
  const view q_view = view::contiguous(q, rows, shape.heads_q, shape.head_dim);
  const view kv_view = view::contiguous(kv, rows, shape.heads_kv, shape.head_dim);
  varattn::forward<__half>(
      plan, q_view, kv_view, kv_view,
      varattn::packed_view<__half>::contiguous(o, rows, shape.heads_q, shape.head_dim), nullptr);
  VARATTN_CUDA_CHECK(cudaDeviceSynchronize());
  VARATTN_CUDA_CHECK(cudaFree(q));
  VARATTN_CUDA_CHECK(cudaFree(kv));
  VARATTN_CUDA_CHECK(cudaFree(o));
  std::puts("forward ran");
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "consumer: %s\n", e.what());
  return 1;
}
