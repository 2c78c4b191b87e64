// Copyright 2026 The unidist-cpp Authors.

#include "benchmarks/report.h"

#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace unidist::bench {
namespace {

TEST(FormatNumberTest, KeepsAboutThreeSignificantDigits) {
  EXPECT_EQ(FormatNumber(0), "0");
  EXPECT_EQ(FormatNumber(0.012345), "0.0123");
  EXPECT_EQ(FormatNumber(1.2345), "1.23");
  EXPECT_EQ(FormatNumber(12.345), "12.3");
  EXPECT_EQ(FormatNumber(123.45), "123");
  EXPECT_EQ(FormatNumber(4343887.3), "4,340,000");
  EXPECT_EQ(FormatNumber(-1500), "-1,500");
}

TEST(FormatSummaryTest, MedianThenRange) {
  EXPECT_EQ(FormatSummary(Summarize({3, 1, 2})), "2.00 (1.00–3.00)");
  EXPECT_EQ(FormatSummary(Summary()), "—");
}

const Row* FindRow(const std::vector<Row>& rows, const std::string& unidist_key) {
  for (const Row& row : rows) {
    if (row.unidist == unidist_key) return &row;
  }
  return nullptr;
}

TEST(EvaluateGoalTest, LatencyIsHeldToTheUnpinnedPipeRoundTrip) {
  const std::vector<Row> rows = ComparisonRows(FullWorkloads());
  const Row* latency = FindRow(rows, "unidist/latency_us");
  ASSERT_NE(latency, nullptr);
  Measurements m;
  m["floor/pipe_rtt_us"] = {10, 11, 9};
  m["floor/pipe_rtt_best_us"] = {2};  // on one CPU: not the goal's floor
  m["unidist/latency_us"] = {9, 12, 8};
  std::optional<GoalOutcome> outcome = EvaluateGoal(*latency, m);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_DOUBLE_EQ(outcome->value, 0.9);
  EXPECT_TRUE(outcome->met);
  m["unidist/latency_us"] = {11};
  EXPECT_FALSE(EvaluateGoal(*latency, m)->met);
}

// Whether the full run's row of `unidist_key` meets its goal on `m`; nullopt if there is
// no such row or no verdict.
std::optional<bool> GoalMet(const std::string& unidist_key, const Measurements& m) {
  const std::vector<Row> rows = ComparisonRows(FullWorkloads());
  const Row* row = FindRow(rows, unidist_key);
  if (row == nullptr) return std::nullopt;
  std::optional<GoalOutcome> outcome = EvaluateGoal(*row, m);
  if (!outcome.has_value()) return std::nullopt;
  return outcome->met;
}

TEST(EvaluateGoalTest, ThroughputIsHeldToFortyTimesApplyAsync) {
  Measurements m;
  m["python/throughput_tasks_per_s"] = {20000};
  m["unidist/throughput_tasks_per_s"] = {700000};
  EXPECT_EQ(GoalMet("unidist/throughput_tasks_per_s", m), false);
  m["unidist/throughput_tasks_per_s"] = {800000};
  EXPECT_EQ(GoalMet("unidist/throughput_tasks_per_s", m), true);
}

TEST(EvaluateGoalTest, AChainLinkIsHeldToOneAndAHalfLatencies) {
  Measurements m;
  m["unidist/latency_us"] = {10};
  m["unidist/chain_us_per_task"] = {15};
  EXPECT_EQ(GoalMet("unidist/chain_us_per_task", m), true);
  m["unidist/chain_us_per_task"] = {16};
  EXPECT_EQ(GoalMet("unidist/chain_us_per_task", m), false);
}

TEST(EvaluateGoalTest, MissingMeasurementGivesNoVerdict) {
  const std::vector<Row> rows = ComparisonRows(FullWorkloads());
  const Row* row = FindRow(rows, "unidist/latency_us");
  ASSERT_NE(row, nullptr);
  Measurements m;
  m["unidist/latency_us"] = {19};
  EXPECT_FALSE(EvaluateGoal(*row, m).has_value());
}

TEST(MarkdownReportTest, SaysWhenTheMachineItselfMissedTheGoal) {
  Measurements m;
  m["unidist/scaling_speedup_x"] = {1.02};
  m["floor/scaling_speedup_x"] = {1.04};
  const std::string report = MarkdownReport(FullWorkloads(), m);
  EXPECT_NE(report.find("≥ 1.9×: **not met** (1.02); the floor itself reached only 1.04: the "
                        "machine was busy"),
            std::string::npos)
      << report;
  m["floor/scaling_speedup_x"] = {1.98};
  EXPECT_EQ(MarkdownReport(FullWorkloads(), m).find("machine was busy"), std::string::npos);
}

TEST(MarkdownReportTest, EveryRowIsATableLine) {
  Measurements m;
  m["floor/pipe_rtt_us"] = {10};
  m["unidist/latency_us"] = {30};
  const std::string report = MarkdownReport(FullWorkloads(), m);
  EXPECT_NE(report.find("| a. latency: Submit + Get of a trivial task, one at a time | µs | "
                        "30.0 (30.0–30.0) | 10.0 (10.0–10.0) pipe round trip, unpinned | 3.00× |"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("≤ 1× unpinned pipe round trip: **not met** (3.00×)"), std::string::npos);
  EXPECT_NE(report.find("| d. Put 1GiB byte vector → task reads every byte (std::vector "
                        "parameter) | GB/s | — |"),
            std::string::npos);
  EXPECT_NE(report.find("| d. Put 1GiB → task reads every byte (ArrayView<uint8_t> parameter: "
                        "zero-copy) | GB/s | — |"),
            std::string::npos);
}

TEST(MarkdownReportTest, MapIsHeldToPoolMap) {
  Measurements m;
  m["unidist/map_tasks_per_s"] = {2000000};
  m["python/map_tasks_per_s"] = {4000000};
  m["python/throughput_tasks_per_s"] = {20000};
  const std::string report = MarkdownReport(FullWorkloads(), m);
  EXPECT_NE(report.find("≥ Pool.map with its best chunksize: **not met** (0.5×)"),
            std::string::npos)
      << report;
}

TEST(ResolveFastestTest, PicksTheVariantWithTheLowestMedian) {
  const std::vector<Row> rows = ComparisonRows(FullWorkloads());
  const Row* row = FindRow(rows, "unidist/partitions_s");  // the first: against the fastest
  ASSERT_NE(row, nullptr);
  ASSERT_FALSE(row->python_fastest_of.empty());
  Measurements m;
  m["unidist/partitions_s"] = {3};
  m["python/partitions_pool_s"] = {20, 22, 21};
  m["python/partitions_dask_threaded_s"] = {0.7, 0.9, 0.6};
  m["python/partitions_dask_distributed_s"] = {4};
  const Row resolved = ResolveFastest(*row, m);
  EXPECT_EQ(resolved.python, "python/partitions_dask_threaded_s");
  EXPECT_EQ(resolved.python_label, "Dask threaded");
  std::optional<GoalOutcome> outcome = EvaluateGoal(*row, m);
  ASSERT_TRUE(outcome.has_value());
  EXPECT_DOUBLE_EQ(outcome->value, 3 / 0.7);
  EXPECT_FALSE(outcome->met);
  // A variant that did not run is not the fastest.
  m.erase("python/partitions_dask_threaded_s");
  EXPECT_EQ(ResolveFastest(*row, m).python, "python/partitions_dask_distributed_s");
  EXPECT_TRUE(EvaluateGoal(*row, m)->met);
}

TEST(MarkdownReportTest, SaysWhyAPythonVariantDidNotes) {
  Measurements m;
  m["unidist/partitions_s"] = {3};
  m["python/partitions_pool_s"] = {20};
  Notes notes;
  notes["python/partitions_dask_threaded_s"] = "not run: No module named 'dask'";
  notes["python/partitions_pool_s"] = "1 of 5 repetitions (time budget)";
  const std::string report = MarkdownReport(FullWorkloads(), m, notes);
  EXPECT_NE(report.find("| 20.0 (20.0–20.0) Pool (1 of 5 repetitions (time budget)) | 0.15× |"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("| not run: No module named 'dask' | — |"), std::string::npos) << report;
  // None ran: the fastest-of row says why each is missing.
  m.erase("python/partitions_pool_s");
  notes["python/partitions_pool_s"] = "not run: No module named 'numpy'";
  EXPECT_NE(MarkdownReport(FullWorkloads(), m, notes)
                .find("| Pool: not run: No module named 'numpy'; Dask threaded: not run: No "
                      "module named 'dask' | — |"),
            std::string::npos)
      << MarkdownReport(FullWorkloads(), m, notes);
  // The same reason for all three: said once.
  for (const char* key : {"python/partitions_pool_s", "python/partitions_dask_threaded_s",
                          "python/partitions_dask_distributed_s"}) {
    notes[key] = "not run: No module named 'numpy'";
  }
  EXPECT_NE(MarkdownReport(FullWorkloads(), m, notes)
                .find("Python: the fastest variant | s | 3.00 (3.00–3.00) | — | — | not run: No "
                      "module named 'numpy' | — |"),
            std::string::npos)
      << MarkdownReport(FullWorkloads(), m, notes);
}

TEST(EvaluateGoalTest, StoreGoalsAreRatiosToMemcpyAndCopies) {
  const std::vector<Row> rows = ComparisonRows(FullWorkloads());
  const Row* put = FindRow(rows, "unidist/put_alone_1GiB_steady_GBps");
  const Row* get = FindRow(rows, "unidist/get_alone_100MiB_steady_GBps");
  const Row* copies = FindRow(rows, "unidist/read_1GiB_by_8_copies");
  ASSERT_NE(put, nullptr);
  ASSERT_NE(get, nullptr);
  ASSERT_NE(copies, nullptr);
  Measurements m;
  m["floor/memcpy_GBps"] = {10};
  m["unidist/put_alone_1GiB_steady_GBps"] = {8.5};
  m["unidist/get_alone_100MiB_steady_GBps"] = {4};
  m["unidist/read_1GiB_by_8_copies"] = {1.02};
  EXPECT_TRUE(EvaluateGoal(*put, m)->met);
  EXPECT_FALSE(EvaluateGoal(*get, m)->met);
  EXPECT_TRUE(EvaluateGoal(*copies, m)->met);
  m["unidist/read_1GiB_by_8_copies"] = {2};
  EXPECT_FALSE(EvaluateGoal(*copies, m)->met);
}

TEST(JsonReportTest, HoldsRowsAndSamples) {
  Measurements m;
  m["unidist/latency_us"] = {30, 31};
  RunInfo info;
  info.errors = {"boom"};
  info.notes["python/partitions_pool_s"] = "not run: no numpy";
  const std::string json = JsonReport(FullWorkloads(), m, info);
  EXPECT_NE(json.find("\"unidist/latency_us\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"boom\""), std::string::npos);
  EXPECT_NE(json.find("\"rows\""), std::string::npos);
  EXPECT_NE(json.find("\"python_note\": \"not run: no numpy\""), std::string::npos) << json;
}

}  // namespace
}  // namespace unidist::bench
