#include <cstdio>

#include "api/unidist.h"

int Square(int x) { return x * x; }
long Sum(std::vector<int> xs) {
  long s = 0;
  for (int x : xs) s += x;
  return s;
}
UNIDIST_REMOTE(Square, Sum);  // at namespace scope: makes them remote functions

int main() {
  if (absl::Status s = unidist::Init(); !s.ok()) return 1;  // one worker per CPU
  std::vector<unidist::ObjectRef<int>> refs;
  for (int i = 0; i < 100; ++i) refs.push_back(unidist::Submit(Square, i));
  unidist::WaitResult<int> first = unidist::Wait(refs, /*num_returns=*/10);
  absl::StatusOr<std::vector<int>> squares = unidist::Get(refs);  // blocks until all done
  if (!squares.ok()) return 1;                                    // a task failed: why
  unidist::ObjectRef<std::vector<int>> all = unidist::Put(*squares);
  absl::StatusOr<long> total = unidist::Get(unidist::Submit(Sum, all));  // refs as args
  std::printf("%zu ready early; sum of squares: %ld\n", first.ready.size(), *total);
  return unidist::Shutdown().ok() ? 0 : 1;
}
