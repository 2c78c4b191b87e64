// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/concurrent_worker.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "glog/logging.h"
#include "process_manager/internal/os_util.h"
#include "process_manager/internal/worker_task.h"

namespace unidist::process_internal {
namespace {

constexpr size_t kReadChunkBytes = 64 * 1024;

// Whether this thread runs a task (one ConcurrentWorker per process at most).
thread_local bool t_in_task = false;

class ConcurrentWorker final : public WorkerConnection {
 public:
  ConcurrentWorker(int fd, const WorkerLoopOptions& options, WorkerBacklog backlog)
      : fd_(fd),
        options_(options),
        pid_(getpid()),
        decoder_(std::move(backlog.decoder)),
        deferred_(std::move(backlog.deferred)),
        inbox_(std::move(backlog.inbox)),
        next_request_id_(backlog.next_request_id),
        end_of_stream_(backlog.end_of_stream) {}

  int Run(int threads) {
    std::vector<std::thread> executors;
    for (int i = 0; i < threads; ++i) {
      try {
        executors.emplace_back([this] { Execute(); });
      } catch (const std::system_error& e) {
        // Fewer threads only lower the concurrency; none would leave the calls unrun.
        LOG(ERROR) << "unidist worker: could not start thread " << i + 1 << " of " << threads
                   << " for the actor's calls: " << e.what();
        break;
      }
    }
    if (executors.empty()) return kWorkerExitNoThread;
    Read();
    for (std::thread& executor : executors) executor.join();
    absl::MutexLock lock(&mu_);
    return exit_code_ >= 0 ? exit_code_ : kWorkerExitOk;
  }

  bool InTask() const override { return t_in_task; }

  absl::StatusOr<proto::ApiReply> Call(proto::ApiRequest request, absl::Time deadline,
                                       bool /*help*/) override {
    uint64_t id;
    {
      absl::MutexLock lock(&mu_);
      if (exit_code_ >= 0) return absl::UnavailableError("the driver is gone");
      id = next_request_id_++;
    }
    request.set_request_id(id);
    proto::WorkerMessage message;
    *message.mutable_api_request() = std::move(request);
    waiting_.fetch_add(1, std::memory_order_relaxed);
    Send(message).IgnoreError();  // a failure sets exit_code_, which the wait reports
    absl::StatusOr<proto::ApiReply> reply = AwaitReply(id, deadline);
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    return reply;
  }

  void Notify(proto::ApiRequest request) override {
    if (!t_in_task) {
      // Only a thread with a task in flight may write (the idle rule, process_manager.h):
      // this goes with the next message any thread sends.
      absl::MutexLock lock(&send_mu_);
      deferred_.push_back(std::move(request));
      return;
    }
    proto::WorkerMessage message;
    *message.mutable_api_request() = std::move(request);
    Send(message).IgnoreError();  // nothing to do if the driver is gone
  }

 private:
  // The loop's own thread: reads until end of stream or a failure.
  void Read() {
    for (;;) {
      pollfd readable{fd_, POLLIN, 0};
      if (poll(&readable, 1, -1) < 0 && errno != EINTR) {
        End(kWorkerExitSocketError);
        return;
      }
      ReadAvailable();
      absl::MutexLock lock(&mu_);
      if (end_of_stream_ || exit_code_ >= 0) return;
    }
  }

  // Reads and files what has arrived, without waiting. The reading thread calls it when
  // the socket is readable, and each executor thread before it takes a task, so that a
  // cancellation that arrived before the task starts is seen (as in the one-thread loop).
  void ReadAvailable() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock read_lock(&read_mu_);
    for (;;) {
      const ssize_t received =
          recv(fd_, decoder_.PrepareAppend(kReadChunkBytes), kReadChunkBytes, MSG_DONTWAIT);
      if (received == 0) {
        End(/*exit_code=*/-1);
        return;
      }
      if (received < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) End(kWorkerExitSocketError);
        return;
      }
      decoder_.Commit(static_cast<size_t>(received));
      absl::Status parsed;
      {
        absl::MutexLock lock(&mu_);
        if (exit_code_ >= 0) return;  // a write failed (and shut this socket's reading)
        const size_t tasks = inbox_.tasks.size();
        const size_t replies = inbox_.replies.size();
        parsed = inbox_.Read(decoder_);
        if (inbox_.tasks.size() > tasks) work_.SignalAll();
        if (inbox_.replies.size() > replies) replied_.SignalAll();
      }
      if (!parsed.ok()) {
        LOG(ERROR) << "unidist worker: bad bytes from the driver: " << parsed;
        End(kWorkerExitBadFrame);
        return;
      }
    }
  }

  // No more messages will come: with `exit_code` (>= 0) because of a failure, after which
  // queued tasks do not run; with -1 at end of stream, after which they do.
  void End(int exit_code) {
    absl::MutexLock lock(&mu_);
    if (exit_code >= 0 && exit_code_ < 0) exit_code_ = exit_code;
    end_of_stream_ = true;
    work_.SignalAll();
    replied_.SignalAll();
  }

  // Each executor thread.
  void Execute() {
    for (;;) {
      ReadAvailable();
      proto::TaskRequest task;
      bool cancelled;
      {
        absl::MutexLock lock(&mu_);
        while (inbox_.tasks.empty() && !end_of_stream_ && exit_code_ < 0) work_.Wait(&mu_);
        if (exit_code_ >= 0 || inbox_.tasks.empty()) return;  // failed, or all has run
        task = inbox_.PopTask(&cancelled);
      }
      RunTask(task, cancelled);
    }
  }

  void RunTask(const proto::TaskRequest& task, bool cancelled) {
    t_in_task = true;
    if (!cancelled) {
      proto::WorkerMessage started;
      started.mutable_started()->set_task_id(task.task_id());
      Send(started).IgnoreError();  // a failure sets exit_code_
    }
    proto::WorkerMessage reply;
    RunTaskInto(task, cancelled, options_, pid_, &reply);
    SendResult(task, options_, pid_, reply,
               [this](proto::WorkerMessage& message) { return Send(message); });
    t_in_task = false;
  }

  absl::StatusOr<proto::ApiReply> AwaitReply(uint64_t id, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    for (;;) {
      if (std::optional<proto::ApiReply> reply = inbox_.TakeReply(id)) return *std::move(reply);
      if (exit_code_ >= 0 || end_of_stream_) {
        return absl::UnavailableError("the driver closed the connection");
      }
      if (replied_.WaitWithDeadline(&mu_, deadline) && absl::Now() >= deadline) {
        return absl::DeadlineExceededError("no answer from the driver before the deadline");
      }
    }
  }

  // Writes one message whole (with the notifications deferred so far); a failure to write
  // ends the worker.
  absl::Status Send(proto::WorkerMessage& message) {
    {
      absl::MutexLock lock(&send_mu_);
      out_.clear();
      absl::Status framed =
          FrameWorkerMessages(deferred_, message, waiting_.load(std::memory_order_relaxed),
                              options_.max_frame_bytes, &out_);
      if (!framed.ok()) return framed;  // the deferred notifications wait for the next one
      deferred_.clear();
      if (WriteToDriver(fd_, options_.ring, out_).ok()) return absl::OkStatus();
    }
    // Wakes the reading thread, whose recv then returns end of stream.
    shutdown(fd_, SHUT_RD);
    End(kWorkerExitSocketError);
    return absl::UnavailableError("the driver is gone");
  }

  const int fd_;
  const WorkerLoopOptions& options_;
  const int pid_;
  absl::Mutex read_mu_;  // taken before mu_, never after
  FrameDecoder decoder_ ABSL_GUARDED_BY(read_mu_);
  std::atomic<int> waiting_{0};  // tasks waiting in Call

  absl::Mutex send_mu_;
  std::string out_ ABSL_GUARDED_BY(send_mu_);
  std::vector<proto::ApiRequest> deferred_ ABSL_GUARDED_BY(send_mu_);

  absl::Mutex mu_;
  absl::CondVar work_;     // a task was queued, or the stream ended
  absl::CondVar replied_;  // a reply arrived, or the stream ended
  DriverInbox inbox_ ABSL_GUARDED_BY(mu_);
  uint64_t next_request_id_ ABSL_GUARDED_BY(mu_);
  bool end_of_stream_ ABSL_GUARDED_BY(mu_);
  int exit_code_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace

int RunConcurrentWorkerLoop(int socket_fd, const WorkerLoopOptions& options, int threads,
                            WorkerBacklog backlog) {
  ConcurrentWorker worker(socket_fd, options, std::move(backlog));
  SetWorkerConnection(&worker);
  const int code = worker.Run(threads);
  SetWorkerConnection(nullptr);
  return code;
}

}  // namespace unidist::process_internal
