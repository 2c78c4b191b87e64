// Copyright 2026 The unidist-cpp Authors.
//
// ProcessManager with real processes: dedicated workers (the actors' processes), and the
// workers' output reaching the driver's. See process_manager_dispatch_test.cc for the
// pool.

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "process_manager/process_manager.h"
#include "process_manager/process_manager_test_util.h"
#include "unidist/testing/process_helpers.h"
#include "unidist/testing/task_signal.h"

namespace unidist::process_manager_testing {
namespace {

using ::testing::HasSubstr;

TEST_F(ProcessManagerTest, DedicatedWorkerRunsItsTasksInOrderOutsideThePool) {
  Start(2);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_GE(worker->slot, 2);
  for (uint64_t id = 0; id < 200; ++id) {
    ASSERT_TRUE(manager_->DispatchTo(*worker, Task(id, "echo", std::to_string(id))).ok());
  }
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(500, "pid")).ok());
  for (uint64_t id = 0; id < 200; ++id) EXPECT_EQ(results_.Wait(id).values(0), std::to_string(id));
  const std::string pid = results_.Wait(500).values(0);
  for (const WorkerState& pool_worker : manager_->Workers()) {
    EXPECT_NE(std::to_string(pool_worker.pid), pid);
  }
  EXPECT_EQ(manager_->Workers().size(), 2u);  // not part of the pool
}

TEST_F(ProcessManagerTest, ClosedDedicatedWorkerFinishesItsTasksFirst) {
  Start(1);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok());
  // Task 1's sleep makes it likely that the close comes while it runs; both tasks run to
  // the end whichever way that goes.
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(1, "sleep_ms", "100")).ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(2, "echo", "last")).ok());
  manager_->CloseDedicatedWorker(*worker, /*kill=*/false);
  EXPECT_FALSE(results_.Wait(1).has_error());
  EXPECT_EQ(results_.Wait(2).values(0), "last");
  EXPECT_EQ(WaitLost(worker->slot).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(manager_->DispatchTo(*worker, Task(3, "pid")).code(), absl::StatusCode::kCancelled);
  // The slot is used again, under a new generation; the old id stays dead.
  absl::StatusOr<WorkerId> next = manager_->StartDedicatedWorker();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->slot, worker->slot);
  EXPECT_NE(next->generation, worker->generation);
  EXPECT_EQ(manager_->DispatchTo(*worker, Task(4, "pid")).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(manager_->DispatchTo(*next, Task(5, "echo", "new")).ok());
  EXPECT_EQ(results_.Wait(5).values(0), "new");
}

TEST_F(ProcessManagerTest, KilledDedicatedWorkerCancelsItsTasks) {
  Start(1);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok());
  // Whether task 1 has started when the kill comes or not, both are Cancelled.
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(1, "sleep_ms", "60000")).ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(2, "echo", "never")).ok());
  manager_->CloseDedicatedWorker(*worker, /*kill=*/true);
  EXPECT_EQ(results_.Wait(1).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(results_.Wait(2).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(WaitLost(worker->slot).code(), absl::StatusCode::kCancelled);
}

// What an actor's call forked ends when the actor is closed, gracefully too.
TEST_F(ProcessManagerTest, ClosingADedicatedWorkerEndsWhatItsTasksForked) {
  Start(1);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok());
  const std::string pid_file = TempPath();
  KillOnExit child_guard(pid_file);  // only if the test fails
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(1, "fork_sleeper", pid_file)).ok());
  proto::TaskResult result = results_.Wait(1);
  ASSERT_FALSE(result.has_error()) << result.error().message();
  const pid_t child = child_guard.Pid();
  ASSERT_GT(child, 0);
  EXPECT_EQ(result.values(0), std::to_string(child));
  manager_->CloseDedicatedWorker(*worker, /*kill=*/false);
  EXPECT_EQ(WaitLost(worker->slot).code(), absl::StatusCode::kCancelled);
  // Gone and reaped; the bound only turns a hang into a failure.
  EXPECT_TRUE(testing::WaitForProcessGone(child, absl::Seconds(30)));
}

TEST_F(ProcessManagerTest, CrashedDedicatedWorkerIsNotReplaced) {
  Start(1);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(1, "segfault")).ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(2, "echo", "queued")).ok());
  proto::TaskResult crashed = results_.Wait(1);
  EXPECT_EQ(crashed.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_THAT(crashed.error().message(), HasSubstr("died while running 'segfault'"));
  EXPECT_EQ(crashed.error().function(), "segfault");
  EXPECT_THAT(crashed.error().message(), HasSubstr("signal 11"));
  proto::TaskResult queued = results_.Wait(2);
  EXPECT_THAT(queued.error().message(), HasSubstr("died before running 'echo'"));
  absl::Status lost = WaitLost(worker->slot);
  EXPECT_EQ(lost.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_->DispatchTo(*worker, Task(3, "pid")).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_->workers_replaced(), 0u);
}

// A dedicated worker that stopped talking is not reaped at once (this one closed its
// socket and hangs; reap_grace is long). Until its loss is reported, tasks sent to it are
// taken and fail with its death (worker_died), as the ones it held do, so that the caller
// learns of the death one way for all of them (a restarted actor runs them again).
TEST_F(ProcessManagerTest, TasksSentToADedicatedWorkerNotYetReapedFailWithItsDeath) {
  ProcessManagerOptions options = Options(1);
  options.reap_grace = absl::Hours(1);
  StartWith(options);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(500, "pid")).ok());
  const pid_t pid = std::stoi(results_.Wait(500).values(0));
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(1, "close_socket_and_hang")).ok());
  // Until the driver has seen the socket close, Cancel calls task 1 running; then, its
  // worker ending. (Polled: nothing else tells a test that the driver has seen it.)
  const absl::Time give_up = absl::Now() + absl::Minutes(1);
  while (!absl::StrContains(manager_->Cancel(1, /*force=*/false).message(), "ending") &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_THAT(manager_->Cancel(1, /*force=*/false).message(), HasSubstr("ending"));
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(2, "echo", "too late")).ok());
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  proto::TaskResult running = results_.Wait(1);
  EXPECT_TRUE(running.error().worker_died());
  EXPECT_THAT(running.error().message(), HasSubstr("while running 'close_socket_and_hang'"));
  proto::TaskResult late = results_.Wait(2);
  EXPECT_EQ(late.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(late.error().worker_died());
  EXPECT_THAT(late.error().message(), HasSubstr("before running 'echo'"));
  EXPECT_EQ(WaitLost(worker->slot).code(), absl::StatusCode::kUnavailable);
  // Once the loss is reported, tasks are refused.
  EXPECT_EQ(manager_->DispatchTo(*worker, Task(3, "pid")).code(), absl::StatusCode::kUnavailable);
}

TEST_F(ProcessManagerTest, ForceCancelOfAnActorCallIsRefused) {
  Start(1);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok());
  testing::TaskSignal started;
  TaskGate gate;  // never opened: task 1 runs until the worker is killed
  ASSERT_TRUE(
      manager_->DispatchTo(*worker, NotifyingTask(1, "wait_at_gate", gate.path(), started)).ok());
  // Running, not merely queued (a queued call may be cancelled).
  ASSERT_TRUE(started.WaitForNotify(absl::Minutes(1)).ok());
  EXPECT_EQ(manager_->Cancel(1, /*force=*/true).code(), absl::StatusCode::kInvalidArgument);
  manager_->CloseDedicatedWorker(*worker, /*kill=*/true);
  EXPECT_EQ(results_.Wait(1).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
}

// Redirects this process's stdout and stderr to files while alive.
class CapturedOutput {
 public:
  CapturedOutput() {
    for (int fd : {1, 2}) {
      std::fflush(nullptr);
      saved_[fd - 1] = dup(fd);
      char path[] = "/tmp/unidist_captured_XXXXXX";
      files_[fd - 1] = mkstemp(path);
      unlink(path);
      dup2(files_[fd - 1], fd);
    }
  }
  ~CapturedOutput() { Restore(); }
  void Restore() {
    if (saved_[0] < 0) return;
    std::fflush(nullptr);
    for (int fd : {1, 2}) {
      dup2(saved_[fd - 1], fd);
      close(saved_[fd - 1]);
      saved_[fd - 1] = -1;
    }
  }
  // What was written to fd 1 or 2.
  std::string Read(int fd) {
    std::string text;
    char buffer[4096];
    ssize_t n;
    for (off_t offset = 0; (n = pread(files_[fd - 1], buffer, sizeof(buffer), offset)) > 0;
         offset += n) {
      text.append(buffer, n);
    }
    return text;
  }

 private:
  int saved_[2] = {-1, -1};
  int files_[2] = {-1, -1};
};

TEST_F(ProcessManagerTest, WorkerOutputReachesTheDriverTaggedWithTheWorker) {
  CapturedOutput captured;
  Start(2);
  const pid_t pid = WorkerPid(1);
  ASSERT_TRUE(manager_->Dispatch(Task(1, "pid")).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "print", "hello")).ok());
  EXPECT_FALSE(results_.Wait(2).has_error());
  manager_->Shutdown();  // drains what the workers wrote
  captured.Restore();
  const std::string prefix = "(worker 1 pid " + std::to_string(pid) + ") ";
  EXPECT_THAT(captured.Read(1), HasSubstr(prefix + "to stdout: hello\n"));
  EXPECT_THAT(captured.Read(2), HasSubstr(prefix + "to stderr: hello\n"));
}

}  // namespace
}  // namespace unidist::process_manager_testing
