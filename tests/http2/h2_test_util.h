#ifndef ALTS_TESTS_HTTP2_H2_TEST_UTIL_H_
#define ALTS_TESTS_HTTP2_H2_TEST_UTIL_H_

// Helpers the HTTP/2 session tests share:
//   - raw frame builders (every frame type, with the knobs a conformance test
//     needs to break them: padding, priority fields, lying lengths, reserved
//     bits), returning bytes as std::string so sequences read as StrCat(...);
//   - a stateless HPACK block writer (literals without indexing, no Huffman),
//     so the blocks a test sends do not depend on the encoder under test;
//   - a frame parser for what a Session wrote, with typed accessors and a
//     one-line Describe() for readable assertions;
//   - a recording SessionHandler whose hooks let a test act on events;
//   - SessionHarness (one Session against raw bytes) and SessionPair (two
//     Sessions wired together in memory), both with an injectable clock.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "http2/frame.h"
#include "http2/frame_sink.h"
#include "http2/hpack/decoder.h"
#include "http2/hpack/header_field.h"
#include "http2/session.h"

namespace alts::http2::testing {

// HeaderList is a header list by value: order and duplicates matter.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Span views a byte string as bytes.
inline absl::Span<const uint8_t> Span(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Fields views a list as HeaderFields (valid while `list` lives).
std::vector<hpack::HeaderField> Fields(const HeaderList& list);

// RequestHeaders returns a valid request: :method, :scheme https, :path,
// :authority example.com, then `extra`.
HeaderList RequestHeaders(absl::string_view method = "GET", absl::string_view path = "/",
                          const HeaderList& extra = {});
// ResponseHeaders returns a valid response: :status, then `extra`.
HeaderList ResponseHeaders(absl::string_view status = "200", const HeaderList& extra = {});

// ---------------------------------------------------------------------------
// HPACK blocks written without state.

// HpackInt appends an HPACK integer (RFC 7541 5.1) with an N-bit prefix whose
// high bits are `first_byte_flags`.
void HpackInt(std::string* out, uint64_t value, int prefix_bits, uint8_t first_byte_flags);
// LiteralBlock encodes `list` as literals without indexing with literal names
// and raw strings: a block any decoder reads the same whatever its state.
std::string LiteralBlock(const HeaderList& list);

// IncrementalLiteral encodes one literal with incremental indexing and a
// literal name (the decoder adds it to its dynamic table).
std::string IncrementalLiteral(absl::string_view name, absl::string_view value);
// IndexedField encodes an indexed field representation (RFC 7541 6.1).
std::string IndexedField(uint32_t index);

// ---------------------------------------------------------------------------
// Raw frames.

// kClientMagic is the client connection preface.
inline constexpr absl::string_view kClientMagic = kConnectionPreface;

// FrameHeaderBytes returns a 9-byte frame header; `reserved` sets the
// reserved bit of the stream identifier.
std::string FrameHeaderBytes(uint32_t length, uint8_t type, uint8_t flags, uint32_t stream_id,
                             bool reserved = false);
// RawFrame returns a frame whose length field is the payload's size.
std::string RawFrame(uint8_t type, uint8_t flags, uint32_t stream_id, absl::string_view payload);
inline std::string RawFrame(FrameType type, uint8_t flags, uint32_t stream_id,
                            absl::string_view payload) {
  return RawFrame(static_cast<uint8_t>(type), flags, stream_id, payload);
}

// Setting is one SETTINGS parameter.
struct Setting {
  uint16_t id;
  uint32_t value;
};
std::string SettingsFrame(std::initializer_list<Setting> settings = {});
std::string SettingsFrame(const std::vector<Setting>& settings);
std::string SettingsAck();
std::string PingFrame(uint64_t payload, bool ack = false);
std::string GoawayFrame(uint32_t last_stream_id, ErrorCode code, absl::string_view debug = {});
std::string GoawayFrame(uint32_t last_stream_id, uint32_t code, absl::string_view debug = {});
std::string RstStreamFrame(uint32_t stream_id, ErrorCode code);
std::string RstStreamFrame(uint32_t stream_id, uint32_t code);
std::string WindowUpdateFrame(uint32_t stream_id, uint32_t increment);
std::string PriorityFrame(uint32_t stream_id, uint32_t depends_on, uint8_t weight = 15,
                          bool exclusive = false);

// Padding: pad_length is the PADDED flag's pad-length field; `actual` the
// padding octets actually sent (default pad_length of them; fewer makes the
// padding exceed the payload).
struct Padding {
  explicit Padding(uint8_t length, std::optional<size_t> sent = std::nullopt)
      : pad_length(length), actual(sent) {}
  uint8_t pad_length;
  std::optional<size_t> actual;  // default: pad_length octets
};

std::string DataFrame(uint32_t stream_id, absl::string_view data, uint8_t flags = 0,
                      std::optional<Padding> padding = std::nullopt);

// HeadersOptions: optional padding and priority fields of a HEADERS frame.
struct HeadersOptions {
  std::optional<Padding> padding;
  std::optional<uint32_t> depends_on;  // sets PRIORITY with this dependency
  uint8_t weight = 15;
};
// HeadersFrame sends `block` as one HEADERS frame with `flags` (END_HEADERS
// is not implied: pass it).
std::string HeadersFrame(uint32_t stream_id, absl::string_view block, uint8_t flags,
                         const HeadersOptions& options = {});
std::string ContinuationFrame(uint32_t stream_id, absl::string_view fragment, uint8_t flags);
std::string PushPromiseFrame(uint32_t stream_id, uint32_t promised_id, absl::string_view block,
                             uint8_t flags = kFlagEndHeaders);

// Request writes a whole request: HEADERS (END_HEADERS) with a literal
// block, END_STREAM if `end_stream`.
std::string Request(uint32_t stream_id, bool end_stream = true,
                    const HeaderList& headers = RequestHeaders());
// Response writes a whole response HEADERS frame likewise.
std::string Response(uint32_t stream_id, bool end_stream = true,
                     const HeaderList& headers = ResponseHeaders());
// Trailers writes a trailers HEADERS frame (END_STREAM | END_HEADERS).
std::string Trailers(uint32_t stream_id, const HeaderList& trailers = {{"grpc-status", "0"}});

// ---------------------------------------------------------------------------
// Parsing what a session wrote.

// ParsedFrame is one frame of a session's output.
struct ParsedFrame {
  FrameHeader header;
  std::string payload;

  FrameType type() const { return static_cast<FrameType>(header.type); }
  uint32_t stream_id() const { return header.stream_id; }
  bool has(uint8_t flag) const { return header.has(flag); }
  // The typed fields below check the frame's type (a test failure if wrong).
  ErrorCode rst_code() const;
  uint32_t goaway_last_id() const;
  ErrorCode goaway_code() const;
  std::string goaway_debug() const;
  uint64_t ping_payload() const;
  uint32_t window_increment() const;
  std::vector<Setting> settings() const;
  // setting returns the value of parameter `id` in a SETTINGS frame, if any.
  std::optional<uint32_t> setting(SettingId id) const;
};

// ParseFrames splits `bytes` into frames; `client_preface` first skips (and
// checks) the client magic. A trailing partial frame is a test failure.
std::vector<ParsedFrame> ParseFrames(absl::string_view bytes, bool client_preface = false);

// Describe renders a frame in one line: "GOAWAY(3,PROTOCOL_ERROR)",
// "RST_STREAM(1,STREAM_CLOSED)", "SETTINGS(ACK)", "PING(ACK,0x1)",
// "WINDOW_UPDATE(0,+65535)", "DATA(1,5,END_STREAM)",
// "HEADERS(1,END_STREAM|END_HEADERS)", "CONTINUATION(1,END_HEADERS)".
// SETTINGS without ACK: "SETTINGS(ENABLE_PUSH=0,...)".
std::string Describe(const ParsedFrame& frame);
// Describe renders frames joined by "; ".
std::string Describe(const std::vector<ParsedFrame>& frames);

// CountFrames counts the frames of `type` (on `stream_id` if given).
size_t CountFrames(const std::vector<ParsedFrame>& frames, FrameType type,
                   std::optional<uint32_t> stream_id = std::nullopt);
// FindFrame returns the first frame of `type`, or nullptr.
const ParsedFrame* FindFrame(const std::vector<ParsedFrame>& frames, FrameType type);

// PeerDecoder decodes the header blocks a session sent (the peer's decoder:
// its table follows every block it is given, in order).
class PeerDecoder {
 public:
  // DecodeAll decodes every HEADERS+CONTINUATION block in `frames` in order
  // and returns them (one list per block; a decoding error fails the test).
  std::vector<std::pair<uint32_t, HeaderList>> DecodeAll(const std::vector<ParsedFrame>& frames);

 private:
  hpack::Decoder decoder_;
};

// ---------------------------------------------------------------------------
// Handler and harnesses.

// Event is one handler call, by value.
struct Event {
  enum class Kind { kHeaders, kData, kClose, kGoaway, kPing, kWindowAvailable, kSettings };
  explicit Event(Kind k) : kind(k) {}
  Kind kind;
  uint32_t id = 0;
  HeaderList fields;                                  // kHeaders
  HeaderBlockKind block_kind = HeaderBlockKind::kRequest;
  bool informational = false;
  bool oversized = false;
  int64_t content_length = -1;
  bool end_stream = false;                            // kHeaders, kData
  std::string data;                                   // kData; kGoaway debug
  ErrorCode code = ErrorCode::kNoError;               // kClose, kGoaway
  CloseCause cause = CloseCause::kCompleted;          // kClose
  uint64_t ping = 0;                                  // kPing
  bool ack = false;                                   // kPing
  Settings settings;                                  // kSettings
};

// Describe renders an event: "headers(1,request,END_STREAM)", "data(1,5)",
// "data(1,0,END_STREAM)", "close(1,NO_ERROR,completed)",
// "goaway(3,NO_ERROR)", "ping(0x1,ack)", "window(1)", "settings".
std::string Describe(const Event& event);
std::string Describe(const std::vector<Event>& events);

// RecordingHandler records every event; the hooks (if set) run after the
// event is recorded and may call the session back.
class RecordingHandler : public SessionHandler {
 public:
  void OnHeaders(uint32_t id, void* stream_data, const ReceivedHeaders& headers,
                 bool end_stream) override;
  void OnData(uint32_t id, void* stream_data, absl::Span<const uint8_t> data,
              bool end_stream) override;
  void OnStreamClose(uint32_t id, void* stream_data, ErrorCode code, CloseCause cause) override;
  void OnGoaway(uint32_t last_stream_id, ErrorCode code, absl::string_view debug) override;
  void OnPing(uint64_t payload, bool ack) override;
  void OnWindowAvailable(uint32_t id, void* stream_data) override;
  void OnPeerSettings(const Settings& settings) override;

  // Take returns the events so far and clears them.
  std::vector<Event> Take();
  // DescribeTake is Describe(Take()).
  std::string DescribeTake() { return Describe(Take()); }

  std::vector<Event> events;
  // Bodies received per stream (DATA concatenated), kept across Take.
  std::map<uint32_t, std::string> bodies;
  // Headers blocks received per stream, kept across Take.
  std::map<uint32_t, std::vector<HeaderList>> blocks;
  // Streams closed, with their cause, kept across Take.
  std::map<uint32_t, CloseCause> closed;
  // stream_data pointers seen in OnStreamClose per stream.
  std::map<uint32_t, void*> close_data;

  std::function<void(uint32_t id, const ReceivedHeaders& headers, bool end_stream)> on_headers;
  std::function<void(uint32_t id, absl::Span<const uint8_t> data, bool end_stream)> on_data;
  std::function<void(uint32_t id, ErrorCode code, CloseCause cause)> on_close;
  std::function<void(uint32_t id)> on_window;
  std::function<void(uint32_t last_id, ErrorCode code)> on_goaway;
};

// TestClock is a settable clock for SessionOptions::now (process-wide: the
// option is a plain function pointer).
struct TestClock {
  static absl::Time Now() { return now; }
  static void Advance(absl::Duration d) { now += d; }
  static inline absl::Time now = absl::FromUnixSeconds(1'000'000'000);
};

// TestOptions returns default options with the test clock.
SessionOptions TestOptions();

// SessionHarness is one Session driven by raw bytes: a test plays the peer.
class SessionHarness {
 public:
  explicit SessionHarness(Role role, const SessionOptions& options = TestOptions());

  // Handshake starts the session, sends the peer's preface (the client magic
  // for a server session) and `peer_settings`, acknowledges our SETTINGS,
  // and clears the output and the events. The session must accept it.
  void Handshake(absl::string_view peer_settings = SettingsFrame());
  // Feed delivers bytes in one Receive.
  absl::Status Feed(absl::string_view bytes) { return session->Receive(Span(bytes)); }
  // FeedSplit delivers bytes in pieces of `piece` bytes; stops at an error.
  absl::Status FeedSplit(absl::string_view bytes, size_t piece);
  // TakeFrames parses and clears the output.
  std::vector<ParsedFrame> TakeFrames();
  // Out is Describe(TakeFrames()).
  std::string Out() { return Describe(TakeFrames()); }
  // OpenRequest (server role) opens stream `id` with a request without
  // END_STREAM and clears output and events.
  void OpenRequest(uint32_t id, const HeaderList& headers = RequestHeaders());
  // OpenClientStream (client role) submits a request and clears output and
  // events; returns its id.
  uint32_t OpenClientStream(bool end_stream = false, const HeaderList& headers = RequestHeaders());

  SessionOptions options;
  RecordingHandler handler;
  StringSink sink;
  std::unique_ptr<Session> session;
  PeerDecoder peer_decoder;
};

// ServerSession and ClientSession are harnesses of that role after
// Handshake(peer_settings).
struct ServerSession : SessionHarness {
  explicit ServerSession(const SessionOptions& o = TestOptions(),
                         absl::string_view peer_settings = {})
      : SessionHarness(Role::kServer, o) {
    Handshake(peer_settings.empty() ? SettingsFrame() : std::string(peer_settings));
  }
};
struct ClientSession : SessionHarness {
  explicit ClientSession(const SessionOptions& o = TestOptions(),
                         absl::string_view peer_settings = {})
      : SessionHarness(Role::kClient, o) {
    Handshake(peer_settings.empty() ? SettingsFrame() : std::string(peer_settings));
  }
};

// IsConnectionError checks that `status` (what Receive or CheckTimeouts
// returned) is a connection error with `code`; that the session's output now
// ends with GOAWAY(last_id, code) (the output is consumed); that the session
// has ended with no open stream; and that a later Receive returns the same
// error and writes nothing.
::testing::AssertionResult IsConnectionError(SessionHarness& h, const absl::Status& status,
                                             ErrorCode code, uint32_t last_id);

// SessionPair is a client and a server Session wired together in memory.
class SessionPair {
 public:
  explicit SessionPair(const SessionOptions& client_options = TestOptions(),
                       const SessionOptions& server_options = TestOptions());

  // Pump moves bytes both ways until neither side writes more; each
  // delivery is split in pieces of `piece` bytes (0: whole). Returns false
  // if a Receive failed (the statuses are in client_status/server_status).
  bool Pump(size_t piece = 0);
  // PumpOneWay delivers what `from` wrote so far to the other side.
  bool DeliverToServer(size_t piece = 0);
  bool DeliverToClient(size_t piece = 0);

  SessionOptions client_options, server_options;
  RecordingHandler client_handler, server_handler;
  StringSink client_sink, server_sink;
  std::unique_ptr<Session> client, server;
  absl::Status client_status, server_status;
  // Bytes moved each way so far.
  size_t to_server_bytes = 0, to_client_bytes = 0;
};

}  // namespace alts::http2::testing

#endif  // ALTS_TESTS_HTTP2_H2_TEST_UTIL_H_
