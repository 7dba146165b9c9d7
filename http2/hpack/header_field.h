#ifndef ALTS_HTTP2_HPACK_HEADER_FIELD_H_
#define ALTS_HTTP2_HPACK_HEADER_FIELD_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace alts::hpack {

// kDefaultHeaderTableSize is SETTINGS_HEADER_TABLE_SIZE's initial value
// (RFC 9113 6.5.2): the dynamic table size both sides assume until told
// otherwise.
inline constexpr uint32_t kDefaultHeaderTableSize = 4096;

// kMaxHeaderTableSize bounds the dynamic table size we ever advertise or use
// (a peer may announce up to 2^32-1; storage is sized to the entries held, but
// a table this large already serves any real workload, and a bigger one would
// let a peer make every idle connection keep that much).
inline constexpr uint32_t kMaxHeaderTableSize = 64 * 1024;

// kEntryOverhead is the 32 bytes RFC 7541 4.1 adds to name + value when
// sizing a table entry (and RFC 9113 10.5.1 when sizing a header list).
inline constexpr size_t kEntryOverhead = 32;

// Indexing says how the encoder may represent a field (RFC 7541 6.2).
enum class Indexing : uint8_t {
  // kAuto: indexed if the table has it, else a literal with incremental
  // indexing unless the field is unlikely to repeat (the encoder's policy:
  // large values, and names such as grpc-timeout or content-length whose
  // values change on every block).
  kAuto,
  // kIncremental: add to the dynamic table when not already there.
  kIncremental,
  // kWithout: literal without indexing (may still use an indexed name).
  kWithout,
  // kNever: literal never indexed, also by intermediaries (secrets such as
  // authorization or cookies; RFC 7541 7.1.3).
  kNever,
};

// HeaderField is one header field by reference: the strings must stay valid
// for the call they are passed to.
struct HeaderField {
  absl::string_view name;
  absl::string_view value;
  Indexing indexing = Indexing::kAuto;
};

// FieldSize returns a field's size as RFC 7541 4.1 and RFC 9113 10.5.1
// count it.
inline size_t FieldSize(absl::string_view name, absl::string_view value) {
  return name.size() + value.size() + kEntryOverhead;
}

}  // namespace alts::hpack

#endif  // ALTS_HTTP2_HPACK_HEADER_FIELD_H_
