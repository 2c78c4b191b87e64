// Copyright 2026 The unidist-cpp Authors.
//
// FUZZ_CHECK(condition): the fuzz targets' assertion. When `condition` is false it prints
// the condition and its file:line to stderr and aborts, which libFuzzer reports as a crash
// (and saves the input). Unlike assert() it is never compiled out, whatever NDEBUG says.

#ifndef UNIDIST_FUZZ_FUZZ_CHECK_H_
#define UNIDIST_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                 \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

#endif  // UNIDIST_FUZZ_FUZZ_CHECK_H_
