// The decoder against RFC 7541 sections 2-6, one test per requirement
// (named by section), every error path with its code, blocks split and
// combined, the header list limit (HPACK bombs), table size updates,
// eviction and heap use.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "http2/hpack/decoder.h"
#include "http2/hpack/encoder.h"
#include "http2/hpack/huffman.h"
#include "http2/hpack/primitives.h"
#include "tests/http2/hpack_test_util.h"

namespace alts::hpack {
namespace {

using ::testing::HasSubstr;
using testing::Bytes;
using testing::DecodeList;
using testing::HeaderList;
using testing::kNoLimit;

// Literal builds a literal field's bytes: `first` is the representation's
// first byte pattern (0x40 incremental, 0x00 without, 0x10 never) with a
// literal name, raw strings.
std::vector<uint8_t> Literal(uint8_t first, absl::string_view name, absl::string_view value) {
  std::vector<uint8_t> out(16 + name.size() + value.size());
  uint8_t* p = out.data();
  *p++ = first;
  p = EncodeString(p, name, false);
  p = EncodeString(p, value, false);
  out.resize(p - out.data());
  return out;
}

std::vector<uint8_t> Concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<uint8_t> SizeUpdate(uint32_t size) {
  uint8_t buf[8];
  return std::vector<uint8_t>(buf, EncodeInteger(buf, 0x20, 5, size));
}

absl::Status DecodeBytes(Decoder& d, absl::Span<const uint8_t> block, size_t max_list = kNoLimit) {
  HeaderList ignored;
  return DecodeList(d, block, &ignored, max_list);
}

absl::Status DecodeHex(Decoder& d, absl::string_view hex, HeaderList* out = nullptr) {
  HeaderList ignored;
  return DecodeList(d, Bytes(hex), out ? out : &ignored);
}

void ExpectMalformed(const absl::Status& s, absl::string_view what) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(what));
}

// --- Section 2: header field representations, indexing tables.

TEST(HpackDecoder, Rfc7541_2_3_2_DuplicateEntriesAreAllowed) {
  Decoder d;
  const std::vector<uint8_t> lit = Literal(0x40, "x-dup", "v");
  HeaderList got;
  ASSERT_TRUE(DecodeList(d, Concat({lit, lit}), &got).ok());
  EXPECT_EQ(d.entry_count(), 2u);
  // 62 and 63 are both x-dup: v.
  ASSERT_TRUE(DecodeHex(d, "bebf", &got).ok());
  EXPECT_EQ(got, (HeaderList{{"x-dup", "v"}, {"x-dup", "v"}, {"x-dup", "v"}, {"x-dup", "v"}}));
}

TEST(HpackDecoder, Rfc7541_2_3_3_StaticIndicesComeFirstThenDynamicNewestFirst) {
  Decoder d;
  HeaderList got;
  ASSERT_TRUE(DecodeList(d, Concat({Literal(0x40, "a", "1"), Literal(0x40, "b", "2")}), &got).ok());
  got.clear();
  // 61 = www-authenticate, 62 = newest (b), 63 = a.
  ASSERT_TRUE(DecodeHex(d, "bdbebf", &got).ok());
  EXPECT_EQ(got, (HeaderList{{"www-authenticate", ""}, {"b", "2"}, {"a", "1"}}));
}

TEST(HpackDecoder, Rfc7541_2_3_3_IndexBeyondBothTablesIsError) {
  Decoder d;
  ExpectMalformed(DecodeHex(d, "be"), "index 62 out of range (61 static + 0 dynamic");
  Decoder d2;
  ASSERT_TRUE(DecodeBytes(d2, Literal(0x40, "a", "1")).ok());
  ExpectMalformed(DecodeHex(d2, "bf"), "index 63 out of range");
  // A literal's name index too.
  Decoder d3;
  ExpectMalformed(DecodeHex(d3, "7f000161"), "name index 63 out of range");
  Decoder d4;
  ExpectMalformed(DecodeHex(d4, "0f2f0161"), "name index 62 out of range");
}

// --- Section 3: header block decoding.

TEST(HpackDecoder, Rfc7541_3_2_FieldsAreEmittedInOrderWithDuplicates) {
  Decoder d;
  HeaderList got;
  const std::vector<uint8_t> block =
      Concat({Bytes("82"), Literal(0x00, "x", "1"), Bytes("82"), Literal(0x10, "x", "2"),
              Literal(0x00, "x", "1")});
  ASSERT_TRUE(DecodeList(d, block, &got).ok());
  EXPECT_EQ(got, (HeaderList{{":method", "GET"}, {"x", "1"}, {":method", "GET"}, {"x", "2"},
                             {"x", "1"}}));
}

TEST(HpackDecoder, Rfc7541_3_2_EmptyBlockDecodesToEmptyList) {
  Decoder d;
  HeaderList got;
  EXPECT_TRUE(DecodeList(d, {}, &got).ok());
  EXPECT_TRUE(got.empty());
}

// --- Section 4: dynamic table management.

TEST(HpackDecoder, Rfc7541_4_1_EntrySizeIsNamePlusValuePlus32) {
  Decoder d;
  ASSERT_TRUE(DecodeBytes(d, Literal(0x40, "abc", "defgh")).ok());
  EXPECT_EQ(d.table_size(), 3u + 5u + 32u);
}

TEST(HpackDecoder, Rfc7541_4_2_SizeUpdateAboveLimitIsError) {
  Decoder d(4096);
  ExpectMalformed(DecodeBytes(d, SizeUpdate(4097)), "above the limit 4096");
}

TEST(HpackDecoder, Rfc7541_4_2_SizeUpdateAfterFirstFieldIsError) {
  Decoder d;
  ExpectMalformed(DecodeBytes(d, Concat({Bytes("82"), SizeUpdate(100)})),
                  "after the first field");
}

TEST(HpackDecoder, Rfc7541_4_2_UpdateRequiredAfterLoweredLimitIsMissingIsError) {
  Decoder d;
  ASSERT_TRUE(DecodeBytes(d, Literal(0x40, "a", "1")).ok());
  d.SetMaxTableSize(1024);
  ExpectMalformed(DecodeHex(d, "82"), "does not open with a table size update");
}

TEST(HpackDecoder, Rfc7541_4_2_UpdateRequiredEvenForAnEmptyBlock) {
  Decoder d;
  d.SetMaxTableSize(0);
  ExpectMalformed(DecodeBytes(d, {}), "does not open with a table size update");
}

TEST(HpackDecoder, Rfc7541_4_2_LoweredLimitAcceptsUpdateThenFields) {
  Decoder d;
  d.SetMaxTableSize(1024);
  HeaderList got;
  ASSERT_TRUE(DecodeList(d, Concat({SizeUpdate(512), Bytes("82")}), &got).ok());
  EXPECT_EQ(got, (HeaderList{{":method", "GET"}}));
  // Only the first block after the change needs it.
  ASSERT_TRUE(DecodeHex(d, "82").ok());
}

TEST(HpackDecoder, Rfc7541_4_2_RaisedLimitNeedsNoUpdate) {
  Decoder d;
  d.SetMaxTableSize(8192);
  EXPECT_TRUE(DecodeHex(d, "82").ok());
  EXPECT_EQ(d.max_table_size(), 8192u);
  // The encoder may now grow to it.
  EXPECT_TRUE(DecodeBytes(d, SizeUpdate(8192)).ok());
}

TEST(HpackDecoder, Rfc7541_4_2_TwoUpdatesSmallestThenFinal) {
  Decoder d;
  ASSERT_TRUE(DecodeBytes(d, Concat({Literal(0x40, "a", "1"), Literal(0x40, "b", "2")})).ok());
  d.SetMaxTableSize(0);
  d.SetMaxTableSize(4096);
  // Lowered to 0 then raised: the first update must be <= 0.
  ExpectMalformed(DecodeBytes(d, SizeUpdate(4096)),
                  "above 0, the smallest limit set since the last block");
  Decoder d2;
  ASSERT_TRUE(DecodeBytes(d2, Literal(0x40, "a", "1")).ok());
  d2.SetMaxTableSize(0);
  d2.SetMaxTableSize(4096);
  HeaderList got;
  ASSERT_TRUE(DecodeList(d2, Concat({SizeUpdate(0), SizeUpdate(4096), Literal(0x40, "c", "3"),
                                     Bytes("be")}),
                         &got).ok());
  EXPECT_EQ(got, (HeaderList{{"c", "3"}, {"c", "3"}}));
  EXPECT_EQ(d2.entry_count(), 1u);
}

TEST(HpackDecoder, Rfc7541_4_2_SeveralUpdatesAtStartAreAllApplied) {
  Decoder d;
  ASSERT_TRUE(DecodeBytes(d, Literal(0x40, "a", "1")).ok());
  // 0 evicts everything; growing back does not bring it back.
  ASSERT_TRUE(DecodeBytes(d, Concat({SizeUpdate(0), SizeUpdate(4096), SizeUpdate(2048)})).ok());
  EXPECT_EQ(d.entry_count(), 0u);
  ExpectMalformed(DecodeHex(d, "be"), "out of range");
}

TEST(HpackDecoder, Rfc7541_4_3_LoweringTheLimitEvictsAtOnce) {
  Decoder d;
  ASSERT_TRUE(DecodeBytes(d, Concat({Literal(0x40, "a", "1"), Literal(0x40, "b", "2")})).ok());
  EXPECT_EQ(d.table_size(), 68u);
  d.SetMaxTableSize(40);  // room for one 34-byte entry: the oldest (a) goes
  EXPECT_EQ(d.entry_count(), 1u);
  EXPECT_EQ(d.table_size(), 34u);
  HeaderList got;
  ASSERT_TRUE(DecodeList(d, Concat({SizeUpdate(40), Bytes("be")}), &got).ok());
  EXPECT_EQ(got, (HeaderList{{"b", "2"}}));
}

TEST(HpackDecoder, Rfc7541_4_3_SizeUpdateEvictsOldestFirst) {
  Decoder d;
  ASSERT_TRUE(DecodeBytes(d, Concat({Literal(0x40, "a", "1"), Literal(0x40, "b", "2"),
                                    Literal(0x40, "c", "3")})).ok());
  HeaderList got;
  ASSERT_TRUE(DecodeList(d, Concat({SizeUpdate(68), Bytes("bebf")}), &got).ok());
  EXPECT_EQ(got, (HeaderList{{"c", "3"}, {"b", "2"}}));
  EXPECT_EQ(d.entry_count(), 2u);
}

TEST(HpackDecoder, Rfc7541_4_4_InsertionEvictsOldestUntilItFits) {
  Decoder d(100);  // 100 bytes: two 34-byte entries fit, not three
  HeaderList got;
  ASSERT_TRUE(DecodeList(d, Concat({Literal(0x40, "a", "1"), Literal(0x40, "b", "2"),
                                    Literal(0x40, "c", "3"), Bytes("bebf")}),
                         &got).ok());
  EXPECT_EQ(d.entry_count(), 2u);
  EXPECT_EQ(got.back(), (std::pair<std::string, std::string>{"b", "2"}));
  ExpectMalformed(DecodeHex(d, "c0"), "index 64 out of range");
}

TEST(HpackDecoder, Rfc7541_4_4_EntryLargerThanTableEmptiesItWithoutError) {
  Decoder d(100);
  ASSERT_TRUE(DecodeBytes(d, Literal(0x40, "a", "1")).ok());
  EXPECT_GT(d.HeapBytes(), 0u);
  HeaderList got;
  const std::string big(80, 'x');
  ASSERT_TRUE(DecodeList(d, Literal(0x40, "big", big), &got).ok());
  EXPECT_EQ(got, (HeaderList{{"big", big}}));  // still reported
  EXPECT_EQ(d.entry_count(), 0u);
  EXPECT_EQ(d.table_size(), 0u);
  EXPECT_EQ(d.HeapBytes(), 0u);
}

TEST(HpackDecoder, Rfc7541_4_4_NewEntryMayReferenceTheNameItEvicts) {
  Decoder d(100);
  const std::string name(30, 'n');
  ASSERT_TRUE(DecodeBytes(d, Literal(0x40, name, std::string(30, 'a'))).ok());
  ASSERT_EQ(d.entry_count(), 1u);
  // Literal with incremental indexing, name = index 62, a new 30-byte value:
  // adding it evicts entry 62 itself.
  std::vector<uint8_t> block = {0x7e};
  uint8_t buf[64];
  block.insert(block.end(), buf, EncodeString(buf, std::string(30, 'b'), false));
  HeaderList got;
  ASSERT_TRUE(DecodeList(d, block, &got).ok());
  EXPECT_EQ(got, (HeaderList{{name, std::string(30, 'b')}}));
  got.clear();
  ASSERT_TRUE(DecodeHex(d, "be", &got).ok());
  EXPECT_EQ(got, (HeaderList{{name, std::string(30, 'b')}}));
  EXPECT_EQ(d.entry_count(), 1u);
}

TEST(HpackDecoder, Rfc7541_4_4_ReferencedNameSurvivesCompactionAndGrowth) {
  // Churn a table so that its storage is compacted and regrown while new
  // entries take their names from entries being evicted.
  Decoder d(512);
  Encoder e(512);
  e.SetUseHuffman(false);
  for (int i = 0; i < 500; ++i) {
    const std::string name = absl::StrCat("x-name-", i % 7);
    const std::string value(static_cast<size_t>(10 + (i * 37) % 90), static_cast<char>('a' + i % 26));
    const HeaderField f{name, value, Indexing::kIncremental};
    const std::vector<uint8_t> block = testing::EncodeList(e, {&f, 1});
    HeaderList got;
    ASSERT_TRUE(DecodeList(d, block, &got).ok()) << i;
    ASSERT_EQ(got, (HeaderList{{name, value}})) << i;
    ASSERT_EQ(d.table_size(), e.table_size());
  }
}

// --- Section 5: primitive types.

TEST(HpackDecoder, Rfc7541_5_1_IntegerOverflowIsError) {
  Decoder d;
  // Indexed field, index 127 + 2^35-ish.
  ExpectMalformed(DecodeHex(d, "ffffffffff0f"), "exceeds 2^32-1");
  Decoder d2;
  // 2^32 exactly: 127 + (2^32 - 127).
  uint8_t buf[16];
  std::vector<uint8_t> b(buf, EncodeInteger(buf, 0x80, 7, uint64_t{1} << 32));
  ExpectMalformed(DecodeBytes(d2, b), "exceeds 2^32-1");
}

TEST(HpackDecoder, Rfc7541_5_1_IntegerWithTooManyContinuationBytesIsError) {
  // Zero padding: value 127 written with six continuation bytes.
  Decoder d;
  ExpectMalformed(DecodeHex(d, "ff808080808000"), "5 continuation bytes");
  // Five are accepted (value small, then out of range as an index).
  Decoder d2;
  ExpectMalformed(DecodeHex(d2, "ff8080808000"), "index 127 out of range");
}

TEST(HpackDecoder, Rfc7541_5_1_TruncatedIntegerIsError) {
  for (const char* hex : {"ff", "ff80", "7f", "0f", "1f", "3f", "40ff", "400161ff"}) {
    SCOPED_TRACE(hex);
    Decoder d;
    ExpectMalformed(DecodeHex(d, hex), "block ends inside the integer");
  }
}

TEST(HpackDecoder, Rfc7541_5_2_TruncatedStringIsError) {
  for (const char* hex : {"4005616263", "4001", "400161036131", "040561626364"}) {
    SCOPED_TRACE(hex);
    Decoder d;
    ExpectMalformed(DecodeHex(d, hex), "runs past the end of the block");
  }
}

TEST(HpackDecoder, Rfc7541_5_2_BlockEndingBeforeNameOrValueIsError) {
  Decoder d;
  ExpectMalformed(DecodeHex(d, "40"), "before a literal field's name");
  Decoder d2;
  ExpectMalformed(DecodeHex(d2, "400161"), "before a literal field's value");
  Decoder d3;
  ExpectMalformed(DecodeHex(d3, "04"), "before a literal field's value");
}

TEST(HpackDecoder, Rfc7541_5_2_HuffmanEosIsError) {
  Decoder d;
  // Value: Huffman, 4 bytes of ones (EOS + 2 padding bits).
  ExpectMalformed(DecodeHex(d, "0484ffffffff"), "EOS symbol");
  Decoder d2;
  ExpectMalformed(DecodeHex(d2, "0084ffffffff0161"), "invalid Huffman code in a name");
}

TEST(HpackDecoder, Rfc7541_5_2_HuffmanPaddingLongerThan7BitsIsError) {
  Decoder d;
  ExpectMalformed(DecodeHex(d, "04821fff"), "padding longer than 7 bits or not all ones");
}

TEST(HpackDecoder, Rfc7541_5_2_HuffmanPaddingNotEosPrefixIsError) {
  Decoder d;
  ExpectMalformed(DecodeHex(d, "048118"), "padding longer than 7 bits or not all ones");
}

TEST(HpackDecoder, Rfc7541_5_2_HuffmanAndRawStringsBothDecode) {
  Decoder d;
  HeaderList got;
  // Name raw "custom-key", value Huffman "custom-value" (C.4.3's coding).
  ASSERT_TRUE(DecodeHex(d, "000a637573746f6d2d6b6579" "8925a849e95bb8e8b4bf", &got).ok());
  EXPECT_EQ(got, (HeaderList{{"custom-key", "custom-value"}}));
}

// --- Section 6: binary format.

TEST(HpackDecoder, Rfc7541_6_1_IndexZeroIsError) {
  Decoder d;
  ExpectMalformed(DecodeHex(d, "80"), "indexed field with index 0");
}

TEST(HpackDecoder, Rfc7541_6_2_1_IncrementalIndexingAddsTheField) {
  Decoder d;
  HeaderList got;
  ASSERT_TRUE(DecodeHex(d, "4104686f7374", &got).ok());  // :authority (1) "host"
  EXPECT_EQ(got, (HeaderList{{":authority", "host"}}));
  EXPECT_EQ(d.entry_count(), 1u);
  EXPECT_EQ(d.table_size(), 10u + 4u + 32u);
}

TEST(HpackDecoder, Rfc7541_6_2_2_WithoutIndexingLeavesTheTable) {
  Decoder d;
  HeaderList got;
  ASSERT_TRUE(DecodeHex(d, "0104686f7374", &got).ok());
  EXPECT_EQ(got, (HeaderList{{":authority", "host"}}));
  EXPECT_EQ(d.entry_count(), 0u);
}

TEST(HpackDecoder, Rfc7541_6_2_3_NeverIndexedLeavesTheTable) {
  Decoder d;
  HeaderList got;
  ASSERT_TRUE(DecodeHex(d, "1104686f7374", &got).ok());
  EXPECT_EQ(got, (HeaderList{{":authority", "host"}}));
  EXPECT_EQ(d.entry_count(), 0u);
}

TEST(HpackDecoder, Rfc7541_6_2_LiteralNameIndexMayBeDynamic) {
  Decoder d;
  ASSERT_TRUE(DecodeBytes(d, Literal(0x40, "x-name", "1")).ok());
  HeaderList got;
  // Without indexing, name index 62 (4-bit prefix: 0f 2f), value "2".
  ASSERT_TRUE(DecodeHex(d, "0f2f0132", &got).ok());
  EXPECT_EQ(got, (HeaderList{{"x-name", "2"}}));
}

TEST(HpackDecoder, Rfc7541_6_3_SizeUpdateToZeroEmptiesTheTable) {
  Decoder d;
  ASSERT_TRUE(DecodeBytes(d, Literal(0x40, "a", "1")).ok());
  ASSERT_TRUE(DecodeBytes(d, SizeUpdate(0)).ok());
  EXPECT_EQ(d.entry_count(), 0u);
  EXPECT_EQ(d.HeapBytes(), 0u);
  // With a zero-size table an incremental literal is reported, not kept.
  HeaderList got;
  ASSERT_TRUE(DecodeList(d, Literal(0x40, "b", "2"), &got).ok());
  EXPECT_EQ(got, (HeaderList{{"b", "2"}}));
  EXPECT_EQ(d.entry_count(), 0u);
}

// --- Errors are sticky; the callback's own status.

TEST(HpackDecoder, ErrorIsStickyBecauseTheTableIsOutOfSync) {
  Decoder d;
  const absl::Status first = DecodeHex(d, "80");
  ASSERT_EQ(first.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeHex(d, "82"), first);
}

TEST(HpackDecoder, CallbackStatusStopsDecodingAndIsReturned) {
  Decoder d;
  int calls = 0;
  absl::Status s = d.Decode(Bytes("828684"), kNoLimit, [&calls](absl::string_view, absl::string_view) {
    return ++calls == 2 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(s, absl::CancelledError("enough"));
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(DecodeHex(d, "82"), s);  // the table may be out of sync: sticky
}

TEST(HpackDecoder, CallbackResourceExhaustedIsAlsoSticky) {
  Decoder d;
  absl::Status s = d.Decode(Bytes("82"), kNoLimit, [](absl::string_view, absl::string_view) {
    return absl::ResourceExhaustedError("mine");
  });
  EXPECT_EQ(s, absl::ResourceExhaustedError("mine"));
  EXPECT_EQ(DecodeHex(d, "82"), s);
}

// --- Blocks split and combined.

TEST(HpackDecoder, ConcatenatedBlocksDecodeAsOne) {
  // C.4's three requests in one block: the same lists, the same table.
  const std::vector<uint8_t> all = Concat({Bytes("828684418cf1e3c2e5f23a6ba0ab90f4ff"),
                                           Bytes("828684be5886a8eb10649cbf"),
                                           Bytes("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf")});
  Decoder one;
  HeaderList got;
  ASSERT_TRUE(DecodeList(one, all, &got).ok());
  EXPECT_EQ(got.size(), 14u);
  EXPECT_EQ(one.table_size(), 164u);
  EXPECT_EQ(got.back(), (std::pair<std::string, std::string>{"custom-key", "custom-value"}));
}

TEST(HpackDecoder, EveryPrefixOfABlockIsAFieldPrefixOrATruncationError) {
  const std::vector<uint8_t> block =
      Bytes("488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad1718"
            "63c78f0b97c8e9ae82ae43d3");
  // Field boundaries of C.6.1: after 4, 11, 35 and the end (54).
  const std::vector<size_t> boundaries = {0, 4, 11, 35, block.size()};
  ASSERT_EQ(block.size(), 54u);
  const HeaderList full = {{":status", "302"},
                           {"cache-control", "private"},
                           {"date", "Mon, 21 Oct 2013 20:13:21 GMT"},
                           {"location", "https://www.example.com"}};
  for (size_t n = 0; n <= block.size(); ++n) {
    SCOPED_TRACE(n);
    Decoder d(256);
    HeaderList got;
    const absl::Status s = DecodeList(d, {block.data(), n}, &got);
    const auto at = std::find(boundaries.begin(), boundaries.end(), n);
    if (at != boundaries.end()) {
      ASSERT_TRUE(s.ok()) << s;
      EXPECT_EQ(got, HeaderList(full.begin(), full.begin() + (at - boundaries.begin())));
    } else {
      ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    }
  }
}

// --- The header list limit.

TEST(HpackDecoder, ListAtTheLimitIsAcceptedOneByteMoreIsRefused) {
  const std::vector<uint8_t> block = Concat({Bytes("82"), Literal(0x00, "x", "1")});
  const size_t size = (7 + 3 + 32) + (1 + 1 + 32);
  Decoder d;
  HeaderList got;
  EXPECT_TRUE(DecodeList(d, block, &got, size).ok());
  got.clear();
  const absl::Status s = DecodeList(d, block, &got, size - 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("exceeds the limit"));
  EXPECT_EQ(got, (HeaderList{{":method", "GET"}}));  // reported up to the limit
  EXPECT_TRUE(DecodeHex(d, "82").ok());              // not sticky
}

TEST(HpackDecoder, HpackBombIsRefusedWithoutMaterialisingAndTableStaysInSync) {
  Decoder d(kDefaultHeaderTableSize);
  const std::string big(4000, 'z');
  ASSERT_TRUE(DecodeBytes(d, Literal(0x40, "x-big", big)).ok());
  ASSERT_EQ(d.entry_count(), 1u);
  // ~100 bytes: 96 references to the 4 KB entry (~390 KB of list), then an
  // incremental literal the table must still take.
  std::vector<uint8_t> bomb(96, 0xbe);
  const std::vector<uint8_t> tail = Literal(0x40, "x-after", "1");
  bomb.insert(bomb.end(), tail.begin(), tail.end());
  ASSERT_LE(bomb.size(), 120u);
  size_t calls = 0, reported = 0;
  const size_t limit = 16 * 1024;
  const absl::Status s = d.Decode(bomb, limit, [&](absl::string_view n, absl::string_view v) {
    ++calls;
    reported += FieldSize(n, v);
    return absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_LE(reported, limit);
  EXPECT_EQ(calls, limit / FieldSize("x-big", big));
  // The literal past the limit went into the table: index 62 is it, 63 the
  // big entry.
  HeaderList got;
  ASSERT_TRUE(DecodeHex(d, "be", &got).ok());
  EXPECT_EQ(got, (HeaderList{{"x-after", "1"}}));
  EXPECT_EQ(d.entry_count(), 2u);
}

TEST(HpackDecoder, OverLimitHuffmanLiteralsAreStillValidated) {
  Decoder d;
  // Over the limit at once, then a literal whose Huffman value is invalid.
  const std::vector<uint8_t> block = Concat({Bytes("82"), Bytes("0484ffffffff")});
  const absl::Status s = DecodeBytes(d, block, 1);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

TEST(HpackDecoder, OverLimitIncrementalHuffmanLiteralIsKept) {
  Decoder d;
  Encoder e;
  const HeaderField fields[] = {{":method", "GET"}, {"x-key", "some value here", Indexing::kIncremental}};
  const std::vector<uint8_t> block = testing::EncodeList(e, fields);
  ASSERT_EQ(DecodeBytes(d, block, 1).code(), absl::StatusCode::kResourceExhausted);
  HeaderList got;
  ASSERT_TRUE(DecodeHex(d, "be", &got).ok());
  EXPECT_EQ(got, (HeaderList{{"x-key", "some value here"}}));
}

TEST(HpackDecoder, OverLimitEntryLargerThanTableEmptiesIt) {
  Decoder d(100);
  ASSERT_TRUE(DecodeBytes(d, Literal(0x40, "a", "1")).ok());
  const std::vector<uint8_t> block = Concat({Bytes("82"), Literal(0x40, "big", std::string(80, 'x'))});
  ASSERT_EQ(DecodeBytes(d, block, 10).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(d.entry_count(), 0u);
  EXPECT_EQ(d.HeapBytes(), 0u);
}

// --- Heap use.

TEST(HpackDecoder, HeapBytesIsZeroEmptyAndFollowsTheEntries) {
  Decoder d;
  EXPECT_EQ(d.HeapBytes(), 0u);
  ASSERT_TRUE(DecodeHex(d, "828684").ok());  // static only
  EXPECT_EQ(d.HeapBytes(), 0u);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(DecodeBytes(d, Literal(0x40, absl::StrCat("x-h", i), std::string(i % 50, 'v'))).ok());
    // Storage holds the entries' bytes and a 12-byte record each, and is
    // sized to them: at most about twice what they need.
    const size_t needed = d.table_size() - kEntryOverhead * d.entry_count() + 12 * d.entry_count();
    EXPECT_GE(d.HeapBytes(), needed) << i;
    EXPECT_LE(d.HeapBytes(), 2 * needed + 128 + 4 * 12) << i;
  }
  // ShrinkToFit: exactly the bytes and records, same entries.
  const size_t entries = d.entry_count();
  d.ShrinkToFit();
  EXPECT_EQ(d.HeapBytes(), d.table_size() - kEntryOverhead * entries + 12 * entries);
  EXPECT_EQ(d.entry_count(), entries);
  HeaderList newest;
  ASSERT_TRUE(DecodeHex(d, "be", &newest).ok());
  EXPECT_EQ(newest, (HeaderList{{"x-h99", std::string(49, 'v')}}));
  const size_t full = d.HeapBytes();
  d.SetMaxTableSize(256);
  EXPECT_LT(d.HeapBytes(), full);
  EXPECT_LE(d.HeapBytes(), 256u + 8 * 12);
  ASSERT_TRUE(DecodeBytes(d, SizeUpdate(0)).ok());
  EXPECT_EQ(d.HeapBytes(), 0u);
}

TEST(HpackDecoder, MovedDecoderKeepsItsTable) {
  Decoder d;
  ASSERT_TRUE(DecodeBytes(d, Literal(0x40, "a", "1")).ok());
  Decoder moved(std::move(d));
  HeaderList got;
  ASSERT_TRUE(DecodeHex(moved, "be", &got).ok());
  EXPECT_EQ(got, (HeaderList{{"a", "1"}}));
  Decoder assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.entry_count(), 1u);
}

}  // namespace
}  // namespace alts::hpack
