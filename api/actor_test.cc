// Copyright 2026 The unidist-cpp Authors.
//
// Actors end to end: state, ordering, ObjectRef arguments, lifetime, kill, crashes and
// constructor failures, on real processes.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/task_signal.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace actors {

class Counter {
 public:
  explicit Counter(int start) : value_(start) {}
  int Add(int x) { return value_ += x; }
  int Value() const { return value_; }
  int Pid() const { return static_cast<int>(getpid()); }
  int Throw(int) { throw std::runtime_error("counter refuses"); }
  absl::StatusOr<int> CheckedAdd(int x) {
    if (x < 0) return absl::InvalidArgumentError("negative increment");
    return value_ += x;
  }
  int Crash() {
    raise(SIGSEGV);
    return 0;
  }
  int Sleep(int ms) {
    absl::SleepFor(absl::Milliseconds(ms));
    return ms;
  }
  // Sleep, once it has told the test it runs (unidist::testing::TaskSignal).
  int NotifyThenSleep(std::string signal, int ms) {
    unidist::testing::NotifyTaskSignal(signal);
    return Sleep(ms);
  }
  bool Restarted() const { return unidist::WasCurrentActorRestarted(); }
  absl::StatusOr<int> AddThenExit(int x) {
    value_ += x;
    if (absl::Status exited = unidist::ExitActor(); !exited.ok()) return exited;
    return value_;
  }

 private:
  int value_;
};
UNIDIST_ACTOR(Counter, int);
UNIDIST_REMOTE(&Counter::Add, &Counter::Value, &Counter::Pid, &Counter::Throw, &Counter::CheckedAdd,
               &Counter::Crash, &Counter::Sleep, &Counter::NotifyThenSleep, &Counter::Restarted,
               &Counter::AddThenExit);

// Records the calls it receives, to check their order.
class Log {
 public:
  Log() = default;
  int Append(int thread, int i) {
    entries_.emplace_back(thread, i);
    return static_cast<int>(entries_.size());
  }
  std::vector<std::pair<int, int>> Entries() const { return entries_; }

 private:
  std::vector<std::pair<int, int>> entries_;
};
UNIDIST_ACTOR(Log);
UNIDIST_REMOTE(&Log::Append, &Log::Entries);

class Fragile {
 public:
  explicit Fragile(std::string why) { throw std::invalid_argument(why); }
  int Get() const { return 1; }
};
UNIDIST_ACTOR(Fragile, std::string);
UNIDIST_REMOTE(&Fragile::Get);

class Unregistered {
 public:
  int Get() const { return 2; }
};
UNIDIST_ACTOR(Unregistered);  // the class is registered, its method is not

// Counts its destructions, for actors that live in the driver (sequential backend).
std::atomic<int> g_tracked_destroyed{0};
class Tracked {
 public:
  Tracked() = default;
  ~Tracked() { ++g_tracked_destroyed; }
  int Pid() const { return static_cast<int>(getpid()); }
};
UNIDIST_ACTOR(Tracked);
UNIDIST_REMOTE(&Tracked::Pid);

int SlowValue(int value) {
  absl::SleepFor(absl::Milliseconds(100));
  return value;
}
int Square(int x) { return x * x; }
int PoolPid() { return static_cast<int>(getpid()); }
int ExitOutsideAnActor() { return static_cast<int>(unidist::ExitActor().code()); }

}  // namespace actors

UNIDIST_REMOTE(actors::SlowValue, actors::Square, actors::PoolPid, actors::ExitOutsideAnActor);

namespace {

using actors::Counter;
using ::testing::HasSubstr;
using unidist::Actor;
using unidist::CreateActor;
using unidist::Get;
using unidist::ObjectRef;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

class ActorTest : public unidist::testing::UnidistTest {};

// How long a test waits for a call to start: a bound against hanging, not an expectation.
constexpr absl::Duration kStartTimeout = absl::Seconds(60);

TEST_F(ActorTest, KeepsStateAcrossCalls) {
  Actor<Counter> counter = CreateActor<Counter>(10);
  EXPECT_THAT(Get(counter.Created()), IsOk());
  EXPECT_THAT(Get(counter.Submit(&Counter::Add, 5)), IsOkAndHolds(15));
  EXPECT_THAT(Get(counter.Submit(&Counter::Add, 1)), IsOkAndHolds(16));
  EXPECT_THAT(Get(counter.Submit(&Counter::Value)), IsOkAndHolds(16));
  // Its own process, not one of the pool's.
  if (!unidist::testing::BackendHas(unidist::testing::BackendTrait::kWorkerProcesses)) return;
  const absl::StatusOr<int> pid = Get(counter.Submit(&Counter::Pid));
  ASSERT_THAT(pid, IsOk());
  for (const unidist::WorkerInfo& worker : unidist::Workers()) EXPECT_NE(worker.pid, *pid);
  EXPECT_NE(*pid, getpid());
}

TEST_F(ActorTest, CallsRunInSubmissionOrder) {
  Actor<Counter> counter = CreateActor<Counter>(0);
  std::vector<ObjectRef<int>> sums;
  for (int i = 1; i <= 1000; ++i) sums.push_back(counter.Submit(&Counter::Add, i));
  absl::StatusOr<std::vector<int>> values = Get(sums);
  ASSERT_THAT(values, IsOk());
  for (int i = 1; i <= 1000; ++i) ASSERT_EQ((*values)[i - 1], i * (i + 1) / 2);
}

TEST_F(ActorTest, OrderHoldsUnderConcurrentSubmissionsFromSeveralThreads) {
  Actor<actors::Log> log = CreateActor<actors::Log>();
  constexpr int kThreads = 4;
  constexpr int kCalls = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < kCalls; ++i) log.Submit(&actors::Log::Append, t, i);
    });
  }
  for (std::thread& thread : threads) thread.join();
  absl::StatusOr<std::vector<std::pair<int, int>>> entries = Get(log.Submit(&actors::Log::Entries));
  ASSERT_THAT(entries, IsOk());
  ASSERT_EQ(entries->size(), static_cast<size_t>(kThreads * kCalls));
  std::vector<int> next(kThreads, 0);
  for (const auto& [thread, i] : *entries) ASSERT_EQ(i, next[thread]++) << "thread " << thread;
}

TEST_F(ActorTest, RefArgumentsWaitWithoutReordering) {
  Actor<Counter> counter = CreateActor<Counter>(actors::Square(2) == 4 ? 1 : 0);
  ObjectRef<int> slow = unidist::Submit(actors::SlowValue, 100);
  ObjectRef<int> first = counter.Submit(&Counter::Add, slow);  // waits for `slow`
  ObjectRef<int> second = counter.Submit(&Counter::Add, 5);    // ready, but runs second
  EXPECT_THAT(Get(second), IsOkAndHolds(106));
  EXPECT_THAT(Get(first), IsOkAndHolds(101));
}

TEST_F(ActorTest, ConstructorTakesRefsAndResultsFeedTasksAndOtherActors) {
  Actor<Counter> a = CreateActor<Counter>(unidist::Submit(actors::SlowValue, 7));
  Actor<Counter> b = CreateActor<Counter>(100);
  ObjectRef<int> a_value = a.Submit(&Counter::Add, 3);                // 10
  ObjectRef<int> squared = unidist::Submit(actors::Square, a_value);  // 100
  ObjectRef<int> b_value = b.Submit(&Counter::Add, squared);          // 200
  EXPECT_THAT(Get(b_value), IsOkAndHolds(200));
  unidist::WaitResult<int> waited = unidist::Wait(std::vector<ObjectRef<int>>{a_value, b_value}, 2);
  EXPECT_EQ(waited.ready.size(), 2u);
}

TEST_F(ActorTest, MethodErrorsFailOnlyThatCall) {
  Actor<Counter> counter = CreateActor<Counter>(1);
  EXPECT_THAT(Get(counter.Submit(&Counter::Throw, 0)),
              StatusIs(absl::StatusCode::kUnknown, ::testing::AllOf(HasSubstr("Counter::Throw"),
                                                                    HasSubstr("counter refuses"))));
  EXPECT_THAT(Get(counter.Submit(&Counter::CheckedAdd, -1)),
              StatusIs(absl::StatusCode::kInvalidArgument, "negative increment"));
  EXPECT_THAT(Get(counter.Submit(&Counter::CheckedAdd, 2)), IsOkAndHolds(3));  // state kept
}

TEST_F(ActorTest, ConstructorFailureFailsEveryCall) {
  Actor<actors::Fragile> fragile = CreateActor<actors::Fragile>(std::string("bad config"));
  EXPECT_THAT(Get(fragile.Created()), StatusIs(absl::StatusCode::kUnknown,
                                               ::testing::AllOf(HasSubstr("std::invalid_argument"),
                                                                HasSubstr("bad config"))));
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(Get(fragile.Submit(&actors::Fragile::Get)),
                StatusIs(absl::StatusCode::kUnknown, HasSubstr("bad config")));
  }
}

TEST_F(ActorTest, KillCancelsPendingCalls) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kConcurrentWithDriver);
  Actor<Counter> counter = CreateActor<Counter>(0);
  const absl::StatusOr<int> pid = Get(counter.Submit(&Counter::Pid));
  ASSERT_THAT(pid, IsOk());
  ObjectRef<int> running = counter.Submit(&Counter::Sleep, 60000);
  ObjectRef<int> queued = counter.Submit(&Counter::Add, 1);
  ObjectRef<int> waiting = counter.Submit(&Counter::Add, unidist::Submit(actors::SlowValue, 1));
  ASSERT_THAT(counter.Kill(), IsOk());
  EXPECT_THAT(Get(running), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Get(queued), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Get(waiting), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Get(counter.Submit(&Counter::Value)),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("Counter was killed")));
  EXPECT_THAT(counter.Kill(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(unidist::testing::WaitForProcessGone(*pid, absl::Seconds(10)));
}

TEST_F(ActorTest, LastHandleEndsTheProcessAfterItsCalls) {
  ObjectRef<int> last;
  absl::StatusOr<int> pid;
  {
    Actor<Counter> counter = CreateActor<Counter>(0);
    Actor<Counter> copy = counter;
    pid = Get(copy.Submit(&Counter::Pid));
    ASSERT_THAT(pid, IsOk());
    counter.Submit(&Counter::Sleep, 100);
    last = copy.Submit(&Counter::Add, unidist::Submit(actors::SlowValue, 42));
  }
  EXPECT_THAT(Get(last), IsOkAndHolds(42));  // submitted calls still run
  if (unidist::testing::BackendHas(unidist::testing::BackendTrait::kWorkerProcesses)) {
    EXPECT_TRUE(unidist::testing::WaitForProcessGone(*pid, absl::Seconds(10)));
  }
}

TEST_F(ActorTest, CrashFailsPendingAndLaterCallsWithUnavailable) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSurvivesWorkerCrash);
  Actor<Counter> counter = CreateActor<Counter>(0);
  ObjectRef<int> crash = counter.Submit(&Counter::Crash);
  ObjectRef<int> after = counter.Submit(&Counter::Add, 1);
  EXPECT_THAT(Get(crash),
              StatusIs(absl::StatusCode::kUnavailable,
                       ::testing::AllOf(HasSubstr("Counter::Crash"), HasSubstr("signal 11"))));
  EXPECT_THAT(Get(after), StatusIs(absl::StatusCode::kUnavailable));
  absl::Status later = Get(counter.Submit(&Counter::Value)).status();
  EXPECT_THAT(later,
              StatusIs(absl::StatusCode::kUnavailable,
                       ::testing::AllOf(HasSubstr("actor Counter"), HasSubstr("signal 11"))));
  // The program and the pool carry on.
  EXPECT_THAT(Get(unidist::Submit(actors::Square, 9)), IsOkAndHolds(81));
  EXPECT_EQ(unidist::GetStats().workers_replaced, 0u);
}

TEST_F(ActorTest, ActorKilledFromOutside) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  Actor<Counter> counter = CreateActor<Counter>(0);
  const absl::StatusOr<int> pid = Get(counter.Submit(&Counter::Pid));
  ASSERT_THAT(pid, IsOk());
  unidist::testing::TaskSignal started;
  ObjectRef<int> running = counter.Submit(&Counter::NotifyThenSleep, started.path(), 60000);
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());  // killed while it runs
  ASSERT_EQ(kill(*pid, SIGKILL), 0);
  EXPECT_THAT(Get(running), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("signal 9")));
  EXPECT_THAT(Get(counter.Submit(&Counter::Value)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("actor Counter is gone")));
}

unidist::ActorOptions Restarts(int max_restarts, int max_task_retries) {
  unidist::ActorOptions options;
  options.max_restarts = max_restarts;
  options.max_task_retries = max_task_retries;
  return options;
}

TEST_F(ActorTest, ARestartedActorRunsItsConstructorAgainAfterSigkill) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  Actor<Counter> counter = CreateActor<Counter>(Restarts(1, -1), 10);
  EXPECT_THAT(Get(counter.Submit(&Counter::Add, 5)), IsOkAndHolds(15));
  EXPECT_THAT(Get(counter.Submit(&Counter::Restarted)), IsOkAndHolds(false));
  const absl::StatusOr<int> pid = Get(counter.Submit(&Counter::Pid));
  ASSERT_THAT(pid, IsOk());
  ASSERT_EQ(kill(*pid, SIGKILL), 0);
  // Whether it reached the dead process or waited for the new one, the call runs on the
  // new instance (max_task_retries -1), whose state is the constructor's.
  EXPECT_THAT(Get(counter.Submit(&Counter::Add, 1)), IsOkAndHolds(11));
  EXPECT_THAT(Get(counter.Submit(&Counter::Restarted)), IsOkAndHolds(true));
  const absl::StatusOr<int> new_pid = Get(counter.Submit(&Counter::Pid));
  ASSERT_THAT(new_pid, IsOk());
  EXPECT_NE(*new_pid, *pid);
  // Its one restart is spent: the next death is the last (a call that reached the dying
  // process fails with its death, a later one with the actor's end).
  ASSERT_EQ(kill(*new_pid, SIGKILL), 0);
  // (How it died reads "killed by signal 9", or "stopped talking to the driver" when the
  // call reached it before its exit status was known.)
  EXPECT_THAT(Get(counter.Submit(&Counter::Value)), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(ActorTest, CallsInFlightAtTheDeathFailWithoutRetriesAndTheActorLivesOn) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  Actor<Counter> counter = CreateActor<Counter>(Restarts(-1, 0), 3);
  const absl::StatusOr<int> pid = Get(counter.Submit(&Counter::Pid));
  ASSERT_THAT(pid, IsOk());
  unidist::testing::TaskSignal started;
  ObjectRef<int> running = counter.Submit(&Counter::NotifyThenSleep, started.path(), 60000);
  ObjectRef<int> queued = counter.Submit(&Counter::Add, 4);   // sent too, behind it
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());  // killed while it runs
  ASSERT_EQ(kill(*pid, SIGKILL), 0);
  EXPECT_THAT(Get(running), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Get(queued), StatusIs(absl::StatusCode::kUnavailable));
  // The actor itself lives on, restarted, with the constructor's state.
  EXPECT_THAT(Get(counter.Submit(&Counter::Add, 4)), IsOkAndHolds(7));
  EXPECT_THAT(Get(counter.Submit(&Counter::Restarted)), IsOkAndHolds(true));
}

TEST_F(ActorTest, ACrashingCallRetriedOnEveryRestartFailsWhenRestartsRunOut) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  Actor<Counter> counter = CreateActor<Counter>(Restarts(2, -1), 0);
  // Each run kills its process: two restarts, three deaths, then the actor is gone.
  EXPECT_THAT(Get(counter.Submit(&Counter::Crash)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("signal 11")));
  EXPECT_THAT(Get(counter.Submit(&Counter::Value)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("actor Counter is gone")));
}

TEST_F(ActorTest, AnActorEndsItselfAfterTheCallThatAsks) {
  Actor<Counter> counter = CreateActor<Counter>(Restarts(-1, -1), 1);
  ObjectRef<int> exiting = counter.Submit(&Counter::AddThenExit, 2);
  ObjectRef<int> after = counter.Submit(&Counter::Add, 3);  // sent already, perhaps
  EXPECT_THAT(Get(exiting), IsOkAndHolds(3));               // its own result arrives
  EXPECT_THAT(Get(after), StatusIs(absl::StatusCode::kCancelled, HasSubstr("exit")));
  EXPECT_THAT(Get(counter.Submit(&Counter::Value)),
              StatusIs(absl::StatusCode::kCancelled, HasSubstr("exited")));
}

TEST_F(ActorTest, ExitActorOutsideAnActorsMethodIsRefused) {
  EXPECT_THAT(unidist::ExitActor(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Get(unidist::Submit(actors::ExitOutsideAnActor)),
              IsOkAndHolds(static_cast<int>(absl::StatusCode::kFailedPrecondition)));
}

TEST_F(ActorTest, KillIsNotADeathToRestartFrom) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  Actor<Counter> counter = CreateActor<Counter>(Restarts(-1, -1), 0);
  ASSERT_THAT(Get(counter.Created()), IsOk());
  ASSERT_THAT(counter.Kill(), IsOk());
  EXPECT_THAT(Get(counter.Submit(&Counter::Value)), StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(ActorTest, FiftyLiveActorsOnTwoCores) {
  std::vector<Actor<Counter>> counters;
  for (int i = 0; i < 50; ++i) counters.push_back(CreateActor<Counter>(i));
  ObjectRef<int> task = unidist::Submit(actors::Square, 12);
  std::vector<ObjectRef<int>> results;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) results.push_back(counters[i].Submit(&Counter::Add, 1));
  }
  absl::StatusOr<std::vector<int>> values = Get(results);
  ASSERT_THAT(values, IsOk());
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) EXPECT_EQ((*values)[round * 50 + i], i + round + 1);
  }
  EXPECT_THAT(Get(task), IsOkAndHolds(144));
}

TEST_F(ActorTest, TasksRunWhileAnActorIsBusy) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kConcurrentWithDriver);
  Actor<Counter> counter = CreateActor<Counter>(0);
  ObjectRef<int> busy = counter.Submit(&Counter::Sleep, 3000);
  EXPECT_THAT(Get(unidist::Submit(actors::Square, 5)), IsOkAndHolds(25));
  EXPECT_EQ(unidist::Wait(std::vector<ObjectRef<int>>{busy}, 1, absl::ZeroDuration()).ready.size(),
            0u);
  EXPECT_THAT(counter.Kill(), IsOk());
}

TEST_F(ActorTest, UnregisteredMethodAndEmptyHandle) {
  Actor<actors::Unregistered> actor = CreateActor<actors::Unregistered>();
  // Named by class and method (issue #17), not "the member function".
  EXPECT_THAT(Get(actor.Submit(&actors::Unregistered::Get)),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("UNIDIST_REMOTE"),
                             HasSubstr("the member function actors::Unregistered::Get"))));
  Actor<Counter> empty;
  EXPECT_THAT(Get(empty.Submit(&Counter::Value)), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(empty.Kill(), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Whatever UNIDIST_BACKEND says: several actors live in the driver, each with its own
// state, and each is destroyed when it is killed or its last handle goes.
TEST(ActorLifecycleTest, SequentialActorsLiveInTheDriverUntilKilledOrReleased) {
  unidist::Options options;
  options.num_workers = 1;
  options.backend = "sequential";
  UNIDIST_ASSERT_OK(unidist::Init(options));
  actors::g_tracked_destroyed = 0;
  {
    Actor<actors::Tracked> a = CreateActor<actors::Tracked>();
    Actor<actors::Tracked> b = CreateActor<actors::Tracked>();
    EXPECT_THAT(Get(a.Submit(&actors::Tracked::Pid)), IsOkAndHolds(getpid()));
    EXPECT_THAT(Get(b.Submit(&actors::Tracked::Pid)), IsOkAndHolds(getpid()));
    EXPECT_EQ(actors::g_tracked_destroyed, 0);
    ASSERT_THAT(a.Kill(), IsOk());
    EXPECT_EQ(actors::g_tracked_destroyed, 1);
    EXPECT_THAT(Get(a.Submit(&actors::Tracked::Pid)),
                StatusIs(absl::StatusCode::kCancelled, HasSubstr("Tracked was killed")));
    EXPECT_THAT(Get(b.Submit(&actors::Tracked::Pid)), IsOkAndHolds(getpid()));  // b is untouched
    Actor<Counter> counter = CreateActor<Counter>(5);
    EXPECT_THAT(Get(counter.Submit(&Counter::Add, 1)), IsOkAndHolds(6));
  }
  EXPECT_EQ(actors::g_tracked_destroyed, 2);  // b's last handle closed it
  UNIDIST_ASSERT_OK(unidist::Shutdown());
}

TEST(ActorLifecycleTest, BeforeInitAndAfterShutdown) {
  Actor<Counter> early = CreateActor<Counter>(1);
  EXPECT_THAT(Get(early.Submit(&Counter::Value)), StatusIs(absl::StatusCode::kFailedPrecondition));
  UNIDIST_ASSERT_OK(unidist::Init(unidist::Options{1, ""}));
  Actor<Counter> counter = CreateActor<Counter>(1);
  // Where calls run beside the driver, this one is still running at Shutdown; where
  // Submit runs it (sequential), it has finished.
  const bool concurrent =
      unidist::testing::BackendHas(unidist::testing::BackendTrait::kConcurrentWithDriver);
  ObjectRef<int> running = counter.Submit(&Counter::Sleep, concurrent ? 60000 : 1);
  UNIDIST_ASSERT_OK(unidist::Shutdown());  // ends every actor
  if (concurrent) {
    EXPECT_THAT(Get(running), StatusIs(absl::StatusCode::kCancelled));
  } else {
    EXPECT_THAT(Get(running), IsOk());
  }
  EXPECT_THAT(Get(counter.Submit(&Counter::Value)), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(unidist::testing::WaitForNoDescendants(absl::Seconds(5)), ::testing::IsEmpty());
}

}  // namespace
