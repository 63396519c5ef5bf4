// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file step_order.hpp
//! The order of a Hopper dK/dV CTA's items (query step, q head), shared by its producer (which
//! locates item i for its loads) and its consumers (which count from item to item, no
//! division between a step's tiles and its first wgmma). Host and device: tests/host checks
//! that both walks agree.
//!
//! A CTA holds one k tile of a kv head and runs every query step that sees it for each of its
//! `heads` q heads. The main steps run step-major: each step's heads in turn. With one head the
//! steps ascend. With several (and no band) they descend from the segment's last step to the
//! CTA's own first, so that every CTA of a (segment, kv head) walks the same rows at once:
//! head-major, the CTAs of a causal segment drifted apart by heads (CTA j has N - j steps a
//! head) and the rows of all the group's heads were live at once (the 28:4 row: 61% L2 hits
//! against FA4's 88%, bench/experiments/gqa_step_order.md). Each CTA starts at head
//! `k_tile % heads`, so the CTAs in one step add into different heads' dQ rows.
//! Under a banded mask (a window) the CTAs' steps are sliding ranges, not suffixes of one
//! segment: descending from its last step, CTA j is on rows r_j - t at time t, every CTA on
//! other rows, and all the rows of the CTAs in flight stay live (the 32:8 window row: 40% L2
//! hits, bench/experiments/window_phase.md). There the walk descends modulo the band's
//! `period` (rows every unclipped tile's steps span): from the step whose first row is last
//! modulo the period, down, then round from the CTA's last step, so at time t every CTA is on
//! rows within one step of the same residue, and the CTAs that share a row are on it together.
//! Without a band (period 0) that step is the last one: the causal order above.
//! Where the CTA's last step is a tail step (at most TailQueries of its rows in the segment:
//! the head-dim-64 kernel's 32-query variant), it runs after the main steps, one item a head
//! from head0.

#include <varattn/detail/host_device.hpp>

#include <cstdint>

namespace varattn::detail {

struct step_order {
  int32_t step_first;  //!< the CTA's first step
  int32_t main_end;    //!< the main steps are [step_first, main_end)
  int32_t main_items;  //!< heads x main steps; items [main_items, +heads) are tail steps
  int32_t head0;       //!< the CTA's first q head
  int32_t head_end;    //!< head0 + heads
  int32_t start_head;  //!< the head each main step begins with (head0 + k_tile % heads)
  int32_t start;       //!< the first main step walked
  int32_t direction;   //!< +1 (one head) or -1 (several): the main steps' walk

  //! A CTA of steps [step_first, step_end) and q heads [head0, head0 + heads), k tile `k_tile`;
  //! `tail`: its last step is a tail step. Step step_first's first query is `first_query`,
  //! each step `rows` queries on; `period`: the band's period in rows (> 0, < 2^31), or 0.
  static VARATTN_HOST_DEVICE step_order make(int32_t step_first, int32_t step_end, int32_t head0,
                                             int32_t heads, int32_t k_tile, bool tail,
                                             int32_t first_query, int32_t rows, int32_t period) {
    step_order o;
    o.step_first = step_first;
    o.main_end = tail ? step_end - 1 : step_end;
    o.main_items = heads * (o.main_end - step_first);
    o.head0 = head0;
    o.head_end = head0 + heads;
    o.start_head = head0 + k_tile % heads;
    o.direction = heads > 1 ? -1 : 1;
    o.start = heads > 1 ? o.main_end - 1 : step_first;
    if (heads > 1 && period > 0) {
      // The first step whose first row is at or past the next multiple of the period (32-bit
      // unsigned: the distance is at most the period): the walk starts just below it. Any
      // inputs leave a walk over each step once; these only choose where it starts.
      const auto p = static_cast<uint32_t>(period);
      const uint32_t to_next = p - static_cast<uint32_t>(first_query) % p;
      const auto r = static_cast<uint32_t>(rows);
      const uint32_t wrap = (to_next + r - 1) / r;  // steps from step_first to it
      if (wrap < static_cast<uint32_t>(o.main_end - step_first)) {
        o.start = step_first + static_cast<int32_t>(wrap) - 1;
      }
    }
    return o;
  }
  VARATTN_HOST_DEVICE int32_t heads() const { return head_end - head0; }

  //! Item `item`'s step and q head (the producer's: a division where the consumers count).
  VARATTN_HOST_DEVICE void locate(int32_t item, int32_t& step, int32_t& head) const {
    if (item >= main_items) {
      step = main_end, head = head0 + (item - main_items);
      return;
    }
    const int32_t n = heads();
    const int32_t walked = item / n;
    if (direction > 0) {
      step = step_first + walked;
    } else {
      step = start - walked;
      if (step < step_first) step += main_end - step_first;
    }
    head = head0 + (start_head - head0 + item % n) % n;
  }
  //! The consumers' counters: the first main item's step and head, then each next one's.
  VARATTN_HOST_DEVICE void first(int32_t& step, int32_t& head) const {
    step = start;
    head = start_head;
  }
  VARATTN_HOST_DEVICE void next(int32_t& step, int32_t& head) const {
    if (++head == head_end) head = head0;
    if (head == start_head) {
      step += direction;
      if (step < step_first) step = main_end - 1;  // round, under a band
    }
  }
};

}  // namespace varattn::detail
