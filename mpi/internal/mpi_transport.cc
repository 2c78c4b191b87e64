// Copyright 2026 The unidist-cpp Authors.

#include "mpi/internal/mpi_transport.h"

#include <mpi.h>

#include <climits>
#include <list>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace unidist::mpi_internal {
namespace {

// Every message of the backend uses this tag: one ordered stream per pair of ranks.
constexpr int kTag = 7;

absl::Status MpiError(const char* call, int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  return absl::UnavailableError(
      absl::StrCat(call, " failed: ", std::string(text, static_cast<size_t>(length))));
}

class MpiTransport final : public Transport {
 public:
  MpiTransport(int rank, int size, std::string host)
      : rank_(rank), size_(size), host_(std::move(host)) {}

  ~MpiTransport() override {
    Flush();
    MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string host() const override { return host_; }

  absl::Status Send(int dest, std::string bytes) override {
    return Start(dest, std::move(bytes), nullptr);
  }

  absl::Status SendShared(int dest, std::shared_ptr<const ObjectBytes> bytes) override {
    return Start(dest, std::string(), std::move(bytes));
  }

  // Sends `shared` if set, else `bytes`.
  absl::Status Start(int dest, std::string bytes, std::shared_ptr<const ObjectBytes> shared) {
    if (dest < 0 || dest >= size_ || dest == rank_) {
      return absl::InvalidArgumentError(absl::StrCat("no rank ", dest, " to send to"));
    }
    const absl::string_view data = shared != nullptr ? shared->view() : bytes;
    if (data.size() > static_cast<size_t>(INT_MAX)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a message of ", data.size(), " bytes is larger than an MPI message can be"));
    }
    pending_.emplace_back();
    PendingSend& send = pending_.back();
    send.bytes = std::move(bytes);
    send.shared = std::move(shared);
    const absl::string_view out = send.shared != nullptr ? send.shared->view() : send.bytes;
    const int code = MPI_Isend(out.data(), static_cast<int>(out.size()), MPI_BYTE, dest, kTag,
                               MPI_COMM_WORLD, &send.request);
    if (code != MPI_SUCCESS) {
      pending_.pop_back();
      return MpiError("MPI_Isend", code);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<Received>> TryReceive() override {
    int found = 0;
    MPI_Message message;
    MPI_Status status;
    int code = MPI_Improbe(MPI_ANY_SOURCE, kTag, MPI_COMM_WORLD, &found, &message, &status);
    if (code != MPI_SUCCESS) return MpiError("MPI_Improbe", code);
    if (!found) {
      // OpenMPI's probe looks at the messages already matched, then, finding none, makes
      // progress (reads the shared-memory and TCP queues) and returns without looking
      // again: a message that progress just brought in is seen only by the next call. The
      // link sleeps between calls when idle, so look again now, not a sleep later.
      code = MPI_Improbe(MPI_ANY_SOURCE, kTag, MPI_COMM_WORLD, &found, &message, &status);
      if (code != MPI_SUCCESS) return MpiError("MPI_Improbe", code);
      if (!found) return std::optional<Received>();
    }
    int count = 0;
    code = MPI_Get_count(&status, MPI_BYTE, &count);
    if (code != MPI_SUCCESS) return MpiError("MPI_Get_count", code);
    Received received;
    received.source = status.MPI_SOURCE;
    char* into = nullptr;
    if (auto it = receive_into_.find(received.source); it != receive_into_.end()) {
      if (it->second.second == static_cast<size_t>(count)) into = it->second.first;
      receive_into_.erase(it);
    }
    if (into == nullptr) received.bytes.resize(static_cast<size_t>(count));
    received.into_buffer = into != nullptr;
    code = MPI_Mrecv(into != nullptr ? into : received.bytes.data(), count, MPI_BYTE, &message,
                     MPI_STATUS_IGNORE);
    if (code != MPI_SUCCESS) return MpiError("MPI_Mrecv", code);
    return std::optional<Received>(std::move(received));
  }

  void ReceiveNextInto(int source, char* buffer, size_t size) override {
    receive_into_[source] = {buffer, size};
  }

  bool SendsPending() override {
    for (auto it = pending_.begin(); it != pending_.end();) {
      int done = 0;
      if (MPI_Test(&it->request, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS || done) {
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    return !pending_.empty();
  }

  void Flush() override {
    for (PendingSend& send : pending_) MPI_Wait(&send.request, MPI_STATUS_IGNORE);
    pending_.clear();
  }

 private:
  struct PendingSend {
    std::string bytes;  // MPI reads from here (or `shared`) until the request completes
    std::shared_ptr<const ObjectBytes> shared;
    MPI_Request request = MPI_REQUEST_NULL;
  };
  const int rank_;
  const int size_;
  const std::string host_;
  std::list<PendingSend> pending_;  // a list: requests must not move while MPI holds them
  // ReceiveNextInto's buffers, by source rank.
  std::map<int, std::pair<char*, size_t>> receive_into_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Transport>> OpenMpiTransport() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized || finalized) {
    return absl::FailedPreconditionError("MPI was initialized already in this process");
  }
  int provided = 0;
  int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (code != MPI_SUCCESS) return MpiError("MPI_Init_thread", code);
  // Errors come back as codes, which the link reports, instead of aborting the job from
  // inside MPI with no word about unidist.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  char host[MPI_MAX_PROCESSOR_NAME] = {};
  int host_length = 0;
  if (MPI_Get_processor_name(host, &host_length) != MPI_SUCCESS) host_length = 0;
  return std::unique_ptr<Transport>(
      new MpiTransport(rank, size, std::string(host, static_cast<size_t>(host_length))));
}

}  // namespace unidist::mpi_internal
