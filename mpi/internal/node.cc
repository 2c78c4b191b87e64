// Copyright 2026 The unidist-cpp Authors.

#include "mpi/internal/node.h"

#include <utility>

#include "common/task_error.h"

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

}  // namespace

Node::Node(std::function<void(const mpi::proto::FromNode&)> send, TaskExecutor execute,
           StartPool start_pool)
    : send_(std::move(send)), execute_(std::move(execute)), start_pool_(std::move(start_pool)) {}

Node::~Node() { EndSession(); }

void Node::Send(uint64_t session, mpi::proto::FromNode message) const {
  message.set_session(session);
  send_(message);
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
  if (pool_ == nullptr) return;
  pool_->Shutdown();  // reports tasks in flight as Cancelled through on_result
  pool_.reset();
}

void Node::StartSession(uint64_t session, const mpi::proto::StartSession& start) {
  EndSession();
  session_ = session;
  WorkerPoolOptions options;
  options.num_workers = start.num_workers();
  options.max_frame_bytes = start.max_frame_bytes();
  options.max_tasks_per_worker = start.max_tasks_per_worker();
  options.reap_grace = absl::Milliseconds(start.reap_grace_ms());
  options.execute = execute_;
  // Every callback stamps the session it belongs to, so that a late message of an ended
  // session is dropped by the driver.
  options.on_result = [this, session](proto::TaskResult result) {
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

bool Node::Handle(mpi::proto::ToNode message) {
  using mpi::proto::ToNode;
  const uint64_t session = message.session();
  if (message.kind_case() == ToNode::kExit) {
    EndSession();
    return false;
  }
  if (message.kind_case() == ToNode::kStartSession) {
    StartSession(session, message.start_session());
    return true;
  }
  // Anything else belongs to the current session; a late message of an ended one, or of
  // a session whose pool failed to start, has nothing left to act on.
  if (session != session_) return true;
  if (message.kind_case() == ToNode::kEndSession) {
    EndSession();
    mpi::proto::FromNode ended;
    ended.set_session_ended(true);
    Send(session, std::move(ended));
    return true;
  }
  if (pool_ == nullptr) {
    // The pool failed to start: the driver never got this far. Answer what waits.
    if (message.has_run_task()) {
      SendTaskError(session, message.run_task().task(),
                    absl::UnavailableError("the worker rank has no workers"));
    }
    return true;
  }
  switch (message.kind_case()) {
    case ToNode::kRunTask: {
      proto::TaskRequest& task = *message.mutable_run_task()->mutable_task();
      const uint64_t task_id = task.task_id();
      const std::string function = task.function();
      absl::Status sent = pool_->Dispatch(std::move(task));
      if (!sent.ok()) {
        proto::TaskRequest failed;
        failed.set_task_id(task_id);
        failed.set_function(function);
        SendTaskError(session, failed, sent);
      }
      break;
    }
    case ToNode::kRunTaskOn: {
      proto::TaskRequest& task = *message.mutable_run_task_on()->mutable_task();
      const uint64_t task_id = task.task_id();
      const std::string function = task.function();
      absl::Status sent =
          pool_->DispatchTo(FromLocal(message.run_task_on().worker()), std::move(task));
      if (!sent.ok()) {
        proto::TaskRequest failed;
        failed.set_task_id(task_id);
        failed.set_function(function);
        SendTaskError(session, failed, sent);
      }
      break;
    }
    case ToNode::kCancel: {
      // A successful cancel has reported the task through on_result before the reply
      // goes out, and the two reach the driver in that order.
      const absl::Status cancelled =
          pool_->Cancel(message.cancel().task_id(), message.cancel().force());
      mpi::proto::FromNode reply;
      reply.mutable_cancel_reply()->set_call_id(message.cancel().call_id());
      if (!cancelled.ok()) StatusToTaskError(cancelled, reply.mutable_cancel_reply()->mutable_error());
      Send(session, std::move(reply));
      break;
    }
    case ToNode::kReplyToWorker:
      // A worker that is gone needs no answer.
      pool_->ReplyToWorker(FromLocal(message.reply_to_worker().worker()),
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
    default:
      break;  // an empty or unknown message from the driver: nothing to do
  }
  return true;
}

}  // namespace unidist::mpi_internal
