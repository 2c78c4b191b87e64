// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/fork_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "process_manager/internal/os_util.h"
#include "unidist/testing/process_helpers.h"

namespace unidist::process_internal {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// A worker that writes its index and pid, then waits for a command byte:
// 'q' exits 0, 'x' exits with code 7, 's' segfaults; EOF exits 0.
int EchoWorker(int index, int fd, int /*shared_file_fd*/) {
  const std::string hello = std::to_string(index) + " " + std::to_string(getpid());
  if (!SendAll(fd, hello).ok()) return 1;
  char command;
  if (read(fd, &command, 1) != 1) return 0;
  if (command == 'x') return 7;
  if (command == 's') raise(SIGSEGV);
  return 0;
}

void CloseAll(const ForkServer::Worker& worker) {
  for (int fd : {worker.socket_fd, worker.stdout_fd, worker.stderr_fd}) close(fd);
}

std::string ReadHello(int fd) {
  char buffer[64];
  const ssize_t n = read(fd, buffer, sizeof(buffer));
  return n > 0 ? std::string(buffer, n) : "";
}

TEST(ForkServerTest, SpawnsWorkersAsItsChildren) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server = ForkServer::Start(&EchoWorker);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<ForkServer::Worker> a = (*server)->Spawn(0);
  absl::StatusOr<ForkServer::Worker> b = (*server)->Spawn(1);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(ReadHello(a->socket_fd), "0 " + std::to_string(a->pid));
  EXPECT_EQ(ReadHello(b->socket_fd), "1 " + std::to_string(b->pid));
  EXPECT_THAT(testing::ChildProcesses(), UnorderedElementsAre((*server)->pid()));
  EXPECT_THAT(testing::ChildProcesses((*server)->pid()), UnorderedElementsAre(a->pid, b->pid));
  CloseAll(*a);
  CloseAll(*b);
  ASSERT_TRUE((*server)->Stop().ok());
  EXPECT_THAT(testing::DescendantProcesses(), IsEmpty());
}

// A worker asked for with a shared file gets one of its own, zero-filled, which the
// caller has too: what the worker writes there, the caller reads.
TEST(ForkServerTest, ASharedFileIsTheWorkersAndTheCallers) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server =
      ForkServer::Start([](int, int fd, int shared_file_fd) {
        if (shared_file_fd < 0) return 2;
        char zero = 1;
        if (pread(shared_file_fd, &zero, 1, 8191) != 1 || zero != 0) return 3;
        if (pwrite(shared_file_fd, "mine", 4, 100) != 4) return 4;
        return SendAll(fd, "done").ok() ? 0 : 1;
      });
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<ForkServer::Worker> worker = (*server)->Spawn(0, 8192);
  ASSERT_TRUE(worker.ok()) << worker.status();
  ASSERT_GE(worker->shared_file_fd, 0);
  EXPECT_EQ(ReadHello(worker->socket_fd), "done");
  char written[4] = {};
  EXPECT_EQ(pread(worker->shared_file_fd, written, 4, 100), 4);
  EXPECT_EQ(std::string(written, 4), "mine");
  absl::StatusOr<int> status = (*server)->Reap(worker->pid, absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
  // Without asking, none.
  absl::StatusOr<ForkServer::Worker> plain = (*server)->Spawn(1);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->shared_file_fd, -1);
  // One that cannot be made (a size no file may have): the worker starts without one
  // (its main function sees -1 and exits with 2), and so does the caller.
  absl::StatusOr<ForkServer::Worker> without = (*server)->Spawn(2, uint64_t{1} << 63);
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(without->shared_file_fd, -1);
  absl::StatusOr<int> without_status = (*server)->Reap(without->pid, absl::Seconds(10));
  ASSERT_TRUE(without_status.ok()) << without_status.status();
  EXPECT_TRUE(WIFEXITED(*without_status) && WEXITSTATUS(*without_status) == 2) << *without_status;
  CloseAll(*worker);
  close(worker->shared_file_fd);
  CloseAll(*plain);
  CloseAll(*without);
  ASSERT_TRUE((*server)->Stop().ok());
}

TEST(ForkServerTest, ReapReportsHowTheWorkerEnded) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server = ForkServer::Start(&EchoWorker);
  ASSERT_TRUE(server.ok());
  for (char command : {'q', 'x', 's'}) {
    absl::StatusOr<ForkServer::Worker> worker = (*server)->Spawn(0);
    ASSERT_TRUE(worker.ok());
    ReadHello(worker->socket_fd);
    ASSERT_EQ(write(worker->socket_fd, &command, 1), 1);
    absl::StatusOr<int> status = (*server)->Reap(worker->pid, absl::Seconds(10));
    ASSERT_TRUE(status.ok()) << status.status();
    const std::string how = DescribeWaitStatus(*status);
    const char* expected = command == 'q'   ? "exited with code 0"
                           : command == 'x' ? "exited with code 7"
                                            : "killed by signal 11";
    EXPECT_THAT(how, HasSubstr(expected));
    CloseAll(*worker);
  }
  EXPECT_EQ((*server)->Reap(12345678, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ForkServerTest, ReapKillsAWorkerThatDoesNotExit) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server = ForkServer::Start(&EchoWorker);
  ASSERT_TRUE(server.ok());
  absl::StatusOr<ForkServer::Worker> worker = (*server)->Spawn(0);
  ASSERT_TRUE(worker.ok());
  ReadHello(worker->socket_fd);  // the worker now blocks waiting for a command
  absl::StatusOr<int> status = (*server)->Reap(worker->pid, absl::Milliseconds(10));
  ASSERT_TRUE(status.ok());
  EXPECT_THAT(DescribeWaitStatus(*status), HasSubstr("killed by signal 9"));
  CloseAll(*worker);
}

TEST(ForkServerTest, StopEndsWorkersThatAreStillBusy) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server = ForkServer::Start(&EchoWorker);
  ASSERT_TRUE(server.ok());
  absl::StatusOr<ForkServer::Worker> worker = (*server)->Spawn(0);
  ASSERT_TRUE(worker.ok());
  // The driver keeps its end open: the worker never sees EOF and must be killed.
  ASSERT_TRUE((*server)->Stop().ok());
  EXPECT_FALSE(testing::ProcessPresent(worker->pid));
  EXPECT_THAT(testing::DescendantProcesses(), IsEmpty());
  EXPECT_EQ((*server)->Spawn(1).status().code(), absl::StatusCode::kUnavailable);
  CloseAll(*worker);
}

TEST(ForkServerTest, WorkersDoNotInheritTheDriversDescriptors) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);  // not close-on-exec: fork would copy it
  struct stat pipe_stat;
  ASSERT_EQ(fstat(pipe_fds[1], &pipe_stat), 0);
  absl::StatusOr<std::unique_ptr<ForkServer>> server = ForkServer::Start([&](int, int fd, int) {
    // Report whether the driver's pipe is open in the worker (its descriptor number may
    // have been reused for something else).
    struct stat now;
    const bool inherited = fstat(pipe_fds[1], &now) == 0 && now.st_ino == pipe_stat.st_ino;
    return SendAll(fd, inherited ? "inherited" : "clean").ok() ? 0 : 1;
  });
  ASSERT_TRUE(server.ok());
  absl::StatusOr<ForkServer::Worker> worker = (*server)->Spawn(0);
  ASSERT_TRUE(worker.ok());
  EXPECT_EQ(ReadHello(worker->socket_fd), "clean");
  // And the driver sees EOF on the pipe once it closes its own end: nobody else holds it.
  close(pipe_fds[1]);
  char byte;
  EXPECT_EQ(read(pipe_fds[0], &byte, 1), 0);
  close(pipe_fds[0]);
  CloseAll(*worker);
}

TEST(ForkServerTest, ServerKilledTakesItsWorkersWithIt) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server = ForkServer::Start(&EchoWorker);
  ASSERT_TRUE(server.ok());
  absl::StatusOr<ForkServer::Worker> worker = (*server)->Spawn(0);
  ASSERT_TRUE(worker.ok());
  ReadHello(worker->socket_fd);
  ASSERT_EQ(kill((*server)->pid(), SIGKILL), 0);
  EXPECT_FALSE((*server)->Stop().ok());  // it reports how the server ended
  EXPECT_TRUE(testing::WaitForProcessGone(worker->pid, absl::Seconds(5)));
  CloseAll(*worker);
}

}  // namespace
}  // namespace unidist::process_internal

namespace unidist::process_internal {
namespace {

// Kills the processes it holds when it goes out of scope: so that a failing test still
// ends what its workers started.
struct KillOnExit {
  ~KillOnExit() {
    for (pid_t pid : pids) {
      if (pid > 0) kill(pid, SIGKILL);
    }
  }
  std::vector<pid_t> pids;
};

// Reads the decimal pid a worker sent on `fd`; -1 if none came.
pid_t ReadPid(int fd) {
  int pid = -1;
  return absl::SimpleAtoi(ReadHello(fd), &pid) ? pid : -1;
}

// A worker that forks a child that stays in its process group and waits for a signal
// (ending itself after a minute), sends the child's pid, then waits for a command as
// EchoWorker does.
int ChildForkingWorker(int /*index*/, int fd, int /*shared_file_fd*/) {
  const pid_t child = fork();
  if (child == 0) {
    alarm(60);
    for (;;) pause();
  }
  if (child < 0 || !SendAll(fd, std::to_string(child)).ok()) return 1;
  char command;
  if (read(fd, &command, 1) != 1) return 0;
  return command == 'x' ? 7 : 0;
}

// A worker that starts a daemon: a child calls setsid() and forks the daemon, then exits.
// The daemon waits for a signal (ending itself after a minute) or, with `exit_with_worker`,
// until the worker exits. The worker reaps the middle child, so the daemon is an orphan by
// then, sends the daemon's pid and waits for a command as EchoWorker does.
int DaemonStartingWorker(int fd, bool exit_with_worker) {
  int report[2];
  int worker_alive[2];
  if (pipe(report) != 0 || pipe(worker_alive) != 0) return 1;
  const pid_t middle = fork();
  if (middle == 0) {
    setsid();
    if (fork() == 0) {
      close(worker_alive[1]);
      const pid_t self = getpid();
      if (write(report[1], &self, sizeof(self)) != sizeof(self)) _exit(1);
      if (exit_with_worker) {
        char byte;
        while (read(worker_alive[0], &byte, 1) != 0 && errno == EINTR) {
        }
        _exit(0);
      }
      alarm(60);
      for (;;) pause();
    }
    _exit(0);
  }
  close(report[1]);
  close(worker_alive[0]);
  pid_t daemon = -1;
  if (middle < 0 || read(report[0], &daemon, sizeof(daemon)) != sizeof(daemon)) return 1;
  int status;
  if (waitpid(middle, &status, 0) != middle) return 1;
  if (!SendAll(fd, std::to_string(daemon)).ok()) return 1;
  char command;
  if (read(fd, &command, 1) != 1) return 0;
  return 0;
}

TEST(ForkServerTest, AWorkersProcessGroupEndsWithIt) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server = ForkServer::Start(&ChildForkingWorker);
  ASSERT_TRUE(server.ok());
  KillOnExit guard;
  for (char how : {'q', 'k'}) {  // the worker exits, or is killed from outside
    absl::StatusOr<ForkServer::Worker> worker = (*server)->Spawn(0);
    ASSERT_TRUE(worker.ok());
    const pid_t child = ReadPid(worker->socket_fd);
    ASSERT_GT(child, 0);
    guard.pids.push_back(child);
    EXPECT_EQ(getpgid(worker->pid), worker->pid);
    EXPECT_EQ(getpgid(child), worker->pid);
    if (how == 'q') {
      ASSERT_EQ(write(worker->socket_fd, &how, 1), 1);
    } else {
      ASSERT_EQ(kill(worker->pid, SIGKILL), 0);
    }
    // The server ends the group as soon as it sees the worker die, before the driver asks
    // for the reap; the bound only turns a hang into a failure.
    EXPECT_TRUE(testing::WaitForProcessGone(child, absl::Seconds(30))) << how;
    absl::StatusOr<int> status = (*server)->Reap(worker->pid, absl::Seconds(10));
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_THAT(DescribeWaitStatus(*status),
                HasSubstr(how == 'q' ? "exited with code 0" : "killed by signal 9"));
    CloseAll(*worker);
  }
  ASSERT_TRUE((*server)->Stop().ok());
  EXPECT_THAT(testing::DescendantProcesses(), IsEmpty());
}

TEST(ForkServerTest, ADaemonThatLeftTheGroupIsAdoptedAndEndedAtStop) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server =
      ForkServer::Start([](int, int fd, int) { return DaemonStartingWorker(fd, false); });
  ASSERT_TRUE(server.ok());
  KillOnExit guard;
  absl::StatusOr<ForkServer::Worker> worker = (*server)->Spawn(0);
  ASSERT_TRUE(worker.ok());
  const pid_t daemon = ReadPid(worker->socket_fd);
  ASSERT_GT(daemon, 0);
  guard.pids.push_back(daemon);
  EXPECT_NE(getpgid(daemon), worker->pid);
  EXPECT_THAT(testing::ChildProcesses((*server)->pid()), Contains(daemon));
  // Its worker ends; the daemon is in another group and session, so it stays until Stop.
  const char quit = 'q';
  ASSERT_EQ(write(worker->socket_fd, &quit, 1), 1);
  absl::StatusOr<int> status = (*server)->Reap(worker->pid, absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_THAT(DescribeWaitStatus(*status), HasSubstr("exited with code 0"));
  EXPECT_TRUE(testing::ProcessPresent(daemon));
  CloseAll(*worker);
  ASSERT_TRUE((*server)->Stop().ok());
  EXPECT_FALSE(testing::ProcessPresent(daemon));
  EXPECT_THAT(testing::DescendantProcesses(), IsEmpty());
}

TEST(ForkServerTest, AnAdoptedOrphanThatExitsIsReaped) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server =
      ForkServer::Start([](int, int fd, int) { return DaemonStartingWorker(fd, true); });
  ASSERT_TRUE(server.ok());
  KillOnExit guard;
  absl::StatusOr<ForkServer::Worker> worker = (*server)->Spawn(0);
  ASSERT_TRUE(worker.ok());
  const pid_t daemon = ReadPid(worker->socket_fd);
  ASSERT_GT(daemon, 0);
  guard.pids.push_back(daemon);
  const char quit = 'q';
  ASSERT_EQ(write(worker->socket_fd, &quit, 1), 1);
  // The daemon exits with its worker, as the server's child: the server reaps it while it
  // runs, and a zombie would count as present.
  EXPECT_TRUE(testing::WaitForProcessGone(daemon, absl::Seconds(30)));
  // Reaping it did not take the worker's exit status.
  absl::StatusOr<int> status = (*server)->Reap(worker->pid, absl::Seconds(10));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_THAT(DescribeWaitStatus(*status), HasSubstr("exited with code 0"));
  CloseAll(*worker);
}

// A terminal's SIGINT reaches the whole foreground group: the server survives it, to end
// what the tasks started, while its workers keep the driver's disposition (the default
// here) and an empty signal mask.
TEST(ForkServerTest, TheServerOutlivesATerminalsSignalsAndWorkersKeepTheDrivers) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server = ForkServer::Start([](int, int fd, int) {
    struct sigaction interrupt = {};
    sigaction(SIGINT, nullptr, &interrupt);
    sigset_t blocked;
    sigprocmask(SIG_BLOCK, nullptr, &blocked);
    const bool as_driver = interrupt.sa_handler == SIG_DFL && !sigismember(&blocked, SIGCHLD);
    return SendAll(fd, as_driver ? "as the driver" : "changed").ok() ? 0 : 1;
  });
  ASSERT_TRUE(server.ok());
  for (int signal : {SIGINT, SIGQUIT, SIGHUP}) ASSERT_EQ(kill((*server)->pid(), signal), 0);
  // Pending before the server can answer: had they killed it, Spawn would fail.
  absl::StatusOr<ForkServer::Worker> worker = (*server)->Spawn(0);
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ(ReadHello(worker->socket_fd), "as the driver");
  CloseAll(*worker);
  EXPECT_TRUE((*server)->Stop().ok());
}

TEST(ForkServerTest, WorkerOutputGoesToItsPipes) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server = ForkServer::Start([](int index, int, int) {
    std::printf("out %d\n", index);
    std::fprintf(stderr, "err %d\n", index);
    return 0;  // the fork server flushes stdio before the worker exits
  });
  ASSERT_TRUE(server.ok());
  absl::StatusOr<ForkServer::Worker> worker = (*server)->Spawn(4);
  ASSERT_TRUE(worker.ok());
  EXPECT_EQ(ReadHello(worker->stdout_fd), "out 4\n");
  EXPECT_EQ(ReadHello(worker->stderr_fd), "err 4\n");
  CloseAll(*worker);
}

}  // namespace
}  // namespace unidist::process_internal
