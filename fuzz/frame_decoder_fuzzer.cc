// Copyright 2026 The unidist-cpp Authors.
//
// frame_decoder_fuzzer: feeds a byte stream to unidist::FrameDecoder in chunks whose sizes
// come from the input (layout in frame_decoder_fuzz_input.h), once with a small maximum
// frame size (4096) and once with the default (1 GiB).
//
// After every chunk it drains the decoder and checks each answer against a model of the
// stream (the header layout of framing.h):
//   * a payload is exactly the next frame's payload, and only once its header (magic,
//     header checksum, length within the maximum) and its body checksum are right;
//   * std::nullopt only when the bytes fed so far hold less than a header, or a good
//     header and less than its payload;
//   * DataLoss exactly when the next frame's header has arrived and is bad (magic,
//     header checksum, length over the maximum), or its payload has arrived and its body
//     checksum is wrong; then the same error on every later call, whatever is appended;
//   * buffered_bytes() == bytes fed - bytes returned as frames, at every step.
// The small-maximum run returns a prefix of the large-maximum run's payloads.
//
// Checksums make a mutated frame almost always an error: the seeds (make_seed_corpus.cc)
// hold well-formed frames, and their mutations drive the error paths.
//
// Each payload of the large run is parsed as WorkerMessage and as DriverMessage
// (ParseFramePayload). For a message that parses, AppendFrame either writes a frame that
// decodes back to the message's serialization, which re-parses to an equal message (same
// deterministic serialization, see proto_fuzz_util.h), or (message larger than the maximum)
// returns ResourceExhausted and leaves `out` alone.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "fuzz/frame_decoder_fuzz_input.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/proto_fuzz_util.h"

namespace unidist::fuzzing {
namespace {

constexpr size_t kSmallMaxFrameBytes = 4096;

uint32_t Get32(absl::string_view stream, size_t pos) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) {
    value |= static_cast<uint32_t>(static_cast<uint8_t>(stream[pos + i])) << (8 * i);
  }
  return value;
}

// What the model expects of the frame at `pos`, of which `remaining` bytes were fed.
enum class Expect { kMore, kError, kPayload };
Expect ModelFrame(absl::string_view stream, size_t pos, size_t remaining, size_t max) {
  if (remaining < kFrameHeaderBytes) return Expect::kMore;
  if (Get32(stream, pos) != kFrameMagic) return Expect::kError;
  if (Get32(stream, pos + 12) != FrameChecksum(stream.substr(pos, 12))) return Expect::kError;
  const uint32_t length = Get32(stream, pos + 4);
  if (length > max) return Expect::kError;
  if (remaining - kFrameHeaderBytes < length) return Expect::kMore;
  if (Get32(stream, pos + 8) != FrameChecksum(stream.substr(pos + kFrameHeaderBytes, length))) {
    return Expect::kError;
  }
  return Expect::kPayload;
}

// What a decoder returned over the whole stream.
struct Outcome {
  std::vector<std::string> payloads;
  bool failed = false;
  size_t consumed = 0;  // stream bytes returned as frames, headers included
};

class DecoderRun {
 public:
  DecoderRun(absl::string_view stream, size_t max_frame_bytes)
      : stream_(stream), max_(max_frame_bytes), decoder_(max_frame_bytes) {}

  void Feed(size_t size, FeedMode mode) {
    const char* chunk = stream_.data() + fed_;
    if (mode == FeedMode::kAppend) {
      // An empty chunk is a default-constructed view (null data), as from an empty
      // std::vector's data(): Append must take any valid view.
      decoder_.Append(size == 0 ? absl::string_view() : absl::string_view(chunk, size));
    } else {
      const size_t asked = size + (mode == FeedMode::kPrepareMore ? kPrepareSlack : 0);
      char* space = decoder_.PrepareAppend(asked);
      FUZZ_CHECK(space != nullptr);
      // Fill all the space promised (ASan checks it is ours), then commit only `size`.
      std::memset(space, 0xa5, asked);
      if (size > 0) std::memcpy(space, chunk, size);
      decoder_.Commit(size);
    }
    fed_ += size;
    FUZZ_CHECK(decoder_.buffered_bytes() == fed_ - outcome_.consumed);
    Drain();
  }

  const Outcome& outcome() const { return outcome_; }

 private:
  void Drain() {
    for (;;) {
      absl::StatusOr<std::optional<absl::string_view>> next = decoder_.Next();
      const size_t remaining = fed_ - outcome_.consumed;
      const Expect expect = ModelFrame(stream_, outcome_.consumed, remaining, max_);
      if (!next.ok()) {
        FUZZ_CHECK(next.status().code() == absl::StatusCode::kDataLoss);
        FUZZ_CHECK(expect == Expect::kError);
        if (outcome_.failed) {
          FUZZ_CHECK(next.status() == first_error_);
        } else {
          outcome_.failed = true;
          first_error_ = next.status();
        }
        absl::StatusOr<std::optional<absl::string_view>> again = decoder_.Next();
        FUZZ_CHECK(!again.ok() && again.status() == first_error_);
        FUZZ_CHECK(decoder_.buffered_bytes() == remaining);
        return;
      }
      FUZZ_CHECK(!outcome_.failed);  // An error is final.
      if (!next->has_value()) {
        FUZZ_CHECK(expect == Expect::kMore);
        FUZZ_CHECK(decoder_.buffered_bytes() == remaining);
        return;
      }
      FUZZ_CHECK(expect == Expect::kPayload);
      const absl::string_view payload = **next;
      FUZZ_CHECK(payload.size() <= max_);
      FUZZ_CHECK(Get32(stream_, outcome_.consumed + 4) == payload.size());
      FUZZ_CHECK(payload == stream_.substr(outcome_.consumed + kFrameHeaderBytes, payload.size()));
      outcome_.payloads.emplace_back(payload);
      outcome_.consumed += kFrameHeaderBytes + payload.size();
      FUZZ_CHECK(decoder_.buffered_bytes() == fed_ - outcome_.consumed);
    }
  }

  const absl::string_view stream_;
  const size_t max_;
  FrameDecoder decoder_;
  size_t fed_ = 0;
  Outcome outcome_;
  absl::Status first_error_;
};

Outcome Run(const FrameDecoderFuzzInput& input, size_t max_frame_bytes) {
  DecoderRun run(input.stream, max_frame_bytes);
  const size_t total = input.stream.size();
  const bool any_size = std::any_of(input.chunk_sizes.begin(), input.chunk_sizes.end(),
                                    [](uint8_t size) { return size > 0; });
  if (!any_size) {
    run.Feed(total, input.mode == FeedMode::kAlternate ? FeedMode::kAppend : input.mode);
  } else {
    size_t fed = 0;
    for (size_t i = 0; fed < total; ++i) {
      const size_t size =
          std::min<size_t>(input.chunk_sizes[i % input.chunk_sizes.size()], total - fed);
      FeedMode mode = input.mode;
      if (mode == FeedMode::kAlternate) {
        mode = i % 2 == 0 ? FeedMode::kAppend : FeedMode::kPrepareMore;
      }
      run.Feed(size, mode);
      fed += size;
    }
  }
  return run.outcome();
}

// Parses `payload` as a Message; if it parses, checks that it frames and re-decodes.
template <typename Message>
void CheckPayload(absl::string_view payload) {
  Message message;
  const absl::Status parsed = ParseFramePayload(payload, &message);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.code() == absl::StatusCode::kDataLoss);
    return;
  }
  const std::string serialized = message.SerializeAsString();
  for (size_t max : {kSmallMaxFrameBytes, kDefaultMaxFrameBytes}) {
    const std::string kPrefix = "prefix";
    std::string wire = kPrefix;
    const absl::Status appended = AppendFrame(message, max, &wire);
    if (serialized.size() > max) {
      // Possible even for a payload within the maximum: parsing normalizes, and some
      // normal forms are longer (a negative int32 sent as 5 bytes is serialized as 10).
      FUZZ_CHECK(appended.code() == absl::StatusCode::kResourceExhausted);
      FUZZ_CHECK(wire == kPrefix);
      continue;
    }
    FUZZ_CHECK(appended.ok());
    FUZZ_CHECK(wire.size() == kPrefix.size() + kFrameHeaderBytes + serialized.size());
    FUZZ_CHECK(absl::string_view(wire).substr(0, kPrefix.size()) == kPrefix);

    FrameDecoder decoder(max);
    decoder.Append(absl::string_view(wire).substr(kPrefix.size()));
    absl::StatusOr<std::optional<absl::string_view>> next = decoder.Next();
    FUZZ_CHECK(next.ok() && next->has_value());
    FUZZ_CHECK(**next == serialized);
    Message reparsed;
    FUZZ_CHECK(ParseFramePayload(**next, &reparsed).ok());
    FUZZ_CHECK(DeterministicBytes(reparsed) == DeterministicBytes(message));
    absl::StatusOr<std::optional<absl::string_view>> end = decoder.Next();
    FUZZ_CHECK(end.ok() && !end->has_value());
    FUZZ_CHECK(decoder.buffered_bytes() == 0);
  }
}

}  // namespace
}  // namespace unidist::fuzzing

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  unidist::fuzzing::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace unidist::fuzzing;  // NOLINT(build/namespaces)
  const FrameDecoderFuzzInput input =
      ParseFrameDecoderFuzzInput(absl::string_view(reinterpret_cast<const char*>(data), size));

  const Outcome small = Run(input, kSmallMaxFrameBytes);
  const Outcome large = Run(input, unidist::kDefaultMaxFrameBytes);

  // The small run agrees with the large one up to the first frame longer than 4096 bytes;
  // without such a frame the two runs are the same.
  FUZZ_CHECK(small.payloads.size() <= large.payloads.size());
  for (size_t i = 0; i < small.payloads.size(); ++i) {
    FUZZ_CHECK(small.payloads[i] == large.payloads[i]);
  }
  if (!small.failed) {
    FUZZ_CHECK(!large.failed);
    FUZZ_CHECK(small.payloads.size() == large.payloads.size());
  }

  for (const std::string& payload : large.payloads) {
    CheckPayload<unidist::proto::WorkerMessage>(payload);
    CheckPayload<unidist::proto::DriverMessage>(payload);
  }
  return 0;
}
