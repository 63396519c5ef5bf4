// SPDX-License-Identifier: Apache-2.0
#pragma once
// Shared by the GPU tests: random packed problems, a NaN-poisoned output with guard rows,
// one forward, and the relative error against the double-precision reference.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <doctest/doctest.h>
#include <thrust/device_vector.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <varattn/varattn.hpp>
#include <vector>

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
  varattn::attention_options options{};
  bool fused_qkv = false;    //!< q, k, v are slices of one [rows, 3, heads, d] buffer
  int32_t sample_every = 1;  //!< reference on every n-th query row (long segments)
};

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

//! Makes the plan for `v`; a device-built plan reads the offsets from device copies.
inline varattn::plan make_plan(variant v, const varattn::segments& segs_q,
                               const varattn::segments& segs_k, varattn::attention_shape shape,
                               const varattn::attention_options& options, cudaStream_t stream) {
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
                                            segs_k.total(), shape, options);
  const thrust::device_vector<int32_t> cu_q(segs_q.offsets()), cu_k(segs_k.offsets());
  varattn::build_on_device(p, {thrust::raw_pointer_cast(cu_q.data()), cu_q.size()},
                           {thrust::raw_pointer_cast(cu_k.data()), cu_k.size()}, stream);
  p.check_device_build(stream);  // also keeps cu_q / cu_k alive until the build ran
  return p;
}

struct outcome {
  double rel_error = 0;       //!< ||out - ref|| / ||ref|| over the sampled rows
  int64_t nonfinite = 0;      //!< elements of o's rows that are NaN or inf
  int64_t guard_written = 0;  //!< bytes of o's guard rows that changed
};

constexpr int32_t kGuardRows = 3;
constexpr unsigned char kPoison = 0xFF;  // all-ones: NaN in half and bfloat16

template <class Element>
std::vector<Element> random_elements(std::size_t n, std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<Element> out(n);
  for (Element& x : out) x = from_float<Element>(normal(rng));
  return out;
}

//! Scores an output read back to the host: its first ref.size() elements (o's rows) against
//! the reference, every byte after them (guard rows) against kPoison. Elements of rows the
//! reference skipped (NaN there) are only checked to be finite. out.size() >= ref.size().
template <class Element>
outcome score(const std::vector<Element>& out, const std::vector<double>& ref) {
  outcome result;
  double err2 = 0, ref2 = 0;
  const std::size_t written = ref.size();
  for (std::size_t i = 0; i < written; ++i) {
    const double x = varattn::detail::to_double(out[i]);
    if (!std::isfinite(x)) {
      ++result.nonfinite;
      continue;
    }
    if (std::isnan(ref[i])) continue;  // row not sampled
    err2 += (x - ref[i]) * (x - ref[i]);
    ref2 += ref[i] * ref[i];
  }
  result.rel_error = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  const auto* guard = reinterpret_cast<const unsigned char*>(out.data() + written);
  for (std::size_t b = 0; b < (out.size() - written) * sizeof(Element); ++b) {
    result.guard_written += guard[b] != kPoison;
  }
  return result;
}

//! Draws fresh random inputs from `seed`, computes the reference once, then runs one
//! forward per variant (output poisoned before each) and compares it with the reference.
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
    const int64_t token_stride = 3 * int64_t{pr.heads_q} * d;
    hqkv = random_elements<Element>(std::size_t(rows_q * token_stride), rng);
    dqkv = hqkv;
    q = {hqkv.data(), rows_q, pr.heads_q, d, token_stride, d};
    k = {hqkv.data() + pr.heads_q * d, rows_q, pr.heads_q, d, token_stride, d};
    v = {hqkv.data() + 2 * pr.heads_q * d, rows_q, pr.heads_q, d, token_stride, d};
  } else {
    hq = random_elements<Element>(std::size_t(rows_q * pr.heads_q * d), rng);
    hk = random_elements<Element>(std::size_t(rows_k * pr.heads_kv * d), rng);
    hv = random_elements<Element>(std::size_t(rows_k * pr.heads_kv * d), rng);
    dq = hq;
    dk = hk;
    dv = hv;
    q = view::contiguous(hq.data(), rows_q, pr.heads_q, d);
    k = view::contiguous(hk.data(), rows_k, pr.heads_kv, d);
    v = view::contiguous(hv.data(), rows_k, pr.heads_kv, d);
  }
  const std::vector<double> ref = varattn::reference_attention<Element>(
      segs_q, segs_k, q, k, v, pr.options, [&](int32_t row) { return row % pr.sample_every == 0; });

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

  std::vector<outcome> results;
  for (const variant how : kVariants) {
    const auto plan =
        make_plan(how, segs_q, segs_k, {pr.heads_q, pr.heads_kv, d}, pr.options, stream);
    const std::size_t o_elements = std::size_t(rows_q + kGuardRows) * pr.heads_q * d;
    thrust::device_vector<Element> dout(o_elements);
    Element* out_ptr = thrust::raw_pointer_cast(dout.data());
    VARATTN_CUDA_CHECK(cudaMemsetAsync(out_ptr, kPoison, o_elements * sizeof(Element), stream));
    varattn::forward<Element>(plan, dqv, dkv, dvv, view::contiguous(out_ptr, rows_q, pr.heads_q, d),
                              stream);
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<Element> out(o_elements);
    VARATTN_CUDA_CHECK(
        cudaMemcpy(out.data(), out_ptr, o_elements * sizeof(Element), cudaMemcpyDeviceToHost));

    results.push_back(score(out, ref));
  }
  return results;
}

//! Runs `pr` for several seeds and checks every written element and the error bound.
template <class Element>
void check(const problem& pr, std::initializer_list<uint64_t> seeds = {1, 2, 3}) {
  for (const uint64_t seed : seeds) {
    const std::vector<outcome> results = run<Element>(pr, seed);
    for (std::size_t i = 0; i < results.size(); ++i) {
      const variant how = kVariants[i];
      const outcome& r = results[i];
      CAPTURE(seed);
      CAPTURE(std::string(variant_name(how)));
      MESSAGE(std::string(name<Element>()), " ", std::string(variant_name(how)), " d=", pr.head_dim,
              " causal=", pr.options.causal, " seed=", seed, ": rel error ", r.rel_error);
      CHECK(r.nonfinite == 0);
      CHECK(r.guard_written == 0);
      CHECK(r.rel_error <= tolerance<Element>());
    }
  }
}

}  // namespace test
