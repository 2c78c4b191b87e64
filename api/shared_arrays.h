// Copyright 2026 The unidist-cpp Authors.
//
// Large arrays without copies: GetView reads an object where it lies, Allocate and Seal
// write one where it is going to lie.
//
// Objects of at least Options::shared_memory_min_bytes live in the session's
// shared-memory store (Options::object_store_memory), which the driver and every worker
// map. Get copies an object out of it into a new std::vector; these calls do not:
//
//   // Read a task's 1 GiB result in place, in O(1) whatever its size.
//   absl::StatusOr<unidist::ObjectView<double>> column = unidist::GetView(ref);
//   if (!column.ok()) { std::cerr << column.status() << "\n"; return 1; }
//   double first = (*column)[0];
//
//   // Fill an array straight in the store, then make it an object: no copy at all.
//   absl::StatusOr<unidist::WritableArray<double>> out = unidist::Allocate<double>(n);
//   if (!out.ok()) { std::cerr << out.status() << "\n"; return 1; }
//   for (size_t i = 0; i < n; ++i) (*out)[i] = i * 0.5;
//   unidist::ObjectRef<std::vector<double>> ref = unidist::Seal(*std::move(out));
//
//   // A task that returns what it allocated: its result is that very space, no copy.
//   absl::StatusOr<unidist::WritableArray<double>> Scale(unidist::ArrayView<double> x) {
//     absl::StatusOr<unidist::WritableArray<double>> y = unidist::Allocate<double>(x.size());
//     if (!y.ok()) return y.status();
//     for (size_t i = 0; i < x.size(); ++i) (*y)[i] = 2 * x[i];
//     return y;
//   }
//   UNIDIST_REMOTE(Scale);  // Submit(Scale, ref) gives an ObjectRef<std::vector<double>>
//
// A task may return a WritableArray<T> (or absl::StatusOr of one) as its one result: the
// ref is an ObjectRef<std::vector<T>>. Allocate inside a task takes space in the store
// for that task (when the array is large enough), which the task fills in at memory speed
// and returns without a copy; space it does not return is freed with the task's outcome,
// also when its worker dies. Sealing it inside the task instead makes a copy.
//
// All of this works for objects of any size and on every backend: a small object, or one
// on a backend without a store (sequential, mpi), lives in the heap, and then GetView
// views that and Seal stores the heap buffer (inside a task, Seal sends it to the driver,
// as Put does). So does an array allocated on a thread the task started.
//
// Element types: those the codec copies as bytes (numbers and enums with a fixed
// underlying type, as for ArrayView; not bool). In the store the first element sits on a
// 64-byte boundary, so data() is a usable T*.
//
// Thread safety: an ObjectView may be read from any number of threads; a WritableArray
// belongs to one thread at a time.

#ifndef UNIDIST_API_SHARED_ARRAYS_H_
#define UNIDIST_API_SHARED_ARRAYS_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "unidist/common/array_view.h"
#include "unidist/common/codec.h"
#include "unidist/unidist.h"

namespace unidist {

// A read-only view of the elements of an object of type std::vector<T> (from GetView).
// The object's bytes stay alive, in the store, while any copy of the view does — even
// after the ObjectRef is gone, and after Shutdown. Copying a view copies no element.
template <typename T>
class ObjectView {
  static_assert(codec_internal::kIsMemcpyable<T> && !std::is_same_v<T, bool>,
                "unidist::ObjectView<T> needs a T the codec copies as bytes (numbers, fixed "
                "enums)");

 public:
  using value_type = T;

  // An empty view.
  ObjectView() = default;

  size_t size() const { return elements_.size(); }
  bool empty() const { return elements_.empty(); }
  // Element `i` (< size()).
  T operator[](size_t i) const { return elements_[i]; }
  // The elements as a T array; nullptr if they are not aligned for T (a small object in
  // the heap may not be; one in the store always is) or the view is empty.
  const T* data() const { return elements_.data(); }
  // The elements as an ArrayView (valid while this view lives).
  ArrayView<T> view() const { return elements_; }
  // A copy of the elements.
  std::vector<T> ToVector() const { return elements_.ToVector(); }

  // For GetView.
  ObjectView(std::shared_ptr<const void> keeper, ArrayView<T> elements)
      : keeper_(std::move(keeper)), elements_(elements) {}

 private:
  std::shared_ptr<const void> keeper_;
  ArrayView<T> elements_;
};

// The elements of `ref`'s object, read in place (see the file comment): O(1) once the
// object is complete, whatever its size. Blocks until it is complete; errors as Get.
template <typename T>
absl::StatusOr<ObjectView<T>> GetView(const ObjectRef<std::vector<T>>& ref,
                                      absl::Duration timeout = absl::InfiniteDuration()) {
  absl::StatusOr<std::shared_ptr<const ObjectBytes>> bytes = api_internal::Get(
      ref.handle(), timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                        : api_internal::DeadlineIn(timeout));
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<ArrayView<T>> elements = Decode<ArrayView<T>>((*bytes)->view());
  if (!elements.ok()) return elements.status();
  return ObjectView<T>(*std::move(bytes), *elements);
}

// Space for `n` elements of T that the caller fills in before Seal makes it an object
// (from Allocate). The elements' initial values are unspecified (the store reuses freed
// space). Move-only; space that is never sealed is freed with the array.
template <typename T>
class WritableArray {
  static_assert(codec_internal::kIsMemcpyable<T> && !std::is_same_v<T, bool>,
                "unidist::WritableArray<T> needs a T the codec copies as bytes (numbers, "
                "fixed enums)");

 public:
  using value_type = T;

  WritableArray() = default;
  WritableArray(WritableArray&& other) noexcept { *this = std::move(other); }
  WritableArray& operator=(WritableArray&& other) noexcept {
    space_ = std::exchange(other.space_, api_internal::WritableObject());
    elements_ = std::exchange(other.elements_, nullptr);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }

  size_t size() const { return size_; }
  // The elements, writable until Seal. Aligned for T (on 64 bytes in the store).
  T* data() { return elements_; }
  T& operator[](size_t i) { return elements_[i]; }
  T* begin() { return elements_; }
  T* end() { return elements_ + size_; }

  // For Allocate and Seal.
  WritableArray(api_internal::WritableObject space, T* elements, size_t size)
      : space_(std::move(space)), elements_(elements), size_(size) {}
  api_internal::WritableObject TakeSpace() && {
    elements_ = nullptr;
    size_ = 0;
    return std::exchange(space_, api_internal::WritableObject());
  }

 private:
  api_internal::WritableObject space_;
  T* elements_ = nullptr;
  size_t size_ = 0;
};

// Space for `n` elements of T, in the shared-memory store if the array is large (see the
// file comment). ResourceExhausted if the store has no room (naming
// Options::object_store_memory) or n is too large; FailedPrecondition before Init.
template <typename T>
absl::StatusOr<WritableArray<T>> Allocate(size_t n) {
  if (n > (SIZE_MAX - 32) / sizeof(T)) {
    return absl::ResourceExhaustedError("unidist::Allocate: too many elements");
  }
  // The object's encoding is that of std::vector<T>: the type tag, the count, then the
  // elements, which the space places on an aligned address.
  Encoder header_size = Encoder::Counting();
  header_size.WriteFixed64(codec_internal::TypeTag<std::vector<T>>());
  header_size.WriteVarint(n);
  const size_t header = header_size.written();
  absl::StatusOr<api_internal::WritableObject> space =
      api_internal::Allocate(header + n * sizeof(T), header);
  if (!space.ok()) return space.status();
  Encoder writer = Encoder::Into(space->data, header);
  writer.WriteFixed64(codec_internal::TypeTag<std::vector<T>>());
  writer.WriteVarint(n);
  T* const elements = reinterpret_cast<T*>(space->data + header);
  return WritableArray<T>(*std::move(space), elements, n);
}

// Makes the filled-in `array` an object, without copying it (in the store); `array` is
// empty afterwards. A ref to a failed object (InvalidArgument) if `array` was empty or
// already sealed; FailedPrecondition if unidist is not initialized.
template <typename T>
ObjectRef<std::vector<T>> Seal(WritableArray<T>&& array) {
  return ObjectRef<std::vector<T>>::FromHandle(api_internal::Seal(std::move(array).TakeSpace()));
}

namespace api_internal {

template <typename T>
void AppendResult(WritableArray<T>& array, std::vector<std::string>* results) {
  WritableObject space = std::move(array).TakeSpace();
  if (space.space == nullptr) {  // an empty array (or one moved from): no elements
    AppendResult(std::vector<T>(), results);
    return;
  }
  if (StoreAllocatedResult(space, results->size())) {
    results->emplace_back();  // listed among the stored values
    return;
  }
  results->emplace_back(space.data, space.size);
}

}  // namespace api_internal
}  // namespace unidist

#endif  // UNIDIST_API_SHARED_ARRAYS_H_
