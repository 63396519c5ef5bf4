// SPDX-License-Identifier: Apache-2.0
// Segments are isolated: an inf or NaN in one segment's q, k or v never reaches another
// segment's output or logsumexp, under every policy and kernel family, in place too. The hard
// case is a group tile (several whole short segments in one tile: each row's P V runs over the
// whole group's keys, with P's zeros at its neighbours' keys, and 0 x inf is NaN), which
// recomputes such rows from their own keys (group_isolation.cuh): other segments' rows stay
// finite and within rounding of the clean run (bitwise where the tile's own result was finite),
// every logsumexp but the poisoned segment's q and k bitwise. The segment that holds the value
// gets IEEE arithmetic's answer: a non-finite element of V reaches its column in every row that
// sees its key.
#include "../common/mask_options.hpp"
#include "harness.cuh"

#include <cmath>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace {

enum class tensor { q, k, v };

struct poison {
  tensor where;
  float value;
  const char* name;
};

constexpr poison kPoisons[] = {
    {tensor::v, INFINITY, "v = +inf"}, {tensor::v, -INFINITY, "v = -inf"},
    {tensor::v, NAN, "v = NaN"},       {tensor::k, INFINITY, "k = +inf"},
    {tensor::k, NAN, "k = NaN"},       {tensor::q, NAN, "q = NaN"},
};

struct isolation_case {
  const char* name;
  std::vector<int32_t> lengths_q;
  std::vector<int32_t> lengths_k;  // empty: as lengths_q
  std::vector<int32_t> victims;    // empty: every segment with rows
  int32_t device_max_q_length = -1;
  bool groups = true;  //!< the fused plan puts segments in one tile (checked)
  bool many = false;   //!< head dim 64 only, no in-place run (its copies of q cost the time)
};

std::vector<isolation_case> isolation_cases() {
  isolation_case many{
      "600 segments of 0 to 40 rows (device-built plans group too)", {}, {}, {}, 40, true, true};
  std::mt19937 rng(17);
  for (int i = 0; i < 600; ++i) many.lengths_q.push_back(static_cast<int32_t>(rng() % 41));
  for (const int32_t s : {0, 2, 299, 300, 598, 599}) {  // with rows (15 of the 600 have none)
    if (many.lengths_q[std::size_t(s)] > 0) many.victims.push_back(s);
  }
  return {
      {"groups with empty segments inside", {5, 0, 17, 1, 0, 30, 12, 64, 3, 3, 3}, {}, {}, 64},
      {"q and k of different lengths", {10, 20, 1, 0, 7, 4, 9}, {30, 5, 0, 12, 9, 4, 1}, {}, 20},
      {"tall tiles beside short ones", {300, 17, 64, 129, 1, 700, 40, 0, 65}, {}, {}, -1, false},
      many,
  };
}

template <class Element>
bool finite(Element x) {
  return std::isfinite(static_cast<float>(x));
}

//! One problem's inputs on the host and the device, the plan-independent part of a check.
template <class Element>
struct inputs {
  using view = varattn::packed_view<Element>;
  varattn::segments segs_q, segs_k;
  varattn::attention_shape shape;
  int64_t rows_q, rows_k, q_row, kv_row, lse_stride;
  std::vector<Element> hq, hk, hv;
  thrust::device_vector<Element> dq, dk, dv, dout;
  thrust::device_vector<float> dlse;

  inputs(const isolation_case& c, int32_t d, uint64_t seed)
      : segs_q(varattn::segments::from_lengths(c.lengths_q, "cu_seqlens_q")),
        segs_k(varattn::segments::from_lengths(c.lengths_k.empty() ? c.lengths_q : c.lengths_k,
                                               "cu_seqlens_k")),
        shape{4, 2, d},  // q heads 0, 1 read kv head 0
        rows_q(segs_q.total()),
        rows_k(segs_k.total()),
        q_row(int64_t{shape.heads_q} * d),
        kv_row(int64_t{shape.heads_kv} * d),
        lse_stride(rows_q + test::kLsePad) {
    std::mt19937_64 rng(seed);
    hq = test::random_elements<Element>(std::size_t(rows_q * q_row), rng);
    hk = test::random_elements<Element>(std::size_t(rows_k * kv_row), rng);
    hv = test::random_elements<Element>(std::size_t(rows_k * kv_row), rng);
    dq = hq;
    dk = hk;
    dv = hv;
    dout.resize(hq.size());
    dlse.resize(std::size_t(shape.heads_q * lse_stride));
  }
  thrust::device_vector<Element>& device(tensor t) {
    return t == tensor::q ? dq : t == tensor::k ? dk : dv;
  }
  const std::vector<Element>& host(tensor t) const {
    return t == tensor::q ? hq : t == tensor::k ? hk : hv;
  }
  view q() {
    return view::contiguous(thrust::raw_pointer_cast(dq.data()), rows_q, shape.heads_q,
                            shape.head_dim);
  }
  view k() {
    return view::contiguous(thrust::raw_pointer_cast(dk.data()), rows_k, shape.heads_kv,
                            shape.head_dim);
  }
  view v() {
    return view::contiguous(thrust::raw_pointer_cast(dv.data()), rows_k, shape.heads_kv,
                            shape.head_dim);
  }
};

//! An element to poison: tensor, its index in the packed array.
struct poisoned {
  tensor where;
  int64_t at;
  float value;
};

template <class Element>
void check_isolation(const isolation_case& c, int32_t d, const varattn::attention_options& m,
                     uint64_t seed, const std::vector<poison>& poisons) {
  using view = varattn::packed_view<Element>;
  inputs<Element> in(c, d, seed);
  const auto& segs_q = in.segs_q;
  const auto& segs_k = in.segs_k;
  thrust::device_vector<unsigned> scratch(varattn::kForwardScratchBytes / sizeof(unsigned), 0u);
  std::vector<int32_t> victims = c.victims;
  if (victims.empty()) {
    for (const varattn::segment& s : segs_q) {
      if (s.length > 0 || segs_k[std::size_t(s.index)].length > 0) victims.push_back(s.index);
    }
  }
  const varattn::detail::window w = varattn::detail::window::of(m);
  float* lse = thrust::raw_pointer_cast(in.dlse.data());
  const uint32_t kUnwritten = 0xffffffffu;  // test::kPoison in every byte

  bool grouped = false;  // some plan put segments in one tile: the case tests what it says
  for (const test::variant how : test::kVariants) {
    std::vector<varattn::kernel_config> automatic_kernels;
    for (const varattn::kernel_family family : test::kFamilies) {
      varattn::attention_options options = m;
      options.kernel = family;
      const auto plan =
          test::make_plan(how, segs_q, segs_k, in.shape, options, nullptr, c.device_max_q_length);
      const auto kernels = test::kernels_of(plan);
      if (family == varattn::kernel_family::automatic) {
        automatic_kernels = kernels;
      } else if (kernels == automatic_kernels) {
        continue;  // the same kernels as automatic: tested already
      }
      if (how == test::variant::fused) {
        for (const varattn::work_item& item : plan.work()) grouped = grouped || item.is_group();
      }
      const bool scheduled =
          how == test::variant::bucketed || how == test::variant::fused_built_on_device;
      for (const bool in_place : {false, true}) {
        if (in_place && (c.many || how != test::variant::fused)) continue;
        CAPTURE(std::string(test::variant_name(how)));
        CAPTURE(std::string(test::family_name(family)));
        CAPTURE(in_place);
        // Poisons o (unless in place) and the logsumexp, puts `bad` in, runs the forward, reads
        // o and the logsumexp back, and restores the inputs.
        const auto forward = [&](const std::vector<poisoned>& bad, std::vector<Element>& o_host,
                                 std::vector<float>& lse_host) {
          Element* out = thrust::raw_pointer_cast((in_place ? in.dq : in.dout).data());
          if (!in_place) {
            VARATTN_CUDA_CHECK(cudaMemset(out, test::kPoison, in.dout.size() * sizeof(Element)));
          }
          VARATTN_CUDA_CHECK(cudaMemset(lse, test::kPoison, in.dlse.size() * sizeof(float)));
          for (const poisoned& b : bad) {
            const Element x = test::from_float<Element>(b.value);
            VARATTN_CUDA_CHECK(
                cudaMemcpy(thrust::raw_pointer_cast(in.device(b.where).data()) + b.at, &x, sizeof x,
                           cudaMemcpyHostToDevice));
          }
          varattn::forward<Element>(
              plan, in.q(), in.k(), in.v(), view::contiguous(out, in.rows_q, in.shape.heads_q, d),
              varattn::logsumexp_view{lse, in.lse_stride}, nullptr,
              varattn::forward_scratch{scheduled ? thrust::raw_pointer_cast(scratch.data())
                                                 : nullptr});
          VARATTN_CUDA_CHECK(cudaDeviceSynchronize());
          o_host.resize(in.hq.size());
          lse_host.resize(in.dlse.size());
          VARATTN_CUDA_CHECK(cudaMemcpy(o_host.data(), out, o_host.size() * sizeof(Element),
                                        cudaMemcpyDeviceToHost));
          VARATTN_CUDA_CHECK(cudaMemcpy(lse_host.data(), lse, lse_host.size() * sizeof(float),
                                        cudaMemcpyDeviceToHost));
          for (const poisoned& b : bad) {  // in place, o's rows are back in q below
            const Element x = in.host(b.where)[std::size_t(b.at)];
            VARATTN_CUDA_CHECK(
                cudaMemcpy(thrust::raw_pointer_cast(in.device(b.where).data()) + b.at, &x, sizeof x,
                           cudaMemcpyHostToDevice));
          }
          if (in_place) in.dq = in.hq;
        };
        std::vector<Element> clean_o, o;
        std::vector<float> clean_lse, l;
        forward({}, clean_o, clean_lse);
        // The clean run wrote every element of o finite and every logsumexp (-inf for a row that
        // sees no key), and nothing of the padding after each head's rows.
        int64_t clean_bad = 0;
        for (const Element x : clean_o) clean_bad += finite(x) ? 0 : 1;
        for (int64_t i = 0; i < int64_t(clean_lse.size()); ++i) {
          uint32_t bits;
          std::memcpy(&bits, &clean_lse[std::size_t(i)], sizeof bits);
          const bool row = i % in.lse_stride < in.rows_q;
          clean_bad += (row ? bits == kUnwritten || std::isnan(clean_lse[std::size_t(i)])
                            : bits != kUnwritten)
                           ? 1
                           : 0;
        }
        REQUIRE(clean_bad == 0);

        // The victims' poisoned elements: the middle row of q (or k, v), head 0, a channel that
        // moves with the segment. Then, in one run, two victims of the same group together.
        struct trial {
          std::vector<int32_t> segments;
          std::vector<poisoned> bad;
          const poison* kind;
          int32_t key = -1, channel = -1;  // a single v poison's key (local) and channel
        };
        std::vector<trial> trials;
        for (const int32_t s : victims) {
          const varattn::segment vq = segs_q[std::size_t(s)], vk = segs_k[std::size_t(s)];
          for (const poison& pz : poisons) {
            const bool on_q = pz.where == tensor::q;
            const int32_t length = on_q ? vq.length : vk.length;
            if (length == 0) continue;
            const int32_t local = length / 2, channel = (s * 7 + 3) % d;
            const int64_t at =
                (int64_t{on_q ? vq.begin : vk.begin} + local) * (on_q ? in.q_row : in.kv_row) +
                channel;
            trials.push_back({{s}, {{pz.where, at, pz.value}}, &pz, local, channel});
          }
        }
        if (victims.size() >= 2 && poisons.size() > 1) {
          const varattn::segment a = segs_k[std::size_t(victims[0])];
          const varattn::segment b = segs_k[std::size_t(victims[victims.size() / 2])];
          if (a.length > 0 && b.length > 0) {
            trials.push_back({{a.index, b.index},
                              {{tensor::v, int64_t{a.begin} * in.kv_row, INFINITY},
                               {tensor::v, int64_t{b.begin} * in.kv_row + 1, NAN}},
                              &kPoisons[0]});
          }
        }

        for (const trial& t : trials) {
          forward(t.bad, o, l);
          // Other segments' rows: finite, within rounding of the clean run (a recomputed row)
          // or bitwise it; their logsumexp bitwise. The victims' heads that read no poisoned
          // element, and (v poisons) the victims' logsumexp: bitwise. A lone v poison: non-finite
          // in its channel in every victim row that sees its key, for q heads 0 and 1.
          int64_t wrong = 0, recomputed = 0, victim_finite = 0;
          std::string first;
          const auto is_victim = [&](int32_t s) {
            for (const int32_t x : t.segments) {
              if (x == s) return true;
            }
            return false;
          };
          const tensor where = t.bad[0].where;
          for (const varattn::segment& seg : segs_q) {
            const bool victim = is_victim(seg.index);
            const varattn::detail::segment_mask mask = varattn::detail::segment_mask::make(
                w, seg.length, segs_k[std::size_t(seg.index)].length);
            for (int64_t r = seg.begin; r < seg.end(); ++r) {
              for (int32_t h = 0; h < in.shape.heads_q; ++h) {
                // Heads whose output the poison may reach: q's head 0, k's and v's kv head 0.
                const bool reached = victim && (where == tensor::q ? h == 0 : h < 2);
                const std::size_t i0 = std::size_t(r * in.q_row + h * d);
                const std::size_t li = std::size_t(h * in.lse_stride + r);
                bool ok = true;
                if (!reached) {
                  const bool same = std::memcmp(&o[i0], &clean_o[i0], d * sizeof(Element)) == 0;
                  if (!same) {
                    ok = !victim && test::within_rounding(&o[i0], &clean_o[i0], d);
                    recomputed += ok ? 1 : 0;
                  }
                }
                if (!reached || where == tensor::v) {
                  ok = ok && std::memcmp(&l[li], &clean_lse[li], sizeof(float)) == 0;
                }
                if (!ok) {
                  if (wrong == 0) {
                    first = "segment " + std::to_string(seg.index) + " row " + std::to_string(r) +
                            " head " + std::to_string(h);
                  }
                  ++wrong;
                }
                const auto query = static_cast<int32_t>(r - seg.begin);
                if (reached && where == tensor::v && t.key >= 0 && mask.visible(query, t.key)) {
                  victim_finite += finite(o[i0 + std::size_t(t.channel)]) ? 1 : 0;
                }
              }
            }
          }
          for (int32_t h = 0; h < in.shape.heads_q; ++h) {  // the padding after each head
            for (int64_t i = in.rows_q; i < in.lse_stride; ++i) {
              uint32_t bits;
              std::memcpy(&bits, &l[std::size_t(h * in.lse_stride + i)], sizeof bits);
              wrong += bits != kUnwritten ? 1 : 0;
            }
          }
          CAPTURE(std::string(t.kind->name));
          CAPTURE(t.segments.size() == 1
                      ? std::to_string(t.segments[0])
                      : std::to_string(t.segments[0]) + " and " + std::to_string(t.segments[1]));
          CAPTURE(first);
          CAPTURE(recomputed);
          CHECK(wrong == 0);
          CHECK(victim_finite == 0);
        }
      }
      const thrust::host_vector<unsigned> left = scratch;
      for (const unsigned x : left) REQUIRE(x == 0u);
    }
  }
  CHECK(grouped == c.groups);
}

template <class Element>
void check_isolation_cases() {
  using test::mask_options;
  const varattn::attention_options masks[] = {mask_options(false, -1, -1),
                                              mask_options(true, -1, -1), mask_options(false, 2, 2),
                                              mask_options(false, -1, -1, 5.0f)};
  uint64_t seed = 7100;
  for (const isolation_case& c : isolation_cases()) {
    for (const int32_t d : {64, 80, 128, 256}) {
      if (c.many && d != 64) continue;
      if (!test::instantiated(d)) continue;
      for (const varattn::attention_options& m : masks) {
        CAPTURE(std::string(c.name));
        CAPTURE(d);
        CAPTURE(test::options_text(m));
        check_isolation<Element>(c, d, m, seed++, {std::begin(kPoisons), std::end(kPoisons)});
      }
    }
  }
}

}  // namespace

// One case, few launches: the one compute-sanitizer runs (a group tile's recomputed rows).
TEST_CASE("an inf in one segment of a group tile, one case") {
  if (!test::instantiated(64)) return;
  isolation_case c = isolation_cases()[0];
  c.victims = {2};
  check_isolation<__nv_bfloat16>(c, 64, test::mask_options(false, -1, -1), 7000, {kPoisons[0]});
}

TEST_CASE("bfloat16: an inf or NaN in one segment never reaches another segment's rows") {
  check_isolation_cases<__nv_bfloat16>();
}
TEST_CASE("half: an inf or NaN in one segment never reaches another segment's rows") {
  check_isolation_cases<__half>();
}
