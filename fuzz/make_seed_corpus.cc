// Copyright 2026 The unidist-cpp Authors.
//
// Writes the fuzzers' seed corpus: a few small valid inputs per fuzzer, as
// <dir>/<fuzzer>/seed-<name>. Existing files of the same names are overwritten; others
// (regression-* inputs) are left alone.
//
//   ./bazelw run //fuzz:make_seed_corpus -- "$PWD/fuzz/corpus"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/framing.h"
#include "common/worker_protocol.pb.h"
#include "fuzz/codec_fuzz_types.h"
#include "fuzz/frame_decoder_fuzz_input.h"
#include "fuzz/proto_fuzz_util.h"
#include "google/protobuf/duration.pb.h"
#include "process_manager/internal/fork_server.pb.h"
#include "unidist/common/codec.h"

namespace unidist::fuzzing {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& dir, const std::string& fuzzer, const std::string& name,
           absl::string_view bytes) {
  const fs::path path = dir / fuzzer / ("seed-" + name);
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

std::string Id(char fill) { return std::string(16, fill); }

proto::DriverMessage Task() {
  proto::DriverMessage message;
  proto::TaskRequest* task = message.mutable_task();
  task->set_task_id(7);
  task->set_function("add");
  proto::TaskArgument* arg = task->add_args();
  arg->set_value(Encode(int64_t{40}));
  arg->set_object_id(Id('o'));
  task->add_args()->set_value(Encode(int64_t{2}));
  task->add_result_ids(0x7272727272727272);  // one result id: its origin, then its sequence
  task->add_result_ids(0x7272727272727272);
  return message;
}

// A task that takes no arguments: a small frame.
proto::DriverMessage SmallTask() {
  proto::DriverMessage message;
  message.mutable_task()->set_task_id(1);
  message.mutable_task()->set_function("f");
  return message;
}

proto::WorkerMessage Result() {
  proto::WorkerMessage message;
  message.mutable_result()->set_task_id(7);
  message.mutable_result()->add_values(Encode(int64_t{42}));
  return message;
}

proto::WorkerMessage Failure() {
  proto::WorkerMessage message;
  message.mutable_result()->set_task_id(8);
  proto::TaskError* error = message.mutable_result()->mutable_error();
  error->set_code(13);
  error->set_message("boom");
  error->set_function("explode");
  error->set_worker_index(0);
  error->set_worker_pid(-1);  // negative: a 10-byte varint on the wire
  error->set_worker_died(true);
  proto::StatusPayload* payload = error->add_payloads();
  payload->set_type_url("type.googleapis.com/a");
  payload->set_value("x");
  payload = error->add_payloads();
  payload->set_type_url("type.googleapis.com/b");
  payload->set_value(std::string("\0\1", 2));
  return message;
}

// A frame header (common/framing.h) for a payload of `length` bytes whose checksum is
// `body_checksum`, with a correct header checksum.
std::string Header(uint32_t length, uint32_t body_checksum = 0) {
  return FrameHeader(length, body_checksum);
}

// The frames AppendFrame would write, but with map entries in key order, so that the
// seeds do not change from one run of this program to the next.
std::string Frames(std::initializer_list<const google::protobuf::MessageLite*> messages) {
  std::string wire;
  for (const google::protobuf::MessageLite* message : messages) {
    const std::string payload = DeterministicBytes(*message);
    wire += Header(static_cast<uint32_t>(payload.size()), FrameChecksum(payload)) + payload;
  }
  return wire;
}

void WriteProtocolSeeds(const fs::path& dir) {
  const std::string fuzzer = "protocol_fuzzer";
  Write(dir, fuzzer, "driver-task", DeterministicBytes(Task()));
  Write(dir, fuzzer, "worker-result", DeterministicBytes(Result()));
  Write(dir, fuzzer, "worker-failure", DeterministicBytes(Failure()));
  Write(dir, fuzzer, "task-request", DeterministicBytes(Task().task()));
  Write(dir, fuzzer, "task-result-failure", DeterministicBytes(Failure().result()));

  proto::ForkServerRequest spawn;
  spawn.mutable_spawn()->set_worker_index(3);
  Write(dir, fuzzer, "fork-spawn", DeterministicBytes(spawn));
  proto::ForkServerRequest reap;
  reap.mutable_reap()->set_pid(1234);
  reap.mutable_reap()->set_grace_ms(500);
  Write(dir, fuzzer, "fork-reap", DeterministicBytes(reap));
  proto::ForkServerReply reply;
  reply.set_pid(1234);
  reply.set_wait_status(9);
  Write(dir, fuzzer, "fork-reply", DeterministicBytes(reply));
  proto::ForkServerReply error;
  error.set_error("fork: Resource temporarily unavailable");
  Write(dir, fuzzer, "fork-reply-error", DeterministicBytes(error));
}

void WriteFrameDecoderSeeds(const fs::path& dir) {
  const std::string fuzzer = "frame_decoder_fuzzer";
  const proto::DriverMessage task = Task();
  const proto::DriverMessage small_task = SmallTask();
  const proto::WorkerMessage result = Result();
  const proto::WorkerMessage failure = Failure();

  Write(dir, fuzzer, "one-frame",
        MakeFrameDecoderFuzzInput(FeedMode::kAppend, {}, Frames({&result})));
  Write(dir, fuzzer, "byte-by-byte",
        MakeFrameDecoderFuzzInput(FeedMode::kAppend, {1}, Frames({&task, &small_task, &result})));
  Write(dir, fuzzer, "prepare-exact",
        MakeFrameDecoderFuzzInput(FeedMode::kPrepareExact, {3, 0, 17, 250},
                                  Frames({&result, &failure})));
  Write(dir, fuzzer, "prepare-more",
        MakeFrameDecoderFuzzInput(FeedMode::kPrepareMore, {5, 2}, Frames({&task})));
  // An empty frame, a message, then a frame cut short by the end of the stream.
  Write(dir, fuzzer, "alternate-partial-tail",
        MakeFrameDecoderFuzzInput(FeedMode::kAlternate, {1, 2, 3, 4},
                                  Header(0, FrameChecksum("")) + Frames({&small_task}) +
                                      Frames({&result}).substr(0, 20)));
  // A 5000-byte length: too long for the small maximum, a partial frame for the large one.
  Write(
      dir, fuzzer, "over-small-maximum",
      MakeFrameDecoderFuzzInput(FeedMode::kAppend, {2}, Frames({&result}) + Header(5000) + "abc"));
  // A length over 1 GiB: an error for both maxima.
  Write(dir, fuzzer, "over-large-maximum",
        MakeFrameDecoderFuzzInput(FeedMode::kPrepareExact, {},
                                  Frames({&small_task}) + Header(0xffffffff) + "x"));
  // A frame, then one whose body does not match its checksum.
  std::string corrupt = Frames({&small_task});
  corrupt.back() = static_cast<char>(corrupt.back() ^ 1);
  Write(dir, fuzzer, "bad-body-checksum",
        MakeFrameDecoderFuzzInput(FeedMode::kAppend, {7}, Frames({&result}) + corrupt));
  // A frame, then issue #16's bytes: a bare 4-byte length (1 MiB) and 7 bytes.
  Write(dir, fuzzer, "bad-magic",
        MakeFrameDecoderFuzzInput(FeedMode::kAppend, {},
                                  Frames({&result}) +
                                      std::string("\x00\x00\x10\x00"
                                                  "1234567",
                                                  11) +
                                      Frames({&small_task})));
}

void WriteCodecSeeds(const fs::path& dir) {
  const std::string fuzzer = "codec_fuzzer";
  Write(dir, fuzzer, "int64", MakeCodecFuzzInput<0>(-1, false));
  Write(dir, fuzzer, "int64-raw", MakeCodecFuzzInput<0>(42, true));
  Write(dir, fuzzer, "string", MakeCodecFuzzInput<1>("hello", false));
  Write(dir, fuzzer, "string-empty-raw", MakeCodecFuzzInput<1>("", true));

  // A quiet NaN with a payload, -0.0, infinity: all must come back as the same bytes.
  double nan_with_payload;
  const uint64_t nan_bits = 0x7ff8000000001234ull;
  std::memcpy(&nan_with_payload, &nan_bits, sizeof(double));
  Write(dir, fuzzer, "vector-double",
        MakeCodecFuzzInput<2>(
            {1.5, -0.0, nan_with_payload, std::numeric_limits<double>::infinity()}, false));

  Write(dir, fuzzer, "map", MakeCodecFuzzInput<3>({{"a", {1, 2}}, {"b", {}}}, false));
  // The same map with its entries out of key order: Decode accepts it, and Encode of the
  // result restores the order, so the bytes differ (see kReordered in codec_fuzzer.cc).
  {
    const char kHead[] = {
        3,          // selector: the map type, tag prepended by the fuzzer
        2,          // 2 entries
        1, 'b', 0,  // "b" -> {}
        1, 'a', 2,  // "a" -> {1, 2}
    };
    std::string unsorted(kHead, sizeof(kHead));
    const int32_t ints[2] = {1, 2};
    unsorted.append(reinterpret_cast<const char*>(ints), sizeof(ints));
    Write(dir, fuzzer, "map-unsorted-keys", unsorted);
  }

  Write(dir, fuzzer, "optional-empty", MakeCodecFuzzInput<4>(std::nullopt, false));
  Write(dir, fuzzer, "optional-pair", MakeCodecFuzzInput<4>(std::make_pair(7, "x"), false));
  Write(dir, fuzzer, "tuple",
        MakeCodecFuzzInput<5>({true, {"p", "q"}, {{1, 2.5}, {2, -1.0}}}, false));

  Record record;
  record.id = 5;
  record.name = "rec";
  record.samples = {1, 2, 65535};
  record.weight = 0.5f;
  record.color = Color::kBlue;
  record.flag = true;
  record.small = {-1, 0, 1};
  Write(dir, fuzzer, "record", MakeCodecFuzzInput<6>(record, false));
  Write(dir, fuzzer, "record-default-raw", MakeCodecFuzzInput<6>(Record{}, true));

  google::protobuf::Duration duration;
  duration.set_seconds(3);
  duration.set_nanos(-500);
  Write(dir, fuzzer, "duration", MakeCodecFuzzInput<7>(duration, false));
  Write(dir, fuzzer, "duration-zero-raw",
        MakeCodecFuzzInput<7>(google::protobuf::Duration(), true));
}

}  // namespace
}  // namespace unidist::fuzzing

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  unidist::fuzzing::WriteProtocolSeeds(dir);
  unidist::fuzzing::WriteFrameDecoderSeeds(dir);
  unidist::fuzzing::WriteCodecSeeds(dir);
  return 0;
}
