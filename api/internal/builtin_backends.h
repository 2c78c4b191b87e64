// Copyright 2026 The unidist-cpp Authors.
//
// The backends that come with //api (unidist::api): multiprocessing (ProcessManager,
// worker processes on this machine) and sequential (SequentialPool, tasks in the caller).
// Each registers itself in the BackendRegistry (backend/backend.h) from
// builtin_backends.cc; other backends are linked in by the programs that want them (mpi:
// //mpi, unidist::mpi).

#ifndef UNIDIST_API_INTERNAL_BUILTIN_BACKENDS_H_
#define UNIDIST_API_INTERNAL_BUILTIN_BACKENDS_H_

namespace unidist::api_internal {

// The backends' names, for Options::backend and UNIDIST_BACKEND.
inline constexpr char kBackendMultiprocessing[] = "multiprocessing";
inline constexpr char kBackendSequential[] = "sequential";

// True once the built-in backends are registered (they are before main). Init calls it so
// that the linker keeps builtin_backends.cc, and with it the registrations, in every
// program that calls Init.
bool BuiltinBackendsRegistered();

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_BUILTIN_BACKENDS_H_
