// Copyright 2026 The unidist-cpp Authors.
//
// unidist::Cancel end to end: tasks waiting for arguments, queued in the driver or on a
// worker, running (with and without force), finished; and actor calls.

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/task_signal.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace cancel_test {

int SleepMs(int ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return ms;
}
// SleepMs, once it has told the test it runs (unidist::testing::TaskSignal).
int NotifyThenSleepMs(std::string signal, int ms) {
  unidist::testing::NotifyTaskSignal(signal);
  return SleepMs(ms);
}
int Add(int a, int b) { return a + b; }
// Creates `path`, so a test can tell whether the task ran.
int Touch(std::string path) {
  if (FILE* file = std::fopen(path.c_str(), "w")) std::fclose(file);
  return 1;
}

class Sleeper {
 public:
  Sleeper() = default;
  int Sleep(int ms) { return SleepMs(ms); }
  int NotifyThenSleep(std::string signal, int ms) { return NotifyThenSleepMs(signal, ms); }
  int Count() { return ++calls_; }

 private:
  int calls_ = 0;
};
UNIDIST_ACTOR(Sleeper);
UNIDIST_REMOTE(&Sleeper::Sleep, &Sleeper::NotifyThenSleep, &Sleeper::Count);

}  // namespace cancel_test

UNIDIST_REMOTE(cancel_test::SleepMs, cancel_test::NotifyThenSleepMs, cancel_test::Add,
               cancel_test::Touch);

namespace {

using ::testing::HasSubstr;
using unidist::Cancel;
using unidist::Get;
using unidist::ObjectRef;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;
namespace fns = cancel_test;

std::string TempPath() {
  char path[] = "/tmp/unidist_cancel_XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  unlink(path);
  return path;
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// How long a test waits for a task to start: a bound against hanging, not an expectation.
constexpr absl::Duration kStartTimeout = absl::Seconds(60);

class CancelTest : public unidist::testing::UnidistTest {};

TEST_F(CancelTest, ATaskWaitingForItsArgumentsNeverRuns) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kConcurrentWithDriver);
  const std::string marker = TempPath();
  ObjectRef<int> slow = unidist::Submit(fns::SleepMs, 200);
  ObjectRef<int> waiting = unidist::Submit(fns::Add, slow, 1);
  ObjectRef<int> touch = unidist::Submit(fns::Touch, marker);  // runs: not cancelled
  ASSERT_THAT(Cancel(waiting), IsOk());
  EXPECT_THAT(Get(waiting), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Get(slow), IsOkAndHolds(200));
  EXPECT_THAT(Get(touch), IsOkAndHolds(1));
  EXPECT_THAT(Cancel(waiting), StatusIs(absl::StatusCode::kFailedPrecondition));
  unlink(marker.c_str());
}

TEST_F(CancelTest, QueuedTasksAreDroppedWithoutRunning) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kConcurrentWithDriver);
  // Both workers are busy; the tasks behind them wait on the workers or in the driver.
  ObjectRef<int> busy_a = unidist::Submit(fns::SleepMs, 300);
  ObjectRef<int> busy_b = unidist::Submit(fns::SleepMs, 300);
  std::vector<std::string> markers;
  std::vector<ObjectRef<int>> queued;
  for (int i = 0; i < 6; ++i) {
    markers.push_back(TempPath());
    queued.push_back(unidist::Submit(fns::Touch, markers.back()));
  }
  for (int i = 0; i < 6; i += 2) ASSERT_THAT(Cancel(queued[i]), IsOk()) << i;
  EXPECT_THAT(Get(busy_a), IsOkAndHolds(300));
  EXPECT_THAT(Get(busy_b), IsOkAndHolds(300));
  for (int i = 0; i < 6; ++i) {
    if (i % 2 == 0) {
      EXPECT_THAT(Get(queued[i]), StatusIs(absl::StatusCode::kCancelled)) << i;
      EXPECT_FALSE(Exists(markers[i])) << "cancelled task " << i << " ran";
    } else {
      EXPECT_THAT(Get(queued[i]), IsOkAndHolds(1)) << i;
      EXPECT_TRUE(Exists(markers[i]));
    }
    unlink(markers[i].c_str());
  }
  EXPECT_EQ(unidist::GetStats().workers_replaced, 0u);
}

TEST_F(CancelTest, CancellingOneRefOfAMapCancelsItsWholeChunk) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kConcurrentWithDriver);
  // Both workers are busy; the chunks wait behind them. A Map's refs share their chunk's
  // task (and their tokens one block: api/internal/ref_token.h), so any of them cancels
  // that chunk, and only that one.
  ObjectRef<int> busy_a = unidist::Submit(fns::SleepMs, 300);
  ObjectRef<int> busy_b = unidist::Submit(fns::SleepMs, 300);
  std::vector<std::string> markers;
  for (int i = 0; i < 6; ++i) markers.push_back(TempPath());
  std::vector<ObjectRef<int>> refs =
      unidist::Map(fns::Touch, markers, unidist::MapOptions{/*chunk_size=*/3});
  ASSERT_EQ(refs.size(), 6u);
  ASSERT_THAT(Cancel(refs[1]), IsOk());
  EXPECT_THAT(Get(busy_a), IsOkAndHolds(300));
  EXPECT_THAT(Get(busy_b), IsOkAndHolds(300));
  for (int i = 0; i < 6; ++i) {
    if (i < 3) {
      EXPECT_THAT(Get(refs[i]), StatusIs(absl::StatusCode::kCancelled)) << i;
      EXPECT_FALSE(Exists(markers[i])) << "input " << i << " of the cancelled chunk ran";
    } else {
      EXPECT_THAT(Get(refs[i]), IsOkAndHolds(1)) << i;
      EXPECT_TRUE(Exists(markers[i])) << i;
    }
    unlink(markers[i].c_str());
  }
  EXPECT_THAT(Cancel(refs[4]), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(CancelTest, ARunningTaskStopsOnlyWithForce) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kConcurrentWithDriver);
  unidist::testing::TaskSignal started;
  ObjectRef<int> running = unidist::Submit(unidist::TaskOptions{/*max_retries=*/3},
                                           fns::NotifyThenSleepMs, started.path(), 60000);
  // Running, not still on its way to the worker: only then is force needed.
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());
  EXPECT_THAT(Cancel(running),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("running")));
  ASSERT_THAT(Cancel(running, /*force=*/true), IsOk());
  EXPECT_THAT(Get(running), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(unidist::GetStats().tasks_retried, 0u);  // a cancelled task is not retried
  // The pool was repaired and carries on.
  EXPECT_THAT(Get(unidist::Submit(fns::Add, 2, 3)), IsOkAndHolds(5));
  EXPECT_EQ(unidist::Workers().size(), 2u);
}

TEST_F(CancelTest, FinishedTasksAndOtherRefs) {
  ObjectRef<int> done = unidist::Submit(fns::Add, 1, 1);
  ASSERT_THAT(Get(done), IsOkAndHolds(2));
  EXPECT_THAT(Cancel(done), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Cancel(unidist::Put(5)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Cancel(ObjectRef<int>()), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(CancelTest, ActorCalls) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kConcurrentWithDriver);
  unidist::Actor<fns::Sleeper> sleeper = unidist::CreateActor<fns::Sleeper>();
  // The driver has the constructor's result: the actor's oldest call in flight is then
  // `running`, which is how the pool tells a running call from a queued one.
  ASSERT_THAT(Get(sleeper.Created()), IsOk());
  unidist::testing::TaskSignal started;
  ObjectRef<int> running = sleeper.Submit(&fns::Sleeper::NotifyThenSleep, started.path(), 300);
  ObjectRef<int> first = sleeper.Submit(&fns::Sleeper::Count);
  ObjectRef<int> dropped = sleeper.Submit(&fns::Sleeper::Count);
  ObjectRef<int> third = sleeper.Submit(&fns::Sleeper::Count);
  // `running` runs on the actor (force is refused for it there); the calls behind it wait
  // for its 300 ms.
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());
  EXPECT_THAT(Cancel(running, /*force=*/true), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_THAT(Cancel(dropped), IsOk());
  EXPECT_THAT(Get(first), IsOkAndHolds(1));
  EXPECT_THAT(Get(dropped), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Get(third), IsOkAndHolds(2));  // the dropped call never ran; order is kept
  EXPECT_THAT(Get(running), IsOkAndHolds(300));
}

TEST(CancelLifecycleTest, AfterShutdownEverythingHasFinished) {
  UNIDIST_ASSERT_OK(unidist::Init(unidist::Options{1, ""}));
  // Still running at Shutdown where tasks run beside the driver; finished already where
  // Submit runs them (sequential). Either way Cancel finds nothing left to cancel.
  const bool concurrent =
      unidist::testing::BackendHas(unidist::testing::BackendTrait::kConcurrentWithDriver);
  ObjectRef<int> running = unidist::Submit(fns::SleepMs, concurrent ? 60000 : 1);
  UNIDIST_ASSERT_OK(unidist::Shutdown());
  EXPECT_THAT(Cancel(running), StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
