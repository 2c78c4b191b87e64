// Copyright 2026 The unidist-cpp Authors.

#include "unidist/testing/backend_traits.h"

#include <stdlib.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace unidist::testing {
namespace {

using ::testing::HasSubstr;

// Sets UNIDIST_BACKEND for one test and restores it after.
class BackendTraitsTest : public ::testing::Test {
 protected:
  BackendTraitsTest() {
    const char* saved = getenv("UNIDIST_BACKEND");
    had_value_ = saved != nullptr;
    if (had_value_) saved_ = saved;
  }
  ~BackendTraitsTest() override {
    if (had_value_) {
      setenv("UNIDIST_BACKEND", saved_.c_str(), 1);
    } else {
      unsetenv("UNIDIST_BACKEND");
    }
  }

 private:
  bool had_value_ = false;
  std::string saved_;
};

TEST_F(BackendTraitsTest, UnsetOrEmptyMeansMultiprocessingWithEveryTrait) {
  unsetenv("UNIDIST_BACKEND");
  EXPECT_EQ(TestBackend(), "multiprocessing");
  setenv("UNIDIST_BACKEND", "", 1);
  EXPECT_EQ(TestBackend(), "multiprocessing");
  EXPECT_TRUE(BackendHas(BackendTrait::kSurvivesWorkerCrash));
  EXPECT_TRUE(BackendHas(BackendTrait::kConcurrentWithDriver));
  EXPECT_TRUE(BackendHas(BackendTrait::kWorkerProcesses));
}

TEST_F(BackendTraitsTest, SequentialHasNone) {
  setenv("UNIDIST_BACKEND", "sequential", 1);
  EXPECT_EQ(TestBackend(), "sequential");
  EXPECT_FALSE(BackendHas(BackendTrait::kSurvivesWorkerCrash));
  EXPECT_FALSE(BackendHas(BackendTrait::kConcurrentWithDriver));
  EXPECT_FALSE(BackendHas(BackendTrait::kWorkerProcesses));
  EXPECT_THAT(SkipReason(BackendTrait::kWorkerProcesses),
              HasSubstr("the sequential backend lacks kWorkerProcesses"));
}

TEST_F(BackendTraitsTest, MpiHasEveryTrait) {
  setenv("UNIDIST_BACKEND", "mpi", 1);
  EXPECT_EQ(TestBackend(), "mpi");
  EXPECT_TRUE(BackendHas(BackendTrait::kSurvivesWorkerCrash));
  EXPECT_TRUE(BackendHas(BackendTrait::kConcurrentWithDriver));
  EXPECT_TRUE(BackendHas(BackendTrait::kWorkerProcesses));
}

TEST_F(BackendTraitsTest, AnUnknownBackendHasNone) {
  setenv("UNIDIST_BACKEND", "no-such-backend", 1);
  EXPECT_FALSE(BackendHas(BackendTrait::kConcurrentWithDriver));
}

TEST_F(BackendTraitsTest, SkipUnlessGoesOnWithTheTrait) {
  setenv("UNIDIST_BACKEND", "multiprocessing", 1);
  bool reached = false;
  // The macro returns from the enclosing function, so run it in a lambda.
  [&] {
    UNIDIST_SKIP_UNLESS(BackendTrait::kWorkerProcesses);
    reached = true;
  }();
  EXPECT_TRUE(reached);
  EXPECT_FALSE(::testing::Test::IsSkipped());
}

}  // namespace
}  // namespace unidist::testing
