// Copyright 2026 The unidist-cpp Authors.
//
// unidist::Map end to end, and the Options that tune scheduling and absl::Mutex.

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace map_test {

int64_t Square(int64_t x) { return x * x; }
std::string Shout(std::string s) { return s + "!"; }
// Fails for negative inputs by status, throws for 13, crashes its worker for 666.
absl::StatusOr<int> Picky(int x) {
  if (x == 666) abort();
  if (x == 13) throw std::runtime_error("unlucky");
  if (x < 0) return absl::InvalidArgumentError("negative");
  return x + 1;
}
int NotRegistered(int x) { return x; }
// Maps inside a task: the nested form.
int64_t SumOfSquares(int n) {
  std::vector<int64_t> inputs;
  for (int i = 0; i < n; ++i) inputs.push_back(i);
  absl::StatusOr<std::vector<int64_t>> squares = unidist::Get(unidist::Map(Square, inputs));
  if (!squares.ok()) return -1;
  int64_t sum = 0;
  for (int64_t value : *squares) sum += value;
  return sum;
}

}  // namespace map_test

UNIDIST_REMOTE(map_test::Square, map_test::Shout, map_test::Picky, map_test::SumOfSquares);

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using unidist::Get;
using unidist::Map;
using unidist::MapOptions;
using unidist::ObjectRef;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;
namespace fns = map_test;

class MapTest : public unidist::testing::UnidistTest {};

std::vector<int64_t> Iota(int n) {
  std::vector<int64_t> values(n);
  for (int i = 0; i < n; ++i) values[i] = i;
  return values;
}

std::vector<int64_t> Squares(int n) {
  std::vector<int64_t> values(n);
  for (int i = 0; i < n; ++i) values[i] = int64_t{i} * i;
  return values;
}

TEST_F(MapTest, OneRefPerInputInOrder) {
  std::vector<ObjectRef<int64_t>> refs = Map(fns::Square, Iota(10000));
  ASSERT_EQ(refs.size(), 10000u);
  EXPECT_THAT(Get(refs), IsOkAndHolds(Squares(10000)));
}

TEST_F(MapTest, EveryChunkSizeGivesTheSameResults) {
  for (size_t chunk : {1, 2, 7, 100, 1000, 100000}) {
    SCOPED_TRACE(chunk);
    MapOptions options;
    options.chunk_size = chunk;
    EXPECT_THAT(Get(Map(fns::Square, Iota(1000), options)), IsOkAndHolds(Squares(1000)));
  }
}

TEST_F(MapTest, EmptyInputsGiveNoRefs) {
  EXPECT_THAT(Map(fns::Square, std::vector<int64_t>()), IsEmpty());
}

TEST_F(MapTest, InputsConvertToTheParameterType) {
  // int -> int64_t, const char* -> std::string.
  EXPECT_THAT(Get(Map(fns::Square, std::vector<int>{3, 4})), IsOkAndHolds(ElementsAre(9, 16)));
  EXPECT_THAT(Get(Map(fns::Shout, std::vector<const char*>{"a", "b"})),
              IsOkAndHolds(ElementsAre("a!", "b!")));
}

TEST_F(MapTest, AFailedCallFailsOnlyItsRef) {
  MapOptions one_chunk;
  one_chunk.chunk_size = 100;
  std::vector<ObjectRef<int>> refs = Map(fns::Picky, std::vector<int>{1, -1, 13, 2}, one_chunk);
  ASSERT_EQ(refs.size(), 4u);
  EXPECT_THAT(Get(refs[0]), IsOkAndHolds(2));
  const absl::StatusOr<int> negative = Get(refs[1]);
  EXPECT_THAT(negative, StatusIs(absl::StatusCode::kInvalidArgument, "negative"));
  std::optional<unidist::TaskFailure> where = unidist::GetTaskFailure(negative.status());
  ASSERT_TRUE(where.has_value());
  EXPECT_EQ(where->function, "map_test::Picky");
  EXPECT_GE(where->worker_index, 0);
  EXPECT_GT(where->worker_pid, 0);
  EXPECT_THAT(Get(refs[2]), StatusIs(absl::StatusCode::kUnknown, HasSubstr("unlucky")));
  EXPECT_THAT(Get(refs[3]), IsOkAndHolds(3));
}

// Get of a vector reads its refs a few thousand at a time: the values still come in
// order across those batches, and the first failed ref (in the refs' order) is the error.
TEST_F(MapTest, GetOfTensOfThousandsOfRefsKeepsTheirOrderAndFindsTheFirstError) {
  EXPECT_THAT(Get(Map(fns::Square, Iota(20'000))), IsOkAndHolds(Squares(20'000)));

  std::vector<int> inputs(20'000);
  for (size_t i = 0; i < inputs.size(); ++i) inputs[i] = 1'000 + static_cast<int>(i);  // no 13, 666
  inputs[9'000] = -1;  // the first failure, in the third batch
  inputs[15'000] = 13;
  EXPECT_THAT(Get(Map(fns::Picky, inputs)),
              StatusIs(absl::StatusCode::kInvalidArgument, "negative"));
}

TEST_F(MapTest, AWorkerThatDiesFailsItsWholeChunk) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSurvivesWorkerCrash);
  MapOptions chunks_of_two;
  chunks_of_two.chunk_size = 2;
  std::vector<ObjectRef<int>> refs =
      Map(fns::Picky, std::vector<int>{1, 2, 666, 3, 4, 5}, chunks_of_two);
  EXPECT_THAT(Get(refs[0]), IsOkAndHolds(2));
  EXPECT_THAT(Get(refs[1]), IsOkAndHolds(3));
  EXPECT_THAT(Get(refs[2]), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("map_test::Picky")));
  EXPECT_THAT(Get(refs[3]), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Get(refs[4]), IsOkAndHolds(5));
  EXPECT_THAT(Get(refs[5]), IsOkAndHolds(6));
}

TEST_F(MapTest, UnregisteredFunctionFailsEveryRef) {
  std::vector<ObjectRef<int>> refs = Map(fns::NotRegistered, std::vector<int>{1, 2});
  ASSERT_EQ(refs.size(), 2u);
  for (const ObjectRef<int>& ref : refs) {
    EXPECT_THAT(Get(ref), StatusIs(absl::StatusCode::kNotFound));
  }
}

TEST_F(MapTest, ATooLargeChunkFailsWithResourceExhausted) {
  // The 1 GiB default limit cannot be reached cheaply; a chunk of 4 MiB of inputs can
  // exceed a small limit.
  ASSERT_TRUE(unidist::Shutdown().ok());
  unidist::Options options;
  options.num_workers = 1;
  options.max_message_bytes = 64 * 1024;
  ASSERT_TRUE(unidist::Init(options).ok());
  std::vector<std::string> big(2, std::string(100 * 1024, 'x'));
  std::vector<ObjectRef<std::string>> refs = Map(fns::Shout, big);
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_THAT(Get(refs[0]), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(Get(Map(fns::Shout, std::vector<std::string>{"ok"})),
              IsOkAndHolds(ElementsAre("ok!")));
}

TEST_F(MapTest, MapInsideATask) {
  EXPECT_THAT(Get(unidist::Submit(fns::SumOfSquares, 20)), IsOkAndHolds(2470));
}

// Tests that manage Init and Shutdown themselves.
class MapLifecycleTest : public ::testing::Test {
 protected:
  void TearDown() override {
    EXPECT_TRUE(unidist::Shutdown().ok());
    unsetenv("UNIDIST_MUTEX_DEADLOCK_DETECTION");
    EXPECT_THAT(unidist::testing::WaitForNoDescendants(absl::Seconds(5)), IsEmpty());
  }
};

TEST_F(MapLifecycleTest, BeforeInitEveryRefFailsWithFailedPrecondition) {
  std::vector<ObjectRef<int64_t>> refs = Map(fns::Square, Iota(3));
  ASSERT_EQ(refs.size(), 3u);
  for (const ObjectRef<int64_t>& ref : refs) {
    EXPECT_THAT(Get(ref), StatusIs(absl::StatusCode::kFailedPrecondition));
  }
}

TEST_F(MapLifecycleTest, LeastLoadedSchedulingRunsEverything) {
  unidist::Options options;
  options.num_workers = 2;
  options.scheduling = unidist::Options::Scheduling::kLeastLoaded;
  ASSERT_TRUE(unidist::Init(options).ok());
  std::vector<ObjectRef<int64_t>> refs;
  for (int i = 0; i < 500; ++i) refs.push_back(unidist::Submit(fns::Square, i));
  EXPECT_THAT(Get(refs), IsOkAndHolds(Squares(500)));
  EXPECT_THAT(Get(Map(fns::Square, Iota(500))), IsOkAndHolds(Squares(500)));
}

TEST_F(MapLifecycleTest, SchedulingOutOfRangeIsInvalidArgument) {
  unidist::Options options;
  options.num_workers = 1;
  options.scheduling = static_cast<unidist::Options::Scheduling>(7);
  EXPECT_THAT(unidist::Init(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scheduling")));
  EXPECT_FALSE(unidist::IsInitialized());
}

TEST_F(MapLifecycleTest, DeadlockDetectionIsFixedByTheFirstInit) {
  unidist::Options options;
  options.num_workers = 1;
  setenv("UNIDIST_MUTEX_DEADLOCK_DETECTION", "maybe", 1);
  EXPECT_THAT(unidist::Init(options), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("UNIDIST_MUTEX_DEADLOCK_DETECTION")));
  EXPECT_FALSE(unidist::IsInitialized());
  unsetenv("UNIDIST_MUTEX_DEADLOCK_DETECTION");
  // Whichever Init of this binary came first asked for the default, which this one
  // repeats: off in optimized builds, on in the others.
  ASSERT_TRUE(unidist::Init(options).ok());
  ASSERT_TRUE(unidist::Shutdown().ok());
#ifdef NDEBUG
  constexpr auto kFixed = unidist::Options::DeadlockDetection::kOff;
  constexpr auto kOther = unidist::Options::DeadlockDetection::kOn;
  const char* const fixed_env = "0";
#else
  constexpr auto kFixed = unidist::Options::DeadlockDetection::kOn;
  constexpr auto kOther = unidist::Options::DeadlockDetection::kOff;
  const char* const fixed_env = "1";
#endif
  // Switching it would abort the program at the next unlock of a lock some thread took
  // before the switch (the mpi backend's link thread holds one across sessions).
  options.mutex_deadlock_detection = kOther;
  EXPECT_THAT(unidist::Init(options),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("first Init")));
  EXPECT_FALSE(unidist::IsInitialized());
  // Asking for the mode in force, by the option or by the variable, is fine.
  options.mutex_deadlock_detection = kFixed;
  ASSERT_TRUE(unidist::Init(options).ok());
  EXPECT_THAT(Get(unidist::Submit(fns::Square, 5)), IsOkAndHolds(25));
  ASSERT_TRUE(unidist::Shutdown().ok());
  setenv("UNIDIST_MUTEX_DEADLOCK_DETECTION", fixed_env, 1);
  options.mutex_deadlock_detection = unidist::Options::DeadlockDetection::kDefault;
  ASSERT_TRUE(unidist::Init(options).ok());
  EXPECT_THAT(Get(unidist::Submit(fns::Square, 6)), IsOkAndHolds(36));
  ASSERT_TRUE(unidist::Shutdown().ok());
  unsetenv("UNIDIST_MUTEX_DEADLOCK_DETECTION");
}

}  // namespace
