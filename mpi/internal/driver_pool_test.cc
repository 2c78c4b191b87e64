// Copyright 2026 The unidist-cpp Authors.
//
// The mpi backend without mpirun: the driver's pool and two nodes in one process, linked
// by a LocalHub, each node with a real ProcessManager of forked workers running a test
// executor whose "functions" echo, report their pid, sleep or crash.

#include "mpi/internal/driver_pool.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mpi/internal/local_transport.h"
#include "mpi/internal/node.h"
#include "process_manager/process_manager.h"
#include "testing/process_helpers.h"
#include "testing/status_matchers.h"

namespace unidist::mpi_internal {
namespace {

using ::testing::IsEmpty;
using ::unidist::testing::IsOk;
using ::unidist::testing::StatusIs;

void TestExecutor(const proto::TaskRequest& task, proto::TaskResult* result) {
  const std::string arg = task.args_size() > 0 ? task.args(0).value() : "";
  int number = 0;
  (void)absl::SimpleAtoi(arg, &number);
  if (task.function() == "echo") {
    result->add_values(arg);
  } else if (task.function() == "pid") {
    result->add_values(std::to_string(getpid()));
  } else if (task.function() == "sleep_ms") {
    absl::SleepFor(absl::Milliseconds(number));
    result->add_values(std::to_string(getpid()));
  } else if (task.function() == "segfault") {
    raise(SIGSEGV);
  } else {
    result->mutable_error()->set_code(static_cast<int>(absl::StatusCode::kNotFound));
  }
}

proto::TaskRequest Task(uint64_t id, const std::string& function, const std::string& arg = "") {
  proto::TaskRequest task;
  task.set_task_id(id);
  task.set_function(function);
  task.add_args()->set_value(arg);
  task.add_result_ids("r");
  return task;
}

// A worker rank in this process: a node behind its own link.
class TestNode {
 public:
  TestNode(std::shared_ptr<LocalHub> hub, int rank)
      : node_(
            [this](int dest, std::string bytes, std::shared_ptr<const std::string> payload) {
              link_.load()->Post(dest, std::move(bytes), std::move(payload));
            },
            &TestExecutor,
            [](WorkerPoolOptions options) -> absl::StatusOr<std::unique_ptr<WorkerPool>> {
              absl::StatusOr<std::unique_ptr<ProcessManager>> manager =
                  ProcessManager::Start(std::move(options));
              if (!manager.ok()) return manager.status();
              return std::unique_ptr<WorkerPool>(std::move(*manager));
            }) {
    absl::StatusOr<std::unique_ptr<Link>> link = Link::Start(
        [hub, rank] { return hub->Open(rank); },
        [this](Link& self, Received received) {
          link_.store(&self);
          if (!node_.HandleReceived(std::move(received))) exited_.Notify();
        });
    if (!link.ok()) abort();  // a LocalHub link cannot fail to open
    link_holder_ = *std::move(link);
  }

  ~TestNode() {
    link_holder_->Stop();
    node_.EndSession();
  }

  bool exited() const { return exited_.HasBeenNotified(); }
  void WaitForExit() { exited_.WaitForNotification(); }

 private:
  Node node_;
  std::atomic<Link*> link_{nullptr};
  std::unique_ptr<Link> link_holder_;
  absl::Notification exited_;
};

// Collects on_result and the other callbacks.
struct Reports {
  absl::Mutex mu;
  absl::flat_hash_map<uint64_t, proto::TaskResult> results ABSL_GUARDED_BY(mu);
  std::vector<std::pair<WorkerId, absl::Status>> lost ABSL_GUARDED_BY(mu);
  int duplicate_results ABSL_GUARDED_BY(mu) = 0;

  proto::TaskResult WaitFor(uint64_t task_id) {
    absl::MutexLock lock(&mu);
    auto has = [this, task_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return results.contains(task_id);
    };
    mu.Await(absl::Condition(&has));
    return results[task_id];
  }
  bool Has(uint64_t task_id) {
    absl::MutexLock lock(&mu);
    return results.contains(task_id);
  }
};

class MpiWorkerPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_ = LocalHub::Create(3);
    node1_ = std::make_unique<TestNode>(hub_, 1);
    node2_ = std::make_unique<TestNode>(hub_, 2);
    absl::StatusOr<std::unique_ptr<DriverLink>> driver =
        DriverLink::Start([hub = hub_] { return hub->Open(0); });
    ASSERT_THAT(driver, IsOk());
    driver_ = *std::move(driver);
  }

  void TearDown() override {
    pool_.reset();
    if (driver_ != nullptr) driver_->Exit();
    if (node1_ != nullptr) {
      node1_->WaitForExit();
      node2_->WaitForExit();
    }
    node1_.reset();
    node2_.reset();
    EXPECT_THAT(unidist::testing::WaitForNoDescendants(absl::Seconds(5)), IsEmpty());
  }

  WorkerPoolOptions Options(int num_workers) {
    WorkerPoolOptions options;
    options.num_workers = num_workers;
    options.execute = &TestExecutor;
    options.on_result = [this](proto::TaskResult result) {
      absl::MutexLock lock(&reports_.mu);
      if (reports_.results.contains(result.task_id())) ++reports_.duplicate_results;
      reports_.results[result.task_id()] = std::move(result);
    };
    options.on_dedicated_worker_lost = [this](WorkerId worker, absl::Status status) {
      absl::MutexLock lock(&reports_.mu);
      reports_.lost.emplace_back(worker, std::move(status));
    };
    return options;
  }

  void StartPool(int num_workers) {
    absl::StatusOr<std::unique_ptr<MpiWorkerPool>> pool =
        MpiWorkerPool::Start(Options(num_workers), driver_.get());
    ASSERT_THAT(pool, IsOk());
    pool_ = *std::move(pool);
  }

  std::shared_ptr<LocalHub> hub_;
  std::unique_ptr<TestNode> node1_, node2_;
  std::unique_ptr<DriverLink> driver_;
  Reports reports_;
  std::unique_ptr<MpiWorkerPool> pool_;
};

TEST_F(MpiWorkerPoolTest, TasksGoRoundRobinOverTheRanksWorkers) {
  ASSERT_NO_FATAL_FAILURE(StartPool(4));
  const std::vector<WorkerState> workers = pool_->Workers();
  ASSERT_EQ(workers.size(), 4u);
  std::set<int> pids;
  for (size_t i = 0; i < workers.size(); ++i) {
    EXPECT_EQ(workers[i].index, static_cast<int>(i));
    EXPECT_TRUE(workers[i].alive);
    EXPECT_GT(workers[i].pid, 0);
    pids.insert(workers[i].pid);
  }
  EXPECT_EQ(pids.size(), 4u);
  EXPECT_EQ(pool_->RankOfPoolWorker(0), 1);
  EXPECT_EQ(pool_->RankOfPoolWorker(1), 2);
  EXPECT_EQ(pool_->RankOfPoolWorker(2), 1);
  for (uint64_t id = 1; id <= 8; ++id) ASSERT_THAT(pool_->Dispatch(Task(id, "pid")), IsOk());
  for (uint64_t id = 1; id <= 8; ++id) {
    const proto::TaskResult result = reports_.WaitFor(id);
    ASSERT_FALSE(result.has_error()) << result.error().message();
    EXPECT_EQ(result.values(0), std::to_string(workers[(id - 1) % 4].pid)) << "task " << id;
  }
}

TEST_F(MpiWorkerPoolTest, FewerWorkersThanRanksUsesTheFirstRanks) {
  ASSERT_NO_FATAL_FAILURE(StartPool(1));
  EXPECT_EQ(pool_->Workers().size(), 1u);
  ASSERT_THAT(pool_->Dispatch(Task(1, "echo", "hi")), IsOk());
  EXPECT_EQ(reports_.WaitFor(1).values(0), "hi");
  // The actor goes to the one rank that takes part, too.
  absl::StatusOr<WorkerId> actor = pool_->StartDedicatedWorker();
  ASSERT_THAT(actor, IsOk());
  EXPECT_GE(actor->slot, 1);
}

TEST_F(MpiWorkerPoolTest, ACrashKillsOnlyALocalWorkerWhichIsReplaced) {
  ASSERT_NO_FATAL_FAILURE(StartPool(2));
  const std::vector<WorkerState> before = pool_->Workers();
  ASSERT_THAT(pool_->Dispatch(Task(1, "segfault")), IsOk());
  const proto::TaskResult crashed = reports_.WaitFor(1);
  ASSERT_TRUE(crashed.has_error());
  EXPECT_EQ(crashed.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(crashed.error().worker_died());
  EXPECT_EQ(crashed.error().worker_index(), 0);
  EXPECT_EQ(crashed.error().worker_pid(), before[0].pid);
  EXPECT_EQ(pool_->workers_replaced(), 1u);
  // The rank lives on with a new worker in the slot.
  const std::vector<WorkerState> after = pool_->Workers();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_NE(after[0].pid, before[0].pid);
  EXPECT_EQ(after[1].pid, before[1].pid);
  ASSERT_THAT(pool_->Dispatch(Task(2, "pid")), IsOk());
  ASSERT_THAT(pool_->Dispatch(Task(3, "pid")), IsOk());
  EXPECT_FALSE(reports_.WaitFor(2).has_error());
  EXPECT_FALSE(reports_.WaitFor(3).has_error());
}

TEST_F(MpiWorkerPoolTest, TasksWaitOnARankWhoseOnlyWorkerIsBeingReplaced) {
  ASSERT_NO_FATAL_FAILURE(StartPool(2));  // one worker per rank
  // Each crash leaves its rank without a live worker for a moment; the tasks that arrive
  // then wait for the replacement instead of failing.
  // A stream of tasks spread over the time of the crashes and replacements.
  uint64_t id = 1;
  std::set<uint64_t> crashing;
  for (int round = 0; round < 5; ++round) {
    crashing.insert(id);
    ASSERT_THAT(pool_->Dispatch(Task(id++, "segfault")), IsOk());
    crashing.insert(id);
    ASSERT_THAT(pool_->Dispatch(Task(id++, "segfault")), IsOk());
    for (int i = 0; i < 100; ++i) {
      ASSERT_THAT(pool_->Dispatch(Task(id++, "echo", "ok")), IsOk());
      absl::SleepFor(absl::Microseconds(200));
    }
  }
  for (uint64_t task = 1; task < id; ++task) {
    const proto::TaskResult result = reports_.WaitFor(task);
    if (crashing.count(task) > 0) {
      EXPECT_EQ(result.error().code(), static_cast<int>(absl::StatusCode::kUnavailable));
    } else {
      EXPECT_FALSE(result.has_error()) << "task " << task << ": " << result.error().message();
    }
  }
  EXPECT_EQ(pool_->workers_replaced(), 10u);
}

TEST_F(MpiWorkerPoolTest, DedicatedWorkersRunInOrderAndReportTheirLoss) {
  ASSERT_NO_FATAL_FAILURE(StartPool(2));
  absl::StatusOr<WorkerId> first = pool_->StartDedicatedWorker();
  absl::StatusOr<WorkerId> second = pool_->StartDedicatedWorker();
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  EXPECT_NE(first->slot, second->slot);
  EXPECT_GE(first->slot, 2);  // above the pool's slots
  for (uint64_t id = 1; id <= 5; ++id) {
    ASSERT_THAT(pool_->DispatchTo(*first, Task(id, "echo", std::to_string(id))), IsOk());
  }
  ASSERT_THAT(pool_->DispatchTo(*second, Task(6, "pid")), IsOk());
  ASSERT_THAT(pool_->DispatchTo(*first, Task(7, "pid")), IsOk());
  for (uint64_t id = 1; id <= 5; ++id) EXPECT_EQ(reports_.WaitFor(id).values(0), std::to_string(id));
  // Round-robin over the ranks: two actors, two different processes (and ranks).
  EXPECT_NE(reports_.WaitFor(6).values(0), reports_.WaitFor(7).values(0));
  pool_->CloseDedicatedWorker(*first, /*kill=*/false);
  {
    absl::MutexLock lock(&reports_.mu);
    auto lost = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reports_.mu) {
      return !reports_.lost.empty();
    };
    reports_.mu.Await(absl::Condition(&lost));
    EXPECT_EQ(reports_.lost[0].first.slot, first->slot);
    EXPECT_EQ(reports_.lost[0].first.generation, first->generation);
  }
  EXPECT_FALSE(pool_->DispatchTo(*first, Task(8, "echo")).ok());
  EXPECT_THAT(pool_->DispatchTo(WorkerId{99, 1}, Task(9, "echo")),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(MpiWorkerPoolTest, CancelReportsTheTaskBeforeItReturns) {
  ASSERT_NO_FATAL_FAILURE(StartPool(2));
  absl::StatusOr<WorkerId> actor = pool_->StartDedicatedWorker();
  ASSERT_THAT(actor, IsOk());
  ASSERT_THAT(pool_->DispatchTo(*actor, Task(1, "sleep_ms", "60000")), IsOk());
  ASSERT_THAT(pool_->DispatchTo(*actor, Task(2, "echo", "never")), IsOk());
  // The queued one: dropped, and reported Cancelled by the time Cancel returns.
  ASSERT_THAT(pool_->Cancel(2, /*force=*/false), IsOk());
  EXPECT_TRUE(reports_.Has(2));
  EXPECT_EQ(reports_.WaitFor(2).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_THAT(pool_->Cancel(2, false), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(pool_->Cancel(12345, false), StatusIs(absl::StatusCode::kNotFound));
  // A pool task that runs: force kills its worker.
  ASSERT_THAT(pool_->Dispatch(Task(3, "sleep_ms", "60000")), IsOk());
  absl::Status cancelled;
  do {  // until the worker has started it (a queued task would be cancelled without force)
    cancelled = pool_->Cancel(3, /*force=*/false);
  } while (cancelled.ok() == false && cancelled.code() != absl::StatusCode::kFailedPrecondition);
  if (cancelled.code() == absl::StatusCode::kFailedPrecondition) {
    EXPECT_THAT(pool_->Cancel(3, /*force=*/true), IsOk());
  }
  EXPECT_TRUE(reports_.Has(3));
  EXPECT_EQ(reports_.WaitFor(3).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
}

TEST_F(MpiWorkerPoolTest, ShutdownReportsTasksInFlightOnceAndEndsTheWorkers) {
  ASSERT_NO_FATAL_FAILURE(StartPool(2));
  std::vector<int> pids;
  for (const WorkerState& worker : pool_->Workers()) pids.push_back(worker.pid);
  ASSERT_THAT(pool_->Dispatch(Task(1, "sleep_ms", "60000")), IsOk());
  ASSERT_THAT(pool_->Dispatch(Task(2, "sleep_ms", "60000")), IsOk());
  pool_->Shutdown();
  EXPECT_TRUE(pool_->stopping());
  EXPECT_EQ(reports_.WaitFor(1).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(reports_.WaitFor(2).error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  for (int pid : pids) EXPECT_FALSE(unidist::testing::ProcessPresent(pid));
  EXPECT_THAT(pool_->Dispatch(Task(3, "echo")), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(pool_->Workers(), IsEmpty());
  pool_->Shutdown();  // idempotent
  absl::MutexLock lock(&reports_.mu);
  EXPECT_EQ(reports_.duplicate_results, 0);
}

TEST_F(MpiWorkerPoolTest, TheRanksServeOneSessionAfterAnother) {
  for (int session = 0; session < 3; ++session) {
    ASSERT_NO_FATAL_FAILURE(StartPool(2 + session));
    EXPECT_EQ(pool_->Workers().size(), static_cast<size_t>(2 + session));
    const uint64_t id = 100 + session;
    ASSERT_THAT(pool_->Dispatch(Task(id, "echo", "s")), IsOk());
    EXPECT_EQ(reports_.WaitFor(id).values(0), "s");
    pool_->Shutdown();
  }
}

TEST_F(MpiWorkerPoolTest, RefusesTooLargeTasksAndBadOptions) {
  WorkerPoolOptions options = Options(2);
  options.max_frame_bytes = 1024;
  absl::StatusOr<std::unique_ptr<MpiWorkerPool>> pool =
      MpiWorkerPool::Start(std::move(options), driver_.get());
  ASSERT_THAT(pool, IsOk());
  pool_ = *std::move(pool);
  EXPECT_THAT(pool_->Dispatch(Task(1, "echo", std::string(2000, 'x'))),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(MpiWorkerPool::Start(Options(0), driver_.get()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(DriverLinkTest, MustBeRankZeroOfSeveral) {
  std::shared_ptr<LocalHub> hub = LocalHub::Create(1);
  EXPECT_THAT(DriverLink::Start([hub] { return hub->Open(0); }),
              StatusIs(absl::StatusCode::kInvalidArgument));
  std::shared_ptr<LocalHub> hub2 = LocalHub::Create(2);
  EXPECT_THAT(DriverLink::Start([hub2] { return hub2->Open(1); }),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace unidist::mpi_internal
