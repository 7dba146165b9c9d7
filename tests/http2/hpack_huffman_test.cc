// The Huffman code (RFC 7541 5.2, Appendix B): round trips, known vectors,
// and every invalid ending.

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "http2/hpack/huffman.h"
#include "tests/http2/hpack_test_util.h"

namespace alts::hpack {
namespace {

using testing::Bytes;
using testing::Hex;

std::vector<uint8_t> Encode(absl::string_view text) {
  std::vector<uint8_t> out(HuffmanEncodedSize(text));
  EXPECT_EQ(HuffmanEncode(text, out.data()), out.size());
  return out;
}

HuffmanError Decode(absl::Span<const uint8_t> in, std::string* text) {
  std::vector<uint8_t> out(HuffmanMaxDecodedSize(in.size()));
  size_t n = 0;
  const HuffmanError e = HuffmanDecode(in, out.data(), &n);
  size_t counted = 0;
  EXPECT_EQ(HuffmanDecode(in, nullptr, &counted), e) << "count-only mode disagrees";
  if (e == HuffmanError::kNone) {
    EXPECT_EQ(counted, n);
    text->assign(reinterpret_cast<const char*>(out.data()), n);
  }
  return e;
}

TEST(HpackHuffman, KnownVectorsFromAppendixC) {
  EXPECT_EQ(Hex(Encode("www.example.com")), "f1e3c2e5f23a6ba0ab90f4ff");
  EXPECT_EQ(Hex(Encode("no-cache")), "a8eb10649cbf");
  EXPECT_EQ(Hex(Encode("custom-key")), "25a849e95ba97d7f");
  EXPECT_EQ(Hex(Encode("302")), "6402");
  EXPECT_EQ(Hex(Encode("Mon, 21 Oct 2013 20:13:21 GMT")),
            "d07abe941054d444a8200595040b8166e082a62d1bff");
  std::string text;
  ASSERT_EQ(Decode(Bytes("f1e3c2e5f23a6ba0ab90f4ff"), &text), HuffmanError::kNone);
  EXPECT_EQ(text, "www.example.com");
  EXPECT_EQ(HuffmanEncodedSize(""), 0u);
  ASSERT_EQ(Decode({}, &text), HuffmanError::kNone);
  EXPECT_EQ(text, "");
}

TEST(HpackHuffman, EveryByteRoundTripsAloneAndInRuns) {
  for (int b = 0; b < 256; ++b) {
    for (size_t run : {1, 2, 3, 7, 8, 9, 40}) {
      const std::string text(run, static_cast<char>(b));
      std::string back;
      ASSERT_EQ(Decode(Encode(text), &back), HuffmanError::kNone) << b << " x" << run;
      ASSERT_EQ(back, text) << b << " x" << run;
    }
  }
}

TEST(HpackHuffman, RandomStringsRoundTrip) {
  std::mt19937 rng(7541);
  for (int i = 0; i < 3000; ++i) {
    std::string text(rng() % 200, '\0');
    const bool ascii = i % 2 == 0;
    for (char& c : text) c = static_cast<char>(ascii ? 32 + rng() % 95 : rng() % 256);
    std::string back;
    ASSERT_EQ(Decode(Encode(text), &back), HuffmanError::kNone);
    ASSERT_EQ(back, text);
    EXPECT_LE(text.size(), HuffmanMaxDecodedSize(Encode(text).size()));
  }
}

TEST(HpackHuffman, Rfc7541_5_2_EosInStringIsError) {
  std::string text;
  // 30 one bits are EOS; two more ones are valid padding after it.
  EXPECT_EQ(Decode(Bytes("ffffffff"), &text), HuffmanError::kEos);
  // 'a' (00011) then EOS then padding.
  EXPECT_EQ(Decode(Bytes("1fffffffff"), &text), HuffmanError::kEos);
}

TEST(HpackHuffman, Rfc7541_5_2_PaddingLongerThanSevenBitsIsError) {
  std::string text;
  // 'a' = 00011, then 3 + 8 one bits of padding.
  EXPECT_EQ(Decode(Bytes("1fff"), &text), HuffmanError::kBadPadding);
  // A whole byte of ones alone.
  EXPECT_EQ(Decode(Bytes("ff"), &text), HuffmanError::kBadPadding);
  // Seven bits of padding are fine: '0' (00000) '0' '0' then 1 bit... build
  // 'a' 'a' 'a' = 15 bits + 1 padding bit.
  ASSERT_EQ(Decode(Encode("aaa"), &text), HuffmanError::kNone);
  EXPECT_EQ(text, "aaa");
}

TEST(HpackHuffman, Rfc7541_5_2_PaddingNotEosPrefixIsError) {
  std::string text;
  // 'a' = 00011 then 000 as padding.
  EXPECT_EQ(Decode(Bytes("18"), &text), HuffmanError::kBadPadding);
  // 'a' then 101.
  EXPECT_EQ(Decode(Bytes("1d"), &text), HuffmanError::kBadPadding);
}

TEST(HpackHuffman, TruncatedLongCodeIsError) {
  // The first 16 bits of a 19-bit code ('\\' = 7fff0) end the input.
  std::string text;
  EXPECT_EQ(Decode(Bytes("fffe"), &text), HuffmanError::kBadPadding);
}

TEST(HpackHuffman, DecodedSizeBoundHoldsForShortestCodes) {
  // '0' has the shortest code (5 bits): 8 bytes hold 12 of them.
  const std::string text(12, '0');
  const std::vector<uint8_t> coded = Encode(text);
  EXPECT_EQ(coded.size(), 8u);
  EXPECT_GE(HuffmanMaxDecodedSize(coded.size()), text.size());
}

}  // namespace
}  // namespace alts::hpack
