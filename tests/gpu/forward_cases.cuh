// SPDX-License-Identifier: Apache-2.0
#pragma once
// The forward against the reference for one element type: every head dim, causal and not,
// GQA, q and k of different lengths, several k/v steps, and fused-qkv strided views; the
// logsumexp on the uneven and the multi-step problems.

#include "harness.cuh"

namespace test {

template <class Element>
void check_every_head_dim() {
  for (const int32_t d : head_dims_to_test()) {
    if (!instantiated(d)) continue;
    for (const bool causal : {false, true}) {
      CAPTURE(d);
      CAPTURE(causal);
      problem mixed;  // lengths on, under and over the 64-row tile, and an empty segment
      mixed.lengths_q = {1, 64, 17, 0, 130, 200};
      mixed.heads_q = 4;
      mixed.heads_kv = 2;
      mixed.head_dim = d;
      mixed.options.causal = causal;
      check<Element>(mixed);

      problem uneven;  // len_q != len_k: bottom-right causal, keyless rows, empty k
      uneven.lengths_q = {33, 64, 100, 5, 7};
      uneven.lengths_k = {70, 64, 1, 0, 129};
      uneven.heads_q = 6;
      uneven.heads_kv = 3;
      uneven.head_dim = d;
      uneven.options.causal = causal;
      uneven.options.scale = 0.1f;
      uneven.with_lse = true;
      check<Element>(uneven);

      problem steps;  // several k/v steps of every tile height; a last tile of 44 rows
      steps.lengths_q = {300, 40};
      steps.lengths_k = {700, 450};
      steps.heads_q = 2;
      steps.heads_kv = 1;
      steps.head_dim = d;
      steps.options.causal = causal;
      steps.with_lse = true;
      check<Element>(steps);

      problem fused;  // q, k, v as slices of one [rows, 3, heads, d] buffer
      fused.lengths_q = {77, 128, 3};
      fused.heads_q = 3;
      fused.heads_kv = 3;
      fused.head_dim = d;
      fused.fused_qkv = true;
      fused.options.causal = causal;
      check<Element>(fused, {4, 5});
    }
  }
}

}  // namespace test
