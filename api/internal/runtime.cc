// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/runtime.h"

#include <unistd.h>

#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/internal/executor.h"
#include "api/internal/function_registry.h"
#include "glog/logging.h"
#include "common/monotonic_clock.h"
#include "common/shared_memory.h"
#include "common/status_macros.h"
#include "process_manager/internal/worker_loop.h"

namespace unidist::api_internal {

// A submitted task on its way to the pool: its request, filled in as its ObjectRef
// arguments complete.
struct PendingTask {
  // Where the task is. SendTask and Cancel race for the move out of kQueued with a
  // compare-and-swap, so a task is either sent or dropped, never both. (An atomic rather
  // than a mutex: every task pays for this.)
  enum Stage : int { kQueued, kSending, kSent, kDropped };
  std::atomic<int> stage{kQueued};
  uint64_t task_id = 0;  // the pool's id for it, fixed at creation (retries keep it)
  proto::TaskRequest request;
  std::vector<DataID> result_ids;
  int max_retries = 0;
  // For an actor call: the actor, whose queue holds the task until it is sent.
  std::shared_ptr<ActorRecord> actor;
  // Arguments not yet complete, plus one held by Submit until it has registered them all.
  std::atomic<int> waiting{1};
  std::atomic<bool> failed{false};
  // What its arguments need kept until the result is back, by position (null for the
  // others): the shared-memory segment of a large value (the worker opens it through the
  // driver's descriptor), or the reference to an object sent as its location (kept on a
  // worker rank, mpi backend), so that the copy stays until the task's rank has it.
  // Each argument callback writes only its own slot.
  std::vector<std::shared_ptr<const void>> segments;
  TaskStamps stamps;  // for the timeline; see timeline.h
};

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Start(const BackendDescription& backend,
                                                        int num_workers,
                                                        size_t max_message_bytes,
                                                        const RuntimeTuning& tuning) {
  std::unique_ptr<Runtime> runtime(new Runtime());
  WorkerPoolOptions options;
  options.least_loaded = tuning.least_loaded;
  // Other processes can map the driver's segments only on this machine.
  runtime->shared_memory_min_bytes_ =
      backend.abilities.shared_memory ? tuning.shared_memory_min_bytes : SIZE_MAX;
  options.num_workers = num_workers;
  options.max_frame_bytes = max_message_bytes;
  options.execute = &ExecuteTask;
  options.on_result = [raw = runtime.get()](proto::TaskResult result) {
    raw->OnResult(std::move(result));
  };
  options.on_dedicated_worker_lost = [raw = runtime.get()](WorkerId worker,
                                                           absl::Status status) {
    raw->OnDedicatedWorkerLost(worker, status);
  };
  options.on_api_request = [raw = runtime.get()](WorkerId worker, proto::ApiRequest request) {
    raw->OnApiRequest(worker, std::move(request));
  };
  options.on_worker_gone = [raw = runtime.get()](WorkerId worker) { raw->OnWorkerGone(worker); };
  options.drop_actor = &DropActorInstance;
  UNIDIST_ASSIGN_OR_RETURN(runtime->pool_, backend.start_pool(std::move(options)));
  // Objects the pool keeps elsewhere (mpi: on the worker rank that made them) are fetched
  // and released through it. Shutdown removes the hooks before the pool goes.
  WorkerPool* pool = runtime->pool_.get();
  runtime->describe_holder_ = backend.describe_holder;
  runtime->store_->SetRemoteHooks(RemoteHooks{
      [pool](const DataID& id, const RemoteLocation& where) {
        return pool->FetchObject(id, where.holder);
      },
      [pool](const DataID& id, const RemoteLocation& where) {
        pool->ReleaseObject(id, where.holder);
      },
      runtime->describe_holder_});
  return runtime;
}

Runtime::~Runtime() { Shutdown(); }

RefHandle Runtime::Put(std::string bytes) {
  const DataID id = DataID::Generate();
  // A fresh id cannot collide, so this cannot fail.
  store_->PutReady(id, std::move(bytes)).IgnoreError();
  return RefHandle{id, std::make_shared<const RefToken>(id, store_)};
}

std::shared_ptr<PendingTask> Runtime::NewTask(const std::string& function,
                                                       int num_returns,
                                                       std::vector<RefHandle>* results) {
  auto task = std::make_shared<PendingTask>();
  task->task_id = next_task_id_.fetch_add(1, std::memory_order_relaxed);
  tasks_waiting_.fetch_add(1, std::memory_order_relaxed);
  for (int i = 0; i < num_returns; ++i) {
    const DataID id = DataID::Generate();
    store_->CreatePending(id).IgnoreError();  // fresh ids cannot collide
    task->result_ids.push_back(id);
    task->request.add_result_ids(id.Binary());
    results->push_back(RefHandle{id, std::make_shared<const RefToken>(id, store_, task)});
  }
  task->request.set_function(function);
  if (TimelineRecording()) task->stamps.Submitted(function);
  return task;
}

std::shared_ptr<const SharedSegment> Runtime::SegmentFor(ObjectStore& store, const DataID& id,
                                                        const std::string& bytes) {
  if (std::shared_ptr<const void> kept = store.Attachment(id); kept != nullptr) {
    return std::static_pointer_cast<const SharedSegment>(kept);
  }
  // Written outside the store's lock: a large value takes a while. Two tasks that start
  // at once may both write one; the store keeps the first, and the other is freed when
  // its task is done.
  absl::StatusOr<std::unique_ptr<SharedSegment>> created =
      SharedSegment::Create(absl::StrCat("unidist-", getpid()), bytes);
  if (!created.ok()) {
    LOG_FIRST_N(WARNING, 1) << "unidist: sending a large value through the socket: "
                            << created.status();
    return nullptr;
  }
  std::shared_ptr<const SharedSegment> segment = std::move(*created);
  std::shared_ptr<const void> kept = store.AttachIfAbsent(id, segment);
  return kept == nullptr ? segment : std::static_pointer_cast<const SharedSegment>(kept);
}

void Runtime::ResolveArguments(const std::shared_ptr<PendingTask>& task,
                               std::vector<TaskArg> args) {
  task->segments.resize(args.size());
  for (size_t i = 0; i < args.size(); ++i) task->request.add_args();
  for (size_t i = 0; i < args.size(); ++i) {
    proto::TaskArgument* arg = task->request.mutable_args(static_cast<int>(i));
    if (!args[i].is_ref) {
      *arg->mutable_value() = std::move(args[i].value);
      continue;
    }
    const RefHandle& ref = args[i].ref;
    arg->set_object_id(ref.id.Binary());
    if (ref.token == nullptr) {
      FailTask(task, absl::InvalidArgumentError(
                         absl::StrCat("argument ", i + 1, " of '", task->request.function(),
                                      "' is an empty ObjectRef")));
      break;
    }
    if (ref.token->store() == nullptr) {
      FailTask(task, ref.token->error());
      break;
    }
    task->waiting.fetch_add(1, std::memory_order_relaxed);
    // The callback keeps the argument's token, so the object stays in its store until
    // its value has been copied into the request. Each callback writes only its own
    // argument slot; the last one to finish dispatches.
    ref.token->store()->OnComplete(
        ref.id, [this, task, arg, i, token = ref.token](const absl::StatusOr<ObjectStore::Value>& value) {
          if (value.ok() && *value == nullptr) {
            // Kept on a worker rank: the task's rank gets it from there.
            if (std::optional<RemoteLocation> where = token->store()->Location(token->id())) {
              proto::ObjectLocation* location = arg->mutable_location();
              location->set_object_id(token->id().Binary());
              location->set_holder(where->holder);
              location->set_size(where->size);
              task->segments[i] = token;
            } else {
              FailTask(task, absl::NotFoundError(absl::StrCat(
                                 "object ", token->id().Hex(), " is gone from the store")));
            }
          } else if (value.ok()) {
            std::shared_ptr<const SharedSegment> segment;
            if ((*value)->size() >= shared_memory_min_bytes_) {
              segment = SegmentFor(*token->store(), token->id(), **value);
            }
            if (segment != nullptr) {
              const SharedSegmentRef& where = segment->ref();
              proto::SharedValue* shared = arg->mutable_shared();
              shared->set_pid(static_cast<uint32_t>(where.pid));
              shared->set_fd(where.fd);
              shared->set_size(where.size);
              shared->set_inode(where.inode);
              task->segments[i] = std::move(segment);
            } else {
              arg->set_value(**value);
            }
          } else {
            FailTask(task, value.status());
          }
          OnArgumentComplete(task);
        });
  }
  OnArgumentComplete(task);  // releases the submitter's own hold
}

std::vector<RefHandle> Runtime::Submit(const std::string& function, std::vector<TaskArg> args,
                                       int num_returns, int max_retries) {
  std::vector<RefHandle> results;
  std::shared_ptr<PendingTask> task = NewTask(function, num_returns, &results);
  task->max_retries = std::max(0, max_retries);
  ResolveArguments(task, std::move(args));
  return results;
}

std::vector<RefHandle> Runtime::Map(const std::string& function,
                                    std::vector<std::string> inputs, size_t chunk_size,
                                    int max_retries) {
  // Python's Pool.map heuristic: about four chunks per worker, so that a slow chunk
  // still leaves the others work to share. A chunk also ends at kMapChunkBytes of
  // inputs, which keeps its frame far from the message limit and lets workers start on
  // the first chunks while the driver frames the next.
  constexpr size_t kMapChunkBytes = size_t{4} << 20;
  const size_t workers = static_cast<size_t>(std::max(1, pool_->num_workers()));
  if (chunk_size == 0) chunk_size = std::max<size_t>(1, (inputs.size() + 4 * workers - 1) / (4 * workers));
  std::vector<RefHandle> results;
  results.reserve(inputs.size());
  for (size_t begin = 0; begin < inputs.size();) {
    size_t end = begin;
    size_t bytes = 0;
    while (end < inputs.size() && end - begin < chunk_size &&
           (end == begin || bytes + inputs[end].size() <= kMapChunkBytes)) {
      bytes += inputs[end].size();
      ++end;
    }
    std::shared_ptr<PendingTask> task =
        NewTask(function, static_cast<int>(end - begin), &results);
    task->request.set_map_chunk(true);
    task->max_retries = std::max(0, max_retries);
    std::vector<TaskArg> args(end - begin);
    for (size_t i = begin; i < end; ++i) args[i - begin].value = std::move(inputs[i]);
    ResolveArguments(task, std::move(args));
    begin = end;
  }
  return results;
}

void Runtime::OnArgumentComplete(const std::shared_ptr<PendingTask>& task) {
  if (task->waiting.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  tasks_waiting_.fetch_sub(1, std::memory_order_relaxed);
  if (task->actor != nullptr) {
    PumpActor(*task->actor);  // actor calls go out in submission order
    return;
  }
  if (task->failed.load(std::memory_order_acquire)) return;
  Dispatch(task);
}

absl::StatusOr<std::shared_ptr<ActorRecord>> Runtime::StartActor(const std::string& class_name) {
  UNIDIST_ASSIGN_OR_RETURN(WorkerId worker, pool_->StartDedicatedWorker());
  auto actor = std::make_shared<ActorRecord>();
  actor->class_name = class_name;
  actor->worker = worker;
  absl::MutexLock lock(&mu_);
  actors_by_slot_[worker.slot] = actor;
  return actor;
}

std::vector<RefHandle> Runtime::SubmitActorCall(const std::shared_ptr<ActorRecord>& actor,
                                                const std::string& function,
                                                std::vector<TaskArg> args, int num_returns) {
  std::vector<RefHandle> results;
  std::shared_ptr<PendingTask> task = NewTask(function, num_returns, &results);
  task->actor = actor;
  {
    absl::MutexLock lock(&actor->mu);
    if (actor->gone.ok()) actor->queue.push_back(task);
  }
  ResolveArguments(task, std::move(args));
  absl::Status gone;
  {
    absl::MutexLock lock(&actor->mu);
    gone = actor->gone;
  }
  if (!gone.ok()) FailTask(task, gone);
  return results;
}

void Runtime::PumpActor(ActorRecord& actor) {
  // One thread at a time sends the actor's calls, in queue order, without holding the
  // actor's lock: with the sequential backend sending a call runs it, and what it sets off
  // (its results completing, the calls it submits) may pump this very actor again. Such
  // a pump, or one from another thread, leaves the work to the thread already pumping.
  {
    absl::MutexLock lock(&actor.mu);
    if (actor.pumping) return;  // that thread looks at the queue again before it stops
    actor.pumping = true;
  }
  for (;;) {
    std::vector<std::shared_ptr<PendingTask>> ready;
    bool close = false;
    {
      absl::MutexLock lock(&actor.mu);
      while (!actor.queue.empty()) {
        std::shared_ptr<PendingTask>& next = actor.queue.front();
        if (!next->failed.load(std::memory_order_acquire)) {
          if (next->waiting.load(std::memory_order_acquire) > 0) break;  // arguments pending
          ready.push_back(std::move(next));
        }
        actor.queue.pop_front();
      }
      if (ready.empty()) {
        actor.pumping = false;
        if (actor.queue.empty() && actor.released && actor.gone.ok() && !actor.closed) {
          actor.closed = close = true;
        }
      }
    }
    if (ready.empty()) {
      if (close) pool_->CloseDedicatedWorker(actor.worker, /*kill=*/false);
      return;
    }
    for (const std::shared_ptr<PendingTask>& task : ready) {
      absl::Status sent = SendTask(task, &actor.worker);
      if (sent.ok()) continue;
      {
        // Refused because the actor was killed meanwhile: say that, as for its queued calls.
        absl::MutexLock lock(&actor.mu);
        if (!actor.gone.ok()) sent = actor.gone;
      }
      FailTask(task, sent);
    }
  }
}

void Runtime::ReleaseActor(ActorRecord& actor) {
  {
    absl::MutexLock lock(&actor.mu);
    actor.released = true;
  }
  PumpActor(actor);  // closes it once its queue is empty
}

absl::Status Runtime::KillActor(ActorRecord& actor) {
  {
    absl::MutexLock lock(&actor.mu);
    if (!actor.gone.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("actor ", actor.class_name, " is gone already: ", actor.gone.message()));
    }
  }
  SetActorGone(actor, absl::CancelledError(absl::StrCat("actor ", actor.class_name,
                                                        " was killed")));
  pool_->CloseDedicatedWorker(actor.worker, /*kill=*/true);
  return absl::OkStatus();
}

void Runtime::SetActorGone(ActorRecord& actor, absl::Status gone) {
  std::deque<std::shared_ptr<PendingTask>> queued;
  {
    absl::MutexLock lock(&actor.mu);
    if (!actor.gone.ok()) return;  // the first reason stays
    actor.gone = gone;
    queued.swap(actor.queue);
  }
  for (const std::shared_ptr<PendingTask>& task : queued) FailTask(task, gone);
}

void Runtime::OnDedicatedWorkerLost(WorkerId worker, const absl::Status& status) {
  std::shared_ptr<ActorRecord> actor;
  {
    absl::MutexLock lock(&mu_);
    auto it = actors_by_slot_.find(worker.slot);
    if (it == actors_by_slot_.end()) return;
    actor = it->second.lock();
    if (actor == nullptr || actor->worker.generation != worker.generation) return;
    actors_by_slot_.erase(it);
  }
  SetActorGone(*actor, status.code() == absl::StatusCode::kUnavailable
                           ? absl::UnavailableError(absl::StrCat(
                                 "actor ", actor->class_name, " is gone: ", status.message()))
                           : status);
}

void Runtime::FailTask(const std::shared_ptr<PendingTask>& task, const absl::Status& error) {
  if (task->failed.exchange(true, std::memory_order_acq_rel)) return;
  FailResults(*task, error);
}

void Runtime::FailResults(const PendingTask& task, const absl::Status& error) {
  for (const DataID& id : task.result_ids) store_->Fail(id, error);
}

void Runtime::Dispatch(const std::shared_ptr<PendingTask>& task) {
  absl::Status dispatched = SendTask(task, /*target=*/nullptr);
  if (!dispatched.ok()) FailTask(task, dispatched);
}

absl::Status Runtime::SendTask(const std::shared_ptr<PendingTask>& task,
                               const WorkerId* target) {
  int queued = PendingTask::kQueued;
  if (task->failed.load(std::memory_order_acquire) ||
      !task->stage.compare_exchange_strong(queued, PendingTask::kSending,
                                           std::memory_order_acq_rel)) {
    return absl::OkStatus();  // failed or cancelled meanwhile: its results say so
  }
  if (task->stamps.submit_ns != 0) task->stamps.Dispatched(&task->request);
  Dispatched record;
  record.task = task;
  record.result_ids = task->result_ids;
  record.retries_left = target == nullptr ? task->max_retries : 0;
  if (record.retries_left > 0) {
    record.request = std::make_unique<proto::TaskRequest>(task->request);
  }
  absl::Status sent = DispatchRequest(std::move(record), std::move(task->request), target);
  task->stage.store(PendingTask::kSent, std::memory_order_release);
  return sent;
}

absl::Status Runtime::DispatchRequest(Dispatched record, proto::TaskRequest request,
                                      const WorkerId* target) {
  const uint64_t task_id = record.task->task_id;
  {
    absl::MutexLock lock(&mu_);
    dispatched_[task_id] = std::move(record);
  }
  request.set_task_id(task_id);
  if (target != nullptr) request.set_actor_key(ActorKey(*target));
  absl::Status dispatched = target != nullptr ? pool_->DispatchTo(*target, std::move(request))
                                              : pool_->Dispatch(std::move(request));
  if (dispatched.ok()) return absl::OkStatus();
  {
    absl::MutexLock lock(&mu_);
    dispatched_.erase(task_id);
  }
  if (dispatched.code() == absl::StatusCode::kFailedPrecondition && pool_->stopping()) {
    return absl::CancelledError("unidist was shut down before the task could run");
  }
  return dispatched;
}

absl::Status Runtime::Cancel(const RefToken& token, bool force) {
  std::shared_ptr<PendingTask> task = token.task().lock();
  const bool complete = token.store() != nullptr && token.store()->IsComplete(token.id());
  if (task == nullptr || complete) {
    if (complete || token.is_task_result()) {
      return absl::FailedPreconditionError("the task has finished already");
    }
    return absl::InvalidArgumentError("the ObjectRef is not the result of a task");
  }
  int queued = PendingTask::kQueued;
  if (task->stage.compare_exchange_strong(queued, PendingTask::kDropped,
                                          std::memory_order_acq_rel)) {
    // Not sent anywhere yet, and now it never will be.
    if (task->failed.exchange(true, std::memory_order_acq_rel)) {
      return absl::FailedPreconditionError("the task has failed or been cancelled already");
    }
    FailResults(*task, absl::CancelledError("the task was cancelled before it started"));
    if (task->actor != nullptr) PumpActor(*task->actor);
    return absl::OkStatus();
  }
  // Being handed to the pool right now: a non-blocking step, so wait it out.
  while (task->stage.load(std::memory_order_acquire) == PendingTask::kSending) {
    absl::SleepFor(absl::Microseconds(20));
  }
  absl::Status cancelled = pool_->Cancel(task->task_id, force);
  if (cancelled.code() == absl::StatusCode::kNotFound) {
    return absl::FailedPreconditionError("the task has finished already");
  }
  return cancelled;
}

void Runtime::OnResult(proto::TaskResult result) {
  Dispatched record;
  {
    absl::MutexLock lock(&mu_);
    auto it = dispatched_.find(result.task_id());
    if (it == dispatched_.end()) return;  // not ours: the pool only reports tasks we sent
    record = std::move(it->second);
    dispatched_.erase(it);
    if (result.error().worker_died() && record.retries_left > 0) ++tasks_retried_;
  }
  if (const PendingTask& task = *record.task; task.stamps.submit_ns != 0) {
    RecordTaskOutcome(timeline_run_, task.stamps, task.actor ? task.actor->class_name : "", result);
  }
  if (result.error().worker_died() && record.retries_left > 0) {
    --record.retries_left;
    proto::TaskRequest request = *record.request;
    std::vector<DataID> ids = record.result_ids;
    std::shared_ptr<PendingTask> task = record.task;
    // Between the pool's report and the new dispatch, Cancel waits (kSending).
    task->stage.store(PendingTask::kSending, std::memory_order_release);
    if (task->stamps.submit_ns != 0) task->stamps.dispatch_ns = MonotonicNanos();
    const absl::Status retried = DispatchRequest(std::move(record), std::move(request));
    task->stage.store(PendingTask::kSent, std::memory_order_release);
    if (!retried.ok()) {
      for (const DataID& id : ids) store_->Fail(id, retried);
    }
    return;
  }
  // The task is done with its arguments' shared-memory segments: let them go before
  // its results wake anyone, so that a segment whose object is gone is freed by then.
  record.task->segments.clear();
  const std::vector<DataID>& ids = record.result_ids;
  if (result.has_error() || result.values_size() != static_cast<int>(ids.size())) {
    absl::Status error;
    if (result.has_error()) {
      const proto::TaskError& task_error = result.error();
      error = TaskErrorToStatus(task_error);
      proto::TaskError where = task_error;
      where.clear_payloads();
      error.SetPayload(kTaskFailurePayloadUrl, absl::Cord(where.SerializeAsString()));
    } else {
      error = absl::InternalError(absl::StrCat("the task returned ", result.values_size(),
                                               " values for ", ids.size(), " results"));
    }
    for (const DataID& id : ids) store_->Fail(id, error);
    return;
  }
  if (result.element_errors_size() > 0) {  // a map chunk with some failed calls
    std::vector<bool> failed(ids.size(), false);
    for (const proto::ElementError& element : result.element_errors()) {
      if (element.index() >= ids.size()) continue;  // bytes from a worker: not trusted
      failed[element.index()] = true;
      absl::Status error = TaskErrorToStatus(element.error());
      proto::TaskError where = element.error();
      where.clear_payloads();
      error.SetPayload(kTaskFailurePayloadUrl, absl::Cord(where.SerializeAsString()));
      store_->Fail(ids[element.index()], error);
    }
    for (const proto::KeptValue& kept : result.kept_values()) {
      if (kept.index() >= ids.size() || failed[kept.index()]) continue;
      SealKept(ids[kept.index()], kept);
    }
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!failed[i]) store_->Seal(ids[i], std::move(*result.mutable_values(static_cast<int>(i))));
    }
    return;
  }
  for (const proto::KeptValue& kept : result.kept_values()) {
    if (kept.index() >= ids.size()) continue;  // bytes from a worker: not trusted
    SealKept(ids[kept.index()], kept);
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    store_->Seal(ids[i], std::move(*result.mutable_values(static_cast<int>(i))));
  }
}

void Runtime::SealKept(const DataID& id, const proto::KeptValue& kept) {
  if (store_->SealRemote(id, RemoteLocation{kept.holder(), static_cast<size_t>(kept.size())})) {
    return;
  }
  // Nobody holds the object any more (or it failed meanwhile): its rank may drop it now.
  pool_->ReleaseObject(id, kept.holder());
}

Stats Runtime::GetStats() {
  Stats stats;
  stats.live_objects = store_->size();
  stats.bytes_held = store_->bytes_held();
  stats.tasks_waiting = tasks_waiting_.load(std::memory_order_relaxed);
  stats.workers_replaced = pool_->workers_replaced();
  absl::MutexLock lock(&mu_);
  stats.tasks_in_flight = dispatched_.size();
  stats.tasks_retried = tasks_retried_;
  return stats;
}

namespace {

uint64_t WorkerKey(WorkerId worker) {
  return (static_cast<uint64_t>(worker.slot) << 32) | worker.generation;
}

void SetReplyError(const absl::Status& status, proto::ApiReply* reply) {
  StatusToTaskError(status, reply->mutable_error());
}

}  // namespace

RefToken::~RefToken() {
  if (store_ != nullptr) store_->Erase(id_);
  if (held_by_driver_) {
    proto::ApiRequest release;
    release.mutable_release()->add_object_ids(id_.Binary());
    process_internal::NotifyDriver(std::move(release));
  }
}

absl::StatusOr<RefHandle> Runtime::HeldFor(WorkerId worker, const std::string& id_bytes) {
  absl::StatusOr<DataID> id = DataID::FromBinary(id_bytes);
  if (!id.ok()) return id.status();
  absl::MutexLock lock(&mu_);
  auto held = held_for_worker_.find(WorkerKey(worker));
  if (held != held_for_worker_.end()) {
    auto it = held->second.find(*id);
    if (it != held->second.end()) return it->second;
  }
  return absl::NotFoundError(
      absl::StrCat("object ", id->Hex(), " is not held for this task; pass ObjectRefs the "
                   "task itself made or received"));
}

void Runtime::Reply(WorkerId worker, proto::ApiReply reply) {
  // A worker that died meanwhile needs no answer.
  pool_->ReplyToWorker(worker, reply).IgnoreError();
}

void Runtime::OnApiRequest(WorkerId worker, proto::ApiRequest request) {
  proto::ApiReply reply;
  reply.set_request_id(request.request_id());
  auto hold = [this, worker](std::vector<RefHandle> handles, proto::ApiReply* reply) {
    absl::MutexLock lock(&mu_);
    auto& held = held_for_worker_[WorkerKey(worker)];
    for (RefHandle& handle : handles) {
      reply->add_object_ids(handle.id.Binary());
      held[handle.id] = std::move(handle);
    }
  };
  switch (request.kind_case()) {
    case proto::ApiRequest::kPut:
      hold({Put(std::move(*request.mutable_put()->mutable_value()))}, &reply);
      return Reply(worker, std::move(reply));
    case proto::ApiRequest::kSubmit: {
      proto::SubmitRequest& submit = *request.mutable_submit();
      std::vector<TaskArg> args(submit.args_size());
      for (int i = 0; i < submit.args_size(); ++i) {
        proto::TaskArgument& arg = *submit.mutable_args(i);
        if (arg.object_id().empty()) {
          args[i].value = std::move(*arg.mutable_value());
          continue;
        }
        absl::StatusOr<RefHandle> held = HeldFor(worker, arg.object_id());
        if (!held.ok()) {
          SetReplyError(held.status(), &reply);
          return Reply(worker, std::move(reply));
        }
        args[i].ref = *std::move(held);
        args[i].is_ref = true;
      }
      if (FunctionRegistry::Global().Find(submit.function()) == nullptr) {
        SetReplyError(absl::NotFoundError(absl::StrCat("function '", submit.function(),
                                                       "' is not registered")),
                      &reply);
        return Reply(worker, std::move(reply));
      }
      hold(Submit(submit.function(), std::move(args), std::max(1, submit.num_returns()),
                  submit.max_retries()),
           &reply);
      return Reply(worker, std::move(reply));
    }
    case proto::ApiRequest::kGet: {
      absl::StatusOr<RefHandle> held = HeldFor(worker, request.get().object_id());
      if (!held.ok()) {
        SetReplyError(held.status(), &reply);
        return Reply(worker, std::move(reply));
      }
      // Answered when the object completes; the callback keeps it alive until then.
      held->token->store()->OnComplete(
          held->id, [this, worker, reply = std::move(reply),
                     token = held->token](const absl::StatusOr<ObjectStore::Value>& value) mutable {
            if (value.ok() && *value == nullptr) {
              // Kept on a worker rank: the worker's rank fetches it (or has it).
              std::optional<RemoteLocation> where = token->store()->Location(token->id());
              if (where.has_value()) {
                proto::ObjectLocation* location = reply.mutable_location();
                location->set_object_id(token->id().Binary());
                location->set_holder(where->holder);
                location->set_size(where->size);
              } else {
                SetReplyError(absl::NotFoundError(absl::StrCat(
                                  "object ", token->id().Hex(), " is gone from the store")),
                              &reply);
              }
            } else if (value.ok()) {
              reply.set_value(**value);
            } else {
              SetReplyError(value.status(), &reply);
            }
            Reply(worker, std::move(reply));
          });
      return;
    }
    case proto::ApiRequest::kWait: {
      std::vector<RefHandle> refs;
      for (const std::string& id : request.wait().object_ids()) {
        absl::StatusOr<RefHandle> held = HeldFor(worker, id);
        if (!held.ok()) {
          SetReplyError(held.status(), &reply);
          return Reply(worker, std::move(reply));
        }
        refs.push_back(*std::move(held));
      }
      struct WaitState {
        absl::Mutex mu;
        size_t complete ABSL_GUARDED_BY(mu) = 0;
        bool answered ABSL_GUARDED_BY(mu) = false;
      };
      auto state = std::make_shared<WaitState>();
      const size_t wanted = std::min<size_t>(std::max(0, request.wait().num_returns()), refs.size());
      // Answers with every complete position (called once `wanted` are complete).
      auto answer = [this, worker, refs, reply]() {
        proto::ApiReply answer = reply;
        for (size_t i = 0; i < refs.size(); ++i) {
          if (refs[i].token->store()->IsComplete(refs[i].id)) answer.add_ready(static_cast<int>(i));
        }
        Reply(worker, std::move(answer));
      };
      if (wanted == 0) return answer();
      for (const RefHandle& ref : refs) {
        ref.token->store()->OnComplete(
            ref.id, [state, wanted, answer](const absl::StatusOr<ObjectStore::Value>&) mutable {
              {
                absl::MutexLock lock(&state->mu);
                if (state->answered || ++state->complete < wanted) return;
                state->answered = true;
              }
              answer();
            });
      }
      return;
    }
    case proto::ApiRequest::kRelease: {
      std::vector<RefHandle> released;  // destroyed after the lock is released
      absl::MutexLock lock(&mu_);
      auto held = held_for_worker_.find(WorkerKey(worker));
      if (held == held_for_worker_.end()) return;
      for (const std::string& id_bytes : request.release().object_ids()) {
        absl::StatusOr<DataID> id = DataID::FromBinary(id_bytes);
        if (!id.ok()) continue;
        auto it = held->second.find(*id);
        if (it == held->second.end()) continue;
        released.push_back(std::move(it->second));
        held->second.erase(it);
      }
      return;
    }
    case proto::ApiRequest::KIND_NOT_SET:
      break;
  }
  SetReplyError(absl::InvalidArgumentError("empty API request"), &reply);
  Reply(worker, std::move(reply));
}

void Runtime::OnWorkerGone(WorkerId worker) {
  absl::flat_hash_map<DataID, RefHandle> released;  // destroyed after the lock is released
  absl::MutexLock lock(&mu_);
  auto held = held_for_worker_.find(WorkerKey(worker));
  if (held == held_for_worker_.end()) return;
  released.swap(held->second);
  held_for_worker_.erase(held);
}

void Runtime::Shutdown() {
  if (pool_ != nullptr) pool_->Shutdown();  // reports every dispatched task as Cancelled
  // The objects kept by the pool's workers are gone with its session; the store's hooks
  // must not call the pool any more (the store may outlive it). Errors still name where
  // an object was.
  store_->SetRemoteHooks(RemoteHooks{nullptr, nullptr, describe_holder_});
  // No worker is left to read the shared-memory copies; the values stay in the store.
  store_->ClearAttachments();
  // Tasks still waiting for arguments, and anything else pending, fail too.
  store_->FailAllPending(
      absl::CancelledError("unidist was shut down before the object was ready"));
}

}  // namespace unidist::api_internal
