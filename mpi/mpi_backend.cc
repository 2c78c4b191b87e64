// Copyright 2026 The unidist-cpp Authors.

#include "mpi/mpi_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "backend/backend.h"
#include "common/cpus.h"
#include "mpi/internal/driver_pool.h"
#include "mpi/internal/link.h"
#include "mpi/internal/mpi_transport.h"
#include "mpi/internal/node.h"
#include "process_manager/process_manager.h"

namespace unidist::mpi {
namespace {

using mpi_internal::DriverLink;
using mpi_internal::Link;
using mpi_internal::MpiWorkerPool;
using mpi_internal::Node;
using mpi_internal::Received;

// -1 when the variable is unset or not a number.
int IntFromEnvironment(const char* name) {
  const char* value = getenv(name);
  int parsed = 0;
  if (value == nullptr || !absl::SimpleAtoi(value, &parsed)) return -1;
  return parsed;
}

absl::Mutex g_driver_mu(absl::kConstInit);
// The driver's link, for the rest of the process once opened (MPI initializes only once).
DriverLink* g_driver ABSL_GUARDED_BY(g_driver_mu) = nullptr;
absl::Status* g_driver_error ABSL_GUARDED_BY(g_driver_mu) = nullptr;

// At exit of the driver process: the worker ranks exit, and MPI is finalized. (Not a
// static destructor: the order of those is not ours to choose.)
void ExitWorkerRanks() {
  DriverLink* driver = nullptr;
  {
    absl::MutexLock lock(&g_driver_mu);
    driver = g_driver;
  }
  if (driver != nullptr) driver->Exit();
}

absl::StatusOr<DriverLink*> TheDriverLink() {
  absl::MutexLock lock(&g_driver_mu);
  if (g_driver != nullptr) return g_driver;
  if (g_driver_error != nullptr) return *g_driver_error;  // MPI cannot be initialized twice
  absl::StatusOr<std::unique_ptr<DriverLink>> driver =
      DriverLink::Start(&mpi_internal::OpenMpiTransport);
  if (!driver.ok()) {
    g_driver_error = new absl::Status(driver.status());
    return driver.status();
  }
  g_driver = driver->release();
  atexit(&ExitWorkerRanks);
  return g_driver;
}

}  // namespace

bool LaunchedWithSeveralRanks() { return IntFromEnvironment("OMPI_COMM_WORLD_SIZE") > 1; }

bool IsWorkerRank() { return IntFromEnvironment("OMPI_COMM_WORLD_RANK") > 0; }

absl::StatusOr<std::unique_ptr<WorkerPool>> StartDriverPool(WorkerPoolOptions options) {
  // MPI_Init outside mpirun would start a singleton job: refuse before touching MPI.
  if (!LaunchedWithSeveralRanks()) {
    return absl::FailedPreconditionError(
        "the mpi backend runs under mpirun with at least 2 ranks, e.g. `mpirun -n 3 "
        "./program` (rank 0 is the driver, the others run the workers)");
  }
  if (IsWorkerRank()) {
    return absl::FailedPreconditionError("the mpi backend's driver is rank 0");
  }
  absl::StatusOr<DriverLink*> driver = TheDriverLink();
  if (!driver.ok()) return driver.status();
  mpi_internal::MpiWorkerPoolOptions mpi_options;
  if (const char* keep = getenv(kKeepMinBytesVariable); keep != nullptr) {
    uint64_t bytes = 0;
    if (!absl::SimpleAtoi(keep, &bytes)) {
      return absl::InvalidArgumentError(
          absl::StrCat(kKeepMinBytesVariable, "='", keep, "' is not a number of bytes"));
    }
    mpi_options.keep_min_bytes = bytes;
  }
  absl::StatusOr<std::unique_ptr<MpiWorkerPool>> pool =
      MpiWorkerPool::Start(std::move(options), *driver, mpi_options);
  if (!pool.ok()) return pool.status();
  return std::unique_ptr<WorkerPool>(std::move(*pool));
}

absl::StatusOr<ObjectTraffic> QueryObjectTrafficForTesting() {
  MpiWorkerPool* pool = nullptr;
  {
    absl::MutexLock lock(&g_driver_mu);
    if (g_driver != nullptr) pool = g_driver->current_pool();
  }
  if (pool == nullptr) {
    return absl::FailedPreconditionError("no session of the mpi backend is running");
  }
  absl::StatusOr<mpi_internal::ObjectTraffic> traffic = pool->QueryObjects();
  if (!traffic.ok()) return traffic.status();
  ObjectTraffic out;
  out.result_bytes_to_driver = traffic->result_bytes_to_driver;
  out.bytes_fetched_by_driver = traffic->bytes_fetched_by_driver;
  for (size_t i = 0; i < traffic->ranks.size(); ++i) {
    const mpi::proto::ObjectsReport& report = traffic->ranks[i];
    RankObjectCounters rank;
    rank.rank = static_cast<int>(i) + 1;
    rank.objects_held = report.objects_held();
    rank.bytes_held = report.bytes_held();
    rank.objects_kept = report.objects_kept();
    rank.bytes_sent_to_nodes = report.bytes_sent_to_nodes();
    rank.bytes_sent_to_driver = report.bytes_sent_to_driver();
    rank.bytes_fetched = report.bytes_fetched();
    rank.fetches = report.fetches();
    rank.objects_in_store = report.objects_in_store();
    rank.bytes_in_store = report.bytes_in_store();
    rank.bytes_received_into_store = report.bytes_received_into_store();
    rank.pid = report.pid();
    rank.process_cpu_ns = report.process_cpu_ns();
    rank.arguments_kept = report.arguments_kept();
    rank.argument_bytes_kept = report.argument_bytes_kept();
    out.ranks.push_back(rank);
  }
  return out;
}

void ServeAsWorkerRank(TaskExecutor execute) {
  // Several threads of the program may call Init at once, and MPI can be initialized only
  // once: the first serves, and the others wait here until it ends the process.
  static std::atomic<bool> serving{false};
  if (serving.exchange(true, std::memory_order_acq_rel)) {
    for (;;) pause();
  }
  std::atomic<Link*> link_for_node{nullptr};
  absl::Notification exit_requested;
  Node node(
      [&link_for_node](int dest, std::string bytes, std::shared_ptr<const ObjectBytes> payload) {
        link_for_node.load(std::memory_order_acquire)
            ->Post(dest, std::move(bytes), std::move(payload));
      },
      std::move(execute),
      [](WorkerPoolOptions options) -> absl::StatusOr<std::unique_ptr<WorkerPool>> {
        absl::StatusOr<std::unique_ptr<ProcessManager>> manager =
            ProcessManager::Start(std::move(options));
        if (!manager.ok()) return manager.status();
        return std::unique_ptr<WorkerPool>(std::move(*manager));
      },
      // Read at each session's start, on the link thread (which has handed the node a
      // message by then): UNIDIST_CPUS as this rank's environment has it.
      [&link_for_node]() -> absl::StatusOr<Node::Place> {
        absl::StatusOr<int> cpus = UsableCpus();
        if (!cpus.ok()) return cpus.status();
        Node::Place place;
        place.cpus = *cpus;
        place.host = link_for_node.load(std::memory_order_acquire)->host();
        // Unbound (mpirun --bind-to none) and not told: the rank sees the whole host.
        const char* told = getenv(kCpusVariable);
        place.whole_host = (told == nullptr || *told == '\0') &&
                           *cpus >= static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
        place.ranks_on_host = std::max(1, IntFromEnvironment("OMPI_COMM_WORLD_LOCAL_SIZE"));
        place.index_on_host = std::max(0, IntFromEnvironment("OMPI_COMM_WORLD_LOCAL_RANK"));
        return place;
      },
      [&link_for_node](int source, char* buffer, size_t size) {
        link_for_node.load(std::memory_order_acquire)->ReceiveNextInto(source, buffer, size);
      });
  absl::StatusOr<std::unique_ptr<Link>> link =
      Link::Start(&mpi_internal::OpenMpiTransport, [&](Link& self, Received received) {
        link_for_node.store(&self, std::memory_order_release);
        if (exit_requested.HasBeenNotified()) return;
        if (!node.HandleReceived(std::move(received))) exit_requested.Notify();
        // Between sessions the rank has nothing to answer soon: it polls rarely.
        self.SetMaxIdleWait(node.in_session() ? Link::kMaxIdleWait
                                              : Link::kMaxIdleWaitWithoutSession);
      });
  if (!link.ok()) {
    fprintf(stderr, "unidist mpi: worker rank %d cannot start: %s\n",
            IntFromEnvironment("OMPI_COMM_WORLD_RANK"), link.status().ToString().c_str());
    fflush(stderr);
    _exit(1);
  }
  exit_requested.WaitForNotification();
  (*link)->Stop();  // MPI_Finalize
  fflush(stdout);
  fflush(stderr);
  // Not exit(): the rest of this process's program (static objects, atexit handlers) is
  // the driver's business, not a worker rank's.
  _exit(0);
}

namespace {

BackendDescription MpiBackend() {
  BackendDescription backend;
  backend.name = kBackendName;
  // Worker processes under each worker rank. A crash kills a worker process, not its
  // rank. Ranks may sit on other machines: no shared memory with the driver.
  backend.abilities.survives_worker_crash = true;
  backend.abilities.concurrent_with_driver = true;
  backend.abilities.worker_processes = true;
  // Each worker rank runs one worker per CPU it has unless Options::num_workers says.
  backend.abilities.counts_cpus_where_workers_run = true;
  backend.start_pool = &StartDriverPool;
  // `mpirun -n 4 ./program` needs no setting to run on the MPI job.
  backend.wanted_by_launcher = &LaunchedWithSeveralRanks;
  // The driver pool's holders are worker ranks.
  backend.describe_holder = [](uint64_t holder) { return absl::StrCat("rank ", holder); };
  // Every rank but 0 becomes a worker rank at Init, whatever the other options say (the
  // driver's decide): it serves the driver's sessions and exits with it.
  backend.serve_unless_driver = [](TaskExecutor execute) {
    if (IsWorkerRank()) ServeAsWorkerRank(std::move(execute));
  };
  return backend;
}

// Linked in by every program that depends on //mpi (alwayslink) or unidist::mpi (an object
// library): that dependency is what makes the backend available.
UNIDIST_REGISTER_BACKEND(MpiBackend());

}  // namespace
}  // namespace unidist::mpi
