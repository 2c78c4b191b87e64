// Copyright 2026 The unidist-cpp Authors.
//
// Nested tasks: tasks and actor methods that call Submit, Put, Get and Wait themselves.

#include <signal.h>

#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace nested {

int64_t Fibonacci(int n) {
  if (n < 2) return n;
  unidist::ObjectRef<int64_t> a = unidist::Submit(Fibonacci, n - 1);
  unidist::ObjectRef<int64_t> b = unidist::Submit(Fibonacci, n - 2);
  absl::StatusOr<int64_t> x = unidist::Get(a);
  absl::StatusOr<int64_t> y = unidist::Get(b);
  if (!x.ok()) throw std::runtime_error(std::string(x.status().message()));
  if (!y.ok()) throw std::runtime_error(std::string(y.status().message()));
  return *x + *y;
}

int64_t Sum(std::vector<int> values) { return std::accumulate(values.begin(), values.end(), 0LL); }
int Square(int x) { return x * x; }
int SleepMs(int ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return ms;
}
int Fails(int) { throw std::invalid_argument("inner trouble"); }

// Put, Submit with a ref, Wait and Get from inside a task.
int64_t PutSubmitWaitGet(int n) {
  std::vector<int> values(n);
  std::iota(values.begin(), values.end(), 1);
  unidist::ObjectRef<std::vector<int>> stored = unidist::Put(values);
  std::vector<unidist::ObjectRef<int64_t>> sums = {unidist::Submit(Sum, stored),
                                                   unidist::Submit(Sum, stored)};
  unidist::WaitResult<int64_t> both = unidist::Wait(sums, 2);
  if (both.ready.size() != 2) return -1;
  absl::StatusOr<std::vector<int64_t>> got = unidist::Get(sums);
  return got.ok() ? (*got)[0] + (*got)[1] : -2;
}

// What a nested Get with a timeout says.
std::string NestedTimeout() {
  unidist::ObjectRef<int> slow = unidist::Submit(SleepMs, 2000);
  absl::StatusOr<int> value = unidist::Get(slow, absl::Milliseconds(50));
  unidist::WaitResult<int> waited =
      unidist::Wait(std::vector<unidist::ObjectRef<int>>{slow}, 1, absl::Milliseconds(50));
  return value.status().ToString() + " | ready=" + std::to_string(waited.ready.size());
}

absl::Status PassesInnerError() {
  absl::StatusOr<int> inner = unidist::Get(unidist::Submit(Fails, 1));
  return inner.status();
}

// What CreateActor and Cancel say inside a task.
std::vector<std::pair<std::string, std::string>> DriverOnlyCallsInside();

int SubmitThenCrash(int) {
  unidist::Submit(SleepMs, 10);
  raise(SIGKILL);
  return 0;
}

class Calculator {
 public:
  Calculator() = default;
  int SquareRemotely(int x) {
    absl::StatusOr<int> squared = unidist::Get(unidist::Submit(Square, x));
    return squared.ok() ? (total_ += *squared) : -1;
  }

 private:
  int total_ = 0;
};
UNIDIST_ACTOR(Calculator);
UNIDIST_REMOTE(&Calculator::SquareRemotely);

// Makes every call a task may not make (api/unidist.h, "Calls a task may not make");
// returns what each answered, as (call, status), then whether a nested task still runs.
std::vector<std::pair<std::string, std::string>> DriverOnlyCallsInside() {
  std::vector<std::pair<std::string, std::string>> said;
  auto add = [&said](std::string call, const absl::Status& status) {
    said.emplace_back(std::move(call), status.ToString());
  };
  add("Init", unidist::Init());
  add("Shutdown", unidist::Shutdown());
  unidist::Actor<Calculator> calculator = unidist::CreateActor<Calculator>();
  add("CreateActor", unidist::Get(calculator.Created()));
  add("CreateActor method",
      unidist::Get(calculator.Submit(&Calculator::SquareRemotely, 2)).status());
  add("Cancel", unidist::Cancel(unidist::Submit(Square, 2)));
  add("Cancel force", unidist::Cancel(unidist::Submit(Square, 3), /*force=*/true));
  add("Cancel empty", unidist::Cancel(unidist::ObjectRef<int>()));
  add("Cancel put", unidist::Cancel(unidist::Put(4)));
  add("StartTimeline", unidist::StartTimeline());
  add("WriteTimeline", unidist::WriteTimeline("/dev/null"));
  // Nothing was shut down: nested tasks still run.
  add("nested Submit", unidist::Get(unidist::Submit(Square, 5)).status());
  return said;
}

}  // namespace nested

UNIDIST_REMOTE(nested::Fibonacci, nested::Sum, nested::Square, nested::SleepMs, nested::Fails,
               nested::PutSubmitWaitGet, nested::NestedTimeout, nested::PassesInnerError,
               nested::SubmitThenCrash, nested::DriverOnlyCallsInside);

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

class NestedTest : public unidist::testing::UnidistTest {};

// Every Fibonacci task waits for two others: with 2 workers, waiting workers must keep
// running queued tasks or the pool deadlocks.
TEST_F(NestedTest, RecursiveFibonacciOnTwoWorkers) {
  absl::StatusOr<int64_t> fib = unidist::Get(unidist::Submit(nested::Fibonacci, 15));
  ASSERT_THAT(fib, IsOk());
  EXPECT_EQ(*fib, 610);
  EXPECT_EQ(unidist::GetStats().workers_replaced, 0u);
}

TEST_F(NestedTest, PutSubmitWaitAndGetInsideATask) {
  EXPECT_THAT(unidist::Get(unidist::Submit(nested::PutSubmitWaitGet, 100)), IsOkAndHolds(2 * 5050));
  // What the task held is released when its refs go.
  for (int i = 0; i < 200 && unidist::GetStats().live_objects > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(unidist::GetStats().live_objects, 0u);
}

TEST_F(NestedTest, TimeoutsInsideATask) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kConcurrentWithDriver);
  absl::StatusOr<std::string> said = unidist::Get(unidist::Submit(nested::NestedTimeout));
  ASSERT_THAT(said, IsOk());
  EXPECT_THAT(*said, HasSubstr("DEADLINE_EXCEEDED"));
  EXPECT_THAT(*said, HasSubstr("ready=0"));
}

TEST_F(NestedTest, AnInnerErrorReachesTheCaller) {
  EXPECT_THAT(unidist::Get(unidist::Submit(nested::PassesInnerError)),
              StatusIs(absl::StatusCode::kUnknown, HasSubstr("inner trouble")));
}

TEST_F(NestedTest, ActorMethodsSubmitTasks) {
  unidist::Actor<nested::Calculator> calculator = unidist::CreateActor<nested::Calculator>();
  EXPECT_THAT(unidist::Get(calculator.Submit(&nested::Calculator::SquareRemotely, 3)),
              IsOkAndHolds(9));
  EXPECT_THAT(unidist::Get(calculator.Submit(&nested::Calculator::SquareRemotely, 4)),
              IsOkAndHolds(25));
}

// One answer for every driver-only call, on every backend (the sequential one runs the
// task in the driver's thread): FailedPrecondition, "<call> cannot be called from inside a
// task".
TEST_F(NestedTest, DriverOnlyCallsAreRefusedInsideATask) {
  auto refused = [](const std::string& call) {
    return "FAILED_PRECONDITION: " + call + " cannot be called from inside a task";
  };
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> said =
      unidist::Get(unidist::Submit(nested::DriverOnlyCallsInside));
  ASSERT_THAT(said, IsOk());
  EXPECT_THAT(
      *said,
      ElementsAre(Pair("Init", refused("Init")), Pair("Shutdown", refused("Shutdown")),
                  Pair("CreateActor", refused("CreateActor")),
                  Pair("CreateActor method", refused("CreateActor")),
                  Pair("Cancel", refused("Cancel")), Pair("Cancel force", refused("Cancel")),
                  Pair("Cancel empty", refused("Cancel")), Pair("Cancel put", refused("Cancel")),
                  Pair("StartTimeline", refused("StartTimeline")),
                  Pair("WriteTimeline", refused("WriteTimeline")), Pair("nested Submit", "OK")));
  // The driver's runtime is untouched.
  EXPECT_TRUE(unidist::IsInitialized());
  EXPECT_THAT(unidist::Get(unidist::Submit(nested::Square, 6)), IsOkAndHolds(36));
}

TEST_F(NestedTest, ACrashAfterANestedSubmitFailsOnlyTheCrashedTask) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSurvivesWorkerCrash);
  EXPECT_THAT(unidist::Get(unidist::Submit(nested::SubmitThenCrash, 0)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("signal 9")));
  EXPECT_THAT(unidist::Get(unidist::Submit(nested::Square, 7)), IsOkAndHolds(49));
  for (int i = 0; i < 300 && unidist::GetStats().live_objects > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(unidist::GetStats().live_objects, 0u);  // the dead worker's objects are freed
}

}  // namespace
