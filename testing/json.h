// Copyright 2026 The unidist-cpp Authors.
//
// A strict JSON parser for tests (RFC 8259): tests that check files our code writes (the
// timeline's Chrome trace) parse them with it and look at the values. Strict on purpose:
// trailing commas, unescaped control characters, bad escapes, leading zeros, text after
// the value and invalid UTF-8 are errors, since the viewers that read such files may
// reject them. Objects keep their members in order; duplicate keys are kept.
//
// Example:
//   absl::StatusOr<unidist::testing::Json> trace = unidist::testing::ParseJson(text);
//   ASSERT_TRUE(trace.ok()) << trace.status();
//   const Json* events = trace->Find("traceEvents");

#ifndef UNIDIST_TESTING_JSON_H_
#define UNIDIST_TESTING_JSON_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace unidist::testing {

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  double number = 0;
  std::string string;  // UTF-8, escapes decoded
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;

  // The first member named `key` of an object; null if there is none or this is not an
  // object.
  const Json* Find(absl::string_view key) const;
};

// The value `text` holds; InvalidArgument (with the byte offset) if it is not valid JSON.
absl::StatusOr<Json> ParseJson(absl::string_view text);

}  // namespace unidist::testing

#endif  // UNIDIST_TESTING_JSON_H_
