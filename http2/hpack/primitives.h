#ifndef ALTS_HTTP2_HPACK_PRIMITIVES_H_
#define ALTS_HTTP2_HPACK_PRIMITIVES_H_

// HPACK's two primitive types (RFC 7541 5): prefix integers and string
// literals (raw or Huffman), with the limits the decoder enforces.

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace alts::hpack {

// kMaxIntegerContinuationBytes bounds an integer's continuation bytes: every
// integer HPACK carries for us (index, length, table size) fits 32 bits,
// which takes at most 5 of them. Longer encodings, by value or by zero
// padding, are refused (RFC 7541 5.1 lets a decoder refuse integers over its
// limits), so a peer cannot make the decoder walk megabytes of 0x80 bytes
// for one integer.
inline constexpr int kMaxIntegerContinuationBytes = 5;

// kMaxInteger is the largest integer the decoder accepts (see above).
inline constexpr uint64_t kMaxInteger = UINT32_MAX;

// WireError says what is wrong with a primitive.
enum class WireError : uint8_t {
  kNone,
  // kTruncatedInteger: the block ends inside an integer.
  kTruncatedInteger,
  // kIntegerOverflow: the integer exceeds kMaxInteger or takes more than
  // kMaxIntegerContinuationBytes continuation bytes.
  kIntegerOverflow,
  // kTruncatedString: a string's length runs past the end of the block.
  kTruncatedString,
};

// IntegerSize returns the bytes EncodeInteger writes for `value` with a
// `prefix_bits`-bit prefix (1..8).
constexpr size_t IntegerSize(uint64_t value, int prefix_bits) {
  const uint64_t max_prefix = (uint64_t{1} << prefix_bits) - 1;
  if (value < max_prefix) return 1;
  value -= max_prefix;
  size_t n = 2;
  while (value >= 128) {
    value >>= 7;
    ++n;
  }
  return n;
}

// EncodeInteger writes `value` as an integer with a `prefix_bits`-bit
// prefix (RFC 7541 5.1); `flags` supplies the first byte's bits above the
// prefix. `out` must hold IntegerSize(value, prefix_bits) bytes. Returns
// the end of what was written.
inline uint8_t* EncodeInteger(uint8_t* out, uint8_t flags, int prefix_bits,
                              uint64_t value) {
  const uint64_t max_prefix = (uint64_t{1} << prefix_bits) - 1;
  if (value < max_prefix) {
    *out++ = static_cast<uint8_t>(flags | value);
    return out;
  }
  *out++ = static_cast<uint8_t>(flags | max_prefix);
  value -= max_prefix;
  while (value >= 128) {
    *out++ = static_cast<uint8_t>(0x80 | (value & 0x7f));
    value >>= 7;
  }
  *out++ = static_cast<uint8_t>(value);
  return out;
}

// DecodeIntegerSlow is DecodeInteger's path for values that overflow the
// prefix.
WireError DecodeIntegerSlow(const uint8_t*& p, const uint8_t* end,
                            uint32_t prefix_max, uint32_t* value);

// DecodeInteger reads the integer whose prefix is the low `prefix_bits`
// bits of *p (p < end) and advances p past it. Returns kNone, or
// kTruncatedInteger / kIntegerOverflow (p is then unspecified).
inline WireError DecodeInteger(const uint8_t*& p, const uint8_t* end,
                               int prefix_bits, uint32_t* value) {
  const uint32_t prefix_max = (1u << prefix_bits) - 1;
  const uint32_t v = *p & prefix_max;
  if (v < prefix_max) [[likely]] {
    ++p;
    *value = v;
    return WireError::kNone;
  }
  return DecodeIntegerSlow(p, end, prefix_max, value);
}

// StringRef is a string literal as it appears in a block.
struct StringRef {
  // bytes are the literal's octets (Huffman code if `huffman`).
  absl::Span<const uint8_t> bytes;
  bool huffman = false;
};

// DecodeStringRef reads a string literal's header at p (p < end) and
// advances p past the literal. Returns kNone, or what is wrong.
inline WireError DecodeStringRef(const uint8_t*& p, const uint8_t* end,
                                 StringRef* out) {
  out->huffman = (*p & 0x80) != 0;
  uint32_t length;
  if (WireError e = DecodeInteger(p, end, 7, &length); e != WireError::kNone) return e;
  if (length > static_cast<size_t>(end - p)) return WireError::kTruncatedString;
  out->bytes = absl::Span<const uint8_t>(p, length);
  p += length;
  return WireError::kNone;
}

// MaxStringSize returns the most bytes EncodeString writes for `text`.
inline size_t MaxStringSize(absl::string_view text) {
  return IntegerSize(text.size(), 7) + text.size();
}

// EncodeString writes `text` as a string literal (RFC 7541 5.2): Huffman
// coded when `huffman` is set and that is strictly shorter, raw otherwise.
// `out` must hold MaxStringSize(text) bytes. Returns the end.
uint8_t* EncodeString(uint8_t* out, absl::string_view text, bool huffman);

}  // namespace alts::hpack

#endif  // ALTS_HTTP2_HPACK_PRIMITIVES_H_
