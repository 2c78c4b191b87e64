// Copyright 2026 The unidist-cpp Authors.
//
// The program mpi/rank_death_test.sh runs under `mpirun -n 3`: it submits one long task to
// each worker rank, says so on stdout, and waits for them. The script kills a worker rank
// meanwhile; OpenMPI then has to end the whole job (docs/backend_mpi.md, "When a worker
// rank dies"). If the tasks ever finish, the job survived the loss, and the program says
// that too, so the script can tell.

#include <cstdio>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "unidist/unidist.h"

namespace rank_death_probe {
int SleepSeconds(int seconds) {
  absl::SleepFor(absl::Seconds(seconds));
  return seconds;
}
}  // namespace rank_death_probe
UNIDIST_REMOTE(rank_death_probe::SleepSeconds);

int main() {
  unidist::Options options;
  options.backend = "mpi";
  options.num_workers = 2;  // worker 0 on rank 1, worker 1 on rank 2
  if (absl::Status started = unidist::Init(options); !started.ok()) {
    std::fprintf(stderr, "probe: Init failed: %s\n", started.ToString().c_str());
    return 2;
  }
  // Only rank 0 gets here: Init turns the other ranks into workers.
  std::vector<unidist::ObjectRef<int>> refs;
  for (int i = 0; i < 2; ++i) refs.push_back(unidist::Submit(rank_death_probe::SleepSeconds, 60));
  std::printf("probe: tasks submitted\n");
  std::fflush(stdout);
  const absl::StatusOr<std::vector<int>> done = unidist::Get(refs);
  std::printf("probe: the job survived: %s\n", done.status().ToString().c_str());
  return unidist::Shutdown().ok() ? 0 : 1;
}
