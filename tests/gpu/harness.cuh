// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared by the GPU tests: random packed problems, a NaN-poisoned output with guard rows (and
// a NaN-poisoned logsumexp with padding), one forward per launch policy and kernel family, and
// the errors against the double-precision reference. The host's share (inputs, reference,
// scores) runs on every core (../common/parallel.hpp).

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <doctest/doctest.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <varattn/kernel_config.hpp>
#include <varattn/varattn.hpp>
#include <vector>

#include "../common/parallel.hpp"

namespace test {

//! A non-blocking stream (capturable in global mode), destroyed with the scope.
struct stream_guard {
  cudaStream_t stream = nullptr;
  stream_guard() { VARATTN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)); }
  ~stream_guard() { cudaStreamDestroy(stream); }
};

template <class Element>
Element from_float(float x);
template <>
inline __half from_float<__half>(float x) {
  return __float2half_rn(x);
}
template <>
inline __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

template <class Element>
constexpr double tolerance() {
  return std::is_same_v<Element, __half> ? 5e-3 : 1e-2;
}
template <class Element>
constexpr const char* name() {
  return std::is_same_v<Element, __half> ? "half" : "bfloat16";
}

struct problem {
  std::vector<int32_t> lengths_q;
  std::vector<int32_t> lengths_k;  //!< empty: same as lengths_q
  int32_t heads_q = 4;
  int32_t heads_kv = 2;
  int32_t head_dim = 64;
  varattn::attention_options options{};  //!< options.kernel automatic: every family (kFamilies)
  bool fused_qkv = false;                //!< q, k, v are slices of one [rows, 3, heads, d] buffer
  bool shared_kv_head = false;  //!< k and v hold one head that every kv head reads (head_stride 0)
  int32_t sample_every = 1;              //!< reference on every n-th query row (long segments)
  bool with_lse = false;  //!< also request the logsumexp (forward's lse overload), check it
  float q_gain = 1.0f;    //!< q ~ N(0, q_gain^2): large scores (softcap tests)
  //! Device-built plans' max_q_length (plan::reserve_on_device); -1: rows_q, its default.
  int32_t device_max_q_length = -1;
};

//! The head dims the tests cover: CMake's default list, then every other head dim this build
//! instantiates (e.g. -DVARATTN_HEAD_DIMS="40;88;104;120": the Hopper backward's part-filled
//! 64-column blocks). A build without some default head dim skips it, saying so.
inline const std::vector<int32_t>& head_dims_to_test() {
  static const std::vector<int32_t> dims = [] {
    std::vector<int32_t> out = {64, 72, 80, 96, 128, 256};
    for (const int32_t d : {VARATTN_HEAD_DIMS}) {
      if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
    }
    return out;
  }();
  return dims;
}
inline bool instantiated(int32_t head_dim) {
  if (varattn::head_dims::contains(head_dim)) return true;
  MESSAGE("head dim ", head_dim, " is not instantiated in this build: skipped");
  return false;
}
//! A case written for fixed head dims runs where the build instantiates every one of them (a
//! lean build, e.g. -DVARATTN_HEAD_DIMS=72, skips it, saying so, instead of failing on the
//! plan's "not instantiated" error).
inline bool instantiated(std::initializer_list<int32_t> head_dims) {
  bool all = true;
  for (const int32_t d : head_dims) all = instantiated(d) && all;
  return all;
}

//! The ways to build and launch a plan; every GPU check runs all of them.
enum class variant { per_segment, fused, bucketed, fused_built_on_device };
inline const char* variant_name(variant v) {
  switch (v) {
    case variant::per_segment:
      return "per_segment";
    case variant::fused:
      return "fused";
    case variant::bucketed:
      return "bucketed";
    case variant::fused_built_on_device:
      return "fused (built on device)";
  }
  return "?";
}
constexpr variant kVariants[] = {variant::per_segment, variant::fused, variant::bucketed,
                                 variant::fused_built_on_device};

//! The kernel families every check runs (when the problem leaves options.kernel automatic):
//! automatic (on sm_90 the Hopper kernel, or for short segments the Hopper short tile) and the
//! portable sm80 kernel, so that one Hopper machine tests both. A family whose plan runs the
//! same kernels as automatic's (every non-Hopper GPU) is skipped.
constexpr varattn::kernel_family kFamilies[] = {varattn::kernel_family::automatic,
                                                varattn::kernel_family::sm80};
inline const char* family_name(varattn::kernel_family f) {
  switch (f) {
    case varattn::kernel_family::automatic:
      return "automatic";
    case varattn::kernel_family::sm80:
      return "sm80";
    case varattn::kernel_family::sm90:
      return "sm90";
  }
  return "?";
}

//! Makes the plan for `v`; a device-built plan reads the offsets from device copies.
inline varattn::plan make_plan(variant v, const varattn::segments& segs_q,
                               const varattn::segments& segs_k, varattn::attention_shape shape,
                               const varattn::attention_options& options, cudaStream_t stream,
                               int32_t device_max_q_length = -1) {
  switch (v) {
    case variant::per_segment:
      return varattn::plan::make(segs_q, segs_k, shape, options,
                                 varattn::launch_policy::per_segment, stream);
    case variant::fused:
      return varattn::plan::make(segs_q, segs_k, shape, options, varattn::launch_policy::fused,
                                 stream);
    case variant::bucketed:
      return varattn::plan::make(segs_q, segs_k, shape, options, varattn::launch_policy::bucketed,
                                 stream);
    case variant::fused_built_on_device:
      break;
  }
  auto p = varattn::plan::reserve_on_device(static_cast<int32_t>(segs_q.size()), segs_q.total(),
                                            segs_k.total(), shape, options, device_max_q_length);
  const thrust::device_vector<int32_t> cu_q(segs_q.offsets()), cu_k(segs_k.offsets());
  varattn::build_on_device(p, {thrust::raw_pointer_cast(cu_q.data()), cu_q.size()},
                           {thrust::raw_pointer_cast(cu_k.data()), cu_k.size()}, stream);
  p.check_device_build(stream);  // also keeps cu_q / cu_k alive until the build ran
  return p;
}

//! The kernels a plan launches: its own, or its buckets'.
inline std::vector<varattn::kernel_config> kernels_of(const varattn::plan& p) {
  if (p.policy() != varattn::launch_policy::bucketed) return {p.kernel()};
  std::vector<varattn::kernel_config> out;
  for (const varattn::plan& b : p.buckets()) out.push_back(b.kernel());
  return out;
}

struct outcome {
  variant how = variant::per_segment;
  varattn::kernel_family family = varattn::kernel_family::automatic;  //!< the plan's request
  std::string kernels;          //!< the families the plan launched, e.g. "sm80+sm90"
  double rel_error = 0;         //!< ||out - ref|| / ||ref|| over the sampled rows
  int64_t nonfinite = 0;        //!< elements of o's rows that are NaN or inf
  int64_t guard_written = 0;    //!< bytes of o's guard rows that changed
  int64_t keyless_nonzero = 0;  //!< elements of rows that see no key that are not exactly 0
  // The logsumexp (problem::with_lse), every element of every head checked:
  double lse_max_error = 0;     //!< max |lse - ref| over the sampled rows that see keys
  int64_t lse_bad = 0;          //!< outside the tolerance, NaN, or (keyless rows) not -inf
  int64_t lse_pad_written = 0;  //!< bytes of the padding between heads and after the last
  bool scheduled = false;       //!< ran with a forward_scratch (bucketed, device-built plans)
  int64_t scratch_left = 0;     //!< its counters not back to zero after the forward
};

constexpr int32_t kGuardRows = 3;
constexpr unsigned char kPoison = 0xFF;  // all-ones: NaN in half, bfloat16 and float
//! lse.head_stride = rows_q + kLsePad (floats of padding after each head's rows, poisoned and
//! checked unwritten); an odd count, so no head starts on a vector boundary by accident.
constexpr int64_t kLsePad = 3;

//! Allowed |lse - ref| for a reference logsumexp `ref`. The kernels compute lse = m + log(l)
//! in fp32 from the same 16-bit q, k as the reference: m, the row's largest scaled score, is
//! off by the fp32 dot product and the scale (relative ~1e-6 of |m| <= |lse| + log(keys));
//! l sums up to len_k terms in [0, 1] in fp32 (relative n x 2^-24 at worst: 1e-3 at 16k keys,
//! far less in practice), each from ex2.approx (relative 2^-22); the log adds ~2^-22. So
//! ~1e-3 + 1e-6 |lse|; 2e-3 x max(1, |lse|) also covers a kernel that sums P after rounding
//! it to 16 bits (relative 2^-9 a term, at worst log(1 + 2^-9) = 2e-3), and stays far below
//! the errors a wrong mask, scale or softcap makes (one key more or less changes lse by
//! log(1 + e^(s - lse)), typically 1e-2 or more on these problems).
inline double lse_tolerance(double ref) { return 2e-3 * std::max(1.0, std::fabs(ref)); }

//! Whether row `got` (n elements) is finite and within the dtype's tolerance of row `ref`
//! (relative, the norm floored at 1e-3): a row that came out of another path than the clean
//! run's, rounded differently (the isolation tests).
template <class Element>
bool within_rounding(const Element* got, const Element* ref, int32_t n) {
  double diff = 0, norm = 0;
  bool finite = true;
  for (int32_t i = 0; i < n; ++i) {
    const double a = static_cast<float>(got[i]), b = static_cast<float>(ref[i]);
    diff += (a - b) * (a - b);
    norm += b * b;
    finite = finite && std::isfinite(a);
  }
  return finite && std::sqrt(diff) <= tolerance<Element>() * std::max(std::sqrt(norm), 1e-3);
}

//! n draws of N(0, gain^2) in the element type: one draw of `rng` seeds the chunks (kChunk
//! elements each, chunk c from its own generator), drawn on every core.
template <class Element>
std::vector<Element> random_elements(std::size_t n, std::mt19937_64& rng, float gain = 1.0f) {
  const uint64_t base = rng();
  std::vector<Element> out(n);
  chunked<char>(n, [&](std::size_t first, std::size_t last) {
    std::mt19937_64 chunk_rng(base + 0x9E3779B97F4A7C15ull * (first / kChunk + 1));
    std::normal_distribution<float> normal(0.f, gain);
    for (std::size_t i = first; i < last; ++i) out[i] = from_float<Element>(normal(chunk_rng));
    return char{};
  });
  return out;
}

//! Scores an output read back to the host: its first ref.size() elements (o's rows) against
//! the reference, every byte after them (guard rows) against kPoison. Elements of rows the
//! reference skipped (NaN there) are only checked to be finite. out.size() >= ref.size().
template <class Element>
outcome score(const std::vector<Element>& out, const std::vector<double>& ref) {
  outcome result;
  struct sums {
    double err2 = 0, ref2 = 0;
    int64_t nonfinite = 0;
  };
  const std::size_t written = ref.size();
  double err2 = 0, ref2 = 0;
  for (const sums& c : chunked<sums>(written, [&](std::size_t first, std::size_t last) {
         sums part;
         for (std::size_t i = first; i < last; ++i) {
           const double x = varattn::detail::to_double(out[i]);
           if (!std::isfinite(x)) {
             ++part.nonfinite;
             continue;
           }
           if (std::isnan(ref[i])) continue;  // row not sampled
           part.err2 += (x - ref[i]) * (x - ref[i]);
           part.ref2 += ref[i] * ref[i];
         }
         return part;
       })) {
    err2 += c.err2;
    ref2 += c.ref2;
    result.nonfinite += c.nonfinite;
  }
  result.rel_error = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  const auto* guard = reinterpret_cast<const unsigned char*>(out.data() + written);
  for (std::size_t b = 0; b < (out.size() - written) * sizeof(Element); ++b) {
    result.guard_written += guard[b] != kPoison;
  }
  return result;
}

//! Which query rows see at least one key under `options` (independent of the head).
inline std::vector<char> rows_with_keys(const varattn::segments& segs_q,
                                        const varattn::segments& segs_k,
                                        const varattn::attention_options& options) {
  std::vector<char> sees(std::size_t(segs_q.total()), 0);
  for (std::size_t s = 0; s < segs_q.size(); ++s) {
    const varattn::segment sq = segs_q[s], sk = segs_k[s];
    for (int32_t i = 0; i < sq.length; ++i) {
      sees[std::size_t(sq.begin) + i] =
          !varattn::reference_visible_keys(i, sq.length, sk.length, options).empty();
    }
  }
  return sees;
}

//! Rows that see no key: their elements must be exactly 0 (not merely close to it).
template <class Element>
int64_t keyless_nonzero(const std::vector<Element>& out, const std::vector<char>& sees,
                        int64_t row_elements) {
  int64_t bad = 0;
  for (std::size_t row = 0; row < sees.size(); ++row) {
    if (sees[row]) continue;
    for (int64_t c = 0; c < row_elements; ++c) {
      bad += varattn::detail::to_double(out[row * row_elements + c]) != 0.0;
    }
  }
  return bad;
}

//! Scores a logsumexp read back (heads_q heads head_stride floats apart, then padding) into
//! `r`: rows that see no key must be exactly -inf; sampled rows within lse_tolerance of the
//! reference; unsampled rows finite; every float that is no lse element untouched.
inline void score_lse(const std::vector<float>& lse, const std::vector<double>& ref,
                      const std::vector<char>& sees, int32_t heads_q, int64_t rows_q,
                      int64_t head_stride, outcome& r) {
  for (int32_t h = 0; h < heads_q; ++h) {
    for (int64_t row = 0; row < rows_q; ++row) {
      const double x = lse[std::size_t(h * head_stride + row)];
      const double expected = ref[std::size_t(h * rows_q + row)];
      if (!sees[row]) {
        r.lse_bad += !(x == -INFINITY);
      } else if (!std::isfinite(x)) {
        ++r.lse_bad;
      } else if (!std::isnan(expected)) {  // sampled
        const double error = std::fabs(x - expected);
        r.lse_max_error = std::max(r.lse_max_error, error);
        r.lse_bad += error > lse_tolerance(expected);
      }
    }
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(lse.data());
  for (std::size_t i = 0; i < lse.size(); ++i) {
    const int64_t h = int64_t(i) / head_stride, row = int64_t(i) % head_stride;
    if (h < heads_q && row < rows_q) continue;  // an lse element, checked above
    for (std::size_t b = 0; b < sizeof(float); ++b) {
      r.lse_pad_written += bytes[i * sizeof(float) + b] != kPoison;
    }
  }
}

//! Draws fresh random inputs from `seed`, computes the reference once, then runs one forward
//! per variant and kernel family (output and logsumexp poisoned before each) and compares it
//! with the reference.
template <class Element>
std::vector<outcome> run(const problem& pr, uint64_t seed, cudaStream_t stream = nullptr) {
  using view = varattn::packed_view<Element>;
  const auto segs_q = varattn::segments::from_lengths(pr.lengths_q, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths(
      pr.lengths_k.empty() ? pr.lengths_q : pr.lengths_k, "cu_seqlens_k");
  const int32_t d = pr.head_dim;
  const int64_t rows_q = segs_q.total(), rows_k = segs_k.total();

  std::mt19937_64 rng(seed);
  std::vector<Element> hq, hk, hv, hqkv;
  view q, k, v;  // host views, later re-pointed to the device copies
  thrust::device_vector<Element> dq, dk, dv, dqkv;
  if (pr.fused_qkv) {
    REQUIRE(rows_q == rows_k);
    REQUIRE(pr.heads_q == pr.heads_kv);
    REQUIRE(pr.q_gain == 1.0f);
    const int64_t token_stride = 3 * int64_t{pr.heads_q} * d;
    hqkv = random_elements<Element>(std::size_t(rows_q * token_stride), rng);
    dqkv = hqkv;
    q = {hqkv.data(), rows_q, pr.heads_q, d, token_stride, d};
    k = {hqkv.data() + pr.heads_q * d, rows_q, pr.heads_q, d, token_stride, d};
    v = {hqkv.data() + 2 * pr.heads_q * d, rows_q, pr.heads_q, d, token_stride, d};
  } else {
    hq = random_elements<Element>(std::size_t(rows_q * pr.heads_q * d), rng, pr.q_gain);
    const int32_t kv_heads_stored = pr.shared_kv_head ? 1 : pr.heads_kv;
    hk = random_elements<Element>(std::size_t(rows_k * kv_heads_stored * d), rng);
    hv = random_elements<Element>(std::size_t(rows_k * kv_heads_stored * d), rng);
    dq = hq;
    dk = hk;
    dv = hv;
    q = view::contiguous(hq.data(), rows_q, pr.heads_q, d);
    k = view::contiguous(hk.data(), rows_k, pr.heads_kv, d);
    v = view::contiguous(hv.data(), rows_k, pr.heads_kv, d);
    if (pr.shared_kv_head) {
      k.token_stride = v.token_stride = d;
      k.head_stride = v.head_stride = 0;
    }
  }
  const varattn::reference_result ref = reference_on_every_core<Element>(
      segs_q, segs_k, q, k, v, pr.options, [&](int32_t row) { return row % pr.sample_every == 0; });
  const std::vector<char> sees = rows_with_keys(segs_q, segs_k, pr.options);

  // Device views: same strides, device pointers.
  const auto on_device = [&](view h, const std::vector<Element>& host,
                             thrust::device_vector<Element>& dev) {
    h.data = thrust::raw_pointer_cast(dev.data()) + (h.data - host.data());
    return h;
  };
  view dqv, dkv, dvv;
  if (pr.fused_qkv) {
    dqv = on_device(q, hqkv, dqkv);
    dkv = on_device(k, hqkv, dqkv);
    dvv = on_device(v, hqkv, dqkv);
  } else {
    dqv = on_device(q, hq, dq);
    dkv = on_device(k, hk, dk);
    dvv = on_device(v, hv, dv);
  }

  const std::size_t o_elements = std::size_t(rows_q + kGuardRows) * pr.heads_q * d;
  const int64_t lse_stride = rows_q + kLsePad;
  const std::size_t lse_elements = std::size_t(pr.heads_q * lse_stride + kLsePad);
  thrust::device_vector<Element> dout(o_elements);
  thrust::device_vector<float> dlse(pr.with_lse ? lse_elements : 0);
  Element* out_ptr = thrust::raw_pointer_cast(dout.data());
  float* lse_ptr = thrust::raw_pointer_cast(dlse.data());

  // The tile counter of the fused Hopper launches' persistent grid: given to the bucketed and
  // device-built variants (fused and per_segment run without one: one CTA a tile), zeroed once;
  // every forward must leave it zero.
  thrust::device_vector<unsigned> scratch(varattn::kForwardScratchBytes / sizeof(unsigned), 0u);

  std::vector<outcome> results;
  for (const variant how : kVariants) {
    std::vector<varattn::kernel_config> automatic_kernels;
    for (const varattn::kernel_family family : kFamilies) {
      if (pr.options.kernel != varattn::kernel_family::automatic &&
          family != varattn::kernel_family::automatic) {
        continue;  // the problem asks for one family: only that one
      }
      varattn::attention_options options = pr.options;
      if (family != varattn::kernel_family::automatic) options.kernel = family;
      const auto plan =
          make_plan(how, segs_q, segs_k, {pr.heads_q, pr.heads_kv, d}, options, stream,
                    pr.device_max_q_length);
      const std::vector<varattn::kernel_config> kernels = kernels_of(plan);
      if (family == varattn::kernel_family::automatic) {
        automatic_kernels = kernels;
      } else if (kernels == automatic_kernels) {
        continue;  // the same kernels as automatic: tested already
      }
      VARATTN_CUDA_CHECK(cudaMemsetAsync(out_ptr, kPoison, o_elements * sizeof(Element), stream));
      const view o = view::contiguous(out_ptr, rows_q, pr.heads_q, d);
      const bool scheduled = how == variant::bucketed || how == variant::fused_built_on_device;
      const varattn::forward_scratch counter{
          scheduled ? thrust::raw_pointer_cast(scratch.data()) : nullptr};
      if (pr.with_lse) {
        VARATTN_CUDA_CHECK(cudaMemsetAsync(lse_ptr, kPoison, lse_elements * sizeof(float), stream));
        varattn::forward<Element>(plan, dqv, dkv, dvv, o,
                                  varattn::logsumexp_view{lse_ptr, lse_stride}, stream, counter);
      } else {
        varattn::forward<Element>(plan, dqv, dkv, dvv, o, varattn::logsumexp_view{}, stream,
                                  counter);
      }
      VARATTN_CUDA_CHECK(cudaStreamSynchronize(stream));
      std::vector<Element> out(o_elements);
      VARATTN_CUDA_CHECK(
          cudaMemcpy(out.data(), out_ptr, o_elements * sizeof(Element), cudaMemcpyDeviceToHost));

      outcome r = score(out, ref.out);
      r.how = how;
      r.scheduled = scheduled;
      const thrust::host_vector<unsigned> counters = scratch;
      for (const unsigned c : counters) r.scratch_left += c != 0;
      r.family = options.kernel;  // the family asked for (the problem's own, if it names one)
      for (const varattn::kernel_config& kc : kernels) {
        r.kernels += std::string(r.kernels.empty() ? "" : "+") + family_name(kc.family);
      }
      r.keyless_nonzero = keyless_nonzero(out, sees, int64_t{pr.heads_q} * d);
      if (pr.with_lse) {
        std::vector<float> lse(lse_elements);
        VARATTN_CUDA_CHECK(
            cudaMemcpy(lse.data(), lse_ptr, lse_elements * sizeof(float), cudaMemcpyDeviceToHost));
        score_lse(lse, ref.lse, sees, pr.heads_q, rows_q, lse_stride, r);
      }
      results.push_back(r);
    }
  }
  return results;
}

//! The checks of one outcome: every element written, finite, within the tolerance; nothing
//! outside o (and lse) written.
template <class Element>
void check_outcome(const problem& pr, const outcome& r) {
  CAPTURE(std::string(variant_name(r.how)));
  CAPTURE(std::string(family_name(r.family)));
  CAPTURE(r.kernels);
  CAPTURE(r.scheduled);
  CHECK(r.nonfinite == 0);
  CHECK(r.guard_written == 0);
  CHECK(r.keyless_nonzero == 0);
  CHECK(r.rel_error <= tolerance<Element>());
  CHECK(r.scratch_left == 0);
  if (pr.with_lse) {
    CHECK(r.lse_bad == 0);
    CHECK(r.lse_pad_written == 0);
  }
}

//! A one-line description of the options, for messages.
inline std::string options_text(const varattn::attention_options& o) {
  std::string text = "causal=" + std::to_string(o.causal);
  if (o.window_left >= 0 || o.window_right >= 0) {
    text +=
        " window=(" + std::to_string(o.window_left) + "," + std::to_string(o.window_right) + ")";
  }
  if (o.softcap > 0) text += " softcap=" + std::to_string(o.softcap);
  return text;
}

//! Runs `pr` for several seeds and checks every written element and the error bound; with
//! `report`, prints each outcome's errors.
template <class Element>
void check(const problem& pr, std::initializer_list<uint64_t> seeds = {1, 2, 3},
           bool report = true) {
  for (const uint64_t seed : seeds) {
    const std::vector<outcome> results = run<Element>(pr, seed);
    CAPTURE(seed);
    for (const outcome& r : results) {
      if (report) {
        MESSAGE(std::string(name<Element>()), " ", std::string(variant_name(r.how)), " ",
                std::string(family_name(r.family)), " (", r.kernels, ") d=", pr.head_dim, " ",
                options_text(pr.options), " lse=", pr.with_lse, " seed=", seed, ": rel error ",
                r.rel_error,
                pr.with_lse ? ", lse max error " + std::to_string(r.lse_max_error) : "");
      }
      check_outcome<Element>(pr, r);
    }
  }
}

}  // namespace test
