// Copyright 2026 The unidist-cpp Authors.
//
// The example of the Configuration page (docs/configuration.md), checked: Options fields
// override the environment, a message larger than max_message_bytes fails with
// kResourceExhausted, and a bad value makes Init fail with kInvalidArgument. The page
// quotes the parts between the `[name]` markers with doxygen's \snippet, and
// //examples:configuration_test runs it.
//
//   ./bazelw run //examples:configuration
//   UNIDIST_CPUS=3 ./bazelw run //examples:configuration   # the variable loses to Options

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "unidist/unidist.h"

namespace configuration {

size_t Length(std::string text) { return text.size(); }
UNIDIST_REMOTE(Length);

}  // namespace configuration

namespace {

int failures = 0;

void Expect(const char* what, bool ok, const std::string& detail) {
  if (!ok) ++failures;
  std::printf("%s %s\n     %s\n", ok ? "ok  " : "FAIL", what, detail.c_str());
}

}  // namespace

int main() {
  using configuration::Length;

  // [bad_option]
  unidist::Options bad;
  bad.num_workers = -1;
  absl::Status refused = unidist::Init(bad);
  // INVALID_ARGUMENT: Options::num_workers must be between 0 and 4096, got -1
  // [bad_option]
  Expect("Init with num_workers = -1 is refused",
         refused.code() == absl::StatusCode::kInvalidArgument && !unidist::IsInitialized(),
         refused.ToString());

  // [options]
  unidist::Options options;
  options.num_workers = 2;               // not $UNIDIST_CPUS, not the number of CPUs
  options.max_message_bytes = 64 << 10;  // 64 KiB: a task or result larger fails
  // options.backend stays "": $UNIDIST_BACKEND, else "multiprocessing"
  if (absl::Status status = unidist::Init(options); !status.ok()) {
    std::fprintf(stderr, "Init failed: %s\n", status.ToString().c_str());
    return 1;
  }
  // [options]
  Expect("Init with two workers starts two", unidist::Workers().size() == 2,
         std::to_string(unidist::Workers().size()));

  // [message_limit]
  absl::StatusOr<size_t> small = unidist::Get(unidist::Submit(Length, std::string(1000, 'x')));
  absl::StatusOr<size_t> large =
      unidist::Get(unidist::Submit(Length, std::string(100 << 10, 'x')));  // 100 KiB
  // small: 1000; large: RESOURCE_EXHAUSTED, and the task was never sent
  // [message_limit]
  Expect("a task under max_message_bytes runs", small.ok() && *small == 1000,
         small.ok() ? std::to_string(*small) : small.status().ToString());
  Expect("a task over max_message_bytes fails",
         large.status().code() == absl::StatusCode::kResourceExhausted, large.status().ToString());

  if (absl::Status status = unidist::Shutdown(); !status.ok()) {
    std::fprintf(stderr, "Shutdown failed: %s\n", status.ToString().c_str());
    return 1;
  }
  if (failures > 0) {
    std::printf("%d example(s) did not behave as docs/configuration.md says\n", failures);
    return 1;
  }
  std::printf("every example behaves as docs/configuration.md says\n");
  return 0;
}
