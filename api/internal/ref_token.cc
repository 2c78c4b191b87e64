// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/ref_token.h"

#include <atomic>
#include <cstddef>
#include <new>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/worker_protocol.pb.h"
#include "glog/logging.h"
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

// Freed token storage (see TokenBlock) kept for the next blocks, up to kMaxBytes in
// all. A Map gives back all of its chunks' storage at once when its refs go; given back
// to malloc instead, glibc coalesces it into the top of its heap and returns that to the
// kernel, and the next Map faults every page in afresh: 24,000-28,000 page faults in a
// probe of 300 Maps of 10,000 inputs against ~2,700 with one allocation a token (and
// 20% slower than that). Taken and given back once per block, under a mutex. Only
// blocks of kMinBytes or more, at most kMaxBlocks of them (a task with a few results
// has a block of a few hundred bytes, which malloc serves well), so that a Take looks at
// a short list.
class StorageRecycler {
 public:
  static StorageRecycler& Get() {
    static StorageRecycler* const recycler = new StorageRecycler;  // tokens outlive statics
    return *recycler;
  }

  // At least `bytes` bytes; their size in *capacity.
  void* Take(size_t bytes, size_t* capacity) {
    if (bytes >= kMinBytes) {
      absl::MutexLock lock(&mu_);
      // The smallest kept block that fits, if it is not more than twice too big.
      auto best = free_.end();
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->bytes >= bytes && it->bytes <= 2 * bytes &&
            (best == free_.end() || it->bytes < best->bytes)) {
          best = it;
        }
      }
      if (best != free_.end()) {
        const Kept kept = *best;
        *best = free_.back();
        free_.pop_back();
        kept_bytes_ -= kept.bytes;
        *capacity = kept.bytes;
        return kept.memory;
      }
    }
    *capacity = bytes;
    return ::operator new(bytes);
  }

  void GiveBack(void* memory, size_t capacity) {
    if (capacity >= kMinBytes) {
      absl::MutexLock lock(&mu_);
      if (free_.size() < kMaxBlocks && kept_bytes_ + capacity <= kMaxBytes) {
        free_.push_back(Kept{memory, capacity});
        kept_bytes_ += capacity;
        return;
      }
    }
    ::operator delete(memory);
  }

 private:
  static constexpr size_t kMinBytes = 4096;
  static constexpr size_t kMaxBlocks = 64;
  static constexpr size_t kMaxBytes = size_t{8} << 20;
  struct Kept {
    void* memory;
    size_t bytes;
  };
  absl::Mutex mu_;
  std::vector<Kept> free_ ABSL_GUARDED_BY(mu_);
  size_t kept_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// The memory of the tokens of a task's results (see ForTaskResults): one heap block,
// carved in order by TokenBlockAllocator into pieces of the size the first one asks
// for (every piece holds the same type: a token and its control block). It frees
// itself when the last piece is given back, which may be on any thread.
class TokenBlock {
 public:
  // Holds a reference to `anchor` for all of its tokens, and their task.
  TokenBlock(size_t pieces, const StoreAnchor& anchor, std::weak_ptr<PendingTask> task)
      : live_(pieces), pieces_(pieces), anchor_(anchor), task_(std::move(task)) {
    anchor_.Ref();
  }

  const std::weak_ptr<PendingTask>& task() const { return task_; }

  void* Carve(size_t bytes) {
    if (storage_ == nullptr) {
      piece_bytes_ = bytes;
      storage_ =
          static_cast<char*>(StorageRecycler::Get().Take(pieces_ * piece_bytes_, &storage_bytes_));
    }
    CHECK(bytes == piece_bytes_ && carved_ < pieces_) << "a token block carved amiss";
    return storage_ + piece_bytes_ * carved_++;
  }

  void GiveBack() {
    if (live_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  ~TokenBlock() {
    StorageRecycler::Get().GiveBack(storage_, storage_bytes_);
    anchor_.Unref();
  }

  std::atomic<size_t> live_;  // pieces not yet given back
  const size_t pieces_;
  const StoreAnchor& anchor_;
  const std::weak_ptr<PendingTask> task_;
  // Set by the first Carve. Only ForTaskResults's thread carves, before any token of
  // the block can reach another thread.
  char* storage_ = nullptr;
  size_t storage_bytes_ = 0;
  size_t piece_bytes_ = 0;
  size_t carved_ = 0;
};

// What allocate_shared allocates a token and its control block with: a piece of a
// TokenBlock, given back when the control block goes.
template <typename T>
class TokenBlockAllocator {
 public:
  using value_type = T;
  explicit TokenBlockAllocator(TokenBlock* block) : block_(block) {}
  template <typename U>
  TokenBlockAllocator(const TokenBlockAllocator<U>& other)  // NOLINT: rebinding
      : block_(other.block()) {}

  T* allocate(size_t n) { return static_cast<T*>(block_->Carve(n * sizeof(T))); }
  void deallocate(T*, size_t) { block_->GiveBack(); }
  TokenBlock* block() const { return block_; }

  template <typename U>
  bool operator==(const TokenBlockAllocator<U>& other) const {
    return block_ == other.block();
  }
  template <typename U>
  bool operator!=(const TokenBlockAllocator<U>& other) const {
    return block_ != other.block();
  }

 private:
  TokenBlock* block_;
};

// A task result's token made with the others of its task (ForTaskResults): the task,
// and the reference to the store's anchor, are its block's, which outlives it (the
// block goes when its last piece is given back, after the token in it is destroyed).
// Four atomic operations and 16 bytes a token fewer than a TaskResultToken.
class BlockResultToken final : public RefToken {
 public:
  BlockResultToken(DataID id, const TokenBlock& block, const StoreAnchor& anchor)
      : RefToken(id, &anchor, kTaskResultInBlock), block_(block) {}
  const std::weak_ptr<PendingTask>& task() const { return block_.task(); }

 private:
  const TokenBlock& block_;
};

static_assert(sizeof(BlockResultToken) == 32,
              "with its control block and allocator, a Map result's token is 56 bytes");
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

void RefToken::ForTaskResults(absl::Span<const DataID> ids, const StoreAnchor& anchor,
                              const std::weak_ptr<PendingTask>& task,
                              absl::FunctionRef<void(std::shared_ptr<const RefToken>)> sink) {
  if (ids.size() == 1) {  // a block would be two allocations where this is one
    sink(ForTaskResult(ids.front(), anchor, task));
    return;
  }
  if (ids.empty()) return;
  auto* block = new TokenBlock(ids.size(), anchor, task);
  const TokenBlockAllocator<BlockResultToken> allocator(block);
  for (const DataID& id : ids) {
    sink(std::allocate_shared<const BlockResultToken>(allocator, id, *block, anchor));
  }
}

std::shared_ptr<const RefToken> RefToken::ForError(DataID id, absl::Status error) {
  return std::make_shared<const ErrorToken>(id, std::move(error));
}

std::shared_ptr<const RefToken> RefToken::HeldByDriver(DataID id) {
  return std::make_shared<const PlainToken>(id, nullptr, kHeldByDriver);
}

RefToken::RefToken(DataID id, const StoreAnchor* anchor, Kind kind)
    : id_(id), anchor_and_kind_(reinterpret_cast<uintptr_t>(anchor) | kind) {
  if (anchor != nullptr && kind != kTaskResultInBlock) anchor->Ref();  // else its block's
}

RefToken::~RefToken() {
  if (const StoreAnchor* anchor = this->anchor(); anchor != nullptr) {
    anchor->store()->Erase(id_);
    if (kind() != kTaskResultInBlock) anchor->Unref();
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
  switch (kind()) {
    case kTaskResult:
      return static_cast<const TaskResultToken*>(this)->task();
    case kTaskResultInBlock:
      return static_cast<const BlockResultToken*>(this)->task();
    default:
      return std::weak_ptr<PendingTask>();
  }
}

}  // namespace unidist::api_internal
