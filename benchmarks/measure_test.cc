// Copyright 2026 The unidist-cpp Authors.

#include "benchmarks/measure.h"

#include <unistd.h>

#include "gtest/gtest.h"

namespace unidist::bench {
namespace {

TEST(SummarizeTest, OddCountTakesTheMiddle) {
  const Summary s = Summarize({5, 1, 3});
  EXPECT_EQ(s.count, 3u);
  EXPECT_EQ(s.median, 3);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 5);
}

TEST(SummarizeTest, EvenCountAveragesTheTwoMiddleSamples) {
  const Summary s = Summarize({4, 1, 2, 10});
  EXPECT_EQ(s.median, 3);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 10);
}

TEST(SummarizeTest, EmptyHasCountZero) { EXPECT_EQ(Summarize({}).count, 0u); }

TEST(ParseKbFieldTest, ReadsTheNamedLineInBytes) {
  const char kStatus[] = "Name:\tcat\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
  absl::StatusOr<size_t> rss = ParseKbField(kStatus, "VmRSS");
  ASSERT_TRUE(rss.ok()) << rss.status();
  EXPECT_EQ(*rss, 1024u * 1024u);
}

TEST(ParseKbFieldTest, MissingFieldIsNotFound) {
  EXPECT_EQ(ParseKbField("VmHWM: 1 kB\n", "VmRSS").status().code(), absl::StatusCode::kNotFound);
  // A longer name that starts with the field's is a different field.
  EXPECT_EQ(ParseKbField("VmRSSx: 1 kB\n", "VmRSS").status().code(), absl::StatusCode::kNotFound);
}

TEST(ParseKbFieldTest, MalformedValueIsDataLoss) {
  EXPECT_EQ(ParseKbField("VmRSS: lots\n", "VmRSS").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseKbField("VmRSS: 12 MB\n", "VmRSS").status().code(), absl::StatusCode::kDataLoss);
}

TEST(ReadProcessMemoryTest, ReadsThisProcess) {
  absl::StatusOr<ProcessMemory> memory = ReadProcessMemory(getpid());
  ASSERT_TRUE(memory.ok()) << memory.status();
  EXPECT_GT(memory->rss, 0u);
  EXPECT_GT(memory->private_bytes, 0u);
  EXPECT_LE(memory->private_bytes, memory->rss);
  EXPECT_GT(memory->rss_anon, 0u);
  EXPECT_LE(memory->rss_anon, memory->rss);
}

TEST(ReadRssAnonBytesTest, MatchesReadProcessMemory) {
  absl::StatusOr<size_t> rss_anon = ReadRssAnonBytes(getpid());
  ASSERT_TRUE(rss_anon.ok()) << rss_anon.status();
  EXPECT_GT(*rss_anon, 0u);
  EXPECT_EQ(ReadRssAnonBytes(-5).status().code(), absl::StatusCode::kNotFound);
}

TEST(ReadShmemBytesTest, ReadsTheMachinesSharedMemory) {
  // Any value is plausible (0 included); the line must be there and parse.
  EXPECT_TRUE(ReadShmemBytes().ok()) << ReadShmemBytes().status();
}

TEST(ReadProcessMemoryTest, MissingProcessIsNotFound) {
  EXPECT_EQ(ReadProcessMemory(-5).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace unidist::bench
