// Copyright 2026 The unidist-cpp Authors.

#include "process_manager/internal/async_fork_server.h"

#include <errno.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

namespace unidist::process_internal {

AsyncForkServer::AsyncForkServer(ForkServer* server, int wake_fd)
    : server_(server), wake_fd_(wake_fd) {
  // Started here, once every member it reads exists.
  thread_ = std::thread([this] { Run(); });
}

AsyncForkServer::~AsyncForkServer() { Stop(); }

void AsyncForkServer::Spawn(int worker_index, size_t shared_file_bytes) {
  absl::MutexLock lock(&mu_);
  if (!stopping_) requests_.push_back({/*spawn=*/true, worker_index, -1, shared_file_bytes});
}

void AsyncForkServer::Reap(pid_t pid) {
  absl::MutexLock lock(&mu_);
  if (!stopping_) requests_.push_back({/*spawn=*/false, -1, pid});
}

void AsyncForkServer::TakeFinished(std::vector<Spawned>* spawned, std::vector<Reaped>* reaped) {
  absl::MutexLock lock(&mu_);
  for (Spawned& each : spawned_) spawned->push_back(std::move(each));
  for (Reaped& each : reaped_) reaped->push_back(std::move(each));
  spawned_.clear();
  reaped_.clear();
}

void AsyncForkServer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    requests_.clear();
  }
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  for (const Spawned& each : spawned_) {
    if (!each.worker.ok()) continue;
    for (int fd : {each.worker->socket_fd, each.worker->stdout_fd, each.worker->stderr_fd,
                   each.worker->shared_file_fd}) {
      if (fd >= 0) close(fd);
    }
  }
  spawned_.clear();
  reaped_.clear();
}

void AsyncForkServer::Run() {
  for (;;) {
    Request request;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !requests_.empty();
      };
      mu_.Await(absl::Condition(&has_work));
      if (stopping_) return;
      request = requests_.front();
      requests_.pop_front();
    }
    // The calls are made without mu_, so that queueing never waits for the fork server.
    if (request.spawn) {
      Spawned done{request.worker_index,
                   server_->Spawn(request.worker_index, request.shared_file_bytes)};
      absl::MutexLock lock(&mu_);
      spawned_.push_back(std::move(done));
    } else {
      Reaped done{request.pid, server_->Reap(request.pid, absl::ZeroDuration())};
      absl::MutexLock lock(&mu_);
      reaped_.push_back(std::move(done));
    }
    Wake();
  }
}

void AsyncForkServer::Wake() const {
  const uint64_t one = 1;
  while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

}  // namespace unidist::process_internal
