// Copyright 2026 The unidist-cpp Authors.
//
// ProgressBar: the one line unidist::ShowProgress draws while Wait or Get blocks.
//
// It draws only on a terminal: constructed on a descriptor that is not one (a pipe, a
// file, /dev/null), every call does nothing, so a program's logs and pipes stay clean.
// Each redraw is one write of "\r", the line, and "clear to end of line", sized to the
// terminal's width. Not thread-safe: one waiting call owns it.

#ifndef UNIDIST_API_INTERNAL_PROGRESS_H_
#define UNIDIST_API_INTERNAL_PROGRESS_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace unidist::api_internal {

// The text of the line, at most `width` columns (plus the label's overflow if the label
// alone is wider): the label, a bar, "done/total", the rate since the wait began (the
// refs complete since then, `done - done_at_start`, over `elapsed`) and, once there is a
// rate, an estimate of the time left. Example:
//   "fit [##########..........] 512/1024  210.4/s  eta 2s"
std::string RenderProgressLine(absl::string_view label, size_t done, size_t total,
                               size_t done_at_start, absl::Duration elapsed, int width);

class ProgressBar {
 public:
  // A bar for `total` refs of which `done` are complete already, drawn on `fd` if it is a
  // terminal. Draws the first line at once.
  ProgressBar(int fd, std::string label, size_t total, size_t done);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Whether it draws (`fd` is a terminal).
  bool active() const { return active_; }
  // Redraws the line with `done` complete.
  void Update(size_t done);
  // Draws the last line and ends it with a newline. Later calls do nothing.
  void Finish(size_t done);

 private:
  void Draw(size_t done, bool last);

  const int fd_;
  const std::string label_;
  const size_t total_;
  const size_t done_at_start_;
  const absl::Time start_;
  bool active_;
};

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_PROGRESS_H_
