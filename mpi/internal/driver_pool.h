// Copyright 2026 The unidist-cpp Authors.
//
// The driver (rank 0) side of the mpi backend.
//
// DriverLink: the driver's Link (link.h) to the worker ranks, for the life of the process
// (MPI is initialized once), routing what arrives to the pool of the current session.
//
// MpiWorkerPool: the WorkerPool of one session (Init..Shutdown). Pool workers are spread
// over the worker ranks, each rank running its share in a local ProcessManager (node.h).
// With num_workers 0 every worker rank takes part and runs one worker per CPU it counts
// (Node::CpusOfRank: its UNIDIST_CPUS, else its affinity mask, shared with the other
// unbound worker ranks of its host); with num_workers N, the first min(N, ranks) worker
// ranks share N evenly. The global slots interleave the ranks: local worker 0 of each
// rank, then local worker 1 of each rank that has one, and so on, so that Dispatch, taking
// global slots in turn, spreads tasks over the ranks in proportion to their workers; the
// rank's local pool picks the worker.
// A dedicated worker (an actor) is started on the next rank round-robin and gets a global
// slot above the pool's. Results, nested API calls and worker losses come back from the
// ranks and are reported through the options' callbacks, on the link thread.
//
// Objects: a task result of at least MpiWorkerPoolOptions::keep_min_bytes stays on the rank
// that made it (see node.h); the result names it in TaskResult.kept_values, and the runtime
// records its location. FetchObject brings such an object to the driver (one MPI message,
// received into its final buffer). A rank that is sent a task (or a nested Get's answer)
// naming such an object on another rank fetches a copy and keeps it; the pool notes which
// ranks it sent such locations to, and ReleaseObject tells the holder and those ranks,
// not every rank.
//
// The driver's own large objects (a Put) go to a rank once: a task argument of at least
// keep_min_bytes that carries an object id is sent by value the first time a task on that
// rank needs it, and the rank keeps it (node.h); later tasks there name it by location.
// The pool remembers what each rank keeps, up to MpiWorkerPoolOptions::rank_cache_bytes
// per rank, and releases the least recently sent beyond that. (The runtime does not tell
// the pool when such an object is dropped: a rank keeps it until it is evicted or the
// session ends, within that budget.)
//
// The calls that need an answer from a rank (StartDedicatedWorker, Cancel, Workers,
// workers_replaced, FetchObject, QueryObjects) wait for it on the caller's thread; they must not be
// called from the callbacks (they then fail with FailedPrecondition, or return nothing).
//
// Thread-safe.

#ifndef UNIDIST_MPI_INTERNAL_DRIVER_POOL_H_
#define UNIDIST_MPI_INTERNAL_DRIVER_POOL_H_

#include <cstdint>
#include <list>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mpi/internal/link.h"
#include "mpi/internal/mpi_messages.pb.h"
#include "process_manager/worker_pool.h"

namespace unidist::mpi_internal {

class MpiWorkerPool;

class DriverLink {
 public:
  // Opens the transport with `open` on a new link thread. Its error if that failed.
  // InvalidArgument if the link is not rank 0 of at least two ranks.
  static absl::StatusOr<std::unique_ptr<DriverLink>> Start(Link::Opener open);

  // Exits the worker ranks (see Exit).
  ~DriverLink();

  // The number of ranks, the driver's included.
  int size() const { return link_->size(); }
  Link& link() { return *link_; }

  // Routes what arrives for `session` to `pool` (nullptr: to nobody). After it returns,
  // the link thread is no longer inside the previous pool's handler.
  void Route(uint64_t session, MpiWorkerPool* pool);

  // The pool of the current session, or null (for test-only queries, which must not
  // race with its Shutdown).
  MpiWorkerPool* current_pool() {
    absl::MutexLock lock(&mu_);
    return current_pool_;
  }

  // Tells every worker rank to exit, then stops the link (for MPI: MPI_Finalize).
  // Idempotent.
  void Exit();

  // A session number no earlier session of this process used.
  uint64_t NewSession();

 private:
  DriverLink() = default;
  void Deliver(Received message);  // on the link thread

  std::unique_ptr<Link> link_;
  absl::Mutex mu_;
  uint64_t last_session_ ABSL_GUARDED_BY(mu_) = 0;
  bool exited_ ABSL_GUARDED_BY(mu_) = false;
  MpiWorkerPool* current_pool_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Touched on the link thread only (Route sets them there through Link::Sync).
  uint64_t session_ = 0;
  MpiWorkerPool* pool_ = nullptr;
  // An ObjectData header, by rank, whose raw value is the next message from that rank.
  absl::flat_hash_map<int, mpi::proto::FromNode> awaiting_value_;
};

// The default of MpiWorkerPoolOptions::keep_min_bytes: 64 KiB. Below it a value goes to
// the driver with its result, which costs less than a later fetch (a round trip).
inline constexpr uint64_t kDefaultKeepMinBytes = uint64_t{64} << 10;

struct MpiWorkerPoolOptions {
  // How long a call that needs a rank's answer (starting the session, starting a dedicated
  // worker, Cancel, Workers, Shutdown) waits for it before failing with Unavailable. A rank
  // that dies ends the whole MPI job, so this only guards against a rank that hangs.
  absl::Duration answer_timeout = absl::Seconds(60);
  // Task results whose codec bytes are at least this many stay on the worker rank that
  // made them, and go straight from there to whichever rank needs them. 0: every result
  // goes to the driver (the behaviour before objects stayed on the ranks).
  uint64_t keep_min_bytes = kDefaultKeepMinBytes;
  // The bytes of the driver's objects each rank keeps for later tasks (see above); an
  // object larger than this is sent with every task that needs it. 0: none kept.
  uint64_t rank_cache_bytes = uint64_t{256} << 20;
};

// Where a session's value bytes went (test-only view; see MpiWorkerPool::QueryObjects).
struct ObjectTraffic {
  // Bytes of result values that reached the driver with their results, and bytes the
  // driver fetched.
  uint64_t result_bytes_to_driver = 0;
  uint64_t bytes_fetched_by_driver = 0;
  // Each worker rank's report, rank 1 first.
  std::vector<mpi::proto::ObjectsReport> ranks;
};

class MpiWorkerPool final : public WorkerPool {
 public:
  // Starts a session on the worker ranks of `link` (which must outlive the pool).
  // InvalidArgument for bad options; FailedPrecondition without worker ranks; a rank's
  // error (or Unavailable on no answer) if its local pool did not start.
  static absl::StatusOr<std::unique_ptr<MpiWorkerPool>> Start(
      WorkerPoolOptions options, DriverLink* link, MpiWorkerPoolOptions mpi_options = {});

  ~MpiWorkerPool() override;

  MpiWorkerPool(const MpiWorkerPool&) = delete;
  MpiWorkerPool& operator=(const MpiWorkerPool&) = delete;

  absl::Status Dispatch(const proto::TaskRequest& task) override;
  absl::StatusOr<WorkerId> StartDedicatedWorker() override;
  absl::Status DispatchTo(WorkerId worker, const proto::TaskRequest& task) override;
  void CloseDedicatedWorker(WorkerId worker, bool kill) override;
  absl::Status ReplyToWorker(WorkerId worker, const proto::ApiReply& reply) override;
  absl::Status Cancel(uint64_t task_id, bool force) override;
  void Shutdown() override;
  int num_workers() const override { return num_workers_; }
  std::vector<NodeState> Nodes() const override;
  bool stopping() const override;
  std::vector<WorkerState> Workers() const override;
  size_t workers_replaced() const override;
  // Holders (RemoteLocation::holder) are worker ranks.
  absl::StatusOr<std::string> FetchObject(const DataID& id, uint64_t holder) override;
  void ReleaseObject(const DataID& id, uint64_t holder) override;

  // Asks every worker rank for its object counters (a round trip each). Unavailable if a
  // rank does not answer; FailedPrecondition from a callback or after Shutdown.
  absl::StatusOr<ObjectTraffic> QueryObjects() const;

  // The rank that pool worker `global_slot` lives on (for tests).
  int RankOfPoolWorker(int global_slot) const { return slots_[global_slot].rank; }

 private:
  friend class DriverLink;

  struct InFlight {
    int rank = 0;
  };
  // Where a global pool slot lives.
  struct Slot {
    int rank = 0;
    int local = 0;  // the slot in that rank's local pool
  };
  struct Dedicated {
    int rank = 0;
    mpi::proto::LocalWorker local;
    uint32_t generation = 0;
    absl::Status lost;  // why it is gone; OK while alive
  };
  // An answer a caller waits for, by call id.
  struct Answer {
    bool done = false;
    mpi::proto::FromNode message;
    std::string value;  // ObjectData's raw value
  };

  MpiWorkerPool(WorkerPoolOptions options, DriverLink* link, MpiWorkerPoolOptions mpi_options,
                uint64_t session, int num_ranks);

  // Handles a message of this session from rank `source`, on the link thread; `value` is
  // the raw value that followed an ObjectData.
  void Handle(int source, mpi::proto::FromNode message, std::string value = std::string());
  // The driver's id of a node's worker; nullopt if unknown.
  std::optional<WorkerId> GlobalId(int rank, const mpi::proto::LocalWorker& local)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Send(int rank, mpi::proto::ToNode message);
  // Sends `message` (whose call id is `call_id`, registered with NewCallLocked) and waits
  // for the answer (and the raw value after an ObjectData, into `value`). Unavailable if
  // none comes in time or the session ended first; FailedPrecondition on the link thread.
  uint64_t NewCallLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<mpi::proto::FromNode> Call(int rank, uint64_t call_id, mpi::proto::ToNode message,
                                            std::string* value = nullptr) const;
  // Notes that `rank` may fetch and keep a copy of the object at `location`.
  void NoteCopy(int rank, const proto::ObjectLocation& location) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Names the large arguments `rank` keeps by location, notes those it will keep, and
  // returns the ids it must drop to stay within its budget.
  std::vector<std::string> UseRankCache(int rank, proto::TaskRequest* task)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends a task, recording it in flight on `rank`.
  absl::Status SendTask(int rank, proto::TaskRequest task, const mpi::proto::LocalWorker* to)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status CheckSize(const proto::TaskRequest& task) const;
  // Numbers the workers the ranks started (nodes_) into global slots. Internal if a rank
  // started none.
  absl::Status MapSlots();

  const WorkerPoolOptions options_;
  DriverLink* const link_;
  const MpiWorkerPoolOptions mpi_options_;
  const uint64_t session_;
  const int num_ranks_;  // worker ranks taking part: 1..num_ranks_
  // Set by Start from the ranks' answers, before the pool is returned; constant after.
  int num_workers_ = 0;
  std::vector<Slot> slots_;                     // by global slot
  std::vector<std::vector<int>> global_slots_;  // by rank - 1, then local slot

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int next_worker_ ABSL_GUARDED_BY(mu_) = 0;  // round-robin over global pool workers
  int next_dedicated_rank_ ABSL_GUARDED_BY(mu_) = 0;
  int next_dedicated_slot_ ABSL_GUARDED_BY(mu_) = 0;  // above the pool's slots
  absl::flat_hash_map<uint64_t, InFlight> in_flight_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int, Dedicated> dedicated_ ABSL_GUARDED_BY(mu_);  // by global slot
  // (rank << 32 | local slot) -> global slot, for dedicated workers.
  absl::flat_hash_map<uint64_t, int> dedicated_by_local_ ABSL_GUARDED_BY(mu_);
  mutable uint64_t next_call_id_ ABSL_GUARDED_BY(mu_) = 1;
  mutable absl::flat_hash_map<uint64_t, Answer> answers_ ABSL_GUARDED_BY(mu_);
  int sessions_started_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<NodeState> nodes_ ABSL_GUARDED_BY(mu_);  // as the ranks answered, by rank - 1
  absl::Status start_error_ ABSL_GUARDED_BY(mu_);
  int sessions_ended_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t result_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // The ranks other than its holder that were sent an object's location, and so may keep a
  // copy, by object id, until the object is released.
  absl::flat_hash_map<std::string, std::vector<int>> copies_ ABSL_GUARDED_BY(mu_);
  // The driver's objects each rank keeps, least recently sent first (by rank - 1).
  struct RankCache {
    std::list<std::pair<std::string, uint64_t>> order;  // object id, bytes
    absl::flat_hash_map<std::string, std::list<std::pair<std::string, uint64_t>>::iterator> entries;
    uint64_t bytes = 0;
  };
  std::vector<RankCache> rank_caches_ ABSL_GUARDED_BY(mu_);
  uint64_t fetched_bytes_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex shutdown_mu_;  // serializes Shutdown calls
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace unidist::mpi_internal

#endif  // UNIDIST_MPI_INTERNAL_DRIVER_POOL_H_
