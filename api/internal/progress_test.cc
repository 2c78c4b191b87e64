// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/progress.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

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

std::string ReadAvailable(int fd) {
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t got = read(fd, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return text;
    text.append(buffer, static_cast<size_t>(got));
  }
}

TEST(ProgressBarTest, DrawsOnATerminal) {
  int terminal, program_side;
  ASSERT_EQ(openpty(&terminal, &program_side, nullptr, nullptr, nullptr), 0);
  ASSERT_EQ(fcntl(terminal, F_SETFL, O_NONBLOCK), 0);
  {
    ProgressBar bar(program_side, "job", 4, 1);
    EXPECT_TRUE(bar.active());
    bar.Update(2);
    bar.Finish(4);
    EXPECT_FALSE(bar.active());
    bar.Update(3);  // after Finish: nothing
  }
  const std::string drawn = ReadAvailable(terminal);
  close(terminal);
  close(program_side);
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
  EXPECT_EQ(ReadAvailable(pipe_fds[0]), "");
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

}  // namespace
}  // namespace unidist::api_internal
