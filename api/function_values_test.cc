// Copyright 2026 The unidist-cpp Authors.
//
// unidist::Function values end to end: passed to tasks and called there, Put and read
// back, submitted as tasks themselves; empty and mistyped ones.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace functions {

int Square(int x) { return x * x; }
int Negate(int x) { return -x; }
std::string Shout(std::string s) { return s + "!"; }
int NotRegistered(int x) { return x; }

int ApplyTwice(unidist::Function<int(int)> f, int x) { return f(f(x)); }

int ApplyAll(std::vector<unidist::Function<int(int)>> fs, int x) {
  for (const auto& f : fs) x = f(x);
  return x;
}

unidist::Function<int(int)> Pick(bool square) {
  return square ? unidist::Function<int(int)>(Square) : unidist::Function<int(int)>(Negate);
}

// Submits the function it is given, from inside a task.
absl::StatusOr<int> SubmitInside(unidist::Function<int(int)> f, int x) {
  return unidist::Get(unidist::Submit(f, x));
}

}  // namespace functions

UNIDIST_REMOTE(functions::Square, functions::Negate, functions::Shout, functions::ApplyTwice,
               functions::ApplyAll, functions::Pick, functions::SubmitInside);

namespace {

using ::testing::HasSubstr;
using unidist::Function;
using unidist::Get;
using unidist::Submit;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

class FunctionValuesTest : public unidist::testing::UnidistTest {};

TEST_F(FunctionValuesTest, AFunctionIsCalledWhereItArrives) {
  Function<int(int)> square = functions::Square;
  EXPECT_EQ(square(5), 25);  // here, too
  EXPECT_THAT(Get(Submit(functions::ApplyTwice, square, 3)), IsOkAndHolds(81));
  EXPECT_THAT(Get(Submit(functions::ApplyAll,
                         std::vector<Function<int(int)>>{functions::Square, functions::Negate}, 4)),
              IsOkAndHolds(-16));
}

TEST_F(FunctionValuesTest, PutAndReturned) {
  absl::StatusOr<Function<std::string(std::string)>> shout =
      Get(unidist::Put(Function<std::string(std::string)>(functions::Shout)));
  ASSERT_THAT(shout, IsOk());
  EXPECT_EQ((*shout)("hey"), "hey!");
  absl::StatusOr<Function<int(int)>> picked = Get(Submit(functions::Pick, false));
  ASSERT_THAT(picked, IsOk());
  EXPECT_TRUE(*picked == Function<int(int)>(functions::Negate));
  EXPECT_EQ((*picked)(3), -3);
}

TEST_F(FunctionValuesTest, AFunctionSubmitsAsATask) {
  Function<int(int)> square = functions::Square;
  EXPECT_THAT(Get(Submit(square, 7)), IsOkAndHolds(49));
  EXPECT_THAT(Get(Submit(unidist::TaskOptions{1}, square, 8)), IsOkAndHolds(64));
  EXPECT_THAT(Get(Submit(functions::SubmitInside, square, 9)), IsOkAndHolds(81));
}

TEST_F(FunctionValuesTest, EmptyAndUnregisteredFunctions) {
  EXPECT_THAT(Get(Submit(Function<int(int)>(), 1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  // An unregistered function travels as an empty one; calling that throws, which fails
  // the task.
  EXPECT_THAT(Get(Submit(functions::ApplyTwice, Function<int(int)>(functions::NotRegistered), 1)),
              StatusIs(absl::StatusCode::kUnknown, HasSubstr("bad_function_call")));
}

TEST_F(FunctionValuesTest, ANameOfAnotherSignatureDoesNotDecode) {
  // The bytes of a Function<std::string(std::string)> read as a Function<int(int)>.
  std::string bytes = unidist::Encode(Function<std::string(std::string)>(functions::Shout));
  absl::StatusOr<Function<int(int)>> wrong = unidist::Decode<Function<int(int)>>(bytes);
  EXPECT_FALSE(wrong.ok());
}

}  // namespace
