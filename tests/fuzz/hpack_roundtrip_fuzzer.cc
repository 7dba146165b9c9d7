// Differential fuzzing of the HPACK encoder: header lists derived from the
// input are encoded by our encoder (indexing choices, Huffman on or off and
// table size changes also from the input) and must decode to exactly the
// same lists with our decoder and with nghttp2's inflater, block after
// block on one connection. Also checks MaxEncodedSize bounds every block
// and that encoder and decoder tables agree in size.
//
// Input: a sequence of operations, each starting with a byte op:
//   op < 0x10        table size change: the next two bytes (big endian,
//                    times 2) are the peer's SETTINGS_HEADER_TABLE_SIZE
//   op 0x10..0x13    end of block: encode and check the fields so far
//   op 0x14          toggle Huffman
//   otherwise        a field: name from kNames[op % 24] or, for op >= 0xf0,
//                    a literal name of the next byte's count of bytes; then
//                    a value length byte and that many bytes; indexing is
//                    (op >> 5) & 3
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "http2/hpack/decoder.h"
#include "http2/hpack/encoder.h"
#include "tests/http2/hpack_nghttp2_oracle.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

constexpr const char* kNames[24] = {
    ":method",      ":path",          ":authority",    ":status",      ":scheme",
    "content-type", "grpc-timeout",   "content-length", "authorization", "cookie",
    "te",           "user-agent",     "grpc-status",   "grpc-message", "set-cookie",
    "location",     "x-custom",       "x-custom-2",    "accept-encoding", "cache-control",
    "date",         "grpc-encoding",  "etag",          "via"};

using List = std::vector<std::pair<std::string, std::string>>;

struct Connection {
  alts::hpack::Encoder encoder{8192};
  alts::hpack::Decoder decoder;
  alts::hpack::testing::NghttpInflater nghttp2;

  void Flush(const List& list) {
    std::vector<alts::hpack::HeaderField> fields;
    for (const auto& [n, v] : list) fields.push_back({n, v});
    for (size_t i = 0; i < fields.size(); ++i) {
      fields[i].indexing = static_cast<alts::hpack::Indexing>(indexing[i]);
    }
    const size_t bound = encoder.MaxEncodedSize(fields);
    std::vector<uint8_t> out(bound + 16, 0xa5);
    const size_t n = encoder.Encode(fields, absl::MakeSpan(out));
    Check(n <= bound);
    for (size_t i = n; i < out.size(); ++i) Check(out[i] == 0xa5);
    out.resize(n);
    List ours, theirs;
    const absl::Status s = decoder.Decode(out, ~size_t{0}, [&](absl::string_view a, absl::string_view b) {
      ours.emplace_back(std::string(a), std::string(b));
      return absl::OkStatus();
    });
    Check(s.ok());
    Check(ours == list);
    Check(nghttp2.Inflate(out, &theirs).ok());
    Check(theirs == list);
    Check(decoder.table_size() == encoder.table_size());
    Check(encoder.table_size() <= encoder.max_table_size());
  }

  std::vector<uint8_t> indexing;
  bool huffman = true;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Connection c;
  List list;
  size_t pos = 0;
  auto byte = [&]() -> int { return pos < size ? data[pos++] : -1; };
  for (int op; (op = byte()) >= 0;) {
    if (op < 0x10) {
      const int hi = byte(), lo = byte();
      if (lo < 0) break;
      const uint32_t settings = static_cast<uint32_t>(hi << 8 | lo) * 2;
      // The peer's SETTINGS reaches our encoder; its ACK our decoder's and
      // nghttp2's side.
      c.encoder.SetPeerMaxTableSize(settings);
      c.decoder.SetMaxTableSize(settings);
      c.nghttp2.SetMaxTableSize(std::min(settings, alts::hpack::kMaxHeaderTableSize));
      continue;
    }
    if (op <= 0x13) {
      c.Flush(list);
      list.clear();
      c.indexing.clear();
      continue;
    }
    if (op == 0x14) {
      c.huffman = !c.huffman;
      c.encoder.SetUseHuffman(c.huffman);
      continue;
    }
    std::string name;
    if (op >= 0xf0) {
      const int n = byte();
      if (n < 0) break;
      for (int i = 0; i < n && pos < size; ++i) name.push_back(static_cast<char>(data[pos++]));
    } else {
      name = kNames[op % 24];
    }
    const int vlen = byte();
    if (vlen < 0) break;
    std::string value;
    for (int i = 0; i < vlen * (op & 0x10 ? 8 : 1) && pos < size; ++i) {
      value.push_back(static_cast<char>(data[pos++]));
    }
    list.emplace_back(std::move(name), std::move(value));
    c.indexing.push_back(static_cast<uint8_t>((op >> 5) & 3));
  }
  c.Flush(list);
  return 0;
}
