// Copyright 2026 The unidist-cpp Authors.
//
// FunctionRegistry: the functions and actor methods UNIDIST_REMOTE registered and the
// actor classes UNIDIST_ACTOR registered, by name (for the worker, which receives names)
// and by key (for the driver, which receives function or member function pointers; see
// FunctionKey). Filled during static initialization, before main; a worker process is a
// copy of the driver, so it has the same table. Thread-safe.

#ifndef UNIDIST_API_INTERNAL_FUNCTION_REGISTRY_H_
#define UNIDIST_API_INTERNAL_FUNCTION_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "unidist/internal/bridge.h"

namespace unidist::api_internal {

// The registered name of the constructor task of actor class `class_name` whose parameter
// types are `signature_text` ("int, std::string"): "Counter::<constructor>(int)".
std::string ActorConstructorName(absl::string_view class_name, absl::string_view signature_text);

class FunctionRegistry {
 public:
  static FunctionRegistry& Global();

  // Adds the function with key `key` under `name`. Registering the same function under the
  // same name again is a no-op; a second function under a taken name (or an empty key,
  // from a registration that could not be parsed) is remembered as a problem that
  // Validate reports.
  void Register(std::string name, std::string key, Invoker invoker);

  // Adds a constructor of an actor class: it becomes the function
  // ActorConstructorName(class_name, signature_text). A class may have several.
  void RegisterActorClass(std::string class_name, std::string type_key, std::string signature_key,
                          std::string signature_text, Invoker constructor);

  // The name the function with key `key` was registered under; NotFound if it was not
  // (naming the symbol at `address`, where the dynamic symbol table knows it). The name
  // is the registry's own, valid as long as the registry (names are never removed): a
  // Submit passes it on without a copy.
  absl::StatusOr<const std::string*> NameOf(const std::string& key, const void* address) const;

  // The name of the actor class whose typeid name is `type_key`; NotFound if it was not
  // registered with UNIDIST_ACTOR.
  absl::StatusOr<std::string> ActorClassName(const std::string& type_key) const;
  // The function name of the constructor of that class whose parameter types have the key
  // `signature_key`; NotFound if none was registered.
  absl::StatusOr<std::string> ActorConstructor(const std::string& type_key,
                                               const std::string& signature_key) const;

  // The key registered under `name`; NotFound if none is.
  absl::StatusOr<std::string> KeyOf(const std::string& name) const;

  // The invoker registered under `name`, or null.
  std::shared_ptr<const Invoker> Find(const std::string& name) const;

  // OK, or AlreadyExists describing every bad registration.
  absl::Status Validate() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const Invoker>> by_name_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> key_of_name_ ABSL_GUARDED_BY(mu_);
  // Node-based: NameOf hands out pointers to the names.
  absl::node_hash_map<std::string, std::string> name_of_key_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::string> actor_class_of_type_ ABSL_GUARDED_BY(mu_);
  // Constructor names by type key + '\0' + signature key.
  absl::flat_hash_map<std::string, std::string> actor_constructors_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> problems_ ABSL_GUARDED_BY(mu_);
};

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_FUNCTION_REGISTRY_H_
