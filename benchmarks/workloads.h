// Copyright 2026 The unidist-cpp Authors.
//
// The workloads of //benchmarks:compare: their sizes and repetition counts, shared by the
// unidist-cpp runner (unidist_workloads.h) and the Python baseline (python_baseline.py gets
// the same numbers as flags), and the names their measurements are filed under.
//
// Metric names end in their unit: _us, _ms, _s, _GBps (10^9 bytes/s), _tasks_per_s, _MiB,
// _B, _x (a ratio).

#ifndef UNIDIST_BENCHMARKS_WORKLOADS_H_
#define UNIDIST_BENCHMARKS_WORKLOADS_H_

#include <cstddef>
#include <string>
#include <vector>

namespace unidist::bench {

inline constexpr size_t kOneMiB = size_t{1} << 20;
inline constexpr size_t kOneGiB = size_t{1} << 30;

struct Workloads {
  // Worker processes (Python: Pool processes) for every group but the scaling one, which
  // compares 1 with `workers`.
  int workers = 2;
  // Repetitions of each workload; every one is at least 5.
  int reps = 5;
  int short_reps = 10;  // for the workloads that take milliseconds: latency, 1 MiB, Init
  // Map over throughput_tasks inputs takes a few milliseconds (Python's Pool.map too), so
  // a median of 5 moved with the VM's noise by a factor of 2 from run to run.
  int map_reps = 30;

  // a. Submit + Get of a trivial task, one at a time: round trips per repetition.
  int latency_round_trips = 2000;
  // b. Trivial tasks submitted, then gathered (also split over two driver threads).
  int throughput_tasks = 100000;
  // c. Dependent tasks, each taking the previous one's ref.
  int chain_length = 10000;
  // e. Calls of one actor's method: one at a time (each waited for), and all submitted,
  // then gathered.
  int actor_sync_calls = 2000;
  int actor_async_calls = 20000;
  // e. Calls that each wait actor_wait_ms, all submitted, then gathered: on one thread,
  // and on actor_threads (ActorOptions::max_concurrency).
  int actor_waiting_calls = 200;
  double actor_wait_ms = 2;
  int actor_threads = 8;
  // d. Put of a byte vector read by a task that returns its checksum; Get of a task result.
  std::vector<size_t> put_bytes = {kOneMiB, 100 * kOneMiB, kOneGiB};
  // Python's Pool moves 1 GiB at about 0.08 GB/s (13 s a repetition): left out to keep the
  // whole comparison under 5 minutes.
  std::vector<size_t> python_put_bytes = {kOneMiB, 100 * kOneMiB};
  size_t get_bytes = 100 * kOneMiB;
  // The store's large-object goals, each measured alone: Put of a `store_bytes` byte vector
  // already in the driver's memory (the first in a new session, then again once its
  // pages are reused: `store_steady_puts` per session), and the same object read by
  // `store_readers` tasks at once, with the memory that costs; Get of a ready `get_bytes`
  // result, the first and `store_steady_puts` more.
  size_t store_bytes = kOneGiB;
  int store_steady_puts = 2;
  int store_readers = 8;
  // Bounded memory (the spill group): a session whose store holds `spill_store_bytes`
  // makes three times that in objects of `spill_object_bytes` (task results), keeps them
  // all, then reads each in a task.
  size_t spill_store_bytes = 256 * kOneMiB;
  size_t spill_object_bytes = 16 * kOneMiB;
  // h. A partitioned workload: `partitions` arrays of `partition_bytes` of doubles in the
  // driver's memory; each transformed into a new one, then summed pairwise, level by
  // level, down to one partition, whose sum comes back to the driver.
  int partitions = 32;
  size_t partition_bytes = 64 * kOneMiB;
  // The Python side of h starts no repetition that would end later than this after the
  // group's start (its Pool variant takes about 23 s a repetition here).
  double python_partitions_budget_s = 200;
  // e. CPU-bound tasks of `task_ms` of computation each, on 1 and on `workers` workers.
  int scaling_tasks = 64;
  double task_ms = 20;
  // Scheduling policies: one long task, then short ones, submitted at once.
  double uneven_long_ms = 100;
  int uneven_short_tasks = 40;
  double uneven_short_ms = 2.5;
  // g. Small objects (ints) held in the store at once.
  int small_objects = 1000000;
};

// The full comparison, and a quick smoke-test version (small sizes, same code paths).
Workloads FullWorkloads();
Workloads QuickWorkloads();

// "1MiB", "100MiB", "1GiB", or a byte count for other sizes.
std::string SizeName(size_t bytes);

// Names of the per-size metrics: "put_task_1MiB_GBps", "get_100MiB_GBps".
std::string PutTaskMetric(size_t bytes);
std::string PutViewTaskMetric(size_t bytes);  // "put_view_task_1MiB_GBps"
std::string GetMetric(size_t bytes);

// The sum that the partitioned workload must produce: the partitions hold the element
// indices modulo 1000 (x[i] = i % 1000, i counted over all partitions), and each element
// becomes 2x + 1, so the total is the sum of the first 1000 odd numbers (10^6) for every
// full thousand of elements, plus m^2 for the m elements left over. An integer below 2^53
// for any size that fits in memory, so every order of summation gives it exactly.
double PartitionsExpectedSum(const Workloads& workloads);

}  // namespace unidist::bench

#endif  // UNIDIST_BENCHMARKS_WORKLOADS_H_
