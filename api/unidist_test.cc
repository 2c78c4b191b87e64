// Copyright 2026 The unidist-cpp Authors.
//
// End-to-end tests of the public API on real worker processes.

#include "unidist/unidist.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/internal/runtime.h"
#include "common/worker_protocol.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/duration.pb.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/task_signal.h"
#include "unidist/testing/unidist_test.h"

namespace unidist_test_functions {

int Square(int x) { return x * x; }
int Add(int a, int b) { return a + b; }
std::string Concat(const std::string& a, std::string b) { return a + b; }
int WhoAmI() { return static_cast<int>(getpid()); }
int ParentPid() { return static_cast<int>(getppid()); }
long long Sum(const std::vector<int>& xs) {
  long long sum = 0;
  for (int x : xs) sum += x;
  return sum;
}
uint64_t Checksum(const std::vector<uint8_t>& bytes) {
  uint64_t sum = 0;
  for (uint8_t b : bytes) sum = sum * 31 + b;
  return sum;
}
int SleepMs(int ms) {
  absl::SleepFor(absl::Milliseconds(ms));
  return ms;
}
// SleepMs, once it has told the test it runs (unidist::testing::TaskSignal).
int NotifyThenSleepMs(std::string signal, int ms) {
  unidist::testing::NotifyTaskSignal(signal);
  return SleepMs(ms);
}
int Thrower(int) { throw std::runtime_error("boom"); }
int ThrowsInt() { throw 42; }
absl::Status ReturnsStatus(bool fail) {
  if (!fail) return absl::OkStatus();
  absl::Status status = absl::NotFoundError("missing thing");
  status.SetPayload("example.com/detail", absl::Cord("why"));
  return status;
}
// Tries the API from inside a task; returns what it said.
std::string UsesTheApiInside() {
  absl::Status init = unidist::Init();
  absl::StatusOr<int> nested = unidist::Get(unidist::Submit(Square, 2));
  return init.ToString() + " | " + nested.status().ToString();
}
absl::StatusOr<int> ReturnsStatusOr(int x) {
  if (x < 0) return absl::OutOfRangeError("negative: " + std::to_string(x));
  return x * 10;
}
int Segfault(int) {
  raise(SIGSEGV);
  return 0;
}
std::tuple<int, int, std::string> MinMaxName(std::vector<int> xs) {
  return {*std::min_element(xs.begin(), xs.end()), *std::max_element(xs.begin(), xs.end()),
          "minmax"};
}
void WriteFile(std::string path, std::string text) {
  FILE* file = fopen(path.c_str(), "w");
  fputs(text.c_str(), file);
  fclose(file);
}
int NotRegistered(int x) { return x; }
// Crashes its worker the first time it runs for `marker_path` (which it creates).
int CrashOnce(std::string marker_path) {
  if (access(marker_path.c_str(), F_OK) != 0) {
    FILE* marker = fopen(marker_path.c_str(), "w");
    fclose(marker);
    raise(SIGKILL);
  }
  return 7;
}
std::string Repeat(int bytes) { return std::string(bytes, 'r'); }
// Takes `bytes` of memory, 8 MiB at a time, touching every page; returns how much it held.
uint64_t Hog(uint64_t bytes) {
  std::vector<std::vector<char>> held;
  uint64_t total = 0;
  while (total < bytes) {
    held.emplace_back(size_t{8} << 20, 'h');
    total += held.back().size();
  }
  return total;
}
size_t Length(const std::string& s) { return s.size(); }

enum class Color : uint8_t { kRed = 1, kGreen = 2 };
struct Point {
  double x = 0;
  double y = 0;
  std::string label;
  auto UnidistFields() { return std::tie(x, y, label); }
  bool operator==(const Point& other) const {
    return x == other.x && y == other.y && label == other.label;
  }
};

template <typename T>
T Echo(T value) {
  return value;
}

using Nested = std::map<std::string, std::vector<std::optional<std::pair<int, Point>>>>;
using StringToInt = std::unordered_map<std::string, int>;
using FlatMap = absl::flat_hash_map<int, std::string>;
using IntArray = std::array<int, 3>;
using Tuple = std::tuple<int, std::string, double>;
using Duration = google::protobuf::Duration;

}  // namespace unidist_test_functions

namespace fns = unidist_test_functions;

UNIDIST_REMOTE(fns::Square, fns::Add, fns::Concat, fns::WhoAmI, fns::Sum, fns::Checksum);
UNIDIST_REMOTE(fns::ParentPid, fns::Hog);
UNIDIST_REMOTE(fns::SleepMs, fns::NotifyThenSleepMs, fns::Thrower, fns::ThrowsInt,
               fns::ReturnsStatus);
UNIDIST_REMOTE(fns::ReturnsStatusOr, fns::Segfault, fns::MinMaxName, fns::WriteFile);
UNIDIST_REMOTE(fns::CrashOnce, fns::Repeat, fns::Length, fns::UsesTheApiInside);
UNIDIST_REMOTE(fns::Echo<int>, fns::Echo<double>, fns::Echo<bool>, fns::Echo<std::string>,
               fns::Echo<fns::Color>, fns::Echo<fns::Point>, fns::Echo<fns::Nested>,
               fns::Echo<fns::StringToInt>, fns::Echo<fns::FlatMap>, fns::Echo<fns::IntArray>,
               fns::Echo<fns::Tuple>, fns::Echo<std::optional<int>>, fns::Echo<fns::Duration>,
               fns::Echo<std::vector<std::string>>, fns::Echo<std::pair<int, std::string>>);

namespace unidist {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

class UnidistTest : public testing::UnidistTest {};

// How long a test waits for a task to start: a bound against hanging, not an expectation.
constexpr absl::Duration kStartTimeout = absl::Seconds(60);

// Put/Get and a task round trip for one value of each codec type.
template <typename T>
void ExpectRoundTrips(const T& value) {
  absl::StatusOr<T> got = Get(Put(value));
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(*got == value) << TypeName<T>();
  absl::StatusOr<T> echoed = Get(Submit(fns::Echo<T>, value));
  ASSERT_THAT(echoed, IsOk());
  EXPECT_TRUE(*echoed == value) << TypeName<T>();
  absl::StatusOr<T> echoed_ref = Get(Submit(fns::Echo<T>, Put(value)));
  ASSERT_THAT(echoed_ref, IsOk());
  EXPECT_TRUE(*echoed_ref == value) << TypeName<T>();
}

TEST_F(UnidistTest, EveryCodecTypeRoundTripsThroughPutGetAndTasks) {
  ExpectRoundTrips(42);
  ExpectRoundTrips(3.25);
  ExpectRoundTrips(true);
  ExpectRoundTrips(std::string("hello\0world", 11));
  ExpectRoundTrips(fns::Color::kGreen);
  ExpectRoundTrips(fns::Point{1.5, -2, "p"});
  fns::Nested nested;
  nested["a"] = {std::nullopt, std::make_pair(7, fns::Point{1, 2, "q"})};
  nested["b"] = {};
  ExpectRoundTrips(nested);
  ExpectRoundTrips(fns::StringToInt{{"x", 1}, {"y", 2}});
  ExpectRoundTrips(fns::FlatMap{{1, "one"}, {2, "two"}});
  ExpectRoundTrips(fns::IntArray{4, 5, 6});
  ExpectRoundTrips(fns::Tuple{1, "two", 3.0});
  ExpectRoundTrips(std::optional<int>(9));
  ExpectRoundTrips(std::optional<int>());
  ExpectRoundTrips(std::vector<std::string>{"a", "", "ccc"});
  ExpectRoundTrips(std::make_pair(5, std::string("five")));
  fns::Duration duration;
  duration.set_seconds(12);
  duration.set_nanos(34);
  absl::StatusOr<fns::Duration> got = Get(Submit(fns::Echo<fns::Duration>, duration));
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->seconds(), 12);
  EXPECT_EQ(got->nanos(), 34);
}

TEST_F(UnidistTest, ThousandsOfTasksAllCorrect) {
  std::vector<ObjectRef<int>> refs;
  for (int i = 0; i < 5000; ++i) refs.push_back(Submit(fns::Square, i));
  absl::StatusOr<std::vector<int>> values = Get(refs);
  ASSERT_THAT(values, IsOk());
  for (int i = 0; i < 5000; ++i) ASSERT_EQ((*values)[i], i * i);
}

TEST_F(UnidistTest, TasksRunRoundRobinOnWorkerProcesses) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  std::vector<WorkerInfo> workers = Workers();
  ASSERT_EQ(workers.size(), 2u);
  std::vector<ObjectRef<int>> refs;
  for (int i = 0; i < 8; ++i) refs.push_back(Submit(fns::WhoAmI));
  absl::StatusOr<std::vector<int>> pids = Get(refs);
  ASSERT_THAT(pids, IsOk());
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ((*pids)[i], workers[i % 2].pid) << "task " << i;
    EXPECT_NE((*pids)[i], getpid());
  }
}

TEST_F(UnidistTest, ValueAndRefArgumentsMix) {
  ObjectRef<int> five = Put(5);
  EXPECT_THAT(Get(Submit(fns::Add, five, 3)), ::testing::Eq(absl::StatusOr<int>(8)));
  EXPECT_THAT(Get(Submit(fns::Concat, "ab", Put(std::string("cd")))), IsOkAndHolds("abcd"));
  std::vector<int> numbers(1000);
  for (int i = 0; i < 1000; ++i) numbers[i] = i;
  EXPECT_THAT(Get(Submit(fns::Sum, Put(numbers))), IsOkAndHolds(499500));
}

TEST_F(UnidistTest, ChainOfDependentTasksSubmittedBeforeInputsAreReady) {
  ObjectRef<int> value = Submit(fns::SleepMs, 100);
  for (int i = 0; i < 300; ++i) value = Submit(fns::Add, value, 1);
  EXPECT_THAT(Get(value), IsOkAndHolds(400));
}

TEST_F(UnidistTest, FanInOfPendingResults) {
  ObjectRef<int> slow = Submit(fns::SleepMs, 50);
  ObjectRef<int> fast = Submit(fns::Square, 3);
  EXPECT_THAT(Get(Submit(fns::Add, slow, fast)), IsOkAndHolds(59));
}

TEST_F(UnidistTest, WaitReturnsReadyRefsInCallersOrder) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kConcurrentWithDriver);
  ObjectRef<int> slow = Submit(fns::SleepMs, 5000);
  ObjectRef<int> fast_a = Submit(fns::Square, 2);
  ObjectRef<int> fast_b = Put(7);
  const std::vector<ObjectRef<int>> refs = {slow, fast_a, fast_b};

  WaitResult<int> one = Wait(refs, 1);
  ASSERT_EQ(one.ready.size(), 1u);
  EXPECT_EQ(one.not_ready.size(), 2u);

  WaitResult<int> two = Wait(refs, 2);
  ASSERT_EQ(two.ready.size(), 2u);
  EXPECT_EQ(two.ready[0].id(), fast_a.id());
  EXPECT_EQ(two.ready[1].id(), fast_b.id());
  ASSERT_EQ(two.not_ready.size(), 1u);
  EXPECT_EQ(two.not_ready[0].id(), slow.id());

  // Asking for all three with a timeout returns what is ready when it expires.
  WaitResult<int> timed_out = Wait(refs, 3, absl::Milliseconds(50));
  EXPECT_EQ(timed_out.ready.size(), 2u);
  EXPECT_EQ(timed_out.not_ready.size(), 1u);

  // num_returns is clamped; zero returns at once.
  EXPECT_EQ(Wait(std::vector<ObjectRef<int>>{fast_a}, 5).ready.size(), 1u);
  WaitResult<int> none = Wait(refs, 0);
  EXPECT_THAT(none.ready, IsEmpty());
  EXPECT_EQ(none.not_ready.size(), 3u);
}

TEST_F(UnidistTest, WaitCountsFailedRefsAsComplete) {
  ObjectRef<int> failed = Submit(fns::Thrower, 1);
  WaitResult<int> result = Wait(std::vector<ObjectRef<int>>{failed}, 1, absl::Seconds(60));
  EXPECT_EQ(result.ready.size(), 1u);
}

TEST_F(UnidistTest, GetOfAVectorReturnsAnErrorWithoutWaitingForTheRest) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kConcurrentWithDriver);
  // Get of a vector reads the refs in order (under one lock of the store); the first
  // error in that order is the answer as soon as it is there, not when the last ref
  // completes.
  const std::vector<ObjectRef<int>> refs = {Submit(fns::Square, 2), Submit(fns::Thrower, 1),
                                            Submit(fns::SleepMs, 600000)};
  EXPECT_THAT(Get(refs), StatusIs(absl::StatusCode::kUnknown, HasSubstr("boom")));
  // The same with the error already known when the batch starts.
  EXPECT_THAT(Get(refs), StatusIs(absl::StatusCode::kUnknown, HasSubstr("boom")));
}

// Get of a vector gives each ref's value whatever kind of entry holds it: a few bytes kept
// in the store's entry, larger ones in the heap or the shared-memory store, results of
// tasks and values put, refs of an earlier session; an empty ref among them is
// InvalidArgument once the refs before it are read.
TEST_F(UnidistTest, GetOfAVectorReadsEveryKindOfValue) {
  const std::string large(100000, 'x');
  std::vector<ObjectRef<std::string>> refs = {Put(std::string("a")), Put(large),
                                              Submit(fns::Echo<std::string>, std::string("b")),
                                              Submit(fns::Repeat, 50000), Put(std::string())};
  const std::vector<std::string> expected = {"a", large, "b", std::string(50000, 'r'), ""};
  EXPECT_THAT(Get(refs), IsOkAndHolds(expected));
  EXPECT_THAT(Get(std::vector<ObjectRef<std::string>>()), IsOkAndHolds(std::vector<std::string>()));

  refs.push_back(ObjectRef<std::string>());
  refs.push_back(Submit(fns::Echo<std::string>, std::string("after")));
  EXPECT_THAT(Get(refs), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));

  // Refs of the session before this one, then of this one.
  std::vector<ObjectRef<std::string>> mixed(refs.begin(), refs.begin() + 5);
  UNIDIST_ASSERT_OK(Shutdown());
  UNIDIST_ASSERT_OK(Init(Options{2, ""}));
  mixed.push_back(Submit(fns::Echo<std::string>, std::string("new")));
  mixed.push_back(mixed[0]);
  std::vector<std::string> mixed_expected = expected;
  mixed_expected.push_back("new");
  mixed_expected.push_back("a");
  EXPECT_THAT(Get(mixed), IsOkAndHolds(mixed_expected));
}

// A worker that dies under one of the refs fails Get of the vector with that ref's
// Unavailable, once the refs before it are read; the pool recovers for the next Get.
TEST_F(UnidistTest, GetOfAVectorReportsAWorkerDeath) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSurvivesWorkerCrash);
  const std::vector<ObjectRef<int>> refs = {Submit(fns::Square, 3), Submit(fns::Segfault, 0),
                                            Submit(fns::Square, 4)};
  EXPECT_THAT(Get(refs), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Get(std::vector<ObjectRef<int>>{refs[0], refs[2]}),
              IsOkAndHolds(std::vector<int>{9, 16}));
}

// A worker killed from outside while the driver waits for its task: the Wait returns with
// the task's ref complete (failed), beside one that was complete before. The kill may land
// before the Wait starts or during it; either way the outcome is the same.
TEST_F(UnidistTest, WaitReturnsWhenAWorkerIsKilledUnderIt) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  testing::TaskSignal started;
  const std::vector<ObjectRef<int>> refs = {Submit(fns::Square, 3),
                                            Submit(fns::NotifyThenSleepMs, started.path(), 60000)};
  ASSERT_THAT(Get(refs[0]), IsOkAndHolds(9));
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());
  std::vector<int> pids;
  for (const WorkerInfo& worker : Workers()) pids.push_back(worker.pid);
  std::thread killer([&pids] {
    for (int pid : pids) kill(pid, SIGKILL);
  });
  const WaitResult<int> waited = Wait(refs, static_cast<int>(refs.size()), absl::Seconds(60));
  killer.join();
  EXPECT_EQ(waited.ready.size(), 2u);
  EXPECT_THAT(Get(refs[1]), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("signal 9")));
  EXPECT_THAT(Get(Submit(fns::Square, 4)), IsOkAndHolds(16));  // the pool has its workers back
}

TEST_F(UnidistTest, GetWithTimeoutGivesDeadlineExceeded) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kConcurrentWithDriver);
  ObjectRef<int> slow = Submit(fns::SleepMs, 5000);
  EXPECT_THAT(Get(slow, absl::Milliseconds(20)), StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_THAT(Get(Put(1), absl::ZeroDuration()), IsOk());
}

TEST_F(UnidistTest, ThrownExceptionNamesFunctionTypeAndWhat) {
  EXPECT_THAT(Get(Submit(fns::Thrower, 1)),
              StatusIs(absl::StatusCode::kUnknown,
                       ::testing::AllOf(HasSubstr("fns::Thrower"), HasSubstr("std::runtime_error"),
                                        HasSubstr("boom"))));
  EXPECT_THAT(Get(Submit(fns::ThrowsInt)),
              StatusIs(absl::StatusCode::kUnknown, HasSubstr("of type int")));
}

TEST_F(UnidistTest, ReturnedStatusPassesThroughUnchanged) {
  absl::Status status = Get(Submit(fns::ReturnsStatus, true));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "missing thing");
  // The task's own payloads come through; the function and worker are attached as a
  // payload of ours, not mixed into the message.
  EXPECT_EQ(status.GetPayload("example.com/detail"), absl::Cord("why"));
  std::optional<TaskFailure> failure = GetTaskFailure(status);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->function, "fns::ReturnsStatus");
  EXPECT_GT(failure->worker_pid, 0);
  EXPECT_FALSE(failure->worker_died);
  EXPECT_THAT(Get(Submit(fns::ReturnsStatus, false)), IsOk());
  EXPECT_FALSE(GetTaskFailure(absl::OkStatus()).has_value());

  absl::StatusOr<int> negative = Get(Submit(fns::ReturnsStatusOr, -1));
  EXPECT_EQ(negative.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(negative.status().message(), "negative: -1");
  EXPECT_THAT(Get(Submit(fns::ReturnsStatusOr, 4)), IsOkAndHolds(40));
}

TEST_F(UnidistTest, InitInsideATaskIsRefusedButNestedTasksRun) {
  absl::StatusOr<std::string> said = Get(Submit(fns::UsesTheApiInside));
  ASSERT_THAT(said, IsOk());
  EXPECT_THAT(*said, HasSubstr("FAILED_PRECONDITION: Init cannot be called from inside a task"));
  EXPECT_THAT(*said, HasSubstr("| OK"));  // the nested Submit and Get worked
  EXPECT_EQ(GetStats().workers_replaced, 0u);
}

TEST_F(UnidistTest, FailureOfAnArgumentFailsTheDependentTask) {
  ObjectRef<int> bad = Submit(fns::ReturnsStatusOr, -2);
  ObjectRef<int> dependent = Submit(fns::Square, bad);
  EXPECT_THAT(Get(dependent), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("negative")));
}

TEST_F(UnidistTest, CrashingTaskFailsWithUnavailableAndThePoolRecovers) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSurvivesWorkerCrash);
  const std::vector<WorkerInfo> before = Workers();
  ObjectRef<int> crashed = Submit(fns::Segfault, 0);
  EXPECT_THAT(Get(crashed),
              StatusIs(absl::StatusCode::kUnavailable,
                       ::testing::AllOf(HasSubstr("fns::Segfault"), HasSubstr("signal 11"),
                                        HasSubstr(std::to_string(before[0].pid)))));
  std::optional<TaskFailure> failure = GetTaskFailure(Get(crashed).status());
  ASSERT_TRUE(failure.has_value());
  EXPECT_TRUE(failure->worker_died);
  EXPECT_EQ(failure->worker_pid, before[0].pid);
  std::vector<ObjectRef<int>> refs;
  for (int i = 0; i < 100; ++i) refs.push_back(Submit(fns::Square, i));
  EXPECT_THAT(Get(refs), IsOk());
  const std::vector<WorkerInfo> after = Workers();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_NE(after[0].pid, before[0].pid);
  EXPECT_TRUE(after[0].alive);
}

TEST_F(UnidistTest, WorkerKilledFromOutsideFailsItsTask) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  testing::TaskSignal started;
  ObjectRef<int> slow = Submit(fns::NotifyThenSleepMs, started.path(), 60000);
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());
  // The first task of a session goes to worker 0, and runs there now.
  ASSERT_EQ(kill(Workers()[0].pid, SIGKILL), 0);
  EXPECT_THAT(Get(slow), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("signal 9")));
}

// Workers are forked by a fork server (process_manager/internal/fork_server.h) and die
// with it. Without it no worker can be replaced: tasks must fail, not hang, and a new
// session must start a new server.
TEST_F(UnidistTest, ForkServerKilledFailsTasksUntilANewSession) {
  if (unidist::testing::TestBackend() != "multiprocessing") {
    GTEST_SKIP() << "one fork server serves every worker only on the multiprocessing backend";
  }
  absl::StatusOr<int> fork_server = Get(Submit(fns::ParentPid));
  ASSERT_THAT(fork_server, IsOk());
  ASSERT_NE(*fork_server, getpid());  // the worker's parent is not the driver
  testing::TaskSignal started;
  ObjectRef<int> slow = Submit(fns::NotifyThenSleepMs, started.path(), 60000);
  ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());  // its worker runs it
  ASSERT_EQ(kill(*fork_server, SIGKILL), 0);
  EXPECT_THAT(Get(slow), StatusIs(absl::StatusCode::kUnavailable));
  // Every worker of the pool died with the server, and none could be replaced.
  absl::Status later = absl::OkStatus();
  for (int i = 0; i < 100 && later.ok(); ++i) {
    later = Get(Submit(fns::Square, i)).status();
    if (later.ok()) absl::SleepFor(absl::Milliseconds(50));  // a worker not yet reaped
  }
  EXPECT_THAT(later,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("the fork server is gone")));
  ASSERT_THAT(unidist::Shutdown(), IsOk());
  ASSERT_THAT(unidist::Init(), IsOk());
  EXPECT_EQ(Get(Submit(fns::Square, 7)).value_or(-1), 49);
  absl::StatusOr<int> new_server = Get(Submit(fns::ParentPid));
  ASSERT_THAT(new_server, IsOk());
  EXPECT_NE(*new_server, *fork_server);
}

TEST_F(UnidistTest, UnregisteredFunctionGivesAClearError) {
  // Named, not an address (issue #17): the program's symbol table knows it.
  EXPECT_THAT(Get(Submit(fns::NotRegistered, 1)),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("UNIDIST_REMOTE"),
                             HasSubstr("the function unidist_test_functions::NotRegistered"))));
}

TEST_F(UnidistTest, SubmitTupleGivesOneRefPerElement) {
  auto [min, max, name] = SubmitTuple(fns::MinMaxName, std::vector<int>{3, -1, 8});
  EXPECT_THAT(Get(min), IsOkAndHolds(-1));
  EXPECT_THAT(Get(max), IsOkAndHolds(8));
  EXPECT_THAT(Get(name), IsOkAndHolds("minmax"));
  EXPECT_THAT(Get(Submit(fns::Add, min, max)), IsOkAndHolds(7));
}

TEST_F(UnidistTest, VoidTasksRunForTheirEffect) {
  char path[] = "/tmp/unidist_void_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  ObjectRef<void> done = Submit(fns::WriteFile, std::string(path), std::string("written"));
  ASSERT_THAT(Get(done), IsOk());
  FILE* file = fopen(path, "r");
  char buffer[16] = {};
  ASSERT_NE(fgets(buffer, sizeof(buffer), file), nullptr);
  fclose(file);
  unlink(path);
  EXPECT_STREQ(buffer, "written");
}

TEST_F(UnidistTest, LargeObjectsCrossToWorkers) {
  std::vector<uint8_t> bytes(32 << 20);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7);
  const uint64_t expected = fns::Checksum(bytes);
  EXPECT_THAT(Get(Submit(fns::Checksum, Put(bytes))), IsOkAndHolds(expected));
}

TEST_F(UnidistTest, ConcurrentDriverThreads) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      std::vector<ObjectRef<int>> refs;
      for (int i = 0; i < 500; ++i) refs.push_back(Submit(fns::Add, t * 1000, i));
      absl::StatusOr<std::vector<int>> values = Get(refs);
      ASSERT_THAT(values, IsOk());
      for (int i = 0; i < 500; ++i) ASSERT_EQ((*values)[i], t * 1000 + i);
      WaitResult<int> all = Wait(refs, 500);
      EXPECT_EQ(all.ready.size(), 500u);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

TEST_F(UnidistTest, EmptyRefIsInvalidArgument) {
  EXPECT_THAT(Get(ObjectRef<int>()), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Get(Submit(fns::Square, ObjectRef<int>())),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty ObjectRef")));
}

TEST_F(UnidistTest, InitAgainWhileInitializedChangesNothing) {
  const std::vector<WorkerInfo> before = Workers();
  UNIDIST_EXPECT_OK(Init(Options{5, ""}));
  const std::vector<WorkerInfo> after = Workers();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(after[i].pid, before[i].pid);
}

TEST_F(UnidistTest, ShutdownCancelsTasksInFlightAndKeepsReadyObjects) {
  ObjectRef<int> ready = Put(11);
  ObjectRef<int> computed = Submit(fns::Square, 4);
  ASSERT_THAT(Get(computed), IsOkAndHolds(16));
  // Only where tasks run beside the driver can one still be running at Shutdown.
  const bool concurrent =
      unidist::testing::BackendHas(unidist::testing::BackendTrait::kConcurrentWithDriver);
  testing::TaskSignal started;
  ObjectRef<int> running =
      concurrent ? Submit(fns::NotifyThenSleepMs, started.path(), 60000) : ObjectRef<int>();
  ObjectRef<int> waiting = concurrent ? Submit(fns::Add, running, 1) : ObjectRef<int>();
  // Shut down while `running` runs on its worker, not while it is on its way there.
  if (concurrent) {
    ASSERT_THAT(started.WaitForNotify(kStartTimeout), IsOk());
  }
  UNIDIST_ASSERT_OK(Shutdown());
  if (concurrent) {
    EXPECT_THAT(Get(running), StatusIs(absl::StatusCode::kCancelled));
    EXPECT_THAT(Get(waiting), StatusIs(absl::StatusCode::kCancelled));
  }
  EXPECT_THAT(Get(ready), IsOkAndHolds(11));
  EXPECT_THAT(Get(computed), IsOkAndHolds(16));
  // Use after Shutdown is use before Init.
  EXPECT_THAT(Get(Submit(fns::Square, 2)), StatusIs(absl::StatusCode::kFailedPrecondition));
}

std::string TempPath() {
  char path[] = "/tmp/unidist_marker_XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  unlink(path);
  return path;
}

TEST_F(UnidistTest, MaxRetriesRunsATaskAgainWhenItsWorkerDies) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSurvivesWorkerCrash);
  const std::string marker = TempPath();
  EXPECT_THAT(Get(Submit(TaskOptions{/*max_retries=*/1}, fns::CrashOnce, marker)), IsOkAndHolds(7));
  EXPECT_EQ(GetStats().tasks_retried, 1u);
  EXPECT_EQ(GetStats().workers_replaced, 1u);
  unlink(marker.c_str());

  // Without retries the death is the task's result.
  const std::string other = TempPath();
  EXPECT_THAT(Get(Submit(fns::CrashOnce, other)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("signal 9")));
  unlink(other.c_str());
}

TEST_F(UnidistTest, RetriesStopAfterMaxRetries) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSurvivesWorkerCrash);
  // The error tells every death apart (Dask's KilledWorker), not only the last one.
  EXPECT_THAT(Get(Submit(TaskOptions{2}, fns::Segfault, 0)),
              StatusIs(absl::StatusCode::kUnavailable,
                       AllOf(HasSubstr("signal 11"),
                             HasSubstr("all 3 runs of the task ended with their worker's death"),
                             HasSubstr("(1) "), HasSubstr("(2) "), HasSubstr("(3) "))));
  EXPECT_EQ(GetStats().tasks_retried, 2u);
  EXPECT_EQ(GetStats().workers_replaced, 3u);
}

TEST_F(UnidistTest, AWorkerOverItsMemoryLimitIsStoppedAndItsTaskFails) {
  // Workers that the pool watches (the multiprocessing backend's).
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSharedMemory);
  UNIDIST_ASSERT_OK(Shutdown());
  Options options;
  options.num_workers = 1;
  // Roomy enough for a sanitizer's overhead (ASan: shadow memory and quarantine).
  options.worker_memory_limit = size_t{512} << 20;
  UNIDIST_ASSERT_OK(Init(options));
  // Far more than the limit: caught on the way (it would hold 4 GiB if it were not).
  EXPECT_THAT(Get(Submit(TaskOptions{/*max_retries=*/3}, fns::Hog, uint64_t{4} << 30)),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("worker_memory_limit (512 MiB)"), HasSubstr("fns::Hog"))));
  EXPECT_EQ(GetStats().tasks_retried, 0u);  // not retried: it would only grow again
  // Under the limit all is well, on the replacement.
  EXPECT_THAT(Get(Submit(fns::Hog, uint64_t{16} << 20)), IsOkAndHolds(uint64_t{16} << 20));
  EXPECT_EQ(GetStats().workers_replaced, 1u);
  // Whatever the limit, workers are the OOM killer's first choice, not the driver.
  for (const unidist::WorkerInfo& worker : unidist::Workers()) {
    std::ifstream adj(absl::StrCat("/proc/", worker.pid, "/oom_score_adj"));
    int score = 0;
    adj >> score;
    EXPECT_EQ(score, 1000) << "worker pid " << worker.pid;
  }
  UNIDIST_ASSERT_OK(Shutdown());
  options.worker_memory_limit = 1000;
  EXPECT_THAT(Init(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("worker_memory_limit")));
  UNIDIST_ASSERT_OK(Init(Options{2, ""}));  // for TearDown
}

// Results come back through each pool worker's result ring when asked for: one far
// smaller than a result passes it in parts; without rings they come on the socket; a bad
// size is refused.
TEST_F(UnidistTest, ResultRingsCanBeSizedOrTurnedOff) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSharedMemory);
  for (size_t ring : {size_t{4096}, size_t{1} << 20, Options::kNoResultRing}) {
    UNIDIST_ASSERT_OK(Shutdown());
    Options options;
    options.num_workers = 2;
    options.result_ring_bytes = ring;
    UNIDIST_ASSERT_OK(Init(options));
    std::vector<ObjectRef<std::string>> refs;
    for (int i = 0; i < 20; ++i) refs.push_back(Submit(fns::Repeat, 10'000 * i));
    for (int i = 0; i < 20; ++i) {
      absl::StatusOr<std::string> value = Get(refs[i]);
      ASSERT_TRUE(value.ok()) << value.status();
      EXPECT_EQ(value->size(), size_t{10'000} * i) << ring;
    }
  }
  UNIDIST_ASSERT_OK(Shutdown());
  Options options;
  options.result_ring_bytes = 3000;
  EXPECT_THAT(Init(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("result_ring_bytes")));
  options.result_ring_bytes = Options::kNoResultRing;
  setenv("UNIDIST_RESULT_RING_BYTES", "4096", 1);  // the option wins
  UNIDIST_ASSERT_OK(Init(options));
  UNIDIST_ASSERT_OK(Shutdown());
  setenv("UNIDIST_RESULT_RING_BYTES", "lots", 1);
  EXPECT_THAT(Init(Options{2, ""}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UNIDIST_RESULT_RING_BYTES")));
  unsetenv("UNIDIST_RESULT_RING_BYTES");
  UNIDIST_ASSERT_OK(Init(Options{2, ""}));  // for TearDown
}

TEST_F(UnidistTest, ErrorsTheTaskReportsAreNeverRetried) {
  EXPECT_THAT(Get(Submit(TaskOptions{3}, fns::Thrower, 0)), StatusIs(absl::StatusCode::kUnknown));
  EXPECT_THAT(Get(Submit(TaskOptions{3}, fns::ReturnsStatusOr, -1)),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_EQ(GetStats().tasks_retried, 0u);
}

TEST_F(UnidistTest, SubmitTupleTakesOptionsToo) {
  auto [min, max, name] = SubmitTuple(TaskOptions{1}, fns::MinMaxName, std::vector<int>{2, 9});
  EXPECT_THAT(Get(max), IsOkAndHolds(9));
}

TEST_F(UnidistTest, ObjectsLeaveTheStoreWithTheirLastRef) {
  {
    std::vector<ObjectRef<std::string>> refs;
    for (int i = 0; i < 100; ++i) refs.push_back(Put(std::string(1000, 'x')));
    EXPECT_EQ(GetStats().live_objects, 100u);
    EXPECT_EQ(GetStats().bytes_held, 100u * (1000 + 8 + 2));  // tag + length + bytes
    std::vector<ObjectRef<std::string>> copies = refs;
    refs.clear();
    EXPECT_EQ(GetStats().live_objects, 100u);  // the copies still hold them
  }
  EXPECT_EQ(GetStats().live_objects, 0u);
  EXPECT_EQ(GetStats().bytes_held, 0u);

  // A pending task keeps its argument alive after the caller drops the ref; dropping a
  // result ref before the task finishes leaves nothing behind when it does.
  ObjectRef<int> slow = Submit(fns::SleepMs, 100);
  ObjectRef<int> dependent = Submit(fns::Add, Put(1), slow);
  Submit(fns::Square, Put(3));  // result dropped at once
  EXPECT_THAT(Get(dependent), IsOkAndHolds(101));
  slow = ObjectRef<int>();
  dependent = ObjectRef<int>();
  for (int i = 0; i < 500 && GetStats().live_objects > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(GetStats().live_objects, 0u);
  EXPECT_EQ(GetStats().tasks_in_flight, 0u);
  EXPECT_EQ(GetStats().tasks_waiting, 0u);
}

TEST_F(UnidistTest, ManyPutSubmitGetDropCyclesKeepTheStoreEmpty) {
  for (int i = 0; i < 20000; ++i) {
    ObjectRef<int> value = Put(i);
    ASSERT_THAT(Get(Submit(fns::Add, value, 1)), IsOkAndHolds(i + 1));
  }
  EXPECT_EQ(GetStats().live_objects, 0u);
  EXPECT_EQ(GetStats().bytes_held, 0u);
}

// Tests that manage Init/Shutdown themselves.
}  // namespace
}  // namespace unidist
