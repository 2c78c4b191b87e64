// Copyright 2026 The unidist-cpp Authors.

#include "benchmarks/unidist_workloads.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmarks/bench_tasks.h"
#include "benchmarks/floor.h"
#include "common/status_macros.h"
#include "unidist/unidist.h"

// mimalloc's heap walk, when the program runs on it (//benchmarks:compare_mimalloc links
// it): weak references, null on glibc's malloc (compare). A CMake build without
// libmimalloc-dev has no header, and runs on glibc's malloc.
#if __has_include(<mimalloc.h>)
#include <mimalloc.h>
#pragma weak mi_heap_get_default
#pragma weak mi_heap_visit_blocks
#define UNIDIST_BENCHMARKS_MAY_RUN_ON_MIMALLOC 1
#endif

namespace unidist::bench {
namespace {

bool RunsOnMimalloc() {
#ifdef UNIDIST_BENCHMARKS_MAY_RUN_ON_MIMALLOC
  return mi_heap_visit_blocks != nullptr;
#else
  return false;
#endif
}

using bench_tasks::AddPartitions;
using bench_tasks::CalibrateSpin;
using bench_tasks::Checksum;
using bench_tasks::ChecksumView;
using bench_tasks::Filled;
using bench_tasks::Increment;
using bench_tasks::MakeBytes;
using bench_tasks::Noop;
using bench_tasks::SleepMs;
using bench_tasks::Spin;
using bench_tasks::SumPartition;
using bench_tasks::TransformPartition;

// Largest message for the groups that move 1 GiB objects: a 1 GiB vector encodes to a
// few bytes more than 1 GiB, the default.
constexpr size_t kMaxMessageBytes = (size_t{1} << 31) - 1;

// What every group gets.
struct Context {
  const Workloads& w;
  absl::Time deadline;  // partitions, store, large: see RepetitionBudget
  Measurements* out;
};

// Keeps the repetitions of a slow workload within the time budget of the whole run:
// a repetition is started only if one as slow as the slowest so far would end before
// the deadline.
class RepetitionBudget {
 public:
  RepetitionBudget(absl::Time deadline, std::string metric, int reps)
      : deadline_(deadline), metric_(std::move(metric)), reps_(reps) {}

  // OK if repetition `rep` (0-based) may start; else DeadlineExceeded, saying how many
  // of the repetitions ran.
  absl::Status MayStart(int rep) const {
    if (absl::Now() + slowest_ <= deadline_) return absl::OkStatus();
    return absl::DeadlineExceededError(absl::StrCat(
        metric_, ": stopped after ", rep, " of ", reps_, " repetitions (each up to ",
        absl::FormatDuration(slowest_), "), to stay within the time budget; the machine is busy"));
  }
  // Records how long a repetition took.
  void Ran(double seconds) { slowest_ = std::max(slowest_, absl::Seconds(seconds)); }

 private:
  const absl::Time deadline_;
  const std::string metric_;
  const int reps_;
  absl::Duration slowest_;
};

// Ends the runtime when the group's scope ends, however it ends.
class ScopedRuntime {
 public:
  ScopedRuntime() = default;
  ~ScopedRuntime() { unidist::Shutdown().IgnoreError(); }
  ScopedRuntime(const ScopedRuntime&) = delete;
  ScopedRuntime& operator=(const ScopedRuntime&) = delete;

  absl::Status Start(int workers, size_t max_message_bytes = 0,
                     Options::Scheduling scheduling = Options::Scheduling::kRoundRobin,
                     size_t result_ring_bytes = Options::kNoResultRing) {
    Options options;
    options.num_workers = workers;
    options.max_message_bytes = max_message_bytes;
    options.scheduling = scheduling;
    options.result_ring_bytes = result_ring_bytes;
    return unidist::Init(options);
  }
};

absl::Status Expect(bool condition, absl::string_view what) {
  return condition ? absl::OkStatus() : absl::InternalError(absl::StrCat("wrong result: ", what));
}

void Log(const Measurements& out, const std::string& key) {
  const Summary s = Summarize(out.at(key));
  std::fprintf(stderr, "[unidist] %-36s %12.4g  (%.4g .. %.4g)\n", key.c_str(), s.median, s.min,
               s.max);
}

void Add(Measurements* out, const std::string& metric, double value) {
  (*out)["unidist/" + metric].push_back(value);
}

void LogAll(const Measurements& out, std::initializer_list<std::string> metrics) {
  for (const std::string& metric : metrics) {
    if (out.count("unidist/" + metric) > 0) Log(out, "unidist/" + metric);
  }
}

// unidist::Map over `count` trivial inputs, then gets them all.
absl::Status RunTrivialMap(int count) {
  std::vector<int> inputs(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) inputs[i] = i;
  std::vector<ObjectRef<int>> refs = Map(Noop, inputs);
  UNIDIST_ASSIGN_OR_RETURN(std::vector<int> values, Get(refs));
  return Expect(values.size() == inputs.size() && values.back() == count - 1, "map");
}

// Submits `count` trivial tasks, then gets them all; with `wait_first`, Waits for all of
// them before the Get.
absl::Status RunTrivialTasks(int count, bool wait_first = false) {
  std::vector<ObjectRef<int>> refs;
  refs.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) refs.push_back(Submit(Noop, i));
  if (wait_first && Wait(refs, count).ready.size() != refs.size()) {
    return absl::InternalError("Wait returned before every task was complete");
  }
  UNIDIST_ASSIGN_OR_RETURN(std::vector<int> values, Get(refs));
  return Expect(values.size() == refs.size() && values.back() == count - 1, "trivial tasks");
}

// Bytes the allocator has handed out and not had back: glibc's books (mallinfo2), or the
// blocks in use in this thread's mimalloc heap (where Put allocates).
size_t HeapInUse() {
#ifdef UNIDIST_BENCHMARKS_MAY_RUN_ON_MIMALLOC
  if (RunsOnMimalloc()) {
    size_t bytes = 0;
    mi_heap_visit_blocks(
        mi_heap_get_default(), /*visit_all_blocks=*/false,
        [](const mi_heap_t*, const mi_heap_area_t* area, void*, size_t, void* arg) {
          *static_cast<size_t*>(arg) += area->used * area->block_size;
          return true;
        },
        &bytes);
    return bytes;
  }
#endif
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

absl::Status MemoryGroup(const Context& context) {
  const Workloads& w = context.w;
  Measurements* out = context.out;
  for (int rep = 0; rep < w.reps; ++rep) {
    ScopedRuntime runtime;
    UNIDIST_RETURN_IF_ERROR(runtime.Start(w.workers));
    UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(100));
    UNIDIST_ASSIGN_OR_RETURN(ProcessMemory driver, ReadProcessMemory(getpid()));
    Add(out, "driver_rss_MiB", driver.rss / kMiB);
    double worker_rss = 0;
    double worker_private = 0;
    for (const WorkerInfo& worker : Workers()) {
      UNIDIST_ASSIGN_OR_RETURN(ProcessMemory memory, ReadProcessMemory(worker.pid));
      worker_rss = std::max(worker_rss, memory.rss / kMiB);
      worker_private = std::max(worker_private, memory.private_bytes / kMiB);
    }
    Add(out, "worker_rss_MiB", worker_rss);
    Add(out, "worker_private_MiB", worker_private);

    // The refs live in a vector written before the baseline is taken, so their own 32
    // bytes (the user's handles) are not counted; everything Put allocates is.
    const size_t n = static_cast<size_t>(w.small_objects);
    std::vector<ObjectRef<int>> refs(n);
    malloc_trim(0);
    UNIDIST_ASSIGN_OR_RETURN(ProcessMemory before, ReadProcessMemory(getpid()));
    const size_t heap_before = HeapInUse();
    Stopwatch watch;
    for (size_t i = 0; i < n; ++i) refs[i] = Put(static_cast<int>(i));
    Add(out, "put_small_us", watch.Seconds() * 1e6 / static_cast<double>(n));
    UNIDIST_ASSIGN_OR_RETURN(ProcessMemory after, ReadProcessMemory(getpid()));
    const size_t heap_after = HeapInUse();
    UNIDIST_RETURN_IF_ERROR(Expect(GetStats().live_objects >= n, "objects in the store"));
    const double payload = sizeof(int);
    // mimalloc keeps the pages earlier groups freed and reuses them, so the RSS delta
    // reads about nothing on it: there the allocator's own count is the measure.
    if (!RunsOnMimalloc()) {
      Add(out, "object_overhead_rss_B",
          (static_cast<double>(after.rss) - static_cast<double>(before.rss)) / n - payload);
    }
    Add(out, "object_overhead_heap_B",
        (static_cast<double>(heap_after) - static_cast<double>(heap_before)) / n - payload);
    refs.clear();
    refs.shrink_to_fit();
    malloc_trim(0);
  }
  LogAll(*out, {"driver_rss_MiB", "worker_rss_MiB", "worker_private_MiB", "put_small_us",
                "object_overhead_rss_B", "object_overhead_heap_B"});
  return absl::OkStatus();
}

absl::Status StartupGroup(const Context& context) {
  const Workloads& w = context.w;
  Measurements* out = context.out;
  for (int rep = 0; rep < w.short_reps; ++rep) {
    ScopedRuntime runtime;
    Stopwatch watch;
    UNIDIST_RETURN_IF_ERROR(runtime.Start(w.workers));
    UNIDIST_ASSIGN_OR_RETURN(int one, Get(Submit(Noop, 1)));
    Add(out, "init_first_result_ms", watch.Seconds() * 1e3);
    UNIDIST_RETURN_IF_ERROR(Expect(one == 1, "first result"));
    watch.Restart();
    UNIDIST_RETURN_IF_ERROR(unidist::Shutdown());
    Add(out, "shutdown_ms", watch.Seconds() * 1e3);
  }
  LogAll(*out, {"init_first_result_ms", "shutdown_ms"});
  return absl::OkStatus();
}

// w.short_reps times: w.latency_round_trips trivial Submit + Get round trips, one at a
// time; adds the µs a round trip to `key`.
absl::Status MeasureLatency(const Workloads& w, Measurements* out, const std::string& key) {
  for (int rep = 0; rep < w.short_reps; ++rep) {
    Stopwatch watch;
    for (int i = 0; i < w.latency_round_trips; ++i) {
      UNIDIST_ASSIGN_OR_RETURN(int value, Get(Submit(Noop, i)));
      UNIDIST_RETURN_IF_ERROR(Expect(value == i, "latency task"));
    }
    Add(out, key, watch.Seconds() * 1e6 / w.latency_round_trips);
  }
  return absl::OkStatus();
}

// w.reps times: w.throughput_tasks trivial tasks submitted, then gathered; adds the tasks
// a second to `key`.
absl::Status MeasureThroughput(const Workloads& w, Measurements* out, const std::string& key) {
  for (int rep = 0; rep < w.reps; ++rep) {
    Stopwatch watch;
    UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(w.throughput_tasks));
    Add(out, key, w.throughput_tasks / watch.Seconds());
  }
  return absl::OkStatus();
}

// Tasks a second when two threads each submit and gather half of `tasks` at once.
absl::StatusOr<double> TwoThreadThroughput(int tasks) {
  const int half = tasks / 2;
  absl::Status first, second;
  Stopwatch watch;
  std::thread other([&] { second = RunTrivialTasks(tasks - half); });
  first = RunTrivialTasks(half);
  other.join();
  const double seconds = watch.Seconds();
  UNIDIST_RETURN_IF_ERROR(first);
  UNIDIST_RETURN_IF_ERROR(second);
  return tasks / seconds;
}

absl::Status TasksGroup(const Context& context) {
  const Workloads& w = context.w;
  Measurements* out = context.out;
  ScopedRuntime runtime;
  UNIDIST_RETURN_IF_ERROR(runtime.Start(w.workers));
  UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(1000));  // warm-up

  // a. latency
  for (int i = 0; i < 200; ++i) UNIDIST_RETURN_IF_ERROR(Get(Submit(Noop, i)).status());
  UNIDIST_RETURN_IF_ERROR(MeasureLatency(w, out, "latency_us"));
  LogAll(*out, {"latency_us"});

  // b. throughput, from one driver thread and from two
  UNIDIST_RETURN_IF_ERROR(MeasureThroughput(w, out, "throughput_tasks_per_s"));
  LogAll(*out, {"throughput_tasks_per_s"});
  for (int rep = 0; rep < w.reps; ++rep) {
    Stopwatch watch;
    UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(w.throughput_tasks, /*wait_first=*/true));
    Add(out, "throughput_wait_all_tasks_per_s", w.throughput_tasks / watch.Seconds());
  }
  LogAll(*out, {"throughput_wait_all_tasks_per_s"});
  UNIDIST_RETURN_IF_ERROR(RunTrivialMap(1000));  // warm-up
  for (int rep = 0; rep < w.map_reps; ++rep) {
    Stopwatch watch;
    UNIDIST_RETURN_IF_ERROR(RunTrivialMap(w.throughput_tasks));
    Add(out, "map_tasks_per_s", w.throughput_tasks / watch.Seconds());
  }
  LogAll(*out, {"map_tasks_per_s"});
  for (int rep = 0; rep < w.reps; ++rep) {
    UNIDIST_ASSIGN_OR_RETURN(double per_s, TwoThreadThroughput(w.throughput_tasks));
    Add(out, "throughput_2threads_tasks_per_s", per_s);
  }
  LogAll(*out, {"throughput_2threads_tasks_per_s"});

  // c. a chain of dependent tasks
  for (int rep = 0; rep < w.reps; ++rep) {
    Stopwatch watch;
    ObjectRef<int> ref = Submit(Increment, 0);
    for (int i = 1; i < w.chain_length; ++i) ref = Submit(Increment, ref);
    UNIDIST_ASSIGN_OR_RETURN(int last, Get(ref));
    Add(out, "chain_us_per_task", watch.Seconds() * 1e6 / w.chain_length);
    UNIDIST_RETURN_IF_ERROR(Expect(last == w.chain_length, "end of the chain"));
  }
  LogAll(*out, {"chain_us_per_task"});

  // e. calls of one actor: one at a time, and all at once (Ray's 1:1 actor calls)
  Actor<bench_tasks::Tally> tally = CreateActor<bench_tasks::Tally>();
  UNIDIST_RETURN_IF_ERROR(Get(tally.Created()));
  int64_t total = 0;
  for (int rep = 0; rep < w.short_reps; ++rep) {
    Stopwatch watch;
    for (int i = 0; i < w.actor_sync_calls; ++i) {
      UNIDIST_ASSIGN_OR_RETURN(total, Get(tally.Submit(&bench_tasks::Tally::Add, 1)));
    }
    Add(out, "actor_sync_calls_per_s", w.actor_sync_calls / watch.Seconds());
  }
  for (int rep = 0; rep < w.reps; ++rep) {
    Stopwatch watch;
    std::vector<ObjectRef<int64_t>> calls;
    calls.reserve(w.actor_async_calls);
    for (int i = 0; i < w.actor_async_calls; ++i) {
      calls.push_back(tally.Submit(&bench_tasks::Tally::Add, 1));
    }
    UNIDIST_ASSIGN_OR_RETURN(std::vector<int64_t> totals, Get(calls));
    Add(out, "actor_async_calls_per_s", w.actor_async_calls / watch.Seconds());
    total = totals.back();
  }
  const int64_t expected =
      int64_t{w.short_reps} * w.actor_sync_calls + int64_t{w.reps} * w.actor_async_calls;
  UNIDIST_RETURN_IF_ERROR(Expect(total == expected, "the actor's total"));
  LogAll(*out, {"actor_sync_calls_per_s", "actor_async_calls_per_s"});

  // e. calls that wait, on one thread and on several (ActorOptions::max_concurrency)
  for (int threads : {1, w.actor_threads}) {
    ActorOptions options;
    options.max_concurrency = threads;
    Actor<bench_tasks::Waiter> waiter = CreateActor<bench_tasks::Waiter>(options);
    UNIDIST_RETURN_IF_ERROR(Get(waiter.Created()));
    const char* metric =
        threads == 1 ? "actor_waiting_calls_1thread_per_s" : "actor_waiting_calls_per_s";
    for (int rep = 0; rep < w.reps; ++rep) {
      Stopwatch watch;
      std::vector<ObjectRef<int>> calls;
      calls.reserve(w.actor_waiting_calls);
      for (int i = 0; i < w.actor_waiting_calls; ++i) {
        calls.push_back(waiter.Submit(&bench_tasks::Waiter::WaitMs, w.actor_wait_ms));
      }
      UNIDIST_RETURN_IF_ERROR(Get(calls).status());
      Add(out, metric, w.actor_waiting_calls / watch.Seconds());
    }
  }
  LogAll(*out, {"actor_waiting_calls_1thread_per_s", "actor_waiting_calls_per_s"});
  return absl::OkStatus();
}

// One long task, then short ones, all submitted at once; ms until all are done.
absl::StatusOr<double> UnevenMs(const Workloads& w) {
  Stopwatch watch;
  std::vector<ObjectRef<int>> refs;
  refs.push_back(Submit(SleepMs, w.uneven_long_ms));
  for (int i = 0; i < w.uneven_short_tasks; ++i) refs.push_back(Submit(SleepMs, w.uneven_short_ms));
  UNIDIST_RETURN_IF_ERROR(Get(refs).status());
  return watch.Seconds() * 1e3;
}

// The two scheduling policies (Options::scheduling): latency and throughput with
// least-loaded (round-robin is the tasks group), and uneven tasks with both.
// One process per CPU that does nothing but compute, as other users' jobs would, for the
// "under load" rows. Start it before Init: a process forked later would hold copies of
// the driver's sockets. Ends them (SIGKILL, reaped) when it goes out of scope.
class CpuHogs {
 public:
  CpuHogs() = default;
  CpuHogs(const CpuHogs&) = delete;
  CpuHogs& operator=(const CpuHogs&) = delete;
  ~CpuHogs() {
    for (pid_t pid : pids_) kill(pid, SIGKILL);
    for (pid_t pid : pids_) {
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }

  absl::Status Start(int count) {
    for (int i = 0; i < count; ++i) {
      const pid_t pid = fork();
      if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
      if (pid == 0) {
        // Only computation from here: no lock another thread of the parent held is touched.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (;;) {
          const uint64_t x = Spin(uint64_t{1} << 24);
          asm volatile("" : : "r"(x));
        }
      }
      pids_.push_back(pid);
    }
    return absl::OkStatus();
  }

 private:
  std::vector<pid_t> pids_;
};

// a. and b. again, with a CPU-bound process on every core beside the benchmark: how much
// of the quiet figures is left when the workers must be woken on busy CPUs.
absl::Status LoadedGroup(const Context& context) {
  const Workloads& w = context.w;
  Measurements* out = context.out;
  CpuHogs hogs;
  UNIDIST_RETURN_IF_ERROR(
      hogs.Start(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))));
  ScopedRuntime runtime;
  UNIDIST_RETURN_IF_ERROR(runtime.Start(w.workers));
  UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(1000));  // warm-up
  UNIDIST_RETURN_IF_ERROR(MeasureLatency(w, out, "loaded_latency_us"));
  UNIDIST_RETURN_IF_ERROR(MeasureThroughput(w, out, "loaded_throughput_tasks_per_s"));
  LogAll(*out, {"loaded_latency_us", "loaded_throughput_tasks_per_s"});
  return absl::OkStatus();
}

// a. and b. with result rings (Options::result_ring_bytes, 1 MiB): the pool workers'
// results come through shared memory instead of their sockets.
absl::Status RingsGroup(const Context& context) {
  const Workloads& w = context.w;
  Measurements* out = context.out;
  ScopedRuntime runtime;
  UNIDIST_RETURN_IF_ERROR(runtime.Start(w.workers, 0, Options::Scheduling::kRoundRobin, 1 << 20));
  UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(1000));  // warm-up
  UNIDIST_RETURN_IF_ERROR(MeasureLatency(w, out, "latency_ring_us"));
  UNIDIST_RETURN_IF_ERROR(MeasureThroughput(w, out, "throughput_ring_tasks_per_s"));
  for (int rep = 0; rep < w.reps; ++rep) {
    UNIDIST_ASSIGN_OR_RETURN(double per_s, TwoThreadThroughput(w.throughput_tasks));
    Add(out, "throughput_2threads_ring_tasks_per_s", per_s);
  }
  LogAll(*out, {"latency_ring_us", "throughput_ring_tasks_per_s",
                "throughput_2threads_ring_tasks_per_s"});
  return absl::OkStatus();
}

absl::Status SchedulingGroup(const Context& context) {
  const Workloads& w = context.w;
  Measurements* out = context.out;
  {
    ScopedRuntime runtime;
    UNIDIST_RETURN_IF_ERROR(runtime.Start(w.workers, 0, Options::Scheduling::kLeastLoaded));
    UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(1000));  // warm-up
    UNIDIST_RETURN_IF_ERROR(MeasureLatency(w, out, "latency_least_loaded_us"));
    UNIDIST_RETURN_IF_ERROR(MeasureThroughput(w, out, "throughput_least_loaded_tasks_per_s"));
    for (int rep = 0; rep < w.reps; ++rep) {
      UNIDIST_ASSIGN_OR_RETURN(double ms, UnevenMs(w));
      Add(out, "uneven_least_loaded_ms", ms);
    }
  }
  {
    ScopedRuntime runtime;
    UNIDIST_RETURN_IF_ERROR(runtime.Start(w.workers));
    UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(100));  // warm-up
    for (int rep = 0; rep < w.reps; ++rep) {
      UNIDIST_ASSIGN_OR_RETURN(double ms, UnevenMs(w));
      Add(out, "uneven_round_robin_ms", ms);
    }
  }
  LogAll(*out, {"latency_least_loaded_us", "throughput_least_loaded_tasks_per_s",
                "uneven_least_loaded_ms", "uneven_round_robin_ms"});
  return absl::OkStatus();
}

absl::Status LargeGroup(const Context& context) {
  const Workloads& w = context.w;
  Measurements* out = context.out;
  ScopedRuntime runtime;
  UNIDIST_RETURN_IF_ERROR(runtime.Start(w.workers, kMaxMessageBytes));
  UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(100));  // warm-up
  for (int rep = 0; rep < w.reps; ++rep) {
    Stopwatch watch;
    UNIDIST_ASSIGN_OR_RETURN(std::vector<uint8_t> value,
                             Get(Submit(MakeBytes, static_cast<uint64_t>(w.get_bytes))));
    Add(out, GetMetric(w.get_bytes), static_cast<double>(w.get_bytes) / watch.Seconds() / 1e9);
    UNIDIST_RETURN_IF_ERROR(
        Expect(value.size() == w.get_bytes && value.back() == 0x5a, "large result"));
  }
  LogAll(*out, {GetMetric(w.get_bytes)});
  // The zero-copy path first (ArrayView parameter), then the std::vector one, which
  // decodes a copy in the worker; the same sizes, the same deadline.
  for (const bool view : {true, false}) {
    for (size_t bytes : w.put_bytes) {
      std::vector<uint8_t> data(bytes);
      for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<uint8_t>(i);
      const uint64_t expected = bench_tasks::SumBytes(data.data(), data.size());
      const int reps = bytes <= kOneMiB ? w.short_reps : w.reps;
      const std::string metric = view ? PutViewTaskMetric(bytes) : PutTaskMetric(bytes);
      RepetitionBudget budget(context.deadline, metric, reps);
      for (int rep = 0; rep < reps; ++rep) {
        UNIDIST_RETURN_IF_ERROR(budget.MayStart(rep));
        Stopwatch watch;
        ObjectRef<std::vector<uint8_t>> ref = Put(data);
        UNIDIST_ASSIGN_OR_RETURN(
            uint64_t sum, view ? Get(Submit(ChecksumView, ref)) : Get(Submit(Checksum, ref)));
        const double seconds = watch.Seconds();
        Add(out, metric, static_cast<double>(bytes) / seconds / 1e9);
        budget.Ran(seconds);
        UNIDIST_RETURN_IF_ERROR(Expect(sum == expected, "checksum"));
        // The largest object once more, now that its segment exists: the task's read alone.
        if (view && bytes == w.put_bytes.back()) {
          watch.Restart();
          UNIDIST_ASSIGN_OR_RETURN(sum, Get(Submit(ChecksumView, ref)));
          Add(out, absl::StrCat("read_view_", SizeName(bytes), "_GBps"),
              static_cast<double>(bytes) / watch.Seconds() / 1e9);
          UNIDIST_RETURN_IF_ERROR(Expect(sum == expected, "checksum"));
        }
      }
      LogAll(*out, {metric});
      if (view && bytes == w.put_bytes.back()) {
        LogAll(*out, {absl::StrCat("read_view_", SizeName(bytes), "_GBps")});
      }
    }
  }
  // What the workers hold on to once the large objects are gone: their anonymous pages
  // (RssAnon). VmRSS would also count the pages of the shared-memory store that they
  // mapped and read, which belong to the store, not to them.
  double worker_rss_anon = 0;
  for (const WorkerInfo& worker : Workers()) {
    UNIDIST_ASSIGN_OR_RETURN(size_t rss_anon, ReadRssAnonBytes(worker.pid));
    worker_rss_anon = std::max(worker_rss_anon, rss_anon / kMiB);
  }
  Add(out, "worker_rss_anon_after_large_MiB", worker_rss_anon);
  LogAll(*out, {"worker_rss_anon_after_large_MiB"});
  return absl::OkStatus();
}

// Shmem (the machine's shared memory, the store's pages among them) plus the workers'
// anonymous resident pages (RssAnon): where copies of a large object can be.
absl::StatusOr<double> StoreAndWorkerBytes() {
  UNIDIST_ASSIGN_OR_RETURN(size_t shmem, ReadShmemBytes());
  double total = static_cast<double>(shmem);
  for (const WorkerInfo& worker : Workers()) {
    UNIDIST_ASSIGN_OR_RETURN(size_t rss_anon, ReadRssAnonBytes(worker.pid));
    total += static_cast<double>(rss_anon);
  }
  return total;
}

// The large-object goals, each measured alone, each repetition in a new session (so that
// the store's pages are new, as a program's first Put finds them):
//   * Put of a byte vector already in the driver's memory: the session's first (the store
//     touches its pages for the first time), then `store_steady_puts` more, each after
//     the previous object was freed (its pages are reused);
//   * `store_readers` tasks reading that first object at once (ArrayView parameter),
//     Submit to the last Get; and the memory that costs: the most that Shmem plus the
//     workers' RssAnon rose above their level before the Put while the tasks ran, in
//     copies of the object (the object itself is one);
//   * Get of a task result that is ready (Wait first), into a std::vector.
absl::Status StoreGroup(const Context& context) {
  const Workloads& w = context.w;
  Measurements* out = context.out;
  const size_t bytes = w.store_bytes;
  const std::string size = SizeName(bytes);
  std::vector<uint8_t> data(bytes);
  for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<uint8_t>(i);
  const uint64_t expected = bench_tasks::SumBytes(data.data(), data.size());
  const std::string put_first = absl::StrCat("put_alone_", size, "_first_GBps");
  const std::string put_steady = absl::StrCat("put_alone_", size, "_steady_GBps");
  const std::string readers = absl::StrCat("read_", size, "_by_", w.store_readers, "_tasks_s");
  const std::string copies = absl::StrCat("read_", size, "_by_", w.store_readers, "_copies");
  const std::string get_first = absl::StrCat("get_alone_", SizeName(w.get_bytes), "_first_GBps");
  const std::string get_steady = absl::StrCat("get_alone_", SizeName(w.get_bytes), "_steady_GBps");
  const std::string view_small = absl::StrCat("get_view_", SizeName(kOneMiB), "_us");
  const std::string view_result = absl::StrCat("get_view_", SizeName(w.get_bytes), "_us");
  const std::string view_large = absl::StrCat("get_view_", size, "_us");
  const std::string allocate_seal = absl::StrCat("allocate_seal_", size, "_us");
  RepetitionBudget budget(context.deadline, "store group", w.reps);
  for (int rep = 0; rep < w.reps; ++rep) {
    UNIDIST_RETURN_IF_ERROR(budget.MayStart(rep));
    Stopwatch repetition;
    ScopedRuntime runtime;
    UNIDIST_RETURN_IF_ERROR(runtime.Start(w.workers, kMaxMessageBytes));
    UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(100));  // warm-up

    UNIDIST_ASSIGN_OR_RETURN(const double memory_before, StoreAndWorkerBytes());
    Stopwatch watch;
    ObjectRef<std::vector<uint8_t>> ref = Put(data);
    Add(out, put_first, static_cast<double>(bytes) / watch.Seconds() / 1e9);
    // GetView reads it in place: constant time whatever the size.
    watch.Restart();
    {
      UNIDIST_ASSIGN_OR_RETURN(ObjectView<uint8_t> view, GetView(ref));
      Add(out, view_large, watch.Seconds() * 1e6);
      UNIDIST_RETURN_IF_ERROR(Expect(view.size() == bytes && view[bytes - 1] == data.back(),
                                     "GetView of the large object"));
    }

    watch.Restart();
    std::vector<ObjectRef<uint64_t>> sums;
    for (int i = 0; i < w.store_readers; ++i) sums.push_back(Submit(ChecksumView, ref));
    double most = 0;
    for (;;) {
      UNIDIST_ASSIGN_OR_RETURN(const double memory, StoreAndWorkerBytes());
      most = std::max(most, memory - memory_before);
      if (Wait(sums, w.store_readers, absl::Milliseconds(1)).not_ready.empty()) break;
    }
    UNIDIST_ASSIGN_OR_RETURN(std::vector<uint64_t> values, Get(sums));
    Add(out, readers, watch.Seconds());
    Add(out, copies, most / static_cast<double>(bytes));
    for (uint64_t value : values) UNIDIST_RETURN_IF_ERROR(Expect(value == expected, "checksum"));
    sums.clear();
    ref = {};

    for (int i = 0; i < w.store_steady_puts; ++i) {
      watch.Restart();
      ref = Put(data);
      Add(out, put_steady, static_cast<double>(bytes) / watch.Seconds() / 1e9);
      ref = {};
    }

    ObjectRef<std::vector<uint8_t>> result = Submit(MakeBytes, static_cast<uint64_t>(w.get_bytes));
    Wait(std::vector<ObjectRef<std::vector<uint8_t>>>{result});
    // The first Get fills memory this program has not used lately; the later ones, each
    // after the previous vector was freed, memory it freed a moment ago (as Put's steady
    // state reuses the store's pages). On VMs that hand freed memory back to the host
    // (free page reporting) the two differ by several times.
    for (int i = 0; i <= w.store_steady_puts; ++i) {
      watch.Restart();
      UNIDIST_ASSIGN_OR_RETURN(std::vector<uint8_t> value, Get(result));
      Add(out, i == 0 ? get_first : get_steady,
          static_cast<double>(w.get_bytes) / watch.Seconds() / 1e9);
      UNIDIST_RETURN_IF_ERROR(
          Expect(value.size() == w.get_bytes && value.back() == 0x5a, "large result"));
    }
    watch.Restart();
    {
      UNIDIST_ASSIGN_OR_RETURN(ObjectView<uint8_t> view, GetView(result));
      Add(out, view_result, watch.Seconds() * 1e6);
      UNIDIST_RETURN_IF_ERROR(Expect(view.size() == w.get_bytes, "GetView of the result"));
    }
    ObjectRef<std::vector<uint8_t>> small = Put(std::vector<uint8_t>(kOneMiB, 1));
    watch.Restart();
    {
      UNIDIST_ASSIGN_OR_RETURN(ObjectView<uint8_t> view, GetView(small));
      Add(out, view_small, watch.Seconds() * 1e6);
      UNIDIST_RETURN_IF_ERROR(Expect(view.size() == kOneMiB, "GetView of 1 MiB"));
    }
    // Create-then-seal: space in the store, then an object, with no copy (the elements
    // are left as the store had them; a program fills them in between).
    watch.Restart();
    {
      UNIDIST_ASSIGN_OR_RETURN(WritableArray<uint8_t> array, Allocate<uint8_t>(bytes));
      ObjectRef<std::vector<uint8_t>> sealed = Seal(std::move(array));
      Add(out, allocate_seal, watch.Seconds() * 1e6);
      UNIDIST_RETURN_IF_ERROR(Expect(GetView(sealed).ok(), "Allocate + Seal"));
    }
    budget.Ran(repetition.Seconds());
  }
  LogAll(*out, {put_first, put_steady, readers, copies, get_first, get_steady, view_small,
                view_result, view_large, allocate_seal});
  return absl::OkStatus();
}

// h. The partitioned workload, from the partitions in the driver's memory to the scalar
// in the driver: Put every partition and submit its transform at once, then the tree of
// pairwise sums on the transforms' refs, level by level (an odd partition out goes up a
// level as it is), then the sum of the last one. No partition passes through the driver
// between the steps. The first repetition finds the store's pages new; the others reuse
// them.
absl::Status PartitionsGroup(const Context& context) {
  const Workloads& w = context.w;
  Measurements* out = context.out;
  const size_t n = w.partition_bytes / sizeof(double);
  std::vector<std::vector<double>> partitions(static_cast<size_t>(w.partitions));
  for (size_t p = 0; p < partitions.size(); ++p) {
    partitions[p].resize(n);
    for (size_t i = 0; i < n; ++i) partitions[p][i] = static_cast<double>((p * n + i) % 1000);
  }
  const double expected = PartitionsExpectedSum(w);
  ScopedRuntime runtime;
  UNIDIST_RETURN_IF_ERROR(runtime.Start(w.workers));
  UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(100));  // warm-up
  RepetitionBudget budget(context.deadline, "partitions_s", w.reps);
  for (int rep = 0; rep < w.reps; ++rep) {
    UNIDIST_RETURN_IF_ERROR(budget.MayStart(rep));
    Stopwatch watch;
    std::vector<ObjectRef<std::vector<double>>> level;
    for (const std::vector<double>& partition : partitions) {
      level.push_back(Submit(TransformPartition, Put(partition)));
    }
    while (level.size() > 1) {
      std::vector<ObjectRef<std::vector<double>>> next;
      for (size_t i = 0; i + 1 < level.size(); i += 2) {
        next.push_back(Submit(AddPartitions, level[i], level[i + 1]));
      }
      if (level.size() % 2 == 1) next.push_back(level.back());
      level = std::move(next);
    }
    UNIDIST_ASSIGN_OR_RETURN(double sum, Get(Submit(SumPartition, level[0])));
    const double seconds = watch.Seconds();
    Add(out, "partitions_s", seconds);
    budget.Ran(seconds);
    UNIDIST_RETURN_IF_ERROR(
        Expect(sum == expected, absl::StrCat("partitions: sum ", sum, ", expected ", expected)));
  }
  LogAll(*out, {"partitions_s"});
  return absl::OkStatus();
}

// Each repetition runs the tasks on plain forked processes (the floor: what the machine
// offers right now, other users' load included), then on unidist-cpp, each with 1 and with
// `workers` processes, so that the runs compared see about the same load.
absl::Status ScalingGroup(const Context& context) {
  const Workloads& w = context.w;
  Measurements* out = context.out;
  const uint64_t iterations = CalibrateSpin(w.task_ms);
  const uint64_t expected = Spin(iterations);
  const auto spin_task = [iterations] {
    const uint64_t x = Spin(iterations);
    asm volatile("" : : "r"(x));
  };
  for (int rep = 0; rep < w.reps; ++rep) {
    double seconds[2];
    const int worker_counts[2] = {1, w.workers};
    for (int k = 0; k < 2; ++k) {
      UNIDIST_ASSIGN_OR_RETURN(seconds[k],
                               ForkedTasksSeconds(worker_counts[k], w.scaling_tasks, spin_task));
    }
    (*out)["floor/scaling_1w_s"].push_back(seconds[0]);
    (*out)["floor/scaling_2w_s"].push_back(seconds[1]);
    (*out)["floor/scaling_speedup_x"].push_back(seconds[0] / seconds[1]);
    for (int k = 0; k < 2; ++k) {
      ScopedRuntime runtime;
      UNIDIST_RETURN_IF_ERROR(runtime.Start(worker_counts[k]));
      UNIDIST_RETURN_IF_ERROR(RunTrivialTasks(20));  // warm-up
      Stopwatch watch;
      std::vector<ObjectRef<uint64_t>> refs;
      for (int i = 0; i < w.scaling_tasks; ++i) refs.push_back(Submit(Spin, iterations));
      UNIDIST_ASSIGN_OR_RETURN(std::vector<uint64_t> values, Get(refs));
      seconds[k] = watch.Seconds();
      UNIDIST_RETURN_IF_ERROR(Expect(values.back() == expected, "spin result"));
    }
    Add(out, "scaling_1w_s", seconds[0]);
    Add(out, "scaling_2w_s", seconds[1]);
    Add(out, "scaling_speedup_x", seconds[0] / seconds[1]);
  }
  LogAll(*out, {"scaling_1w_s", "scaling_2w_s", "scaling_speedup_x"});
  Log(*out, "floor/scaling_speedup_x");
  return absl::OkStatus();
}

// Descriptors and mappings this process has of files in the spill directory ($TMPDIR, else
// /tmp: Options::spill_directory's default). A spill file has no name (O_TMPFILE: its
// link reads "<directory>/#<inode> (deleted)"), so it exists exactly while one is open.
absl::StatusOr<int> OpenSpillDescriptors() {
  const char* tmpdir = getenv("TMPDIR");
  const std::string prefix = absl::StrCat(tmpdir != nullptr && *tmpdir ? tmpdir : "/tmp", "/#");
  int count = 0;
  DIR* fds = opendir("/proc/self/fd");
  if (fds == nullptr) return absl::InternalError("cannot list /proc/self/fd");
  while (const dirent* entry = readdir(fds)) {
    char target[4096];
    const std::string path = absl::StrCat("/proc/self/fd/", entry->d_name);
    const ssize_t n = readlink(path.c_str(), target, sizeof(target));
    if (n > 0 && absl::StartsWith(absl::string_view(target, static_cast<size_t>(n)), prefix)) {
      ++count;
    }
  }
  closedir(fds);
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) count += absl::StrContains(line, prefix) ? 1 : 0;
  return count;
}

// Bounded memory: a session whose store holds `spill_store_bytes` makes three times that
// in task results of `spill_object_bytes` (each task fills its result in the store) and
// keeps every ref, then a task reads each object (ArrayView) and its sum is checked. The
// store spills what nobody reads to files in the spill directory and brings it back when
// a task takes it. Measured: the time, the most that Shmem plus the driver's RssAnon rose
// above their level before Init (sampled after every Submit and every Get), in store
// sizes, and the descriptors of the spill directory still open after Shutdown (spill
// files have no names, so open descriptors are what could be left).
absl::Status SpillGroup(const Context& context) {
  const Workloads& w = context.w;
  Measurements* out = context.out;
  const uint64_t count = w.spill_object_bytes / sizeof(double);
  const int objects = static_cast<int>(3 * w.spill_store_bytes / w.spill_object_bytes);
  RepetitionBudget budget(context.deadline, "spill group", w.reps);
  for (int rep = 0; rep < w.reps; ++rep) {
    UNIDIST_RETURN_IF_ERROR(budget.MayStart(rep));
    Stopwatch repetition;
    UNIDIST_ASSIGN_OR_RETURN(const size_t shmem_before, ReadShmemBytes());
    UNIDIST_ASSIGN_OR_RETURN(const size_t rss_before, ReadRssAnonBytes(getpid()));
    double most = 0;
    auto sample = [&]() -> absl::Status {
      UNIDIST_ASSIGN_OR_RETURN(const size_t shmem, ReadShmemBytes());
      UNIDIST_ASSIGN_OR_RETURN(const size_t rss, ReadRssAnonBytes(getpid()));
      most = std::max(
          most, static_cast<double>(shmem + rss) - static_cast<double>(shmem_before + rss_before));
      return absl::OkStatus();
    };
    Stopwatch watch;
    {
      Options options;
      options.num_workers = w.workers;
      options.object_store_memory = w.spill_store_bytes;
      UNIDIST_RETURN_IF_ERROR(unidist::Init(options));
      ScopedRuntime runtime;  // shuts down however this scope ends
      std::vector<ObjectRef<std::vector<double>>> refs;
      for (int i = 0; i < objects; ++i) {
        refs.push_back(Submit(Filled, count, static_cast<double>(i)));
        UNIDIST_RETURN_IF_ERROR(Get(Submit(SumPartition, refs.back())).status());
        UNIDIST_RETURN_IF_ERROR(sample());
      }
      for (int i = 0; i < objects; ++i) {
        UNIDIST_ASSIGN_OR_RETURN(const double sum, Get(Submit(SumPartition, refs[i])));
        UNIDIST_RETURN_IF_ERROR(Expect(sum == static_cast<double>(i) * static_cast<double>(count),
                                       absl::StrCat("spilled object ", i)));
        UNIDIST_RETURN_IF_ERROR(sample());
      }
      Add(out, "spill_objects_spilled", static_cast<double>(unidist::GetStats().spilled_objects));
    }
    Add(out, "spill_3x_store_s", watch.Seconds());
    Add(out, "spill_peak_store_sizes", most / static_cast<double>(w.spill_store_bytes));
    UNIDIST_ASSIGN_OR_RETURN(const int left, OpenSpillDescriptors());
    Add(out, "spill_descriptors_left", left);
    budget.Ran(repetition.Seconds());
  }
  LogAll(*out, {"spill_3x_store_s", "spill_peak_store_sizes", "spill_objects_spilled",
                "spill_descriptors_left"});
  return absl::OkStatus();
}

struct Group {
  const char* name;
  absl::Status (*run)(const Context&);
};

constexpr Group kGroups[] = {
    {"memory", &MemoryGroup},         {"startup", &StartupGroup},       {"tasks", &TasksGroup},
    {"loaded", &LoadedGroup},         {"rings", &RingsGroup},           {"scaling", &ScalingGroup},
    {"scheduling", &SchedulingGroup}, {"partitions", &PartitionsGroup}, {"store", &StoreGroup},
    {"spill", &SpillGroup},           {"large", &LargeGroup},
};

}  // namespace

std::vector<std::string> UnidistGroups() {
  std::vector<std::string> names;
  for (const Group& group : kGroups) names.push_back(group.name);
  return names;
}

void RunUnidistWorkloads(const Workloads& workloads, const std::vector<std::string>& groups,
                         absl::Time deadline, Measurements* out, std::vector<std::string>* errors) {
  const Context context{workloads, deadline, out};
  for (const Group& group : kGroups) {
    if (!groups.empty() && std::find(groups.begin(), groups.end(), group.name) == groups.end()) {
      continue;
    }
    Stopwatch watch;
    const absl::Status status = group.run(context);
    std::fprintf(stderr, "[unidist] group %s: %.1f s%s%s\n", group.name, watch.Seconds(),
                 status.ok() ? "" : ", FAILED: ", status.ok() ? "" : status.ToString().c_str());
    if (!status.ok()) {
      errors->push_back(absl::StrCat("unidist ", group.name, ": ", status.ToString()));
    }
  }
}

}  // namespace unidist::bench
