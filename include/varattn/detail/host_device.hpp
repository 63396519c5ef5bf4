// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file host_device.hpp
//! Marks functions that the host (plans, work lists) and the kernels share; a plain C++
//! compiler sees ordinary inline functions.

#if defined(__CUDACC__)
#define VARATTN_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define VARATTN_HOST_DEVICE inline
#endif
