// Copyright 2026 The unidist-cpp Authors.
//
// Node: the worker-rank side of the mpi backend. A worker rank is a node: for each session
// of the driver (Init..Shutdown on rank 0) it runs an ordinary ProcessManager — worker
// processes forked on its own machine — and relays between the driver and that pool:
//   driver -> node: tasks (Dispatch, DispatchTo), cancellations, answers to nested API
//                   calls, dedicated workers to start and close;
//   node -> driver: results, nested API calls, dedicated workers lost, workers gone.
// A task that crashes kills only a local worker process, which the local pool replaces and
// reports as Unavailable, exactly as under the multiprocessing backend; the rank lives on.
//
// Objects: a task result of at least StartSession.keep_min_bytes stays in the node (not
// in the worker, so a crashing worker loses nothing), keyed by its object id; the result
// sent to the driver names it in TaskResult.kept_values instead of carrying it. A task
// argument (or a nested Get's answer) that arrives as an ObjectLocation is filled in
// before the task goes to the local pool: from the node's own copy, or fetched once
// straight from the rank that keeps it (FetchObject / ObjectData + raw payload, between
// the two nodes) and then kept as a copy. A task argument of at least keep_min_bytes that
// comes by value with an object id (an object the driver holds, a Put) is kept too, so
// that the driver can name it by location for the next tasks here instead of sending it
// again. Copies go when the driver releases the object (ReleaseObjects) or the session
// ends; a task holds the values it found here from its arrival to its delivery. The node
// answers fetches from the driver and from other nodes, sending from the kept buffer.
//
// The node's store: with StartSession.object_store_memory, each session has a
// shared-memory store on the node (object_store/shared_arena.h), as the multiprocessing
// driver has one: the node allocates, its workers inherit the mapping. A worker writes a
// result of at least shared_memory_min_bytes straight into space the node gives it
// (AllocateRequest, answered here, not by the driver), and the node keeps the object
// there; a fetched copy that large is put there on arrival. A task on this node then gets
// such an argument as its place in the store (TaskArgument.shared) and reads it in place;
// the node holds it until the task's outcome, even if the driver releases it meanwhile.
//
// HandleReceived() runs on the node's link thread (link.h) and sends through `send`; the
// local pool's callbacks run on its event thread and send too. Thread-safe.

#ifndef UNIDIST_MPI_INTERNAL_NODE_H_
#define UNIDIST_MPI_INTERNAL_NODE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "mpi/internal/mpi_messages.pb.h"
#include "mpi/internal/transport.h"
#include "object_store/shared_arena.h"
#include "process_manager/worker_pool.h"

namespace unidist::mpi_internal {

class Node {
 public:
  // `send` delivers `bytes` to rank `dest`, followed at once by `payload` if it is set
  // (Link::Post: thread-safe, never blocks). `execute` runs a task in a local worker
  // process. `start_pool` starts the local pool for a session (ProcessManager::Start in
  // production).
  using Sender =
      std::function<void(int dest, std::string bytes, std::shared_ptr<const ObjectBytes> payload)>;
  using StartPool =
      std::function<absl::StatusOr<std::unique_ptr<WorkerPool>>(WorkerPoolOptions options)>;
  // Has the next message from `source` received into `buffer` if it is `size` bytes long
  // (Link::ReceiveNextInto); called on the link thread, from HandleReceived.
  using ReceiveInto = std::function<void(int source, char* buffer, size_t size)>;
  // Where the node runs, reported to the driver at each session's start with the CPUs it
  // counts (CpusOfRank); a session that asks for 0 workers gets one per CPU counted.
  struct Place {
    // The CPUs this rank may run tasks on: $UNIDIST_CPUS, else its affinity mask.
    int cpus = 1;
    std::string host;
    // True when `cpus` is the whole host's (an unbound rank, no UNIDIST_CPUS): the host's
    // worker ranks then share them instead of each counting them all.
    bool whole_host = false;
    // This job's ranks on the host and this rank's place among them
    // (OMPI_COMM_WORLD_LOCAL_SIZE, OMPI_COMM_WORLD_LOCAL_RANK).
    int ranks_on_host = 1;
    int index_on_host = 0;
  };
  // The CPUs rank `place` counts as its own: `place.cpus`, or, for a rank with the whole
  // host, its share of them among the host's worker ranks (the driver, when on the host,
  // runs no tasks and takes none), at least 1. The shares of a host's ranks add up to its
  // CPUs when there are no more ranks than CPUs.
  static int CpusOfRank(const Place& place, bool driver_on_host);
  // Called on the link thread at each session's start (production: UsableCpus() and
  // Link::host()); its error fails the start.
  using DescribePlace = std::function<absl::StatusOr<Place>()>;
  // Without `receive_into`, fetched values arrive in the heap and are copied into the store.
  Node(Sender send, TaskExecutor execute, StartPool start_pool, DescribePlace describe_place,
       ReceiveInto receive_into = {});

  // Ends the session, if any.
  ~Node();

  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Handles one message from rank `received.source`: the driver, or another node (which
  // only fetches objects and answers fetches). Returns false once the driver said exit
  // (the session is then ended). On the link thread only.
  bool HandleReceived(Received received);

  // Ends the current session's local pool, if any (tasks in flight are reported Cancelled).
  void EndSession();

  // True while a session's local pool runs. On the link thread only.
  bool in_session() const { return pool_ != nullptr; }

 private:
  // Something waiting for objects from other ranks before it can go to the local pool.
  struct Parked {
    enum class Kind { kTask, kTaskOn, kReply };
    Kind kind = Kind::kTask;
    proto::TaskRequest task;         // kTask, kTaskOn
    mpi::proto::LocalWorker worker;  // kTaskOn, kReply
    proto::ApiReply reply;           // kReply
    int missing = 0;                 // fetches not answered yet
    // The located values this node had when it arrived, held until it is delivered.
    absl::flat_hash_map<std::string, std::shared_ptr<const ObjectBytes>> pinned;
  };
  using Bytes = std::shared_ptr<const ObjectBytes>;

  bool Handle(int source, mpi::proto::ToNode message);
  void StartSession(uint64_t session, const mpi::proto::StartSession& start);
  // Sends `message` stamped with `session` to the driver.
  void Send(uint64_t session, mpi::proto::FromNode message) const;
  // Reports task `task_id` failed with `status` (a task the local pool did not accept).
  // `worker_died`: the task's worker died (TaskError.worker_died).
  void SendTaskError(uint64_t session, const proto::TaskRequest& task, const absl::Status& status,
                     bool worker_died = false) const;
  // On a result from the local pool: lets go of the task's arguments and of the space it
  // did not use; keeps its large values (those it wrote into the store as they are),
  // naming them in kept_values. Pool event thread.
  void KeepLargeValues(int rank, uint64_t keep_min_bytes, proto::TaskResult* result);
  // Keeps the task's large arguments that came by value with an object id (the driver's
  // objects, sent to this rank once: driver_pool.h), and names them by location instead.
  // Link thread.
  void KeepLargeArguments(proto::TaskRequest* task);
  // Answers a local worker's AllocateRequest from the node's store. Pool event thread.
  void AnswerAllocate(WorkerId worker, const proto::ApiRequest& request);
  // `bytes` moved into the store if it has room and they are that large; else as they are.
  Bytes IntoStore(std::string bytes) const;
  // Fills in the located values `parked` needs that this node has, and asks their ranks
  // for the others; hands it on (Deliver) once none is missing. Link thread.
  void Resolve(Parked parked);
  // Fills the located values in (all present now) and hands `parked` to the local pool or
  // the worker; or fails it with `error`.
  void Deliver(Parked parked);
  // Hands on, in arrival order, what is parked and has all its values, except a call to a
  // dedicated worker behind an earlier one still parked (an actor's calls run in the
  // order sent).
  void DeliverReady();
  void FailParked(const Parked& parked, const absl::Status& error);
  // Answers a FetchObject from `source`.
  void ServeFetch(int source, uint64_t session, const mpi::proto::FetchObject& fetch);
  // The answer to this node's FetchObject, from `source`, with the value's bytes.
  // `received_into`: the block of the store the value went into (then `bytes` is empty).
  void OnObjectData(int source, const mpi::proto::ObjectData& data, std::string bytes,
                    std::shared_ptr<SharedArena::Block> received_into = nullptr);
  // The kept copy of `id`, or null.
  Bytes Find(const std::string& id) const ABSL_LOCKS_EXCLUDED(mu_);

  const Sender send_;
  const TaskExecutor execute_;
  const StartPool start_pool_;
  const DescribePlace describe_place_;
  const ReceiveInto receive_into_;
  // Only the link thread (Handle) changes these.
  uint64_t session_ = 0;
  // The driver ended session_ (end_session arrived): its pool is gone on purpose, not
  // because it failed to start.
  bool session_ended_ = false;
  int rank_ = -1;
  int ranks_ = 0;                // the job's ranks (StartSession.ranks); 0: unknown
  uint64_t keep_min_bytes_ = 0;  // 0: keep nothing
  bool keep_arguments_ = false;  // StartSession.keep_arguments
  // The session's store (null without one) and the size from which objects go there. Set
  // before the pool starts, reset after it is gone: the pool's callbacks read them too.
  std::shared_ptr<SharedArena> arena_;
  uint64_t shared_memory_min_bytes_ = UINT64_MAX;
  std::unique_ptr<WorkerPool> pool_;
  // Link thread only: what waits for fetches, by a number of its own; the fetches in
  // flight, by object id, with who waits for each; the ObjectData header, by rank,
  // whose raw value is the next message from that rank.
  uint64_t next_parked_ = 1;
  std::map<uint64_t, Parked> parked_;  // ordered: by arrival
  absl::flat_hash_map<std::string, std::vector<uint64_t>> fetching_;
  absl::flat_hash_map<int, mpi::proto::ToNode> awaiting_value_;
  // The blocks of the store those values are being received into, by rank.
  absl::flat_hash_map<int, std::shared_ptr<SharedArena::Block>> receiving_;

  // Shared with the local pool's event thread (results).
  mutable absl::Mutex mu_;
  // The objects kept (results made here) and copied (fetched), by object id.
  absl::flat_hash_map<std::string, Bytes> objects_ ABSL_GUARDED_BY(mu_);
  // Space in the store given to each task in the local pool, by task id, until its outcome
  // (a value then keeps its own; the rest is freed).
  absl::flat_hash_map<uint64_t, std::vector<std::shared_ptr<SharedArena::Block>>> task_blocks_
      ABSL_GUARDED_BY(mu_);
  // The arguments each task in the local pool reads in the store, until its outcome.
  absl::flat_hash_map<uint64_t, std::vector<Bytes>> task_arguments_ ABSL_GUARDED_BY(mu_);
  // The result ids of the tasks in the local pool, by task id (to key kept values).
  absl::flat_hash_map<uint64_t, std::vector<std::string>> result_ids_ ABSL_GUARDED_BY(mu_);
  mpi::proto::ObjectsReport counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace unidist::mpi_internal

#endif  // UNIDIST_MPI_INTERNAL_NODE_H_
