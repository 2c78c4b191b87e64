// Copyright 2026 The unidist-cpp Authors.
//
// ProcessManager: the pool of worker processes of the multiprocessing backend.
//
// Start() forks N pool workers (through a fork server, see internal/fork_server.h).
// Dispatch() hands each task to the next live worker in round-robin order (or, with
// options.least_loaded, to the one with the fewest tasks in flight) and returns at once;
// a worker holds at most max_tasks_per_worker tasks (2 under least_loaded; plus one per
// task of its waiting in a nested call), and further ones wait in the driver until
// results make room.
// One event thread reads results from all workers and reports each through `on_result`,
// except where a thread waits for one task's outcome in WaitForResult: that thread watches
// the socket of the worker holding the task and reads what the worker sends itself (see
// internal/result_reader.cc), so the answer wakes it directly instead of waking the event
// thread, which then woke it. Events are handled by one thread at a time, the event
// thread or a reader (events_mu_), so every path below is the same whichever runs it.
// A worker runs its tasks one at a time, in order, except that a pool worker whose task
// waits in a nested API call runs queued tasks meanwhile (see internal/worker_loop.h).
//
// The event thread never waits for a process or for the fork server, so one worker's
// death never holds up another's results (internal/event_loop.cc has the steps):
// * It watches each worker's socket, output pipes and pidfd in one epoll set. A worker
//   stops counting as alive when its socket reports end of file, or when its pidfd says
//   it exited even though its socket is still open (a process its task forked holds it).
// * A worker that closed its socket but has not exited gets options.reap_grace; then it
//   is killed with SIGKILL. The deadline is epoll_wait's timeout, not a wait.
// * Once its pidfd fires the fork server reaps it, and the tasks it had started are
//   reported with how it ended. Reaps and replacements are fork server round trips, made
//   on a thread of their own (internal/async_fork_server.h); a replacement starts as soon
//   as the worker stops talking, without waiting for the old process to end.
//
// Result rings (options.result_ring_bytes; internal/result_ring.h): each pool worker may
// write its messages into shared memory of its own instead of its socket. Its socket then
// carries tasks to it and, back, only one-byte wake-up tokens, written when a driver
// thread has said it sleeps; it still reports the worker's death (EOF). The event thread
// reads every ring with data after each epoll_wait, and before it sleeps it says so to
// the workers and looks at the rings once more; a reader does the same for its worker's
// ring. What a worker wrote before it died is read before its tasks are failed.
//
// Dedicated workers (StartDedicatedWorker, for actors) are outside the pool: they run
// only what DispatchTo sends them, in order, and are not replaced when they die.
//
// Failures:
// * A pool worker that dies (crash, signal, exit, or a closed socket) fails the tasks it
//   had started with Unavailable once it is reaped (the message names the function, the
//   worker, its pid and how it ended, and ends with the last lines the worker wrote to
//   stderr, where glog's failure signal handler has written the stack trace of a crash)
//   and is replaced by a new worker in the same slot, so the pool keeps its size. Tasks
//   queued on it that had not started go back to the head of the driver's queue at once.
// * A worker that sends bytes that do not decode is killed and treated the same way, with
//   DataLoss for its running task. Frames carry a magic and checksums (common/framing.h),
//   so bytes a task writes to the worker's socket are caught at the first frame header
//   they spoil, at the latest the worker's own next message (its result), with DataLoss
//   naming the fault (bad magic, bad header checksum, length over max_frame_bytes, bad
//   body checksum).
// * A pool worker with a result ring: any byte on its socket other than a wake-up token,
//   or more tokens than it counted, is a protocol error at once; frames in the ring are
//   checked as on the socket, and counters that claim more than the ring holds (a task
//   wrote on them) are a protocol error too.
// * The idle rule: a worker sends only while it holds a task (messages are answers to
//   tasks, and API calls come from tasks; a notification made between tasks waits for the
//   next task, see internal/worker_loop.cc). So bytes from a worker with no task in flight
//   (every task sent to it has its result read) are a protocol error too, a complete
//   message or part of one: a stream that stops inside a frame while its worker is idle
//   is broken at once instead of waited on. The rule cannot misfire, since a task counts
//   as in flight from Dispatch until its result is read. While a task is in flight a
//   partial frame is waited on (a large result may be on its way); what ends that wait is
//   the rest of the frame, the worker's next header, its death, or a forced Cancel.
//   Not covered: a task that writes a complete, valid header of its own (magic and
//   header checksum right, as only our framing code makes them) swallows the worker's
//   next messages into the body it claims, and the driver waits for that body until one
//   of those ends it.
// * If the driver can no longer watch a worker (an epoll_ctl call failed), the worker is
//   killed and treated as dead (Unavailable for its running task). While a worker is
//   being started, Start and StartDedicatedWorker return that error instead.
// * Cancel() drops a task that has not started, or kills the worker running it (also one
//   that stopped talking to the driver and has not exited yet).
// * Shutdown() reports every task still in flight with Cancelled.
// Every dispatched task gets exactly one on_result call.
//
// What tasks start (see internal/fork_server.h): each worker leads its own process group,
// and the fork server kills that group when the worker ends for any reason — a crash, a
// kill from outside, a replacement, Cancel with force, CloseDedicatedWorker (also the
// graceful one) — as soon as it sees the worker die. A process that left the group
// (setsid(), a daemon's double fork) is adopted by the fork server, a child subreaper,
// and ended at Shutdown (or when the driver dies). Every such process is reaped: none is
// left a zombie. Limits: a process the fork server may not signal (a setuid program's),
// one started outside the process tree, and what is below the workers if the fork server
// itself is killed with SIGKILL.
//
// Worker output: each worker's stdout and stderr are pipes to the driver; every line is
// written to the driver's own stdout or stderr with a "(worker N pid P) " prefix.
//
// Thread-safe. The callbacks run on the thread handling events, the event thread or a
// thread in WaitForResult, one at a time (on_result also in Cancel's and Shutdown's
// callers), without the lock of the manager's state held, so they may call Dispatch
// or ReplyToWorker; they must not call Shutdown (WaitForResult returns at once).

#ifndef UNIDIST_PROCESS_MANAGER_PROCESS_MANAGER_H_
#define UNIDIST_PROCESS_MANAGER_PROCESS_MANAGER_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "process_manager/internal/async_fork_server.h"
#include "process_manager/internal/fork_server.h"
#include "process_manager/internal/result_ring.h"
#include "process_manager/internal/worker_loop.h"
#include "process_manager/internal/worker_output.h"
#include "process_manager/worker_pool.h"

namespace unidist {

// The multiprocessing backend's options are the shared ones (worker_pool.h).
using ProcessManagerOptions = WorkerPoolOptions;

class ProcessManager final : public WorkerPool {
 public:
  // Starts the fork server and the workers, then the event thread. Call from a thread that
  // holds no lock another thread could need (see internal/fork_server.h).
  // InvalidArgument for bad options; Internal/ResourceExhausted if processes could not be
  // started (then nothing is left running).
  static absl::StatusOr<std::unique_ptr<ProcessManager>> Start(ProcessManagerOptions options);

  // Test-only: workers started from now on are watched as where pidfd_open does not exist
  // (under valgrind, say): see InstallWorkerLocked.
  static void DisablePidfdsForTesting(bool disabled);

  // Test-only: the running-task word of slot `index` (WorkerLoopOptions::running_task),
  // which its worker writes; a test that holds the worker still sets it to stand for a
  // moment the worker passes through too quickly to catch.
  std::atomic<uint64_t>& RunningTaskWordForTesting(int index) {
    return running_tasks_[index].task_id;
  }

  // Shuts down.
  ~ProcessManager() override;

  ProcessManager(const ProcessManager&) = delete;
  ProcessManager& operator=(const ProcessManager&) = delete;

  // Queues `task` on the next live worker. Never blocks on a busy worker. On error the
  // task is not dispatched and on_result is not called for it: FailedPrecondition after
  // Shutdown, ResourceExhausted if the task is larger than max_frame_bytes, Unavailable if
  // no worker is alive.
  absl::Status Dispatch(const proto::TaskRequest& task) override;

  // Starts a worker outside the pool, for tasks sent to it alone (an actor). It runs what
  // DispatchTo sends it, one task at a time, in order, and is never replaced: when it
  // dies, its tasks fail with Unavailable (worker_died), and so do the tasks DispatchTo
  // sends it until the death is reported; then on_dedicated_worker_lost is called, and
  // later DispatchTo calls return that error. FailedPrecondition after Shutdown;
  // ResourceExhausted when 65535 slots are in use; Internal if the fork failed.
  absl::StatusOr<WorkerId> StartDedicatedWorker() override;

  // Sends `task` to the dedicated worker `worker`. Never blocks. Errors as for Dispatch,
  // plus the worker's own error once it is gone.
  absl::Status DispatchTo(WorkerId worker, const proto::TaskRequest& task) override;

  // Ends a dedicated worker. Gracefully (kill = false): it runs every task already sent,
  // then exits. At once (kill = true): SIGKILL; its unfinished tasks are reported as
  // Cancelled. on_dedicated_worker_lost is called in both cases. Idempotent.
  void CloseDedicatedWorker(WorkerId worker, bool kill) override;

  // Sends the answer to an on_api_request call. NotFound if the worker is gone.
  absl::Status ReplyToWorker(WorkerId worker, const proto::ApiReply& reply) override;

  // Cancels task `task_id` (dispatched with Dispatch or DispatchTo). If it has not
  // started, it will not run: it is dropped from the driver's queue, or the worker is told
  // to skip it. If it may be running, `force` kills its worker (a pool worker is then
  // replaced; see Kill for dedicated ones). Either way on_result reports it as Cancelled
  // now, once. Returns OK then; FailedPrecondition if it may be running and !force;
  // InvalidArgument for force on a dedicated worker's task; NotFound if the pool does not
  // have the task (it finished, or was never dispatched).
  absl::Status Cancel(uint64_t task_id, bool force) override;

  // Reads the answers of the worker holding task `task_id` on the calling thread until
  // the task is reported, cancelled, or no longer on that worker (it died), or until
  // `deadline` or Shutdown; meanwhile the event thread does not watch that worker's
  // socket for input. Returns at once if the task is not on a live worker (queued in the
  // driver, or unknown), if called from a callback of this pool, or if the thread's
  // wake-up eventfd cannot be made. See internal/result_reader.cc.
  void WaitForResult(uint64_t task_id, absl::Time deadline) override;

  // Reports tasks in flight as Cancelled, ends every worker and the fork server, and
  // returns once all are reaped. Idempotent.
  void Shutdown() override;

  int num_workers() const override { return pool_size_; }
  // True once Shutdown has begun.
  bool stopping() const override;
  std::vector<WorkerState> Workers() const override;
  // How many workers died and were replaced since Start.
  size_t workers_replaced() const override;

 private:
  struct InFlight {
    uint64_t task_id = 0;
    std::shared_ptr<const std::string> frame;
    bool cancelled = false;  // reported as Cancelled already; its result is dropped
    // The worker has begun it: its running-task word named it, or it said so (a task
    // nested under a waiting one, an actor's call on one of several threads).
    bool started = false;

    // The task's function name, for errors: read from the frame when one is reported,
    // rather than copied beside it for every task.
    std::string function() const;
  };
  struct ApiCall {
    WorkerId worker;
    proto::ApiRequest request;
  };
  // A frame waiting to be written to a worker: a task's, or a control message.
  struct OutFrame {
    std::shared_ptr<const std::string> bytes;
    bool task = false;
  };
  // Why the driver stopped talking to a worker.
  enum class DeathCause {
    kGone,             // its socket closed or its process exited
    kProtocolError,    // it sent bytes that do not decode: it is killed at once
    kDriverError,      // the driver could not watch it (epoll_ctl failed): killed at once
    kOverMemoryLimit,  // it used more than worker_memory_limit: killed at once
  };
  // A worker process, from its start until the fork server has reaped it. Its slot owns it
  // while the driver talks to it. When its socket closes, or its pidfd says it exited, it
  // moves to dying_ (and a replacement may start in the slot meanwhile); once its pidfd
  // fires it is reaped, and the tasks it held are reported with how it ended.
  struct Process {
    int index = 0;
    uint32_t generation = 0;
    pid_t pid = -1;
    int pidfd = -1;  // in the epoll set until it fires; closed when the record goes
    bool dedicated = false;
    std::optional<process_internal::WorkerOutput> output;  // set at start; events_mu_
    // Set when it starts dying, guarded by mu_ from then on:
    DeathCause cause = DeathCause::kGone;
    absl::Status why;            // what the driver saw (EOF, the decoding error, ...)
    std::deque<InFlight> tasks;  // reported once it is reaped: pool, the started ones;
                                 // dedicated, all of them
    // When to SIGKILL it unless it has exited: MonotonicNanos(); INT64_MAX for never.
    int64_t kill_at = INT64_MAX;
    bool exited = false;  // its pidfd fired; its reap is asked for
  };
  struct Slot {
    int index = 0;
    pid_t pid = -1;  // of the live worker, or of the last one
    int fd = -1;
    uint32_t generation = 0;  // tells events for a replaced worker from its successor's
    bool alive = false;
    bool dedicated = false;          // outside the pool: not replaced, no round-robin
    bool closing = false;            // dedicated: ends once its tasks are done
    bool killing = false;            // dedicated: being killed; its tasks are Cancelled
    absl::Status lost;               // dedicated: why it is gone
    bool want_write = false;         // EPOLLOUT registered
    std::deque<InFlight> in_flight;  // sent or queued, in order
    std::deque<OutFrame> out;        // frames not yet fully written
    size_t out_offset = 0;           // bytes of out.front() already written
    size_t unsent_tasks = 0;         // task frames in `out`: the last ones of in_flight
    size_t waiting = 0;              // its tasks waiting in nested calls, as it last said
    FrameDecoder decoder;            // used with events_mu_ held
    // The wake-up eventfds of the threads reading this worker's answers (WaitForResult);
    // while there are any, the event thread does not watch the socket for input.
    std::vector<int> readers;
    std::unique_ptr<Process> process;  // the live worker; moved out with events_mu_ held
    // The live worker's result ring (pool workers; null: it writes on its socket). Set and
    // reset with events_mu_ and mu_ held; a thread that sleeps on it holds a reference,
    // since the worker may be replaced meanwhile.
    std::shared_ptr<process_internal::ResultRing> ring;
  };

  explicit ProcessManager(ProcessManagerOptions options);

  // Serializes `task` into the frame it is sent as; ResourceExhausted if too large.
  absl::StatusOr<InFlight> Frame(const proto::TaskRequest& task) const;

  // The size of the shared file (result ring) slot `index`'s worker gets; 0 for none.
  size_t SharedFileBytes(int index) const;
  // Forks a worker for `slot` and installs it there, waiting for the fork server: for
  // Start and StartDedicatedWorker, never for the event thread.
  absl::Status StartWorker(Slot& slot) ABSL_LOCKS_EXCLUDED(mu_);
  // Makes `worker` the live worker of `slot`: opens its pidfd and adds its descriptors to
  // the epoll set. On failure closes them and SIGKILLs the worker, which the caller reaps.
  absl::Status InstallWorkerLocked(Slot& slot, const process_internal::ForkServer::Worker& worker)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `task` for the next worker with room; Unavailable if no worker is alive.
  absl::Status EnqueueLocked(InFlight task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves queued tasks to workers with room, round-robin, and writes them. With
  // `defer_to_busy` (Dispatch's callers), a worker with enough tasks to run is left for
  // the event thread to write to, which it does after every event.
  void DrainBacklogLocked(bool defer_to_busy = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unavailable: no pool worker is alive, with why the last one was not replaced.
  absl::Status NoWorkerAliveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // How many tasks `slot` may hold (see WorkerPoolOptions::least_loaded).
  size_t WindowLocked(const Slot& slot) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Slot* NextSlotWithRoomLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FlushLocked(Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetWantWriteLocked(Slot& slot, bool want) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sets the events the epoll set watches on `slot`'s socket: input unless readers watch
  // it, output if want_write. False (and the worker is handed to the event thread as
  // broken) if epoll_ctl failed.
  bool WatchSocketLocked(Slot& slot, bool want_write) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes the threads reading `slot`'s answers (but the calling one) to look again at
  // their task: it was answered, cancelled, or its worker is gone.
  void WakeReadersLocked(const Slot& slot) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The live worker that holds task `task_id` (sent to it, or about to be) not cancelled;
  // nullptr if none does.
  Slot* SlotHoldingLocked(uint64_t task_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The event thread, in internal/event_loop.cc. It never waits for a process or for the
  // fork server: deaths are seen through pidfds, and AsyncForkServer spawns replacements
  // and reaps.
  void EventLoop();
  // `slot`'s socket is readable (or hung up), or its result ring has data: reads them, and
  // handles a failure. Called with events_mu_ held, by the event thread or a reader.
  void HandleSocketReadable(Slot& slot, std::vector<proto::TaskResult>* completed,
                            std::vector<ApiCall>* api_requests, bool socket_ready = true)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(events_mu_);
  // Reads every live pool worker's result ring that has data (event thread).
  void ReadResultRings(std::vector<proto::TaskResult>* completed,
                       std::vector<ApiCall>* api_requests)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(events_mu_);
  // Passes results and API calls on to the callbacks, and writes what they dispatched.
  void ReportEvents(std::vector<proto::TaskResult>* completed, std::vector<ApiCall>* api_requests)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(events_mu_);
  // Reads what the worker sent; results go to `completed`. Unavailable on EOF, DataLoss
  // on bytes that do not decode or do not match the tasks in flight, and on any byte from
  // a worker with no task in flight (the idle rule above). A worker with a result ring:
  // the ring, to its end, and the socket (wake-up tokens, EOF) if `socket_ready` or a
  // token may be there; any other byte on its socket is DataLoss.
  absl::Status ReadFromWorker(Slot& slot, std::vector<proto::TaskResult>* completed,
                              std::vector<ApiCall>* api_requests, bool socket_ready = true);
  // The parsing part of ReadFromWorker: every complete message in slot.decoder.
  absl::Status ParseFromWorker(Slot& slot, std::vector<proto::TaskResult>* completed,
                               std::vector<ApiCall>* api_requests);
  // For a worker with a result ring: reads its socket, where only wake-up tokens may be,
  // adding how many to `count`. Unavailable at EOF, DataLoss for any other byte.
  absl::Status ReadWakeTokens(int fd, size_t* count);
  // The worker of `slot` stopped talking: closes its socket, puts the tasks it never
  // started back in the backlog, keeps the others with the process in dying_, asks for a
  // replacement (pool) and gives the process reap_grace to exit (none if it is killed at
  // once). Returns the dying process.
  Process* HandleWorkerFailure(Slot& slot, DeathCause cause, const absl::Status& why,
                               std::vector<proto::TaskResult>* completed);
  // The pidfd of dying `process` fired: passes on its last output and asks for the reap.
  void HandleProcessExited(Process& process);
  // The fork server reaped `pid`: reports its tasks with how it ended, and forgets it.
  void HandleReaped(pid_t pid, const absl::StatusOr<int>& wait_status,
                    std::vector<proto::TaskResult>* completed);
  // A replacement for pool slot `index` was spawned (or failed to be).
  void HandleReplacement(int index, absl::StatusOr<process_internal::ForkServer::Worker> worker,
                         std::vector<proto::TaskResult>* completed);
  // SIGKILLs dying workers past their deadline; returns the epoll_wait timeout (ms, -1 for
  // none) until the next deadline.
  int KillOverdueLocked(std::vector<Process*>* exited) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The worker, live or dying, that epoll token `token` names; nullptr if it is gone.
  Process* FindProcessLocked(uint64_t token) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fails the tasks of a reaped pool worker.
  void FailPoolTasks(const Process& process, const std::string& how, std::deque<InFlight> tasks,
                     std::vector<proto::TaskResult>* completed);
  // Why dedicated worker `slot` (pid `pid`) is gone, as its later DispatchTo calls and
  // on_dedicated_worker_lost report it.
  absl::Status DedicatedLossLocked(const Slot& slot, pid_t pid, bool protocol_error, bool had_tasks,
                                   const std::string& how) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The part of HandleReaped for dedicated workers, which are not replaced.
  void LoseDedicatedWorker(Slot& slot, pid_t pid, const std::string& how, bool protocol_error,
                           std::deque<InFlight> in_flight,
                           std::vector<proto::TaskResult>* completed);
  // With a worker_memory_limit: kills the busy workers that use more (event thread).
  void StopWorkersOverMemoryLimit(std::vector<proto::TaskResult>* completed);
  // What `pid` alone holds in memory (RssAnon), in bytes; 0 if it cannot be read.
  static size_t PrivateResidentBytes(pid_t pid);
  // Fails every task of the backlog when no pool worker is alive and none is being started.
  void FailBacklogIfNoWorkerLocked(std::vector<proto::TaskResult>* completed)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends end-of-stream to a closing dedicated worker once it has nothing left to run.
  void MaybeFinishClosingLocked(Slot& slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Slot* FindDedicatedLocked(WorkerId worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancel for a task a worker holds; fills `cancelled` with the report when it is OK.
  absl::Status CancelInFlightLocked(uint64_t task_id, bool force, proto::TaskResult* cancelled)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The same for a task held by a dying worker; NotFound if none holds it.
  absl::Status CancelDyingLocked(uint64_t task_id, bool force, proto::TaskResult* cancelled)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // SIGKILL through its pidfd, or its pid where it has none.
  static void KillProcess(const Process& process);
  // For a process watched without a pidfd: whether it has exited (is a zombie, or gone).
  static bool ExitedWithoutPidfd(pid_t pid);
  // How often a dying process without a pidfd is looked at.
  static constexpr int64_t kExitPollNanos = 10'000'000;
  static proto::TaskResult ErrorResult(const InFlight& task, absl::StatusCode code,
                                       const std::string& message);

  const ProcessManagerOptions options_;
  std::unique_ptr<process_internal::ForkServer> fork_server_;
  // Pool workers occupy slots [0, pool_size_); dedicated workers the slots above. Slot
  // objects are created on first use and never destroyed before the manager, so the event
  // thread may hold a reference to one while other threads work on others.
  static constexpr int kMaxSlots = 1 << 16;
  // With a worker_memory_limit, how often the busy workers' memory is read.
  static constexpr int64_t kMemoryCheckNs = 10'000'000;
  int64_t next_memory_check_ns_ = 0;  // the event thread's
  // Per slot, the task its worker has begun (WorkerLoopOptions::running_task) and the
  // bytes the driver has written to it (WorkerLoopOptions::bytes_sent; FlushLocked), a
  // cache line each (each has one writer, in different processes), in an anonymous shared
  // mapping the workers inherit through the fork server. Mapped in Start, before the fork
  // server exists; unmapped by the destructor.
  struct alignas(64) RunningTask {
    std::atomic<uint64_t> task_id{0};
    alignas(64) std::atomic<uint64_t> bytes_sent{0};
  };
  static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared between processes");
  RunningTask* running_tasks_ = nullptr;
  // The window of a worker under least-loaded scheduling; see WindowLocked.
  static constexpr size_t kLeastLoadedWindow = 2;
  std::vector<std::unique_ptr<Slot>> slots_;
  int pool_size_ = 0;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  // Spawns replacements and reaps for the event thread; set in Start.
  std::unique_ptr<process_internal::AsyncForkServer> async_fork_server_;
  std::thread event_thread_;
  // Bumped whenever a pool slot's result ring changes, so that the event thread knows to
  // take a new list of the rings it sleeps on. Changed with events_mu_ and mu_ held.
  uint64_t ring_set_version_ = 0;

  // Held by the thread handling events: the event thread after each epoll_wait, or a
  // thread in WaitForResult once its worker's socket is readable. Taken before mu_.
  absl::Mutex events_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Threads in WaitForResult, which Shutdown waits out before it closes the sockets.
  int readers_ ABSL_GUARDED_BY(mu_) = 0;
  size_t next_slot_ ABSL_GUARDED_BY(mu_) = 0;
  // Tasks waiting for a worker with room, in dispatch order.
  std::deque<InFlight> backlog_ ABSL_GUARDED_BY(mu_);
  size_t workers_replaced_ ABSL_GUARDED_BY(mu_) = 0;
  // Pool workers that died and whose replacement has not started yet.
  int replacing_ ABSL_GUARDED_BY(mu_) = 0;
  // Why the last pool worker that died could not be replaced (e.g. the fork server is
  // gone), for the error of tasks that find no worker alive; OK if none failed.
  absl::Status replacement_error_ ABSL_GUARDED_BY(mu_);
  // Workers that stopped talking to the driver and have not been reaped yet.
  std::vector<std::unique_ptr<Process>> dying_ ABSL_GUARDED_BY(mu_);
  // Live workers the driver can no longer watch (an epoll_ctl failed where no error could
  // be returned), for the event thread to treat as failed.
  std::vector<std::pair<WorkerId, absl::Status>> broken_ ABSL_GUARDED_BY(mu_);
  int slots_in_use_ ABSL_GUARDED_BY(mu_) = 0;  // one past the highest slot ever used
  std::vector<int> free_dedicated_slots_ ABSL_GUARDED_BY(mu_);

  absl::Mutex shutdown_mu_;  // serializes Shutdown calls
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace unidist

#endif  // UNIDIST_PROCESS_MANAGER_PROCESS_MANAGER_H_
