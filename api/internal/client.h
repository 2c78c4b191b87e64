// Copyright 2026 The unidist-cpp Authors.
//
// Client: how the public functions of api/unidist.h reach a runtime. The same program runs
// in two kinds of process, and a call means something different in each:
//   * in the driver (the user's program), a call goes straight to the session's Runtime
//     (runtime.h): DriverClient, driver_client.cc;
//   * inside a task running in a worker process, the session lives in another process: a
//     call becomes an ApiRequest over the worker's socket (process_manager/
//     driver_channel.h), served by the driver's ApiServer (api_server.h), and the objects
//     it makes are held by the driver for this task: TaskClient, task_client.cc.
// CurrentClient() picks one. A process is the driver until it starts running tasks as a
// worker (the executor, executor.h, notes that once), and never changes back, so the
// choice is made in one place rather than in every public function. On the sequential
// backend tasks run in the driver, and their calls take the driver's path.
//
// Thread-safe.

#ifndef UNIDIST_API_INTERNAL_CLIENT_H_
#define UNIDIST_API_INTERNAL_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api/internal/actor_handle.h"
#include "unidist/common/data_id.h"
#include "unidist/internal/bridge.h"

namespace unidist::api_internal {

class Runtime;

// A remote function as the templates of api/unidist.h name it: its registry key and its
// address (FunctionRegistry::NameOf turns them into its registered name).
struct RemoteFunction {
  const std::string& key;
  const void* address;
};

// The registered name of `function` (the registry's own: see FunctionRegistry::NameOf);
// NotFound (saying to add UNIDIST_REMOTE) if it has none.
absl::StatusOr<const std::string*> NameOf(const RemoteFunction& function);

class Client {
 public:
  virtual ~Client() = default;

  // unidist::Put: a new object holding `bytes` (codec bytes).
  virtual RefHandle Put(std::string bytes) = 0;
  // The same for a value not encoded yet; by default encoded into a std::string and Put.
  virtual RefHandle Put(const ValueWriter& value);
  // unidist::Allocate and Seal (bridge.h); by default in the heap, then Put.
  virtual absl::StatusOr<WritableObject> Allocate(size_t size, size_t aligned_at);
  virtual RefHandle Seal(WritableObject object);
  // unidist::Submit of `function`. Before Init every handle fails with NotInitialized,
  // whatever the function; then an unregistered one with NameOf's error.
  virtual std::vector<RefHandle> Submit(const RemoteFunction& function, std::vector<TaskArg> args,
                                        int num_returns, int max_retries) = 0;
  // unidist::Map: one handle per input to `take`, in order (see Runtime::Map); errors as
  // for Submit.
  virtual void Map(const RemoteFunction& function, const MapInputs& inputs, size_t chunk_size,
                   int max_retries, MapHandleSink take) = 0;
  // unidist::Get: the codec bytes of `ref` once complete, or its error; DeadlineExceeded
  // at `deadline`.
  virtual absl::StatusOr<std::shared_ptr<const ObjectBytes>> Get(const RefHandle& ref,
                                                                 absl::Time deadline) = 0;
  // unidist::Get of many refs: adds the bytes of each of `refs` in turn to `out`, and
  // stops at the first one Get fails on (with its error). By default Get of each.
  virtual absl::Status GetAll(const std::vector<const RefHandle*>& refs, absl::Time deadline,
                              GatheredBytes* out);
  // unidist::Wait: the positions of the first `wanted` (at least 1, at most refs.size())
  // complete refs, in the caller's order, or of every complete one at `deadline`.
  virtual std::vector<size_t> Wait(const std::vector<const RefHandle*>& refs, size_t wanted,
                                   absl::Time deadline) = 0;

  // Actors (actor_handle.h). DecodeActor: this process's handle to the actor `id`, decoded
  // from a value as an Actor of the class `type_key`; one whose calls fail if the actor is
  // gone or of another class.
  virtual std::shared_ptr<ActorHandle> DecodeActor(uint64_t id, const std::string& type_key) = 0;
  // unidist::GetActor (bridge.h).
  virtual absl::StatusOr<std::shared_ptr<ActorHandle>> GetActor(const std::string& name,
                                                                const std::string& type_key) = 0;
  // unidist::ExitActor: the actor with ActorKey `actor_key`, whose method this thread runs,
  // takes no more calls and ends once the method has returned.
  virtual absl::Status EndActor(uint64_t actor_key) = 0;
  // ObjectRefs in values: this process's handle to the object `id`, decoded from a value
  // (one whose Get fails with NotFound if the object is gone).
  virtual RefHandle DecodeRef(const DataID& id) = 0;
  // Keeps `held` (the handles the values of the objects `ids` encode) alive while any of
  // those objects is.
  virtual void KeepWithObjects(const std::vector<DataID>& ids, EncodedHandles held) = 0;
};

// The client of this process (see the file comment).
Client& CurrentClient();
// The two clients (driver_client.cc, task_client.cc).
Client& DriverSideClient();
Client& TaskSideClient();

// The driver's current session: null before Init and after Shutdown. Calls copy the
// pointer and work without a lock, so a Shutdown on another thread never pulls a runtime
// out from under them.
std::shared_ptr<Runtime> CurrentRuntime();
// Init and Shutdown (api/unidist.cc) set it.
void SetCurrentRuntime(std::shared_ptr<Runtime> runtime);

// A handle whose object failed before it reached any store: every Get returns `error`.
RefHandle FailedHandle(absl::Status error);
// `count` such handles.
std::vector<RefHandle> FailedHandles(const absl::Status& error, int count);
// What every call before Init (or after Shutdown) returns.
absl::Status NotInitialized();

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_CLIENT_H_
