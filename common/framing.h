// Copyright 2026 The unidist-cpp Authors.
//
// Framing for the driver<->worker byte streams. Each message is a frame: a 16-byte header,
// then the payload (a serialized protobuf envelope from common/worker_protocol.proto).
//
//   bytes 0-3    magic "UDF1" (kFrameMagic), so bytes that are not a frame header are
//                recognized at once instead of being read as a length;
//   bytes 4-7    payload length, little-endian, at most the reader's maximum;
//   bytes 8-11   body checksum: the low 32 bits of XXH3_64bits(payload), little-endian;
//   bytes 12-15  header checksum: the low 32 bits of XXH3_64bits(bytes 0-11).
//
// A stream is untrusted input. FrameDecoder checks each header as soon as its 16 bytes
// have arrived (magic, header checksum, then length against the maximum), before it waits
// for or allocates anything for the payload: bytes that do not begin a frame are an error
// at the first header they spoil, not a wait for a length they happen to spell. It checks
// the body checksum when the payload is complete. Every such error is DataLoss and names
// what was wrong (bad magic, bad header checksum, length over the maximum, bad body
// checksum); the stream cannot be resynchronized after it, so the error repeats.
//
// What framing cannot tell by itself is a stream that stops inside a frame: more bytes may
// be on their way. A reader decides that from what it knows of its peer; the driver's rule
// for workers (bytes from a worker with no task in flight are a protocol error, a partial
// frame included) is in process_manager/process_manager.h. buffered_bytes() says whether
// the decoder holds part of a frame.
//
// XXH3 (Debian's libxxhash) hashes at memory speed: the body checksum is one read pass
// over the payload on each side, against the several copies a frame goes through anyway
// (serialization, the socket's write and read, parsing). benchmarks/micro.cc measures it
// (BM_FrameChecksum) beside memcpy of the same sizes (BM_Memcpy).
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

inline constexpr size_t kFrameHeaderBytes = 16;
// The first four bytes of every frame, "UDF1" (read as a little-endian uint32).
inline constexpr uint32_t kFrameMagic = 0x31464455;
// Default bound on one frame's payload. Protobuf cannot parse messages of 2 GiB or more.
inline constexpr size_t kDefaultMaxFrameBytes = size_t{1} << 30;
inline constexpr size_t kMaxFrameBytesLimit = (size_t{1} << 31) - 1;

// Appends one frame holding `message` to `out`. ResourceExhausted (and `out` unchanged)
// if the serialized message is larger than `max_frame_bytes`.
absl::Status AppendFrame(const google::protobuf::MessageLite& message, size_t max_frame_bytes,
                         std::string* out);

// Appends one frame holding a message whose only field set is the message field
// `field_number`, holding `inner`: the frame AppendFrame would write for an envelope
// message (a oneof of requests) with `inner` moved into it, without building that
// envelope — so `inner` may stay where it is (in an arena, say). Errors as AppendFrame.
absl::Status AppendFrameOfField(uint32_t field_number, const google::protobuf::MessageLite& inner,
                                size_t max_frame_bytes, std::string* out);
// The payload size of that frame, for an `inner` of `inner_bytes` bytes.
size_t PayloadBytesOfField(uint32_t field_number, size_t inner_bytes);

// The checksum the header carries for a payload (and for its own first 12 bytes): the low
// 32 bits of XXH3_64bits.
uint32_t FrameChecksum(absl::string_view bytes);

// The 16-byte header of a frame whose payload is `payload_size` bytes with checksum
// `body_checksum` (FrameChecksum of the payload), with its own checksum filled in. For
// those who write frames by hand: tests, and the fuzzers' seeds.
std::string FrameHeader(uint32_t payload_size, uint32_t body_checksum);

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
  // valid until the next call to any non-const method. DataLoss, naming the fault, as soon
  // as a header has arrived whose magic or header checksum is wrong or whose length
  // exceeds the maximum, and once a payload has arrived whose body checksum is wrong; the
  // error repeats on every later call.
  absl::StatusOr<std::optional<absl::string_view>> Next();

  // Bytes received but not yet returned by Next(): non-zero after Next() returned
  // std::nullopt means part of a frame (a header, or a checked header and part of its
  // payload) is waiting for the rest.
  size_t buffered_bytes() const { return end_ - begin_; }

  // The memory the buffer holds. Once a frame's header has arrived and passed its checks
  // (Next() checks it), the buffer grows
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
  // The header at begin_ passed its checks (set by Next(), cleared when its frame is
  // returned); then these are its fields.
  bool header_checked_ = false;
  uint32_t length_ = 0;
  uint32_t body_checksum_ = 0;
};

}  // namespace unidist

#endif  // UNIDIST_COMMON_FRAMING_H_
