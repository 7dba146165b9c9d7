#ifndef ALTS_HTTP2_HPACK_HUFFMAN_H_
#define ALTS_HTTP2_HPACK_HUFFMAN_H_

// The static Huffman code of RFC 7541 Appendix B: sizing, encoding and a
// table-driven decoder that resolves one symbol per lookup for every code of
// up to kHuffmanPeekBits bits (all letters, digits and common punctuation).

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace alts::hpack {

// HuffmanEncodedSize returns the bytes HuffmanEncode writes for `text`
// (codes plus the EOS-prefix padding to a whole byte).
size_t HuffmanEncodedSize(absl::string_view text);

// HuffmanEncode writes `text` Huffman-coded to `out`, which must hold at
// least HuffmanEncodedSize(text) bytes, and returns the bytes written.
size_t HuffmanEncode(absl::string_view text, uint8_t* out);

// HuffmanMaxDecodedSize returns an upper bound on the decoded length of
// `encoded_size` bytes of Huffman code (the shortest code is 5 bits).
inline constexpr size_t HuffmanMaxDecodedSize(size_t encoded_size) {
  return encoded_size * 8 / 5;
}

// HuffmanError says why a Huffman string is invalid (RFC 7541 5.2).
enum class HuffmanError : uint8_t {
  kNone,
  // kEos: the string contains the EOS symbol.
  kEos,
  // kBadPadding: the string ends in more than 7 bits of padding, or in
  // padding that is not the most significant bits of EOS (all ones).
  kBadPadding,
};

// HuffmanDecode decodes `in` into `out`, which must hold at least
// HuffmanMaxDecodedSize(in.size()) bytes, and stores the decoded length in
// *decoded_size. With `out` null it only validates and counts. Returns
// kNone, or the reason `in` is invalid (then *decoded_size is unspecified).
HuffmanError HuffmanDecode(absl::Span<const uint8_t> in, uint8_t* out,
                           size_t* decoded_size);

}  // namespace alts::hpack

#endif  // ALTS_HTTP2_HPACK_HUFFMAN_H_
