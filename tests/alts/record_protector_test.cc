#include "alts/record_protector.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "alts/record_crypter.h"
#include "alts/record_protocol.h"
#include "frame/frame_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/alts/record_test_util.h"

namespace alts {
namespace {

using ::alts::testing_util::Bytes;
using ::alts::testing_util::Concat;
using ::alts::testing_util::Hex;
using ::alts::testing_util::KeyB;
using ::alts::testing_util::Text;
using ::testing::Each;
using ::testing::HasSubstr;

std::vector<uint8_t> KeyFor(RecordProtocol protocol) {
  return protocol == RecordProtocol::kAes128Gcm ? Bytes(testing_util::kKeyA) : KeyB();
}

RecordProtector Make(RecordProtocol protocol, Side side,
                     size_t max_frame_size = kDefaultMaxFrameSize) {
  absl::StatusOr<RecordProtector> p =
      RecordProtector::Create(protocol, side, KeyFor(protocol), max_frame_size);
  EXPECT_TRUE(p.ok()) << p.status();
  return std::move(*p);
}

std::vector<uint8_t> SealAll(RecordProtector& p, absl::Span<const uint8_t> plaintext) {
  std::vector<uint8_t> out(p.SealedSize(plaintext.size()));
  absl::StatusOr<size_t> n = p.Seal(plaintext, absl::MakeSpan(out));
  EXPECT_TRUE(n.ok()) << n.status();
  if (n.ok()) {
    EXPECT_EQ(*n, out.size());
  }
  return out;
}

std::vector<uint8_t> Pattern(size_t size, uint32_t seed) {
  std::vector<uint8_t> out(size);
  std::mt19937 rng(seed);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

// StreamReader plays the layer above OpenNext: it appends what arrives to a
// buffer, opens every whole frame at its front and collects the plaintext.
class StreamReader {
 public:
  explicit StreamReader(RecordProtector& protector) : protector_(protector) {}

  absl::Status Feed(absl::Span<const uint8_t> bytes) {
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    size_t start = 0;
    absl::Status status;
    while (true) {
      absl::StatusOr<OpenResult> r = protector_.OpenNext(absl::MakeSpan(buffer_).subspan(start));
      if (!r.ok()) {
        status = r.status();
        break;
      }
      if (r->consumed == 0) {
        bytes_needed_ = r->bytes_needed;
        pending_frame_size_ = r->pending_frame_size;
        break;
      }
      EXPECT_EQ(r->plaintext.data(), buffer_.data() + start + kFrameHeaderSize);
      plaintext_.insert(plaintext_.end(), r->plaintext.begin(), r->plaintext.end());
      ++frames_;
      start += r->consumed;
    }
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(start));
    return status;
  }

  absl::Status Eof() { return protector_.EndOfStream(buffer_); }

  const std::vector<uint8_t>& plaintext() const { return plaintext_; }
  size_t frames() const { return frames_; }
  size_t bytes_needed() const { return bytes_needed_; }
  size_t pending_frame_size() const { return pending_frame_size_; }
  size_t buffered() const { return buffer_.size(); }

 private:
  RecordProtector& protector_;
  std::vector<uint8_t> buffer_;
  std::vector<uint8_t> plaintext_;
  size_t frames_ = 0;
  size_t bytes_needed_ = 0;
  size_t pending_frame_size_ = 0;
};

// ---------------------------------------------------------------------------
// Spec section 5.2, both directions.

TEST(RecordProtectorVectorsTest, AesGcmSealsSpecFrames) {
  absl::StatusOr<RecordProtector> client =
      RecordProtector::Create("ALTSRP_GCM_AES128", Side::kClient, Bytes(testing_util::kKeyA));
  absl::StatusOr<RecordProtector> server =
      RecordProtector::Create("ALTSRP_GCM_AES128", Side::kServer, Bytes(testing_util::kKeyA));
  ASSERT_TRUE(client.ok() && server.ok());
  EXPECT_EQ(Hex(SealAll(*client, Text("Client Message"))), testing_util::kA_Client0);
  EXPECT_EQ(Hex(SealAll(*client, Text("Client Message"))), testing_util::kA_Client1);
  EXPECT_EQ(Hex(SealAll(*server, Text("Server Message"))), testing_util::kA_Server0);
  EXPECT_EQ(Hex(SealAll(*server, Text("Server Message"))), testing_util::kA_Server1);
}

TEST(RecordProtectorVectorsTest, AesGcmOpensSpecFrames) {
  RecordProtector client = Make(RecordProtocol::kAes128Gcm, Side::kClient);
  RecordProtector server = Make(RecordProtocol::kAes128Gcm, Side::kServer);
  StreamReader at_server(server);
  ASSERT_TRUE(
      at_server.Feed(Concat({Bytes(testing_util::kA_Client0), Bytes(testing_util::kA_Client1)}))
          .ok());
  EXPECT_EQ(at_server.plaintext(), Text("Client MessageClient Message"));
  EXPECT_EQ(at_server.frames(), 2u);
  StreamReader at_client(client);
  ASSERT_TRUE(
      at_client.Feed(Concat({Bytes(testing_util::kA_Server0), Bytes(testing_util::kA_Server1)}))
          .ok());
  EXPECT_EQ(at_client.plaintext(), Text("Server MessageServer Message"));
  EXPECT_TRUE(at_client.Eof().ok());
  EXPECT_TRUE(at_server.Eof().ok());
}

TEST(RecordProtectorVectorsTest, RekeySealsSpecFrames) {
  absl::StatusOr<RecordProtector> client =
      RecordProtector::Create("ALTSRP_GCM_AES128_REKEY", Side::kClient, KeyB());
  absl::StatusOr<RecordProtector> server =
      RecordProtector::Create("ALTSRP_GCM_AES128_REKEY", Side::kServer, KeyB());
  ASSERT_TRUE(client.ok() && server.ok());
  const std::vector<uint8_t> hello = Text("Hello, ALTS!");
  EXPECT_EQ(Hex(SealAll(*client, hello)), testing_util::kB_Client0);
  EXPECT_EQ(Hex(SealAll(*client, hello)), testing_util::kB_Client1);
  EXPECT_EQ(Hex(SealAll(*server, hello)), testing_util::kB_Server0);
  EXPECT_EQ(Hex(SealAll(*server, hello)), testing_util::kB_Server1);
  client->seal_crypter_for_testing().counter_for_testing().SetLowForTesting(65536);
  server->seal_crypter_for_testing().counter_for_testing().SetLowForTesting(65536);
  EXPECT_EQ(Hex(SealAll(*client, hello)), testing_util::kB_Client65536);
  EXPECT_EQ(Hex(SealAll(*server, hello)), testing_util::kB_Server65536);
}

TEST(RecordProtectorVectorsTest, RekeyOpensSpecFrames) {
  RecordProtector client = Make(RecordProtocol::kAes128GcmRekey, Side::kClient);
  RecordProtector server = Make(RecordProtocol::kAes128GcmRekey, Side::kServer);
  StreamReader at_server(server);
  ASSERT_TRUE(
      at_server.Feed(Concat({Bytes(testing_util::kB_Client0), Bytes(testing_util::kB_Client1)}))
          .ok());
  EXPECT_EQ(at_server.plaintext(), Text("Hello, ALTS!Hello, ALTS!"));
  StreamReader at_client(client);
  ASSERT_TRUE(
      at_client.Feed(Concat({Bytes(testing_util::kB_Server0), Bytes(testing_util::kB_Server1)}))
          .ok());
  EXPECT_EQ(at_client.plaintext(), Text("Hello, ALTS!Hello, ALTS!"));

  server.open_crypter_for_testing().counter_for_testing().SetLowForTesting(65536);
  client.open_crypter_for_testing().counter_for_testing().SetLowForTesting(65536);
  ASSERT_TRUE(at_server.Feed(Bytes(testing_util::kB_Client65536)).ok());
  ASSERT_TRUE(at_client.Feed(Bytes(testing_util::kB_Server65536)).ok());
  EXPECT_EQ(at_server.frames(), 3u);
  EXPECT_EQ(at_client.frames(), 3u);
}

TEST(RecordProtectorVectorsTest, EmptyFrameSealsAndOpensToNothing) {
  RecordProtector client = Make(RecordProtocol::kAes128GcmRekey, Side::kClient);
  RecordProtector server = Make(RecordProtocol::kAes128GcmRekey, Side::kServer);
  EXPECT_EQ(client.SealedSize(0), 24u);
  EXPECT_EQ(Hex(SealAll(client, {})), testing_util::kB_ClientEmpty0);

  std::vector<uint8_t> frame = Bytes(testing_util::kB_ClientEmpty0);
  absl::StatusOr<OpenResult> r = server.OpenNext(absl::MakeSpan(frame));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->consumed, 24u);
  EXPECT_TRUE(r->plaintext.empty());
  // The empty frame used counter 0: the next one is #1.
  std::vector<uint8_t> next = Bytes(testing_util::kB_Client1);
  r = server.OpenNext(absl::MakeSpan(next));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::string(r->plaintext.begin(), r->plaintext.end()), "Hello, ALTS!");
}

TEST(RecordProtectorVectorsTest, LongKeyDataIsTruncated) {
  std::vector<uint8_t> key = Bytes(testing_util::kKeyA);
  key.resize(44, 0xEE);  // as if the handshake produced more key material
  absl::StatusOr<RecordProtector> client =
      RecordProtector::Create(RecordProtocol::kAes128Gcm, Side::kClient, key);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(Hex(SealAll(*client, Text("Client Message"))), testing_util::kA_Client0);

  key = KeyB();
  key.resize(128, 0xEE);
  absl::StatusOr<RecordProtector> rekey =
      RecordProtector::Create(RecordProtocol::kAes128GcmRekey, Side::kServer, key);
  ASSERT_TRUE(rekey.ok());
  EXPECT_EQ(Hex(SealAll(*rekey, Text("Hello, ALTS!"))), testing_util::kB_Server0);
}

// ---------------------------------------------------------------------------
// Create and argument checks.

TEST(RecordProtectorCreateTest, RejectsUnknownProtocolName) {
  absl::StatusOr<RecordProtector> p =
      RecordProtector::Create("ALTSRP_GCM_AES256", Side::kClient, KeyB());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("ALTSRP_GCM_AES256"));
  EXPECT_EQ(RecordProtector::Create(static_cast<RecordProtocol>(5), Side::kClient, KeyB())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RecordProtectorCreateTest, RejectsShortKeyData) {
  std::vector<uint8_t> key = KeyB();
  EXPECT_EQ(RecordProtector::Create(RecordProtocol::kAes128GcmRekey, Side::kClient,
                                    absl::MakeConstSpan(key).first(43))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RecordProtector::Create(RecordProtocol::kAes128Gcm, Side::kServer,
                                    absl::MakeConstSpan(key).first(15))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RecordProtector::Create(RecordProtocol::kAes128Gcm, Side::kServer, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RecordProtectorCreateTest, MaxFrameSizeRange) {
  for (size_t bad : {size_t{0}, kMinMaxFrameSize - 1, kMaxMaxFrameSize + 1, SIZE_MAX}) {
    EXPECT_EQ(
        RecordProtector::Create(RecordProtocol::kAes128Gcm, Side::kClient, KeyB(), bad)
            .status()
            .code(),
        absl::StatusCode::kInvalidArgument)
        << bad;
  }
  for (size_t good : {kMinMaxFrameSize, size_t{4096}, kDefaultMaxFrameSize, kMaxMaxFrameSize}) {
    absl::StatusOr<RecordProtector> p =
        RecordProtector::Create(RecordProtocol::kAes128Gcm, Side::kClient, KeyB(), good);
    ASSERT_TRUE(p.ok()) << good;
    EXPECT_EQ(p->max_frame_size(), good);
    EXPECT_EQ(p->max_plaintext_per_frame(), good - kFrameOverhead);
    EXPECT_EQ(p->protocol(), RecordProtocol::kAes128Gcm);
    EXPECT_EQ(p->side(), Side::kClient);
  }
}

TEST(RecordProtectorSealTest, SealedSize) {
  RecordProtector p = Make(RecordProtocol::kAes128Gcm, Side::kClient, 1024);
  const size_t per = 1000;
  EXPECT_EQ(p.SealedSize(0), 24u);
  EXPECT_EQ(p.SealedSize(1), 25u);
  EXPECT_EQ(p.SealedSize(per), 1024u);
  EXPECT_EQ(p.SealedSize(per + 1), 1024u + 25u);
  EXPECT_EQ(p.SealedSize(3 * per), 3 * 1024u);
}

TEST(RecordProtectorSealTest, RejectsShortOrOverlappingOutputWithoutDying) {
  RecordProtector p = Make(RecordProtocol::kAes128Gcm, Side::kClient);
  const std::vector<uint8_t> msg = Text("Client Message");
  std::vector<uint8_t> out(p.SealedSize(msg.size()) - 1, 0xAA);
  EXPECT_EQ(p.Seal(msg, absl::MakeSpan(out)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(out, Each(0xAA));
  std::vector<uint8_t> shared(100);
  EXPECT_EQ(p.Seal(absl::MakeConstSpan(shared).subspan(20, 14), absl::MakeSpan(shared))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(p.seal_status().ok());
  // Nothing was used up: the next seal is still frame #0.
  EXPECT_EQ(Hex(SealAll(p, msg)), testing_util::kA_Client0);
}

TEST(RecordProtectorSealTest, LargerOutputIsFineAndOnlyTheFrontIsWritten) {
  RecordProtector p = Make(RecordProtocol::kAes128Gcm, Side::kClient);
  const std::vector<uint8_t> msg = Text("Client Message");
  std::vector<uint8_t> out(100, 0xAA);
  absl::StatusOr<size_t> n = p.Seal(msg, absl::MakeSpan(out));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 38u);
  EXPECT_EQ(Hex(absl::MakeConstSpan(out).first(38)), testing_util::kA_Client0);
  EXPECT_THAT(absl::MakeConstSpan(out).subspan(38), Each(0xAA));
}

TEST(RecordProtectorSealTest, SealFrameInPlaceMatchesSeal) {
  RecordProtector p = Make(RecordProtocol::kAes128Gcm, Side::kClient);
  std::vector<uint8_t> frame(38, 0);
  const std::vector<uint8_t> msg = Text("Client Message");
  std::copy(msg.begin(), msg.end(), frame.begin() + 8);
  ASSERT_TRUE(p.SealFrameInPlace(absl::MakeSpan(frame)).ok());
  EXPECT_EQ(Hex(frame), testing_util::kA_Client0);
  std::copy(msg.begin(), msg.end(), frame.begin() + 8);
  ASSERT_TRUE(p.SealFrameInPlace(absl::MakeSpan(frame)).ok());
  EXPECT_EQ(Hex(frame), testing_util::kA_Client1);
}

TEST(RecordProtectorSealTest, SealFrameInPlaceSizeLimits) {
  RecordProtector p = Make(RecordProtocol::kAes128GcmRekey, Side::kClient, 4096);
  std::vector<uint8_t> frame(4097);
  EXPECT_EQ(p.SealFrameInPlace(absl::MakeSpan(frame)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.SealFrameInPlace(absl::MakeSpan(frame).first(23)).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(p.SealFrameInPlace(absl::MakeSpan(frame).first(24)).ok());
  EXPECT_EQ(Hex(absl::MakeConstSpan(frame).first(24)), testing_util::kB_ClientEmpty0);
  const std::vector<uint8_t> empty_frame(frame.begin(), frame.begin() + 24);
  EXPECT_EQ(Hex(empty_frame), testing_util::kB_ClientEmpty0);
  std::fill(frame.begin(), frame.end(), 0);
  ASSERT_TRUE(p.SealFrameInPlace(absl::MakeSpan(frame).first(4096)).ok());

  RecordProtector server = Make(RecordProtocol::kAes128GcmRekey, Side::kServer);
  StreamReader reader(server);
  ASSERT_TRUE(reader.Feed(absl::MakeConstSpan(Bytes(testing_util::kB_ClientEmpty0))).ok());
  ASSERT_TRUE(reader.Feed(absl::MakeConstSpan(frame).first(4096)).ok());
  EXPECT_EQ(reader.plaintext(), std::vector<uint8_t>(4096 - 24, 0));
}

// ---------------------------------------------------------------------------
// Round trips, streaming.

class RecordProtectorRoundTripTest
    : public ::testing::TestWithParam<std::tuple<RecordProtocol, size_t>> {
 protected:
  RecordProtocol protocol() const { return std::get<0>(GetParam()); }
  size_t max_frame_size() const { return std::get<1>(GetParam()); }
};

TEST_P(RecordProtectorRoundTripTest, BothWaysManyFramesInOneInput) {
  RecordProtector client = Make(protocol(), Side::kClient, max_frame_size());
  RecordProtector server = Make(protocol(), Side::kServer, max_frame_size());
  StreamReader at_server(server);
  StreamReader at_client(client);
  std::vector<uint8_t> sent_by_client;
  std::vector<uint8_t> sent_by_server;
  std::vector<uint8_t> wire_c2s;
  std::vector<uint8_t> wire_s2c;
  const size_t per = client.max_plaintext_per_frame();
  const size_t sizes[] = {0, 1, per - 1, per, per + 1, 3 * per, 5000, 17};
  uint32_t seed = 1;
  for (size_t size : sizes) {
    std::vector<uint8_t> a = Pattern(size, seed++);
    std::vector<uint8_t> b = Pattern(size, seed++);
    std::vector<uint8_t> fa = SealAll(client, a);
    std::vector<uint8_t> fb = SealAll(server, b);
    sent_by_client.insert(sent_by_client.end(), a.begin(), a.end());
    sent_by_server.insert(sent_by_server.end(), b.begin(), b.end());
    wire_c2s.insert(wire_c2s.end(), fa.begin(), fa.end());
    wire_s2c.insert(wire_s2c.end(), fb.begin(), fb.end());
  }
  ASSERT_TRUE(at_server.Feed(wire_c2s).ok());
  ASSERT_TRUE(at_client.Feed(wire_s2c).ok());
  EXPECT_EQ(at_server.plaintext(), sent_by_client);
  EXPECT_EQ(at_client.plaintext(), sent_by_server);
  EXPECT_EQ(at_server.buffered(), 0u);
  EXPECT_TRUE(at_server.Eof().ok());
  EXPECT_TRUE(at_client.Eof().ok());
}

TEST_P(RecordProtectorRoundTripTest, EveryFrameFitsTheMaxFrameSize) {
  RecordProtector client = Make(protocol(), Side::kClient, max_frame_size());
  const size_t per = client.max_plaintext_per_frame();
  const std::vector<uint8_t> msg = Pattern(2 * per + 7, 9);
  const std::vector<uint8_t> wire = SealAll(client, msg);
  ASSERT_EQ(wire.size(), 2 * max_frame_size() + 7 + kFrameOverhead);
  // Frames 0 and 1 are exactly max_frame_size; the last holds 7 bytes.
  auto length_at = [&](size_t offset) {
    return static_cast<size_t>(wire[offset]) | static_cast<size_t>(wire[offset + 1]) << 8 |
           static_cast<size_t>(wire[offset + 2]) << 16 | static_cast<size_t>(wire[offset + 3]) << 24;
  };
  EXPECT_EQ(length_at(0) + 4, max_frame_size());
  EXPECT_EQ(length_at(max_frame_size()) + 4, max_frame_size());
  EXPECT_EQ(length_at(2 * max_frame_size()) + 4, 7 + kFrameOverhead);
}

TEST_P(RecordProtectorRoundTripTest, OneByteAtATime) {
  RecordProtector client = Make(protocol(), Side::kClient, max_frame_size());
  RecordProtector server = Make(protocol(), Side::kServer, max_frame_size());
  const std::vector<uint8_t> msg = Pattern(std::min<size_t>(3000, 2 * max_frame_size()), 3);
  const std::vector<uint8_t> wire = Concat({SealAll(client, msg), SealAll(client, {})});
  StreamReader reader(server);
  for (size_t i = 0; i < wire.size(); ++i) {
    ASSERT_TRUE(reader.Feed(absl::MakeConstSpan(&wire[i], 1)).ok()) << i;
    if (reader.buffered() > 0) {
      if (reader.buffered() < 4) {
        EXPECT_EQ(reader.bytes_needed(), 4 - reader.buffered());
        EXPECT_EQ(reader.pending_frame_size(), 0u);
      } else {
        EXPECT_EQ(reader.bytes_needed(), reader.pending_frame_size() - reader.buffered());
      }
    }
  }
  EXPECT_EQ(reader.plaintext(), msg);
  EXPECT_EQ(reader.frames(), (msg.size() - 1) / client.max_plaintext_per_frame() + 2);
  EXPECT_TRUE(reader.Eof().ok());
}

TEST_P(RecordProtectorRoundTripTest, RandomPieces) {
  RecordProtector client = Make(protocol(), Side::kClient, max_frame_size());
  RecordProtector server = Make(protocol(), Side::kServer, max_frame_size());
  std::mt19937 rng(77);
  std::vector<uint8_t> sent;
  std::vector<uint8_t> wire;
  for (int m = 0; m < 12; ++m) {
    std::vector<uint8_t> msg = Pattern(rng() % (2 * max_frame_size() + 1), rng());
    std::vector<uint8_t> frames = SealAll(server, msg);
    sent.insert(sent.end(), msg.begin(), msg.end());
    wire.insert(wire.end(), frames.begin(), frames.end());
  }
  StreamReader reader(client);
  size_t offset = 0;
  while (offset < wire.size()) {
    // Mostly small pieces (splitting headers and tags), some up to half a frame.
    const size_t limit = rng() % 4 == 0 ? max_frame_size() / 2 : 64;
    const size_t piece = std::min<size_t>(wire.size() - offset, 1 + rng() % limit);
    ASSERT_TRUE(reader.Feed(absl::MakeConstSpan(wire).subspan(offset, piece)).ok());
    offset += piece;
  }
  EXPECT_EQ(reader.plaintext(), sent);
  EXPECT_TRUE(reader.Eof().ok());
}

TEST_P(RecordProtectorRoundTripTest, AcrossARekeyEpoch) {
  RecordProtector client = Make(protocol(), Side::kClient, max_frame_size());
  RecordProtector server = Make(protocol(), Side::kServer, max_frame_size());
  client.seal_crypter_for_testing().counter_for_testing().SetLowForTesting(0xFFFD);
  server.open_crypter_for_testing().counter_for_testing().SetLowForTesting(0xFFFD);
  StreamReader reader(server);
  std::vector<uint8_t> sent;
  for (int i = 0; i < 6; ++i) {
    std::vector<uint8_t> msg = Pattern(100, i);
    sent.insert(sent.end(), msg.begin(), msg.end());
    ASSERT_TRUE(reader.Feed(SealAll(client, msg)).ok());
  }
  EXPECT_EQ(reader.plaintext(), sent);
}

INSTANTIATE_TEST_SUITE_P(
    All, RecordProtectorRoundTripTest,
    ::testing::Combine(::testing::Values(RecordProtocol::kAes128Gcm,
                                         RecordProtocol::kAes128GcmRekey),
                       ::testing::Values(kMinMaxFrameSize, size_t{4096}, kDefaultMaxFrameSize,
                                         kMaxMaxFrameSize)),
    [](const ::testing::TestParamInfo<std::tuple<RecordProtocol, size_t>>& info) {
      return std::string(std::get<0>(info.param) == RecordProtocol::kAes128Gcm ? "Gcm"
                                                                                : "GcmRekey") +
             "_" + std::to_string(std::get<1>(info.param));
    });

// ---------------------------------------------------------------------------
// Attacks and failures, per protocol.

class RecordProtectorAttackTest : public ::testing::TestWithParam<RecordProtocol> {
 protected:
  RecordProtector Client() { return Make(GetParam(), Side::kClient); }
  RecordProtector Server() { return Make(GetParam(), Side::kServer); }
};

TEST_P(RecordProtectorAttackTest, AcceptsAOneMiBLengthField) {
  // Our own Seal never writes a frame over 1 MiB in total, but a peer may
  // send a length field of exactly 1 MiB (a 1 MiB + 4 byte frame).
  absl::StatusOr<RecordCrypter> peer = RecordCrypter::Create(GetParam(), KeyFor(GetParam()), false);
  ASSERT_TRUE(peer.ok());
  std::vector<uint8_t> frame = Pattern(kMaxFrameSize, 5);
  const std::vector<uint8_t> plaintext(frame.begin() + 8, frame.end() - 16);
  ASSERT_TRUE(WriteFrameHeader(kMaxFrameSize - kFrameOverhead, absl::MakeSpan(frame)).ok());
  absl::Span<uint8_t> payload = absl::MakeSpan(frame).subspan(8, frame.size() - 24);
  ASSERT_TRUE(peer->Seal(payload, payload, absl::MakeSpan(frame).last(16)).ok());
  EXPECT_EQ(frame[0] | frame[1] << 8 | frame[2] << 16 | frame[3] << 24, 1 << 20);

  RecordProtector server = Server();
  absl::StatusOr<OpenResult> r = server.OpenNext(absl::MakeSpan(frame).first(4));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pending_frame_size, kMaxFrameSize);
  EXPECT_EQ(r->bytes_needed, kMaxFrameSize - 4);
  r = server.OpenNext(absl::MakeSpan(frame));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->consumed, kMaxFrameSize);
  EXPECT_TRUE(std::equal(r->plaintext.begin(), r->plaintext.end(), plaintext.begin(),
                         plaintext.end()));
}

TEST_P(RecordProtectorAttackTest, RejectsOneByteOverTheLimitFromTheLengthAlone) {
  RecordProtector server = Server();
  std::vector<uint8_t> length = {0x01, 0x00, 0x10, 0x00};  // 1 MiB + 1
  for (size_t n = 0; n < 4; ++n) {
    absl::StatusOr<OpenResult> r = server.OpenNext(absl::MakeSpan(length).first(n));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->bytes_needed, 4 - n);
  }
  absl::StatusOr<OpenResult> r = server.OpenNext(absl::MakeSpan(length));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("too large"));
  // Sticky: a genuine frame is refused after it.
  RecordProtector client = Client();
  std::vector<uint8_t> good = SealAll(client, Text("hi"));
  EXPECT_EQ(server.OpenNext(absl::MakeSpan(good)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.open_status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.EndOfStream({}).code(), absl::StatusCode::kInvalidArgument);
  // The send direction is unaffected.
  EXPECT_TRUE(server.seal_status().ok());
  EXPECT_EQ(SealAll(server, Text("still sending")).size(), 13 + kFrameOverhead);
}

TEST_P(RecordProtectorAttackTest, TamperingWithAnyBitOfAFrame) {
  RecordProtector client = Client();
  const std::vector<uint8_t> frame = SealAll(client, Text("Client Message"));
  const std::vector<uint8_t> next = SealAll(client, Text("and another frame after it"));
  ASSERT_EQ(frame.size(), 38u);
  for (size_t i = 0; i < frame.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> tampered = frame;
      tampered[i] ^= static_cast<uint8_t>(1 << bit);
      absl::StatusCode expected = absl::StatusCode::kDataLoss;
      if (i < 4) {
        const uint32_t length = tampered[0] | tampered[1] << 8 | tampered[2] << 16 |
                                static_cast<uint32_t>(tampered[3]) << 24;
        if (length > kMaxFrameLengthField || length < kMinFrameLengthField) {
          expected = absl::StatusCode::kInvalidArgument;
        }
      } else if (i < 8) {
        expected = absl::StatusCode::kInvalidArgument;
      }
      RecordProtector server = Server();
      StreamReader reader(server);
      absl::Status status = reader.Feed(Concat({tampered, next}));
      // A longer length field may leave the reader waiting for more; the
      // stream then ends inside that frame.
      if (status.ok()) status = reader.Eof();
      EXPECT_EQ(status.code(), expected) << "byte " << i << " bit " << bit << ": " << status;
      EXPECT_TRUE(reader.plaintext().empty()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(server.open_status().code(), expected) << "byte " << i << " bit " << bit;
    }
  }
}

TEST_P(RecordProtectorAttackTest, FailedFrameIsWipedInTheInput) {
  RecordProtector client = Client();
  RecordProtector server = Server();
  std::vector<uint8_t> frame = SealAll(client, Text("secret payload!"));
  frame.back() ^= 1;  // tag
  EXPECT_EQ(server.OpenNext(absl::MakeSpan(frame)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(absl::MakeConstSpan(frame).subspan(8, 15), Each(0));
}

TEST_P(RecordProtectorAttackTest, Replay) {
  RecordProtector client = Client();
  RecordProtector server = Server();
  std::vector<uint8_t> f0 = SealAll(client, Text("frame zero"));
  std::vector<uint8_t> copy = f0;
  ASSERT_TRUE(server.OpenNext(absl::MakeSpan(f0)).ok());
  EXPECT_EQ(server.OpenNext(absl::MakeSpan(copy)).status().code(), absl::StatusCode::kDataLoss);
}

TEST_P(RecordProtectorAttackTest, Reorder) {
  RecordProtector client = Client();
  RecordProtector server = Server();
  std::vector<uint8_t> f0 = SealAll(client, Text("frame zero"));
  std::vector<uint8_t> f1 = SealAll(client, Text("frame one"));
  EXPECT_EQ(server.OpenNext(absl::MakeSpan(f1)).status().code(), absl::StatusCode::kDataLoss);
  // Sticky: the right frame no longer helps.
  EXPECT_EQ(server.OpenNext(absl::MakeSpan(f0)).status().code(), absl::StatusCode::kDataLoss);
}

TEST_P(RecordProtectorAttackTest, DroppedFrame) {
  RecordProtector client = Client();
  RecordProtector server = Server();
  SealAll(client, Text("frame zero, lost"));
  std::vector<uint8_t> f1 = SealAll(client, Text("frame one"));
  EXPECT_EQ(server.OpenNext(absl::MakeSpan(f1)).status().code(), absl::StatusCode::kDataLoss);
}

TEST_P(RecordProtectorAttackTest, ReflectionOfOwnFrames) {
  for (Side side : {Side::kClient, Side::kServer}) {
    RecordProtector p = Make(GetParam(), side);
    std::vector<uint8_t> own = SealAll(p, Text("sent by me"));
    EXPECT_EQ(p.OpenNext(absl::MakeSpan(own)).status().code(), absl::StatusCode::kDataLoss);
  }
}

TEST_P(RecordProtectorAttackTest, WrongKey) {
  RecordProtector client = Client();
  std::vector<uint8_t> key = KeyFor(GetParam());
  key[0] ^= 1;
  absl::StatusOr<RecordProtector> server =
      RecordProtector::Create(GetParam(), Side::kServer, key);
  ASSERT_TRUE(server.ok());
  std::vector<uint8_t> f0 = SealAll(client, Text("frame zero"));
  EXPECT_EQ(server->OpenNext(absl::MakeSpan(f0)).status().code(), absl::StatusCode::kDataLoss);
}

TEST_P(RecordProtectorAttackTest, TruncatedFrame) {
  RecordProtector client = Client();
  RecordProtector server = Server();
  std::vector<uint8_t> frame = SealAll(client, Text("cut short by the peer"));
  for (size_t n = 1; n < frame.size(); ++n) {
    RecordProtector s = Server();
    StreamReader reader(s);
    ASSERT_TRUE(reader.Feed(absl::MakeConstSpan(frame).first(n)).ok()) << n;
    EXPECT_EQ(reader.bytes_needed(), n < 4 ? 4 - n : frame.size() - n) << n;
    absl::Status eof = reader.Eof();
    EXPECT_EQ(eof.code(), absl::StatusCode::kDataLoss) << n;
    EXPECT_THAT(std::string(eof.message()), HasSubstr("truncated frame"));
    // Sticky.
    EXPECT_EQ(s.OpenNext(absl::MakeSpan(frame)).status().code(), absl::StatusCode::kDataLoss);
  }
  // A whole frame left unopened is the caller's mistake, and not sticky.
  EXPECT_EQ(server.EndOfStream(frame).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(server.OpenNext(absl::MakeSpan(frame)).ok());
  EXPECT_TRUE(server.EndOfStream({}).ok());
}

TEST_P(RecordProtectorAttackTest, FailureInOneDirectionLeavesTheOther) {
  RecordProtector client = Client();
  RecordProtector server = Server();
  std::vector<uint8_t> bad = SealAll(client, Text("x"));
  bad[10] ^= 1;
  EXPECT_EQ(server.OpenNext(absl::MakeSpan(bad)).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(server.open_status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(server.seal_status().ok());
  StreamReader reader(client);
  ASSERT_TRUE(reader.Feed(SealAll(server, Text("reply still works"))).ok());
  EXPECT_EQ(reader.plaintext(), Text("reply still works"));
}

TEST_P(RecordProtectorAttackTest, CounterOverflowOnSealAndOpen) {
  RecordProtector client = Client();
  RecordProtector server = Server();
  const size_t overflow = CounterOverflowSize(GetParam());
  const uint64_t last = overflow == 8 ? UINT64_MAX : (uint64_t{1} << (8 * overflow)) - 1;
  client.seal_crypter_for_testing().counter_for_testing().SetLowForTesting(last - 1);
  server.open_crypter_for_testing().counter_for_testing().SetLowForTesting(last - 1);
  StreamReader reader(server);
  ASSERT_TRUE(reader.Feed(SealAll(client, Text("second to last"))).ok());
  // The frame with the last counter value opens; the reader's next OpenNext
  // (with nothing left) then reports that the direction is used up.
  EXPECT_EQ(reader.Feed(SealAll(client, Text("last"))).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(reader.plaintext(), Text("second to lastlast"));
  EXPECT_EQ(reader.frames(), 2u);

  // Seal: the counter is used up, nothing is written, and it stays that way.
  std::vector<uint8_t> out(100, 0xAA);
  EXPECT_EQ(client.Seal(Text("one more"), absl::MakeSpan(out)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(out, Each(0xAA));
  EXPECT_EQ(client.SealFrameInPlace(absl::MakeSpan(out).first(30)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(out, Each(0xAA));
  EXPECT_EQ(client.seal_status().code(), absl::StatusCode::kResourceExhausted);
  // Open: the receive counter is used up too; nothing more is accepted.
  EXPECT_EQ(server.open_status().code(), absl::StatusCode::kResourceExhausted);
  RecordProtector other_client = Client();
  std::vector<uint8_t> more = SealAll(other_client, Text("more"));
  EXPECT_EQ(server.OpenNext(absl::MakeSpan(more)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(server.OpenNext({}).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_P(RecordProtectorAttackTest, MultiFrameSealNeverWritesHalfAMessage) {
  RecordProtector client = Make(GetParam(), Side::kClient, 1024);
  const size_t overflow = CounterOverflowSize(GetParam());
  const uint64_t last = overflow == 8 ? UINT64_MAX : (uint64_t{1} << (8 * overflow)) - 1;
  client.seal_crypter_for_testing().counter_for_testing().SetLowForTesting(last - 1);
  const std::vector<uint8_t> three_frames(2 * 1000 + 1, 7);
  std::vector<uint8_t> out(client.SealedSize(three_frames.size()), 0xAA);
  EXPECT_EQ(client.Seal(three_frames, absl::MakeSpan(out)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(out, Each(0xAA));
  EXPECT_EQ(client.seal_status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_P(RecordProtectorAttackTest, MovedProtectorKeepsWorking) {
  RecordProtector client = Client();
  RecordProtector server = Server();
  std::vector<uint8_t> f0 = SealAll(client, Text("before the move"));
  RecordProtector moved = std::move(server);
  absl::StatusOr<OpenResult> r = moved.OpenNext(absl::MakeSpan(f0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(r->plaintext.begin(), r->plaintext.end()), "before the move");
  EXPECT_EQ(server.OpenNext(absl::MakeSpan(f0)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(RecordProtectorAttackTest, OpenNextIntoMatchesOpenNextAndLeavesTheInput) {
  RecordProtector client = Client();
  RecordProtector in_place = Server();
  RecordProtector into = Server();
  const std::vector<uint8_t> a = Pattern(3 * client.max_plaintext_per_frame() + 5, 11);
  const std::vector<uint8_t> wire = SealAll(client, a);
  std::vector<uint8_t> copy = wire;
  std::vector<uint8_t> plain_in_place;
  std::vector<uint8_t> plain_into;
  std::vector<uint8_t> out(wire.size(), 0xAA);
  size_t pos = 0;
  size_t out_pos = 0;
  while (pos < wire.size()) {
    absl::StatusOr<OpenResult> r = into.OpenNextInto(
        absl::MakeConstSpan(wire).subspan(pos), absl::MakeSpan(out).subspan(out_pos));
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_GT(r->consumed, 0u);
    EXPECT_EQ(r->plaintext.data(), out.data() + out_pos);
    out_pos += r->plaintext.size();
    absl::StatusOr<OpenResult> q = in_place.OpenNext(absl::MakeSpan(copy).subspan(pos));
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(q->consumed, r->consumed);
    plain_in_place.insert(plain_in_place.end(), q->plaintext.begin(), q->plaintext.end());
    pos += r->consumed;
  }
  plain_into.assign(out.begin(), out.begin() + out_pos);
  EXPECT_EQ(plain_into, a);
  EXPECT_EQ(plain_in_place, a);
  RecordProtector again = Client();
  EXPECT_EQ(wire, SealAll(again, a));  // the input still holds the ciphertext
  EXPECT_TRUE(into.EndOfStream({}).ok());
}

TEST_P(RecordProtectorAttackTest, OpenNextIntoIncompleteNeedsNoRoom) {
  RecordProtector client = Client();
  RecordProtector server = Server();
  const std::vector<uint8_t> frame = SealAll(client, Text("0123456789"));
  for (size_t n = 0; n < frame.size(); ++n) {
    absl::StatusOr<OpenResult> r =
        server.OpenNextInto(absl::MakeConstSpan(frame).first(n), absl::Span<uint8_t>());
    ASSERT_TRUE(r.ok()) << n << ": " << r.status();
    EXPECT_EQ(r->consumed, 0u);
    EXPECT_EQ(r->bytes_needed, n < 4 ? 4 - n : frame.size() - n);
  }
  std::vector<uint8_t> out(10);
  absl::StatusOr<OpenResult> r = server.OpenNextInto(frame, absl::MakeSpan(out));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::string(out.begin(), out.end()), "0123456789");
}

TEST_P(RecordProtectorAttackTest, OpenNextIntoRejectsShortOrOverlappingOutputWithoutDying) {
  RecordProtector client = Client();
  RecordProtector server = Server();
  std::vector<uint8_t> frame = SealAll(client, Text("0123456789"));
  std::vector<uint8_t> short_out(9);
  EXPECT_EQ(server.OpenNextInto(frame, absl::MakeSpan(short_out)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // The output may not overlap the frame, not even where the plaintext is.
  EXPECT_EQ(server.OpenNextInto(frame, absl::MakeSpan(frame).subspan(8, 10)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(server.OpenNextInto(frame, absl::MakeSpan(frame).subspan(4)).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Not sticky: the frame still opens, with the counter where it was.
  std::vector<uint8_t> out(10);
  absl::StatusOr<OpenResult> r = server.OpenNextInto(frame, absl::MakeSpan(out));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::string(out.begin(), out.end()), "0123456789");
}

TEST_P(RecordProtectorAttackTest, OpenNextIntoWipesTheOutputOfABadFrameAndSticks) {
  RecordProtector client = Client();
  RecordProtector server = Server();
  std::vector<uint8_t> frame = SealAll(client, Text("secret payload!"));
  const std::vector<uint8_t> next = SealAll(client, Text("next"));
  frame.back() ^= 1;  // tag
  std::vector<uint8_t> out(64, 0xAA);
  EXPECT_EQ(server.OpenNextInto(frame, absl::MakeSpan(out)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_THAT(absl::MakeConstSpan(out).first(15), Each(0));
  EXPECT_EQ(server.OpenNextInto(next, absl::MakeSpan(out)).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(server.OpenNext(absl::MakeSpan(frame)).status().code(), absl::StatusCode::kDataLoss);
}

INSTANTIATE_TEST_SUITE_P(BothProtocols, RecordProtectorAttackTest,
                         ::testing::Values(RecordProtocol::kAes128Gcm,
                                           RecordProtocol::kAes128GcmRekey),
                         [](const ::testing::TestParamInfo<RecordProtocol>& info) {
                           return info.param == RecordProtocol::kAes128Gcm ? "Gcm" : "GcmRekey";
                         });

}  // namespace
}  // namespace alts
