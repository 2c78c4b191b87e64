// Copyright 2026 The unidist-cpp Authors.
//
// WorkerOutput: passes a worker's stdout and stderr on to the driver's.
//
// The fork server makes each worker's stdout and stderr pipes and hands their read ends to
// the driver (see fork_server.h). A WorkerOutput owns those two read ends: it writes every
// line the worker prints to the driver's own stdout or stderr with a "(worker N pid P) "
// prefix, and keeps the last lines of stderr (where glog's failure signal handler writes a
// crash's stack trace) for the error reported when the worker dies.
//
// Not thread-safe: the driver's event thread is its one user (and Shutdown, after that
// thread has ended).

#ifndef UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_OUTPUT_H_
#define UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_OUTPUT_H_

#include <sys/types.h>

#include <deque>
#include <string>

#include "absl/strings/string_view.h"

namespace unidist::process_internal {

class WorkerOutput {
 public:
  // Lines longer than this are passed on in pieces.
  static constexpr size_t kMaxLineBytes = 64 * 1024;
  // How many lines of stderr StderrTail reports.
  static constexpr size_t kStderrTailLines = 32;

  // Nothing to forward.
  WorkerOutput() = default;
  // Takes ownership of the non-blocking read ends `stdout_fd` and `stderr_fd` of worker
  // `index`'s pipes.
  WorkerOutput(int index, pid_t pid, int stdout_fd, int stderr_fd);
  // Closes the pipes (without reading what is left: see Drain).
  ~WorkerOutput();

  WorkerOutput(const WorkerOutput&) = delete;
  WorkerOutput& operator=(const WorkerOutput&) = delete;

  // The read end of stdout (stream 0) or stderr (stream 1); -1 once closed.
  int fd(int stream) const { return streams_[stream].fd; }

  // Reads what `stream` holds now and passes on its complete lines. Closes the pipe at
  // end of file (the worker and everything it started are gone).
  void Forward(int stream);

  // For a worker that has exited: passes on everything left in both pipes, unfinished
  // last lines too, and closes them. Stops at an empty pipe even without end of file,
  // since a process the worker started may still hold the write end.
  void Drain();

  // "\nlast lines of the worker's stderr:\n  <line>\n  <line>...", or "" if it wrote none.
  std::string StderrTail() const;

 private:
  struct Stream {
    int fd = -1;
    std::string partial_line;  // read, not yet ended by a newline
  };

  // Reads `stream`; with `to_end`, an empty pipe also ends the stream.
  void Read(int stream, bool to_end);
  void Emit(int stream, absl::string_view line);
  void Close(int stream);

  int index_ = -1;
  pid_t pid_ = -1;
  Stream streams_[2];
  std::deque<std::string> stderr_tail_;
};

}  // namespace unidist::process_internal

#endif  // UNIDIST_PROCESS_MANAGER_INTERNAL_WORKER_OUTPUT_H_
