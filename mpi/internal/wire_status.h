// Copyright 2026 The unidist-cpp Authors.
//
// A status as the TaskError of common/worker_protocol.proto (code, message, payloads) and
// back, for the statuses the mpi backend carries between ranks. The same mapping as the
// runtime's StatusToTaskError / TaskErrorToStatus (api/internal/runtime.h), which this
// package cannot depend on (the runtime depends on it).

#ifndef UNIDIST_MPI_INTERNAL_WIRE_STATUS_H_
#define UNIDIST_MPI_INTERNAL_WIRE_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "common/worker_protocol.pb.h"

namespace unidist::mpi_internal {

inline void StatusToWire(const absl::Status& status, proto::TaskError* error) {
  error->set_code(static_cast<int>(status.code()));
  error->set_message(std::string(status.message()));
  status.ForEachPayload([error](absl::string_view url, const absl::Cord& payload) {
    proto::StatusPayload* added = error->add_payloads();
    added->set_type_url(std::string(url));
    added->set_value(std::string(payload));
  });
}

// Never OK: an OK or unknown code from the wire becomes Unknown.
inline absl::Status WireToStatus(const proto::TaskError& error) {
  const int code = error.code();
  absl::Status status(code > 0 && code <= 16 ? static_cast<absl::StatusCode>(code)
                                             : absl::StatusCode::kUnknown,
                      error.message());
  for (const proto::StatusPayload& payload : error.payloads()) {
    status.SetPayload(payload.type_url(), absl::Cord(payload.value()));
  }
  return status;
}

}  // namespace unidist::mpi_internal

#endif  // UNIDIST_MPI_INTERNAL_WIRE_STATUS_H_
