// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/worker_loop.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/clock.h"
#include "common/framing.h"
#include "common/monotonic_clock.h"
#include "glog/logging.h"
#include "process_manager/driver_channel.h"
#include "process_manager/internal/os_util.h"

namespace unidist::process_internal {
namespace {

constexpr size_t kReadChunkBytes = 64 * 1024;
// How deep a worker nests queued tasks while others wait; past it, a waiting task just
// waits, which keeps the stack bounded.
constexpr int kMaxNestedTasks = 200;

// The worker's side of its socket. A worker process has one thread, so one instance,
// reached by CallDriver through g_worker.
class Worker {
 public:
  Worker(int fd, const WorkerLoopOptions& options)
      : fd_(fd), options_(options), decoder_(options.max_frame_bytes), pid_(getpid()) {}

  int Run() {
    for (;;) {
      // Wait for work when there is none; otherwise only pick up what has arrived, so
      // that a cancellation sent after a task is seen before the task starts.
      Receive(/*block=*/tasks_.empty() && !end_of_stream_, absl::InfiniteFuture());
      if (exit_code_ >= 0) return exit_code_;
      if (tasks_.empty()) {
        if (end_of_stream_) return kWorkerExitOk;  // everything received has run
        continue;
      }
      RunTask(PopTask());
      if (exit_code_ >= 0) return exit_code_;
    }
  }

  absl::StatusOr<proto::ApiReply> Call(proto::ApiRequest request, absl::Time deadline,
                                       bool help = true) {
    if (exit_code_ >= 0) return absl::UnavailableError("the driver is gone");
    const uint64_t id = next_request_id_++;
    request.set_request_id(id);
    proto::WorkerMessage message;
    *message.mutable_api_request() = std::move(request);
    ++waiting_;
    Send(message).IgnoreError();  // a failure sets exit_code_, which AwaitReply reports
    absl::StatusOr<proto::ApiReply> reply = AwaitReply(id, deadline, help);
    --waiting_;
    return reply;
  }

  void Notify(proto::ApiRequest request) {
    if (exit_code_ >= 0) return;
    if (depth_ == 0) {
      // Between tasks the driver counts this worker idle, and bytes from an idle worker
      // are a protocol error (process_manager.h): it goes with the next task's first
      // message.
      deferred_.push_back(std::move(request));
      return;
    }
    proto::WorkerMessage message;
    *message.mutable_api_request() = std::move(request);
    Send(message).IgnoreError();  // nothing to do if the driver is gone
  }

  bool running_task() const { return depth_ > 0; }

 private:
  // With `help`, runs queued tasks while it waits (see help_while_waiting).
  absl::StatusOr<proto::ApiReply> AwaitReply(uint64_t id, absl::Time deadline, bool help) {
    for (;;) {
      if (auto it = replies_.find(id); it != replies_.end()) {
        proto::ApiReply reply = std::move(it->second);
        replies_.erase(it);
        return reply;
      }
      if (exit_code_ >= 0 || end_of_stream_) {
        return absl::UnavailableError("the driver closed the connection");
      }
      if (help && options_.help_while_waiting && !tasks_.empty() && depth_ < kMaxNestedTasks) {
        RunTask(PopTask());
        continue;
      }
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError("no answer from the driver before the deadline");
      }
      Receive(/*block=*/true, deadline);
    }
  }

  // Reads what has arrived (waiting until something does, or `deadline`, if `block`).
  void Receive(bool block, absl::Time deadline) {
    if (block && deadline != absl::InfiniteFuture()) {
      const int64_t timeout_ms =
          std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()) + 1);
      pollfd readable{fd_, POLLIN, 0};
      if (poll(&readable, 1, static_cast<int>(std::min<int64_t>(timeout_ms, 1 << 30))) == 0) {
        return;  // the deadline passed
      }
    }
    for (bool wait = block;; wait = false) {
      const ssize_t received = recv(fd_, decoder_.PrepareAppend(kReadChunkBytes), kReadChunkBytes,
                                    wait ? 0 : MSG_DONTWAIT);
      if (received == 0) {
        end_of_stream_ = true;
        return;
      }
      if (received < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) exit_code_ = kWorkerExitSocketError;
        return;
      }
      decoder_.Commit(static_cast<size_t>(received));
      if (absl::Status parsed = ParseFrames(); !parsed.ok()) {
        // For the driver's log: the worker's stderr is forwarded, and its tail is quoted
        // in the errors of its tasks.
        LOG(ERROR) << "unidist worker: bad bytes from the driver: " << parsed;
        exit_code_ = kWorkerExitBadFrame;
        return;
      }
    }
  }

  // DataLoss if the bytes do not decode (framing.h names the fault) or are no known message.
  absl::Status ParseFrames() {
    for (;;) {
      absl::StatusOr<std::optional<absl::string_view>> payload = decoder_.Next();
      if (!payload.ok()) return payload.status();
      if (!payload->has_value()) return absl::OkStatus();
      proto::DriverMessage message;
      if (absl::Status parsed = ParseFramePayload(**payload, &message); !parsed.ok()) {
        return parsed;
      }
      if (message.has_task()) {
        tasks_.push_back(std::move(*message.mutable_task()));
      } else if (message.has_cancel()) {
        cancelled_.insert(message.cancel().task_id());
      } else if (message.has_api_reply()) {
        const uint64_t id = message.api_reply().request_id();
        replies_[id] = std::move(*message.mutable_api_reply());
      } else {
        return absl::DataLossError("the driver sent a message of no known kind");
      }
    }
  }

  proto::TaskRequest PopTask() {
    proto::TaskRequest task = std::move(tasks_.front());
    tasks_.pop_front();
    return task;
  }

  void RunTask(const proto::TaskRequest& task) {
    ++depth_;
    if (depth_ > 1) {  // nested under a waiting task: tell the driver it has started
      proto::WorkerMessage started;
      started.mutable_started()->set_task_id(task.task_id());
      Send(started).IgnoreError();  // a failure sets exit_code_
    }
    // Errors name the function and the worker that ran it.
    auto stamp = [&](proto::TaskError* error) {
      error->set_function(task.function());
      error->set_worker_index(options_.worker_index);
      error->set_worker_pid(pid_);
    };
    proto::WorkerMessage reply;
    proto::TaskResult* result = reply.mutable_result();
    const bool cancelled = cancelled_.erase(task.task_id()) > 0;
    // The outermost task says in shared memory that it has begun, before any of it runs.
    const bool outermost = depth_ == 1 && options_.running_task != nullptr && !cancelled;
    if (outermost) options_.running_task->store(task.task_id(), std::memory_order_release);
    if (cancelled) {
      result->mutable_error()->set_code(static_cast<int>(absl::StatusCode::kCancelled));
      result->mutable_error()->set_message("the task was cancelled before it started");
    } else if (!task.record_timing()) {
      options_.execute(task, result);
    } else {  // the driver records a timeline (api/internal/timeline.h)
      const int64_t start_ns = MonotonicNanos();
      options_.execute(task, result);
      proto::TaskTiming* timing = result->mutable_timing();
      timing->set_start_ns(start_ns);
      timing->set_end_ns(MonotonicNanos());
      timing->set_worker_index(options_.worker_index);
      timing->set_worker_pid(pid_);
    }
    --depth_;
    result->set_task_id(task.task_id());
    if (result->has_error()) {
      result->clear_values();
      result->clear_element_errors();
      stamp(result->mutable_error());
    }
    for (proto::ElementError& element : *result->mutable_element_errors()) {
      stamp(element.mutable_error());
    }
    if (absl::Status sent = Send(reply); sent.code() == absl::StatusCode::kResourceExhausted) {
      // The result is too large to send: report that instead of the value.
      result->clear_values();
      result->mutable_error()->set_code(static_cast<int>(sent.code()));
      result->mutable_error()->set_message(std::string(sent.message()));
      stamp(result->mutable_error());
      Send(reply).IgnoreError();  // a failure sets exit_code_
    }
    // Only now that its result is written: a worker that dies before has not answered it.
    if (outermost) options_.running_task->store(0, std::memory_order_release);
  }

  // Writes one message; a failure to write ends the worker (exit_code_).
  absl::Status Send(proto::WorkerMessage& message) {
    message.set_waiting_tasks(static_cast<uint32_t>(waiting_));
    out_.clear();
    // Notifications made between tasks (see Notify), now that a task is in flight.
    for (const proto::ApiRequest& request : deferred_) {
      proto::WorkerMessage notification;
      *notification.mutable_api_request() = request;
      notification.set_waiting_tasks(static_cast<uint32_t>(waiting_));
      AppendFrame(notification, options_.max_frame_bytes, &out_).IgnoreError();  // tiny
    }
    if (absl::Status framed = AppendFrame(message, options_.max_frame_bytes, &out_); !framed.ok()) {
      return framed;  // the deferred notifications wait for the next message
    }
    deferred_.clear();
    if (!SendAll(fd_, out_).ok()) {
      exit_code_ = kWorkerExitSocketError;
      return absl::UnavailableError("the driver is gone");
    }
    return absl::OkStatus();
  }

  const int fd_;
  const WorkerLoopOptions& options_;
  FrameDecoder decoder_;
  const int pid_;
  std::string out_;
  std::deque<proto::TaskRequest> tasks_;
  std::vector<proto::ApiRequest> deferred_;  // Notify calls made between tasks
  absl::flat_hash_set<uint64_t> cancelled_;
  absl::flat_hash_map<uint64_t, proto::ApiReply> replies_;
  uint64_t next_request_id_ = 1;
  int depth_ = 0;    // tasks on the stack
  int waiting_ = 0;  // of those, waiting in Call
  bool end_of_stream_ = false;
  int exit_code_ = -1;
};

Worker* g_worker = nullptr;

}  // namespace

int RunWorkerLoop(int socket_fd, const WorkerLoopOptions& options) {
  // Every glog message of the worker goes to its stderr, which the driver forwards line by
  // line tagged "(worker N pid P) ". Without this, a driver that logs to files would leave
  // the worker writing its own files (under the driver's name) and stderr only from ERROR.
  FLAGS_logtostderr = true;
  Worker worker(socket_fd, options);
  g_worker = &worker;
  const int code = worker.Run();
  g_worker = nullptr;
  return code;
}

}  // namespace unidist::process_internal

namespace unidist {

// The driver channel (driver_channel.h) is this process's worker loop.
absl::StatusOr<proto::ApiReply> CallDriver(proto::ApiRequest request, absl::Time deadline) {
  using process_internal::g_worker;
  if (g_worker == nullptr || !g_worker->running_task()) {
    return absl::FailedPreconditionError("not inside a task of a worker process");
  }
  return g_worker->Call(std::move(request), deadline);
}

absl::StatusOr<proto::ApiReply> CallDriverPromptly(proto::ApiRequest request) {
  using process_internal::g_worker;
  if (g_worker == nullptr || !g_worker->running_task()) {
    return absl::FailedPreconditionError("not inside a task of a worker process");
  }
  return g_worker->Call(std::move(request), absl::InfiniteFuture(), /*help=*/false);
}

void NotifyDriver(proto::ApiRequest request) {
  using process_internal::g_worker;
  if (g_worker != nullptr) g_worker->Notify(std::move(request));
}

}  // namespace unidist
