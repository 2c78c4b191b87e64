// Copyright 2026 The unidist-cpp Authors.

#include "benchmarks/bench_tasks.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "benchmarks/measure.h"

namespace bench_tasks {

int Noop(int x) { return x; }

int Increment(int x) { return x + 1; }

// Reads every byte: a wrapping sum of the 8-byte words, then of the bytes left over.
uint64_t SumBytes(const uint8_t* data, size_t size) {
  uint64_t sum = 0;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    sum += word;
  }
  for (; i < size; ++i) sum += data[i];
  return sum;
}

uint64_t Checksum(std::vector<uint8_t> data) { return SumBytes(data.data(), data.size()); }

// The same, reading the bytes where they arrived (the shared segment, for large objects).
uint64_t ChecksumView(unidist::ArrayView<uint8_t> data) {
  return data.empty() ? 0 : SumBytes(data.data(), data.size());
}

int SleepMs(double ms) {
  absl::SleepFor(absl::Microseconds(ms * 1000));
  return 0;
}

std::vector<uint8_t> MakeBytes(uint64_t size) { return std::vector<uint8_t>(size, 0x5a); }

// The partitioned workload (h): y = 2x + 1 into a new partition, the element-wise sum of
// two partitions into a new one, and the sum of one. They read their arguments in place
// (ArrayView) and fill their results in where unidist::Allocate puts them (the store),
// which the task then returns as it is: no copy either way.
absl::StatusOr<unidist::WritableArray<double>> TransformPartition(unidist::ArrayView<double> x) {
  absl::StatusOr<unidist::WritableArray<double>> y = unidist::Allocate<double>(x.size());
  if (!y.ok()) return y.status();
  double* out = y->data();
  for (size_t i = 0; i < x.size(); ++i) out[i] = 2 * x[i] + 1;
  return y;
}

absl::StatusOr<unidist::WritableArray<double>> AddPartitions(unidist::ArrayView<double> a,
                                                             unidist::ArrayView<double> b) {
  absl::StatusOr<unidist::WritableArray<double>> sum =
      unidist::Allocate<double>(std::min(a.size(), b.size()));
  if (!sum.ok()) return sum.status();
  double* out = sum->data();
  for (size_t i = 0; i < sum->size(); ++i) out[i] = a[i] + b[i];
  return sum;
}

// The spill group's objects: `n` doubles all equal to `value`, made in the store.
absl::StatusOr<unidist::WritableArray<double>> Filled(uint64_t n, double value) {
  absl::StatusOr<unidist::WritableArray<double>> out = unidist::Allocate<double>(n);
  if (!out.ok()) return out.status();
  std::fill(out->begin(), out->end(), value);
  return out;
}

double SumPartition(unidist::ArrayView<double> x) {
  double sum = 0;
  for (size_t i = 0; i < x.size(); ++i) sum += x[i];
  return sum;
}

// Pure computation: `iterations` steps of a xorshift generator.
uint64_t Spin(uint64_t iterations) {
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (uint64_t i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

// Iterations of Spin that take `ms` here, from the fastest of a few trials.
uint64_t CalibrateSpin(double ms) {
  constexpr uint64_t kTrial = 2000000;
  double fastest = 1e9;
  for (int i = 0; i < 5; ++i) {
    unidist::bench::Stopwatch watch;
    const uint64_t x = Spin(kTrial);
    asm volatile("" : : "r"(x));
    fastest = std::min(fastest, watch.Seconds());
  }
  return static_cast<uint64_t>(static_cast<double>(kTrial) * ms / 1e3 / fastest);
}

int Waiter::WaitMs(double ms) { return SleepMs(ms); }

}  // namespace bench_tasks

UNIDIST_REMOTE(&bench_tasks::Tally::Add, &bench_tasks::Waiter::WaitMs);
UNIDIST_REMOTE(bench_tasks::Noop, bench_tasks::Increment, bench_tasks::Checksum,
               bench_tasks::ChecksumView, bench_tasks::MakeBytes, bench_tasks::Spin,
               bench_tasks::SleepMs, bench_tasks::TransformPartition, bench_tasks::AddPartitions,
               bench_tasks::SumPartition, bench_tasks::Filled);
