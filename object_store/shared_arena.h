// Copyright 2026 The unidist-cpp Authors.
//
// SharedArena: the session's shared-memory object store — one memory file (memfd_create)
// that the driver maps read-write and every worker process maps read-only, carved into
// objects by an allocator that reuses freed space.
//
// Why one file, reused: the first touch of a page costs a fault (on our VMs fresh memory
// fills at about 1 GB/s, against 10 GB/s and more for memcpy into mapped pages). A new
// file per object pays that on every Put and again in every reader. Here a freed object's
// pages go back to the allocator still mapped, so in steady state a Put is one memcpy, and
// a worker that read an object once has its pages mapped for the next one.
//
// Who allocates: only the driver, through this class. Workers never touch the allocator's
// data (they map the file read-only and read objects at offsets the driver gives them),
// so a worker that dies at any instant leaves no lock held and nothing half-changed.
// The allocator is Boost.Interprocess's rbtree_best_fit (best fit, neighbours coalesced on
// free, O(log n)), placed in the file's first bytes with null_mutex_family: the lock that
// guards it is an absl::Mutex in the driver's memory, never one in shared memory.
//
// Blocks are whole pages, page-aligned, so a writer that maps a block never shares a page
// with another object; Allocate can place one chosen byte of the block on a 64-byte
// boundary (the first element of a vector after its codec header), so readers can use
// the elements as an aligned T array.
//
// Workers write their large results into the store too, into space the driver allocated
// for them: ShareWithChildren, called just before the driver forks the process its
// workers are forked from, maps the file read-write once more, for the children to
// inherit; SealWrites, once that process exists, drops the driver's copy of that mapping
// and seals the file. A worker (InheritedArena) keeps its inherited mapping read-only and
// opens only the pages of the block it writes, only while it writes them.
//
// Immutability: readers see objects read-only, so a task that writes through its view of
// an object faults instead of changing it. The file is sealed against resizing from the
// start (F_SEAL_GROW, F_SEAL_SHRINK), so nobody can truncate it under a mapping, and by
// SealWrites against writes (F_SEAL_FUTURE_WRITE, F_SEAL_SEAL): no process, even one that
// opens it read-write through /proc/<pid>/fd or /proc/<pid>/map_files, can write() to it
// or map it writable. The writable views are the driver's own mapping (not inherited by
// its children: MADV_DONTFORK) and the one the workers inherited, which they keep
// read-only except for their own block as they write it (a task that deliberately
// mprotect()s it can write, as it could ptrace the driver). On kernels before 5.1 (no
// F_SEAL_FUTURE_WRITE) only the size seals are set.
//
// Lifetime: each Block holds its arena; the file goes when the last Block and the
// SharedArena are gone and every reader has unmapped it (at the latest when the readers
// exit). Nothing is left on disk: a memfd has no name in the file system.
//
// Thread-safe: every method may be called from any thread.

#ifndef UNIDIST_OBJECT_STORE_SHARED_ARENA_H_
#define UNIDIST_OBJECT_STORE_SHARED_ARENA_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/object_bytes.h"

namespace unidist {

// How another process finds the arena: it opens /proc/<pid>/fd/<fd> and checks the
// inode, so a descriptor number that was closed and reused is an error, never another
// file.
struct ArenaRef {
  pid_t pid = -1;
  int fd = -1;
  uint64_t inode = 0;
  uint64_t size = 0;  // of the whole file
};

// The driver's side: owns the file, its read-write mapping and the allocator.
class SharedArena : public std::enable_shared_from_this<SharedArena> {
 public:
  // Space in the arena, freed when the last shared_ptr to it goes.
  class Block {
   public:
    ~Block();
    Block(const Block&) = delete;
    Block& operator=(const Block&) = delete;

    // The block's usable bytes (size() of them), writable by the driver.
    char* data() const { return data_; }
    size_t size() const { return size_; }
    // Where data() is, in bytes from the start of the file.
    uint64_t offset() const;
    // The arena it is in.
    const SharedArena* arena() const { return arena_.get(); }

   private:
    friend class SharedArena;
    Block(std::shared_ptr<SharedArena> arena, void* allocation, size_t allocated, char* data,
          size_t size)
        : arena_(std::move(arena)),
          allocation_(allocation),
          allocated_(allocated),
          data_(data),
          size_(size) {}

    const std::shared_ptr<SharedArena> arena_;
    void* const allocation_;
    const size_t allocated_;  // whole pages
    char* const data_;
    const size_t size_;
  };

  // A new arena of `capacity` bytes (rounded up to whole pages; the allocator keeps a few
  // hundred bytes of it), named `name` in /proc/<pid>/fd ("/memfd:<name>"). Only address
  // space until used: the pages are allocated as objects are first written.
  // InvalidArgument if `capacity` is below 1 MiB; ResourceExhausted if the system has no
  // memory, address space or descriptors left; Internal for other failures.
  static absl::StatusOr<std::shared_ptr<SharedArena>> Create(const std::string& name,
                                                             size_t capacity);
  ~SharedArena();
  SharedArena(const SharedArena&) = delete;
  SharedArena& operator=(const SharedArena&) = delete;

  // Makes the file writable for the processes this one forks next (see the file comment):
  // maps it read-write without MADV_DONTFORK and publishes that mapping for
  // InheritedArena::Get in the children. Call once, before forking; then SealWrites.
  absl::Status ShareWithChildren();
  // Drops this process's inheritable mapping (the children keep theirs) and seals the
  // file against writes through any other descriptor or new mapping. Call once the
  // processes that are to inherit the mapping have been forked.
  void SealWrites();

  // A block of `size` bytes (at least 1) whose byte at `aligned_at` (< size, or 0) sits
  // on a 64-byte boundary. ResourceExhausted, naming the sizes, if the arena has no free
  // run of pages that large.
  absl::StatusOr<std::shared_ptr<Block>> Allocate(size_t size, size_t aligned_at = 0);

  const ArenaRef& ref() const { return ref_; }
  // The file's bytes, for reading an object at an offset (the driver's mapping).
  const char* base() const { return base_; }
  size_t file_size() const { return ref_.size; }
  // Bytes held by blocks (whole pages each) and the number of blocks.
  size_t bytes_in_use() const;
  size_t blocks() const;
  // The most bytes bytes_in_use() has reached: the pages the file holds in memory.
  size_t high_water_bytes() const;

 private:
  SharedArena(ArenaRef ref, char* base) : ref_(ref), base_(base) {}
  void Free(void* allocation, size_t allocated);

  const ArenaRef ref_;
  char* const base_;
  char* inheritable_ = nullptr;  // ShareWithChildren's mapping, until SealWrites
  mutable absl::Mutex mu_;
  size_t bytes_in_use_ ABSL_GUARDED_BY(mu_) = 0;
  size_t blocks_ ABSL_GUARDED_BY(mu_) = 0;
  size_t high_water_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// The first `size` bytes of `block` as an object's bytes, which keep the block (and so
// its space in the store) alive.
std::shared_ptr<const ObjectBytes> StoredBytes(std::shared_ptr<SharedArena::Block> block,
                                               size_t size);

// The block of `blocks` at `offset`, taken out of it (its slot left null); null if none
// is there. For matching the results a worker reports with the space it was given.
std::shared_ptr<SharedArena::Block> TakeBlockAt(
    uint64_t offset, std::vector<std::shared_ptr<SharedArena::Block>>* blocks);

// A reader's read-only mapping of an arena (a worker's, for the objects its tasks read).
class ArenaMapping {
 public:
  // Maps the arena `ref` names, read-only. NotFound if it is gone (the driver closed it,
  // or the descriptor now names another file); PermissionDenied if this process may not
  // open the driver's descriptors; DataLoss if its size differs from ref.size or it can
  // still grow or shrink; Internal or ResourceExhausted if mapping failed.
  static absl::StatusOr<std::unique_ptr<ArenaMapping>> Open(const ArenaRef& ref);
  ~ArenaMapping();
  ArenaMapping(const ArenaMapping&) = delete;
  ArenaMapping& operator=(const ArenaMapping&) = delete;

  const ArenaRef& ref() const { return ref_; }
  // The `size` bytes at `offset`; DataLoss if they are not all inside the file.
  absl::StatusOr<absl::string_view> Bytes(uint64_t offset, uint64_t size) const;

 private:
  ArenaMapping(ArenaRef ref, const char* data) : ref_(ref), data_(data) {}
  const ArenaRef ref_;
  const char* const data_;
};

// A worker's view of the store through the mapping it inherited (ShareWithChildren): it
// reads objects there and writes the results the driver allocated space for.
class InheritedArena {
 public:
  // The mapping this process inherited, made read-only on the first call; null in a
  // process that inherited none (the driver itself, or a process forked otherwise).
  static InheritedArena* Get();

  // The store's inode and size, to recognise an ArenaRef as this store.
  uint64_t inode() const { return inode_; }
  uint64_t size() const { return size_; }
  // The `size` bytes at `offset`; DataLoss if they are not all inside the file.
  absl::StatusOr<absl::string_view> Bytes(uint64_t offset, uint64_t size) const;
  // Makes the pages of the `size` bytes at `offset` writable, calls `write` with their
  // address, and makes them read-only again. DataLoss if the range is not inside the file;
  // Internal if the pages cannot be made writable; else `write`'s status.
  absl::Status Write(uint64_t offset, uint64_t size,
                     absl::FunctionRef<absl::Status(char* out)> write);
  // The same in two steps, for space a task fills in over time (unidist::Allocate inside a
  // task): OpenForWriting makes the pages writable and returns the address of `offset`;
  // CloseForWriting makes them read-only again. Errors as Write's.
  absl::StatusOr<char*> OpenForWriting(uint64_t offset, uint64_t size);
  void CloseForWriting(uint64_t offset, uint64_t size);

 private:
  InheritedArena(char* base, uint64_t size, uint64_t inode)
      : base_(base), size_(size), inode_(inode) {}
  char* const base_;
  const uint64_t size_;
  const uint64_t inode_;
};

}  // namespace unidist

#endif  // UNIDIST_OBJECT_STORE_SHARED_ARENA_H_
