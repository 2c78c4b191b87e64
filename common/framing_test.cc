// Copyright 2026 The unidist-cpp Authors.

#include "common/framing.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "common/worker_protocol.pb.h"
#include "gtest/gtest.h"

namespace unidist {
namespace {

proto::DriverMessage MakeTask(uint64_t task_id, std::string function, size_t payload_bytes) {
  proto::DriverMessage message;
  proto::TaskRequest* task = message.mutable_task();
  task->set_task_id(task_id);
  task->set_function(std::move(function));
  task->add_args()->set_value(std::string(payload_bytes, 'x'));
  return message;
}

TEST(FramingTest, RoundTripsSeveralFramesFedOneByteAtATime) {
  std::string wire;
  for (uint64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(AppendFrame(MakeTask(i, "f" + std::to_string(i), 100 * i), 1 << 20, &wire).ok());
  }
  FrameDecoder decoder(1 << 20);
  std::vector<proto::DriverMessage> received;
  for (char byte : wire) {
    decoder.Append(absl::string_view(&byte, 1));
    absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
    ASSERT_TRUE(payload.ok()) << payload.status();
    if (payload->has_value()) {
      proto::DriverMessage message;
      ASSERT_TRUE(ParseFramePayload(**payload, &message).ok());
      received.push_back(message);
    }
  }
  ASSERT_EQ(received.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(received[i].task().task_id(), i);
    EXPECT_EQ(received[i].task().function(), "f" + std::to_string(i));
    EXPECT_EQ(received[i].task().args(0).value().size(), 100 * i);
  }
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FramingTest, EncoderRefusesOversizedMessage) {
  std::string wire = "keep";
  absl::Status status = AppendFrame(MakeTask(1, "f", 2000), 1000, &wire);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(wire, "keep");
}

TEST(FramingTest, DecoderRejectsOversizedLengthAndStaysFailed) {
  FrameDecoder decoder(1000);
  decoder.Append(std::string("\xff\xff\xff\x7f", 4));
  EXPECT_EQ(decoder.Next().status().code(), absl::StatusCode::kResourceExhausted);
  decoder.Append("more bytes");
  EXPECT_EQ(decoder.Next().status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(FramingTest, PartialFrameWaitsForMoreBytes) {
  std::string wire;
  ASSERT_TRUE(AppendFrame(MakeTask(7, "g", 10), 1 << 20, &wire).ok());
  FrameDecoder decoder;
  decoder.Append(absl::string_view(wire).substr(0, wire.size() - 1));
  absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
  ASSERT_TRUE(payload.ok());
  EXPECT_FALSE(payload->has_value());
  EXPECT_EQ(decoder.buffered_bytes(), wire.size() - 1);
}

TEST(FramingTest, GarbagePayloadIsDataLoss) {
  proto::DriverMessage message;
  EXPECT_EQ(ParseFramePayload("\xff\xff\xff\xff\xff", &message).code(),
            absl::StatusCode::kDataLoss);
}

// Found by the frame fuzzer: an empty view may have a null data().
TEST(FramingTest, AppendingNothingIsFine) {
  FrameDecoder decoder;
  decoder.Append(absl::string_view());
  decoder.Append("");
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
  ASSERT_TRUE(payload.ok());
  EXPECT_FALSE(payload->has_value());
}

TEST(FramingTest, EmptyMessageIsAZeroLengthFrame) {
  std::string wire;
  ASSERT_TRUE(AppendFrame(proto::DriverMessage(), 16, &wire).ok());
  EXPECT_EQ(wire, std::string(4, '\0'));
  FrameDecoder decoder;
  decoder.Append(wire);
  absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
  ASSERT_TRUE(payload.ok() && payload->has_value());
  EXPECT_TRUE((*payload)->empty());
}

TEST(FramingTest, ALargeFrameGetsABufferOfItsSizeWhichIsReleasedAfterwards) {
  constexpr size_t kPayload = 9 << 20;
  constexpr size_t kChunk = 64 * 1024;
  std::string wire;
  ASSERT_TRUE(AppendFrame(MakeTask(1, "big", kPayload), size_t{1} << 30, &wire).ok());
  ASSERT_TRUE(AppendFrame(MakeTask(2, "small", 10), size_t{1} << 30, &wire).ok());
  FrameDecoder decoder(size_t{1} << 30);
  size_t offset = 0;
  size_t largest_buffer = 0;
  std::vector<uint64_t> received;
  while (offset < wire.size()) {
    const size_t chunk = std::min(kChunk, wire.size() - offset);
    std::memcpy(decoder.PrepareAppend(kChunk), wire.data() + offset, chunk);
    decoder.Commit(chunk);
    offset += chunk;
    largest_buffer = std::max(largest_buffer, decoder.buffer_bytes());
    for (;;) {
      absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
      ASSERT_TRUE(payload.ok()) << payload.status();
      if (!payload->has_value()) break;
      proto::DriverMessage message;
      ASSERT_TRUE(ParseFramePayload(**payload, &message).ok());
      received.push_back(message.task().task_id());
    }
  }
  EXPECT_EQ(received, (std::vector<uint64_t>{1, 2}));
  // Sized from the frame's header, not doubled past it.
  EXPECT_LT(largest_buffer, wire.size() + 2 * kChunk);
  decoder.PrepareAppend(kChunk);  // the large frame is consumed: its buffer goes
  EXPECT_LE(decoder.buffer_bytes(), size_t{4} << 20);
}

TEST(FramingTest, ALengthHeaderAloneDoesNotBuyAHugeBuffer) {
  constexpr size_t kMaximum = (size_t{1} << 31) - 1;
  FrameDecoder decoder(kMaximum);
  const uint32_t claimed = static_cast<uint32_t>(kMaximum);  // and then 10 bytes of it
  char header[kFrameHeaderBytes];
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) header[i] = static_cast<char>(claimed >> (8 * i));
  decoder.Append(absl::string_view(header, sizeof(header)));
  decoder.Append(std::string(10, 'x'));
  decoder.PrepareAppend(64 * 1024);
  EXPECT_LE(decoder.buffer_bytes(), (size_t{1} << 20) + 128 * 1024);
  absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
  ASSERT_TRUE(payload.ok());
  EXPECT_FALSE(payload->has_value());
}

TEST(FramingTest, AFrameLargerThanTheUntrustedRoomStillArrivesWhole) {
  constexpr size_t kPayload = 70 << 20;  // many times the 1 MiB a header alone earns
  constexpr size_t kChunk = 1 << 20;
  std::string wire;
  ASSERT_TRUE(AppendFrame(MakeTask(7, "huge", kPayload), size_t{1} << 30, &wire).ok());
  FrameDecoder decoder(size_t{1} << 30);
  size_t largest_buffer = 0;
  std::optional<uint64_t> received;
  for (size_t offset = 0; offset < wire.size();) {
    const size_t chunk = std::min(kChunk, wire.size() - offset);
    std::memcpy(decoder.PrepareAppend(kChunk), wire.data() + offset, chunk);
    decoder.Commit(chunk);
    offset += chunk;
    largest_buffer = std::max(largest_buffer, decoder.buffer_bytes());
    absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
    ASSERT_TRUE(payload.ok()) << payload.status();
    if (!payload->has_value()) continue;
    proto::DriverMessage message;
    ASSERT_TRUE(ParseFramePayload(**payload, &message).ok());
    EXPECT_EQ(message.task().args(0).value().size(), kPayload);
    received = message.task().task_id();
  }
  EXPECT_EQ(received, 7u);
  // Grown with the bytes up to the frame's size, not doubled past it.
  EXPECT_LT(largest_buffer, wire.size() + 2 * kChunk);
}

}  // namespace
}  // namespace unidist
