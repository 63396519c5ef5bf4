// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared by the stub tests: a scope that starts each test with an empty call record and ends
// it by checking that everything allocated inside it was freed exactly once.
#include "cuda_stub.hpp"

#include <doctest/doctest.h>

#include <cstddef>
#include <string>

namespace stub {

//! Declare first in a test case, so that it is destroyed after every plan of the test.
class clean_scope {
 public:
  clean_scope() { reset(); }
  clean_scope(const clean_scope&) = delete;
  clean_scope& operator=(const clean_scope&) = delete;
  ~clean_scope() {
    CHECK(live_device() == device_);
    CHECK(live_pinned() == pinned_);
    CHECK(live_events() == events_);
    for (std::size_t i = errors_; i < errors().size(); ++i) FAIL_CHECK(errors()[i]);
  }

 private:
  std::size_t device_ = live_device();
  std::size_t pinned_ = live_pinned();
  std::size_t events_ = live_events();
  std::size_t errors_ = errors().size();
};

inline std::size_t count(call_kind kind) { return calls_of(kind).size(); }

}  // namespace stub
