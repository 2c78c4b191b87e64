// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/fork_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/monotonic_clock.h"
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

// The signals a terminal sends to its whole foreground process group. The server ignores
// them, so that it outlives a driver they kill and ends everything the driver's tasks
// started; its workers get the driver's own dispositions back.
constexpr int kTerminalSignals[] = {SIGINT, SIGQUIT, SIGHUP};
constexpr size_t kNumTerminalSignals = sizeof(kTerminalSignals) / sizeof(kTerminalSignals[0]);

// Every process's parent, from /proc/<pid>/stat; false if /proc cannot be read.
bool ReadParents(std::vector<std::pair<pid_t, pid_t>>* pid_and_parent) {
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return false;
  while (dirent* entry = readdir(proc)) {
    int pid;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // it is gone
    char text[512];
    const ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0) continue;
    text[n] = '\0';
    // The command name (field 2) may hold spaces and parentheses: start after its last ')'.
    const char* close_paren = strrchr(text, ')');
    char state;
    int parent;
    if (close_paren != nullptr && sscanf(close_paren + 1, " %c %d", &state, &parent) == 2) {
      pid_and_parent->emplace_back(pid, parent);
    }
  }
  closedir(proc);
  return true;
}

// The processes below `root` (children, their children, ...); false if /proc cannot be
// read.
bool Descendants(pid_t root, std::vector<pid_t>* found) {
  std::vector<std::pair<pid_t, pid_t>> all;
  if (!ReadParents(&all)) return false;
  found->clear();
  std::vector<pid_t> parents = {root};
  for (size_t i = 0; i < parents.size(); ++i) {
    for (const auto& [pid, parent] : all) {
      if (parent == parents[i]) {
        parents.push_back(pid);
        found->push_back(pid);
      }
    }
  }
  return true;
}

// The fork server's side. Runs in the forked server process; never returns.
class Server {
 public:
  // Ignores kTerminalSignals from now on, keeping the driver's dispositions for the
  // workers. Start blocks them around the fork, so that none arriving before this can
  // kill the server.
  Server(int control_fd, WorkerMain worker_main)
      : control_fd_(control_fd), worker_main_(std::move(worker_main)) {
    struct sigaction ignore = {};
    ignore.sa_handler = SIG_IGN;
    for (size_t i = 0; i < kNumTerminalSignals; ++i) {
      sigaction(kTerminalSignals[i], &ignore, &driver_dispositions_[i]);
    }
  }

  [[noreturn]] void Run() {
    // Orphans of every process below the server (a task's daemon whose parent exited)
    // become the server's children, so that it can reap them and end them at the end.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    // SIGCHLD, for the deaths of workers and of adopted orphans, is read from a signalfd
    // in the loop below. Without one (signalfd failed), orphans are reaped after each
    // request and at the end.
    sigset_t child_signal;
    sigemptyset(&child_signal);
    sigaddset(&child_signal, SIGCHLD);
    sigprocmask(SIG_BLOCK, &child_signal, nullptr);
    signal_fd_ = signalfd(-1, &child_signal, SFD_NONBLOCK | SFD_CLOEXEC);
    for (;;) {
      pollfd ready[2] = {{control_fd_, POLLIN, 0}, {signal_fd_, POLLIN, 0}};
      if (poll(ready, signal_fd_ >= 0 ? 2 : 1, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (signal_fd_ >= 0 && ready[1].revents != 0) {
        signalfd_siginfo info;
        while (read(signal_fd_, &info, sizeof(info)) > 0) {
        }
        CollectChildren();
      }
      if (ready[0].revents == 0) continue;
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
        fds_to_pass =
            Spawn(request.spawn().worker_index(), request.spawn().shared_file_bytes(), &reply);
      } else if (request.has_reap()) {
        Reap(request.reap().pid(), absl::Milliseconds(request.reap().grace_ms()), &reply);
      } else {
        reply.set_error("empty fork server request");
      }
      const absl::Status sent = SendDatagram(control_fd_, reply.SerializeAsString(), fds_to_pass);
      for (int fd : fds_to_pass) close(fd);
      if (!sent.ok()) break;
      if (signal_fd_ < 0) CollectChildren();
    }
    EndEverything();
    _exit(0);
  }

 private:
  // Forks a worker. Returns the driver's ends of its socket, its stdout pipe and its
  // stderr pipe, and its shared file if one was asked for and could be made; or nothing
  // (with reply.error set).
  std::vector<int> Spawn(int worker_index, uint64_t shared_file_bytes,
                         proto::ForkServerReply* reply) {
    int sockets[2] = {-1, -1};
    int out_pipe[2] = {-1, -1};
    int err_pipe[2] = {-1, -1};
    // Without one (no memfd_create here, or no memory) the worker does without.
    const int shared_fd = MakeSharedFile(shared_file_bytes);
    auto close_all = [&] {
      for (int fd : {sockets[0], sockets[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1],
                     shared_fd}) {
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
      if (signal_fd_ >= 0) close(signal_fd_);
      close(sockets[0]);
      // The signal state the driver had (see kTerminalSignals), and a process group of its
      // own, which the server kills when the worker ends (see the header).
      for (size_t i = 0; i < kNumTerminalSignals; ++i) {
        sigaction(kTerminalSignals[i], &driver_dispositions_[i], nullptr);
      }
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      setpgid(0, 0);
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
      const int code = worker_main_(worker_index, sockets[1], shared_fd);
      fflush(nullptr);
      _exit(code);  // no atexit handlers: they belong to the driver's program
    }
    // Also here, so that the group exists before anyone can learn the worker's pid (the
    // child may not have run yet). It fails only if the child is already gone.
    setpgid(pid, pid);
    close(sockets[1]);
    close(out_pipe[1]);
    close(err_pipe[1]);
    workers_.emplace(pid, PidfdOpen(pid));
    reply->set_pid(pid);
    if (shared_fd >= 0) return {sockets[0], out_pipe[0], err_pipe[0], shared_fd};
    return {sockets[0], out_pipe[0], err_pipe[0]};
  }

  // A zero-filled shared memory file of `bytes` bytes, close-on-exec; -1 for none.
  static int MakeSharedFile(uint64_t bytes) {
    if (bytes == 0) return -1;
    const int fd = memfd_create("unidist-worker", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      close(fd);
      return -1;
    }
    return fd;
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
    if (!HasExited(pid)) kill(pid, SIGKILL);
    // Until it is a zombie, without reaping it: its group is ended first (EndGroup).
    siginfo_t info = {};
    while (waitid(P_PID, pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
    EndGroup(pid);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (pidfd >= 0) close(pidfd);
    workers_.erase(it);
    reply->set_pid(pid);
    reply->set_wait_status(status);
  }

  // True if worker `pid` has exited (it is a zombie, not reaped).
  static bool HasExited(pid_t pid) {
    siginfo_t info = {};
    return waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
  }

  // Kills what is left of the process group of worker `pid`: what its tasks started and
  // did not move to another group or session. Only while the worker is not reaped: until
  // then its pid, the group's id, cannot name a newer process group.
  static void EndGroup(pid_t pid) { kill(-pid, SIGKILL); }

  // After SIGCHLD: ends the groups of workers that exited (the driver asks for their reap,
  // and learns how they ended, later), and reaps every other child that has exited — the
  // orphans the server adopted. A worker is reaped only by Reap.
  void CollectChildren() {
    for (const auto& [pid, pidfd] : workers_) {
      if (HasExited(pid)) EndGroup(pid);  // again for a later SIGCHLD: harmless
    }
    std::vector<pid_t> children;
    std::vector<std::pair<pid_t, pid_t>> all;
    if (!ReadParents(&all)) return;
    const pid_t self = getpid();
    for (const auto& [pid, parent] : all) {
      if (parent != self || workers_.contains(pid)) continue;
      int status;
      while (waitpid(pid, &status, WNOHANG) < 0 && errno == EINTR) {
      }
    }
  }

  // Ends every worker and everything below the server, and reaps them all: the workers
  // get kStopGrace to exit on their own (they see EOF on their sockets), then everything
  // left is killed with SIGKILL.
  void EndEverything() {
    // Time from clock_gettime, never absl::Now(): the server is a fork of a threaded
    // process without exec, and absl's clock takes a spin lock that another thread of
    // the parent may have held at the fork, forever held here (a hang seen under TSan).
    const int64_t deadline_ns = MonotonicNanos() + absl::ToInt64Nanoseconds(ForkServer::kStopGrace);
    std::vector<pollfd> pending;
    for (const auto& [pid, pidfd] : workers_) {
      if (pidfd >= 0) pending.push_back({pidfd, POLLIN, 0});
    }
    while (!pending.empty()) {
      const int64_t left_ns = deadline_ns - MonotonicNanos();
      if (left_ns <= 0) break;
      if (poll(pending.data(), pending.size(), static_cast<int>(left_ns / 1'000'000) + 1) <= 0) {
        continue;  // EINTR or the deadline: the loop condition decides
      }
      pending.erase(std::remove_if(pending.begin(), pending.end(),
                                   [](const pollfd& each) { return each.revents != 0; }),
                    pending.end());
    }
    // No worker is reaped yet, so every group id is still its own.
    for (const auto& [pid, pidfd] : workers_) {
      kill(pid, SIGKILL);
      EndGroup(pid);
    }
    // Then whatever is left below the server (orphans that left their worker's group or
    // session, and their children), until it has no child: what a dying process forks
    // is found by the next round, as the server adopts it. A process the server may not
    // signal (one that changed its user id) is left after kEndDeadline.
    const int64_t give_up_ns = MonotonicNanos() + absl::ToInt64Nanoseconds(kEndDeadline);
    std::vector<pid_t> below;
    while (Descendants(getpid(), &below)) {
      bool signalled = false;
      for (pid_t pid : below) signalled = kill(pid, SIGKILL) == 0 || signalled;
      int status;
      pid_t reaped;
      while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
      }
      if (reaped < 0 && errno == ECHILD) break;  // nothing is left
      if (!signalled || MonotonicNanos() >= give_up_ns) break;
      // The next death (SIGCHLD), or a short timeout without a signalfd.
      pollfd child_signal{signal_fd_, POLLIN, 0};
      poll(&child_signal, 1, signal_fd_ >= 0 ? 1000 : 10);
      signalfd_siginfo info;
      while (signal_fd_ >= 0 && read(signal_fd_, &info, sizeof(info)) > 0) {
      }
    }
    // Without /proc: the workers at least (killed above), and the orphans that exited.
    for (const auto& [pid, pidfd] : workers_) {
      int status;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    int status;
    while (waitpid(-1, &status, WNOHANG) > 0) {
    }
  }

  // How long EndEverything goes on killing processes below the server.
  static constexpr absl::Duration kEndDeadline = absl::Seconds(5);

  const int control_fd_;
  const WorkerMain worker_main_;
  int signal_fd_ = -1;  // SIGCHLD; -1 if signalfd failed
  struct sigaction driver_dispositions_[kNumTerminalSignals] = {};
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
  // A terminal's signals are blocked until the server ignores them (see Server).
  sigset_t terminal_signals;
  sigset_t previous_mask;
  sigemptyset(&terminal_signals);
  for (int signal : kTerminalSignals) sigaddset(&terminal_signals, signal);
  pthread_sigmask(SIG_BLOCK, &terminal_signals, &previous_mask);
  const pid_t pid = fork();
  if (pid != 0) pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
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
    Server server(sockets[1], std::move(worker_main));
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    CloseInheritedDescriptors(sockets[1]);
    server.Run();
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

absl::StatusOr<ForkServer::Worker> ForkServer::Spawn(int worker_index, size_t shared_file_bytes) {
  proto::ForkServerRequest request;
  request.mutable_spawn()->set_worker_index(worker_index);
  request.mutable_spawn()->set_shared_file_bytes(shared_file_bytes);
  absl::MutexLock lock(&mu_);
  std::vector<int> fds;
  absl::StatusOr<std::string> bytes = Call(request.SerializeAsString(), &fds);
  proto::ForkServerReply reply;
  // A fourth descriptor, the shared file, only if one was asked for.
  const bool fds_as_asked = fds.size() == 3 || (fds.size() == 4 && shared_file_bytes > 0);
  if (bytes.ok() && reply.ParseFromString(*bytes) && reply.error().empty() && fds_as_asked) {
    return Worker{reply.pid(), fds[0], fds[1], fds[2], fds.size() == 4 ? fds[3] : -1};
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
