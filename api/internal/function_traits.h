// Copyright 2026 The unidist-cpp Authors.
//
// Compile-time plumbing for api/unidist.h: what a registered function's result type is,
// how its arguments are encoded on the driver and decoded in the worker, and how its
// result becomes codec bytes. Not for users.

#ifndef UNIDIST_API_INTERNAL_FUNCTION_TRAITS_H_
#define UNIDIST_API_INTERNAL_FUNCTION_TRAITS_H_

#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "api/internal/bridge.h"
#include "common/codec.h"

namespace unidist {

template <typename T>
class ObjectRef;

namespace api_internal {

template <typename T>
struct IsObjectRef : std::false_type {};
template <typename T>
struct IsObjectRef<ObjectRef<T>> : std::true_type {
  using ValueType = T;
};

template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {
  using ValueType = T;
};

template <typename T>
struct IsTuple : std::false_type {};
template <typename... T>
struct IsTuple<std::tuple<T...>> : std::true_type {};

// The value type a task returning R resolves to: void for void and absl::Status, X for
// absl::StatusOr<X>, R otherwise.
template <typename R>
struct ResultOf {
  using Type = R;
};
template <>
struct ResultOf<absl::Status> {
  using Type = void;
};
template <typename X>
struct ResultOf<absl::StatusOr<X>> {
  using Type = X;
};
template <typename R>
using ResultType = typename ResultOf<std::decay_t<R>>::Type;

template <typename F>
struct FunctionTraits;
template <typename R, typename... P>
struct FunctionTraits<R(P...)> {
  using Return = R;
  using Params = std::tuple<P...>;
  static constexpr size_t kArity = sizeof...(P);
};
template <typename R, typename... P>
struct FunctionTraits<R(P...) noexcept> : FunctionTraits<R(P...)> {};

// Encodes one Submit argument for parameter type P: an ObjectRef of P's value type is
// passed by reference; anything else is converted to P's value type and encoded.
template <typename P, typename Arg>
TaskArg MakeTaskArg(Arg&& arg) {
  using Value = std::decay_t<P>;
  using Given = std::decay_t<Arg>;
  if constexpr (IsObjectRef<Given>::value) {
    static_assert(std::is_same_v<typename IsObjectRef<Given>::ValueType, Value>,
                  "unidist::Submit: an ObjectRef<T> argument must have T equal to the "
                  "parameter's type (without const and &)");
    TaskArg task_arg;
    task_arg.ref = arg.handle();
    task_arg.is_ref = true;
    return task_arg;
  } else {
    static_assert(std::is_constructible_v<Value, Arg&&>,
                  "unidist::Submit: an argument does not convert to the parameter's type");
    static_assert(kIsEncodable<Value>,
                  "unidist::Submit: a parameter type has no codec; see common/codec.h for "
                  "how to make a type encodable");
    TaskArg task_arg;
    EncodeTo(Value(std::forward<Arg>(arg)), &task_arg.value);
    return task_arg;
  }
}

template <typename F, typename... Args, size_t... I>
std::vector<TaskArg> MakeTaskArgs(std::index_sequence<I...>, Args&&... args) {
  using Params = typename FunctionTraits<F>::Params;
  std::vector<TaskArg> task_args;
  task_args.reserve(sizeof...(Args));
  (task_args.push_back(MakeTaskArg<std::tuple_element_t<I, Params>>(std::forward<Args>(args))),
   ...);
  return task_args;
}

// Encodes a task's value into `results`: whole, or one element per result for
// SubmitTuple.
template <typename X>
absl::Status EncodeResult(X&& value, int num_returns, std::vector<std::string>* results) {
  using Value = std::decay_t<X>;
  if (num_returns == 1) {
    results->push_back(Encode(value));
    return absl::OkStatus();
  }
  if constexpr (IsTuple<Value>::value) {
    if (num_returns == static_cast<int>(std::tuple_size_v<Value>)) {
      std::apply([results](auto&... element) { (results->push_back(Encode(element)), ...); },
                 value);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("the task was asked for ", num_returns, " results but returns ",
                   TypeName<Value>()));
}

// Decodes the arguments, calls `fn` and encodes what it returns.
template <typename R, typename... P, size_t... I>
absl::Status InvokeWithIndexes(R (*fn)(P...), std::index_sequence<I...>,
                               const std::vector<absl::string_view>& args, int num_returns,
                               std::vector<std::string>* results) {
  if (args.size() != sizeof...(P)) {
    return absl::InvalidArgumentError(absl::StrCat("the function takes ", sizeof...(P),
                                                   " arguments, the task has ", args.size()));
  }
  std::tuple<std::decay_t<P>...> values;
  absl::Status decoded;
  auto decode_one = [&](auto index, auto* value) {
    if (!decoded.ok()) return;
    using Value = std::remove_pointer_t<decltype(value)>;
    absl::StatusOr<Value> result = Decode<Value>(args[decltype(index)::value]);
    if (result.ok()) {
      *value = std::move(*result);
    } else {
      decoded = absl::Status(result.status().code(),
                             absl::StrCat("argument ", decltype(index)::value + 1, " (",
                                          TypeName<Value>(), "): ", result.status().message()));
    }
  };
  (decode_one(std::integral_constant<size_t, I>(), &std::get<I>(values)), ...);
  (void)decode_one;  // unused for functions without parameters
  if (!decoded.ok()) return decoded;

  // By-value and rvalue-reference parameters get the decoded value moved in; lvalue
  // references bind to it.
  if constexpr (std::is_void_v<R>) {
    fn(static_cast<P&&>(std::get<I>(values))...);
    results->assign(static_cast<size_t>(num_returns), std::string());
    return absl::OkStatus();
  } else {
    R returned = fn(static_cast<P&&>(std::get<I>(values))...);
    if constexpr (std::is_same_v<std::decay_t<R>, absl::Status>) {
      if (!returned.ok()) return returned;
      results->assign(static_cast<size_t>(num_returns), std::string());
      return absl::OkStatus();
    } else if constexpr (IsStatusOr<std::decay_t<R>>::value) {
      if (!returned.ok()) return returned.status();
      return EncodeResult(std::move(returned).value(), num_returns, results);
    } else {
      return EncodeResult(std::move(returned), num_returns, results);
    }
  }
}

template <typename R, typename... P>
Invoker MakeInvoker(R (*fn)(P...)) {
  static_assert((kIsEncodable<std::decay_t<P>> && ...),
                "UNIDIST_REMOTE: every parameter type needs a codec; see common/codec.h");
  using Result = ResultType<R>;
  static_assert(std::is_void_v<Result> || kIsEncodable<Result>,
                "UNIDIST_REMOTE: the return type needs a codec; see common/codec.h");
  return [fn](const std::vector<absl::string_view>& args, int num_returns,
              std::vector<std::string>* results) {
    return InvokeWithIndexes(fn, std::index_sequence_for<P...>(), args, num_returns, results);
  };
}

template <typename R, typename... P>
Invoker MakeInvoker(R (*fn)(P...) noexcept) {
  R (*plain)(P...) = fn;  // a noexcept function converts implicitly
  return MakeInvoker(plain);
}

// UNIDIST_REMOTE's implementation: one name per function, in order.
template <typename... Fns>
bool RegisterFunctions(const char* names_text, Fns... fns) {
  const std::vector<std::string> names = SplitFunctionNames(names_text);
  if (names.size() != sizeof...(Fns)) {
    return RegisterFunction(std::string("<unparsable UNIDIST_REMOTE(") + names_text + ")>",
                            nullptr, nullptr);
  }
  size_t i = 0;
  bool ok = true;
  ((ok = RegisterFunction(names[i++], reinterpret_cast<const void*>(fns), MakeInvoker(fns)) &&
         ok),
   ...);
  return ok;
}

}  // namespace api_internal
}  // namespace unidist

#endif  // UNIDIST_API_INTERNAL_FUNCTION_TRAITS_H_
