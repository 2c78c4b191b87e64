// Copyright 2026 The unidist-cpp Authors.

#include "testing/json.h"

#include "gtest/gtest.h"

namespace unidist::testing {
namespace {

TEST(JsonTest, ParsesEveryKind) {
  absl::StatusOr<Json> json = ParseJson(
      R"( {"a": [1, -2.5e3, true, false, null], "b": {"c": "x\"\\\/\n\u00e9\ud83d\ude00"}} )");
  ASSERT_TRUE(json.ok()) << json.status();
  ASSERT_EQ(json->kind, Json::Kind::kObject);
  const Json* a = json->Find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->array.size(), 5u);
  EXPECT_EQ(a->array[0].number, 1);
  EXPECT_EQ(a->array[1].number, -2500);
  EXPECT_TRUE(a->array[2].boolean);
  EXPECT_EQ(a->array[3].kind, Json::Kind::kBool);
  EXPECT_EQ(a->array[4].kind, Json::Kind::kNull);
  EXPECT_EQ(json->Find("b")->Find("c")->string, "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(json->Find("missing"), nullptr);
}

TEST(JsonTest, RejectsWhatViewersMayReject) {
  for (const char* bad :
       {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", "\"a\nb\"", "\"\\x\"", "\"\\ud800\"", "\"\xff\"",
        "\"\xc3\"", "{} {}", "{a:1}", "'a'", "[1 2]", "nul"}) {
    EXPECT_FALSE(ParseJson(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace unidist::testing
