// SPDX-License-Identifier: Apache-2.0
// The backward keeps segments apart: an inf or NaN in one segment's q, k, v or d_o (and what
// the forward then gave it: its o and logsumexp) never reaches another segment's dq, dk or dv,
// nor the other heads of its own, under every launch policy and kernel family, with the atomic
// and the deterministic dQ paths, four masks (bf16; fp16 two), both dtypes. The backward's
// tiles hold one segment each, but a tile's copies may cross the segment's end (the next
// segment's first rows) and the dQ terms are summed in a shared accumulator: each poison sits
// in a segment's first, middle or last row, in turn. Other rows' gradients: bitwise the clean
// run's (the atomic dq: finite and within rounding of it). The backward gets the clean o outside
// the poisoned segment: a group tile's forward recomputes a neighbour's row within rounding, not
// bitwise (segment_isolation_test.cu checks that). The poisoned segment: some reached gradient
// non-finite, so that each trial is seen to have put its poison where the backward reads it.
#include "../common/mask_options.hpp"
#include "harness.cuh"

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

enum class input { q, k, v, d_o };

struct poison {
  input where;
  float value;
  const char* name;
};

constexpr poison kPoisons[] = {
    {input::v, INFINITY, "v = +inf"},     {input::v, NAN, "v = NaN"},
    {input::k, INFINITY, "k = +inf"},     {input::q, NAN, "q = NaN"},
    {input::d_o, INFINITY, "d_o = +inf"}, {input::d_o, NAN, "d_o = NaN"},
};

struct isolation_case {
  const char* name;
  std::vector<int32_t> lengths_q;
  std::vector<int32_t> lengths_k;  // empty: as lengths_q
  std::vector<int32_t> victims;
};

const isolation_case kCases[] = {
    {"tall segments beside short ones", {300, 17, 64, 129, 1, 700, 40, 0, 65}, {}, {0, 1, 3, 5, 8}},
    {"q and k of different lengths",
     {10, 20, 1, 0, 7, 4, 9, 130},
     {30, 5, 0, 12, 9, 4, 1, 200},
     {0, 1, 4, 7}},
    {"short segments, empty ones inside", {5, 0, 17, 1, 0, 30, 12, 64, 3, 3, 3}, {}, {0, 2, 7, 9}},
};

//! A gradient tensor's reach from the poison, in the poisoned segment's rows: its first
//! `reached_heads` heads (dq: q heads 0 and 1, those reading kv head 0; dk, dv: kv head 0).
struct gradient_check {
  const char* name;
  const varattn::segments* segs;  // its rows' segments
  int32_t heads;
  int32_t reached_heads;
  bool bitwise;  // else finite and within rounding (the atomic dq)
};

template <class Element>
void check_backward_isolation(const isolation_case& c, int32_t d,
                              const varattn::attention_options& m, uint64_t seed) {
  using const_view = varattn::packed_view<const Element>;
  using view = varattn::packed_view<Element>;
  const auto segs_q = varattn::segments::from_lengths(c.lengths_q, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths(
      c.lengths_k.empty() ? c.lengths_q : c.lengths_k, "cu_seqlens_k");
  const varattn::attention_shape shape{4, 2, d};  // q heads 0, 1 read kv head 0
  const int64_t rows_q = segs_q.total(), rows_k = segs_k.total();
  const int64_t q_row = int64_t{shape.heads_q} * d, kv_row = int64_t{shape.heads_kv} * d;
  std::mt19937_64 rng(seed);
  std::vector<Element> host[4] = {test::random_elements<Element>(std::size_t(rows_q * q_row), rng),
                                  test::random_elements<Element>(std::size_t(rows_k * kv_row), rng),
                                  test::random_elements<Element>(std::size_t(rows_k * kv_row), rng),
                                  test::random_elements<Element>(std::size_t(rows_q * q_row), rng)};
  thrust::device_vector<Element> dev[4] = {host[0], host[1], host[2], host[3]};
  const auto ptr = [&](input t) { return thrust::raw_pointer_cast(dev[int(t)].data()); };
  thrust::device_vector<Element> o(host[0].size()), o_clean(host[0].size()), o_used(host[0].size());
  thrust::device_vector<float> lse(std::size_t(shape.heads_q * rows_q));
  thrust::device_vector<unsigned> scratch(varattn::kForwardScratchBytes / sizeof(unsigned), 0u);
  const const_view q = const_view::contiguous(ptr(input::q), rows_q, shape.heads_q, d);
  const const_view k = const_view::contiguous(ptr(input::k), rows_k, shape.heads_kv, d);
  const const_view v = const_view::contiguous(ptr(input::v), rows_k, shape.heads_kv, d);
  const const_view d_o = const_view::contiguous(ptr(input::d_o), rows_q, shape.heads_q, d);
  thrust::device_vector<Element> grads[3] = {thrust::device_vector<Element>(host[0].size()),
                                             thrust::device_vector<Element>(host[1].size()),
                                             thrust::device_vector<Element>(host[1].size())};
  const auto grad_view = [&](int i) {
    return view::contiguous(thrust::raw_pointer_cast(grads[i].data()), i == 0 ? rows_q : rows_k,
                            i == 0 ? shape.heads_q : shape.heads_kv, d);
  };

  // The trials: each victim's first, middle and last rows in turn (by poison), head 0, a
  // channel that moves with the segment; the element's local row is kept for the reach check.
  struct trial {
    int32_t segment;
    const poison* kind;
    int32_t local;  // the poisoned row, in its segment (queries for q and d_o, else keys)
    int64_t at;
  };
  std::vector<trial> trials;
  for (std::size_t n = 0; n < c.victims.size(); ++n) {
    const int32_t s = c.victims[n];
    const varattn::segment vq = segs_q[std::size_t(s)], vk = segs_k[std::size_t(s)];
    int which = static_cast<int>(n);  // each poison takes each row position across victims
    for (const poison& pz : kPoisons) {
      const bool on_q = pz.where == input::q || pz.where == input::d_o;
      const int32_t length = on_q ? vq.length : vk.length;
      if (length == 0) continue;
      const int32_t local = which % 3 == 0 ? 0 : which % 3 == 1 ? length / 2 : length - 1;
      ++which;
      const int64_t at =
          (int64_t{on_q ? vq.begin : vk.begin} + local) * (on_q ? q_row : kv_row) + (s * 7 + 3) % d;
      trials.push_back({s, &pz, local, at});
    }
  }
  // Whether the poisoned element takes part: a q or d_o row that sees a key, a k or v row that
  // some query of its segment sees. Then some gradient of the victim must come out non-finite.
  const auto takes_part = [&](const trial& t) {
    const int32_t lq = segs_q[std::size_t(t.segment)].length;
    const int32_t lk = segs_k[std::size_t(t.segment)].length;
    const bool on_q = t.kind->where == input::q || t.kind->where == input::d_o;
    for (int32_t i = 0; i < lq; ++i) {
      if (on_q && i != t.local) continue;
      const auto keys = varattn::reference_visible_keys(i, lq, lk, m);
      if (keys.first > keys.last) continue;
      if (on_q || (t.local >= keys.first && t.local <= keys.last)) return true;
    }
    return false;
  };

  for (const test::variant how : test::kVariants) {
    std::vector<varattn::kernel_config> automatic_kernels;
    for (const varattn::kernel_family family : test::kFamilies) {
      varattn::attention_options options = m;
      options.kernel = family;
      const varattn::plan plan = test::make_plan(how, segs_q, segs_k, shape, options, nullptr);
      const auto kernels = test::kernels_of(plan);
      if (family == varattn::kernel_family::automatic) {
        automatic_kernels = kernels;
      } else if (kernels == automatic_kernels) {
        continue;  // the same kernels as automatic: tested already
      }
      const bool scheduled =
          how == test::variant::bucketed || how == test::variant::fused_built_on_device;
      for (const bool deterministic : {false, true}) {
        varattn::backward_options bo;
        bo.deterministic = deterministic;
        const bool atomic_dq = varattn::detail::backward_layout::of(plan, bo).atomic_dq;
        if (!deterministic && !atomic_dq) continue;  // the same kernels as deterministic
        CAPTURE(std::string(test::variant_name(how)));
        CAPTURE(std::string(test::family_name(family)));
        CAPTURE(deterministic);
        const std::size_t workspace_bytes = varattn::backward_workspace_bytes(plan, bo);
        thrust::device_vector<unsigned char> workspace(workspace_bytes);
        // Puts `bad` in, runs the forward (its o and logsumexp: what training would hand the
        // backward; o outside the poisoned segment as the clean run's) and the backward into
        // NaN-filled gradients, reads them back, restores the input.
        const auto run = [&](const trial* bad, std::vector<Element>(&out)[3]) {
          if (bad != nullptr) {
            const Element x = test::from_float<Element>(bad->kind->value);
            VARATTN_CUDA_CHECK(
                cudaMemcpy(ptr(bad->kind->where) + bad->at, &x, sizeof x, cudaMemcpyHostToDevice));
          }
          const varattn::logsumexp_view lv{thrust::raw_pointer_cast(lse.data()), rows_q};
          varattn::forward<Element>(
              plan, q, k, v,
              view::contiguous(thrust::raw_pointer_cast(o.data()), rows_q, shape.heads_q, d), lv,
              nullptr,
              varattn::forward_scratch{scheduled ? thrust::raw_pointer_cast(scratch.data())
                                                 : nullptr});
          if (bad == nullptr) {
            o_clean = o;
            o_used = o;
          } else {
            o_used = o_clean;
            const varattn::segment vq = segs_q[std::size_t(bad->segment)];
            VARATTN_CUDA_CHECK(cudaMemcpy(
                thrust::raw_pointer_cast(o_used.data()) + vq.begin * q_row,
                thrust::raw_pointer_cast(o.data()) + vq.begin * q_row,
                std::size_t(vq.length * q_row) * sizeof(Element), cudaMemcpyDeviceToDevice));
          }
          for (auto& g : grads) {
            VARATTN_CUDA_CHECK(cudaMemset(thrust::raw_pointer_cast(g.data()), test::kPoison,
                                          g.size() * sizeof(Element)));
          }
          varattn::backward<Element>(plan, q, k, v,
                                     const_view::contiguous(thrust::raw_pointer_cast(o_used.data()),
                                                            rows_q, shape.heads_q, d),
                                     d_o, lv, grad_view(0), grad_view(1), grad_view(2),
                                     thrust::raw_pointer_cast(workspace.data()), workspace_bytes,
                                     nullptr, bo);
          VARATTN_CUDA_CHECK(cudaDeviceSynchronize());
          for (int i = 0; i < 3; ++i) {
            out[i].resize(grads[i].size());
            VARATTN_CUDA_CHECK(cudaMemcpy(out[i].data(), thrust::raw_pointer_cast(grads[i].data()),
                                          out[i].size() * sizeof(Element), cudaMemcpyDeviceToHost));
          }
          if (bad != nullptr) {
            const Element x = host[int(bad->kind->where)][std::size_t(bad->at)];
            VARATTN_CUDA_CHECK(
                cudaMemcpy(ptr(bad->kind->where) + bad->at, &x, sizeof x, cudaMemcpyHostToDevice));
          }
        };
        std::vector<Element> clean[3], got[3];
        run(nullptr, clean);
        int64_t clean_bad = 0;  // the clean run wrote every gradient element finite
        for (const auto& g : clean) {
          for (const Element x : g) clean_bad += std::isfinite(static_cast<float>(x)) ? 0 : 1;
        }
        REQUIRE(clean_bad == 0);

        const gradient_check checks[3] = {{"dq", &segs_q, shape.heads_q, 2, !atomic_dq},
                                          {"dk", &segs_k, shape.heads_kv, 1, true},
                                          {"dv", &segs_k, shape.heads_kv, 1, true}};
        for (const trial& t : trials) {
          run(&t, got);
          int64_t wrong = 0, victim_nonfinite = 0;
          std::string first;
          for (int i = 0; i < 3; ++i) {
            const gradient_check& g = checks[i];
            for (const varattn::segment& seg : *g.segs) {
              for (int64_t r = seg.begin; r < seg.end(); ++r) {
                for (int32_t h = 0; h < g.heads; ++h) {
                  const std::size_t i0 = std::size_t((r * g.heads + h) * d);
                  // A q or d_o poison reaches dq's head 0 only (k and v: both heads reading
                  // kv head 0), and dk's and dv's kv head 0.
                  const bool on_q = t.kind->where == input::q || t.kind->where == input::d_o;
                  if (seg.index == t.segment && h < (i == 0 && on_q ? 1 : g.reached_heads)) {
                    for (int32_t ch = 0; ch < d; ++ch) {
                      victim_nonfinite +=
                          std::isfinite(static_cast<float>(got[i][i0 + ch])) ? 0 : 1;
                    }
                    continue;
                  }
                  bool ok = std::memcmp(&got[i][i0], &clean[i][i0], d * sizeof(Element)) == 0;
                  if (!ok && !g.bitwise) ok = test::within_rounding(&got[i][i0], &clean[i][i0], d);
                  if (!ok) {
                    if (wrong++ == 0) {
                      first = std::string(g.name) + " segment " + std::to_string(seg.index) +
                              " row " + std::to_string(r - seg.begin) + " head " +
                              std::to_string(h);
                    }
                  }
                }
              }
            }
          }
          CAPTURE(std::string(t.kind->name));
          CAPTURE(t.segment);
          CAPTURE(t.local);
          CAPTURE(first);
          CHECK(wrong == 0);
          if (takes_part(t)) CHECK(victim_nonfinite > 0);
        }
      }
    }
  }
}

//! The cases at `dims` under the first `mask_count` masks (none, causal, a window, softcap).
template <class Element>
void check_backward_isolation_cases(std::initializer_list<int32_t> dims, int mask_count) {
  using test::mask_options;
  const varattn::attention_options masks[] = {mask_options(false, -1, -1),
                                              mask_options(true, -1, -1), mask_options(false, 2, 2),
                                              mask_options(true, -1, -1, 5.0f)};
  uint64_t seed = 7300;
  for (const isolation_case& c : kCases) {
    for (const int32_t d : dims) {
      if (!test::instantiated(d)) continue;
      for (int i = 0; i < mask_count; ++i) {
        const varattn::attention_options& m = masks[i];
        CAPTURE(std::string(c.name));
        CAPTURE(d);
        CAPTURE(test::options_text(m));
        CAPTURE(seed);
        check_backward_isolation<Element>(c, d, m, seed++);
      }
    }
  }
}

}  // namespace

TEST_CASE("bfloat16: an inf or NaN in one segment never reaches another segment's gradients") {
  check_backward_isolation_cases<__nv_bfloat16>({64, 80, 128, 256}, 4);
}
TEST_CASE("half: an inf or NaN in one segment never reaches another segment's gradients") {
  check_backward_isolation_cases<__half>({64, 128}, 2);  // the kernels' other element type
}
