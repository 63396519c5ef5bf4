// SPDX-License-Identifier: Apache-2.0
// hopper_backward_mask_bounds.patch's per-key query bounds against mask.hpp's visible(), on the
// host. After `git apply bench/experiments/hopper_backward_mask_bounds.patch` (it calls the
// patched mask.hpp's segment_mask::key_queries):
//   g++ -std=c++17 -O2 -I include bench/experiments/hopper_backward_mask_bounds_check.cpp
//   ./a.out [random configs per query-step size, default 300000] [seed] [sweep: every
//   segment up to this many queries and keys, 14 x 14 windows, every tile and step]
// For random segments (lengths up to kMaxRows, causal with any length difference, left/right
// windows up to INT32_MAX, unbounded sides) it places the Hopper dK/dV kernel's 128-key tiles
// and their query steps (kv_tile::place, full_steps, place_step: copies of the device code) and
// evaluates, for every element (warpgroup, warp, lane, n, e) of an active step, the patched
// kernel's test (no test / c >= lo / lo - 1 < c <= hi, from key_rows_of and the step's query0)
// against visible(query, key): keys past the segment, rows past the segment's end and queries
// that see no key included. Also checked: an inactive warpgroup's elements are all hidden,
// every int32 difference the kernel forms is exact, and hopper_backward_step_ranges.patch's
// flags (query ranges once a CTA) equal place_step's on every step visited.
#include <varattn/detail/mask.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <vector>

using namespace varattn::detail;

namespace {

constexpr int32_t kMaxRows = INT32_MAX - 256;  // plan.hpp
constexpr int32_t kKeys = 128;                 // a CTA's keys (two warpgroups of 64)

// kv_tile (backward/dkdv_kernel.cuh), the fields the placement uses.
struct tile {
  int32_t q_length, k_length;
  segment_mask mask;
  int32_t key0, keys, step_first, step_end;
  void place(int k_tile, int32_t tile_keys, int32_t step_rows) {
    key0 = k_tile * tile_keys;
    keys = std::min(tile_keys, k_length - key0);
    const int64_t first = int64_t{key0} - mask.max_offset;
    const int64_t last = int64_t{key0} + keys - 1 - mask.min_offset;
    const int64_t q_first = first < 0 ? 0 : first;
    const int64_t q_last = last < q_length - 1 ? last : q_length - 1;
    step_first = static_cast<int32_t>(q_first / step_rows);
    step_end = q_last < q_first ? step_first : static_cast<int32_t>(q_last / step_rows) + 1;
  }
};

struct full_queries {
  int32_t lo, hi;
};
struct step_place {
  int32_t query0;
  bool active, runs, partial, two_ends;
};

// sm90/dkdv_kernel.cuh with the patch: group_sees, full_steps, place_step, key_rows_of.
template <int Q>
bool group_sees(const tile& t, int32_t query0, int group) {
  const int32_t group_key0 = t.key0 + group * 64;
  return group_key0 < t.k_length && t.mask.end_key(query0, Q) > group_key0 &&
         t.mask.first_key(query0) < group_key0 + 64;
}
template <int Q>
full_queries full_steps(const tile& t, int group) {
  const int64_t key0 = int64_t{t.key0} + group * 64;
  if (key0 + 64 > t.k_length) return {INT32_MAX, INT32_MIN};
  return {segment_mask::clamp32(key0 + 63 - t.mask.max_offset),
          segment_mask::clamp32(key0 - (Q - 1) - t.mask.min_offset)};
}
template <int Q>
step_place place_step(const tile& t, int32_t step, int group, full_queries full) {
  step_place at;
  at.query0 = step * Q;
  if (at.query0 >= full.lo && at.query0 <= full.hi) {
    at.active = at.runs = true;
    at.partial = at.two_ends = false;
    return at;
  }
  at.active = group_sees<Q>(t, at.query0, group);
  at.runs = at.active || group_sees<Q>(t, at.query0, group ^ 1);
  const int32_t group_key0 = t.key0 + group * 64;
  const segment_mask::key_range unmasked = t.mask.unmasked_keys(at.query0, Q);
  at.two_ends = group_key0 < unmasked.first;
  at.partial = at.two_ends || group_key0 + 64 > unmasked.end;
  return at;
}

// hopper_backward_step_ranges.patch (stacked on the mask bounds): the flags from query ranges
// once a CTA (step_ranges_of, place_step). Checked equal to the copy above on every step.
struct query_range32 {
  int32_t lo, hi;
  bool holds(int32_t q) const { return q >= lo && q <= hi; }
};
struct step_ranges {
  query_range32 full, active, runs;
  int32_t two_ends;
};
template <int Q>
step_ranges step_ranges_of(const tile& t, int group) {
  constexpr query_range32 kNone{INT32_MAX, INT32_MIN};
  const auto range = [](int64_t lo, int64_t hi) {
    return query_range32{segment_mask::clamp32(lo), segment_mask::clamp32(hi)};
  };
  const int64_t k0 = t.key0, g = k0 + group * 64, m = t.mask.min_offset, M = t.mask.max_offset;
  const int64_t k_length = t.k_length;
  step_ranges r;
  r.full = g + 64 > k_length ? kNone : range(g + 63 - M, g - (Q - 1) - m);
  r.active = g >= k_length ? kNone : range(g - Q - M + 1, g + 63 - m);
  r.runs = range(k0 - Q - M + 1, (k0 + 64 < k_length ? k0 + 64 : k0) + 63 - m);
  r.two_ends = segment_mask::clamp32(g - Q + 2 - m);
  return r;
}
template <int Q>
step_place place_step_ranges(int32_t step, const step_ranges& r) {
  step_place at;
  at.query0 = step * Q;
  at.active = r.active.holds(at.query0);
  at.runs = r.runs.holds(at.query0);
  at.partial = !r.full.holds(at.query0);
  at.two_ends = at.query0 >= r.two_ends;
  return at;
}

long long g_flags_bad = 0;
long long g_checked = 0, g_bad = 0, g_hidden = 0, g_overflow = 0, g_steps = 0;
long long g_kind[3] = {0, 0, 0};

int32_t exact32(int64_t x) {  // an int32 difference of the kernel: must not wrap
  if (x < INT32_MIN || x > INT32_MAX) {
    if (g_overflow++ < 5) std::printf("int32 overflow: %lld\n", static_cast<long long>(x));
  }
  return static_cast<int32_t>(x);
}

template <int Q>
void check_step(const tile& t, int32_t step, int group, const full_queries& full, window w) {
  const step_place at = place_step<Q>(t, step, group, full);
  const int32_t query0 = at.query0;
  ++g_steps;
  {  // the ranges' flags; two_ends matters only on a partial step (elsewhere no mask test)
    const step_place b = place_step_ranges<Q>(step, step_ranges_of<Q>(t, group));
    if ((b.active != at.active || b.runs != at.runs || b.partial != at.partial ||
         (at.partial && b.two_ends != at.two_ends)) &&
        g_flags_bad++ < 10) {
      std::printf("ranges' flags differ: Q=%d q0=%d key0=%d group=%d ql=%d kl=%d min=%d max=%d "
                  "(%d%d%d%d against %d%d%d%d)\n",
                  Q, query0, t.key0, group, t.q_length, t.k_length, t.mask.min_offset,
                  t.mask.max_offset, b.active, b.runs, b.partial, b.two_ends, at.active,
                  at.runs, at.partial, at.two_ends);
    }
  }
  const int kEnds = !at.partial ? 0 : (!at.two_ends ? 1 : 2);
  if (at.active) ++g_kind[kEnds];
  for (int warp = 0; warp < 4; ++warp) {
    for (int lane = 0; lane < 32; ++lane) {
      int32_t first[2], last[2];
      for (int r = 0; r < 2; ++r) {  // key_rows_of
        const segment_mask::query_range q =
            t.mask.key_queries(t.key0 + group * 64 + warp * 16 + lane / 4 + 8 * r, (lane % 4) * 2);
        first[r] = q.first;
        last[r] = q.last;
      }
      int32_t lo[2] = {0, 0}, hi[2] = {0, 0};
      for (int r = 0; r < 2; ++r) {
        if (kEnds == 1) lo[r] = exact32(int64_t{first[r]} - query0);
        if (kEnds == 2) {
          lo[r] = exact32(int64_t{first[r]} - query0 - 1);
          hi[r] = exact32(int64_t{last[r]} - query0);
        }
      }
      for (int n = 0; n < Q / 8; ++n) {
        for (int e = 0; e < 4; ++e) {
          const int col = n * 8 + (lane % 4) * 2 + (e % 2);
          const int c = n * 8 + e % 2;
          const int32_t key = t.key0 + group * 64 + warp * 16 + lane / 4 + (e / 2) * 8;
          const bool old_visible = t.mask.visible(query0 + col, key);
          if (!at.active) {  // the kernel skips the warpgroup: nothing may be visible
            ++g_hidden;
            if (old_visible && g_bad++ < 10) {
              std::printf("inactive but visible: q=%d k=%d\n", query0 + col, key);
            }
            continue;
          }
          const bool visible = kEnds == 0 || (kEnds == 1 ? c >= lo[e / 2]
                                                         : c > lo[e / 2] && c <= hi[e / 2]);
          ++g_checked;
          if (visible != old_visible && g_bad++ < 10) {
            std::printf(
                "mismatch Q=%d q=%d k=%d ql=%d kl=%d left=%d right=%d min=%d max=%d ends=%d "
                "new=%d old=%d\n",
                Q, query0 + col, key, t.q_length, t.k_length, w.left, w.right, t.mask.min_offset,
                t.mask.max_offset, kEnds, visible, old_visible);
          }
        }
      }
    }
  }
}

int32_t length(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0: return 1 + static_cast<int32_t>(rng() % 64);
    case 1: return 1 + static_cast<int32_t>(rng() % 600);
    case 2:
    case 3: return 1 + static_cast<int32_t>(rng() % 5000);
    case 4: return 1 + static_cast<int32_t>(rng() % 200000);
    case 5: return 1 + static_cast<int32_t>(rng() % kMaxRows);
    case 6: return kMaxRows - static_cast<int32_t>(rng() % 1000);
    default: return kMaxRows;
  }
}

int32_t window_side(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0:
    case 1: return -1;  // unbounded
    case 2: return 0;
    case 3: return static_cast<int32_t>(rng() % 64);
    case 4: return static_cast<int32_t>(rng() % 3000);
    case 5: return static_cast<int32_t>(rng() % (1u << 31));
    case 6: return INT32_MAX - static_cast<int32_t>(rng() % 300);
    default: return static_cast<int32_t>(rng() % 300000);
  }
}

template <int Q>
void run(std::mt19937_64& rng, long long configs) {
  for (long long it = 0; it < configs; ++it) {
    tile t;
    t.q_length = length(rng);
    t.k_length = rng() % 3 == 0 ? t.q_length : length(rng);
    if (rng() % 4 == 0 && t.k_length > 1) {  // near-equal lengths (small diagonal offsets)
      const int64_t k = int64_t{t.q_length} + static_cast<int64_t>(rng() % 401) - 200;
      t.k_length = static_cast<int32_t>(k < 1 ? 1 : (k > kMaxRows ? kMaxRows : k));
    }
    window w;
    w.left = window_side(rng);
    w.right = rng() % 2 == 0 ? 0 : window_side(rng);  // causal half the time
    t.mask = segment_mask::make(w, t.q_length, t.k_length);
    const int32_t k_tiles = (t.k_length + kKeys - 1) / kKeys;
    // Tiles: the first and last, random ones, and the ones on the diagonal band of random queries.
    std::set<int32_t> tiles{0, k_tiles - 1};
    for (int i = 0; i < 2; ++i) tiles.insert(static_cast<int32_t>(rng() % k_tiles));
    for (int i = 0; i < 3; ++i) {
      const int32_t q = static_cast<int32_t>(rng() % t.q_length);
      for (const int64_t edge : {int64_t{q} + t.mask.min_offset, int64_t{q} + t.mask.max_offset}) {
        if (edge >= 0 && edge < t.k_length) tiles.insert(static_cast<int32_t>(edge / kKeys));
      }
    }
    for (const int32_t k_tile : tiles) {
      t.place(k_tile, kKeys, Q);
      if (t.step_end <= t.step_first) continue;
      // Steps: all when few, else the ends, those around each warpgroup's class boundaries
      // (full range, activity, both mask ends) and random ones.
      std::set<int32_t> steps;
      const int32_t count = t.step_end - t.step_first;
      const auto add_around = [&](int64_t query, int spread) {
        const int64_t s0 = (query < 0 ? 0 : query) / Q;
        for (int64_t s = s0 - spread; s <= s0 + spread; ++s) {
          if (s >= t.step_first && s < t.step_end) steps.insert(static_cast<int32_t>(s));
        }
      };
      if (count <= 24) {
        for (int32_t s = t.step_first; s < t.step_end; ++s) steps.insert(s);
      } else {
        for (int i = 0; i < 3; ++i) {
          steps.insert(t.step_first + i);
          steps.insert(t.step_end - 1 - i);
          steps.insert(t.step_first + static_cast<int32_t>(rng() % count));
        }
        for (int group = 0; group < 2; ++group) {
          const int64_t g = int64_t{t.key0} + group * 64;
          add_around(g - t.mask.max_offset, 3);       // diagonal / right edge
          add_around(g + 63 - t.mask.max_offset, 3);  // full range's start
          add_around(g - t.mask.min_offset, 3);       // left edge
          add_around(g - (Q - 1) - t.mask.min_offset, 3);
          add_around(g - Q - t.mask.max_offset + 1, 3);  // active and runs ranges
          add_around(g + 63 - t.mask.min_offset, 3);
          add_around(g - Q + 2 - t.mask.min_offset, 3);  // two_ends
        }
      }
      for (int group = 0; group < 2; ++group) {
        const full_queries full = full_steps<Q>(t, group);
        for (const int32_t s : steps) check_step<Q>(t, s, group, full, w);
      }
    }
  }
}

// Every segment up to `n` queries and keys, a set of windows, every tile and step.
template <int Q>
void sweep(int32_t n) {
  const int32_t sides[] = {-1, 0, 1, 2, 7, 63, 64, 65, 79, 80, 81, 127, 128, 200};
  for (int32_t q_length = 1; q_length <= n; ++q_length) {
    for (int32_t k_length = 1; k_length <= n; ++k_length) {
      for (const int32_t left : sides) {
        for (const int32_t right : sides) {
          const window w{left, right};
          tile t;
          t.q_length = q_length;
          t.k_length = k_length;
          t.mask = segment_mask::make(w, q_length, k_length);
          for (int32_t k_tile = 0; k_tile * kKeys < k_length; ++k_tile) {
            t.place(k_tile, kKeys, Q);
            for (int group = 0; group < 2; ++group) {
              const full_queries full = full_steps<Q>(t, group);
              for (int32_t s = t.step_first; s < t.step_end; ++s) {
                check_step<Q>(t, s, group, full, w);
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const long long configs = argc > 1 ? std::atoll(argv[1]) : 300000;
  std::mt19937_64 rng(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 11);
  const int32_t sweep_rows = argc > 3 ? std::atoi(argv[3]) : 0;  // e.g. 300: every length up to
  if (sweep_rows > 0) {
    sweep<80>(sweep_rows);
    sweep<64>(sweep_rows);
  }
  run<80>(rng, configs);  // head dim 128
  run<64>(rng, configs);  // the other head dims
  std::printf(
      "steps %lld (active: %lld unmasked, %lld first-only, %lld two-ends); elements checked "
      "%lld, inactive elements %lld; mismatches %lld, int32 overflows %lld; steps whose "
      "ranges' flags differ %lld\n",
      g_steps, g_kind[0], g_kind[1], g_kind[2], g_checked, g_hidden, g_bad, g_overflow,
      g_flags_bad);
  return g_bad == 0 && g_overflow == 0 && g_flags_bad == 0 ? 0 : 1;
}
