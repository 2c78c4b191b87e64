// Copyright 2026 The unidist-cpp Authors.

#include "benchmarks/python_baseline.h"

#include "gtest/gtest.h"

namespace unidist::bench {
namespace {

TEST(ParsePythonBaselineOutputTest, ReadsVersionAndSamples) {
  absl::StatusOr<PythonBaseline> parsed = ParsePythonBaselineOutput(
      R"({"python_version": "3.11.7", "start_method": "fork",
          "samples": {"latency_us": [271.5, 250], "map_tasks_per_s": [4e6]}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->python_version, "3.11.7");
  EXPECT_EQ(parsed->samples["latency_us"], (Samples{271.5, 250}));
  EXPECT_EQ(parsed->samples["map_tasks_per_s"], (Samples{4e6}));
}

TEST(ParsePythonBaselineOutputTest, RejectsWhatTheScriptNeverPrints) {
  for (const char* json : {"", "not json", "{}", R"({"samples": [1]})", R"({"samples": {"x": 1}})",
                           R"({"samples": {"x": ["a"]}})"}) {
    EXPECT_EQ(ParsePythonBaselineOutput(json).status().code(), absl::StatusCode::kDataLoss) << json;
  }
}

TEST(FindPythonBaselineTest, ExplicitPathMustExist) {
  EXPECT_EQ(FindPythonBaseline("/nonexistent/python_baseline.py").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace unidist::bench
