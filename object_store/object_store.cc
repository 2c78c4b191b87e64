// Copyright 2026 The unidist-cpp Authors.

#include "object_store/object_store.h"

#include <algorithm>
#include <deque>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "common/shrink.h"

namespace unidist {
namespace {

absl::Status NotReadyError(const DataID& id) {
  return absl::DeadlineExceededError(
      absl::StrCat("object ", id.Hex(), " was not ready before the deadline"));
}

absl::Status NotInStoreError(const DataID& id) {
  return absl::NotFoundError(absl::StrCat("object ", id.Hex(), " is not in the store"));
}

// Completion callbacks waiting to run on this thread. Completing one object often
// completes others from inside its callbacks (a failed task fails the tasks that depend on
// it, and so on down a chain); running those callbacks from a queue rather than by
// recursion keeps the stack flat however long the chain.
using QueuedCallback =
    std::pair<ObjectStore::CompletionCallback, absl::StatusOr<ObjectStore::Value>>;
thread_local std::deque<QueuedCallback>* t_callback_queue = nullptr;

void RunCallbacks(std::vector<ObjectStore::CompletionCallback> callbacks,
                  const absl::StatusOr<ObjectStore::Value>& result) {
  // Most completions have no callback; an empty std::deque still allocates two blocks.
  if (callbacks.empty()) return;
  if (t_callback_queue != nullptr) {  // inside a callback: the outer loop runs these
    for (auto& callback : callbacks) t_callback_queue->emplace_back(std::move(callback), result);
    return;
  }
  std::deque<QueuedCallback> queue;
  for (auto& callback : callbacks) queue.emplace_back(std::move(callback), result);
  t_callback_queue = &queue;
  while (!queue.empty()) {
    QueuedCallback next = std::move(queue.front());
    queue.pop_front();
    next.first(next.second);
  }
  t_callback_queue = nullptr;
}

}  // namespace

ObjectStore::InlineBytes ObjectStore::InlineOf(absl::string_view bytes) {
  InlineBytes small;
  small.size = static_cast<uint8_t>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), small.bytes);
  return small;
}

ObjectStore::Entry ObjectStore::ReadyEntry(Value value) {
  static_assert(sizeof(Entry) <= 24, "an entry is what a program holds by the hundred thousand");
  if (value->size() <= kInlineBytes && value->store() == nullptr && value->keeper() == nullptr) {
    return InlineOf(value->view());
  }
  return value;
}

size_t ObjectStore::HeldBytes(const Entry& entry) {
  if (const Value* value = std::get_if<Value>(&entry)) return (*value)->size();
  if (const InlineBytes* small = std::get_if<InlineBytes>(&entry)) return small->size;
  return 0;
}

absl::Status ObjectStore::CreatePending(const DataID& id) {
  absl::MutexLock lock(&mu_);
  if (!entries_.TryEmplace(id).second) {
    return absl::AlreadyExistsError(absl::StrCat("object ", id.Hex(), " is already in the store"));
  }
  ++pending_count_;
  return absl::OkStatus();
}

absl::Status ObjectStore::CreatePendingAll(absl::Span<const DataID> ids) {
  absl::Status created;
  absl::MutexLock lock(&mu_);
  for (const DataID& id : ids) {
    if (!entries_.TryEmplace(id).second) {
      if (created.ok()) {
        created =
            absl::AlreadyExistsError(absl::StrCat("object ", id.Hex(), " is already in the store"));
      }
      continue;
    }
    ++pending_count_;
  }
  return created;
}

absl::Status ObjectStore::PutReady(const DataID& id, std::string bytes) {
  if (bytes.size() > kInlineBytes) return PutReady(id, HeapBytes(std::move(bytes)));
  // Without an ObjectBytes made only to be copied.
  return PutEntry(id, InlineOf(bytes), bytes.size());
}

absl::Status ObjectStore::PutReady(const DataID& id, Value bytes) {
  const size_t size = bytes->size();
  return PutEntry(id, ReadyEntry(std::move(bytes)), size);
}

absl::Status ObjectStore::PutEntry(const DataID& id, Entry entry, size_t size) {
  absl::MutexLock lock(&mu_);
  auto [slot, inserted] = entries_.TryEmplace(id);
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("object ", id.Hex(), " is already in the store"));
  }
  bytes_held_ += size;
  *slot = std::move(entry);
  return absl::OkStatus();
}

bool ObjectStore::Seal(const DataID& id, std::string bytes) {
  return SealEach(absl::Span<const DataID>(&id, 1), [&bytes](size_t) { return &bytes; }) == 1;
}

size_t ObjectStore::SealEach(absl::Span<const DataID> ids,
                             absl::FunctionRef<std::string*(size_t)> bytes_of) {
  // Each completed entry's waiting callbacks, with the value they get.
  std::vector<std::pair<std::vector<CompletionCallback>, Value>> woken;
  size_t sealed = 0;
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i % kIdsPerLock == kIdsPerLock - 1) {
        mu_.Unlock();
        mu_.Lock();
      }
      std::string* bytes = bytes_of(i);
      if (bytes == nullptr) continue;
      std::vector<CompletionCallback> callbacks;
      if (bytes->size() > kInlineBytes) {
        Value value = HeapBytes(std::move(*bytes));
        if (!CompleteLocked(ids[i], value, &callbacks)) continue;
        if (!callbacks.empty()) woken.emplace_back(std::move(callbacks), std::move(value));
      } else {
        // A small result (most task results) goes into its entry straight from the
        // string; a shared ObjectBytes is made only for callbacks waiting on it.
        if (!CompleteLocked(ids[i], InlineOf(*bytes), &callbacks)) continue;
        if (!callbacks.empty())
          woken.emplace_back(std::move(callbacks), HeapBytes(std::move(*bytes)));
      }
      ++sealed;
    }
  }
  for (auto& [callbacks, value] : woken) RunCallbacks(std::move(callbacks), value);
  return sealed;
}

bool ObjectStore::Seal(const DataID& id, Value bytes) { return Complete(id, std::move(bytes)); }

bool ObjectStore::SealRemote(const DataID& id, RemoteLocation where) {
  return Complete(id, Value(), &where);
}

std::optional<RemoteLocation> ObjectStore::Location(const DataID& id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = remote_.find(id);
  if (it == remote_.end()) return std::nullopt;
  return it->second.where;
}

void ObjectStore::SetRemoteHooks(RemoteHooks hooks) {
  RemoteHooks old;  // destroyed after the lock is released
  absl::MutexLock lock(&hooks_mu_);
  old = std::move(hooks_);
  hooks_ = std::move(hooks);
}

bool ObjectStore::Fail(const DataID& id, absl::Status error) {
  if (error.ok()) error = absl::InternalError("object failed with an OK status");
  return Complete(id, std::move(error));
}

bool ObjectStore::Complete(const DataID& id, absl::StatusOr<Value> result,
                           const RemoteLocation* where) {
  std::vector<CompletionCallback> callbacks;
  {
    absl::MutexLock lock(&mu_);
    Entry entry = where != nullptr ? Entry(RemoteMark())
                  : result.ok()    ? ReadyEntry(*result)
                                   : Entry(result.status());
    if (!CompleteLocked(id, std::move(entry), &callbacks)) return false;
    if (where != nullptr) remote_[id].where = *where;
  }
  RunCallbacks(std::move(callbacks), result);
  return true;
}

bool ObjectStore::CompleteLocked(const DataID& id, Entry entry,
                                 std::vector<CompletionCallback>* callbacks) {
  Entry* slot = entries_.Find(id);
  if (slot == nullptr || !std::holds_alternative<Pending>(*slot)) return false;
  bytes_held_ += HeldBytes(entry);
  *slot = std::move(entry);
  --pending_count_;
  CountForWaits(id);
  if (!callbacks_.empty()) {
    if (auto waiting = callbacks_.extract(id); !waiting.empty()) {
      *callbacks = std::move(waiting.mapped());
    }
  }
  return true;
}

size_t ObjectStore::FailAllPending(const absl::Status& error) {
  std::vector<DataID> pending;
  {
    absl::MutexLock lock(&mu_);
    entries_.ForEach([&pending](const DataID& id, const Entry& entry) {
      if (std::holds_alternative<Pending>(entry)) pending.push_back(id);
    });
  }
  size_t failed = 0;
  for (const DataID& id : pending) failed += Fail(id, error) ? 1 : 0;
  return failed;
}

void ObjectStore::Erase(const DataID& id) {
  // Dropped callbacks may own reference tokens whose destructors call Erase again, so
  // they are destroyed after the lock is released; so is the attachment.
  std::vector<CompletionCallback> dropped;
  std::shared_ptr<const void> attachment;
  std::vector<std::shared_ptr<const void>> pins;
  std::optional<RemoteLocation> released;
  {
    absl::MutexLock lock(&mu_);
    Entry* entry = entries_.Find(id);
    if (entry == nullptr) return;
    if (std::holds_alternative<Pending>(*entry)) {
      --pending_count_;
      CountForWaits(id);  // an unknown id counts as complete
    }
    bytes_held_ -= HeldBytes(*entry);
    entries_.Erase(id);
    if (!callbacks_.empty()) {
      if (auto waiting = callbacks_.extract(id); !waiting.empty()) {
        dropped = std::move(waiting.mapped());
        ShrinkIfSparse(callbacks_);
      }
    }
    if (!attachments_.empty()) {
      if (auto found = attachments_.find(id); found != attachments_.end()) {
        attachment = std::move(found->second);
        attachments_.erase(found);
        ShrinkIfSparse(attachments_);
      }
    }
    if (!pins_.empty()) {
      if (auto found = pins_.find(id); found != pins_.end()) {
        pins = std::move(found->second);
        pins_.erase(found);
        ShrinkIfSparse(pins_);
      }
    }
    if (!remote_.empty()) {
      if (auto found = remote_.find(id); found != remote_.end()) {
        if (found->second.fetched != nullptr) bytes_held_ -= found->second.fetched->size();
        released = found->second.where;
        remote_.erase(found);
        ShrinkIfSparse(remote_);
      }
    }
  }
  if (released.has_value()) {
    absl::ReaderMutexLock lock(&hooks_mu_);
    if (hooks_.release) hooks_.release(id, *released);
  }
}

std::shared_ptr<const void> ObjectStore::Attachment(const DataID& id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = attachments_.find(id);
  return it == attachments_.end() ? nullptr : it->second;
}

std::shared_ptr<const void> ObjectStore::AttachIfAbsent(const DataID& id,
                                                        std::shared_ptr<const void> attachment) {
  absl::MutexLock lock(&mu_);
  if (!entries_.Contains(id)) return nullptr;  // `attachment` is released after the lock
  std::shared_ptr<const void>& kept = attachments_[id];
  if (kept == nullptr) kept = std::move(attachment);
  return kept;
}

bool ObjectStore::Pin(const DataID& id, std::shared_ptr<const void> pin) {
  absl::MutexLock lock(&mu_);
  if (!entries_.Contains(id)) return false;  // `pin` is released after the lock
  pins_[id].push_back(std::move(pin));
  return true;
}

void ObjectStore::ClearPins() {
  absl::flat_hash_map<DataID, std::vector<std::shared_ptr<const void>>> dropped;  // after the lock
  absl::MutexLock lock(&mu_);
  dropped.swap(pins_);
}

size_t ObjectStore::pinned_count() const {
  absl::ReaderMutexLock lock(&mu_);
  return pins_.size();
}

void ObjectStore::ClearAttachments() {
  absl::flat_hash_map<DataID, std::shared_ptr<const void>> dropped;  // released after the lock
  absl::MutexLock lock(&mu_);
  dropped.swap(attachments_);
}

size_t ObjectStore::DropUnsharedAttachments() {
  std::vector<std::shared_ptr<const void>> dropped;  // released after the lock
  absl::MutexLock lock(&mu_);
  for (auto it = attachments_.begin(); it != attachments_.end();) {
    if (it->second.use_count() == 1) {
      dropped.push_back(std::move(it->second));
      attachments_.erase(it++);
    } else {
      ++it;
    }
  }
  return dropped.size();
}

std::vector<std::pair<DataID, ObjectStore::Value>> ObjectStore::UnsharedValuesIn(const void* store,
                                                                                 size_t max) const {
  std::vector<std::pair<DataID, Value>> found;
  absl::MutexLock lock(&mu_);
  entries_.ForEach([&found, store, max](const DataID& id, const Entry& entry) {
    if (found.size() >= max) return;
    // Every copy of a value is made under mu_, so nobody can take one while we look.
    const Value* value = std::get_if<Value>(&entry);
    if (value != nullptr && *value != nullptr && (*value)->store() == store &&
        value->use_count() == 1) {
      found.emplace_back(id, *value);
    }
  });
  return found;
}

bool ObjectStore::ReplaceIfUnshared(const DataID& id, const Value& current, Value replacement) {
  Value replaced;  // released after the lock
  absl::MutexLock lock(&mu_);
  Entry* entry = entries_.Find(id);
  Value* value = entry == nullptr ? nullptr : std::get_if<Value>(entry);
  if (value == nullptr || *value != current || current.use_count() != 2) return false;
  bytes_held_ += replacement->size();
  bytes_held_ -= current->size();
  replaced = std::exchange(*value, std::move(replacement));
  return true;
}

absl::StatusOr<ObjectStore::Value> ObjectStore::ResultOf(const Entry& entry) {
  if (const Value* value = std::get_if<Value>(&entry)) return *value;
  if (const InlineBytes* small = std::get_if<InlineBytes>(&entry)) {
    return HeapBytes(std::string(small->bytes, small->size));
  }
  if (const absl::Status* error = std::get_if<absl::Status>(&entry)) return *error;
  return Value();  // remote: see Location
}

bool ObjectStore::IsCompleteLocked(const DataID& id) const {
  const Entry* entry = entries_.Find(id);
  return entry == nullptr || !std::holds_alternative<Pending>(*entry);
}

bool ObjectStore::AwaitCompleteLocked(const DataID& id, absl::Time deadline) const {
  auto complete = [this, &id]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return IsCompleteLocked(id); };
  return mu_.AwaitWithDeadline(absl::Condition(&complete), deadline);
}

absl::StatusOr<ObjectStore::Value> ObjectStore::Get(const DataID& id, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  if (!AwaitCompleteLocked(id, deadline)) return NotReadyError(id);
  const Entry* entry = entries_.Find(id);
  if (entry == nullptr) return NotInStoreError(id);
  if (std::holds_alternative<RemoteMark>(*entry)) return GetRemote(id, deadline);
  return ResultOf(*entry);
}

absl::Status ObjectStore::GetAll(absl::Span<const DataID> ids, absl::Time deadline,
                                 GatheredBytes* out) const {
  static_assert(kInlineBytes <= GatheredBytes::kSmallBytes,
                "GetAll copies every inline value into its GatheredBytes");
  out->Reserve(out->size() + ids.size());
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i % kIdsPerLock == kIdsPerLock - 1) {
      mu_.Unlock();
      mu_.Lock();
    }
    const DataID& id = ids[i];
    const Entry* entry = entries_.Find(id);
    if (entry != nullptr && std::holds_alternative<Pending>(*entry)) {
      if (!AwaitCompleteLocked(id, deadline)) return NotReadyError(id);
      entry = entries_.Find(id);
    }
    if (entry == nullptr) return NotInStoreError(id);
    if (const InlineBytes* small = std::get_if<InlineBytes>(entry)) {
      out->AddCopy(absl::string_view(small->bytes, small->size));
    } else if (const Value* value = std::get_if<Value>(entry)) {
      out->Add(*value);
    } else if (const absl::Status* error = std::get_if<absl::Status>(entry)) {
      return *error;
    } else {
      absl::StatusOr<Value> fetched = GetRemote(id, deadline);
      if (!fetched.ok()) return fetched.status();
      out->Add(*std::move(fetched));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ObjectStore::Value> ObjectStore::GetRemote(const DataID& id,
                                                          absl::Time deadline) const {
  // One Get fetches; the others wait for its outcome.
  auto settled = [this, &id]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    auto it = remote_.find(id);
    return it == remote_.end() || it->second.fetched != nullptr || !it->second.fetching;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&settled), deadline)) {
    return absl::DeadlineExceededError(
        absl::StrCat("object ", id.Hex(), " was not fetched before the deadline"));
  }
  auto it = remote_.find(id);
  if (it == remote_.end()) return NotInStoreError(id);
  if (it->second.fetched != nullptr) return it->second.fetched;
  it->second.fetching = true;
  const RemoteLocation where = it->second.where;
  absl::StatusOr<std::string> bytes;
  mu_.Unlock();  // a fetch takes a while, and the hook may call back into the store
  {
    absl::ReaderMutexLock lock(&hooks_mu_);
    if (hooks_.fetch) {
      bytes = hooks_.fetch(id, where);
    } else {
      bytes = absl::UnavailableError(absl::StrCat(
          "object ", id.Hex(), " was kept outside the driver, on ",
          hooks_.describe ? hooks_.describe(where.holder) : absl::StrCat("holder ", where.holder),
          ", which cannot be reached any more (its session is over)"));
    }
  }
  mu_.Lock();
  it = remote_.find(id);
  if (it == remote_.end()) {  // erased meanwhile
    if (!bytes.ok()) return bytes.status();
    return HeapBytes(*std::move(bytes));
  }
  it->second.fetching = false;
  if (!bytes.ok()) return bytes.status();
  bytes_held_ += bytes->size();
  it->second.fetched = HeapBytes(*std::move(bytes));
  return it->second.fetched;
}

std::vector<size_t> ObjectStore::Wait(const std::vector<DataID>& ids, size_t num_returns,
                                      absl::Time deadline) const {
  const size_t wanted = std::min(num_returns, ids.size());
  absl::MutexLock lock(&mu_);
  // The ids are looked at twice, here and at the end, not on every change: absl evaluates
  // a waiter's condition on every unlock of mu_, so a condition that looked at every id
  // would cost a Wait on n objects n lookups for each object completed meanwhile (n^2:
  // 25 times slower than Get for 100k tasks). The completions count themselves instead
  // (CountForWaits).
  WaitCount count;
  for (const DataID& id : ids) {
    if (IsCompleteLocked(id)) ++count.complete;
  }
  if (count.complete < wanted && wanted == ids.size()) {
    // All of them: each id in turn, as GetAll does. A condition on one id costs one lookup
    // per change of the store, and registering every id (below) costs a hash-table entry
    // and a vector each: for a Wait on 10,000 fresh Map results that was more than the
    // Map (perf: ~25% of the samples in waits_ and CountForWaits).
    for (const DataID& id : ids) {
      if (!AwaitCompleteLocked(id, deadline)) break;
    }
  } else if (count.complete < wanted) {
    for (const DataID& id : ids) {
      if (!IsCompleteLocked(id)) waits_[id].push_back(&count);  // once per position
    }
    auto enough_complete = [&count, wanted]() { return count.complete >= wanted; };
    mu_.AwaitWithDeadline(absl::Condition(&enough_complete), deadline);
    for (const DataID& id : ids) {  // those still pending, after a deadline
      auto it = waits_.find(id);
      if (it == waits_.end()) continue;
      std::vector<WaitCount*>& counts = it->second;
      counts.erase(std::remove(counts.begin(), counts.end(), &count), counts.end());
      if (counts.empty()) waits_.erase(it);
    }
    ShrinkIfSparse(waits_);
  }
  std::vector<size_t> ready;
  for (size_t i = 0; i < ids.size() && ready.size() < num_returns; ++i) {
    if (IsCompleteLocked(ids[i])) ready.push_back(i);
  }
  return ready;
}

void ObjectStore::CountForWaits(const DataID& id) const {
  if (waits_.empty()) return;
  if (auto waiting = waits_.extract(id); !waiting.empty()) {
    for (WaitCount* count : waiting.mapped()) ++count->complete;
    ShrinkIfSparse(waits_);
  }
}

void ObjectStore::OnComplete(const DataID& id, CompletionCallback callback) {
  absl::StatusOr<Value> result;
  {
    absl::MutexLock lock(&mu_);
    const Entry* entry = entries_.Find(id);
    if (entry == nullptr) {
      result = NotInStoreError(id);
    } else if (std::holds_alternative<Pending>(*entry)) {
      callbacks_[id].push_back(std::move(callback));
      return;
    } else {
      result = ResultOf(*entry);
    }
  }
  callback(result);
}

bool ObjectStore::IsPending(const DataID& id) const {
  absl::MutexLock lock(&mu_);
  const Entry* entry = entries_.Find(id);
  return entry != nullptr && std::holds_alternative<Pending>(*entry);
}

bool ObjectStore::IsComplete(const DataID& id) const {
  absl::ReaderMutexLock lock(&mu_);
  const Entry* entry = entries_.Find(id);
  return entry != nullptr && !std::holds_alternative<Pending>(*entry);
}

size_t ObjectStore::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return entries_.size();
}

size_t ObjectStore::pending_count() const {
  absl::ReaderMutexLock lock(&mu_);
  return pending_count_;
}

size_t ObjectStore::bytes_held() const {
  absl::ReaderMutexLock lock(&mu_);
  return bytes_held_;
}

}  // namespace unidist
