// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file arch_guard.cuh
//! Stops a device compilation below sm_80 with one message. The kernels use sm_80 instructions
//! (bf16 mma.sync, cp.async, ldmatrix); without this, ptxas prints thousands of lines per
//! translation unit — e.g. for a CMake project that sets no CUDA_ARCHITECTURES, which nvcc 13
//! compiles for sm_75. #error cannot print __CUDA_ARCH__, hence one branch per architecture.

// One line a message, whatever its length.
// clang-format off
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#if __CUDA_ARCH__ == 750
#error "varattn's kernels need sm_80 or newer (compiling for sm_75): set CMAKE_CUDA_ARCHITECTURES / -gencode to 80 or later"
#elif __CUDA_ARCH__ == 720
#error "varattn's kernels need sm_80 or newer (compiling for sm_72): set CMAKE_CUDA_ARCHITECTURES / -gencode to 80 or later"
#elif __CUDA_ARCH__ == 700
#error "varattn's kernels need sm_80 or newer (compiling for sm_70): set CMAKE_CUDA_ARCHITECTURES / -gencode to 80 or later"
#else
#error "varattn's kernels need sm_80 or newer (compiling for one below sm_70): set CMAKE_CUDA_ARCHITECTURES / -gencode to 80 or later"
#endif
#endif
// clang-format on
