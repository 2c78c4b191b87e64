// Copyright 2026 The unidist-cpp Authors.
//
// ResultRing between two real processes: a forked writer and the test as the reader, on a
// memfd and a socketpair, as a pool worker and the driver use them.

#include "process_manager/internal/result_ring.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"

namespace unidist::process_internal {
namespace {

using ::testing::HasSubstr;
using ::unidist::testing::StatusIs;

constexpr size_t kCapacity = ResultRing::kMinCapacity;  // 4 KiB: fills quickly

// A ring's file and a socketpair; the writer side is forked by Fork.
class ResultRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = memfd_create("result-ring-test", MFD_CLOEXEC);
    ASSERT_GE(file_, 0);
    ASSERT_EQ(ftruncate(file_, static_cast<off_t>(ResultRing::FileBytes(kCapacity))), 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets_), 0);
    absl::StatusOr<std::unique_ptr<ResultRing>> ring = ResultRing::Map(file_);
    ASSERT_TRUE(ring.ok()) << ring.status();
    ring_ = *std::move(ring);
  }

  void TearDown() override {
    if (child_ > 0) {  // a test that failed before it waited
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
    close(file_);
    close(sockets_[0]);
    close(sockets_[1]);
  }

  // Runs `write` in a child with its own mapping of the ring; its return value is the
  // child's exit code.
  template <typename Write>
  void Fork(Write write) {
    child_ = fork();
    ASSERT_GE(child_, 0);
    if (child_ == 0) {
      absl::StatusOr<std::unique_ptr<ResultRing>> ring = ResultRing::Map(file_);
      _exit(ring.ok() ? write(**ring, sockets_[1]) : 100);
    }
  }

  // The child's exit code.
  int Join() {
    int status = 0;
    waitpid(child_, &status, 0);
    child_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // Bytes waiting on the reader's end of the socket (without taking them).
  std::string Peek() {
    char bytes[64];
    const ssize_t n = recv(sockets_[0], bytes, sizeof(bytes), MSG_DONTWAIT | MSG_PEEK);
    return n > 0 ? std::string(bytes, static_cast<size_t>(n)) : "";
  }

  // Reads what the ring holds into `decoder`, sleeping on the socket first if it is
  // empty, as a driver thread does.
  void ReadSome(FrameDecoder* decoder) {
    ring_->BeginSleep();
    if (!ring_->HasData()) {
      pollfd readable{sockets_[0], POLLIN, 0};
      ASSERT_EQ(poll(&readable, 1, 20'000), 1) << "no wake-up token in 20 s";
    }
    ring_->EndSleep();
    char tokens[64];
    const ssize_t read = recv(sockets_[0], tokens, sizeof(tokens), MSG_DONTWAIT);
    ASSERT_TRUE(ring_->CountTokensRead(read > 0 ? static_cast<size_t>(read) : 0).ok());
    ASSERT_TRUE(ring_->ReadInto(decoder).ok());
  }

  int file_ = -1;
  int sockets_[2] = {-1, -1};
  std::unique_ptr<ResultRing> ring_;
  pid_t child_ = -1;
};

TEST_F(ResultRingTest, WhatOneProcessWritesTheOtherReads) {
  Fork([](ResultRing& ring, int fd) { return ring.Write(fd, "hello, driver").ok() ? 0 : 1; });
  ASSERT_EQ(Join(), 0);
  EXPECT_TRUE(ring_->HasData());
  FrameDecoder decoder(1 << 20);
  ASSERT_TRUE(ring_->ReadInto(&decoder).ok());
  EXPECT_FALSE(ring_->HasData());
  EXPECT_EQ(decoder.buffered_bytes(), 13u);
}

// Nobody said it sleeps: no system call, no token.
TEST_F(ResultRingTest, NoTokenWithoutASleeper) {
  Fork([](ResultRing& ring, int fd) { return ring.Write(fd, "quiet").ok() ? 0 : 1; });
  ASSERT_EQ(Join(), 0);
  EXPECT_EQ(Peek(), "");
  EXPECT_FALSE(ring_->TokenOutstanding());
}

// With a sleeper: one token, and no second one until the driver has counted the first.
TEST_F(ResultRingTest, OneTokenForASleeperUntilItIsRead) {
  ring_->BeginSleep();
  Fork([](ResultRing& ring, int fd) {
    return ring.Write(fd, "one").ok() && ring.Write(fd, "two").ok() ? 0 : 1;
  });
  ASSERT_EQ(Join(), 0);
  EXPECT_EQ(Peek(), std::string(1, ResultRing::kWakeToken));
  EXPECT_TRUE(ring_->TokenOutstanding());
  char token;
  ASSERT_EQ(recv(sockets_[0], &token, 1, 0), 1);
  ASSERT_TRUE(ring_->CountTokensRead(1).ok());
  EXPECT_FALSE(ring_->TokenOutstanding());
  Fork([](ResultRing& ring, int fd) { return ring.Write(fd, "three").ok() ? 0 : 1; });
  ASSERT_EQ(Join(), 0);
  EXPECT_EQ(Peek(), std::string(1, ResultRing::kWakeToken));
  ring_->EndSleep();
}

// A token the worker did not write (a task wrote it) is a protocol error: counted, it
// would stop the worker's own tokens for good.
TEST_F(ResultRingTest, MoreTokensThanTheWorkerWroteAreDataLoss) {
  EXPECT_THAT(ring_->CountTokensRead(1),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("more wake-up tokens")));
}

// A message in the frames the socket carries, for task `id`, with `bytes` of payload.
std::string Frame(uint64_t id, size_t bytes) {
  proto::WorkerMessage message;
  message.mutable_result()->set_task_id(id);
  message.mutable_result()->add_values(std::string(bytes, static_cast<char>('a' + id % 26)));
  std::string frame;
  EXPECT_TRUE(AppendFrame(message, 1 << 20, &frame).ok());
  return frame;
}

// A writer that fills the ring waits for room, wakes the sleeping reader first, and goes
// on as the reader reads: 100 frames of 1 KiB and one of 20 KiB through a 4 KiB ring,
// whole and in order.
TEST_F(ResultRingTest, AWriterWaitsForRoomAndMoreThanTheRingGoesThrough) {
  Fork([](ResultRing& ring, int fd) {
    for (uint64_t id = 1; id <= 101; ++id) {
      if (!ring.Write(fd, Frame(id, id == 101 ? 20 << 10 : 1000)).ok()) return 1;
    }
    return 0;
  });
  FrameDecoder decoder(1 << 20);
  for (uint64_t id = 1; id <= 101; ++id) {
    for (;;) {
      absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
      ASSERT_TRUE(payload.ok()) << payload.status();
      if (payload->has_value()) {
        proto::WorkerMessage message;
        ASSERT_TRUE(ParseFramePayload(**payload, &message).ok());
        EXPECT_EQ(message.result().task_id(), id);
        EXPECT_EQ(message.result().values(0),
                  std::string(id == 101 ? 20 << 10 : 1000, static_cast<char>('a' + id % 26)));
        break;
      }
      ReadSome(&decoder);
    }
  }
  EXPECT_EQ(Join(), 0);
  EXPECT_FALSE(ring_->HasData());
}

// Close fails the writes that follow and wakes a writer waiting for room, which fails.
TEST_F(ResultRingTest, CloseWakesAWriterWaitingForRoomAndFailsIt) {
  // Said before the writer starts, so that it wakes this thread when the ring is full,
  // just before it waits for room.
  ring_->BeginSleep();
  Fork([](ResultRing& ring, int fd) {
    const absl::Status written = ring.Write(fd, std::string(3 * kCapacity, 'x'));
    return absl::IsUnavailable(written) ? 0 : 1;
  });
  pollfd readable{sockets_[0], POLLIN, 0};
  ASSERT_EQ(poll(&readable, 1, 20'000), 1) << "no wake-up token in 20 s";
  ring_->EndSleep();
  ring_->Close();
  EXPECT_EQ(Join(), 0);
  Fork([](ResultRing& ring, int fd) {
    return ring.Write(fd, "late").code() == absl::StatusCode::kUnavailable ? 0 : 1;
  });
  EXPECT_EQ(Join(), 0);
}

// A writer scribbled on the counters: the reader says so instead of reading garbage.
TEST_F(ResultRingTest, ImpossibleCountersAreDataLoss) {
  void* mapped =
      mmap(nullptr, ResultRing::FileBytes(kCapacity), PROT_READ | PROT_WRITE, MAP_SHARED, file_, 0);
  ASSERT_NE(mapped, MAP_FAILED);
  *static_cast<uint64_t*>(mapped) = 10 * kCapacity;  // the write counter is the first word
  munmap(mapped, ResultRing::FileBytes(kCapacity));
  FrameDecoder decoder(1 << 20);
  EXPECT_THAT(ring_->ReadInto(&decoder),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("unread bytes")));
}

TEST(ResultRingMapTest, AFileOfTheWrongSizeIsRefused) {
  for (size_t size : {size_t{0}, size_t{4096}, ResultRing::FileBytes(kCapacity) + 1,
                      ResultRing::FileBytes(3 * kCapacity)}) {
    const int file = memfd_create("result-ring-test", MFD_CLOEXEC);
    ASSERT_GE(file, 0);
    ASSERT_EQ(ftruncate(file, static_cast<off_t>(size)), 0);
    EXPECT_THAT(ResultRing::Map(file).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a ring's size")))
        << size;
    close(file);
  }
}

}  // namespace
}  // namespace unidist::process_internal
