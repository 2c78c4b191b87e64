// Copyright 2026 The unidist-cpp Authors.
//
// ActorHandle: what the copies of one unidist::Actor<T> share, in whichever process they
// are. An actor lives in the driver's runtime; a handle reaches it in one of two ways:
//   * in the driver, straight through the Runtime (DriverActorHandle, runtime.h): the
//     last driver handle to go releases the driver's hold on the actor;
//   * inside a task in a worker process, as ApiRequests over the worker's socket
//     (RemoteActorHandle, task_client.cc): the driver holds the actor for that worker
//     (api_server.h) until the last such handle in the worker goes.
// A handle travels inside values as the actor's id (the codec of Actor<T> in
// api/unidist.h): encoding one records it in the EncodedHandlesScope of the thread (bridge.h),
// so that whoever sends the bytes keeps the actor alive until the receiver holds it.
//
// Thread-safe.

#ifndef UNIDIST_API_INTERNAL_ACTOR_HANDLE_H_
#define UNIDIST_API_INTERNAL_ACTOR_HANDLE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "unidist/internal/bridge.h"

namespace unidist::api_internal {

class ActorHandle {
 public:
  virtual ~ActorHandle() = default;

  // The actor's id (unique in the driver's process, never reused); 0 for a handle to no
  // actor.
  virtual uint64_t id() const = 0;
  // Why every call fails (an actor that could not be created or found); OK otherwise.
  virtual absl::Status error() const { return absl::OkStatus(); }

  // Submits a call of the registered method `method` with `args`; `num_returns` handles.
  virtual std::vector<RefHandle> Submit(const std::string& method, std::vector<TaskArg> args,
                                        int num_returns) = 0;
  // Actor<T>::Kill.
  virtual absl::Status Kill() = 0;
  // Actor<T>::Created: completes when the constructor has run.
  virtual RefHandle Created() = 0;
};

// A handle whose every call fails with `error`.
class FailedActorHandle final : public ActorHandle {
 public:
  explicit FailedActorHandle(absl::Status error) : error_(std::move(error)) {}
  uint64_t id() const override { return 0; }
  absl::Status error() const override { return error_; }
  std::vector<RefHandle> Submit(const std::string& method, std::vector<TaskArg> args,
                                int num_returns) override;
  absl::Status Kill() override { return error_; }
  RefHandle Created() override;

 private:
  const absl::Status error_;
};

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_ACTOR_HANDLE_H_
