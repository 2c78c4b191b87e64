// Copyright 2026 The unidist-cpp Authors.
//
// WorkerPool: what the runtime (api/internal/runtime.h) needs from an execution backend.
//
// The runtime resolves task dependencies, keeps the object store and the actors' call
// queues; a WorkerPool runs the tasks it is handed and reports every outcome through
// WorkerPoolOptions::on_result. Each backend implements it:
//   * multiprocessing: ProcessManager (process_manager.h), forked worker processes on
//     this machine, talking over Unix sockets;
//   * sequential and mpi: see docs/backends.md.
//
// Contract shared by every implementation:
// * Every task accepted by Dispatch or DispatchTo gets exactly one on_result call: its
//   result, its error, or Cancelled (by Cancel or Shutdown).
// * The callbacks run without the lock of the pool's state held, so they may call
//   Dispatch, DispatchTo or ReplyToWorker; they must not call Shutdown, and must
//   not block (a pool may run them one at a time, on whichever thread handles its events).
// * Tasks sent to one dedicated worker run one at a time, in the order sent.
// Thread-safe.

#ifndef UNIDIST_PROCESS_MANAGER_WORKER_POOL_H_
#define UNIDIST_PROCESS_MANAGER_WORKER_POOL_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "unidist/common/data_id.h"

namespace unidist {

// Names a worker: its slot, and the generation of that slot (a slot gets a new worker
// when one dies or, for dedicated slots, when it is reused).
struct WorkerId {
  int slot = -1;
  uint32_t generation = 0;
};

// The key of the actor that lives in dedicated worker `worker`, never 0: the runtime sets
// it as TaskRequest.actor_key on every task sent to the worker, and a process that holds
// several actors (the sequential and mpi backends) keeps each instance under it.
inline uint64_t ActorKey(WorkerId worker) {
  return (static_cast<uint64_t>(worker.slot + 1) << 32) | worker.generation;
}

// Runs one task where the backend runs tasks (a worker process, or the caller for the
// sequential backend), filling `result` (values or error). The backend fills in task_id
// and, on error, the function name and the worker's index and pid.
using TaskExecutor = std::function<void(const proto::TaskRequest& task, proto::TaskResult* result)>;

struct WorkerPoolOptions {
  // Number of workers. Must be at least 1; or 0 for a pool that counts the CPUs where its
  // workers run (BackendAbilities::counts_cpus_where_workers_run): then one per CPU.
  int num_workers = 1;
  // Largest frame either side accepts; larger tasks are refused by Dispatch and larger
  // results come back as ResourceExhausted errors.
  size_t max_frame_bytes = kDefaultMaxFrameBytes;
  // Runs each task, in the worker. Required.
  TaskExecutor execute;
  // Receives the outcome of every dispatched task, in the driver; it may move from it.
  // Required. (An rvalue reference: the message is not moved into a new one at each
  // call on its way.)
  std::function<void(proto::TaskResult&&)> on_result;
  // Called when a dedicated worker (see StartDedicatedWorker) dies or is killed, with the
  // status its later tasks would get. Optional.
  std::function<void(WorkerId worker, absl::Status status)> on_dedicated_worker_lost;
  // Serves a unidist API call a task made from inside `worker` (see
  // internal/worker_loop.h). Runs with no lock of the pool held: it must not block; it
  // answers, now or later, with ReplyToWorker. Optional: without it a worker that calls
  // is treated as broken.
  std::function<void(WorkerId worker, proto::ApiRequest request)> on_api_request;
  // Destroys the actor instance kept under `actor_key` (see ActorKey), where tasks run.
  // Called by backends that run several actors in one process, once a dedicated worker
  // has been closed or killed and runs nothing; a worker process's own actor goes with
  // its process instead. Optional.
  std::function<void(uint64_t actor_key)> drop_actor;
  // Called when a worker (pool or dedicated) stops talking (its socket closed, or its
  // process exited), before it is replaced; possibly well before its tasks are reported
  // (see reap_grace). Optional.
  std::function<void(WorkerId worker)> on_worker_gone;
  // Tasks sent to one worker ahead of its results. The rest wait in the driver, so that a
  // busy worker does not hoard tasks another could run, and a worker that dies takes few
  // queued tasks with it. Must be at least 1.
  size_t max_tasks_per_worker = 64;
  // How Dispatch picks a pool worker: false, the next one in turn with room
  // (round-robin); true, the one with the fewest tasks in flight, ties broken in turn,
  // and a worker then holds at most 2 tasks (one running, one queued; the multiprocessing
  // backend), so that the tasks behind a long one go to the workers that are free.
  bool least_loaded = false;
  // How long a worker whose socket closed may take to exit before it is killed. The pool
  // does not wait meanwhile: its other workers' results keep coming, and the task the
  // worker was running is reported once it has exited.
  absl::Duration reap_grace = absl::Seconds(1);
  // The most private memory (resident, not shared: RssAnon) a worker may use; one that
  // uses more is killed and its task fails with ResourceExhausted, not retried. Checked
  // every few milliseconds while the worker has tasks. 0: no limit.
  size_t worker_memory_limit = 0;
  // The multiprocessing backend: the size of each pool worker's result ring, the shared
  // memory its messages to the driver go through instead of its socket (see
  // process_manager/internal/result_ring.h); a power of two from 4 KiB to 1 GiB. A
  // message larger than the ring goes through in parts. 0: on the socket (the default:
  // docs/performance.md has when a ring pays). Dedicated (actor) workers always use their
  // socket.
  size_t result_ring_bytes = 0;
  // For a pool that keeps objects where they were made (the mpi backend keeps large
  // results on their worker rank): each place that keeps them gets a shared-memory store
  // (object_store/shared_arena.h) of `object_store_memory` bytes for the objects of at
  // least `shared_memory_min_bytes`, which its workers write results into and read
  // arguments from in place. 0 or SIZE_MAX: none. (The multiprocessing backend's store is
  // the driver's own: api/internal/runtime.h.)
  size_t object_store_memory = 0;
  size_t shared_memory_min_bytes = SIZE_MAX;
};

// A snapshot of one worker slot.
struct WorkerState {
  int index = 0;
  pid_t pid = -1;
  bool alive = false;
  size_t tasks_in_flight = 0;
  int node = 0;  // where it runs (see NodeState::node)
};

// One place where a pool's workers run.
struct NodeState {
  int node = 0;  // 0: the driver's machine; the mpi backend: the worker rank
  std::string host;
  int cpus = 0;     // the CPUs tasks may use there (common/cpus.h, as counted there)
  int workers = 0;  // the pool's workers there
};

class WorkerPool {
 public:
  virtual ~WorkerPool() = default;

  // Queues `task` on the next worker. Never blocks on a busy worker. On error the task is
  // not dispatched and on_result is not called for it: FailedPrecondition after Shutdown,
  // ResourceExhausted if the task is larger than max_frame_bytes, Unavailable if no
  // worker is alive. The pool copies (or writes out) what it keeps of `task`, so the
  // caller's request may live anywhere, in a protobuf arena too.
  virtual absl::Status Dispatch(const proto::TaskRequest& task) = 0;

  // Starts a worker outside the pool, for tasks sent to it alone (an actor). It runs what
  // DispatchTo sends it, one task at a time, in order, and is never replaced: when it
  // dies, its tasks fail with Unavailable, later DispatchTo calls return that error, and
  // on_dedicated_worker_lost is called. FailedPrecondition after Shutdown;
  // ResourceExhausted when no more can be started; Internal if starting it failed.
  virtual absl::StatusOr<WorkerId> StartDedicatedWorker() = 0;

  // Sends `task` to the dedicated worker `worker`. Never blocks. Errors as for Dispatch,
  // plus the worker's own error once it is gone.
  virtual absl::Status DispatchTo(WorkerId worker, const proto::TaskRequest& task) = 0;

  // Ends a dedicated worker. Gracefully (kill = false): it runs every task already sent,
  // then exits. At once (kill = true): its unfinished tasks are reported as Cancelled.
  // on_dedicated_worker_lost is called in both cases. Idempotent.
  virtual void CloseDedicatedWorker(WorkerId worker, bool kill) = 0;

  // Sends the answer to an on_api_request call. NotFound if the worker is gone.
  virtual absl::Status ReplyToWorker(WorkerId worker, const proto::ApiReply& reply) = 0;

  // Cancels task `task_id` (dispatched with Dispatch or DispatchTo). If it has not
  // started, it will not run. If it may be running, `force` stops its worker (a pool
  // worker is then replaced). Either way on_result reports it as Cancelled now, once.
  // Returns OK then; FailedPrecondition if it may be running and !force; InvalidArgument
  // for force on a dedicated worker's task; NotFound if the pool does not have the task
  // (it finished, or was never dispatched).
  virtual absl::Status Cancel(uint64_t task_id, bool force) = 0;

  // For a thread about to wait for the outcome of task `task_id`: lets the pool read that
  // outcome on this thread, so that the worker's answer wakes the waiting thread itself
  // rather than a thread in between that then wakes it (one wake-up less a round trip).
  // Returns once on_result has reported the task (on this thread, with the pool's other
  // callbacks for what came with it, or on another), at `deadline`, or at once wherever
  // the pool cannot (the task is not on a worker yet, or is gone; the caller is inside a
  // pool callback; the pool does not read on callers' threads). It promises nothing
  // about the outcome: the caller then waits for it as it would have anyway. Default:
  // returns at once.
  virtual void WaitForResult(uint64_t task_id, absl::Time deadline) {
    (void)task_id;
    (void)deadline;
  }

  // Reports tasks in flight as Cancelled, ends every worker, and returns once all are
  // gone. Idempotent.
  virtual void Shutdown() = 0;

  virtual int num_workers() const = 0;
  // Where the workers run, one entry per place; empty (the default) when they all run on
  // the driver's machine, which the runtime then describes itself.
  virtual std::vector<NodeState> Nodes() const { return {}; }
  // True once Shutdown has begun.
  virtual bool stopping() const = 0;
  virtual std::vector<WorkerState> Workers() const = 0;
  // How many workers died and were replaced since Start.
  virtual size_t workers_replaced() const = 0;

  // Objects kept where they were made, outside the driver: a result the pool reports in
  // TaskResult.kept_values stays at `holder`, a number the pool chose (KeptValue.holder)
  // and alone understands (the mpi backend: the worker rank). The runtime records it in
  // the object store and sends it back in ObjectLocation, and the pool fills the value in
  // wherever a task needs it.
  // FetchObject returns the bytes of object `id` kept at `holder`, blocking until they
  // arrive: NotFound if the holder does not have it, InvalidArgument for a holder the pool
  // does not know, Unavailable once the pool is shut down or if the holder does not
  // answer, FailedPrecondition from a pool callback. Pools that keep nothing answer
  // Unimplemented.
  virtual absl::StatusOr<std::string> FetchObject(const DataID& id, uint64_t holder) {
    (void)holder;
    return absl::UnimplementedError(
        absl::StrCat("this backend keeps no objects outside the driver (object ", id.Hex(), ")"));
  }
  // The driver dropped object `id` kept at `holder`: every copy of it may go. Never
  // blocks.
  virtual void ReleaseObject(const DataID& id, uint64_t holder) {
    (void)id;
    (void)holder;
  }
};

}  // namespace unidist

#endif  // UNIDIST_PROCESS_MANAGER_WORKER_POOL_H_
