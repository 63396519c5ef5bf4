// SPDX-License-Identifier: Apache-2.0
// varattn as a PyTorch custom op:
//
//   varattn::varlen_attention(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q,
//                             Tensor cu_seqlens_k, bool causal=False, float? scale=None,
//                             int? max_seqlen_q=None, int? max_seqlen_k=None,
//                             int window_left=-1, int window_right=-1, float softcap=0.0,
//                             bool return_lse=False, bool deterministic=False)
//                             -> (Tensor out, Tensor lse)
//
// q [total_q, heads_q, head_dim], k and v [total_k, heads_kv, head_dim]: CUDA, fp16 or bf16,
// any token and head strides (stride(2) == 1); cu_seqlens_q / cu_seqlens_k: int32 CUDA offsets,
// segments + 1 each. window_left / window_right: keys a query sees before / after its
// (bottom-right aligned) diagonal, -1 unbounded; causal folds into right = min(right, 0).
// softcap: 0 off, else each score s becomes softcap * tanh(s / softcap). Returns a new
// [total_q, heads_q, head_dim] tensor and, with return_lse, the float32 logsumexp of every
// query row as a new contiguous [heads_q, total_q] tensor (FlashAttention's varlen layout;
// -inf for rows that see no key, whose output is zeros); without, an empty float32 tensor.
// deterministic: ignored by the forward (whose results are always bit-identical run to run);
// it is in the schema so that the autograd kernel (autograd.cpp) hands it to the backward.
//
// Every call is two launches on the current stream and no host wait: a one-CTA kernel that
// writes the plan's work list from the cu_seqlens it is given (so new offsets are never served
// a stale plan; it returns at once when the workspace already holds the list for these very
// offsets and plan, as for a model's layers after the first), then the fused attention
// kernel. The plan itself is a host object made per call (plan::on_device: no CUDA call) on
// a workspace from a bounded cache keyed by (device, stream, size class): workspace sizes are
// rounded up to powers of two, so a handful of workspaces serve any traffic. Workspaces come
// from PyTorch's caching allocator, so even a cache miss neither calls cudaMalloc (once the
// allocator has warmed up) nor waits.
//
// Invalid offsets (only the device reads them) make every element of that call's output NaN
// and are recorded in the workspace's pinned device_report; the next call on the same stream
// raises them by name ("cu_seqlens_q[2] = 30 < cu_seqlens_q[1] = 70"), and check_errors()
// raises them on request. Built ahead of time by python/setup.py (or JIT-compiled by
// varattn/_ops.py) with forward_half.cu, forward_bf16.cu, backward_half.cu and
// backward_bf16.cu, which hold the kernels.
//
//   varattn::varlen_attention_backward(Tensor d_out, Tensor q, Tensor k, Tensor v, Tensor out,
//                                      Tensor lse, Tensor cu_seqlens_q, Tensor cu_seqlens_k,
//                                      bool causal, float? scale, int? max_seqlen_q,
//                                      int window_left, int window_right, float softcap,
//                                      bool deterministic=False)
//                                      -> (Tensor d_q, Tensor d_k, Tensor d_v)
//
// The gradients of varlen_attention (its autograd kernel, autograd.cpp, calls it): out and
// lse are the forward's (lse [heads_q, total_q] float32, the forward run with return_lse);
// d_k and d_v sum over each kv head's q heads, in a fixed order. d_q: by default summed with
// float32 atomics (as FlashAttention; its last bits may differ run to run); with
// deterministic, by a separate kernel in a fixed order (bit-identical run to run, slower).
// The same plan cache and device-built plan as the forward, and a workspace from the caching
// allocator for D = rowsum(d_out * out), the float32 dQ accumulator (atomic path) and the
// work lists; no host wait, capturable.

#include "backward_element.hpp"
#include "forward_element.hpp"

#include <varattn/backward_workspace.hpp>
#include <varattn/device_plan.cuh>
#include <varattn/device_report.hpp>
#include <varattn/head_dims.hpp>
#include <varattn/plan.hpp>

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace {

constexpr const char* kOp = "varattn::varlen_attention: ";

// ---------------------------------------------------------------------------------------------
// Workspace cache. A workspace is rewritten by build_on_device on its stream before each
// forward reads it, so one workspace must not serve two streams at once: the stream is part of
// the key. Entries are evicted least recently used beyond the limit; an evicted workspace goes
// back to the caching allocator, whose reuse is ordered on the stream it was used on (the key's
// stream), so work still in flight is safe. Entries a CUDA graph capture used are kept for the
// process's life (the graph may replay), and counted apart.

struct cache_key {
  int device;
  std::uintptr_t stream;
  int size_class;  // log2 of the workspace bytes

  auto tie() const { return std::tie(device, stream, size_class); }
  bool operator<(const cache_key& other) const { return tie() < other.tie(); }
};

struct cache_entry {
  at::Tensor workspace;  // device bytes, 2^size_class of them
  at::Tensor report;     // pinned: one varattn::device_report
  // Held from build_on_device to forward, so that two host threads sharing a stream (the
  // default stream, say) cannot enqueue build, build, forward, forward on one workspace.
  std::shared_ptr<std::mutex> in_use;
  // Where a full list build of this workspace has been enqueued (eagerly; in which capture):
  // a build may be skipped (rebuild::when_changed) only after one in the same context. Read
  // and written under *in_use.
  std::shared_ptr<varattn::build_history> builds;
  bool captured = false;
  uint64_t last_used = 0;

  varattn::device_report* report_ptr() const {
    return static_cast<varattn::device_report*>(report.data_ptr());
  }
};

struct cache_state {
  std::mutex mutex;
  std::map<cache_key, cache_entry> entries;
  // Reports of evicted entries, per (device, stream): reused only on their own stream, where a
  // build still in flight is ordered before the reuse.
  std::map<std::pair<int, std::uintptr_t>, std::vector<at::Tensor>> spare_reports;
  int64_t limit = 64;
  uint64_t tick = 0;
  int64_t hits = 0, misses = 0, evictions = 0;
};

// Leaked on purpose: freeing device memory from a static destructor at exit races CUDA's
// own teardown.
cache_state& cache() {
  static auto* state = new cache_state();
  return *state;
}

constexpr int kMinSizeClass = 12;  // 4 KiB: small batches share one class

int size_class_of(std::size_t bytes) {
  int c = kMinSizeClass;
  while ((std::size_t{1} << c) < bytes) ++c;
  return c;
}

// Raises (and takes) the first report an earlier call on this device and stream left: invalid
// offsets that only the device saw. A read of pinned memory per entry, no wait.
void raise_pending_reports(cache_state& state, int device, std::uintptr_t stream) {
  for (auto& [key, entry] : state.entries) {
    if (key.device != device || key.stream != stream) continue;
    try {
      varattn::raise_device_report(entry.report_ptr());
    } catch (const varattn::error& e) {
      TORCH_CHECK(false, kOp, e.what(), " (found by an earlier call on this stream; that call "
                  "returned NaN)");
    }
  }
}

// The limit counts the entries no capture used: captured ones stay whatever their number, and
// must not push every new entry out at once.
// Drops an entry; its report waits for the next entry on the same device and stream.
std::map<cache_key, cache_entry>::iterator retire(cache_state& state,
                                                 std::map<cache_key, cache_entry>::iterator it) {
  state.spare_reports[{it->first.device, it->first.stream}].push_back(it->second.report);
  return state.entries.erase(it);
}

void evict_beyond_limit(cache_state& state) {
  int64_t evictable = 0;
  for (const auto& [key, entry] : state.entries) evictable += entry.captured ? 0 : 1;
  for (; evictable > state.limit; --evictable) {
    auto victim = state.entries.end();
    for (auto it = state.entries.begin(); it != state.entries.end(); ++it) {
      if (it->second.captured) continue;
      if (victim == state.entries.end() || it->second.last_used < victim->second.last_used) {
        victim = it;
      }
    }
    if (victim == state.entries.end()) return;  // only captured entries left: they stay
    retire(state, victim);
    ++state.evictions;
  }
}

at::Tensor new_report(cache_state& state, const cache_key& key, bool capturing) {
  auto& spares = state.spare_reports[{key.device, key.stream}];
  if (!spares.empty()) {
    at::Tensor report = spares.back();
    spares.pop_back();
    return report;
  }
  // A pinned allocation is not stream work; under capture it runs with the capture relaxed.
  std::optional<c10::cuda::CUDAStreamCaptureModeGuard> relaxed;
  if (capturing) relaxed.emplace(cudaStreamCaptureModeRelaxed);
  at::Tensor report = at::zeros({static_cast<int64_t>(sizeof(varattn::device_report))},
                                at::TensorOptions().dtype(at::kByte).pinned_memory(true));
  return report;
}

// The workspace entry for `key`: found, or made from the caching allocator (on the current
// stream, which is the key's) and a pinned report.
cache_entry cached_workspace(const cache_key& key, bool capturing, const at::Device& device) {
  cache_state& state = cache();
  const std::lock_guard<std::mutex> lock(state.mutex);
  raise_pending_reports(state, key.device, key.stream);
  auto found = state.entries.find(key);
  if (found != state.entries.end()) {
    ++state.hits;
    found->second.captured |= capturing;
    found->second.last_used = ++state.tick;
    return found->second;
  }
  ++state.misses;
  cache_entry entry;
  entry.workspace = at::empty({int64_t{1} << key.size_class},
                              at::TensorOptions().dtype(at::kByte).device(device));
  // The allocator may hand over an old workspace's bytes, and a zeroing made under capture
  // runs only when that graph replays (not before an eager call, nor before another graph
  // that finds this entry): instead, the first build of each context is full (builds).
  entry.report = new_report(state, key, capturing);
  entry.in_use = std::make_shared<std::mutex>();
  entry.builds = std::make_shared<varattn::build_history>();
  entry.captured = capturing;
  entry.last_used = ++state.tick;
  const cache_entry result = state.entries.emplace(key, entry).first->second;
  evict_beyond_limit(state);
  return result;
}

// [entries, captured entries, hits, misses, evictions, workspace bytes, limit]
std::vector<int64_t> plan_cache_stats() {
  cache_state& state = cache();
  const std::lock_guard<std::mutex> lock(state.mutex);
  int64_t captured = 0, bytes = 0;
  for (const auto& [key, entry] : state.entries) {
    captured += entry.captured ? 1 : 0;
    bytes += int64_t{1} << key.size_class;
  }
  return {static_cast<int64_t>(state.entries.size()), captured, state.hits, state.misses,
          state.evictions, bytes, state.limit};
}

int64_t plan_cache_size() { return plan_cache_stats()[0]; }

// Sets the most workspaces kept (captured ones are kept beyond it); returns the old limit.
int64_t set_plan_cache_limit(int64_t limit) {
  TORCH_CHECK(limit >= 1, kOp, "the plan cache limit must be at least 1, got ",
              std::to_string(limit));
  cache_state& state = cache();
  const std::lock_guard<std::mutex> lock(state.mutex);
  const int64_t old = state.limit;
  state.limit = limit;
  evict_beyond_limit(state);
  return old;
}

// Drops the workspaces no graph capture used; returns how many. No wait: the caching
// allocator orders the memory's reuse after the work already on each workspace's stream.
int64_t clear_plan_cache() {
  cache_state& state = cache();
  const std::lock_guard<std::mutex> lock(state.mutex);
  int64_t dropped = 0;
  for (auto it = state.entries.begin(); it != state.entries.end();) {
    if (it->second.captured) {
      ++it;
    } else {
      it = retire(state, it);
      ++dropped;
    }
  }
  return dropped;
}

// The head dims this library was compiled for (varattn::head_dims: VARATTN_HEAD_DIMS when the
// package was built, else the default list); any other raises "is not instantiated".
template <int32_t... HeadDims>
std::vector<int64_t> values_of(varattn::head_dim_list<HeadDims...>) {
  return {HeadDims...};
}
std::vector<int64_t> compiled_head_dims() { return values_of(varattn::head_dims{}); }

// Raises the first invalid-offsets report of any workspace; with `synchronize`, waits for
// the current stream of every device that has one first, so that every call made so far is
// checked. Without, only what the device has written by now.
void check_errors(bool synchronize) {
  cache_state& state = cache();
  std::vector<std::pair<int, std::uintptr_t>> streams;
  {
    const std::lock_guard<std::mutex> lock(state.mutex);
    for (const auto& [key, entry] : state.entries) streams.emplace_back(key.device, key.stream);
  }
  if (synchronize) {
    for (const auto& [device, stream] : streams) {
      const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
      C10_CUDA_CHECK(cudaStreamSynchronize(reinterpret_cast<cudaStream_t>(stream)));
    }
  }
  const std::lock_guard<std::mutex> lock(state.mutex);
  for (const auto& [device, stream] : streams) raise_pending_reports(state, device, stream);
}

// VARATTN_TORCH_CHECK_OFFSETS=1 (read on every call, so it may be set at any time): after each
// forward, wait for the stream and raise if the device rejected the offsets (a host sync per
// call; for debugging). Without it, a rejection is raised by the next call on the stream.
bool check_offsets_now() {
  const char* value = std::getenv("VARATTN_TORCH_CHECK_OFFSETS");
  return value != nullptr && std::strcmp(value, "") != 0 && std::strcmp(value, "0") != 0;
}

// Numbers go into TORCH_CHECK messages as std::string: streaming an integer from this
// extension into c10's message stream crashed on the H100 machine (SIGSEGV in
// std::ostream::_M_insert<long> inside this .so; strings and c10 types were fine).
std::string text(int64_t value) { return std::to_string(value); }
std::string text(c10::IntArrayRef values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

// ---------------------------------------------------------------------------------------------
// Host-side validation: shapes, dtypes, devices and strides only; no device data is read.

void check_cuda_tensor(const at::Tensor& t, const char* name, const at::Tensor& q) {
  TORCH_CHECK(t.defined(), kOp, name, " is undefined");
  TORCH_CHECK(t.is_cuda(), kOp, name, " must be a CUDA tensor, got a tensor on ", t.device());
  TORCH_CHECK(t.device() == q.device(), kOp, name, " is on ", t.device(), " but q is on ",
              q.device(), ": all inputs must be on one device");
}

void check_qkv(const at::Tensor& t, const char* name, const at::Tensor& q) {
  check_cuda_tensor(t, name, q);
  TORCH_CHECK(t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16, kOp, name,
              " must be float16 or bfloat16, got ", t.scalar_type());
  TORCH_CHECK(t.scalar_type() == q.scalar_type(), kOp, name, " is ", t.scalar_type(),
              " but q is ", q.scalar_type(), ": q, k and v must have one dtype");
  TORCH_CHECK(t.dim() == 3, kOp, name, " must be [tokens, heads, head_dim], got ", text(t.dim()),
              " dims ", text(t.sizes()));
  TORCH_CHECK(t.size(2) <= 1 || t.stride(2) == 1, kOp, name,
              " must have a contiguous last dim (stride(2) == 1), got strides ", text(t.strides()));
  TORCH_CHECK(t.size(0) <= std::numeric_limits<int32_t>::max(), kOp, name, " has ", text(t.size(0)),
              " tokens, more than int32 offsets can address");
}

void check_offsets_tensor(const at::Tensor& t, const char* name, const at::Tensor& q) {
  check_cuda_tensor(t, name, q);
  TORCH_CHECK(t.scalar_type() == at::kInt, kOp, name, " must be int32 (torch.int32), got ",
              t.scalar_type(), (t.scalar_type() == at::kLong ? " (int64)" : ""),
              "; convert it once with .to(torch.int32)");
  TORCH_CHECK(t.dim() == 1, kOp, name, " must be 1-D (segments + 1 offsets), got ", text(t.dim()),
              " dims");
  TORCH_CHECK(t.numel() >= 1, kOp, name, " is empty: it needs at least the offset 0");
  TORCH_CHECK(t.is_contiguous(), kOp, name, " must be contiguous");
}

// Strides of size-1 dims carry no information (PyTorch may report anything for them); give
// varattn ones it accepts.
template <class Element>
varattn::packed_view<Element> view_of(const at::Tensor& t, Element* data) {
  const int64_t rows = t.size(0);
  const auto heads = static_cast<int32_t>(t.size(1));
  const auto head_dim = static_cast<int32_t>(t.size(2));
  const int64_t head_stride = heads > 1 ? t.stride(1) : 0;
  const int64_t token_stride = rows > 1 ? t.stride(0) : int64_t{heads} * head_dim;
  return {data, rows, heads, head_dim, token_stride, head_stride};
}

template <class Element>
void run_forward(const varattn::plan& plan, const at::Tensor& q, const at::Tensor& k,
                 const at::Tensor& v, const at::Tensor& o, varattn::logsumexp_view lse,
                 cudaStream_t stream, varattn::forward_scratch scratch) {
  const auto* qd = reinterpret_cast<const Element*>(q.const_data_ptr());
  const auto* kd = reinterpret_cast<const Element*>(k.const_data_ptr());
  const auto* vd = reinterpret_cast<const Element*>(v.const_data_ptr());
  auto* od = reinterpret_cast<Element*>(o.mutable_data_ptr());
  varattn_torch::forward_element(plan, view_of(q, qd), view_of(k, kd), view_of(v, vd),
                                 view_of(o, od), lse, stream, scratch);
}

// One side of the sliding window as the plan takes it. A bound that reaches past every
// segment (left >= rows_k, right >= rows_q: no segment is longer) excludes no key, so it
// becomes -1, the unbounded form: the same result, no masking work, and no value beyond
// int32 reaches the plan. Values below -1 go on to the plan, which rejects them by name.
int32_t window_side(int64_t value, int64_t reach) {
  if (value >= reach) return -1;
  return static_cast<int32_t>(std::max<int64_t>(value, std::numeric_limits<int32_t>::min()));
}

//! What the forward and the backward op both make of a call's checked arguments: its stream,
//! whether that stream is capturing, and the problem as a device-built plan takes it.
struct call_problem {
  cudaStream_t stream;
  bool capturing;
  int32_t rows_q;
  int32_t rows_k;
  int32_t segments;
  varattn::attention_shape shape;
  varattn::attention_options options;
  int32_t max_q_length;
};

call_problem problem_of(const at::Tensor& q, const at::Tensor& k, const at::Tensor& cu_seqlens_q,
                        bool causal, std::optional<double> scale,
                        std::optional<int64_t> max_seqlen_q, int64_t window_left,
                        int64_t window_right, double softcap) {
  call_problem c{};
  c.stream = c10::cuda::getCurrentCUDAStream(q.device().index()).stream();
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  C10_CUDA_CHECK(cudaStreamIsCapturing(c.stream, &capture));
  c.capturing = capture != cudaStreamCaptureStatusNone;
  c.rows_q = static_cast<int32_t>(q.size(0));
  c.rows_k = static_cast<int32_t>(k.size(0));
  c.segments = static_cast<int32_t>(cu_seqlens_q.numel() - 1);
  c.shape = {static_cast<int32_t>(q.size(1)), static_cast<int32_t>(k.size(1)),
             static_cast<int32_t>(q.size(2))};
  c.options.causal = causal;
  if (scale) c.options.scale = static_cast<float>(*scale);
  c.options.window_left = window_side(window_left, c.rows_k);
  c.options.window_right = window_side(window_right, c.rows_q);
  c.options.softcap = static_cast<float>(softcap);  // the plan rejects < 0, NaN and inf
  // max_seqlen_q only picks the tile (decode tiles when every segment has <= 16 / pack
  // queries, short ones when <= 64, the long-segment tile from 2048); without it -1: the
  // plan bounds by rows_q and takes no long-segment tile (plan::reserve_on_device).
  c.max_q_length = max_seqlen_q ? static_cast<int32_t>(*max_seqlen_q) : -1;
  return c;
}

//! Runs run(plan) on a plan built on the device from the call's offsets, in the plan cache's
//! workspace for this device and stream (held while the work is enqueued); a varattn::error
//! becomes a RuntimeError starting with `op`. Never waits on the GPU unless
//! VARATTN_TORCH_CHECK_OFFSETS asks for it.
template <class Run>
void with_device_plan(const char* op, const call_problem& c, const at::Tensor& q,
                      const at::Tensor& cu_seqlens_q, const at::Tensor& cu_seqlens_k, Run&& run) {
  try {
    // Sized from on_device's own arguments: a causal or windowed GQA plan on Hopper packs the
    // group's heads into a tile (more items), which the bound then counts.
    const std::size_t bytes = varattn::plan::workspace_bytes(c.segments, c.rows_q, c.shape,
                                                             c.options, c.max_q_length);
    const cache_key key{q.device().index(), reinterpret_cast<std::uintptr_t>(c.stream),
                        size_class_of(bytes)};
    const cache_entry entry = cached_workspace(key, c.capturing, q.device());
    const varattn::plan_workspace workspace{entry.workspace.data_ptr(),
                                            static_cast<std::size_t>(entry.workspace.numel()),
                                            entry.report_ptr()};
    varattn::plan plan = varattn::plan::on_device(workspace, c.segments, c.rows_q, c.rows_k,
                                                  c.shape, c.options, c.max_q_length);
    const std::lock_guard<std::mutex> in_use(*entry.in_use);
    const auto count = static_cast<std::size_t>(c.segments) + 1;
    // The workspace is this entry's alone (the plan cache's), so a build may be skipped when
    // it holds the list for these very offsets and plan: the layers of a model sharing one
    // cu_seqlens pay one build (after a full one in this context: entry.builds).
    varattn::build_on_device(plan, {cu_seqlens_q.const_data_ptr<int32_t>(), count},
                             {cu_seqlens_k.const_data_ptr<int32_t>(), count}, c.stream,
                             varattn::rebuild::when_changed, entry.builds.get());
    run(plan);
    if (!c.capturing && check_offsets_now()) plan.check_device_build(c.stream);
  } catch (const varattn::error& e) {
    TORCH_CHECK(false, op, e.what());
  }
}

std::tuple<at::Tensor, at::Tensor> varlen_attention(
    const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cu_seqlens_q,
    const at::Tensor& cu_seqlens_k, bool causal, std::optional<double> scale,
    std::optional<int64_t> max_seqlen_q, std::optional<int64_t> max_seqlen_k,
    int64_t window_left, int64_t window_right, double softcap, bool return_lse,
    bool /*deterministic: for the backward, through autograd*/) {
  TORCH_CHECK(q.defined(), kOp, "q is undefined");
  TORCH_CHECK(q.is_cuda(), kOp, "q must be a CUDA tensor, got a tensor on ", q.device());
  check_qkv(q, "q", q);
  check_qkv(k, "k", q);
  check_qkv(v, "v", q);
  check_offsets_tensor(cu_seqlens_q, "cu_seqlens_q", q);
  check_offsets_tensor(cu_seqlens_k, "cu_seqlens_k", q);
  TORCH_CHECK(k.sizes() == v.sizes(), kOp, "k ", text(k.sizes()), " and v ", text(v.sizes()),
              " must have one shape");
  TORCH_CHECK(q.size(2) == k.size(2), kOp, "q has head_dim ", text(q.size(2)), " but k and v have ",
              text(k.size(2)));
  TORCH_CHECK(k.size(1) > 0 && q.size(1) % k.size(1) == 0, kOp, "q has ", text(q.size(1)),
              " heads, not a multiple of k and v's ", text(k.size(1)), " heads");
  TORCH_CHECK(cu_seqlens_q.numel() == cu_seqlens_k.numel(), kOp, "cu_seqlens_q has ",
              text(cu_seqlens_q.numel()), " offsets but cu_seqlens_k has ", text(cu_seqlens_k.numel()),
              ": q and k need one segment count");
  TORCH_CHECK(cu_seqlens_q.numel() - 1 <= std::numeric_limits<int32_t>::max(), kOp,
              "too many segments");
  if (max_seqlen_q) {
    TORCH_CHECK(*max_seqlen_q >= 0 && *max_seqlen_q <= std::numeric_limits<int32_t>::max(),
                kOp, "max_seqlen_q = ", text(*max_seqlen_q), " is out of range");
  }
  // Accepted for FlashAttention's signature; the kernels need no bound on key lengths.
  if (max_seqlen_k) {
    TORCH_CHECK(*max_seqlen_k >= 0 && *max_seqlen_k <= std::numeric_limits<int32_t>::max(),
                kOp, "max_seqlen_k = ", text(*max_seqlen_k), " is out of range");
  }

  const c10::cuda::CUDAGuard device_guard(q.device());
  const call_problem c = problem_of(q, k, cu_seqlens_q, causal, scale, max_seqlen_q, window_left,
                                    window_right, softcap);
  at::Tensor o = at::empty({q.size(0), q.size(1), q.size(2)}, q.options());
  // FlashAttention's varlen layout: [heads_q, total_q], row r of head h at h * total_q + r.
  const std::vector<int64_t> lse_sizes =
      return_lse ? std::vector<int64_t>{q.size(1), q.size(0)} : std::vector<int64_t>{0};
  at::Tensor lse = at::empty(lse_sizes, q.options().dtype(at::kFloat));
  const varattn::logsumexp_view lse_view{return_lse ? lse.mutable_data_ptr<float>() : nullptr,
                                         q.size(0)};
  // The Hopper kernel's persistent grid takes its tiles from a counter: zeroed memory of this
  // call's own from the caching allocator (stream-ordered; a graph replays the zeroing), never
  // shared with a forward that may overlap this one. The sm80 kernels need none.
  at::Tensor counter;
  with_device_plan(kOp, c, q, cu_seqlens_q, cu_seqlens_k, [&](const varattn::plan& plan) {
    varattn::forward_scratch scratch;
    if (plan.kernel().hopper_tall()) {
      counter = at::zeros({static_cast<int64_t>(varattn::kForwardScratchBytes)},
                          q.options().dtype(at::kByte));
      scratch.data = counter.mutable_data_ptr();
    }
    if (q.scalar_type() == at::kHalf) {
      run_forward<__half>(plan, q, k, v, o, lse_view, c.stream, scratch);
    } else {
      run_forward<__nv_bfloat16>(plan, q, k, v, o, lse_view, c.stream, scratch);
    }
  });
  return {o, lse};
}

template <class Element>
void run_backward(const varattn::plan& plan, const at::Tensor& d_out, const at::Tensor& q,
                  const at::Tensor& k, const at::Tensor& v, const at::Tensor& out,
                  const at::Tensor& lse, const at::Tensor& d_q, const at::Tensor& d_k,
                  const at::Tensor& d_v, const at::Tensor& workspace, cudaStream_t stream,
                  varattn::backward_options options) {
  const auto in = [](const at::Tensor& t) {
    return view_of(t, reinterpret_cast<const Element*>(t.const_data_ptr()));
  };
  const auto grad = [](const at::Tensor& t) {
    return view_of(t, reinterpret_cast<Element*>(t.mutable_data_ptr()));
  };
  // The backward reads lse only; logsumexp_view carries a mutable pointer for the forward.
  const varattn::logsumexp_view lse_view{const_cast<float*>(lse.const_data_ptr<float>()),
                                         q.size(0)};
  varattn_torch::backward_element(plan, in(q), in(k), in(v), in(out), in(d_out), lse_view,
                                  grad(d_q), grad(d_k), grad(d_v), workspace.data_ptr(),
                                  static_cast<std::size_t>(workspace.numel()), stream, options);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> varlen_attention_backward(
    const at::Tensor& d_out_in, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& out, const at::Tensor& lse, const at::Tensor& cu_seqlens_q,
    const at::Tensor& cu_seqlens_k, bool causal, std::optional<double> scale,
    std::optional<int64_t> max_seqlen_q, int64_t window_left, int64_t window_right,
    double softcap, bool deterministic) {
  constexpr const char* kBackward = "varattn::varlen_attention_backward: ";
  TORCH_CHECK(q.defined() && q.is_cuda(), kBackward, "q must be a defined CUDA tensor");
  check_qkv(q, "q", q);
  check_qkv(k, "k", q);
  check_qkv(v, "v", q);
  check_qkv(out, "out", q);
  check_qkv(d_out_in, "d_out", q);
  check_offsets_tensor(cu_seqlens_q, "cu_seqlens_q", q);
  check_offsets_tensor(cu_seqlens_k, "cu_seqlens_k", q);
  TORCH_CHECK(out.sizes() == q.sizes() && d_out_in.sizes() == q.sizes(), kBackward, "out ",
              text(out.sizes()), " and d_out ", text(d_out_in.sizes()), " must have q's shape ",
              text(q.sizes()));
  TORCH_CHECK(k.sizes() == v.sizes(), kBackward, "k ", text(k.sizes()), " and v ",
              text(v.sizes()), " must have one shape");
  TORCH_CHECK(q.size(2) == k.size(2), kBackward, "q has head_dim ", text(q.size(2)),
              " but k and v have ", text(k.size(2)));
  TORCH_CHECK(k.size(1) > 0 && q.size(1) % k.size(1) == 0, kBackward, "q has ", text(q.size(1)),
              " heads, not a multiple of k and v's ", text(k.size(1)), " heads");
  TORCH_CHECK(cu_seqlens_q.numel() == cu_seqlens_k.numel(), kBackward, "cu_seqlens_q has ",
              text(cu_seqlens_q.numel()), " offsets but cu_seqlens_k has ",
              text(cu_seqlens_k.numel()));
  check_cuda_tensor(lse, "lse", q);
  TORCH_CHECK(lse.scalar_type() == at::kFloat && lse.dim() == 2 && lse.size(0) == q.size(1) &&
                  lse.size(1) == q.size(0) && lse.is_contiguous(),
              kBackward, "lse must be the forward's contiguous float32 [heads_q, total_q] = [",
              text(q.size(1)), ", ", text(q.size(0)), "] logsumexp (return_lse=True), got ",
              text(lse.sizes()));
  if (max_seqlen_q) {
    TORCH_CHECK(*max_seqlen_q >= 0 && *max_seqlen_q <= std::numeric_limits<int32_t>::max(),
                kBackward, "max_seqlen_q = ", text(*max_seqlen_q), " is out of range");
  }
  // Autograd may hand over any strides (expanded zeros, say): the kernels take 16-byte rows.
  const at::Tensor d_out = d_out_in.contiguous();

  const c10::cuda::CUDAGuard device_guard(q.device());
  const call_problem c = problem_of(q, k, cu_seqlens_q, causal, scale, max_seqlen_q, window_left,
                                    window_right, softcap);
  at::Tensor d_q = at::empty(q.sizes(), q.options());
  at::Tensor d_k = at::empty(k.sizes(), k.options());
  at::Tensor d_v = at::empty(v.sizes(), v.options());
  varattn::backward_options options;
  options.deterministic = deterministic;
  with_device_plan(kBackward, c, q, cu_seqlens_q, cu_seqlens_k, [&](const varattn::plan& plan) {
    // D, the dQ accumulator (atomic path) and the backward's work lists: from the caching
    // allocator, ordered on this stream.
    const at::Tensor workspace = at::empty(
        {std::max<int64_t>(1, static_cast<int64_t>(
                                  varattn::backward_workspace_bytes(plan, options)))},
        q.options().dtype(at::kByte));
    if (q.scalar_type() == at::kHalf) {
      run_backward<__half>(plan, d_out, q, k, v, out, lse, d_q, d_k, d_v, workspace, c.stream,
                           options);
    } else {
      run_backward<__nv_bfloat16>(plan, d_out, q, k, v, out, lse, d_q, d_k, d_v, workspace,
                                  c.stream, options);
    }
  });
  return {d_q, d_k, d_v};
}

}  // namespace

TORCH_LIBRARY(varattn, m) {
  m.def(
      "varlen_attention(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q, Tensor cu_seqlens_k, "
      "bool causal=False, float? scale=None, int? max_seqlen_q=None, int? max_seqlen_k=None, "
      "int window_left=-1, int window_right=-1, float softcap=0.0, bool return_lse=False, "
      "bool deterministic=False) -> (Tensor out, Tensor lse)");
  m.def(
      "varlen_attention_backward(Tensor d_out, Tensor q, Tensor k, Tensor v, Tensor out, "
      "Tensor lse, Tensor cu_seqlens_q, Tensor cu_seqlens_k, bool causal=False, "
      "float? scale=None, int? max_seqlen_q=None, int window_left=-1, int window_right=-1, "
      "float softcap=0.0, bool deterministic=False) -> (Tensor d_q, Tensor d_k, Tensor d_v)");
  m.def("plan_cache_size() -> int", &plan_cache_size);
  m.def("plan_cache_stats() -> int[]", &plan_cache_stats);
  m.def("set_plan_cache_limit(int limit) -> int", &set_plan_cache_limit);
  m.def("clear_plan_cache() -> int", &clear_plan_cache);
  m.def("check_errors(bool synchronize=True) -> ()", &check_errors);
  m.def("head_dims() -> int[]", &compiled_head_dims);
}

TORCH_LIBRARY_IMPL(varattn, CUDA, m) {
  m.impl("varlen_attention", &varlen_attention);
  m.impl("varlen_attention_backward", &varlen_attention_backward);
}

// CPU inputs reach the same checks, which reject them with a message naming the tensor
// (instead of the dispatcher's "could not run ... with arguments from the 'CPU' backend").
TORCH_LIBRARY_IMPL(varattn, CPU, m) {
  m.impl("varlen_attention", &varlen_attention);
  m.impl("varlen_attention_backward", &varlen_attention_backward);
}
