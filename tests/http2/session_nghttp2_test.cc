// Interop sanity at unit level: our Session against nghttp2's session API in
// memory, both ways (our server <-> an nghttp2 client, our client <-> an
// nghttp2 server). The bytes each side gets are exactly what the other's
// library produced, so encoder/decoder and framing mismatches show up here
// before any live test.
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http2/session.h"
#include "tests/http2/h2_test_util.h"

namespace alts::http2::testing {
namespace {

std::string Body(size_t n, uint32_t seed = 1) {
  std::string b(n, '\0');
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return b;
}

// NgPeer is an nghttp2 session (client or server) with what it received.
// As a server it answers every request that ended with 200, the request
// body echoed, and trailers x-len.
class NgPeer {
 public:
  explicit NgPeer(bool server) : server_(server) {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &OnHeader);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &OnBeginHeaders);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &OnDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &OnStreamClose);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &OnFrameRecv);
    if (server) {
      nghttp2_session_server_new(&session_, cb, this);
    } else {
      nghttp2_session_client_new(&session_, cb, this);
    }
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, 1);
  }
  ~NgPeer() { nghttp2_session_del(session_); }

  // Output returns what nghttp2 wants to send now.
  std::string Output() {
    std::string out;
    for (;;) {
      const uint8_t* data;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      EXPECT_GE(n, 0) << nghttp2_strerror(static_cast<int>(n));
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    return out;
  }
  // Input feeds nghttp2; false if it rejected the bytes.
  bool Input(absl::string_view bytes) {
    ssize_t n = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(bytes.data()),
                                         bytes.size());
    EXPECT_EQ(n, static_cast<ssize_t>(bytes.size())) << nghttp2_strerror(static_cast<int>(n));
    return n == static_cast<ssize_t>(bytes.size());
  }

  // Request submits a request (client) with `body` and optional trailers.
  int32_t Request(const HeaderList& headers, std::string body, HeaderList trailers = {}) {
    std::vector<nghttp2_nv> nv = Nv(headers);
    const bool has_body = !body.empty() || !trailers.empty();
    nghttp2_data_provider provider{};
    provider.read_callback = &ReadBody;
    int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                                        has_body ? &provider : nullptr, nullptr);
    EXPECT_GT(id, 0);
    out_[id] = {std::move(body), 0, std::move(trailers)};
    return id;
  }

  nghttp2_session* session() { return session_; }

  std::map<int32_t, std::vector<HeaderList>> blocks;
  std::map<int32_t, std::string> bodies;
  std::map<int32_t, uint32_t> closed;  // error code
  std::vector<uint32_t> goaways;
  bool answer = true;

 private:
  struct Out {
    std::string body;
    size_t sent = 0;
    HeaderList trailers;
  };

  static std::vector<nghttp2_nv> Nv(const HeaderList& h) {
    std::vector<nghttp2_nv> nv;
    for (const auto& [n, v] : h) {
      nv.push_back({reinterpret_cast<uint8_t*>(const_cast<char*>(n.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    }
    return nv;
  }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* f, void* self) {
    static_cast<NgPeer*>(self)->blocks[f->hd.stream_id].emplace_back();
    return 0;
  }
  static int OnHeader(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t nlen,
                      const uint8_t* value, size_t vlen, uint8_t, void* self) {
    auto& list = static_cast<NgPeer*>(self)->blocks[f->hd.stream_id];
    if (list.empty()) list.emplace_back();
    list.back().emplace_back(std::string(reinterpret_cast<const char*>(name), nlen),
                             std::string(reinterpret_cast<const char*>(value), vlen));
    return 0;
  }
  static int OnDataChunk(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* self) {
    static_cast<NgPeer*>(self)->bodies[id].append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int OnStreamClose(nghttp2_session*, int32_t id, uint32_t code, void* self) {
    static_cast<NgPeer*>(self)->closed[id] = code;
    return 0;
  }
  static int OnFrameRecv(nghttp2_session* s, const nghttp2_frame* f, void* p) {
    NgPeer* self = static_cast<NgPeer*>(p);
    if (f->hd.type == NGHTTP2_GOAWAY) self->goaways.push_back(f->goaway.error_code);
    const bool request_end = self->server_ && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
                             (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA);
    if (request_end && self->answer) {
      const int32_t id = f->hd.stream_id;
      std::string body = self->bodies[id];
      self->out_[id] = {body, 0, {{"x-len", absl::StrCat(body.size())}}};
      HeaderList resp = ResponseHeaders("200");
      std::vector<nghttp2_nv> nv = Nv(resp);
      nghttp2_data_provider provider{};
      provider.read_callback = &ReadBody;
      EXPECT_EQ(nghttp2_submit_response(s, id, nv.data(), nv.size(), &provider), 0);
    }
    return 0;
  }
  static ssize_t ReadBody(nghttp2_session* s, int32_t id, uint8_t* buf, size_t length,
                          uint32_t* flags, nghttp2_data_source*, void* p) {
    NgPeer* self = static_cast<NgPeer*>(p);
    Out& o = self->out_[id];
    const size_t n = std::min(length, o.body.size() - o.sent);
    memcpy(buf, o.body.data() + o.sent, n);
    o.sent += n;
    if (o.sent == o.body.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!o.trailers.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nv = Nv(o.trailers);
        EXPECT_EQ(nghttp2_submit_trailer(s, id, nv.data(), nv.size()), 0);
      }
    }
    return static_cast<ssize_t>(n);
  }

  bool server_;
  nghttp2_session* session_ = nullptr;
  std::map<int32_t, Out> out_;
};

// Ours is our side: a session, its handler and an outbox for bodies. As a
// server it echoes each request once it ended.
struct Ours {
  Ours(Role role, const SessionOptions& o) : options(o), session(role, &options, &handler, &sink) {
    handler.on_window = [this](uint32_t id) { Flush(id); };
    if (role == Role::kServer) {
      handler.on_headers = [this](uint32_t id, const ReceivedHeaders&, bool end) {
        if (end) Answer(id);
      };
      handler.on_data = [this](uint32_t id, absl::Span<const uint8_t>, bool end) {
        if (end) Answer(id);
      };
    }
    session.Start();
  }
  void Answer(uint32_t id) {
    if (!answer) return;
    ASSERT_TRUE(session.SubmitHeaders(id, Fields(ResponseHeaders("200")), false).ok());
    Send(id, handler.bodies[id], {{"x-len", absl::StrCat(handler.bodies[id].size())}});
  }
  void Send(uint32_t id, std::string body, HeaderList trailers) {
    pending[id] = {std::move(body), 0, std::move(trailers)};
    Flush(id);
  }
  void Flush(uint32_t id) {
    auto it = pending.find(id);
    if (it == pending.end()) return;
    Pending& p = it->second;
    absl::StatusOr<size_t> n =
        session.SendData(id, Span(absl::string_view(p.body).substr(p.sent)), p.trailers.empty());
    ASSERT_TRUE(n.ok()) << n.status();
    p.sent += *n;
    if (p.sent < p.body.size()) return;
    if (!p.trailers.empty()) {
      ASSERT_TRUE(session.SubmitHeaders(id, Fields(p.trailers), true).ok());
    }
    pending.erase(it);
  }
  struct Pending {
    std::string body;
    size_t sent;
    HeaderList trailers;
  };
  SessionOptions options;
  RecordingHandler handler;
  StringSink sink;
  Session session;
  std::map<uint32_t, Pending> pending;
  bool answer = true;
};

// Pump moves bytes between the two until both are quiet.
bool Pump(Ours& ours, NgPeer& ng) {
  for (int i = 0; i < 1000; ++i) {
    std::string to_us = ng.Output();
    std::string to_ng = ours.sink.Take();
    if (to_us.empty() && to_ng.empty()) return true;
    if (!to_us.empty()) {
      absl::Status st = ours.session.Receive(Span(to_us));
      EXPECT_TRUE(st.ok()) << st;
      if (!st.ok()) return false;
    }
    if (!to_ng.empty() && !ng.Input(to_ng)) return false;
  }
  ADD_FAILURE() << "did not settle";
  return false;
}

TEST(SessionNghttp2Test, OurServerServesAnNghttp2Client) {
  Ours ours(Role::kServer, TestOptions());
  NgPeer ng(/*server=*/false);
  std::map<int32_t, std::string> sent;
  for (size_t size : {0, 1, 1000, 16384, 70000, 300000}) {
    const std::string body = Body(size, static_cast<uint32_t>(size));
    sent[ng.Request(RequestHeaders("POST", absl::StrCat("/echo/", size)), body, {{"x-t", "1"}})] = body;
  }
  ASSERT_TRUE(Pump(ours, ng));
  for (const auto& [id, body] : sent) {
    SCOPED_TRACE(id);
    EXPECT_EQ(ours.handler.bodies[id], body);
    ASSERT_EQ(ours.handler.blocks[id].size(), 2u);
    EXPECT_EQ(ours.handler.blocks[id][1], (HeaderList{{"x-t", "1"}}));
    EXPECT_EQ(ng.bodies[id], body);
    ASSERT_EQ(ng.blocks[id].size(), 2u);
    EXPECT_EQ(ng.blocks[id][0], ResponseHeaders("200"));
    EXPECT_EQ(ng.blocks[id][1], (HeaderList{{"x-len", absl::StrCat(body.size())}}));
    ASSERT_EQ(ng.closed.count(id), 1u);
    EXPECT_EQ(ng.closed[id], 0u);
    EXPECT_EQ(ours.handler.closed[id], CloseCause::kCompleted);
  }
  EXPECT_TRUE(ng.goaways.empty());
  EXPECT_EQ(ours.session.open_streams(), 0u);
}

TEST(SessionNghttp2Test, ClientFirstFlightBytesAreAccepted) {
  // The exact first flight nghttp2 writes (magic, SETTINGS, HEADERS), fed at
  // every split point.
  NgPeer ng(false);
  ng.Request(RequestHeaders("GET", "/first"), "");
  const std::string flight = ng.Output();
  ASSERT_TRUE(absl::StartsWith(flight, kClientMagic));
  for (size_t cut = 0; cut <= flight.size(); ++cut) {
    Ours ours(Role::kServer, TestOptions());
    ours.answer = false;
    ASSERT_TRUE(ours.session.Receive(Span(absl::string_view(flight).substr(0, cut))).ok());
    ASSERT_TRUE(ours.session.Receive(Span(absl::string_view(flight).substr(cut))).ok());
    ASSERT_EQ(ours.handler.blocks[1].size(), 1u) << cut;
    EXPECT_EQ(ours.handler.blocks[1][0], RequestHeaders("GET", "/first"));
  }
}

TEST(SessionNghttp2Test, RepeatedHeadersUseTheDynamicTableBothWays) {
  Ours ours(Role::kServer, TestOptions());
  NgPeer ng(false);
  const HeaderList req = RequestHeaders("POST", "/pkg.Service/Method",
                                        {{"content-type", "application/grpc"},
                                         {"user-agent", "grpc-c++/1.0"},
                                         {"x-custom", "same every time"}});
  for (int i = 0; i < 30; ++i) ng.Request(req, "m");
  ASSERT_TRUE(Pump(ours, ng));
  for (int32_t id = 1; id < 60; id += 2) {
    ASSERT_EQ(ours.handler.blocks[id].size(), 1u) << id;
    EXPECT_EQ(ours.handler.blocks[id][0], req);
    EXPECT_EQ(ng.blocks[id][0], ResponseHeaders("200"));
  }
}

TEST(SessionNghttp2Test, LargeHeadersInContinuationFromNghttp2) {
  SessionOptions o = TestOptions();
  o.max_header_list_size = 200000;
  Ours ours(Role::kServer, o);
  NgPeer ng(false);
  // nghttp2 sends blocks of up to 64 KiB (its max_send_header_block_length).
  const HeaderList req = RequestHeaders("GET", "/", {{"x-big", Body(35000)}, {"x-big2", Body(20000, 2)}});
  const int32_t id = ng.Request(req, "");
  ASSERT_TRUE(Pump(ours, ng));
  ASSERT_EQ(ours.handler.blocks[id].size(), 1u);
  EXPECT_EQ(ours.handler.blocks[id][0], req);
  EXPECT_EQ(ng.closed[id], 0u);
}

TEST(SessionNghttp2Test, ResetsBothWaysWithNghttp2Client) {
  Ours ours(Role::kServer, TestOptions());
  ours.answer = false;
  NgPeer ng(false);
  const int32_t a = ng.Request(RequestHeaders("POST"), Body(100));
  const int32_t b = ng.Request(RequestHeaders("POST"), Body(100));
  ASSERT_TRUE(Pump(ours, ng));
  ASSERT_EQ(nghttp2_submit_rst_stream(ng.session(), NGHTTP2_FLAG_NONE, a, NGHTTP2_CANCEL), 0);
  ours.session.ResetStream(b, ErrorCode::kRefusedStream);
  ASSERT_TRUE(Pump(ours, ng));
  EXPECT_EQ(ours.handler.closed[a], CloseCause::kResetByPeer);
  EXPECT_EQ(ng.closed[b], static_cast<uint32_t>(NGHTTP2_REFUSED_STREAM));
  EXPECT_TRUE(ng.goaways.empty());
  EXPECT_TRUE(ours.session.status().ok());
}

TEST(SessionNghttp2Test, GracefulGoawayToAnNghttp2Client) {
  Ours ours(Role::kServer, TestOptions());
  ours.answer = false;
  NgPeer ng(false);
  const int32_t a = ng.Request(RequestHeaders("POST"), Body(10));
  ASSERT_TRUE(Pump(ours, ng));
  ours.session.GoAway(ErrorCode::kNoError);
  ASSERT_TRUE(Pump(ours, ng));
  ASSERT_EQ(ng.goaways.size(), 1u);
  EXPECT_EQ(ng.goaways[0], 0u);
  ours.answer = true;
  ours.Answer(a);
  ASSERT_TRUE(Pump(ours, ng));
  EXPECT_EQ(ng.bodies[a], Body(10));
  EXPECT_TRUE(ours.session.ended());
}

TEST(SessionNghttp2Test, PingFromNghttp2IsAnswered) {
  Ours ours(Role::kServer, TestOptions());
  NgPeer ng(false);
  const uint8_t payload[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  ASSERT_EQ(nghttp2_submit_ping(ng.session(), NGHTTP2_FLAG_NONE, payload), 0);
  ASSERT_TRUE(Pump(ours, ng));
  bool seen = false;
  for (const Event& e : ours.handler.events) seen |= e.kind == Event::Kind::kPing && e.ping == 0x0102030405060708ull;
  EXPECT_TRUE(seen);
}

TEST(SessionNghttp2Test, OurClientAgainstAnNghttp2Server) {
  Ours ours(Role::kClient, TestOptions());
  NgPeer ng(/*server=*/true);
  std::map<uint32_t, std::string> sent;
  for (size_t size : {0, 5, 16385, 100000, 250000}) {
    absl::StatusOr<uint32_t> id =
        ours.session.SubmitRequest(Fields(RequestHeaders("POST", absl::StrCat("/", size))), false, nullptr);
    ASSERT_TRUE(id.ok());
    const std::string body = Body(size, 3);
    ours.Send(*id, body, {{"x-c", "2"}});
    sent[*id] = body;
  }
  ASSERT_TRUE(Pump(ours, ng));
  for (const auto& [id, body] : sent) {
    SCOPED_TRACE(id);
    EXPECT_EQ(ng.bodies[static_cast<int32_t>(id)], body);
    ASSERT_EQ(ng.blocks[static_cast<int32_t>(id)].size(), 2u);
    EXPECT_EQ(ng.blocks[static_cast<int32_t>(id)][0], RequestHeaders("POST", absl::StrCat("/", body.size())));
    EXPECT_EQ(ours.handler.bodies[id], body);
    ASSERT_EQ(ours.handler.blocks[id].size(), 2u);
    EXPECT_EQ(ours.handler.blocks[id][0], ResponseHeaders("200"));
    EXPECT_EQ(ours.handler.blocks[id][1], (HeaderList{{"x-len", absl::StrCat(body.size())}}));
    EXPECT_EQ(ours.handler.closed[id], CloseCause::kCompleted);
    EXPECT_EQ(ng.closed[static_cast<int32_t>(id)], 0u);
  }
  EXPECT_TRUE(ng.goaways.empty());
}

TEST(SessionNghttp2Test, OurClientSeesNghttp2ServerGoawayAndReset) {
  Ours ours(Role::kClient, TestOptions());
  NgPeer ng(true);
  ng.answer = false;
  absl::StatusOr<uint32_t> a = ours.session.SubmitRequest(Fields(RequestHeaders()), true, nullptr);
  absl::StatusOr<uint32_t> b = ours.session.SubmitRequest(Fields(RequestHeaders()), true, nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(Pump(ours, ng));
  ASSERT_EQ(nghttp2_submit_rst_stream(ng.session(), NGHTTP2_FLAG_NONE, *a, NGHTTP2_INTERNAL_ERROR), 0);
  ASSERT_EQ(nghttp2_submit_goaway(ng.session(), NGHTTP2_FLAG_NONE, *b, NGHTTP2_NO_ERROR, nullptr, 0), 0);
  ASSERT_TRUE(Pump(ours, ng));
  EXPECT_EQ(ours.handler.closed[*a], CloseCause::kResetByPeer);
  EXPECT_TRUE(ours.session.goaway_received());
  EXPECT_EQ(ours.session.open_streams(), 1u);
  EXPECT_EQ(ours.session.SubmitRequest(Fields(RequestHeaders()), true, nullptr).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(SessionNghttp2Test, OurClientLargeRequestHeadersReachNghttp2) {
  Ours ours(Role::kClient, TestOptions());
  NgPeer ng(true);
  const HeaderList req = RequestHeaders("GET", "/h", {{"x-big", Body(40000)}});
  absl::StatusOr<uint32_t> id = ours.session.SubmitRequest(Fields(req), true, nullptr);
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(Pump(ours, ng));
  ASSERT_FALSE(ng.blocks[*id].empty());
  EXPECT_EQ(ng.blocks[*id][0], req);
  EXPECT_EQ(ours.handler.closed[*id], CloseCause::kCompleted);
}

TEST(SessionNghttp2Test, SmallHeaderTableAgainstNghttp2) {
  // We advertise a 0-byte table; nghttp2's encoder must follow after our
  // SETTINGS are acknowledged, and our decoder holds it to that.
  SessionOptions o = TestOptions();
  o.header_table_size = 0;
  Ours ours(Role::kServer, o);
  NgPeer ng(false);
  for (int i = 0; i < 10; ++i) ng.Request(RequestHeaders("GET", "/t", {{"x-r", "repeat"}}), "");
  ASSERT_TRUE(Pump(ours, ng));
  for (int32_t id = 1; id < 20; id += 2) EXPECT_EQ(ng.closed[id], 0u) << id;
  EXPECT_TRUE(ours.session.status().ok());
}

}  // namespace
}  // namespace alts::http2::testing
