// Copyright 2026 The unidist-cpp Authors.
//
// ObjectRefs as values, end to end on real processes: a task parameter of type
// ObjectRef<T> (passed unresolved, borrowed), refs inside containers and structs, Put and
// returned by tasks; and the objects they name live exactly as long as some ref can reach
// them, wherever that ref is.

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace refs {

using unidist::ObjectRef;

int AddFromRef(ObjectRef<int> ref, int x) {
  absl::StatusOr<int> value = unidist::Get(ref);
  return value.ok() ? *value + x : -1000;
}

absl::StatusOr<int> SumRefs(std::vector<ObjectRef<int>> refs) {
  int sum = 0;
  for (const ObjectRef<int>& ref : refs) {
    absl::StatusOr<int> value = unidist::Get(ref);
    if (!value.ok()) return value.status();
    sum += *value;
  }
  return sum;
}

// Makes an object inside the task and returns a ref to it.
ObjectRef<int> MakeDoubled(int x) { return unidist::Put(2 * x); }

// Passes a ref it received on to a task of its own.
absl::StatusOr<int> Forward(ObjectRef<int> ref) {
  return unidist::Get(unidist::Submit(AddFromRef, ref, 10));
}

struct Labelled {
  std::string label;
  ObjectRef<std::string> text;
  auto UnidistFields() { return std::tie(label, text); }
};

absl::StatusOr<std::string> ReadLabelled(Labelled labelled) {
  absl::StatusOr<std::string> text = unidist::Get(labelled.text);
  if (!text.ok()) return text.status();
  return labelled.label + ": " + *text;
}

Labelled MakeLabelled(std::string label, std::string text) {
  return Labelled{std::move(label), unidist::Put(std::move(text))};
}

// Keeps a borrowed ref in its state.
class Holder {
 public:
  Holder() = default;
  bool Keep(ObjectRef<std::string> ref) {
    ref_ = std::move(ref);
    return ref_.valid();
  }
  absl::StatusOr<std::string> Read() const { return unidist::Get(ref_); }

 private:
  ObjectRef<std::string> ref_;
};
UNIDIST_ACTOR(Holder);
UNIDIST_REMOTE(&Holder::Keep, &Holder::Read);

}  // namespace refs

UNIDIST_REMOTE(refs::AddFromRef, refs::SumRefs, refs::MakeDoubled, refs::Forward,
               refs::ReadLabelled, refs::MakeLabelled);

namespace {

using ::testing::HasSubstr;
using unidist::Get;
using unidist::ObjectRef;
using unidist::Put;
using unidist::Submit;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

class RefValuesTest : public unidist::testing::UnidistTest {};

TEST_F(RefValuesTest, ARefParameterIsPassedUnresolved) {
  EXPECT_THAT(Get(Submit(refs::AddFromRef, Put(5), 1)), IsOkAndHolds(6));
  // Also the result of a task that has not finished yet: the callee waits in its Get.
  EXPECT_THAT(Get(Submit(refs::AddFromRef, Submit(refs::AddFromRef, Put(1), 2), 3)),
              IsOkAndHolds(6));
}

TEST_F(RefValuesTest, RefsInsideContainersAndStructs) {
  std::vector<ObjectRef<int>> parts = {Put(1), Put(2), Put(3)};
  EXPECT_THAT(Get(Submit(refs::SumRefs, parts)), IsOkAndHolds(6));
  EXPECT_THAT(Get(Submit(refs::ReadLabelled, refs::Labelled{"note", Put(std::string("hi"))})),
              IsOkAndHolds("note: hi"));
}

TEST_F(RefValuesTest, APutRefOutlivesTheDriversOwn) {
  ObjectRef<ObjectRef<int>> outer;
  {
    ObjectRef<int> inner = Put(41);
    outer = Put(inner);
  }  // the driver's own ref to 41 is gone; the outer object's value holds one
  absl::StatusOr<ObjectRef<int>> inner = Get(outer);
  ASSERT_THAT(inner, IsOk());
  EXPECT_THAT(Get(*inner), IsOkAndHolds(41));
  EXPECT_THAT(Get(Submit(refs::AddFromRef, *inner, 1)), IsOkAndHolds(42));
}

TEST_F(RefValuesTest, ATaskReturnsARefToAnObjectItMade) {
  absl::StatusOr<ObjectRef<int>> made = Get(Submit(refs::MakeDoubled, 21));
  ASSERT_THAT(made, IsOk());
  EXPECT_THAT(Get(*made), IsOkAndHolds(42));
  absl::StatusOr<refs::Labelled> labelled =
      Get(Submit(refs::MakeLabelled, std::string("x"), std::string("made inside")));
  ASSERT_THAT(labelled, IsOk());
  EXPECT_THAT(Get(labelled->text), IsOkAndHolds("made inside"));
}

TEST_F(RefValuesTest, ATaskPassesABorrowedRefOn) {
  EXPECT_THAT(Get(Submit(refs::Forward, Put(5))), IsOkAndHolds(15));
}

TEST_F(RefValuesTest, ABorrowedRefOutlivesTheDriversHandle) {
  unidist::Actor<refs::Holder> holder = unidist::CreateActor<refs::Holder>();
  {
    ObjectRef<std::string> text = Put(std::string("kept by the actor"));
    ASSERT_THAT(Get(holder.Submit(&refs::Holder::Keep, text)), IsOkAndHolds(true));
  }  // the driver's last ref: the actor's copy keeps the object
  EXPECT_THAT(Get(holder.Submit(&refs::Holder::Read)), IsOkAndHolds("kept by the actor"));
}

TEST_F(RefValuesTest, AnObjectGoesWithItsLastRefAnywhere) {
  const size_t before = unidist::GetStats().live_objects;
  {
    ObjectRef<ObjectRef<int>> outer = Put(Put(7));
    EXPECT_EQ(unidist::GetStats().live_objects, before + 2);
  }  // the outer object goes, and with it the only ref to the inner one
  EXPECT_EQ(unidist::GetStats().live_objects, before);
}

TEST_F(RefValuesTest, ARefFromAnEndedSessionFindsNothing) {
  ObjectRef<ObjectRef<int>> outer = Put(Put(7));
  ASSERT_THAT(unidist::Shutdown(), IsOk());
  ASSERT_THAT(unidist::Init(), IsOk());
  absl::StatusOr<ObjectRef<int>> inner = Get(outer);  // the outer bytes outlive the session
  ASSERT_THAT(inner, IsOk());
  EXPECT_THAT(Get(*inner), StatusIs(absl::StatusCode::kNotFound, HasSubstr("is gone")));
  // A task that receives it gets the same answer.
  EXPECT_THAT(Get(Submit(refs::AddFromRef, *inner, 1)), IsOkAndHolds(-1000));
}

TEST_F(RefValuesTest, AnEmptyRefTravelsAsEmpty) {
  EXPECT_THAT(Get(Submit(refs::AddFromRef, ObjectRef<int>(), 1)), IsOkAndHolds(-1000));
}

}  // namespace
