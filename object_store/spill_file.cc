// Copyright 2026 The unidist-cpp Authors.

#include "object_store/spill_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace unidist {
namespace {

absl::Status ErrnoError(absl::string_view what, int error) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(error));
  if (error == ENOSPC || error == EDQUOT || error == ENOMEM || error == EMFILE || error == ENFILE) {
    return absl::ResourceExhaustedError(message);
  }
  if (error == ENOENT || error == ENOTDIR || error == EACCES || error == EROFS) {
    return absl::InvalidArgumentError(message);
  }
  return absl::InternalError(message);
}

// An unnamed file in `directory`, open for reading and writing.
absl::StatusOr<int> UnnamedFile(const std::string& directory) {
  int fd = open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return ErrnoError(absl::StrCat("creating a spill file in ", directory), errno);
  }
  // A file system without O_TMPFILE: a named file, unlinked before anyone can see it.
  std::string path = absl::StrCat(directory, "/unidist-spill-XXXXXX");
  fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoError(absl::StrCat("creating a spill file in ", directory), errno);
  unlink(path.c_str());
  return fd;
}

// Keeps the mapping; unmaps it (and so frees the file) with the object's last holder.
class SpillMapping {
 public:
  SpillMapping(void* data, size_t size, std::shared_ptr<SpillCounters> counters)
      : data_(data), size_(size), counters_(std::move(counters)) {
    if (counters_ != nullptr) {
      counters_->bytes += size_;
      ++counters_->objects;
    }
  }
  ~SpillMapping() {
    if (data_ != nullptr) munmap(data_, size_);
    if (counters_ != nullptr) {
      counters_->bytes -= size_;
      --counters_->objects;
    }
  }
  SpillMapping(const SpillMapping&) = delete;
  SpillMapping& operator=(const SpillMapping&) = delete;

 private:
  void* const data_;
  const size_t size_;
  const std::shared_ptr<SpillCounters> counters_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const ObjectBytes>> SpillToFile(
    const std::string& directory, absl::string_view bytes,
    std::shared_ptr<SpillCounters> counters) {
  absl::StatusOr<int> fd = UnnamedFile(directory);
  if (!fd.ok()) return fd.status();
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = write(*fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;
      close(*fd);
      return ErrnoError(absl::StrCat("writing a spill file in ", directory), error);
    }
    written += static_cast<size_t>(n);
  }
  void* data = nullptr;
  if (!bytes.empty()) {
    data = mmap(nullptr, bytes.size(), PROT_READ, MAP_SHARED, *fd, 0);
    if (data == MAP_FAILED) {
      const int error = errno;
      close(*fd);
      return ErrnoError("mapping a spill file", error);
    }
  }
  close(*fd);  // the mapping keeps the file
  auto mapping = std::make_shared<const SpillMapping>(data, bytes.size(), std::move(counters));
  return std::make_shared<const ObjectBytes>(
      absl::string_view(static_cast<const char*>(data), bytes.size()), std::move(mapping),
      /*store=*/nullptr, 0);
}

}  // namespace unidist
