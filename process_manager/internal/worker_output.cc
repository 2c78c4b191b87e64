// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/worker_output.h"

#include <errno.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace unidist::process_internal {
namespace {

// How much of one stderr line the tail keeps.
constexpr size_t kTailLineBytes = 1000;

void WriteAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;  // the driver's own output is gone: nothing to do
    bytes.remove_prefix(static_cast<size_t>(written));
  }
}

}  // namespace

WorkerOutput::WorkerOutput(int index, pid_t pid, int stdout_fd, int stderr_fd)
    : index_(index), pid_(pid) {
  streams_[0].fd = stdout_fd;
  streams_[1].fd = stderr_fd;
}

WorkerOutput::~WorkerOutput() {
  Close(0);
  Close(1);
}

void WorkerOutput::Forward(int stream) { Read(stream, /*to_end=*/false); }

void WorkerOutput::Drain() {
  Read(0, /*to_end=*/true);
  Read(1, /*to_end=*/true);
}

std::string WorkerOutput::StderrTail() const {
  if (stderr_tail_.empty()) return "";
  std::string tail = "\nlast lines of the worker's stderr:";
  for (const std::string& line : stderr_tail_) absl::StrAppend(&tail, "\n  ", line);
  return tail;
}

void WorkerOutput::Read(int stream, bool to_end) {
  Stream& output = streams_[stream];
  char buffer[64 * 1024];
  while (output.fd >= 0) {
    const ssize_t received = read(output.fd, buffer, sizeof(buffer));
    if (received < 0 && errno == EINTR) continue;
    if (received > 0) {
      absl::string_view bytes(buffer, static_cast<size_t>(received));
      for (size_t newline; (newline = bytes.find('\n')) != absl::string_view::npos;) {
        output.partial_line.append(bytes.data(), newline);
        Emit(stream, output.partial_line);
        output.partial_line.clear();
        bytes.remove_prefix(newline + 1);
      }
      output.partial_line.append(bytes.data(), bytes.size());
      if (output.partial_line.size() >= kMaxLineBytes) {
        Emit(stream, output.partial_line);
        output.partial_line.clear();
      }
      continue;
    }
    if (received < 0 && errno == EAGAIN && !to_end) return;  // all read for now
    // EOF, an error, or (draining a dead worker) EAGAIN because some process the worker
    // started still holds the pipe: this stream is done.
    if (!output.partial_line.empty()) Emit(stream, output.partial_line);
    output.partial_line.clear();
    Close(stream);
  }
}

void WorkerOutput::Emit(int stream, absl::string_view line) {
  WriteAll(stream == 0 ? STDOUT_FILENO : STDERR_FILENO,
           absl::StrFormat("(worker %d pid %d) %s\n", index_, pid_, line));
  if (stream == 1) {
    stderr_tail_.emplace_back(line.substr(0, kTailLineBytes));
    if (stderr_tail_.size() > kStderrTailLines) stderr_tail_.pop_front();
  }
}

void WorkerOutput::Close(int stream) {
  // Closing also removes the descriptor from the driver's epoll set.
  if (streams_[stream].fd >= 0) close(streams_[stream].fd);
  streams_[stream].fd = -1;
}

}  // namespace unidist::process_internal
