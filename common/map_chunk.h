// Copyright 2026 The unidist-cpp Authors.
//
// A unidist::Map chunk's inputs (TaskRequest.map_inputs) and values (TaskResult.map_values)
// on the wire (common/worker_protocol.proto): the elements' codec bytes one after another
// in one bytes field, with a packed list of the offsets where each ends. A chunk holds
// thousands of small elements; as one TaskArgument (or one repeated-bytes entry) each,
// every element cost a heap allocation to build and one to parse on each side of the pipe,
// and freeing them all at once past the allocator's per-thread cache was a third of a
// worker's time in a Map of trivial calls.

#ifndef UNIDIST_COMMON_MAP_CHUNK_H_
#define UNIDIST_COMMON_MAP_CHUNK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/worker_protocol.pb.h"
#include "google/protobuf/repeated_field.h"

namespace unidist {

using PackedEnds = google::protobuf::RepeatedField<uint64_t>;

// Appends `bytes` as the next element of the packed list (`buffer`, `ends`).
inline void AppendPacked(absl::string_view bytes, std::string* buffer, PackedEnds* ends) {
  buffer->append(bytes.data(), bytes.size());
  ends->Add(buffer->size());
}

// The elements of the packed list (`buffer`, `ends`), as views into `buffer`. DataLoss if
// the ends go backwards or past the buffer's end, or if the last does not end it: bytes
// from another process are checked before they are trusted.
inline absl::StatusOr<std::vector<absl::string_view>> UnpackedViews(absl::string_view buffer,
                                                                    const PackedEnds& ends) {
  std::vector<absl::string_view> views;
  views.reserve(static_cast<size_t>(ends.size()));
  uint64_t begin = 0;
  for (const uint64_t end : ends) {
    if (end < begin || end > buffer.size()) {
      return absl::DataLossError(absl::StrCat("element ", views.size(),
                                              " of a packed list ends at ", end, ", outside bytes ",
                                              begin, " to ", buffer.size()));
    }
    views.push_back(buffer.substr(begin, end - begin));
    begin = end;
  }
  if (begin != buffer.size()) {
    return absl::DataLossError(absl::StrCat("a packed list of ", buffer.size(), " bytes has ",
                                            buffer.size() - begin, " after its last element"));
  }
  return views;
}

// Drops every value of `result`, packed or not, and a map chunk's per-call errors: for a
// result that becomes the error of the whole task.
inline void ClearValues(proto::TaskResult* result) {
  result->clear_values();
  result->clear_map_values();
  result->clear_map_value_ends();
  result->clear_element_errors();
}

// Moves the packed values of a map chunk's `result` into its `values`, one entry each,
// for code that handles each value on its own (the mpi backend keeps a large one on the
// rank that made it). DataLoss, with `result` unchanged, if the packed list is malformed.
inline absl::Status UnpackMapValues(proto::TaskResult* result) {
  if (result->map_value_ends().empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<absl::string_view>> views =
      UnpackedViews(result->map_values(), result->map_value_ends());
  if (!views.ok()) return views.status();
  result->clear_values();
  result->mutable_values()->Reserve(static_cast<int>(views->size()));
  for (absl::string_view view : *views) result->add_values(view.data(), view.size());
  result->clear_map_values();
  result->clear_map_value_ends();
  return absl::OkStatus();
}

}  // namespace unidist

#endif  // UNIDIST_COMMON_MAP_CHUNK_H_
