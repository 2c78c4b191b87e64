// Copyright 2026 The unidist-cpp Authors.
//
// Compile-time plumbing for unidist/unidist.h: what a registered function's result type
// is, how its arguments are encoded on the driver and decoded in the worker, how its result
// becomes codec bytes, and the compile-time checks of the public templates' arguments (see
// "Compile-time checks" below). Not for users.

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

// What a function type F (or member function pointer type) takes and returns, and the
// class of a member function. For any other type, kIsFunction is false, Class is void and
// nothing else is defined.
template <typename F>
struct FunctionTraits {
  static constexpr bool kIsFunction = false;
  using Class = void;
};
template <typename R, typename... P>
struct FunctionTraits<R(P...)> {
  static constexpr bool kIsFunction = true;
  using Return = R;
  using Params = std::tuple<P...>;
  static constexpr size_t kArity = sizeof...(P);
  using Class = void;  // not a member function
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

// -----------------------------------------------------------------------------
// Compile-time checks
// -----------------------------------------------------------------------------
//
// The public templates check their arguments with the Check* functions below. Each one
// static_asserts one rule, with a message that says how to fix the call, and returns
// whether the rule holds, so that the caller skips the rest of its body (`if constexpr`)
// and a mistake gives one error instead of a cascade of errors from the code behind it.
// The condition of each static_assert is a variable template over the types involved, so
// that the compiler's note under the message names them:
//
//   error: static assertion failed: unidist: wrong number of arguments ...
//   note: 'unidist::api_internal::kArgumentCountMatches<int(int, int), int>' evaluates
//         to false
//
// A check is a template, instantiated once per set of types in a translation unit, so a
// mistake that several calls repeat (a type without a codec used by UNIDIST_REMOTE, Submit
// and Get) is reported once. Types without a codec are reported by the codec's own check,
// codec_internal::CheckEncodable (unidist/common/codec.h), for the same reason.
// compile_fail_test.sh pins the first error of each common mistake.

// True for the callables unidist::Submit, SubmitTuple and Map take: functions and function
// pointers, which a worker finds by their registered name.
template <typename F>
inline constexpr bool kIsPlainFunction = std::is_function_v<std::remove_pointer_t<std::decay_t<F>>>;

// True when a call of the function type F passes one argument per parameter.
template <typename F, typename... Args>
inline constexpr bool kArgumentCountMatches = FunctionTraits<F>::kArity == sizeof...(Args);

// True when argument number kPosition (from 1), of type Arg, converts to the parameter
// type Param (without const and &).
template <size_t kPosition, typename Arg, typename Param>
inline constexpr bool kArgumentConvertsToParameter = std::is_constructible_v<Param, Arg>;

// True when argument number kPosition (from 1), the ObjectRef type Ref, names a value of
// the parameter type Param: ObjectRef<Param>, or ObjectRef<std::vector<U>> for an
// ArrayView<U> parameter.
template <size_t kPosition, typename Ref, typename Param>
inline constexpr bool kRefArgumentMatchesParameter =
    std::is_same_v<typename IsObjectRef<Ref>::ValueType,
                   typename codec_internal::TagTypeOf<Param>::Type>;

// True when M is a pointer to a member function of class T or of a base class of T.
// (FunctionTraits<M>::Class is void for anything that is not a member function.)
template <typename M, typename T>
inline constexpr bool kIsMethodOf = std::is_same_v<typename FunctionTraits<M>::Class, T> ||
                                    (std::is_class_v<typename FunctionTraits<M>::Class> &&
                                     std::is_base_of_v<typename FunctionTraits<M>::Class, T>);

// True when F is what UNIDIST_REMOTE registers: a function or a member function.
template <typename F>
inline constexpr bool kIsRegistrable = kIsPlainFunction<F> || std::is_member_function_pointer_v<F>;

template <typename F>
constexpr bool CheckPlainFunction() {
  static_assert(kIsPlainFunction<F>,
                "unidist::Submit, SubmitTuple and Map take a function registered with "
                "UNIDIST_REMOTE, by name: unidist::Submit(Square, 7). A lambda, a "
                "std::function or another function object cannot be sent to a worker, which "
                "finds a task by its registered name; a member function runs on an actor: "
                "actor.Submit(&Class::Method, args...). The note below names what was passed.");
  return kIsPlainFunction<F>;
}

template <typename F, typename... Args>
constexpr bool CheckArgumentCount() {
  static_assert(kArgumentCountMatches<F, Args...>,
                "unidist: wrong number of arguments for the function (for CreateActor, the "
                "constructor): pass one per parameter, each a value or an ObjectRef. The note "
                "below names the function's type and the types of the arguments given.");
  return kArgumentCountMatches<F, Args...>;
}

// Checks argument number kPosition (from 1), of type Arg (as deduced for Arg&&), for the
// parameter type Param (without const and &): a value that converts to Param, or an
// ObjectRef of Param; and Param has a codec.
template <size_t kPosition, typename Param, typename Arg>
constexpr bool CheckArgument() {
  using Given = std::decay_t<Arg>;
  // An ObjectRef for a parameter that is not one stands for its value; for an ObjectRef
  // parameter it is passed as it is (borrowed), below.
  if constexpr (IsObjectRef<Given>::value && !IsObjectRef<Param>::value) {
    static_assert(kRefArgumentMatchesParameter<kPosition, Given, Param>,
                  "unidist: an ObjectRef<T> argument needs T to be its parameter's type "
                  "without const and & (std::vector<U> for an ArrayView<U> parameter): pass a "
                  "ref of that type, or Get the value and convert it. The note below names the "
                  "argument's position (from 1), its type and the parameter's type.");
    if constexpr (!kRefArgumentMatchesParameter<kPosition, Given, Param>) {
      return false;
    } else {
      return codec_internal::CheckEncodable<Param>();
    }
  } else {
    static_assert(kArgumentConvertsToParameter<kPosition, Arg, Param>,
                  "unidist: an argument does not convert to its parameter's type: pass a value "
                  "of that type or an ObjectRef of it. The note below names the argument's "
                  "position (from 1), its type and the parameter's type.");
    if constexpr (!kArgumentConvertsToParameter<kPosition, Arg, Param>) {
      return false;
    } else {
      return codec_internal::CheckEncodable<Param>();
    }
  }
}

// Checks that a function returning R can send its result: void, absl::Status, or a type
// with a codec (or an absl::StatusOr of one).
template <typename R>
constexpr bool CheckResult() {
  using Result = ResultType<R>;
  if constexpr (std::is_void_v<Result>) {
    return true;
  } else {
    return codec_internal::CheckEncodable<Result>();
  }
}

// Checks a call of the function type F with Args: the count, then the result type. (Each
// argument is checked where it is encoded, in MakeTaskArg.)
template <typename F, typename... Args>
constexpr bool CheckCall() {
  if constexpr (!CheckArgumentCount<F, Args...>()) {
    return false;
  } else {
    return CheckResult<typename FunctionTraits<F>::Return>();
  }
}

// The result type of a call of F as the public templates type it, or void when F is not a
// function: the type of the ref that a call with a mistake returns after its one error,
// so that the code that uses the ref adds no error of its own.
template <typename F, typename = void>
struct CallResult {
  using Type = void;
};
template <typename F>
struct CallResult<F, std::enable_if_t<FunctionTraits<F>::kIsFunction>> {
  using Type = ResultType<typename FunctionTraits<F>::Return>;
};

// The result type of a call of the callable F with Args, for the Submit overloads that
// reject F (see kIsPlainFunction): the ref they return is typed as the call would be, or
// ObjectRef<void> if F cannot be called so.
template <typename F, typename Args, typename = void>
struct MistakenCallResultOf {
  using Type = void;
};
template <typename F, typename... Args>
struct MistakenCallResultOf<F, std::tuple<Args...>,
                            std::enable_if_t<std::is_invocable_v<F, Args...>>> {
  using Type = ResultType<std::invoke_result_t<F, Args...>>;
};
template <typename F, typename... Args>
using MistakenCallResult = MistakenCallResultOf<F, std::tuple<Args...>>;

template <typename M, typename T>
constexpr bool CheckMethod() {
  static_assert(kIsMethodOf<M, T>,
                "unidist::Actor<T>::Submit takes a member function of T registered with "
                "UNIDIST_REMOTE: actor.Submit(&T::Method, args...). The note below names what "
                "was passed and T.");
  return kIsMethodOf<M, T>;
}

// Encodes argument number kPosition (from 1) of a call for parameter type P: an ObjectRef
// of P's value type is passed by reference; anything else is converted to P's value type
// and encoded. After a failed check (CheckArgument), an empty TaskArg.
template <size_t kPosition, typename P, typename Arg>
TaskArg MakeTaskArg(Arg&& arg) {
  using Param = std::decay_t<P>;
  TaskArg task_arg;
  if constexpr (CheckArgument<kPosition, Param, Arg>()) {
    if constexpr (IsObjectRef<std::decay_t<Arg>>::value && !IsObjectRef<Param>::value) {
      task_arg.ref = arg.handle();
      task_arg.is_ref = true;
    } else if constexpr (kHoldsNoHandles<Param>) {
      EncodeTo(Param(std::forward<Arg>(arg)), &task_arg.value);
    } else {
      EncodedHandlesScope handles;  // handles in the value travel as ids: keep them
      EncodeTo(Param(std::forward<Arg>(arg)), &task_arg.value);
      if (!handles.empty()) task_arg.held = std::make_unique<EncodedHandles>(handles.Take());
    }
  }
  return task_arg;
}

// The TaskArgs of a call of F with `args`, whose count CheckArgumentCount checked.
template <typename F, typename... Args, size_t... I>
std::vector<TaskArg> MakeTaskArgs(std::index_sequence<I...>, Args&&... args) {
  using Params = typename FunctionTraits<F>::Params;
  std::vector<TaskArg> task_args;
  task_args.reserve(sizeof...(Args));
  (task_args.push_back(
       MakeTaskArg<I + 1, std::tuple_element_t<I, Params>>(std::forward<Args>(args))),
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

// Checks that every parameter type and the result type of a function to register have a
// codec.
template <typename R, typename... P>
constexpr bool CheckSignature() {
  return (codec_internal::CheckEncodable<std::decay_t<P>>() && ... && CheckResult<R>());
}

// Runs the function in a worker; an Invoker that is never called after a failed check.
template <typename R, typename... P>
Invoker MakeInvoker(R (*fn)(P...)) {
  if constexpr (!CheckSignature<R, P...>()) {
    return Invoker();
  } else {
    return [fn](const std::vector<absl::string_view>& args, int num_returns,
                std::vector<std::string>* results) {
      return Invocation<R, P...>::Run(fn, std::index_sequence_for<P...>(), args, num_returns,
                                      results);
    };
  }
}

template <typename R, typename... P>
Invoker MakeInvoker(R (*fn)(P...) noexcept) {
  R (*plain)(P...) = fn;  // a noexcept function converts implicitly
  return MakeInvoker(plain);
}

// The actor instance of type C that lives in this worker process (see actor_instance.h).
absl::StatusOr<void*> CurrentActorInstance(const std::type_info& type);

// Inherited methods: lets a method of `base` run on an actor whose class is `derived`, by
// converting the instance's pointer with `upcast` (static_cast, which adjusts for multiple
// and virtual inheritance). Every process of the program registers the same pairs, at
// static initialization (kUpcastRegistered).
void RegisterUpcast(const std::type_info& derived, const std::type_info& base,
                    void* (*upcast)(void*));
template <typename Derived, typename Base>
void* Upcast(void* instance) {
  return static_cast<Base*>(static_cast<Derived*>(instance));
}
// Instantiated by Actor<Derived>::Submit of a method of Base: registers the pair.
template <typename Derived, typename Base>
inline const bool kUpcastRegistered =
    (RegisterUpcast(typeid(Derived), typeid(Base), &Upcast<Derived, Base>), true);

// A method runs on the worker's actor instance.
template <typename C, typename M, typename R, typename... P>
Invoker MakeMethodInvoker(M method) {
  if constexpr (!CheckSignature<R, P...>()) {
    return Invoker();
  } else {
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

// Registers the constructor of C taking Args... as the task
// "<class_name>::<constructor>(<signature_text>)".
template <typename C, typename... Args>
bool RegisterConstructor(const char* class_name, const char* signature_text) {
  auto construct = [](Args&&... args) {
    SetActorInstance(std::make_shared<C>(static_cast<Args&&>(args)...), typeid(C));
  };
  Invoker invoker = [construct](const std::vector<absl::string_view>& args, int num_returns,
                                std::vector<std::string>* results) {
    return Invocation<void, Args...>::Run(construct, std::index_sequence_for<Args...>(), args,
                                          num_returns, results);
  };
  return RegisterActorClass(class_name, typeid(C).name(), typeid(std::tuple<Args...>).name(),
                            signature_text, std::move(invoker));
}

// True when C has a constructor taking Args...
template <typename C, typename... Args>
inline constexpr bool kIsConstructibleFrom = std::is_constructible_v<C, Args...>;

// UNIDIST_ACTOR's implementation: checks the constructor's argument types, then registers
// the constructor.
template <typename C, typename... Args>
bool RegisterActor(const char* class_name, const char* signature_text,
                   std::tuple<Args...>* /*constructor_args*/) {
  static_assert(kIsConstructibleFrom<C, Args...>,
                "UNIDIST_ACTOR(Class, types...): the class has no constructor taking these "
                "argument types; list the types of the constructor's parameters. The note "
                "below names the class and the types.");
  if constexpr (!kIsConstructibleFrom<C, Args...>) {
    return false;
  } else if constexpr (!(codec_internal::CheckEncodable<std::decay_t<Args>>() && ...)) {
    return false;
  } else {
    return RegisterConstructor<C, Args...>(class_name, signature_text);
  }
}

template <typename F>
constexpr bool CheckRegistrable() {
  static_assert(kIsRegistrable<F>,
                "UNIDIST_REMOTE registers functions (UNIDIST_REMOTE(Square)) and member "
                "functions of actor classes (UNIDIST_REMOTE(&Counter::Add)), by name; a lambda "
                "or another function object cannot be registered. The note below names what "
                "was passed.");
  return kIsRegistrable<F>;
}

// Registers each of `fns` under its name in `names_text` (UNIDIST_REMOTE's text).
template <typename... Fns>
bool RegisterEach(const char* names_text, Fns... fns) {
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

// UNIDIST_REMOTE's implementation: one name per function, in order.
template <typename... Fns>
bool RegisterFunctions(const char* names_text, Fns... fns) {
  if constexpr (!(CheckRegistrable<Fns>() && ...)) {
    return false;
  } else {
    return RegisterEach(names_text, fns...);
  }
}

}  // namespace api_internal
}  // namespace unidist

#endif  // UNIDIST_API_INTERNAL_FUNCTION_TRAITS_H_
