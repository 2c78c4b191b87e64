// Copyright 2026 The unidist-cpp Authors.
//
// Observability: what a unidist program can learn about its own run, part of the public
// API (included by unidist/unidist.h, so `#include "unidist/unidist.h"` brings it): a
// timeline of the tasks (StartTimeline, WriteTimeline: a Chrome trace), the runtime's
// counters (GetStats), the worker pool (Workers), and where a failed task failed
// (GetTaskFailure).
// docs/observability.md shows them at work. Every function here may be called from several
// threads at once, initialized or not.

#ifndef UNIDIST_API_OBSERVABILITY_H_
#define UNIDIST_API_OBSERVABILITY_H_

// Included by its old path ("api/observability.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace unidist {

// How StartTimeline records.
struct TimelineOptions {
  // The most tasks kept. When more finish, the oldest are dropped (the trace's otherData
  // says how many). Each takes about 100 bytes, plus up to 256 for a failed task's error
  // message. Default 100000 (at most about 36 MB).
  size_t max_tasks = 100'000;
};

// Starts recording a timeline of the tasks and actor calls submitted from now on, in
// this process, whether or not unidist is initialized: for each, when it was submitted
// and dispatched (handed to a worker once its arguments were ready) in the driver, and
// when it started and ended on its worker. Recording goes on across Shutdown and Init,
// so one timeline can show several runs, until StopTimeline. Write it with WriteTimeline.
//
// Calling it while recording returns OK and changes nothing; after StopTimeline it
// starts a new, empty timeline. Returns InvalidArgument for max_tasks == 0, and
// FailedPrecondition inside a task (the timeline lives in the driver; see "Calls a task
// may not make" in unidist/unidist.h).
//
// Cost: when no timeline records, one relaxed atomic load per task; when one does, a few
// clock readings per task and the memory above.
//
// Times are CLOCK_MONOTONIC, in the driver for submit and dispatch and in the worker
// process for start and end. On Linux that clock is one for the whole machine, so they
// line up; a backend with workers on other machines gives worker times that do not
// compare with the driver's.
absl::Status StartTimeline(const TimelineOptions& options = {});

// Stops recording; what was recorded stays, for WriteTimeline, until the next
// StartTimeline. Does nothing if not recording, or inside a task.
void StopTimeline();

// Writes the tasks recorded so far (recording or stopped) to `path` as Chrome trace JSON
// (the Trace Event Format): open it at https://ui.perfetto.dev ("Open trace file") or in
// chrome://tracing. One row per worker process, plus one for the driver; each task that
// ran is a slice on its worker's row, named after its function, with its task id, its
// outcome and its wait times in its details. A task appears once its outcome is known,
// so tasks still running are not in it. May be called any number of times; the file is
// replaced whole (written aside, then renamed). Returns FailedPrecondition if no timeline
// was started, or inside a task; the file system's error (NotFound, PermissionDenied, ...)
// if the file cannot be written.
absl::Status WriteTimeline(const std::string& path);

// Counters of the current runtime (all zero when not initialized), for tests and
// monitoring. A snapshot: each value is read at a slightly different moment.
struct Stats {
  size_t live_objects = 0;      // objects in the store (ready, failed or pending)
  size_t bytes_held = 0;        // bytes of the ready values in the store
  size_t tasks_waiting = 0;     // submitted, waiting for ObjectRef arguments
  size_t tasks_in_flight = 0;   // handed to the pool (sent to a worker or queued in the
                                // driver for one with room), result not back yet
  size_t workers_replaced = 0;  // workers that died and were replaced since Init
  size_t tasks_retried = 0;     // task runs repeated because their worker died
  // The shared-memory store (Options::object_store_memory; all zero without one):
  size_t object_store_capacity = 0;  // its size in bytes
  size_t object_store_bytes = 0;     // bytes its objects hold (whole pages each)
  size_t object_store_objects = 0;   // objects in it
  size_t spilled_bytes = 0;          // bytes of objects spilled from it to files
  size_t spilled_objects = 0;        // objects spilled from it to files
};
// The counters of the current runtime, as a Stats snapshot.
Stats GetStats();

// Where a task failed. Get returns a failed task's status with these details attached as
// a payload; the status's code and message are the task's own.
struct TaskFailure {
  std::string function;      // the name the function was registered under
  int worker_index = -1;     // the worker that ran it
  int worker_pid = -1;       // its process id
  bool worker_died = false;  // the worker process died (a crash or a signal)
};

// The TaskFailure attached to `status`, or nullopt if `status` is not the error of a task
// that reached a worker (e.g. OK, Cancelled before it ran, or a dependency's error that
// carries its own task's details).
std::optional<TaskFailure> GetTaskFailure(const absl::Status& status);

// The type URL of the payload GetTaskFailure reads (a serialized unidist.proto.TaskError).
inline constexpr char kTaskFailurePayloadUrl[] = "type.unidist.dev/unidist.proto.TaskError";

// A snapshot of the worker pool (empty when not initialized).
struct WorkerInfo {
  int index = 0;       // the worker's slot in the pool
  int pid = -1;        // its process id (a replaced worker's slot gets a new pid; under
                       // mpi, a process id on its node's host)
  bool alive = false;  // false between the worker's death and its replacement
  int node = 0;        // where it runs: NodeInfo::node
};
// One WorkerInfo per slot of the task pool, by index (actors' processes are not listed).
// On the driver; empty inside a task.
std::vector<WorkerInfo> Workers();

// One place where workers run.
struct NodeInfo {
  // 0: this machine (the multiprocessing and sequential backends); under mpi, the worker
  // rank (the driver, rank 0, runs no tasks).
  int node = 0;
  std::string host;  // its host's name (under mpi: MPI_Get_processor_name there)
  // The CPUs tasks may use there: $UNIDIST_CPUS in that process's environment if set,
  // else its affinity mask (sched_getaffinity), counted at Init.
  int cpus = 0;
  int workers = 0;  // pool workers it runs: one per CPU unless Options::num_workers says
};
// Every place where this session's workers run, by node (empty when not initialized, and
// inside a task). Unidist's cluster_resources(), Ray's ClusterResources().
std::vector<NodeInfo> ClusterResources();
// The CPUs over all of ClusterResources() (0 when not initialized, and inside a task).
int NumCpus();
// An IPv4 address of the machine this process runs on (inside a task: its worker's), as
// unidist's get_ip(): the first interface that is up and not the loopback one, else
// "127.0.0.1". Works with or without Init.
std::string NodeAddress();

}  // namespace unidist

#endif  // UNIDIST_API_OBSERVABILITY_H_
