// Copyright 2026 The unidist-cpp Authors.

#include "object_store/shared_arena.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace unidist {
namespace {

using ::testing::HasSubstr;

constexpr size_t kMiB = size_t{1} << 20;

std::shared_ptr<SharedArena> NewArena(size_t capacity) {
  absl::StatusOr<std::shared_ptr<SharedArena>> arena = SharedArena::Create("arena-test", capacity);
  EXPECT_TRUE(arena.ok()) << arena.status();
  return arena.ok() ? *arena : nullptr;
}

// Runs `child` in a forked process and returns its wait status.
template <typename F>
int InChild(F child) {
  const pid_t pid = fork();
  if (pid == 0) _exit(child());
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

TEST(SharedArenaTest, AnotherProcessReadsWhatTheDriverWrote) {
  std::shared_ptr<SharedArena> arena = NewArena(16 * kMiB);
  ASSERT_NE(arena, nullptr);
  absl::StatusOr<std::shared_ptr<SharedArena::Block>> block = arena->Allocate(3 * kMiB + 5);
  ASSERT_TRUE(block.ok()) << block.status();
  std::string expected(3 * kMiB + 5, '\0');
  for (size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<char>(i * 7);
  std::memcpy((*block)->data(), expected.data(), expected.size());
  const uint64_t offset = (*block)->offset();
  const ArenaRef ref = arena->ref();
  const int status = InChild([&] {
    absl::StatusOr<std::unique_ptr<ArenaMapping>> mapping = ArenaMapping::Open(ref);
    if (!mapping.ok()) return 2;
    absl::StatusOr<absl::string_view> bytes = (*mapping)->Bytes(offset, expected.size());
    if (!bytes.ok()) return 3;
    return *bytes == expected ? 0 : 4;
  });
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(SharedArenaTest, PlacesTheChosenByteOnA64ByteBoundary) {
  std::shared_ptr<SharedArena> arena = NewArena(8 * kMiB);
  ASSERT_NE(arena, nullptr);
  for (size_t aligned_at : {0, 1, 9, 17, 63, 64, 100}) {
    absl::StatusOr<std::shared_ptr<SharedArena::Block>> block = arena->Allocate(1000, aligned_at);
    ASSERT_TRUE(block.ok()) << block.status();
    EXPECT_EQ(reinterpret_cast<uintptr_t>((*block)->data() + aligned_at) % 64, 0u) << aligned_at;
    EXPECT_EQ((*block)->offset(), static_cast<uint64_t>((*block)->data() - arena->base()));
  }
}

TEST(SharedArenaTest, StoredBytesKeepTheirBlockAndTakeBlockAtMatchesByOffset) {
  absl::StatusOr<std::shared_ptr<SharedArena>> arena = SharedArena::Create("helpers", 8 * kMiB);
  ASSERT_TRUE(arena.ok()) << arena.status();
  std::vector<std::shared_ptr<SharedArena::Block>> blocks;
  for (int i = 0; i < 2; ++i) blocks.push_back(*(*arena)->Allocate(100));
  std::memcpy(blocks[1]->data(), "hello", 5);
  const uint64_t second = blocks[1]->offset();
  EXPECT_EQ(TakeBlockAt(second + 1, &blocks), nullptr);  // no block starts there
  std::shared_ptr<SharedArena::Block> taken = TakeBlockAt(second, &blocks);
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(taken->offset(), second);
  EXPECT_EQ(blocks[1], nullptr);                     // taken out
  EXPECT_EQ(TakeBlockAt(second, &blocks), nullptr);  // once only
  std::shared_ptr<const ObjectBytes> bytes = StoredBytes(std::move(taken), 5);
  EXPECT_EQ(bytes->view(), "hello");
  EXPECT_EQ(bytes->store(), arena->get());
  EXPECT_EQ(bytes->store_offset(), second);
  blocks.clear();
  EXPECT_EQ((*arena)->blocks(), 1u);  // the bytes keep their block
  bytes.reset();
  EXPECT_EQ((*arena)->blocks(), 0u);
}

TEST(SharedArenaTest, FreedSpaceIsReused) {
  std::shared_ptr<SharedArena> arena = NewArena(64 * kMiB);
  ASSERT_NE(arena, nullptr);
  uint64_t first_offset = 0;
  {
    absl::StatusOr<std::shared_ptr<SharedArena::Block>> block = arena->Allocate(32 * kMiB);
    ASSERT_TRUE(block.ok()) << block.status();
    first_offset = (*block)->offset();
    EXPECT_EQ(arena->blocks(), 1u);
    EXPECT_GE(arena->bytes_in_use(), 32 * kMiB);
  }
  EXPECT_EQ(arena->blocks(), 0u);
  EXPECT_EQ(arena->bytes_in_use(), 0u);
  // The same pages again: already touched, so the next writer pays no faults.
  for (int round = 0; round < 10; ++round) {
    absl::StatusOr<std::shared_ptr<SharedArena::Block>> block = arena->Allocate(32 * kMiB);
    ASSERT_TRUE(block.ok()) << block.status();
    EXPECT_EQ((*block)->offset(), first_offset);
  }
  EXPECT_LE(arena->high_water_bytes(), 33 * kMiB);
}

TEST(SharedArenaTest, AFullArenaSaysSoAndRecoversWhenSpaceIsFreed) {
  std::shared_ptr<SharedArena> arena = NewArena(8 * kMiB);
  ASSERT_NE(arena, nullptr);
  absl::StatusOr<std::shared_ptr<SharedArena::Block>> too_big = arena->Allocate(9 * kMiB);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(too_big.status().message(), HasSubstr("object_store_memory"));

  std::vector<std::shared_ptr<SharedArena::Block>> held;
  absl::Status full;
  while (full.ok()) {
    absl::StatusOr<std::shared_ptr<SharedArena::Block>> block = arena->Allocate(kMiB);
    if (block.ok()) {
      held.push_back(*std::move(block));
    } else {
      full = block.status();
    }
  }
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.message(), HasSubstr("no room for"));
  EXPECT_GE(held.size(), 6u);
  held.pop_back();
  EXPECT_TRUE(arena->Allocate(kMiB).ok());
}

TEST(SharedArenaTest, ABlockKeepsItsArena) {
  std::shared_ptr<SharedArena::Block> block;
  {
    std::shared_ptr<SharedArena> arena = NewArena(4 * kMiB);
    ASSERT_NE(arena, nullptr);
    block = *arena->Allocate(100);
  }
  std::memset(block->data(), 1, block->size());  // still mapped
  block.reset();                                 // now the arena goes
}

TEST(SharedArenaTest, ReadersCannotWriteOrResize) {
  std::shared_ptr<SharedArena> arena = NewArena(4 * kMiB);
  ASSERT_NE(arena, nullptr);
  arena->SealWrites();
  absl::StatusOr<std::shared_ptr<SharedArena::Block>> block = arena->Allocate(100);
  ASSERT_TRUE(block.ok());
  const uint64_t offset = (*block)->offset();
  const ArenaRef ref = arena->ref();
  // A write through a reader's view faults.
  const int status = InChild([&] {
    absl::StatusOr<std::unique_ptr<ArenaMapping>> mapping = ArenaMapping::Open(ref);
    if (!mapping.ok()) return 2;
    char* byte = const_cast<char*>((*mapping)->Bytes(offset, 1)->data());
    *static_cast<volatile char*>(byte) = 1;
    return 0;
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGSEGV);
  // Nobody can shrink the file under the mappings, not even through a read-write open.
  const std::string path = absl::StrCat("/proc/self/fd/", ref.fd);
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_NE(ftruncate(fd, 4096), 0);
  EXPECT_EQ(errno, EPERM);
  // Nor write to it, nor map it writable: only the driver's own mapping writes.
  EXPECT_EQ(pwrite(fd, "x", 1, static_cast<off_t>(offset)), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), MAP_FAILED);
  EXPECT_EQ(errno, EPERM);
  close(fd);
  std::memset((*block)->data(), 2, 100);  // the driver still writes new objects
}

// A child forked between ShareWithChildren and SealWrites (as the fork server is) reads
// objects through its inherited mapping and writes into the block it was given, and
// only while InheritedArena::Write has it open.
TEST(SharedArenaTest, ChildrenWriteTheirBlockThroughTheInheritedMapping) {
  std::shared_ptr<SharedArena> arena = NewArena(16 * kMiB);
  ASSERT_NE(arena, nullptr);
  std::shared_ptr<SharedArena::Block> object = *arena->Allocate(5000);
  std::memset(object->data(), 'o', object->size());
  std::shared_ptr<SharedArena::Block> result = *arena->Allocate(2 * kMiB + 3);
  ASSERT_TRUE(arena->ShareWithChildren().ok());
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = fork();
  if (child == 0) {
    char byte;
    if (read(go[0], &byte, 1) != 1) _exit(2);
    InheritedArena* inherited = InheritedArena::Get();
    if (inherited == nullptr || inherited->inode() != arena->ref().inode) _exit(3);
    absl::StatusOr<absl::string_view> read_back = inherited->Bytes(object->offset(), 5000);
    if (!read_back.ok() || *read_back != std::string(5000, 'o')) _exit(4);
    const absl::Status written = inherited->Write(result->offset(), result->size(), [&](char* out) {
      std::memset(out, 'r', result->size());
      return absl::OkStatus();
    });
    if (!written.ok()) _exit(5);
    if (inherited->Write(arena->file_size(), 1, [](char*) { return absl::OkStatus(); }).ok()) {
      _exit(6);
    }
    // Outside Write the mapping is read-only again.
    *static_cast<volatile char*>(const_cast<char*>(read_back->data())) = 'x';
    _exit(0);
  }
  ASSERT_GT(child, 0);
  arena->SealWrites();
  // The driver's own process inherits nothing, and its children from now on neither.
  EXPECT_EQ(InheritedArena::Get(), nullptr);
  ASSERT_EQ(write(go[1], "g", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  close(go[0]);
  close(go[1]);
  ASSERT_TRUE(WIFSIGNALED(status)) << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  EXPECT_EQ(WTERMSIG(status), SIGSEGV);
  EXPECT_EQ(std::string(result->data(), result->size()), std::string(result->size(), 'r'));
  EXPECT_EQ(std::string(object->data(), object->size()), std::string(5000, 'o'));
}

TEST(ArenaMappingTest, RefusesWhatIsNotTheArena) {
  std::shared_ptr<SharedArena> arena = NewArena(4 * kMiB);
  ASSERT_NE(arena, nullptr);
  ArenaRef wrong_inode = arena->ref();
  ++wrong_inode.inode;
  EXPECT_EQ(ArenaMapping::Open(wrong_inode).status().code(), absl::StatusCode::kNotFound);
  ArenaRef wrong_size = arena->ref();
  wrong_size.size += 4096;
  EXPECT_EQ(ArenaMapping::Open(wrong_size).status().code(), absl::StatusCode::kDataLoss);
  ArenaRef closed = arena->ref();
  closed.fd = 1000000;
  EXPECT_EQ(ArenaMapping::Open(closed).status().code(), absl::StatusCode::kNotFound);
  // A file that is not sealed against resizing is refused.
  const int unsealed = memfd_create("unsealed", MFD_CLOEXEC);
  ASSERT_GE(unsealed, 0);
  ASSERT_EQ(ftruncate(unsealed, 4096), 0);
  struct stat info;
  ASSERT_EQ(fstat(unsealed, &info), 0);
  ArenaRef other{getpid(), unsealed, static_cast<uint64_t>(info.st_ino), 4096};
  EXPECT_EQ(ArenaMapping::Open(other).status().code(), absl::StatusCode::kDataLoss);
  close(unsealed);

  absl::StatusOr<std::unique_ptr<ArenaMapping>> mapping = ArenaMapping::Open(arena->ref());
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  EXPECT_EQ((*mapping)->Bytes(arena->file_size() - 10, 11).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ((*mapping)->Bytes(UINT64_MAX, 2).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE((*mapping)->Bytes(arena->file_size() - 10, 10).ok());
}

TEST(SharedArenaTest, RejectsATinyCapacity) {
  EXPECT_EQ(SharedArena::Create("tiny", 4096).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace unidist
