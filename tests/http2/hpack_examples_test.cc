// RFC 7541 Appendix C, byte for byte: every example decodes to its list and
// table size, and the encoder writes the published bytes wherever the RFC's
// choices are the encoder's own.

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "http2/hpack/decoder.h"
#include "http2/hpack/encoder.h"
#include "http2/hpack/primitives.h"
#include "tests/http2/hpack_test_util.h"

namespace alts::hpack {
namespace {

using testing::Bytes;
using testing::DecodeList;
using testing::EncodeList;
using testing::Fields;
using testing::HeaderList;
using testing::Hex;

struct Example {
  HeaderList list;
  const char* hex;
  size_t table_size;
};

void CheckDecode(uint32_t table_size, const std::vector<Example>& examples) {
  Decoder decoder(table_size);
  for (const Example& e : examples) {
    SCOPED_TRACE(e.hex);
    HeaderList got;
    ASSERT_TRUE(DecodeList(decoder, Bytes(e.hex), &got).ok());
    EXPECT_EQ(got, e.list);
    EXPECT_EQ(decoder.table_size(), e.table_size);
  }
}

// CheckEncode encodes each list; `prefix` is what the first block carries
// before the RFC's bytes (a size update when the table is below 4096).
void CheckEncode(uint32_t table_size, bool huffman, Indexing indexing,
                 const std::vector<Example>& examples, const std::string& prefix = "") {
  Encoder encoder(table_size);
  encoder.SetUseHuffman(huffman);
  bool first = true;
  for (const Example& e : examples) {
    SCOPED_TRACE(e.hex);
    const std::vector<HeaderField> fields = Fields(e.list, indexing);
    const std::string want = (first ? prefix : "") + Hex(Bytes(e.hex));
    EXPECT_EQ(Hex(EncodeList(encoder, fields)), want);
    EXPECT_EQ(encoder.table_size(), e.table_size);
    first = false;
  }
}

TEST(Rfc7541AppendixC, C1_Integers) {
  uint8_t buf[8];
  EXPECT_EQ(Hex({buf, size_t(EncodeInteger(buf, 0, 5, 10) - buf)}), "0a");
  EXPECT_EQ(Hex({buf, size_t(EncodeInteger(buf, 0, 5, 1337) - buf)}), "1f9a0a");
  EXPECT_EQ(Hex({buf, size_t(EncodeInteger(buf, 0, 8, 42) - buf)}), "2a");
  for (const auto& [hex, prefix, value] :
       std::vector<std::tuple<std::string, int, uint32_t>>{
           {"0a", 5, 10}, {"1f9a0a", 5, 1337}, {"2a", 8, 42}}) {
    const std::vector<uint8_t> b = Bytes(hex);
    const uint8_t* p = b.data();
    uint32_t v = 0;
    ASSERT_EQ(DecodeInteger(p, b.data() + b.size(), prefix, &v), WireError::kNone);
    EXPECT_EQ(v, value);
    EXPECT_EQ(p, b.data() + b.size());
  }
}

TEST(Rfc7541AppendixC, C2_FieldRepresentations) {
  struct Case {
    HeaderField field;
    const char* hex;
    HeaderList list;
    size_t table_size;
  };
  const std::vector<Case> cases = {
      {{"custom-key", "custom-header", Indexing::kIncremental},
       "400a637573746f6d2d6b65790d637573746f6d2d686561646572",
       {{"custom-key", "custom-header"}},
       55},
      {{":path", "/sample/path", Indexing::kWithout},
       "040c2f73616d706c652f70617468",
       {{":path", "/sample/path"}},
       0},
      {{"password", "secret", Indexing::kNever},
       "100870617373776f726406736563726574",
       {{"password", "secret"}},
       0},
      {{":method", "GET", Indexing::kAuto}, "82", {{":method", "GET"}}, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.hex);
    Decoder decoder;
    HeaderList got;
    ASSERT_TRUE(DecodeList(decoder, Bytes(c.hex), &got).ok());
    EXPECT_EQ(got, c.list);
    EXPECT_EQ(decoder.table_size(), c.table_size);
    EXPECT_EQ(decoder.entry_count(), c.table_size == 0 ? 0u : 1u);

    Encoder encoder;
    encoder.SetUseHuffman(false);
    EXPECT_EQ(Hex(EncodeList(encoder, {&c.field, 1})), Hex(Bytes(c.hex)));
    EXPECT_EQ(encoder.table_size(), c.table_size);
  }
}

const HeaderList kRequest1 = {
    {":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {":authority", "www.example.com"}};
const HeaderList kRequest2 = {{":method", "GET"},
                              {":scheme", "http"},
                              {":path", "/"},
                              {":authority", "www.example.com"},
                              {"cache-control", "no-cache"}};
const HeaderList kRequest3 = {{":method", "GET"},
                              {":scheme", "https"},
                              {":path", "/index.html"},
                              {":authority", "www.example.com"},
                              {"custom-key", "custom-value"}};

const std::vector<Example> kC3 = {
    {kRequest1, "828684410f7777772e6578616d706c652e636f6d", 57},
    {kRequest2, "828684be58086e6f2d6361636865", 110},
    {kRequest3, "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565", 164},
};
const std::vector<Example> kC4 = {
    {kRequest1, "828684418cf1e3c2e5f23a6ba0ab90f4ff", 57},
    {kRequest2, "828684be5886a8eb10649cbf", 110},
    {kRequest3, "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf", 164},
};

TEST(Rfc7541AppendixC, C3_RequestsWithoutHuffman) {
  CheckDecode(4096, kC3);
  // The encoder's own policy (kAuto) makes the RFC's choices here.
  CheckEncode(4096, /*huffman=*/false, Indexing::kAuto, kC3);
}

TEST(Rfc7541AppendixC, C4_RequestsWithHuffman) {
  CheckDecode(4096, kC4);
  CheckEncode(4096, /*huffman=*/true, Indexing::kAuto, kC4);
}

const char kDate1[] = "Mon, 21 Oct 2013 20:13:21 GMT";
const char kDate2[] = "Mon, 21 Oct 2013 20:13:22 GMT";
const char kLocation[] = "https://www.example.com";
const char kCookie[] = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

const HeaderList kResponse1 = {
    {":status", "302"}, {"cache-control", "private"}, {"date", kDate1}, {"location", kLocation}};
const HeaderList kResponse2 = {
    {":status", "307"}, {"cache-control", "private"}, {"date", kDate1}, {"location", kLocation}};
const HeaderList kResponse3 = {{":status", "200"},       {"cache-control", "private"},
                               {"date", kDate2},         {"location", kLocation},
                               {"content-encoding", "gzip"}, {"set-cookie", kCookie}};

const char kC5_1[] =
    "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d54"
    "6e1768747470733a2f2f7777772e6578616d706c652e636f6d";
const char kC5_2[] = "4803333037c1c0bf";
const char kC5_3[] =
    "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d"
    "4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b207665"
    "7273696f6e3d31";
const char kC6_1[] =
    "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f"
    "0b97c8e9ae82ae43d3";
const char kC6_2[] = "4883640effc1c0bf";
const char kC6_3[] =
    "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335df"
    "dfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007";

// Encoder(256) starts below the default 4096, so its first block opens with
// the size update 256 (001 11111 + 225 + 1 = 3f e1 01); the RFC's examples
// assume both sides already use 256.
const char kUpdate256[] = "3fe101";

TEST(Rfc7541AppendixC, C5_ResponsesWithoutHuffman) {
  const std::vector<Example> c5 = {
      {kResponse1, kC5_1, 222}, {kResponse2, kC5_2, 222}, {kResponse3, kC5_3, 215}};
  CheckDecode(256, c5);
  // The RFC indexes location, set-cookie and date, which kAuto keeps out of
  // the table; kIncremental asks for the RFC's choices.
  CheckEncode(256, /*huffman=*/false, Indexing::kIncremental, c5, kUpdate256);
}

TEST(Rfc7541AppendixC, C6_ResponsesWithHuffman) {
  CheckDecode(256, {{kResponse1, kC6_1, 222}, {kResponse2, kC6_2, 222}, {kResponse3, kC6_3, 215}});
  // "307" is 3 bytes raw and 3 bytes Huffman-coded (83 640eff); the encoder
  // Huffman-codes only when that is strictly shorter, so C.6.2 differs in
  // that one literal (03 333037) and is otherwise the RFC's.
  CheckEncode(256, /*huffman=*/true, Indexing::kIncremental,
              {{kResponse1, kC6_1, 222}, {kResponse2, "4803333037c1c0bf", 222},
               {kResponse3, kC6_3, 215}},
              kUpdate256);
}

}  // namespace
}  // namespace alts::hpack
