// SPDX-License-Identifier: Apache-2.0
// segment_reader: one copy into its reused pinned buffer, a wait on its own event only (never
// the stream or the device), and its buffer and event released exactly once.
#include <doctest/doctest.h>

#include "stub_checks.hpp"

#include <cstdint>
#include <cstring>
#include <utility>
#include <varattn/device_segments.hpp>
#include <vector>

using stub::call_kind;

namespace {

const cudaStream_t stream_a = stub::fake_stream(1);

// Offsets in stub "device" memory (malloc-backed), freed with the runtime's cudaFree.
struct device_offsets {
  explicit device_offsets(const std::vector<int32_t>& values) : size(values.size()) {
    REQUIRE(cudaMalloc(&data, size * sizeof(int32_t)) == cudaSuccess);
    std::memcpy(data, values.data(), size * sizeof(int32_t));
  }
  ~device_offsets() { cudaFree(data); }
  device_offsets(const device_offsets&) = delete;
  device_offsets& operator=(const device_offsets&) = delete;
  varattn::device_span<const int32_t> span() const {
    return {static_cast<const int32_t*>(data), size};
  }
  void* data = nullptr;
  std::size_t size;
};

}  // namespace

TEST_CASE("segment_reader copies once into pinned memory and waits on its event alone") {
  const stub::clean_scope scope;
  const device_offsets offsets({0, 5, 5, 12});
  varattn::segment_reader reader;
  stub::reset();
  const varattn::segments segs = reader.read_and_wait(offsets.span(), stream_a, "cu_seqlens_q");
  CHECK(segs.offsets() == std::vector<int32_t>{0, 5, 5, 12});
  const auto copies = stub::calls_of(call_kind::memcpy_async);
  REQUIRE(copies.size() == 1);
  CHECK(copies[0].copy_kind == cudaMemcpyDeviceToHost);
  CHECK(copies[0].stream == stream_a);
  CHECK(copies[0].src == offsets.data);
  CHECK(copies[0].bytes == 4 * sizeof(int32_t));
  CHECK(stub::is_pinned(copies[0].ptr, copies[0].bytes));
  const auto records = stub::calls_of(call_kind::event_record);
  const auto waits = stub::calls_of(call_kind::event_synchronize);
  REQUIRE(records.size() == 1);
  REQUIRE(waits.size() == 1);
  CHECK(records[0].stream == stream_a);
  CHECK(waits[0].event == records[0].event);
  CHECK(stub::count(call_kind::stream_synchronize) == 0);

  // A second read of no more offsets reuses the buffer and the event.
  stub::reset();
  const device_offsets other({0, 1});
  stub::reset();
  CHECK(reader.read_and_wait(other.span(), stream_a).total() == 1);
  CHECK(stub::count(call_kind::malloc_host) == 0);
  CHECK(stub::count(call_kind::event_create) == 0);
  CHECK(stub::calls_of(call_kind::memcpy_async).at(0).ptr == copies[0].ptr);

  // Moved: one owner, so one release each.
  varattn::segment_reader moved = std::move(reader);
  CHECK(moved.capacity() >= 4);
}

TEST_CASE("segment_reader rejects a bad span before any CUDA call") {
  const stub::clean_scope scope;
  varattn::segment_reader reader;
  CHECK_THROWS_WITH_AS(reader.read_and_wait({nullptr, 3}, stream_a, "cu_seqlens_k"),
                       "cu_seqlens_k is a null pointer", varattn::error);
  const int32_t dummy = 0;
  CHECK_THROWS_WITH_AS(reader.read_and_wait({&dummy, 0}, stream_a, "cu_seqlens_k"),
                       "cu_seqlens_k is empty: it needs at least one offset (0)", varattn::error);
  CHECK(stub::calls().empty());
}
