#include "http2/hpack/static_table.h"

#include "http2/hpack/name_hash.h"

namespace alts::hpack {

constexpr StaticEntry kStaticTable[kStaticTableSize] = {
    {":authority", ""},  // 1
    {":method", "GET"},  // 2
    {":method", "POST"},  // 3
    {":path", "/"},  // 4
    {":path", "/index.html"},  // 5
    {":scheme", "http"},  // 6
    {":scheme", "https"},  // 7
    {":status", "200"},  // 8
    {":status", "204"},  // 9
    {":status", "206"},  // 10
    {":status", "304"},  // 11
    {":status", "400"},  // 12
    {":status", "404"},  // 13
    {":status", "500"},  // 14
    {"accept-charset", ""},  // 15
    {"accept-encoding", "gzip, deflate"},  // 16
    {"accept-language", ""},  // 17
    {"accept-ranges", ""},  // 18
    {"accept", ""},  // 19
    {"access-control-allow-origin", ""},  // 20
    {"age", ""},  // 21
    {"allow", ""},  // 22
    {"authorization", ""},  // 23
    {"cache-control", ""},  // 24
    {"content-disposition", ""},  // 25
    {"content-encoding", ""},  // 26
    {"content-language", ""},  // 27
    {"content-length", ""},  // 28
    {"content-location", ""},  // 29
    {"content-range", ""},  // 30
    {"content-type", ""},  // 31
    {"cookie", ""},  // 32
    {"date", ""},  // 33
    {"etag", ""},  // 34
    {"expect", ""},  // 35
    {"expires", ""},  // 36
    {"from", ""},  // 37
    {"host", ""},  // 38
    {"if-match", ""},  // 39
    {"if-modified-since", ""},  // 40
    {"if-none-match", ""},  // 41
    {"if-range", ""},  // 42
    {"if-unmodified-since", ""},  // 43
    {"last-modified", ""},  // 44
    {"link", ""},  // 45
    {"location", ""},  // 46
    {"max-forwards", ""},  // 47
    {"proxy-authenticate", ""},  // 48
    {"proxy-authorization", ""},  // 49
    {"range", ""},  // 50
    {"referer", ""},  // 51
    {"refresh", ""},  // 52
    {"retry-after", ""},  // 53
    {"server", ""},  // 54
    {"set-cookie", ""},  // 55
    {"strict-transport-security", ""},  // 56
    {"transfer-encoding", ""},  // 57
    {"user-agent", ""},  // 58
    {"vary", ""},  // 59
    {"via", ""},  // 60
    {"www-authenticate", ""},  // 61
};

namespace {

// kIndexSlots is the size of the open-addressing index over the static
// table's 52 distinct names (a load under one half keeps probes short).
constexpr uint32_t kIndexSlots = 128;

// StaticIndex maps a name hash to the first static entry with that name and
// the number of consecutive entries sharing it.
struct StaticIndex {
  uint32_t hash[kIndexSlots];
  uint8_t first[kIndexSlots];  // static index, 0 = empty slot
  uint8_t run[kIndexSlots];
};

constexpr StaticIndex BuildIndex() {
  StaticIndex t{};
  for (uint32_t i = 1; i <= kStaticTableSize; ++i) {
    const absl::string_view name = kStaticTable[i - 1].name;
    if (i > 1 && kStaticTable[i - 2].name == name) continue;
    uint8_t run = 1;
    while (i + run <= kStaticTableSize && kStaticTable[i + run - 1].name == name) ++run;
    const uint32_t h = HashName(name);
    uint32_t slot = h & (kIndexSlots - 1);
    while (t.first[slot] != 0) slot = (slot + 1) & (kIndexSlots - 1);
    t.hash[slot] = h;
    t.first[slot] = static_cast<uint8_t>(i);
    t.run[slot] = run;
  }
  return t;
}

constexpr StaticIndex kIndex = BuildIndex();

}  // namespace

StaticMatch FindStatic(absl::string_view name, absl::string_view value,
                       uint32_t name_hash) {
  StaticMatch m;
  for (uint32_t slot = name_hash & (kIndexSlots - 1);; slot = (slot + 1) & (kIndexSlots - 1)) {
    const uint8_t first = kIndex.first[slot];
    if (first == 0) return m;
    if (kIndex.hash[slot] != name_hash || kStaticTable[first - 1].name != name) continue;
    m.name = first;
    for (uint8_t i = first; i < first + kIndex.run[slot]; ++i) {
      if (kStaticTable[i - 1].value == value) {
        m.exact = i;
        break;
      }
    }
    return m;
  }
}

}  // namespace alts::hpack
