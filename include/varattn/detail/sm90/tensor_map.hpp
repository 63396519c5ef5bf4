// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file tensor_map.hpp
//! TMA tensor maps (CUtensorMap) for the Hopper kernels, encoded on the host by the driver's
//! cuTensorMapEncodeTiled, found through the runtime's entry-point query (no link to libcuda).
//! A map is a kernel parameter (__grid_constant__): a CUDA graph captures it by value.

#include <varattn/detail/driver_function.hpp>
#include <varattn/error.hpp>
#include <varattn/packed_view.hpp>

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

namespace varattn::detail::sm90 {

//! cuTensorMapEncodeTiled with every map's constants (no interleave, L2 promotion of 128
//! bytes, zeros past the bounds); `what` names the tensor in the error.
template <int Rank>
CUtensorMap encode_tensor_map(CUtensorMapDataType type, const void* data,
                              const cuuint64_t (&dims)[Rank], const cuuint64_t (&strides)[Rank - 1],
                              const cuuint32_t (&box)[Rank], CUtensorMapSwizzle swizzle,
                              const char* what) {
  using encode_fn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                 const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                 const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                 CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
  static const auto encode = driver_function<encode_fn>("cuTensorMapEncodeTiled");
  cuuint32_t element_strides[Rank];
  for (cuuint32_t& s : element_strides) s = 1;
  CUtensorMap map{};
  const CUresult status =
      encode(&map, type, Rank, const_cast<void*>(data), dims, strides, box, element_strides,
             CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_128B,
             CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  check_driver(status, "cuTensorMapEncodeTiled", " (", what, ")");
  return map;
}

//! The base `rows` tokens before the data: only ever addressed at coordinates that land back
//! inside it (integer arithmetic: the pointer is never dereferenced out there).
inline const void* row_clipped_base(const void* data, cuuint64_t rows, cuuint64_t token) {
  return reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(data) - rows * token);
}

//! A [rows, heads, channels] tensor whose boxes stop at the end of their segment (the layout
//! CUTLASS's varlen examples use for their stores): a rank-4 map over the same memory, dims
//! {channels, rows, heads, rows + 1} with byte strides {-, token, head, token} and its base
//! moved back by `rows` tokens. The box of the `valid` rows from row `first` is at
//! {c, rows - valid, h, first + valid}: its address is base + first * token + h * head + c,
//! and its row i is in bounds exactly when rows - valid + i < rows, i.e. i < valid; rows and
//! channels out of bounds are neither loaded (zero-filled) nor stored or added. Boxes of
//! `box_channels` x `box_rows`, the 128-byte swizzle in shared memory (or `swizzle`).
inline CUtensorMap encode_row_clipped_map(CUtensorMapDataType type, const void* data,
                                          cuuint64_t rows, cuuint64_t heads, cuuint64_t channels,
                                          cuuint64_t token, cuuint64_t head,
                                          cuuint32_t box_channels, int box_rows,
                                          const char* what,
                                          CUtensorMapSwizzle swizzle = CU_TENSOR_MAP_SWIZZLE_128B) {
  const cuuint64_t dims[4] = {channels, rows, heads, rows + 1};
  const cuuint64_t strides[3] = {token, head, token};
  const cuuint32_t box[4] = {box_channels, static_cast<cuuint32_t>(box_rows), 1, 1};
  return encode_tensor_map(type, row_clipped_base(data, rows, token), dims, strides, box, swizzle,
                           what);
}

//! The same tensor with `box_heads` consecutive heads inside a box, head fastest: dims
//! {channels, heads, rows, rows + 1}, strides {-, head, token, token}, boxes of box_channels x
//! box_heads x box_rows tokens, so that shared-memory row token x box_heads + head (a packed
//! tile's rows, kernel_config::pack). The box of the `valid` tokens from `first`, heads from
//! h, is at {c, h, rows - valid, first + valid}; tokens past `valid` arrive as zeros.
inline CUtensorMap encode_head_packed_map(CUtensorMapDataType type, const void* data,
                                          cuuint64_t rows, cuuint64_t heads, cuuint64_t channels,
                                          cuuint64_t token, cuuint64_t head,
                                          cuuint32_t box_channels, int box_heads, int box_rows,
                                          const char* what) {
  const cuuint64_t dims[4] = {channels, heads, rows, rows + 1};
  const cuuint64_t strides[3] = {head, token, token};
  const cuuint32_t box[4] = {box_channels, static_cast<cuuint32_t>(box_heads),
                             static_cast<cuuint32_t>(box_rows), 1};
  return encode_tensor_map(type, row_clipped_base(data, rows, token), dims, strides, box,
                           CU_TENSOR_MAP_SWIZZLE_128B, what);
}

//! The float32 dQ accumulator [rows, heads, channels] (backward_layout) in boxes of
//! `box_rows` rows (a query step) x 32 channels of one head (128 bytes a row), clipped at the
//! segment's end (encode_row_clipped_map): a segment's partial last step goes by the same
//! tensor reductions as a full one (bulk_reduce_add_rows). Channels past the head dim are
//! clipped as well.
inline CUtensorMap dq_tensor_map(float* data, int64_t rows, int32_t heads, int32_t channels,
                                 int box_rows) {
  if (rows >= INT32_MAX) fail("the dQ accumulator's ", rows, " rows do not fit a TMA coordinate");
  constexpr auto kBytes = static_cast<cuuint64_t>(sizeof(float));
  const auto head = static_cast<cuuint64_t>(channels) * kBytes;
  return encode_row_clipped_map(CU_TENSOR_MAP_DATA_TYPE_FLOAT32, data,
                                static_cast<cuuint64_t>(rows), static_cast<cuuint64_t>(heads),
                                static_cast<cuuint64_t>(channels), head * heads, head, 32,
                                box_rows, "the dQ accumulator");
}

//! A packed [rows, heads, head_dim] tensor of 16-bit elements seen in boxes of `box_rows`
//! rows x 64 channels of one head (the 128-byte swizzle, swizzled_tile's blocks; `RowBytes`
//! 32: 16 channels, the 32-byte swizzle, swizzled_tile<..., 32>'s blocks) whose rows
//! stop at the end of the box's segment (encode_row_clipped_map): the copy engine zero-fills
//! a box's rows past the segment, as it does past a tensor, so a tile never holds a
//! neighbour's tokens (whose inf or NaN would turn 0 x v into NaN) and a segment's last tile
//! needs no masking copy. (sm90/tma_load.cuh issues it.) Such a box costs DRAM reads beyond
//! its rows (~768 bytes, H100): the short tile's boxes end on their rows instead, and its
//! warps zero V's rows past the keys (sm90/short_tile.cuh).
struct segment_map {
  CUtensorMap map;
  int32_t rows;       //!< the tensor's rows (coordinates are relative to it)
  int32_t head_step;  //!< 1, or 0 when every head reads the same elements (head_stride 0)
};

//! `pack` > 1 (RowBytes 128): boxes of box_rows / pack tokens x `pack` heads
//! (encode_head_packed_map), a packed tile's Q; it needs distinct heads (head_stride > 0).
template <int RowBytes = 128, class Element>
segment_map make_segment_map(const packed_view<const Element>& view, int box_rows, const char* what,
                             int pack = 1) {
  static_assert(std::is_same_v<Element, __half> || std::is_same_v<Element, __nv_bfloat16>,
                "16-bit elements");
  static_assert(RowBytes == 128 || RowBytes == 32, "the 128- or 32-byte swizzle's blocks");
  segment_map m{};
  if (view.rows <= 0 || view.heads <= 0) return m;  // no tile loads from it
  if (view.rows >= INT32_MAX) fail(what, ".rows = ", view.rows, " does not fit a TMA coordinate");
  constexpr auto kBytes = static_cast<cuuint64_t>(sizeof(Element));
  const bool shared_heads = view.head_stride == 0;  // a zero stride: one head's extent
  const cuuint64_t token = static_cast<cuuint64_t>(view.token_stride) * kBytes;
  constexpr CUtensorMapDataType kType = std::is_same_v<Element, __half>
                                            ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                            : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  if (pack > 1) {
    if (RowBytes != 128) fail(what, ": a GQA-packed map is encoded with 128-byte rows only");
    // validate() refuses such a q before any launch (validate_packed_q, the user's message);
    // a box of `pack` heads cannot read one head's memory `pack` times.
    if (shared_heads) fail(what, ".head_stride = 0 reached a GQA-packed map past validate()");
    m.map = encode_head_packed_map(
        kType, view.data, static_cast<cuuint64_t>(view.rows), static_cast<cuuint64_t>(view.heads),
        static_cast<cuuint64_t>(view.head_dim), token, view.head_stride * kBytes,
        RowBytes / sizeof(Element), pack, box_rows / pack, what);
  } else {
    m.map = encode_row_clipped_map(
        kType, view.data, static_cast<cuuint64_t>(view.rows),
        shared_heads ? 1u : static_cast<cuuint64_t>(view.heads),
        static_cast<cuuint64_t>(view.head_dim), token,
        shared_heads ? token : view.head_stride * kBytes,
        static_cast<cuuint32_t>(RowBytes / sizeof(Element)), box_rows, what,
        RowBytes == 32 ? CU_TENSOR_MAP_SWIZZLE_32B : CU_TENSOR_MAP_SWIZZLE_128B);
  }
  m.rows = static_cast<int32_t>(view.rows);
  m.head_step = shared_heads ? 0 : 1;
  return m;
}

}  // namespace varattn::detail::sm90
