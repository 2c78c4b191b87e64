// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/function_registry.h"

#include <dlfcn.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace unidist::api_internal {

FunctionRegistry& FunctionRegistry::Global() {
  // Never destroyed: registrations run during static initialization and lookups may run
  // during static destruction of other objects.
  static FunctionRegistry* const registry = new FunctionRegistry();
  return *registry;
}

void FunctionRegistry::Register(std::string name, const void* fn, Invoker invoker) {
  absl::MutexLock lock(&mu_);
  if (fn == nullptr || !invoker) {
    problems_.push_back(absl::StrCat("could not register ", name));
    return;
  }
  auto [it, inserted] = address_of_.try_emplace(name, fn);
  if (!inserted) {
    if (it->second != fn) {
      problems_.push_back(
          absl::StrCat("two different functions are registered under the name '", name,
                       "'; register them under qualified names (e.g. ns::", name, ")"));
    }
    return;
  }
  by_name_[name] = std::make_shared<const Invoker>(std::move(invoker));
  name_of_.try_emplace(fn, std::move(name));
}

absl::StatusOr<std::string> FunctionRegistry::NameOf(const void* fn) const {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = name_of_.find(fn);
    if (it != name_of_.end()) return it->second;
  }
  Dl_info info{};
  const std::string symbol = dladdr(fn, &info) != 0 && info.dli_sname != nullptr
                                 ? absl::StrCat(" (", info.dli_sname, ")")
                                 : std::string();
  return absl::NotFoundError(absl::StrCat(
      "the function at ", absl::Hex(reinterpret_cast<uintptr_t>(fn)), symbol,
      " is not registered as a remote function; add UNIDIST_REMOTE(<function>) at "
      "namespace scope in one source file"));
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

bool RegisterFunction(std::string name, const void* fn, Invoker invoker) {
  FunctionRegistry::Global().Register(std::move(name), fn, std::move(invoker));
  return true;
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
