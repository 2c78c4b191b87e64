// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/runtime.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "api/internal/client.h"
#include "api/internal/executor.h"
#include "api/internal/function_registry.h"
#include "api/internal/pending_task.h"
#include "common/cpus.h"
#include "common/map_chunk.h"
#include "common/monotonic_clock.h"
#include "common/result_ids.h"
#include "common/shrink.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "unidist/common/codec.h"

namespace unidist::api_internal {

std::vector<NodeState> Runtime::Nodes() const {
  std::vector<NodeState> nodes = pool_->Nodes();
  if (nodes.empty()) nodes.push_back(this_machine_);
  return nodes;
}

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Start(const BackendDescription& backend,
                                                        int num_workers, size_t max_message_bytes,
                                                        const RuntimeTuning& tuning) {
  std::unique_ptr<Runtime> runtime(new Runtime());
  WorkerPoolOptions options;
  options.least_loaded = tuning.least_loaded;
  options.worker_memory_limit = tuning.worker_memory_limit;
  options.result_ring_bytes = tuning.result_ring_bytes;
  // Other processes can map the driver's segments only on this machine.
  runtime->shared_memory_min_bytes_ =
      backend.abilities.shared_memory ? tuning.shared_memory_min_bytes : SIZE_MAX;
  runtime->spill_directory_ = tuning.spill_directory;
  if (runtime->shared_memory_min_bytes_ != SIZE_MAX && tuning.object_store_memory > 0) {
    absl::StatusOr<std::shared_ptr<SharedArena>> arena =
        SharedArena::Create(absl::StrCat("unidist-", getpid()), tuning.object_store_memory);
    if (arena.ok()) {
      runtime->arena_ = *std::move(arena);
    } else {
      LOG(WARNING) << "unidist: no shared-memory store, large objects go through the socket: "
                   << arena.status();
    }
  }
  // A pool that keeps objects elsewhere (mpi: on their worker ranks) gives each place a
  // store of the same size, also where the driver shares no memory with the workers.
  if (tuning.shared_memory_min_bytes != SIZE_MAX) {
    options.object_store_memory = tuning.object_store_memory;
    options.shared_memory_min_bytes = tuning.shared_memory_min_bytes;
  }
  options.num_workers = num_workers;
  options.max_frame_bytes = max_message_bytes;
  options.execute = &ExecuteTask;
  options.on_result = [raw = runtime.get()](proto::TaskResult&& result) { raw->OnResult(result); };
  options.on_dedicated_worker_lost = [raw = runtime.get()](WorkerId worker, absl::Status status) {
    raw->OnDedicatedWorkerLost(worker, status);
  };
  // Calls from inside tasks (nested tasks) are served by the ApiServer, against this
  // runtime; no task, and so no call, can arrive before the pool is in place.
  ApiServerCalls calls;
  Runtime* const raw = runtime.get();
  calls.put = [raw](std::string bytes) { return raw->Put(std::move(bytes)); };
  calls.submit = [raw](const std::string& function, std::vector<TaskArg> args, int num_returns,
                       int max_retries) {
    return raw->Submit(function, std::move(args), num_returns, max_retries);
  };
  calls.allocate = [raw](WorkerId, const proto::AllocateRequest& request) {
    return raw->AllocateResult(request);
  };
  calls.reply = [raw](WorkerId worker, proto::ApiReply reply) {
    raw->pool_->ReplyToWorker(worker, reply).IgnoreError();  // a dead worker needs none
  };
  calls.find_actor = [raw](uint64_t id, const std::string& type_key) {
    return raw->FindActor(id, type_key);
  };
  calls.find_named_actor = [raw](const std::string& name, const std::string& type_key) {
    return raw->FindNamedActor(name, type_key);
  };
  calls.keep_with_objects = [raw](const std::vector<DataID>& ids, EncodedHandles held) {
    raw->KeepWithObjects(ids, held);
  };
  calls.find_object = [raw](const DataID& id) { return raw->FindRef(id); };
  calls.end_actor = [raw](WorkerId worker) { return raw->EndActor(worker); };
  runtime->api_server_ = std::make_unique<ApiServer>(std::move(calls));
  options.on_api_request = [server = runtime->api_server_.get()](WorkerId worker,
                                                                 proto::ApiRequest request) {
    server->OnRequest(worker, std::move(request));
  };
  options.on_worker_gone = [server = runtime->api_server_.get()](WorkerId worker) {
    server->OnWorkerGone(worker);
  };
  options.drop_actor = &DropActorInstance;
  // The workers inherit a writable view of the store, for their results, from the process
  // they are forked from; the store is sealed against any other writer once that exists.
  if (runtime->arena_ != nullptr) {
    if (absl::Status shared = runtime->arena_->ShareWithChildren(); !shared.ok()) {
      LOG(WARNING) << "unidist: task results go through the socket: " << shared;
    }
  }
  absl::StatusOr<std::unique_ptr<WorkerPool>> started = backend.start_pool(std::move(options));
  if (runtime->arena_ != nullptr) runtime->arena_->SealWrites();
  if (!started.ok()) return started.status();
  runtime->pool_ = *std::move(started);
  // Init has checked UNIDIST_CPUS, which this process's workers count against.
  runtime->this_machine_ = NodeState{0, HostName(), UsableCpus().value_or(AffinityCpus()),
                                     runtime->pool_->num_workers()};
  // Objects the pool keeps elsewhere (mpi: on the worker rank that made them) are fetched
  // and released through it. Shutdown removes the hooks before the pool goes.
  WorkerPool* pool = runtime->pool_.get();
  runtime->describe_holder_ = backend.describe_holder;
  runtime->store_->SetRemoteHooks(
      RemoteHooks{[pool](const DataID& id, const RemoteLocation& where) {
                    return pool->FetchObject(id, where.holder);
                  },
                  [pool](const DataID& id, const RemoteLocation& where) {
                    pool->ReleaseObject(id, where.holder);
                  },
                  runtime->describe_holder_});
  return runtime;
}

Runtime::~Runtime() { Shutdown(); }

RefHandle Runtime::Put(std::string bytes) {
  const DataID id = DataID::Generate();
  // A fresh id cannot collide, so this cannot fail.
  store_->PutReady(id, std::move(bytes)).IgnoreError();
  return RefHandle{id, RefToken::ForObject(id, *store_anchor_)};
}

RefHandle Runtime::Put(const ValueWriter& value) {
  if (arena_ == nullptr || value.size < shared_memory_min_bytes_) {
    std::string bytes(value.size, '\0');
    if (absl::Status encoded = value.encode(bytes.data()); !encoded.ok()) {
      return FailedHandle(std::move(encoded));
    }
    return Put(std::move(bytes));
  }
  absl::StatusOr<std::shared_ptr<SharedArena::Block>> block =
      AllocateInStore(value.size, value.aligned_at);
  if (!block.ok()) return FailedHandle(block.status());
  if (absl::Status encoded = value.encode((*block)->data()); !encoded.ok()) {
    return FailedHandle(std::move(encoded));
  }
  const DataID id = DataID::Generate();
  // A fresh id cannot collide.
  store_->PutReady(id, StoredBytes(*std::move(block), value.size)).IgnoreError();
  return RefHandle{id, RefToken::ForObject(id, *store_anchor_)};
}

absl::StatusOr<WritableObject> Runtime::Allocate(size_t size, size_t aligned_at) {
  if (arena_ == nullptr || size < shared_memory_min_bytes_) {
    return DriverSideClient().Client::Allocate(size, aligned_at);
  }
  absl::StatusOr<std::shared_ptr<SharedArena::Block>> block = AllocateInStore(size, aligned_at);
  if (!block.ok()) return block.status();
  WritableObject object;
  object.data = (*block)->data();
  object.size = size;
  object.space = *std::move(block);
  object.in_store = true;
  return object;
}

RefHandle Runtime::Seal(WritableObject object) {
  if (!object.in_store) return DriverSideClient().Client::Seal(std::move(object));
  auto block = std::static_pointer_cast<SharedArena::Block>(std::move(object.space));
  if (block->arena() != arena_.get()) {
    // Space from an earlier session's store: this session's tasks cannot read it there.
    return Put(std::string(object.data, object.size));
  }
  const DataID id = DataID::Generate();
  // A fresh id cannot collide.
  store_->PutReady(id, StoredBytes(std::move(block), object.size)).IgnoreError();
  return RefHandle{id, RefToken::ForObject(id, *store_anchor_)};
}

std::shared_ptr<PendingTask> Runtime::NewTask(const std::string& function, int num_returns,
                                              std::vector<RefHandle>* results) {
  auto task = std::make_shared<PendingTask>();
  task->task_id = next_task_id_.fetch_add(1, std::memory_order_relaxed);
  tasks_waiting_.fetch_add(1, std::memory_order_relaxed);
  task->result_ids.reserve(static_cast<size_t>(std::max(num_returns, 0)));
  task->request->mutable_result_ids()->Reserve(2 * std::max(num_returns, 0));
  for (int i = 0; i < num_returns; ++i) {
    const DataID id = DataID::Generate();
    task->result_ids.push_back(id);
    AddResultId(id, task->request);
  }
  store_->CreatePendingAll(task->result_ids).IgnoreError();  // fresh ids cannot collide
  RefToken::ForTaskResults(task->result_ids, *store_anchor_, task,
                           [results](std::shared_ptr<const RefToken> token) {
                             const DataID id = token->id();
                             results->push_back(RefHandle{id, std::move(token)});
                           });
  task->request->set_function(function);
  if (arena_ != nullptr) task->request->set_store_results_from(shared_memory_min_bytes_);
  if (TimelineRecording()) task->stamps.Submitted(function);
  return task;
}

absl::StatusOr<std::shared_ptr<SharedArena::Block>> Runtime::AllocateInStore(size_t size,
                                                                             size_t aligned_at) {
  absl::StatusOr<std::shared_ptr<SharedArena::Block>> block = arena_->Allocate(size, aligned_at);
  if (block.ok() || !absl::IsResourceExhausted(block.status()) || size > arena_->file_size()) {
    return block;
  }
  absl::MutexLock lock(&spill_mu_);
  // First what costs nothing: the store copies of heap objects kept for later tasks.
  if (store_->DropUnsharedAttachments() > 0) {
    block = arena_->Allocate(size, aligned_at);
    if (block.ok()) return block;
  }
  // Then objects that nobody reads at the moment (no task in flight takes them, no view of
  // them exists), to files, a few at a time until the space is there.
  constexpr size_t kBatch = 8;
  for (;;) {
    std::vector<std::pair<DataID, ObjectStore::Value>> unread =
        store_->UnsharedValuesIn(arena_.get(), kBatch);
    if (unread.empty()) break;
    for (auto& [id, value] : unread) {
      absl::StatusOr<std::shared_ptr<const ObjectBytes>> spilled =
          SpillToFile(spill_directory_, value->view(), spilled_);
      if (!spilled.ok()) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "the shared-memory store has no room for ", size,
            " bytes (see Options::object_store_memory), and spilling to ", spill_directory_,
            " failed (see Options::spill_directory): ", spilled.status().message()));
      }
      store_->ReplaceIfUnshared(id, value, *std::move(spilled));
      value.reset();  // frees its space in the store, if it was replaced
    }
    block = arena_->Allocate(size, aligned_at);
    if (block.ok()) return block;
  }
  return absl::ResourceExhaustedError(
      absl::StrCat(block.status().message(),
                   "; every object in it is in use (read by a task in "
                   "flight or viewed), so none could be spilled"));
}

std::shared_ptr<const ObjectBytes> Runtime::StoredCopyOf(ObjectStore& store, const DataID& id,
                                                         const ObjectBytes& heap) {
  if (std::shared_ptr<const void> kept = store.Attachment(id); kept != nullptr) {
    auto copy = std::static_pointer_cast<const ObjectBytes>(kept);
    if (copy->store() == arena_.get()) return copy;
  }
  // Copied outside the store's lock: a large value takes a while. Two tasks that start at
  // once may both copy it; the store keeps the first, and the other is freed when its task
  // is done. The elements of a vector of numbers are placed on an aligned address, as Put
  // places them.
  absl::StatusOr<std::shared_ptr<SharedArena::Block>> block =
      AllocateInStore(heap.size(), ElementsOffsetOf(heap.view()));
  if (!block.ok()) {
    LOG_FIRST_N(WARNING, 1) << "unidist: sending a large value through the socket: "
                            << block.status();
    return nullptr;
  }
  std::memcpy((*block)->data(), heap.data(), heap.size());
  std::shared_ptr<const ObjectBytes> copy = StoredBytes(*std::move(block), heap.size());
  std::shared_ptr<const void> kept = store.AttachIfAbsent(id, copy);
  if (kept == nullptr) return copy;
  auto earlier = std::static_pointer_cast<const ObjectBytes>(kept);
  // A copy made for an earlier session (an object passed from one session to the next)
  // is in a store this session's workers cannot read: use this one, unkept.
  return earlier->store() == arena_.get() ? earlier : copy;
}

void Runtime::ResolveArguments(const std::shared_ptr<PendingTask>& task,
                               std::vector<TaskArg> args) {
  // Slots for the values of ObjectRef arguments and what they keep, only if there are
  // any (only those fill them: see BuildPayloads): most tasks take values alone, and
  // every allocation counts on the per-task path.
  if (std::any_of(args.begin(), args.end(), [](const TaskArg& arg) { return arg.is_ref; })) {
    task->segments.resize(args.size());
    task->completed_arguments.resize(args.size());
  }
  // Grown once, not doubling its way up to a Map chunk's thousands.
  task->request->mutable_args()->Reserve(static_cast<int>(args.size()));
  for (size_t i = 0; i < args.size(); ++i) {
    task->request->add_args();
    // Handles in its values: kept with the task, for its worker to take hold of.
    if (args[i].held != nullptr) {
      RememberRefs(args[i].held->refs);
      if (task->held == nullptr) task->held = std::make_unique<EncodedHandles>();
      task->held->Append(std::move(*args[i].held));
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    proto::TaskArgument* arg = task->request->mutable_args(static_cast<int>(i));
    if (!args[i].is_ref) {
      *arg->mutable_value() = std::move(args[i].value);
      continue;
    }
    const RefHandle& ref = args[i].ref;
    arg->set_object_id(ref.id.Binary());
    if (ref.token == nullptr) {
      FailTask(task, absl::InvalidArgumentError(absl::StrCat("argument ", i + 1, " of '",
                                                             task->request->function(),
                                                             "' is an empty ObjectRef")));
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
    ref.token->store()->OnComplete(ref.id, [this, task, arg, i, token = ref.token](
                                               const absl::StatusOr<ObjectStore::Value>& value) {
      if (value.ok() && *value == nullptr) {
        // Kept by the pool outside the driver: the pool fills it in on the task's way.
        if (std::optional<RemoteLocation> where = token->store()->Location(token->id())) {
          proto::ObjectLocation* location = arg->mutable_location();
          location->set_object_id(token->id().Binary());
          location->set_holder(where->holder);
          location->set_size(where->size);
          task->segments[i] = token;
        } else {
          FailTask(task, absl::NotFoundError(absl::StrCat("object ", token->id().Hex(),
                                                          " is gone from the store")));
        }
      } else if (value.ok()) {
        task->completed_arguments[i] = {*value, token};  // no copy here: see BuildPayloads
      } else {
        FailTask(task, value.status());
      }
      OnArgumentComplete(task);
    });
  }
  OnArgumentComplete(task);  // releases the submitter's own hold
}

std::vector<RefHandle> Runtime::Submit(const std::string& function, std::vector<TaskArg> args,
                                       int num_returns, int max_retries) {
  std::vector<RefHandle> results;
  std::shared_ptr<PendingTask> task = NewTask(function, num_returns, &results);
  task->max_retries = std::max(0, max_retries);
  ResolveArguments(task, std::move(args));
  return results;
}

void Runtime::Map(const std::string& function, const MapInputs& inputs, size_t chunk_size,
                  int max_retries, MapHandleSink take) {
  // Python's Pool.map heuristic: about four chunks per worker, so that a slow chunk
  // still leaves the others work to share. A chunk also ends at kMapChunkBytes of
  // inputs, which keeps its frame far from the message limit and lets workers start on
  // the first chunks while the driver frames the next.
  constexpr size_t kMapChunkBytes = size_t{4} << 20;
  const size_t workers = static_cast<size_t>(std::max(1, pool_->num_workers()));
  if (chunk_size == 0)
    chunk_size = std::max<size_t>(1, (inputs.size() + 4 * workers - 1) / (4 * workers));
  std::vector<RefHandle> results;  // one chunk's, each handed on before the next chunk's
  results.reserve(std::min(chunk_size, inputs.size()));
  for (size_t begin = 0; begin < inputs.size();) {
    const size_t first_byte = inputs.begin(begin);
    size_t end = begin + 1;
    while (end < inputs.size() && end - begin < chunk_size &&
           inputs.ends[end] - first_byte <= kMapChunkBytes) {
      ++end;
    }
    results.clear();
    std::shared_ptr<PendingTask> task = NewTask(function, static_cast<int>(end - begin), &results);
    task->max_retries = std::max(0, max_retries);
    // The chunk's slice of the packed inputs, as it is; its ends counted from the slice.
    proto::TaskRequest& request = *task->request;
    request.set_map_chunk(true);
    request.set_map_inputs(inputs.bytes.data() + first_byte, inputs.ends[end - 1] - first_byte);
    PackedEnds& ends = *request.mutable_map_input_ends();
    ends.Reserve(static_cast<int>(end - begin));
    for (size_t i = begin; i < end; ++i) ends.AddAlreadyReserved(inputs.ends[i] - first_byte);
    ResolveArguments(task, /*args=*/{});
    for (RefHandle& handle : results) take(std::move(handle));
    begin = end;
  }
}

void Runtime::OnArgumentComplete(const std::shared_ptr<PendingTask>& task) {
  if (task->waiting.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  tasks_waiting_.fetch_sub(1, std::memory_order_relaxed);
  if (task->actor != nullptr) {
    PumpActor(*task->actor);  // actor calls go out in submission order
    return;
  }
  if (task->failed.load(std::memory_order_acquire)) return;
  Dispatch(task);
}

void Runtime::FailTask(const std::shared_ptr<PendingTask>& task, const absl::Status& error) {
  if (task->failed.exchange(true, std::memory_order_acq_rel)) return;
  FailResults(*task, error);
}

void Runtime::FailResults(const PendingTask& task, const absl::Status& error) {
  for (const DataID& id : task.result_ids) store_->Fail(id, error);
}

void Runtime::Dispatch(const std::shared_ptr<PendingTask>& task) {
  absl::Status dispatched = SendTask(task, /*target=*/nullptr);
  if (!dispatched.ok()) FailTask(task, dispatched);
}

absl::Status Runtime::SendTask(const std::shared_ptr<PendingTask>& task, const WorkerId* target) {
  int queued = PendingTask::kQueued;
  if (task->failed.load(std::memory_order_acquire) ||
      !task->stage.compare_exchange_strong(queued, PendingTask::kSending,
                                           std::memory_order_acq_rel)) {
    return absl::OkStatus();  // failed or cancelled meanwhile: its results say so
  }
  BuildPayloads(*task);
  if (task->stamps.submit_ns != 0) task->stamps.Dispatched(task->request);
  Dispatched record;
  record.task = task;
  record.result_ids = task->result_ids;
  // An actor's call runs again only on its restarted actor (TakeActorCallOutcome).
  record.retries_left = task->max_retries;
  if (record.retries_left > 0) {
    record.request = std::make_unique<proto::TaskRequest>(*task->request);
  }
  if (task->actor != nullptr) {
    ActorRecord& actor = *task->actor;
    absl::MutexLock lock(&actor.mu);
    ++actor.in_flight;
    if (task->actor_constructor && actor.max_concurrency > 1) {
      task->request->set_actor_max_concurrency(static_cast<uint32_t>(actor.max_concurrency));
    }
    if (task->actor_constructor && actor.restarts_left != 0) {
      // Kept to construct a restarted actor: the request, and what its payload needs.
      actor.constructor_request = std::make_unique<proto::TaskRequest>(*task->request);
      actor.constructor_keep.assign(task->segments.begin(), task->segments.end());
      if (task->held != nullptr) {
        actor.constructor_keep.insert(actor.constructor_keep.end(), task->held->actors.begin(),
                                      task->held->actors.end());
        for (const RefHandle& ref : task->held->refs) actor.constructor_keep.push_back(ref.token);
      }
    }
  }
  absl::Status sent = DispatchRequest(std::move(record), task->request, target);
  task->ReleaseRequest();  // the pool has what it needs of it (a retry sends record.request)
  task->stage.store(PendingTask::kSent, std::memory_order_release);
  if (!sent.ok() && task->actor != nullptr) {
    absl::MutexLock lock(&task->actor->mu);
    --task->actor->in_flight;
  }
  return sent;
}

void Runtime::BuildPayloads(PendingTask& task) {
  for (size_t i = 0; i < task.completed_arguments.size(); ++i) {
    // Moved out: the value and its token go once the payload is built.
    auto [value, token] = std::move(task.completed_arguments[i]);
    if (value == nullptr) continue;
    proto::TaskArgument* arg = task.request->mutable_args(static_cast<int>(i));
    std::shared_ptr<const ObjectBytes> stored;
    if (arena_ != nullptr && value->size() >= shared_memory_min_bytes_) {
      stored = value->store() == arena_.get() ? value
                                              : StoredCopyOf(*token->store(), token->id(), *value);
    }
    if (stored != nullptr) {
      const ArenaRef& where = arena_->ref();
      proto::SharedValue* shared = arg->mutable_shared();
      shared->set_pid(static_cast<uint32_t>(where.pid));
      shared->set_fd(where.fd);
      shared->set_inode(where.inode);
      shared->set_file_size(where.size);
      shared->set_offset(stored->store_offset());
      shared->set_size(stored->size());
      task.segments[i] = std::move(stored);  // its space stays while the task runs
    } else {
      arg->set_value(value->data(), value->size());
    }
  }
}

absl::Status Runtime::DispatchRequest(Dispatched record, proto::TaskRequest* request,
                                      const WorkerId* target) {
  const uint64_t task_id = record.task->task_id;
  {
    absl::MutexLock lock(&mu_);
    record.attempt = record.task->attempts.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (target != nullptr) record.target = *target;
    dispatched_[task_id] = std::move(record);
  }
  request->set_task_id(task_id);
  if (target != nullptr) request->set_actor_key(ActorKey(*target));
  absl::Status dispatched =
      target != nullptr ? pool_->DispatchTo(*target, *request) : pool_->Dispatch(*request);
  if (dispatched.ok()) return absl::OkStatus();
  {
    absl::MutexLock lock(&mu_);
    dispatched_.erase(task_id);
    ShrinkIfSparse(dispatched_);
  }
  if (dispatched.code() == absl::StatusCode::kFailedPrecondition && pool_->stopping()) {
    return absl::CancelledError("unidist was shut down before the task could run");
  }
  return dispatched;
}

namespace {
// How long Cancel waits for the pool to report a task it has let go of: the report is
// already on its way, so this only turns a broken pool's silence into an error.
constexpr absl::Duration kReportTimeout = absl::Seconds(30);
}  // namespace

absl::Status Runtime::Cancel(const RefToken& token, bool force) {
  std::shared_ptr<PendingTask> task = token.task().lock();
  const bool complete = token.store() != nullptr && token.store()->IsComplete(token.id());
  if (task == nullptr || complete) {
    if (complete || token.is_task_result()) {
      return absl::FailedPreconditionError("the task has finished already");
    }
    return absl::InvalidArgumentError("the ObjectRef is not the result of a task");
  }
  int queued = PendingTask::kQueued;
  if (task->stage.compare_exchange_strong(queued, PendingTask::kDropped,
                                          std::memory_order_acq_rel)) {
    // Not sent anywhere yet, and now it never will be.
    if (task->failed.exchange(true, std::memory_order_acq_rel)) {
      return absl::FailedPreconditionError("the task has failed or been cancelled already");
    }
    FailResults(*task, absl::CancelledError("the task was cancelled before it started"));
    if (task->actor != nullptr) PumpActor(*task->actor);
    return absl::OkStatus();
  }
  for (;;) {
    // Being handed to the pool right now: a non-blocking step, so wait it out.
    while (task->stage.load(std::memory_order_acquire) == PendingTask::kSending) {
      absl::SleepFor(absl::Microseconds(20));
    }
    const uint32_t attempt = task->attempts.load(std::memory_order_acquire);
    absl::Status cancelled = pool_->Cancel(task->task_id, force);
    if (cancelled.code() != absl::StatusCode::kNotFound) return cancelled;
    // The pool has let go of the task: its outcome is on its way to OnResult, which either
    // completes the results or, for a worker that died with retries left, hands the task
    // to the pool again. Which one decides the answer, so wait until OnResult has taken
    // this attempt's record (it has been reported; never long).
    bool retrying = false;
    {
      absl::MutexLock lock(&mu_);
      struct Taken {
        Runtime* runtime;
        uint64_t task_id;
        uint32_t attempt;
        static bool Check(Taken* taken) ABSL_NO_THREAD_SAFETY_ANALYSIS {
          auto it = taken->runtime->dispatched_.find(taken->task_id);
          return it == taken->runtime->dispatched_.end() || it->second.attempt != taken->attempt;
        }
      } taken{this, task->task_id, attempt};
      if (!mu_.AwaitWithTimeout(absl::Condition(&Taken::Check, &taken), kReportTimeout)) {
        return absl::InternalError(absl::StrCat("the worker pool let go of task ", task->task_id,
                                                " without reporting it"));
      }
      retrying = task->stage.load(std::memory_order_acquire) == PendingTask::kSending ||
                 task->attempts.load(std::memory_order_acquire) != attempt;
    }
    if (!retrying) return absl::FailedPreconditionError("the task has finished already");
    // Its retry: cancel that one.
  }
}

void Runtime::OnResult(proto::TaskResult& result) {
  Dispatched record;
  std::vector<std::shared_ptr<SharedArena::Block>> blocks;  // the run's space in the store
  {
    absl::MutexLock lock(&mu_);
    auto it = dispatched_.find(result.task_id());
    if (it == dispatched_.end()) return;  // not ours: the pool only reports tasks we sent
    record = std::move(it->second);
    dispatched_.erase(it);
    ShrinkIfSparse(dispatched_);
    // Space taken for this run's results: the value keeps its own below; the rest (a run
    // that died or failed) is freed with `blocks`.
    if (!result_blocks_.empty()) {
      if (auto taken = result_blocks_.extract(result.task_id()); !taken.empty()) {
        blocks = std::move(taken.mapped());
      }
    }
    if (result.error().worker_died() && record.retries_left > 0 && record.task->actor == nullptr) {
      ++tasks_retried_;
      // In the same step as taking the record, so that a Cancel waiting for it sees that
      // the task is on its way to the pool again, not finished.
      record.task->stage.store(PendingTask::kSending, std::memory_order_release);
    }
  }
  if (const PendingTask& task = *record.task; task.stamps.submit_ns != 0) {
    RecordTaskOutcome(timeline_run_, task.stamps, task.actor ? task.actor->class_name : "", result);
  }
  if (record.task->actor != nullptr && TakeActorCallOutcome(record, result)) return;
  if (result.error().worker_died() && record.retries_left > 0) {
    --record.retries_left;
    record.deaths.push_back(result.error().message());
    proto::TaskRequest request = *record.request;
    std::vector<DataID> ids = record.result_ids;
    std::shared_ptr<PendingTask> task = record.task;
    // Between the pool's report and the new dispatch (kSending, set above), Cancel waits.
    if (task->stamps.submit_ns != 0) task->stamps.dispatch_ns = MonotonicNanos();
    const absl::Status retried = DispatchRequest(std::move(record), &request);
    task->stage.store(PendingTask::kSent, std::memory_order_release);
    if (!retried.ok()) {
      for (const DataID& id : ids) store_->Fail(id, retried);
    }
    return;
  }
  // The task is done with its arguments' shared-memory copies: let them go before its
  // results wake anyone, so that space whose object is gone is free by then. The same
  // for space taken for results that are not coming (a failed run).
  record.task->segments.clear();
  if (result.has_error() || result.stored_values_size() == 0) blocks.clear();
  const std::vector<DataID>& ids = record.result_ids;
  // A map chunk's values come packed (common/map_chunk.h), unless the pool took them apart.
  std::optional<std::vector<absl::string_view>> packed;
  absl::Status malformed;
  if (!result.has_error() && !result.map_value_ends().empty()) {
    absl::StatusOr<std::vector<absl::string_view>> views =
        UnpackedViews(result.map_values(), result.map_value_ends());
    if (views.ok()) {
      packed = *std::move(views);
    } else {
      malformed = views.status();
    }
  }
  const size_t value_count =
      packed.has_value() ? packed->size() : static_cast<size_t>(result.values_size());
  if (result.has_error() || !malformed.ok() || value_count != ids.size()) {
    absl::Status error;
    if (result.has_error()) {
      proto::TaskError task_error = result.error();
      if (task_error.worker_died() && !record.deaths.empty()) {
        // Every run killed its worker (Dask's KilledWorker): say so, with each death.
        std::string history = absl::StrCat(task_error.message(), "; all ", record.deaths.size() + 1,
                                           " runs of the task ended with their worker's death:");
        for (size_t i = 0; i < record.deaths.size(); ++i) {
          absl::StrAppend(&history, " (", i + 1, ") ", record.deaths[i], ";");
        }
        absl::StrAppend(&history, " (", record.deaths.size() + 1, ") ", task_error.message());
        task_error.set_message(std::move(history));
      }
      error = TaskErrorToStatus(task_error);
      proto::TaskError where = task_error;
      where.clear_payloads();
      error.SetPayload(kTaskFailurePayloadUrl, absl::Cord(where.SerializeAsString()));
    } else if (!malformed.ok()) {
      error = absl::DataLossError(
          absl::StrCat("the values of a map chunk came back unreadable: ", malformed.message()));
    } else {
      error = absl::InternalError(
          absl::StrCat("the task returned ", value_count, " values for ", ids.size(), " results"));
    }
    for (const DataID& id : ids) store_->Fail(id, error);
    return;
  }
  std::string scratch;  // a packed value's bytes, for the store to take
  auto value_at = [&result, &packed, &scratch](size_t i) {
    if (!packed.has_value()) return result.mutable_values(static_cast<int>(i));
    scratch.assign((*packed)[i].data(), (*packed)[i].size());
    return &scratch;
  };
  if (result.element_errors_size() > 0) {  // a map chunk with some failed calls
    std::vector<bool> failed(ids.size(), false);
    for (const proto::ElementError& element : result.element_errors()) {
      if (element.index() >= ids.size()) continue;  // bytes from a worker: not trusted
      failed[element.index()] = true;
      absl::Status error = TaskErrorToStatus(element.error());
      proto::TaskError where = element.error();
      where.clear_payloads();
      error.SetPayload(kTaskFailurePayloadUrl, absl::Cord(where.SerializeAsString()));
      store_->Fail(ids[element.index()], error);
    }
    for (const proto::KeptValue& kept : result.kept_values()) {
      if (kept.index() >= ids.size() || failed[kept.index()]) continue;
      SealKept(ids[kept.index()], kept);
    }
    store_->SealEach(ids,
                     [&value_at, &failed](size_t i) { return failed[i] ? nullptr : value_at(i); });
    return;
  }
  for (const proto::KeptValue& kept : result.kept_values()) {
    if (kept.index() >= ids.size()) continue;  // bytes from a worker: not trusted
    SealKept(ids[kept.index()], kept);
  }
  for (const proto::StoredValue& stored : result.stored_values()) {
    if (stored.index() >= ids.size()) continue;  // bytes from a worker: not trusted
    SealStored(ids[stored.index()], TakeBlockAt(stored.offset(), &blocks), stored);
  }
  store_->SealEach(ids, value_at);
}

absl::StatusOr<uint64_t> Runtime::AllocateResult(const proto::AllocateRequest& request) {
  if (arena_ == nullptr) {
    return absl::FailedPreconditionError("this session has no shared-memory store");
  }
  // A result's space names the result (checked below); space a task fills in itself
  // (unidist::Allocate inside it) names none.
  std::optional<DataID> id;
  if (!request.result_id().empty()) {
    absl::StatusOr<DataID> result_id = DataID::FromBinary(request.result_id());
    if (!result_id.ok()) return result_id.status();
    id = *result_id;
  }
  absl::StatusOr<std::shared_ptr<SharedArena::Block>> block =
      AllocateInStore(request.size(), request.aligned_at());
  if (!block.ok()) return block.status();
  const uint64_t offset = (*block)->offset();
  absl::MutexLock lock(&mu_);
  // Only for a task in flight (checked under the lock OnResult takes the space under, so
  // that space given after the task's outcome was taken cannot stay behind).
  auto task = dispatched_.find(request.task_id());
  if (task == dispatched_.end()) {
    return absl::NotFoundError(absl::StrCat("task ", request.task_id(), " is not in flight"));
  }
  if (id.has_value() && std::find(task->second.result_ids.begin(), task->second.result_ids.end(),
                                  *id) == task->second.result_ids.end()) {
    return absl::NotFoundError(
        absl::StrCat("object ", id->Hex(), " is not a result of task ", request.task_id()));
  }
  result_blocks_[request.task_id()].push_back(*std::move(block));
  return offset;
}

void Runtime::SealStored(const DataID& id, std::shared_ptr<SharedArena::Block> block,
                         const proto::StoredValue& stored) {
  if (block == nullptr || stored.offset() != block->offset() || stored.size() > block->size()) {
    store_->Fail(
        id, absl::DataLossError(absl::StrCat("the worker reported result ", id.Hex(),
                                             " outside the shared-memory space it was given")));
    return;
  }
  store_->Seal(id, StoredBytes(std::move(block), stored.size()));
}

void Runtime::SealKept(const DataID& id, const proto::KeptValue& kept) {
  if (store_->SealRemote(id, RemoteLocation{kept.holder(), static_cast<size_t>(kept.size())})) {
    return;
  }
  // Nobody holds the object any more (or it failed meanwhile): its rank may drop it now.
  pool_->ReleaseObject(id, kept.holder());
}

Stats Runtime::GetStats() {
  Stats stats;
  stats.live_objects = store_->size();
  stats.bytes_held = store_->bytes_held();
  if (arena_ != nullptr) {
    stats.object_store_capacity = arena_->file_size();
    stats.object_store_bytes = arena_->bytes_in_use();
    stats.object_store_objects = arena_->blocks();
  }
  stats.spilled_bytes = spilled_->bytes.load(std::memory_order_relaxed);
  stats.spilled_objects = spilled_->objects.load(std::memory_order_relaxed);
  stats.tasks_waiting = tasks_waiting_.load(std::memory_order_relaxed);
  stats.workers_replaced = pool_->workers_replaced();
  absl::MutexLock lock(&mu_);
  stats.tasks_in_flight = dispatched_.size();
  stats.tasks_retried = tasks_retried_;
  return stats;
}

void Runtime::Shutdown() {
  {
    absl::MutexLock lock(&restart_threads_mu_);
    restarts_stopped_ = true;  // no restart starts from here on
  }
  if (pool_ != nullptr) pool_->Shutdown();  // reports every dispatched task as Cancelled
  // Restarts under way end now that the pool refuses them (their actors fail).
  std::vector<std::thread> restarting;
  {
    absl::MutexLock lock(&restart_threads_mu_);
    restarting.swap(restart_threads_);
  }
  for (std::thread& thread : restarting) thread.join();
  // The objects kept by the pool's workers are gone with its session; the store's hooks
  // must not call the pool any more (the store may outlive it). Errors still name where
  // an object was.
  store_->SetRemoteHooks(RemoteHooks{nullptr, nullptr, describe_holder_});
  // No worker is left to read the shared-memory copies; the values stay in the store.
  // Objects in the shared-memory store keep their space (and the store's file, in this
  // process only) until their last reference goes.
  store_->ClearAttachments();
  // The actor handles kept for workers, with objects and for detached actors keep this
  // runtime: they go now, as the actors have.
  if (api_server_ != nullptr) api_server_->ReleaseActors();
  store_->ClearPins();
  absl::flat_hash_map<uint64_t, std::shared_ptr<ActorHandle>> detached;  // after the lock
  {
    absl::MutexLock lock(&actor_table_mu_);
    detached.swap(detached_actors_);
    actor_names_.clear();
  }
  // Tasks still waiting for arguments, and anything else pending, fail too.
  store_->FailAllPending(absl::CancelledError("unidist was shut down before the object was ready"));
}

}  // namespace unidist::api_internal
