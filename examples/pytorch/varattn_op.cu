// varattn as a PyTorch custom op:
//
//   varattn::varlen_attention(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q,
//                             Tensor cu_seqlens_k, bool causal=False, float? scale=None,
//                             int? max_seqlen_q=None) -> Tensor
//
// q [total_q, heads_q, head_dim], k and v [total_k, heads_kv, head_dim]: CUDA, fp16 or bf16,
// any token and head strides (stride(2) == 1); cu_seqlens_q / cu_seqlens_k: int32 CUDA offsets,
// segments + 1 each. Returns a new [total_q, heads_q, head_dim] tensor.
//
// Every call is two launches on the current stream and no host wait: a one-CTA kernel that
// rewrites the plan's work list from the cu_seqlens it is given (so new offsets of the same
// shape are never served a stale plan), then the fused attention kernel. The plan itself
// (a device buffer sized from the shapes alone) is reserved once per (device, stream, shape,
// options) and cached; a cache miss allocates it (cudaMalloc plus a small synchronous upload
// inside plan::reserve_on_device) and is the only call that waits. Built by varattn_torch.py
// with torch.utils.cpp_extension.load.

#include <varattn/varattn.hpp>

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>

namespace {

constexpr const char* kOp = "varattn::varlen_attention: ";

// ---------------------------------------------------------------------------------------------
// Plan cache. A reserved plan is a device buffer that build_on_device rewrites on its stream
// before each forward reads it, so one plan must not serve two streams at once: the stream is
// part of the key. Plans are never freed behind the caller's back (a captured CUDA graph
// keeps pointing at its plan's buffer); clear_plan_cache() drops those no capture used.

struct plan_key {
  int device;
  std::uintptr_t stream;
  int32_t segments, rows_q, rows_k, heads_q, heads_kv, head_dim;
  bool causal;
  bool has_scale;
  uint32_t scale_bits;
  int32_t block_m;  // the tile height max_seqlen_q selects (tall or short tiles)

  auto tie() const {
    return std::tie(device, stream, segments, rows_q, rows_k, heads_q, heads_kv, head_dim, causal,
                    has_scale, scale_bits, block_m);
  }
  bool operator<(const plan_key& other) const { return tie() < other.tie(); }
};

struct cache_entry {
  std::shared_ptr<const varattn::plan> plan;
  // Held from build_on_device to forward, so that two host threads sharing a stream (the
  // default stream, say) cannot enqueue build, build, forward, forward on one plan.
  std::shared_ptr<std::mutex> in_use;
  bool captured = false;  // used inside a CUDA graph capture: kept for the process's life
};

std::mutex& cache_mutex() {
  static std::mutex m;
  return m;
}
// Leaked on purpose: freeing device memory from a static destructor at exit races CUDA's
// own teardown.
std::map<plan_key, cache_entry>& cache() {
  static auto* entries = new std::map<plan_key, cache_entry>();
  return *entries;
}

// The reserved plan for `key`, from the cache or newly reserved. Under graph capture a miss
// still works: the reservation (cudaMalloc and a small synchronous upload, neither captured)
// runs with the thread's capture mode relaxed, as PyTorch's own caching allocator does for
// the cudaMalloc it needs during capture.
cache_entry cached_plan(const plan_key& key, bool capturing, int32_t max_q_length,
                        const varattn::attention_shape& shape,
                        const varattn::attention_options& options) {
  const std::lock_guard<std::mutex> lock(cache_mutex());
  auto found = cache().find(key);
  if (found != cache().end()) {
    found->second.captured |= capturing;
    return found->second;
  }
  std::shared_ptr<const varattn::plan> made;
  const auto reserve = [&] {
    made = std::make_shared<const varattn::plan>(varattn::plan::reserve_on_device(
        key.segments, key.rows_q, key.rows_k, shape, options, max_q_length));
  };
  if (!capturing) {
    reserve();
  } else {
    try {
      const c10::cuda::CUDAStreamCaptureModeGuard relaxed(cudaStreamCaptureModeRelaxed);
      reserve();
    } catch (const varattn::error& e) {
      TORCH_CHECK(false, kOp, "reserving a plan during CUDA graph capture failed (", e.what(),
                  "). Run the op once with the same shapes on the capture stream before "
                  "capturing (e.g. warm up under `with torch.cuda.stream(s):` and capture with "
                  "`torch.cuda.graph(g, stream=s)`).");
    }
  }
  return cache().emplace(key, cache_entry{made, std::make_shared<std::mutex>(), capturing})
      .first->second;
}

int64_t plan_cache_size() {
  const std::lock_guard<std::mutex> lock(cache_mutex());
  return static_cast<int64_t>(cache().size());
}

// Drops the plans no graph capture used; returns how many. Waits for every device that owns
// one (a kernel in flight may still read it), so call it between steps, not inside one.
int64_t clear_plan_cache() {
  const std::lock_guard<std::mutex> lock(cache_mutex());
  std::set<int> devices;
  for (const auto& [key, entry] : cache()) {
    if (!entry.captured) devices.insert(key.device);
  }
  for (int device : devices) {
    const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device));
    C10_CUDA_CHECK(cudaDeviceSynchronize());
  }
  int64_t dropped = 0;
  for (auto it = cache().begin(); it != cache().end();) {
    if (it->second.captured) {
      ++it;
    } else {
      it = cache().erase(it);
      ++dropped;
    }
  }
  return dropped;
}

// VARATTN_TORCH_CHECK_OFFSETS=1: after each build, wait for it and raise if the device
// offsets were invalid (a host sync per call; for debugging). Without it, invalid offsets
// (cu_seqlens[0] != 0, decreasing, last != total) leave the output unwritten.
bool check_offsets() {
  static const bool enabled = [] {
    const char* value = std::getenv("VARATTN_TORCH_CHECK_OFFSETS");
    return value != nullptr && std::strcmp(value, "") != 0 && std::strcmp(value, "0") != 0;
  }();
  return enabled;
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
                 const at::Tensor& v, const at::Tensor& o, cudaStream_t stream) {
  const auto* qd = reinterpret_cast<const Element*>(q.const_data_ptr());
  const auto* kd = reinterpret_cast<const Element*>(k.const_data_ptr());
  const auto* vd = reinterpret_cast<const Element*>(v.const_data_ptr());
  auto* od = reinterpret_cast<Element*>(o.mutable_data_ptr());
  varattn::forward<Element>(plan, view_of(q, qd), view_of(k, kd), view_of(v, vd), view_of(o, od),
                            stream);
}

at::Tensor varlen_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& cu_seqlens_q, const at::Tensor& cu_seqlens_k,
                            bool causal, std::optional<double> scale,
                            std::optional<int64_t> max_seqlen_q) {
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

  const c10::cuda::CUDAGuard device_guard(q.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(q.device().index()).stream();
  const auto rows_q = static_cast<int32_t>(q.size(0));
  const auto rows_k = static_cast<int32_t>(k.size(0));
  const auto segments = static_cast<int32_t>(cu_seqlens_q.numel() - 1);
  const varattn::attention_shape shape{static_cast<int32_t>(q.size(1)),
                                       static_cast<int32_t>(k.size(1)),
                                       static_cast<int32_t>(q.size(2))};
  varattn::attention_options options{causal, std::nullopt};
  if (scale) options.scale = static_cast<float>(*scale);
  // max_seqlen_q only picks the tile height (short tiles when every segment has <= 64
  // queries); default rows_q, the safe upper bound.
  const int32_t max_q_length = max_seqlen_q ? static_cast<int32_t>(*max_seqlen_q) : rows_q;

  plan_key key{};
  key.device = q.device().index();
  key.stream = reinterpret_cast<std::uintptr_t>(stream);
  key.segments = segments;
  key.rows_q = rows_q;
  key.rows_k = rows_k;
  key.heads_q = shape.heads_q;
  key.heads_kv = shape.heads_kv;
  key.head_dim = shape.head_dim;
  key.causal = causal;
  key.has_scale = options.scale.has_value();
  if (options.scale) std::memcpy(&key.scale_bits, &*options.scale, sizeof(float));
  key.block_m = varattn::tile_shape_for(shape.head_dim, max_q_length).block_m;

  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  C10_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
  const bool capturing = capture != cudaStreamCaptureStatusNone;

  at::Tensor o = at::empty({q.size(0), q.size(1), q.size(2)}, q.options());
  try {
    const cache_entry entry = cached_plan(key, capturing, max_q_length, shape, options);
    const varattn::plan* plan = entry.plan.get();
    const std::lock_guard<std::mutex> in_use(*entry.in_use);
    const auto count = static_cast<std::size_t>(segments) + 1;
    varattn::build_on_device(*plan, {cu_seqlens_q.const_data_ptr<int32_t>(), count},
                             {cu_seqlens_k.const_data_ptr<int32_t>(), count}, stream);
    if (check_offsets() && !capturing) plan->check_device_build(stream);
    if (q.scalar_type() == at::kHalf) {
      run_forward<__half>(*plan, q, k, v, o, stream);
    } else {
      run_forward<__nv_bfloat16>(*plan, q, k, v, o, stream);
    }
  } catch (const varattn::error& e) {
    TORCH_CHECK(false, kOp, e.what());
  }
  return o;
}

}  // namespace

TORCH_LIBRARY(varattn, m) {
  m.def(
      "varlen_attention(Tensor q, Tensor k, Tensor v, Tensor cu_seqlens_q, Tensor cu_seqlens_k, "
      "bool causal=False, float? scale=None, int? max_seqlen_q=None) -> Tensor");
  m.def("plan_cache_size() -> int", &plan_cache_size);
  m.def("clear_plan_cache() -> int", &clear_plan_cache);
}

TORCH_LIBRARY_IMPL(varattn, CUDA, m) { m.impl("varlen_attention", &varlen_attention); }

// CPU inputs reach the same checks, which reject them with a message naming the tensor
// (instead of the dispatcher's "could not run ... with arguments from the 'CPU' backend").
TORCH_LIBRARY_IMPL(varattn, CPU, m) { m.impl("varlen_attention", &varlen_attention); }
