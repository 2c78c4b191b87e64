// Copyright 2026 The unidist-cpp Authors.

#include "mpi/internal/driver_pool.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/task_error.h"
#include "glog/logging.h"
#include "google/protobuf/io/coded_stream.h"

namespace unidist::mpi_internal {
namespace {

using mpi::proto::FromNode;
using mpi::proto::ToNode;

// Room for the envelope around a task in an MPI message.
constexpr size_t kEnvelopeBytes = 64;

uint64_t LocalKey(int rank, int local_slot) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(rank)) << 32) |
         static_cast<uint32_t>(local_slot);
}

}  // namespace

// ---------------------------------------------------------------------------- DriverLink

absl::StatusOr<std::unique_ptr<DriverLink>> DriverLink::Start(Link::Opener open) {
  std::unique_ptr<DriverLink> driver(new DriverLink());
  absl::StatusOr<std::unique_ptr<Link>> link = Link::Start(
      std::move(open),
      [raw = driver.get()](Link&, Received message) { raw->Deliver(std::move(message)); });
  if (!link.ok()) return link.status();
  driver->link_ = *std::move(link);
  if (driver->link_->rank() != 0 || driver->link_->size() < 2) {
    const int rank = driver->link_->rank();
    const int size = driver->link_->size();
    driver->link_->Stop();
    {
      absl::MutexLock lock(&driver->mu_);
      driver->exited_ = true;
    }
    return absl::InvalidArgumentError(
        absl::StrCat("the mpi driver must be rank 0 of a job of at least 2 ranks; this is rank ",
                     rank, " of ", size));
  }
  return driver;
}

DriverLink::~DriverLink() { Exit(); }

uint64_t DriverLink::NewSession() {
  absl::MutexLock lock(&mu_);
  return ++last_session_;
}

void DriverLink::Route(uint64_t session, MpiWorkerPool* pool) {
  {
    absl::MutexLock lock(&mu_);
    current_pool_ = pool;
  }
  link_->Sync([this, session, pool] {
    session_ = session;
    pool_ = pool;
    // Between sessions nothing is waiting for an answer: poll rarely.
    link_->SetMaxIdleWait(pool != nullptr ? Link::kMaxIdleWait : Link::kMaxIdleWaitWithoutSession);
  });
}

void DriverLink::Exit() {
  {
    absl::MutexLock lock(&mu_);
    if (exited_) return;
    exited_ = true;
  }
  ToNode exit;
  exit.set_exit(true);
  const std::string bytes = exit.SerializeAsString();
  for (int rank = 1; rank < link_->size(); ++rank) link_->Post(rank, bytes);
  link_->Stop();
}

void DriverLink::Deliver(Received received) {
  // The raw value after an ObjectData header from the same rank.
  if (auto it = awaiting_value_.find(received.source); it != awaiting_value_.end()) {
    FromNode header = std::move(it->second);
    awaiting_value_.erase(it);
    if (pool_ == nullptr || header.session() != session_) return;
    pool_->Handle(received.source, std::move(header), std::move(received.bytes));
    return;
  }
  FromNode message;
  if (!message.ParseFromString(received.bytes)) {
    LOG(ERROR) << "unidist mpi: rank " << received.source
               << " sent a message that does not parse; dropped";
    return;
  }
  if (message.has_object_data() && !message.object_data().has_error()) {
    awaiting_value_[received.source] = std::move(message);  // the value comes next
    return;
  }
  // A late message of an ended session has nobody to go to.
  if (pool_ == nullptr || message.session() != session_) return;
  pool_->Handle(received.source, std::move(message));
}

// ------------------------------------------------------------------------- MpiWorkerPool

MpiWorkerPool::MpiWorkerPool(WorkerPoolOptions options, DriverLink* link,
                             MpiWorkerPoolOptions mpi_options, uint64_t session, int num_ranks)
    : options_(std::move(options)),
      link_(link),
      mpi_options_(mpi_options),
      session_(session),
      num_ranks_(num_ranks),
      nodes_(static_cast<size_t>(num_ranks)) {}

absl::StatusOr<std::unique_ptr<MpiWorkerPool>> MpiWorkerPool::Start(
    WorkerPoolOptions options, DriverLink* link, MpiWorkerPoolOptions mpi_options) {
  if (options.num_workers < 0 || !options.execute || !options.on_result ||
      options.max_tasks_per_worker < 1) {
    return absl::InvalidArgumentError(
        "WorkerPoolOptions needs num_workers >= 0, execute, on_result and "
        "max_tasks_per_worker >= 1");
  }
  if (link->size() < 2) {
    return absl::FailedPreconditionError("the mpi backend needs at least one worker rank");
  }
  // 0: every worker rank, each with one worker per CPU it has.
  const int num_ranks =
      options.num_workers == 0 ? link->size() - 1 : std::min(link->size() - 1, options.num_workers);
  std::unique_ptr<MpiWorkerPool> pool(
      new MpiWorkerPool(std::move(options), link, mpi_options, link->NewSession(), num_ranks));
  link->Route(pool->session_, pool.get());
  for (int p = 0; p < num_ranks; ++p) {
    ToNode start;
    mpi::proto::StartSession* session = start.mutable_start_session();
    // An even share of N, the first ranks taking one more; 0: the rank's CPUs.
    session->set_num_workers((pool->options_.num_workers - p + num_ranks - 1) / num_ranks);
    session->set_max_frame_bytes(pool->options_.max_frame_bytes);
    session->set_max_tasks_per_worker(pool->options_.max_tasks_per_worker);
    session->set_reap_grace_ms(absl::ToInt64Milliseconds(pool->options_.reap_grace));
    session->set_rank(1 + p);
    session->set_keep_min_bytes(mpi_options.keep_min_bytes);
    if (pool->options_.shared_memory_min_bytes != SIZE_MAX) {
      session->set_object_store_memory(pool->options_.object_store_memory);
      session->set_shared_memory_min_bytes(pool->options_.shared_memory_min_bytes);
    }
    session->set_worker_memory_limit(pool->options_.worker_memory_limit);
    session->set_driver_host(link->link().host());
    session->set_ranks(link->size());
    session->set_keep_arguments(mpi_options.rank_cache_bytes > 0);
    pool->Send(1 + p, std::move(start));
  }
  absl::Status started;
  {
    absl::MutexLock lock(&pool->mu_);
    auto all_answered = [raw = pool.get()]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(raw->mu_) {
      return raw->sessions_started_ == raw->num_ranks_;
    };
    if (!pool->mu_.AwaitWithTimeout(absl::Condition(&all_answered), mpi_options.answer_timeout)) {
      started = absl::UnavailableError("a worker rank did not answer the start of a session");
    } else {
      started = pool->start_error_;
    }
  }
  if (started.ok()) started = pool->MapSlots();
  if (!started.ok()) {
    pool->Shutdown();
    return started;
  }
  return pool;
}

absl::Status MpiWorkerPool::MapSlots() {
  absl::MutexLock lock(&mu_);
  global_slots_.assign(static_cast<size_t>(num_ranks_), {});
  rank_caches_.resize(static_cast<size_t>(num_ranks_));
  int most = 0;
  for (const NodeState& node : nodes_) {
    if (node.workers < 1) {
      return absl::InternalError(
          absl::StrCat("worker rank ", node.node, " started no workers for the session"));
    }
    most = std::max(most, node.workers);
  }
  // Local worker 0 of every rank, then local worker 1 of every rank that has one, ...
  for (int local = 0; local < most; ++local) {
    for (int p = 0; p < num_ranks_; ++p) {
      if (local >= nodes_[p].workers) continue;
      global_slots_[p].push_back(static_cast<int>(slots_.size()));
      slots_.push_back(Slot{1 + p, local});
    }
  }
  num_workers_ = static_cast<int>(slots_.size());
  return absl::OkStatus();
}

std::vector<NodeState> MpiWorkerPool::Nodes() const {
  absl::MutexLock lock(&mu_);
  return nodes_;
}

MpiWorkerPool::~MpiWorkerPool() { Shutdown(); }

void MpiWorkerPool::Send(int rank, ToNode message) {
  message.set_session(session_);
  link_->link().Post(rank, message.SerializeAsString());
}

bool MpiWorkerPool::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

absl::Status MpiWorkerPool::CheckSize(const proto::TaskRequest& task) const {
  // The size of the frame the worker's rank sends it in (a DriverMessage holding it), so
  // that what the driver accepts, the rank accepts too.
  const size_t task_bytes = task.ByteSizeLong();
  const size_t bytes =
      1 + google::protobuf::io::CodedOutputStream::VarintSize64(task_bytes) + task_bytes;
  if (bytes > options_.max_frame_bytes || bytes > static_cast<size_t>(INT_MAX) - kEnvelopeBytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "task '", task.function(), "' is too large to send: it takes ", bytes,
        " bytes, more than the largest message (", options_.max_frame_bytes, " bytes)"));
  }
  return absl::OkStatus();
}

void MpiWorkerPool::NoteCopy(int rank, const proto::ObjectLocation& location) {
  if (location.holder() == static_cast<uint64_t>(rank)) return;  // used where it is
  std::vector<int>& ranks = copies_[location.object_id()];
  if (std::find(ranks.begin(), ranks.end(), rank) == ranks.end()) ranks.push_back(rank);
}

std::vector<std::string> MpiWorkerPool::UseRankCache(int rank, proto::TaskRequest* task) {
  std::vector<std::string> evicted;
  if (mpi_options_.keep_min_bytes == 0 || mpi_options_.rank_cache_bytes == 0) return evicted;
  RankCache& cache = rank_caches_[rank - 1];
  std::vector<std::string> used;  // by this task: never evicted for it
  for (proto::TaskArgument& arg : *task->mutable_args()) {
    const uint64_t size = arg.value().size();
    if (arg.has_location() || arg.object_id().empty() || size < mpi_options_.keep_min_bytes ||
        size > mpi_options_.rank_cache_bytes) {
      continue;
    }
    used.push_back(arg.object_id());
    if (auto it = cache.entries.find(arg.object_id()); it != cache.entries.end()) {
      cache.order.splice(cache.order.end(), cache.order, it->second);  // most recent now
      arg.clear_value();
      proto::ObjectLocation* location = arg.mutable_location();
      location->set_object_id(arg.object_id());
      location->set_holder(static_cast<uint64_t>(rank));
      location->set_size(size);
      continue;
    }
    // Sent by value this time; the rank keeps it (Node::KeepLargeArguments).
    cache.order.emplace_back(arg.object_id(), size);
    cache.entries[arg.object_id()] = std::prev(cache.order.end());
    cache.bytes += size;
  }
  // Over budget: drop the least recently sent, except what this task uses.
  for (auto it = cache.order.begin();
       cache.bytes > mpi_options_.rank_cache_bytes && it != cache.order.end();) {
    if (std::find(used.begin(), used.end(), it->first) != used.end()) {
      ++it;
      continue;
    }
    cache.bytes -= it->second;
    cache.entries.erase(it->first);
    evicted.push_back(std::move(it->first));
    it = cache.order.erase(it);
  }
  return evicted;
}

absl::Status MpiWorkerPool::SendTask(int rank, proto::TaskRequest task,
                                     const mpi::proto::LocalWorker* to) {
  std::vector<std::string> evicted;
  // Only arguments that are objects matter here; most small tasks have none that large.
  if (std::any_of(task.args().begin(), task.args().end(), [this](const proto::TaskArgument& arg) {
        return arg.has_location() ||
               (!arg.object_id().empty() && arg.value().size() >= mpi_options_.keep_min_bytes);
      })) {
    absl::MutexLock lock(&mu_);
    for (const proto::TaskArgument& arg : task.args()) {
      if (arg.has_location()) NoteCopy(rank, arg.location());
    }
    evicted = UseRankCache(rank, &task);
  }
  if (!evicted.empty()) {
    // Before the task: a task the rank got earlier holds what it found there.
    ToNode release;
    for (std::string& id : evicted)
      release.mutable_release_objects()->add_object_ids(std::move(id));
    Send(rank, std::move(release));
  }
  ToNode message;
  if (to != nullptr) {
    *message.mutable_run_task_on()->mutable_worker() = *to;
    message.mutable_run_task_on()->mutable_task()->Swap(&task);
  } else {
    message.mutable_run_task()->mutable_task()->Swap(&task);
  }
  Send(rank, std::move(message));
  return absl::OkStatus();
}

absl::Status MpiWorkerPool::Dispatch(const proto::TaskRequest& task) {
  if (absl::Status size = CheckSize(task); !size.ok()) return size;
  int rank = 0;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::FailedPreconditionError("the worker pool is shut down");
    rank = RankOfPoolWorker(next_worker_);
    next_worker_ = (next_worker_ + 1) % num_workers_;
    in_flight_[task.task_id()] = InFlight{rank};
  }
  return SendTask(rank, task, nullptr);  // a copy: SendTask rewrites its arguments
}

uint64_t MpiWorkerPool::NewCallLocked() const {
  const uint64_t id = next_call_id_++;
  answers_[id] = Answer();
  return id;
}

absl::StatusOr<FromNode> MpiWorkerPool::Call(int rank, uint64_t call_id, ToNode message,
                                             std::string* value) const {
  if (link_->link().OnLinkThread()) {
    absl::MutexLock lock(&mu_);
    answers_.erase(call_id);
    return absl::FailedPreconditionError(
        "a call that waits for a worker rank cannot be made from a pool callback");
  }
  message.set_session(session_);
  link_->link().Post(rank, message.SerializeAsString());
  absl::MutexLock lock(&mu_);
  auto answered = [this, call_id]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return answers_[call_id].done; };
  const bool done = mu_.AwaitWithTimeout(absl::Condition(&answered), mpi_options_.answer_timeout);
  FromNode answer = std::move(answers_[call_id].message);
  if (value != nullptr) *value = std::move(answers_[call_id].value);
  answers_.erase(call_id);
  if (!done) {
    return absl::UnavailableError(absl::StrCat("worker rank ", rank, " did not answer within ",
                                               absl::FormatDuration(mpi_options_.answer_timeout)));
  }
  if (answer.kind_case() == FromNode::KIND_NOT_SET) {
    return absl::UnavailableError(
        absl::StrCat("the session ended before worker rank ", rank, " answered"));
  }
  return answer;
}

absl::StatusOr<WorkerId> MpiWorkerPool::StartDedicatedWorker() {
  int rank = 0;
  uint64_t call_id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::FailedPreconditionError("the worker pool is shut down");
    rank = 1 + next_dedicated_rank_;
    next_dedicated_rank_ = (next_dedicated_rank_ + 1) % num_ranks_;
    call_id = NewCallLocked();
  }
  ToNode request;
  request.mutable_start_dedicated()->set_call_id(call_id);
  absl::StatusOr<FromNode> answer = Call(rank, call_id, std::move(request));
  if (!answer.ok()) return answer.status();
  const mpi::proto::DedicatedStarted& started = answer->dedicated_started();
  if (started.has_error()) return TaskErrorToStatus(started.error());
  // Handle has mapped it already (so that no message of the worker can come unmapped).
  absl::MutexLock lock(&mu_);
  auto it = dedicated_by_local_.find(LocalKey(rank, started.worker().slot()));
  if (it == dedicated_by_local_.end()) {
    return absl::InternalError("the dedicated worker's rank answered out of order");
  }
  return WorkerId{it->second, started.worker().generation()};
}

absl::Status MpiWorkerPool::DispatchTo(WorkerId worker, const proto::TaskRequest& task) {
  if (absl::Status size = CheckSize(task); !size.ok()) return size;
  int rank = 0;
  mpi::proto::LocalWorker local;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::FailedPreconditionError("the worker pool is shut down");
    auto it = dedicated_.find(worker.slot);
    if (it == dedicated_.end() || it->second.generation != worker.generation) {
      return absl::NotFoundError(absl::StrCat("no dedicated worker ", worker.slot));
    }
    if (!it->second.lost.ok()) return it->second.lost;
    rank = it->second.rank;
    local = it->second.local;
    in_flight_[task.task_id()] = InFlight{rank};
  }
  return SendTask(rank, task, &local);  // a copy, as in Dispatch
}

void MpiWorkerPool::CloseDedicatedWorker(WorkerId worker, bool kill) {
  ToNode message;
  int rank = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = dedicated_.find(worker.slot);
    if (it == dedicated_.end() || it->second.generation != worker.generation ||
        !it->second.lost.ok()) {
      return;  // gone already: its loss has been reported
    }
    rank = it->second.rank;
    *message.mutable_close_dedicated()->mutable_worker() = it->second.local;
  }
  message.mutable_close_dedicated()->set_kill(kill);
  Send(rank, std::move(message));
}

absl::Status MpiWorkerPool::ReplyToWorker(WorkerId worker, const proto::ApiReply& reply) {
  ToNode message;
  int rank = 0;
  mpi::proto::LocalWorker* local = message.mutable_reply_to_worker()->mutable_worker();
  if (worker.slot >= 0 && worker.slot < num_workers_) {
    rank = slots_[worker.slot].rank;
    local->set_slot(slots_[worker.slot].local);
    local->set_generation(worker.generation);
  } else {
    absl::MutexLock lock(&mu_);
    auto it = dedicated_.find(worker.slot);
    if (it == dedicated_.end() || it->second.generation != worker.generation ||
        !it->second.lost.ok()) {
      return absl::NotFoundError(absl::StrCat("worker ", worker.slot, " is gone"));
    }
    rank = it->second.rank;
    *local = it->second.local;
  }
  if (reply.has_location()) {  // a nested Get: the rank fetches a copy
    absl::MutexLock lock(&mu_);
    NoteCopy(rank, reply.location());
  }
  *message.mutable_reply_to_worker()->mutable_reply() = reply;
  Send(rank, std::move(message));
  return absl::OkStatus();
}

absl::Status MpiWorkerPool::Cancel(uint64_t task_id, bool force) {
  int rank = 0;
  uint64_t call_id = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = in_flight_.find(task_id);
    if (it == in_flight_.end()) return absl::NotFoundError("the pool does not have the task");
    rank = it->second.rank;
    call_id = NewCallLocked();
  }
  ToNode request;
  request.mutable_cancel()->set_call_id(call_id);
  request.mutable_cancel()->set_task_id(task_id);
  request.mutable_cancel()->set_force(force);
  absl::StatusOr<FromNode> answer = Call(rank, call_id, std::move(request));
  if (!answer.ok()) return answer.status();
  // On success the rank reported the task Cancelled before it answered, and that report
  // has been handled (on_result called) before this answer was.
  if (answer->cancel_reply().has_error()) return TaskErrorToStatus(answer->cancel_reply().error());
  return absl::OkStatus();
}

std::vector<WorkerState> MpiWorkerPool::Workers() const {
  std::vector<WorkerState> workers(num_workers_);
  for (int p = 0; p < num_ranks_; ++p) {
    uint64_t call_id = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return {};
      call_id = NewCallLocked();
    }
    ToNode request;
    request.mutable_query_workers()->set_call_id(call_id);
    absl::StatusOr<FromNode> answer = Call(1 + p, call_id, std::move(request));
    if (!answer.ok()) return {};
    for (const mpi::proto::WorkerReport& report : answer->workers().workers()) {
      const std::vector<int>& globals = global_slots_[p];
      if (report.index() < 0 || static_cast<size_t>(report.index()) >= globals.size()) continue;
      const int global = globals[report.index()];
      workers[global] = WorkerState{global, report.pid(), report.alive(),
                                    static_cast<size_t>(report.tasks_in_flight()), 1 + p};
    }
  }
  return workers;
}

size_t MpiWorkerPool::workers_replaced() const {
  size_t replaced = 0;
  for (int p = 0; p < num_ranks_; ++p) {
    uint64_t call_id = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return replaced;
      call_id = NewCallLocked();
    }
    ToNode request;
    request.mutable_query_workers()->set_call_id(call_id);
    absl::StatusOr<FromNode> answer = Call(1 + p, call_id, std::move(request));
    if (answer.ok()) replaced += answer->workers().workers_replaced();
  }
  return replaced;
}

absl::StatusOr<std::string> MpiWorkerPool::FetchObject(const DataID& id, uint64_t holder) {
  const int rank = holder > static_cast<uint64_t>(INT_MAX) ? -1 : static_cast<int>(holder);
  uint64_t call_id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::UnavailableError(absl::StrCat("object ", id.Hex(), " on rank ", rank,
                                                 " cannot be fetched: its session is over"));
    }
    if (rank < 1 || rank > num_ranks_) {
      return absl::InvalidArgumentError(
          absl::StrCat("object ", id.Hex(), ": no worker rank ", holder, " in this session"));
    }
    call_id = NewCallLocked();
  }
  ToNode request;
  request.mutable_fetch_object()->set_call_id(call_id);
  request.mutable_fetch_object()->set_object_id(id.Binary());
  std::string value;
  absl::StatusOr<FromNode> answer = Call(rank, call_id, std::move(request), &value);
  if (!answer.ok()) {
    return absl::Status(answer.status().code(),
                        absl::StrCat("fetching object ", id.Hex(), " from rank ", rank, ": ",
                                     answer.status().message()));
  }
  if (answer->object_data().has_error()) {
    const absl::Status error = TaskErrorToStatus(answer->object_data().error());
    return absl::Status(error.code(),
                        absl::StrCat("fetching from rank ", rank, ": ", error.message()));
  }
  absl::MutexLock lock(&mu_);
  fetched_bytes_ += value.size();
  return value;
}

void MpiWorkerPool::ReleaseObject(const DataID& id, uint64_t holder) {
  std::vector<int> ranks;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;  // the session's end drops every copy
    if (auto it = copies_.find(id.Binary()); it != copies_.end()) {
      ranks = std::move(it->second);
      copies_.erase(it);
    }
  }
  if (holder >= 1 && holder <= static_cast<uint64_t>(num_ranks_)) {
    ranks.push_back(static_cast<int>(holder));
  } else {  // not a rank of this session (never, from the runtime): tell them all
    ranks.clear();
    for (int p = 0; p < num_ranks_; ++p) ranks.push_back(1 + p);
  }
  ToNode release;
  release.mutable_release_objects()->add_object_ids(id.Binary());
  for (int rank : ranks) Send(rank, release);
}

absl::StatusOr<ObjectTraffic> MpiWorkerPool::QueryObjects() const {
  ObjectTraffic traffic;
  for (int p = 0; p < num_ranks_; ++p) {
    uint64_t call_id = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return absl::FailedPreconditionError("the worker pool is shut down");
      call_id = NewCallLocked();
    }
    ToNode request;
    request.mutable_query_objects()->set_call_id(call_id);
    absl::StatusOr<FromNode> answer = Call(1 + p, call_id, std::move(request));
    if (!answer.ok()) return answer.status();
    traffic.ranks.push_back(answer->objects());
  }
  absl::MutexLock lock(&mu_);
  traffic.result_bytes_to_driver = result_bytes_;
  traffic.bytes_fetched_by_driver = fetched_bytes_;
  return traffic;
}

std::optional<WorkerId> MpiWorkerPool::GlobalId(int rank, const mpi::proto::LocalWorker& local) {
  const int p = rank - 1;
  if (p < 0 || p >= num_ranks_) return std::nullopt;
  auto it = dedicated_by_local_.find(LocalKey(rank, local.slot()));
  if (it != dedicated_by_local_.end()) return WorkerId{it->second, local.generation()};
  const std::vector<int>& globals = global_slots_[p];
  if (local.slot() < 0 || static_cast<size_t>(local.slot()) >= globals.size()) return std::nullopt;
  return WorkerId{globals[local.slot()], local.generation()};
}

void MpiWorkerPool::Handle(int source, FromNode message, std::string value) {
  switch (message.kind_case()) {
    case FromNode::kSessionStarted: {
      absl::MutexLock lock(&mu_);
      ++sessions_started_;
      if (source >= 1 && source <= num_ranks_) {
        const mpi::proto::SessionStarted& started = message.session_started();
        nodes_[source - 1] =
            NodeState{source, started.host(), started.cpus(), started.num_workers()};
      }
      if (message.session_started().has_error() && start_error_.ok()) {
        start_error_ = TaskErrorToStatus(message.session_started().error());
      }
      return;
    }
    case FromNode::kResult: {
      proto::TaskResult& result = *message.mutable_result();
      {
        absl::MutexLock lock(&mu_);
        auto it = in_flight_.find(result.task_id());
        if (it == in_flight_.end() || it->second.rank != source) return;  // not ours
        in_flight_.erase(it);
        for (const std::string& bytes : result.values()) result_bytes_ += bytes.size();
        result_bytes_ += result.map_values().size();
        // A rank keeps only what it made.
        for (proto::KeptValue& kept : *result.mutable_kept_values()) {
          kept.set_holder(static_cast<uint64_t>(source));
        }
        if (result.has_error()) {
          // The rank names its local worker; errors name the driver's.
          mpi::proto::LocalWorker local;
          local.set_slot(result.error().worker_index());
          if (std::optional<WorkerId> global = GlobalId(source, local)) {
            result.mutable_error()->set_worker_index(global->slot);
          }
        }
      }
      options_.on_result(std::move(result));
      return;
    }
    case FromNode::kCancelReply:
    case FromNode::kDedicatedStarted:
    case FromNode::kWorkers:
    case FromNode::kObjectData:
    case FromNode::kObjects: {
      uint64_t call_id = 0;
      switch (message.kind_case()) {
        case FromNode::kCancelReply:
          call_id = message.cancel_reply().call_id();
          break;
        case FromNode::kDedicatedStarted:
          call_id = message.dedicated_started().call_id();
          break;
        case FromNode::kWorkers:
          call_id = message.workers().call_id();
          break;
        case FromNode::kObjectData:
          call_id = message.object_data().call_id();
          break;
        default:
          call_id = message.objects().call_id();
          break;
      }
      absl::MutexLock lock(&mu_);
      if (message.has_dedicated_started() && !message.dedicated_started().has_error()) {
        const mpi::proto::LocalWorker& local = message.dedicated_started().worker();
        const int global = num_workers_ + next_dedicated_slot_++;
        Dedicated& dedicated = dedicated_[global];
        dedicated.rank = source;
        dedicated.local = local;
        dedicated.generation = local.generation();
        // A reused local slot now names this worker.
        dedicated_by_local_[LocalKey(source, local.slot())] = global;
      }
      auto it = answers_.find(call_id);
      if (it == answers_.end()) return;  // its caller gave up waiting
      it->second.done = true;
      it->second.message = std::move(message);
      it->second.value = std::move(value);
      return;
    }
    case FromNode::kDedicatedLost: {
      std::optional<WorkerId> global;
      const absl::Status status = TaskErrorToStatus(message.dedicated_lost().status());
      {
        absl::MutexLock lock(&mu_);
        global = GlobalId(source, message.dedicated_lost().worker());
        if (!global.has_value()) return;
        auto it = dedicated_.find(global->slot);
        if (it == dedicated_.end() || it->second.generation != global->generation) return;
        it->second.lost = status;
      }
      if (options_.on_dedicated_worker_lost) options_.on_dedicated_worker_lost(*global, status);
      return;
    }
    case FromNode::kApiCall: {
      std::optional<WorkerId> global;
      {
        absl::MutexLock lock(&mu_);
        global = GlobalId(source, message.api_call().worker());
      }
      if (!global.has_value()) return;
      if (options_.on_api_request) {
        options_.on_api_request(*global, std::move(*message.mutable_api_call()->mutable_request()));
      }
      return;
    }
    case FromNode::kWorkerGone: {
      std::optional<WorkerId> global;
      {
        absl::MutexLock lock(&mu_);
        global = GlobalId(source, message.worker_gone());
      }
      if (global.has_value() && options_.on_worker_gone) options_.on_worker_gone(*global);
      return;
    }
    case FromNode::kSessionEnded: {
      absl::MutexLock lock(&mu_);
      ++sessions_ended_;
      return;
    }
    case FromNode::KIND_NOT_SET:
      return;
  }
}

void MpiWorkerPool::Shutdown() {
  absl::MutexLock shutdown(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (int p = 0; p < num_ranks_; ++p) {
    ToNode end;
    end.set_end_session(true);
    Send(1 + p, std::move(end));
  }
  // The ranks report their tasks in flight as Cancelled (handled as they arrive), then
  // answer.
  {
    absl::MutexLock lock(&mu_);
    auto all_ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return sessions_ended_ == num_ranks_;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&all_ended), mpi_options_.answer_timeout)) {
      LOG(ERROR) << "unidist mpi: a worker rank did not answer the end of the session";
    }
  }
  link_->Route(session_, nullptr);  // no handler of this pool runs from here on
  {
    // Every request sent before the end of the session has been answered; one sent after
    // it (a call that raced with Shutdown) has no answer coming: wake it (see Call).
    absl::MutexLock lock(&mu_);
    for (auto& [call_id, answer] : answers_) answer.done = true;
  }
  std::vector<uint64_t> left;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [task_id, in_flight] : in_flight_) left.push_back(task_id);
    in_flight_.clear();
  }
  for (uint64_t task_id : left) {
    proto::TaskResult cancelled;
    cancelled.set_task_id(task_id);
    cancelled.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kCancelled));
    cancelled.mutable_error()->set_message("unidist was shut down before the task finished");
    options_.on_result(std::move(cancelled));
  }
}

}  // namespace unidist::mpi_internal
