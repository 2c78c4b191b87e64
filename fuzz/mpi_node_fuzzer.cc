// Copyright 2026 The unidist-cpp Authors.
//
// A worker rank's Node (mpi/internal/node.h) fed what the input makes of the messages it
// gets from the driver and from other ranks: every kind of ToNode, with fields drawn from
// the input (ids from a small pool, so that they meet: a fetch of a kept object, a task on
// a dedicated worker that exists, a release of what a task made), raw values after an
// ObjectData, and plain garbage. The node's local pool is a SequentialPool running an
// executor that echoes, makes a value of a given size or fails, so that sessions, tasks,
// kept results, fetches and releases all happen in this one thread.
//
// Checked: no crash, leak or undefined behaviour (ASan, UBSan); every message the node
// sends parses (as FromNode to the driver, ToNode to a node, or is the raw value that
// follows an ObjectData); a raw value has the size its header said; after `exit` the node
// says so. The store is off (no SharedArena): a fuzzer must not map memory files per
// input; the store's paths have their own tests.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result_ids.h"
#include "fuzz/fuzz_check.h"
#include "glog/logging.h"
#include "mpi/internal/mpi_messages.pb.h"
#include "mpi/internal/node.h"
#include "process_manager/sequential_pool.h"
#include "unidist/common/data_id.h"

namespace {

using unidist::mpi::proto::FromNode;
using unidist::mpi::proto::ToNode;
using unidist::mpi_internal::Node;
using unidist::mpi_internal::Received;

// Tasks: "echo" returns its first argument, "make" a value of (first argument's size *
// 997) bytes (large enough to be kept), anything else fails.
void Execute(const unidist::proto::TaskRequest& task, unidist::proto::TaskResult* result) {
  const std::string arg = task.args_size() > 0 ? task.args(0).value() : std::string();
  if (task.function() == "echo") {
    for (int i = 0; i < unidist::ResultIdCount(task); ++i) result->add_values(arg);
  } else if (task.function() == "make") {
    for (int i = 0; i < unidist::ResultIdCount(task); ++i) {
      result->add_values(std::string(arg.size() * 997 % 300000, 'm'));
    }
  } else {
    result->mutable_error()->set_code(3);
    result->mutable_error()->set_message("no such function");
  }
}

std::string ObjectId(FuzzedDataProvider& in) {
  return unidist::DataID::FromParts(1, in.ConsumeIntegralInRange<uint64_t>(1, 6)).Binary();
}

// A TaskRequest drawn from the input, its arguments by value or by location.
unidist::proto::TaskRequest Task(FuzzedDataProvider& in) {
  unidist::proto::TaskRequest task;
  task.set_task_id(in.ConsumeIntegralInRange<uint64_t>(1, 12));
  task.set_function(in.PickValueInArray({"echo", "make", "nope"}));
  const int args = in.ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < args; ++i) {
    unidist::proto::TaskArgument* arg = task.add_args();
    if (in.ConsumeBool()) {
      arg->set_value(in.ConsumeRandomLengthString(64));
      if (in.ConsumeBool()) arg->set_object_id(ObjectId(in));  // the driver's object
      if (in.ConsumeBool()) arg->mutable_value()->resize(in.ConsumeIntegralInRange(0, 1 << 17));
    } else {
      const std::string id = ObjectId(in);
      arg->set_object_id(id);
      arg->mutable_location()->set_object_id(in.ConsumeBool() ? id : ObjectId(in));
      arg->mutable_location()->set_holder(in.ConsumeIntegralInRange<uint64_t>(0, 4));
      arg->mutable_location()->set_size(in.ConsumeIntegralInRange<uint64_t>(0, 400000));
    }
  }
  const int results = in.ConsumeIntegralInRange(0, 2);
  for (int i = 0; i < results; ++i) {
    unidist::AddResultId(unidist::DataID::FromParts(1, in.ConsumeIntegralInRange<uint64_t>(1, 6)),
                         &task);
  }
  if (in.ConsumeBool()) task.add_result_ids(in.ConsumeIntegral<uint64_t>());  // a stray word
  if (in.ConsumeBool()) task.set_actor_key(in.ConsumeIntegral<uint64_t>());
  return task;
}

unidist::mpi::proto::LocalWorker Worker(FuzzedDataProvider& in) {
  unidist::mpi::proto::LocalWorker worker;
  worker.set_slot(in.ConsumeIntegralInRange(-1, 4));
  worker.set_generation(in.ConsumeIntegralInRange<uint32_t>(0, 2));
  return worker;
}

// The next message from `source`, as the input chooses.
std::string Message(FuzzedDataProvider& in, uint64_t session, int source) {
  ToNode message;
  message.set_session(in.ConsumeBool() ? session : in.ConsumeIntegralInRange<uint64_t>(0, 3));
  switch (in.ConsumeIntegralInRange(0, 15)) {
    case 0: {
      unidist::mpi::proto::StartSession* start = message.mutable_start_session();
      start->set_num_workers(in.ConsumeIntegralInRange(-1, 3));
      start->set_max_frame_bytes(in.ConsumeIntegralInRange<uint64_t>(0, 1 << 20));
      start->set_max_tasks_per_worker(in.ConsumeIntegralInRange<uint64_t>(0, 4));
      start->set_rank(in.ConsumeIntegralInRange(-1, 4));
      start->set_keep_min_bytes(in.ConsumeIntegralInRange<uint64_t>(0, 1 << 17));
      start->set_driver_host(in.PickValueInArray({"host-0", "host-1", ""}));
      start->set_ranks(4);  // the driver always says; ranks 1..3 are the worker ranks
      start->set_keep_arguments(in.ConsumeBool());
      break;
    }
    case 1:
      *message.mutable_run_task()->mutable_task() = Task(in);
      break;
    case 2:
      *message.mutable_run_task_on()->mutable_worker() = Worker(in);
      *message.mutable_run_task_on()->mutable_task() = Task(in);
      break;
    case 3:
      message.mutable_cancel()->set_call_id(in.ConsumeIntegral<uint8_t>());
      message.mutable_cancel()->set_task_id(in.ConsumeIntegralInRange<uint64_t>(1, 12));
      message.mutable_cancel()->set_force(in.ConsumeBool());
      break;
    case 4:
      *message.mutable_reply_to_worker()->mutable_worker() = Worker(in);
      message.mutable_reply_to_worker()->mutable_reply()->set_request_id(
          in.ConsumeIntegral<uint8_t>());
      break;
    case 5:
      message.mutable_start_dedicated()->set_call_id(in.ConsumeIntegral<uint8_t>());
      break;
    case 6:
      *message.mutable_close_dedicated()->mutable_worker() = Worker(in);
      message.mutable_close_dedicated()->set_kill(in.ConsumeBool());
      break;
    case 7:
      message.mutable_query_workers()->set_call_id(in.ConsumeIntegral<uint8_t>());
      break;
    case 8:
      message.set_end_session(true);
      break;
    case 9:
      message.set_exit(true);
      break;
    case 10:
      message.mutable_fetch_object()->set_call_id(in.ConsumeIntegral<uint8_t>());
      message.mutable_fetch_object()->set_object_id(ObjectId(in));
      break;
    case 11: {
      const int ids = in.ConsumeIntegralInRange(0, 3);
      for (int i = 0; i < ids; ++i) message.mutable_release_objects()->add_object_ids(ObjectId(in));
      break;
    }
    case 12: {
      unidist::mpi::proto::ObjectData* data = message.mutable_object_data();
      data->set_call_id(in.ConsumeIntegral<uint8_t>());
      data->set_object_id(ObjectId(in));
      data->set_size(in.ConsumeIntegralInRange<uint64_t>(0, 400000));
      data->set_elements_offset(in.ConsumeIntegralInRange<uint64_t>(0, 64));
      if (in.ConsumeBool()) data->mutable_error()->set_code(5);
      break;
    }
    case 13:
      message.mutable_query_objects()->set_call_id(in.ConsumeIntegral<uint8_t>());
      break;
    case 14:
      return in.ConsumeRandomLengthString(128);  // garbage
    default:
      break;  // an empty envelope
  }
  if (source != 0 && !message.has_object_data() && !message.has_fetch_object()) {
    message.set_session(session);  // what another node sends: only fetches and answers
  }
  return message.SerializeAsString();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  FLAGS_minloglevel = 3;  // the node logs every message it drops; the fuzzer sends many
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  // What the node sends: each message parses; a value goes with its ObjectData header as
  // the payload, of the size the header says, and nothing else has one.
  auto send = [](int dest, std::string bytes, std::shared_ptr<const unidist::ObjectBytes> payload) {
    const unidist::mpi::proto::ObjectData* data = nullptr;
    FromNode to_driver;
    ToNode to_node;
    if (dest == 0) {
      FUZZ_CHECK(to_driver.ParseFromString(bytes));
      if (to_driver.has_object_data()) data = &to_driver.object_data();
    } else {
      FUZZ_CHECK(dest > 0 && dest < 4);  // a worker rank of the job
      FUZZ_CHECK(to_node.ParseFromString(bytes));
      if (to_node.has_object_data()) data = &to_node.object_data();
    }
    if (data != nullptr && !data->has_error()) {
      FUZZ_CHECK(payload != nullptr && payload->size() == data->size());
    } else {
      FUZZ_CHECK(payload == nullptr);
    }
  };
  // The next raw message from a rank goes into a buffer the node gave, if it fits.
  std::map<int, std::pair<char*, size_t>> receive_into;
  Node node(
      send, &Execute,
      [](unidist::WorkerPoolOptions options)
          -> absl::StatusOr<std::unique_ptr<unidist::WorkerPool>> {
        options.num_workers = std::max(1, std::min(options.num_workers, 3));
        absl::StatusOr<std::unique_ptr<unidist::SequentialPool>> pool =
            unidist::SequentialPool::Start(std::move(options));
        if (!pool.ok()) return pool.status();
        return std::unique_ptr<unidist::WorkerPool>(std::move(*pool));
      },
      []() -> absl::StatusOr<Node::Place> {
        Node::Place place;
        place.cpus = 2;
        place.host = "host-1";
        place.whole_host = true;
        place.ranks_on_host = 3;
        place.index_on_host = 1;
        return place;
      },
      [&receive_into](int source, char* buffer, size_t size) {
        receive_into[source] = {buffer, size};
      });
  uint64_t session = 1;
  for (int step = 0; step < 64 && in.remaining_bytes() > 0; ++step) {
    const int source = in.ConsumeIntegralInRange(0, 3);
    if (in.ConsumeIntegralInRange(0, 7) == 0) session = in.ConsumeIntegralInRange<uint64_t>(1, 3);
    Received received;
    received.source = source;
    if (in.ConsumeIntegralInRange(0, 3) == 0) {
      // A raw value: into the buffer the node gave for this rank, if the size matches.
      const size_t length = in.ConsumeIntegralInRange<size_t>(0, 300000);
      auto it = receive_into.find(source);
      if (it != receive_into.end() && it->second.second == length) {
        std::memset(it->second.first, 'r', length);
        received.into_buffer = true;
      } else {
        received.bytes.assign(length, 'r');
      }
      if (it != receive_into.end()) receive_into.erase(it);
    } else {
      received.bytes = Message(in, session, source);
    }
    const bool exited = !node.HandleReceived(std::move(received));
    if (exited) break;
  }
  node.EndSession();
  return 0;
}
