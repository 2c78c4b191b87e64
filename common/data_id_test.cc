// Copyright 2026 The unidist-cpp Authors.

#include "unidist/common/data_id.h"

#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <sstream>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash_testing.h"
#include "gtest/gtest.h"

namespace unidist {
namespace {

TEST(DataIDTest, DefaultIsNil) {
  DataID id;
  EXPECT_TRUE(id.IsNil());
  EXPECT_EQ(id, DataID::Nil());
  EXPECT_FALSE(DataID::Generate().IsNil());
}

TEST(DataIDTest, BinaryLayoutIsPinned) {
  const DataID id = DataID::FromParts(0x0807060504030201ULL, 0x100f0e0d0c0b0a09ULL);
  const std::string expected = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  EXPECT_EQ(id.Binary(), expected);
  EXPECT_EQ(id.Hex(), "0807060504030201100f0e0d0c0b0a09");
  absl::StatusOr<DataID> back = DataID::FromBinary(expected);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, id);
}

TEST(DataIDTest, FromBinaryRejectsWrongLength) {
  for (size_t size : {0, 1, 15, 17, 32}) {
    absl::StatusOr<DataID> id = DataID::FromBinary(std::string(size, 'x'));
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << size;
  }
}

TEST(DataIDTest, OrderedByOriginThenSequence) {
  EXPECT_LT(DataID::FromParts(1, 9), DataID::FromParts(2, 0));
  EXPECT_LT(DataID::FromParts(1, 1), DataID::FromParts(1, 2));
  EXPECT_GE(DataID::FromParts(1, 2), DataID::FromParts(1, 2));
  EXPECT_NE(DataID::FromParts(1, 2), DataID::FromParts(2, 1));
}

TEST(DataIDTest, HashesConsistently) {
  EXPECT_TRUE(absl::VerifyTypeImplementsAbslHashCorrectly(
      {DataID(), DataID::FromParts(1, 1), DataID::FromParts(1, 2), DataID::FromParts(2, 1),
       DataID::Generate()}));
  std::unordered_set<DataID> ids = {DataID::FromParts(3, 4), DataID::FromParts(3, 4)};
  EXPECT_EQ(ids.size(), 1u);
}

TEST(DataIDTest, Prints) {
  std::ostringstream out;
  out << DataID::FromParts(0xab, 7);
  EXPECT_EQ(out.str(), "DataID(00000000000000ab:7)");
}

TEST(DataIDTest, UniqueAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  std::vector<std::vector<DataID>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (int i = 0; i < kPerThread; ++i) made[t].push_back(DataID::Generate());
    });
  }
  for (std::thread& thread : threads) thread.join();
  absl::flat_hash_set<DataID> all;
  for (const auto& ids : made) all.insert(ids.begin(), ids.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(DataIDTest, ForkedChildDrawsANewOrigin) {
  const DataID in_parent = DataID::Generate();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const std::string bytes = DataID::Generate().Binary();
    const bool ok = write(fds[1], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
    _exit(ok ? 0 : 1);
  }
  close(fds[1]);
  char buffer[DataID::kSize];
  ASSERT_EQ(read(fds[0], buffer, sizeof(buffer)), static_cast<ssize_t>(sizeof(buffer)));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  absl::StatusOr<DataID> in_child = DataID::FromBinary(absl::string_view(buffer, sizeof(buffer)));
  ASSERT_TRUE(in_child.ok());
  EXPECT_NE(in_child->origin(), in_parent.origin());
  EXPECT_NE(*in_child, DataID::Generate());
}

// The forking thread's block of sequence numbers lives on in the child: no other thread of
// the child may be handed those numbers again (the child's ids share one origin).
TEST(DataIDTest, AForkedChildsThreadsDoNotRepeatEachOthersIds) {
  const DataID in_parent = DataID::Generate();  // the child inherits this thread's block
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<DataID> forking_thread;
    for (int i = 0; i < 300; ++i) forking_thread.push_back(DataID::Generate());
    // Enough ids to reach past the inherited block, were the counter to start over at 1.
    std::vector<DataID> other_thread;
    std::thread other([&] {
      for (uint64_t i = 0; i < in_parent.sequence() + 1024; ++i) {
        other_thread.push_back(DataID::Generate());
      }
    });
    other.join();
    absl::flat_hash_set<DataID> all(forking_thread.begin(), forking_thread.end());
    all.insert(other_thread.begin(), other_thread.end());
    _exit(all.size() == forking_thread.size() + other_thread.size() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child handed out an id twice";
}

TEST(DataIDTest, OneThreadsIdsCountUp) {
  DataID previous = DataID::Generate();
  for (int i = 0; i < 1000; ++i) {
    const DataID next = DataID::Generate();
    EXPECT_EQ(next.origin(), previous.origin());
    EXPECT_GT(next.sequence(), previous.sequence());
    previous = next;
  }
}

}  // namespace
}  // namespace unidist
