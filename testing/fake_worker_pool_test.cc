// Copyright 2026 The unidist-cpp Authors.

#include "testing/fake_worker_pool.h"

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"

namespace unidist::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

proto::TaskRequest Task(uint64_t id, const std::string& function) {
  proto::TaskRequest task;
  task.set_task_id(id);
  task.set_function(function);
  return task;
}

// A started fake with two pool workers, recording every callback in order.
class FakeWorkerPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WorkerPoolOptions options;
    options.num_workers = 2;
    options.on_result = [this](proto::TaskResult result) {
      absl::MutexLock lock(&mu_);
      events_.push_back(absl::StrCat("result ", result.task_id(), " ",
                                     result.has_error() ? result.error().code() : 0));
      results_.push_back(std::move(result));
    };
    options.on_dedicated_worker_lost = [this](WorkerId worker, absl::Status status) {
      absl::MutexLock lock(&mu_);
      events_.push_back(absl::StrCat("lost ", worker.slot, " ", status.code()));
    };
    options.on_worker_gone = [this](WorkerId worker) {
      absl::MutexLock lock(&mu_);
      events_.push_back(absl::StrCat("gone ", worker.slot, ".", worker.generation));
    };
    UNIDIST_ASSERT_OK(pool_.Start(std::move(options)));
  }

  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  proto::TaskResult last_result() {
    absl::MutexLock lock(&mu_);
    return results_.back();
  }

  FakeWorkerPool pool_;
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
  std::vector<proto::TaskResult> results_ ABSL_GUARDED_BY(mu_);
};

TEST(FakeWorkerPoolStartTest, ChecksOptionsAndStartsOnce) {
  FakeWorkerPool pool;
  EXPECT_THAT(pool.Dispatch(Task(1, "f")), StatusIs(absl::StatusCode::kFailedPrecondition));
  WorkerPoolOptions options;
  EXPECT_THAT(pool.Start(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options.on_result = [](proto::TaskResult) {};
  options.num_workers = 0;
  EXPECT_THAT(pool.Start(options), StatusIs(absl::StatusCode::kInvalidArgument));
  options.num_workers = 1;
  UNIDIST_EXPECT_OK(pool.Start(options));
  EXPECT_THAT(pool.Start(options), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(FakeWorkerPoolTest, HandsOutDispatchesInOrderOrByFunction) {
  UNIDIST_ASSERT_OK(pool_.Dispatch(Task(1, "f")));
  UNIDIST_ASSERT_OK(pool_.Dispatch(Task(2, "g")));
  UNIDIST_ASSERT_OK(pool_.Dispatch(Task(3, "f")));
  absl::StatusOr<FakeTask> g = pool_.NextDispatchOf("g");
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->task_id(), 2u);
  EXPECT_EQ(g->worker.slot, 1);  // round-robin
  absl::StatusOr<FakeTask> first = pool_.NextDispatch();
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->task_id(), 1u);
  std::vector<FakeTask> rest = pool_.TakeDispatches();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].task_id(), 3u);
  EXPECT_THAT(pool_.NextDispatch(absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(pool_.Dispatched().size(), 3u);
  EXPECT_EQ(pool_.InFlight().size(), 3u);
  EXPECT_EQ(pool_.dispatch_calls(), 3u);
}

TEST_F(FakeWorkerPoolTest, NextDispatchWaitsForADispatchFromAnotherThread) {
  std::thread dispatcher([this] { UNIDIST_EXPECT_OK(pool_.Dispatch(Task(7, "late"))); });
  absl::StatusOr<FakeTask> task = pool_.NextDispatchOf("late");
  dispatcher.join();
  ASSERT_THAT(task, IsOk());
  EXPECT_EQ(task->task_id(), 7u);
}

TEST_F(FakeWorkerPoolTest, RefusesWhatTheContractRefuses) {
  UNIDIST_ASSERT_OK(pool_.Dispatch(Task(1, "f")));
  EXPECT_THAT(pool_.Dispatch(Task(1, "f")), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(pool_.DispatchTo(WorkerId{9, 1}, Task(2, "f")),
              StatusIs(absl::StatusCode::kNotFound));
  pool_.Shutdown();
  EXPECT_THAT(pool_.Dispatch(Task(3, "f")), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(pool_.StartDedicatedWorker(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(pool_.stopping());
}

TEST_F(FakeWorkerPoolTest, ReportsEachTaskOnce) {
  UNIDIST_ASSERT_OK(pool_.Dispatch(Task(1, "f")));
  UNIDIST_ASSERT_OK(pool_.Complete(1, {"value"}));
  EXPECT_THAT(pool_.Complete(1, {"again"}), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(pool_.Cancel(1, /*force=*/true), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(events(), ElementsAre("result 1 0"));
  EXPECT_THAT(last_result().values(), ElementsAre("value"));
  EXPECT_EQ(pool_.results_reported(), 1u);
}

TEST_F(FakeWorkerPoolTest, FailAndWorkerDied) {
  UNIDIST_ASSERT_OK(pool_.Dispatch(Task(1, "f")));
  UNIDIST_ASSERT_OK(pool_.Dispatch(Task(2, "g")));
  EXPECT_THAT(pool_.Fail(1, absl::OkStatus()), StatusIs(absl::StatusCode::kInvalidArgument));
  UNIDIST_ASSERT_OK(pool_.Fail(1, absl::InternalError("boom")));
  proto::TaskResult failed = last_result();
  EXPECT_EQ(failed.error().code(), static_cast<int>(absl::StatusCode::kInternal));
  EXPECT_EQ(failed.error().message(), "boom");
  EXPECT_EQ(failed.error().function(), "f");
  EXPECT_FALSE(failed.error().worker_died());

  UNIDIST_ASSERT_OK(pool_.WorkerDied(2));
  proto::TaskResult died = last_result();
  EXPECT_EQ(died.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(died.error().worker_died());
  EXPECT_EQ(pool_.workers_replaced(), 1u);
  EXPECT_THAT(events(), ElementsAre("result 1 13", "result 2 14", "gone 1.1"));
}

TEST_F(FakeWorkerPoolTest, CancelNeedsForceOnceStarted) {
  UNIDIST_ASSERT_OK(pool_.Dispatch(Task(1, "queued")));
  UNIDIST_ASSERT_OK(pool_.Dispatch(Task(2, "running")));
  UNIDIST_ASSERT_OK(pool_.MarkStarted(2));
  UNIDIST_EXPECT_OK(pool_.Cancel(1, /*force=*/false));
  EXPECT_THAT(pool_.Cancel(2, /*force=*/false), StatusIs(absl::StatusCode::kFailedPrecondition));
  UNIDIST_EXPECT_OK(pool_.Cancel(2, /*force=*/true));
  EXPECT_THAT(events(), ElementsAre("result 1 1", "result 2 1", "gone 1.1"));
  EXPECT_EQ(pool_.cancel_calls(), 3u);
  EXPECT_THAT(pool_.InFlight(), IsEmpty());
}

TEST_F(FakeWorkerPoolTest, DedicatedWorkerRunsInOrder) {
  absl::StatusOr<WorkerId> worker = pool_.StartDedicatedWorker();
  ASSERT_THAT(worker, IsOk());
  EXPECT_EQ(worker->slot, 2);  // after the pool's
  UNIDIST_ASSERT_OK(pool_.DispatchTo(*worker, Task(1, "a")));
  UNIDIST_ASSERT_OK(pool_.DispatchTo(*worker, Task(2, "b")));
  EXPECT_THAT(pool_.MarkStarted(2), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(pool_.Complete(2, {"x"}), StatusIs(absl::StatusCode::kFailedPrecondition));
  UNIDIST_ASSERT_OK(pool_.MarkStarted(1));
  EXPECT_THAT(pool_.Cancel(1, /*force=*/true), StatusIs(absl::StatusCode::kInvalidArgument));
  UNIDIST_ASSERT_OK(pool_.Complete(1, {"x"}));
  UNIDIST_ASSERT_OK(pool_.Complete(2, {"y"}));
  EXPECT_THAT(events(), ElementsAre("result 1 0", "result 2 0"));
}

TEST_F(FakeWorkerPoolTest, LostDedicatedWorkerFailsItsTasks) {
  absl::StatusOr<WorkerId> worker = pool_.StartDedicatedWorker();
  ASSERT_THAT(worker, IsOk());
  UNIDIST_ASSERT_OK(pool_.DispatchTo(*worker, Task(1, "a")));
  UNIDIST_ASSERT_OK(pool_.DispatchTo(*worker, Task(2, "b")));
  UNIDIST_ASSERT_OK(pool_.LoseDedicatedWorker(*worker));
  EXPECT_THAT(events(), ElementsAre("lost 2 14", "result 1 14", "result 2 14"));
  EXPECT_TRUE(last_result().error().worker_died());
  EXPECT_THAT(pool_.DispatchTo(*worker, Task(3, "c")),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("died")));
  EXPECT_THAT(pool_.LoseDedicatedWorker(*worker), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(pool_.dedicated_workers_lost(), 1u);
}

TEST_F(FakeWorkerPoolTest, ClosedDedicatedWorkerEndsAfterItsTasks) {
  absl::StatusOr<WorkerId> worker = pool_.StartDedicatedWorker();
  ASSERT_THAT(worker, IsOk());
  UNIDIST_ASSERT_OK(pool_.DispatchTo(*worker, Task(1, "a")));
  pool_.CloseDedicatedWorker(*worker, /*kill=*/false);
  EXPECT_THAT(pool_.DispatchTo(*worker, Task(2, "b")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(events(), IsEmpty());
  UNIDIST_ASSERT_OK(pool_.Complete(1, {"x"}));
  EXPECT_THAT(events(), ElementsAre("result 1 0", "lost 2 1"));
}

TEST_F(FakeWorkerPoolTest, KilledDedicatedWorkerCancelsItsTasks) {
  absl::StatusOr<WorkerId> worker = pool_.StartDedicatedWorker();
  ASSERT_THAT(worker, IsOk());
  UNIDIST_ASSERT_OK(pool_.DispatchTo(*worker, Task(1, "a")));
  pool_.CloseDedicatedWorker(*worker, /*kill=*/true);
  pool_.CloseDedicatedWorker(*worker, /*kill=*/true);  // idempotent
  EXPECT_THAT(events(), ElementsAre("lost 2 1", "result 1 1"));
  EXPECT_EQ(pool_.close_calls(), 2u);
}

TEST_F(FakeWorkerPoolTest, ShutdownCancelsEverythingOnce) {
  UNIDIST_ASSERT_OK(pool_.Dispatch(Task(1, "f")));
  absl::StatusOr<WorkerId> worker = pool_.StartDedicatedWorker();
  ASSERT_THAT(worker, IsOk());
  UNIDIST_ASSERT_OK(pool_.DispatchTo(*worker, Task(2, "a")));
  pool_.Shutdown();
  pool_.Shutdown();
  EXPECT_THAT(events(), ElementsAre("result 1 1", "lost 2 1", "result 2 1"));
  EXPECT_EQ(pool_.shutdown_calls(), 2u);
}

TEST_F(FakeWorkerPoolTest, CallbacksMayCallThePool) {
  // on_result runs without the fake's lock: a retry from inside it must not deadlock.
  FakeWorkerPool pool;
  WorkerPoolOptions options;
  options.on_result = [&pool](proto::TaskResult result) {
    if (result.error().worker_died()) {
      UNIDIST_EXPECT_OK(pool.Dispatch(Task(result.task_id(), "again")));
    }
  };
  UNIDIST_ASSERT_OK(pool.Start(std::move(options)));
  UNIDIST_ASSERT_OK(pool.Dispatch(Task(1, "f")));
  UNIDIST_ASSERT_OK(pool.WorkerDied(1));
  absl::StatusOr<FakeTask> again = pool.NextDispatchOf("again");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->task_id(), 1u);
}

TEST(FakeBackendTest, StartsTheFakeOnceAndDetachesIt) {
  auto fake = std::make_shared<FakeWorkerPool>();
  BackendDescription backend = FakeBackend(fake);
  EXPECT_EQ(backend.name, "fake");
  int results = 0;
  WorkerPoolOptions options;
  options.on_result = [&results](proto::TaskResult) { ++results; };
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool = backend.start_pool(options);
  ASSERT_THAT(pool, IsOk());
  EXPECT_THAT(backend.start_pool(options), StatusIs(absl::StatusCode::kFailedPrecondition));
  UNIDIST_ASSERT_OK((*pool)->Dispatch(Task(1, "f")));
  EXPECT_EQ(fake->InFlight().size(), 1u);
  pool->reset();  // the runtime lets go
  EXPECT_THAT(fake->Complete(1, {"x"}), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(results, 0);
  EXPECT_EQ(fake->dispatch_calls(), 1u);  // still readable
}

}  // namespace
}  // namespace unidist::testing
