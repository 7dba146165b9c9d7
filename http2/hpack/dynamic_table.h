#ifndef ALTS_HTTP2_HPACK_DYNAMIC_TABLE_H_
#define ALTS_HTTP2_HPACK_DYNAMIC_TABLE_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "http2/hpack/header_field.h"

namespace alts::hpack {

// DynamicTable is one HPACK dynamic table (RFC 7541 2.3.2, 4): a FIFO of
// entries, newest first, bounded by max_size() in RFC 7541 4.1 accounting.
//
// Storage is one heap block sized to the entries held, allocated on the
// first insertion and freed when the table empties: an array of entry
// records followed by the entries' bytes, both kept oldest first. Eviction
// only advances the front of both; appending at the back compacts them to
// the block's start in place when the back is full, and moves to a bigger
// block only when the entries no longer fit. Entries never wrap, so every
// name and value is one contiguous string_view. Not thread-safe.
class DynamicTable {
 public:
  // DynamicTable starts empty with `max_size` as its size limit.
  explicit DynamicTable(uint32_t max_size = kDefaultHeaderTableSize)
      : max_size_(max_size < kMaxHeaderTableSize ? max_size : kMaxHeaderTableSize) {}
  ~DynamicTable();
  DynamicTable(DynamicTable&& other) noexcept;
  DynamicTable& operator=(DynamicTable&& other) noexcept;
  DynamicTable(const DynamicTable&) = delete;
  DynamicTable& operator=(const DynamicTable&) = delete;

  // max_size returns the current size limit.
  uint32_t max_size() const { return max_size_; }
  // size returns the sum of the entries' sizes (name + value + 32 each).
  size_t size() const { return size_; }
  // entry_count returns the number of entries.
  size_t entry_count() const { return static_cast<size_t>(end_entry_ - front_entry_); }
  // HeapBytes returns the bytes of the storage block (0 when empty).
  size_t HeapBytes() const {
    return mem_ == nullptr ? 0 : entry_capacity_ * sizeof(Entry) + byte_capacity_;
  }

  // SetMaxSize changes the limit, evicting the oldest entries until the
  // table fits (RFC 7541 4.3), and gives back storage the new limit or the
  // remaining entries no longer need.
  void SetMaxSize(uint32_t max_size);

  // Insert adds an entry as the newest after evicting what it must (RFC
  // 7541 4.4). An entry larger than max_size() empties the table and is not
  // added. `name` and `value` must not point into this table's storage (a
  // name taken from an entry must be copied first: that entry may be
  // evicted, and the storage compacted, by this very call).
  // `name_hash` is stored for Find (HashName(name), or 0 if Find is unused).
  void Insert(absl::string_view name, absl::string_view value, uint32_t name_hash);

  // ShrinkToFit moves the entries into storage of exactly their size (or
  // frees it if there are none), for a table about to sit idle.
  void ShrinkToFit();

  // Clear removes every entry and frees the storage.
  void Clear();

  // name returns entry `i`'s name (0 = newest; i < entry_count()).
  absl::string_view name(size_t i) const {
    const Entry& e = EntryAt(i);
    return absl::string_view(reinterpret_cast<const char*>(bytes() + e.offset), e.name_len);
  }
  // value returns entry `i`'s value (0 = newest; i < entry_count()).
  absl::string_view value(size_t i) const {
    const Entry& e = EntryAt(i);
    return absl::string_view(reinterpret_cast<const char*>(bytes() + e.offset + e.name_len),
                             e.value_len);
  }

  // Match is what Find reports: 1-based positions (1 = newest), 0 = none.
  struct Match {
    uint32_t exact = 0;
    uint32_t name = 0;
  };

  // Find returns the newest entry equal to (name, value) and the newest with
  // that name; `name_hash` is HashName(name). A linear scan of the entry
  // records comparing hashes first: tables hold tens of entries.
  Match Find(absl::string_view name, absl::string_view value, uint32_t name_hash) const;

 private:
  // Entry is one entry's record; its name and then its value are at
  // bytes() + offset.
  struct Entry {
    uint32_t offset;
    uint32_t hash;
    uint16_t name_len;
    uint16_t value_len;
  };

  const Entry* entries() const { return reinterpret_cast<const Entry*>(mem_); }
  Entry* entries() { return reinterpret_cast<Entry*>(mem_); }
  const uint8_t* bytes() const { return mem_ + entry_capacity_ * sizeof(Entry); }
  uint8_t* bytes() { return mem_ + entry_capacity_ * sizeof(Entry); }
  const Entry& EntryAt(size_t i) const { return entries()[end_entry_ - 1 - i]; }

  // EvictTo evicts the oldest entries until size_ <= target.
  void EvictTo(size_t target);
  // MakeRoom makes room at the back for one more entry of `length` bytes.
  void MakeRoom(size_t length);
  // Relayout moves the entries, compacted, into a new block with these
  // capacities (or compacts in place if they are the current ones).
  void Relayout(uint32_t entry_capacity, uint32_t byte_capacity);

  uint8_t* mem_ = nullptr;
  uint32_t byte_capacity_ = 0;
  uint32_t front_byte_ = 0;  // first byte of the oldest entry
  uint32_t end_byte_ = 0;    // one past the newest entry's bytes
  uint32_t size_ = 0;
  uint32_t max_size_;
  // Entry counts fit 16 bits: at most kMaxHeaderTableSize / kEntryOverhead.
  uint16_t entry_capacity_ = 0;
  uint16_t front_entry_ = 0;
  uint16_t end_entry_ = 0;
};

static_assert(kMaxHeaderTableSize / kEntryOverhead <= UINT16_MAX,
              "entry counts and lengths must fit the 16-bit fields");

}  // namespace alts::hpack

#endif  // ALTS_HTTP2_HPACK_DYNAMIC_TABLE_H_
