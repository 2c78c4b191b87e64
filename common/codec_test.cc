// Copyright 2024 The unidist-cpp Authors.
//
// Tests for common/codec.h: the primitive Encoder/Decoder, the wire layout of
// each built-in codec (pinned byte for byte where it is part of the
// contract), round trips of every supported type, and -- because decoders
// see bytes from other processes -- that every truncation, every single-byte
// corruption and random garbage yields a status, never a crash or undefined
// behaviour (run this test under ASan/UBSan to check the latter).

#include "unidist/common/codec.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "google/protobuf/api.pb.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

// -----------------------------------------------------------------------------
// Test types
// -----------------------------------------------------------------------------

namespace codec_test {

struct Point {
  double x = 0, y = 0;
  std::string label;
  auto UnidistFields() { return std::tie(x, y, label); }
  bool operator==(const Point& o) const { return x == o.x && y == o.y && label == o.label; }
};

enum class Color : uint8_t { kRed, kGreen, kBlue = 200 };
enum class Wide : int64_t { kMin = std::numeric_limits<int64_t>::min() };
enum class Flag : bool { kOff, kOn };
enum FixedLegacy : short { kFixedA = -3, kFixedB = 7 };
enum UnfixedLegacy { kUnfixedA, kUnfixedB };

struct Scene {
  std::vector<Point> points;
  std::optional<Point> focus;
  Color color = Color::kRed;
  std::map<int, std::string> names;
  std::array<Flag, 3> flags{};
  auto UnidistFields() { return std::tie(points, focus, color, names, flags); }
  bool operator==(const Scene& o) const {
    return points == o.points && focus == o.focus && color == o.color && names == o.names &&
           flags == o.flags;
  }
};

// A field that is deliberately not sent keeps its default on decode.
struct PartlySent {
  int sent = 0;
  int not_sent = 42;
  auto UnidistFields() { return std::tie(sent); }
};

struct NoFields {
  auto UnidistFields() { return std::tie(); }
  bool operator==(const NoFields&) const { return true; }
};

// Encodable through an explicit Codec specialization instead.
class Celsius {
 public:
  Celsius() = default;
  explicit Celsius(double degrees) : degrees_(degrees) {}
  double degrees() const { return degrees_; }
  bool operator==(const Celsius& o) const { return degrees_ == o.degrees_; }

 private:
  double degrees_ = 0;
};

// Not encodable, in several ways.
struct NoCodec {
  int x;
};
struct FieldsByValue {
  int x = 0;
  auto UnidistFields() { return std::make_tuple(x); }
};
struct ConstFields {
  int x = 0;
  auto UnidistFields() const { return std::tie(x); }
};
struct FieldNotEncodable {
  NoCodec inner;
  auto UnidistFields() { return std::tie(inner); }
};
struct NotDefaultConstructible {
  explicit NotDefaultConstructible(int v) : x(v) {}
  int x;
  auto UnidistFields() { return std::tie(x); }
};

// Records the largest single allocation, to prove that a forged element
// count is rejected before anything of that size is allocated. The codecs
// accept any allocator, so containers in that test use this one.
inline size_t g_largest_allocation = 0;

template <typename T>
struct TrackingAllocator {
  using value_type = T;
  TrackingAllocator() = default;
  template <typename U>
  TrackingAllocator(const TrackingAllocator<U>&) {}
  T* allocate(size_t n) {
    g_largest_allocation = std::max(g_largest_allocation, n * sizeof(T));
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, size_t n) { std::allocator<T>().deallocate(p, n); }
  template <typename U>
  bool operator==(const TrackingAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const TrackingAllocator<U>&) const {
    return false;
  }
};

template <typename T>
using TrackedVector = std::vector<T, TrackingAllocator<T>>;
template <typename K, typename V>
using TrackedMap = std::map<K, V, std::less<K>, TrackingAllocator<std::pair<const K, V>>>;
template <typename K, typename V>
using TrackedFlatMap = absl::flat_hash_map<K, V, absl::container_internal::hash_default_hash<K>,
                                           absl::container_internal::hash_default_eq<K>,
                                           TrackingAllocator<std::pair<const K, V>>>;
template <typename K>
using TrackedSet = std::set<K, std::less<K>, TrackingAllocator<K>>;
template <typename K>
using TrackedUnorderedSet =
    std::unordered_set<K, std::hash<K>, std::equal_to<K>, TrackingAllocator<K>>;

}  // namespace codec_test

template <>
struct unidist::Codec<codec_test::Celsius> {
  static constexpr size_t kMinEncodedSize = 8;
  static void Encode(const codec_test::Celsius& c, Encoder& out) {
    Codec<double>::Encode(c.degrees(), out);
  }
  static absl::Status Decode(Decoder& in, codec_test::Celsius* c) {
    double d;
    absl::Status status = Codec<double>::Decode(in, &d);
    if (status.ok()) *c = codec_test::Celsius(d);
    return status;
  }
};

namespace unidist {
namespace {

using ::codec_test::Celsius;
using ::codec_test::Color;
using ::codec_test::Point;
using ::codec_test::Scene;
using ::codec_test::TrackedFlatMap;
using ::codec_test::TrackedMap;
using ::codec_test::TrackedSet;
using ::codec_test::TrackedUnorderedSet;
using ::codec_test::TrackedVector;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// -----------------------------------------------------------------------------
// Compile-time: which types are encodable.
// -----------------------------------------------------------------------------

static_assert(kIsEncodable<bool> && kIsEncodable<char> && kIsEncodable<signed char> &&
              kIsEncodable<unsigned char> && kIsEncodable<wchar_t> && kIsEncodable<char16_t> &&
              kIsEncodable<char32_t> && kIsEncodable<int8_t> && kIsEncodable<uint64_t> &&
              kIsEncodable<long long> && kIsEncodable<float> && kIsEncodable<double>);
static_assert(kIsEncodable<Color> && kIsEncodable<codec_test::Wide> &&
              kIsEncodable<codec_test::Flag> && kIsEncodable<codec_test::FixedLegacy>);
static_assert(kIsEncodable<std::string> && kIsEncodable<std::vector<bool>> &&
              kIsEncodable<std::array<std::string, 2>> && kIsEncodable<std::set<int>> &&
              kIsEncodable<std::unordered_set<std::string>> &&
              kIsEncodable<absl::flat_hash_set<int>> && kIsEncodable<std::tuple<>> &&
              kIsEncodable<google::protobuf::Duration> && kIsEncodable<Point> &&
              kIsEncodable<Scene> && kIsEncodable<codec_test::NoFields> && kIsEncodable<Celsius>);
static_assert(
    kIsEncodable<std::map<std::string, std::vector<std::optional<std::pair<int, Point>>>>>);
// Not encodable: each of these would hit a static_assert in Encode/Decode.
static_assert(!kIsEncodable<codec_test::UnfixedLegacy>);
static_assert(!kIsEncodable<long double>);
static_assert(!kIsEncodable<int*>);
static_assert(!kIsEncodable<const int>);
static_assert(!kIsEncodable<codec_test::NoCodec>);
static_assert(!kIsEncodable<codec_test::FieldsByValue>);
static_assert(!kIsEncodable<codec_test::ConstFields>);
static_assert(!kIsEncodable<codec_test::FieldNotEncodable>);
static_assert(!kIsEncodable<codec_test::NotDefaultConstructible>);
static_assert(!kIsEncodable<std::vector<codec_test::NoCodec>>);
static_assert(!kIsEncodable<std::map<int, codec_test::NoCodec>>);
static_assert(!kIsEncodable<std::optional<codec_test::NoCodec>>);
static_assert(!kIsEncodable<std::pair<const int, int>>);
static_assert(!kIsEncodable<std::tuple<int, codec_test::NoCodec>>);
// Every built-in encoding is at least one byte (see the file comment).
static_assert(codec_internal::kMinSize<std::tuple<>> == 1);
static_assert(codec_internal::kMinSize<std::array<int, 0>> == 1);
static_assert(codec_internal::kMinSize<Point> == 17);
static_assert(codec_internal::kMinSize<std::array<int32_t, 3>> == 12);

// -----------------------------------------------------------------------------
// Helpers
// -----------------------------------------------------------------------------

// The 8-byte envelope header Encode<T> writes.
template <typename T>
std::string Header() {
  std::string out;
  Encoder(&out).WriteFixed64(codec_internal::TypeTag<T>());
  return out;
}

// The encoding of `value` without the type tag.
template <typename T>
std::string Body(const T& value) {
  return Encode(value).substr(8);
}

template <typename T>
void ExpectRoundTrip(const T& value) {
  absl::StatusOr<T> decoded = Decode<T>(Encode(value));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(*decoded == value) << TypeName<T>();
}

// Decoding must reject every strict prefix of a valid encoding with kDataLoss,
// and survive every single-byte corruption (OK or not, but no crash/UB).
template <typename T>
void ExpectRobust(const T& value) {
  const std::string bytes = Encode(value);
  for (size_t n = 0; n < bytes.size(); ++n) {
    absl::StatusOr<T> decoded = Decode<T>(bytes.substr(0, n));
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss)
        << TypeName<T>() << " prefix of " << n << "/" << bytes.size()
        << " bytes: " << decoded.status();
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int mutation : {0x01, 0x02, 0x10, 0x40, 0x80, 0xff}) {
      std::string corrupt = bytes;
      corrupt[i] = static_cast<char>(corrupt[i] ^ mutation);
      absl::StatusOr<T> decoded = Decode<T>(corrupt);
      if (decoded.ok()) {
        // Whatever decoded must itself encode and decode again.
        EXPECT_TRUE(Decode<T>(Encode(*decoded)).ok());
      } else if (i >= 8) {
        EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss) << decoded.status();
      }
    }
  }
}

// -----------------------------------------------------------------------------
// Encoder / Decoder primitives
// -----------------------------------------------------------------------------

TEST(EncoderTest, VarintLayout) {
  auto varint = [](uint64_t v) {
    std::string out;
    Encoder(&out).WriteVarint(v);
    return out;
  };
  EXPECT_EQ(varint(0), std::string("\x00", 1));
  EXPECT_EQ(varint(127), "\x7f");
  EXPECT_EQ(varint(128), "\x80\x01");
  EXPECT_EQ(varint(300), "\xac\x02");
  EXPECT_EQ(varint(~uint64_t{0}), std::string(9, '\xff') + "\x01");
}

TEST(EncoderTest, FixedIsLittleEndian) {
  std::string out;
  Encoder encoder(&out);
  encoder.WriteFixed32(0x01020304);
  encoder.WriteFixed64(0x0102030405060708);
  EXPECT_EQ(out, "\x04\x03\x02\x01\x08\x07\x06\x05\x04\x03\x02\x01");
}

TEST(EncoderTest, AppendsAndWritesBytes) {
  std::string out = "keep";
  Encoder encoder(&out);
  encoder.WriteBytes("ab");
  encoder.WriteRaw(nullptr, 0);
  encoder.WriteRaw("cd", 2);
  EXPECT_EQ(out,
            "keep\x02"
            "abcd");
}

// EncodedSize and EncodeInto agree with Encode byte for byte, for numbers,
// memcpy'd vectors, nested containers and user structs.
template <typename T>
void ExpectEncodeIntoMatches(const T& value) {
  const std::string expected = Encode(value);
  EXPECT_EQ(EncodedSize(value), expected.size());
  std::string buffer(expected.size(), '\xee');
  ASSERT_TRUE(EncodeInto(value, buffer.data(), buffer.size()).ok());
  EXPECT_EQ(buffer, expected);
}

TEST(EncodeIntoTest, MatchesEncode) {
  ExpectEncodeIntoMatches(int32_t{-7});
  ExpectEncodeIntoMatches(std::string(300, 'x'));
  ExpectEncodeIntoMatches(std::vector<double>(1000, 2.5));
  ExpectEncodeIntoMatches(std::vector<std::string>{"a", "", std::string(200, 'b')});
  ExpectEncodeIntoMatches(std::map<int, std::string>{{1, "one"}, {-2, "two"}});
  Scene scene;
  scene.points = {{1, 2, "p"}, {3, 4, ""}};
  scene.focus = Point{5, 6, "f"};
  scene.names = {{7, "seven"}};
  ExpectEncodeIntoMatches(scene);
}

TEST(EncodeIntoTest, WrongSizeIsAnErrorAndWritesNothingPastTheBuffer) {
  const std::vector<uint8_t> value(100, 1);
  const size_t size = EncodedSize(value);
  std::string buffer(size + 16, '\xee');
  // Too small: nothing past the stated size changes.
  const absl::Status small = EncodeInto(value, buffer.data(), size - 10);
  EXPECT_EQ(small.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(small.message(), ::testing::HasSubstr("std::vector"));
  EXPECT_EQ(buffer.substr(size - 10), std::string(26, '\xee'));
  // Too large: the encoding is shorter than the buffer.
  EXPECT_EQ(EncodeInto(value, buffer.data(), size + 1).code(), absl::StatusCode::kInvalidArgument);
}

TEST(EncoderTest, CountingWritesNothing) {
  Encoder counter = Encoder::Counting();
  counter.WriteVarint(300);
  counter.WriteBytes("abc");
  counter.WriteFixed64(1);
  EXPECT_EQ(counter.written(), 2u + 4u + 8u);
  EXPECT_FALSE(counter.overflowed());
}

TEST(DecoderTest, ReadsWhatEncoderWrites) {
  std::mt19937_64 rng(7);
  std::string buffer;
  Encoder encoder(&buffer);
  std::vector<uint64_t> values = {0, 1, 127, 128, 16383, 16384, ~uint64_t{0}, uint64_t{1} << 63};
  for (int i = 0; i < 1000; ++i) values.push_back(rng() >> (rng() % 64));
  for (uint64_t v : values) {
    encoder.WriteVarint(v);
    encoder.WriteFixed32(static_cast<uint32_t>(v));
    encoder.WriteFixed64(v);
  }
  encoder.WriteBytes(std::string("x\0y", 3));
  Decoder decoder(buffer);
  for (uint64_t v : values) {
    uint64_t varint, fixed64;
    uint32_t fixed32;
    ASSERT_TRUE(decoder.ReadVarint(&varint).ok());
    ASSERT_TRUE(decoder.ReadFixed32(&fixed32).ok());
    ASSERT_TRUE(decoder.ReadFixed64(&fixed64).ok());
    EXPECT_EQ(varint, v);
    EXPECT_EQ(fixed32, static_cast<uint32_t>(v));
    EXPECT_EQ(fixed64, v);
  }
  absl::string_view bytes;
  ASSERT_TRUE(decoder.ReadBytes(&bytes).ok());
  EXPECT_EQ(bytes, absl::string_view("x\0y", 3));
  EXPECT_EQ(decoder.remaining(), 0u);
}

TEST(DecoderTest, RejectsBadVarintsWithoutMoving) {
  const struct {
    std::string input;
    std::string message;
  } cases[] = {
      {"", "truncated varint"},
      {"\x80", "truncated varint"},
      {std::string(9, '\xff') + "\x02", "does not fit in 64 bits"},
      {std::string(10, '\xff') + "\x01", "does not fit in 64 bits"},
      {std::string("\x80\x00", 2), "minimal form"},
      {std::string("\xff\x00", 2), "minimal form"},
  };
  for (const auto& c : cases) {
    Decoder decoder(c.input);
    uint64_t v;
    absl::Status status = decoder.ReadVarint(&v);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(status.message(), HasSubstr(c.message));
    EXPECT_EQ(decoder.remaining(), c.input.size());
  }
}

TEST(DecoderTest, NeverReadsPastTheEnd) {
  Decoder decoder("abc");
  uint32_t u32;
  uint64_t u64;
  char raw[4];
  absl::string_view view;
  absl::Status status = decoder.ReadFixed32(&u32);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("fixed32"));
  status = decoder.ReadFixed64(&u64);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("fixed64"));
  EXPECT_EQ(decoder.ReadRaw(raw, 4).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(decoder.ReadView(4, &view).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(decoder.remaining(), 3u);
  EXPECT_TRUE(decoder.ReadRaw(nullptr, 0).ok());

  Decoder lying(
      "\x05"
      "ab");  // Length 5, only 2 bytes follow.
  status = lying.ReadBytes(&view);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("length 5"));
  EXPECT_EQ(lying.remaining(), 3u);
}

// -----------------------------------------------------------------------------
// Wire layout pins
// -----------------------------------------------------------------------------

TEST(CodecLayoutTest, Pinned) {
  EXPECT_EQ(Encode<int32_t>(0x01020304).size(), 12u);
  EXPECT_EQ(Body<int32_t>(0x01020304), "\x04\x03\x02\x01");
  EXPECT_EQ(Body(true), "\x01");
  EXPECT_EQ(Body(Color::kBlue), "\xc8");
  EXPECT_EQ(Body(std::string("ab")),
            "\x02"
            "ab");
  EXPECT_EQ(Body(std::vector<uint16_t>{1, 2}), std::string("\x02\x01\x00\x02\x00", 5));
  EXPECT_EQ(Body(std::vector<bool>{true, false}), std::string("\x02\x01\x00", 3));
  EXPECT_EQ(Body(std::array<uint8_t, 2>{7, 8}), "\x07\x08");
  EXPECT_EQ(Body(std::optional<int8_t>()), std::string("\x00", 1));
  EXPECT_EQ(Body(std::optional<int8_t>(5)), "\x01\x05");
  EXPECT_EQ(Body(std::pair<int8_t, std::string>(1, "z")), "\x01\x01z");
  EXPECT_EQ(Body(std::map<int8_t, int8_t>{{1, 2}, {3, 4}}), "\x02\x01\x02\x03\x04");
  EXPECT_EQ(Body(std::tuple<>()), std::string("\x00", 1));
  EXPECT_EQ(Body(std::array<int, 0>()), std::string("\x00", 1));
  EXPECT_EQ(Body(codec_test::NoFields()), std::string("\x00", 1));
  EXPECT_EQ(Body(Point{0, 0, "q"}), std::string(16, '\0') + "\x01q");
}

// -----------------------------------------------------------------------------
// Round trips
// -----------------------------------------------------------------------------

template <typename T>
class ArithmeticTest : public ::testing::Test {};
using ArithmeticTypes =
    ::testing::Types<bool, char, signed char, unsigned char, wchar_t, char16_t, char32_t, int8_t,
                     uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t, uint64_t, long,
                     unsigned long, long long, unsigned long long, float, double>;
TYPED_TEST_SUITE(ArithmeticTest, ArithmeticTypes);

TYPED_TEST(ArithmeticTest, RoundTripsLimits) {
  using T = TypeParam;
  for (T v : {std::numeric_limits<T>::min(), std::numeric_limits<T>::max(),
              std::numeric_limits<T>::lowest(), T{}, T(1)}) {
    ExpectRoundTrip(v);
    EXPECT_EQ(Encode(v).size(), 8 + sizeof(T));
  }
  ExpectRobust(std::numeric_limits<T>::max());
}

TEST(CodecTest, FloatingPointBitsSurvive) {
  for (double v :
       {-0.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
        std::numeric_limits<double>::denorm_min()}) {
    absl::StatusOr<double> d = Decode<double>(Encode(v));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(std::memcmp(&*d, &v, sizeof v), 0);
  }
  absl::StatusOr<std::vector<float>> nan =
      Decode<std::vector<float>>(Encode(std::vector<float>{NAN}));
  ASSERT_TRUE(nan.ok());
  EXPECT_TRUE(std::isnan((*nan)[0]));
}

TEST(CodecTest, Enums) {
  ExpectRoundTrip(Color::kBlue);
  ExpectRoundTrip(static_cast<Color>(77));  // Any value of the fixed type.
  ExpectRoundTrip(codec_test::Wide::kMin);
  ExpectRoundTrip(codec_test::Flag::kOn);
  ExpectRoundTrip(codec_test::kFixedA);
  ExpectRoundTrip(std::vector<Color>{Color::kGreen, Color::kBlue});
  ExpectRoundTrip(std::vector<codec_test::Flag>{codec_test::Flag::kOn});
  // An enum over bool is validated like bool.
  auto bad = Decode<codec_test::Flag>(Header<codec_test::Flag>() + "\x02");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  ExpectRobust(std::vector<codec_test::Flag>{codec_test::Flag::kOn});
}

TEST(CodecTest, Strings) {
  ExpectRoundTrip(std::string());
  ExpectRoundTrip(std::string("hello"));
  ExpectRoundTrip(std::string("nul\0inside\xff", 11));
  ExpectRoundTrip(std::string(100000, 'x'));
  ExpectRobust(std::string("hello"));
}

TEST(CodecTest, Vectors) {
  ExpectRoundTrip(std::vector<int>());
  ExpectRoundTrip(std::vector<int>{1, -2, 3});
  ExpectRoundTrip(std::vector<std::string>());
  ExpectRoundTrip(std::vector<std::string>{"a", "", "ccc"});
  ExpectRoundTrip(std::vector<std::vector<int>>{{}, {1}, {2, 3}});
  ExpectRobust(std::vector<int16_t>{1, -2, 3});
  ExpectRobust(std::vector<std::string>{"a", "", "ccc"});
}

TEST(CodecTest, VectorBool) {
  for (size_t n : {0, 1, 7, 8, 9, 1000}) {
    std::vector<bool> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = (i % 3) == 0;
    ExpectRoundTrip(v);
  }
  ExpectRobust(std::vector<bool>{true, false, true});
  auto bad =
      Decode<std::vector<bool>>(Header<std::vector<bool>>() + std::string("\x02\x01\x02", 3));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(bad.status().message(), HasSubstr("element 1"));
}

TEST(CodecTest, LargeVectorOfDouble) {
  std::vector<double> v(1'000'000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i) * 0.5;
  const std::string bytes = Encode(v);
  EXPECT_EQ(bytes.size(), 8 + 3 + 8 * v.size());  // One memcpy, no per-item.
  absl::StatusOr<std::vector<double>> decoded = Decode<std::vector<double>>(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, v);
  // Truncating a large vector anywhere in the payload is still an error.
  EXPECT_EQ(Decode<std::vector<double>>(bytes.substr(0, bytes.size() - 1)).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(CodecTest, Arrays) {
  ExpectRoundTrip(std::array<int, 0>());
  ExpectRoundTrip(std::array<int, 4>{1, 2, 3, 4});
  ExpectRoundTrip(std::array<bool, 3>{true, false, true});
  ExpectRoundTrip(std::array<std::string, 2>{"x", "yz"});
  ExpectRobust(std::array<std::string, 2>{"x", "yz"});
  ExpectRobust(std::array<int, 0>());
}

TEST(CodecTest, MapsAndSets) {
  ExpectRoundTrip(std::map<std::string, int>());
  ExpectRoundTrip(std::map<std::string, int>{{"a", 1}, {"b", 2}});
  ExpectRoundTrip(std::unordered_map<int, std::string>());
  ExpectRoundTrip(std::unordered_map<int, std::string>{{1, "a"}, {2, "b"}});
  ExpectRoundTrip(absl::flat_hash_map<std::string, std::vector<int>>());
  ExpectRoundTrip(absl::flat_hash_map<std::string, std::vector<int>>{{"a", {1}}, {"b", {}}});
  ExpectRoundTrip(std::set<int>());
  ExpectRoundTrip(std::set<int>{3, 1, 2});
  ExpectRoundTrip(std::unordered_set<std::string>{"x", "y"});
  ExpectRoundTrip(absl::flat_hash_set<int64_t>{5, 6});
  ExpectRobust(std::map<std::string, int>{{"a", 1}, {"b", 2}});
  ExpectRobust(absl::flat_hash_map<int, std::string>{{1, "a"}, {2, "bb"}});
  ExpectRobust(std::set<int>{3, 1, 2});
}

TEST(CodecTest, PairsTuplesOptionals) {
  ExpectRoundTrip(std::pair<int, std::string>(1, "one"));
  ExpectRoundTrip(std::tuple<>());
  ExpectRoundTrip(std::tuple<int, std::string, bool>(1, "x", true));
  ExpectRoundTrip(std::optional<std::string>());
  ExpectRoundTrip(std::optional<std::string>("x"));
  ExpectRoundTrip(std::optional<std::optional<int>>(std::optional<int>()));
  ExpectRoundTrip(std::vector<std::tuple<>>(3));
  ExpectRobust(std::tuple<int, std::string, bool>(1, "x", true));
  ExpectRobust(std::optional<std::optional<int>>(std::optional<int>(4)));
}

TEST(CodecTest, ProtobufMessages) {
  google::protobuf::Duration duration;
  duration.set_seconds(-12345678901);
  duration.set_nanos(-999);
  auto d = Decode<google::protobuf::Duration>(Encode(duration));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*d, duration));
  ExpectRobust(duration);

  // A nested message, in a container. (Map-free: Debian's prebuilt libprotobuf lays map
  // fields out differently from ThreadSanitizer-instrumented code, and the tsan build
  // runs this test too.)
  google::protobuf::Api api;
  api.set_name("unidist.Worker");
  api.add_methods()->set_name("Run");
  api.mutable_methods(0)->set_request_type_url("type.unidist.dev/unidist.proto.TaskRequest");
  api.add_mixins()->set_root("tasks");
  api.mutable_source_context()->set_file_name("worker_protocol.proto");
  auto decoded = Decode<std::vector<google::protobuf::Api>>(
      Encode(std::vector<google::protobuf::Api>{api, {}}));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals((*decoded)[0], api));
  EXPECT_EQ((*decoded)[1].methods_size(), 0);

  // Bytes that protobuf cannot parse.
  std::string bad = Header<google::protobuf::Duration>();
  Encoder(&bad).WriteBytes("\xff\xff\xff");
  auto parsed = Decode<google::protobuf::Duration>(bad);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(parsed.status().message(), HasSubstr("malformed"));

  // The marker Encode writes for an unserializable (>= 2 GiB) message.
  std::string unserializable = Header<google::protobuf::Duration>();
  Encoder(&unserializable).WriteVarint(~uint64_t{0});
  parsed = Decode<google::protobuf::Duration>(unserializable);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(parsed.status().message(), HasSubstr("could not serialize"));
}

TEST(CodecTest, UserStructs) {
  ExpectRoundTrip(Point{1.5, -2, "p"});
  const Point constant{3, 4, "const"};  // Encoding a const value is allowed.
  ExpectRoundTrip(constant);
  ExpectRoundTrip(codec_test::NoFields());
  ExpectRoundTrip(std::vector<codec_test::NoFields>(5));
  ExpectRoundTrip(Celsius(36.6));
  ExpectRoundTrip(std::map<int, Celsius>{{1, Celsius(-40)}});

  Scene scene;
  scene.points = {{1, 2, "a"}, {3, 4, ""}};
  scene.focus = Point{5, 6, "f"};
  scene.color = Color::kGreen;
  scene.names = {{1, "one"}, {2, "two"}};
  scene.flags = {codec_test::Flag::kOn, codec_test::Flag::kOff, codec_test::Flag::kOn};
  ExpectRoundTrip(scene);
  ExpectRoundTrip(Scene());
  ExpectRobust(scene);

  codec_test::PartlySent partly;
  partly.sent = 7;
  partly.not_sent = 8;
  auto decoded = Decode<codec_test::PartlySent>(Encode(partly));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->sent, 7);
  EXPECT_EQ(decoded->not_sent, 42);
}

TEST(CodecTest, DeepNesting) {
  using Deep = std::map<std::string, std::vector<std::optional<std::pair<int, Point>>>>;
  Deep deep = {
      {"", {}},
      {"a", {std::nullopt, std::make_pair(1, Point{1, 2, "x"})}},
      {"b", {std::make_pair(-1, Point{}), std::nullopt, std::nullopt}},
  };
  ExpectRoundTrip(deep);
  ExpectRoundTrip(Deep());
  ExpectRobust(deep);
}

// The codecs can also be used without the envelope, e.g. inside another
// component's own message framing.
TEST(CodecTest, DirectCodecUseAndOverwrite) {
  std::string buffer;
  Encoder encoder(&buffer);
  Codec<Point>::Encode(Point{1, 2, "a"}, encoder);
  Codec<std::vector<int>>::Encode({4, 5}, encoder);
  Codec<std::map<int, int>>::Encode({{1, 1}}, encoder);

  Decoder decoder(buffer);
  Point p;
  std::vector<int> v = {9, 9, 9};  // Decode replaces, not appends.
  std::map<int, int> m = {{7, 7}};
  ASSERT_TRUE(Codec<Point>::Decode(decoder, &p).ok());
  ASSERT_TRUE(Codec<std::vector<int>>::Decode(decoder, &v).ok());
  ASSERT_TRUE((Codec<std::map<int, int>>::Decode(decoder, &m).ok()));
  EXPECT_EQ(p, (Point{1, 2, "a"}));
  EXPECT_EQ(v, (std::vector<int>{4, 5}));
  EXPECT_EQ(m, (std::map<int, int>{{1, 1}}));
  EXPECT_EQ(decoder.remaining(), 0u);
}

TEST(CodecTest, EncodeToAppends) {
  std::string out = "prefix";
  EncodeTo(std::string("v"), &out);
  EXPECT_THAT(out, StartsWith("prefix"));
  auto decoded = Decode<std::string>(absl::string_view(out).substr(6));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, "v");
}

TEST(CodecTest, TypeName) {
  EXPECT_EQ(TypeName<std::string>(), "std::string");
  EXPECT_EQ(TypeName<int>(), "int");
  EXPECT_EQ(TypeName<Point>(), "codec_test::Point");
  EXPECT_THAT(TypeName<std::vector<std::string>>(), StartsWith("std::vector<std::string"));
}

// -----------------------------------------------------------------------------
// Envelope errors and malformed input
// -----------------------------------------------------------------------------

TEST(CodecErrorTest, WrongTypeIsInvalidArgument) {
  auto decoded = Decode<std::string>(Encode(42));
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), HasSubstr("std::string"));
  EXPECT_THAT(decoded.status().message(), HasSubstr("different type"));
  // Same size, different type: still caught by the tag.
  EXPECT_EQ(Decode<uint32_t>(Encode(int32_t{1})).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Decode<Color>(Encode(uint8_t{1})).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CodecErrorTest, TooShortForTag) {
  auto decoded = Decode<int>("abc");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("type tag"));
}

TEST(CodecErrorTest, TrailingBytesAreDataLoss) {
  auto decoded = Decode<int>(Encode(42) + "x");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(), HasSubstr("1 trailing bytes"));
}

TEST(CodecErrorTest, BoolAndPresenceBytesMustBe0Or1) {
  auto b = Decode<bool>(Header<bool>() + "\x02");
  EXPECT_EQ(b.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(b.status().message(), HasSubstr("bool byte must be 0 or 1"));
  auto o = Decode<std::optional<int8_t>>(Header<std::optional<int8_t>>() + "\x02\x05");
  EXPECT_EQ(o.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(o.status().message(), HasSubstr("presence flag"));
  auto t = Decode<std::tuple<>>(Header<std::tuple<>>() + "\x01");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kDataLoss);
}

TEST(CodecErrorTest, DuplicateKeysAreDataLoss) {
  // A vector of pairs has the map layout, so it can forge duplicates.
  using Pairs = std::vector<std::pair<int, int>>;
  using Map = std::map<int, int>;
  using Unordered = std::unordered_map<int, int>;
  using Flat = absl::flat_hash_map<int, int>;
  const std::string pairs = Body(Pairs{{1, 2}, {1, 3}});
  EXPECT_EQ(Decode<Map>(Header<Map>() + pairs).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Decode<Unordered>(Header<Unordered>() + pairs).status().code(),
            absl::StatusCode::kDataLoss);
  auto flat = Decode<Flat>(Header<Flat>() + pairs);
  EXPECT_EQ(flat.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(flat.status().message(), HasSubstr("duplicate key"));
  const std::string keys = Body(std::vector<int>{4, 4});
  EXPECT_EQ(Decode<std::set<int>>(Header<std::set<int>>() + keys).status().code(),
            absl::StatusCode::kDataLoss);
  // Sanity: the same bytes without the duplicate decode.
  EXPECT_TRUE(Decode<Map>(Header<Map>() + Body(Pairs{{1, 2}, {2, 3}})).ok());
}

// A forged count is rejected before anything of its size is allocated.
template <typename T>
void ExpectHugeCountRejected(uint64_t count, absl::string_view payload) {
  std::string bytes = Header<T>();
  Encoder(&bytes).WriteVarint(count);
  bytes.append(payload.data(), payload.size());
  codec_test::g_largest_allocation = 0;
  absl::StatusOr<T> decoded = Decode<T>(bytes);
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss)
      << TypeName<T>() << " count " << count;
  EXPECT_THAT(decoded.status().message(), HasSubstr("impossible"));
  EXPECT_LT(codec_test::g_largest_allocation, size_t{64} << 10)
      << TypeName<T>() << " count " << count;
}

TEST(CodecErrorTest, HugeCountsAreRejectedWithoutAllocating) {
  for (uint64_t count : {uint64_t{100'000'000}, uint64_t{1} << 62, ~uint64_t{0}}) {
    ExpectHugeCountRejected<TrackedVector<int64_t>>(count, "12345678");
    ExpectHugeCountRejected<TrackedVector<bool>>(count, "\x01");
    ExpectHugeCountRejected<TrackedVector<std::string>>(count, "\x00\x00");
    ExpectHugeCountRejected<TrackedVector<std::tuple<>>>(count, "\x00");
    ExpectHugeCountRejected<TrackedMap<int, int>>(count, "12345678");
    ExpectHugeCountRejected<TrackedFlatMap<std::string, int>>(count, "abc");
    ExpectHugeCountRejected<TrackedSet<std::string>>(count, "");
    ExpectHugeCountRejected<TrackedUnorderedSet<int>>(count, "1234");
  }
  // The count is checked against the minimal element size, not just 1 byte:
  // 2 elements of int64 cannot fit in 15 bytes.
  ExpectHugeCountRejected<TrackedVector<int64_t>>(2, std::string(15, 'x'));
  ExpectHugeCountRejected<TrackedVector<Point>>(2, std::string(33, 'x'));

  // Control: the tracker does see real allocations.
  codec_test::g_largest_allocation = 0;
  ASSERT_TRUE(Decode<TrackedVector<int64_t>>(Encode(TrackedVector<int64_t>(100'000))).ok());
  EXPECT_GE(codec_test::g_largest_allocation, 800'000u);

  // A forged string length too.
  std::string bytes = Header<std::string>();
  Encoder(&bytes).WriteVarint(uint64_t{1} << 40);
  auto s = Decode<std::string>(bytes + "abc");
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
}

TEST(CodecErrorTest, MessagesSayWhatWasBeingDecoded) {
  std::string bytes = Encode(Scene{{{1, 2, "label"}}, {}, {}, {}, {}});
  auto decoded = Decode<Scene>(bytes.substr(0, 8 + 1 + 16 + 2));
  ASSERT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(decoded.status().message(),
              HasSubstr("decoding codec_test::Scene: codec_test::Scene: "
                        "field 0: std::vector element 0: codec_test::Point: "
                        "field 2: std::string"));
}

// Random bytes behind a valid tag: never a crash; under ASan/UBSan, no UB.
template <typename T>
void FuzzDecode(std::mt19937& rng, int iterations) {
  const std::string header = Header<T>();
  for (int i = 0; i < iterations; ++i) {
    std::string bytes = header;
    const size_t n = rng() % 64;
    for (size_t j = 0; j < n; ++j) {
      // Mostly small bytes, so that counts and flags are often plausible.
      bytes.push_back(static_cast<char>(rng() % 4 == 0 ? rng() : rng() % 4));
    }
    absl::StatusOr<T> decoded = Decode<T>(bytes);
    if (decoded.ok()) {
      EXPECT_TRUE(Decode<T>(Encode(*decoded)).ok());
    } else {
      EXPECT_EQ(decoded.status().code(), absl::StatusCode::kDataLoss);
    }
  }
}

TEST(CodecErrorTest, RandomInputNeverCrashes) {
  std::mt19937 rng(12345);
  FuzzDecode<Scene>(rng, 20000);
  FuzzDecode<std::map<std::string, std::vector<std::optional<std::pair<int, Point>>>>>(rng, 20000);
  FuzzDecode<std::vector<bool>>(rng, 5000);
  FuzzDecode<std::tuple<bool, Color, std::set<int8_t>, std::array<bool, 2>>>(rng, 20000);
  FuzzDecode<google::protobuf::Api>(rng, 5000);
  FuzzDecode<absl::flat_hash_map<int8_t, std::vector<std::tuple<>>>>(rng, 5000);
}

}  // namespace
}  // namespace unidist
