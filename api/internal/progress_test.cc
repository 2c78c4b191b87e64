// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/pseudo_terminal.h"

namespace unidist::api_internal {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RenderProgressLineTest, ShowsBarCountsRateAndTimeLeft) {
  EXPECT_EQ(RenderProgressLine("fit", 50, 100, 0, absl::Seconds(10), 80),
            "fit [####################....................] 50/100  5.0/s  eta 10s");
  // The rate counts only what completed during the wait.
  EXPECT_EQ(RenderProgressLine("", 60, 100, 40, absl::Seconds(4), 80),
            "[########################................] 60/100  5.0/s  eta 8s");
  EXPECT_EQ(RenderProgressLine("", 1, 10000, 0, absl::Seconds(2), 80),
            "[........................................] 1/10000  0.5/s  eta 5h33m");
}

TEST(RenderProgressLineTest, NoRateBeforeAnythingCompletesAndNoEtaAtTheEnd) {
  EXPECT_EQ(RenderProgressLine("", 0, 4, 0, absl::ZeroDuration(), 80),
            "[........................................] 0/4");
  EXPECT_EQ(RenderProgressLine("", 4, 4, 0, absl::Seconds(2), 80),
            "[########################################] 4/4  2.0/s");
  EXPECT_EQ(RenderProgressLine("", 0, 0, 0, absl::Seconds(1), 80),
            "[########################################] 0/0");
}

TEST(RenderProgressLineTest, FitsANarrowTerminal) {
  const std::string line = RenderProgressLine("x", 5, 10, 0, absl::Seconds(1), 40);
  EXPECT_LE(line.size(), 40u) << line;
  EXPECT_THAT(line, HasSubstr("5/10"));
  // Never shorter than a readable bar.
  EXPECT_THAT(RenderProgressLine("x", 5, 10, 0, absl::Seconds(1), 5), HasSubstr("[#####.....]"));
}

TEST(ProgressBarTest, DrawsOnATerminal) {
  absl::StatusOr<std::unique_ptr<unidist::testing::PseudoTerminal>> terminal =
      unidist::testing::PseudoTerminal::Open();
  ASSERT_TRUE(terminal.ok()) << terminal.status();
  {
    ProgressBar bar((*terminal)->program_side(), "job", 4, 1);
    EXPECT_TRUE(bar.active());
    bar.Update(2);
    bar.Finish(4);
    EXPECT_FALSE(bar.active());
    bar.Update(3);  // after Finish: nothing
  }
  const std::string drawn = (*terminal)->ReadAvailable();
  EXPECT_THAT(drawn, HasSubstr("\rjob ["));
  EXPECT_THAT(drawn, HasSubstr("] 1/4\x1b[K"));
  EXPECT_THAT(drawn, HasSubstr("] 2/4"));
  EXPECT_THAT(drawn, HasSubstr("] 4/4"));
  EXPECT_THAT(drawn, Not(HasSubstr("3/4")));
  EXPECT_EQ(drawn.back(), '\n');
}

TEST(ProgressBarTest, SilentOnAPipe) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_NONBLOCK), 0);
  {
    ProgressBar bar(pipe_fds[1], "job", 4, 0);
    EXPECT_FALSE(bar.active());
    bar.Update(2);
    bar.Finish(4);
  }
  char drawn;
  EXPECT_EQ(read(pipe_fds[0], &drawn, 1), -1);  // nothing written
  EXPECT_EQ(errno, EAGAIN);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

}  // namespace
}  // namespace unidist::api_internal
