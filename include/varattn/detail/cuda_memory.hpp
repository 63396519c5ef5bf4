// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file cuda_memory.hpp
//! Sole ownership of device memory, pinned host memory and events (a plan is move-only: one
//! owner frees each allocation once, after which nothing refers to it).

#include <varattn/error.hpp>

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace varattn::detail {

struct device_free {
  void operator()(void* p) const noexcept { cudaFree(p); }
};
struct pinned_free {
  void operator()(void* p) const noexcept { cudaFreeHost(p); }
};
struct event_destroy {
  void operator()(cudaEvent_t e) const noexcept { cudaEventDestroy(e); }
};

template <class T>
using device_ptr = std::unique_ptr<T[], device_free>;
template <class T>
using pinned_ptr = std::unique_ptr<T[], pinned_free>;
using event_ptr = std::unique_ptr<CUevent_st, event_destroy>;

//! Bytes of `count` elements of T, or a varattn::error if that overflows size_t.
template <class T>
std::size_t array_bytes(std::size_t count, const char* what) {
  if (count > SIZE_MAX / sizeof(T)) fail(what, ": ", count, " elements overflow size_t bytes");
  return count * sizeof(T);
}

template <class T>
device_ptr<T> make_device_array(std::size_t count) {
  void* p = nullptr;
  VARATTN_CUDA_CHECK(cudaMalloc(&p, array_bytes<T>(count, "device allocation")));
  return device_ptr<T>(static_cast<T*>(p));
}

template <class T>
pinned_ptr<T> make_pinned_array(std::size_t count) {
  void* p = nullptr;
  VARATTN_CUDA_CHECK(cudaMallocHost(&p, array_bytes<T>(count, "pinned allocation")));
  return pinned_ptr<T>(static_cast<T*>(p));
}

inline event_ptr make_event() {
  cudaEvent_t e = nullptr;
  VARATTN_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return event_ptr(e);
}

//! An upload from pinned host memory that may still be in flight, and the event recorded
//! after it. Freeing the source first waits for that event (a host wait only if the copy has
//! not run yet), so the copy never reads freed memory; forwards wait on the event instead.
class pinned_upload {
 public:
  pinned_upload() = default;
  pinned_upload(pinned_ptr<int32_t> source, event_ptr done)
      : source_(std::move(source)), done_(std::move(done)) {}
  pinned_upload(pinned_upload&&) noexcept = default;
  pinned_upload& operator=(pinned_upload&& other) noexcept {
    if (this != &other) {
      wait();
      source_ = std::move(other.source_);
      done_ = std::move(other.done_);
    }
    return *this;
  }
  ~pinned_upload() { wait(); }

  explicit operator bool() const { return done_ != nullptr; }
  cudaEvent_t event() const { return done_.get(); }

 private:
  void wait() noexcept {
    if (done_) (void)cudaEventSynchronize(done_.get());
  }
  pinned_ptr<int32_t> source_;
  event_ptr done_;
};

}  // namespace varattn::detail
