// Copyright 2026 The unidist-cpp Authors.
//
// The input layout of frame_decoder_fuzzer, shared with the seed-corpus generator.
//
//   byte 0          bits 0-1: how chunks are fed (FeedMode below);
//                   bits 2-7: n, the number of chunk-size bytes that follow (0 to 63).
//   bytes 1..n      chunk sizes, one byte each. The stream is fed in chunks of these
//                   sizes, cycling through the list; with no sizes, or only zeros, it is
//                   fed in one piece. 0 is an empty append: Append(absl::string_view()),
//                   whose data() is null, or PrepareAppend(0) and Commit(0).
//   the rest        the byte stream: frames as AppendFrame writes them (the 16-byte
//                   header of common/framing.h, then the payload), or anything else.
//
// An input shorter than 1 + n bytes has only the sizes it holds and an empty stream.

#ifndef UNIDIST_FUZZ_FRAME_DECODER_FUZZ_INPUT_H_
#define UNIDIST_FUZZ_FRAME_DECODER_FUZZ_INPUT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace unidist::fuzzing {

enum class FeedMode : uint8_t {
  kAppend = 0,        // FrameDecoder::Append(chunk)
  kPrepareExact = 1,  // PrepareAppend(size), write size bytes, Commit(size)
  kPrepareMore = 2,   // PrepareAppend(size + kPrepareSlack), Commit(size): a short read
  kAlternate = 3,     // kAppend and kPrepareMore, chunk by chunk
};

inline constexpr size_t kPrepareSlack = 100;
inline constexpr size_t kMaxChunkSizes = 63;

struct FrameDecoderFuzzInput {
  FeedMode mode = FeedMode::kAppend;
  std::vector<uint8_t> chunk_sizes;
  absl::string_view stream;
};

// Splits a fuzzer input into its fields. `data` must outlive the result's `stream`.
inline FrameDecoderFuzzInput ParseFrameDecoderFuzzInput(absl::string_view data) {
  FrameDecoderFuzzInput input;
  if (data.empty()) return input;
  const uint8_t config = static_cast<uint8_t>(data[0]);
  data.remove_prefix(1);
  input.mode = static_cast<FeedMode>(config & 3);
  const size_t n = std::min<size_t>(config >> 2, data.size());
  input.chunk_sizes.assign(data.begin(), data.begin() + n);
  data.remove_prefix(n);
  input.stream = data;
  return input;
}

// The inverse, for the seed-corpus generator. At most kMaxChunkSizes chunk sizes.
inline std::string MakeFrameDecoderFuzzInput(FeedMode mode, const std::vector<uint8_t>& chunk_sizes,
                                             absl::string_view stream) {
  std::string out;
  out.push_back(static_cast<char>(static_cast<uint8_t>(mode) | (chunk_sizes.size() << 2)));
  out.append(chunk_sizes.begin(), chunk_sizes.end());
  out.append(stream.data(), stream.size());
  return out;
}

}  // namespace unidist::fuzzing

#endif  // UNIDIST_FUZZ_FRAME_DECODER_FUZZ_INPUT_H_
