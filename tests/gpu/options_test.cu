// SPDX-License-Identifier: Apache-2.0
// Attention options against the reference: sliding windows (diagonal only, one key either
// side, Mistral's (w - 1, 0), windows wider than the segments, one-sided), causal windows with
// q longer and shorter than k, softcap 50 and 5 on large scores, large scores without softcap,
// each with and without the logsumexp; both element types, every default head dim, every
// launch policy (the harness's variants) and both kernel families (the harness's families),
// fresh inputs per seed.
#include <string>
#include <vector>

#include "harness.cuh"

namespace {

struct option_case {
  const char* name;
  std::vector<int32_t> lengths_q;
  std::vector<int32_t> lengths_k;  // empty: as lengths_q
  bool causal = false;
  int32_t left = -1, right = -1;
  float softcap = 0.0f;
  float q_gain = 1.0f;  // large scores for the softcap cases
};

// Small segments on, under and over the tile heights (64, 128), an empty one, and len_q !=
// len_k both ways; long enough for several k/v steps and for windows to skip whole blocks.
const std::vector<int32_t> kMixed = {1, 17, 64, 0, 100, 190};

std::vector<option_case> cases() {
  const std::vector<int32_t> longer_q = {100, 33, 7, 70};  // q longer than k
  const std::vector<int32_t> shorter_k = {40, 64, 1, 0};
  const std::vector<int32_t> shorter_q = {40, 5, 64, 130};  // q shorter than k
  const std::vector<int32_t> longer_k = {100, 130, 64, 200};
  return {
      // name, lengths_q, lengths_k, causal, left, right, softcap, q_gain
      {"window (0, 0): the diagonal key only", kMixed, {}, false, 0, 0},
      {"window (1, 0)", kMixed, {}, false, 1, 0},
      {"window (0, 1)", kMixed, {}, false, 0, 1},
      {"window (1, 1), q longer than k", longer_q, shorter_k, false, 1, 1},
      {"Mistral window (31, 0)", kMixed, {}, false, 31, 0},
      {"causal + left 31 (= (31, 0))", kMixed, {}, true, 31, -1},
      {"left only (5, -1)", kMixed, {}, false, 5, -1},
      {"right only (-1, 3)", kMixed, {}, false, -1, 3},
      {"window (8, 8), q shorter than k", shorter_q, longer_k, false, 8, 8},
      {"window wider than every segment (1000, 1000)", kMixed, {}, false, 1000, 1000},
      {"window wider than every segment, causal (1000, -1)", shorter_q, longer_k, true, 1000, -1},
      {"causal + window (16, 0), q longer than k", longer_q, shorter_k, true, 16, -1},
      {"causal + window (20, 0), q shorter than k", shorter_q, longer_k, true, 20, -1},
      {"causal + right 5 (folds to 0), left 0", longer_q, shorter_k, true, 0, 5},
      {"softcap 50, large scores", kMixed, {}, false, -1, -1, 50.0f, 24.0f},
      {"softcap 50, large scores, causal, q shorter than k", shorter_q, longer_k, true, -1, -1,
       50.0f, 24.0f},
      {"softcap 5, large scores, window (20, 0)", kMixed, {}, false, 20, 0, 5.0f, 24.0f},
      {"softcap 5, large scores, causal, q longer than k", longer_q, shorter_k, true, -1, -1, 5.0f,
       24.0f},
      // No softcap, q gain 64: rows' maxima rise by more than 2^8 (exp2's units) mid-row, so a
      // forward that keeps a row's max until then also takes one with a finite old max.
      {"large scores, no softcap, q shorter than k", shorter_q, longer_k, false, -1, -1, 0.0f,
       64.0f},
  };
}

template <class Element>
void check_options() {
  uint64_t seed = 1000;
  for (const option_case& c : cases()) {
    for (const int32_t d : test::head_dims_to_test()) {
      if (!test::instantiated(d)) continue;
      CAPTURE(std::string(c.name));
      CAPTURE(d);
      test::problem pr;
      pr.lengths_q = c.lengths_q;
      pr.lengths_k = c.lengths_k;
      pr.heads_q = 4;
      pr.heads_kv = 2;
      pr.head_dim = d;
      pr.options.causal = c.causal;
      pr.options.window_left = c.left;
      pr.options.window_right = c.right;
      pr.options.softcap = c.softcap;
      pr.q_gain = c.q_gain;
      // With the logsumexp (two seeds) and without (one), every seed fresh.
      pr.with_lse = true;
      test::check<Element>(pr, {seed, seed + 1}, false);
      pr.with_lse = false;
      test::check<Element>(pr, {seed + 2}, false);
      seed += 3;
    }
  }
}

}  // namespace

TEST_CASE("bfloat16: windows, softcap and the logsumexp match the reference") {
  check_options<__nv_bfloat16>();
}
TEST_CASE("half: windows, softcap and the logsumexp match the reference") {
  check_options<__half>();
}

TEST_CASE("a null logsumexp view writes no logsumexp and the same output as the plain forward") {
  // lse.data == nullptr is "not requested": the output must equal the five-view forward's.
  test::problem pr;
  pr.lengths_q = kMixed;
  pr.options.causal = true;
  pr.options.window_left = 7;
  pr.options.softcap = 30.0f;
  for (const int32_t d : {64, 128}) {
    if (!test::instantiated(d)) continue;
    pr.head_dim = d;
    using view = varattn::packed_view<__nv_bfloat16>;
    const auto segs = varattn::segments::from_lengths(pr.lengths_q, "cu_seqlens_q");
    const int64_t rows = segs.total();
    std::mt19937_64 rng(77);
    const auto hq = test::random_elements<__nv_bfloat16>(std::size_t(rows) * 4 * d, rng);
    const auto hkv = test::random_elements<__nv_bfloat16>(std::size_t(rows) * 2 * d * 2, rng);
    const thrust::device_vector<__nv_bfloat16> q = hq, kv = hkv;
    thrust::device_vector<__nv_bfloat16> a(std::size_t(rows) * 4 * d), b(a.size());
    const auto qv = varattn::packed_view<const __nv_bfloat16>::contiguous(
        thrust::raw_pointer_cast(q.data()), rows, 4, d);
    const auto kview = varattn::packed_view<const __nv_bfloat16>::contiguous(
        thrust::raw_pointer_cast(kv.data()), rows, 2, d);
    const auto vview = varattn::packed_view<const __nv_bfloat16>::contiguous(
        thrust::raw_pointer_cast(kv.data()) + rows * 2 * d, rows, 2, d);
    for (const varattn::kernel_family family : test::kFamilies) {
      CAPTURE(d);
      CAPTURE(std::string(test::family_name(family)));
      varattn::attention_options options = pr.options;
      options.kernel = family;
      const auto plan = varattn::plan::make(segs, segs, {4, 2, d}, options);
      VARATTN_CUDA_CHECK(cudaMemset(thrust::raw_pointer_cast(a.data()), test::kPoison,
                                    a.size() * sizeof(__nv_bfloat16)));
      VARATTN_CUDA_CHECK(cudaMemset(thrust::raw_pointer_cast(b.data()), test::kPoison,
                                    b.size() * sizeof(__nv_bfloat16)));
      varattn::forward<__nv_bfloat16>(
          plan, qv, kview, vview, view::contiguous(thrust::raw_pointer_cast(a.data()), rows, 4, d),
          nullptr);
      varattn::forward<__nv_bfloat16>(
          plan, qv, kview, vview, view::contiguous(thrust::raw_pointer_cast(b.data()), rows, 4, d),
          varattn::logsumexp_view{nullptr, 0}, nullptr);
      VARATTN_CUDA_CHECK(cudaDeviceSynchronize());
      const std::vector<__nv_bfloat16> ha(a.begin(), a.end()), hb(b.begin(), b.end());
      CHECK(std::memcmp(ha.data(), hb.data(), ha.size() * sizeof(__nv_bfloat16)) == 0);
      int64_t nonfinite = 0;
      for (const __nv_bfloat16 x : ha) nonfinite += !std::isfinite(__bfloat162float(x));
      CHECK(nonfinite == 0);
    }
  }
}
