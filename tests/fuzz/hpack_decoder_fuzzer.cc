// Fuzzes the HPACK decoder over arbitrary bytes: several header blocks per
// input share one dynamic table, with table size limits and header list
// limits driven by the input. Checks the decoder's invariants (the table
// within its limit, nothing reported past the list limit, errors sticky,
// kResourceExhausted not) and, while both have accepted every block, that
// nghttp2's inflater decodes the same lists (of which a block over the list
// limit reports a prefix).
//
// Input: a sequence of chunks [control][length][block bytes...]:
//   control bit 7      SetMaxTableSize(kTableSizes[control & 7]) first
//   control bits 3..4  the list limit: kLimits[(control >> 3) & 3]
//   control bit 6      length counts 16-byte units (longer blocks)
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "http2/hpack/decoder.h"
#include "tests/http2/hpack_nghttp2_oracle.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

constexpr uint32_t kTableSizes[8] = {0, 1, 64, 256, 4096, 4096, 16384, 70000};
constexpr size_t kNoLimit = ~size_t{0};
constexpr size_t kLimits[4] = {kNoLimit, kNoLimit, 100, 4096};

using List = std::vector<std::pair<std::string, std::string>>;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  alts::hpack::Decoder decoder;
  alts::hpack::testing::NghttpInflater nghttp2;
  bool comparable = true;  // both accepted every block so far
  size_t pos = 0;
  while (pos + 2 <= size) {
    const uint8_t control = data[pos];
    size_t length = data[pos + 1];
    if (control & 0x40) length *= 16;
    pos += 2;
    length = std::min(length, size - pos);
    const absl::Span<const uint8_t> block(data + pos, length);
    pos += length;

    if (control & 0x80) {
      const uint32_t limit = kTableSizes[control & 7];
      decoder.SetMaxTableSize(limit);
      nghttp2.SetMaxTableSize(std::min(limit, alts::hpack::kMaxHeaderTableSize));
      Check(decoder.table_size() <= decoder.max_table_size());
    }
    const size_t max_list = kLimits[(control >> 3) & 3];
    List ours;
    size_t reported = 0;
    const absl::Status s =
        decoder.Decode(block, max_list, [&](absl::string_view n, absl::string_view v) {
          reported += alts::hpack::FieldSize(n, v);
          Check(reported <= max_list);
          ours.emplace_back(std::string(n), std::string(v));
          return absl::OkStatus();
        });
    Check(decoder.table_size() <= decoder.max_table_size());
    Check(decoder.max_table_size() <= alts::hpack::kMaxHeaderTableSize);
    Check(decoder.entry_count() * alts::hpack::kEntryOverhead <= decoder.table_size());
    Check((decoder.HeapBytes() == 0) == (decoder.entry_count() == 0));
    if (!s.ok() && s.code() != absl::StatusCode::kResourceExhausted) {
      Check(s.code() == absl::StatusCode::kInvalidArgument);
      // Sticky: the table is out of sync.
      Check(decoder.Decode(block, kNoLimit, [](absl::string_view, absl::string_view) {
                     return absl::OkStatus();
                   }) == s);
      decoder = alts::hpack::Decoder();
      comparable = false;
      continue;
    }
    if (!comparable) continue;
    List theirs;
    if (!nghttp2.Inflate(block, &theirs).ok()) {
      comparable = false;
      continue;
    }
    if (s.ok()) {
      Check(ours == theirs);
    } else {
      // Over the list limit: what was reported is a prefix of the list.
      Check(ours.size() <= theirs.size() && std::equal(ours.begin(), ours.end(), theirs.begin()));
    }
  }
  return 0;
}
