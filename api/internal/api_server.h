// Copyright 2026 The unidist-cpp Authors.
//
// ApiServer: the driver's side of the unidist calls that tasks make from inside worker
// processes (the TaskClient of client.h sends them over the worker's socket; the pool hands
// each to WorkerPoolOptions::on_api_request, which the runtime routes here).
//
// It runs each call against the session (through the `put` and `submit` functions it is
// given, the Runtime's own) and answers through `reply`: at once for Put and Submit, when
// the object completes for Get, when enough have for Wait. The objects a task makes or is
// handed stay held for its worker (so that a task can pass them on, or Get them later)
// until the task releases them (ReleaseRequest, when its last handle goes) or the worker is
// gone (OnWorkerGone). A task can name only objects held for its own worker.
//
// Thread-safe. The functions it is given are called without its lock held.

#ifndef UNIDIST_API_INTERNAL_API_SERVER_H_
#define UNIDIST_API_INTERNAL_API_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "api/internal/actor_handle.h"
#include "common/worker_protocol.pb.h"
#include "process_manager/worker_pool.h"
#include "unidist/common/data_id.h"
#include "unidist/internal/bridge.h"

namespace unidist::api_internal {

struct ApiServerCalls {
  // unidist::Put in the driver.
  std::function<RefHandle(std::string bytes)> put;
  // unidist::Submit in the driver, of a registered function.
  std::function<std::vector<RefHandle>(const std::string& function, std::vector<TaskArg> args,
                                       int num_returns, int max_retries)>
      submit;
  // Space in the shared-memory store for the result `result_id` of a task `worker` runs
  // (AllocateRequest): its offset, or why there is none. Null: no store (the request is
  // then answered with FailedPrecondition).
  std::function<absl::StatusOr<uint64_t>(WorkerId worker, const proto::AllocateRequest& request)>
      allocate;
  // Sends an answer to `worker` (WorkerPool::ReplyToWorker); a worker that is gone needs
  // none.
  std::function<void(WorkerId worker, proto::ApiReply reply)> reply;
  // Actors (Runtime::FindActor, FindNamedActor, KeepWithObjects): the driver's handle to
  // the live actor `id` of the class `type_key` ("": any); the one named `name`; keeps
  // `held` with the objects `ids`.
  std::function<absl::StatusOr<std::shared_ptr<ActorHandle>>(uint64_t id,
                                                             const std::string& type_key)>
      find_actor;
  std::function<absl::StatusOr<std::shared_ptr<ActorHandle>>(const std::string& name,
                                                             const std::string& type_key)>
      find_named_actor;
  std::function<void(const std::vector<DataID>& ids, EncodedHandles held)> keep_with_objects;
  // ExitActor of the actor `worker` runs (Runtime::EndActor).
  std::function<absl::Status(WorkerId worker)> end_actor;
  // ObjectRefs in values (Runtime::FindRef): the session's ref to the object `id`.
  std::function<absl::StatusOr<RefHandle>(const DataID& id)> find_object;
};

class ApiServer {
 public:
  explicit ApiServer(ApiServerCalls calls) : calls_(std::move(calls)) {}
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Serves one call of a task running in `worker`. Never blocks: Get and Wait are answered
  // from the store's completion callbacks. A malformed request is answered with an error
  // (InvalidArgument, or NotFound for an object not held for this worker).
  void OnRequest(WorkerId worker, proto::ApiRequest request);

  // `worker` is gone: what was held for it is released.
  void OnWorkerGone(WorkerId worker);

  // How many objects are held for tasks, over all workers (for tests and stats).
  size_t objects_held() const;
  // How many actors are held for workers, over all workers (for tests).
  size_t actors_held() const;
  // Lets go of every actor held for a worker (at Shutdown: a driver's handle keeps the
  // runtime that owns this server).
  void ReleaseActors();

 private:
  // The key of `worker` in the tables below: slot << 32 | generation.
  static uint64_t WorkerKey(WorkerId worker) {
    return (static_cast<uint64_t>(worker.slot) << 32) | worker.generation;
  }
  // The handle `worker` holds for `id_bytes`; NotFound if it holds none.
  absl::StatusOr<RefHandle> HeldFor(WorkerId worker, const std::string& id_bytes) const;
  // Holds `handles` for `worker` and lists their ids in `reply`.
  void Hold(WorkerId worker, std::vector<RefHandle> handles, proto::ApiReply* reply);
  void Release(WorkerId worker, const proto::ReleaseRequest& release);
  void ServeGet(WorkerId worker, proto::ApiReply reply, const RefHandle& held);
  // A call's arguments, from a request of `worker`: values as they are, ObjectRefs (and
  // the handles the values hold, `actor_ids` and `object_ids`, kept in args[0].held) as
  // `worker` holds them; NotFound for one it does not hold.
  absl::StatusOr<std::vector<TaskArg>> ArgumentsFor(
      WorkerId worker, google::protobuf::RepeatedPtrField<proto::TaskArgument>& request_args,
      const google::protobuf::RepeatedField<uint64_t>& actor_ids,
      const google::protobuf::RepeatedPtrField<std::string>& object_ids) const;
  // Keeps `held` with the objects `ids` (a task's results); InvalidArgument for a bad id.
  absl::Status KeepWithResults(const google::protobuf::RepeatedPtrField<std::string>& ids,
                               EncodedHandles held);
  // HoldObjectRequest: ObjectRefs decoded in a worker, or returned inside a result.
  void ServeHoldObject(WorkerId worker, proto::ApiReply reply,
                       const proto::HoldObjectRequest& hold);
  void ServeWait(WorkerId worker, proto::ApiReply reply, std::vector<RefHandle> refs,
                 int num_returns);

  // Actors (api_server_actors.cc). A worker holds an actor once per HoldActorRequest (or
  // GetActorRequest) and lets go once per id in a ReleaseRequest.
  // The driver's handles to the actors `ids`, which `worker` must hold; NotFound if not.
  absl::StatusOr<std::vector<std::shared_ptr<ActorHandle>>> ActorsHeldFor(
      WorkerId worker, const google::protobuf::RepeatedField<uint64_t>& ids) const;
  void HoldActor(WorkerId worker, std::shared_ptr<ActorHandle> actor);
  void ReleaseActors(WorkerId worker, const proto::ReleaseRequest& release);
  // The ApiRequest kinds about actors; each answers through calls_.reply.
  void ServeActorCall(WorkerId worker, proto::ApiReply reply, proto::ActorCallRequest& call);
  void ServeHoldActor(WorkerId worker, proto::ApiReply reply, const proto::HoldActorRequest& hold);
  void ServeGetActor(WorkerId worker, proto::ApiReply reply, const proto::GetActorRequest& get);
  void ServeKillActor(WorkerId worker, proto::ApiReply reply, const proto::KillActorRequest& kill);

  const ApiServerCalls calls_;
  mutable absl::Mutex mu_;
  // By worker (slot << 32 | generation).
  absl::flat_hash_map<uint64_t, absl::flat_hash_map<DataID, RefHandle>> held_ ABSL_GUARDED_BY(mu_);
  // The actors held for each worker (same key), by actor id, with how many holds.
  struct HeldActor {
    std::shared_ptr<ActorHandle> handle;
    int holds = 0;
  };
  absl::flat_hash_map<uint64_t, absl::flat_hash_map<uint64_t, HeldActor>> held_actors_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_API_SERVER_H_
