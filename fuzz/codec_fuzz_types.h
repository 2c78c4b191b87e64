// Copyright 2026 The unidist-cpp Authors.
//
// The value types codec_fuzzer decodes, and its input layout; shared with the seed-corpus
// generator so that both agree on the types (a codec type tag is a fingerprint of
// typeid(T).name()).
//
// Input layout:
//   byte 0      the selector. (selector & 0x7f) % std::tuple_size_v<CodecFuzzTypes> picks
//               the type. If bit 7 is clear, the fuzzer prepends that type's 8-byte tag
//               to the rest, so mutations go into the value; if set, the rest is decoded
//               as is, tag included, which also fuzzes the tag check.
//   the rest    the bytes to decode.

#ifndef UNIDIST_FUZZ_CODEC_FUZZ_TYPES_H_
#define UNIDIST_FUZZ_CODEC_FUZZ_TYPES_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/duration.pb.h"
#include "unidist/common/codec.h"

namespace unidist::fuzzing {

enum class Color : uint8_t { kRed, kGreen, kBlue };

// A user struct encoded through UnidistFields().
struct Record {
  int32_t id = 0;
  std::string name;
  std::vector<uint16_t> samples;
  std::optional<float> weight;
  Color color = Color::kRed;
  bool flag = false;
  std::array<int8_t, 3> small{};

  auto UnidistFields() { return std::tie(id, name, samples, weight, color, flag, small); }
};

using CodecFuzzTypes =
    std::tuple<int64_t,                                                                      // 0
               std::string,                                                                  // 1
               std::vector<double>,                                                          // 2
               std::map<std::string, std::vector<int>>,                                      // 3
               std::optional<std::pair<int, std::string>>,                                   // 4
               std::tuple<bool, std::vector<std::string>, std::unordered_map<int, double>>,  // 5
               Record,                                                                       // 6
               google::protobuf::Duration>;                                                  // 7

inline constexpr size_t kNumCodecFuzzTypes = std::tuple_size_v<CodecFuzzTypes>;
inline constexpr uint8_t kRawSelectorBit = 0x80;
inline constexpr size_t kTypeTagBytes = 8;

// The 8-byte type tag Encode<T> writes first.
template <typename T>
const std::string& CodecTypeTag() {
  static const std::string* const tag = new std::string(Encode(T{}).substr(0, kTypeTagBytes));
  return *tag;
}

// A fuzzer input that decodes `value` as type number I (the generator's side of the
// layout above). `raw` keeps the tag in the input.
template <size_t I>
std::string MakeCodecFuzzInput(const std::tuple_element_t<I, CodecFuzzTypes>& value, bool raw) {
  std::string out(1, static_cast<char>(I | (raw ? kRawSelectorBit : 0)));
  const std::string encoded = Encode(value);
  const absl::string_view kept =
      raw ? absl::string_view(encoded) : absl::string_view(encoded).substr(kTypeTagBytes);
  out.append(kept.data(), kept.size());
  return out;
}

}  // namespace unidist::fuzzing

#endif  // UNIDIST_FUZZ_CODEC_FUZZ_TYPES_H_
