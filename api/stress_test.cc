// Copyright 2026 The unidist-cpp Authors.
//
// A bounded stress test: 100k tasks from several driver threads, 1% of which kill their
// worker. Every other task must return the right value, every killer must fail with
// Unavailable, and at the end no object, task or process may be left.

#include <signal.h>

#include <atomic>
#include <thread>
#include <vector>

#include "api/unidist.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/unidist_test.h"

namespace stress {

// 1 in 100 tasks ends its worker: mostly by SIGKILL, every tenth one by a segfault (which
// also runs glog's failure handler).
bool Crashes(int64_t i) { return (i * 2654435761u) % 100 == 7; }

int64_t Work(int64_t i) {
  if (Crashes(i)) raise(i % 1000 < 100 ? SIGSEGV : SIGKILL);
  return i * 3 + 1;
}

}  // namespace stress

UNIDIST_REMOTE(stress::Work);

namespace {

using ::unidist::testing::StatusIs;

class StressTest : public unidist::testing::UnidistTest {};

TEST_F(StressTest, HundredThousandTasksWithOnePercentCrashing) {
  constexpr int kThreads = 4;
  constexpr int64_t kPerThread = 25000;
  std::atomic<int64_t> crashed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &crashed] {
      std::vector<unidist::ObjectRef<int64_t>> refs;
      refs.reserve(kPerThread);
      for (int64_t i = 0; i < kPerThread; ++i) {
        refs.push_back(unidist::Submit(stress::Work, t * kPerThread + i));
      }
      for (int64_t i = 0; i < kPerThread; ++i) {
        const int64_t n = t * kPerThread + i;
        absl::StatusOr<int64_t> value = unidist::Get(refs[i]);
        if (stress::Crashes(n)) {
          ASSERT_THAT(value, StatusIs(absl::StatusCode::kUnavailable)) << n;
          ++crashed;
        } else {
          ASSERT_TRUE(value.ok()) << n << ": " << value.status();
          ASSERT_EQ(*value, n * 3 + 1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const unidist::Stats stats = unidist::GetStats();
  EXPECT_GT(crashed.load(), 900);
  EXPECT_EQ(stats.workers_replaced, static_cast<size_t>(crashed.load()));
  EXPECT_EQ(stats.live_objects, 0u);
  EXPECT_EQ(stats.tasks_in_flight, 0u);
  EXPECT_EQ(unidist::Workers().size(), 2u);
  // TearDown checks that no process is left.
}

}  // namespace
