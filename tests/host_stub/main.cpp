// SPDX-License-Identifier: Apache-2.0
// doctest's main, then a check over the whole run: a leak or a bad free anywhere, even
// outside a test's clean_scope, fails the program.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "cuda_stub.hpp"

#include <cstdio>

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit()) return result;
  bool clean = stub::errors().empty();
  for (const std::string& e : stub::errors()) std::fprintf(stderr, "CUDA stub: %s\n", e.c_str());
  if (stub::live_device() != 0 || stub::live_pinned() != 0 || stub::live_events() != 0) {
    std::fprintf(stderr, "CUDA stub: leaked %zu device, %zu pinned allocations, %zu events\n",
                 stub::live_device(), stub::live_pinned(), stub::live_events());
    clean = false;
  }
  return clean ? result : 1;
}
