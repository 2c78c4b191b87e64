// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/api_server.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/internal/function_registry.h"
#include "api/internal/ref_token.h"
#include "common/task_error.h"
#include "object_store/object_store.h"

namespace unidist::api_internal {
namespace {

void SetReplyError(const absl::Status& status, proto::ApiReply* reply) {
  StatusToTaskError(status, reply->mutable_error());
}

}  // namespace

absl::StatusOr<RefHandle> ApiServer::HeldFor(WorkerId worker, const std::string& id_bytes) const {
  absl::StatusOr<DataID> id = DataID::FromBinary(id_bytes);
  if (!id.ok()) return id.status();
  absl::MutexLock lock(&mu_);
  auto held = held_.find(WorkerKey(worker));
  if (held != held_.end()) {
    auto it = held->second.find(*id);
    if (it != held->second.end()) return it->second;
  }
  return absl::NotFoundError(absl::StrCat("object ", id->Hex(),
                                          " is not held for this task; pass ObjectRefs the "
                                          "task itself made or received"));
}

void ApiServer::Hold(WorkerId worker, std::vector<RefHandle> handles, proto::ApiReply* reply) {
  absl::MutexLock lock(&mu_);
  auto& held = held_[WorkerKey(worker)];
  for (RefHandle& handle : handles) {
    reply->add_object_ids(handle.id.Binary());
    held[handle.id] = std::move(handle);
  }
}

void ApiServer::OnRequest(WorkerId worker, proto::ApiRequest request) {
  proto::ApiReply reply;
  reply.set_request_id(request.request_id());
  switch (request.kind_case()) {
    case proto::ApiRequest::kPut:
      Hold(worker, {calls_.put(std::move(*request.mutable_put()->mutable_value()))}, &reply);
      return calls_.reply(worker, std::move(reply));
    case proto::ApiRequest::kSubmit: {
      proto::SubmitRequest& submit = *request.mutable_submit();
      absl::StatusOr<std::vector<TaskArg>> args = ArgumentsFor(
          worker, *submit.mutable_args(), submit.actor_ids(), submit.held_object_ids());
      if (!args.ok()) {
        SetReplyError(args.status(), &reply);
        return calls_.reply(worker, std::move(reply));
      }
      if (FunctionRegistry::Global().Find(submit.function()) == nullptr) {
        SetReplyError(absl::NotFoundError(
                          absl::StrCat("function '", submit.function(), "' is not registered")),
                      &reply);
        return calls_.reply(worker, std::move(reply));
      }
      Hold(worker,
           calls_.submit(submit.function(), *std::move(args), std::max(1, submit.num_returns()),
                         submit.max_retries()),
           &reply);
      return calls_.reply(worker, std::move(reply));
    }
    case proto::ApiRequest::kGet: {
      absl::StatusOr<RefHandle> held = HeldFor(worker, request.get().object_id());
      if (!held.ok()) {
        SetReplyError(held.status(), &reply);
        return calls_.reply(worker, std::move(reply));
      }
      return ServeGet(worker, std::move(reply), *held);
    }
    case proto::ApiRequest::kWait: {
      std::vector<RefHandle> refs;
      for (const std::string& id : request.wait().object_ids()) {
        absl::StatusOr<RefHandle> held = HeldFor(worker, id);
        if (!held.ok()) {
          SetReplyError(held.status(), &reply);
          return calls_.reply(worker, std::move(reply));
        }
        refs.push_back(*std::move(held));
      }
      return ServeWait(worker, std::move(reply), std::move(refs), request.wait().num_returns());
    }
    case proto::ApiRequest::kRelease:
      Release(worker, request.release());
      return ReleaseActors(worker, request.release());
    case proto::ApiRequest::kActorCall:
      return ServeActorCall(worker, std::move(reply), *request.mutable_actor_call());
    case proto::ApiRequest::kHoldActor:
      return ServeHoldActor(worker, std::move(reply), request.hold_actor());
    case proto::ApiRequest::kGetActor:
      return ServeGetActor(worker, std::move(reply), request.get_actor());
    case proto::ApiRequest::kKillActor:
      return ServeKillActor(worker, std::move(reply), request.kill_actor());
    case proto::ApiRequest::kHoldObject:
      return ServeHoldObject(worker, std::move(reply), request.hold_object());
    case proto::ApiRequest::kAllocate: {
      absl::StatusOr<uint64_t> offset =
          calls_.allocate
              ? calls_.allocate(worker, request.allocate())
              : absl::FailedPreconditionError("this session has no shared-memory store");
      if (offset.ok()) {
        reply.set_offset(*offset);
      } else {
        SetReplyError(offset.status(), &reply);
      }
      return calls_.reply(worker, std::move(reply));
    }
    case proto::ApiRequest::KIND_NOT_SET:
      break;
  }
  SetReplyError(absl::InvalidArgumentError("empty API request"), &reply);
  calls_.reply(worker, std::move(reply));
}

absl::StatusOr<std::vector<TaskArg>> ApiServer::ArgumentsFor(
    WorkerId worker, google::protobuf::RepeatedPtrField<proto::TaskArgument>& request_args,
    const google::protobuf::RepeatedField<uint64_t>& actor_ids,
    const google::protobuf::RepeatedPtrField<std::string>& object_ids) const {
  std::vector<TaskArg> args(request_args.size());
  for (int i = 0; i < request_args.size(); ++i) {
    proto::TaskArgument& arg = request_args[i];
    if (arg.object_id().empty()) {
      args[i].value = std::move(*arg.mutable_value());
      continue;
    }
    absl::StatusOr<RefHandle> held = HeldFor(worker, arg.object_id());
    if (!held.ok()) return held.status();
    args[i].ref = *std::move(held);
    args[i].is_ref = true;
  }
  if (actor_ids.empty() && object_ids.empty()) return args;
  if (args.empty())
    return absl::InvalidArgumentError("handles listed for a call without arguments");
  absl::StatusOr<std::vector<std::shared_ptr<ActorHandle>>> actors =
      ActorsHeldFor(worker, actor_ids);
  if (!actors.ok()) return actors.status();
  // The runtime keeps them with the task, whichever argument holds them.
  auto held = std::make_unique<EncodedHandles>();
  held->actors = *std::move(actors);
  for (const std::string& id : object_ids) {
    absl::StatusOr<RefHandle> ref = HeldFor(worker, id);
    if (!ref.ok()) return ref.status();
    held->refs.push_back(*std::move(ref));
  }
  args[0].held = std::move(held);
  return args;
}

absl::Status ApiServer::KeepWithResults(const google::protobuf::RepeatedPtrField<std::string>& ids,
                                        EncodedHandles held) {
  std::vector<DataID> results;
  for (const std::string& bytes : ids) {
    absl::StatusOr<DataID> id = DataID::FromBinary(bytes);
    if (!id.ok()) return id.status();
    results.push_back(*id);
  }
  calls_.keep_with_objects(results, std::move(held));
  return absl::OkStatus();
}

void ApiServer::ServeHoldObject(WorkerId worker, proto::ApiReply reply,
                                const proto::HoldObjectRequest& hold) {
  // The worker's own, or one the session keeps (an object in a value sent to it).
  absl::StatusOr<RefHandle> ref = HeldFor(worker, hold.object_id());
  if (!ref.ok()) {
    absl::StatusOr<DataID> id = DataID::FromBinary(hold.object_id());
    ref = id.ok() ? calls_.find_object(*id) : id.status();
  }
  if (!ref.ok()) {
    SetReplyError(ref.status(), &reply);
    return calls_.reply(worker, std::move(reply));
  }
  if (hold.result_ids().empty()) {
    absl::MutexLock lock(&mu_);
    held_[WorkerKey(worker)][ref->id] = *std::move(ref);
  } else {
    // A task returned a value holding the ref: the object stays with its results.
    EncodedHandles held;
    held.refs.push_back(*std::move(ref));
    if (absl::Status kept = KeepWithResults(hold.result_ids(), std::move(held)); !kept.ok()) {
      SetReplyError(kept, &reply);
    }
  }
  calls_.reply(worker, std::move(reply));
}

void ApiServer::ServeGet(WorkerId worker, proto::ApiReply reply, const RefHandle& held) {
  // Answered when the object completes; the callback keeps it alive until then.
  held.token->store()->OnComplete(
      held.id, [this, worker, reply = std::move(reply),
                token = held.token](const absl::StatusOr<ObjectStore::Value>& value) mutable {
        if (value.ok() && *value == nullptr) {
          // Kept by the pool outside the driver: the pool fills the value in on its way.
          std::optional<RemoteLocation> where = token->store()->Location(token->id());
          if (where.has_value()) {
            proto::ObjectLocation* location = reply.mutable_location();
            location->set_object_id(token->id().Binary());
            location->set_holder(where->holder);
            location->set_size(where->size);
          } else {
            SetReplyError(absl::NotFoundError(absl::StrCat("object ", token->id().Hex(),
                                                           " is gone from the store")),
                          &reply);
          }
        } else if (value.ok()) {
          reply.set_value((*value)->data(), (*value)->size());
        } else {
          SetReplyError(value.status(), &reply);
        }
        calls_.reply(worker, std::move(reply));
      });
}

void ApiServer::ServeWait(WorkerId worker, proto::ApiReply reply, std::vector<RefHandle> refs,
                          int num_returns) {
  struct WaitState {
    absl::Mutex mu;
    size_t complete ABSL_GUARDED_BY(mu) = 0;
    bool answered ABSL_GUARDED_BY(mu) = false;
  };
  auto state = std::make_shared<WaitState>();
  const size_t wanted = std::min<size_t>(std::max(0, num_returns), refs.size());
  // Answers with every complete position (called once `wanted` are complete).
  auto answer = [this, worker, refs, reply]() {
    proto::ApiReply answer = reply;
    for (size_t i = 0; i < refs.size(); ++i) {
      if (refs[i].token->store()->IsComplete(refs[i].id)) answer.add_ready(static_cast<int>(i));
    }
    calls_.reply(worker, std::move(answer));
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
}

void ApiServer::Release(WorkerId worker, const proto::ReleaseRequest& release) {
  std::vector<RefHandle> released;  // destroyed after the lock is released
  absl::MutexLock lock(&mu_);
  auto held = held_.find(WorkerKey(worker));
  if (held == held_.end()) return;
  for (const std::string& id_bytes : release.object_ids()) {
    absl::StatusOr<DataID> id = DataID::FromBinary(id_bytes);
    if (!id.ok()) continue;
    auto it = held->second.find(*id);
    if (it == held->second.end()) continue;
    released.push_back(std::move(it->second));
    held->second.erase(it);
  }
}

void ApiServer::OnWorkerGone(WorkerId worker) {
  // Destroyed after the lock is released.
  absl::flat_hash_map<DataID, RefHandle> released;
  absl::flat_hash_map<uint64_t, HeldActor> released_actors;
  absl::MutexLock lock(&mu_);
  if (auto held = held_.find(WorkerKey(worker)); held != held_.end()) {
    released.swap(held->second);
    held_.erase(held);
  }
  if (auto held = held_actors_.find(WorkerKey(worker)); held != held_actors_.end()) {
    released_actors.swap(held->second);
    held_actors_.erase(held);
  }
}

size_t ApiServer::objects_held() const {
  absl::MutexLock lock(&mu_);
  size_t count = 0;
  for (const auto& [worker, held] : held_) count += held.size();
  return count;
}

}  // namespace unidist::api_internal
