// Copyright 2026 The unidist-cpp Authors.
//
// How many CPUs a process may run tasks on, as every backend counts them: $UNIDIST_CPUS
// if it is set, else the CPUs in the process's affinity mask (sched_getaffinity: a
// container's or `taskset`'s limit, not the machine's). The multiprocessing driver reads
// it for its default number of workers, and each mpi worker rank reads it for its own.

#ifndef UNIDIST_COMMON_CPUS_H_
#define UNIDIST_COMMON_CPUS_H_

#include <string>

#include "absl/status/statusor.h"

namespace unidist {

// The environment variable that overrides the count.
inline constexpr char kCpusVariable[] = "UNIDIST_CPUS";

// The largest number of workers one process starts (Options::num_workers, UNIDIST_CPUS).
inline constexpr int kMaxWorkers = 4096;

// The CPUs in this process's affinity mask (at least 1).
int AffinityCpus();

// $UNIDIST_CPUS if set and not empty, else AffinityCpus(). InvalidArgument, naming the
// variable and its value, if it is not a whole number from 1 to kMaxWorkers.
absl::StatusOr<int> UsableCpus();

// The name of this machine (gethostname), or "localhost" if it has none.
std::string HostName();

// An IPv4 address of this machine other peers can reach it by: the first address of an
// interface that is up and not the loopback one (getifaddrs), else "127.0.0.1".
std::string HostAddress();

}  // namespace unidist

#endif  // UNIDIST_COMMON_CPUS_H_
