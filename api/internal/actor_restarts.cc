// Copyright 2026 The unidist-cpp Authors.
//
// Actor restarts (ActorOptions::max_restarts, runtime.h): when an actor's worker dies, the
// calls that were in flight come back first (Runtime::OnResult hands them here), then a new
// worker gets the constructor again, then the calls to run again, then the queue. The
// rest of the actors' part of the scheduler is actors.cc.

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "api/internal/pending_task.h"
#include "api/internal/runtime.h"

namespace unidist::api_internal {

bool Runtime::BeginRestartLocked(ActorRecord& actor, WorkerId dead) {
  if (!actor.gone.ok() || actor.closed || actor.restarts_left == 0 ||
      actor.constructor_request == nullptr) {
    return false;
  }
  if (actor.restarts_left > 0) --actor.restarts_left;
  actor.restarting = true;
  actor.dead_worker = dead;
  return true;
}

bool Runtime::TakeActorCallOutcome(Dispatched& record, const proto::TaskResult& result) {
  const std::shared_ptr<ActorRecord> actor = record.task->actor;
  bool keep = false;
  bool restart = false;
  {
    absl::MutexLock lock(&actor->mu);
    --actor->in_flight;
    // Its worker died: where the pool reports a call's outcome before the worker's loss
    // (mpi), the restart begins here.
    if (result.error().worker_died() && !actor->restarting && record.target.has_value() &&
        record.target->slot == actor->worker.slot &&
        record.target->generation == actor->worker.generation) {
      BeginRestartLocked(*actor, *record.target);
    }
    keep = result.error().worker_died() && actor->restarting && record.retries_left > 0 &&
           record.request != nullptr;
    restart = actor->restarting && actor->in_flight == 0;
  }
  if (keep) {
    --record.retries_left;
    record.deaths.push_back(result.error().message());
    absl::MutexLock lock(&mu_);
    lost_actor_calls_[actor->id].push_back(std::move(record));
  } else {
    record.retries_left = 0;  // an actor's call never goes to the pool
  }
  if (restart) MaybeRestartActor(actor);
  return keep;
}

void Runtime::MaybeRestartActor(const std::shared_ptr<ActorRecord>& actor) {
  {
    absl::MutexLock lock(&actor->mu);
    // Not before every call that was in flight has come back: they go first.
    if (!actor->restarting || actor->restart_started || actor->in_flight > 0) return;
    actor->restart_started = true;
  }
  absl::MutexLock lock(&restart_threads_mu_);
  if (restarts_stopped_) return;  // Shutdown is under way; it ends the actor
  restart_threads_.emplace_back([this, actor] { RestartActor(actor); });
}

void Runtime::RestartActor(const std::shared_ptr<ActorRecord>& actor) {
  std::vector<Dispatched> lost;
  auto take_lost = [&]() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (auto it = lost_actor_calls_.find(actor->id); it != lost_actor_calls_.end()) {
      lost = std::move(it->second);
      lost_actor_calls_.erase(it);
    }
  };
  auto give_up = [&](const absl::Status& why) {
    {
      absl::MutexLock lock(&actor->mu);
      actor->restarting = false;
    }
    const absl::Status gone = absl::UnavailableError(absl::StrCat(
        "actor ", actor->class_name, " died and could not be restarted: ", why.message()));
    SetActorGone(*actor, gone);
    take_lost();
    for (const Dispatched& record : lost) {
      for (const DataID& id : record.result_ids) store_->Fail(id, gone);
    }
  };
  absl::StatusOr<WorkerId> worker = pool_->StartDedicatedWorker();
  if (!worker.ok()) return give_up(worker.status());
  WorkerId dead;
  {
    absl::MutexLock lock(&actor->mu);
    dead = actor->dead_worker;
  }
  {
    absl::MutexLock lock(&mu_);
    if (auto it = actors_by_slot_.find(dead.slot); it != actors_by_slot_.end()) {
      if (it->second.lock() == actor) actors_by_slot_.erase(it);
    }
    actors_by_slot_[worker->slot] = actor;
  }
  proto::TaskRequest constructor;
  {
    absl::MutexLock lock(&actor->mu);
    actor->worker = *worker;
    ++actor->restarts;
    constructor = *actor->constructor_request;
    ++actor->in_flight;
  }
  // The constructor again, with the same arguments; its outcome completes nothing (the
  // actor's Created() is the first constructor's): a failure fails the calls after it.
  constructor.clear_result_ids();
  constructor.set_actor_restarted(true);
  auto task = std::make_shared<PendingTask>();
  task->task_id = next_task_id_.fetch_add(1, std::memory_order_relaxed);
  task->actor = actor;
  task->actor_constructor = true;
  task->stage.store(PendingTask::kSent, std::memory_order_relaxed);
  Dispatched record;
  record.task = task;
  if (absl::Status sent = DispatchRequest(std::move(record), &constructor, &*worker); !sent.ok()) {
    {
      absl::MutexLock lock(&actor->mu);
      --actor->in_flight;
    }
    return give_up(sent);
  }
  // Then the calls that were in flight, in the order they were made.
  take_lost();
  std::sort(lost.begin(), lost.end(), [](const Dispatched& a, const Dispatched& b) {
    return a.task->task_id < b.task->task_id;
  });
  for (Dispatched& call : lost) {
    proto::TaskRequest request = *call.request;
    const std::vector<DataID> ids = call.result_ids;
    {
      absl::MutexLock lock(&actor->mu);
      ++actor->in_flight;
    }
    if (absl::Status sent = DispatchRequest(std::move(call), &request, &*worker); !sent.ok()) {
      {
        absl::MutexLock lock(&actor->mu);
        --actor->in_flight;
      }
      for (const DataID& id : ids) store_->Fail(id, sent);
    }
  }
  {
    absl::MutexLock lock(&actor->mu);
    actor->restarting = false;
    actor->restart_started = false;
  }
  PumpActor(*actor);  // and then the queue
}

}  // namespace unidist::api_internal
