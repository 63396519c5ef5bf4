// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file compiled_in.hpp
//! Whether the binary image loaded for the current device carries a Hopper kernel's sm_90a
//! body. A build without sm_90a code, or a device of another architecture (a plan made while
//! an H100 was current, run while an A100 is), loads the kernel's empty stub, which would
//! write nothing: the launchers ask before every Hopper launch and throw instead.

#include <varattn/error.hpp>

#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>

namespace varattn::detail::sm90 {

//! Throws `message` unless `Kernel`'s image for the current device has its sm_90a body (only
//! that body declares static shared memory). Two host-side queries the first time a device
//! asks (no stream work: legal under capture), then one cudaGetDevice; remembered per device.
template <auto Kernel>
void require_sm90_body(const char* message) {
  constexpr int kDevices = 64;  // devices past it are asked every time
  static std::atomic<int8_t> known[kDevices];  // zero-initialized: 0 unknown, 1 body, 2 stub
  int device = 0;
  VARATTN_CUDA_CHECK(cudaGetDevice(&device));
  const bool cached = device >= 0 && device < kDevices;
  int8_t state = cached ? known[device].load(std::memory_order_relaxed) : int8_t{0};
  if (state == 0) {
    cudaFuncAttributes attributes{};
    // The C API (cuda_runtime_api.h): plain C++ can call it too (the host stub tests).
    VARATTN_CUDA_CHECK(cudaFuncGetAttributes(&attributes, reinterpret_cast<const void*>(Kernel)));
    state = attributes.sharedSizeBytes > 0 ? 1 : 2;
    if (cached) known[device].store(state, std::memory_order_relaxed);
  }
  if (state != 1) fail(message, " (current device ", device, ")");
}

}  // namespace varattn::detail::sm90
