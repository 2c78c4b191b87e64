// Copyright 2026 The unidist-cpp Authors.
//
// The executor's side of a Map chunk (TaskRequest.map_chunk): called in this process, as
// a worker's loop calls it, on requests built here.

#include "api/internal/executor.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/map_chunk.h"
#include "common/result_ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/common/codec.h"
#include "unidist/unidist.h"

namespace unidist::api_internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

absl::StatusOr<int> HalfOfEven(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError(absl::StrCat(x, " is odd"));
  return x / 2;
}
UNIDIST_REMOTE(HalfOfEven);

// A map chunk of HalfOfEven over `inputs`, naming `results` result ids.
proto::TaskRequest Chunk(const std::vector<int>& inputs, int results) {
  proto::TaskRequest task;
  task.set_task_id(1);
  task.set_function("HalfOfEven");
  task.set_map_chunk(true);
  for (int input : inputs) {
    AppendPacked(Encode(input), task.mutable_map_inputs(), task.mutable_map_input_ends());
  }
  for (int i = 0; i < results; ++i) AddResultId(DataID::FromParts(1, i + 1), &task);
  return task;
}

TEST(ExecutorTest, AMapChunkCallsOncePerInputAndPacksTheValues) {
  proto::TaskResult result;
  ExecuteTask(Chunk({2, 3, 8}, 3), &result);
  ASSERT_FALSE(result.has_error()) << result.error().message();
  EXPECT_THAT(result.values(), IsEmpty());
  absl::StatusOr<std::vector<absl::string_view>> values =
      UnpackedViews(result.map_values(), result.map_value_ends());
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_THAT(*values, ElementsAre(Encode(1), "", Encode(4)));  // empty where the call failed
  ASSERT_EQ(result.element_errors_size(), 1);
  EXPECT_EQ(result.element_errors(0).index(), 1u);
  EXPECT_EQ(result.element_errors(0).error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(result.element_errors(0).error().message(), HasSubstr("3 is odd"));
}

// Bytes from the driver are checked before any call runs.
TEST(ExecutorTest, AMapChunkWhoseInputsDoNotMatchItsResultsFailsWhole) {
  proto::TaskResult result;
  ExecuteTask(Chunk({2, 4}, 3), &result);
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kDataLoss));
  EXPECT_THAT(result.error().message(), HasSubstr("a map chunk of 2 inputs names 3 results"));
  EXPECT_THAT(result.map_value_ends(), IsEmpty());

  proto::TaskRequest garbled = Chunk({2, 4}, 2);
  garbled.set_map_input_ends(1, garbled.map_inputs().size() + 1);
  result.Clear();
  ExecuteTask(garbled, &result);
  EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kDataLoss));
  EXPECT_THAT(result.map_value_ends(), IsEmpty());
}

}  // namespace
}  // namespace unidist::api_internal
