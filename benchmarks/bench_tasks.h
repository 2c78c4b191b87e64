// Copyright 2026 The unidist-cpp Authors.
//
// The task functions the benchmark programs submit (//benchmarks:compare's groups and
// //benchmarks:mpi_scaling), registered once here (UNIDIST_REMOTE, so the library is
// alwayslink / part of the benchmarks object library), and the spin calibration.

#ifndef UNIDIST_BENCHMARKS_BENCH_TASKS_H_
#define UNIDIST_BENCHMARKS_BENCH_TASKS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "unidist/unidist.h"

namespace bench_tasks {

int Noop(int x);
int Increment(int x);
// A wrapping sum of the 8-byte words of `data`, then of the bytes left over.
uint64_t SumBytes(const uint8_t* data, size_t size);
uint64_t Checksum(std::vector<uint8_t> data);
// The same, reading the bytes where they arrived (the shared segment, for large objects).
uint64_t ChecksumView(unidist::ArrayView<uint8_t> data);
int SleepMs(double ms);
std::vector<uint8_t> MakeBytes(uint64_t size);
// The partitioned workload: y = 2x + 1, the element-wise sum, the sum of one partition.
// Arguments are read in place; results are filled in the store (unidist::Allocate).
absl::StatusOr<unidist::WritableArray<double>> TransformPartition(unidist::ArrayView<double> x);
absl::StatusOr<unidist::WritableArray<double>> AddPartitions(unidist::ArrayView<double> a,
                                                             unidist::ArrayView<double> b);
double SumPartition(unidist::ArrayView<double> x);
// `n` doubles all equal to `value`, made in the store.
absl::StatusOr<unidist::WritableArray<double>> Filled(uint64_t n, double value);
// Pure computation: `iterations` steps of a xorshift generator.
uint64_t Spin(uint64_t iterations);
// Iterations of Spin that take `ms` on this core, from the fastest of a few trials.
uint64_t CalibrateSpin(double ms);

// The actor of the actor-call rows: a counter whose Add returns the new total.
class Tally {
 public:
  Tally() = default;
  int64_t Add(int64_t x) { return total_ += x; }

 private:
  int64_t total_ = 0;
};
UNIDIST_ACTOR(Tally);

// An actor whose calls wait, as calls that wait for I/O do: for ActorOptions::
// max_concurrency, which lets them wait together.
class Waiter {
 public:
  Waiter() = default;
  int WaitMs(double ms);
};
UNIDIST_ACTOR(Waiter);

}  // namespace bench_tasks

#endif  // UNIDIST_BENCHMARKS_BENCH_TASKS_H_
