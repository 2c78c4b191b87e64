// Copyright 2026 The unidist-cpp Authors.

#include "testing/fake_worker_pool.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/task_error.h"

namespace unidist::testing {

std::ostream& operator<<(std::ostream& out, const FakeTask& task) {
  return out << "task " << task.task_id() << " '" << task.function() << "' on worker "
             << task.worker.slot << "." << task.worker.generation
             << (task.dedicated ? ", dedicated" : "");
}

absl::Status FakeWorkerPool::Start(WorkerPoolOptions options) {
  if (!options.on_result) return absl::InvalidArgumentError("on_result is required");
  if (options.num_workers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_workers must be at least 1, not ", options.num_workers));
  }
  absl::MutexLock lock(&mu_);
  if (started_) return absl::FailedPreconditionError("the fake worker pool was started already");
  started_ = true;
  attached_ = true;
  pool_generations_.assign(static_cast<size_t>(options.num_workers), 1);
  options_ = std::move(options);
  return absl::OkStatus();
}

void FakeWorkerPool::Detach() {
  absl::MutexLock lock(&mu_);
  attached_ = false;
  mu_.Await(absl::Condition(
      +[](int* running) { return *running == 0; }, &callbacks_running_));
}

absl::Status FakeWorkerPool::CheckAttachedLocked() const {
  if (!started_) return absl::FailedPreconditionError("the fake worker pool was not started");
  if (!attached_) {
    return absl::FailedPreconditionError("the fake worker pool's runtime is gone");
  }
  return absl::OkStatus();
}

void FakeWorkerPool::QueueLocked(std::function<void()> call, Calls* calls) {
  ++callbacks_running_;
  calls->push_back([this, call = std::move(call)] {
    bool attached;
    {
      absl::MutexLock lock(&mu_);
      attached = attached_;
    }
    if (attached) call();
    absl::MutexLock lock(&mu_);
    --callbacks_running_;
  });
}

void FakeWorkerPool::Run(Calls calls) {
  for (std::function<void()>& call : calls) call();
}

// --- WorkerPool ---

absl::Status FakeWorkerPool::Dispatch(const proto::TaskRequest& task) {
  absl::MutexLock lock(&mu_);
  ++dispatch_calls_;
  UNIDIST_RETURN_IF_ERROR(CheckAttachedLocked());
  UNIDIST_RETURN_IF_ERROR(AcceptableLocked(task));
  const int index = next_pool_worker_;
  next_pool_worker_ = (next_pool_worker_ + 1) % options_.num_workers;
  AcceptLocked(task, WorkerId{index, pool_generations_[index]}, /*dedicated=*/false);
  return absl::OkStatus();
}

absl::StatusOr<WorkerId> FakeWorkerPool::StartDedicatedWorker() {
  absl::MutexLock lock(&mu_);
  UNIDIST_RETURN_IF_ERROR(CheckAttachedLocked());
  if (stopping_) return absl::FailedPreconditionError("the worker pool has shut down");
  const WorkerId worker{options_.num_workers + next_dedicated_slot_++, 1};
  dedicated_[worker.slot].generation = worker.generation;
  return worker;
}

absl::Status FakeWorkerPool::DispatchTo(WorkerId worker, const proto::TaskRequest& task) {
  absl::MutexLock lock(&mu_);
  ++dispatch_to_calls_;
  UNIDIST_RETURN_IF_ERROR(CheckAttachedLocked());
  if (stopping_) return absl::FailedPreconditionError("the worker pool has shut down");
  auto it = dedicated_.find(worker.slot);
  if (it == dedicated_.end() || it->second.generation != worker.generation) {
    return absl::NotFoundError(
        absl::StrCat("no dedicated worker ", worker.slot, " generation ", worker.generation));
  }
  if (it->second.closing) {
    return absl::FailedPreconditionError("the dedicated worker is closing");
  }
  if (!it->second.ended.ok()) return it->second.ended;
  UNIDIST_RETURN_IF_ERROR(AcceptableLocked(task));
  AcceptLocked(task, worker, /*dedicated=*/true);
  return absl::OkStatus();
}

void FakeWorkerPool::CloseDedicatedWorker(WorkerId worker, bool kill) {
  Calls calls;
  {
    absl::MutexLock lock(&mu_);
    ++close_calls_;
    if (!CheckAttachedLocked().ok()) return;
    auto it = dedicated_.find(worker.slot);
    if (it == dedicated_.end() || it->second.generation != worker.generation ||
        !it->second.ended.ok()) {
      return;
    }
    if (kill) {
      EndDedicatedLocked(worker.slot, absl::CancelledError("the worker was killed"), &calls);
    } else if (!it->second.closing) {
      it->second.closing = true;
      EndIfClosedLocked(worker.slot, &calls);
    }
  }
  Run(std::move(calls));
}

absl::Status FakeWorkerPool::ReplyToWorker(WorkerId worker, const proto::ApiReply& /*reply*/) {
  absl::MutexLock lock(&mu_);
  UNIDIST_RETURN_IF_ERROR(CheckAttachedLocked());
  if (!stopping_) {
    if (worker.slot >= 0 && worker.slot < options_.num_workers &&
        pool_generations_[worker.slot] == worker.generation) {
      return absl::OkStatus();
    }
    auto it = dedicated_.find(worker.slot);
    if (it != dedicated_.end() && it->second.generation == worker.generation &&
        it->second.ended.ok()) {
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrCat("worker ", worker.slot, " is gone"));
}

absl::Status FakeWorkerPool::Cancel(uint64_t task_id, bool force) {
  Calls calls;
  {
    absl::MutexLock lock(&mu_);
    ++cancel_calls_;
    UNIDIST_RETURN_IF_ERROR(CheckAttachedLocked());
    auto it = in_flight_.find(task_id);
    if (it == in_flight_.end()) {
      return absl::NotFoundError(absl::StrCat("the worker pool has no task ", task_id,
                                              " (it finished, or was never dispatched)"));
    }
    const FakeTask& task = history_[it->second.sequence];
    if (!it->second.started) {
      ReportErrorLocked(task_id, absl::StatusCode::kCancelled,
                        "the task was cancelled before it started", /*worker_died=*/false, &calls);
    } else if (!force) {
      return absl::FailedPreconditionError(
          absl::StrCat("task ", task_id, " is running; force stops its worker"));
    } else if (task.dedicated) {
      return absl::InvalidArgumentError(
          "force would kill the actor running the call; use Actor::Kill for that");
    } else {
      const int index = task.worker.slot;
      ReportErrorLocked(task_id, absl::StatusCode::kCancelled,
                        "the task was cancelled: its worker was stopped", /*worker_died=*/false,
                        &calls);
      ReplacePoolWorkerLocked(index, &calls);
    }
  }
  Run(std::move(calls));
  return absl::OkStatus();
}

void FakeWorkerPool::Shutdown() {
  Calls calls;
  {
    absl::MutexLock lock(&mu_);
    ++shutdown_calls_;
    if (stopping_) return;
    stopping_ = true;
    if (!CheckAttachedLocked().ok()) return;
    std::vector<std::pair<size_t, uint64_t>> pool_tasks;  // (sequence, task id)
    for (const auto& [task_id, task] : in_flight_) {
      if (!history_[task.sequence].dedicated) pool_tasks.emplace_back(task.sequence, task_id);
    }
    std::sort(pool_tasks.begin(), pool_tasks.end());
    for (const auto& [sequence, task_id] : pool_tasks) {
      ReportErrorLocked(task_id, absl::StatusCode::kCancelled,
                        absl::StrCat("unidist was shut down before task '",
                                     history_[sequence].function(), "' finished"),
                        /*worker_died=*/false, &calls);
    }
    std::vector<int> live;
    for (const auto& [slot, dedicated] : dedicated_) {
      if (dedicated.ended.ok()) live.push_back(slot);
    }
    std::sort(live.begin(), live.end());
    for (int slot : live) {
      EndDedicatedLocked(slot, absl::CancelledError("the worker was killed"), &calls);
    }
  }
  Run(std::move(calls));
}

int FakeWorkerPool::num_workers() const {
  absl::MutexLock lock(&mu_);
  return options_.num_workers;
}

bool FakeWorkerPool::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

std::vector<WorkerState> FakeWorkerPool::Workers() const {
  absl::MutexLock lock(&mu_);
  std::vector<WorkerState> workers(pool_generations_.size());
  for (size_t i = 0; i < workers.size(); ++i) {
    workers[i].index = static_cast<int>(i);
    workers[i].alive = !stopping_;
  }
  for (const auto& [task_id, task] : in_flight_) {
    const FakeTask& sent = history_[task.sequence];
    if (!sent.dedicated) ++workers[static_cast<size_t>(sent.worker.slot)].tasks_in_flight;
  }
  return workers;
}

size_t FakeWorkerPool::workers_replaced() const {
  absl::MutexLock lock(&mu_);
  return workers_replaced_;
}

// --- What the runtime handed over ---

absl::StatusOr<FakeTask> FakeWorkerPool::NextMatching(
    const std::function<bool(const FakeTask&)>& matches, absl::Duration timeout,
    absl::string_view what) {
  absl::MutexLock lock(&mu_);
  size_t found = 0;
  const auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (size_t i = 0; i < history_.size(); ++i) {
      if (!taken_[i] && matches(history_[i])) {
        found = i;
        return true;
      }
    }
    return false;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ready), timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("no ", what, " was dispatched within ", absl::FormatDuration(timeout)));
  }
  taken_[found] = true;
  return history_[found];
}

absl::StatusOr<FakeTask> FakeWorkerPool::NextDispatch(absl::Duration timeout) {
  return NextMatching([](const FakeTask&) { return true; }, timeout, "task");
}

absl::StatusOr<FakeTask> FakeWorkerPool::NextDispatchOf(absl::string_view function,
                                                        absl::Duration timeout) {
  return NextMatching([function](const FakeTask& task) { return task.function() == function; },
                      timeout, absl::StrCat("task of '", function, "'"));
}

std::vector<FakeTask> FakeWorkerPool::TakeDispatches() {
  absl::MutexLock lock(&mu_);
  std::vector<FakeTask> taken;
  for (size_t i = 0; i < history_.size(); ++i) {
    if (taken_[i]) continue;
    taken_[i] = true;
    taken.push_back(history_[i]);
  }
  return taken;
}

std::vector<FakeTask> FakeWorkerPool::Dispatched() const {
  absl::MutexLock lock(&mu_);
  return history_;
}

std::vector<FakeTask> FakeWorkerPool::InFlight() const {
  absl::MutexLock lock(&mu_);
  std::vector<size_t> sequences;
  for (const auto& [task_id, task] : in_flight_) sequences.push_back(task.sequence);
  std::sort(sequences.begin(), sequences.end());
  std::vector<FakeTask> tasks;
  for (size_t sequence : sequences) tasks.push_back(history_[sequence]);
  return tasks;
}

// --- Driving the tasks ---

absl::StatusOr<FakeWorkerPool::InFlightTask*> FakeWorkerPool::DrivableLocked(uint64_t task_id) {
  UNIDIST_RETURN_IF_ERROR(CheckAttachedLocked());
  auto it = in_flight_.find(task_id);
  if (it == in_flight_.end()) {
    return absl::NotFoundError(absl::StrCat("task ", task_id, " is not in flight"));
  }
  const FakeTask& task = history_[it->second.sequence];
  if (task.dedicated) {
    const Dedicated& dedicated = dedicated_.at(task.worker.slot);
    if (dedicated.tasks.front() != task_id) {
      return absl::FailedPreconditionError(
          absl::StrCat("task ", task_id, " waits behind task ", dedicated.tasks.front(),
                       " on its dedicated worker, which runs its tasks one at a time, in order"));
    }
  }
  return &it->second;
}

absl::Status FakeWorkerPool::MarkStarted(uint64_t task_id) {
  absl::MutexLock lock(&mu_);
  UNIDIST_ASSIGN_OR_RETURN(InFlightTask * task, DrivableLocked(task_id));
  task->started = true;
  return absl::OkStatus();
}

absl::Status FakeWorkerPool::Finish(proto::TaskResult result) {
  Calls calls;
  {
    absl::MutexLock lock(&mu_);
    const uint64_t task_id = result.task_id();
    UNIDIST_ASSIGN_OR_RETURN(InFlightTask * task, DrivableLocked(task_id));
    if (result.has_error()) {
      const FakeTask& sent = history_[task->sequence];
      result.mutable_error()->set_function(sent.function());
      result.mutable_error()->set_worker_index(sent.worker.slot);
    }
    ReportLocked(task_id, std::move(result), &calls);
  }
  Run(std::move(calls));
  return absl::OkStatus();
}

absl::Status FakeWorkerPool::Complete(uint64_t task_id, std::vector<std::string> values) {
  proto::TaskResult result;
  result.set_task_id(task_id);
  for (std::string& value : values) result.add_values(std::move(value));
  return Finish(std::move(result));
}

absl::Status FakeWorkerPool::Fail(uint64_t task_id, const absl::Status& error) {
  if (error.ok()) return absl::InvalidArgumentError("Fail needs an error, not OK");
  proto::TaskResult result;
  result.set_task_id(task_id);
  StatusToTaskError(error, result.mutable_error());
  return Finish(std::move(result));
}

absl::Status FakeWorkerPool::WorkerDied(uint64_t task_id) {
  Calls calls;
  {
    absl::MutexLock lock(&mu_);
    UNIDIST_ASSIGN_OR_RETURN(InFlightTask * task, DrivableLocked(task_id));
    const FakeTask& sent = history_[task->sequence];
    const WorkerId worker = sent.worker;
    if (sent.dedicated) {
      EndDedicatedLocked(
          worker.slot,
          absl::UnavailableError(absl::StrCat("dedicated worker ", worker.slot,
                                              " died while running '", sent.function(), "'")),
          &calls);
    } else {
      ReportErrorLocked(
          task_id, absl::StatusCode::kUnavailable,
          absl::StrCat("worker ", worker.slot, " died while running '", sent.function(), "'"),
          /*worker_died=*/true, &calls);
      ReplacePoolWorkerLocked(worker.slot, &calls);
    }
  }
  Run(std::move(calls));
  return absl::OkStatus();
}

absl::Status FakeWorkerPool::LoseDedicatedWorker(WorkerId worker) {
  Calls calls;
  {
    absl::MutexLock lock(&mu_);
    UNIDIST_RETURN_IF_ERROR(CheckAttachedLocked());
    auto it = dedicated_.find(worker.slot);
    if (it == dedicated_.end() || it->second.generation != worker.generation ||
        !it->second.ended.ok()) {
      return absl::NotFoundError(absl::StrCat("no live dedicated worker ", worker.slot,
                                              " generation ", worker.generation));
    }
    EndDedicatedLocked(
        worker.slot,
        absl::UnavailableError(absl::StrCat("dedicated worker ", worker.slot, " died")), &calls);
  }
  Run(std::move(calls));
  return absl::OkStatus();
}

absl::Status FakeWorkerPool::DeliverStrayResult(proto::TaskResult result) {
  Calls calls;
  {
    absl::MutexLock lock(&mu_);
    UNIDIST_RETURN_IF_ERROR(CheckAttachedLocked());
    ++results_reported_;
    QueueLocked([on_result = options_.on_result,
                 result = std::move(result)]() mutable { on_result(std::move(result)); },
                &calls);
  }
  Run(std::move(calls));
  return absl::OkStatus();
}

// --- Counters ---

size_t FakeWorkerPool::dispatch_calls() const {
  absl::MutexLock lock(&mu_);
  return dispatch_calls_;
}

size_t FakeWorkerPool::dispatch_to_calls() const {
  absl::MutexLock lock(&mu_);
  return dispatch_to_calls_;
}

void FakeWorkerPool::WaitForResult(uint64_t task_id, absl::Time /*deadline*/) {
  absl::MutexLock lock(&mu_);
  waits_for_result_.push_back(task_id);
}

std::vector<uint64_t> FakeWorkerPool::waits_for_result() const {
  absl::MutexLock lock(&mu_);
  return waits_for_result_;
}

size_t FakeWorkerPool::cancel_calls() const {
  absl::MutexLock lock(&mu_);
  return cancel_calls_;
}

bool FakeWorkerPool::WaitForCancelCalls(size_t count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  struct Enough {
    const FakeWorkerPool* fake;
    size_t count;
    static bool Check(Enough* enough) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return enough->fake->cancel_calls_ >= enough->count;
    }
  } enough{this, count};  // non-const: absl::Condition takes a T*
  return mu_.AwaitWithTimeout(absl::Condition(&Enough::Check, &enough), timeout);
}

size_t FakeWorkerPool::shutdown_calls() const {
  absl::MutexLock lock(&mu_);
  return shutdown_calls_;
}

size_t FakeWorkerPool::close_calls() const {
  absl::MutexLock lock(&mu_);
  return close_calls_;
}

size_t FakeWorkerPool::results_reported() const {
  absl::MutexLock lock(&mu_);
  return results_reported_;
}

size_t FakeWorkerPool::dedicated_workers_lost() const {
  absl::MutexLock lock(&mu_);
  return dedicated_workers_lost_;
}

// --- Bookkeeping ---

absl::Status FakeWorkerPool::AcceptableLocked(const proto::TaskRequest& task) const {
  if (stopping_) return absl::FailedPreconditionError("the worker pool has shut down");
  if (task.ByteSizeLong() > options_.max_frame_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("task '", task.function(), "' is too large to send: ", task.ByteSizeLong(),
                     " bytes, the limit is ", options_.max_frame_bytes));
  }
  if (in_flight_.contains(task.task_id())) {
    return absl::InvalidArgumentError(
        absl::StrCat("task ", task.task_id(), " is in flight already"));
  }
  return absl::OkStatus();
}

void FakeWorkerPool::AcceptLocked(proto::TaskRequest task, WorkerId worker, bool dedicated) {
  const uint64_t task_id = task.task_id();
  in_flight_[task_id].sequence = history_.size();
  if (dedicated) dedicated_.at(worker.slot).tasks.push_back(task_id);
  FakeTask accepted;
  accepted.request = std::move(task);
  accepted.worker = worker;
  accepted.dedicated = dedicated;
  history_.push_back(std::move(accepted));
  taken_.push_back(false);
}

void FakeWorkerPool::ReportLocked(uint64_t task_id, proto::TaskResult result, Calls* calls) {
  auto it = in_flight_.find(task_id);
  const FakeTask& task = history_[it->second.sequence];
  const bool dedicated = task.dedicated;
  const int slot = task.worker.slot;
  in_flight_.erase(it);
  if (dedicated) {
    std::deque<uint64_t>& tasks = dedicated_.at(slot).tasks;
    tasks.erase(std::find(tasks.begin(), tasks.end(), task_id));
  }
  result.set_task_id(task_id);
  ++results_reported_;
  QueueLocked([on_result = options_.on_result,
               result = std::move(result)]() mutable { on_result(std::move(result)); },
              calls);
  if (dedicated) EndIfClosedLocked(slot, calls);
}

void FakeWorkerPool::ReportErrorLocked(uint64_t task_id, absl::StatusCode code,
                                       const std::string& message, bool worker_died, Calls* calls) {
  const FakeTask& task = history_[in_flight_.at(task_id).sequence];
  proto::TaskResult result;
  result.set_task_id(task_id);
  proto::TaskError* error = result.mutable_error();
  error->set_code(static_cast<int>(code));
  error->set_message(message);
  error->set_function(task.function());
  error->set_worker_index(task.worker.slot);
  error->set_worker_died(worker_died);
  ReportLocked(task_id, std::move(result), calls);
}

void FakeWorkerPool::EndDedicatedLocked(int slot, const absl::Status& why, Calls* calls) {
  Dedicated& dedicated = dedicated_.at(slot);
  dedicated.ended = why;
  // As the multiprocessing backend does: the loss first, then its tasks' results.
  ++dedicated_workers_lost_;
  if (options_.on_dedicated_worker_lost) {
    QueueLocked([lost = options_.on_dedicated_worker_lost,
                 worker = WorkerId{slot, dedicated.generation}, why] { lost(worker, why); },
                calls);
  }
  const bool died = why.code() == absl::StatusCode::kUnavailable;
  const std::deque<uint64_t> tasks = dedicated.tasks;  // ReportLocked erases from it
  for (uint64_t task_id : tasks) {
    const std::string& function = history_[in_flight_.at(task_id).sequence].function();
    ReportErrorLocked(task_id, why.code(),
                      absl::StrCat("task '", function, "' ",
                                   died ? "failed: " : "was cancelled: ", why.message()),
                      died, calls);
  }
}

void FakeWorkerPool::EndIfClosedLocked(int slot, Calls* calls) {
  Dedicated& dedicated = dedicated_.at(slot);
  if (!dedicated.closing || !dedicated.ended.ok() || !dedicated.tasks.empty()) return;
  dedicated.ended = absl::CancelledError("the worker was closed");
  ++dedicated_workers_lost_;
  if (options_.on_dedicated_worker_lost) {
    QueueLocked(
        [lost = options_.on_dedicated_worker_lost, worker = WorkerId{slot, dedicated.generation},
         why = dedicated.ended] { lost(worker, why); },
        calls);
  }
}

void FakeWorkerPool::ReplacePoolWorkerLocked(int index, Calls* calls) {
  const WorkerId gone{index, pool_generations_[index]};
  ++pool_generations_[index];
  ++workers_replaced_;
  if (options_.on_worker_gone) {
    QueueLocked([on_worker_gone = options_.on_worker_gone, gone] { on_worker_gone(gone); }, calls);
  }
}

// --- The backend ---

namespace {

// The WorkerPool the runtime owns: forwards to the test's fake, and detaches it when the
// runtime lets go.
class FakeWorkerPoolHandle : public WorkerPool {
 public:
  explicit FakeWorkerPoolHandle(std::shared_ptr<FakeWorkerPool> pool) : pool_(std::move(pool)) {}
  ~FakeWorkerPoolHandle() override { pool_->Detach(); }

  absl::Status Dispatch(const proto::TaskRequest& task) override { return pool_->Dispatch(task); }
  absl::StatusOr<WorkerId> StartDedicatedWorker() override { return pool_->StartDedicatedWorker(); }
  absl::Status DispatchTo(WorkerId worker, const proto::TaskRequest& task) override {
    return pool_->DispatchTo(worker, task);
  }
  void CloseDedicatedWorker(WorkerId worker, bool kill) override {
    pool_->CloseDedicatedWorker(worker, kill);
  }
  absl::Status ReplyToWorker(WorkerId worker, const proto::ApiReply& reply) override {
    return pool_->ReplyToWorker(worker, reply);
  }
  absl::Status Cancel(uint64_t task_id, bool force) override {
    return pool_->Cancel(task_id, force);
  }
  void Shutdown() override { pool_->Shutdown(); }
  int num_workers() const override { return pool_->num_workers(); }
  bool stopping() const override { return pool_->stopping(); }
  std::vector<WorkerState> Workers() const override { return pool_->Workers(); }
  size_t workers_replaced() const override { return pool_->workers_replaced(); }
  void WaitForResult(uint64_t task_id, absl::Time deadline) override {
    pool_->WaitForResult(task_id, deadline);
  }
  absl::StatusOr<std::string> FetchObject(const DataID& id, uint64_t holder) override {
    return pool_->FetchObject(id, holder);
  }
  void ReleaseObject(const DataID& id, uint64_t holder) override {
    pool_->ReleaseObject(id, holder);
  }

 private:
  const std::shared_ptr<FakeWorkerPool> pool_;
};

}  // namespace

BackendDescription FakeBackend(std::shared_ptr<FakeWorkerPool> pool, std::string name) {
  BackendDescription backend;
  backend.name = std::move(name);
  backend.abilities.concurrent_with_driver = true;
  backend.abilities.survives_worker_crash = true;
  backend.start_pool =
      [pool = std::move(pool)](
          WorkerPoolOptions options) -> absl::StatusOr<std::unique_ptr<WorkerPool>> {
    UNIDIST_RETURN_IF_ERROR(pool->Start(std::move(options)));
    return std::unique_ptr<WorkerPool>(std::make_unique<FakeWorkerPoolHandle>(pool));
  };
  return backend;
}

}  // namespace unidist::testing
