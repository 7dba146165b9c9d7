// Both roles end to end: a client Session and a server Session wired
// together in memory. Bodies of many sizes split at every byte boundary,
// trailers, resets both ways, graceful GOAWAY, flow-control stalls,
// MAX_CONCURRENT_STREAMS, large header blocks in CONTINUATION frames, the
// peer's max frame size, and HeapBytes back at its idle value.
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http2/session.h"
#include "tests/http2/h2_test_util.h"

namespace alts::http2::testing {
namespace {

std::string Body(size_t n, uint32_t seed = 1) {
  std::string b(n, '\0');
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<char>((i * 131 + seed * 7) >> 3);
  return b;
}

// Outbox sends bodies on a session as its windows allow, resuming on
// OnWindowAvailable; trailers (if any) follow the body.
struct Outbox {
  struct Pending {
    std::string body;
    size_t sent = 0;
    HeaderList trailers;
    bool done = false;
  };
  Session* session = nullptr;
  std::map<uint32_t, Pending> pending;

  void Send(uint32_t id, std::string body, HeaderList trailers = {}) {
    Pending& p = pending[id];
    p.body = std::move(body);
    p.trailers = std::move(trailers);
    Flush(id);
  }
  void Flush(uint32_t id) {
    auto it = pending.find(id);
    if (it == pending.end() || it->second.done) return;
    Pending& p = it->second;
    const bool has_trailers = !p.trailers.empty();
    absl::StatusOr<size_t> n = session->SendData(
        id, Span(absl::string_view(p.body).substr(p.sent)), !has_trailers);
    ASSERT_TRUE(n.ok()) << n.status();
    p.sent += *n;
    if (p.sent < p.body.size()) return;
    if (has_trailers) {
      ASSERT_TRUE(session->SubmitHeaders(id, Fields(p.trailers), true).ok());
    }
    p.done = true;
  }
};

// EchoPair: the server answers each request, once it has ended, with 200,
// the request body and trailers (x-len: body length).
struct EchoPair : SessionPair {
  explicit EchoPair(const SessionOptions& c = TestOptions(), const SessionOptions& s = TestOptions())
      : SessionPair(c, s) {
    client_out.session = client.get();
    server_out.session = server.get();
    client_handler.on_window = [this](uint32_t id) { client_out.Flush(id); };
    server_handler.on_window = [this](uint32_t id) { server_out.Flush(id); };
    server_handler.on_headers = [this](uint32_t id, const ReceivedHeaders& h, bool end) {
      if (end) Answer(id);
    };
    server_handler.on_data = [this](uint32_t id, absl::Span<const uint8_t>, bool end) {
      if (end) Answer(id);
    };
    EXPECT_TRUE(Pump());
  }
  void Answer(uint32_t id) {
    if (!answer) return;
    ASSERT_TRUE(server->SubmitHeaders(id, Fields(ResponseHeaders()), false).ok());
    const std::string body = server_handler.bodies[id];
    server_out.Send(id, body, {{"x-len", absl::StrCat(body.size())}});
  }
  // Request opens a POST with `body` (and trailers if given).
  uint32_t Request(const std::string& body, HeaderList trailers = {},
                   const HeaderList& headers = RequestHeaders("POST")) {
    absl::StatusOr<uint32_t> id = client->SubmitRequest(Fields(headers), false, nullptr);
    EXPECT_TRUE(id.ok()) << id.status();
    if (!id.ok()) return 0;
    client_out.Send(*id, body, std::move(trailers));
    return *id;
  }
  bool answer = true;
  Outbox client_out, server_out;
};

TEST(SessionPairTest, BodiesOfManySizesInManyPieces) {
  for (size_t size : {0, 1, 100, 16383, 16384, 16385, 65535, 65536, 65537, 300000}) {
    for (size_t piece : {0, 1, 7, 1000, 16393}) {
      if (piece == 1 && size > 20000) continue;  // byte by byte costs a Receive per byte
      SCOPED_TRACE(::testing::Message() << "size " << size << " piece " << piece);
      EchoPair p;
      const std::string body = Body(size);
      const uint32_t id = p.Request(body, {{"x-sum", "1"}});
      ASSERT_TRUE(p.Pump(piece)) << p.client_status << p.server_status;
      EXPECT_EQ(p.server_handler.bodies[id], body);
      EXPECT_EQ(p.client_handler.bodies[id], body);
      ASSERT_EQ(p.client_handler.blocks[id].size(), 2u);
      EXPECT_EQ(p.client_handler.blocks[id][1], (HeaderList{{"x-len", absl::StrCat(size)}}));
      EXPECT_EQ(p.server_handler.blocks[id].back(), (HeaderList{{"x-sum", "1"}}));
      EXPECT_EQ(p.client_handler.closed[id], CloseCause::kCompleted);
      EXPECT_EQ(p.server_handler.closed[id], CloseCause::kCompleted);
      EXPECT_EQ(p.client->open_streams(), 0u);
      EXPECT_EQ(p.server->open_streams(), 0u);
    }
  }
}

TEST(SessionPairTest, ExchangeSplitAtEveryByteBoundary) {
  // The client's whole output (preface, SETTINGS, request with body and
  // trailers) delivered in two parts, cut at every position.
  SessionOptions o = TestOptions();
  std::string client_bytes;
  RecordingHandler h;
  StringSink sink;
  Session client(Role::kClient, &o, &h, &sink);
  client.Start();
  absl::StatusOr<uint32_t> id = client.SubmitRequest(Fields(RequestHeaders("POST")), false, nullptr);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(client.SendData(*id, Span("hello, world"), false).ok());
  ASSERT_TRUE(client.SubmitHeaders(*id, Fields({{"x-t", "v"}}), true).ok());
  client_bytes = sink.Take();
  for (size_t cut = 0; cut <= client_bytes.size(); ++cut) {
    SessionHarness s(Role::kServer);
    s.session->Start();
    ASSERT_TRUE(s.Feed(absl::string_view(client_bytes).substr(0, cut)).ok()) << cut;
    ASSERT_TRUE(s.Feed(absl::string_view(client_bytes).substr(cut)).ok()) << cut;
    EXPECT_EQ(s.handler.bodies[1], "hello, world") << cut;
    ASSERT_EQ(s.handler.blocks[1].size(), 2u) << cut;
    EXPECT_EQ(s.handler.blocks[1][0], RequestHeaders("POST"));
    EXPECT_EQ(s.handler.blocks[1][1], (HeaderList{{"x-t", "v"}}));
  }
}

TEST(SessionPairTest, ManyConcurrentStreamsInterleave) {
  EchoPair p;
  std::map<uint32_t, std::string> sent;
  for (int i = 0; i < 60; ++i) {
    const std::string body = Body(1000 + i * 997, i);
    sent[p.Request(body)] = body;
  }
  EXPECT_EQ(p.client->open_streams(), 60u);
  ASSERT_TRUE(p.Pump(3000));
  for (const auto& [id, body] : sent) {
    EXPECT_EQ(p.client_handler.bodies[id], body) << id;
    EXPECT_EQ(p.client_handler.closed[id], CloseCause::kCompleted);
  }
  EXPECT_EQ(p.server->open_streams(), 0u);
}

TEST(SessionPairTest, ClientResetReachesTheServer) {
  EchoPair p;
  p.answer = false;
  const uint32_t id = p.Request("partial");
  p.client_out.pending.clear();
  ASSERT_TRUE(p.Pump());
  p.client->ResetStream(id, ErrorCode::kCancel);
  EXPECT_EQ(p.client_handler.closed[id], CloseCause::kResetByUs);
  ASSERT_TRUE(p.Pump());
  EXPECT_EQ(p.server_handler.closed[id], CloseCause::kResetByPeer);
  EXPECT_EQ(p.server->open_streams(), 0u);
  EXPECT_TRUE(p.server->status().ok());
}

TEST(SessionPairTest, ServerResetReachesTheClient) {
  EchoPair p;
  p.answer = false;
  const uint32_t id = p.Request("body");
  ASSERT_TRUE(p.Pump());
  p.server->ResetStream(id, ErrorCode::kRefusedStream);
  ASSERT_TRUE(p.Pump());
  EXPECT_EQ(p.client_handler.closed[id], CloseCause::kRefused);
  EXPECT_EQ(p.client->open_streams(), 0u);
  // The connection goes on.
  p.answer = true;
  const uint32_t id2 = p.Request("again");
  ASSERT_TRUE(p.Pump());
  EXPECT_EQ(p.client_handler.bodies[id2], "again");
}

TEST(SessionPairTest, ResetWhileDataIsInFlight) {
  // The server resets while the client's DATA is on the wire: the late DATA
  // is dropped quietly and the connection window is not lost.
  EchoPair p;
  p.answer = false;
  absl::StatusOr<uint32_t> opened =
      p.client->SubmitRequest(Fields(RequestHeaders("POST")), false, nullptr);
  ASSERT_TRUE(opened.ok());
  const uint32_t id = *opened;
  ASSERT_TRUE(p.Pump());
  const std::string big = Body(60000);
  ASSERT_TRUE(p.client->SendData(id, Span(big), false).ok());
  p.server->ResetStream(id, ErrorCode::kCancel);
  ASSERT_TRUE(p.Pump());
  EXPECT_EQ(CountFrames(ParseFrames(p.server_sink.out), FrameType::kRstStream), 0u);
  p.answer = true;
  for (int i = 0; i < 5; ++i) {
    const uint32_t next = p.Request(Body(60000, i));
    ASSERT_TRUE(p.Pump());
    EXPECT_EQ(p.client_handler.bodies[next].size(), 60000u);
  }
}

TEST(SessionPairTest, GracefulGoawayFinishesInFlightAndRefusesNew) {
  EchoPair p;
  p.answer = false;
  const uint32_t id = p.Request("in flight");
  ASSERT_TRUE(p.Pump());
  p.server->GoAway(ErrorCode::kNoError, "restart");
  ASSERT_TRUE(p.Pump());
  EXPECT_TRUE(p.client->goaway_received());
  EXPECT_FALSE(p.client->ended());
  EXPECT_EQ(p.client->SubmitRequest(Fields(RequestHeaders()), true, nullptr).status().code(),
            absl::StatusCode::kUnavailable);
  p.answer = true;
  p.Answer(id);
  ASSERT_TRUE(p.Pump());
  EXPECT_EQ(p.client_handler.bodies[id], "in flight");
  EXPECT_TRUE(p.client->ended());
  EXPECT_TRUE(p.server->ended());
  EXPECT_TRUE(p.client->status().ok());
  EXPECT_TRUE(p.server->status().ok());
}

TEST(SessionPairTest, GoawayRefusesStreamsThePeerNeverSaw) {
  EchoPair p;
  p.answer = false;
  const uint32_t a = p.Request("a");
  ASSERT_TRUE(p.Pump());
  p.server->GoAway(ErrorCode::kNoError);
  const uint32_t b = p.Request("b");  // crosses the GOAWAY on the wire
  ASSERT_TRUE(p.Pump());
  EXPECT_EQ(p.client_handler.closed[b], CloseCause::kRefused);
  EXPECT_EQ(p.client->open_streams(), 1u);
  (void)a;
}

TEST(SessionPairTest, FlowControlStallsAndResumes) {
  SessionOptions server_opts = TestOptions();
  server_opts.auto_window_update = false;
  server_opts.initial_window_size = 65535;
  server_opts.connection_window = 65535;
  EchoPair p(TestOptions(), server_opts);
  p.answer = false;
  const std::string body = Body(500000);
  const uint32_t id = p.Request(body);
  ASSERT_TRUE(p.Pump());
  EXPECT_EQ(p.server_handler.bodies[id].size(), 65535u);  // stalled on the window
  EXPECT_EQ(p.client->SendWindow(id), 0u);
  size_t consumed = 0;
  while (p.server_handler.bodies[id].size() < body.size()) {
    const size_t have = p.server_handler.bodies[id].size();
    p.server->Consume(id, have - consumed);
    consumed = have;
    ASSERT_TRUE(p.Pump());
    ASSERT_GT(p.server_handler.bodies[id].size(), have) << "no progress";
  }
  EXPECT_EQ(p.server_handler.bodies[id], body);
  size_t windows = 0;
  for (const Event& e : p.client_handler.events) windows += e.kind == Event::Kind::kWindowAvailable;
  EXPECT_GT(windows, 5u);
}

TEST(SessionPairTest, ServerMaxConcurrentStreamsLimitsTheClient) {
  SessionOptions server_opts = TestOptions();
  server_opts.max_concurrent_streams = 3;
  EchoPair p(TestOptions(), server_opts);
  p.answer = false;
  for (int i = 0; i < 3; ++i) p.Request("x");
  EXPECT_EQ(p.client->SubmitRequest(Fields(RequestHeaders()), true, nullptr).status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(p.Pump());
  EXPECT_EQ(p.server->open_streams(), 3u);
  p.server->ResetStream(1, ErrorCode::kCancel);
  ASSERT_TRUE(p.Pump());
  EXPECT_TRUE(p.client->SubmitRequest(Fields(RequestHeaders()), true, nullptr).ok());
}

TEST(SessionPairTest, ClientMaxConcurrentStreamsIsAdvertised) {
  SessionOptions client_opts = TestOptions();
  client_opts.max_concurrent_streams = 7;
  EchoPair p(client_opts, TestOptions());
  EXPECT_EQ(p.server->peer_settings().max_concurrent_streams, 7u);
  EXPECT_EQ(p.client->peer_settings().max_concurrent_streams, kDefaultMaxConcurrentStreams);
}

TEST(SessionPairTest, LargeHeaderBlocksGoInContinuationFrames) {
  SessionOptions big = TestOptions();
  big.max_header_list_size = 200000;
  EchoPair p(big, big);
  const HeaderList req = RequestHeaders("POST", "/big", {{"x-a", Body(30000, 3)}, {"x-b", Body(20000, 4)}});
  // Header values must be valid: use printable bytes.
  HeaderList printable = req;
  for (auto& [n, v] : printable) {
    for (char& c : v) c = static_cast<char>('a' + (static_cast<unsigned char>(c) % 26));
  }
  const uint32_t id = p.Request("b", {}, printable);
  std::vector<ParsedFrame> out = ParseFrames(p.client_sink.out);
  size_t continuations = CountFrames(out, FrameType::kContinuation);
  EXPECT_GE(continuations, 2u);
  for (const ParsedFrame& f : out) EXPECT_LE(f.header.length, kDefaultMaxFrameSize);
  ASSERT_TRUE(p.Pump());
  ASSERT_FALSE(p.server_handler.blocks[id].empty());
  EXPECT_EQ(p.server_handler.blocks[id][0], printable);
  EXPECT_EQ(p.client_handler.bodies[id], "b");
}

TEST(SessionPairTest, PeerMaxFrameSizeIsHonoured) {
  SessionOptions client_opts = TestOptions();
  client_opts.max_frame_size = 40000;
  EchoPair p(client_opts, TestOptions());
  EXPECT_EQ(p.server->peer_settings().max_frame_size, 40000u);
  const std::string body = Body(200000);
  p.answer = false;
  const uint32_t id = p.Request(body);
  for (const ParsedFrame& f : ParseFrames(p.client_sink.out)) {
    EXPECT_LE(f.header.length, kDefaultMaxFrameSize);  // the server allows 16384
  }
  ASSERT_TRUE(p.Pump());
  p.answer = true;
  p.Answer(id);
  size_t largest = 0;
  for (const ParsedFrame& f : ParseFrames(p.server_sink.out)) {
    largest = std::max<size_t>(largest, f.header.length);
  }
  EXPECT_EQ(largest, 40000u);
  ASSERT_TRUE(p.Pump());
  EXPECT_EQ(p.client_handler.bodies[id], body);
}

TEST(SessionPairTest, PingsBothWays) {
  EchoPair p;
  p.client->Ping(0x1122);
  p.server->Ping(0x3344);
  ASSERT_TRUE(p.Pump());
  std::string c, s;
  for (const Event& e : p.client_handler.events) {
    if (e.kind == Event::Kind::kPing) c += Describe(e) + ";";
  }
  for (const Event& e : p.server_handler.events) {
    if (e.kind == Event::Kind::kPing) s += Describe(e) + ";";
  }
  EXPECT_EQ(c, "ping(0x3344);ping(0x1122,ack);");
  EXPECT_EQ(s, "ping(0x1122);ping(0x3344,ack);");
}

TEST(SessionPairTest, HeapBytesReturnsToIdleAfterStreamsClose) {
  EchoPair p;
  // Warm up: the HPACK tables fill with what these requests use (idle
  // sessions keep their entries in storage of exactly their size).
  p.Request(Body(20000, 99));
  ASSERT_TRUE(p.Pump());
  const size_t client_idle = p.client->HeapBytes();
  const size_t server_idle = p.server->HeapBytes();
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) p.Request(Body(20000, i));
    EXPECT_GT(p.client->HeapBytes(), client_idle);  // 40 streams and an index
    ASSERT_TRUE(p.Pump(5000));
    EXPECT_EQ(p.client->open_streams(), 0u);
    EXPECT_EQ(p.client->HeapBytes(), client_idle) << round;
    EXPECT_EQ(p.server->HeapBytes(), server_idle) << round;
  }
}

TEST(SessionPairTest, DestroyingASessionClosesItsStreams) {
  auto p = std::make_unique<EchoPair>();
  p->answer = false;
  const uint32_t id = p->Request("x");
  ASSERT_TRUE(p->Pump());
  p->client.reset();
  EXPECT_EQ(p->client_handler.closed[id], CloseCause::kConnectionClosed);
  p->server->Abort(absl::UnavailableError("transport gone"));
  EXPECT_EQ(p->server_handler.closed[id], CloseCause::kConnectionClosed);
  EXPECT_EQ(p->server->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(p->server_sink.out.empty());
}

}  // namespace
}  // namespace alts::http2::testing
