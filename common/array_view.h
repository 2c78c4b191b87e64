// Copyright 2026 The unidist-cpp Authors.
//
// ArrayView<T>: a read-only view of an array of numbers (or other trivially copyable,
// fixed-width values the codec copies as bytes), for task parameters that read large
// arrays without copying them.
//
// Its encoding is exactly that of std::vector<T>, type tag included, so a task that takes
// an ArrayView<T> accepts an ObjectRef<std::vector<T>> (or a std::vector<T> value) and
// reads the bytes where they arrived. For objects sent through shared memory (see
// unidist::Options::shared_memory_min_bytes) that is the read-only mapping of the object
// itself: no copy at all on the reading side.
//
// Example:
//
//   uint64_t Sum(unidist::ArrayView<uint8_t> data) {
//     uint64_t sum = 0;
//     for (size_t i = 0; i < data.size(); ++i) sum += data[i];
//     return sum;
//   }
//   UNIDIST_REMOTE(Sum);
//   ...
//   unidist::ObjectRef<std::vector<uint8_t>> ref = unidist::Put(std::move(bytes));
//   unidist::Get(unidist::Submit(Sum, ref));
//
// Lifetime: a view decoded for a task is valid until the task returns; do not keep it.
// Get cannot return a view (it does not compile): Get the std::vector<T> instead.
//
// Alignment: the elements follow an 8-byte tag and a varint count, so they are not
// necessarily aligned for T. operator[] works regardless; data() returns the elements
// as a T pointer only when they are aligned (always for 1-byte types).
//
// Thread-safe to read from several threads; it owns nothing.

#ifndef UNIDIST_COMMON_ARRAY_VIEW_H_
#define UNIDIST_COMMON_ARRAY_VIEW_H_

// Included by its old path ("common/array_view.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "unidist/common/codec.h"

namespace unidist {

// A read-only view of the elements of a std::vector<T> encoding; see the file comment.
template <typename T>
class ArrayView {
  static_assert(codec_internal::kIsMemcpyable<T>,
                "ArrayView<T> needs a T the codec copies as bytes (numbers, fixed enums)");

 public:
  // The element type, as for the standard containers.
  using value_type = T;

  // An empty view.
  ArrayView() = default;
  // Views `size` elements at `data` (which must outlive the view).
  ArrayView(const T* data, size_t size)
      : bytes_(reinterpret_cast<const char*>(data), size * sizeof(T)) {}
  // Views the elements of `vector` (which must outlive the view and not be resized).
  ArrayView(const std::vector<T>& vector)  // NOLINT: implicit, like std::span
      : ArrayView(vector.data(), vector.size()) {}

  // The number of elements.
  size_t size() const { return bytes_.size() / sizeof(T); }
  // True if there are no elements.
  bool empty() const { return bytes_.empty(); }

  // Element `i` (< size()), copied out, so alignment does not matter.
  T operator[](size_t i) const {
    T value;
    std::memcpy(&value, bytes_.data() + i * sizeof(T), sizeof(T));
    return value;
  }

  // The elements as T*, or nullptr if they are not aligned for T (or the view is empty).
  const T* data() const {
    if (bytes_.empty() || reinterpret_cast<uintptr_t>(bytes_.data()) % alignof(T) != 0) {
      return nullptr;
    }
    return reinterpret_cast<const T*>(bytes_.data());
  }

  // The elements' bytes: size() * sizeof(T) of them, each element little-endian.
  absl::string_view bytes() const { return bytes_; }

  // A copy of the elements.
  std::vector<T> ToVector() const {
    std::vector<T> copy(size());
    if (!copy.empty()) std::memcpy(copy.data(), bytes_.data(), bytes_.size());
    return copy;
  }

  // For the codec.
  static ArrayView FromBytes(absl::string_view bytes) {
    ArrayView view;
    view.bytes_ = bytes;
    return view;
  }

 private:
  absl::string_view bytes_;
};

namespace codec_internal {
template <typename T>
struct TagTypeOf<ArrayView<T>> {
  using Type = std::vector<T>;
};
}  // namespace codec_internal

// The encoding of std::vector<T>: varint count, then the elements' bytes.
template <typename T>
struct Codec<ArrayView<T>> {
  // The varint count of an empty array.
  static constexpr size_t kMinEncodedSize = 1;
  // Writes the count and the elements' bytes, as Codec<std::vector<T>> does.
  static void Encode(const ArrayView<T>& value, Encoder& out) {
    out.WriteVarint(value.size());
    out.WriteRaw(value.bytes().data(), value.bytes().size());
  }
  // Points `value` at the elements inside the decoder's bytes (no copy). DataLoss or
  // InvalidArgument if the count does not fit the bytes left.
  static absl::Status Decode(Decoder& in, ArrayView<T>* value) {
    size_t count = 0;
    absl::Status status = codec_internal::ReadCount(in, sizeof(T), "unidist::ArrayView", &count);
    if (!status.ok()) return status;
    absl::string_view bytes;
    // ReadCount proved count * sizeof(T) <= remaining().
    status = in.ReadView(count * sizeof(T), &bytes);
    if (status.ok()) *value = ArrayView<T>::FromBytes(bytes);
    return status;
  }
};

// True for the view types whose decoded value points into the bytes it came from.
template <typename T>
inline constexpr bool kIsCodecView =
    !std::is_same_v<typename codec_internal::TagTypeOf<T>::Type, T>;

}  // namespace unidist

#endif  // UNIDIST_COMMON_ARRAY_VIEW_H_
