// Copyright 2026 The unidist-cpp Authors.

#include "api/internal/ref_token.h"

#include "common/worker_protocol.pb.h"
#include "process_manager/driver_channel.h"

namespace unidist::api_internal {

static_assert(sizeof(RefToken) <= 56, "with its shared_ptr's control block, a token is 72 bytes");

RefToken::~RefToken() {
  if (store_ != nullptr) store_->Erase(id_);
  if (held_by_driver()) {
    proto::ApiRequest release;
    release.mutable_release()->add_object_ids(id_.Binary());
    NotifyDriver(std::move(release));
  }
}

}  // namespace unidist::api_internal
