// Copyright 2026 The unidist-cpp Authors.
//
// ProcessManager's event thread: reading results, and the life of a worker from the moment
// it stops talking to the driver until it is reaped and replaced. None of it waits for a
// process or for the fork server:
//   1. a worker's socket reports EOF (or bytes that do not decode), or its pidfd reports
//      that it exited: HandleWorkerFailure closes the socket, requeues the tasks it never
//      started, moves the process to dying_ with the others, and asks AsyncForkServer for
//      a replacement; a worker that has not exited gets reap_grace before a SIGKILL
//      (KillOverdueLocked sets epoll_wait's timeout from the earliest deadline);
//   2. its pidfd fires: HandleProcessExited passes on its last output and asks for the reap;
//   3. the reap is done: HandleReaped reports the tasks it held with how it ended;
//   4. the replacement is spawned: HandleReplacement installs it in the slot.

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <iterator>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/monotonic_clock.h"
#include "common/status_macros.h"
#include "glog/logging.h"
#include "process_manager/internal/epoll_token.h"
#include "process_manager/internal/os_util.h"
#include "process_manager/internal/result_reader.h"
#include "process_manager/process_manager.h"

namespace unidist {
namespace {

using process_internal::AsyncForkServer;
using process_internal::DescribeWaitStatus;
using process_internal::ErrnoStatus;
using process_internal::Stream;

constexpr size_t kReadChunkBytes = 256 * 1024;
constexpr int kMaxEvents = 64;

}  // namespace

void ProcessManager::KillProcess(const Process& process) {
  if (process.pidfd >= 0) {
    // A pidfd names its process even once it is reaped: the signal cannot hit a stranger.
    syscall(SYS_pidfd_send_signal, process.pidfd, SIGKILL, nullptr, 0);
  } else {
    // Without a pidfd: the fork server reaps the process only once the driver has seen it
    // exit (below), so until then its pid cannot name another process.
    ::kill(process.pid, SIGKILL);
  }
}

bool ProcessManager::ExitedWithoutPidfd(pid_t pid) {
  // The fork server does not reap it before the driver asks, so an exited worker is a
  // zombie: state Z (or X) in /proc/<pid>/stat, after the command's closing parenthesis.
  const int fd = open(absl::StrCat("/proc/", pid, "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;  // no such process any more
  char buffer[512];
  const ssize_t got = read(fd, buffer, sizeof(buffer));
  close(fd);
  if (got <= 0) return false;
  const std::string stat(buffer, static_cast<size_t>(got));
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  const char state = stat[paren + 2];
  return state == 'Z' || state == 'X';
}

void ProcessManager::EventLoop() {
  epoll_event events[kMaxEvents];
  std::vector<proto::TaskResult> completed;
  std::vector<ApiCall> api_requests;
  std::vector<AsyncForkServer::Spawned> spawned;
  std::vector<AsyncForkServer::Reaped> reaped;
  std::vector<std::pair<WorkerId, absl::Status>> broken;
  std::vector<Process*> exited;
  // The result rings of the live pool workers, which the thread says it sleeps on (see
  // result_ring.h), as of ring_set_version_ `rings_version`.
  std::vector<std::shared_ptr<process_internal::ResultRing>> rings;
  uint64_t rings_version = ~uint64_t{0};
  for (;;) {
    int timeout_ms;
    {
      absl::MutexLock handling(&events_mu_);
      process_internal::HandlingEventsScope scope;
      if (rings_version != ring_set_version_) {
        rings.clear();
        for (int index = 0; index < pool_size_; ++index) {
          if (slots_[index]->ring != nullptr) rings.push_back(slots_[index]->ring);
        }
        rings_version = ring_set_version_;
      }
      {
        absl::MutexLock lock(&mu_);
        timeout_ms = KillOverdueLocked(&exited);
      }
      // Processes without a pidfd whose exit KillOverdueLocked noticed: as if it had fired.
      for (Process* process : exited) HandleProcessExited(*process);
      if (!exited.empty()) timeout_ms = 0;
      exited.clear();
      if (options_.worker_memory_limit > 0) {
        const int64_t now = MonotonicNanos();
        if (now >= next_memory_check_ns_) {
          StopWorkersOverMemoryLimit(&completed);
          next_memory_check_ns_ = now + kMemoryCheckNs;
        }
        const int until_check = static_cast<int>((next_memory_check_ns_ - now) / 1'000'000) + 1;
        timeout_ms = timeout_ms < 0 ? until_check : std::min(timeout_ms, until_check);
        if (!completed.empty()) timeout_ms = 0;  // report them at once
      }
    }
    // A worker writes to its socket only when told that a driver thread sleeps: tell it,
    // then look at the rings, and sleep only if they are all empty.
    const bool sleep = timeout_ms != 0 && !rings.empty();
    if (sleep) {
      for (const auto& ring : rings) ring->BeginSleep();
      for (const auto& ring : rings) {
        if (ring->HasData()) {
          timeout_ms = 0;
          break;
        }
      }
    }
    const int ready = epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
    if (sleep) {
      for (const auto& ring : rings) ring->EndSleep();
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      // Only a bad epoll descriptor gets here: a bug, not a runtime condition.
      LOG(ERROR) << "unidist: " << ErrnoStatus("epoll_wait");
      return;
    }
    // A reader (WaitForResult) may have handled some of these events meanwhile; each
    // handler below copes with one that is stale (a socket read finds nothing, a worker
    // that is gone is not found).
    absl::MutexLock handling(&events_mu_);
    process_internal::HandlingEventsScope scope;
    for (int i = 0; i < ready; ++i) {
      const uint64_t token = events[i].data.u64;
      if (token == process_internal::kWakeToken) {
        uint64_t count;
        while (read(wake_fd_, &count, sizeof(count)) > 0) {
        }
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        continue;
      }
      const Stream stream = process_internal::TokenStream(token);
      Slot* slot;
      Process* process;
      bool live;
      {
        absl::MutexLock lock(&mu_);
        process = FindProcessLocked(token);
        if (process == nullptr) continue;  // stale: the worker is gone
        slot = slots_[process->index].get();
        live = slot->alive && slot->process.get() == process;
        if (stream == Stream::kSocket) {
          if (!live) continue;
          if (events[i].events & EPOLLOUT) FlushLocked(*slot);
        }
      }
      switch (stream) {
        case Stream::kStdout:
        case Stream::kStderr:
          process->output->Forward(static_cast<int>(stream) - 1);
          break;
        case Stream::kSocket:
          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            HandleSocketReadable(*slot, &completed, &api_requests);
          }
          break;
        case Stream::kPidfd:
          if (live) {
            // It exited while its socket is open: something it started may hold the
            // socket. What it sent before it exited is all there; take it first.
            absl::Status read = ReadFromWorker(*slot, &completed, &api_requests);
            if (read.ok()) read = absl::UnavailableError("the worker process exited");
            process = HandleWorkerFailure(
                *slot, absl::IsDataLoss(read) ? DeathCause::kProtocolError : DeathCause::kGone,
                read, &completed);
          }
          HandleProcessExited(*process);
          break;
      }
    }
    // (Without rings, as by default, the loop pays nothing for them. A ring installed
    // during this pass is in the list, and looked at, before the thread next sleeps.)
    if (!rings.empty()) ReadResultRings(&completed, &api_requests);
    {
      absl::MutexLock lock(&mu_);
      broken.swap(broken_);
    }
    for (const auto& [worker, status] : broken) {
      Slot* slot;
      {
        absl::MutexLock lock(&mu_);
        slot = slots_[worker.slot].get();
        if (!slot->alive || slot->generation != worker.generation) continue;
      }
      HandleWorkerFailure(*slot, DeathCause::kDriverError, status, &completed);
    }
    broken.clear();
    async_fork_server_->TakeFinished(&spawned, &reaped);
    for (AsyncForkServer::Spawned& each : spawned) {
      HandleReplacement(each.worker_index, std::move(each.worker), &completed);
    }
    for (const AsyncForkServer::Reaped& each : reaped) {
      HandleReaped(each.pid, each.wait_status, &completed);
    }
    spawned.clear();
    reaped.clear();
    ReportEvents(&completed, &api_requests);
  }
}

void ProcessManager::HandleSocketReadable(Slot& slot, std::vector<proto::TaskResult>* completed,
                                          std::vector<ApiCall>* api_requests, bool socket_ready) {
  const absl::Status read = ReadFromWorker(slot, completed, api_requests, socket_ready);
  if (!read.ok()) {
    HandleWorkerFailure(slot,
                        absl::IsDataLoss(read) ? DeathCause::kProtocolError : DeathCause::kGone,
                        read, completed);
  } else {
    absl::MutexLock lock(&mu_);
    DrainBacklogLocked();  // results made room on this worker
  }
}

void ProcessManager::ReadResultRings(std::vector<proto::TaskResult>* completed,
                                     std::vector<ApiCall>* api_requests) {
  // A slot has a ring only while its worker is live (HandleWorkerFailure resets it).
  for (int index = 0; index < pool_size_; ++index) {
    Slot& slot = *slots_[index];
    if (slot.ring != nullptr && slot.ring->HasData()) {
      HandleSocketReadable(slot, completed, api_requests, /*socket_ready=*/false);
    }
  }
}

void ProcessManager::ReportEvents(std::vector<proto::TaskResult>* completed,
                                  std::vector<ApiCall>* api_requests) {
  for (proto::TaskResult& result : *completed) options_.on_result(std::move(result));
  completed->clear();
  for (ApiCall& call : *api_requests) options_.on_api_request(call.worker, std::move(call.request));
  api_requests->clear();
  // Whatever Dispatch left for the event thread to write (see DrainBacklogLocked), and
  // what the callbacks above dispatched.
  absl::MutexLock lock(&mu_);
  DrainBacklogLocked();
}

ProcessManager::Process* ProcessManager::FindProcessLocked(uint64_t token) {
  const int index = process_internal::TokenIndex(token);
  const uint32_t generation = process_internal::TokenGeneration(token);
  if (index >= slots_in_use_ || slots_[index] == nullptr) return nullptr;
  Process* live = slots_[index]->process.get();
  if (live != nullptr && live->generation == generation) return live;
  for (const auto& dying : dying_) {
    if (dying->index == index && dying->generation == generation) return dying.get();
  }
  return nullptr;
}

int ProcessManager::KillOverdueLocked(std::vector<Process*>* exited) {
  const int64_t now = MonotonicNanos();
  int64_t next = INT64_MAX;
  for (const auto& process : dying_) {
    if (process->exited) continue;
    if (process->pidfd < 0) {
      // No pidfd to tell us (see InstallWorkerLocked): look, and look again soon.
      if (ExitedWithoutPidfd(process->pid)) {
        exited->push_back(process.get());
        continue;
      }
      next = std::min(next, now + kExitPollNanos);
    }
    if (process->kill_at == INT64_MAX) continue;
    if (process->kill_at <= now) {
      LOG(WARNING) << "unidist: worker " << process->index << " (pid " << process->pid
                   << ") did not exit within reap_grace of closing its socket; killing it";
      KillProcess(*process);
      process->kill_at = INT64_MAX;  // its exit is seen once it is dead
      continue;
    }
    next = std::min(next, process->kill_at);
  }
  if (next == INT64_MAX) return -1;
  // Rounded up, so that the wake-up is not a moment early.
  const int64_t ms = (next - now + 999'999) / 1'000'000;
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

absl::Status ProcessManager::ReadFromWorker(Slot& slot, std::vector<proto::TaskResult>* completed,
                                            std::vector<ApiCall>* api_requests, bool socket_ready) {
  int fd;
  {
    absl::MutexLock lock(&mu_);
    fd = slot.fd;
  }
  // Everything sent so far is read. A worker with no task in flight has nothing to send,
  // so part of a frame from it will never be completed (see the idle rule in
  // process_manager.h).
  const auto all_read = [this, &slot]() -> absl::Status {
    absl::MutexLock lock(&mu_);
    if (slot.in_flight.empty() && slot.decoder.buffered_bytes() > 0) {
      return absl::DataLossError(absl::StrFormat(
          "the worker has no task in flight but sent %d bytes of an unfinished frame",
          slot.decoder.buffered_bytes()));
    }
    return absl::OkStatus();
  };
  if (process_internal::ResultRing* ring = slot.ring.get(); ring != nullptr) {
    // The socket holds wake-up tokens if it was reported readable or the worker wrote
    // one not read yet; what is read is counted before the ring is read (result_ring.h).
    absl::Status socket = absl::OkStatus();
    if (socket_ready || ring->TokenOutstanding()) {
      size_t tokens = 0;
      socket = ReadWakeTokens(fd, &tokens);
      if (absl::IsDataLoss(socket)) return socket;
      UNIDIST_RETURN_IF_ERROR(ring->CountTokensRead(tokens));
    }
    // What the worker wrote before its socket closed is all in the ring: take it first.
    UNIDIST_RETURN_IF_ERROR(ring->ReadInto(&slot.decoder));
    UNIDIST_RETURN_IF_ERROR(ParseFromWorker(slot, completed, api_requests));
    if (!socket.ok()) return socket;
    return all_read();
  }
  for (;;) {
    const ssize_t received =
        recv(fd, slot.decoder.PrepareAppend(kReadChunkBytes), kReadChunkBytes, MSG_DONTWAIT);
    if (received == 0) return absl::UnavailableError("the worker closed its socket");
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return all_read();
      return ErrnoStatus("reading from the worker");
    }
    // Fewer bytes than asked for: the socket had no more (a stream socket's recv returns
    // what is there, up to the size asked). If that answered every task the worker had,
    // nothing more is on its way and the recv that would only say EAGAIN is saved (a
    // system call on the way back of a lone task's result); with tasks still in flight,
    // reading on picks up results that arrive meanwhile in this same pass.
    const bool drained = static_cast<size_t>(received) < kReadChunkBytes;
    slot.decoder.Commit(static_cast<size_t>(received));
    UNIDIST_RETURN_IF_ERROR(ParseFromWorker(slot, completed, api_requests));
    if (drained) {
      bool answered_all;
      {
        absl::MutexLock lock(&mu_);
        answered_all = slot.in_flight.empty();
      }
      if (answered_all) return all_read();
    }
  }
}

absl::Status ProcessManager::ReadWakeTokens(int fd, size_t* count) {
  char tokens[64];
  for (;;) {
    const ssize_t received = recv(fd, tokens, sizeof(tokens), MSG_DONTWAIT);
    if (received == 0) return absl::UnavailableError("the worker closed its socket");
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
      return ErrnoStatus("reading from the worker");
    }
    for (ssize_t i = 0; i < received; ++i) {
      if (tokens[i] != process_internal::ResultRing::kWakeToken) {
        return absl::DataLossError(absl::StrFormat(
            "the worker wrote byte 0x%02x to its socket, which carries only wake-up tokens "
            "beside its result ring",
            static_cast<unsigned char>(tokens[i])));
      }
    }
    *count += static_cast<size_t>(received);
    // Fewer than asked for: that was all (see ReadFromWorker).
    if (static_cast<size_t>(received) < sizeof(tokens)) return absl::OkStatus();
  }
}

absl::Status ProcessManager::ParseFromWorker(Slot& slot, std::vector<proto::TaskResult>* completed,
                                             std::vector<ApiCall>* api_requests) {
  for (;;) {
    absl::StatusOr<std::optional<absl::string_view>> payload = slot.decoder.Next();
    if (!payload.ok()) return payload.status();  // DataLoss naming the fault
    if (!payload->has_value()) return absl::OkStatus();
    proto::WorkerMessage message;
    UNIDIST_RETURN_IF_ERROR(ParseFramePayload(**payload, &message));
    absl::MutexLock lock(&mu_);
    if (slot.in_flight.empty()) {
      return absl::DataLossError("the worker sent a message while it had no task in flight");
    }
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
      if (!slot.readers.empty()) WakeReadersLocked(slot);
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
      api_requests->push_back(
          {WorkerId{slot.index, slot.generation}, std::move(*message.mutable_api_request())});
    } else {
      return absl::DataLossError("the worker sent a message of no known kind");
    }
  }
}

ProcessManager::Process* ProcessManager::HandleWorkerFailure(
    Slot& slot, DeathCause cause, const absl::Status& why,
    std::vector<proto::TaskResult>* completed) {
  std::deque<InFlight> not_started;
  Process* process;
  bool stopping;
  {
    absl::MutexLock lock(&mu_);
    // Threads reading its answers stop watching it before its socket closes.
    WakeReadersLocked(slot);
    slot.readers.clear();
    // Closing also drops it from the epoll set; a failed EPOLL_CTL_DEL changes nothing.
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, slot.fd, nullptr) != 0) {
      LOG(WARNING) << "unidist: " << ErrnoStatus("epoll_ctl removing a worker's socket");
    }
    close(slot.fd);
    slot.fd = -1;
    slot.alive = false;
    // Its writes fail from now on (a worker waiting for room is woken to fail); what it
    // wrote before is read already, or lost with a worker that broke the protocol.
    if (slot.ring != nullptr) {
      slot.ring->Close();
      slot.ring.reset();
      ++ring_set_version_;
    }
    std::deque<InFlight> in_flight;
    in_flight.swap(slot.in_flight);
    const size_t not_sent = slot.unsent_tasks;
    slot.out.clear();
    slot.out_offset = 0;
    slot.unsent_tasks = 0;
    std::unique_ptr<Process> owned = std::move(slot.process);
    process = owned.get();
    process->cause = cause;
    process->why = why;
    // The task it had begun is the one its running-task word names (0: none; it died
    // between tasks, or before it began the first it was sent); tasks nested under a
    // waiting one said so themselves. The rest never started. The word is cleared for the
    // replacement. Tasks cancelled earlier were reported then (a forced cancellation is
    // what killed it).
    uint64_t running = running_tasks_[slot.index].task_id.exchange(0, std::memory_order_acq_rel);
    // Taken by a forced Cancel to kill it: between tasks, or on the cancelled one.
    if (running == process_internal::kKillingWorker) running = 0;
    // Bytes that broke the stream came from the oldest task sent (it wrote them, and may
    // have finished since): that one fails, with DataLoss, and is not run again.
    if (cause == DeathCause::kProtocolError && running == 0 && in_flight.size() > not_sent) {
      running = in_flight.front().task_id;
    }
    for (InFlight& task : in_flight) {
      if (task.cancelled) continue;
      if (running != 0 && task.task_id == running) task.started = true;
      (task.started ? process->tasks : not_started).push_back(std::move(task));
    }
    stopping = stopping_;
    if (slot.dedicated) {
      // A dedicated worker is not replaced: all its tasks fail once how it ended is known.
      for (InFlight& task : not_started) process->tasks.push_back(std::move(task));
      not_started.clear();
      slot.lost = DedicatedLossLocked(slot, process->pid, cause == DeathCause::kProtocolError,
                                      !process->tasks.empty(), "stopped talking to the driver");
    } else if (!stopping) {
      // The tasks that never started go back to the head of the queue, in their order,
      // for the other workers and the replacement. Until it is up, Dispatch queues tasks
      // instead of refusing them.
      backlog_.insert(backlog_.begin(), std::make_move_iterator(not_started.begin()),
                      std::make_move_iterator(not_started.end()));
      not_started.clear();
      ++replacing_;
      async_fork_server_->Spawn(slot.index, SharedFileBytes(slot.index));
    }
    if (cause == DeathCause::kGone) {
      // It is dying, and gets reap_grace to finish so that its exit status is the real one.
      const int64_t grace = absl::ToInt64Nanoseconds(options_.reap_grace);
      const int64_t now = MonotonicNanos();
      process->kill_at = grace >= INT64_MAX - now ? INT64_MAX : now + std::max<int64_t>(grace, 0);
    } else {
      KillProcess(*process);  // broken, or unwatchable: no grace
    }
    dying_.push_back(std::move(owned));
  }
  for (const InFlight& task : not_started) {
    completed->push_back(ErrorResult(task, absl::StatusCode::kCancelled,
                                     "the worker pool shut down before the task ran"));
  }
  if (!slot.dedicated && !stopping) {
    LOG(WARNING) << "unidist: worker " << slot.index << " (pid " << process->pid << ") is gone ("
                 << why.message() << "); starting a replacement";
  }
  if (options_.on_worker_gone) options_.on_worker_gone(WorkerId{slot.index, process->generation});
  return process;
}

void ProcessManager::HandleProcessExited(Process& process) {
  {
    absl::MutexLock lock(&mu_);
    if (process.exited) return;
    process.exited = true;
    if (process.pidfd >= 0 && epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, process.pidfd, nullptr) != 0) {
      // It would keep firing: close it instead (that drops it from the set too). It is no
      // longer needed to signal the process, which is dead.
      LOG(WARNING) << "unidist: " << ErrnoStatus("epoll_ctl removing a worker's pidfd");
      close(process.pidfd);
      process.pidfd = -1;
    }
  }
  // The worker is gone: what it wrote last (a crash's stack trace) is in its pipes.
  process.output->Drain();
  // It has exited, so the fork server reaps it at once.
  async_fork_server_->Reap(process.pid);
}

void ProcessManager::HandleReaped(pid_t pid, const absl::StatusOr<int>& wait_status,
                                  std::vector<proto::TaskResult>* completed) {
  std::unique_ptr<Process> process;
  std::deque<InFlight> tasks;
  {
    absl::MutexLock lock(&mu_);
    auto it = std::find_if(dying_.begin(), dying_.end(),
                           [pid](const auto& each) { return each->pid == pid && each->exited; });
    // Not a dying worker: one killed because it could not be installed.
    if (it == dying_.end()) return;
    process = std::move(*it);
    dying_.erase(it);
    for (InFlight& task : process->tasks) {
      if (!task.cancelled) tasks.push_back(std::move(task));  // else reported by Cancel
    }
  }
  if (process->pidfd >= 0) close(process->pidfd);
  const std::string how =
      wait_status.ok() ? DescribeWaitStatus(*wait_status)
                       : absl::StrCat("could not be reaped: ", wait_status.status().message());
  if (process->dedicated) {
    LoseDedicatedWorker(*slots_[process->index], process->pid, how + process->output->StderrTail(),
                        process->cause == DeathCause::kProtocolError, std::move(tasks), completed);
    return;
  }
  FailPoolTasks(*process, how, std::move(tasks), completed);
}

void ProcessManager::StopWorkersOverMemoryLimit(std::vector<proto::TaskResult>* completed) {
  std::vector<std::pair<Slot*, size_t>> over;
  {
    absl::MutexLock lock(&mu_);
    for (int index = 0; index < slots_in_use_; ++index) {
      Slot* slot = slots_[index].get();
      if (slot == nullptr || !slot->alive || slot->in_flight.empty()) continue;
      const size_t used = PrivateResidentBytes(slot->pid);
      if (used > options_.worker_memory_limit) over.emplace_back(slot, used);
    }
  }
  for (auto [slot, used] : over) {
    HandleWorkerFailure(
        *slot, DeathCause::kOverMemoryLimit,
        absl::ResourceExhaustedError(absl::StrFormat(
            "it used %d MiB of memory, over Options::worker_memory_limit (%d MiB), and was "
            "stopped",
            used >> 20, options_.worker_memory_limit >> 20)),
        completed);
  }
}

size_t ProcessManager::PrivateResidentBytes(pid_t pid) {
  // statm: size resident shared ... in pages; resident - shared is what the process alone
  // holds (its heap and stack, not the store's pages or the program's file pages).
  const int fd = open(absl::StrCat("/proc/", pid, "/statm").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buffer[256];
  const ssize_t got = read(fd, buffer, sizeof(buffer) - 1);
  close(fd);
  if (got <= 0) return 0;
  buffer[got] = '\0';
  unsigned long long size = 0, resident = 0, shared = 0;  // NOLINT(runtime/int): sscanf
  if (sscanf(buffer, "%llu %llu %llu", &size, &resident, &shared) != 3 || shared > resident) {
    return 0;
  }
  return static_cast<size_t>(resident - shared) * static_cast<size_t>(getpagesize());
}

void ProcessManager::FailPoolTasks(const Process& process, const std::string& how,
                                   std::deque<InFlight> tasks,
                                   std::vector<proto::TaskResult>* completed) {
  for (const InFlight& task : tasks) {
    absl::StatusCode code = absl::StatusCode::kUnavailable;
    std::string message;
    switch (process.cause) {
      case DeathCause::kGone:
        message = absl::StrFormat("worker %d (pid %d) died while running '%s': %s%s", process.index,
                                  process.pid, task.function(), how, process.output->StderrTail());
        break;
      case DeathCause::kProtocolError:
        code = absl::StatusCode::kDataLoss;
        message = absl::StrFormat(
            "worker %d (pid %d) running '%s' sent bytes that do not decode (%s) and was "
            "killed; it %s",
            process.index, process.pid, task.function(), process.why.message(), how);
        break;
      case DeathCause::kDriverError:
        message = absl::StrFormat(
            "worker %d (pid %d) running '%s' was killed because the driver could not watch "
            "it (%s); it %s",
            process.index, process.pid, task.function(), process.why.message(), how);
        break;
      case DeathCause::kOverMemoryLimit:
        code = absl::StatusCode::kResourceExhausted;
        message = absl::StrFormat("worker %d (pid %d) running '%s': %s", process.index, process.pid,
                                  task.function(), process.why.message());
        break;
    }
    proto::TaskResult result = ErrorResult(task, code, message);
    result.mutable_error()->set_worker_index(process.index);
    result.mutable_error()->set_worker_pid(process.pid);
    // A broken worker, or one stopped for its memory, is not retried as a crash would be.
    result.mutable_error()->set_worker_died(process.cause == DeathCause::kGone ||
                                            process.cause == DeathCause::kDriverError);
    completed->push_back(std::move(result));
  }
}

void ProcessManager::HandleReplacement(int index,
                                       absl::StatusOr<process_internal::ForkServer::Worker> worker,
                                       std::vector<proto::TaskResult>* completed) {
  Slot& slot = *slots_[index];
  absl::Status status = worker.status();
  {
    absl::MutexLock lock(&mu_);
    --replacing_;
    if (stopping_) {
      // Shutdown ends it with the others through the fork server.
      if (worker.ok()) {
        for (int fd :
             {worker->socket_fd, worker->stdout_fd, worker->stderr_fd, worker->shared_file_fd}) {
          if (fd >= 0) close(fd);
        }
      }
      return;
    }
    if (status.ok()) {
      status = InstallWorkerLocked(slot, *worker);
      // It was killed: the fork server reaps it; HandleReaped finds no record and moves on.
      if (!status.ok()) async_fork_server_->Reap(worker->pid);
    }
    if (status.ok()) {
      ++workers_replaced_;
    } else {
      replacement_error_ = status;
    }
    FailBacklogIfNoWorkerLocked(completed);
    DrainBacklogLocked();
  }
  if (status.ok()) {
    LOG(WARNING) << "unidist: worker " << index << " replaced by pid " << worker->pid;
  } else {
    LOG(ERROR) << "unidist: worker " << index << " could not be replaced: " << status;
  }
}

void ProcessManager::FailBacklogIfNoWorkerLocked(std::vector<proto::TaskResult>* completed) {
  if (replacing_ > 0 || std::any_of(slots_.begin(), slots_.begin() + pool_size_,
                                    [](const auto& each) { return each->alive; })) {
    return;
  }
  const absl::Status none_alive = NoWorkerAliveLocked();
  for (const InFlight& task : backlog_) {
    completed->push_back(
        ErrorResult(task, absl::StatusCode::kUnavailable, std::string(none_alive.message())));
  }
  backlog_.clear();
}

absl::Status ProcessManager::DedicatedLossLocked(const Slot& slot, pid_t pid, bool protocol_error,
                                                 bool had_tasks, const std::string& how) const {
  if (slot.killing || stopping_) return absl::CancelledError("the worker was killed");
  if (slot.closing && !had_tasks && !protocol_error) {
    return absl::CancelledError("the worker was closed");
  }
  return absl::UnavailableError(
      absl::StrFormat("dedicated worker %d (pid %d) %s", slot.index, pid, how));
}

void ProcessManager::LoseDedicatedWorker(Slot& slot, pid_t pid, const std::string& how,
                                         bool protocol_error, std::deque<InFlight> in_flight,
                                         std::vector<proto::TaskResult>* completed) {
  absl::Status lost;
  {
    absl::MutexLock lock(&mu_);
    lost = DedicatedLossLocked(slot, pid, protocol_error, !in_flight.empty(), how);
    slot.lost = lost;
    free_dedicated_slots_.push_back(slot.index);
  }
  for (const InFlight& task : in_flight) {
    std::string message;
    if (lost.code() == absl::StatusCode::kCancelled) {
      message = absl::StrCat("task '", task.function(), "' was cancelled: ", lost.message());
    } else {
      message =
          absl::StrFormat("dedicated worker %d (pid %d) died %s '%s': %s", slot.index, pid,
                          task.started ? "while running" : "before running", task.function(), how);
    }
    proto::TaskResult result = ErrorResult(task, lost.code(), message);
    result.mutable_error()->set_worker_index(slot.index);
    result.mutable_error()->set_worker_pid(pid);
    result.mutable_error()->set_worker_died(lost.code() == absl::StatusCode::kUnavailable);
    completed->push_back(std::move(result));
  }
  if (options_.on_dedicated_worker_lost) {
    options_.on_dedicated_worker_lost(WorkerId{slot.index, slot.generation}, lost);
  }
}

absl::Status ProcessManager::CancelDyingLocked(uint64_t task_id, bool force,
                                               proto::TaskResult* cancelled) {
  for (auto& process : dying_) {
    for (InFlight& task : process->tasks) {
      if (task.task_id != task_id) continue;
      if (task.cancelled) return absl::OkStatus();
      // Its worker stopped talking to the driver, but may still be running it (a worker
      // that closed its socket and goes on), so the rules for a running task apply.
      if (!force) {
        return absl::FailedPreconditionError(
            "the task's worker is ending and may still run it; Cancel with force kills it");
      }
      if (process->dedicated) {
        return absl::InvalidArgumentError(
            "force would kill the actor running the call; use Actor::Kill for that");
      }
      task.cancelled = true;
      *cancelled = ErrorResult(task, absl::StatusCode::kCancelled,
                               "the task was cancelled while running; its worker was stopped");
      KillProcess(*process);
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError("the worker pool has no such task (it may have finished)");
}

proto::TaskResult ProcessManager::ErrorResult(const InFlight& task, absl::StatusCode code,
                                              const std::string& message) {
  proto::TaskResult result;
  result.set_task_id(task.task_id);
  result.mutable_error()->set_code(static_cast<int>(code));
  result.mutable_error()->set_message(message);
  result.mutable_error()->set_function(task.function());
  return result;
}

}  // namespace unidist
