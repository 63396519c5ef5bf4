// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file options.hpp
//! What the attention computes, beyond q, k and v.

#include <cstdint>
#include <optional>

namespace varattn {

//! Options of one attention call.
//!
//! Causal masking is aligned bottom-right, as in FlashAttention 2.1+: in a segment with
//! `len_q` queries and `len_k` keys, query i sees key j iff `j <= i + len_k - len_q`.
//! A query row that sees no key at all (causal with len_q > len_k, or len_k = 0) is
//! written as zeros.
struct attention_options {
  bool causal = false;
  //! Multiplies q·k before the softmax; positive and finite; default 1 / sqrt(head_dim).
  std::optional<float> scale{};
};

//! Head counts and head dimension; q heads are grouped over kv heads (GQA / MQA):
//! q head h reads kv head h / (heads_q / heads_kv).
struct attention_shape {
  int32_t heads_q = 0;
  int32_t heads_kv = 0;
  int32_t head_dim = 0;
};

}  // namespace varattn
