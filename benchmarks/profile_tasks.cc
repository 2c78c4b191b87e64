// Copyright 2026 The unidist-cpp Authors.
//
// A fixed task workload for profilers (perf, valgrind --tool=callgrind), small enough to
// run under callgrind: `n` trivial tasks submitted then gathered, n/10 Submit + Get round
// trips, and a unidist::Map over n inputs, on 2 workers. Compare instruction counts of
// the driver before and after a change; wall time on the shared machines is too noisy.
//
//   ./bazelw build //benchmarks:profile_tasks
//   valgrind --tool=callgrind --callgrind-out-file=cg.%p bazel-bin/benchmarks/profile_tasks 5000
//   callgrind_annotate cg.<driver pid>
//
// Exits 1 if a task fails or returns a wrong value.

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "unidist/unidist.h"

namespace profile_tasks {
int Noop(int x) { return x; }
}  // namespace profile_tasks
UNIDIST_REMOTE(profile_tasks::Noop);

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 5000;
  unidist::Options options;
  options.num_workers = 2;
  if (!unidist::Init(options).ok() || n < 10) return 1;
  std::vector<unidist::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(unidist::Submit(profile_tasks::Noop, i));
  absl::StatusOr<std::vector<int>> values = unidist::Get(refs);
  bool ok = values.ok() && values->back() == n - 1;
  for (int i = 0; i < n / 10 && ok; ++i) {
    absl::StatusOr<int> value = unidist::Get(unidist::Submit(profile_tasks::Noop, i));
    ok = value.ok() && *value == i;
  }
  std::vector<int> inputs(n);
  for (int i = 0; i < n; ++i) inputs[i] = i;
  values = unidist::Get(unidist::Map(profile_tasks::Noop, inputs));
  ok = ok && values.ok() && values->back() == n - 1;
  ok = unidist::Shutdown().ok() && ok;
  std::printf("%s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
