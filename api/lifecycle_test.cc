// Copyright 2026 The unidist-cpp Authors.
//
// End-to-end tests of a session's life: the API before Init, Init and Shutdown cycles,
// options and environment variables, message limits, and Init from several threads.

#include <arpa/inet.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace lifecycle_test_functions {

int Square(int x) { return x * x; }
int Add(int a, int b) { return a + b; }
int WhoAmI() { return static_cast<int>(getpid()); }
int Thrower(int) { throw std::runtime_error("boom"); }
std::string Repeat(int bytes) { return std::string(bytes, 'r'); }
size_t Length(const std::string& s) { return s.size(); }
std::string UsesTheApiInside() {
  absl::Status init = unidist::Init();
  absl::StatusOr<int> nested = unidist::Get(unidist::Submit(Square, 2));
  return init.ToString() + " | " + nested.status().ToString();
}
// What a task sees of the cluster: the driver's view only (0 CPUs).
int NumCpusInside(int) {
  return unidist::NumCpus() + static_cast<int>(unidist::ClusterResources().size()) +
         static_cast<int>(unidist::Workers().size());
}

std::string AddressInside() { return unidist::NodeAddress(); }

}  // namespace lifecycle_test_functions

namespace fns = lifecycle_test_functions;

UNIDIST_REMOTE(fns::AddressInside);
UNIDIST_REMOTE(fns::Square, fns::Add, fns::WhoAmI, fns::Thrower, fns::Repeat, fns::Length,
               fns::UsesTheApiInside, fns::NumCpusInside);

namespace unidist {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

class LifecycleTest : public ::testing::Test {
 protected:
  void TearDown() override {
    UNIDIST_EXPECT_OK(Shutdown());
    unsetenv("UNIDIST_CPUS");
    // Back to the backend the suite runs on, for the tests after this one.
    setenv("UNIDIST_BACKEND", backend_.c_str(), 1);
    EXPECT_THAT(unidist::testing::WaitForNoDescendants(absl::Seconds(5)), IsEmpty());
  }

  const std::string backend_ = unidist::testing::TestBackend();
};

TEST_F(LifecycleTest, ApiBeforeInitGivesFailedPrecondition) {
  ASSERT_FALSE(IsInitialized());
  ObjectRef<int> put = Put(1);
  ObjectRef<int> submitted = Submit(fns::Square, 2);
  EXPECT_THAT(Get(put), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("Init")));
  EXPECT_THAT(Get(submitted), StatusIs(absl::StatusCode::kFailedPrecondition));
  WaitResult<int> waited = Wait(std::vector<ObjectRef<int>>{put, submitted}, 2);
  EXPECT_EQ(waited.ready.size(), 2u);
  EXPECT_THAT(Workers(), IsEmpty());
  UNIDIST_EXPECT_OK(Shutdown());  // a no-op
  // A ref made before Init still reports that after Init.
  UNIDIST_ASSERT_OK(Init(Options{1, ""}));
  EXPECT_THAT(Get(put), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Get(Submit(fns::Square, put)), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(LifecycleTest, InitShutdownCyclesLeaveNoChildProcess) {
  for (int cycle = 0; cycle < 3; ++cycle) {
    UNIDIST_ASSERT_OK(Init(Options{2, ""}));
    EXPECT_TRUE(IsInitialized());
    std::vector<int> pids;
    for (const WorkerInfo& worker : Workers()) pids.push_back(worker.pid);
    EXPECT_THAT(Get(Submit(fns::Add, cycle, 100)), IsOkAndHolds(cycle + 100));
    UNIDIST_ASSERT_OK(Shutdown());
    EXPECT_FALSE(IsInitialized());
    EXPECT_THAT(unidist::testing::ChildProcesses(), IsEmpty()) << "cycle " << cycle;
    if (!unidist::testing::BackendHas(unidist::testing::BackendTrait::kWorkerProcesses)) {
      continue;  // the "workers" are this process
    }
    for (int pid : pids) EXPECT_FALSE(unidist::testing::ProcessPresent(pid));
  }
}

TEST_F(LifecycleTest, OptionsAndEnvironment) {
  EXPECT_THAT(Init(Options{-1, ""}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_workers")));
  EXPECT_THAT(Init(Options{1, "bogus"}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("bogus"), HasSubstr("available: "),
                                        HasSubstr("multiprocessing"), HasSubstr("sequential"))));
  setenv("UNIDIST_BACKEND", "nope", 1);
  EXPECT_THAT(Init(Options{1, ""}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UNIDIST_BACKEND")));
  setenv("UNIDIST_BACKEND", backend_.c_str(), 1);
  setenv("UNIDIST_CPUS", "abc", 1);
  EXPECT_THAT(Init(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UNIDIST_CPUS")));
  EXPECT_FALSE(IsInitialized());
  setenv("UNIDIST_CPUS", "3", 1);
  UNIDIST_ASSERT_OK(Init());
  if (unidist::testing::BackendHas(unidist::testing::BackendTrait::kCountsCpusWhereWorkersRun)) {
    // Each worker rank counts its own CPUs, with UNIDIST_CPUS as its environment has it.
    EXPECT_EQ(static_cast<int>(Workers().size()), NumCpus());
  } else {
    EXPECT_EQ(Workers().size(), 3u);
    EXPECT_EQ(NumCpus(), 3);
  }
  UNIDIST_ASSERT_OK(Shutdown());
  UNIDIST_ASSERT_OK(Init(Options{1, ""}));  // the option wins over the environment
  EXPECT_EQ(Workers().size(), 1u);
}

TEST_F(LifecycleTest, NodeAddressIsAnIpv4AddressOfThisMachine) {
  const std::string address = NodeAddress();  // without Init too
  in_addr parsed{};
  EXPECT_EQ(inet_pton(AF_INET, address.c_str(), &parsed), 1) << address;
  UNIDIST_ASSERT_OK(Init());
  // Every backend runs this suite's workers on this machine.
  EXPECT_THAT(Get(Submit(fns::AddressInside)), IsOkAndHolds(address));
}

TEST_F(LifecycleTest, ClusterResourcesListWhereTheWorkersRun) {
  EXPECT_THAT(ClusterResources(), IsEmpty());
  EXPECT_EQ(NumCpus(), 0);
  setenv("UNIDIST_CPUS", "3", 1);
  UNIDIST_ASSERT_OK(Init(Options{2, ""}));
  const std::vector<NodeInfo> nodes = ClusterResources();
  ASSERT_FALSE(nodes.empty());
  int workers = 0;
  int cpus = 0;
  for (const NodeInfo& node : nodes) {
    EXPECT_FALSE(node.host.empty());
    EXPECT_GE(node.cpus, 1);
    workers += node.workers;
    cpus += node.cpus;
  }
  EXPECT_EQ(workers, 2);
  EXPECT_EQ(NumCpus(), cpus);
  if (!unidist::testing::BackendHas(unidist::testing::BackendTrait::kCountsCpusWhereWorkersRun)) {
    // Every worker on this machine, which has as many CPUs as UNIDIST_CPUS says.
    ASSERT_EQ(nodes.size(), 1u);
    EXPECT_EQ(nodes[0].node, 0);
    EXPECT_EQ(nodes[0].cpus, 3);
    char host[256] = {};
    ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
    EXPECT_EQ(nodes[0].host, host);
  }
  for (const WorkerInfo& worker : Workers()) {
    EXPECT_TRUE(std::any_of(nodes.begin(), nodes.end(),
                            [&](const NodeInfo& node) { return node.node == worker.node; }));
  }
  // A task sees none of it: the driver's view.
  EXPECT_THAT(Get(Submit(fns::NumCpusInside, 0)), IsOkAndHolds(0));
}

TEST_F(LifecycleTest, MaxMessageBytesIsEnforcedBothWays) {
  Options options;
  options.num_workers = 1;
  options.max_message_bytes = 64 * 1024;
  UNIDIST_ASSERT_OK(Init(options));
  EXPECT_THAT(Get(Submit(fns::Length, std::string(100 * 1024, 'a'))),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("too large")));
  EXPECT_THAT(Get(Submit(fns::Repeat, 100 * 1024)), StatusIs(absl::StatusCode::kResourceExhausted));
  // Still serving.
  EXPECT_THAT(Get(Submit(fns::Length, std::string(1000, 'a'))), IsOkAndHolds(1000u));
  UNIDIST_ASSERT_OK(Shutdown());
  setenv("UNIDIST_MAX_MESSAGE_BYTES", "lots", 1);
  EXPECT_THAT(Init(Options{1, ""}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("UNIDIST_MAX_MESSAGE_BYTES")));
  unsetenv("UNIDIST_MAX_MESSAGE_BYTES");
}

// Whatever UNIDIST_BACKEND says, Options::backend picks the sequential backend: tasks run
// in this process, nested ones too, and the "workers" are this process.
TEST_F(LifecycleTest, SequentialBackendRunsTasksInThisProcess) {
  UNIDIST_ASSERT_OK(Init(Options{2, "sequential"}));
  EXPECT_THAT(Get(Submit(fns::WhoAmI)), IsOkAndHolds(getpid()));
  absl::StatusOr<std::string> said = Get(Submit(fns::UsesTheApiInside));
  ASSERT_THAT(said, IsOk());
  EXPECT_THAT(*said, HasSubstr("FAILED_PRECONDITION: Init cannot be called from inside a task"));
  EXPECT_THAT(*said, HasSubstr("| OK"));
  const std::vector<WorkerInfo> workers = Workers();
  ASSERT_EQ(workers.size(), 2u);
  for (const WorkerInfo& worker : workers) EXPECT_EQ(worker.pid, getpid());
  ObjectRef<int> done = Submit(fns::Square, 3);  // finished when Submit returns
  EXPECT_THAT(Cancel(done), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(Get(done, absl::ZeroDuration()), IsOkAndHolds(9));
  std::optional<TaskFailure> failure = GetTaskFailure(Get(Submit(fns::Thrower, 1)).status());
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(failure->worker_pid, getpid());
  EXPECT_EQ(GetStats().tasks_in_flight, 0u);
}

TEST_F(LifecycleTest, StatsAreZeroWhenNotInitialized) {
  const Stats stats = GetStats();
  EXPECT_EQ(stats.live_objects, 0u);
  EXPECT_EQ(stats.workers_replaced, 0u);
}

TEST_F(LifecycleTest, InitAndShutdownFromSeveralThreadsAtOnce) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 3; ++i) {
        EXPECT_THAT(Init(Options{1, ""}), IsOk());
        absl::StatusOr<int> value = Get(Submit(fns::Add, t, i));
        // Another thread may shut down in between: then the task is cancelled or refused.
        if (!value.ok()) {
          EXPECT_THAT(
              value.status().code(),
              ::testing::AnyOf(absl::StatusCode::kCancelled, absl::StatusCode::kFailedPrecondition))
              << value.status();
        } else {
          EXPECT_EQ(*value, t + i);
        }
        EXPECT_THAT(Shutdown(), IsOk());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

}  // namespace
}  // namespace unidist
