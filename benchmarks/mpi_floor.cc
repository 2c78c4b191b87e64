// Copyright 2026 The unidist-cpp Authors.
//
// //benchmarks:mpi_floor — what MPI itself costs to move a large value between two
// worker ranks, the floor of benchmarks/mpi_scaling.sh's "move between ranks" row. Plain
// MPI, no unidist: run under mpirun with at least 3 ranks (rank 0 waits, as the unidist
// driver would); the transport is whatever mpirun's --mca btl allows (vader: shared
// memory, tcp: sockets), so the script runs it once per transport.
//
// Rank 1 sends --bytes to rank 2, which receives them into a buffer it touched before and
// answers with one byte; rank 1 times the round. Also times a copy of the same bytes
// into a touched buffer on rank 1 (the memory floor). Prints one line on rank 1:
//   mpi_floor bytes=N move_ms=MEDIAN,MIN,MAX memcpy_ms=MEDIAN,MIN,MAX
//
// Flags: --bytes=N (default 100 MiB), --reps=N (default 7).

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "benchmarks/measure.h"

namespace {

long FlagValue(int argc, char** argv, const char* name, long fallback) {
  const std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return std::strtol(argv[i] + prefix.size(), nullptr, 10);
    }
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  using unidist::bench::Stopwatch;
  using unidist::bench::Summarize;
  using unidist::bench::Summary;
  MPI_Init(&argc, &argv);
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const long bytes = FlagValue(argc, argv, "bytes", 100L << 20);
  const int reps = static_cast<int>(FlagValue(argc, argv, "reps", 7));
  if (size < 3 || bytes < 1 || bytes > (1L << 30) || reps < 1) {
    if (rank == 0) std::fprintf(stderr, "mpi_floor: needs >= 3 ranks, 1 <= --bytes <= 1 GiB\n");
    MPI_Finalize();
    return 2;
  }
  std::vector<char> buffer(static_cast<size_t>(bytes), 'f');  // touched: no page faults timed
  std::vector<char> copy(static_cast<size_t>(bytes), 'c');
  unidist::bench::Samples move_ms;
  unidist::bench::Samples memcpy_ms;
  char ack = 0;
  for (int rep = 0; rep < reps; ++rep) {
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 1) {
      Stopwatch watch;
      MPI_Send(buffer.data(), static_cast<int>(bytes), MPI_BYTE, 2, 0, MPI_COMM_WORLD);
      MPI_Recv(&ack, 1, MPI_BYTE, 2, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      move_ms.push_back(watch.Seconds() * 1e3);
      watch.Restart();
      std::memcpy(copy.data(), buffer.data(), buffer.size());
      memcpy_ms.push_back(watch.Seconds() * 1e3);
      buffer[static_cast<size_t>(rep) % buffer.size()] = copy[0];  // keep the copy
    } else if (rank == 2) {
      MPI_Recv(buffer.data(), static_cast<int>(bytes), MPI_BYTE, 1, 0, MPI_COMM_WORLD,
               MPI_STATUS_IGNORE);
      MPI_Send(&ack, 1, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
    }
  }
  if (rank == 1) {
    const Summary move = Summarize(move_ms);
    const Summary copied = Summarize(memcpy_ms);
    std::printf("mpi_floor bytes=%ld move_ms=%.3f,%.3f,%.3f memcpy_ms=%.3f,%.3f,%.3f\n", bytes,
                move.median, move.min, move.max, copied.median, copied.min, copied.max);
    std::fflush(stdout);
  }
  MPI_Finalize();
  return 0;
}
