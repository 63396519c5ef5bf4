// SPDX-License-Identifier: Apache-2.0
// Compiled for sm_75 by compile_below_sm80.cmake: must stop at varattn's guard, not in ptxas.
#include <varattn/varattn.hpp>

int main() { return 0; }
