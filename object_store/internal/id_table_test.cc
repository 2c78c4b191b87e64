// Copyright 2026 The unidist-cpp Authors.

#include "object_store/internal/id_table.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "gtest/gtest.h"

namespace unidist::object_store_internal {
namespace {

constexpr uint64_t kOrigin = 0x1234;
constexpr size_t kPage = IdTable<int>::kSlotsPerPage;

DataID Id(uint64_t sequence, uint64_t origin = kOrigin) {
  return DataID::FromParts(origin, sequence);
}

// A value that counts how many of its kind are alive, so that a test sees every value
// destroyed exactly once, wherever in the table it lived.
struct Counted {
  Counted() { ++alive; }
  Counted(Counted&& other) noexcept : value(std::move(other.value)) { ++alive; }
  Counted& operator=(Counted&&) = default;
  ~Counted() { --alive; }
  std::string value;
  static inline int alive = 0;
};

TEST(IdTableTest, InsertsFindsAndErases) {
  IdTable<int> table;
  EXPECT_EQ(table.Find(Id(1)), nullptr);
  auto [value, inserted] = table.TryEmplace(Id(1));
  ASSERT_TRUE(inserted);
  EXPECT_EQ(*value, 0);  // value-initialized
  *value = 7;
  auto [again, inserted_again] = table.TryEmplace(Id(1));
  EXPECT_FALSE(inserted_again);
  EXPECT_EQ(*again, 7);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_TRUE(table.Contains(Id(1)));
  EXPECT_FALSE(table.Contains(Id(2)));
  EXPECT_FALSE(table.Contains(Id(1, kOrigin + 1)));  // same sequence, other origin
  EXPECT_TRUE(table.Erase(Id(1)));
  EXPECT_FALSE(table.Erase(Id(1)));
  EXPECT_EQ(table.Find(Id(1)), nullptr);
  EXPECT_TRUE(table.empty());
}

TEST(IdTableTest, KeepsConsecutiveIdsOfTheFirstOriginInPages) {
  IdTable<int> table;
  for (uint64_t i = 1; i <= 3 * kPage; ++i) *table.TryEmplace(Id(i)).first = static_cast<int>(i);
  *table.TryEmplace(Id(5, kOrigin + 1)).first = -5;  // another process's id
  EXPECT_EQ(table.paged_for_test(), 3 * kPage);
  EXPECT_EQ(table.size(), 3 * kPage + 1);
  EXPECT_EQ(*table.Find(Id(5, kOrigin + 1)), -5);
  EXPECT_EQ(*table.Find(Id(5)), 5);
  EXPECT_EQ(*table.Find(Id(3 * kPage)), static_cast<int>(3 * kPage));
}

TEST(IdTableTest, FreesAPageWhenItsLastValueGoesButKeepsTheNewest) {
  IdTable<int> table;
  for (uint64_t i = 0; i < 4 * kPage; ++i) table.TryEmplace(Id(i));
  EXPECT_EQ(table.pages_for_test(), 4u);
  for (uint64_t i = 0; i < kPage; ++i) table.Erase(Id(i));
  EXPECT_EQ(table.pages_for_test(), 3u);
  for (uint64_t i = kPage; i < 4 * kPage; ++i) table.Erase(Id(i));
  EXPECT_EQ(table.pages_for_test(), 1u);  // the newest page
  EXPECT_TRUE(table.empty());
  // One made and freed at a time stays in that page.
  for (uint64_t i = 4 * kPage; i < 5 * kPage - 1; ++i) {
    table.TryEmplace(Id(i));
    table.Erase(Id(i));
  }
  EXPECT_EQ(table.pages_for_test(), 1u);
}

TEST(IdTableTest, MovesWhatIsLeftOfSparsePagesToTheHashTable) {
  // Keep one id in a hundred of 100 pages (a program that holds on to a few results).
  IdTable<int> table;
  const uint64_t count = 100 * kPage;
  for (uint64_t i = 0; i < count; ++i) *table.TryEmplace(Id(i)).first = static_cast<int>(i);
  for (uint64_t i = 0; i < count; ++i) {
    if (i % 100 != 0) table.Erase(Id(i));
  }
  // All but a few pages (the slack, and the newest) are gone; every kept value is there.
  EXPECT_LE(table.pages_for_test(), 20u);
  EXPECT_EQ(table.size(), count / 100);
  for (uint64_t i = 0; i < count; i += 100) {
    ASSERT_NE(table.Find(Id(i)), nullptr) << i;
    EXPECT_EQ(*table.Find(Id(i)), static_cast<int>(i));
  }
}

TEST(IdTableTest, StaysSmallForAProgramThatMakesAndFreesInOrderForever) {
  // Batches of 10 pages' worth, freed in order while the next batch is made: pages drain
  // through "mostly empty" to empty, and none of them may stay behind in any list.
  IdTable<int> table;
  uint64_t next = 1;
  uint64_t oldest = 1;
  for (int batch = 0; batch < 500; ++batch) {
    for (size_t i = 0; i < 10 * kPage; ++i) table.TryEmplace(Id(next++));
    while (oldest + 10 * kPage < next) ASSERT_TRUE(table.Erase(Id(oldest++)));
    ASSERT_LE(table.pages_for_test(), 12u);
    ASSERT_LE(table.listed_pages_for_test(), 2 * 12 + 17u);  // bounded, not one per batch
  }
  EXPECT_EQ(table.paged_for_test(), table.size());  // nothing went to the hash table
}

TEST(IdTableTest, AnIdForAFreedPageGoesToTheHashTable) {
  IdTable<int> table;
  for (uint64_t i = 0; i < 3 * kPage; ++i) table.TryEmplace(Id(i));
  for (uint64_t i = kPage; i < 2 * kPage; ++i) table.Erase(Id(i));  // the middle page
  ASSERT_EQ(table.pages_for_test(), 2u);
  // An id of that page made long ago and only now inserted (another thread's).
  *table.TryEmplace(Id(kPage + 3)).first = 42;
  EXPECT_EQ(table.pages_for_test(), 2u);
  EXPECT_EQ(*table.Find(Id(kPage + 3)), 42);
  EXPECT_EQ(table.size(), 2 * kPage + 1);
  EXPECT_TRUE(table.Erase(Id(kPage + 3)));
  EXPECT_EQ(table.Find(Id(kPage + 3)), nullptr);
}

TEST(IdTableTest, TheWindowOfPagesMovesOnAndKeepsOldValues) {
  IdTable<int> table(/*max_window_pages=*/4);
  *table.TryEmplace(Id(1)).first = 1;             // a long-lived object on the first page
  *table.TryEmplace(Id(100 * kPage)).first = 2;   // far ahead
  *table.TryEmplace(Id(1000 * kPage)).first = 3;  // further still
  EXPECT_LE(table.pages_for_test(), 4u);
  EXPECT_EQ(*table.Find(Id(1)), 1);
  EXPECT_EQ(*table.Find(Id(100 * kPage)), 2);
  EXPECT_EQ(*table.Find(Id(1000 * kPage)), 3);
  EXPECT_EQ(table.size(), 3u);
}

TEST(IdTableTest, VisitsEveryEntry) {
  IdTable<int> table;
  absl::flat_hash_map<DataID, int> expected;
  for (uint64_t i = 1; i <= 2 * kPage + 5; i += 3) expected[Id(i)] = static_cast<int>(i);
  expected[Id(9, 77)] = -9;
  for (const auto& [id, value] : expected) *table.TryEmplace(id).first = value;
  absl::flat_hash_map<DataID, int> seen;
  table.ForEach([&seen](const DataID& id, int& value) { seen[id] = value; });
  EXPECT_EQ(seen, expected);
  const IdTable<int>& const_table = table;
  size_t visited = 0;
  const_table.ForEach([&visited](const DataID&, const int&) { ++visited; });
  EXPECT_EQ(visited, expected.size());
}

TEST(IdTableTest, DestroysEveryValueOnceWhereverItLived) {
  Counted::alive = 0;
  {
    IdTable<Counted> table(/*max_window_pages=*/8);
    for (uint64_t i = 0; i < 50 * kPage; ++i) table.TryEmplace(Id(i)).first->value = "x";
    for (uint64_t i = 0; i < 50 * kPage; ++i) {
      if (i % 37 != 0) table.Erase(Id(i));  // sparse pages move out
    }
    table.TryEmplace(Id(3, 99));  // another origin
    EXPECT_EQ(static_cast<size_t>(Counted::alive), table.size());
  }
  EXPECT_EQ(Counted::alive, 0);
}

// Random inserts and erases, mostly in sequence as a program makes them, against a hash
// map: the table must agree on every lookup, its size and its contents.
TEST(IdTableTest, AgreesWithAHashMapUnderRandomUse) {
  for (size_t window : {size_t{2}, size_t{16}, IdTable<int>::kDefaultMaxWindowPages}) {
    std::mt19937_64 random(window);
    IdTable<int> table(window);
    absl::flat_hash_map<DataID, int> model;
    std::deque<DataID> live;
    uint64_t next = 1;
    for (int step = 0; step < 200000; ++step) {
      const int dice = static_cast<int>(random() % 100);
      if (dice < 50 || live.empty()) {
        DataID id;
        if (dice < 45) {
          id = Id(next++);
        } else if (dice < 47) {
          id = Id(random() % (next + 10), kOrigin + 1 + random() % 3);  // other origins
        } else {
          id = Id(random() % (next + 1));  // late, early or repeated ids
        }
        const int value = static_cast<int>(random());
        auto [slot, inserted] = table.TryEmplace(id);
        auto [model_slot, model_inserted] = model.try_emplace(id, 0);
        ASSERT_EQ(inserted, model_inserted) << id;
        if (inserted) {
          *slot = value;
          model_slot->second = value;
          live.push_back(id);
        }
      } else {
        // Mostly the oldest (in order), sometimes any.
        DataID id;
        if (dice < 90) {
          id = live.front();
          live.pop_front();
        } else {
          const size_t at = random() % live.size();
          id = live[at];
          live[at] = live.back();
          live.pop_back();
        }
        ASSERT_TRUE(table.Erase(id)) << id;
        model.erase(id);
        ASSERT_FALSE(table.Erase(id)) << id;
      }
      if (step % 997 == 0) {
        const DataID probe = Id(random() % (next + 5));
        auto it = model.find(probe);
        const int* found = table.Find(probe);
        ASSERT_EQ(found != nullptr, it != model.end()) << probe;
        if (found != nullptr) {
          ASSERT_EQ(*found, it->second);
        }
      }
    }
    ASSERT_EQ(table.size(), model.size());
    size_t visited = 0;
    table.ForEach([&](const DataID& id, const int& value) {
      ++visited;
      auto it = model.find(id);
      ASSERT_NE(it, model.end()) << id;
      EXPECT_EQ(value, it->second);
    });
    EXPECT_EQ(visited, model.size());
    for (const auto& [id, value] : model) {
      ASSERT_NE(table.Find(id), nullptr) << id;
      EXPECT_EQ(*table.Find(id), value);
    }
  }
}

}  // namespace
}  // namespace unidist::object_store_internal
