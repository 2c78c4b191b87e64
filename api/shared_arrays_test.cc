// Copyright 2026 The unidist-cpp Authors.
//
// The shared-memory store through the public API: GetView, Allocate and Seal, task
// results written into the store, a full store, and a worker killed while it writes.

#include "unidist/shared_arrays.h"

#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace shared_arrays_test {

std::vector<double> Ramp(uint64_t n) {
  std::vector<double> values(n);
  for (uint64_t i = 0; i < n; ++i) values[i] = static_cast<double>(i % 1000);
  return values;
}

double Sum(unidist::ArrayView<double> values) {
  double sum = 0;
  for (size_t i = 0; i < values.size(); ++i) sum += values[i];
  return sum;
}

// Makes a result large enough for the store, and says (through its exit code never) who
// it is: the test finds the worker with unidist::Workers().
std::vector<uint8_t> Big(uint64_t n) { return std::vector<uint8_t>(n, 7); }

// Ramp(n), filled in where unidist::Allocate put it and returned as it is.
absl::StatusOr<unidist::WritableArray<double>> FilledRamp(uint64_t n) {
  absl::StatusOr<unidist::WritableArray<double>> array = unidist::Allocate<double>(n);
  if (!array.ok()) return array.status();
  for (uint64_t i = 0; i < n; ++i) (*array)[i] = static_cast<double>(i % 1000);
  return array;
}

// The same without the StatusOr, and (with `seal` set) sealed inside the task instead,
// summed by a nested task.
unidist::WritableArray<double> PlainFilledRamp(uint64_t n) { return *FilledRamp(n); }
double SumOfSealedRamp(uint64_t n) {
  absl::StatusOr<unidist::WritableArray<double>> array = FilledRamp(n);
  if (!array.ok()) return -1;
  return Get(unidist::Submit(Sum, unidist::Seal(*std::move(array)))).value_or(-2);
}

// Allocates and fills an array, then drops it (`fail` false) or fails (`fail` true).
absl::StatusOr<int> AllocateAndDrop(uint64_t n, bool fail) {
  absl::StatusOr<unidist::WritableArray<double>> array = FilledRamp(n);
  if (!array.ok()) return array.status();
  if (fail) return absl::DataLossError("failed on purpose");
  return 42;
}

// Allocates and fills an array, then its worker dies.
unidist::WritableArray<double> AllocateAndDie(uint64_t n) {
  unidist::WritableArray<double> array = PlainFilledRamp(n);
  raise(SIGKILL);
  return array;
}

}  // namespace shared_arrays_test

UNIDIST_REMOTE(shared_arrays_test::Ramp, shared_arrays_test::Sum, shared_arrays_test::Big,
               shared_arrays_test::FilledRamp, shared_arrays_test::PlainFilledRamp,
               shared_arrays_test::SumOfSealedRamp, shared_arrays_test::AllocateAndDrop,
               shared_arrays_test::AllocateAndDie);

namespace {

using ::testing::HasSubstr;
using unidist::Get;
using unidist::ObjectRef;
using ::unidist::testing::IsOkAndHolds;
namespace fns = shared_arrays_test;

constexpr size_t kLarge = 3 << 17;  // doubles: 3 MiB, above the 1 MiB threshold

double RampSum(size_t n) {
  const std::vector<double> values = fns::Ramp(n);
  return std::accumulate(values.begin(), values.end(), 0.0);
}

class SharedArraysTest : public unidist::testing::UnidistTest {};

TEST_F(SharedArraysTest, GetViewReadsAPutObjectInPlaceAndKeepsItAlive) {
  const std::vector<double> values = fns::Ramp(kLarge);
  ObjectRef<std::vector<double>> ref = unidist::Put(values);
  absl::StatusOr<unidist::ObjectView<double>> view = unidist::GetView(ref);
  ASSERT_TRUE(view.ok()) << view.status();
  ASSERT_EQ(view->size(), values.size());
  EXPECT_EQ(view->ToVector(), values);
  if (unidist::testing::BackendHas(unidist::testing::BackendTrait::kSharedMemory)) {
    // In the store the elements are aligned: a plain array.
    ASSERT_NE(view->data(), nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(view->data()) % 64, 0u);
    // Two views are one copy of the object.
    EXPECT_EQ(unidist::GetView(ref)->data(), view->data());
  }
  // The view outlives the ref and the session.
  ref = ObjectRef<std::vector<double>>();
  ASSERT_TRUE(unidist::Shutdown().ok());
  EXPECT_EQ((*view)[kLarge - 1], values.back());
  EXPECT_EQ(view->ToVector(), values);
  ASSERT_TRUE(unidist::Init(unidist::Options{2, ""}).ok());  // for TearDown
}

TEST_F(SharedArraysTest, GetViewOfTaskResultsLargeAndSmall) {
  for (size_t n : {size_t{10}, kLarge}) {
    ObjectRef<std::vector<double>> ref = unidist::Submit(fns::Ramp, n);
    absl::StatusOr<unidist::ObjectView<double>> view = unidist::GetView(ref);
    ASSERT_TRUE(view.ok()) << view.status();
    EXPECT_EQ(view->ToVector(), fns::Ramp(n));
    // Get still copies out, and the result still goes on to tasks.
    EXPECT_THAT(Get(ref), IsOkAndHolds(fns::Ramp(n)));
    EXPECT_THAT(Get(unidist::Submit(fns::Sum, ref)), IsOkAndHolds(RampSum(n)));
  }
}

TEST_F(SharedArraysTest, LargeResultsAreWrittenIntoTheStoreByTheWorker) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSharedMemory);
  ObjectRef<std::vector<double>> ref = unidist::Submit(fns::Ramp, kLarge);
  ASSERT_TRUE(unidist::GetView(ref).ok());
  EXPECT_EQ(unidist::GetStats().object_store_objects, 1u);
  EXPECT_GE(unidist::GetStats().object_store_bytes, kLarge * sizeof(double));
  // A chain of large results never copies one through the driver.
  EXPECT_THAT(Get(unidist::Submit(fns::Sum, ref)), IsOkAndHolds(RampSum(kLarge)));
  ref = ObjectRef<std::vector<double>>();
  EXPECT_EQ(unidist::GetStats().object_store_objects, 0u);
  EXPECT_EQ(unidist::GetStats().object_store_bytes, 0u);
}

TEST_F(SharedArraysTest, AllocateThenSealMakesAnObjectWithoutACopy) {
  for (size_t n : {size_t{5}, kLarge}) {
    absl::StatusOr<unidist::WritableArray<double>> array = unidist::Allocate<double>(n);
    ASSERT_TRUE(array.ok()) << array.status();
    ASSERT_EQ(array->size(), n);
    for (size_t i = 0; i < n; ++i) (*array)[i] = static_cast<double>(i % 1000);
    const double* written = array->data();
    ObjectRef<std::vector<double>> ref = unidist::Seal(*std::move(array));
    EXPECT_EQ(array->size(), 0u);  // NOLINT(bugprone-use-after-move): documented as empty
    EXPECT_THAT(Get(ref), IsOkAndHolds(fns::Ramp(n)));
    EXPECT_THAT(Get(unidist::Submit(fns::Sum, ref)), IsOkAndHolds(RampSum(n)));
    if (n == kLarge &&
        unidist::testing::BackendHas(unidist::testing::BackendTrait::kSharedMemory)) {
      // The object is the very memory the caller wrote.
      EXPECT_EQ(unidist::GetView(ref)->data(), written);
    }
  }
}

TEST_F(SharedArraysTest, ATaskReturnsTheArrayItAllocatedAsItsResult) {
  for (size_t n : {size_t{5}, kLarge}) {
    ObjectRef<std::vector<double>> ref = unidist::Submit(fns::FilledRamp, n);
    EXPECT_THAT(Get(ref), IsOkAndHolds(fns::Ramp(n)));
    EXPECT_THAT(Get(unidist::Submit(fns::PlainFilledRamp, n)), IsOkAndHolds(fns::Ramp(n)));
    EXPECT_THAT(Get(unidist::Submit(fns::Sum, ref)), IsOkAndHolds(RampSum(n)));
    if (n == kLarge &&
        unidist::testing::BackendHas(unidist::testing::BackendTrait::kSharedMemory)) {
      // The result is the space the task filled in: one object in the store, aligned.
      absl::StatusOr<unidist::ObjectView<double>> view = unidist::GetView(ref);
      ASSERT_TRUE(view.ok()) << view.status();
      EXPECT_EQ(reinterpret_cast<uintptr_t>(view->data()) % 64, 0u);
      EXPECT_EQ(unidist::GetStats().object_store_objects, 1u);
      ref = ObjectRef<std::vector<double>>();
      view = unidist::ObjectView<double>();
      EXPECT_EQ(unidist::GetStats().object_store_objects, 0u);
      EXPECT_EQ(unidist::GetStats().object_store_bytes, 0u);
    }
    // Sealed inside the task instead (the driver then holds the object for the task
    // until the worker lets it go, so this comes after the counts above).
    EXPECT_THAT(Get(unidist::Submit(fns::SumOfSealedRamp, n)), IsOkAndHolds(RampSum(n)));
  }
}

TEST_F(SharedArraysTest, SpaceATaskAllocatedAndDidNotReturnIsFreedWithItsOutcome) {
  EXPECT_THAT(Get(unidist::Submit(fns::AllocateAndDrop, kLarge, false)), IsOkAndHolds(42));
  absl::StatusOr<int> failed = Get(unidist::Submit(fns::AllocateAndDrop, kLarge, true));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(failed.status().message(), HasSubstr("failed on purpose"));
  EXPECT_EQ(unidist::GetStats().object_store_objects, 0u);
  EXPECT_EQ(unidist::GetStats().object_store_bytes, 0u);
}

TEST_F(SharedArraysTest, SpaceOfATaskWhoseWorkerDiedIsFreed) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSurvivesWorkerCrash);
  absl::StatusOr<std::vector<double>> died =
      Get(unidist::Submit(fns::AllocateAndDie, kLarge));  // no retries by default
  EXPECT_EQ(died.status().code(), absl::StatusCode::kUnavailable) << died.status();
  EXPECT_EQ(unidist::GetStats().object_store_objects, 0u);
  EXPECT_EQ(unidist::GetStats().object_store_bytes, 0u);
  // The replacement worker allocates in the store as before.
  EXPECT_THAT(Get(unidist::Submit(fns::FilledRamp, kLarge)), IsOkAndHolds(fns::Ramp(kLarge)));
}

TEST_F(SharedArraysTest, SealOfAnEmptyArrayFailsItsRef) {
  unidist::WritableArray<int> never_allocated;
  absl::StatusOr<std::vector<int>> got = Get(unidist::Seal(std::move(never_allocated)));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(got.status().message(), HasSubstr("Seal"));
}

TEST_F(SharedArraysTest, UnsealedSpaceIsFreed) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSharedMemory);
  {
    absl::StatusOr<unidist::WritableArray<double>> array = unidist::Allocate<double>(kLarge);
    ASSERT_TRUE(array.ok());
    EXPECT_EQ(unidist::GetStats().object_store_objects, 1u);
  }
  EXPECT_EQ(unidist::GetStats().object_store_objects, 0u);
}

// Sessions with a small store of their own.
class SmallStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unidist::Options options;
    options.num_workers = 1;
    options.object_store_memory = 8 << 20;
    ASSERT_TRUE(unidist::Init(options).ok());
  }
  void TearDown() override { EXPECT_TRUE(unidist::Shutdown().ok()); }
};

TEST_F(SmallStoreTest, WhatDoesNotFitFailsWithResourceExhausted) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSharedMemory);
  EXPECT_EQ(unidist::GetStats().object_store_capacity, size_t{8} << 20);
  absl::StatusOr<unidist::WritableArray<double>> too_big = unidist::Allocate<double>(2 << 20);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(too_big.status().message(), HasSubstr("object_store_memory"));
  absl::StatusOr<std::vector<double>> put = Get(unidist::Put(fns::Ramp(2 << 20)));
  EXPECT_EQ(put.status().code(), absl::StatusCode::kResourceExhausted);
  // Objects that fit still work, and a result that does not fit reaches the driver
  // through the socket instead.
  EXPECT_THAT(Get(unidist::Submit(fns::Sum, unidist::Put(fns::Ramp(kLarge)))),
              IsOkAndHolds(RampSum(kLarge)));
  absl::StatusOr<std::vector<uint8_t>> big = Get(unidist::Submit(fns::Big, uint64_t{16} << 20));
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->size(), size_t{16} << 20);
}

TEST_F(SmallStoreTest, BadSizesAreRejectedAtInit) {
  ASSERT_TRUE(unidist::Shutdown().ok());
  unidist::Options options;
  options.object_store_memory = 1000;
  absl::Status status = unidist::Init(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("object_store_memory"));
  setenv("UNIDIST_OBJECT_STORE_MEMORY", "lots", 1);
  status = unidist::Init(unidist::Options{1, ""});
  unsetenv("UNIDIST_OBJECT_STORE_MEMORY");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("UNIDIST_OBJECT_STORE_MEMORY"));
  ASSERT_TRUE(unidist::Init(unidist::Options{1, ""}).ok());  // for TearDown
}

// A worker killed after the driver gave it space for a result and before it reported
// the result: the task fails (or is retried), and the space is freed — no half-written
// object, no leak. The kill lands inside that window when the test sees the space taken
// while the result is still pending; the window is a copy of 256 MiB, so a few tries
// suffice.
TEST_F(SmallStoreTest, AWorkerKilledWhileWritingAResultLeavesNothing) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSharedMemory);
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSurvivesWorkerCrash);
  ASSERT_TRUE(unidist::Shutdown().ok());
  unidist::Options options;
  options.num_workers = 1;
  options.object_store_memory = size_t{512} << 20;
  ASSERT_TRUE(unidist::Init(options).ok());
  bool caught = false;
  for (int attempt = 0; attempt < 20 && !caught; ++attempt) {
    ObjectRef<std::vector<uint8_t>> ref = unidist::Submit(fns::Big, uint64_t{256} << 20);
    while (unidist::Wait(std::vector{ref}, 1, absl::ZeroDuration()).ready.empty()) {
      if (unidist::GetStats().object_store_objects == 1) {
        const std::vector<unidist::WorkerInfo> workers = unidist::Workers();
        ASSERT_EQ(workers.size(), 1u);
        kill(workers[0].pid, SIGKILL);
        caught = true;
        break;
      }
    }
    absl::StatusOr<std::vector<uint8_t>> got = Get(ref);
    if (caught) {
      // Either the kill was in time (the task failed) or the result was complete
      // already; never a half-written object.
      if (got.ok()) {
        EXPECT_EQ(*got, std::vector<uint8_t>(size_t{256} << 20, 7));
        caught = false;
      } else {
        EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable) << got.status();
      }
    }
    ref = ObjectRef<std::vector<uint8_t>>();
    EXPECT_EQ(unidist::GetStats().object_store_objects, 0u);
    EXPECT_EQ(unidist::GetStats().object_store_bytes, 0u);
  }
  EXPECT_TRUE(caught) << "never killed the worker while it wrote its result";
  // The replacement worker writes results into the store as before.
  EXPECT_THAT(Get(unidist::Submit(fns::Sum, unidist::Submit(fns::Ramp, kLarge))),
              IsOkAndHolds(RampSum(kLarge)));
}

// A store a third of what the program holds: objects nobody reads are spilled to files
// and read back from there; nothing is left in the spill directory, during or after.
class SpillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TEST_TMPDIR");
    directory_ = absl::StrCat(base != nullptr ? base : "/tmp", "/spill-XXXXXX");
    ASSERT_NE(mkdtemp(directory_.data()), nullptr);
    unidist::Options options;
    options.num_workers = 2;
    options.object_store_memory = kStore;
    options.spill_directory = directory_;
    ASSERT_TRUE(unidist::Init(options).ok());
  }
  void TearDown() override {
    EXPECT_TRUE(unidist::Shutdown().ok());
    rmdir(directory_.c_str());
  }
  // Lines of /proc/self/maps that map a spill file.
  int SpillMappings() const {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    int count = 0;
    while (std::getline(maps, line)) count += absl::StrContains(line, directory_) ? 1 : 0;
    return count;
  }

  static constexpr size_t kStore = size_t{32} << 20;
  static constexpr size_t kObject = size_t{1} << 20;  // doubles: 8 MiB
  std::string directory_;
};

TEST_F(SpillTest, ThreeTimesTheStoreRoundTrips) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSharedMemory);
  std::vector<ObjectRef<std::vector<double>>> refs;
  for (int i = 0; i < 12; ++i) {
    std::vector<double> values(kObject, static_cast<double>(i));
    refs.push_back(unidist::Put(values));
    ASSERT_TRUE(unidist::Wait(std::vector{refs.back()}).ready.size() == 1);
  }
  unidist::Stats stats = unidist::GetStats();
  EXPECT_GE(stats.spilled_objects, 8u);
  EXPECT_LE(stats.object_store_bytes, kStore);
  EXPECT_EQ(stats.spilled_objects + stats.object_store_objects, 12u);
  EXPECT_EQ(SpillMappings(), static_cast<int>(stats.spilled_objects));
  // Every object reads back, in the driver and in tasks (which bring it back into the
  // store, spilling others).
  for (int i = 0; i < 12; ++i) {
    absl::StatusOr<std::vector<double>> got = Get(refs[i]);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, std::vector<double>(kObject, static_cast<double>(i)));
    EXPECT_THAT(Get(unidist::Submit(fns::Sum, refs[i])),
                IsOkAndHolds(static_cast<double>(i) * kObject));
  }
  EXPECT_LE(unidist::GetStats().object_store_bytes, kStore);
  refs.clear();
  stats = unidist::GetStats();
  EXPECT_EQ(stats.spilled_objects, 0u);
  EXPECT_EQ(stats.spilled_bytes, 0u);
  EXPECT_EQ(stats.object_store_objects, 0u);
  EXPECT_EQ(SpillMappings(), 0);
}

TEST_F(SpillTest, WhatIsInUseIsNotSpilledAndAFullStoreSaysSo) {
  UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSharedMemory);
  std::vector<unidist::ObjectView<double>> views;
  absl::Status full;
  for (int i = 0; i < 8 && full.ok(); ++i) {
    ObjectRef<std::vector<double>> ref = unidist::Put(std::vector<double>(kObject, 1.0));
    absl::StatusOr<unidist::ObjectView<double>> view = unidist::GetView(ref);
    if (view.ok()) {
      views.push_back(*std::move(view));
    } else {
      full = view.status();
    }
  }
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.message(), HasSubstr("in use"));
  EXPECT_EQ(unidist::GetStats().spilled_objects, 0u);
  // The views still read their objects, in place.
  for (const unidist::ObjectView<double>& view : views) EXPECT_EQ(view[kObject - 1], 1.0);
  views.pop_back();  // room for one more
  EXPECT_TRUE(unidist::GetView(unidist::Put(std::vector<double>(kObject, 2.0))).ok());
}

TEST(SpillOptionsTest, TheSpillDirectoryMustBeWritable) {
  unidist::Options options;
  options.spill_directory = "/nonexistent/spill";
  const absl::Status status = unidist::Init(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("spill_directory"));
  EXPECT_FALSE(unidist::IsInitialized());
}

}  // namespace
