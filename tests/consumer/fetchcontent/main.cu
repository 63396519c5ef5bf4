// SPDX-License-Identifier: Apache-2.0
// FetchContent consumer: VARATTN_HEAD_DIMS=128 set by the parent project reaches nvcc.
#include <varattn/varattn.hpp>

static_assert(varattn::head_dims::contains(128) && !varattn::head_dims::contains(64),
              "VARATTN_HEAD_DIMS=128 must reach the CUDA compiler");

#include "../consumer_main.cuh"
