// Copyright 2026 The unidist-cpp Authors.

#include "unidist/testing/pseudo_terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <unistd.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace unidist::testing {

absl::StatusOr<std::unique_ptr<PseudoTerminal>> PseudoTerminal::Open() {
  int terminal = -1;
  int program_side = -1;
  if (openpty(&terminal, &program_side, nullptr, nullptr, nullptr) != 0) {
    return absl::InternalError(absl::StrCat("openpty: ", std::strerror(errno)));
  }
  // Reads must not wait: a test reads what has been drawn so far and goes on.
  std::unique_ptr<PseudoTerminal> pair(new PseudoTerminal(terminal, program_side));
  if (fcntl(terminal, F_SETFL, O_NONBLOCK) != 0) {
    return absl::InternalError(absl::StrCat("fcntl(O_NONBLOCK): ", std::strerror(errno)));
  }
  return pair;
}

PseudoTerminal::~PseudoTerminal() {
  close(terminal_);
  close(program_side_);
}

std::string PseudoTerminal::ReadAvailable() {
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t got = read(terminal_, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return text;
    text.append(buffer, static_cast<size_t>(got));
  }
}

}  // namespace unidist::testing
