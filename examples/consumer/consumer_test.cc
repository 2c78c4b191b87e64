// A user's test, written with the fixture from @unidist//testing:unidist_test.
#include <string>

#include "gmock/gmock.h"
#include "unidist/testing/unidist_test.h"

namespace consumer_test {
std::string Shout(std::string word) { return word + "!"; }
}  // namespace consumer_test

UNIDIST_REMOTE(consumer_test::Shout);

namespace {

class ConsumerTest : public unidist::testing::UnidistTest {};

TEST_F(ConsumerTest, RunsATaskOnAWorker) {
  absl::StatusOr<std::string> shouted = unidist::Get(unidist::Submit(consumer_test::Shout, "hi"));
  ASSERT_THAT(shouted, unidist::testing::IsOk());
  EXPECT_EQ(*shouted, "hi!");
}

}  // namespace
