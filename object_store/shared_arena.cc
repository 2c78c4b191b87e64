// Copyright 2026 The unidist-cpp Authors.

#include "object_store/shared_arena.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"
#include "boost/interprocess/mem_algo/rbtree_best_fit.hpp"
#include "boost/interprocess/sync/mutex_family.hpp"

namespace unidist {
namespace {

// The allocator, in the file's first bytes. null_mutex_family: SharedArena::mu_ guards
// it, so no lock lives in shared memory; raw pointers, since only the driver, with its
// one mapping, ever reads these structures.
using Allocator =
    boost::interprocess::rbtree_best_fit<boost::interprocess::null_mutex_family, void*>;

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010  // Linux 5.1; older C libraries lack the name
#endif

constexpr size_t kPage = 4096;
constexpr size_t kAlignment = 64;  // of the byte Allocate's caller chose
constexpr size_t kMinCapacity = size_t{1} << 20;
// What a reader requires: nobody can change the file's size under a mapping.
constexpr int kSizeSeals = F_SEAL_GROW | F_SEAL_SHRINK;

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

absl::Status ErrnoError(absl::string_view what, int error) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(error));
  if (error == ENOMEM || error == ENOSPC || error == EMFILE || error == ENFILE) {
    return absl::ResourceExhaustedError(message);
  }
  return absl::InternalError(message);
}

// The mapping ShareWithChildren made, as the children see it (they inherit this variable
// with their copy of the memory). Written only before forking and in SealWrites.
struct InheritedMapping {
  char* base = nullptr;
  uint64_t size = 0;
  uint64_t inode = 0;
};
InheritedMapping g_inherited;

Allocator* AllocatorAt(const char* base) {
  return reinterpret_cast<Allocator*>(const_cast<char*>(base));
}

}  // namespace

absl::StatusOr<std::shared_ptr<SharedArena>> SharedArena::Create(const std::string& name,
                                                                 size_t capacity) {
  if (capacity < kMinCapacity) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a shared-memory store of ", capacity, " bytes is too small: the least is ", kMinCapacity));
  }
  const size_t size = RoundUp(capacity, kPage);
  const int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return ErrnoError("memfd_create", errno);
  auto fail = [fd](absl::string_view what) {
    const int error = errno;
    close(fd);
    return ErrnoError(what, error);
  };
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) return fail("sizing the shared-memory store");
  struct stat info;
  if (fstat(fd, &info) != 0) return fail("fstat of the shared-memory store");
  // MAP_NORESERVE: address space now, memory only as objects are written.
  void* mapped = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
  if (mapped == MAP_FAILED) return fail("mmap of the shared-memory store");
  // Sealed before any other process can see it: a truncation under a mapping would make
  // every access past the new end a SIGBUS. (Writes are sealed by SealWrites.)
  if (fcntl(fd, F_ADD_SEALS, kSizeSeals) != 0) {
    const int error = errno;
    munmap(mapped, size);
    close(fd);
    return ErrnoError("sealing the shared-memory store's size", error);
  }
  // A process the driver forks (the user's, or a fork server started later) must not
  // inherit a writable view of every object.
  madvise(mapped, size, MADV_DONTFORK);
  char* const base = static_cast<char*>(mapped);
  new (base) Allocator(size, 0);
  ArenaRef ref;
  ref.pid = getpid();
  ref.fd = fd;
  ref.inode = info.st_ino;
  ref.size = size;
  return std::shared_ptr<SharedArena>(new SharedArena(ref, base));
}

absl::Status SharedArena::ShareWithChildren() {
  void* mapped =
      mmap(nullptr, ref_.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, ref_.fd, 0);
  if (mapped == MAP_FAILED) return ErrnoError("mmap of the shared-memory store", errno);
  inheritable_ = static_cast<char*>(mapped);
  g_inherited = InheritedMapping{inheritable_, ref_.size, ref_.inode};
  return absl::OkStatus();
}

void SharedArena::SealWrites() {
  if (inheritable_ != nullptr) {
    munmap(inheritable_, ref_.size);
    inheritable_ = nullptr;
    g_inherited = InheritedMapping();
  }
  // F_SEAL_FUTURE_WRITE: from now on no write() and no new writable mapping, through any
  // descriptor. (Linux >= 5.1; without it, the store works and stays writable through
  // /proc, as the header says.)
  if (fcntl(ref_.fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) != 0) {
    fcntl(ref_.fd, F_ADD_SEALS, F_SEAL_SEAL);
  }
}

SharedArena::~SharedArena() {
  if (inheritable_ != nullptr) {
    munmap(inheritable_, ref_.size);
    g_inherited = InheritedMapping();
  }
  AllocatorAt(base_)->~Allocator();
  munmap(base_, ref_.size);
  close(ref_.fd);
}

absl::StatusOr<std::shared_ptr<SharedArena::Block>> SharedArena::Allocate(size_t size,
                                                                          size_t aligned_at) {
  if (size == 0) size = 1;
  if (aligned_at >= size) aligned_at = 0;
  // The chosen byte lands on a 64-byte boundary when the block starts `pad` bytes into a
  // page-aligned allocation.
  const size_t pad = (kAlignment - aligned_at % kAlignment) % kAlignment;
  if (size > ref_.size) {
    return absl::ResourceExhaustedError(
        absl::StrCat("an object of ", size, " bytes does not fit in the shared-memory store (",
                     ref_.size, " bytes; see Options::object_store_memory)"));
  }
  const size_t allocated = RoundUp(size + pad, kPage);
  void* allocation = nullptr;
  {
    absl::MutexLock lock(&mu_);
    allocation = AllocatorAt(base_)->allocate_aligned(allocated, kPage);
    if (allocation != nullptr) {
      bytes_in_use_ += allocated;
      ++blocks_;
      high_water_bytes_ = std::max(high_water_bytes_, bytes_in_use_);
    } else {
      return absl::ResourceExhaustedError(
          absl::StrCat("the shared-memory store has no room for ", size, " bytes: ", bytes_in_use_,
                       " of its ", ref_.size, " bytes are in use by ", blocks_,
                       " objects (see Options::object_store_memory)"));
    }
  }
  char* const data = static_cast<char*>(allocation) + pad;
  return std::shared_ptr<Block>(new Block(shared_from_this(), allocation, allocated, data, size));
}

void SharedArena::Free(void* allocation, size_t allocated) {
  absl::MutexLock lock(&mu_);
  AllocatorAt(base_)->deallocate(allocation);
  bytes_in_use_ -= allocated;
  --blocks_;
}

size_t SharedArena::bytes_in_use() const {
  absl::MutexLock lock(&mu_);
  return bytes_in_use_;
}

size_t SharedArena::blocks() const {
  absl::MutexLock lock(&mu_);
  return blocks_;
}

size_t SharedArena::high_water_bytes() const {
  absl::MutexLock lock(&mu_);
  return high_water_bytes_;
}

SharedArena::Block::~Block() { arena_->Free(allocation_, allocated_); }

uint64_t SharedArena::Block::offset() const {
  return static_cast<uint64_t>(data_ - arena_->base());
}

absl::StatusOr<std::unique_ptr<ArenaMapping>> ArenaMapping::Open(const ArenaRef& ref) {
  const std::string path = absl::StrCat("/proc/", ref.pid, "/fd/", ref.fd);
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) {
      return absl::NotFoundError(absl::StrCat("the shared-memory store ", path, " is gone"));
    }
    if (error == EACCES || error == EPERM) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot open the shared-memory store ", path, ": ", std::strerror(error)));
    }
    return ErrnoError(absl::StrCat("opening ", path), error);
  }
  auto fail = [fd](absl::Status status) {
    close(fd);
    return status;
  };
  struct stat info;
  if (fstat(fd, &info) != 0) return fail(ErrnoError("fstat of the shared-memory store", errno));
  if (info.st_ino != ref.inode) {
    return fail(absl::NotFoundError(
        absl::StrCat("the shared-memory store ", path, " is gone (the descriptor was reused)")));
  }
  if (static_cast<uint64_t>(info.st_size) != ref.size) {
    return fail(absl::DataLossError(absl::StrCat("the shared-memory store ", path, " holds ",
                                                 info.st_size, " bytes, expected ", ref.size)));
  }
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & kSizeSeals) != kSizeSeals) {
    return fail(absl::DataLossError(
        absl::StrCat("the shared-memory store ", path, " is not sealed against resizing")));
  }
  void* data = mmap(nullptr, ref.size, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
  const int error = errno;
  close(fd);  // the mapping keeps the file
  if (data == MAP_FAILED) return ErrnoError("mmap of the shared-memory store", error);
  return std::unique_ptr<ArenaMapping>(new ArenaMapping(ref, static_cast<const char*>(data)));
}

ArenaMapping::~ArenaMapping() { munmap(const_cast<char*>(data_), ref_.size); }

absl::StatusOr<absl::string_view> ArenaMapping::Bytes(uint64_t offset, uint64_t size) const {
  if (offset > ref_.size || size > ref_.size - offset) {
    return absl::DataLossError(absl::StrCat("an object at ", offset, " of ", size,
                                            " bytes is outside the shared-memory store (",
                                            ref_.size, " bytes)"));
  }
  return absl::string_view(data_ + offset, size);
}

std::shared_ptr<const ObjectBytes> StoredBytes(std::shared_ptr<SharedArena::Block> block,
                                               size_t size) {
  const absl::string_view bytes(block->data(), size);
  const SharedArena* arena = block->arena();
  const uint64_t offset = block->offset();
  return std::make_shared<const ObjectBytes>(bytes, std::move(block), arena, offset);
}

std::shared_ptr<SharedArena::Block> TakeBlockAt(
    uint64_t offset, std::vector<std::shared_ptr<SharedArena::Block>>* blocks) {
  for (std::shared_ptr<SharedArena::Block>& block : *blocks) {
    if (block != nullptr && block->offset() == offset) return std::move(block);
  }
  return nullptr;
}

InheritedArena* InheritedArena::Get() {
  // Made once, from what this process inherited; read-only from the first use on.
  static InheritedArena* const inherited = []() -> InheritedArena* {
    if (g_inherited.base == nullptr) return nullptr;
    if (mprotect(g_inherited.base, g_inherited.size, PROT_READ) != 0) return nullptr;
    return new InheritedArena(g_inherited.base, g_inherited.size, g_inherited.inode);
  }();
  return inherited;
}

absl::StatusOr<absl::string_view> InheritedArena::Bytes(uint64_t offset, uint64_t size) const {
  if (offset > size_ || size > size_ - offset) {
    return absl::DataLossError(absl::StrCat("an object at ", offset, " of ", size,
                                            " bytes is outside the shared-memory store (", size_,
                                            " bytes)"));
  }
  return absl::string_view(base_ + offset, size);
}

absl::Status InheritedArena::Write(uint64_t offset, uint64_t size,
                                   absl::FunctionRef<absl::Status(char* out)> write) {
  absl::StatusOr<char*> out = OpenForWriting(offset, size);
  if (!out.ok()) return out.status();
  const absl::Status written = write(*out);
  CloseForWriting(offset, size);
  return written;
}

absl::StatusOr<char*> InheritedArena::OpenForWriting(uint64_t offset, uint64_t size) {
  if (offset > size_ || size > size_ - offset) {
    return absl::DataLossError(absl::StrCat("space at ", offset, " of ", size,
                                            " bytes is outside the shared-memory store (", size_,
                                            " bytes)"));
  }
  const uint64_t first = offset / kPage * kPage;
  const uint64_t end = std::min<uint64_t>(RoundUp(offset + size, kPage), size_);
  if (mprotect(base_ + first, end - first, PROT_READ | PROT_WRITE) != 0) {
    return ErrnoError("opening space in the shared-memory store for writing", errno);
  }
  return base_ + offset;
}

void InheritedArena::CloseForWriting(uint64_t offset, uint64_t size) {
  if (offset > size_ || size > size_ - offset) return;  // OpenForWriting refused it
  const uint64_t first = offset / kPage * kPage;
  const uint64_t end = std::min<uint64_t>(RoundUp(offset + size, kPage), size_);
  mprotect(base_ + first, end - first, PROT_READ);
}

}  // namespace unidist
