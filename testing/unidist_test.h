// Copyright 2026 The unidist-cpp Authors.
//
// UnidistTest: a GoogleTest fixture for code that uses unidist. Each test starts with
// unidist initialized on `num_workers` worker processes and ends with Shutdown and a check
// that no child process of the test is left behind — so a test that leaks workers, or a
// bug that leaves zombies, fails where it happens. Cleanup runs even when the test body
// fails an ASSERT. It runs on the backend UNIDIST_BACKEND names; a test that needs what only
// some backends have says so with UNIDIST_SKIP_UNLESS (unidist/testing/backend_traits.h).
//
// Example:
//   #include "unidist/testing/unidist_test.h"   // target @unidist//testing:unidist_test
//
//   class MyPipelineTest : public unidist::testing::UnidistTest {};
//
//   TEST_F(MyPipelineTest, SquaresInParallel) {
//     EXPECT_THAT(unidist::Get(unidist::Submit(Square, 7)), IsOkAndHolds(49));
//   }
//
//   // A different pool size:
//   class FourWorkers : public unidist::testing::UnidistTest {
//    protected:
//     FourWorkers() : UnidistTest(4) {}
//   };

#ifndef UNIDIST_TESTING_UNIDIST_TEST_H_
#define UNIDIST_TESTING_UNIDIST_TEST_H_

// Included by its old path ("testing/unidist_test.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

#include "gtest/gtest.h"
#include "unidist/testing/backend_traits.h"
#include "unidist/testing/process_helpers.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/unidist.h"

namespace unidist::testing {

// The fixture described in the file comment: derive a test class from it (TEST_F).
class UnidistTest : public ::testing::Test {
 protected:
  // Each test runs on `num_workers` worker processes; two by default, enough to run tasks
  // in parallel on any machine.
  explicit UnidistTest(int num_workers = 2) : num_workers_(num_workers) {}

  // Initializes unidist; the test stops if Init fails.
  void SetUp() override {
    Options options;
    options.num_workers = num_workers_;
    UNIDIST_ASSERT_OK(Init(options));
  }

  // Shuts unidist down and fails the test if a child process of the test is left.
  void TearDown() override {
    UNIDIST_EXPECT_OK(Shutdown());
    EXPECT_FALSE(IsInitialized());
    // Shutdown reaps every worker before it returns; the short wait only absorbs
    // processes the test body itself started.
    EXPECT_THAT(WaitForNoDescendants(absl::Seconds(5)), ::testing::IsEmpty())
        << "child processes are left after unidist::Shutdown()";
  }

  // The pool size this test runs with.
  int num_workers() const { return num_workers_; }

 private:
  const int num_workers_;
};

}  // namespace unidist::testing

#endif  // UNIDIST_TESTING_UNIDIST_TEST_H_
