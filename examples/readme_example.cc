#include <iostream>

#include "unidist/unidist.h"

int Square(int x) { return x * x; }
long Sum(std::vector<int> xs) {
  long s = 0;
  for (int x : xs) s += x;
  return s;
}
UNIDIST_REMOTE(Square, Sum);  // at namespace scope: makes them remote functions

int main() {
  if (absl::Status s = unidist::Init(); !s.ok()) {  // one worker per CPU
    std::cerr << "Init failed: " << s << "\n";      // the status says why
    return 1;
  }
  std::vector<unidist::ObjectRef<int>> refs;
  for (int i = 0; i < 100; ++i) refs.push_back(unidist::Submit(Square, i));
  unidist::WaitResult<int> first = unidist::Wait(refs, /*num_returns=*/10);
  absl::StatusOr<std::vector<int>> squares = unidist::Get(refs);  // blocks until all done
  if (!squares.ok()) {  // a task failed: the status names it and says why
    std::cerr << squares.status() << "\n";
    return 1;
  }
  unidist::ObjectRef<std::vector<int>> all = unidist::Put(*squares);
  absl::StatusOr<long> total = unidist::Get(unidist::Submit(Sum, all));  // refs as args
  if (!total.ok()) {
    std::cerr << total.status() << "\n";
    return 1;
  }
  std::cout << first.ready.size() << " ready early; sum of squares: " << *total << "\n";
  if (absl::Status s = unidist::Shutdown(); !s.ok()) {
    std::cerr << "Shutdown failed: " << s << "\n";
    return 1;
  }
  return 0;
}
