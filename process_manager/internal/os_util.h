// Copyright 2026 The unidist-cpp Authors.
//
// Small wrappers over the Linux calls the process manager makes: whole-buffer socket
// writes that never raise SIGPIPE, descriptor passing over Unix sockets, and readable
// descriptions of wait statuses. Every failure is an absl::Status carrying errno's text.

#ifndef UNIDIST_PROCESS_MANAGER_INTERNAL_OS_UTIL_H_
#define UNIDIST_PROCESS_MANAGER_INTERNAL_OS_UTIL_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace unidist::process_internal {

// A status for the current errno: `what` failed, with strerror's text.
absl::Status ErrnoStatus(absl::string_view what);

// Writes all of `bytes` to a blocking stream socket, retrying partial writes and EINTR.
// Uses MSG_NOSIGNAL: a closed peer gives Unavailable, never SIGPIPE.
absl::Status SendAll(int fd, absl::string_view bytes);

// Most descriptors one datagram carries.
inline constexpr size_t kMaxPassedDescriptors = 4;

// Sends one datagram on a SOCK_SEQPACKET socket, with `fds_to_pass` (at most
// kMaxPassedDescriptors) as SCM_RIGHTS. The caller keeps its own copies of them.
absl::Status SendDatagram(int socket_fd, absl::string_view bytes,
                          const std::vector<int>& fds_to_pass = {});

// Receives one datagram (up to `max_bytes`) and the descriptors passed with it, which
// are made close-on-exec and appended to `*received_fds` (the caller owns them). An
// empty string means the peer closed the socket.
absl::StatusOr<std::string> ReceiveDatagram(int socket_fd, size_t max_bytes,
                                            std::vector<int>* received_fds);

// "exited with code 3", "killed by signal 9 (Killed)", ...
std::string DescribeWaitStatus(int wait_status);

// Sets O_NONBLOCK on `fd`.
absl::Status SetNonBlocking(int fd);

// poll's timeout for waiting until `deadline`: -1 for absl::InfiniteFuture(), 0 once it
// has passed, else the milliseconds left rounded up (a wait never ends a moment early),
// at most INT_MAX.
int PollTimeoutMs(absl::Time deadline);

}  // namespace unidist::process_internal

#endif  // UNIDIST_PROCESS_MANAGER_INTERNAL_OS_UTIL_H_
