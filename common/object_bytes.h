// Copyright 2026 The unidist-cpp Authors.
//
// ObjectBytes: the codec bytes of one object, immutable, wherever they live — in the heap
// (a std::string it owns) or in the session's shared-memory store (a view of memory that
// an allocation keeps valid; object_store/shared_arena.h). Readers see one thing, a
// string_view, whichever it is; the runtime asks store() to send a large object to a
// task as its place in the store instead of as bytes.
//
// Shared as std::shared_ptr<const ObjectBytes>: whoever holds one keeps the bytes (and,
// for a stored object, its space in the store) alive.
//
// GatheredBytes: the bytes of many objects, read at once (unidist::Get of a vector). Small
// values are copied into the list itself rather than each into an ObjectBytes of its own,
// which is what makes a Get of many small results cheap.
//
// Thread-safe: ObjectBytes is immutable after construction; a GatheredBytes is one
// reader's, unsynchronized.

#ifndef UNIDIST_COMMON_OBJECT_BYTES_H_
#define UNIDIST_COMMON_OBJECT_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace unidist {

class ObjectBytes {
 public:
  // Owns `bytes`, in the heap.
  explicit ObjectBytes(std::string bytes) : heap_(std::move(bytes)), view_(heap_) {}
  // Views `bytes`, which `keeper` keeps valid, at `store_offset` in the shared-memory
  // store `store` (an identity: which store, since objects can outlive a session); with
  // a null `store`, bytes kept elsewhere (a spill file's mapping).
  ObjectBytes(absl::string_view bytes, std::shared_ptr<const void> keeper, const void* store,
              uint64_t store_offset)
      : view_(bytes), keeper_(std::move(keeper)), store_(store), store_offset_(store_offset) {}

  // Not copyable or movable: view_ may point into heap_.
  ObjectBytes(const ObjectBytes&) = delete;
  ObjectBytes& operator=(const ObjectBytes&) = delete;

  absl::string_view view() const { return view_; }
  const char* data() const { return view_.data(); }
  size_t size() const { return view_.size(); }

  // The shared-memory store the bytes are in, at store_offset(); null for heap bytes.
  const void* store() const { return store_; }
  uint64_t store_offset() const { return store_offset_; }
  // What keeps a stored object's space; null for heap bytes.
  const std::shared_ptr<const void>& keeper() const { return keeper_; }

 private:
  const std::string heap_;
  const absl::string_view view_;
  const std::shared_ptr<const void> keeper_;
  const void* const store_ = nullptr;
  const uint64_t store_offset_ = 0;
};

// Heap bytes, shared.
inline std::shared_ptr<const ObjectBytes> HeapBytes(std::string bytes) {
  return std::make_shared<const ObjectBytes>(std::move(bytes));
}

// The bytes of objects 0, 1, ..., size() - 1, in the order they were added.
class GatheredBytes {
 public:
  // The most bytes AddCopy takes.
  static constexpr size_t kSmallBytes = 15;

  // Holds `value` (not copied) as the next object's bytes.
  void Add(std::shared_ptr<const ObjectBytes> value) {
    positions_.emplace_back().value = std::move(value);
  }
  // Copies `bytes`, at most kSmallBytes of them, as the next object's.
  void AddCopy(absl::string_view bytes) {
    Position& at = positions_.emplace_back();
    at.size = static_cast<uint8_t>(bytes.size());
    bytes.copy(at.small, sizeof(at.small));
  }
  void Reserve(size_t objects) { positions_.reserve(objects); }
  // Lets go of every object's bytes, keeping the room for as many again.
  void Clear() { positions_.clear(); }

  size_t size() const { return positions_.size(); }
  // Object i's bytes, valid while this GatheredBytes is and is not added to.
  absl::string_view view(size_t i) const {
    const Position& at = positions_[i];
    if (at.value != nullptr) return at.value->view();
    return absl::string_view(at.small, at.size);
  }

 private:
  struct Position {
    std::shared_ptr<const ObjectBytes> value;  // null: the bytes are in `small`
    uint8_t size = 0;
    char small[kSmallBytes];
  };
  std::vector<Position> positions_;
};

}  // namespace unidist

#endif  // UNIDIST_COMMON_OBJECT_BYTES_H_
