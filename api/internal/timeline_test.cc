// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/timeline.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/json.h"

namespace unidist::api_internal {
namespace {

using ::testing::HasSubstr;
using ::unidist::testing::Json;
using ::unidist::testing::ParseJson;

constexpr int kDriverPid = 100;

TaskRecord Ran(uint64_t task_id, const std::string& function, int worker_index, int pid,
               int64_t start_ns, int64_t end_ns) {
  TaskRecord record;
  record.run = 1;
  record.task_id = task_id;
  record.function = function;
  record.submit_ns = start_ns - 3000;
  record.dispatch_ns = start_ns - 2000;
  record.ran = true;
  record.start_ns = start_ns;
  record.end_ns = end_ns;
  record.finish_ns = end_ns + 1000;
  record.worker_index = worker_index;
  record.worker_pid = pid;
  return record;
}

// The trace, parsed, with its events by kind.
struct Trace {
  Json json;
  std::vector<const Json*> complete;        // "X"
  std::vector<const Json*> instant;         // "i"
  std::map<int, std::string> thread_names;  // tid -> name
};

Trace Parse(const Timeline& timeline) {
  Trace trace;
  absl::StatusOr<std::string> text = timeline.ToJson(kDriverPid);
  EXPECT_TRUE(text.ok()) << text.status();
  if (!text.ok()) return trace;
  absl::StatusOr<Json> json = ParseJson(*text);
  EXPECT_TRUE(json.ok()) << json.status() << "\n" << *text;
  if (!json.ok()) return trace;
  trace.json = *std::move(json);
  const Json* events = trace.json.Find("traceEvents");
  EXPECT_NE(events, nullptr);
  if (events == nullptr) return trace;
  for (const Json& event : events->array) {
    const std::string& phase = event.Find("ph")->string;
    EXPECT_EQ(event.Find("pid")->number, kDriverPid);  // one trace process
    if (phase == "X") trace.complete.push_back(&event);
    if (phase == "i") trace.instant.push_back(&event);
    if (phase == "M" && event.Find("name")->string == "thread_name") {
      trace.thread_names[static_cast<int>(event.Find("tid")->number)] =
          event.Find("args")->Find("name")->string;
    }
  }
  return trace;
}

TEST(TimelineTest, NothingToWriteBeforeStart) {
  std::atomic<bool> recording{false};
  Timeline timeline(&recording);
  timeline.Record(Ran(1, "f", 0, 200, 1000, 2000));  // not recording: ignored
  EXPECT_EQ(timeline.ToJson(kDriverPid).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(timeline.size(), 0u);
  EXPECT_EQ(timeline.Start(0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(recording.load());
}

// A timeline started with no task recorded is still a valid trace: the driver's row and
// nothing else (its last metadata event used to leave a trailing comma).
TEST(TimelineTest, AnEmptyTimelineIsValidJson) {
  std::atomic<bool> recording{false};
  Timeline timeline(&recording);
  ASSERT_TRUE(timeline.Start(10).ok());
  Trace trace = Parse(timeline);
  EXPECT_EQ(trace.thread_names[kDriverPid], "driver");
  EXPECT_TRUE(trace.complete.empty());
  EXPECT_TRUE(trace.instant.empty());
}

TEST(TimelineTest, OneSlicePerTaskOnItsWorkersRow) {
  std::atomic<bool> recording{false};
  Timeline timeline(&recording);
  ASSERT_TRUE(timeline.Start(10).ok());
  EXPECT_TRUE(recording.load());
  timeline.Record(Ran(1, "ns::Square", 0, 200, 10'000, 25'500));
  timeline.Record(Ran(2, "ns::Square", 1, 201, 11'000, 12'000));
  // Nested under task 1 on worker 0: inside its slice.
  timeline.Record(Ran(3, "ns::Inner", 0, 200, 12'000, 13'000));
  TaskRecord actor_call = Ran(4, "Counter::Add", 2, 202, 14'000, 15'000);
  actor_call.actor_class = "Counter";
  timeline.Record(actor_call);

  Trace trace = Parse(timeline);
  EXPECT_EQ(trace.thread_names[kDriverPid], "driver");
  EXPECT_EQ(trace.thread_names[200], "worker 0 (pid 200)");
  EXPECT_EQ(trace.thread_names[201], "worker 1 (pid 201)");
  EXPECT_EQ(trace.thread_names[202], "actor Counter (worker 2, pid 202)");
  ASSERT_EQ(trace.complete.size(), 4u);
  std::map<double, const Json*> by_task;
  for (const Json* event : trace.complete)
    by_task[event->Find("args")->Find("task_id")->number] = event;
  ASSERT_EQ(by_task.size(), 4u);
  EXPECT_EQ(by_task[1]->Find("name")->string, "ns::Square");
  EXPECT_EQ(by_task[1]->Find("tid")->number, 200);
  EXPECT_EQ(by_task[1]->Find("ts")->number, 10.0);  // microseconds
  EXPECT_EQ(by_task[1]->Find("dur")->number, 15.5);
  EXPECT_EQ(by_task[1]->Find("args")->Find("outcome")->string, "OK");
  EXPECT_EQ(by_task[1]->Find("args")->Find("waited_for_arguments_us")->number, 1.0);
  EXPECT_EQ(by_task[1]->Find("args")->Find("queued_us")->number, 2.0);
  EXPECT_EQ(by_task[1]->Find("args")->Find("returned_us")->number, 1.0);
  EXPECT_EQ(by_task[2]->Find("tid")->number, 201);
  EXPECT_EQ(by_task[3]->Find("tid")->number, 200);
  EXPECT_EQ(by_task[3]->Find("name")->string, "ns::Inner");
  EXPECT_EQ(by_task[4]->Find("tid")->number, 202);
  EXPECT_EQ(by_task[4]->Find("cat")->string, "actor");
  // Submit and dispatch of each task on the driver's row.
  EXPECT_EQ(trace.instant.size(), 8u);
  for (const Json* event : trace.instant) {
    EXPECT_EQ(event->Find("tid")->number, kDriverPid);
    EXPECT_EQ(event->Find("s")->string, "t");
  }
}

TEST(TimelineTest, ATaskThatDidNotRunIsAnInstantWithItsOutcome) {
  std::atomic<bool> recording{false};
  Timeline timeline(&recording);
  ASSERT_TRUE(timeline.Start(10).ok());
  TaskRecord died;
  died.run = 1;
  died.task_id = 7;
  died.function = "Crash";
  died.submit_ns = 1000;
  died.dispatch_ns = 2000;
  died.finish_ns = 9000;
  died.code = static_cast<int>(absl::StatusCode::kUnavailable);
  died.message = "worker 0 (pid 5) died: \"killed\" by signal 9\n\xff";
  timeline.Record(died);
  Trace trace = Parse(timeline);
  EXPECT_TRUE(trace.complete.empty());
  ASSERT_EQ(trace.instant.size(), 3u);
  const Json* outcome = trace.instant[2];
  EXPECT_EQ(outcome->Find("name")->string, "not run (UNAVAILABLE): Crash");
  EXPECT_EQ(outcome->Find("ts")->number, 9.0);
  EXPECT_EQ(outcome->Find("args")->Find("outcome")->string,
            "UNAVAILABLE: worker 0 (pid 5) died: \"killed\" by signal 9\n\xef\xbf\xbd");
}

TEST(TimelineTest, KeepsTheLatestRecordsAndCountsTheDropped) {
  std::atomic<bool> recording{false};
  Timeline timeline(&recording);
  ASSERT_TRUE(timeline.Start(2).ok());
  for (uint64_t id = 1; id <= 5; ++id)
    timeline.Record(Ran(id, "f", 0, 200, id * 10'000, id * 10'000 + 1));
  EXPECT_EQ(timeline.size(), 2u);
  EXPECT_EQ(timeline.dropped(), 3u);
  Trace trace = Parse(timeline);
  ASSERT_EQ(trace.complete.size(), 2u);
  EXPECT_EQ(trace.complete[0]->Find("args")->Find("task_id")->number, 4);
  EXPECT_EQ(trace.complete[1]->Find("args")->Find("task_id")->number, 5);
  EXPECT_EQ(trace.json.Find("otherData")->Find("tasks_dropped")->number, 3);
}

TEST(TimelineTest, StartWhileRecordingChangesNothingAndStartAfterStopBeginsAgain) {
  std::atomic<bool> recording{false};
  Timeline timeline(&recording);
  ASSERT_TRUE(timeline.Start(1).ok());
  timeline.Record(Ran(1, "f", 0, 200, 1000, 2000));
  ASSERT_TRUE(timeline.Start(100).ok());  // no change: still room for one
  timeline.Record(Ran(2, "f", 0, 200, 3000, 4000));
  EXPECT_EQ(timeline.size(), 1u);
  EXPECT_EQ(timeline.dropped(), 1u);

  timeline.Stop();
  EXPECT_FALSE(recording.load());
  timeline.Record(Ran(3, "f", 0, 200, 5000, 6000));  // stopped: ignored
  EXPECT_EQ(Parse(timeline).complete.size(), 1u);    // what was recorded stays

  ASSERT_TRUE(timeline.Start(100).ok());
  EXPECT_EQ(timeline.size(), 0u);
  EXPECT_EQ(timeline.dropped(), 0u);
}

TEST(TimelineTest, RowsStayDistinctWhenPidsRepeat) {
  std::atomic<bool> recording{false};
  Timeline timeline(&recording);
  ASSERT_TRUE(timeline.Start(10).ok());
  timeline.Record(Ran(1, "f", 0, 300, 1000, 2000));
  TaskRecord second_run = Ran(1, "f", 1, 300, 3000, 4000);  // pid 300 reused by a later worker
  second_run.run = 2;
  timeline.Record(second_run);
  timeline.Record(Ran(2, "f", 0, kDriverPid, 5000, 6000));  // cannot happen; still no clash
  Trace trace = Parse(timeline);
  ASSERT_EQ(trace.complete.size(), 3u);
  std::set<double> tids;
  for (const Json* event : trace.complete) tids.insert(event->Find("tid")->number);
  EXPECT_EQ(tids.size(), 3u);
  EXPECT_EQ(tids.count(kDriverPid), 0u);
  EXPECT_EQ(trace.thread_names.size(), 4u);  // the driver and three workers
  EXPECT_THAT(trace.thread_names[static_cast<int>(trace.complete[1]->Find("tid")->number)],
              HasSubstr("run 2"));
}

TEST(TimelineTest, EscapesAnyTextIntoValidJson) {
  const std::string nasty("q\"b\\s/\x01\x1f\x7f\n\t\xc3\xa9\xed\xa0\x80\xf0\x9f\x98", 19);
  absl::StatusOr<Json> parsed = ParseJson("\"" + JsonEscape(nasty) + "\"");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->string,
            "q\"b\\s/\x01\x1f\x7f\n\t\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
            "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

}  // namespace
}  // namespace unidist::api_internal
