// Copyright 2026 The unidist-cpp Authors.
//
// The Client (client.h) of code running inside a task in a worker process: every call is
// an ApiRequest to the driver (process_manager/driver_channel.h), which runs it against the
// session and holds the objects it makes for this task (api_server.h); the task gets
// handles whose tokens say "held by the driver".

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/internal/client.h"
#include "api/internal/executor.h"
#include "api/internal/ref_token.h"
#include "common/task_error.h"
#include "common/worker_protocol.pb.h"
#include "glog/logging.h"
#include "object_store/object_store.h"
#include "process_manager/driver_channel.h"

namespace unidist::api_internal {
namespace {

// Sends the call and turns an error in the reply into a status.
absl::StatusOr<proto::ApiReply> Call(proto::ApiRequest request, absl::Time deadline) {
  absl::StatusOr<proto::ApiReply> reply = CallDriver(std::move(request), deadline);
  if (!reply.ok()) return reply.status();
  if (reply->has_error()) return TaskErrorToStatus(reply->error());
  return reply;
}

// This process's tokens for the objects the driver holds for it, by id: one per object, so
// that the driver's one hold per worker and object is released with the last copy here.
absl::Mutex g_held_mu(absl::kConstInit);
absl::flat_hash_map<DataID, std::weak_ptr<const RefToken>>& HeldTokens()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_held_mu) {
  static auto* const tokens = new absl::flat_hash_map<DataID, std::weak_ptr<const RefToken>>();
  return *tokens;
}

// The token for `id`, which the driver holds for this worker: the live one, or a new one.
std::shared_ptr<const RefToken> HeldToken(const DataID& id) {
  absl::MutexLock lock(&g_held_mu);
  std::weak_ptr<const RefToken>& entry = HeldTokens()[id];
  std::shared_ptr<const RefToken> token = entry.lock();
  if (token == nullptr) {
    token = RefToken::HeldByDriver(id);
    entry = token;
  }
  // Entries of tokens gone go when the table has doubled since the last sweep.
  static size_t swept_size ABSL_GUARDED_BY(g_held_mu) = 0;
  if (HeldTokens().size() >= 2 * swept_size + 1024) {
    absl::erase_if(HeldTokens(), [](const auto& each) { return each.second.expired(); });
    swept_size = HeldTokens().size();
  }
  return token;
}

// The live token for `id`, or null.
std::shared_ptr<const RefToken> LiveHeldToken(const DataID& id) {
  absl::MutexLock lock(&g_held_mu);
  auto it = HeldTokens().find(id);
  return it == HeldTokens().end() ? nullptr : it->second.lock();
}

// Handles to the objects the reply names, which the driver holds for this task.
std::vector<RefHandle> HandlesHeldByDriver(const proto::ApiReply& reply) {
  std::vector<RefHandle> handles;
  for (const std::string& id_bytes : reply.object_ids()) {
    absl::StatusOr<DataID> id = DataID::FromBinary(id_bytes);
    if (!id.ok()) {
      handles.push_back(FailedHandle(id.status()));
      continue;
    }
    handles.push_back(RefHandle{*id, HeldToken(*id)});
  }
  return handles;
}

absl::Status NotInThisTask(const RefHandle& ref) {
  return absl::InvalidArgumentError(absl::StrCat(
      "object ", ref.id.Hex(), " is not one this task made or received through the API"));
}

bool HeldByDriver(const RefHandle& ref) {
  return ref.token != nullptr && ref.token->held_by_driver();
}

// Moves `args` into a request's arguments: values as they are, ObjectRefs as the ids the
// driver holds for this task, and the ids of the actors the values hold into `actor_ids`.
// InvalidArgument for a ref the driver does not hold for this task.
absl::Status AddArguments(std::vector<TaskArg>& args,
                          google::protobuf::RepeatedPtrField<proto::TaskArgument>* request_args,
                          google::protobuf::RepeatedField<uint64_t>* actor_ids,
                          google::protobuf::RepeatedPtrField<std::string>* object_ids) {
  for (TaskArg& arg : args) {
    proto::TaskArgument* task_arg = request_args->Add();
    if (arg.held != nullptr) {
      for (const std::shared_ptr<ActorHandle>& actor : arg.held->actors) {
        actor_ids->Add(actor->id());
      }
      for (const RefHandle& ref : arg.held->refs) {
        if (!HeldByDriver(ref)) return NotInThisTask(ref);
        object_ids->Add(ref.id.Binary());
      }
    }
    if (!arg.is_ref) {
      *task_arg->mutable_value() = std::move(arg.value);
    } else if (HeldByDriver(arg.ref)) {
      task_arg->set_object_id(arg.ref.id.Binary());
    } else {
      return NotInThisTask(arg.ref);
    }
  }
  return absl::OkStatus();
}

// An actor as a task in a worker process reaches it: every call is an ApiRequest, and the
// driver holds the actor for this worker (one hold per handle object, taken when it was
// decoded or looked up) until the handle goes.
class RemoteActorHandle final : public ActorHandle {
 public:
  explicit RemoteActorHandle(uint64_t id) : id_(id) {}
  ~RemoteActorHandle() override {
    proto::ApiRequest release;
    release.mutable_release()->add_actor_ids(id_);
    NotifyDriver(std::move(release));
  }
  RemoteActorHandle(const RemoteActorHandle&) = delete;
  RemoteActorHandle& operator=(const RemoteActorHandle&) = delete;

  uint64_t id() const override { return id_; }

  std::vector<RefHandle> Submit(const std::string& method, std::vector<TaskArg> args,
                                int num_returns) override {
    proto::ApiRequest request;
    proto::ActorCallRequest* call = request.mutable_actor_call();
    call->set_actor_id(id_);
    call->set_method(method);
    call->set_num_returns(num_returns);
    if (absl::Status added = AddArguments(args, call->mutable_args(), call->mutable_actor_ids(),
                                          call->mutable_held_object_ids());
        !added.ok()) {
      return FailedHandles(added, num_returns);
    }
    return HandlesFor(std::move(request), num_returns);
  }

  absl::Status Kill() override {
    proto::ApiRequest request;
    request.mutable_kill_actor()->set_actor_id(id_);
    return Call(std::move(request), absl::InfiniteFuture()).status();
  }

  RefHandle Created() override {
    proto::ApiRequest request;
    request.mutable_actor_call()->set_actor_id(id_);
    request.mutable_actor_call()->set_created(true);
    return std::move(HandlesFor(std::move(request), 1).front());
  }

  // The `count` handles the driver's reply to `request` names, or as many failed ones.
  static std::vector<RefHandle> HandlesFor(proto::ApiRequest request, int count) {
    absl::StatusOr<proto::ApiReply> reply = Call(std::move(request), absl::InfiniteFuture());
    if (!reply.ok()) return FailedHandles(reply.status(), count);
    std::vector<RefHandle> handles = HandlesHeldByDriver(*reply);
    if (static_cast<int>(handles.size()) != count) {
      return FailedHandles(absl::InternalError("bad reply from the driver"), count);
    }
    return handles;
  }

 private:
  const uint64_t id_;
};

class TaskClient final : public Client {
 public:
  using Client::Allocate;
  using Client::Put;
  using Client::Seal;
  RefHandle Put(std::string bytes) override {
    proto::ApiRequest request;
    *request.mutable_put()->mutable_value() = std::move(bytes);
    absl::StatusOr<proto::ApiReply> reply = Call(std::move(request), absl::InfiniteFuture());
    if (!reply.ok()) return FailedHandle(reply.status());
    std::vector<RefHandle> handles = HandlesHeldByDriver(*reply);
    return handles.size() == 1 ? handles[0]
                               : FailedHandle(absl::InternalError("bad reply from the driver"));
  }

  // In the store when the task may write there (its result then needs no copy), else in
  // the heap.
  absl::StatusOr<WritableObject> Allocate(size_t size, size_t aligned_at) override {
    if (std::optional<WritableObject> in_store = AllocateForTask(size, aligned_at)) {
      return *std::move(in_store);
    }
    return Client::Allocate(size, aligned_at);
  }

  // Space in the store is the task's until its outcome: the object is a copy of it.
  RefHandle Seal(WritableObject object) override {
    if (object.in_store && object.task_id != 0) {
      return Put(std::string(object.data, object.size));
    }
    return Client::Seal(std::move(object));
  }

  std::vector<RefHandle> Submit(const RemoteFunction& function, std::vector<TaskArg> args,
                                int num_returns, int max_retries) override {
    absl::StatusOr<const std::string*> name = NameOf(function);
    if (!name.ok()) return FailedHandles(name.status(), num_returns);
    return SubmitNamed(**name, std::move(args), num_returns, max_retries);
  }

  // The driver serves Submit; one call per input.
  void Map(const RemoteFunction& function, const MapInputs& inputs, size_t chunk_size,
           int max_retries, MapHandleSink take) override {
    (void)chunk_size;
    absl::StatusOr<const std::string*> name = NameOf(function);
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!name.ok()) {
        take(FailedHandle(name.status()));
        continue;
      }
      std::vector<TaskArg> args(1);
      args[0].value = std::string(inputs.at(i));
      take(std::move(SubmitNamed(**name, std::move(args), 1, max_retries).front()));
    }
  }

  absl::StatusOr<std::shared_ptr<const ObjectBytes>> Get(const RefHandle& ref,
                                                         absl::Time deadline) override {
    if (!HeldByDriver(ref)) {  // failed before it reached the driver, or not the driver's
      if (ref.token->store() == nullptr) return ref.token->error();
      return ref.token->store()->Get(ref.id, deadline);
    }
    proto::ApiRequest request;
    request.mutable_get()->set_object_id(ref.id.Binary());
    absl::StatusOr<proto::ApiReply> reply = Call(std::move(request), deadline);
    if (!reply.ok()) return reply.status();
    return HeapBytes(std::move(*reply->mutable_value()));
  }

  std::vector<size_t> Wait(const std::vector<const RefHandle*>& refs, size_t wanted,
                           absl::Time deadline) override {
    // Refs the driver does not hold for this task (empty, failed before Init) are complete.
    std::vector<size_t> positions;  // of the refs sent to the driver
    proto::ApiRequest request;
    for (size_t i = 0; i < refs.size(); ++i) {
      if (HeldByDriver(*refs[i])) {
        request.mutable_wait()->add_object_ids(refs[i]->id.Binary());
        positions.push_back(i);
      }
    }
    const size_t complete_here = refs.size() - positions.size();
    const int needed = static_cast<int>(wanted > complete_here ? wanted - complete_here : 0);
    request.mutable_wait()->set_num_returns(needed);
    absl::StatusOr<proto::ApiReply> reply = Call(request, deadline);
    if (!reply.ok() && reply.status().code() == absl::StatusCode::kDeadlineExceeded) {
      request.mutable_wait()->set_num_returns(0);  // what is complete now, answered at once
      reply = Call(request, absl::InfiniteFuture());
    }
    std::vector<bool> complete(refs.size(), true);
    for (size_t position : positions) complete[position] = false;
    if (reply.ok()) {
      for (int index : reply->ready()) {
        if (index >= 0 && static_cast<size_t>(index) < positions.size()) {
          complete[positions[index]] = true;
        }
      }
    }
    std::vector<size_t> ready;
    for (size_t i = 0; i < refs.size() && ready.size() < wanted; ++i) {
      if (complete[i]) ready.push_back(i);
    }
    return ready;
  }

  // The driver holds the actor for this worker from the reply on (promptly: the task
  // that decodes the handle is running, and whatever keeps the actor alive for it too).
  std::shared_ptr<ActorHandle> DecodeActor(uint64_t id, const std::string& type_key) override {
    proto::ApiRequest request;
    request.mutable_hold_actor()->set_actor_id(id);
    request.mutable_hold_actor()->set_type_key(type_key);
    absl::StatusOr<proto::ApiReply> reply = CallDriverPromptly(std::move(request));
    if (reply.ok() && reply->has_error()) reply = TaskErrorToStatus(reply->error());
    if (!reply.ok()) return std::make_shared<FailedActorHandle>(reply.status());
    return std::make_shared<RemoteActorHandle>(id);
  }

  absl::StatusOr<std::shared_ptr<ActorHandle>> GetActor(const std::string& name,
                                                        const std::string& type_key) override {
    proto::ApiRequest request;
    request.mutable_get_actor()->set_name(name);
    request.mutable_get_actor()->set_type_key(type_key);
    absl::StatusOr<proto::ApiReply> reply = Call(std::move(request), absl::InfiniteFuture());
    if (!reply.ok()) return reply.status();
    return std::make_shared<RemoteActorHandle>(reply->actor_id());
  }

  // The driver knows which actor this worker runs.
  absl::Status EndActor(uint64_t /*actor_key*/) override {
    proto::ApiRequest request;
    request.mutable_kill_actor()->set_exit_current(true);
    absl::StatusOr<proto::ApiReply> reply = CallDriverPromptly(std::move(request));
    if (reply.ok() && reply->has_error()) return TaskErrorToStatus(reply->error());
    return reply.status();
  }

  // A ref this process holds already is shared; else the driver holds the object for this
  // worker from the reply on (promptly: whatever keeps it alive for the task that decodes
  // it does so until then).
  RefHandle DecodeRef(const DataID& id) override {
    if (std::shared_ptr<const RefToken> token = LiveHeldToken(id)) return RefHandle{id, token};
    proto::ApiRequest request;
    request.mutable_hold_object()->set_object_id(id.Binary());
    absl::StatusOr<proto::ApiReply> reply = CallDriverPromptly(std::move(request));
    if (reply.ok() && reply->has_error()) reply = TaskErrorToStatus(reply->error());
    if (!reply.ok()) return FailedHandle(reply.status());
    return RefHandle{id, HeldToken(id)};
  }

  // Each handle is held once more, for the objects: the driver keeps it with them.
  void KeepWithObjects(const std::vector<DataID>& ids, EncodedHandles held) override {
    std::vector<proto::ApiRequest> requests;
    for (const std::shared_ptr<ActorHandle>& actor : held.actors) {
      proto::HoldActorRequest* hold = requests.emplace_back().mutable_hold_actor();
      hold->set_actor_id(actor->id());
      for (const DataID& id : ids) hold->add_result_ids(id.Binary());
    }
    for (const RefHandle& ref : held.refs) {
      if (!HeldByDriver(ref)) continue;  // failed already: nothing to keep
      proto::HoldObjectRequest* hold = requests.emplace_back().mutable_hold_object();
      hold->set_object_id(ref.id.Binary());
      for (const DataID& id : ids) hold->add_result_ids(id.Binary());
    }
    for (proto::ApiRequest& request : requests) {
      absl::StatusOr<proto::ApiReply> reply = CallDriverPromptly(std::move(request));
      if (reply.ok() && reply->has_error()) reply = TaskErrorToStatus(reply->error());
      if (!reply.ok()) {
        LOG_FIRST_N(WARNING, 1) << "unidist: a handle inside a value may outlive its object or "
                                   "actor: "
                                << reply.status();
      }
    }
  }

 private:
  std::vector<RefHandle> SubmitNamed(const std::string& function, std::vector<TaskArg> args,
                                     int num_returns, int max_retries) {
    proto::ApiRequest request;
    proto::SubmitRequest* submit = request.mutable_submit();
    submit->set_function(function);
    submit->set_num_returns(num_returns);
    submit->set_max_retries(max_retries);
    if (absl::Status added = AddArguments(args, submit->mutable_args(), submit->mutable_actor_ids(),
                                          submit->mutable_held_object_ids());
        !added.ok()) {
      return FailedHandles(added, num_returns);
    }
    return RemoteActorHandle::HandlesFor(std::move(request), num_returns);
  }
};

}  // namespace

Client& TaskSideClient() {
  static TaskClient* const client = new TaskClient();
  return *client;
}

}  // namespace unidist::api_internal
