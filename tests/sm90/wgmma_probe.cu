// SPDX-License-Identifier: Apache-2.0
// Probe of the sm_90a building blocks of the Hopper kernel (detail/sm90), used exactly as the
// kernel uses them: one warpgroup copies Q [64 x 128], K and V [128 x 128] into 128-byte
// swizzled shared memory (swizzled_tile), computes S = Q K^T (mma_ss, m64n128k16, two
// 64-column blocks), packs P = bf16(S / 16) into A fragments and computes O = P V (mma_rs, V
// through the transpose bit). Compares S and O with host products. Prints PASS or FAIL;
// exits 0 on PASS, 77 (ctest: skipped) when no sm_90 GPU is present.
#include <varattn/detail/sm80/mma.cuh>
#include <varattn/detail/sm90/swizzled_tile.cuh>
#include <varattn/detail/sm90/wgmma.cuh>
#include <varattn/error.hpp>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

namespace {

constexpr int kRows = 64, kKeys = 128, kDim = 128;
using q_tile = varattn::detail::sm90::swizzled_tile<kRows, kDim>;
using kv_tile = varattn::detail::sm90::swizzled_tile<kKeys, kDim>;
constexpr int kSmemBytes = q_tile::kBytes + 2 * kv_tile::kBytes + 1024;

__global__ void __launch_bounds__(128)
    probe(const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v, float* s_out,
          float* o_out, int* ran) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  namespace sm90 = varattn::detail::sm90;
  using pack = varattn::detail::sm80::mma_16816<__nv_bfloat16>;
  extern __shared__ uint4 smem_raw[];
  const uint32_t base = static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw));
  unsigned char* sq = reinterpret_cast<unsigned char*>(smem_raw) + (1024 - base % 1024) % 1024;
  unsigned char* sk = sq + q_tile::kBytes;
  unsigned char* sv = sk + kv_tile::kBytes;
  const int tid = static_cast<int>(threadIdx.x);
  q_tile::load_async<128>(sq, q, kDim, kRows, tid);
  kv_tile::load_async<128>(sk, k, kDim, kKeys, tid);
  kv_tile::load_async<128>(sv, v, kDim, kKeys - 5, tid);  // last 5 rows zero-filled
  varattn::detail::sm80::cp_async_commit();
  varattn::detail::sm80::cp_async_wait<0>();
  sm90::fence_proxy_async();
  __syncthreads();

  float s[kKeys / 8][4];
  float o[kDim / 8][4] = {};
  sm90::fence();
#pragma unroll
  for (int kk = 0; kk < kDim / 16; ++kk) {
    const int offset = (kk % 4) * 32;
    sm90::mma_ss(sm90::wgmma_shape<__nv_bfloat16, kKeys>{}, s,
                 sm90::descriptor_128b(sq + (kk / 4) * q_tile::kBlockBytes + offset),
                 sm90::descriptor_128b(sk + (kk / 4) * kv_tile::kBlockBytes + offset), kk > 0);
  }
  sm90::commit();
  sm90::wait<0>();
  sm90::fence_registers(s);
  uint32_t pa[kKeys / 16][4];
#pragma unroll
  for (int kc = 0; kc < kKeys / 16; ++kc) {
    pa[kc][0] = pack::pack(s[2 * kc][0] / 16, s[2 * kc][1] / 16);
    pa[kc][1] = pack::pack(s[2 * kc][2] / 16, s[2 * kc][3] / 16);
    pa[kc][2] = pack::pack(s[2 * kc + 1][0] / 16, s[2 * kc + 1][1] / 16);
    pa[kc][3] = pack::pack(s[2 * kc + 1][2] / 16, s[2 * kc + 1][3] / 16);
  }
  sm90::fence();
#pragma unroll
  for (int kc = 0; kc < kKeys / 16; ++kc) {
    sm90::mma_rs(sm90::wgmma_shape<__nv_bfloat16, kDim>{}, o, pa[kc],
                 sm90::descriptor_128b_mn(sv + kc * 16 * 128, kv_tile::kBlockBytes), true);
  }
  sm90::commit();
  sm90::wait<0>();
  sm90::fence_registers(o);
  sm90::fence_registers(pa);
  const int warp = tid / 32, lane = tid % 32, g = lane / 4, c = (lane % 4) * 2;
  for (int j = 0; j < kKeys / 8; ++j) {
    for (int e = 0; e < 4; ++e) {
      s_out[(warp * 16 + g + (e / 2) * 8) * kKeys + j * 8 + c + e % 2] = s[j][e];
    }
  }
  for (int j = 0; j < kDim / 8; ++j) {
    for (int e = 0; e < 4; ++e) {
      o_out[(warp * 16 + g + (e / 2) * 8) * kDim + j * 8 + c + e % 2] = o[j][e];
    }
  }
  if (tid == 0) *ran = 1;
#else
  (void)q, (void)k, (void)v, (void)s_out, (void)o_out, (void)ran;
#endif
}

double max_relative_error(const std::vector<float>& got, const std::vector<double>& ref) {
  double error = 0, scale = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    error = std::isfinite(got[i]) ? std::max(error, std::fabs(got[i] - ref[i])) : INFINITY;
    scale = std::max(scale, std::fabs(ref[i]));
  }
  return error / scale;
}

template <class T>
T* upload(const std::vector<T>& host) {
  T* device = nullptr;
  VARATTN_CUDA_CHECK(cudaMalloc(&device, host.size() * sizeof(T)));
  VARATTN_CUDA_CHECK(
      cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return device;
}

}  // namespace

int main() try {
  int count = 0;
  cudaDeviceProp prop{};
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0 ||
      cudaGetDeviceProperties(&prop, 0) != cudaSuccess || prop.major != 9) {
    std::puts("wgmma probe: no sm_90 GPU, skipped");
    return 77;
  }
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  const auto random_matrix = [&](int rows) {
    std::vector<__nv_bfloat16> m(rows * kDim);
    for (auto& x : m) x = __float2bfloat16(normal(rng));
    return m;
  };
  const auto hq = random_matrix(kRows), hk = random_matrix(kKeys), hv = random_matrix(kKeys);
  __nv_bfloat16 *q = upload(hq), *k = upload(hk), *v = upload(hv);
  std::vector<float> hs(kRows * kKeys, NAN), ho(kRows * kDim, NAN);  // NaN poison
  float *s = upload(hs), *o = upload(ho);
  int* ran = upload(std::vector<int>{0});
  VARATTN_CUDA_CHECK(
      cudaFuncSetAttribute(probe, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  probe<<<1, 128, kSmemBytes>>>(q, k, v, s, o, ran);
  VARATTN_CUDA_CHECK(cudaGetLastError());
  VARATTN_CUDA_CHECK(cudaDeviceSynchronize());
  int hran = 0;
  VARATTN_CUDA_CHECK(cudaMemcpy(hs.data(), s, hs.size() * sizeof(float), cudaMemcpyDeviceToHost));
  VARATTN_CUDA_CHECK(cudaMemcpy(ho.data(), o, ho.size() * sizeof(float), cudaMemcpyDeviceToHost));
  VARATTN_CUDA_CHECK(cudaMemcpy(&hran, ran, sizeof(int), cudaMemcpyDeviceToHost));
  if (hran == 0) {
    std::puts("wgmma probe: FAIL (the sm_90a code path was not compiled in; build for 90a)");
    return 1;
  }
  const auto f = [](__nv_bfloat16 x) { return static_cast<double>(__bfloat162float(x)); };
  std::vector<double> s_ref(kRows * kKeys), o_ref(kRows * kDim, 0.0);
  for (int m = 0; m < kRows; ++m) {
    for (int n = 0; n < kKeys; ++n) {
      for (int c = 0; c < kDim; ++c)
        s_ref[m * kKeys + n] += f(hq[m * kDim + c]) * f(hk[n * kDim + c]);
      // P as the kernel packs it: the GPU's own S, over 16, rounded to bf16; V rows past 122
      // were zero-filled.
      const double p = f(__float2bfloat16(hs[m * kKeys + n] / 16));
      for (int c = 0; n < kKeys - 5 && c < kDim; ++c)
        o_ref[m * kDim + c] += p * f(hv[n * kDim + c]);
    }
  }
  const double s_error = max_relative_error(hs, s_ref), o_error = max_relative_error(ho, o_ref);
  const bool pass = s_error <= 1e-5 && o_error <= 1e-5;
  std::printf(
      "wgmma probe: %s (S = Q K^T ss m64n128k16: max error %.3g of max |S|; "
      "O = P V rs m64n128k16 transposed V: %.3g of max |O|)\n",
      pass ? "PASS" : "FAIL", s_error, o_error);
  return pass ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "wgmma probe: %s\n", e.what());
  return 1;
}
