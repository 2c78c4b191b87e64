// Copyright 2026 The unidist-cpp Authors.
//
// DataID: the identifier of one object in unidist-cpp — a value `Put` into the store or a
// result a task will produce.
//
// Any process (the driver or a worker) can make new ids on its own, with no round trip to
// a central allocator: an id is the pair (origin, sequence), where `origin` is a random
// 64-bit number drawn once per process (and drawn again in a forked child) and `sequence`
// is unique within that process: each thread takes numbers from a shared counter, which
// starts at 1, in blocks of 256 and hands them out in order, so one thread's ids count up
// and ids of different threads interleave by blocks. Two processes draw the same origin
// with probability about n^2 / 2^65 for n processes.
//
// Byte layout of Binary() (pinned by data_id_test.cc; it crosses pipes and MPI):
//   bytes 0..7   origin, little-endian
//   bytes 8..15  sequence, little-endian
// The all-zero id is Nil: no object has it.
//
// DataID is a small value type: copyable, ordered (by origin, then sequence), hashable with
// absl::Hash and std::hash, and printable (`<<` writes `DataID(<origin hex>:<sequence>)`).
// Generate() is thread-safe.
//
// Example:
//   unidist::DataID id = unidist::DataID::Generate();
//   std::string wire = id.Binary();
//   absl::StatusOr<unidist::DataID> back = unidist::DataID::FromBinary(wire);
//   assert(back.ok() && *back == id);

#ifndef UNIDIST_COMMON_DATA_ID_H_
#define UNIDIST_COMMON_DATA_ID_H_

// Included by its old path ("common/data_id.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <tuple>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace unidist {

// The id of one object: 16 bytes, (origin, sequence); data_id.h gives the byte layout.
class DataID {
 public:
  // Length of Binary() in bytes.
  static constexpr size_t kSize = 16;

  // The Nil id.
  constexpr DataID() = default;

  // A new id, different from every id generated before by any process of this program.
  static DataID Generate();

  // The id whose Binary() is `bytes`. InvalidArgument unless `bytes` is kSize long.
  static absl::StatusOr<DataID> FromBinary(absl::string_view bytes);

  // Builds an id from its parts (tests, and backends that assign ids themselves).
  static constexpr DataID FromParts(uint64_t origin, uint64_t sequence) {
    DataID id;
    id.origin_ = origin;
    id.sequence_ = sequence;
    return id;
  }

  // The all-zero id, which names no object (the same as DataID()).
  static constexpr DataID Nil() { return DataID(); }
  // True for the Nil id.
  constexpr bool IsNil() const { return origin_ == 0 && sequence_ == 0; }

  // The process that made the id: a random number drawn once per process.
  constexpr uint64_t origin() const { return origin_; }
  // The id's number within that process, counting from 1.
  constexpr uint64_t sequence() const { return sequence_; }

  // The 16-byte wire form described in the file comment.
  std::string Binary() const;
  // 32 lowercase hex digits: origin then sequence, most significant digit first.
  std::string Hex() const;

  // Equal when both origin and sequence are.
  friend bool operator==(const DataID& a, const DataID& b) {
    return a.origin_ == b.origin_ && a.sequence_ == b.sequence_;
  }
  // Not operator==.
  friend bool operator!=(const DataID& a, const DataID& b) { return !(a == b); }
  // Ordered by origin, then sequence, so that ids one process made sort in the order it
  // made them.
  friend bool operator<(const DataID& a, const DataID& b) {
    return std::tie(a.origin_, a.sequence_) < std::tie(b.origin_, b.sequence_);
  }
  // The order of operator<, reversed.
  friend bool operator>(const DataID& a, const DataID& b) { return b < a; }
  // operator< or equal.
  friend bool operator<=(const DataID& a, const DataID& b) { return !(b < a); }
  // operator> or equal.
  friend bool operator>=(const DataID& a, const DataID& b) { return !(a < b); }

  // Makes DataID a key of absl::flat_hash_map and friends (absl::Hash).
  template <typename H>
  friend H AbslHashValue(H state, const DataID& id) {
    return H::combine(std::move(state), id.origin_, id.sequence_);
  }

  // Writes `DataID(<origin hex>:<sequence>)`, for logs and test failures.
  friend std::ostream& operator<<(std::ostream& os, const DataID& id);

 private:
  uint64_t origin_ = 0;
  uint64_t sequence_ = 0;
};

}  // namespace unidist

// std::hash, for std::unordered_map keys. Hidden from doxygen, which cannot place a
// specialization declared outside namespace std; the class comment mentions it.
/// \cond
template <>
struct std::hash<unidist::DataID> {
  size_t operator()(const unidist::DataID& id) const noexcept {
    // The sequence is dense and the origin random: mixing both keeps buckets even.
    return static_cast<size_t>(id.origin() ^ (id.sequence() * 0x9e3779b97f4a7c15ULL));
  }
};
/// \endcond

#endif  // UNIDIST_COMMON_DATA_ID_H_
