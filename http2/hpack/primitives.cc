#include "http2/hpack/primitives.h"

#include "http2/hpack/huffman.h"

namespace alts::hpack {

WireError DecodeIntegerSlow(const uint8_t*& p, const uint8_t* end,
                            uint32_t prefix_max, uint32_t* value) {
  ++p;
  uint64_t v = prefix_max;
  for (int i = 0; i < kMaxIntegerContinuationBytes; ++i) {
    if (p == end) return WireError::kTruncatedInteger;
    const uint8_t b = *p++;
    v += static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (v > kMaxInteger) return WireError::kIntegerOverflow;
      *value = static_cast<uint32_t>(v);
      return WireError::kNone;
    }
  }
  // A sixth continuation byte: over the limit whatever it holds, unless the
  // block ends first.
  return p == end ? WireError::kTruncatedInteger : WireError::kIntegerOverflow;
}

uint8_t* EncodeString(uint8_t* out, absl::string_view text, bool huffman) {
  if (huffman && !text.empty()) {
    const size_t coded = HuffmanEncodedSize(text);
    if (coded < text.size()) {
      out = EncodeInteger(out, 0x80, 7, coded);
      return out + HuffmanEncode(text, out);
    }
  }
  out = EncodeInteger(out, 0x00, 7, text.size());
  if (!text.empty()) std::memcpy(out, text.data(), text.size());
  return out + text.size();
}

}  // namespace alts::hpack
