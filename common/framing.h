// Copyright 2026 The unidist-cpp Authors.
//
// Framing for the driver<->worker byte streams: each message is a frame made of a 4-byte
// little-endian payload length followed by the payload (a serialized protobuf envelope from
// common/worker_protocol.proto).
//
// The length is untrusted input: a frame longer than the configured maximum is an error
// (ResourceExhausted) and the stream cannot be resynchronized after it. FrameDecoder is
// incremental, so it serves blocking readers (a worker) and non-blocking readers (the
// driver's event loop) alike, and it is the unit the frame fuzzer drives.
//
// Example:
//   std::string wire;
//   UNIDIST_RETURN_IF_ERROR(AppendFrame(message, kDefaultMaxFrameBytes, &wire));
//   FrameDecoder decoder(kDefaultMaxFrameBytes);
//   decoder.Append(wire);
//   absl::StatusOr<std::optional<absl::string_view>> payload = decoder.Next();
//
// Not thread-safe: one decoder per stream, used by one thread at a time.

#ifndef UNIDIST_COMMON_FRAMING_H_
#define UNIDIST_COMMON_FRAMING_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"

namespace unidist {

inline constexpr size_t kFrameHeaderBytes = 4;
// Default bound on one frame's payload. Protobuf cannot parse messages of 2 GiB or more.
inline constexpr size_t kDefaultMaxFrameBytes = size_t{1} << 30;
inline constexpr size_t kMaxFrameBytesLimit = (size_t{1} << 31) - 1;

// Appends one frame holding `message` to `out`. ResourceExhausted (and `out` unchanged)
// if the serialized message is larger than `max_frame_bytes`.
absl::Status AppendFrame(const google::protobuf::MessageLite& message, size_t max_frame_bytes,
                         std::string* out);

// Parses a frame payload into `message`. DataLoss if the bytes are not a valid message.
absl::Status ParseFramePayload(absl::string_view payload, google::protobuf::MessageLite* message);

// Splits a byte stream into frame payloads.
class FrameDecoder {
 public:
  explicit FrameDecoder(size_t max_frame_bytes = kDefaultMaxFrameBytes);

  // Appends bytes read from the stream.
  void Append(absl::string_view bytes);

  // For reading straight into the decoder: returns space for at least `size` bytes; call
  // Commit with the number of bytes actually written there.
  char* PrepareAppend(size_t size);
  void Commit(size_t size);

  // The next complete payload, or std::nullopt if more bytes are needed. The view stays
  // valid until the next call to any non-const method. ResourceExhausted if the frame's
  // length exceeds the maximum; that error repeats on every later call.
  absl::StatusOr<std::optional<absl::string_view>> Next();

  // Bytes received but not yet returned by Next() (a partial frame at end of stream).
  size_t buffered_bytes() const { return end_ - begin_; }

  // The memory the buffer holds. Once a frame's length has arrived, the buffer grows
  // with the frame's bytes (to twice what has arrived, at least 1 MiB) up to the frame's
  // size and never past it, so a length header alone cannot make the reader allocate up
  // to the maximum frame size. A buffer grown past 4 MiB for a large frame is released
  // when that frame has been consumed, so a stream that carried one large frame does not
  // keep its memory.
  size_t buffer_bytes() const { return buffer_.size(); }

 private:
  void Compact();

  size_t max_frame_bytes_;
  std::string buffer_;
  size_t begin_ = 0;  // first byte not yet returned
  size_t end_ = 0;    // one past the last byte received
  absl::Status error_;
};

}  // namespace unidist

#endif  // UNIDIST_COMMON_FRAMING_H_
