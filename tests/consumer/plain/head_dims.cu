// SPDX-License-Identifier: Apache-2.0
// No build system: the head dims from the command line (tests/consumer/run.sh passes
// -DVARATTN_HEAD_DIMS=64\,128 to nvcc and 64,128 to g++) or from a varattn/config.hpp on the
// include path (what the Python package's build writes).
#include <varattn/head_dims.hpp>

static_assert(varattn::head_dims::contains(64) && varattn::head_dims::contains(128) &&
                  !varattn::head_dims::contains(80),
              "the head dims 64 and 128 must arrive as two values");

int main() { return 0; }
