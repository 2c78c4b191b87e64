// Copyright 2026 The unidist-cpp Authors.
//
// Handles inside values (bridge.h: EncodedHandles): the session keeps the actors and
// objects whose handles travel inside values alive with the objects and tasks that carry
// them, and finds an object again by the id a decoded ObjectRef names.

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "api/internal/pending_task.h"
#include "api/internal/runtime.h"

namespace unidist::api_internal {

void Runtime::KeepWithObjects(const std::vector<DataID>& ids, const EncodedHandles& held) {
  RememberRefs(held.refs);
  for (const DataID& id : ids) {
    for (const std::shared_ptr<ActorHandle>& actor : held.actors) store_->Pin(id, actor);
    for (const RefHandle& ref : held.refs) store_->Pin(id, ref.token);
  }
}

void Runtime::RememberRefs(const std::vector<RefHandle>& refs) {
  if (refs.empty()) return;
  absl::MutexLock lock(&ref_table_mu_);
  for (const RefHandle& ref : refs) {
    if (ref.token != nullptr && ref.token->store() != nullptr) ref_tokens_[ref.id] = ref.token;
  }
  // Entries whose objects are gone go now and then, so the table stays the size of what
  // is alive.
  if (ref_tokens_.size() >= 2 * ref_tokens_swept_size_ + 1024) {
    absl::erase_if(ref_tokens_, [](const auto& entry) { return entry.second.expired(); });
    ref_tokens_swept_size_ = ref_tokens_.size();
  }
}

absl::StatusOr<RefHandle> Runtime::FindRef(const DataID& id) {
  std::shared_ptr<const RefToken> token;
  {
    absl::MutexLock lock(&ref_table_mu_);
    auto it = ref_tokens_.find(id);
    if (it != ref_tokens_.end()) token = it->second.lock();
  }
  if (token == nullptr) {
    return absl::NotFoundError(absl::StrCat("object ", id.Hex(),
                                            " is gone: no ObjectRef to it was left, or it "
                                            "belongs to an ended session"));
  }
  return RefHandle{id, std::move(token)};
}

}  // namespace unidist::api_internal
