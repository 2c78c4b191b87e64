// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/result_ring.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "process_manager/internal/os_util.h"

namespace unidist::process_internal {
namespace {

constexpr size_t kHeaderBytes = 4096;

bool IsPowerOfTwo(size_t n) { return n != 0 && (n & (n - 1)) == 0; }

// The shared (not private) futex operations: the waiter and the waker are two processes.
void FutexWait(std::atomic<uint32_t>* word, uint32_t seen) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, seen, nullptr, nullptr, 0);
}
void FutexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace

// The counters, at fixed offsets in the file's first page; each side's words on cache
// lines of their own, so that the worker's writes do not evict the driver's and back.
struct ResultRing::Header {
  // Written by the worker.
  alignas(64) std::atomic<uint64_t> tail;  // bytes ever written
  std::atomic<uint64_t> tokens_sent;       // counted before each is written
  std::atomic<uint32_t> writer_waiting;    // 1: it waits (or is about to) for room
  // Written by the driver.
  alignas(64) std::atomic<uint64_t> head;      // bytes ever read
  std::atomic<uint64_t> tokens_read;           // taken off the socket
  std::atomic<uint32_t> room;                  // bumped when room was made for a waiter
  std::atomic<uint32_t> closed;                // 1: the driver gave the worker up
  alignas(64) std::atomic<uint32_t> sleepers;  // driver threads asleep on the socket
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared between processes");
static_assert(std::atomic<uint32_t>::is_always_lock_free, "shared between processes");

size_t ResultRing::FileBytes(size_t capacity) {
  static_assert(sizeof(Header) <= kHeaderBytes);
  return kHeaderBytes + capacity;
}

absl::StatusOr<std::unique_ptr<ResultRing>> ResultRing::Map(int fd) {
  struct stat file;
  if (fstat(fd, &file) != 0) return ErrnoStatus("fstat of a result ring");
  const size_t size = static_cast<size_t>(file.st_size);
  const size_t capacity = size > kHeaderBytes ? size - kHeaderBytes : 0;
  if (!IsPowerOfTwo(capacity) || capacity < kMinCapacity || capacity > kMaxCapacity) {
    return absl::InvalidArgumentError(
        absl::StrCat("a result ring's file has ", size, " bytes: not a ring's size"));
  }
  void* mapped = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mapped == MAP_FAILED) return ErrnoStatus("mmap of a result ring");
  char* bytes = static_cast<char*>(mapped);
  // A fresh file reads as zeros: every counter starts at 0.
  return std::unique_ptr<ResultRing>(
      new ResultRing(reinterpret_cast<Header*>(bytes), bytes + kHeaderBytes, capacity, size));
}

ResultRing::~ResultRing() { munmap(header_, mapped_bytes_); }

absl::Status ResultRing::Write(int socket_fd, absl::string_view bytes) {
  Header& header = *header_;
  uint64_t tail = header.tail.load(std::memory_order_relaxed);
  while (!bytes.empty()) {
    if (header.closed.load(std::memory_order_acquire) != 0) break;
    const uint64_t room = capacity_ - (tail - header.head.load(std::memory_order_acquire));
    if (room == 0) {
      // What is written so far must reach a sleeping driver, or it never makes room.
      if (absl::Status woken = WakeSleeper(socket_fd); !woken.ok()) return woken;
      WaitForRoom(tail);
      continue;
    }
    const size_t offset = static_cast<size_t>(tail & (capacity_ - 1));
    const size_t n = std::min({bytes.size(), static_cast<size_t>(room), capacity_ - offset});
    memcpy(data_ + offset, bytes.data(), n);
    bytes.remove_prefix(n);
    tail += n;
    // Sequentially consistent: ordered before the look at `sleepers` in WakeSleeper
    // (against the driver's BeginSleep-then-HasData).
    header.tail.store(tail, std::memory_order_seq_cst);
  }
  if (header.closed.load(std::memory_order_acquire) != 0) {
    return absl::UnavailableError("the driver has given this worker up");
  }
  return WakeSleeper(socket_fd);
}

absl::Status ResultRing::WakeSleeper(int socket_fd) {
  Header& header = *header_;
  if (header.sleepers.load(std::memory_order_seq_cst) == 0) return absl::OkStatus();
  // A token the driver has not taken yet wakes it as well as a second would. Sequentially
  // consistent: the driver counts the tokens it took, then reads the ring; so either this
  // sees the count (and writes a token) or the driver sees what was written before it.
  const uint64_t sent = header.tokens_sent.load(std::memory_order_relaxed);
  if (header.tokens_read.load(std::memory_order_seq_cst) != sent) return absl::OkStatus();
  header.tokens_sent.store(sent + 1, std::memory_order_seq_cst);  // before the driver can read it
  const char token = kWakeToken;
  for (;;) {
    const ssize_t written = send(socket_fd, &token, 1, MSG_NOSIGNAL);
    if (written == 1) return absl::OkStatus();
    if (written < 0 && errno == EINTR) continue;
    return ErrnoStatus("send of a wake-up token");
  }
}

void ResultRing::WaitForRoom(uint64_t tail) {
  Header& header = *header_;
  const uint32_t room = header.room.load(std::memory_order_acquire);
  // Announce, then look: the driver publishes `head`, then looks at writer_waiting.
  header.writer_waiting.store(1, std::memory_order_seq_cst);
  if (tail - header.head.load(std::memory_order_seq_cst) < capacity_ ||
      header.closed.load(std::memory_order_seq_cst) != 0) {
    return;
  }
  // Returns at once if `room` moved since it was read: a wake-up is never lost.
  FutexWait(&header.room, room);
}

void ResultRing::BeginSleep() { header_->sleepers.fetch_add(1, std::memory_order_seq_cst); }

void ResultRing::EndSleep() { header_->sleepers.fetch_sub(1, std::memory_order_seq_cst); }

bool ResultRing::HasData() const {
  return header_->tail.load(std::memory_order_seq_cst) !=
         header_->head.load(std::memory_order_relaxed);
}

bool ResultRing::TokenOutstanding() const {
  return header_->tokens_sent.load(std::memory_order_acquire) !=
         header_->tokens_read.load(std::memory_order_relaxed);
}

absl::Status ResultRing::CountTokensRead(size_t tokens) {
  if (tokens == 0) return absl::OkStatus();
  Header& header = *header_;
  const uint64_t read = header.tokens_read.load(std::memory_order_relaxed) + tokens;
  // The worker counts each token before it writes it: more were read than it wrote when
  // something else (a task) wrote them.
  const uint64_t sent = header.tokens_sent.load(std::memory_order_acquire);
  if (read - sent <= (uint64_t{1} << 63) && read != sent) {
    return absl::DataLossError(absl::StrCat("the worker's socket held ", read - sent,
                                            " more wake-up tokens than it wrote"));
  }
  // Before the ring is read (see WakeSleeper).
  header.tokens_read.store(read, std::memory_order_seq_cst);
  return absl::OkStatus();
}

absl::Status ResultRing::ReadInto(FrameDecoder* decoder) {
  Header& header = *header_;
  uint64_t head = header.head.load(std::memory_order_relaxed);
  const uint64_t tail = header.tail.load(std::memory_order_acquire);
  // The worker cannot have written more than the ring holds: a task scribbled on the
  // counters.
  if (tail - head > capacity_) {
    return absl::DataLossError(absl::StrCat("the worker's result ring claims ", tail - head,
                                            " unread bytes in a ring of ", capacity_));
  }
  while (head != tail) {
    const size_t offset = static_cast<size_t>(head & (capacity_ - 1));
    const size_t n = std::min(static_cast<size_t>(tail - head), capacity_ - offset);
    memcpy(decoder->PrepareAppend(n), data_ + offset, n);
    decoder->Commit(n);
    head += n;
  }
  // Publish, then look whether the worker waits (against its announce-then-look).
  header.head.store(head, std::memory_order_seq_cst);
  if (header.writer_waiting.load(std::memory_order_seq_cst) != 0) {
    header.writer_waiting.store(0, std::memory_order_relaxed);
    header.room.fetch_add(1, std::memory_order_seq_cst);
    FutexWakeAll(&header.room);
  }
  return absl::OkStatus();
}

void ResultRing::Close() {
  Header& header = *header_;
  if (header.closed.exchange(1, std::memory_order_seq_cst) != 0) return;
  header.room.fetch_add(1, std::memory_order_seq_cst);
  FutexWakeAll(&header.room);
}

}  // namespace unidist::process_internal
