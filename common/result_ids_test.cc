// Copyright 2026 The unidist-cpp Authors.

#include "common/result_ids.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace unidist {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ResultIdsTest, IdsRoundTripThroughTheRequestInOrder) {
  proto::TaskRequest task;
  EXPECT_EQ(ResultIdCount(task), 0);
  EXPECT_THAT(ResultIds(task), IsEmpty());
  const DataID first = DataID::FromParts(7, 1);
  const DataID second = DataID::FromParts(~uint64_t{0}, uint64_t{1} << 63);
  AddResultId(first, &task);
  AddResultId(second, &task);
  proto::TaskRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(task.SerializeAsString()));
  EXPECT_EQ(ResultIdCount(parsed), 2);
  EXPECT_EQ(ResultIdAt(parsed, 1), second);
  EXPECT_THAT(ResultIds(parsed), ElementsAre(first, second));
}

// A request with a stray word (malformed: not from a driver) names only the whole ids.
TEST(ResultIdsTest, AStrayWordNamesNoId) {
  proto::TaskRequest task;
  task.add_result_ids(5);
  EXPECT_EQ(ResultIdCount(task), 0);
  AddResultId(DataID::FromParts(1, 2), &task);
  EXPECT_EQ(ResultIdCount(task), 1);
  EXPECT_EQ(ResultIdAt(task, 0), DataID::FromParts(5, 1));  // the words, as they come
}

}  // namespace
}  // namespace unidist
