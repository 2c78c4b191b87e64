// Copyright 2026 The unidist-cpp Authors.
//
// IdTable: the object store's map from DataID to entry.
//
// A process makes its ids in sequence (a DataID is its origin, then a counter), and a
// program mostly lets its objects go in about the order it made them. So the table keeps
// the ids of one origin (the first it is given: in the driver, the driver's own) in pages
// indexed by sequence, kSlotsPerPage consecutive ids a page and one slot of sizeof(V)
// bytes each. Against a hash table that is
//   * less memory: a slot per id and no key, where a hash table has 1.1 to 2.3 slots per
//     entry (its load factor) of key and value each;
//   * no cache miss per lookup for ids made together (a task's results, a Map's inputs,
//     a loop of Submits): neighbours share cache lines and pages, where a hash spreads
//     them over the whole table.
// Everything else goes into an ordinary hash table, `overflow_`: ids of other origins
// (made by a worker rank, under mpi), ids that arrive for a page already freed, what is
// left of a page three quarters empty once the pages hold more than twice the slots their
// values need, and what is left of the oldest pages once the pages span more than
// `max_window_pages`. So a few long-lived objects among many freed ones cost hash-table
// entries, not a page each, and the page index stays bounded. A page is freed when its
// last value goes; the newest page stays, so that one object made and freed at a time
// costs no allocation. Each value moves to `overflow_` at most once.
//
// Not thread-safe: the store's mutex guards it. A pointer to a value stays valid until
// the next TryEmplace or Erase.

#ifndef UNIDIST_OBJECT_STORE_INTERNAL_ID_TABLE_H_
#define UNIDIST_OBJECT_STORE_INTERNAL_ID_TABLE_H_

#include <algorithm>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/shrink.h"
#include "unidist/common/data_id.h"

namespace unidist::object_store_internal {

template <typename V>
class IdTable {
 public:
  static constexpr size_t kSlotsPerPage = 256;
  // 2^16 pages span 16.7 million ids; their index is at most 512 KiB of pointers.
  static constexpr size_t kDefaultMaxWindowPages = size_t{1} << 16;

  explicit IdTable(size_t max_window_pages = kDefaultMaxWindowPages)
      : max_window_pages_(max_window_pages < 1 ? 1 : max_window_pages) {}
  IdTable(const IdTable&) = delete;
  IdTable& operator=(const IdTable&) = delete;
  ~IdTable() = default;

  // The value of `id`, or nullptr.
  V* Find(const DataID& id) {
    if (Page* page = PageOf(id); page != nullptr) {
      const size_t slot = SlotOf(id);
      if (page->used[slot]) return page->value(slot);
    }
    if (overflow_.empty()) return nullptr;
    auto it = overflow_.find(id);
    return it == overflow_.end() ? nullptr : &it->second;
  }
  const V* Find(const DataID& id) const { return const_cast<IdTable*>(this)->Find(id); }
  bool Contains(const DataID& id) const { return Find(id) != nullptr; }

  // The value of `id` and false if it is there; else a value-initialized one, and true.
  std::pair<V*, bool> TryEmplace(const DataID& id) {
    if (V* found = Find(id); found != nullptr) return {found, false};
    ++size_;
    if (Page* page = PageForInsert(id); page != nullptr) {
      const size_t slot = SlotOf(id);
      page->used[slot] = true;
      ++page->live;
      return {new (page->value(slot)) V(), true};
    }
    return {&overflow_[id], true};
  }

  // Removes `id`; false if it was not there.
  bool Erase(const DataID& id) {
    if (Page* page = PageOf(id); page != nullptr && page->used[SlotOf(id)]) {
      const size_t slot = SlotOf(id);
      page->value(slot)->~V();
      page->used[slot] = false;
      --page->live;
      --size_;
      const size_t index = PageNumber(id) - first_page_;
      if (index + 1 != pages_.size()) {  // the newest page still fills, and stays
        LetGoOfOlderPage(index);
        DropFreedFrontPages();
      }
      return true;
    }
    auto it = overflow_.find(id);
    if (it == overflow_.end()) return false;
    overflow_.erase(it);
    --size_;
    ShrinkIfSparse(overflow_);
    return true;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Calls visit(const DataID&, V&) for every entry, in no particular order. `visit` must
  // not insert or erase.
  template <typename Visit>
  void ForEach(Visit visit) {
    for (size_t index = 0; index < pages_.size(); ++index) {
      Page* page = pages_[index].get();
      if (page == nullptr) continue;
      for (size_t slot = 0; slot < kSlotsPerPage; ++slot) {
        if (page->used[slot]) visit(IdAt(index, slot), *page->value(slot));
      }
    }
    for (auto& [id, value] : overflow_) visit(id, value);
  }
  template <typename Visit>
  void ForEach(Visit visit) const {
    const_cast<IdTable*>(this)->ForEach(
        [&visit](const DataID& id, const V& value) { visit(id, value); });
  }

  // For tests: how many values are in pages, and how many pages are allocated.
  size_t paged_for_test() const { return size_ - overflow_.size(); }
  size_t listed_pages_for_test() const { return sparse_pages_.size(); }
  size_t pages_for_test() const {
    size_t pages = 0;
    for (const auto& page : pages_) pages += page != nullptr ? 1 : 0;
    return pages;  // == pages_allocated_, counted the long way
  }

 private:
  struct Page {
    Page() = default;
    Page(const Page&) = delete;
    Page& operator=(const Page&) = delete;
    ~Page() {
      for (size_t slot = 0; slot < kSlotsPerPage; ++slot) {
        if (used[slot]) value(slot)->~V();
      }
    }
    V* value(size_t slot) { return std::launder(reinterpret_cast<V*>(slots + slot * sizeof(V))); }

    std::bitset<kSlotsPerPage> used;
    size_t live = 0;
    bool listed = false;  // in sparse_pages_
    alignas(V) unsigned char slots[kSlotsPerPage * sizeof(V)];
  };

  static uint64_t PageNumber(const DataID& id) { return id.sequence() / kSlotsPerPage; }
  static size_t SlotOf(const DataID& id) { return id.sequence() % kSlotsPerPage; }
  DataID IdAt(size_t index, size_t slot) const {
    return DataID::FromParts(origin_, (first_page_ + index) * kSlotsPerPage + slot);
  }

  // The page `id` is in, or nullptr if it is not in one.
  Page* PageOf(const DataID& id) const {
    if (id.origin() != origin_ || origin_ == 0) return nullptr;
    const uint64_t number = PageNumber(id);
    if (number < first_page_ || number - first_page_ >= pages_.size()) return nullptr;
    return pages_[number - first_page_].get();
  }

  // The page a new `id` goes into, allocated if it is past the newest; nullptr for
  // overflow_.
  Page* PageForInsert(const DataID& id) {
    if (origin_ == 0 && !id.IsNil()) origin_ = id.origin();
    if (id.origin() != origin_ || origin_ == 0) return nullptr;
    const uint64_t number = PageNumber(id);
    if (pages_.empty()) first_page_ = number;
    if (number < first_page_) return nullptr;
    if (number - first_page_ < pages_.size()) return pages_[number - first_page_].get();
    // Past the newest page: the window moves on, the oldest pages' values to overflow_.
    while (!pages_.empty() && number - first_page_ >= max_window_pages_) {
      if (pages_.front() != nullptr) MoveToOverflow(0);
      pages_.pop_front();
      ++first_page_;
    }
    if (pages_.empty()) first_page_ = number;
    const size_t newest = pages_.size() - 1;  // (size_t)-1 if none
    pages_.resize(number - first_page_ + 1);
    pages_.back() = std::make_unique<Page>();
    ++pages_allocated_;
    Page* page = pages_.back().get();
    if (newest + 1 != 0 && pages_[newest] != nullptr) LetGoOfOlderPage(newest);
    DropFreedFrontPages();
    return page;
  }

  // Moves the values of the page at `index` to overflow_ and frees it.
  void MoveToOverflow(size_t index) {
    std::unique_ptr<Page> page = std::move(pages_[index]);
    --pages_allocated_;
    for (size_t slot = 0; slot < kSlotsPerPage; ++slot) {
      if (page->used[slot]) overflow_.emplace(IdAt(index, slot), std::move(*page->value(slot)));
    }
  }

  // For a page older than the newest, as it loses a value or stops being the newest: frees
  // it when empty; lists it once mostly empty; moves listed pages out while the pages
  // hold too many slots for their values (TooManyPages).
  void LetGoOfOlderPage(size_t index) {
    Page* page = pages_[index].get();
    if (page->live == 0) {
      pages_[index].reset();
      --pages_allocated_;
      return;
    }
    if (!page->listed && page->live * 4 <= kSlotsPerPage) {
      page->listed = true;
      sparse_pages_.push_back(first_page_ + index);
      if (sparse_pages_.size() > 2 * pages_allocated_ + 16) DropGonePagesFromList();
    }
    while (!sparse_pages_.empty() && TooManyPages()) {
      const uint64_t number = sparse_pages_.back();
      sparse_pages_.pop_back();
      if (IsOlderPage(number)) MoveToOverflow(number - first_page_);
    }
  }

  // True if page `number` is allocated and older than the newest. (A page number is never
  // allocated again once freed or out of the window: pages are only added past the newest.)
  bool IsOlderPage(uint64_t number) const {
    return number >= first_page_ && number - first_page_ + 1 < pages_.size() &&
           pages_[number - first_page_] != nullptr;
  }

  // Removes the pages freed since they were listed from sparse_pages_, which would
  // otherwise grow with every page a program drains in order.
  void DropGonePagesFromList() {
    sparse_pages_.erase(std::remove_if(sparse_pages_.begin(), sparse_pages_.end(),
                                       [this](uint64_t number) { return !IsOlderPage(number); }),
                        sparse_pages_.end());
  }

  // True when the pages hold more than twice the slots their values need (and more than
  // kSlackPages): then a mostly empty page is worth moving out of.
  bool TooManyPages() const {
    constexpr size_t kSlackPages = 16;
    const size_t paged = size_ - overflow_.size();
    return pages_allocated_ > kSlackPages &&
           pages_allocated_ * kSlotsPerPage > 2 * paged + kSlackPages * kSlotsPerPage;
  }

  void DropFreedFrontPages() {
    while (pages_.size() > 1 && pages_.front() == nullptr) {
      pages_.pop_front();
      ++first_page_;
    }
  }

  const size_t max_window_pages_;
  uint64_t origin_ = 0;                      // of the ids in pages; 0 until the first insert
  uint64_t first_page_ = 0;                  // the page number of pages_.front()
  std::deque<std::unique_ptr<Page>> pages_;  // nullptr for a page freed or never used
  absl::flat_hash_map<DataID, V> overflow_;
  // Page numbers of older pages that were at most a quarter full when last looked at.
  std::vector<uint64_t> sparse_pages_;
  size_t pages_allocated_ = 0;  // the non-null pages_
  size_t size_ = 0;
};

}  // namespace unidist::object_store_internal

#endif  // UNIDIST_OBJECT_STORE_INTERNAL_ID_TABLE_H_
