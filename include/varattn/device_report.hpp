// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file device_report.hpp
//! What the device found wrong with offsets only it reads (a plan built on the device), kept
//! in pinned host memory that the device writes and the host reads without any wait.

#include <varattn/error.hpp>

#include <atomic>
#include <cstdint>
#include <string>

namespace varattn {

//! The first invalid offset a build_on_device kernel met. Lives in pinned (page-locked) host
//! memory: with unified addressing (every platform CUDA 13 supports) the device writes it
//! through the host pointer. The device writes the fields, fences, then `code`; it writes
//! only while `code` is 0, so the first failure is kept until the host takes it.
struct device_report {
  enum : int32_t {
    kNone = 0,
    kFirstNotZero = 1,  //!< offsets[0] != 0
    kDecreasing = 2,    //!< offsets[index] < offsets[index - 1]
    kLastMismatch = 3,  //!< offsets[segments] != rows
  };
  volatile int32_t code;
  int32_t array;  //!< 0: cu_seqlens_q, 1: cu_seqlens_k
  int32_t index;  //!< the offending entry
  int32_t value;  //!< its value
  int32_t bound;  //!< what it was compared with: the previous offset, or the rows
};

namespace detail {

inline std::string report_message(const device_report& r) {
  const char* name = r.array == 0 ? "cu_seqlens_q" : "cu_seqlens_k";
  const char* rows = r.array == 0 ? "rows_q" : "rows_k";
  std::string m = std::string(name) + "[" + std::to_string(r.index) + "] = " +
                  std::to_string(r.value);
  switch (r.code) {
    case device_report::kFirstNotZero: return m + " != 0";
    case device_report::kDecreasing:
      return m + " < " + name + "[" + std::to_string(r.index - 1) + "] = " +
             std::to_string(r.bound);
    case device_report::kLastMismatch:
      return m + " != " + rows + " = " + std::to_string(r.bound) + " (the rows of " +
             (r.array == 0 ? "q" : "k and v") + ")";
    default: return m + ": unknown device report code " + std::to_string(r.code);
  }
}

}  // namespace detail

//! Takes the report (clears it for the next failure) and throws varattn::error with its
//! message, prefixed "device offsets rejected (every output element of that forward is NaN): ";
//! does nothing if the device reported nothing.
//! A read of pinned memory: no CUDA call, no wait. A build still in flight reports later.
inline void raise_device_report(device_report* report) {
  if (report == nullptr || report->code == device_report::kNone) return;
  std::atomic_thread_fence(std::memory_order_acquire);  // the fields were written before code
  const device_report taken{report->code, report->array, report->index, report->value,
                            report->bound};
  report->code = device_report::kNone;
  detail::fail("device offsets rejected (every output element of that forward is NaN): ",
               detail::report_message(taken));
}

}  // namespace varattn
