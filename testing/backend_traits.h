// Copyright 2026 The unidist-cpp Authors.
//
// Backend traits: the one place where a test learns what the backend it runs on can do.
//
// The end-to-end suite runs on every backend (see docs/backends.md): the backend comes
// from UNIDIST_BACKEND, as for any unidist program, and api/BUILD declares each e2e test
// once per backend. A few tests depend on something a backend cannot have — a worker crash
// that the driver survives, tasks that run while the driver goes on, worker processes with
// pids of their own. Such a test states the trait it needs with UNIDIST_SKIP_UNLESS, and is
// skipped, with the reason in the test log, on a backend without it. Prefer a test that
// holds on every backend; a skip is for what a backend cannot do by design.
//
// The traits come from the backend's registered abilities (BackendAbilities in
// backend/backend.h): a new backend states them where it registers itself.
//
// Example:
//   TEST_F(MyTest, CrashedWorkerIsReplaced) {
//     UNIDIST_SKIP_UNLESS(unidist::testing::BackendTrait::kSurvivesWorkerCrash);
//     ...
//   }

#ifndef UNIDIST_TESTING_BACKEND_TRAITS_H_
#define UNIDIST_TESTING_BACKEND_TRAITS_H_

// Included by its old path ("testing/backend_traits.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

#include <string>

#include "gtest/gtest.h"

namespace unidist::testing {

// What a backend can do that some test depends on.
enum class BackendTrait {
  // A task that kills its worker (a crash, abort, SIGKILL from outside) fails with
  // Unavailable and the driver lives on; the pool replaces the worker, and max_retries
  // runs the task again.
  kSurvivesWorkerCrash,
  // Tasks run concurrently with the driver: Submit returns before the task has run, so a
  // Get or Wait with a timeout can see a task not finished yet, and Cancel can find a task
  // queued or running.
  kConcurrentWithDriver,
  // Tasks and actors run in worker processes of their own, with their own pids (listed by
  // Workers(), and gone once Shutdown or Kill returns).
  kWorkerProcesses,
  // Large objects live in a shared-memory store that the driver and the workers map
  // (Options::object_store_memory).
  kSharedMemory,
  // With Options::num_workers unset, each place that runs workers (an mpi worker rank)
  // starts one per CPU it counts there, not the driver's count.
  kCountsCpusWhereWorkersRun,
};

// The backend the tests of this process run on: $UNIDIST_BACKEND, or "multiprocessing"
// (the default backend) when it is unset or empty — or "mpi" under mpirun with several
// ranks (OMPI_COMM_WORLD_SIZE > 1), as for unidist::Init.
std::string TestBackend();

// True if TestBackend() has `trait`. A backend this program does not link has none.
bool BackendHas(BackendTrait trait);

// Why a test needing `trait` is skipped on TestBackend(), for the test log.
std::string SkipReason(BackendTrait trait);

}  // namespace unidist::testing

// Skips the current test (GTEST_SKIP, from the test body or a fixture's SetUp) unless the
// backend it runs on has `trait`.
#define UNIDIST_SKIP_UNLESS(trait)                           \
  do {                                                       \
    if (!::unidist::testing::BackendHas(trait)) {            \
      GTEST_SKIP() << ::unidist::testing::SkipReason(trait); \
    }                                                        \
  } while (false)

#endif  // UNIDIST_TESTING_BACKEND_TRAITS_H_
