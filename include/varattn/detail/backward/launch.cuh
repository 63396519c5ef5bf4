// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file launch.cuh
//! The backward's launches, back to back on one stream, no host wait: the work lists
//! (fused and bucketed plans), D (and NaN gradients for rejected device offsets; zeros in the
//! dQ accumulator), dK/dV (with the dQ terms, atomic path; with head splits, the partials'
//! sum after it), then dQ: its kernel
//! (deterministic path) or the accumulator's conversion. The dK/dV kernel is the sm80 one, or
//! the Hopper one (backward/sm90) for plans whose forward runs the sm90 family, at the head
//! dims it takes (hopper_backward).

#include <varattn/backward_workspace.hpp>
#include <varattn/detail/backward/delta.cuh>
#include <varattn/detail/backward/dkdv_kernel.cuh>
#include <varattn/detail/backward/dq_accumulator.cuh>
#include <varattn/detail/backward/dq_kernel.cuh>
#include <varattn/detail/backward/params.cuh>
#include <varattn/detail/backward/sm90/dkdv_kernel.cuh>
#include <varattn/detail/backward/sm90/dkdv_split_kernel.cuh>
#include <varattn/detail/backward/sm90/traits.cuh>
#include <varattn/detail/backward/traits.cuh>
#include <varattn/detail/backward/work_list.cuh>
#include <varattn/detail/kernel/score_modifier.cuh>
#include <varattn/detail/launch_kernel.cuh>
#include <varattn/error.hpp>
#include <varattn/plan.hpp>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace varattn::detail {

//! The plan whose device buffers (cu_seqlens copies, status) a fused backward reads: the
//! plan's own, or a bucketed plan's first bucket's (every bucket holds the whole table).
inline device_work backward_device_table(const plan& p) {
  if (p.policy() == launch_policy::bucketed) {
    if (p.buckets().empty()) fail("backward: the bucketed plan has no bucket");
    return p.buckets().front().device();
  }
  return p.device();
}

//! The fused grids (capacity x heads CTAs in gridDim.x) fit 2^31 - 1; checked before any launch.
inline void check_backward_grid(const plan& p, const backward_layout& layout) {
  const int64_t q_ctas = layout.q_capacity * p.shape().heads_q;
  const int64_t k_ctas = layout.k_capacity * p.shape().heads_kv * layout.head_splits;
  if (q_ctas > INT32_MAX || k_ctas > INT32_MAX) {
    fail("backward: ", layout.q_capacity, " q tiles x heads_q = ", p.shape().heads_q, " and ",
         layout.k_capacity, " k tiles x heads_kv = ", p.shape().heads_kv, " x head splits = ",
         layout.head_splits, " CTAs; the fused grid holds at most 2147483647");
  }
}

//! The atomic path's last launch: d_q from the accumulator (none when the device rejected the
//! plan's offsets: `status`).
template <class Element>
void convert_dq(const backward_params<Element>& params, const int32_t* status,
                cudaStream_t stream) {
  const int64_t vectors = params.rows_q * params.heads_q * (params.head_dim / 8);
  if (vectors == 0) return;
  const int64_t blocks =
      std::min<int64_t>((vectors + kDqConvertThreads - 1) / kDqConvertThreads, int64_t{1} << 20);
  launch_kernel(dq_convert_kernel<Element>, dim3(static_cast<unsigned>(blocks)),
                dim3(kDqConvertThreads), 0, stream, params, status);
}

//! With head splits (backward_layout), the last step of dK and dV: the partials' sum.
template <class Element>
void sum_dkv_partials(const backward_params<Element>& params, const int32_t* status,
                      cudaStream_t stream) {
  const int64_t vectors = params.rows_k * params.heads_kv * 2 * (params.head_dim / 8);
  if (params.head_splits == 1 || vectors == 0) return;
  const int64_t blocks =
      std::min<int64_t>((vectors + kDkvSumThreads - 1) / kDkvSumThreads, int64_t{1} << 20);
  launch_kernel(dkv_partial_sum_kernel<Element>, dim3(static_cast<unsigned>(blocks)),
                dim3(kDkvSumThreads), 0, stream, params, status);
}

//! The dK/dV kernel a backward launches, with its k tile (the work list's) and launch shape.
template <class Element>
struct dkdv_launch {
  void (*kernel)(backward_params<Element>, backward_work);
  int32_t keys;
  int threads;
  int smem_bytes;
  //! What the kernel adds to the parameters (the Hopper kernel's tensor maps), or null.
  void (*prepare)(backward_params<Element>&) = nullptr;
};

//! The Hopper kernel where the plan's forward runs the sm90 family (an sm_90 device) and the
//! head dim has one (hopper_backward; at head dim 256 the channel-split kernel); else the
//! sm80 kernel. Its k tile (128 keys; 64 at head dim 256) is a multiple of the sm80 one, so
//! the workspace's k_capacity (backward_layout, sized for kv_keys) bounds its lists. At head
//! dims 72 and 80 the sm80 kernel has no atomic-dQ variant: the layout takes that path there
//! only for the Hopper kernel.
template <class Element, int HeadDim, class Modifier, bool AtomicDq>
dkdv_launch<Element> select_dkdv(const plan& p) {
  using T = backward_traits<Element, HeadDim>;
  if constexpr (hopper_backward_head_dim(HeadDim)) {
    using program =
        std::conditional_t<hopper_split_backward_head_dim(HeadDim),
                           sm90::split_backward_program<Element, HeadDim, Modifier, AtomicDq>,
                           sm90::backward_program<Element, HeadDim, Modifier, AtomicDq>>;
    static_assert(program::kKeys % T::kKvKeys == 0, "k_capacity bounds the Hopper k tiles");
    if (hopper_backward(p)) {
      program::require_compiled_in();
      return {program::kernel, program::kKeys, program::kThreads, program::kSmemBytes,
              program::prepare};
    }
  }
  if constexpr (AtomicDq && !backward_tiles_for(HeadDim).atomic_dq) {
    fail("internal error: the backward's workspace layout chose atomic dQ at head dim ", HeadDim,
         " for the sm80 kernel, which has no such variant there");
  } else {
    return {dkdv_kernel<Element, HeadDim, Modifier, AtomicDq>, T::kKvKeys, T::kKvThreads,
            T::kKvSmemBytes};
  }
}

template <class Element, int HeadDim, class Modifier, bool AtomicDq>
void run_backward(const plan& p, const backward_params<Element>& base_params,
                  const backward_layout& layout, char* workspace, cudaStream_t stream) {
  using T = backward_traits<Element, HeadDim>;
  const dkdv_launch<Element> kv = select_dkdv<Element, HeadDim, Modifier, AtomicDq>(p);
  backward_params<Element> params = base_params;
  if (kv.prepare != nullptr) kv.prepare(params);
  const auto dkdv = kv.kernel;
  const auto dq = dq_kernel<Element, HeadDim, Modifier>;  // launched by the deterministic path
  allow_shared_memory(dkdv, kv.smem_bytes);
  if constexpr (!AtomicDq) allow_shared_memory(dq, T::kQSmemBytes);
  const auto heads_q = static_cast<unsigned>(p.shape().heads_q);
  // The dK/dV grids' head index: kv head x head split (kv_tile::assign_heads).
  const auto kv_units = static_cast<unsigned>(p.shape().heads_kv * params.head_splits);

  const int32_t* status = nullptr;
  device_work table{};
  auto* header = reinterpret_cast<backward_list_header*>(workspace + layout.lists);
  auto* q_items = reinterpret_cast<backward_item*>(workspace + layout.q_items());
  auto* k_items = reinterpret_cast<backward_item*>(workspace + layout.k_items());
  if (layout.has_lists()) {
    table = backward_device_table(p);
    status = table.status;
    if (p.segment_count() > 0) {
      launch_kernel(build_backward_lists_kernel<>, dim3(1), dim3(kBackwardListThreads), 0,
                    stream, table.cu_q, table.cu_k, table.status, p.segment_count(),
                    int32_t{T::kQRows}, kv.keys,
                    static_cast<int32_t>(layout.q_capacity), static_cast<int32_t>(layout.k_capacity),
                    header, q_items, k_items);
    }
  }

  // The atomic path's dQ accumulator from zero: a memset, so that the D kernel only reads
  // (zeroing it there too held that kernel at ~65% of the copy rate: NOTES thirteenth, 3).
  if (params.dq_acc != nullptr) {
    zero_floats_async(params.dq_acc,
                      static_cast<std::size_t>(params.rows_q) * params.heads_q * params.head_dim,
                      stream);
  }
  // D for every (q head, row), kItemsPerWarp rows a warp (grid-strided past 2^20 blocks).
  // The grid is D's: with a rejected plan the same warps stride over every gradient row
  // instead (fill_nan), at least one block where only keys have rows (a grid of a warp a
  // gradient row was 16x D's at vit-l14-d64: review of s29).
  const auto launch_delta = [&](auto lanes) {
    constexpr int kLanes = decltype(lanes)::value;
    constexpr int64_t kItemsPerWarp = (32 / kLanes) * kDeltaPasses;
    constexpr int64_t kWarpsPerBlock = kDeltaThreads / 32;
    const bool fills_keys = status != nullptr && params.rows_k * params.heads_kv > 0;
    const int64_t warps_needed =
        std::max<int64_t>((params.rows_q * params.heads_q + kItemsPerWarp - 1) / kItemsPerWarp,
                          fills_keys ? 1 : 0);
    if (warps_needed == 0) return;
    const int64_t blocks = std::min<int64_t>((warps_needed + kWarpsPerBlock - 1) / kWarpsPerBlock,
                                             int64_t{1} << 20);
    launch_kernel(delta_kernel<Element, kLanes>, dim3(static_cast<unsigned>(blocks)),
                  dim3(kDeltaThreads), 0, stream, params, status);
  };
  switch (delta_lanes(params.head_dim)) {
    case 8: launch_delta(std::integral_constant<int, 8>{}); break;
    case 16: launch_delta(std::integral_constant<int, 16>{}); break;
    default: launch_delta(std::integral_constant<int, 32>{}); break;
  }

  if (!layout.has_lists()) {
    // per_segment: one launch per segment that has queries (plan::launches()), and one for each
    // run of key rows between them (segments without queries): their d_k and d_v are zeros.
    const auto zero_keys = [&](int32_t k_begin, int32_t k_end) {
      if (k_end <= k_begin) return;
      const segment_bounds keys{0, 0, k_begin, k_end - k_begin};
      launch_kernel(dkdv, dim3(static_cast<unsigned>(ceil_div(k_end - k_begin, kv.keys)), kv_units),
                    dim3(kv.threads), kv.smem_bytes, stream, params,
                    backward_work::one_segment(keys));
    };
    int32_t covered = 0;  // key rows [0, covered) have a launch
    for (const segment_launch& s : p.launches()) {
      zero_keys(covered, s.k_begin);
      const segment_bounds seg{s.q_begin, s.q_length, s.k_begin, s.k_length};
      if (s.k_length > 0) {
        launch_kernel(dkdv, dim3(static_cast<unsigned>(ceil_div(s.k_length, kv.keys)), kv_units),
                      dim3(kv.threads), kv.smem_bytes, stream, params,
                      backward_work::one_segment(seg));
      }
      covered = std::max(covered, s.k_begin + s.k_length);
    }
    zero_keys(covered, p.rows_k());
    sum_dkv_partials(params, nullptr, stream);
    if constexpr (AtomicDq) {
      convert_dq(params, nullptr, stream);
    } else {
      for (const segment_launch& s : p.launches()) {
        const segment_bounds seg{s.q_begin, s.q_length, s.k_begin, s.k_length};
        launch_kernel(dq, dim3(static_cast<unsigned>(ceil_div(s.q_length, T::kQRows)), heads_q),
                      dim3(T::kQThreads), T::kQSmemBytes, stream, params,
                      backward_work::one_segment(seg));
      }
    }
    return;
  }

  // fused and bucketed: one launch each over the lists; CTAs past the counts exit.
  // The k list's bound for this kernel's tile: the workspace's is sized for the sm80 tile
  // (kv_keys), and a Hopper kernel's tiles (kv.keys) number at most rows_k / kv.keys +
  // segments (a segment's ceil over its keys), where the sm80 bound would leave half or more
  // of its CTAs to exit at once.
  const int64_t k_capacity =
      std::min<int64_t>(layout.k_capacity, int64_t{p.rows_k()} / kv.keys + p.segment_count());
  if (k_capacity > 0) {
    // Item-major ranks under a banded mask whose rows in flight fit the L2 (list_order.hpp):
    // a window's short end tiles start last (the dK/dV kernel at window512 -1.4%, window1024
    // -0.7%: bench/NOTES.md fortieth section). Not otherwise: a causal k tile's queries run to
    // the segment's end, and every head's rows of a wide window overflow the L2 (window4096 +3%).
    bool item_major = false;
    if (params.mask.banded()) {
      const int64_t q_heads = std::max<int64_t>(1, p.shape().heads_q / int64_t{kv_units});
      const int64_t row_bytes =
          q_heads * (2 * int64_t{params.head_dim} * int64_t{sizeof(Element)} +
                     (AtomicDq ? 4 * int64_t{params.head_dim} : 0) + 8);
      const int64_t in_flight =
          int64_t{multiprocessors()} * resident_ctas(dkdv, kv.threads, kv.smem_bytes);
      item_major = item_major_in_l2(int64_t{params.mask.left} + params.mask.right + 1, kv.keys,
                                    kv_units, in_flight, row_bytes, l2_bytes());
    }
    const auto ctas = static_cast<unsigned>(k_capacity * kv_units);
    launch_kernel(dkdv, dim3(ctas), dim3(kv.threads), kv.smem_bytes, stream, params,
                  backward_work::listed(k_items, &header->k_count, static_cast<int32_t>(k_capacity),
                                        header->k_classes, item_major));
  }
  sum_dkv_partials(params, status, stream);
  if constexpr (AtomicDq) {
    convert_dq(params, status, stream);
  } else if (layout.q_capacity > 0) {
    const auto ctas = static_cast<unsigned>(layout.q_capacity * heads_q);
    launch_kernel(dq, dim3(ctas), dim3(T::kQThreads), T::kQSmemBytes, stream, params,
                  backward_work::listed(q_items, &header->q_count,
                                        static_cast<int32_t>(layout.q_capacity)));
  }
}

}  // namespace varattn::detail
