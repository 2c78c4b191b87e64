// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/sequential_pool.h"

#include <unistd.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"

namespace unidist {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::unidist::testing::IsOk;
using ::unidist::testing::StatusIs;

proto::TaskRequest Task(uint64_t id, const std::string& function, std::string arg = "") {
  proto::TaskRequest task;
  task.set_task_id(id);
  task.set_function(function);
  task.add_args()->set_value(std::move(arg));
  task.add_result_ids(1);  // one result id: its origin, then its sequence
  task.add_result_ids(id);
  return task;
}

// A pool whose tasks are run by `on_execute` (set per test), recording every result, every
// lost dedicated worker and every dropped actor, in the order they happen.
class SequentialPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkerPoolOptions options;
    options.num_workers = 3;
    options.max_frame_bytes = 4096;
    options.execute = [this](const proto::TaskRequest& task, proto::TaskResult* result) {
      events_.push_back("run " + task.function());
      on_execute(task, result);
    };
    options.on_result = [this](proto::TaskResult result) {
      events_.push_back(absl::StrCat("result ", result.task_id()));
      results_.push_back(std::move(result));
    };
    options.on_dedicated_worker_lost = [this](WorkerId worker, absl::Status status) {
      events_.push_back(absl::StrCat("lost ", worker.slot));
      lost_.push_back(std::move(status));
    };
    options.drop_actor = [this](uint64_t key) {
      events_.push_back("drop");
      dropped_.push_back(key);
    };
    absl::StatusOr<std::unique_ptr<SequentialPool>> pool = SequentialPool::Start(options);
    ASSERT_THAT(pool, IsOk());
    pool_ = std::move(*pool);
  }

  // Echoes the argument; "fail" returns an error.
  std::function<void(const proto::TaskRequest&, proto::TaskResult*)> on_execute =
      [](const proto::TaskRequest& task, proto::TaskResult* result) {
        if (task.function() == "fail") {
          result->mutable_error()->set_code(static_cast<int>(absl::StatusCode::kDataLoss));
          result->mutable_error()->set_message("failed on purpose");
          result->add_values("dropped");  // a worker's error carries no values
          return;
        }
        result->add_values(task.args(0).value());
      };

  std::vector<std::string> events_;
  std::vector<proto::TaskResult> results_;
  std::vector<absl::Status> lost_;
  std::vector<uint64_t> dropped_;
  // Last, so that it goes first: its destructor shuts down, which reports to the above.
  std::unique_ptr<SequentialPool> pool_;
};

TEST(SequentialPoolStartTest, NeedsExecuteOnResultAndAWorker) {
  WorkerPoolOptions options;
  EXPECT_THAT(SequentialPool::Start(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options.execute = [](const proto::TaskRequest&, proto::TaskResult*) {};
  options.on_result = [](proto::TaskResult) {};
  options.num_workers = 0;
  EXPECT_THAT(SequentialPool::Start(options), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SequentialPoolTest, DispatchRunsTheTaskAndReportsItBeforeReturning) {
  UNIDIST_ASSERT_OK(pool_->Dispatch(Task(7, "echo", "hello")));
  EXPECT_THAT(events_, ElementsAre("run echo", "result 7"));
  ASSERT_THAT(results_, SizeIs(1));
  EXPECT_FALSE(results_[0].has_error());
  EXPECT_THAT(results_[0].values(), ElementsAre("hello"));
}

TEST_F(SequentialPoolTest, ErrorsNameTheFunctionAndThisProcess) {
  UNIDIST_ASSERT_OK(pool_->Dispatch(Task(1, "fail")));
  ASSERT_THAT(results_, SizeIs(1));
  const proto::TaskResult& result = results_[0];
  EXPECT_EQ(result.values_size(), 0);
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kDataLoss));
  EXPECT_EQ(result.error().function(), "fail");
  EXPECT_EQ(result.error().worker_index(), 0);
  EXPECT_EQ(result.error().worker_pid(), getpid());
  EXPECT_FALSE(result.error().worker_died());
}

TEST_F(SequentialPoolTest, TasksAndResultsLargerThanAFrameAreRefused) {
  EXPECT_THAT(pool_->Dispatch(Task(1, "echo", std::string(5000, 'x'))),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("task 'echo' is too large to send")));
  EXPECT_THAT(events_, ::testing::IsEmpty());  // refused tasks are not reported
  on_execute = [](const proto::TaskRequest&, proto::TaskResult* result) {
    result->add_values(std::string(5000, 'y'));
  };
  UNIDIST_ASSERT_OK(pool_->Dispatch(Task(2, "big")));
  ASSERT_THAT(results_, SizeIs(1));
  EXPECT_EQ(results_[0].values_size(), 0);
  EXPECT_EQ(results_[0].error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(results_[0].error().message(), HasSubstr("larger than the maximum frame size"));
}

TEST_F(SequentialPoolTest, TasksDispatchTasksFromInsideDeeply) {
  // Each task dispatches the next one before it returns, 500 deep: no lock is held
  // while a task runs, and the innermost result is reported first.
  on_execute = [this](const proto::TaskRequest& task, proto::TaskResult* result) {
    if (task.task_id() < 500) {
      EXPECT_THAT(pool_->Dispatch(Task(task.task_id() + 1, "nest")), IsOk());
      EXPECT_EQ(pool_->Workers()[0].tasks_in_flight, task.task_id());
    }
    result->add_values("ok");
  };
  UNIDIST_ASSERT_OK(pool_->Dispatch(Task(1, "nest")));
  ASSERT_THAT(results_, SizeIs(500));
  EXPECT_EQ(results_.front().task_id(), 500u);
  EXPECT_EQ(results_.back().task_id(), 1u);
  EXPECT_EQ(pool_->Workers()[0].tasks_in_flight, 0u);
}

TEST_F(SequentialPoolTest, ADedicatedWorkerRunsItsTasksOneAtATimeInOrder) {
  absl::StatusOr<WorkerId> worker = pool_->StartDedicatedWorker();
  ASSERT_THAT(worker, IsOk());
  EXPECT_GE(worker->slot, pool_->num_workers());
  // The first task sends two more to its own worker: they run after it, not inside it.
  on_execute = [&](const proto::TaskRequest& task, proto::TaskResult* result) {
    if (task.function() == "first") {
      EXPECT_THAT(pool_->DispatchTo(*worker, Task(2, "second")), IsOk());
      EXPECT_THAT(pool_->DispatchTo(*worker, Task(3, "third")), IsOk());
      events_.push_back("first returns");
    }
    result->add_values("ok");
  };
  UNIDIST_ASSERT_OK(pool_->DispatchTo(*worker, Task(1, "first")));
  EXPECT_THAT(events_, ElementsAre("run first", "first returns", "result 1", "run second",
                                   "result 2", "run third", "result 3"));
  EXPECT_THAT(results_[0].values(), ElementsAre("ok"));
}

TEST_F(SequentialPoolTest, ClosingAnIdleWorkerDropsItsActorAtOnce) {
  absl::StatusOr<WorkerId> worker = pool_->StartDedicatedWorker();
  ASSERT_THAT(worker, IsOk());
  UNIDIST_ASSERT_OK(pool_->DispatchTo(*worker, Task(1, "echo")));
  pool_->CloseDedicatedWorker(*worker, /*kill=*/false);
  pool_->CloseDedicatedWorker(*worker, /*kill=*/false);  // idempotent
  EXPECT_THAT(events_,
              ElementsAre("run echo", "result 1", "drop", absl::StrCat("lost ", worker->slot)));
  EXPECT_THAT(dropped_, ElementsAre(ActorKey(*worker)));
  EXPECT_THAT(lost_, ElementsAre(StatusIs(absl::StatusCode::kCancelled, HasSubstr("closed"))));
  EXPECT_THAT(pool_->DispatchTo(*worker, Task(2, "echo")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // The slot is reused with a new generation, so the old id stays dead.
  absl::StatusOr<WorkerId> next = pool_->StartDedicatedWorker();
  ASSERT_THAT(next, IsOk());
  EXPECT_EQ(next->slot, worker->slot);
  EXPECT_NE(next->generation, worker->generation);
  EXPECT_NE(ActorKey(*next), ActorKey(*worker));
  EXPECT_THAT(pool_->DispatchTo(*worker, Task(3, "echo")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(SequentialPoolTest, KillFromInsideARunningTaskCancelsItAndTheQueueOnce) {
  absl::StatusOr<WorkerId> worker = pool_->StartDedicatedWorker();
  ASSERT_THAT(worker, IsOk());
  on_execute = [&](const proto::TaskRequest& task, proto::TaskResult* result) {
    if (task.function() == "first") {
      EXPECT_THAT(pool_->DispatchTo(*worker, Task(2, "queued")), IsOk());
      // A queued task can be cancelled; the running one cannot.
      EXPECT_THAT(pool_->Cancel(1, /*force=*/false),
                  StatusIs(absl::StatusCode::kFailedPrecondition));
      EXPECT_THAT(pool_->Cancel(1, /*force=*/true), StatusIs(absl::StatusCode::kInvalidArgument));
      EXPECT_THAT(pool_->DispatchTo(*worker, Task(3, "queued")), IsOk());
      UNIDIST_EXPECT_OK(pool_->Cancel(3, /*force=*/false));
      pool_->CloseDedicatedWorker(*worker, /*kill=*/true);
      events_.push_back("first returns");
    }
    result->add_values("ok");
  };
  UNIDIST_ASSERT_OK(pool_->DispatchTo(*worker, Task(1, "first")));
  // 3 cancelled, then 1 (running) and 2 (queued) cancelled by the kill; the actor is
  // dropped only once the running task has returned, and its own result is not reported.
  EXPECT_THAT(events_, ElementsAre("run first", "result 3", "result 1", "result 2", "first returns",
                                   "drop", absl::StrCat("lost ", worker->slot)));
  for (const proto::TaskResult& result : results_) {
    EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  }
  EXPECT_THAT(lost_, ElementsAre(StatusIs(absl::StatusCode::kCancelled, HasSubstr("killed"))));
}

TEST_F(SequentialPoolTest, CancelOfARunningOrFinishedTask) {
  on_execute = [this](const proto::TaskRequest&, proto::TaskResult* result) {
    EXPECT_THAT(pool_->Cancel(1, /*force=*/false),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("running")));
    EXPECT_THAT(pool_->Cancel(1, /*force=*/true),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("running")));
    result->add_values("ok");
  };
  UNIDIST_ASSERT_OK(pool_->Dispatch(Task(1, "echo")));
  EXPECT_THAT(pool_->Cancel(1, /*force=*/true), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(results_, SizeIs(1));
}

TEST_F(SequentialPoolTest, ShutdownReportsRunningTasksAndEndsDedicatedWorkers) {
  absl::StatusOr<WorkerId> idle = pool_->StartDedicatedWorker();
  ASSERT_THAT(idle, IsOk());
  on_execute = [this](const proto::TaskRequest& task, proto::TaskResult* result) {
    if (task.function() == "shuts down") {
      pool_->Shutdown();  // a pool task still running is reported as Cancelled now
      events_.push_back("shut down");
      EXPECT_THAT(pool_->Dispatch(Task(9, "echo")),
                  StatusIs(absl::StatusCode::kFailedPrecondition));
    }
    result->add_values("ok");
  };
  UNIDIST_ASSERT_OK(pool_->Dispatch(Task(1, "shuts down")));
  EXPECT_THAT(events_, ElementsAre("run shuts down", "result 1", "drop",
                                   absl::StrCat("lost ", idle->slot), "shut down"));
  ASSERT_THAT(results_, SizeIs(1));
  EXPECT_EQ(results_[0].error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_THAT(pool_->StartDedicatedWorker(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(pool_->stopping());
  pool_->Shutdown();  // idempotent
}

TEST_F(SequentialPoolTest, WorkersAreAllThisProcess) {
  std::vector<WorkerState> workers = pool_->Workers();
  ASSERT_THAT(workers, SizeIs(3));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(workers[i].index, i);
    EXPECT_EQ(workers[i].pid, getpid());
    EXPECT_TRUE(workers[i].alive);
  }
  EXPECT_EQ(pool_->workers_replaced(), 0u);
  EXPECT_THAT(pool_->ReplyToWorker(WorkerId{0, 0}, proto::ApiReply()),
              StatusIs(absl::StatusCode::kNotFound));
  pool_->Shutdown();
  EXPECT_FALSE(pool_->Workers()[0].alive);
}

}  // namespace
}  // namespace unidist
