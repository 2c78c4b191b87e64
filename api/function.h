// Copyright 2026 The unidist-cpp Authors.
//
// unidist::Function<R(Args...)>: a function registered with UNIDIST_REMOTE, as a value
// (unidist's put of a function, Ray's function handles). It can be Put, passed to tasks
// and actors, kept in containers and structs, and returned; wherever it arrives it calls
// the same function, in that process, or submits it as a task:
//
//   int Square(int x) { return x * x; }
//   int ApplyTwice(unidist::Function<int(int)> f, int x) { return f(f(x)); }
//   UNIDIST_REMOTE(Square, ApplyTwice);
//
//   unidist::Function<int(int)> square = Square;
//   unidist::Submit(ApplyTwice, square, 3);        // 81, computed in a worker
//   unidist::Submit(square, 4);                    // 16: a Function submits as its function
//
// It travels as the function's registered name, which every process of the program
// resolves to its own copy of the function (the processes of an MPI job are not forks, so
// an address would not do). A function not registered with UNIDIST_REMOTE travels as an
// empty Function, as does a null one; calling an empty Function throws
// std::bad_function_call (inside a task, the task fails with kUnknown saying so).

#ifndef UNIDIST_API_FUNCTION_H_
#define UNIDIST_API_FUNCTION_H_

#include <functional>
#include <string>
#include <typeinfo>
#include <utility>

#include "absl/status/status.h"
#include "unidist/common/codec.h"
#include "unidist/internal/bridge.h"
#include "unidist/internal/function_traits.h"
#include "unidist/unidist.h"

namespace unidist {

template <typename Signature>
class Function;

// See the file comment.
template <typename R, typename... Args>
class Function<R(Args...)> {
 public:
  using Pointer = R (*)(Args...);

  // An empty Function.
  Function() = default;
  // The function `fn` (registered with UNIDIST_REMOTE to travel).
  Function(Pointer fn) : fn_(fn) {}  // NOLINT(google-explicit-constructor): as std::function

  // Calls the function here, in this process.
  R operator()(Args... args) const {
    if (fn_ == nullptr) throw std::bad_function_call();
    return fn_(std::forward<Args>(args)...);
  }

  // The function, or null.
  Pointer get() const { return fn_; }
  explicit operator bool() const { return fn_ != nullptr; }
  friend bool operator==(const Function& a, const Function& b) { return a.fn_ == b.fn_; }
  friend bool operator!=(const Function& a, const Function& b) { return a.fn_ != b.fn_; }

 private:
  Pointer fn_ = nullptr;
};

// A Function in encoded values: the function's registered name ("" for an empty one or
// one not registered).
template <typename R, typename... Args>
struct Codec<Function<R(Args...)>> {
  using Pointer = typename Function<R(Args...)>::Pointer;
  // The shortest encoding: the empty name.
  static constexpr size_t kMinEncodedSize = 1;
  // Writes the function's registered name.
  static void Encode(const Function<R(Args...)>& function, Encoder& out) {
    std::string name;
    if (Pointer fn = function.get(); fn != nullptr) {
      name = api_internal::RegisteredName(api_internal::FunctionKey(fn),
                                          reinterpret_cast<const void*>(fn));
    }
    Codec<std::string>::Encode(name, out);
  }
  // The function registered under the name in this process; InvalidArgument if none of
  // this signature is.
  static absl::Status Decode(Decoder& in, Function<R(Args...)>* function) {
    std::string name;
    if (absl::Status read = Codec<std::string>::Decode(in, &name); !read.ok()) return read;
    if (name.empty()) {
      *function = Function<R(Args...)>();
      return absl::OkStatus();
    }
    Pointer fn = nullptr;
    if (absl::Status found =
            api_internal::RegisteredFunction(name, typeid(Pointer).name(), &fn, sizeof(fn));
        !found.ok()) {
      return found;
    }
    *function = Function<R(Args...)>(fn);
    return absl::OkStatus();
  }
};

// Submit of a Function: as Submit of the function it holds (`options` may come first). An
// empty Function fails every result with InvalidArgument.
template <typename R, typename... P, typename... Args>
auto Submit(const TaskOptions& options, const Function<R(P...)>& fn, Args&&... args) {
  if (!fn) {
    using Result = typename api_internal::CallResult<R(P...)>::Type;
    return ObjectRef<Result>::FromHandle(api_internal::FailedRef(
        absl::InvalidArgumentError("Submit of an empty unidist::Function")));
  }
  return Submit(options, fn.get(), std::forward<Args>(args)...);
}
template <typename R, typename... P, typename... Args>
auto Submit(const Function<R(P...)>& fn, Args&&... args) {
  return Submit(TaskOptions(), fn, std::forward<Args>(args)...);
}

}  // namespace unidist

#endif  // UNIDIST_API_FUNCTION_H_
