// Copyright 2026 The unidist-cpp Authors.
//
// The process-wide runtime behind api/unidist.h.

#include "api/unidist.h"

#include <sched.h>
#include <stdlib.h>

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "api/internal/builtin_backends.h"
#include "api/internal/function_registry.h"
#include "api/internal/progress.h"
#include "api/internal/runtime.h"
#include "api/internal/timeline.h"
#include "backend/backend.h"
#include "process_manager/internal/worker_loop.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"

namespace unidist {
namespace {

using api_internal::RefHandle;
using api_internal::RefToken;
using api_internal::Runtime;

constexpr int kMaxWorkers = 4096;
// Options::shared_memory_min_bytes by default: below it, one copy through the socket
// costs less than setting up a segment and its mapping.
constexpr size_t kDefaultSharedMemoryMinBytes = size_t{1} << 20;

// Serializes Init and Shutdown; held while processes start and stop.
absl::Mutex g_lifecycle_mu(absl::kConstInit);
// The current runtime. API calls copy the pointer and work without the lock, so a
// Shutdown on another thread never pulls a runtime out from under them.
absl::Mutex g_runtime_mu(absl::kConstInit);
std::shared_ptr<Runtime>* g_runtime ABSL_GUARDED_BY(g_runtime_mu) = nullptr;

// Where Shutdown writes the timeline (Options::timeline or $UNIDIST_TIMELINE at Init).
std::string* g_timeline_path ABSL_GUARDED_BY(g_lifecycle_mu) = nullptr;

std::shared_ptr<Runtime> CurrentRuntime() {
  absl::ReaderMutexLock lock(&g_runtime_mu);
  return g_runtime == nullptr ? nullptr : *g_runtime;
}

void SetRuntime(std::shared_ptr<Runtime> runtime) {
  absl::MutexLock lock(&g_runtime_mu);
  if (runtime == nullptr) {
    delete g_runtime;
    g_runtime = nullptr;
  } else {
    g_runtime = new std::shared_ptr<Runtime>(std::move(runtime));
  }
}

absl::Status NotInATask() {
  return absl::FailedPreconditionError(
      "Init and Shutdown cannot be called from inside a task");
}

absl::Status NotInitialized() {
  return absl::FailedPreconditionError(
      "unidist is not initialized: call unidist::Init() first");
}

int AvailableCpus() {
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) return CPU_COUNT(&cpus);
  return std::max(1u, std::thread::hardware_concurrency());
}

absl::StatusOr<int> ResolveNumWorkers(int requested) {
  if (requested < 0 || requested > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Options::num_workers must be between 0 and ", kMaxWorkers, ", got ", requested));
  }
  if (requested > 0) return requested;
  if (const char* env = getenv("UNIDIST_CPUS"); env != nullptr && *env != '\0') {
    int from_env = 0;
    if (!absl::SimpleAtoi(env, &from_env) || from_env < 1 || from_env > kMaxWorkers) {
      return absl::InvalidArgumentError(absl::StrCat(
          "UNIDIST_CPUS must be a whole number between 1 and ", kMaxWorkers, ", got '", env,
          "'"));
    }
    return from_env;
  }
  return AvailableCpus();
}

absl::StatusOr<size_t> ResolveMaxMessageBytes(size_t requested) {
  constexpr size_t kMinimum = 1024;
  std::string source = "Options::max_message_bytes";
  size_t bytes = requested;
  if (bytes == 0) {
    const char* env = getenv("UNIDIST_MAX_MESSAGE_BYTES");
    if (env == nullptr || *env == '\0') return kDefaultMaxFrameBytes;
    source = "UNIDIST_MAX_MESSAGE_BYTES";
    if (!absl::SimpleAtoi(env, &bytes)) bytes = 0;
  }
  if (bytes < kMinimum || bytes > kMaxFrameBytesLimit) {
    return absl::InvalidArgumentError(absl::StrCat(source, " must be between ", kMinimum,
                                                   " and ", kMaxFrameBytesLimit, " bytes"));
  }
  return bytes;
}

// The backend Init starts: the one Options::backend or $UNIDIST_BACKEND names, else the one
// the launcher asked for (backend/backend.h), else multiprocessing.
absl::StatusOr<const BackendDescription*> ResolveBackend(const std::string& requested) {
  const bool from_options = !requested.empty();
  std::string name = requested;
  if (name.empty()) {
    if (const char* env = getenv("UNIDIST_BACKEND"); env != nullptr && *env != '\0') name = env;
  }
  BackendRegistry& registry = BackendRegistry::Global();
  if (name.empty()) {
    if (const BackendDescription* wanted = registry.WantedByLauncher(); wanted != nullptr) {
      return wanted;
    }
    // Without the mpi backend, each rank of `mpirun -n 4 ./program` would run a program of
    // its own: almost certainly not what was meant.
    if (const char* ranks = getenv("OMPI_COMM_WORLD_SIZE");
        ranks != nullptr && atoi(ranks) > 1) {
      return absl::FailedPreconditionError(absl::StrCat(
          "mpirun started this program with ", ranks,
          " ranks, but the mpi backend is not linked in: depend on @unidist//mpi (Bazel) or "
          "unidist::mpi (CMake), or set UNIDIST_BACKEND=multiprocessing to run every rank "
          "on its own"));
    }
    name = api_internal::kBackendMultiprocessing;
  }
  absl::StatusOr<const BackendDescription*> backend = registry.Find(name);
  if (!backend.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        backend.status().message(), " (from ",
        from_options ? "Options::backend" : "UNIDIST_BACKEND", ")"));
  }
  return backend;
}

// The mode the first Init of the process applied; kDefault until then.
ABSL_CONST_INIT absl::Mutex applied_deadlock_detection_mu(absl::kConstInit);
Options::DeadlockDetection applied_deadlock_detection ABSL_GUARDED_BY(
    applied_deadlock_detection_mu) = Options::DeadlockDetection::kDefault;

// Applies Options::mutex_deadlock_detection (see there). Abseil keeps a per-thread list of
// the locks each thread holds only while the detector is on, and a lock taken while it
// was off and released while it is on aborts the program ("thread releasing lock it does
// not hold"). Threads outlive a session (the mpi backend's link thread, the user's own),
// so the first Init of the process fixes the mode, and a later one may not change it.
absl::Status ApplyDeadlockDetection(Options::DeadlockDetection requested) {
  Options::DeadlockDetection mode = requested;
  if (mode == Options::DeadlockDetection::kDefault) {
    if (const char* env = getenv("UNIDIST_MUTEX_DEADLOCK_DETECTION");
        env != nullptr && *env != '\0') {
      const absl::string_view value(env);
      if (value != "0" && value != "1") {
        return absl::InvalidArgumentError(absl::StrCat(
            "UNIDIST_MUTEX_DEADLOCK_DETECTION must be 0 or 1, got '", value, "'"));
      }
      mode = value == "1" ? Options::DeadlockDetection::kOn : Options::DeadlockDetection::kOff;
    } else {
      // Debian's Abseil (built without NDEBUG) starts with the detector on.
#ifdef NDEBUG
      mode = Options::DeadlockDetection::kOff;
#else
      mode = Options::DeadlockDetection::kOn;
#endif
    }
  }
  absl::MutexLock lock(&applied_deadlock_detection_mu);
  Options::DeadlockDetection& applied = applied_deadlock_detection;
  if (applied == Options::DeadlockDetection::kDefault) {
    absl::SetMutexDeadlockDetectionMode(mode == Options::DeadlockDetection::kOn
                                            ? absl::OnDeadlockCycle::kAbort
                                            : absl::OnDeadlockCycle::kIgnore);
    applied = mode;
    return absl::OkStatus();
  }
  if (mode == applied) return absl::OkStatus();
  const auto name = [](Options::DeadlockDetection m) {
    return m == Options::DeadlockDetection::kOn ? "on" : "off";
  };
  return absl::FailedPreconditionError(absl::StrCat(
      "mutex deadlock detection is process-wide and the first Init turned it ", name(applied),
      "; it cannot be turned ", name(mode),
      " later, while other threads may hold locks (Options::mutex_deadlock_detection, "
      "UNIDIST_MUTEX_DEADLOCK_DETECTION)"));
}

// A handle whose object failed before it reached any store.
RefHandle FailedHandle(absl::Status error) {
  const DataID id = DataID::Generate();
  return RefHandle{id, std::make_shared<const RefToken>(id, std::move(error))};
}

// Inside a task, the API runs in the driver: these send the call there and turn the reply
// into handles to objects the driver holds for this worker (see Runtime::OnApiRequest).
absl::StatusOr<proto::ApiReply> CallDriver(proto::ApiRequest request, absl::Time deadline) {
  absl::StatusOr<proto::ApiReply> reply = process_internal::CallDriver(std::move(request), deadline);
  if (!reply.ok()) return reply.status();
  if (reply->has_error()) return api_internal::TaskErrorToStatus(reply->error());
  return reply;
}

std::vector<RefHandle> HandlesHeldByDriver(const proto::ApiReply& reply) {
  std::vector<RefHandle> handles;
  for (const std::string& id_bytes : reply.object_ids()) {
    absl::StatusOr<DataID> id = DataID::FromBinary(id_bytes);
    if (!id.ok()) {
      handles.push_back(FailedHandle(id.status()));
      continue;
    }
    handles.push_back(
        RefHandle{*id, std::make_shared<const RefToken>(*id, RefToken::HeldByDriver())});
  }
  return handles;
}

absl::Status NotInThisTask(const RefHandle& ref) {
  return absl::InvalidArgumentError(absl::StrCat(
      "object ", ref.id.Hex(), " is not one this task made or received through the API"));
}

}  // namespace

absl::Status Init(const Options& options) {
  // A worker is a fork of the driver taken while Init held the lock: checking first
  // keeps a task that calls Init from waiting on it forever.
  if (api_internal::InTask()) return NotInATask();
  // A process that is not the driver (an mpi worker rank) serves the driver from here and
  // never returns, whatever the other options say: the driver's decide.
  // (The call also keeps the built-in backends' registrations in the link.)
  static_cast<void>(api_internal::BuiltinBackendsRegistered());
  if (absl::StatusOr<const BackendDescription*> backend = ResolveBackend(options.backend);
      backend.ok() && (*backend)->serve_unless_driver) {
    (*backend)->serve_unless_driver(&api_internal::ExecuteTask);
  }
  absl::MutexLock lifecycle(&g_lifecycle_mu);
  if (CurrentRuntime() != nullptr) return absl::OkStatus();
  absl::StatusOr<int> num_workers = ResolveNumWorkers(options.num_workers);
  if (!num_workers.ok()) return num_workers.status();
  absl::StatusOr<const BackendDescription*> backend = ResolveBackend(options.backend);
  if (!backend.ok()) return backend.status();
  absl::StatusOr<size_t> max_message_bytes = ResolveMaxMessageBytes(options.max_message_bytes);
  if (!max_message_bytes.ok()) return max_message_bytes.status();
  if (absl::Status registered = api_internal::FunctionRegistry::Global().Validate();
      !registered.ok()) {
    return registered;
  }
  if (options.scheduling != Options::Scheduling::kRoundRobin &&
      options.scheduling != Options::Scheduling::kLeastLoaded) {
    return absl::InvalidArgumentError("Options::scheduling is not a Scheduling value");
  }
  // Before the workers are forked, so that they inherit the setting.
  if (absl::Status detection = ApplyDeadlockDetection(options.mutex_deadlock_detection);
      !detection.ok()) {
    return detection;
  }
  api_internal::RuntimeTuning tuning;
  tuning.least_loaded = options.scheduling == Options::Scheduling::kLeastLoaded;
  tuning.shared_memory_min_bytes =
      options.shared_memory_min_bytes == 0 ? kDefaultSharedMemoryMinBytes
                                           : options.shared_memory_min_bytes;
  std::string timeline_path = options.timeline;
  if (const char* env = getenv("UNIDIST_TIMELINE"); timeline_path.empty() && env != nullptr) {
    timeline_path = env;
  }
  absl::StatusOr<std::unique_ptr<Runtime>> runtime =
      Runtime::Start(**backend, *num_workers, *max_message_bytes, tuning);
  if (!runtime.ok()) return runtime.status();
  if (!timeline_path.empty()) {
    // Before the first task; OK (and no change) if a timeline records already.
    api_internal::Timeline::Global().Start(TimelineOptions().max_tasks).IgnoreError();
    delete g_timeline_path;
    g_timeline_path = new std::string(std::move(timeline_path));
  }
  SetRuntime(std::move(*runtime));
  return absl::OkStatus();
}

bool IsInitialized() { return CurrentRuntime() != nullptr; }

std::vector<std::string> AvailableBackends() {
  static_cast<void>(api_internal::BuiltinBackendsRegistered());  // keeps them in the link
  return BackendRegistry::Global().Names();
}

absl::Status Shutdown() {
  if (api_internal::InTask()) return NotInATask();
  absl::MutexLock lifecycle(&g_lifecycle_mu);
  std::shared_ptr<Runtime> runtime = CurrentRuntime();
  if (runtime == nullptr) return absl::OkStatus();
  SetRuntime(nullptr);  // new calls see "not initialized" from here on
  runtime->Shutdown();  // calls already under way finish against the stopped runtime
  if (g_timeline_path != nullptr) {
    // After the pool's Shutdown, which reported every task still in flight.
    const std::string path = std::move(*g_timeline_path);
    delete g_timeline_path;
    g_timeline_path = nullptr;
    return api_internal::Timeline::Global().Write(path);
  }
  return absl::OkStatus();
}

absl::Status StartTimeline(const TimelineOptions& options) {
  if (api_internal::InTask()) {
    return absl::FailedPreconditionError("the timeline cannot be started from inside a task");
  }
  return api_internal::Timeline::Global().Start(options.max_tasks);
}

void StopTimeline() { api_internal::Timeline::Global().Stop(); }

absl::Status WriteTimeline(const std::string& path) {
  if (api_internal::InTask()) {
    return absl::FailedPreconditionError("the timeline cannot be written from inside a task");
  }
  return api_internal::Timeline::Global().Write(path);
}

std::vector<WorkerInfo> Workers() {
  std::vector<WorkerInfo> workers;
  std::shared_ptr<Runtime> runtime = CurrentRuntime();
  if (runtime == nullptr) return workers;
  for (const WorkerState& state : runtime->Workers()) {
    workers.push_back({state.index, static_cast<int>(state.pid), state.alive});
  }
  return workers;
}

std::optional<TaskFailure> GetTaskFailure(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kTaskFailurePayloadUrl);
  proto::TaskError error;
  if (!payload.has_value() || !error.ParseFromString(std::string(*payload))) {
    return std::nullopt;
  }
  return TaskFailure{error.function(), error.worker_index(), error.worker_pid(),
                     error.worker_died()};
}

Stats GetStats() {
  std::shared_ptr<Runtime> runtime = CurrentRuntime();
  return runtime == nullptr ? Stats() : runtime->GetStats();
}

absl::Status Get(const ObjectRef<void>& ref) {
  return api_internal::Get(ref.handle(), absl::InfiniteFuture()).status();
}

absl::Status Get(const ObjectRef<void>& ref, absl::Duration timeout) {
  return api_internal::Get(ref.handle(), api_internal::DeadlineIn(timeout)).status();
}

namespace api_internal {

RefHandle Put(std::string bytes) {
  if (InWorkerProcess()) {
    proto::ApiRequest request;
    *request.mutable_put()->mutable_value() = std::move(bytes);
    absl::StatusOr<proto::ApiReply> reply =
        CallDriver(std::move(request), absl::InfiniteFuture());
    if (!reply.ok()) return FailedHandle(reply.status());
    std::vector<RefHandle> handles = HandlesHeldByDriver(*reply);
    return handles.size() == 1 ? handles[0] : FailedHandle(absl::InternalError("bad reply"));
  }
  std::shared_ptr<Runtime> runtime = CurrentRuntime();
  if (runtime == nullptr) return FailedHandle(NotInitialized());
  return runtime->Put(std::move(bytes));
}

std::vector<RefHandle> FailedHandles(const absl::Status& error, int count) {
  std::vector<RefHandle> handles;
  for (int i = 0; i < count; ++i) handles.push_back(FailedHandle(error));
  return handles;
}

std::vector<RefHandle> Submit(const std::string& fn_key, const void* fn_address,
                              std::vector<TaskArg> args, int num_returns, int max_retries) {
  absl::Status error;
  absl::StatusOr<std::string> name = FunctionRegistry::Global().NameOf(fn_key, fn_address);
  if (InWorkerProcess()) {  // a nested task
    if (!name.ok()) return FailedHandles(name.status(), num_returns);
    proto::ApiRequest request;
    proto::SubmitRequest* submit = request.mutable_submit();
    submit->set_function(*name);
    submit->set_num_returns(num_returns);
    submit->set_max_retries(max_retries);
    for (TaskArg& arg : args) {
      proto::TaskArgument* task_arg = submit->add_args();
      if (!arg.is_ref) {
        *task_arg->mutable_value() = std::move(arg.value);
      } else if (arg.ref.token != nullptr && arg.ref.token->held_by_driver()) {
        task_arg->set_object_id(arg.ref.id.Binary());
      } else {
        return FailedHandles(NotInThisTask(arg.ref), num_returns);
      }
    }
    absl::StatusOr<proto::ApiReply> reply =
        CallDriver(std::move(request), absl::InfiniteFuture());
    if (!reply.ok()) return FailedHandles(reply.status(), num_returns);
    std::vector<RefHandle> handles = HandlesHeldByDriver(*reply);
    if (static_cast<int>(handles.size()) != num_returns) {
      return FailedHandles(absl::InternalError("bad reply from the driver"), num_returns);
    }
    return handles;
  }
  std::shared_ptr<Runtime> runtime = CurrentRuntime();
  if (runtime == nullptr) {
    error = NotInitialized();
  } else if (!name.ok()) {
    error = name.status();
  } else {
    return runtime->Submit(*name, std::move(args), num_returns, max_retries);
  }
  return FailedHandles(error, num_returns);
}

std::vector<RefHandle> Map(const std::string& fn_key, const void* fn_address,
                           std::vector<std::string> inputs, size_t chunk_size, int max_retries) {
  const int count = static_cast<int>(inputs.size());
  if (InWorkerProcess()) {  // nested: the driver serves Submit, one call per input
    std::vector<RefHandle> handles;
    handles.reserve(inputs.size());
    for (std::string& input : inputs) {
      std::vector<TaskArg> args(1);
      args[0].value = std::move(input);
      handles.push_back(
          std::move(Submit(fn_key, fn_address, std::move(args), 1, max_retries).front()));
    }
    return handles;
  }
  std::shared_ptr<Runtime> runtime = CurrentRuntime();
  if (runtime == nullptr) return FailedHandles(NotInitialized(), count);
  absl::StatusOr<std::string> name = FunctionRegistry::Global().NameOf(fn_key, fn_address);
  if (!name.ok()) return FailedHandles(name.status(), count);
  return runtime->Map(*name, std::move(inputs), chunk_size, max_retries);
}

std::shared_ptr<ActorHandle> CreateActor(const std::string& type_key, std::vector<TaskArg> args) {
  if (InTask()) {
    return std::make_shared<ActorHandle>(absl::UnimplementedError(
        "actors cannot be created from inside a task (tasks can: use Submit)"));
  }
  std::shared_ptr<Runtime> runtime = CurrentRuntime();
  if (runtime == nullptr) return std::make_shared<ActorHandle>(NotInitialized());
  absl::StatusOr<std::string> class_name = FunctionRegistry::Global().ActorClassName(type_key);
  if (!class_name.ok()) return std::make_shared<ActorHandle>(class_name.status());
  absl::StatusOr<std::shared_ptr<ActorRecord>> actor = runtime->StartActor(*class_name);
  if (!actor.ok()) return std::make_shared<ActorHandle>(actor.status());
  RefHandle created = std::move(
      runtime->SubmitActorCall(*actor, ActorConstructorName(*class_name), std::move(args), 1)
          .front());
  return std::make_shared<ActorHandle>(std::move(runtime), std::move(*actor),
                                       std::move(created));
}

std::vector<RefHandle> SubmitActorCall(const std::shared_ptr<ActorHandle>& actor,
                                       const std::string& method_key,
                                       std::vector<TaskArg> args, int num_returns) {
  if (actor == nullptr) {
    return FailedHandles(absl::InvalidArgumentError("call on an empty Actor handle"),
                         num_returns);
  }
  if (!actor->error().ok()) return FailedHandles(actor->error(), num_returns);
  absl::StatusOr<std::string> name = FunctionRegistry::Global().NameOf(method_key, nullptr);
  if (!name.ok()) return FailedHandles(name.status(), num_returns);
  return actor->runtime()->SubmitActorCall(actor->actor(), *name, std::move(args), num_returns);
}

absl::Status KillActor(const std::shared_ptr<ActorHandle>& actor) {
  if (actor == nullptr) return absl::InvalidArgumentError("Kill on an empty Actor handle");
  if (!actor->error().ok()) return actor->error();
  return actor->runtime()->KillActor(*actor->actor());
}

RefHandle ActorCreated(const std::shared_ptr<ActorHandle>& actor) {
  if (actor == nullptr) return RefHandle{};
  if (!actor->error().ok()) return FailedHandle(actor->error());
  return actor->created();
}

ActorHandle::~ActorHandle() {
  if (runtime_ != nullptr) runtime_->ReleaseActor(*actor_);
}

absl::Status Cancel(const RefHandle& ref, bool force) {
  if (ref.token == nullptr) return absl::InvalidArgumentError("Cancel on an empty ObjectRef");
  if (ref.token->held_by_driver() || InTask()) {
    return absl::UnimplementedError("Cancel from inside a task is not supported");
  }
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

absl::StatusOr<std::shared_ptr<const std::string>> Get(const RefHandle& ref, absl::Time deadline) {
  if (ref.token == nullptr) {
    return absl::InvalidArgumentError("Get on an empty ObjectRef (default-constructed)");
  }
  if (ref.token->held_by_driver()) {  // inside a task: ask the driver
    proto::ApiRequest request;
    request.mutable_get()->set_object_id(ref.id.Binary());
    absl::StatusOr<proto::ApiReply> reply = CallDriver(std::move(request), deadline);
    if (!reply.ok()) return reply.status();
    return std::make_shared<const std::string>(std::move(*reply->mutable_value()));
  }
  if (ref.token->store() == nullptr) return ref.token->error();
  return ref.token->store()->Get(ref.id, deadline);
}

std::vector<size_t> WaitInTask(const std::vector<const RefHandle*>& refs, size_t wanted,
                               absl::Time deadline);

std::vector<size_t> Wait(const std::vector<const RefHandle*>& refs, int num_returns,
                         absl::Time deadline) {
  std::vector<size_t> ready;
  if (num_returns <= 0) return ready;
  const size_t wanted = std::min(static_cast<size_t>(num_returns), refs.size());
  if (InWorkerProcess()) return WaitInTask(refs, wanted, deadline);
  auto is_complete = [](const RefHandle& ref) {
    const RefToken* token = ref.token.get();
    return token == nullptr || token->store() == nullptr || token->store()->IsComplete(ref.id);
  };
  // Only the current runtime's store can still have pending objects (Shutdown completes
  // every other), so a single store does the blocking wait.
  ObjectStore* pending_store = nullptr;
  std::vector<DataID> pending_ids;
  size_t complete = 0;
  for (const RefHandle* ref : refs) {
    if (is_complete(*ref)) {
      ++complete;
    } else if (pending_store == nullptr || ref->token->store() == pending_store) {
      pending_store = ref->token->store();
      pending_ids.push_back(ref->id);
    }
  }
  if (complete < wanted && pending_store != nullptr) {
    pending_store->Wait(pending_ids, wanted - complete, deadline);
  }
  // Report the first complete refs in the caller's order, including any that completed
  // while we waited.
  for (size_t i = 0; i < refs.size() && ready.size() < wanted; ++i) {
    if (is_complete(*refs[i])) ready.push_back(i);
  }
  return ready;
}

std::vector<size_t> WaitInTask(const std::vector<const RefHandle*>& refs, size_t wanted,
                               absl::Time deadline) {
  // Refs the driver does not hold for this task (empty, failed before Init) are complete.
  std::vector<size_t> ready;
  std::vector<size_t> positions;  // of the refs sent to the driver
  proto::ApiRequest request;
  for (size_t i = 0; i < refs.size(); ++i) {
    if (refs[i]->token != nullptr && refs[i]->token->held_by_driver()) {
      request.mutable_wait()->add_object_ids(refs[i]->id.Binary());
      positions.push_back(i);
    }
  }
  const size_t complete_here = refs.size() - positions.size();
  const int needed = static_cast<int>(wanted > complete_here ? wanted - complete_here : 0);
  request.mutable_wait()->set_num_returns(needed);
  absl::StatusOr<proto::ApiReply> reply = CallDriver(request, deadline);
  if (!reply.ok() && reply.status().code() == absl::StatusCode::kDeadlineExceeded) {
    request.mutable_wait()->set_num_returns(0);  // what is complete now, answered at once
    reply = CallDriver(request, absl::InfiniteFuture());
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
  for (size_t i = 0; i < refs.size() && ready.size() < wanted; ++i) {
    if (complete[i]) ready.push_back(i);
  }
  return ready;
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

}  // namespace api_internal
}  // namespace unidist
