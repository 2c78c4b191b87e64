// Copyright 2026 The unidist-cpp Authors.
//
// Link: the one thread of a process that talks to the other ranks. It opens the transport
// (for MPI: MPI_Init_thread, so this thread is the one MPI knows), sends what other threads
// Post, and hands every message that arrives to the handler, on the link thread.
//
// MPI has no file descriptor to wait on, so the thread polls. After a round with nothing
// to do it waits (or until something is posted, which wakes it at once): kMinIdleWait
// during the kHotWindow after the last message, when an answer is likely soon (a task's
// result, the next task); after that, 1/kIdleWaitDivisor of the time it has been idle, up
// to a limit: kMaxIdleWait while a session is open, kMaxIdleWaitWithoutSession between
// sessions (SetMaxIdleWait). So a message that arrives after an idle spell waits at most
// 1% of that spell longer than it would have (and at most 10 ms in a session), and an
// idle process wakes 100 times a second in a session, 10 between sessions, instead of the
// 1,000 a fixed 1 ms poll cost (2% of a core on the CI machine; benchmarks/mpi_scaling.sh
// measures it). While sends are in progress it polls at the shortest wait: MPI moves a
// large message only while it is called. (A blocking MPI call would not help: OpenMPI
// spins in it.)
//
// The handler runs on the link thread and must not block on other ranks (it would stop
// the link); it may Post. Thread-safe.

#ifndef UNIDIST_MPI_INTERNAL_LINK_H_
#define UNIDIST_MPI_INTERNAL_LINK_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mpi/internal/transport.h"

namespace unidist::mpi_internal {

class Link {
 public:
  using Opener = std::function<absl::StatusOr<std::unique_ptr<Transport>>()>;
  // Runs on the link thread with the link itself, for handlers that answer.
  using Handler = std::function<void(Link& link, Received message)>;

  static constexpr absl::Duration kMinIdleWait = absl::Microseconds(20);
  static constexpr absl::Duration kHotWindow = absl::Milliseconds(5);
  static constexpr int kIdleWaitDivisor = 100;
  static constexpr absl::Duration kMaxIdleWait = absl::Milliseconds(10);
  static constexpr absl::Duration kMaxIdleWaitWithoutSession = absl::Milliseconds(100);

  // Starts the link thread, which opens the transport with `open`; returns once it has.
  // The opener's error if it failed (then no thread is left running).
  static absl::StatusOr<std::unique_ptr<Link>> Start(Opener open, Handler handler);

  // Stops (see Stop).
  ~Link();

  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // The transport's name for this rank's host (Transport::host).
  const std::string& host() const { return host_; }

  // Queues `bytes` for rank `dest`. Messages posted by one thread to one rank arrive in
  // order. Never blocks. A send that fails is logged (the peer is gone; for MPI the job
  // is ending).
  void Post(int dest, std::string bytes);
  // Queues `bytes` then `payload` for rank `dest`, with nothing from this process in
  // between; `payload` is sent from the buffer given, not copied.
  void Post(int dest, std::string bytes, std::shared_ptr<const ObjectBytes> payload);

  // Runs `fn` on the link thread, after every message posted before it has been handed to
  // the transport, and returns once it has run. On the link thread, runs `fn` at once.
  void Sync(std::function<void()> fn);

  // Sends what was posted, waits until it has left, closes the transport (for MPI:
  // MPI_Finalize) and ends the thread. Idempotent. Not from the link thread.
  void Stop();

  // True on the link thread (for callers that must not block it).
  bool OnLinkThread() const;

  // On the link thread: the longest the thread sleeps between polls once idle (see the
  // top comment); kMaxIdleWait until set.
  void SetMaxIdleWait(absl::Duration limit) { max_idle_wait_ = limit; }

  // On the link thread (in the handler): the next message from `source` goes into
  // `buffer` if it has exactly `size` bytes (Transport::ReceiveNextInto).
  void ReceiveNextInto(int source, char* buffer, size_t size);

 private:
  struct Item {
    int dest = -1;
    std::string bytes;
    std::shared_ptr<const ObjectBytes> payload;  // sent after `bytes`, if set
    std::function<void()> fn;                    // set for Sync
  };

  explicit Link(Handler handler) : handler_(std::move(handler)) {}
  void Run(Opener open);

  const Handler handler_;
  Transport* transport_ = nullptr;               // while Run has it open; the link thread only
  absl::Duration max_idle_wait_ = kMaxIdleWait;  // the link thread only
  int rank_ = -1;
  int size_ = 0;
  std::string host_;
  std::thread thread_;

  absl::Mutex mu_;
  std::deque<Item> outbox_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool opened_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status open_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace unidist::mpi_internal

#endif  // UNIDIST_MPI_INTERNAL_LINK_H_
