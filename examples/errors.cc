// Copyright 2026 The unidist-cpp Authors.
//
// The examples of the "Errors and guarantees" page (docs/errors.md), as one program that
// checks what the page says about them: tasks that throw, return an error, crash, or
// depend on a failed task, and a Get that times out. The page quotes the parts between
// the `[name]` markers with doxygen's \snippet, and //examples:errors_test runs it.
//
//   ./bazelw run //examples:errors

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "unidist/unidist.h"

namespace errors {

// [tasks]
// Throws for a negative side: the task's ref fails with kUnknown.
double Area(double width, double height) {
  if (width < 0 || height < 0) throw std::invalid_argument("negative side");
  return width * height;
}

// Returns an error: the task's ref fails with exactly this status.
absl::StatusOr<int> ParsePort(std::string text) {
  int port = 0;
  if (!absl::SimpleAtoi(text, &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError("not a port: '" + text + "'");
  }
  return port;
}

// Kills its worker process: the task's ref fails with kUnavailable.
void Crash() { std::abort(); }

double Half(double x) { return x / 2; }
UNIDIST_REMOTE(Area, ParsePort, Crash, Half);
// [tasks]

// Sleeps, so that the timeout example has a task that is still running.
int Nap(int seconds) {
  absl::SleepFor(absl::Seconds(seconds));
  return seconds;
}
UNIDIST_REMOTE(Nap);

}  // namespace errors

namespace {

using errors::Area;
using errors::Crash;
using errors::Half;
using errors::Nap;
using errors::ParsePort;

int failures = 0;

// The first line of a status: a crash's status goes on with the worker's stderr.
std::string FirstLine(const absl::Status& status) {
  const std::string text = status.ToString(absl::StatusToStringMode::kWithNoExtraData);
  return text.substr(0, text.find('\n'));
}

void ExpectCode(const char* what, const absl::Status& got, absl::StatusCode want) {
  const bool ok = got.code() == want;
  if (!ok) ++failures;
  std::printf("%s %s\n     %s\n", ok ? "ok  " : "FAIL", what, FirstLine(got).c_str());
}

void Expect(const char* what, bool ok) {
  if (!ok) ++failures;
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
}

}  // namespace

int main() {
  // [before_init]
  absl::StatusOr<int> early = unidist::Get(unidist::Put(1));  // kFailedPrecondition
  // [before_init]
  ExpectCode("Get of a ref made before Init", early.status(),
             absl::StatusCode::kFailedPrecondition);

  unidist::Options options;
  options.num_workers = 2;
  // What this page shows of crashes needs worker processes: the sequential backend runs
  // tasks in this process, where a crash is the program's (docs/backends.md).
  options.backend = "multiprocessing";
  if (absl::Status status = unidist::Init(options); !status.ok()) {
    std::fprintf(stderr, "Init failed: %s\n", status.ToString().c_str());
    return 1;
  }

  // [get_errors]
  absl::StatusOr<double> area = unidist::Get(unidist::Submit(Area, -1.0, 2.0));
  // area.status(): UNKNOWN: task 'Area' threw std::invalid_argument: negative side
  absl::StatusOr<int> port = unidist::Get(unidist::Submit(ParsePort, "http"));
  // port.status(): INVALID_ARGUMENT: not a port: 'http'
  std::optional<unidist::TaskFailure> where = unidist::GetTaskFailure(area.status());
  // where->function == "Area", where->worker_index and where->worker_pid: which worker
  // [get_errors]
  ExpectCode("a task that throws", area.status(), absl::StatusCode::kUnknown);
  ExpectCode("a task that returns an error", port.status(), absl::StatusCode::kInvalidArgument);
  Expect("GetTaskFailure names the function and the worker",
         where.has_value() && where->function == "Area" && where->worker_index >= 0 &&
             where->worker_pid > 0 && !where->worker_died);

  // [dependency]
  unidist::ObjectRef<double> failed = unidist::Submit(Area, -1.0, 2.0);
  absl::StatusOr<double> half = unidist::Get(unidist::Submit(Half, failed));
  // half.status() is failed's error; Half never ran
  // [dependency]
  ExpectCode("a task whose argument failed", half.status(), absl::StatusCode::kUnknown);

  // [crash]
  absl::Status crashed = unidist::Get(unidist::Submit(Crash));  // kUnavailable
  absl::Status retried =
      unidist::Get(unidist::Submit(unidist::TaskOptions{/*max_retries=*/1}, Crash));
  // retried: kUnavailable too, after a second run on a new worker
  absl::StatusOr<int> next = unidist::Get(unidist::Submit(ParsePort, "8080"));  // 8080
  // the pool still has options.num_workers workers: the dead ones were replaced
  // [crash]
  ExpectCode("a task that crashes its worker", crashed, absl::StatusCode::kUnavailable);
  ExpectCode("the same, with one retry", retried, absl::StatusCode::kUnavailable);
  const unidist::Stats stats = unidist::GetStats();
  Expect("the retry ran: tasks_retried is 1", stats.tasks_retried == 1);
  Expect("later tasks run", next.ok() && *next == 8080);
  Expect("the pool keeps its size", unidist::Workers().size() == 2);

  // [timeout]
  unidist::ObjectRef<int> nap = unidist::Submit(Nap, 60);
  absl::StatusOr<int> soon = unidist::Get(nap, absl::Milliseconds(10));  // kDeadlineExceeded
  // the task goes on; Shutdown cancels it
  // [timeout]
  ExpectCode("Get with a timeout", soon.status(), absl::StatusCode::kDeadlineExceeded);

  if (absl::Status status = unidist::Shutdown(); !status.ok()) {
    std::fprintf(stderr, "Shutdown failed: %s\n", status.ToString().c_str());
    return 1;
  }
  ExpectCode("a task still running at Shutdown", unidist::Get(nap).status(),
             absl::StatusCode::kCancelled);
  if (failures > 0) {
    std::printf("%d example(s) did not behave as docs/errors.md says\n", failures);
    return 1;
  }
  std::printf("every example behaves as docs/errors.md says\n");
  return 0;
}
