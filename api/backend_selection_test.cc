// Copyright 2026 The unidist-cpp Authors.
//
// How Init picks a backend in a program that links //api alone (no //mpi): the built-in
// backends are there, the mpi backend is not (and neither is libmpi), and asking for it,
// or running under mpirun without it, fails with a status that says what to link.

#include <stdlib.h>

#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/unidist.h"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

int Triple(int x) { return 3 * x; }
UNIDIST_REMOTE(Triple);

// Sets the environment variables of one test and restores them after.
class BackendSelectionTest : public ::testing::Test {
 protected:
  void Set(const char* name, const char* value) {
    if (const char* old = getenv(name); old != nullptr) {
      saved_.push_back({name, old, true});
    } else {
      saved_.push_back({name, "", false});
    }
    setenv(name, value, 1);
  }
  ~BackendSelectionTest() override {
    unidist::Shutdown().IgnoreError();
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->had_value) {
        setenv(it->name.c_str(), it->value.c_str(), 1);
      } else {
        unsetenv(it->name.c_str());
      }
    }
  }

 private:
  struct Saved {
    std::string name;
    std::string value;
    bool had_value;
  };
  std::vector<Saved> saved_;
};

TEST_F(BackendSelectionTest, OnlyTheBuiltInBackendsAreLinked) {
  EXPECT_THAT(unidist::AvailableBackends(), ElementsAre("multiprocessing", "sequential"));
}

TEST_F(BackendSelectionTest, NoMpiLibraryIsMapped) {
  std::ifstream maps("/proc/self/maps");
  ASSERT_TRUE(maps.is_open());
  std::string line;
  size_t lines = 0;
  while (std::getline(maps, line)) {
    ++lines;
    EXPECT_THAT(line, ::testing::Not(HasSubstr("libmpi")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("libopen-")));  // libopen-pal, libopen-rte
  }
  EXPECT_GT(lines, 0u);
}

TEST_F(BackendSelectionTest, AskingForMpiSaysHowToLinkIt) {
  unidist::Options options;
  options.num_workers = 1;
  options.backend = "mpi";
  EXPECT_THAT(
      unidist::Init(options),
      StatusIs(absl::StatusCode::kInvalidArgument,
               ::testing::AllOf(HasSubstr("unknown backend 'mpi'"), HasSubstr("@unidist//mpi"),
                                HasSubstr("unidist::mpi"), HasSubstr("Options::backend"))));
  Set("UNIDIST_BACKEND", "mpi");
  options.backend = "";
  EXPECT_THAT(unidist::Init(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UNIDIST_BACKEND")));
  EXPECT_FALSE(unidist::IsInitialized());
}

TEST_F(BackendSelectionTest, UnderMpirunWithoutTheMpiBackendInitRefusesToGuess) {
  Set("UNIDIST_BACKEND", "");
  Set("OMPI_COMM_WORLD_SIZE", "3");
  unidist::Options options;
  options.num_workers = 1;
  EXPECT_THAT(unidist::Init(options),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       ::testing::AllOf(HasSubstr("mpirun started this program with 3 ranks"),
                                        HasSubstr("@unidist//mpi"),
                                        HasSubstr("UNIDIST_BACKEND=multiprocessing"))));
  EXPECT_FALSE(unidist::IsInitialized());
  // Naming a backend is the way out.
  Set("UNIDIST_BACKEND", "multiprocessing");
  ASSERT_THAT(unidist::Init(options), IsOk());
  EXPECT_THAT(unidist::Get(unidist::Submit(Triple, 14)), IsOkAndHolds(42));
}

TEST_F(BackendSelectionTest, OneRankIsNotAnMpiJob) {
  Set("UNIDIST_BACKEND", "");
  Set("OMPI_COMM_WORLD_SIZE", "1");
  unidist::Options options;
  options.num_workers = 1;
  ASSERT_THAT(unidist::Init(options), IsOk());
  EXPECT_THAT(unidist::Get(unidist::Submit(Triple, 5)), IsOkAndHolds(15));
}

}  // namespace
