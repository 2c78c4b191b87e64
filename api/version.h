// Copyright 2026 The unidist-cpp Authors.
//
// The version of unidist-cpp, as macros a program can test with the preprocessor (included
// by unidist/unidist.h, so `#include "unidist/unidist.h"` brings them):
//
//   #if UNIDIST_VERSION_MAJOR > 0 || UNIDIST_VERSION_MINOR >= 2
//   ...  // code for 0.2.0 and later
//   #endif
//   std::cout << "unidist-cpp " << UNIDIST_VERSION_STRING << "\n";  // unidist-cpp 0.1.0
//
// The version is MAJOR.MINOR.PATCH; while MAJOR is 0, a new MINOR may change the API.
// This file is the one place the version is written: the CMake build reads it for its
// project and package version (find_package(unidist 0.1)). CHANGELOG.md says what changed.

#ifndef UNIDIST_API_VERSION_H_
#define UNIDIST_API_VERSION_H_

// Included by its old path ("api/version.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

// The major version: 0 while the API may still change from one minor version to the next.
#define UNIDIST_VERSION_MAJOR 0
// The minor version.
#define UNIDIST_VERSION_MINOR 1
// The patch version.
#define UNIDIST_VERSION_PATCH 0

// The version as a string literal, "MAJOR.MINOR.PATCH". (api/version_test.cc checks that
// it matches the three numbers above.)
#define UNIDIST_VERSION_STRING "0.1.0"

#endif  // UNIDIST_API_VERSION_H_
