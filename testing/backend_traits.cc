// Copyright 2026 The unidist-cpp Authors.

#include "testing/backend_traits.h"

#include <stdlib.h>

#include <initializer_list>

#include "absl/strings/str_cat.h"

namespace unidist::testing {
namespace {

struct BackendRow {
  const char* backend;
  std::initializer_list<BackendTrait> traits;
};

// Every backend's traits: one row per backend (docs/backends.md explains the differences).
const BackendRow kBackendTraits[] = {
    {"multiprocessing",
     {BackendTrait::kSurvivesWorkerCrash, BackendTrait::kConcurrentWithDriver,
      BackendTrait::kWorkerProcesses}},
    // Everything runs in the calling thread, in submission order (backend_sequential.md).
    {"sequential", {}},
    // Worker processes under each worker rank (backend_mpi.md). A crash kills a worker
    // process, not its rank; tests run with every rank on one machine, so pids are local.
    {"mpi",
     {BackendTrait::kSurvivesWorkerCrash, BackendTrait::kConcurrentWithDriver,
      BackendTrait::kWorkerProcesses}},
};

const char* TraitName(BackendTrait trait) {
  switch (trait) {
    case BackendTrait::kSurvivesWorkerCrash:
      return "kSurvivesWorkerCrash (the driver survives a crashed worker)";
    case BackendTrait::kConcurrentWithDriver:
      return "kConcurrentWithDriver (tasks run while the driver goes on)";
    case BackendTrait::kWorkerProcesses:
      return "kWorkerProcesses (tasks run in worker processes of their own)";
  }
  return "an unknown trait";
}

}  // namespace

std::string TestBackend() {
  const char* env = getenv("UNIDIST_BACKEND");
  if (env != nullptr && *env != '\0') return env;
  // As unidist::Init: under mpirun with several ranks the default is mpi.
  const char* ranks = getenv("OMPI_COMM_WORLD_SIZE");
  return ranks != nullptr && atoi(ranks) > 1 ? "mpi" : "multiprocessing";
}

bool BackendHas(BackendTrait trait) {
  const std::string backend = TestBackend();
  for (const BackendRow& row : kBackendTraits) {
    if (backend != row.backend) continue;
    for (BackendTrait has : row.traits) {
      if (has == trait) return true;
    }
    return false;
  }
  return false;
}

std::string SkipReason(BackendTrait trait) {
  return absl::StrCat("the ", TestBackend(), " backend lacks ", TraitName(trait),
                      "; see docs/backends.md");
}

}  // namespace unidist::testing
