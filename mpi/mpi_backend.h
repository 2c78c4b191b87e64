// Copyright 2026 The unidist-cpp Authors.
//
// The mpi backend: unidist over the ranks of an MPI job (OpenMPI). See docs/backend_mpi.md.
//
// A program gets it by depending on //mpi (Bazel: @unidist//mpi) or unidist::mpi (CMake):
// linking the library registers the backend (backend/backend.h) under the name "mpi",
// and unidist::Init then finds it. A program without that dependency links no MPI.
//
// Under `mpirun -n N ./program`, rank 0 is the driver: its Init starts a session whose
// WorkerPool (StartDriverPool) spreads the workers over ranks 1..N-1. Every other rank
// turns into a worker rank in Init (ServeAsWorkerRank): it serves the driver's sessions,
// each with local worker processes, and exits when the driver process ends — so code after
// Init runs on rank 0 only.
//
// Lifetime: MPI is initialized once per process, at the driver's first Init with this
// backend, and finalized when the driver process exits (an atexit handler, which also
// tells the worker ranks to exit). Thread-safe.

#ifndef UNIDIST_MPI_MPI_BACKEND_H_
#define UNIDIST_MPI_MPI_BACKEND_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "process_manager/worker_pool.h"

namespace unidist::mpi {

// The backend's name for Options::backend and UNIDIST_BACKEND.
inline constexpr char kBackendName[] = "mpi";

// True when this process was started by mpirun in a job of more than one rank (from
// OMPI_COMM_WORLD_SIZE, read without initializing MPI). Then "mpi" is the default backend.
bool LaunchedWithSeveralRanks();

// True in a process mpirun started as a rank other than 0 (OMPI_COMM_WORLD_RANK).
bool IsWorkerRank();

// On rank 0: starts a session of `options.num_workers` workers over the worker ranks,
// initializing MPI on first use. FailedPrecondition when the process was not started by
// mpirun with at least 2 ranks, or is not rank 0; Unavailable if MPI could not be
// initialized; a worker rank's error if its workers could not start.
absl::StatusOr<std::unique_ptr<WorkerPool>> StartDriverPool(WorkerPoolOptions options);

// Environment variable: task results of at least this many codec bytes stay on the worker
// rank that made them (default 65536; 0 sends every result to the driver). Read at each
// Init.
inline constexpr char kKeepMinBytesVariable[] = "UNIDIST_MPI_KEEP_MIN_BYTES";

// Test-only: where the value bytes of the current session went, from the driver's counters
// and each worker rank's (see ObjectsReport in internal/mpi_messages.proto).
struct RankObjectCounters {
  int rank = 0;
  uint64_t objects_held = 0;  // kept results and fetched copies, now
  uint64_t bytes_held = 0;
  uint64_t objects_kept = 0;          // results kept instead of sent to the driver
  uint64_t bytes_sent_to_nodes = 0;   // values other ranks fetched from this one
  uint64_t bytes_sent_to_driver = 0;  // values the driver fetched from this one
  uint64_t bytes_fetched = 0;         // values this rank fetched from others
  uint64_t fetches = 0;
  uint64_t objects_in_store = 0;  // of those held, in the rank's shared-memory store
  uint64_t bytes_in_store = 0;
  uint64_t bytes_received_into_store = 0;  // of bytes_fetched, straight into the store
  // The rank's process: its id on its host, and the CPU time it has used since it started
  // (not its workers'), to measure what an idle rank costs.
  int pid = 0;
  uint64_t process_cpu_ns = 0;
  // The driver's large objects (Put) the rank kept after their first task there.
  uint64_t arguments_kept = 0;
  uint64_t argument_bytes_kept = 0;
};
struct ObjectTraffic {
  uint64_t result_bytes_to_driver = 0;  // values that came with their results
  uint64_t bytes_fetched_by_driver = 0;
  std::vector<RankObjectCounters> ranks;  // rank 1 first
};
// Asks every worker rank of the current session (a round trip each). FailedPrecondition
// without a session of this backend; Unavailable if a rank does not answer. Must not run
// while the session is being shut down.
absl::StatusOr<ObjectTraffic> QueryObjectTrafficForTesting();

// On a worker rank: initializes MPI and serves the driver's sessions, running tasks with
// `execute` in local worker processes, until the driver process ends; then finalizes MPI
// and exits the process with status 0. If MPI cannot be initialized, prints why and exits
// with status 1. Call from a thread that holds no lock (local workers are forked). Only
// the first call serves; a call from another thread meanwhile blocks until the process
// exits.
[[noreturn]] void ServeAsWorkerRank(TaskExecutor execute);

}  // namespace unidist::mpi

#endif  // UNIDIST_MPI_MPI_BACKEND_H_
