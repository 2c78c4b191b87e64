// Copyright 2026 The unidist-cpp Authors.

#include "mpi/internal/local_transport.h"

#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace unidist::mpi_internal {

class LocalTransport final : public Transport {
 public:
  LocalTransport(std::shared_ptr<LocalHub> hub, int rank) : hub_(std::move(hub)), rank_(rank) {}

  int rank() const override { return rank_; }
  int size() const override { return hub_->size(); }
  // Every rank of a hub is in this process, on this host.
  std::string host() const override { return "localhost"; }

  absl::Status Send(int dest, std::string bytes) override {
    if (dest < 0 || dest >= size()) {
      return absl::InvalidArgumentError(absl::StrCat("no rank ", dest));
    }
    {
      absl::MutexLock lock(&hub_->counts_mu_);
      const size_t link = static_cast<size_t>(rank_ * size() + dest);
      hub_->bytes_[link] += bytes.size();
      ++hub_->messages_[link];
    }
    LocalHub::Inbox& inbox = *hub_->inboxes_[dest];
    absl::MutexLock lock(&inbox.mu);
    inbox.messages.push_back(Received{rank_, std::move(bytes)});
    return absl::OkStatus();
  }

  absl::Status SendShared(int dest, std::shared_ptr<const ObjectBytes> bytes) override {
    return Send(dest, std::string(bytes->view()));  // in memory anyway: a copy stands for it
  }

  absl::StatusOr<std::optional<Received>> TryReceive() override {
    LocalHub::Inbox& inbox = *hub_->inboxes_[rank_];
    absl::MutexLock lock(&inbox.mu);
    if (inbox.messages.empty()) return std::optional<Received>();
    Received received = std::move(inbox.messages.front());
    inbox.messages.pop_front();
    if (auto it = receive_into_.find(received.source); it != receive_into_.end()) {
      if (it->second.second == received.bytes.size()) {
        std::memcpy(it->second.first, received.bytes.data(), received.bytes.size());
        received.bytes.clear();
        received.into_buffer = true;
      }
      receive_into_.erase(it);
    }
    return std::optional<Received>(std::move(received));
  }

  void ReceiveNextInto(int source, char* buffer, size_t size) override {
    receive_into_[source] = {buffer, size};
  }

  bool SendsPending() override { return false; }  // delivery is immediate
  void Flush() override {}

 private:
  const std::shared_ptr<LocalHub> hub_;
  // ReceiveNextInto's buffers, by source rank (the owning link thread only).
  std::map<int, std::pair<char*, size_t>> receive_into_;
  const int rank_;
};

LocalHub::LocalHub(int size)
    : bytes_(static_cast<size_t>(size * size)), messages_(static_cast<size_t>(size * size)) {
  for (int i = 0; i < size; ++i) inboxes_.push_back(std::make_unique<Inbox>());
}

uint64_t LocalHub::bytes_sent(int from, int to) const {
  absl::MutexLock lock(&counts_mu_);
  return bytes_[static_cast<size_t>(from * size() + to)];
}

uint64_t LocalHub::messages_sent(int from, int to) const {
  absl::MutexLock lock(&counts_mu_);
  return messages_[static_cast<size_t>(from * size() + to)];
}

std::shared_ptr<LocalHub> LocalHub::Create(int size) {
  return std::shared_ptr<LocalHub>(new LocalHub(size));
}

std::unique_ptr<Transport> LocalHub::Open(int rank) {
  return std::make_unique<LocalTransport>(shared_from_this(), rank);
}

}  // namespace unidist::mpi_internal
