// Copyright 2026 The unidist-cpp Authors.
//
// Unit tests of the runtime's scheduler (dependencies, retries, Cancel, Shutdown, actor
// call queues) on FakeWorkerPool: no process runs, and the test decides when each task
// starts, finishes or loses its worker. Everything the runtime does in answer happens on
// the thread that caused it, so the tests check the outcome right after each step.

#include "api/internal/runtime.h"

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "common/framing.h"
#include "common/map_chunk.h"
#include "common/result_ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/fake_worker_pool.h"
#include "unidist/common/codec.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/unidist.h"

namespace unidist::api_internal {
namespace {

// What a pool reports for task `task_id` when the worker running it died.
proto::TaskResult WorkerDiedResult(uint64_t task_id) {
  proto::TaskResult died;
  died.set_task_id(task_id);
  died.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kUnavailable));
  died.mutable_error()->set_worker_died(true);
  return died;
}

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::unidist::testing::FakeBackend;
using ::unidist::testing::FakeTask;
using ::unidist::testing::FakeWorkerPool;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

// A task argument holding `value`.
TaskArg Value(int value) {
  TaskArg arg;
  arg.value = Encode(value);
  return arg;
}

// A task argument referring to `ref`'s object.
TaskArg Ref(const RefHandle& ref) {
  TaskArg arg;
  arg.ref = ref;
  arg.is_ref = true;
  return arg;
}

template <typename... Ts>
std::vector<TaskArg> Args(Ts... args) {
  std::vector<TaskArg> list;
  (list.push_back(std::move(args)), ...);
  return list;
}

bool IsComplete(const RefHandle& ref) { return ref.token->store()->IsComplete(ref.id); }

// The value of `ref`'s object as an int, its error, or FailedPrecondition while it is
// pending (never waits: whatever the runtime does has happened by the time a step returns).
absl::StatusOr<int> Outcome(const RefHandle& ref) {
  if (!IsComplete(ref)) return absl::FailedPreconditionError("the object is still pending");
  absl::StatusOr<ObjectStore::Value> bytes = ref.token->store()->Get(ref.id);
  if (!bytes.ok()) return bytes.status();
  return Decode<int>((*bytes)->view());
}

// Argument `index` of `task`, decoded as an int.
absl::StatusOr<int> ArgOf(const FakeTask& task, int index) {
  if (index >= task.request.args_size()) return absl::OutOfRangeError("no such argument");
  return Decode<int>(task.request.args(index).value());
}

// Counts the completions of `ref`'s object (a store callback runs once it completes).
std::shared_ptr<int> CountCompletions(const RefHandle& ref) {
  auto count = std::make_shared<int>(0);
  ref.token->store()->OnComplete(ref.id,
                                 [count](const absl::StatusOr<ObjectStore::Value>&) { ++*count; });
  return count;
}

class RuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(FakeBackend(fake_)); }

  void Start(const BackendDescription& backend) {
    absl::StatusOr<std::unique_ptr<Runtime>> runtime =
        Runtime::Start(backend, /*num_workers=*/2, kDefaultMaxFrameBytes);
    ASSERT_THAT(runtime, IsOk());
    runtime_ = *std::move(runtime);
  }

  RefHandle Submit(const std::string& function, std::vector<TaskArg> args = {},
                   int max_retries = 0) {
    return runtime_->Submit(function, std::move(args), /*num_returns=*/1, max_retries).front();
  }
  RefHandle Call(const std::shared_ptr<ActorRecord>& actor, const std::string& method,
                 std::vector<TaskArg> args = {}) {
    return runtime_->SubmitActorCall(actor, method, std::move(args), /*num_returns=*/1).front();
  }
  // runtime_->Map of "twice" over 0, 1, ..., count - 1: the refs.
  std::vector<RefHandle> MapTwice(int count, size_t chunk_size) {
    MapInputs inputs;
    for (int i = 0; i < count; ++i) {
      EncodeTo(i, &inputs.bytes);
      inputs.ends.push_back(inputs.bytes.size());
    }
    std::vector<RefHandle> refs;
    runtime_->Map("twice", inputs, chunk_size, /*max_retries=*/0,
                  [&refs](RefHandle ref) { refs.push_back(std::move(ref)); });
    return refs;
  }
  // The next task handed to the pool, which must be of `function`.
  FakeTask Next(const std::string& function) {
    absl::StatusOr<FakeTask> task = fake_->NextDispatch();
    EXPECT_THAT(task, IsOk());
    if (!task.ok()) return FakeTask{};
    EXPECT_EQ(task->function(), function);
    return *std::move(task);
  }

  // Declared first, so that the runtime goes first.
  std::shared_ptr<FakeWorkerPool> fake_ = std::make_shared<FakeWorkerPool>();
  std::unique_ptr<Runtime> runtime_;
};

// --- Dependencies ---

TEST_F(RuntimeTest, DispatchesATaskOnceItsArgumentCompletes) {
  RefHandle produced = Submit("produce");
  RefHandle consumed = Submit("consume", Args(Value(1), Ref(produced)));
  FakeTask produce = Next("produce");
  EXPECT_THAT(fake_->TakeDispatches(), IsEmpty());  // "consume" waits for its argument
  EXPECT_EQ(runtime_->GetStats().tasks_waiting, 1u);

  UNIDIST_ASSERT_OK(fake_->Complete(produce.task_id(), {Encode(41)}));
  FakeTask consume = Next("consume");
  EXPECT_THAT(ArgOf(consume, 0), IsOkAndHolds(1));
  EXPECT_THAT(ArgOf(consume, 1), IsOkAndHolds(41));  // the value filled in
  EXPECT_EQ(consume.request.args(1).object_id(), produced.id.Binary());
  EXPECT_EQ(ResultIdAt(consume.request, 0), consumed.id);
  EXPECT_FALSE(consume.dedicated);

  EXPECT_THAT(Outcome(consumed), StatusIs(absl::StatusCode::kFailedPrecondition));
  UNIDIST_ASSERT_OK(fake_->Complete(consume.task_id(), {Encode(42)}));
  EXPECT_THAT(Outcome(consumed), IsOkAndHolds(42));
}

TEST_F(RuntimeTest, FailedDependencyFailsTheDependentWhichNeverRuns) {
  RefHandle produced = Submit("produce");
  RefHandle consumed = Submit("consume", Args(Ref(produced)));
  FakeTask produce = Next("produce");
  UNIDIST_ASSERT_OK(fake_->Fail(produce.task_id(), absl::InternalError("boom")));

  EXPECT_THAT(Outcome(produced), StatusIs(absl::StatusCode::kInternal, "boom"));
  EXPECT_THAT(Outcome(consumed), StatusIs(absl::StatusCode::kInternal, "boom"));
  EXPECT_THAT(fake_->TakeDispatches(), IsEmpty());
  EXPECT_EQ(fake_->dispatch_calls(), 1u);
  EXPECT_EQ(runtime_->GetStats().tasks_waiting, 0u);
}

// --- Map chunks ---

// The inputs `task` (a map chunk) carries, decoded.
std::vector<int> ChunkInputs(const FakeTask& task) {
  absl::StatusOr<std::vector<absl::string_view>> views =
      UnpackedViews(task.request.map_inputs(), task.request.map_input_ends());
  EXPECT_THAT(views, IsOk());
  std::vector<int> inputs;
  if (!views.ok()) return inputs;
  for (absl::string_view view : *views) inputs.push_back(Decode<int>(view).value_or(-1));
  return inputs;
}

TEST_F(RuntimeTest, MapChunksCarryTheirInputsPackedAndTakeTheirValuesPacked) {
  std::vector<RefHandle> refs = MapTwice(5, /*chunk_size=*/3);
  ASSERT_THAT(refs, SizeIs(5));
  FakeTask first = Next("twice");
  FakeTask second = Next("twice");
  EXPECT_TRUE(first.request.map_chunk());
  EXPECT_THAT(first.request.args(), IsEmpty());
  EXPECT_THAT(ChunkInputs(first), ElementsAre(0, 1, 2));
  EXPECT_THAT(ChunkInputs(second), ElementsAre(3, 4));  // its own ends, from its own bytes
  EXPECT_EQ(ResultIdAt(second.request, 1), refs[4].id);

  // The second call of the first chunk failed; its value is empty.
  proto::TaskResult result;
  result.set_task_id(first.task_id());
  for (const std::string& value : {Encode(0), std::string(), Encode(4)}) {
    AppendPacked(value, result.mutable_map_values(), result.mutable_map_value_ends());
  }
  proto::ElementError* failed = result.add_element_errors();
  failed->set_index(1);
  failed->mutable_error()->set_code(static_cast<int>(absl::StatusCode::kOutOfRange));
  failed->mutable_error()->set_message("not this one");
  UNIDIST_ASSERT_OK(fake_->Finish(result));
  EXPECT_THAT(Outcome(refs[0]), IsOkAndHolds(0));
  EXPECT_THAT(Outcome(refs[1]), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("not this one")));
  EXPECT_THAT(Outcome(refs[2]), IsOkAndHolds(4));

  // A value past the inline size, taken out of the packed bytes whole.
  const std::string large = Encode(std::string(100, 'x'));
  result.Clear();
  result.set_task_id(second.task_id());
  AppendPacked(Encode(6), result.mutable_map_values(), result.mutable_map_value_ends());
  AppendPacked(large, result.mutable_map_values(), result.mutable_map_value_ends());
  UNIDIST_ASSERT_OK(fake_->Finish(result));
  EXPECT_THAT(Outcome(refs[3]), IsOkAndHolds(6));
  absl::StatusOr<ObjectStore::Value> bytes = refs[4].token->store()->Get(refs[4].id);
  ASSERT_THAT(bytes, IsOk());
  EXPECT_EQ((*bytes)->view(), large);
}

// What the mpi backend sends when it keeps one of a chunk's values on its rank.
TEST_F(RuntimeTest, MapChunkValuesMayComeBackOneEntryEach) {
  std::vector<RefHandle> refs = MapTwice(2, /*chunk_size=*/8);
  FakeTask chunk = Next("twice");
  UNIDIST_ASSERT_OK(fake_->Complete(chunk.task_id(), {Encode(0), Encode(2)}));
  EXPECT_THAT(Outcome(refs[0]), IsOkAndHolds(0));
  EXPECT_THAT(Outcome(refs[1]), IsOkAndHolds(2));
}

// Bytes from a worker are checked: ends that do not fit the bytes fail the whole chunk.
TEST_F(RuntimeTest, MalformedPackedValuesFailEveryRefOfTheChunkWithDataLoss) {
  std::vector<RefHandle> refs = MapTwice(2, /*chunk_size=*/8);
  FakeTask chunk = Next("twice");
  proto::TaskResult result;
  result.set_task_id(chunk.task_id());
  result.set_map_values(Encode(0));
  result.add_map_value_ends(1);
  result.add_map_value_ends(999);
  UNIDIST_ASSERT_OK(fake_->Finish(result));
  for (const RefHandle& ref : refs) {
    EXPECT_THAT(Outcome(ref), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("unreadable")));
  }
}

TEST_F(RuntimeTest, AMapChunkWithTooFewValuesFailsEveryRef) {
  std::vector<RefHandle> refs = MapTwice(3, /*chunk_size=*/8);
  FakeTask chunk = Next("twice");
  proto::TaskResult result;
  result.set_task_id(chunk.task_id());
  AppendPacked(Encode(0), result.mutable_map_values(), result.mutable_map_value_ends());
  UNIDIST_ASSERT_OK(fake_->Finish(result));
  for (const RefHandle& ref : refs) {
    EXPECT_THAT(Outcome(ref), StatusIs(absl::StatusCode::kInternal,
                                       HasSubstr("returned 1 values for 3 results")));
  }
}

// --- Retries ---

TEST_F(RuntimeTest, LostWorkerIsRetriedMaxRetriesTimesThenFails) {
  RefHandle result = Submit("flaky", Args(Value(7)), /*max_retries=*/2);
  FakeTask first = Next("flaky");
  UNIDIST_ASSERT_OK(fake_->WorkerDied(first.task_id()));
  FakeTask second = Next("flaky");
  EXPECT_EQ(second.task_id(), first.task_id());  // a retry keeps the task's id
  EXPECT_THAT(ArgOf(second, 0), IsOkAndHolds(7));
  EXPECT_FALSE(IsComplete(result));
  UNIDIST_ASSERT_OK(fake_->WorkerDied(second.task_id()));
  FakeTask third = Next("flaky");
  EXPECT_THAT(ArgOf(third, 0), IsOkAndHolds(7));
  UNIDIST_ASSERT_OK(fake_->WorkerDied(third.task_id()));

  absl::StatusOr<int> outcome = Outcome(result);
  EXPECT_THAT(outcome, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("died")));
  std::optional<TaskFailure> failure = GetTaskFailure(outcome.status());
  ASSERT_TRUE(failure.has_value());
  EXPECT_TRUE(failure->worker_died);
  EXPECT_EQ(failure->function, "flaky");
  EXPECT_THAT(fake_->TakeDispatches(), IsEmpty());
  EXPECT_EQ(fake_->dispatch_calls(), 3u);
  EXPECT_EQ(runtime_->GetStats().tasks_retried, 2u);
  EXPECT_EQ(runtime_->GetStats().tasks_in_flight, 0u);
}

TEST_F(RuntimeTest, RetriedTaskCanSucceed) {
  RefHandle result = Submit("flaky", {}, /*max_retries=*/1);
  UNIDIST_ASSERT_OK(fake_->WorkerDied(Next("flaky").task_id()));
  UNIDIST_ASSERT_OK(fake_->Complete(Next("flaky").task_id(), {Encode(5)}));
  EXPECT_THAT(Outcome(result), IsOkAndHolds(5));
}

TEST_F(RuntimeTest, TaskWithoutRetriesFailsAtOnceWhenItsWorkerDies) {
  RefHandle result = Submit("fragile");
  UNIDIST_ASSERT_OK(fake_->WorkerDied(Next("fragile").task_id()));
  EXPECT_THAT(Outcome(result), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(fake_->TakeDispatches(), IsEmpty());
  EXPECT_EQ(runtime_->GetStats().tasks_retried, 0u);
}

TEST_F(RuntimeTest, TaskErrorIsNotRetried) {
  RefHandle result = Submit("buggy", {}, /*max_retries=*/3);
  UNIDIST_ASSERT_OK(fake_->Fail(Next("buggy").task_id(), absl::UnavailableError("own error")));
  EXPECT_THAT(Outcome(result), StatusIs(absl::StatusCode::kUnavailable, "own error"));
  EXPECT_THAT(fake_->TakeDispatches(), IsEmpty());  // only a dead worker is retried
}

// --- Retry racing Cancel ---

TEST_F(RuntimeTest, CancelOfAQueuedRetryCancelsItOnceAndIgnoresLateResults) {
  RefHandle result = Submit("flaky", {}, /*max_retries=*/2);
  std::shared_ptr<int> completions = CountCompletions(result);
  FakeTask first = Next("flaky");
  UNIDIST_ASSERT_OK(fake_->WorkerDied(first.task_id()));
  FakeTask retry = Next("flaky");  // queued in the pool, not started

  UNIDIST_EXPECT_OK(runtime_->Cancel(*result.token, /*force=*/false));
  EXPECT_THAT(Outcome(result), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(*completions, 1);
  EXPECT_THAT(fake_->InFlight(), IsEmpty());

  // Results for the cancelled task that the pool should never send: a value, and a dead
  // worker (which would be retried if the runtime took it for a live task).
  proto::TaskResult late;
  late.set_task_id(retry.task_id());
  late.add_values(Encode(99));
  UNIDIST_ASSERT_OK(fake_->DeliverStrayResult(late));
  UNIDIST_ASSERT_OK(fake_->DeliverStrayResult(WorkerDiedResult(retry.task_id())));

  EXPECT_THAT(Outcome(result), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(*completions, 1);
  EXPECT_THAT(fake_->TakeDispatches(), IsEmpty());
  EXPECT_EQ(runtime_->GetStats().tasks_in_flight, 0u);
  EXPECT_THAT(runtime_->Cancel(*result.token, /*force=*/true),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(RuntimeTest, ForcedCancelOfARunningRetryIgnoresTheAttemptsLateResult) {
  RefHandle result = Submit("flaky", {}, /*max_retries=*/2);
  std::shared_ptr<int> completions = CountCompletions(result);
  UNIDIST_ASSERT_OK(fake_->WorkerDied(Next("flaky").task_id()));
  FakeTask retry = Next("flaky");
  UNIDIST_ASSERT_OK(fake_->MarkStarted(retry.task_id()));

  UNIDIST_EXPECT_OK(runtime_->Cancel(*result.token, /*force=*/true));
  EXPECT_THAT(Outcome(result), StatusIs(absl::StatusCode::kCancelled));
  // The stopped worker's death reported late, as if it were the task's.
  UNIDIST_ASSERT_OK(fake_->DeliverStrayResult(WorkerDiedResult(retry.task_id())));

  EXPECT_THAT(Outcome(result), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(*completions, 1);
  EXPECT_THAT(fake_->TakeDispatches(), IsEmpty());
  EXPECT_EQ(runtime_->GetStats().tasks_retried, 1u);
}

// Cancel while the pool is reporting the dead worker of a task that has retries left:
// the pool has let go of the task (its Cancel answers NotFound), and the runtime has not
// yet seen the report. Cancel must not say "finished": it waits for the report, finds
// the retry on its way, and cancels that. (Before the fix it answered FailedPrecondition
// and the task then ran again.)
TEST_F(RuntimeTest, CancelWhileTheWorkerDeathIsBeingReportedCancelsTheRetry) {
  // Start again on a backend that holds the report in on_result, before the runtime sees
  // it, until Cancel has asked the pool.
  runtime_.reset();
  fake_ = std::make_shared<FakeWorkerPool>();
  absl::Notification in_window;
  BackendDescription backend = FakeBackend(fake_);
  // A plain pointer: the fake keeps the wrapped on_result, and a shared_ptr here would keep
  // the fake alive forever (LeakSanitizer). The test's fake_ outlives the runtime.
  backend.start_pool = [start = backend.start_pool, &in_window,
                        fake = fake_.get()](WorkerPoolOptions options) {
    options.on_result = [on_result = options.on_result, &in_window,
                         fake](proto::TaskResult result) {
      if (result.error().worker_died() && !in_window.HasBeenNotified()) {
        in_window.Notify();
        // Until Cancel has asked the pool (and heard NotFound); the deadline only keeps a
        // broken runtime from hanging the test.
        EXPECT_TRUE(fake->WaitForCancelCalls(1));
      }
      on_result(std::move(result));
    };
    return start(std::move(options));
  };
  Start(backend);

  RefHandle result = Submit("flaky", {}, /*max_retries=*/1);
  FakeTask first = Next("flaky");
  std::thread reporter([&] { UNIDIST_EXPECT_OK(fake_->WorkerDied(first.task_id())); });
  in_window.WaitForNotification();
  const absl::Status cancelled = runtime_->Cancel(*result.token, /*force=*/false);
  reporter.join();

  EXPECT_THAT(cancelled, IsOk());
  EXPECT_THAT(Outcome(result), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(fake_->InFlight(), IsEmpty());  // no retry left running
  EXPECT_EQ(fake_->cancel_calls(), 2u);       // the first attempt, then its retry
}

// --- Cancel ---

TEST_F(RuntimeTest, CancelOfATaskWaitingForArgumentsMeansItNeverRuns) {
  RefHandle produced = Submit("produce");
  RefHandle consumed = Submit("consume", Args(Ref(produced)));
  FakeTask produce = Next("produce");

  UNIDIST_EXPECT_OK(runtime_->Cancel(*consumed.token, /*force=*/false));
  EXPECT_THAT(Outcome(consumed), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(fake_->cancel_calls(), 0u);  // never reached the pool

  UNIDIST_ASSERT_OK(fake_->Complete(produce.task_id(), {Encode(1)}));
  EXPECT_THAT(fake_->TakeDispatches(), IsEmpty());
  EXPECT_EQ(fake_->dispatch_calls(), 1u);
  EXPECT_THAT(Outcome(consumed), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(runtime_->GetStats().tasks_waiting, 0u);
}

TEST_F(RuntimeTest, CancelOfADispatchedTaskThatHasNotStarted) {
  RefHandle result = Submit("slow");
  FakeTask slow = Next("slow");
  UNIDIST_EXPECT_OK(runtime_->Cancel(*result.token, /*force=*/false));
  EXPECT_THAT(Outcome(result), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(fake_->Complete(slow.task_id(), {Encode(1)}), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(RuntimeTest, CancelOfAStartedTaskNeedsForce) {
  RefHandle result = Submit("slow");
  FakeTask slow = Next("slow");
  UNIDIST_ASSERT_OK(fake_->MarkStarted(slow.task_id()));

  EXPECT_THAT(runtime_->Cancel(*result.token, /*force=*/false),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_FALSE(IsComplete(result));
  UNIDIST_EXPECT_OK(runtime_->Cancel(*result.token, /*force=*/true));
  EXPECT_THAT(Outcome(result), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(fake_->workers_replaced(), 1u);
  EXPECT_THAT(runtime_->Cancel(*result.token, /*force=*/true),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("finished")));
}

TEST_F(RuntimeTest, CancelOfAPutObjectIsRefused) {
  RefHandle put = runtime_->Put(Encode(3));
  EXPECT_THAT(runtime_->Cancel(*put.token, /*force=*/false),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(fake_->cancel_calls(), 0u);
}

// --- Shutdown ---

TEST_F(RuntimeTest, ShutdownFailsEveryPendingObjectWithCancelled) {
  RefHandle put = runtime_->Put(Encode(3));
  RefHandle running = Submit("running");
  RefHandle waiting = Submit("waiting", Args(Ref(running)));
  absl::StatusOr<std::shared_ptr<ActorRecord>> actor = runtime_->StartActor("Counter");
  ASSERT_THAT(actor, IsOk());
  RefHandle call = Call(*actor, "Counter::Add");
  FakeTask run = Next("running");
  UNIDIST_ASSERT_OK(fake_->MarkStarted(run.task_id()));

  runtime_->Shutdown();
  EXPECT_EQ(fake_->shutdown_calls(), 1u);
  EXPECT_THAT(Outcome(running), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Outcome(waiting), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Outcome(call), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Outcome(put), IsOkAndHolds(3));  // ready objects stay
  EXPECT_THAT(fake_->InFlight(), IsEmpty());
  EXPECT_THAT(fake_->TakeDispatches(),
              ElementsAre(::testing::Property(&FakeTask::function, "Counter::Add")));

  // After Shutdown, nothing more reaches a worker.
  RefHandle late = Submit("late");
  EXPECT_THAT(Outcome(late), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(fake_->InFlight(), IsEmpty());
  EXPECT_THAT(runtime_->StartActor("Counter"), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// --- Actors ---

TEST_F(RuntimeTest, ActorCallsGoToTheActorsWorkerInOrder) {
  absl::StatusOr<std::shared_ptr<ActorRecord>> actor = runtime_->StartActor("Counter");
  ASSERT_THAT(actor, IsOk());
  const WorkerId worker = (*actor)->worker;
  std::vector<RefHandle> calls = {Call(*actor, "Counter::Counter", Args(Value(10))),
                                  Call(*actor, "Counter::Add", Args(Value(1))),
                                  Call(*actor, "Counter::Add", Args(Value(2)))};
  std::vector<FakeTask> sent = fake_->TakeDispatches();
  ASSERT_THAT(sent, SizeIs(3));
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_TRUE(sent[i].dedicated);
    EXPECT_EQ(sent[i].worker.slot, worker.slot);
    EXPECT_EQ(sent[i].worker.generation, worker.generation);
    EXPECT_EQ(sent[i].request.actor_key(), ActorKey(worker));
    EXPECT_EQ(ResultIdAt(sent[i].request, 0), calls[i].id);
  }
  EXPECT_THAT(ArgOf(sent[0], 0), IsOkAndHolds(10));
  EXPECT_THAT(ArgOf(sent[1], 0), IsOkAndHolds(1));
  EXPECT_THAT(ArgOf(sent[2], 0), IsOkAndHolds(2));
  EXPECT_EQ(fake_->dispatch_calls(), 0u);  // none went to the pool
  for (size_t i = 0; i < sent.size(); ++i) {
    UNIDIST_ASSERT_OK(fake_->Complete(sent[i].task_id(), {Encode(static_cast<int>(i))}));
    EXPECT_THAT(Outcome(calls[i]), IsOkAndHolds(static_cast<int>(i)));
  }
}

TEST_F(RuntimeTest, ActorCallWaitingForAnArgumentHoldsBackLaterCalls) {
  RefHandle produced = Submit("produce");
  FakeTask produce = Next("produce");
  absl::StatusOr<std::shared_ptr<ActorRecord>> actor = runtime_->StartActor("Counter");
  ASSERT_THAT(actor, IsOk());
  RefHandle first = Call(*actor, "Counter::First");
  RefHandle blocked = Call(*actor, "Counter::Blocked", Args(Ref(produced)));
  RefHandle behind = Call(*actor, "Counter::Behind", Args(Value(3)));
  EXPECT_THAT(fake_->TakeDispatches(),
              ElementsAre(::testing::Property(&FakeTask::function, "Counter::First")));

  UNIDIST_ASSERT_OK(fake_->Complete(produce.task_id(), {Encode(8)}));
  FakeTask blocked_call = Next("Counter::Blocked");
  EXPECT_THAT(ArgOf(blocked_call, 0), IsOkAndHolds(8));
  EXPECT_TRUE(blocked_call.dedicated);
  FakeTask behind_call = Next("Counter::Behind");
  EXPECT_THAT(ArgOf(behind_call, 0), IsOkAndHolds(3));
}

TEST_F(RuntimeTest, LostDedicatedWorkerFailsTheQueuedCalls) {
  RefHandle produced = Submit("produce");
  FakeTask produce = Next("produce");
  absl::StatusOr<std::shared_ptr<ActorRecord>> actor = runtime_->StartActor("Counter");
  ASSERT_THAT(actor, IsOk());
  RefHandle running = Call(*actor, "Counter::Running");
  RefHandle blocked = Call(*actor, "Counter::Blocked", Args(Ref(produced)));
  RefHandle behind = Call(*actor, "Counter::Behind");
  EXPECT_THAT(fake_->TakeDispatches(), SizeIs(1));

  UNIDIST_ASSERT_OK(fake_->LoseDedicatedWorker((*actor)->worker));
  EXPECT_THAT(Outcome(running), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Outcome(blocked), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("Counter")));
  EXPECT_THAT(Outcome(behind), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("Counter")));

  UNIDIST_ASSERT_OK(fake_->Complete(produce.task_id(), {Encode(1)}));
  RefHandle after = Call(*actor, "Counter::After");
  EXPECT_THAT(Outcome(after), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(fake_->TakeDispatches(), IsEmpty());
  EXPECT_EQ(fake_->dispatch_to_calls(), 1u);
}

TEST_F(RuntimeTest, KilledActorCancelsItsCalls) {
  RefHandle produced = Submit("produce");
  absl::StatusOr<std::shared_ptr<ActorRecord>> actor = runtime_->StartActor("Counter");
  ASSERT_THAT(actor, IsOk());
  RefHandle running = Call(*actor, "Counter::Running");
  RefHandle blocked = Call(*actor, "Counter::Blocked", Args(Ref(produced)));
  UNIDIST_ASSERT_OK(runtime_->KillActor(**actor));
  EXPECT_THAT(Outcome(running), StatusIs(absl::StatusCode::kCancelled));
  EXPECT_THAT(Outcome(blocked), StatusIs(absl::StatusCode::kCancelled, HasSubstr("killed")));
  EXPECT_THAT(runtime_->KillActor(**actor), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(RuntimeTest, ReleasedActorClosesItsWorkerAfterItsQueuedCalls) {
  RefHandle produced = Submit("produce");
  FakeTask produce = Next("produce");
  absl::StatusOr<std::shared_ptr<ActorRecord>> actor = runtime_->StartActor("Counter");
  ASSERT_THAT(actor, IsOk());
  RefHandle blocked = Call(*actor, "Counter::Blocked", Args(Ref(produced)));
  runtime_->ReleaseActor(**actor);
  EXPECT_EQ(fake_->close_calls(), 0u);  // a call is still to be sent

  UNIDIST_ASSERT_OK(fake_->Complete(produce.task_id(), {Encode(1)}));
  FakeTask call = Next("Counter::Blocked");
  EXPECT_EQ(fake_->close_calls(), 1u);  // gracefully: the call still runs
  UNIDIST_ASSERT_OK(fake_->Complete(call.task_id(), {Encode(2)}));
  EXPECT_THAT(Outcome(blocked), IsOkAndHolds(2));
  EXPECT_EQ(fake_->dedicated_workers_lost(), 1u);
}

}  // namespace
}  // namespace unidist::api_internal
