// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/worker_loop.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "common/framing.h"
#include "process_manager/internal/os_util.h"

namespace unidist::process_internal {
namespace {

constexpr size_t kReadChunkBytes = 64 * 1024;

}  // namespace

int RunWorkerLoop(int worker_index, int socket_fd, size_t max_frame_bytes,
                  const TaskExecutor& execute) {
  FrameDecoder decoder(max_frame_bytes);
  std::string out;
  const int pid = static_cast<int>(getpid());
  for (;;) {
    const ssize_t received = recv(socket_fd, decoder.PrepareAppend(kReadChunkBytes),
                                  kReadChunkBytes, 0);
    if (received == 0) return kWorkerExitOk;
    if (received < 0) {
      if (errno == EINTR) continue;
      return kWorkerExitSocketError;
    }
    decoder.Commit(static_cast<size_t>(received));
    for (;;) {
      absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
      if (!payload.ok()) return kWorkerExitBadFrame;
      if (!payload->has_value()) break;
      proto::DriverMessage message;
      if (!ParseFramePayload(**payload, &message).ok()) return kWorkerExitBadFrame;
      if (!message.has_task()) return kWorkerExitBadFrame;

      const proto::TaskRequest& task = message.task();
      // Errors name the function and the worker that ran it.
      auto stamp = [&](proto::TaskError* error) {
        error->set_function(task.function());
        error->set_worker_index(worker_index);
        error->set_worker_pid(pid);
      };
      proto::WorkerMessage reply;
      proto::TaskResult* result = reply.mutable_result();
      execute(task, result);
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
}

}  // namespace unidist::process_internal
