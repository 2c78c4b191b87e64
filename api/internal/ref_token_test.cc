// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/ref_token.h"

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "object_store/object_store.h"
#include "unidist/common/data_id.h"
#include "unidist/testing/status_matchers.h"

namespace unidist::api_internal {
namespace {

using ::unidist::testing::StatusIs;

// A session's store and the anchor its tokens hold, as the runtime keeps them.
struct Session {
  Session()
      : store(std::make_shared<ObjectStore>()),
        anchor(StoreAnchor::Create(store), [](const StoreAnchor* a) { a->Unref(); }) {}
  std::shared_ptr<ObjectStore> store;
  std::unique_ptr<const StoreAnchor, void (*)(const StoreAnchor*)> anchor;
};

// Stands for a PendingTask: tokens keep only a weak_ptr to their task and never look inside
// it, so any object will do.
std::shared_ptr<PendingTask> StandInTask() {
  return std::reinterpret_pointer_cast<PendingTask>(std::make_shared<int>(7));
}

TEST(RefTokenTest, TheLastCopyErasesItsObject) {
  Session session;
  const DataID id = DataID::Generate();
  UNIDIST_ASSERT_OK(session.store->PutReady(id, std::string("bytes")));
  std::shared_ptr<const RefToken> token = RefToken::ForObject(id, *session.anchor);
  EXPECT_EQ(token->id(), id);
  EXPECT_EQ(token->store(), session.store.get());
  EXPECT_FALSE(token->is_task_result());
  EXPECT_FALSE(token->held_by_driver());
  UNIDIST_EXPECT_OK(token->error());
  std::shared_ptr<const RefToken> copy = token;
  token.reset();
  EXPECT_TRUE(session.store->IsComplete(id));
  copy.reset();
  EXPECT_EQ(session.store->size(), 0u);
}

TEST(RefTokenTest, TokensKeepTheStoreAfterTheSessionLetsGo) {
  auto session = std::make_unique<Session>();
  const DataID id = DataID::Generate();
  UNIDIST_ASSERT_OK(session->store->PutReady(id, std::string("bytes")));
  std::shared_ptr<const RefToken> token = RefToken::ForObject(id, *session->anchor);
  std::weak_ptr<ObjectStore> store = session->store;
  session.reset();  // the runtime is gone: its store and its anchor reference
  ASSERT_FALSE(store.expired());
  EXPECT_THAT(token->store()->Get(id), ::testing::Not(StatusIs(absl::StatusCode::kNotFound)));
  token.reset();  // the last token: the store goes with it
  EXPECT_TRUE(store.expired());
}

TEST(RefTokenTest, ATaskResultsTokenNamesItsTask) {
  Session session;
  const DataID id = DataID::Generate();
  UNIDIST_ASSERT_OK(session.store->CreatePending(id));
  std::shared_ptr<PendingTask> task = StandInTask();
  std::shared_ptr<const RefToken> token = RefToken::ForTaskResult(id, *session.anchor, task);
  EXPECT_TRUE(token->is_task_result());
  EXPECT_EQ(token->store(), session.store.get());
  EXPECT_FALSE(token->task().expired());
  task.reset();
  EXPECT_TRUE(token->task().expired());
  token.reset();
  EXPECT_EQ(session.store->size(), 0u);
}

TEST(RefTokenTest, AFailedObjectsTokenHasNoStoreAndSaysWhy) {
  std::shared_ptr<const RefToken> token =
      RefToken::ForError(DataID::Generate(), absl::ResourceExhaustedError("store full"));
  EXPECT_EQ(token->store(), nullptr);
  EXPECT_THAT(token->error(), StatusIs(absl::StatusCode::kResourceExhausted, "store full"));
  EXPECT_FALSE(token->is_task_result());
  EXPECT_TRUE(token->task().expired());
}

// The results of one task, their tokens made together (RefToken::ForTaskResults).
std::vector<std::shared_ptr<const RefToken>> TokensForResults(
    const Session& session, const std::vector<DataID>& ids,
    const std::shared_ptr<PendingTask>& task) {
  std::vector<std::shared_ptr<const RefToken>> tokens;
  RefToken::ForTaskResults(ids, *session.anchor, task, [&](std::shared_ptr<const RefToken> token) {
    tokens.push_back(std::move(token));
  });
  return tokens;
}

std::vector<DataID> PendingIds(const Session& session, int count) {
  std::vector<DataID> ids;
  for (int i = 0; i < count; ++i) ids.push_back(DataID::Generate());
  EXPECT_TRUE(session.store->CreatePendingAll(ids).ok());
  return ids;
}

TEST(RefTokenTest, TokensMadeTogetherEachLetGoOfTheirOwnObject) {
  Session session;
  const std::vector<DataID> ids = PendingIds(session, 5);
  std::shared_ptr<PendingTask> task = StandInTask();
  std::vector<std::shared_ptr<const RefToken>> tokens = TokensForResults(session, ids, task);
  ASSERT_EQ(tokens.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(tokens[i]->id(), ids[i]);
    EXPECT_TRUE(tokens[i]->is_task_result());
    EXPECT_EQ(tokens[i]->store(), session.store.get());
    EXPECT_FALSE(tokens[i]->task().expired());
  }
  // Out of order, one with a copy left: only the objects whose last copy went are gone.
  std::shared_ptr<const RefToken> copy = tokens[3];
  tokens[3].reset();
  tokens[1].reset();
  tokens[4].reset();
  EXPECT_EQ(session.store->size(), 3u);
  EXPECT_TRUE(session.store->IsPending(ids[0]));
  EXPECT_FALSE(session.store->IsPending(ids[1]));
  EXPECT_TRUE(session.store->IsPending(ids[3]));
  task.reset();
  EXPECT_TRUE(copy->task().expired());
  tokens.clear();
  EXPECT_EQ(session.store->size(), 1u);
  copy.reset();
  EXPECT_EQ(session.store->size(), 0u);
}

TEST(RefTokenTest, TokensMadeTogetherMayGoOnOtherThreads) {
  // Their memory is one block, given back by whichever token goes last (the sanitizer
  // jobs check that it is freed once, after every token). Many rounds, so that blocks
  // kept for reuse are taken again.
  Session session;
  for (int round = 0; round < 50; ++round) {
    const std::vector<DataID> ids = PendingIds(session, 1 + round % 7 * 100);
    std::vector<std::shared_ptr<const RefToken>> tokens =
        TokensForResults(session, ids, std::shared_ptr<PendingTask>());
    ASSERT_EQ(tokens.size(), ids.size());
    std::vector<std::shared_ptr<const RefToken>> others(tokens.begin() + tokens.size() / 2,
                                                        tokens.end());
    tokens.resize(tokens.size() / 2);
    std::thread other([others = std::move(others)]() mutable { others.clear(); });
    tokens.clear();
    other.join();
    EXPECT_EQ(session.store->size(), 0u) << round;
  }
}

TEST(RefTokenTest, TokensMadeTogetherKeepTheStoreUntilTheLastGoes) {
  auto session = std::make_unique<Session>();
  const std::vector<DataID> ids = PendingIds(*session, 3);
  std::vector<std::shared_ptr<const RefToken>> tokens =
      TokensForResults(*session, ids, std::shared_ptr<PendingTask>());
  std::weak_ptr<ObjectStore> store = session->store;
  session.reset();  // the runtime is gone: its store and its anchor reference
  tokens[0].reset();
  tokens[2].reset();
  ASSERT_FALSE(store.expired());
  EXPECT_EQ(tokens[1]->store()->size(), 1u);
  EXPECT_TRUE(tokens[1]->store()->IsPending(ids[1]));
  tokens[1].reset();  // the last token: the store goes with its block
  EXPECT_TRUE(store.expired());
}

TEST(RefTokenTest, OneResultGetsATokenOfItsOwn) {
  Session session;
  const std::vector<DataID> ids = PendingIds(session, 1);
  std::shared_ptr<PendingTask> task = StandInTask();
  std::vector<std::shared_ptr<const RefToken>> tokens = TokensForResults(session, ids, task);
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0]->id(), ids[0]);
  EXPECT_TRUE(tokens[0]->is_task_result());
  EXPECT_FALSE(tokens[0]->task().expired());
  tokens.clear();
  EXPECT_EQ(session.store->size(), 0u);
}

TEST(RefTokenTest, NoIdsMakeNoTokens) {
  Session session;
  EXPECT_TRUE(TokensForResults(session, {}, std::shared_ptr<PendingTask>()).empty());
}

}  // namespace
}  // namespace unidist::api_internal
