// Copyright 2026 The unidist-cpp Authors.
//
// Timeline: the recording behind unidist::StartTimeline and unidist::WriteTimeline.
//
// The runtime hands over one TaskRecord per task outcome it receives from the worker pool
// (Record): when the task was submitted and dispatched (the driver's clock), when it
// started and ended on its worker (the worker's clock), where it ran and how it ended.
// Timeline keeps the latest `max_tasks` records in a ring and turns them into Chrome trace
// JSON (the Trace Event Format, which Perfetto and chrome://tracing open):
//   * one row (trace "thread") per worker process, plus one for the driver, all in one
//     trace "process", named and ordered by "M" metadata events;
//   * per task that ran, an "X" (complete) event on its worker's row, from start to end,
//     named after the function, with the task id, the outcome and the driver-side times
//     in its args; a task nested under a waiting one (see worker_loop.h) lies inside it;
//   * per task, "i" (instant) events "submit" and "dispatch" on the driver's row, and for
//     a task that ended without running (cancelled, worker died, shut down) an instant
//     naming its outcome.
//
// Clock: every time is CLOCK_MONOTONIC (common/monotonic_clock.h), which on Linux is one
// clock for the whole machine, so driver and worker times line up. A backend whose
// workers run on other machines (MPI across hosts) gives worker times that do not compare
// with the driver's.
//
// Cost: when not recording, the runtime pays one relaxed atomic load per task
// (TimelineRecording) and the workers nothing. When recording, a clock read and a string
// copy per task in the driver, two clock reads per task in the worker, and about 20 bytes
// more per result message.
//
// Memory: at most `max_tasks` records of about 100 bytes each, plus, for a failed task,
// its error message cut to kMaxMessageBytes. Older records are dropped (and counted).
//
// Thread-safe.

#ifndef UNIDIST_API_INTERNAL_TIMELINE_H_
#define UNIDIST_API_INTERNAL_TIMELINE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/worker_protocol.pb.h"

namespace unidist::api_internal {

namespace timeline_internal {
// Whether the process-wide timeline records. Constant-initialized, so reading it is safe
// at any time, even during static initialization.
extern std::atomic<bool> g_recording;
}  // namespace timeline_internal

// True while the process-wide timeline (Timeline::Global) records. The one check the task
// path makes when the timeline is off.
inline bool TimelineRecording() {
  return timeline_internal::g_recording.load(std::memory_order_relaxed);
}

// A number for each Runtime of the process (1, 2, ... for Init, Shutdown, Init, ...):
// task ids start again with each runtime, so the timeline shows both.
int NextTimelineRun();

// The driver's times of one task, kept with it from Submit to its outcome. submit_ns == 0
// means the timeline was not recording when the task was submitted: such a task is not
// recorded, even if recording starts before it is dispatched.
struct TaskStamps {
  int64_t submit_ns = 0;
  int64_t dispatch_ns = 0;
  std::string function;

  // At Submit, while TimelineRecording().
  void Submitted(const std::string& function_name);
  // When the task is handed to the worker pool: stamps the time and asks the worker for
  // its times. Only for a task stamped by Submitted.
  void Dispatched(proto::TaskRequest* request);
};

// What the runtime knows about one task outcome.
struct TaskRecord {
  int run = 0;  // NextTimelineRun() of the runtime that ran it
  uint64_t task_id = 0;
  std::string function;     // the registered name
  std::string actor_class;  // for an actor's call: the actor's class; else empty
  // Driver's clock: Submit (or the actor call) was made; the arguments were complete and
  // the task was handed to the worker pool; the driver received this outcome.
  int64_t submit_ns = 0;
  int64_t dispatch_ns = 0;
  int64_t finish_ns = 0;
  // Worker's clock, when it ran: start and end of the function. ran == false for a task
  // that never started (cancelled, shut down) or whose worker died under it.
  bool ran = false;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  int worker_index = -1;
  int worker_pid = -1;
  // The outcome: its code, and for an error its message.
  int code = 0;  // an absl::StatusCode
  std::string message;
};

class Timeline {
 public:
  // Records kept by default, and the longest error message kept per record.
  static constexpr size_t kDefaultMaxTasks = 100'000;
  static constexpr size_t kMaxMessageBytes = 256;

  // The process-wide timeline, whose state TimelineRecording() reports.
  static Timeline& Global();

  // A timeline of its own (for tests); `recording` is the flag it keeps up to date.
  explicit Timeline(std::atomic<bool>* recording) : recording_(recording) {}
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // Starts recording with room for `max_tasks` records, discarding what an earlier,
  // stopped recording kept. While recording already: OK, and nothing changes (the first
  // max_tasks stays). InvalidArgument for max_tasks == 0.
  absl::Status Start(size_t max_tasks);
  // Stops recording; what was recorded stays for ToJson/Write until the next Start.
  void Stop();
  bool recording() const { return recording_->load(std::memory_order_relaxed); }

  // Keeps `record` (only while recording), dropping the oldest one when full.
  void Record(TaskRecord record);

  // The records as Trace Event Format JSON (see the top of this file). `driver_pid` is
  // the trace's process id and the driver row's thread id. FailedPrecondition if Start
  // was never called.
  absl::StatusOr<std::string> ToJson(int driver_pid) const;
  // ToJson(getpid()) written to `path` (through a temporary file renamed over it, so a
  // reader never sees half a trace). The errno's status if it cannot be written.
  absl::Status Write(const std::string& path) const;

  // Records kept, and records dropped because the ring was full, since the last Start.
  size_t size() const;
  size_t dropped() const;

 private:
  std::atomic<bool>* const recording_;
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  size_t capacity_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<TaskRecord> ring_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;  // where the next record goes once the ring is full
  size_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

// Records in the global timeline the outcome `result` of the task stamped `stamps`, run by
// runtime number `run`; `actor_class` is the actor's class for an actor's call, else "".
void RecordTaskOutcome(int run, const TaskStamps& stamps, const std::string& actor_class,
                       const proto::TaskResult& result);

// `text` as the contents of a JSON string (without the quotes): quotes, backslashes and
// control characters escaped, and bytes that are not UTF-8 replaced by U+FFFD, so that
// any error message or function name gives valid JSON.
std::string JsonEscape(absl::string_view text);

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_TIMELINE_H_
