// Copyright 2026 The unidist-cpp Authors.

#include "mpi/internal/link.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "glog/logging.h"

namespace unidist::mpi_internal {

absl::StatusOr<std::unique_ptr<Link>> Link::Start(Opener open, Handler handler) {
  std::unique_ptr<Link> link(new Link(std::move(handler)));
  link->thread_ = std::thread([raw = link.get(), open = std::move(open)] { raw->Run(open); });
  absl::Status opened;
  {
    absl::MutexLock lock(&link->mu_);
    link->mu_.Await(absl::Condition(&link->opened_));
    opened = link->open_status_;
  }
  if (!opened.ok()) {
    link->thread_.join();
    {
      absl::MutexLock lock(&link->mu_);
      link->stopped_ = true;
    }
    return opened;
  }
  return link;
}

Link::~Link() { Stop(); }

void Link::Post(int dest, std::string bytes) {
  absl::MutexLock lock(&mu_);
  outbox_.push_back(Item{dest, std::move(bytes), nullptr, nullptr});
}

void Link::Post(int dest, std::string bytes, std::shared_ptr<const ObjectBytes> payload) {
  absl::MutexLock lock(&mu_);
  outbox_.push_back(Item{dest, std::move(bytes), std::move(payload), nullptr});
}

void Link::Sync(std::function<void()> fn) {
  if (OnLinkThread()) {  // nothing else runs on the link thread meanwhile
    fn();
    return;
  }
  bool done = false;
  {
    absl::MutexLock lock(&mu_);
    if (stopped_ || stop_) {
      fn();  // no thread to run it on, and no handler running either
      return;
    }
    outbox_.push_back(Item{-1, std::string(), nullptr, [&fn, &done, this] {
                             fn();
                             absl::MutexLock lock(&mu_);
                             done = true;
                           }});
    mu_.Await(absl::Condition(&done));
  }
}

void Link::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

void Link::ReceiveNextInto(int source, char* buffer, size_t size) {
  if (OnLinkThread() && transport_ != nullptr) transport_->ReceiveNextInto(source, buffer, size);
}

bool Link::OnLinkThread() const { return std::this_thread::get_id() == thread_.get_id(); }

void Link::Run(Opener open) {
  absl::StatusOr<std::unique_ptr<Transport>> opened = open();
  {
    absl::MutexLock lock(&mu_);
    opened_ = true;
    open_status_ = opened.status();
    if (opened.ok()) {
      rank_ = (*opened)->rank();
      size_ = (*opened)->size();
      host_ = (*opened)->host();
    }
  }
  if (!opened.ok()) return;
  std::unique_ptr<Transport> transport = *std::move(opened);
  transport_ = transport.get();
  absl::Time last_busy = absl::Now();
  bool receive_failed = false;
  for (;;) {
    std::deque<Item> items;
    bool stop = false;
    {
      absl::MutexLock lock(&mu_);
      items.swap(outbox_);
      stop = stop_;
    }
    bool busy = !items.empty();
    for (Item& item : items) {
      if (item.fn) {
        item.fn();
        continue;
      }
      absl::Status sent = transport->Send(item.dest, std::move(item.bytes));
      if (sent.ok() && item.payload != nullptr) {
        sent = transport->SendShared(item.dest, std::move(item.payload));
      }
      LOG_IF(ERROR, !sent.ok()) << "unidist mpi: sending to rank " << item.dest
                                << " failed: " << sent;
    }
    // Take what has arrived; a bounded number per round so that posted messages (results
    // the handlers produce) keep flowing out.
    for (int i = 0; i < 64 && !receive_failed; ++i) {
      absl::StatusOr<std::optional<Received>> received = transport->TryReceive();
      if (!received.ok()) {
        LOG(ERROR) << "unidist mpi: receiving failed: " << received.status();
        receive_failed = true;
        break;
      }
      if (!received->has_value()) break;
      busy = true;
      handler_(*this, std::move(**received));
    }
    const bool sending = transport->SendsPending();
    if (stop) {
      absl::MutexLock lock(&mu_);
      if (outbox_.empty()) break;  // else send the rest first
      continue;
    }
    if (busy) {
      last_busy = absl::Now();
      continue;
    }
    const absl::Duration idle_for = absl::Now() - last_busy;
    const absl::Duration wait =
        sending || idle_for < kHotWindow
            ? kMinIdleWait
            : std::clamp(idle_for / kIdleWaitDivisor, kMinIdleWait, max_idle_wait_);
    // Wait for a post, or poll again after the back-off.
    absl::MutexLock lock(&mu_);
    auto has_work = [this]()
                        ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !outbox_.empty() || stop_; };
    mu_.AwaitWithTimeout(absl::Condition(&has_work), wait);
  }
  transport_ = nullptr;
  transport.reset();  // completes the sends; MPI_Finalize for MPI
}

}  // namespace unidist::mpi_internal
