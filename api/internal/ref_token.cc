// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/ref_token.h"

#include <utility>

#include "common/worker_protocol.pb.h"
#include "process_manager/driver_channel.h"

namespace unidist::api_internal {
namespace {

// A task result's token: the task, for Cancel.
class TaskResultToken final : public RefToken {
 public:
  TaskResultToken(DataID id, const StoreAnchor& anchor, std::weak_ptr<PendingTask> task)
      : RefToken(id, &anchor, kTaskResult), task_(std::move(task)) {}
  const std::weak_ptr<PendingTask>& task() const { return task_; }

 private:
  const std::weak_ptr<PendingTask> task_;
};

// A failed object's token: why it never reached a store.
class ErrorToken final : public RefToken {
 public:
  ErrorToken(DataID id, absl::Status error)
      : RefToken(id, nullptr, kError), error_(std::move(error)) {}
  const absl::Status& error() const { return error_; }

 private:
  const absl::Status error_;
};

// The plain tokens (a Put object's, one held by the driver): RefToken itself, whose
// constructor only subclasses may call.
class PlainToken final : public RefToken {
 public:
  PlainToken(DataID id, const StoreAnchor* anchor, Kind kind) : RefToken(id, anchor, kind) {}
};

static_assert(sizeof(PlainToken) == 24,
              "with its shared_ptr's control block, a Put object's token is a 48-byte block");
static_assert(alignof(StoreAnchor) >= 8, "the kind is kept in the anchor address's low bits");

}  // namespace

std::shared_ptr<const RefToken> RefToken::ForObject(DataID id, const StoreAnchor& anchor) {
  return std::make_shared<const PlainToken>(id, &anchor, kObject);
}

std::shared_ptr<const RefToken> RefToken::ForTaskResult(DataID id, const StoreAnchor& anchor,
                                                        std::weak_ptr<PendingTask> task) {
  return std::make_shared<const TaskResultToken>(id, anchor, std::move(task));
}

std::shared_ptr<const RefToken> RefToken::ForError(DataID id, absl::Status error) {
  return std::make_shared<const ErrorToken>(id, std::move(error));
}

std::shared_ptr<const RefToken> RefToken::HeldByDriver(DataID id) {
  return std::make_shared<const PlainToken>(id, nullptr, kHeldByDriver);
}

RefToken::RefToken(DataID id, const StoreAnchor* anchor, Kind kind)
    : id_(id), anchor_and_kind_(reinterpret_cast<uintptr_t>(anchor) | kind) {
  if (anchor != nullptr) anchor->Ref();
}

RefToken::~RefToken() {
  if (const StoreAnchor* anchor = this->anchor(); anchor != nullptr) {
    anchor->store()->Erase(id_);
    anchor->Unref();
  }
  if (held_by_driver()) {
    proto::ApiRequest release;
    release.mutable_release()->add_object_ids(id_.Binary());
    NotifyDriver(std::move(release));
  }
}

absl::Status RefToken::error() const {
  return kind() == kError ? static_cast<const ErrorToken*>(this)->error() : absl::OkStatus();
}

std::weak_ptr<PendingTask> RefToken::task() const {
  return kind() == kTaskResult ? static_cast<const TaskResultToken*>(this)->task()
                               : std::weak_ptr<PendingTask>();
}

}  // namespace unidist::api_internal
