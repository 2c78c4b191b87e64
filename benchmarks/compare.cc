// Copyright 2026 The unidist-cpp Authors.
//
// //benchmarks:compare — runs every workload of workloads.h on unidist-cpp and on its
// baselines in one run (the C++ floor, then Python: multiprocessing.Pool and Dask, then
// unidist-cpp), prints a Markdown table to stdout and writes the same data as JSON.
//
//   ./bazelw run //benchmarks:compare                 # the full comparison, < 8 minutes
//   ./bazelw run //benchmarks:compare -- --quick      # small sizes, a smoke test
//
// Flags:
//   --out=PATH              the JSON file (default: benchmarks/results.json in the
//                           workspace under `bazel run`, else results.json here)
//   --quick                 small sizes (QuickWorkloads())
//   --python_baseline=PATH  the Python script (default: found in the runfiles)
//   --skip_python, --skip_floor, --skip_unidist   leave a source out
//   --unidist_groups=a,b    only these unidist-cpp groups (memory, startup, tasks, loaded,
//                           rings, scaling, scheduling, partitions, store, large; see
//                           unidist_workloads.h),
//                           e.g. for profiling
//
// Progress goes to stderr. Exits 1 if a measurement failed (its error is printed under
// the table), 0 otherwise — goals not met do not change the exit code.

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmarks/floor.h"
#include "benchmarks/measure.h"
#include "benchmarks/python_baseline.h"
#include "benchmarks/report.h"
#include "benchmarks/unidist_workloads.h"
#include "benchmarks/workloads.h"

namespace unidist::bench {
namespace {

// The whole comparison must end within 8 minutes of `bazel run`, build included: the
// slow groups (unidist-cpp's partitions, store, spill and large) start no repetition that would
// end later than this after the start.
constexpr absl::Duration kBudget = absl::Seconds(450);

struct Flags {
  std::string out;
  std::string python_baseline;
  bool quick = false;
  bool skip_python = false;
  bool skip_floor = false;
  bool skip_unidist = false;
  std::vector<std::string> unidist_groups;  // empty: all
};

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--out=")) {
      flags->out = std::string(arg);
    } else if (absl::ConsumePrefix(&arg, "--python_baseline=")) {
      flags->python_baseline = std::string(arg);
    } else if (absl::ConsumePrefix(&arg, "--unidist_groups=")) {
      flags->unidist_groups = absl::StrSplit(arg, ',', absl::SkipEmpty());
      for (const std::string& group : flags->unidist_groups) {
        const std::vector<std::string> known = UnidistGroups();
        if (std::find(known.begin(), known.end(), group) == known.end()) {
          std::fprintf(stderr, "unknown group %s; the groups are %s\n", group.c_str(),
                       absl::StrJoin(known, ",").c_str());
          return false;
        }
      }
    } else if (arg == "--quick") {
      flags->quick = true;
    } else if (arg == "--skip_python") {
      flags->skip_python = true;
    } else if (arg == "--skip_floor") {
      flags->skip_floor = true;
    } else if (arg == "--skip_unidist") {
      flags->skip_unidist = true;
    } else {
      std::fprintf(stderr,
                   "unknown flag %s\nusage: compare [--out=PATH] [--quick] "
                   "[--python_baseline=PATH] [--skip_python] [--skip_floor] [--skip_unidist] "
                   "[--unidist_groups=a,b]\n",
                   argv[i]);
      return false;
    }
  }
  return true;
}

std::string DefaultOutPath() {
  if (const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY"); workspace != nullptr) {
    return absl::StrCat(workspace, "/benchmarks/results.json");
  }
  return "results.json";
}

void Record(const std::string& key, absl::StatusOr<Samples> samples, Measurements* m,
            std::vector<std::string>* errors) {
  if (!samples.ok()) {
    errors->push_back(absl::StrCat(key, ": ", samples.status().ToString()));
    std::fprintf(stderr, "[floor]   %s FAILED: %s\n", key.c_str(),
                 samples.status().ToString().c_str());
    return;
  }
  (*m)[key] = *std::move(samples);
  const Summary s = Summarize((*m)[key]);
  std::fprintf(stderr, "[floor]   %-36s %12.4g  (%.4g .. %.4g)\n", key.c_str(), s.median, s.min,
               s.max);
}

void RunFloor(const Workloads& w, bool quick, Measurements* m, std::vector<std::string>* errors) {
  const int round_trips = quick ? 1000 : 5000;
  const size_t stream_bytes = (quick ? 32 : 128) * kOneMiB;
  const size_t memcpy_bytes = quick ? 64 * kOneMiB : kOneGiB;
  Record("floor/pipe_rtt_us", PipeRoundTripUs(Placement::kUnpinned, round_trips, w.short_reps), m,
         errors);
  Record("floor/pipe_rtt_same_cpu_us",
         PipeRoundTripUs(Placement::kSameCpu, round_trips / 2, w.reps), m, errors);
  Record("floor/pipe_rtt_other_cpus_us",
         PipeRoundTripUs(Placement::kOtherCpus, round_trips / 5, w.reps), m, errors);
  // What the transport itself costs, and what a shared-memory ring's wake-ups would.
  Record("floor/socket_poll_rtt_us",
         RoundTripUs(Transport::kUnixSocketPoll, round_trips, w.short_reps), m, errors);
  Record("floor/futex_rtt_us", RoundTripUs(Transport::kFutex, round_trips, w.short_reps), m,
         errors);
  // Left alone, the scheduler puts the two processes on one CPU (about 6 µs here) or on
  // two (10 times slower), run by run. The latency floor is the better of the two
  // placements measured, so that the verdict does not depend on that coin toss.
  std::optional<Summary> best;
  for (const char* key : {"floor/pipe_rtt_us", "floor/pipe_rtt_same_cpu_us"}) {
    auto it = m->find(key);
    if (it == m->end() || it->second.empty()) continue;
    const Summary s = Summarize(it->second);
    if (!best || s.median < best->median) {
      best = s;
      (*m)["floor/pipe_rtt_best_us"] = it->second;
    }
  }
  Record("floor/pipe_stream_GBps", StreamGBps(Stream::kPipe, stream_bytes, w.reps), m, errors);
  Record("floor/large_pipe_stream_GBps", StreamGBps(Stream::kLargePipe, stream_bytes, w.reps), m,
         errors);
  Record("floor/unix_socket_stream_GBps", StreamGBps(Stream::kUnixSocket, stream_bytes, w.reps), m,
         errors);
  Record("floor/memcpy_GBps", MemcpyGBps(memcpy_bytes, w.reps), m, errors);
  Record("floor/fresh_memory_GBps", FreshMemoryGBps(memcpy_bytes / 4, w.reps), m, errors);
  Record("floor/fresh_copy_GBps", FreshCopyGBps(w.get_bytes, w.reps), m, errors);
}

void RunPython(const Workloads& w, const std::string& explicit_script, Measurements* m,
               RunInfo* info) {
  absl::StatusOr<std::string> script = FindPythonBaseline(explicit_script);
  // Two minutes for the Pool groups, the partitions group's own budget, and a minute for
  // its last repetition and the ends of its LocalCluster.
  const absl::Duration timeout = absl::Minutes(3) + absl::Seconds(w.python_partitions_budget_s);
  absl::StatusOr<PythonBaseline> baseline =
      script.ok() ? RunPythonBaseline(*script, w, timeout) : script.status();
  if (!baseline.ok()) {
    info->errors.push_back(absl::StrCat("python: ", baseline.status().ToString()));
    std::fprintf(stderr, "[python]  FAILED: %s\n", baseline.status().ToString().c_str());
    return;
  }
  info->python_version = baseline->python_version;
  if (!baseline->partitions_python.empty()) {
    absl::StrAppend(&info->python_version, " (the h rows: ", baseline->partitions_python, ")");
  }
  for (auto& [metric, samples] : baseline->samples) (*m)["python/" + metric] = std::move(samples);
  for (auto& [metric, note] : baseline->notes) info->notes["python/" + metric] = note;
  for (const std::string& error : baseline->errors) {
    info->errors.push_back(absl::StrCat("python: ", error));
  }
}

int Main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) return 2;
  const Workloads workloads = flags.quick ? QuickWorkloads() : FullWorkloads();
  const absl::Time started = absl::Now();
  Stopwatch total;
  Measurements m;
  RunInfo info;
  info.started = absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez", started, absl::LocalTimeZone());
  info.cpus = static_cast<int>(std::thread::hardware_concurrency());
  info.quick = flags.quick;

  auto phase = [&](const char* name, auto&& run) {
    Stopwatch watch;
    run();
    std::fprintf(stderr, "== %s: %.1f s\n", name, watch.Seconds());
  };
  if (!flags.skip_floor)
    phase("C++ floor", [&] { RunFloor(workloads, flags.quick, &m, &info.errors); });
  if (!flags.skip_python) {
    phase("Python (multiprocessing.Pool, Dask)",
          [&] { RunPython(workloads, flags.python_baseline, &m, &info); });
  }
  if (!flags.skip_unidist) {
    phase("unidist-cpp", [&] {
      RunUnidistWorkloads(workloads, flags.unidist_groups, started + kBudget, &m, &info.errors);
    });
  }
  info.total_seconds = total.Seconds();

  std::string table = MarkdownReport(workloads, m, info.notes);
  utsname machine;
  if (uname(&machine) == 0) {
    absl::StrAppend(&table, "\n", info.cpus, " CPUs, Linux ", machine.release, ", Python ",
                    info.python_version.empty() ? "?" : info.python_version, "; ", info.started,
                    "; the whole comparison took ", absl::StrFormat("%.0f", info.total_seconds),
                    " s", flags.quick ? " (--quick: small sizes)" : "", ".\n");
  }
  for (const std::string& error : info.errors) absl::StrAppend(&table, "\nERROR: ", error, "\n");
  std::fputs(table.c_str(), stdout);
  std::fflush(stdout);

  const std::string out_path = flags.out.empty() ? DefaultOutPath() : flags.out;
  std::ofstream out(out_path);
  out << JsonReport(workloads, m, info);
  out.close();
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", out_path.c_str());
    return 1;
  }
  std::fprintf(stderr, "wrote %s; total %.1f s\n", out_path.c_str(), info.total_seconds);
  return info.errors.empty() ? 0 : 1;
}

}  // namespace
}  // namespace unidist::bench

int main(int argc, char** argv) { return unidist::bench::Main(argc, argv); }
