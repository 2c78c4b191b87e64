// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/executor.h"

#include <cxxabi.h>

#include <atomic>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "api/internal/function_registry.h"
#include "common/map_chunk.h"
#include "common/result_ids.h"
#include "common/task_error.h"
#include "glog/logging.h"
#include "object_store/shared_arena.h"
#include "process_manager/driver_channel.h"
#include "unidist/common/codec.h"
#include "unidist/internal/bridge.h"

namespace unidist::api_internal {
namespace {

std::string DemangledCurrentExceptionType() {
  const std::type_info* type = abi::__cxa_current_exception_type();
  if (type == nullptr) return "an unknown type";
  int status = 0;
  char* demangled = abi::__cxa_demangle(type->name(), nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : type->name();
  free(demangled);
  return name;
}

void SetError(const absl::Status& status, proto::TaskResult* result) {
  ClearValues(result);
  result->clear_stored_values();  // the driver frees their space
  StatusToTaskError(status, result->mutable_error());
}

// The bytes of a large argument, in this process's read-only mapping of the driver's
// shared-memory store. The mapping is made on first use and kept until the process ends
// (a worker serves one session, so there is one), so later tasks find the pages the
// earlier ones touched still mapped.
absl::StatusOr<absl::string_view> SharedArgument(const proto::SharedValue& shared) {
  // A worker forked for this session inherited the store's mapping.
  if (InheritedArena* inherited = InheritedArena::Get(); inherited != nullptr &&
                                                         inherited->inode() == shared.inode() &&
                                                         inherited->size() == shared.file_size()) {
    return inherited->Bytes(shared.offset(), shared.size());
  }
  static absl::Mutex mu(absl::kConstInit);
  static auto* mappings = new std::vector<std::unique_ptr<ArenaMapping>>();
  ArenaRef ref;
  ref.pid = static_cast<pid_t>(shared.pid());
  ref.fd = shared.fd();
  ref.inode = shared.inode();
  ref.size = shared.file_size();
  absl::MutexLock lock(&mu);
  for (const std::unique_ptr<ArenaMapping>& mapping : *mappings) {
    const ArenaRef& have = mapping->ref();
    if (have.pid == ref.pid && have.fd == ref.fd && have.inode == ref.inode &&
        have.size == ref.size) {
      return mapping->Bytes(shared.offset(), shared.size());
    }
  }
  absl::StatusOr<std::unique_ptr<ArenaMapping>> mapping = ArenaMapping::Open(ref);
  if (!mapping.ok()) return mapping.status();
  mappings->push_back(*std::move(mapping));
  return mappings->back()->Bytes(shared.offset(), shared.size());
}

// The task this thread runs, for StoreResultInPlace: set around the call of a task's
// function (a task run while another waits in a nested call saves and restores it).
struct ResultContext {
  const proto::TaskRequest* task = nullptr;
  proto::TaskResult* result = nullptr;
};
thread_local ResultContext t_results;

// Set in a worker process once it runs its first task.
std::atomic<bool> g_in_worker_process{false};

// How many tasks this thread is running in the driver (the sequential backend runs them
// in the thread that submits them; nested tasks nest).
thread_local int t_tasks_in_driver = 0;

// The actors that live in this process, by ActorKey (process_manager/worker_pool.h): one
// in a multiprocessing worker, any number with the sequential backend. An actor's tasks
// run one at a time, and its instance is dropped only once none runs, so a method may use
// the instance without the lock.
struct WorkerActor {
  std::shared_ptr<void> instance;
  const std::type_info* type = nullptr;
  absl::Status construction_error;
  bool restarted = false;  // made again after its first process died
  bool exited = false;     // ExitActor: later calls do not run
};
absl::Mutex g_actors_mu(absl::kConstInit);
absl::flat_hash_map<uint64_t, WorkerActor>& Actors() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_actors_mu) {
  static auto* const actors = new absl::flat_hash_map<uint64_t, WorkerActor>();
  return *actors;
}

// The actor the task this thread runs belongs to (TaskRequest.actor_key); 0 for none.
thread_local uint64_t t_current_actor = 0;

// Runs `invoker`, turning an exception it lets out into a status that names `function`.
absl::Status Invoke(const Invoker& invoker, const std::string& function,
                    const std::vector<absl::string_view>& args, int num_returns,
                    std::vector<std::string>* values) {
  try {
    return invoker(args, num_returns, values);
  } catch (const std::exception& e) {
    return absl::UnknownError(absl::StrCat("task '", function, "' threw ",
                                           DemangledCurrentExceptionType(), ": ", e.what()));
  } catch (...) {
    return absl::UnknownError(absl::StrCat("task '", function, "' threw an exception of type ",
                                           DemangledCurrentExceptionType()));
  }
}

bool IsActorConstructor(const std::string& function) {
  return absl::StrContains(function, "::<constructor>(");
}

}  // namespace

bool StoreResultInPlace(size_t size, size_t aligned_at, size_t index,
                        absl::FunctionRef<absl::Status(char* out)> encode) {
  const ResultContext& context = t_results;
  if (context.task == nullptr || context.task->store_results_from() == 0 ||
      size < context.task->store_results_from() ||
      index >= static_cast<size_t>(ResultIdCount(*context.task))) {
    return false;
  }
  InheritedArena* store = InheritedArena::Get();
  if (store == nullptr) return false;
  proto::ApiRequest request;
  proto::AllocateRequest* allocate = request.mutable_allocate();
  allocate->set_task_id(context.task->task_id());
  allocate->set_result_id(ResultIdAt(*context.task, static_cast<int>(index)).Binary());
  allocate->set_size(size);
  allocate->set_aligned_at(aligned_at);
  absl::StatusOr<proto::ApiReply> reply = CallDriverPromptly(std::move(request));
  if (!reply.ok() || reply->has_error()) {
    LOG_FIRST_N(WARNING, 1) << "unidist: a large result goes through the socket: "
                            << (reply.ok() ? reply->error().message() : reply.status().message());
    return false;
  }
  // A failed write leaves the space unlisted; the driver frees it with the task's outcome.
  if (const absl::Status written = store->Write(reply->offset(), size, encode); !written.ok()) {
    LOG_FIRST_N(WARNING, 1) << "unidist: a large result goes through the socket: " << written;
    return false;
  }
  proto::StoredValue* stored = context.result->add_stored_values();
  stored->set_index(static_cast<uint32_t>(index));
  stored->set_offset(reply->offset());
  stored->set_size(size);
  return true;
}

namespace {

// Space in the store the driver gave the task this thread runs (AllocateForTask): writable
// from this process until it is returned as a result or dropped. The driver keeps the
// space itself until the task's outcome, and frees it then unless it became a result.
struct TaskSpace {
  TaskSpace(InheritedArena* store, uint64_t offset, uint64_t size)
      : store(store), offset(offset), size(size) {}
  ~TaskSpace() { Close(); }
  void Close() {
    if (open) store->CloseForWriting(offset, size);
    open = false;
  }
  InheritedArena* const store;
  const uint64_t offset;
  const uint64_t size;
  bool open = true;
};

}  // namespace

std::optional<WritableObject> AllocateForTask(size_t size, size_t aligned_at) {
  const ResultContext& context = t_results;
  if (context.task == nullptr || context.task->store_results_from() == 0 ||
      size < context.task->store_results_from()) {
    return std::nullopt;
  }
  InheritedArena* store = InheritedArena::Get();
  if (store == nullptr) return std::nullopt;
  proto::ApiRequest request;
  proto::AllocateRequest* allocate = request.mutable_allocate();
  allocate->set_task_id(context.task->task_id());
  allocate->set_size(size);
  allocate->set_aligned_at(aligned_at);
  absl::StatusOr<proto::ApiReply> reply = CallDriverPromptly(std::move(request));
  if (!reply.ok() || reply->has_error()) {
    LOG_FIRST_N(WARNING, 1) << "unidist: an array allocated in a task lives in its heap: "
                            << (reply.ok() ? reply->error().message() : reply.status().message());
    return std::nullopt;
  }
  absl::StatusOr<char*> data = store->OpenForWriting(reply->offset(), size);
  if (!data.ok()) {
    LOG_FIRST_N(WARNING, 1) << "unidist: an array allocated in a task lives in its heap: "
                            << data.status();
    return std::nullopt;
  }
  WritableObject object;
  object.data = *data;
  object.size = size;
  object.space = std::make_shared<TaskSpace>(store, reply->offset(), size);
  object.in_store = true;
  object.task_id = context.task->task_id();
  return object;
}

bool StoreAllocatedResult(WritableObject& object, size_t index) {
  const ResultContext& context = t_results;
  if (!object.in_store || object.task_id == 0 || context.task == nullptr ||
      object.task_id != context.task->task_id() ||
      index >= static_cast<size_t>(ResultIdCount(*context.task))) {
    return false;
  }
  auto* space = static_cast<TaskSpace*>(object.space.get());
  space->Close();  // the value is final from here on
  proto::StoredValue* stored = context.result->add_stored_values();
  stored->set_index(static_cast<uint32_t>(index));
  stored->set_offset(space->offset);
  stored->set_size(object.size);
  object = WritableObject();
  return true;
}

bool InWorkerProcess() { return g_in_worker_process.load(std::memory_order_relaxed); }

bool InTask() { return InWorkerProcess() || t_tasks_in_driver > 0; }

absl::Status CalledInsideATask(absl::string_view call) {
  return absl::FailedPreconditionError(absl::StrCat(call, " cannot be called from inside a task"));
}

void SetActorInstance(std::shared_ptr<void> instance, const std::type_info& type) {
  absl::MutexLock lock(&g_actors_mu);
  WorkerActor& actor = Actors()[t_current_actor];
  actor.instance = std::move(instance);
  actor.type = &type;
}

namespace {

absl::Mutex g_upcasts_mu(absl::kConstInit);
// By (derived, base) typeid names.
absl::flat_hash_map<std::pair<std::string, std::string>, void* (*)(void*)>& Upcasts()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_upcasts_mu) {
  static auto* const upcasts =
      new absl::flat_hash_map<std::pair<std::string, std::string>, void* (*)(void*)>();
  return *upcasts;
}

}  // namespace

void RegisterUpcast(const std::type_info& derived, const std::type_info& base,
                    void* (*upcast)(void*)) {
  absl::MutexLock lock(&g_upcasts_mu);
  Upcasts().try_emplace(std::make_pair(std::string(derived.name()), std::string(base.name())),
                        upcast);
}

absl::StatusOr<void*> CurrentActorInstance(const std::type_info& type) {
  absl::MutexLock lock(&g_actors_mu);
  auto it = Actors().find(t_current_actor);
  if (it == Actors().end()) {
    return absl::FailedPreconditionError("no actor lives in this worker process");
  }
  const WorkerActor& actor = it->second;
  // A constructor that failed fails every call with its error.
  if (!actor.construction_error.ok()) return actor.construction_error;
  if (actor.instance == nullptr) {
    return absl::FailedPreconditionError("no actor lives in this worker process");
  }
  if (*actor.type == type) return actor.instance.get();
  absl::MutexLock upcasts_lock(&g_upcasts_mu);
  auto upcast =
      Upcasts().find(std::make_pair(std::string(actor.type->name()), std::string(type.name())));
  if (upcast == Upcasts().end()) {
    return absl::InvalidArgumentError("the method belongs to another class than the actor's");
  }
  return upcast->second(actor.instance.get());
}

absl::Status ExitActor() {
  uint64_t actor_key = 0;
  {
    absl::MutexLock lock(&g_actors_mu);
    auto it = Actors().find(t_current_actor);
    if (t_current_actor == 0 || it == Actors().end() || it->second.instance == nullptr) {
      return absl::FailedPreconditionError("ExitActor is called from inside an actor's method");
    }
    it->second.exited = true;
    actor_key = t_current_actor;
  }
  return EndActor(actor_key);
}

bool WasCurrentActorRestarted() {
  absl::MutexLock lock(&g_actors_mu);
  auto it = Actors().find(t_current_actor);
  return t_current_actor != 0 && it != Actors().end() && it->second.restarted;
}

void DropActorInstance(uint64_t actor_key) {
  WorkerActor dropped;  // destroyed after the lock is released: its destructor is user code
  absl::MutexLock lock(&g_actors_mu);
  auto it = Actors().find(actor_key);
  if (it == Actors().end()) return;
  dropped = std::move(it->second);
  Actors().erase(it);
}

namespace {

// Runs `task`; the caller has made its actor (if any) the current one.
void RunTaskForCurrentActor(const proto::TaskRequest& task, proto::TaskResult* result) {
  std::shared_ptr<const Invoker> invoker = FunctionRegistry::Global().Find(task.function());
  if (invoker == nullptr) {
    SetError(absl::NotFoundError(
                 absl::StrCat("function '", task.function(),
                              "' is not registered in the worker process; register it with "
                              "UNIDIST_REMOTE at namespace scope")),
             result);
    return;
  }
  if (task.map_chunk()) {
    // One call per input; a failed call fails only its own result.
    absl::StatusOr<std::vector<absl::string_view>> inputs =
        UnpackedViews(task.map_inputs(), task.map_input_ends());
    if (inputs.ok() && inputs->size() != static_cast<size_t>(ResultIdCount(task))) {
      inputs = absl::DataLossError(absl::StrCat("a map chunk of ", inputs->size(), " inputs names ",
                                                ResultIdCount(task), " results"));
    }
    if (!inputs.ok()) {
      SetError(inputs.status(), result);
      return;
    }
    std::vector<absl::string_view> args(1);
    std::vector<std::string> values;
    std::string* packed = result->mutable_map_values();
    packed->reserve(task.map_inputs().size());  // most calls give back about what they took
    result->mutable_map_value_ends()->Reserve(static_cast<int>(inputs->size()));
    EncodedHandlesScope returned;  // the handles its results hold
    for (size_t i = 0; i < inputs->size(); ++i) {
      args[0] = (*inputs)[i];
      values.clear();
      const absl::Status status = Invoke(*invoker, task.function(), args, 1, &values);
      const bool called = status.ok() && values.size() == 1;
      AppendPacked(called ? absl::string_view(values[0]) : absl::string_view(), packed,
                   result->mutable_map_value_ends());
      if (called) continue;
      proto::ElementError* failed = result->add_element_errors();
      failed->set_index(static_cast<uint32_t>(i));
      StatusToTaskError(status.ok() ? absl::InternalError("the call returned no value") : status,
                        failed->mutable_error());
    }
    if (!returned.empty()) KeepWithObjects(ResultIds(task), returned.Take());
    return;
  }
  std::vector<absl::string_view> args;
  args.reserve(task.args_size());
  // Large objects arrive in shared memory: the task reads the mapping itself.
  for (const proto::TaskArgument& arg : task.args()) {
    if (!arg.has_shared()) {
      args.push_back(arg.value());
      continue;
    }
    absl::StatusOr<absl::string_view> bytes = SharedArgument(arg.shared());
    if (!bytes.ok()) {
      SetError(absl::Status(bytes.status().code(),
                            absl::StrCat("argument ", args.size() + 1, " of '", task.function(),
                                         "' could not be read from shared memory: ",
                                         bytes.status().message())),
               result);
      return;
    }
    args.push_back(*bytes);
  }
  if (t_current_actor != 0) {  // an actor's call: not after ExitActor
    absl::MutexLock lock(&g_actors_mu);
    if (auto it = Actors().find(t_current_actor); it != Actors().end() && it->second.exited) {
      SetError(absl::CancelledError(absl::StrCat("the actor exited (ExitActor) before '",
                                                 task.function(), "' could run")),
               result);
      return;
    }
  }
  if (task.actor_restarted() && IsActorConstructor(task.function())) {
    absl::MutexLock lock(&g_actors_mu);
    Actors()[t_current_actor].restarted = true;  // before the constructor: it may ask too
  }
  std::vector<std::string> values;
  const ResultContext outer = std::exchange(t_results, ResultContext{&task, result});
  EncodedHandlesScope returned;  // the handles its results hold
  const absl::Status status =
      Invoke(*invoker, task.function(), args, std::max(1, ResultIdCount(task)), &values);
  t_results = outer;
  if (status.ok() && !returned.empty()) {
    // Before the result goes back, so that they outlive this task's own handles.
    KeepWithObjects(ResultIds(task), returned.Take());
  }
  if (!status.ok()) {
    if (IsActorConstructor(task.function())) {
      absl::MutexLock lock(&g_actors_mu);
      Actors()[t_current_actor].construction_error = status;
    }
    SetError(status, result);
    return;
  }
  // Results written into the store (StoreResultInPlace) are empty strings here.
  for (std::string& value : values) result->add_values(std::move(value));
}

// Runs `task` with the actor its actor_key names as the current one, restoring the outer
// one after (a task the actor's method submits runs inside it on the sequential backend).
void RunTask(const proto::TaskRequest& task, proto::TaskResult* result) {
  const uint64_t outer_actor = t_current_actor;
  t_current_actor = task.actor_key();
  RunTaskForCurrentActor(task, result);
  t_current_actor = outer_actor;
}

}  // namespace

void ExecuteTask(const proto::TaskRequest& task, proto::TaskResult* result) {
  g_in_worker_process.store(true, std::memory_order_relaxed);
  RunTask(task, result);
}

void ExecuteTaskInDriver(const proto::TaskRequest& task, proto::TaskResult* result) {
  ++t_tasks_in_driver;
  RunTask(task, result);
  --t_tasks_in_driver;
}

}  // namespace unidist::api_internal
