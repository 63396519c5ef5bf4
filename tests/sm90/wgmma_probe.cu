// Probe of the sm_90a wgmma building blocks (detail/sm90/wgmma.cuh): one warpgroup computes
// D[64 x 64] = A[64 x 64] B^T from 128-byte-swizzled shared memory in four k16 steps and
// compares with a host product. Not part of ctest until a GPU run has confirmed it
// (bench/NOTES.md). Prints PASS or FAIL; exits 0 on PASS or when no sm_90 GPU is present.
#include <varattn/detail/sm90/wgmma.cuh>
#include <varattn/error.hpp>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

constexpr int kDim = 64;

__global__ void __launch_bounds__(128) probe(const __nv_bfloat16* a, const __nv_bfloat16* b,
                                             float* d, int* ran) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  namespace sm90 = varattn::detail::sm90;
  __shared__ alignas(1024) unsigned char sa[kDim * 128];
  __shared__ alignas(1024) unsigned char sb[kDim * 128];
  const int tid = static_cast<int>(threadIdx.x);
  for (int i = tid; i < kDim * 8; i += 128) {  // 16-byte chunks, swizzled
    const int row = i / 8, col = (i % 8) * 8;
    *reinterpret_cast<uint4*>(sa + sm90::swizzled_offset_128b(row, col)) =
        *reinterpret_cast<const uint4*>(a + row * kDim + col);
    *reinterpret_cast<uint4*>(sb + sm90::swizzled_offset_128b(row, col)) =
        *reinterpret_cast<const uint4*>(b + row * kDim + col);
  }
  sm90::fence_proxy_async();
  __syncthreads();
  float acc[32];
  for (float& x : acc) x = 0.f;
  sm90::fence();
  const uint64_t da = sm90::descriptor_128b(sa), db = sm90::descriptor_128b(sb);
#pragma unroll
  for (int k = 0; k < kDim / 16; ++k) {
    // 16 elements = 32 bytes = 2 units of the descriptor's 16-byte address field.
    sm90::mma_m64n64k16_bf16(acc, da + 2 * k, db + 2 * k, k > 0);
  }
  sm90::commit();
  sm90::wait<0>();
  const int warp = tid / 32, lane = tid % 32, g = lane / 4, c = (lane % 4) * 2;
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int row = warp * 16 + g, col = j * 8 + c;
    d[row * kDim + col] = acc[4 * j];
    d[row * kDim + col + 1] = acc[4 * j + 1];
    d[(row + 8) * kDim + col] = acc[4 * j + 2];
    d[(row + 8) * kDim + col + 1] = acc[4 * j + 3];
  }
  if (tid == 0) *ran = 1;
#else
  (void)a, (void)b, (void)d, (void)ran;
#endif
}

}  // namespace

int main() try {
  int count = 0;
  cudaDeviceProp prop{};
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0 ||
      cudaGetDeviceProperties(&prop, 0) != cudaSuccess || prop.major != 9) {
    std::puts("wgmma probe: no sm_90 GPU, skipped");
    return 0;
  }
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<__nv_bfloat16> ha(kDim * kDim), hb(kDim * kDim);
  for (auto& x : ha) x = __float2bfloat16(normal(rng));
  for (auto& x : hb) x = __float2bfloat16(normal(rng));
  __nv_bfloat16 *a = nullptr, *b = nullptr;
  float* d = nullptr;
  int* ran = nullptr;
  VARATTN_CUDA_CHECK(cudaMalloc(&a, ha.size() * sizeof(ha[0])));
  VARATTN_CUDA_CHECK(cudaMalloc(&b, hb.size() * sizeof(hb[0])));
  VARATTN_CUDA_CHECK(cudaMalloc(&d, kDim * kDim * sizeof(float)));
  VARATTN_CUDA_CHECK(cudaMalloc(&ran, sizeof(int)));
  VARATTN_CUDA_CHECK(cudaMemcpy(a, ha.data(), ha.size() * sizeof(ha[0]), cudaMemcpyHostToDevice));
  VARATTN_CUDA_CHECK(cudaMemcpy(b, hb.data(), hb.size() * sizeof(hb[0]), cudaMemcpyHostToDevice));
  VARATTN_CUDA_CHECK(cudaMemset(d, 0xFF, kDim * kDim * sizeof(float)));  // NaN poison
  VARATTN_CUDA_CHECK(cudaMemset(ran, 0, sizeof(int)));
  probe<<<1, 128>>>(a, b, d, ran);
  VARATTN_CHECK_LAUNCH();
  VARATTN_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> hd(kDim * kDim);
  int hran = 0;
  VARATTN_CUDA_CHECK(cudaMemcpy(hd.data(), d, hd.size() * sizeof(float), cudaMemcpyDeviceToHost));
  VARATTN_CUDA_CHECK(cudaMemcpy(&hran, ran, sizeof(int), cudaMemcpyDeviceToHost));
  if (hran == 0) {
    std::puts("wgmma probe: FAIL (the sm_90a code path was not compiled in; build for 90a)");
    return 1;
  }
  double max_error = 0, max_ref = 0;
  for (int m = 0; m < kDim; ++m) {
    for (int n = 0; n < kDim; ++n) {
      double ref = 0;
      for (int k = 0; k < kDim; ++k) {
        ref += double(__bfloat162float(ha[m * kDim + k])) * __bfloat162float(hb[n * kDim + k]);
      }
      const double got = hd[m * kDim + n];
      max_error = std::isfinite(got) ? std::max(max_error, std::fabs(got - ref)) : INFINITY;
      max_ref = std::max(max_ref, std::fabs(ref));
    }
  }
  const bool pass = max_error <= 1e-3 * max_ref;
  std::printf("wgmma probe: %s (max |error| %.3g, max |ref| %.3g)\n", pass ? "PASS" : "FAIL",
              max_error, max_ref);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "wgmma probe: %s\n", e.what());
  return 1;
}
