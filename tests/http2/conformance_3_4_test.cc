// RFC 9113 sections 3 (starting HTTP/2: the preface) and 4 (frame format,
// frame size, field section compression), as h2spec names its cases. Each
// test plays the peer with raw frames and checks the exact frames and events
// that come out.
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http2/session.h"
#include "tests/http2/h2_test_util.h"

namespace alts::http2::testing {
namespace {

// --- 3.4 HTTP/2 connection preface ------------------------------------------

TEST(Rfc9113_3_4, ServerPrefaceIsSettingsFirst) {
  SessionHarness h(Role::kServer);
  h.session->Start();
  std::vector<ParsedFrame> out = h.TakeFrames();
  ASSERT_GE(out.size(), 1u);
  EXPECT_EQ(out[0].type(), FrameType::kSettings);
  EXPECT_FALSE(out[0].has(kFlagAck));
  EXPECT_EQ(out[0].setting(SettingId::kEnablePush), 0u);
  EXPECT_EQ(out[0].setting(SettingId::kMaxConcurrentStreams), kDefaultMaxConcurrentStreams);
  EXPECT_EQ(out[0].setting(SettingId::kInitialWindowSize), kDefaultStreamWindow);
  EXPECT_EQ(out[0].setting(SettingId::kMaxHeaderListSize), kDefaultMaxHeaderListSize);
  // The connection window follows at once.
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(Describe(out[1]),
            absl::StrCat("WINDOW_UPDATE(0,+", kDefaultConnectionWindow - 65535, ")"));
  // Start is idempotent.
  h.session->Start();
  EXPECT_EQ(h.Out(), "");
}

TEST(Rfc9113_3_4, ClientPrefaceIsMagicThenSettings) {
  SessionHarness h(Role::kClient);
  h.session->Start();
  std::vector<ParsedFrame> out = ParseFrames(h.sink.Take(), /*client_preface=*/true);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].type(), FrameType::kSettings);
  EXPECT_EQ(out[0].setting(SettingId::kEnablePush), 0u);
  EXPECT_EQ(out[1].type(), FrameType::kWindowUpdate);
}

TEST(Rfc9113_3_4, ServerAcknowledgesClientSettings) {
  SessionHarness h(Role::kServer);
  h.session->Start();
  h.sink.Take();
  ASSERT_TRUE(h.Feed(absl::StrCat(kClientMagic, SettingsFrame({{0x3, 10}}))).ok());
  EXPECT_EQ(h.Out(), "SETTINGS(ACK)");
  EXPECT_EQ(h.handler.DescribeTake(), "settings");
  EXPECT_EQ(h.session->peer_settings().max_concurrent_streams, 10u);
}

TEST(Rfc9113_3_4, PrefaceAcceptedAtEveryByteBoundary) {
  const std::string in = absl::StrCat(kClientMagic, SettingsFrame({{0x4, 1000}}), PingFrame(9));
  for (size_t piece = 1; piece <= in.size(); ++piece) {
    SessionHarness h(Role::kServer);
    h.session->Start();
    h.sink.Take();
    ASSERT_TRUE(h.FeedSplit(in, piece).ok()) << piece;
    EXPECT_EQ(h.Out(), "SETTINGS(ACK); PING(ACK,0x9)") << piece;
  }
}

TEST(Rfc9113_3_4, InvalidPrefaceIsProtocolError) {
  SessionHarness h(Role::kServer);
  h.session->Start();
  h.sink.Take();
  absl::Status st = h.Feed("PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n");
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_3_4, Http1RequestInsteadOfPrefaceIsProtocolError) {
  SessionHarness h(Role::kServer);
  h.session->Start();
  h.sink.Take();
  absl::Status st = h.Feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_3_4, PrefaceWrongInItsLastByteIsProtocolError) {
  SessionHarness h(Role::kServer);
  h.session->Start();
  h.sink.Take();
  std::string bad(kClientMagic);
  bad.back() = 'X';
  ASSERT_TRUE(h.Feed(absl::string_view(bad).substr(0, bad.size() - 1)).ok());
  absl::Status st = h.Feed(absl::string_view(bad).substr(bad.size() - 1));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_3_4, ClientFirstFrameNotSettingsIsProtocolError) {
  SessionHarness h(Role::kServer);
  h.session->Start();
  h.sink.Take();
  absl::Status st = h.Feed(absl::StrCat(kClientMagic, PingFrame(1)));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_3_4, ClientFirstFrameSettingsAckIsProtocolError) {
  SessionHarness h(Role::kServer);
  h.session->Start();
  h.sink.Take();
  absl::Status st = h.Feed(absl::StrCat(kClientMagic, SettingsAck()));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_3_4, ServerFirstFrameNotSettingsIsProtocolError) {
  SessionHarness h(Role::kClient);
  h.session->Start();
  h.sink.Take();
  absl::Status st = h.Feed(PingFrame(1));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_3_4, ClientAcceptsServerPreface) {
  SessionHarness h(Role::kClient);
  h.session->Start();
  h.sink.Take();
  ASSERT_TRUE(h.Feed(absl::StrCat(SettingsFrame({{0x5, 20000}}), SettingsAck())).ok());
  EXPECT_EQ(h.Out(), "SETTINGS(ACK)");
  EXPECT_EQ(h.session->peer_settings().max_frame_size, 20000u);
}

// --- 4.1 Frame format ---------------------------------------------------------

TEST(Rfc9113_4_1, UnknownFrameTypeIsIgnored) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  ASSERT_TRUE(h.Feed(absl::StrCat(RawFrame(0xff, 0xff, 0, "ignore me"), PingFrame(0x42))).ok());
  EXPECT_EQ(h.Out(), "PING(ACK,0x42)");
  EXPECT_EQ(h.handler.DescribeTake(), "ping(0x42)");
}

TEST(Rfc9113_4_1, UnknownFrameTypeOnAStreamIsIgnored) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  h.OpenRequest(1);
  ASSERT_TRUE(h.Feed(absl::StrCat(RawFrame(0x20, 0, 1, "x"), RawFrame(0x21, 0, 99, ""),
                                  DataFrame(1, "ab", kFlagEndStream)))
                  .ok());
  EXPECT_EQ(h.handler.DescribeTake(), "data(1,2,END_STREAM)");
  EXPECT_EQ(h.Out(), "");
}

TEST(Rfc9113_4_1, UndefinedFlagsAreIgnored) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  ASSERT_TRUE(h.Feed(RawFrame(FrameType::kPing, 0xfe, 0, std::string(8, '\x01'))).ok());
  EXPECT_EQ(h.Out(), "PING(ACK,0x101010101010101)");
  // Undefined flags on DATA and HEADERS too (0x2, 0x10, 0x40, 0x80).
  ASSERT_TRUE(h.Feed(HeadersFrame(1, LiteralBlock(RequestHeaders("POST")),
                                  kFlagEndHeaders | 0x2 | 0x10 | 0x40 | 0x80))
                  .ok());
  ASSERT_TRUE(h.Feed(DataFrame(1, "abc", kFlagEndStream | 0x2 | 0x4 | 0x10 | 0x80)).ok());
  h.handler.Take();
  EXPECT_EQ(h.handler.bodies[1], "abc");
  EXPECT_EQ(h.Out(), "");
}

TEST(Rfc9113_4_1, ReservedBitIsIgnored) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  std::string ping = PingFrame(5);
  ping[5] = static_cast<char>(ping[5] | 0x80);
  ASSERT_TRUE(h.Feed(ping).ok());
  EXPECT_EQ(h.Out(), "PING(ACK,0x5)");
  const std::string block = LiteralBlock(RequestHeaders());
  ASSERT_TRUE(h.Feed(absl::StrCat(FrameHeaderBytes(block.size(), 0x1,
                                                   kFlagEndHeaders | kFlagEndStream, 1,
                                                   /*reserved=*/true),
                                  block))
                  .ok());
  EXPECT_EQ(h.handler.DescribeTake(), "ping(0x5); headers(1,request,END_STREAM)");
}

TEST(Rfc9113_4_1, FramesSplitAtEveryByteBoundary) {
  const std::string in =
      absl::StrCat(Request(1, false, RequestHeaders("POST")), DataFrame(1, "hello"),
                   PingFrame(3), DataFrame(1, "world", kFlagEndStream, Padding{4}));
  for (size_t piece = 1; piece <= 7; ++piece) {
    SessionHarness h(Role::kServer);
    h.Handshake();
    ASSERT_TRUE(h.FeedSplit(in, piece).ok());
    EXPECT_EQ(h.handler.bodies[1], "helloworld");
    EXPECT_EQ(h.Out(), "PING(ACK,0x3)");
    EXPECT_EQ(h.session->open_streams(), 1u);
  }
}

// --- 4.2 Frame size -----------------------------------------------------------

TEST(Rfc9113_4_2, DataFrameOf16384OctetsIsAccepted) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  h.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(h.Feed(DataFrame(1, std::string(16384, 'd'), kFlagEndStream)).ok());
  EXPECT_EQ(h.handler.bodies[1].size(), 16384u);
  EXPECT_EQ(h.Out(), "");
}

TEST(Rfc9113_4_2, DataFrameAboveMaxFrameSizeIsFrameSizeError) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  h.OpenRequest(1, RequestHeaders("POST"));
  absl::Status st = h.Feed(DataFrame(1, std::string(16385, 'd')));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kFrameSizeError, 1));
  EXPECT_EQ(h.handler.DescribeTake(), "close(1,FRAME_SIZE_ERROR,connection_closed)");
}

TEST(Rfc9113_4_2, HeadersFrameAboveMaxFrameSizeIsFrameSizeError) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  absl::Status st = h.Feed(HeadersFrame(
      1, LiteralBlock(RequestHeaders("GET", "/", {{"x", std::string(16400, 'v')}})),
      kFlagEndHeaders | kFlagEndStream));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kFrameSizeError, 0));
  EXPECT_EQ(h.handler.DescribeTake(), "");
}

TEST(Rfc9113_4_2, FrameSizeCheckedAtTheHeaderBeforeThePayload) {
  // The error comes from the 9-byte header alone: nothing of the announced
  // payload is awaited or buffered.
  SessionHarness h(Role::kServer);
  h.Handshake();
  absl::Status st = h.Feed(FrameHeaderBytes(kMaxMaxFrameSize, 0x6, 0, 0));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kFrameSizeError, 0));
}

TEST(Rfc9113_4_2, LargerAdvertisedMaxFrameSizeIsHonoured) {
  SessionOptions o = TestOptions();
  o.max_frame_size = 65536;
  SessionHarness h(Role::kServer, o);
  h.session->Start();
  std::vector<ParsedFrame> out = h.TakeFrames();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[0].setting(SettingId::kMaxFrameSize), 65536u);
  ASSERT_TRUE(h.Feed(absl::StrCat(kClientMagic, SettingsFrame(), SettingsAck())).ok());
  h.TakeFrames();
  ASSERT_TRUE(h.Feed(Request(1, false, RequestHeaders("POST"))).ok());
  ASSERT_TRUE(h.Feed(DataFrame(1, std::string(65536, 'd'), kFlagEndStream)).ok());
  EXPECT_EQ(h.handler.bodies[1].size(), 65536u);
  h.TakeFrames();
  absl::Status st = h.Feed(FrameHeaderBytes(65537, 0x0, 0, 1));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kFrameSizeError, 1));
}

TEST(Rfc9113_4_2, OurFramesRespectThePeerMaxFrameSize) {
  // Default 16384 until the peer says more; then up to its value.
  SessionHarness h(Role::kServer);
  h.Handshake();
  h.OpenRequest(1);
  const std::vector<hpack::HeaderField> resp = {{":status", "200"}};
  ASSERT_TRUE(h.session->SubmitHeaders(1, resp, false).ok());
  const std::string body(40000, 'b');
  absl::StatusOr<size_t> n = h.session->SendData(1, Span(body), true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 40000u);
  EXPECT_EQ(h.Out(), "HEADERS(1,END_HEADERS); DATA(1,16384); DATA(1,16384); DATA(1,7232,END_STREAM)");

  SessionHarness g(Role::kServer);
  g.Handshake(SettingsFrame({{0x5, 20000}}));
  g.OpenRequest(1);
  ASSERT_TRUE(g.session->SubmitHeaders(1, resp, false).ok());
  n = g.session->SendData(1, Span(body), true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(g.Out(), "HEADERS(1,END_HEADERS); DATA(1,20000); DATA(1,20000,END_STREAM)");
}

// --- 4.3 Field section compression and decompression -------------------------

TEST(Rfc9113_4_3, InvalidHeaderBlockIsCompressionError) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  // Indexed field 0 does not exist (RFC 7541 6.1).
  absl::Status st = h.Feed(HeadersFrame(1, IndexedField(0), kFlagEndHeaders | kFlagEndStream));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kCompressionError, 0));
}

TEST(Rfc9113_4_3, IndexBeyondTheTablesIsCompressionError) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  absl::Status st = h.Feed(HeadersFrame(1, IndexedField(70), kFlagEndHeaders | kFlagEndStream));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kCompressionError, 0));
}

TEST(Rfc9113_4_3, TruncatedHeaderBlockIsCompressionError) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  std::string block = LiteralBlock(RequestHeaders());
  block.pop_back();
  absl::Status st = h.Feed(HeadersFrame(1, block, kFlagEndHeaders | kFlagEndStream));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kCompressionError, 0));
}

TEST(Rfc9113_4_3, PriorityFrameInsideHeaderBlockIsProtocolError) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  const std::string block = LiteralBlock(RequestHeaders());
  absl::Status st = h.Feed(absl::StrCat(HeadersFrame(1, block.substr(0, 5), kFlagEndStream),
                                        PriorityFrame(1, 0)));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_4_3, HeadersToAnotherStreamInsideHeaderBlockIsProtocolError) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  const std::string block = LiteralBlock(RequestHeaders());
  absl::Status st = h.Feed(absl::StrCat(HeadersFrame(1, block.substr(0, 5), kFlagEndStream),
                                        Request(3)));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kProtocolError, 0));
  EXPECT_EQ(h.handler.DescribeTake(), "");
}

TEST(Rfc9113_4_3, BlockOfARefusedStreamStillUpdatesTheDecoder) {
  // A block is decoded even when its stream is refused, so the dynamic table
  // stays in step with the peer's encoder.
  SessionOptions o = TestOptions();
  o.max_concurrent_streams = 1;
  SessionHarness h(Role::kServer, o);
  h.Handshake();
  h.OpenRequest(1);
  const std::string first = absl::StrCat(LiteralBlock(RequestHeaders()),
                                         IncrementalLiteral("x-token", "abc"));
  ASSERT_TRUE(h.Feed(HeadersFrame(3, first, kFlagEndHeaders | kFlagEndStream)).ok());
  EXPECT_EQ(h.Out(), "RST_STREAM(3,REFUSED_STREAM)");
  ASSERT_TRUE(h.Feed(DataFrame(1, "", kFlagEndStream)).ok());
  h.handler.Take();
  ASSERT_TRUE(h.session->SubmitHeaders(1, Fields(ResponseHeaders()), true).ok());
  h.TakeFrames();
  h.handler.Take();
  // Index 62 is the newest dynamic entry: x-token: abc.
  const std::string second = absl::StrCat(LiteralBlock(RequestHeaders()), IndexedField(62));
  ASSERT_TRUE(h.Feed(HeadersFrame(5, second, kFlagEndHeaders | kFlagEndStream)).ok());
  std::vector<Event> ev = h.handler.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(Describe(ev[0]), "headers(5,request,END_STREAM)");
  EXPECT_EQ(ev[0].fields.back(), (std::pair<std::string, std::string>("x-token", "abc")));
}

TEST(Rfc9113_4_3, ResponseBlocksDecodeAcrossStreams) {
  // Our encoder's dynamic table state carries across blocks: the peer's
  // decoder reads every block we send in order.
  SessionHarness h(Role::kServer);
  h.Handshake();
  for (uint32_t id = 1; id <= 9; id += 2) {
    h.OpenRequest(id);
    const HeaderList resp = ResponseHeaders("200", {{"x-server", "alts"}, {"x-id", "same"}});
    ASSERT_TRUE(h.session->SubmitHeaders(id, Fields(resp), true).ok());
    auto blocks = h.peer_decoder.DecodeAll(h.TakeFrames());
    ASSERT_EQ(blocks.size(), 1u);
    EXPECT_EQ(blocks[0].first, id);
    EXPECT_EQ(blocks[0].second, resp);
  }
}

}  // namespace
}  // namespace alts::http2::testing
