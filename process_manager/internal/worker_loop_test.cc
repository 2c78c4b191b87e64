// Copyright 2026 The unidist-cpp Authors.
//
// RunWorkerLoop in a real child process, against a fake driver: the test holds the
// driver's end of the worker's socket and writes the frames itself, so that it decides
// exactly when each byte is sent and read.

#include "process_manager/internal/worker_loop.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "gtest/gtest.h"
#include "unidist/testing/process_helpers.h"

namespace unidist::process_internal {
namespace {

// A worker process serving one end of a socket pair; the test is its driver. Ends the
// worker (closing its socket, then SIGKILL if it has not exited) when destroyed, also
// when the test fails.
class FakeDriver {
 public:
  FakeDriver() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      ADD_FAILURE() << "socketpair failed";
      return;
    }
    worker_ = fork();
    if (worker_ == 0) {
      close(fds[0]);
      WorkerLoopOptions options;
      options.max_frame_bytes = kDefaultMaxFrameBytes;
      options.execute = [](const proto::TaskRequest& task, proto::TaskResult* result) {
        result->add_values(task.function());
      };
      _exit(RunWorkerLoop(fds[1], options));
    }
    close(fds[1]);
    fd_ = fds[0];
    if (worker_ < 0) ADD_FAILURE() << "fork failed";
  }

  ~FakeDriver() {
    if (fd_ >= 0) close(fd_);  // the worker exits at end of stream
    if (worker_ > 0) {
      if (!testing::WaitForProcessState(worker_, 'Z', absl::Seconds(30))) kill(worker_, SIGKILL);
      waitpid(worker_, nullptr, 0);
    }
  }

  pid_t worker() const { return worker_; }

  bool SendTask(uint64_t task_id, const std::string& function) {
    proto::TaskRequest task;
    task.set_task_id(task_id);
    task.set_function(function);
    task.add_result_ids(1);
    task.add_result_ids(task_id);  // one result id: two halves
    std::string frame;
    if (!AppendFrameOfField(proto::DriverMessage::kTaskFieldNumber, task, kDefaultMaxFrameBytes,
                            &frame)
             .ok()) {
      return false;
    }
    return send(fd_, frame.data(), frame.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(frame.size());
  }

  // Waits until the worker has written something, without reading it.
  bool WaitForBytes() {
    pollfd readable{fd_, POLLIN, 0};
    return poll(&readable, 1, 60'000) == 1;
  }

  // Reads the worker's next message (waiting for it).
  absl::StatusOr<proto::WorkerMessage> ReadMessage() {
    for (;;) {
      absl::StatusOr<std::optional<absl::string_view>> payload = decoder_.Next();
      if (!payload.ok()) return payload.status();
      if (payload->has_value()) {
        proto::WorkerMessage message;
        if (absl::Status parsed = ParseFramePayload(**payload, &message); !parsed.ok()) {
          return parsed;
        }
        return message;
      }
      const ssize_t got = recv(fd_, decoder_.PrepareAppend(4096), 4096, 0);
      if (got <= 0) return absl::UnavailableError("the worker closed its socket");
      decoder_.Commit(static_cast<size_t>(got));
    }
  }

 private:
  pid_t worker_ = -1;
  int fd_ = -1;
  FrameDecoder decoder_;
};

TEST(WorkerLoopTest, AnIdleWorkerIsWokenByItsNextTaskAloneNotByTheDriverReading) {
  // A worker waiting for its next task sleeps until the task arrives. The driver reading
  // the worker's last result must not wake it: the kernel wakes every thread asleep on a
  // Unix stream socket when its send buffer drains, and a thread asleep in recv would
  // wake for nothing (see Receive in worker_loop.cc). Each result here is read only once
  // the worker is asleep again, so each task would cost two sleeps instead of one.
  FakeDriver driver;
  ASSERT_GT(driver.worker(), 0);
  constexpr int kTasks = 50;
  int64_t sleeps = 0;
  for (uint64_t id = 1; id <= kTasks; ++id) {
    ASSERT_TRUE(driver.SendTask(id, "f")) << id;
    ASSERT_TRUE(driver.WaitForBytes()) << id;
    // The result is written; the worker goes back to wait for the next task.
    ASSERT_TRUE(testing::WaitForProcessState(driver.worker(), 'S', absl::Seconds(60))) << id;
    const int64_t before = testing::VoluntaryContextSwitches(driver.worker());
    ASSERT_GE(before, 0);
    absl::StatusOr<proto::WorkerMessage> message = driver.ReadMessage();
    ASSERT_TRUE(message.ok()) << message.status();
    ASSERT_TRUE(message->has_result()) << message->DebugString();
    EXPECT_EQ(message->result().task_id(), id);
    // Had the read woken it, it is back asleep (or on its way) with one more switch.
    ASSERT_TRUE(testing::WaitForProcessState(driver.worker(), 'S', absl::Seconds(60))) << id;
    sleeps += testing::VoluntaryContextSwitches(driver.worker()) - before;
  }
  EXPECT_EQ(sleeps, 0) << "the worker woke " << sleeps << " times for " << kTasks
                       << " reads of its results";
}

}  // namespace
}  // namespace unidist::process_internal
