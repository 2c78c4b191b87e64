// Copyright 2026 The unidist-cpp Authors.
//
// PendingTask: a task the driver's scheduler (runtime.h) has accepted and not yet handed
// to the pool for good: its request, filled in as its ObjectRef arguments complete, and
// where it stands. Shared by the scheduler's files (runtime.cc, actors.cc).

#ifndef UNIDIST_API_INTERNAL_PENDING_TASK_H_
#define UNIDIST_API_INTERNAL_PENDING_TASK_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/internal/timeline.h"
#include "common/worker_protocol.pb.h"
#include "google/protobuf/arena.h"
#include "unidist/common/data_id.h"
#include "unidist/common/object_bytes.h"
#include "unidist/internal/bridge.h"

namespace unidist::api_internal {

class ActorHandle;
struct ActorRecord;
class RefToken;

// A submitted task on its way to the pool: its request, filled in as its ObjectRef
// arguments complete.
struct PendingTask {
  // The request's arena starts with a block enough for a task of a few small arguments.
  static google::protobuf::ArenaOptions RequestArenaOptions() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 512;
    return options;
  }
  // Where the task is. SendTask and Cancel race for the move out of kQueued with a
  // compare-and-swap, so a task is either sent or dropped, never both. (An atomic rather
  // than a mutex: every task pays for this.)
  enum Stage : int { kQueued, kSending, kSent, kDropped };
  std::atomic<int> stage{kQueued};
  uint64_t task_id = 0;  // the pool's id for it, fixed at creation (retries keep it)
  // How many times it has been handed to the pool (a retry hands it again, under the
  // same task id); written under the runtime's lock.
  std::atomic<uint32_t> attempts{0};
  // The request, in an arena of the task's own: building it takes one block (rather than
  // an allocation per message, repeated field and string), and the whole of it goes at
  // once, with ReleaseRequest once the pool has what it needs (WorkerPool::Dispatch copies
  // what it keeps). Null after that. ReleaseRequest destroys the arena rather than
  // Reset it: an arena with options re-allocates a first block on Reset (protobuf 3.21),
  // which was one more malloc a task, held until the task went (on another thread).
  std::optional<google::protobuf::Arena> request_arena{std::in_place, RequestArenaOptions()};
  proto::TaskRequest* request =
      google::protobuf::Arena::CreateMessage<proto::TaskRequest>(&*request_arena);
  void ReleaseRequest() {
    request = nullptr;
    request_arena.reset();
  }
  std::vector<DataID> result_ids;
  int max_retries = 0;
  // For an actor call: the actor, whose queue holds the task until it is sent.
  std::shared_ptr<ActorRecord> actor;
  bool actor_constructor = false;  // the call is the actor's constructor
  // Arguments not yet complete, plus one held by Submit until it has registered them all.
  std::atomic<int> waiting{1};
  std::atomic<bool> failed{false};
  // What its arguments need kept until the result is back, by position (null for the
  // others): the shared-memory segment of a large value (the worker opens it through the
  // driver's descriptor), or the reference to an object sent as its location (kept by the
  // pool outside the driver), so that the object stays until the pool has filled it in.
  // Each argument callback writes only its own slot. Empty when no argument is an
  // ObjectRef (only those keep anything).
  std::vector<std::shared_ptr<const void>> segments;
  // The values of its ObjectRef arguments, by position (empty if it has none), from their
  // completion until the task is sent: the request's payload is built then
  // (Runtime::BuildPayloads), not in the store's callbacks, which may run on the pool's
  // event thread; a task that fails or is cancelled before it is sent never copies them.
  // With each, the token of its object (for the shared-memory copy kept with the object).
  struct CompletedArgument {
    std::shared_ptr<const ObjectBytes> value;
    std::shared_ptr<const RefToken> token;
  };
  std::vector<CompletedArgument> completed_arguments;
  // The handles (actors, ObjectRefs) its argument values encode, kept until its result is
  // back (the worker holds them itself from when it decodes them); null for none.
  std::unique_ptr<EncodedHandles> held;
  TaskStamps stamps;  // for the timeline; see timeline.h
};

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_PENDING_TASK_H_
