// Copyright 2026 The unidist-cpp Authors.
//
// ObjectStore: the driver's table of objects — values put with `Put` and results of tasks —
// keyed by DataID.
//
// An entry is in one of three states:
//   pending  created for a task result that has not arrived yet;
//   ready    holds the value's codec bytes (immutable from then on), in the heap or in
//            the session's shared-memory store (common/object_bytes.h);
//   failed   holds the error status the object resolved to.
//   remote   ready, but its bytes are kept elsewhere (the mpi backend keeps large task
//            results on the worker rank that made them): the entry holds only their
//            location (RemoteLocation).
// Ready, failed and remote are all "complete": an entry never leaves a complete state.
// Values are shared as `std::shared_ptr<const ObjectBytes>`, so readers never copy under
// the lock, and a reader's copy keeps the bytes alive after the entry is erased.
//
// Remote entries: completion callbacks get a null Value for them (a caller that can pass
// the location on, such as the runtime filling a task's arguments, asks Location()); Get
// fetches the bytes once through the RemoteHooks' fetch and keeps them with the entry;
// Erase tells the holder through the hooks' release. Their bookkeeping is in a table of
// its own, so that the other backends pay nothing for it.
//
// Lifetime: the owner of an id (the API's ObjectRef, through its reference token) calls
// Erase when the last handle is gone; completing an erased or unknown id is a no-op, so a
// task whose result nobody wants any more leaves nothing behind.
//
// Waiting never busy-waits: Get and Wait block on the store's mutex condition, and
// OnComplete registers a callback that runs once, on the thread that completes the entry
// (or at once, on the caller's thread, if it is complete already). Callbacks always run
// without the store's lock held, so they may call back into the store. Callbacks that a
// callback sets off (by completing another entry) run after it returns, on the same
// thread, so a long chain of dependent objects never deepens the stack.
//
// Thread-safe: every method may be called from any thread.

#ifndef UNIDIST_OBJECT_STORE_OBJECT_STORE_H_
#define UNIDIST_OBJECT_STORE_OBJECT_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "object_store/internal/id_table.h"
#include "unidist/common/data_id.h"
#include "unidist/common/object_bytes.h"

namespace unidist {

// Where a remote entry's bytes are: which place of the worker pool keeps them (opaque to
// the store and the runtime: the pool that reported the object chose the number and
// understands it; the mpi backend uses the worker rank), and their size.
struct RemoteLocation {
  uint64_t holder = 0;
  size_t size = 0;
};

// How the store reaches remote bytes (installed by the runtime, from its worker pool).
struct RemoteHooks {
  // Returns the bytes of `id`, kept at `where`; blocks until they arrive. Its error is
  // what Get returns.
  std::function<absl::StatusOr<std::string>(const DataID& id, const RemoteLocation& where)> fetch;
  // The entry `id` is erased: its holder may drop the bytes. Must not block.
  std::function<void(const DataID& id, const RemoteLocation& where)> release;
  // Names a holder in errors ("rank 3"); without it, "holder 3". Kept after the session,
  // when fetch and release are gone, so that a late Get still says where the bytes were.
  std::function<std::string(uint64_t holder)> describe;
};

class ObjectStore {
 public:
  using Value = std::shared_ptr<const ObjectBytes>;
  using CompletionCallback = std::function<void(const absl::StatusOr<Value>&)>;

  ObjectStore() = default;
  ObjectStore(const ObjectStore&) = delete;
  ObjectStore& operator=(const ObjectStore&) = delete;

  // Adds a pending entry. AlreadyExists if `id` is in the store.
  absl::Status CreatePending(const DataID& id);
  // CreatePending of each of `ids`, under one lock: AlreadyExists naming the first that
  // was in the store (the others are added).
  absl::Status CreatePendingAll(absl::Span<const DataID> ids);

  // Adds a ready entry holding `bytes`. AlreadyExists if `id` is in the store.
  absl::Status PutReady(const DataID& id, std::string bytes);
  absl::Status PutReady(const DataID& id, Value bytes);

  // Completes a pending entry with a value or an error. Returns false, and does nothing, if
  // `id` is unknown (e.g. erased because nobody holds it) or already complete.
  bool Seal(const DataID& id, std::string bytes);
  // Seal(ids[i], std::move(*bytes_of(i))) for each i whose bytes_of(i) is not null, under
  // one lock (released now and then, as in GetAll), with the callbacks run after it;
  // returns how many entries it completed. For the many results of one task.
  size_t SealEach(absl::Span<const DataID> ids, absl::FunctionRef<std::string*(size_t)> bytes_of);
  bool Seal(const DataID& id, Value bytes);
  bool Fail(const DataID& id, absl::Status error);

  // Completes a pending entry as remote: ready, its bytes kept at `where`. Returns false,
  // and does nothing, as Seal does. Callbacks get a null Value.
  bool SealRemote(const DataID& id, RemoteLocation where);

  // Where the bytes of remote entry `id` are; nullopt if `id` is unknown or not remote.
  std::optional<RemoteLocation> Location(const DataID& id) const;

  // Installs (or, with empty functions, removes) the hooks. Returns once no call of the
  // previous hooks is running, so that what they use may then go away. Without a fetch
  // hook, Get of a remote entry whose bytes were not fetched yet fails with Unavailable.
  void SetRemoteHooks(RemoteHooks hooks);

  // Fails every pending entry with `error` (used at shutdown). Returns how many.
  size_t FailAllPending(const absl::Status& error);

  // Removes the entry. Callbacks still registered on a pending entry are dropped.
  void Erase(const DataID& id);

  // Blocks until `id` is complete or `deadline` passes. Returns the value, the entry's
  // error, NotFound if `id` is not in the store, or DeadlineExceeded. For a remote entry
  // the first Get fetches the bytes (the others wait for it; a fetch, once started, is not
  // cut short by `deadline`) and keeps them; a failed fetch returns the fetch's error and
  // keeps nothing, so a later Get tries again.
  absl::StatusOr<Value> Get(const DataID& id, absl::Time deadline = absl::InfiniteFuture()) const;

  // Get of each of `ids` in turn, adding each value to `out` (small ones as copies): stops
  // at the first id Get would fail on, with Get's error, after adding the ones before it.
  // One lock for all of them, released now and then so a long list never holds up
  // completions; what Get of each in a loop returns, at a fraction of the cost.
  absl::Status GetAll(absl::Span<const DataID> ids, absl::Time deadline, GatheredBytes* out) const;

  // unidist's wait: blocks until at least min(num_returns, ids.size()) of `ids` are
  // complete, or `deadline` passes, then returns the positions (indexes into `ids`) of the
  // complete ones, at most `num_returns` of them, in the caller's order. Unknown ids count
  // as complete (a Get on them reports NotFound). A duplicated id counts at each position.
  std::vector<size_t> Wait(const std::vector<DataID>& ids, size_t num_returns,
                           absl::Time deadline = absl::InfiniteFuture()) const;

  // Runs `callback` once `id` is complete: with the value, or with the entry's error. Runs
  // it at once if `id` is complete already, with NotFound if `id` is unknown.
  void OnComplete(const DataID& id, CompletionCallback callback);

  // True if `id` is known and complete.
  bool IsComplete(const DataID& id) const;
  // True if `id` is known and pending.
  bool IsPending(const DataID& id) const;

  // Attachments: something kept with the entry `id` until it is erased (e.g. the
  // shared-memory copy of its value). Attachment returns it, or null if there is none or
  // `id` is unknown. AttachIfAbsent stores `attachment` unless the entry has one already,
  // and returns the one the entry keeps: `attachment`, the earlier one, or null if `id`
  // is unknown.
  std::shared_ptr<const void> Attachment(const DataID& id) const;
  std::shared_ptr<const void> AttachIfAbsent(const DataID& id,
                                             std::shared_ptr<const void> attachment);
  // Drops every attachment (at shutdown); the entries stay.
  void ClearAttachments();
  // Drops the attachments nobody but the store holds (to free the memory they use);
  // returns how many.
  size_t DropUnsharedAttachments();

  // Pins: things kept with the entry `id` until it is erased, whatever else happens (the
  // actors whose handles its value encodes). Unlike attachments, several per entry, never
  // dropped to make room. Pin returns false, and drops `pin` at once, if `id` is unknown.
  // ClearPins drops every pin (at shutdown: a pin may own what owns the store).
  bool Pin(const DataID& id, std::shared_ptr<const void> pin);
  void ClearPins();
  size_t pinned_count() const;

  // Spilling (the runtime's, when its shared-memory store is full). UnsharedValuesIn:
  // up to `max` ready entries whose value is in the shared-memory store `store`
  // (ObjectBytes::store) and held by nobody but this store — so no task is reading it and
  // no view of it exists — with their values (each returned copy is one more holder).
  // ReplaceIfUnshared: gives `id` the value `replacement` if its value is still `current`
  // and nobody but the store and the caller (through `current`) holds it; else false.
  std::vector<std::pair<DataID, Value>> UnsharedValuesIn(const void* store, size_t max) const;
  bool ReplaceIfUnshared(const DataID& id, const Value& current, Value replacement);

  // Counts, for tests and stats.
  size_t size() const;
  size_t pending_count() const;
  size_t bytes_held() const;

 private:
  // An entry is one of these: pending; ready, with its value (or, for a small value in
  // the heap, its bytes kept in the entry itself, without an allocation of their own);
  // failed, with its error; remote. Entries are what a program holds by the hundred
  // thousand, so each is small: 24 bytes besides its id. Callbacks on pending entries are
  // in a table of their own.
  static constexpr size_t kInlineBytes = 15;
  struct Pending {};
  struct InlineBytes {
    uint8_t size = 0;
    char bytes[kInlineBytes];
  };
  struct RemoteMark {};  // its location is in remote_
  using Entry = std::variant<Pending, Value, InlineBytes, absl::Status, RemoteMark>;

  // GetAll and SealEach let go of the lock after this many ids, so that the other side
  // (a completing event thread, a reading caller) is never held up for long.
  static constexpr size_t kIdsPerLock = 4096;

  // `bytes` (at most kInlineBytes of them) as an inline entry.
  static InlineBytes InlineOf(absl::string_view bytes);
  // The entry for a ready value: its bytes inline when they are few, in the heap and held
  // by nothing else (no keeper, not in a shared-memory store).
  static Entry ReadyEntry(Value value);
  // The bytes a ready entry holds (counted in bytes_held_); 0 for the others.
  static size_t HeldBytes(const Entry& entry);
  // PutReady's insertion of a ready `entry` of `size` bytes.
  absl::Status PutEntry(const DataID& id, Entry entry, size_t size);

  // Completes the entry `id` with `result` (remote at `where`, if set); false if unknown
  // or not pending.
  bool Complete(const DataID& id, absl::StatusOr<Value> result,
                const RemoteLocation* where = nullptr);
  // With mu_ held: turns the pending entry `id` into `entry` (ready, failed or remote)
  // and moves the callbacks waiting on it into `callbacks`; false if `id` is unknown or
  // not pending.
  bool CompleteLocked(const DataID& id, Entry entry, std::vector<CompletionCallback>* callbacks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A Wait in progress: how many of its positions are complete. Completions of the ids
  // it waits for add to it (waits_), so its condition costs the same for any number of
  // ids.
  struct WaitCount {
    size_t complete = 0;
  };
  // With mu_ held, as pending `id` completes or goes: counts it for the Waits on it.
  void CountForWaits(const DataID& id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Get's part for a remote entry, with mu_ held on entry and on return.
  absl::StatusOr<Value> GetRemote(const DataID& id, absl::Time deadline) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static absl::StatusOr<Value> ResultOf(const Entry& entry);
  bool IsCompleteLocked(const DataID& id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Waits (letting go of mu_ meanwhile) until `id` is complete or unknown; false if the
  // deadline came first. A condition on one id: absl evaluates it on every unlock of mu_.
  bool AwaitCompleteLocked(const DataID& id, absl::Time deadline) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  // In pages by sequence for the ids this process made (internal/id_table.h): no cache
  // miss per lookup for ids made together, and a third of a hash table's memory.
  object_store_internal::IdTable<Entry> entries_ ABSL_GUARDED_BY(mu_);
  // Completion callbacks, by pending entry (OnComplete).
  absl::flat_hash_map<DataID, std::vector<CompletionCallback>> callbacks_ ABSL_GUARDED_BY(mu_);
  // The Waits blocked on each pending entry, once per position they have it at.
  mutable absl::flat_hash_map<DataID, std::vector<WaitCount*>> waits_ ABSL_GUARDED_BY(mu_);
  // Attachments, by entry. A table of their own: few entries have one, and a field in
  // every Entry would cost every small object its size.
  absl::flat_hash_map<DataID, std::shared_ptr<const void>> attachments_ ABSL_GUARDED_BY(mu_);
  // Pins, by entry (a table of their own, as for attachments).
  absl::flat_hash_map<DataID, std::vector<std::shared_ptr<const void>>> pins_ ABSL_GUARDED_BY(mu_);
  // Remote entries, by id: their location and, once fetched, their bytes.
  struct Remote {
    RemoteLocation where;
    Value fetched;
    bool fetching = false;  // a Get is fetching the bytes
  };
  mutable absl::flat_hash_map<DataID, Remote> remote_ ABSL_GUARDED_BY(mu_);
  // Held shared while a hook runs, exclusively to replace the hooks.
  mutable absl::Mutex hooks_mu_;  // never taken with mu_ held
  RemoteHooks hooks_ ABSL_GUARDED_BY(hooks_mu_);
  size_t pending_count_ ABSL_GUARDED_BY(mu_) = 0;
  mutable size_t bytes_held_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace unidist

#endif  // UNIDIST_OBJECT_STORE_OBJECT_STORE_H_
