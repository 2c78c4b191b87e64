// Copyright 2026 The unidist-cpp Authors.
//
// The driver's API (internal/driver_client.cc) on FakeWorkerPool, through the public
// functions: which waits ask the pool to read a task's answer on the waiting thread
// (WorkerPool::WaitForResult, which saves a wake-up of the pool's event thread per result)
// and which wait on the store alone.

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "backend/backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_worker_pool.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/unidist.h"

namespace unidist {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::unidist::testing::FakeBackend;
using ::unidist::testing::FakeTask;
using ::unidist::testing::FakeWorkerPool;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

int Twice(int x) { return 2 * x; }
UNIDIST_REMOTE(Twice);

constexpr char kBackend[] = "driver-client-test-fake";
constexpr absl::Duration kShortWait = absl::Milliseconds(10);

// The fake of the running test, which the registered backend starts.
std::shared_ptr<FakeWorkerPool>* g_fake = nullptr;

class DriverClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (BackendRegistry::Global().Find(kBackend).ok()) return;  // a repeated run
    BackendDescription backend = FakeBackend(nullptr, kBackend);
    backend.start_pool = [](WorkerPoolOptions options) {
      return FakeBackend(*g_fake, kBackend).start_pool(std::move(options));
    };
    ASSERT_THAT(BackendRegistry::Global().Register(std::move(backend)), IsOk());
  }

  void SetUp() override {
    g_fake = &fake_;
    Options options;
    options.backend = kBackend;
    options.num_workers = 2;
    ASSERT_THAT(Init(options), IsOk());
  }
  void TearDown() override {
    EXPECT_THAT(Shutdown(), IsOk());
    g_fake = nullptr;
  }

  // The id of the next task the pool was handed.
  uint64_t NextTaskId() {
    absl::StatusOr<FakeTask> task = fake_->NextDispatch();
    EXPECT_THAT(task, IsOk());
    return task.ok() ? task->task_id() : 0;
  }

  std::shared_ptr<FakeWorkerPool> fake_ = std::make_shared<FakeWorkerPool>();
};

TEST_F(DriverClientTest, GetOfOneTaskAsksThePoolToReadItsAnswerHere) {
  ObjectRef<int> ref = Submit(Twice, 1);
  const uint64_t task = NextTaskId();
  EXPECT_THAT(Get(ref, kShortWait), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(fake_->waits_for_result(), ElementsAre(task));
  ASSERT_THAT(fake_->Complete(task, {Encode(2)}), IsOk());
  EXPECT_THAT(Get(ref), IsOkAndHolds(2));
  EXPECT_THAT(fake_->waits_for_result(), ElementsAre(task));  // complete: no wait
}

TEST_F(DriverClientTest, WaitForOneTaskAsksThePoolToReadItsAnswerHere) {
  ObjectRef<int> ref = Submit(Twice, 1);
  const uint64_t task = NextTaskId();
  EXPECT_THAT(Wait(std::vector<ObjectRef<int>>{ref}, 1, kShortWait).ready, IsEmpty());
  EXPECT_THAT(fake_->waits_for_result(), ElementsAre(task));
  ASSERT_THAT(fake_->Complete(task, {Encode(2)}), IsOk());
  EXPECT_EQ(Wait(std::vector<ObjectRef<int>>{ref}, 1, kShortWait).ready.size(), 1u);
}

TEST_F(DriverClientTest, WaitForTheLastPendingTaskReadsItsAnswerHere) {
  ObjectRef<int> done = Submit(Twice, 1);
  const uint64_t done_task = NextTaskId();
  ObjectRef<int> pending = Submit(Twice, 2);
  const uint64_t pending_task = NextTaskId();
  ASSERT_THAT(fake_->Complete(done_task, {Encode(2)}), IsOk());
  const std::vector<ObjectRef<int>> refs = {done, pending, Put(7)};
  // One of them is enough, and one is complete: no wait at all.
  EXPECT_EQ(Wait(refs, 1, kShortWait).ready.size(), 1u);
  EXPECT_THAT(fake_->waits_for_result(), IsEmpty());
  // All of them: what is missing is one task's result.
  EXPECT_EQ(Wait(refs, 3, kShortWait).ready.size(), 2u);
  EXPECT_THAT(fake_->waits_for_result(), ElementsAre(pending_task));
}

TEST_F(DriverClientTest, WaitForOneOfSeveralPendingTasksWaitsOnTheStore) {
  const std::vector<ObjectRef<int>> refs = {Submit(Twice, 1), Submit(Twice, 2)};
  const uint64_t first = NextTaskId();
  NextTaskId();
  EXPECT_THAT(Wait(refs, 1, kShortWait).ready, IsEmpty());
  // Either task may finish first: the store tells which, not one worker.
  EXPECT_THAT(fake_->waits_for_result(), IsEmpty());
  ASSERT_THAT(fake_->Complete(first, {Encode(2)}), IsOk());
  const WaitResult<int> waited = Wait(refs, 1, kShortWait);
  ASSERT_EQ(waited.ready.size(), 1u);
  EXPECT_EQ(waited.ready[0].id(), refs[0].id());
}

}  // namespace
}  // namespace unidist
