// Copyright 2026 The unidist-cpp Authors.
//
// Shared-memory segments for large values: the driver writes a value once into an
// anonymous memory file (memfd_create), and a worker maps it read-only, so the value
// never travels through a socket and is never parsed into a copy.
//
// Immutable: Create seals the file once the value is in it (memfd seals F_SEAL_WRITE,
// F_SEAL_GROW, F_SEAL_SHRINK and F_SEAL_SEAL), so no process can change the value
// afterwards, not even through a read-write open of /proc/<pid>/fd/<fd> or
// /proc/<pid>/map_files: write() and ftruncate() fail with EPERM, and so does a writable
// shared mapping. Open refuses a segment that is not sealed that way (DataLoss).
//
// A segment is named by a SharedSegmentRef: the creating process's pid, its descriptor
// number and the file's inode. Another process of the same user opens it through
// /proc/<pid>/fd/<fd> and checks the inode, so a descriptor number that was closed and
// reused meanwhile is an error (NotFound), never another value. The creator keeps the
// segment open while any reader may still open it (the runtime holds it for as long as a
// task that reads it is in flight).
//
// Lifetime: the memory is freed when the last descriptor and the last mapping are gone:
// when the creator destroys its SharedSegment and every reader its MappedSegment, or at
// the latest when those processes end. A segment never outlives the processes using it.
//
// Thread-safe: both classes are immutable after creation.

#ifndef UNIDIST_COMMON_SHARED_MEMORY_H_
#define UNIDIST_COMMON_SHARED_MEMORY_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace unidist {

// How another process finds a segment.
struct SharedSegmentRef {
  pid_t pid = -1;
  int fd = -1;
  uint64_t size = 0;
  uint64_t inode = 0;
};

// The creator's side: owns the memory file.
class SharedSegment {
 public:
  // A new segment named `name` (shown in /proc/<pid>/fd as "/memfd:<name>") holding a
  // copy of `bytes`, sealed against any change. ResourceExhausted if the system has no
  // memory or descriptors left; Internal for other failures (among them a kernel without
  // memfd seals).
  static absl::StatusOr<std::unique_ptr<SharedSegment>> Create(const std::string& name,
                                                               absl::string_view bytes);
  ~SharedSegment();
  SharedSegment(const SharedSegment&) = delete;
  SharedSegment& operator=(const SharedSegment&) = delete;

  const SharedSegmentRef& ref() const { return ref_; }

 private:
  explicit SharedSegment(SharedSegmentRef ref) : ref_(ref) {}
  const SharedSegmentRef ref_;
};

// A reader's read-only mapping of a segment.
class MappedSegment {
 public:
  // Maps the segment `ref` names. NotFound if it is gone (the creator closed it, or the
  // descriptor now names something else); PermissionDenied if this process may not open
  // the creator's descriptors; DataLoss if its size differs from ref.size or it is not
  // sealed as Create seals it (its bytes could change while mapped); Internal or
  // ResourceExhausted if mapping failed.
  static absl::StatusOr<std::unique_ptr<MappedSegment>> Open(const SharedSegmentRef& ref);
  ~MappedSegment();
  MappedSegment(const MappedSegment&) = delete;
  MappedSegment& operator=(const MappedSegment&) = delete;

  // The segment's bytes, valid while this object lives.
  absl::string_view bytes() const {
    return absl::string_view(static_cast<const char*>(data_), size_);
  }

 private:
  MappedSegment(void* data, size_t size) : data_(data), size_(size) {}
  void* const data_;
  const size_t size_;
};

}  // namespace unidist

#endif  // UNIDIST_COMMON_SHARED_MEMORY_H_
