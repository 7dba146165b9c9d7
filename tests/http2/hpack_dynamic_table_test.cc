// DynamicTable against a plain model (a deque with RFC 7541 4 eviction):
// random insertions and limit changes, including entries whose storage is
// compacted and regrown, lookups, and heap use.

#include <deque>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http2/hpack/dynamic_table.h"
#include "http2/hpack/name_hash.h"

namespace alts::hpack {
namespace {

struct Model {
  std::deque<std::pair<std::string, std::string>> entries;  // newest first
  size_t size = 0;
  size_t max_size = kDefaultHeaderTableSize;

  void Evict(size_t target) {
    while (size > target) {
      size -= FieldSize(entries.back().first, entries.back().second);
      entries.pop_back();
    }
  }
  void Insert(const std::string& n, const std::string& v) {
    const size_t s = FieldSize(n, v);
    if (s > max_size) {
      entries.clear();
      size = 0;
      return;
    }
    Evict(max_size - s);
    entries.emplace_front(n, v);
    size += s;
  }
};

void ExpectSame(const DynamicTable& t, const Model& m) {
  ASSERT_EQ(t.entry_count(), m.entries.size());
  ASSERT_EQ(t.size(), m.size);
  for (size_t i = 0; i < m.entries.size(); ++i) {
    ASSERT_EQ(t.name(i), m.entries[i].first) << i;
    ASSERT_EQ(t.value(i), m.entries[i].second) << i;
  }
  if (m.entries.empty()) {
    ASSERT_EQ(t.HeapBytes(), 0u);
  }
}

TEST(HpackDynamicTable, RandomOperationsMatchTheModel) {
  std::mt19937 rng(1);
  DynamicTable t;
  Model m;
  for (int step = 0; step < 20000; ++step) {
    const uint32_t op = rng() % 100;
    if (op < 3) {
      const uint32_t size = rng() % 3 == 0 ? rng() % 300 : rng() % 9000;
      t.SetMaxSize(size);
      m.max_size = std::min<size_t>(size, kMaxHeaderTableSize);
      m.Evict(m.max_size);
    } else {
      const std::string name = absl::StrCat("n", rng() % 30);
      const size_t len = rng() % 10 == 0 ? rng() % 3000 : rng() % 60;
      const std::string value(len, static_cast<char>('a' + step % 26));
      t.Insert(name, value, HashName(name));
      m.Insert(name, value);
    }
    ExpectSame(t, m);
    // Storage stays sized to the entries (records of 12 bytes): within 4x
    // of them plus the first block's minimum.
    size_t content = 0;
    for (const auto& [n, v] : m.entries) content += n.size() + v.size();
    ASSERT_GE(t.HeapBytes(), content + 12 * m.entries.size());
    ASSERT_LE(t.HeapBytes(), 4 * (content + 12 * (m.entries.size() + 1)) + 128 + 48) << step;
    if (step % 97 == 0) {
      t.ShrinkToFit();
      ASSERT_EQ(t.HeapBytes(), content + 12 * m.entries.size());
      ExpectSame(t, m);
    }
  }
}

TEST(HpackDynamicTable, FindReturnsNewestExactAndNewestName) {
  DynamicTable t;
  for (const auto& [n, v] : std::vector<std::pair<std::string, std::string>>{
           {"a", "1"}, {"b", "1"}, {"a", "2"}, {"a", "1"}}) {
    t.Insert(n, v, HashName(n));
  }
  // Newest first: 1 = a:1, 2 = a:2, 3 = b:1, 4 = a:1.
  DynamicTable::Match m = t.Find("a", "1", HashName("a"));
  EXPECT_EQ(m.exact, 1u);
  EXPECT_EQ(m.name, 1u);
  m = t.Find("a", "2", HashName("a"));
  EXPECT_EQ(m.exact, 2u);
  EXPECT_EQ(m.name, 1u);
  m = t.Find("b", "9", HashName("b"));
  EXPECT_EQ(m.exact, 0u);
  EXPECT_EQ(m.name, 3u);
  m = t.Find("c", "1", HashName("c"));
  EXPECT_EQ(m.exact, 0u);
  EXPECT_EQ(m.name, 0u);
}

TEST(HpackDynamicTable, EntryExactlyTheTableSizeFitsAlone) {
  DynamicTable t(100);
  t.Insert("a", "1", 0);
  t.Insert("n", std::string(100 - 32 - 1, 'v'), 0);
  EXPECT_EQ(t.entry_count(), 1u);
  EXPECT_EQ(t.size(), 100u);
  t.Insert("n", std::string(100 - 32, 'v'), 0);
  EXPECT_EQ(t.entry_count(), 0u);
  EXPECT_EQ(t.HeapBytes(), 0u);
}

TEST(HpackDynamicTable, LargestTableHoldsItsMostEntries) {
  DynamicTable t(kMaxHeaderTableSize);
  for (size_t i = 0; i < kMaxHeaderTableSize / kEntryOverhead; ++i) t.Insert("", "", 0);
  EXPECT_EQ(t.entry_count(), kMaxHeaderTableSize / kEntryOverhead);
  t.Insert("", "", 0);
  EXPECT_EQ(t.entry_count(), kMaxHeaderTableSize / kEntryOverhead);
  t.Insert("n", std::string(kMaxHeaderTableSize - 33, 'v'), 0);
  EXPECT_EQ(t.entry_count(), 1u);
  EXPECT_EQ(t.value(0).size(), kMaxHeaderTableSize - 33);
}

}  // namespace
}  // namespace alts::hpack
