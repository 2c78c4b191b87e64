// Copyright 2026 The unidist-cpp Authors.
//
// FakeWorkerPool: a WorkerPool (process_manager/worker_pool.h) that runs nothing. It keeps
// the tasks it is handed in memory and reports an outcome for one only when the test says
// so, so that the runtime's scheduler (dependencies, retries, Cancel, actor queues) can be
// tested without processes, one event at a time, with no sleeps.
//
// Ownership: the test makes the fake (a shared_ptr) and passes FakeBackend(fake) to
// Runtime::Start; the backend's start_pool starts the fake with the runtime's options and
// gives the runtime a handle that forwards to it. When the runtime destroys that handle
// the fake is detached: it never calls the runtime's callbacks again (the controls below
// then return FailedPrecondition), and its records and counters stay readable.
//
// What the fake models, within the WorkerPool contract:
// * Pool workers: `num_workers` of them, taking tasks in turn. A task is queued until the
//   test calls MarkStarted, then started. The test finishes a pool worker's tasks in any
//   order. A pool worker dies only with the task it runs (WorkerDied, Cancel with force):
//   it is then replaced (workers_replaced, on_worker_gone); the other tasks given to it
//   are not affected.
// * Dedicated workers: their tasks start and finish one at a time, in the order sent;
//   MarkStarted and the outcomes apply to the oldest unfinished one only
//   (FailedPrecondition for the others; Cancel of a queued one is fine). A dedicated
//   worker ends when the test loses it (LoseDedicatedWorker, WorkerDied on its task), when
//   CloseDedicatedWorker kills it or, closed gracefully, has finished its tasks, or at
//   Shutdown; on_dedicated_worker_lost is then called once.
// * Every task accepted by Dispatch or DispatchTo gets exactly one on_result call, from
//   whichever comes first of Finish (Complete, Fail, WorkerDied), Cancel,
//   CloseDedicatedWorker(kill), LoseDedicatedWorker and Shutdown; the controls return
//   NotFound for it afterwards. (DeliverStrayResult alone breaks this rule, on purpose.)
// * Callbacks run on the thread that called the method causing them (a control, or a pool
//   method such as Cancel or Shutdown), with no lock of the fake held, so they may call the
//   fake again.
// * It never calls execute, drop_actor or on_api_request: nothing runs and no actor
//   instance exists. ReplyToWorker is accepted for a live worker and dropped.
//
// Thread-safe: the runtime and any number of test threads may call it at once.
//
// Example:
//   auto fake = std::make_shared<unidist::testing::FakeWorkerPool>();
//   auto runtime = Runtime::Start(unidist::testing::FakeBackend(fake), 2, kDefaultMaxFrameBytes);
//   std::vector<RefHandle> refs = (*runtime)->Submit("f", {}, 1, /*max_retries=*/0);
//   absl::StatusOr<FakeTask> task = fake->NextDispatchOf("f");
//   ASSERT_THAT(task, IsOk());
//   UNIDIST_ASSERT_OK(fake->Complete(task->task_id(), {unidist::Encode(42)}));

#ifndef UNIDIST_TESTING_FAKE_WORKER_POOL_H_
#define UNIDIST_TESTING_FAKE_WORKER_POOL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "backend/backend.h"
#include "common/worker_protocol.pb.h"
#include "process_manager/worker_pool.h"

namespace unidist::testing {

// One task as the fake received it.
struct FakeTask {
  proto::TaskRequest request;
  // The pool worker Dispatch gave it to, or the dedicated worker DispatchTo sent it to.
  WorkerId worker;
  bool dedicated = false;

  uint64_t task_id() const { return request.task_id(); }
  const std::string& function() const { return request.function(); }
};

// "task 3 'f' on worker 1.1" (", dedicated" for DispatchTo), for test failure messages.
std::ostream& operator<<(std::ostream& out, const FakeTask& task);

class FakeWorkerPool : public WorkerPool {
 public:
  // How long the waiting controls wait by default. Only a safeguard: a test of a correct
  // program never comes near it, since whatever it waits for has happened or is about to.
  static constexpr absl::Duration kDefaultWait = absl::Seconds(30);

  // A fake not started yet: Start (called by FakeBackend's start_pool) gives it its options.
  FakeWorkerPool() = default;
  ~FakeWorkerPool() override = default;
  FakeWorkerPool(const FakeWorkerPool&) = delete;
  FakeWorkerPool& operator=(const FakeWorkerPool&) = delete;

  // Starts the fake with `options`. InvalidArgument without on_result or with
  // num_workers < 1; FailedPrecondition if it was started already (one fake, one session).
  absl::Status Start(WorkerPoolOptions options);

  // Stops every callback: the fake never calls one of `options` again, and returns once
  // none is running (so must not be called from inside one). The controls then return
  // FailedPrecondition. Called when the runtime destroys the pool FakeBackend gave it.
  void Detach();

  // WorkerPool. Dispatch and DispatchTo also refuse, with InvalidArgument, a task whose id
  // is in flight already (the runtime broke the contract) and, with FailedPrecondition,
  // any task before Start or after Detach. DispatchTo: NotFound for a worker that never
  // was, FailedPrecondition once it is closing, and the loss status once it is lost
  // (Unavailable) or killed (Cancelled).
  absl::Status Dispatch(const proto::TaskRequest& task) override;
  absl::StatusOr<WorkerId> StartDedicatedWorker() override;
  absl::Status DispatchTo(WorkerId worker, const proto::TaskRequest& task) override;
  void CloseDedicatedWorker(WorkerId worker, bool kill) override;
  absl::Status ReplyToWorker(WorkerId worker, const proto::ApiReply& reply) override;
  absl::Status Cancel(uint64_t task_id, bool force) override;
  void Shutdown() override;
  int num_workers() const override;
  bool stopping() const override;
  std::vector<WorkerState> Workers() const override;
  size_t workers_replaced() const override;
  // Records `task_id` (waits_for_result) and returns at once: the fake has no worker whose
  // answer the caller could read, so the caller goes on to wait on the store.
  void WaitForResult(uint64_t task_id, absl::Time deadline) override;

  // --- What the runtime handed over ---

  // The earliest task accepted by Dispatch or DispatchTo that no Next* call has returned
  // yet, waiting up to `timeout` for one; DeadlineExceeded if none came. A task sent again
  // (a retry keeps its id) is a new entry.
  absl::StatusOr<FakeTask> NextDispatch(absl::Duration timeout = kDefaultWait);
  // As NextDispatch, for the earliest such task of `function`; the others stay for later.
  absl::StatusOr<FakeTask> NextDispatchOf(absl::string_view function,
                                          absl::Duration timeout = kDefaultWait);
  // Every task no Next* call has returned yet, now (empty if none), marking them returned.
  std::vector<FakeTask> TakeDispatches();
  // Every task accepted so far, in order, returned by Next* or not.
  std::vector<FakeTask> Dispatched() const;
  // The tasks accepted and not reported yet, in the order accepted.
  std::vector<FakeTask> InFlight() const;

  // --- Driving the tasks ---
  // Each returns NotFound if `task_id` is not in flight, FailedPrecondition for a
  // dedicated worker's task that is not its oldest unfinished one or before Start or after
  // Detach, and runs the callbacks it causes before returning.

  // The task is now running: Cancel without force refuses it. Idempotent.
  absl::Status MarkStarted(uint64_t task_id);
  // Reports `result` (its task_id names the task) as the task's outcome, as a worker
  // would send it: values, an error, map chunk element_errors, kept_values. For an error
  // the fake sets error.function and error.worker_index to the task's, as a worker does.
  absl::Status Finish(proto::TaskResult result);
  // Reports success with `values`: codec bytes (unidist::Encode), one per result id.
  absl::Status Complete(uint64_t task_id, std::vector<std::string> values);
  // Reports the task's own error `error` (which must not be OK: InvalidArgument).
  absl::Status Fail(uint64_t task_id, const absl::Status& error);
  // The task's worker died while running it: Unavailable, with TaskError.worker_died set
  // (what makes the runtime retry a task). A pool worker is replaced; for a dedicated
  // worker this is LoseDedicatedWorker.
  absl::Status WorkerDied(uint64_t task_id);
  // The dedicated worker `worker` died: its tasks fail with Unavailable (worker_died),
  // later DispatchTo calls return that error, and on_dedicated_worker_lost is called with
  // it. NotFound if `worker` is not a live dedicated worker.
  absl::Status LoseDedicatedWorker(WorkerId worker);
  // Calls on_result with `result` although no task of its id is in flight (or one is and
  // stays so): a result the contract says never comes, to test that the runtime ignores
  // it. FailedPrecondition before Start or after Detach.
  absl::Status DeliverStrayResult(proto::TaskResult result);

  // --- Counters: calls made to the fake, accepted or not ---
  size_t dispatch_calls() const;     // Dispatch
  size_t dispatch_to_calls() const;  // DispatchTo
  size_t cancel_calls() const;
  // Blocks until Cancel has been called at least `count` times (answered or not); false
  // at `timeout`. For tests that act while a Cancel is under way.
  bool WaitForCancelCalls(size_t count, absl::Duration timeout = kDefaultWait) const;
  size_t shutdown_calls() const;
  size_t close_calls() const;             // CloseDedicatedWorker
  size_t results_reported() const;        // on_result calls, DeliverStrayResult's included
  size_t dedicated_workers_lost() const;  // on_dedicated_worker_lost calls
  // The task ids WaitForResult was called with, in order.
  std::vector<uint64_t> waits_for_result() const;

 private:
  // A task accepted and not reported yet.
  struct InFlightTask {
    size_t sequence = 0;  // its index in history_
    bool started = false;
  };
  // A dedicated worker, from StartDedicatedWorker on.
  struct Dedicated {
    uint32_t generation = 0;
    std::deque<uint64_t> tasks;  // in flight, in the order sent
    bool closing = false;
    absl::Status ended;  // why it ended (lost, killed, closed, shut down); OK while live
  };
  // Callbacks to run once mu_ is released, in order.
  using Calls = std::vector<std::function<void()>>;

  // FailedPrecondition unless started and attached.
  absl::Status CheckAttachedLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The in-flight task `task_id` if the controls may act on it now (see above).
  absl::StatusOr<InFlightTask*> DrivableLocked(uint64_t task_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Why `task` cannot be accepted now (shut down, too large, id in flight); OK if it can.
  absl::Status AcceptableLocked(const proto::TaskRequest& task) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Accepts `task` for `worker` (after AcceptableLocked).
  void AcceptLocked(proto::TaskRequest task, WorkerId worker, bool dedicated)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes `task_id` from the tables and queues its on_result with `result`.
  void ReportLocked(uint64_t task_id, proto::TaskResult result, Calls* calls)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues on_result with an error `code`/`message` for in-flight task `task_id`.
  void ReportErrorLocked(uint64_t task_id, absl::StatusCode code, const std::string& message,
                         bool worker_died, Calls* calls) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends dedicated worker `slot` with `why`: its tasks fail with `why` (worker_died if
  // Unavailable), then on_dedicated_worker_lost.
  void EndDedicatedLocked(int slot, const absl::Status& why, Calls* calls)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A gracefully closed worker with nothing left ends now.
  void EndIfClosedLocked(int slot, Calls* calls) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces pool worker `index` (its task died with it or was force-cancelled).
  void ReplacePoolWorkerLocked(int index, Calls* calls) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds `call` to `calls`; Detach waits until it has run (or been dropped, if the fake
  // was detached first).
  void QueueLocked(std::function<void()> call, Calls* calls) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `calls`, in order.
  void Run(Calls calls) ABSL_LOCKS_EXCLUDED(mu_);
  // The earliest task not returned yet that `matches`, waiting up to `timeout`.
  absl::StatusOr<FakeTask> NextMatching(const std::function<bool(const FakeTask&)>& matches,
                                        absl::Duration timeout, absl::string_view what);

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool attached_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int callbacks_running_ ABSL_GUARDED_BY(mu_) = 0;
  WorkerPoolOptions options_ ABSL_GUARDED_BY(mu_);
  // Every task accepted, in order, and whether Next* returned it.
  std::vector<FakeTask> history_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> taken_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, InFlightTask> in_flight_ ABSL_GUARDED_BY(mu_);
  // The generation of each pool worker (1, then one more per replacement).
  std::vector<uint32_t> pool_generations_ ABSL_GUARDED_BY(mu_);
  int next_pool_worker_ ABSL_GUARDED_BY(mu_) = 0;
  // Dedicated workers by slot (num_workers and up; never reused), live or ended.
  absl::flat_hash_map<int, Dedicated> dedicated_ ABSL_GUARDED_BY(mu_);
  int next_dedicated_slot_ ABSL_GUARDED_BY(mu_) = 0;
  size_t workers_replaced_ ABSL_GUARDED_BY(mu_) = 0;
  size_t dispatch_calls_ ABSL_GUARDED_BY(mu_) = 0;
  size_t dispatch_to_calls_ ABSL_GUARDED_BY(mu_) = 0;
  size_t cancel_calls_ ABSL_GUARDED_BY(mu_) = 0;
  size_t shutdown_calls_ ABSL_GUARDED_BY(mu_) = 0;
  size_t close_calls_ ABSL_GUARDED_BY(mu_) = 0;
  size_t results_reported_ ABSL_GUARDED_BY(mu_) = 0;
  size_t dedicated_workers_lost_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> waits_for_result_ ABSL_GUARDED_BY(mu_);
};

// A backend called `name` whose start_pool starts `pool` with the runtime's options and
// hands the runtime a WorkerPool that forwards to it (and detaches it when destroyed).
// start_pool returns Start's error, e.g. FailedPrecondition for a fake started already.
// Abilities: concurrent_with_driver and survives_worker_crash; no shared memory, no
// worker processes. The description is not registered anywhere: pass it to
// Runtime::Start.
BackendDescription FakeBackend(std::shared_ptr<FakeWorkerPool> pool, std::string name = "fake");

}  // namespace unidist::testing

#endif  // UNIDIST_TESTING_FAKE_WORKER_POOL_H_
