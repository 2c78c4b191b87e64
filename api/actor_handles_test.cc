// Copyright 2026 The unidist-cpp Authors.
//
// Actor handles as values, end to end on real processes: passed to tasks and to other
// actors, inside structs and vectors, Put, returned; the lifetime they give their actor
// wherever they are; names (GetActor from the driver and from tasks) and detached actors.

#include <signal.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace handles {

class Counter {
 public:
  explicit Counter(int start) : value_(start) {}
  int Add(int x) { return value_ += x; }
  int Value() const { return value_; }
  int Pid() const { return static_cast<int>(getpid()); }

 private:
  int value_;
};
UNIDIST_ACTOR(Counter, int);
UNIDIST_REMOTE(&Counter::Add, &Counter::Value, &Counter::Pid);

// Records (caller, i) pairs, to check each caller's order.
class Log {
 public:
  Log() = default;
  int Append(int caller, int i) {
    entries_.emplace_back(caller, i);
    return static_cast<int>(entries_.size());
  }
  std::vector<std::pair<int, int>> Entries() const { return entries_; }

 private:
  std::vector<std::pair<int, int>> entries_;
};
UNIDIST_ACTOR(Log);
UNIDIST_REMOTE(&Log::Append, &Log::Entries);

// Keeps a handle to a Counter in its state and calls it on request.
class Keeper {
 public:
  Keeper() = default;
  bool Keep(unidist::Actor<Counter> counter) {
    counter_ = std::move(counter);
    return counter_.valid();
  }
  absl::StatusOr<int> AddThrough(int x) { return unidist::Get(counter_.Submit(&Counter::Add, x)); }

 private:
  unidist::Actor<Counter> counter_;
};
UNIDIST_ACTOR(Keeper);
UNIDIST_REMOTE(&Keeper::Keep, &Keeper::AddThrough);

// A value that holds handles.
struct Team {
  std::string label;
  std::vector<unidist::Actor<Counter>> counters;
  auto UnidistFields() { return std::tie(label, counters); }
};

absl::StatusOr<int> AddVia(unidist::Actor<Counter> counter, int x) {
  return unidist::Get(counter.Submit(&Counter::Add, x));
}

// Submits `n` appends without waiting for any, then waits for the last.
absl::StatusOr<int> AppendMany(unidist::Actor<Log> log, int caller, int n) {
  unidist::ObjectRef<int> last;
  for (int i = 0; i < n; ++i) last = log.Submit(&Log::Append, caller, i);
  return unidist::Get(last);
}

absl::StatusOr<int> AddToTeam(Team team, int x) {
  int sum = 0;
  for (const unidist::Actor<Counter>& counter : team.counters) {
    absl::StatusOr<int> value = unidist::Get(counter.Submit(&Counter::Add, x));
    if (!value.ok()) return value.status();
    sum += *value;
  }
  return sum;
}

unidist::Actor<Counter> PassBack(unidist::Actor<Counter> counter) { return counter; }

absl::StatusOr<int> AddByName(std::string name, int x) {
  absl::StatusOr<unidist::Actor<Counter>> counter = unidist::GetActor<Counter>(name);
  if (!counter.ok()) return counter.status();
  return unidist::Get(counter->Submit(&Counter::Add, x));
}

absl::Status LookUpLog(std::string name) { return unidist::GetActor<Log>(name).status(); }

bool InitializedHere() { return unidist::IsInitialized(); }

}  // namespace handles

UNIDIST_REMOTE(handles::AddVia, handles::AppendMany, handles::AddToTeam, handles::PassBack,
               handles::AddByName, handles::LookUpLog, handles::InitializedHere);

namespace {

using handles::Counter;
using handles::Log;
using ::testing::HasSubstr;
using unidist::Actor;
using unidist::ActorOptions;
using unidist::CreateActor;
using unidist::Get;
using unidist::ObjectRef;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

class ActorHandlesTest : public unidist::testing::UnidistTest {};

ActorOptions Named(std::string name) {
  ActorOptions options;
  options.name = std::move(name);
  return options;
}

TEST_F(ActorHandlesTest, ManyTasksCallOneActorAtOnce) {
  Actor<Counter> counter = CreateActor<Counter>(0);
  std::vector<ObjectRef<int>> adds;
  for (int i = 1; i <= 40; ++i) adds.push_back(unidist::Submit(handles::AddVia, counter, i));
  ASSERT_THAT(Get(adds), IsOk());
  EXPECT_THAT(Get(counter.Submit(&Counter::Value)), IsOkAndHolds(40 * 41 / 2));
}

TEST_F(ActorHandlesTest, EachCallersCallsRunInTheOrderItMadeThem) {
  Actor<Log> log = CreateActor<Log>();
  constexpr int kTasks = 4;
  constexpr int kCalls = 50;
  std::vector<ObjectRef<int>> tasks;
  for (int t = 1; t <= kTasks; ++t) {
    tasks.push_back(unidist::Submit(handles::AppendMany, log, t, kCalls));
  }
  for (int i = 0; i < kCalls; ++i) log.Submit(&Log::Append, 0, i);  // the driver, meanwhile
  ASSERT_THAT(Get(tasks), IsOk());
  absl::StatusOr<std::vector<std::pair<int, int>>> entries = Get(log.Submit(&Log::Entries));
  ASSERT_THAT(entries, IsOk());
  ASSERT_EQ(entries->size(), static_cast<size_t>((kTasks + 1) * kCalls));
  std::vector<int> next(kTasks + 1, 0);
  for (const auto& [caller, i] : *entries) ASSERT_EQ(i, next[caller]++) << "caller " << caller;
}

TEST_F(ActorHandlesTest, HandlesInsideStructsAndVectors) {
  handles::Team team;
  team.label = "pair";
  team.counters = {CreateActor<Counter>(10), CreateActor<Counter>(20)};
  EXPECT_THAT(Get(unidist::Submit(handles::AddToTeam, team, 1)), IsOkAndHolds(11 + 21));
  EXPECT_THAT(Get(team.counters[1].Submit(&Counter::Value)), IsOkAndHolds(21));
}

TEST_F(ActorHandlesTest, AnActorKeepsAHandleInItsState) {
  Actor<handles::Keeper> keeper = CreateActor<handles::Keeper>();
  {
    Actor<Counter> counter = CreateActor<Counter>(100);
    EXPECT_THAT(Get(keeper.Submit(&handles::Keeper::Keep, counter)), IsOkAndHolds(true));
  }  // the driver's last handle: the keeper's copy keeps the counter alive
  EXPECT_THAT(Get(keeper.Submit(&handles::Keeper::AddThrough, 5)), IsOkAndHolds(105));
  EXPECT_THAT(Get(keeper.Submit(&handles::Keeper::AddThrough, 5)), IsOkAndHolds(110));
}

TEST_F(ActorHandlesTest, APendingTaskKeepsItsActorAlive) {
  ObjectRef<int> added;
  {
    Actor<Counter> counter = CreateActor<Counter>(1);
    added = unidist::Submit(handles::AddVia, counter, 2);
  }  // gone from the driver before the task has (likely) started
  EXPECT_THAT(Get(added), IsOkAndHolds(3));
}

TEST_F(ActorHandlesTest, APutHandleOutlivesTheDriversOwn) {
  ObjectRef<Actor<Counter>> stored;
  {
    Actor<Counter> counter = CreateActor<Counter>(7);
    stored = unidist::Put(counter);
  }
  absl::StatusOr<Actor<Counter>> counter = Get(stored);
  ASSERT_THAT(counter, IsOk());
  EXPECT_THAT(Get(counter->Submit(&Counter::Add, 1)), IsOkAndHolds(8));
  // And a task can take it as an ObjectRef argument.
  EXPECT_THAT(Get(unidist::Submit(handles::AddVia, stored, 2)), IsOkAndHolds(10));
}

TEST_F(ActorHandlesTest, ATaskReturnsAHandle) {
  ObjectRef<Actor<Counter>> returned;
  {
    Actor<Counter> counter = CreateActor<Counter>(40);
    returned = unidist::Submit(handles::PassBack, counter);
  }
  absl::StatusOr<Actor<Counter>> counter = Get(returned);
  ASSERT_THAT(counter, IsOk());
  EXPECT_THAT(Get(counter->Submit(&Counter::Add, 2)), IsOkAndHolds(42));
}

TEST_F(ActorHandlesTest, AnEmptyHandleTravelsAsEmpty) {
  absl::StatusOr<Actor<Counter>> back = Get(unidist::Submit(handles::PassBack, Actor<Counter>()));
  ASSERT_THAT(back, IsOk());
  EXPECT_FALSE(back->valid());
  EXPECT_THAT(Get(unidist::Submit(handles::AddVia, Actor<Counter>(), 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty Actor handle")));
}

TEST_F(ActorHandlesTest, IsInitializedInsideTasks) {
  EXPECT_THAT(Get(unidist::Submit(handles::InitializedHere)), IsOkAndHolds(true));
}

TEST_F(ActorHandlesTest, NamedActorsAreFoundFromTheDriverAndFromTasks) {
  Actor<Counter> counter = CreateActor<Counter>(Named("tally"), 5);
  absl::StatusOr<Actor<Counter>> found = unidist::GetActor<Counter>("tally");
  ASSERT_THAT(found, IsOk());
  EXPECT_THAT(Get(found->Submit(&Counter::Add, 1)), IsOkAndHolds(6));
  EXPECT_THAT(Get(unidist::Submit(handles::AddByName, std::string("tally"), 4)), IsOkAndHolds(10));
  EXPECT_THAT(Get(counter.Submit(&Counter::Value)), IsOkAndHolds(10));
}

TEST_F(ActorHandlesTest, NameErrors) {
  Actor<Counter> counter = CreateActor<Counter>(Named("unique"), 0);
  ASSERT_THAT(Get(counter.Created()), IsOk());
  Actor<Counter> twin = CreateActor<Counter>(Named("unique"), 0);
  EXPECT_THAT(Get(twin.Created()),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("'unique'")));
  EXPECT_THAT(unidist::GetActor<Counter>("nobody"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(unidist::GetActor<Log>("unique"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("class")));
  EXPECT_THAT(unidist::GetActor<Counter>(""), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Get(unidist::Submit(handles::LookUpLog, std::string("unique"))),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Get(unidist::Submit(handles::LookUpLog, std::string("nobody"))),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ActorHandlesTest, GetIfExistsReturnsTheLiveOne) {
  Actor<Counter> first = CreateActor<Counter>(Named("shared"), 1);
  ActorOptions options = Named("shared");
  options.get_if_exists = true;
  Actor<Counter> second = CreateActor<Counter>(options, 1000);  // the argument goes unused
  EXPECT_THAT(Get(second.Submit(&Counter::Add, 1)), IsOkAndHolds(2));
  EXPECT_THAT(Get(first.Submit(&Counter::Value)), IsOkAndHolds(2));
}

TEST_F(ActorHandlesTest, ANameIsFreeOnceItsActorEnded) {
  Actor<Counter> counter = CreateActor<Counter>(Named("again"), 1);
  ASSERT_THAT(Get(counter.Created()), IsOk());
  ASSERT_THAT(counter.Kill(), IsOk());
  EXPECT_THAT(unidist::GetActor<Counter>("again"), StatusIs(absl::StatusCode::kNotFound));
  Actor<Counter> successor = CreateActor<Counter>(Named("again"), 2);
  EXPECT_THAT(Get(successor.Submit(&Counter::Value)), IsOkAndHolds(2));
}

TEST_F(ActorHandlesTest, ADetachedActorOutlivesItsHandlesUntilKilled) {
  {
    ActorOptions options = Named("resident");
    options.detached = true;
    Actor<Counter> counter = CreateActor<Counter>(options, 3);
    ASSERT_THAT(Get(counter.Submit(&Counter::Add, 1)), IsOkAndHolds(4));
  }
  absl::StatusOr<Actor<Counter>> found = unidist::GetActor<Counter>("resident");
  ASSERT_THAT(found, IsOk());
  EXPECT_THAT(Get(found->Submit(&Counter::Add, 1)), IsOkAndHolds(5));  // its state stayed
  ASSERT_THAT(found->Kill(), IsOk());
  EXPECT_THAT(unidist::GetActor<Counter>("resident"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ActorHandlesTest, AnActorEndsWithItsLastHandleAnywhere) {
  // Its only handle is inside an object: the actor lives while the object does.
  ObjectRef<Actor<Counter>> stored = unidist::Put(CreateActor<Counter>(1));
  int pid = 0;
  {
    absl::StatusOr<Actor<Counter>> counter = Get(stored);
    ASSERT_THAT(counter, IsOk());
    EXPECT_THAT(Get(counter->Submit(&Counter::Add, 1)), IsOkAndHolds(2));
    absl::StatusOr<int> actor_pid = Get(counter->Submit(&Counter::Pid));
    ASSERT_THAT(actor_pid, IsOk());
    pid = *actor_pid;
  }
  if (!unidist::testing::BackendHas(unidist::testing::BackendTrait::kWorkerProcesses)) return;
  EXPECT_EQ(kill(pid, 0), 0) << "the object still holds the actor";
  stored = ObjectRef<Actor<Counter>>();  // the last handle anywhere
  // Its process ends; the bound only keeps a failure from hanging.
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (kill(pid, 0) == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_NE(kill(pid, 0), 0) << "actor process " << pid << " outlived its last handle";
}

TEST_F(ActorHandlesTest, AHandleFromAnEndedSessionFindsNothing) {
  ObjectRef<Actor<Counter>> stored = unidist::Put(CreateActor<Counter>(1));
  ASSERT_THAT(unidist::Shutdown(), IsOk());
  ASSERT_THAT(unidist::Init(), IsOk());
  absl::StatusOr<Actor<Counter>> counter = Get(stored);  // the bytes outlive the session
  ASSERT_THAT(counter, IsOk());
  EXPECT_THAT(Get(counter->Submit(&Counter::Value)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("is gone")));
}

}  // namespace
