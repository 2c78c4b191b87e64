// Copyright 2026 The unidist-cpp Authors.
//
// The unidist-cpp side of //benchmarks:compare: runs every workload of workloads.h
// through the public API, in this process, and files the samples under
// "unidist/<metric>".
//
// Groups, each between its own unidist::Init and Shutdown (with the options it needs):
//   memory   driver and per-worker RSS after Init; store overhead of small objects
//   startup  Init -> first result, and Shutdown
//   tasks    latency, throughput (one and two driver threads, and unidist::Map), a chain
//            of dependent tasks
//   loaded   latency and throughput again, with a CPU-bound process on every core beside
//            the benchmark (started before Init, ended after Shutdown)
//   rings    latency and throughput (one and two driver threads) with result rings
//            (Options::result_ring_bytes = 1 MiB); every other group runs without
//   scaling  CPU-bound tasks on 1 worker and on `workers` workers; also, interleaved with
//            them, on plain forked processes ("floor/scaling_*": the machine's parallelism
//            at that moment, other users' load included)
//   scheduling  least-loaded scheduling: latency and throughput; uneven tasks (one long,
//            many short) under least-loaded and round-robin
//   partitions  2 GiB of doubles in partitions in the driver's memory: a transform into
//            new partitions, a tree of pairwise sums, the scalar back in the driver
//   store    the large-object goals alone, a new session each repetition: Put of 1 GiB
//            (first, then with the store's pages reused), 8 tasks reading one 1 GiB
//            object at once and the memory that costs, Get of a ready 100 MiB result
//   spill    bounded memory: three times a 256 MiB store in 16 MiB task results, all
//            kept, then each read by a task; the most memory it took, and what is left
//   large    Get of a large task result; Put -> task checksum of 1 MiB .. 1 GiB vectors,
//            through an ArrayView parameter (zero-copy) and a std::vector one
//            (max_message_bytes = 2 GiB - 1, as a 1 GiB vector encodes to a bit more).
// The last three take the longest and depend most on the machine: they run last, and a
// repetition of theirs that would end past the deadline is not started (the shortfall is
// reported as an error).
//
// Call it from the main thread while unidist is not initialized.

#ifndef UNIDIST_BENCHMARKS_UNIDIST_WORKLOADS_H_
#define UNIDIST_BENCHMARKS_UNIDIST_WORKLOADS_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "benchmarks/measure.h"
#include "benchmarks/workloads.h"

namespace unidist::bench {

// The group names above, in order.
std::vector<std::string> UnidistGroups();

// Runs the groups named in `groups` (all if empty), in the order above, adding their
// samples to `out`. A group that fails (Init refused, a task failed, a wrong result) is
// abandoned and its error is appended to `errors`; the other groups still run.
void RunUnidistWorkloads(const Workloads& workloads, const std::vector<std::string>& groups,
                         absl::Time deadline, Measurements* out, std::vector<std::string>* errors);

}  // namespace unidist::bench

#endif  // UNIDIST_BENCHMARKS_UNIDIST_WORKLOADS_H_
