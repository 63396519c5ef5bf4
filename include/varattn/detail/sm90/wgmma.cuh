// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file wgmma.cuh
//! Hopper warpgroup MMA (sm_90a) plumbing: shared-memory matrix descriptors for tiles in the
//! 128-byte swizzled layout, and the fence / commit / wait protocol. The instructions
//! themselves are in wgmma_ops.cuh.
//!
//! Layout (swizzled_tile.cuh writes it): a [rows][64] block of two-byte elements, 128 bytes a
//! row, 16-byte chunk c of row r stored at chunk c ^ (r % 8), starting on a 1024-byte
//! boundary; a head dim of 128 is two such blocks one after the other. The 32-byte swizzle
//! (head dim 80's forward tile with P in shared memory: Q, K, V and P) is the same on
//! [rows][16] blocks of 32-byte rows, chunk c of row r at c ^ (r / 4 % 2).

#include <varattn/detail/sm90/wgmma_ops.cuh>

#include <cstdint>
#include <type_traits>

namespace varattn::detail::sm90 {

//! Byte offset of element (row, col < RowBytes / 2) in a block of RowBytes-long rows (128 or
//! 32) swizzled over its whole row: the chunk bits are XORed with address bits 7 and up.
template <uint32_t RowBytes>
__host__ __device__ constexpr uint32_t swizzled_offset(uint32_t row, uint32_t col) {
  static_assert(RowBytes == 128 || RowBytes == 32, "the swizzles the tiles use");
  const uint32_t chunk = (col / 8) ^ (row * RowBytes / 128 % (RowBytes / 16));
  return row * RowBytes + chunk * 16 + (col % 8) * 2;
}
//! Byte offset of element (row, col < 64) in a 128-byte-swizzled block of 64-element rows.
__host__ __device__ constexpr uint32_t swizzled_offset_128b(uint32_t row, uint32_t col) {
  return swizzled_offset<128>(row, col);
}

//! Descriptor fields (PTX ISA, "matrix descriptor"): start address >> 4 in bits 0-13,
//! leading byte offset >> 4 in 16-29, stride byte offset >> 4 in 32-45, swizzle mode in
//! 62-63 (1 = 128-byte, 3 = 32-byte). `address4`: the shared address >> 4, below 2^14 (the
//! kernels' 227 KB), so the fields do not overlap and an add places it as an or would: a
//! caller holding a base's address4 reaches a tile with one add of a constant.
__device__ __forceinline__ uint64_t descriptor_at(uint32_t address4, uint32_t leading_bytes,
                                                  uint32_t stride_bytes, uint32_t mode = 1) {
  return uint64_t{(stride_bytes >> 4) | (mode << 30)} << 32 |
         (address4 + (leading_bytes >> 4 << 16));
}
//! The same from a pointer. (Built through descriptor_at, every sm90 forward kernel's SASS
//! changed, e.g. 8 of forward_bf16_test.o's 31 functions: kept as timed.)
__device__ __forceinline__ uint64_t descriptor(const void* smem, uint32_t leading_bytes,
                                               uint32_t stride_bytes, uint64_t mode = 1) {
  const auto address = static_cast<uint64_t>(__cvta_generic_to_shared(smem));
  return ((address & 0x3FFFF) >> 4) | (uint64_t{leading_bytes >> 4} << 16) |
         (uint64_t{stride_bytes >> 4} << 32) | (mode << 62);
}

//! K-major operand (the reduction dim is the contiguous one) in blocks of RowBytes-long rows:
//! 8-row groups 8 x RowBytes apart; the leading offset is unused by swizzled K-major layouts. A k16
//! step at column k0 < 64 of a 128-byte block starts k0 * 2 bytes further; of 32-byte rows it
//! is a whole block.
template <uint32_t RowBytes>
__device__ __forceinline__ uint64_t descriptor_k_major(const void* smem_block) {
  static_assert(RowBytes == 128 || RowBytes == 32, "the swizzles the tiles use");
  return descriptor(smem_block, 16, 8 * RowBytes, RowBytes == 128 ? 1 : 3);
}
__device__ __forceinline__ uint64_t descriptor_128b(const void* smem_block) {
  return descriptor_k_major<128>(smem_block);
}

//! MN-major operand (the output dim N is the contiguous one, e.g. V stored [key][channel] as
//! B of P V): `block_bytes` apart are the blocks along N (64 or 16 columns), 8 x RowBytes
//! apart the 8-row groups along the reduction dim. A k16 step at row k0 starts k0 rows further.
template <uint32_t RowBytes>
__device__ __forceinline__ uint64_t descriptor_mn_major(const void* smem_block,
                                                        uint32_t block_bytes) {
  static_assert(RowBytes == 128 || RowBytes == 32, "the swizzles the tiles use");
  return descriptor(smem_block, block_bytes, 8 * RowBytes, RowBytes == 128 ? 1 : 3);
}
__device__ __forceinline__ uint64_t descriptor_128b_mn(const void* smem_block,
                                                       uint32_t block_bytes) {
  return descriptor_mn_major<128>(smem_block, block_bytes);
}

//! The descriptor of the tile `bytes` (a multiple of 16) past the one `desc` describes: only
//! the start address moves, by an integer add. Shared-memory addresses are below 2^18 (the
//! kernels' traits assert their 227 KB), so the 14-bit field (address >> 4) never carries into
//! the leading offset. Building each k-step's descriptor afresh (conversion, mask, shift,
//! or) cost ~12 uniform instructions a wgmma in the backward's loop, ahead of each issue; one
//! descriptor an operand, advanced, costs 1-2.
__device__ __forceinline__ uint64_t advance(uint64_t desc, uint32_t bytes) {
  return desc + (bytes >> 4);
}
//! advance() by `units` of 16 bytes, as a 32-bit add on the low word (which holds the whole
//! start address): the forward's V stage descriptor is then one ULEA (stage x units + low
//! word) and a constant high word, where advance(desc, stage x 32 KB) took a shift, a mask
//! (the bytes' >> 4 cannot fold into the multiply) and a 64-bit add (d128 SASS, s36). Not for
//! K's stage: ptxas then re-moved the high word's constant before every k-step's add.
__device__ __forceinline__ uint64_t advance_low(uint64_t desc, uint32_t units) {
  return desc >> 32 << 32 | static_cast<uint32_t>(static_cast<uint32_t>(desc) + units);
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

//! Makes ordinary shared-memory stores (and landed cp.async copies) of this thread visible to
//! the async proxy that wgmma reads through.
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}
//! Orders register accesses before the next wgmma (accumulators or A fragments written by
//! ordinary instructions).
__device__ __forceinline__ void fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
//! Moves registers between warpgroups (the warpgroup's threads all execute it): the kernel
//! must start under a register cap (__launch_bounds__(threads, 1)).
template <bool Increase, int Registers>
__device__ __forceinline__ void set_max_registers() {
  static_assert(Registers % 8 == 0 && Registers >= 24 && Registers <= 256, "setmaxnreg range");
  if constexpr (Increase) {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(Registers));
  } else {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(Registers));
  }
}

template <int Pending>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(Pending) : "memory");
}

//! Pins registers that a wgmma in flight reads or writes: the compiler sees the wgmma asm
//! consume and produce them at issue, so without this it could read accumulators before
//! wait() or reuse an A fragment's registers while the tensor cores still read them. Call
//! after wait() on both.
template <class T, int Rows, int Cols>
__device__ __forceinline__ void fence_registers(T (&d)[Rows][Cols]) {
#pragma unroll
  for (int i = 0; i < Rows; ++i) {
#pragma unroll
    for (int j = 0; j < Cols; ++j) {
      if constexpr (std::is_same_v<T, float>) {
        asm volatile("" : "+f"(d[i][j])::"memory");
      } else {
        asm volatile("" : "+r"(d[i][j])::"memory");
      }
    }
  }
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace varattn::detail::sm90
