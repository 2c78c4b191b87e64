// Copyright 2026 The unidist-cpp Authors.
//
// The include paths from before the unidist/ ones still compile under Bazel, for a
// deprecation period, with a warning that says what to write instead. (Not a mistake that
// fails: a path that is going away. The CMake package no longer has these paths.)
//
// EXPECT-WARNING: the "api/..." include paths are deprecated and go away in version 0.3
// FLAGS: -Wno-error=deprecated-declarations

#include "api/unidist.h"
#include "common/codec.h"

int Twice(int x) { return 2 * x; }
UNIDIST_REMOTE(Twice);

int main() {
  unidist::ObjectRef<int> twice = unidist::Submit(Twice, 21);
  return unidist::Get(twice).ok() && unidist::Encode(1).size() > 0 ? 0 : 1;
}
