// Copyright 2026 The unidist-cpp Authors.

#include "benchmarks/python_baseline.h"

#include <string>
#include <vector>

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

TEST(ParsePythonBaselineOutputTest, ReadsTheNotesOnMissingSamples) {
  absl::StatusOr<PythonBaseline> parsed = ParsePythonBaselineOutput(
      R"json({"python_version": "3.11.7", "samples": {"partitions_pool_s": [1.5]},
          "notes": {"partitions_dask_threaded_s": "No module named 'dask'"},
          "partitions_python": "/usr/bin/python3 3.11.2, numpy 1.24.2",
          "errors": ["partitions_dask_distributed_s: AssertionError()"]})json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->samples["partitions_pool_s"], (Samples{1.5}));
  EXPECT_EQ(parsed->notes["partitions_dask_threaded_s"], "No module named 'dask'");
  EXPECT_EQ(parsed->partitions_python, "/usr/bin/python3 3.11.2, numpy 1.24.2");
  EXPECT_EQ(parsed->errors,
            std::vector<std::string>{"partitions_dask_distributed_s: AssertionError()"});
}

TEST(ParsePythonBaselineOutputTest, RejectsWhatTheScriptNeverPrints) {
  for (const char* json :
       {"", "not json", "{}", R"({"samples": [1]})", R"({"samples": {"x": 1}})",
        R"({"samples": {"x": ["a"]}})", R"({"samples": {}, "notes": [1]})",
        R"({"samples": {}, "notes": {"x": 1}})", R"({"samples": {}, "errors": "x"})",
        R"({"samples": {}, "errors": [1]})"}) {
    EXPECT_EQ(ParsePythonBaselineOutput(json).status().code(), absl::StatusCode::kDataLoss) << json;
  }
}

TEST(FindPythonBaselineTest, ExplicitPathMustExist) {
  EXPECT_EQ(FindPythonBaseline("/nonexistent/python_baseline.py").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace unidist::bench
