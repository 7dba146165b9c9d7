#ifndef ALTS_HTTP2_HPACK_NAME_HASH_H_
#define ALTS_HTTP2_HPACK_NAME_HASH_H_

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace alts::hpack {

// HashName returns a 32-bit hash of a header name, the key both the static
// table index and the encoder's dynamic-table lookup use. Usable at compile
// time (the static table's index is built then); compilers turn the byte
// loop into word loads at run time. Not for untrusted keys in open hash
// tables: callers compare the name on every hash match.
constexpr uint32_t HashName(absl::string_view name) {
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
  uint64_t h = name.size() * kMul;
  size_t i = 0;
  for (; i + 8 <= name.size(); i += 8) {
    uint64_t w = 0;
    for (size_t k = 0; k < 8; ++k) {
      w |= static_cast<uint64_t>(static_cast<uint8_t>(name[i + k])) << (8 * k);
    }
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  if (i < name.size()) {
    uint64_t w = 0;
    for (size_t k = 0; i + k < name.size(); ++k) {
      w |= static_cast<uint64_t>(static_cast<uint8_t>(name[i + k])) << (8 * k);
    }
    h = (h ^ w) * kMul;
  }
  h ^= h >> 32;
  h *= kMul;
  return static_cast<uint32_t>(h >> 32);
}

}  // namespace alts::hpack

#endif  // ALTS_HTTP2_HPACK_NAME_HASH_H_
