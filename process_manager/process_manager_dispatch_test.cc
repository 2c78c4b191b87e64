// Copyright 2026 The unidist-cpp Authors.
//
// ProcessManager with real processes: options, dispatch and scheduling, frames large and
// too large, Cancel, and Shutdown. Failures and replacement are in
// process_manager_failure_test.cc, dedicated workers and output in
// process_manager_dedicated_test.cc.

#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "process_manager/process_manager.h"
#include "process_manager/process_manager_test_util.h"
#include "testing/process_helpers.h"
#include "testing/task_signal.h"

namespace unidist::process_manager_testing {
namespace {

using ::testing::IsEmpty;

TEST_F(ProcessManagerTest, RejectsBadOptions) {
  ProcessManagerOptions options;
  options.num_workers = 0;
  options.execute = &TestExecutor;
  options.on_result = [](proto::TaskResult) {};
  EXPECT_EQ(ProcessManager::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.num_workers = 1;
  options.execute = nullptr;
  EXPECT_EQ(ProcessManager::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ProcessManagerTest, DispatchesRoundRobin) {
  Start(3);
  std::vector<pid_t> expected;
  for (int i = 0; i < 3; ++i) expected.push_back(WorkerPid(i));
  for (uint64_t id = 0; id < 9; ++id) ASSERT_TRUE(manager_->Dispatch(Task(id, "pid")).ok());
  for (uint64_t id = 0; id < 9; ++id) {
    proto::TaskResult result = results_.Wait(id);
    ASSERT_EQ(result.values_size(), 1) << result.DebugString();
    EXPECT_EQ(result.values(0), std::to_string(expected[id % 3])) << "task " << id;
  }
  for (pid_t pid : expected) EXPECT_NE(pid, getpid());
}

TEST_F(ProcessManagerTest, ABusyWorkerHoldsAtMostItsWindowAndOthersTakeTheRest) {
  Start(2, kDefaultMaxFrameBytes, /*max_tasks_per_worker=*/1);
  const pid_t free_worker = WorkerPid(1);
  ASSERT_TRUE(manager_->Dispatch(Task(0, "sleep_ms", "1000")).ok());  // worker 0
  for (uint64_t id = 1; id <= 10; ++id) ASSERT_TRUE(manager_->Dispatch(Task(id, "pid")).ok());
  for (const WorkerState& worker : manager_->Workers()) EXPECT_LE(worker.tasks_in_flight, 1u);
  // While worker 0 sleeps, every quick task runs on worker 1.
  for (uint64_t id = 1; id <= 10; ++id) {
    EXPECT_EQ(results_.Wait(id).values(0), std::to_string(free_worker)) << id;
  }
  EXPECT_FALSE(results_.Wait(0).has_error());
}

TEST_F(ProcessManagerTest, LeastLoadedSendsTheTasksBehindALongOneToTheFreeWorker) {
  ProcessManagerOptions options;
  options.num_workers = 2;
  options.least_loaded = true;  // the window stays at its default of 64
  options.execute = &TestExecutor;
  options.on_result = [this](proto::TaskResult result) { results_.Add(std::move(result)); };
  absl::StatusOr<std::unique_ptr<ProcessManager>> manager = ProcessManager::Start(options);
  ASSERT_TRUE(manager.ok()) << manager.status();
  manager_ = std::move(*manager);
  const pid_t busy_worker = WorkerPid(0);
  ASSERT_TRUE(manager_->Dispatch(Task(0, "sleep_ms", "1000")).ok());  // worker 0
  for (uint64_t id = 1; id <= 20; ++id) ASSERT_TRUE(manager_->Dispatch(Task(id, "pid")).ok());
  for (const WorkerState& worker : manager_->Workers()) EXPECT_LE(worker.tasks_in_flight, 2u);
  // One quick task may have been queued behind the sleep before the other worker was
  // busy; every later one ran on the free worker.
  int behind_the_sleep = 0;
  for (uint64_t id = 1; id <= 20; ++id) {
    if (results_.Wait(id).values(0) == std::to_string(busy_worker)) ++behind_the_sleep;
  }
  EXPECT_LE(behind_the_sleep, 1);
  EXPECT_FALSE(results_.Wait(0).has_error());
}

TEST_F(ProcessManagerTest, ThousandsOfTasksFromSeveralThreads) {
  Start(2);
  constexpr uint64_t kPerThread = 2000;
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 3; ++t) {
    threads.emplace_back([this, t] {
      for (uint64_t i = 0; i < kPerThread; ++i) {
        const uint64_t id = t * kPerThread + i;
        ASSERT_TRUE(manager_->Dispatch(Task(id, "echo", std::to_string(id * 7))).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (uint64_t id = 0; id < 3 * kPerThread; ++id) {
    proto::TaskResult result = results_.Wait(id);
    ASSERT_EQ(result.values_size(), 1);
    EXPECT_EQ(result.values(0), std::to_string(id * 7));
  }
}

TEST_F(ProcessManagerTest, LargeArgumentsAndResultsCrossThePipe) {
  Start(2);
  const std::string large(8 << 20, 'x');
  ASSERT_TRUE(manager_->Dispatch(Task(1, "echo", large)).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "big", std::to_string(16 << 20))).ok());
  EXPECT_EQ(results_.Wait(1).values(0), large);
  EXPECT_EQ(results_.Wait(2).values(0).size(), size_t{16} << 20);
}

TEST_F(ProcessManagerTest, OversizedTaskIsRefusedAndOversizedResultIsAnError) {
  Start(1, /*max_frame_bytes=*/1 << 16);
  EXPECT_EQ(manager_->Dispatch(Task(1, "echo", std::string(1 << 17, 'x'))).code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(manager_->Dispatch(Task(2, "big", std::to_string(1 << 17))).ok());
  proto::TaskResult result = results_.Wait(2);
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  // The worker survives it.
  ASSERT_TRUE(manager_->Dispatch(Task(3, "echo", "ok")).ok());
  EXPECT_EQ(results_.Wait(3).values(0), "ok");
  EXPECT_EQ(manager_->workers_replaced(), 0u);
}

TEST_F(ProcessManagerTest, CancelATaskWaitingInTheDriver) {
  Start(1, kDefaultMaxFrameBytes, /*max_tasks_per_worker=*/1);
  const std::string marker = TempPath();
  ASSERT_TRUE(manager_->Dispatch(Task(1, "sleep_ms", "200")).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "touch", marker)).ok());  // waits: window of 1
  ASSERT_TRUE(manager_->Cancel(2, /*force=*/false).ok());
  EXPECT_EQ(results_.Wait(2).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_FALSE(results_.Wait(1).has_error());
  ASSERT_TRUE(manager_->Dispatch(Task(3, "echo", "after")).ok());
  EXPECT_EQ(results_.Wait(3).values(0), "after");
  EXPECT_NE(access(marker.c_str(), F_OK), 0) << "the cancelled task ran";
  EXPECT_EQ(manager_->Cancel(2, false).code(), absl::StatusCode::kNotFound);
}

TEST_F(ProcessManagerTest, CancelATaskAlreadySentToABusyWorker) {
  Start(1);
  const std::string marker = TempPath();
  ASSERT_TRUE(manager_->Dispatch(Task(1, "sleep_ms", "300")).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "touch", marker)).ok());  // in the worker's queue
  ASSERT_TRUE(manager_->Dispatch(Task(3, "echo", "next")).ok());
  absl::SleepFor(absl::Milliseconds(50));  // let the frames reach the worker
  ASSERT_TRUE(manager_->Cancel(2, /*force=*/false).ok());
  EXPECT_EQ(results_.Wait(2).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_FALSE(results_.Wait(1).has_error());
  EXPECT_EQ(results_.Wait(3).values(0), "next");  // the worker skipped 2, ran 3
  EXPECT_NE(access(marker.c_str(), F_OK), 0) << "the cancelled task ran";
  EXPECT_EQ(manager_->workers_replaced(), 0u);
}

TEST_F(ProcessManagerTest, CancelARunningTaskNeedsForceAndReplacesItsWorker) {
  Start(2);
  ASSERT_TRUE(manager_->Dispatch(Task(1, "sleep_ms", "60000")).ok());
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(manager_->Cancel(1, /*force=*/false).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(manager_->Cancel(1, /*force=*/true).ok());
  proto::TaskResult result = results_.Wait(1);
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_FALSE(result.error().worker_died());
  for (uint64_t id = 2; id < 6; ++id) {
    ASSERT_TRUE(manager_->Dispatch(Task(id, "echo", "ok")).ok());
    EXPECT_EQ(results_.Wait(id).values(0), "ok");
  }
  EXPECT_EQ(results_.size(), 5u);  // exactly one result for the cancelled task
  EXPECT_EQ(manager_->Cancel(99, true).code(), absl::StatusCode::kNotFound);
}

TEST_F(ProcessManagerTest, ShutdownCancelsTasksInFlightPromptly) {
  Start(2);
  for (uint64_t id = 0; id < 6; ++id) {
    ASSERT_TRUE(manager_->Dispatch(Task(id, "sleep_ms", "60000")).ok());
  }
  const absl::Time start = absl::Now();
  manager_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));  // generous: only catches a hang
  ASSERT_EQ(results_.size(), 6u);
  for (uint64_t id = 0; id < 6; ++id) {
    EXPECT_EQ(results_.Wait(id).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  }
  EXPECT_EQ(manager_->Dispatch(Task(9, "pid")).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ProcessManagerTest, ShutdownReapsEveryProcess) {
  Start(4);
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i) pids.push_back(WorkerPid(i));
  manager_->Shutdown();
  EXPECT_THAT(testing::ChildProcesses(), IsEmpty());
  for (pid_t pid : pids) EXPECT_FALSE(testing::ProcessPresent(pid));
}

}  // namespace
}  // namespace unidist::process_manager_testing
