// SPDX-License-Identifier: Apache-2.0
// find_package consumer: the head dims an installed varattn was configured for ("64;128").
#include <varattn/varattn.hpp>

static_assert(varattn::head_dims::contains(64) && varattn::head_dims::contains(128) &&
                  !varattn::head_dims::contains(80),
              "VARATTN_HEAD_DIMS=64,128 must reach nvcc as two values");

#include "../consumer_main.cuh"
