// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file plan.hpp
//! A plan: the validated attention shape and the work decomposition for one pair of
//! segment tables. Built once, reused by every layer that shares the segments. Move-only:
//! it owns (or, built on a caller's workspace, borrows) the device memory its launches read.

#include <varattn/detail/cuda_memory.hpp>
#include <varattn/device_report.hpp>
#include <varattn/device_segments.hpp>
#include <varattn/error.hpp>
#include <varattn/detail/mask.hpp>
#include <varattn/head_dims.hpp>
#include <varattn/kernel_config.hpp>
#include <varattn/options.hpp>
#include <varattn/segments.hpp>
#include <varattn/tile_shape.hpp>
#include <varattn/work_list.hpp>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace varattn {

//! The most rows of q (and of k) a plan covers: a row index plus one key block (at most 256)
//! then stays within int32 in the kernels' tile arithmetic (detail/mask.hpp).
inline constexpr int32_t kMaxRows = INT32_MAX - 256;

//! Mean key steps a tile from which a host-built list runs one CTA a tile (plan::tile_counter):
//! H200 d128 counter vs none, 32 steps -1.5%, 64.5 +2%, 128 +1..+6% (bench/NOTES.md s37 3-4).
inline constexpr int32_t kLongTileSteps = 48;

//! How the dispatcher turns a plan into kernel launches.
enum class launch_policy {
  automatic,    //!< fused for two or more segments, else per_segment (the default)
  per_segment,  //!< one launch per non-empty segment, grid = (q tiles, heads_q / pack)
  fused,        //!< one launch for every (segment, q-tile, head), work list on the device
  bucketed,     //!< one fused launch per bucket: segments of <= 64 queries in short (or
                //!< decode) tiles, longer ones in tall tiles, back to back on one stream
};

//! What `automatic` becomes. fused was faster on every multi-segment benchmark workload
//! (bench/NOTES.md); with one segment both make one launch and per_segment needs no device
//! buffer, so the plan then stays host-only.
inline launch_policy resolve_policy(launch_policy policy, std::size_t segment_count) {
  if (policy != launch_policy::automatic) return policy;
  return segment_count > 1 ? launch_policy::fused : launch_policy::per_segment;
}

//! One segment as the per_segment policy launches it.
struct segment_launch {
  int32_t segment;
  int32_t q_begin;
  int32_t q_length;
  int32_t k_begin;
  int32_t k_length;
  int32_t q_tiles;  //!< ceil(q_length / block_m)
};

//! Whether build_on_device writes the list every time, or leaves it when the plan's device
//! buffer already holds this very list (device_plan.cuh).
enum class rebuild {
  always,
  //! The builder compares the call's offsets and plan with those the buffer's last successful
  //! build was for (the plan's copy of the offsets and a key of its every parameter, kept in
  //! the buffer), and returns at once when they are equal: a model's layers that share one
  //! cu_seqlens pay one list build, at no host wait. The header is trusted only where a full
  //! build (`always`) has run before in the same stream context: outside capture, or in the
  //! same graph (a replay runs its captured builds in order). A plan's own buffer
  //! (reserve_on_device) is guarded by the plan (build_history); on a workspace
  //! (plan::on_device) the caller keeps one build_history per workspace and passes it
  //! `when`, and promises that nothing but build_on_device writes the workspace while it is
  //! in use (a workspace reused for other data needs a new build_history).
  when_changed,
};

//! The stream contexts in which one device buffer has had a full list build enqueued: outside
//! any capture (every later eager build runs after it in stream order), and the latest
//! capture (by id: each replay runs that graph's builds in capture order). resolve() turns
//! rebuild::when_changed into rebuild::always for the first build of each context, so that a
//! skip never trusts a header that no build of that context wrote: memory fresh from an
//! allocator, an entry first built in a graph not yet replayed (or in a capture that failed),
//! or another graph's builds. record() after the build's launch succeeded (a launch that
//! failed wrote nothing). One per buffer, used under the caller's own serialization; costs
//! one cudaStreamGetCaptureInfo per build (host-side, legal under capture). A graph that
//! holds one build (one op call) therefore always builds in full.
class build_history {
 public:
  //! A stream's context: outside capture, or the capture's id.
  struct context {
    bool captured = false;
    unsigned long long id = 0;
  };
  static context context_of(cudaStream_t stream) {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    unsigned long long id = 0;
    VARATTN_CUDA_CHECK(cudaStreamGetCaptureInfo(stream, &status, &id));
    return status == cudaStreamCaptureStatusNone ? context{} : context{true, id};
  }
  //! `when`, or rebuild::always where no build of context `c` has been recorded.
  rebuild resolve(const context& c, rebuild when) const {
    const bool built = c.captured ? captured_ && capture_ == c.id : eager_;
    return built ? when : rebuild::always;
  }
  //! A build of context `c` was enqueued (the first one full: resolve).
  void record(const context& c) {
    if (!c.captured) {
      eager_ = true;
      return;
    }
    captured_ = true;
    capture_ = c.id;
  }

 private:
  bool eager_ = false;     // a full build enqueued outside capture
  bool captured_ = false;  // one in capture `capture_`
  unsigned long long capture_ = 0;
};

//! The device side of a fused plan, as the kernels read it.
struct device_work {
  const int32_t* count;   //!< number of valid work items (written by the builder)
  const int32_t* status;  //!< non-zero: the device rejected the offsets; the forward writes NaN
  const int32_t* cu_q;    //!< the plan's copy of cu_seqlens_q
  const int32_t* cu_k;    //!< the plan's copy of cu_seqlens_k
  const work_item* items;
  //! The list's class ends (list_order.hpp, locate_class_rank): kSegmentClasses words, the
  //! list index past each size class; the Hopper forward's ranks take the classes in turn.
  const int32_t* class_ends;
  int32_t capacity;       //!< item bound: the grid's size in items (CTAs past *count exit),
                          //!< or less when a short tile strides (launch.cuh)
};

//! Caller-owned memory for a plan built on the device (plan::on_device), e.g. from a
//! framework's caching allocator, so that making such a plan allocates nothing and waits
//! for nothing. The caller keeps it alive while any work that uses the plan may run.
struct plan_workspace {
  void* data = nullptr;             //!< device memory, 16-byte aligned
  std::size_t bytes = 0;            //!< at least plan::workspace_bytes(...)
  device_report* report = nullptr;  //!< pinned host memory, zero-initialised once
};

class plan {
 public:
  //! Validates the segment tables and the shape (throws varattn::error naming the bad
  //! argument), selects the kernel (select_kernel: the device's architecture is read here, once)
  //! and decomposes the work. per_segment: host only, no stream work. fused: one
  //! device allocation and one asynchronous upload of the work list on `stream`, no wait;
  //! an event recorded after the upload orders every forward after it, whatever its stream.
  //! bucketed: the same for each bucket.
  static plan make(const segments& q, const segments& k, attention_shape shape,
                   attention_options options = {},
                   launch_policy policy = launch_policy::automatic,
                   cudaStream_t stream = nullptr) {
    if (q.size() != k.size()) {
      detail::fail(q.name(), " has ", q.size(), " segments but ", k.name(), " has ", k.size());
    }
    // per_segment's grid holds at most 65535 heads: automatic then takes fused.
    if (policy == launch_policy::automatic && shape.heads_q > 65535) policy = launch_policy::fused;
    policy = resolve_policy(policy, q.size());
    const device_arch arch = read_arch(options);
    if (policy == launch_policy::bucketed) return make_bucketed(q, k, shape, options, arch, stream);
    return make_one(q, k, shape, options, arch, policy, q.max_length(),
                    detail::segment_filter::all, stream);
  }

  //! A fused plan for `segment_count` segments over `rows_q` / `rows_k` rows whose work list
  //! build_on_device() (device_plan.cuh) writes from device cu_seqlens, with no host wait:
  //! the buffers are sized from these bounds alone. Allocates (device memory and a pinned
  //! device_report); call it outside graph capture and reuse it. `max_q_length` (default
  //! rows_q) picks the tile shape; a bound below the real longest segment costs speed, never
  //! correctness. Without it (-1) the plan never takes a long-segment tile (kLongSegment).
  static plan reserve_on_device(int32_t segment_count, int32_t rows_q, int32_t rows_k,
                                attention_shape shape, attention_options options = {},
                                int32_t max_q_length = -1) {
    plan p = make_device_shape(segment_count, rows_q, rows_k, shape, options, max_q_length);
    p.c_.owned_device = detail::make_device_array<int32_t>(p.buffer_words());
    p.c_.owned_report = detail::make_pinned_array<device_report>(1);
    std::memset(p.c_.owned_report.get(), 0, sizeof(device_report));
    p.c_.device = p.c_.owned_device.get();
    p.c_.report = p.c_.owned_report.get();
    return p;
  }

  //! The same plan as reserve_on_device, on memory the caller owns: no allocation and no
  //! stream work (its only CUDA calls read the device's architecture, none with
  //! kernel_family::sm80), so it may be made per call (e.g. with the rows of each batch) on
  //! pooled memory.
  static plan on_device(const plan_workspace& workspace, int32_t segment_count, int32_t rows_q,
                        int32_t rows_k, attention_shape shape, attention_options options = {},
                        int32_t max_q_length = -1) {
    plan p = make_device_shape(segment_count, rows_q, rows_k, shape, options, max_q_length);
    const std::size_t needed = p.buffer_words() * sizeof(int32_t);
    if (workspace.data == nullptr) detail::fail("workspace.data is a null pointer");
    if (reinterpret_cast<std::uintptr_t>(workspace.data) % 16 != 0) {
      detail::fail("workspace.data = ", workspace.data, " is not 16-byte aligned");
    }
    if (workspace.bytes < needed) {
      detail::fail("workspace.bytes = ", workspace.bytes, " < ", needed,
                   " (plan::workspace_bytes for this shape)");
    }
    if (workspace.report == nullptr) detail::fail("workspace.report is a null pointer");
    p.c_.device = static_cast<int32_t*>(workspace.data);
    p.c_.report = workspace.report;
    return p;
  }

  //! Words at the start of a device-built plan's buffer (its workspace) before the offsets:
  //! the list's count and status and the build key (device_plan.cuh: which plan and offsets
  //! the list was last built for). Zeroing its kHeaderBytes makes the next build_on_device
  //! with rebuild::when_changed write the list.
  static constexpr std::size_t kHeaderWords = 2 + detail::kBuildKeyWords;
  static constexpr std::size_t kHeaderBytes = kHeaderWords * sizeof(int32_t);

  //! Device bytes of the workspace that on_device needs for these bounds: on_device's own
  //! arguments (the group and the window of `shape` and `options` decide whether a Hopper tile
  //! packs a GQA group's heads, kernel_config::pack, and so its queries a tile). The larger of
  //! the two architectures' lists (Hopper's and the others'), so it needs no device: exact on
  //! the one whose tile covers fewer queries. Throws for heads that on_device would refuse.
  static std::size_t workspace_bytes(int32_t segment_count, int32_t rows_q,
                                     attention_shape shape, attention_options options = {},
                                     int32_t max_q_length = -1) {
    check_non_negative(segment_count, rows_q, 0);
    check_heads(shape);
    const int32_t length = tile_length(rows_q, max_q_length);
    const int32_t group = shape.heads_q / shape.heads_kv;
    const bool windowed = detail::window::of(options).bounded();
    const auto block_m = [&](device_arch arch) {
      return select_kernel(arch, shape.head_dim, length, options.kernel, group, windowed)
          .tile.block_m;
    };
    const device_arch hopper{9, 0}, other{8, 0};
    const int32_t m = options.kernel == kernel_family::sm90
                          ? block_m(hopper)
                          : std::min(block_m(hopper), block_m(other));
    return buffer_words(segment_count, item_bound(segment_count, rows_q, m)) * sizeof(int32_t);
  }

  //! The same without the heads and options: a bound for every plan of this head dim, any
  //! GQA group and window. It cannot know the group, and a packed Hopper tile covers rows / g
  //! queries (down to 1 at g = 128), so it counts the fewest queries a tile (rows over the
  //! largest power of two dividing them: 1 or 3, about 8 bytes a query row) rather than under-
  //! size a packed plan's list, which on_device would refuse. Kept so that callers from before
  //! the packing still work; the overload above is exact.
  static std::size_t workspace_bytes(int32_t segment_count, int32_t rows_q, int32_t head_dim,
                                     int32_t max_q_length = -1) {
    check_non_negative(segment_count, rows_q, 0);
    const int32_t length = tile_length(rows_q, max_q_length);
    int32_t block_m = std::min(tile_shape_for(head_dim, length).block_m,
                               detail::sm90_fewest_queries(head_dim, length));
    // A decode tile (decode_fits) covers 16 / pack >= length query rows, whatever the group.
    if (length <= detail::kDecodeRows) block_m = std::min(block_m, std::max<int32_t>(1, length));
    return buffer_words(segment_count, item_bound(segment_count, rows_q, block_m)) *
           sizeof(int32_t);
  }

  plan(plan&& other) noexcept : c_(std::exchange(other.c_, contents{})) {}
  plan& operator=(plan&& other) noexcept {
    if (this != &other) c_ = std::exchange(other.c_, contents{});
    return *this;
  }
  plan(const plan&) = delete;
  plan& operator=(const plan&) = delete;
  ~plan() = default;

  //! True for a moved-from plan: using it for anything but assignment is an error.
  bool empty() const { return !c_.valid; }
  const attention_shape& shape() const { return c_.shape; }
  int32_t head_dim() const { return c_.shape.head_dim; }
  bool causal() const { return c_.causal; }
  //! Keys a query sees before / after its diagonal (-1: unbounded); causal is folded in.
  int32_t window_left() const { return c_.window.left; }
  int32_t window_right() const { return c_.window.right; }
  //! 0: off.
  float softcap() const { return c_.softcap; }
  //! The kernel that runs this plan (a bucketed plan's buckets have their own).
  const kernel_config& kernel() const { return c_.kernel; }
  //! The resolved softmax scale.
  float scale() const { return c_.scale; }
  //! The policy in force (never `automatic`: make() resolves it).
  launch_policy policy() const { return c_.policy; }
  //! The tile shape of per_segment and fused plans (a bucketed plan's buckets have their own).
  tile_shape tile() const { return c_.kernel.tile; }
  int32_t segment_count() const { return c_.segment_count; }
  int32_t rows_q() const { return c_.rows_q; }
  int32_t rows_k() const { return c_.rows_k; }
  bool built_on_device() const { return c_.built_on_device; }
  //! per_segment: the launches, in order.
  const std::vector<segment_launch>& launches() const { return c_.launches; }
  //! fused, built on the host: the work items in launch order (longest first).
  const std::vector<work_item>& work() const { return c_.work; }
  //! fused, built on the host: the key steps (of tile().block_n keys: tile_steps) its work
  //! items take, on average (a group of short segments, one step at most); 0 without items.
  double mean_tile_steps() const {
    return c_.work.empty() ? 0.0 : double(c_.list_steps) / double(c_.work.size());
  }
  //! Whether a forward given a forward_scratch runs this plan on the persistent grid (one CTA
  //! an SM taking tiles from the counter) rather than one CTA a tile: fused plans of the Hopper
  //! kernel, but for host-built lists whose tiles are long (mean_tile_steps() at least
  //! kLongTileSteps). Device-built plans keep it (the host never sees their lengths).
  //! per_segment, sm80 and Hopper short-tile plans: false; a bucketed plan: false here, each
  //! bucket decides.
  bool tile_counter() const {
    if (c_.policy != launch_policy::fused || !c_.kernel.hopper_tall()) return false;
    return c_.built_on_device || c_.work.empty() ||
           c_.list_steps < int64_t{kLongTileSteps} * static_cast<int64_t>(c_.work.size());
  }
  //! bucketed: the fused plans launched one after the other.
  const std::vector<plan>& buckets() const { return c_.buckets; }
  //! fused: the device buffers the kernels read.
  device_work device() const {
    const int32_t* base = c_.device;
    if (base == nullptr) return {};  // no device buffer: per_segment, bucketed or moved from
    return {base,
            base + 1,
            base + cu_q_offset(),
            base + cu_k_offset(),
            reinterpret_cast<const work_item*>(base + items_offset()),
            base + class_ends_offset(),
            c_.capacity};
  }
  //! fused: the bytes of the device buffer device() points into (0 without one).
  std::size_t device_bytes() const {
    return c_.device == nullptr ? 0 : buffer_words() * sizeof(int32_t);
  }
  //! Where rows_q() / rows_k() come from, for error messages: "cu_seqlens_q[4] = 100".
  const std::string& rows_q_source() const { return c_.rows_q_source; }
  const std::string& rows_k_source() const { return c_.rows_k_source; }

  //! Calls f(segment, head, q_tile) once per (segment tile, query head): one CTA tile covers one
  //! head, or `kernel().pack` heads (decode and Hopper GQA tiles), so f runs pack times per CTA
  //! then; a group item (work_item::group) calls it for tile 0 of each of its segments that has
  //! rows. Not available for plans built on the device (the host never sees their items).
  template <class F>
  void for_each_work_item(F&& f) const {
    require_usable("for_each_work_item");
    if (c_.built_on_device) detail::fail("for_each_work_item: the plan was built on the device");
    for (const segment_launch& launch : c_.launches) {
      for (int32_t head = 0; head < c_.shape.heads_q; ++head) {
        for (int32_t tile = 0; tile < launch.q_tiles; ++tile) f(launch.segment, head, tile);
      }
    }
    for (const work_item& item : c_.work) {
      for (int32_t head = 0; head < c_.shape.heads_q; ++head) {
        if (!item.is_group()) {
          f(item.segment, head, item.q_tile);
          continue;
        }
        // A group: tile 0 of each of its segments that has rows.
        for (int32_t s = item.segment; s < item.segment + item.segments(); ++s) {
          if (c_.q_offsets[s + 1] > c_.q_offsets[s]) f(s, head, 0);
        }
      }
    }
    for (const plan& bucket : c_.buckets) bucket.for_each_work_item(f);
  }

  //! Plans built on the device: throws varattn::error naming the array, index and values of
  //! the first invalid offset the device has reported so far, and clears the report. No wait
  //! (a read of pinned memory): a build still in flight is reported by a later call.
  void raise_device_error() const {
    require_usable("raise_device_error");
    raise_device_report(c_.report);
  }

  //! Waits for `stream` (a synchronization, for tests and debugging) and then
  //! raise_device_error(): every build enqueued on `stream` so far is checked.
  void check_device_build(cudaStream_t stream) const {
    require_usable("check_device_build");
    if (!c_.built_on_device) detail::fail("check_device_build: the plan was not built on the device");
    if (!c_.built) detail::fail("check_device_build: build_on_device was not called on this plan");
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(stream));
    raise_device_error();
  }

  //! Throws unless the plan can run: not moved from, and built if built on the device.
  void require_usable(const char* caller) const {
    if (!c_.valid) {
      detail::fail(caller, ": the plan is empty (moved from); make a new one");
    }
  }
  void require_runnable(const char* caller) const {
    require_usable(caller);
    if (c_.built_on_device && !c_.built) {
      detail::fail(caller, ": the plan was reserved on the device but build_on_device was "
                           "never called on it");
    }
  }

  //! Makes `stream` wait for the plan's work-list upload (an event wait on the device, no
  //! host wait; captured as an external-event node in a CUDA graph). forward() calls it.
  void order_after_upload(cudaStream_t stream) const {
    for (const plan& bucket : c_.buckets) bucket.order_after_upload(stream);
    if (!c_.upload) return;
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    VARATTN_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
    // An event recorded outside a capture is waited on through an external-event node.
    const unsigned flags =
        capture == cudaStreamCaptureStatusActive ? cudaEventWaitExternal : cudaEventWaitDefault;
    VARATTN_CUDA_CHECK(cudaStreamWaitEvent(stream, c_.upload.event(), flags));
  }

 private:
  friend void build_on_device(plan& p, device_span<const int32_t> cu_q,
                              device_span<const int32_t> cu_k, cudaStream_t stream,
                              rebuild when, build_history* history);

  plan() = default;

  //! A bucketed plan: one fused child plan per non-empty bucket, each with the tile its
  //! lengths suit (one child when both buckets select the same kernel, or one is empty).
  static plan make_bucketed(const segments& q, const segments& k, attention_shape shape,
                            attention_options options, device_arch arch, cudaStream_t stream) {
    plan p = make_shape(shape, options, arch, launch_policy::bucketed, q.max_length());
    p.set_rows(q, k);
    int32_t max_short = 0, max_long = 0;  // longest query segment of each bucket
    for (const segment s : q) {
      int32_t& longest = s.length <= detail::kShortSegment ? max_short : max_long;
      longest = std::max(longest, s.length);
    }
    const int32_t group = shape.heads_q / shape.heads_kv;
    const bool windowed = detail::window::of(options).bounded();
    // An empty bucket never splits: its length 0 would select a decode tile (decode_fits), and
    // an empty child plan costs an allocation, an upload and a stream wait a forward.
    const bool split =
        max_short > 0 && max_long > 0 &&
        !(select_kernel(arch, shape.head_dim, max_short, options.kernel, group, windowed) ==
          select_kernel(arch, shape.head_dim, max_long, options.kernel, group, windowed));
    if (!split) {
      p.c_.buckets.push_back(make_one(q, k, shape, options, arch, launch_policy::fused,
                                      q.max_length(), detail::segment_filter::all, stream));
      return p;
    }
    if (max_short > 0) {
      p.c_.buckets.push_back(make_one(q, k, shape, options, arch, launch_policy::fused,
                                      max_short, detail::segment_filter::short_only, stream));
    }
    p.c_.buckets.push_back(make_one(q, k, shape, options, arch, launch_policy::fused, max_long,
                                    detail::segment_filter::long_only, stream));
    return p;
  }

  //! A per_segment or fused plan over the segments `filter` selects, with the tile shape for
  //! `max_q_length`.
  static plan make_one(const segments& q, const segments& k, attention_shape shape,
                       attention_options options, device_arch arch, launch_policy policy,
                       int32_t max_q_length, detail::segment_filter filter, cudaStream_t stream) {
    plan p = make_shape(shape, options, arch, policy, max_q_length);
    p.set_rows(q, k);
    if (policy == launch_policy::per_segment) {
      // gridDim.y carries the heads: at most 65535.
      if (shape.heads_q > 65535) {
        detail::fail("heads_q = ", shape.heads_q,
                     " exceeds 65535, the per_segment launch's grid limit (use "
                     "launch_policy::fused)");
      }
      for (std::size_t i = 0; i < q.size(); ++i) {
        const segment sq = q[i];
        const segment sk = k[i];
        // An empty query segment writes nothing; skipping it keeps the launch count down.
        if (sq.length == 0) continue;
        p.c_.launches.push_back({sq.index, sq.begin, sq.length, sk.begin, sk.length,
                                 ceil_div(sq.length, p.c_.kernel.tile.block_m)});
      }
      return p;
    }
    const tile_shape tile = p.c_.kernel.tile;
    p.c_.work = detail::build_work_list(q, k, tile.block_m, tile.block_n, p.c_.window,
                                        p.c_.kernel.groups_segments(), filter);
    if (std::any_of(p.c_.work.begin(), p.c_.work.end(),
                    [](const work_item& item) { return item.is_group(); })) {
      p.c_.q_offsets.assign(q.offsets().begin(), q.offsets().end());
    }
    for (const work_item& item : p.c_.work) {
      p.c_.list_steps +=
          item.is_group()
              ? ceil_div(k[item.segment + item.segments() - 1].end() - k[item.segment].begin,
                         tile.block_n)
              : detail::tile_steps(q[item.segment].length, k[item.segment].length, item.q_tile,
                                   tile.block_m, tile.block_n, p.c_.window);
    }
    p.set_capacity(static_cast<int64_t>(p.c_.work.size()));
    // Stage [count, status, build key (zeros: never built on the device), cu_q, cu_k, class
    // ends, items] in pinned memory the plan keeps alive, so that the copy runs asynchronously
    // and needs no wait.
    const std::size_t words = p.buffer_words();
    p.c_.owned_device = detail::make_device_array<int32_t>(words);
    p.c_.device = p.c_.owned_device.get();
    detail::pinned_ptr<int32_t> staging = detail::make_pinned_array<int32_t>(words);
    int32_t* h = staging.get();
    std::memset(h, 0, words * sizeof(int32_t));
    h[0] = static_cast<int32_t>(p.c_.work.size());
    std::copy(q.offsets().begin(), q.offsets().end(), h + p.cu_q_offset());
    std::copy(k.offsets().begin(), k.offsets().end(), h + p.cu_k_offset());
    const auto ends = detail::list_class_ends(p.c_.work, q, k, tile.block_m, tile.block_n,
                                              p.c_.window);
    std::copy(ends.begin(), ends.end(), h + p.class_ends_offset());
    if (!p.c_.work.empty()) {
      std::memcpy(h + p.items_offset(), p.c_.work.data(), p.c_.work.size() * sizeof(work_item));
    }
    VARATTN_CUDA_CHECK(cudaMemcpyAsync(p.c_.device, h, words * sizeof(int32_t),
                                       cudaMemcpyHostToDevice, stream));
    detail::event_ptr uploaded = detail::make_event();
    VARATTN_CUDA_CHECK(cudaEventRecord(uploaded.get(), stream));
    p.c_.upload = detail::pinned_upload(std::move(staging), std::move(uploaded));
    return p;
  }

  static void check_non_negative(int32_t segment_count, int32_t rows_q, int32_t rows_k) {
    if (segment_count < 0) detail::fail("segment_count = ", segment_count, " < 0");
    if (rows_q < 0) detail::fail("rows_q = ", rows_q, " < 0");
    if (rows_k < 0) detail::fail("rows_k = ", rows_k, " < 0");
  }
  static void check_counts(int32_t segment_count, int32_t rows_q, int32_t rows_k) {
    check_non_negative(segment_count, rows_q, rows_k);
    // cu_seqlens = [0] covers no rows: the host sees that without reading any offset.
    if (segment_count == 0 && (rows_q > 0 || rows_k > 0)) {
      detail::fail("segment_count = 0 cannot cover rows_q = ", rows_q, " and rows_k = ", rows_k,
                   " (cu_seqlens = [0] describes empty q, k and v)");
    }
  }

  //! The query length that picks a device-built plan's tile (make_device_shape and the bound
  //! of workspace_bytes alike): the caller's bound, or rows_q below kLongSegment. Without a
  //! bound the segments may all be short: a long-segment tile would waste most of its rows on
  //! them (d80: +14% at 256 rows, more below), so it needs a bound. (With rows_q there, the
  //! bound took d80's 192-row tile, 192 / g queries a packed tile, against the plan's 128 / g.)
  static int32_t tile_length(int32_t rows_q, int32_t max_q_length) {
    return max_q_length < 0 ? std::min(rows_q, detail::kLongSegment - 1) : max_q_length;
  }

  //! sum ceil(len / m) <= sum (len / m + 1) over the segments.
  static int64_t item_bound(int32_t segment_count, int32_t rows_q, int32_t block_m) {
    return int64_t{rows_q} / block_m + segment_count;
  }

  static plan make_device_shape(int32_t segment_count, int32_t rows_q, int32_t rows_k,
                                attention_shape shape, attention_options options,
                                int32_t max_q_length) {
    check_counts(segment_count, rows_q, rows_k);
    plan p = make_shape(shape, options, read_arch(options), launch_policy::fused,
                        tile_length(rows_q, max_q_length));
    p.c_.built_on_device = true;
    p.c_.segment_count = segment_count;
    p.c_.rows_q = rows_q;
    p.c_.rows_k = rows_k;
    p.c_.rows_q_source = "rows_q = " + std::to_string(rows_q);
    p.c_.rows_k_source = "rows_k = " + std::to_string(rows_k);
    p.check_max_rows();
    p.set_capacity(item_bound(segment_count, rows_q, p.c_.kernel.tile.block_m));
    return p;
  }

  //! The device's architecture, read once per plan, when the selection needs it.
  static device_arch read_arch(const attention_options& options) {
    return options.kernel == kernel_family::sm80 ? device_arch{} : device_arch::current();
  }

  static void check_heads(const attention_shape& shape) {
    if (shape.heads_q <= 0) detail::fail("heads_q = ", shape.heads_q, " must be positive");
    if (shape.heads_kv <= 0) detail::fail("heads_kv = ", shape.heads_kv, " must be positive");
    if (shape.heads_q % shape.heads_kv != 0) {
      detail::fail("heads_q = ", shape.heads_q, " is not a multiple of heads_kv = ",
                   shape.heads_kv);
    }
  }

  static plan make_shape(attention_shape shape, attention_options options, device_arch arch,
                         launch_policy policy, int32_t max_q_length) {
    check_heads(shape);
    if (!detail::supported_head_dim(shape.head_dim)) {
      detail::fail("head_dim = ", shape.head_dim,
                   " is not supported (a multiple of 8 from 32 to 256)");
    }
    if (!head_dims::contains(shape.head_dim)) {
      detail::fail("head_dim = ", shape.head_dim, " is not instantiated (available: ",
                   head_dims::to_string(), ")");
    }
    // Positive: the kernels take the running max on unscaled scores.
    if (options.scale && !(std::isfinite(*options.scale) && *options.scale > 0.0f)) {
      detail::fail("scale = ", *options.scale, " must be positive and finite");
    }
    if (options.window_left < -1) {
      detail::fail("window_left = ", options.window_left, " must be -1 (unbounded) or >= 0");
    }
    if (options.window_right < -1) {
      detail::fail("window_right = ", options.window_right, " must be -1 (unbounded) or >= 0");
    }
    if (!(std::isfinite(options.softcap) && options.softcap >= 0.0f)) {
      detail::fail("softcap = ", options.softcap, " must be 0 (off) or positive and finite");
    }
    plan p;
    p.c_.valid = true;
    p.c_.shape = shape;
    p.c_.causal = options.causal;
    p.c_.window = detail::window::of(options);
    p.c_.softcap = options.softcap;
    p.c_.scale = options.scale ? *options.scale : 1.0f / std::sqrt(float(shape.head_dim));
    p.c_.policy = policy;
    p.c_.kernel = select_kernel(arch, shape.head_dim, max_q_length, options.kernel,
                                shape.heads_q / shape.heads_kv, p.c_.window.bounded());
    return p;
  }

  //! The fused grid is capacity x head groups (heads_q / pack) CTAs in gridDim.x: at most
  //! 2^31 - 1.
  void set_capacity(int64_t items) {
    const int32_t groups = c_.shape.heads_q / c_.kernel.pack;
    const int64_t ctas = items * groups;
    if (items > INT32_MAX || ctas > INT32_MAX) {
      detail::fail("fused launch: ", items, " work items x ",
                   c_.kernel.pack == 1 ? "heads_q" : "head groups", " = ", groups, " = ", ctas,
                   " CTAs exceed the grid limit of 2147483647");
    }
    c_.capacity = static_cast<int32_t>(items);
  }

  void set_rows(const segments& q, const segments& k) {
    c_.segment_count = static_cast<int32_t>(q.size());
    c_.rows_q = q.total();
    c_.rows_k = k.total();
    c_.rows_q_source = last_offset(q.name(), q.size(), q.total());
    c_.rows_k_source = last_offset(k.name(), k.size(), k.total());
    check_max_rows();
  }
  void check_max_rows() const {
    if (c_.rows_q > kMaxRows) {
      detail::fail(c_.rows_q_source, " exceeds ", kMaxRows, ", the most rows a plan covers");
    }
    if (c_.rows_k > kMaxRows) {
      detail::fail(c_.rows_k_source, " exceeds ", kMaxRows, ", the most rows a plan covers");
    }
  }
  static std::string last_offset(const char* name, std::size_t segments, int32_t total) {
    return std::string(name) + "[" + std::to_string(segments) + "] = " + std::to_string(total);
  }

  // Device buffer, in int32 words: [count, status, build key, cu_q[n+1], cu_k[n+1],
  // class ends[kSegmentClasses], pad, items] (kHeaderWords: the first three).
  static std::size_t class_ends_offset(int64_t segment_count) {
    return static_cast<std::size_t>(kHeaderWords + 2 * (segment_count + 1));
  }
  static std::size_t items_offset(int64_t segment_count) {
    return (class_ends_offset(segment_count) + detail::kSegmentClasses + 3) / 4 * 4;
  }
  static std::size_t buffer_words(int64_t segment_count, int64_t capacity) {
    return items_offset(segment_count) + 2 * static_cast<std::size_t>(capacity);
  }
  std::size_t cu_q_offset() const { return kHeaderWords; }
  std::size_t cu_k_offset() const { return cu_q_offset() + c_.segment_count + 1; }
  std::size_t class_ends_offset() const { return class_ends_offset(c_.segment_count); }
  std::size_t items_offset() const { return items_offset(c_.segment_count); }
  std::size_t buffer_words() const { return buffer_words(c_.segment_count, c_.capacity); }

  // Every member in one aggregate, so that a move leaves the source a default (empty) one.
  struct contents {
    bool valid = false;
    attention_shape shape{};
    bool causal = false;
    detail::window window{};
    float softcap = 0.0f;
    float scale = 0.0f;
    launch_policy policy = launch_policy::per_segment;
    kernel_config kernel{};
    bool built_on_device = false;
    bool built = false;  // built_on_device: build_on_device has run at least once
    int32_t segment_count = 0;
    int32_t rows_q = 0;
    int32_t rows_k = 0;
    std::string rows_q_source;
    std::string rows_k_source;
    std::vector<segment_launch> launches;
    std::vector<work_item> work;
    std::vector<int32_t> q_offsets;  // host-built lists with groups: for_each_work_item's
    int64_t list_steps = 0;          // host-built lists: their items' key steps, summed
    std::vector<plan> buckets;  // bucketed: fused child plans (std::vector allows incomplete T)
    int32_t capacity = 0;
    int32_t* device = nullptr;          // fused: see the layout above (owned or borrowed)
    device_report* report = nullptr;    // built on the device: pinned (owned or borrowed)
    // Destroyed in reverse order: the upload waits for its copy before freeing its source,
    // and cudaFree (which waits for the device) runs before the report a build may write.
    detail::pinned_ptr<device_report> owned_report;
    detail::device_ptr<int32_t> owned_device;
    build_history owned_builds;  // reserve_on_device: the contexts its buffer was built in
    detail::pinned_upload upload;  // host-built fused: the work list's pinned source, its event
  };
  contents c_;
};

}  // namespace varattn
