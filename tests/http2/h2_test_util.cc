#include "tests/http2/h2_test_util.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace alts::http2::testing {
namespace {

void PutU32(std::string* out, uint32_t v) {
  uint8_t b[4];
  WriteU32(b, v);
  out->append(reinterpret_cast<const char*>(b), 4);
}

uint32_t GetU32(absl::string_view s, size_t off) {
  return ReadU32(reinterpret_cast<const uint8_t*>(s.data()) + off);
}

absl::string_view TypeName(uint8_t type) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kData: return "DATA";
    case FrameType::kHeaders: return "HEADERS";
    case FrameType::kPriority: return "PRIORITY";
    case FrameType::kRstStream: return "RST_STREAM";
    case FrameType::kSettings: return "SETTINGS";
    case FrameType::kPushPromise: return "PUSH_PROMISE";
    case FrameType::kPing: return "PING";
    case FrameType::kGoaway: return "GOAWAY";
    case FrameType::kWindowUpdate: return "WINDOW_UPDATE";
    case FrameType::kContinuation: return "CONTINUATION";
  }
  return "UNKNOWN";
}

absl::string_view SettingName(uint16_t id) {
  switch (static_cast<SettingId>(id)) {
    case SettingId::kHeaderTableSize: return "HEADER_TABLE_SIZE";
    case SettingId::kEnablePush: return "ENABLE_PUSH";
    case SettingId::kMaxConcurrentStreams: return "MAX_CONCURRENT_STREAMS";
    case SettingId::kInitialWindowSize: return "INITIAL_WINDOW_SIZE";
    case SettingId::kMaxFrameSize: return "MAX_FRAME_SIZE";
    case SettingId::kMaxHeaderListSize: return "MAX_HEADER_LIST_SIZE";
  }
  return "UNKNOWN";
}

std::string CodeName(ErrorCode code) {
  absl::string_view name = ErrorCodeName(code);
  if (name == "UNKNOWN") return absl::StrCat("0x", absl::Hex(static_cast<uint32_t>(code)));
  return std::string(name);
}

absl::string_view CauseName(CloseCause cause) {
  switch (cause) {
    case CloseCause::kCompleted: return "completed";
    case CloseCause::kResetByPeer: return "reset_by_peer";
    case CloseCause::kResetByUs: return "reset_by_us";
    case CloseCause::kRefused: return "refused";
    case CloseCause::kConnectionClosed: return "connection_closed";
  }
  return "?";
}

std::string Padded(absl::string_view body, const std::optional<Padding>& padding,
                   std::string prefix = {}) {
  std::string p;
  if (padding.has_value()) p.push_back(static_cast<char>(padding->pad_length));
  p += prefix;
  absl::StrAppend(&p, body);
  if (padding.has_value()) p.append(padding->actual.value_or(padding->pad_length), '\0');
  return p;
}

}  // namespace

std::vector<hpack::HeaderField> Fields(const HeaderList& list) {
  std::vector<hpack::HeaderField> fields;
  fields.reserve(list.size());
  for (const auto& [n, v] : list) fields.push_back(hpack::HeaderField{n, v});
  return fields;
}

HeaderList RequestHeaders(absl::string_view method, absl::string_view path,
                          const HeaderList& extra) {
  HeaderList h = {{":method", std::string(method)},
                  {":scheme", "https"},
                  {":path", std::string(path)},
                  {":authority", "example.com"}};
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

HeaderList ResponseHeaders(absl::string_view status, const HeaderList& extra) {
  HeaderList h = {{":status", std::string(status)}};
  h.insert(h.end(), extra.begin(), extra.end());
  return h;
}

void HpackInt(std::string* out, uint64_t value, int prefix_bits, uint8_t first_byte_flags) {
  const uint64_t max_prefix = (uint64_t{1} << prefix_bits) - 1;
  if (value < max_prefix) {
    out->push_back(static_cast<char>(first_byte_flags | value));
    return;
  }
  out->push_back(static_cast<char>(first_byte_flags | max_prefix));
  value -= max_prefix;
  while (value >= 128) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

std::string LiteralBlock(const HeaderList& list) {
  std::string out;
  for (const auto& [n, v] : list) {
    out.push_back('\0');  // literal without indexing, new name
    HpackInt(&out, n.size(), 7, 0);
    absl::StrAppend(&out, n);
    HpackInt(&out, v.size(), 7, 0);
    absl::StrAppend(&out, v);
  }
  return out;
}

std::string IncrementalLiteral(absl::string_view name, absl::string_view value) {
  std::string out(1, '\x40');
  HpackInt(&out, name.size(), 7, 0);
  absl::StrAppend(&out, name);
  HpackInt(&out, value.size(), 7, 0);
  absl::StrAppend(&out, value);
  return out;
}

std::string IndexedField(uint32_t index) {
  std::string out;
  HpackInt(&out, index, 7, 0x80);
  return out;
}

std::string FrameHeaderBytes(uint32_t length, uint8_t type, uint8_t flags, uint32_t stream_id,
                             bool reserved) {
  uint8_t b[kFrameHeaderSize];
  WriteFrameHeader(b, length, static_cast<FrameType>(type), flags, stream_id);
  if (reserved) b[5] |= 0x80;
  return std::string(reinterpret_cast<const char*>(b), kFrameHeaderSize);
}

std::string RawFrame(uint8_t type, uint8_t flags, uint32_t stream_id, absl::string_view payload) {
  return absl::StrCat(
      FrameHeaderBytes(static_cast<uint32_t>(payload.size()), type, flags, stream_id), payload);
}

std::string SettingsFrame(std::initializer_list<Setting> settings) {
  return SettingsFrame(std::vector<Setting>(settings));
}

std::string SettingsFrame(const std::vector<Setting>& settings) {
  std::string p;
  for (const Setting& s : settings) {
    p.push_back(static_cast<char>(s.id >> 8));
    p.push_back(static_cast<char>(s.id));
    PutU32(&p, s.value);
  }
  return RawFrame(FrameType::kSettings, 0, 0, p);
}

std::string SettingsAck() { return RawFrame(FrameType::kSettings, kFlagAck, 0, ""); }

std::string PingFrame(uint64_t payload, bool ack) {
  std::string p;
  PutU32(&p, static_cast<uint32_t>(payload >> 32));
  PutU32(&p, static_cast<uint32_t>(payload));
  return RawFrame(FrameType::kPing, ack ? kFlagAck : 0, 0, p);
}

std::string GoawayFrame(uint32_t last_stream_id, ErrorCode code, absl::string_view debug) {
  return GoawayFrame(last_stream_id, static_cast<uint32_t>(code), debug);
}

std::string GoawayFrame(uint32_t last_stream_id, uint32_t code, absl::string_view debug) {
  std::string p;
  PutU32(&p, last_stream_id);
  PutU32(&p, code);
  absl::StrAppend(&p, debug);
  return RawFrame(FrameType::kGoaway, 0, 0, p);
}

std::string RstStreamFrame(uint32_t stream_id, ErrorCode code) {
  return RstStreamFrame(stream_id, static_cast<uint32_t>(code));
}

std::string RstStreamFrame(uint32_t stream_id, uint32_t code) {
  std::string p;
  PutU32(&p, code);
  return RawFrame(FrameType::kRstStream, 0, stream_id, p);
}

std::string WindowUpdateFrame(uint32_t stream_id, uint32_t increment) {
  std::string p;
  PutU32(&p, increment);
  return RawFrame(FrameType::kWindowUpdate, 0, stream_id, p);
}

std::string PriorityFrame(uint32_t stream_id, uint32_t depends_on, uint8_t weight,
                          bool exclusive) {
  std::string p;
  PutU32(&p, depends_on | (exclusive ? 0x80000000u : 0));
  p.push_back(static_cast<char>(weight));
  return RawFrame(FrameType::kPriority, 0, stream_id, p);
}

std::string DataFrame(uint32_t stream_id, absl::string_view data, uint8_t flags,
                      std::optional<Padding> padding) {
  if (padding.has_value()) flags |= kFlagPadded;
  return RawFrame(FrameType::kData, flags, stream_id, Padded(data, padding));
}

std::string HeadersFrame(uint32_t stream_id, absl::string_view block, uint8_t flags,
                         const HeadersOptions& options) {
  std::string prio;
  if (options.depends_on.has_value()) {
    flags |= kFlagPriority;
    PutU32(&prio, *options.depends_on);
    prio.push_back(static_cast<char>(options.weight));
  }
  if (options.padding.has_value()) flags |= kFlagPadded;
  return RawFrame(FrameType::kHeaders, flags, stream_id, Padded(block, options.padding, prio));
}

std::string ContinuationFrame(uint32_t stream_id, absl::string_view fragment, uint8_t flags) {
  return RawFrame(FrameType::kContinuation, flags, stream_id, fragment);
}

std::string PushPromiseFrame(uint32_t stream_id, uint32_t promised_id, absl::string_view block,
                             uint8_t flags) {
  std::string p;
  PutU32(&p, promised_id);
  absl::StrAppend(&p, block);
  return RawFrame(FrameType::kPushPromise, flags, stream_id, p);
}

std::string Request(uint32_t stream_id, bool end_stream, const HeaderList& headers) {
  return HeadersFrame(stream_id, LiteralBlock(headers),
                      kFlagEndHeaders | (end_stream ? kFlagEndStream : 0));
}

std::string Response(uint32_t stream_id, bool end_stream, const HeaderList& headers) {
  return Request(stream_id, end_stream, headers);
}

std::string Trailers(uint32_t stream_id, const HeaderList& trailers) {
  return HeadersFrame(stream_id, LiteralBlock(trailers), kFlagEndHeaders | kFlagEndStream);
}

// ---------------------------------------------------------------------------

ErrorCode ParsedFrame::rst_code() const {
  EXPECT_EQ(type(), FrameType::kRstStream);
  if (payload.size() != 4) return ErrorCode::kNoError;
  return static_cast<ErrorCode>(GetU32(payload, 0));
}

uint32_t ParsedFrame::goaway_last_id() const {
  EXPECT_EQ(type(), FrameType::kGoaway);
  return payload.size() >= 8 ? GetU32(payload, 0) & kMaxStreamId : 0;
}

ErrorCode ParsedFrame::goaway_code() const {
  EXPECT_EQ(type(), FrameType::kGoaway);
  return payload.size() >= 8 ? static_cast<ErrorCode>(GetU32(payload, 4)) : ErrorCode::kNoError;
}

std::string ParsedFrame::goaway_debug() const {
  EXPECT_EQ(type(), FrameType::kGoaway);
  return payload.size() >= 8 ? payload.substr(8) : "";
}

uint64_t ParsedFrame::ping_payload() const {
  EXPECT_EQ(type(), FrameType::kPing);
  if (payload.size() != 8) return 0;
  return (uint64_t{GetU32(payload, 0)} << 32) | GetU32(payload, 4);
}

uint32_t ParsedFrame::window_increment() const {
  EXPECT_EQ(type(), FrameType::kWindowUpdate);
  return payload.size() == 4 ? GetU32(payload, 0) & 0x7fffffffu : 0;
}

std::vector<Setting> ParsedFrame::settings() const {
  EXPECT_EQ(type(), FrameType::kSettings);
  std::vector<Setting> out;
  for (size_t off = 0; off + 6 <= payload.size(); off += 6) {
    out.push_back({static_cast<uint16_t>((uint8_t(payload[off]) << 8) | uint8_t(payload[off + 1])),
                   GetU32(payload, off + 2)});
  }
  return out;
}

std::optional<uint32_t> ParsedFrame::setting(SettingId id) const {
  std::optional<uint32_t> v;
  for (const Setting& s : settings()) {
    if (s.id == static_cast<uint16_t>(id)) v = s.value;
  }
  return v;
}

std::vector<ParsedFrame> ParseFrames(absl::string_view bytes, bool client_preface) {
  std::vector<ParsedFrame> frames;
  if (client_preface) {
    EXPECT_TRUE(absl::StartsWith(bytes, kClientMagic)) << "no client preface";
    if (absl::StartsWith(bytes, kClientMagic)) bytes.remove_prefix(kClientMagic.size());
  }
  while (!bytes.empty()) {
    if (bytes.size() < kFrameHeaderSize) {
      ADD_FAILURE() << "partial frame header: " << bytes.size() << " bytes";
      break;
    }
    ParsedFrame f;
    f.header = ParseFrameHeader(reinterpret_cast<const uint8_t*>(bytes.data()));
    EXPECT_EQ(bytes[5] & 0x80, 0) << "reserved bit set in output";
    if (bytes.size() < kFrameHeaderSize + f.header.length) {
      ADD_FAILURE() << "partial frame payload";
      break;
    }
    f.payload = std::string(bytes.substr(kFrameHeaderSize, f.header.length));
    bytes.remove_prefix(kFrameHeaderSize + f.header.length);
    frames.push_back(std::move(f));
  }
  return frames;
}

std::string Describe(const ParsedFrame& f) {
  const std::string name(TypeName(f.header.type));
  switch (f.type()) {
    case FrameType::kRstStream:
      return absl::StrCat(name, "(", f.stream_id(), ",", CodeName(f.rst_code()), ")");
    case FrameType::kGoaway:
      return absl::StrCat(name, "(", f.goaway_last_id(), ",", CodeName(f.goaway_code()), ")");
    case FrameType::kPing:
      return absl::StrCat(name, "(", f.has(kFlagAck) ? "ACK," : "", "0x",
                          absl::Hex(f.ping_payload()), ")");
    case FrameType::kWindowUpdate:
      return absl::StrCat(name, "(", f.stream_id(), ",+", f.window_increment(), ")");
    case FrameType::kSettings: {
      if (f.has(kFlagAck)) return absl::StrCat(name, "(ACK)");
      std::vector<std::string> parts;
      for (const Setting& s : f.settings()) {
        parts.push_back(absl::StrCat(SettingName(s.id), "=", s.value));
      }
      return absl::StrCat(name, "(", absl::StrJoin(parts, ","), ")");
    }
    case FrameType::kData:
      return absl::StrCat(name, "(", f.stream_id(), ",", f.header.length,
                          f.has(kFlagEndStream) ? ",END_STREAM" : "", ")");
    case FrameType::kHeaders:
    case FrameType::kContinuation: {
      std::vector<std::string> flags;
      if (f.type() == FrameType::kHeaders && f.has(kFlagEndStream)) flags.push_back("END_STREAM");
      if (f.has(kFlagEndHeaders)) flags.push_back("END_HEADERS");
      return absl::StrCat(name, "(", f.stream_id(), flags.empty() ? "" : ",",
                          absl::StrJoin(flags, "|"), ")");
    }
    default:
      return absl::StrCat(name, "(", f.stream_id(), ")");
  }
}

std::string Describe(const std::vector<ParsedFrame>& frames) {
  std::vector<std::string> parts;
  for (const ParsedFrame& f : frames) parts.push_back(Describe(f));
  return absl::StrJoin(parts, "; ");
}

size_t CountFrames(const std::vector<ParsedFrame>& frames, FrameType type,
                   std::optional<uint32_t> stream_id) {
  size_t n = 0;
  for (const ParsedFrame& f : frames) {
    if (f.type() == type && (!stream_id.has_value() || f.stream_id() == *stream_id)) ++n;
  }
  return n;
}

const ParsedFrame* FindFrame(const std::vector<ParsedFrame>& frames, FrameType type) {
  for (const ParsedFrame& f : frames) {
    if (f.type() == type) return &f;
  }
  return nullptr;
}

std::vector<std::pair<uint32_t, HeaderList>> PeerDecoder::DecodeAll(
    const std::vector<ParsedFrame>& frames) {
  std::vector<std::pair<uint32_t, HeaderList>> out;
  std::string block;
  uint32_t id = 0;
  bool in_block = false;
  for (const ParsedFrame& f : frames) {
    if (f.type() == FrameType::kHeaders) {
      EXPECT_FALSE(in_block) << "HEADERS inside a header block";
      EXPECT_FALSE(f.has(kFlagPadded) || f.has(kFlagPriority)) << "unexpected HEADERS flags";
      block = f.payload;
      id = f.stream_id();
      in_block = true;
    } else if (f.type() == FrameType::kContinuation) {
      EXPECT_TRUE(in_block && f.stream_id() == id) << "stray CONTINUATION";
      block += f.payload;
    } else {
      EXPECT_FALSE(in_block) << Describe(f) << " inside a header block";
      continue;
    }
    if (!f.has(kFlagEndHeaders)) continue;
    in_block = false;
    HeaderList list;
    absl::Status st = decoder_.Decode(Span(block), ~size_t{0},
                                      [&](absl::string_view n, absl::string_view v) {
                                        list.emplace_back(std::string(n), std::string(v));
                                        return absl::OkStatus();
                                      });
    EXPECT_TRUE(st.ok()) << st;
    out.emplace_back(id, std::move(list));
  }
  EXPECT_FALSE(in_block) << "unfinished header block";
  return out;
}

// ---------------------------------------------------------------------------

std::string Describe(const Event& e) {
  switch (e.kind) {
    case Event::Kind::kHeaders: {
      absl::string_view kind = e.block_kind == HeaderBlockKind::kRequest    ? "request"
                               : e.block_kind == HeaderBlockKind::kResponse ? "response"
                                                                            : "trailers";
      return absl::StrCat("headers(", e.id, ",", kind, e.informational ? ",informational" : "",
                          e.oversized ? ",oversized" : "", e.end_stream ? ",END_STREAM" : "",
                          ")");
    }
    case Event::Kind::kData:
      return absl::StrCat("data(", e.id, ",", e.data.size(), e.end_stream ? ",END_STREAM" : "",
                          ")");
    case Event::Kind::kClose:
      return absl::StrCat("close(", e.id, ",", CodeName(e.code), ",", CauseName(e.cause), ")");
    case Event::Kind::kGoaway:
      return absl::StrCat("goaway(", e.id, ",", CodeName(e.code), ")");
    case Event::Kind::kPing:
      return absl::StrCat("ping(0x", absl::Hex(e.ping), e.ack ? ",ack" : "", ")");
    case Event::Kind::kWindowAvailable:
      return absl::StrCat("window(", e.id, ")");
    case Event::Kind::kSettings:
      return "settings";
  }
  return "?";
}

std::string Describe(const std::vector<Event>& events) {
  std::vector<std::string> parts;
  for (const Event& e : events) parts.push_back(Describe(e));
  return absl::StrJoin(parts, "; ");
}

void RecordingHandler::OnHeaders(uint32_t id, void* stream_data, const ReceivedHeaders& headers,
                                 bool end_stream) {
  Event e(Event::Kind::kHeaders);
  e.id = id;
  for (const hpack::HeaderField& f : headers.fields) {
    e.fields.emplace_back(std::string(f.name), std::string(f.value));
  }
  e.block_kind = headers.kind;
  e.informational = headers.informational;
  e.oversized = headers.oversized;
  e.content_length = headers.pseudo.content_length;
  e.end_stream = end_stream;
  blocks[id].push_back(e.fields);
  events.push_back(std::move(e));
  if (on_headers) on_headers(id, headers, end_stream);
}

void RecordingHandler::OnData(uint32_t id, void* stream_data, absl::Span<const uint8_t> data,
                              bool end_stream) {
  Event e(Event::Kind::kData);
  e.id = id;
  e.data.assign(reinterpret_cast<const char*>(data.data()), data.size());
  e.end_stream = end_stream;
  bodies[id] += e.data;
  events.push_back(std::move(e));
  if (on_data) on_data(id, data, end_stream);
}

void RecordingHandler::OnStreamClose(uint32_t id, void* stream_data, ErrorCode code,
                                     CloseCause cause) {
  Event e(Event::Kind::kClose);
  e.id = id;
  e.code = code;
  e.cause = cause;
  EXPECT_EQ(closed.count(id), 0u) << "stream " << id << " closed twice";
  closed[id] = cause;
  close_data[id] = stream_data;
  events.push_back(std::move(e));
  if (on_close) on_close(id, code, cause);
}

void RecordingHandler::OnGoaway(uint32_t last_stream_id, ErrorCode code, absl::string_view debug) {
  Event e(Event::Kind::kGoaway);
  e.id = last_stream_id;
  e.code = code;
  e.data = std::string(debug);
  events.push_back(std::move(e));
  if (on_goaway) on_goaway(last_stream_id, code);
}

void RecordingHandler::OnPing(uint64_t payload, bool ack) {
  Event e(Event::Kind::kPing);
  e.ping = payload;
  e.ack = ack;
  events.push_back(std::move(e));
}

void RecordingHandler::OnWindowAvailable(uint32_t id, void* stream_data) {
  Event e(Event::Kind::kWindowAvailable);
  e.id = id;
  events.push_back(std::move(e));
  if (on_window) on_window(id);
}

void RecordingHandler::OnPeerSettings(const Settings& settings) {
  Event e(Event::Kind::kSettings);
  e.settings = settings;
  events.push_back(std::move(e));
}

std::vector<Event> RecordingHandler::Take() {
  std::vector<Event> out;
  out.swap(events);
  return out;
}

// ---------------------------------------------------------------------------

SessionOptions TestOptions() {
  SessionOptions o;
  o.now = &TestClock::Now;
  return o;
}

SessionHarness::SessionHarness(Role role, const SessionOptions& opts) : options(opts) {
  session = std::make_unique<Session>(role, &options, &handler, &sink);
}

void SessionHarness::Handshake(absl::string_view peer_settings) {
  session->Start();
  const bool server = session->role() == Role::kServer;
  std::vector<ParsedFrame> ours = ParseFrames(sink.Take(), !server);
  ASSERT_FALSE(ours.empty());
  ASSERT_EQ(ours[0].type(), FrameType::kSettings);
  std::string in = absl::StrCat(server ? kClientMagic : "", peer_settings, SettingsAck());
  absl::Status st = Feed(in);
  ASSERT_TRUE(st.ok()) << st;
  std::vector<ParsedFrame> reply = TakeFrames();
  ASSERT_EQ(Describe(reply), "SETTINGS(ACK)");
  handler.Take();
}

absl::Status SessionHarness::FeedSplit(absl::string_view bytes, size_t piece) {
  absl::Status st;
  while (!bytes.empty()) {
    const size_t n = std::min(piece, bytes.size());
    st = Feed(bytes.substr(0, n));
    if (!st.ok()) return st;
    bytes.remove_prefix(n);
  }
  return st;
}

std::vector<ParsedFrame> SessionHarness::TakeFrames() { return ParseFrames(sink.Take()); }

void SessionHarness::OpenRequest(uint32_t id, const HeaderList& headers) {
  absl::Status st = Feed(Request(id, false, headers));
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(handler.DescribeTake(), absl::StrCat("headers(", id, ",request)"));
  ASSERT_EQ(Out(), "");
}

uint32_t SessionHarness::OpenClientStream(bool end_stream, const HeaderList& headers) {
  std::vector<hpack::HeaderField> fields = Fields(headers);
  absl::StatusOr<uint32_t> id = session->SubmitRequest(fields, end_stream, nullptr);
  EXPECT_TRUE(id.ok()) << id.status();
  std::vector<ParsedFrame> out = TakeFrames();
  peer_decoder.DecodeAll(out);
  handler.Take();
  return id.ok() ? *id : 0;
}

::testing::AssertionResult IsConnectionError(SessionHarness& h, const absl::Status& status,
                                             ErrorCode code, uint32_t last_id) {
  if (status.ok()) return ::testing::AssertionFailure() << "status is OK, not a connection error";
  if (ErrorCodeOf(status) != code) {
    return ::testing::AssertionFailure()
           << "error code " << CodeName(ErrorCodeOf(status)) << ", want " << CodeName(code)
           << " (" << status << ")";
  }
  std::vector<ParsedFrame> out = h.TakeFrames();
  if (out.empty() || out.back().type() != FrameType::kGoaway) {
    return ::testing::AssertionFailure() << "output does not end with GOAWAY: " << Describe(out);
  }
  if (out.back().goaway_code() != code || out.back().goaway_last_id() != last_id) {
    return ::testing::AssertionFailure()
           << "GOAWAY is " << Describe(out.back()) << ", want GOAWAY(" << last_id << ","
           << CodeName(code) << ")";
  }
  if (CountFrames(out, FrameType::kGoaway) != 1) {
    return ::testing::AssertionFailure() << "more than one GOAWAY: " << Describe(out);
  }
  if (h.session->status() != status) {
    return ::testing::AssertionFailure() << "session status " << h.session->status()
                                         << " differs from the returned " << status;
  }
  if (!h.session->ended() || h.session->open_streams() != 0) {
    return ::testing::AssertionFailure() << "session not ended or streams left open";
  }
  absl::Status again = h.Feed(PingFrame(7));
  if (again != status) {
    return ::testing::AssertionFailure() << "a later Receive returned " << again;
  }
  if (!h.sink.out.empty()) {
    return ::testing::AssertionFailure() << "wrote after the error: " << h.Out();
  }
  return ::testing::AssertionSuccess();
}

SessionPair::SessionPair(const SessionOptions& c, const SessionOptions& s)
    : client_options(c), server_options(s) {
  client = std::make_unique<Session>(Role::kClient, &client_options, &client_handler, &client_sink);
  server = std::make_unique<Session>(Role::kServer, &server_options, &server_handler, &server_sink);
  client->Start();
  server->Start();
}

namespace {

bool Deliver(StringSink& from, Session& to, size_t piece, absl::Status* status, size_t* moved) {
  std::string bytes = from.Take();
  *moved += bytes.size();
  absl::string_view rest = bytes;
  if (piece == 0) piece = rest.size();
  while (!rest.empty()) {
    const size_t n = std::min(piece, rest.size());
    absl::Status st = to.Receive(Span(rest.substr(0, n)));
    if (!st.ok()) {
      if (status->ok()) *status = st;
      return false;
    }
    rest.remove_prefix(n);
  }
  return true;
}

}  // namespace

bool SessionPair::DeliverToServer(size_t piece) {
  return Deliver(client_sink, *server, piece, &server_status, &to_server_bytes);
}

bool SessionPair::DeliverToClient(size_t piece) {
  return Deliver(server_sink, *client, piece, &client_status, &to_client_bytes);
}

bool SessionPair::Pump(size_t piece) {
  for (int rounds = 0; rounds < 10000; ++rounds) {
    if (client_sink.out.empty() && server_sink.out.empty()) return true;
    if (!DeliverToServer(piece)) return false;
    if (!DeliverToClient(piece)) return false;
  }
  ADD_FAILURE() << "Pump did not settle";
  return false;
}

}  // namespace alts::http2::testing
