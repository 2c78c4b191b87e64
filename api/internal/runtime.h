// Copyright 2026 The unidist-cpp Authors.
//
// Runtime: one Init..Shutdown lifetime of the multiprocessing backend. It owns the object
// store (shared with the ObjectRefs that outlive it) and the worker pool, and it resolves
// task dependencies: a task is handed to the pool only once every ObjectRef argument is
// complete, with those values filled in; if one failed, the task fails with that error.
//
// Thread-safe.

#ifndef UNIDIST_API_INTERNAL_RUNTIME_H_
#define UNIDIST_API_INTERNAL_RUNTIME_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "api/internal/bridge.h"
#include "api/unidist.h"
#include "common/worker_protocol.pb.h"
#include "object_store/object_store.h"
#include "process_manager/process_manager.h"

namespace unidist::api_internal {

// Owns one object: erases it from its store when the last ObjectRef copy (and the last
// pending task that needs it) lets go. A token without a store stands for an object that
// never reached one; `error` says why.
class RefToken {
 public:
  RefToken(DataID id, std::shared_ptr<ObjectStore> store) : id_(id), store_(std::move(store)) {}
  RefToken(DataID id, absl::Status error) : id_(id), error_(std::move(error)) {}
  ~RefToken() {
    if (store_ != nullptr) store_->Erase(id_);
  }
  RefToken(const RefToken&) = delete;
  RefToken& operator=(const RefToken&) = delete;

  const DataID& id() const { return id_; }
  ObjectStore* store() const { return store_.get(); }
  const absl::Status& error() const { return error_; }

 private:
  const DataID id_;
  const std::shared_ptr<ObjectStore> store_;
  const absl::Status error_;
};

// True in a worker process (once it has started running tasks).
bool InWorkerProcess();

// Runs one task in a worker process: looks the function up by name, runs it, and turns
// what happens (value, returned status, exception) into `result`.
void ExecuteTask(const proto::TaskRequest& task, proto::TaskResult* result);

class Runtime {
 public:
  // Starts `num_workers` worker processes exchanging messages of at most
  // `max_message_bytes`.
  static absl::StatusOr<std::unique_ptr<Runtime>> Start(int num_workers,
                                                        size_t max_message_bytes);

  ~Runtime();

  RefHandle Put(std::string bytes);
  std::vector<RefHandle> Submit(const std::string& function, std::vector<TaskArg> args,
                                int num_returns, int max_retries);

  // Fails every pending object with Cancelled and ends the worker pool.
  void Shutdown();

  std::vector<WorkerState> Workers() const { return pool_->Workers(); }
  Stats GetStats();

 private:
  struct PendingTask;

  Runtime() : store_(std::make_shared<ObjectStore>()) {}

  void OnArgumentComplete(const std::shared_ptr<PendingTask>& task);
  void FailTask(const std::shared_ptr<PendingTask>& task, const absl::Status& error);
  struct Dispatched;
  void Dispatch(const std::shared_ptr<PendingTask>& task);
  // Hands `request` to the pool under a new task id recorded with `record`.
  absl::Status DispatchRequest(Dispatched record, proto::TaskRequest request);
  void OnResult(proto::TaskResult result);

  const std::shared_ptr<ObjectStore> store_;
  std::unique_ptr<ProcessManager> pool_;

  absl::Mutex mu_;
  uint64_t next_task_id_ ABSL_GUARDED_BY(mu_) = 1;
  // The tasks handed to the pool, by task id.
  struct Dispatched {
    std::vector<DataID> result_ids;
    int retries_left = 0;
    // A copy of the request, kept only while the task may be retried.
    std::unique_ptr<proto::TaskRequest> request;
  };
  absl::flat_hash_map<uint64_t, Dispatched> dispatched_ ABSL_GUARDED_BY(mu_);
  size_t tasks_retried_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<size_t> tasks_waiting_{0};
};

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_RUNTIME_H_
