// Copyright 2026 The unidist-cpp Authors.
//
// The mpi backend without mpirun: the driver's pool and two nodes in one process, linked
// by a LocalHub, each node with a real ProcessManager of forked workers running a test
// executor whose "functions" echo, report their pid, sleep or crash.

#include "mpi/internal/driver_pool.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/result_ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mpi/internal/local_transport.h"
#include "mpi/internal/node.h"
#include "process_manager/process_manager.h"
#include "unidist/testing/process_helpers.h"
#include "unidist/testing/status_matchers.h"

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
  } else if (task.function() == "make") {
    // A value of `number` bytes.
    result->add_values(std::string(static_cast<size_t>(number), 'v'));
  } else if (task.function() == "size") {
    // The size of every argument, as the worker sees it.
    std::string sizes;
    for (const proto::TaskArgument& each : task.args()) {
      if (each.has_location()) sizes += "location!";  // must have been filled in
      sizes += std::to_string(each.value().size()) + ";";
    }
    result->add_values(sizes);
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
  AddResultId(DataID::FromParts(8, id), &task);
  return task;
}

// A task whose one result is object `result` (so that a node keeps it under that id).
proto::TaskRequest TaskMaking(uint64_t id, const std::string& function, const std::string& arg,
                              const DataID& result) {
  proto::TaskRequest task = Task(id, function, arg);
  task.clear_result_ids();
  AddResultId(result, &task);
  return task;
}

// A task whose arguments are the objects `args`, kept on the ranks given.
proto::TaskRequest TaskUsing(uint64_t id, const std::vector<std::pair<DataID, int>>& args,
                             uint64_t size) {
  proto::TaskRequest task;
  task.set_task_id(id);
  task.set_function("size");
  AddResultId(DataID::FromParts(9, id), &task);
  for (const auto& [object, rank] : args) {
    proto::TaskArgument* arg = task.add_args();
    arg->set_object_id(object.Binary());
    arg->mutable_location()->set_object_id(object.Binary());
    arg->mutable_location()->set_holder(rank);
    arg->mutable_location()->set_size(size);
  }
  return task;
}

// A worker rank in this process: a node behind its own link, which says it runs on
// `place` (or fails to start a session with its error).
class TestNode {
 public:
  TestNode(std::shared_ptr<LocalHub> hub, int rank, absl::StatusOr<Node::Place> place)
      : node_(
            [this](int dest, std::string bytes, std::shared_ptr<const ObjectBytes> payload) {
              link_.load()->Post(dest, std::move(bytes), std::move(payload));
            },
            &TestExecutor,
            [](WorkerPoolOptions options) -> absl::StatusOr<std::unique_ptr<WorkerPool>> {
              absl::StatusOr<std::unique_ptr<ProcessManager>> manager =
                  ProcessManager::Start(std::move(options));
              if (!manager.ok()) return manager.status();
              return std::unique_ptr<WorkerPool>(std::move(*manager));
            },
            [place] { return place; }) {
    absl::StatusOr<std::unique_ptr<Link>> link =
        Link::Start([hub, rank] { return hub->Open(rank); },
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
  std::vector<uint64_t> order ABSL_GUARDED_BY(mu);  // task ids, as their results came

  proto::TaskResult WaitFor(uint64_t task_id) {
    absl::MutexLock lock(&mu);
    auto has = [this, task_id]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return results.contains(task_id); };
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
    node1_ = std::make_unique<TestNode>(hub_, 1, place1_);
    node2_ = std::make_unique<TestNode>(hub_, 2, place2_);
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
      reports_.order.push_back(result.task_id());
      reports_.results[result.task_id()] = std::move(result);
    };
    options.on_dedicated_worker_lost = [this](WorkerId worker, absl::Status status) {
      absl::MutexLock lock(&reports_.mu);
      reports_.lost.emplace_back(worker, std::move(status));
    };
    return options;
  }

  void StartPool(int num_workers, MpiWorkerPoolOptions mpi_options = {}) {
    absl::StatusOr<std::unique_ptr<MpiWorkerPool>> pool =
        MpiWorkerPool::Start(Options(num_workers), driver_.get(), mpi_options);
    ASSERT_THAT(pool, IsOk());
    pool_ = *std::move(pool);
  }

  // Where the two nodes say they run; a test fixture may change them before SetUp.
  absl::StatusOr<Node::Place> place1_ = Node::Place{2, "host-a"};
  absl::StatusOr<Node::Place> place2_ = Node::Place{2, "host-b"};
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
  for (uint64_t id = 1; id <= 5; ++id)
    EXPECT_EQ(reports_.WaitFor(id).values(0), std::to_string(id));
  // Round-robin over the ranks: two actors, two different processes (and ranks).
  EXPECT_NE(reports_.WaitFor(6).values(0), reports_.WaitFor(7).values(0));
  pool_->CloseDedicatedWorker(*first, /*kill=*/false);
  {
    absl::MutexLock lock(&reports_.mu);
    auto lost = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(reports_.mu) { return !reports_.lost.empty(); };
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
  EXPECT_THAT(MpiWorkerPool::Start(Options(-1), driver_.get()),
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

// ------------------------------------------------------------------------------ objects

constexpr uint64_t kBig = uint64_t{1} << 20;  // far above the 64 KiB kept by default
constexpr uint64_t kSmall = 16 << 10;         // far below

// The value bytes that went from rank `from` to rank `to`, give or take the envelopes:
// everything a test moves is either far above or far below this.
constexpr uint64_t kEnvelopeSlack = 32 << 10;

TEST_F(MpiWorkerPoolTest, ALargeResultStaysOnItsRankAndGoesStraightToTheRankThatNeedsIt) {
  ASSERT_NO_FATAL_FAILURE(StartPool(2));  // tasks alternate: rank 1, rank 2, rank 1, ...
  const DataID object = DataID::FromParts(7, 1);
  ASSERT_THAT(pool_->Dispatch(TaskMaking(1, "make", std::to_string(kBig), object)), IsOk());
  const proto::TaskResult made = reports_.WaitFor(1);
  ASSERT_FALSE(made.has_error()) << made.error().message();
  ASSERT_EQ(made.kept_values_size(), 1);
  EXPECT_EQ(made.kept_values(0).index(), 0u);
  EXPECT_EQ(made.kept_values(0).holder(), 1u);
  EXPECT_EQ(made.kept_values(0).size(), kBig);
  EXPECT_EQ(made.values(0), "");  // the bytes stayed on rank 1
  EXPECT_LT(hub_->bytes_sent(1, 0), kEnvelopeSlack);

  // Used on rank 2: fetched from rank 1 directly, not through the driver.
  ASSERT_THAT(pool_->Dispatch(TaskUsing(2, {{object, 1}}, kBig)), IsOk());
  const proto::TaskResult used = reports_.WaitFor(2);
  ASSERT_FALSE(used.has_error()) << used.error().message();
  EXPECT_EQ(used.values(0), absl::StrCat(kBig, ";"));
  EXPECT_GE(hub_->bytes_sent(1, 2), kBig);
  EXPECT_LT(hub_->bytes_sent(1, 2), kBig + kEnvelopeSlack);
  EXPECT_LT(hub_->bytes_sent(1, 0), kEnvelopeSlack);
  EXPECT_LT(hub_->bytes_sent(0, 2), kEnvelopeSlack);

  // Used on rank 1, where it is: no value bytes move at all.
  const uint64_t to_2 = hub_->bytes_sent(1, 2);
  const uint64_t from_2 = hub_->bytes_sent(2, 1);
  ASSERT_THAT(pool_->Dispatch(TaskUsing(3, {{object, 1}}, kBig)), IsOk());
  EXPECT_EQ(reports_.WaitFor(3).values(0), absl::StrCat(kBig, ";"));
  EXPECT_EQ(hub_->bytes_sent(1, 2), to_2);
  EXPECT_EQ(hub_->bytes_sent(2, 1), from_2);
  EXPECT_LT(hub_->bytes_sent(1, 0), kEnvelopeSlack);
  EXPECT_LT(hub_->bytes_sent(0, 1), kEnvelopeSlack);

  // Used on rank 2 again, twice in one task: its copy serves, no second fetch.
  ASSERT_THAT(pool_->Dispatch(TaskUsing(4, {{object, 1}, {object, 1}}, kBig)), IsOk());
  EXPECT_EQ(reports_.WaitFor(4).values(0), absl::StrCat(kBig, ";", kBig, ";"));
  EXPECT_EQ(hub_->bytes_sent(1, 2), to_2);
  absl::StatusOr<ObjectTraffic> traffic = pool_->QueryObjects();
  ASSERT_THAT(traffic, IsOk());
  ASSERT_EQ(traffic->ranks.size(), 2u);
  EXPECT_EQ(traffic->ranks[0].objects_kept(), 1u);
  EXPECT_EQ(traffic->ranks[0].bytes_sent_to_nodes(), kBig);
  EXPECT_EQ(traffic->ranks[1].fetches(), 1u);
  EXPECT_EQ(traffic->ranks[1].bytes_fetched(), kBig);
  EXPECT_EQ(traffic->ranks[1].objects_held(), 1u);  // its copy
  EXPECT_EQ(traffic->result_bytes_to_driver,
            0u + 2 * std::to_string(kBig).size() + 2 + 2 * std::to_string(kBig).size() + 2);

  // The driver's own Get fetches it once, from rank 1.
  absl::StatusOr<std::string> fetched = pool_->FetchObject(object, 1);
  ASSERT_THAT(fetched, IsOk());
  EXPECT_EQ(*fetched, std::string(kBig, 'v'));
  EXPECT_GE(hub_->bytes_sent(1, 0), kBig);

  // Released: every copy goes.
  pool_->ReleaseObject(object, 1);
  traffic = pool_->QueryObjects();  // sent after the release, so answered after it
  ASSERT_THAT(traffic, IsOk());
  EXPECT_EQ(traffic->ranks[0].objects_held(), 0u);
  EXPECT_EQ(traffic->ranks[1].objects_held(), 0u);
  EXPECT_EQ(traffic->ranks[0].bytes_held(), 0u);
  const absl::Status gone = pool_->FetchObject(object, 1).status();
  EXPECT_THAT(gone, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(gone.message()), ::testing::HasSubstr(object.Hex()));
  EXPECT_THAT(std::string(gone.message()), ::testing::HasSubstr("rank 1"));
}

// A release goes to the rank that keeps the object and to the ranks sent its location
// (which may have fetched a copy), not to every rank.
TEST_F(MpiWorkerPoolTest, AReleaseGoesOnlyToTheRanksThatMayHoldTheObject) {
  ASSERT_NO_FATAL_FAILURE(StartPool(2));
  const DataID object = DataID::FromParts(8, 1);
  ASSERT_THAT(pool_->Dispatch(TaskMaking(1, "make", std::to_string(kBig), object)), IsOk());
  ASSERT_EQ(reports_.WaitFor(1).kept_values_size(), 1);  // kept on rank 1
  ASSERT_THAT(pool_->Dispatch(Task(2, "echo", "to rank 2")), IsOk());
  reports_.WaitFor(2);
  // Used on rank 1 only, where it is.
  ASSERT_THAT(pool_->Dispatch(TaskUsing(3, {{object, 1}}, kBig)), IsOk());
  EXPECT_EQ(reports_.WaitFor(3).values(0), absl::StrCat(kBig, ";"));
  const uint64_t to_rank_2 = hub_->messages_sent(0, 2);
  pool_->ReleaseObject(object, 1);
  absl::StatusOr<ObjectTraffic> traffic = pool_->QueryObjects();  // rank 1 answers after it
  ASSERT_THAT(traffic, IsOk());
  EXPECT_EQ(traffic->ranks[0].objects_held(), 0u);
  EXPECT_EQ(hub_->messages_sent(0, 2), to_rank_2 + 1);  // the query only, no release

  // Used on rank 2: it fetched a copy, and the release reaches it too.
  const DataID second = DataID::FromParts(8, 2);
  ASSERT_THAT(pool_->Dispatch(TaskMaking(4, "make", std::to_string(kBig), second)), IsOk());
  ASSERT_EQ(reports_.WaitFor(4).kept_values_size(), 1);                     // rank 2 (round-robin)
  ASSERT_THAT(pool_->Dispatch(TaskUsing(5, {{second, 2}}, kBig)), IsOk());  // rank 1
  EXPECT_EQ(reports_.WaitFor(5).values(0), absl::StrCat(kBig, ";"));
  traffic = pool_->QueryObjects();
  ASSERT_THAT(traffic, IsOk());
  EXPECT_EQ(traffic->ranks[0].objects_held(), 1u);  // rank 1's copy
  pool_->ReleaseObject(second, 2);
  traffic = pool_->QueryObjects();
  ASSERT_THAT(traffic, IsOk());
  EXPECT_EQ(traffic->ranks[0].objects_held(), 0u);
  EXPECT_EQ(traffic->ranks[1].objects_held(), 0u);
}

// A release naming no rank of the session (never, from the runtime) goes to them all.
TEST_F(MpiWorkerPoolTest, AReleaseWithAHolderThatIsNoRankGoesToEveryRank) {
  ASSERT_NO_FATAL_FAILURE(StartPool(2));
  const DataID object = DataID::FromParts(8, 3);
  ASSERT_THAT(pool_->Dispatch(TaskMaking(1, "make", std::to_string(kBig), object)), IsOk());
  ASSERT_EQ(reports_.WaitFor(1).kept_values_size(), 1);  // kept on rank 1
  const uint64_t to_rank_2 = hub_->messages_sent(0, 2);
  pool_->ReleaseObject(object, 0);
  absl::StatusOr<ObjectTraffic> traffic = pool_->QueryObjects();
  ASSERT_THAT(traffic, IsOk());
  EXPECT_EQ(traffic->ranks[0].objects_held(), 0u);
  EXPECT_EQ(hub_->messages_sent(0, 2), to_rank_2 + 2);  // the release and the query
}

// A task whose arguments are the driver's own objects `args` (a Put), by value.
proto::TaskRequest TaskWithObjects(uint64_t id, const std::vector<DataID>& args, uint64_t size) {
  proto::TaskRequest task;
  task.set_task_id(id);
  task.set_function("size");
  AddResultId(DataID::FromParts(9, id), &task);
  for (const DataID& object : args) {
    proto::TaskArgument* arg = task.add_args();
    arg->set_object_id(object.Binary());
    arg->set_value(std::string(size, 'p'));
  }
  return task;
}

// The driver's large object goes to a rank once; later tasks there read the rank's copy.
// Beyond MpiWorkerPoolOptions::rank_cache_bytes the least recently sent is dropped (never
// one the task being sent uses), and is sent again when needed.
TEST_F(MpiWorkerPoolTest, TheDriversLargeObjectGoesToARankOnceWithinItsBudget) {
  MpiWorkerPoolOptions options;
  options.rank_cache_bytes = kBig + kBig / 2;
  ASSERT_NO_FATAL_FAILURE(StartPool(1, options));  // every task on rank 1
  const DataID x = DataID::FromParts(6, 1);
  const DataID y = DataID::FromParts(6, 2);
  const std::string one = absl::StrCat(kBig, ";");
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_THAT(pool_->Dispatch(TaskWithObjects(id, {x}, kBig)), IsOk());
    EXPECT_EQ(reports_.WaitFor(id).values(0), one) << id;
  }
  EXPECT_GE(hub_->bytes_sent(0, 1), kBig);
  EXPECT_LT(hub_->bytes_sent(0, 1), kBig + kEnvelopeSlack);  // once, not three times
  absl::StatusOr<ObjectTraffic> traffic = pool_->QueryObjects();
  ASSERT_THAT(traffic, IsOk());
  EXPECT_EQ(traffic->ranks[0].arguments_kept(), 1u);
  EXPECT_EQ(traffic->ranks[0].argument_bytes_kept(), kBig);
  EXPECT_EQ(traffic->ranks[0].objects_held(), 1u);

  // y does not fit beside x: x goes.
  ASSERT_THAT(pool_->Dispatch(TaskWithObjects(4, {y}, kBig)), IsOk());
  EXPECT_EQ(reports_.WaitFor(4).values(0), one);
  traffic = pool_->QueryObjects();
  ASSERT_THAT(traffic, IsOk());
  EXPECT_EQ(traffic->ranks[0].objects_held(), 1u);
  // x again: sent again, by value; then both in one task: neither is dropped for it.
  const uint64_t before = hub_->bytes_sent(0, 1);
  ASSERT_THAT(pool_->Dispatch(TaskWithObjects(5, {x}, kBig)), IsOk());
  EXPECT_EQ(reports_.WaitFor(5).values(0), one);
  EXPECT_GE(hub_->bytes_sent(0, 1), before + kBig);
  ASSERT_THAT(pool_->Dispatch(TaskWithObjects(6, {x, y}, kBig)), IsOk());
  EXPECT_EQ(reports_.WaitFor(6).values(0), absl::StrCat(one, one));
  traffic = pool_->QueryObjects();
  ASSERT_THAT(traffic, IsOk());
  EXPECT_EQ(traffic->ranks[0].arguments_kept(), 4u);  // x, y, x, y
}

TEST_F(MpiWorkerPoolTest, WithoutABudgetTheDriversObjectsGoWithEveryTask) {
  MpiWorkerPoolOptions options;
  options.rank_cache_bytes = 0;
  ASSERT_NO_FATAL_FAILURE(StartPool(1, options));
  const DataID x = DataID::FromParts(6, 3);
  for (uint64_t id = 1; id <= 2; ++id) {
    ASSERT_THAT(pool_->Dispatch(TaskWithObjects(id, {x}, kBig)), IsOk());
    EXPECT_EQ(reports_.WaitFor(id).values(0), absl::StrCat(kBig, ";"));
  }
  EXPECT_GE(hub_->bytes_sent(0, 1), 2 * kBig);
  absl::StatusOr<ObjectTraffic> traffic = pool_->QueryObjects();
  ASSERT_THAT(traffic, IsOk());
  EXPECT_EQ(traffic->ranks[0].arguments_kept(), 0u);
  EXPECT_EQ(traffic->ranks[0].objects_held(), 0u);
}

TEST_F(MpiWorkerPoolTest, SmallResultsAndAZeroThresholdGoToTheDriver) {
  MpiWorkerPoolOptions keep_nothing;
  keep_nothing.keep_min_bytes = 0;
  ASSERT_NO_FATAL_FAILURE(StartPool(2, keep_nothing));
  ASSERT_THAT(pool_->Dispatch(TaskMaking(1, "make", std::to_string(kBig), DataID::FromParts(7, 1))),
              IsOk());
  const proto::TaskResult big = reports_.WaitFor(1);
  EXPECT_EQ(big.kept_values_size(), 0);
  EXPECT_EQ(big.values(0).size(), kBig);
  pool_.reset();
  ASSERT_NO_FATAL_FAILURE(StartPool(2));
  ASSERT_THAT(
      pool_->Dispatch(TaskMaking(2, "make", std::to_string(kSmall), DataID::FromParts(7, 2))),
      IsOk());
  const proto::TaskResult small = reports_.WaitFor(2);
  EXPECT_EQ(small.kept_values_size(), 0);
  EXPECT_EQ(small.values(0).size(), kSmall);
}

TEST_F(MpiWorkerPoolTest, FetchesOfMissingObjectsFailTheTaskOrTheGetWithTheIdAndRank) {
  ASSERT_NO_FATAL_FAILURE(StartPool(2));
  const DataID missing = DataID::FromParts(7, 99);
  // On rank 1, which is said to hold it: NotFound at once.
  ASSERT_THAT(pool_->Dispatch(TaskUsing(1, {{missing, 1}}, kBig)), IsOk());
  // On rank 2: its fetch from rank 1 is answered NotFound.
  ASSERT_THAT(pool_->Dispatch(TaskUsing(2, {{missing, 1}}, kBig)), IsOk());
  for (uint64_t id : {1, 2}) {
    const proto::TaskResult failed = reports_.WaitFor(id);
    ASSERT_TRUE(failed.has_error()) << "task " << id;
    EXPECT_EQ(failed.error().code(), static_cast<int>(absl::StatusCode::kNotFound));
    EXPECT_THAT(failed.error().message(), ::testing::HasSubstr(missing.Hex()));
    EXPECT_THAT(failed.error().message(), ::testing::HasSubstr("rank 1"));
    EXPECT_EQ(failed.error().function(), "size");
  }
  EXPECT_THAT(pool_->FetchObject(missing, 2), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(pool_->FetchObject(missing, 3), StatusIs(absl::StatusCode::kInvalidArgument));
  // The rank is fine afterwards.
  ASSERT_THAT(pool_->Dispatch(Task(3, "echo", "after")), IsOk());
  EXPECT_EQ(reports_.WaitFor(3).values(0), "after");
}

TEST_F(MpiWorkerPoolTest, KeptObjectsSurviveAWorkerCrashAndGoWithTheSession) {
  ASSERT_NO_FATAL_FAILURE(StartPool(2));
  const DataID object = DataID::FromParts(7, 1);
  ASSERT_THAT(pool_->Dispatch(TaskMaking(1, "make", std::to_string(kBig), object)), IsOk());
  ASSERT_EQ(reports_.WaitFor(1).kept_values_size(), 1);
  ASSERT_THAT(pool_->Dispatch(Task(2, "pid")), IsOk());       // rank 2
  ASSERT_THAT(pool_->Dispatch(Task(3, "segfault")), IsOk());  // rank 1's only worker dies
  EXPECT_TRUE(reports_.WaitFor(3).error().worker_died());
  absl::StatusOr<std::string> fetched = pool_->FetchObject(object, 1);
  ASSERT_THAT(fetched, IsOk());
  EXPECT_EQ(fetched->size(), kBig);
  pool_->Shutdown();
  const absl::Status over = pool_->FetchObject(object, 1).status();
  EXPECT_THAT(over, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(over.message()), ::testing::HasSubstr("rank 1"));
  // A new session starts empty: the old session's objects are gone from the ranks.
  pool_.reset();
  ASSERT_NO_FATAL_FAILURE(StartPool(2));
  EXPECT_THAT(pool_->FetchObject(object, 1), StatusIs(absl::StatusCode::kNotFound));
  absl::StatusOr<ObjectTraffic> traffic = pool_->QueryObjects();
  ASSERT_THAT(traffic, IsOk());
  EXPECT_EQ(traffic->ranks[0].objects_held(), 0u);
}

TEST_F(MpiWorkerPoolTest, AnActorsCallsKeepTheirOrderWhileOneWaitsForAFetch) {
  ASSERT_NO_FATAL_FAILURE(StartPool(2));
  const DataID object = DataID::FromParts(7, 1);
  ASSERT_THAT(pool_->Dispatch(Task(1, "pid")), IsOk());  // rank 1
  ASSERT_THAT(pool_->Dispatch(TaskMaking(2, "make", std::to_string(kBig), object)), IsOk());
  ASSERT_EQ(reports_.WaitFor(2).kept_values(0).holder(), 2u);
  absl::StatusOr<WorkerId> actor = pool_->StartDedicatedWorker();  // on rank 1
  ASSERT_THAT(actor, IsOk());
  // The first call waits for a fetch from rank 2; the second needs nothing, yet runs after.
  ASSERT_THAT(pool_->DispatchTo(*actor, TaskUsing(3, {{object, 2}}, kBig)), IsOk());
  ASSERT_THAT(pool_->DispatchTo(*actor, Task(4, "echo", "second")), IsOk());
  EXPECT_EQ(reports_.WaitFor(4).values(0), "second");
  EXPECT_EQ(reports_.WaitFor(3).values(0), absl::StrCat(kBig, ";"));
  absl::MutexLock lock(&reports_.mu);
  const std::vector<uint64_t> order = reports_.order;
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[2], 3u);
  EXPECT_EQ(order[3], 4u);
}

// Nodes with different CPU counts, as ranks on hosts of different sizes are.
class UnevenNodesTest : public MpiWorkerPoolTest {
 protected:
  UnevenNodesTest() {
    place1_ = Node::Place{3, "big-host"};
    place2_ = Node::Place{1, "small-host"};
  }
};

TEST_F(UnevenNodesTest, WithoutANumberOfWorkersEachRankRunsOnePerCpu) {
  StartPool(0);
  EXPECT_EQ(pool_->num_workers(), 4);
  const std::vector<NodeState> nodes = pool_->Nodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].node, 1);
  EXPECT_EQ(nodes[0].host, "big-host");
  EXPECT_EQ(nodes[0].cpus, 3);
  EXPECT_EQ(nodes[0].workers, 3);
  EXPECT_EQ(nodes[1].node, 2);
  EXPECT_EQ(nodes[1].host, "small-host");
  EXPECT_EQ(nodes[1].cpus, 1);
  EXPECT_EQ(nodes[1].workers, 1);
  // Local worker 0 of each rank, then the big rank's others.
  const std::vector<WorkerState> workers = pool_->Workers();
  ASSERT_EQ(workers.size(), 4u);
  std::vector<int> node_of_slot;
  absl::flat_hash_map<std::string, int> node_of_pid;
  for (const WorkerState& worker : workers) {
    EXPECT_TRUE(worker.alive);
    node_of_slot.push_back(worker.node);
    node_of_pid[std::to_string(worker.pid)] = worker.node;
  }
  EXPECT_EQ(node_of_slot, (std::vector<int>{1, 2, 1, 1}));
  // Tasks go to the ranks in proportion to their workers: 3 of every 4 to rank 1.
  for (uint64_t id = 1; id <= 8; ++id) ASSERT_THAT(pool_->Dispatch(Task(id, "pid")), IsOk());
  int on_rank[3] = {0, 0, 0};
  for (uint64_t id = 1; id <= 8; ++id) {
    const std::string pid = reports_.WaitFor(id).values(0);
    ASSERT_TRUE(node_of_pid.contains(pid)) << pid;
    ++on_rank[node_of_pid[pid]];
  }
  EXPECT_EQ(on_rank[1], 6);
  EXPECT_EQ(on_rank[2], 2);
}

TEST_F(UnevenNodesTest, ATotalIsSharedEvenlyWhateverTheCpus) {
  StartPool(4);
  const std::vector<NodeState> nodes = pool_->Nodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].workers, 2);
  EXPECT_EQ(nodes[1].workers, 2);
  EXPECT_EQ(nodes[1].cpus, 1);  // more workers than CPUs, as asked
}

class NodeWithoutACpuCountTest : public MpiWorkerPoolTest {
 protected:
  NodeWithoutACpuCountTest() {
    place2_ = absl::InvalidArgumentError("UNIDIST_CPUS must be a whole number, got 'x'");
  }
};

TEST_F(NodeWithoutACpuCountTest, TheSessionDoesNotStartAndTheErrorNamesTheRank) {
  EXPECT_THAT(MpiWorkerPool::Start(Options(0), driver_.get()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(::testing::HasSubstr("worker rank 2"),
                                        ::testing::HasSubstr("UNIDIST_CPUS"))));
  // The other rank's workers are gone again.
  EXPECT_THAT(unidist::testing::WaitForNoDescendants(absl::Seconds(5)), IsEmpty());
}

TEST(CpusOfRankTest, ARankToldOrBoundCountsItsOwn) {
  Node::Place place;
  place.cpus = 3;
  place.ranks_on_host = 4;
  EXPECT_EQ(Node::CpusOfRank(place, true), 3);
  place.cpus = 0;
  EXPECT_EQ(Node::CpusOfRank(place, false), 1);
}

TEST(CpusOfRankTest, UnboundRanksShareTheirHostAndTheDriverTakesNone) {
  Node::Place place;
  place.whole_host = true;
  place.cpus = 8;
  // mpirun -n 2 on one machine: the one worker rank has it all.
  place.ranks_on_host = 2;
  place.index_on_host = 1;
  EXPECT_EQ(Node::CpusOfRank(place, /*driver_on_host=*/true), 8);
  // Two worker ranks on a host of their own, 5 CPUs: 3 and 2.
  place.cpus = 5;
  place.ranks_on_host = 2;
  place.index_on_host = 0;
  EXPECT_EQ(Node::CpusOfRank(place, false), 3);
  place.index_on_host = 1;
  EXPECT_EQ(Node::CpusOfRank(place, false), 2);
  // mpirun -n 4 on 2 CPUs: three worker ranks, one worker each (never none).
  place.cpus = 2;
  place.ranks_on_host = 4;
  int total = 0;
  for (int index = 1; index < 4; ++index) {
    place.index_on_host = index;
    EXPECT_EQ(Node::CpusOfRank(place, true), 1) << index;
    total += Node::CpusOfRank(place, true);
  }
  EXPECT_EQ(total, 3);
  // mpirun -n 3 on 2 CPUs: two worker ranks, one CPU each.
  place.ranks_on_host = 3;
  for (int index = 1; index < 3; ++index) {
    place.index_on_host = index;
    EXPECT_EQ(Node::CpusOfRank(place, true), 1) << index;
  }
}

// A node on its own, fed messages directly: what it answers about the tasks of a session.
class NodeSessionTest : public ::testing::Test {
 protected:
  NodeSessionTest()
      : node_(
            [this](int, std::string bytes, std::shared_ptr<const ObjectBytes>) {
              mpi::proto::FromNode message;
              ASSERT_TRUE(message.ParseFromString(bytes));
              absl::MutexLock lock(&mu_);
              sent_.push_back(std::move(message));
            },
            &TestExecutor,
            [this](WorkerPoolOptions options) -> absl::StatusOr<std::unique_ptr<WorkerPool>> {
              if (!start_pools_) return absl::InternalError("no pool in this test");
              absl::StatusOr<std::unique_ptr<ProcessManager>> manager =
                  ProcessManager::Start(std::move(options));
              if (!manager.ok()) return manager.status();
              return std::unique_ptr<WorkerPool>(std::move(*manager));
            },
            [] {
              return Node::Place{1, "host"};
            }) {}

  ~NodeSessionTest() override { node_.EndSession(); }

  void Deliver(const mpi::proto::ToNode& message) {
    ASSERT_TRUE(node_.HandleReceived(Received{0, message.SerializeAsString()}));
  }
  void StartSession(uint64_t session) {
    mpi::proto::ToNode start;
    start.set_session(session);
    start.mutable_start_session()->set_num_workers(1);
    start.mutable_start_session()->set_max_frame_bytes(kDefaultMaxFrameBytes);
    start.mutable_start_session()->set_max_tasks_per_worker(8);
    start.mutable_start_session()->set_reap_grace_ms(1000);
    start.mutable_start_session()->set_rank(1);
    start.mutable_start_session()->set_ranks(3);
    Deliver(start);
  }
  void RunTask(uint64_t session, uint64_t task_id) {
    mpi::proto::ToNode run;
    run.set_session(session);
    *run.mutable_run_task()->mutable_task() = Task(task_id, "echo", "x");
    Deliver(run);
  }
  // The error the node sent for task `task_id`, once it has (a task error is sent from
  // the handler itself, on this thread).
  std::optional<absl::StatusCode> ErrorOf(uint64_t task_id) {
    absl::MutexLock lock(&mu_);
    for (const mpi::proto::FromNode& message : sent_) {
      if (message.has_result() && message.result().task_id() == task_id) {
        return static_cast<absl::StatusCode>(message.result().error().code());
      }
    }
    return std::nullopt;
  }

  bool start_pools_ = true;
  absl::Mutex mu_;
  std::vector<mpi::proto::FromNode> sent_ ABSL_GUARDED_BY(mu_);
  Node node_;
};

// A task the driver sent while another of its threads ended the session arrives after
// end_session: it is answered Cancelled, as the multiprocessing backend answers a task
// that Shutdown overtook, not Unavailable.
TEST_F(NodeSessionTest, ATaskThatArrivesAfterItsSessionEndedIsCancelled) {
  StartSession(1);
  mpi::proto::ToNode end;
  end.set_session(1);
  end.set_end_session(true);
  Deliver(end);
  RunTask(1, 7);
  EXPECT_EQ(ErrorOf(7), absl::StatusCode::kCancelled);
}

// A location that names no worker rank of the job (the driver, or past the last rank)
// fails the task at once, instead of a fetch that no rank would answer.
TEST_F(NodeSessionTest, AnArgumentOnARankThatIsNotAWorkerRankFailsItsTask) {
  StartSession(1);
  for (uint64_t holder : {uint64_t{0}, uint64_t{3}, uint64_t{1} << 40}) {
    const uint64_t task_id = 20 + holder % 7;
    mpi::proto::ToNode run;
    run.set_session(1);
    *run.mutable_run_task()->mutable_task() =
        TaskUsing(task_id, {{DataID::FromParts(5, holder % 7), static_cast<int>(holder % 7)}}, 10);
    run.mutable_run_task()->mutable_task()->mutable_args(0)->mutable_location()->set_holder(holder);
    Deliver(run);
    EXPECT_EQ(ErrorOf(task_id), absl::StatusCode::kInvalidArgument) << holder;
  }
  absl::MutexLock lock(&mu_);
  for (const mpi::proto::FromNode& message : sent_) EXPECT_FALSE(message.has_object_data());
}

TEST_F(NodeSessionTest, ATaskOfASessionWhosePoolFailedToStartIsUnavailable) {
  start_pools_ = false;
  StartSession(1);
  RunTask(1, 8);
  EXPECT_EQ(ErrorOf(8), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace unidist::mpi_internal
