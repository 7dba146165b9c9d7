// Flood and abuse limits of Session, unit level: rapid reset (burst, then
// rate against an injected clock), CONTINUATION floods, the HPACK bomb,
// SETTINGS/PING/RST_STREAM reply floods while our output is not drained,
// empty-frame floods, WINDOW_UPDATE overflow, and PRIORITY loops that must
// cost nothing.
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http2/session.h"
#include "tests/http2/h2_test_util.h"

namespace alts::http2::testing {
namespace {

using Server = ServerSession;

// OpenAndReset opens stream `id` and resets it from the peer's side, then
// moves `id` to the next stream.
absl::Status OpenAndReset(SessionHarness& s, uint32_t& id) {
  absl::Status st = s.Feed(absl::StrCat(Request(id, false), RstStreamFrame(id, ErrorCode::kCancel)));
  id += 2;
  return st;
}

// --- Rapid reset (CVE-2023-44487) ---------------------------------------------

TEST(SessionFloodTest, RapidResetBurstThenRate) {
  SessionOptions o = TestOptions();
  o.peer_reset_burst = 10;
  o.peer_resets_per_second = 5;
  Server s(o);
  uint32_t id = 1;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(OpenAndReset(s, id).ok()) << i;
  EXPECT_EQ(s.Out(), "");  // resets cost the peer nothing to send and us nothing to answer
  // A second later five more tokens are there; the sixth is one too many.
  TestClock::Advance(absl::Seconds(1));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(OpenAndReset(s, id).ok()) << i;
  absl::Status st = OpenAndReset(s, id);
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, id - 2));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
}

TEST(SessionFloodTest, RapidResetDefaultBurst) {
  Server s;
  std::string in;
  uint32_t id = 1;
  for (uint32_t i = 0; i < kDefaultPeerResetBurst; ++i, id += 2) {
    absl::StrAppend(&in, Request(id, false), RstStreamFrame(id, ErrorCode::kCancel));
  }
  ASSERT_TRUE(s.Feed(in).ok());
  absl::Status st = s.Feed(absl::StrCat(Request(id, false), RstStreamFrame(id, ErrorCode::kCancel)));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, id));
}

TEST(SessionFloodTest, TokensRefillButNeverAboveTheBurst) {
  SessionOptions o = TestOptions();
  o.peer_reset_burst = 3;
  o.peer_resets_per_second = 1;
  Server s(o);
  uint32_t id = 1;
  ASSERT_TRUE(OpenAndReset(s, id).ok());
  TestClock::Advance(absl::Hours(1));  // refill is capped at 3
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(OpenAndReset(s, id).ok()) << i;
  EXPECT_FALSE(OpenAndReset(s, id).ok());
}

TEST(SessionFloodTest, ResetsThePeerProvokesCountAsRapidResets) {
  // "MadeYouReset" (CVE-2025-8671): a client that makes us reset each
  // stream it opens (here with a zero WINDOW_UPDATE) frees its concurrency
  // slot as fast as a RST_STREAM of its own would, while the handler has
  // started work on it. Our stream errors on its streams use the same
  // budget, even with our output drained.
  SessionOptions o = TestOptions();
  o.peer_reset_burst = 10;
  o.peer_resets_per_second = 5;
  Server s(o);
  uint32_t id = 1;
  absl::Status st;
  for (int i = 0; i < 20 && st.ok(); ++i, id += 2) {
    st = s.Feed(absl::StrCat(Request(id, false), WindowUpdateFrame(id, 0)));
    if (st.ok()) {
      EXPECT_EQ(s.Out(), absl::StrCat("RST_STREAM(", id, ",PROTOCOL_ERROR)"));
    }
    s.session->OnOutputDrained();
  }
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, id - 2));
  EXPECT_EQ(id, 1u + 2 * 11);  // the eleventh provoked reset is one too many
}

TEST(SessionFloodTest, ClientResetsOfItsOwnStreamsAreNotRateLimited) {
  // The rule bounds what a peer makes us do; a client session resetting its
  // own streams, or a server resetting the client's, is not limited.
  SessionOptions o = TestOptions();
  o.peer_reset_burst = 1;
  o.peer_resets_per_second = 1;
  SessionHarness c(Role::kClient, o);
  c.Handshake();
  for (int i = 0; i < 5; ++i) {
    const uint32_t id = c.OpenClientStream(true);
    ASSERT_TRUE(c.Feed(RstStreamFrame(id, ErrorCode::kRefusedStream)).ok());  // server resets
  }
  EXPECT_TRUE(c.session->status().ok());
}

// --- CONTINUATION flood -----------------------------------------------------------

TEST(SessionFloodTest, ContinuationFramesBeyondTheLimitAreEnhanceYourCalm) {
  const std::string block = LiteralBlock(RequestHeaders());
  {
    Server s;
    std::string in = HeadersFrame(1, block, kFlagEndStream);
    for (uint32_t i = 0; i < kMaxContinuationFrames - 1; ++i) in += ContinuationFrame(1, "", 0);
    in += ContinuationFrame(1, "", kFlagEndHeaders);
    ASSERT_TRUE(s.Feed(in).ok());
    EXPECT_EQ(s.handler.DescribeTake(), "headers(1,request,END_STREAM)");
  }
  Server s;
  std::string in = HeadersFrame(1, block, kFlagEndStream);
  for (uint32_t i = 0; i < kMaxContinuationFrames; ++i) in += ContinuationFrame(1, "", 0);
  ASSERT_TRUE(s.Feed(in).ok());
  absl::Status st = s.Feed(ContinuationFrame(1, "", kFlagEndHeaders));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, 0));
  EXPECT_EQ(s.handler.DescribeTake(), "");
}

TEST(SessionFloodTest, HeaderBlockBeyondMaxBytesIsEnhanceYourCalm) {
  Server s;
  const size_t base_heap = s.session->HeapBytes();
  std::string in = HeadersFrame(1, std::string(16384, 'h'), 0);
  for (int i = 0; i < 3; ++i) in += ContinuationFrame(1, std::string(16384, 'c'), 0);
  ASSERT_TRUE(s.Feed(in).ok());  // exactly kMaxHeaderBlockBytes held
  EXPECT_LE(s.session->HeapBytes(), base_heap + kMaxHeaderBlockBytes);
  EXPECT_GE(s.session->HeapBytes(), base_heap + kMaxHeaderBlockBytes / 2);
  absl::Status st = s.Feed(ContinuationFrame(1, "c", kFlagEndHeaders));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, 0));
  EXPECT_EQ(s.session->HeapBytes(), base_heap);
}

// --- HPACK bomb -------------------------------------------------------------------

TEST(SessionFloodTest, HpackBombIsOversizedAndTheConnectionGoesOn) {
  Server s;
  // One 4000-byte entry, then referenced 100 times: a 4 KB block that
  // decodes to 400 KB.
  std::string bomb = absl::StrCat(LiteralBlock(RequestHeaders()),
                                  IncrementalLiteral("x-bomb", std::string(4000, 'b')));
  for (int i = 0; i < 100; ++i) bomb += IndexedField(62);
  ASSERT_TRUE(s.Feed(HeadersFrame(1, bomb, kFlagEndHeaders | kFlagEndStream)).ok());
  std::vector<Event> ev = s.handler.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(Describe(ev[0]), "headers(1,request,oversized,END_STREAM)");
  EXPECT_TRUE(ev[0].fields.empty());
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.session->open_streams(), 1u);
  // The handler answers it (431); the next request, which uses the entry
  // the bomb added, decodes normally.
  ASSERT_TRUE(s.session->SubmitHeaders(1, Fields(ResponseHeaders("431")), true).ok());
  s.TakeFrames();
  s.handler.Take();
  ASSERT_TRUE(s.Feed(HeadersFrame(3, absl::StrCat(LiteralBlock(RequestHeaders()), IndexedField(62)),
                                  kFlagEndHeaders | kFlagEndStream))
                  .ok());
  ev = s.handler.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_FALSE(ev[0].oversized);
  EXPECT_EQ(ev[0].fields.back().second.size(), 4000u);
}

TEST(SessionFloodTest, OversizedTrailersAreReportedToo) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  std::string bomb = IncrementalLiteral("x-big", std::string(4000, 't'));
  for (int i = 0; i < 5; ++i) bomb += IndexedField(62);
  ASSERT_TRUE(s.Feed(HeadersFrame(1, bomb, kFlagEndHeaders | kFlagEndStream)).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "headers(1,trailers,oversized,END_STREAM)");
}

// --- Reply floods while our output is not drained (CVE-2019-9512/9515) --------------

TEST(SessionFloodTest, SettingsFloodWithoutDrainIsEnhanceYourCalm) {
  Server s;
  s.session->OnOutputDrained();
  std::string in;
  for (uint32_t i = 0; i < kMaxUnflushedControlFrames; ++i) in += SettingsFrame();
  ASSERT_TRUE(s.Feed(in).ok());
  EXPECT_EQ(CountFrames(s.TakeFrames(), FrameType::kSettings), kMaxUnflushedControlFrames);
  absl::Status st = s.Feed(SettingsFrame());
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, 0));
}

TEST(SessionFloodTest, PingFloodWithoutDrainIsEnhanceYourCalm) {
  Server s;
  s.session->OnOutputDrained();
  std::string in;
  for (uint32_t i = 0; i < kMaxUnflushedControlFrames; ++i) in += PingFrame(i);
  ASSERT_TRUE(s.Feed(in).ok());
  absl::Status st = s.Feed(PingFrame(0));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, 0));
}

TEST(SessionFloodTest, PingsAreFineWhenOutputDrains) {
  Server s;
  for (uint32_t i = 0; i < 3 * kMaxUnflushedControlFrames; ++i) {
    ASSERT_TRUE(s.Feed(PingFrame(i)).ok()) << i;
    s.sink.out.clear();
    s.session->OnOutputDrained();
  }
  EXPECT_TRUE(s.session->status().ok());
}

TEST(SessionFloodTest, DataOnManyClosedStreamsIsBoundedByTheReplyLimit) {
  // Each DATA on a closed stream draws a RST_STREAM(STREAM_CLOSED) from us.
  Server s;
  for (uint32_t id = 1; id < 4000; id += 2) {
    ASSERT_TRUE(s.Feed(Request(id, true)).ok());
    ASSERT_TRUE(s.session->SubmitHeaders(id, Fields(ResponseHeaders()), true).ok());
  }
  s.handler.Take();
  s.sink.out.clear();
  s.session->OnOutputDrained();
  std::string in;
  for (uint32_t id = 1; id < 4000; id += 2) absl::StrAppend(&in, DataFrame(id, "x"));
  absl::Status st = s.Feed(in);
  EXPECT_EQ(ErrorCodeOf(st), ErrorCode::kEnhanceYourCalm);
  std::vector<ParsedFrame> out = s.TakeFrames();
  EXPECT_EQ(CountFrames(out, FrameType::kRstStream), kMaxUnflushedControlFrames);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(Describe(out.back()), "GOAWAY(3999,ENHANCE_YOUR_CALM)");
}

// --- Frames without progress (CVE-2019-9518) ---------------------------------------

TEST(SessionFloodTest, EmptyDataFloodIsEnhanceYourCalm) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  std::string in;
  for (uint32_t i = 0; i < kMaxUselessFrames; ++i) in += DataFrame(1, "");
  ASSERT_TRUE(s.Feed(in).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "");
  absl::Status st = s.Feed(DataFrame(1, ""));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, 1));
}

TEST(SessionFloodTest, ProgressResetsTheUselessCount) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  for (int round = 0; round < 3; ++round) {
    std::string in;
    for (uint32_t i = 0; i < kMaxUselessFrames; ++i) in += DataFrame(1, "");
    in += DataFrame(1, "x");
    ASSERT_TRUE(s.Feed(in).ok()) << round;
  }
  EXPECT_EQ(s.handler.bodies[1], "xxx");
}

TEST(SessionFloodTest, UnknownFrameFloodIsEnhanceYourCalm) {
  Server s;
  std::string in;
  for (uint32_t i = 0; i <= kMaxUselessFrames; ++i) in += RawFrame(0xee, 0, 0, "");
  absl::Status st = s.Feed(in);
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, 0));
}

TEST(SessionFloodTest, EmptyContinuationFloodIsBounded) {
  Server s;
  std::string in = HeadersFrame(1, LiteralBlock(RequestHeaders()), 0);
  for (int i = 0; i < 100; ++i) in += ContinuationFrame(1, "", 0);
  absl::Status st = s.Feed(in);
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, 0));
}

TEST(SessionFloodTest, WindowUpdateFloodIsBounded) {
  // Increments of 1 on the connection change nothing useful: the useless
  // count ends them long before the window could overflow.
  Server s;
  std::string in;
  for (uint32_t i = 0; i <= kMaxUselessFrames; ++i) in += WindowUpdateFrame(0, 1);
  absl::Status st = s.Feed(in);
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, 0));
}

TEST(SessionFloodTest, WindowUpdateOverflowIsFlowControlError) {
  Server s;
  std::string in;
  for (int i = 0; i < 64; ++i) in += WindowUpdateFrame(0, 1u << 26);
  absl::Status st = s.Feed(in);
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kFlowControlError, 0));
  Server t;
  t.OpenRequest(1);
  in.clear();
  for (int i = 0; i < 64; ++i) in += WindowUpdateFrame(1, 1u << 26);
  ASSERT_TRUE(t.Feed(in).ok());
  std::vector<ParsedFrame> out = t.TakeFrames();
  ASSERT_EQ(Describe(out), "RST_STREAM(1,FLOW_CONTROL_ERROR)");
}

TEST(SessionFloodTest, RepeatedSettingsCountAsUseless) {
  // SETTINGS after the first change nothing we must act on; with the output
  // drained they are bounded by the useless-frame count alone.
  Server s;
  for (uint32_t i = 0; i < kMaxUselessFrames; i += 500) {
    std::string in;
    for (int j = 0; j < 500; ++j) in += SettingsFrame();
    ASSERT_TRUE(s.Feed(in).ok()) << i;
    s.sink.out.clear();
    s.session->OnOutputDrained();
  }
  absl::Status st = s.Feed(SettingsFrame());
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kEnhanceYourCalm, 0));
}

// --- PRIORITY loops ------------------------------------------------------------------

TEST(SessionFloodTest, PriorityFramesCostNothing) {
  Server s;
  s.OpenRequest(1);
  const size_t heap = s.session->HeapBytes();
  std::string in;
  for (uint32_t i = 0; i < 20000; ++i) {
    const uint32_t id = 1 + 2 * (i % 500);  // open, closed and idle streams alike
    in += PriorityFrame(id, id + 2, static_cast<uint8_t>(i), (i & 1) != 0);
  }
  ASSERT_TRUE(s.FeedSplit(in, 4096).ok());
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.handler.DescribeTake(), "");
  EXPECT_EQ(s.session->HeapBytes(), heap);
  EXPECT_EQ(s.session->open_streams(), 1u);
  EXPECT_EQ(s.session->last_peer_stream_id(), 1u);  // PRIORITY opens nothing
}

}  // namespace
}  // namespace alts::http2::testing
