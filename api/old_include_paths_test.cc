// Copyright 2026 The unidist-cpp Authors.
//
// A program that includes unidist-cpp's headers by their paths from before the unidist/
// ones ("api/unidist.h", "common/codec.h", "testing/unidist_test.h") still builds and runs
// under Bazel, for a deprecation period (CHANGELOG.md). It gets a deprecation warning per
// directory, which this test's copts silence and compile_fail/old_include_paths.cc checks.

#include "api/unidist.h"
#include "common/codec.h"
#include "testing/unidist_test.h"

namespace old_include_paths_test {
int Twice(int x) { return 2 * x; }
}  // namespace old_include_paths_test

UNIDIST_REMOTE(old_include_paths_test::Twice);

namespace {

using ::unidist::testing::IsOkAndHolds;

class OldIncludePathsTest : public unidist::testing::UnidistTest {};

TEST_F(OldIncludePathsTest, ATaskRuns) {
  EXPECT_THAT(unidist::Get(unidist::Submit(old_include_paths_test::Twice, 21)), IsOkAndHolds(42));
}

TEST_F(OldIncludePathsTest, TheCodecIsThere) {
  EXPECT_THAT(unidist::Decode<int>(unidist::Encode(7)), IsOkAndHolds(7));
}

}  // namespace
