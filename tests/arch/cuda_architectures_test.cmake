# SPDX-License-Identifier: Apache-2.0
# The configure-time check's reading of CUDA_ARCHITECTURES lists, without a project:
#   cmake -DVARATTN_SOURCE_DIR=<repo> -P tests/arch/cuda_architectures_test.cmake
include("${VARATTN_SOURCE_DIR}/cmake/varattnCudaArchitectures.cmake")

# expect(<entries flagged below sm_80, joined by "|"> <architectures...>)
function(expect expected)
  _varattn_cuda_architectures_below_sm80(below ${ARGN})
  list(JOIN below "|" below)
  if(NOT below STREQUAL expected)
    message(SEND_ERROR "\"${ARGN}\": flagged \"${below}\", expected \"${expected}\"")
  endif()
endfunction()

expect("" 80)
expect("" 80 90a)
expect("" 80-real 90a-virtual 100f 120a-real 86)
expect("75" 75)
expect("75-real" 75-real 80)
expect("70|75-virtual" 70 75-virtual 90a)
expect("52" 52)
expect("all (nvcc's list starts below sm_80)" all)
expect("all-major (nvcc's list starts below sm_80)" all-major)
expect("" "$<$<CONFIG:Debug>:80>")  # left to nvcc and the compile-time guard
set(CMAKE_CUDA_ARCHITECTURES_NATIVE "75-real")
expect("native (this machine's GPU: 75-real)" native)
set(CMAKE_CUDA_ARCHITECTURES_NATIVE "90-real")
expect("" native)
set(CMAKE_CUDA_ARCHITECTURES_NATIVE "")
expect("" native)  # not detected: nothing to check here
message(STATUS "cuda_architectures_test: done")
