// Copyright 2026 The unidist-cpp Authors.
//
// SequentialPool: the sequential backend (docs/backend_sequential.md). It runs each task
// in the thread that hands it over, inside Dispatch or DispatchTo: execute, then
// on_result, then return. No process, no thread, no pipe: a task can be stepped through
// in a debugger from the Submit that started it, and a program runs deterministically,
// in submission order. Values still pass through the codec (the runtime encodes the
// arguments and decodes the results, as for every backend), and the limits on message
// sizes apply as they do on the multiprocessing backend.
//
// What follows from running in the caller:
// * Re-entrancy: a task that calls the API (a nested Submit) comes back into Dispatch from
//   inside execute. The pool holds no lock while a task runs, and the runtime must hold
//   none across Dispatch either.
// * A crash in a task (a segfault, abort, std::terminate) is a crash of the program: there
//   is no worker to lose. Errors a task reports (returned statuses, exceptions) are
//   reported as on every backend.
// * A dedicated worker (an actor) is a queue, not a process: its tasks run one at a time,
//   in order, in whichever thread sent them; a task sent while another of the same
//   worker runs (from another thread, or from inside that task) runs after it, in the
//   thread running the first. Closing or killing it calls WorkerPoolOptions::drop_actor
//   once its running task, if any, has returned.
// * Cancel finds only tasks queued behind a dedicated worker's running task; anything
//   else has finished (NotFound) or is running (FailedPrecondition: nothing can stop it).
// * Shutdown reports tasks still running in other threads as Cancelled at once; what
//   they return later is dropped.
// * Workers() lists num_workers entries, all this process; workers_replaced() is 0.
//
// Thread-safe: threads of the driver may dispatch concurrently; their tasks then run
// concurrently, each in its own thread.

#ifndef UNIDIST_PROCESS_MANAGER_SEQUENTIAL_POOL_H_
#define UNIDIST_PROCESS_MANAGER_SEQUENTIAL_POOL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "process_manager/worker_pool.h"

namespace unidist {

class SequentialPool : public WorkerPool {
 public:
  // InvalidArgument if options lack execute or on_result, or num_workers < 1.
  static absl::StatusOr<std::unique_ptr<SequentialPool>> Start(WorkerPoolOptions options);

  ~SequentialPool() override;

  // Runs `task` before returning (its on_result call included).
  absl::Status Dispatch(const proto::TaskRequest& task) override;
  absl::StatusOr<WorkerId> StartDedicatedWorker() override;
  // Runs `task` before returning, unless the worker is running a task already: then it
  // runs after that one, in that task's thread.
  absl::Status DispatchTo(WorkerId worker, const proto::TaskRequest& task) override;
  void CloseDedicatedWorker(WorkerId worker, bool kill) override;
  // NotFound: no task of this backend ever asks the driver over a channel.
  absl::Status ReplyToWorker(WorkerId worker, const proto::ApiReply& reply) override;
  absl::Status Cancel(uint64_t task_id, bool force) override;
  void Shutdown() override;

  int num_workers() const override { return options_.num_workers; }
  bool stopping() const override;
  std::vector<WorkerState> Workers() const override;
  size_t workers_replaced() const override { return 0; }

 private:
  // A dedicated worker: the tasks sent to it and not run yet.
  struct Dedicated {
    uint32_t generation = 0;
    std::deque<proto::TaskRequest> queue;
    bool running = false;          // a thread is running its tasks (see Drain)
    bool closing = false;          // graceful close: ends once its queue is empty
    bool killed = false;           // ended; the running task's result, if any, is dropped
    uint64_t running_task_id = 0;  // 0 between tasks
    std::string running_function;
  };

  explicit SequentialPool(WorkerPoolOptions options) : options_(std::move(options)) {}

  // ResourceExhausted if `task` would not fit in a frame of max_frame_bytes.
  absl::Status CheckSize(const proto::TaskRequest& task) const;
  // Runs `task` as worker `index` and fills in what a worker process would: the task id,
  // and on error the function, index and pid; ResourceExhausted for a result too large.
  proto::TaskResult Run(const proto::TaskRequest& task, int index) const;
  // Runs the tasks queued for `slot` until none is left, then ends it if it is closing.
  void Drain(int slot);
  // Forgets the dedicated worker in `slot` (which runs nothing) and frees the slot.
  void EraseLocked(int slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Called once a dedicated worker has ended and runs nothing: drops its actor and tells
  // the runtime.
  void ReportEnded(WorkerId worker, const absl::Status& lost);

  const WorkerPoolOptions options_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Pool tasks running now, in any thread: their functions by task id. Those Shutdown has
  // reported as Cancelled already are in `dropped_`.
  absl::flat_hash_map<uint64_t, std::string> running_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<uint64_t> dropped_ ABSL_GUARDED_BY(mu_);
  // Live dedicated workers by slot (slots num_workers and up; freed slots are reused
  // with the next generation).
  absl::flat_hash_map<int, Dedicated> dedicated_ ABSL_GUARDED_BY(mu_);
  std::vector<int> free_slots_ ABSL_GUARDED_BY(mu_);
  int next_slot_ ABSL_GUARDED_BY(mu_) = 0;
  // Generations count up across slots, so that a reused slot never repeats one.
  uint32_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace unidist

#endif  // UNIDIST_PROCESS_MANAGER_SEQUENTIAL_POOL_H_
