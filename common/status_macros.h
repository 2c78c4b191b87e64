// Copyright 2026 The unidist-cpp Authors.
//
// UNIDIST_RETURN_IF_ERROR and UNIDIST_ASSIGN_OR_RETURN: the two status macros Abseil keeps
// internal (Debian's Abseil 20220623 ships no status_macros.h). For our own sources only.
//
// Example:
//   absl::StatusOr<Frame> ReadFrame(int fd) {
//     UNIDIST_RETURN_IF_ERROR(ReadExactly(fd, header, 4));
//     UNIDIST_ASSIGN_OR_RETURN(uint32_t length, ParseLength(header));
//     ...
//   }

#ifndef UNIDIST_COMMON_STATUS_MACROS_H_
#define UNIDIST_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define UNIDIST_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status unidist_status_ = (expr);           \
    if (!unidist_status_.ok()) return unidist_status_; \
  } while (0)

#define UNIDIST_STATUS_CONCAT_INNER_(a, b) a##b
#define UNIDIST_STATUS_CONCAT_(a, b) UNIDIST_STATUS_CONCAT_INNER_(a, b)

#define UNIDIST_ASSIGN_OR_RETURN(lhs, expr) \
  UNIDIST_ASSIGN_OR_RETURN_IMPL_(UNIDIST_STATUS_CONCAT_(unidist_statusor_, __LINE__), lhs, expr)

#define UNIDIST_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // UNIDIST_COMMON_STATUS_MACROS_H_
