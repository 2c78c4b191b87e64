// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/fork_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "process_manager/internal/os_util.h"
#include "testing/process_helpers.h"

namespace unidist::process_internal {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// A worker that writes its index and pid, then waits for a command byte:
// 'q' exits 0, 'x' exits with code 7, 's' segfaults; EOF exits 0.
int EchoWorker(int index, int fd) {
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
  absl::StatusOr<std::unique_ptr<ForkServer>> server = ForkServer::Start([&](int, int fd) {
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

TEST(ForkServerTest, WorkerOutputGoesToItsPipes) {
  absl::StatusOr<std::unique_ptr<ForkServer>> server = ForkServer::Start([](int index, int) {
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
