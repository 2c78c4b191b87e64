// Copyright 2026 The unidist-cpp Authors.
//
// FunctionRegistry: the functions UNIDIST_REMOTE registered, by name (for the worker,
// which receives names) and by address (for the driver, which receives function
// pointers). Filled during static initialization, before main; a worker process is a copy
// of the driver, so it has the same table. Thread-safe.

#ifndef UNIDIST_API_INTERNAL_FUNCTION_REGISTRY_H_
#define UNIDIST_API_INTERNAL_FUNCTION_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "api/internal/bridge.h"

namespace unidist::api_internal {

class FunctionRegistry {
 public:
  static FunctionRegistry& Global();

  // Adds `fn` under `name`. Registering the same function under the same name again is a
  // no-op; a second function under a taken name (or a null `fn`, from a registration that
  // could not be parsed) is remembered as a problem that Validate reports.
  void Register(std::string name, const void* fn, Invoker invoker);

  // The name `fn` was registered under; NotFound (naming the symbol where the dynamic
  // symbol table knows it) if it was not registered.
  absl::StatusOr<std::string> NameOf(const void* fn) const;

  // The invoker registered under `name`, or null.
  std::shared_ptr<const Invoker> Find(const std::string& name) const;

  // OK, or AlreadyExists describing every bad registration.
  absl::Status Validate() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const Invoker>> by_name_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, const void*> address_of_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<const void*, std::string> name_of_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> problems_ ABSL_GUARDED_BY(mu_);
};

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_FUNCTION_REGISTRY_H_
