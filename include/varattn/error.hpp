#pragma once
//! \file error.hpp
//! The one exception type varattn throws, and the CUDA-call check that raises it.

#include <cuda_runtime_api.h>

#include <sstream>
#include <stdexcept>
#include <string>

namespace varattn {

//! Thrown for invalid arguments (before any launch, nothing written) and for failed CUDA
//! calls (the message then carries CUDA's error string and the call that failed).
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

//! Builds a message from streamable parts: fail("q.heads = ", 3, " ...").
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  throw error(out.str());
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

//! Checks the launch just made: configuration errors and errors left by earlier work.
#define VARATTN_CHECK_LAUNCH() VARATTN_CUDA_CHECK(cudaGetLastError())
