// SPDX-License-Identifier: Apache-2.0
// Host-only: the two fused work lists varattn builds for one workload on Hopper, side by side.
//   host list:   detail::build_work_list (plan::make; stable sort by exact keys, descending)
//                + detail::list_class_ends
//   device list: test::class_ordered_list (tests/common/list_order_reference.hpp), the host
//                reference of device_plan.cuh's build_work_list_kernel that the GPU tests
//                (device_list_order_test.cu) hold the device's list and class ends to
// and the rank -> (item, head group) order the persistent grid's counter hands out
// (detail::locate_class_rank: class-major under an unbounded mask, one class otherwise).
//
// Build (no GPU, no CUDA runtime linked: only inline headers are used):
//   g++ -std=c++17 -O2 -Wall -Wextra -I/tmp/wt_order/include -I/tmp/wt_order/tests/common
//       -I/usr/local/cuda/include order_lists.cpp -o order_lists
// Run:
//   ./order_lists [--causal] [--heads H] [--csv PREFIX] [lengths...]   (default: llm-d128)
// --csv PREFIX writes PREFIX_host.csv and PREFIX_device.csv: rank,segment,tile,head,steps,keys.
#include <varattn/detail/list_order.hpp>
#include <varattn/kernel_config.hpp>
#include <varattn/segments.hpp>
#include <varattn/work_list.hpp>

#include <list_order_reference.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using varattn::work_item;
using varattn::detail::kSegmentClasses;

struct list_view {
  const char* name;
  std::vector<work_item> items;
  std::array<int32_t, kSegmentClasses> ends;
};

int32_t item_keys(const work_item& it, const std::vector<int32_t>& lq, const std::vector<int32_t>& lk,
                  int32_t bm, varattn::detail::window w) {
  return varattn::detail::tile_keys(lq[it.segment], lk[it.segment], it.q_tile, bm, w);
}

// Steps a class slot stands for: [2^(b-1), 2^b - 1] with b = 31 - slot.
std::string class_range(int slot) {
  const int bits = kSegmentClasses - 1 - slot;
  if (bits == 0) return "0";
  const long lo = 1L << (bits - 1), hi = (1L << bits) - 1;
  return std::to_string(lo) + "-" + std::to_string(hi);
}

// Per class: the segments in list order with their tile runs ("s6[0..28]").
void print_classes(const list_view& l, const std::vector<int32_t>& lq,
                   const std::vector<int32_t>& lk, int32_t bm, int32_t bn,
                   varattn::detail::window w) {
  std::printf("%s list: %zu items; class ends (non-empty classes):\n", l.name, l.items.size());
  int32_t first = 0;
  for (int slot = 0; slot < kSegmentClasses; ++slot) {
    const int32_t end = l.ends[static_cast<std::size_t>(slot)];
    if (end == first) continue;
    std::printf("  slot %2d (steps %s): items [%d, %d), %d items\n    ", slot,
                class_range(slot).c_str(), first, end, end - first);
    int32_t i = first;
    while (i < end) {
      const work_item a = l.items[static_cast<std::size_t>(i)];
      int32_t j = i + 1;
      int dir = 0;
      while (j < end) {
        const work_item b = l.items[static_cast<std::size_t>(j)];
        const work_item p = l.items[static_cast<std::size_t>(j - 1)];
        if (b.segment != a.segment) break;
        const int d = b.q_tile - p.q_tile;
        if (d != 1 && d != -1) break;
        if (dir != 0 && d != dir) break;
        dir = d;
        ++j;
      }
      const work_item last = l.items[static_cast<std::size_t>(j - 1)];
      std::printf("s%d(L=%d,%d st)[%d..%d] ", a.segment, lq[a.segment],
                  varattn::ceil_div(item_keys(a, lq, lk, bm, w), bn), a.q_tile, last.q_tile);
      i = j;
    }
    std::printf("\n");
    first = end;
  }
}

// The rank sequence, compressed into runs of one (segment, head) with consecutive tiles.
void print_ranks(const list_view& l, uint32_t groups, bool by_class, uint32_t limit_runs) {
  const uint32_t total = static_cast<uint32_t>(l.ends[kSegmentClasses - 1]) * groups;
  std::printf("%s ranks (%u in all; by_class = %d): rank range -> segment [tiles], head\n  ",
              l.name, total, by_class ? 1 : 0);
  uint32_t r = 0, runs = 0;
  while (r < total && runs < limit_runs) {
    const auto a = varattn::detail::locate_class_rank(r, l.ends.data(), groups, 1, by_class);
    const work_item ia = l.items[static_cast<std::size_t>(a.index)];
    uint32_t s = r + 1;
    int32_t last_tile = ia.q_tile;
    while (s < total) {
      const auto b = varattn::detail::locate_class_rank(s, l.ends.data(), groups, 1, by_class);
      const work_item ib = l.items[static_cast<std::size_t>(b.index)];
      if (b.group != a.group || ib.segment != ia.segment) break;
      if (ib.q_tile != last_tile + 1 && ib.q_tile != last_tile - 1) break;
      last_tile = ib.q_tile;
      ++s;
    }
    std::printf("%u-%u:s%d[%d..%d]h%d  ", r, s - 1, ia.segment, ia.q_tile, last_tile, a.group);
    if (++runs % 6 == 0) std::printf("\n  ");
    r = s;
  }
  std::printf("%s\n", r < total ? "..." : "");
}

void write_csv(const std::string& path, const list_view& l, uint32_t groups, bool by_class,
               const std::vector<int32_t>& lq, const std::vector<int32_t>& lk, int32_t bm,
               int32_t bn, varattn::detail::window w) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::fprintf(f, "rank,index,segment,tile,head,steps,keys,q_rows\n");
  const uint32_t total = static_cast<uint32_t>(l.ends[kSegmentClasses - 1]) * groups;
  for (uint32_t r = 0; r < total; ++r) {
    const auto a = varattn::detail::locate_class_rank(r, l.ends.data(), groups, 1, by_class);
    const work_item it = l.items[static_cast<std::size_t>(a.index)];
    const int32_t keys = item_keys(it, lq, lk, bm, w);
    const int32_t rows = std::min<int32_t>(bm, lq[it.segment] - it.q_tile * bm);
    std::fprintf(f, "%u,%d,%d,%d,%d,%d,%d,%d\n", r, a.index, it.segment, it.q_tile, a.group,
                 varattn::ceil_div(keys, bn), keys, rows);
  }
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  bool causal = false;
  int32_t heads = 32;
  std::string csv;
  std::vector<int32_t> lengths;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--causal")) {
      causal = true;
    } else if (!std::strcmp(argv[i], "--heads") && i + 1 < argc) {
      heads = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--csv") && i + 1 < argc) {
      csv = argv[++i];
    } else {
      lengths.push_back(std::atoi(argv[i]));
    }
  }
  if (lengths.empty()) {  // bench/workloads.json, llm-d128 (and llm-d128-causal)
    lengths = {2072, 1950, 257, 2683, 2877, 459, 3633, 1321,
               1458, 2746, 1049, 2717, 2694, 1334, 554,  1799};
  }
  const varattn::detail::window w = causal ? varattn::detail::window{-1, 0}
                                           : varattn::detail::window{};
  int32_t max_q = 0, rows = 0;
  for (int32_t l : lengths) max_q = std::max(max_q, l), rows += l;
  // Both plans select with the same longest length: the host plan q.max_length(), the bench's
  // reserve_device_plan passes max_q as max_q_length (tile_length).
  const varattn::kernel_config k = varattn::select_kernel(
      varattn::device_arch{9, 0}, 128, max_q, varattn::kernel_family::automatic, 1, w.bounded());
  const int32_t bm = k.tile.block_m, bn = k.tile.block_n;
  std::printf("workload: %zu segments, %d rows, %d heads, d128, %s; Hopper tile %dx%d, pack %d, "
              "groups_segments %d\n",
              lengths.size(), rows, heads, causal ? "causal" : "no mask", bm, bn, k.pack,
              k.groups_segments() ? 1 : 0);
  const auto q = varattn::segments::from_lengths(lengths, "cu_seqlens_q");
  const auto kk = varattn::segments::from_lengths(lengths, "cu_seqlens_k");
  list_view host{"host", varattn::detail::build_work_list(q, kk, bm, bn, w, k.groups_segments()),
                 {}};
  host.ends = varattn::detail::list_class_ends(host.items, q, kk, bm, bn, w);
  list_view dev{"device", test::class_ordered_list(lengths, lengths, bm, bn, w, k.groups_segments()),
                test::class_ordered_ends(lengths, lengths, bm, bn, w, k.groups_segments())};
  // Capacities: host plan set_capacity(work.size()); device plan item_bound = rows / bm + n.
  std::printf("capacity: host %zu (the list), device %d (rows_q / block_m + segments); "
              "count %zu / %zu\n",
              host.items.size(), rows / bm + static_cast<int32_t>(lengths.size()),
              host.items.size(), dev.items.size());
  int64_t steps = 0;
  for (const auto& it : host.items) steps += varattn::ceil_div(item_keys(it, lengths, lengths, bm, w), bn);
  std::printf("mean key steps a tile (host, plan::tile_counter's rule < %d): %.2f\n",
              48, double(steps) / double(host.items.size()));
  std::printf("same class ends: %s\n", host.ends == dev.ends ? "yes" : "NO");
  print_classes(host, lengths, lengths, bm, bn, w);
  print_classes(dev, lengths, lengths, bm, bn, w);
  const bool by_class = !w.bounded();
  const auto groups = static_cast<uint32_t>(heads / k.pack);
  print_ranks(host, groups, by_class, 60);
  print_ranks(dev, groups, by_class, 60);
  if (!csv.empty()) {
    write_csv(csv + "_host.csv", host, groups, by_class, lengths, lengths, bm, bn, w);
    write_csv(csv + "_device.csv", dev, groups, by_class, lengths, lengths, bm, bn, w);
  }
  return 0;
}
