// Copyright 2026 The unidist-cpp Authors.
//
// The functions the templates of api/unidist.h call (bridge.h): they name the function or
// class, then hand the call to the process's Client (client.h) — the driver's Runtime, or
// the driver over the worker's socket inside a task. CreateActor and Cancel are
// driver-only (CalledInsideATask; the list is in api/unidist.h).

#include "unidist/internal/bridge.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/internal/client.h"
#include "api/internal/executor.h"
#include "api/internal/function_registry.h"
#include "api/internal/progress.h"
#include "api/internal/runtime.h"

namespace unidist::api_internal {

RefHandle Put(std::string bytes) { return CurrentClient().Put(std::move(bytes)); }

RefHandle Put(const ValueWriter& value, EncodedHandlesScope& handles) {
  Client& client = CurrentClient();
  RefHandle handle = client.Put(value);
  EncodedHandles held = handles.Take();
  if (!held.empty() && handle.token != nullptr && handle.token->error().ok()) {
    client.KeepWithObjects({handle.id}, std::move(held));
  }
  return handle;
}

absl::StatusOr<WritableObject> Allocate(size_t size, size_t aligned_at) {
  return CurrentClient().Allocate(size, aligned_at);
}

RefHandle Seal(WritableObject object) { return CurrentClient().Seal(std::move(object)); }

std::vector<RefHandle> Submit(const std::string& fn_key, const void* fn_address,
                              std::vector<TaskArg> args, int num_returns, int max_retries) {
  return CurrentClient().Submit(RemoteFunction{fn_key, fn_address}, std::move(args), num_returns,
                                max_retries);
}

void Map(const std::string& fn_key, const void* fn_address, const MapInputs& inputs,
         size_t chunk_size, int max_retries, MapHandleSink take) {
  CurrentClient().Map(RemoteFunction{fn_key, fn_address}, inputs, chunk_size, max_retries, take);
}

void EncodedHandles::Append(EncodedHandles other) {
  for (std::shared_ptr<ActorHandle>& actor : other.actors) actors.push_back(std::move(actor));
  for (RefHandle& ref : other.refs) refs.push_back(std::move(ref));
}

// A value is often encoded twice (its size, then its bytes): each handle is recorded once.
void EncodedHandlesScope::RecordActor(const std::shared_ptr<ActorHandle>& actor) {
  EncodedHandlesScope* scope = innermost_;
  if (scope == nullptr) return;
  for (const std::shared_ptr<ActorHandle>& recorded : scope->handles_.actors) {
    if (recorded == actor) return;
  }
  scope->handles_.actors.push_back(actor);
}

void EncodedHandlesScope::RecordRef(const RefHandle& ref) {
  EncodedHandlesScope* scope = innermost_;
  if (scope == nullptr) return;
  for (const RefHandle& recorded : scope->handles_.refs) {
    if (recorded.token == ref.token) return;
  }
  scope->handles_.refs.push_back(ref);
}

std::vector<RefHandle> FailedActorHandle::Submit(const std::string& /*method*/,
                                                 std::vector<TaskArg> /*args*/, int num_returns) {
  return FailedHandles(error_, num_returns);
}

RefHandle FailedActorHandle::Created() { return FailedHandle(error_); }

std::shared_ptr<ActorHandle> CreateActor(const std::string& type_key,
                                         const std::string& signature_key,
                                         std::vector<TaskArg> args, const ActorSettings& settings) {
  if (InTask()) return std::make_shared<FailedActorHandle>(CalledInsideATask("CreateActor"));
  std::shared_ptr<Runtime> runtime = CurrentRuntime();
  if (runtime == nullptr) return std::make_shared<FailedActorHandle>(NotInitialized());
  return runtime->CreateActor(runtime, type_key, signature_key, std::move(args), settings);
}

absl::StatusOr<std::shared_ptr<ActorHandle>> GetActor(const std::string& name,
                                                      const std::string& type_key) {
  if (name.empty()) return absl::InvalidArgumentError("GetActor of an empty name");
  return CurrentClient().GetActor(name, type_key);
}

uint64_t EncodeActor(const std::shared_ptr<ActorHandle>& actor) {
  if (actor == nullptr || actor->id() == 0) return 0;
  EncodedHandlesScope::RecordActor(actor);
  return actor->id();
}

std::shared_ptr<ActorHandle> DecodeActor(uint64_t id, const std::string& type_key) {
  if (id == 0) return nullptr;
  return CurrentClient().DecodeActor(id, type_key);
}

RefHandle FailedRef(absl::Status error) { return FailedHandle(std::move(error)); }

absl::Status EndActor(uint64_t actor_key) { return CurrentClient().EndActor(actor_key); }

void EncodeRef(const RefHandle& ref) {
  if (ref.token != nullptr) EncodedHandlesScope::RecordRef(ref);
}

RefHandle DecodeRef(const DataID& id) { return CurrentClient().DecodeRef(id); }

void KeepWithObjects(const std::vector<DataID>& ids, EncodedHandles held) {
  if (!held.empty() && !ids.empty()) CurrentClient().KeepWithObjects(ids, std::move(held));
}

std::vector<RefHandle> SubmitActorCall(const std::shared_ptr<ActorHandle>& actor,
                                       const std::string& method_key, std::vector<TaskArg> args,
                                       int num_returns) {
  if (actor == nullptr) {
    return FailedHandles(absl::InvalidArgumentError("call on an empty Actor handle"), num_returns);
  }
  if (absl::Status error = actor->error(); !error.ok()) return FailedHandles(error, num_returns);
  absl::StatusOr<const std::string*> name = FunctionRegistry::Global().NameOf(method_key, nullptr);
  if (!name.ok()) return FailedHandles(name.status(), num_returns);
  return actor->Submit(**name, std::move(args), num_returns);
}

absl::Status KillActor(const std::shared_ptr<ActorHandle>& actor) {
  if (actor == nullptr) return absl::InvalidArgumentError("Kill on an empty Actor handle");
  return actor->Kill();
}

RefHandle ActorCreated(const std::shared_ptr<ActorHandle>& actor) {
  if (actor == nullptr) return RefHandle{};
  return actor->Created();
}

absl::Status Cancel(const RefHandle& ref, bool force) {
  // First: inside a task the answer is the same whatever the ref. (A ref the driver holds
  // for a worker exists only in a worker process.)
  if (InTask() || (ref.token != nullptr && ref.token->held_by_driver())) {
    return CalledInsideATask("Cancel");
  }
  if (ref.token == nullptr) return absl::InvalidArgumentError("Cancel on an empty ObjectRef");
  if (ref.token->store() == nullptr) {
    return absl::FailedPreconditionError("the task never started: " +
                                         std::string(ref.token->error().message()));
  }
  if (!ref.token->is_task_result()) {
    return absl::InvalidArgumentError("the ObjectRef is not the result of a task (it was Put)");
  }
  std::shared_ptr<Runtime> runtime = CurrentRuntime();
  if (runtime == nullptr || !ref.token->task().lock()) {
    // Shutdown completed every task of its runtime; a task that is no longer tracked is done.
    return absl::FailedPreconditionError("the task has finished already");
  }
  return runtime->Cancel(*ref.token, force);
}

absl::Status EmptyRefError() {
  return absl::InvalidArgumentError("Get on an empty ObjectRef (default-constructed)");
}

absl::StatusOr<std::shared_ptr<const ObjectBytes>> Get(const RefHandle& ref, absl::Time deadline) {
  if (ref.token == nullptr) return EmptyRefError();
  return CurrentClient().Get(ref, deadline);
}

absl::Status GetAll(const std::vector<const RefHandle*>& refs, absl::Time deadline,
                    GatheredBytes* out) {
  return CurrentClient().GetAll(refs, deadline, out);
}

std::vector<size_t> Wait(const std::vector<const RefHandle*>& refs, int num_returns,
                         absl::Time deadline) {
  if (num_returns <= 0) return {};
  const size_t wanted = std::min(static_cast<size_t>(num_returns), refs.size());
  return CurrentClient().Wait(refs, wanted, deadline);
}

std::vector<size_t> WaitWithProgress(const std::vector<const RefHandle*>& refs, int num_returns,
                                     absl::Time deadline, const std::string& label, int fd,
                                     absl::Duration refresh) {
  const size_t wanted = std::min(static_cast<size_t>(std::max(num_returns, 0)), refs.size());
  if (InWorkerProcess() || wanted == 0) return Wait(refs, num_returns, deadline);
  // Every complete ref (Wait reports at most num_returns), without blocking.
  auto count_complete = [&refs] {
    return Wait(refs, static_cast<int>(refs.size()), absl::InfinitePast()).size();
  };
  ProgressBar bar(fd, label, refs.size(), count_complete());
  if (!bar.active()) return Wait(refs, num_returns, deadline);
  refresh = std::max(refresh, absl::Milliseconds(10));
  for (;;) {
    std::vector<size_t> ready = Wait(refs, num_returns, std::min(deadline, absl::Now() + refresh));
    if (ready.size() >= wanted || absl::Now() >= deadline) {
      bar.Finish(count_complete());
      return ready;
    }
    bar.Update(ready.size());  // fewer than num_returns: every complete one
  }
}

absl::Time DeadlineIn(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return absl::InfiniteFuture();
  return absl::Now() + timeout;
}

}  // namespace unidist::api_internal
