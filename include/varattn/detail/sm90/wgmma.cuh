#pragma once
//! \file wgmma.cuh
//! Hopper warpgroup MMA (sm_90a) building blocks: shared-memory matrix descriptors for the
//! 128-byte swizzled K-major layout, the fence / commit / wait protocol, and the bf16
//! m64n64k16 product with fp32 accumulation.
//!
//! GROUNDWORK, not used by the kernels yet: checked only by tests/sm90/wgmma_probe.cu
//! (bench/NOTES.md, "Where to start next session").
//!
//! Layout: a tile of rows of 64 two-byte elements (128 bytes); the 16-byte chunk c of row r
//! is stored at chunk c ^ (r % 8), and the tile starts on a 1024-byte boundary. A k16 step
//! at column k0 advances the descriptor's start address by k0 * 2 bytes.

#include <cstdint>

namespace varattn::detail::sm90 {

//! Byte offset of element (row, col) in a 128-byte-swizzled tile of 64-element rows.
__host__ __device__ constexpr uint32_t swizzled_offset_128b(uint32_t row, uint32_t col) {
  const uint32_t chunk = (col / 8) ^ (row % 8);
  return row * 128 + chunk * 16 + (col % 8) * 2;
}

//! Descriptor fields (PTX ISA, "matrix descriptor"): start address >> 4 in bits 0-13,
//! leading byte offset >> 4 in 16-29 (unused by swizzled K-major layouts: 1), stride byte
//! offset >> 4 in 32-45 (8 rows x 128 B = 1024 B between 8-row groups), swizzle mode in
//! 62-63 (1 = 128-byte).
__device__ __forceinline__ uint64_t descriptor_128b(const void* smem_tile) {
  const auto address = static_cast<uint64_t>(__cvta_generic_to_shared(smem_tile));
  return ((address & 0x3FFFF) >> 4) | (uint64_t{1} << 16) | (uint64_t{1024 >> 4} << 32) |
         (uint64_t{1} << 62);
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

//! Makes ordinary shared-memory stores visible to the async proxy that wgmma reads through.
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
__device__ __forceinline__ void fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int Pending>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(Pending) : "memory");
}

//! d[64 x 64] (+)= A[64 x 16] B[16 x 64], A and B K-major in shared memory (B stored as
//! [n][k]); accumulate when `accumulate`, else overwrite. d is the warpgroup's accumulator
//! in the mma.sync C layout, one n8 tile per 4 registers: warp w holds rows 16w..16w+15.
__device__ __forceinline__ void mma_m64n64k16_bf16(float (&d)[32], uint64_t a, uint64_t b,
                                                    bool accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
      "%32, %33, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]),
        "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]),
        "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(a), "l"(b), "r"(static_cast<int>(accumulate)));
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace varattn::detail::sm90
