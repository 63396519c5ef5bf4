// SPDX-License-Identifier: Apache-2.0
// hopper_backward_mask_bounds_s29.patch's mask test against mask.hpp's visible(), on the host.
// After `git apply` of the two base patches (backward_delta_rows_per_warp, causal_backward_gap)
// and this one (it calls the patched mask.hpp's segment_mask::column_base_of / column_bits):
//   g++ -std=c++17 -O2 -fsanitize=undefined -fno-sanitize-recover=all -I include \
//     bench/experiments/hopper_backward_mask_bounds_s29_check.cpp -o /tmp/mask_check
//   /tmp/mask_check [random configs, default 20000] [seed] [sweep: every q, k length up to
//   this and 29 around the tiles' and steps' sizes, x 14 x 14 windows] [free query0 a tile,
//   default 4]
// UBSan aborts on any signed overflow of the int32 arithmetic in mask.hpp.
//
// For each configuration (a segment's q and k lengths and a window: causal with any length
// difference, left/right windows up to INT32_MAX, unbounded sides) and each step shape of the
// Hopper dK/dV kernels (80, 128 and 64 queries a step on 128-key tiles of two 64-key
// warpgroups; the head-dim-256 split kernel's 64 queries on 64 keys, its warpgroups the
// step's query halves), it places the tiles and their query steps (kv_tile::place of the
// causal-steps patch: steps from the tile's first visible query, any row; full_steps and
// place_step: copies of the device code) and, for every element of every warpgroup's S^T
// (warp, lane, n, e) of every step visited, compares bit 2 n + e % 2 of
// column_bits(column_base_of(key0, query0 + column0, tiles), g, lane % 4) with
// visible(query, key), on every step (active or not, partial or not: the test must be exact
// wherever the kernel might take it). Also with "free" query0 (any row of the segment, and
// past it by up to a step) and on every step: an independent int64 re-derivation of the bits
// (the device's funnel shift emulated) equal to the function's, and, where place_step says a
// warpgroup is inactive, nothing visible; where it says full, everything visible (rows in the
// segment).
#include <varattn/detail/mask.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>

using namespace varattn::detail;

namespace {

constexpr int32_t kMaxRows = INT32_MAX - 256;  // plan.hpp

// kv_tile (backward/dkdv_kernel.cuh with causal_backward_gap.patch): the fields the placement
// uses.
struct tile {
  int32_t q_length, k_length;
  segment_mask mask;
  int32_t key0, keys, query_first, steps;
  void place(int32_t k_tile, int32_t tile_keys, int32_t step_rows) {
    key0 = k_tile * tile_keys;
    keys = std::min(tile_keys, k_length - key0);
    const int64_t first = int64_t{key0} - mask.max_offset;
    const int64_t last = int64_t{key0} + keys - 1 - mask.min_offset;
    const int64_t q_first = first < 0 ? 0 : first;
    const int64_t q_last = last < q_length - 1 ? last : q_length - 1;
    const bool any = q_last >= q_first;
    query_first = any ? static_cast<int32_t>(q_first) : 0;
    steps = any ? static_cast<int32_t>((q_last - q_first) / step_rows) + 1 : 0;
  }
  int32_t query0(int32_t step, int32_t rows) const { return query_first + step * rows; }
};

// A kernel's step shape.
struct shape {
  const char* name;
  int32_t tile_keys;  // 128: two warpgroups of 64 keys; 64: both warpgroups on the CTA's keys
  int32_t queries;    // a step's rows
  int32_t columns;    // a warpgroup's columns of S^T (the split kernel: half the step)
};
constexpr shape kShapes[] = {{"d128", 128, 80, 80},
                             {"d64", 128, 128, 128},
                             {"other", 128, 64, 64},
                             {"d256 split", 64, 64, 32}};

// sm90/dkdv_kernel.cuh: group_sees, full_steps, place_step (the flags).
struct full_queries {
  int32_t lo, hi;
};
struct step_flags {
  bool active, runs, partial;
};
bool group_sees(const tile& t, int32_t query0, int32_t rows, int64_t group_key0) {
  return group_key0 < t.k_length && t.mask.end_key(query0, rows) > group_key0 &&
         t.mask.first_key(query0) < group_key0 + 64;
}
full_queries full_steps(const tile& t, int32_t rows, int group) {
  const int64_t key0 = int64_t{t.key0} + group * 64;
  if (key0 + 64 > t.k_length) return {INT32_MAX, INT32_MIN};
  return {segment_mask::clamp32(key0 + 63 - t.mask.max_offset),
          segment_mask::clamp32(key0 - (rows - 1) - t.mask.min_offset)};
}
step_flags place_step(const tile& t, const shape& s, int32_t query0, int group) {
  const full_queries full = full_steps(t, s.queries, group);
  if (query0 >= full.lo && query0 <= full.hi) return {true, true, false};
  const bool split = s.tile_keys == 128;
  step_flags f;
  f.active = group_sees(t, query0, s.queries, int64_t{t.key0} + group * 64);
  f.runs =
      f.active || (split && group_sees(t, query0, s.queries, int64_t{t.key0} + (group ^ 1) * 64));
  const int32_t group_key0 = t.key0 + group * 64;
  const segment_mask::key_range unmasked = t.mask.unmasked_keys(query0, s.queries);
  f.partial = group_key0 < unmasked.first || group_key0 + 64 > unmasked.end;
  return f;
}

// column_base_of and column_bits again, in int64 with the device's funnel shift: the function's
// int32 result must equal it (and UBSan watches the int32 version).
uint32_t funnelshift_lc(uint32_t lo, uint32_t hi, uint32_t shift) {
  const uint64_t x = (uint64_t{hi} << 32) | lo;
  return static_cast<uint32_t>((x << std::min<uint32_t>(shift, 32)) >> 32);
}
uint32_t reference_bits(const segment_mask& m, int64_t key0, int64_t query0, int tiles, int64_t g,
                        int64_t t, long long& bad_range) {
  const int64_t d = key0 - query0;
  const int64_t low = -62, high = 8 * tiles + 7;
  const int64_t first = std::clamp<int64_t>(d - m.max_offset + 7, low, high);
  const int64_t end = std::clamp<int64_t>(d - m.min_offset + 8, low, high);
  const auto below = [&](int64_t x) {
    x = std::max<int64_t>(x, 1);
    const int64_t b = (x >> 3) + ((x - 1) >> 3);
    if (b < 0 || b > INT32_MAX) ++bad_range;
    return static_cast<uint32_t>(b);
  };
  const uint32_t bits = funnelshift_lc(~0u, 0u, below(end + g - 2 * t)) &
                        ~funnelshift_lc(~0u, 0u, below(first + g - 2 * t));
  return g < int64_t{m.k_length} - key0 ? bits : 0u;
}

long long g_configs = 0, g_tiles = 0, g_steps = 0, g_free = 0, g_elements = 0, g_partial = 0;
long long g_bad = 0, g_bad_ref = 0, g_bad_range = 0, g_bad_flags = 0;

// Every element of warpgroup `group`'s S^T at a step from query0: the bits against visible().
// With flags (a placed step): an inactive warpgroup sees nothing, a full one everything.
void check_step(const tile& t, const shape& s, int32_t query0, int group, const step_flags* flags) {
  const int tiles = s.columns / 8;
  const int32_t key0 = s.tile_keys == 128 ? t.key0 + group * 64 : t.key0;
  const int32_t column0 = s.tile_keys == 128 ? 0 : group * s.columns;
  const segment_mask::column_base base = t.mask.column_base_of(key0, query0 + column0, tiles);
  bool any_visible = false, all_visible = true;
  for (int warp = 0; warp < 4; ++warp) {
    for (int lane = 0; lane < 32; ++lane) {
      for (int r = 0; r < 2; ++r) {
        const int32_t g = warp * 16 + lane / 4 + r * 8;
        const uint32_t bits = segment_mask::column_bits(base, g, lane % 4);
        const uint32_t ref = reference_bits(t.mask, key0, int64_t{query0} + column0, tiles, g,
                                            lane % 4, g_bad_range);
        const uint32_t used = tiles == 16 ? ~0u : (1u << (2 * tiles)) - 1u;  // bits tested
        if (((bits ^ ref) & used) != 0 && g_bad_ref++ < 10) {
          std::printf("bits differ from the int64 reference: key0=%d query0=%d g=%d t=%d\n", key0,
                      query0 + column0, g, lane % 4);
        }
        for (int n = 0; n < tiles; ++n) {
          for (int p = 0; p < 2; ++p) {
            const int32_t query = query0 + column0 + n * 8 + (lane % 4) * 2 + p;
            const int32_t key = key0 + g;
            const bool visible = t.mask.visible(query, key);
            const bool bit = (bits >> (2 * n + p)) & 1u;
            ++g_elements;
            if (bit != visible && g_bad++ < 10) {
              std::printf(
                  "%s: q=%d k=%d (q_length %d, k_length %d, offsets [%d, %d]): bit %d, "
                  "visible %d\n",
                  s.name, query, key, t.q_length, t.k_length, t.mask.min_offset, t.mask.max_offset,
                  bit, visible);
            }
            any_visible |= visible;
            if (query < t.q_length) all_visible &= visible;
          }
        }
      }
    }
  }
  if (flags != nullptr) {
    g_partial += flags->active && flags->partial;
    // Inactive: the kernel skips the warpgroup (the split kernel's flags are the CTA's, both
    // warpgroups' columns together: checked on the union there, by the caller).
    const bool inactive_but_visible = s.tile_keys == 128 && !flags->active && any_visible;
    const bool full_but_hidden = flags->active && !flags->partial && !all_visible;
    if ((inactive_but_visible || full_but_hidden) && g_bad_flags++ < 10) {
      std::printf("%s flags: q0=%d key0=%d active=%d partial=%d, any %d all %d\n", s.name, query0,
                  key0, flags->active, flags->partial, any_visible, all_visible);
    }
  }
}

void check_config(const tile& base, std::mt19937_64* rng, int free_queries, bool all_steps) {
  ++g_configs;
  for (const shape& s : kShapes) {
    tile t = base;
    const int32_t k_tiles = (t.k_length + s.tile_keys - 1) / s.tile_keys;
    std::set<int32_t> tiles;
    if (all_steps || k_tiles <= 6) {
      for (int32_t k = 0; k < k_tiles; ++k) tiles.insert(k);
    } else {
      tiles = {0, 1, k_tiles - 2, k_tiles - 1};
      for (int i = 0; i < 2; ++i) tiles.insert(static_cast<int32_t>((*rng)() % k_tiles));
      // The tiles on the diagonal bands of random queries.
      for (int i = 0; i < 3; ++i) {
        const int64_t q = static_cast<int64_t>((*rng)() % t.q_length);
        for (const int64_t edge : {q + t.mask.min_offset, q + t.mask.max_offset}) {
          if (edge >= 0 && edge < t.k_length)
            tiles.insert(static_cast<int32_t>(edge / s.tile_keys));
        }
      }
    }
    for (const int32_t k_tile : tiles) {
      t.place(k_tile, s.tile_keys, s.queries);
      ++g_tiles;
      std::set<int32_t> steps;
      if (all_steps || t.steps <= 16) {
        for (int32_t i = 0; i < t.steps; ++i) steps.insert(i);
      } else {
        for (int32_t i = 0; i < 3; ++i) steps.insert(i), steps.insert(t.steps - 1 - i);
        for (int i = 0; i < 3; ++i) steps.insert(static_cast<int32_t>((*rng)() % t.steps));
        // Around each warpgroup's edges: the diagonal / right edge and the left edge.
        for (int group = 0; group < 2; ++group) {
          const int64_t g = int64_t{t.key0} + group * 64;
          for (const int64_t q : {g - t.mask.max_offset, g + 63 - t.mask.max_offset,
                                  g - t.mask.min_offset, g + 63 - t.mask.min_offset}) {
            const int64_t i0 = (q - t.query_first) / s.queries;
            for (int64_t i = i0 - 2; i <= i0 + 2; ++i) {
              if (i >= 0 && i < t.steps) steps.insert(static_cast<int32_t>(i));
            }
          }
        }
      }
      for (const int32_t i : steps) {
        const int32_t query0 = t.query0(i, s.queries);
        ++g_steps;
        if (s.tile_keys == 128) {
          for (int group = 0; group < 2; ++group) {
            const step_flags f = place_step(t, s, query0, group);
            check_step(t, s, query0, group, &f);
          }
        } else {  // both warpgroups on the CTA's flags (group 0), their query halves
          const step_flags f = place_step(t, s, query0, 0);
          for (int group = 0; group < 2; ++group) check_step(t, s, query0, group, &f);
        }
      }
      // Free query0: any row of the segment and up to a step past its end, unplaced.
      for (int i = 0; i < free_queries && rng != nullptr; ++i) {
        const int64_t span = int64_t{t.q_length} + s.queries;
        const int32_t query0 = static_cast<int32_t>((*rng)() % span);
        ++g_free;
        for (int group = 0; group < 2; ++group) check_step(t, s, query0, group, nullptr);
      }
    }
  }
}

int32_t length(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0:
      return 1 + static_cast<int32_t>(rng() % 64);
    case 1:
      return 1 + static_cast<int32_t>(rng() % 600);
    case 2:
    case 3:
      return 1 + static_cast<int32_t>(rng() % 5000);
    case 4:
      return 1 + static_cast<int32_t>(rng() % 200000);
    case 5:
      return 1 + static_cast<int32_t>(rng() % kMaxRows);
    case 6:
      return kMaxRows - static_cast<int32_t>(rng() % 1000);
    default:
      return kMaxRows;
  }
}

int32_t window_side(std::mt19937_64& rng) {
  switch (rng() % 9) {
    case 0:
    case 1:
      return -1;  // unbounded
    case 2:
      return 0;
    case 3:
      return static_cast<int32_t>(rng() % 64);
    case 4:
      return static_cast<int32_t>(rng() % 3000);
    case 5:
      return static_cast<int32_t>(rng() % (1u << 31));
    case 6:
      return INT32_MAX - static_cast<int32_t>(rng() % 300);
    case 7:
      return kMaxRows - static_cast<int32_t>(rng() % 300);
    default:
      return static_cast<int32_t>(rng() % 300000);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const long long configs = argc > 1 ? std::atoll(argv[1]) : 20000;
  std::mt19937_64 rng(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 29);
  const int32_t sweep = argc > 3 ? std::atoi(argv[3]) : 0;
  const int free_queries = argc > 4 ? std::atoi(argv[4]) : 4;
  if (sweep > 0) {
    // Every q and k length up to `sweep` and those around the tiles' and steps' sizes, x 14 x
    // 14 windows (causal and bottom-right alignment among them), every tile and step.
    std::set<int32_t> lengths;
    for (int32_t n = 1; n <= sweep; ++n) lengths.insert(n);
    for (const int32_t n :
         {31,  32,  33,  63,  64,  65,  79,  80,  81,  127, 128, 129, 143, 159, 160,
          161, 191, 192, 193, 240, 255, 256, 257, 319, 320, 321, 383, 384, 385}) {
      lengths.insert(n);
    }
    const int32_t sides[] = {-1, 0, 1, 2, 7, 31, 32, 63, 64, 65, 79, 80, 81, 200};
    for (const int32_t q : lengths) {
      for (const int32_t k : lengths) {
        for (const int32_t left : sides) {
          for (const int32_t right : sides) {
            tile t;
            t.q_length = q;
            t.k_length = k;
            t.mask = segment_mask::make(window{left, right}, q, k);
            check_config(t, &rng, free_queries, true);
          }
        }
      }
    }
  }
  for (long long i = 0; i < configs; ++i) {
    tile t;
    t.q_length = length(rng);
    t.k_length = rng() % 3 == 0 ? t.q_length : length(rng);
    if (rng() % 4 == 0) {  // near-equal lengths: small diagonal offsets
      const int64_t k = int64_t{t.q_length} + static_cast<int64_t>(rng() % 401) - 200;
      t.k_length = static_cast<int32_t>(std::clamp<int64_t>(k, 1, kMaxRows));
    }
    window w;
    w.left = window_side(rng);
    w.right = rng() % 2 == 0 ? 0 : window_side(rng);  // causal half the time
    t.mask = segment_mask::make(w, t.q_length, t.k_length);
    check_config(t, &rng, free_queries, false);
  }
  std::printf(
      "configurations %lld (x 4 step shapes): tiles %lld, placed steps %lld (active partial "
      "warpgroup-steps %lld), free query0 %lld; elements compared %lld\n"
      "mismatches with visible() %lld, with the int64 reference %lld, out-of-range shifts %lld, "
      "flag failures %lld\n",
      g_configs, g_tiles, g_steps, g_partial, g_free, g_elements, g_bad, g_bad_ref, g_bad_range,
      g_bad_flags);
  return g_bad == 0 && g_bad_ref == 0 && g_bad_range == 0 && g_bad_flags == 0 ? 0 : 1;
}
