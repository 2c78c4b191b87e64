// Copyright 2026 The unidist-cpp Authors.
//
// Transport: point-to-point messages between the ranks of one job, as the mpi backend's
// Link (link.h) uses them. Two implementations: MpiTransport (mpi_transport.h), over
// MPI_COMM_WORLD, and LocalHub (local_transport.h), ranks inside one process, so that the
// driver and node sides can be tested together without mpirun.
//
// A Transport is used by one thread only (MPI's thread level FUNNELED): the link thread
// that opened it.

#ifndef UNIDIST_MPI_INTERNAL_TRANSPORT_H_
#define UNIDIST_MPI_INTERNAL_TRANSPORT_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "unidist/common/object_bytes.h"

namespace unidist::mpi_internal {

// One message received: who sent it and its bytes, or, when it went into the buffer
// ReceiveNextInto gave for it, no bytes and `into_buffer` set.
struct Received {
  int source = -1;
  std::string bytes;
  bool into_buffer = false;
};

class Transport {
 public:
  virtual ~Transport() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // The name of the host this rank runs on, as the transport knows it (MPI:
  // MPI_Get_processor_name).
  virtual std::string host() const = 0;

  // Starts sending `bytes` to rank `dest`, without waiting for it to arrive; the transport
  // keeps the buffer until it is sent. Messages from one rank to another arrive in the
  // order sent. InvalidArgument for a bad rank or a message too large for the transport;
  // Unavailable if the transport failed.
  virtual absl::Status Send(int dest, std::string bytes) = 0;

  // The same, sending from bytes shared with their owner (a kept object's, in the heap or
  // in the node's shared-memory store), which the transport holds until sent instead of
  // copying them.
  virtual absl::Status SendShared(int dest, std::shared_ptr<const ObjectBytes> bytes) = 0;

  // The next message that has arrived, or nullopt if none has. Unavailable if the
  // transport failed.
  virtual absl::StatusOr<std::optional<Received>> TryReceive() = 0;

  // The next message from rank `source`, if it has exactly `size` bytes, is received
  // straight into `buffer` (which must stay valid until then) instead of a new string
  // (a kept value into the shared-memory store). A message of another size is received
  // as usual and the request dropped.
  virtual void ReceiveNextInto(int source, char* buffer, size_t size) = 0;

  // True while some sends have not completed (the caller should keep polling: MPI moves
  // large messages only while it is called).
  virtual bool SendsPending() = 0;

  // Waits until every send has completed.
  virtual void Flush() = 0;
};

}  // namespace unidist::mpi_internal

#endif  // UNIDIST_MPI_INTERNAL_TRANSPORT_H_
