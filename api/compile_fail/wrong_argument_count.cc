// Copyright 2026 The unidist-cpp Authors.
//
// Submit with more arguments than the function has parameters: one error, naming the
// function's type and the arguments given (not libstdc++'s "tuple index must be in range").
//
// EXPECT-ERROR: unidist: wrong number of arguments for the function
// EXPECT-NOTE: kArgumentCountMatches<int(int, int), int, int, int>

#include "unidist/unidist.h"

int Add(int a, int b) { return a + b; }
UNIDIST_REMOTE(Add);

int main() {
  unidist::ObjectRef<int> sum = unidist::Submit(Add, 1, 2, 3);  // MISTAKE
  return unidist::Get(sum).ok() ? 0 : 1;
}
