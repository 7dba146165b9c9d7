// RFC 9113 section 5 (streams and multiplexing): every stream state, stream
// identifiers, concurrency, self-dependency, error handling and extensions,
// as h2spec names its cases, for the server role and for the client role
// where the rule is about what a server sends.
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http2/session.h"
#include "tests/http2/h2_test_util.h"

namespace alts::http2::testing {
namespace {

std::string HeaderBlock(const HeaderList& h = RequestHeaders()) { return LiteralBlock(h); }

using Server = ServerSession;
using Client = ClientSession;

// Server: respond to stream `id` and end it from our side.
void RespondAndEnd(Server& s, uint32_t id) {
  ASSERT_TRUE(s.session->SubmitHeaders(id, Fields(ResponseHeaders()), true).ok());
  s.TakeFrames();
}

// --- 5.1 Stream states: idle ---------------------------------------------------

TEST(Rfc9113_5_1, IdleDataIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(DataFrame(1, "x"));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_5_1, IdleRstStreamIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(RstStreamFrame(1, ErrorCode::kCancel));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_5_1, IdleWindowUpdateIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(WindowUpdateFrame(1, 100));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_5_1, IdleContinuationIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(ContinuationFrame(1, HeaderBlock(), kFlagEndHeaders));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_5_1, IdlePriorityIsAllowed) {
  Server s;
  ASSERT_TRUE(s.Feed(PriorityFrame(3, 0)).ok());
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.session->open_streams(), 0u);
  // The stream is still idle: a request may open it.
  ASSERT_TRUE(s.Feed(Request(3)).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "headers(3,request,END_STREAM)");
}

TEST(Rfc9113_5_1, IdleDataOnOurOwnStreamIdIsProtocolError) {
  Server s;  // even ids are ours; none was used
  absl::Status st = s.Feed(DataFrame(2, "x"));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_5_1, ClientIdleResponseHeadersIsProtocolError) {
  Client c;
  absl::Status st = c.Feed(Response(1));  // we never opened stream 1
  EXPECT_TRUE(IsConnectionError(c, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_5_1, ClientIdleDataIsProtocolError) {
  Client c;
  c.OpenClientStream();
  absl::Status st = c.Feed(DataFrame(3, "x"));
  EXPECT_TRUE(IsConnectionError(c, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_5_1, ClientServerInitiatedStreamIsProtocolError) {
  Client c;
  absl::Status st = c.Feed(Response(2));
  EXPECT_TRUE(IsConnectionError(c, st, ErrorCode::kProtocolError, 0));
}

// --- 5.1 reserved (push is disabled both ways: 8.4) ------------------------------

TEST(Rfc9113_5_1, ClientReceivingPushPromiseIsProtocolError) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  absl::Status st = c.Feed(PushPromiseFrame(id, 2, HeaderBlock()));
  EXPECT_TRUE(IsConnectionError(c, st, ErrorCode::kProtocolError, 0));
  EXPECT_EQ(c.handler.DescribeTake(), "close(1,PROTOCOL_ERROR,connection_closed)");
}

// --- 5.1 open ------------------------------------------------------------------

TEST(Rfc9113_5_1, OpenStreamCarriesDataAndTrailers) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  EXPECT_EQ(s.session->open_streams(), 1u);
  ASSERT_TRUE(s.Feed(absl::StrCat(DataFrame(1, "abc"), DataFrame(1, "def"), Trailers(1))).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "data(1,3); data(1,3); headers(1,trailers,END_STREAM)");
  EXPECT_EQ(s.handler.bodies[1], "abcdef");
  EXPECT_EQ(s.handler.blocks[1].back(), (HeaderList{{"grpc-status", "0"}}));
  EXPECT_EQ(s.session->open_streams(), 1u);  // half-closed (remote) until we end it
  RespondAndEnd(s, 1);
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,NO_ERROR,completed)");
  EXPECT_EQ(s.session->open_streams(), 0u);
}

TEST(Rfc9113_5_1, OpenRstStreamFromPeerClosesTheStream) {
  Server s;
  s.OpenRequest(1);
  int marker = 0;
  s.session->SetStreamData(1, &marker);
  ASSERT_TRUE(s.Feed(RstStreamFrame(1, ErrorCode::kCancel)).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,CANCEL,reset_by_peer)");
  EXPECT_EQ(s.handler.close_data[1], &marker);
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.session->open_streams(), 0u);
  EXPECT_EQ(s.session->stream_data(1), nullptr);
  EXPECT_EQ(s.session->SubmitHeaders(1, Fields(ResponseHeaders()), true).code(),
            absl::StatusCode::kNotFound);
}

TEST(Rfc9113_5_1, OpenResetByUsSendsRstStream) {
  Server s;
  s.OpenRequest(1);
  s.session->ResetStream(1, ErrorCode::kCancel);
  EXPECT_EQ(s.Out(), "RST_STREAM(1,CANCEL)");
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,CANCEL,reset_by_us)");
  s.session->ResetStream(1, ErrorCode::kCancel);  // unknown now: no-op
  EXPECT_EQ(s.Out(), "");
}

// --- 5.1 half-closed (remote) --------------------------------------------------------

TEST(Rfc9113_5_1, HalfClosedRemoteDataIsStreamClosed) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());
  s.handler.Take();
  ASSERT_TRUE(s.Feed(DataFrame(1, "late")).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,STREAM_CLOSED)");
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,STREAM_CLOSED,reset_by_us)");
  EXPECT_EQ(s.session->open_streams(), 0u);
}

TEST(Rfc9113_5_1, HalfClosedRemoteHeadersIsStreamClosed) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());
  s.handler.Take();
  ASSERT_TRUE(s.Feed(Trailers(1)).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,STREAM_CLOSED)");
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,STREAM_CLOSED,reset_by_us)");
}

TEST(Rfc9113_5_1, HalfClosedRemoteContinuationIsProtocolError) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());
  absl::Status st = s.Feed(ContinuationFrame(1, HeaderBlock(), kFlagEndHeaders));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 1));
}

TEST(Rfc9113_5_1, HalfClosedRemoteAllowsWindowUpdatePriorityAndRst) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());
  s.handler.Take();
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(0, 1 << 20)).ok());  // the connection is not the limit
  const size_t before = s.session->SendWindow(1);
  ASSERT_TRUE(s.Feed(absl::StrCat(WindowUpdateFrame(1, 1000), PriorityFrame(1, 0))).ok());
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.session->SendWindow(1), before + 1000);
  // We can still send on it.
  ASSERT_TRUE(s.session->SubmitHeaders(1, Fields(ResponseHeaders()), false).ok());
  ASSERT_TRUE(s.session->SendData(1, Span("body"), false).ok());
  EXPECT_EQ(s.Out(), "HEADERS(1,END_HEADERS); DATA(1,4)");
  ASSERT_TRUE(s.Feed(RstStreamFrame(1, ErrorCode::kCancel)).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,CANCEL,reset_by_peer)");
  EXPECT_EQ(s.Out(), "");
}

// --- 5.1 half-closed (local) ---------------------------------------------------------

TEST(Rfc9113_5_1, HalfClosedLocalStillReceivesDataUntilPeerEnds) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  RespondAndEnd(s, 1);  // our side is done
  EXPECT_EQ(s.session->open_streams(), 1u);
  EXPECT_EQ(s.session->SendData(1, Span("x"), false).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.session->SubmitHeaders(1, Fields({{"a", "b"}}), true).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(s.Feed(absl::StrCat(DataFrame(1, "more"), WindowUpdateFrame(1, 10))).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "data(1,4)");
  ASSERT_TRUE(s.Feed(DataFrame(1, "", kFlagEndStream)).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "data(1,0,END_STREAM); close(1,NO_ERROR,completed)");
  EXPECT_EQ(s.Out(), "");
}

// --- 5.1 closed ----------------------------------------------------------------

TEST(Rfc9113_5_1, ClosedDataAfterPeerRstStreamIsStreamClosed) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(RstStreamFrame(1, ErrorCode::kCancel)).ok());
  s.handler.Take();
  ASSERT_TRUE(s.Feed(DataFrame(1, "x")).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,STREAM_CLOSED)");
  EXPECT_EQ(s.handler.DescribeTake(), "");
}

TEST(Rfc9113_5_1, ClosedHeadersAfterPeerRstStreamIsStreamClosed) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(RstStreamFrame(1, ErrorCode::kCancel)).ok());
  s.handler.Take();
  absl::Status st = s.Feed(Trailers(1));
  // A stream error is what the rule asks; the session ends the connection
  // (RFC 9113 5.4: any stream error may be treated as a connection error).
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kStreamClosed, 1));
}

TEST(Rfc9113_5_1, ClosedContinuationAfterPeerRstStreamIsProtocolError) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(RstStreamFrame(1, ErrorCode::kCancel)).ok());
  absl::Status st = s.Feed(ContinuationFrame(1, HeaderBlock(), kFlagEndHeaders));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 1));
}

TEST(Rfc9113_5_1, ClosedDataAfterEndStreamBothWaysIsStreamClosed) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());
  RespondAndEnd(s, 1);
  s.handler.Take();
  ASSERT_TRUE(s.Feed(DataFrame(1, "x")).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,STREAM_CLOSED)");
}

TEST(Rfc9113_5_1, ClosedHeadersAfterEndStreamIsStreamClosedConnectionError) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());
  RespondAndEnd(s, 1);
  absl::Status st = s.Feed(Request(1, true));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kStreamClosed, 1));
}

TEST(Rfc9113_5_1, ClosedContinuationAfterEndStreamIsProtocolError) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());
  RespondAndEnd(s, 1);
  absl::Status st = s.Feed(ContinuationFrame(1, HeaderBlock(), kFlagEndHeaders));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 1));
}

TEST(Rfc9113_5_1, ClosedPriorityIsAllowed) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());
  RespondAndEnd(s, 1);
  ASSERT_TRUE(s.Feed(PriorityFrame(1, 0)).ok());
  EXPECT_EQ(s.Out(), "");
  EXPECT_TRUE(s.session->status().ok());
}

TEST(Rfc9113_5_1, ClosedWindowUpdateAndRstStreamAreIgnored) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());
  RespondAndEnd(s, 1);
  s.handler.Take();
  ASSERT_TRUE(s.Feed(absl::StrCat(WindowUpdateFrame(1, 5), RstStreamFrame(1, 8))).ok());
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.handler.DescribeTake(), "");
}

TEST(Rfc9113_5_1, FramesAfterWeSentRstStreamAreIgnored) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  s.session->ResetStream(1, ErrorCode::kCancel);
  EXPECT_EQ(s.Out(), "RST_STREAM(1,CANCEL)");
  s.handler.Take();
  // Frames the peer had in flight: ignored, not answered.
  ASSERT_TRUE(s.Feed(absl::StrCat(DataFrame(1, "in flight"), WindowUpdateFrame(1, 7),
                                  PriorityFrame(1, 0), Trailers(1),
                                  RstStreamFrame(1, ErrorCode::kCancel)))
                  .ok());
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.handler.DescribeTake(), "");
  EXPECT_TRUE(s.session->status().ok());
}

TEST(Rfc9113_5_1, DiscardedDataStillCountsForTheConnectionWindow) {
  // DATA on a stream we reset is flow-controlled: its bytes go back to the
  // connection window, or a peer would stall after enough of them.
  SessionOptions o = TestOptions();
  o.connection_window = 65535;
  o.initial_window_size = 65535;
  SessionHarness s(Role::kServer, o);
  s.Handshake();
  s.OpenRequest(1, RequestHeaders("POST"));
  s.session->ResetStream(1, ErrorCode::kCancel);
  s.TakeFrames();
  const std::string chunk(16384, 'x');
  uint64_t credited = 0;
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(s.Feed(DataFrame(1, chunk)).ok()) << i;
    for (const ParsedFrame& f : s.TakeFrames()) {
      ASSERT_EQ(f.type(), FrameType::kWindowUpdate);
      EXPECT_EQ(f.stream_id(), 0u);
      credited += f.window_increment();
    }
  }
  EXPECT_GE(credited + 65535, 16u * 16384);
}

TEST(Rfc9113_5_1, ClientFramesAfterWeSentRstStreamAreIgnored) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  c.session->ResetStream(id, ErrorCode::kCancel);
  EXPECT_EQ(c.Out(), "RST_STREAM(1,CANCEL)");
  c.handler.Take();
  ASSERT_TRUE(c.Feed(absl::StrCat(Response(id, false), DataFrame(id, "late"),
                                  DataFrame(id, "", kFlagEndStream)))
                  .ok());
  EXPECT_EQ(c.Out(), "");
  EXPECT_EQ(c.handler.DescribeTake(), "");
}

TEST(Rfc9113_5_1, ClientRstStreamFromServerClosesStream) {
  Client c;
  const uint32_t id = c.OpenClientStream(false);
  ASSERT_TRUE(c.Feed(RstStreamFrame(id, ErrorCode::kInternalError)).ok());
  EXPECT_EQ(c.handler.DescribeTake(), "close(1,INTERNAL_ERROR,reset_by_peer)");
  EXPECT_EQ(c.session->SendData(id, Span("x"), true).status().code(),
            absl::StatusCode::kNotFound);
  // REFUSED_STREAM says the request was not processed: safe to retry.
  const uint32_t id2 = c.OpenClientStream(false);
  ASSERT_TRUE(c.Feed(RstStreamFrame(id2, ErrorCode::kRefusedStream)).ok());
  EXPECT_EQ(c.handler.DescribeTake(), "close(3,REFUSED_STREAM,refused)");
}

// --- 5.1.1 Stream identifiers --------------------------------------------------------

TEST(Rfc9113_5_1_1, EvenStreamIdentifierIsProtocolError) {
  Server s;
  absl::Status st = s.Feed(Request(2));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_5_1_1, SmallerStreamIdentifierThanPreviousIsProtocolError) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(5, true)).ok());
  absl::Status st = s.Feed(Request(3, true));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 5));
}

TEST(Rfc9113_5_1_1, SkippedStreamIdentifiersAreClosed) {
  // Opening 7 closes idle 1, 3 and 5: DATA on them is no longer "idle".
  Server s;
  ASSERT_TRUE(s.Feed(Request(7, false)).ok());
  EXPECT_EQ(s.session->last_peer_stream_id(), 7u);
  ASSERT_TRUE(s.Feed(DataFrame(3, "x")).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(3,STREAM_CLOSED)");
}

TEST(Rfc9113_5_1_1, ClientStreamIdentifiersAreOddAndIncreasing) {
  Client c;
  EXPECT_EQ(c.OpenClientStream(true), 1u);
  EXPECT_EQ(c.OpenClientStream(true), 3u);
  EXPECT_EQ(c.OpenClientStream(true), 5u);
}

// --- 5.1.2 Stream concurrency --------------------------------------------------------

TEST(Rfc9113_5_1_2, ExceedingMaxConcurrentStreamsIsRefusedStream) {
  SessionOptions o = TestOptions();
  o.max_concurrent_streams = 2;
  Server s(o);
  ASSERT_TRUE(s.Feed(absl::StrCat(Request(1, false), Request(3, false))).ok());
  s.handler.Take();
  ASSERT_TRUE(s.Feed(Request(5, false)).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(5,REFUSED_STREAM)");
  EXPECT_EQ(s.handler.DescribeTake(), "");
  EXPECT_EQ(s.session->open_streams(), 2u);
  // A stream that closes makes room.
  ASSERT_TRUE(s.Feed(RstStreamFrame(1, ErrorCode::kCancel)).ok());
  s.handler.Take();
  ASSERT_TRUE(s.Feed(Request(7, false)).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "headers(7,request)");
  EXPECT_EQ(s.Out(), "");
}

TEST(Rfc9113_5_1_2, HalfClosedStreamsCountTowardsTheLimit) {
  SessionOptions o = TestOptions();
  o.max_concurrent_streams = 1;
  Server s(o);
  ASSERT_TRUE(s.Feed(Request(1, true)).ok());  // half-closed (remote): still counts
  ASSERT_TRUE(s.Feed(Request(3, true)).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(3,REFUSED_STREAM)");
}

TEST(Rfc9113_5_1_2, ClientHonoursPeerMaxConcurrentStreams) {
  SessionHarness c(Role::kClient);
  c.Handshake(SettingsFrame({{0x3, 1}}));
  const uint32_t id = c.OpenClientStream(false);
  EXPECT_EQ(c.session->SubmitRequest(Fields(RequestHeaders()), true, nullptr).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(c.Out(), "");
  ASSERT_TRUE(c.Feed(RstStreamFrame(id, ErrorCode::kCancel)).ok());
  EXPECT_TRUE(c.session->SubmitRequest(Fields(RequestHeaders()), true, nullptr).ok());
}

TEST(Rfc9113_5_1_2, ClientMaxConcurrentStreamsZeroRefusesEveryRequest) {
  SessionHarness c(Role::kClient);
  c.Handshake(SettingsFrame({{0x3, 0}}));
  EXPECT_EQ(c.session->SubmitRequest(Fields(RequestHeaders()), true, nullptr).status().code(),
            absl::StatusCode::kResourceExhausted);
  // The limit may rise later.
  ASSERT_TRUE(c.Feed(SettingsFrame({{0x3, 5}})).ok());
  EXPECT_TRUE(c.session->SubmitRequest(Fields(RequestHeaders()), true, nullptr).ok());
}

// --- 5.3.1 Stream dependencies ------------------------------------------------------

TEST(Rfc9113_5_3_1, HeadersDependingOnItselfIsProtocolError) {
  Server s;
  HeadersOptions prio;
  prio.depends_on = 1;
  ASSERT_TRUE(s.Feed(HeadersFrame(1, HeaderBlock(), kFlagEndHeaders | kFlagEndStream, prio)).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(s.handler.DescribeTake(), "");
  EXPECT_EQ(s.session->open_streams(), 0u);
}

TEST(Rfc9113_5_3_1, PriorityDependingOnItselfIsProtocolError) {
  // On an open stream: a stream error that closes it.
  Server s;
  s.OpenRequest(3);
  ASSERT_TRUE(s.Feed(PriorityFrame(3, 3)).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(3,PROTOCOL_ERROR)");
  EXPECT_EQ(s.handler.DescribeTake(), "close(3,PROTOCOL_ERROR,reset_by_us)");
  EXPECT_TRUE(s.session->status().ok());
}

TEST(Rfc9113_5_3_1, PriorityDependingOnItselfOnIdleStreamIsConnectionError) {
  // RST_STREAM must not be sent for an idle stream (RFC 9113 6.4: the peer
  // would take it as a connection error), so the stream error becomes a
  // connection error.
  Server s;
  absl::Status st = s.Feed(PriorityFrame(1, 1));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_5_3_2, PriorityFieldsInHeadersAreAcceptedAndIgnored) {
  Server s;
  HeadersOptions prio;
  prio.depends_on = 0x80000000u | 7;  // exclusive on a stream that does not exist
  prio.weight = 255;
  ASSERT_TRUE(s.Feed(HeadersFrame(1, HeaderBlock(), kFlagEndHeaders | kFlagEndStream, prio)).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "headers(1,request,END_STREAM)");
  EXPECT_EQ(s.Out(), "");
}

// --- 5.4.1 Connection error handling -------------------------------------------------

TEST(Rfc9113_5_4_1, ConnectionErrorSendsGoawayWithLastProcessedStream) {
  Server s;
  ASSERT_TRUE(s.Feed(absl::StrCat(Request(1, false), Request(3, false))).ok());
  s.handler.Take();
  absl::Status st = s.Feed(RawFrame(FrameType::kPing, 0, 0, "short"));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFrameSizeError, 3));
  const std::string ev = s.handler.DescribeTake();
  EXPECT_NE(ev.find("close(1,FRAME_SIZE_ERROR,connection_closed)"), std::string::npos) << ev;
  EXPECT_NE(ev.find("close(3,FRAME_SIZE_ERROR,connection_closed)"), std::string::npos) << ev;
}

TEST(Rfc9113_5_4_1, NothingIsSentOrDeliveredAfterAConnectionError) {
  Server t;
  t.OpenRequest(1);
  absl::Status st = t.Feed(absl::StrCat(RawFrame(FrameType::kSettings, 0, 0, "xxxxx"), PingFrame(2)));
  EXPECT_TRUE(IsConnectionError(t, st, ErrorCode::kFrameSizeError, 1));
  t.handler.Take();
  EXPECT_FALSE(t.session->SubmitHeaders(1, Fields(ResponseHeaders()), true).ok());
  EXPECT_FALSE(t.session->SendData(1, Span("x"), true).ok());
  t.session->Ping(1);
  t.session->ResetStream(1, ErrorCode::kCancel);
  t.session->GoAway(ErrorCode::kNoError);
  EXPECT_EQ(t.Out(), "");
  EXPECT_EQ(t.handler.DescribeTake(), "");
  EXPECT_EQ(t.session->CheckTimeouts(TestClock::now + absl::Hours(1)), t.session->status());
}

TEST(Rfc9113_5_4_2, StreamErrorLeavesOtherStreamsAlone) {
  Server s;
  ASSERT_TRUE(s.Feed(absl::StrCat(Request(1, false, RequestHeaders("POST")),
                                  Request(3, false, RequestHeaders("POST"))))
                  .ok());
  s.handler.Take();
  ASSERT_TRUE(s.Feed(WindowUpdateFrame(1, 0)).ok());  // stream error on 1
  EXPECT_EQ(s.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  ASSERT_TRUE(s.Feed(DataFrame(3, "fine", kFlagEndStream)).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,PROTOCOL_ERROR,reset_by_us); data(3,4,END_STREAM)");
}

TEST(Rfc9113_5_4_3, GoawayFromUsOnErrorUsesTheErrorCode) {
  Server s;
  s.OpenRequest(1);
  s.session->GoAway(ErrorCode::kInternalError, "bye");
  std::vector<ParsedFrame> out = s.TakeFrames();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(Describe(out[0]), "GOAWAY(1,INTERNAL_ERROR)");
  EXPECT_EQ(out[0].goaway_debug(), "bye");
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,INTERNAL_ERROR,connection_closed)");
  EXPECT_TRUE(s.session->ended());
  EXPECT_EQ(ErrorCodeOf(s.session->status()), ErrorCode::kInternalError);
}

// --- 5.5 Extending HTTP/2 ------------------------------------------------------------

TEST(Rfc9113_5_5, UnknownExtensionFrameIsIgnored) {
  Server s;
  ASSERT_TRUE(s.Feed(absl::StrCat(RawFrame(0x16, 0, 0, std::string(100, 'e')), PingFrame(9))).ok());
  EXPECT_EQ(s.Out(), "PING(ACK,0x9)");
}

TEST(Rfc9113_5_5, UnknownExtensionFrameInsideHeaderBlockIsProtocolError) {
  Server s;
  const std::string block = HeaderBlock();
  absl::Status st = s.Feed(absl::StrCat(HeadersFrame(1, block.substr(0, 4), kFlagEndStream),
                                        RawFrame(0x16, 0, 1, "x"),
                                        ContinuationFrame(1, block.substr(4), kFlagEndHeaders)));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 0));
}

TEST(Rfc9113_5_5, UnknownSettingIsIgnored) {
  Server s;
  ASSERT_TRUE(s.Feed(absl::StrCat(SettingsFrame({{0xff, 1}, {0x8, 1}}), PingFrame(4))).ok());
  EXPECT_EQ(s.Out(), "SETTINGS(ACK); PING(ACK,0x4)");
}

TEST(Rfc9113_5_5, UnknownErrorCodesAreKeptAsTheirNumber) {
  Server s;
  s.OpenRequest(1);
  ASSERT_TRUE(s.Feed(RstStreamFrame(1, 0xabcdu)).ok());
  std::vector<Event> ev = s.handler.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(static_cast<uint32_t>(ev[0].code), 0xabcdu);
  ASSERT_TRUE(s.Feed(GoawayFrame(0, 0xdeadu, "why")).ok());
  ev = s.handler.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(static_cast<uint32_t>(ev[0].code), 0xdeadu);
  EXPECT_EQ(ev[0].data, "why");
  EXPECT_EQ(s.Out(), "");
  EXPECT_TRUE(s.session->status().ok());
}

}  // namespace
}  // namespace alts::http2::testing
