# SPDX-License-Identifier: Apache-2.0
# Compiles below_sm80.cu for sm_75 and expects nvcc to fail with the guard's one message
# (detail/arch_guard.cuh) and nothing from ptxas:
#   cmake -DNVCC=... [-DHOST_COMPILER=...] -DINCLUDE_DIR=... -DGENERATED_INCLUDE_DIR=...
#         -DSOURCE=... -DWORK_DIR=... -P compile_below_sm80.cmake
set(command "${NVCC}")
if(HOST_COMPILER)
  list(APPEND command -ccbin "${HOST_COMPILER}")
endif()
list(APPEND command "-I${INCLUDE_DIR}" "-I${GENERATED_INCLUDE_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
list(APPEND command -std=c++17 -arch=sm_75 -c "${SOURCE}" -o "${WORK_DIR}/below_sm80.o")
execute_process(COMMAND ${command} RESULT_VARIABLE status OUTPUT_VARIABLE output
                ERROR_VARIABLE output)
string(REGEX MATCHALL "\n" newlines "${output}")
list(LENGTH newlines lines)
message(STATUS "nvcc -arch=sm_75 exited with ${status}, ${lines} lines:\n${output}")

set(expected "varattn's kernels need sm_80 or newer \\(compiling for sm_75\\)")
if(status EQUAL 0)
  message(FATAL_ERROR "nvcc compiled varattn.hpp for sm_75; the guard did not stop it")
elseif(NOT output MATCHES "${expected}")
  message(FATAL_ERROR "nvcc failed without the guard's message")
elseif(output MATCHES "ptxas" OR lines GREATER 10)
  message(FATAL_ERROR "more than the guard's message: ${lines} lines")
endif()
