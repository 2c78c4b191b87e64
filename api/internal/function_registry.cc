// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/function_registry.h"

#include <dlfcn.h>

#include <cstring>

#include "absl/debugging/symbolize.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "unidist/common/codec.h"

namespace unidist::api_internal {

FunctionRegistry& FunctionRegistry::Global() {
  // Never destroyed: registrations run during static initialization and lookups may run
  // during static destruction of other objects.
  static FunctionRegistry* const registry = new FunctionRegistry();
  return *registry;
}

std::string ActorConstructorName(absl::string_view class_name, absl::string_view signature_text) {
  return absl::StrCat(class_name, "::<constructor>(", signature_text, ")");
}

void FunctionRegistry::Register(std::string name, std::string key, Invoker invoker) {
  absl::MutexLock lock(&mu_);
  if (key.empty() || !invoker) {
    problems_.push_back(absl::StrCat("could not register ", name));
    return;
  }
  auto [it, inserted] = key_of_name_.try_emplace(name, key);
  if (!inserted) {
    if (it->second != key) {
      problems_.push_back(
          absl::StrCat("two different functions are registered under the name '", name,
                       "'; register them under qualified names (e.g. ns::", name, ")"));
    }
    return;
  }
  by_name_[name] = std::make_shared<const Invoker>(std::move(invoker));
  name_of_key_.try_emplace(std::move(key), std::move(name));
}

void FunctionRegistry::RegisterActorClass(std::string class_name, std::string type_key,
                                          std::string signature_key, std::string signature_text,
                                          Invoker constructor) {
  std::string name = ActorConstructorName(class_name, signature_text);
  Register(name, absl::StrCat("actor:", type_key, ":", signature_key), std::move(constructor));
  absl::MutexLock lock(&mu_);
  actor_constructors_.try_emplace(absl::StrCat(type_key, absl::string_view("\0", 1), signature_key),
                                  std::move(name));
  actor_class_of_type_.try_emplace(std::move(type_key), std::move(class_name));
}

absl::StatusOr<std::string> FunctionRegistry::ActorConstructor(
    const std::string& type_key, const std::string& signature_key) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it =
      actor_constructors_.find(absl::StrCat(type_key, absl::string_view("\0", 1), signature_key));
  if (it == actor_constructors_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "no constructor of the actor class (", type_key, ") takes the parameter types (",
        signature_key, "); register it with UNIDIST_ACTOR(<class>, <its parameter types>)"));
  }
  return it->second;
}

namespace {

// The name of the function at `address`, demangled, for errors: from the program's own
// symbol table (absl::Symbolize reads it, static functions included), else from the
// dynamic one (dladdr); empty if neither knows it.
std::string SymbolAt(const void* address) {
  char symbol[2048];
  if (absl::Symbolize(address, symbol, sizeof(symbol))) return symbol;
  Dl_info info{};
  if (dladdr(address, &info) != 0 && info.dli_sname != nullptr) return info.dli_sname;
  return "";
}

// Names the function a FunctionKey `key` (and, for a plain function, its `address`) is
// for: "the function ns::Fn(int)", "the member function Counter::Add(int)".
std::string DescribeFunction(const std::string& key, const void* address) {
  if (address != nullptr) {
    const std::string symbol = SymbolAt(address);
    return symbol.empty()
               ? absl::StrCat("the function at ", absl::Hex(reinterpret_cast<uintptr_t>(address)))
               : absl::StrCat("the function ", symbol);
  }
  // A member function: its key is its pointer's type, a NUL and the pointer's bytes. In
  // the Itanium C++ ABI a pointer to a non-virtual member function starts with the
  // function's address (an even number; a virtual one's is 1 + its vtable offset).
  const size_t end = key.find('\0');
  const std::string type = codec_internal::Demangle(key.substr(0, end).c_str());
  uintptr_t pointer = 0;
  if (end != std::string::npos && key.size() >= end + 1 + sizeof(pointer)) {
    std::memcpy(&pointer, key.data() + end + 1, sizeof(pointer));
  }
  if (pointer != 0 && pointer % 2 == 0) {
    const std::string symbol = SymbolAt(reinterpret_cast<const void*>(pointer));
    if (!symbol.empty()) return absl::StrCat("the member function ", symbol);
  }
  return absl::StrCat("the member function of type ", type);
}

}  // namespace

absl::StatusOr<const std::string*> FunctionRegistry::NameOf(const std::string& key,
                                                            const void* address) const {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = name_of_key_.find(key);
    if (it != name_of_key_.end()) return &it->second;
  }
  return absl::NotFoundError(
      absl::StrCat(DescribeFunction(key, address),
                   " is not registered as a remote function; add UNIDIST_REMOTE(<function>) at "
                   "namespace scope in one source file"));
}

absl::StatusOr<std::string> FunctionRegistry::ActorClassName(const std::string& type_key) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = actor_class_of_type_.find(type_key);
  if (it == actor_class_of_type_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "the class (", type_key,
        ") is not registered as an actor; add UNIDIST_ACTOR(<class>, <constructor argument "
        "types>) at namespace scope, in the class's namespace"));
  }
  return it->second;
}

absl::StatusOr<std::string> FunctionRegistry::KeyOf(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = key_of_name_.find(name);
  if (it == key_of_name_.end()) {
    return absl::NotFoundError(absl::StrCat("no function is registered as '", name, "'"));
  }
  return it->second;
}

std::shared_ptr<const Invoker> FunctionRegistry::Find(const std::string& name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

absl::Status FunctionRegistry::Validate() const {
  absl::ReaderMutexLock lock(&mu_);
  if (problems_.empty()) return absl::OkStatus();
  return absl::AlreadyExistsError(absl::StrJoin(problems_, "; "));
}

bool RegisterFunction(std::string name, std::string key, Invoker invoker) {
  FunctionRegistry::Global().Register(std::move(name), std::move(key), std::move(invoker));
  return true;
}

bool RegisterActorClass(std::string class_name, std::string type_key, std::string signature_key,
                        std::string signature_text, Invoker constructor) {
  FunctionRegistry::Global().RegisterActorClass(std::move(class_name), std::move(type_key),
                                                std::move(signature_key), std::move(signature_text),
                                                std::move(constructor));
  return true;
}

std::string RegisteredName(const std::string& key, const void* address) {
  absl::StatusOr<const std::string*> name = FunctionRegistry::Global().NameOf(key, address);
  return name.ok() ? **name : std::string();
}

absl::Status RegisteredFunction(const std::string& name, const std::string& type_name,
                                void* pointer, size_t size) {
  absl::StatusOr<std::string> found = FunctionRegistry::Global().KeyOf(name);
  if (!found.ok()) return found.status();
  const std::string& key = *found;
  // A key is the pointer's type name, a NUL, then the pointer's bytes (FunctionKey).
  const size_t end = key.find('\0');
  if (end == std::string::npos || key.compare(0, end, type_name) != 0 ||
      key.size() != end + 1 + size) {
    return absl::InvalidArgumentError(absl::StrCat("the function registered as '", name,
                                                   "' has another signature than the "
                                                   "unidist::Function it is decoded as"));
  }
  std::memcpy(pointer, key.data() + end + 1, size);
  return absl::OkStatus();
}

std::vector<std::string> SplitFunctionNames(absl::string_view text) {
  std::vector<std::string> names;
  int depth = 0;
  size_t start = 0;
  auto add = [&](size_t end) {
    absl::string_view name = absl::StripAsciiWhitespace(text.substr(start, end - start));
    absl::ConsumePrefix(&name, "&");
    name = absl::StripAsciiWhitespace(name);
    absl::ConsumePrefix(&name, "::");
    names.emplace_back(name);
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<' || c == '(') ++depth;
    if ((c == '>' || c == ')') && depth > 0) --depth;
    if (c == ',' && depth == 0) {
      add(i);
      start = i + 1;
    }
  }
  add(text.size());
  return names;
}

}  // namespace unidist::api_internal
