// Copyright 2026 The unidist-cpp Authors.
//
// The output of //benchmarks:compare: one Markdown table that lines unidist-cpp up against
// its baselines workload by workload (median and min–max of each, the ratio, and the goal
// met or not), a second table of the floor measurements, and the same data as JSON.
//
// Ratios are always unidist-cpp's median divided by the baseline's median, in the row's
// unit: for times lower is better, for rates higher is better; each goal says which way.

#ifndef UNIDIST_BENCHMARKS_REPORT_H_
#define UNIDIST_BENCHMARKS_REPORT_H_

#include <optional>
#include <string>
#include <vector>

#include "benchmarks/measure.h"
#include "benchmarks/workloads.h"

namespace unidist::bench {

// A target a row is held to: `value` <= or >= `threshold`, where `value` is the ratio of
// unidist-cpp to one of the row's baselines, or unidist-cpp's own median.
struct Goal {
  enum class Of { kFloorRatio, kPythonRatio, kPythonMapRatio, kValue };
  Of of = Of::kValue;
  bool at_most = true;  // value <= threshold (else >=)
  double threshold = 0;
  std::string text;  // as printed, e.g. "≤ 2× pipe round trip"
};

struct Row {
  std::string workload;
  std::string unit;
  std::string unidist;  // metric keys ("unidist/latency_us"); "" for none
  std::string floor;
  std::string floor_label;  // what the floor is, e.g. "pipe round trip"
  std::string python;       // Pool.apply_async (or Pool itself)
  std::string python_map;   // Pool.map
  std::string python_note;  // shown instead of the Python cell when `python` is ""
  std::optional<Goal> goal;
};

struct GoalOutcome {
  double value = 0;
  bool met = false;
};

// The rows of the comparison for these workloads.
std::vector<Row> ComparisonRows(const Workloads& workloads);

// The goal's value and verdict, or nullopt if the row has no goal or a needed median is
// missing.
std::optional<GoalOutcome> EvaluateGoal(const Row& row, const Measurements& m);

// For a goal on unidist-cpp's own value (e.g. a speedup) whose row has a floor: whether the
// floor's median meets the same goal. False means the machine itself did not allow it in
// this run (other users' load), so the verdict says little about unidist-cpp.
std::optional<bool> FloorMeetsGoal(const Row& row, const Measurements& m);

// "12.3 (11.9–13.1)", with about three significant digits; "—" without samples.
std::string FormatSummary(const Summary& summary);
std::string FormatNumber(double value);

// The two Markdown tables (comparison, then floor), with a line above them saying what
// the ratio means.
std::string MarkdownReport(const Workloads& workloads, const Measurements& m);

struct RunInfo {
  std::string started;       // local time, ISO 8601
  double total_seconds = 0;  // the whole comparison, wall clock
  int cpus = 0;
  std::string python_version;
  bool quick = false;
  std::vector<std::string> errors;
};

// Every row (medians, min, max, ratios, goals) and every raw sample, as JSON.
std::string JsonReport(const Workloads& workloads, const Measurements& m, const RunInfo& info);

}  // namespace unidist::bench

#endif  // UNIDIST_BENCHMARKS_REPORT_H_
