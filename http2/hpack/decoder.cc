#include "http2/hpack/decoder.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "http2/hpack/huffman.h"
#include "http2/hpack/primitives.h"
#include "http2/hpack/static_table.h"

namespace alts::hpack {
namespace {

// kScratchRetainBytes bounds the per-thread scratch kept between blocks:
// typical Huffman strings need a few hundred bytes; a thread that once
// decoded a huge header gives the space back after that block.
constexpr size_t kScratchRetainBytes = 64 * 1024;

// Scratch is one thread's space for decoded Huffman strings (and names
// copied out of the table before an insertion may move them). Strings in it
// live until the next field is decoded on that thread.
struct Scratch {
  uint8_t* data = nullptr;
  size_t capacity = 0;

  ~Scratch() { std::free(data); }

  // Reserve returns space for `n` bytes; earlier contents are not kept.
  uint8_t* Reserve(size_t n) {
    if (n > capacity) {
      std::free(data);
      capacity = std::max<size_t>({n, 2 * capacity, 256});
      data = static_cast<uint8_t*>(std::malloc(capacity));
      if (data == nullptr) std::abort();  // as operator new would, without throwing
    }
    return data;
  }

  void Trim() {
    if (capacity > kScratchRetainBytes) {
      std::free(data);
      data = nullptr;
      capacity = 0;
    }
  }
};

thread_local Scratch t_scratch;

absl::string_view AsView(const uint8_t* p, size_t n) {
  return absl::string_view(reinterpret_cast<const char*>(p), n);
}

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("hpack: ", what));
}

absl::Status WireErrorStatus(WireError e, absl::string_view where) {
  switch (e) {
    case WireError::kTruncatedInteger:
      return Malformed(absl::StrCat("block ends inside the integer of ", where));
    case WireError::kIntegerOverflow:
      return Malformed(absl::StrCat("integer of ", where, " exceeds 2^32-1 or 5 continuation bytes"));
    case WireError::kTruncatedString:
      return Malformed(absl::StrCat("string length of ", where, " runs past the end of the block"));
    case WireError::kNone:
      break;
  }
  return absl::InternalError("hpack: no wire error");
}

absl::Status HuffmanErrorStatus(HuffmanError e, absl::string_view where) {
  return Malformed(absl::StrCat("invalid Huffman code in ", where,
                                e == HuffmanError::kEos
                                    ? ": EOS symbol"
                                    : ": padding longer than 7 bits or not all ones"));
}

// DecodedLength returns a literal's decoded length, validating Huffman code
// without writing it.
absl::Status DecodedLength(const StringRef& s, absl::string_view where, size_t* length) {
  if (!s.huffman) {
    *length = s.bytes.size();
    return absl::OkStatus();
  }
  HuffmanError e = HuffmanDecode(s.bytes, nullptr, length);
  if (e != HuffmanError::kNone) return HuffmanErrorStatus(e, where);
  return absl::OkStatus();
}

// Materialize returns a literal's text: a view into the block if raw, else
// decoded into `out` (room for HuffmanMaxDecodedSize(size)).
absl::Status Materialize(const StringRef& s, absl::string_view where, uint8_t* out,
                         absl::string_view* text) {
  if (!s.huffman) {
    *text = AsView(s.bytes.data(), s.bytes.size());
    return absl::OkStatus();
  }
  size_t n;
  HuffmanError e = HuffmanDecode(s.bytes, out, &n);
  if (e != HuffmanError::kNone) return HuffmanErrorStatus(e, where);
  *text = AsView(out, n);
  return absl::OkStatus();
}

size_t ScratchNeed(const StringRef& s) {
  return s.huffman ? HuffmanMaxDecodedSize(s.bytes.size()) : 0;
}

}  // namespace

Decoder::Decoder(uint32_t max_table_size)
    : table_(std::min({max_table_size, kMaxHeaderTableSize, kDefaultHeaderTableSize})),
      limit_(std::min(max_table_size, kMaxHeaderTableSize)) {}

Decoder::~Decoder() = default;
Decoder::Decoder(Decoder&&) noexcept = default;
Decoder& Decoder::operator=(Decoder&&) noexcept = default;

void Decoder::SetMaxTableSize(uint32_t max_table_size) {
  max_table_size = std::min(max_table_size, kMaxHeaderTableSize);
  if (max_table_size < table_.max_size()) {
    // The encoder must shrink to at most this before its next block; the
    // entries it will have evicted go now, so nothing is kept beyond it.
    table_.SetMaxSize(max_table_size);
    required_max_ = update_required_ ? std::min(required_max_, max_table_size) : max_table_size;
    update_required_ = true;
  }
  limit_ = max_table_size;
}

uint32_t Decoder::max_table_size() const { return limit_; }
size_t Decoder::table_size() const { return table_.size(); }
size_t Decoder::entry_count() const { return table_.entry_count(); }
size_t Decoder::HeapBytes() const { return table_.HeapBytes(); }

absl::Status Decoder::Decode(absl::Span<const uint8_t> block, size_t max_header_list_size,
                             FieldCallback on_field) {
  if (!status_.ok()) return status_;
  size_t over_limit_size = 0;
  absl::Status s = DecodeBlock(block, max_header_list_size, on_field, &over_limit_size);
  t_scratch.Trim();
  if (!s.ok()) {
    status_ = s;
    return s;
  }
  if (over_limit_size != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("hpack: header list of ", over_limit_size,
                                                     " bytes exceeds the limit ",
                                                     max_header_list_size));
  }
  return absl::OkStatus();
}

absl::Status Decoder::DecodeBlock(absl::Span<const uint8_t> block, size_t max_header_list_size,
                                  FieldCallback on_field, size_t* over_limit_size) {
  const uint8_t* p = block.data();
  const uint8_t* const end = p + block.size();

  // Dynamic table size updates: only before the first field (RFC 7541 4.2).
  bool updated = false;
  while (p < end && (*p & 0xe0) == 0x20) {
    uint32_t size;
    if (WireError e = DecodeInteger(p, end, 5, &size); e != WireError::kNone) {
      return WireErrorStatus(e, "a table size update");
    }
    if (size > limit_) {
      return Malformed(absl::StrCat("table size update to ", size, " above the limit ", limit_));
    }
    if (update_required_ && !updated && size > required_max_) {
      return Malformed(absl::StrCat("table size update to ", size, " above ", required_max_,
                                    ", the smallest limit set since the last block"));
    }
    table_.SetMaxSize(size);
    updated = true;
  }
  if (update_required_ && !updated) {
    return Malformed(absl::StrCat("the table size limit was lowered to ", required_max_,
                                  " but the block does not open with a table size update"));
  }
  update_required_ = false;

  Scratch& scratch = t_scratch;
  size_t list_size = 0;
  bool over = false;
  while (p < end) {
    const uint8_t b = *p;
    if (b & 0x80) {
      // Indexed field (RFC 7541 6.1).
      uint32_t index;
      if (WireError e = DecodeInteger(p, end, 7, &index); e != WireError::kNone) {
        return WireErrorStatus(e, "an indexed field");
      }
      absl::string_view name, value;
      if (index - 1 < kStaticTableSize) {
        name = kStaticTable[index - 1].name;
        value = kStaticTable[index - 1].value;
      } else if (index - (kStaticTableSize + 1) < table_.entry_count()) {
        name = table_.name(index - (kStaticTableSize + 1));
        value = table_.value(index - (kStaticTableSize + 1));
      } else if (index == 0) {
        return Malformed("indexed field with index 0");
      } else {
        return Malformed(absl::StrCat("index ", index, " out of range (", kStaticTableSize,
                                      " static + ", table_.entry_count(), " dynamic entries)"));
      }
      list_size += FieldSize(name, value);
      if (over) continue;
      if (list_size > max_header_list_size) {
        over = true;
        continue;
      }
      if (absl::Status s = on_field(name, value); !s.ok()) return s;
      continue;
    }

    // Literal field (RFC 7541 6.2): with incremental indexing (01), without
    // indexing (0000) or never indexed (0001). 001 is a size update, which
    // only the block's start may hold.
    bool incremental;
    int prefix_bits;
    if (b & 0x40) {
      incremental = true;
      prefix_bits = 6;
    } else if (b & 0x20) {
      return Malformed("table size update after the first field of the block");
    } else {
      incremental = false;
      prefix_bits = 4;
    }
    uint32_t index;
    if (WireError e = DecodeInteger(p, end, prefix_bits, &index); e != WireError::kNone) {
      return WireErrorStatus(e, "a literal field's name index");
    }
    absl::string_view name;
    StringRef name_ref;
    bool name_in_table = false;  // must be copied before an insertion
    if (index == 0) {
      if (p == end) return Malformed("block ends before a literal field's name");
      if (WireError e = DecodeStringRef(p, end, &name_ref); e != WireError::kNone) {
        return WireErrorStatus(e, "a literal field's name");
      }
    } else if (index - 1 < kStaticTableSize) {
      name = kStaticTable[index - 1].name;
    } else if (index - (kStaticTableSize + 1) < table_.entry_count()) {
      name = table_.name(index - (kStaticTableSize + 1));
      name_in_table = incremental;
    } else {
      return Malformed(absl::StrCat("name index ", index, " out of range (", kStaticTableSize,
                                    " static + ", table_.entry_count(), " dynamic entries)"));
    }
    if (p == end) return Malformed("block ends before a literal field's value");
    StringRef value_ref;
    if (WireError e = DecodeStringRef(p, end, &value_ref); e != WireError::kNone) {
      return WireErrorStatus(e, "a literal field's value");
    }

    if (over) {
      // Past the limit: nothing more is reported, and strings are
      // materialised only for an entry the table keeps.
      size_t name_length = name.size();
      size_t value_length;
      if (index == 0) {
        if (absl::Status s = DecodedLength(name_ref, "a name", &name_length); !s.ok()) return s;
      }
      if (absl::Status s = DecodedLength(value_ref, "a value", &value_length); !s.ok()) return s;
      list_size += name_length + value_length + kEntryOverhead;
      if (!incremental) continue;
      if (name_length + value_length + kEntryOverhead > table_.max_size()) {
        table_.Clear();  // what inserting it would do (RFC 7541 4.4)
        continue;
      }
    }

    const size_t name_need = index == 0 ? ScratchNeed(name_ref) : name_in_table ? name.size() : 0;
    uint8_t* space = scratch.Reserve(name_need + ScratchNeed(value_ref));
    if (index == 0) {
      if (absl::Status s = Materialize(name_ref, "a name", space, &name); !s.ok()) return s;
    } else if (name_in_table) {
      std::memcpy(space, name.data(), name.size());
      name = AsView(space, name.size());
    }
    absl::string_view value;
    if (absl::Status s = Materialize(value_ref, "a value", space + name_need, &value); !s.ok()) {
      return s;
    }
    if (!over) {
      list_size += FieldSize(name, value);
      if (list_size > max_header_list_size) {
        over = true;
      } else if (absl::Status s = on_field(name, value); !s.ok()) {
        return s;
      }
    }
    if (incremental) table_.Insert(name, value, 0);
  }
  if (over) *over_limit_size = list_size;
  return absl::OkStatus();
}

}  // namespace alts::hpack
