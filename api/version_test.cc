// Copyright 2026 The unidist-cpp Authors.
//
// The version macros of api/version.h, as a program that includes api/unidist.h sees them.

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "unidist/unidist.h"

// The numbers are integer literals: the preprocessor can compare them.
#if !(UNIDIST_VERSION_MAJOR >= 0 && UNIDIST_VERSION_MINOR >= 0 && UNIDIST_VERSION_PATCH >= 0)
#error "api/version.h: the version numbers must be non-negative integer literals"
#endif

namespace unidist {
namespace {

TEST(VersionTest, TheStringIsTheThreeNumbers) {
  EXPECT_EQ(
      std::string(UNIDIST_VERSION_STRING),
      absl::StrCat(UNIDIST_VERSION_MAJOR, ".", UNIDIST_VERSION_MINOR, ".", UNIDIST_VERSION_PATCH));
}

}  // namespace
}  // namespace unidist
