// Copyright 2026 The unidist-cpp Authors.
//
// Quickstart: estimate pi by Monte Carlo sampling, spread over worker processes.
//
// Each task draws points in the unit square and counts those inside the quarter circle.
// The sampling settings go into the object store once (Put) and every task reads them
// through its ObjectRef; results are collected as they finish (Wait) and summed (Get).
// The same tasks run first on one worker, then on the whole pool, and the program prints
// the estimate and the wall-clock speedup.
//
//   ./bazelw run //examples:quickstart            # one worker per CPU
//   UNIDIST_CPUS=4 ./bazelw run //examples:quickstart
//   UNIDIST_BACKEND=sequential ./bazelw run //examples:quickstart
//
// The program is the same on every backend (docs/backends.md); on the sequential one every
// task runs in this process, one after the other, so the speedup is about 1x.
//
//   UNIDIST_TIMELINE=/tmp/pi.json ./bazelw run //examples:quickstart  # a timeline of both
//       runs; open it at https://ui.perfetto.dev (docs/observability.md)

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "unidist/unidist.h"

namespace quickstart {

struct Sampling {
  uint64_t points_per_task = 0;
  uint64_t seed = 0;
  auto UnidistFields() { return std::tie(points_per_task, seed); }
};

// Counts the points of one batch that land inside the quarter circle.
uint64_t CountInside(Sampling sampling, int batch) {
  std::mt19937_64 random(sampling.seed + static_cast<uint64_t>(batch));
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  uint64_t inside = 0;
  for (uint64_t i = 0; i < sampling.points_per_task; ++i) {
    const double x = unit(random);
    const double y = unit(random);
    inside += x * x + y * y <= 1.0 ? 1 : 0;
  }
  return inside;
}

}  // namespace quickstart

UNIDIST_REMOTE(quickstart::CountInside);

namespace {

constexpr int kTasks = 64;

struct Run {
  double pi = 0;
  absl::Duration elapsed;
};

// Runs every batch on a pool of `num_workers` processes (0: one per CPU).
absl::StatusOr<Run> EstimatePi(int num_workers, const quickstart::Sampling& sampling) {
  unidist::Options options;
  options.num_workers = num_workers;
  if (absl::Status status = unidist::Init(options); !status.ok()) return status;
  const int workers = static_cast<int>(unidist::Workers().size());

  const absl::Time start = absl::Now();
  unidist::ObjectRef<quickstart::Sampling> settings = unidist::Put(sampling);
  std::vector<unidist::ObjectRef<uint64_t>> pending;
  for (int batch = 0; batch < kTasks; ++batch) {
    pending.push_back(unidist::Submit(quickstart::CountInside, settings, batch));
  }
  uint64_t inside = 0;
  int done = 0;
  while (!pending.empty()) {
    // Take results as they finish, a few at a time.
    unidist::WaitResult<uint64_t> ready = unidist::Wait(pending, std::min<int>(8, pending.size()));
    absl::StatusOr<std::vector<uint64_t>> counts = unidist::Get(ready.ready);
    if (!counts.ok()) return counts.status();
    for (uint64_t count : *counts) inside += count;
    done += static_cast<int>(ready.ready.size());
    pending = std::move(ready.not_ready);
  }
  Run run;
  run.elapsed = absl::Now() - start;
  run.pi =
      4.0 * static_cast<double>(inside) / static_cast<double>(sampling.points_per_task * kTasks);
  std::printf("  %2d worker(s): pi ~ %.6f from %d tasks in %.0f ms\n", workers, run.pi, done,
              absl::ToDoubleMilliseconds(run.elapsed));
  if (absl::Status status = unidist::Shutdown(); !status.ok()) return status;
  return run;
}

}  // namespace

int main() {
  const quickstart::Sampling sampling{/*points_per_task=*/2'000'000, /*seed=*/2026};
  const char* backend = std::getenv("UNIDIST_BACKEND");
  std::printf("Estimating pi with %d tasks of %llu points each (backend: %s)\n", kTasks,
              static_cast<unsigned long long>(sampling.points_per_task),
              backend != nullptr && *backend != '\0' ? backend : "multiprocessing");
  absl::StatusOr<Run> one = EstimatePi(1, sampling);
  absl::StatusOr<Run> all = one.ok() ? EstimatePi(0, sampling) : one;
  if (!all.ok()) {
    std::fprintf(stderr, "quickstart failed: %s\n", all.status().ToString().c_str());
    return 1;
  }
  std::printf("pi ~ %.6f (error %.2e); speedup over one worker: %.2fx\n", all->pi,
              std::abs(all->pi - M_PI), absl::FDivDuration(one->elapsed, all->elapsed));
  return 0;
}
