// Copyright 2026 The unidist-cpp Authors.
//
// protocol_fuzzer: parses the input as each message of our two wire protocols
// (common/worker_protocol.proto and process_manager/internal/fork_server.proto). For every
// message the bytes parse as, it checks that serializing gives ByteSizeLong() bytes, that
// those bytes parse again into an equal message (same deterministic serialization), so the
// serialized form of a parsed message is a fixed point. For the two envelopes it also checks
// that ParseFramePayload agrees with protobuf's own parser.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/proto_fuzz_util.h"
#include "process_manager/internal/fork_server.pb.h"

namespace unidist::fuzzing {
namespace {

template <typename Message>
void CheckRoundTrip(const uint8_t* data, size_t size) {
  Message message;
  if (!message.ParseFromArray(data, static_cast<int>(size))) return;

  std::string serialized;
  FUZZ_CHECK(message.SerializeToString(&serialized));
  FUZZ_CHECK(serialized.size() == message.ByteSizeLong());

  Message reparsed;
  FUZZ_CHECK(reparsed.ParseFromString(serialized));
  FUZZ_CHECK(reparsed.ByteSizeLong() == serialized.size());
  FUZZ_CHECK(DeterministicBytes(reparsed) == DeterministicBytes(message));
}

template <typename Message>
void CheckFramePayloadAgrees(const uint8_t* data, size_t size) {
  Message by_protobuf;
  const bool protobuf_ok = by_protobuf.ParseFromArray(data, static_cast<int>(size));
  Message by_framing;
  const absl::Status status =
      ParseFramePayload(absl::string_view(reinterpret_cast<const char*>(data), size), &by_framing);
  FUZZ_CHECK(status.ok() == protobuf_ok);
  FUZZ_CHECK(status.ok() || status.code() == absl::StatusCode::kDataLoss);
  if (protobuf_ok) {
    FUZZ_CHECK(DeterministicBytes(by_framing) == DeterministicBytes(by_protobuf));
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
  namespace proto = unidist::proto;
  // Protobuf takes an int size; libFuzzer inputs are far smaller, but stay correct anyway.
  if (size > (size_t{1} << 30)) return 0;

  CheckRoundTrip<proto::DriverMessage>(data, size);
  CheckRoundTrip<proto::WorkerMessage>(data, size);
  CheckRoundTrip<proto::TaskRequest>(data, size);
  CheckRoundTrip<proto::TaskResult>(data, size);
  CheckRoundTrip<proto::ForkServerRequest>(data, size);
  CheckRoundTrip<proto::ForkServerReply>(data, size);

  CheckFramePayloadAgrees<proto::DriverMessage>(data, size);
  CheckFramePayloadAgrees<proto::WorkerMessage>(data, size);
  return 0;
}
