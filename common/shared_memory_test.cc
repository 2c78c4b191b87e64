// Copyright 2026 The unidist-cpp Authors.

#include "common/shared_memory.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace unidist {
namespace {

TEST(SharedMemoryTest, AnotherProcessMapsWhatTheCreatorWrote) {
  const std::string value(3 * 4096 + 5, 'v');
  absl::StatusOr<std::unique_ptr<SharedSegment>> segment = SharedSegment::Create("test", value);
  ASSERT_TRUE(segment.ok()) << segment.status();
  const SharedSegmentRef ref = (*segment)->ref();
  EXPECT_EQ(ref.size, value.size());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    absl::StatusOr<std::unique_ptr<MappedSegment>> mapped = MappedSegment::Open(ref);
    _exit(mapped.ok() && (*mapped)->bytes() == value ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(SharedMemoryTest, AClosedSegmentIsNotFound) {
  SharedSegmentRef ref;
  {
    absl::StatusOr<std::unique_ptr<SharedSegment>> segment = SharedSegment::Create("test", "abc");
    ASSERT_TRUE(segment.ok());
    ref = (*segment)->ref();
  }
  EXPECT_EQ(MappedSegment::Open(ref).status().code(), absl::StatusCode::kNotFound);
}

TEST(SharedMemoryTest, AReusedDescriptorIsNotFound) {
  absl::StatusOr<std::unique_ptr<SharedSegment>> first = SharedSegment::Create("test", "one");
  ASSERT_TRUE(first.ok());
  const SharedSegmentRef ref = (*first)->ref();
  first->reset();
  // The next segment most likely gets the same descriptor number; either way the old ref
  // must not open it.
  absl::StatusOr<std::unique_ptr<SharedSegment>> second = SharedSegment::Create("test", "two");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(MappedSegment::Open(ref).status().code(), absl::StatusCode::kNotFound);
}

TEST(SharedMemoryTest, ASizeMismatchIsDataLoss) {
  absl::StatusOr<std::unique_ptr<SharedSegment>> segment = SharedSegment::Create("test", "abc");
  ASSERT_TRUE(segment.ok());
  SharedSegmentRef ref = (*segment)->ref();
  ref.size = 4;
  EXPECT_EQ(MappedSegment::Open(ref).status().code(), absl::StatusCode::kDataLoss);
}

TEST(SharedMemoryTest, EmptySegmentAndMissingProcess) {
  absl::StatusOr<std::unique_ptr<SharedSegment>> segment = SharedSegment::Create("test", "");
  ASSERT_TRUE(segment.ok());
  absl::StatusOr<std::unique_ptr<MappedSegment>> mapped = MappedSegment::Open((*segment)->ref());
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_TRUE((*mapped)->bytes().empty());
  SharedSegmentRef nowhere = (*segment)->ref();
  nowhere.pid = 0x3fffffff;  // above pid_max: no such process
  EXPECT_EQ(MappedSegment::Open(nowhere).status().code(), absl::StatusCode::kNotFound);
}

// A read-write descriptor of the segment, opened the way another process of the same user
// could: through /proc.
int OpenReadWrite(const SharedSegmentRef& ref) {
  return open(absl::StrCat("/proc/", ref.pid, "/fd/", ref.fd).c_str(), O_RDWR | O_CLOEXEC);
}

TEST(SharedMemoryTest, ASegmentIsSealedAgainstEveryChange) {
  const std::string value(2 * 4096, 'v');
  absl::StatusOr<std::unique_ptr<SharedSegment>> segment = SharedSegment::Create("test", value);
  ASSERT_TRUE(segment.ok()) << segment.status();
  const SharedSegmentRef ref = (*segment)->ref();
  const int seals = fcntl(ref.fd, F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
            F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  // The creator's own descriptor (opened read-write by memfd_create) and a fresh one.
  const int reopened = OpenReadWrite(ref);
  ASSERT_GE(reopened, 0) << std::strerror(errno);
  for (const int fd : {ref.fd, reopened}) {
    SCOPED_TRACE(fd == ref.fd ? "the creator's descriptor" : "reopened through /proc");
    errno = 0;
    EXPECT_EQ(write(fd, "x", 1), -1);
    EXPECT_EQ(errno, EPERM);
    errno = 0;
    EXPECT_EQ(pwrite(fd, "x", 1, 5), -1);
    EXPECT_EQ(errno, EPERM);
    errno = 0;
    EXPECT_EQ(ftruncate(fd, 1), -1);  // shrink
    EXPECT_EQ(errno, EPERM);
    errno = 0;
    EXPECT_EQ(ftruncate(fd, 4 * 4096), -1);  // grow
    EXPECT_EQ(errno, EPERM);
    errno = 0;
    void* writable = mmap(nullptr, value.size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_EQ(writable, MAP_FAILED);
    EXPECT_EQ(errno, EPERM);
    if (writable != MAP_FAILED) munmap(writable, value.size());
    errno = 0;
    EXPECT_EQ(fcntl(fd, F_ADD_SEALS, 0), -1);  // the seals cannot be changed either
    EXPECT_EQ(errno, EPERM);
  }
  close(reopened);
  absl::StatusOr<std::unique_ptr<MappedSegment>> mapped = MappedSegment::Open(ref);
  ASSERT_TRUE(mapped.ok()) << mapped.status();
  EXPECT_EQ((*mapped)->bytes(), value);
}

TEST(SharedMemoryTest, AnUnsealedSegmentIsDataLoss) {
  const int fd = memfd_create("unsealed", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "abc", 3), 3);
  struct stat info;
  ASSERT_EQ(fstat(fd, &info), 0);
  SharedSegmentRef ref;
  ref.pid = getpid();
  ref.fd = fd;
  ref.size = 3;
  ref.inode = info.st_ino;
  EXPECT_EQ(MappedSegment::Open(ref).status().code(), absl::StatusCode::kDataLoss);
  close(fd);
}

}  // namespace
}  // namespace unidist
