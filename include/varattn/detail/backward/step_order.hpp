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
//! steps ascend. With several they descend from the segment's last step to the CTA's own
//! first, so that every CTA of a (segment, kv head) walks the same rows at the same time:
//! head-major, the CTAs of a causal segment drifted apart by heads (CTA j has N - j steps a
//! head) and the rows of all the group's heads were live at once (the 28:4 row: 61% L2 hits
//! against FA4's 88%, bench/experiments/gqa_step_order.md). Each CTA starts at head
//! `k_tile % heads`, so the CTAs in one step add into different heads' dQ rows.
//! Where the CTA's last step is a tail step (at most TailQueries of its rows in the segment:
//! the head-dim-64 kernel's 32-query variant), it runs after the main steps, one item a head
//! from head0.

#include <cstdint>
#include <varattn/detail/host_device.hpp>

namespace varattn::detail {

struct step_order {
  int32_t step_first;  //!< the CTA's first step
  int32_t main_end;    //!< the main steps are [step_first, main_end)
  int32_t main_items;  //!< heads x main steps; items [main_items, +heads) are tail steps
  int32_t head0;       //!< the CTA's first q head
  int32_t head_end;    //!< head0 + heads
  int32_t start_head;  //!< the head each main step begins with (head0 + k_tile % heads)
  int32_t direction;   //!< +1 (one head) or -1 (several): the main steps' walk

  //! A CTA of steps [step_first, step_end) and q heads [head0, head0 + heads), k tile `k_tile`;
  //! `tail`: its last step is a tail step.
  static VARATTN_HOST_DEVICE step_order make(int32_t step_first, int32_t step_end, int32_t head0,
                                             int32_t heads, int32_t k_tile, bool tail) {
    step_order o;
    o.step_first = step_first;
    o.main_end = tail ? step_end - 1 : step_end;
    o.main_items = heads * (o.main_end - step_first);
    o.head0 = head0;
    o.head_end = head0 + heads;
    o.start_head = head0 + k_tile % heads;
    o.direction = heads > 1 ? -1 : 1;
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
    step = direction > 0 ? step_first + walked : main_end - 1 - walked;
    head = head0 + (start_head - head0 + item % n) % n;
  }
  //! The consumers' counters: the first main item's step and head, then each next one's.
  VARATTN_HOST_DEVICE void first(int32_t& step, int32_t& head) const {
    step = direction > 0 ? step_first : main_end - 1;
    head = start_head;
  }
  VARATTN_HOST_DEVICE void next(int32_t& step, int32_t& head) const {
    if (++head == head_end) head = head0;
    if (head == start_head) step += direction;
  }
};

}  // namespace varattn::detail
