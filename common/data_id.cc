// Copyright 2026 The unidist-cpp Authors.

#include "unidist/common/data_id.h"

#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace unidist {
namespace {

// The (origin, next sequence) of this process. Both are replaced in a forked child, which
// would otherwise repeat its parent's ids.
std::atomic<uint64_t> g_origin{0};
std::atomic<uint64_t> g_next_sequence{1};

uint64_t DrawOrigin() {
  uint64_t origin = 0;
  while (origin == 0) {  // 0 is reserved so that Nil can never be generated.
    if (getrandom(&origin, sizeof(origin), 0) != sizeof(origin)) {
      // getrandom cannot fail for 8 bytes once the pool is initialized; fall back to
      // something process-unique rather than aborting.
      origin = (static_cast<uint64_t>(getpid()) << 32) ^ reinterpret_cast<uintptr_t>(&origin);
    }
  }
  return origin;
}

void ResetInChild() {
  g_origin.store(DrawOrigin(), std::memory_order_relaxed);
  g_next_sequence.store(1, std::memory_order_relaxed);
}

uint64_t Origin() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_origin.store(DrawOrigin(), std::memory_order_relaxed);
    pthread_atfork(nullptr, nullptr, &ResetInChild);
  });
  return g_origin.load(std::memory_order_relaxed);
}

void PutLittleEndian64(uint64_t value, char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

uint64_t GetLittleEndian64(const char* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  }
  return value;
}

}  // namespace

DataID DataID::Generate() {
  const uint64_t origin = Origin();
  return FromParts(origin, g_next_sequence.fetch_add(1, std::memory_order_relaxed));
}

absl::StatusOr<DataID> DataID::FromBinary(absl::string_view bytes) {
  if (bytes.size() != kSize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a DataID is %d bytes, got %d", kSize, bytes.size()));
  }
  return FromParts(GetLittleEndian64(bytes.data()), GetLittleEndian64(bytes.data() + 8));
}

std::string DataID::Binary() const {
  std::string bytes(kSize, '\0');
  PutLittleEndian64(origin_, bytes.data());
  PutLittleEndian64(sequence_, bytes.data() + 8);
  return bytes;
}

std::string DataID::Hex() const { return absl::StrFormat("%016x%016x", origin_, sequence_); }

std::ostream& operator<<(std::ostream& os, const DataID& id) {
  return os << absl::StrFormat("DataID(%016x:%d)", id.origin_, id.sequence_);
}

}  // namespace unidist
