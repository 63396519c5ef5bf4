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

//! The same, for a rarely taken path kept out of line on the device (its registers, local
//! memory and code stay out of the common path it branches from).
#if defined(__CUDACC__)
#define VARATTN_HOST_DEVICE_OUT_OF_LINE __host__ __device__ __noinline__
#else
#define VARATTN_HOST_DEVICE_OUT_OF_LINE inline
#endif

//! Before a host-and-device template that calls the callables it is given (the work-list
//! walkers, work_list.hpp): the host passes host lambdas, which nvcc's execution-space check
//! would flag in the template's device instantiation that never runs them.
#if defined(__CUDACC__)
#define VARATTN_EXEC_CHECK_DISABLE _Pragma("nv_exec_check_disable")
#else
#define VARATTN_EXEC_CHECK_DISABLE
#endif

//! Keeps the loop after it rolled in device code. Host compilers do not know the pragma (g++
//! warns, and -Werror=unknown-pragmas fails a user's build), so they get nothing.
#if defined(__CUDA_ARCH__)
#define VARATTN_DEVICE_NO_UNROLL _Pragma("unroll 1")
#else
#define VARATTN_DEVICE_NO_UNROLL
#endif
