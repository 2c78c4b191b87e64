// Copyright 2026 The unidist-cpp Authors.
//
// //benchmarks:mpi_scaling — the mpi backend across ranks, run under mpirun by
// benchmarks/mpi_scaling.sh (which also measures the floors and prints the whole table):
//   * CPU-bound speedup: the same tasks (a calibrated spin, ~20 ms each) on 1, 2, 4, ...
//     workers up to all of them (the default: each worker rank's CPUs), a session each;
//   * moving a large value between ranks: a task on rank 1 fills --move_bytes in its
//     rank's store, a task on rank 2 reads them all (fetched from rank 1), and a task on
//     rank 1 reads them in place; the cross-rank read less the in-place one is the move,
//     set against --floor_move_ms (plain MPI's, same run, same transport);
//   * latency of Submit + Get, back to back and after an idle pause;
//   * what an idle worker rank costs: its process's CPU time over --idle_seconds with a
//     session open and no tasks, and between sessions (from /proc, ranks on this host only).
// Prints Markdown rows (| workload | unit | median (min–max) | floor | ratio |) to stdout.
//
// Flags: --quick (small sizes, one repetition), --floor_move_ms=X, --transport=LABEL (for
// the rows' names), --move_bytes=N (default 100 MiB), --idle_seconds=S (default 4),
// --groups=a,b (of scaling, move, latency, idle; default all).

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmarks/bench_tasks.h"
#include "benchmarks/measure.h"
#include "common/cpus.h"
#include "mpi/mpi_backend.h"
#include "unidist/unidist.h"

namespace {

using ::unidist::bench::Samples;
using ::unidist::bench::Stopwatch;
using ::unidist::bench::Summarize;
using ::unidist::bench::Summary;

struct Flags {
  bool quick = false;
  double floor_move_ms = 0;
  std::string transport = "default";
  int64_t move_bytes = int64_t{100} << 20;
  double idle_seconds = 4;
  std::set<std::string> groups = {"scaling", "move", "latency", "idle"};
};

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&arg](const char* name) -> const char* {
      const std::string prefix = std::string("--") + name + "=";
      return arg.rfind(prefix, 0) == 0 ? arg.c_str() + prefix.size() : nullptr;
    };
    if (arg == "--quick") {
      flags.quick = true;
    } else if (const char* v = value("floor_move_ms")) {
      (void)absl::SimpleAtod(v, &flags.floor_move_ms);
    } else if (const char* v = value("transport")) {
      flags.transport = v;
    } else if (const char* v = value("move_bytes")) {
      (void)absl::SimpleAtoi(v, &flags.move_bytes);
    } else if (const char* v = value("idle_seconds")) {
      (void)absl::SimpleAtod(v, &flags.idle_seconds);
    } else if (const char* v = value("groups")) {
      flags.groups.clear();
      for (absl::string_view group : absl::StrSplit(v, ',')) {
        flags.groups.insert(std::string(group));
      }
    } else {
      std::fprintf(stderr, "mpi_scaling: unknown flag %s\n", argv[i]);
      std::exit(2);
    }
  }
  if (flags.quick) {
    flags.move_bytes = std::min<int64_t>(flags.move_bytes, int64_t{8} << 20);
    flags.idle_seconds = std::min(flags.idle_seconds, 1.0);
  }
  return flags;
}

void Check(const absl::Status& status, const char* what) {
  if (status.ok()) return;
  std::fprintf(stderr, "mpi_scaling: %s: %s\n", what, status.ToString().c_str());
  std::exit(1);
}

std::string Cell(const Summary& s, const char* format) {
  return absl::StrCat(absl::StrFormat(format, s.median), " (", absl::StrFormat(format, s.min), "–",
                      absl::StrFormat(format, s.max), ")");
}

void PrintRow(const std::string& workload, const std::string& unit, const std::string& value,
              const std::string& floor, const std::string& ratio) {
  std::printf("| %s | %s | %s | %s | %s |\n", workload.c_str(), unit.c_str(), value.c_str(),
              floor.c_str(), ratio.c_str());
  std::fflush(stdout);
}

unidist::Options Session(int num_workers) {
  unidist::Options options;
  options.backend = "mpi";
  options.num_workers = num_workers;
  return options;
}

// The CPUs of the hosts the ranks run on (the ideal speedup's ceiling): on each host the
// ranks' counts add up (unbound ranks share their host: Node::CpusOfRank), and on this
// host no more than it has.
int HostCpus(const std::vector<unidist::NodeInfo>& nodes) {
  std::map<std::string, int> by_host;
  for (const unidist::NodeInfo& node : nodes) by_host[node.host] += node.cpus;
  int cpus = 0;
  for (const auto& [host, count] : by_host) {
    cpus +=
        host == unidist::HostName() ? std::min<int>(count, sysconf(_SC_NPROCESSORS_ONLN)) : count;
  }
  return cpus;
}

void MeasureScaling(const Flags& flags) {
  Check(unidist::Init(Session(0)), "Init");
  const std::vector<unidist::NodeInfo> nodes = unidist::ClusterResources();
  const int all = static_cast<int>(unidist::Workers().size());
  Check(unidist::Shutdown(), "Shutdown");
  std::vector<std::string> places;
  for (const unidist::NodeInfo& node : nodes) {
    places.push_back(absl::StrCat("rank ", node.node, " on ", node.host, ": ", node.cpus, " CPUs, ",
                                  node.workers, " workers"));
  }
  std::fprintf(stderr, "mpi_scaling: %s\n", absl::StrJoin(places, "; ").c_str());
  const int host_cpus = HostCpus(nodes);
  const uint64_t iterations = bench_tasks::CalibrateSpin(flags.quick ? 4 : 20);
  const int tasks = 4 * all;
  const int reps = flags.quick ? 1 : 3;
  std::vector<int> steps;
  for (int k = 1; k < all; k *= 2) steps.push_back(k);
  steps.push_back(all);
  double one_worker_s = 0;
  for (int k : steps) {
    Check(unidist::Init(Session(k)), "Init");
    // Warm: every worker has run a task.
    for (const auto& ref : unidist::Map(bench_tasks::Spin, std::vector<uint64_t>(k, 1))) {
      Check(unidist::Get(ref).status(), "warm-up");
    }
    Samples seconds;
    for (int rep = 0; rep < reps; ++rep) {
      Stopwatch watch;
      std::vector<unidist::ObjectRef<uint64_t>> refs;
      for (int t = 0; t < tasks; ++t) {
        refs.push_back(unidist::Submit(bench_tasks::Spin, iterations));
      }
      for (const auto& ref : refs) Check(unidist::Get(ref).status(), "Spin");
      seconds.push_back(watch.Seconds());
    }
    Check(unidist::Shutdown(), "Shutdown");
    const Summary s = Summarize(seconds);
    if (k == 1) one_worker_s = s.median;
    const double ideal = std::min(k, host_cpus);
    PrintRow(absl::StrCat("CPU-bound, ", tasks, " tasks of ~", flags.quick ? 4 : 20, " ms on ", k,
                          k == 1 ? " worker" : " workers", k == all ? " (all, the default)" : ""),
             "s", Cell(s, "%.3f"),
             absl::StrFormat("ideal speedup %.0f× (%d host CPUs)", ideal, host_cpus),
             absl::StrFormat("speedup %.2f×", one_worker_s / s.median));
  }
}

void MeasureMove(const Flags& flags, int world) {
  if (world < 3) {
    std::fprintf(stderr, "mpi_scaling: moving between ranks needs >= 2 worker ranks\n");
    return;
  }
  Check(unidist::Init(Session(2)), "Init");  // one worker on rank 1, one on rank 2
  const int reps = flags.quick ? 1 : 5;
  Samples cross_ms;
  Samples local_ms;
  for (int rep = 0; rep < reps; ++rep) {
    // Dispatch alternates rank 1, rank 2, rank 1, rank 2.
    unidist::ObjectRef<std::vector<double>> values =
        unidist::Submit(bench_tasks::Filled,
                        static_cast<uint64_t>(flags.move_bytes) / sizeof(double), 1.0);  // rank 1
    Check(unidist::Get(unidist::Submit(bench_tasks::Noop, 0)).status(), "Nothing");      // rank 2
    unidist::Wait(std::vector<unidist::ObjectRef<std::vector<double>>>{values}, 1);
    Stopwatch watch;
    Check(unidist::Get(unidist::Submit(bench_tasks::SumPartition, values)).status(),
          "Sum on rank 1");
    local_ms.push_back(watch.Seconds() * 1e3);
    watch.Restart();
    Check(unidist::Get(unidist::Submit(bench_tasks::SumPartition, values)).status(),
          "Sum on rank 2");
    cross_ms.push_back(watch.Seconds() * 1e3);
  }
  Check(unidist::Shutdown(), "Shutdown");
  const Summary cross = Summarize(cross_ms);
  const Summary local = Summarize(local_ms);
  const double mib = static_cast<double>(flags.move_bytes) / unidist::bench::kMiB;
  PrintRow(absl::StrFormat("read %.0f MiB made on its rank (in place)", mib), "ms",
           Cell(local, "%.1f"), "", "");
  const std::string floor =
      flags.floor_move_ms > 0 ? absl::StrFormat("MPI send %.1f ms", flags.floor_move_ms) : "";
  const std::string ratio =
      flags.floor_move_ms > 0
          ? absl::StrFormat("move %.2f× floor", (cross.median - local.median) / flags.floor_move_ms)
          : "";
  PrintRow(absl::StrFormat("read %.0f MiB made on another rank (%s)", mib, flags.transport), "ms",
           Cell(cross, "%.1f"), floor, ratio);
}

// Submit + Get of a task that does nothing, back to back and after the link has been idle
// for a while (it then polls less often: mpi/internal/link.h).
void MeasureLatency(const Flags& flags) {
  Check(unidist::Init(Session(0)), "Init");
  auto round_trip_us = [] {
    Stopwatch watch;
    Check(unidist::Get(unidist::Submit(bench_tasks::Noop, 1)).status(), "Nothing");
    return watch.Seconds() * 1e6;
  };
  for (int i = 0; i < 20; ++i) round_trip_us();  // every worker warm
  Samples back_to_back;
  for (int i = 0; i < (flags.quick ? 50 : 500); ++i) back_to_back.push_back(round_trip_us());
  std::vector<std::pair<absl::Duration, Samples>> after_pause;
  for (absl::Duration pause : {absl::Milliseconds(10), absl::Milliseconds(50),
                               absl::Milliseconds(200), absl::Seconds(1)}) {
    Samples samples;
    for (int i = 0; i < (flags.quick ? 2 : 7); ++i) {
      absl::SleepFor(pause);
      samples.push_back(round_trip_us());
    }
    after_pause.emplace_back(pause, std::move(samples));
  }
  Check(unidist::Shutdown(), "Shutdown");
  PrintRow("latency, Submit + Get, back to back", "µs", Cell(Summarize(back_to_back), "%.0f"), "",
           "");
  for (const auto& [pause, samples] : after_pause) {
    PrintRow(absl::StrCat("latency, Submit + Get, after ", absl::FormatDuration(pause), " idle"),
             "µs", Cell(Summarize(samples), "%.0f"), "", "");
  }
}

// utime + stime of process `pid` in seconds, from /proc; -1 if it cannot be read.
double ProcessCpuSeconds(int pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::vector<std::string> fields;
  for (size_t at = paren + 2; at < text.size();) {
    const size_t end = std::min(text.find(' ', at), text.size());
    fields.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  // Fields after the name start at field 3 (state); utime is 14, stime 15.
  double utime = 0;
  double stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtod(fields[11], &utime) ||
      !absl::SimpleAtod(fields[12], &stime)) {
    return -1;
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// The goal column of the idle rows: a window shorter than 4 s is mostly the back-off
// after the last message (mpi/internal/link.h), not an idle rank's steady cost.
std::string IdleGoal(const Flags& flags) {
  return flags.idle_seconds >= 4 ? "goal < 1%" : "(short window: mostly the back-off ramp)";
}

void MeasureIdle(const Flags& flags) {
  Check(unidist::Init(Session(0)), "Init");
  absl::StatusOr<unidist::mpi::ObjectTraffic> before = unidist::mpi::QueryObjectTrafficForTesting();
  Check(before.status(), "QueryObjectTrafficForTesting");
  Stopwatch watch;
  absl::SleepFor(absl::Seconds(flags.idle_seconds));
  absl::StatusOr<unidist::mpi::ObjectTraffic> after = unidist::mpi::QueryObjectTrafficForTesting();
  const double wall = watch.Seconds();
  Check(after.status(), "QueryObjectTrafficForTesting");
  const std::vector<unidist::NodeInfo> nodes = unidist::ClusterResources();
  Check(unidist::Shutdown(), "Shutdown");
  Samples in_session;
  std::vector<int> pids;
  for (size_t i = 0; i < before->ranks.size() && i < after->ranks.size(); ++i) {
    in_session.push_back(
        100.0 *
        static_cast<double>(after->ranks[i].process_cpu_ns - before->ranks[i].process_cpu_ns) /
        1e9 / wall);
    // Between sessions only ranks on this host can be watched (through /proc).
    if (i < nodes.size() && nodes[i].host == unidist::HostName())
      pids.push_back(before->ranks[i].pid);
  }
  const Summary session = Summarize(in_session);
  PrintRow(absl::StrFormat("idle worker rank, session open, %.0f s", flags.idle_seconds),
           "% of a core", Cell(session, "%.2f") + " over ranks", "", IdleGoal(flags));
  // Between sessions.
  std::vector<double> start;
  for (int pid : pids) start.push_back(ProcessCpuSeconds(pid));
  watch.Restart();
  absl::SleepFor(absl::Seconds(flags.idle_seconds));
  Samples between;
  for (size_t i = 0; i < pids.size(); ++i) {
    const double end = ProcessCpuSeconds(pids[i]);
    if (start[i] < 0 || end < 0) continue;  // on another host
    between.push_back(100.0 * (end - start[i]) / watch.Seconds());
  }
  if (between.empty()) {
    PrintRow("idle worker rank, between sessions", "% of a core", "n/a (no rank on this host)", "",
             "");
    return;
  }
  PrintRow(absl::StrFormat("idle worker rank, between sessions, %.0f s", flags.idle_seconds),
           "% of a core", Cell(Summarize(between), "%.2f") + " over ranks (/proc: 10 ms ticks)", "",
           IdleGoal(flags));
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  const char* world_env = getenv("OMPI_COMM_WORLD_SIZE");
  int world = 0;
  if (world_env == nullptr || !absl::SimpleAtoi(world_env, &world) || world < 2) {
    std::fprintf(stderr, "mpi_scaling: run under mpirun with at least 2 ranks\n");
    return 2;
  }
  // The worker ranks serve from here on (unidist::Init turns them into worker ranks).
  if (flags.groups.count("scaling") > 0) MeasureScaling(flags);
  if (flags.groups.count("move") > 0) MeasureMove(flags, world);
  if (flags.groups.count("latency") > 0) MeasureLatency(flags);
  if (flags.groups.count("idle") > 0) MeasureIdle(flags);
  return 0;
}
