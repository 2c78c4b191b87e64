// Copyright 2026 The unidist-cpp Authors.
//
// Protobuf helpers for the fuzz targets.

#ifndef UNIDIST_FUZZ_PROTO_FUZZ_UTIL_H_
#define UNIDIST_FUZZ_PROTO_FUZZ_UTIL_H_

#include <string>

#include "fuzz/fuzz_check.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/message_lite.h"
#include "google/protobuf/stubs/logging.h"

namespace unidist::fuzzing {

// The message's deterministic serialization: map entries sorted by key. Plain serialization
// writes a map (TaskError.payloads) in its hash table's order, which differs between two
// equal messages, so only this form can be compared across message objects.
inline std::string DeterministicBytes(const google::protobuf::MessageLite& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    FUZZ_CHECK(message.SerializeToCodedStream(&coded));
  }
  return out;
}

// Drops protobuf's log messages: every input with invalid UTF-8 in a string field would
// log an error, which slows the fuzzer down and buries its own output.
inline void SilenceProtobufLogs() { google::protobuf::SetLogHandler(nullptr); }

}  // namespace unidist::fuzzing

#endif  // UNIDIST_FUZZ_PROTO_FUZZ_UTIL_H_
