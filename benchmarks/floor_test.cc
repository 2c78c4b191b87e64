// Copyright 2026 The unidist-cpp Authors.
//
// The floor's round trips: each gives one sample per repetition and leaves no child behind.

#include "benchmarks/floor.h"

#include <errno.h>
#include <sys/wait.h>

#include "gtest/gtest.h"

namespace unidist::bench {
namespace {

// Whether this process has a child left, exited or not.
bool HasChildren() { return waitpid(-1, nullptr, WNOHANG) >= 0 || errno != ECHILD; }

void ExpectRoundTrips(const absl::StatusOr<Samples>& samples, size_t reps) {
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), reps);
  for (double us : *samples) EXPECT_GT(us, 0);
  EXPECT_FALSE(HasChildren());
}

TEST(FloorTest, PipeRoundTripGivesASamplePerRepetition) {
  ExpectRoundTrips(PipeRoundTripUs(Placement::kUnpinned, 50, 3), 3);
}

TEST(FloorTest, SocketRoundTripGivesASamplePerRepetition) {
  ExpectRoundTrips(RoundTripUs(Transport::kUnixSocketPoll, 50, 3), 3);
}

TEST(FloorTest, FutexRoundTripGivesASamplePerRepetition) {
  ExpectRoundTrips(RoundTripUs(Transport::kFutex, 50, 3), 3);
}

}  // namespace
}  // namespace unidist::bench
