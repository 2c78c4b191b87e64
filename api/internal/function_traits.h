// Copyright 2026 The unidist-cpp Authors.
//
// Compile-time plumbing for api/unidist.h: what a registered function's result type is,
// how its arguments are encoded on the driver and decoded in the worker, and how its
// result becomes codec bytes. Not for users.

#ifndef UNIDIST_API_INTERNAL_FUNCTION_TRAITS_H_
#define UNIDIST_API_INTERNAL_FUNCTION_TRAITS_H_

#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "unidist/common/codec.h"
#include "unidist/internal/bridge.h"

namespace unidist {

template <typename T>
class ObjectRef;
template <typename T>
class WritableArray;

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

// The value type a task returning R resolves to: void for void and absl::Status,
// std::vector<T> for a WritableArray<T> (api/shared_arrays.h), that of X for
// absl::StatusOr<X>, R otherwise.
template <typename R>
struct ResultOf {
  using Type = R;
};
template <>
struct ResultOf<absl::Status> {
  using Type = void;
};
template <typename T>
struct ResultOf<WritableArray<T>> {
  using Type = std::vector<T>;
};
template <typename X>
struct ResultOf<absl::StatusOr<X>> {
  using Type = typename ResultOf<X>::Type;
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
// Member functions (actor methods): the class is not a parameter.
template <typename R, typename C, typename... P>
struct FunctionTraits<R (C::*)(P...)> : FunctionTraits<R(P...)> {
  using Class = C;
};
template <typename R, typename C, typename... P>
struct FunctionTraits<R (C::*)(P...) const> : FunctionTraits<R (C::*)(P...)> {};
template <typename R, typename C, typename... P>
struct FunctionTraits<R (C::*)(P...) noexcept> : FunctionTraits<R (C::*)(P...)> {};
template <typename R, typename C, typename... P>
struct FunctionTraits<R (C::*)(P...) const noexcept> : FunctionTraits<R (C::*)(P...)> {};

// Encodes one Submit argument for parameter type P: an ObjectRef of P's value type is
// passed by reference; anything else is converted to P's value type and encoded.
template <typename P, typename Arg>
TaskArg MakeTaskArg(Arg&& arg) {
  using Value = std::decay_t<P>;
  using Given = std::decay_t<Arg>;
  if constexpr (IsObjectRef<Given>::value) {
    // A view parameter (ArrayView<T>) reads the object its owning type (std::vector<T>)
    // names.
    static_assert(std::is_same_v<typename IsObjectRef<Given>::ValueType,
                                 typename codec_internal::TagTypeOf<Value>::Type>,
                  "unidist::Submit: an ObjectRef<T> argument must have T equal to the "
                  "parameter's type (without const and &), or to std::vector<U> for an "
                  "ArrayView<U> parameter");
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

// Appends one result: encoded once, straight into the shared-memory store if it is large
// (an empty string then stands for it; StoreResultInPlace), else into a string.
template <typename T>
void AppendResult(const T& value, std::vector<std::string>* results) {
  const size_t size = EncodedSize(value);
  if (StoreResultInPlace(size, ElementsOffset(value), results->size(),
                         [&value, size](char* out) { return EncodeInto(value, out, size); })) {
    results->emplace_back();
    return;
  }
  std::string& bytes = results->emplace_back(size, '\0');
  EncodeInto(value, bytes.data(), size).IgnoreError();  // `size` is its size
}

// Appends an array the task filled in (unidist::Allocate, then returned): the space it
// lies in becomes the result, without a copy, if the driver gave it to this task in the
// store; else its bytes (already the encoding of a std::vector<T>) are the result.
// Defined in api/shared_arrays.h, where WritableArray is.
template <typename T>
void AppendResult(WritableArray<T>& array, std::vector<std::string>* results);

// Encodes a task's value into `results`: whole, or one element per result for
// SubmitTuple.
template <typename X>
absl::Status EncodeResult(X&& value, int num_returns, std::vector<std::string>* results) {
  using Value = std::decay_t<X>;
  if (num_returns == 1) {
    AppendResult(value, results);
    return absl::OkStatus();
  }
  if constexpr (IsTuple<Value>::value) {
    if (num_returns == static_cast<int>(std::tuple_size_v<Value>)) {
      std::apply([results](auto&... element) { (AppendResult(element, results), ...); }, value);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("the task was asked for ", num_returns,
                                                 " results but returns ", TypeName<Value>()));
}

// Runs a task in a worker for a callable with result type R and parameters P...: decodes
// the arguments, calls, and encodes what it returns.
template <typename R, typename... P>
struct Invocation {
  template <typename Call, size_t... I>
  static absl::Status Run(Call&& call, std::index_sequence<I...>,
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
      call(static_cast<P&&>(std::get<I>(values))...);
      results->assign(static_cast<size_t>(num_returns), std::string());
      return absl::OkStatus();
    } else {
      R returned = call(static_cast<P&&>(std::get<I>(values))...);
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
};

template <typename R, typename... P>
void CheckEncodable() {
  static_assert((kIsEncodable<std::decay_t<P>> && ...),
                "UNIDIST_REMOTE: every parameter type needs a codec; see common/codec.h");
  using Result = ResultType<R>;
  static_assert(std::is_void_v<Result> || kIsEncodable<Result>,
                "UNIDIST_REMOTE: the return type needs a codec; see common/codec.h");
}

template <typename R, typename... P>
Invoker MakeInvoker(R (*fn)(P...)) {
  CheckEncodable<R, P...>();
  return [fn](const std::vector<absl::string_view>& args, int num_returns,
              std::vector<std::string>* results) {
    return Invocation<R, P...>::Run(fn, std::index_sequence_for<P...>(), args, num_returns,
                                    results);
  };
}

template <typename R, typename... P>
Invoker MakeInvoker(R (*fn)(P...) noexcept) {
  R (*plain)(P...) = fn;  // a noexcept function converts implicitly
  return MakeInvoker(plain);
}

// The actor instance of type C that lives in this worker process (see actor_instance.h).
absl::StatusOr<void*> CurrentActorInstance(const std::type_info& type);

// A method runs on the worker's actor instance.
template <typename C, typename M, typename R, typename... P>
Invoker MakeMethodInvoker(M method) {
  CheckEncodable<R, P...>();
  return [method](const std::vector<absl::string_view>& args, int num_returns,
                  std::vector<std::string>* results) -> absl::Status {
    absl::StatusOr<void*> instance = CurrentActorInstance(typeid(C));
    if (!instance.ok()) return instance.status();
    C* self = static_cast<C*>(*instance);
    auto call = [self, method](P&&... params) -> decltype(auto) {
      return (self->*method)(static_cast<P&&>(params)...);
    };
    return Invocation<R, P...>::Run(call, std::index_sequence_for<P...>(), args, num_returns,
                                    results);
  };
}

template <typename R, typename C, typename... P>
Invoker MakeInvoker(R (C::*method)(P...)) {
  return MakeMethodInvoker<C, decltype(method), R, P...>(method);
}
template <typename R, typename C, typename... P>
Invoker MakeInvoker(R (C::*method)(P...) const) {
  return MakeMethodInvoker<C, decltype(method), R, P...>(method);
}
template <typename R, typename C, typename... P>
Invoker MakeInvoker(R (C::*method)(P...) noexcept) {
  return MakeMethodInvoker<C, decltype(method), R, P...>(method);
}
template <typename R, typename C, typename... P>
Invoker MakeInvoker(R (C::*method)(P...) const noexcept) {
  return MakeMethodInvoker<C, decltype(method), R, P...>(method);
}

// The function type `void(Args...)` for a constructor taking std::tuple<Args...>, so that
// MakeTaskArgs can encode CreateActor's arguments as the constructor's parameter types.
template <typename Tuple>
struct ConstructorSignature;
template <typename... Args>
struct ConstructorSignature<std::tuple<Args...>> {
  using Type = void(Args...);
};

// The registry's key for a function or member function pointer: its type and its bytes
// (member function pointers cannot be converted to void*).
template <typename F>
std::string FunctionKey(F fn) {
  static_assert(std::is_trivially_copyable_v<F>);
  std::string key(typeid(F).name());
  key.push_back('\0');
  key.append(reinterpret_cast<const char*>(&fn), sizeof(fn));
  return key;
}

// The address of a plain function, for error messages; null for member functions.
template <typename F>
const void* FunctionAddress(F fn) {
  if constexpr (std::is_pointer_v<F>) {
    return reinterpret_cast<const void*>(fn);
  } else {
    return nullptr;
  }
}

// Marks this worker process's actor instance, made by an actor's constructor task.
void SetActorInstance(std::shared_ptr<void> instance, const std::type_info& type);

// UNIDIST_ACTOR's implementation: registers the constructor of C taking Args... as the
// task "<class_name>::<constructor>".
template <typename C, typename... Args>
bool RegisterActor(const char* class_name, std::tuple<Args...>* /*constructor_args*/) {
  static_assert((kIsEncodable<std::decay_t<Args>> && ...),
                "UNIDIST_ACTOR: every constructor argument type needs a codec");
  static_assert(std::is_constructible_v<C, Args...>,
                "UNIDIST_ACTOR: the class has no constructor taking these argument types");
  auto construct = [](Args&&... args) {
    SetActorInstance(std::make_shared<C>(static_cast<Args&&>(args)...), typeid(C));
  };
  Invoker invoker = [construct](const std::vector<absl::string_view>& args, int num_returns,
                                std::vector<std::string>* results) {
    return Invocation<void, Args...>::Run(construct, std::index_sequence_for<Args...>(), args,
                                          num_returns, results);
  };
  return RegisterActorClass(class_name, typeid(C).name(), std::move(invoker));
}

// UNIDIST_REMOTE's implementation: one name per function, in order.
template <typename... Fns>
bool RegisterFunctions(const char* names_text, Fns... fns) {
  const std::vector<std::string> names = SplitFunctionNames(names_text);
  if (names.size() != sizeof...(Fns)) {
    return RegisterFunction(std::string("<unparsable UNIDIST_REMOTE(") + names_text + ")>",
                            std::string(), nullptr);
  }
  size_t i = 0;
  bool ok = true;
  ((ok = RegisterFunction(names[i++], FunctionKey(fns), MakeInvoker(fns)) && ok), ...);
  return ok;
}

}  // namespace api_internal
}  // namespace unidist

#endif  // UNIDIST_API_INTERNAL_FUNCTION_TRAITS_H_
