// Copyright 2026 The unidist-cpp Authors.
//
// The link thread over an in-process hub: order, Sync, Stop, a failed open.

#include "mpi/internal/link.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mpi/internal/local_transport.h"

namespace unidist::mpi_internal {
namespace {

using ::testing::ElementsAre;

// Records what a link receives.
struct Inbox {
  absl::Mutex mu;
  std::vector<std::string> messages ABSL_GUARDED_BY(mu);
  std::vector<int> sources ABSL_GUARDED_BY(mu);

  Link::Handler Handler() {
    return [this](Link&, Received received) {
      absl::MutexLock lock(&mu);
      messages.push_back(received.bytes);
      sources.push_back(received.source);
    };
  }
  void WaitForCount(size_t count) {
    absl::MutexLock lock(&mu);
    auto enough = [this, count]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return messages.size() >= count; };
    mu.Await(absl::Condition(&enough));
  }
};

TEST(LinkTest, DeliversInOrderWithTheSender) {
  std::shared_ptr<LocalHub> hub = LocalHub::Create(2);
  Inbox zero, one;
  absl::StatusOr<std::unique_ptr<Link>> a =
      Link::Start([hub] { return hub->Open(0); }, zero.Handler());
  absl::StatusOr<std::unique_ptr<Link>> b =
      Link::Start([hub] { return hub->Open(1); }, one.Handler());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->rank(), 0);
  EXPECT_EQ((*b)->rank(), 1);
  EXPECT_EQ((*a)->size(), 2);
  for (int i = 0; i < 100; ++i) (*a)->Post(1, std::to_string(i));
  (*b)->Post(0, "back");
  one.WaitForCount(100);
  zero.WaitForCount(1);
  absl::MutexLock lock(&one.mu);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(one.messages[i], std::to_string(i));
  EXPECT_EQ(one.sources[0], 0);
  absl::MutexLock lock_zero(&zero.mu);
  EXPECT_THAT(zero.messages, ElementsAre("back"));
  EXPECT_THAT(zero.sources, ElementsAre(1));
}

TEST(LinkTest, SyncRunsOnTheLinkThreadAfterEarlierPosts) {
  std::shared_ptr<LocalHub> hub = LocalHub::Create(2);
  Inbox zero, one;
  absl::StatusOr<std::unique_ptr<Link>> a =
      Link::Start([hub] { return hub->Open(0); }, zero.Handler());
  ASSERT_TRUE(a.ok());
  (*a)->Post(1, "first");
  bool on_link_thread = false;
  bool delivered = false;
  (*a)->Sync([&] {
    on_link_thread = (*a)->OnLinkThread();
    // The post before the Sync has been handed to the transport: rank 1's inbox has it.
    std::unique_ptr<Transport> transport = hub->Open(1);
    absl::StatusOr<std::optional<Received>> received = transport->TryReceive();
    delivered = received.ok() && received->has_value() && (*received)->bytes == "first";
  });
  EXPECT_TRUE(on_link_thread);
  EXPECT_TRUE(delivered);
  EXPECT_FALSE((*a)->OnLinkThread());
}

TEST(LinkTest, StopSendsWhatWasPostedAndIsIdempotent) {
  std::shared_ptr<LocalHub> hub = LocalHub::Create(2);
  Inbox zero, one;
  absl::StatusOr<std::unique_ptr<Link>> a =
      Link::Start([hub] { return hub->Open(0); }, zero.Handler());
  ASSERT_TRUE(a.ok());
  for (int i = 0; i < 10; ++i) (*a)->Post(1, "x");
  (*a)->Stop();
  (*a)->Stop();
  bool ran = false;
  (*a)->Sync([&] { ran = true; });  // after Stop: runs in the caller
  EXPECT_TRUE(ran);
  std::unique_ptr<Transport> transport = hub->Open(1);
  int count = 0;
  for (;;) {
    absl::StatusOr<std::optional<Received>> received = transport->TryReceive();
    if (!received.ok() || !received->has_value()) break;
    ++count;
  }
  EXPECT_EQ(count, 10);
}

TEST(LinkTest, FailedOpenIsReturned) {
  absl::StatusOr<std::unique_ptr<Link>> link = Link::Start(
      []() -> absl::StatusOr<std::unique_ptr<Transport>> {
        return absl::UnavailableError("no MPI here");
      },
      [](Link&, Received) {});
  EXPECT_EQ(link.status(), absl::UnavailableError("no MPI here"));
}

TEST(LocalHubTest, RejectsUnknownRanks) {
  std::shared_ptr<LocalHub> hub = LocalHub::Create(2);
  std::unique_ptr<Transport> transport = hub->Open(0);
  EXPECT_EQ(transport->Send(2, "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(transport->Send(-1, "x").code(), absl::StatusCode::kInvalidArgument);
}

TEST(LinkTest, ReceivesTheNextMessageOfTheSizeAskedForIntoTheBufferGiven) {
  std::shared_ptr<LocalHub> hub = LocalHub::Create(2);
  std::unique_ptr<Transport> zero = hub->Open(0);
  std::unique_ptr<Transport> one = hub->Open(1);
  char buffer[5] = {};
  one->ReceiveNextInto(0, buffer, sizeof(buffer));
  ASSERT_TRUE(zero->Send(1, "hello").ok());
  ASSERT_TRUE(zero->Send(1, "later").ok());  // the request was for one message only
  absl::StatusOr<std::optional<Received>> first = one->TryReceive();
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_TRUE((*first)->into_buffer);
  EXPECT_EQ((*first)->bytes, "");
  EXPECT_EQ(std::string(buffer, sizeof(buffer)), "hello");
  absl::StatusOr<std::optional<Received>> second = one->TryReceive();
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_FALSE((*second)->into_buffer);
  EXPECT_EQ((*second)->bytes, "later");

  // A message of another size arrives as usual, and the request is dropped.
  one->ReceiveNextInto(0, buffer, sizeof(buffer));
  ASSERT_TRUE(zero->Send(1, "longer than five").ok());
  ASSERT_TRUE(zero->Send(1, "fives").ok());
  absl::StatusOr<std::optional<Received>> other = one->TryReceive();
  ASSERT_TRUE(other.ok() && other->has_value());
  EXPECT_FALSE((*other)->into_buffer);
  EXPECT_EQ((*other)->bytes, "longer than five");
  absl::StatusOr<std::optional<Received>> next = one->TryReceive();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_FALSE((*next)->into_buffer);
  EXPECT_EQ(std::string(buffer, sizeof(buffer)), "hello");
}

}  // namespace
}  // namespace unidist::mpi_internal
