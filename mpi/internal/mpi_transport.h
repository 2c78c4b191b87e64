// Copyright 2026 The unidist-cpp Authors.
//
// MpiTransport: Transport (transport.h) over MPI_COMM_WORLD. Opening it initializes MPI
// (MPI_Init_thread, thread level FUNNELED: the opening thread makes every MPI call);
// destroying it completes the sends and finalizes MPI. MPI can be initialized once per
// process, so there is at most one MpiTransport in a process's life.
//
// Messages are sent from the caller's buffer (MPI_Isend, kept until MPI_Test says it is
// done) and received into a buffer sized from the probe (MPI_Improbe, MPI_Get_count,
// MPI_Mrecv): one copy of the bytes per side, none in between.

#ifndef UNIDIST_MPI_INTERNAL_MPI_TRANSPORT_H_
#define UNIDIST_MPI_INTERNAL_MPI_TRANSPORT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "mpi/internal/transport.h"

namespace unidist::mpi_internal {

// Initializes MPI and returns the transport. FailedPrecondition if MPI was initialized
// (or finalized) before in this process; Unavailable if MPI_Init_thread failed.
absl::StatusOr<std::unique_ptr<Transport>> OpenMpiTransport();

}  // namespace unidist::mpi_internal

#endif  // UNIDIST_MPI_INTERNAL_MPI_TRANSPORT_H_
