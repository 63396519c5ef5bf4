// SPDX-License-Identifier: Apache-2.0
//! \file varattn_bench.cu
//! Google Benchmark driver for varattn: one benchmark per workload x launch policy x element
//! type, plus a whole-encoder scenario. GPU time from CUDA events (manual time); host syncs
//! per forward measured by capturing the forward into a CUDA graph. The workloads are compiled
//! in (bench/workloads_data.hpp, written by bench/gen_workloads.py with bench/workloads.json);
//! --benchmark_filter selects among them.
//!
//!   varattn_bench [--varattn_dtype=bf16|fp16|all] [--varattn_seed=N]
//!                 [--varattn_min_time=SECONDS] [--varattn_settle=SECONDS] [--varattn_list]
//!                 [--benchmark_* flags]
//!
//! Benchmarks are named fwd/<workload>/<policy>/<dtype>, encoder/<workload>/<policy>/<dtype>,
//! encoder_graph/<workload>/device_plan/<dtype> (plan built on the device, whole encoder
//! forward in one CUDA graph), bwd/<workload>/<policy>/<dtype> (varattn::backward alone,
//! after one forward per buffer set that wrote o and the logsumexp; registered after the
//! fwd/ and encoder ones, so --benchmark_filter=^bwd/ or =-^bwd/ picks or drops them) and
//! encoder_graph_train/<workload>/device_plan/<dtype> (a training step's attention: plan built
//! on the device, every layer's forward with the logsumexp, then the layers' backwards in
//! reverse order, all in one CUDA graph; registered last).
//! fwd/<workload>/fused_sm80/<dtype> is the fused plan forced onto the sm80 (mma.sync) kernel
//! family (attention_options::kernel): on Hopper, the A/B of the two kernel families in one
//! binary; bwd/<workload>/fused_sm90/<dtype> the backward of a plan forced onto the sm90
//! family (the Hopper dK/dV kernel where `fused` plans short tiles, whose backward is sm80's).
//! fwd/<workload>/fused_no_counter/<dtype> is the fused plan's forward without the tile counter
//! (varattn::forward_scratch), so one CTA a tile; fwd/<workload>/fused_counter/<dtype> with
//! it forced (forward_scratch::force_persistent), so the persistent grid even where `fused`,
//! given the counter, runs one CTA a tile (plan::tile_counter: long tiles): the two grids'
//! A/B in one binary (the same kernel code). fwd/<workload>/fused_device/<dtype>
//! is the fused plan built on the device from device offsets, as the PyTorch op builds its
//! plans: the device's work list (segment order) against `fused`'s host list (longest first).
//! The workloads of the group probe are registered as bwd/ only.
//! Each workload's attention options (window, softcap)
//! go into its plans, and a workload with lse set passes a logsumexp buffer to forward().
//! BENCHMARKS.md gives the method and the formulas behind every counter.

#include "workloads.hpp"

#include <varattn/detail/element_convert.cuh>
#include <varattn/varattn.hpp>

#include <benchmark/benchmark.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace varattn_bench {

// ---------------------------------------------------------------------------------------------
// The lists to extend. A new launch policy is one line here.

struct policy_entry {
  varattn::launch_policy policy;
  const char* name;
  varattn::kernel_family kernel = varattn::kernel_family::automatic;
  bool encoder = true;   //!< also registered as encoder/<workload>/<name>/<dtype>
  bool backward = true;  //!< also registered as bwd/<workload>/<name>/<dtype>
  bool forward = true;   //!< registered as fwd/<workload>/<name>/<dtype>
  //! bwd only: backward_options::deterministic (dQ by its own kernel, no atomics).
  bool deterministic = false;
  //! fwd: forward() gets the tile counter (bench_scratch: fused Hopper launches run the
  //! persistent grid where plan::tile_counter()); false, none (one CTA a tile).
  bool counter = true;
  //! The fused plan built on the device from device offsets (plan::reserve_on_device, then
  //! build_on_device once), as the PyTorch op builds its plans: the device's work list (in
  //! segment order) where `fused` runs the host's (longest first).
  bool device_built = false;
  //! fwd, with `counter`: the persistent grid whatever plan::tile_counter() says
  //! (forward_scratch::force_persistent).
  bool force_persistent = false;
};

const policy_entry kPolicies[] = {
    {varattn::launch_policy::per_segment, "per_segment"},
    {varattn::launch_policy::fused, "fused"},
    {varattn::launch_policy::bucketed, "bucketed"},
    // launch_policy::automatic resolves to one of the above (fused for several segments).
    // Forced kernel family (fwd only): the sm80 kernel where `fused` takes the sm90 one.
    {varattn::launch_policy::fused, "fused_sm80", varattn::kernel_family::sm80, false, false},
    // bwd only: the plan forced onto the sm90 family, so that the backward takes the Hopper
    // dK/dV kernel (head dims 32-128) where `fused` plans short or decode tiles, whose
    // backward runs the sm80 kernels (on a non-Hopper device: skipped with the plan's error).
    {varattn::launch_policy::fused, "fused_sm90", varattn::kernel_family::sm90, false, true,
     false},
    // bwd only: the fused plan's backward with the deterministic dQ kernel.
    {varattn::launch_policy::fused, "fused_deterministic", varattn::kernel_family::automatic,
     false, true, false, true},
    // fwd only: the fused plan without the tile counter (one CTA a tile, not persistent).
    {varattn::launch_policy::fused, "fused_no_counter", varattn::kernel_family::automatic,
     false, false, true, false, false},
    // fwd only: the fused plan with the tile counter forced (the persistent grid also where
    // `fused` runs one CTA a tile: long tiles, plan::tile_counter).
    {varattn::launch_policy::fused, "fused_counter", varattn::kernel_family::automatic,
     false, false, true, false, true, false, true},
    // fwd only: the fused plan built on the device (the op's plans).
    {varattn::launch_policy::fused, "fused_device", varattn::kernel_family::automatic,
     false, false, true, false, true, true},
};

constexpr int kWarmupRuns = 3;          // forwards (or backwards) per buffer set, before any timing
constexpr int kGraphReplays = 20;       // timed replays for graph_ms
constexpr int kMaxBufferSets = 64;
constexpr double kMaxMemoryFraction = 0.5;  // of the free device memory, for all buffer sets

// ---------------------------------------------------------------------------------------------
// Options and small utilities.

struct options {
  std::vector<std::string> dtypes{"bf16"};
  uint64_t seed = 0;
  double min_time_s = 0;  // 0: Google Benchmark's default (0.5 s of measured time)
  double settle_s = 0.3;  // back-to-back runs before a pass's timings (settle()); 0: none
  bool list = false;
};

options g_options;

void check(cudaError_t status, const char* call) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA error: ") + cudaGetErrorString(status) + " in " + call);
  }
}
#define BENCH_CUDA(call) ::varattn_bench::check((call), #call)

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / double(v.size());
}

__host__ __device__ inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

using varattn::detail::from_float;

//! Uniform in (-1, 1), never exactly zero: (2k + 1) / 2^24 - 1 for k in [0, 2^24).
template <class T>
__global__ void fill_uniform(T* data, std::size_t count, uint64_t seed) {
  const std::size_t stride = std::size_t(gridDim.x) * blockDim.x;
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += stride) {
    const uint64_t bits = splitmix64(seed ^ splitmix64(i));
    const float u = float(2 * (bits >> 40) + 1) * (1.0f / 16777216.0f) - 1.0f;
    data[i] = from_float<T>(u);
  }
}

struct device_buffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  explicit device_buffer(std::size_t n) : bytes(n) { BENCH_CUDA(cudaMalloc(&ptr, n > 0 ? n : 1)); }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  ~device_buffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
};

struct stream_handle {
  cudaStream_t s = nullptr;
  stream_handle() { BENCH_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  stream_handle(const stream_handle&) = delete;
  stream_handle& operator=(const stream_handle&) = delete;
  ~stream_handle() {
    if (s != nullptr) cudaStreamDestroy(s);
  }
};

struct event_handle {
  cudaEvent_t e = nullptr;
  event_handle() { BENCH_CUDA(cudaEventCreate(&e)); }
  event_handle(const event_handle&) = delete;
  event_handle& operator=(const event_handle&) = delete;
  ~event_handle() {
    if (e != nullptr) cudaEventDestroy(e);
  }
};

struct graph_exec {
  cudaGraphExec_t exec = nullptr;
  graph_exec() = default;
  graph_exec(const graph_exec&) = delete;
  graph_exec& operator=(const graph_exec&) = delete;
  ~graph_exec() {
    if (exec != nullptr) cudaGraphExecDestroy(exec);
  }
};

double elapsed_ms(const event_handle& start, const event_handle& stop) {
  float ms = 0;
  BENCH_CUDA(cudaEventElapsedTime(&ms, start.e, stop.e));
  return ms;
}

//! Runs run(0), run(1), ... back to back for --varattn_settle seconds (a stream sync every 8
//! runs keeps the queue short) and returns how many ran, so that the timings after it (which
//! go on from that index: the buffer sets keep rotating) see the clock sustained load gives.
//! Under compute-bound load the H200 sits at its power cap, 1.5-1.8 GHz (fourteenth session);
//! graph_ms, timed right after the capture's idle spell, differed from the eager median of
//! the same plan by -15% to +7% (nineteenth session: fused llm-d128-causal 1.057 against
//! 1.245 ms, fused_sm80 vl-full-d80 1.345 against 1.257). compare.py settles every method the
//! same way (its --settle-s, the same 0.3 s).
template <class Run>
std::size_t settle(cudaStream_t stream, Run&& run) {
  if (!(g_options.settle_s > 0)) return 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(g_options.settle_s);
  for (std::size_t i = 0;; ++i) {
    run(i);
    if (i % 8 == 7) {
      BENCH_CUDA(cudaStreamSynchronize(stream));
      if (std::chrono::steady_clock::now() >= end) return i + 1;
    }
  }
}

//! Times each iteration of `state` from an event recorded on `stream` before `body` to one
//! recorded after it (the host waits for the second), into `samples`. An exception stops the
//! loop; its message is returned (empty: every iteration ran).
template <class Body>
std::string time_iterations(benchmark::State& state, cudaStream_t stream,
                            std::vector<double>& samples, Body&& body) {
  event_handle start, stop;
  try {
    for (auto _ : state) {
      BENCH_CUDA(cudaEventRecord(start.e, stream));
      body();
      BENCH_CUDA(cudaEventRecord(stop.e, stream));
      BENCH_CUDA(cudaEventSynchronize(stop.e));
      const double ms = elapsed_ms(start, stop);
      samples.push_back(ms);
      state.SetIterationTime(ms * 1e-3);
    }
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

//! Captures what `enqueue` puts on `stream` into a graph in global capture mode: any call
//! that would make the host wait (or allocate) breaks the capture. Returns the instantiated
//! graph, or nullptr and the reason in `why`.
std::unique_ptr<graph_exec> capture(cudaStream_t stream, const std::function<void()>& enqueue,
                                    std::string& why) {
  why.clear();
  BENCH_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  try {
    enqueue();
  } catch (const std::exception& e) {
    why = e.what();
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  if (why.empty() && end != cudaSuccess) {
    why = std::string("cudaStreamEndCapture: ") + cudaGetErrorString(end);
  }
  (void)cudaGetLastError();  // a broken capture leaves an error that is not sticky
  if (!why.empty()) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    return nullptr;
  }
  auto exec = std::make_unique<graph_exec>();
  const cudaError_t inst = cudaGraphInstantiate(&exec->exec, graph, 0);
  cudaGraphDestroy(graph);
  if (inst != cudaSuccess) {
    why = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(inst);
    (void)cudaGetLastError();
    return nullptr;
  }
  return exec;
}

std::string shorten(std::string s, std::size_t n = 160) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s.size() > n ? s.substr(0, n) + "..." : s;
}

//! plan::make on `stream` (a fused plan uploads its work list there, ahead of the forwards);
//! falls back to the five-argument make of headers that take no stream.
template <class Plan = varattn::plan>
auto make_plan(const varattn::segments& q, const varattn::segments& k, varattn::attention_shape shape,
               varattn::attention_options opts, varattn::launch_policy policy, cudaStream_t stream,
               int) -> decltype(Plan::make(q, k, shape, opts, policy, stream)) {
  return Plan::make(q, k, shape, opts, policy, stream);
}
template <class Plan = varattn::plan>
Plan make_plan(const varattn::segments& q, const varattn::segments& k, varattn::attention_shape shape,
               varattn::attention_options opts, varattn::launch_policy policy, cudaStream_t, long) {
  return Plan::make(q, k, shape, opts, policy);
}

//! The workload's attention options (bench/workloads.json), on the given kernel family.
varattn::attention_options options_for(const workload& w,
                                       varattn::kernel_family kernel = varattn::kernel_family::automatic) {
  varattn::attention_options o;
  o.causal = w.causal;
  o.window_left = w.window_left;
  o.window_right = w.window_right;
  o.softcap = w.softcap;
  o.kernel = kernel;
  return o;
}

//! A plan reserved for a device build of workload w's tables: the host knows the segment
//! count, the totals and (here) a bound on the lengths, never the offsets.
varattn::plan reserve_device_plan(const workload& w, const varattn::attention_options& options) {
  int32_t rows_q = 0, rows_k = 0, max_q = 0;
  for (int32_t len : w.lengths_q) rows_q += len, max_q = std::max(max_q, len);
  for (int32_t len : w.lengths_k) rows_k += len;
  return varattn::plan::reserve_on_device(static_cast<int32_t>(w.lengths_q.size()), rows_q,
                                          rows_k, {w.heads_q, w.heads_kv, w.head_dim}, options,
                                          max_q);
}

// ---------------------------------------------------------------------------------------------
// Buffers: several sets of q, k, v, o (and the logsumexp where the workload asks for it;
// for the backward also d_o, d_q, d_k, d_v and always the logsumexp), rotated so that no
// forward or backward finds its inputs in L2.

template <class Element>
struct buffer_set {
  std::unique_ptr<device_buffer> q, k, v, o, lse;
  varattn::packed_view<const Element> qv, kv, vv;
  varattn::packed_view<Element> ov;
  varattn::logsumexp_view lsev;  //!< data == nullptr: no logsumexp asked for
  std::unique_ptr<device_buffer> d_o, d_q, d_k, d_v;  //!< backward sets only
  varattn::packed_view<const Element> d_ov;
  varattn::packed_view<Element> d_qv, d_kv, d_vv;
};

//! The forwards' tile counter (varattn::forward_scratch: fused Hopper launches run a
//! persistent grid), zeroed once; every forward leaves it zero, and the benchmarks' launches
//! run in order on one stream at a time. Allocated by main() before the benchmarks run (a
//! cudaMalloc under graph capture would fail); never freed (the process's life).
inline varattn::forward_scratch bench_scratch() {
  static void* data = [] {
    void* p = nullptr;
    BENCH_CUDA(cudaMalloc(&p, varattn::kForwardScratchBytes));
    BENCH_CUDA(cudaMemset(p, 0, varattn::kForwardScratchBytes));
    return p;
  }();
  return {data};
}

//! One forward on buffer set `s`, writing the logsumexp where the set has a view for it
//! (an empty view, data == nullptr, asks for none); with the tile counter unless `counter` is
//! false (policy_entry::counter), forced onto every fused Hopper plan with `force_persistent`.
template <class Element>
void run_forward(const varattn::plan& p, const buffer_set<Element>& s, cudaStream_t stream,
                 bool counter = true, bool force_persistent = false) {
  varattn::forward_scratch scratch;
  if (counter) scratch = {bench_scratch().data, force_persistent};
  varattn::forward<Element>(p, s.qv, s.kv, s.vv, s.ov, s.lsev, stream, scratch);
}

//! One varattn::backward on buffer set `s` (its o and logsumexp from a forward of `p`).
template <class Element>
void run_backward(const varattn::plan& p, const buffer_set<Element>& s, void* workspace,
                  std::size_t workspace_bytes, cudaStream_t stream,
                  varattn::backward_options options = {}) {
  varattn::backward<Element>(p, s.qv, s.kv, s.vv, s.ov, s.d_ov, s.lsev, s.d_qv, s.d_kv, s.d_vv,
                             workspace, workspace_bytes, stream, options);
}

struct device_facts {
  int device = 0;
  std::size_t l2_bytes = 0;
  std::size_t free_bytes = 0;
};

device_facts query_device() {
  device_facts f;
  BENCH_CUDA(cudaGetDevice(&f.device));
  int l2 = 0;
  BENCH_CUDA(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, f.device));
  f.l2_bytes = std::size_t(l2);
  std::size_t total = 0;
  BENCH_CUDA(cudaMemGetInfo(&f.free_bytes, &total));
  return f;
}

uint64_t g_seed_counter = 0;

//! Fills `elems` elements of `b` with fresh uniform random values (the next seed).
template <class Element>
void fill_random(device_buffer& b, std::size_t elems, cudaStream_t stream) {
  const uint64_t seed = splitmix64(g_options.seed + (++g_seed_counter));
  const int threads = 256;
  const int blocks = int(std::min<std::size_t>((elems + threads - 1) / threads + 1, 4096));
  fill_uniform<Element><<<blocks, threads, 0, stream>>>(static_cast<Element*>(b.ptr), elems, seed);
  BENCH_CUDA(cudaGetLastError());
}

//! Bytes of one o (q's shape) and, with `lse`, one float32 [heads_q, rows_q] logsumexp.
template <class Element>
std::size_t output_bytes(const workload& w, bool lse) {
  const std::size_t rows_heads = std::size_t(w.rows_q()) * w.heads_q;
  return rows_heads * w.head_dim * sizeof(Element) + (lse ? rows_heads * sizeof(float) : 0);
}

//! Gives `s` its own o (random, not zero: nothing may pass for an unwritten output) and, with
//! `lse`, its own logsumexp (NaN, not zero), and points s.ov and s.lsev at them.
template <class Element>
void attach_outputs(buffer_set<Element>& s, const workload& w, bool lse, cudaStream_t stream) {
  const std::size_t q_elems = std::size_t(w.rows_q()) * w.heads_q * w.head_dim;
  s.o = std::make_unique<device_buffer>(q_elems * sizeof(Element));
  fill_random<Element>(*s.o, q_elems, stream);
  s.ov = varattn::packed_view<Element>::contiguous(static_cast<Element*>(s.o->ptr), w.rows_q(),
                                                   w.heads_q, w.head_dim);
  if (lse) {  // float32 [heads_q, rows_q], FlashAttention's varlen layout
    s.lse = std::make_unique<device_buffer>(std::size_t(w.rows_q()) * w.heads_q * sizeof(float));
    BENCH_CUDA(cudaMemsetAsync(s.lse->ptr, 0xff, s.lse->bytes, stream));
    s.lsev = varattn::logsumexp_view{static_cast<float*>(s.lse->ptr), w.rows_q()};
  }
}

//! The buffer sets of a forward, or with `gradients` of a backward: d_o, d_q, d_k, d_v too,
//! and the logsumexp whatever the workload says (the backward reads the forward's).
template <class Element>
std::vector<buffer_set<Element>> make_buffer_sets(const workload& w, cudaStream_t stream,
                                                  std::size_t& set_bytes_out,
                                                  bool gradients = false) {
  const std::size_t es = sizeof(Element);
  const std::size_t q_elems = std::size_t(w.rows_q()) * w.heads_q * w.head_dim;
  const std::size_t k_elems = std::size_t(w.rows_k()) * w.heads_kv * w.head_dim;
  const bool lse = w.lse || gradients;
  const std::size_t lse_bytes = lse ? std::size_t(w.rows_q()) * w.heads_q * sizeof(float) : 0;
  // Tensors of q's shape (q, o; d_o, d_q) and as many of k's (k, v; d_k, d_v).
  const std::size_t tensors = gradients ? 4 : 2;
  const std::size_t set_bytes = es * (tensors * q_elems + tensors * k_elems) + lse_bytes;
  set_bytes_out = set_bytes;
  const device_facts dev = query_device();
  // The sets other than the one in use must total at least twice the L2 size.
  std::size_t want = set_bytes == 0 ? 2 : (2 * dev.l2_bytes + set_bytes - 1) / set_bytes + 1;
  want = std::max<std::size_t>(want, 2);
  want = std::min<std::size_t>(want, kMaxBufferSets);
  const std::size_t fit = set_bytes == 0 ? want
                                         : std::size_t(kMaxMemoryFraction * double(dev.free_bytes)) / set_bytes;
  const std::size_t count = std::min(want, fit);
  if (count == 0) {
    throw std::runtime_error("one buffer set needs " + std::to_string(set_bytes >> 20) +
                             " MiB but only " + std::to_string(dev.free_bytes >> 20) + " MiB are free");
  }
  std::vector<buffer_set<Element>> sets(count);
  const auto fill = [&](device_buffer& b, std::size_t elems) {
    fill_random<Element>(b, elems, stream);
  };
  for (auto& s : sets) {
    s.q = std::make_unique<device_buffer>(q_elems * es);
    s.k = std::make_unique<device_buffer>(k_elems * es);
    s.v = std::make_unique<device_buffer>(k_elems * es);
    fill(*s.q, q_elems);
    fill(*s.k, k_elems);
    fill(*s.v, k_elems);
    attach_outputs(s, w, lse, stream);  // o: the next seed, as before
    using view = varattn::packed_view<const Element>;
    s.qv = view::contiguous(static_cast<const Element*>(s.q->ptr), w.rows_q(), w.heads_q, w.head_dim);
    s.kv = view::contiguous(static_cast<const Element*>(s.k->ptr), w.rows_k(), w.heads_kv, w.head_dim);
    s.vv = view::contiguous(static_cast<const Element*>(s.v->ptr), w.rows_k(), w.heads_kv, w.head_dim);
    if (!gradients) continue;
    s.d_o = std::make_unique<device_buffer>(q_elems * es);
    s.d_q = std::make_unique<device_buffer>(q_elems * es);
    s.d_k = std::make_unique<device_buffer>(k_elems * es);
    s.d_v = std::make_unique<device_buffer>(k_elems * es);
    fill(*s.d_o, q_elems);
    fill(*s.d_q, q_elems);  // the gradients random too, as o
    fill(*s.d_k, k_elems);
    fill(*s.d_v, k_elems);
    s.d_ov = view::contiguous(static_cast<const Element*>(s.d_o->ptr), w.rows_q(), w.heads_q,
                              w.head_dim);
    using grad = varattn::packed_view<Element>;
    s.d_qv = grad::contiguous(static_cast<Element*>(s.d_q->ptr), w.rows_q(), w.heads_q, w.head_dim);
    s.d_kv = grad::contiguous(static_cast<Element*>(s.d_k->ptr), w.rows_k(), w.heads_kv,
                              w.head_dim);
    s.d_vv = grad::contiguous(static_cast<Element*>(s.d_v->ptr), w.rows_k(), w.heads_kv,
                              w.head_dim);
  }
  BENCH_CUDA(cudaStreamSynchronize(stream));
  return sets;
}

// ---------------------------------------------------------------------------------------------
// One fixture alive at a time: Google Benchmark calls a benchmark function several times
// (to size the iteration count); setup, warm-up and the capture test run once per benchmark.

struct fixture_base {
  virtual ~fixture_base() = default;
  std::string key;
};

std::unique_ptr<fixture_base> g_fixture;

template <class Fixture, class Make>
Fixture& fixture_for(const std::string& key, Make&& make) {
  if (!g_fixture || g_fixture->key != key) {
    g_fixture.reset();  // free the previous benchmark's buffers first
    std::unique_ptr<Fixture> f = make();
    f->key = key;
    g_fixture = std::move(f);
  }
  return static_cast<Fixture&>(*g_fixture);
}

//! The fixture for `key`, made on first use; on failure the benchmark is skipped with the
//! error (and nullptr returned).
template <class Fixture, class Make>
Fixture* acquire_fixture(benchmark::State& state, const std::string& key, Make&& make) {
  try {
    return &fixture_for<Fixture>(key, make);
  } catch (const std::exception& e) {
    g_fixture.reset();
    std::fprintf(stderr, "[varattn_bench] %s: %s\n", key.c_str(), shorten(e.what(), 400).c_str());
    state.SkipWithError(shorten(e.what(), 400).c_str());
    return nullptr;
  }
}

//! After a timing loop: on failure, drain the stream, drop the fixture and skip.
bool skip_on_failure(benchmark::State& state, cudaStream_t stream, const std::string& failure) {
  if (failure.empty()) return false;
  cudaStreamSynchronize(stream);
  g_fixture.reset();
  state.SkipWithError(shorten(failure, 400).c_str());
  return true;
}

void set_counters(benchmark::State& state, const workload& w, double ms, double flops,
                  double bytes) {
  state.counters["ms"] = ms;
  state.counters["tflops"] = ms > 0 ? flops / (ms * 1e-3) / 1e12 : 0;
  state.counters["gbps"] = ms > 0 ? bytes / (ms * 1e-3) / 1e9 : 0;
  state.counters["flops"] = flops;
  state.counters["bytes"] = bytes;
  state.counters["segments"] = double(w.lengths_q.size());
  state.counters["tokens_q"] = double(w.rows_q());
}

void set_common_counters(benchmark::State& state, const workload& w, int element_size, double ms,
                         double work_multiplier) {
  set_counters(state, w, ms, w.flops() * work_multiplier, w.bytes(element_size) * work_multiplier);
}

// ---------------------------------------------------------------------------------------------
// fwd/ and bwd/: one run (forward or backward) per iteration, on the next buffer set.

std::unique_ptr<device_buffer> upload_offsets(const std::vector<int32_t>& lengths);

//! What fwd/ and bwd/ share: the plan, the buffer sets, and after the warm-up the capture
//! test and graph_ms of one run per set. The derived fixture makes the sets, then calls
//! warm_up_and_capture(); enqueue() is its run.
template <class Element>
struct pass_fixture : fixture_base {
  stream_handle stream;
  std::optional<varattn::plan> plan;
  std::vector<buffer_set<Element>> sets;
  std::size_t set_bytes = 0;
  double host_syncs = -1;  // 0 when the run captures into a graph, -1 when it does not
  std::string capture_error;
  double graph_ms = -1;
  std::size_t next_set = 0;  // rotation continues across Google Benchmark's calls

  //! One run on buffer set `set` (modulo the set count).
  virtual void enqueue(std::size_t set) = 0;

  std::unique_ptr<device_buffer> cu_q, cu_k;  //!< device_built: the offsets it was built from

  pass_fixture(const workload& w, const policy_entry& policy) {
    const varattn::attention_shape shape{w.heads_q, w.heads_kv, w.head_dim};
    if (policy.device_built) {
      cu_q = upload_offsets(w.lengths_q);
      cu_k = upload_offsets(w.lengths_k);
      const auto n = w.lengths_q.size();
      plan = reserve_device_plan(w, options_for(w, policy.kernel));
      varattn::build_on_device(*plan, {static_cast<const int32_t*>(cu_q->ptr), n + 1},
                               {static_cast<const int32_t*>(cu_k->ptr), n + 1}, stream.s);
      plan->check_device_build(stream.s);
      return;
    }
    const varattn::segments segs_q = varattn::segments::from_lengths(w.lengths_q, "cu_seqlens_q");
    const varattn::segments segs_k = varattn::segments::from_lengths(w.lengths_k, "cu_seqlens_k");
    plan.emplace(make_plan(segs_q, segs_k, shape, options_for(w, policy.kernel), policy.policy,
                           stream.s, 0));
  }

  void warm_up_and_capture(const char* pass, const workload& w, const policy_entry& policy,
                           const char* dtype) {
    for (std::size_t i = 0; i < kWarmupRuns * sets.size(); ++i) enqueue(i);
    BENCH_CUDA(cudaStreamSynchronize(stream.s));

    // Host syncs, measured: a run that waits on the host cannot be captured.
    std::vector<std::unique_ptr<graph_exec>> graphs;
    for (std::size_t i = 0; i < sets.size(); ++i) {
      std::string why;
      auto g = capture(stream.s, [&] { enqueue(i); }, why);
      if (!g) {
        capture_error = why;
        graphs.clear();
        break;
      }
      graphs.push_back(std::move(g));
    }
    host_syncs = capture_error.empty() ? 0 : -1;

    // graph_ms: the same run replayed from a graph (no launch overhead on the host), timed
    // settled (settle()), as the eager runs after it are.
    if (!graphs.empty()) {
      const auto replay = [&](std::size_t i) {
        BENCH_CUDA(cudaGraphLaunch(graphs[i % graphs.size()]->exec, stream.s));
      };
      for (std::size_t i = 0; i < 2 * graphs.size(); ++i) replay(i);
      const std::size_t first = settle(stream.s, replay);
      std::vector<event_handle> start(kGraphReplays), stop(kGraphReplays);
      for (int r = 0; r < kGraphReplays; ++r) {
        BENCH_CUDA(cudaEventRecord(start[r].e, stream.s));
        replay(first + r);
        BENCH_CUDA(cudaEventRecord(stop[r].e, stream.s));
      }
      BENCH_CUDA(cudaStreamSynchronize(stream.s));
      std::vector<double> ms;
      for (int r = 0; r < kGraphReplays; ++r) ms.push_back(elapsed_ms(start[r], stop[r]));
      graph_ms = median(ms);
      next_set = first + kGraphReplays;  // the eager runs go on from the next set
    } else {
      next_set = settle(stream.s, [&](std::size_t i) { enqueue(i); });  // for the eager runs
    }
    BENCH_CUDA(cudaStreamSynchronize(stream.s));

    std::fprintf(stderr,
                 "[varattn_bench] %s %s %s %s: %zu segments, %lld q tokens, "
                 "%zu buffer sets x %.1f MiB, graph capture %s\n",
                 pass, w.name.c_str(), policy.name, dtype, w.lengths_q.size(),
                 (long long)w.rows_q(),
                 sets.size(), double(set_bytes) / (1 << 20),
                 capture_error.empty() ? "ok (0 host syncs)" : ("FAILED: " + shorten(capture_error)).c_str());
  }
};

//! How forward() runs `p` given the tile counter (`counter`, forced with `force_persistent`)
//! or none: "persistent" or "one CTA a tile" a launch (a bucketed plan's buckets, "+"
//! between), each fused plan built on the host with its mean key steps a tile.
inline std::string grids_of(const varattn::plan& p, bool counter, bool force_persistent) {
  if (p.policy() == varattn::launch_policy::bucketed) {
    std::string out;
    for (const varattn::plan& b : p.buckets()) {
      out += (out.empty() ? "" : " + ") + grids_of(b, counter, force_persistent);
    }
    return out;
  }
  const bool persistent = counter && p.policy() == varattn::launch_policy::fused &&
                          p.kernel().hopper_tall() && (force_persistent || p.tile_counter());
  std::string out = persistent ? "persistent" : "one CTA a tile";
  if (p.policy() == varattn::launch_policy::fused && !p.built_on_device()) {
    char steps[48];
    std::snprintf(steps, sizeof(steps), " (%.1f key steps a tile)", p.mean_tile_steps());
    out += steps;
  }
  return out;
}

template <class Element>
struct forward_fixture : pass_fixture<Element> {
  bool counter;
  bool force_persistent;

  void enqueue(std::size_t set) override {
    run_forward<Element>(*this->plan, this->sets[set % this->sets.size()], this->stream.s,
                         counter, force_persistent);
  }

  forward_fixture(const workload& w, const policy_entry& policy, const char* dtype)
      : pass_fixture<Element>(w, policy),
        counter(policy.counter),
        force_persistent(policy.force_persistent) {
    std::fprintf(stderr, "[varattn_bench] fwd %s %s %s: %s\n", w.name.c_str(), policy.name, dtype,
                 grids_of(*this->plan, counter, force_persistent).c_str());
    this->sets = make_buffer_sets<Element>(w, this->stream.s, this->set_bytes);
    this->warm_up_and_capture("fwd", w, policy, dtype);
  }
};

//! bwd/: each set's o and logsumexp from one forward, then the timed run is the whole
//! varattn::backward (for fused and bucketed plans its work-list build, then D, dK/dV, dQ).
//! One workspace serves every set: the runs are in order on one stream.
template <class Element>
struct backward_fixture : pass_fixture<Element> {
  std::unique_ptr<device_buffer> workspace;
  std::size_t workspace_bytes = 0;

  varattn::backward_options options;

  void enqueue(std::size_t set) override {
    run_backward<Element>(*this->plan, this->sets[set % this->sets.size()], workspace->ptr,
                          workspace_bytes, this->stream.s, options);
  }

  backward_fixture(const workload& w, const policy_entry& policy, const char* dtype)
      : pass_fixture<Element>(w, policy) {
    options.deterministic = policy.deterministic;
    this->sets = make_buffer_sets<Element>(w, this->stream.s, this->set_bytes, /*gradients=*/true);
    workspace_bytes = varattn::backward_workspace_bytes(*this->plan, options);
    workspace = std::make_unique<device_buffer>(workspace_bytes);
    for (const buffer_set<Element>& s : this->sets) {
      run_forward<Element>(*this->plan, s, this->stream.s);
    }
    this->warm_up_and_capture("bwd", w, policy, dtype);
  }
};

//! The fwd/ or bwd/ benchmark (`pass`) of one workload, policy and dtype: `flops` and `bytes`
//! are one run's.
template <class Fixture>
void bench_pass(benchmark::State& state, const char* pass, const workload& w,
                const policy_entry& policy, const char* dtype, double flops, double bytes) {
  const std::string key = std::string(pass) + "/" + w.name + "/" + policy.name + "/" + dtype;
  auto* f = acquire_fixture<Fixture>(state, key, [&] { return std::make_unique<Fixture>(w, policy, dtype); });
  if (f == nullptr) return;

  // Each iteration enqueues the next run before waiting for the current one, so the device
  // never idles between runs on account of the measurement itself; the reported time of a
  // run is its own start-to-stop span on the stream.
  event_handle start[2], stop[2];
  std::vector<double> samples;
  std::string failure;
  try {
    BENCH_CUDA(cudaEventRecord(start[0].e, f->stream.s));
    f->enqueue(f->next_set++);
    BENCH_CUDA(cudaEventRecord(stop[0].e, f->stream.s));
    int cur = 0;
    for (auto _ : state) {
      const int next = cur ^ 1;
      BENCH_CUDA(cudaEventRecord(start[next].e, f->stream.s));
      f->enqueue(f->next_set++);
      BENCH_CUDA(cudaEventRecord(stop[next].e, f->stream.s));
      BENCH_CUDA(cudaEventSynchronize(stop[cur].e));
      const double ms = elapsed_ms(start[cur], stop[cur]);
      samples.push_back(ms);
      state.SetIterationTime(ms * 1e-3);
      cur = next;
    }
    BENCH_CUDA(cudaStreamSynchronize(f->stream.s));
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (skip_on_failure(state, f->stream.s, failure)) return;
  const double ms = median(samples);
  set_counters(state, w, ms, flops, bytes);
  state.counters["ms_mean"] = mean(samples);
  state.counters["ms_min"] = samples.empty() ? 0 : *std::min_element(samples.begin(), samples.end());
  state.counters["host_syncs"] = f->host_syncs;
  state.counters["graph_ms"] = f->graph_ms;
  state.counters["buffer_sets"] = double(f->sets.size());
  state.SetLabel(f->capture_error.empty() ? "graph capture ok"
                                          : "graph capture FAILED: " + shorten(f->capture_error));
}

template <class Element>
void bench_forward(benchmark::State& state, const workload& w, const policy_entry& policy,
                   const char* dtype) {
  const int es = int(sizeof(Element));
  bench_pass<forward_fixture<Element>>(state, "fwd", w, policy, dtype, w.flops(), w.bytes(es));
}

//! FLOPs = 2.5 x the forward's, 2.5 * 4 * heads_q * d * sum(visible pairs): the backward's
//! five products (q k^T again, dO v^T, P^T dO, dS^T q, dS k) over the forward's two.
//! Bytes: q, k, v, o, d_o and the float32 logsumexp read, dq, dk, dv written (workload.hpp).
template <class Element>
void bench_backward(benchmark::State& state, const workload& w, const policy_entry& policy,
                    const char* dtype) {
  const int es = int(sizeof(Element));
  bench_pass<backward_fixture<Element>>(state, "bwd", w, policy, dtype, w.backward_flops(),
                                        w.backward_bytes(es));
}

// cu_seqlens of `lengths` in device memory, as a model would hold it.
std::unique_ptr<device_buffer> upload_offsets(const std::vector<int32_t>& lengths) {
  std::vector<int32_t> offsets(1, 0);
  for (int32_t len : lengths) offsets.push_back(offsets.back() + len);
  auto b = std::make_unique<device_buffer>(offsets.size() * sizeof(int32_t));
  BENCH_CUDA(cudaMemcpy(b->ptr, offsets.data(), b->bytes, cudaMemcpyHostToDevice));
  return b;
}

// ---------------------------------------------------------------------------------------------
// encoder/<workload>/<policy>/<dtype>: one encoder forward per iteration = segments read from
// a device cu_seqlens (the one host wait), one plan, encoder_layers forwards sharing it.

template <class Element>
struct encoder_fixture : fixture_base {
  stream_handle stream;
  std::unique_ptr<device_buffer> cu_q, cu_k;
  bool same_segments = true;
  varattn::segment_reader reader;
  std::vector<buffer_set<Element>> sets;
  std::size_t set_bytes = 0;
  int layers = 0;
  varattn::launch_policy policy;
  varattn::attention_shape shape;
  varattn::attention_options opts;
  double host_syncs = -1;
  std::string capture_error;
  std::size_t next_set = 0;

  varattn::plan read_and_plan() {
    const std::size_t n = std::size_t(cu_q->bytes / sizeof(int32_t));
    varattn::segments segs_q = reader.read_and_wait(
        varattn::device_span<const int32_t>{static_cast<const int32_t*>(cu_q->ptr), n}, stream.s,
        "cu_seqlens_q");
    if (same_segments) return make_plan(segs_q, segs_q, shape, opts, policy, stream.s, 0);
    varattn::segments segs_k = reader.read_and_wait(
        varattn::device_span<const int32_t>{static_cast<const int32_t*>(cu_k->ptr), n}, stream.s,
        "cu_seqlens_k");
    return make_plan(segs_q, segs_k, shape, opts, policy, stream.s, 0);
  }

  void enqueue_layers(const varattn::plan& p) {
    for (int l = 0; l < layers; ++l) {
      run_forward<Element>(p, sets[next_set++ % sets.size()], stream.s);
    }
  }

  encoder_fixture(const workload& w, const policy_entry& pol, const char* dtype)
      : layers(w.encoder_layers),
        policy(pol.policy),
        shape{w.heads_q, w.heads_kv, w.head_dim},
        opts(options_for(w, pol.kernel)) {
    cu_q = upload_offsets(w.lengths_q);
    same_segments = w.lengths_q == w.lengths_k;
    if (!same_segments) cu_k = upload_offsets(w.lengths_k);
    sets = make_buffer_sets<Element>(w, stream.s, set_bytes);

    varattn::plan p = read_and_plan();  // warm-up: one whole encoder forward
    enqueue_layers(p);
    BENCH_CUDA(cudaStreamSynchronize(stream.s));

    // The read waits by design (1 sync, 2 when q and k segments differ); the layers must not.
    std::string why;
    auto g = capture(stream.s, [&] { enqueue_layers(p); }, why);
    capture_error = why;
    host_syncs = capture_error.empty() ? (same_segments ? 1 : 2) : -1;
    BENCH_CUDA(cudaStreamSynchronize(stream.s));

    std::fprintf(stderr,
                 "[varattn_bench] encoder %s %s %s: %d layers, %zu segments, %zu buffer sets x "
                 "%.1f MiB, layers %s\n",
                 w.name.c_str(), pol.name, dtype, layers, w.lengths_q.size(), sets.size(),
                 double(set_bytes) / (1 << 20),
                 capture_error.empty() ? "captured (no host sync beyond the read)"
                                       : ("FAILED to capture: " + shorten(capture_error)).c_str());
  }
};

template <class Element>
void bench_encoder(benchmark::State& state, const workload& w, const policy_entry& policy,
                   const char* dtype) {
  const std::string key = std::string("encoder/") + w.name + "/" + policy.name + "/" + dtype;
  auto* f = acquire_fixture<encoder_fixture<Element>>(state, key, [&] { return std::make_unique<encoder_fixture<Element>>(w, policy, dtype); });
  if (f == nullptr) return;
  // The read waits for everything queued before it, so iterations cannot overlap: each one
  // is timed from an event recorded before the read to one recorded after the last layer
  // (host time spent in the wait and in plan::make shows up as device idle time).
  std::vector<double> samples;
  const std::string failure = time_iterations(state, f->stream.s, samples, [&] {
    const varattn::plan p = f->read_and_plan();
    f->enqueue_layers(p);
  });
  if (skip_on_failure(state, f->stream.s, failure)) return;
  const double ms = median(samples);
  set_common_counters(state, w, int(sizeof(Element)), ms, double(f->layers));
  state.counters["ms_per_layer"] = ms / f->layers;
  state.counters["layers"] = f->layers;
  state.counters["host_syncs"] = f->host_syncs;
  state.counters["buffer_sets"] = double(f->sets.size());
  state.SetLabel(f->capture_error.empty() ? "layers captured ok"
                                          : "layer capture FAILED: " + shorten(f->capture_error));
}

// ---------------------------------------------------------------------------------------------
// encoder_graph/<workload>/device_plan/<dtype>: the whole encoder forward, plan building
// included, as one CUDA graph: the plan is reserved once (the only allocation, outside the
// graph) and built on the device from the device cu_seqlens, then encoder_layers forwards.
// Captured in global mode, so any host sync would have failed the capture: host_syncs = 0.

//! What encoder_graph/ and encoder_graph_train/ share: the device cu_seqlens, the plan
//! reserved for the device build, and the one graph of build_on_device and the layers.
struct device_plan_graph_fixture : fixture_base {
  stream_handle stream;
  std::unique_ptr<device_buffer> cu_q, cu_k;
  std::optional<varattn::plan> plan;
  std::unique_ptr<graph_exec> graph;  //!< null when the capture failed (capture_error says why)
  std::string capture_error;

  explicit device_plan_graph_fixture(const workload& w) {
    cu_q = upload_offsets(w.lengths_q);
    cu_k = upload_offsets(w.lengths_k);
    plan = reserve_device_plan(w, options_for(w));
  }

  //! build_on_device, then `layers` (enqueued on `stream`): once eagerly (the warm-up; the
  //! device build checked), then captured in global mode into `graph`.
  void capture_with_build(const workload& w, const std::function<void()>& layers) {
    const std::size_t n = w.lengths_q.size() + 1;
    const varattn::device_span<const int32_t> q_span{static_cast<const int32_t*>(cu_q->ptr), n};
    const varattn::device_span<const int32_t> k_span{static_cast<const int32_t*>(cu_k->ptr), n};
    const auto enqueue = [&] {
      varattn::build_on_device(*plan, q_span, k_span, stream.s);
      layers();
    };
    enqueue();  // warm-up, eager
    BENCH_CUDA(cudaStreamSynchronize(stream.s));
    plan->check_device_build(stream.s);
    graph = capture(stream.s, enqueue, capture_error);
    if (graph != nullptr) {
      settle(stream.s, [&](std::size_t) { BENCH_CUDA(cudaGraphLaunch(graph->exec, stream.s)); });
    }
    BENCH_CUDA(cudaStreamSynchronize(stream.s));
  }
};

//! The fixture of `key` (made from `w`; a failed capture fails it), its graph replayed once an
//! iteration: the median ms in `ms`, ms_per_layer, layers and host_syncs set. nullptr when the
//! benchmark was skipped.
template <class Fixture>
Fixture* replay_device_plan_graph(benchmark::State& state, const std::string& key,
                                  const workload& w, double& ms) {
  auto* f = acquire_fixture<Fixture>(state, key, [&] {
    auto made = std::make_unique<Fixture>(w);
    if (made->graph == nullptr) throw std::runtime_error("capture failed: " + made->capture_error);
    return made;
  });
  if (f == nullptr) return nullptr;
  std::vector<double> samples;
  const std::string failure = time_iterations(state, f->stream.s, samples, [&] {
    BENCH_CUDA(cudaGraphLaunch(f->graph->exec, f->stream.s));
  });
  if (skip_on_failure(state, f->stream.s, failure)) return nullptr;
  ms = median(samples);
  state.counters["ms_per_layer"] = ms / w.encoder_layers;
  state.counters["layers"] = w.encoder_layers;
  state.counters["host_syncs"] = 0;  // the global-mode capture succeeded
  return f;
}

template <class Element>
struct encoder_graph_fixture : device_plan_graph_fixture {
  std::vector<buffer_set<Element>> sets;
  std::size_t set_bytes = 0;

  explicit encoder_graph_fixture(const workload& w) : device_plan_graph_fixture(w) {
    sets = make_buffer_sets<Element>(w, stream.s, set_bytes);
    capture_with_build(w, [&] {
      for (int l = 0; l < w.encoder_layers; ++l) {
        run_forward<Element>(*plan, sets[std::size_t(l) % sets.size()], stream.s);
      }
    });
  }
};

template <class Element>
void bench_encoder_graph(benchmark::State& state, const workload& w, const char* dtype) {
  const std::string key = std::string("encoder_graph/") + w.name + "/device_plan/" + dtype;
  double ms = 0;
  using fixture = encoder_graph_fixture<Element>;
  if (replay_device_plan_graph<fixture>(state, key, w, ms) == nullptr) return;
  set_common_counters(state, w, int(sizeof(Element)), ms, double(w.encoder_layers));
  state.SetLabel("plan build + layers captured in one graph");
}

// ---------------------------------------------------------------------------------------------
// encoder_graph_train/<workload>/device_plan/<dtype>: the attention of a training step as one
// CUDA graph: the plan built on the device (as encoder_graph/), encoder_layers forwards that
// write o and the logsumexp, then the layers' backwards in reverse order (default
// backward_options), every one on the same stream, so one workspace of
// backward_workspace_bytes(plan) serves them all.
//
// Memory: every layer keeps its own o and logsumexp (as a training step keeps them for its
// backward). The first layers run on the usual rotated buffer sets (make_buffer_sets with the
// gradients: q, k, v, d_o, d_q, d_k, d_v, o and the logsumexp; enough sets to exceed twice the
// L2, counter buffer_sets); each later layer gets its own o and logsumexp with the inputs and
// gradients of set a % buffer_sets, up to half the free memory left (beyond that, layer l runs
// on slot l % activation_sets). Layers that share a slot share its inputs too, so whatever the
// caps, each backward reads the o and logsumexp its own inputs give.

template <class Element>
struct encoder_graph_train_fixture : device_plan_graph_fixture {
  std::vector<buffer_set<Element>> sets;   //!< the first slots, and every slot's inputs
  std::vector<buffer_set<Element>> extra;  //!< the later slots: own o and lse, views of sets'
  std::vector<const buffer_set<Element>*> slots;  //!< layer l runs on slots[l % slots.size()]
  std::unique_ptr<device_buffer> workspace;
  std::size_t set_bytes = 0, workspace_bytes = 0, slot_bytes = 0;

  const buffer_set<Element>& layer(int l) const { return *slots[std::size_t(l) % slots.size()]; }

  explicit encoder_graph_train_fixture(const workload& w) : device_plan_graph_fixture(w) {
    sets = make_buffer_sets<Element>(w, stream.s, set_bytes, /*gradients=*/true);
    workspace_bytes = varattn::backward_workspace_bytes(*plan);
    workspace = std::make_unique<device_buffer>(workspace_bytes);
    const std::size_t layers = std::size_t(w.encoder_layers);
    for (std::size_t a = 0; a < std::min(layers, sets.size()); ++a) slots.push_back(&sets[a]);
    slot_bytes = output_bytes<Element>(w, /*lse=*/true);
    const std::size_t fit = std::size_t(kMaxMemoryFraction * double(query_device().free_bytes)) /
                            std::max<std::size_t>(slot_bytes, 1);
    extra.resize(std::min(layers - slots.size(), fit));
    for (buffer_set<Element>& s : extra) {
      const buffer_set<Element>& in = sets[slots.size() % sets.size()];
      s.qv = in.qv, s.kv = in.kv, s.vv = in.vv;
      s.d_ov = in.d_ov, s.d_qv = in.d_qv, s.d_kv = in.d_kv, s.d_vv = in.d_vv;
      attach_outputs(s, w, /*lse=*/true, stream.s);
      slots.push_back(&s);
    }
    capture_with_build(w, [&] {
      for (int l = 0; l < w.encoder_layers; ++l) run_forward<Element>(*plan, layer(l), stream.s);
      for (int l = w.encoder_layers - 1; l >= 0; --l) {
        run_backward<Element>(*plan, layer(l), workspace->ptr, workspace_bytes, stream.s);
      }
    });
    std::fprintf(stderr,
                 "[varattn_bench] encoder_graph_train %s: %d layers, %zu segments, %zu buffer "
                 "sets x %.1f MiB, %zu activation sets (%zu more o+lse x %.1f MiB), workspace "
                 "%.1f MiB, %s\n",
                 w.name.c_str(), w.encoder_layers, w.lengths_q.size(), sets.size(),
                 double(set_bytes) / (1 << 20), slots.size(), extra.size(),
                 double(slot_bytes) / (1 << 20),
                 double(workspace_bytes) / (1 << 20),
                 graph ? "captured in one graph (0 host syncs)"
                       : ("FAILED to capture: " + shorten(capture_error)).c_str());
  }
};

//! FLOPs = 3.5 x the forward's a layer (forward 1, backward 2.5); bytes = a layer's forward
//! with the logsumexp written plus its backward (bwd/'s), x layers.
template <class Element>
void bench_encoder_graph_train(benchmark::State& state, const workload& w, const char* dtype) {
  const std::string key = std::string("encoder_graph_train/") + w.name + "/device_plan/" + dtype;
  double ms = 0;
  auto* f = replay_device_plan_graph<encoder_graph_train_fixture<Element>>(state, key, w, ms);
  if (f == nullptr) return;
  const int es = int(sizeof(Element));
  const double layers = double(w.encoder_layers);
  const double lse_written = w.lse ? 0.0 : 4.0 * double(w.rows_q()) * w.heads_q;
  set_counters(state, w, ms, layers * (w.flops() + w.backward_flops()),
               layers * (w.bytes(es) + lse_written + w.backward_bytes(es)));
  state.counters["buffer_sets"] = double(f->sets.size());
  state.counters["activation_sets"] = double(f->slots.size());
  state.SetLabel("plan build + forwards + backwards captured in one graph");
}

// ---------------------------------------------------------------------------------------------
// build/<workload>/device: build_on_device alone (one single-CTA kernel), eager, its cost
// beside the forward's. The plan and the device offsets are made once; every iteration
// rebuilds the list from them. build/<workload>/device_unchanged: the same with
// rebuild::when_changed, as the PyTorch op runs it before each forward: after the first, the
// builder only finds that the buffer holds this list (a model's layers after its first).

struct device_build_fixture : fixture_base {
  stream_handle stream;
  std::unique_ptr<device_buffer> cu_q, cu_k;
  std::optional<varattn::plan> plan;
  std::size_t offsets = 0;

  varattn::rebuild when;

  device_build_fixture(const workload& w, varattn::rebuild when_)
      : offsets(w.lengths_q.size() + 1), when(when_) {
    cu_q = upload_offsets(w.lengths_q);
    cu_k = upload_offsets(w.lengths_k);
    plan = reserve_device_plan(w, options_for(w));
    varattn::build_on_device(*plan, {static_cast<const int32_t*>(cu_q->ptr), offsets},
                             {static_cast<const int32_t*>(cu_k->ptr), offsets}, stream.s);
    plan->check_device_build(stream.s);
    settle(stream.s, [&](std::size_t) { build(); });
  }

  void build() {
    varattn::build_on_device(*plan, {static_cast<const int32_t*>(cu_q->ptr), offsets},
                             {static_cast<const int32_t*>(cu_k->ptr), offsets}, stream.s, when);
  }
};

void bench_device_build(benchmark::State& state, const workload& w, varattn::rebuild when) {
  const bool unchanged = when == varattn::rebuild::when_changed;
  const std::string key = "build/" + w.name + (unchanged ? "/device_unchanged" : "/device");
  auto* f = acquire_fixture<device_build_fixture>(
      state, key, [&] { return std::make_unique<device_build_fixture>(w, when); });
  if (f == nullptr) return;
  std::vector<double> samples;
  const std::string failure = time_iterations(state, f->stream.s, samples, [&] { f->build(); });
  if (skip_on_failure(state, f->stream.s, failure)) return;
  state.counters["ms"] = median(samples);
  state.counters["segments"] = double(w.lengths_q.size());
  state.counters["items"] = double(f->plan->device().capacity);
  state.SetLabel(unchanged ? "build_on_device of an unchanged list (when_changed), eager"
                           : "build_on_device alone, eager");
}

// ---------------------------------------------------------------------------------------------
// Registration.

std::vector<workload> g_workloads;

//! Registers `run` as `name`: manual (CUDA event) time in ms, --varattn_min_time if given.
template <class Run>
void register_timed(const std::string& name, Run&& run) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), std::forward<Run>(run));
  b->UseManualTime()->Unit(benchmark::kMillisecond);
  if (g_options.min_time_s > 0) b->MinTime(g_options.min_time_s);
}

//! The group "probe" (gen_workloads.py): workloads kept for one measurement of the backward,
//! registered as bwd/ alone, so that no default run (run_on_gpu.sh's fwd/ and build/ rows)
//! times them; a --benchmark_filter naming them picks them.
bool backward_only(const workload& w) { return w.group == "probe"; }

template <class Element>
void register_dtype(const char* dtype) {
  for (const workload& w : g_workloads) {
    if (backward_only(w)) continue;
    for (const policy_entry& policy : kPolicies) {
      if (!policy.forward) continue;
      const std::string fwd = std::string("fwd/") + w.name + "/" + policy.name + "/" + dtype;
      register_timed(fwd, [&w, &policy, dtype](benchmark::State& s) {
        bench_forward<Element>(s, w, policy, dtype);
      });
      if (w.encoder_layers > 0 && policy.encoder) {
        const std::string enc = std::string("encoder/") + w.name + "/" + policy.name + "/" + dtype;
        register_timed(enc, [&w, &policy, dtype](benchmark::State& s) {
          bench_encoder<Element>(s, w, policy, dtype);
        });
      }
    }
    if (w.encoder_layers > 0) {
      const std::string name = std::string("encoder_graph/") + w.name + "/device_plan/" + dtype;
      register_timed(name, [&w, dtype](benchmark::State& s) {
        bench_encoder_graph<Element>(s, w, dtype);
      });
    }
  }
}

//! encoder_graph_train/<workload>/device_plan/<dtype> for every workload with encoder layers.
template <class Element>
void register_training(const char* dtype) {
  for (const workload& w : g_workloads) {
    if (w.encoder_layers <= 0) continue;
    const std::string name = std::string("encoder_graph_train/") + w.name + "/device_plan/" + dtype;
    register_timed(name, [&w, dtype](benchmark::State& s) {
      bench_encoder_graph_train<Element>(s, w, dtype);
    });
  }
}

//! bwd/<workload>/<policy>/<dtype> for every workload (the backward takes every option the
//! workloads use: GQA, causal, windows, softcap, len_q != len_k, head dims to 256) and every
//! policy but those marked fwd only.
template <class Element>
void register_backward(const char* dtype) {
  for (const workload& w : g_workloads) {
    for (const policy_entry& policy : kPolicies) {
      if (!policy.backward) continue;
      const std::string bwd = std::string("bwd/") + w.name + "/" + policy.name + "/" + dtype;
      register_timed(bwd, [&w, &policy, dtype](benchmark::State& s) {
        bench_backward<Element>(s, w, policy, dtype);
      });
    }
  }
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin <= s.size()) {
    const std::size_t end = s.find(sep, begin);
    const std::string item = s.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (!item.empty()) out.push_back(item);
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

//! Takes the --varattn_* flags out of argv (Google Benchmark rejects flags it does not know).
//! The whole of `text` as a number; NaN (which every range check refuses) when it is empty or
//! has anything after the number.
double number_or_nan(const std::string& text) {
  char* end = nullptr;
  const double x = std::strtod(text.c_str(), &end);
  return text.empty() || *end != '\0' ? std::nan("") : x;
}

bool parse_own_flags(int& argc, char** argv, options& opt, std::string& error) {
  if (const char* env = std::getenv("VARATTN_WORKLOADS"); env != nullptr && *env != '\0') {
    std::fprintf(stderr, "varattn_bench: VARATTN_WORKLOADS is ignored: the workloads are compiled "
                         "in (bench/workloads_data.hpp)\n");
  }
  opt.seed = std::random_device{}();
  opt.seed = (opt.seed << 32) ^ uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value_of = [&](const char* flag) -> std::optional<std::string> {
      const std::string prefix = std::string(flag) + "=";
      if (arg.compare(0, prefix.size(), prefix) == 0) return arg.substr(prefix.size());
      return std::nullopt;
    };
    if (arg.compare(0, 19, "--varattn_workloads") == 0) {
      error = "--varattn_workloads is gone: the workloads are compiled in (edit "
              "bench/gen_workloads.py, run it, rebuild); select with --benchmark_filter";
      return false;
    } else if (auto v = value_of("--varattn_dtype")) {
      opt.dtypes = *v == "all" ? std::vector<std::string>{"bf16", "fp16"} : split(*v, ',');
      for (const std::string& d : opt.dtypes) {
        if (d != "bf16" && d != "fp16") {
          error = "--varattn_dtype: '" + d + "' is not bf16, fp16 or all";
          return false;
        }
      }
    } else if (auto v = value_of("--varattn_seed")) {
      opt.seed = std::strtoull(v->c_str(), nullptr, 0);
    } else if (auto v = value_of("--varattn_min_time")) {
      // Set per benchmark through MinTime(): the --benchmark_min_time syntax differs
      // between Google Benchmark 1.7 and 1.8.
      opt.min_time_s = number_or_nan(*v);
      if (!(opt.min_time_s > 0 && opt.min_time_s <= 3600)) {
        error = "--varattn_min_time: '" + *v + "' is not a number of seconds above 0, at most 3600";
        return false;
      }
    } else if (auto v = value_of("--varattn_settle")) {
      opt.settle_s = number_or_nan(*v);
      if (!(opt.settle_s >= 0 && opt.settle_s <= 60)) {
        error = "--varattn_settle: '" + *v + "' is not a number of seconds from 0 to 60";
        return false;
      }
    } else if (arg == "--varattn_list") {
      opt.list = true;
    } else if (arg.compare(0, 10, "--varattn_") == 0) {
      error = "unknown flag " + arg +
              " (known: --varattn_dtype=bf16|fp16|all, --varattn_seed=N, "
              "--varattn_min_time=SECONDS, --varattn_settle=SECONDS, --varattn_list)";
      return false;
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  argv[argc] = nullptr;
  return true;
}

bool wants_listing(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--benchmark_list_tests" || arg == "--benchmark_list_tests=true" ||
        arg == "--benchmark_list_tests=1") {
      return true;
    }
  }
  return false;
}

void print_workloads() {
  std::printf("workloads: bench/workloads_data.hpp, from bench/workloads.json sha256 %s\n",
              kWorkloadsJsonSha256);
  // gen_workloads.py --check-bench reads these 14 columns (window as "left,right").
  std::printf("%-24s %-7s %6s %9s %9s %5s %5s %4s %6s %11s %7s %3s %11s %10s\n", "name", "group",
              "segs", "tokens_q", "tokens_k", "hq", "hkv", "d", "causal", "window", "softcap",
              "lse", "GFLOP", "MB(bf16)");
  for (const workload& w : g_workloads) {
    const std::string window = std::to_string(w.window_left) + "," + std::to_string(w.window_right);
    std::printf("%-24s %-7s %6zu %9lld %9lld %5d %5d %4d %6s %11s %7g %3s %11.3f %10.3f\n",
                w.name.c_str(), w.group.c_str(), w.lengths_q.size(), (long long)w.rows_q(),
                (long long)w.rows_k(), w.heads_q, w.heads_kv, w.head_dim, w.causal ? "yes" : "no",
                window.c_str(), double(w.softcap), w.lse ? "yes" : "no", w.flops() / 1e9,
                w.bytes(2) / 1e6);
  }
}

}  // namespace varattn_bench

int main(int argc, char** argv) {
  using namespace varattn_bench;
  std::string error;
  if (!parse_own_flags(argc, argv, g_options, error)) {
    std::fprintf(stderr, "varattn_bench: %s\n", error.c_str());
    return 2;
  }
  const bool listing = wants_listing(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

  g_workloads = builtin_workloads();
  if (g_options.list) {
    print_workloads();
    return 0;
  }
  for (const std::string& d : g_options.dtypes) {
    if (d == "bf16") register_dtype<__nv_bfloat16>("bf16");
    if (d == "fp16") register_dtype<__half>("fp16");
  }
  // bwd/ after the forwards: the benchmarks before them run in the order, and on the seeds,
  // they had without them.
  for (const std::string& d : g_options.dtypes) {
    if (d == "bf16") register_backward<__nv_bfloat16>("bf16");
    if (d == "fp16") register_backward<__half>("fp16");
  }
  // encoder_graph_train/ after them, for the same reason
  // (--benchmark_filter=^encoder_graph_train/ picks them).
  for (const std::string& d : g_options.dtypes) {
    if (d == "bf16") register_training<__nv_bfloat16>("bf16");
    if (d == "fp16") register_training<__half>("fp16");
  }
  // build/ last: the device's list build alone (no element type).
  for (const workload& w : g_workloads) {
    if (backward_only(w)) continue;
    register_timed("build/" + w.name + "/device", [&w](benchmark::State& s) {
      bench_device_build(s, w, varattn::rebuild::always);
    });
    register_timed("build/" + w.name + "/device_unchanged", [&w](benchmark::State& s) {
      bench_device_build(s, w, varattn::rebuild::when_changed);
    });
  }

  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (!listing && (status != cudaSuccess || devices == 0)) {
    std::fprintf(stderr, "varattn_bench: no CUDA device (%s); nothing measured\n",
                 status != cudaSuccess ? cudaGetErrorString(status) : "device count is 0");
    return 0;
  }
  if (!listing) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
      benchmark::AddCustomContext("device", prop.name);
      benchmark::AddCustomContext("compute_capability",
                                  std::to_string(prop.major) + "." + std::to_string(prop.minor));
      benchmark::AddCustomContext("sm_count", std::to_string(prop.multiProcessorCount));
      benchmark::AddCustomContext("l2_bytes", std::to_string(prop.l2CacheSize));
    }
    benchmark::AddCustomContext("workloads", "bench/workloads_data.hpp");
    benchmark::AddCustomContext("workloads_sha256", kWorkloadsJsonSha256);
    benchmark::AddCustomContext("seed", std::to_string(g_options.seed));
    std::fprintf(stderr, "[varattn_bench] %s, workloads.json sha256 %.12s, seed %llu\n", prop.name,
                 kWorkloadsJsonSha256, (unsigned long long)g_options.seed);
    bench_scratch();  // allocated here: never under a benchmark's graph capture
  }
  benchmark::RunSpecifiedBenchmarks();
  g_fixture.reset();
  benchmark::Shutdown();
  return 0;
}
