// Copyright 2026 The unidist-cpp Authors.
//
// MonotonicNanos: the clock the timeline (api/internal/timeline.h) stamps events with, in
// the driver and in the workers alike.
//
// CLOCK_MONOTONIC rather than absl::Now(): it never jumps (NTP, settimeofday), and on
// Linux it is one clock for the whole machine, so a reading taken in a worker process
// compares with one taken in the driver. Readings from two machines do not compare.

#ifndef UNIDIST_COMMON_MONOTONIC_CLOCK_H_
#define UNIDIST_COMMON_MONOTONIC_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace unidist {

// Nanoseconds of CLOCK_MONOTONIC (since an unspecified point, usually boot). About 20 ns
// per call through the vDSO.
inline int64_t MonotonicNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

}  // namespace unidist

#endif  // UNIDIST_COMMON_MONOTONIC_CLOCK_H_
