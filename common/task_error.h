// Copyright 2026 The unidist-cpp Authors.
//
// An absl::Status as the TaskError of common/worker_protocol.proto (code, message,
// payloads) and back: how every status crosses a process boundary (a task's error from a
// worker, an API call's answer, the mpi backend's messages between ranks).

#ifndef UNIDIST_COMMON_TASK_ERROR_H_
#define UNIDIST_COMMON_TASK_ERROR_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "common/worker_protocol.pb.h"

namespace unidist {

// Writes `status` into `error`.
inline void StatusToTaskError(const absl::Status& status, proto::TaskError* error) {
  error->set_code(static_cast<int>(status.code()));
  error->set_message(std::string(status.message()));
  status.ForEachPayload([error](absl::string_view url, const absl::Cord& payload) {
    proto::StatusPayload* added = error->add_payloads();
    added->set_type_url(std::string(url));
    added->set_value(std::string(payload));
  });
}

// The status `error` holds. Never OK: bytes from another process are untrusted, so an OK or
// unknown code becomes Unknown.
inline absl::Status TaskErrorToStatus(const proto::TaskError& error) {
  const int code = error.code();
  absl::Status status(
      code > 0 && code <= 16 ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kUnknown,
      error.message());
  for (const proto::StatusPayload& payload : error.payloads()) {
    status.SetPayload(payload.type_url(), absl::Cord(payload.value()));
  }
  return status;
}

}  // namespace unidist

#endif  // UNIDIST_COMMON_TASK_ERROR_H_
