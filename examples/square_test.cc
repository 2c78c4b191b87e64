// Copyright 2026 The unidist-cpp Authors.
//
// The test of the Getting started page (docs/getting_started.md): how a user tests code
// that runs tasks, with the UnidistTest fixture and the status matchers
// (target //testing:unidist_test). The page quotes the part between the two `test` markers with
// doxygen's \snippet.

// [test]
#include <stdexcept>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/unidist_test.h"

int Square(int x) {
  if (x < 0) throw std::invalid_argument("negative");
  return x * x;
}
UNIDIST_REMOTE(Square);

namespace {

using ::testing::HasSubstr;
using ::unidist::testing::StatusIs;

// Each test starts with unidist initialized on two workers, and fails if it leaves a
// child process behind.
class SquareTest : public unidist::testing::UnidistTest {};

TEST_F(SquareTest, SquaresOnAWorker) {
  absl::StatusOr<int> square = unidist::Get(unidist::Submit(Square, 7));
  UNIDIST_ASSERT_OK(square);
  EXPECT_EQ(*square, 49);
}

TEST_F(SquareTest, ANegativeNumberFailsTheTask) {
  EXPECT_THAT(unidist::Get(unidist::Submit(Square, -1)),
              StatusIs(absl::StatusCode::kUnknown, HasSubstr("negative")));
}

}  // namespace
// [test]
