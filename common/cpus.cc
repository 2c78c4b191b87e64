// Copyright 2026 The unidist-cpp Authors.

#include "common/cpus.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
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

std::string HostAddress() {
  ifaddrs* interfaces = nullptr;
  if (getifaddrs(&interfaces) != 0) return "127.0.0.1";
  std::string address = "127.0.0.1";
  for (const ifaddrs* each = interfaces; each != nullptr; each = each->ifa_next) {
    if (each->ifa_addr == nullptr || each->ifa_addr->sa_family != AF_INET) continue;
    if ((each->ifa_flags & IFF_UP) == 0 || (each->ifa_flags & IFF_LOOPBACK) != 0) continue;
    char text[INET_ADDRSTRLEN] = {};
    const auto* in = reinterpret_cast<const sockaddr_in*>(each->ifa_addr);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) != nullptr) {
      address = text;
      break;
    }
  }
  freeifaddrs(interfaces);
  return address;
}

}  // namespace unidist
