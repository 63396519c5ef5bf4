// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file device_segments.hpp
//! Reading a device `cu_seqlens` into a host segment table: the one place in varattn that
//! waits on the device, and it says so in its name.

#include <varattn/error.hpp>
#include <varattn/segments.hpp>

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace varattn {

//! A pointer to device memory and a length: marks a span the host must not dereference.
template <class T>
struct device_span {
  T* data = nullptr;
  std::size_t size = 0;
};

//! Owns a pinned staging buffer and an event, reused across reads. One reader per thread
//! (or per stream); not thread-safe.
class segment_reader {
 public:
  segment_reader() = default;
  segment_reader(const segment_reader&) = delete;
  segment_reader& operator=(const segment_reader&) = delete;
  segment_reader(segment_reader&& other) noexcept { swap(other); }
  segment_reader& operator=(segment_reader&& other) noexcept {
    swap(other);
    return *this;
  }
  ~segment_reader() {
    if (pinned_ != nullptr) cudaFreeHost(pinned_);
    if (ready_ != nullptr) cudaEventDestroy(ready_);
  }

  //! Copies `cu_seqlens` (device, int32, segments + 1 entries, at most kMaxOffsets) to the
  //! host with exactly one cudaMemcpyAsync on `stream` into the reused pinned buffer, waits
  //! for that copy alone (an event recorded after it; never a device-wide sync), and
  //! validates the offsets. A span rejected here makes no CUDA call and changes nothing.
  segments read_and_wait(device_span<const int32_t> cu_seqlens, cudaStream_t stream,
                         const char* name = detail::kDefaultSegmentsName) {
    name = detail::name_or_default(name);
    if (cu_seqlens.data == nullptr) detail::fail(name, " is a null pointer");
    if (cu_seqlens.size == 0) detail::fail(name, " is empty: it needs at least one offset (0)");
    // Before reserve(): the byte counts below then cannot overflow.
    detail::check_offset_count(name, cu_seqlens.size);
    reserve(cu_seqlens.size);
    VARATTN_CUDA_CHECK(cudaMemcpyAsync(pinned_, cu_seqlens.data,
                                       cu_seqlens.size * sizeof(int32_t),
                                       cudaMemcpyDeviceToHost, stream));
    VARATTN_CUDA_CHECK(cudaEventRecord(ready_, stream));
    VARATTN_CUDA_CHECK(cudaEventSynchronize(ready_));
    return segments::from_host(pinned_, cu_seqlens.size, name);
  }

  //! Entries the pinned buffer holds without growing.
  std::size_t capacity() const { return capacity_; }

 private:
  //! `count` <= kMaxOffsets. capacity_ is always that of the buffer held: the new buffer is
  //! allocated before the old one is released, so a failed allocation changes nothing.
  void reserve(std::size_t count) {
    if (ready_ == nullptr) {
      VARATTN_CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
    }
    if (count <= capacity_) return;
    // Grow geometrically so that a slowly growing batch does not re-pin every call; never
    // past kMaxOffsets (8 GiB), so the byte count fits any 64-bit size_t.
    std::size_t grown = capacity_ > kMaxOffsets / 2 ? kMaxOffsets : capacity_ * 2;
    if (grown < count) grown = count;
    if (grown < 1024) grown = 1024;
    int32_t* fresh = nullptr;
    VARATTN_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&fresh), grown * sizeof(int32_t)));
    int32_t* old = pinned_;
    pinned_ = fresh;
    capacity_ = grown;
    if (old != nullptr) VARATTN_CUDA_CHECK(cudaFreeHost(old));
  }
  void swap(segment_reader& other) noexcept {
    std::swap(pinned_, other.pinned_);
    std::swap(capacity_, other.capacity_);
    std::swap(ready_, other.ready_);
  }

  int32_t* pinned_ = nullptr;
  std::size_t capacity_ = 0;
  cudaEvent_t ready_ = nullptr;
};

}  // namespace varattn
