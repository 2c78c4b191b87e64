// Copyright 2026 The unidist-cpp Authors.
//
// Actor<T>::Submit with a member function of another class: one error, naming the method's
// type and T.
//
// EXPECT-ERROR: unidist::Actor<T>::Submit takes a member function of T
// EXPECT-NOTE: kIsMethodOf<int (Gauge::*)(int), Counter>

#include "unidist/unidist.h"

class Counter {
 public:
  int Add(int x) { return total_ += x; }

 private:
  int total_ = 0;
};

class Gauge {
 public:
  int Set(int x) { return value_ = x; }

 private:
  int value_ = 0;
};

UNIDIST_ACTOR(Counter);
UNIDIST_REMOTE(&Counter::Add, &Gauge::Set);

int main() {
  unidist::Actor<Counter> counter = unidist::CreateActor<Counter>();
  unidist::ObjectRef<int> value = counter.Submit(&Gauge::Set, 1);  // MISTAKE
  return unidist::Get(value).ok() ? 0 : 1;
}
