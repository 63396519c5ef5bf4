// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file options.hpp
//! What the attention computes, beyond q, k and v, and which kernel family may compute it.

#include <cstdint>
#include <optional>

namespace varattn {

//! The kernel family a plan runs. `automatic` takes the fastest one the device has (the
//! plan reads the device once, when it is made: on sm_90 the wgmma kernels, the tall tile for
//! tables with segments over 64 queries and the short tile for the others at head dims 64
//! and 128, whose code needs an sm_90a build, else forward throws);
//! `sm80` forces the portable mma.sync kernel (every GPU from sm_80 on: builds without
//! sm_90a code, tests and comparisons on Hopper); `sm90` the wgmma kernel (sm_90 only).
enum class kernel_family { automatic, sm80, sm90 };

//! Options of one attention call, with FlashAttention's semantics.
//!
//! In a segment with `len_q` queries and `len_k` keys, query i and key j are aligned
//! bottom-right: the diagonal is j = i + len_k - len_q. Query i sees key j iff
//!   i + (len_k - len_q) - left <= j <= i + (len_k - len_q) + right,
//! where `left = window_left` and `right = window_right` (-1: unbounded on that side), and
//! `causal` means right = min(right, 0). A query row that sees no key at all (causal with
//! len_q > len_k, a window outside the keys, len_k = 0) is written as zeros and its
//! logsumexp as -inf.
struct attention_options {
  bool causal = false;
  //! Multiplies q·k before the softmax; positive and finite; default 1 / sqrt(head_dim).
  std::optional<float> scale{};
  //! Keys a query sees before / after its diagonal; -1 = unbounded (the default: full
  //! attention), 0 or more bounds that side. (-1, 0) is causal; (w - 1, 0) Mistral's window.
  int32_t window_left = -1;
  int32_t window_right = -1;
  //! Softcapping (Gemma 2): 0 = off; cap > 0 replaces each score s = scale · q·k by
  //! cap · tanh(s / cap) before the softmax.
  float softcap = 0.0f;
  //! Which kernel family runs the plan; automatic by default.
  kernel_family kernel = kernel_family::automatic;
};

//! Options of backward(). dQ is summed over the keys either by the dK/dV kernel, which adds
//! each key tile's terms into a float32 accumulator in the workspace with atomics (the
//! default, as FlashAttention's: the order of those additions, and so a gradient's last bits,
//! may differ run to run), or, `deterministic`, by a separate kernel that visits each query
//! tile's keys in a fixed order (bit-identical run to run, at the price of recomputing P and
//! dP: seven tile products where the atomic path does five).
struct backward_options {
  bool deterministic = false;
};

//! Head counts and head dimension; q heads are grouped over kv heads (GQA / MQA):
//! q head h reads kv head h / (heads_q / heads_kv).
struct attention_shape {
  int32_t heads_q = 0;
  int32_t heads_kv = 0;
  int32_t head_dim = 0;
};

//! Where forward() writes the logsumexp of every query row (optional): float32, natural
//! log, the row's log sum_j exp(score_j) over the keys it sees (after scale and softcap),
//! -inf for rows that see no key. FlashAttention's varlen layout: row r of q head h at
//! `data[h * head_stride + r]`; the dense [heads_q, rows_q] tensor has head_stride = rows_q.
struct logsumexp_view {
  float* data = nullptr;
  int64_t head_stride = 0;
};

}  // namespace varattn
