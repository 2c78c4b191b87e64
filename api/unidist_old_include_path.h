// Copyright 2026 The unidist-cpp Authors.
//
// Included only when a public header of this directory was included by its path from
// before the unidist/ paths ("api/..."): the public headers include it if
// __has_include finds it beside them, which it does in the source tree (Bazel resolves the
// old paths there) and not where the unidist/ paths point (Bazel's _virtual_includes, the
// CMake build tree's and install's include/unidist/), where it is never put. It makes the
// compiler warn once per translation unit, with -Wdeprecated-declarations, at the user's
// include (the "In file included from" lines name it). See CHANGELOG.md.

#ifndef UNIDIST_API_UNIDIST_OLD_INCLUDE_PATH_H_
#define UNIDIST_API_UNIDIST_OLD_INCLUDE_PATH_H_

namespace unidist::old_include_path_internal {

[[deprecated(
    "unidist-cpp: the \"api/...\" include paths are deprecated and go away in version "
    "0.3: write #include \"unidist/<name>.h\" where you wrote \"api/<name>.h\" "
    "(e.g. \"unidist/unidist.h\")")]] constexpr bool
ApiHeaderIncludedByAnOldPath() {
  return true;
}

// Uses the deprecated function, so that the compiler warns here.
inline constexpr bool kApiHeaderIncludedByAnOldPath = ApiHeaderIncludedByAnOldPath();

}  // namespace unidist::old_include_path_internal

#endif  // UNIDIST_API_UNIDIST_OLD_INCLUDE_PATH_H_
