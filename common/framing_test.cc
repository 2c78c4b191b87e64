// Copyright 2026 The unidist-cpp Authors.

#include "common/framing.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "common/worker_protocol.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace unidist {
namespace {

using ::testing::HasSubstr;

proto::DriverMessage MakeTask(uint64_t task_id, std::string function, size_t payload_bytes) {
  proto::DriverMessage message;
  proto::TaskRequest* task = message.mutable_task();
  task->set_task_id(task_id);
  task->set_function(std::move(function));
  task->add_args()->set_value(std::string(payload_bytes, 'x'));
  return message;
}

// A frame header with the given fields and a correct header checksum (unless
// `header_checksum` is given): the layout framing.h documents, written out here so that a
// change of layout has to change this test too.
std::string Header(uint32_t length, uint32_t body_checksum, uint32_t magic = kFrameMagic,
                   std::optional<uint32_t> header_checksum = std::nullopt) {
  std::string header(kFrameHeaderBytes, '\0');
  auto put = [&header](size_t offset, uint32_t value) {
    for (size_t i = 0; i < 4; ++i) header[offset + i] = static_cast<char>(value >> (8 * i));
  };
  put(0, magic);
  put(4, length);
  put(8, body_checksum);
  put(12, header_checksum.value_or(FrameChecksum(absl::string_view(header).substr(0, 12))));
  return header;
}

// The status of the first error the decoder reports for `wire`, fed in one piece.
absl::Status DecodeError(absl::string_view wire, size_t max_frame_bytes = 1 << 20) {
  FrameDecoder decoder(max_frame_bytes);
  decoder.Append(wire);
  for (;;) {
    absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
    if (!payload.ok()) return payload.status();
    if (!payload->has_value()) return absl::OkStatus();
  }
}

TEST(FramingTest, HeaderLayoutIsPinned) {
  std::string wire;
  const proto::DriverMessage message = MakeTask(5, "f", 3);
  ASSERT_TRUE(AppendFrame(message, 1 << 20, &wire).ok());
  const std::string payload = message.SerializeAsString();
  EXPECT_EQ(wire.substr(0, 4), "UDF1");
  EXPECT_EQ(wire, Header(static_cast<uint32_t>(payload.size()), FrameChecksum(payload)) + payload);
}

TEST(FramingTest, ChecksumIsTheLow32BitsOfXxh3) {
  // XXH3_64bits("") is 0x2d06800538d394c2 (the xxHash reference value).
  EXPECT_EQ(FrameChecksum(""), 0x38d394c2u);
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

TEST(FramingTest, AFrameOfOneFieldIsTheFrameOfItsEnvelope) {
  // Sizes around the one- and two-byte varint boundaries of the field's length.
  for (size_t payload_bytes : {0, 1, 100, 118, 119, 120, 200, 20000}) {
    const proto::DriverMessage envelope = MakeTask(7, "module::Function", payload_bytes);
    std::string expected = "prefix";
    ASSERT_TRUE(AppendFrame(envelope, kDefaultMaxFrameBytes, &expected).ok());
    std::string wire = "prefix";
    ASSERT_TRUE(AppendFrameOfField(proto::DriverMessage::kTaskFieldNumber, envelope.task(),
                                   kDefaultMaxFrameBytes, &wire)
                    .ok());
    EXPECT_EQ(wire, expected) << payload_bytes << " payload bytes";
  }
}

TEST(FramingTest, AFrameOfOneFieldRefusesAnOversizedMessage) {
  const proto::DriverMessage envelope = MakeTask(1, "f", 2000);
  std::string wire = "keep";
  // The field alone fits; with its key and length it does not.
  const size_t inner = envelope.task().ByteSizeLong();
  EXPECT_EQ(
      AppendFrameOfField(proto::DriverMessage::kTaskFieldNumber, envelope.task(), inner, &wire)
          .code(),
      absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(AppendFrameOfField(proto::DriverMessage::kTaskFieldNumber, envelope.task(), 1000, &wire)
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(wire, "keep");
}

TEST(FramingTest, DecoderRejectsOversizedLengthAndStaysFailed) {
  FrameDecoder decoder(1000);
  decoder.Append(Header(1001, 0));
  absl::Status status = decoder.Next().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("over the maximum frame size"));
  decoder.Append("more bytes");
  EXPECT_EQ(decoder.Next().status(), status);
}

// The case of issue #16: a length under the maximum, then a few bytes, then a real frame.
// The old 4-byte-length framing waited for the megabyte; the magic fails at once.
TEST(FramingTest, ABelievableLengthWithoutMagicIsDataLossAtOnce) {
  std::string wire(
      "\x00\x00\x10\x00"
      "1234567",
      11);  // 1 MiB, then 7 bytes
  ASSERT_TRUE(AppendFrame(MakeTask(1, "f", 1), 1 << 30, &wire).ok());
  const absl::Status status = DecodeError(wire, size_t{1} << 30);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("bad frame magic"));
}

TEST(FramingTest, BadMagicIsDataLossOnceTheHeaderHasArrived) {
  FrameDecoder decoder;
  const std::string header = Header(3, 0, /*magic=*/0x31464456);
  decoder.Append(absl::string_view(header).substr(0, kFrameHeaderBytes - 1));
  absl::StatusOr<std::optional<absl::string_view>> waiting = decoder.Next();
  ASSERT_TRUE(waiting.ok());  // a header is judged whole
  EXPECT_FALSE(waiting->has_value());
  decoder.Append(absl::string_view(header).substr(kFrameHeaderBytes - 1));
  const absl::Status status = decoder.Next().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("bad frame magic"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("VDF1"));
}

TEST(FramingTest, EveryFlippedHeaderBitIsDataLoss) {
  const std::string good = Header(3, FrameChecksum("abc"));
  EXPECT_TRUE(DecodeError(good + "abc").ok());
  // Any single flipped bit of the magic.
  for (size_t byte = 0; byte < 4; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string wire = good + "abc";
      wire[byte] = static_cast<char>(wire[byte] ^ (1 << bit));
      const absl::Status status = DecodeError(wire);
      EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << byte << " " << bit;
      EXPECT_THAT(std::string(status.message()), HasSubstr("bad frame magic"));
    }
  }
  // Any single flipped bit of the length, body checksum or header checksum.
  for (size_t byte = 4; byte < kFrameHeaderBytes; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string wire = good + "abc";
      wire[byte] = static_cast<char>(wire[byte] ^ (1 << bit));
      const absl::Status status = DecodeError(wire);
      EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << byte << " " << bit;
      // A flipped body checksum with the header checksum fixed up would be a body error;
      // here the header checksum no longer matches.
      EXPECT_THAT(std::string(status.message()), HasSubstr("bad frame header checksum"))
          << byte << " " << bit;
    }
  }
}

TEST(FramingTest, ALengthOverTheMaximumIsDataLossBeforeAnyOfThePayload) {
  const absl::Status status = DecodeError(Header(4097, 0), 4096);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("frame length 4097 is over the maximum"));
  EXPECT_TRUE(DecodeError(Header(4096, 0), 4096).ok());  // at the maximum: waits for it
}

TEST(FramingTest, ACorruptBodyIsDataLossWhenTheBodyIsComplete) {
  std::string wire;
  ASSERT_TRUE(AppendFrame(MakeTask(9, "g", 50), 1 << 20, &wire).ok());
  wire[kFrameHeaderBytes + 20] ^= 0x01;
  FrameDecoder decoder;
  decoder.Append(absl::string_view(wire).substr(0, wire.size() - 1));
  absl::StatusOr<std::optional<absl::string_view>> waiting = decoder.Next();
  ASSERT_TRUE(waiting.ok()) << waiting.status();  // not judged before it is complete
  EXPECT_FALSE(waiting->has_value());
  decoder.Append(absl::string_view(wire).substr(wire.size() - 1));
  const absl::Status status = decoder.Next().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("bad frame body checksum"));
  EXPECT_EQ(decoder.Next().status(), status);  // and stays failed
}

TEST(FramingTest, AHeaderWithADifferentBodyIsABodyChecksumError) {
  // A consistent header (its own checksum right) over the wrong payload.
  const absl::Status status = DecodeError(Header(3, FrameChecksum("abc")) + "abd");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("bad frame body checksum"));
}

TEST(FramingTest, RandomGarbageIsDataLossAtTheFirstHeader) {
  std::string garbage;
  uint32_t state = 12345;
  for (int i = 0; i < 64; ++i) {
    state = state * 1103515245u + 12345u;
    garbage.push_back(static_cast<char>(state >> 16));
  }
  FrameDecoder decoder;
  decoder.Append(garbage);
  EXPECT_EQ(decoder.Next().status().code(), absl::StatusCode::kDataLoss);
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
  EXPECT_EQ(wire, Header(0, FrameChecksum("")));
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
  decoder.Append(Header(claimed, 0));
  decoder.Append(std::string(10, 'x'));
  absl::StatusOr<std::optional<absl::string_view>> checked = decoder.Next();  // header passes
  ASSERT_TRUE(checked.ok() && !checked->has_value());
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
