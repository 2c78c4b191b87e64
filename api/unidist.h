// Copyright 2026 The unidist-cpp Authors.
//
// unidist-cpp: task-parallel execution on worker processes.
//
// A program calls unidist::Init(), turns ordinary functions into remote tasks with
// Submit, moves data through an object store with Put, Get and Wait, and gets results back
// as typed ObjectRefs. Every task runs in a worker process, not the caller's (on the
// default backend; see Options::backend), so a crash in one task fails that task's
// result, not the program.
//
// Example:
//
//   #include <iostream>
//
//   #include "unidist/unidist.h"
//
//   int Square(int x) { return x * x; }
//   int Sum(std::vector<int> xs) { int s = 0; for (int x : xs) s += x; return s; }
//   UNIDIST_REMOTE(Square, Sum);          // at namespace scope, once per program
//
//   int main() {
//     if (absl::Status s = unidist::Init(); !s.ok()) { std::cerr << s << "\n"; return 1; }
//     std::vector<unidist::ObjectRef<int>> squares;
//     for (int i = 0; i < 10; ++i) squares.push_back(unidist::Submit(Square, i));
//     absl::StatusOr<std::vector<int>> values = unidist::Get(squares);   // 0, 1, 4, ...
//     if (!values.ok()) { std::cerr << values.status() << "\n"; return 1; }  // why it failed
//     unidist::ObjectRef<std::vector<int>> all = unidist::Put(*values);
//     absl::StatusOr<int> total = unidist::Get(unidist::Submit(Sum, all)); // 285
//     if (!total.ok()) { std::cerr << total.status() << "\n"; return 1; }
//     absl::Status s = unidist::Shutdown();
//     if (!s.ok()) std::cerr << s << "\n";
//     return s.ok() ? 0 : 1;
//   }
//
// Values: anything the codec handles (unidist/common/codec.h): arithmetic types, enums,
// std::string, standard containers, pairs, tuples, optionals, protobuf messages, and user
// structs that list their fields with `UnidistFields()`.
//
// Errors: every call reports problems as absl::Status; nothing aborts the caller. A task
// that throws fails its result with kUnknown and a message naming the function, the
// exception type and what(); a task that returns a non-OK absl::Status/StatusOr fails its
// result with exactly that status (code, message and payloads). GetTaskFailure tells
// which function and worker a failure came from. A worker that dies fails the task it was running
// with kUnavailable (naming the function, worker, pid and signal) and is replaced. Using the API
// before Init gives kFailedPrecondition, reported where a status can be returned: by Get on the ref
// (and Wait counts such refs as complete).
//
// Calls a task may not make: a task may Put, Submit, Map, Get and Wait (nested tasks), but
// these calls belong to the driver, and inside a task (on every backend, the sequential
// one included) each answers kFailedPrecondition with the message
// "<call> cannot be called from inside a task", and does nothing else:
//   Init, Shutdown, CreateActor (every call on the returned Actor fails so),
//   Cancel (whatever the ref), StartTimeline, WriteTimeline.
// StopTimeline, which returns no status, does nothing inside a task.
//
// Threads: every function here may be called from several driver threads at once.
// Init and Shutdown may be repeated (Init, Shutdown, Init, ...). Worker processes never
// outlive the driver.
//
// How it runs: Init starts a fork server and N worker processes, copies of this program
// (so every function registered with UNIDIST_REMOTE exists in them). Submit sends the
// function's registered name and its encoded arguments to the next worker in round-robin
// order; a task whose arguments include results of unfinished tasks is sent only when
// they are ready, so a worker never blocks waiting for another. Results come back to the
// driver's object store. See docs/concepts.md.

#ifndef UNIDIST_API_UNIDIST_H_
#define UNIDIST_API_UNIDIST_H_

// Included by its old path ("api/unidist.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "unidist/common/array_view.h"
#include "unidist/common/codec.h"
#include "unidist/common/data_id.h"
#include "unidist/internal/bridge.h"
#include "unidist/internal/function_traits.h"
#include "unidist/observability.h"
#include "unidist/version.h"

namespace unidist {

// How Init sets up the runtime. Every field has a default that reads the environment.
struct Options {
  // Number of worker processes. 0: $UNIDIST_CPUS if set, else the number of CPUs this
  // process may run on.
  int num_workers = 0;
  // Execution backend (docs/backends.md). "": $UNIDIST_BACKEND if set, else "mpi" in a
  // program mpirun started with several ranks (if the program links the mpi backend),
  // else "multiprocessing". The backends:
  //   "multiprocessing"  every task in a worker process of this machine (the default);
  //   "sequential"       every task in the calling thread, in submission order, through
  //                      the same codec and with the same errors: for debuggers and
  //                      deterministic tests. A crash in a task crashes the program.
  //   "mpi"              worker processes on the ranks of an MPI job (docs/backend_mpi.md),
  //                      in programs that depend on @unidist//mpi (CMake: unidist::mpi).
  //                      Init on every rank but 0 never returns: that rank serves the
  //                      workers until rank 0's process exits, then exits itself.
  // Init fails with InvalidArgument, listing the backends linked in, for any other name,
  // and with FailedPrecondition when mpirun started the program with several ranks, no
  // backend is named, and the mpi backend is not linked in.
  std::string backend;
  // Largest message between the driver and a worker: a task with its arguments, or a
  // result. A larger task fails at Submit and a larger result fails its task, both with
  // ResourceExhausted. 0: $UNIDIST_MAX_MESSAGE_BYTES if set, else 1 GiB. At most 2 GiB - 1.
  size_t max_message_bytes = 0;

  // How Submit picks a worker for a task whose arguments are ready.
  enum class Scheduling {
    // The next worker in turn that has room (each holds at most a window of tasks); the
    // default, as in unidist.
    kRoundRobin,
    // The worker with the fewest tasks in flight (ties: the next in turn), and each
    // worker holds at most two (one running, one queued) while the rest wait in the
    // driver: tasks do not queue behind a slow one, at the cost of a scan of the workers
    // per task and more round trips for many tiny tasks.
    kLeastLoaded,
  };
  // The scheduling policy; see Scheduling. Default: kRoundRobin.
  Scheduling scheduling = Scheduling::kRoundRobin;

  // absl::Mutex's deadlock detector. It is process-wide, so this setting applies to the
  // whole program (the driver and its workers). The first Init of the process whose
  // options are valid fixes it (even if starting the workers then fails): Shutdown does
  // not undo it, and a later Init that asks for the other mode fails with
  // FailedPrecondition, because Abseil cannot switch it while threads hold locks. Debian's Abseil
  // is built without NDEBUG, which leaves the detector on: it then runs on every lock (about 90 ns
  // against 15 ns a lock/unlock pair, a sixth of the time of a small task). kDefault:
  // $UNIDIST_MUTEX_DEADLOCK_DETECTION if set ("1" on, "0" off; anything else makes Init fail with
  // InvalidArgument), else off in optimized builds (NDEBUG defined) and on in the others. kOn makes
  // a lock-order cycle abort the program with both stacks, for debugging.
  enum class DeadlockDetection { kDefault, kOff, kOn };

  // Zero-copy for large objects: an object of at least this many bytes (its encoding)
  // lives in the session's shared-memory store (see object_store_memory): Put encodes it
  // straight there, and a task that takes it as an ObjectRef argument maps it read-only
  // instead of receiving it through its socket; a task parameter of type ArrayView<T>
  // (unidist/common/array_view.h) then reads the store's pages themselves. 0: 1 MiB. SIZE_MAX:
  // never (no store). Used by the multiprocessing backend.
  size_t shared_memory_min_bytes = 0;
  // The size of the shared-memory store, in bytes: one memory file per session that the
  // driver writes and every worker maps read-only, whose freed space is reused (so a Put
  // into it runs at memcpy speed once its pages have been used). It is address space
  // until objects fill it; its pages stay in memory (as shared memory, "Shmem" in
  // /proc/meminfo) up to the most it has held, until Shutdown and the last reference to
  // an object in it are gone. When it is full, objects that nobody is reading (no task in
  // flight takes them, no GetView of them is held) are spilled to files in
  // spill_directory, and read from there when used. What still does not fit fails with
  // ResourceExhausted naming this option (a Put, an Allocate), or comes back through the
  // socket (a task result). 0: $UNIDIST_OBJECT_STORE_MEMORY if set, else 30% of the
  // machine's memory. At least 1 MiB.
  size_t object_store_memory = 0;
  // Where objects spilled from a full store go: a directory on a disk (not a tmpfs, or
  // spilling saves no memory). The files have no names and vanish with their objects and
  // with the program, however it ends. "": $UNIDIST_SPILL_DIRECTORY if set, else $TMPDIR,
  // else /tmp. Init fails with InvalidArgument if it is not a writable directory.
  std::string spill_directory{};
  // The most memory a worker may use (its private resident memory, RssAnon: not the
  // shared-memory store's pages, which the driver bounds), in bytes. A worker that uses
  // more is stopped within milliseconds and its task fails with ResourceExhausted naming
  // this option (not retried); the pool replaces the worker. 0: $UNIDIST_WORKER_MEMORY_LIMIT
  // if set, else no limit. Whatever the limit, workers are the kernel OOM killer's first
  // choice (oom_score_adj 1000), so a task that exhausts the machine ends its own worker,
  // not the driver. At least 1 MiB when set.
  size_t worker_memory_limit = 0;
  // absl::Mutex's deadlock detector for the whole program; see DeadlockDetection.
  // Default: kDefault.
  DeadlockDetection mutex_deadlock_detection = DeadlockDetection::kDefault;

  // A file to write a timeline of the tasks to (see StartTimeline). "": $UNIDIST_TIMELINE
  // if set, else none. When set, Init starts the timeline (if it is not recording yet) and
  // every Shutdown writes everything recorded so far to this file, replacing it.
  // (The initializer lets code that lists only the fields before this one still compile
  // without -Wmissing-field-initializers warnings.)
  std::string timeline{};
  // The multiprocessing backend: how many bytes of shared memory each pool worker writes
  // its results (and its other messages to the driver) into, instead of its socket (a
  // ring the driver reads; the socket then carries a one-byte wake-up only when a driver
  // thread sleeps). A power of two from 4 KiB to 1 GiB, 1 MiB say; a result larger than
  // the ring goes through in parts. Its pages count as shared memory, not against
  // worker_memory_limit. It pays when several threads submit tasks (measured: +40% tasks
  // a second from two threads) and costs when one thread submits trivial tasks (workers
  // that no longer wait on their sockets run out of work sooner, and each new task then
  // wakes one: measured about half the tasks a second); docs/performance.md has the
  // numbers. 0: $UNIDIST_RESULT_RING_BYTES if set, else none. kNoResultRing: none, even
  // if the variable is set. Actors' workers always use their socket.
  size_t result_ring_bytes = 0;
  // The result_ring_bytes that turns result rings off whatever
  // $UNIDIST_RESULT_RING_BYTES says.
  static constexpr size_t kNoResultRing = SIZE_MAX;
};

// Per-task options, for the Submit overloads that take them:
//   unidist::Submit(unidist::TaskOptions{/*max_retries=*/2}, Fn, args...);
struct TaskOptions {
  // How many times to run the task again if the worker running it dies (a crash, a
  // signal, running out of memory). Errors the task itself returns or throws are never
  // retried. Default 0, as in Ray.
  int max_retries = 0;
};

// Starts the runtime: the worker processes and the threads that serve them. Calling it
// again while initialized returns OK and changes nothing. Works from anywhere in the
// driver (the top of main, a GoogleTest TEST). Returns:
//   InvalidArgument     a bad option or environment variable (named in the message);
//   AlreadyExists       two different functions were registered under one name;
//   Internal / ResourceExhausted  the processes could not be started;
//   FailedPrecondition  called inside a task (see "Calls a task may not make" above).
absl::Status Init(const Options& options = {});

// True between a successful Init and Shutdown, and inside every task and actor method (Ray:
// ray::IsInitialized in a worker).
bool IsInitialized();

// The names of the backends this program can run on (Options::backend), sorted: always
// "multiprocessing" and "sequential"; "mpi" when the program links @unidist//mpi
// (unidist::mpi); and any other a linked library registered.
std::vector<std::string> AvailableBackends();

// Stops the runtime: tasks still pending or running fail with Cancelled, every worker
// process is ended and reaped, and Init may be called again. Objects already complete
// stay readable through the ObjectRefs that name them. OK if not initialized. With
// Options::timeline (or $UNIDIST_TIMELINE) set at Init, it then writes the timeline there
// and returns WriteTimeline's error if that fails (the runtime is stopped all the same).
// FailedPrecondition inside a task (see "Calls a task may not make" above).
absl::Status Shutdown();

// A typed, copyable handle to an object in the store: a value Put there or the result of
// a task. The object stays in the store while any copy of its ObjectRef exists (or a
// pending task needs it); when the last one goes, the object is freed.
// ObjectRef<void> is the result of a task that returns void or absl::Status.
template <typename T>
class ObjectRef {
 public:
  // A ref that names no object; Get on it returns InvalidArgument.
  ObjectRef() = default;

  // The object's id.
  const DataID& id() const { return handle_.id; }
  // False for a default-constructed ref.
  bool valid() const { return handle_.token != nullptr; }

  // For the library's templates.
  const api_internal::RefHandle& handle() const { return handle_; }
  // For the library's templates: the ref that owns `handle`.
  static ObjectRef FromHandle(api_internal::RefHandle handle) {
    ObjectRef ref;
    ref.handle_ = std::move(handle);
    return ref;
  }

 private:
  api_internal::RefHandle handle_;
};

// An ObjectRef<T> inside a value (a task parameter of type ObjectRef<T>, a field, an
// element, a Put value, a task's result): the object's id, borrowed. The sender keeps the
// object alive until the receiver holds it, and the receiver's copy keeps it alive for as
// long as it exists, wherever it is. An empty ref travels as empty.
template <typename T>
struct Codec<ObjectRef<T>> {
  // The shortest encoding: an empty ref's empty id.
  static constexpr size_t kMinEncodedSize = 1;
  // Writes the id, recording the ref for the caller to keep alive.
  static void Encode(const ObjectRef<T>& ref, Encoder& out) {
    api_internal::EncodeRef(ref.handle());
    Codec<std::string>::Encode(ref.valid() ? ref.id().Binary() : std::string(), out);
  }
  // This process's ref to the object the id names; DataLoss for a malformed id.
  static absl::Status Decode(Decoder& in, ObjectRef<T>* ref) {
    std::string id;
    if (absl::Status read = Codec<std::string>::Decode(in, &id); !read.ok()) return read;
    if (id.empty()) {
      *ref = ObjectRef<T>();
      return absl::OkStatus();
    }
    absl::StatusOr<DataID> parsed = DataID::FromBinary(id);
    if (!parsed.ok()) return absl::DataLossError(std::string(parsed.status().message()));
    *ref = ObjectRef<T>::FromHandle(api_internal::DecodeRef(*parsed));
    return absl::OkStatus();
  }
};

namespace api_internal {
template <typename Tuple, size_t... I>
auto MakeRefTuple(std::vector<RefHandle>& handles, std::index_sequence<I...>) {
  return std::make_tuple(
      ObjectRef<std::tuple_element_t<I, Tuple>>::FromHandle(std::move(handles[I]))...);
}
}  // namespace api_internal

// Stores `value` and returns a ref to it. Before Init the ref's object is failed with
// FailedPrecondition (reported by Get).
template <typename T>
ObjectRef<std::decay_t<T>> Put(T&& value) {
  using Value = std::decay_t<T>;
  if constexpr (!codec_internal::CheckEncodable<Value>()) {
    return ObjectRef<Value>();
  } else {
    api_internal::EncodedHandlesScope handles;  // handles in the value stay with it
    const size_t size = EncodedSize(value);
    return ObjectRef<Value>::FromHandle(api_internal::Put(
        api_internal::ValueWriter{
            size, ElementsOffset(value),
            [&value, size](char* out) { return EncodeInto(value, out, size); }},
        handles));
  }
}

// The object's value, blocking until it is ready. Returns the task's error if it failed,
// FailedPrecondition for a ref made before Init, InvalidArgument for an empty ref,
// Cancelled if Shutdown came first, or DataLoss/InvalidArgument if the bytes do not
// decode as T.
template <typename T>
absl::StatusOr<T> Get(const ObjectRef<T>& ref) {
  static_assert(!kIsCodecView<T>, "unidist::Get cannot return a view; Get the owning type");
  absl::StatusOr<std::shared_ptr<const ObjectBytes>> bytes =
      api_internal::Get(ref.handle(), absl::InfiniteFuture());
  if (!bytes.ok()) return bytes.status();
  return Decode<T>((*bytes)->view());
}

// As Get(ref), but gives up after `timeout` with DeadlineExceeded.
template <typename T>
absl::StatusOr<T> Get(const ObjectRef<T>& ref, absl::Duration timeout) {
  static_assert(!kIsCodecView<T>, "unidist::Get cannot return a view; Get the owning type");
  absl::StatusOr<std::shared_ptr<const ObjectBytes>> bytes =
      api_internal::Get(ref.handle(), api_internal::DeadlineIn(timeout));
  if (!bytes.ok()) return bytes.status();
  return Decode<T>((*bytes)->view());
}

// Waits for a task returning void or absl::Status: OK once it succeeded, else its error.
absl::Status Get(const ObjectRef<void>& ref);
// As Get(ref) for a void task, but gives up after `timeout` with DeadlineExceeded.
absl::Status Get(const ObjectRef<void>& ref, absl::Duration timeout);

// The values of all `refs`, in order; the first error among them if any failed.
template <typename T>
absl::StatusOr<std::vector<T>> Get(const std::vector<ObjectRef<T>>& refs) {
  static_assert(!kIsCodecView<T>, "unidist::Get cannot return a view; Get the owning type");
  // A batch's bytes at a time, under one lock of the store, then their decoding: the
  // lists are reused from batch to batch, where lists as long as `refs` would be memory
  // the allocator may have to fault in afresh on every call.
  constexpr size_t kBatch = 4096;
  std::vector<const api_internal::RefHandle*> handles;
  handles.reserve(std::min(refs.size(), kBatch));
  GatheredBytes bytes;
  std::vector<T> values;
  values.reserve(refs.size());
  for (size_t begin = 0; begin < refs.size(); begin += kBatch) {
    handles.clear();
    for (size_t i = begin; i < refs.size() && i < begin + kBatch; ++i) {
      handles.push_back(&refs[i].handle());
    }
    bytes.Clear();
    absl::Status got = api_internal::GetAll(handles, absl::InfiniteFuture(), &bytes);
    for (size_t i = 0; i < bytes.size(); ++i) {
      absl::StatusOr<T> value = Decode<T>(bytes.view(i));
      if (!value.ok()) return value.status();  // the first error in the refs' order
      values.push_back(std::move(*value));
    }
    if (!got.ok()) return got;
  }
  return values;
}

// Cancels the task whose result `ref` is (Ray's ray.cancel):
//   * not started yet (waiting for arguments, queued in the driver or on a worker): it
//     never runs, and its refs fail with Cancelled;
//   * running: with force, its worker process is killed (and replaced) and its refs fail
//     with Cancelled; without force, nothing happens.
// Returns OK when the task is cancelled; FailedPrecondition if it has finished already,
// or is running and !force, or when called inside a task (see "Calls a task may not
// make" above); InvalidArgument for a ref that is not a task's result (from Put, or
// empty), or for force on an actor's call (use Actor::Kill).
template <typename T>
absl::Status Cancel(const ObjectRef<T>& ref, bool force = false) {
  return api_internal::Cancel(ref.handle(), force);
}

// The outcome of Wait: the refs that are complete and those that are not, each in the
// caller's order.
template <typename T>
struct WaitResult {
  std::vector<ObjectRef<T>> ready;      // complete (ready or failed), at most num_returns
  std::vector<ObjectRef<T>> not_ready;  // all the others
};

// A progress bar for a long Wait or Get: pass `unidist::ShowProgress()` (or, with a
// label, `unidist::ShowProgress("sampling")`) as their last argument:
//
//   unidist::Get(refs, unidist::ShowProgress());
//   unidist::Wait(refs, refs.size(), absl::Minutes(5), unidist::ShowProgress("fit"));
//
// While the call blocks, one line on `fd` shows a bar, how many of the refs are complete
// out of how many, the rate since the call began and an estimate of the time left:
//
//   fit [##########..........] 512/1024  210.4/s  eta 2s
//
// It is redrawn every `refresh` and ends with a newline when the call returns. Nothing
// is written unless `fd` is a terminal, so logs and pipes stay clean; nothing either
// inside a task.
struct ShowProgress {
  // No label, drawn on standard error, redrawn every 200 ms: `ShowProgress()`.
  ShowProgress() = default;
  // With a label: `ShowProgress("fit")`, or `ShowProgress{"fit"}`. Not explicit, so that
  // `{"fit"}` where a ShowProgress is expected compiles, as it did before ShowProgress had
  // constructors.
  ShowProgress(std::string label) : label(std::move(label)) {}
  // With a label, drawn on `fd` if it is a terminal: `ShowProgress("fit", fd)`.
  ShowProgress(std::string label, int fd) : label(std::move(label)), fd(fd) {}
  // With a label, drawn on `fd`, redrawn every `refresh`.
  ShowProgress(std::string label, int fd, absl::Duration refresh)
      : label(std::move(label)), fd(fd), refresh(refresh) {}

  // Printed before the bar. Default: nothing.
  std::string label;
  // Where to draw, if it is a terminal. Default: standard error.
  int fd = 2;
  // How often the line is redrawn while waiting. Default: 200 ms (at least 10 ms).
  absl::Duration refresh = absl::Milliseconds(200);
};

namespace api_internal {
template <typename T>
WaitResult<T> WaitRefs(const std::vector<ObjectRef<T>>& refs, int num_returns,
                       absl::Duration timeout, const ShowProgress* progress) {
  std::vector<const api_internal::RefHandle*> handles;
  handles.reserve(refs.size());
  for (const ObjectRef<T>& ref : refs) handles.push_back(&ref.handle());
  const absl::Time deadline = DeadlineIn(timeout);
  const std::vector<size_t> ready =
      progress == nullptr ? Wait(handles, num_returns, deadline)
                          : WaitWithProgress(handles, num_returns, deadline, progress->label,
                                             progress->fd, progress->refresh);
  WaitResult<T> result;
  result.ready.reserve(ready.size());
  result.not_ready.reserve(refs.size() - ready.size());
  size_t next_ready = 0;
  for (size_t i = 0; i < refs.size(); ++i) {
    if (next_ready < ready.size() && ready[next_ready] == i) {
      result.ready.push_back(refs[i]);
      ++next_ready;
    } else {
      result.not_ready.push_back(refs[i]);
    }
  }
  return result;
}
}  // namespace api_internal

// unidist's wait: blocks until `num_returns` of `refs` are complete (ready or failed) or
// `timeout` passes, then returns at most `num_returns` complete refs in `ready` and all
// the others in `not_ready`. num_returns is clamped to refs.size(); num_returns <= 0
// returns at once with every ref in not_ready. Refs made before Init, empty refs and refs
// of a runtime that was shut down count as complete.
template <typename T>
WaitResult<T> Wait(const std::vector<ObjectRef<T>>& refs, int num_returns = 1,
                   absl::Duration timeout = absl::InfiniteDuration()) {
  return api_internal::WaitRefs(refs, num_returns, timeout, nullptr);
}

// As Wait, drawing a progress bar while it blocks (see ShowProgress).
template <typename T>
WaitResult<T> Wait(const std::vector<ObjectRef<T>>& refs, int num_returns, absl::Duration timeout,
                   const ShowProgress& progress) {
  return api_internal::WaitRefs(refs, num_returns, timeout, &progress);
}

// As Get(refs), drawing a progress bar until all of them are complete (see ShowProgress).
template <typename T>
absl::StatusOr<std::vector<T>> Get(const std::vector<ObjectRef<T>>& refs,
                                   const ShowProgress& progress) {
  Wait(refs, static_cast<int>(refs.size()), absl::InfiniteDuration(), progress);
  return Get(refs);
}

// Runs `fn(args...)` on a worker process and returns a ref to its result.
// `fn` is a plain function registered with UNIDIST_REMOTE. Each argument is a value
// convertible to the parameter's type, or an ObjectRef of the parameter's type (the
// worker receives its value; the task waits until it is ready, and fails with its error
// if it failed). The ref's type is R for fn returning R, X for absl::StatusOr<X>, and void
// for void or absl::Status. An unregistered `fn` gives a ref that fails with NotFound.
// `options` (see TaskOptions) may come first.
//
// Mistakes the compiler reports, each with one error that says how to fix it (see
// docs/errors.md): a first argument that is not a function (a lambda, a member function),
// a wrong number of arguments, an argument that does not convert to its parameter's type,
// an ObjectRef of another type, and a parameter or result type without a codec.
template <typename F, typename... Args>
auto Submit(const TaskOptions& options, F* fn, Args&&... args) {
  using Result = typename api_internal::CallResult<F>::Type;
  if constexpr (!api_internal::CheckCall<F, Args...>()) {
    return ObjectRef<Result>();
  } else {
    std::vector<api_internal::TaskArg> task_args = api_internal::MakeTaskArgs<F>(
        std::index_sequence_for<Args...>(), std::forward<Args>(args)...);
    return ObjectRef<Result>::FromHandle(std::move(
        api_internal::Submit(api_internal::FunctionKey(fn), api_internal::FunctionAddress(fn),
                             std::move(task_args), 1, options.max_retries)[0]));
  }
}

// Submit with the default TaskOptions (no retries): the common form,
// `unidist::Submit(Square, 7)`.
template <typename F, typename... Args>
auto Submit(F* fn, Args&&... args) {
  return Submit(TaskOptions(), fn, std::forward<Args>(args)...);
}

template <typename Signature>
class Function;  // unidist/function.h

namespace api_internal {
// True for unidist::Function, which Submit takes as the function it holds.
template <typename F>
inline constexpr bool kIsFunctionValue = false;
template <typename Signature>
inline constexpr bool kIsFunctionValue<Function<Signature>> = true;
}  // namespace api_internal

// Submit of something that is not a function (a lambda, a std::function, a member
// function): does not compile, with one error that says what to pass instead.
template <typename F, typename... Args,
          typename = std::enable_if_t<!api_internal::kIsPlainFunction<F> &&
                                      !api_internal::kIsFunctionValue<std::decay_t<F>> &&
                                      !std::is_same_v<std::decay_t<F>, TaskOptions>>>
ObjectRef<typename api_internal::MistakenCallResult<F, Args...>::Type> Submit(F&& /*fn*/,
                                                                              Args&&... /*args*/) {
  api_internal::CheckPlainFunction<F>();
  return {};
}

// As above, after TaskOptions.
template <typename F, typename... Args,
          typename = std::enable_if_t<!api_internal::kIsPlainFunction<F> &&
                                      !api_internal::kIsFunctionValue<std::decay_t<F>>>>
ObjectRef<typename api_internal::MistakenCallResult<F, Args...>::Type> Submit(
    const TaskOptions& /*options*/, F&& /*fn*/, Args&&... /*args*/) {
  api_internal::CheckPlainFunction<F>();
  return {};
}

// How unidist::Map ships its inputs.
struct MapOptions {
  // Inputs per task (a chunk): each chunk travels to a worker as one message and its
  // results come back as one. 0: about four chunks per worker, as Python's Pool.map
  // chooses (ceil(n / (4 × workers))). A chunk also ends early at 4 MiB of encoded
  // inputs, so that large inputs do not make one huge message.
  size_t chunk_size = 0;
  // As TaskOptions::max_retries, for each chunk: a worker that dies while running a
  // chunk fails (or, with retries, re-runs) the whole chunk.
  int max_retries = 0;
};

namespace api_internal {
// True when the function type F has exactly one parameter.
template <typename F>
inline constexpr bool kHasOneParameter = FunctionTraits<F>::kArity == 1;

template <typename F>
constexpr bool CheckMapFunction() {
  static_assert(kHasOneParameter<F>,
                "unidist::Map calls a function of exactly one parameter, once per input; use "
                "Submit for other functions. The note below names the function's type.");
  return kHasOneParameter<F>;
}

// True when T, the type of Map's inputs, is a value type and not an ObjectRef.
template <typename T>
inline constexpr bool kIsMapInputValue = !IsObjectRef<T>::value;

template <typename T>
constexpr bool CheckMapInput() {
  static_assert(kIsMapInputValue<T>,
                "unidist::Map takes values, not ObjectRefs: Submit once per ref instead. The "
                "note below names the input type.");
  return kIsMapInputValue<T>;
}

// Checks unidist::Map of the function type F over inputs of type T.
template <typename F, typename T>
constexpr bool CheckMapCall() {
  if constexpr (!CheckMapFunction<F>()) {
    return false;
  } else if constexpr (!CheckMapInput<T>()) {
    return false;
  } else if constexpr (
      !CheckArgument<1, std::decay_t<std::tuple_element_t<0, typename FunctionTraits<F>::Params>>,
                     const T&>()) {
    return false;
  } else {
    return CheckResult<typename FunctionTraits<F>::Return>();
  }
}

// unidist::Map, once CheckMapCall passed.
template <typename Result, typename F, typename T>
std::vector<ObjectRef<Result>> MapValues(F* fn, const std::vector<T>& inputs,
                                         const MapOptions& options) {
  using Param = std::decay_t<std::tuple_element_t<0, typename FunctionTraits<F>::Params>>;
  MapInputs encoded;
  encoded.ends.reserve(inputs.size());
  EncodedHandlesScope in_inputs;  // handles in the inputs
  for (const T& input : inputs) {
    if constexpr (std::is_same_v<Param, T>) {
      EncodeTo(input, &encoded.bytes);
    } else {
      EncodeTo(Param(input), &encoded.bytes);
    }
    encoded.ends.push_back(encoded.bytes.size());
    if (encoded.ends.size() == 1) {
      // Room for all, guessed from the first (and capped: a guess, not a promise).
      encoded.bytes.reserve(std::min(encoded.bytes.size() * inputs.size(), size_t{64} << 20));
    }
  }
  EncodedHandles held = in_inputs.Take();
  std::vector<ObjectRef<Result>> refs;
  refs.reserve(inputs.size());
  api_internal::Map(FunctionKey(fn), FunctionAddress(fn), encoded, options.chunk_size,
                    options.max_retries, [&refs](RefHandle handle) {
                      refs.push_back(ObjectRef<Result>::FromHandle(std::move(handle)));
                    });
  if (!held.empty()) {
    // Kept while any result is (the chunks' workers hold them until their tasks end).
    std::vector<DataID> ids;
    ids.reserve(refs.size());
    for (const ObjectRef<Result>& ref : refs) ids.push_back(ref.handle().id);
    KeepWithObjects(ids, std::move(held));
  }
  return refs;
}
}  // namespace api_internal

// Calls `fn` on every element of `inputs` on the workers and returns one ref per input,
// in the order of `inputs` (Python's Pool.map, with refs). `fn` is a plain function of one
// parameter registered with UNIDIST_REMOTE; each input is a value convertible to that
// parameter's type (not an ObjectRef: use Submit for those). The inputs go to the workers
// in chunks (see MapOptions), which costs far less per call than one Submit each.
// Outcomes, per ref: the call's value; the call's own error (a returned status or an
// exception, as for Submit), which fails only that ref; Unavailable for every ref of a
// chunk whose worker died running it; ResourceExhausted for every ref of a chunk larger
// than Options::max_message_bytes. FailedPrecondition before Init, NotFound for an
// unregistered `fn`: every ref fails with it. Inside a task it works too, as one nested
// Submit per input. An empty `inputs` gives no refs.
template <typename F, typename T>
auto Map(F* fn, const std::vector<T>& inputs, const MapOptions& options = MapOptions()) {
  using Result = typename api_internal::CallResult<F>::Type;
  std::vector<ObjectRef<Result>> refs;
  if constexpr (api_internal::CheckMapCall<F, T>()) {
    refs = api_internal::MapValues<Result>(fn, inputs, options);
  }
  return refs;
}

namespace api_internal {
// True when the function type F returns a std::tuple (or an absl::StatusOr of one).
template <typename F>
inline constexpr bool kReturnsTuple = IsTuple<typename CallResult<F>::Type>::value;

template <typename F>
constexpr bool CheckReturnsTuple() {
  static_assert(kReturnsTuple<F>,
                "unidist::SubmitTuple needs a function returning a std::tuple (or an "
                "absl::StatusOr of one); use Submit for other functions. The note below names "
                "the function's type.");
  return kReturnsTuple<F>;
}
}  // namespace api_internal

// As Submit, for a function returning std::tuple<A, B, ...> (or a StatusOr of one): one
// ref per element, as std::tuple<ObjectRef<A>, ObjectRef<B>, ...> (unidist's
// num_returns > 1). If the task fails, every ref fails with its error. `options` (see
// TaskOptions) may come first.
template <typename F, typename... Args>
auto SubmitTuple(const TaskOptions& options, F* fn, Args&&... args) {
  using Result = typename api_internal::CallResult<F>::Type;
  if constexpr (!api_internal::CheckReturnsTuple<F>()) {
    return std::tuple<ObjectRef<Result>>();  // as if the result were the one element
  } else {
    constexpr size_t kSize = std::tuple_size_v<Result>;
    std::vector<api_internal::RefHandle> handles(kSize);
    if constexpr (api_internal::CheckCall<F, Args...>()) {
      std::vector<api_internal::TaskArg> task_args = api_internal::MakeTaskArgs<F>(
          std::index_sequence_for<Args...>(), std::forward<Args>(args)...);
      handles =
          api_internal::Submit(api_internal::FunctionKey(fn), api_internal::FunctionAddress(fn),
                               std::move(task_args), static_cast<int>(kSize), options.max_retries);
    }
    return api_internal::MakeRefTuple<Result>(handles, std::make_index_sequence<kSize>());
  }
}

// SubmitTuple with the default TaskOptions (no retries).
template <typename F, typename... Args>
auto SubmitTuple(F* fn, Args&&... args) {
  return SubmitTuple(TaskOptions(), fn, std::forward<Args>(args)...);
}

// A handle to an actor: an instance of class T that lives in a worker process of its
// own and runs the methods submitted to it, one at a time, in submission order, keeping
// its state between calls.
//
//   class Counter {
//    public:
//     explicit Counter(int start) : value_(start) {}
//     int Add(int x) { return value_ += x; }
//     int Value() const { return value_; }
//    private:
//     int value_;
//   };
//   UNIDIST_ACTOR(Counter, int);                     // the class and its constructor's types
//   UNIDIST_REMOTE(&Counter::Add, &Counter::Value);  // its remote methods
//
//   unidist::Actor<Counter> counter = unidist::CreateActor<Counter>(10);
//   unidist::ObjectRef<int> r = counter.Submit(&Counter::Add, 5);   // Get(r) == 15
//
// Actor is a copyable handle, and a value: it can be passed to tasks and to other actors'
// methods, returned from them, Put, and held inside other values (a struct, a vector, ...).
// Every copy, in whichever process, reaches the same instance. Inside a task it works as
// in the driver: Submit, Kill and Created go through the driver, and the calls of one
// caller (one thread of the driver, or one task) run in the order that caller made them.
// (A handle stored in a global variable after Init is not seen by the worker processes,
// which are copies of the program made at Init: pass it as an argument.)
//
// Lifetime: the actor lives while any handle to it exists anywhere (in the driver, in a
// task or actor that holds one, or inside an object of the store), then ends after the
// calls already submitted have run. ActorOptions::detached makes it live on without
// handles. Kill() ends it at once; Shutdown() ends every actor. Each actor has a process
// of its own, so actors never take workers from the task pool, and tasks never wait for
// an actor.
//
// Errors: a method that throws or returns a non-OK status fails only that call; the actor
// keeps its state. If the constructor fails, every call fails with its error. If the
// actor's process dies, every pending and later call fails with Unavailable naming the
// actor's class and the signal. After Kill, calls fail with Cancelled. A handle decoded
// after its actor ended (no handle was left, or its session ended) fails every call with
// NotFound; one decoded as the wrong class, with InvalidArgument.
template <typename T>
class Actor {
 public:
  // A handle to no actor: calls fail with InvalidArgument.
  Actor() = default;

  // Calls `method` (a member function of T registered with UNIDIST_REMOTE) on the actor
  // with `args` (values or ObjectRefs, as for unidist::Submit). Returns a ref to its
  // result, typed as for Submit. Calls run in the order Submit was called, even when an
  // earlier call waits for an ObjectRef argument.
  template <typename M, typename... Args>
  auto Submit(M method, Args&&... args) const {
    using Result = typename api_internal::CallResult<M>::Type;
    if constexpr (!api_internal::CheckMethod<M, T>()) {
      return ObjectRef<Result>();
    } else if constexpr (!api_internal::CheckCall<M, Args...>()) {
      return ObjectRef<Result>();
    } else {
      RegisterInheritedMethod<M>();
      std::vector<api_internal::TaskArg> task_args = api_internal::MakeTaskArgs<M>(
          std::index_sequence_for<Args...>(), std::forward<Args>(args)...);
      return ObjectRef<Result>::FromHandle(std::move(api_internal::SubmitActorCall(
          handle_, api_internal::FunctionKey(method), std::move(task_args), 1)[0]));
    }
  }

  // As Submit, for a method returning std::tuple<A, B, ...> (or a StatusOr of one): one ref
  // per element, as std::tuple<ObjectRef<A>, ObjectRef<B>, ...> (unidist::SubmitTuple on an
  // actor). If the call fails, every ref fails with its error.
  template <typename M, typename... Args>
  auto SubmitTuple(M method, Args&&... args) const {
    using Result = typename api_internal::CallResult<M>::Type;
    if constexpr (!api_internal::CheckReturnsTuple<M>()) {
      return std::tuple<ObjectRef<Result>>();  // as if the result were the one element
    } else {
      constexpr size_t kSize = std::tuple_size_v<Result>;
      std::vector<api_internal::RefHandle> handles(kSize);
      if constexpr (api_internal::CheckMethod<M, T>() && api_internal::CheckCall<M, Args...>()) {
        RegisterInheritedMethod<M>();
        std::vector<api_internal::TaskArg> task_args = api_internal::MakeTaskArgs<M>(
            std::index_sequence_for<Args...>(), std::forward<Args>(args)...);
        handles = api_internal::SubmitActorCall(handle_, api_internal::FunctionKey(method),
                                                std::move(task_args), static_cast<int>(kSize));
      }
      return api_internal::MakeRefTuple<Result>(handles, std::make_index_sequence<kSize>());
    }
  }

  // Ends the actor's process at once; calls not finished fail with Cancelled. OK, or
  // FailedPrecondition if the actor is gone already. Inside a task it waits for the driver
  // to have done it.
  absl::Status Kill() const { return api_internal::KillActor(handle_); }

  // Completes when the constructor has run: OK, or the constructor's error (Get on it).
  ObjectRef<void> Created() const {
    return ObjectRef<void>::FromHandle(api_internal::ActorCreated(handle_));
  }

  // False for a default-constructed handle.
  bool valid() const { return handle_ != nullptr; }

  // For the library.
  explicit Actor(std::shared_ptr<api_internal::ActorHandle> handle) : handle_(std::move(handle)) {}

 private:
  // A method of a base class of T runs on T's instance through a registered upcast.
  template <typename M>
  static void RegisterInheritedMethod() {
    using Class = typename api_internal::FunctionTraits<M>::Class;
    if constexpr (!std::is_same_v<Class, T>) {
      static_cast<void>(api_internal::kUpcastRegistered<T, Class>);
    }
  }

 public:
  // For the library: what the copies of this handle share.
  const std::shared_ptr<api_internal::ActorHandle>& handle() const { return handle_; }

 private:
  std::shared_ptr<api_internal::ActorHandle> handle_;
};

// An Actor<T> in encoded values: the actor's id (a varint; 0 for an empty handle). The
// process that sends the bytes keeps the actor alive until the receiver holds it.
template <typename T>
struct Codec<Actor<T>> {
  // The shortest encoding: an empty handle's 0.
  static constexpr size_t kMinEncodedSize = 1;
  // Writes the actor's id, recording the handle for the caller to keep alive.
  static void Encode(const Actor<T>& actor, Encoder& out) {
    out.WriteVarint(api_internal::EncodeActor(actor.handle()));
  }
  // This process's handle to the actor the id names; DataLoss for a truncated id.
  static absl::Status Decode(Decoder& in, Actor<T>* actor) {
    uint64_t id = 0;
    if (absl::Status read = in.ReadVarint(&id); !read.ok()) return read;
    *actor = Actor<T>(api_internal::DecodeActor(id, typeid(T).name()));
    return absl::OkStatus();
  }
};

// How CreateActor sets up an actor (Ray's actor options).
struct ActorOptions {
  // A name to find the actor by (GetActor), from the driver and from tasks. Unique among
  // the live actors of the session: CreateActor of a name a live actor has fails (every
  // call on the returned handle fails with AlreadyExists) unless get_if_exists is set. An
  // actor's name is free again once it has ended. "": no name.
  std::string name{};
  // A detached actor lives on when its last handle goes, until Kill, its process's death
  // or Shutdown (Ray's lifetime="detached"); usually named, to be found again.
  bool detached = false;
  // With a name: if a live actor has it, return a handle to that one (which must be of
  // class T, else InvalidArgument) instead of creating one; the constructor arguments are
  // then unused.
  bool get_if_exists = false;
  // How many times to re-create the actor when its process dies (a crash, a signal,
  // running out of memory; not Kill): a new process runs the constructor again with the
  // same arguments, then the calls that were queued, in order; the state is the
  // constructor's. -1: every time. Default 0, as in Ray: a dead actor stays dead.
  int max_restarts = 0;
  // For a restarted actor: how many times a call that was in flight when the process died
  // runs again on the new instance (once its constructor has), before its result fails
  // with Unavailable. -1: every time. Default 0: such calls fail.
  int max_task_retries = 0;
  // How many of the actor's calls may run at once, each on a thread of its own in the
  // actor's process (Ray's threaded actors): once the constructor has returned, calls
  // start in the order they reach the actor and up to this many overlap, so they may end
  // in another order, and the class must be safe to use from several threads. A call that
  // waits (a nested Get, a call to another actor) holds one thread meanwhile. 1, the
  // default: one call at a time, in order. Between 1 and kMaxActorConcurrency, else every
  // call on the handle fails with InvalidArgument. The sequential backend runs the calls
  // one at a time anyway.
  int max_concurrency = 1;
};

// The largest ActorOptions::max_concurrency: threads of one process.
inline constexpr int kMaxActorConcurrency = api_internal::kMaxActorConcurrency;

// Inside an actor's method: true when the actor was re-created after its process died
// (ActorOptions::max_restarts), as Ray's WasCurrentActorRestarted. False elsewhere.
bool WasCurrentActorRestarted();

// Inside an actor's method: ends the actor once this method returns (Ray's exit_actor).
// The method's own result is delivered; every later call, sent already or not, fails with
// Cancelled ("exited"); the actor's name is free, it is not restarted, and its process
// ends. OK, or FailedPrecondition outside an actor's method.
absl::Status ExitActor();

namespace api_internal {
// A constructor argument as overload resolution among T's registered constructors sees
// it: an ObjectRef<X> stands for an X.
template <typename Arg, bool = IsObjectRef<std::decay_t<Arg>>::value>
struct ConstructorArgument {
  using Type = Arg&&;
};
template <typename Arg>
struct ConstructorArgument<Arg, true> {
  using Type = typename IsObjectRef<std::decay_t<Arg>>::ValueType;
};

// The parameter types of the constructor of T, registered with UNIDIST_ACTOR(T, types...),
// that C++ overload resolution picks for Args, as std::tuple<types...>; void when none
// matches (T not registered, no constructor takes Args, or two fit as well).
template <typename T, typename Enable, typename... Args>
struct ChosenConstructor {
  using Type = void;
};
template <typename T, typename... Args>
struct ChosenConstructor<
    T,
    std::void_t<decltype(UnidistActorConstructor(
        static_cast<T*>(nullptr), std::declval<typename ConstructorArgument<Args>::Type>()...))>,
    Args...> {
  using Type = std::remove_pointer_t<decltype(UnidistActorConstructor(
      static_cast<T*>(nullptr), std::declval<typename ConstructorArgument<Args>::Type>()...))>;
};

// True when a registered constructor of T takes Args.
template <typename T, typename... Args>
inline constexpr bool kHasRegisteredConstructorFor =
    !std::is_void_v<typename ChosenConstructor<T, void, Args...>::Type>;

template <typename T, typename... Args>
constexpr bool CheckActorConstructor() {
  static_assert(kHasRegisteredConstructorFor<T, Args...>,
                "unidist::CreateActor<T>(args...): no constructor of T registered with "
                "UNIDIST_ACTOR(T, parameter types...) takes these arguments (or two take them "
                "equally well). Register each constructor that actors use, once, at namespace "
                "scope in T's namespace. The note below names T and the argument types.");
  return kHasRegisteredConstructorFor<T, Args...>;
}
}  // namespace api_internal

// Starts an actor of class T in a new worker process, constructing it there from `args`
// (values or ObjectRefs of the constructor's parameter types) with the constructor that
// C++ overload resolution picks among those registered with UNIDIST_ACTOR. Does not wait
// for the constructor: see Actor::Created. Before Init or inside a task (see "Calls a task
// may not make" above) every call on the returned actor fails with FailedPrecondition.
// `options` (see ActorOptions) may come first.
template <typename T, typename... Args>
Actor<T> CreateActor(const ActorOptions& options, Args&&... args) {
  if constexpr (!api_internal::CheckActorConstructor<T, Args...>()) {
    return Actor<T>();
  } else {
    using ConstructorArgs = typename api_internal::ChosenConstructor<T, void, Args...>::Type;
    using Signature = typename api_internal::ConstructorSignature<ConstructorArgs>::Type;
    if constexpr (!api_internal::CheckArgumentCount<Signature, Args...>()) {
      return Actor<T>();
    } else {
      std::vector<api_internal::TaskArg> task_args = api_internal::MakeTaskArgs<Signature>(
          std::index_sequence_for<Args...>(), std::forward<Args>(args)...);
      return Actor<T>(api_internal::CreateActor(
          typeid(T).name(), typeid(ConstructorArgs).name(), std::move(task_args),
          api_internal::ActorSettings{options.name, options.detached, options.get_if_exists,
                                      options.max_restarts, options.max_task_retries,
                                      options.max_concurrency}));
    }
  }
}

namespace api_internal {
// True when the first of Args is ActorOptions.
template <typename... Args>
inline constexpr bool kStartsWithActorOptions = false;
template <typename First, typename... Rest>
inline constexpr bool kStartsWithActorOptions<First, Rest...> =
    std::is_same_v<std::decay_t<First>, ActorOptions>;
}  // namespace api_internal

// CreateActor with the default ActorOptions (no name, ends with its last handle).
template <typename T, typename... Args,
          typename = std::enable_if_t<!api_internal::kStartsWithActorOptions<Args...>>>
Actor<T> CreateActor(Args&&... args) {
  return CreateActor<T>(ActorOptions(), std::forward<Args>(args)...);
}

// The live actor named `name` (ActorOptions::name), of class T: from the driver or from
// inside a task (Ray's GetActor). NotFound if no live actor has that name (it never had,
// or its actor ended); InvalidArgument if that actor is of another class or `name` is
// empty; FailedPrecondition before Init.
template <typename T>
absl::StatusOr<Actor<T>> GetActor(const std::string& name) {
  absl::StatusOr<std::shared_ptr<api_internal::ActorHandle>> handle =
      api_internal::GetActor(name, typeid(T).name());
  if (!handle.ok()) return handle.status();
  return Actor<T>(*std::move(handle));
}

}  // namespace unidist

#define UNIDIST_INTERNAL_CONCAT_INNER(a, b) a##b
#define UNIDIST_INTERNAL_CONCAT(a, b) UNIDIST_INTERNAL_CONCAT_INNER(a, b)

// Registers one or more plain functions as remote tasks, under their names as written:
//
//   int Square(int x);
//   namespace geo { double Area(Shape s); }
//   UNIDIST_REMOTE(Square, geo::Area);
//
// Use it at namespace scope in a source file of the program (not in a function), once per
// function. Every parameter type and the return type need a codec. Names must be unique
// in the program; two different functions registered under one name make Init fail.
#define UNIDIST_REMOTE(...)                                                              \
  [[maybe_unused]] static const bool UNIDIST_INTERNAL_CONCAT(unidist_remote_registered_, \
                                                             __COUNTER__) =              \
      ::unidist::api_internal::RegisterFunctions(#__VA_ARGS__, __VA_ARGS__)

// Registers a constructor of class `Class`, by its parameter types, so that actors of the
// class can be made with it (CreateActor):
//
//   UNIDIST_ACTOR(Counter, int);
//   UNIDIST_ACTOR(Counter);                     // and the default one
//   UNIDIST_ACTOR(Table, std::map<int, int>);   // commas inside types are fine
//
// Use it at namespace scope, in the namespace that declares the class, once per
// constructor; register the methods with UNIDIST_REMOTE(&Class::Method, ...). Every
// parameter type needs a codec.
#define UNIDIST_ACTOR(Class, ...)                                                           \
  [[maybe_unused]] inline std::tuple<__VA_ARGS__>* UnidistActorConstructor(Class*,          \
                                                                           ##__VA_ARGS__) { \
    return nullptr;                                                                         \
  }                                                                                         \
  [[maybe_unused]] static const bool UNIDIST_INTERNAL_CONCAT(unidist_actor_registered_,     \
                                                             __COUNTER__) =                 \
      ::unidist::api_internal::RegisterActor<Class>(                                        \
          #Class, #__VA_ARGS__, static_cast<std::tuple<__VA_ARGS__>*>(nullptr))

// GetView, Allocate and Seal: large arrays without copies.
#include "unidist/shared_arrays.h"  // IWYU pragma: export
// Registered functions as values.
#include "unidist/function.h"  // IWYU pragma: export

#endif  // UNIDIST_API_UNIDIST_H_
