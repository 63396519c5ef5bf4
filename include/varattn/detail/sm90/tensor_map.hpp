// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tensor_map.hpp
//! TMA tensor maps (CUtensorMap) for the Hopper kernels, encoded on the host by the driver's
//! cuTensorMapEncodeTiled, found through the runtime's entry-point query (no link to libcuda).
//! A map is a kernel parameter (__grid_constant__): a CUDA graph captures it by value.

#include <varattn/detail/driver_function.hpp>
#include <varattn/error.hpp>

#include <cuda.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace varattn::detail::sm90 {

//! The float32 dQ accumulator [rows, heads, channels] (backward_layout) seen in boxes of 64
//! rows x 32 channels of one head (128 bytes a row, the 128-byte swizzle in shared memory):
//! the Hopper backward adds a full query step's dQ with one tensor reduction a box. Rows and
//! channels past the array are clipped by the copy engine.
inline CUtensorMap dq_tensor_map(float* data, int64_t rows, int32_t heads, int32_t channels) {
  using encode_fn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                 const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                 const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                 CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
  static const auto encode = driver_function<encode_fn>("cuTensorMapEncodeTiled");
  const cuuint64_t dims[3] = {static_cast<cuuint64_t>(channels), static_cast<cuuint64_t>(heads),
                              static_cast<cuuint64_t>(rows)};
  const cuuint64_t strides[2] = {dims[0] * sizeof(float), dims[0] * dims[1] * sizeof(float)};
  const cuuint32_t box[3] = {32, 1, 64};
  const cuuint32_t element_strides[3] = {1, 1, 1};
  CUtensorMap map{};
  const CUresult status =
      encode(&map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 3, data, dims, strides, box, element_strides,
             CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
             CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (status != CUDA_SUCCESS) {
    fail("CUDA driver error ", static_cast<int>(status),
         " in cuTensorMapEncodeTiled (the dQ accumulator: ", rows, " rows x ", heads,
         " heads x ", channels, " channels of float32)");
  }
  return map;
}

}  // namespace varattn::detail::sm90
