// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/sequential_pool.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/framing.h"
#include "common/map_chunk.h"
#include "common/monotonic_clock.h"
#include "common/status_macros.h"

namespace unidist {
namespace {

// Actors are objects in this process, not processes, so the bound is generous; it only
// keeps slot numbers (and actor keys) in range.
constexpr int kMaxDedicatedWorkers = 1 << 20;

absl::Status TooLarge(size_t size, size_t limit) {
  // The words of AppendFrame (common/framing.cc), so that errors read as on the
  // multiprocessing backend.
  return absl::ResourceExhaustedError(absl::StrFormat(
      "message of %d bytes is larger than the maximum frame size of %d bytes", size, limit));
}

proto::TaskResult ErrorResult(uint64_t task_id, const std::string& function, int index,
                              absl::StatusCode code, std::string message) {
  proto::TaskResult result;
  result.set_task_id(task_id);
  proto::TaskError* error = result.mutable_error();
  error->set_code(static_cast<int>(code));
  error->set_message(std::move(message));
  error->set_function(function);
  error->set_worker_index(index);
  error->set_worker_pid(static_cast<int>(getpid()));
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SequentialPool>> SequentialPool::Start(WorkerPoolOptions options) {
  if (!options.execute || !options.on_result || options.num_workers < 1) {
    return absl::InvalidArgumentError(
        "WorkerPoolOptions needs execute, on_result and num_workers >= 1");
  }
  std::unique_ptr<SequentialPool> pool(new SequentialPool(std::move(options)));
  absl::MutexLock lock(&pool->mu_);
  pool->next_slot_ = pool->options_.num_workers;  // slots below are the pool's
  return pool;
}

SequentialPool::~SequentialPool() { Shutdown(); }

absl::Status SequentialPool::CheckSize(const proto::TaskRequest& task) const {
  // The frame the multiprocessing backend would send.
  const size_t size =
      PayloadBytesOfField(proto::DriverMessage::kTaskFieldNumber, task.ByteSizeLong());
  const size_t limit = std::min(options_.max_frame_bytes, kMaxFrameBytesLimit);
  if (size <= limit) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "task '", task.function(), "' is too large to send: ", TooLarge(size, limit).message()));
}

proto::TaskResult SequentialPool::Run(const proto::TaskRequest& task, int index) const {
  // Where an error happened, as a worker process stamps its errors (worker_loop.cc).
  const auto stamp = [&](proto::TaskError* error) {
    error->set_function(task.function());
    error->set_worker_index(index);
    error->set_worker_pid(static_cast<int>(getpid()));
  };
  proto::TaskResult result;
  const int64_t start_ns = task.record_timing() ? MonotonicNanos() : 0;
  options_.execute(task, &result);
  if (task.record_timing()) {  // for the timeline, as a worker process reports it
    proto::TaskTiming* timing = result.mutable_timing();
    timing->set_start_ns(start_ns);
    timing->set_end_ns(MonotonicNanos());
    timing->set_worker_index(index);
    timing->set_worker_pid(static_cast<int>(getpid()));
  }
  result.set_task_id(task.task_id());
  if (!result.has_error()) {
    proto::WorkerMessage message;  // the frame a worker process would send back
    message.mutable_result()->Swap(&result);
    const size_t size = message.ByteSizeLong();
    message.mutable_result()->Swap(&result);
    const size_t limit = std::min(options_.max_frame_bytes, kMaxFrameBytesLimit);
    if (size <= limit) {
      // A Map chunk whose calls failed one by one.
      for (proto::ElementError& element : *result.mutable_element_errors()) {
        stamp(element.mutable_error());
      }
      return result;
    }
    const absl::Status too_large = TooLarge(size, limit);
    result.mutable_error()->set_code(static_cast<int>(too_large.code()));
    result.mutable_error()->set_message(std::string(too_large.message()));
  }
  ClearValues(&result);
  stamp(result.mutable_error());
  return result;
}

absl::Status SequentialPool::Dispatch(const proto::TaskRequest& task) {
  UNIDIST_RETURN_IF_ERROR(CheckSize(task));
  const uint64_t task_id = task.task_id();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::FailedPreconditionError("the worker pool has shut down");
    running_[task_id] = task.function();
  }
  // No lock is held while the task runs: it may dispatch tasks of its own.
  proto::TaskResult result = Run(task, /*index=*/0);
  {
    absl::MutexLock lock(&mu_);
    running_.erase(task_id);
    if (dropped_.erase(task_id) > 0) return absl::OkStatus();  // Shutdown reported it
  }
  options_.on_result(std::move(result));
  return absl::OkStatus();
}

absl::StatusOr<WorkerId> SequentialPool::StartDedicatedWorker() {
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("the worker pool has shut down");
  int slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else if (next_slot_ - options_.num_workers < kMaxDedicatedWorkers) {
    slot = next_slot_++;
  } else {
    return absl::ResourceExhaustedError("too many dedicated workers");
  }
  Dedicated& dedicated = dedicated_[slot];
  dedicated.generation = next_generation_++;
  return WorkerId{slot, dedicated.generation};
}

absl::Status SequentialPool::DispatchTo(WorkerId worker, const proto::TaskRequest& task) {
  UNIDIST_RETURN_IF_ERROR(CheckSize(task));
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::FailedPreconditionError("the worker pool has shut down");
    auto it = dedicated_.find(worker.slot);
    if (it == dedicated_.end() || it->second.generation != worker.generation) {
      return absl::FailedPreconditionError("the dedicated worker is gone");
    }
    Dedicated& dedicated = it->second;
    if (dedicated.closing || dedicated.killed) {
      return absl::FailedPreconditionError("the dedicated worker is closing");
    }
    dedicated.queue.push_back(task);
    if (dedicated.running) return absl::OkStatus();  // that thread runs it next
    dedicated.running = true;
  }
  Drain(worker.slot);
  return absl::OkStatus();
}

void SequentialPool::Drain(int slot) {
  for (;;) {
    proto::TaskRequest task;
    bool ended = false;
    WorkerId worker;
    absl::Status lost;
    {
      absl::MutexLock lock(&mu_);
      Dedicated& dedicated = dedicated_.at(slot);  // kept while `running`
      if (dedicated.killed || dedicated.queue.empty()) {
        dedicated.running = false;
        if (!dedicated.killed && !dedicated.closing) return;
        ended = true;
        worker = WorkerId{slot, dedicated.generation};
        lost = dedicated.killed ? absl::CancelledError("the worker was killed")
                                : absl::CancelledError("the worker was closed");
        EraseLocked(slot);
      } else {
        task = std::move(dedicated.queue.front());
        dedicated.queue.pop_front();
        dedicated.running_task_id = task.task_id();
        dedicated.running_function = task.function();
      }
    }
    if (ended) {
      ReportEnded(worker, lost);
      return;
    }
    proto::TaskResult result = Run(task, slot);
    bool dropped;
    {
      absl::MutexLock lock(&mu_);
      Dedicated& dedicated = dedicated_.at(slot);
      dedicated.running_task_id = 0;
      dropped = dedicated.killed;  // Kill or Shutdown reported it as Cancelled
    }
    if (!dropped) options_.on_result(std::move(result));
  }
}

void SequentialPool::EraseLocked(int slot) {
  dedicated_.erase(slot);
  free_slots_.push_back(slot);
}

void SequentialPool::ReportEnded(WorkerId worker, const absl::Status& lost) {
  if (options_.drop_actor) options_.drop_actor(ActorKey(worker));
  if (options_.on_dedicated_worker_lost) options_.on_dedicated_worker_lost(worker, lost);
}

void SequentialPool::CloseDedicatedWorker(WorkerId worker, bool kill) {
  std::vector<proto::TaskResult> cancelled;
  absl::Status lost;
  {
    absl::MutexLock lock(&mu_);
    auto it = dedicated_.find(worker.slot);
    if (it == dedicated_.end() || it->second.generation != worker.generation) return;
    Dedicated& dedicated = it->second;
    if (dedicated.killed || (!kill && dedicated.closing)) return;
    if (kill) {
      dedicated.killed = true;
      if (dedicated.running && dedicated.running_task_id != 0) {
        cancelled.push_back(ErrorResult(dedicated.running_task_id, dedicated.running_function,
                                        worker.slot, absl::StatusCode::kCancelled,
                                        absl::StrCat("task '", dedicated.running_function,
                                                     "' was cancelled: the worker was killed")));
      }
      for (const proto::TaskRequest& task : dedicated.queue) {
        cancelled.push_back(ErrorResult(
            task.task_id(), task.function(), worker.slot, absl::StatusCode::kCancelled,
            absl::StrCat("task '", task.function(), "' was cancelled: the worker was killed")));
      }
      dedicated.queue.clear();
      lost = absl::CancelledError("the worker was killed");
    } else {
      dedicated.closing = true;
      lost = absl::CancelledError("the worker was closed");
    }
    // A running worker ends in Drain, once its task has returned.
    if (dedicated.running || !dedicated.queue.empty()) {
      lost = absl::OkStatus();
    } else {
      EraseLocked(worker.slot);
    }
  }
  for (proto::TaskResult& result : cancelled) options_.on_result(std::move(result));
  if (!lost.ok()) ReportEnded(worker, lost);
}

absl::Status SequentialPool::ReplyToWorker(WorkerId /*worker*/, const proto::ApiReply& /*reply*/) {
  return absl::NotFoundError(
      "the sequential backend has no worker processes: tasks call the runtime directly");
}

absl::Status SequentialPool::Cancel(uint64_t task_id, bool force) {
  proto::TaskResult cancelled;
  {
    absl::MutexLock lock(&mu_);
    if (running_.contains(task_id)) {
      return absl::FailedPreconditionError(
          force ? "the task is running, in the thread that submitted it (sequential "
                  "backend): nothing can stop it"
                : "the task is running, in the thread that submitted it (sequential backend)");
    }
    bool found = false;
    for (auto& [slot, dedicated] : dedicated_) {
      if (dedicated.running_task_id == task_id) {
        if (!force) return absl::FailedPreconditionError("the actor call is running");
        return absl::InvalidArgumentError(
            "force would kill the actor running the call; use Actor::Kill for that");
      }
      auto queued = std::find_if(
          dedicated.queue.begin(), dedicated.queue.end(),
          [task_id](const proto::TaskRequest& task) { return task.task_id() == task_id; });
      if (queued == dedicated.queue.end()) continue;
      cancelled = ErrorResult(task_id, queued->function(), slot, absl::StatusCode::kCancelled,
                              "the task was cancelled before it started");
      dedicated.queue.erase(queued);
      found = true;
      break;
    }
    if (!found) {
      return absl::NotFoundError("the worker pool has no such task (it may have finished)");
    }
  }
  options_.on_result(std::move(cancelled));
  return absl::OkStatus();
}

void SequentialPool::Shutdown() {
  std::vector<proto::TaskResult> cancelled;
  std::vector<WorkerId> ended;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    auto shut_down = [&cancelled](uint64_t task_id, const std::string& function, int index) {
      cancelled.push_back(
          ErrorResult(task_id, function, index, absl::StatusCode::kCancelled,
                      absl::StrCat("unidist was shut down before task '", function, "' finished")));
    };
    // Tasks running in other threads go on; what they return is dropped.
    for (const auto& [task_id, function] : running_) {
      shut_down(task_id, function, 0);
      dropped_.insert(task_id);
    }
    std::vector<int> idle;
    for (auto& [slot, dedicated] : dedicated_) {
      if (dedicated.killed) continue;  // reported when it was killed
      if (dedicated.running && dedicated.running_task_id != 0) {
        shut_down(dedicated.running_task_id, dedicated.running_function, slot);
      }
      for (const proto::TaskRequest& task : dedicated.queue) {
        shut_down(task.task_id(), task.function(), slot);
      }
      dedicated.queue.clear();
      dedicated.killed = true;
      if (!dedicated.running) {
        idle.push_back(slot);
        ended.push_back(WorkerId{slot, dedicated.generation});
      }
    }
    for (int slot : idle) EraseLocked(slot);
  }
  for (proto::TaskResult& result : cancelled) options_.on_result(std::move(result));
  for (const WorkerId& worker : ended) {
    ReportEnded(worker, absl::CancelledError("the worker was killed"));
  }
}

bool SequentialPool::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

std::vector<WorkerState> SequentialPool::Workers() const {
  absl::MutexLock lock(&mu_);
  std::vector<WorkerState> workers;
  for (int i = 0; i < options_.num_workers; ++i) {
    // Every "worker" is this process; the pool tasks running now, in any thread, are
    // counted on the first.
    workers.push_back({i, getpid(), !stopping_, i == 0 ? running_.size() : 0});
  }
  return workers;
}

}  // namespace unidist
