// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/runtime.h"

#include <cxxabi.h>

#include <atomic>
#include <exception>
#include <typeinfo>
#include <utility>

#include "absl/strings/str_cat.h"
#include "api/internal/function_registry.h"
#include "common/status_macros.h"

namespace unidist::api_internal {
namespace {

std::string DemangledCurrentExceptionType() {
  const std::type_info* type = abi::__cxa_current_exception_type();
  if (type == nullptr) return "an unknown type";
  int status = 0;
  char* demangled = abi::__cxa_demangle(type->name(), nullptr, nullptr, &status);
  std::string name = status == 0 && demangled != nullptr ? demangled : type->name();
  free(demangled);
  return name;
}

void SetError(const absl::Status& status, proto::TaskResult* result) {
  result->clear_values();
  proto::TaskError* error = result->mutable_error();
  error->set_code(static_cast<int>(status.code()));
  error->set_message(std::string(status.message()));
  status.ForEachPayload([error](absl::string_view url, const absl::Cord& payload) {
    (*error->mutable_payloads())[std::string(url)] = std::string(payload);
  });
}

// Set in a worker process once it runs its first task.
std::atomic<bool> g_in_worker_process{false};

}  // namespace

bool InWorkerProcess() { return g_in_worker_process.load(std::memory_order_relaxed); }

void ExecuteTask(const proto::TaskRequest& task, proto::TaskResult* result) {
  g_in_worker_process.store(true, std::memory_order_relaxed);
  std::shared_ptr<const Invoker> invoker = FunctionRegistry::Global().Find(task.function());
  if (invoker == nullptr) {
    SetError(absl::NotFoundError(absl::StrCat(
                 "function '", task.function(),
                 "' is not registered in the worker process; register it with "
                 "UNIDIST_REMOTE at namespace scope")),
             result);
    return;
  }
  std::vector<absl::string_view> args;
  args.reserve(task.args_size());
  for (const proto::TaskArgument& arg : task.args()) args.push_back(arg.value());
  std::vector<std::string> values;
  absl::Status status;
  try {
    status = (*invoker)(args, std::max(1, task.result_ids_size()), &values);
  } catch (const std::exception& e) {
    status = absl::UnknownError(absl::StrCat("task '", task.function(), "' threw ",
                                             DemangledCurrentExceptionType(), ": ", e.what()));
  } catch (...) {
    status = absl::UnknownError(absl::StrCat("task '", task.function(),
                                             "' threw an exception of type ",
                                             DemangledCurrentExceptionType()));
  }
  if (!status.ok()) {
    SetError(status, result);
    return;
  }
  for (std::string& value : values) result->add_values(std::move(value));
}

// A submitted task on its way to the pool: its request, filled in as its ObjectRef
// arguments complete.
struct Runtime::PendingTask {
  proto::TaskRequest request;
  std::vector<DataID> result_ids;
  int max_retries = 0;
  // Arguments not yet complete, plus one held by Submit until it has registered them all.
  std::atomic<int> waiting{1};
  std::atomic<bool> failed{false};
};

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Start(int num_workers,
                                                        size_t max_message_bytes) {
  std::unique_ptr<Runtime> runtime(new Runtime());
  ProcessManagerOptions options;
  options.num_workers = num_workers;
  options.max_frame_bytes = max_message_bytes;
  options.execute = &ExecuteTask;
  options.on_result = [raw = runtime.get()](proto::TaskResult result) {
    raw->OnResult(std::move(result));
  };
  UNIDIST_ASSIGN_OR_RETURN(runtime->pool_, ProcessManager::Start(std::move(options)));
  return runtime;
}

Runtime::~Runtime() { Shutdown(); }

RefHandle Runtime::Put(std::string bytes) {
  const DataID id = DataID::Generate();
  // A fresh id cannot collide, so this cannot fail.
  store_->PutReady(id, std::move(bytes)).IgnoreError();
  return RefHandle{id, std::make_shared<const RefToken>(id, store_)};
}

std::vector<RefHandle> Runtime::Submit(const std::string& function, std::vector<TaskArg> args,
                                       int num_returns, int max_retries) {
  auto task = std::make_shared<PendingTask>();
  task->max_retries = std::max(0, max_retries);
  tasks_waiting_.fetch_add(1, std::memory_order_relaxed);
  std::vector<RefHandle> results;
  for (int i = 0; i < num_returns; ++i) {
    const DataID id = DataID::Generate();
    store_->CreatePending(id).IgnoreError();  // fresh ids cannot collide
    task->result_ids.push_back(id);
    task->request.add_result_ids(id.Binary());
    results.push_back(RefHandle{id, std::make_shared<const RefToken>(id, store_)});
  }
  task->request.set_function(function);
  for (size_t i = 0; i < args.size(); ++i) task->request.add_args();

  for (size_t i = 0; i < args.size(); ++i) {
    proto::TaskArgument* arg = task->request.mutable_args(static_cast<int>(i));
    if (!args[i].is_ref) {
      *arg->mutable_value() = std::move(args[i].value);
      continue;
    }
    const RefHandle& ref = args[i].ref;
    arg->set_object_id(ref.id.Binary());
    if (ref.token == nullptr) {
      FailTask(task, absl::InvalidArgumentError(absl::StrCat(
                         "argument ", i + 1, " of '", function, "' is an empty ObjectRef")));
      break;
    }
    if (ref.token->store() == nullptr) {
      FailTask(task, ref.token->error());
      break;
    }
    task->waiting.fetch_add(1, std::memory_order_relaxed);
    // The callback keeps the argument's token, so the object stays in its store until
    // its value has been copied into the request. Each callback writes only its own
    // argument slot; the last one to finish dispatches.
    ref.token->store()->OnComplete(
        ref.id, [this, task, arg, token = ref.token](const absl::StatusOr<ObjectStore::Value>& value) {
          if (value.ok()) {
            arg->set_value(**value);
          } else {
            FailTask(task, value.status());
          }
          OnArgumentComplete(task);
        });
  }
  OnArgumentComplete(task);  // releases Submit's own hold
  return results;
}

void Runtime::OnArgumentComplete(const std::shared_ptr<PendingTask>& task) {
  if (task->waiting.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  tasks_waiting_.fetch_sub(1, std::memory_order_relaxed);
  if (task->failed.load(std::memory_order_acquire)) return;
  Dispatch(task);
}

void Runtime::FailTask(const std::shared_ptr<PendingTask>& task, const absl::Status& error) {
  if (task->failed.exchange(true, std::memory_order_acq_rel)) return;
  for (const DataID& id : task->result_ids) store_->Fail(id, error);
}

void Runtime::Dispatch(const std::shared_ptr<PendingTask>& task) {
  Dispatched record;
  record.result_ids = task->result_ids;
  record.retries_left = task->max_retries;
  if (record.retries_left > 0) {
    record.request = std::make_unique<proto::TaskRequest>(task->request);
  }
  absl::Status dispatched = DispatchRequest(std::move(record), std::move(task->request));
  if (!dispatched.ok()) FailTask(task, dispatched);
}

absl::Status Runtime::DispatchRequest(Dispatched record, proto::TaskRequest request) {
  uint64_t task_id;
  {
    absl::MutexLock lock(&mu_);
    task_id = next_task_id_++;
    dispatched_[task_id] = std::move(record);
  }
  request.set_task_id(task_id);
  absl::Status dispatched = pool_->Dispatch(std::move(request));
  if (dispatched.ok()) return absl::OkStatus();
  {
    absl::MutexLock lock(&mu_);
    dispatched_.erase(task_id);
  }
  if (dispatched.code() == absl::StatusCode::kFailedPrecondition) {
    return absl::CancelledError("unidist was shut down before the task could run");
  }
  return dispatched;
}

void Runtime::OnResult(proto::TaskResult result) {
  Dispatched record;
  {
    absl::MutexLock lock(&mu_);
    auto it = dispatched_.find(result.task_id());
    if (it == dispatched_.end()) return;  // not ours: the pool only reports tasks we sent
    record = std::move(it->second);
    dispatched_.erase(it);
    if (result.error().worker_died() && record.retries_left > 0) ++tasks_retried_;
  }
  if (result.error().worker_died() && record.retries_left > 0) {
    --record.retries_left;
    proto::TaskRequest request = *record.request;
    std::vector<DataID> ids = record.result_ids;
    if (absl::Status retried = DispatchRequest(std::move(record), std::move(request));
        !retried.ok()) {
      for (const DataID& id : ids) store_->Fail(id, retried);
    }
    return;
  }
  const std::vector<DataID>& ids = record.result_ids;
  if (result.has_error() || result.values_size() != static_cast<int>(ids.size())) {
    absl::Status error;
    if (result.has_error()) {
      const proto::TaskError& task_error = result.error();
      const int code = task_error.code();
      error = absl::Status(code > 0 && code <= 16 ? static_cast<absl::StatusCode>(code)
                                                  : absl::StatusCode::kUnknown,
                           task_error.message());
      if (error.ok()) error = absl::UnknownError(task_error.message());
      for (const auto& [url, payload] : task_error.payloads()) {
        error.SetPayload(url, absl::Cord(payload));
      }
      proto::TaskError where = task_error;
      where.clear_payloads();
      error.SetPayload(kTaskFailurePayloadUrl, absl::Cord(where.SerializeAsString()));
    } else {
      error = absl::InternalError(absl::StrCat("the task returned ", result.values_size(),
                                               " values for ", ids.size(), " results"));
    }
    for (const DataID& id : ids) store_->Fail(id, error);
    return;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    store_->Seal(ids[i], std::move(*result.mutable_values(static_cast<int>(i))));
  }
}

Stats Runtime::GetStats() {
  Stats stats;
  stats.live_objects = store_->size();
  stats.bytes_held = store_->bytes_held();
  stats.tasks_waiting = tasks_waiting_.load(std::memory_order_relaxed);
  stats.workers_replaced = pool_->workers_replaced();
  absl::MutexLock lock(&mu_);
  stats.tasks_in_flight = dispatched_.size();
  stats.tasks_retried = tasks_retried_;
  return stats;
}

void Runtime::Shutdown() {
  if (pool_ != nullptr) pool_->Shutdown();  // reports every dispatched task as Cancelled
  // Tasks still waiting for arguments, and anything else pending, fail too.
  store_->FailAllPending(
      absl::CancelledError("unidist was shut down before the object was ready"));
}

}  // namespace unidist::api_internal
