#pragma once
//! \file plan.hpp
//! A plan: the validated attention shape and the work decomposition for one pair of
//! segment tables. Built once, reused by every layer that shares the segments.

#include <varattn/detail/cuda_memory.hpp>
#include <varattn/error.hpp>
#include <varattn/head_dims.hpp>
#include <varattn/options.hpp>
#include <varattn/segments.hpp>
#include <varattn/tile_shape.hpp>
#include <varattn/work_list.hpp>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace varattn {

//! How the dispatcher turns a plan into kernel launches.
enum class launch_policy {
  automatic,    //!< fused for two or more segments, else per_segment (the default)
  per_segment,  //!< one launch per non-empty segment, grid = (q tiles, heads_q)
  fused,        //!< one launch for every (segment, q-tile, head), work list on the device
  bucketed,     //!< one fused launch per bucket: segments of <= 64 queries in short tiles,
                //!< longer ones in tall tiles, back to back on one stream
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

//! The device side of a fused plan, as the kernels read it.
struct device_work {
  const int32_t* count;   //!< number of valid work items (written by the builder)
  const int32_t* cu_q;    //!< the plan's copy of cu_seqlens_q
  const int32_t* cu_k;    //!< the plan's copy of cu_seqlens_k
  const work_item* items;
  int32_t capacity;       //!< grid size in work items; CTAs past *count exit
};

class plan {
 public:
  //! Validates the segment tables and the shape (throws varattn::error naming the bad
  //! argument) and decomposes the work. per_segment: host only, no CUDA call. fused: one
  //! device allocation and one asynchronous upload of the work list on `stream`, no wait;
  //! bucketed: the same for each bucket.
  static plan make(const segments& q, const segments& k, attention_shape shape,
                   attention_options options = {},
                   launch_policy policy = launch_policy::automatic,
                   cudaStream_t stream = nullptr) {
    if (q.size() != k.size()) {
      detail::fail(q.name(), " has ", q.size(), " segments but ", k.name(), " has ", k.size());
    }
    policy = resolve_policy(policy, q.size());
    if (policy == launch_policy::bucketed) return make_bucketed(q, k, shape, options, stream);
    return make_one(q, k, shape, options, policy, q.max_length(), detail::segment_filter::all,
                    stream);
  }

  //! A fused plan whose work list will be written on the device by build_on_device()
  //! (device_plan.cuh) from device cu_seqlens, with no host wait: the buffers are sized
  //! from bounds the host knows without reading the offsets. Allocates; call it outside
  //! graph capture and reuse it. `max_q_length` (default rows_q) picks the tile shape: pass
  //! a bound on the segments' query lengths when they are known to be short.
  static plan reserve_on_device(int32_t segment_count, int32_t rows_q, int32_t rows_k,
                                attention_shape shape, attention_options options = {},
                                int32_t max_q_length = -1) {
    if (segment_count < 0) detail::fail("segment_count = ", segment_count, " < 0");
    if (rows_q < 0) detail::fail("rows_q = ", rows_q, " < 0");
    if (rows_k < 0) detail::fail("rows_k = ", rows_k, " < 0");
    plan p = make_shape(shape, options, launch_policy::fused,
                        max_q_length < 0 ? rows_q : max_q_length);
    p.built_on_device_ = true;
    p.segment_count_ = segment_count;
    p.rows_q_ = rows_q;
    p.rows_k_ = rows_k;
    p.rows_q_source_ = "rows_q = " + std::to_string(rows_q);
    p.rows_k_source_ = "rows_k = " + std::to_string(rows_k);
    // sum ceil(len / m) <= sum (len / m + 1) over the segments.
    p.allocate(rows_q / p.tile_.block_m + segment_count);
    return p;
  }

  const attention_shape& shape() const { return shape_; }
  int32_t head_dim() const { return shape_.head_dim; }
  bool causal() const { return causal_; }
  //! The resolved softmax scale.
  float scale() const { return scale_; }
  //! The policy in force (never `automatic`: make() resolves it).
  launch_policy policy() const { return policy_; }
  //! The tile shape of per_segment and fused plans (a bucketed plan's buckets have their own).
  tile_shape tile() const { return tile_; }
  int32_t segment_count() const { return segment_count_; }
  int32_t rows_q() const { return rows_q_; }
  int32_t rows_k() const { return rows_k_; }
  bool built_on_device() const { return built_on_device_; }
  //! per_segment: the launches, in order.
  const std::vector<segment_launch>& launches() const { return launches_; }
  //! fused, built on the host: the work items in launch order (longest first).
  const std::vector<work_item>& work() const { return work_; }
  //! bucketed: the fused plans launched one after the other.
  const std::vector<plan>& buckets() const { return buckets_; }
  //! fused: the device buffers the kernels read.
  device_work device() const {
    const int32_t* base = device_.get();
    return {base, base + cu_q_offset(), base + cu_k_offset(),
            reinterpret_cast<const work_item*>(base + items_offset()), capacity_};
  }
  //! Where rows_q() / rows_k() come from, for error messages: "cu_seqlens_q[4] = 100".
  const std::string& rows_q_source() const { return rows_q_source_; }
  const std::string& rows_k_source() const { return rows_k_source_; }

  //! Calls f(segment, head, q_tile) once per work item (one CTA tile of one head). Not
  //! available for plans built on the device (the host never sees their items).
  template <class F>
  void for_each_work_item(F&& f) const {
    if (built_on_device_) detail::fail("for_each_work_item: the plan was built on the device");
    for (const segment_launch& launch : launches_) {
      for (int32_t head = 0; head < shape_.heads_q; ++head) {
        for (int32_t tile = 0; tile < launch.q_tiles; ++tile) f(launch.segment, head, tile);
      }
    }
    for (const work_item& item : work_) {
      for (int32_t head = 0; head < shape_.heads_q; ++head) f(item.segment, head, item.q_tile);
    }
    for (const plan& bucket : buckets_) bucket.for_each_work_item(f);
  }

  //! For plans built on the device: waits for the build (a synchronization, for tests and
  //! debugging only) and throws varattn::error if the device offsets were invalid.
  void check_device_build(cudaStream_t stream) const {
    int32_t status[2] = {0, 0};
    VARATTN_CUDA_CHECK(cudaMemcpyAsync(status, device_.get(), sizeof(status),
                                       cudaMemcpyDeviceToHost, stream));
    VARATTN_CUDA_CHECK(cudaStreamSynchronize(stream));
    if (status[1] != 0) {
      detail::fail("device cu_seqlens rejected by build_on_device: ", status_message(status[1]));
    }
  }

  //! Status codes the device builder writes (word 1 of the device buffer).
  enum : int32_t { kStatusOk = 0, kStatusFirstNotZero = 1, kStatusDecreasing = 2,
                   kStatusLastMismatch = 3, kStatusNotBuilt = 4 };

 private:
  plan() = default;

  //! A bucketed plan: one fused child plan per non-empty bucket, each with the tile height
  //! its lengths suit (one child when the head dim has a single tile shape).
  static plan make_bucketed(const segments& q, const segments& k, attention_shape shape,
                            attention_options options, cudaStream_t stream) {
    plan p = make_shape(shape, options, launch_policy::bucketed, q.max_length());
    p.set_rows(q, k);
    int32_t max_short = 0, max_long = 0;  // longest query segment of each bucket
    for (const segment s : q) {
      int32_t& longest = s.length <= detail::kShortSegment ? max_short : max_long;
      longest = std::max(longest, s.length);
    }
    const bool split = tile_shape_for(shape.head_dim, max_short).block_m !=
                       tile_shape_for(shape.head_dim, max_long).block_m;
    if (!split) {
      p.buckets_.push_back(make_one(q, k, shape, options, launch_policy::fused, q.max_length(),
                                    detail::segment_filter::all, stream));
      return p;
    }
    if (max_short > 0) {
      p.buckets_.push_back(make_one(q, k, shape, options, launch_policy::fused, max_short,
                                    detail::segment_filter::short_only, stream));
    }
    p.buckets_.push_back(make_one(q, k, shape, options, launch_policy::fused, max_long,
                                  detail::segment_filter::long_only, stream));
    return p;
  }

  //! A per_segment or fused plan over the segments `filter` selects, with the tile shape for
  //! `max_q_length`.
  static plan make_one(const segments& q, const segments& k, attention_shape shape,
                       attention_options options, launch_policy policy, int32_t max_q_length,
                       detail::segment_filter filter, cudaStream_t stream) {
    plan p = make_shape(shape, options, policy, max_q_length);
    p.set_rows(q, k);
    if (policy == launch_policy::per_segment) {
      for (std::size_t i = 0; i < q.size(); ++i) {
        const segment sq = q[i];
        const segment sk = k[i];
        // An empty query segment writes nothing; skipping it keeps the launch count down.
        if (sq.length == 0) continue;
        p.launches_.push_back({sq.index, sq.begin, sq.length, sk.begin, sk.length,
                               ceil_div(sq.length, p.tile_.block_m)});
      }
      return p;
    }
    p.work_ = detail::build_work_list(q, k, p.tile_.block_m, p.causal_, filter);
    p.allocate(static_cast<int32_t>(p.work_.size()));
    // Stage [count, status, cu_q, cu_k, items] in pinned memory the plan keeps alive, so
    // that the copy runs asynchronously and needs no wait.
    const std::size_t words = p.buffer_words();
    p.staging_ = detail::make_pinned_array<int32_t>(words);
    int32_t* h = p.staging_.get();
    std::memset(h, 0, words * sizeof(int32_t));
    h[0] = static_cast<int32_t>(p.work_.size());
    std::memcpy(h + p.cu_q_offset(), q.offsets().data(), q.offsets().size() * sizeof(int32_t));
    std::memcpy(h + p.cu_k_offset(), k.offsets().data(), k.offsets().size() * sizeof(int32_t));
    std::memcpy(h + p.items_offset(), p.work_.data(), p.work_.size() * sizeof(work_item));
    VARATTN_CUDA_CHECK(cudaMemcpyAsync(p.device_.get(), h, words * sizeof(int32_t),
                                       cudaMemcpyHostToDevice, stream));
    return p;
  }

  static plan make_shape(attention_shape shape, attention_options options, launch_policy policy,
                         int32_t max_q_length) {
    if (shape.heads_q <= 0) detail::fail("heads_q = ", shape.heads_q, " must be positive");
    if (shape.heads_kv <= 0) detail::fail("heads_kv = ", shape.heads_kv, " must be positive");
    if (shape.heads_q % shape.heads_kv != 0) {
      detail::fail("heads_q = ", shape.heads_q, " is not a multiple of heads_kv = ",
                   shape.heads_kv);
    }
    if (!head_dims::contains(shape.head_dim)) {
      detail::fail("head_dim = ", shape.head_dim, " is not instantiated (available: ",
                   head_dims::to_string(), ")");
    }
    // Positive: the kernels take the running max on unscaled scores.
    if (options.scale && !(std::isfinite(*options.scale) && *options.scale > 0.0f)) {
      detail::fail("scale = ", *options.scale, " must be positive and finite");
    }
    plan p;
    p.shape_ = shape;
    p.causal_ = options.causal;
    p.scale_ = options.scale ? *options.scale : 1.0f / std::sqrt(float(shape.head_dim));
    p.policy_ = policy;
    p.tile_ = tile_shape_for(shape.head_dim, max_q_length);
    return p;
  }

  void set_rows(const segments& q, const segments& k) {
    segment_count_ = static_cast<int32_t>(q.size());
    rows_q_ = q.total();
    rows_k_ = k.total();
    rows_q_source_ = last_offset(q.name(), q.size(), q.total());
    rows_k_source_ = last_offset(k.name(), k.size(), k.total());
  }
  static std::string last_offset(const char* name, std::size_t segments, int32_t total) {
    return std::string(name) + "[" + std::to_string(segments) + "] = " + std::to_string(total);
  }
  static const char* status_message(int32_t status) {
    switch (status) {
      case kStatusFirstNotZero: return "cu_seqlens_q[0] or cu_seqlens_k[0] != 0";
      case kStatusDecreasing: return "cu_seqlens_q or cu_seqlens_k decreases";
      case kStatusLastMismatch: return "the last offset differs from rows_q or rows_k";
      case kStatusNotBuilt: return "build_on_device was not called";
      default: return "unknown status";
    }
  }

  // Device buffer, in int32 words: [count, status, cu_q[n+1], cu_k[n+1], pad, items].
  std::size_t cu_q_offset() const { return 2; }
  std::size_t cu_k_offset() const { return cu_q_offset() + segment_count_ + 1; }
  std::size_t items_offset() const { return (cu_k_offset() + segment_count_ + 1 + 3) / 4 * 4; }
  std::size_t buffer_words() const { return items_offset() + 2 * std::size_t(capacity_); }

  void allocate(int32_t capacity) {
    capacity_ = capacity;
    device_ = detail::make_device_array<int32_t>(buffer_words());
    if (built_on_device_) {
      // Until built, the count is 0 and the status says so: a forward writes nothing.
      const int32_t header[2] = {0, kStatusNotBuilt};
      VARATTN_CUDA_CHECK(cudaMemcpy(device_.get(), header, sizeof(header), cudaMemcpyHostToDevice));
    }
  }

  attention_shape shape_{};
  bool causal_ = false;
  float scale_ = 0.0f;
  launch_policy policy_ = launch_policy::per_segment;
  tile_shape tile_{};
  bool built_on_device_ = false;
  int32_t segment_count_ = 0;
  int32_t rows_q_ = 0;
  int32_t rows_k_ = 0;
  std::string rows_q_source_;
  std::string rows_k_source_;
  std::vector<segment_launch> launches_;
  std::vector<work_item> work_;
  std::vector<plan> buckets_;  // bucketed: fused child plans (std::vector allows incomplete T)
  int32_t capacity_ = 0;
  std::shared_ptr<int32_t> device_;   // fused: see the layout above
  std::shared_ptr<int32_t> staging_;  // fused, host-built: the pinned source of the upload
};

}  // namespace varattn
