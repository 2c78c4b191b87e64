// Copyright 2026 The unidist-cpp Authors.
//
// ProcessManager::WaitForResult with real processes: the waiting thread reads its task's
// answer itself, and every way its task can end without that answer (the worker dies or
// sends bytes that do not decode, the task is cancelled, the pool shuts down) ends the
// wait, with the event thread reading that worker's answers again afterwards.
//
// A test lets a held task go only once the reader watches its worker: that is when the
// pool's epoll set stops watching the worker's socket for input, which the test sees in
// /proc/self/fdinfo (ReaderWatching).

#include <dirent.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "process_manager/process_manager.h"
#include "process_manager/process_manager_test_util.h"
#include "unidist/testing/task_signal.h"

namespace unidist::process_manager_testing {
namespace {

// Whether an epoll set of this process has an entry that does not watch for input: the
// pool's, while a reader watches that worker's socket (every other entry of it watches
// for input).
bool ReaderWatching() {
  DIR* fds = opendir("/proc/self/fdinfo");
  if (fds == nullptr) return false;
  bool found = false;
  while (dirent* entry = readdir(fds)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream info(absl::StrCat("/proc/self/fdinfo/", entry->d_name));
    std::string line;
    while (!found && std::getline(info, line)) {
      // "tfd:        7 events:       19 data: ..." (events in hex)
      if (line.rfind("tfd:", 0) != 0) continue;
      std::istringstream words(line);
      std::string word, events;
      while (words >> word && word != "events:") {
      }
      uint32_t mask;
      if (words >> events && absl::SimpleHexAtoi(events, &mask) && (mask & 0x1) == 0) {
        found = true;
      }
    }
    if (found) break;
  }
  closedir(fds);
  return found;
}

// Waits (at most a minute, so that a reader that never watches fails the test rather
// than hangs it) until a reader watches a worker's socket.
bool WaitForReader() {
  const absl::Time give_up = absl::Now() + absl::Minutes(1);
  while (!ReaderWatching()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

class ReaderTest : public ProcessManagerTest {
 protected:
  // As ProcessManagerTest's, also noting the thread each result was reported on.
  void StartRecordingThreads(int num_workers, size_t max_tasks_per_worker = 64) {
    ProcessManagerOptions options =
        Options(num_workers, kDefaultMaxFrameBytes, max_tasks_per_worker);
    options.on_result = [this](proto::TaskResult result) {
      {
        absl::MutexLock lock(&threads_mu_);
        reported_on_[result.task_id()] = std::this_thread::get_id();
      }
      results_.Add(std::move(result));
    };
    StartWith(options);
  }

  std::thread::id ReportedOn(uint64_t task_id) {
    absl::MutexLock lock(&threads_mu_);
    return reported_on_[task_id];
  }

  absl::Mutex threads_mu_;
  absl::flat_hash_map<uint64_t, std::thread::id> reported_on_ ABSL_GUARDED_BY(threads_mu_);
};

TEST_F(ReaderTest, TheWaitingThreadReadsItsTasksResultItself) {
  StartRecordingThreads(1);
  for (uint64_t id = 1; id <= 3; ++id) {
    TaskGate gate;
    ASSERT_TRUE(manager_->Dispatch(Task(id, "wait_at_gate", gate.path())).ok());
    std::thread opener([&gate] {
      EXPECT_TRUE(WaitForReader());
      gate.Open();
    });
    manager_->WaitForResult(id, absl::InfiniteFuture());
    opener.join();
    // Reported before WaitForResult returned, on this thread: the event thread, which
    // no longer watched the socket for input, did not read it.
    EXPECT_EQ(ReportedOn(id), std::this_thread::get_id()) << id;
    EXPECT_FALSE(results_.Wait(id).has_error());
  }
  // The event thread watches the worker again once the reader is gone.
  EXPECT_FALSE(ReaderWatching());
  ASSERT_TRUE(manager_->Dispatch(Task(4, "echo", "later")).ok());
  EXPECT_EQ(results_.Wait(4).values(0), "later");
  EXPECT_NE(ReportedOn(4), std::this_thread::get_id());
}

TEST_F(ReaderTest, ReturnsAtOnceForATaskNoWorkerHolds) {
  StartRecordingThreads(1, /*max_tasks_per_worker=*/1);
  TaskGate gate;
  ASSERT_TRUE(manager_->Dispatch(Task(1, "wait_at_gate", gate.path())).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "echo", "queued")).ok());  // waits in the driver
  // Neither returns only at the deadline: the test would hang until the gate opens.
  manager_->WaitForResult(2, absl::InfiniteFuture());
  manager_->WaitForResult(99, absl::InfiniteFuture());  // never dispatched
  EXPECT_EQ(results_.size(), 0u);
  gate.Open();
  EXPECT_FALSE(results_.Wait(1).has_error());
  EXPECT_EQ(results_.Wait(2).values(0), "queued");
}

TEST_F(ReaderTest, ReturnsAtTheDeadline) {
  StartRecordingThreads(1);
  TaskGate gate;
  ASSERT_TRUE(manager_->Dispatch(Task(1, "wait_at_gate", gate.path())).ok());
  manager_->WaitForResult(1, absl::Now() + absl::Milliseconds(20));
  EXPECT_EQ(results_.size(), 0u);
  EXPECT_FALSE(ReaderWatching());
  gate.Open();
  EXPECT_FALSE(results_.Wait(1).has_error());  // read by the event thread
}

TEST_F(ReaderTest, AReaderLeavesWhenItsWorkerDies) {
  StartRecordingThreads(1);
  testing::TaskSignal started;
  TaskGate gate;  // never opened: the worker dies holding the task
  ASSERT_TRUE(manager_->Dispatch(NotifyingTask(1, "wait_at_gate", gate.path(), started)).ok());
  ASSERT_TRUE(started.WaitForNotify(absl::Minutes(1)).ok());
  const pid_t worker = WorkerPid(0);
  std::thread killer([worker] {
    EXPECT_TRUE(WaitForReader());
    kill(worker, SIGKILL);
  });
  manager_->WaitForResult(1, absl::InfiniteFuture());
  killer.join();
  const proto::TaskResult result = results_.Wait(1);
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(result.error().worker_died());
  // The replacement is watched for input by the event thread.
  ASSERT_TRUE(manager_->Dispatch(Task(2, "echo", "replacement")).ok());
  EXPECT_EQ(results_.Wait(2).values(0), "replacement");
}

TEST_F(ReaderTest, BytesThatDoNotDecodeEndTheWorkerWhenAReaderReadsThem) {
  StartRecordingThreads(1);
  TaskGate gate;  // holds task 1 until the reader watches: the reader reads what follows
  ASSERT_TRUE(manager_->Dispatch(Task(1, "wait_at_gate", gate.path())).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "garbage_frame")).ok());
  std::thread opener([&gate] {
    EXPECT_TRUE(WaitForReader());
    gate.Open();
  });
  manager_->WaitForResult(2, absl::InfiniteFuture());
  opener.join();
  EXPECT_EQ(ReportedOn(1), std::this_thread::get_id());  // task 1's answer, then the garbage
  const proto::TaskResult result = results_.Wait(2);
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kDataLoss));
  EXPECT_THAT(result.error().message(), ::testing::HasSubstr("garbage_frame"));
  EXPECT_FALSE(result.error().worker_died());  // broken, not crashed: not retried
  // The replacement is watched for input by the event thread.
  ASSERT_TRUE(manager_->Dispatch(Task(3, "echo", "replacement")).ok());
  EXPECT_EQ(results_.Wait(3).values(0), "replacement");
}

TEST_F(ReaderTest, AReaderLeavesWhenItsTaskIsCancelled) {
  StartRecordingThreads(1);
  testing::TaskSignal started;
  TaskGate gate;  // holds task 1, so task 2 sits in the worker's socket, not started
  ASSERT_TRUE(manager_->Dispatch(NotifyingTask(1, "wait_at_gate", gate.path(), started)).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "echo", "cancelled")).ok());
  ASSERT_TRUE(started.WaitForNotify(absl::Minutes(1)).ok());
  std::thread canceller([this] {
    EXPECT_TRUE(WaitForReader());
    EXPECT_TRUE(manager_->Cancel(2, /*force=*/false).ok());
  });
  manager_->WaitForResult(2, absl::InfiniteFuture());
  canceller.join();
  // Returned although the worker has sent nothing (task 1 still waits at its gate).
  EXPECT_EQ(results_.Wait(2).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(results_.size(), 1u);
  gate.Open();
  EXPECT_FALSE(results_.Wait(1).has_error());
}

TEST_F(ReaderTest, ShutdownEndsAReadersWait) {
  StartRecordingThreads(1);
  TaskGate gate;  // never opened while the pool runs
  ASSERT_TRUE(manager_->Dispatch(Task(1, "wait_at_gate", gate.path())).ok());
  absl::Notification returned;
  std::thread reader([this, &returned] {
    manager_->WaitForResult(1, absl::InfiniteFuture());
    returned.Notify();
  });
  EXPECT_TRUE(WaitForReader());
  manager_->Shutdown();
  // Only so that a reader Shutdown does not end fails the test instead of hanging it.
  EXPECT_TRUE(returned.WaitForNotificationWithTimeout(absl::Minutes(1)));
  reader.join();
  EXPECT_EQ(results_.Wait(1).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
}

TEST_F(ReaderTest, TwoReadersOfOneWorkerBothReturn) {
  StartRecordingThreads(1);
  TaskGate gate;
  ASSERT_TRUE(manager_->Dispatch(Task(1, "wait_at_gate", gate.path())).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "echo", "second")).ok());
  absl::Notification returned;
  std::thread second([this, &returned] {
    manager_->WaitForResult(2, absl::InfiniteFuture());
    returned.Notify();
  });
  EXPECT_TRUE(WaitForReader());
  std::thread opener([&gate] { gate.Open(); });
  // Whichever reader reads task 2's answer, the other one is woken for its own task.
  manager_->WaitForResult(1, absl::InfiniteFuture());
  EXPECT_TRUE(returned.WaitForNotificationWithTimeout(absl::Minutes(1)));
  second.join();
  opener.join();
  EXPECT_FALSE(results_.Wait(1).has_error());
  EXPECT_EQ(results_.Wait(2).values(0), "second");
  EXPECT_FALSE(ReaderWatching());
}

TEST_F(ReaderTest, ACallbackThatWaitsReturnsAtOnce) {
  // on_result waits for another task of the pool: it runs where events are handled, so it
  // must not wait to read them.
  ProcessManagerOptions options = Options(1);
  ProcessManager* pool = nullptr;
  options.on_result = [this, &pool](proto::TaskResult result) {
    if (result.task_id() == 1) pool->WaitForResult(2, absl::InfiniteFuture());
    results_.Add(std::move(result));
  };
  StartWith(options);
  pool = manager_.get();
  TaskGate gate;
  ASSERT_TRUE(manager_->Dispatch(Task(1, "echo", "first")).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "wait_at_gate", gate.path())).ok());
  EXPECT_EQ(results_.Wait(1).values(0), "first");  // with task 2 still held
  gate.Open();
  EXPECT_FALSE(results_.Wait(2).has_error());
}

}  // namespace
}  // namespace unidist::process_manager_testing
