// Copyright 2026 The unidist-cpp Authors.
//
// Backends: the execution engines unidist::Init can start, each described once and found
// by name. A backend is a WorkerPool (process_manager/worker_pool.h) plus what the rest of
// the library needs to know about it: its name, what it can do (BackendAbilities), how to
// start a session's pool, and what a process that is not the driver does at Init.
//
// The runtime and the tests never compare backend names: they look the backend up here
// and ask its abilities. Adding a backend is one description and one registration; the
// program that wants the backend links the library that registers it:
//   * multiprocessing and sequential are part of //api (unidist::api) and always present;
//   * mpi registers itself from //mpi (unidist::mpi): a program that does not depend on
//     it links no MPI library.
//
// Registration happens during static initialization (UNIDIST_REGISTER_BACKEND) or by a
// direct BackendRegistry::Register call; lookups happen from Init on. Thread-safe.
//
// Example (a backend library's registration file, built with alwayslink = True):
//   UNIDIST_REGISTER_BACKEND([] {
//     unidist::BackendDescription backend;
//     backend.name = "mybackend";
//     backend.abilities.worker_processes = true;
//     backend.start_pool = &mybackend::StartPool;
//     return backend;
//   }());

#ifndef UNIDIST_BACKEND_BACKEND_H_
#define UNIDIST_BACKEND_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "process_manager/worker_pool.h"

namespace unidist {

// What a backend can do, for the runtime (which sends large values through shared memory
// only where other processes can map it) and for tests that depend on one of these
// (testing/backend_traits.h). Every field defaults to the conservative answer.
struct BackendAbilities {
  // The processes that run tasks share the driver's machine, so they can map a memory
  // file of the driver's (large values then skip the socket; common/shared_memory.h).
  bool shared_memory = false;
  // A task that kills its worker fails with Unavailable and the driver lives on; the pool
  // replaces the worker, and max_retries runs the task again.
  bool survives_worker_crash = false;
  // Tasks run concurrently with the driver: Submit returns before the task has run.
  bool concurrent_with_driver = false;
  // Tasks and actors run in worker processes of their own, with their own pids.
  bool worker_processes = false;
  // The pool counts the CPUs where its workers run: when Options::num_workers is 0, Init
  // starts the pool with num_workers 0, and each place that runs workers (an mpi worker
  // rank) starts as many as it has CPUs there (common/cpus.h). Without it, 0 becomes the
  // driver process's count.
  bool counts_cpus_where_workers_run = false;
};

// One backend, as registered.
struct BackendDescription {
  // The name Options::backend and UNIDIST_BACKEND take. Required, unique.
  std::string name;
  BackendAbilities abilities;
  // Starts the pool of one session. `options.execute` runs a task in a worker process;
  // a backend that runs tasks elsewhere (the sequential one: in the caller) replaces it.
  // Required.
  std::function<absl::StatusOr<std::unique_ptr<WorkerPool>>(WorkerPoolOptions options)> start_pool;
  // Optional: true when this process was started in a way that calls for this backend
  // (mpi: by mpirun, with several ranks). Init then picks it when neither
  // Options::backend nor UNIDIST_BACKEND names one.
  std::function<bool()> wanted_by_launcher;
  // Optional: run at the start of every Init that picks this backend, before anything
  // else, with the function that runs a task in a worker process. A process that is not
  // the driver (an mpi worker rank) serves the driver from here and never returns; the
  // driver returns at once.
  std::function<void(TaskExecutor execute)> serve_unless_driver;
  // Optional: how errors name a place where the pool keeps objects outside the driver
  // (RemoteLocation::holder; mpi: "rank 3"). Without it: "holder 3".
  std::function<std::string(uint64_t holder)> describe_holder;
};

class BackendRegistry {
 public:
  // The process-wide registry.
  static BackendRegistry& Global();

  // Adds `backend`. InvalidArgument if it has no name or no start_pool; AlreadyExists if
  // a backend of that name is registered.
  absl::Status Register(BackendDescription backend);

  // The backend called `name`; NotFound (listing the registered ones, and saying how the
  // mpi backend is linked in when that is the one asked for) otherwise. The description
  // lives as long as the process.
  absl::StatusOr<const BackendDescription*> Find(absl::string_view name) const;

  // The registered names, sorted.
  std::vector<std::string> Names() const;

  // The backend a launcher asked for (see BackendDescription::wanted_by_launcher), if
  // exactly one did; else null.
  const BackendDescription* WantedByLauncher() const;

 private:
  BackendRegistry() = default;
  struct State;
  State& state() const;
};

namespace backend_internal {
// Registers `backend` in the global registry, aborting with its error (a duplicate name is
// a bug in the program's link). Returns true, for a static initializer.
bool RegisterOrDie(BackendDescription backend);
}  // namespace backend_internal

}  // namespace unidist

// Registers the BackendDescription `description` (an expression) during static
// initialization. Use once per backend, at namespace scope in a .cc file of a library
// built with alwayslink (Bazel) or as an object library (CMake), so that the linker keeps
// it although nothing refers to it.
#define UNIDIST_REGISTER_BACKEND(description) \
  UNIDIST_REGISTER_BACKEND_IMPL_(UNIDIST_BACKEND_CONCAT_(unidist_backend_, __LINE__), description)
#define UNIDIST_BACKEND_CONCAT_INNER_(a, b) a##b
#define UNIDIST_BACKEND_CONCAT_(a, b) UNIDIST_BACKEND_CONCAT_INNER_(a, b)
#define UNIDIST_REGISTER_BACKEND_IMPL_(variable, description) \
  [[maybe_unused]] static const bool variable =               \
      ::unidist::backend_internal::RegisterOrDie(description)

#endif  // UNIDIST_BACKEND_BACKEND_H_
