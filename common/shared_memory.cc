// Copyright 2026 The unidist-cpp Authors.

#include "common/shared_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace unidist {
namespace {

// Every seal a finished segment carries: no writes (through any descriptor or mapping),
// no change of size, and no change of these seals.
constexpr int kSeals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;

absl::Status ErrnoError(absl::string_view what, int error) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(error));
  if (error == ENOMEM || error == ENOSPC || error == EMFILE || error == ENFILE) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::InternalError(message);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SharedSegment>> SharedSegment::Create(const std::string& name,
                                                                     absl::string_view bytes) {
  const int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return ErrnoError("memfd_create", errno);
  // write() fills the file's pages inside the kernel: no page faults in this process and
  // no mapping to tear down afterwards.
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : ENOSPC;
      close(fd);
      return ErrnoError("writing a shared-memory segment", error);
    }
    written += static_cast<size_t>(n);
  }
  // Sealed before its ref exists, so no other process ever sees it writable. F_SEAL_WRITE
  // fails while a writable shared mapping exists, and there is none: the bytes went in
  // with write(). It costs a walk over the pages (about 0.5-1 ms per 100 MiB, 1% of
  // writing them); F_SEAL_FUTURE_WRITE (Linux 5.1) would take microseconds, but it
  // promises less (writable mappings that exist, and pinned pages, keep writing), and
  // F_SEAL_WRITE is the one seal a reader can check for on any kernel since 3.17.
  if (fcntl(fd, F_ADD_SEALS, kSeals) != 0) {
    const int error = errno;
    close(fd);
    return ErrnoError("sealing a shared-memory segment", error);
  }
  struct stat info;
  if (fstat(fd, &info) != 0) {
    const int error = errno;
    close(fd);
    return ErrnoError("fstat of a shared-memory segment", error);
  }
  SharedSegmentRef ref;
  ref.pid = getpid();
  ref.fd = fd;
  ref.size = bytes.size();
  ref.inode = info.st_ino;
  return std::unique_ptr<SharedSegment>(new SharedSegment(ref));
}

SharedSegment::~SharedSegment() { close(ref_.fd); }

absl::StatusOr<std::unique_ptr<MappedSegment>> MappedSegment::Open(const SharedSegmentRef& ref) {
  const std::string path = absl::StrCat("/proc/", ref.pid, "/fd/", ref.fd);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) {
      return absl::NotFoundError(absl::StrCat("shared-memory segment ", path, " is gone"));
    }
    if (error == EACCES || error == EPERM) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot open ", path, ": ", std::strerror(error)));
    }
    return ErrnoError(absl::StrCat("opening ", path), error);
  }
  struct stat info;
  if (fstat(fd, &info) != 0) {
    const int error = errno;
    close(fd);
    return ErrnoError("fstat of a shared-memory segment", error);
  }
  if (info.st_ino != ref.inode) {
    close(fd);
    return absl::NotFoundError(
        absl::StrCat("shared-memory segment ", path, " is gone (the descriptor was reused)"));
  }
  if (static_cast<uint64_t>(info.st_size) != ref.size) {
    close(fd);
    return absl::DataLossError(absl::StrCat("shared-memory segment ", path, " holds ", info.st_size,
                                            " bytes, expected ", ref.size));
  }
  // One system call: a segment that is not sealed could be changed under the task (it
  // did not come from SharedSegment::Create), so it is refused, never mapped.
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & kSeals) != kSeals) {
    close(fd);
    return absl::DataLossError(
        absl::StrCat("shared-memory segment ", path, " is not sealed against writes"));
  }
  if (ref.size == 0) {
    close(fd);
    return std::unique_ptr<MappedSegment>(new MappedSegment(nullptr, 0));
  }
  // MAP_POPULATE maps every page now, in one pass, rather than one fault at a time as the
  // task reads.
  void* data = mmap(nullptr, ref.size, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  const int error = errno;
  close(fd);  // the mapping keeps the memory
  if (data == MAP_FAILED) return ErrnoError("mmap of a shared-memory segment", error);
  return std::unique_ptr<MappedSegment>(new MappedSegment(data, ref.size));
}

MappedSegment::~MappedSegment() {
  if (data_ != nullptr) munmap(data_, size_);
}

}  // namespace unidist
