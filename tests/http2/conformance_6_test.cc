// RFC 9113 section 6 (frame definitions): every frame type's length, stream
// 0 rules, padding and flags; SETTINGS values, acknowledgement and its
// timeout; PING; GOAWAY; WINDOW_UPDATE and flow control (6.9.1, 6.9.2);
// CONTINUATION. Named as h2spec names its cases.
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http2/session.h"
#include "tests/http2/h2_test_util.h"

namespace alts::http2::testing {
namespace {

std::string Block(const HeaderList& h = RequestHeaders()) { return LiteralBlock(h); }

using Server = ServerSession;
using Client = ClientSession;

// Respond on `id` with headers, leaving the stream open for DATA.
void StartResponse(SessionHarness& s, uint32_t id) {
  ASSERT_TRUE(s.session->SubmitHeaders(id, Fields(ResponseHeaders()), false).ok());
  s.TakeFrames();
}

// --- 6.1 DATA ------------------------------------------------------------------

TEST(Rfc9113_6_1, DataOnStreamZeroIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(DataFrame(0, "x"));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_1, DataOnStreamNotOpenIsStreamClosed) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());
  ASSERT_TRUE(s.Feed(DataFrame(1, "x")).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,STREAM_CLOSED)");
}

TEST(Rfc9113_6_1, DataWithPadLengthBeyondPayloadIsProtocolError) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  absl::Status st = s.Feed(DataFrame(1, "abc", 0, Padding(10, 0)));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 1));
}

TEST(Rfc9113_6_1, DataWithPadLengthEqualToPayloadIsProtocolError) {
  // Pad length 3 in a 4-byte payload leaves no room: 1 + 3 = 4 is legal,
  // pad length 4 is not.
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(DataFrame(1, "", 0, Padding(3))).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "");
  absl::Status st = s.Feed(RawFrame(FrameType::kData, kFlagPadded, 1, "\x04xxx"));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 1));
}

TEST(Rfc9113_6_1, PaddedDataWithoutPadLengthIsFrameSizeError) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  absl::Status st = s.Feed(RawFrame(FrameType::kData, kFlagPadded, 1, ""));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 1));
}

TEST(Rfc9113_6_1, PaddingIsRemovedAndFlowControlled) {
  SessionOptions o = TestOptions();
  o.initial_window_size = 65535;
  o.connection_window = 65535;
  Server s(o);
  s.OpenRequest(1, RequestHeaders("POST"));
  // 1 + 10000 + 255 bytes of window per frame: four frames pass half the
  // window, so WINDOW_UPDATEs cover content and padding alike.
  const std::string content(10000, 'c');
  const std::string frame = DataFrame(1, content, 0, Padding(255));
  ASSERT_TRUE(s.Feed(absl::StrCat(frame, frame, frame)).ok());
  EXPECT_EQ(s.Out(), "");
  ASSERT_TRUE(s.Feed(frame).ok());
  EXPECT_EQ(s.handler.bodies[1], content + content + content + content);
  EXPECT_EQ(s.Out(), "WINDOW_UPDATE(0,+41024); WINDOW_UPDATE(1,+41024)");
}

TEST(Rfc9113_6_1, PaddedDataSplitAtEveryByte) {
  const std::string frame = DataFrame(1, "payload", kFlagEndStream, Padding(6));
  for (size_t piece = 1; piece < frame.size(); ++piece) {
    Server s;
    s.OpenRequest(1, RequestHeaders("POST"));
    ASSERT_TRUE(s.FeedSplit(frame, piece).ok());
    EXPECT_EQ(s.handler.bodies[1], "payload") << piece;
    const std::vector<Event> ev = s.handler.Take();
    ASSERT_FALSE(ev.empty());
    EXPECT_TRUE(ev.back().end_stream) << piece;
  }
}

TEST(Rfc9113_6_1, EmptyDataWithEndStreamEndsTheStream) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(DataFrame(1, "", kFlagEndStream)).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "data(1,0,END_STREAM)");
  ASSERT_TRUE(s.session->SubmitHeaders(1, Fields(ResponseHeaders()), true).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,NO_ERROR,completed)");
}

TEST(Rfc9113_6_1, ClientDataOnStreamNotOpenIsStreamClosed) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(Response(id, true)).ok());
  c.handler.Take();
  ASSERT_TRUE(c.Feed(DataFrame(id, "x")).ok());
  EXPECT_EQ(c.Out(), "RST_STREAM(1,STREAM_CLOSED)");
}

// --- 6.2 HEADERS ---------------------------------------------------------------

TEST(Rfc9113_6_2, HeadersWithoutEndHeadersThenPriorityIsProtocolError) {
  Server s;
  absl::Status st =
      s.Feed(absl::StrCat(HeadersFrame(1, Block().substr(0, 3), kFlagEndStream), PriorityFrame(1, 0)));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_2, HeadersToAnotherStreamDuringHeaderBlockIsProtocolError) {
  Server s;
  absl::Status st =
      s.Feed(absl::StrCat(HeadersFrame(1, Block().substr(0, 3), kFlagEndStream), Request(3)));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_2, HeadersOnStreamZeroIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(HeadersFrame(0, Block(), kFlagEndHeaders | kFlagEndStream));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_2, HeadersWithPadLengthBeyondPayloadIsProtocolError) {
  Server s;
  HeadersOptions o;
  o.padding = Padding(200, 2);
  absl::Status st = s.Feed(HeadersFrame(1, Block(), kFlagEndHeaders | kFlagEndStream, o));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_2, PaddedHeadersWithoutPadLengthIsFrameSizeError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kHeaders, kFlagPadded | kFlagEndHeaders, 1, ""));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 0));
}

TEST(Rfc9113_6_2, HeadersTooShortForItsPriorityIsFrameSizeError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kHeaders, kFlagPriority | kFlagEndHeaders, 1, "\0\0"));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 0));
}

TEST(Rfc9113_6_2, PaddedHeadersWithPriorityAreAccepted) {
  Server s;
  HeadersOptions o;
  o.padding = Padding(17);
  o.depends_on = 0;
  o.weight = 200;
  ASSERT_TRUE(s.Feed(HeadersFrame(1, Block(), kFlagEndHeaders | kFlagEndStream, o)).ok());
  std::vector<Event> ev = s.handler.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].fields, RequestHeaders());
  EXPECT_EQ(s.Out(), "");
}

TEST(Rfc9113_6_2, PaddedHeadersWithContinuationAreAccepted) {
  Server s;
  HeadersOptions o;
  o.padding = Padding(5);
  const std::string b = Block();
  ASSERT_TRUE(s.Feed(absl::StrCat(HeadersFrame(1, b.substr(0, 10), kFlagEndStream, o),
                                  ContinuationFrame(1, b.substr(10), kFlagEndHeaders)))
                  .ok());
  EXPECT_EQ(s.handler.DescribeTake(), "headers(1,request,END_STREAM)");
}

// --- 6.3 PRIORITY --------------------------------------------------------------

TEST(Rfc9113_6_3, PriorityOnStreamZeroIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(PriorityFrame(0, 1));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_3, PriorityWithLengthOtherThanFiveIsFrameSizeError) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());
  s.handler.Take();
  ASSERT_TRUE(s.Feed(RawFrame(FrameType::kPriority, 0, 1, "\x80\0\0\x01")).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,FRAME_SIZE_ERROR)");
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,FRAME_SIZE_ERROR,reset_by_us)");
}

TEST(Rfc9113_6_3, PriorityWithBadLengthOnIdleStreamIsConnectionError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kPriority, 0, 1, "\0\0\0\0\0\0"));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 0));
}

TEST(Rfc9113_6_3, PriorityOnAnyStreamStateChangesNothing) {
  Server s;
  s.OpenRequest(1);
  ASSERT_TRUE(s.Feed(absl::StrCat(PriorityFrame(1, 0, 1), PriorityFrame(1, 9, 255, true),
                                  PriorityFrame(9, 1), PriorityFrame(2, 1)))
                  .ok());
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.handler.DescribeTake(), "");
  EXPECT_EQ(s.session->open_streams(), 1u);
}

// --- 6.4 RST_STREAM ------------------------------------------------------------

TEST(Rfc9113_6_4, RstStreamOnStreamZeroIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(RstStreamFrame(0, ErrorCode::kCancel));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_4, RstStreamOnIdleStreamIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(RstStreamFrame(1, ErrorCode::kCancel));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_4, RstStreamWithLengthOtherThanFourIsFrameSizeError) {
  Server s;
  s.OpenRequest(1);
  absl::Status st = s.Feed(RawFrame(FrameType::kRstStream, 0, 1, "\0\0\0\x08\0"));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 1));
}

TEST(Rfc9113_6_4, NoRstStreamIsSentInReplyToRstStream) {
  Server s;
  s.OpenRequest(1);
  ASSERT_TRUE(s.Feed(RstStreamFrame(1, ErrorCode::kNoError)).ok());
  ASSERT_TRUE(s.Feed(RstStreamFrame(1, ErrorCode::kCancel)).ok());
  EXPECT_EQ(s.Out(), "");
}

// --- 6.5 SETTINGS --------------------------------------------------------------

TEST(Rfc9113_6_5, SettingsAckWithPayloadIsFrameSizeError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kSettings, kFlagAck, 0, std::string(6, '\0')));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 0));
}

TEST(Rfc9113_6_5, SettingsOnAStreamIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kSettings, 0, 1, ""));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_5, SettingsLengthNotMultipleOfSixIsFrameSizeError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kSettings, 0, 0, std::string(3, '\0')));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 0));
}

TEST(Rfc9113_6_5, SettingsWithTooManyParametersIsEnhanceYourCalm) {
  Server s;
  std::vector<Setting> many(kMaxSettingsEntries + 1, Setting{0x3, 100});
  absl::Status st = s.Feed(SettingsFrame(many));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, 0));
  // The limit itself is accepted.
  Server t;
  ASSERT_TRUE(t.Feed(SettingsFrame(std::vector<Setting>(kMaxSettingsEntries, {0x3, 100}))).ok());
  EXPECT_EQ(t.Out(), "SETTINGS(ACK)");
}

TEST(Rfc9113_6_5, EmptySettingsIsAcknowledged) {
  Server s;
  ASSERT_TRUE(s.Feed(SettingsFrame()).ok());
  EXPECT_EQ(s.Out(), "SETTINGS(ACK)");
  EXPECT_EQ(s.handler.DescribeTake(), "settings");
}

// --- 6.5.2 Defined settings parameters ------------------------------------------

TEST(Rfc9113_6_5_2, EnablePushAboveOneIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(SettingsFrame({{0x2, 2}}));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_5_2, ServerEnablingPushIsProtocolError) {
  Client c;
  absl::Status st = c.Feed(SettingsFrame({{0x2, 1}}));
  EXPECT_TRUE(IsConnectionError(c, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_5_2, ClientEnablingPushIsAccepted) {
  Server s;
  ASSERT_TRUE(s.Feed(SettingsFrame({{0x2, 1}})).ok());
  EXPECT_EQ(s.Out(), "SETTINGS(ACK)");
  EXPECT_EQ(s.session->peer_settings().enable_push, 1u);
}

TEST(Rfc9113_6_5_2, InitialWindowSizeAboveMaximumIsFlowControlError) {
  Server s;
  absl::Status st = s.Feed(SettingsFrame({{0x4, 0x80000000u}}));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFlowControlError, 0));
}

TEST(Rfc9113_6_5_2, InitialWindowSizeAtMaximumIsAccepted) {
  Server s;
  ASSERT_TRUE(s.Feed(SettingsFrame({{0x4, 0x7fffffffu}})).ok());
  EXPECT_EQ(s.Out(), "SETTINGS(ACK)");
}

TEST(Rfc9113_6_5_2, MaxFrameSizeBelowInitialValueIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(SettingsFrame({{0x5, 16383}}));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_5_2, MaxFrameSizeAboveMaximumIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(SettingsFrame({{0x5, 1u << 24}}));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_5_2, UnknownIdentifierIsIgnored) {
  Server s;
  ASSERT_TRUE(s.Feed(absl::StrCat(SettingsFrame({{0x0, 5}, {0xabcd, 0xffffffffu}}), PingFrame(3))).ok());
  EXPECT_EQ(s.Out(), "SETTINGS(ACK); PING(ACK,0x3)");
}

TEST(Rfc9113_6_5_2, HeaderTableSizeZeroMakesOurEncoderShrinkItsTable) {
  Server s(TestOptions(), SettingsFrame({{0x1, 0}}));
  s.OpenRequest(1);
  ASSERT_TRUE(s.session->SubmitHeaders(1, Fields(ResponseHeaders("200", {{"x-a", "b"}})), true).ok());
  std::vector<ParsedFrame> out = s.TakeFrames();
  ASSERT_EQ(out.size(), 1u);
  ASSERT_FALSE(out[0].payload.empty());
  EXPECT_EQ(static_cast<uint8_t>(out[0].payload[0]), 0x20) << "block must open with a size update to 0";
  auto blocks = s.peer_decoder.DecodeAll(out);
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_EQ(blocks[0].second, ResponseHeaders("200", {{"x-a", "b"}}));
}

TEST(Rfc9113_6_5_2, PeerMaxHeaderListSizeBoundsWhatWeSend) {
  Server s(TestOptions(), SettingsFrame({{0x6, 100}}));
  s.OpenRequest(1);
  EXPECT_EQ(s.session
                ->SubmitHeaders(1, Fields(ResponseHeaders("200", {{"x", std::string(100, 'v')}})),
                                true)
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.Out(), "");
  EXPECT_TRUE(s.session->SubmitHeaders(1, Fields(ResponseHeaders()), true).ok());
}

// --- 6.5.3 Settings synchronization ---------------------------------------------

TEST(Rfc9113_6_5_3, SettingsWithoutAckIsAcknowledgedAtOnce) {
  Server s;
  ASSERT_TRUE(s.Feed(SettingsFrame({{0x3, 7}})).ok());
  EXPECT_EQ(s.Out(), "SETTINGS(ACK)");
  EXPECT_EQ(s.session->peer_settings().max_concurrent_streams, 7u);
}

TEST(Rfc9113_6_5_3, MultipleValuesAreProcessedInOrder) {
  Server s(TestOptions(), SettingsFrame({{0x4, 100}, {0x4, 1}}));
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(0, 1 << 20)).ok());
  s.OpenRequest(1);
  StartResponse(s, 1);
  EXPECT_EQ(s.session->SendWindow(1), 1u);
  absl::StatusOr<size_t> n = s.session->SendData(1, Span("abc"), true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(s.Out(), "DATA(1,1)");
}

TEST(Rfc9113_6_5_3, UnacknowledgedSettingsTimeOutWithSettingsTimeout) {
  SessionHarness h(Role::kServer);
  h.session->Start();
  h.TakeFrames();
  const absl::Time start = TestClock::now;
  EXPECT_EQ(h.session->next_deadline(), start + absl::Seconds(10));
  ASSERT_TRUE(h.Feed(absl::StrCat(kClientMagic, SettingsFrame())).ok());  // no ACK
  h.TakeFrames();
  EXPECT_TRUE(h.session->CheckTimeouts(start + absl::Seconds(9)).ok());
  EXPECT_EQ(h.Out(), "");
  absl::Status st = h.session->CheckTimeouts(start + absl::Seconds(10));
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kSettingsTimeout, 0));
  EXPECT_EQ(h.session->next_deadline(), absl::InfiniteFuture());
}

TEST(Rfc9113_6_5_3, AckCancelsTheTimeout) {
  SessionHarness h(Role::kServer);
  h.Handshake();
  EXPECT_EQ(h.session->next_deadline(), absl::InfiniteFuture());
  EXPECT_TRUE(h.session->CheckTimeouts(TestClock::now + absl::Hours(24)).ok());
  EXPECT_EQ(h.Out(), "");
}

TEST(Rfc9113_6_5_3, ClientSettingsTimeoutToo) {
  SessionHarness h(Role::kClient);
  h.session->Start();
  h.sink.Take();
  ASSERT_TRUE(h.Feed(SettingsFrame()).ok());
  h.TakeFrames();
  absl::Status st = h.session->CheckTimeouts(TestClock::now + absl::Seconds(11));
  EXPECT_TRUE(IsConnectionError(h, st, ErrorCode::kSettingsTimeout, 0));
}

TEST(Rfc9113_6_5_3, UnsolicitedAckIsIgnored) {
  Server s;
  ASSERT_TRUE(s.Feed(SettingsAck()).ok());
  EXPECT_EQ(s.Out(), "");
  EXPECT_TRUE(s.session->status().ok());
}

TEST(Rfc9113_6_5_3, SmallerAdvertisedWindowAppliesOnlyOnceAcknowledged) {
  // Until our SETTINGS are acknowledged the peer may assume 65535 per
  // stream; afterwards only what we advertised.
  SessionOptions o = TestOptions();
  o.initial_window_size = 1000;
  SessionHarness h(Role::kServer, o);
  h.session->Start();
  h.TakeFrames();
  ASSERT_TRUE(h.Feed(absl::StrCat(kClientMagic, SettingsFrame(), Request(1, false, RequestHeaders("POST")))).ok());
  h.TakeFrames();
  ASSERT_TRUE(h.Feed(DataFrame(1, std::string(16384, 'a'))).ok());
  EXPECT_EQ(h.handler.bodies[1].size(), 16384u);
  EXPECT_EQ(CountFrames(h.TakeFrames(), FrameType::kRstStream), 0u);
  ASSERT_TRUE(h.Feed(SettingsAck()).ok());
  ASSERT_TRUE(h.Feed(Request(3, false, RequestHeaders("POST"))).ok());
  ASSERT_TRUE(h.Feed(DataFrame(3, std::string(1000, 'a'))).ok());
  EXPECT_EQ(h.handler.bodies[3].size(), 1000u);
  h.TakeFrames();
  ASSERT_TRUE(h.Feed(DataFrame(3, std::string(1000, 'a'))).ok());
  // The first 1000 bytes were consumed, so 500+ were credited back; the
  // second 1000 may exceed what is left only if nothing was credited.
  std::vector<ParsedFrame> out = h.TakeFrames();
  EXPECT_EQ(CountFrames(out, FrameType::kRstStream), 0u) << Describe(out);
  ASSERT_TRUE(h.Feed(DataFrame(3, std::string(2001, 'a'))).ok());
  out = h.TakeFrames();
  EXPECT_EQ(Describe(out), "RST_STREAM(3,FLOW_CONTROL_ERROR)");
}

TEST(Rfc9113_6_5_3, SmallerHeaderTableAppliesOnceAcknowledged) {
  // After the ACK of HEADER_TABLE_SIZE=0 the peer's next block must open
  // with a size update; one that does not is COMPRESSION_ERROR.
  SessionOptions o = TestOptions();
  o.header_table_size = 0;
  SessionHarness h(Role::kServer, o);
  h.session->Start();
  std::vector<ParsedFrame> start = h.TakeFrames();
  EXPECT_EQ(start[0].setting(SettingId::kHeaderTableSize), 0u);
  ASSERT_TRUE(h.Feed(absl::StrCat(kClientMagic, SettingsFrame(),
                                  HeadersFrame(1, absl::StrCat(Block(), IncrementalLiteral("k", "v")),
                                               kFlagEndHeaders | kFlagEndStream),
                                  SettingsAck()))
                  .ok());
  h.TakeFrames();
  h.handler.Take();
  ASSERT_TRUE(h.Feed(HeadersFrame(3, absl::StrCat("\x20", Block()), kFlagEndHeaders | kFlagEndStream)).ok());
  EXPECT_EQ(h.handler.DescribeTake(), "headers(3,request,END_STREAM)");
  SessionHarness g(Role::kServer, o);
  g.Handshake();
  absl::Status st = g.Feed(HeadersFrame(1, absl::StrCat(Block(), IncrementalLiteral("k", "v")),
                                        kFlagEndHeaders | kFlagEndStream));
  // g's ACK came before any block: the first block must open with the update.
  EXPECT_TRUE(IsConnectionError(g, st, ErrorCode::kCompressionError, 0));
}

// --- 6.7 PING ------------------------------------------------------------------

TEST(Rfc9113_6_7, PingIsAnsweredWithTheSamePayload) {
  Server s;
  ASSERT_TRUE(s.Feed(PingFrame(0x0102030405060708ull)).ok());
  std::vector<ParsedFrame> out = s.TakeFrames();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].has(kFlagAck));
  EXPECT_EQ(out[0].payload, std::string("\x01\x02\x03\x04\x05\x06\x07\x08"));
  EXPECT_EQ(s.handler.DescribeTake(), "ping(0x102030405060708)");
}

TEST(Rfc9113_6_7, PingAckIsNotAnswered) {
  Server s;
  s.session->Ping(0xabc);
  EXPECT_EQ(s.Out(), "PING(0xabc)");
  ASSERT_TRUE(s.Feed(PingFrame(0xabc, true)).ok());
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.handler.DescribeTake(), "ping(0xabc,ack)");
}

TEST(Rfc9113_6_7, PingOnAStreamIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kPing, 0, 1, std::string(8, '\0')));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_7, PingWithLengthOtherThanEightIsFrameSizeError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kPing, 0, 0, std::string(6, '\0')));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 0));
}

TEST(Rfc9113_6_7, PingAckWithBadLengthIsFrameSizeError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kPing, kFlagAck, 0, std::string(9, '\0')));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 0));
}

// --- 6.8 GOAWAY ----------------------------------------------------------------

TEST(Rfc9113_6_8, GoawayOnAStreamIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kGoaway, 0, 1, std::string(8, '\0')));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_8, GoawayShorterThanEightIsFrameSizeError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kGoaway, 0, 0, std::string(7, '\0')));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 0));
}

TEST(Rfc9113_6_8, ClientGoawayRefusesStreamsAboveLastIdAndLetsTheRestFinish) {
  Client c;
  const uint32_t a = c.OpenClientStream(true);
  const uint32_t b = c.OpenClientStream(true);
  const uint32_t d = c.OpenClientStream(true);
  ASSERT_EQ(d, 5u);
  ASSERT_TRUE(c.Feed(GoawayFrame(a, ErrorCode::kNoError, "draining")).ok());
  EXPECT_EQ(c.handler.DescribeTake(),
            "close(5,REFUSED_STREAM,refused); close(3,REFUSED_STREAM,refused); goaway(1,NO_ERROR)");
  (void)b;
  EXPECT_TRUE(c.session->goaway_received());
  EXPECT_FALSE(c.session->ended());
  EXPECT_EQ(c.session->SubmitRequest(Fields(RequestHeaders()), true, nullptr).status().code(),
            absl::StatusCode::kUnavailable);
  ASSERT_TRUE(c.Feed(absl::StrCat(Response(a, false), DataFrame(a, "ok", kFlagEndStream))).ok());
  EXPECT_EQ(c.handler.DescribeTake(),
            "headers(1,response); data(1,2,END_STREAM); close(1,NO_ERROR,completed)");
  EXPECT_TRUE(c.session->ended());
  EXPECT_TRUE(c.session->status().ok());
  EXPECT_EQ(c.Out(), "");
}

TEST(Rfc9113_6_8, LaterGoawayMayOnlyLowerTheLastId) {
  Client c;
  c.OpenClientStream(true);
  c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(GoawayFrame(kMaxStreamId, ErrorCode::kNoError)).ok());
  EXPECT_EQ(c.handler.DescribeTake(), "goaway(2147483647,NO_ERROR)");
  ASSERT_TRUE(c.Feed(GoawayFrame(1, ErrorCode::kNoError)).ok());
  EXPECT_EQ(c.handler.DescribeTake(), "close(3,REFUSED_STREAM,refused); goaway(1,NO_ERROR)");
  ASSERT_TRUE(c.Feed(GoawayFrame(5, ErrorCode::kNoError)).ok());
  EXPECT_EQ(c.handler.DescribeTake(), "goaway(5,NO_ERROR)");
  EXPECT_EQ(c.session->open_streams(), 1u);
}

TEST(Rfc9113_6_8, GoawayWithErrorStillLetsProcessedStreamsFinish) {
  // An error GOAWAY from the peer ends nothing by itself below its last id:
  // the peer closes the transport when it wants.
  Client c;
  const uint32_t a = c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(GoawayFrame(a, ErrorCode::kInternalError, "oops")).ok());
  std::vector<Event> ev = c.handler.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(Describe(ev[0]), "goaway(1,INTERNAL_ERROR)");
  EXPECT_EQ(ev[0].data, "oops");
  EXPECT_TRUE(c.session->status().ok());
}

TEST(Rfc9113_6_8, ServerGracefulGoawayRefusesNewStreams) {
  Server s;
  s.OpenRequest(1);
  s.session->GoAway(ErrorCode::kNoError, "shutting down");
  std::vector<ParsedFrame> out = s.TakeFrames();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Describe(out[0]), "GOAWAY(1,NO_ERROR)");
  EXPECT_EQ(out[0].goaway_debug(), "shutting down");
  EXPECT_TRUE(s.session->goaway_sent());
  EXPECT_FALSE(s.session->ended());
  s.session->GoAway(ErrorCode::kNoError);  // once is enough
  EXPECT_EQ(s.Out(), "");
  ASSERT_TRUE(s.Feed(Request(3)).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(3,REFUSED_STREAM)");
  EXPECT_EQ(s.handler.DescribeTake(), "");
  ASSERT_TRUE(s.Feed(DataFrame(1, "", kFlagEndStream)).ok());
  ASSERT_TRUE(s.session->SubmitHeaders(1, Fields(ResponseHeaders()), true).ok());
  EXPECT_TRUE(s.session->ended());
  EXPECT_TRUE(s.session->status().ok());
}

TEST(Rfc9113_6_8, GoawayDebugDataIsBounded) {
  Server s;
  s.session->GoAway(ErrorCode::kNoError, std::string(10000, 'd'));
  std::vector<ParsedFrame> out = s.TakeFrames();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_LE(out[0].goaway_debug().size(), 256u);
  EXPECT_GT(out[0].goaway_debug().size(), 0u);
}

TEST(Rfc9113_6_8, GoawayLastStreamIdReservedBitIsIgnored) {
  Client c;
  c.OpenClientStream(true);
  c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(GoawayFrame(0x80000001u, ErrorCode::kNoError)).ok());
  EXPECT_EQ(c.handler.DescribeTake(), "close(3,REFUSED_STREAM,refused); goaway(1,NO_ERROR)");
}

// --- 6.9 WINDOW_UPDATE ---------------------------------------------------------

TEST(Rfc9113_6_9, ConnectionWindowUpdateOfZeroIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(WindowUpdateFrame(0, 0));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_9, StreamWindowUpdateOfZeroIsStreamProtocolError) {
  Server s;
  s.OpenRequest(1);
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(1, 0)).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_6_9, WindowUpdateWithLengthOtherThanFourIsFrameSizeError) {
  Server s;
  absl::Status st = s.Feed(RawFrame(FrameType::kWindowUpdate, 0, 0, "\0\0\x01"));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 0));
}

TEST(Rfc9113_6_9, WindowUpdateReservedBitIsIgnored) {
  Server s;
  s.OpenRequest(1);
  const size_t before = s.session->SendWindow(1);
  ASSERT_TRUE(s.Feed(absl::StrCat(WindowUpdateFrame(0, 0x80000000u | 100),
                                  WindowUpdateFrame(1, 0x80000000u | 100)))
                  .ok());
  EXPECT_EQ(s.session->SendWindow(1), before + 100);
  EXPECT_EQ(s.Out(), "");
}

// --- 6.9.1 The flow-control window ----------------------------------------------

TEST(Rfc9113_6_9_1, InitialWindowOfOneLimitsDataToOneByte) {
  Server s(TestOptions(), SettingsFrame({{0x4, 1}}));
  s.OpenRequest(1);
  StartResponse(s, 1);
  absl::StatusOr<size_t> n = s.session->SendData(1, Span("hello"), true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(s.Out(), "DATA(1,1)");
  n = s.session->SendData(1, Span("ello"), true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(s.Out(), "");
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(1, 4)).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "window(1)");
  n = s.session->SendData(1, Span("ello"), true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 4u);
  EXPECT_EQ(s.Out(), "DATA(1,4,END_STREAM)");
}

TEST(Rfc9113_6_9_1, ConnectionWindowAboveMaximumIsFlowControlError) {
  Server s;
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(0, 0x7fffffffu - 65535)).ok());  // exactly 2^31-1
  absl::Status st = s.Feed(WindowUpdateFrame(0, 1));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFlowControlError, 0));
}

TEST(Rfc9113_6_9_1, StreamWindowAboveMaximumIsStreamFlowControlError) {
  Server s;
  s.OpenRequest(1);
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(1, 0x7fffffffu - 65535)).ok());
  EXPECT_EQ(s.Out(), "");
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(1, 1)).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,FLOW_CONTROL_ERROR)");
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,FLOW_CONTROL_ERROR,reset_by_us)");
  EXPECT_TRUE(s.session->status().ok());
}

TEST(Rfc9113_6_9_1, DataBeyondConnectionWindowIsFlowControlError) {
  SessionOptions o = TestOptions();
  o.connection_window = 65535;
  o.initial_window_size = 1 << 20;
  o.auto_window_update = false;  // nothing is given back
  Server s(o);
  s.OpenRequest(1, RequestHeaders("POST"));
  const std::string chunk(16384, 'x');
  ASSERT_TRUE(s.Feed(absl::StrCat(DataFrame(1, chunk), DataFrame(1, chunk), DataFrame(1, chunk),
                                  DataFrame(1, std::string(16383, 'x'))))
                  .ok());
  EXPECT_EQ(s.Out(), "");
  absl::Status st = s.Feed(DataFrame(1, "y"));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFlowControlError, 1));
}

TEST(Rfc9113_6_9_1, DataBeyondStreamWindowIsStreamFlowControlError) {
  SessionOptions o = TestOptions();
  o.initial_window_size = 65535;
  o.auto_window_update = false;
  Server s(o);
  ASSERT_TRUE(s.Feed(absl::StrCat(Request(1, false, RequestHeaders("POST")),
                                  Request(3, false, RequestHeaders("POST"))))
                  .ok());
  s.handler.Take();
  const std::string chunk(16384, 'x');
  ASSERT_TRUE(s.Feed(absl::StrCat(DataFrame(1, chunk), DataFrame(1, chunk), DataFrame(1, chunk),
                                  DataFrame(1, std::string(16383, 'x'))))
                  .ok());
  ASSERT_TRUE(s.Feed(DataFrame(1, "y")).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,FLOW_CONTROL_ERROR)");
  // The other stream and the connection go on.
  ASSERT_TRUE(s.Feed(DataFrame(3, "z", kFlagEndStream)).ok());
  EXPECT_EQ(s.handler.bodies[3], "z");
}

TEST(Rfc9113_6_9_1, ReceivedDataIsCreditedBackAsItIsConsumed) {
  SessionOptions o = TestOptions();
  o.initial_window_size = 65535;
  o.connection_window = 65535;
  Server s(o);
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(DataFrame(1, std::string(16384, 'x'))).ok());
  EXPECT_EQ(s.Out(), "");
  ASSERT_TRUE(s.Feed(DataFrame(1, std::string(16384, 'x'))).ok());
  EXPECT_EQ(s.Out(), "WINDOW_UPDATE(0,+32768); WINDOW_UPDATE(1,+32768)");
}

TEST(Rfc9113_6_9_1, ManualConsumeHoldsTheWindowUntilConsumed) {
  SessionOptions o = TestOptions();
  o.initial_window_size = 65535;
  o.connection_window = 65535;
  o.auto_window_update = false;
  Server s(o);
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(DataFrame(1, std::string(40000, 'x').substr(0, 16384))).ok());
  ASSERT_TRUE(s.Feed(DataFrame(1, std::string(16384, 'x'))).ok());
  EXPECT_EQ(s.Out(), "");
  s.session->Consume(1, 10000);
  EXPECT_EQ(s.Out(), "");
  s.session->Consume(1, 30000);  // more than was delivered: capped
  EXPECT_EQ(s.Out(), "WINDOW_UPDATE(0,+32768); WINDOW_UPDATE(1,+32768)");
}

TEST(Rfc9113_6_9_1, WindowAvailableFollowsAStallOnTheConnectionWindow) {
  Server s;
  ASSERT_TRUE(s.Feed(absl::StrCat(Request(1, true), Request(3, true))).ok());
  s.handler.Take();
  StartResponse(s, 1);
  StartResponse(s, 3);
  const std::string body(70000, 'b');
  absl::StatusOr<size_t> n = s.session->SendData(1, Span(body), true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 65535u);
  n = s.session->SendData(3, Span(body), true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  s.TakeFrames();
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(1, 10)).ok());  // stream only: still stalled
  EXPECT_EQ(s.handler.DescribeTake(), "");
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(0, 100000)).ok());
  const std::string ev = s.handler.DescribeTake();
  EXPECT_NE(ev.find("window(1)"), std::string::npos) << ev;
  EXPECT_NE(ev.find("window(3)"), std::string::npos) << ev;
}

// --- 6.9.2 Initial flow-control window size ---------------------------------------

TEST(Rfc9113_6_9_2, ChangingInitialWindowSizeAdjustsOpenStreams) {
  Server s;
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(0, 1 << 20)).ok());
  s.OpenRequest(1);
  StartResponse(s, 1);
  ASSERT_TRUE(s.session->SendData(1, Span(std::string(1000, 'x')), false).ok());
  s.TakeFrames();
  EXPECT_EQ(s.session->SendWindow(1), 65535u - 1000);
  ASSERT_TRUE(s.Feed(SettingsFrame({{0x4, 2000}})).ok());
  EXPECT_EQ(s.session->SendWindow(1), 1000u);
  ASSERT_TRUE(s.Feed(SettingsFrame({{0x4, 100000}})).ok());
  EXPECT_EQ(s.session->SendWindow(1), 99000u);
}

TEST(Rfc9113_6_9_2, NegativeWindowIsTrackedUntilUpdatesMakeItPositive) {
  Server s(TestOptions(), SettingsFrame({{0x4, 3}}));
  s.OpenRequest(1);
  StartResponse(s, 1);
  absl::StatusOr<size_t> n = s.session->SendData(1, Span("abcdef"), true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3u);
  EXPECT_EQ(s.Out(), "DATA(1,3)");
  ASSERT_TRUE(s.Feed(SettingsFrame({{0x4, 1}})).ok());  // window: 1 - 3 = -2
  EXPECT_EQ(s.Out(), "SETTINGS(ACK)");
  EXPECT_EQ(s.session->SendWindow(1), 0u);
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(1, 2)).ok());  // 0: still nothing
  EXPECT_EQ(s.session->SendWindow(1), 0u);
  EXPECT_EQ(s.handler.DescribeTake(), "settings");
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(1, 1)).ok());  // 1
  EXPECT_EQ(s.handler.DescribeTake(), "window(1)");
  n = s.session->SendData(1, Span("def"), true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_EQ(s.Out(), "DATA(1,1)");
}

TEST(Rfc9113_6_9_2, InitialWindowSizeThatOverflowsAStreamIsFlowControlError) {
  Server s;
  s.OpenRequest(1);
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(1, 0x7fffffffu - 65535)).ok());
  absl::Status st = s.Feed(SettingsFrame({{0x4, 65536}}));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFlowControlError, 1));
}

TEST(Rfc9113_6_9_2, InitialWindowSizeDoesNotChangeTheConnectionWindow) {
  Server s(TestOptions(), SettingsFrame({{0x4, 1 << 20}}));
  s.OpenRequest(1);
  StartResponse(s, 1);
  EXPECT_EQ(s.session->SendWindow(1), 65535u);  // the connection's
  absl::StatusOr<size_t> n = s.session->SendData(1, Span(std::string(100000, 'x')), true);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 65535u);
}

TEST(Rfc9113_6_9_2, InitialWindowIncreaseWakesBlockedStreams) {
  Server s(TestOptions(), SettingsFrame({{0x4, 10}}));
  s.OpenRequest(1);
  StartResponse(s, 1);
  ASSERT_TRUE(s.session->SendData(1, Span(std::string(100, 'x')), true).ok());
  s.TakeFrames();
  s.handler.Take();
  ASSERT_TRUE(s.Feed(SettingsFrame({{0x4, 50}})).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "settings; window(1)");
  EXPECT_EQ(s.session->SendWindow(1), 40u);
}

// --- 6.10 CONTINUATION -----------------------------------------------------------

TEST(Rfc9113_6_10, MultipleContinuationFramesAreAccepted) {
  Server s;
  const std::string b = Block(RequestHeaders("GET", "/", {{"x-long", std::string(100, 'v')}}));
  ASSERT_TRUE(s.Feed(absl::StrCat(HeadersFrame(1, b.substr(0, 20), kFlagEndStream),
                                  ContinuationFrame(1, b.substr(20, 30), 0),
                                  ContinuationFrame(1, "", 0),
                                  ContinuationFrame(1, b.substr(50), kFlagEndHeaders)))
                  .ok());
  std::vector<Event> ev = s.handler.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(Describe(ev[0]), "headers(1,request,END_STREAM)");
  EXPECT_EQ(ev[0].fields.back().second, std::string(100, 'v'));
}

TEST(Rfc9113_6_10, HeaderBlockSplitAtEveryByte) {
  const std::string b = Block(RequestHeaders("POST", "/split"));
  for (size_t cut = 0; cut <= b.size(); ++cut) {
    Server s;
    ASSERT_TRUE(s.Feed(absl::StrCat(HeadersFrame(1, b.substr(0, cut), 0),
                                    ContinuationFrame(1, b.substr(cut), kFlagEndHeaders)))
                    .ok());
    std::vector<Event> ev = s.handler.Take();
    ASSERT_EQ(ev.size(), 1u) << cut;
    EXPECT_EQ(ev[0].fields, RequestHeaders("POST", "/split")) << cut;
    EXPECT_FALSE(ev[0].end_stream);
  }
}

TEST(Rfc9113_6_10, ContinuationFollowedByOtherFrameIsProtocolError) {
  Server s;
  const std::string b = Block();
  absl::Status st = s.Feed(absl::StrCat(HeadersFrame(1, b.substr(0, 5), kFlagEndStream),
                                        ContinuationFrame(1, b.substr(5, 5), 0),
                                        DataFrame(1, "x")));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_10, ContinuationOnStreamZeroIsProtocolError) {
  Server s;
  const std::string b = Block();
  absl::Status st = s.Feed(absl::StrCat(HeadersFrame(1, b.substr(0, 5), kFlagEndStream),
                                        ContinuationFrame(0, b.substr(5), kFlagEndHeaders)));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_10, ContinuationAfterHeadersWithEndHeadersIsProtocolError) {
  Server s;
  absl::Status st =
      s.Feed(absl::StrCat(Request(1, true), ContinuationFrame(1, Block(), kFlagEndHeaders)));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 1));
}

TEST(Rfc9113_6_10, ContinuationAfterContinuationWithEndHeadersIsProtocolError) {
  Server s;
  const std::string b = Block();
  absl::Status st = s.Feed(absl::StrCat(HeadersFrame(1, b.substr(0, 5), kFlagEndStream),
                                        ContinuationFrame(1, b.substr(5), kFlagEndHeaders),
                                        ContinuationFrame(1, b, kFlagEndHeaders)));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 1));
}

TEST(Rfc9113_6_10, ContinuationAfterDataIsProtocolError) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  absl::Status st =
      s.Feed(absl::StrCat(DataFrame(1, "x"), ContinuationFrame(1, Block(), kFlagEndHeaders)));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 1));
}

TEST(Rfc9113_6_10, ContinuationOnAnotherStreamIsProtocolError) {
  Server s;
  const std::string b = Block();
  absl::Status st = s.Feed(absl::StrCat(HeadersFrame(1, b.substr(0, 5), kFlagEndStream),
                                        ContinuationFrame(3, b.substr(5), kFlagEndHeaders)));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_6_10, ClientReceivesResponseInContinuations) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  const std::string b = LiteralBlock(ResponseHeaders("204", {{"x-a", std::string(50, 'a')}}));
  ASSERT_TRUE(c.Feed(absl::StrCat(HeadersFrame(id, b.substr(0, 7), kFlagEndStream),
                                  ContinuationFrame(id, b.substr(7), kFlagEndHeaders)))
                  .ok());
  EXPECT_EQ(c.handler.DescribeTake(), "headers(1,response,END_STREAM); close(1,NO_ERROR,completed)");
}

}  // namespace
}  // namespace alts::http2::testing
