// Copyright 2026 The unidist-cpp Authors.
//
// ResultRing: a pool worker's messages to the driver, through memory the two share.
//
// Why: on the socket every result costs the worker a send and the driver a recv, and the
// send also wakes a driver thread; the profile of a throughput run put about 30% of all
// CPU in those calls (docs/performance.md). Through a ring a worker copies its frames into
// shared memory and makes a system call only to wake a driver thread that sleeps.
//
// What is shared: one file per worker process (memfd_create, made by the fork server for
// that process alone and passed to the driver beside the socket), mapped by both. A
// worker the driver has given up on keeps writing, if it writes at all, into its own
// file, never into its replacement's.
//
// The protocol (single producer, single consumer; `head` and `tail` count bytes ever
// read and written, so the ring is empty when they are equal and full when they differ by
// its capacity):
// * The worker (Write) copies the bytes of whole frames — the same frames, magic and
//   checksums as on the socket — to the ring, publishes `tail`, and then looks at
//   `sleepers`: a driver thread that will look only when the socket is readable. If one
//   sleeps, it writes a one-byte wake-up token (kWakeToken) to the socket, unless one it
//   wrote is not read yet (`tokens_sent` against the driver's `tokens_read`). Any other
//   byte on the socket of a worker with a ring is a protocol error, and so is a token more
//   than the worker counted.
// * A driver thread about to sleep on the socket announces it (BeginSleep), then looks
//   (HasData) and sleeps only if the ring is empty; it takes back the announcement when it
//   wakes (EndSleep). The worker's publish-then-look and the driver's announce-then-look
//   are sequentially consistent, so either the worker sees the sleeper or the sleeper sees
//   the data: no message is left unseen by a sleeping driver.
// * The driver counts the tokens it reads off the socket (CountTokensRead) before it
//   takes what was written (ReadInto) and publishes `head`. A worker that
//   finds the ring full waits on a futex for room after announcing it (`writer_waiting`);
//   the driver wakes it when it has read.
// * Close: the driver has given the worker up (its socket is closed, its tasks handed on);
//   a write after that fails, and a worker waiting for room is woken to fail.
// A result in the ring is the driver's once `tail` is published: a worker that crashes
// afterwards loses nothing it wrote, and the driver reads the ring to its end before it
// fails a dead worker's tasks. A frame cut short by a crash is never completed, as on the
// socket; a task that scribbles on the ring is caught by the frames' magic and checksums.
//
// Thread-compatible on each side: one writer (the worker's send lock), one reader (the
// driver's events_mu_); BeginSleep/EndSleep/HasData may be called by any driver thread.

#ifndef UNIDIST_PROCESS_MANAGER_INTERNAL_RESULT_RING_H_
#define UNIDIST_PROCESS_MANAGER_INTERNAL_RESULT_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/framing.h"

namespace unidist::process_internal {

class ResultRing {
 public:
  // The one byte a worker with a ring may write to its socket.
  static constexpr char kWakeToken = '\x5a';
  // The smallest ring, and the largest: a capacity is a power of two between them.
  static constexpr size_t kMinCapacity = size_t{4} << 10;
  static constexpr size_t kMaxCapacity = size_t{1} << 30;

  // The size of the shared file for a ring of `capacity` bytes (a power of two in
  // [kMinCapacity, kMaxCapacity]): the capacity and a page of counters.
  static size_t FileBytes(size_t capacity);
  // Maps the ring in shared file `fd` (FileBytes long; the caller keeps `fd`).
  // InvalidArgument if the file's size is not one FileBytes gives; Internal if mmap fails.
  static absl::StatusOr<std::unique_ptr<ResultRing>> Map(int fd);
  // Unmaps.
  ~ResultRing();

  ResultRing(const ResultRing&) = delete;
  ResultRing& operator=(const ResultRing&) = delete;

  size_t capacity() const { return capacity_; }

  // --- The worker's side.
  // Appends `bytes` (whole frames; a frame larger than the ring goes through in parts, as
  // the driver reads them), waiting for room while the ring is full, and wakes a sleeping
  // driver thread through `socket_fd`. Unavailable if the driver has closed the ring or
  // the token could not be written.
  absl::Status Write(int socket_fd, absl::string_view bytes);

  // --- The driver's side.
  // A driver thread will sleep until the worker's socket is readable. Call HasData after
  // it: sleep only if it says false.
  void BeginSleep();
  void EndSleep();
  // Whether written bytes wait to be read.
  bool HasData() const;
  // Whether the worker wrote a wake-up token (or is about to) that was not read yet: only
  // then, or when the socket was reported readable, is the socket worth a recv.
  bool TokenOutstanding() const;
  // Counts `tokens` taken off the socket; call before ReadInto. DataLoss if that is more
  // than the worker wrote (a task wrote them).
  absl::Status CountTokensRead(size_t tokens);
  // Appends everything written so far to `decoder`, frees the room, and wakes the worker
  // if it waits for room. DataLoss if the counters are impossible (a task wrote on them).
  absl::Status ReadInto(FrameDecoder* decoder);
  // The driver has given the worker up: its writes fail from now on. Idempotent.
  void Close();

 private:
  struct Header;

  ResultRing(Header* header, char* data, size_t capacity, size_t mapped_bytes)
      : header_(header), data_(data), capacity_(capacity), mapped_bytes_(mapped_bytes) {}

  // Writes the wake-up token if a driver thread sleeps and none is on its way.
  absl::Status WakeSleeper(int socket_fd);
  // Waits until the ring has room past `tail`, or it is closed.
  void WaitForRoom(uint64_t tail);

  Header* const header_;
  char* const data_;
  const size_t capacity_;
  const size_t mapped_bytes_;
};

}  // namespace unidist::process_internal

#endif  // UNIDIST_PROCESS_MANAGER_INTERNAL_RESULT_RING_H_
