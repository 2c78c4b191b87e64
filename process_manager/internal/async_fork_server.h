// Copyright 2026 The unidist-cpp Authors.
//
// AsyncForkServer: the fork server's slow requests, made on a thread of their own.
//
// Why: a Spawn is a round trip to the fork server that includes a fork(), and a Reap waits
// for the server, which serves one request at a time. The driver's event thread delivers
// every worker's results; if it made these calls itself, a worker's death would hold up
// the results of all the others. Instead it queues the request here and goes on; this
// thread makes the calls in order and, after each, writes to the event thread's wake-up
// eventfd so that it collects the outcome with TakeFinished.
//
// Thread-safe.

#ifndef UNIDIST_PROCESS_MANAGER_INTERNAL_ASYNC_FORK_SERVER_H_
#define UNIDIST_PROCESS_MANAGER_INTERNAL_ASYNC_FORK_SERVER_H_

#include <sys/types.h>

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "process_manager/internal/fork_server.h"

namespace unidist::process_internal {

class AsyncForkServer {
 public:
  // A finished Spawn: the new worker (its descriptors owned by whoever takes it), or why
  // it could not be started.
  struct Spawned {
    int worker_index = -1;
    absl::StatusOr<ForkServer::Worker> worker;
  };
  // A finished Reap: the wait status of `pid`, or why it could not be reaped.
  struct Reaped {
    pid_t pid = -1;
    absl::StatusOr<int> wait_status;
  };

  // Starts the thread. `server` must outlive this object; `wake_fd` is an eventfd
  // written (8 bytes, value 1) after each request finishes, and must stay open until Stop.
  AsyncForkServer(ForkServer* server, int wake_fd);
  // Stops.
  ~AsyncForkServer();

  AsyncForkServer(const AsyncForkServer&) = delete;
  AsyncForkServer& operator=(const AsyncForkServer&) = delete;

  // Queues ForkServer::Spawn(worker_index, shared_file_bytes). Ignored after Stop.
  void Spawn(int worker_index, size_t shared_file_bytes = 0);
  // Queues ForkServer::Reap(pid, no grace): for a worker that has exited (or was
  // SIGKILLed), which the server then reaps at once. Ignored after Stop.
  void Reap(pid_t pid);

  // Moves the requests finished since the last call into `spawned` and `reaped`.
  void TakeFinished(std::vector<Spawned>* spawned, std::vector<Reaped>* reaped);

  // Drops the requests not started, waits for the one under way and ends the thread.
  // Workers spawned but never taken get their descriptors closed (the fork server ends
  // them when it stops). Idempotent.
  void Stop();

 private:
  struct Request {
    bool spawn = false;  // else reap
    int worker_index = -1;
    pid_t pid = -1;
    size_t shared_file_bytes = 0;
  };

  void Run();
  void Wake() const;

  ForkServer* const server_;
  const int wake_fd_;
  std::thread thread_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Request> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<Spawned> spawned_ ABSL_GUARDED_BY(mu_);
  std::vector<Reaped> reaped_ ABSL_GUARDED_BY(mu_);
};

}  // namespace unidist::process_internal

#endif  // UNIDIST_PROCESS_MANAGER_INTERNAL_ASYNC_FORK_SERVER_H_
