// Copyright 2026 The unidist-cpp Authors.
//
// TaskSignal: lets a test wait until a task it submitted has got somewhere — most often,
// until it has started running — instead of sleeping and hoping it has.
//
// The test makes a TaskSignal and passes its path() to the task as an argument; the task
// calls NotifyTaskSignal(path) when it gets there; the test blocks in WaitForNotify until
// it has, or until a timeout passes. The signal is a FIFO in a new temporary directory, so
// it reaches the test from any process of the machine (worker processes are not the
// test's children: a fork server starts them) and from the test's own thread (the
// sequential backend runs the task inside Submit: the notification is then waiting by
// the time the test calls WaitForNotify).
//
// Each NotifyTaskSignal wakes one WaitForNotify; notifications are counted, not merged.
// Nothing is lost if the task notifies before the test waits.
//
// Example:
//   #include "unidist/testing/task_signal.h"   // target @unidist//testing:task_signal
//
//   int SleepAfterNotify(std::string signal, int ms) {
//     unidist::testing::NotifyTaskSignal(signal);   // "I am running"
//     absl::SleepFor(absl::Milliseconds(ms));
//     return ms;
//   }
//   UNIDIST_REMOTE(SleepAfterNotify);
//
//   TEST_F(MyTest, KillsARunningTask) {
//     unidist::testing::TaskSignal started;
//     unidist::ObjectRef<int> running =
//         unidist::Submit(SleepAfterNotify, started.path(), 60000);
//     ASSERT_THAT(started.WaitForNotify(absl::Seconds(60)), IsOk());
//     // The task is running now.
//   }
//
// Thread-compatible: one thread at a time waits on a TaskSignal. NotifyTaskSignal may be
// called from any thread of any process.

#ifndef UNIDIST_TESTING_TASK_SIGNAL_H_
#define UNIDIST_TESTING_TASK_SIGNAL_H_

// Included by its old path ("testing/task_signal.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace unidist::testing {

// Signals the TaskSignal whose path() is `path`: its next WaitForNotify returns OK. For a
// task to call. Never blocks; does nothing if no TaskSignal has that path any more (the
// test has moved on).
inline void NotifyTaskSignal(const std::string& path) {
  // Non-blocking: open succeeds only while the TaskSignal holds its read end, and a
  // one-byte write into an empty-enough FIFO never waits.
  const int fd = open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  const char byte = 1;
  while (write(fd, &byte, 1) < 0 && errno == EINTR) {
  }
  close(fd);
}

// The test's side of the signal: see the file comment.
class TaskSignal {
 public:
  // Makes the FIFO, under $TEST_TMPDIR (or /tmp). A failure here is reported by
  // WaitForNotify.
  TaskSignal() {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string dir =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/unidist_signal_XXXXXX");
    if (mkdtemp(dir.data()) == nullptr) {
      error_ = Errno("mkdtemp");
      return;
    }
    dir_ = dir;
    path_ = dir_ + "/fifo";
    if (mkfifo(path_.c_str(), 0600) != 0) {
      error_ = Errno("mkfifo");
      return;
    }
    read_fd_ = open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (read_fd_ < 0) {
      error_ = Errno("open for reading");
      return;
    }
    // A writer of our own, so that the FIFO never reads as closed (POLLHUP) between the
    // tasks' notifications: poll then wakes only for a byte.
    write_fd_ = open(path_.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (write_fd_ < 0) error_ = Errno("open for writing");
  }

  TaskSignal(const TaskSignal&) = delete;
  TaskSignal& operator=(const TaskSignal&) = delete;

  // Closes and removes the FIFO; later NotifyTaskSignal calls for it do nothing.
  ~TaskSignal() {
    if (write_fd_ >= 0) close(write_fd_);
    if (read_fd_ >= 0) close(read_fd_);
    if (!path_.empty()) unlink(path_.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
  }

  // What to pass to the task, for NotifyTaskSignal.
  const std::string& path() const { return path_; }

  // Blocks until a NotifyTaskSignal(path()) not yet consumed by an earlier call, or until
  // `timeout` passes. Returns OK for a notification (and consumes it); DeadlineExceeded
  // if none came in time; Internal if the FIFO could not be made or read.
  absl::Status WaitForNotify(absl::Duration timeout) {
    if (!error_.ok()) return error_;
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      char byte;
      const ssize_t n = read(read_fd_, &byte, 1);
      if (n == 1) return absl::OkStatus();
      if (n < 0 && errno != EAGAIN && errno != EINTR) return Errno("read");
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError(absl::StrCat(
            "no NotifyTaskSignal(\"", path_, "\") within ", absl::FormatDuration(timeout)));
      }
      pollfd readable = {read_fd_, POLLIN, 0};
      const int ms = static_cast<int>(std::min<int64_t>(
          absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1 << 30));
      if (poll(&readable, 1, ms) < 0 && errno != EINTR) return Errno("poll");
    }
  }

 private:
  static absl::Status Errno(const char* what) {
    return absl::InternalError(absl::StrCat("TaskSignal: ", what, ": ", strerror(errno)));
  }

  std::string dir_;
  std::string path_;
  int read_fd_ = -1;
  int write_fd_ = -1;
  absl::Status error_;
};

}  // namespace unidist::testing

#endif  // UNIDIST_TESTING_TASK_SIGNAL_H_
