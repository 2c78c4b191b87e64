// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/os_util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace unidist::process_internal {

absl::Status ErrnoStatus(absl::string_view what) {
  const int error = errno;
  const std::string message = absl::StrCat(what, ": ", strerror(error));
  switch (error) {
    case EPIPE:
    case ECONNRESET:
    case ENOTCONN:
      return absl::UnavailableError(message);
    case EMFILE:
    case ENFILE:
    case ENOMEM:
    case EAGAIN:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status SendAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("send");
    }
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
  return absl::OkStatus();
}

absl::Status SendDatagram(int socket_fd, absl::string_view bytes,
                          const std::vector<int>& fds_to_pass) {
  if (fds_to_pass.size() > kMaxPassedDescriptors) {
    return absl::InvalidArgumentError("too many descriptors for one datagram");
  }
  iovec io{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedDescriptors)] = {};
  if (!fds_to_pass.empty()) {
    const size_t fd_bytes = sizeof(int) * fds_to_pass.size();
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(fd_bytes);
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(fd_bytes);
    std::memcpy(CMSG_DATA(header), fds_to_pass.data(), fd_bytes);
  }
  for (;;) {
    const ssize_t sent = sendmsg(socket_fd, &message, MSG_NOSIGNAL);
    if (sent >= 0) return absl::OkStatus();
    if (errno != EINTR) return ErrnoStatus("sendmsg");
  }
}

absl::StatusOr<std::string> ReceiveDatagram(int socket_fd, size_t max_bytes,
                                            std::vector<int>* received_fds) {
  std::string bytes(max_bytes, '\0');
  iovec io{bytes.data(), bytes.size()};
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedDescriptors)] = {};
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  ssize_t received;
  do {
    received = recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC);
  } while (received < 0 && errno == EINTR);
  if (received < 0) return ErrnoStatus("recvmsg");
  const size_t first_new = received_fds->size();
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof(int));
      received_fds->push_back(fd);
    }
  }
  if ((message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    for (size_t i = first_new; i < received_fds->size(); ++i) close((*received_fds)[i]);
    received_fds->resize(first_new);
    return absl::DataLossError("datagram was truncated");
  }
  bytes.resize(static_cast<size_t>(received));
  return bytes;
}

std::string DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) {
    return absl::StrCat("exited with code ", WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    const int signal = WTERMSIG(wait_status);
    const char* name = sigdescr_np(signal);
    return absl::StrFormat("killed by signal %d (%s)%s", signal, name != nullptr ? name : "?",
                           WCOREDUMP(wait_status) ? ", core dumped" : "");
  }
  return absl::StrFormat("ended with wait status %#x", wait_status);
}

absl::Status SetNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return ErrnoStatus("fcntl");
  return absl::OkStatus();
}

int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), INT_MAX));
}

}  // namespace unidist::process_internal
