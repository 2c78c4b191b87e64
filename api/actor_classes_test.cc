// Copyright 2026 The unidist-cpp Authors.
//
// Actor classes end to end: several constructors of one class (the default one included),
// methods inherited from base classes, and methods with several results (SubmitTuple).

#include <map>
#include <string>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "unidist/testing/status_matchers.h"
#include "unidist/testing/unidist_test.h"
#include "unidist/unidist.h"

namespace classes {

class Account {
 public:
  Account() : owner_("nobody"), balance_(0) {}
  explicit Account(int balance) : owner_("anonymous"), balance_(balance) {}
  Account(std::string owner, int balance) : owner_(std::move(owner)), balance_(balance) {}
  explicit Account(std::map<std::string, int> opening) : owner_("ledger"), balance_(0) {
    for (const auto& [from, amount] : opening) balance_ += amount;
  }
  std::string Owner() const { return owner_; }
  int Balance() const { return balance_; }
  std::tuple<std::string, int> Statement() const { return {owner_, balance_}; }
  absl::StatusOr<std::tuple<int, int>> Split(int parts) const {
    if (parts <= 0) return absl::InvalidArgumentError("parts must be positive");
    return std::make_tuple(balance_ / parts, balance_ % parts);
  }

 private:
  std::string owner_;
  int balance_;
};
UNIDIST_ACTOR(Account);
UNIDIST_ACTOR(Account, int);
UNIDIST_ACTOR(Account, std::string, int);
UNIDIST_ACTOR(Account, std::map<std::string, int>);
UNIDIST_REMOTE(&Account::Owner, &Account::Balance, &Account::Statement, &Account::Split);

class Named {
 public:
  virtual ~Named() = default;
  std::string Name() const { return name_; }
  void Rename(std::string name) { name_ = std::move(name); }

 private:
  std::string name_ = "unnamed";
};

class Sized {
 public:
  int Size() const { return size_; }
  void Grow(int by) { size_ += by; }

 private:
  int size_ = 1;
};

// Two bases, so that one of them sits at an offset inside the instance.
class Box : public Named, public Sized {
 public:
  Box() = default;
  int Volume() const { return Size() * Size() * Size(); }
};
UNIDIST_ACTOR(Box);
UNIDIST_REMOTE(&Named::Name, &Named::Rename, &Sized::Size, &Sized::Grow, &Box::Volume);

}  // namespace classes

namespace {

using classes::Account;
using classes::Box;
using unidist::Actor;
using unidist::CreateActor;
using unidist::Get;
using ::unidist::testing::IsOk;
using ::unidist::testing::IsOkAndHolds;
using ::unidist::testing::StatusIs;

class ActorClassesTest : public unidist::testing::UnidistTest {};

TEST_F(ActorClassesTest, EachRegisteredConstructorMakesItsOwnActor) {
  Actor<Account> empty = CreateActor<Account>();
  Actor<Account> funded = CreateActor<Account>(50);
  Actor<Account> owned = CreateActor<Account>("ada", 7);  // const char* for std::string
  Actor<Account> ledger =
      CreateActor<Account>(std::map<std::string, int>{{"a", 1}, {"b", 2}, {"c", 3}});
  EXPECT_THAT(Get(empty.Submit(&Account::Owner)), IsOkAndHolds("nobody"));
  EXPECT_THAT(Get(funded.Submit(&Account::Balance)), IsOkAndHolds(50));
  EXPECT_THAT(Get(funded.Submit(&Account::Owner)), IsOkAndHolds("anonymous"));
  EXPECT_THAT(Get(owned.Submit(&Account::Owner)), IsOkAndHolds("ada"));
  EXPECT_THAT(Get(ledger.Submit(&Account::Balance)), IsOkAndHolds(6));
}

TEST_F(ActorClassesTest, AConstructorArgumentMayBeAnObjectRef) {
  Actor<Account> owned = CreateActor<Account>(unidist::Put(std::string("grace")), 3);
  EXPECT_THAT(Get(owned.Submit(&Account::Owner)), IsOkAndHolds("grace"));
}

TEST_F(ActorClassesTest, MethodsInheritedFromEitherBase) {
  Actor<Box> box = CreateActor<Box>();
  EXPECT_THAT(Get(box.Submit(&classes::Named::Name)), IsOkAndHolds("unnamed"));
  EXPECT_THAT(Get(box.Submit(&classes::Named::Rename, "crate")), IsOk());
  EXPECT_THAT(Get(box.Submit(&classes::Sized::Grow, 2)), IsOk());
  EXPECT_THAT(Get(box.Submit(&classes::Named::Name)), IsOkAndHolds("crate"));
  EXPECT_THAT(Get(box.Submit(&classes::Sized::Size)), IsOkAndHolds(3));
  EXPECT_THAT(Get(box.Submit(&Box::Volume)), IsOkAndHolds(27));
}

TEST_F(ActorClassesTest, SubmitTupleGivesOneRefPerResult) {
  Actor<Account> account = CreateActor<Account>("lin", 17);
  auto [owner, balance] = account.SubmitTuple(&Account::Statement);
  EXPECT_THAT(Get(owner), IsOkAndHolds("lin"));
  EXPECT_THAT(Get(balance), IsOkAndHolds(17));
  auto [quotient, remainder] = account.SubmitTuple(&Account::Split, 5);
  EXPECT_THAT(Get(quotient), IsOkAndHolds(3));
  EXPECT_THAT(Get(remainder), IsOkAndHolds(2));
  auto [bad_quotient, bad_remainder] = account.SubmitTuple(&Account::Split, 0);
  EXPECT_THAT(Get(bad_quotient), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Get(bad_remainder), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
