#pragma once
//! \file plan.hpp
//! A plan: the validated attention shape and the work decomposition for one pair of
//! segment tables. Built once, reused by every layer that shares the segments.

#include <varattn/error.hpp>
#include <varattn/head_dims.hpp>
#include <varattn/options.hpp>
#include <varattn/segments.hpp>
#include <varattn/tile_shape.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace varattn {

//! How the dispatcher turns a plan into kernel launches.
enum class launch_policy {
  per_segment,  //!< one launch per non-empty segment, grid = (q tiles, heads_q)
};

//! One segment as the kernels see it: q rows and k rows of the same segment index.
struct segment_launch {
  int32_t segment;
  int32_t q_begin;
  int32_t q_length;
  int32_t k_begin;
  int32_t k_length;
  int32_t q_tiles;  //!< ceil(q_length / block_m)
};

class plan {
 public:
  //! Validates the segment tables and the shape (throws varattn::error naming the bad
  //! argument) and decomposes the work. Host only: no CUDA call.
  static plan make(const segments& q, const segments& k, attention_shape shape,
                   attention_options options = {},
                   launch_policy policy = launch_policy::per_segment) {
    if (q.size() != k.size()) {
      detail::fail(q.name(), " has ", q.size(), " segments but ", k.name(), " has ", k.size());
    }
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
    p.tile_ = tile_shape_for(shape.head_dim);
    p.rows_q_ = q.total();
    p.rows_k_ = k.total();
    p.rows_q_source_ = last_offset(q);
    p.rows_k_source_ = last_offset(k);
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

  const attention_shape& shape() const { return shape_; }
  int32_t head_dim() const { return shape_.head_dim; }
  bool causal() const { return causal_; }
  //! The resolved softmax scale.
  float scale() const { return scale_; }
  launch_policy policy() const { return policy_; }
  tile_shape tile() const { return tile_; }
  int32_t rows_q() const { return rows_q_; }
  int32_t rows_k() const { return rows_k_; }
  const std::vector<segment_launch>& launches() const { return launches_; }
  //! Where rows_q() / rows_k() come from, for error messages: "cu_seqlens_q[4] = 100".
  const std::string& rows_q_source() const { return rows_q_source_; }
  const std::string& rows_k_source() const { return rows_k_source_; }

  //! Calls f(segment, head, q_tile) once per work item (one CTA tile of one head).
  template <class F>
  void for_each_work_item(F&& f) const {
    for (const segment_launch& launch : launches_) {
      for (int32_t head = 0; head < shape_.heads_q; ++head) {
        for (int32_t tile = 0; tile < launch.q_tiles; ++tile) f(launch.segment, head, tile);
      }
    }
  }

 private:
  plan() = default;
  static std::string last_offset(const segments& s) {
    return std::string(s.name()) + "[" + std::to_string(s.size()) + "] = " +
           std::to_string(s.total());
  }

  attention_shape shape_{};
  bool causal_ = false;
  float scale_ = 0.0f;
  launch_policy policy_ = launch_policy::per_segment;
  tile_shape tile_{};
  int32_t rows_q_ = 0;
  int32_t rows_k_ = 0;
  std::string rows_q_source_;
  std::string rows_k_source_;
  std::vector<segment_launch> launches_;
};

}  // namespace varattn
