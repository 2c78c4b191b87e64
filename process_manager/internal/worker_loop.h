// Copyright 2026 The unidist-cpp Authors.
//
// The main loop of a worker process: read task frames from the driver's socket, run each
// task, write its result frame back, in order, one task at a time.

#ifndef UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_LOOP_H_
#define UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_LOOP_H_

#include <cstddef>
#include <functional>

#include "common/worker_protocol.pb.h"

namespace unidist::process_internal {

// Runs one task in the worker, filling `result` (values or error). The loop fills in
// task_id and, on error, the function name and the worker's index and pid.
using TaskExecutor = std::function<void(const proto::TaskRequest& task, proto::TaskResult* result)>;

// Exit codes of a worker process, as the driver reports them.
enum WorkerExitCode : int {
  kWorkerExitOk = 0,              // the driver closed the socket
  kWorkerExitSocketError = 70,    // reading from or writing to the driver failed
  kWorkerExitBadFrame = 71,       // the driver sent a frame that could not be decoded
};

// Serves tasks on `socket_fd` until the driver closes it, then runs the tasks already
// received and returns. A task the driver cancels before it starts is answered with a
// Cancelled error instead of running.
// Returns one of WorkerExitCode.
int RunWorkerLoop(int worker_index, int socket_fd, size_t max_frame_bytes,
                  const TaskExecutor& execute);

}  // namespace unidist::process_internal

#endif  // UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_LOOP_H_
