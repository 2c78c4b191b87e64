// Copyright 2026 The unidist-cpp Authors.

#include "backend/backend.h"

#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"

namespace unidist {

// Descriptions sit in a deque so that the pointers Find returns stay valid as more are
// registered.
struct BackendRegistry::State {
  mutable absl::Mutex mu;
  std::deque<BackendDescription> backends ABSL_GUARDED_BY(mu);
};

BackendRegistry& BackendRegistry::Global() {
  static BackendRegistry* const registry = new BackendRegistry();
  return *registry;
}

BackendRegistry::State& BackendRegistry::state() const {
  // Never destroyed: static initializers of other files register before main, and
  // threads may look backends up while the process exits.
  static State* const state = new State();
  return *state;
}

absl::Status BackendRegistry::Register(BackendDescription backend) {
  if (backend.name.empty()) {
    return absl::InvalidArgumentError("a backend needs a name");
  }
  if (!backend.start_pool) {
    return absl::InvalidArgumentError(
        absl::StrCat("backend '", backend.name, "' has no start_pool"));
  }
  State& s = state();
  absl::MutexLock lock(&s.mu);
  for (const BackendDescription& existing : s.backends) {
    if (existing.name == backend.name) {
      return absl::AlreadyExistsError(
          absl::StrCat("a backend named '", backend.name, "' is registered already"));
    }
  }
  s.backends.push_back(std::move(backend));
  return absl::OkStatus();
}

absl::StatusOr<const BackendDescription*> BackendRegistry::Find(absl::string_view name) const {
  {
    State& s = state();
    absl::MutexLock lock(&s.mu);
    for (const BackendDescription& backend : s.backends) {
      if (backend.name == name) return &backend;
    }
  }
  std::string message =
      absl::StrCat("unknown backend '", name, "'; available: ", absl::StrJoin(Names(), ", "));
  if (name == "mpi") {
    absl::StrAppend(&message,
                    " (the mpi backend is linked in by depending on @unidist//mpi in Bazel, "
                    "or unidist::mpi in CMake)");
  }
  return absl::NotFoundError(message);
}

std::vector<std::string> BackendRegistry::Names() const {
  std::vector<std::string> names;
  {
    State& s = state();
    absl::MutexLock lock(&s.mu);
    for (const BackendDescription& backend : s.backends) names.push_back(backend.name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

const BackendDescription* BackendRegistry::WantedByLauncher() const {
  State& s = state();
  absl::MutexLock lock(&s.mu);
  const BackendDescription* wanted = nullptr;
  for (const BackendDescription& backend : s.backends) {
    if (!backend.wanted_by_launcher || !backend.wanted_by_launcher()) continue;
    if (wanted != nullptr) return nullptr;  // two launchers at once: no guess
    wanted = &backend;
  }
  return wanted;
}

namespace backend_internal {

bool RegisterOrDie(BackendDescription backend) {
  const absl::Status registered = BackendRegistry::Global().Register(std::move(backend));
  if (!registered.ok()) {
    // During static initialization: no logging library may be up yet.
    fprintf(stderr, "unidist: %s\n", registered.ToString().c_str());
    abort();
  }
  return true;
}

}  // namespace backend_internal
}  // namespace unidist
