// Copyright 2026 The unidist-cpp Authors.

#include "benchmarks/report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace unidist::bench {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

std::string U(absl::string_view metric) { return absl::StrCat("unidist/", metric); }
std::string P(absl::string_view metric) { return absl::StrCat("python/", metric); }

std::optional<double> Median(const Measurements& m, const std::string& key) {
  if (key.empty()) return std::nullopt;
  auto it = m.find(key);
  if (it == m.end() || it->second.empty()) return std::nullopt;
  return Summarize(it->second).median;
}

Summary SummaryOf(const Measurements& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? Summary() : Summarize(it->second);
}

// unidist-cpp's median over the baseline's, if both exist and the baseline is not 0.
std::optional<double> Ratio(const Measurements& m, const std::string& unidist,
                            const std::string& baseline) {
  std::optional<double> a = Median(m, unidist);
  std::optional<double> b = Median(m, baseline);
  if (!a || !b || *b == 0) return std::nullopt;
  return *a / *b;
}

std::string FormatRatio(std::optional<double> ratio) {
  return ratio ? absl::StrCat(FormatNumber(*ratio), "×") : "—";
}

// Integers with thousands separators: 1234567 -> "1,234,567".
std::string GroupThousands(int64_t value) {
  std::string digits = absl::StrCat(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

struct FloorRow {
  std::string what;
  std::string unit;
  std::string key;
};

std::vector<FloorRow> FloorRows() {
  return {
      {"pipe round trip, 64 B, unpinned", "µs", "floor/pipe_rtt_us"},
      {"pipe round trip, 64 B, both on one CPU", "µs", "floor/pipe_rtt_same_cpu_us"},
      {"pipe round trip, 64 B, the better of the two above (the latency floor)", "µs",
       "floor/pipe_rtt_best_us"},
      {"pipe round trip, 64 B, on two different CPUs", "µs", "floor/pipe_rtt_other_cpus_us"},
      {"Unix socket round trip, 64 B, unpinned, each side in poll (unidist-cpp's transport)", "µs",
       "floor/socket_poll_rtt_us"},
      {"futex round trip through shared memory, 64 B, unpinned (a shared-memory ring's wake-ups)",
       "µs", "floor/futex_rtt_us"},
      {"pipe streaming, default 64 KiB pipe", "GB/s", "floor/pipe_stream_GBps"},
      {"pipe streaming, 1 MiB pipe (F_SETPIPE_SZ)", "GB/s", "floor/large_pipe_stream_GBps"},
      {"Unix stream socket streaming (unidist-cpp's transport)", "GB/s",
       "floor/unix_socket_stream_GBps"},
      {"memcpy between two 1 GiB buffers (64 MiB with --quick)", "GB/s", "floor/memcpy_GBps"},
      {"first touch of fresh memory: mmap + memset + munmap of 256 MiB (16 MiB with --quick)",
       "GB/s", "floor/fresh_memory_GBps"},
      {"copy into fresh memory with huge pages asked for: mmap + MADV_HUGEPAGE + memcpy + "
       "munmap of 100 MiB (16 MiB with --quick)",
       "GB/s", "floor/fresh_copy_GBps"},
      {"CPU-bound tasks on forked processes: speedup 1 → 2 (measured in the scaling group)", "×",
       "floor/scaling_speedup_x"},
  };
}

Value NumberValue(double x) {
  Value v;
  v.set_number_value(std::isfinite(x) ? x : 0);
  return v;
}

Value StringValue(const std::string& s) {
  Value v;
  v.set_string_value(s);
  return v;
}

Value SummaryValue(const Measurements& m, const std::string& key) {
  Value v;
  const Summary s = SummaryOf(m, key);
  if (key.empty() || s.count == 0) {
    v.set_null_value(google::protobuf::NULL_VALUE);
    return v;
  }
  auto& fields = *v.mutable_struct_value()->mutable_fields();
  fields["metric"] = StringValue(key);
  fields["median"] = NumberValue(s.median);
  fields["min"] = NumberValue(s.min);
  fields["max"] = NumberValue(s.max);
  fields["count"] = NumberValue(static_cast<double>(s.count));
  return v;
}

// The note on `key`, or "".
std::string NoteFor(const Notes& notes, const std::string& key) {
  auto it = notes.find(key);
  return it == notes.end() ? "" : it->second;
}

// What the Python cell of a resolved row shows.
std::string PythonCell(const Row& row, const Measurements& m, const Notes& notes) {
  if (!row.python.empty()) {
    const Summary s = SummaryOf(m, row.python);
    const std::string note = NoteFor(notes, row.python);
    if (s.count == 0) return note.empty() ? "—" : note;
    std::string cell = FormatSummary(s);
    if (!row.python_label.empty()) absl::StrAppend(&cell, " ", row.python_label);
    if (!note.empty()) absl::StrAppend(&cell, " (", note, ")");
    return cell;
  }
  // A fastest-of row with no samples at all: why each variant is missing (once, if the
  // same reason stopped them all).
  std::vector<std::string> missing;
  std::vector<std::string> reasons;
  for (const auto& [key, label] : row.python_fastest_of) {
    const std::string note = NoteFor(notes, key);
    if (note.empty()) continue;
    missing.push_back(absl::StrCat(label, ": ", note));
    reasons.push_back(note);
  }
  if (!reasons.empty() && reasons.size() == row.python_fastest_of.size() &&
      std::all_of(reasons.begin(), reasons.end(),
                  [&](const std::string& reason) { return reason == reasons.front(); })) {
    return reasons.front();
  }
  if (!missing.empty()) return absl::StrJoin(missing, "; ");
  return row.python_note.empty() ? "—" : row.python_note;
}

Value OptionalNumber(std::optional<double> x) {
  if (x) return NumberValue(*x);
  Value v;
  v.set_null_value(google::protobuf::NULL_VALUE);
  return v;
}

}  // namespace

std::string FormatNumber(double value) {
  if (!std::isfinite(value)) return "—";
  const double magnitude = std::fabs(value);
  if (magnitude >= 1000) {
    // Three significant digits, as an integer: 523,000.
    const double scale = std::pow(10.0, std::floor(std::log10(magnitude)) - 2);
    return GroupThousands(static_cast<int64_t>(std::round(value / scale) * scale));
  }
  if (magnitude >= 100) return absl::StrFormat("%.0f", value);
  if (magnitude >= 10) return absl::StrFormat("%.1f", value);
  if (magnitude >= 1) return absl::StrFormat("%.2f", value);
  if (magnitude == 0) return "0";
  return absl::StrFormat("%.3g", value);
}

std::string FormatSummary(const Summary& s) {
  if (s.count == 0) return "—";
  return absl::StrCat(FormatNumber(s.median), " (", FormatNumber(s.min), "–", FormatNumber(s.max),
                      ")");
}

std::vector<Row> ComparisonRows(const Workloads& w) {
  const std::string tasks_ms = absl::StrCat(w.scaling_tasks, " × ", FormatNumber(w.task_ms), " ms");
  std::vector<Row> rows;
  auto add = [&rows](Row row) { rows.push_back(std::move(row)); };
  // The goals of the tasks rows are issue #13's: two wake-ups a round trip, as an
  // unpinned pipe round trip has; 40× apply_async; Pool.map; a chain link ≤ 1.5× the
  // latency; within 2× of the quiet figures under load.
  add({"a. latency: Submit + Get of a trivial task, one at a time", "µs", U("latency_us"),
       "floor/pipe_rtt_us", "pipe round trip, unpinned", P("latency_us"), "", "",
       Goal{Goal::Of::kFloorRatio, true, 1, "≤ 1× unpinned pipe round trip"}});
  add({absl::StrCat("b. throughput: ", GroupThousands(w.throughput_tasks),
                    " trivial tasks, then gather all"),
       "tasks/s", U("throughput_tasks_per_s"), "", "", P("throughput_tasks_per_s"),
       P("map_tasks_per_s"), "", Goal{Goal::Of::kPythonRatio, false, 40, "≥ 40× apply_async"}});
  add({absl::StrCat("b. unidist::Map over ", GroupThousands(w.throughput_tasks),
                    " trivial inputs (one ref each), then gather all"),
       "tasks/s", U("map_tasks_per_s"), "", "", P("throughput_tasks_per_s"), P("map_tasks_per_s"),
       "", Goal{Goal::Of::kPythonMapRatio, false, 1, "≥ Pool.map with its best chunksize"}});
  add({"b. throughput, least-loaded scheduling (Options::scheduling)", "tasks/s",
       U("throughput_least_loaded_tasks_per_s"), "", "", P("throughput_tasks_per_s"), "", "",
       std::nullopt});
  add({"b. throughput, with a Wait for all of them before the gather", "tasks/s",
       U("throughput_wait_all_tasks_per_s"), "", "", "", "", "", std::nullopt});
  add({"b. throughput, from two driver threads at once", "tasks/s",
       U("throughput_2threads_tasks_per_s"), "", "", "", "", "not run (time budget)",
       std::nullopt});
  add({"a. latency with result rings (Options::result_ring_bytes = 1 MiB)", "µs",
       U("latency_ring_us"), U("latency_us"), "sockets, this run", "", "", "", std::nullopt});
  add({"b. throughput with result rings", "tasks/s", U("throughput_ring_tasks_per_s"),
       U("throughput_tasks_per_s"), "sockets, this run", "", "", "", std::nullopt});
  add({"b. throughput with result rings, from two driver threads at once", "tasks/s",
       U("throughput_2threads_ring_tasks_per_s"), U("throughput_2threads_tasks_per_s"),
       "sockets, this run", "", "", "", std::nullopt});
  add({"a. latency under load (a CPU-bound process on every core beside the benchmark)", "µs",
       U("loaded_latency_us"), U("latency_us"), "quiet, this run", "", "", "",
       Goal{Goal::Of::kFloorRatio, true, 2, "≤ 2× quiet"}});
  add({"b. throughput under load (the same processes)", "tasks/s",
       U("loaded_throughput_tasks_per_s"), U("throughput_tasks_per_s"), "quiet, this run", "", "",
       "", Goal{Goal::Of::kFloorRatio, false, 0.5, "≥ 0.5× quiet"}});
  add({absl::StrCat("c. chain of ", GroupThousands(w.chain_length),
                    " dependent tasks (each takes the previous ref)"),
       "µs per task", U("chain_us_per_task"), U("latency_us"), "latency, this run",
       P("chain_us_per_task"), "", "", Goal{Goal::Of::kFloorRatio, true, 1.5, "≤ 1.5× latency"}});
  add({absl::StrCat("e. actor calls, one at a time (", GroupThousands(w.actor_sync_calls),
                    " Submit + Get)"),
       "calls/s", U("actor_sync_calls_per_s"), "", "", "", "", "Ray: ≈ 2,000 (published)",
       std::nullopt});
  add({absl::StrCat("e. actor calls, ", GroupThousands(w.actor_async_calls),
                    " submitted, then gathered"),
       "calls/s", U("actor_async_calls_per_s"), "", "", "", "", "Ray: ≈ 8,000 (published)",
       std::nullopt});
  add({absl::StrCat("e. actor calls that each wait ", FormatNumber(w.actor_wait_ms), " ms, ",
                    GroupThousands(w.actor_waiting_calls), " submitted, max_concurrency ",
                    w.actor_threads),
       "calls/s", U("actor_waiting_calls_per_s"), U("actor_waiting_calls_1thread_per_s"),
       "max_concurrency 1", "", "", "", std::nullopt});
  add({absl::StrCat("a. latency, least-loaded scheduling"), "µs", U("latency_least_loaded_us"),
       "floor/pipe_rtt_best_us", "pipe round trip", P("latency_us"), "", "", std::nullopt});
  add({absl::StrCat("uneven tasks (1 × ", FormatNumber(w.uneven_long_ms), " ms, then ",
                    w.uneven_short_tasks, " × ", FormatNumber(w.uneven_short_ms),
                    " ms), round-robin"),
       "ms", U("uneven_round_robin_ms"), "", "", "", "", "", std::nullopt});
  add({"the same, least-loaded scheduling", "ms", U("uneven_least_loaded_ms"), "", "", "", "", "",
       std::nullopt});
  for (size_t bytes : w.put_bytes) {
    Row row{absl::StrCat("d. Put ", SizeName(bytes),
                         " byte vector → task reads every byte (std::vector parameter)"),
            "GB/s",
            U(PutTaskMetric(bytes)),
            "floor/memcpy_GBps",
            "memcpy",
            "",
            "",
            "",
            std::nullopt};
    for (size_t python_bytes : w.python_put_bytes) {
      if (python_bytes == bytes) row.python = P(PutTaskMetric(bytes));
    }
    if (row.python.empty()) row.python_note = "not run (≈ 13 s a repetition)";
    if (bytes == kOneGiB) row.goal = Goal{Goal::Of::kFloorRatio, false, 0.5, "≥ 0.5× memcpy"};
    add(std::move(row));
  }
  for (size_t bytes : w.put_bytes) {
    Row row{absl::StrCat("d. the same, ArrayView<uint8_t> parameter (zero-copy read of the "
                         "shared segment)"),
            "GB/s",
            U(PutViewTaskMetric(bytes)),
            "floor/memcpy_GBps",
            "memcpy",
            "",
            "",
            "",
            std::nullopt};
    row.workload = absl::StrCat("d. Put ", SizeName(bytes),
                                " → task reads every byte (ArrayView<uint8_t> parameter: "
                                "zero-copy)");
    if (bytes == kOneGiB) row.goal = Goal{Goal::Of::kFloorRatio, false, 0.5, "≥ 0.5× memcpy"};
    add(std::move(row));
  }
  add({absl::StrCat("d. task reads an already shared ", SizeName(w.put_bytes.back()),
                    " object (ArrayView; Put and segment excluded)"),
       "GB/s", U(absl::StrCat("read_view_", SizeName(w.put_bytes.back()), "_GBps")),
       "floor/memcpy_GBps", "memcpy", "", "", "", std::nullopt});
  add({absl::StrCat("d. Get of a ", SizeName(w.get_bytes), " task result"), "GB/s",
       U(GetMetric(w.get_bytes)), "floor/memcpy_GBps", "memcpy", P(GetMetric(w.get_bytes)), "", "",
       std::nullopt});
  // The large-object goals, each alone (the store group).
  const std::string store = SizeName(w.store_bytes);
  add({absl::StrCat("d. Put of a ", store,
                    " byte vector alone, the session's first (the store's pages are new)"),
       "GB/s", U(absl::StrCat("put_alone_", store, "_first_GBps")), "floor/memcpy_GBps", "memcpy",
       "", "", "", std::nullopt});
  add({absl::StrCat("d. Put of a ", store,
                    " byte vector alone, steady state (later Puts: the store's pages reused)"),
       "GB/s", U(absl::StrCat("put_alone_", store, "_steady_GBps")), "floor/memcpy_GBps", "memcpy",
       "", "", "", Goal{Goal::Of::kFloorRatio, false, 0.8, "≥ 0.8× memcpy"}});
  const std::string get = absl::StrCat("get_alone_", SizeName(w.get_bytes));
  add({absl::StrCat("d. Get of a ", SizeName(w.get_bytes),
                    " task result alone, the first (Wait, then time Get into a std::vector ",
                    "in memory the program has not used lately)"),
       "GB/s", U(absl::StrCat(get, "_first_GBps")), "floor/fresh_copy_GBps", "fresh copy", "", "",
       "", std::nullopt});
  add({absl::StrCat("d. Get of a ", SizeName(w.get_bytes),
                    " task result alone, steady state (later Gets, each after the previous ",
                    "vector was freed)"),
       "GB/s", U(absl::StrCat(get, "_steady_GBps")), "floor/memcpy_GBps", "memcpy", "", "", "",
       Goal{Goal::Of::kFloorRatio, false, 0.5, "≥ 0.5× memcpy"}});
  std::vector<std::string> viewed_sizes = {SizeName(kOneMiB), SizeName(w.get_bytes), store};
  // --quick makes the result and the stored object the same size: one row for it.
  viewed_sizes.erase(std::unique(viewed_sizes.begin(), viewed_sizes.end()), viewed_sizes.end());
  for (const std::string& viewed : viewed_sizes) {
    add({absl::StrCat("d. GetView of a ", viewed, " object (read in place; the ref's object ",
                      "is complete)"),
         "µs", U(absl::StrCat("get_view_", viewed, "_us")), "", "", "", "", "",
         Goal{Goal::Of::kValue, true, 100, "< 100 µs, flat"}});
  }
  add({absl::StrCat("d. Allocate + Seal of ", store, " (create-then-seal: no copy)"), "µs",
       U(absl::StrCat("allocate_seal_", store, "_us")), "", "", "", "", "", std::nullopt});
  const std::string readers = absl::StrCat("read_", store, "_by_", w.store_readers);
  add({absl::StrCat("d. ", w.store_readers, " tasks read one ", store,
                    " object at once (ArrayView parameter; Submit all, then Get all)"),
       "s", U(readers + "_tasks_s"), "", "", "", "", "", std::nullopt});
  add({absl::StrCat("d. the memory those ", w.store_readers,
                    " readers cost: the most that Shmem + the workers' RssAnon rose above their "
                    "level before the Put, in copies of the object (the object itself is 1)"),
       "copies", U(readers + "_copies"), "", "", "", "", "",
       Goal{Goal::Of::kValue, true, 1.5,
            absl::StrCat("≤ 1.5 (about one copy, not ", w.store_readers + 1, ")")}});
  const std::string spill = absl::StrCat("3 × a ", SizeName(w.spill_store_bytes), " store in ",
                                         SizeName(w.spill_object_bytes), " task results");
  add({absl::StrCat("d. bounded memory: ", spill,
                    ", all kept, then each read by a task (Options::object_store_memory = ",
                    SizeName(w.spill_store_bytes), ")"),
       "s", U("spill_3x_store_s"), "", "", "", "", "", std::nullopt});
  add({"d. the most that Shmem + the driver's RssAnon rose meanwhile, in store sizes", "×",
       U("spill_peak_store_sizes"), "", "", "", "", "",
       Goal{Goal::Of::kValue, true, 1.25, "≤ 1.25 (the limit plus a small slack)"}});
  add({"d. objects spilled to files meanwhile (at the end of the run)", "objects",
       U("spill_objects_spilled"), "", "", "", "", "", std::nullopt});
  add({"d. spill files still open or mapped after Shutdown", "files", U("spill_descriptors_left"),
       "", "", "", "", "", Goal{Goal::Of::kValue, true, 0, "0"}});
  add({absl::StrCat("e. ", tasks_ms, " of computation, 1 worker"), "s", U("scaling_1w_s"),
       "floor/scaling_1w_s", "forked processes", "", "", "", std::nullopt});
  add({absl::StrCat("e. ", tasks_ms, " of computation, ", w.workers, " workers"), "s",
       U("scaling_2w_s"), "floor/scaling_2w_s", "forked processes", "", "", "", std::nullopt});
  add({absl::StrCat("e. speedup, 1 → ", w.workers, " workers"), "×", U("scaling_speedup_x"),
       "floor/scaling_speedup_x", "forked processes", "", "", "",
       Goal{Goal::Of::kValue, false, 1.9, "≥ 1.9×"}});
  add({"f. Init → first result", "ms", U("init_first_result_ms"), "", "", P("init_first_result_ms"),
       "", "", Goal{Goal::Of::kPythonRatio, true, 0.5, "≤ 0.5× Pool's"}});
  add({"f. Shutdown", "ms", U("shutdown_ms"), "", "", P("shutdown_ms"), "", "", std::nullopt});
  add({"g. driver RSS after Init", "MiB", U("driver_rss_MiB"), "", "", P("driver_rss_MiB"), "", "",
       std::nullopt});
  add({"g. per-worker RSS (VmRSS, largest worker)", "MiB", U("worker_rss_MiB"), "", "",
       P("worker_rss_MiB"), "", "", Goal{Goal::Of::kValue, true, 10, "≤ 10 MiB"}});
  add(
      {"g. per-worker anonymous memory after the large-object group (RssAnon, one reading, "
       "largest worker; VmRSS would also count the store's shared pages the worker read)",
       "MiB", U("worker_rss_anon_after_large_MiB"), "", "", "", "", "", std::nullopt});
  add({"g. per-worker private memory (not shared with the driver)", "MiB", U("worker_private_MiB"),
       "", "", P("worker_private_MiB"), "", "", std::nullopt});
  add({absl::StrCat("g. store overhead per object, ", GroupThousands(w.small_objects),
                    " ints held (RSS delta)"),
       "B", U("object_overhead_rss_B"), "", "", "", "", "",
       Goal{Goal::Of::kValue, true, 100, "≤ 100 B"}});
  add(
      {"g. the same, allocated bytes (mallinfo2 delta; on mimalloc, its heap walk: there "
       "the RSS delta is not measured, as mimalloc reuses pages freed earlier in the run)",
       "B", U("object_overhead_heap_B"), "", "", "", "", "",
       Goal{Goal::Of::kValue, true, 100, "≤ 100 B"}});
  add({"g. Put of one small object", "µs", U("put_small_us"), "", "", "", "", "", std::nullopt});

  // h. The partitioned workload: unidist-cpp against the fastest Python variant, then
  // against each.
  const std::string partitions =
      absl::StrCat("h. ", SizeName(static_cast<size_t>(w.partitions) * w.partition_bytes),
                   " of doubles in ", w.partitions, " × ", SizeName(w.partition_bytes),
                   " partitions in the driver → new partitions y = 2x + 1 → tree of pairwise "
                   "sums → the sum in the driver");
  const std::vector<std::pair<std::string, std::string>> variants = {
      {P("partitions_pool_s"), "Pool"},
      {P("partitions_dask_threaded_s"), "Dask threaded"},
      {P("partitions_dask_distributed_s"), "Dask distributed"},
  };
  Row fastest{absl::StrCat(partitions, "; Python: the fastest variant"),
              "s",
              U("partitions_s"),
              "",
              "",
              "",
              "",
              "",
              Goal{Goal::Of::kPythonRatio, true, 1,
                   "≤ 1× the fastest of Pool, Dask threaded, Dask distributed"}};
  fastest.python_fastest_of = variants;
  add(std::move(fastest));
  const char* const kVariantNames[] = {
      "multiprocessing.Pool (numpy arrays through the driver)",
      "Dask's threaded scheduler (dask.delayed, numpy, one process)",
      "Dask distributed, LocalCluster (worker processes, one thread each)"};
  for (size_t i = 0; i < variants.size(); ++i) {
    Row row{absl::StrCat("h. the same; Python: ", kVariantNames[i]),
            "s",
            U("partitions_s"),
            "",
            "",
            variants[i].first,
            "",
            "",
            std::nullopt};
    row.python_label = variants[i].second;
    add(std::move(row));
  }
  return rows;
}

Row ResolveFastest(const Row& row, const Measurements& m) {
  Row resolved = row;
  std::optional<double> best;
  for (const auto& [key, label] : row.python_fastest_of) {
    const std::optional<double> median = Median(m, key);
    if (median && (!best || *median < *best)) {
      best = median;
      resolved.python = key;
      resolved.python_label = label;
    }
  }
  return resolved;
}

std::optional<GoalOutcome> EvaluateGoal(const Row& unresolved, const Measurements& m) {
  if (!unresolved.goal) return std::nullopt;
  const Row row = ResolveFastest(unresolved, m);
  std::optional<double> value;
  switch (row.goal->of) {
    case Goal::Of::kFloorRatio:
      value = Ratio(m, row.unidist, row.floor);
      break;
    case Goal::Of::kPythonRatio:
      value = Ratio(m, row.unidist, row.python);
      break;
    case Goal::Of::kPythonMapRatio:
      value = Ratio(m, row.unidist, row.python_map);
      break;
    case Goal::Of::kValue:
      value = Median(m, row.unidist);
      break;
  }
  if (!value) return std::nullopt;
  GoalOutcome outcome;
  outcome.value = *value;
  outcome.met = row.goal->at_most ? *value <= row.goal->threshold : *value >= row.goal->threshold;
  return outcome;
}

std::optional<bool> FloorMeetsGoal(const Row& row, const Measurements& m) {
  if (!row.goal || row.goal->of != Goal::Of::kValue) return std::nullopt;
  std::optional<double> floor = Median(m, row.floor);
  if (!floor) return std::nullopt;
  return row.goal->at_most ? *floor <= row.goal->threshold : *floor >= row.goal->threshold;
}

std::string MarkdownReport(const Workloads& w, const Measurements& m, const Notes& notes) {
  std::string out;
  absl::StrAppend(&out,
                  "Each cell: median (min–max) of the repetitions. ÷: unidist-cpp's median "
                  "divided by the baseline's (lower is better for µs, ms, s, MiB, B and "
                  "copies; higher for tasks/s, GB/s and ×). GB/s = 10^9 bytes/s. Python: "
                  "multiprocessing.Pool, fork start method, ",
                  w.workers,
                  " processes; in the h rows, as named: numpy arrays through Pool, Dask's "
                  "threaded scheduler (",
                  w.workers, " threads) or Dask distributed (LocalCluster, ", w.workers,
                  " worker processes of one thread).\n\n");
  absl::StrAppend(&out,
                  "| Workload | Unit | unidist-cpp | C++ floor | ÷ floor | Python "
                  "Pool.apply_async (or as named) | ÷ Python | Python Pool.map | ÷ map | Goal "
                  "|\n"
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
  for (const Row& unresolved : ComparisonRows(w)) {
    const Row row = ResolveFastest(unresolved, m);
    const std::string floor =
        row.floor.empty()
            ? "—"
            : absl::StrCat(FormatSummary(SummaryOf(m, row.floor)), " ", row.floor_label);
    const std::string python = PythonCell(row, m, notes);
    std::string goal = "—";
    if (row.goal) {
      std::optional<GoalOutcome> outcome = EvaluateGoal(row, m);
      goal = outcome ? absl::StrCat(row.goal->text, ": **", outcome->met ? "met" : "not met",
                                    "** (", FormatNumber(outcome->value),
                                    row.goal->of == Goal::Of::kValue ? "" : "×", ")")
                     : absl::StrCat(row.goal->text, ": no data");
      if (std::optional<bool> floor_met = FloorMeetsGoal(row, m); floor_met && !*floor_met) {
        absl::StrAppend(&goal, "; the floor itself reached only ",
                        FormatNumber(*Median(m, row.floor)), ": the machine was busy");
      }
    }
    absl::StrAppend(
        &out, "| ", row.workload, " | ", row.unit, " | ", FormatSummary(SummaryOf(m, row.unidist)),
        " | ", floor, " | ",
        row.floor.empty() ? "—" : FormatRatio(Ratio(m, row.unidist, row.floor)), " | ", python,
        " | ", row.python.empty() ? "—" : FormatRatio(Ratio(m, row.unidist, row.python)), " | ",
        row.python_map.empty() ? "—" : FormatSummary(SummaryOf(m, row.python_map)), " | ",
        row.python_map.empty() ? "—" : FormatRatio(Ratio(m, row.unidist, row.python_map)), " | ",
        goal, " |\n");
  }
  absl::StrAppend(
      &out,
      "\nThe C++ floor, measured in the same run:\n\n| Floor | Unit | Median (min–max) |\n"
      "| --- | --- | ---: |\n");
  for (const FloorRow& row : FloorRows()) {
    absl::StrAppend(&out, "| ", row.what, " | ", row.unit, " | ",
                    FormatSummary(SummaryOf(m, row.key)), " |\n");
  }
  return out;
}

std::string JsonReport(const Workloads& w, const Measurements& m, const RunInfo& info) {
  Struct root;
  auto& fields = *root.mutable_fields();
  fields["started"] = StringValue(info.started);
  fields["total_seconds"] = NumberValue(info.total_seconds);
  fields["cpus"] = NumberValue(info.cpus);
  fields["python_version"] = StringValue(info.python_version);
  fields["quick"].set_bool_value(info.quick);
  auto* errors = fields["errors"].mutable_list_value();
  for (const std::string& error : info.errors) *errors->add_values() = StringValue(error);

  auto& notes = *fields["notes"].mutable_struct_value()->mutable_fields();
  for (const auto& [key, note] : info.notes) notes[key] = StringValue(note);

  auto* rows = fields["rows"].mutable_list_value();
  for (const Row& unresolved : ComparisonRows(w)) {
    const Row row = ResolveFastest(unresolved, m);
    auto& r = *rows->add_values()->mutable_struct_value()->mutable_fields();
    r["workload"] = StringValue(row.workload);
    r["unit"] = StringValue(row.unit);
    r["unidist"] = SummaryValue(m, row.unidist);
    r["floor"] = SummaryValue(m, row.floor);
    r["floor_label"] = StringValue(row.floor_label);
    r["python_apply_async"] = SummaryValue(m, row.python);
    r["python_map"] = SummaryValue(m, row.python_map);
    r["ratio_to_floor"] = OptionalNumber(Ratio(m, row.unidist, row.floor));
    r["ratio_to_python_apply_async"] = OptionalNumber(Ratio(m, row.unidist, row.python));
    r["ratio_to_python_map"] = OptionalNumber(Ratio(m, row.unidist, row.python_map));
    if (!row.python_label.empty()) r["python_label"] = StringValue(row.python_label);
    if (!row.python_note.empty()) r["python_note"] = StringValue(row.python_note);
    if (const std::string note = NoteFor(info.notes, row.python); !note.empty()) {
      r["python_note"] = StringValue(note);
    }
    if (row.goal) {
      auto& g = *r["goal"].mutable_struct_value()->mutable_fields();
      g["text"] = StringValue(row.goal->text);
      std::optional<GoalOutcome> outcome = EvaluateGoal(row, m);
      g["value"] = OptionalNumber(outcome ? std::optional<double>(outcome->value) : std::nullopt);
      if (outcome) g["met"].set_bool_value(outcome->met);
      if (std::optional<bool> floor_met = FloorMeetsGoal(row, m)) {
        g["floor_meets_goal"].set_bool_value(*floor_met);
      }
    }
  }
  auto* floor = fields["floor"].mutable_list_value();
  for (const FloorRow& row : FloorRows()) {
    auto& f = *floor->add_values()->mutable_struct_value()->mutable_fields();
    f["what"] = StringValue(row.what);
    f["unit"] = StringValue(row.unit);
    f["value"] = SummaryValue(m, row.key);
  }
  auto& samples = *fields["samples"].mutable_struct_value()->mutable_fields();
  for (const auto& [key, values] : m) {
    auto* list = samples[key].mutable_list_value();
    for (double x : values) *list->add_values() = NumberValue(x);
  }

  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(root, &json, options).ok()) return "{}\n";
  return json;
}

}  // namespace unidist::bench
