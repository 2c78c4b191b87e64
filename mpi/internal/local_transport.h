// Copyright 2026 The unidist-cpp Authors.
//
// LocalHub: the ranks of a pretend job inside one process. Each rank's Transport delivers
// into the other ranks' in-memory inboxes, in order. For tests of the mpi backend that
// run the driver and its nodes in one process (with real worker processes under the
// nodes), without mpirun.
//
// Thread-safe: each rank's transport is used by its own link thread.

#ifndef UNIDIST_MPI_INTERNAL_LOCAL_TRANSPORT_H_
#define UNIDIST_MPI_INTERNAL_LOCAL_TRANSPORT_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "mpi/internal/transport.h"

namespace unidist::mpi_internal {

class LocalHub : public std::enable_shared_from_this<LocalHub> {
 public:
  // A hub of `size` ranks.
  static std::shared_ptr<LocalHub> Create(int size);

  // The transport of rank `rank` (each may be opened once at a time).
  std::unique_ptr<Transport> Open(int rank);

  int size() const { return static_cast<int>(inboxes_.size()); }

  // Bytes and messages sent so far from rank `from` to rank `to` (for tests that check
  // which way data went).
  uint64_t bytes_sent(int from, int to) const;
  uint64_t messages_sent(int from, int to) const;

 private:
  friend class LocalTransport;
  explicit LocalHub(int size);

  struct Inbox {
    absl::Mutex mu;
    std::deque<Received> messages ABSL_GUARDED_BY(mu);
  };
  std::vector<std::unique_ptr<Inbox>> inboxes_;
  mutable absl::Mutex counts_mu_;
  // By from * size + to.
  std::vector<uint64_t> bytes_ ABSL_GUARDED_BY(counts_mu_);
  std::vector<uint64_t> messages_ ABSL_GUARDED_BY(counts_mu_);
};

}  // namespace unidist::mpi_internal

#endif  // UNIDIST_MPI_INTERNAL_LOCAL_TRANSPORT_H_
