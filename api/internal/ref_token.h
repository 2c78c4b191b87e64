// Copyright 2026 The unidist-cpp Authors.
//
// RefToken: what the copies of one ObjectRef (RefHandle, bridge.h) share. The last copy to
// go releases the object: it erases it from the driver's store or, inside a task, tells
// the driver that the task no longer needs it.

#ifndef UNIDIST_API_INTERNAL_REF_TOKEN_H_
#define UNIDIST_API_INTERNAL_REF_TOKEN_H_

#include <memory>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "object_store/object_store.h"
#include "unidist/common/data_id.h"

namespace unidist::api_internal {

struct PendingTask;  // a submitted task on its way to a worker; see pending_task.h

// Owns one object: erases it from its store when the last ObjectRef copy (and the last
// pending task that needs it) lets go. A token without a store stands for an object that
// never reached one; `error` says why. Inside a task, a token "held by the driver" stands
// for an object the driver holds for this task (api_server.h); its end tells the driver.
class RefToken {
 public:
  RefToken(DataID id, std::shared_ptr<ObjectStore> store) : id_(id), store_(std::move(store)) {}
  // The result of `task` (which Cancel finds through it).
  RefToken(DataID id, std::shared_ptr<ObjectStore> store, std::weak_ptr<PendingTask> task)
      : id_(id), store_(std::move(store)), kind_(TaskResult{std::move(task)}) {}
  RefToken(DataID id, absl::Status error) : id_(id), kind_(std::move(error)) {}
  // In a worker process: an object the driver holds for this worker (nested tasks).
  struct HeldByDriver {};
  RefToken(DataID id, HeldByDriver held) : id_(id), kind_(held) {}
  ~RefToken();
  RefToken(const RefToken&) = delete;
  RefToken& operator=(const RefToken&) = delete;

  const DataID& id() const { return id_; }
  ObjectStore* store() const { return store_.get(); }
  // OK unless the object never reached a store.
  absl::Status error() const {
    const absl::Status* error = std::get_if<absl::Status>(&kind_);
    return error != nullptr ? *error : absl::OkStatus();
  }
  // The task whose result it is; empty for other objects.
  std::weak_ptr<PendingTask> task() const {
    const TaskResult* result = std::get_if<TaskResult>(&kind_);
    return result != nullptr ? result->task : std::weak_ptr<PendingTask>();
  }
  bool is_task_result() const { return std::holds_alternative<TaskResult>(kind_); }
  bool held_by_driver() const { return std::holds_alternative<HeldByDriver>(kind_); }

 private:
  struct TaskResult {
    std::weak_ptr<PendingTask> task;
  };
  const DataID id_;
  const std::shared_ptr<ObjectStore> store_;
  // What only some tokens have, in one field: a token is one of a Put object's (monostate),
  // a task result's, a failed object's, or one the driver holds for this worker. One token
  // per object held, so its size is the driver's cost per object (with the store's entry).
  const std::variant<std::monostate, TaskResult, absl::Status, HeldByDriver> kind_;
};

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_REF_TOKEN_H_
