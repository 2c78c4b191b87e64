// Copyright 2026 The unidist-cpp Authors.

#include "unidist/testing/backend_traits.h"

#include <stdlib.h>

#include "absl/strings/str_cat.h"
#include "backend/backend.h"
#include "unidist/unidist.h"

namespace unidist::testing {
namespace {

// The registered backend the tests run on; null if this program does not link it.
const BackendDescription* TestBackendDescription() {
  // AvailableBackends keeps the built-in backends in the link.
  static_cast<void>(unidist::AvailableBackends());
  absl::StatusOr<const BackendDescription*> backend = BackendRegistry::Global().Find(TestBackend());
  return backend.ok() ? *backend : nullptr;
}

const char* TraitName(BackendTrait trait) {
  switch (trait) {
    case BackendTrait::kSurvivesWorkerCrash:
      return "kSurvivesWorkerCrash (the driver survives a crashed worker)";
    case BackendTrait::kConcurrentWithDriver:
      return "kConcurrentWithDriver (tasks run while the driver goes on)";
    case BackendTrait::kWorkerProcesses:
      return "kWorkerProcesses (tasks run in worker processes of their own)";
    case BackendTrait::kSharedMemory:
      return "kSharedMemory (large objects live in a shared-memory store)";
    case BackendTrait::kCountsCpusWhereWorkersRun:
      return "kCountsCpusWhereWorkersRun (each worker rank counts its own CPUs)";
  }
  return "an unknown trait";
}

}  // namespace

std::string TestBackend() {
  const char* env = getenv("UNIDIST_BACKEND");
  if (env != nullptr && *env != '\0') return env;
  // As unidist::Init: the backend the launcher asked for (mpi under mpirun with several
  // ranks, when linked), else multiprocessing.
  static_cast<void>(unidist::AvailableBackends());
  if (const BackendDescription* wanted = BackendRegistry::Global().WantedByLauncher();
      wanted != nullptr) {
    return wanted->name;
  }
  return "multiprocessing";
}

bool BackendHas(BackendTrait trait) {
  const BackendDescription* backend = TestBackendDescription();
  if (backend == nullptr) return false;
  const BackendAbilities& abilities = backend->abilities;
  switch (trait) {
    case BackendTrait::kSurvivesWorkerCrash:
      return abilities.survives_worker_crash;
    case BackendTrait::kConcurrentWithDriver:
      return abilities.concurrent_with_driver;
    case BackendTrait::kWorkerProcesses:
      return abilities.worker_processes;
    case BackendTrait::kSharedMemory:
      return abilities.shared_memory;
    case BackendTrait::kCountsCpusWhereWorkersRun:
      return abilities.counts_cpus_where_workers_run;
  }
  return false;
}

std::string SkipReason(BackendTrait trait) {
  if (TestBackendDescription() == nullptr) {
    return absl::StrCat("the ", TestBackend(), " backend is not linked into this test");
  }
  return absl::StrCat("the ", TestBackend(), " backend lacks ", TraitName(trait),
                      "; see docs/backends.md");
}

}  // namespace unidist::testing
