// Copyright 2026 The unidist-cpp Authors.
//
// RefToken: what the copies of one ObjectRef (RefHandle, bridge.h) share. The last copy to
// go releases the object: it erases it from the driver's store or, inside a task, tells
// the driver that the task no longer needs it.
//
// A program holds one token per object it holds, so the token's size is the driver's cost
// per object, beside the store's entry. A token of a Put object is 24 bytes (40 with its
// shared_ptr's control block: a 48-byte heap block); a task result's adds its task's
// weak_ptr, a failed object's its error, in a subclass made only for those. The tokens
// of a task with several results (a Map chunk's) add a pointer to the block they share
// (ForTaskResults): 56 bytes each with the control block and its allocator.

#ifndef UNIDIST_API_INTERNAL_REF_TOKEN_H_
#define UNIDIST_API_INTERNAL_REF_TOKEN_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "object_store/object_store.h"
#include "unidist/common/data_id.h"

namespace unidist::api_internal {

struct PendingTask;  // a submitted task on its way to a worker; see pending_task.h

// Keeps a session's store alive while tokens of its objects remain (an ObjectRef may
// outlive the session). Counted by hand, so that a token holds a plain pointer to it (8
// bytes, where a shared_ptr to the store would take 16). Created with one reference,
// which its creator drops with Unref.
class StoreAnchor {
 public:
  static StoreAnchor* Create(std::shared_ptr<ObjectStore> store) {
    return new StoreAnchor(std::move(store));
  }
  StoreAnchor(const StoreAnchor&) = delete;
  StoreAnchor& operator=(const StoreAnchor&) = delete;

  ObjectStore* store() const { return store_.get(); }
  void Ref() const { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() const {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  explicit StoreAnchor(std::shared_ptr<ObjectStore> store) : store_(std::move(store)) {}
  ~StoreAnchor() = default;

  const std::shared_ptr<ObjectStore> store_;
  mutable std::atomic<int64_t> refs_{1};
};

// Owns one object: erases it from its store when the last ObjectRef copy (and the last
// pending task that needs it) lets go. A token without a store stands for an object that
// never reached one; `error` says why. Inside a task, a token "held by the driver" stands
// for an object the driver holds for this task (api_server.h); its end tells the driver.
//
// Made only by the factories below, and owned only through the shared_ptr they return
// (whose control block destroys the subclass a task result's or a failed object's token
// is).
class RefToken {
 public:
  // An object in `anchor`'s store (a Put).
  static std::shared_ptr<const RefToken> ForObject(DataID id, const StoreAnchor& anchor);
  // The result of `task`, in `anchor`'s store (Cancel finds the task through it).
  static std::shared_ptr<const RefToken> ForTaskResult(DataID id, const StoreAnchor& anchor,
                                                       std::weak_ptr<PendingTask> task);
  // The results of one task, handed to `sink` in the order of `ids`: as ForTaskResult
  // each, with every
  // token (and its shared_ptr's control block) carved from one heap block, which goes
  // when the last of them does. Each token still lets go of its own object when its last
  // copy goes. For a Map chunk's thousands of results: one allocation instead of one a
  // result (malloc and free were ~13% of a Map's driver thread), tokens side by side,
  // and the task and the hold on the store kept once, by the block. A single result gets
  // ForTaskResult's token (a block would cost two allocations where it costs one).
  static void ForTaskResults(absl::Span<const DataID> ids, const StoreAnchor& anchor,
                             const std::weak_ptr<PendingTask>& task,
                             absl::FunctionRef<void(std::shared_ptr<const RefToken>)> sink);
  // An object that never reached a store, because of `error`.
  static std::shared_ptr<const RefToken> ForError(DataID id, absl::Status error);
  // In a worker process: an object the driver holds for this worker (nested tasks).
  static std::shared_ptr<const RefToken> HeldByDriver(DataID id);

  RefToken(const RefToken&) = delete;
  RefToken& operator=(const RefToken&) = delete;

  const DataID& id() const { return id_; }
  ObjectStore* store() const {
    const StoreAnchor* anchor = this->anchor();
    return anchor != nullptr ? anchor->store() : nullptr;
  }
  // OK unless the object never reached a store.
  absl::Status error() const;
  // The task whose result it is; empty for other objects.
  std::weak_ptr<PendingTask> task() const;
  bool is_task_result() const { return kind() == kTaskResult || kind() == kTaskResultInBlock; }
  bool held_by_driver() const { return kind() == kHeldByDriver; }

 protected:
  // What a token is, in the low bits of its anchor's address (aligned to 8).
  enum Kind : uintptr_t {
    kObject = 0,
    kTaskResult = 1,
    kError = 2,
    kHeldByDriver = 3,
    kTaskResultInBlock = 4,  // a task result's, made with the others (ForTaskResults)
  };
  static constexpr uintptr_t kKindMask = 7;

  RefToken(DataID id, const StoreAnchor* anchor, Kind kind);
  ~RefToken();  // not virtual: only a shared_ptr's control block destroys a token

 private:
  const StoreAnchor* anchor() const {
    return reinterpret_cast<const StoreAnchor*>(anchor_and_kind_ & ~kKindMask);
  }
  Kind kind() const { return static_cast<Kind>(anchor_and_kind_ & kKindMask); }

  const DataID id_;
  const uintptr_t anchor_and_kind_;  // a StoreAnchor* (holding one reference) | Kind
};

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_REF_TOKEN_H_
