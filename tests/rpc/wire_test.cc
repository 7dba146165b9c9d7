#include "rpc/wire.h"

#include <string>

#include "gtest/gtest.h"
#include "rpc/compression.h"
#include "rpc/message_reader.h"

namespace alts::rpc {
namespace {

TEST(WireTest, GrpcStatusParsing) {
  EXPECT_EQ(ParseGrpcStatus("0"), absl::StatusCode::kOk);
  EXPECT_EQ(ParseGrpcStatus("14"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ParseGrpcStatus("16"), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ParseGrpcStatus("17"), absl::StatusCode::kUnknown);
  EXPECT_EQ(ParseGrpcStatus("-1"), absl::StatusCode::kUnknown);
  EXPECT_EQ(ParseGrpcStatus(""), absl::StatusCode::kUnknown);
  EXPECT_EQ(ParseGrpcStatus("1a"), absl::StatusCode::kUnknown);
  EXPECT_EQ(ParseGrpcStatus("007"), absl::StatusCode::kUnknown);
}

TEST(WireTest, HttpStatusMappingFollowsGrpc) {
  EXPECT_EQ(StatusCodeFromHttp(400), absl::StatusCode::kInternal);
  EXPECT_EQ(StatusCodeFromHttp(401), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(StatusCodeFromHttp(403), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(StatusCodeFromHttp(404), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(StatusCodeFromHttp(429), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeFromHttp(502), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeFromHttp(503), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeFromHttp(504), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeFromHttp(500), absl::StatusCode::kUnknown);
  EXPECT_EQ(StatusCodeFromHttp2Error(http2::ErrorCode::kRefusedStream), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeFromHttp2Error(http2::ErrorCode::kCancel), absl::StatusCode::kCancelled);
  EXPECT_EQ(StatusCodeFromHttp2Error(http2::ErrorCode::kEnhanceYourCalm),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusCodeFromHttp2Error(http2::ErrorCode::kProtocolError), absl::StatusCode::kInternal);
}

TEST(WireTest, PercentEncodingRoundTrips) {
  const std::string raw = "a b%c\t\r\n\xe2\x9c\x93~\x7f";
  const std::string enc = PercentEncode(raw);
  EXPECT_EQ(enc, "a b%25c%09%0D%0A%E2%9C%93~%7F");
  EXPECT_EQ(PercentDecode(enc), raw);
  // Malformed escapes are kept as they are.
  EXPECT_EQ(PercentDecode("100%"), "100%");
  EXPECT_EQ(PercentDecode("%zz%4"), "%zz%4");
  EXPECT_EQ(PercentDecode("%41%4a"), "AJ");
}

TEST(WireTest, TimeoutEncodingFitsEightDigitsAndRoundsUp) {
  EXPECT_EQ(EncodeTimeout(absl::Nanoseconds(1)), "1n");
  EXPECT_EQ(EncodeTimeout(absl::ZeroDuration()), "1n");
  EXPECT_EQ(EncodeTimeout(absl::Seconds(-3)), "1n");
  EXPECT_EQ(EncodeTimeout(absl::Milliseconds(1500)), "1500000u");
  EXPECT_EQ(EncodeTimeout(absl::Seconds(100)), "100000m");
  EXPECT_EQ(EncodeTimeout(absl::Hours(1000)), "3600000S");
  EXPECT_EQ(EncodeTimeout(absl::Hours(100000)), "6000000M");
  EXPECT_EQ(EncodeTimeout(absl::InfiniteDuration()), "99999999H");
  EXPECT_EQ(EncodeTimeout(absl::Hours(200000000)), "99999999H");
  // Rounding up: 1 ns more than a second in microseconds-only precision.
  EXPECT_EQ(EncodeTimeout(absl::Seconds(1000) + absl::Nanoseconds(1)), "1000001m");
  for (absl::Duration d : {absl::Nanoseconds(7), absl::Milliseconds(33), absl::Seconds(59),
                           absl::Minutes(61), absl::Hours(30)}) {
    std::optional<absl::Duration> back = ParseTimeout(EncodeTimeout(d));
    ASSERT_TRUE(back.has_value());
    EXPECT_GE(*back, d);
  }
  EXPECT_EQ(ParseTimeout("10S"), absl::Seconds(10));
  EXPECT_EQ(ParseTimeout("5m"), absl::Milliseconds(5));
  EXPECT_FALSE(ParseTimeout("").has_value());
  EXPECT_FALSE(ParseTimeout("S").has_value());
  EXPECT_FALSE(ParseTimeout("123456789S").has_value());  // 9 digits
  EXPECT_FALSE(ParseTimeout("10s").has_value());
  EXPECT_FALSE(ParseTimeout("-1S").has_value());
}

TEST(WireTest, MetadataValidation) {
  Metadata ok;
  ok.Add("x-custom", "value");
  ok.Add("x-bin-bin", std::string("\x00\xff", 2));
  EXPECT_TRUE(ValidateMetadata(ok).ok());
  for (const char* key : {"grpc-status", "content-type", "te", ":path", "user-agent",
                          "grpc-timeout", "connection", "Upper", "sp ace", ""}) {
    Metadata bad;
    bad.Add(key, "v");
    EXPECT_EQ(ValidateMetadata(bad).code(), absl::StatusCode::kInternal) << key;
  }
  Metadata ctl;
  ctl.Add("x-ctl", "a\nb");
  EXPECT_EQ(ValidateMetadata(ctl).code(), absl::StatusCode::kInternal);
}

TEST(WireTest, BinaryHeadersAcceptPaddedAndUnpadded) {
  const std::string raw("\x01\x02\x03\x04\xff", 5);
  const std::string enc = EncodeBinaryHeader(raw);
  EXPECT_EQ(enc.find('='), std::string::npos);
  EXPECT_EQ(DecodeBinaryHeader(enc), raw);
  EXPECT_EQ(DecodeBinaryHeader(enc + "="), raw);
  EXPECT_FALSE(DecodeBinaryHeader("a").has_value());
  EXPECT_FALSE(DecodeBinaryHeader("!!!!").has_value());
}

TEST(MessageReaderTest, EverySplitOfSeveralMessages) {
  std::string stream;
  std::vector<std::string> messages = {"", "a", std::string(300, 'b'), std::string(70000, 'c')};
  for (const std::string& m : messages) {
    uint8_t prefix[5];
    WriteMessagePrefix(prefix, false, static_cast<uint32_t>(m.size()));
    stream.append(reinterpret_cast<char*>(prefix), 5);
    stream += m;
  }
  auto storage = std::move(*StoragePool::Create());
  for (size_t split : {size_t{1}, size_t{2}, size_t{4}, size_t{5}, size_t{7}, size_t{301},
                       size_t{4096}, stream.size()}) {
    MessageReader reader;
    std::vector<std::string> got;
    for (size_t off = 0; off < stream.size(); off += split) {
      const size_t n = std::min(split, stream.size() - off);
      absl::Status s = reader.Feed(
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(stream.data()) + off, n), 1 << 20,
          storage.get(), [&](absl::Span<const uint8_t> msg, bool compressed) {
            EXPECT_FALSE(compressed);
            got.emplace_back(reinterpret_cast<const char*>(msg.data()), msg.size());
            return absl::OkStatus();
          });
      ASSERT_TRUE(s.ok()) << s;
    }
    EXPECT_EQ(got, messages) << split;
    EXPECT_TRUE(reader.at_boundary());
    EXPECT_EQ(reader.HeapBytes(), 0u);
  }
  EXPECT_EQ(storage->OutstandingBytes(), 0u);
}

TEST(MessageReaderTest, OversizedPrefixIsRefusedBeforeStoring) {
  MessageReader reader;
  const uint8_t prefix[5] = {0, 0x10, 0, 0, 0};  // 256 MiB
  absl::Status s = reader.Feed(prefix, 4 << 20, nullptr,
                               [](absl::Span<const uint8_t>, bool) { return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(reader.HeapBytes(), 0u);
  MessageReader bad_flag;
  const uint8_t flag[5] = {2, 0, 0, 0, 1};
  EXPECT_EQ(bad_flag.Feed(flag, 100, nullptr,
                          [](absl::Span<const uint8_t>, bool) { return absl::OkStatus(); })
                .code(),
            absl::StatusCode::kInternal);
}

TEST(CompressionTest, GzipRoundTripAndBombLimit) {
  std::string text(1 << 20, 'z');
  auto z = GzipCompress(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  ASSERT_TRUE(z.ok());
  std::string compressed(reinterpret_cast<const char*>(z->data()), z->size());
  EXPECT_LT(compressed.size(), 10000u);
  auto back = GzipDecompress(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(compressed.data()),
                                                 compressed.size()),
                             2 << 20);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(back->data()), back->size()), text);
  auto bomb = GzipDecompress(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(compressed.data()),
                                                 compressed.size()),
                             64 * 1024);
  EXPECT_EQ(bomb.status().code(), absl::StatusCode::kResourceExhausted);
  auto truncated = GzipDecompress(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(compressed.data()), compressed.size() / 2),
      2 << 20);
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(GzipDecompress(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>("junkjunk"), 8), 100)
                .status()
                .code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace alts::rpc
