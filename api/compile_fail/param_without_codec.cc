// Copyright 2026 The unidist-cpp Authors.
//
// A task parameter whose type has no codec: one error, naming the type and both ways to
// give it one. (UNIDIST_REMOTE and Submit both need the codec; it is reported once.)
//
// EXPECT-ERROR: unidist: a type has no codec
// EXPECT-NOTE: kIsEncodable<Point>

#include "unidist/unidist.h"

struct Point {  // no UnidistFields(), no unidist::Codec<Point>
  double x = 0;
  double y = 0;
};

double Norm(Point p) { return p.x + p.y; }
UNIDIST_REMOTE(Norm);  // MISTAKE

int main() {
  unidist::ObjectRef<double> norm = unidist::Submit(Norm, Point{1, 2});  // MISTAKE
  return unidist::Get(norm).ok() ? 0 : 1;
}
