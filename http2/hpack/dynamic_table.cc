#include "http2/hpack/dynamic_table.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace alts::hpack {
namespace {

// kMinEntryCapacity and kMinByteCapacity are the first block's sizes: room
// for a typical request's few entries without regrowing on each.
constexpr uint32_t kMinEntryCapacity = 4;
constexpr uint32_t kMinByteCapacity = 128;

}  // namespace

DynamicTable::~DynamicTable() { std::free(mem_); }

DynamicTable::DynamicTable(DynamicTable&& other) noexcept
    : mem_(std::exchange(other.mem_, nullptr)),
      byte_capacity_(std::exchange(other.byte_capacity_, 0)),
      front_byte_(std::exchange(other.front_byte_, 0)),
      end_byte_(std::exchange(other.end_byte_, 0)),
      size_(std::exchange(other.size_, 0)),
      max_size_(other.max_size_),
      entry_capacity_(std::exchange(other.entry_capacity_, 0)),
      front_entry_(std::exchange(other.front_entry_, 0)),
      end_entry_(std::exchange(other.end_entry_, 0)) {}

DynamicTable& DynamicTable::operator=(DynamicTable&& other) noexcept {
  if (this != &other) {
    std::free(mem_);
    mem_ = std::exchange(other.mem_, nullptr);
    byte_capacity_ = std::exchange(other.byte_capacity_, 0);
    front_byte_ = std::exchange(other.front_byte_, 0);
    end_byte_ = std::exchange(other.end_byte_, 0);
    size_ = std::exchange(other.size_, 0);
    max_size_ = other.max_size_;
    entry_capacity_ = std::exchange(other.entry_capacity_, 0);
    front_entry_ = std::exchange(other.front_entry_, 0);
    end_entry_ = std::exchange(other.end_entry_, 0);
  }
  return *this;
}

void DynamicTable::Clear() {
  std::free(mem_);
  mem_ = nullptr;
  byte_capacity_ = front_byte_ = end_byte_ = size_ = 0;
  entry_capacity_ = front_entry_ = end_entry_ = 0;
}

void DynamicTable::ShrinkToFit() {
  const uint32_t count = static_cast<uint32_t>(entry_count());
  const uint32_t content = end_byte_ - front_byte_;
  if (count == 0) {
    Clear();
  } else if (count != entry_capacity_ || content != byte_capacity_) {
    Relayout(count, content);
  }
}

void DynamicTable::EvictTo(size_t target) {
  while (size_ > target) {
    const Entry& e = entries()[front_entry_++];
    const uint32_t length = uint32_t{e.name_len} + e.value_len;
    front_byte_ += length;
    size_ -= length + static_cast<uint32_t>(kEntryOverhead);
  }
  if (front_entry_ == end_entry_) {
    front_entry_ = end_entry_ = 0;
    front_byte_ = end_byte_ = 0;
  }
}

void DynamicTable::SetMaxSize(uint32_t max_size) {
  max_size_ = std::min(max_size, kMaxHeaderTableSize);
  EvictTo(max_size_);
  if (entry_count() == 0) {
    Clear();
    return;
  }
  // Give back what neither the new limit nor the entries left can use; keep
  // twice the content so that a table refilling does not regrow at once.
  const uint32_t content = end_byte_ - front_byte_;
  const uint32_t count = static_cast<uint32_t>(entry_count());
  uint32_t entry_capacity = std::min<uint32_t>(entry_capacity_, max_size_ / kEntryOverhead);
  if (entry_capacity > 4 * count) entry_capacity = std::max(2 * count, kMinEntryCapacity);
  uint32_t byte_capacity = std::min(byte_capacity_, max_size_);
  if (byte_capacity > 4 * content) byte_capacity = std::max(2 * content, kMinByteCapacity);
  entry_capacity = std::max(entry_capacity, count);
  byte_capacity = std::clamp(byte_capacity, content, byte_capacity_);
  if (entry_capacity != entry_capacity_ || byte_capacity != byte_capacity_) {
    Relayout(entry_capacity, byte_capacity);
  }
}

void DynamicTable::Insert(absl::string_view name, absl::string_view value,
                          uint32_t name_hash) {
  const size_t length = name.size() + value.size();
  const size_t entry_size = length + kEntryOverhead;
  if (entry_size > max_size_) {
    // RFC 7541 4.4: not an error; the table ends up empty.
    Clear();
    return;
  }
  EvictTo(max_size_ - entry_size);
  MakeRoom(length);
  uint8_t* dst = bytes() + end_byte_;
  if (!name.empty()) std::memcpy(dst, name.data(), name.size());
  if (!value.empty()) std::memcpy(dst + name.size(), value.data(), value.size());
  entries()[end_entry_++] = Entry{end_byte_, name_hash, static_cast<uint16_t>(name.size()),
                                  static_cast<uint16_t>(value.size())};
  end_byte_ += static_cast<uint32_t>(length);
  size_ += static_cast<uint32_t>(entry_size);
}

void DynamicTable::MakeRoom(size_t length) {
  const bool fits = end_entry_ < entry_capacity_ && end_byte_ + length <= byte_capacity_;
  // Shrink once the entries use under a quarter of the block (a big entry
  // evicted many small ones, or went itself).
  const bool oversized =
      byte_capacity_ > 4 * (end_byte_ - front_byte_ + length) + kMinByteCapacity ||
      entry_capacity_ > 4 * (entry_count() + 1) + kMinEntryCapacity;
  if (fits && !oversized) return;
  // The limit bounds both capacities: at most max_size_ / 32 entries, whose
  // bytes total at most max_size_ - 32 per entry.
  const uint32_t count = static_cast<uint32_t>(entry_count());
  const uint32_t content = end_byte_ - front_byte_;
  const uint32_t needed = content + static_cast<uint32_t>(length);
  // Growth is by half of what is needed (not doubling): storage stays
  // within 1.5x of the entries, which matters more here than the rare copy.
  uint32_t entry_capacity = entry_capacity_;
  if (count + 1 > entry_capacity || oversized) {
    entry_capacity = std::min<uint32_t>(std::max<uint32_t>((count + 1) * 3 / 2, kMinEntryCapacity),
                                        max_size_ / kEntryOverhead);
  }
  uint32_t byte_capacity = byte_capacity_;
  // Grow when compacting would leave under a quarter free, so that a full
  // table is not compacted on every insertion; at the limit, compact.
  if ((needed > byte_capacity - byte_capacity / 4 && byte_capacity < max_size_) || oversized) {
    byte_capacity = std::min(std::max(needed * 3 / 2, kMinByteCapacity), max_size_);
  }
  byte_capacity = std::max(byte_capacity, needed);
  Relayout(entry_capacity, byte_capacity);
}

void DynamicTable::Relayout(uint32_t entry_capacity, uint32_t byte_capacity) {
  const uint32_t count = static_cast<uint32_t>(entry_count());
  const uint32_t content = end_byte_ - front_byte_;
  if (entry_capacity == entry_capacity_ && byte_capacity == byte_capacity_) {
    // Same block: slide both arrays down to its start.
    std::memmove(entries(), entries() + front_entry_, count * sizeof(Entry));
    std::memmove(bytes(), bytes() + front_byte_, content);
  } else {
    uint8_t* mem =
        static_cast<uint8_t*>(std::malloc(entry_capacity * sizeof(Entry) + byte_capacity));
    if (mem == nullptr) std::abort();  // as operator new would, without throwing
    if (mem_ != nullptr) {
      std::memcpy(mem, entries() + front_entry_, count * sizeof(Entry));
      std::memcpy(mem + entry_capacity * sizeof(Entry), bytes() + front_byte_, content);
    }
    std::free(mem_);
    mem_ = mem;
    entry_capacity_ = static_cast<uint16_t>(entry_capacity);
    byte_capacity_ = byte_capacity;
  }
  Entry* e = entries();
  for (uint32_t i = 0; i < count; ++i) e[i].offset -= front_byte_;
  front_entry_ = 0;
  end_entry_ = static_cast<uint16_t>(count);
  front_byte_ = 0;
  end_byte_ = content;
}

DynamicTable::Match DynamicTable::Find(absl::string_view name, absl::string_view value,
                                       uint32_t name_hash) const {
  Match m;
  if (mem_ == nullptr) return m;
  const Entry* first = entries() + front_entry_;
  const uint8_t* base = bytes();
  for (const Entry* e = entries() + end_entry_; e != first;) {
    --e;
    if (e->hash != name_hash || e->name_len != name.size()) continue;
    const uint8_t* p = base + e->offset;
    if (std::memcmp(p, name.data(), name.size()) != 0) continue;
    const uint32_t position = static_cast<uint32_t>(entries() + end_entry_ - e);
    if (m.name == 0) m.name = position;
    if (e->value_len == value.size() &&
        std::memcmp(p + e->name_len, value.data(), value.size()) == 0) {
      m.exact = position;
      return m;
    }
  }
  return m;
}

}  // namespace alts::hpack
