// Copyright 2026 The unidist-cpp Authors.
//
// Runs python_baseline.py — Python's multiprocessing.Pool on the workloads of
// workloads.h, and Pool, Dask threaded and Dask distributed on the partitioned one — as a
// child process with the machine's python3 (the first on PATH), and reads back the
// samples it prints as JSON.

#ifndef UNIDIST_BENCHMARKS_PYTHON_BASELINE_H_
#define UNIDIST_BENCHMARKS_PYTHON_BASELINE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "benchmarks/measure.h"
#include "benchmarks/workloads.h"

namespace unidist::bench {

// Where python_baseline.py is: `explicit_path` if not empty; else the copy in this
// binary's runfiles (<exe>.runfiles/unidist/benchmarks/, or under $RUNFILES_DIR);
// else benchmarks/python_baseline.py under the working directory (the runfiles root
// under `bazel run`). NotFound, listing the places tried, if none exists.
absl::StatusOr<std::string> FindPythonBaseline(const std::string& explicit_path);

struct PythonBaseline {
  std::string python_version;  // as the script reports it, e.g. "3.11.7"
  Measurements samples;        // by metric name, without a "python/" prefix
  // Why a metric has no samples or fewer than asked, by metric name without the prefix,
  // as the script says it: "not run: No module named 'numpy' (...)", "3 of 5 repetitions
  // (time budget)".
  std::map<std::string, std::string> notes;
  // The interpreter and library versions the partitions group ran with, e.g.
  // "/usr/bin/python3 3.11.2, numpy 1.24.2, dask 2022.12.1, distributed 2022.12.1"; ""
  // if it did not run.
  std::string partitions_python;
  // Failures the script reported without stopping (e.g. one Dask variant raised).
  std::vector<std::string> errors;
};

// Runs `python3 <script>` with `workloads` as flags and parses its output. Its stderr
// (progress lines) goes to ours. Internal if python3 cannot be started or exits with an
// error; DeadlineExceeded (after killing it and every process it started) if it runs
// longer than `timeout`; DataLoss if its output is not the JSON the script documents.
absl::StatusOr<PythonBaseline> RunPythonBaseline(const std::string& script,
                                                 const Workloads& workloads,
                                                 absl::Duration timeout);

// Parses the script's JSON output (exposed for tests).
absl::StatusOr<PythonBaseline> ParsePythonBaselineOutput(const std::string& json);

}  // namespace unidist::bench

#endif  // UNIDIST_BENCHMARKS_PYTHON_BASELINE_H_
