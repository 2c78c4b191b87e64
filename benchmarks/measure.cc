// Copyright 2026 The unidist-cpp Authors.

#include "benchmarks/measure.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace unidist::bench {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Summary Summarize(Samples samples) {
  Summary summary;
  summary.count = samples.size();
  if (samples.empty()) return summary;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  summary.median = n % 2 == 1 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
  summary.min = samples.front();
  summary.max = samples.back();
  return summary;
}

absl::StatusOr<size_t> ParseKbField(absl::string_view text, absl::string_view field) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::string_view value = line;
    if (!absl::ConsumePrefix(&value, field) || !absl::ConsumePrefix(&value, ":")) continue;
    value = absl::StripAsciiWhitespace(value);
    size_t kb = 0;
    if (!absl::ConsumeSuffix(&value, "kB") ||
        !absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &kb)) {
      return absl::DataLossError(absl::StrCat("malformed /proc line: '", line, "'"));
    }
    return kb * 1024;
  }
  return absl::NotFoundError(absl::StrCat("no '", field, ":' line"));
}

absl::StatusOr<ProcessMemory> ReadProcessMemory(int pid) {
  const std::string dir = absl::StrCat("/proc/", pid, "/");
  absl::StatusOr<std::string> status = ReadFile(dir + "status");
  if (!status.ok()) return status.status();
  absl::StatusOr<std::string> rollup = ReadFile(dir + "smaps_rollup");
  if (!rollup.ok()) return rollup.status();
  absl::StatusOr<size_t> rss = ParseKbField(*status, "VmRSS");
  absl::StatusOr<size_t> rss_anon = ParseKbField(*status, "RssAnon");
  absl::StatusOr<size_t> clean = ParseKbField(*rollup, "Private_Clean");
  absl::StatusOr<size_t> dirty = ParseKbField(*rollup, "Private_Dirty");
  for (const absl::Status& s : {rss.status(), rss_anon.status(), clean.status(), dirty.status()}) {
    if (!s.ok()) return absl::DataLossError(absl::StrCat("pid ", pid, ": ", s.message()));
  }
  ProcessMemory memory;
  memory.rss = *rss;
  memory.rss_anon = *rss_anon;
  memory.private_bytes = *clean + *dirty;
  return memory;
}

absl::StatusOr<size_t> ReadRssAnonBytes(int pid) {
  absl::StatusOr<std::string> status = ReadFile(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return status.status();
  absl::StatusOr<size_t> rss_anon = ParseKbField(*status, "RssAnon");
  if (!rss_anon.ok()) {
    return absl::DataLossError(absl::StrCat("pid ", pid, ": ", rss_anon.status().message()));
  }
  return rss_anon;
}

absl::StatusOr<size_t> ReadShmemBytes() {
  absl::StatusOr<std::string> meminfo = ReadFile("/proc/meminfo");
  if (!meminfo.ok()) return meminfo.status();
  return ParseKbField(*meminfo, "Shmem");
}

}  // namespace unidist::bench
