// Copyright 2026 The unidist-cpp Authors.
//
// The calls the other files get wrong, written right: this one compiles, with the same
// command, so a failure of the others is theirs and not the test's.
//
// EXPECT-COMPILES

#include <string>

#include "unidist/unidist.h"

struct Point {
  double x = 0;
  double y = 0;
  auto UnidistFields() { return std::tie(x, y); }
};

double Norm(Point p) { return p.x + p.y; }
int Add(int a, int b) { return a + b; }
int Length(std::string word) { return static_cast<int>(word.size()); }
double Half(double x) { return x / 2; }

class Counter {
 public:
  int Add(int x) { return total_ += x; }

 private:
  int total_ = 0;
};

UNIDIST_ACTOR(Counter);
UNIDIST_REMOTE(Norm, Add, Length, Half, &Counter::Add);

int main() {
  unidist::ObjectRef<double> norm = unidist::Submit(Norm, Point{1, 2});
  unidist::ObjectRef<int> sum = unidist::Submit(Add, 1, 2);
  unidist::ObjectRef<int> length = unidist::Submit(Length, std::to_string(42));
  unidist::ObjectRef<double> half = unidist::Submit(Half, unidist::Put(7.0));
  unidist::Actor<Counter> counter = unidist::CreateActor<Counter>();
  unidist::ObjectRef<int> total = counter.Submit(&Counter::Add, 1);
  return unidist::Get(norm).ok() && unidist::Get(sum).ok() && unidist::Get(length).ok() &&
                 unidist::Get(half).ok() && unidist::Get(total).ok()
             ? 0
             : 1;
}
