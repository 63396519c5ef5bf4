#pragma once
//! \file cuda_memory.hpp
//! Shared ownership of device and pinned host allocations (plans are cheap to copy).

#include <varattn/error.hpp>

#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>

namespace varattn::detail {

template <class T>
std::shared_ptr<T> make_device_array(std::size_t count) {
  void* p = nullptr;
  VARATTN_CUDA_CHECK(cudaMalloc(&p, count * sizeof(T)));
  return std::shared_ptr<T>(static_cast<T*>(p), [](T* q) { cudaFree(q); });
}

template <class T>
std::shared_ptr<T> make_pinned_array(std::size_t count) {
  void* p = nullptr;
  VARATTN_CUDA_CHECK(cudaMallocHost(&p, count * sizeof(T)));
  return std::shared_ptr<T>(static_cast<T*>(p), [](T* q) { cudaFreeHost(q); });
}

}  // namespace varattn::detail
