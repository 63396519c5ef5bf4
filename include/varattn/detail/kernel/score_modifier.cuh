// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file score_modifier.cuh
//! What happens to the raw scores q.k before the mask and the softmax: nothing, or softcap
//! (s -> cap * tanh(scale * s / cap); the factor cap moves into the softmax's exponent scale,
//! params.cuh). A type, so that a kernel without softcap carries no trace of it.

#include <cstdint>

namespace varattn::detail {

//! tanh on the special-function unit: one MUFU op, like the exp2 it sits next to.
__device__ __forceinline__ float fast_tanh(float x) {
  float y;
  asm("tanh.approx.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

template <bool Softcap>
struct score_modifier {
  static constexpr bool kSoftcap = Softcap;

  //! One raw score, modified.
  __device__ __forceinline__ static float apply(float s, float softcap_scale) {
    if constexpr (Softcap) return fast_tanh(s * softcap_scale);
    return s;
  }

  //! s: a C fragment of raw scores (any number of n8 tiles), modified in place.
  template <int Tiles>
  __device__ __forceinline__ static void apply(float (&s)[Tiles][4], float softcap_scale) {
    if constexpr (Softcap) {
#pragma unroll
      for (int t = 0; t < Tiles; ++t) {
#pragma unroll
        for (int e = 0; e < 4; ++e) s[t][e] = apply(s[t][e], softcap_scale);
      }
    }
  }
};

}  // namespace varattn::detail
