// Copyright 2026 The unidist-cpp Authors.
//
// Actors whose calls run on several threads (ActorOptions::max_concurrency), on real
// processes: calls overlap up to the limit and no further, nested API calls of
// overlapping calls each get their own answers, and cancellation, a crash, a restart and
// the actor's end work as for an actor that runs one call at a time.

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/task_signal.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace concurrent_actors {

int Square(int x) { return x * x; }

// Tells whoever holds `gate`'s other end that it waits, then waits for one byte from it
// (or for it to close). The test opens a Gate before it submits the call.
int PassGate(const std::string& started, const std::string& gate) {
  const int fd = open(gate.c_str(), O_RDONLY | O_CLOEXEC);
  unidist::testing::NotifyTaskSignal(started);
  if (fd < 0) return -1;
  char byte = 0;
  ssize_t got;
  while ((got = read(fd, &byte, 1)) < 0 && errno == EINTR) {
  }
  close(fd);
  return static_cast<int>(got);
}

// Where calls meet: each waits in Meet until `expected` calls are inside at once, and the
// meeting notes how many ever were.
class Meeting {
 public:
  Meeting() = default;

  // OK once `expected` calls are in Meet together; DeadlineExceeded if they are not
  // within `timeout_ms`.
  absl::Status Meet(int expected, int timeout_ms) {
    absl::MutexLock lock(&mu_);
    peak_ = std::max(peak_, ++inside_);
    const int round = round_;
    if (++arrived_ == expected) {
      arrived_ = 0;
      ++round_;
    }
    const absl::Time deadline = absl::Now() + absl::Milliseconds(timeout_ms);
    while (round_ == round && !cond_.WaitWithDeadline(&mu_, deadline)) {
    }
    cond_.SignalAll();
    --inside_;
    if (round_ != round) return absl::OkStatus();
    --arrived_;  // it leaves the round it waited in
    return absl::DeadlineExceededError("the others did not come");
  }

  // Meets the others, then sums the squares of first..first+count-1 with nested tasks,
  // while they do the same: their requests to the driver interleave.
  absl::StatusOr<int> MeetThenSumSquares(int expected, int first, int count) {
    if (absl::Status met = Meet(expected, 60000); !met.ok()) return met;
    std::vector<unidist::ObjectRef<int>> squares;
    for (int i = first; i < first + count; ++i) squares.push_back(unidist::Submit(Square, i));
    int sum = 0;
    for (const unidist::ObjectRef<int>& square : squares) {
      absl::StatusOr<int> value = unidist::Get(square);
      if (!value.ok()) return value.status();
      absl::StatusOr<int> again = unidist::Get(unidist::Put(*value));
      if (!again.ok()) return again.status();
      sum += *again;
    }
    return sum;
  }

  int Peak() {
    absl::MutexLock lock(&mu_);
    return peak_;
  }

  int Add(int x) {
    absl::MutexLock lock(&mu_);
    return total_ += x;
  }

  int Pid() const { return static_cast<int>(getpid()); }
  bool Restarted() const { return unidist::WasCurrentActorRestarted(); }
  absl::Status Exit() { return unidist::ExitActor(); }
  int Gate(std::string started, std::string gate) { return PassGate(started, gate); }

 private:
  absl::Mutex mu_;
  absl::CondVar cond_;
  int inside_ ABSL_GUARDED_BY(mu_) = 0;
  int peak_ ABSL_GUARDED_BY(mu_) = 0;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;  // in the current round
  int round_ ABSL_GUARDED_BY(mu_) = 0;
  int total_ ABSL_GUARDED_BY(mu_) = 0;
};
UNIDIST_ACTOR(Meeting);
UNIDIST_REMOTE(&Meeting::Meet, &Meeting::MeetThenSumSquares, &Meeting::Peak, &Meeting::Add,
               &Meeting::Pid, &Meeting::Restarted, &Meeting::Exit, &Meeting::Gate);

}  // namespace concurrent_actors

UNIDIST_REMOTE(concurrent_actors::Square);

namespace {

using concurrent_actors::Meeting;
using ::testing::HasSubstr;
using unidist::Actor;
using unidist::CreateActor;
using unidist::Get;
using unidist::ObjectRef;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

class ActorConcurrencyTest : public unidist::testing::UnidistTest {};

// How long a test waits for a call to start: a bound against hanging, not an expectation.
constexpr absl::Duration kStartTimeout = absl::Seconds(60);

unidist::ActorOptions Concurrency(int max_concurrency) {
  unidist::ActorOptions options;
  options.max_concurrency = max_concurrency;
  return options;
}

// A FIFO the test holds open for reading and writing, so that PassGate's open never
// waits and its read waits for Open's bytes (or for the end of the test, which closes it).
class Gate {
 public:
  Gate() {
    char dir[] = "/tmp/unidist_gate_XXXXXX";
    if (mkdtemp(dir) != nullptr) dir_ = dir;
    path_ = dir_ + "/gate";
    if (!dir_.empty() && mkfifo(path_.c_str(), 0600) == 0) {
      fd_ = open(path_.c_str(), O_RDWR | O_CLOEXEC);
    }
  }
  ~Gate() {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  bool ok() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  // Lets `calls` waiting calls through.
  void Open(int calls) {
    const std::string bytes(static_cast<size_t>(calls), '1');
    ASSERT_EQ(write(fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

TEST_F(ActorConcurrencyTest, CallsOverlapUpToMaxConcurrency) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  Actor<Meeting> meeting = CreateActor<Meeting>(Concurrency(3));
  // Each round of three meets only if three calls run at once.
  std::vector<ObjectRef<void>> meets;
  for (int i = 0; i < 9; ++i) meets.push_back(meeting.Submit(&Meeting::Meet, 3, 60000));
  for (const ObjectRef<void>& met : meets) EXPECT_THAT(Get(met), IsOk());
  EXPECT_THAT(Get(meeting.Submit(&Meeting::Peak)), IsOkAndHolds(3));
}

TEST_F(ActorConcurrencyTest, NoMoreCallsRunAtOnceThanMaxConcurrency) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  for (int limit : {1, 2}) {
    SCOPED_TRACE(limit);
    Actor<Meeting> meeting = CreateActor<Meeting>(Concurrency(limit));
    // limit + 1 calls that each wait for all of them: with one thread too few, none meets
    // (whatever the timeout), and no more than `limit` were ever inside.
    std::vector<ObjectRef<void>> meets;
    for (int i = 0; i <= limit; ++i) {
      meets.push_back(meeting.Submit(&Meeting::Meet, limit + 1, 200));
    }
    for (const ObjectRef<void>& met : meets) {
      EXPECT_THAT(Get(met), StatusIs(absl::StatusCode::kDeadlineExceeded));
    }
    EXPECT_THAT(Get(meeting.Submit(&Meeting::Peak)), IsOkAndHolds(limit));
  }
}

TEST_F(ActorConcurrencyTest, OverlappingCallsGetTheirOwnAnswersFromTheDriver) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  Actor<Meeting> meeting = CreateActor<Meeting>(Concurrency(4));
  std::vector<ObjectRef<int>> sums;
  for (int call = 0; call < 4; ++call) {
    sums.push_back(meeting.Submit(&Meeting::MeetThenSumSquares, 4, call * 100, 30));
  }
  for (int call = 0; call < 4; ++call) {
    int expected = 0;
    for (int i = call * 100; i < call * 100 + 30; ++i) expected += i * i;
    EXPECT_THAT(Get(sums[call]), IsOkAndHolds(expected)) << "call " << call;
  }
}

TEST_F(ActorConcurrencyTest, EveryCallRunsOnceOnEveryBackend) {
  // On the sequential backend the calls run one at a time: still each exactly once.
  Actor<Meeting> meeting = CreateActor<Meeting>(Concurrency(4));
  std::vector<ObjectRef<int>> totals;
  for (int i = 1; i <= 100; ++i) totals.push_back(meeting.Submit(&Meeting::Add, i));
  for (const ObjectRef<int>& total : totals) EXPECT_THAT(Get(total), IsOk());
  EXPECT_THAT(Get(meeting.Submit(&Meeting::Add, 0)), IsOkAndHolds(5050));
}

TEST_F(ActorConcurrencyTest, MaxConcurrencyOutOfRangeIsRefused) {
  for (int bad : {0, -1, unidist::kMaxActorConcurrency + 1}) {
    Actor<Meeting> meeting = CreateActor<Meeting>(Concurrency(bad));
    EXPECT_THAT(Get(meeting.Created()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_concurrency")));
    EXPECT_THAT(Get(meeting.Submit(&Meeting::Peak)), StatusIs(absl::StatusCode::kInvalidArgument));
  }
}

TEST_F(ActorConcurrencyTest, AQueuedCallIsCancelledWhileEveryThreadIsBusy) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  Gate gate;
  ASSERT_TRUE(gate.ok());
  Actor<Meeting> meeting = CreateActor<Meeting>(Concurrency(2));
  unidist::testing::TaskSignal started;
  ObjectRef<int> first = meeting.Submit(&Meeting::Gate, started.path(), gate.path());
  ObjectRef<int> second = meeting.Submit(&Meeting::Gate, started.path(), gate.path());
  ObjectRef<int> queued = meeting.Submit(&Meeting::Add, 1);
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());  // both threads are held
  ASSERT_THAT(unidist::Cancel(queued), IsOk());
  gate.Open(2);
  EXPECT_THAT(Get(first), IsOkAndHolds(1));
  EXPECT_THAT(Get(second), IsOkAndHolds(1));
  EXPECT_THAT(Get(queued), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Get(meeting.Submit(&Meeting::Add, 2)), IsOkAndHolds(2));  // it never ran
}

TEST_F(ActorConcurrencyTest, ADeathFailsTheRunningCallsAsRunningAndTheQueuedOnesAsNot) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  Gate gate;
  ASSERT_TRUE(gate.ok());
  Actor<Meeting> meeting = CreateActor<Meeting>(Concurrency(2));
  const absl::StatusOr<int> pid = Get(meeting.Submit(&Meeting::Pid));
  ASSERT_THAT(pid, IsOk());
  unidist::testing::TaskSignal started;
  ObjectRef<int> first = meeting.Submit(&Meeting::Gate, started.path(), gate.path());
  ObjectRef<int> second = meeting.Submit(&Meeting::Gate, started.path(), gate.path());
  ObjectRef<int> queued = meeting.Submit(&Meeting::Add, 1);
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());
  ASSERT_EQ(kill(*pid, SIGKILL), 0);
  EXPECT_THAT(Get(first), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("while running")));
  EXPECT_THAT(Get(second), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("while running")));
  EXPECT_THAT(Get(queued), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("before running")));
}

TEST_F(ActorConcurrencyTest, ARestartedActorRunsItsCallsOnAsManyThreads) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  unidist::ActorOptions options = Concurrency(2);
  options.max_restarts = 1;
  options.max_task_retries = -1;
  Actor<Meeting> meeting = CreateActor<Meeting>(options);
  const absl::StatusOr<int> pid = Get(meeting.Submit(&Meeting::Pid));
  ASSERT_THAT(pid, IsOk());
  ASSERT_EQ(kill(*pid, SIGKILL), 0);
  // Whether it reached the dead process or waited for the new one, the call runs on the
  // new instance (max_task_retries -1).
  EXPECT_THAT(Get(meeting.Submit(&Meeting::Restarted)), IsOkAndHolds(true));
  ObjectRef<void> one = meeting.Submit(&Meeting::Meet, 2, 60000);
  ObjectRef<void> two = meeting.Submit(&Meeting::Meet, 2, 60000);
  EXPECT_THAT(Get(one), IsOk());
  EXPECT_THAT(Get(two), IsOk());
}

TEST_F(ActorConcurrencyTest, TheLastHandleEndsTheActorAfterItsCalls) {
  std::vector<ObjectRef<int>> totals;
  {
    Actor<Meeting> meeting = CreateActor<Meeting>(Concurrency(3));
    for (int i = 1; i <= 30; ++i) totals.push_back(meeting.Submit(&Meeting::Add, 1));
  }
  std::vector<int> seen;
  for (const ObjectRef<int>& total : totals) {
    absl::StatusOr<int> value = Get(total);
    ASSERT_THAT(value, IsOk());
    seen.push_back(*value);
  }
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < 30; ++i) EXPECT_EQ(seen[i], i + 1);
}

TEST_F(ActorConcurrencyTest, ExitActorCancelsTheCallsNotStarted) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  Gate gate;
  ASSERT_TRUE(gate.ok());
  Actor<Meeting> meeting = CreateActor<Meeting>(Concurrency(2));
  unidist::testing::TaskSignal started;
  ObjectRef<int> held = meeting.Submit(&Meeting::Gate, started.path(), gate.path());
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());
  // The other thread runs Exit; the call queued behind it never runs.
  EXPECT_THAT(Get(meeting.Submit(&Meeting::Exit)), IsOk());
  ObjectRef<int> later = meeting.Submit(&Meeting::Add, 1);
  gate.Open(1);
  EXPECT_THAT(Get(held), IsOkAndHolds(1));  // the call already running ends normally
  EXPECT_THAT(Get(later), StatusIs(absl::StatusCode::kCancelled, HasSubstr("exited")));
}

}  // namespace
