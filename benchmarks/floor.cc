// Copyright 2026 The unidist-cpp Authors.

#include "benchmarks/floor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <new>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace unidist::bench {
namespace {

constexpr size_t kChunkBytes = size_t{1} << 20;
constexpr size_t kMessageBytes = 64;

absl::Status ErrnoError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

// Both return false on EOF or an error other than EINTR.
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(int fd, char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Forks a child that closes `close_in_child`, runs `body` and exits. Returns its pid.
absl::StatusOr<pid_t> ForkChild(const std::vector<int>& close_in_child,
                                const std::function<void()>& body) {
  const pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid == 0) {
    for (int fd : close_in_child) close(fd);
    body();
    _exit(0);
  }
  return pid;
}

void Reap(pid_t pid) {
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

// Restores the calling thread's CPU affinity when it goes out of scope.
class AffinityGuard {
 public:
  AffinityGuard() {
    CPU_ZERO(&saved_);
    sched_getaffinity(0, sizeof(saved_), &saved_);
  }
  ~AffinityGuard() { sched_setaffinity(0, sizeof(saved_), &saved_); }
  AffinityGuard(const AffinityGuard&) = delete;
  AffinityGuard& operator=(const AffinityGuard&) = delete;

 private:
  cpu_set_t saved_;
};

size_t PipeMaxSize() {
  std::ifstream in("/proc/sys/fs/pipe-max-size");
  size_t size = 0;
  if (!(in >> size) || size == 0) size = kChunkBytes;
  return size;
}

// Runs `round_trip` (false: failed) `round_trips` times per repetition after a warm-up.
Samples TimeRoundTrips(int round_trips, int reps, const std::function<bool()>& round_trip,
                       bool* ok) {
  Samples samples;
  for (int i = 0; *ok && i < std::max(100, round_trips / 10); ++i) *ok = round_trip();
  for (int rep = 0; *ok && rep < reps; ++rep) {
    Stopwatch watch;
    for (int i = 0; *ok && i < round_trips; ++i) *ok = round_trip();
    samples.push_back(watch.Seconds() * 1e6 / round_trips);
  }
  return samples;
}

}  // namespace

absl::StatusOr<Samples> PipeRoundTripUs(Placement placement, int round_trips, int reps) {
  const std::vector<int> cpus = AllowedCpus();
  int parent_cpu = -1;
  int child_cpu = -1;
  if (placement != Placement::kUnpinned) {
    if (cpus.empty()) return absl::InternalError("sched_getaffinity failed");
    if (placement == Placement::kOtherCpus && cpus.size() < 2) {
      return absl::FailedPreconditionError("only one CPU is available");
    }
    parent_cpu = cpus[0];
    child_cpu = placement == Placement::kSameCpu ? cpus[0] : cpus[1];
  }
  int to_child[2];
  int from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return ErrnoError("pipe2");
  }
  AffinityGuard restore_affinity;
  absl::StatusOr<pid_t> child = ForkChild({to_child[1], from_child[0]}, [&] {
    if (child_cpu >= 0) PinTo(child_cpu);
    char message[kMessageBytes];
    while (ReadAll(to_child[0], message, sizeof(message)) &&
           WriteAll(from_child[1], message, sizeof(message))) {
    }
  });
  close(to_child[0]);
  close(from_child[1]);
  if (!child.ok()) {
    close(to_child[1]);
    close(from_child[0]);
    return child.status();
  }
  if (parent_cpu >= 0) PinTo(parent_cpu);

  char message[kMessageBytes] = {1};
  bool ok = true;
  Samples samples = TimeRoundTrips(
      round_trips, reps,
      [&] {
        return WriteAll(to_child[1], message, sizeof(message)) &&
               ReadAll(from_child[0], message, sizeof(message));
      },
      &ok);
  close(to_child[1]);
  close(from_child[0]);
  Reap(*child);
  if (!ok) return absl::InternalError("the pipe round trip failed");
  return samples;
}

namespace {

// One side's half of the futex round trip: the message, and the sequence number of the
// last one written (the futex word), on a cache line of its own.
struct alignas(64) FutexMailbox {
  std::atomic<uint32_t> sequence{0};
  char message[kMessageBytes];
};
struct FutexMailboxes {
  FutexMailbox to_child;
  FutexMailbox to_parent;
  std::atomic<bool> stop{false};
};
static_assert(std::atomic<uint32_t>::is_always_lock_free, "shared between processes");

// The shared form (no FUTEX_PRIVATE_FLAG): the word is in memory two processes map.
void FutexWake(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

// Waits until `box` holds a message after `seen`; false if `stop` is set first, or if
// `peer` (0: not looked at) has exited, which is looked at every second of waiting.
bool FutexReceive(FutexMailbox& box, uint32_t seen, const std::atomic<bool>& stop, pid_t peer) {
  const timespec second{1, 0};
  while (box.sequence.load(std::memory_order_acquire) == seen) {
    if (stop.load(std::memory_order_acquire)) return false;
    if (syscall(SYS_futex, reinterpret_cast<uint32_t*>(&box.sequence), FUTEX_WAIT, seen, &second,
                nullptr, 0) != 0 &&
        errno == ETIMEDOUT && peer != 0 && waitpid(peer, nullptr, WNOHANG) != 0) {
      return false;
    }
  }
  return true;
}

void FutexSend(FutexMailbox& box, const char* message, uint32_t sequence) {
  std::memcpy(box.message, message, kMessageBytes);
  box.sequence.store(sequence, std::memory_order_release);
  FutexWake(&box.sequence);
}

absl::StatusOr<Samples> SocketPollRoundTripUs(int round_trips, int reps) {
  int fds[2];  // fds[0] ours, fds[1] the child's
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return ErrnoError("socketpair");
  // Waits in poll, then reads the whole message, as the driver's and workers' loops do.
  auto receive = [](int fd, char* message) {
    pollfd readable{fd, POLLIN, 0};
    while (poll(&readable, 1, -1) < 0) {
      if (errno != EINTR) return false;
    }
    return ReadAll(fd, message, kMessageBytes);
  };
  absl::StatusOr<pid_t> child = ForkChild({fds[0]}, [&] {
    char message[kMessageBytes];
    while (receive(fds[1], message) && WriteAll(fds[1], message, sizeof(message))) {
    }
  });
  close(fds[1]);
  if (!child.ok()) {
    close(fds[0]);
    return child.status();
  }
  char message[kMessageBytes] = {1};
  bool ok = true;
  Samples samples = TimeRoundTrips(
      round_trips, reps,
      [&] { return WriteAll(fds[0], message, sizeof(message)) && receive(fds[0], message); }, &ok);
  close(fds[0]);
  Reap(*child);
  if (!ok) return absl::InternalError("the socket round trip failed");
  return samples;
}

absl::StatusOr<Samples> FutexRoundTripUs(int round_trips, int reps) {
  void* page = mmap(nullptr, sizeof(FutexMailboxes), PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return ErrnoError("mmap");
  auto* boxes = new (page) FutexMailboxes;
  absl::StatusOr<pid_t> child = ForkChild({}, [boxes] {
    // A child that outlived this process would sleep forever on its futex.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char message[kMessageBytes];
    for (uint32_t seen = 0; FutexReceive(boxes->to_child, seen, boxes->stop, /*peer=*/0); ++seen) {
      std::memcpy(message, boxes->to_child.message, kMessageBytes);
      FutexSend(boxes->to_parent, message, seen + 1);
    }
  });
  if (!child.ok()) {
    munmap(page, sizeof(FutexMailboxes));
    return child.status();
  }
  char message[kMessageBytes] = {1};
  uint32_t sequence = 0;
  bool ok = true;
  Samples samples = TimeRoundTrips(
      round_trips, reps,
      [&] {
        FutexSend(boxes->to_child, message, ++sequence);
        if (!FutexReceive(boxes->to_parent, sequence - 1, boxes->stop, *child)) return false;
        std::memcpy(message, boxes->to_parent.message, kMessageBytes);
        return true;
      },
      &ok);
  // Stop, and change the futex word too: a child between its look at `stop` and its
  // FUTEX_WAIT would otherwise sleep through the wake-up.
  boxes->stop.store(true, std::memory_order_release);
  boxes->to_child.sequence.fetch_add(1, std::memory_order_acq_rel);
  FutexWake(&boxes->to_child.sequence);
  Reap(*child);
  munmap(page, sizeof(FutexMailboxes));
  if (!ok) return absl::InternalError("the futex round trip failed: the child is gone");
  return samples;
}

}  // namespace

absl::StatusOr<Samples> RoundTripUs(Transport transport, int round_trips, int reps) {
  switch (transport) {
    case Transport::kUnixSocketPoll:
      return SocketPollRoundTripUs(round_trips, reps);
    case Transport::kFutex:
      return FutexRoundTripUs(round_trips, reps);
  }
  return absl::InvalidArgumentError("unknown transport");
}

absl::StatusOr<Samples> StreamGBps(Stream stream, size_t bytes, int reps) {
  int fds[2];  // fds[0] read by us, fds[1] written by the child
  if (stream == Stream::kUnixSocket) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      return ErrnoError("socketpair");
    }
  } else {
    if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2");
    if (stream == Stream::kLargePipe &&
        fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(PipeMaxSize())) < 0) {
      close(fds[0]);
      close(fds[1]);
      return ErrnoError("F_SETPIPE_SZ");
    }
  }
  const size_t total = bytes * static_cast<size_t>(reps + 1);  // one warm-up pass
  absl::StatusOr<pid_t> child = ForkChild({fds[0]}, [&] {
    std::vector<char> chunk(kChunkBytes, 'x');
    for (size_t sent = 0; sent < total;) {
      const size_t n = std::min(kChunkBytes, total - sent);
      if (!WriteAll(fds[1], chunk.data(), n)) break;
      sent += n;
    }
  });
  close(fds[1]);
  if (!child.ok()) {
    close(fds[0]);
    return child.status();
  }
  std::vector<char> buffer(kChunkBytes, 0);
  Samples samples;
  bool ok = true;
  for (int pass = 0; ok && pass <= reps; ++pass) {
    Stopwatch watch;
    for (size_t received = 0; received < bytes;) {
      const ssize_t n = read(fds[0], buffer.data(), std::min(kChunkBytes, bytes - received));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = false;
        break;
      }
      received += static_cast<size_t>(n);
    }
    if (pass > 0) samples.push_back(static_cast<double>(bytes) / watch.Seconds() / 1e9);
  }
  close(fds[0]);
  Reap(*child);
  if (!ok) return absl::InternalError("the stream ended early");
  return samples;
}

Samples MemcpyGBps(size_t bytes, int reps) {
  std::vector<char> from(bytes, 'x');
  std::vector<char> to(bytes, 0);  // both written once, so every page is faulted in
  Samples samples;
  for (int pass = 0; pass <= reps; ++pass) {
    Stopwatch watch;
    std::memcpy(to.data(), from.data(), bytes);
    // Keeps the compiler from dropping the copy into a buffer nobody reads.
    asm volatile("" : : "r"(to.data()) : "memory");
    if (pass > 0) samples.push_back(static_cast<double>(bytes) / watch.Seconds() / 1e9);
  }
  return samples;
}

Samples FreshMemoryGBps(size_t bytes, int reps) {
  Samples samples;
  for (int rep = 0; rep < reps; ++rep) {
    Stopwatch watch;
    void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) break;
    std::memset(memory, 1, bytes);
    asm volatile("" : : "r"(memory) : "memory");
    munmap(memory, bytes);
    samples.push_back(static_cast<double>(bytes) / watch.Seconds() / 1e9);
  }
  return samples;
}

Samples FreshCopyGBps(size_t bytes, int reps) {
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  std::vector<char> from(bytes, 'x');
  Samples samples;
  for (int rep = 0; rep < reps; ++rep) {
    Stopwatch watch;
    void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) break;
    // As the codec asks for a large decoded vector (AdviseHugePages): whole 2 MiB pages.
    const uintptr_t start = reinterpret_cast<uintptr_t>(memory);
    const uintptr_t first = (start + kHugePage - 1) & ~(kHugePage - 1);
    const uintptr_t end = (start + bytes) & ~(kHugePage - 1);
    if (end > first) madvise(reinterpret_cast<void*>(first), end - first, MADV_HUGEPAGE);
    std::memcpy(memory, from.data(), bytes);
    asm volatile("" : : "r"(memory) : "memory");
    munmap(memory, bytes);
    samples.push_back(static_cast<double>(bytes) / watch.Seconds() / 1e9);
  }
  return samples;
}

absl::StatusOr<double> ForkedTasksSeconds(int processes, int tasks,
                                          const std::function<void()>& task) {
  Stopwatch watch;
  std::vector<pid_t> children;
  absl::Status status;
  for (int p = 0; p < processes; ++p) {
    const int share = tasks / processes + (p < tasks % processes ? 1 : 0);
    absl::StatusOr<pid_t> child = ForkChild({}, [&] {
      for (int i = 0; i < share; ++i) task();
    });
    if (!child.ok()) {
      status = child.status();
      break;
    }
    children.push_back(*child);
  }
  for (pid_t child : children) Reap(child);
  if (!status.ok()) return status;
  return watch.Seconds();
}

}  // namespace unidist::bench
