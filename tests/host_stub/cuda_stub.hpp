// SPDX-License-Identifier: Apache-2.0
#pragma once
// A link-time stand-in for the CUDA runtime (cuda_runtime_stub.cpp): the host stub tests link
// it instead of libcudart, so the CUDA calls a plan makes are recorded and checked without a
// GPU. Device and pinned memory are malloc-backed (readable on the host); copies happen at once.
// The device is one GPU of a configurable compute capability (default 8.0), or none.

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace stub {

enum class call_kind {
  malloc,
  free,
  malloc_host,
  free_host,
  memcpy_async,
  event_create,
  event_destroy,
  event_record,
  event_synchronize,
  stream_wait_event,
  stream_is_capturing,
  stream_capture_info,
  stream_synchronize,
};

//! One runtime call; fields a call does not have stay zero.
struct call {
  call_kind kind;
  cudaError_t result = cudaSuccess;
  void* ptr = nullptr;        // allocations and frees: the pointer; memcpy: dst
  const void* src = nullptr;  // memcpy
  std::size_t bytes = 0;      // allocations and memcpy
  cudaMemcpyKind copy_kind = cudaMemcpyDefault;
  cudaStream_t stream = nullptr;
  cudaEvent_t event = nullptr;
  unsigned flags = 0;  // event create and stream wait
};

//! Every call since the last reset(), in order. Device queries (cudaGetDevice,
//! cudaDeviceGetAttribute) are not recorded here, only counted (device_reads()): they do no
//! stream or memory work, and a plan may make them before anything else.
const std::vector<call>& calls();
std::vector<call> calls_of(call_kind kind);

//! Clears the record, pending failures and the capture status; live allocations are kept
//! (objects still alive own them), and so is the error log.
void reset();

//! The next call of `kind`, after `skip` more that succeed, returns `status` (and allocates or
//! copies nothing).
void fail_next(call_kind kind, cudaError_t status = cudaErrorMemoryAllocation, int skip = 0);
inline void fail_next_malloc() { fail_next(call_kind::malloc); }

//! What cudaStreamIsCapturing and cudaStreamGetCaptureInfo report for every stream (the
//! latter with `capture_id` as the capture's id).
void set_capturing(bool capturing, unsigned long long capture_id = 1);

//! The compute capability cudaDeviceGetAttribute reports for device 0 (reset(): 8.0).
void set_compute_capability(int major, int minor);
//! No device (reset(): there is one): cudaGetDevice fails with cudaErrorNoDevice, which, as
//! in the real runtime, stays the last error until cudaGetLastError() reads it.
void set_no_device();
//! The device cudaGetDevice reports (reset(): 0). Attributes are modelled for device 0 only.
void set_current_device(int device);
//! The static shared memory cudaFuncGetAttributes reports for any function while `device` is
//! current (reset(): 0 on every device, i.e. a kernel's empty stub); its calls since reset().
void set_function_static_smem(int device, std::size_t bytes);
std::size_t function_reads();
//! cudaGetDevice calls and cudaDeviceGetAttribute calls since the last reset().
std::size_t device_reads();
std::size_t attribute_reads();
//! The error cudaPeekAtLastError() reports now (cudaSuccess once cudaGetLastError() cleared it).
cudaError_t last_error();

std::size_t live_device();
std::size_t live_pinned();
std::size_t live_events();

//! Misuses seen since the program started: a free of a pointer not allocated or already
//! freed, a copy outside live allocations, a use of a destroyed event. Must stay empty.
const std::vector<std::string>& errors();

//! True if [ptr, ptr + bytes) lies inside one live pinned allocation.
bool is_pinned(const void* ptr, std::size_t bytes);

//! Distinct fake handles for tests (never dereferenced).
inline cudaStream_t fake_stream(int n) {
  return reinterpret_cast<cudaStream_t>(static_cast<std::uintptr_t>(0x5000 + 0x10 * n));
}

}  // namespace stub
