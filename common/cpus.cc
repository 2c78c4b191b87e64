// Copyright 2026 The unidist-cpp Authors.

#include "common/cpus.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace unidist {

int AffinityCpus() {
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) return std::max(1, CPU_COUNT(&cpus));
  return std::max(1u, std::thread::hardware_concurrency());
}

absl::StatusOr<int> UsableCpus() {
  const char* env = getenv(kCpusVariable);
  if (env == nullptr || *env == '\0') return AffinityCpus();
  int from_env = 0;
  if (!absl::SimpleAtoi(env, &from_env) || from_env < 1 || from_env > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrCat(
        kCpusVariable, " must be a whole number between 1 and ", kMaxWorkers, ", got '", env, "'"));
  }
  return from_env;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace unidist
