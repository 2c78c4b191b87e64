// Copyright 2024 The unidist-cpp Authors.
//
// -----------------------------------------------------------------------------
// File: unidist/common/codec.h
// -----------------------------------------------------------------------------
//
// The value codec turns C++ values into bytes and back. It is how task
// arguments, task results and objects put into the object store travel
// between the driver and its workers. It is header-only: everything is a
// template over the value type, chosen at compile time, with no registry and
// no runtime reflection.
//
// Layers, bottom up:
//
//   * `Encoder` appends primitive items (varints, little-endian fixed-width
//     words, raw bytes, length-prefixed bytes) to a caller-owned std::string.
//   * `Decoder` reads the same items back from an `absl::string_view`. It
//     never reads past the end of its input and reports every failure as an
//     `absl::Status` (kDataLoss for truncated or corrupt input).
//   * `Codec<T>` is the customization point: one specialization per type (or
//     family of types) with a static `Encode` and `Decode`. Built-in
//     specializations cover every arithmetic type except long double, enums
//     with a fixed underlying type, std::string, std::vector, std::array,
//     std::map, std::unordered_map, absl::flat_hash_map, std::set,
//     std::unordered_set, absl::flat_hash_set, std::pair, std::tuple,
//     std::optional, every protobuf message, and user structs that list their
//     fields (see below) -- nested in any combination.
//   * `Encode<T>()` / `Decode<T>()` wrap a value in a self-checking envelope:
//     an 8-byte type tag, the value, and nothing after it.
//
// Wire format (not a persistence format -- see "Type tags" below):
//
//   * arithmetic types: their object bytes, little-endian, fixed width
//     (bool: one byte, 0 or 1). Fixed width keeps vectors of numbers a single
//     memcpy each way.
//   * lengths and element counts: unsigned LEB128 varints, minimal encoding.
//   * enums: their underlying type.
//   * std::string: varint length + bytes.
//   * std::vector<T>, sets, maps: varint count + elements (maps: key, value,
//     key, value, ...). std::vector<bool> uses one byte per element.
//   * std::array<T, N>: the N elements, no count.
//   * std::pair / std::tuple / user structs: the members in order.
//   * std::optional<T>: one presence byte (0 or 1), then the value if present.
//   * protobuf messages: varint length + the message's wire bytes.
//   * Types that would otherwise encode to zero bytes (std::tuple<>, a struct
//     with no fields, std::array<T, 0>) encode as a single 0x00 byte. Every
//     built-in encoding is therefore at least one byte long, which is what
//     lets the decoder reject an untrusted element count larger than the
//     bytes left (see "Untrusted input").
//
// User structs, the documented way: add a member `UnidistFields()` that
// returns `std::tie(...)` of every field to send, in order. The struct must be
// default-constructible (decoding default-constructs it and then overwrites
// the listed fields; fields that are not listed keep their default).
// `UnidistFields()` must not modify the object: encoding a const value calls
// it through a const_cast.
//
// Example:
//
//   struct Point {
//     double x = 0, y = 0;
//     std::string label;
//     auto UnidistFields() { return std::tie(x, y, label); }
//   };
//
//   std::string bytes = unidist::Encode(Point{1, 2, "a"});
//   absl::StatusOr<Point> p = unidist::Decode<Point>(bytes);
//   if (!p.ok()) return p.status();
//
// The alternative is a full specialization, declared before first use:
//
//   template <>
//   struct unidist::Codec<Celsius> {
//     static constexpr size_t kMinEncodedSize = 8;  // optional, see below
//     static void Encode(const Celsius& c, Encoder& out) {
//       Codec<double>::Encode(c.degrees(), out);
//     }
//     static absl::Status Decode(Decoder& in, Celsius* c) {
//       double d;
//       absl::Status s = Codec<double>::Decode(in, &d);
//       if (s.ok()) *c = Celsius(d);
//       return s;
//     }
//   };
//
// A type that is neither fails to compile at `Encode`/`Decode` with a
// static_assert explaining these two options. Recursive types (a struct that
// holds a vector of itself) are deliberately not supported by the built-in
// codecs: their decoding depth would be chosen by the input.
//
// Untrusted input: `Decode` treats its input as hostile. It never reads out
// of bounds, never has undefined behaviour, and rejects -- with kDataLoss --
// truncation, trailing bytes, a bool or presence byte other than 0 or 1,
// non-minimal or over-long varints, duplicate map/set keys, and any element
// count or length larger than what the remaining bytes could hold. Counts are
// checked before anything is reserved, so a forged header cannot make the
// decoder allocate much more than the size of its input.
//
// Type tags: the tag is a 64-bit FNV-1a fingerprint of `typeid(T).name()`.
// The driver and its workers run the same binary, so equal types have equal
// tags; bytes from another build may not decode. Requires RTTI. Encodings of
// unordered containers follow their iteration order and so are not canonical.
//
// Thread safety: `Encoder` and `Decoder` are not thread-safe (each wraps one
// caller-owned buffer); all free functions and built-in codecs are stateless
// and safe to call concurrently.

#ifndef UNIDIST_COMMON_CODEC_H_
#define UNIDIST_COMMON_CODEC_H_

// Included by its old path ("common/codec.h")? Then the compiler warns: see
// unidist_old_include_path.h.
#if __has_include("unidist_old_include_path.h")
#include "unidist_old_include_path.h"  // IWYU pragma: keep
#endif

#include <cxxabi.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"

// Numbers are encoded by copying their object bytes, so that a vector of them
// is one memcpy. That is only the documented little-endian format on a
// little-endian host; every platform we build for is one.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "unidist codec assumes a little-endian host");

// Private to this header; #undef'd at the end so it cannot clash with a
// project-wide RETURN_IF_ERROR.
#define UNIDIST_CODEC_RETURN_IF_ERROR_(expr)                       \
  do {                                                             \
    ::absl::Status unidist_codec_status_ = (expr);                 \
    if (!unidist_codec_status_.ok()) return unidist_codec_status_; \
  } while (0)

namespace unidist {

// -----------------------------------------------------------------------------
// Encoder
// -----------------------------------------------------------------------------

// Appends encoded items to a std::string owned by the caller, or writes them
// into a buffer of a size known in advance, or only counts them (how
// EncodedSize and EncodeInto below work: count first, then write once, so a
// large value is copied once, straight to where it is going). Never fails.
class Encoder {
 public:
  // `out` must outlive the Encoder. Bytes are appended; existing contents of
  // `*out` are kept.
  explicit Encoder(std::string* out) : out_(out) {}

  // An Encoder that writes into the `size` bytes at `out` (which must outlive
  // it). Bytes beyond `size` are not written: overflowed() then says so.
  static Encoder Into(char* out, size_t size) { return Encoder(out, size); }
  // An Encoder that writes nothing and counts the bytes (written()).
  static Encoder Counting() { return Encoder(nullptr, 0); }

  // Appends `v` as an unsigned LEB128 varint (1 to 10 bytes, minimal form).
  void WriteVarint(uint64_t v) {
    char buf[kMaxVarintBytes];
    size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    Append(buf, n);
  }

  // Appends `v` as 4 bytes, least significant first.
  void WriteFixed32(uint32_t v) {
    char buf[4];
    for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    Append(buf, 4);
  }

  // Appends `v` as 8 bytes, least significant first.
  void WriteFixed64(uint64_t v) {
    char buf[8];
    for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    Append(buf, 8);
  }

  // Appends `size` bytes from `data` verbatim. `data` may be null when
  // `size` is 0.
  void WriteRaw(const void* data, size_t size) {
    if (size == 0) return;  // An empty vector's data() may be null.
    Append(static_cast<const char*>(data), size);
  }

  // Appends the varint length of `bytes` and then the bytes.
  void WriteBytes(absl::string_view bytes) {
    WriteVarint(bytes.size());
    WriteRaw(bytes.data(), bytes.size());
  }

  // For Into and Counting: the bytes written (or counted) so far.
  size_t written() const { return written_; }
  // For Into: true if the items did not fit in the buffer (those that did not
  // fit were dropped).
  bool overflowed() const { return buffer_ != nullptr && written_ > capacity_; }

  // The longest varint: 10 bytes of 7 bits hold a 64-bit value.
  static constexpr size_t kMaxVarintBytes = 10;

 private:
  Encoder(char* buffer, size_t capacity) : buffer_(buffer), capacity_(capacity) {}

  void Append(const char* data, size_t size) {
    if (out_ != nullptr) {
      out_->append(data, size);
      return;
    }
    if (buffer_ != nullptr && size <= capacity_ && written_ <= capacity_ - size) {
      std::memcpy(buffer_ + written_, data, size);
    }
    written_ += size;
  }

  std::string* out_ = nullptr;  // append mode
  char* buffer_ = nullptr;      // Into mode (null: counting)
  size_t capacity_ = 0;
  size_t written_ = 0;
};

// -----------------------------------------------------------------------------
// Decoder
// -----------------------------------------------------------------------------

// Reads items written by `Encoder` from a view of the input, front to back.
// Every Read* either succeeds and advances past the item, or returns
// kDataLoss (message names the item) and leaves the position unchanged. It
// never reads outside the view.
class Decoder {
 public:
  // `in` must stay alive while the Decoder and any view it returned are used.
  explicit Decoder(absl::string_view in) : in_(in) {}

  // Reads a varint into `*v`.
  // kDataLoss: input ends inside the varint; the varint does not fit in 64
  // bits; or it is not in minimal form (has a redundant trailing 0x00 group).
  absl::Status ReadVarint(uint64_t* v) {
    uint64_t result = 0;
    for (size_t i = 0; i < Encoder::kMaxVarintBytes; ++i) {
      if (i >= in_.size()) {
        return absl::DataLossError(
            absl::StrCat("truncated varint: input ended after ", i, " of its bytes"));
      }
      const uint8_t byte = static_cast<uint8_t>(in_[i]);
      // The 10th byte holds bit 63 only; anything more overflows.
      if (i == Encoder::kMaxVarintBytes - 1 && byte > 1) {
        return absl::DataLossError("varint does not fit in 64 bits");
      }
      result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if ((byte & 0x80) == 0) {
        // One value, one encoding: keeps encodings comparable byte-wise.
        if (byte == 0 && i > 0) {
          return absl::DataLossError("varint is not in minimal form");
        }
        in_.remove_prefix(i + 1);
        *v = result;
        return absl::OkStatus();
      }
    }
    return absl::DataLossError("varint does not fit in 64 bits");  // Unreached.
  }

  // Reads 4 little-endian bytes into `*v`. kDataLoss: fewer than 4 remain.
  absl::Status ReadFixed32(uint32_t* v) {
    if (in_.size() < 4) return Truncated("fixed32", 4);
    uint32_t result = 0;
    for (int i = 0; i < 4; ++i) {
      result |= static_cast<uint32_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    }
    in_.remove_prefix(4);
    *v = result;
    return absl::OkStatus();
  }

  // Reads 8 little-endian bytes into `*v`. kDataLoss: fewer than 8 remain.
  absl::Status ReadFixed64(uint64_t* v) {
    if (in_.size() < 8) return Truncated("fixed64", 8);
    uint64_t result = 0;
    for (int i = 0; i < 8; ++i) {
      result |= static_cast<uint64_t>(static_cast<uint8_t>(in_[i])) << (8 * i);
    }
    in_.remove_prefix(8);
    *v = result;
    return absl::OkStatus();
  }

  // Copies the next `size` bytes to `data` (which may be null if `size` is
  // 0). kDataLoss: fewer than `size` bytes remain.
  absl::Status ReadRaw(void* data, size_t size) {
    if (in_.size() < size) return Truncated("raw bytes", size);
    if (size > 0) std::memcpy(data, in_.data(), size);
    in_.remove_prefix(size);
    return absl::OkStatus();
  }

  // Sets `*view` to the next `size` bytes, without copying; the view points
  // into the input. kDataLoss: fewer than `size` bytes remain.
  // (Addition to the basic set: lets codecs look at a length before
  // consuming the bytes it covers, e.g. to give a precise error.)
  absl::Status ReadView(size_t size, absl::string_view* view) {
    if (in_.size() < size) return Truncated("raw bytes", size);
    *view = in_.substr(0, size);
    in_.remove_prefix(size);
    return absl::OkStatus();
  }

  // Reads a varint length and then that many bytes; `*bytes` points into the
  // input. kDataLoss: bad varint, or the length exceeds the bytes remaining.
  absl::Status ReadBytes(absl::string_view* bytes) {
    const absl::string_view saved = in_;
    uint64_t size = 0;
    absl::Status status = ReadVarint(&size);
    if (!status.ok()) {
      return absl::DataLossError(absl::StrCat("length of byte string: ", status.message()));
    }
    if (size > in_.size()) {
      in_ = saved;
      return absl::DataLossError(absl::StrCat("byte string length ", size, " exceeds the ",
                                              in_.size(), " bytes remaining"));
    }
    return ReadView(static_cast<size_t>(size), bytes);
  }

  // Number of input bytes not yet consumed.
  size_t remaining() const { return in_.size(); }

 private:
  absl::Status Truncated(absl::string_view what, size_t need) const {
    return absl::DataLossError(absl::StrCat("truncated input reading ", what, ": need ", need,
                                            " bytes, ", in_.size(), " remain"));
  }

  absl::string_view in_;
};

// -----------------------------------------------------------------------------
// Codec<T>: the customization point
// -----------------------------------------------------------------------------

// A specialization must provide:
//
//   // Appends `value`. Must write at least one byte: containers bound an
//   // untrusted element count by the bytes remaining, so a zero-byte
//   // encoding would cap such containers at the payload size.
//   static void Encode(const T& value, Encoder& out);
//
//   // Overwrites `*value` (clearing containers first) from `in`. Returns
//   // kDataLoss for truncated or malformed input; must not crash or have
//   // undefined behaviour on any input. On error `*value` is valid but
//   // unspecified.
//   static absl::Status Decode(Decoder& in, T* value);
//
// and may provide `static constexpr size_t kMinEncodedSize`, the fewest bytes
// Encode ever writes (default 1). Containers use it to reject impossible
// counts early.
//
// The primary template is deliberately left undefined; `Enable` is for
// std::enable_if-constrained partial specializations.
template <typename T, typename Enable = void>
struct Codec;

namespace codec_internal {

template <typename T, typename = void>
struct HasCodec : std::false_type {};
template <typename T>
struct HasCodec<
    T, std::void_t<decltype(Codec<T>::Encode(std::declval<const T&>(), std::declval<Encoder&>())),
                   decltype(Codec<T>::Decode(std::declval<Decoder&>(), std::declval<T*>()))>>
    : std::true_type {};

}  // namespace codec_internal

// True when Codec<T> exists and has Encode/Decode of the right shape, i.e.
// `Encode(value)` and `Decode<T>(bytes)` compile. False for cv-qualified and
// reference types (use std::decay_t). Containers are encodable exactly when
// their elements are.
template <typename T>
inline constexpr bool kIsEncodable = codec_internal::HasCodec<T>::value;

// Demangled readable name of T (cv and references dropped, as by typeid),
// with std::string spelled "std::string". For error messages.
template <typename T>
std::string TypeName();

namespace codec_internal {

// Returns `status` with "context: " prepended to its message. Called on error
// paths only, so decoding a valid input builds no strings.
inline absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

inline std::string Demangle(const char* mangled) {
  int rc = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &rc);
  std::string name = (rc == 0 && demangled != nullptr) ? demangled : mangled;
  std::free(demangled);
  return absl::StrReplaceAll(name, {{"std::__cxx11::basic_string<char, std::char_traits<char>, "
                                     "std::allocator<char> >",
                                     "std::string"},
                                    {"std::__cxx11::", "std::"}});
}

// 64-bit FNV-1a. Deliberately not absl::Hash, which is seeded per process:
// the tag must be equal in the driver and in every worker.
constexpr uint64_t Fingerprint(absl::string_view s) {
  uint64_t h = 14695981039346656037ull;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ull;
  }
  return h;
}

// The type whose tag an encoding of T carries: T itself, except for a view type that
// reads (and writes) exactly the encoding of an owning type, such as ArrayView<T> for
// std::vector<T> (unidist/common/array_view.h). Such a view decodes the owner's bytes.
template <typename T>
struct TagTypeOf {
  using Type = T;
};

template <typename T>
uint64_t TypeTag() {
  static const uint64_t tag = Fingerprint(typeid(typename TagTypeOf<T>::Type).name());
  return tag;
}

constexpr size_t SatAdd(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
constexpr size_t SatMul(size_t a, size_t b) {
  return (a != 0 && b > SIZE_MAX / a) ? SIZE_MAX : a * b;
}

// Codec<T>::kMinEncodedSize if declared (at least 1), else 1.
template <typename T, typename = void>
struct MinSize : std::integral_constant<size_t, 1> {};
template <typename T>
struct MinSize<T, std::void_t<decltype(Codec<T>::kMinEncodedSize)>>
    : std::integral_constant<size_t,
                             (Codec<T>::kMinEncodedSize < 1 ? 1 : Codec<T>::kMinEncodedSize)> {};
template <typename T>
inline constexpr size_t kMinSize = MinSize<T>::value;

template <typename T>
inline constexpr bool kIsUnqualified =
    std::is_same_v<T, std::remove_cv_t<std::remove_reference_t<T>>>;

// Arithmetic types encoded as their bytes. bool is separate (validated);
// long double is excluded because its 16 bytes include 6 indeterminate
// padding bytes on x86-64, which would make encodings nondeterministic.
template <typename T>
inline constexpr bool kIsPlainNumber =
    std::conjunction_v<std::is_arithmetic<T>, std::bool_constant<kIsUnqualified<T>>,
                       std::negation<std::is_same<T, bool>>,
                       std::negation<std::is_same<T, long double>>>;

// An enum whose underlying type is fixed (every enum class, and `enum E : U`)
// can hold every value of U, so decoding any U is well defined. An unscoped
// enum without a fixed type may only hold its enumerators' bit range, which
// the compiler does not tell us; it is rejected at compile time. Detected by
// C++17's `E{u}`, which only compiles for fixed enums.
template <typename E, typename = void>
struct IsFixedEnumImpl : std::false_type {};
template <typename E>
struct IsFixedEnumImpl<E, std::void_t<decltype(E{std::declval<std::underlying_type_t<E>>()})>>
    : std::true_type {};
template <typename E>
constexpr bool IsFixedEnum() {
  if constexpr (std::is_enum_v<E> && kIsUnqualified<E>) {
    return IsFixedEnumImpl<E>::value;
  } else {
    return false;
  }
}
template <typename E>
inline constexpr bool kIsFixedEnum = IsFixedEnum<E>();

// Types whose encoding is exactly their object bytes, so a contiguous run of
// them is copied with one memcpy.
template <typename T>
constexpr bool IsMemcpyable() {
  if constexpr (kIsPlainNumber<T>) {
    return true;
  } else if constexpr (kIsFixedEnum<T>) {
    return kIsPlainNumber<std::underlying_type_t<T>>;
  } else {
    return false;
  }
}
template <typename T>
inline constexpr bool kIsMemcpyable = IsMemcpyable<T>();

template <typename T>
inline constexpr bool kIsProto =
    std::conjunction_v<std::is_base_of<google::protobuf::MessageLite, T>,
                       std::bool_constant<kIsUnqualified<T>>>;

// --- User structs with UnidistFields() -------------------------------------

template <typename T, typename = void>
struct HasFieldsMember : std::false_type {};
template <typename T>
struct HasFieldsMember<T, std::void_t<decltype(std::declval<T&>().UnidistFields())>>
    : std::true_type {};

template <typename T>
using FieldsTuple = decltype(std::declval<T&>().UnidistFields());

// std::tuple of non-const lvalue references, i.e. what std::tie returns.
template <typename T>
inline constexpr bool kIsMutableRef =
    std::conjunction_v<std::is_lvalue_reference<T>,
                       std::negation<std::is_const<std::remove_reference_t<T>>>>;
template <typename R>
struct IsFieldTie : std::false_type {};
template <typename... Ts>
struct IsFieldTie<std::tuple<Ts...>> : std::bool_constant<(kIsMutableRef<Ts> && ...)> {};

template <typename R>
struct FieldsEncodable : std::false_type {};
template <typename... Ts>
struct FieldsEncodable<std::tuple<Ts...>>
    : std::bool_constant<(kIsEncodable<std::remove_reference_t<Ts>> && ...)> {};

template <typename R>
struct FieldsMinSize;
template <typename... Ts>
struct FieldsMinSize<std::tuple<Ts...>>
    : std::integral_constant<size_t, std::max<size_t>(1, (size_t{0} + ... +
                                                          kMinSize<std::remove_reference_t<Ts>>))> {
};

template <typename T>
constexpr bool UsesFields() {
  if constexpr (!kIsUnqualified<T> || kIsProto<T> || !HasFieldsMember<T>::value) {
    return false;
  } else {
    using R = FieldsTuple<T>;
    return IsFieldTie<R>::value && FieldsEncodable<R>::value && std::is_default_constructible_v<T>;
  }
}
template <typename T>
inline constexpr bool kUsesFields = UsesFields<T>();

// True for std::vector<T> of a type the codec copies as bytes (ElementsOffset).
template <typename T>
struct IsNumberVector : std::false_type {};
template <typename T, typename A>
struct IsNumberVector<std::vector<T, A>>
    : std::bool_constant<!std::is_same_v<T, bool> && kIsMemcpyable<T>> {};
template <typename T>
inline constexpr bool kIsNumberVector = IsNumberVector<T>::value;

// --- Shared helpers for the codecs below ------------------------------------

// Reads an element count and checks it against the bytes left, given that
// each element takes at least `min_element_size` (>= 1) bytes. Called before
// any allocation, so a forged count is rejected here.
inline absl::Status ReadCount(Decoder& in, size_t min_element_size, absl::string_view what,
                              size_t* count) {
  uint64_t n = 0;
  absl::Status status = in.ReadVarint(&n);
  if (!status.ok()) return Annotate(status, absl::StrCat(what, " count"));
  if (n > in.remaining() / min_element_size) {
    return absl::DataLossError(
        absl::StrCat(what, " count ", n, " is impossible: only ", in.remaining(),
                     " bytes remain and each element takes at least ", min_element_size));
  }
  *count = static_cast<size_t>(n);
  return absl::OkStatus();
}

// How many elements of `element_size` bytes to reserve for a validated
// `count`: never more memory than max(remaining input, 64 KiB), because an
// element's in-memory size can be far larger than its minimal encoding.
// Containers still grow to any size the input actually fills.
// A large array about to be filled: asks for transparent huge pages for it (where the
// system grants them on request, as Debian's default "madvise" mode does), so that its
// first touch takes one fault per 2 MiB instead of one per 4 KiB — about twice the fill
// rate of fresh memory on our machines. Only whole 2 MiB pages inside the array.
inline void AdviseHugePages(void* data, size_t bytes) {
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  if (bytes < 2 * kHugePage) return;
  const uintptr_t start = reinterpret_cast<uintptr_t>(data);
  const uintptr_t first = (start + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (start + bytes) & ~(kHugePage - 1);
  if (end > first) madvise(reinterpret_cast<void*>(first), end - first, MADV_HUGEPAGE);
}

inline size_t ReserveCount(size_t count, size_t element_size, size_t remaining) {
  constexpr size_t kMinBudget = 64 << 10;
  return std::min(count, std::max(remaining, kMinBudget) / element_size);
}

// Marker byte for types whose encoding would otherwise be empty.
inline void EncodeEmpty(Encoder& out) { out.WriteRaw("\0", 1); }
inline absl::Status DecodeEmpty(Decoder& in, absl::string_view what) {
  uint8_t byte = 0;
  absl::Status status = in.ReadRaw(&byte, 1);
  if (!status.ok()) return Annotate(status, what);
  if (byte != 0) {
    return absl::DataLossError(
        absl::StrCat(what, ": marker byte must be 0, got ", static_cast<int>(byte)));
  }
  return absl::OkStatus();
}

// Encodes each argument in order (a marker byte if there are none).
template <typename... Ts>
void EncodeEach(Encoder& out, const Ts&... values) {
  if constexpr (sizeof...(Ts) == 0) {
    EncodeEmpty(out);
  } else {
    (Codec<Ts>::Encode(values, out), ...);
  }
}

// Decodes into each argument in order, stopping at the first error, which
// is annotated with "<what> <index>".
template <typename... Ts>
absl::Status DecodeEach(Decoder& in, absl::string_view what, Ts&... values) {
  if constexpr (sizeof...(Ts) == 0) {
    return DecodeEmpty(in, what);
  } else {
    absl::Status status;
    size_t index = 0;
    ((status.ok() ? (status = Codec<Ts>::Decode(in, &values), ++index) : 0), ...);
    if (!status.ok()) {
      return Annotate(status, absl::StrCat(what, " ", index - 1));
    }
    return status;
  }
}

// Maps and sets: varint count, then each entry (key, or key then value).
template <typename M>
struct AssociativeCodec {
  using Key = typename M::key_type;
  static constexpr bool kIsMap = !std::is_same_v<typename M::value_type, Key>;

  static constexpr size_t EntryMinSize() {
    if constexpr (kIsMap) {
      return SatAdd(kMinSize<Key>, kMinSize<typename M::mapped_type>);
    } else {
      return kMinSize<Key>;
    }
  }
  static constexpr size_t kMinEncodedSize = 1;

  static void Encode(const M& value, Encoder& out) {
    out.WriteVarint(value.size());
    for (const auto& entry : value) {
      if constexpr (kIsMap) {
        Codec<Key>::Encode(entry.first, out);
        Codec<typename M::mapped_type>::Encode(entry.second, out);
      } else {
        Codec<Key>::Encode(entry, out);
      }
    }
  }

  static absl::Status Decode(Decoder& in, M* value) {
    value->clear();
    size_t count = 0;
    UNIDIST_CODEC_RETURN_IF_ERROR_(ReadCount(in, EntryMinSize(), kIsMap ? "map" : "set", &count));
    if constexpr (HasReserve<M>::value) {
      value->reserve(ReserveCount(count, sizeof(typename M::value_type) + 1, in.remaining()));
    }
    for (size_t i = 0; i < count; ++i) {
      Key key{};
      absl::Status status = Codec<Key>::Decode(in, &key);
      if (!status.ok()) {
        return Annotate(status, absl::StrCat("key of entry ", i));
      }
      if constexpr (kIsMap) {
        auto [it, inserted] = value->try_emplace(std::move(key));
        if (!inserted) return Duplicate(i);
        status = Codec<typename M::mapped_type>::Decode(in, &it->second);
        if (!status.ok()) {
          return Annotate(status, absl::StrCat("value of entry ", i));
        }
      } else {
        if (!value->insert(std::move(key)).second) return Duplicate(i);
      }
    }
    return absl::OkStatus();
  }

 private:
  template <typename C, typename = void>
  struct HasReserve : std::false_type {};
  template <typename C>
  struct HasReserve<C, std::void_t<decltype(std::declval<C&>().reserve(1))>> : std::true_type {};

  // A duplicate cannot come from Encode, and accepting it would silently
  // drop data, so it is corruption.
  static absl::Status Duplicate(size_t i) {
    return absl::DataLossError(
        absl::StrCat("duplicate key at ", kIsMap ? "map" : "set", " entry ", i));
  }
};

}  // namespace codec_internal

// -----------------------------------------------------------------------------
// Built-in codecs
// -----------------------------------------------------------------------------

// Integers, char types, float, double: their bytes (little-endian).
template <typename T>
struct Codec<T, std::enable_if_t<codec_internal::kIsPlainNumber<T>>> {
  static constexpr size_t kMinEncodedSize = sizeof(T);
  static void Encode(const T& value, Encoder& out) { out.WriteRaw(&value, sizeof(T)); }
  static absl::Status Decode(Decoder& in, T* value) {
    // Every bit pattern is a valid value of these types, so copying bytes is
    // enough; memcpy also sidesteps alignment.
    absl::Status status = in.ReadRaw(value, sizeof(T));
    if (!status.ok()) return codec_internal::Annotate(status, TypeName<T>());
    return status;
  }
};

// bool: one byte, 0 or 1. Any other byte is kDataLoss: loading a bool whose
// byte is not 0 or 1 is undefined behaviour.
template <>
struct Codec<bool> {
  // Every bool takes exactly one byte.
  static constexpr size_t kMinEncodedSize = 1;
  // Writes 1 for true, 0 for false.
  static void Encode(const bool& value, Encoder& out) {
    const uint8_t byte = value ? 1 : 0;
    out.WriteRaw(&byte, 1);
  }
  // Reads the byte back; DataLoss if the input ends or the byte is neither 0 nor 1.
  static absl::Status Decode(Decoder& in, bool* value) {
    uint8_t byte = 0;
    absl::Status status = in.ReadRaw(&byte, 1);
    if (!status.ok()) return codec_internal::Annotate(status, "bool");
    if (byte > 1) {
      return absl::DataLossError(
          absl::StrCat("bool byte must be 0 or 1, got ", static_cast<int>(byte)));
    }
    *value = byte == 1;
    return absl::OkStatus();
  }
};

// Enums with a fixed underlying type: as the underlying type.
template <typename E>
struct Codec<E, std::enable_if_t<codec_internal::kIsFixedEnum<E>>> {
  using U = std::underlying_type_t<E>;
  static constexpr size_t kMinEncodedSize = codec_internal::kMinSize<U>;
  static void Encode(const E& value, Encoder& out) { Codec<U>::Encode(static_cast<U>(value), out); }
  static absl::Status Decode(Decoder& in, E* value) {
    U u{};
    absl::Status status = Codec<U>::Decode(in, &u);
    if (!status.ok()) return codec_internal::Annotate(status, TypeName<E>());
    *value = static_cast<E>(u);  // Every U is a valid E: the type is fixed.
    return absl::OkStatus();
  }
};

// std::string: varint length + bytes.
template <>
struct Codec<std::string> {
  static constexpr size_t kMinEncodedSize = 1;
  static void Encode(const std::string& value, Encoder& out) { out.WriteBytes(value); }
  static absl::Status Decode(Decoder& in, std::string* value) {
    absl::string_view bytes;
    absl::Status status = in.ReadBytes(&bytes);
    if (!status.ok()) return codec_internal::Annotate(status, "std::string");
    value->assign(bytes.data(), bytes.size());
    return absl::OkStatus();
  }
};

// std::vector<T> (T != bool): varint count + elements. Numbers and fixed
// enums take a single memcpy each way.
template <typename T, typename A>
struct Codec<std::vector<T, A>, std::enable_if_t<!std::is_same_v<T, bool> && kIsEncodable<T>>> {
  static constexpr size_t kMinEncodedSize = 1;
  static void Encode(const std::vector<T, A>& value, Encoder& out) {
    out.WriteVarint(value.size());
    if constexpr (codec_internal::kIsMemcpyable<T>) {
      out.WriteRaw(value.data(), value.size() * sizeof(T));
    } else {
      for (const T& element : value) Codec<T>::Encode(element, out);
    }
  }
  static absl::Status Decode(Decoder& in, std::vector<T, A>* value) {
    value->clear();
    size_t count = 0;
    UNIDIST_CODEC_RETURN_IF_ERROR_(
        codec_internal::ReadCount(in, codec_internal::kMinSize<T>, "std::vector", &count));
    if constexpr (codec_internal::kIsMemcpyable<T>) {
      // ReadCount proved count * sizeof(T) <= remaining(): no overflow, and
      // the allocation is no larger than the input.
      const size_t bytes = count * sizeof(T);
      value->reserve(count);
      codec_internal::AdviseHugePages(value->data(), bytes);
      absl::string_view raw;
      UNIDIST_CODEC_RETURN_IF_ERROR_(in.ReadView(bytes, &raw));
      if (reinterpret_cast<uintptr_t>(raw.data()) % alignof(T) == 0) {
        // One pass: the elements are copied into the new storage, not first
        // value-initialized by resize() and then overwritten (which touches
        // a fresh allocation twice, about 0.8x the speed of this on 100 MiB).
        const T* first = reinterpret_cast<const T*>(raw.data());
        value->insert(value->end(), first, first + count);
      } else {
        value->resize(count);
        if (bytes > 0) std::memcpy(value->data(), raw.data(), bytes);
      }
      return absl::OkStatus();
    } else {
      value->reserve(codec_internal::ReserveCount(count, sizeof(T), in.remaining()));
      for (size_t i = 0; i < count; ++i) {
        absl::Status status = Codec<T>::Decode(in, &value->emplace_back());
        if (!status.ok()) {
          return codec_internal::Annotate(status, absl::StrCat("std::vector element ", i));
        }
      }
      return absl::OkStatus();
    }
  }
};

// std::vector<bool>: varint count + one byte (0 or 1) per element. Bit-packed
// storage rules out the memcpy path, and a byte each keeps the bool check.
template <typename A>
struct Codec<std::vector<bool, A>> {
  static constexpr size_t kMinEncodedSize = 1;
  static void Encode(const std::vector<bool, A>& value, Encoder& out) {
    out.WriteVarint(value.size());
    std::string bytes(value.size(), '\0');
    for (size_t i = 0; i < value.size(); ++i) bytes[i] = value[i] ? 1 : 0;
    out.WriteRaw(bytes.data(), bytes.size());
  }
  static absl::Status Decode(Decoder& in, std::vector<bool, A>* value) {
    value->clear();
    size_t count = 0;
    UNIDIST_CODEC_RETURN_IF_ERROR_(codec_internal::ReadCount(in, 1, "std::vector<bool>", &count));
    absl::string_view bytes;
    UNIDIST_CODEC_RETURN_IF_ERROR_(in.ReadView(count, &bytes));
    value->resize(count);
    for (size_t i = 0; i < count; ++i) {
      const uint8_t byte = static_cast<uint8_t>(bytes[i]);
      if (byte > 1) {
        return absl::DataLossError(absl::StrCat("std::vector<bool> element ", i,
                                                ": byte must be 0 or 1, got ",
                                                static_cast<int>(byte)));
      }
      (*value)[i] = byte == 1;
    }
    return absl::OkStatus();
  }
};

// std::array<T, N>: the N elements, no count (N is in the type). N == 0 is a
// single 0x00 byte.
template <typename T, size_t N>
struct Codec<std::array<T, N>, std::enable_if_t<kIsEncodable<T>>> {
  static constexpr size_t kMinEncodedSize =
      N == 0 ? 1 : codec_internal::SatMul(N, codec_internal::kMinSize<T>);
  static void Encode(const std::array<T, N>& value, Encoder& out) {
    if constexpr (N == 0) {
      codec_internal::EncodeEmpty(out);
    } else if constexpr (codec_internal::kIsMemcpyable<T>) {
      out.WriteRaw(value.data(), N * sizeof(T));
    } else {
      for (const T& element : value) Codec<T>::Encode(element, out);
    }
  }
  static absl::Status Decode(Decoder& in, std::array<T, N>* value) {
    if constexpr (N == 0) {
      return codec_internal::DecodeEmpty(in, "std::array<T, 0>");
    } else if constexpr (codec_internal::kIsMemcpyable<T>) {
      absl::Status status = in.ReadRaw(value->data(), N * sizeof(T));
      if (!status.ok()) return codec_internal::Annotate(status, "std::array");
      return status;
    } else {
      for (size_t i = 0; i < N; ++i) {
        absl::Status status = Codec<T>::Decode(in, &(*value)[i]);
        if (!status.ok()) {
          return codec_internal::Annotate(status, absl::StrCat("std::array element ", i));
        }
      }
      return absl::OkStatus();
    }
  }
};

// Maps: varint count + (key, value) pairs. Sets: varint count + keys.
// Duplicate keys are kDataLoss.
template <typename K, typename V, typename C, typename A>
struct Codec<std::map<K, V, C, A>, std::enable_if_t<kIsEncodable<K> && kIsEncodable<V>>>
    : codec_internal::AssociativeCodec<std::map<K, V, C, A>> {};
template <typename K, typename V, typename H, typename E, typename A>
struct Codec<std::unordered_map<K, V, H, E, A>,
             std::enable_if_t<kIsEncodable<K> && kIsEncodable<V>>>
    : codec_internal::AssociativeCodec<std::unordered_map<K, V, H, E, A>> {};
template <typename K, typename V, typename H, typename E, typename A>
struct Codec<absl::flat_hash_map<K, V, H, E, A>,
             std::enable_if_t<kIsEncodable<K> && kIsEncodable<V>>>
    : codec_internal::AssociativeCodec<absl::flat_hash_map<K, V, H, E, A>> {};
template <typename K, typename C, typename A>
struct Codec<std::set<K, C, A>, std::enable_if_t<kIsEncodable<K>>>
    : codec_internal::AssociativeCodec<std::set<K, C, A>> {};
template <typename K, typename H, typename E, typename A>
struct Codec<std::unordered_set<K, H, E, A>, std::enable_if_t<kIsEncodable<K>>>
    : codec_internal::AssociativeCodec<std::unordered_set<K, H, E, A>> {};
template <typename K, typename H, typename E, typename A>
struct Codec<absl::flat_hash_set<K, H, E, A>, std::enable_if_t<kIsEncodable<K>>>
    : codec_internal::AssociativeCodec<absl::flat_hash_set<K, H, E, A>> {};

// std::pair: first, then second.
template <typename T1, typename T2>
struct Codec<std::pair<T1, T2>, std::enable_if_t<kIsEncodable<T1> && kIsEncodable<T2>>> {
  static constexpr size_t kMinEncodedSize =
      codec_internal::SatAdd(codec_internal::kMinSize<T1>, codec_internal::kMinSize<T2>);
  static void Encode(const std::pair<T1, T2>& value, Encoder& out) {
    codec_internal::EncodeEach(out, value.first, value.second);
  }
  static absl::Status Decode(Decoder& in, std::pair<T1, T2>* value) {
    return codec_internal::DecodeEach(in, "std::pair member", value->first, value->second);
  }
};

// std::tuple: the elements in order; std::tuple<> is a single 0x00 byte.
template <typename... Ts>
struct Codec<std::tuple<Ts...>, std::enable_if_t<(kIsEncodable<Ts> && ...)>> {
  static constexpr size_t kMinEncodedSize =
      std::max<size_t>(1, (size_t{0} + ... + codec_internal::kMinSize<Ts>));
  static void Encode(const std::tuple<Ts...>& value, Encoder& out) {
    std::apply([&out](const Ts&... elements) { codec_internal::EncodeEach(out, elements...); },
               value);
  }
  static absl::Status Decode(Decoder& in, std::tuple<Ts...>* value) {
    return std::apply(
        [&in](Ts&... elements) {
          return codec_internal::DecodeEach(in, "std::tuple element", elements...);
        },
        *value);
  }
};

// std::optional<T>: presence byte (0 or 1), then the value if present.
template <typename T>
struct Codec<std::optional<T>, std::enable_if_t<kIsEncodable<T>>> {
  static constexpr size_t kMinEncodedSize = 1;
  static void Encode(const std::optional<T>& value, Encoder& out) {
    Codec<bool>::Encode(value.has_value(), out);
    if (value.has_value()) Codec<T>::Encode(*value, out);
  }
  static absl::Status Decode(Decoder& in, std::optional<T>* value) {
    bool present = false;
    absl::Status status = Codec<bool>::Decode(in, &present);
    if (!status.ok()) {
      return codec_internal::Annotate(status, "std::optional presence flag");
    }
    if (!present) {
      value->reset();
      return absl::OkStatus();
    }
    status = Codec<T>::Decode(in, &value->emplace());
    if (!status.ok()) {
      return codec_internal::Annotate(status, "std::optional value");
    }
    return status;
  }
};

// Protobuf messages: varint length + wire bytes. The "partial" calls are used
// on both sides so that a proto2 message with unset required fields round
// trips instead of failing on one side only.
template <typename T>
struct Codec<T, std::enable_if_t<codec_internal::kIsProto<T>>> {
  // Protobuf cannot serialize messages of 2 GiB or more. Encode has no error
  // channel, so it writes this length instead, which Decode reports.
  static constexpr uint64_t kUnserializable = ~uint64_t{0};
  static constexpr size_t kMinEncodedSize = 1;

  static void Encode(const T& value, Encoder& out) {
    std::string bytes;
    if (!value.SerializePartialToString(&bytes)) {
      out.WriteVarint(kUnserializable);
      return;
    }
    out.WriteBytes(bytes);
  }

  static absl::Status Decode(Decoder& in, T* value) {
    uint64_t size = 0;
    absl::Status status = in.ReadVarint(&size);
    if (!status.ok()) {
      return codec_internal::Annotate(status, absl::StrCat("length of ", TypeName<T>()));
    }
    if (size == kUnserializable) {
      return absl::DataLossError(absl::StrCat("the sender could not serialize its ", TypeName<T>(),
                                              " (protobuf messages must be under 2 GiB)"));
    }
    if (size > in.remaining() || size > static_cast<uint64_t>(INT_MAX)) {
      return absl::DataLossError(absl::StrCat(TypeName<T>(), " length ", size, " exceeds the ",
                                              in.remaining(), " bytes remaining"));
    }
    absl::string_view bytes;
    UNIDIST_CODEC_RETURN_IF_ERROR_(in.ReadView(static_cast<size_t>(size), &bytes));
    if (!value->ParsePartialFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return absl::DataLossError(absl::StrCat("malformed ", TypeName<T>(), " protobuf bytes"));
    }
    return absl::OkStatus();
  }
};

// User structs with `auto UnidistFields() { return std::tie(...); }`: the
// listed fields in order (a single 0x00 byte if there are none).
template <typename T>
struct Codec<T, std::enable_if_t<codec_internal::kUsesFields<T>>> {
  static constexpr size_t kMinEncodedSize =
      codec_internal::FieldsMinSize<codec_internal::FieldsTuple<T>>::value;
  static void Encode(const T& value, Encoder& out) {
    // UnidistFields() is non-const so that decoding can write through the
    // references; the documented contract is that it does not modify.
    std::apply([&out](const auto&... fields) { codec_internal::EncodeEach(out, fields...); },
               const_cast<T&>(value).UnidistFields());
  }
  static absl::Status Decode(Decoder& in, T* value) {
    absl::Status status = std::apply(
        [&in](auto&... fields) { return codec_internal::DecodeEach(in, "field", fields...); },
        value->UnidistFields());
    if (!status.ok()) return codec_internal::Annotate(status, TypeName<T>());
    return status;
  }
};

// -----------------------------------------------------------------------------
// Top level
// -----------------------------------------------------------------------------

namespace codec_internal {

// Compile-time diagnostics for Encode/Decode on a type with no codec. Each
// message says how to fix the type.
template <typename T>
constexpr bool CheckEncodable() {
  if constexpr (kIsEncodable<T>) {
    return true;
  } else if constexpr (kIsUnqualified<T> && !kIsProto<T> && HasFieldsMember<T>::value) {
    static_assert(IsFieldTie<FieldsTuple<T>>::value,
                  "unidist: UnidistFields() must return std::tie(field, ...): "
                  "a std::tuple of non-const lvalue references to the fields "
                  "to send (declare it non-const)");
    static_assert(FieldsEncodable<FieldsTuple<T>>::value,
                  "unidist: a field listed in UnidistFields() is not "
                  "encodable; make that field's type encodable too");
    static_assert(std::is_default_constructible_v<T>,
                  "unidist: a type with UnidistFields() must be "
                  "default-constructible, because decoding constructs it "
                  "first and then fills in the fields");
    return false;
  } else {
    static_assert(kIsEncodable<T>,
                  "unidist: a type has no codec, so it cannot be a task's parameter or "
                  "result or an object in the store (the note below names it). Make it "
                  "encodable by either (1) adding a member `auto UnidistFields() { return "
                  "std::tie(f1, f2, ...); }` listing every field to send (the type must be "
                  "default-constructible), or (2) specializing `template <> struct "
                  "unidist::Codec<YourType>` with static Encode/Decode (see "
                  "unidist/common/codec.h). Containers, pairs, tuples and optionals are "
                  "encodable only if their elements are; unscoped enums need a fixed "
                  "underlying type (`enum E : int`); long double, pointers and "
                  "cv-qualified types are not supported.");
    return false;
  }
}

// The body of Decode<T>, once T is known to be encodable.
template <typename T>
absl::StatusOr<T> DecodeEnvelope(absl::string_view bytes);

}  // namespace codec_internal

template <typename T>
std::string TypeName() {
  return codec_internal::Demangle(typeid(T).name());
}

// Appends the 8-byte type tag of T and then `value` to `*out`. Never fails.
// Fails to compile if T is not encodable.
template <typename T>
void EncodeTo(const T& value, std::string* out) {
  // CheckEncodable's static_assert explains a failure; the `if constexpr`
  // keeps the compiler from piling unrelated errors on top of it.
  if constexpr (codec_internal::CheckEncodable<T>()) {
    Encoder encoder(out);
    encoder.WriteFixed64(codec_internal::TypeTag<T>());
    Codec<T>::Encode(value, encoder);
  }
}

// The number of bytes Encode(value) returns, computed without encoding: a
// vector of numbers or a string costs O(1), other containers a walk over
// their elements. Fails to compile if T is not encodable.
template <typename T>
size_t EncodedSize(const T& value) {
  if constexpr (codec_internal::CheckEncodable<T>()) {
    Encoder counter = Encoder::Counting();
    counter.WriteFixed64(codec_internal::TypeTag<T>());
    Codec<T>::Encode(value, counter);
    return counter.written();
  } else {
    return 0;
  }
}

// Writes what Encode(value) returns into the `size` bytes at `out`, where
// `size` is EncodedSize(value): one pass, no intermediate copy. Returns
// InvalidArgument, having written no byte past `size`, if the encoding does
// not have exactly `size` bytes (a wrong size, or a codec whose output
// changed between the two calls). Fails to compile if T is not encodable.
template <typename T>
absl::Status EncodeInto(const T& value, char* out, size_t size) {
  if constexpr (codec_internal::CheckEncodable<T>()) {
    Encoder encoder = Encoder::Into(out, size);
    encoder.WriteFixed64(codec_internal::TypeTag<T>());
    Codec<T>::Encode(value, encoder);
    if (encoder.written() != size) {
      return absl::InvalidArgumentError(absl::StrCat("encoding ", TypeName<T>(), " into ", size,
                                                     " bytes: its encoding has ", encoder.written(),
                                                     " bytes"));
    }
  }
  return absl::OkStatus();
}

// Where the elements of Encode(value) start when T is a vector of numbers
// (after the 8-byte type tag and the varint count), so that a store can place
// them on an aligned address; 0 for every other type.
template <typename T>
size_t ElementsOffset(const T& value) {
  if constexpr (codec_internal::kIsNumberVector<T>) {
    Encoder counter = Encoder::Counting();
    counter.WriteVarint(value.size());
    return 8 + counter.written();
  } else {
    static_cast<void>(value);
    return 0;
  }
}

// ElementsOffset for bytes of unknown type: where the elements would start if `encoded`
// held a vector of numbers (after the 8-byte tag and a varint); 0 if it cannot. Harmless
// for other types: only a hint for where to align.
inline size_t ElementsOffsetOf(absl::string_view encoded) {
  for (size_t i = 8; i < encoded.size() && i < 8 + Encoder::kMaxVarintBytes; ++i) {
    if ((static_cast<uint8_t>(encoded[i]) & 0x80) == 0) return i + 1;
  }
  return 0;
}

// Returns the type tag of T followed by `value`. Never fails.
template <typename T>
std::string Encode(const T& value) {
  std::string out;
  EncodeTo(value, &out);
  return out;
}

// Decodes a T from bytes produced by Encode<T>/EncodeTo<T>. `bytes` must be
// exactly one encoded value. Returns:
//   kInvalidArgument: the bytes hold a value of a different type.
//   kDataLoss: too short for the type tag; the value is truncated or
//     corrupt (see the list in the file comment); or bytes remain after it.
// Every message names T. Fails to compile if T is not encodable.
template <typename T>
absl::StatusOr<T> Decode(absl::string_view bytes) {
  if constexpr (!codec_internal::CheckEncodable<T>()) {
    return absl::InternalError("unreachable: T is not encodable");
  } else {
    return codec_internal::DecodeEnvelope<T>(bytes);
  }
}

namespace codec_internal {

template <typename T>
absl::StatusOr<T> DecodeEnvelope(absl::string_view bytes) {
  static_assert(std::is_default_constructible_v<T>,
                "unidist: Decode<T> default-constructs T before decoding into "
                "it; give T a default constructor");
  Decoder in(bytes);
  uint64_t tag = 0;
  if (!in.ReadFixed64(&tag).ok()) {
    return absl::DataLossError(absl::StrCat("decoding ", TypeName<T>(), ": input is ", bytes.size(),
                                            " bytes, too short for the 8-byte type tag"));
  }
  if (tag != TypeTag<T>()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("cannot decode as %s: the bytes hold a value of a different type "
                        "(type tag %016x, %s has %016x)",
                        TypeName<T>(), tag, TypeName<T>(), TypeTag<T>()));
  }
  T value{};
  absl::Status status = Codec<T>::Decode(in, &value);
  if (!status.ok()) {
    return Annotate(status, absl::StrCat("decoding ", TypeName<T>()));
  }
  if (in.remaining() != 0) {
    return absl::DataLossError(absl::StrCat("decoding ", TypeName<T>(), ": ", in.remaining(),
                                            " trailing bytes after the value"));
  }
  return value;
}

}  // namespace codec_internal
}  // namespace unidist

#undef UNIDIST_CODEC_RETURN_IF_ERROR_

#endif  // UNIDIST_COMMON_CODEC_H_
