// Copyright 2026 The unidist-cpp Authors.
//
// Node: the worker-rank side of the mpi backend. A worker rank is a node: for each session
// of the driver (Init..Shutdown on rank 0) it runs an ordinary ProcessManager — worker
// processes forked on its own machine — and relays between the driver and that pool:
//   driver -> node: tasks (Dispatch, DispatchTo), cancellations, answers to nested API
//                   calls, dedicated workers to start and close;
//   node -> driver: results, nested API calls, dedicated workers lost, workers gone.
// A task that crashes kills only a local worker process, which the local pool replaces and
// reports as Unavailable, exactly as under the multiprocessing backend; the rank lives on.
//
// Handle() runs on the node's link thread (link.h) and sends through `send`; the local
// pool's callbacks run on its event thread and send too. Thread-safe.

#ifndef UNIDIST_MPI_INTERNAL_NODE_H_
#define UNIDIST_MPI_INTERNAL_NODE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "mpi/internal/mpi_messages.pb.h"
#include "process_manager/worker_pool.h"

namespace unidist::mpi_internal {

class Node {
 public:
  // `send` delivers a message to the driver (thread-safe, never blocks). `execute` runs a
  // task in a local worker process. `start_pool` starts the local pool for a session
  // (ProcessManager::Start in production).
  using StartPool =
      std::function<absl::StatusOr<std::unique_ptr<WorkerPool>>(WorkerPoolOptions options)>;
  Node(std::function<void(const mpi::proto::FromNode&)> send, TaskExecutor execute,
       StartPool start_pool);

  // Ends the session, if any.
  ~Node();

  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Handles one message from the driver. Returns false once the driver said exit (the
  // session is then ended).
  bool Handle(mpi::proto::ToNode message);

  // Ends the current session's local pool, if any (tasks in flight are reported Cancelled).
  void EndSession();

 private:
  void StartSession(uint64_t session, const mpi::proto::StartSession& start);
  // Sends `message` stamped with `session`.
  void Send(uint64_t session, mpi::proto::FromNode message) const;
  // Reports task `task_id` failed with `status` (a task the local pool did not accept).
  void SendTaskError(uint64_t session, const proto::TaskRequest& task,
                     const absl::Status& status) const;

  const std::function<void(const mpi::proto::FromNode&)> send_;
  const TaskExecutor execute_;
  const StartPool start_pool_;
  // Only the link thread (Handle) changes these.
  uint64_t session_ = 0;
  std::unique_ptr<WorkerPool> pool_;
};

}  // namespace unidist::mpi_internal

#endif  // UNIDIST_MPI_INTERNAL_NODE_H_
