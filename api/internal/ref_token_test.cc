// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/ref_token.h"

#include <memory>
#include <string>

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
  auto task = std::make_shared<int>(7);  // stands for the PendingTask
  std::shared_ptr<const RefToken> token = RefToken::ForTaskResult(
      id, *session.anchor, std::reinterpret_pointer_cast<PendingTask>(task));
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

}  // namespace
}  // namespace unidist::api_internal
