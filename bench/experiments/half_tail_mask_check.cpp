// SPDX-License-Identifier: Apache-2.0
// Host check of hopper_forward_half_tail_values.patch's condition (a helper's program, twenty-
// fourth session): for every consumer warpgroup (64 rows) of every tile, when half_tail holds,
// no stored row sees a key in the second half of the warpgroup's last step, that step is
// masked (partial), and every key a stored row sees lies inside the warpgroup's steps.
// Tile mirrors tile_context.cuh's make, key0, partial and steps_for_rows, which are device-only
// there. Run: g++ -std=c++17 -O2 -Iinclude bench/experiments/half_tail_mask_check.cpp && ./a.out

#include <varattn/detail/mask.hpp>
#include <cstdio>
#include <random>
#include <algorithm>
using namespace varattn::detail;
constexpr int BN = 128;
struct Tile {
  int query0, rows; segment_mask mask; segment_mask::blocks blocks; int uf, ue;
  int key0(int s) const { return (blocks.first + s) * BN; }
  bool partial(int k0) const { return k0 < uf || k0 + BN > ue; }
  int steps_for_rows(int first, int count) const {
    count = std::min(count, rows - first);
    if (count <= 0) return 0;
    int end = mask.end_key(query0 + first, count);
    int steps = (end - blocks.first * BN + BN - 1) / BN;
    return std::max(0, std::min(blocks.count, steps));
  }
};
long long checked = 0, halves = 0, halves_multi = 0, fails = 0;
void check(window w, int ql, int kl, int BM) {
  segment_mask m = segment_mask::make(w, ql, kl);
  for (int qt = 0; qt * BM < ql; ++qt) {
    Tile t; t.query0 = qt * BM; t.rows = std::min(BM, ql - t.query0); t.mask = m;
    t.blocks = m.key_blocks(t.query0, t.rows, BN);
    auto u = m.unmasked_keys(t.query0, BM); t.uf = u.first; t.ue = u.end;
    for (int g = 0; g < BM / 64; ++g) {
      int row0 = 64 * g; int gs = t.steps_for_rows(row0, 64);
      bool half = gs > 0 && m.end_key(t.query0 + row0, std::min(64, t.rows - row0)) <= t.key0(gs - 1) + BN / 2;
      int count = std::min(64, t.rows - row0);
      ++checked;
      // (d) every visible key of stored rows inside the warpgroup's steps
      for (int r = row0; r < row0 + count; ++r) for (int k = 0; k < kl; ++k)
        if (m.visible(t.query0 + r, k) && (gs == 0 || k < t.key0(0) || k >= t.key0(gs - 1) + BN)) {
          if (fails++ < 10) printf("COVER ql=%d kl=%d wl=%d wr=%d BM=%d qt=%d g=%d r=%d k=%d\n", ql, kl, w.left, w.right, BM, qt, g, r, k);
        }
      if (!half) continue;
      ++halves; if (gs >= 2) ++halves_multi;
      int k0 = t.key0(gs - 1);
      for (int r = row0; r < row0 + count; ++r) for (int k = k0 + 64; k < k0 + 128; ++k)
        if (m.visible(t.query0 + r, k)) {
          if (fails++ < 10) printf("HALF ql=%d kl=%d wl=%d wr=%d BM=%d qt=%d g=%d r=%d k=%d\n", ql, kl, w.left, w.right, BM, qt, g, r, k);
        }
      // mask must be applied unless all first-half keys visible to all stored rows
      if (!t.partial(k0)) {
        if (fails++ < 10) printf("NOTPARTIAL ql=%d kl=%d\n", ql, kl);
      }
    }
  }
}
int main() {
  std::mt19937 rng(1);
  // exhaustive small, fixed windows
  window ws[] = {{-1,-1},{-1,0},{31,0},{100,0},{0,0},{200,-1},{-1,50},{64,64},{5,70},{130,3}};
  for (auto w : ws) for (int ql = 1; ql <= 300; ql += 1) for (int kl = 1; kl <= 300; kl += 3)
    for (int BM : {128, 192}) check(w, ql, kl, BM);
  printf("exhaustive: checked=%lld halves=%lld multi=%lld fails=%lld\n", checked, halves, halves_multi, fails);
  for (int it = 0; it < 200000; ++it) {
    int ql = 1 + rng() % 600, kl = 1 + rng() % 600;
    bool causal = rng() % 2;
    int wl = rng() % 3 == 0 ? -1 : rng() % 400;
    int wr = causal ? 0 : (rng() % 3 == 0 ? -1 : rng() % 400);
    check({wl, wr}, ql, kl, rng() % 2 ? 128 : 192);
  }
  printf("total: checked=%lld halves=%lld multi=%lld fails=%lld\n", checked, halves, halves_multi, fails);
  return fails != 0;
}
