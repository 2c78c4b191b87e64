// Copyright 2026 The unidist-cpp Authors.
//
// The examples of the Concepts page (docs/concepts.md), as one program that checks what
// the page says about them. The page quotes the parts between the `[name]` markers with
// doxygen's \snippet, and //examples:concepts_test runs the program, so an example that
// stops compiling or stops doing what the page says fails the tests.
//
//   ./bazelw run //examples:concepts

#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "unidist/unidist.h"

namespace concepts {

// [register]
int Square(int x) { return x * x; }
namespace geo {
double Area(double width, double height) { return width * height; }
}  // namespace geo
UNIDIST_REMOTE(Square, geo::Area);  // at namespace scope: registered as "Square", "geo::Area"
// [register]

// [encodable]
struct Point {
  double x = 0, y = 0;
  std::string label;
  auto UnidistFields() { return std::tie(x, y, label); }  // the fields that travel, in order
};

Point Mirror(Point p) { return Point{p.y, p.x, p.label + "'"}; }
UNIDIST_REMOTE(Mirror);
// [encodable]

// [tuple]
std::tuple<int, int> DivMod(int a, int b) { return {a / b, a % b}; }
UNIDIST_REMOTE(DivMod);
// [tuple]

// [nested]
// A task that submits tasks: the calls go to the driver, which runs them on the pool.
absl::StatusOr<long> SumOfSquares(int n) {
  std::vector<unidist::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(unidist::Submit(Square, i));
  absl::StatusOr<std::vector<int>> squares = unidist::Get(refs);
  if (!squares.ok()) return squares.status();
  long sum = 0;
  for (int square : *squares) sum += square;
  return sum;
}
UNIDIST_REMOTE(SumOfSquares);
// [nested]

// Sleeps, so that the cancellation example has a task that is still running.
int Nap(int seconds) {
  absl::SleepFor(absl::Seconds(seconds));
  return seconds;
}
UNIDIST_REMOTE(Nap);

// [actor]
class Counter {
 public:
  explicit Counter(int start) : value_(start) {}
  int Add(int x) { return value_ += x; }
  int Value() const { return value_; }

 private:
  int value_;
};
UNIDIST_ACTOR(Counter, int);                     // the class and its constructor's types
UNIDIST_REMOTE(&Counter::Add, &Counter::Value);  // its remote methods
// [actor]

}  // namespace concepts

namespace {

using concepts::Counter;
using concepts::DivMod;
using concepts::Mirror;
using concepts::Nap;
using concepts::Point;
using concepts::Square;
using concepts::SumOfSquares;
namespace geo = concepts::geo;

int failures = 0;

// Prints one claim of the page and whether it held.
template <typename T>
void Expect(const char* what, const absl::StatusOr<T>& got, const T& want) {
  const bool ok = got.ok() && *got == want;
  if (!ok) ++failures;
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!got.ok()) std::printf("     got %s\n", got.status().ToString().c_str());
}

void ExpectCode(const char* what, const absl::Status& got, absl::StatusCode want) {
  const bool ok = got.code() == want;
  if (!ok) ++failures;
  std::printf("%s %s: %s\n", ok ? "ok  " : "FAIL", what,
              got.ToString(absl::StatusToStringMode::kWithNoExtraData).c_str());
}

}  // namespace

int main() {
  // The cancellation below stops a running task by replacing its worker process: the
  // multiprocessing backend's (docs/backends.md), whatever UNIDIST_BACKEND says.
  unidist::Options options;
  options.backend = "multiprocessing";
  if (absl::Status status = unidist::Init(options); !status.ok()) {
    std::fprintf(stderr, "Init failed: %s\n", status.ToString().c_str());
    return 1;
  }

  // [refs]
  unidist::ObjectRef<int> seven = unidist::Put(7);                       // into the store
  unidist::ObjectRef<int> square = unidist::Submit(Square, seven);       // a ref as argument
  unidist::ObjectRef<double> area = unidist::Submit(geo::Area, 3.0, 4);  // 4 becomes 4.0
  absl::StatusOr<int> value = unidist::Get(square);                      // blocks: 49
  unidist::DataID id = square.id();  // the object's id, e.g. for logs
  // [refs]
  Expect("Get(Submit(Square, Put(7))) is 49", value, 49);
  Expect("geo::Area(3.0, 4) is 12", unidist::Get(area), 12.0);
  std::printf("     the result's id: %s\n", id.Hex().c_str());

  // [wait]
  std::vector<unidist::ObjectRef<int>> refs;
  for (int i = 0; i < 8; ++i) refs.push_back(unidist::Submit(Square, i));
  unidist::WaitResult<int> first = unidist::Wait(refs, /*num_returns=*/2);
  // first.ready: the first 2 refs to complete; first.not_ready: the 6 others.
  absl::StatusOr<std::vector<int>> all = unidist::Get(refs);  // 0, 1, 4, ..., 49
  // [wait]
  Expect("Wait(refs, 2) returns 2 ready refs", absl::StatusOr<size_t>(first.ready.size()),
         size_t{2});
  Expect("Wait(refs, 2) returns 6 others", absl::StatusOr<size_t>(first.not_ready.size()),
         size_t{6});
  Expect("Get(refs) returns the squares in order", all,
         std::vector<int>{0, 1, 4, 9, 16, 25, 36, 49});

  // [encodable_use]
  absl::StatusOr<Point> mirrored = unidist::Get(unidist::Submit(Mirror, Point{1, 2, "p"}));
  // mirrored->x == 2, mirrored->y == 1, mirrored->label == "p'"
  // [encodable_use]
  Expect("Mirror(Point{1, 2, \"p\"}) has the label p'",
         mirrored.ok() ? absl::StatusOr<std::string>(mirrored->label)
                       : absl::StatusOr<std::string>(mirrored.status()),
         std::string("p'"));
  Expect("Mirror swaps x and y",
         mirrored.ok() ? absl::StatusOr<double>(mirrored->x * 10 + mirrored->y)
                       : absl::StatusOr<double>(mirrored.status()),
         21.0);

  // [tuple_use]
  auto [quotient, remainder] = unidist::SubmitTuple(DivMod, 17, 5);  // two ObjectRef<int>
  // [tuple_use]
  Expect("SubmitTuple(DivMod, 17, 5): quotient 3", unidist::Get(quotient), 3);
  Expect("SubmitTuple(DivMod, 17, 5): remainder 2", unidist::Get(remainder), 2);

  Expect("a task that submits tasks: SumOfSquares(10) is 285",
         unidist::Get(unidist::Submit(SumOfSquares, 10)), 285L);

  // [actor_use]
  unidist::Actor<Counter> counter = unidist::CreateActor<Counter>(10);  // its own process
  unidist::ObjectRef<int> a = counter.Submit(&Counter::Add, 5);         // 15
  unidist::ObjectRef<int> b = counter.Submit(&Counter::Add, square);    // waits for 49: 64
  unidist::ObjectRef<int> now = counter.Submit(&Counter::Value);        // 64, after both
  // [actor_use]
  Expect("Counter(10).Add(5) is 15", unidist::Get(a), 15);
  Expect("then Add(square) is 64", unidist::Get(b), 64);
  Expect("then Value() is 64", unidist::Get(now), 64);

  // [cancel]
  unidist::ObjectRef<int> nap = unidist::Submit(Nap, 60);        // running, for a minute
  unidist::ObjectRef<int> after = unidist::Submit(Square, nap);  // waits for `nap`
  absl::Status dropped = unidist::Cancel(after);                 // OK: it never runs
  absl::Status stopped = unidist::Cancel(nap, /*force=*/true);   // kills its worker
  // Get(after) and Get(nap) now fail with kCancelled; the pool replaces the worker.
  // [cancel]
  ExpectCode("Cancel of a task waiting for its argument", dropped, absl::StatusCode::kOk);
  ExpectCode("Cancel(force) of a running task", stopped, absl::StatusCode::kOk);
  ExpectCode("Get of the dropped task", unidist::Get(after).status(), absl::StatusCode::kCancelled);
  ExpectCode("Get of the stopped task", unidist::Get(nap).status(), absl::StatusCode::kCancelled);

  if (absl::Status status = unidist::Shutdown(); !status.ok()) {
    std::fprintf(stderr, "Shutdown failed: %s\n", status.ToString().c_str());
    return 1;
  }
  if (failures > 0) {
    std::printf("%d example(s) did not behave as docs/concepts.md says\n", failures);
    return 1;
  }
  std::printf("every example behaves as docs/concepts.md says\n");
  return 0;
}
