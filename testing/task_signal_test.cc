// Copyright 2026 The unidist-cpp Authors.

#include "unidist/testing/task_signal.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace unidist::testing {
namespace {

TEST(TaskSignalTest, ANotificationBeforeTheWaitIsKept) {
  TaskSignal signal;
  NotifyTaskSignal(signal.path());
  EXPECT_TRUE(signal.WaitForNotify(absl::Seconds(10)).ok());
}

TEST(TaskSignalTest, EachNotificationWakesOneWait) {
  TaskSignal signal;
  NotifyTaskSignal(signal.path());
  NotifyTaskSignal(signal.path());
  EXPECT_TRUE(signal.WaitForNotify(absl::Seconds(10)).ok());
  EXPECT_TRUE(signal.WaitForNotify(absl::Seconds(10)).ok());
  EXPECT_EQ(signal.WaitForNotify(absl::ZeroDuration()).code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(TaskSignalTest, WithoutANotificationTheWaitTimesOut) {
  TaskSignal signal;
  EXPECT_EQ(signal.WaitForNotify(absl::Milliseconds(1)).code(),
            absl::StatusCode::kDeadlineExceeded);
}

// The case it exists for: the notification comes from another process.
TEST(TaskSignalTest, AnotherProcessWakesTheWait) {
  TaskSignal signal;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    NotifyTaskSignal(signal.path());
    _exit(0);
  }
  EXPECT_TRUE(signal.WaitForNotify(absl::Seconds(60)).ok());
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(TaskSignalTest, NotifyingAGoneSignalDoesNothing) {
  std::string path;
  {
    TaskSignal signal;
    path = signal.path();
  }
  struct stat info;
  EXPECT_NE(stat(path.c_str(), &info), 0);  // removed
  NotifyTaskSignal(path);                   // neither blocks nor creates it
  EXPECT_NE(stat(path.c_str(), &info), 0);
  NotifyTaskSignal("");
}

}  // namespace
}  // namespace unidist::testing
