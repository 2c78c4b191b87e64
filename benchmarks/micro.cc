// Copyright 2026 The unidist-cpp Authors.
//
// //benchmarks:micro — Google Benchmark of the building blocks every task goes through:
// the value codec, frame checksums and framing (against memcpy of the same sizes, the
// cost of copying a frame once), DataID generation, the object store, and absl::Mutex (Debian's
// Abseil is built without NDEBUG, so its deadlock detector runs on every lock unless turned off).
//
//   ./bazelw run //benchmarks:micro
//   ./bazelw run //benchmarks:micro -- --benchmark_filter=Codec

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "object_store/object_store.h"
#include "unidist/common/codec.h"
#include "unidist/common/data_id.h"

namespace unidist {
namespace {

std::vector<double> Doubles(int64_t n) {
  std::vector<double> values(static_cast<size_t>(n));
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.5 * static_cast<double>(i);
  return values;
}

void BM_CodecEncodeDoubles(benchmark::State& state) {
  const std::vector<double> values = Doubles(state.range(0));
  for (auto _ : state) {
    std::string bytes = Encode(values);
    benchmark::DoNotOptimize(bytes.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0) *
                          static_cast<int64_t>(sizeof(double)));
}
BENCHMARK(BM_CodecEncodeDoubles)->Arg(1)->Arg(1 << 10)->Arg(1 << 20);

void BM_CodecDecodeDoubles(benchmark::State& state) {
  const std::string bytes = Encode(Doubles(state.range(0)));
  for (auto _ : state) {
    absl::StatusOr<std::vector<double>> values = Decode<std::vector<double>>(bytes);
    if (!values.ok()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(values->data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0) *
                          static_cast<int64_t>(sizeof(double)));
}
BENCHMARK(BM_CodecDecodeDoubles)->Arg(1)->Arg(1 << 10)->Arg(1 << 20);

// The body checksum of a frame of state.range(0) bytes (framing.h: XXH3, low 32 bits).
void BM_FrameChecksum(benchmark::State& state) {
  const std::string bytes(static_cast<size_t>(state.range(0)), 'x');
  for (auto _ : state) benchmark::DoNotOptimize(FrameChecksum(bytes));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_FrameChecksum)->Arg(100)->Arg(64 << 10)->Arg(1 << 20)->Arg(64 << 20);

// What the checksum is measured against: one copy of the same bytes.
void BM_Memcpy(benchmark::State& state) {
  const std::string from(static_cast<size_t>(state.range(0)), 'x');
  std::string to(from.size(), '\0');
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), from.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Memcpy)->Arg(100)->Arg(64 << 10)->Arg(1 << 20)->Arg(64 << 20);

// A whole frame of a task with a state.range(0)-byte argument: AppendFrame, then
// FrameDecoder (both checksums, the header's checks, one copy into the decoder).
void BM_FrameRoundTrip(benchmark::State& state) {
  proto::DriverMessage message;
  message.mutable_task()->set_task_id(1);
  message.mutable_task()->add_args()->set_value(std::string(state.range(0), 'x'));
  FrameDecoder decoder;
  std::string wire;
  for (auto _ : state) {
    wire.clear();
    if (!AppendFrame(message, kDefaultMaxFrameBytes, &wire).ok()) state.SkipWithError("append");
    decoder.Append(wire);
    absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
    if (!payload.ok() || !payload->has_value()) state.SkipWithError("decode");
    benchmark::DoNotOptimize(payload);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(wire.size()));
}
BENCHMARK(BM_FrameRoundTrip)->Arg(100)->Arg(1 << 20);

void BM_DataIdGenerate(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(DataID::Generate());
}
BENCHMARK(BM_DataIdGenerate)->ThreadRange(1, 2);

// PutReady + Get + Erase of a small value: one object's whole life in the store.
void BM_ObjectStorePutGetErase(benchmark::State& state) {
  ObjectStore store;
  const std::string value = Encode(42);
  for (auto _ : state) {
    const DataID id = DataID::Generate();
    if (!store.PutReady(id, value).ok()) state.SkipWithError("PutReady failed");
    absl::StatusOr<ObjectStore::Value> got = store.Get(id);
    benchmark::DoNotOptimize(got);
    store.Erase(id);
  }
}
BENCHMARK(BM_ObjectStorePutGetErase);

// The path of a task result: CreatePending, then Seal, then Get.
void BM_ObjectStorePendingSealGet(benchmark::State& state) {
  ObjectStore store;
  const std::string value = Encode(42);
  for (auto _ : state) {
    const DataID id = DataID::Generate();
    if (!store.CreatePending(id).ok()) state.SkipWithError("CreatePending failed");
    store.Seal(id, value);
    absl::StatusOr<ObjectStore::Value> got = store.Get(id);
    benchmark::DoNotOptimize(got);
    store.Erase(id);
  }
}
BENCHMARK(BM_ObjectStorePendingSealGet);

// Get of one object from a store holding state.range(0) objects.
void BM_ObjectStoreGetFromLargeStore(benchmark::State& state) {
  ObjectStore store;
  const std::string value = Encode(42);
  std::vector<DataID> ids;
  for (int64_t i = 0; i < state.range(0); ++i) {
    ids.push_back(DataID::Generate());
    if (!store.PutReady(ids.back(), value).ok()) state.SkipWithError("PutReady failed");
  }
  size_t next = 0;
  for (auto _ : state) {
    absl::StatusOr<ObjectStore::Value> got = store.Get(ids[next]);
    benchmark::DoNotOptimize(got);
    next = next + 1 == ids.size() ? 0 : next + 1;
  }
}
BENCHMARK(BM_ObjectStoreGetFromLargeStore)->Arg(1 << 10)->Arg(1 << 20);

// Runs a benchmark with absl's deadlock detection as state.range(0) says: 0 = the library's
// default (on in a debug build of Abseil, such as Debian's), 1 = turned off.
class DeadlockDetection {
 public:
  explicit DeadlockDetection(const benchmark::State& state) {
    if (state.range(0) == 1) absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  ~DeadlockDetection() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kAbort); }
};

void BM_AbslMutexLockUnlock(benchmark::State& state) {
  DeadlockDetection mode(state);
  absl::Mutex mu;
  for (auto _ : state) {
    absl::MutexLock lock(&mu);
  }
}
BENCHMARK(BM_AbslMutexLockUnlock)->ArgName("detection_off")->Arg(0)->Arg(1);

// A Mutex per object (e.g. per task) is created, locked once and destroyed.
void BM_AbslMutexCreateLockDestroy(benchmark::State& state) {
  DeadlockDetection mode(state);
  for (auto _ : state) {
    auto mu = std::make_unique<absl::Mutex>();
    mu->Lock();
    mu->Unlock();
    benchmark::DoNotOptimize(mu.get());
  }
}
BENCHMARK(BM_AbslMutexCreateLockDestroy)->ArgName("detection_off")->Arg(0)->Arg(1);

}  // namespace
}  // namespace unidist
