// Copyright 2026 The unidist-cpp Authors.
//
// //benchmarks:soak — a long mixed load, to see that nothing grows: small tasks, Map,
// actors created and killed, large objects through the shared-memory store (more than it
// holds, so some spill to files), GetView, Allocate + Seal, and tasks that kill their
// worker. Every --sample_seconds it prints a Markdown table row: the driver's resident and
// private memory, its open descriptors, the machine's shared memory, the store's bytes and
// spilled bytes, the processes under the driver, and how much work has been done. A curve
// that is flat after the first samples is what it is for; docs/performance.md shows one.
//
//   ./bazelw run //benchmarks:soak                           # an hour, a row a minute
//   ./bazelw run //benchmarks:soak -- --minutes=5 --sample_seconds=10
//
// Not a test: it takes an hour by default and asserts nothing about time. It exits 1 if
// any result is wrong or any call fails other than as the load intends.

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "benchmarks/measure.h"
#include "unidist/testing/process_helpers.h"
#include "unidist/unidist.h"

namespace soak {

int Square(int x) { return x * x; }
double Sum(unidist::ArrayView<double> values) {
  double sum = 0;
  for (size_t i = 0; i < values.size(); ++i) sum += values[i];
  return sum;
}
std::vector<double> Ones(uint64_t n) { return std::vector<double>(n, 1.0); }
int KillsItsWorker(int) {
  raise(SIGKILL);
  return 0;
}

class Counter {
 public:
  int Add(int x) { return total_ += x; }

 private:
  int total_ = 0;
};
UNIDIST_ACTOR(Counter);

}  // namespace soak

UNIDIST_REMOTE(soak::Square, soak::Sum, soak::Ones, soak::KillsItsWorker, &soak::Counter::Add);

namespace {

using unidist::Get;
using unidist::ObjectRef;

constexpr size_t kLargeDoubles = size_t{4} << 20;  // 32 MiB objects
constexpr size_t kHeldLarge = 24;                  // 768 MiB held, store 512 MiB: spills

int OpenDescriptors() {
  int count = 0;
  if (DIR* dir = opendir("/proc/self/fd")) {
    while (dirent* entry = readdir(dir)) count += entry->d_name[0] != '.' ? 1 : 0;
    closedir(dir);
  }
  return count - 1;  // the directory itself
}

struct Progress {
  uint64_t tasks = 0;
  uint64_t crashes = 0;
  uint64_t actors = 0;
  uint64_t large_bytes = 0;
  std::vector<std::string> errors;
  void Check(bool ok, const std::string& what) {
    if (!ok && errors.size() < 20) errors.push_back(what);
  }
};

// One round of every kind of work.
void Round(int round, std::deque<ObjectRef<std::vector<double>>>* held, Progress* progress) {
  std::vector<ObjectRef<int>> squares;
  for (int i = 0; i < 200; ++i) squares.push_back(unidist::Submit(soak::Square, i));
  absl::StatusOr<std::vector<int>> got = Get(squares);
  progress->Check(got.ok() && got->size() == 200 && (*got)[199] == 199 * 199, "small tasks");
  std::vector<int> inputs(1000);
  for (int i = 0; i < 1000; ++i) inputs[i] = i;
  absl::StatusOr<std::vector<int>> mapped = Get(unidist::Map(soak::Square, inputs));
  progress->Check(mapped.ok() && (*mapped)[999] == 999 * 999, "Map");
  progress->tasks += 200 + 1000;

  unidist::Actor<soak::Counter> counter = unidist::CreateActor<soak::Counter>();
  ObjectRef<int> total;
  for (int i = 1; i <= 50; ++i) total = counter.Submit(&soak::Counter::Add, i);
  progress->Check(Get(total).ok() && *Get(total) == 1275, "actor calls");
  if (round % 2 == 0) progress->Check(counter.Kill().ok(), "Kill");  // else: dropped
  ++progress->actors;

  // Large objects, more than the store holds: the oldest held ones spill.
  absl::StatusOr<unidist::WritableArray<double>> array = unidist::Allocate<double>(kLargeDoubles);
  progress->Check(array.ok(), "Allocate");
  if (array.ok()) {
    for (double& value : *array) value = 2.0;
    held->push_back(unidist::Seal(*std::move(array)));
  }
  held->push_back(unidist::Put(std::vector<double>(kLargeDoubles, 3.0)));
  held->push_back(unidist::Submit(soak::Ones, uint64_t{kLargeDoubles}));
  while (held->size() > kHeldLarge) held->pop_front();
  for (size_t i = held->size() - 3; i < held->size(); ++i) {
    absl::StatusOr<double> sum = Get(unidist::Submit(soak::Sum, (*held)[i]));
    progress->Check(sum.ok() && *sum > 0, absl::StrCat("Sum of a large object: ",
                                                       sum.ok() ? "" : sum.status().ToString()));
    absl::StatusOr<unidist::ObjectView<double>> view = unidist::GetView((*held)[i]);
    progress->Check(view.ok() && view->size() == kLargeDoubles, "GetView");
  }
  // An old one, likely spilled: read back.
  absl::StatusOr<double> old = Get(unidist::Submit(soak::Sum, held->front()));
  progress->Check(old.ok(), "Sum of a spilled object");
  progress->large_bytes += 3 * kLargeDoubles * sizeof(double);
  progress->tasks += 5;

  if (round % 5 == 0) {
    absl::StatusOr<int> crashed = Get(unidist::Submit(soak::KillsItsWorker, 0));
    progress->Check(absl::IsUnavailable(crashed.status()), "a crash fails with Unavailable");
    ++progress->crashes;
  }
}

void PrintRow(double minutes, const Progress& progress) {
  const unidist::Stats stats = unidist::GetStats();
  absl::StatusOr<unidist::bench::ProcessMemory> memory =
      unidist::bench::ReadProcessMemory(getpid());
  absl::StatusOr<size_t> shmem = unidist::bench::ReadShmemBytes();
  std::printf(
      "| %.1f | %.1f | %.1f | %d | %.0f | %.0f | %.0f | %zu | %llu | %llu | %llu | %.1f |\n",
      minutes, memory.ok() ? memory->rss / 1048576.0 : -1.0,
      memory.ok() ? memory->rss_anon / 1048576.0 : -1.0, OpenDescriptors(),
      shmem.ok() ? *shmem / 1048576.0 : -1.0, stats.object_store_bytes / 1048576.0,
      stats.spilled_bytes / 1048576.0, unidist::testing::DescendantProcesses(getpid()).size(),
      static_cast<unsigned long long>(progress.tasks),
      static_cast<unsigned long long>(progress.actors),
      static_cast<unsigned long long>(progress.crashes), progress.large_bytes / 1073741824.0);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  double minutes = 60;         // --minutes: how long to run
  double sample_seconds = 60;  // --sample_seconds: how often to print a row
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    double* value = absl::ConsumePrefix(&arg, "--minutes=")          ? &minutes
                    : absl::ConsumePrefix(&arg, "--sample_seconds=") ? &sample_seconds
                                                                     : nullptr;
    if (value == nullptr || !absl::SimpleAtod(arg, value) || *value <= 0) {
      std::fprintf(stderr, "soak: bad flag %s (--minutes=M --sample_seconds=S)\n", argv[i]);
      return 2;
    }
  }
  unidist::Options options;
  options.num_workers = 2;
  options.object_store_memory = size_t{512} << 20;
  if (absl::Status started = unidist::Init(options); !started.ok()) {
    std::fprintf(stderr, "soak: Init: %s\n", started.ToString().c_str());
    return 1;
  }
  std::printf(
      "| minute | driver RSS MiB | driver RssAnon MiB | open fds | Shmem MiB | store MiB | "
      "spilled MiB | processes | tasks | actors | crashes | large GiB moved |\n"
      "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Minutes(minutes);
  const absl::Duration every = absl::Seconds(sample_seconds);
  absl::Time next_sample = start;
  std::deque<ObjectRef<std::vector<double>>> held;
  Progress progress;
  for (int round = 0;; ++round) {
    const absl::Time now = absl::Now();
    if (now >= next_sample) {
      PrintRow(absl::ToDoubleMinutes(now - start), progress);
      next_sample += every;
    }
    if (now >= end) break;
    Round(round, &held, &progress);
  }
  held.clear();
  const absl::Status stopped = unidist::Shutdown();
  PrintRow(absl::ToDoubleMinutes(absl::Now() - start), progress);
  std::printf("\nafter Shutdown: %zu processes under the driver, %d open descriptors\n",
              unidist::testing::DescendantProcesses(getpid()).size(), OpenDescriptors());
  for (const std::string& error : progress.errors) std::printf("error: %s\n", error.c_str());
  return stopped.ok() && progress.errors.empty() ? 0 : 1;
}
