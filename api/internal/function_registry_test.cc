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

std::string Key(int (*fn)(int)) {
  return std::string(reinterpret_cast<const char*>(&fn), sizeof(fn));
}

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
  registry.Register("One", Key(&One), NoOp());
  EXPECT_NE(registry.Find("One"), nullptr);
  EXPECT_EQ(registry.Find("Two"), nullptr);
  EXPECT_EQ(**registry.NameOf(Key(&One), nullptr), "One");
  EXPECT_TRUE(registry.Validate().ok());
}

TEST(FunctionRegistryTest, UnregisteredAddressIsNotFoundWithAHint) {
  FunctionRegistry registry;
  absl::StatusOr<const std::string*> name =
      registry.NameOf(Key(&Two), reinterpret_cast<const void*>(&Two));
  EXPECT_EQ(name.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(name.status().message(), HasSubstr("UNIDIST_REMOTE"));
}

TEST(FunctionRegistryTest, SameFunctionTwiceIsFineTwoFunctionsUnderOneNameAreNot) {
  FunctionRegistry registry;
  registry.Register("f", Key(&One), NoOp());
  registry.Register("f", Key(&One), NoOp());
  EXPECT_TRUE(registry.Validate().ok());
  registry.Register("f", Key(&Two), NoOp());
  EXPECT_EQ(registry.Validate().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(registry.Validate().message(), HasSubstr("'f'"));
}

TEST(FunctionRegistryTest, BrokenRegistrationIsReported) {
  FunctionRegistry registry;
  registry.Register("bad", "", nullptr);
  EXPECT_FALSE(registry.Validate().ok());
}

TEST(FunctionRegistryTest, ActorClassesByTypeKey) {
  FunctionRegistry registry;
  registry.RegisterActorClass("ns::Counter", "N2ns7CounterE", "St5tupleIJEE", "", NoOp());
  registry.RegisterActorClass("ns::Counter", "N2ns7CounterE", "St5tupleIJiEE", "int", NoOp());
  EXPECT_EQ(*registry.ActorClassName("N2ns7CounterE"), "ns::Counter");
  EXPECT_NE(registry.Find("ns::Counter::<constructor>()"), nullptr);
  EXPECT_NE(registry.Find("ns::Counter::<constructor>(int)"), nullptr);
  EXPECT_EQ(*registry.ActorConstructor("N2ns7CounterE", "St5tupleIJiEE"),
            "ns::Counter::<constructor>(int)");
  EXPECT_EQ(registry.ActorConstructor("N2ns7CounterE", "St5tupleIJdEE").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry.Validate().ok());
  absl::StatusOr<std::string> missing = registry.ActorClassName("other");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("UNIDIST_ACTOR"));
}

}  // namespace
}  // namespace unidist::api_internal
