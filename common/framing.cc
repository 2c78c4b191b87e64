// Copyright 2026 The unidist-cpp Authors.

#include "common/framing.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/io/coded_stream.h"
#include "xxhash.h"

namespace unidist {
namespace {

// Header field offsets (the layout is in framing.h).
constexpr size_t kLengthOffset = 4;
constexpr size_t kBodyChecksumOffset = 8;
constexpr size_t kHeaderChecksumOffset = 12;

void Put32(uint32_t value, char* out) {
  for (size_t i = 0; i < 4; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

uint32_t Get32(const char* in) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) {
    value |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  }
  return value;
}

// The header of a frame whose payload is `payload_size` bytes with checksum `checksum`.
void PutHeader(uint32_t payload_size, uint32_t checksum, char* out) {
  Put32(kFrameMagic, out);
  Put32(payload_size, out + kLengthOffset);
  Put32(checksum, out + kBodyChecksumOffset);
  Put32(FrameChecksum(absl::string_view(out, kHeaderChecksumOffset)), out + kHeaderChecksumOffset);
}

// Receive buffers up to this size are kept between frames (and grow by doubling); a
// larger one is sized to its frame and released once that frame is consumed.
constexpr size_t kKeptBufferBytes = size_t{4} << 20;
// How much room a frame's length header alone earns (see PrepareAppend).
constexpr size_t kUntrustedFrameBytes = size_t{1} << 20;

}  // namespace

uint32_t FrameChecksum(absl::string_view bytes) {
  return static_cast<uint32_t>(XXH3_64bits(bytes.data(), bytes.size()));
}

std::string FrameHeader(uint32_t payload_size, uint32_t body_checksum) {
  std::string header(kFrameHeaderBytes, '\0');
  PutHeader(payload_size, body_checksum, header.data());
  return header;
}

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
  char* payload = out->data() + start + kFrameHeaderBytes;
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(payload));
  PutHeader(static_cast<uint32_t>(size), FrameChecksum(absl::string_view(payload, size)),
            out->data() + start);
  return absl::OkStatus();
}

absl::Status AppendFrameOfField(uint32_t field_number, const google::protobuf::MessageLite& inner,
                                size_t max_frame_bytes, std::string* out) {
  using google::protobuf::io::CodedOutputStream;
  const size_t inner_size = inner.ByteSizeLong();
  const size_t limit = std::min(max_frame_bytes, kMaxFrameBytesLimit);
  const uint32_t key = (field_number << 3) | 2;
  const size_t size = PayloadBytesOfField(field_number, inner_size);
  if (size > limit) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "message of %d bytes is larger than the maximum frame size of %d bytes", size, limit));
  }
  const size_t start = out->size();
  out->resize(start + kFrameHeaderBytes + size);
  uint8_t* payload = reinterpret_cast<uint8_t*>(out->data() + start + kFrameHeaderBytes);
  uint8_t* at = CodedOutputStream::WriteVarint32ToArray(key, payload);
  at = CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(inner_size), at);
  inner.SerializeWithCachedSizesToArray(at);
  const absl::string_view written(reinterpret_cast<const char*>(payload), size);
  PutHeader(static_cast<uint32_t>(size), FrameChecksum(written), out->data() + start);
  return absl::OkStatus();
}

size_t PayloadBytesOfField(uint32_t field_number, size_t inner_bytes) {
  using google::protobuf::io::CodedOutputStream;
  // A length-delimited field: its key (number, wire type 2), its length, its bytes.
  return CodedOutputStream::VarintSize32((field_number << 3) | 2) +
         CodedOutputStream::VarintSize64(inner_bytes) + inner_bytes;
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
  if (header_checked_) {
    // The next frame's header passed its checks, but its length is still only a claim: a
    // broken or hostile peer could send a header alone. So the room grows with what has
    // arrived (as much again, at least kUntrustedFrameBytes) up to the frame's size, never
    // past it: a large frame costs a few doublings, and a header alone buys at most
    // kUntrustedFrameBytes. (A header not yet checked earns nothing: Next() checks it.)
    const size_t frame_end = begin_ + kFrameHeaderBytes + length_;
    const size_t arrived = end_ - begin_ - kFrameHeaderBytes;
    room = std::max(room, std::min(frame_end, end_ + std::max(arrived, kUntrustedFrameBytes)));
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
  const char* header = buffer_.data() + begin_;
  if (!header_checked_) {
    const absl::string_view bytes(header, kFrameHeaderBytes);
    if (Get32(header) != kFrameMagic) {
      error_ = absl::DataLossError(absl::StrFormat(
          "bad frame magic: the bytes where a frame header should start are \"%s\", not "
          "\"UDF1\" (the stream is corrupt)",
          absl::CHexEscape(bytes.substr(0, 4))));
      return error_;
    }
    const uint32_t header_checksum = Get32(header + kHeaderChecksumOffset);
    if (FrameChecksum(bytes.substr(0, kHeaderChecksumOffset)) != header_checksum) {
      error_ = absl::DataLossError(
          absl::StrFormat("bad frame header checksum %08x (the header \"%s\" is corrupt)",
                          header_checksum, absl::CHexEscape(bytes)));
      return error_;
    }
    const uint32_t length = Get32(header + kLengthOffset);
    if (length > max_frame_bytes_) {
      error_ = absl::DataLossError(absl::StrFormat(
          "frame length %d is over the maximum frame size of %d bytes", length, max_frame_bytes_));
      return error_;
    }
    header_checked_ = true;
    length_ = length;
    body_checksum_ = Get32(header + kBodyChecksumOffset);
  }
  if (end_ - begin_ - kFrameHeaderBytes < length_) return std::nullopt;
  absl::string_view payload(header + kFrameHeaderBytes, length_);
  if (FrameChecksum(payload) != body_checksum_) {
    error_ = absl::DataLossError(absl::StrFormat(
        "bad frame body checksum: the %d-byte payload hashes to %08x, its header says %08x "
        "(the payload is corrupt)",
        length_, FrameChecksum(payload), body_checksum_));
    return error_;
  }
  header_checked_ = false;
  begin_ += kFrameHeaderBytes + length_;
  return payload;
}

}  // namespace unidist
