#ifndef ALTS_TOOLS_H2_PEER_PATTERN_H_
#define ALTS_TOOLS_H2_PEER_PATTERN_H_

// The verifiable body pattern h2_peer sends and checks: byte i of a body
// with seed s is
//
//   (7*i + 13*(i >> 8) + 29*(i >> 16) + 101*s) mod 256
//
// It has no period shorter than 16 MiB, so bytes dropped, repeated or
// moved show up as a mismatch, and so does a body meant for another stream
// (another seed). GET /bytes/N answers seed 0; the client's echo bodies use
// a seed per request. The tests and the Python peers compute the same
// formula.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/types/span.h"

namespace alts::h2peer {

// PatternByte returns byte `offset` of the body with `seed`.
inline uint8_t PatternByte(uint32_t seed, uint64_t offset) {
  return static_cast<uint8_t>(7 * offset + 13 * (offset >> 8) + 29 * (offset >> 16) +
                              101 * uint64_t{seed});
}

// FillPattern writes the body's bytes [offset, offset + out.size()) to `out`.
inline void FillPattern(uint32_t seed, uint64_t offset, absl::Span<uint8_t> out) {
  for (size_t i = 0; i < out.size(); ++i) out[i] = PatternByte(seed, offset + i);
}

// FindMismatch returns the index in `bytes` of the first byte that differs
// from the body's bytes at [offset, offset + bytes.size()), or nullopt if
// none does.
inline std::optional<size_t> FindMismatch(uint32_t seed, uint64_t offset,
                                          absl::Span<const uint8_t> bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] != PatternByte(seed, offset + i)) return i;
  }
  return std::nullopt;
}

}  // namespace alts::h2peer

#endif  // ALTS_TOOLS_H2_PEER_PATTERN_H_
