// Copyright 2026 The unidist-cpp Authors.
//
// The floor: what the machine itself allows, measured with plain C++ and no unidist code —
// a 64-byte round trip between two processes over pipes, over a Unix socket (the transport
// unidist-cpp uses today) and through a futex in shared memory, streaming bandwidth through
// a pipe and through a Unix stream socket, and memcpy bandwidth. //benchmarks:compare states
// unidist-cpp's numbers as ratios to these, measured in the same run.
//
// Each function forks its helper child itself and reaps it before returning. Call them
// while no other thread of the program holds a lock (before unidist::Init or after
// Shutdown): the child runs only code that touches nothing but its own descriptors.
//
// Units: microseconds for round trips; GB/s (10^9 bytes per second) for bandwidths.

#ifndef UNIDIST_BENCHMARKS_FLOOR_H_
#define UNIDIST_BENCHMARKS_FLOOR_H_

#include <cstddef>
#include <functional>

#include "absl/status/statusor.h"
#include "benchmarks/measure.h"

namespace unidist::bench {

// Where the two processes of a round trip run.
enum class Placement {
  kUnpinned,   // wherever the scheduler puts them (what unidist-cpp gets)
  kSameCpu,    // both pinned to the caller's first allowed CPU
  kOtherCpus,  // pinned to two different CPUs
};

// One sample per repetition: the mean time of `round_trips` 64-byte messages sent to a
// child over a pipe and echoed back over another. FailedPrecondition for kOtherCpus when
// the caller may use only one CPU; Internal if a pipe, fork or transfer fails.
absl::StatusOr<Samples> PipeRoundTripUs(Placement placement, int round_trips, int reps);

// What carries an unpinned round trip besides pipes.
enum class Transport {
  // socketpair(AF_UNIX, SOCK_STREAM), each side waiting in poll before it reads: the
  // transport unidist-cpp's driver and workers use today.
  kUnixSocketPoll,
  // A page of shared memory: each side copies the 64 bytes in, bumps a sequence word and
  // wakes the other with FUTEX_WAKE, then sleeps in FUTEX_WAIT for the answer — the
  // wake-ups a shared-memory ring between driver and worker would pay, and nothing else.
  kFutex,
};

// One sample per repetition: the mean time of `round_trips` 64-byte round trips to a
// child over `transport`, neither pinned. Internal if a descriptor, mapping, fork or
// transfer fails.
absl::StatusOr<Samples> RoundTripUs(Transport transport, int round_trips, int reps);

enum class Stream {
  kPipe,        // a pipe of the default capacity (64 KiB)
  kLargePipe,   // a pipe raised with F_SETPIPE_SZ to /proc/sys/fs/pipe-max-size (1 MiB here)
  kUnixSocket,  // socketpair(AF_UNIX, SOCK_STREAM), default buffers, as unidist-cpp's
};

// One sample per repetition: the bandwidth of a child writing `bytes` in 1 MiB writes to
// `stream` while this process reads them in 1 MiB reads. A warm-up pass comes first.
// Internal if a descriptor, fork or transfer fails.
absl::StatusOr<Samples> StreamGBps(Stream stream, size_t bytes, int reps);

// One sample per repetition: memcpy of `bytes` between two buffers already faulted in.
Samples MemcpyGBps(size_t bytes, int reps);

// One sample per repetition: mmap of `bytes` of fresh anonymous memory, one write to every
// byte (memset), munmap — the cost of the page faults every new large buffer pays. On
// these VMs a first touch is far slower than a copy between pages already mapped.
Samples FreshMemoryGBps(size_t bytes, int reps);

// One sample per repetition: mmap of `bytes` of fresh anonymous memory with transparent
// huge pages asked for (MADV_HUGEPAGE), memcpy of `bytes` into it from a buffer already
// faulted in, munmap — the least a copy into a new large buffer (Get into a new
// std::vector) costs: the kernel zeroes every new page before the copy writes it.
Samples FreshCopyGBps(size_t bytes, int reps);

// The wall time of `tasks` calls of `task` dealt out to `processes` forked children (as
// evenly as possible), from the first fork to the last exit: the parallelism the machine
// offers right now, against which a pool's scaling is judged. Internal if fork fails.
absl::StatusOr<double> ForkedTasksSeconds(int processes, int tasks,
                                          const std::function<void()>& task);

}  // namespace unidist::bench

#endif  // UNIDIST_BENCHMARKS_FLOOR_H_
