// SPDX-License-Identifier: Apache-2.0
// hopper_backward_mask_bits.patch's bits against mask.hpp's visible(), on the host, by brute
// force. After `git apply bench/experiments/hopper_backward_mask_bits.patch`:
//   g++ -std=c++17 -O2 -fsanitize=undefined -fno-sanitize-recover=all -I include
//     bench/experiments/hopper_backward_mask_bits_check.cpp -o /tmp/mask_bits_check
//   /tmp/mask_bits_check [random configurations, default 1000] [seed, default 39]
// UBSan stops it at any int32 overflow in mask.hpp's arithmetic.
//
// A configuration: a segment's q and k lengths (1 to kMaxRows, equal or not), a window (left
// and right bounded, unbounded or causal, from 0 to INT32_MAX). For each shape of the Hopper
// dK/dV kernels' S^T (a warpgroup's 64 keys by 2 x Tiles columns a thread: 80 queries a step
// at head dim 128, 128 at 64, 64 elsewhere, the head-dim-256 kernel's 32-query halves) and
// key blocks of 64 at the segment's start, its end, around each window edge and at random,
// query0 at rows where the block's visibility changes (each edge +-2 steps), at random, up
// to a step past the segment, and at 0: every bit of column_bits(column_base_of(...), g, t)
// of every row g < 64 and t < 4 against visible(query0 + 2 t + 8 n + p, key0 + g) for the
// thread's 2 x Tiles columns, with `keys` as the kernels pass it (k_length - key0 capped at
// 64 or 128) and uncapped. Prints the counts; exits 1 on any mismatch.
#include <varattn/detail/mask.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

using varattn::detail::segment_mask;
using varattn::detail::window;

namespace {

constexpr int32_t kMaxRows = INT32_MAX - 256;  // varattn::kMaxRows (plan.hpp)
constexpr int32_t kTiles[] = {10, 16, 8, 4};  // 80, 128, 64 queries; 32 (the d256 half)

int64_t checked = 0, mismatches = 0, blocks = 0;

void check_block(const segment_mask& m, int32_t q_length, int32_t key0, int32_t query0,
                 int32_t tiles) {
  const int32_t in_segment = m.k_length - key0;  // rows g < this are keys of the segment
  const int32_t capped[2] = {std::min(in_segment, 64), std::min(in_segment, 128)};
  for (const int32_t keys : {capped[0], capped[1], in_segment}) {
    const segment_mask::column_base base = m.column_base_of(key0, query0, tiles, keys);
    ++blocks;
    for (int32_t g = 0; g < 64; ++g) {
      for (int32_t t = 0; t < 4; ++t) {
        const uint32_t bits = segment_mask::column_bits(base, g, t);
        for (int32_t n = 0; n < tiles; ++n) {
          for (int32_t p = 0; p < 2; ++p) {
            const int64_t query = int64_t{query0} + 2 * t + 8 * n + p;
            const int64_t key = int64_t{key0} + g;
            // visible() itself takes int32: queries past kMaxRows + 256 do not occur here.
            const bool want = query < INT32_MAX && key < INT32_MAX &&
                              m.visible(static_cast<int32_t>(query), static_cast<int32_t>(key));
            const bool got = (bits >> (2 * n + p)) & 1u;
            ++checked;
            if (got != want) {
              if (++mismatches <= 10) {
                std::printf("MISMATCH q %d k %d offsets [%d, %d] key0 %d query0 %d tiles %d "
                            "keys %d g %d t %d n %d p %d: bit %d, visible %d\n",
                            q_length, m.k_length, m.min_offset, m.max_offset, key0, query0,
                            tiles, keys, g, t, n, p, got, want);
              }
            }
          }
        }
      }
    }
  }
}

int32_t clamp_row(int64_t x, int64_t hi) { return static_cast<int32_t>(std::clamp<int64_t>(x, 0, hi)); }

void check_configuration(int32_t q_length, int32_t k_length, window w, std::mt19937_64& rng) {
  const segment_mask m = segment_mask::make(w, q_length, k_length);
  for (const int32_t tiles : kTiles) {
    const int32_t step = 8 * tiles;
    // Key blocks (64 keys; any key0 in [0, k_length), as the tiles' warpgroups start at
    // multiples of 64 of the segment, but any start is checked).
    std::vector<int64_t> keys = {0, int64_t{k_length} - 1, int64_t{k_length} - 64,
                                 (int64_t{k_length} - 1) / 64 * 64};
    // Around the window's edges for a query at the segment's start, middle and end.
    for (const int64_t q : {int64_t{0}, int64_t{q_length} / 2, int64_t{q_length} - 1}) {
      keys.push_back(q + m.min_offset - 32);
      keys.push_back(q + m.max_offset - 32);
    }
    for (int i = 0; i < 3; ++i) keys.push_back(static_cast<int64_t>(rng() % uint64_t(k_length)));
    for (const int64_t k : keys) {
      const int32_t key0 = clamp_row(k, k_length - 1);
      // Query rows where the block's first and last key turn visible or hidden, +-2 steps.
      std::vector<int64_t> queries = {0, int64_t{q_length} - 1, int64_t{q_length} + step,
                                      static_cast<int64_t>(rng() % (uint64_t(q_length) + step))};
      for (const int64_t edge : {int64_t{key0} - m.max_offset, int64_t{key0} + 63 - m.max_offset,
                                 int64_t{key0} - m.min_offset, int64_t{key0} + 63 - m.min_offset}) {
        for (int64_t d = -2 * step; d <= 2 * step; d += step / 2 + 3) queries.push_back(edge + d);
      }
      for (const int64_t q : queries) {
        check_block(m, q_length, key0, clamp_row(q, int64_t{q_length} + step), tiles);
      }
    }
  }
}

int32_t random_length(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0: return 1 + static_cast<int32_t>(rng() % 200);
    case 1: return 1 + static_cast<int32_t>(rng() % 5000);
    case 2: return kMaxRows - static_cast<int32_t>(rng() % 1000);
    default: return 1 + static_cast<int32_t>(rng() % uint64_t(kMaxRows));
  }
}

int32_t random_side(std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0: return -1;                                         // unbounded
    case 1: return 0;
    case 2: return static_cast<int32_t>(rng() % 300);          // within a few steps
    case 3: return static_cast<int32_t>(rng() % 5000);
    case 4: return INT32_MAX - static_cast<int32_t>(rng() % 300);
    default: return static_cast<int32_t>(rng() % uint64_t(INT32_MAX));
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int configurations = argc > 1 ? std::atoi(argv[1]) : 1000;
  std::mt19937_64 rng(argc > 2 ? std::strtoull(argv[2], nullptr, 0) : 39);
  // Small lengths first: every q, k in [1, 16] x ten windows.
  const window small_windows[] = {{-1, -1}, {-1, 0}, {0, 0}, {3, 0}, {5, 2}, {0, 7}, {64, 0},
                                  {100, 37}, {INT32_MAX, 0}, {-1, INT32_MAX}};
  for (int32_t q = 1; q <= 16; ++q) {
    for (int32_t k = 1; k <= 16; ++k) {
      for (const window w : small_windows) check_configuration(q, k, w, rng);
    }
  }
  for (int i = 0; i < configurations; ++i) {
    const int32_t q = random_length(rng);
    const int32_t k = rng() % 3 == 0 ? q : random_length(rng);
    window w{random_side(rng), random_side(rng)};
    if (rng() % 2 == 0) w.right = w.right < 0 ? 0 : std::min(w.right, 0);  // causal
    check_configuration(q, k, w, rng);
  }
  std::printf("%lld blocks (key0, query0, shape, keys), %lld elements, %lld mismatches\n",
              static_cast<long long>(blocks), static_cast<long long>(checked),
              static_cast<long long>(mismatches));
  return mismatches == 0 ? 0 : 1;
}
