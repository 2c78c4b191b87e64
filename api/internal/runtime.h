// Copyright 2026 The unidist-cpp Authors.
//
// Runtime: one Init..Shutdown session of unidist in the driver, on any backend: the
// driver's scheduler. It owns the object store (shared with the ObjectRefs that outlive
// it), the session's WorkerPool (started from the backend's BackendDescription) and the
// ApiServer that serves tasks' own API calls, and it
//   * resolves dependencies: a task is handed to the pool only once every ObjectRef
//     argument is complete, with those values filled in (a large one as a shared-memory
//     segment, one the pool keeps elsewhere as its location); if one failed, the task
//     fails with that error (runtime.cc: ResolveArguments, OnArgumentComplete);
//   * dispatches, retries a task whose worker died (max_retries), cancels, and completes
//     results in the store (runtime.cc: SendTask, OnResult, Cancel);
//   * keeps each actor's queue of calls, sent in order to its dedicated worker
//     (actors.cc).
// Running a task is the executor's job (executor.h); the public functions reach a Runtime
// through the driver's Client (client.h).
//
// Thread-safe.

#ifndef UNIDIST_API_INTERNAL_RUNTIME_H_
#define UNIDIST_API_INTERNAL_RUNTIME_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "api/internal/actor_handle.h"
#include "api/internal/api_server.h"
#include "api/internal/executor.h"
#include "api/internal/ref_token.h"
#include "api/internal/timeline.h"
#include "backend/backend.h"
#include "common/task_error.h"
#include "common/worker_protocol.pb.h"
#include "object_store/object_store.h"
#include "object_store/shared_arena.h"
#include "object_store/spill_file.h"
#include "process_manager/worker_pool.h"
#include "unidist/internal/bridge.h"
#include "unidist/unidist.h"

namespace unidist::api_internal {

// A status as a TaskError and back: common/task_error.h.
using ::unidist::StatusToTaskError;
using ::unidist::TaskErrorToStatus;

class Runtime;

// An actor, as the runtime sees it: its worker process and the calls submitted to it that
// have not been sent yet, in submission order. A call is sent once it reaches the head of
// the queue with all its arguments complete, so calls run in the order they were made.
struct ActorRecord {
  uint64_t id = 0;       // ActorHandle::id
  std::string type_key;  // typeid(T).name() of its class
  std::string class_name;
  std::string name;  // ActorOptions::name; "" for none
  WorkerId worker;
  absl::Mutex mu;
  std::deque<std::shared_ptr<PendingTask>> queue ABSL_GUARDED_BY(mu);
  // Why the actor can take no more calls (killed, or its process died); OK while alive.
  absl::Status gone ABSL_GUARDED_BY(mu);
  bool released ABSL_GUARDED_BY(mu) = false;  // the last Actor handle is gone
  bool closed ABSL_GUARDED_BY(mu) = false;    // its worker was told to finish
  // A thread is sending the queue's calls (see Runtime::PumpActor).
  bool pumping ABSL_GUARDED_BY(mu) = false;

  // Restarts (ActorOptions::max_restarts; -1: without limit).
  int restarts_left ABSL_GUARDED_BY(mu) = 0;
  int max_task_retries = 0;  // for each call, fixed at creation
  int max_concurrency = 1;   // threads its calls run on (sent with its constructor)
  // Calls (and constructors) sent to its worker whose outcome has not come back.
  int in_flight ABSL_GUARDED_BY(mu) = 0;
  // Its process died and it will be restarted: the queue waits, and the calls that were
  // in flight come back (Runtime::OnResult) before the new process gets the constructor.
  bool restarting ABSL_GUARDED_BY(mu) = false;
  WorkerId dead_worker ABSL_GUARDED_BY(mu);  // the worker whose death it restarts from
  bool restart_started ABSL_GUARDED_BY(mu) = false;
  int restarts ABSL_GUARDED_BY(mu) = 0;  // done so far
  // The constructor's request as first sent, and what its payload needs kept (shared
  // segments, actors in its arguments), to run it again; kept only if it may restart.
  std::unique_ptr<proto::TaskRequest> constructor_request ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<const void>> constructor_keep ABSL_GUARDED_BY(mu);
};

// The driver's handle to an actor (actor_handle.h): what the Actor<T> handles of the
// driver share, and what the ApiServer holds for workers and the store keeps with objects
// whose values hold the actor. The last one to go releases the actor: it ends once the
// calls submitted to it have run.
class DriverActorHandle final : public ActorHandle {
 public:
  DriverActorHandle(std::shared_ptr<Runtime> runtime, std::shared_ptr<ActorRecord> actor,
                    RefHandle created)
      : runtime_(std::move(runtime)), actor_(std::move(actor)), created_(std::move(created)) {}
  ~DriverActorHandle() override;
  DriverActorHandle(const DriverActorHandle&) = delete;
  DriverActorHandle& operator=(const DriverActorHandle&) = delete;

  uint64_t id() const override { return actor_->id; }
  std::vector<RefHandle> Submit(const std::string& method, std::vector<TaskArg> args,
                                int num_returns) override;
  absl::Status Kill() override;
  RefHandle Created() override { return created_; }

  const std::shared_ptr<ActorRecord>& actor() const { return actor_; }

 private:
  const std::shared_ptr<Runtime> runtime_;
  const std::shared_ptr<ActorRecord> actor_;
  const RefHandle created_;
};

// Performance settings from unidist::Options; the defaults keep the seed's behaviour.
struct RuntimeTuning {
  // WorkerPoolOptions::least_loaded.
  bool least_loaded = false;
  // Objects at least this large go to workers through shared memory (backends with
  // BackendAbilities::shared_memory; see Options::shared_memory_min_bytes). SIZE_MAX: never.
  size_t shared_memory_min_bytes = SIZE_MAX;
  // The size of the shared-memory store (object_store/shared_arena.h) that holds those
  // objects; see Options::object_store_memory. 0: no store, large objects go through the
  // socket.
  size_t object_store_memory = 0;
  // WorkerPoolOptions::worker_memory_limit (Options::worker_memory_limit); 0: none.
  size_t worker_memory_limit = 0;
  // Where objects go when the store is full (Options::spill_directory).
  std::string spill_directory = "/tmp";
  // WorkerPoolOptions::result_ring_bytes (Options::result_ring_bytes); 0: none.
  size_t result_ring_bytes = 0;
};

class Runtime {
 public:
  // Starts `num_workers` workers of `backend` exchanging messages of at most
  // `max_message_bytes`; the backend's start_pool error if it could not.
  static absl::StatusOr<std::unique_ptr<Runtime>> Start(const BackendDescription& backend,
                                                        int num_workers, size_t max_message_bytes,
                                                        const RuntimeTuning& tuning = {});

  ~Runtime();

  RefHandle Put(std::string bytes);
  // A Put of a value not encoded yet: encoded straight into the shared-memory store if it
  // is large (one copy), else into the heap. A value the store has no room for fails
  // with ResourceExhausted.
  RefHandle Put(const ValueWriter& value);
  // unidist::Allocate and Seal (bridge.h).
  absl::StatusOr<WritableObject> Allocate(size_t size, size_t aligned_at);
  RefHandle Seal(WritableObject object);
  std::vector<RefHandle> Submit(const std::string& function, std::vector<TaskArg> args,
                                int num_returns, int max_retries);
  // unidist::Map: one task per chunk of `inputs` (codec bytes of `function`'s one
  // parameter), one handle per input to `take`, in order. `chunk_size` 0 picks one (see
  // MapOptions).
  void Map(const std::string& function, const MapInputs& inputs, size_t chunk_size, int max_retries,
           MapHandleSink take);

  // unidist::Cancel for the task whose result `token` owns.
  absl::Status Cancel(const RefToken& token, bool force);

  // Fails every pending object with Cancelled and ends the worker pool.
  void Shutdown();

  // Actors (actors.cc). CreateActor starts the worker process of a new actor of the class
  // registered under `type_key` and submits its constructor (the one `signature_key` names;
  // FunctionRegistry::ActorConstructor) with `args`; `self` is this
  // runtime (the handle keeps it). Calls run in submission order. See ActorRecord.
  std::shared_ptr<ActorHandle> CreateActor(const std::shared_ptr<Runtime>& self,
                                           const std::string& type_key,
                                           const std::string& signature_key,
                                           std::vector<TaskArg> args,
                                           const ActorSettings& settings);
  // StartActor: the worker process and record of a new actor, whose first call must be
  // its constructor (CreateActor's first step; tests use it alone).
  absl::StatusOr<std::shared_ptr<ActorRecord>> StartActor(const std::string& class_name);
  // The driver's handle to the live actor `id` of the class `type_key` ("": any class):
  // NotFound if it is gone (or never was), InvalidArgument if of another class.
  absl::StatusOr<std::shared_ptr<ActorHandle>> FindActor(uint64_t id, const std::string& type_key);
  // The live actor named `name`: NotFound if none, InvalidArgument if not of `type_key`.
  absl::StatusOr<std::shared_ptr<ActorHandle>> FindNamedActor(const std::string& name,
                                                              const std::string& type_key);
  // Keeps `held` (handles the objects' values hold) with the objects `ids` of this
  // runtime's store until they are freed.
  void KeepWithObjects(const std::vector<DataID>& ids, const EncodedHandles& held);
  // ObjectRefs in values: the session's ref to the object `id`, once a value sent
  // anywhere held a ref to it (RememberRefs); NotFound if it is gone.
  absl::StatusOr<RefHandle> FindRef(const DataID& id);
  void RememberRefs(const std::vector<RefHandle>& refs);
  std::vector<RefHandle> SubmitActorCall(const std::shared_ptr<ActorRecord>& actor,
                                         const std::string& function, std::vector<TaskArg> args,
                                         int num_returns);
  // Ends the actor once the calls already submitted have run (its last handle is gone).
  void ReleaseActor(ActorRecord& actor);
  // Ends the actor at once; its pending calls fail with Cancelled.
  absl::Status KillActor(ActorRecord& actor);
  // ExitActor of the actor that dedicated worker `worker` runs: it takes no more calls
  // (they fail with Cancelled) and its worker ends after the calls it has.
  absl::Status EndActor(WorkerId worker);

  std::vector<WorkerState> Workers() const { return pool_->Workers(); }
  // For a thread about to wait for an object of this session's store that task `task_id`
  // makes: lets the pool read the task's outcome on this thread (WorkerPool::
  // WaitForResult); returns early wherever it cannot. The caller then waits on the store.
  void WaitForResult(const ObjectStore* store, uint64_t task_id, absl::Time deadline) {
    if (store == store_.get()) pool_->WaitForResult(task_id, deadline);
  }
  // Where the workers run: the pool's nodes, or this machine (as counted at Start) when
  // they all run here.
  std::vector<NodeState> Nodes() const;
  Stats GetStats();

 private:
  Runtime() : store_(std::make_shared<ObjectStore>()), store_anchor_(StoreAnchor::Create(store_)) {}

  // A task with its result ids created; its arguments still to be resolved.
  std::shared_ptr<PendingTask> NewTask(const std::string& function, int num_returns,
                                       std::vector<RefHandle>* results);
  // Fills in the arguments, waiting for ObjectRef ones; then dispatches (or queues on the
  // actor) through OnArgumentComplete.
  void ResolveArguments(const std::shared_ptr<PendingTask>& task, std::vector<TaskArg> args);
  void OnArgumentComplete(const std::shared_ptr<PendingTask>& task);
  // Space in the shared-memory store; when it is full, makes room by dropping the copies
  // kept for tasks and then spilling objects nobody is reading to files (spill_file.h).
  // ResourceExhausted if even that cannot make room.
  absl::StatusOr<std::shared_ptr<SharedArena::Block>> AllocateInStore(size_t size,
                                                                      size_t aligned_at);
  // The copy in the shared-memory store of object `id` of `store`, whose value `heap` is
  // in the heap: made on first use and kept with the object; null if none can be made
  // (the value then goes through the socket).
  std::shared_ptr<const ObjectBytes> StoredCopyOf(ObjectStore& store, const DataID& id,
                                                  const ObjectBytes& heap);
  // Sends the calls at the head of the actor's queue whose arguments are complete.
  void PumpActor(ActorRecord& actor);
  // Makes the actor take no more calls, failing the queued ones with `gone`.
  void SetActorGone(ActorRecord& actor, absl::Status gone);
  // Restarts: once the actor's worker has died and its calls in flight have all come
  // back, starts a new worker (on a thread of its own: the pool's thread, which reports
  // the death, must stay free to answer) and sends it the constructor, then the calls to
  // run again, then the queue.
  void MaybeRestartActor(const std::shared_ptr<ActorRecord>& actor);
  // Marks the actor as restarting from the death of `dead`, if it may restart.
  bool BeginRestartLocked(ActorRecord& actor, WorkerId dead)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(actor.mu);
  void RestartActor(const std::shared_ptr<ActorRecord>& actor);
  // OnResult's part for an actor's call: true when the record was kept, to run again on
  // the restarted actor.
  struct Dispatched;
  bool TakeActorCallOutcome(Dispatched& record, const proto::TaskResult& result);
  void OnDedicatedWorkerLost(WorkerId worker, const absl::Status& status);

  // Marks the task failed (once) and fails its results with `error`.
  void FailTask(const std::shared_ptr<PendingTask>& task, const absl::Status& error);
  void FailResults(const PendingTask& task, const absl::Status& error);
  // Fills the request's ObjectRef arguments in from the values they completed with: a copy,
  // or a shared-memory segment for a large one. Called once, as the task is sent.
  void BuildPayloads(PendingTask& task);
  // Hands the task to the pool, or to `target`, unless it was cancelled meanwhile.
  absl::Status SendTask(const std::shared_ptr<PendingTask>& task, const WorkerId* target);
  void Dispatch(const std::shared_ptr<PendingTask>& task);
  // Hands `request` to the pool (or to the dedicated worker `target`) under the task's id
  // (which it sets in `request`, with the actor's key), recording `record` until the
  // result comes back.
  absl::Status DispatchRequest(Dispatched record, proto::TaskRequest* request,
                               const WorkerId* target = nullptr);
  // Takes what it keeps out of `result` (the pool's, which it may move from).
  void OnResult(proto::TaskResult& result);
  // Space in the shared-memory store for a result a worker is about to write, or for an
  // array a task fills in (AllocateRequest), held in result_blocks_ until the task's
  // outcome arrives.
  absl::StatusOr<uint64_t> AllocateResult(const proto::AllocateRequest& request);
  // Completes result `id` with the value a worker wrote into `block` (StoredValue).
  void SealStored(const DataID& id, std::shared_ptr<SharedArena::Block> block,
                  const proto::StoredValue& stored);
  // Completes `id` as kept on a worker rank (mpi backend), or has the rank drop it if
  // nobody wants it.
  void SealKept(const DataID& id, const proto::KeptValue& kept);

  const std::shared_ptr<ObjectStore> store_;
  // What the tokens of this session's objects hold on to (ref_token.h); the runtime's own
  // reference, dropped by its destructor.
  struct Unref {
    void operator()(const StoreAnchor* anchor) const { anchor->Unref(); }
  };
  const std::unique_ptr<const StoreAnchor, Unref> store_anchor_;
  // Serves the API calls of tasks (nested tasks); set by Start, before the pool.
  std::unique_ptr<ApiServer> api_server_;
  std::unique_ptr<WorkerPool> pool_;
  NodeState this_machine_;                     // Nodes() when the pool has none of its own
  size_t shared_memory_min_bytes_ = SIZE_MAX;  // set by Start
  // The session's shared-memory store; null without one (set by Start).
  std::shared_ptr<SharedArena> arena_;
  std::string spill_directory_;  // set by Start
  const std::shared_ptr<SpillCounters> spilled_ = std::make_shared<SpillCounters>();
  absl::Mutex spill_mu_;  // one thread makes room at a time
  // BackendDescription::describe_holder of the backend, for the store's errors.
  std::function<std::string(uint64_t holder)> describe_holder_;  // set by Start
  const int timeline_run_ = NextTimelineRun();  // this runtime's number in timelines

  absl::Mutex mu_;
  std::atomic<uint64_t> next_task_id_{1};
  // The tasks handed to the pool, by task id.
  struct Dispatched {
    std::shared_ptr<PendingTask> task;  // kept until the result, for Cancel
    std::vector<DataID> result_ids;
    int retries_left = 0;
    uint32_t attempt = 0;  // PendingTask::attempts when it was handed over
    // A copy of the request, kept only while the task may be retried.
    std::unique_ptr<proto::TaskRequest> request;
    // How each earlier run ended, when its worker died (for the final error).
    std::vector<std::string> deaths;
    // The dedicated worker it was sent to (actor calls).
    std::optional<WorkerId> target;
  };
  absl::flat_hash_map<uint64_t, Dispatched> dispatched_ ABSL_GUARDED_BY(mu_);
  size_t tasks_retried_ ABSL_GUARDED_BY(mu_) = 0;
  // Space in the shared-memory store that workers write results into, by task id, from
  // the worker's AllocateRequest until the task's outcome arrives (then a value keeps
  // its space, and the rest is freed: a run that died or failed, an array the task
  // allocated and did not return).
  absl::flat_hash_map<uint64_t, std::vector<std::shared_ptr<SharedArena::Block>>> result_blocks_
      ABSL_GUARDED_BY(mu_);
  std::atomic<size_t> tasks_waiting_{0};
  // Live actors by the slot of their worker, to route on_dedicated_worker_lost.
  absl::flat_hash_map<int, std::weak_ptr<ActorRecord>> actors_by_slot_ ABSL_GUARDED_BY(mu_);
  // The actors' table, under a lock of its own: a handle's destructor takes it, and a
  // handle may go wherever the runtime's lock is held.
  absl::Mutex actor_table_mu_;
  // The driver's handle of every actor while it has one, by actor id (decoded handles
  // find their actor here), and the named ones by name (0 while one is being created).
  absl::flat_hash_map<uint64_t, std::weak_ptr<ActorHandle>> actor_handles_
      ABSL_GUARDED_BY(actor_table_mu_);
  absl::flat_hash_map<std::string, uint64_t> actor_names_ ABSL_GUARDED_BY(actor_table_mu_);
  // Detached actors (ActorOptions::detached): held here until they end, Kill or Shutdown.
  absl::flat_hash_map<uint64_t, std::shared_ptr<ActorHandle>> detached_actors_
      ABSL_GUARDED_BY(actor_table_mu_);
  // Forgets the actor's handle, name and detached hold (the actor has ended or its last
  // handle is going).
  void ForgetActor(const ActorRecord& actor);
  // The refs encoded into values that left this process (so that a decoded id finds its
  // object), weakly: the values' keepers hold them. Expired entries are swept when the
  // table has doubled since the last sweep.
  absl::Mutex ref_table_mu_;
  absl::flat_hash_map<DataID, std::weak_ptr<const RefToken>> ref_tokens_
      ABSL_GUARDED_BY(ref_table_mu_);
  size_t ref_tokens_swept_size_ ABSL_GUARDED_BY(ref_table_mu_) = 0;
  // Actor calls to run again on their restarted actor, by actor id.
  absl::flat_hash_map<uint64_t, std::vector<Dispatched>> lost_actor_calls_ ABSL_GUARDED_BY(mu_);
  // The threads restarting actors; joined by Shutdown.
  absl::Mutex restart_threads_mu_;
  std::vector<std::thread> restart_threads_ ABSL_GUARDED_BY(restart_threads_mu_);
  bool restarts_stopped_ ABSL_GUARDED_BY(restart_threads_mu_) = false;
  friend class DriverActorHandle;
};

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_RUNTIME_H_
