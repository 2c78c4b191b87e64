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

#include <map>
#include <optional>
#include <string>
#include <utility>
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
  std::string text;  // as printed, e.g. "≤ 1× unpinned pipe round trip"
};

struct Row {
  std::string workload;
  std::string unit;
  std::string unidist;  // metric keys ("unidist/latency_us"); "" for none
  std::string floor;
  std::string floor_label;  // what the floor is, e.g. "pipe round trip"
  std::string python;       // Pool.apply_async (or Pool itself, or as python_label says)
  std::string python_map;   // Pool.map
  std::string python_note;  // shown instead of the Python cell when `python` is ""
  std::optional<Goal> goal;
  // Shown after the Python cell's numbers, e.g. "Dask threaded"; "" for Pool.
  std::string python_label{};
  // When not empty, `python` and `python_label` are the entry with the lowest median
  // among these (metric key, label) pairs (see ResolveFastest): for rows whose unit is a
  // time, to compare with the fastest of several Python variants.
  std::vector<std::pair<std::string, std::string>> python_fastest_of{};
};

// Why a metric has no samples, or fewer than asked, by key, as the sources say it:
// "python/partitions_dask_threaded_s" -> "not run: No module named 'dask' (...)", or
// "3 of 5 repetitions (time budget)". The report shows the note in the metric's cell.
using Notes = std::map<std::string, std::string>;

struct GoalOutcome {
  double value = 0;
  bool met = false;
};

// The rows of the comparison for these workloads.
std::vector<Row> ComparisonRows(const Workloads& workloads);

// `row` with `python` and `python_label` set to the entry of `python_fastest_of` whose
// median is the lowest (the first such on a tie); unchanged if it has no such list or
// none of them has samples. EvaluateGoal, MarkdownReport and JsonReport resolve rows so.
Row ResolveFastest(const Row& row, const Measurements& m);

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
// the ratio means. A Python cell shows its metric's entry in `notes`, if any: instead of
// the numbers when there are none, else after them in brackets.
std::string MarkdownReport(const Workloads& workloads, const Measurements& m,
                           const Notes& notes = {});

struct RunInfo {
  std::string started;       // local time, ISO 8601
  double total_seconds = 0;  // the whole comparison, wall clock
  int cpus = 0;
  std::string python_version;
  bool quick = false;
  std::vector<std::string> errors;
  Notes notes;  // metrics a source left out or cut short on purpose, and why
};

// Every row (medians, min, max, ratios, goals) and every raw sample, as JSON.
std::string JsonReport(const Workloads& workloads, const Measurements& m, const RunInfo& info);

}  // namespace unidist::bench

#endif  // UNIDIST_BENCHMARKS_REPORT_H_
