// Copyright 2026 The unidist-cpp Authors.
//
// Where the workers run on the mpi backend, end to end: run under mpirun with any number
// of ranks above 1 (mpi/run_mpi_tests.sh runs it with 3, and with 4 on a 2-core machine),
// never under `bazel test`. By default every worker rank runs one worker per CPU it has,
// and tasks reach every worker rank. A task learns its rank from the environment its
// worker process inherited from the rank (OMPI_COMM_WORLD_RANK).
//
// RANKS_TEST_EXPECTED_CPUS and RANKS_TEST_EXPECTED_HOSTS, if set in the driver's
// environment, list the CPUs and the host each worker rank should report (comma-separated,
// rank 1 first): for runs that give ranks different UNIDIST_CPUS or hosts
// (mpi/multi_host/rehearse.sh). Each task also writes where it ran to stderr, for that
// script to find in mpirun's output.

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/unidist.h"

namespace ranks_e2e {

// The MPI rank of the process this task's worker was forked from, and the host it runs
// on, which it also writes to stderr (forwarded by mpirun).
std::pair<int, std::string> WhereThisTaskRuns(int task) {
  const char* rank_text = getenv("OMPI_COMM_WORLD_RANK");
  int rank = -1;
  if (rank_text == nullptr || !absl::SimpleAtoi(rank_text, &rank)) rank = -1;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  fprintf(stderr, "ranks_e2e: task %d ran on rank %d, host %s\n", task, rank, host);
  fflush(stderr);
  return {rank, host};
}

}  // namespace ranks_e2e

UNIDIST_REMOTE(ranks_e2e::WhereThisTaskRuns);

namespace {

using ::ranks_e2e::WhereThisTaskRuns;

// The comma-separated list in environment variable `name`; nullopt if it is not set.
std::optional<std::vector<std::string>> ExpectedList(const char* name) {
  const char* text = getenv(name);
  if (text == nullptr) return std::nullopt;
  return absl::StrSplit(text, ',');
}

int WorldSize() {
  const char* size = getenv("OMPI_COMM_WORLD_SIZE");
  int value = 0;
  return size != nullptr && absl::SimpleAtoi(size, &value) ? value : 0;
}

class RanksTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(WorldSize(), 2) << "run under mpirun with several ranks"; }
  void TearDown() override {
    if (unidist::IsInitialized()) {
      UNIDIST_EXPECT_OK(unidist::Shutdown());
    }
  }

  // The ranks that ran `count` tasks, submitted together, and the host each said it ran
  // on.
  static std::map<int, std::set<std::string>> RanksThatRan(int count) {
    std::vector<unidist::ObjectRef<std::pair<int, std::string>>> refs;
    for (int i = 0; i < count; ++i) refs.push_back(unidist::Submit(WhereThisTaskRuns, i));
    std::map<int, std::set<std::string>> ranks;
    for (const auto& ref : refs) {
      absl::StatusOr<std::pair<int, std::string>> where = unidist::Get(ref);
      EXPECT_TRUE(where.ok()) << where.status();
      if (where.ok()) ranks[where->first].insert(where->second);
    }
    return ranks;
  }
};

TEST_F(RanksTest, ByDefaultEveryWorkerRankRunsOneWorkerPerCpuAndGetsTasks) {
  unidist::Options options;
  options.backend = "mpi";
  UNIDIST_ASSERT_OK(unidist::Init(options));
  const std::vector<unidist::NodeInfo> nodes = unidist::ClusterResources();
  ASSERT_EQ(static_cast<int>(nodes.size()), WorldSize() - 1);
  int cpus = 0;
  std::set<int> ranks;
  for (size_t i = 0; i < nodes.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "worker rank " << nodes[i].node);
    EXPECT_EQ(nodes[i].node, static_cast<int>(i) + 1);
    EXPECT_FALSE(nodes[i].host.empty());
    EXPECT_GE(nodes[i].cpus, 1);
    EXPECT_EQ(nodes[i].workers, nodes[i].cpus);
    cpus += nodes[i].cpus;
    ranks.insert(nodes[i].node);
  }
  if (std::optional<std::vector<std::string>> cpus = ExpectedList("RANKS_TEST_EXPECTED_CPUS")) {
    std::vector<std::string> reported;
    for (const unidist::NodeInfo& node : nodes) reported.push_back(std::to_string(node.cpus));
    EXPECT_EQ(reported, *cpus);
  }
  if (std::optional<std::vector<std::string>> hosts = ExpectedList("RANKS_TEST_EXPECTED_HOSTS")) {
    std::vector<std::string> reported;
    for (const unidist::NodeInfo& node : nodes) reported.push_back(node.host);
    EXPECT_EQ(reported, *hosts);
  }
  EXPECT_EQ(unidist::NumCpus(), cpus);
  // Every pool worker is listed with its rank; every worker rank has workers.
  const std::vector<unidist::WorkerInfo> workers = unidist::Workers();
  EXPECT_EQ(static_cast<int>(workers.size()), cpus);
  std::set<int> worker_nodes;
  for (const unidist::WorkerInfo& worker : workers) {
    EXPECT_TRUE(worker.alive);
    worker_nodes.insert(worker.node);
  }
  EXPECT_EQ(worker_nodes, ranks);
  // A round of tasks, one per worker, reaches every worker rank, and runs on the host
  // the rank reported.
  const std::map<int, std::set<std::string>> ran = RanksThatRan(cpus);
  std::set<int> ran_on;
  for (const auto& [rank, hosts] : ran) {
    ran_on.insert(rank);
    ASSERT_GE(rank, 1);
    ASSERT_LE(rank, static_cast<int>(nodes.size()));
    EXPECT_EQ(hosts, std::set<std::string>{nodes[rank - 1].host}) << "rank " << rank;
  }
  EXPECT_EQ(ran_on, ranks);
}

TEST_F(RanksTest, ANumberOfWorkersIsATotalOverTheFirstRanks) {
  unidist::Options options;
  options.backend = "mpi";
  options.num_workers = 1;
  UNIDIST_ASSERT_OK(unidist::Init(options));
  const std::vector<unidist::NodeInfo> nodes = unidist::ClusterResources();
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].node, 1);
  EXPECT_EQ(nodes[0].workers, 1);
  EXPECT_EQ(unidist::Workers().size(), 1u);
  const std::map<int, std::set<std::string>> ran = RanksThatRan(4);
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_EQ(ran.begin()->first, 1);
}

}  // namespace
