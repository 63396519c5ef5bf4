// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file kernel_config.hpp
//! Which kernel runs a plan, chosen in one place: select_kernel(architecture, problem). The
//! plan calls it once, when it is made, and keeps the answer (plan::kernel()); the launch
//! reads it and never queries the device.

#include <varattn/error.hpp>
#include <varattn/options.hpp>
#include <varattn/tile_shape.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>

namespace varattn {

//! A device's compute capability; 0.0 when no device could be read.
struct device_arch {
  int32_t major = 0;
  int32_t minor = 0;

  //! The current device's: one cudaGetDevice and two attribute reads (host-side, no stream
  //! work, legal under capture). Without a usable device (a build machine) it returns 0.0
  //! and clears the error it caused: with no device no earlier error can be pending.
  static device_arch current() {
    int device = 0;
    device_arch arch;
    if (cudaGetDevice(&device) != cudaSuccess) {
      (void)cudaGetLastError();
      return arch;
    }
    VARATTN_CUDA_CHECK(cudaDeviceGetAttribute(&arch.major, cudaDevAttrComputeCapabilityMajor, device));
    VARATTN_CUDA_CHECK(cudaDeviceGetAttribute(&arch.minor, cudaDevAttrComputeCapabilityMinor, device));
    return arch;
  }
};

//! The kernel a plan runs: its family and its compile-time shape, which the launch
//! instantiates from the same constexpr functions below.
struct kernel_config {
  kernel_family family = kernel_family::sm80;  //!< never automatic
  tile_shape tile{};
  int32_t stages = 1;  //!< K and V buffers in flight (sm80: one of each, refilled in turn)

  constexpr int32_t threads() const { return tile.warps * 32; }
  friend constexpr bool operator==(const kernel_config& a, const kernel_config& b) {
    return a.family == b.family && a.tile.block_m == b.tile.block_m &&
           a.tile.block_n == b.tile.block_n && a.tile.warps == b.tile.warps &&
           a.stages == b.stages;
  }
};

namespace detail {

//! Head dims every kernel takes: whole 16-byte vectors a row (multiples of 8), at most the
//! 256 columns a wgmma n-dimension covers.
constexpr bool supported_head_dim(int32_t head_dim) {
  return head_dim % 8 == 0 && head_dim >= 32 && head_dim <= 256;
}

constexpr kernel_config sm80_config(int32_t head_dim, int32_t max_q_length) {
  return {kernel_family::sm80, tile_shape_for(head_dim, max_q_length), 1};
}

//! Hopper: 128 query rows (two consumer warpgroups of 64) and a producer warpgroup. 128 keys a
//! step up to head dim 128; above, 64, so that O (head_dim / 2 fp32 a thread), S and P stay
//! within the consumers' 240 registers. Two stages of K and V: three at head dim 128 would
//! take 225 of the 227 KB a block may have and ran no faster (bench/NOTES.md, step 13).
constexpr kernel_config sm90_config(int32_t head_dim) {
  return {kernel_family::sm90, {128, head_dim <= 128 ? 128 : 64, 12}, 2};
}

//! Segments of at most this many query rows fill a short (64-row) sm80 tile, which wastes
//! no rows on them: they stay on the sm80 kernel even on Hopper (tiny-d64, vl-window).
inline constexpr int32_t kShortSegment = 64;

}  // namespace detail

//! The one selection: the kernel family and tile for a device, a head dim and the longest
//! query segment the plan covers, honouring `request`. Throws for an sm90 request that the
//! device cannot run.
inline kernel_config select_kernel(device_arch arch, int32_t head_dim, int32_t max_q_length,
                                   kernel_family request) {
  const bool hopper = arch.major == 9;
  switch (request) {
    case kernel_family::sm80:
      return detail::sm80_config(head_dim, max_q_length);
    case kernel_family::sm90:
      if (!hopper) {
        detail::fail("kernel_family::sm90 needs an sm_90 device; the current one is sm_",
                     arch.major, arch.minor, arch.major == 0 ? " (none readable)" : "");
      }
      return detail::sm90_config(head_dim);
    case kernel_family::automatic:
      break;
  }
  if (hopper && max_q_length > detail::kShortSegment) return detail::sm90_config(head_dim);
  return detail::sm80_config(head_dim, max_q_length);
}

}  // namespace varattn
