// Copyright 2026 The unidist-cpp Authors.
//
// codec_fuzzer: unidist::Decode<T> of the input for the types in codec_fuzz_types.h (the
// first byte picks one; layout there), under ASan and UBSan.
//
// Every input: a failure is kInvalidArgument exactly when the 8-byte tag is another
// type's, and kDataLoss otherwise. Every success: the input was prefix-free (dropping its
// last byte makes it fail), Encode of the value decodes again, and the re-encoding relates
// to the input as the type's Reencoding says:
//
//   kExact      Encode(Decode(b)) == b. The codec is canonical for these types: fixed-width
//               numbers are copied as bytes (so NaN payloads and -0.0 survive; compared as
//               bytes, not with ==), varints must be minimal, bools and presence bytes 0/1.
//   kReordered  maps. Decode accepts the entries in any order (std::map re-encodes in key
//               order, std::unordered_map in its iteration order), so only the size and the
//               value are preserved: same length, and the re-encoding decodes to an equal
//               value (doubles compared bit for bit).
//   kNormalized protobuf messages: parsing normalizes (non-minimal varints, fields set to
//               their default, repeated or reordered fields), so Encode(Decode(b)) may
//               differ from b in content and length; it must be a fixed point.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fuzz/codec_fuzz_types.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/duration.pb.h"
#include "unidist/common/codec.h"

namespace unidist::fuzzing {
namespace {

enum class Reencoding { kExact, kReordered, kNormalized };

template <typename T>
inline constexpr Reencoding kReencoding = Reencoding::kExact;
template <>
inline constexpr Reencoding kReencoding<std::map<std::string, std::vector<int>>> =
    Reencoding::kReordered;
template <>
inline constexpr Reencoding
    kReencoding<std::tuple<bool, std::vector<std::string>, std::unordered_map<int, double>>> =
        Reencoding::kReordered;
template <>
inline constexpr Reencoding kReencoding<google::protobuf::Duration> = Reencoding::kNormalized;

// Value equality for the kReordered types, NaN-safe.
bool SameValue(const std::map<std::string, std::vector<int>>& a,
               const std::map<std::string, std::vector<int>>& b) {
  return a == b;
}

bool SameValue(
    const std::tuple<bool, std::vector<std::string>, std::unordered_map<int, double>>& a,
    const std::tuple<bool, std::vector<std::string>, std::unordered_map<int, double>>& b) {
  if (std::get<0>(a) != std::get<0>(b) || std::get<1>(a) != std::get<1>(b)) return false;
  const std::unordered_map<int, double>& map_a = std::get<2>(a);
  const std::unordered_map<int, double>& map_b = std::get<2>(b);
  if (map_a.size() != map_b.size()) return false;
  for (const auto& [key, value] : map_a) {
    auto it = map_b.find(key);
    if (it == map_b.end() || std::memcmp(&value, &it->second, sizeof(double)) != 0) {
      return false;
    }
  }
  return true;
}

template <typename T>
void FuzzType(bool raw, absl::string_view body) {
  const std::string& tag = CodecTypeTag<T>();
  std::string input;
  if (!raw) input = tag;
  input.append(body.data(), body.size());

  absl::StatusOr<T> decoded = Decode<T>(input);
  const bool tag_matches =
      input.size() >= kTypeTagBytes && absl::string_view(input).substr(0, kTypeTagBytes) == tag;
  if (!decoded.ok()) {
    if (input.size() >= kTypeTagBytes && !tag_matches) {
      FUZZ_CHECK(decoded.status().code() == absl::StatusCode::kInvalidArgument);
    } else {
      FUZZ_CHECK(decoded.status().code() == absl::StatusCode::kDataLoss);
    }
    return;
  }
  FUZZ_CHECK(tag_matches);
  // Every encoding is self-delimiting, so no proper prefix of a valid input is valid.
  FUZZ_CHECK(!Decode<T>(absl::string_view(input).substr(0, input.size() - 1)).ok());

  const std::string reencoded = Encode(*decoded);
  absl::StatusOr<T> again = Decode<T>(reencoded);
  FUZZ_CHECK(again.ok());

  if constexpr (kReencoding<T> == Reencoding::kExact) {
    FUZZ_CHECK(reencoded == input);
  } else if constexpr (kReencoding<T> == Reencoding::kReordered) {
    FUZZ_CHECK(reencoded.size() == input.size());
    FUZZ_CHECK(SameValue(*decoded, *again));
  } else {
    FUZZ_CHECK(Encode(*again) == reencoded);
  }
}

template <size_t... I>
void Dispatch(size_t index, bool raw, absl::string_view body, std::index_sequence<I...>) {
  ((index == I ? FuzzType<std::tuple_element_t<I, CodecFuzzTypes>>(raw, body) : void()), ...);
}

}  // namespace
}  // namespace unidist::fuzzing

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace unidist::fuzzing;  // NOLINT(build/namespaces)
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  const absl::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  Dispatch((selector & 0x7f) % kNumCodecFuzzTypes, (selector & kRawSelectorBit) != 0, body,
           std::make_index_sequence<kNumCodecFuzzTypes>());
  return 0;
}
