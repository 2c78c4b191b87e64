// Copyright 2026 The unidist-cpp Authors.

#include "benchmarks/python_baseline.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

extern char** environ;

namespace unidist::bench {
namespace {

constexpr char kRunfilesPath[] = "unidist/benchmarks/python_baseline.py";

bool IsReadable(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

std::string JoinSizes(const std::vector<size_t>& sizes) { return absl::StrJoin(sizes, ","); }

}  // namespace

absl::StatusOr<std::string> FindPythonBaseline(const std::string& explicit_path) {
  if (!explicit_path.empty()) {
    if (IsReadable(explicit_path)) return explicit_path;
    return absl::NotFoundError(absl::StrCat("cannot read ", explicit_path));
  }
  std::vector<std::string> candidates;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0)
    candidates.push_back(absl::StrCat(absl::string_view(exe, n), ".runfiles/", kRunfilesPath));
  if (const char* dir = std::getenv("RUNFILES_DIR"); dir != nullptr) {
    candidates.push_back(absl::StrCat(dir, "/", kRunfilesPath));
  }
  candidates.push_back("benchmarks/python_baseline.py");
  for (const std::string& path : candidates) {
    if (IsReadable(path)) return path;
  }
  return absl::NotFoundError(
      absl::StrCat("python_baseline.py is in none of: ", absl::StrJoin(candidates, ", ")));
}

absl::StatusOr<PythonBaseline> ParsePythonBaselineOutput(const std::string& json) {
  google::protobuf::Struct root;
  if (!google::protobuf::util::JsonStringToMessage(json, &root).ok()) {
    return absl::DataLossError(
        absl::StrCat("the Python baseline printed no valid JSON: '", json.substr(0, 200), "'"));
  }
  PythonBaseline result;
  const auto& fields = root.fields();
  if (auto it = fields.find("python_version"); it != fields.end()) {
    result.python_version = it->second.string_value();
  }
  if (auto it = fields.find("partitions_python"); it != fields.end()) {
    result.partitions_python = it->second.string_value();
  }
  if (auto it = fields.find("notes"); it != fields.end()) {
    if (!it->second.has_struct_value()) {
      return absl::DataLossError("the Python baseline's \"notes\" is not an object");
    }
    for (const auto& [metric, note] : it->second.struct_value().fields()) {
      if (note.kind_case() != google::protobuf::Value::kStringValue) {
        return absl::DataLossError(absl::StrCat("Python notes.", metric, " is not a string"));
      }
      result.notes[metric] = note.string_value();
    }
  }
  if (auto it = fields.find("errors"); it != fields.end()) {
    if (!it->second.has_list_value()) {
      return absl::DataLossError("the Python baseline's \"errors\" is not a list");
    }
    for (const google::protobuf::Value& error : it->second.list_value().values()) {
      if (error.kind_case() != google::protobuf::Value::kStringValue) {
        return absl::DataLossError("the Python baseline's \"errors\" holds a non-string");
      }
      result.errors.push_back(error.string_value());
    }
  }
  auto samples = fields.find("samples");
  if (samples == fields.end() || !samples->second.has_struct_value()) {
    return absl::DataLossError("the Python baseline's JSON has no \"samples\" object");
  }
  for (const auto& [metric, value] : samples->second.struct_value().fields()) {
    if (!value.has_list_value()) {
      return absl::DataLossError(absl::StrCat("Python metric ", metric, " is not a list"));
    }
    Samples& out = result.samples[metric];
    for (const google::protobuf::Value& sample : value.list_value().values()) {
      if (sample.kind_case() != google::protobuf::Value::kNumberValue) {
        return absl::DataLossError(absl::StrCat("Python metric ", metric, " holds a non-number"));
      }
      out.push_back(sample.number_value());
    }
  }
  return result;
}

absl::StatusOr<PythonBaseline> RunPythonBaseline(const std::string& script, const Workloads& w,
                                                 absl::Duration timeout) {
  std::vector<std::string> args = {
      "python3",
      script,
      absl::StrCat("--workers=", w.workers),
      absl::StrCat("--reps=", w.reps),
      absl::StrCat("--short_reps=", w.short_reps),
      absl::StrCat("--map_reps=", w.map_reps),
      absl::StrCat("--latency_round_trips=", w.latency_round_trips),
      absl::StrCat("--throughput_tasks=", w.throughput_tasks),
      absl::StrCat("--chain_length=", w.chain_length),
      absl::StrCat("--put_bytes=", JoinSizes(w.python_put_bytes)),
      absl::StrCat("--get_bytes=", w.get_bytes),
      absl::StrCat("--partitions=", w.partitions),
      absl::StrCat("--partition_bytes=", w.partition_bytes),
      absl::StrCat("--partitions_budget_s=", w.python_partitions_budget_s),
  };
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError(strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  // Its own process group, so that a timeout ends the Pool's workers along with it.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  pid_t pid = -1;
  const int spawned = posix_spawnp(&pid, "python3", &actions, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (spawned != 0) {
    close(out[0]);
    return absl::InternalError(absl::StrCat("cannot start python3: ", strerror(spawned)));
  }

  std::string json;
  const absl::Time deadline = absl::Now() + timeout;
  bool timed_out = false;
  for (;;) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd = {out[0], POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left_ms, 1000)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    char buffer[65536];
    const ssize_t n = read(out[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    json.append(buffer, static_cast<size_t>(n));
  }
  close(out[0]);
  if (timed_out) kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat("the Python baseline ran longer than ", absl::FormatDuration(timeout)));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("the Python baseline failed (wait status ", status,
                                            "); see its output above"));
  }
  return ParsePythonBaselineOutput(json);
}

}  // namespace unidist::bench
