// SPDX-License-Identifier: Apache-2.0
// How many cycles one warp's MUFU.EX2 takes on one SM sub-partition (the softmax's exp2s):
// every thread runs 16 independent chains x = exp2(-x) for kIters steps between two clock64
// reads; cycles / (16 * kIters) is the issue interval of one warp's ex2 when W warps share a
// sub-partition (blockDim = 128 * W: W warps on each of the SM's 4 schedulers).
//   nvcc -std=c++17 -O3 -arch=sm_90a -o /tmp/mufu_rate bench/experiments/mufu_rate.cu && /tmp/mufu_rate
#include <cstdio>
#include <cuda_runtime.h>

constexpr int kChains = 16;
constexpr int kIters = 4096;

__global__ void ex2_chains(float* sink, long long* cycles) {
  float x[kChains];
#pragma unroll
  for (int c = 0; c < kChains; ++c) x[c] = 0.001f * (threadIdx.x + c);
  __syncthreads();
  const long long t0 = clock64();
  for (int i = 0; i < kIters; ++i) {
#pragma unroll
    for (int c = 0; c < kChains; ++c) asm volatile("ex2.approx.ftz.f32 %0, %1;" : "=f"(x[c]) : "f"(-x[c]));
  }
  __syncthreads();
  const long long t1 = clock64();
  float s = 0.f;
#pragma unroll
  for (int c = 0; c < kChains; ++c) s += x[c];
  sink[blockIdx.x * blockDim.x + threadIdx.x] = s;
  if (threadIdx.x == 0) cycles[blockIdx.x] = t1 - t0;
}

int main() {
  int sms = 0;
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
  float* sink;
  long long* cycles;
  cudaMalloc(&sink, sizeof(float) * sms * 1024);
  cudaMalloc(&cycles, sizeof(long long) * sms);
  for (int warps_per_scheduler : {1, 2, 4}) {
    const int threads = 128 * warps_per_scheduler;
    ex2_chains<<<sms, threads>>>(sink, cycles);  // warm-up
    ex2_chains<<<sms, threads>>>(sink, cycles);
    long long c0 = 0;
    cudaMemcpy(&c0, cycles, sizeof c0, cudaMemcpyDeviceToHost);
    const double per_warp_instr = double(c0) / (double(kChains) * kIters * warps_per_scheduler);
    std::printf("%d warp(s) a scheduler: %lld cycles, %.2f cycles per warp-wide ex2 a scheduler, "
                "%.2f ex2 a cycle an SM\n", warps_per_scheduler, c0, per_warp_instr,
                128.0 / per_warp_instr);
  }
  const cudaError_t e = cudaDeviceSynchronize();
  std::printf("%s\n", cudaGetErrorString(e));
  return e == cudaSuccess ? 0 : 1;
}
