// SPDX-License-Identifier: Apache-2.0
// Per-warpgroup clock64 stamps of the Hopper forward's ping-pong on long-d128 (one 16,384-row
// segment, 16 q / 16 kv heads, d128, bf16, non-causal, fused plan with the tile counter: the
// persistent grid the benchmark's fwd/long-d128/fused/bf16 runs). See forward_turn_stamps.md.
//
// With VARATTN_TURN_STAMPS defined (and forward_turn_stamps.patch applied) it writes the
// stamps of the first turn_stamps::kCtas CTAs' first tile as CSV on stdout:
//   cta,smid,group,step,event,cycles,query0,head
// (group: 0, 1 = consumer warpgroups, "producer"; cycles from the CTA's first stamp; query0 and
// head: the CTA's first tile). Without the macro it only times the forward (stderr), so the two
// builds measure the instrumentation's cost on the same run.

#include <varattn/varattn.hpp>

#include "../../examples/example_common.cuh"  // random bf16 data made on the device

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

#define CHECK(call)                                                                     \
  do {                                                                                  \
    const cudaError_t err_ = (call);                                                    \
    if (err_ != cudaSuccess) {                                                          \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                \
                   cudaGetErrorString(err_));                                           \
      std::exit(1);                                                                     \
    }                                                                                   \
  } while (0)

using example::element;

int main() try {
  constexpr int32_t kRows = 16384;
  const varattn::attention_shape shape{/*heads_q=*/16, /*heads_kv=*/16, /*head_dim=*/128};
  const varattn::attention_options options{};  // non-causal, no window, no softcap

  int device = 0;
  CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, device));
  std::fprintf(stderr, "device: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor,
               prop.multiProcessorCount);

  cudaStream_t stream = nullptr;
  CHECK(cudaStreamCreate(&stream));
  const varattn::segments segs = varattn::segments::from_lengths({kRows}, "cu_seqlens");
  const varattn::plan plan = varattn::plan::make(segs, segs, shape, options,
                                                 varattn::launch_policy::fused, stream);
  const varattn::kernel_config& config = plan.kernel();
  std::fprintf(stderr, "plan: %s kernel, tile %d x %d, %d stages\n",
               config.family == varattn::kernel_family::sm90 ? "sm90" : "sm80",
               config.tile.block_m, config.tile.block_n, config.stages);
  if (config.family != varattn::kernel_family::sm90) {
    std::fprintf(stderr, "the plan did not select the Hopper kernel: nothing to stamp\n");
    return 1;
  }

  const int64_t elements = int64_t(kRows) * shape.heads_q * shape.head_dim;
  const auto q_data = example::random_tensor(std::size_t(elements), 1, stream);
  const auto k_data = example::random_tensor(std::size_t(elements), 2, stream);
  const auto v_data = example::random_tensor(std::size_t(elements), 3, stream);
  const element* q = thrust::raw_pointer_cast(q_data.data());
  const element* k = thrust::raw_pointer_cast(k_data.data());
  const element* v = thrust::raw_pointer_cast(v_data.data());
  element* o = nullptr;
  CHECK(cudaMalloc(&o, elements * sizeof(element)));
  // The tile counter (varattn::forward_scratch): with it the fused launch is the persistent
  // grid (one CTA an SM) that the benchmark's `fused` policy measures.
  void* scratch = nullptr;
  CHECK(cudaMalloc(&scratch, varattn::kForwardScratchBytes));
  CHECK(cudaMemset(scratch, 0, varattn::kForwardScratchBytes));
  CHECK(cudaDeviceSynchronize());

  using const_view = varattn::packed_view<const element>;
  const auto qv = const_view::contiguous(q, kRows, shape.heads_q, shape.head_dim);
  const auto kv = const_view::contiguous(k, kRows, shape.heads_kv, shape.head_dim);
  const auto vv = const_view::contiguous(v, kRows, shape.heads_kv, shape.head_dim);
  const auto ov =
      varattn::packed_view<element>::contiguous(o, kRows, shape.heads_q, shape.head_dim);
  const auto run = [&] { varattn::forward<element>(plan, qv, kv, vv, ov, stream, {scratch}); };

  // Warm-up (clocks up, code loaded, L2 and TLB in their steady state), then a timed batch.
  for (int i = 0; i < 5; ++i) run();
  CHECK(cudaStreamSynchronize(stream));
  constexpr int kTimed = 20;
  cudaEvent_t start = nullptr, stop = nullptr;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  CHECK(cudaEventRecord(start, stream));
  for (int i = 0; i < kTimed; ++i) run();
  CHECK(cudaEventRecord(stop, stream));
  CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, start, stop));
#if defined(VARATTN_TURN_STAMPS)
  const char* build = "stamped";
#else
  const char* build = "plain";
#endif
  std::fprintf(stderr, "forward (%s build): %.4f ms a run (mean of %d)\n", build, ms / kTimed,
               kTimed);

#if defined(VARATTN_TURN_STAMPS)
  namespace ts = varattn::detail::sm90::turn_stamps;
  using record = ts::cta_record;
  // The timed runs wrote the buffer too: zero it, then stamp one run alone.
  std::vector<record> host(ts::kCtas);
  std::fill(reinterpret_cast<unsigned char*>(host.data()),
            reinterpret_cast<unsigned char*>(host.data() + host.size()), 0);
  CHECK(cudaMemcpyToSymbol(ts::buffer, host.data(), sizeof(record) * ts::kCtas));
  run();
  CHECK(cudaStreamSynchronize(stream));
  CHECK(cudaMemcpyFromSymbol(host.data(), ts::buffer, sizeof(record) * ts::kCtas));

  std::printf("cta,smid,group,step,event,cycles,query0,head\n");
  for (int c = 0; c < ts::kCtas; ++c) {
    const record& r = host[c];
    long long first = 0;  // the CTA's first stamp (one SM's clock: comparable within a CTA)
    for (int role = 0; role < ts::kRoles; ++role)
      for (int s = 0; s < ts::kSteps; ++s)
        for (int e = 0; e < ts::kEvents; ++e) {
          const long long t = r.t[role][s][e];
          if (t != 0 && (first == 0 || t < first)) first = t;
        }
    if (first == 0) {
      std::fprintf(stderr, "cta %d: no stamps (fewer CTAs than kCtas, or no tile)\n", c);
      continue;
    }
    std::fprintf(stderr,
                 "cta %d: sm %d, tile query0 %d head %d, %d steps; warpgroup steps %d/%d, "
                 "ping-pong %d/%d\n",
                 c, r.smid, r.query0, r.head, r.kv_steps, r.group_steps[0], r.group_steps[1],
                 r.pingpong[0], r.pingpong[1]);
    for (int role = 0; role < ts::kRoles; ++role)
      for (int s = 0; s < ts::kSteps; ++s)
        for (int e = 0; e < ts::kEvents; ++e) {
          const long long t = r.t[role][s][e];
          if (t == 0) continue;
          if (role == ts::kProducer) {
            std::printf("%d,%d,producer,%d,%s,%lld,%d,%d\n", c, r.smid, s, ts::kEventNames[e],
                        t - first, r.query0, r.head);
          } else {
            std::printf("%d,%d,%d,%d,%s,%lld,%d,%d\n", c, r.smid, role, s, ts::kEventNames[e],
                        t - first, r.query0, r.head);
          }
        }
  }
#endif

  CHECK(cudaEventDestroy(start));
  CHECK(cudaEventDestroy(stop));
  CHECK(cudaFree(scratch));
  CHECK(cudaFree(o));
  CHECK(cudaStreamDestroy(stream));
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "forward_turn_stamps: %s\n", e.what());
  return 1;
}
