// SPDX-License-Identifier: Apache-2.0
// The backward (dq, dk, dv) against the double-precision reference gradients: both element
// types, every default head dim, options (none, causal, window, softcap, GQA 4:1, MQA), every
// launch policy (the harness's variants), segments of length 0 and 1, q shorter and longer
// than k, one long segment of 4,096 rows (every row against the reference) and one of 16,384
// (64 query rows' dq and 64 key rows' dk, dv against it: reference_attention_backward_rows
// over a forward reference computed on every core), 2,048 tiny segments, and a small case of
// every backward kernel (each tile shape, element type and softcap) for compute-sanitizer.
// Every run: gradients and workspace NaN-poisoned first, every element checked (finite,
// within the tolerance where the reference has it, exactly 0 for rows that see no key and
// keys no query sees, guard rows untouched), both dQ paths (atomic, deterministic), and a
// second run whose dk and dv bits equal the first's (and dq's on the deterministic path). o and the logsumexp come from the reference
// (rounded to the element type and to float), so this file instantiates no forward kernel
// (compile time); the PyTorch op's tests run forward and backward end to end
// (python/tests/test_backward.py).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "harness.cuh"

namespace {

template <class Element>
constexpr double backward_tolerance() {
  return std::is_same_v<Element, __half> ? 1e-2 : 2e-2;
}

//! One row's error may reach this many times the tensor's tolerance (the largest of a
//! thousand rows' errors sits above their mean), and no more: a wrong row errs by ~1.
constexpr double kWorstRowFactor = 5.0;

struct backward_problem {
  std::vector<int32_t> lengths_q;
  std::vector<int32_t> lengths_k;  //!< empty: as lengths_q
  int32_t heads_q = 2;
  int32_t heads_kv = 2;
  int32_t head_dim = 64;
  varattn::attention_options options{};
  float q_gain = 1.0f;
  std::vector<test::variant> variants{std::begin(test::kVariants), std::end(test::kVariants)};
  //! 0: the reference gradients of every row; n > 0: dq of n query rows and dk, dv of n key
  //! rows (the first two, the middle one, the last two, the others drawn at random) only.
  int32_t sampled_rows = 0;
  //! A second run, bit-identical to the first (off in the sanitizers' small case: time).
  bool repeat = true;
  //! backward_options::deterministic values to run: the atomic dQ path and the deterministic
  //! one. dk and dv are bit-identical run to run in both; dq in the deterministic one only.
  std::vector<bool> deterministic{false, true};
  //! Elements after each token row of d_q, d_k and d_v (token_stride = heads x head_dim + this),
  //! poisoned like the guard rows: no kernel may write them.
  int32_t grad_pad = 0;
};

struct gradient_score {
  double rel_error = 0;
  //! The largest error of one row over the larger of its own norm and the rows' mean norm:
  //! an error confined to a few rows (a partial step's second half: 2 of 1,088 rows) that
  //! the tensor's relative error would average away.
  double worst_row_error = 0;
  int64_t worst_row = -1;
  int64_t nonfinite = 0;
  int64_t guard_written = 0;
  int64_t zero_expected_nonzero = 0;  //!< rows that must be exactly 0 and are not
};

//! `out` (rows + guard rows) against `ref` (rows); `zero_rows[r]`: row r must be exactly 0.
//! Rows the reference did not compute (NaN there: sampled) are only checked to be finite.
template <class Element>
gradient_score score_gradient(const std::vector<Element>& out, const std::vector<double>& ref,
                              const std::vector<char>& zero_rows, int64_t row_elements) {
  gradient_score g;
  const std::size_t rows = ref.size() / std::size_t(row_elements);
  std::vector<double> row_err2(rows, 0.0), row_ref2(rows, 0.0);
  std::vector<char> row_checked(rows, 0);
  double err2 = 0, ref2 = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const std::size_t row = i / std::size_t(row_elements);
    const double x = varattn::detail::to_double(out[i]);
    if (!std::isfinite(x)) {
      ++g.nonfinite;
      continue;
    }
    if (zero_rows[row] && x != 0.0) ++g.zero_expected_nonzero;
    if (std::isnan(ref[i])) continue;  // row not sampled
    row_err2[row] += (x - ref[i]) * (x - ref[i]);
    row_ref2[row] += ref[i] * ref[i];
    row_checked[row] = 1;
  }
  int64_t checked = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    err2 += row_err2[r];
    ref2 += row_ref2[r];
    checked += row_checked[r];
  }
  g.rel_error = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  const double mean_norm = checked > 0 ? std::sqrt(ref2 / double(checked)) : 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    if (!row_checked[r]) continue;
    const double norm = std::max(std::sqrt(row_ref2[r]), mean_norm);
    const double e = norm > 0 ? std::sqrt(row_err2[r]) / norm : std::sqrt(row_err2[r]);
    if (e > g.worst_row_error) {
      g.worst_row_error = e;
      g.worst_row = static_cast<int64_t>(r);
    }
  }
  const auto* guard = reinterpret_cast<const unsigned char*>(out.data() + ref.size());
  for (std::size_t b = 0; b < (out.size() - ref.size()) * sizeof(Element); ++b) {
    g.guard_written += guard[b] != test::kPoison;
  }
  return g;
}

//! Keys that no query of their segment sees: their dk and dv are exactly 0.
std::vector<char> unseen_keys(const varattn::segments& segs_q, const varattn::segments& segs_k,
                              const varattn::attention_options& options) {
  std::vector<char> unseen(std::size_t(segs_k.total()), 1);
  for (std::size_t s = 0; s < segs_q.size(); ++s) {
    for (int32_t i = 0; i < segs_q[s].length; ++i) {
      const auto keys =
          varattn::reference_visible_keys(i, segs_q[s].length, segs_k[s].length, options);
      for (int64_t j = keys.first; j <= keys.last; ++j) unseen[std::size_t(segs_k[s].begin + j)] = 0;
    }
  }
  return unseen;
}

//! A device buffer of `rows + kGuardRows` token rows of heads x head_dim elements and `pad` more
//! (the view's token_stride), NaN-poisoned before each run.
template <class Element>
struct gradient_buffer {
  thrust::device_vector<Element> data;
  int64_t rows, heads, head_dim, pad;
  int64_t pad_written = 0;  //!< the pads' bytes that are no longer poison, as of read()
  gradient_buffer(int64_t rows_, int32_t heads_, int32_t d, int32_t pad_ = 0)
      : data(std::size_t((rows_ + test::kGuardRows) * (heads_ * d + pad_))), rows(rows_),
        heads(heads_), head_dim(d), pad(pad_) {}
  int64_t row_stride() const { return heads * head_dim + pad; }
  Element* ptr() { return thrust::raw_pointer_cast(data.data()); }
  varattn::packed_view<Element> view() {
    return {ptr(), rows, static_cast<int32_t>(heads), static_cast<int32_t>(head_dim), row_stride(),
            head_dim};
  }
  void poison(cudaStream_t stream) {
    VARATTN_CUDA_CHECK(cudaMemsetAsync(ptr(), test::kPoison, data.size() * sizeof(Element), stream));
  }
  //! The rows without their pads, then the guard rows as they are (score_gradient's layout).
  std::vector<Element> read() {
    std::vector<Element> raw(data.size());
    VARATTN_CUDA_CHECK(
        cudaMemcpy(raw.data(), ptr(), raw.size() * sizeof(Element), cudaMemcpyDeviceToHost));
    const int64_t width = heads * head_dim;
    std::vector<Element> host;
    host.reserve(raw.size());
    pad_written = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const Element* row = raw.data() + r * row_stride();
      host.insert(host.end(), row, row + width);
      const auto* bytes = reinterpret_cast<const unsigned char*>(row + width);
      for (std::size_t b = 0; b < std::size_t(pad) * sizeof(Element); ++b) {
        pad_written += bytes[b] != test::kPoison;
      }
    }
    host.insert(host.end(), raw.begin() + rows * row_stride(), raw.end());
    return host;
  }
};

//! `count` of `rows` rows: the first two, the middle one, the last two, the others at random.
std::vector<char> sample_rows(int64_t rows, int32_t count, std::mt19937_64& rng) {
  std::vector<char> chosen(std::size_t(rows), 0);
  int64_t left = std::min<int64_t>(count, rows);
  const auto choose = [&](int64_t row) {
    if (left > 0 && row >= 0 && row < rows && !chosen[std::size_t(row)]) {
      chosen[std::size_t(row)] = 1;
      --left;
    }
  };
  for (const int64_t row : {int64_t{0}, int64_t{1}, rows / 2, rows - 2, rows - 1}) choose(row);
  std::uniform_int_distribution<int64_t> any(0, std::max<int64_t>(rows - 1, 0));
  while (left > 0) choose(any(rng));
  return chosen;
}

//! The reference gradients of `pr`: of every row (reference_attention_backward's, computed on
//! every core: test::backward_reference_on_every_core, bit for bit the same), or
//! (pr.sampled_rows) of sampled rows, from a forward reference of every row (whose out and lse
//! the backward reads).
template <class Element>
varattn::reference_gradients reference_of(
    const backward_problem& pr, const varattn::segments& segs_q, const varattn::segments& segs_k,
    varattn::packed_view<const Element> q, varattn::packed_view<const Element> k,
    varattn::packed_view<const Element> v, varattn::packed_view<const Element> d_o,
    std::mt19937_64& rng) {
  if (pr.sampled_rows == 0) {
    return test::backward_reference_on_every_core<Element>(segs_q, segs_k, q, k, v, d_o,
                                                           pr.options);
  }
  const std::vector<char> chosen_q = sample_rows(q.rows, pr.sampled_rows, rng);
  const std::vector<char> chosen_k = sample_rows(k.rows, pr.sampled_rows, rng);
  return varattn::reference_attention_backward_rows<Element>(
      segs_q, segs_k, q, k, v, d_o, pr.options,
      test::reference_on_every_core(segs_q, segs_k, q, k, v, pr.options,
                                    [](int32_t) { return true; }),
      [&](int32_t row) { return chosen_q[std::size_t(row)] != 0; },
      [&](int32_t row) { return chosen_k[std::size_t(row)] != 0; });
}

template <class Element>
void check_backward(const backward_problem& pr, uint64_t seed) {
  using const_view = varattn::packed_view<const Element>;
  const auto segs_q = varattn::segments::from_lengths(pr.lengths_q, "cu_seqlens_q");
  const auto segs_k = varattn::segments::from_lengths(
      pr.lengths_k.empty() ? pr.lengths_q : pr.lengths_k, "cu_seqlens_k");
  const int32_t d = pr.head_dim;
  const int64_t rows_q = segs_q.total(), rows_k = segs_k.total();
  std::mt19937_64 rng(seed);
  std::vector<Element> hq = test::random_elements<Element>(std::size_t(rows_q * pr.heads_q * d), rng,
                                                           pr.q_gain);
  std::vector<Element> hk = test::random_elements<Element>(std::size_t(rows_k * pr.heads_kv * d), rng);
  std::vector<Element> hv = test::random_elements<Element>(std::size_t(rows_k * pr.heads_kv * d), rng);
  std::vector<Element> hdo = test::random_elements<Element>(std::size_t(rows_q * pr.heads_q * d), rng);
  const varattn::reference_gradients ref = reference_of<Element>(
      pr, segs_q, segs_k, const_view::contiguous(hq.data(), rows_q, pr.heads_q, d),
      const_view::contiguous(hk.data(), rows_k, pr.heads_kv, d),
      const_view::contiguous(hv.data(), rows_k, pr.heads_kv, d),
      const_view::contiguous(hdo.data(), rows_q, pr.heads_q, d), rng);
  std::vector<char> keyless = test::rows_with_keys(segs_q, segs_k, pr.options);
  for (char& c : keyless) c = !c;
  const std::vector<char> unseen = unseen_keys(segs_q, segs_k, pr.options);

  test::stream_guard sg;
  const cudaStream_t stream = sg.stream;
  std::vector<Element> ho(ref.out.size());
  for (std::size_t i = 0; i < ho.size(); ++i) ho[i] = test::from_float<Element>(float(ref.out[i]));
  const std::vector<float> hlse(ref.lse.begin(), ref.lse.end());  // [heads_q, rows_q]
  const thrust::device_vector<Element> dq_in(hq), dk_in(hk), dv_in(hv), ddo(hdo), dout(ho);
  thrust::device_vector<float> dlse(hlse);
  const auto q = const_view::contiguous(thrust::raw_pointer_cast(dq_in.data()), rows_q, pr.heads_q, d);
  const auto k = const_view::contiguous(thrust::raw_pointer_cast(dk_in.data()), rows_k, pr.heads_kv, d);
  const auto v = const_view::contiguous(thrust::raw_pointer_cast(dv_in.data()), rows_k, pr.heads_kv, d);
  const auto d_o = const_view::contiguous(thrust::raw_pointer_cast(ddo.data()), rows_q, pr.heads_q, d);
  const auto o = const_view::contiguous(thrust::raw_pointer_cast(dout.data()), rows_q, pr.heads_q, d);
  const varattn::logsumexp_view lse{thrust::raw_pointer_cast(dlse.data()), rows_q};
  gradient_buffer<Element> grad_q(rows_q, pr.heads_q, d, pr.grad_pad),
      grad_k(rows_k, pr.heads_kv, d, pr.grad_pad), grad_v(rows_k, pr.heads_kv, d, pr.grad_pad);

  for (const test::variant how : pr.variants) {
    CAPTURE(std::string(test::variant_name(how)));
    const varattn::plan plan =
        test::make_plan(how, segs_q, segs_k, {pr.heads_q, pr.heads_kv, d}, pr.options, stream);
    for (const bool deterministic : pr.deterministic) {
      CAPTURE(deterministic);
      varattn::backward_options options;
      options.deterministic = deterministic;
      const std::size_t workspace_bytes = varattn::backward_workspace_bytes(plan, options);
      // The Hopper kernels (plans whose forward runs the Hopper tall tile, head dims up to 128
      // and 256) sum dQ themselves unless asked to be deterministic, at 72 and 80 too (where
      // the sm80 kernels take the dQ kernel; Hopper short-tile plans keep those).
      if (varattn::detail::hopper_backward(plan)) {
        CHECK(varattn::detail::backward_layout::of(plan, options).atomic_dq == !deterministic);
      }
      // The second run hands backward a workspace 48 bytes into the allocation (16-byte
      // aligned, not on an L2 line): the regions' origin moves to the next line
      // (workspace_origin) and the fixed-order results keep their bits.
      constexpr std::size_t kSecondRunOffset = 48;
      thrust::device_vector<unsigned char> workspace(workspace_bytes + kSecondRunOffset + 1);
      std::vector<Element> first[3];
      for (int run = 0; run < (pr.repeat ? 2 : 1); ++run) {
        CAPTURE(run);
        unsigned char* run_workspace =
            thrust::raw_pointer_cast(workspace.data()) + (run == 1 ? kSecondRunOffset : 0);
        grad_q.poison(stream);
        grad_k.poison(stream);
        grad_v.poison(stream);
        VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(workspace.data()),
                                           test::kPoison, workspace.size(), stream));
        varattn::backward<Element>(plan, q, k, v, o, d_o, lse, grad_q.view(), grad_k.view(),
                                   grad_v.view(), run_workspace, workspace_bytes, stream,
                                   options);
        VARATTN_CUDA_CHECK(cudaStreamSynchronize(stream));
        std::vector<Element> got[3] = {grad_q.read(), grad_k.read(), grad_v.read()};
        const int64_t pad_written[3] = {grad_q.pad_written, grad_k.pad_written,
                                        grad_v.pad_written};
        // Every run against the reference (the atomic path's dq may differ in its last bits
        // run to run); the second run's bits equal the first's where the sum order is fixed.
        const gradient_score scores[3] = {
            score_gradient(got[0], ref.dq, keyless, int64_t{pr.heads_q} * d),
            score_gradient(got[1], ref.dk, unseen, int64_t{pr.heads_kv} * d),
            score_gradient(got[2], ref.dv, unseen, int64_t{pr.heads_kv} * d)};
        const char* names[3] = {"dq", "dk", "dv"};
        for (int i = 0; i < 3; ++i) {
          CAPTURE(std::string(names[i]));
          CAPTURE(scores[i].rel_error);
          CAPTURE(scores[i].worst_row_error);
          CAPTURE(scores[i].worst_row);
          CHECK(scores[i].nonfinite == 0);
          CHECK(scores[i].guard_written == 0);
          CHECK(pad_written[i] == 0);
          CHECK(scores[i].zero_expected_nonzero == 0);
          CHECK(scores[i].rel_error <= backward_tolerance<Element>());
          CHECK(scores[i].worst_row_error <= kWorstRowFactor * backward_tolerance<Element>());
          if (run == 0) {
            first[i] = std::move(got[i]);
          } else if (i > 0 || deterministic) {
            CHECK(std::memcmp(first[i].data(), got[i].data(), got[i].size() * sizeof(Element)) ==
                  0);
          }
        }
      }
    }
  }
}

struct option_case {
  const char* name;
  int32_t heads_q = 2, heads_kv = 2;
  bool causal = false;
  int32_t left = -1, right = -1;
  float softcap = 0.0f;
  float q_gain = 1.0f;
};

const option_case kOptionCases[] = {
    {"none"},
    {"causal", 2, 2, true},
    {"window (8, 4)", 2, 2, false, 8, 4},
    {"softcap 5, large scores, causal", 2, 2, true, -1, -1, 5.0f, 3.0f},
    {"GQA 4:1 (8:2 heads), causal", 8, 2, true},
    {"MQA (4:1 heads), window (16, 0)", 4, 1, false, 16, 0},
    {"MQA 8:1, causal (two CTAs a kv head: float32 dK/dV partials)", 8, 1, true},
};

// Lengths 0 and 1, around the tiles (16, 32, 64), q = k in the first set; q longer and
// shorter than k, a q segment with no query but keys, in the second.
const std::vector<int32_t> kEqual = {1, 17, 0, 80, 130};
const std::vector<int32_t> kUnequalQ = {70, 33, 7, 0, 40, 1};
const std::vector<int32_t> kUnequalK = {40, 64, 1, 20, 100, 3};

template <class Element>
void check_options() {
  uint64_t seed = 14000;
  for (const option_case& c : kOptionCases) {
    for (const int32_t d : test::head_dims_to_test()) {
      if (!test::instantiated(d)) continue;
      CAPTURE(std::string(c.name));
      CAPTURE(d);
      backward_problem pr;
      pr.heads_q = c.heads_q;
      pr.heads_kv = c.heads_kv;
      pr.head_dim = d;
      pr.options.causal = c.causal;
      pr.options.window_left = c.left;
      pr.options.window_right = c.right;
      pr.options.softcap = c.softcap;
      pr.q_gain = c.q_gain;
      pr.lengths_q = kEqual;
      CAPTURE(seed);
      check_backward<Element>(pr, seed++);
      pr.lengths_q = kUnequalQ;
      pr.lengths_k = kUnequalK;
      CAPTURE(seed);
      check_backward<Element>(pr, seed++);
    }
  }
}

}  // namespace

TEST_CASE("backward bfloat16: options x head dims x launch policies, q = k and q != k") {
  check_options<__nv_bfloat16>();
}

TEST_CASE("backward half: options x head dims x launch policies, q = k and q != k") {
  check_options<__half>();
}

namespace {

// The Hopper dK/dV kernel's query steps of `step` rows at `head_dim` (sm90/traits.cuh
// kQueries): full steps go to the dQ accumulator by tensor reductions of step-row boxes, a
// segment's partial last step by atomics. Lengths one under, at and over one, two and three
// steps, q = k and q != k, causal and not, GQA 2:1, both element types (the sm80 kernels run
// it too); then a window and MQA 8:1 (head splits) over several full steps; then lengths
// around half a step (head dim 64's dQ query halves).
//! Non-causal then causal, 4 query heads on 2: bf16 with keys as the queries, then fp16 with
//! keys of the lengths lengths_k; each case takes the next seed.
void check_both_masks(int32_t head_dim, const std::vector<int32_t>& lengths_q,
                      const std::vector<int32_t>& lengths_k, uint64_t& seed) {
  for (const bool causal : {false, true}) {
    CAPTURE(causal);
    backward_problem pr;
    pr.lengths_q = lengths_q;
    pr.heads_q = 4;
    pr.heads_kv = 2;
    pr.head_dim = head_dim;
    pr.options.causal = causal;
    CAPTURE(seed);
    check_backward<__nv_bfloat16>(pr, seed++);
    pr.lengths_k = lengths_k;
    CAPTURE(seed);
    check_backward<__half>(pr, seed++);
  }
}

//! A left window of `window_left` keys over `lengths` (2 query heads on 2), bf16; then the same
//! lengths as MQA 8:1 (head splits) without a mask, in MqaElement; each case the next seed.
template <class MqaElement>
void check_window_then_mqa(int32_t head_dim, const std::vector<int32_t>& lengths,
                           int32_t window_left, uint64_t& seed) {
  backward_problem window;
  window.lengths_q = lengths;
  window.heads_q = 2;
  window.heads_kv = 2;
  window.head_dim = head_dim;
  window.options.window_left = window_left;
  window.options.window_right = 0;
  CAPTURE(seed);
  check_backward<__nv_bfloat16>(window, seed++);
  backward_problem mqa = window;
  mqa.heads_q = 8;
  mqa.heads_kv = 1;
  mqa.options = {};
  CAPTURE(seed);
  check_backward<MqaElement>(mqa, seed++);
}

void check_query_steps(int32_t head_dim, int32_t step, uint64_t seed) {
  if (!test::instantiated(head_dim)) return;
  check_both_masks(head_dim,
                   {step - 1, step, step + 1, 2 * step - 1, 2 * step, 2 * step + 1, 3 * step, 1, 0,
                    5 * step},
                   {2 * step, step + 1, step - 1, 3 * step, 3, 5 * step, step, step + 10, 17,
                    2 * step + 1},
                   seed);
  check_window_then_mqa<__nv_bfloat16>(head_dim, {2 * step, 2 * step + 1, 5 * step},
                                       step + step / 4, seed);
  // Around half a step: at head dim 64 each consumer warpgroup sums dQ for one half of the
  // step's queries (sm90/traits.cuh kDqQueryHalves), so a partial last step may end in the
  // first half (the second has no rows), at the halves' edge, or in the second half. Appended
  // after the cases above, whose seeds it leaves as they were.
  const int32_t half = step / 2;
  check_both_masks(head_dim,
                   {half - 1, half, half + 1, step + half - 1, step + half, step + half + 1,
                    2 * step + half},
                   {step + half, half - 1, 2 * step, half, step + 1, half + 1, 3 * step}, seed);
}

}  // namespace

TEST_CASE("backward: Hopper query steps of 80 rows (head dim 128): segments around the step") {
  check_query_steps(128, 80, 14600);
}

TEST_CASE("backward: Hopper query steps of 128 rows (head dim 64): segments around the step") {
  check_query_steps(64, 128, 14700);
}

TEST_CASE("backward: Hopper query steps of 128 rows (head dim 64): tail steps of 32 rows") {
  // A segment's last step with at most 32 rows in it runs at 32 queries, after the CTA's other
  // steps (sm90/traits.cuh kTailQueries; its dQ in two halves of 16 rows): 1, 16, 17 and 32
  // rows past a whole step, and 33 (a full step); a segment of one tail step only (16, 17, 32).
  if (!test::instantiated(64)) return;
  uint64_t seed = 15300;
  check_both_masks(64, {16, 17, 32, 33, 129, 144, 145, 160, 161, 288},
                   {161, 17, 33, 144, 32, 300, 160, 129, 288, 16}, seed);
  check_window_then_mqa<__half>(64, {145, 160, 289}, 160, seed);
  // A tail step across a left window edge: rows 256-287 of 288 see keys from 96 on, so in the
  // k tile of keys 0-127 warpgroup 0 (keys 0-63) is inactive and warpgroup 1 masked.
  check_window_then_mqa<__half>(64, {288, 33}, 160, seed);
}

TEST_CASE("backward: Hopper query steps of 64 rows (head dim 256): segments around the step") {
  // The channel-split kernel (sm90/dkdv_split_kernel.cuh): each consumer warpgroup's S^T is
  // one half of the step's queries; a full step's dQ goes by tensor reductions from boxes
  // staged in the step's Q and dO tiles, a partial last step's by reductions from registers,
  // its rows past the segment left out.
  check_query_steps(256, 64, 14900);
}

TEST_CASE("backward: one long causal segment (4,096 rows), d = 64, GQA 2:1") {
  backward_problem pr;
  pr.lengths_q = {4096};
  pr.heads_q = 2;
  pr.heads_kv = 1;
  pr.head_dim = 64;
  pr.options.causal = true;
  pr.variants = {test::variant::per_segment, test::variant::fused_built_on_device};
  if (!test::instantiated(64)) return;
  check_backward<__nv_bfloat16>(pr, 14500);
  check_backward<__half>(pr, 14501);
}

TEST_CASE("backward: 2,048 tiny segments (0 to 8 queries and keys), none and causal") {
  if (!test::instantiated(64)) return;
  std::mt19937 rng(14600);
  std::uniform_int_distribution<int32_t> length(0, 8);
  backward_problem pr;
  for (int i = 0; i < 2048; ++i) {
    pr.lengths_q.push_back(length(rng));
    pr.lengths_k.push_back(length(rng));
  }
  pr.heads_q = 4;
  pr.heads_kv = 2;
  pr.head_dim = 64;
  check_backward<__nv_bfloat16>(pr, 14601);
  pr.options.causal = true;
  check_backward<__half>(pr, 14602);
}

TEST_CASE("backward: fewer query rows than one warp's items of D (they wrap across heads)") {
  // The D kernel (delta.cuh) gives a warp 16 / 8 / 4 consecutive (head, row) items at
  // 8 / 16 / 32 lanes an item; with 3 query rows, one warp's items span several heads.
  uint64_t seed = 14650;
  for (const int32_t d : test::head_dims_to_test()) {
    if (!test::instantiated(d)) continue;
    CAPTURE(d);
    backward_problem pr;
    pr.lengths_q = {1, 0, 2};
    pr.lengths_k = {3, 2, 1};
    pr.heads_q = 8;
    pr.heads_kv = 2;
    pr.head_dim = d;
    CAPTURE(seed);
    check_backward<__nv_bfloat16>(pr, seed++);
  }
}

TEST_CASE("backward: one 16,384-row causal segment, d = 64") {
  // The issue's 16k segment, GQA 2:1: every element checked finite (no poison left, guard
  // rows untouched), 64 query rows' dq and 64 key rows' dk, dv (first, last, middle, random)
  // against the double reference. Its forward over every row is the cost: ~25 s on one core,
  // split over the host's cores (test::reference_on_every_core).
  if (!test::instantiated(64)) return;
  backward_problem pr;
  pr.lengths_q = {16384};
  pr.heads_q = 2;
  pr.heads_kv = 1;
  pr.head_dim = 64;
  pr.options.causal = true;
  pr.sampled_rows = 64;
  pr.variants = {test::variant::per_segment, test::variant::fused_built_on_device};
  check_backward<__nv_bfloat16>(pr, 14700);
}

TEST_CASE("backward: every kernel variant, small (for the sanitizers)") {
  // Every backward kernel instantiation (element type x tile shape x softcap) on a few hundred
  // rows, a handful of CTAs each: small enough for compute-sanitizer's racecheck (~100x
  // slower) and initcheck (bench/run_on_gpu.sh). Head dims 64, 128 and 256: the three tile
  // shapes of detail/backward/tiles.hpp (up to 80, above 80, above 128 with dK and dV in two
  // passes); 80: the sm80 path's dQ kernel, and on Hopper a head dim off the 64-column blocks
  // (a partial last dQ chunk). Segments: length 1, q shorter than k (17 / 30), keys without
  // queries (0 / 9: the per-segment launch that zeroes them), q longer than k (80 / 64:
  // causal leaves 16 rows without a key). One run each (the other cases check the repeat bit for bit).
  struct small_case {
    const char* name;
    bool half;
    int32_t heads_q, heads_kv;
    bool causal;
    float softcap;
    float q_gain;
  };
  const small_case cases[] = {
      {"bfloat16, none", false, 2, 2, false, 0.0f, 1.0f},
      {"bfloat16, causal", false, 2, 2, true, 0.0f, 1.0f},
      {"bfloat16, softcap 5, large scores", false, 2, 2, false, 5.0f, 3.0f},
      {"bfloat16, GQA 4:1, causal", false, 4, 1, true, 0.0f, 1.0f},
      {"bfloat16, MQA 8:1 (head splits)", false, 8, 1, false, 0.0f, 1.0f},
      {"half, causal", true, 2, 2, true, 0.0f, 1.0f},
      {"half, softcap 5, large scores, causal", true, 2, 2, true, 5.0f, 3.0f},
  };
  uint64_t seed = 14800;
  for (const int32_t d : {64, 80, 128, 256}) {
    if (!test::instantiated(d)) continue;
    for (const small_case& c : cases) {
      CAPTURE(d);
      CAPTURE(std::string(c.name));
      CAPTURE(seed);
      backward_problem pr;
      pr.lengths_q = {1, 17, 0, 80};
      pr.lengths_k = {1, 30, 9, 64};
      pr.heads_q = c.heads_q;
      pr.heads_kv = c.heads_kv;
      pr.head_dim = d;
      pr.options.causal = c.causal;
      pr.options.softcap = c.softcap;
      pr.q_gain = c.q_gain;
      pr.variants = {test::variant::per_segment, test::variant::bucketed,
                     test::variant::fused_built_on_device};
      pr.repeat = false;
      if (c.half) {
        check_backward<__half>(pr, seed++);
      } else {
        check_backward<__nv_bfloat16>(pr, seed++);
      }
    }
  }
}

TEST_CASE("backward: causal tiles over several query steps, small (for the sanitizers)") {
  // The case above has at most one query step a tile; here a causal key tile runs several,
  // starting at its first visible query (at head dim 128 off the 80-row step grid), with a
  // partial last step (250 rows), a d64 tail step (150 = 128 + 22 rows) and q shorter than k
  // (bottom-right aligned: every key tile up to the 200th key sees row 0). Small enough for
  // racecheck; the deterministic path is the other cases'.
  uint64_t seed = 15400;
  for (const int32_t d : {64, 128, 256}) {
    if (!test::instantiated(d)) continue;
    CAPTURE(d);
    CAPTURE(seed);
    backward_problem pr;
    pr.lengths_q = {250, 150, 100};
    pr.lengths_k = {250, 150, 300};
    pr.head_dim = d;
    pr.options.causal = true;
    pr.variants = {test::variant::fused_built_on_device};
    pr.repeat = false;
    pr.deterministic = {false};
    check_backward<__nv_bfloat16>(pr, seed++);
  }
}

TEST_CASE("backward: windows wider than a key tile, over several query steps") {
  // A left window of several steps (301 keys a query, causal; 238 around a diagonal that it
  // passes by 37): a key tile's steps run unmasked between its diagonal's masked steps and the
  // window's lower edge's, where its first 64 keys' warpgroup goes inactive while the other's
  // step is masked (at head dim 128, 80-row steps from the tile's first visible query:
  // long-d128-window1024's step pattern, smaller). q shorter and longer than k (bottom-right
  // aligned) and partial last steps. Every Hopper tile shape, both element types. Then GQA
  // 4:1: a CTA's several q heads walk its steps from the one last modulo the band's period
  // and wrap round (step_order.hpp; every kernel has CTAs that wrap here).
  struct window_case {
    int32_t left, right;
    bool causal;
    bool half;
    int32_t heads_q, heads_kv;
  };
  const window_case cases[] = {{300, 0, true, false, 2, 2},
                               {200, 37, false, true, 2, 2},
                               {300, 0, true, false, 8, 2},
                               {200, 37, false, true, 8, 2}};
  uint64_t seed = 15700, gqa_seed = 15800;  // the MHA cases keep their seeds
  for (const int32_t d : {64, 128, 256}) {
    if (!test::instantiated(d)) continue;
    for (const window_case& c : cases) {
      const bool gqa = c.heads_q != c.heads_kv;
      CAPTURE(d);
      CAPTURE(c.left);
      CAPTURE(c.right);
      CAPTURE(c.heads_q);
      backward_problem pr;
      pr.lengths_q = {700, 333, 90};
      pr.lengths_k = {700, 420, 61};
      if (gqa) {  // full tiles that wrap; 641: at head dim 64 a 1-row tail step after a wrap
        pr.lengths_q.insert(pr.lengths_q.end(), {2000, 641});
        pr.lengths_k.insert(pr.lengths_k.end(), {2000, 641});
      }
      pr.heads_q = c.heads_q;
      pr.heads_kv = c.heads_kv;
      pr.head_dim = d;
      pr.options.causal = c.causal;
      pr.options.window_left = c.left;
      pr.options.window_right = c.right;
      const uint64_t case_seed = gqa ? gqa_seed++ : seed++;
      CAPTURE(case_seed);
      if (c.half) {
        check_backward<__half>(pr, case_seed);
      } else {
        check_backward<__nv_bfloat16>(pr, case_seed);
      }
    }
  }
}

TEST_CASE("backward: gradients with padded token rows") {
  // d_q, d_k and d_v with token_stride = heads x head_dim + 8 (16 bytes more, as validation
  // allows): the kernels' row addressing (the Hopper epilogue's 16-byte row units, head splits'
  // partials summed into the strided rows, the dQ conversion) against every pad left poisoned.
  // Head dim 256: the split kernel's epilogue, a warpgroup's half rows in 16-byte units.
  uint64_t seed = 15600;
  for (const int32_t d : {64, 128, 256}) {
    if (!test::instantiated(d)) continue;
    for (const int32_t heads_q : {2, 16}) {  // 16:2: head splits
      CAPTURE(d);
      CAPTURE(heads_q);
      CAPTURE(seed);
      backward_problem pr;
      pr.lengths_q = {200, 75};
      pr.lengths_k = {200, 130};
      pr.heads_q = heads_q;
      pr.heads_kv = 2;
      pr.head_dim = d;
      pr.options.causal = true;
      pr.grad_pad = 8;
      pr.variants = {test::variant::per_segment, test::variant::fused_built_on_device};
      check_backward<__nv_bfloat16>(pr, seed++);
    }
  }
}

// A segment's partial last query step spans rows past the segment's end; their dQ must reach no
// other segment's rows (the Hopper kernels clip them: dq_tensor_map; at head dim 256 they are
// left out of the register reductions). Those rows load as zeros, so their dQ is exactly 0,
// and only a key that is not finite makes it visible: 0 * inf is NaN. Segment A (100 rows: a
// partial last step at 64, 80 and 128 rows a step) gets an infinite key, so A's own gradients
// are not finite; every gradient of segment B, after it, must equal B's reference alone.
TEST_CASE("backward: a partial step's rows past its segment reach no other segment, even with "
          "an infinite key") {
  using E = __nv_bfloat16;
  using const_view = varattn::packed_view<const E>;
  const int32_t a = 100, b = 150, heads = 2;
  const auto segs = varattn::segments::from_lengths(std::vector<int32_t>{a, b});
  const auto segs_b = varattn::segments::from_lengths(std::vector<int32_t>{b});
  const int64_t rows = a + b;
  for (const int32_t d : {64, 128, 256}) {
    if (!test::instantiated(d)) continue;
    CAPTURE(d);
    const std::size_t row_elements = std::size_t(heads) * d;
    std::mt19937_64 rng(15100 + d);
    std::vector<E> hq = test::random_elements<E>(rows * row_elements, rng);
    std::vector<E> hk = test::random_elements<E>(rows * row_elements, rng);
    std::vector<E> hv = test::random_elements<E>(rows * row_elements, rng);
    std::vector<E> hdo = test::random_elements<E>(rows * row_elements, rng);
    const auto b_part = [&](const std::vector<E>& x) {
      return const_view::contiguous(x.data() + std::size_t(a) * row_elements, b, heads, d);
    };
    const varattn::reference_gradients ref = test::backward_reference_on_every_core<E>(
        segs_b, segs_b, b_part(hq), b_part(hk), b_part(hv), b_part(hdo), {});
    hk[std::size_t(a / 2) * row_elements] = test::from_float<E>(INFINITY);  // a key of A, head 0
    // out and lse: B's from its reference; A's zeros (A is not checked).
    std::vector<E> ho(rows * row_elements, test::from_float<E>(0.0f));
    for (std::size_t i = 0; i < ref.out.size(); ++i) {
      ho[std::size_t(a) * row_elements + i] = test::from_float<E>(float(ref.out[i]));
    }
    std::vector<float> hlse(std::size_t(heads) * rows, 0.0f);  // [heads, rows]
    for (int32_t h = 0; h < heads; ++h) {
      for (int32_t r = 0; r < b; ++r) {
        hlse[std::size_t(h) * rows + a + r] = float(ref.lse[std::size_t(h) * b + r]);
      }
    }
    const thrust::device_vector<E> q_in(hq), k_in(hk), v_in(hv), do_in(hdo), o_in(ho);
    thrust::device_vector<float> lse_in(hlse);
    const auto view = [&](const thrust::device_vector<E>& x) {
      return const_view::contiguous(thrust::raw_pointer_cast(x.data()), rows, heads, d);
    };
    const varattn::logsumexp_view lse{thrust::raw_pointer_cast(lse_in.data()), rows};
    gradient_buffer<E> grad_q(rows, heads, d), grad_k(rows, heads, d), grad_v(rows, heads, d);
    test::stream_guard sg;
    const varattn::plan plan =
        test::make_plan(test::variant::fused, segs, segs, {heads, heads, d}, {}, sg.stream);
    for (const bool deterministic : {false, true}) {
      CAPTURE(deterministic);
      varattn::backward_options options;
      options.deterministic = deterministic;
      const std::size_t bytes = varattn::backward_workspace_bytes(plan, options);
      thrust::device_vector<unsigned char> workspace(std::max<std::size_t>(bytes, 1));
      grad_q.poison(sg.stream);
      grad_k.poison(sg.stream);
      grad_v.poison(sg.stream);
      VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(workspace.data()),
                                         test::kPoison, workspace.size(), sg.stream));
      varattn::backward<E>(plan, view(q_in), view(k_in), view(v_in), view(o_in), view(do_in),
                           lse, grad_q.view(), grad_k.view(), grad_v.view(),
                           thrust::raw_pointer_cast(workspace.data()), bytes, sg.stream, options);
      VARATTN_CUDA_CHECK(cudaStreamSynchronize(sg.stream));
      const std::vector<E> got[3] = {grad_q.read(), grad_k.read(), grad_v.read()};
      const std::vector<double>* want[3] = {&ref.dq, &ref.dk, &ref.dv};
      const char* names[3] = {"dq", "dk", "dv"};
      const std::vector<char> no_zero_rows(std::size_t(b), 0);
      for (int i = 0; i < 3; ++i) {
        CAPTURE(std::string(names[i]));
        // B's rows and the guard rows after them.
        const std::vector<E> b_rows(got[i].begin() + std::ptrdiff_t(a) * std::ptrdiff_t(row_elements),
                                    got[i].end());
        const gradient_score score =
            score_gradient(b_rows, *want[i], no_zero_rows, int64_t(row_elements));
        CAPTURE(score.rel_error);
        CAPTURE(score.worst_row);
        CHECK(score.nonfinite == 0);
        CHECK(score.guard_written == 0);
        CHECK(score.rel_error <= backward_tolerance<E>());
        CHECK(score.worst_row_error <= kWorstRowFactor * backward_tolerance<E>());
      }
    }
  }
}

namespace {

// A device-built plan whose offsets the device rejected: the backward cannot know the
// segments, so dq, dk and dv must all be NaN (never a plausible gradient).
void check_rejected_offsets(int32_t heads_q, int32_t heads_kv) {
  CAPTURE(heads_q);
  CAPTURE(heads_kv);
  const int32_t d = 64, rows = 100;
  if (!test::instantiated(d)) return;
  test::stream_guard s;
  auto plan = varattn::plan::reserve_on_device(3, rows, rows, {heads_q, heads_kv, d});
  std::mt19937_64 rng(9);
  const auto random = [&](std::size_t n) {
    return thrust::device_vector<__half>(test::random_elements<__half>(n, rng));
  };
  const std::size_t nq = std::size_t(rows) * heads_q * d, nk = std::size_t(rows) * heads_kv * d;
  const thrust::device_vector<__half> q = random(nq), k = random(nk), v = random(nk),
                                      o = random(nq), d_o = random(nq);
  const thrust::device_vector<float> lse(std::size_t(heads_q) * rows, 1.0f);
  thrust::device_vector<__half> d_q(nq), d_k(nk), d_v(nk);
  const thrust::device_vector<int32_t> cu_q(std::vector<int32_t>{0, 70, 30, 100});  // decreasing
  const thrust::device_vector<int32_t> cu_k(std::vector<int32_t>{0, 30, 70, 100});
  const auto build = [&](const thrust::device_vector<int32_t>& offsets_q) {
    varattn::build_on_device(plan, {thrust::raw_pointer_cast(offsets_q.data()), offsets_q.size()},
                             {thrust::raw_pointer_cast(cu_k.data()), cu_k.size()}, s.stream);
  };
  const auto nan_count = [&](const thrust::device_vector<__half>& g) {
    std::vector<__half> host(g.size());
    thrust::copy(g.begin(), g.end(), host.begin());
    int64_t nan = 0;
    for (const __half h : host) nan += std::isnan(__half2float(h)) ? 1 : 0;
    return nan;
  };
  // Both dQ paths: the atomic one's conversion must leave the NaN in d_q too. And a workspace
  // whose lists a valid call built just before: the rejected call must not run them.
  for (const bool deterministic : {false, true}) {
    for (const bool workspace_used : {false, true}) {
      CAPTURE(deterministic);
      CAPTURE(workspace_used);
      varattn::backward_options options;
      options.deterministic = deterministic;
      const std::size_t bytes = varattn::backward_workspace_bytes(plan, options);
      thrust::device_vector<uint4> workspace((bytes + 15) / 16);
      using in = varattn::packed_view<const __half>;
      using out = varattn::packed_view<__half>;
      const auto view_q = [&](const thrust::device_vector<__half>& x) {
        return in::contiguous(thrust::raw_pointer_cast(x.data()), rows, heads_q, d);
      };
      const auto view_k = [&](const thrust::device_vector<__half>& x) {
        return in::contiguous(thrust::raw_pointer_cast(x.data()), rows, heads_kv, d);
      };
      const auto run = [&] {
        for (auto* g : {&d_q, &d_k, &d_v}) {
          VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(g->data()), 0,
                                             g->size() * 2, s.stream));
        }
        varattn::backward<__half>(
            plan, view_q(q), view_k(k), view_k(v), view_q(o), view_q(d_o),
            varattn::logsumexp_view{const_cast<float*>(thrust::raw_pointer_cast(lse.data())), rows},
            out::contiguous(thrust::raw_pointer_cast(d_q.data()), rows, heads_q, d),
            out::contiguous(thrust::raw_pointer_cast(d_k.data()), rows, heads_kv, d),
            out::contiguous(thrust::raw_pointer_cast(d_v.data()), rows, heads_kv, d),
            thrust::raw_pointer_cast(workspace.data()), bytes, s.stream, options);
        VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
      };
      if (workspace_used) {
        build(cu_k);  // valid: the same offsets as the keys
        run();
        for (const auto* g : {&d_q, &d_k, &d_v}) CHECK(nan_count(*g) == 0);
      }
      build(cu_q);
      run();
      for (const auto* g : {&d_q, &d_k, &d_v}) CHECK(nan_count(*g) == static_cast<int64_t>(g->size()));
    }
  }
  CHECK_THROWS_AS(plan.check_device_build(s.stream), varattn::error);
}

}  // namespace

TEST_CASE("backward: rejected device offsets turn every gradient element NaN and are reported") {
  check_rejected_offsets(4, 2);
  check_rejected_offsets(8, 1);  // head splits: the partials' sum must leave the NaN in place
}
