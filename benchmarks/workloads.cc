// Copyright 2026 The unidist-cpp Authors.

#include "benchmarks/workloads.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace unidist::bench {

Workloads FullWorkloads() { return Workloads(); }

Workloads QuickWorkloads() {
  Workloads w;
  w.latency_round_trips = 200;
  w.throughput_tasks = 10000;
  w.chain_length = 1000;
  w.actor_sync_calls = 200;
  w.actor_async_calls = 2000;
  w.actor_waiting_calls = 40;
  w.put_bytes = {kOneMiB, 16 * kOneMiB};
  w.python_put_bytes = w.put_bytes;
  w.get_bytes = 16 * kOneMiB;
  w.scaling_tasks = 8;
  w.task_ms = 5;
  w.small_objects = 100000;
  w.uneven_long_ms = 20;
  w.uneven_short_tasks = 8;
  w.store_bytes = 16 * kOneMiB;
  w.spill_store_bytes = 32 * kOneMiB;
  w.spill_object_bytes = 4 * kOneMiB;
  w.partitions = 16;
  w.partition_bytes = 4 * kOneMiB;
  w.python_partitions_budget_s = 60;
  return w;
}

std::string SizeName(size_t bytes) {
  if (bytes % kOneGiB == 0) return absl::StrCat(bytes / kOneGiB, "GiB");
  if (bytes % kOneMiB == 0) return absl::StrCat(bytes / kOneMiB, "MiB");
  return absl::StrCat(bytes, "B");
}

std::string PutTaskMetric(size_t bytes) {
  return absl::StrCat("put_task_", SizeName(bytes), "_GBps");
}

std::string PutViewTaskMetric(size_t bytes) {
  return absl::StrCat("put_view_task_", SizeName(bytes), "_GBps");
}

std::string GetMetric(size_t bytes) { return absl::StrCat("get_", SizeName(bytes), "_GBps"); }

double PartitionsExpectedSum(const Workloads& w) {
  const uint64_t elements =
      static_cast<uint64_t>(w.partitions) * (w.partition_bytes / sizeof(double));
  const uint64_t left_over = elements % 1000;
  return static_cast<double>(elements / 1000 * 1000000 + left_over * left_over);
}

}  // namespace unidist::bench
