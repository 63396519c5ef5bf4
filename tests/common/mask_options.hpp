// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file mask_options.hpp
//! The options of one mask, as the tests sweep them: causal, a window (keys before and after
//! the diagonal, -1 unbounded) and a softcap (0: none).

#include <varattn/options.hpp>

#include <cstdint>

namespace test {

inline varattn::attention_options mask_options(bool causal, int32_t left, int32_t right,
                                               float softcap = 0.0f) {
  varattn::attention_options o;
  o.causal = causal;
  o.window_left = left;
  o.window_right = right;
  o.softcap = softcap;
  return o;
}

}  // namespace test
