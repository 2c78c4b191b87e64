// Copyright 2026 The unidist-cpp Authors.
//
// Helpers shared by the benchmark programs: the samples of repeated measurements and their
// summary (median, min, max), a monotonic stopwatch, and a process's memory as /proc reports
// it.
//
// A measurement is a list of samples, one per repetition, filed under a key
// "<source>/<metric>" — e.g. "unidist/latency_us", "floor/pipe_rtt_us",
// "python/latency_us" — so that the report can line the sources up by metric.
//
// Example:
//   Measurements m;
//   for (int rep = 0; rep < 5; ++rep) {
//     Stopwatch watch;
//     DoWork();
//     m["unidist/work_ms"].push_back(watch.Seconds() * 1e3);
//   }
//   Summary s = Summarize(m["unidist/work_ms"]);  // s.median, s.min, s.max
//
// Thread-compatible: no shared state.

#ifndef UNIDIST_BENCHMARKS_MEASURE_H_
#define UNIDIST_BENCHMARKS_MEASURE_H_

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace unidist::bench {

using Samples = std::vector<double>;
// Every measurement of a run, by "<source>/<metric>".
using Measurements = std::map<std::string, Samples>;

struct Summary {
  size_t count = 0;   // 0: no samples (the other fields are then 0)
  double median = 0;  // the middle sample; the mean of the two middle ones for an even count
  double min = 0;
  double max = 0;
};

Summary Summarize(Samples samples);

// Wall-clock time on the monotonic clock since construction or the last Restart().
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void Restart() { start_ = std::chrono::steady_clock::now(); }
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

inline constexpr double kMiB = 1024.0 * 1024.0;

// A process's memory in bytes. `rss` is VmRSS: every resident page mapped, shared ones
// included (a forked child counts the pages it still shares with its parent, and a
// worker the pages of the shared-memory store it has touched). `rss_anon` is RssAnon:
// the resident anonymous pages (heap, stacks, copy-on-write copies), without file
// mappings or shared memory. `private_bytes` is Private_Clean + Private_Dirty from
// smaps_rollup: the pages only it maps, i.e. what ending the process would free.
struct ProcessMemory {
  size_t rss = 0;
  size_t rss_anon = 0;
  size_t private_bytes = 0;
};

// Reads /proc/<pid>/status and /proc/<pid>/smaps_rollup. NotFound if the process is gone
// (or the files cannot be read), DataLoss if a field is missing or malformed.
absl::StatusOr<ProcessMemory> ReadProcessMemory(int pid);

// RssAnon of /proc/<pid>/status alone (see ProcessMemory), cheaper than ReadProcessMemory
// for sampling while tasks run. NotFound if the process is gone; DataLoss if the line is
// missing or malformed.
absl::StatusOr<size_t> ReadRssAnonBytes(int pid);

// The machine's shared memory in use (Shmem in /proc/meminfo: tmpfs and memfd pages,
// the shared-memory store's among them), in bytes. NotFound if /proc/meminfo cannot be
// read or has no Shmem line; DataLoss if the line is malformed.
absl::StatusOr<size_t> ReadShmemBytes();

// The value of a "<field>:   <number> kB" line of /proc status-like `text`, in bytes.
// NotFound if no line names `field`; DataLoss if its value is not "<number> kB".
absl::StatusOr<size_t> ParseKbField(absl::string_view text, absl::string_view field);

}  // namespace unidist::bench

#endif  // UNIDIST_BENCHMARKS_MEASURE_H_
