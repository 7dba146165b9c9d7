#ifndef ALTS_TESTS_HTTP2_HPACK_TEST_UTIL_H_
#define ALTS_TESTS_HTTP2_HPACK_TEST_UTIL_H_

// Helpers the HPACK tests share: hex, header lists, decoding a block into a
// list, encoding a list into a block.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "http2/hpack/decoder.h"
#include "http2/hpack/encoder.h"

namespace alts::hpack::testing {

// HeaderList is a decoded list: order and duplicates matter.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Bytes turns hex (spaces allowed) into bytes.
inline std::vector<uint8_t> Bytes(absl::string_view hex) {
  const std::string clean = absl::StrReplaceAll(hex, {{" ", ""}, {"\n", ""}});
  const std::string raw = absl::HexStringToBytes(clean);
  return std::vector<uint8_t>(raw.begin(), raw.end());
}

// Hex turns bytes into lowercase hex without spaces.
inline std::string Hex(absl::Span<const uint8_t> bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// kNoLimit is a header list limit that never applies.
inline constexpr size_t kNoLimit = ~size_t{0};

// DecodeList decodes one block into *out (appending). Returns Decode's status.
inline absl::Status DecodeList(Decoder& decoder, absl::Span<const uint8_t> block, HeaderList* out,
                               size_t max_list = kNoLimit) {
  return decoder.Decode(block, max_list, [out](absl::string_view n, absl::string_view v) {
    out->emplace_back(std::string(n), std::string(v));
    return absl::OkStatus();
  });
}

// Fields views a list as HeaderFields with one indexing choice.
inline std::vector<HeaderField> Fields(const HeaderList& list,
                                       Indexing indexing = Indexing::kAuto) {
  std::vector<HeaderField> fields;
  for (const auto& [n, v] : list) fields.push_back(HeaderField{n, v, indexing});
  return fields;
}

// EncodeList encodes fields into a block, checking MaxEncodedSize holds.
inline std::vector<uint8_t> EncodeList(Encoder& encoder, absl::Span<const HeaderField> fields) {
  std::vector<uint8_t> out(encoder.MaxEncodedSize(fields));
  const size_t n = encoder.Encode(fields, absl::MakeSpan(out));
  out.resize(n);
  return out;
}

}  // namespace alts::hpack::testing

#endif  // ALTS_TESTS_HTTP2_HPACK_TEST_UTIL_H_
