// Copyright 2026 The unidist-cpp Authors.

#include "common/shared_memory.h"

#include <sys/wait.h>
#include <unistd.h>

#include <string>

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

}  // namespace
}  // namespace unidist
