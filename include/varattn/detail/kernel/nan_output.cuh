// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file nan_output.cuh
//! What a forward writes when the device rejected its plan's offsets: NaN in every element
//! of o (and of the logsumexp, when asked for), so that invalid device-side input can never
//! pass for a result.

#include <varattn/detail/kernel/params.cuh>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

namespace varattn::detail {

//! Quiet-NaN bit patterns of the two element types.
template <class Element>
constexpr uint16_t kNanBits = std::is_same_v<Element, __half> ? 0x7e00 : 0x7fc0;

//! One CTA's share: rows first_row, first_row + row_step, ... of head `head`. The error path
//! only: plain 2-byte stores, no concern for speed.
template <class Element>
__device__ void fill_nan_rows(const forward_params<Element>& params, int head, int64_t first_row,
                              int64_t row_step) {
  for (int64_t row = first_row; row < params.rows_q; row += row_step) {
    auto* out = reinterpret_cast<uint16_t*>(params.o + row * params.o_token_stride +
                                            head * params.o_head_stride);
    for (int c = static_cast<int>(threadIdx.x); c < params.head_dim; c += blockDim.x) {
      out[c] = kNanBits<Element>;
    }
    if (params.lse != nullptr && threadIdx.x == 0) {
      params.lse[head * params.lse_head_stride + row] = __int_as_float(0x7fc00000);
    }
  }
}

}  // namespace varattn::detail
