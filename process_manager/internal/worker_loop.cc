// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/worker_loop.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "common/framing.h"
#include "process_manager/internal/os_util.h"

namespace unidist::process_internal {
namespace {

constexpr size_t kReadChunkBytes = 64 * 1024;

// The worker's end of its socket: reads the driver's messages into a queue of tasks and
// a set of cancelled task ids, and writes results.
class DriverConnection {
 public:
  DriverConnection(int fd, size_t max_frame_bytes) : fd_(fd), decoder_(max_frame_bytes) {}

  // Reads what has arrived; with `block`, first waits for something to arrive. Returns
  // the exit code to use when the worker must stop reading (kWorkerExitOk at end of
  // stream), or -1 to go on.
  int Receive(bool block) {
    for (bool wait = block;; wait = false) {
      const ssize_t received = recv(fd_, decoder_.PrepareAppend(kReadChunkBytes),
                                    kReadChunkBytes, wait ? 0 : MSG_DONTWAIT);
      if (received == 0) {
        end_of_stream_ = true;
        return -1;
      }
      if (received < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
        return kWorkerExitSocketError;
      }
      decoder_.Commit(static_cast<size_t>(received));
      if (int code = ParseFrames(); code >= 0) return code;
    }
  }

  bool end_of_stream() const { return end_of_stream_; }
  bool has_task() const { return !tasks_.empty(); }

  proto::TaskRequest PopTask() {
    proto::TaskRequest task = std::move(tasks_.front());
    tasks_.pop_front();
    return task;
  }

  // True (once) if the driver cancelled `task_id`.
  bool TakeCancelled(uint64_t task_id) { return cancelled_.erase(task_id) > 0; }

 private:
  int ParseFrames() {
    for (;;) {
      absl::StatusOr<std::optional<absl::string_view>> payload = decoder_.Next();
      if (!payload.ok()) return kWorkerExitBadFrame;
      if (!payload->has_value()) return -1;
      proto::DriverMessage message;
      if (!ParseFramePayload(**payload, &message).ok()) return kWorkerExitBadFrame;
      if (message.has_task()) {
        tasks_.push_back(std::move(*message.mutable_task()));
      } else if (message.has_cancel()) {
        cancelled_.insert(message.cancel().task_id());
      } else {
        return kWorkerExitBadFrame;
      }
    }
  }

  const int fd_;
  FrameDecoder decoder_;
  std::deque<proto::TaskRequest> tasks_;
  absl::flat_hash_set<uint64_t> cancelled_;
  bool end_of_stream_ = false;
};

}  // namespace

int RunWorkerLoop(int worker_index, int socket_fd, size_t max_frame_bytes,
                  const TaskExecutor& execute) {
  DriverConnection driver(socket_fd, max_frame_bytes);
  std::string out;
  const int pid = static_cast<int>(getpid());
  for (;;) {
    // Wait for work when there is none; otherwise only pick up what has arrived, so that
    // a cancellation sent after a task is seen before the task starts.
    if (int code = driver.Receive(/*block=*/!driver.has_task() && !driver.end_of_stream());
        code >= 0) {
      return code;
    }
    if (!driver.has_task()) {
      if (driver.end_of_stream()) return kWorkerExitOk;  // everything received has run
      continue;
    }
    const proto::TaskRequest task = driver.PopTask();
    // Errors name the function and the worker that ran it.
    auto stamp = [&](proto::TaskError* error) {
      error->set_function(task.function());
      error->set_worker_index(worker_index);
      error->set_worker_pid(pid);
    };
    proto::WorkerMessage reply;
    proto::TaskResult* result = reply.mutable_result();
    if (driver.TakeCancelled(task.task_id())) {
      result->mutable_error()->set_code(static_cast<int>(absl::StatusCode::kCancelled));
      result->mutable_error()->set_message("the task was cancelled before it started");
    } else {
      execute(task, result);
    }
    result->set_task_id(task.task_id());
    if (result->has_error()) {
      result->clear_values();
      stamp(result->mutable_error());
    }
    out.clear();
    if (absl::Status framed = AppendFrame(reply, max_frame_bytes, &out); !framed.ok()) {
      // The result is too large to send: report that instead of the value.
      result->clear_values();
      result->mutable_error()->set_code(static_cast<int>(framed.code()));
      result->mutable_error()->set_message(std::string(framed.message()));
      stamp(result->mutable_error());
      out.clear();
      if (!AppendFrame(reply, max_frame_bytes, &out).ok()) return kWorkerExitSocketError;
    }
    if (!SendAll(socket_fd, out).ok()) return kWorkerExitSocketError;
  }
}

}  // namespace unidist::process_internal
