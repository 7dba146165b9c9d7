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

// Prefix returns the 5-byte prefix of an uncompressed message of `n` bytes.
std::string Prefix(uint32_t n) {
  uint8_t p[5];
  WriteMessagePrefix(p, false, n);
  return std::string(reinterpret_cast<char*>(p), 5);
}

absl::Span<const uint8_t> Span(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(MessageReaderTest, StorageGrowsWithWhatArrivedNotWithThePrefix) {
  auto storage = std::move(*StoragePool::Create());
  for (StoragePool* pool : {storage.get(), static_cast<StoragePool*>(nullptr)}) {
    MessageReader reader;
    const uint32_t length = 3 << 20;  // above the largest storage class
    std::string message(length, 0);
    for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<char>(i * 131 + (i >> 16));
    std::string got;
    auto on_message = [&](absl::Span<const uint8_t> m, bool) {
      got.assign(reinterpret_cast<const char*>(m.data()), m.size());
      return absl::OkStatus();
    };
    ASSERT_TRUE(
        reader.Feed(Span(Prefix(length) + message.substr(0, 10)), 4 << 20, pool, on_message).ok());
    // 10 bytes in: the reader holds its smallest start, not 3 MiB.
    EXPECT_EQ(reader.HeapBytes(), kAssemblyMinStorage);
    size_t off = 10;
    size_t most_over = 0;
    for (size_t step = 1000; off < message.size(); step = step * 3 / 2) {
      const size_t n = std::min(step, message.size() - off);
      ASSERT_TRUE(reader.Feed(Span(message.substr(off, n)), 4 << 20, pool, on_message).ok());
      off += n;
      if (off < message.size()) {
        // Never more than twice what arrived (or the smallest start), times
        // the pool's class rounding (classes grow 4x).
        const size_t rounding = pool != nullptr ? 4 : 1;
        EXPECT_LE(reader.HeapBytes(), std::max<size_t>(2 * rounding * off, kAssemblyMinStorage))
            << off;
        most_over = std::max(most_over, reader.HeapBytes());
      }
    }
    EXPECT_EQ(got.size(), message.size());
    EXPECT_TRUE(got == message);
    EXPECT_LE(most_over, size_t{length});
    EXPECT_EQ(reader.HeapBytes(), 0u);
  }
  EXPECT_EQ(storage->OutstandingBytes(), 0u);
}

TEST(MessageReaderTest, BudgetBoundsWhatPartialMessagesHoldTogether) {
  AssemblyBudget budget;
  budget.limit = 100000;
  auto ok = [](absl::Span<const uint8_t>, bool) { return absl::OkStatus(); };
  std::vector<std::unique_ptr<MessageReader>> readers;
  absl::Status last;
  const std::string piece(30000, 'x');
  // Each reader announces 4 MiB and sends 30,000 bytes, held as they are
  // (no pool): the fourth would go over 100,000.
  for (int i = 0; i < 4; ++i) {
    readers.push_back(std::make_unique<MessageReader>());
    readers.back()->set_budget(&budget);
    last = readers.back()->Feed(Span(Prefix(4 << 20) + piece), 4 << 20, nullptr, ok);
    if (!last.ok()) break;
  }
  EXPECT_EQ(last.code(), absl::StatusCode::kResourceExhausted) << last;
  EXPECT_NE(last.message().find("above its limit of 100000"), std::string::npos) << last;
  EXPECT_LE(budget.held, budget.limit);
  EXPECT_LE(budget.high_water, budget.limit);
  const size_t held = budget.held;
  // A reset (the failed call's end) gives its share back; so does a message
  // that completes.
  readers.back()->Reset();
  EXPECT_EQ(budget.held, held);
  readers[0]->Reset();
  readers[1]->Reset();
  EXPECT_EQ(budget.held, held - 60000);
  MessageReader whole;
  whole.set_budget(&budget);
  ASSERT_TRUE(whole.Feed(Span(Prefix(50000) + std::string(20000, 'y')), 4 << 20, nullptr, ok).ok());
  ASSERT_TRUE(whole.Feed(Span(std::string(30000, 'y')), 4 << 20, nullptr, ok).ok());
  readers.clear();
  EXPECT_EQ(budget.held, 0u);
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
