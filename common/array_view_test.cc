// Copyright 2026 The unidist-cpp Authors.

#include "unidist/common/array_view.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace unidist {
namespace {

TEST(ArrayViewTest, DecodesTheBytesOfAVectorWithoutCopying) {
  const std::vector<int32_t> values = {1, -2, 300000, 4};
  const std::string bytes = Encode(values);
  absl::StatusOr<ArrayView<int32_t>> view = Decode<ArrayView<int32_t>>(bytes);
  ASSERT_TRUE(view.ok()) << view.status();
  ASSERT_EQ(view->size(), 4u);
  EXPECT_EQ((*view)[0], 1);
  EXPECT_EQ((*view)[1], -2);
  EXPECT_EQ((*view)[2], 300000);
  EXPECT_EQ(view->ToVector(), values);
  // The view points into the encoded bytes.
  EXPECT_GE(view->bytes().data(), bytes.data());
  EXPECT_LE(view->bytes().data() + view->bytes().size(), bytes.data() + bytes.size());
}

TEST(ArrayViewTest, EncodesExactlyAsTheVector) {
  const std::vector<double> values = {1.5, 2.5};
  EXPECT_EQ(Encode(ArrayView<double>(values)), Encode(values));
  absl::StatusOr<std::vector<double>> back =
      Decode<std::vector<double>>(Encode(ArrayView<double>(values)));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, values);
}

TEST(ArrayViewTest, EmptyAndByteViews) {
  absl::StatusOr<ArrayView<uint8_t>> empty =
      Decode<ArrayView<uint8_t>>(Encode(std::vector<uint8_t>()));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(empty->data(), nullptr);
  const std::vector<uint8_t> bytes = {7, 8, 9};
  const std::string encoded = Encode(bytes);
  absl::StatusOr<ArrayView<uint8_t>> view = Decode<ArrayView<uint8_t>>(encoded);
  ASSERT_TRUE(view.ok());
  ASSERT_NE(view->data(), nullptr);  // 1-byte elements are always aligned
  EXPECT_EQ(view->data()[2], 9);
}

TEST(ArrayViewTest, DataIsNullWhenMisaligned) {
  alignas(8) char buffer[17] = {};
  const ArrayView<uint64_t> aligned = ArrayView<uint64_t>::FromBytes(absl::string_view(buffer, 16));
  EXPECT_NE(aligned.data(), nullptr);
  const ArrayView<uint64_t> misaligned =
      ArrayView<uint64_t>::FromBytes(absl::string_view(buffer + 1, 16));
  EXPECT_EQ(misaligned.data(), nullptr);
  EXPECT_EQ(misaligned[1], 0u);  // operator[] still works
}

TEST(ArrayViewTest, RejectsOtherTypesAndBadInput) {
  EXPECT_EQ(Decode<ArrayView<int32_t>>(Encode(std::vector<int64_t>{1})).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string truncated = Encode(std::vector<int32_t>{1, 2, 3});
  truncated.pop_back();
  EXPECT_EQ(Decode<ArrayView<int32_t>>(truncated).status().code(), absl::StatusCode::kDataLoss);
  std::string trailing = Encode(std::vector<int32_t>{1});
  trailing.push_back('x');
  EXPECT_EQ(Decode<ArrayView<int32_t>>(trailing).status().code(), absl::StatusCode::kDataLoss);
}

static_assert(kIsCodecView<ArrayView<int>>);
static_assert(!kIsCodecView<std::vector<int>>);

}  // namespace
}  // namespace unidist
