// Copyright 2026 The unidist-cpp Authors.
//
// Large objects through shared memory (Options::shared_memory_min_bytes): what the worker
// sees, and that the segments are freed with their objects, at Shutdown, and when the
// driver dies.

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/task_signal.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace zero_copy_test {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// True if this process maps a segment of the driver `driver_pid`.
bool MapsSegmentOf(int driver_pid) {
  return absl::StrContains(ReadFile("/proc/self/maps"), absl::StrCat("memfd:unidist-", driver_pid));
}

uint64_t Sum(const uint8_t* data, size_t size) {
  uint64_t sum = 0;
  for (size_t i = 0; i < size; ++i) sum += data[i];
  return sum;
}

// True if `address` is inside this process's mapping of a segment of `driver_pid`.
bool InSegmentOf(const void* address, int driver_pid) {
  const uintptr_t where = reinterpret_cast<uintptr_t>(address);
  for (absl::string_view line : absl::StrSplit(ReadFile("/proc/self/maps"), '\n')) {
    if (!absl::StrContains(line, absl::StrCat("memfd:unidist-", driver_pid))) continue;
    std::vector<absl::string_view> bounds = absl::StrSplit(line.substr(0, line.find(' ')), '-');
    uint64_t start = 0;
    uint64_t end = 0;
    if (bounds.size() == 2 && absl::SimpleHexAtoi(bounds[0], &start) &&
        absl::SimpleHexAtoi(bounds[1], &end) && where >= start && where < end) {
      return true;
    }
  }
  return false;
}

// The sum of the bytes, and whether the task reads them in the driver's shared-memory
// store (the driver's pid is the parent of the worker's fork server).
std::pair<uint64_t, bool> SumView(unidist::ArrayView<uint8_t> data, int driver_pid) {
  return {Sum(data.data(), data.size()), InSegmentOf(data.data(), driver_pid)};
}
std::pair<uint64_t, bool> SumVector(std::vector<uint8_t> data, int driver_pid) {
  return {Sum(data.data(), data.size()), MapsSegmentOf(driver_pid)};
}
double SumDoubles(unidist::ArrayView<double> data) {
  double sum = 0;
  for (size_t i = 0; i < data.size(); ++i) sum += data[i];
  return sum;
}
// Notifies `signal` (a unidist::testing::TaskSignal) once it holds the mapping of its
// first argument, then sleeps.
int HoldView(unidist::ArrayView<uint8_t> /*data*/, std::string signal) {
  unidist::testing::NotifyTaskSignal(signal);
  absl::SleepFor(absl::Seconds(60));
  return 0;
}

// "ok", or the name of errno ("EPERM").
std::string Outcome(bool ok) { return ok ? "ok" : strerrorname_np(errno); }

// Opens `path` read-write and tries to change the file through it: a write at `offset`,
// a truncation and a writable shared mapping (through which it writes, if it gets one).
// Returns what each attempt did: "open ok, write EPERM, mmap EPERM, truncate EPERM".
std::string TryToChangeThrough(const std::string& path, off_t offset) {
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return "open " + Outcome(false);
  std::string said = "open ok";
  const char changed = '\xee';
  absl::StrAppend(&said, ", write ", Outcome(pwrite(fd, &changed, 1, offset) == 1));
  void* writable = mmap(nullptr, offset + 1, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  absl::StrAppend(&said, ", mmap ", Outcome(writable != MAP_FAILED));
  if (writable != MAP_FAILED) {
    static_cast<char*>(writable)[offset] = changed;
    munmap(writable, offset + 1);
  }
  absl::StrAppend(&said, ", truncate ", Outcome(ftruncate(fd, 0) == 0));
  close(fd);
  return said;
}

// Tries to change the object `data` views, by every route a task has to its segment
// besides its own read-only mapping: the driver's descriptor (/proc/<driver>/fd/N) and
// this process's /proc/self/map_files entry, each opened read-write. Returns what
// happened, "fd: <TryToChangeThrough> | map_files: <...>", with "none" for a route that
// was not found.
std::string TryToChange(unidist::ArrayView<uint8_t> data, int driver_pid) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(data.data());
  // The mapping that holds the data: "start-end perms offset dev inode path".
  std::string range;
  uint64_t start = 0;
  uint64_t inode = 0;
  for (absl::string_view line : absl::StrSplit(ReadFile("/proc/self/maps"), '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 6 || !absl::StrContains(line, absl::StrCat("memfd:unidist-", driver_pid))) {
      continue;
    }
    std::vector<absl::string_view> bounds = absl::StrSplit(fields[0], '-');
    uint64_t end = 0;
    if (bounds.size() != 2 || !absl::SimpleHexAtoi(bounds[0], &start) ||
        !absl::SimpleHexAtoi(bounds[1], &end) || address < start || address >= end ||
        !absl::SimpleAtoi(fields[4], &inode)) {
      continue;
    }
    range = std::string(fields[0]);
    break;
  }
  if (range.empty()) return "the view is not in a segment";
  const off_t offset = static_cast<off_t>(address - start);
  std::string fd_path;
  const std::string dir = absl::StrCat("/proc/", driver_pid, "/fd");
  if (DIR* fds = opendir(dir.c_str())) {
    while (dirent* entry = readdir(fds)) {
      struct stat info;
      const std::string path = absl::StrCat(dir, "/", entry->d_name);
      if (stat(path.c_str(), &info) == 0 && info.st_ino == inode) fd_path = path;
    }
    closedir(fds);
  }
  return absl::StrCat(
      "fd: ", fd_path.empty() ? "none" : TryToChangeThrough(fd_path, offset),
      " | map_files: ", TryToChangeThrough("/proc/self/map_files/" + range, offset));
}

}  // namespace zero_copy_test

UNIDIST_REMOTE(zero_copy_test::SumView, zero_copy_test::SumVector, zero_copy_test::SumDoubles,
               zero_copy_test::HoldView, zero_copy_test::TryToChange);

namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using unidist::Get;
using unidist::ObjectRef;
using ::unidist::testing::IsOkAndHolds;
namespace fns = zero_copy_test;

// The driver's descriptors that are segments of `pid`.
int SegmentDescriptorsOf(int pid) {
  int count = 0;
  const std::string dir = absl::StrCat("/proc/", pid, "/fd");
  DIR* fds = opendir(dir.c_str());
  if (fds == nullptr) return 0;
  while (dirent* entry = readdir(fds)) {
    char target[256];
    const ssize_t n =
        readlink(absl::StrCat(dir, "/", entry->d_name).c_str(), target, sizeof(target) - 1);
    if (n > 0 &&
        absl::StrContains(absl::string_view(target, n), absl::StrCat("memfd:unidist-", pid))) {
      ++count;
    }
  }
  closedir(fds);
  return count;
}

// Processes anywhere on the machine that map a segment of the driver `pid`.
std::vector<int> ProcessesMappingSegmentsOf(int pid) {
  std::vector<int> found;
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    const int other = atoi(entry->d_name);
    if (other <= 0 || other == pid) continue;  // the creator's own mapping does not count
    if (absl::StrContains(fns::ReadFile(absl::StrCat("/proc/", other, "/maps")),
                          absl::StrCat("memfd:unidist-", pid))) {
      found.push_back(other);
    }
  }
  closedir(proc);
  return found;
}

std::vector<uint8_t> Bytes(size_t size) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * 7);
  return bytes;
}

class ZeroCopyTest : public unidist::testing::UnidistTest {};

TEST_F(ZeroCopyTest, LargeObjectsReachTheTaskThroughSharedMemory) {
  // Segments are shared between the driver and worker processes.
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  const std::vector<uint8_t> bytes = Bytes(3 << 20);
  const uint64_t sum = fns::Sum(bytes.data(), bytes.size());
  ObjectRef<std::vector<uint8_t>> ref = unidist::Put(bytes);
  EXPECT_THAT(Get(unidist::Submit(fns::SumView, ref, getpid())), IsOkAndHolds(Pair(sum, true)));
  EXPECT_THAT(Get(unidist::Submit(fns::SumVector, ref, getpid())), IsOkAndHolds(Pair(sum, true)));
  // One store for the session, holding the object (Put wrote it there).
  EXPECT_EQ(SegmentDescriptorsOf(getpid()), 1);
  EXPECT_EQ(unidist::GetStats().object_store_objects, 1u);
  EXPECT_GE(unidist::GetStats().object_store_bytes, bytes.size());
  absl::StatusOr<std::vector<uint8_t>> value = Get(ref);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, bytes);
  // Its space is freed with the object, and reused by the next one.
  ref = ObjectRef<std::vector<uint8_t>>();
  EXPECT_EQ(unidist::GetStats().object_store_objects, 0u);
  EXPECT_EQ(unidist::GetStats().object_store_bytes, 0u);
  ref = unidist::Put(bytes);
  EXPECT_THAT(Get(unidist::Submit(fns::SumView, ref, getpid())), IsOkAndHolds(Pair(sum, true)));
  EXPECT_EQ(SegmentDescriptorsOf(getpid()), 1);
}

TEST_F(ZeroCopyTest, ATaskCannotChangeAnObjectThroughItsSegment) {
  // Segments are shared between the driver and worker processes.
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  const std::vector<uint8_t> bytes = Bytes(3 << 20);
  const uint64_t sum = fns::Sum(bytes.data(), bytes.size());
  ObjectRef<std::vector<uint8_t>> ref = unidist::Put(bytes);
  absl::StatusOr<std::string> said = Get(unidist::Submit(fns::TryToChange, ref, getpid()));
  ASSERT_TRUE(said.ok()) << said.status();
  // The driver's descriptor can be opened read-write (same user), but the segment is
  // sealed: every change fails with EPERM. (map_files may refuse the open itself.)
  EXPECT_THAT(*said, HasSubstr("fd: open ok, write EPERM, mmap EPERM, truncate EPERM"));
  EXPECT_THAT(*said, AllOf(Not(HasSubstr("write ok")), Not(HasSubstr("mmap ok")),
                           Not(HasSubstr("truncate ok"))));
  // The next task reads the original bytes.
  EXPECT_THAT(Get(unidist::Submit(fns::SumView, ref, getpid())), IsOkAndHolds(Pair(sum, true)));
}

TEST_F(ZeroCopyTest, SmallObjectsAndValuesGoThroughTheSocket) {
  const std::vector<uint8_t> small = Bytes(1000);
  EXPECT_THAT(Get(unidist::Submit(fns::SumView, unidist::Put(small), getpid())),
              IsOkAndHolds(Pair(fns::Sum(small.data(), small.size()), false)));
  // A large value passed by value (not a ref) is part of the task's message.
  const std::vector<uint8_t> large = Bytes(2 << 20);
  EXPECT_THAT(Get(unidist::Submit(fns::SumView, large, getpid())),
              IsOkAndHolds(Pair(fns::Sum(large.data(), large.size()), false)));
  EXPECT_EQ(unidist::GetStats().object_store_objects, 0u);
}

TEST_F(ZeroCopyTest, ViewsOfWiderElements) {
  std::vector<double> values(300000);
  double expected = 0;
  for (size_t i = 0; i < values.size(); ++i) expected += values[i] = static_cast<double>(i % 10);
  absl::StatusOr<double> got = Get(unidist::Submit(fns::SumDoubles, unidist::Put(values)));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, expected);
}

TEST_F(ZeroCopyTest, AfterShutdownTheStoreLastsAsLongAsItsObjectsInTheDriverOnly) {
  // Segments are shared between the driver and worker processes.
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  ObjectRef<std::vector<uint8_t>> ref = unidist::Put(Bytes(2 << 20));
  ASSERT_TRUE(Get(unidist::Submit(fns::SumView, ref, getpid())).ok());
  EXPECT_EQ(SegmentDescriptorsOf(getpid()), 1);
  EXPECT_THAT(ProcessesMappingSegmentsOf(getpid()), Not(IsEmpty()));
  ASSERT_TRUE(unidist::Shutdown().ok());
  // No worker maps it any more; the object itself is still readable in the driver.
  EXPECT_THAT(ProcessesMappingSegmentsOf(getpid()), IsEmpty());
  absl::StatusOr<std::vector<uint8_t>> value = Get(ref);
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, Bytes(2 << 20));
  // The store's file goes with the last object in it.
  ref = ObjectRef<std::vector<uint8_t>>();
  EXPECT_EQ(SegmentDescriptorsOf(getpid()), 0);
  ASSERT_TRUE(unidist::Init(unidist::Options{2, ""}).ok());  // for TearDown
}

TEST_F(ZeroCopyTest, TheThresholdIsAnOption) {
  // Segments are shared between the driver and worker processes.
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  ASSERT_TRUE(unidist::Shutdown().ok());
  unidist::Options options;
  options.num_workers = 1;
  options.shared_memory_min_bytes = SIZE_MAX;
  ASSERT_TRUE(unidist::Init(options).ok());
  const std::vector<uint8_t> bytes = Bytes(2 << 20);
  EXPECT_THAT(Get(unidist::Submit(fns::SumView, unidist::Put(bytes), getpid())),
              IsOkAndHolds(Pair(fns::Sum(bytes.data(), bytes.size()), false)));
  ASSERT_TRUE(unidist::Shutdown().ok());
  options.shared_memory_min_bytes = 100;
  ASSERT_TRUE(unidist::Init(options).ok());
  const std::vector<uint8_t> small = Bytes(200);
  EXPECT_THAT(Get(unidist::Submit(fns::SumView, unidist::Put(small), getpid())),
              IsOkAndHolds(Pair(fns::Sum(small.data(), small.size()), true)));
}

// Tests that manage Init and Shutdown themselves.
class ZeroCopyLifecycleTest : public ::testing::Test {};

TEST_F(ZeroCopyLifecycleTest, SegmentsDieWithTheDriver) {
  // Segments are shared between the driver and worker processes.
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kWorkerProcesses);
  unidist::testing::TaskSignal holding;
  const pid_t driver = fork();
  ASSERT_GE(driver, 0);
  if (driver == 0) {
    // A driver whose task holds a mapping of its segment when the driver is killed.
    if (!unidist::Init(unidist::Options{1, ""}).ok()) _exit(1);
    ObjectRef<int> held =
        unidist::Submit(fns::HoldView, unidist::Put(Bytes(2 << 20)), holding.path());
    absl::SleepFor(absl::Seconds(120));  // alive until the test kills it
    _exit(2);
  }
  const absl::Status started = holding.WaitForNotify(absl::Seconds(30));
  EXPECT_TRUE(started.ok()) << "the task never ran: " << started;
  if (started.ok()) {
    EXPECT_THAT(ProcessesMappingSegmentsOf(driver), testing::Not(IsEmpty()));
  }
  kill(driver, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(driver, &status, 0), driver);
  // The workers follow their driver (PR_SET_PDEATHSIG), and their mappings with them.
  std::vector<int> left = ProcessesMappingSegmentsOf(driver);
  for (int i = 0; i < 1000 && !left.empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    left = ProcessesMappingSegmentsOf(driver);
  }
  EXPECT_THAT(left, IsEmpty());
}

}  // namespace
