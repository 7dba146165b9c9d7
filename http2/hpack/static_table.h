#ifndef ALTS_HTTP2_HPACK_STATIC_TABLE_H_
#define ALTS_HTTP2_HPACK_STATIC_TABLE_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace alts::hpack {

// kStaticTableSize is the number of static table entries (RFC 7541
// Appendix A); index kStaticTableSize + 1 is the first dynamic entry.
inline constexpr size_t kStaticTableSize = 61;

// StaticEntry is one static table entry.
struct StaticEntry {
  absl::string_view name;
  absl::string_view value;
};

// kStaticTable holds RFC 7541 Appendix A; kStaticTable[i - 1] is index i.
extern const StaticEntry kStaticTable[kStaticTableSize];

// StaticMatch is what the static table knows about a field.
struct StaticMatch {
  // exact is the index of the entry with this name and value, or 0.
  uint8_t exact = 0;
  // name is the lowest index with this name, or 0.
  uint8_t name = 0;
};

// FindStatic looks up a field in the static table; `name_hash` is
// HashName(name). Allocation-free; one probe of a 128-slot index, then a
// comparison of the few entries sharing the name.
StaticMatch FindStatic(absl::string_view name, absl::string_view value,
                       uint32_t name_hash);

}  // namespace alts::hpack

#endif  // ALTS_HTTP2_HPACK_STATIC_TABLE_H_
