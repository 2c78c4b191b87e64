// Copyright 2026 The unidist-cpp Authors.

#include "common/framing.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"

namespace unidist {
namespace {

void PutLength(uint32_t length, char* out) {
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  }
}

uint32_t GetLength(const char* in) {
  uint32_t length = 0;
  for (size_t i = 0; i < kFrameHeaderBytes; ++i) {
    length |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  }
  return length;
}

// Receive buffers up to this size are kept between frames (and grow by doubling); a
// larger one is sized to its frame and released once that frame is consumed.
constexpr size_t kKeptBufferBytes = size_t{4} << 20;
// How much room a frame's length header alone earns (see PrepareAppend).
constexpr size_t kUntrustedFrameBytes = size_t{1} << 20;

}  // namespace

absl::Status AppendFrame(const google::protobuf::MessageLite& message, size_t max_frame_bytes,
                         std::string* out) {
  const size_t size = message.ByteSizeLong();
  const size_t limit = std::min(max_frame_bytes, kMaxFrameBytesLimit);
  if (size > limit) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "message of %d bytes is larger than the maximum frame size of %d bytes", size, limit));
  }
  const size_t start = out->size();
  out->resize(start + kFrameHeaderBytes + size);
  PutLength(static_cast<uint32_t>(size), out->data() + start);
  uint8_t* payload = reinterpret_cast<uint8_t*>(out->data() + start + kFrameHeaderBytes);
  message.SerializeWithCachedSizesToArray(payload);
  return absl::OkStatus();
}

absl::Status ParseFramePayload(absl::string_view payload, google::protobuf::MessageLite* message) {
  if (payload.size() > kMaxFrameBytesLimit ||
      !message->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrFormat("a frame of %d bytes is not a valid %s",
                                               payload.size(), message->GetTypeName()));
  }
  return absl::OkStatus();
}

FrameDecoder::FrameDecoder(size_t max_frame_bytes)
    : max_frame_bytes_(std::min(max_frame_bytes, kMaxFrameBytesLimit)) {}

void FrameDecoder::Compact() {
  // Moving the unread tail to the front keeps the buffer from growing without bound on a
  // long-lived stream; it is cheap because it happens only once half the buffer is consumed.
  if (begin_ == end_) {
    begin_ = end_ = 0;
    // A buffer that grew for one large frame is not kept for the small ones after it.
    if (buffer_.size() > kKeptBufferBytes) std::string().swap(buffer_);
  } else if (begin_ > buffer_.size() / 2) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
}

char* FrameDecoder::PrepareAppend(size_t size) {
  Compact();
  if (buffer_.size() >= end_ + size) return buffer_.data() + end_;
  size_t room = end_ + size;
  if (end_ - begin_ >= kFrameHeaderBytes) {
    // The next frame's length is known, but it is only a claim: a broken or hostile peer
    // could send a header alone. So the room grows with what has arrived (as much again,
    // at least kUntrustedFrameBytes) up to the frame's size, never past it: a large frame
    // costs a few doublings, and a header alone buys at most kUntrustedFrameBytes. (An
    // oversized length is left for Next() to report.)
    const uint32_t length = GetLength(buffer_.data() + begin_);
    if (length <= max_frame_bytes_) {
      const size_t frame_end = begin_ + kFrameHeaderBytes + length;
      const size_t arrived = end_ - begin_ - kFrameHeaderBytes;
      room = std::max(room, std::min(frame_end, end_ + std::max(arrived, kUntrustedFrameBytes)));
    }
  }
  buffer_.resize(room > kKeptBufferBytes ? room : std::max(room, buffer_.size() * 2));
  return buffer_.data() + end_;
}

void FrameDecoder::Commit(size_t size) { end_ += size; }

void FrameDecoder::Append(absl::string_view bytes) {
  char* space = PrepareAppend(bytes.size());
  // An empty view may have a null data(), which memcpy must not be given.
  if (!bytes.empty()) std::memcpy(space, bytes.data(), bytes.size());
  Commit(bytes.size());
}

absl::StatusOr<std::optional<absl::string_view>> FrameDecoder::Next() {
  if (!error_.ok()) return error_;
  if (end_ - begin_ < kFrameHeaderBytes) return std::nullopt;
  const uint32_t length = GetLength(buffer_.data() + begin_);
  if (length > max_frame_bytes_) {
    error_ = absl::ResourceExhaustedError(
        absl::StrFormat("frame of %d bytes is larger than the maximum frame size of %d bytes",
                        length, max_frame_bytes_));
    return error_;
  }
  if (end_ - begin_ - kFrameHeaderBytes < length) return std::nullopt;
  absl::string_view payload(buffer_.data() + begin_ + kFrameHeaderBytes, length);
  begin_ += kFrameHeaderBytes + length;
  return payload;
}

}  // namespace unidist
