// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/builtin_backends.h"

#include <memory>
#include <utility>

#include "api/internal/runtime.h"
#include "backend/backend.h"
#include "common/status_macros.h"
#include "process_manager/process_manager.h"
#include "process_manager/sequential_pool.h"

namespace unidist::api_internal {
namespace {

BackendDescription Multiprocessing() {
  BackendDescription backend;
  backend.name = kBackendMultiprocessing;
  backend.abilities.shared_memory = true;
  backend.abilities.survives_worker_crash = true;
  backend.abilities.concurrent_with_driver = true;
  backend.abilities.worker_processes = true;
  backend.start_pool =
      [](WorkerPoolOptions options) -> absl::StatusOr<std::unique_ptr<WorkerPool>> {
    UNIDIST_ASSIGN_OR_RETURN(std::unique_ptr<ProcessManager> pool,
                             ProcessManager::Start(std::move(options)));
    return std::unique_ptr<WorkerPool>(std::move(pool));
  };
  return backend;
}

// Everything runs in the calling thread, in submission order (backend_sequential.md).
BackendDescription Sequential() {
  BackendDescription backend;
  backend.name = kBackendSequential;
  backend.start_pool =
      [](WorkerPoolOptions options) -> absl::StatusOr<std::unique_ptr<WorkerPool>> {
    options.execute = &ExecuteTaskInDriver;
    UNIDIST_ASSIGN_OR_RETURN(std::unique_ptr<SequentialPool> pool,
                             SequentialPool::Start(std::move(options)));
    return std::unique_ptr<WorkerPool>(std::move(pool));
  };
  return backend;
}

UNIDIST_REGISTER_BACKEND(Multiprocessing());
UNIDIST_REGISTER_BACKEND(Sequential());

}  // namespace

bool BuiltinBackendsRegistered() { return true; }

}  // namespace unidist::api_internal
