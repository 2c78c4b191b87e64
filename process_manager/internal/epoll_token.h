// Copyright 2026 The unidist-cpp Authors.
//
// The data ProcessManager stores with each descriptor in its epoll set, and how to read it
// back. The wake-up eventfd has its own token; a worker's descriptors carry
// (generation << 32 | stream << 16 | slot index), so that an event for a worker that has
// since been replaced is told from one for its successor.

#ifndef UNIDIST_PROCESS_MANAGER_INTERNAL_EPOLL_TOKEN_H_
#define UNIDIST_PROCESS_MANAGER_INTERNAL_EPOLL_TOKEN_H_

#include <cstdint>

namespace unidist::process_internal {

inline constexpr uint64_t kWakeToken = ~uint64_t{0};

// A worker's descriptors.
enum class Stream : uint64_t {
  kSocket = 0,  // tasks and results
  kStdout = 1,
  kStderr = 2,
  kPidfd = 3,  // readable once the process has exited
};

inline uint64_t WorkerToken(int index, uint32_t generation, Stream stream) {
  return (uint64_t{generation} << 32) | (static_cast<uint64_t>(stream) << 16) |
         static_cast<uint16_t>(index);
}
inline int TokenIndex(uint64_t token) { return static_cast<int>(token & 0xffffu); }
inline uint32_t TokenGeneration(uint64_t token) { return static_cast<uint32_t>(token >> 32); }
inline Stream TokenStream(uint64_t token) { return static_cast<Stream>((token >> 16) & 0xffffu); }

}  // namespace unidist::process_internal

#endif  // UNIDIST_PROCESS_MANAGER_INTERNAL_EPOLL_TOKEN_H_
