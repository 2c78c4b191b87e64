// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/process_manager.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "glog/logging.h"
#include "common/status_macros.h"
#include "process_manager/internal/os_util.h"

namespace unidist {
namespace {

using process_internal::DescribeWaitStatus;
using process_internal::ErrnoStatus;

// epoll data: the wake-up eventfd has its own token; a worker's descriptors use
// (generation << 32 | stream << 16 | index), stream 0 for the socket, 1 for stdout and 2
// for stderr.
constexpr uint64_t kWakeToken = ~uint64_t{0};
constexpr uint64_t kSocketStream = 0;
constexpr size_t kStderrTailLines = 32;
constexpr size_t kMaxLineBytes = 64 * 1024;
constexpr size_t kReadChunkBytes = 256 * 1024;
constexpr int kMaxIovecs = 64;
constexpr int kMaxWorkers = 4096;
// Dispatch leaves the write of a new task to the event thread when the worker has this
// many tasks sent and not answered (see DrainBacklogLocked).
constexpr size_t kDeferWritesAt = 8;

uint64_t SlotToken(int index, uint32_t generation, uint64_t stream = kSocketStream) {
  return (uint64_t{generation} << 32) | (stream << 16) | static_cast<uint32_t>(index);
}

void WriteAll(int fd, absl::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;  // the driver's own output is gone: nothing to do
    bytes.remove_prefix(static_cast<size_t>(written));
  }
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
  std::unique_ptr<ProcessManager> manager(new ProcessManager(std::move(options)));
  process_internal::WorkerLoopOptions loop_options;
  loop_options.max_frame_bytes = manager->options_.max_frame_bytes;
  loop_options.execute = manager->options_.execute;
  const int pool_size = manager->options_.num_workers;
  UNIDIST_ASSIGN_OR_RETURN(
      manager->fork_server_,
      process_internal::ForkServer::Start([loop_options, pool_size](int index, int fd) mutable {
        // A crash prints its stack trace to stderr, which the driver reports.
        google::InstallFailureSignalHandler();
        loop_options.worker_index = index;
        // Pool workers run queued tasks while one of theirs waits in a nested call;
        // dedicated (actor) workers must not interleave their calls.
        loop_options.help_while_waiting = index < pool_size;
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
  wake.data.u64 = kWakeToken;
  epoll_ctl(manager->epoll_fd_, EPOLL_CTL_ADD, manager->wake_fd_, &wake);

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
  manager->event_thread_ = std::thread([raw = manager.get()] { raw->EventLoop(); });
  return manager;
}

ProcessManager::~ProcessManager() { Shutdown(); }

absl::Status ProcessManager::StartWorker(Slot& slot) {
  // Forking takes a while; Dispatch callers need not wait for it.
  UNIDIST_ASSIGN_OR_RETURN(process_internal::ForkServer::Worker worker,
                           fork_server_->Spawn(slot.index));
  absl::MutexLock lock(&mu_);
  ++slot.generation;
  const int fds[3] = {worker.socket_fd, worker.stdout_fd, worker.stderr_fd};
  absl::Status status;
  for (uint64_t stream = 0; stream < 3 && status.ok(); ++stream) {
    status = process_internal::SetNonBlocking(fds[stream]);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = SlotToken(slot.index, slot.generation, stream);
    if (status.ok() && epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fds[stream], &event) != 0) {
      status = ErrnoStatus("epoll_ctl");
    }
  }
  if (!status.ok()) {
    for (int fd : fds) close(fd);  // closing also removes them from the epoll set
    fork_server_->Reap(worker.pid, absl::ZeroDuration()).IgnoreError();
    return status;
  }
  slot.output[0] = OutputStream{worker.stdout_fd, ""};
  slot.output[1] = OutputStream{worker.stderr_fd, ""};
  slot.stderr_tail.clear();
  slot.pid = worker.pid;
  slot.fd = worker.socket_fd;
  slot.alive = true;
  slot.want_write = false;
  slot.waiting = 0;
  slot.decoder = FrameDecoder(options_.max_frame_bytes);
  return absl::OkStatus();
}

absl::StatusOr<ProcessManager::InFlight> ProcessManager::Frame(proto::TaskRequest task) const {
  InFlight entry;
  entry.task_id = task.task_id();
  entry.function = task.function();
  proto::DriverMessage message;
  *message.mutable_task() = std::move(task);
  auto frame = std::make_shared<std::string>();
  if (absl::Status framed = AppendFrame(message, options_.max_frame_bytes, frame.get());
      !framed.ok()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("task '", entry.function, "' is too large to send: ", framed.message()));
  }
  entry.frame = std::move(frame);
  return entry;
}

absl::Status ProcessManager::Dispatch(proto::TaskRequest task) {
  UNIDIST_ASSIGN_OR_RETURN(InFlight entry, Frame(std::move(task)));
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
    const ssize_t sent = sendmsg(slot.fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
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
  epoll_event event{};
  event.events = want ? (EPOLLIN | EPOLLOUT) : EPOLLIN;
  event.data.u64 = SlotToken(slot.index, slot.generation);
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, slot.fd, &event);
  slot.want_write = want;
}

void ProcessManager::EventLoop() {
  epoll_event events[64];
  std::vector<proto::TaskResult> completed;
  std::vector<ApiCall> api_requests;
  for (;;) {
    const int ready = epoll_wait(epoll_fd_, events, 64, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return;  // only a bad epoll descriptor gets here: a bug, not a runtime condition
    }
    for (int i = 0; i < ready; ++i) {
      const uint64_t token = events[i].data.u64;
      if (token == kWakeToken) {
        uint64_t count;
        while (read(wake_fd_, &count, sizeof(count)) > 0) {
        }
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        continue;
      }
      const uint64_t stream = (token >> 16) & 0xffffu;
      Slot* found;
      {
        absl::MutexLock lock(&mu_);
        found = slots_[token & 0xffffu].get();
      }
      Slot& slot = *found;  // an event names only slots that were set up
      {
        absl::MutexLock lock(&mu_);
        if (!slot.alive || slot.generation != (token >> 32)) continue;  // stale event
        if (stream == kSocketStream && (events[i].events & EPOLLOUT)) FlushLocked(slot);
      }
      if (stream != kSocketStream) {
        ForwardOutput(slot, static_cast<int>(stream) - 1, /*to_end=*/false);
        continue;
      }
      if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        absl::Status read = ReadFromWorker(slot, &completed, &api_requests);
        if (!read.ok()) {
          HandleWorkerFailure(slot, read, &completed);
        } else {
          absl::MutexLock lock(&mu_);
          DrainBacklogLocked();  // results made room on this worker
        }
      }
    }
    for (proto::TaskResult& result : completed) options_.on_result(std::move(result));
    completed.clear();
    for (ApiCall& call : api_requests) options_.on_api_request(call.worker, std::move(call.request));
    api_requests.clear();
    // Whatever Dispatch left for this thread to write (see DrainBacklogLocked), and what
    // the callbacks above dispatched.
    absl::MutexLock lock(&mu_);
    DrainBacklogLocked();
  }
}

absl::Status ProcessManager::ReadFromWorker(Slot& slot, std::vector<proto::TaskResult>* completed,
                                            std::vector<ApiCall>* api_requests) {
  int fd;
  {
    absl::MutexLock lock(&mu_);
    fd = slot.fd;
  }
  for (;;) {
    const ssize_t received =
        recv(fd, slot.decoder.PrepareAppend(kReadChunkBytes), kReadChunkBytes, MSG_DONTWAIT);
    if (received == 0) return absl::UnavailableError("the worker closed its socket");
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
      return ErrnoStatus("reading from the worker");
    }
    slot.decoder.Commit(static_cast<size_t>(received));
    for (;;) {
      absl::StatusOr<std::optional<absl::string_view>> payload = slot.decoder.Next();
      if (!payload.ok()) return absl::DataLossError(payload.status().message());
      if (!payload->has_value()) break;
      proto::WorkerMessage message;
      UNIDIST_RETURN_IF_ERROR(ParseFramePayload(**payload, &message));
      absl::MutexLock lock(&mu_);
      slot.waiting = message.waiting_tasks();
      // in_flight ends with the tasks not yet (fully) written; the worker knows the others.
      const size_t sent = slot.in_flight.size() - slot.unsent_tasks;
      auto find_sent = [&slot, sent](uint64_t task_id) {
        auto end = slot.in_flight.begin() + static_cast<std::ptrdiff_t>(sent);
        auto it = std::find_if(slot.in_flight.begin(), end,
                               [task_id](const InFlight& task) { return task.task_id == task_id; });
        return it == end ? slot.in_flight.end() : it;
      };
      if (message.has_result()) {
        // Usually the oldest task; a task nested under a waiting one finishes first.
        auto task = find_sent(message.result().task_id());
        if (task == slot.in_flight.end()) {
          return absl::DataLossError(absl::StrCat("the worker sent a result for task ",
                                                  message.result().task_id(),
                                                  ", which it was not running"));
        }
        const bool cancelled = task->cancelled;
        slot.in_flight.erase(task);
        if (!cancelled) completed->push_back(std::move(*message.mutable_result()));
        if (slot.closing) MaybeFinishClosingLocked(slot);
      } else if (message.has_started()) {
        auto task = find_sent(message.started().task_id());
        if (task == slot.in_flight.end()) {
          return absl::DataLossError("the worker started a task it was not sent");
        }
        task->started = true;
      } else if (message.has_api_request()) {
        if (!options_.on_api_request) {
          return absl::DataLossError("the worker made an API call this pool does not serve");
        }
        api_requests->push_back({WorkerId{slot.index, slot.generation},
                                 std::move(*message.mutable_api_request())});
      } else {
        return absl::DataLossError("the worker sent a message of no known kind");
      }
    }
  }
}

void ProcessManager::ForwardOutput(Slot& slot, int stream, bool to_end) {
  OutputStream& output = slot.output[stream];
  char buffer[64 * 1024];
  while (output.fd >= 0) {
    const ssize_t received = read(output.fd, buffer, sizeof(buffer));
    if (received < 0 && errno == EINTR) continue;
    if (received > 0) {
      absl::string_view bytes(buffer, static_cast<size_t>(received));
      for (size_t newline; (newline = bytes.find('\n')) != absl::string_view::npos;) {
        output.partial_line.append(bytes.data(), newline);
        EmitLine(slot, stream, output.partial_line);
        output.partial_line.clear();
        bytes.remove_prefix(newline + 1);
      }
      output.partial_line.append(bytes.data(), bytes.size());
      if (output.partial_line.size() >= kMaxLineBytes) {
        EmitLine(slot, stream, output.partial_line);
        output.partial_line.clear();
      }
      continue;
    }
    if (received < 0 && errno == EAGAIN && !to_end) return;  // all read for now
    // EOF, an error, or (draining a dead worker) EAGAIN because some process the worker
    // started still holds the pipe: this stream is done.
    if (!output.partial_line.empty()) EmitLine(slot, stream, output.partial_line);
    output.partial_line.clear();
    close(output.fd);  // also removes it from the epoll set
    output.fd = -1;
  }
}

void ProcessManager::EmitLine(Slot& slot, int stream, absl::string_view line) {
  WriteAll(stream == 0 ? STDOUT_FILENO : STDERR_FILENO,
           absl::StrFormat("(worker %d pid %d) %s\n", slot.index, slot.pid, line));
  if (stream == 1) {
    slot.stderr_tail.emplace_back(line.substr(0, 1000));
    if (slot.stderr_tail.size() > kStderrTailLines) slot.stderr_tail.pop_front();
  }
}

proto::TaskResult ProcessManager::ErrorResult(const InFlight& task, absl::StatusCode code,
                                              const std::string& message) {
  proto::TaskResult result;
  result.set_task_id(task.task_id);
  result.mutable_error()->set_code(static_cast<int>(code));
  result.mutable_error()->set_message(message);
  result.mutable_error()->set_function(task.function);
  return result;
}

void ProcessManager::HandleWorkerFailure(Slot& slot, const absl::Status& cause,
                                         std::vector<proto::TaskResult>* completed) {
  std::deque<InFlight> in_flight;
  size_t not_sent;
  pid_t pid;
  {
    absl::MutexLock lock(&mu_);
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, slot.fd, nullptr);
    close(slot.fd);
    slot.fd = -1;
    slot.alive = false;
    // Until its replacement is up, Dispatch queues tasks instead of refusing them.
    if (!slot.dedicated) ++replacing_;
    in_flight.swap(slot.in_flight);
    not_sent = slot.unsent_tasks;
    slot.out.clear();
    slot.out_offset = 0;
    slot.unsent_tasks = 0;
    pid = slot.pid;
  }
  // A worker that broke the protocol is killed at once; one that closed its socket is
  // dying, and gets a moment to finish so that its exit status is the real one.
  const bool protocol_error = cause.code() == absl::StatusCode::kDataLoss;
  absl::StatusOr<int> wait_status =
      fork_server_->Reap(pid, protocol_error ? absl::ZeroDuration() : options_.reap_grace);
  const std::string how = wait_status.ok()
                              ? DescribeWaitStatus(*wait_status)
                              : absl::StrCat("could not be reaped: ", wait_status.status().message());
  // Tasks cancelled earlier were reported then: the worker's death changes nothing for
  // them (a forced cancellation is what killed it).
  // The worker runs its tasks in order, so the first task it was sent may have started,
  // and others only if it said so (nested under a waiting task); the rest never started.
  if (in_flight.size() > not_sent) in_flight.front().started = true;
  std::deque<InFlight> started;
  std::deque<InFlight> not_started;
  for (InFlight& task : in_flight) {
    if (task.cancelled) continue;  // reported already (a forced cancel killed the worker)
    (task.started ? started : not_started).push_back(std::move(task));
  }
  // The worker is gone: what it wrote last (a crash's stack trace) is in its pipes.
  ForwardOutput(slot, 0, /*to_end=*/true);
  ForwardOutput(slot, 1, /*to_end=*/true);
  std::string stderr_tail;
  for (const std::string& line : slot.stderr_tail) absl::StrAppend(&stderr_tail, "\n  ", line);
  if (!stderr_tail.empty()) {
    stderr_tail = absl::StrCat("\nlast lines of the worker's stderr:", stderr_tail);
  }

  if (options_.on_worker_gone) options_.on_worker_gone(WorkerId{slot.index, slot.generation});
  if (slot.dedicated) {
    const bool first_started = !started.empty();
    for (InFlight& task : not_started) started.push_back(std::move(task));
    LoseDedicatedWorker(slot, pid, how + stderr_tail, protocol_error, first_started,
                        std::move(started), completed);
    return;
  }

  // The started tasks fail; the others are dispatched again.
  for (const InFlight& task : started) {
    const std::string message =
        protocol_error
            ? absl::StrFormat("worker %d (pid %d) running '%s' sent bytes that do not decode "
                              "(%s) and was killed; it %s",
                              slot.index, pid, task.function, cause.message(), how)
            : absl::StrFormat("worker %d (pid %d) died while running '%s': %s%s", slot.index,
                              pid, task.function, how, stderr_tail);
    proto::TaskResult result = ErrorResult(
        task, protocol_error ? absl::StatusCode::kDataLoss : absl::StatusCode::kUnavailable,
        message);
    result.mutable_error()->set_worker_index(slot.index);
    result.mutable_error()->set_worker_pid(pid);
    result.mutable_error()->set_worker_died(!protocol_error);
    completed->push_back(std::move(result));
  }
  in_flight = std::move(not_started);

  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    stopping = stopping_;
    if (stopping) --replacing_;
    if (!stopping) {
      // The tasks that never started go back to the head of the queue, in their order.
      backlog_.insert(backlog_.begin(), std::make_move_iterator(in_flight.begin()),
                      std::make_move_iterator(in_flight.end()));
      in_flight.clear();
    }
  }
  if (stopping) {
    for (const InFlight& task : in_flight) {
      completed->push_back(ErrorResult(task, absl::StatusCode::kCancelled,
                                       "the worker pool shut down before the task ran"));
    }
    return;
  }
  const absl::Status restarted = StartWorker(slot);
  if (restarted.ok()) {
    LOG(WARNING) << "unidist: worker " << slot.index << " (pid " << pid << ") " << how
                 << "; replaced by pid " << slot.pid;
  } else {
    LOG(ERROR) << "unidist: worker " << slot.index << " (pid " << pid << ") " << how
               << " and could not be replaced: " << restarted;
  }
  absl::MutexLock lock(&mu_);
  --replacing_;
  if (restarted.ok()) {
    ++workers_replaced_;
  } else {
    replacement_error_ = restarted;
  }
  if (std::none_of(slots_.begin(), slots_.begin() + pool_size_,
                   [](const auto& each) { return each->alive; })) {
    const absl::Status none_alive = NoWorkerAliveLocked();
    for (const InFlight& task : backlog_) {
      completed->push_back(
          ErrorResult(task, absl::StatusCode::kUnavailable, std::string(none_alive.message())));
    }
    backlog_.clear();
    return;
  }
  DrainBacklogLocked();
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

absl::Status ProcessManager::DispatchTo(WorkerId worker, proto::TaskRequest task) {
  UNIDIST_ASSIGN_OR_RETURN(InFlight entry, Frame(std::move(task)));
  absl::MutexLock lock(&mu_);
  if (stopping_) return absl::FailedPreconditionError("the worker pool has shut down");
  Slot* slot = FindDedicatedLocked(worker);
  if (slot == nullptr) return absl::FailedPreconditionError("the dedicated worker is gone");
  if (!slot->alive) return slot->lost;
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

void ProcessManager::LoseDedicatedWorker(Slot& slot, pid_t pid, const std::string& how,
                                         bool protocol_error, bool first_started,
                                         std::deque<InFlight> in_flight,
                                         std::vector<proto::TaskResult>* completed) {
  absl::Status lost;
  {
    absl::MutexLock lock(&mu_);
    if (slot.killing || stopping_) {
      lost = absl::CancelledError("the worker was killed");
    } else if (slot.closing && in_flight.empty() && !protocol_error) {
      lost = absl::CancelledError("the worker was closed");
    } else {
      lost = absl::UnavailableError(
          absl::StrFormat("dedicated worker %d (pid %d) %s", slot.index, pid, how));
    }
    slot.lost = lost;
    free_dedicated_slots_.push_back(slot.index);
  }
  bool first = first_started;
  for (const InFlight& task : in_flight) {
    std::string message;
    if (lost.code() == absl::StatusCode::kCancelled) {
      message = absl::StrCat("task '", task.function, "' was cancelled: ", lost.message());
    } else {
      message = absl::StrFormat("dedicated worker %d (pid %d) died %s '%s': %s", slot.index,
                                pid, first ? "while running" : "before running",
                                task.function, how);
    }
    proto::TaskResult result = ErrorResult(task, lost.code(), message);
    result.mutable_error()->set_worker_index(slot.index);
    result.mutable_error()->set_worker_pid(pid);
    result.mutable_error()->set_worker_died(lost.code() == absl::StatusCode::kUnavailable);
    completed->push_back(std::move(result));
    first = false;
  }
  if (options_.on_dedicated_worker_lost) {
    options_.on_dedicated_worker_lost(WorkerId{slot.index, slot.generation}, lost);
  }
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
      if (sent && i == 0) {  // it may be running
        if (!force) {
          return absl::FailedPreconditionError(
              "the task is running; Cancel with force stops it by replacing its worker");
        }
        if (slot->dedicated) {
          return absl::InvalidArgumentError(
              "force would kill the actor running the call; use Actor::Kill for that");
        }
        task.cancelled = true;
        *cancelled = ErrorResult(task, absl::StatusCode::kCancelled,
                                 "the task was cancelled while running; its worker was stopped");
        ::kill(slot->pid, SIGKILL);  // reaped, and replaced, by the event thread
        return absl::OkStatus();
      }
      *cancelled = ErrorResult(task, absl::StatusCode::kCancelled,
                               "the task was cancelled before it started");
      auto unsent = std::find_if(slot->out.begin(), slot->out.end(),
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
  std::vector<InFlight> cancelled;
  {
    absl::MutexLock lock(&mu_);
    for (InFlight& task : backlog_) cancelled.push_back(std::move(task));
    backlog_.clear();
    for (auto& slot : slots_) {
      if (slot == nullptr) continue;
      for (InFlight& task : slot->in_flight) cancelled.push_back(std::move(task));
      slot->in_flight.clear();
      slot->out.clear();
      slot->unsent_tasks = 0;
      if (slot->fd >= 0) close(slot->fd);
      slot->fd = -1;
      slot->alive = false;
    }
  }
  if (fork_server_ != nullptr) {
    if (absl::Status stopped = fork_server_->Stop(); !stopped.ok()) {
      LOG(WARNING) << "unidist: " << stopped;
    }
  }
  // Every worker is gone now; pass on what they wrote last.
  for (auto& slot : slots_) {
    if (slot == nullptr) continue;
    ForwardOutput(*slot, 0, /*to_end=*/true);
    ForwardOutput(*slot, 1, /*to_end=*/true);
  }
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  epoll_fd_ = wake_fd_ = -1;
  for (const InFlight& task : cancelled) {
    options_.on_result(ErrorResult(
        task, absl::StatusCode::kCancelled,
        absl::StrCat("unidist was shut down before task '", task.function, "' finished")));
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
