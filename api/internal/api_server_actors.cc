// Copyright 2026 The unidist-cpp Authors.
//
// The ApiServer's actor requests (api_server.h): calls on actors that tasks make through
// handles they received, decoded or looked up by name, and the holds that keep those actors
// alive for the tasks' workers. The rest of the server is api_server.cc.

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "api/internal/api_server.h"
#include "common/task_error.h"

namespace unidist::api_internal {
namespace {

void SetReplyError(const absl::Status& status, proto::ApiReply* reply) {
  StatusToTaskError(status, reply->mutable_error());
}

}  // namespace

absl::StatusOr<std::vector<std::shared_ptr<ActorHandle>>> ApiServer::ActorsHeldFor(
    WorkerId worker, const google::protobuf::RepeatedField<uint64_t>& ids) const {
  std::vector<std::shared_ptr<ActorHandle>> actors;
  if (ids.empty()) return actors;
  absl::MutexLock lock(&mu_);
  auto held = held_actors_.find(WorkerKey(worker));
  for (const uint64_t id : ids) {
    if (held != held_actors_.end()) {
      if (auto it = held->second.find(id); it != held->second.end()) {
        actors.push_back(it->second.handle);
        continue;
      }
    }
    return absl::NotFoundError(absl::StrCat("actor ", id,
                                            " is not held for this task; pass Actor handles the "
                                            "task itself received or looked up"));
  }
  return actors;
}

void ApiServer::HoldActor(WorkerId worker, std::shared_ptr<ActorHandle> actor) {
  absl::MutexLock lock(&mu_);
  HeldActor& held = held_actors_[WorkerKey(worker)][actor->id()];
  ++held.holds;
  if (held.handle == nullptr) held.handle = std::move(actor);  // else released after the lock
}

void ApiServer::ReleaseActors(WorkerId worker, const proto::ReleaseRequest& release) {
  if (release.actor_ids().empty()) return;
  std::vector<std::shared_ptr<ActorHandle>> released;  // destroyed after the lock is released
  absl::MutexLock lock(&mu_);
  auto held = held_actors_.find(WorkerKey(worker));
  if (held == held_actors_.end()) return;
  for (const uint64_t id : release.actor_ids()) {
    auto it = held->second.find(id);
    if (it == held->second.end() || --it->second.holds > 0) continue;
    released.push_back(std::move(it->second.handle));
    held->second.erase(it);
  }
}

void ApiServer::ReleaseActors() {
  absl::flat_hash_map<uint64_t, absl::flat_hash_map<uint64_t, HeldActor>> released;  // after
  absl::MutexLock lock(&mu_);
  released.swap(held_actors_);
}

size_t ApiServer::actors_held() const {
  absl::MutexLock lock(&mu_);
  size_t count = 0;
  for (const auto& [worker, held] : held_actors_) count += held.size();
  return count;
}

void ApiServer::ServeActorCall(WorkerId worker, proto::ApiReply reply,
                               proto::ActorCallRequest& call) {
  google::protobuf::RepeatedField<uint64_t> target;
  target.Add(call.actor_id());
  absl::StatusOr<std::vector<std::shared_ptr<ActorHandle>>> actor = ActorsHeldFor(worker, target);
  if (!actor.ok()) {
    SetReplyError(actor.status(), &reply);
    return calls_.reply(worker, std::move(reply));
  }
  ActorHandle& handle = *actor->front();
  if (call.created()) {
    Hold(worker, {handle.Created()}, &reply);
    return calls_.reply(worker, std::move(reply));
  }
  absl::StatusOr<std::vector<TaskArg>> args =
      ArgumentsFor(worker, *call.mutable_args(), call.actor_ids(), call.held_object_ids());
  if (!args.ok()) {
    SetReplyError(args.status(), &reply);
    return calls_.reply(worker, std::move(reply));
  }
  Hold(worker, handle.Submit(call.method(), *std::move(args), std::max(1, call.num_returns())),
       &reply);
  calls_.reply(worker, std::move(reply));
}

void ApiServer::ServeHoldActor(WorkerId worker, proto::ApiReply reply,
                               const proto::HoldActorRequest& hold) {
  absl::StatusOr<std::shared_ptr<ActorHandle>> actor =
      calls_.find_actor(hold.actor_id(), hold.type_key());
  if (!actor.ok()) {
    SetReplyError(actor.status(), &reply);
    return calls_.reply(worker, std::move(reply));
  }
  if (hold.result_ids().empty()) {
    HoldActor(worker, *std::move(actor));
    return calls_.reply(worker, std::move(reply));
  }
  // A task returned a value holding the handle: the actor stays with its results.
  EncodedHandles held;
  held.actors.push_back(*std::move(actor));
  if (absl::Status kept = KeepWithResults(hold.result_ids(), std::move(held)); !kept.ok()) {
    SetReplyError(kept, &reply);
  }
  calls_.reply(worker, std::move(reply));
}

void ApiServer::ServeGetActor(WorkerId worker, proto::ApiReply reply,
                              const proto::GetActorRequest& get) {
  absl::StatusOr<std::shared_ptr<ActorHandle>> actor =
      calls_.find_named_actor(get.name(), get.type_key());
  if (!actor.ok()) {
    SetReplyError(actor.status(), &reply);
    return calls_.reply(worker, std::move(reply));
  }
  reply.set_actor_id((*actor)->id());
  HoldActor(worker, *std::move(actor));
  calls_.reply(worker, std::move(reply));
}

void ApiServer::ServeKillActor(WorkerId worker, proto::ApiReply reply,
                               const proto::KillActorRequest& kill) {
  if (kill.exit_current()) {
    if (absl::Status ended = calls_.end_actor(worker); !ended.ok()) SetReplyError(ended, &reply);
    return calls_.reply(worker, std::move(reply));
  }
  google::protobuf::RepeatedField<uint64_t> target;
  target.Add(kill.actor_id());
  absl::StatusOr<std::vector<std::shared_ptr<ActorHandle>>> actor = ActorsHeldFor(worker, target);
  absl::Status killed = actor.ok() ? actor->front()->Kill() : actor.status();
  if (!killed.ok()) SetReplyError(killed, &reply);
  calls_.reply(worker, std::move(reply));
}

}  // namespace unidist::api_internal
