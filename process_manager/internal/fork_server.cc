// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/fork_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "process_manager/internal/fork_server.pb.h"
#include "process_manager/internal/os_util.h"

namespace unidist::process_internal {
namespace {

constexpr size_t kMaxDatagramBytes = 4096;

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

// Makes the server's descriptor table hold only stdin/out/err and `keep`.
void CloseInheritedDescriptors(int keep) {
  if (keep > 3) close_range(3, static_cast<unsigned>(keep) - 1, 0);
  close_range(static_cast<unsigned>(keep) + 1, ~0U, 0);
}

// The fork server's side. Runs in the forked server process; never returns.
class Server {
 public:
  Server(int control_fd, WorkerMain worker_main)
      : control_fd_(control_fd), worker_main_(std::move(worker_main)) {}

  [[noreturn]] void Run() {
    for (;;) {
      std::vector<int> unexpected_fds;
      absl::StatusOr<std::string> bytes =
          ReceiveDatagram(control_fd_, kMaxDatagramBytes, &unexpected_fds);
      for (int fd : unexpected_fds) close(fd);
      if (!bytes.ok() || bytes->empty()) break;  // the driver stopped us or died
      proto::ForkServerRequest request;
      proto::ForkServerReply reply;
      std::vector<int> fds_to_pass;
      if (!request.ParseFromString(*bytes)) {
        reply.set_error("malformed fork server request");
      } else if (request.has_spawn()) {
        fds_to_pass = Spawn(request.spawn().worker_index(), &reply);
      } else if (request.has_reap()) {
        Reap(request.reap().pid(), absl::Milliseconds(request.reap().grace_ms()), &reply);
      } else {
        reply.set_error("empty fork server request");
      }
      const absl::Status sent = SendDatagram(control_fd_, reply.SerializeAsString(), fds_to_pass);
      for (int fd : fds_to_pass) close(fd);
      if (!sent.ok()) break;
    }
    EndAllWorkers();
    _exit(0);
  }

 private:
  // Forks a worker. Returns the driver's ends of its socket, its stdout pipe and its
  // stderr pipe, or nothing (with reply.error set).
  std::vector<int> Spawn(int worker_index, proto::ForkServerReply* reply) {
    int sockets[2] = {-1, -1};
    int out_pipe[2] = {-1, -1};
    int err_pipe[2] = {-1, -1};
    auto close_all = [&] {
      for (int fd : {sockets[0], sockets[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
        if (fd >= 0) close(fd);
      }
    };
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0 ||
        pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
      reply->set_error(ErrnoStatus("socketpair/pipe").ToString());
      close_all();
      return {};
    }
    const pid_t server_pid = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      reply->set_error(ErrnoStatus("fork").ToString());
      close_all();
      return {};
    }
    if (pid == 0) {
      close(control_fd_);
      close(sockets[0]);
      // The worker's output goes to the driver, which tags each line with the worker and
      // keeps the last lines of stderr for the error it reports if the worker dies.
      dup2(out_pipe[1], STDOUT_FILENO);
      dup2(err_pipe[1], STDERR_FILENO);
      for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
      // Lines a task prints reach the driver as they are written, not at exit.
      setvbuf(stdout, nullptr, _IOLBF, 0);
      // The driver's input is the driver's: a task reading stdin sees end of file.
      if (const int null_fd = open("/dev/null", O_RDONLY); null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        if (null_fd != STDIN_FILENO) close(null_fd);
      }
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != server_pid) _exit(1);  // the server died before the prctl
      const int code = worker_main_(worker_index, sockets[1]);
      fflush(nullptr);
      _exit(code);  // no atexit handlers: they belong to the driver's program
    }
    close(sockets[1]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    workers_.emplace(pid, PidfdOpen(pid));
    reply->set_pid(pid);
    return {sockets[0], out_pipe[0], err_pipe[0]};
  }

  void Reap(pid_t pid, absl::Duration grace, proto::ForkServerReply* reply) {
    auto it = workers_.find(pid);
    if (it == workers_.end()) {
      reply->set_error(absl::StrCat("process ", pid, " is not a live worker"));
      return;
    }
    const int pidfd = it->second;
    if (pidfd >= 0) {
      pollfd exited{pidfd, POLLIN, 0};
      const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(grace));
      while (poll(&exited, 1, timeout_ms) < 0 && errno == EINTR) {
      }
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    if (pidfd >= 0) close(pidfd);
    workers_.erase(it);
    reply->set_pid(pid);
    reply->set_wait_status(status);
  }

  void EndAllWorkers() {
    const absl::Time deadline = absl::Now() + ForkServer::kStopGrace;
    std::vector<pollfd> pending;
    for (;;) {
      pending.clear();
      for (const auto& [pid, pidfd] : workers_) {
        if (pidfd >= 0) pending.push_back({pidfd, POLLIN, 0});
      }
      const absl::Duration left = deadline - absl::Now();
      if (pending.empty() || left <= absl::ZeroDuration()) break;
      if (poll(pending.data(), pending.size(),
               static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) {
        continue;  // EINTR or the deadline: the loop condition decides
      }
      for (auto it = workers_.begin(); it != workers_.end();) {
        int status;
        if (waitpid(it->first, &status, WNOHANG) == it->first) {
          if (it->second >= 0) close(it->second);
          workers_.erase(it++);
        } else {
          ++it;
        }
      }
    }
    for (const auto& [pid, pidfd] : workers_) kill(pid, SIGKILL);
    for (const auto& [pid, pidfd] : workers_) {
      int status;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }

  const int control_fd_;
  const WorkerMain worker_main_;
  // Live workers and their pidfds (-1 where pidfd_open failed).
  absl::flat_hash_map<pid_t, int> workers_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ForkServer>> ForkServer::Start(WorkerMain worker_main) {
  int sockets[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
    return ErrnoStatus("socketpair for the fork server");
  }
  // Output the driver buffered but did not write yet would otherwise be written again by
  // every worker that flushes its copy.
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    const absl::Status status = ErrnoStatus("fork of the fork server");
    close(sockets[0]);
    close(sockets[1]);
    return status;
  }
  if (pid == 0) {
    // The server: a fresh signal state, so that waitpid works even if the driver ignores
    // SIGCHLD and so that no signal blocked in the forking thread stays blocked.
    signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    CloseInheritedDescriptors(sockets[1]);
    Server(sockets[1], std::move(worker_main)).Run();
  }
  close(sockets[1]);
  return std::unique_ptr<ForkServer>(new ForkServer(pid, sockets[0]));
}

ForkServer::~ForkServer() { Stop().IgnoreError(); }

absl::StatusOr<std::string> ForkServer::Call(const std::string& request,
                                             std::vector<int>* received_fds) {
  if (stopped_) return absl::UnavailableError("the fork server has stopped");
  absl::Status sent = SendDatagram(control_fd_, request);
  if (!sent.ok()) {
    // Its end of the socket is closed: it exited or was killed, and its workers with it.
    return absl::UnavailableError(absl::StrCat("the fork server is gone (", sent.message(), ")"));
  }
  absl::StatusOr<std::string> reply = ReceiveDatagram(control_fd_, kMaxDatagramBytes, received_fds);
  if (!reply.ok()) return reply.status();
  if (reply->empty()) return absl::UnavailableError("the fork server exited");
  return reply;
}

absl::StatusOr<ForkServer::Worker> ForkServer::Spawn(int worker_index) {
  proto::ForkServerRequest request;
  request.mutable_spawn()->set_worker_index(worker_index);
  absl::MutexLock lock(&mu_);
  std::vector<int> fds;
  absl::StatusOr<std::string> bytes = Call(request.SerializeAsString(), &fds);
  proto::ForkServerReply reply;
  if (bytes.ok() && reply.ParseFromString(*bytes) && reply.error().empty() && fds.size() == 3) {
    return Worker{reply.pid(), fds[0], fds[1], fds[2]};
  }
  for (int fd : fds) close(fd);
  if (!bytes.ok()) return bytes.status();
  return absl::InternalError(absl::StrCat("could not start worker ", worker_index, ": ",
                                          reply.error().empty() ? "bad reply" : reply.error()));
}

absl::StatusOr<int> ForkServer::Reap(pid_t pid, absl::Duration grace) {
  proto::ForkServerRequest request;
  request.mutable_reap()->set_pid(pid);
  request.mutable_reap()->set_grace_ms(absl::ToInt64Milliseconds(grace));
  absl::MutexLock lock(&mu_);
  std::vector<int> fds;
  absl::StatusOr<std::string> bytes = Call(request.SerializeAsString(), &fds);
  for (int fd : fds) close(fd);
  if (!bytes.ok()) return bytes.status();
  proto::ForkServerReply reply;
  if (!reply.ParseFromString(*bytes)) return absl::InternalError("bad fork server reply");
  if (!reply.error().empty()) return absl::NotFoundError(reply.error());
  return reply.wait_status();
}

absl::Status ForkServer::Stop() {
  absl::MutexLock lock(&mu_);
  if (stopped_) return absl::OkStatus();
  stopped_ = true;
  close(control_fd_);
  control_fd_ = -1;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0) {
    if (errno == ECHILD) return absl::OkStatus();  // the program ignores SIGCHLD
    if (errno != EINTR) return ErrnoStatus("waitpid for the fork server");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("the fork server ", DescribeWaitStatus(status)));
  }
  return absl::OkStatus();
}

}  // namespace unidist::process_internal
