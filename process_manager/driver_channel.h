// Copyright 2026 The unidist-cpp Authors.
//
// The driver channel: how code running inside a task in a worker process reaches the
// driver. A task that calls the unidist API (a nested Submit, Get, Put, Wait) is not in the
// driver's process; its calls travel as ApiRequests over the worker's socket, the driver's
// WorkerPoolOptions::on_api_request serves them, and the answer comes back the same way.
// The worker loop (internal/worker_loop.h) owns the socket; while a task waits here, a
// pool worker runs the other tasks the driver sends it, so that tasks waiting for each
// other cannot deadlock the pool.
//
// Every backend whose tasks run in worker processes uses it (multiprocessing, and the
// worker processes under each rank of the mpi backend, whose rank relays the requests).
// Thread-safe; only the thread that runs the task may wait for an answer.

#ifndef UNIDIST_PROCESS_MANAGER_DRIVER_CHANNEL_H_
#define UNIDIST_PROCESS_MANAGER_DRIVER_CHANNEL_H_

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/worker_protocol.pb.h"

namespace unidist {

// Inside a task in a worker process: sends `request` to the driver and waits for its reply
// until `deadline`. FailedPrecondition outside a worker's task; Unavailable if the driver
// is gone; DeadlineExceeded. The reply may itself carry an error (ApiReply.error).
absl::StatusOr<proto::ApiReply> CallDriver(proto::ApiRequest request, absl::Time deadline);

// As CallDriver without a deadline, for a request the driver answers at once, without
// waiting for any task (AllocateRequest): the worker does not run its queued tasks while
// it waits (as it does for the other calls, so that a nested Get cannot deadlock the
// pool), so the calling task is not held up behind them and its results keep their order.
absl::StatusOr<proto::ApiReply> CallDriverPromptly(proto::ApiRequest request);

// As CallDriver, for requests the driver does not answer (ReleaseRequest). Does nothing
// outside a worker process.
void NotifyDriver(proto::ApiRequest request);

}  // namespace unidist

#endif  // UNIDIST_PROCESS_MANAGER_DRIVER_CHANNEL_H_
