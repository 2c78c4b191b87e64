// Copyright 2026 The unidist-cpp Authors.
//
// The executor: what runs a task where tasks run. In a worker process (multiprocessing,
// and the worker processes of the mpi backend) the worker loop hands every task to
// ExecuteTask; on the sequential backend the pool runs them in the driver's calling thread
// through ExecuteTaskInDriver. Either way the executor looks the function up by name in
// the FunctionRegistry, maps the arguments that arrived in shared memory, runs it, and
// turns what happens (values, a returned status, an exception) into the TaskResult.
//
// It also owns the actor instances that live in this process (one in a multiprocessing
// worker, any number in the driver on the sequential backend), by ActorKey
// (process_manager/worker_pool.h): the constructor's task creates the instance, method
// tasks find it (bridge.h: SetActorInstance, CurrentActorInstance), DropActorInstance
// destroys it.
//
// It knows nothing of scheduling (runtime.h) or of where the task came from. Thread-safe.

#ifndef UNIDIST_API_INTERNAL_EXECUTOR_H_
#define UNIDIST_API_INTERNAL_EXECUTOR_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/worker_protocol.pb.h"
#include "unidist/internal/bridge.h"

namespace unidist::api_internal {

// True in a worker process (once it has started running tasks).
bool InWorkerProcess();

// True while this thread runs a task: in a worker process, or in the driver on the
// sequential backend (where a task's API calls go straight to the runtime, but the calls
// api/unidist.h lists as driver-only are refused as inside any task).
bool InTask();

// The one answer of a driver-only call made inside a task (see "Calls a task may not
// make" in api/unidist.h): FailedPrecondition, "<call> cannot be called from inside a
// task".
absl::Status CalledInsideATask(absl::string_view call);

// Runs one task in a worker process: looks the function up by name, runs it, and turns
// what happens (value, returned status, exception) into `result`.
void ExecuteTask(const proto::TaskRequest& task, proto::TaskResult* result);
// The same, in the driver's calling thread (the sequential backend): InTask() holds while
// it runs, InWorkerProcess() does not.
void ExecuteTaskInDriver(const proto::TaskRequest& task, proto::TaskResult* result);
// unidist::Allocate inside a task in a worker process: `size` bytes (the byte at
// `aligned_at` on a 64-byte boundary) in the session's store, writable from this process,
// if the task's results go there (TaskRequest.store_results_from) and it is that large.
// Nullopt otherwise, or if the driver has no room: the caller uses the heap.
std::optional<WritableObject> AllocateForTask(size_t size, size_t aligned_at);

// Destroys the actor instance kept under `actor_key` in this process, if any.
void DropActorInstance(uint64_t actor_key);

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_EXECUTOR_H_
