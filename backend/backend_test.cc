// Copyright 2026 The unidist-cpp Authors.

#include "backend/backend.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"

namespace unidist {
namespace {

using ::testing::HasSubstr;
using ::unidist::testing::IsOk;
using ::unidist::testing::StatusIs;

absl::StatusOr<std::unique_ptr<WorkerPool>> NoPool(WorkerPoolOptions) {
  return absl::UnimplementedError("a test backend starts no pool");
}

BackendDescription Named(std::string name) {
  BackendDescription backend;
  backend.name = std::move(name);
  backend.start_pool = &NoPool;
  return backend;
}

// Registered by the macro, before main.
UNIDIST_REGISTER_BACKEND([] {
  BackendDescription backend = Named("static-test");
  backend.abilities.shared_memory = true;
  return backend;
}());

TEST(BackendRegistryTest, StaticRegistrationIsFoundWithItsAbilities) {
  absl::StatusOr<const BackendDescription*> found = BackendRegistry::Global().Find("static-test");
  ASSERT_THAT(found, IsOk());
  EXPECT_EQ((*found)->name, "static-test");
  EXPECT_TRUE((*found)->abilities.shared_memory);
  EXPECT_FALSE((*found)->abilities.worker_processes);
  EXPECT_THAT((*found)->start_pool(WorkerPoolOptions()),
              StatusIs(absl::StatusCode::kUnimplemented));
}

TEST(BackendRegistryTest, RefusesADuplicateNameAndIncompleteDescriptions) {
  BackendRegistry& registry = BackendRegistry::Global();
  EXPECT_THAT(registry.Register(Named("duplicate")), IsOk());
  EXPECT_THAT(registry.Register(Named("duplicate")),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("'duplicate'")));
  EXPECT_THAT(registry.Register(Named("")), StatusIs(absl::StatusCode::kInvalidArgument));
  BackendDescription no_pool;
  no_pool.name = "no-pool";
  EXPECT_THAT(registry.Register(no_pool),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("start_pool")));
  EXPECT_THAT(registry.Find("no-pool"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(BackendRegistryTest, AnUnknownNameListsTheRegisteredOnes) {
  EXPECT_THAT(
      BackendRegistry::Global().Find("nonesuch"),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown backend 'nonesuch'; available: ")));
  EXPECT_THAT(BackendRegistry::Global().Find("nonesuch"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("static-test")));
}

TEST(BackendRegistryTest, AMissingMpiBackendSaysHowToLinkIt) {
  // This test links no mpi backend.
  EXPECT_THAT(BackendRegistry::Global().Find("mpi"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("depending on @unidist//mpi in Bazel, or unidist::mpi")));
}

TEST(BackendRegistryTest, NamesAreSorted) {
  ASSERT_THAT(BackendRegistry::Global().Register(Named("zz-last")), IsOk());
  ASSERT_THAT(BackendRegistry::Global().Register(Named("aa-first")), IsOk());
  std::vector<std::string> names = BackendRegistry::Global().Names();
  ASSERT_GE(names.size(), 3u);
  EXPECT_EQ(names.front(), "aa-first");
  EXPECT_EQ(names.back(), "zz-last");
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

TEST(BackendRegistryTest, TheLauncherPicksABackendOnlyWhenOneAsks) {
  BackendRegistry& registry = BackendRegistry::Global();
  EXPECT_EQ(registry.WantedByLauncher(), nullptr);
  static bool first_wanted = false;
  static bool second_wanted = false;
  BackendDescription first = Named("launched-first");
  first.wanted_by_launcher = [] { return first_wanted; };
  BackendDescription second = Named("launched-second");
  second.wanted_by_launcher = [] { return second_wanted; };
  ASSERT_THAT(registry.Register(std::move(first)), IsOk());
  ASSERT_THAT(registry.Register(std::move(second)), IsOk());
  EXPECT_EQ(registry.WantedByLauncher(), nullptr);
  first_wanted = true;
  ASSERT_NE(registry.WantedByLauncher(), nullptr);
  EXPECT_EQ(registry.WantedByLauncher()->name, "launched-first");
  second_wanted = true;  // two at once: no guess
  EXPECT_EQ(registry.WantedByLauncher(), nullptr);
}

TEST(BackendRegistryTest, PointersStayValidAsMoreAreRegistered) {
  absl::StatusOr<const BackendDescription*> before = BackendRegistry::Global().Find("static-test");
  ASSERT_THAT(before, IsOk());
  for (int i = 0; i < 100; ++i) {
    ASSERT_THAT(BackendRegistry::Global().Register(Named("filler-" + std::to_string(i))), IsOk());
  }
  EXPECT_EQ((*before)->name, "static-test");
  EXPECT_THAT(BackendRegistry::Global().Find("filler-99"), IsOk());
}

}  // namespace
}  // namespace unidist
