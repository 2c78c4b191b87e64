// Copyright 2026 The unidist-cpp Authors.

#include "mpi/internal/node.h"

#include <climits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/data_id.h"
#include "common/task_error.h"
#include "glog/logging.h"

namespace unidist::mpi_internal {
namespace {

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

}  // namespace

Node::Node(Sender send, TaskExecutor execute, StartPool start_pool)
    : send_(std::move(send)), execute_(std::move(execute)), start_pool_(std::move(start_pool)) {}

Node::~Node() { EndSession(); }

void Node::Send(uint64_t session, mpi::proto::FromNode message) const {
  message.set_session(session);
  send_(0, message.SerializeAsString(), nullptr);
}

void Node::SendTaskError(uint64_t session, const proto::TaskRequest& task,
                         const absl::Status& status) const {
  mpi::proto::FromNode message;
  proto::TaskResult* result = message.mutable_result();
  result->set_task_id(task.task_id());
  StatusToTaskError(status, result->mutable_error());
  result->mutable_error()->set_function(task.function());
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
  absl::flat_hash_map<std::string, ObjectBytes> dropped;  // freed after the lock
  absl::MutexLock lock(&mu_);
  dropped.swap(objects_);
  result_ids_.clear();
}

void Node::KeepLargeValues(int rank, uint64_t keep_min_bytes, proto::TaskResult* result) {
  absl::MutexLock lock(&mu_);
  auto it = result_ids_.find(result->task_id());
  if (it == result_ids_.end()) return;
  const std::vector<std::string> ids = std::move(it->second);
  result_ids_.erase(it);
  if (result->has_error()) return;
  for (int i = 0; i < result->values_size() && i < static_cast<int>(ids.size()); ++i) {
    std::string& value = *result->mutable_values(i);
    if (value.size() < keep_min_bytes || value.size() > static_cast<size_t>(INT_MAX)) continue;
    proto::KeptValue* kept = result->add_kept_values();
    kept->set_index(static_cast<uint32_t>(i));
    kept->set_holder(static_cast<uint64_t>(rank));
    kept->set_size(value.size());
    counters_.set_objects_kept(counters_.objects_kept() + 1);
    objects_[ids[i]] = std::make_shared<const std::string>(std::move(value));
    value.clear();
  }
}

void Node::StartSession(uint64_t session, const mpi::proto::StartSession& start) {
  EndSession();
  session_ = session;
  session_ended_ = false;
  rank_ = start.rank();
  keep_min_bytes_ = start.keep_min_bytes();
  {
    absl::MutexLock lock(&mu_);
    counters_.Clear();
  }
  WorkerPoolOptions options;
  options.num_workers = start.num_workers();
  options.max_frame_bytes = start.max_frame_bytes();
  options.max_tasks_per_worker = start.max_tasks_per_worker();
  options.reap_grace = absl::Milliseconds(start.reap_grace_ms());
  options.execute = execute_;
  // Every callback stamps the session it belongs to, so that a late message of an ended
  // session is dropped by the driver.
  options.on_result = [this, session, rank = rank_,
                       keep = keep_min_bytes_](proto::TaskResult result) {
    if (keep > 0) KeepLargeValues(rank, keep, &result);
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
  mpi::proto::FromNode reply;
  reply.mutable_session_started();
  absl::StatusOr<std::unique_ptr<WorkerPool>> pool = start_pool_(std::move(options));
  if (pool.ok()) {
    pool_ = *std::move(pool);
  } else {
    StatusToTaskError(pool.status(), reply.mutable_session_started()->mutable_error());
  }
  Send(session, std::move(reply));
}

Node::ObjectBytes Node::Find(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = objects_.find(id);
  return it == objects_.end() ? nullptr : it->second;
}

bool Node::HandleReceived(Received received) {
  // The raw value after an ObjectData header from the same rank.
  if (auto it = awaiting_value_.find(received.source); it != awaiting_value_.end()) {
    mpi::proto::ToNode header = std::move(it->second);
    awaiting_value_.erase(it);
    if (header.session() == session_) {
      OnObjectData(received.source, header.object_data(), std::move(received.bytes));
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
    awaiting_value_[received.source] = std::move(message);  // the value comes next
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
  ObjectBytes bytes;
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

void Node::Resolve(Parked parked) {
  const bool is_reply = parked.kind == Parked::Kind::kReply;
  absl::Status error;
  std::vector<std::pair<std::string, int>> to_fetch;  // id, rank
  ForEachLocation(
      &parked.task, &parked.reply, is_reply, [&](proto::ObjectLocation* location, std::string*) {
        if (!error.ok()) return;
        const std::string& id = location->object_id();
        if (Find(id) != nullptr) return;  // kept or copied here
        // The driver pool's holders are ranks (driver_pool.h).
        const uint64_t holder = location->holder();
        const int rank = holder > static_cast<uint64_t>(INT_MAX) ? -1 : static_cast<int>(holder);
        if (rank == rank_) {
          error =
              absl::NotFoundError(absl::StrCat("object ", Hex(id), " is not kept on rank ", rank_,
                                               " any more (released, or its session is over)"));
        } else if (rank < 1) {
          error = absl::InvalidArgumentError(
              absl::StrCat("object ", Hex(id), " has no valid rank (", holder, ")"));
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

void Node::OnObjectData(int source, const mpi::proto::ObjectData& data, std::string bytes) {
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
    absl::MutexLock lock(&mu_);
    counters_.set_bytes_fetched(counters_.bytes_fetched() + bytes.size());
    // Kept as a copy for the life of the object (until the driver releases it).
    objects_[data.object_id()] = std::make_shared<const std::string>(std::move(bytes));
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
  const bool is_reply = parked.kind == Parked::Kind::kReply;
  absl::Status error;
  ForEachLocation(&parked.task, &parked.reply, is_reply,
                  [&](proto::ObjectLocation* location, std::string* value) {
                    if (!error.ok()) return;
                    ObjectBytes bytes = Find(location->object_id());
                    if (bytes == nullptr) {  // released while the others were fetched
                      error =
                          absl::NotFoundError(absl::StrCat("object ", Hex(location->object_id()),
                                                           " is not on rank ", rank_, " any more"));
                      return;
                    }
                    *value = *bytes;  // the worker's frame is built from the message
                  });
  if (!error.ok()) return FailParked(parked, error);
  if (is_reply) {
    parked.reply.clear_location();
    pool_->ReplyToWorker(FromLocal(parked.worker), parked.reply).IgnoreError();
    return;
  }
  for (proto::TaskArgument& arg : *parked.task.mutable_args()) arg.clear_location();
  const uint64_t task_id = parked.task.task_id();
  const std::string function = parked.task.function();
  if (keep_min_bytes_ > 0) {
    absl::MutexLock lock(&mu_);
    result_ids_[task_id].assign(parked.task.result_ids().begin(), parked.task.result_ids().end());
  }
  absl::Status sent = parked.kind == Parked::Kind::kTaskOn
                          ? pool_->DispatchTo(FromLocal(parked.worker), std::move(parked.task))
                          : pool_->Dispatch(std::move(parked.task));
  if (!sent.ok()) {
    {
      absl::MutexLock lock(&mu_);
      result_ids_.erase(task_id);
    }
    proto::TaskRequest failed;
    failed.set_task_id(task_id);
    failed.set_function(function);
    SendTaskError(session_, failed, sent);
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
      Resolve(std::move(parked));
      break;
    }
    case ToNode::kRunTaskOn: {
      Parked parked;
      parked.kind = Parked::Kind::kTaskOn;
      parked.worker = message.run_task_on().worker();
      parked.task.Swap(message.mutable_run_task_on()->mutable_task());
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
      std::vector<ObjectBytes> dropped;  // freed after the lock
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
        for (const auto& [id, value] : objects_) bytes += value->size();
        reply.mutable_objects()->set_objects_held(objects_.size());
        reply.mutable_objects()->set_bytes_held(bytes);
      }
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
