// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file error.hpp
//! The one exception type varattn throws, and the CUDA-call check that raises it.

#include <cuda_runtime_api.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace varattn {

//! Thrown for invalid arguments (before any launch, nothing written) and for failed CUDA
//! calls (the message then carries CUDA's error string and the call that failed).
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

// Messages are built with std::to_string and snprintf, never iostreams: a PyTorch extension
// built with nvcc crashed (SIGSEGV, a virtual call landing on the wrong locale facet) when it
// streamed an integer into an ostringstream (examples/pytorch, H100 machine, 2026-11-24).
inline void append(std::string& out, const char* text) { out += text != nullptr ? text : "(null)"; }
inline void append(std::string& out, const std::string& text) { out += text; }
template <class T>
void append(std::string& out, const T& value) {
  char buffer[40];
  if constexpr (std::is_same_v<T, bool>) {
    out += value ? "true" : "false";
    return;
  } else if constexpr (std::is_integral_v<T>) {
    out += std::to_string(value);
    return;
  } else if constexpr (std::is_floating_point_v<T>) {
    std::snprintf(buffer, sizeof(buffer), "%g", static_cast<double>(value));
  } else {
    static_assert(std::is_pointer_v<T>, "varattn::detail::fail formats text, numbers, pointers");
    std::snprintf(buffer, sizeof(buffer), "%p", static_cast<const void*>(value));
  }
  out += buffer;
}

//! Throws varattn::error with the parts joined: fail("q.heads = ", 3, " ...").
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::string message;
  (append(message, parts), ...);
  throw error(message);
}

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) {
    fail("CUDA error: ", cudaGetErrorString(status), " (", cudaGetErrorName(status), ") in ",
         call, " at ", file, ":", line);
  }
}

}  // namespace detail
}  // namespace varattn

//! Throws varattn::error if a CUDA runtime call does not return cudaSuccess.
#define VARATTN_CUDA_CHECK(call) ::varattn::detail::check_cuda((call), #call, __FILE__, __LINE__)

