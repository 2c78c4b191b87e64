// Copyright 2026 The unidist-cpp Authors.
//
// SpillToFile: moves an object's bytes out of memory into a file, for when the
// shared-memory store is full (see Options::object_store_memory). The file is mapped
// read-only and the bytes stay readable through the mapping as ordinary ObjectBytes: the
// kernel pages them back in from disk when they are read, and may drop them from memory
// again under pressure, since they are clean file pages.
//
// The file has no name: it is made with O_TMPFILE (or, on a file system without it,
// unlinked at once), so it disappears with its mapping — when the object is freed, and
// with the process however it ends, SIGKILL included. Nothing is left in the directory.
//
// Thread-safe.

#ifndef UNIDIST_OBJECT_STORE_SPILL_FILE_H_
#define UNIDIST_OBJECT_STORE_SPILL_FILE_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "unidist/common/object_bytes.h"

namespace unidist {

// What is spilled at the moment (for GetStats).
struct SpillCounters {
  std::atomic<size_t> bytes{0};
  std::atomic<size_t> objects{0};
};

// Writes `bytes` into a new unnamed file in `directory` and returns them, mapped from it.
// `counters` (may be null) count the object until its bytes are freed. ResourceExhausted
// if the disk is full; InvalidArgument if `directory` cannot hold files; Internal for
// other failures.
absl::StatusOr<std::shared_ptr<const ObjectBytes>> SpillToFile(
    const std::string& directory, absl::string_view bytes, std::shared_ptr<SpillCounters> counters);

}  // namespace unidist

#endif  // UNIDIST_OBJECT_STORE_SPILL_FILE_H_
