// Copyright 2026 The unidist-cpp Authors.
//
// An lvalue argument that does not convert to its parameter's type: one error, naming the
// argument's position, its type and the parameter's type (not std::string's constructors
// and enable_if<false>).
//
// EXPECT-ERROR: unidist: an argument does not convert to its parameter's type
// EXPECT-NOTE: kArgumentConvertsToParameter<1, int&, std::__cxx11::basic_string<char> >

#include <string>

#include "unidist/unidist.h"

int Length(std::string word) { return static_cast<int>(word.size()); }
UNIDIST_REMOTE(Length);

int main() {
  int count = 42;
  unidist::ObjectRef<int> length = unidist::Submit(Length, count);  // MISTAKE
  return unidist::Get(length).ok() ? 0 : 1;
}
