// SPDX-License-Identifier: Apache-2.0
// The CUDA runtime functions varattn's host code calls, defined here instead of in libcudart.
// Defined after including cuda_runtime_api.h, so the compiler checks each signature against
// the header and any macro renaming (per-thread default stream: cudaMemcpyAsync_ptsz) applies
// to the definitions exactly as to the calls.
#include "cuda_stub.hpp"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace stub {
namespace {

// cudaMalloc returns 256-byte aligned memory; kernels and varattn's checks rely on it.
constexpr std::size_t kAlignment = 256;
// New memory holds this pattern, not zeros, so a test sees what the library failed to write.
constexpr unsigned char kFill = 0xA5;

struct failure {
  cudaError_t status;
  int skip;  // calls of the kind that still succeed first
};

struct state {
  std::vector<call> calls;
  std::map<call_kind, failure> pending;
  bool capturing = false;
  unsigned long long capture_id = 0;
  std::map<std::uintptr_t, std::size_t> device;  // live allocations: begin -> bytes
  std::map<std::uintptr_t, std::size_t> pinned;
  std::set<cudaEvent_t> events;
  std::vector<std::string> errors;
  // The device: one of this compute capability, or none.
  bool has_device = true;
  int current_device = 0;
  int major = 8, minor = 0;
  std::map<int, std::size_t> static_smem;  // device -> cudaFuncGetAttributes' sharedSizeBytes
  std::size_t device_reads = 0, attribute_reads = 0, function_reads = 0;
  cudaError_t last_error = cudaSuccess;  // sticky until cudaGetLastError
};

// Function-local: valid whatever the order of static initialisation of the tests.
state& s() {
  static state instance;
  return instance;
}

std::string pointer_text(const void* p) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%p", p);
  return buffer;
}

// Records the call; returns the failure queued for its kind, if any (then it has no effect).
cudaError_t begin(call c) {
  cudaError_t result = cudaSuccess;
  const auto it = s().pending.find(c.kind);
  if (it != s().pending.end() && it->second.skip-- == 0) {
    result = it->second.status;
    s().pending.erase(it);
  }
  c.result = result;
  s().calls.push_back(c);
  return result;
}

cudaError_t misuse(const std::string& what, cudaError_t status) {
  s().errors.push_back(what);
  s().calls.back().result = status;
  return status;
}

bool inside(const std::map<std::uintptr_t, std::size_t>& live, const void* ptr,
            std::size_t bytes) {
  const auto p = reinterpret_cast<std::uintptr_t>(ptr);
  auto it = live.upper_bound(p);
  if (it == live.begin()) return false;
  --it;
  return p >= it->first && bytes <= it->second && p - it->first <= it->second - bytes;
}

cudaError_t allocate(std::map<std::uintptr_t, std::size_t>& live, void** out, std::size_t size) {
  if (out == nullptr) return misuse("allocation into a null pointer", cudaErrorInvalidValue);
  // Like CUDA: zero bytes give a null pointer and success.
  if (size == 0) {
    *out = nullptr;
    return cudaSuccess;
  }
  const std::size_t rounded = (size + kAlignment - 1) / kAlignment * kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  if (p == nullptr) return misuse("host malloc failed", cudaErrorMemoryAllocation);
  std::memset(p, kFill, rounded);
  live[reinterpret_cast<std::uintptr_t>(p)] = size;
  *out = p;
  s().calls.back().ptr = p;
  return cudaSuccess;
}

cudaError_t release(std::map<std::uintptr_t, std::size_t>& live, void* p, const char* what) {
  if (p == nullptr) return cudaSuccess;
  const auto it = live.find(reinterpret_cast<std::uintptr_t>(p));
  if (it == live.end()) {
    return misuse(std::string(what) + "(" + pointer_text(p) +
                      "): not a live allocation (never allocated, or freed already)",
                  cudaErrorInvalidValue);
  }
  live.erase(it);
  std::free(p);
  return cudaSuccess;
}

bool live_event(cudaEvent_t e) { return s().events.count(e) != 0; }

}  // namespace

const std::vector<call>& calls() { return s().calls; }
std::vector<call> calls_of(call_kind kind) {
  std::vector<call> out;
  for (const call& c : s().calls) {
    if (c.kind == kind) out.push_back(c);
  }
  return out;
}
void reset() {
  s().calls.clear();
  s().pending.clear();
  s().capturing = false;
  s().capture_id = 0;
  s().has_device = true;
  s().current_device = 0;
  s().major = 8;
  s().minor = 0;
  s().static_smem.clear();
  s().device_reads = 0;
  s().attribute_reads = 0;
  s().function_reads = 0;
  s().last_error = cudaSuccess;
}
void fail_next(call_kind kind, cudaError_t status, int skip) {
  s().pending[kind] = {status, skip};
}
void set_capturing(bool capturing, unsigned long long capture_id) {
  s().capturing = capturing;
  s().capture_id = capturing ? capture_id : 0;
}
void set_compute_capability(int major, int minor) {
  s().has_device = true;
  s().major = major;
  s().minor = minor;
}
void set_no_device() { s().has_device = false; }
void set_current_device(int device) {
  s().has_device = true;
  s().current_device = device;
}
void set_function_static_smem(int device, std::size_t bytes) { s().static_smem[device] = bytes; }
std::size_t function_reads() { return s().function_reads; }
std::size_t device_reads() { return s().device_reads; }
std::size_t attribute_reads() { return s().attribute_reads; }
cudaError_t last_error() { return s().last_error; }
std::size_t live_device() { return s().device.size(); }
std::size_t live_pinned() { return s().pinned.size(); }
std::size_t live_events() { return s().events.size(); }
const std::vector<std::string>& errors() { return s().errors; }
bool is_pinned(const void* ptr, std::size_t bytes) { return inside(s().pinned, ptr, bytes); }

}  // namespace stub

using stub::call;
using stub::call_kind;

extern "C" {

cudaError_t CUDARTAPI cudaMalloc(void** devPtr, size_t size) {
  call c{call_kind::malloc};
  c.bytes = size;
  if (const cudaError_t e = stub::begin(c)) return e;
  return stub::allocate(stub::s().device, devPtr, size);
}

cudaError_t CUDARTAPI cudaFree(void* devPtr) {
  call c{call_kind::free};
  c.ptr = devPtr;
  if (const cudaError_t e = stub::begin(c)) return e;
  return stub::release(stub::s().device, devPtr, "cudaFree");
}

cudaError_t CUDARTAPI cudaMallocHost(void** ptr, size_t size) {
  call c{call_kind::malloc_host};
  c.bytes = size;
  if (const cudaError_t e = stub::begin(c)) return e;
  return stub::allocate(stub::s().pinned, ptr, size);
}

cudaError_t CUDARTAPI cudaFreeHost(void* ptr) {
  call c{call_kind::free_host};
  c.ptr = ptr;
  if (const cudaError_t e = stub::begin(c)) return e;
  return stub::release(stub::s().pinned, ptr, "cudaFreeHost");
}

cudaError_t CUDARTAPI cudaMemcpyAsync(void* dst, const void* src, size_t count,
                                      enum cudaMemcpyKind kind, cudaStream_t stream) {
  call c{call_kind::memcpy_async};
  c.ptr = dst;
  c.src = src;
  c.bytes = count;
  c.copy_kind = kind;
  c.stream = stream;
  if (const cudaError_t e = stub::begin(c)) return e;
  if (count == 0) return cudaSuccess;
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (dst == nullptr || src == nullptr) {
    return stub::misuse("cudaMemcpyAsync with a null pointer", cudaErrorInvalidValue);
  }
  if (dst_device && !stub::inside(stub::s().device, dst, count)) {
    return stub::misuse("cudaMemcpyAsync: destination " + stub::pointer_text(dst) + " + " +
                            std::to_string(count) + " bytes is not inside a device allocation",
                        cudaErrorInvalidValue);
  }
  if (src_device && !stub::inside(stub::s().device, src, count)) {
    return stub::misuse("cudaMemcpyAsync: source " + stub::pointer_text(src) + " + " +
                            std::to_string(count) + " bytes is not inside a device allocation",
                        cudaErrorInvalidValue);
  }
  // Done at once: the stub has no device, so "asynchronous" finishes before returning.
  std::memmove(dst, src, count);
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  call c{call_kind::event_create};
  c.flags = flags;
  if (const cudaError_t e = stub::begin(c)) return e;
  if (event == nullptr) {
    return stub::misuse("cudaEventCreateWithFlags(null)", cudaErrorInvalidValue);
  }
  // A distinct address per live event; CUevent_st is opaque and never dereferenced.
  *event = reinterpret_cast<cudaEvent_t>(new char);
  stub::s().events.insert(*event);
  stub::s().calls.back().event = *event;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaEventDestroy(cudaEvent_t event) {
  call c{call_kind::event_destroy};
  c.event = event;
  if (const cudaError_t e = stub::begin(c)) return e;
  if (!stub::live_event(event)) {
    return stub::misuse("cudaEventDestroy(" + stub::pointer_text(event) +
                            "): not a live event (never created, or destroyed already)",
                        cudaErrorInvalidResourceHandle);
  }
  stub::s().events.erase(event);
  delete reinterpret_cast<char*>(event);
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  call c{call_kind::event_record};
  c.event = event;
  c.stream = stream;
  if (const cudaError_t e = stub::begin(c)) return e;
  if (!stub::live_event(event)) {
    return stub::misuse("cudaEventRecord on a dead event", cudaErrorInvalidResourceHandle);
  }
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaEventSynchronize(cudaEvent_t event) {
  call c{call_kind::event_synchronize};
  c.event = event;
  if (const cudaError_t e = stub::begin(c)) return e;
  if (!stub::live_event(event)) {
    return stub::misuse("cudaEventSynchronize on a dead event", cudaErrorInvalidResourceHandle);
  }
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event,
                                          unsigned int flags) {
  call c{call_kind::stream_wait_event};
  c.stream = stream;
  c.event = event;
  c.flags = flags;
  if (const cudaError_t e = stub::begin(c)) return e;
  if (!stub::live_event(event)) {
    return stub::misuse("cudaStreamWaitEvent on a dead event", cudaErrorInvalidResourceHandle);
  }
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamIsCapturing(cudaStream_t stream,
                                            enum cudaStreamCaptureStatus* pCaptureStatus) {
  call c{call_kind::stream_is_capturing};
  c.stream = stream;
  if (const cudaError_t e = stub::begin(c)) return e;
  if (pCaptureStatus == nullptr) {
    return stub::misuse("cudaStreamIsCapturing(null)", cudaErrorInvalidValue);
  }
  *pCaptureStatus =
      stub::s().capturing ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamGetCaptureInfo(cudaStream_t stream,
                                               enum cudaStreamCaptureStatus* captureStatus_out,
                                               unsigned long long* id_out, cudaGraph_t* graph_out,
                                               const cudaGraphNode_t** dependencies_out,
                                               const cudaGraphEdgeData** edgeData_out,
                                               size_t* numDependencies_out) {
  call c{call_kind::stream_capture_info};
  c.stream = stream;
  if (const cudaError_t e = stub::begin(c)) return e;
  if (captureStatus_out == nullptr) {
    return stub::misuse("cudaStreamGetCaptureInfo(null)", cudaErrorInvalidValue);
  }
  if (graph_out != nullptr || dependencies_out != nullptr || edgeData_out != nullptr ||
      numDependencies_out != nullptr) {
    return stub::misuse("cudaStreamGetCaptureInfo: only status and id are modelled",
                        cudaErrorNotSupported);
  }
  *captureStatus_out =
      stub::s().capturing ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  if (id_out != nullptr) *id_out = stub::s().capture_id;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaStreamSynchronize(cudaStream_t stream) {
  call c{call_kind::stream_synchronize};
  c.stream = stream;
  return stub::begin(c);
}

cudaError_t CUDARTAPI cudaGetDevice(int* device) {
  ++stub::s().device_reads;
  if (device == nullptr) {
    stub::s().errors.push_back("cudaGetDevice(null)");
    return stub::s().last_error = cudaErrorInvalidValue;
  }
  if (!stub::s().has_device) return stub::s().last_error = cudaErrorNoDevice;
  *device = stub::s().current_device;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaFuncGetAttributes(struct cudaFuncAttributes* attr, const void* func) {
  ++stub::s().function_reads;
  if (attr == nullptr || func == nullptr || !stub::s().has_device) {
    stub::s().errors.push_back("cudaFuncGetAttributes without output, function or device");
    return stub::s().last_error = cudaErrorInvalidValue;
  }
  *attr = cudaFuncAttributes{};
  const auto found = stub::s().static_smem.find(stub::s().current_device);
  attr->sharedSizeBytes = found == stub::s().static_smem.end() ? 0 : found->second;
  return cudaSuccess;
}

cudaError_t CUDARTAPI cudaDeviceGetAttribute(int* value, enum cudaDeviceAttr attr, int device) {
  ++stub::s().attribute_reads;
  if (value == nullptr || !stub::s().has_device || device != 0) {
    stub::s().errors.push_back("cudaDeviceGetAttribute(" + std::to_string(int(attr)) + ", " +
                               std::to_string(device) + ") without that device or output");
    return stub::s().last_error = cudaErrorInvalidDevice;
  }
  switch (attr) {
    case cudaDevAttrComputeCapabilityMajor:
      *value = stub::s().major;
      return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor:
      *value = stub::s().minor;
      return cudaSuccess;
    default:
      // Only what varattn reads is modelled; anything else is a new query to add here.
      stub::s().errors.push_back("cudaDeviceGetAttribute(" + std::to_string(int(attr)) +
                                 "): attribute not modelled by the stub");
      return stub::s().last_error = cudaErrorInvalidValue;
  }
}

cudaError_t CUDARTAPI cudaGetLastError(void) {
  const cudaError_t e = stub::s().last_error;
  stub::s().last_error = cudaSuccess;
  return e;
}
cudaError_t CUDARTAPI cudaPeekAtLastError(void) { return stub::s().last_error; }

const char* CUDARTAPI cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    default: return "cudaErrorUnknown";
  }
}

const char* CUDARTAPI cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorStreamCaptureUnsupported:
      return "operation not permitted when stream is capturing";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    default: return "unknown error";
  }
}

}  // extern "C"
