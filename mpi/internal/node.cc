// Copyright 2026 The unidist-cpp Authors.

#include "mpi/internal/node.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/map_chunk.h"
#include "common/result_ids.h"
#include "common/task_error.h"
#include "glog/logging.h"
#include "object_store/shared_arena.h"
#include "unidist/common/codec.h"
#include "unidist/common/data_id.h"

namespace unidist::mpi_internal {
namespace {

uint64_t ProcessCpuNanoseconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  auto nanoseconds = [](const timeval& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1000000000 + static_cast<uint64_t>(t.tv_usec) * 1000;
  };
  return nanoseconds(usage.ru_utime) + nanoseconds(usage.ru_stime);
}

mpi::proto::LocalWorker ToLocal(WorkerId worker) {
  mpi::proto::LocalWorker local;
  local.set_slot(worker.slot);
  local.set_generation(worker.generation);
  return local;
}

WorkerId FromLocal(const mpi::proto::LocalWorker& local) {
  return WorkerId{local.slot(), local.generation()};
}

// An object id as DataID::Hex writes it (as the driver's messages do).
std::string Hex(const std::string& id) {
  absl::StatusOr<DataID> parsed = DataID::FromBinary(id);
  return parsed.ok() ? parsed->Hex() : absl::BytesToHexString(id);
}

// The located values of `parked`'s message: task arguments, or a Get's answer.
template <typename Fn>
void ForEachLocation(proto::TaskRequest* task, proto::ApiReply* reply, bool is_reply, Fn fn) {
  if (is_reply) {
    if (reply->has_location()) fn(reply->mutable_location(), reply->mutable_value());
    return;
  }
  for (proto::TaskArgument& arg : *task->mutable_args()) {
    if (arg.has_location()) fn(arg.mutable_location(), arg.mutable_value());
  }
}

// Hands the store to the workers a pool forks: one store at a time, since it goes
// through a process-wide variable (SharedArena::ShareWithChildren) and a test may run
// several nodes in one process.
absl::Mutex g_share_mu(absl::kConstInit);

}  // namespace

Node::Node(Sender send, TaskExecutor execute, StartPool start_pool, DescribePlace describe_place,
           ReceiveInto receive_into)
    : send_(std::move(send)),
      execute_(std::move(execute)),
      start_pool_(std::move(start_pool)),
      describe_place_(std::move(describe_place)),
      receive_into_(std::move(receive_into)) {}

Node::~Node() { EndSession(); }

int Node::CpusOfRank(const Place& place, bool driver_on_host) {
  if (!place.whole_host) return std::max(1, place.cpus);
  // Rank 0 comes first on its host when the ranks are placed in order (mpirun's default
  // and --map-by node); a rank after it counts from 0 among the worker ranks.
  const int workers_here = std::max(1, place.ranks_on_host - (driver_on_host ? 1 : 0));
  const int index = std::max(0, place.index_on_host - (driver_on_host ? 1 : 0)) % workers_here;
  const int share = place.cpus / workers_here + (index < place.cpus % workers_here ? 1 : 0);
  return std::max(1, share);
}

void Node::Send(uint64_t session, mpi::proto::FromNode message) const {
  message.set_session(session);
  send_(0, message.SerializeAsString(), nullptr);
}

void Node::SendTaskError(uint64_t session, const proto::TaskRequest& task,
                         const absl::Status& status, bool worker_died) const {
  mpi::proto::FromNode message;
  proto::TaskResult* result = message.mutable_result();
  result->set_task_id(task.task_id());
  StatusToTaskError(status, result->mutable_error());
  result->mutable_error()->set_function(task.function());
  result->mutable_error()->set_worker_died(worker_died);
  Send(session, std::move(message));
}

void Node::EndSession() {
  if (pool_ != nullptr) {
    pool_->Shutdown();  // reports tasks in flight as Cancelled through on_result
    pool_.reset();
  }
  // What waits for fetches never reached the pool: report it as the pool would have.
  std::map<uint64_t, Parked> parked;
  parked.swap(parked_);
  for (auto& [key, waiting] : parked) {
    FailParked(waiting, absl::CancelledError("unidist was shut down before the task finished"));
  }
  fetching_.clear();
  // receiving_ stays: a transport may still be about to receive into those blocks; each
  // goes when its value arrives.
  {
    // Freed after the lock.
    absl::flat_hash_map<std::string, Bytes> dropped;
    absl::flat_hash_map<uint64_t, std::vector<std::shared_ptr<SharedArena::Block>>> blocks;
    absl::flat_hash_map<uint64_t, std::vector<Bytes>> arguments;
    absl::MutexLock lock(&mu_);
    dropped.swap(objects_);
    blocks.swap(task_blocks_);
    arguments.swap(task_arguments_);
    result_ids_.clear();
  }
  // The file goes with the last object in it (a fetch still being sent holds one).
  arena_.reset();
  shared_memory_min_bytes_ = UINT64_MAX;
}

void Node::KeepLargeValues(int rank, uint64_t keep_min_bytes, proto::TaskResult* result) {
  // Let go of after the lock: the space the task did not turn into values, and the
  // arguments it read in the store.
  std::vector<std::shared_ptr<SharedArena::Block>> blocks;
  std::vector<Bytes> arguments;
  absl::MutexLock lock(&mu_);
  if (auto taken = task_blocks_.extract(result->task_id()); !taken.empty()) {
    blocks = std::move(taken.mapped());
  }
  if (auto taken = task_arguments_.extract(result->task_id()); !taken.empty()) {
    arguments = std::move(taken.mapped());
  }
  auto it = result_ids_.find(result->task_id());
  if (it == result_ids_.end()) return;
  const std::vector<std::string> ids = std::move(it->second);
  result_ids_.erase(it);
  if (result->has_error()) {
    result->clear_stored_values();
    return;
  }
  auto keep = [&](int index, Bytes bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    proto::KeptValue* kept = result->add_kept_values();
    kept->set_index(static_cast<uint32_t>(index));
    kept->set_holder(static_cast<uint64_t>(rank));
    kept->set_size(bytes->size());
    counters_.set_objects_kept(counters_.objects_kept() + 1);
    objects_[ids[static_cast<size_t>(index)]] = std::move(bytes);
  };
  // Values the worker wrote into the store: kept there as they are (a value the driver
  // is to have after all is copied out). The driver never sees these places.
  for (const proto::StoredValue& stored : result->stored_values()) {
    const int index = static_cast<int>(stored.index());
    std::shared_ptr<SharedArena::Block> block = TakeBlockAt(stored.offset(), &blocks);
    if (index >= result->values_size() || index >= static_cast<int>(ids.size()) ||
        block == nullptr || stored.size() > block->size()) {
      const proto::TaskResult failed = *result;
      result->Clear();
      result->set_task_id(failed.task_id());
      if (failed.has_timing()) *result->mutable_timing() = failed.timing();
      StatusToTaskError(
          absl::DataLossError(absl::StrCat("a worker on rank ", rank,
                                           " reported a result outside the space it was given")),
          result->mutable_error());
      return;
    }
    Bytes bytes = StoredBytes(std::move(block), stored.size());
    if (keep_min_bytes == 0 || stored.size() < keep_min_bytes ||
        stored.size() > static_cast<uint64_t>(INT_MAX)) {
      result->mutable_values(index)->assign(bytes->data(), bytes->size());
      continue;
    }
    keep(index, std::move(bytes));
  }
  result->clear_stored_values();
  if (keep_min_bytes == 0) return;
  // A map chunk's values come packed: taken apart only when one of them is to be kept.
  // (A malformed list stays as it is, for the driver to reject.)
  absl::StatusOr<std::vector<absl::string_view>> packed =
      UnpackedViews(result->map_values(), result->map_value_ends());
  if (packed.ok() && std::any_of(packed->begin(), packed->end(), [&](absl::string_view value) {
        return value.size() >= keep_min_bytes;
      })) {
    UnpackMapValues(result).IgnoreError();
  }
  for (int i = 0; i < result->values_size() && i < static_cast<int>(ids.size()); ++i) {
    std::string& value = *result->mutable_values(i);
    if (value.size() < keep_min_bytes || value.size() > static_cast<size_t>(INT_MAX)) continue;
    keep(i, std::make_shared<const ObjectBytes>(std::move(value)));
    value.clear();
  }
}

void Node::AnswerAllocate(WorkerId worker, const proto::ApiRequest& request) {
  const proto::AllocateRequest& allocate = request.allocate();
  proto::ApiReply reply;
  reply.set_request_id(request.request_id());
  absl::Status error;
  if (arena_ == nullptr) {
    error =
        absl::FailedPreconditionError(absl::StrCat("rank ", rank_, " has no shared-memory store"));
  } else {
    absl::StatusOr<std::shared_ptr<SharedArena::Block>> block =
        arena_->Allocate(allocate.size(), allocate.aligned_at());
    if (!block.ok()) {
      error = absl::Status(block.status().code(),
                           absl::StrCat("rank ", rank_, ": ", block.status().message()));
    } else {
      absl::MutexLock lock(&mu_);
      // Only for a task in flight here (under the lock its outcome takes the space under).
      auto task = result_ids_.find(allocate.task_id());
      if (task == result_ids_.end() || (!allocate.result_id().empty() &&
                                        std::find(task->second.begin(), task->second.end(),
                                                  allocate.result_id()) == task->second.end())) {
        error = absl::NotFoundError(
            absl::StrCat("task ", allocate.task_id(), " is not in flight on rank ", rank_));
      } else {
        reply.set_offset((*block)->offset());
        task_blocks_[allocate.task_id()].push_back(*std::move(block));
      }
    }
  }
  if (!error.ok()) StatusToTaskError(error, reply.mutable_error());
  pool_->ReplyToWorker(worker, reply).IgnoreError();  // a worker that is gone needs none
}

Node::Bytes Node::IntoStore(std::string bytes) const {
  if (arena_ != nullptr && bytes.size() >= shared_memory_min_bytes_) {
    absl::StatusOr<std::shared_ptr<SharedArena::Block>> block =
        arena_->Allocate(bytes.size(), ElementsOffsetOf(bytes));  // a vector's elements aligned
    if (block.ok()) {
      std::memcpy((*block)->data(), bytes.data(), bytes.size());
      return StoredBytes(*std::move(block), bytes.size());
    }
    // A full store: the copy stays in the heap, and goes to the task as bytes.
  }
  return std::make_shared<const ObjectBytes>(std::move(bytes));
}

void Node::StartSession(uint64_t session, const mpi::proto::StartSession& start) {
  EndSession();
  session_ = session;
  session_ended_ = false;
  rank_ = start.rank();
  ranks_ = start.ranks();
  keep_min_bytes_ = start.keep_min_bytes();
  keep_arguments_ = start.keep_arguments();
  {
    absl::MutexLock lock(&mu_);
    counters_.Clear();
  }
  mpi::proto::FromNode reply;
  reply.mutable_session_started();
  absl::StatusOr<Place> place = describe_place_();
  if (!place.ok()) {
    const absl::Status error(place.status().code(),
                             absl::StrCat("worker rank ", rank_, ": ", place.status().message()));
    StatusToTaskError(error, reply.mutable_session_started()->mutable_error());
    Send(session, std::move(reply));
    return;
  }
  if (start.object_store_memory() > 0 && start.shared_memory_min_bytes() > 0) {
    absl::StatusOr<std::shared_ptr<SharedArena>> arena = SharedArena::Create(
        absl::StrCat("unidist-rank", rank_, "-", getpid()), start.object_store_memory());
    if (arena.ok()) {
      arena_ = *std::move(arena);
      shared_memory_min_bytes_ = start.shared_memory_min_bytes();
    } else {
      LOG(WARNING) << "unidist mpi: rank " << rank_
                   << " has no shared-memory store; large objects go through sockets: "
                   << arena.status();
    }
  }
  WorkerPoolOptions options;
  const int cpus = CpusOfRank(*place, start.driver_host() == place->host);
  options.num_workers = start.num_workers() > 0 ? start.num_workers() : cpus;
  reply.mutable_session_started()->set_num_workers(options.num_workers);
  reply.mutable_session_started()->set_cpus(cpus);
  reply.mutable_session_started()->set_host(place->host);
  options.max_frame_bytes = start.max_frame_bytes();
  options.max_tasks_per_worker = start.max_tasks_per_worker();
  options.reap_grace = absl::Milliseconds(start.reap_grace_ms());
  options.worker_memory_limit = start.worker_memory_limit();
  options.execute = execute_;
  // Every callback stamps the session it belongs to, so that a late message of an ended
  // session is dropped by the driver.
  options.on_result = [this, session, rank = rank_,
                       keep = keep_min_bytes_](proto::TaskResult&& result) {
    KeepLargeValues(rank, keep, &result);
    mpi::proto::FromNode message;
    *message.mutable_result() = std::move(result);
    Send(session, std::move(message));
  };
  options.on_dedicated_worker_lost = [this, session](WorkerId worker, absl::Status status) {
    mpi::proto::FromNode message;
    *message.mutable_dedicated_lost()->mutable_worker() = ToLocal(worker);
    StatusToTaskError(status, message.mutable_dedicated_lost()->mutable_status());
    Send(session, std::move(message));
  };
  options.on_api_request = [this, session](WorkerId worker, proto::ApiRequest request) {
    if (request.has_allocate()) return AnswerAllocate(worker, request);  // the node's store
    mpi::proto::FromNode message;
    *message.mutable_api_call()->mutable_worker() = ToLocal(worker);
    *message.mutable_api_call()->mutable_request() = std::move(request);
    Send(session, std::move(message));
  };
  options.on_worker_gone = [this, session](WorkerId worker) {
    mpi::proto::FromNode message;
    *message.mutable_worker_gone() = ToLocal(worker);
    Send(session, std::move(message));
  };
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool;
  {
    // The workers inherit a writable view of the store from the process the pool forks
    // them from; the store is sealed against any other writer once that exists.
    absl::MutexLock lock(&g_share_mu);
    if (arena_ != nullptr) {
      if (absl::Status shared = arena_->ShareWithChildren(); !shared.ok()) {
        LOG(WARNING) << "unidist mpi: task results on rank " << rank_
                     << " go through sockets: " << shared;
      }
    }
    pool = start_pool_(std::move(options));
    if (arena_ != nullptr) arena_->SealWrites();
  }
  if (pool.ok()) {
    pool_ = *std::move(pool);
  } else {
    StatusToTaskError(pool.status(), reply.mutable_session_started()->mutable_error());
  }
  Send(session, std::move(reply));
}

Node::Bytes Node::Find(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(id);
  return it == objects_.end() ? nullptr : it->second;
}

bool Node::HandleReceived(Received received) {
  // The raw value after an ObjectData header from the same rank.
  if (auto it = awaiting_value_.find(received.source); it != awaiting_value_.end()) {
    mpi::proto::ToNode header = std::move(it->second);
    awaiting_value_.erase(it);
    std::shared_ptr<SharedArena::Block> block;
    if (auto into = receiving_.find(received.source); into != receiving_.end()) {
      block = std::move(into->second);
      receiving_.erase(into);
    }
    if (header.session() == session_) {
      OnObjectData(received.source, header.object_data(), std::move(received.bytes),
                   received.into_buffer ? std::move(block) : nullptr);
    }
    return true;
  }
  mpi::proto::ToNode message;
  if (!message.ParseFromString(received.bytes)) {
    LOG(ERROR) << "unidist mpi: rank " << received.source
               << " sent a message that does not parse; dropped";
    return true;
  }
  if (message.has_object_data() && !message.object_data().has_error()) {
    // The value comes next: straight into the store if this session waits for it there.
    const mpi::proto::ObjectData& data = message.object_data();
    if (receive_into_ && arena_ != nullptr && message.session() == session_ &&
        data.size() >= shared_memory_min_bytes_ && fetching_.contains(data.object_id())) {
      absl::StatusOr<std::shared_ptr<SharedArena::Block>> block = arena_->Allocate(
          data.size(), data.elements_offset() < data.size() ? data.elements_offset() : 0);
      if (block.ok()) {
        receive_into_(received.source, (*block)->data(), data.size());
        receiving_[received.source] = *std::move(block);
      }
    }
    awaiting_value_[received.source] = std::move(message);
    return true;
  }
  if (received.source != 0 && !message.has_fetch_object() && !message.has_object_data()) {
    return true;  // another node only fetches and answers
  }
  return Handle(received.source, std::move(message));
}

void Node::ServeFetch(int source, uint64_t session, const mpi::proto::FetchObject& fetch) {
  mpi::proto::ObjectData data;
  data.set_call_id(fetch.call_id());
  data.set_object_id(fetch.object_id());
  Bytes bytes;
  absl::Status error;
  if (session != session_ || pool_ == nullptr) {
    error = absl::UnavailableError(absl::StrCat("object ", Hex(fetch.object_id()), " on rank ",
                                                rank_, ": its session is over"));
  } else if (bytes = Find(fetch.object_id()); bytes == nullptr) {
    error =
        absl::NotFoundError(absl::StrCat("object ", Hex(fetch.object_id()), " is not kept on rank ",
                                         rank_, " (released, or never made there)"));
  }
  if (!error.ok()) StatusToTaskError(error, data.mutable_error());
  if (bytes != nullptr) {
    data.set_size(bytes->size());
    data.set_elements_offset(ElementsOffsetOf(bytes->view()));
    absl::MutexLock lock(&mu_);
    if (source == 0) {
      counters_.set_bytes_sent_to_driver(counters_.bytes_sent_to_driver() + bytes->size());
    } else {
      counters_.set_bytes_sent_to_nodes(counters_.bytes_sent_to_nodes() + bytes->size());
    }
  }
  std::string header;
  if (source == 0) {
    mpi::proto::FromNode message;
    message.set_session(session);
    *message.mutable_object_data() = std::move(data);
    header = message.SerializeAsString();
  } else {
    mpi::proto::ToNode message;
    message.set_session(session);
    *message.mutable_object_data() = std::move(data);
    header = message.SerializeAsString();
  }
  send_(source, std::move(header), std::move(bytes));  // the value from the kept buffer
}

void Node::KeepLargeArguments(proto::TaskRequest* task) {
  if (!keep_arguments_ || keep_min_bytes_ == 0 || pool_ == nullptr) return;
  for (proto::TaskArgument& arg : *task->mutable_args()) {
    if (arg.has_location() || arg.has_shared() || arg.object_id().empty() ||
        arg.value().size() < keep_min_bytes_) {
      continue;
    }
    // The driver sends a large object it holds (a Put) to this rank once, and names it
    // by location for later tasks here (driver_pool.h): keep it, and read it from here.
    const uint64_t size = arg.value().size();
    Bytes kept = IntoStore(std::move(*arg.mutable_value()));
    arg.clear_value();
    proto::ObjectLocation* location = arg.mutable_location();
    location->set_object_id(arg.object_id());
    location->set_holder(static_cast<uint64_t>(rank_));
    location->set_size(size);
    absl::MutexLock lock(&mu_);
    objects_[arg.object_id()] = std::move(kept);
    counters_.set_arguments_kept(counters_.arguments_kept() + 1);
    counters_.set_argument_bytes_kept(counters_.argument_bytes_kept() + size);
  }
}

void Node::Resolve(Parked parked) {
  const bool is_reply = parked.kind == Parked::Kind::kReply;
  absl::Status error;
  std::vector<std::pair<std::string, int>> to_fetch;  // id, rank
  ForEachLocation(
      &parked.task, &parked.reply, is_reply, [&](proto::ObjectLocation* location, std::string*) {
        if (!error.ok()) return;
        const std::string& id = location->object_id();
        // Kept or copied here: held for the task from now, so that a release meanwhile
        // (the driver's cache of large arguments evicts) cannot take it from under it.
        if (Bytes here = Find(id); here != nullptr) {
          parked.pinned[id] = std::move(here);
          return;
        }
        // The driver pool's holders are ranks (driver_pool.h).
        const uint64_t holder = location->holder();
        const int rank = holder > static_cast<uint64_t>(INT_MAX) ? -1 : static_cast<int>(holder);
        if (rank == rank_) {
          error =
              absl::NotFoundError(absl::StrCat("object ", Hex(id), " is not kept on rank ", rank_,
                                               " any more (released, or its session is over)"));
        } else if (rank < 1 || (ranks_ > 0 && rank >= ranks_)) {
          // Not a worker rank of this job: a fetch sent there would never be answered.
          error = absl::InvalidArgumentError(
              absl::StrCat("object ", Hex(id), " has no valid rank (", holder,
                           "; the worker ranks are 1 to ", ranks_ - 1, ")"));
        } else {
          to_fetch.emplace_back(id, rank);
        }
      });
  if (!error.ok()) return FailParked(parked, error);
  if (to_fetch.empty() && parked_.empty()) return Deliver(std::move(parked));
  const uint64_t key = next_parked_++;
  for (const auto& [id, rank] : to_fetch) {
    std::vector<uint64_t>& waiting = fetching_[id];
    // One fetch per object, however many wait for it (an argument twice counts twice).
    if (waiting.empty()) {
      mpi::proto::ToNode fetch;
      fetch.set_session(session_);
      fetch.mutable_fetch_object()->set_object_id(id);
      send_(rank, fetch.SerializeAsString(), nullptr);
      absl::MutexLock lock(&mu_);
      counters_.set_fetches(counters_.fetches() + 1);
    }
    waiting.push_back(key);
    ++parked.missing;
  }
  parked_[key] = std::move(parked);
  if (to_fetch.empty()) DeliverReady();  // it waited only for its turn
}

void Node::DeliverReady() {
  absl::flat_hash_set<uint64_t> blocked;  // dedicated workers with a call still parked
  for (auto it = parked_.begin(); it != parked_.end();) {
    const Parked& parked = it->second;
    const bool in_order = parked.kind == Parked::Kind::kTaskOn;
    const uint64_t worker =
        (static_cast<uint64_t>(static_cast<uint32_t>(parked.worker.slot())) << 32) |
        parked.worker.generation();
    if (parked.missing > 0 || (in_order && blocked.contains(worker))) {
      if (in_order) blocked.insert(worker);
      ++it;
      continue;
    }
    Parked ready = std::move(it->second);
    it = parked_.erase(it);
    Deliver(std::move(ready));  // never touches parked_
  }
}

void Node::OnObjectData(int source, const mpi::proto::ObjectData& data, std::string bytes,
                        std::shared_ptr<SharedArena::Block> received_into) {
  auto it = fetching_.find(data.object_id());
  if (it == fetching_.end()) return;  // nobody waits any more (cancelled)
  std::vector<uint64_t> waiting = std::move(it->second);
  fetching_.erase(it);
  absl::Status error;
  if (data.has_error()) {
    error = TaskErrorToStatus(data.error());
    error = absl::Status(error.code(),
                         absl::StrCat("fetching from rank ", source, ": ", error.message()));
  } else {
    // Kept as a copy for the life of the object (until the driver releases it), in the
    // store if it is large, where this rank's tasks read it in place.
    const bool in_place = received_into != nullptr;
    const size_t size = in_place ? data.size() : bytes.size();
    Bytes copy;
    if (in_place) {
      copy = StoredBytes(std::move(received_into), size);
    } else {
      copy = IntoStore(std::move(bytes));
    }
    absl::MutexLock lock(&mu_);
    counters_.set_bytes_fetched(counters_.bytes_fetched() + size);
    if (in_place) {
      counters_.set_bytes_received_into_store(counters_.bytes_received_into_store() + size);
    }
    objects_[data.object_id()] = std::move(copy);
  }
  for (uint64_t key : waiting) {
    auto found = parked_.find(key);
    if (found == parked_.end()) continue;  // failed already by another fetch
    if (!error.ok()) {
      Parked failed = std::move(found->second);
      parked_.erase(found);
      FailParked(failed, error);
      continue;
    }
    --found->second.missing;
  }
  DeliverReady();
}

void Node::Deliver(Parked parked) {
  auto missing = [this](const std::string& id) {
    return absl::NotFoundError(absl::StrCat("object ", Hex(id), " is not on rank ", rank_,
                                            " any more"));  // released while others were fetched
  };
  if (parked.kind == Parked::Kind::kReply) {
    auto pinned = parked.pinned.find(parked.reply.location().object_id());
    Bytes bytes =
        pinned != parked.pinned.end() ? pinned->second : Find(parked.reply.location().object_id());
    if (bytes == nullptr) return FailParked(parked, missing(parked.reply.location().object_id()));
    parked.reply.set_value(std::string(bytes->view()));
    parked.reply.clear_location();
    pool_->ReplyToWorker(FromLocal(parked.worker), parked.reply).IgnoreError();
    return;
  }
  std::vector<Bytes> in_store;  // arguments the task reads in the store, held till its outcome
  for (proto::TaskArgument& arg : *parked.task.mutable_args()) {
    if (!arg.has_location()) continue;
    auto pinned = parked.pinned.find(arg.location().object_id());
    Bytes bytes = pinned != parked.pinned.end() ? pinned->second : Find(arg.location().object_id());
    if (bytes == nullptr) return FailParked(parked, missing(arg.location().object_id()));
    arg.clear_location();
    if (arena_ != nullptr && bytes->store() == arena_.get()) {
      // Its place in the store, which the task's worker maps (it inherited the store).
      const ArenaRef& where = arena_->ref();
      proto::SharedValue* shared = arg.mutable_shared();
      shared->set_pid(static_cast<uint32_t>(where.pid));
      shared->set_fd(where.fd);
      shared->set_inode(where.inode);
      shared->set_file_size(where.size);
      shared->set_offset(bytes->store_offset());
      shared->set_size(bytes->size());
      in_store.push_back(std::move(bytes));
    } else {
      arg.set_value(bytes->data(), bytes->size());  // the worker's frame is built from it
    }
  }
  const uint64_t task_id = parked.task.task_id();
  const std::string function = parked.task.function();
  if (arena_ != nullptr) parked.task.set_store_results_from(shared_memory_min_bytes_);
  {
    absl::MutexLock lock(&mu_);
    std::vector<std::string>& ids = result_ids_[task_id];
    ids.clear();
    for (int i = 0; i < ResultIdCount(parked.task); ++i) {
      ids.push_back(ResultIdAt(parked.task, i).Binary());
    }
    if (!in_store.empty()) task_arguments_[task_id] = std::move(in_store);
  }
  absl::Status sent = parked.kind == Parked::Kind::kTaskOn
                          ? pool_->DispatchTo(FromLocal(parked.worker), std::move(parked.task))
                          : pool_->Dispatch(std::move(parked.task));
  if (!sent.ok()) {
    {
      absl::MutexLock lock(&mu_);
      result_ids_.erase(task_id);
      task_arguments_.erase(task_id);
    }
    proto::TaskRequest failed;
    failed.set_task_id(task_id);
    failed.set_function(function);
    // An actor's worker that has died refuses with how it died: the call died with it,
    // before running (the driver may restart the actor and run it again).
    const bool died = parked.kind == Parked::Kind::kTaskOn && absl::IsUnavailable(sent);
    SendTaskError(session_, failed, sent, died);
  }
}

void Node::FailParked(const Parked& parked, const absl::Status& error) {
  if (parked.kind == Parked::Kind::kReply) {
    proto::ApiReply reply;
    reply.set_request_id(parked.reply.request_id());
    StatusToTaskError(error, reply.mutable_error());
    if (pool_ != nullptr) pool_->ReplyToWorker(FromLocal(parked.worker), reply).IgnoreError();
    return;
  }
  SendTaskError(session_, parked.task, error);
}

bool Node::Handle(int source, mpi::proto::ToNode message) {
  using mpi::proto::ToNode;
  const uint64_t session = message.session();
  if (message.kind_case() == ToNode::kFetchObject) {
    // Always answered, whatever the session: the asking rank waits for it.
    ServeFetch(source, session, message.fetch_object());
    return true;
  }
  if (message.kind_case() == ToNode::kObjectData) {  // a failed fetch (no value follows)
    if (session == session_) OnObjectData(source, message.object_data(), std::string());
    return true;
  }
  if (message.kind_case() == ToNode::kExit) {
    EndSession();
    return false;
  }
  if (message.kind_case() == ToNode::kStartSession) {
    StartSession(session, message.start_session());
    return true;
  }
  // Anything else belongs to the current session; a message of an earlier session has
  // nothing left to act on. (The current session may have ended, or its pool may have
  // failed to start: see the pool_ == nullptr case below.)
  if (session != session_) return true;
  if (message.kind_case() == ToNode::kEndSession) {
    EndSession();
    session_ended_ = true;
    mpi::proto::FromNode ended;
    ended.set_session_ended(true);
    Send(session, std::move(ended));
    return true;
  }
  if (pool_ == nullptr) {
    // The session has ended (a task the driver sent while another of its threads shut
    // it down) or its pool failed to start (the driver never got this far). Answer what
    // waits, as the pool would have.
    if (message.has_run_task()) {
      SendTaskError(session, message.run_task().task(),
                    session_ended_
                        ? absl::CancelledError("unidist was shut down before the task ran")
                        : absl::UnavailableError("the worker rank has no workers"));
    }
    return true;
  }
  switch (message.kind_case()) {
    case ToNode::kRunTask: {
      Parked parked;
      parked.kind = Parked::Kind::kTask;
      parked.task.Swap(message.mutable_run_task()->mutable_task());
      KeepLargeArguments(&parked.task);
      Resolve(std::move(parked));
      break;
    }
    case ToNode::kRunTaskOn: {
      Parked parked;
      parked.kind = Parked::Kind::kTaskOn;
      parked.worker = message.run_task_on().worker();
      parked.task.Swap(message.mutable_run_task_on()->mutable_task());
      KeepLargeArguments(&parked.task);
      Resolve(std::move(parked));
      break;
    }
    case ToNode::kCancel: {
      // A task still waiting for its arguments here is simply dropped.
      for (auto it = parked_.begin(); it != parked_.end(); ++it) {
        if (it->second.kind == Parked::Kind::kReply ||
            it->second.task.task_id() != message.cancel().task_id()) {
          continue;
        }
        Parked cancelled = std::move(it->second);
        parked_.erase(it);
        FailParked(cancelled, absl::CancelledError("the task was cancelled before it started"));
        DeliverReady();  // calls to the same actor behind it may go now
        mpi::proto::FromNode reply;
        reply.mutable_cancel_reply()->set_call_id(message.cancel().call_id());
        Send(session, std::move(reply));
        return true;
      }
      // A successful cancel has reported the task through on_result before the reply
      // goes out, and the two reach the driver in that order.
      const absl::Status cancelled =
          pool_->Cancel(message.cancel().task_id(), message.cancel().force());
      mpi::proto::FromNode reply;
      reply.mutable_cancel_reply()->set_call_id(message.cancel().call_id());
      if (!cancelled.ok())
        StatusToTaskError(cancelled, reply.mutable_cancel_reply()->mutable_error());
      Send(session, std::move(reply));
      break;
    }
    case ToNode::kReplyToWorker:
      if (message.reply_to_worker().reply().has_location()) {
        Parked parked;
        parked.kind = Parked::Kind::kReply;
        parked.worker = message.reply_to_worker().worker();
        parked.reply.Swap(message.mutable_reply_to_worker()->mutable_reply());
        Resolve(std::move(parked));
        break;
      }
      // A worker that is gone needs no answer.
      pool_
          ->ReplyToWorker(FromLocal(message.reply_to_worker().worker()),
                          message.reply_to_worker().reply())
          .IgnoreError();
      break;
    case ToNode::kStartDedicated: {
      mpi::proto::FromNode reply;
      mpi::proto::DedicatedStarted* started = reply.mutable_dedicated_started();
      started->set_call_id(message.start_dedicated().call_id());
      absl::StatusOr<WorkerId> worker = pool_->StartDedicatedWorker();
      if (worker.ok()) {
        *started->mutable_worker() = ToLocal(*worker);
      } else {
        StatusToTaskError(worker.status(), started->mutable_error());
      }
      Send(session, std::move(reply));
      break;
    }
    case ToNode::kCloseDedicated:
      pool_->CloseDedicatedWorker(FromLocal(message.close_dedicated().worker()),
                                  message.close_dedicated().kill());
      break;
    case ToNode::kQueryWorkers: {
      mpi::proto::FromNode reply;
      mpi::proto::WorkersReport* report = reply.mutable_workers();
      report->set_call_id(message.query_workers().call_id());
      for (const WorkerState& state : pool_->Workers()) {
        mpi::proto::WorkerReport* worker = report->add_workers();
        worker->set_index(state.index);
        worker->set_pid(state.pid);
        worker->set_alive(state.alive);
        worker->set_tasks_in_flight(state.tasks_in_flight);
      }
      report->set_workers_replaced(pool_->workers_replaced());
      Send(session, std::move(reply));
      break;
    }
    case ToNode::kReleaseObjects: {
      std::vector<Bytes> dropped;  // freed after the lock
      absl::MutexLock lock(&mu_);
      for (const std::string& id : message.release_objects().object_ids()) {
        auto it = objects_.find(id);
        if (it == objects_.end()) continue;
        dropped.push_back(std::move(it->second));
        objects_.erase(it);
      }
      break;
    }
    case ToNode::kQueryObjects: {
      mpi::proto::FromNode reply;
      {
        absl::MutexLock lock(&mu_);
        *reply.mutable_objects() = counters_;
        uint64_t bytes = 0;
        uint64_t objects_in_store = 0;
        uint64_t bytes_in_store = 0;
        for (const auto& [id, value] : objects_) {
          bytes += value->size();
          if (arena_ != nullptr && value->store() == arena_.get()) {
            ++objects_in_store;
            bytes_in_store += value->size();
          }
        }
        reply.mutable_objects()->set_objects_held(objects_.size());
        reply.mutable_objects()->set_bytes_held(bytes);
        reply.mutable_objects()->set_objects_in_store(objects_in_store);
        reply.mutable_objects()->set_bytes_in_store(bytes_in_store);
      }
      reply.mutable_objects()->set_process_cpu_ns(ProcessCpuNanoseconds());
      reply.mutable_objects()->set_pid(static_cast<int32_t>(getpid()));
      reply.mutable_objects()->set_call_id(message.query_objects().call_id());
      Send(session, std::move(reply));
      break;
    }
    default:
      break;  // an empty or unknown message from the driver: nothing to do
  }
  return true;
}

}  // namespace unidist::mpi_internal
