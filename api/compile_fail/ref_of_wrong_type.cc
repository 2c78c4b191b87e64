// Copyright 2026 The unidist-cpp Authors.
//
// An ObjectRef argument of another type than its parameter: one error, naming the
// argument's position, the ref's type and the parameter's type.
//
// EXPECT-ERROR: unidist: an ObjectRef<T> argument needs T to be its parameter's type
// EXPECT-NOTE: kRefArgumentMatchesParameter<1, unidist::ObjectRef<int>, double>

#include "unidist/unidist.h"

double Half(double x) { return x / 2; }
UNIDIST_REMOTE(Half);

int main() {
  unidist::ObjectRef<int> seven = unidist::Put(7);
  unidist::ObjectRef<double> half = unidist::Submit(Half, seven);  // MISTAKE
  return unidist::Get(half).ok() ? 0 : 1;
}
