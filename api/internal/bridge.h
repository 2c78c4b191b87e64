// Copyright 2026 The unidist-cpp Authors.
//
// The non-template core under api/unidist.h. The public templates encode and decode
// values with the codec and call these functions with bytes; everything here is defined
// in api/unidist.cc and api/internal/*.cc. Not for users: names and signatures may change.

#ifndef UNIDIST_API_INTERNAL_BRIDGE_H_
#define UNIDIST_API_INTERNAL_BRIDGE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "unidist/common/data_id.h"
#include "unidist/common/object_bytes.h"

namespace unidist::api_internal {

// Keeps one object alive in its store while any ObjectRef copy refers to it. Defined in
// api/internal/runtime.h.
class RefToken;

// What an ObjectRef holds: the id, and the shared token that owns the object. A null
// token means a default-constructed ObjectRef that names no object.
struct RefHandle {
  DataID id;
  std::shared_ptr<const RefToken> token;
};

// An actor, as the Actor<T> handles of one process share it: actor_handle.h.
class ActorHandle;

// The handles a value's codec bytes hold (actor handles, ObjectRefs), which travel as ids
// alone: whoever ships the bytes keeps these alive until the receiver holds them.
struct EncodedHandles {
  std::vector<std::shared_ptr<ActorHandle>> actors;
  std::vector<RefHandle> refs;
  bool empty() const { return actors.empty() && refs.empty(); }
  // Moves `other`'s handles to the end of these.
  void Append(EncodedHandles other);
};

// unidist::Map's inputs: the codec bytes of each, one after another in `bytes`, input i
// ending at ends[i]. One buffer rather than a std::string each: a Map has thousands of
// inputs, and the buffer's slices go to the workers as they are (TaskRequest.map_inputs).
struct MapInputs {
  std::string bytes;
  std::vector<size_t> ends;

  size_t size() const { return ends.size(); }
  // Where input i begins in `bytes`.
  size_t begin(size_t i) const { return i == 0 ? 0 : ends[i - 1]; }
  // Input i's codec bytes.
  absl::string_view at(size_t i) const {
    return absl::string_view(bytes).substr(begin(i), ends[i] - begin(i));
  }
};

// One argument of a task: codec bytes of a value, or a reference to an object.
struct TaskArg {
  std::string value;
  RefHandle ref;
  bool is_ref = false;
  // The handles `value` encodes (see EncodedHandlesScope), kept with the task until it
  // has run so that its worker can take hold of them; null when it holds none (the common
  // case, which then costs a pointer).
  std::unique_ptr<EncodedHandles> held;
};

// Collects the handles the codec encodes on this thread while it lives (the innermost
// scope of the thread, if several are open), so that the caller can keep them alive with
// the value's bytes. Scopes nest and must be closed in reverse order of opening (declare
// them as local variables).
class EncodedHandlesScope {
 public:
  EncodedHandlesScope() : outer_(innermost_) { innermost_ = this; }
  ~EncodedHandlesScope() { innermost_ = outer_; }
  EncodedHandlesScope(const EncodedHandlesScope&) = delete;
  EncodedHandlesScope& operator=(const EncodedHandlesScope&) = delete;

  // True while nothing was recorded (the common case: a value that holds no handle).
  bool empty() const { return handles_.empty(); }
  // The handles encoded so far (each once), leaving none.
  EncodedHandles Take() {
    EncodedHandles taken;
    if (!handles_.empty()) std::swap(taken, handles_);
    return taken;
  }

  // For the codecs of Actor<T> and ObjectRef<T>: records the handle in the innermost open
  // scope, if any.
  static void RecordActor(const std::shared_ptr<ActorHandle>& actor);
  static void RecordRef(const RefHandle& ref);

 private:
  // The innermost scope open on this thread (inline: scopes open on every task's path).
  static inline thread_local EncodedHandlesScope* innermost_ = nullptr;
  EncodedHandles handles_;
  EncodedHandlesScope* const outer_;
};

// True for the value types that can hold no handle (numbers, strings, containers of
// such): their encoding needs no EncodedHandlesScope. False, to be safe, for the rest.
template <typename T, typename = void>
inline constexpr bool kHoldsNoHandles = std::is_arithmetic_v<T> || std::is_enum_v<T>;
template <>
inline constexpr bool kHoldsNoHandles<std::string> = true;
template <typename T>
inline constexpr bool kHoldsNoHandles<std::vector<T>> = kHoldsNoHandles<T>;

// Runs a registered function in a worker: decodes `args`, calls it, and encodes its
// result(s) into `results` (`num_returns` of them). Returns the function's own error
// status, or InvalidArgument/DataLoss when the arguments do not decode. May throw
// whatever the function throws; the caller turns exceptions into statuses.
using Invoker = std::function<absl::Status(const std::vector<absl::string_view>& args,
                                           int num_returns, std::vector<std::string>* results)>;

// Registers the function whose FunctionKey is `key` under `name` (see UNIDIST_REMOTE).
// Returns true so that it can initialize a namespace-scope variable. A name registered
// twice for different functions makes Init fail with AlreadyExists.
bool RegisterFunction(std::string name, std::string key, Invoker invoker);

// Registers a constructor of an actor class (see UNIDIST_ACTOR): the class's name, the key
// of its type (typeid(C).name()), the key of the constructor's parameter types
// (typeid(std::tuple<types...>).name()) and their text as written, and its invoker.
bool RegisterActorClass(std::string class_name, std::string type_key, std::string signature_key,
                        std::string signature_text, Invoker constructor);

// A handle whose object failed with `error` before it reached any store.
RefHandle FailedRef(absl::Status error);

// For unidist::Function: the name the function with FunctionKey `key` (at `address`) was
// registered under, or "" if it was not.
std::string RegisteredName(const std::string& key, const void* address);
// The function registered under `name`, whose pointer type's typeid name is `type_name`:
// its pointer, copied into the `size` bytes at `pointer`. NotFound for an unknown name,
// InvalidArgument for one of another signature.
absl::Status RegisteredFunction(const std::string& name, const std::string& type_name,
                                void* pointer, size_t size);

// Splits the text of UNIDIST_REMOTE's arguments ("f, ns::g, &h") into names
// ("f", "ns::g", "h"), ignoring commas inside template argument lists and parentheses.
std::vector<std::string> SplitFunctionNames(absl::string_view text);

// Stores `bytes` and returns a handle to it. Before Init, the handle's object is failed
// with FailedPrecondition.
RefHandle Put(std::string bytes);

// A value for Put, not encoded yet: `size` codec bytes that `encode` writes into the
// buffer it is given (exactly `size` bytes), and the byte to place on a 64-byte boundary
// (the first element of a vector of numbers; codec ElementsOffset), or 0. Lets the driver
// encode a large value once, straight into the shared-memory store.
struct ValueWriter {
  size_t size = 0;
  size_t aligned_at = 0;
  absl::FunctionRef<absl::Status(char* out)> encode;
};
// Stores the value `value` writes, as Put(std::string) does, keeping what `handles`
// collected (the handles in the value) alive with the object.
RefHandle Put(const ValueWriter& value, EncodedHandlesScope& handles);

// For the result at `index` of the task this thread runs, `size` codec bytes that
// `encode` writes: writes it straight into the shared-memory store if the task's results
// go there (TaskRequest.store_results_from) and it is that large, and returns true; the
// result is then listed in the task's stored values. False otherwise: the caller encodes
// it as usual. `aligned_at`: as in ValueWriter.
bool StoreResultInPlace(size_t size, size_t aligned_at, size_t index,
                        absl::FunctionRef<absl::Status(char* out)> encode);

// Space for a value of `size` codec bytes that the caller writes in place before Seal
// (unidist::Allocate): in the shared-memory store when the driver has one and the value
// is at least Options::shared_memory_min_bytes, else in the heap. `data` is writable
// until Seal; `space` keeps it (a store block or a heap buffer).
struct WritableObject {
  char* data = nullptr;
  size_t size = 0;
  std::shared_ptr<void> space;
  bool in_store = false;
  // In a worker process: the task the driver gave this space in the store to (the
  // executor's AllocateForTask); 0 for the driver's own space and for the heap.
  uint64_t task_id = 0;
};
// For the result at `index` of the task this thread runs, the space `object` (from
// Allocate inside this task): if the driver gave it to this task in the store, lists it
// among the task's stored values as it is, with no copy, empties `object` and returns
// true. False otherwise: the caller sends its bytes.
bool StoreAllocatedResult(WritableObject& object, size_t index);

// Space as above, the byte at `aligned_at` on a 64-byte boundary. ResourceExhausted if
// the store has no room; FailedPrecondition before Init.
absl::StatusOr<WritableObject> Allocate(size_t size, size_t aligned_at);
// Makes the written object an object of the store; its handle.
RefHandle Seal(WritableObject object);

// Submits the registered function `fn` with `args`; returns `num_returns` handles. A task
// whose worker dies is run again up to `max_retries` times.
// `fn_key` is FunctionKey(fn); `fn_address` its address for error messages (or null).
std::vector<RefHandle> Submit(const std::string& fn_key, const void* fn_address,
                              std::vector<TaskArg> args, int num_returns, int max_retries);

// Takes unidist::Map's handles, one per input, in order, as they are made: the caller
// turns each into its ObjectRef at once, with no list of them all in between.
using MapHandleSink = absl::FunctionRef<void(RefHandle)>;

// unidist::Map: calls the registered one-parameter function `fn` once per input of
// `inputs` (codec bytes of its parameter), shipping them in chunks of `chunk_size` (0:
// chosen by the runtime); gives `take` one handle per input, in order.
void Map(const std::string& fn_key, const void* fn_address, const MapInputs& inputs,
         size_t chunk_size, int max_retries, MapHandleSink take);

// An actor, as the Actor<T> handles see it; defined in api/internal/runtime.h. The last
// handle to go ends the actor after the calls submitted to it.
class ActorHandle;

// unidist::kMaxActorConcurrency.
inline constexpr int kMaxActorConcurrency = 1024;

// unidist::ActorOptions, as the runtime takes them.
struct ActorSettings {
  std::string name;
  bool detached = false;
  bool get_if_exists = false;
  int max_restarts = 0;  // -1: without limit
  int max_task_retries = 0;
  int max_concurrency = 1;
};

// Starts a worker process for a new actor of the class registered under `type_key` and
// submits its constructor with `args`. A handle whose calls all fail with the error if
// it could not start (FailedPrecondition before Init, NotFound for an unregistered class,
// AlreadyExists for a name a live actor has).
// `signature_key` names the registered constructor (see RegisterActorClass).
std::shared_ptr<ActorHandle> CreateActor(const std::string& type_key,
                                         const std::string& signature_key,
                                         std::vector<TaskArg> args, const ActorSettings& settings);

// unidist::WasCurrentActorRestarted.
bool WasCurrentActorRestarted();
// unidist::ExitActor (executor.cc), and its driver's side: ends the actor whose key
// (process_manager/worker_pool.h: ActorKey) is `actor_key` (bridge.cc).
absl::Status ExitActor();
absl::Status EndActor(uint64_t actor_key);

// unidist::GetActor: the live actor named `name`; NotFound if there is none,
// InvalidArgument if it is not of the class `type_key`.
absl::StatusOr<std::shared_ptr<ActorHandle>> GetActor(const std::string& name,
                                                      const std::string& type_key);

// For the codec of Actor<T>: the id that stands for `actor` in encoded values (0 for a null
// or failed handle), recorded in the thread's EncodedHandlesScope.
uint64_t EncodeActor(const std::shared_ptr<ActorHandle>& actor);
// The handle of this process for the actor `id` of the class `type_key`, decoded from a
// value: null for 0; a handle whose calls fail if the actor is gone or of another class.
std::shared_ptr<ActorHandle> DecodeActor(uint64_t id, const std::string& type_key);
// For the codec of ObjectRef<T>: records `ref` in the thread's EncodedHandlesScope (its id
// is what travels).
void EncodeRef(const RefHandle& ref);
// This process's handle to the object `id`, decoded from a value: an ObjectRef that keeps
// the object alive; one whose Get fails with NotFound if the object is gone.
RefHandle DecodeRef(const DataID& id);
// Keeps `held` alive while any of the objects `ids` is (their values hold the handles): for
// the results of a task, for instance.
void KeepWithObjects(const std::vector<DataID>& ids, EncodedHandles held);

// Submits a call of the method whose FunctionKey is `method_key` on `actor`.
std::vector<RefHandle> SubmitActorCall(const std::shared_ptr<ActorHandle>& actor,
                                       const std::string& method_key, std::vector<TaskArg> args,
                                       int num_returns);

// Ends the actor at once: its pending calls fail with Cancelled. OK, or
// FailedPrecondition if it is gone already.
absl::Status KillActor(const std::shared_ptr<ActorHandle>& actor);

// A ref that completes when the actor's constructor has run (or failed).
RefHandle ActorCreated(const std::shared_ptr<ActorHandle>& actor);

// unidist::Cancel.
absl::Status Cancel(const RefHandle& ref, bool force);

// The codec bytes of the object, blocking until it is complete or `deadline` passes.
absl::StatusOr<std::shared_ptr<const ObjectBytes>> Get(const RefHandle& ref, absl::Time deadline);

// The bytes of each of `refs` in turn, added to `out`, until the first that fails (its
// error, as Get's; the bytes before it are in `out`).
absl::Status GetAll(const std::vector<const RefHandle*>& refs, absl::Time deadline,
                    GatheredBytes* out);
// What Get of an empty ref returns.
absl::Status EmptyRefError();

// unidist's wait over handles; returns the positions of complete ones (see Wait).
std::vector<size_t> Wait(const std::vector<const RefHandle*>& refs, int num_returns,
                         absl::Time deadline);

// As Wait, drawing a progress bar on `fd` while it blocks if `fd` is a terminal (see
// unidist::ShowProgress), redrawn every `refresh`.
std::vector<size_t> WaitWithProgress(const std::vector<const RefHandle*>& refs, int num_returns,
                                     absl::Time deadline, const std::string& label, int fd,
                                     absl::Duration refresh);

// The deadline `timeout` from now; InfiniteFuture for an infinite timeout.
absl::Time DeadlineIn(absl::Duration timeout);

}  // namespace unidist::api_internal

#endif  // UNIDIST_API_INTERNAL_BRIDGE_H_
