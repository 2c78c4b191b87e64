// A user's program: word lengths counted on worker processes.
#include <cstdio>
#include <string>
#include <vector>

#include "unidist/unidist.h"

namespace consumer {
int Length(std::string word) { return static_cast<int>(word.size()); }
int Total(std::vector<int> lengths) {
  int total = 0;
  for (int length : lengths) total += length;
  return total;
}
}  // namespace consumer

UNIDIST_REMOTE(consumer::Length, consumer::Total);

int main() {
  unidist::Options options;
  options.num_workers = 2;
  if (absl::Status status = unidist::Init(options); !status.ok()) {
    std::fprintf(stderr, "%s\n", status.ToString().c_str());
    return 1;
  }
  std::vector<unidist::ObjectRef<int>> lengths;
  for (const char* word : {"unidist", "from", "another", "workspace"}) {
    lengths.push_back(unidist::Submit(consumer::Length, std::string(word)));
  }
  absl::StatusOr<std::vector<int>> values = unidist::Get(lengths);
  absl::StatusOr<int> total =
      values.ok() ? unidist::Get(unidist::Submit(consumer::Total, *values)) : values.status();
  if (!total.ok()) {
    std::fprintf(stderr, "%s\n", total.status().ToString().c_str());
    return 1;
  }
  std::printf("consumer: %d letters counted on %zu workers\n", *total, unidist::Workers().size());
  if (absl::Status status = unidist::Shutdown(); !status.ok()) {
    std::fprintf(stderr, "Shutdown failed: %s\n", status.ToString().c_str());
    return 1;
  }
  return *total == 27 ? 0 : 1;
}
