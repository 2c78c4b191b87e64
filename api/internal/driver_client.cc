// Copyright 2026 The unidist-cpp Authors.
//
// The driver's Client (client.h): calls go straight to the current session's Runtime, and
// Get and Wait block on the object store.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/internal/client.h"
#include "api/internal/executor.h"
#include "api/internal/function_registry.h"
#include "api/internal/pending_task.h"
#include "api/internal/runtime.h"
#include "object_store/object_store.h"

namespace unidist::api_internal {
namespace {

absl::Mutex g_runtime_mu(absl::kConstInit);
std::shared_ptr<Runtime>* g_runtime ABSL_GUARDED_BY(g_runtime_mu) = nullptr;

class DriverClient final : public Client {
 public:
  RefHandle Put(std::string bytes) override {
    std::shared_ptr<Runtime> runtime = CurrentRuntime();
    if (runtime == nullptr) return FailedHandle(NotInitialized());
    return runtime->Put(std::move(bytes));
  }

  RefHandle Put(const ValueWriter& value) override {
    std::shared_ptr<Runtime> runtime = CurrentRuntime();
    if (runtime == nullptr) return FailedHandle(NotInitialized());
    return runtime->Put(value);
  }

  absl::StatusOr<WritableObject> Allocate(size_t size, size_t aligned_at) override {
    std::shared_ptr<Runtime> runtime = CurrentRuntime();
    if (runtime == nullptr) return NotInitialized();
    return runtime->Allocate(size, aligned_at);
  }

  RefHandle Seal(WritableObject object) override {
    if (!object.in_store) return Client::Seal(std::move(object));  // no runtime needed
    // Space in a store outlives its session (the block keeps it), so a Seal after
    // Shutdown still makes a readable object, in the store of the runtime that made it.
    std::shared_ptr<Runtime> runtime = CurrentRuntime();
    if (runtime == nullptr) return FailedHandle(NotInitialized());
    return runtime->Seal(std::move(object));
  }

  std::vector<RefHandle> Submit(const RemoteFunction& function, std::vector<TaskArg> args,
                                int num_returns, int max_retries) override {
    std::shared_ptr<Runtime> runtime = CurrentRuntime();
    if (runtime == nullptr) return FailedHandles(NotInitialized(), num_returns);
    absl::StatusOr<const std::string*> name = NameOf(function);
    if (!name.ok()) return FailedHandles(name.status(), num_returns);
    return runtime->Submit(**name, std::move(args), num_returns, max_retries);
  }

  void Map(const RemoteFunction& function, const MapInputs& inputs, size_t chunk_size,
           int max_retries, MapHandleSink take) override {
    std::shared_ptr<Runtime> runtime = CurrentRuntime();
    absl::StatusOr<const std::string*> name = NotInitialized();
    if (runtime != nullptr) name = NameOf(function);
    if (!name.ok()) {
      for (size_t i = 0; i < inputs.size(); ++i) take(FailedHandle(name.status()));
      return;
    }
    runtime->Map(**name, inputs, chunk_size, max_retries, take);
  }

  absl::StatusOr<std::shared_ptr<const ObjectBytes>> Get(const RefHandle& ref,
                                                         absl::Time deadline) override {
    ObjectStore* store = ref.token->store();
    if (store == nullptr) return ref.token->error();
    // Only a task's result can be waited for on a worker; a value put costs no extra look.
    if (ref.token->is_task_result() && !store->IsComplete(ref.id)) {
      ReadResultHere(*ref.token, *store, deadline);
    }
    return store->Get(ref.id, deadline);
  }

  absl::Status GetAll(const std::vector<const RefHandle*>& refs, absl::Time deadline,
                      GatheredBytes* out) override {
    // A run of refs of one store is read under its lock at once (ObjectStore::GetAll).
    std::vector<DataID> run;
    run.reserve(refs.size());  // most often one run of them all
    for (size_t begin = 0; begin < refs.size();) {
      const RefToken* token = refs[begin]->token.get();
      if (token == nullptr) return EmptyRefError();
      if (token->store() == nullptr) return token->error();
      ObjectStore* store = token->store();
      size_t end = begin;
      run.clear();
      while (end < refs.size() && refs[end]->token != nullptr &&
             refs[end]->token->store() == store) {
        run.push_back(refs[end]->id);
        ++end;
      }
      if (absl::Status got = store->GetAll(run, deadline, out); !got.ok()) return got;
      begin = end;
    }
    return absl::OkStatus();
  }

  // The task result of `token` is not complete: if its task is on a worker, this thread
  // reads the worker's answer itself (Runtime::WaitForResult), which saves waking the
  // pool's event thread only for it to wake this one.
  static void ReadResultHere(const RefToken& token, const ObjectStore& store, absl::Time deadline) {
    const std::shared_ptr<PendingTask> task = token.task().lock();
    if (task == nullptr) return;
    if (std::shared_ptr<Runtime> runtime = CurrentRuntime()) {
      runtime->WaitForResult(&store, task->task_id, deadline);
    }
  }

  std::vector<size_t> Wait(const std::vector<const RefHandle*>& refs, size_t wanted,
                           absl::Time deadline) override {
    auto is_complete = [](const RefHandle& ref) {
      const RefToken* token = ref.token.get();
      return token == nullptr || token->store() == nullptr || token->store()->IsComplete(ref.id);
    };
    // Only the current runtime's store can still have pending objects (Shutdown completes
    // every other), so a single store does the blocking wait.
    ObjectStore* pending_store = nullptr;
    std::vector<DataID> pending_ids;
    const RefHandle* pending_ref = nullptr;  // the last one put in pending_ids
    size_t complete = 0;
    for (const RefHandle* ref : refs) {
      if (is_complete(*ref)) {
        ++complete;
      } else if (pending_store == nullptr || ref->token->store() == pending_store) {
        pending_store = ref->token->store();
        pending_ids.push_back(ref->id);
        pending_ref = ref;
      }
    }
    if (complete < wanted && pending_store != nullptr) {
      // The wait is for one task's result: read it from its worker here, as Get does.
      if (pending_ids.size() == 1 && pending_ref->token->is_task_result()) {
        ReadResultHere(*pending_ref->token, *pending_store, deadline);
      }
      pending_store->Wait(pending_ids, wanted - complete, deadline);
    }
    // Report the first complete refs in the caller's order, including any that completed
    // while we waited.
    std::vector<size_t> ready;
    for (size_t i = 0; i < refs.size() && ready.size() < wanted; ++i) {
      if (is_complete(*refs[i])) ready.push_back(i);
    }
    return ready;
  }

  std::shared_ptr<ActorHandle> DecodeActor(uint64_t id, const std::string& type_key) override {
    std::shared_ptr<Runtime> runtime = CurrentRuntime();
    if (runtime == nullptr) return std::make_shared<FailedActorHandle>(NotInitialized());
    absl::StatusOr<std::shared_ptr<ActorHandle>> actor = runtime->FindActor(id, type_key);
    if (!actor.ok()) return std::make_shared<FailedActorHandle>(actor.status());
    return *std::move(actor);
  }

  absl::StatusOr<std::shared_ptr<ActorHandle>> GetActor(const std::string& name,
                                                        const std::string& type_key) override {
    std::shared_ptr<Runtime> runtime = CurrentRuntime();
    if (runtime == nullptr) return NotInitialized();
    return runtime->FindNamedActor(name, type_key);
  }

  absl::Status EndActor(uint64_t actor_key) override {
    std::shared_ptr<Runtime> runtime = CurrentRuntime();
    if (runtime == nullptr) return NotInitialized();
    return runtime->EndActor(WorkerId{static_cast<int>((actor_key >> 32) - 1),
                                      static_cast<uint32_t>(actor_key & 0xffffffffu)});
  }

  RefHandle DecodeRef(const DataID& id) override {
    std::shared_ptr<Runtime> runtime = CurrentRuntime();
    if (runtime == nullptr) return FailedHandle(NotInitialized());
    absl::StatusOr<RefHandle> ref = runtime->FindRef(id);
    return ref.ok() ? *std::move(ref) : FailedHandle(ref.status());
  }

  void KeepWithObjects(const std::vector<DataID>& ids, EncodedHandles held) override {
    std::shared_ptr<Runtime> runtime = CurrentRuntime();
    if (runtime == nullptr) return;  // the objects failed with NotInitialized
    runtime->KeepWithObjects(ids, held);
  }
};

}  // namespace

Client& DriverSideClient() {
  static DriverClient* const client = new DriverClient();
  return *client;
}

std::shared_ptr<Runtime> CurrentRuntime() {
  absl::ReaderMutexLock lock(&g_runtime_mu);
  return g_runtime == nullptr ? nullptr : *g_runtime;
}

void SetCurrentRuntime(std::shared_ptr<Runtime> runtime) {
  absl::MutexLock lock(&g_runtime_mu);
  if (runtime == nullptr) {
    delete g_runtime;
    g_runtime = nullptr;
  } else {
    g_runtime = new std::shared_ptr<Runtime>(std::move(runtime));
  }
}

RefHandle Client::Put(const ValueWriter& value) {
  std::string bytes(value.size, '\0');
  if (absl::Status encoded = value.encode(bytes.data()); !encoded.ok()) {
    return FailedHandle(std::move(encoded));
  }
  return Put(std::move(bytes));
}

absl::Status Client::GetAll(const std::vector<const RefHandle*>& refs, absl::Time deadline,
                            GatheredBytes* out) {
  for (const RefHandle* ref : refs) {
    if (ref->token == nullptr) return EmptyRefError();
    absl::StatusOr<std::shared_ptr<const ObjectBytes>> bytes = Get(*ref, deadline);
    if (!bytes.ok()) return bytes.status();
    out->Add(*std::move(bytes));
  }
  return absl::OkStatus();
}

absl::StatusOr<WritableObject> Client::Allocate(size_t size, size_t aligned_at) {
  // A heap buffer with the byte at `aligned_at` on a 64-byte boundary, as in the store.
  constexpr size_t kAlignment = 64;
  std::shared_ptr<char[]> heap(new (std::nothrow) char[size + kAlignment]);
  if (heap == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("no memory for ", size, " bytes"));
  }
  const uintptr_t at = reinterpret_cast<uintptr_t>(heap.get()) + aligned_at;
  WritableObject object;
  object.data = heap.get() + (kAlignment - at % kAlignment) % kAlignment;
  object.size = size;
  object.space = std::move(heap);
  return object;
}

RefHandle Client::Seal(WritableObject object) {
  if (object.space == nullptr || object.in_store) {
    return FailedHandle(
        absl::InvalidArgumentError("unidist::Seal of an empty or already sealed array"));
  }
  // A small array (or one made where there is no store): stored like a Put, as a copy.
  return Put(std::string(object.data, object.size));
}

RefHandle FailedHandle(absl::Status error) {
  const DataID id = DataID::Generate();
  return RefHandle{id, RefToken::ForError(id, std::move(error))};
}

std::vector<RefHandle> FailedHandles(const absl::Status& error, int count) {
  std::vector<RefHandle> handles;
  for (int i = 0; i < count; ++i) handles.push_back(FailedHandle(error));
  return handles;
}

absl::StatusOr<const std::string*> NameOf(const RemoteFunction& function) {
  return FunctionRegistry::Global().NameOf(function.key, function.address);
}

absl::Status NotInitialized() {
  return absl::FailedPreconditionError("unidist is not initialized: call unidist::Init() first");
}

Client& CurrentClient() { return InWorkerProcess() ? TaskSideClient() : DriverSideClient(); }

}  // namespace unidist::api_internal
