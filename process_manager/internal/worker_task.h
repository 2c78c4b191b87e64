// Copyright 2026 The unidist-cpp Authors.
//
// What both worker loops share: running one task into its reply, framing the worker's
// messages, reading the driver's, and the connection the driver channel
// (driver_channel.h) calls through. A worker process starts in the one-thread loop
// (worker_loop.cc); an actor created with max_concurrency > 1 hands its socket to the
// concurrent loop (concurrent_worker.h) once its constructor has returned.

#ifndef UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_TASK_H_
#define UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_TASK_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "process_manager/internal/worker_loop.h"

namespace unidist::process_internal {

// The worker's end of its socket, as the driver channel's functions reach it.
class WorkerConnection {
 public:
  virtual ~WorkerConnection() = default;
  // True on a thread that runs a task: only such a thread may call the driver.
  virtual bool InTask() const = 0;
  // CallDriver (help: the one-thread loop may run queued tasks while it waits).
  virtual absl::StatusOr<proto::ApiReply> Call(proto::ApiRequest request, absl::Time deadline,
                                               bool help) = 0;
  // NotifyDriver.
  virtual void Notify(proto::ApiRequest request) = 0;
};

// The process's connection while a worker loop runs; null otherwise. Set only while no
// other thread of the loop runs.
void SetWorkerConnection(WorkerConnection* connection);

// Runs `task` with options.execute (or, if `cancelled`, answers it with Cancelled instead)
// and fills reply->result: the task id, the values or the error, errors stamped with the
// function and this worker (`pid`), the timing if the task asks for it.
void RunTaskInto(const proto::TaskRequest& task, bool cancelled, const WorkerLoopOptions& options,
                 int pid, proto::WorkerMessage* reply);

// Sends `reply` (made by RunTaskInto for `task`) with `send`; a result too large to send
// (ResourceExhausted) goes as that error instead. `send` ends the worker on a failed write.
void SendResult(const proto::TaskRequest& task, const WorkerLoopOptions& options, int pid,
                proto::WorkerMessage& reply,
                absl::FunctionRef<absl::Status(proto::WorkerMessage&)> send);

// Frames the notifications made between tasks (`deferred`, see WorkerConnection::Notify)
// and then `message` onto `out`, each carrying `waiting_tasks`. An error (`message` is
// over max_frame_bytes) leaves what it framed on `out`; the caller keeps `deferred` then.
absl::Status FrameWorkerMessages(const std::vector<proto::ApiRequest>& deferred,
                                 proto::WorkerMessage& message, int waiting_tasks,
                                 size_t max_frame_bytes, std::string* out);

// Writes framed messages to the driver: into `ring` if the worker has one, else on
// `socket_fd`. Unavailable if the driver is gone (or gave the worker up).
absl::Status WriteToDriver(int socket_fd, ResultRing* ring, absl::string_view bytes);

// What the driver has sent that the worker has not used yet; each loop keeps one.
struct DriverInbox {
  std::deque<proto::TaskRequest> tasks;                    // received, not started
  absl::flat_hash_set<uint64_t> cancelled;                 // cancelled before they started
  absl::flat_hash_map<uint64_t, proto::ApiReply> replies;  // by request id

  // Files each complete message in `decoder`. DataLoss if the bytes do not decode
  // (framing.h names the fault) or are no message a worker knows.
  absl::Status Read(FrameDecoder& decoder);
  // The oldest task (there must be one), and whether the driver cancelled it before it
  // started.
  proto::TaskRequest PopTask(bool* cancelled);
  // The reply to request `id`, if it has come.
  std::optional<proto::ApiReply> TakeReply(uint64_t id);
};

}  // namespace unidist::process_internal

#endif  // UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_TASK_H_
