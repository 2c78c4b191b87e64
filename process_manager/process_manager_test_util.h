// Copyright 2026 The unidist-cpp Authors.
//
// Test-only: what the ProcessManager tests (process_manager_*_test.cc) share. A test
// executor whose "functions" echo, report their pid, sleep, wait at a gate, crash, exit,
// send the driver bad bytes or fork children and daemons; a collector of results; the
// ProcessManagerTest fixture; and TaskGate, which holds a task until the test lets it go.
//
// Tests wait for events, never for time: a task started (a TaskSignal, see
// testing/task_signal.h; every function notifies the one named by its second argument
// when it starts, see NotifyingTask), a result arrived (Results::Wait), a worker is gone
// (on_worker_gone), or a task may finish (TaskGate).
//
// Example:
//   TEST_F(ProcessManagerTest, CancelsARunningTask) {
//     Start(1);
//     testing::TaskSignal started;
//     TaskGate gate;
//     ASSERT_TRUE(manager_->Dispatch(NotifyingTask(1, "wait_at_gate", gate.path(),
//                                                  started)).ok());
//     ASSERT_TRUE(started.WaitForNotify(absl::Minutes(1)).ok());
//     // Task 1 is running, and stays so until gate.Open().
//   }
//
// Not part of the library: excluded from it in CMakeLists.txt, testonly in BUILD.

#ifndef UNIDIST_PROCESS_MANAGER_PROCESS_MANAGER_TEST_UTIL_H_
#define UNIDIST_PROCESS_MANAGER_PROCESS_MANAGER_TEST_UTIL_H_

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "process_manager/internal/worker_loop.h"
#include "process_manager/process_manager.h"
#include "unidist/testing/process_helpers.h"
#include "unidist/testing/task_signal.h"

namespace unidist::process_manager_testing {

// Holds tasks ("wait_at_gate") until the test opens the gate: the test's way to keep a
// task running for exactly as long as it needs to, instead of a sleep long enough to
// hope so. A FIFO in a new temporary directory, like testing::TaskSignal, so that it
// reaches worker processes. Each Open() lets one waiting task (or the next to arrive)
// go; destroying the gate lets every task go.
class TaskGate {
 public:
  // A failure here shows as tasks that are never held (and a failed EXPECT).
  TaskGate() {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string dir =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/unidist_gate_XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) {
      ADD_FAILURE() << "TaskGate: mkdtemp: " << strerror(errno);
      return;
    }
    dir_ = dir;
    path_ = dir_ + "/fifo";
    EXPECT_EQ(mkfifo(path_.c_str(), 0600), 0) << "TaskGate: mkfifo: " << strerror(errno);
    // Read and write: the FIFO has a writer from now on, so that the tasks' reads block
    // instead of seeing end of file, and opening it never blocks.
    fd_ = open(path_.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    EXPECT_GE(fd_, 0) << "TaskGate: open: " << strerror(errno);
  }
  TaskGate(const TaskGate&) = delete;
  TaskGate& operator=(const TaskGate&) = delete;

  // The tasks see end of file and go.
  ~TaskGate() {
    if (fd_ >= 0) close(fd_);
    if (!path_.empty()) unlink(path_.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
  }

  // What to pass to the task ("wait_at_gate"'s argument).
  const std::string& path() const { return path_; }

  // Lets one task through.
  void Open() {
    const char byte = 1;
    ssize_t n;
    while ((n = write(fd_, &byte, 1)) < 0 && errno == EINTR) {
    }
    EXPECT_EQ(n, 1) << "TaskGate: write: " << strerror(errno);
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

// In a task: blocks until the TaskGate at `path` is opened for it or destroyed. Returns
// at once if there is no such gate.
inline void WaitAtTaskGate(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return;
  for (;;) {
    char byte;
    const ssize_t n = read(fd, &byte, 1);
    if (n >= 0 || (errno != EAGAIN && errno != EINTR)) break;  // through, or gate gone
    // A FIFO opened after the gate closed it but before it unlinked it never reports a
    // hang-up; the timeout is only for that case, and the file check ends the wait.
    pollfd readable = {fd, POLLIN, 0};
    if (poll(&readable, 1, 1000) == 0 && access(path.c_str(), F_OK) != 0) break;
  }
  close(fd);
}

// The worker's socket to the driver: the one socket among its descriptors.
inline int DriverSocket() {
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

// In a task: writes `bytes` to the driver behind the worker loop's back, where the
// worker's messages go (its result ring, or its socket for a worker without one).
inline void WriteToDriver(const std::string& bytes) {
  if (!::unidist::process_internal::WriteToDriverForTesting(bytes).ok()) _exit(99);
}

// In a task: the first word of this worker's result ring's file (its write counter, see
// internal/result_ring.cc), found in /proc/self/maps; null if it has none.
inline uint64_t* ResultRingTailInThisWorker() {
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) return nullptr;
  char line[512];
  uint64_t* tail = nullptr;
  while (tail == nullptr && fgets(line, sizeof(line), maps) != nullptr) {
    unsigned long long start = 0;  // NOLINT(runtime/int): sscanf
    if (strstr(line, "memfd:unidist-worker") != nullptr && sscanf(line, "%llx-", &start) == 1) {
      tail = reinterpret_cast<uint64_t*>(static_cast<uintptr_t>(start));
    }
  }
  fclose(maps);
  return tail;
}

// In a task: writes `bytes` to the worker's socket, whether or not it has a result ring.
inline void WriteToDriverSocket(const std::string& bytes) {
  const int fd = DriverSocket();
  if (fd < 0 || write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    _exit(99);
  }
}

// The same, then hangs until killed: the driver must see the bytes as they are.
inline void SendRawToDriver(const std::string& bytes) {
  WriteToDriver(bytes);
  absl::SleepFor(absl::Seconds(60));  // the workload: "hang until killed"
}

// In a task: forks a child that waits for a signal (ending itself after a minute, in case
// nothing else does) and stays in the worker's process group. Writes its pid to the file
// `pid_file` and returns it, or -1.
inline pid_t ForkSleeper(const std::string& pid_file) {
  const pid_t child = fork();
  if (child == 0) {
    alarm(60);
    for (;;) pause();
  }
  const int fd = open(pid_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const std::string text = std::to_string(child);
  const bool written =
      fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (fd >= 0) close(fd);
  return child > 0 && written ? child : -1;
}

// In a task: starts a daemon the classic way — a child that calls setsid() (a session and
// process group of its own) and forks the daemon, then exits, so that the daemon is an
// orphan. The daemon keeps the worker's socket and pipes open (a careless daemon) and
// waits for a signal, ending itself after a minute. Writes the daemon's pid to `pid_file`
// once the middle child is reaped, and returns it, or -1.
inline pid_t ForkDaemon(const std::string& pid_file) {
  int report[2];
  if (pipe(report) != 0) return -1;
  const pid_t middle = fork();
  if (middle == 0) {
    setsid();
    const pid_t daemon = fork();
    if (daemon == 0) {
      const pid_t self = getpid();
      (void)!write(report[1], &self, sizeof(self));
      close(report[0]);
      close(report[1]);
      alarm(60);
      for (;;) pause();
    }
    _exit(daemon > 0 ? 0 : 1);
  }
  close(report[1]);
  pid_t daemon = -1;
  if (middle < 0 || read(report[0], &daemon, sizeof(daemon)) != sizeof(daemon)) daemon = -1;
  close(report[0]);
  int status;
  while (middle > 0 && waitpid(middle, &status, 0) < 0 && errno == EINTR) {
  }
  if (daemon <= 0) return -1;
  const int fd = open(pid_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const std::string text = std::to_string(daemon);
  const bool written =
      fd >= 0 && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (fd >= 0) close(fd);
  return written ? daemon : -1;
}

// Runs in the workers. The first argument is the function's; a second one, if any, names
// a TaskSignal to notify when the task starts (see NotifyingTask).
inline void TestExecutor(const proto::TaskRequest& task, proto::TaskResult* result) {
  if (task.args_size() > 1) testing::NotifyTaskSignal(task.args(1).value());
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
  } else if (task.function() == "wait_at_gate") {  // the argument is a TaskGate's path
    WaitAtTaskGate(arg);
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
  } else if (task.function() == "oversized_frame") {  // a good header, a length too long
    SendRawToDriver(FrameHeader(0x7fffffff, 0));
  } else if (task.function() == "garbage_frame") {  // a whole header's worth of garbage
    SendRawToDriver(std::string("\x05\x00\x00\x00", 4) + std::string(12, '\xff'));
  } else if (task.function() == "believable_length") {
    // Issue #16: a length under the maximum (1 MiB) and 7 bytes, then the task returns.
    WriteToDriver(
        std::string("\x00\x00\x10\x00"
                    "1234567",
                    11));
    result->add_values("returned");
  } else if (task.function() == "socket_garbage") {  // on the socket, past a result ring
    WriteToDriverSocket("garbage");
    result->add_values("returned");
  } else if (task.function() == "socket_token") {  // a wake-up token the worker did not write
    WriteToDriverSocket(std::string(1, process_internal::ResultRing::kWakeToken));
    result->add_values("returned");
  } else if (task.function() == "scribble_on_ring") {  // claims more than the ring holds
    uint64_t* tail = ResultRingTailInThisWorker();
    if (tail == nullptr) _exit(98);
    *tail += uint64_t{1} << 40;
    result->add_values("returned");
  } else if (task.function() == "random_garbage") {  // 100 pseudo-random bytes
    std::string garbage;
    uint32_t state = 20261202;
    for (int i = 0; i < 100; ++i) {
      state = state * 1103515245u + 12345u;
      garbage.push_back(static_cast<char>(state >> 16));
    }
    WriteToDriver(garbage);
    result->add_values("returned");
  } else if (task.function() == "corrupt_body") {
    // A well-formed result frame for this task with one byte of its body flipped.
    proto::WorkerMessage message;
    message.mutable_result()->set_task_id(task.task_id());
    message.mutable_result()->add_values("forged");
    std::string frame;
    (void)AppendFrame(message, 1 << 20, &frame);
    frame[frame.size() - 2] ^= 0x20;
    WriteToDriver(frame);
    result->add_values("returned");
  } else if (task.function() == "bytes_when_idle") {
    // Returns at once; a thread of the worker writes part of a frame header once the gate
    // named by the argument opens (after the test has the result: the worker is idle).
    std::thread([path = arg] {
      WaitAtTaskGate(path);
      WriteToDriver(std::string("UDF", 3));
    }).detach();
    result->add_values("returned");
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
  } else if (task.function() == "close_socket_at_gate") {  // the argument is a TaskGate's path
    // The driver sees EOF; the task goes on until the test lets it go, then returns, and
    // the worker finds it cannot send the result.
    close(DriverSocket());
    WaitAtTaskGate(arg);
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
  } else if (task.function() == "fork_sleeper") {  // the argument names a pid file
    result->add_values(std::to_string(ForkSleeper(arg)));
  } else if (task.function() == "fork_sleeper_and_hang") {
    // As fork_sleeper, then notifies the TaskSignal named by the third argument and runs
    // until it is killed.
    ForkSleeper(arg);
    if (task.args_size() > 2) testing::NotifyTaskSignal(task.args(2).value());
    for (;;) pause();
  } else if (task.function() == "fork_daemon") {  // the argument names a pid file
    result->add_values(std::to_string(ForkDaemon(arg)));
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
  // Waits (at most a minute, as Wait) until there are results for `n` tasks in all.
  bool WaitForCount(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return results_.size() >= n; };
    if (mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Minutes(1))) return true;
    ADD_FAILURE() << "results for " << results_.size() << " tasks, not " << n;
    return false;
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return results_.size();
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, proto::TaskResult> results_ ABSL_GUARDED_BY(mu_);
};

inline proto::TaskRequest Task(uint64_t id, const std::string& function,
                               const std::string& arg = "") {
  proto::TaskRequest task;
  task.set_task_id(id);
  task.set_function(function);
  task.add_args()->set_value(arg);
  return task;
}

// Task(id, function, arg) that notifies `started` when it starts running.
inline proto::TaskRequest NotifyingTask(uint64_t id, const std::string& function,
                                        const std::string& arg,
                                        const testing::TaskSignal& started) {
  proto::TaskRequest task = Task(id, function, arg);
  task.add_args()->set_value(started.path());
  return task;
}

// A file name nobody uses yet (the file does not exist).
inline std::string TempPath() {
  char path[] = "/tmp/unidist_cancel_XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  unlink(path);
  return path;
}

// Kills the process whose pid is in a file (written by a task) when it goes out of scope:
// the safety net of a test whose task starts processes, so that a failing run ends them.
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

// A ProcessManager running TestExecutor, whose results and dedicated-worker losses the
// test can wait for. TearDown shuts it down and checks that no process is left.
class ProcessManagerTest : public ::testing::Test {
 protected:
  ProcessManagerOptions Options(int num_workers, size_t max_frame_bytes = kDefaultMaxFrameBytes,
                                size_t max_tasks_per_worker = 64) {
    ProcessManagerOptions options;
    options.num_workers = num_workers;
    options.max_frame_bytes = max_frame_bytes;
    options.max_tasks_per_worker = max_tasks_per_worker;
    // The *_ring_test targets run the same tests with result rings (BUILD sets this).
    if (const char* ring = getenv("UNIDIST_TEST_RESULT_RING_BYTES"); ring != nullptr) {
      options.result_ring_bytes = static_cast<size_t>(strtoull(ring, nullptr, 10));
    }
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
    EXPECT_THAT(testing::DescendantProcesses(), ::testing::IsEmpty());
  }

  pid_t WorkerPid(int index) { return manager_->Workers()[index].pid; }

  // Runs task `function` (as task ++*id), which breaks the protocol: its result must be
  // DataLoss naming `fault`, not a worker death (it is not retried); then runs an echo
  // (task ++*id) on the replacement.
  void ExpectDataLossThenAnEcho(uint64_t* id, const std::string& function,
                                const std::string& fault) {
    ++*id;
    ASSERT_TRUE(manager_->Dispatch(Task(*id, function)).ok());
    proto::TaskResult result = results_.Wait(*id);
    EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kDataLoss)) << function;
    EXPECT_THAT(result.error().message(), ::testing::HasSubstr(fault)) << function;
    EXPECT_FALSE(result.error().worker_died()) << function;
    ++*id;
    ASSERT_TRUE(manager_->Dispatch(Task(*id, "echo", "fine")).ok());
    EXPECT_EQ(results_.Wait(*id).values(0), "fine") << "after " << function;
  }

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

}  // namespace unidist::process_manager_testing

#endif  // UNIDIST_PROCESS_MANAGER_PROCESS_MANAGER_TEST_UTIL_H_
