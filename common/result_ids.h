// Copyright 2026 The unidist-cpp Authors.
//
// TaskRequest.result_ids (common/worker_protocol.proto): the DataIDs of a task's results,
// two fixed64 words each (origin, then sequence). Packed numbers rather than one 16-byte
// string per id, because a Map chunk names thousands of results: a string each cost the
// driver a heap allocation per result to write and the worker one per result to parse.

#ifndef UNIDIST_COMMON_RESULT_IDS_H_
#define UNIDIST_COMMON_RESULT_IDS_H_

#include <vector>

#include "common/worker_protocol.pb.h"
#include "unidist/common/data_id.h"

namespace unidist {

// How many result ids `task` names (a stray odd word, from a malformed request, names
// none).
inline int ResultIdCount(const proto::TaskRequest& task) { return task.result_ids_size() / 2; }

// Result id `index`, 0 <= index < ResultIdCount(task).
inline DataID ResultIdAt(const proto::TaskRequest& task, int index) {
  return DataID::FromParts(task.result_ids(2 * index), task.result_ids(2 * index + 1));
}

// Every result id of `task`, in order.
inline std::vector<DataID> ResultIds(const proto::TaskRequest& task) {
  std::vector<DataID> ids;
  ids.reserve(static_cast<size_t>(ResultIdCount(task)));
  for (int i = 0; i < ResultIdCount(task); ++i) ids.push_back(ResultIdAt(task, i));
  return ids;
}

// Appends `id` to the result ids of `task`.
inline void AddResultId(const DataID& id, proto::TaskRequest* task) {
  task->add_result_ids(id.origin());
  task->add_result_ids(id.sequence());
}

}  // namespace unidist

#endif  // UNIDIST_COMMON_RESULT_IDS_H_
