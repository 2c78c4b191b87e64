// Copyright 2026 The unidist-cpp Authors.
//
// The observability features end to end, with real worker processes: the timeline
// (StartTimeline/WriteTimeline, Options::timeline), workers' glog lines in the driver's
// stderr, and the progress bar of Wait/Get (ShowProgress) on a pty and on a pipe.
//
// main() initializes glog to log to files, as a program that sets up glog would: that is
// the case in which a worker's LOG(INFO) would not reach the driver's stderr by itself.

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/json.h"
#include "unidist/testing/pseudo_terminal.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace obs_test {

int Pid(int) { return static_cast<int>(getpid()); }
int Inner(int x) { return x + 1; }
int Outer(int x) {
  absl::StatusOr<int> inner = unidist::Get(unidist::Submit(Inner, x));
  return inner.ok() ? *inner : -1;
}
absl::Status Fails() { return absl::InvalidArgumentError("bad input on purpose"); }
int LogLines(int marker) {
  LOG(WARNING) << "obs-warning-" << marker;
  LOG(INFO) << "obs-info-" << marker;
  return static_cast<int>(getpid());
}
int TryStartTimeline() { return static_cast<int>(unidist::StartTimeline().code()); }
// StopTimeline returns no status: inside a task it must do nothing.
int TryStopTimeline() {
  unidist::StopTimeline();
  return 0;
}

class PidActor {
 public:
  int Pid() { return static_cast<int>(getpid()); }
};
UNIDIST_ACTOR(PidActor);

}  // namespace obs_test

UNIDIST_REMOTE(obs_test::Pid, obs_test::Inner, obs_test::Outer, obs_test::Fails, obs_test::LogLines,
               obs_test::TryStartTimeline, obs_test::TryStopTimeline);
UNIDIST_REMOTE(&obs_test::PidActor::Pid);

namespace unidist {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAreArray;
using ::unidist::testing::Json;
using ::unidist::testing::ParseJson;

std::string TempPath(const std::string& name) {
  const char* dir = getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A written timeline, parsed.
struct Trace {
  std::map<int, std::string> rows;        // tid -> thread name
  std::vector<const Json*> slices;        // "X" events
  std::map<double, double> submitted_at;  // task id -> ts of its "submit" instant (last run)
  Json json;

  std::vector<const Json*> SlicesNamed(const std::string& name) const {
    std::vector<const Json*> found;
    for (const Json* slice : slices) {
      if (slice->Find("name")->string == name) found.push_back(slice);
    }
    return found;
  }
  const std::string& RowOf(const Json* event) const {
    return rows.at(static_cast<int>(event->Find("tid")->number));
  }
  // The pid a row's name gives: "worker 0 (pid 123)", "actor C (worker 2, pid 123)".
  int PidOfRow(const Json* event) const {
    const std::string& name = RowOf(event);
    const size_t at = name.rfind("pid ");
    return at == std::string::npos ? -1 : atoi(name.c_str() + at + 4);
  }
};

// Parses the file into `trace` (whose events point into it); fails the test if it does
// not parse or lacks the structure every trace has.
void LoadTrace(const std::string& path, Trace* trace) {
  absl::StatusOr<Json> json = ParseJson(ReadFile(path));
  ASSERT_TRUE(json.ok()) << json.status();
  trace->json = *std::move(json);
  const Json* events = trace->json.Find("traceEvents");
  ASSERT_NE(events, nullptr);
  ASSERT_EQ(events->kind, Json::Kind::kArray);
  for (const Json& event : events->array) {
    for (const char* field : {"name", "ph", "pid", "tid"}) {
      ASSERT_NE(event.Find(field), nullptr) << field;
    }
    ASSERT_EQ(event.Find("pid")->number, getpid());
    const std::string& phase = event.Find("ph")->string;
    if (phase == "M") {
      if (event.Find("name")->string == "thread_name") {
        trace->rows[static_cast<int>(event.Find("tid")->number)] =
            event.Find("args")->Find("name")->string;
      }
      continue;
    }
    ASSERT_NE(event.Find("ts"), nullptr);
    if (phase == "X") {
      ASSERT_NE(event.Find("dur"), nullptr);
      EXPECT_GE(event.Find("dur")->number, 0);  // start <= end
      trace->slices.push_back(&event);
    } else if (phase == "i" && absl::StartsWith(event.Find("name")->string, "submit ")) {
      trace->submitted_at[event.Find("args")->Find("task_id")->number] = event.Find("ts")->number;
    }
  }
  EXPECT_EQ(trace->rows[getpid()], "driver");
  for (const Json* slice : trace->slices) {
    EXPECT_EQ(trace->rows.count(static_cast<int>(slice->Find("tid")->number)), 1u)
        << "a slice on a row without a name";
  }
}

class TimelineTest : public testing::UnidistTest {
 protected:
  void TearDown() override {
    StopTimeline();
    UnidistTest::TearDown();
  }
};

TEST_F(TimelineTest, OneSlicePerTaskOnTheRowOfTheWorkerThatRanIt) {
  UNIDIST_ASSERT_OK(StartTimeline());
  std::vector<ObjectRef<int>> refs;
  for (int i = 0; i < 8; ++i) refs.push_back(Submit(obs_test::Pid, i));
  absl::StatusOr<std::vector<int>> pids = Get(refs);
  ASSERT_TRUE(pids.ok()) << pids.status();
  Actor<obs_test::PidActor> actor = CreateActor<obs_test::PidActor>();
  ObjectRef<int> first_call = actor.Submit(&obs_test::PidActor::Pid);
  ObjectRef<int> second_call = actor.Submit(&obs_test::PidActor::Pid);
  absl::StatusOr<int> actor_pid = Get(second_call);
  ASSERT_TRUE(actor_pid.ok()) << actor_pid.status();
  UNIDIST_ASSERT_OK(Get(first_call).status());
  EXPECT_EQ(Get(Submit(obs_test::Fails)).code(), absl::StatusCode::kInvalidArgument);

  const std::string path = TempPath("one_slice_per_task.json");
  UNIDIST_ASSERT_OK(WriteTimeline(path));
  Trace trace;
  ASSERT_NO_FATAL_FAILURE(LoadTrace(path, &trace));

  std::vector<const Json*> tasks = trace.SlicesNamed("obs_test::Pid");
  ASSERT_EQ(tasks.size(), 8u);
  std::vector<int> row_pids;
  for (const Json* task : tasks) {
    row_pids.push_back(trace.PidOfRow(task));
    EXPECT_THAT(trace.RowOf(task), StartsWith("worker "));
    EXPECT_EQ(task->Find("args")->Find("outcome")->string, "OK");
    // The worker's clock and the driver's are one: a task starts after its submit.
    const double task_id = task->Find("args")->Find("task_id")->number;
    ASSERT_EQ(trace.submitted_at.count(task_id), 1u);
    EXPECT_GE(task->Find("ts")->number, trace.submitted_at[task_id]);
  }
  EXPECT_THAT(row_pids, UnorderedElementsAreArray(*pids));

  std::vector<const Json*> calls = trace.SlicesNamed("obs_test::PidActor::Pid");
  ASSERT_EQ(calls.size(), 2u);
  for (const Json* call : calls) {
    EXPECT_THAT(trace.RowOf(call), StartsWith("actor PidActor "));
    EXPECT_EQ(trace.PidOfRow(call), *actor_pid);
    EXPECT_EQ(call->Find("cat")->string, "actor");
  }
  EXPECT_LE(calls[0]->Find("ts")->number, calls[1]->Find("ts")->number);  // in order

  std::vector<const Json*> failed = trace.SlicesNamed("obs_test::Fails");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0]->Find("args")->Find("outcome")->string,
            "INVALID_ARGUMENT: bad input on purpose");
}

class NestedTimelineTest : public testing::UnidistTest {
 protected:
  NestedTimelineTest() : UnidistTest(/*num_workers=*/1) {}
  void TearDown() override {
    StopTimeline();
    UnidistTest::TearDown();
  }
};

TEST_F(NestedTimelineTest, ANestedTaskLiesInsideTheTaskThatWaitsForIt) {
  UNIDIST_ASSERT_OK(StartTimeline());
  // One worker: Inner runs on it while Outer waits there for Inner's result.
  absl::StatusOr<int> outer_result = Get(Submit(obs_test::Outer, 1));
  ASSERT_TRUE(outer_result.ok()) << outer_result.status();
  EXPECT_EQ(*outer_result, 2);
  const std::string path = TempPath("nested.json");
  UNIDIST_ASSERT_OK(WriteTimeline(path));
  Trace trace;
  ASSERT_NO_FATAL_FAILURE(LoadTrace(path, &trace));
  std::vector<const Json*> outer = trace.SlicesNamed("obs_test::Outer");
  std::vector<const Json*> inner = trace.SlicesNamed("obs_test::Inner");
  ASSERT_EQ(outer.size(), 1u);
  ASSERT_EQ(inner.size(), 1u);
  EXPECT_EQ(outer[0]->Find("tid")->number, inner[0]->Find("tid")->number);
  const double outer_start = outer[0]->Find("ts")->number;
  const double inner_start = inner[0]->Find("ts")->number;
  // 0.001 us: the rounding of microsecond timestamps near 1e9 in a double.
  EXPECT_GE(inner_start, outer_start - 0.001);
  EXPECT_LE(inner_start + inner[0]->Find("dur")->number,
            outer_start + outer[0]->Find("dur")->number + 0.001);
}

TEST_F(TimelineTest, CannotBeStartedInsideATask) {
  absl::StatusOr<int> code = Get(Submit(obs_test::TryStartTimeline));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, static_cast<int>(absl::StatusCode::kFailedPrecondition));
}

// On the sequential backend the task runs in the driver's thread, where it could stop the
// driver's timeline: it must not.
TEST_F(TimelineTest, StopTimelineDoesNothingInsideATask) {
  UNIDIST_ASSERT_OK(StartTimeline());
  ASSERT_TRUE(Get(Submit(obs_test::TryStopTimeline)).ok());
  ASSERT_TRUE(Get(Submit(obs_test::Pid, 1)).ok());  // still recorded
  const std::string path = TempPath("stop_inside_a_task.json");
  UNIDIST_ASSERT_OK(WriteTimeline(path));
  Trace trace;
  ASSERT_NO_FATAL_FAILURE(LoadTrace(path, &trace));
  EXPECT_EQ(trace.SlicesNamed("obs_test::Pid").size(), 1u);
}

TEST_F(TimelineTest, WriteReportsAFileThatCannotBeWritten) {
  UNIDIST_ASSERT_OK(StartTimeline());
  EXPECT_EQ(WriteTimeline("/nonexistent-directory/timeline.json").code(),
            absl::StatusCode::kNotFound);
}

// Options::timeline: Init starts the timeline and every Shutdown writes it; recording
// goes on across Shutdown and Init.
TEST(TimelineOptionTest, EveryShutdownWritesEverythingRecordedSoFar) {
  const std::string path = TempPath("option.json");
  for (int run = 1; run <= 2; ++run) {
    Options options;
    options.num_workers = 1;
    options.timeline = path;
    UNIDIST_ASSERT_OK(Init(options));
    absl::StatusOr<int> pid = Get(Submit(obs_test::Pid, run));
    absl::Status shut_down = Shutdown();
    ASSERT_TRUE(pid.ok()) << pid.status();
    UNIDIST_ASSERT_OK(shut_down);
    Trace trace;
    ASSERT_NO_FATAL_FAILURE(LoadTrace(path, &trace));
    std::vector<const Json*> tasks = trace.SlicesNamed("obs_test::Pid");
    ASSERT_EQ(tasks.size(), static_cast<size_t>(run));
    EXPECT_EQ(trace.PidOfRow(tasks.back()), *pid);
    if (run == 2) {
      EXPECT_THAT(trace.RowOf(tasks.back()), StartsWith("run "));
    }
  }
  StopTimeline();
  EXPECT_THAT(testing::WaitForNoDescendants(absl::Seconds(5)), ::testing::IsEmpty());
}

// Runs `body` with this process's stderr going to a file; returns what was written.
template <typename Body>
std::string CaptureStderr(Body body) {
  const std::string path = TempPath("stderr.txt");
  fflush(stderr);
  const int saved = dup(STDERR_FILENO);
  const int file = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(file, STDERR_FILENO);
  close(file);
  body();
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  return ReadFile(path);
}

TEST(WorkerLoggingTest, AWorkersGlogLinesReachTheDriversStderrTaggedWithTheWorker) {
  UNIDIST_SKIP_UNLESS(testing::BackendTrait::kWorkerProcesses);
  absl::StatusOr<int> pid;
  absl::Status shut_down;
  const std::string output = CaptureStderr([&] {
    Options options;
    options.num_workers = 1;
    if (!Init(options).ok()) return;
    pid = Get(Submit(obs_test::LogLines, 42));
    shut_down = Shutdown();  // forwards whatever the worker wrote last
  });
  ASSERT_TRUE(pid.ok()) << pid.status() << "\n" << output;
  UNIDIST_ASSERT_OK(shut_down);
  // "(worker 0 pid P) W20261129 22:41:00.123456 P observability_test.cc:44] obs-warning-42"
  // (Plain string checks: std::regex trips GCC's -Wmaybe-uninitialized under ASan.)
  const std::string tag = absl::StrFormat("(worker 0 pid %d) ", *pid);
  const std::string thread = absl::StrFormat(" %d observability_test.cc:", *pid);
  for (const auto& [severity, message] :
       {std::pair<char, const char*>{'W', "] obs-warning-42"}, {'I', "] obs-info-42"}}) {
    bool found = false;
    for (absl::string_view line : absl::StrSplit(output, '\n')) {
      found = found || (absl::StartsWith(line, tag + severity) && absl::EndsWith(line, message) &&
                        absl::StrContains(line, thread));
    }
    EXPECT_TRUE(found) << tag << severity << "..." << thread << "..." << message << " not in:\n"
                       << output;
  }
  EXPECT_THAT(testing::WaitForNoDescendants(absl::Seconds(5)), ::testing::IsEmpty());
}

class ProgressTest : public testing::UnidistTest {};

TEST_F(ProgressTest, DrawsABarOnATerminal) {
  absl::StatusOr<std::unique_ptr<testing::PseudoTerminal>> terminal =
      testing::PseudoTerminal::Open();
  ASSERT_TRUE(terminal.ok()) << terminal.status();
  const int program_side = (*terminal)->program_side();
  std::vector<ObjectRef<int>> refs;
  for (int i = 0; i < 3; ++i) refs.push_back(Submit(obs_test::Pid, i));
  WaitResult<int> waited =
      Wait(refs, 3, absl::InfiniteDuration(), ShowProgress{"pids", program_side});
  EXPECT_EQ(waited.ready.size(), 3u);
  absl::StatusOr<std::vector<int>> values = Get(refs, ShowProgress("again", program_side));
  EXPECT_TRUE(values.ok()) << values.status();
  const std::string drawn = (*terminal)->ReadAvailable();
  EXPECT_THAT(drawn, HasSubstr("\rpids ["));
  EXPECT_THAT(drawn, HasSubstr("] 3/3"));
  EXPECT_THAT(drawn, HasSubstr("\ragain [########################################] 3/3"));
  EXPECT_EQ(std::count(drawn.begin(), drawn.end(), '\n'), 2) << drawn;  // one line each
}

// The paren forms, ShowProgress("fit"), mean what the brace forms, ShowProgress{"fit"}, do.
TEST(ShowProgressTest, ParenAndBraceFormsSetTheSameFields) {
  const ShowProgress defaults;
  EXPECT_EQ(defaults.label, "");
  EXPECT_EQ(defaults.fd, 2);
  EXPECT_EQ(defaults.refresh, absl::Milliseconds(200));
  EXPECT_EQ(ShowProgress().fd, defaults.fd);
  EXPECT_EQ(ShowProgress{}.refresh, defaults.refresh);

  const ShowProgress copy_list_initialized = {"fit"};  // as in Get(refs, {"fit"})
  for (const ShowProgress& labelled :
       {ShowProgress("fit"), ShowProgress{"fit"}, copy_list_initialized}) {
    EXPECT_EQ(labelled.label, "fit");
    EXPECT_EQ(labelled.fd, defaults.fd);
    EXPECT_EQ(labelled.refresh, defaults.refresh);
  }
  for (const ShowProgress& on_fd : {ShowProgress("fit", 7), ShowProgress{"fit", 7}}) {
    EXPECT_EQ(on_fd.label, "fit");
    EXPECT_EQ(on_fd.fd, 7);
    EXPECT_EQ(on_fd.refresh, defaults.refresh);
  }
  for (const ShowProgress& every_second :
       {ShowProgress("fit", 7, absl::Seconds(1)), ShowProgress{"fit", 7, absl::Seconds(1)}}) {
    EXPECT_EQ(every_second.label, "fit");
    EXPECT_EQ(every_second.fd, 7);
    EXPECT_EQ(every_second.refresh, absl::Seconds(1));
  }
}

TEST_F(ProgressTest, SilentWhenNotATerminal) {
  int pipe_fds[2];
  ASSERT_EQ(pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), 0);
  std::vector<ObjectRef<int>> refs;
  for (int i = 0; i < 3; ++i) refs.push_back(Submit(obs_test::Pid, i));
  WaitResult<int> waited =
      Wait(refs, 3, absl::InfiniteDuration(), ShowProgress{"pids", pipe_fds[1]});
  EXPECT_EQ(waited.ready.size(), 3u);
  EXPECT_TRUE(Get(refs, ShowProgress{"again", pipe_fds[1]}).ok());
  char drawn;
  EXPECT_EQ(read(pipe_fds[0], &drawn, 1), -1);  // nothing written
  EXPECT_EQ(errno, EAGAIN);
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

}  // namespace
}  // namespace unidist

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  // Log to files, as a program that sets up glog does; see the top of the file.
  if (const char* dir = getenv("TEST_TMPDIR"); dir != nullptr) FLAGS_log_dir = dir;
  google::InitGoogleLogging(argv[0]);
  return RUN_ALL_TESTS();
}
