// Copyright 2026 The unidist-cpp Authors.
//
// PseudoTerminal: a pseudo-terminal pair for tests of output that only appears on a
// terminal (e.g. unidist::ShowProgress). The code under test writes to program_side(),
// which isatty() accepts; the test reads what was drawn with ReadAvailable(). Both ends
// are closed with the object.

#ifndef UNIDIST_TESTING_PSEUDO_TERMINAL_H_
#define UNIDIST_TESTING_PSEUDO_TERMINAL_H_

// Included by its old path ("testing/pseudo_terminal.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace unidist::testing {

class PseudoTerminal {
 public:
  // Opens a pair with openpty(3). Its errno as Internal if that failed.
  static absl::StatusOr<std::unique_ptr<PseudoTerminal>> Open();

  ~PseudoTerminal();
  PseudoTerminal(const PseudoTerminal&) = delete;
  PseudoTerminal& operator=(const PseudoTerminal&) = delete;

  // The terminal the program writes to.
  int program_side() const { return program_side_; }

  // Everything written to program_side() since the last call, without waiting.
  std::string ReadAvailable();

 private:
  PseudoTerminal(int terminal, int program_side)
      : terminal_(terminal), program_side_(program_side) {}

  const int terminal_;  // the reading side, non-blocking
  const int program_side_;
};

}  // namespace unidist::testing

#endif  // UNIDIST_TESTING_PSEUDO_TERMINAL_H_
