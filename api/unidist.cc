// Copyright 2026 The unidist-cpp Authors.
//
// Init, Shutdown and the other process-wide functions of api/unidist.h: options, the
// backend, the session's Runtime, the timeline. The calls on objects, tasks and actors are
// in internal/bridge.cc, through the process's Client (internal/client.h).

#include "unidist/unidist.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "api/internal/builtin_backends.h"
#include "api/internal/client.h"
#include "api/internal/executor.h"
#include "api/internal/function_registry.h"
#include "api/internal/runtime.h"
#include "api/internal/timeline.h"
#include "backend/backend.h"
#include "common/cpus.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"

namespace unidist {
namespace {

using api_internal::Runtime;

// Options::shared_memory_min_bytes by default: below it, one copy through the socket
// costs less than setting up a segment and its mapping.
constexpr size_t kDefaultSharedMemoryMinBytes = size_t{1} << 20;

// Serializes Init and Shutdown; held while processes start and stop.
absl::Mutex g_lifecycle_mu(absl::kConstInit);
// Where Shutdown writes the timeline (Options::timeline or $UNIDIST_TIMELINE at Init).
std::string* g_timeline_path ABSL_GUARDED_BY(g_lifecycle_mu) = nullptr;

// The number of workers the pool starts with: Options::num_workers if set, else this
// process's CPUs (common/cpus.h) — or 0 for a backend that counts the CPUs where its
// workers run (an mpi worker rank counts its own).
absl::StatusOr<int> ResolveNumWorkers(int requested, const BackendDescription& backend) {
  if (requested < 0 || requested > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat("Options::num_workers must be between 0 and ",
                                                   kMaxWorkers, ", got ", requested));
  }
  if (requested > 0) return requested;
  // A bad $UNIDIST_CPUS is an error here too: under mpirun the worker ranks on this host
  // have the same environment.
  absl::StatusOr<int> cpus = UsableCpus();
  if (!cpus.ok() || !backend.abilities.counts_cpus_where_workers_run) return cpus;
  return 0;
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
    return absl::InvalidArgumentError(absl::StrCat(source, " must be between ", kMinimum, " and ",
                                                   kMaxFrameBytesLimit, " bytes"));
  }
  return bytes;
}

// Options::object_store_memory, resolved: the option, else $UNIDIST_OBJECT_STORE_MEMORY,
// else 30% of the machine's memory (as Ray's object store).
absl::StatusOr<size_t> ResolveObjectStoreMemory(size_t requested) {
  constexpr size_t kMinimum = size_t{1} << 20;
  std::string source = "Options::object_store_memory";
  size_t bytes = requested;
  if (bytes == 0) {
    const char* env = getenv("UNIDIST_OBJECT_STORE_MEMORY");
    if (env == nullptr || *env == '\0') {
      const long pages = sysconf(_SC_PHYS_PAGES);
      const long page_size = sysconf(_SC_PAGE_SIZE);
      if (pages <= 0 || page_size <= 0) return size_t{1} << 30;
      return std::max(kMinimum,
                      static_cast<size_t>(pages) / 10 * 3 * static_cast<size_t>(page_size));
    }
    source = "UNIDIST_OBJECT_STORE_MEMORY";
    if (!absl::SimpleAtoi(env, &bytes)) bytes = 0;
  }
  if (bytes < kMinimum) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, " must be at least ", kMinimum, " bytes (a whole number)"));
  }
  return bytes;
}

// Options::worker_memory_limit, resolved: the option, else $UNIDIST_WORKER_MEMORY_LIMIT,
// else none (0).
absl::StatusOr<size_t> ResolveWorkerMemoryLimit(size_t requested) {
  constexpr size_t kMinimum = size_t{1} << 20;
  if (requested != 0) {
    if (requested < kMinimum) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Options::worker_memory_limit must be at least ", kMinimum, " bytes, or 0 for none"));
    }
    return requested;
  }
  const char* env = getenv("UNIDIST_WORKER_MEMORY_LIMIT");
  if (env == nullptr || *env == '\0') return 0;
  size_t bytes = 0;
  if (!absl::SimpleAtoi(env, &bytes) || (bytes != 0 && bytes < kMinimum)) {
    return absl::InvalidArgumentError(
        absl::StrCat("UNIDIST_WORKER_MEMORY_LIMIT must be a whole number of bytes, at least ",
                     kMinimum, " (or 0 for none), got '", env, "'"));
  }
  return bytes;
}

// Options::result_ring_bytes, resolved to WorkerPoolOptions::result_ring_bytes (0: none):
// the option, else $UNIDIST_RESULT_RING_BYTES, else none. The pool checks the size.
absl::StatusOr<size_t> ResolveResultRingBytes(size_t requested) {
  if (requested == Options::kNoResultRing) return 0;
  if (requested != 0) return requested;
  const char* env = getenv("UNIDIST_RESULT_RING_BYTES");
  if (env == nullptr || *env == '\0') return 0;
  size_t bytes = 0;
  if (!absl::SimpleAtoi(env, &bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "UNIDIST_RESULT_RING_BYTES must be a whole number of bytes (0 for none), got '", env, "'"));
  }
  return bytes;
}

// Options::spill_directory, resolved and checked: the option, else
// $UNIDIST_SPILL_DIRECTORY, else $TMPDIR, else /tmp.
absl::StatusOr<std::string> ResolveSpillDirectory(const std::string& requested) {
  std::string source = "Options::spill_directory";
  std::string directory = requested;
  for (const char* variable : {"UNIDIST_SPILL_DIRECTORY", "TMPDIR"}) {
    if (!directory.empty()) break;
    if (const char* env = getenv(variable); env != nullptr && *env != '\0') {
      directory = env;
      source = variable;
    }
  }
  if (directory.empty()) return std::string("/tmp");
  struct stat info;
  if (stat(directory.c_str(), &info) != 0 || !S_ISDIR(info.st_mode) ||
      access(directory.c_str(), W_OK | X_OK) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, " must name a writable directory, got '", directory, "'"));
  }
  return directory;
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
    if (const char* ranks = getenv("OMPI_COMM_WORLD_SIZE"); ranks != nullptr && atoi(ranks) > 1) {
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
    return absl::InvalidArgumentError(
        absl::StrCat(backend.status().message(), " (from ",
                     from_options ? "Options::backend" : "UNIDIST_BACKEND", ")"));
  }
  return backend;
}

// The mode the first Init of the process applied; kDefault until then.
ABSL_CONST_INIT absl::Mutex applied_deadlock_detection_mu(absl::kConstInit);
Options::DeadlockDetection applied_deadlock_detection
    ABSL_GUARDED_BY(applied_deadlock_detection_mu) = Options::DeadlockDetection::kDefault;

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
        return absl::InvalidArgumentError(
            absl::StrCat("UNIDIST_MUTEX_DEADLOCK_DETECTION must be 0 or 1, got '", value, "'"));
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
  return absl::FailedPreconditionError(
      absl::StrCat("mutex deadlock detection is process-wide and the first Init turned it ",
                   name(applied), "; it cannot be turned ", name(mode),
                   " later, while other threads may hold locks (Options::mutex_deadlock_detection, "
                   "UNIDIST_MUTEX_DEADLOCK_DETECTION)"));
}

}  // namespace

absl::Status Init(const Options& options) {
  // A worker is a fork of the driver taken while Init held the lock: checking first
  // keeps a task that calls Init from waiting on it forever.
  if (api_internal::InTask()) return api_internal::CalledInsideATask("Init");
  // A process that is not the driver (an mpi worker rank) serves the driver from here and
  // never returns, whatever the other options say: the driver's decide.
  // (The call also keeps the built-in backends' registrations in the link.)
  static_cast<void>(api_internal::BuiltinBackendsRegistered());
  if (absl::StatusOr<const BackendDescription*> backend = ResolveBackend(options.backend);
      backend.ok() && (*backend)->serve_unless_driver) {
    (*backend)->serve_unless_driver(&api_internal::ExecuteTask);
  }
  absl::MutexLock lifecycle(&g_lifecycle_mu);
  if (api_internal::CurrentRuntime() != nullptr) return absl::OkStatus();
  absl::StatusOr<const BackendDescription*> backend = ResolveBackend(options.backend);
  if (!backend.ok()) return backend.status();
  absl::StatusOr<int> num_workers = ResolveNumWorkers(options.num_workers, **backend);
  if (!num_workers.ok()) return num_workers.status();
  absl::StatusOr<size_t> max_message_bytes = ResolveMaxMessageBytes(options.max_message_bytes);
  if (!max_message_bytes.ok()) return max_message_bytes.status();
  absl::StatusOr<size_t> object_store_memory =
      ResolveObjectStoreMemory(options.object_store_memory);
  if (!object_store_memory.ok()) return object_store_memory.status();
  absl::StatusOr<std::string> spill_directory = ResolveSpillDirectory(options.spill_directory);
  if (!spill_directory.ok()) return spill_directory.status();
  absl::StatusOr<size_t> worker_memory_limit =
      ResolveWorkerMemoryLimit(options.worker_memory_limit);
  if (!worker_memory_limit.ok()) return worker_memory_limit.status();
  absl::StatusOr<size_t> result_ring_bytes = ResolveResultRingBytes(options.result_ring_bytes);
  if (!result_ring_bytes.ok()) return result_ring_bytes.status();
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
  tuning.shared_memory_min_bytes = options.shared_memory_min_bytes == 0
                                       ? kDefaultSharedMemoryMinBytes
                                       : options.shared_memory_min_bytes;
  tuning.object_store_memory = *object_store_memory;
  tuning.spill_directory = *std::move(spill_directory);
  tuning.worker_memory_limit = *worker_memory_limit;
  tuning.result_ring_bytes = *result_ring_bytes;
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
  api_internal::SetCurrentRuntime(std::move(*runtime));
  return absl::OkStatus();
}

bool IsInitialized() {
  // A worker process runs tasks only while its session lives.
  return api_internal::InWorkerProcess() || api_internal::CurrentRuntime() != nullptr;
}

std::vector<std::string> AvailableBackends() {
  static_cast<void>(api_internal::BuiltinBackendsRegistered());  // keeps them in the link
  return BackendRegistry::Global().Names();
}

absl::Status Shutdown() {
  if (api_internal::InTask()) return api_internal::CalledInsideATask("Shutdown");
  absl::MutexLock lifecycle(&g_lifecycle_mu);
  std::shared_ptr<Runtime> runtime = api_internal::CurrentRuntime();
  if (runtime == nullptr) return absl::OkStatus();
  api_internal::SetCurrentRuntime(nullptr);  // new calls see "not initialized" from here on
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
  if (api_internal::InTask()) return api_internal::CalledInsideATask("StartTimeline");
  return api_internal::Timeline::Global().Start(options.max_tasks);
}

void StopTimeline() {
  if (api_internal::InTask()) return;  // driver-only, and it returns no status to refuse with
  api_internal::Timeline::Global().Stop();
}

absl::Status WriteTimeline(const std::string& path) {
  if (api_internal::InTask()) return api_internal::CalledInsideATask("WriteTimeline");
  return api_internal::Timeline::Global().Write(path);
}

std::vector<WorkerInfo> Workers() {
  std::vector<WorkerInfo> workers;
  if (api_internal::InTask()) return workers;  // the forked copy of the driver's runtime is stale
  std::shared_ptr<Runtime> runtime = api_internal::CurrentRuntime();
  if (runtime == nullptr) return workers;
  for (const WorkerState& state : runtime->Workers()) {
    workers.push_back({state.index, static_cast<int>(state.pid), state.alive, state.node});
  }
  return workers;
}

std::vector<NodeInfo> ClusterResources() {
  std::vector<NodeInfo> nodes;
  if (api_internal::InTask()) return nodes;  // the forked copy of the driver's runtime is stale
  std::shared_ptr<Runtime> runtime = api_internal::CurrentRuntime();
  if (runtime == nullptr) return nodes;
  for (const NodeState& node : runtime->Nodes()) {
    nodes.push_back({node.node, node.host, node.cpus, node.workers});
  }
  return nodes;
}

int NumCpus() {
  int cpus = 0;
  for (const NodeInfo& node : ClusterResources()) cpus += node.cpus;
  return cpus;
}

std::string NodeAddress() { return HostAddress(); }

bool WasCurrentActorRestarted() { return api_internal::WasCurrentActorRestarted(); }

absl::Status ExitActor() { return api_internal::ExitActor(); }

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
  std::shared_ptr<Runtime> runtime = api_internal::CurrentRuntime();
  return runtime == nullptr ? Stats() : runtime->GetStats();
}

absl::Status Get(const ObjectRef<void>& ref) {
  return api_internal::Get(ref.handle(), absl::InfiniteFuture()).status();
}

absl::Status Get(const ObjectRef<void>& ref, absl::Duration timeout) {
  return api_internal::Get(ref.handle(), api_internal::DeadlineIn(timeout)).status();
}

}  // namespace unidist
