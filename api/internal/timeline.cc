// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/timeline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/monotonic_clock.h"

namespace unidist::api_internal {

namespace timeline_internal {
std::atomic<bool> g_recording{false};
}  // namespace timeline_internal

namespace {

std::atomic<int> g_next_run{1};

// A CLOCK_MONOTONIC reading as trace microseconds, keeping the nanoseconds.
std::string Micros(int64_t ns) {
  if (ns < 0) ns = 0;
  return absl::StrFormat("%d.%03d", ns / 1000, ns % 1000);
}

std::string Outcome(const TaskRecord& record) {
  const auto code = static_cast<absl::StatusCode>(record.code);
  if (code == absl::StatusCode::kOk) return "OK";
  return absl::StrCat(absl::StatusCodeToString(code), ": ", record.message);
}

// The row a record belongs on: its worker process. Pool workers sort by index, actors
// after them, each run after the one before.
struct RowKey {
  int run;
  bool actor;
  int worker_index;
  int worker_pid;
  bool operator<(const RowKey& other) const {
    return std::tie(run, actor, worker_index, worker_pid) <
           std::tie(other.run, other.actor, other.worker_index, other.worker_pid);
  }
};

struct Row {
  int tid = 0;
  std::string name;
};

// Length of the valid UTF-8 sequence at the start of `text`, or 0 if it is not one.
size_t Utf8SequenceLength(absl::string_view text) {
  const auto byte = [&text](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  size_t length;
  uint32_t min_code_point;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2, min_code_point = 0x80;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3, min_code_point = 0x800;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4, min_code_point = 0x10000;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  uint32_t code_point = lead & (0xff >> (length + 1));
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte(i) & 0x3f);
  }
  if (code_point < min_code_point || code_point > 0x10ffff ||
      (code_point >= 0xd800 && code_point <= 0xdfff)) {
    return 0;
  }
  return length;
}

}  // namespace

void TaskStamps::Submitted(const std::string& function_name) {
  submit_ns = MonotonicNanos();
  function = function_name;
}

void TaskStamps::Dispatched(proto::TaskRequest* request) {
  dispatch_ns = MonotonicNanos();
  request->set_record_timing(true);
}

void RecordTaskOutcome(int run, const TaskStamps& stamps, const std::string& actor_class,
                       const proto::TaskResult& result) {
  TaskRecord record;
  record.run = run;
  record.task_id = result.task_id();
  record.function = stamps.function;
  record.actor_class = actor_class;
  record.submit_ns = stamps.submit_ns;
  record.dispatch_ns = stamps.dispatch_ns;
  record.finish_ns = MonotonicNanos();
  if (result.has_timing()) {
    record.ran = true;
    record.start_ns = result.timing().start_ns();
    record.end_ns = result.timing().end_ns();
    record.worker_index = result.timing().worker_index();
    record.worker_pid = result.timing().worker_pid();
  }
  if (result.has_error()) {
    // A worker's report could say OK with an error set; it is an error all the same.
    record.code = result.error().code() != 0 ? result.error().code()
                                             : static_cast<int>(absl::StatusCode::kUnknown);
    record.message = result.error().message().substr(0, Timeline::kMaxMessageBytes + 1);
  }
  Timeline::Global().Record(std::move(record));
}

int NextTimelineRun() { return g_next_run.fetch_add(1, std::memory_order_relaxed); }

std::string JsonEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const unsigned char c = static_cast<unsigned char>(text[0]);
    if (c >= 0x80) {
      const size_t length = Utf8SequenceLength(text);
      if (length == 0) {
        out += "\\ufffd";
        text.remove_prefix(1);
      } else {
        out.append(text.data(), length);
        text.remove_prefix(length);
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    text.remove_prefix(1);
  }
  return out;
}

Timeline& Timeline::Global() {
  static Timeline* const timeline = new Timeline(&timeline_internal::g_recording);
  return *timeline;
}

absl::Status Timeline::Start(size_t max_tasks) {
  if (max_tasks == 0) {
    return absl::InvalidArgumentError("the timeline needs room for at least one task");
  }
  absl::MutexLock lock(&mu_);
  if (recording()) return absl::OkStatus();
  started_ = true;
  capacity_ = max_tasks;
  ring_.clear();
  ring_.shrink_to_fit();
  next_ = 0;
  dropped_ = 0;
  recording_->store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

void Timeline::Stop() {
  absl::MutexLock lock(&mu_);
  recording_->store(false, std::memory_order_relaxed);
}

void Timeline::Record(TaskRecord record) {
  if (record.message.size() > kMaxMessageBytes) {
    record.message.resize(kMaxMessageBytes);  // JsonEscape copes with a cut UTF-8 sequence
    record.message += "...";
  }
  absl::MutexLock lock(&mu_);
  if (!recording()) return;
  if (ring_.size() < capacity_) {
    ring_.push_back(std::move(record));
    return;
  }
  ring_[next_] = std::move(record);
  next_ = (next_ + 1) % capacity_;
  ++dropped_;
}

size_t Timeline::size() const {
  absl::MutexLock lock(&mu_);
  return ring_.size();
}

size_t Timeline::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

absl::StatusOr<std::string> Timeline::ToJson(int driver_pid) const {
  // A copy, oldest first, so that recording (the event thread) waits only for the copy
  // and not for the formatting.
  std::vector<TaskRecord> copy;
  size_t dropped;
  {
    absl::MutexLock lock(&mu_);
    if (!started_) {
      return absl::FailedPreconditionError(
          "no timeline was recorded: call unidist::StartTimeline() first");
    }
    copy.reserve(ring_.size());
    for (size_t i = 0; i < ring_.size(); ++i) copy.push_back(ring_[(next_ + i) % ring_.size()]);
    dropped = dropped_;
  }
  std::vector<const TaskRecord*> records;
  records.reserve(copy.size());
  for (const TaskRecord& record : copy) records.push_back(&record);

  // One row per worker process that ran a task. Thread ids are the workers' pids where
  // they are unique in this trace (a pid may be reused by a later worker).
  std::map<RowKey, Row> rows;
  for (const TaskRecord* record : records) {
    if (record->ran) {
      rows[{record->run, !record->actor_class.empty(), record->worker_index, record->worker_pid}];
    }
  }
  absl::flat_hash_set<int> tids_used = {driver_pid};
  int next_synthetic_tid = 1 << 30;
  for (auto& [key, row] : rows) {
    row.tid = tids_used.insert(key.worker_pid).second ? key.worker_pid : next_synthetic_tid++;
  }
  for (const TaskRecord* record : records) {
    if (!record->ran || record->actor_class.empty()) continue;
    Row& row = rows[{record->run, true, record->worker_index, record->worker_pid}];
    if (row.name.empty()) {
      row.name = absl::StrFormat("actor %s (worker %d, pid %d)", record->actor_class,
                                 record->worker_index, record->worker_pid);
    }
  }

  std::string json = absl::StrFormat(
      "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"unidist-cpp\","
      "\"clock\":\"CLOCK_MONOTONIC\",\"tasks\":%d,\"tasks_dropped\":%d},\n\"traceEvents\":[\n",
      records.size(), dropped);
  // Every event, metadata included, goes through here: a comma between two, none after
  // the last (a trace of no task is still valid JSON).
  bool first_event = true;
  auto append_event = [&json, &first_event](std::string event) {
    if (!first_event) json += ",\n";
    first_event = false;
    json += event;
  };
  // Metadata: the trace process, the driver's row, then the workers' rows in order.
  auto append_metadata = [&append_event, driver_pid](int tid, absl::string_view kind,
                                                     const std::string& args) {
    // "cat" as Chrome writes it: some readers expect every event to have one.
    append_event(absl::StrFormat(
        "{\"name\":\"%s\",\"cat\":\"__metadata\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":%s}",
        kind, driver_pid, tid, args));
  };
  append_metadata(driver_pid, "process_name",
                  absl::StrFormat("{\"name\":\"unidist (driver pid %d)\"}", driver_pid));
  append_metadata(driver_pid, "thread_name", "{\"name\":\"driver\"}");
  append_metadata(driver_pid, "thread_sort_index", "{\"sort_index\":0}");
  // Rows of several runs (Init, Shutdown, Init) say which run they belong to.
  const bool several_runs = !rows.empty() && rows.begin()->first.run != rows.rbegin()->first.run;
  int sort_index = 1;
  for (auto& [key, row] : rows) {
    if (row.name.empty()) {
      row.name = absl::StrFormat("worker %d (pid %d)", key.worker_index, key.worker_pid);
    }
    if (several_runs) row.name = absl::StrCat("run ", key.run, ": ", row.name);
    append_metadata(row.tid, "thread_name",
                    absl::StrCat("{\"name\":\"", JsonEscape(row.name), "\"}"));
    append_metadata(row.tid, "thread_sort_index",
                    absl::StrFormat("{\"sort_index\":%d}", sort_index++));
  }

  for (const TaskRecord* record : records) {
    const std::string function = JsonEscape(record->function);
    const std::string ids =
        absl::StrFormat("\"task_id\":%d,\"run\":%d", record->task_id, record->run);
    auto instant = [&](absl::string_view what, int64_t ns, const std::string& extra_args) {
      return absl::StrFormat(
          "{\"name\":\"%s %s\",\"cat\":\"driver\",\"ph\":\"i\",\"s\":\"t\",\"ts\":%s,"
          "\"pid\":%d,\"tid\":%d,\"args\":{%s%s}}",
          what, function, Micros(ns), driver_pid, driver_pid, ids, extra_args);
    };
    append_event(instant("submit", record->submit_ns, ""));
    if (record->dispatch_ns != 0) append_event(instant("dispatch", record->dispatch_ns, ""));
    const std::string outcome = JsonEscape(Outcome(*record));
    if (!record->ran) {
      append_event(instant(
          absl::StrCat("not run (",
                       absl::StatusCodeToString(static_cast<absl::StatusCode>(record->code)), "):"),
          record->finish_ns, absl::StrCat(",\"outcome\":\"", outcome, "\"")));
      continue;
    }
    const int tid =
        rows[{record->run, !record->actor_class.empty(), record->worker_index, record->worker_pid}]
            .tid;
    const int64_t dispatch_ns = record->dispatch_ns != 0 ? record->dispatch_ns : record->submit_ns;
    append_event(absl::StrFormat(
        "{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"ts\":%s,\"dur\":%s,\"pid\":%d,"
        "\"tid\":%d,\"args\":{%s,\"outcome\":\"%s\",\"waited_for_arguments_us\":%s,"
        "\"queued_us\":%s,\"returned_us\":%s}}",
        function, record->actor_class.empty() ? "task" : "actor", Micros(record->start_ns),
        Micros(std::max<int64_t>(0, record->end_ns - record->start_ns)), driver_pid, tid, ids,
        outcome, Micros(std::max<int64_t>(0, dispatch_ns - record->submit_ns)),
        Micros(std::max<int64_t>(0, record->start_ns - dispatch_ns)),
        Micros(std::max<int64_t>(0, record->finish_ns - record->end_ns))));
  }
  json += "\n]}\n";
  return json;
}

absl::Status Timeline::Write(const std::string& path) const {
  absl::StatusOr<std::string> json = ToJson(static_cast<int>(getpid()));
  if (!json.ok()) return json.status();
  const std::string temporary = absl::StrCat(path, ".tmp", getpid());
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot write the timeline to ", temporary));
  }
  absl::string_view left = *json;
  while (!left.empty()) {
    const ssize_t written = write(fd, left.data(), left.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) {
      const int error = errno;
      close(fd);
      unlink(temporary.c_str());
      return absl::ErrnoToStatus(error, absl::StrCat("cannot write the timeline to ", temporary));
    }
    left.remove_prefix(static_cast<size_t>(written));
  }
  if (close(fd) != 0 || rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    unlink(temporary.c_str());
    return absl::ErrnoToStatus(error, absl::StrCat("cannot write the timeline to ", path));
  }
  return absl::OkStatus();
}

}  // namespace unidist::api_internal
