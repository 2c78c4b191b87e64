// Copyright 2026 The unidist-cpp Authors.
//
// ProcessManager: the pool of worker processes of the multiprocessing backend.
//
// Start() forks N pool workers (through a fork server, see internal/fork_server.h).
// Dispatch() hands each task to the next live worker in round-robin order (or, with
// options.least_loaded, to the one with the fewest tasks in flight) and returns at once;
// a worker holds at most max_tasks_per_worker tasks (2 under least_loaded; plus one per
// task of its waiting in a nested call), and further ones wait in the driver until
// results make room.
// One event thread reads results from all workers and reports each through `on_result`.
// A worker runs its tasks one at a time, in order, except that a pool worker whose task
// waits in a nested API call runs queued tasks meanwhile (see internal/worker_loop.h).
//
// Dedicated workers (StartDedicatedWorker, for actors) are outside the pool: they run
// only what DispatchTo sends them, in order, and are not replaced when they die.
//
// Failures:
// * A pool worker that dies (crash, signal, exit) fails the tasks it had started with
//   Unavailable (the message names the function, the worker, its pid and how it ended,
//   and ends with the last lines the worker wrote to stderr, where glog's failure signal
//   handler has written the stack trace of a crash) and is replaced by a new worker in
//   the same slot, so the pool keeps its size. Tasks queued on it that had not started go
//   back to the head of the driver's queue.
// * A worker that sends bytes that do not decode is killed and treated the same way, with
//   DataLoss for its running task.
// * Cancel() drops a task that has not started, or kills the worker running it.
// * Shutdown() reports every task still in flight with Cancelled.
// Every dispatched task gets exactly one on_result call.
//
// Worker output: each worker's stdout and stderr are pipes to the driver; every line is
// written to the driver's own stdout or stderr with a "(worker N pid P) " prefix.
//
// Thread-safe. The callbacks run on the event thread (on_result also in Cancel's and
// Shutdown's callers) without any lock of the manager held, so they may call Dispatch
// or ReplyToWorker; they must not call Shutdown.

#ifndef UNIDIST_PROCESS_MANAGER_PROCESS_MANAGER_H_
#define UNIDIST_PROCESS_MANAGER_PROCESS_MANAGER_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "process_manager/internal/fork_server.h"
#include "process_manager/internal/worker_loop.h"
#include "process_manager/worker_pool.h"

namespace unidist {

// The multiprocessing backend's options are the shared ones (worker_pool.h).
using ProcessManagerOptions = WorkerPoolOptions;

class ProcessManager final : public WorkerPool {
 public:
  // Starts the fork server and the workers, then the event thread. Call from a thread that
  // holds no lock another thread could need (see internal/fork_server.h).
  // InvalidArgument for bad options; Internal/ResourceExhausted if processes could not be
  // started (then nothing is left running).
  static absl::StatusOr<std::unique_ptr<ProcessManager>> Start(ProcessManagerOptions options);

  // Shuts down.
  ~ProcessManager() override;

  ProcessManager(const ProcessManager&) = delete;
  ProcessManager& operator=(const ProcessManager&) = delete;

  // Queues `task` on the next live worker. Never blocks on a busy worker. On error the
  // task is not dispatched and on_result is not called for it: FailedPrecondition after
  // Shutdown, ResourceExhausted if the task is larger than max_frame_bytes, Unavailable if
  // no worker is alive.
  absl::Status Dispatch(proto::TaskRequest task) override;

  // Starts a worker outside the pool, for tasks sent to it alone (an actor). It runs what
  // DispatchTo sends it, one task at a time, in order, and is never replaced: when it
  // dies, its tasks fail with Unavailable, later DispatchTo calls return that error, and
  // on_dedicated_worker_lost is called. FailedPrecondition after Shutdown;
  // ResourceExhausted when 65535 slots are in use; Internal if the fork failed.
  absl::StatusOr<WorkerId> StartDedicatedWorker() override;

  // Sends `task` to the dedicated worker `worker`. Never blocks. Errors as for Dispatch,
  // plus the worker's own error once it is gone.
  absl::Status DispatchTo(WorkerId worker, proto::TaskRequest task) override;

  // Ends a dedicated worker. Gracefully (kill = false): it runs every task already sent,
  // then exits. At once (kill = true): SIGKILL; its unfinished tasks are reported as
  // Cancelled. on_dedicated_worker_lost is called in both cases. Idempotent.
  void CloseDedicatedWorker(WorkerId worker, bool kill) override;

  // Sends the answer to an on_api_request call. NotFound if the worker is gone.
  absl::Status ReplyToWorker(WorkerId worker, const proto::ApiReply& reply) override;

  // Cancels task `task_id` (dispatched with Dispatch or DispatchTo). If it has not
  // started, it will not run: it is dropped from the driver's queue, or the worker is told
  // to skip it. If it may be running, `force` kills its worker (a pool worker is then
  // replaced; see Kill for dedicated ones). Either way on_result reports it as Cancelled
  // now, once. Returns OK then; FailedPrecondition if it may be running and !force;
  // InvalidArgument for force on a dedicated worker's task; NotFound if the pool does not
  // have the task (it finished, or was never dispatched).
  absl::Status Cancel(uint64_t task_id, bool force) override;

  // Reports tasks in flight as Cancelled, ends every worker and the fork server, and
  // returns once all are reaped. Idempotent.
  void Shutdown() override;

  int num_workers() const override { return pool_size_; }
  // True once Shutdown has begun.
  bool stopping() const override;
  std::vector<WorkerState> Workers() const override;
  // How many workers died and were replaced since Start.
  size_t workers_replaced() const override;

 private:
  struct InFlight {
    uint64_t task_id = 0;
    std::string function;
    std::shared_ptr<const std::string> frame;
    bool cancelled = false;  // reported as Cancelled already; its result is dropped
    bool started = false;    // the worker said it started it (nested under a waiting task)
  };
  struct ApiCall {
    WorkerId worker;
    proto::ApiRequest request;
  };
  // A frame waiting to be written to a worker: a task's, or a control message.
  struct OutFrame {
    std::shared_ptr<const std::string> bytes;
    bool task = false;
  };
  // A worker's stdout or stderr pipe, forwarded line by line to the driver's.
  struct OutputStream {
    int fd = -1;
    std::string partial_line;
  };
  struct Slot {
    int index = 0;
    pid_t pid = -1;
    int fd = -1;
    uint32_t generation = 0;  // tells events for a replaced worker from its successor's
    bool alive = false;
    bool dedicated = false;   // outside the pool: not replaced, no round-robin
    bool closing = false;     // dedicated: ends once its tasks are done
    bool killing = false;     // dedicated: being killed; its tasks are Cancelled
    absl::Status lost;        // dedicated: why it is gone
    bool want_write = false;  // EPOLLOUT registered
    std::deque<InFlight> in_flight;  // sent or queued, in order
    std::deque<OutFrame> out;        // frames not yet fully written
    size_t out_offset = 0;           // bytes of out.front() already written
    size_t unsent_tasks = 0;         // task frames in `out`: the last ones of in_flight
    size_t waiting = 0;              // its tasks waiting in nested calls, as it last said
    FrameDecoder decoder;   // used by the event thread only
    OutputStream output[2];  // stdout, stderr; event thread only
    std::deque<std::string> stderr_tail;  // the last lines of stderr; event thread only
  };

  explicit ProcessManager(ProcessManagerOptions options);

  // Serializes `task` into the frame it is sent as; ResourceExhausted if too large.
  absl::StatusOr<InFlight> Frame(proto::TaskRequest task) const;

  // Forks a worker for `slot` and installs it there.
  absl::Status StartWorker(Slot& slot) ABSL_LOCKS_EXCLUDED(mu_);
  // Queues `task` for the next worker with room; Unavailable if no worker is alive.
  absl::Status EnqueueLocked(InFlight task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves queued tasks to workers with room, round-robin, and writes them. With
  // `defer_to_busy` (Dispatch's callers), a worker with enough tasks to run is left for
  // the event thread to write to, which it does after every event.
  void DrainBacklogLocked(bool defer_to_busy = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unavailable: no pool worker is alive, with why the last one was not replaced.
  absl::Status NoWorkerAliveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // How many tasks `slot` may hold (see WorkerPoolOptions::least_loaded).
  size_t WindowLocked(const Slot& slot) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Slot* NextSlotWithRoomLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FlushLocked(Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetWantWriteLocked(Slot& slot, bool want) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void EventLoop();
  // Reads what the worker sent; results go to `completed`. Unavailable on EOF, DataLoss
  // on bytes that do not decode or do not match the tasks in flight.
  absl::Status ReadFromWorker(Slot& slot, std::vector<proto::TaskResult>* completed,
                              std::vector<ApiCall>* api_requests);
  void HandleWorkerFailure(Slot& slot, const absl::Status& cause,
                           std::vector<proto::TaskResult>* completed);
  // The part of HandleWorkerFailure for dedicated workers, which are not replaced.
  void LoseDedicatedWorker(Slot& slot, pid_t pid, const std::string& how, bool protocol_error,
                           bool first_started, std::deque<InFlight> in_flight,
                           std::vector<proto::TaskResult>* completed);
  // Sends end-of-stream to a closing dedicated worker once it has nothing left to run.
  void MaybeFinishClosingLocked(Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Slot* FindDedicatedLocked(WorkerId worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancel for a task a worker holds; fills `cancelled` with the report when it is OK.
  absl::Status CancelInFlightLocked(uint64_t task_id, bool force, proto::TaskResult* cancelled)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads what the worker wrote to stdout (stream 0) or stderr (stream 1) and forwards
  // complete lines; with `to_end`, reads until EOF (the worker is dead) and closes the pipe.
  void ForwardOutput(Slot& slot, int stream, bool to_end);
  void EmitLine(Slot& slot, int stream, absl::string_view line);
  static proto::TaskResult ErrorResult(const InFlight& task, absl::StatusCode code,
                                       const std::string& message);

  const ProcessManagerOptions options_;
  std::unique_ptr<process_internal::ForkServer> fork_server_;
  // Pool workers occupy slots [0, pool_size_); dedicated workers the slots above. Slot
  // objects are created on first use and never destroyed before the manager, so the event
  // thread may hold a reference to one while other threads work on others.
  static constexpr int kMaxSlots = 1 << 16;
  // The window of a worker under least-loaded scheduling; see WindowLocked.
  static constexpr size_t kLeastLoadedWindow = 2;
  std::vector<std::unique_ptr<Slot>> slots_;
  int pool_size_ = 0;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread event_thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t next_slot_ ABSL_GUARDED_BY(mu_) = 0;
  // Tasks waiting for a worker with room, in dispatch order.
  std::deque<InFlight> backlog_ ABSL_GUARDED_BY(mu_);
  size_t workers_replaced_ ABSL_GUARDED_BY(mu_) = 0;
  // Pool workers that died and whose replacement has not started yet.
  int replacing_ ABSL_GUARDED_BY(mu_) = 0;
  // Why the last pool worker that died could not be replaced (e.g. the fork server is
  // gone), for the error of tasks that find no worker alive; OK if none failed.
  absl::Status replacement_error_ ABSL_GUARDED_BY(mu_);
  int slots_in_use_ ABSL_GUARDED_BY(mu_) = 0;  // one past the highest slot ever used
  std::vector<int> free_dedicated_slots_ ABSL_GUARDED_BY(mu_);

  absl::Mutex shutdown_mu_;  // serializes Shutdown calls
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace unidist

#endif  // UNIDIST_PROCESS_MANAGER_PROCESS_MANAGER_H_
