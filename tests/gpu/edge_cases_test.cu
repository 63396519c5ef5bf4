// SPDX-License-Identifier: Apache-2.0
// Segment tables at the edges: empty segments, length 1, lengths off the tile size, one
// 16k segment, thousands of tiny ones. And fused plans whose tiles fall in several step
// classes over several heads, so that the Hopper forward's ranks are class-major
// (list_order.hpp, locate_class_rank), in every grid.
#include <array>
#include <random>

#include "harness.cuh"

namespace {
template <class Element>
void check_edges() {
  if (!test::instantiated({64, 80, 128})) return;
  for (const bool causal : {false, true}) {
    CAPTURE(causal);
    test::problem empties;
    empties.lengths_q = {0, 0, 5, 0, 0, 0, 64, 0};
    empties.options.causal = causal;
    test::check<Element>(empties);

    test::problem ones;
    ones.lengths_q = std::vector<int32_t>(100, 1);
    ones.head_dim = 128;
    ones.options.causal = causal;
    test::check<Element>(ones);

    test::problem off_tile;
    off_tile.lengths_q = {63, 65, 127, 129, 191, 31, 33};
    off_tile.head_dim = 80;
    off_tile.options.causal = causal;
    test::check<Element>(off_tile);

    test::problem tiny;  // 2,048 segments of 1..64 tokens
    std::mt19937 rng(causal ? 11 : 12);
    tiny.lengths_q.resize(2048);
    for (int32_t& l : tiny.lengths_q) l = 1 + static_cast<int32_t>(rng() % 64);
    tiny.heads_q = 2;
    tiny.heads_kv = 1;
    tiny.options.causal = causal;
    test::check<Element>(tiny, {21, 22});

    test::problem long_one;  // one 16,384-token segment, reference on every 61st row
    long_one.lengths_q = {16384};
    long_one.heads_q = 2;
    long_one.heads_kv = 2;
    long_one.head_dim = 128;
    long_one.sample_every = 61;
    long_one.options.causal = causal;
    test::check<Element>(long_one, {31});
  }
}
}  // namespace

TEST_CASE("bfloat16 edge-case segment tables") { check_edges<__nv_bfloat16>(); }
TEST_CASE("half edge-case segment tables") { check_edges<__half>(); }

// Enough tiles of the Hopper kernel (segments over 64 rows) that the persistent grid (the
// harness's bucketed and device-built runs, which have a tile counter) runs ~20 tiles a CTA:
// tiles of different step counts, warpgroups with fewer steps than their tile (causal,
// windows, short last tiles) and tiles with no step at all (k shorter than q under causal:
// bottom-right, so the first rows see no key), back to back.
TEST_CASE("many Hopper tiles a CTA: mixed lengths, causal, windows, keyless tiles") {
  std::mt19937 rng(77);
  test::problem many;
  many.lengths_q.resize(300);
  many.lengths_k.resize(300);
  for (std::size_t i = 0; i < many.lengths_q.size(); ++i) {
    many.lengths_q[i] = 65 + static_cast<int32_t>(rng() % 336);
    // Mostly as long as q; every fifth shorter (keyless causal rows), every seventh empty.
    many.lengths_k[i] = i % 7 == 3   ? 0
                        : i % 5 == 1 ? static_cast<int32_t>(rng() % 64)
                                     : many.lengths_q[i] + static_cast<int32_t>(rng() % 200);
  }
  many.heads_q = 4;
  many.heads_kv = 2;
  many.sample_every = 9;  // the double-precision reference on every 9th row
  many.with_lse = true;
  for (const int32_t head_dim : {128, 80}) {
    if (!test::instantiated(head_dim)) continue;
    for (const int mode : {0, 1, 2}) {  // none, causal, a window of 96 keys to the left
      CAPTURE(head_dim);
      CAPTURE(mode);
      many.head_dim = head_dim;
      many.options.causal = mode == 1;
      many.options.window_left = mode == 2 ? 96 : -1;
      many.options.window_right = mode == 2 ? 0 : -1;
      test::check<__nv_bfloat16>(many, {51});
    }
  }
}

// Small enough for compute-sanitizer's racecheck, large enough that the persistent grid gives
// each CTA several tiles: 800 one-step tiles (200 segments of 65-128 rows and keys, 4 heads),
// so Q, the published tile ids and the K/V stages are reused across tiles.
TEST_CASE("persistent grid: Q, tile ids and stages reused across one-step tiles") {
  if (!test::instantiated(128)) return;
  std::mt19937 rng(78);
  test::problem reuse;
  reuse.lengths_q.resize(200);
  for (int32_t& length : reuse.lengths_q) length = 65 + static_cast<int32_t>(rng() % 64);
  reuse.heads_q = 4;
  reuse.heads_kv = 4;
  reuse.head_dim = 128;
  reuse.sample_every = 17;
  test::check<__nv_bfloat16>(reuse, {79});
}

// Inputs may overlap (only o must not): k and v with head_stride 0, one stored head that
// every kv head reads (the Hopper kernel's tensor maps then give the head dimension extent 1).
TEST_CASE("k and v whose heads share their elements (head_stride 0)") {
  for (const int32_t head_dim : {80, 128}) {
    if (!test::instantiated(head_dim)) continue;
    for (const bool causal : {false, true}) {
      CAPTURE(head_dim);
      CAPTURE(causal);
      test::problem shared;
      shared.lengths_q = {300, 17, 1000, 129};
      shared.heads_q = 4;
      shared.heads_kv = 2;
      shared.head_dim = head_dim;
      shared.shared_kv_head = true;
      shared.options.causal = causal;
      test::check<__nv_bfloat16>(shared, {41, 42});
    }
  }
}

TEST_CASE("no segments at all: nothing to launch, nothing written") {
  if (!test::instantiated(64)) return;
  test::problem none;
  none.lengths_q = {0, 0, 0};
  for (const test::outcome& r : test::run<__nv_bfloat16>(none, 1)) {
    CHECK(r.nonfinite == 0);
    CHECK(r.guard_written == 0);
  }
}

// Head dims 64 to 80 on Hopper: 192-row tiles of three consumer warpgroups (at 80 with P
// through shared memory and 144 keys a step, the tile of plans whose longest segment has
// kLongSegment rows or more: 2053 is one, 10 tiles and 133 rows, 14 steps and 37 keys).
// Segments on, under and over the tile height and its multiples (a third warpgroup with no
// rows, one with a few), on and around a multiple of 144 keys (288, 145; 577 ends one key
// into a step), causal (warpgroups with different step counts) and not.
TEST_CASE("head dims 64 to 80 Hopper tiles of 192 rows: segments around the tile height") {
  for (const int32_t head_dim : {64, 72, 80}) {
    if (!test::instantiated(head_dim)) continue;
    for (const bool causal : {false, true}) {
      CAPTURE(head_dim);
      CAPTURE(causal);
      test::problem p;
      p.lengths_q = {191, 192, 193, 384, 577, 65, 1, 130, 288, 145};
      if (head_dim == 80) {
        p.lengths_q.push_back(2053);
        p.device_max_q_length = 2053;  // device-built plans take the tall tile only with a bound
      }
      p.heads_q = 4;
      p.heads_kv = 2;
      p.head_dim = head_dim;
      p.options.causal = causal;
      test::check<__nv_bfloat16>(p, {81, 82});
      test::check<__half>(p, {83});
    }
  }
}

namespace {

using class_ends = std::array<int32_t, varattn::detail::kSegmentClasses>;

// The class ends in a fused plan's device buffer (uploaded by a host-built plan, written by
// build_on_device), read back.
class_ends class_ends_of(const varattn::plan& p, cudaStream_t stream) {
  class_ends ends{};
  p.order_after_upload(stream);
  VARATTN_CUDA_CHECK(cudaMemcpyAsync(ends.data(), p.device().class_ends, sizeof ends,
                                     cudaMemcpyDeviceToHost, stream));
  VARATTN_CUDA_CHECK(cudaStreamSynchronize(stream));
  return ends;
}

int32_t filled_classes(const class_ends& ends) {
  int32_t filled = 0;
  for (std::size_t slot = 0; slot < ends.size(); ++slot) {
    filled += ends[slot] > (slot > 0 ? ends[slot - 1] : 0);
  }
  return filled;
}

// Problem pr's fused Hopper plans, host- and device-built, list tiles of two step classes or
// more over two head groups or more: their ranks are class-major, not one head's list after
// another's (on other devices the sm80 kernel runs them head-major: nothing to require).
void require_class_major(const test::problem& pr) {
  const auto segs_q = varattn::segments::from_lengths(pr.lengths_q);
  const auto segs_k =
      varattn::segments::from_lengths(pr.lengths_k.empty() ? pr.lengths_q : pr.lengths_k);
  test::stream_guard s;
  for (const test::variant how : {test::variant::fused, test::variant::fused_built_on_device}) {
    CAPTURE(std::string(test::variant_name(how)));
    const varattn::plan p = test::make_plan(how, segs_q, segs_k,
                                            {pr.heads_q, pr.heads_kv, pr.head_dim}, pr.options,
                                            s.stream, pr.device_max_q_length);
    if (p.kernel().family != varattn::kernel_family::sm90) continue;
    CHECK(filled_classes(class_ends_of(p, s.stream)) >= 2);
    CHECK(pr.heads_q / p.kernel().pack >= 2);
  }
}

// Every grid of pr's fused plans gives the same o and logsumexp, bit for bit: host-built,
// one CTA a tile (the baseline) and the persistent grid (forced where tile_counter() would
// not take it); device-built (a capacity above the count: the ranks past it are the grid's
// last) one CTA a tile and persistent. Each output poisoned first and every element compared,
// none left non-finite but the keyless rows' lse (-inf); the counter back to zero each time.
// Only the order of the tiles differs, and each tile writes its own rows.
template <class Element>
void check_grids_agree(const test::problem& pr, uint64_t seed) {
  using view = varattn::packed_view<Element>;
  using input = varattn::packed_view<const Element>;
  const auto segs_q = varattn::segments::from_lengths(pr.lengths_q);
  const auto segs_k =
      varattn::segments::from_lengths(pr.lengths_k.empty() ? pr.lengths_q : pr.lengths_k);
  const int32_t d = pr.head_dim;
  const int64_t rows_q = segs_q.total(), rows_k = segs_k.total();
  std::mt19937_64 rng(seed);
  const thrust::device_vector<Element> q =
      test::random_elements<Element>(std::size_t(rows_q * pr.heads_q * d), rng);
  const thrust::device_vector<Element> k =
      test::random_elements<Element>(std::size_t(rows_k * pr.heads_kv * d), rng);
  const thrust::device_vector<Element> v =
      test::random_elements<Element>(std::size_t(rows_k * pr.heads_kv * d), rng);
  const std::size_t o_elements = std::size_t(rows_q * pr.heads_q * d);
  const std::size_t lse_elements = std::size_t(rows_q * pr.heads_q);
  thrust::device_vector<Element> o(o_elements);
  thrust::device_vector<float> lse(lse_elements);
  thrust::device_vector<unsigned> scratch(varattn::kForwardScratchBytes / sizeof(unsigned), 0u);
  test::stream_guard s;
  const varattn::attention_shape shape{pr.heads_q, pr.heads_kv, d};
  const varattn::plan host =
      test::make_plan(test::variant::fused, segs_q, segs_k, shape, pr.options, s.stream);
  const varattn::plan device =
      test::make_plan(test::variant::fused_built_on_device, segs_q, segs_k, shape, pr.options,
                      s.stream, pr.device_max_q_length);
  if (!(host.kernel() == device.kernel())) {
    MESSAGE("the host- and device-built plans run different kernels: not compared");
    return;
  }
  struct run {
    std::vector<Element> o;
    std::vector<float> lse;
  };
  const auto forward = [&](const varattn::plan& p, bool counter, bool force) {
    VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(o.data()), test::kPoison,
                                       o_elements * sizeof(Element), s.stream));
    VARATTN_CUDA_CHECK(cudaMemsetAsync(thrust::raw_pointer_cast(lse.data()), test::kPoison,
                                       lse_elements * sizeof(float), s.stream));
    varattn::forward_scratch grid;
    if (counter) grid.data = thrust::raw_pointer_cast(scratch.data());
    grid.force_persistent = force;
    varattn::forward<Element>(
        p, input::contiguous(thrust::raw_pointer_cast(q.data()), rows_q, pr.heads_q, d),
        input::contiguous(thrust::raw_pointer_cast(k.data()), rows_k, pr.heads_kv, d),
        input::contiguous(thrust::raw_pointer_cast(v.data()), rows_k, pr.heads_kv, d),
        view::contiguous(thrust::raw_pointer_cast(o.data()), rows_q, pr.heads_q, d),
        varattn::logsumexp_view{thrust::raw_pointer_cast(lse.data()), rows_q}, s.stream, grid);
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(s.stream));
    const thrust::host_vector<unsigned> counters = scratch;
    for (const unsigned c : counters) CHECK(c == 0u);
    run r{std::vector<Element>(o_elements), std::vector<float>(lse_elements)};
    thrust::copy(o.begin(), o.end(), r.o.begin());
    thrust::copy(lse.begin(), lse.end(), r.lse.begin());
    return r;
  };
  const run base = forward(host, false, false);
  int64_t nonfinite = 0;
  for (const Element x : base.o) nonfinite += !std::isfinite(varattn::detail::to_double(x));
  for (const float x : base.lse) nonfinite += std::isnan(x) || x == INFINITY;
  CHECK(nonfinite == 0);
  struct grid {
    const char* name;
    const varattn::plan* p;
    bool counter, force;
  };
  for (const grid g : {grid{"host-built, persistent", &host, true, true},
                       grid{"device-built, one CTA a tile", &device, false, false},
                       grid{"device-built, persistent", &device, true, false}}) {
    CAPTURE(std::string(g.name));
    const run r = forward(*g.p, g.counter, g.force);
    CHECK(std::memcmp(r.o.data(), base.o.data(), o_elements * sizeof(Element)) == 0);
    CHECK(std::memcmp(r.lse.data(), base.lse.data(), lse_elements * sizeof(float)) == 0);
  }
}

}  // namespace

// Small enough for the sanitizers: segments of 1 to 5 steps of 128 keys (three classes:
// 520; 300, 130; 65, 1; an empty one), 4 query heads over 2 kv heads: kv-head bands of 2 head
// groups without a mask, packed pairs under causal (2 groups, one a kv head).
TEST_CASE("class-major ranks: fused plans over several step classes and heads, small (for the "
          "sanitizers)") {
  if (!test::instantiated(128)) return;
  for (const bool causal : {false, true}) {
    CAPTURE(causal);
    test::problem pr;
    pr.lengths_q = {300, 130, 0, 65, 1, 520};
    pr.heads_q = 4;
    pr.heads_kv = 2;
    pr.head_dim = 128;
    pr.options.causal = causal;
    pr.with_lse = true;
    require_class_major(pr);
    test::check<__nv_bfloat16>(pr, {91});
    check_grids_agree<__nv_bfloat16>(pr, 92);
  }
}

// vl-full-d80's lengths over 4 (1,600 rows to 144: four classes at 128 x 128) and, at d80, the
// 192 x 144 tile of its long segments (a 2,100-row segment, device-built plans bounded by it);
// MHA, GQA 8:2 without a mask (kv-head bands of 4) and causal (packed 4 on Hopper: 2 groups);
// every element against the reference in every variant, and every grid bit for bit.
TEST_CASE("forward over several step classes: class-major ranks in every grid, MHA, GQA bands, "
          "packed GQA") {
  struct layout {
    int32_t heads_q, heads_kv;
    bool causal;
  };
  for (const int32_t d : {128, 80}) {
    if (!test::instantiated(d)) continue;
    for (const bool tall : {false, true}) {
      if (tall && d != 80) continue;
      for (const layout l : {layout{4, 4, false}, layout{8, 2, false}, layout{8, 2, true}}) {
        CAPTURE(d);
        CAPTURE(tall);
        CAPTURE(l.heads_q);
        CAPTURE(l.causal);
        test::problem pr;
        pr.lengths_q = {1024, 576, 256, 144, 1600, 400, 0, 1};
        if (tall) {
          pr.lengths_q.push_back(2100);
          pr.device_max_q_length = 2100;
        }
        pr.heads_q = l.heads_q;
        pr.heads_kv = l.heads_kv;
        pr.head_dim = d;
        pr.options.causal = l.causal;
        pr.with_lse = true;
        require_class_major(pr);
        test::check<__nv_bfloat16>(pr, {93});
        check_grids_agree<__nv_bfloat16>(pr, 94);
      }
    }
  }
}
