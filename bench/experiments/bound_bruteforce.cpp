// Brute force: device-builder list (per-thread ranges, grouping optional) vs the bound.
#include <varattn/plan.hpp>
#include <cstdio>
#include <random>
#include <vector>
#include <algorithm>
using namespace varattn;
using namespace varattn::detail;

struct stat { int64_t steps = 0, tiles = 0; };

// Emulates build_work_list_kernel's item set: each of 256 threads takes ceil(n/256) consecutive
// segments (class_sort begin/end), items via for_each_item_run; steps as the host counts them.
stat device_list(const std::vector<int32_t>& L, int32_t bm, int32_t bn, window w, bool grouping) {
  const int32_t n = (int32_t)L.size();
  std::vector<int32_t> off(n + 1, 0);
  for (int i = 0; i < n; ++i) off[i + 1] = off[i] + L[i];
  stat s;
  const int32_t per = (n + kBuildThreads - 1) / kBuildThreads;
  auto length = [&](int32_t i) { return segment_lengths{L[i], L[i]}; };
  for (int32_t t = 0; t < kBuildThreads; ++t) {
    int32_t b = std::min(n, t * per), e = std::min(n, (t + 1) * per);
    if (b >= e) continue;
    for_each_item_run(b, e, length, bm, bn, w, grouping,
      [&](int32_t seg, int32_t first, int32_t tiles, int32_t) {
        for (int32_t q = first; q < first + tiles; ++q) {
          s.steps += tile_steps(L[seg], L[seg], q, bm, bn, w); ++s.tiles; }
      },
      [&](int32_t first, int32_t count, int32_t) {
        s.steps += ceil_div(off[first + count] - off[first], bn); ++s.tiles; });
  }
  return s;
}

int main() {
  std::mt19937_64 rng(7);
  auto pick = [&](int64_t n) { return (int32_t)(rng() % uint64_t(n)); };
  const int32_t bms[] = {128, 192, 64, 32, 16, 8, 2, 1, 96};
  const int32_t bns[] = {128, 144, 80, 64, 32};
  const window wins[] = {{-1, -1}, {-1, 0}, {-1, 1}, {-1, 7}, {-1, 127}, {-1, 128}, {-1, 5000}};
  long checks = 0, fails = 0; double worst = 1e9;
  for (int trial = 0; trial < 200000; ++trial) {
    int32_t bm = bms[pick(9)], bn = bns[pick(5)]; window w = wins[pick(7)];
    bool grouping = pick(2);
    int32_t n = 1 + pick(trial % 4 == 0 ? 600 : 12);
    std::vector<int32_t> L(n);
    int kind = pick(6);
    int32_t scale = 1 + pick(kind == 5 ? 40000 : 3000);
    for (auto& l : L) {
      switch (kind) {
        case 0: l = scale; break;
        case 1: l = pick(3) == 0 ? 0 : 1 + pick(scale); break;
        case 2: l = pick(n) == 0 ? scale * 10 : pick(bm + 2); break;
        case 3: l = pick(2) ? bm * (1 + pick(4)) + pick(3) - 1 : bn * (1 + pick(4)) + pick(3) - 1; break;
        default: l = pick(scale + 1); break;
      }
      if (l < 0) l = 0;
    }
    int64_t rows = 0; for (auto l : L) rows += l;
    if (rows == 0 || rows > kMaxRows) continue;
    stat s = device_list(L, bm, bn, w, grouping);
    tile_steps_ratio b = shared_offsets_steps_bound((int32_t)rows, n, bn, w);
    ++checks;
    // mean >= bound  <=>  s.steps * b.tiles >= b.steps * s.tiles
    if (s.tiles == 0) { ++fails; std::printf("no tiles rows=%lld\n", (long long)rows); continue; }
    __int128 lhs = (__int128)s.steps * b.tiles, rhs = (__int128)b.steps * s.tiles;
    double ratio = double(s.steps) / s.tiles / b.value();
    worst = std::min(worst, ratio);
    if (lhs < rhs) {
      ++fails;
      if (fails < 10) std::printf("FAIL bm=%d bn=%d w=(%d,%d) g=%d n=%d rows=%lld mean=%.4f bound=%.4f\n",
        bm, bn, w.left, w.right, (int)grouping, n, (long long)rows, double(s.steps)/s.tiles, b.value());
    }
  }
  std::printf("random: %ld checks, %ld fails, worst mean/bound %.4f\n", checks, fails, worst);
  // Adversarial: hill-climb to minimize mean/bound, small n.
  double gworst = 1e9;
  for (int run = 0; run < 3000; ++run) {
    int32_t bm = bms[pick(9)], bn = bns[pick(5)]; window w = wins[pick(7)];
    bool grouping = pick(2);
    int32_t n = 1 + pick(8);
    std::vector<int32_t> L(n); for (auto& l : L) l = pick(4 * std::max(bm, bn) + 1);
    auto score = [&](const std::vector<int32_t>& X) {
      int64_t rows = 0; for (auto l : X) rows += l; if (rows == 0) return 1e9;
      stat s = device_list(X, bm, bn, w, grouping);
      return double(s.steps) / s.tiles / shared_offsets_steps_bound((int32_t)rows, n, bn, w).value();
    };
    double cur = score(L);
    for (int it = 0; it < 2000; ++it) {
      auto X = L; int i = pick(n);
      X[i] = std::max(0, X[i] + (pick(2) ? 1 : -1) * (1 + pick(pick(2) ? 4 : 300)));
      double sc = score(X); if (sc <= cur) { cur = sc; L = X; }
    }
    if (cur < gworst) { gworst = cur; std::printf("adv worst %.5f bm=%d bn=%d w=(%d,%d) L=", cur, bm, bn, w.left, w.right); for (auto l : L) std::printf("%d ", l); std::printf("\n"); }
    if (cur < 1.0) std::printf("ADV FAIL\n");
  }
  std::printf("adversarial worst mean/bound %.5f\n", gworst);
}
