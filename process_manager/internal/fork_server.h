// Copyright 2026 The unidist-cpp Authors.
//
// ForkServer: a single-threaded child of the driver that forks the worker processes.
//
// Why: fork() in a multi-threaded process copies only the calling thread, and any lock
// another thread held at that instant (an absl::Mutex, glog's, the allocator's) stays
// locked forever in the child. The driver forks the server once, at Init, before the
// runtime starts any thread of its own; every worker — the first ones and every
// replacement later — is then forked from that quiet process, and is a copy of the driver's
// program with all its registered functions.
//
// Process tree and cleanup:
//   driver ── fork server ── worker 0, worker 1, ...
// * The server holds only its control socket: right after it is forked it closes every
//   other descriptor it inherited, so no worker holds the driver's (or the user's) files.
// * Each worker gets one end of a fresh socketpair; the server passes the other end to the
//   driver (SCM_RIGHTS) and closes its copy, so the driver sees EOF when the worker dies.
//   A shared memory file asked for with Spawn goes to both the same way.
//   The worker's stdout and stderr are pipes whose read ends go to the driver the same way.
// * Workers ask for SIGKILL when the server dies (PR_SET_PDEATHSIG; the server has one
//   thread, so "parent thread" is the server itself).
// * When the control socket closes — Stop(), or the driver dying even by SIGKILL — the
//   server gives its workers a short grace period to exit (they see EOF on their sockets
//   too), kills the rest with SIGKILL, reaps them all and exits. The server reaps every
//   worker, so no zombie is left; Stop() reaps the server.
//
// What tasks start: nothing a task forks outlives the session, and most of it not its
// worker either:
// * Each worker leads a process group of its own (setpgid), which its tasks' children
//   inherit. When a worker ends — it exits, crashes or is killed, for whatever reason —
//   the server kills its whole group with SIGKILL, as soon as it sees SIGCHLD and before
//   it reaps the worker (so the group id cannot name a newer group).
// * The server is a child subreaper (PR_SET_CHILD_SUBREAPER): a process whose parent
//   exits is adopted by the server rather than by init, even one that called setsid()
//   or setpgid() (a daemon's double fork). The server reaps adopted processes when they
//   exit (it reads SIGCHLD from a signalfd in its loop), and when it stops it kills
//   every process below it, round after round until it has no child left.
// * So a process that stays in its worker's group ends with the worker; one that left
//   the group (setsid, setpgid) ends when its worker's session does, at Stop() or when the
//   driver dies. A worker is still reaped only by Reap: the server reaps other children
//   by pid, never with waitpid(-1) while it runs, so it never takes a worker's status.
// * The server ignores SIGINT, SIGQUIT and SIGHUP, which a terminal sends to a whole
//   foreground process group: a Ctrl-C that kills the driver leaves the server to clean
//   up. Workers get the driver's own dispositions back, but being in groups of their
//   own they no longer receive a terminal's signals; the driver decides.
// Limits: a process escapes if the server cannot signal it (it changed its user id, e.g.
// a setuid program) — the server gives up on it after a few seconds at Stop() — or if it
// is not below the server at all (started by another service through IPC). A subreaper
// of a task's own keeps the orphans below it, where Stop() still finds them. If the
// server itself is killed with SIGKILL, its workers die (PDEATHSIG) but what their tasks
// started is left. Finding what is below the server reads /proc.
//
// Thread-safe: requests from several threads are serialized.

#ifndef UNIDIST_PROCESS_MANAGER_INTERNAL_FORK_SERVER_H_
#define UNIDIST_PROCESS_MANAGER_INTERNAL_FORK_SERVER_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace unidist::process_internal {

// Runs in a new worker process with its index, its end of the socket to the driver and its
// shared file (-1 if none was asked for or it could not be made; see Spawn). Returns the
// process's exit code.
using WorkerMain = std::function<int(int worker_index, int socket_fd, int shared_file_fd)>;

class ForkServer {
 public:
  // A new worker. The descriptors are the driver's ends, owned by the caller and
  // close-on-exec.
  struct Worker {
    pid_t pid = -1;
    int socket_fd = -1;       // the task/result stream
    int stdout_fd = -1;       // read end of the pipe that is the worker's stdout
    int stderr_fd = -1;       // read end of the pipe that is the worker's stderr
    int shared_file_fd = -1;  // the file shared with the worker, or -1 (see Spawn)
  };

  // How long workers get to exit on their own when the server stops.
  static constexpr absl::Duration kStopGrace = absl::Milliseconds(200);

  // Forks the server. Call before the caller starts threads of its own (see above).
  static absl::StatusOr<std::unique_ptr<ForkServer>> Start(WorkerMain worker_main);

  // Stops the server (see Stop).
  ~ForkServer();

  ForkServer(const ForkServer&) = delete;
  ForkServer& operator=(const ForkServer&) = delete;

  // Forks a worker. With `shared_file_bytes` > 0 the worker and the caller also get a
  // shared memory file of that size, made for this worker alone (memfd_create; zeros), or
  // -1 both if it could not be made. Unavailable if the server is gone; Internal if the
  // fork or the socketpair failed.
  absl::StatusOr<Worker> Spawn(int worker_index, size_t shared_file_bytes = 0);

  // Waits up to `grace` for worker `pid` to exit, then kills it with SIGKILL, kills what is
  // left of its process group, reaps it and returns its wait status. NotFound if `pid` is
  // not a live worker of this server.
  absl::StatusOr<int> Reap(pid_t pid, absl::Duration grace);

  // Closes the control socket and waits for the server to exit. The server ends every
  // worker first (kStopGrace, then SIGKILL), then every process below it, and reaps them
  // all. Idempotent.
  absl::Status Stop();

  pid_t pid() const { return pid_; }

 private:
  ForkServer(pid_t pid, int control_fd) : pid_(pid), control_fd_(control_fd) {}

  absl::StatusOr<std::string> Call(const std::string& request, std::vector<int>* received_fds)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const pid_t pid_;
  absl::Mutex mu_;
  int control_fd_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace unidist::process_internal

#endif  // UNIDIST_PROCESS_MANAGER_INTERNAL_FORK_SERVER_H_
