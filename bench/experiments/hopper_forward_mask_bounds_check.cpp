// SPDX-License-Identifier: Apache-2.0
// hopper_forward_mask_bounds.patch's per-row key bounds against mask.hpp's visible(), on the host:
//   g++ -std=c++17 -O2 -I include bench/experiments/hopper_forward_mask_bounds_check.cpp
#include <varattn/detail/mask.hpp>
#include <cstdio>
#include <random>
using namespace varattn::detail;
int main() {
  std::mt19937_64 rng(7);
  long long checked = 0, bad = 0;
  for (int it = 0; it < 400000; ++it) {
    int32_t q_length = 1 + rng() % 5000, k_length = 1 + rng() % 5000; if (rng() % 4 == 0) { q_length = 1 + rng() % (1 << 30); k_length = 1 + rng() % (1 << 30); }
    if (rng() % 8 == 0) { q_length = 1 + rng() % 300; }
    window w; 
    int kind = rng() % 4;
    w.left = kind & 1 ? int32_t(rng() % 2000) : -1; if (rng() % 3 == 0 && w.left > 0) w.left = rng() % (1u << 31);
    w.right = kind & 2 ? int32_t(rng() % 3 == 0 ? 0 : rng() % 2000) : -1;
    if (rng() % 5 == 0) w.right = 0;
    const segment_mask m = segment_mask::make(w, q_length, k_length);
    // a tile of 128 rows, a partial step of 128 keys; rows past the segment too
    const int32_t query0 = (rng() % ((q_length + 127) / 128)) * 128;
    const int32_t blocks = (k_length + 127) / 128;
    const int32_t key0 = (rng() % blocks) * 128;
    for (int warp_row = 0; warp_row < 128; warp_row += 16) for (int lane = 0; lane < 32; ++lane) {
      const int32_t col0 = key0 + (lane % 4) * 2;
      int32_t lo[2], hi[2];
      for (int r = 0; r < 2; ++r) {
        const int32_t query = query0 + warp_row + lane / 4 + 8 * r;
        lo[r] = m.first_key(query) - col0;
        hi[r] = m.end_key(query, 1) - col0;
      }
      for (int t = 0; t < 16; ++t) for (int e = 0; e < 4; ++e) {
        const int c = t * 8 + (e % 2);
        const bool vis_new = c >= lo[e / 2] && c < hi[e / 2];
        const int32_t query = query0 + warp_row + lane / 4 + 8 * (e / 2);
        const int32_t key = key0 + t * 8 + (lane % 4) * 2 + (e % 2);
        const bool vis_old = m.visible(query, key);
        ++checked; if (vis_new != vis_old) { if (bad++ < 5) printf("mismatch q=%d k=%d ql=%d kl=%d L=%d R=%d\n", query, key, q_length, k_length, w.left, w.right); }
      }
    }
  }
  printf("checked %lld elements, %lld mismatches\n", checked, bad);
}
