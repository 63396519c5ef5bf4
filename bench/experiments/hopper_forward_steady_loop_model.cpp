// Host model of the patched sm90 consume() (review s36): the real tile_context.cuh / mask.hpp of
// the patched tree, device qualifiers stubbed; tile_context's apply_mask (device-only, names
// segment_mask::apply_rows) is cut from a copy:
//   mkdir -p /tmp/m/varattn/detail/kernel && python3 -c "s=open('include/varattn/detail/kernel/tile_context.cuh').read(); a=s.index('  template <int ScoreTiles>\n  __device__ __forceinline__ void apply_mask'); b=s.index('  //! The first key of main-loop step'); open('/tmp/m/varattn/detail/kernel/tile_context.cuh','w').write(s[:a]+s[b:])"
//   g++ -std=c++17 -O2 -I/tmp/m -Iinclude bench/experiments/hopper_forward_steady_loop_model.cpp -o /tmp/model && /tmp/model
// (the consume() loop and its releases are transcribed below). Checks per (q_len, k_len, window, tile, q_tile, group):
//  (a) unmasked_steps() == { step : !partial(key0(step)) } over [0, blocks.count)
//  (b) the run loop visits 1..group_steps-1 once each, in order, flag == partial(key0(step))
//  (c) !partial blocks really have every (row < query_rows, key) visible (HEAD semantics)
//  (d) per-warp release counts per CTA step (k and v) == 1 per warp for every step, every group
#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <vector>
#define __device__
#define __host__
#define __forceinline__ inline
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline int __ffs(int x) { return __builtin_ffs(x); }
struct { unsigned x; } threadIdx;
#include <varattn/detail/kernel/tile_context.cuh>
using namespace varattn::detail;

static long long n_cases = 0, n_steps = 0, n_masked = 0, n_unmasked = 0, n_runs3 = 0;
static void fail(const char* what, int ql, int kl, int L, int R, int BM, int BN, int qt, int g,
                 int step) {
  std::printf("FAIL %s q=%d k=%d L=%d R=%d BM=%d BN=%d qtile=%d group=%d step=%d\n", what, ql, kl,
              L, R, BM, BN, qt, g, step);
  std::exit(1);
}

template <int BM, int BN>
static void run_case(int ql, int kl, int L, int R) {
  using Tile = tile_context<unsigned short, BM, BN>;
  forward_params<unsigned short> p{};
  p.mask = window{L, R};
  p.group_size = 1;
  segment_bounds seg{};
  seg.q_begin = 0;
  seg.k_begin = 0;
  seg.q_length = ql;
  seg.k_length = kl;
  const int tiles = (ql + BM - 1) / BM;
  for (int qt = 0; qt < tiles; ++qt) {
    const Tile tile = Tile::make(p, seg, qt, 0);
    const int kv_steps = tile.blocks.count;
    const auto um = tile.unmasked_steps();
    // (a)
    for (int st = 0; st < kv_steps; ++st) {
      const bool in = st >= um.first && st < um.end;
      if (in == tile.partial(tile.key0(st))) fail("unmasked_steps != !partial", ql, kl, L, R, BM, BN, qt, -1, st);
      // (c) HEAD semantics: an unmasked block has every key visible to every tile row
      if (in) {  // the visible set is convex in (row, key): the block's corners suffice
        const int r0 = tile.query0, r1 = tile.query0 + BM - 1, k0 = tile.key0(st), k1 = k0 + BN - 1;
        if (!tile.mask.visible(r0, k0) || !tile.mask.visible(r0, k1) || !tile.mask.visible(r1, k0) ||
            !tile.mask.visible(r1, k1))
          fail("unmasked block hides a score", ql, kl, L, R, BM, BN, qt, -1, st);
      }
    }
    std::vector<int> k_rel(kv_steps, 0), v_rel(kv_steps, 0);
    for (int g = 0; g < BM / 64; ++g) {
      const int gs = tile.steps_for_rows(g * 64, 64);
      if (gs > kv_steps || gs < 0) fail("group_steps out of range", ql, kl, L, R, BM, BN, qt, g, gs);
      // (b) the patched loop, transcribed from forward_tile.cuh consume()
      std::vector<int> visits(std::max(gs, 1), 0);
      if (gs > 0) { visits[0]++; k_rel[0]++; }
      int runs = 0;
      const auto main_step = [&](int step, bool masked) {
        if (masked != tile.partial(tile.key0(step))) fail("mask flag", ql, kl, L, R, BM, BN, qt, g, step);
        visits[step]++;
        ++n_steps;
        (masked ? n_masked : n_unmasked)++;
        if (step >= 2) v_rel[step - 2]++;
        k_rel[step]++;
      };
      for (int step = 1; step < gs;) {
        const bool masked = step < um.first || step >= um.end;
        const int end = min(gs, step < um.first ? um.first : masked ? gs : um.end);
        if (end <= step) fail("no progress", ql, kl, L, R, BM, BN, qt, g, step);
        ++runs;
        for (; step < end; ++step) main_step(step, masked);
      }
      if (runs > 3) fail("more than three runs", ql, kl, L, R, BM, BN, qt, g, runs);
      if (runs == 3) ++n_runs3;
      if (gs > 0) {
        if (gs >= 2) v_rel[gs - 2]++;
        v_rel[gs - 1]++;
      }
      for (int step = gs; step < kv_steps; ++step) { k_rel[step]++; v_rel[step]++; }
      for (int st = 0; st < gs; ++st)
        if (visits[st] != 1) fail("visit count", ql, kl, L, R, BM, BN, qt, g, st);
      // rows of this group that exist must not need steps past gs (HEAD semantics)
      for (int r = g * 64; r < std::min(g * 64 + 64, tile.rows); ++r)
        if (gs < kv_steps) {
          const int q = tile.query0 + r;
          const int from = std::max(tile.key0(gs), tile.mask.first_key(q));
          if (from < tile.mask.end_key(q, 1)) fail("group stops before a visible key", ql, kl, L, R, BM, BN, qt, g, gs);
        }
    }
    // (d) arrivals per step = groups (x 4 warps each), whatever each group's steps
    for (int st = 0; st < kv_steps; ++st)
      if (k_rel[st] != BM / 64 || v_rel[st] != BM / 64) fail("arrival count", ql, kl, L, R, BM, BN, qt, -1, st);
    ++n_cases;
  }
}

template <int BM, int BN>
static void sweep(int qmax, int kmax, int qstep, int kstep) {
  const int lefts[] = {-1, 0, 1, 7, 63, 64, 100, 200, 300};
  const int rights[] = {-1, 0, 1, 5, 64, 130, 300};
  for (int ql = 1; ql <= qmax; ql += qstep)
    for (int kl = 0; kl <= kmax; kl += kstep)
      for (int L : lefts)
        for (int R : rights) run_case<BM, BN>(ql, kl, L, R);
}

int main() {
  sweep<128, 128>(700, 900, 7, 9);
  sweep<128, 64>(500, 700, 5, 7);
  sweep<128, 80>(500, 700, 5, 7);
  sweep<192, 128>(700, 900, 7, 9);
  sweep<192, 144>(700, 900, 7, 9);
  // edges near block multiples
  for (int ql : {1, 63, 64, 65, 127, 128, 129, 191, 192, 193, 255, 256, 257, 383, 384, 385})
    for (int kl = 0; kl <= 600; ++kl)
      for (int L : {-1, 0, 1, 63, 64, 65, 127, 128, 129, 143, 144, 145, 256})
        for (int R : {-1, 0, 1, 63, 64, 65, 128, 144}) {
          run_case<128, 128>(ql, kl, L, R);
          run_case<192, 144>(ql, kl, L, R);
          run_case<128, 80>(ql, kl, L, R);
          run_case<192, 128>(ql, kl, L, R);
          run_case<128, 64>(ql, kl, L, R);
        }
  std::printf("OK tiles=%lld steps(1..gs-1)=%lld masked=%lld unmasked=%lld tiles-with-3-runs=%lld\n",
              n_cases, n_steps, n_masked, n_unmasked, n_runs3);
}
