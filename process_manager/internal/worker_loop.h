// Copyright 2026 The unidist-cpp Authors.
//
// The main loop of a worker process: read messages from the driver's socket, run each
// task, write its result back.
//
// A task may itself call the unidist API (nested tasks): CallDriver sends the request to
// the driver over the same socket and waits for the answer. While it waits, a pool worker
// runs the tasks the driver keeps sending it (nested on its stack), so that workers that
// all wait for results still in the queue cannot deadlock the pool; an actor's worker
// only queues them, so an actor's calls never interleave, unless the actor asks for its
// calls to run on several threads (TaskRequest.actor_max_concurrency on its constructor):
// then the loop hands over to the concurrent one (concurrent_worker.h).

#ifndef UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_LOOP_H_
#define UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_LOOP_H_

#include <atomic>
#include <cstddef>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/worker_protocol.pb.h"
#include "process_manager/internal/result_ring.h"
#include "process_manager/worker_pool.h"

namespace unidist::process_internal {

using ::unidist::TaskExecutor;  // process_manager/worker_pool.h

// Exit codes of a worker process, as the driver reports them.
enum WorkerExitCode : int {
  kWorkerExitOk = 0,            // the driver closed the socket
  kWorkerExitSocketError = 70,  // reading from or writing to the driver failed
  kWorkerExitBadFrame = 71,     // the driver sent a frame that could not be decoded
  kWorkerExitNoThread = 72,     // no thread could be started for an actor's calls
  kWorkerExitNoRing = 73,       // its result ring could not be mapped
};

// WorkerLoopOptions::running_task while the driver kills the worker (no task id).
inline constexpr uint64_t kKillingWorker = ~uint64_t{0};

struct WorkerLoopOptions {
  int worker_index = 0;
  size_t max_frame_bytes = 0;
  // Run queued tasks while a task waits in CallDriver (pool workers; not actors).
  bool help_while_waiting = true;
  // Where this worker says which task it has begun (its task id from just before it runs
  // the task until its result is written; 0 between tasks), in memory the driver shares:
  // when the worker dies, that task is the one it charges a run (tasks nested under a
  // waiting one say so with TaskStarted). Null: not kept. The driver sets it to
  // kKillingWorker before it kills the worker for a forced Cancel; a worker that finds it
  // so when it begins or ends a task waits for the kill instead, so the kill never lands
  // on a task the driver did not mean to stop.
  std::atomic<uint64_t>* running_task = nullptr;
  // How many bytes the driver has written to this worker's socket so far, counted before
  // each write, in memory the driver shares: between tasks a worker that has received
  // them all skips the recv that would only say EAGAIN (one system call a task when it
  // has a backlog). Null: it always looks.
  const std::atomic<uint64_t>* bytes_sent = nullptr;
  // Where the worker writes its messages to the driver (result_ring.h); the socket then
  // carries only wake-up tokens that way. Null: on the socket.
  ResultRing* ring = nullptr;
  TaskExecutor execute;
};

// Serves tasks on `socket_fd` until the driver closes it, then runs the tasks already
// received and returns. A task the driver cancels before it starts is answered with a
// Cancelled error instead of running. Returns one of WorkerExitCode.
int RunWorkerLoop(int socket_fd, const WorkerLoopOptions& options);

// Test-only: writes `bytes` to the driver as this worker's messages go (into its result
// ring, or on its socket), unframed, as a task that scribbles on the channel would.
// Unavailable outside a worker loop, or if the write failed.
absl::Status WriteToDriverForTesting(absl::string_view bytes);

}  // namespace unidist::process_internal

#endif  // UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_LOOP_H_
