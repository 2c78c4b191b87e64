// Copyright 2026 The unidist-cpp Authors.

#include "mpi/internal/local_transport.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace unidist::mpi_internal {

class LocalTransport final : public Transport {
 public:
  LocalTransport(std::shared_ptr<LocalHub> hub, int rank) : hub_(std::move(hub)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return hub_->size(); }

  absl::Status Send(int dest, std::string bytes) override {
    if (dest < 0 || dest >= size()) {
      return absl::InvalidArgumentError(absl::StrCat("no rank ", dest));
    }
    LocalHub::Inbox& inbox = *hub_->inboxes_[dest];
    absl::MutexLock lock(&inbox.mu);
    inbox.messages.push_back(Received{rank_, std::move(bytes)});
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<Received>> TryReceive() override {
    LocalHub::Inbox& inbox = *hub_->inboxes_[rank_];
    absl::MutexLock lock(&inbox.mu);
    if (inbox.messages.empty()) return std::optional<Received>();
    Received received = std::move(inbox.messages.front());
    inbox.messages.pop_front();
    return std::optional<Received>(std::move(received));
  }

  bool SendsPending() override { return false; }  // delivery is immediate
  void Flush() override {}

 private:
  const std::shared_ptr<LocalHub> hub_;
  const int rank_;
};

LocalHub::LocalHub(int size) {
  for (int i = 0; i < size; ++i) inboxes_.push_back(std::make_unique<Inbox>());
}

std::shared_ptr<LocalHub> LocalHub::Create(int size) {
  return std::shared_ptr<LocalHub>(new LocalHub(size));
}

std::unique_ptr<Transport> LocalHub::Open(int rank) {
  return std::make_unique<LocalTransport>(shared_from_this(), rank);
}

}  // namespace unidist::mpi_internal
