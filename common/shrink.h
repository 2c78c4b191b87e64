// Copyright 2026 The unidist-cpp Authors.
//
// ShrinkIfSparse: Abseil's hash tables (and std::unordered_map's buckets) never shrink on
// erase, so a table that once held a million entries keeps their slots — about 100
// bytes each for the store's — until it is destroyed. Called after an erase, this gives
// the memory back once the table is an eighth full: a rehash of what is left, paid for
// many times over by the erasures since the table was that full.

#ifndef UNIDIST_COMMON_SHRINK_H_
#define UNIDIST_COMMON_SHRINK_H_

#include <cstddef>

namespace unidist {

template <typename Table>
void ShrinkIfSparse(Table& table) {
  constexpr size_t kSmall = 1024;  // below this, keeping the slots costs nothing worth it
  if (table.capacity() > kSmall && table.size() < table.capacity() / 8) table.rehash(0);
}

}  // namespace unidist

#endif  // UNIDIST_COMMON_SHRINK_H_
