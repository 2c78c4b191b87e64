// Copyright 2026 The unidist-cpp Authors.
//
// The worker loop of an actor whose calls run on several threads (ActorOptions::
// max_concurrency, TaskRequest.actor_max_concurrency). The one-thread loop
// (worker_loop.cc) runs the actor's constructor, then hands over its socket and what it
// has received (WorkerBacklog) to this one:
// * The loop's own thread reads the socket: tasks go to a queue, cancellations to a set,
//   replies to the thread whose call waits for them.
// * `threads` executor threads take the queue's tasks in the order they arrived and run
//   them, so that up to `threads` calls overlap. Before it takes one, a thread reads what
//   has arrived itself (without waiting), so that a cancellation the driver sent before
//   the task could start is seen, as the one-thread loop sees it. Each tells the driver it has
//   started its task (TaskStarted), so that a death of the process fails each call as "while
//   running" or "before running" truly. A running task's calls to the driver (CallDriver) wait for
//   their own reply only; they never run another task meanwhile (there are threads for
//   that).
// * Messages go out whole under one lock, so the frames of two threads never interleave.
// * At end of stream the threads run what is queued, then the loop returns; a failed read
//   or write, or a bad frame, ends it after the running tasks, without the queued ones.

#ifndef UNIDIST_PROCESS_MANAGER_INTERNAL_CONCURRENT_WORKER_H_
#define UNIDIST_PROCESS_MANAGER_INTERNAL_CONCURRENT_WORKER_H_

#include <cstdint>
#include <vector>

#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "process_manager/internal/worker_loop.h"
#include "process_manager/internal/worker_task.h"

namespace unidist::process_internal {

// What the one-thread loop hands over: what it has read and not yet used.
struct WorkerBacklog {
  FrameDecoder decoder;                     // with any part of a frame read so far
  DriverInbox inbox;                        // messages read, not used yet
  std::vector<proto::ApiRequest> deferred;  // notifications made between tasks
  uint64_t next_request_id = 1;
  bool end_of_stream = false;
};

// Serves the actor's calls on `socket_fd` with `threads` threads (at least 1) until the
// driver closes the socket, as RunWorkerLoop does. Returns one of WorkerExitCode.
int RunConcurrentWorkerLoop(int socket_fd, const WorkerLoopOptions& options, int threads,
                            WorkerBacklog backlog);

}  // namespace unidist::process_internal

#endif  // UNIDIST_PROCESS_MANAGER_INTERNAL_CONCURRENT_WORKER_H_
