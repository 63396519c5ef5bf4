# SPDX-License-Identifier: Apache-2.0
# varattn's kernels use sm_80 instructions (bf16 mma.sync, cp.async, ldmatrix): a build for an
# older architecture fails in ptxas, thousands of lines per translation unit. These checks stop
# the configure first, with one message. Included by varattn's CMakeLists.txt (so available
# after FetchContent / add_subdirectory) and by the installed varattnConfig.cmake.
#
#   varattn_check_cuda_architectures(<target>...)
#     Fails the configure if a target's CUDA_ARCHITECTURES (read at the end of the calling
#     directory, so a property set after the call counts) names an architecture below sm_80.
#   varattn_check_cuda_architectures()
#     The same check on CMAKE_CUDA_ARCHITECTURES, at once.
include_guard(GLOBAL)

# Sets <out> to the entries of a CUDA_ARCHITECTURES list that compile below sm_80. Entries are
# "86", "90a", "100f", each optionally "-real"/"-virtual"; "all" and "all-major" include nvcc's
# oldest architecture (sm_75 on CUDA 13); "native" is what CMake detected, if it did.
# Generator expressions and unknown words are left to nvcc.
function(_varattn_cuda_architectures_below_sm80 out)
  set(below "")
  foreach(entry IN LISTS ARGN)
    if(entry MATCHES "^([0-9]+)[a-z]?(-real|-virtual)?$")
      if(CMAKE_MATCH_1 LESS 80)
        list(APPEND below "${entry}")
      endif()
    elseif(entry STREQUAL "all" OR entry STREQUAL "all-major")
      list(APPEND below "${entry} (nvcc's list starts below sm_80)")
    elseif(entry STREQUAL "native" AND CMAKE_CUDA_ARCHITECTURES_NATIVE)
      _varattn_cuda_architectures_below_sm80(native_below ${CMAKE_CUDA_ARCHITECTURES_NATIVE})
      if(native_below)
        list(JOIN native_below ", " native_below)
        list(APPEND below "native (this machine's GPU: ${native_below})")
      endif()
    endif()
  endforeach()
  set(${out} "${below}" PARENT_SCOPE)
endfunction()

# Fails with one message if <architectures> (described by <what>) names one below sm_80.
function(_varattn_require_sm80 what architectures)
  _varattn_cuda_architectures_below_sm80(below ${architectures})
  if(below)
    list(JOIN below ", " below)
    message(FATAL_ERROR
      "varattn's kernels need sm_80 or newer; ${what} (\"${architectures}\") includes "
      "${below}. Set it to 80 or later, for example 80, or \"80;90a\" to add the Hopper "
      "kernel (without a value, nvcc 13 compiles for sm_75).")
  endif()
endfunction()

# The deferred half of varattn_check_cuda_architectures(<target>): runs at the end of the
# directory that called it.
function(_varattn_check_target_cuda_architectures target)
  get_target_property(architectures ${target} CUDA_ARCHITECTURES)
  if(NOT architectures)
    # Unset or OFF: CMake passes no architecture flag, so check those in the CUDA flags.
    get_target_property(options ${target} COMPILE_OPTIONS)
    string(REGEX MATCHALL "(sm|compute)_[0-9]+" named "${CMAKE_CUDA_FLAGS} ${options}")
    list(TRANSFORM named REPLACE "^[a-z]+_" "")
    list(REMOVE_DUPLICATES named)
    if(NOT named)
      return()  # nothing to read here; the compile-time guard in varattn's headers remains
    endif()
    _varattn_require_sm80("the CUDA flags of target ${target}" "${named}")
    return()
  endif()
  _varattn_require_sm80("target ${target}'s CUDA_ARCHITECTURES" "${architectures}")
endfunction()

function(varattn_check_cuda_architectures)
  if(ARGC EQUAL 0)
    _varattn_require_sm80("CMAKE_CUDA_ARCHITECTURES" "${CMAKE_CUDA_ARCHITECTURES}")
    return()
  endif()
  foreach(target IN LISTS ARGN)
    if(NOT TARGET ${target})
      message(FATAL_ERROR "varattn_check_cuda_architectures: ${target} is not a target")
    endif()
    # EVAL bakes the name in: a deferred call's arguments are otherwise read when it runs.
    cmake_language(EVAL CODE
      "cmake_language(DEFER CALL _varattn_check_target_cuda_architectures [[${target}]])")
  endforeach()
endfunction()
