// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file backward_workspace.hpp
//! The device memory backward() works in, owned by the caller: its size for a plan, known on
//! the host without reading any segment length (device-built plans included), and its layout.

#include <varattn/detail/list_order.hpp>
#include <varattn/detail/backward/tiles.hpp>
#include <varattn/error.hpp>
#include <varattn/options.hpp>
#include <varattn/plan.hpp>

#include <cstddef>
#include <cstdint>

namespace varattn {

//! The item of a backward work list: a tile of a segment, with the segment's row bounds (the
//! list builder reads cu_seqlens once, so a CTA's one dependent load before its work is the
//! item's); q tiles for the dQ kernel, k tiles for the dK/dV kernel.
struct backward_item {
  int32_t q_begin;
  int32_t q_length;
  int32_t k_begin;
  int32_t k_length;
  int32_t tile;
};

namespace detail {

//! What backward() asks of the caller's workspace pointer (the kernels' 16-byte vectors).
inline constexpr std::size_t kWorkspaceAlignment = 16;

//! Where each region of the workspace starts: an L2 line (128 bytes) from a line-aligned
//! origin. The copy engine adds a dQ box row of 32 floats (128 bytes) as one 4-sector L2
//! request only when the row is one line; a row across two lines takes two 2-sector requests
//! (twice the xbar-to-L2 traffic the Hopper dK/dV kernel is bound by: bench/NOTES.md,
//! forty-seventh session). D's size, rows_q x heads_q floats, would otherwise decide it.
inline constexpr std::size_t kRegionAlignment = 128;

//! The work lists' header (work_list.cuh): four counts, then the k list's size classes.
inline constexpr std::size_t kBackwardListHeaderBytes = (4 + kSegmentClasses) * sizeof(int32_t);

inline constexpr std::size_t align_up(std::size_t bytes,
                                      std::size_t alignment = kWorkspaceAlignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

//! The workspace's origin: the caller's pointer rounded up to a line. backward_layout's
//! offsets count from it, and its bytes include the rounding's room
//! (kRegionAlignment - kWorkspaceAlignment), so any 16-byte aligned workspace serves.
inline char* workspace_origin(void* workspace) {
  const auto address = reinterpret_cast<std::uintptr_t>(workspace);
  return static_cast<char*>(workspace) + (align_up(address, kRegionAlignment) - address);
}

//! Whether the backward of `p` runs the Hopper dK/dV kernel: the plan's forward runs the sm90
//! family's tall tile (an sm_90 device and segments longer than 64; a bucketed plan, its
//! longest segment's) and the head dim has one. Plans of the Hopper short tile keep the sm80
//! backward they had before that tile (its dK/dV on short rows is unmeasured there).
inline bool hopper_backward(const plan& p) {
  return p.kernel().hopper_tall() && hopper_backward_head_dim(p.head_dim());
}

//! How many CTAs share one kv head's q heads in the dK/dV kernels: with 8 or more q heads a kv
//! head (MQA, wide GQA), one CTA a k tile would run them all in series, and a segment's first
//! k tile (causal: the most query steps) becomes the whole launch's tail; each of the splits
//! takes group / splits of them (the smallest divisor of the group from 4 up: K and V loads
//! amortised over at least 4 heads) and writes its float32 dK, dV partials, summed in a fixed
//! order by a last kernel (deterministic). Below 8, one CTA takes the group.
inline int32_t backward_head_splits(int32_t heads_q, int32_t heads_kv) {
  const int32_t group = heads_kv > 0 ? heads_q / heads_kv : 1;
  if (group < 8) return 1;
  int32_t heads = 4;
  while (group % heads != 0) ++heads;
  return group / heads;
}

//! Where backward() keeps what it computes before the gradients, from workspace_origin, each
//! region at a multiple of kRegionAlignment:
//!   [0, dq_acc):      D = rowsum(d_o * o), float32, row r of q head h at h * rows_q + r;
//!   [dq_acc, dkv_partial): atomic_dq only (not deterministic, and the Hopper kernel or
//!                     backward_tiles::atomic_dq at this head dim): the dQ accumulator, float32
//!                     [rows_q, heads_q, head_dim] (zeroed by a memset before the D kernel,
//!                     added to by the dK/dV kernel: red.global on sm80 (and for a Hopper
//!                     d256 segment's partial last step), tensor reductions on Hopper; scaled
//!                     into d_q at the end);
//!   [dkv_partial, lists): head_splits > 1 only (backward_head_splits): each split's dK and
//!                     dV, float32 [rows_k, heads_kv, head_splits, 2, head_dim] (dK scaled,
//!                     then dV), every element written by the dK/dV kernel, summed into d_k
//!                     and d_v by the last kernel; at most half of float32
//!                     [rows_k, heads_q, head_dim];
//!   [lists, bytes):   fused and bucketed plans only: a header of 36 int32 (q item count, k
//!                     item count, status, unused, the k list's items per size class), then
//!                     q_capacity q-tile items and k_capacity k-tile items (grouped by size
//!                     class, list_order.hpp), written on the device from the plan's device
//!                     cu_seqlens.
//! Capacities: a segment of n rows has ceil(n / tile) <= n / tile + 1 tiles, so rows / tile +
//! segment_count bounds any table of those totals (device-built plans: their bounds). The
//! dQ kernel's path lists q tiles (its CTAs), the atomic one none.
struct backward_layout {
  std::size_t dq_acc = 0;
  std::size_t dkv_partial = 0;
  std::size_t lists = 0;
  int32_t head_splits = 1;
  int64_t q_capacity = 0;
  int64_t k_capacity = 0;
  std::size_t bytes = 0;  //!< the caller's: the regions' end and room to round the origin up
  bool atomic_dq = false;  //!< dQ through the accumulator (else the dQ kernel)
  bool listed = false;     //!< fused and bucketed plans: the work lists at `lists`
  bool has_lists() const { return listed; }
  std::size_t q_items() const { return lists + kBackwardListHeaderBytes; }
  std::size_t k_items() const { return q_items() + std::size_t(q_capacity) * sizeof(backward_item); }

  static backward_layout of(const plan& p, backward_options options) {
    p.require_usable("backward_workspace_bytes");
    const backward_tiles tiles = backward_tiles_for(p.head_dim());
    const std::size_t rows_heads = std::size_t(p.rows_q()) * std::size_t(p.shape().heads_q);
    backward_layout l;
    l.atomic_dq = !options.deterministic && (tiles.atomic_dq || hopper_backward(p));
    const auto region = [](std::size_t end) { return align_up(end, kRegionAlignment); };
    l.dq_acc = region(rows_heads * sizeof(float));
    l.dkv_partial = l.dq_acc;
    if (l.atomic_dq) {
      l.dkv_partial = region(l.dq_acc + rows_heads * std::size_t(p.head_dim()) * sizeof(float));
    }
    l.lists = l.dkv_partial;
    l.head_splits = backward_head_splits(p.shape().heads_q, p.shape().heads_kv);
    if (l.head_splits > 1) {
      l.lists = region(l.dkv_partial + std::size_t(l.head_splits) * std::size_t(p.rows_k()) *
                                           std::size_t(p.shape().heads_kv) * 2 *
                                           std::size_t(p.head_dim()) * sizeof(float));
    }
    std::size_t end = l.lists;
    l.listed = p.policy() != launch_policy::per_segment;
    if (l.listed) {
      l.q_capacity = l.atomic_dq ? 0 : int64_t{p.rows_q()} / tiles.q_rows + p.segment_count();
      l.k_capacity = int64_t{p.rows_k()} / tiles.kv_keys + p.segment_count();
      end = align_up(l.k_items() + std::size_t(l.k_capacity) * sizeof(backward_item));
    }
    l.bytes = end == 0 ? 0 : end + (kRegionAlignment - kWorkspaceAlignment);
    return l;
  }
};

}  // namespace detail

//! Device bytes backward() needs for plan `p` with `options` (at least; 16-byte aligned
//! memory): float32 [heads_q, rows_q] for D = rowsum(d_o * o); unless deterministic (or at a
//! head dim where the sm80 path's dQ kernel is faster, 72 and 80, on a plan that does not run
//! the Hopper kernel), float32 [rows_q, heads_q, head_dim] for dQ; with 8 or more q heads a kv
//! head, float32 [rows_k, heads_kv, head_splits, 2, head_dim] for the dK/dV partials
//! (head_splits = backward_head_splits(heads_q, heads_kv)); for fused and bucketed plans, the
//! work lists (20 bytes an item: rows_k / kv_keys + segments k-tile items, kv_keys 64, 32
//! above head dim 128, and rows_q / q_rows + segments q-tile items when the dQ kernel runs).
//! Each region starts on a 128-byte L2 line whatever the pointer's alignment (112 bytes of the
//! total are room to round it up). Needs no device and reads no segment on the host.
inline std::size_t backward_workspace_bytes(const plan& p, backward_options options = {}) {
  return detail::backward_layout::of(p, options).bytes;
}

}  // namespace varattn
