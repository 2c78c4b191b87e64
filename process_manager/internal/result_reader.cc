// Copyright 2026 The unidist-cpp Authors.
//
// ProcessManager::WaitForResult: the thread that waits for a task reads the answer of the
// worker holding it itself.
//
// Why: through the event thread, a Submit + Get round trip wakes three threads (the
// worker, the event thread, the caller) where a pipe round trip wakes two, and on a
// virtual machine a wake-up is most of the cost (the profile in docs/performance.md).
//
// How: the reader adds its wake-up eventfd to the slot's readers, which takes EPOLLIN off
// the epoll set's interest in that socket (WatchSocketLocked), then sleeps in poll on the
// socket and its eventfd. Whatever the worker sends wakes the reader alone; it then takes
// events_mu_ (so that it handles events as the event thread would, never beside it),
// reads the socket and reports what came through the same code the event thread runs
// (HandleSocketReadable, ReportEvents). When the last reader leaves, EPOLLIN is watched
// again; data that arrived meanwhile is reported by epoll at once (level-triggered).
//
// Whatever ends a reader's wait is made under mu_ together with a write to its eventfd:
// the task's result read by another thread (ReadFromWorker), its cancellation (Cancel),
// its worker's failure (HandleWorkerFailure, which also closes the socket, so the wake
// comes first), Shutdown. A reader empties its eventfd before it looks (under mu_), so a
// change made after it looked leaves the eventfd readable for its next poll. The event
// thread still watches the socket for hang-ups (EPOLLHUP is always reported) and the
// worker's pidfd, so a death is seen whether or not a reader is there.

#include "process_manager/internal/result_reader.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "process_manager/internal/os_util.h"
#include "process_manager/process_manager.h"

namespace unidist {
namespace process_internal {
namespace {

struct WakeFd {
  ~WakeFd() {
    if (fd >= 0) close(fd);
  }
  int fd = -1;
  bool made = false;
};

thread_local WakeFd t_wake;
thread_local bool t_handling_events = false;

}  // namespace

int ThisThreadsWakeFd() {
  if (!t_wake.made) {
    t_wake.made = true;
    t_wake.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }
  return t_wake.fd;
}

int ThisThreadsWakeFdIfMade() { return t_wake.fd; }

HandlingEventsScope::HandlingEventsScope() : outer_(t_handling_events) { t_handling_events = true; }
HandlingEventsScope::~HandlingEventsScope() { t_handling_events = outer_; }
bool HandlingEventsScope::Active() { return t_handling_events; }

}  // namespace process_internal

ProcessManager::Slot* ProcessManager::SlotHoldingLocked(uint64_t task_id) {
  for (int index = 0; index < slots_in_use_; ++index) {
    Slot* slot = slots_[index].get();
    if (slot == nullptr || !slot->alive) continue;
    for (const InFlight& task : slot->in_flight) {
      if (task.task_id == task_id) return task.cancelled ? nullptr : slot;
    }
  }
  return nullptr;
}

void ProcessManager::WakeReadersLocked(const Slot& slot) const {
  const int self = process_internal::ThisThreadsWakeFdIfMade();
  for (int reader : slot.readers) {
    if (reader == self) continue;
    const uint64_t one = 1;
    while (write(reader, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }
}

void ProcessManager::WaitForResult(uint64_t task_id, absl::Time deadline) {
  // From a callback of a pool (this one or another): events are this thread's to handle,
  // not to wait for.
  if (process_internal::HandlingEventsScope::Active()) return;
  // Nothing to wait for (a Get that only looks): registering would cost two epoll_ctl calls.
  if (deadline != absl::InfiniteFuture() && deadline <= absl::Now()) return;
  const int wake_fd = process_internal::ThisThreadsWakeFd();
  if (wake_fd < 0) return;
  Slot* slot;
  uint32_t generation;
  int socket_fd;
  std::shared_ptr<process_internal::ResultRing> ring;  // kept mapped while this thread uses it
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    slot = SlotHoldingLocked(task_id);
    if (slot == nullptr) return;  // queued in the driver, reported, or never dispatched
    slot->readers.push_back(wake_fd);
    if (slot->readers.size() == 1 && !WatchSocketLocked(*slot, slot->want_write)) {
      slot->readers.pop_back();  // the event thread ends the worker as broken
      return;
    }
    ++readers_;
    generation = slot->generation;
    socket_fd = slot->fd;
    ring = slot->ring;
  }
  // Whether this thread still has something to read for: the task is on the same worker,
  // not answered or cancelled, and the pool is not shutting down.
  auto still_waiting = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !stopping_ && slot->alive && slot->generation == generation &&
           SlotHoldingLocked(task_id) == slot;
  };
  std::vector<proto::TaskResult> completed;
  std::vector<ApiCall> api_requests;
  for (;;) {
    pollfd watched[2] = {{socket_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    // With a result ring the worker writes to its socket only for a driver thread that
    // said it sleeps: say so, look at the ring, and sleep only if it is empty.
    bool ring_has_data = false;
    if (ring != nullptr) {
      ring->BeginSleep();
      ring_has_data = ring->HasData();
    }
    const int ready =
        ring_has_data ? 0 : poll(watched, 2, process_internal::PollTimeoutMs(deadline));
    if (ring != nullptr) ring->EndSleep();
    if (ready == 0 && !ring_has_data) break;  // the deadline passed
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0 && (watched[1].revents & POLLIN) != 0) {
      uint64_t count;
      while (read(wake_fd, &count, sizeof(count)) < 0 && errno == EINTR) {
      }
    }
    absl::MutexLock handling(&events_mu_);
    process_internal::HandlingEventsScope scope;
    {
      absl::MutexLock lock(&mu_);
      if (!still_waiting()) break;
    }
    const bool socket_ready = ready > 0 && watched[0].revents != 0;
    if (socket_ready || ring_has_data) {
      HandleSocketReadable(*slot, &completed, &api_requests, socket_ready);
      ReportEvents(&completed, &api_requests);
    }
    absl::MutexLock lock(&mu_);
    if (!still_waiting()) break;
  }
  absl::MutexLock lock(&mu_);
  // A failure of the worker emptied its readers; a live slot watches input again once
  // its last reader is gone.
  auto mine = std::find(slot->readers.begin(), slot->readers.end(), wake_fd);
  if (mine != slot->readers.end()) {
    slot->readers.erase(mine);
    if (slot->readers.empty() && slot->alive && slot->generation == generation) {
      WatchSocketLocked(*slot, slot->want_write);
    }
  }
  --readers_;
}

}  // namespace unidist
