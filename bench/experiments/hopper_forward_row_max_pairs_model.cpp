// Review s36 (lead 2): g++ -std=c++17 -O2 hopper_forward_row_max_pairs_model.cpp -o /tmp/rm && /tmp/rm
// HEAD's row max (sequential chain, then quad xor 1, 2) vs lead 2 (3 chains + fold, tie
// (m0+m1)+-inf, paired xor 1, 2): bitwise over random rows with -inf/NaN/±0/huge values.
// fmaxf modelled as maxNum with both zero orders (first-wins and -0<+0).
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
static int ZMODE = 0;
static float fm(float a, float b) {
  if (std::isnan(a)) return std::isnan(b) ? std::nanf("") : b;
  if (std::isnan(b)) return a;
  if (a == b && a == 0.f) return ZMODE == 0 ? a : (std::signbit(a) ? b : a);
  return a > b ? a : b;
}
static unsigned bits(float x) { unsigned u; std::memcpy(&u, &x, 4); if (std::isnan(x)) u = 0x7fffffff; return u; }
template <int ST>
static bool trial(std::mt19937& g, bool& zero_involved) {
  float s[4][ST][4], init[4][2];
  std::uniform_int_distribution<int> kind(0, 19);
  std::normal_distribution<float> nd(0.f, 30.f);
  auto val = [&]() -> float {
    switch (kind(g)) {
      case 0: case 1: case 2: return -INFINITY;
      case 3: return std::nanf("");
      case 4: return 0.f;
      case 5: return -0.f;
      case 6: return 3e38f;
      case 7: return INFINITY;
      default: return nd(g);
    }
  };
  bool allinf = kind(g) < 3;
  for (int l = 0; l < 4; ++l) { for (int t = 0; t < ST; ++t) for (int e = 0; e < 4; ++e) s[l][t][e] = allinf ? -INFINITY : val();
    init[l][0] = kind(g) < 10 ? -INFINITY : val(); init[l][1] = init[l][0]; }
  // quad lanes share init per row in reality (row_max is per row, replicated in the quad)
  for (int l = 1; l < 4; ++l) { init[l][0] = init[0][0]; init[l][1] = init[0][1]; }
  float head[4][2], pat[4][2];
  for (int l = 0; l < 4; ++l) for (int r = 0; r < 2; ++r) {
    float m = init[l][r];
    for (int t = 0; t < ST; ++t) m = fm(m, fm(s[l][t][2*r], s[l][t][2*r+1]));
    head[l][r] = m;
    constexpr int C = 3, V = 2 * ST + 1;
    auto value = [&](int i) { return i == 0 ? init[l][r] : s[l][(i-1)/2][2*r + (i-1)%2]; };
    float c[C]; for (int i = 0; i < C; ++i) c[i] = value(i);
    for (int i = C; i < V; ++i) c[i % C] = fm(c[i % C], value(i));
    c[0] = fm(c[0], c[2]); c[0] = fm(c[0], c[1]);
    pat[l][r] = c[0];
  }
  for (int l = 0; l < 4; ++l) { float tie = (pat[l][0] + pat[l][1]) + -INFINITY; pat[l][0] = fm(pat[l][0], tie); pat[l][1] = fm(pat[l][1], tie); }
  for (int x = 1; x <= 2; x *= 2) { float h2[4][2], p2[4][2];
    for (int l = 0; l < 4; ++l) for (int r = 0; r < 2; ++r) { h2[l][r] = fm(head[l][r], head[l ^ x][r]); p2[l][r] = fm(pat[l][r], pat[l ^ x][r]); }
    std::memcpy(head, h2, sizeof head); std::memcpy(pat, p2, sizeof pat); }
  bool same = true;
  for (int l = 0; l < 4; ++l) for (int r = 0; r < 2; ++r) { if (bits(head[l][r]) != bits(pat[l][r])) same = false; if (head[l][r] == 0.f) zero_involved = true; }
  return same;
}
int main() {
  std::mt19937 g(1);
  for (ZMODE = 0; ZMODE < 2; ++ZMODE) {
    long diff = 0, diff_nonzero = 0, n = 0;
    for (int i = 0; i < 400000; ++i) {
      bool z = false; bool ok;
      switch (i % 4) { case 0: ok = trial<16>(g, z); break; case 1: ok = trial<8>(g, z); break; case 2: ok = trial<10>(g, z); break; default: ok = trial<18>(g, z); }
      ++n; if (!ok) { ++diff; if (!z) ++diff_nonzero; }
    }
    std::printf("zero-order %s: %ld trials, %ld differ, %ld differ with a nonzero max\n", ZMODE ? "-0<+0" : "first-wins", n, diff, diff_nonzero);
  }
}
