// SPDX-License-Identifier: Apache-2.0
#pragma once
//! \file mbarrier.cuh
//! Shared-memory barriers with a phase bit (sm_90): the producer/consumer handshake of the
//! Hopper kernel; and named barriers, the consumers' turn-taking. A barrier completes a phase once
//! `count` threads have arrived; waiting on parity P returns once the phase with parity P has
//! completed.

#include <cstdint>

namespace varattn::detail::sm90 {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ void mbarrier_init(uint64_t* barrier, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(shared_address(barrier)),
               "r"(count)
               : "memory");
}

//! Makes this thread's mbarrier_init visible to the copy engine's completions (the async
//! proxy), ahead of the CTA barrier that publishes them to the other threads.
__device__ __forceinline__ void mbarrier_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}

//! Arrives (release semantics at CTA scope: this thread's earlier writes are visible to
//! threads that see the phase complete), on a barrier's shared address (shared_address()).
//! A loop may keep that address in a register: from the pointer, ptxas re-derived a static
//! barrier's address (S2UR of the CTA id, ULEA) at every use.
__device__ __forceinline__ void mbarrier_arrive(uint32_t barrier) {
  asm volatile("{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(
                   barrier)
               : "memory");
}

__device__ __forceinline__ void mbarrier_arrive(uint64_t* barrier) {
  mbarrier_arrive(shared_address(barrier));
}

//! mbarrier_arrive as `count` arrivals at once (a thread that arrives for others, after
//! waiting for what they would have waited for).
__device__ __forceinline__ void mbarrier_arrive(uint64_t* barrier, uint32_t count) {
  asm volatile("{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, [%0], %1;\n}\n" ::"r"(
                   shared_address(barrier)),
               "r"(count)
               : "memory");
}

//! mbarrier_arrive by the threads where `arrive` holds, the address computed by all: under an
//! `if (arrive)` ptxas computed a uniform address per thread, in vector registers (the
//! forward's stage releases, s36 SASS).
__device__ __forceinline__ void mbarrier_arrive_if(uint64_t* barrier, bool arrive) {
  asm volatile(
      "{\n.reg .pred p;\n.reg .b64 state;\nsetp.ne.b32 p, %1, 0;\n"
      "@p mbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(shared_address(barrier)),
      "r"(static_cast<uint32_t>(arrive))
      : "memory");
}

//! Arrives after announcing `bytes` that asynchronous copies will complete on the barrier
//! (tma_load.cuh): the phase completes once every arrival and all those bytes are in.
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint64_t* barrier, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(
                   shared_address(barrier)),
               "r"(bytes)
               : "memory");
}

//! Announces `bytes` that asynchronous copies will complete on the barrier, without arriving
//! (the thread arrives later, with the other threads whose copies the phase also waits for).
__device__ __forceinline__ void mbarrier_expect_tx(uint64_t* barrier, uint32_t bytes) {
  asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(
                   shared_address(barrier)),
               "r"(bytes)
               : "memory");
}

//! Blocks until the phase with parity `parity` has completed (acquire semantics); the
//! barrier by its shared address as mbarrier_arrive's.
__device__ __forceinline__ void mbarrier_wait(uint32_t barrier, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\n"
      "wait_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra wait_%=;\n}\n" ::"r"(barrier),
      "r"(parity)
      : "memory");
}

__device__ __forceinline__ void mbarrier_wait(uint64_t* barrier, uint32_t parity) {
  mbarrier_wait(shared_address(barrier), parity);
}

//! mbarrier_wait for a thread with nothing else to do meanwhile (a producer waiting for a
//! free stage): the suspend-time hint lets the hardware park the warp until the phase
//! completes (or 10 ms pass) instead of re-polling every few cycles, each poll an issue slot
//! of the scheduler it shares with consumer warps. In one ncu run of the long-d128 forward
//! (H200) the plain wait polled ~200 times a wait, 10% of the kernel's instructions; the A/B
//! gain was small (0 to -0.9%, bench/NOTES.md sixteenth session).
__device__ __forceinline__ void mbarrier_wait_parked(uint64_t* barrier, uint32_t parity) {
  constexpr uint32_t kSuspendNs = 10000000;
  asm volatile(
      "{\n.reg .pred done;\n"
      "wait_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1, %2;\n"
      "@!done bra wait_%=;\n}\n" ::"r"(shared_address(barrier)),
      "r"(parity), "r"(kSuspendNs)
      : "memory");
}

//! Named barriers (ids 1-15; 0 is __syncthreads): `threads` in all, some syncing (they wait),
//! some arriving (they do not).
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace varattn::detail::sm90
