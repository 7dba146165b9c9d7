// The encoder: representation choices (the policy), Huffman only when
// shorter, table size updates (RFC 7541 4.2), MaxEncodedSize, steady state.

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http2/hpack/decoder.h"
#include "http2/hpack/encoder.h"
#include "tests/http2/hpack_nghttp2_oracle.h"
#include "tests/http2/hpack_test_util.h"

namespace alts::hpack {
namespace {

using testing::DecodeList;
using testing::EncodeList;
using testing::HeaderList;
using testing::Hex;

std::string EncodeHex(Encoder& e, std::vector<HeaderField> fields) {
  return Hex(EncodeList(e, fields));
}

TEST(HpackEncoder, ExactStaticMatchIsOneIndexedByte) {
  Encoder e;
  EXPECT_EQ(EncodeHex(e, {{":method", "POST"}, {":status", "200"}, {":scheme", "http"}}), "838886");
  EXPECT_EQ(e.table_size(), 0u);
}

TEST(HpackEncoder, StaticNameIsReferencedAndTheFieldIndexed) {
  Encoder e;
  e.SetUseHuffman(false);
  // :authority is static index 1: 01 000001, then the raw value.
  EXPECT_EQ(EncodeHex(e, {{":authority", "a"}}), "410161");
  EXPECT_EQ(e.table_size(), 10u + 1u + 32u);
  EXPECT_EQ(EncodeHex(e, {{":authority", "a"}}), "be");
}

TEST(HpackEncoder, DynamicNameIsReferencedWhenNoStaticOne) {
  Encoder e;
  e.SetUseHuffman(false);
  EXPECT_EQ(EncodeHex(e, {{"x-a", "1"}}), "4003782d610131");
  // Name from entry 62, new value, indexed again.
  EXPECT_EQ(EncodeHex(e, {{"x-a", "2"}}), "7e0132");
  EXPECT_EQ(EncodeHex(e, {{"x-a", "1"}, {"x-a", "2"}}), "bfbe");
}

TEST(HpackEncoder, Rfc7541_6_2_3_NeverIndexedStaysLiteralEvenWhenTheTableHasIt) {
  Encoder e;
  e.SetUseHuffman(false);
  EXPECT_EQ(EncodeHex(e, {{"x-a", "1", Indexing::kIncremental}}), "4003782d610131");
  // 0001 + name index 62 in 4 bits (0f 2f), raw value.
  EXPECT_EQ(EncodeHex(e, {{"x-a", "1", Indexing::kNever}}), "1f2f0131");
  EXPECT_EQ(EncodeHex(e, {{"x-a", "1", Indexing::kWithout}}), "0f2f0131");
  EXPECT_EQ(EncodeHex(e, {{":method", "GET", Indexing::kNever}}), "1203474554");
}

TEST(HpackEncoder, AuthorizationAndShortCookiesAreNeverIndexedByDefault) {
  Encoder e;
  e.SetUseHuffman(false);
  EXPECT_EQ(EncodeHex(e, {{"authorization", "Bearer x"}}).substr(0, 2), "1f");  // 0001 1111: 23
  EXPECT_EQ(EncodeHex(e, {{"cookie", "id=1"}}).substr(0, 4), "1f11");           // 15 + 17 = 32
  EXPECT_EQ(e.table_size(), 0u);
  // A long cookie repeats and is not guessable byte by byte: indexed.
  const std::string long_cookie(40, 'c');
  EXPECT_EQ(EncodeHex(e, {{"cookie", long_cookie}}).substr(0, 4), "6028");
  EXPECT_EQ(e.entry_count(), 1u);
  // The caller can still ask for indexing.
  EncodeHex(e, {{"authorization", "Bearer x", Indexing::kIncremental}});
  EXPECT_EQ(e.entry_count(), 2u);
}

TEST(HpackEncoder, VolatileFieldsAreNotIndexedButAnUnknownNameIsOnce) {
  Encoder e;
  e.SetUseHuffman(false);
  EncodeHex(e, {{"content-length", "10"}});
  EXPECT_EQ(e.entry_count(), 0u);
  EncodeHex(e, {{":path", "/search?q=1"}});
  EXPECT_EQ(e.entry_count(), 0u);
  // grpc-timeout: no table has the name, so the first is indexed...
  EXPECT_EQ(EncodeHex(e, {{"grpc-timeout", "1S"}}), "400c677270632d74696d656f7574023153");
  EXPECT_EQ(e.entry_count(), 1u);
  // ...and later values are literals without indexing that refer to it.
  EXPECT_EQ(EncodeHex(e, {{"grpc-timeout", "99m"}}), "0f2f0339396d");
  EXPECT_EQ(e.entry_count(), 1u);
  // The indexed value itself is found.
  EXPECT_EQ(EncodeHex(e, {{"grpc-timeout", "1S"}}), "be");
  // A gRPC method path repeats: indexed.
  EncodeHex(e, {{":path", "/grpc.testing.TestService/UnaryCall"}});
  EXPECT_EQ(e.entry_count(), 2u);
}

TEST(HpackEncoder, LargeValuesAreNotIndexed) {
  Encoder e;
  EncodeHex(e, {{"x-big", std::string(kDefaultHeaderTableSize / 2, 'v')}});
  EXPECT_EQ(e.entry_count(), 0u);
  // kIncremental beyond the whole table would only empty it: not indexed.
  EncodeHex(e, {{"x-a", "1"}});
  EncodeHex(e, {{"x-big", std::string(kDefaultHeaderTableSize, 'v'), Indexing::kIncremental}});
  EXPECT_EQ(e.entry_count(), 1u);
  // Half the table or less, when asked, is indexed.
  EncodeHex(e, {{"x-big", std::string(2000, 'v'), Indexing::kIncremental}});
  EXPECT_EQ(e.entry_count(), 2u);
}

TEST(HpackEncoder, HuffmanOnlyWhenStrictlyShorter) {
  Encoder e;
  // "307": 3 bytes either way: raw.
  EXPECT_EQ(EncodeHex(e, {{":status", "307", Indexing::kWithout}}), "0803333037");
  // "302" Huffman-codes to 2 bytes.
  EXPECT_EQ(EncodeHex(e, {{":status", "302", Indexing::kWithout}}), "08826402");
  // Bytes with long codes: raw.
  EXPECT_EQ(EncodeHex(e, {{":status", "\x01\x02", Indexing::kWithout}}), "08020102");
  // An empty value is one raw zero-length byte.
  const std::string empty = EncodeHex(e, {{"x-empty", "", Indexing::kWithout}});
  EXPECT_EQ(empty.substr(empty.size() - 2), "00");
}

TEST(HpackEncoder, Rfc7541_4_2_OwnCapBelowDefaultOpensFirstBlockWithUpdate) {
  Encoder e(100);
  EXPECT_EQ(e.max_table_size(), 100u);
  EXPECT_EQ(EncodeHex(e, {{":method", "GET"}}), "3f4582");  // 31 + 69 = 100
  EXPECT_EQ(EncodeHex(e, {{":method", "GET"}}), "82");
}

TEST(HpackEncoder, Rfc7541_4_2_PeerChangeIsSignalledOnceWithSmallestThenFinal) {
  Encoder e;
  e.SetPeerMaxTableSize(4096);  // no change
  EXPECT_EQ(EncodeHex(e, {{":method", "GET"}}), "82");
  e.SetPeerMaxTableSize(1000);
  e.SetPeerMaxTableSize(0);
  e.SetPeerMaxTableSize(2000);
  // 0, then 2000 (31 + 1969 = 31 + 0x31 + 15*128: 3f b1 0f).
  EXPECT_EQ(EncodeHex(e, {{":method", "GET"}}), "203fb10f82");
  EXPECT_EQ(e.max_table_size(), 2000u);
  EXPECT_EQ(EncodeHex(e, {{":method", "GET"}}), "82");
  e.SetPeerMaxTableSize(100);
  EXPECT_EQ(EncodeHex(e, {}), "3f45");
}

TEST(HpackEncoder, Rfc7541_4_2_OwnCapBoundsThePeersSetting) {
  Encoder e(8192);
  EXPECT_EQ(e.max_table_size(), kDefaultHeaderTableSize);  // until the peer allows more
  e.SetPeerMaxTableSize(100000);
  EXPECT_EQ(e.max_table_size(), 8192u);
  Encoder big(1u << 30);
  big.SetPeerMaxTableSize(1u << 30);
  EXPECT_EQ(big.max_table_size(), kMaxHeaderTableSize);
}

TEST(HpackEncoder, Rfc7541_4_3_PeerLoweringEvictsAndTheDecoderAgrees) {
  Encoder e;
  Decoder d;
  HeaderList got;
  std::vector<HeaderField> fields;
  std::vector<std::string> values;
  for (int i = 0; i < 20; ++i) values.push_back(absl::StrCat("value-", i));
  for (int i = 0; i < 20; ++i) fields.push_back({"x-name", values[i]});
  ASSERT_TRUE(DecodeList(d, EncodeList(e, fields), &got).ok());
  EXPECT_EQ(e.entry_count(), 20u);
  e.SetPeerMaxTableSize(200);
  d.SetMaxTableSize(200);
  EXPECT_LE(e.table_size(), 200u);
  ASSERT_TRUE(DecodeList(d, EncodeList(e, fields), &got).ok());
  EXPECT_EQ(d.table_size(), e.table_size());
}

TEST(HpackEncoder, SteadyStateBlocksAreAllIndexed) {
  const std::vector<HeaderField> request = {
      {":method", "POST"},
      {":scheme", "http"},
      {":path", "/grpc.testing.TestService/UnaryCall"},
      {":authority", "localhost:50051"},
      {"content-type", "application/grpc"},
      {"te", "trailers"},
      {"user-agent", "grpc-c++/1.51.1"},
      {"grpc-accept-encoding", "identity,deflate,gzip"},
      {"grpc-timeout", "1S"},
      {"x-request-tag", "bench"}};
  Encoder e;
  const size_t first = EncodeList(e, request).size();
  const std::vector<uint8_t> second = EncodeList(e, request);
  EXPECT_EQ(second.size(), request.size()) << Hex(second);
  EXPECT_LT(second.size(), first);
  EXPECT_EQ(EncodeList(e, request), second);
}

TEST(HpackEncoder, HeapBytesIsZeroWithEmptyTableAndFollowsIt) {
  Encoder e;
  EXPECT_EQ(e.HeapBytes(), 0u);
  EncodeList(e, std::vector<HeaderField>{{":method", "GET"}, {":path", "/"}});
  EXPECT_EQ(e.HeapBytes(), 0u);
  EncodeList(e, std::vector<HeaderField>{{"x-a", "1"}});
  EXPECT_GT(e.HeapBytes(), 0u);
  e.ShrinkToFit();
  EXPECT_EQ(e.HeapBytes(), 3u + 1u + 12u);
  EXPECT_EQ(Hex(EncodeList(e, std::vector<HeaderField>{{"x-a", "1"}})), "be");
  e.SetPeerMaxTableSize(0);
  EXPECT_EQ(e.HeapBytes(), 0u);
}

TEST(HpackEncoder, MaxEncodedSizeBoundsRandomListsAndNghttp2Agrees) {
  std::mt19937 rng(42);
  Encoder e;
  Decoder d;
  testing::NghttpInflater nghttp2;
  for (int block = 0; block < 300; ++block) {
    HeaderList list;
    const int n = rng() % 12;
    for (int i = 0; i < n; ++i) {
      std::string name = absl::StrCat("x-", rng() % 20);
      if (rng() % 4 == 0) name = ":path";
      std::string value(rng() % (rng() % 8 == 0 ? 3000 : 30), '\0');
      for (char& c : value) c = static_cast<char>(rng() % 4 == 0 ? rng() % 256 : 'a' + rng() % 26);
      list.emplace_back(name, value);
    }
    std::vector<HeaderField> fields = testing::Fields(list);
    for (HeaderField& f : fields) f.indexing = static_cast<Indexing>(rng() % 4);
    if (rng() % 10 == 0) {
      const uint32_t size = rng() % 5000;
      e.SetPeerMaxTableSize(size);
      d.SetMaxTableSize(size);
      nghttp2.SetMaxTableSize(size);
    }
    std::vector<uint8_t> out(e.MaxEncodedSize(fields) + 64, 0xee);
    const size_t written = e.Encode(fields, absl::MakeSpan(out));
    ASSERT_LE(written, e.MaxEncodedSize(fields));
    for (size_t i = written; i < out.size(); ++i) ASSERT_EQ(out[i], 0xee);
    out.resize(written);
    HeaderList ours, theirs;
    ASSERT_TRUE(DecodeList(d, out, &ours).ok());
    ASSERT_EQ(ours, list);
    ASSERT_TRUE(nghttp2.Inflate(out, &theirs).ok());
    ASSERT_EQ(theirs, list);
  }
}

TEST(HpackEncoder, MovedEncoderKeepsItsTable) {
  Encoder e;
  EncodeList(e, std::vector<HeaderField>{{"x-a", "1"}});
  Encoder moved(std::move(e));
  EXPECT_EQ(Hex(EncodeList(moved, std::vector<HeaderField>{{"x-a", "1"}})), "be");
}

}  // namespace
}  // namespace alts::hpack
