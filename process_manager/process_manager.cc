// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/process_manager.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <iterator>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "process_manager/internal/epoll_token.h"
#include "process_manager/internal/os_util.h"

namespace unidist {
namespace {

using process_internal::ErrnoStatus;
using process_internal::Stream;
using process_internal::WorkerToken;

constexpr int kMaxIovecs = 64;
constexpr int kMaxWorkers = 4096;
// Dispatch leaves the write of a new task to the event thread when the worker has this
// many tasks sent and not answered (see DrainBacklogLocked).
constexpr size_t kDeferWritesAt = 8;

std::atomic<bool> g_pidfds_disabled_for_testing{false};

int PidfdOpen(pid_t pid) {
  if (g_pidfds_disabled_for_testing.load(std::memory_order_relaxed)) {
    errno = ENOSYS;
    return -1;
  }
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

}  // namespace

ProcessManager::ProcessManager(ProcessManagerOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<ProcessManager>> ProcessManager::Start(
    ProcessManagerOptions options) {
  if (options.num_workers < 1 || options.num_workers > kMaxWorkers) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "num_workers must be between 1 and %d, got %d", kMaxWorkers, options.num_workers));
  }
  if (!options.execute || !options.on_result || options.max_tasks_per_worker < 1) {
    return absl::InvalidArgumentError(
        "ProcessManagerOptions needs execute, on_result and max_tasks_per_worker >= 1");
  }
  if (const size_t ring = options.result_ring_bytes;
      ring != 0 &&
      (ring < process_internal::ResultRing::kMinCapacity ||
       ring > process_internal::ResultRing::kMaxCapacity || (ring & (ring - 1)) != 0)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("result_ring_bytes must be 0 or a power of two from %d to %d, got %d",
                        process_internal::ResultRing::kMinCapacity,
                        process_internal::ResultRing::kMaxCapacity, ring));
  }
  std::unique_ptr<ProcessManager> manager(new ProcessManager(std::move(options)));
  // Shared with every worker (inherited through the fork server): address space for all
  // slots, memory only for the pages the workers touch.
  void* words = mmap(nullptr, sizeof(RunningTask) * kMaxSlots, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (words == MAP_FAILED) return ErrnoStatus("mmap of the workers' running-task words");
  manager->running_tasks_ = static_cast<RunningTask*>(words);
  process_internal::WorkerLoopOptions loop_options;
  loop_options.max_frame_bytes = manager->options_.max_frame_bytes;
  loop_options.execute = manager->options_.execute;
  const int pool_size = manager->options_.num_workers;
  UNIDIST_ASSIGN_OR_RETURN(
      manager->fork_server_,
      process_internal::ForkServer::Start(
          [loop_options, pool_size, running = manager->running_tasks_](int index, int fd,
                                                                       int shared_file_fd) mutable {
            // A crash prints its stack trace to stderr, which the driver reports.
            google::InstallFailureSignalHandler();
            // When the machine runs out of memory the kernel's OOM killer picks a worker
            // (the largest), never the driver: workers are its first choice. Raising
            // one's own score needs no privilege; if it fails, the driver's score stays.
            if (const int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC); fd >= 0) {
              static_cast<void>(write(fd, "1000", 4) == 4);
              close(fd);
            }
            loop_options.worker_index = index;
            loop_options.running_task = &running[index].task_id;
            loop_options.bytes_sent = &running[index].bytes_sent;
            // Pool workers run queued tasks while one of theirs waits in a nested call;
            // dedicated (actor) workers must not interleave their calls.
            loop_options.help_while_waiting = index < pool_size;
            // The driver has this worker's result ring mapped too (InstallWorkerLocked);
            // the descriptor is not the tasks' to see.
            std::unique_ptr<process_internal::ResultRing> ring;
            if (shared_file_fd >= 0) {
              absl::StatusOr<std::unique_ptr<process_internal::ResultRing>> mapped =
                  process_internal::ResultRing::Map(shared_file_fd);
              close(shared_file_fd);
              if (!mapped.ok()) {
                LOG(ERROR) << "unidist worker: " << mapped.status();
                return static_cast<int>(process_internal::kWorkerExitNoRing);
              }
              ring = *std::move(mapped);
              loop_options.ring = ring.get();
            }
            return process_internal::RunWorkerLoop(fd, loop_options);
          }));

  manager->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  manager->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (manager->epoll_fd_ < 0 || manager->wake_fd_ < 0) {
    absl::Status status = ErrnoStatus("epoll/eventfd");
    manager->Shutdown();
    return status;
  }
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.u64 = process_internal::kWakeToken;
  if (epoll_ctl(manager->epoll_fd_, EPOLL_CTL_ADD, manager->wake_fd_, &wake) != 0) {
    absl::Status status = ErrnoStatus("epoll_ctl adding the wake-up eventfd");
    manager->Shutdown();
    return status;
  }

  // slots_ never changes size from here on; only the slots' contents change.
  manager->slots_.resize(kMaxSlots);
  manager->pool_size_ = manager->options_.num_workers;
  {
    absl::MutexLock lock(&manager->mu_);
    manager->slots_in_use_ = manager->pool_size_;
    for (int i = 0; i < manager->pool_size_; ++i) {
      manager->slots_[i] = std::make_unique<Slot>();
      manager->slots_[i]->index = i;
    }
  }
  absl::Status started;
  for (int i = 0; i < manager->pool_size_ && started.ok(); ++i) {
    started = manager->StartWorker(*manager->slots_[i]);
  }
  if (!started.ok()) {
    manager->Shutdown();
    return started;
  }
  manager->async_fork_server_ = std::make_unique<process_internal::AsyncForkServer>(
      manager->fork_server_.get(), manager->wake_fd_);
  manager->event_thread_ = std::thread([raw = manager.get()] { raw->EventLoop(); });
  return manager;
}

ProcessManager::~ProcessManager() {
  Shutdown();
  if (running_tasks_ != nullptr) munmap(running_tasks_, sizeof(RunningTask) * kMaxSlots);
}

absl::Status ProcessManager::StartWorker(Slot& slot) {
  // Forking takes a while; Dispatch callers need not wait for it.
  UNIDIST_ASSIGN_OR_RETURN(process_internal::ForkServer::Worker worker,
                           fork_server_->Spawn(slot.index, SharedFileBytes(slot.index)));
  absl::Status installed;
  {
    absl::MutexLock lock(&mu_);
    installed = InstallWorkerLocked(slot, worker);
  }
  if (!installed.ok()) fork_server_->Reap(worker.pid, absl::ZeroDuration()).IgnoreError();
  return installed;
}

void ProcessManager::DisablePidfdsForTesting(bool disabled) {
  g_pidfds_disabled_for_testing.store(disabled, std::memory_order_relaxed);
}

size_t ProcessManager::SharedFileBytes(int index) const {
  if (index >= pool_size_ || options_.result_ring_bytes == 0) return 0;
  return process_internal::ResultRing::FileBytes(options_.result_ring_bytes);
}

absl::Status ProcessManager::InstallWorkerLocked(
    Slot& slot, const process_internal::ForkServer::Worker& worker) {
  // Its result ring, if the fork server could make one (else it writes on its socket).
  // The mapping is all the driver keeps of the file.
  std::shared_ptr<process_internal::ResultRing> ring;
  absl::Status status = absl::OkStatus();
  if (worker.shared_file_fd >= 0) {
    absl::StatusOr<std::unique_ptr<process_internal::ResultRing>> mapped =
        process_internal::ResultRing::Map(worker.shared_file_fd);
    close(worker.shared_file_fd);
    if (mapped.ok()) {
      ring = *std::move(mapped);
    } else {
      status = mapped.status();
    }
  }
  ++slot.generation;
  // The new worker has received nothing; nothing has been written to it yet.
  running_tasks_[slot.index].bytes_sent.store(0, std::memory_order_release);
  // The pidfd tells the event thread that the worker exited even while something the
  // worker started holds its socket open. The fork server reaps a worker only when the
  // driver asks, so until then `pid` cannot name another process.
  // Where pidfd_open does not exist (valgrind 3.19 does not know the system call; kernels
  // before 5.3) or is not allowed (a seccomp filter), the worker is watched without one:
  // its death is seen when its socket closes, and its exit by looking at /proc
  // (KillOverdueLocked). What that loses: a worker whose socket something else holds open
  // is not seen to die.
  int pidfd = status.ok() ? PidfdOpen(worker.pid) : -1;
  if (status.ok() && pidfd < 0) {
    if (errno == ENOSYS || errno == EPERM) {
      LOG_FIRST_N(WARNING, 1) << "unidist: " << ErrnoStatus("pidfd_open")
                              << "; watching workers without pidfds (a worker whose socket "
                                 "another process holds open is not seen to die)";
      pidfd = -1;
    } else {
      status = ErrnoStatus("pidfd_open");
    }
  }
  const int fds[4] = {worker.socket_fd, worker.stdout_fd, worker.stderr_fd, pidfd};
  for (int stream = 0; stream < 4 && status.ok(); ++stream) {
    if (fds[stream] < 0) continue;  // no pidfd (above)
    if (stream != static_cast<int>(Stream::kPidfd)) {
      status = process_internal::SetNonBlocking(fds[stream]);
      if (!status.ok()) break;
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = WorkerToken(slot.index, slot.generation, static_cast<Stream>(stream));
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fds[stream], &event) != 0) {
      status = ErrnoStatus(absl::StrCat("epoll_ctl adding worker ", slot.index, "'s descriptors"));
    }
  }
  if (!status.ok()) {
    for (int fd : fds) {
      if (fd >= 0) close(fd);  // closing also removes them from the epoll set
    }
    ::kill(worker.pid, SIGKILL);  // not reaped yet: the pid is still this worker's
    return status;
  }
  auto process = std::make_unique<Process>();
  process->index = slot.index;
  process->generation = slot.generation;
  process->pid = worker.pid;
  process->pidfd = pidfd;
  process->dedicated = slot.dedicated;
  process->output.emplace(slot.index, worker.pid, worker.stdout_fd, worker.stderr_fd);
  slot.process = std::move(process);
  slot.pid = worker.pid;
  slot.fd = worker.socket_fd;
  slot.alive = true;
  slot.want_write = false;
  slot.waiting = 0;
  slot.decoder = FrameDecoder(options_.max_frame_bytes);
  if (ring != nullptr || slot.ring != nullptr) {
    slot.ring = std::move(ring);
    ++ring_set_version_;
  }
  return absl::OkStatus();
}

absl::StatusOr<ProcessManager::InFlight> ProcessManager::Frame(
    const proto::TaskRequest& task) const {
  InFlight entry;
  entry.task_id = task.task_id();
  auto frame = std::make_shared<std::string>();
  // A DriverMessage holding the task, written without building one (which would copy or
  // move the task out of the caller's arena).
  if (absl::Status framed = AppendFrameOfField(proto::DriverMessage::kTaskFieldNumber, task,
                                               options_.max_frame_bytes, frame.get());
      !framed.ok()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("task '", task.function(), "' is too large to send: ", framed.message()));
  }
  entry.frame = std::move(frame);
  return entry;
}

std::string ProcessManager::InFlight::function() const {
  // The frame Frame made: its header, then a DriverMessage of one field, the task (see
  // AppendFrameOfField). Only the task's `function` field is read; the rest is skipped.
  using google::protobuf::internal::WireFormatLite;
  if (frame == nullptr || frame->size() < kFrameHeaderBytes) return std::string();
  google::protobuf::io::CodedInputStream input(
      reinterpret_cast<const uint8_t*>(frame->data() + kFrameHeaderBytes),
      static_cast<int>(frame->size() - kFrameHeaderBytes));
  uint32_t task_bytes = 0;
  if (input.ReadTag() != WireFormatLite::MakeTag(proto::DriverMessage::kTaskFieldNumber,
                                                 WireFormatLite::WIRETYPE_LENGTH_DELIMITED) ||
      !input.ReadVarint32(&task_bytes)) {
    return std::string();
  }
  input.PushLimit(static_cast<int>(task_bytes));
  const uint32_t function_tag = WireFormatLite::MakeTag(proto::TaskRequest::kFunctionFieldNumber,
                                                        WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  for (uint32_t tag = input.ReadTag(); tag != 0; tag = input.ReadTag()) {
    std::string name;
    if (tag == function_tag) return WireFormatLite::ReadString(&input, &name) ? name : "";
    if (!WireFormatLite::SkipField(&input, tag)) break;
  }
  return std::string();
}

absl::Status ProcessManager::Dispatch(const proto::TaskRequest& task) {
  UNIDIST_ASSIGN_OR_RETURN(InFlight entry, Frame(task));
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("the worker pool has shut down");
  return EnqueueLocked(std::move(entry));
}

absl::Status ProcessManager::EnqueueLocked(InFlight task) {
  // While a dead worker is being replaced (a pool of one, or every worker crashed at
  // once), tasks wait in the backlog; if no replacement starts, HandleWorkerFailure fails
  // them with this same error.
  if (replacing_ == 0 && std::none_of(slots_.begin(), slots_.begin() + pool_size_,
                                      [](const auto& slot) { return slot->alive; })) {
    return NoWorkerAliveLocked();
  }
  backlog_.push_back(std::move(task));
  DrainBacklogLocked(/*defer_to_busy=*/true);
  return absl::OkStatus();
}

absl::Status ProcessManager::NoWorkerAliveLocked() const {
  if (replacement_error_.ok()) return absl::UnavailableError("no worker process is alive");
  return absl::UnavailableError(
      absl::StrCat("no worker process is alive: the last one that died could not be "
                   "replaced (",
                   replacement_error_.message(), "); Shutdown and Init start a new pool"));
}

size_t ProcessManager::WindowLocked(const Slot& slot) const {
  // Tasks waiting in nested calls do not count: the worker runs queued tasks meanwhile.
  // Least-loaded keeps the rest in the driver until a worker is nearly done (one task
  // running, one queued so that it never waits a round trip for the next): a task that
  // turns out to be long then holds back at most one other, and the idle workers take
  // the queue. Round-robin fills the whole window, which costs fewer round trips.
  const size_t window = options_.least_loaded
                            ? std::min(options_.max_tasks_per_worker, kLeastLoadedWindow)
                            : options_.max_tasks_per_worker;
  return window + slot.waiting;
}

ProcessManager::Slot* ProcessManager::NextSlotWithRoomLocked() {
  if (options_.least_loaded) {
    // The live worker with the most room left; scanning from the round-robin position
    // spreads ties (an idle pool) the way round-robin would.
    Slot* best = nullptr;
    size_t best_room = 0;
    for (int tried = 0; tried < pool_size_; ++tried) {
      Slot* candidate = slots_[(next_slot_ + tried) % pool_size_].get();
      const size_t window = WindowLocked(*candidate);
      if (!candidate->alive || candidate->in_flight.size() >= window) continue;
      const size_t room = window - candidate->in_flight.size();
      if (best == nullptr || room > best_room) {
        best = candidate;
        best_room = room;
      }
    }
    if (best != nullptr) next_slot_ = static_cast<size_t>(best->index) + 1;
    return best;
  }
  for (int tried = 0; tried < pool_size_; ++tried) {
    Slot* candidate = slots_[next_slot_ % pool_size_].get();
    ++next_slot_;
    if (candidate->alive && candidate->in_flight.size() < WindowLocked(*candidate)) {
      return candidate;
    }
  }
  return nullptr;
}

void ProcessManager::DrainBacklogLocked(bool defer_to_busy) {
  Slot* slot;
  while (!backlog_.empty() && (slot = NextSlotWithRoomLocked()) != nullptr) {
    slot->out.push_back({backlog_.front().frame, /*task=*/true});
    ++slot->unsent_tasks;
    slot->in_flight.push_back(std::move(backlog_.front()));
    backlog_.pop_front();
  }
  // One write per worker for everything queued above. A worker already waiting for
  // EPOLLOUT is flushed by the event thread.
  for (int i = 0; i < pool_size_; ++i) {
    Slot& each = *slots_[i];
    if (!each.alive || each.out.empty() || each.want_write) continue;
    // A worker that has kDeferWritesAt tasks to run (none of them waiting in a nested
    // call) is busy for a while: its new tasks go out with the event thread's next
    // write, which follows that worker's next message. Submitting many tasks then costs
    // one write (and one wake-up of the worker) per batch instead of one per task.
    const size_t sent = each.in_flight.size() - each.unsent_tasks;
    if (defer_to_busy && each.waiting == 0 && sent >= kDeferWritesAt) continue;
    FlushLocked(each);
  }
}

void ProcessManager::FlushLocked(Slot& slot) {
  while (!slot.out.empty()) {
    iovec iov[kMaxIovecs];
    int count = 0;
    for (auto it = slot.out.begin(); it != slot.out.end() && count < kMaxIovecs; ++it, ++count) {
      const size_t skip = count == 0 ? slot.out_offset : 0;
      iov[count].iov_base = const_cast<char*>(it->bytes->data() + skip);
      iov[count].iov_len = it->bytes->size() - skip;
    }
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = static_cast<size_t>(count);
    size_t attempted = 0;
    for (int i = 0; i < count; ++i) attempted += iov[i].iov_len;
    // Counted before the bytes can reach the socket, so that the worker never sees the
    // count equal to what it has received while more is there (WorkerLoopOptions); what
    // the write did not take is taken back after it.
    std::atomic<uint64_t>& bytes_sent = running_tasks_[slot.index].bytes_sent;
    bytes_sent.fetch_add(attempted, std::memory_order_seq_cst);
    const ssize_t sent = sendmsg(slot.fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    const size_t written = sent < 0 ? 0 : static_cast<size_t>(sent);
    if (written < attempted) bytes_sent.fetch_sub(attempted - written, std::memory_order_release);
    if (sent < 0) {
      if (errno == EINTR) continue;
      // EAGAIN: the event thread continues on EPOLLOUT. Anything else means the worker is
      // gone; the event thread sees the hang-up and handles it.
      break;
    }
    size_t left = static_cast<size_t>(sent);
    while (left > 0) {
      const size_t front_left = slot.out.front().bytes->size() - slot.out_offset;
      if (left < front_left) {
        slot.out_offset += left;
        break;
      }
      left -= front_left;
      if (slot.out.front().task) --slot.unsent_tasks;
      slot.out.pop_front();
      slot.out_offset = 0;
    }
  }
  SetWantWriteLocked(slot, !slot.out.empty());
}

void ProcessManager::SetWantWriteLocked(Slot& slot, bool want) {
  if (want == slot.want_write || slot.fd < 0) return;
  if (WatchSocketLocked(slot, want)) slot.want_write = want;
}

bool ProcessManager::WatchSocketLocked(Slot& slot, bool want_write) {
  epoll_event event{};
  // EPOLLHUP and EPOLLERR are reported even when neither is asked for: the event thread
  // sees a worker die while a reader watches its socket too.
  event.events =
      (slot.readers.empty() ? uint32_t{EPOLLIN} : 0u) | (want_write ? uint32_t{EPOLLOUT} : 0u);
  event.data.u64 = WorkerToken(slot.index, slot.generation, Stream::kSocket);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, slot.fd, &event) == 0) return true;
  // Without it the rest of the tasks would never be written, or its answers never read
  // (or the event thread would spin on EPOLLOUT). This may be a Dispatch caller's thread:
  // the event thread ends the worker, as a failed one.
  broken_.emplace_back(WorkerId{slot.index, slot.generation},
                       ErrnoStatus("epoll_ctl changing the events of the worker's socket"));
  const uint64_t one = 1;
  while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
  return false;
}

absl::StatusOr<WorkerId> ProcessManager::StartDedicatedWorker() {
  Slot* slot;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::FailedPreconditionError("the worker pool has shut down");
    int index;
    if (!free_dedicated_slots_.empty()) {
      index = free_dedicated_slots_.back();
      free_dedicated_slots_.pop_back();
    } else if (slots_in_use_ < kMaxSlots) {
      index = slots_in_use_++;
      slots_[index] = std::make_unique<Slot>();
      slots_[index]->index = index;
      slots_[index]->dedicated = true;
    } else {
      return absl::ResourceExhaustedError("too many dedicated workers");
    }
    slot = slots_[index].get();
    slot->closing = slot->killing = false;
    slot->lost = absl::OkStatus();
  }
  if (absl::Status started = StartWorker(*slot); !started.ok()) {
    absl::MutexLock lock(&mu_);
    free_dedicated_slots_.push_back(slot->index);
    return started;
  }
  absl::MutexLock lock(&mu_);
  return WorkerId{slot->index, slot->generation};
}

ProcessManager::Slot* ProcessManager::FindDedicatedLocked(WorkerId worker) {
  if (worker.slot < pool_size_ || worker.slot >= slots_in_use_) return nullptr;
  Slot* slot = slots_[worker.slot].get();
  return slot->generation == worker.generation ? slot : nullptr;
}

absl::Status ProcessManager::DispatchTo(WorkerId worker, const proto::TaskRequest& task) {
  UNIDIST_ASSIGN_OR_RETURN(InFlight entry, Frame(task));
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("the worker pool has shut down");
  Slot* slot = FindDedicatedLocked(worker);
  if (slot == nullptr) return absl::FailedPreconditionError("the dedicated worker is gone");
  if (!slot->alive) {
    // Its process stopped talking but is not reaped yet, so its loss is not reported: the
    // task fails with the ones it held, as a task that reached the worker (worker_died),
    // once how it ended is known. The caller hears of the death then, for all its tasks
    // alike (a restarted actor runs them again, ActorOptions::max_task_retries).
    for (const std::unique_ptr<Process>& process : dying_) {
      if (process->dedicated && process->index == slot->index &&
          process->generation == slot->generation) {
        process->tasks.push_back(std::move(entry));
        return absl::OkStatus();
      }
    }
    return slot->lost;
  }
  if (slot->closing || slot->killing) {
    return absl::FailedPreconditionError("the dedicated worker is closing");
  }
  slot->out.push_back({entry.frame, /*task=*/true});
  ++slot->unsent_tasks;
  slot->in_flight.push_back(std::move(entry));
  if (!slot->want_write) FlushLocked(*slot);
  return absl::OkStatus();
}

void ProcessManager::CloseDedicatedWorker(WorkerId worker, bool kill) {
  absl::MutexLock lock(&mu_);
  Slot* slot = FindDedicatedLocked(worker);
  if (slot == nullptr || !slot->alive) return;
  if (kill) {
    slot->killing = true;
    // The fork server reaps its workers only when asked, so until then this pid cannot
    // belong to another process. The event thread sees the socket close and reports.
    ::kill(slot->pid, SIGKILL);
    return;
  }
  slot->closing = true;
  MaybeFinishClosingLocked(*slot);
}

void ProcessManager::MaybeFinishClosingLocked(Slot& slot) {
  if (!slot.in_flight.empty() || slot.fd < 0) return;
  // End of stream: the worker exits once it reads it, and the event thread reaps it.
  shutdown(slot.fd, SHUT_WR);
}

absl::Status ProcessManager::Cancel(uint64_t task_id, bool force) {
  proto::TaskResult cancelled;
  {
    absl::MutexLock lock(&mu_);
    auto queued = std::find_if(backlog_.begin(), backlog_.end(),
                               [task_id](const InFlight& task) { return task.task_id == task_id; });
    if (queued != backlog_.end()) {
      cancelled = ErrorResult(*queued, absl::StatusCode::kCancelled,
                              "the task was cancelled before it started");
      backlog_.erase(queued);
    } else {
      absl::Status status = CancelInFlightLocked(task_id, force, &cancelled);
      if (absl::IsNotFound(status)) status = CancelDyingLocked(task_id, force, &cancelled);
      if (!status.ok()) return status;
    }
  }
  options_.on_result(std::move(cancelled));
  return absl::OkStatus();
}

absl::Status ProcessManager::CancelInFlightLocked(uint64_t task_id, bool force,
                                                  proto::TaskResult* cancelled) {
  for (int index = 0; index < slots_in_use_; ++index) {
    Slot* slot = slots_[index].get();
    if (slot == nullptr || !slot->alive) continue;
    for (size_t i = 0; i < slot->in_flight.size(); ++i) {
      InFlight& task = slot->in_flight[i];
      if (task.task_id != task_id) continue;
      if (task.cancelled) return absl::OkStatus();
      // in_flight ends with the tasks whose frames are still (even partly) in `out`.
      const size_t first_unsent = slot->in_flight.size() - slot->unsent_tasks;
      const bool sent = i < first_unsent;
      // The oldest task sent may be running, unless the worker's running-task word names
      // a later one: the worker runs its tasks in order (a later one nested under a waiting
      // task starts only while that one runs), so it has answered this one and moved on,
      // and killing it would kill the task it runs now. Then the answer on its way is
      // dropped, as for a task cancelled before it started. A word naming an earlier task
      // (one whose answer was read, not yet cleared by the worker) says nothing about
      // this one, which may begin at any moment.
      std::atomic<uint64_t>& word = running_tasks_[slot->index].task_id;
      uint64_t running = word.load(std::memory_order_acquire);
      auto names_a_later_task = [slot, i](uint64_t word_value) {
        if (word_value == 0 || word_value == process_internal::kKillingWorker) return false;
        return std::any_of(
            slot->in_flight.begin() + static_cast<std::ptrdiff_t>(i) + 1, slot->in_flight.end(),
            [word_value](const InFlight& later) { return later.task_id == word_value; });
      };
      bool may_be_running = sent && i == 0 && !names_a_later_task(running);
      if (may_be_running && !force) {
        return absl::FailedPreconditionError(
            "the task is running; Cancel with force stops it by replacing its worker");
      }
      if (may_be_running && slot->dedicated) {
        return absl::InvalidArgumentError(
            "force would kill the actor running the call; use Actor::Kill for that");
      }
      if (may_be_running) {
        // Takes the word before the kill, so that the worker cannot begin another task
        // meanwhile (finding it taken, it waits for the kill). If the worker moved on to
        // another task before that, this one is answered: no kill.
        while (!names_a_later_task(running) &&
               !word.compare_exchange_weak(running, process_internal::kKillingWorker,
                                           std::memory_order_acq_rel)) {
        }
        may_be_running = !names_a_later_task(running);
      }
      const bool answered = sent && i == 0 && !may_be_running;
      // The task is cancelled now. A thread reading this worker's answers for it stops
      // now, not when an answer comes: woken here, it looks again (and leaves) once Cancel
      // lets go of mu_, and then waits on the store for the report Cancel makes.
      WakeReadersLocked(*slot);
      if (may_be_running) {
        task.cancelled = true;
        *cancelled = ErrorResult(task, absl::StatusCode::kCancelled,
                                 "the task was cancelled while running; its worker was stopped");
        ::kill(slot->pid, SIGKILL);  // reaped, and replaced, by the event thread
        return absl::OkStatus();
      }
      if (answered) {
        task.cancelled = true;
        *cancelled = ErrorResult(task, absl::StatusCode::kCancelled,
                                 "the task was cancelled after it ran; its result is dropped");
        return absl::OkStatus();
      }
      *cancelled = ErrorResult(task, absl::StatusCode::kCancelled,
                               "the task was cancelled before it started");
      auto unsent =
          std::find_if(slot->out.begin(), slot->out.end(),
                       [&task](const OutFrame& frame) { return frame.bytes == task.frame; });
      if (!sent && unsent != slot->out.end() &&
          (unsent != slot->out.begin() || slot->out_offset == 0)) {
        // Not written at all yet: take it back.
        slot->out.erase(unsent);
        --slot->unsent_tasks;
        slot->in_flight.erase(slot->in_flight.begin() + static_cast<std::ptrdiff_t>(i));
        DrainBacklogLocked();  // room on this worker
        return absl::OkStatus();
      }
      // The worker has it (or part of it): tell it to skip the task; its answer is dropped.
      task.cancelled = true;
      proto::DriverMessage message;
      message.mutable_cancel()->set_task_id(task_id);
      auto frame = std::make_shared<std::string>();
      if (AppendFrame(message, options_.max_frame_bytes, frame.get()).ok()) {
        slot->out.push_back({std::move(frame), /*task=*/false});
        if (!slot->want_write) FlushLocked(*slot);
      }
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError("the worker pool has no such task (it may have finished)");
}

absl::Status ProcessManager::ReplyToWorker(WorkerId worker, const proto::ApiReply& reply) {
  proto::DriverMessage message;
  *message.mutable_api_reply() = reply;
  auto frame = std::make_shared<std::string>();
  UNIDIST_RETURN_IF_ERROR(AppendFrame(message, options_.max_frame_bytes, frame.get()));
  absl::MutexLock lock(&mu_);
  if (worker.slot < 0 || worker.slot >= slots_in_use_) return absl::NotFoundError("no such worker");
  Slot& slot = *slots_[worker.slot];
  if (!slot.alive || slot.generation != worker.generation) {
    return absl::NotFoundError("the worker is gone");
  }
  slot.out.push_back({std::move(frame), /*task=*/false});
  if (!slot.want_write) FlushLocked(slot);
  return absl::OkStatus();
}

void ProcessManager::Shutdown() {
  absl::MutexLock shutdown_lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (event_thread_.joinable()) {
    const uint64_t one = 1;
    while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
    event_thread_.join();
  }
  {
    // Threads reading workers' answers (WaitForResult) leave before the sockets close.
    absl::MutexLock lock(&mu_);
    for (int index = 0; index < slots_in_use_; ++index) {
      if (slots_[index] != nullptr) WakeReadersLocked(*slots_[index]);
    }
    mu_.Await(absl::Condition(
        +[](int* readers) { return *readers == 0; }, &readers_));
  }
  // A replacement being spawned finishes (a quick round trip); one spawned and never
  // installed is closed here, and ended by the fork server below with the others.
  if (async_fork_server_ != nullptr) async_fork_server_->Stop();
  std::vector<InFlight> cancelled;
  std::vector<std::unique_ptr<Process>> processes;
  {
    absl::MutexLock lock(&mu_);
    auto take = [&cancelled](std::deque<InFlight>& tasks) {
      for (InFlight& task : tasks) {
        if (!task.cancelled) cancelled.push_back(std::move(task));  // else reported already
      }
      tasks.clear();
    };
    take(backlog_);
    for (auto& slot : slots_) {
      if (slot == nullptr) continue;
      take(slot->in_flight);
      slot->out.clear();
      slot->unsent_tasks = 0;
      if (slot->fd >= 0) close(slot->fd);
      slot->fd = -1;
      slot->alive = false;
      if (slot->ring != nullptr) {
        slot->ring->Close();  // a worker waiting for room fails its write and exits
        slot->ring.reset();
      }
      if (slot->process != nullptr) processes.push_back(std::move(slot->process));
    }
    // The tasks of workers that died and were not reaped yet: the pool stops before it
    // learns how those ended.
    for (auto& process : dying_) {
      take(process->tasks);
      processes.push_back(std::move(process));
    }
    dying_.clear();
  }
  // Ends every worker, the ones that ignore SIGTERM or outlive their reap_grace included.
  if (fork_server_ != nullptr) {
    if (absl::Status stopped = fork_server_->Stop(); !stopped.ok()) {
      LOG(WARNING) << "unidist: " << stopped;
    }
  }
  // Every worker is gone now; pass on what they wrote last.
  for (auto& process : processes) {
    if (process->output.has_value()) process->output->Drain();
    if (process->pidfd >= 0) close(process->pidfd);
  }
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  epoll_fd_ = wake_fd_ = -1;
  for (const InFlight& task : cancelled) {
    options_.on_result(ErrorResult(
        task, absl::StatusCode::kCancelled,
        absl::StrCat("unidist was shut down before task '", task.function(), "' finished")));
  }
}

std::vector<WorkerState> ProcessManager::Workers() const {
  absl::MutexLock lock(&mu_);
  std::vector<WorkerState> workers;
  for (int i = 0; i < pool_size_; ++i) {
    const auto& slot = slots_[i];
    workers.push_back({slot->index, slot->pid, slot->alive, slot->in_flight.size()});
  }
  return workers;
}

bool ProcessManager::stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

size_t ProcessManager::workers_replaced() const {
  absl::MutexLock lock(&mu_);
  return workers_replaced_;
}

}  // namespace unidist
