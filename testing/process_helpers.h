// Copyright 2026 The unidist-cpp Authors.
//
// Process inspection for tests: which processes descend from this one, and whether a
// process is gone. Reads /proc; Linux only.
//
// Example:
//   EXPECT_THAT(unidist::testing::DescendantProcesses(), ::testing::IsEmpty());
//   EXPECT_TRUE(unidist::testing::WaitForProcessGone(pid, absl::Seconds(5)));

#ifndef UNIDIST_TESTING_PROCESS_HELPERS_H_
#define UNIDIST_TESTING_PROCESS_HELPERS_H_

// Included by its old path ("testing/process_helpers.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace unidist::testing {

// The children of `parent`, including zombies (a zombie is a child nobody reaped).
std::vector<pid_t> ChildProcesses(pid_t parent = getpid());

// Every process below `root` (children, their children, ...).
std::vector<pid_t> DescendantProcesses(pid_t root = getpid());

// True if `pid` names a process that has not yet been reaped (zombies count as present).
bool ProcessPresent(pid_t pid);

// Polls until `pid` is gone (reaped) or `timeout` passes; true if it is gone.
bool WaitForProcessGone(pid_t pid, absl::Duration timeout);

// Waits until `pid` is in `state` (the letter of /proc/<pid>/stat: 'T' stopped, 'S'
// sleeping, ...) or `timeout` passes; true if it got there.
bool WaitForProcessState(pid_t pid, char state, absl::Duration timeout);

// How many times the main thread of `pid` has gone to sleep so far (voluntary context
// switches, from /proc/<pid>/status), or -1 if that cannot be read.
int64_t VoluntaryContextSwitches(pid_t pid);

// Polls until `root` has no descendants or `timeout` passes; returns those left.
std::vector<pid_t> WaitForNoDescendants(absl::Duration timeout, pid_t root = getpid());

}  // namespace unidist::testing

#endif  // UNIDIST_TESTING_PROCESS_HELPERS_H_
