// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/progress.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace unidist::api_internal {
namespace {

constexpr int kDefaultWidth = 80;
constexpr int kMinBarWidth = 10;
constexpr int kMaxBarWidth = 40;

std::string FormatSeconds(double seconds) {
  if (seconds < 60) return absl::StrFormat("%.0fs", std::ceil(seconds));
  if (seconds < 3600)
    return absl::StrFormat("%dm%02ds", static_cast<int>(seconds) / 60,
                           static_cast<int>(seconds) % 60);
  return absl::StrFormat("%dh%02dm", static_cast<int>(seconds) / 3600,
                         static_cast<int>(seconds) / 60 % 60);
}

int TerminalWidth(int fd) {
  winsize size{};
  if (ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  return kDefaultWidth;
}

}  // namespace

std::string RenderProgressLine(absl::string_view label, size_t done, size_t total,
                               size_t done_at_start, absl::Duration elapsed, int width) {
  done = std::min(done, total);
  std::string counts = absl::StrFormat(" %d/%d", done, total);
  const double seconds = absl::ToDoubleSeconds(elapsed);
  const size_t new_done = done > done_at_start ? done - done_at_start : 0;
  if (seconds > 0 && new_done > 0) {
    const double rate = static_cast<double>(new_done) / seconds;
    absl::StrAppendFormat(&counts, "  %.1f/s", rate);
    if (done < total) {
      absl::StrAppend(&counts, "  eta ", FormatSeconds(static_cast<double>(total - done) / rate));
    }
  }
  const int prefix = label.empty() ? 0 : static_cast<int>(label.size()) + 1;
  const int room = width - prefix - static_cast<int>(counts.size()) - 2;  // 2 brackets
  const int bar_width = std::clamp(room, kMinBarWidth, kMaxBarWidth);
  const int filled = total == 0
                         ? bar_width
                         : static_cast<int>(static_cast<double>(bar_width) *
                                            static_cast<double>(done) / static_cast<double>(total));
  std::string line;
  if (!label.empty()) absl::StrAppend(&line, label, " ");
  absl::StrAppend(&line, "[", std::string(filled, '#'), std::string(bar_width - filled, '.'), "]",
                  counts);
  return line;
}

ProgressBar::ProgressBar(int fd, std::string label, size_t total, size_t done)
    : fd_(fd),
      label_(std::move(label)),
      total_(total),
      done_at_start_(done),
      start_(absl::Now()),
      active_(fd >= 0 && isatty(fd) == 1) {
  Draw(done, /*last=*/false);
}

void ProgressBar::Update(size_t done) { Draw(done, /*last=*/false); }

void ProgressBar::Finish(size_t done) {
  Draw(done, /*last=*/true);
  active_ = false;
}

void ProgressBar::Draw(size_t done, bool last) {
  if (!active_) return;
  // "\r" back to the start of the line, "\x1b[K" clears what a longer line left there.
  std::string out = absl::StrCat("\r",
                                 RenderProgressLine(label_, done, total_, done_at_start_,
                                                    absl::Now() - start_, TerminalWidth(fd_) - 1),
                                 "\x1b[K", last ? "\n" : "");
  absl::string_view left = out;
  while (!left.empty()) {
    const ssize_t written = write(fd_, left.data(), left.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {  // the terminal is gone: stop drawing
      active_ = false;
      return;
    }
    left.remove_prefix(static_cast<size_t>(written));
  }
}

}  // namespace unidist::api_internal
