// Copyright 2026 The unidist-cpp Authors.

#include "unidist/testing/process_helpers.h"

#include <dirent.h>
#include <signal.h>

#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace unidist::testing {
namespace {

// The parent pid from /proc/<pid>/stat, or -1. The command name (field 2) may contain
// spaces and parentheses, so parsing starts after its last ')'.
pid_t ParentOf(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return -1;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 1));
  std::string state;
  pid_t parent = -1;
  rest >> state >> parent;
  return parent;
}

std::vector<pid_t> AllProcesses() {
  std::vector<pid_t> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (dirent* entry = readdir(proc)) {
    int pid;
    if (absl::SimpleAtoi(entry->d_name, &pid)) pids.push_back(pid);
  }
  closedir(proc);
  return pids;
}

}  // namespace

std::vector<pid_t> ChildProcesses(pid_t parent) {
  std::vector<pid_t> children;
  for (pid_t pid : AllProcesses()) {
    if (ParentOf(pid) == parent) children.push_back(pid);
  }
  return children;
}

std::vector<pid_t> DescendantProcesses(pid_t root) {
  std::vector<pid_t> all = AllProcesses();
  std::vector<pid_t> found = {root};
  for (size_t i = 0; i < found.size(); ++i) {
    for (pid_t pid : all) {
      if (ParentOf(pid) == found[i]) found.push_back(pid);
    }
  }
  found.erase(found.begin());
  return found;
}

bool ProcessPresent(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

bool WaitForProcessGone(pid_t pid, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (ProcessPresent(pid)) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

bool WaitForProcessState(pid_t pid, char state, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const std::string path = absl::StrCat("/proc/", pid, "/stat");
  for (;;) {
    std::ifstream stat(path);
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // "pid (comm) S ...": the state follows the last ')' (comm may hold anything).
    const size_t close = text.rfind(')');
    if (close != std::string::npos && close + 2 < text.size() && text[close + 2] == state) {
      return true;
    }
    if (text.empty() || absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
}

int64_t VoluntaryContextSwitches(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    int64_t count;
    if (absl::ConsumePrefix(&rest, "voluntary_ctxt_switches:") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &count)) {
      return count;
    }
  }
  return -1;
}

std::vector<pid_t> WaitForNoDescendants(absl::Duration timeout, pid_t root) {
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<pid_t> left = DescendantProcesses(root);
  while (!left.empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
    left = DescendantProcesses(root);
  }
  return left;
}

}  // namespace unidist::testing
