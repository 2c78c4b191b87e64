// Copyright 2026 The unidist-cpp Authors.
//
// The worker pool with real processes and a test executor whose "functions" echo, report
// their pid, sleep, crash or exit.

#include "process_manager/process_manager.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <utility>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/framing.h"
#include "testing/process_helpers.h"

namespace unidist {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// The worker's socket to the driver: the one socket among its descriptors.
int DriverSocket() {
  for (int fd = 3; fd < 64; ++fd) {
    char target[64] = {};
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    if (readlink(link.c_str(), target, sizeof(target) - 1) > 0 &&
        std::string(target).rfind("socket:", 0) == 0) {
      return fd;
    }
  }
  return -1;
}

// Writes `bytes` to the driver as if they were a frame of results, then waits to be
// killed for it.
void SendRawToDriver(const std::string& bytes) {
  const int fd = DriverSocket();
  if (fd < 0 || write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    _exit(99);
  }
  absl::SleepFor(absl::Seconds(60));
}

void TestExecutor(const proto::TaskRequest& task, proto::TaskResult* result) {
  const std::string arg = task.args_size() > 0 ? task.args(0).value() : "";
  int number = 0;
  (void)absl::SimpleAtoi(arg, &number);
  if (task.function() == "echo") {
    result->add_values(arg);
  } else if (task.function() == "pid") {
    result->add_values(std::to_string(getpid()));
  } else if (task.function() == "sleep_ms") {
    absl::SleepFor(absl::Milliseconds(number));
    result->add_values(std::to_string(getpid()));
  } else if (task.function() == "segfault") {
    raise(SIGSEGV);
  } else if (task.function() == "exit") {
    _exit(number);
  } else if (task.function() == "touch") {  // creates the file named by the argument
    FILE* file = std::fopen(arg.c_str(), "w");
    if (file != nullptr) std::fclose(file);
    result->add_values("touched");
  } else if (task.function() == "print") {
    std::printf("to stdout: %s\n", arg.c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "to stderr: %s\n", arg.c_str());
    result->add_values("printed");
  } else if (task.function() == "oversized_frame") {
    SendRawToDriver(std::string("\xff\xff\xff\x7f", 4));
  } else if (task.function() == "garbage_frame") {
    SendRawToDriver(std::string("\x05\x00\x00\x00\xff\xff\xff\xff\xff", 9));
  } else if (task.function() == "wrong_task_id") {
    proto::WorkerMessage message;
    message.mutable_result()->set_task_id(task.task_id() + 1000);
    message.mutable_result()->add_values("forged");
    std::string frame;
    (void)AppendFrame(message, 1 << 20, &frame);
    SendRawToDriver(frame);
  } else if (task.function() == "wrong_message_type") {
    proto::DriverMessage message;  // what the driver sends, not what it reads
    message.mutable_task()->set_task_id(task.task_id());
    std::string frame;
    (void)AppendFrame(message, 1 << 20, &frame);
    SendRawToDriver(frame);
  } else if (task.function() == "close_socket_and_hang") {
    // The driver sees EOF, but the process goes on and does not heed SIGTERM: only a
    // SIGKILL ends it.
    close(DriverSocket());
    signal(SIGTERM, SIG_IGN);
    for (;;) pause();
  } else if (task.function() == "fork_holder_and_exit") {
    // A child that inherits the worker's socket and pipes, and outlives the worker; its pid
    // goes to the file named by the argument. The child ends itself after a minute in
    // case the test cannot kill it.
    const pid_t child = fork();
    if (child == 0) {
      absl::SleepFor(absl::Minutes(1));
      _exit(0);
    }
    const int fd = open(arg.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const std::string text = std::to_string(child);
    if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      _exit(98);
    }
    close(fd);
    _exit(7);
  } else if (task.function() == "big") {
    result->add_values(std::string(number, 'b'));
  } else {
    result->mutable_error()->set_code(static_cast<int>(absl::StatusCode::kNotFound));
    result->mutable_error()->set_message("no such test function");
  }
}

// Collects results by task id and lets the test wait for them.
class Results {
 public:
  void Add(proto::TaskResult result) {
    absl::MutexLock lock(&mu_);
    EXPECT_FALSE(results_.contains(result.task_id())) << "two results for " << result.task_id();
    results_[result.task_id()] = std::move(result);
  }
  // Waits (at most a minute, so a bug fails the test instead of hanging it) for task `id`.
  proto::TaskResult Wait(uint64_t id) {
    absl::MutexLock lock(&mu_);
    auto has = [this, id]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return results_.contains(id); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&has), absl::Minutes(1))) {
      ADD_FAILURE() << "no result for task " << id;
      return {};
    }
    return results_[id];
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return results_.size();
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, proto::TaskResult> results_ ABSL_GUARDED_BY(mu_);
};

proto::TaskRequest Task(uint64_t id, const std::string& function, const std::string& arg = "") {
  proto::TaskRequest task;
  task.set_task_id(id);
  task.set_function(function);
  task.add_args()->set_value(arg);
  return task;
}

class ProcessManagerTest : public ::testing::Test {
 protected:
  ProcessManagerOptions Options(int num_workers, size_t max_frame_bytes = kDefaultMaxFrameBytes,
                                size_t max_tasks_per_worker = 64) {
    ProcessManagerOptions options;
    options.num_workers = num_workers;
    options.max_frame_bytes = max_frame_bytes;
    options.max_tasks_per_worker = max_tasks_per_worker;
    options.execute = &TestExecutor;
    options.on_result = [this](proto::TaskResult result) { results_.Add(std::move(result)); };
    options.on_dedicated_worker_lost = [this](WorkerId worker, absl::Status status) {
      absl::MutexLock lock(&lost_mu_);
      lost_.emplace_back(worker.slot, status);
    };
    return options;
  }

  void Start(int num_workers, size_t max_frame_bytes = kDefaultMaxFrameBytes,
             size_t max_tasks_per_worker = 64) {
    StartWith(Options(num_workers, max_frame_bytes, max_tasks_per_worker));
  }

  void StartWith(const ProcessManagerOptions& options) {
    absl::StatusOr<std::unique_ptr<ProcessManager>> manager = ProcessManager::Start(options);
    ASSERT_TRUE(manager.ok()) << manager.status();
    manager_ = std::move(*manager);
  }

  void TearDown() override {
    if (manager_ != nullptr) manager_->Shutdown();
    EXPECT_THAT(testing::DescendantProcesses(), IsEmpty());
  }

  pid_t WorkerPid(int index) { return manager_->Workers()[index].pid; }

  // Waits for the on_dedicated_worker_lost call for `slot`.
  absl::Status WaitLost(int slot) {
    absl::MutexLock lock(&lost_mu_);
    auto reported = [this, slot]() ABSL_SHARED_LOCKS_REQUIRED(lost_mu_) {
      for (const auto& [lost_slot, status] : lost_) {
        if (lost_slot == slot) return true;
      }
      return false;
    };
    if (!lost_mu_.AwaitWithTimeout(absl::Condition(&reported), absl::Minutes(1))) {
      return absl::DeadlineExceededError("no loss reported");
    }
    for (const auto& [lost_slot, status] : lost_) {
      if (lost_slot == slot) return status;
    }
    return absl::InternalError("unreachable");
  }

  Results results_;
  std::unique_ptr<ProcessManager> manager_;
  absl::Mutex lost_mu_;
  std::vector<std::pair<int, absl::Status>> lost_ ABSL_GUARDED_BY(lost_mu_);
};

std::string TempPath() {
  char path[] = "/tmp/unidist_cancel_XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  unlink(path);
  return path;
}

TEST_F(ProcessManagerTest, DedicatedWorkerRunsItsTasksInOrderOutsideThePool) {
  Start(2);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_GE(worker->slot, 2);
  for (uint64_t id = 0; id < 200; ++id) {
    ASSERT_TRUE(manager_->DispatchTo(*worker, Task(id, "echo", std::to_string(id))).ok());
  }
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(500, "pid")).ok());
  for (uint64_t id = 0; id < 200; ++id) EXPECT_EQ(results_.Wait(id).values(0), std::to_string(id));
  const std::string pid = results_.Wait(500).values(0);
  for (const WorkerState& pool_worker : manager_->Workers()) {
    EXPECT_NE(std::to_string(pool_worker.pid), pid);
  }
  EXPECT_EQ(manager_->Workers().size(), 2u);  // not part of the pool
}

TEST_F(ProcessManagerTest, ClosedDedicatedWorkerFinishesItsTasksFirst) {
  Start(1);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(1, "sleep_ms", "100")).ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(2, "echo", "last")).ok());
  manager_->CloseDedicatedWorker(*worker, /*kill=*/false);
  EXPECT_FALSE(results_.Wait(1).has_error());
  EXPECT_EQ(results_.Wait(2).values(0), "last");
  EXPECT_EQ(WaitLost(worker->slot).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(manager_->DispatchTo(*worker, Task(3, "pid")).code(),
            absl::StatusCode::kCancelled);
  // The slot is used again, under a new generation; the old id stays dead.
  absl::StatusOr<WorkerId> next = manager_->StartDedicatedWorker();
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->slot, worker->slot);
  EXPECT_NE(next->generation, worker->generation);
  EXPECT_EQ(manager_->DispatchTo(*worker, Task(4, "pid")).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(manager_->DispatchTo(*next, Task(5, "echo", "new")).ok());
  EXPECT_EQ(results_.Wait(5).values(0), "new");
}

TEST_F(ProcessManagerTest, KilledDedicatedWorkerCancelsItsTasks) {
  Start(1);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(1, "sleep_ms", "60000")).ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(2, "echo", "never")).ok());
  manager_->CloseDedicatedWorker(*worker, /*kill=*/true);
  EXPECT_EQ(results_.Wait(1).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(results_.Wait(2).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(WaitLost(worker->slot).code(), absl::StatusCode::kCancelled);
}

TEST_F(ProcessManagerTest, CrashedDedicatedWorkerIsNotReplaced) {
  Start(1);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(1, "segfault")).ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(2, "echo", "queued")).ok());
  proto::TaskResult crashed = results_.Wait(1);
  EXPECT_EQ(crashed.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_THAT(crashed.error().message(), HasSubstr("died while running 'segfault'"));
  EXPECT_THAT(crashed.error().message(), HasSubstr("signal 11"));
  proto::TaskResult queued = results_.Wait(2);
  EXPECT_THAT(queued.error().message(), HasSubstr("died before running 'echo'"));
  absl::Status lost = WaitLost(worker->slot);
  EXPECT_EQ(lost.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_->DispatchTo(*worker, Task(3, "pid")).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(manager_->workers_replaced(), 0u);
}

TEST_F(ProcessManagerTest, RejectsBadOptions) {
  ProcessManagerOptions options;
  options.num_workers = 0;
  options.execute = &TestExecutor;
  options.on_result = [](proto::TaskResult) {};
  EXPECT_EQ(ProcessManager::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.num_workers = 1;
  options.execute = nullptr;
  EXPECT_EQ(ProcessManager::Start(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ProcessManagerTest, DispatchesRoundRobin) {
  Start(3);
  std::vector<pid_t> expected;
  for (int i = 0; i < 3; ++i) expected.push_back(WorkerPid(i));
  for (uint64_t id = 0; id < 9; ++id) ASSERT_TRUE(manager_->Dispatch(Task(id, "pid")).ok());
  for (uint64_t id = 0; id < 9; ++id) {
    proto::TaskResult result = results_.Wait(id);
    ASSERT_EQ(result.values_size(), 1) << result.DebugString();
    EXPECT_EQ(result.values(0), std::to_string(expected[id % 3])) << "task " << id;
  }
  for (pid_t pid : expected) EXPECT_NE(pid, getpid());
}

TEST_F(ProcessManagerTest, ABusyWorkerHoldsAtMostItsWindowAndOthersTakeTheRest) {
  Start(2, kDefaultMaxFrameBytes, /*max_tasks_per_worker=*/1);
  const pid_t free_worker = WorkerPid(1);
  ASSERT_TRUE(manager_->Dispatch(Task(0, "sleep_ms", "1000")).ok());  // worker 0
  for (uint64_t id = 1; id <= 10; ++id) ASSERT_TRUE(manager_->Dispatch(Task(id, "pid")).ok());
  for (const WorkerState& worker : manager_->Workers()) EXPECT_LE(worker.tasks_in_flight, 1u);
  // While worker 0 sleeps, every quick task runs on worker 1.
  for (uint64_t id = 1; id <= 10; ++id) {
    EXPECT_EQ(results_.Wait(id).values(0), std::to_string(free_worker)) << id;
  }
  EXPECT_FALSE(results_.Wait(0).has_error());
}

TEST_F(ProcessManagerTest, LeastLoadedSendsTheTasksBehindALongOneToTheFreeWorker) {
  ProcessManagerOptions options;
  options.num_workers = 2;
  options.least_loaded = true;  // the window stays at its default of 64
  options.execute = &TestExecutor;
  options.on_result = [this](proto::TaskResult result) { results_.Add(std::move(result)); };
  absl::StatusOr<std::unique_ptr<ProcessManager>> manager = ProcessManager::Start(options);
  ASSERT_TRUE(manager.ok()) << manager.status();
  manager_ = std::move(*manager);
  const pid_t busy_worker = WorkerPid(0);
  ASSERT_TRUE(manager_->Dispatch(Task(0, "sleep_ms", "1000")).ok());  // worker 0
  for (uint64_t id = 1; id <= 20; ++id) ASSERT_TRUE(manager_->Dispatch(Task(id, "pid")).ok());
  for (const WorkerState& worker : manager_->Workers()) EXPECT_LE(worker.tasks_in_flight, 2u);
  // One quick task may have been queued behind the sleep before the other worker was
  // busy; every later one ran on the free worker.
  int behind_the_sleep = 0;
  for (uint64_t id = 1; id <= 20; ++id) {
    if (results_.Wait(id).values(0) == std::to_string(busy_worker)) ++behind_the_sleep;
  }
  EXPECT_LE(behind_the_sleep, 1);
  EXPECT_FALSE(results_.Wait(0).has_error());
}

TEST_F(ProcessManagerTest, ThousandsOfTasksFromSeveralThreads) {
  Start(2);
  constexpr uint64_t kPerThread = 2000;
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < 3; ++t) {
    threads.emplace_back([this, t] {
      for (uint64_t i = 0; i < kPerThread; ++i) {
        const uint64_t id = t * kPerThread + i;
        ASSERT_TRUE(manager_->Dispatch(Task(id, "echo", std::to_string(id * 7))).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (uint64_t id = 0; id < 3 * kPerThread; ++id) {
    proto::TaskResult result = results_.Wait(id);
    ASSERT_EQ(result.values_size(), 1);
    EXPECT_EQ(result.values(0), std::to_string(id * 7));
  }
}

TEST_F(ProcessManagerTest, LargeArgumentsAndResultsCrossThePipe) {
  Start(2);
  const std::string large(8 << 20, 'x');
  ASSERT_TRUE(manager_->Dispatch(Task(1, "echo", large)).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "big", std::to_string(16 << 20))).ok());
  EXPECT_EQ(results_.Wait(1).values(0), large);
  EXPECT_EQ(results_.Wait(2).values(0).size(), size_t{16} << 20);
}

TEST_F(ProcessManagerTest, CrashFailsTheRunningTaskAndTheWorkerIsReplaced) {
  Start(2);
  const pid_t crashed_pid = WorkerPid(0);
  ASSERT_TRUE(manager_->Dispatch(Task(1, "segfault")).ok());  // round-robin: worker 0
  proto::TaskResult result = results_.Wait(1);
  ASSERT_TRUE(result.has_error());
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_THAT(result.error().message(), HasSubstr("worker 0"));
  EXPECT_THAT(result.error().message(), HasSubstr(std::to_string(crashed_pid)));
  EXPECT_THAT(result.error().message(), HasSubstr("'segfault'"));
  EXPECT_THAT(result.error().message(), HasSubstr("killed by signal 11"));
  // glog's failure signal handler wrote the stack trace to stderr; its tail is reported.
  EXPECT_THAT(result.error().message(), HasSubstr("last lines of the worker's stderr"));
  EXPECT_THAT(result.error().message(), HasSubstr("SIGSEGV"));
  EXPECT_THAT(result.error().message(), HasSubstr("TestExecutor"));  // where it crashed
  EXPECT_EQ(result.error().worker_pid(), crashed_pid);
  EXPECT_EQ(manager_->workers_replaced(), 1u);
  EXPECT_FALSE(testing::ProcessPresent(crashed_pid));
  EXPECT_NE(WorkerPid(0), crashed_pid);
  // The pool keeps its size and keeps working.
  for (uint64_t id = 10; id < 20; ++id) ASSERT_TRUE(manager_->Dispatch(Task(id, "pid")).ok());
  std::set<std::string> pids;
  for (uint64_t id = 10; id < 20; ++id) pids.insert(results_.Wait(id).values(0));
  EXPECT_EQ(pids.size(), 2u);
}

TEST_F(ProcessManagerTest, TasksQueuedBehindACrashAreNotLost) {
  Start(1);
  ASSERT_TRUE(manager_->Dispatch(Task(1, "sleep_ms", "50")).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "exit", "3")).ok());
  for (uint64_t id = 3; id < 50; ++id) {
    ASSERT_TRUE(manager_->Dispatch(Task(id, "echo", std::to_string(id))).ok());
  }
  EXPECT_FALSE(results_.Wait(1).has_error());
  proto::TaskResult died = results_.Wait(2);
  EXPECT_EQ(died.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_THAT(died.error().message(), HasSubstr("exited with code 3"));
  for (uint64_t id = 3; id < 50; ++id) {
    proto::TaskResult result = results_.Wait(id);
    ASSERT_FALSE(result.has_error()) << result.error().message();
    EXPECT_EQ(result.values(0), std::to_string(id));
  }
}

// Tasks dispatched while the only worker is dead and being replaced wait for the
// replacement instead of failing with "no worker process is alive".
TEST_F(ProcessManagerTest, TasksDispatchedWhileTheOnlyWorkerIsReplacedWait) {
  Start(1);
  uint64_t id = 1;
  std::vector<uint64_t> crashing;
  for (int round = 0; round < 5; ++round) {
    crashing.push_back(id);
    ASSERT_TRUE(manager_->Dispatch(Task(id++, "segfault")).ok());
    // A stream of tasks over the time of the crash and the replacement.
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(manager_->Dispatch(Task(id++, "echo", "ok")).ok());
      absl::SleepFor(absl::Microseconds(200));
    }
  }
  for (uint64_t task = 1; task < id; ++task) {
    proto::TaskResult result = results_.Wait(task);
    if (std::find(crashing.begin(), crashing.end(), task) != crashing.end()) {
      EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
    } else {
      EXPECT_FALSE(result.has_error()) << "task " << task << ": " << result.error().message();
    }
  }
  EXPECT_EQ(manager_->workers_replaced(), 5u);
}

TEST_F(ProcessManagerTest, WorkerKilledFromOutside) {
  Start(2);
  ASSERT_TRUE(manager_->Dispatch(Task(1, "sleep_ms", "60000")).ok());
  const pid_t victim = WorkerPid(0);
  absl::SleepFor(absl::Milliseconds(50));
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  proto::TaskResult result = results_.Wait(1);
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_THAT(result.error().message(), HasSubstr("killed by signal 9"));
}

// Worker 0 closes its socket and then neither exits nor heeds SIGTERM, with an hour of
// reap_grace. The driver must not wait for it: the other tasks complete meanwhile (tasks
// queued behind the hung one are sent elsewhere), and Shutdown still ends it.
TEST_F(ProcessManagerTest, AWorkerSlowToDieDoesNotHoldUpOtherResults) {
  ProcessManagerOptions options = Options(2);
  options.reap_grace = absl::Hours(1);
  StartWith(options);
  const pid_t hung = WorkerPid(0);
  ASSERT_TRUE(manager_->Dispatch(Task(1, "close_socket_and_hang")).ok());  // worker 0
  for (uint64_t id = 2; id < 12; ++id) {
    ASSERT_TRUE(manager_->Dispatch(Task(id, "echo", std::to_string(id))).ok());
  }
  // Results::Wait gives up after a minute: a driver that waited out the grace fails here.
  bool all_arrived = true;
  for (uint64_t id = 2; id < 12; ++id) {
    proto::TaskResult result = results_.Wait(id);
    all_arrived = all_arrived && result.task_id() == id;
    EXPECT_FALSE(result.has_error()) << id << ": " << result.error().message();
  }
  if (!all_arrived) kill(hung, SIGKILL);  // so that a failing run still ends
  // It may still be running the task: only force may cancel it.
  EXPECT_EQ(manager_->Cancel(1, /*force=*/false).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(testing::ProcessPresent(hung));

  absl::Notification shut_down;
  std::thread shutdown([this, &shut_down] {
    manager_->Shutdown();
    shut_down.Notify();
  });
  if (!shut_down.WaitForNotificationWithTimeout(absl::Minutes(1))) {
    ADD_FAILURE() << "Shutdown did not end the hung worker";
    kill(hung, SIGKILL);
  }
  shutdown.join();
  EXPECT_FALSE(testing::ProcessPresent(hung));
  EXPECT_EQ(results_.Wait(1).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
}

// Cancel with force of the task a hung worker runs kills the worker at once instead of
// after its reap_grace.
TEST_F(ProcessManagerTest, ForceCancelKillsAWorkerSlowToDie) {
  ProcessManagerOptions options = Options(2);
  options.reap_grace = absl::Hours(1);
  StartWith(options);
  const pid_t hung = WorkerPid(0);
  ASSERT_TRUE(manager_->Dispatch(Task(1, "close_socket_and_hang")).ok());  // worker 0
  ASSERT_TRUE(manager_->Dispatch(Task(2, "echo", "worker 1")).ok());
  // Queued on worker 0 before its socket closed (then sent again), or after: either way it
  // completes only once the driver has seen worker 0 stop talking.
  ASSERT_TRUE(manager_->Dispatch(Task(3, "echo", "behind the hung task")).ok());
  EXPECT_EQ(results_.Wait(2).values(0), "worker 1");
  EXPECT_EQ(results_.Wait(3).values(0), "behind the hung task");
  ASSERT_TRUE(manager_->Cancel(1, /*force=*/true).ok());
  proto::TaskResult cancelled = results_.Wait(1);
  EXPECT_EQ(cancelled.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  // Polls for at most a minute, only to fail instead of hanging.
  EXPECT_TRUE(testing::WaitForProcessGone(hung, absl::Minutes(1)));
  // The pool is whole again.
  for (uint64_t id = 10; id < 14; ++id) {
    ASSERT_TRUE(manager_->Dispatch(Task(id, "echo", "ok")).ok());
    EXPECT_EQ(results_.Wait(id).values(0), "ok");
  }
  EXPECT_EQ(results_.size(), 7u);  // exactly one result for the cancelled task
}

// Kills the process named in a file when it goes out of scope.
class KillOnExit {
 public:
  explicit KillOnExit(std::string pid_file) : pid_file_(std::move(pid_file)) {}
  ~KillOnExit() {
    if (const pid_t pid = Pid(); pid > 0) kill(pid, SIGKILL);
    unlink(pid_file_.c_str());
  }
  pid_t Pid() const {
    char text[32] = {};
    const int fd = open(pid_file_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    const ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    int pid = -1;
    return n > 0 && absl::SimpleAtoi(absl::string_view(text, n), &pid) ? pid : -1;
  }

 private:
  std::string pid_file_;
};

// A task forks a child that keeps the worker's socket open, and the worker exits. No EOF
// comes; the worker's pidfd tells the driver it is gone.
TEST_F(ProcessManagerTest, WorkerDeathIsSeenWhileAChildOfItsTaskHoldsItsSocket) {
  Start(2);
  const pid_t worker = WorkerPid(0);
  const std::string pid_file = TempPath();
  KillOnExit grandchild(pid_file);
  ASSERT_TRUE(manager_->Dispatch(Task(1, "fork_holder_and_exit", pid_file)).ok());
  proto::TaskResult result = results_.Wait(1);
  ASSERT_TRUE(result.has_error());
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_THAT(result.error().message(), HasSubstr("'fork_holder_and_exit'"));
  EXPECT_THAT(result.error().message(), HasSubstr("exited with code 7"));
  EXPECT_EQ(result.error().worker_pid(), worker);
  EXPECT_TRUE(result.error().worker_died());
  EXPECT_GT(grandchild.Pid(), 0);
  EXPECT_TRUE(testing::ProcessPresent(grandchild.Pid()));  // still holding the socket
  ASSERT_TRUE(manager_->Dispatch(Task(2, "echo", "after")).ok());
  EXPECT_EQ(results_.Wait(2).values(0), "after");
}

// A worker that sends bytes that are not a valid result is killed and replaced; the task
// it was running fails with DataLoss, and nothing else is disturbed.
TEST_F(ProcessManagerTest, BadBytesFromAWorkerFailItsTaskWithDataLoss) {
  Start(2);
  uint64_t id = 0;
  for (const char* function :
       {"oversized_frame", "garbage_frame", "wrong_task_id", "wrong_message_type"}) {
    ++id;
    ASSERT_TRUE(manager_->Dispatch(Task(id, function)).ok());
    proto::TaskResult result = results_.Wait(id);
    EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kDataLoss)) << function;
    EXPECT_THAT(result.error().message(), HasSubstr(function));
    EXPECT_THAT(result.error().message(), HasSubstr("killed by signal 9"));
    EXPECT_FALSE(result.error().worker_died());  // not retried as a crash would be
    ++id;
    ASSERT_TRUE(manager_->Dispatch(Task(id, "echo", "fine")).ok());
    EXPECT_EQ(results_.Wait(id).values(0), "fine") << "after " << function;
  }
  EXPECT_EQ(manager_->workers_replaced(), 4u);
}

TEST_F(ProcessManagerTest, CancelATaskWaitingInTheDriver) {
  Start(1, kDefaultMaxFrameBytes, /*max_tasks_per_worker=*/1);
  const std::string marker = TempPath();
  ASSERT_TRUE(manager_->Dispatch(Task(1, "sleep_ms", "200")).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "touch", marker)).ok());  // waits: window of 1
  ASSERT_TRUE(manager_->Cancel(2, /*force=*/false).ok());
  EXPECT_EQ(results_.Wait(2).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_FALSE(results_.Wait(1).has_error());
  ASSERT_TRUE(manager_->Dispatch(Task(3, "echo", "after")).ok());
  EXPECT_EQ(results_.Wait(3).values(0), "after");
  EXPECT_NE(access(marker.c_str(), F_OK), 0) << "the cancelled task ran";
  EXPECT_EQ(manager_->Cancel(2, false).code(), absl::StatusCode::kNotFound);
}

TEST_F(ProcessManagerTest, CancelATaskAlreadySentToABusyWorker) {
  Start(1);
  const std::string marker = TempPath();
  ASSERT_TRUE(manager_->Dispatch(Task(1, "sleep_ms", "300")).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "touch", marker)).ok());  // in the worker's queue
  ASSERT_TRUE(manager_->Dispatch(Task(3, "echo", "next")).ok());
  absl::SleepFor(absl::Milliseconds(50));  // let the frames reach the worker
  ASSERT_TRUE(manager_->Cancel(2, /*force=*/false).ok());
  EXPECT_EQ(results_.Wait(2).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_FALSE(results_.Wait(1).has_error());
  EXPECT_EQ(results_.Wait(3).values(0), "next");  // the worker skipped 2, ran 3
  EXPECT_NE(access(marker.c_str(), F_OK), 0) << "the cancelled task ran";
  EXPECT_EQ(manager_->workers_replaced(), 0u);
}

TEST_F(ProcessManagerTest, CancelARunningTaskNeedsForceAndReplacesItsWorker) {
  Start(2);
  ASSERT_TRUE(manager_->Dispatch(Task(1, "sleep_ms", "60000")).ok());
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(manager_->Cancel(1, /*force=*/false).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(manager_->Cancel(1, /*force=*/true).ok());
  proto::TaskResult result = results_.Wait(1);
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_FALSE(result.error().worker_died());
  for (uint64_t id = 2; id < 6; ++id) {
    ASSERT_TRUE(manager_->Dispatch(Task(id, "echo", "ok")).ok());
    EXPECT_EQ(results_.Wait(id).values(0), "ok");
  }
  EXPECT_EQ(results_.size(), 5u);  // exactly one result for the cancelled task
  EXPECT_EQ(manager_->Cancel(99, true).code(), absl::StatusCode::kNotFound);
}

TEST_F(ProcessManagerTest, ForceCancelOfAnActorCallIsRefused) {
  Start(1);
  absl::StatusOr<WorkerId> worker = manager_->StartDedicatedWorker();
  ASSERT_TRUE(worker.ok());
  ASSERT_TRUE(manager_->DispatchTo(*worker, Task(1, "sleep_ms", "60000")).ok());
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(manager_->Cancel(1, /*force=*/true).code(), absl::StatusCode::kInvalidArgument);
  manager_->CloseDedicatedWorker(*worker, /*kill=*/true);
  EXPECT_EQ(results_.Wait(1).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
}

TEST_F(ProcessManagerTest, IdleWorkerKilledFromOutsideIsReplaced) {
  Start(2);
  const pid_t victim = WorkerPid(1);
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  ASSERT_TRUE(testing::WaitForProcessGone(victim, absl::Seconds(10)));
  for (uint64_t id = 0; id < 10; ++id) ASSERT_TRUE(manager_->Dispatch(Task(id, "pid")).ok());
  for (uint64_t id = 0; id < 10; ++id) EXPECT_FALSE(results_.Wait(id).has_error());
}

TEST_F(ProcessManagerTest, ShutdownCancelsTasksInFlightPromptly) {
  Start(2);
  for (uint64_t id = 0; id < 6; ++id) {
    ASSERT_TRUE(manager_->Dispatch(Task(id, "sleep_ms", "60000")).ok());
  }
  const absl::Time start = absl::Now();
  manager_->Shutdown();
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));  // generous: only catches a hang
  ASSERT_EQ(results_.size(), 6u);
  for (uint64_t id = 0; id < 6; ++id) {
    EXPECT_EQ(results_.Wait(id).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  }
  EXPECT_EQ(manager_->Dispatch(Task(9, "pid")).code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ProcessManagerTest, OversizedTaskIsRefusedAndOversizedResultIsAnError) {
  Start(1, /*max_frame_bytes=*/1 << 16);
  EXPECT_EQ(manager_->Dispatch(Task(1, "echo", std::string(1 << 17, 'x'))).code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(manager_->Dispatch(Task(2, "big", std::to_string(1 << 17))).ok());
  proto::TaskResult result = results_.Wait(2);
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  // The worker survives it.
  ASSERT_TRUE(manager_->Dispatch(Task(3, "echo", "ok")).ok());
  EXPECT_EQ(results_.Wait(3).values(0), "ok");
  EXPECT_EQ(manager_->workers_replaced(), 0u);
}

TEST_F(ProcessManagerTest, ShutdownReapsEveryProcess) {
  Start(4);
  std::vector<pid_t> pids;
  for (int i = 0; i < 4; ++i) pids.push_back(WorkerPid(i));
  manager_->Shutdown();
  EXPECT_THAT(testing::ChildProcesses(), IsEmpty());
  for (pid_t pid : pids) EXPECT_FALSE(testing::ProcessPresent(pid));
}

// Redirects this process's stdout and stderr to files while alive.
class CapturedOutput {
 public:
  CapturedOutput() {
    for (int fd : {1, 2}) {
      std::fflush(nullptr);
      saved_[fd - 1] = dup(fd);
      char path[] = "/tmp/unidist_captured_XXXXXX";
      files_[fd - 1] = mkstemp(path);
      unlink(path);
      dup2(files_[fd - 1], fd);
    }
  }
  ~CapturedOutput() { Restore(); }
  void Restore() {
    if (saved_[0] < 0) return;
    std::fflush(nullptr);
    for (int fd : {1, 2}) {
      dup2(saved_[fd - 1], fd);
      close(saved_[fd - 1]);
      saved_[fd - 1] = -1;
    }
  }
  // What was written to fd 1 or 2.
  std::string Read(int fd) {
    std::string text;
    char buffer[4096];
    ssize_t n;
    for (off_t offset = 0; (n = pread(files_[fd - 1], buffer, sizeof(buffer), offset)) > 0;
         offset += n) {
      text.append(buffer, n);
    }
    return text;
  }

 private:
  int saved_[2] = {-1, -1};
  int files_[2] = {-1, -1};
};

TEST_F(ProcessManagerTest, WorkerOutputReachesTheDriverTaggedWithTheWorker) {
  CapturedOutput captured;
  Start(2);
  const pid_t pid = WorkerPid(1);
  ASSERT_TRUE(manager_->Dispatch(Task(1, "pid")).ok());
  ASSERT_TRUE(manager_->Dispatch(Task(2, "print", "hello")).ok());
  EXPECT_FALSE(results_.Wait(2).has_error());
  manager_->Shutdown();  // drains what the workers wrote
  captured.Restore();
  const std::string prefix = "(worker 1 pid " + std::to_string(pid) + ") ";
  EXPECT_THAT(captured.Read(1), HasSubstr(prefix + "to stdout: hello\n"));
  EXPECT_THAT(captured.Read(2), HasSubstr(prefix + "to stderr: hello\n"));
}

// A driver killed with SIGKILL cannot clean up; its workers must still go away.
TEST(ProcessManagerDriverDeathTest, WorkersExitWhenTheDriverIsKilled) {
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  const pid_t driver = fork();
  ASSERT_GE(driver, 0);
  if (driver == 0) {
    close(report[0]);
    ProcessManagerOptions options;
    options.num_workers = 3;
    options.execute = &TestExecutor;
    options.on_result = [](proto::TaskResult) {};
    absl::StatusOr<std::unique_ptr<ProcessManager>> manager = ProcessManager::Start(options);
    if (!manager.ok()) _exit(1);
    (*manager)->Dispatch(Task(1, "sleep_ms", "60000")).IgnoreError();  // one busy worker
    std::vector<pid_t> pids = {(*manager)->Workers()[0].pid, (*manager)->Workers()[1].pid,
                               (*manager)->Workers()[2].pid};
    if (write(report[1], pids.data(), sizeof(pid_t) * pids.size()) < 0) _exit(1);
    pause();
    _exit(0);
  }
  close(report[1]);
  pid_t pids[3];
  ASSERT_EQ(read(report[0], pids, sizeof(pids)), static_cast<ssize_t>(sizeof(pids)));
  close(report[0]);
  ASSERT_EQ(kill(driver, SIGKILL), 0);
  int status;
  ASSERT_EQ(waitpid(driver, &status, 0), driver);
  for (pid_t pid : pids) {
    EXPECT_TRUE(testing::WaitForProcessGone(pid, absl::Seconds(1))) << "worker " << pid;
  }
}

}  // namespace
}  // namespace unidist
