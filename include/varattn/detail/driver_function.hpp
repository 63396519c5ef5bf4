// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file driver_function.hpp
//! A CUDA driver API function found through the runtime's entry-point query, so that varattn
//! needs no link to libcuda (the runtime already loaded it).

#include <varattn/error.hpp>

#include <cuda.h>
#include <cuda_runtime.h>

namespace varattn::detail {

//! The driver's `symbol` (its CUDA 12.0 ABI) as a `Function` pointer; throws if the driver
//! lacks it. Callers keep the result in a function-local static: one query a process.
template <class Function>
Function driver_function(const char* symbol) {
  void* function = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  VARATTN_CUDA_CHECK(
      cudaGetDriverEntryPointByVersion(symbol, &function, 12000, cudaEnableDefault, &found));
  if (function == nullptr || found != cudaDriverEntryPointSuccess) {
    fail("the CUDA driver does not provide ", symbol);
  }
  return reinterpret_cast<Function>(function);
}

//! Throws unless a driver call succeeded: "CUDA driver error <status> in <call><detail...>".
template <class... Detail>
void check_driver(CUresult status, const char* call, const Detail&... detail) {
  if (status != CUDA_SUCCESS) {
    fail("CUDA driver error ", static_cast<int>(status), " in ", call, detail...);
  }
}

}  // namespace varattn::detail
