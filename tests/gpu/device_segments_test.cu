// SPDX-License-Identifier: Apache-2.0
// Segments from a device cu_seqlens: one copy into a reused pinned buffer and a wait on
// that copy alone; bad device offsets and bad views fail before any write.
#include <chrono>
#include <vector>

#include "harness.cuh"

namespace {

__global__ void spin(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {
  }
}


}  // namespace

TEST_CASE("segment_reader reads device offsets equal to the host table") {
  const std::vector<int32_t> cu = {0, 3, 3, 70, 71, 200};
  thrust::device_vector<int32_t> d_cu(cu.begin(), cu.end());
  test::stream_guard s;
  varattn::segment_reader reader;
  const auto segs = reader.read_and_wait({thrust::raw_pointer_cast(d_cu.data()), d_cu.size()},
                                         s.stream, "cu_seqlens_q");
  const auto expected = varattn::segments::from_host(cu);
  CHECK(std::equal(segs.begin(), segs.end(), expected.begin(), expected.end()));
  const std::size_t capacity = reader.capacity();
  CHECK(capacity >= cu.size());

  // The pinned buffer is reused: a second read of no more offsets does not grow it.
  const auto again = reader.read_and_wait({thrust::raw_pointer_cast(d_cu.data()), 3}, s.stream);
  CHECK(again.size() == 2);
  CHECK(reader.capacity() == capacity);
}

TEST_CASE("segment_reader waits for its copy only, not for the whole device") {
  const std::vector<int32_t> cu = {0, 10, 20};
  thrust::device_vector<int32_t> d_cu(cu.begin(), cu.end());
  varattn::segment_reader reader;
  test::stream_guard busy, mine;
  (void)reader.read_and_wait({thrust::raw_pointer_cast(d_cu.data()), d_cu.size()}, mine.stream);

  int clock_khz = 0;
  VARATTN_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
  const long long cycles = static_cast<long long>(clock_khz) * 1000;  // about 1 s
  spin<<<1, 1, 0, busy.stream>>>(cycles);
  VARATTN_CUDA_CHECK(cudaGetLastError());
  const auto start = std::chrono::steady_clock::now();
  const auto segs =
      reader.read_and_wait({thrust::raw_pointer_cast(d_cu.data()), d_cu.size()}, mine.stream);
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const bool busy_still_running = cudaStreamQuery(busy.stream) == cudaErrorNotReady;
  MESSAGE("read_and_wait took ", waited * 1e3, " ms while another stream spun for ~1 s");
  CHECK(segs.size() == 2);
  CHECK(busy_still_running);
  CHECK(waited < 0.25);
  VARATTN_CUDA_CHECK(cudaStreamSynchronize(busy.stream));
}

TEST_CASE("bad device offsets are rejected with the argument and the values") {
  varattn::segment_reader reader;
  test::stream_guard s;
  thrust::device_vector<int32_t> decreasing(std::vector<int32_t>{0, 5, 3});
  CHECK_THROWS_WITH_AS(
      reader.read_and_wait({thrust::raw_pointer_cast(decreasing.data()), 3}, s.stream),
      "cu_seqlens[2] = 3 < cu_seqlens[1] = 5", varattn::error);
  thrust::device_vector<int32_t> nonzero(std::vector<int32_t>{4, 5});
  CHECK_THROWS_WITH_AS(
      reader.read_and_wait({thrust::raw_pointer_cast(nonzero.data()), 2}, s.stream, "cu_seqlens_k"),
      "cu_seqlens_k[0] = 4 != 0", varattn::error);
  CHECK_THROWS_WITH_AS(reader.read_and_wait({nullptr, 2}, s.stream), "cu_seqlens is a null pointer",
                       varattn::error);
  CHECK_THROWS_WITH_AS(
      reader.read_and_wait({thrust::raw_pointer_cast(decreasing.data()), 0}, s.stream),
      "cu_seqlens is empty: it needs at least one offset (0)", varattn::error);
}

TEST_CASE("a forward with a bad view throws before launching and leaves o untouched") {
  if (!test::instantiated({64, 128})) return;
  using element = __half;
  using view = varattn::packed_view<element>;
  const auto segs = varattn::segments::from_lengths({10, 20});
  const auto plan = varattn::plan::make(segs, segs, {2, 2, 64});
  const std::size_t n = 30 * 2 * 64;
  thrust::device_vector<element> q(n + 8), out(n);
  element* qp = thrust::raw_pointer_cast(q.data());
  element* op = thrust::raw_pointer_cast(out.data());
  VARATTN_CUDA_CHECK(cudaMemset(op, test::kPoison, n * sizeof(element)));
  VARATTN_CUDA_CHECK(cudaMemset(qp, 0, (n + 8) * sizeof(element)));
  const view good = view::contiguous(qp, 30, 2, 64);
  const view shifted = view::contiguous(qp + 4, 30, 2, 64);  // 8-byte aligned only
  const view out_view = view::contiguous(op, 30, 2, 64);

  CHECK_THROWS_AS(varattn::forward<element>(plan, shifted, good, good, out_view), varattn::error);
  CHECK_THROWS_WITH_AS(
      varattn::forward<element>(plan, good, good, view::contiguous(qp, 29, 2, 64), out_view),
      "v.rows = 29 != cu_seqlens[2] = 30", varattn::error);
  const auto wrong_dim = varattn::plan::make(segs, segs, {2, 2, 128});
  CHECK_THROWS_WITH_AS(varattn::forward<element>(wrong_dim, good, good, good, out_view),
                       "q.head_dim = 64 != 128", varattn::error);
  VARATTN_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<unsigned char> bytes(n * sizeof(element));
  VARATTN_CUDA_CHECK(cudaMemcpy(bytes.data(), op, bytes.size(), cudaMemcpyDeviceToHost));
  CHECK(std::count(bytes.begin(), bytes.end(), test::kPoison) == static_cast<long>(bytes.size()));
}
