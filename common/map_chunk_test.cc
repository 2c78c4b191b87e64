// Copyright 2026 The unidist-cpp Authors.

#include "common/map_chunk.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace unidist {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(MapChunkTest, ElementsRoundTripThroughTheRequestInOrder) {
  proto::TaskRequest task;
  const std::string with_zero("a\0b", 3);
  AppendPacked("first", task.mutable_map_inputs(), task.mutable_map_input_ends());
  AppendPacked("", task.mutable_map_inputs(), task.mutable_map_input_ends());
  AppendPacked(with_zero, task.mutable_map_inputs(), task.mutable_map_input_ends());
  proto::TaskRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(task.SerializeAsString()));
  absl::StatusOr<std::vector<absl::string_view>> views =
      UnpackedViews(parsed.map_inputs(), parsed.map_input_ends());
  ASSERT_TRUE(views.ok()) << views.status();
  EXPECT_THAT(*views, ElementsAre("first", "", with_zero));
}

TEST(MapChunkTest, NoEndsAndNoBytesAreNoElements) {
  proto::TaskRequest task;
  absl::StatusOr<std::vector<absl::string_view>> views =
      UnpackedViews(task.map_inputs(), task.map_input_ends());
  ASSERT_TRUE(views.ok()) << views.status();
  EXPECT_THAT(*views, IsEmpty());
}

// Bytes from another process: every way the ends can disagree with the buffer is an error.
TEST(MapChunkTest, MalformedListsAreDataLoss) {
  PackedEnds backwards;
  backwards.Add(3);
  backwards.Add(2);
  PackedEnds past_the_end;
  past_the_end.Add(7);
  PackedEnds short_of_the_end;
  short_of_the_end.Add(2);
  PackedEnds none;
  for (const auto& [ends, message] :
       {std::pair{&backwards, "element 1 of a packed list ends at 2, outside bytes 3 to 4"},
        std::pair{&past_the_end, "ends at 7"},
        std::pair{&short_of_the_end, "has 2 after its last element"},
        std::pair{&none, "has 4 after its last element"}}) {
    absl::StatusOr<std::vector<absl::string_view>> views = UnpackedViews("abcd", *ends);
    EXPECT_EQ(views.status().code(), absl::StatusCode::kDataLoss) << message;
    EXPECT_THAT(views.status().message(), HasSubstr(message));
  }
}

TEST(MapChunkTest, UnpackMapValuesMovesEachValueIntoValues) {
  proto::TaskResult result;
  AppendPacked("one", result.mutable_map_values(), result.mutable_map_value_ends());
  AppendPacked("", result.mutable_map_values(), result.mutable_map_value_ends());
  AppendPacked("three", result.mutable_map_values(), result.mutable_map_value_ends());
  ASSERT_TRUE(UnpackMapValues(&result).ok());
  EXPECT_THAT(result.values(), ElementsAre("one", "", "three"));
  EXPECT_THAT(result.map_values(), IsEmpty());
  EXPECT_THAT(result.map_value_ends(), IsEmpty());
}

TEST(MapChunkTest, UnpackMapValuesLeavesAMalformedResultAsItWas) {
  proto::TaskResult result;
  result.set_map_values("abc");
  result.add_map_value_ends(9);
  const absl::Status unpacked = UnpackMapValues(&result);
  EXPECT_EQ(unpacked.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(result.map_values(), "abc");
  EXPECT_THAT(result.map_value_ends(), ElementsAre(9));
  EXPECT_THAT(result.values(), IsEmpty());
}

TEST(MapChunkTest, UnpackMapValuesLeavesAnUnpackedResultAlone) {
  proto::TaskResult result;
  result.add_values("kept");
  ASSERT_TRUE(UnpackMapValues(&result).ok());
  EXPECT_THAT(result.values(), ElementsAre("kept"));
}

}  // namespace
}  // namespace unidist
