// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/worker_loop.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/framing.h"
#include "glog/logging.h"
#include "process_manager/internal/concurrent_worker.h"
#include "process_manager/internal/os_util.h"
#include "process_manager/internal/worker_task.h"

namespace unidist::process_internal {
namespace {

constexpr size_t kReadChunkBytes = 64 * 1024;
// How deep a worker nests queued tasks while others wait; past it, a waiting task just
// waits, which keeps the stack bounded.
constexpr int kMaxNestedTasks = 200;

// The worker's side of its socket, on the process's one thread (until an actor with
// max_concurrency hands it over to the concurrent loop).
class Worker final : public WorkerConnection {
 public:
  Worker(int fd, const WorkerLoopOptions& options)
      : fd_(fd), options_(options), decoder_(options.max_frame_bytes), pid_(getpid()) {}

  int Run() {
    for (;;) {
      // Wait for work when there is none; otherwise only pick up what has arrived, so
      // that a cancellation sent after a task is seen before the task starts.
      Receive(/*block=*/inbox_.tasks.empty() && !end_of_stream_, absl::InfiniteFuture());
      if (exit_code_ >= 0) return exit_code_;
      if (inbox_.tasks.empty()) {
        if (end_of_stream_) return kWorkerExitOk;  // everything received has run
        continue;
      }
      bool cancelled;
      const proto::TaskRequest task = inbox_.PopTask(&cancelled);
      RunTask(task, cancelled);
      if (exit_code_ >= 0) return exit_code_;
      // An actor's constructor asks for its calls to run on several threads.
      if (task.actor_max_concurrency() > 1 && task.actor_key() != 0) {
        return RunConcurrentWorkerLoop(
            fd_, options_, static_cast<int>(task.actor_max_concurrency()),
            WorkerBacklog{std::move(decoder_), std::move(inbox_), std::move(deferred_),
                          next_request_id_, end_of_stream_});
      }
    }
  }

  absl::StatusOr<proto::ApiReply> Call(proto::ApiRequest request, absl::Time deadline,
                                       bool help) override {
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

  void Notify(proto::ApiRequest request) override {
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

  bool InTask() const override { return depth_ > 0; }

 private:
  // With `help`, runs queued tasks while it waits (see help_while_waiting).
  absl::StatusOr<proto::ApiReply> AwaitReply(uint64_t id, absl::Time deadline, bool help) {
    for (;;) {
      if (std::optional<proto::ApiReply> reply = inbox_.TakeReply(id)) return *std::move(reply);
      if (exit_code_ >= 0 || end_of_stream_) {
        return absl::UnavailableError("the driver closed the connection");
      }
      if (help && options_.help_while_waiting && !inbox_.tasks.empty() &&
          depth_ < kMaxNestedTasks) {
        bool cancelled;
        const proto::TaskRequest task = inbox_.PopTask(&cancelled);
        RunTask(task, cancelled);
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
    if (!block && options_.bytes_sent != nullptr &&
        options_.bytes_sent->load(std::memory_order_seq_cst) == bytes_received_) {
      return;  // nothing written to it that it has not read: recv would say EAGAIN
    }
    if (block) {
      // Waits in poll, not in a blocking recv. A thread asleep in recv on a Unix stream
      // socket is woken each time the driver reads what this worker sent (the kernel
      // wakes every sleeper on the socket when its send buffer drains, and recv's wait
      // does not look at why), so it would wake twice per task: once for nothing. poll
      // asks for POLLIN only, and the kernel leaves it asleep for the other wake-ups.
      // Measured: context switches per Submit + Get round trip 4.3 -> 3.0.
      pollfd readable{fd_, POLLIN, 0};
      // An error (EINTR) falls through to the recv below, which then says EAGAIN, and
      // the caller waits again.
      if (poll(&readable, 1, PollTimeoutMs(deadline)) == 0) return;  // the deadline passed
    }
    for (;;) {
      const ssize_t received =
          recv(fd_, decoder_.PrepareAppend(kReadChunkBytes), kReadChunkBytes, MSG_DONTWAIT);
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
      bytes_received_ += static_cast<uint64_t>(received);
      if (absl::Status parsed = inbox_.Read(decoder_); !parsed.ok()) {
        // For the driver's log: the worker's stderr is forwarded, and its tail is quoted
        // in the errors of its tasks.
        LOG(ERROR) << "unidist worker: bad bytes from the driver: " << parsed;
        exit_code_ = kWorkerExitBadFrame;
        return;
      }
      // Fewer bytes than asked for: the socket had no more just now (a stream socket's
      // recv returns what is there). That is as good a look for a cancellation as a
      // recv that says EAGAIN, and saves that system call before every task.
      if (static_cast<size_t>(received) < kReadChunkBytes) return;
    }
  }

  void RunTask(const proto::TaskRequest& task, bool cancelled) {
    ++depth_;
    if (depth_ > 1) {  // nested under a waiting task: tell the driver it has started
      proto::WorkerMessage started;
      started.mutable_started()->set_task_id(task.task_id());
      Send(started).IgnoreError();  // a failure sets exit_code_
    }
    // The outermost task says in shared memory that it has begun, before any of it runs.
    const bool outermost = depth_ == 1 && options_.running_task != nullptr && !cancelled;
    if (outermost) SetRunningTask(0, task.task_id());
    proto::WorkerMessage reply;
    RunTaskInto(task, cancelled, options_, pid_, &reply);
    --depth_;
    SendResult(task, options_, pid_, reply,
               [this](proto::WorkerMessage& message) { return Send(message); });
    // Only now that its result is written: a worker that dies before has not answered it.
    if (outermost) SetRunningTask(task.task_id(), 0);
  }

  // Moves the running-task word from `from` to `to`, unless the driver has taken it to
  // kill this worker (kKillingWorker): then waits for the kill, which is on its way. Any
  // other value means the driver has given this worker up (it saw the socket close and
  // cleared the word, which may name a replacement's task by now): the word is no longer
  // this worker's to write, and the worker goes on to fail its next send and exit.
  void SetRunningTask(uint64_t from, uint64_t to) {
    uint64_t expected = from;
    if (options_.running_task->compare_exchange_strong(expected, to, std::memory_order_acq_rel)) {
      return;
    }
    if (expected != kKillingWorker) return;
    for (;;) pause();
  }

  // Writes one message; a failure to write ends the worker (exit_code_).
  absl::Status Send(proto::WorkerMessage& message) {
    out_.clear();
    // Notifications made between tasks (see Notify), now that a task is in flight.
    if (absl::Status framed =
            FrameWorkerMessages(deferred_, message, waiting_, options_.max_frame_bytes, &out_);
        !framed.ok()) {
      return framed;  // the deferred notifications wait for the next message
    }
    deferred_.clear();
    if (absl::Status written = WriteToDriver(fd_, options_.ring, out_); !written.ok()) {
      exit_code_ = kWorkerExitSocketError;
      return written;
    }
    return absl::OkStatus();
  }

  const int fd_;
  const WorkerLoopOptions& options_;
  FrameDecoder decoder_;
  const int pid_;
  std::string out_;
  DriverInbox inbox_;
  std::vector<proto::ApiRequest> deferred_;  // Notify calls made between tasks
  uint64_t next_request_id_ = 1;
  uint64_t bytes_received_ = 0;  // from the socket, in all: see WorkerLoopOptions::bytes_sent
  int depth_ = 0;                // tasks on the stack
  int waiting_ = 0;              // of those, waiting in Call
  bool end_of_stream_ = false;
  int exit_code_ = -1;
};

// The channel to the driver, for WriteToDriverForTesting.
int g_socket_fd = -1;
ResultRing* g_ring = nullptr;

}  // namespace

absl::Status WriteToDriverForTesting(absl::string_view bytes) {
  if (g_socket_fd < 0) return absl::UnavailableError("not in a worker loop");
  return WriteToDriver(g_socket_fd, g_ring, bytes);
}

int RunWorkerLoop(int socket_fd, const WorkerLoopOptions& options) {
  // Every glog message of the worker goes to its stderr, which the driver forwards line by
  // line tagged "(worker N pid P) ". Without this, a driver that logs to files would leave
  // the worker writing its own files (under the driver's name) and stderr only from ERROR.
  FLAGS_logtostderr = true;
  Worker worker(socket_fd, options);
  SetWorkerConnection(&worker);
  g_socket_fd = socket_fd;
  g_ring = options.ring;
  const int code = worker.Run();
  g_socket_fd = -1;
  g_ring = nullptr;
  SetWorkerConnection(nullptr);
  return code;
}

}  // namespace unidist::process_internal
