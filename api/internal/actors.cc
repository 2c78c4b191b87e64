// Copyright 2026 The unidist-cpp Authors.
//
// The runtime's actor queues (runtime.h, ActorRecord): each actor's calls wait in its queue,
// in submission order, until their arguments are complete and the calls before them have
// been sent; then they go to the actor's dedicated worker. Part of the driver's scheduler;
// the rest (dependencies, dispatch, retries, cancel) is in runtime.cc.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/internal/pending_task.h"
#include "api/internal/runtime.h"
#include "common/status_macros.h"

namespace unidist::api_internal {

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
  SetActorGone(actor,
               absl::CancelledError(absl::StrCat("actor ", actor.class_name, " was killed")));
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
                           ? absl::UnavailableError(absl::StrCat("actor ", actor->class_name,
                                                                 " is gone: ", status.message()))
                           : status);
}

}  // namespace unidist::api_internal
