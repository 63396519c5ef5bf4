// SPDX-License-Identifier: Apache-2.0
// The backward's D kernel alone, HEAD's form against backward_delta_rows_per_warp.patch's,
// on the workloads' (rows, q heads, head dim), with no library build: one binary, compiled
// on a machine without a GPU against the patched headers and carried to the GPU machine.
//   nvcc -std=c++17 -O3 -I<patched tree>/include -gencode arch=compute_90a,code=sm_90a \
//     bench/experiments/backward_delta_micro.cu -o build/micro/backward_delta_micro
// Prints, a shape: the median us of each form (interleaved runs, events), GB/s against the
// bytes D must move, and checks: the new form's D against a double reference on the host
// (every item), its output poisoned with NaN before the checked run; HEAD's form against the
// same. `old_delta_kernel` is HEAD's kernel (eefeb18) as it was, kept here only to time it.
// Both grids as launch.cuh sizes them for a fused plan (a status word; HEAD: a warp a q or k
// gradient row; the patch: D's own). s29's run (call 8) timed the new kernel on D's grid,
// which the patch as then written did not launch (a review: with a status word, i.e. every
// fused plan, it still sized the grid as HEAD's); the launch is fixed since, and these grids
// are the library's.
#include <varattn/detail/backward/delta.cuh>

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace d = varattn::detail;
using bf16 = __nv_bfloat16;

#define CHECK_CUDA(x)                                                                  \
  do {                                                                                 \
    cudaError_t e_ = (x);                                                              \
    if (e_ != cudaSuccess) {                                                           \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(2);                                                                    \
    }                                                                                  \
  } while (0)

namespace {

// HEAD's D kernel (one warp a (head, row) item, a 16-byte vector a lane).
__global__ void __launch_bounds__(d::kDeltaThreads)
    old_delta_kernel(const __grid_constant__ d::backward_params<bf16> p) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int64_t warps = int64_t{gridDim.x} * (d::kDeltaThreads / 32);
  const int64_t first = int64_t{blockIdx.x} * (d::kDeltaThreads / 32) + threadIdx.x / 32;
  for (int64_t item = first; item < p.rows_q * p.heads_q; item += warps) {
    const auto head = static_cast<int32_t>(item / p.rows_q);
    const int64_t row = item % p.rows_q;
    const bf16* o = p.o.at(row, head);
    const bf16* d_o = p.d_o.at(row, head);
    float sum = 0.f;
    for (int c = lane * 8; c < p.head_dim; c += 32 * 8) {
      const uint4 ov = *reinterpret_cast<const uint4*>(o + c);
      const uint4 dv = *reinterpret_cast<const uint4*>(d_o + c);
      const auto* oe = reinterpret_cast<const bf16*>(&ov);
      const auto* de = reinterpret_cast<const bf16*>(&dv);
#pragma unroll
      for (int e = 0; e < 8; ++e) sum += __bfloat162float(oe[e]) * __bfloat162float(de[e]);
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) p.delta[item] = sum;
  }
}

__global__ void fill_random(bf16* x, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    x[i] = __float2bfloat16(static_cast<float>(h & 0xffff) / 32768.0f - 1.0f);
  }
}

// HEAD's grid as a fused plan (status word non-null) runs it: a warp a gradient row of q or k.
void launch_old(const d::backward_params<bf16>& p, cudaStream_t s) {
  const int64_t warps = std::max(p.rows_q * p.heads_q, p.rows_k * p.heads_kv);
  const int64_t blocks = std::min<int64_t>((warps + 7) / 8, int64_t{1} << 20);
  old_delta_kernel<<<static_cast<unsigned>(blocks), d::kDeltaThreads, 0, s>>>(p);
}

// The patched launch.cuh's grid, as a fused plan runs it: with the plan's status word (zero
// here), which is what makes the grid cover the NaN fill too.
template <int Lanes>
void launch_new_lanes(const d::backward_params<bf16>& p, const int32_t* status, cudaStream_t s) {
  constexpr int64_t kItemsPerWarp = (32 / Lanes) * d::kDeltaPasses;
  const bool fills_keys = status != nullptr && p.rows_k * p.heads_kv > 0;
  const int64_t warps = std::max<int64_t>(
      (p.rows_q * p.heads_q + kItemsPerWarp - 1) / kItemsPerWarp, fills_keys ? 1 : 0);
  const int64_t blocks = std::min<int64_t>((warps + 7) / 8, int64_t{1} << 20);
  d::delta_kernel<bf16, Lanes><<<static_cast<unsigned>(blocks), d::kDeltaThreads, 0, s>>>(
      p, status);
}

void launch_new(const d::backward_params<bf16>& p, const int32_t* status, cudaStream_t s) {
  switch (d::delta_lanes(p.head_dim)) {
    case 8: launch_new_lanes<8>(p, status, s); break;
    case 16: launch_new_lanes<16>(p, status, s); break;
    default: launch_new_lanes<32>(p, status, s); break;
  }
}

struct shape {
  const char* name;
  int64_t rows;
  int32_t heads, head_dim;
  int32_t heads_kv = heads;  // k rows = q rows: sizes HEAD's grid (and the fill's) as a plan does
};

// Worst relative error of a run's D against the double reference (NaN: an item unwritten).
double check(const std::vector<bf16>& o, const std::vector<bf16>& d_o, const shape& sh,
             const float* delta_dev) {
  const int64_t items = sh.rows * sh.heads;
  std::vector<float> got(static_cast<size_t>(items));
  CHECK_CUDA(cudaMemcpy(got.data(), delta_dev, got.size() * sizeof(float), cudaMemcpyDeviceToHost));
  double worst = 0;
  for (int32_t h = 0; h < sh.heads; ++h) {
    for (int64_t r = 0; r < sh.rows; ++r) {
      double ref = 0, norm = 0;
      const int64_t base = (r * sh.heads + h) * sh.head_dim;
      for (int c = 0; c < sh.head_dim; ++c) {
        const double a = __bfloat162float(o[base + c]), b = __bfloat162float(d_o[base + c]);
        ref += a * b;
        norm += std::fabs(a * b);
      }
      const double g = got[static_cast<size_t>(h * sh.rows + r)];
      if (!std::isfinite(g)) return NAN;
      worst = std::max(worst, std::fabs(g - ref) / std::max(norm, 1e-6));
    }
  }
  return worst;
}

}  // namespace

int main() {
  const shape shapes[] = {
      {"vit-l14-d64", 65600, 16, 64},      {"llm-d64-mqa-causal", 29603, 32, 64, 1},
      {"llm-d128", 29603, 32, 128},        {"llm-d256-causal", 29603, 16, 256},
      {"vl-window-d80", 16384, 16, 80},    {"d192 (32 lanes, 24 loading)", 16384, 16, 192},
      {"3 rows, 8 heads, d64 (wrap)", 3, 8, 64},
      {"3 rows, 8 heads, d128 (wrap)", 3, 8, 128}, {"1 row, 5 heads, d256", 1, 5, 256},
  };
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("%s, sm_%d%d\n", prop.name, prop.major, prop.minor);
  cudaStream_t s;
  CHECK_CUDA(cudaStreamCreate(&s));
  cudaEvent_t e0, e1;
  CHECK_CUDA(cudaEventCreate(&e0));
  CHECK_CUDA(cudaEventCreate(&e1));
  int32_t* status = nullptr;  // a fused plan's device status: zero (offsets accepted)
  CHECK_CUDA(cudaMalloc(&status, sizeof(int32_t)));
  CHECK_CUDA(cudaMemset(status, 0, sizeof(int32_t)));
  int failures = 0;
  for (const shape& sh : shapes) {
    const int64_t n = sh.rows * sh.heads * sh.head_dim, items = sh.rows * sh.heads;
    bf16 *o = nullptr, *d_o = nullptr;
    float* delta = nullptr;
    CHECK_CUDA(cudaMalloc(&o, n * sizeof(bf16)));
    CHECK_CUDA(cudaMalloc(&d_o, n * sizeof(bf16)));
    CHECK_CUDA(cudaMalloc(&delta, items * sizeof(float)));
    fill_random<<<1024, 256, 0, s>>>(o, n, 29001u);
    fill_random<<<1024, 256, 0, s>>>(d_o, n, 29002u);
    CHECK_CUDA(cudaGetLastError());
    d::backward_params<bf16> p{};
    p.o = {o, int64_t{sh.heads} * sh.head_dim, sh.head_dim};
    p.d_o = {d_o, int64_t{sh.heads} * sh.head_dim, sh.head_dim};
    p.delta = delta;
    p.heads_q = sh.heads;
    p.heads_kv = sh.heads_kv;
    p.head_dim = sh.head_dim;
    p.rows_q = sh.rows;
    p.rows_k = sh.rows;
    std::vector<bf16> ho(static_cast<size_t>(n)), hd(static_cast<size_t>(n));
    CHECK_CUDA(cudaMemcpyAsync(ho.data(), o, n * sizeof(bf16), cudaMemcpyDeviceToHost, s));
    CHECK_CUDA(cudaMemcpyAsync(hd.data(), d_o, n * sizeof(bf16), cudaMemcpyDeviceToHost, s));
    CHECK_CUDA(cudaStreamSynchronize(s));
    double err[2];
    for (int form = 0; form < 2; ++form) {
      CHECK_CUDA(cudaMemsetAsync(delta, 0xff, items * sizeof(float), s));  // NaN
      form == 0 ? launch_old(p, s) : launch_new(p, status, s);
      CHECK_CUDA(cudaGetLastError());
      CHECK_CUDA(cudaStreamSynchronize(s));
      err[form] = check(ho, hd, sh, delta);
    }
    std::vector<float> ms[2];
    for (int i = 0; i < 40; ++i) {
      for (int form = 0; form < 2; ++form) {
        CHECK_CUDA(cudaEventRecord(e0, s));
        form == 0 ? launch_old(p, s) : launch_new(p, status, s);
        CHECK_CUDA(cudaEventRecord(e1, s));
        CHECK_CUDA(cudaEventSynchronize(e1));
        float t = 0;
        CHECK_CUDA(cudaEventElapsedTime(&t, e0, e1));
        if (i >= 5) ms[form].push_back(t);
      }
    }
    CHECK_CUDA(cudaGetLastError());
    const double bytes = 2.0 * n * sizeof(bf16) + items * sizeof(float);
    double med[2];
    for (int form = 0; form < 2; ++form) {
      std::sort(ms[form].begin(), ms[form].end());
      med[form] = ms[form][ms[form].size() / 2] * 1e3;
    }
    const bool ok = err[1] <= 1e-5 && err[0] <= 1e-5;  // float sums of bf16 products
    failures += ok ? 0 : 1;
    std::printf("%-30s %9.3f MB  HEAD %8.2f us (%6.0f GB/s)  new %8.2f us (%6.0f GB/s)  "
                "new/HEAD %.3f  err HEAD %.1e new %.1e %s\n",
                sh.name, bytes / 1e6, med[0], bytes / med[0] / 1e3, med[1], bytes / med[1] / 1e3,
                med[1] / med[0], err[0], err[1], ok ? "ok" : "FAIL");
    CHECK_CUDA(cudaFree(o));
    CHECK_CUDA(cudaFree(d_o));
    CHECK_CUDA(cudaFree(delta));
  }
  CHECK_CUDA(cudaFree(status));
  std::printf("%s\n", failures == 0 ? "all checks passed" : "CHECKS FAILED");
  return failures == 0 ? 0 : 1;
}
