// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/function_registry.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace unidist::api_internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

int One(int) { return 1; }
int Two(int) { return 2; }

Invoker NoOp() {
  return [](const std::vector<absl::string_view>&, int, std::vector<std::string>*) {
    return absl::OkStatus();
  };
}

TEST(SplitFunctionNamesTest, SplitsAtTopLevelCommasOnly) {
  EXPECT_THAT(SplitFunctionNames("f"), ElementsAre("f"));
  EXPECT_THAT(SplitFunctionNames(" f , ns::g,&h, ::k"), ElementsAre("f", "ns::g", "h", "k"));
  EXPECT_THAT(SplitFunctionNames("Echo<std::map<int, std::string>>, F<(1, 2)>"),
              ElementsAre("Echo<std::map<int, std::string>>", "F<(1, 2)>"));
}

TEST(FunctionRegistryTest, FindsByNameAndByAddress) {
  FunctionRegistry registry;
  registry.Register("One", reinterpret_cast<const void*>(&One), NoOp());
  EXPECT_NE(registry.Find("One"), nullptr);
  EXPECT_EQ(registry.Find("Two"), nullptr);
  EXPECT_EQ(*registry.NameOf(reinterpret_cast<const void*>(&One)), "One");
  EXPECT_TRUE(registry.Validate().ok());
}

TEST(FunctionRegistryTest, UnregisteredAddressIsNotFoundWithAHint) {
  FunctionRegistry registry;
  absl::StatusOr<std::string> name = registry.NameOf(reinterpret_cast<const void*>(&Two));
  EXPECT_EQ(name.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(name.status().message(), HasSubstr("UNIDIST_REMOTE"));
}

TEST(FunctionRegistryTest, SameFunctionTwiceIsFineTwoFunctionsUnderOneNameAreNot) {
  FunctionRegistry registry;
  registry.Register("f", reinterpret_cast<const void*>(&One), NoOp());
  registry.Register("f", reinterpret_cast<const void*>(&One), NoOp());
  EXPECT_TRUE(registry.Validate().ok());
  registry.Register("f", reinterpret_cast<const void*>(&Two), NoOp());
  EXPECT_EQ(registry.Validate().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(registry.Validate().message(), HasSubstr("'f'"));
}

TEST(FunctionRegistryTest, BrokenRegistrationIsReported) {
  FunctionRegistry registry;
  registry.Register("bad", nullptr, nullptr);
  EXPECT_FALSE(registry.Validate().ok());
}

}  // namespace
}  // namespace unidist::api_internal
