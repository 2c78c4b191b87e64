// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/worker_task.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/map_chunk.h"
#include "common/monotonic_clock.h"
#include "process_manager/internal/os_util.h"

namespace unidist::process_internal {
namespace {

// Errors name the function and the worker that ran it.
void Stamp(const proto::TaskRequest& task, const WorkerLoopOptions& options, int pid,
           proto::TaskError* error) {
  error->set_function(task.function());
  error->set_worker_index(options.worker_index);
  error->set_worker_pid(pid);
}

WorkerConnection* g_connection = nullptr;

}  // namespace

void SetWorkerConnection(WorkerConnection* connection) { g_connection = connection; }

absl::Status WriteToDriver(int socket_fd, ResultRing* ring, absl::string_view bytes) {
  absl::Status written =
      ring != nullptr ? ring->Write(socket_fd, bytes) : SendAll(socket_fd, bytes);
  if (!written.ok())
    return absl::UnavailableError(absl::StrCat("the driver is gone (", written.message(), ")"));
  return absl::OkStatus();
}

void RunTaskInto(const proto::TaskRequest& task, bool cancelled, const WorkerLoopOptions& options,
                 int pid, proto::WorkerMessage* reply) {
  proto::TaskResult* result = reply->mutable_result();
  if (cancelled) {
    result->mutable_error()->set_code(static_cast<int>(absl::StatusCode::kCancelled));
    result->mutable_error()->set_message("the task was cancelled before it started");
  } else if (!task.record_timing()) {
    options.execute(task, result);
  } else {  // the driver records a timeline (api/internal/timeline.h)
    const int64_t start_ns = MonotonicNanos();
    options.execute(task, result);
    proto::TaskTiming* timing = result->mutable_timing();
    timing->set_start_ns(start_ns);
    timing->set_end_ns(MonotonicNanos());
    timing->set_worker_index(options.worker_index);
    timing->set_worker_pid(pid);
  }
  result->set_task_id(task.task_id());
  if (result->has_error()) {
    ClearValues(result);
    Stamp(task, options, pid, result->mutable_error());
  }
  for (proto::ElementError& element : *result->mutable_element_errors()) {
    Stamp(task, options, pid, element.mutable_error());
  }
}

void SendResult(const proto::TaskRequest& task, const WorkerLoopOptions& options, int pid,
                proto::WorkerMessage& reply,
                absl::FunctionRef<absl::Status(proto::WorkerMessage&)> send) {
  const absl::Status sent = send(reply);
  if (sent.code() != absl::StatusCode::kResourceExhausted) return;
  proto::TaskResult* result = reply.mutable_result();
  ClearValues(result);
  result->mutable_error()->set_code(static_cast<int>(sent.code()));
  result->mutable_error()->set_message(std::string(sent.message()));
  Stamp(task, options, pid, result->mutable_error());
  send(reply).IgnoreError();  // a failure ends the worker
}

absl::Status FrameWorkerMessages(const std::vector<proto::ApiRequest>& deferred,
                                 proto::WorkerMessage& message, int waiting_tasks,
                                 size_t max_frame_bytes, std::string* out) {
  message.set_waiting_tasks(static_cast<uint32_t>(waiting_tasks));
  for (const proto::ApiRequest& request : deferred) {
    proto::WorkerMessage notification;
    *notification.mutable_api_request() = request;
    notification.set_waiting_tasks(static_cast<uint32_t>(waiting_tasks));
    AppendFrame(notification, max_frame_bytes, out).IgnoreError();  // tiny
  }
  return AppendFrame(message, max_frame_bytes, out);
}

absl::Status DriverInbox::Read(FrameDecoder& decoder) {
  for (;;) {
    absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
    if (!payload.ok()) return payload.status();
    if (!payload->has_value()) return absl::OkStatus();
    proto::DriverMessage message;
    if (absl::Status parsed = ParseFramePayload(**payload, &message); !parsed.ok()) {
      return parsed;
    }
    if (message.has_task()) {
      tasks.push_back(std::move(*message.mutable_task()));
    } else if (message.has_cancel()) {
      cancelled.insert(message.cancel().task_id());
    } else if (message.has_api_reply()) {
      const uint64_t id = message.api_reply().request_id();
      replies[id] = std::move(*message.mutable_api_reply());
    } else {
      return absl::DataLossError("the driver sent a message of no known kind");
    }
  }
}

proto::TaskRequest DriverInbox::PopTask(bool* was_cancelled) {
  proto::TaskRequest task = std::move(tasks.front());
  tasks.pop_front();
  *was_cancelled = cancelled.erase(task.task_id()) > 0;
  return task;
}

std::optional<proto::ApiReply> DriverInbox::TakeReply(uint64_t id) {
  auto it = replies.find(id);
  if (it == replies.end()) return std::nullopt;
  proto::ApiReply reply = std::move(it->second);
  replies.erase(it);
  return reply;
}

}  // namespace unidist::process_internal

namespace unidist {

// The driver channel (driver_channel.h) is this process's worker loop.
absl::StatusOr<proto::ApiReply> CallDriver(proto::ApiRequest request, absl::Time deadline) {
  using process_internal::g_connection;
  if (g_connection == nullptr || !g_connection->InTask()) {
    return absl::FailedPreconditionError("not inside a task of a worker process");
  }
  return g_connection->Call(std::move(request), deadline, /*help=*/true);
}

absl::StatusOr<proto::ApiReply> CallDriverPromptly(proto::ApiRequest request) {
  using process_internal::g_connection;
  if (g_connection == nullptr || !g_connection->InTask()) {
    return absl::FailedPreconditionError("not inside a task of a worker process");
  }
  return g_connection->Call(std::move(request), absl::InfiniteFuture(), /*help=*/false);
}

void NotifyDriver(proto::ApiRequest request) {
  using process_internal::g_connection;
  if (g_connection != nullptr) g_connection->Notify(std::move(request));
}

}  // namespace unidist
