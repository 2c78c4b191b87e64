// Copyright 2026 The unidist-cpp Authors.
//
// GoogleMock matchers and assertions for absl::Status and absl::StatusOr<T> (Debian's
// Abseil ships none).
//
// Example:
//   EXPECT_THAT(unidist::Get(ref), unidist::testing::IsOk());
//   EXPECT_THAT(unidist::Get(ref), unidist::testing::StatusIs(absl::StatusCode::kUnknown,
//                                                             HasSubstr("boom")));
//   EXPECT_THAT(unidist::Get(square), unidist::testing::IsOkAndHolds(49));
//   UNIDIST_ASSERT_OK(unidist::Init());

#ifndef UNIDIST_TESTING_STATUS_MATCHERS_H_
#define UNIDIST_TESTING_STATUS_MATCHERS_H_

// Included by its old path ("testing/status_matchers.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace unidist::testing {

// The status of an absl::Status (itself) or of an absl::StatusOr<T>, so that the matchers
// below accept both.
inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
// The status of `status_or`: OK if it holds a value.
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches an OK absl::Status, or an absl::StatusOr<T> that holds a value.
MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const absl::Status& status = GetStatus(arg);
  if (!status.ok()) *result_listener << "whose status is " << status;
  return status.ok();
}

// Matches a Status or StatusOr whose code is `code` (an absl::StatusCode).
MATCHER_P(StatusIs, code,
          std::string(negation ? "does not have" : "has") + " status code " +
              absl::StatusCodeToString(code)) {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code;
}

// Matches a Status or StatusOr whose code is `code` and whose message matches
// `message_matcher` (a std::string matcher such as HasSubstr("boom")).
MATCHER_P2(StatusIs, code, message_matcher,
           std::string(negation ? "does not have" : "has") + " status code " +
               absl::StatusCodeToString(code) + " and a matching message") {
  const absl::Status& status = GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.code() == code &&
         ::testing::Matches(message_matcher)(std::string(status.message()));
}

// Matches an absl::StatusOr<T> that holds a value matching `value_matcher` (a value, or a
// matcher such as ElementsAre(1, 2)); on failure says the status, or the value held.
MATCHER_P(IsOkAndHolds, value_matcher,
          negation ? "is not OK, or holds a value that does not match"
                   : "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "whose status is " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace unidist::testing

// EXPECT that `expr`, a Status or StatusOr, is OK; the failure message shows its status.
#define UNIDIST_EXPECT_OK(expr) EXPECT_THAT((expr), ::unidist::testing::IsOk())
// As UNIDIST_EXPECT_OK, but ends the test on failure (ASSERT_THAT).
#define UNIDIST_ASSERT_OK(expr) ASSERT_THAT((expr), ::unidist::testing::IsOk())

#endif  // UNIDIST_TESTING_STATUS_MATCHERS_H_
