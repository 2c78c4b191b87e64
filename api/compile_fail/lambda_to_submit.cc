// Copyright 2026 The unidist-cpp Authors.
//
// Submit of a lambda, which no worker can find (tasks are found by their UNIDIST_REMOTE
// name): one error that says what Submit takes, instead of "no matching function" and a
// list of candidates. The ref it returns is typed as the call's result, so the Get below
// adds no error.
//
// EXPECT-ERROR: unidist::Submit, SubmitTuple and Map take a function registered with UNIDIST_REMOTE
// EXPECT-NOTE: kIsPlainFunction<main()::<lambda(int)> >

#include "unidist/unidist.h"

int main() {
  auto doubled = unidist::Submit([](int x) { return 2 * x; }, 21);  // MISTAKE
  absl::StatusOr<int> value = unidist::Get(doubled);
  return value.ok() ? 0 : 1;
}
