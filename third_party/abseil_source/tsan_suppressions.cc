// Copyright 2026 The unidist-cpp Authors.
//
// ThreadSanitizer suppressions for the tsan build, which links Abseil built from source
// (bazel/abseil_source.bzl). TSan's runtime calls __tsan_default_suppressions() at start-up,
// so every binary of that build carries them without a file or an environment variable.
//
// Abseil 20220623's Mutex wakes a waiting thread through that thread's PerThreadSynch,
// which it hands between threads inside its own code, where its TSan annotations do not
// reach. TSan then reports a race between the mmap that allocated the waiter's thread
// identity and the Post that wakes it: Abseil issue 1239, fixed in Abseil 20230125 (Debian
// 12 ships 20220623). The suppressions name only that internal wake-up.

extern "C" const char* __tsan_default_suppressions() {
  return "race:synchronization_internal::PerThreadSem::Post\n"
         "race:synchronization_internal::Waiter::Post\n";
}
