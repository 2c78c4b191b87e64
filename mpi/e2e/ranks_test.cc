// Copyright 2026 The unidist-cpp Authors.
//
// Where the workers run on the mpi backend, end to end: run under mpirun with any number
// of ranks above 1 (mpi/run_mpi_tests.sh runs it with 3, and with 4 on a 2-core machine),
// never under `bazel test`. By default every worker rank runs one worker per CPU it has,
// and tasks reach every worker rank. A task learns its rank from the environment its
// worker process inherited from the rank (OMPI_COMM_WORLD_RANK).
//
// RANKS_TEST_EXPECTED_CPUS, if set in the driver's environment, lists the CPUs each worker
// rank should report (comma-separated, rank 1 first): for runs that give ranks different
// UNIDIST_CPUS.

#include <stdlib.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/unidist.h"

namespace ranks_e2e {

// The MPI rank of the process this task's worker was forked from.
int RankOfThisTask(int) {
  const char* rank = getenv("OMPI_COMM_WORLD_RANK");
  int value = -1;
  if (rank == nullptr || !absl::SimpleAtoi(rank, &value)) return -1;
  return value;
}

}  // namespace ranks_e2e

UNIDIST_REMOTE(ranks_e2e::RankOfThisTask);

namespace {

using ::ranks_e2e::RankOfThisTask;

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

  // The ranks that ran `count` tasks, submitted together.
  static std::set<int> RanksThatRan(int count) {
    std::vector<unidist::ObjectRef<int>> refs;
    for (int i = 0; i < count; ++i) refs.push_back(unidist::Submit(RankOfThisTask, i));
    std::set<int> ranks;
    for (const auto& ref : refs) {
      absl::StatusOr<int> rank = unidist::Get(ref);
      EXPECT_TRUE(rank.ok()) << rank.status();
      if (rank.ok()) ranks.insert(*rank);
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
  if (const char* expected = getenv("RANKS_TEST_EXPECTED_CPUS"); expected != nullptr) {
    std::vector<int> reported;
    for (const unidist::NodeInfo& node : nodes) reported.push_back(node.cpus);
    std::vector<int> wanted;
    for (absl::string_view each : absl::StrSplit(expected, ',')) {
      int value = 0;
      ASSERT_TRUE(absl::SimpleAtoi(each, &value)) << expected;
      wanted.push_back(value);
    }
    EXPECT_EQ(reported, wanted);
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
  // A round of tasks, one per worker, reaches every worker rank.
  EXPECT_EQ(RanksThatRan(cpus), ranks);
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
  EXPECT_EQ(RanksThatRan(4), std::set<int>{1});
}

}  // namespace
