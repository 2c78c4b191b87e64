// Copyright 2026 The unidist-cpp Authors.
//
// The runtime's actor queues (runtime.h, ActorRecord): each actor's calls wait in its queue,
// in submission order, until their arguments are complete and the calls before them have
// been sent; then they go to the actor's dedicated worker. Part of the driver's scheduler;
// the rest (dependencies, dispatch, retries, cancel) is in runtime.cc.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/internal/client.h"
#include "api/internal/function_registry.h"
#include "api/internal/pending_task.h"
#include "api/internal/runtime.h"
#include "common/status_macros.h"

namespace unidist::api_internal {
namespace {

// Actor ids are unique in the process, across sessions, so that a handle kept from an
// earlier session finds nothing rather than another actor.
std::atomic<uint64_t> g_next_actor_id{1};

absl::Status OfAnotherClass(const std::string& what, const std::string& class_name,
                            const std::string& type_key) {
  absl::StatusOr<std::string> wanted = FunctionRegistry::Global().ActorClassName(type_key);
  return absl::InvalidArgumentError(absl::StrCat(what, " is an actor of class ", class_name,
                                                 ", not ", wanted.ok() ? *wanted : type_key));
}

}  // namespace

std::vector<RefHandle> DriverActorHandle::Submit(const std::string& method,
                                                 std::vector<TaskArg> args, int num_returns) {
  return runtime_->SubmitActorCall(actor_, method, std::move(args), num_returns);
}

absl::Status DriverActorHandle::Kill() { return runtime_->KillActor(*actor_); }

DriverActorHandle::~DriverActorHandle() {
  runtime_->ReleaseActor(*actor_);
  absl::MutexLock lock(&runtime_->actor_table_mu_);
  auto it = runtime_->actor_handles_.find(actor_->id);
  if (it != runtime_->actor_handles_.end() && it->second.expired()) {
    runtime_->actor_handles_.erase(it);
  }
}

std::shared_ptr<ActorHandle> Runtime::CreateActor(const std::shared_ptr<Runtime>& self,
                                                  const std::string& type_key,
                                                  const std::string& signature_key,
                                                  std::vector<TaskArg> args,
                                                  const ActorSettings& settings) {
  if (settings.max_concurrency < 1 || settings.max_concurrency > kMaxActorConcurrency) {
    return std::make_shared<FailedActorHandle>(absl::InvalidArgumentError(
        absl::StrCat("ActorOptions::max_concurrency is ", settings.max_concurrency,
                     "; it must be between 1 and ", kMaxActorConcurrency)));
  }
  absl::StatusOr<std::string> class_name = FunctionRegistry::Global().ActorClassName(type_key);
  if (!class_name.ok()) return std::make_shared<FailedActorHandle>(class_name.status());
  absl::StatusOr<std::string> constructor =
      FunctionRegistry::Global().ActorConstructor(type_key, signature_key);
  if (!constructor.ok()) return std::make_shared<FailedActorHandle>(constructor.status());
  const std::string& name = settings.name;
  if (!name.empty()) {
    std::shared_ptr<ActorHandle> existing;  // released after the lock
    absl::MutexLock lock(&actor_table_mu_);
    auto named = actor_names_.find(name);
    if (named != actor_names_.end() && named->second != 0) {
      auto found = actor_handles_.find(named->second);
      if (found != actor_handles_.end()) existing = found->second.lock();
    }
    if (existing != nullptr && settings.get_if_exists) {
      const ActorRecord& record = *static_cast<DriverActorHandle&>(*existing).actor();
      if (record.type_key != type_key) {
        return std::make_shared<FailedActorHandle>(OfAnotherClass(
            absl::StrCat("the actor named '", name, "'"), record.class_name, type_key));
      }
      return existing;
    }
    if (existing != nullptr || (named != actor_names_.end() && named->second == 0)) {
      return std::make_shared<FailedActorHandle>(
          absl::AlreadyExistsError(absl::StrCat("an actor named '", name,
                                                "' exists already; names are unique while "
                                                "their actor lives")));
    }
    actor_names_[name] = 0;  // taken while the actor starts
  }
  absl::StatusOr<std::shared_ptr<ActorRecord>> actor = StartActor(*class_name);
  if (!actor.ok()) {
    if (!name.empty()) {
      absl::MutexLock lock(&actor_table_mu_);
      actor_names_.erase(name);
    }
    return std::make_shared<FailedActorHandle>(actor.status());
  }
  (*actor)->type_key = type_key;
  (*actor)->name = name;
  (*actor)->max_task_retries =
      settings.max_task_retries < 0 ? std::numeric_limits<int>::max() : settings.max_task_retries;
  (*actor)->max_concurrency = settings.max_concurrency;
  {
    absl::MutexLock lock(&(*actor)->mu);
    (*actor)->restarts_left = settings.max_restarts < 0 ? -1 : settings.max_restarts;
  }
  RefHandle created = std::move(SubmitActorCall(*actor, *constructor, std::move(args), 1).front());
  auto handle = std::make_shared<DriverActorHandle>(self, *actor, std::move(created));
  absl::MutexLock lock(&actor_table_mu_);
  actor_handles_[(*actor)->id] = handle;
  if (!name.empty()) actor_names_[name] = (*actor)->id;
  if (settings.detached) detached_actors_[(*actor)->id] = handle;
  return handle;
}

absl::StatusOr<std::shared_ptr<ActorHandle>> Runtime::FindActor(uint64_t id,
                                                                const std::string& type_key) {
  std::shared_ptr<ActorHandle> handle;
  {
    absl::MutexLock lock(&actor_table_mu_);
    auto it = actor_handles_.find(id);
    if (it != actor_handles_.end()) handle = it->second.lock();
  }
  if (handle == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "actor ", id, " is gone: no handle to it was left, or it belongs to an ended session"));
  }
  const ActorRecord& record = *static_cast<DriverActorHandle&>(*handle).actor();
  if (!type_key.empty() && record.type_key != type_key) {
    return OfAnotherClass(absl::StrCat("actor ", id), record.class_name, type_key);
  }
  return handle;
}

absl::StatusOr<std::shared_ptr<ActorHandle>> Runtime::FindNamedActor(const std::string& name,
                                                                     const std::string& type_key) {
  std::shared_ptr<ActorHandle> handle;
  {
    absl::MutexLock lock(&actor_table_mu_);
    auto named = actor_names_.find(name);
    if (named != actor_names_.end() && named->second != 0) {
      auto found = actor_handles_.find(named->second);
      if (found != actor_handles_.end()) handle = found->second.lock();
    }
  }
  if (handle == nullptr) {
    return absl::NotFoundError(absl::StrCat("no live actor is named '", name, "'"));
  }
  const ActorRecord& record = *static_cast<DriverActorHandle&>(*handle).actor();
  if (record.type_key != type_key) {
    return OfAnotherClass(absl::StrCat("the actor named '", name, "'"), record.class_name,
                          type_key);
  }
  return handle;
}

void Runtime::ForgetActor(const ActorRecord& actor) {
  std::shared_ptr<ActorHandle> detached;  // released after the lock
  absl::MutexLock lock(&actor_table_mu_);
  if (!actor.name.empty()) {
    auto named = actor_names_.find(actor.name);
    if (named != actor_names_.end() && named->second == actor.id) actor_names_.erase(named);
  }
  auto it = detached_actors_.find(actor.id);
  if (it != detached_actors_.end()) {
    detached = std::move(it->second);
    detached_actors_.erase(it);
  }
}

absl::StatusOr<std::shared_ptr<ActorRecord>> Runtime::StartActor(const std::string& class_name) {
  UNIDIST_ASSIGN_OR_RETURN(WorkerId worker, pool_->StartDedicatedWorker());
  auto actor = std::make_shared<ActorRecord>();
  actor->id = g_next_actor_id.fetch_add(1, std::memory_order_relaxed);
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
  task->actor_constructor = absl::StrContains(function, "::<constructor>(");
  // Run again only on a restarted actor (TakeActorCallOutcome), never elsewhere.
  if (!task->actor_constructor) task->max_retries = actor->max_task_retries;
  // Once queued, the call is the queue's: SetActorGone fails it if the actor goes before
  // it is sent, and once sent its outcome comes from the worker. Whether the actor is gone
  // is read here, once, with the push: read again after ResolveArguments (which may send
  // the call), it could be this very call's ExitActor, failing a call that ran.
  absl::Status gone;
  {
    absl::MutexLock lock(&actor->mu);
    gone = actor->gone;
    if (gone.ok()) actor->queue.push_back(task);
  }
  ResolveArguments(task, std::move(args));
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
    WorkerId worker;
    {
      absl::MutexLock lock(&actor.mu);
      worker = actor.worker;
      // A restart sends the constructor and the calls to run again first, then pumps.
      while (!actor.queue.empty() && !actor.restarting) {
        std::shared_ptr<PendingTask>& next = actor.queue.front();
        if (!next->failed.load(std::memory_order_acquire)) {
          if (next->waiting.load(std::memory_order_acquire) > 0) break;  // arguments pending
          ready.push_back(std::move(next));
        }
        actor.queue.pop_front();
      }
      if (ready.empty()) {
        actor.pumping = false;
        if (actor.queue.empty() && actor.released && actor.gone.ok() && !actor.closed &&
            !actor.restarting) {
          actor.closed = close = true;
        }
      }
    }
    if (ready.empty()) {
      if (close) pool_->CloseDedicatedWorker(worker, /*kill=*/false);
      return;
    }
    for (const std::shared_ptr<PendingTask>& task : ready) {
      absl::Status sent = SendTask(task, &worker);
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
  SetActorGone(actor,
               absl::CancelledError(absl::StrCat("actor ", actor.class_name, " was killed")));
  WorkerId worker;
  {
    absl::MutexLock lock(&actor.mu);
    worker = actor.worker;
  }
  pool_->CloseDedicatedWorker(worker, /*kill=*/true);
  return absl::OkStatus();
}

absl::Status Runtime::EndActor(WorkerId worker) {
  std::shared_ptr<ActorRecord> actor;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = actors_by_slot_.find(worker.slot); it != actors_by_slot_.end()) {
      actor = it->second.lock();
    }
  }
  if (actor != nullptr) {
    absl::MutexLock lock(&actor->mu);
    if (actor->worker.generation != worker.generation) actor = nullptr;
  }
  if (actor == nullptr) return absl::FailedPreconditionError("no actor runs in this worker");
  SetActorGone(*actor, absl::CancelledError(
                           absl::StrCat("actor ", actor->class_name, " exited (ExitActor)")));
  pool_->CloseDedicatedWorker(worker, /*kill=*/false);  // after the calls it has
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
  ForgetActor(actor);  // its name is free again, and a detached actor is no longer held
}

void Runtime::OnDedicatedWorkerLost(WorkerId worker, const absl::Status& status) {
  std::shared_ptr<ActorRecord> actor;
  {
    absl::MutexLock lock(&mu_);
    auto it = actors_by_slot_.find(worker.slot);
    if (it == actors_by_slot_.end()) return;
    actor = it->second.lock();
    if (actor == nullptr) return;
    {
      absl::MutexLock actor_lock(&actor->mu);
      if (actor->worker.generation != worker.generation) return;
    }
    actors_by_slot_.erase(it);
  }
  bool restart = false;
  if (status.code() == absl::StatusCode::kUnavailable) {  // it died (not killed, not closed)
    absl::MutexLock lock(&actor->mu);
    // A call's outcome may have said so first (TakeActorCallOutcome).
    restart = actor->restarting || BeginRestartLocked(*actor, worker);
  }
  if (restart) return MaybeRestartActor(actor);
  SetActorGone(*actor, status.code() == absl::StatusCode::kUnavailable
                           ? absl::UnavailableError(absl::StrCat("actor ", actor->class_name,
                                                                 " is gone: ", status.message()))
                           : status);
}

}  // namespace unidist::api_internal
