// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/os_util.h"

#include <climits>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace unidist::process_internal {
namespace {

TEST(PollTimeoutMsTest, NeverEndsAWaitEarly) {
  EXPECT_EQ(PollTimeoutMs(absl::InfiniteFuture()), -1);
  EXPECT_EQ(PollTimeoutMs(absl::InfinitePast()), 0);
  EXPECT_EQ(PollTimeoutMs(absl::Now() - absl::Seconds(1)), 0);
  // Rounded up: a wait of the milliseconds returned ends at or after the deadline,
  // however long the call took.
  for (absl::Duration away : {absl::Microseconds(100), absl::Microseconds(1500),
                              absl::Milliseconds(500) + absl::Microseconds(300)}) {
    const absl::Time deadline = absl::Now() + away;
    const int ms = PollTimeoutMs(deadline);
    const absl::Time after = absl::Now();
    EXPECT_GE(after + absl::Milliseconds(ms), deadline) << away;
    EXPECT_LE(absl::Milliseconds(ms), absl::Ceil(away, absl::Milliseconds(1))) << away;
  }
  EXPECT_EQ(PollTimeoutMs(absl::Now() + absl::Hours(24 * 365)), INT_MAX);
}

}  // namespace
}  // namespace unidist::process_internal
