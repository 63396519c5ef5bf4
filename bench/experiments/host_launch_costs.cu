// SPDX-License-Identifier: Apache-2.0
// Host microseconds a call of each CUDA query and launch that an eager varattn forward or
// backward makes (bench/experiments/host_launch_cache.md's inventory), and of varattn's own
// launch helpers as the include path given builds them (with and without the launch caches:
// compile once against each tree). One process, the H200, no other load:
//   nvcc -std=c++17 -O2 -gencode arch=compute_90a,code=sm_90a -I<tree>/include \
//        bench/experiments/host_launch_costs.cu -o /tmp/costs && /tmp/costs
// Each row: the median over 7 batches of the mean of 2,000 calls (launches: 500 a batch, then
// a sync outside the timing).
#include <varattn/detail/launch_kernel.cuh>

#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(call)                                                                  \
  do {                                                                               \
    const cudaError_t status_ = (call);                                              \
    if (status_ != cudaSuccess) {                                                    \
      std::fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(status_));          \
      std::exit(1);                                                                  \
    }                                                                                \
  } while (0)

struct big_params {
  unsigned char bytes[1024];  // about what a Hopper launch passes (params, work, three maps)
};

__global__ void empty_kernel(big_params) {}
__global__ void smem_kernel(int* out) {
  extern __shared__ int smem[];
  if (out != nullptr) out[threadIdx.x] = smem[threadIdx.x];
}

template <class Call>
double us_per_call(Call&& call, int calls = 2000, int batches = 7) {
  std::vector<double> means;
  for (int b = 0; b < batches; ++b) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) call();
    const auto t1 = std::chrono::steady_clock::now();
    means.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / calls);
  }
  std::sort(means.begin(), means.end());
  return means[means.size() / 2];
}

template <class F>
F driver(const char* symbol) {
  void* f = nullptr;
  cudaDriverEntryPointQueryResult found{};
  CHECK(cudaGetDriverEntryPointByVersion(symbol, &f, 12000, cudaEnableDefault, &found));
  if (f == nullptr) std::exit(2);
  return reinterpret_cast<F>(f);
}

int main() {
  CHECK(cudaSetDevice(0));
  CHECK(cudaFree(nullptr));
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const void* kernel = reinterpret_cast<const void*>(smem_kernel);
  const int bytes = 100 * 1024;
  auto set_attr = driver<CUresult (*)(CUfunction, CUfunction_attribute, int)>("cuFuncSetAttribute");
  auto get_attr = driver<CUresult (*)(int*, CUfunction_attribute, CUfunction)>("cuFuncGetAttribute");
  auto occupancy = driver<CUresult (*)(int*, CUfunction, int, size_t)>(
      "cuOccupancyMaxActiveBlocksPerMultiprocessor");
  auto ctx_current = driver<CUresult (*)(CUcontext*)>("cuCtxGetCurrent");
  auto ctx_id = driver<CUresult (*)(CUcontext, unsigned long long*)>("cuCtxGetId");
  auto encode = driver<CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                    const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                    const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                    CUtensorMapL2promotion, CUtensorMapFloatOOBfill)>(
      "cuTensorMapEncodeTiled");
  auto memset_d32 = driver<CUresult (*)(CUdeviceptr, unsigned int, size_t, CUstream)>(
      "cuMemsetD32Async");
  cudaFunction_t function = nullptr;
  CHECK(cudaGetFuncBySymbol(&function, kernel));
  void* data = nullptr;
  CHECK(cudaMalloc(&data, 64 << 20));
  int sink = 0;

  std::printf("%-58s %9s\n", "call (H200, one thread, no other load)", "us/call");
  const auto row = [](const char* name, double us) { std::printf("%-58s %9.3f\n", name, us); };
  row("cudaGetDevice", us_per_call([&] { int d; CHECK(cudaGetDevice(&d)); sink += d; }));
  row("cudaDeviceGetAttribute(SM count)", us_per_call([&] {
        int v; CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0)); sink += v; }));
  row("cudaDeviceGetAttribute(L2 size)", us_per_call([&] {
        int v; CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrL2CacheSize, 0)); sink += v; }));
  row("cudaStreamIsCapturing", us_per_call([&] {
        cudaStreamCaptureStatus s; CHECK(cudaStreamIsCapturing(stream, &s)); sink += s; }));
  row("cudaStreamGetCaptureInfo", us_per_call([&] {
        cudaStreamCaptureStatus s; unsigned long long id;
        CHECK(cudaStreamGetCaptureInfo(stream, &s, &id)); sink += s; }));
  row("cudaGetFuncBySymbol", us_per_call([&] {
        cudaFunction_t f; CHECK(cudaGetFuncBySymbol(&f, kernel)); sink += f != nullptr; }));
  row("cuFuncGetAttribute(max dynamic smem)", us_per_call([&] {
        int v; get_attr(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, function); sink += v; }));
  row("cuFuncSetAttribute(max dynamic smem, same value)", us_per_call([&] {
        sink += set_attr(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes); }));
  row("cuOccupancyMaxActiveBlocksPerMultiprocessor", us_per_call([&] {
        int v; occupancy(&v, function, 256, bytes); sink += v; }));
  row("cudaFuncGetAttributes", us_per_call([&] {
        cudaFuncAttributes a; CHECK(cudaFuncGetAttributes(&a, kernel)); sink += a.numRegs; }));
  row("cuCtxGetCurrent + cuCtxGetId", us_per_call([&] {
        CUcontext c; unsigned long long id; ctx_current(&c); ctx_id(c, &id); sink += int(id); }));
  row("cuTensorMapEncodeTiled (rank 4, bf16, 128B swizzle)", us_per_call([&] {
        CUtensorMap map;
        const cuuint64_t dims[4] = {128, 16384, 16, 16385};
        const cuuint64_t strides[3] = {16 * 128 * 2, 128 * 2, 16 * 128 * 2};
        const cuuint32_t box[4] = {64, 128, 1, 1}, elem[4] = {1, 1, 1, 1};
        sink += encode(&map, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4, data, dims, strides, box, elem,
                       CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                       CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE); }));
  row("cudaGetDeviceProperties (not on varattn's path)", us_per_call([&] {
        cudaDeviceProp p; CHECK(cudaGetDeviceProperties(&p, 0)); sink += p.major; }, 50, 3));
  // Stream work: 500 a batch, synchronized between batches outside the timing.
  const auto enqueued = [&](auto&& call) {
    std::vector<double> us;
    for (int b = 0; b < 7; ++b) {
      CHECK(cudaStreamSynchronize(stream));
      us.push_back(us_per_call(call, 500, 1));
    }
    CHECK(cudaStreamSynchronize(stream));
    std::sort(us.begin(), us.end());
    return us[us.size() / 2];
  };
  row("cudaLaunchKernelEx (1 KB of parameters)", enqueued([&] {
        cudaLaunchConfig_t config{};
        config.gridDim = dim3(132);
        config.blockDim = dim3(128);
        config.stream = stream;
        CHECK(cudaLaunchKernelEx(&config, empty_kernel, big_params{})); }));
  row("cuMemsetD32Async (1 MB)", enqueued([&] {
        sink += memset_d32(reinterpret_cast<CUdeviceptr>(data), 0u, 1 << 18,
                           static_cast<CUstream>(stream)); }));
  // varattn's helpers as this include path builds them.
  row("varattn multiprocessors()", us_per_call([&] { sink += varattn::detail::multiprocessors(); }));
  row("varattn l2_bytes()", us_per_call([&] { sink += int(varattn::detail::l2_bytes()); }));
  row("varattn allow_shared_memory(100 KB)", us_per_call([&] {
        varattn::detail::allow_shared_memory(smem_kernel, bytes); }));
  row("varattn resident_ctas(256 threads, 100 KB)", us_per_call([&] {
        sink += varattn::detail::resident_ctas(smem_kernel, 256, bytes); }));
  CHECK(cudaFree(data));
  CHECK(cudaStreamDestroy(stream));
  std::printf("(checksum %d)\n", sink & 1);
  return 0;
}
