// Copyright 2026 The unidist-cpp Authors.
//
// What ProcessManager's threads need to know of each other while one of them, not the
// event thread, reads a worker's answers (ProcessManager::WaitForResult, in
// result_reader.cc): the eventfd that wakes a reading thread, and whether a thread is
// handling a pool's events right now (then it must not wait to read: it would wait on
// itself).

#ifndef UNIDIST_PROCESS_MANAGER_INTERNAL_RESULT_READER_H_
#define UNIDIST_PROCESS_MANAGER_INTERNAL_RESULT_READER_H_

namespace unidist::process_internal {

// The calling thread's wake-up eventfd (non-blocking), made on its first call and closed
// when the thread ends; -1 if it could not be made (it is not tried again).
int ThisThreadsWakeFd();
// The same, or -1 if the thread has none: never makes one.
int ThisThreadsWakeFdIfMade();

// Marks the calling thread as handling a pool's events for as long as it lives.
class HandlingEventsScope {
 public:
  HandlingEventsScope();
  ~HandlingEventsScope();
  HandlingEventsScope(const HandlingEventsScope&) = delete;
  HandlingEventsScope& operator=(const HandlingEventsScope&) = delete;

  // Whether the calling thread is inside such a scope (in a pool callback, say).
  static bool Active();

 private:
  const bool outer_;
};

}  // namespace unidist::process_internal

#endif  // UNIDIST_PROCESS_MANAGER_INTERNAL_RESULT_READER_H_
