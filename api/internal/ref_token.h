// Copyright 2026 The unidist-cpp Authors.
//
// RefToken: what the copies of one ObjectRef (RefHandle, bridge.h) share. The last copy to
// go releases the object: it erases it from the driver's store or, inside a task, tells
// the driver that the task no longer needs it.

#ifndef UNIDIST_API_INTERNAL_REF_TOKEN_H_
#define UNIDIST_API_INTERNAL_REF_TOKEN_H_

#include <memory>
#include <utility>

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
      : id_(id), store_(std::move(store)), task_(std::move(task)), is_task_result_(true) {}
  RefToken(DataID id, absl::Status error) : id_(id), error_(std::move(error)) {}
  // In a worker process: an object the driver holds for this worker (nested tasks).
  struct HeldByDriver {};
  RefToken(DataID id, HeldByDriver) : id_(id), held_by_driver_(true) {}
  ~RefToken();
  RefToken(const RefToken&) = delete;
  RefToken& operator=(const RefToken&) = delete;

  const DataID& id() const { return id_; }
  ObjectStore* store() const { return store_.get(); }
  const absl::Status& error() const { return error_; }
  const std::weak_ptr<PendingTask>& task() const { return task_; }
  bool is_task_result() const { return is_task_result_; }
  bool held_by_driver() const { return held_by_driver_; }

 private:
  const DataID id_;
  const std::shared_ptr<ObjectStore> store_;
  const std::weak_ptr<PendingTask> task_;
  const bool is_task_result_ = false;
  const bool held_by_driver_ = false;
  const absl::Status error_;
};

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_REF_TOKEN_H_
