#ifndef ALTS_HTTP2_SESSION_H_
#define ALTS_HTTP2_SESSION_H_

// Session: one HTTP/2 connection endpoint (RFC 9113) as a pure state
// machine. Bytes that arrived go in (Receive); events come out through a
// SessionHandler registered once; frames to send go out through a FrameSink
// as they are produced. No fds, no reactor, no timers of its own (the owner
// asks next_deadline() and calls CheckTimeouts).
//
// Memory. Nothing is held "just in case": no input or output frame buffer
// exists. DATA payloads are handed to the handler straight from the input
// span (a frame split across deliveries is handed over piece by piece); other
// frames are parsed in place when whole, and only a frame split across
// deliveries is kept, in storage sized to it. Streams come from a per-thread
// free list. An idle session (no open streams) holds its settings, windows,
// counters and the HPACK tables' contents: see HeapBytes.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "http2/frame.h"
#include "http2/frame_sink.h"
#include "http2/header_validation.h"
#include "http2/hpack/decoder.h"
#include "http2/hpack/encoder.h"
#include "http2/hpack/header_field.h"

namespace alts::http2 {

// Role is which end of the connection a session plays.
enum class Role : uint8_t { kClient, kServer };

// kUnlimited is the value of a limit setting that has no limit.
inline constexpr uint32_t kUnlimited = 0xffffffff;

// kDefaultMaxConcurrentStreams is what we advertise unless told otherwise:
// RFC 9113 5.1.2 recommends at least 100, and more lets one peer make us
// hold that many streams' state.
inline constexpr uint32_t kDefaultMaxConcurrentStreams = 100;
// kDefaultMaxHeaderListSize bounds a decoded header list (RFC 9113 10.5.1
// accounting) unless told otherwise: gRPC implementations allow 8-16 KiB of
// metadata, and every byte of it is decoded into per-thread scratch.
inline constexpr uint32_t kDefaultMaxHeaderListSize = 16 * 1024;
// kDefaultStreamWindow is the receive window we give each stream: large
// enough that a 1 Gbit/s transfer with a millisecond of latency never waits
// for a WINDOW_UPDATE. Windows cost nothing at rest (no buffer backs them).
inline constexpr uint32_t kDefaultStreamWindow = 1 << 20;
// kDefaultConnectionWindow is the connection-level receive window we
// announce right after the preface (for all streams together).
inline constexpr uint32_t kDefaultConnectionWindow = 4 << 20;
// kMaxHeaderBlockBytes bounds a compressed header block (HEADERS plus its
// CONTINUATIONs) before it is decoded: without it a peer could make us keep
// an endless block (the CONTINUATION flood). Twice the largest default list,
// since HPACK never needs more than ~1.6 bytes per decoded byte.
inline constexpr size_t kMaxHeaderBlockBytes = 64 * 1024;
// kMaxContinuationFrames bounds the CONTINUATION frames of one block: a real
// encoder fills frames, so more means a peer trickling empty frames.
inline constexpr uint32_t kMaxContinuationFrames = 32;
// kMaxSettingsEntries bounds the parameters of one SETTINGS frame (six are
// defined; a frame of thousands only costs us CPU and tells us nothing).
inline constexpr size_t kMaxSettingsEntries = 64;
// kMaxUnflushedControlFrames bounds the frames we queue in reply to the
// peer's frames (SETTINGS and PING acks, RST_STREAMs) while our output is not
// drained: a peer that sends them without reading would make us buffer
// without end (CVE-2019-9512, -9514, -9515).
inline constexpr uint32_t kMaxUnflushedControlFrames = 1000;
// kMaxUselessFrames bounds consecutive frames that make no progress (empty
// DATA without END_STREAM, frames for closed streams, empty CONTINUATIONs,
// WINDOW_UPDATEs and SETTINGS that change nothing...): CVE-2019-9518.
inline constexpr uint32_t kMaxUselessFrames = 10000;
// kDefaultPeerResetBurst and kDefaultPeerResetsPerSecond bound how fast a
// client may reset the streams it opens (rapid reset, CVE-2023-44487): a
// token bucket of this many, refilled at this rate.
inline constexpr uint32_t kDefaultPeerResetBurst = 1000;
inline constexpr uint32_t kDefaultPeerResetsPerSecond = 100;

// Settings are the SETTINGS parameters of one side.
struct Settings {
  uint32_t header_table_size = hpack::kDefaultHeaderTableSize;
  uint32_t enable_push = 1;  // the protocol default; we always advertise 0
  uint32_t max_concurrent_streams = kUnlimited;
  uint32_t initial_window_size = kDefaultInitialWindowSize;
  uint32_t max_frame_size = kDefaultMaxFrameSize;
  uint32_t max_header_list_size = kUnlimited;
};

// SessionOptions configure sessions; one instance may be shared by many
// sessions (each keeps a pointer, so it must outlive them).
struct SessionOptions {
  // What we advertise. enable_push is always sent as 0.
  uint32_t header_table_size = hpack::kDefaultHeaderTableSize;
  uint32_t max_concurrent_streams = kDefaultMaxConcurrentStreams;
  uint32_t initial_window_size = kDefaultStreamWindow;
  uint32_t max_frame_size = kDefaultMaxFrameSize;
  uint32_t max_header_list_size = kDefaultMaxHeaderListSize;
  // Connection receive window announced after the preface (at least 65535).
  uint32_t connection_window = kDefaultConnectionWindow;
  // The most our encoder keeps in its dynamic table (the peer may allow
  // more; we use at most this).
  uint32_t encoder_table_size = hpack::kDefaultHeaderTableSize;
  // auto_window_update: DATA counts as consumed once OnData returns. Off:
  // the owner calls Consume when it has processed the bytes (back-pressure
  // onto the peer).
  bool auto_window_update = true;
  // The peer must acknowledge our SETTINGS within this long, or the session
  // ends with SETTINGS_TIMEOUT.
  absl::Duration settings_ack_timeout = absl::Seconds(10);
  uint32_t peer_reset_burst = kDefaultPeerResetBurst;
  uint32_t peer_resets_per_second = kDefaultPeerResetsPerSecond;
  // Clock for rate limits and timeouts; nullptr = absl::Now.
  absl::Time (*now)() = nullptr;
};

// CloseCause says why a stream ended (SessionHandler::OnStreamClose).
enum class CloseCause : uint8_t {
  kCompleted,        // both sides sent END_STREAM
  kResetByPeer,      // RST_STREAM received (its code is given)
  kResetByUs,        // we sent RST_STREAM: ResetStream, or a stream error
  kRefused,          // not processed by the peer (GOAWAY above its last id,
                     // or REFUSED_STREAM): safe to retry elsewhere
  kConnectionClosed  // the connection ended (error, Abort or destruction)
};

// ReceivedHeaders is a validated header block. `fields` (pseudo-header
// fields first) and the views in `pseudo` are valid only during the call.
struct ReceivedHeaders {
  absl::Span<const hpack::HeaderField> fields;
  PseudoHeaders pseudo;
  HeaderBlockKind kind = HeaderBlockKind::kRequest;
  // informational: a 1xx response; the final response follows.
  bool informational = false;
  // oversized: the block decoded to more than our max_header_list_size; no
  // field is given (kind says what it was). The stream is open: the handler
  // answers it (e.g. 431, or a gRPC status) or resets it.
  bool oversized = false;
};

// SessionHandler receives a session's events, on the thread that called the
// session. Callbacks may call the session back (send, reset, go away) but
// must not destroy it or call Receive.
class SessionHandler {
 public:
  virtual ~SessionHandler() = default;

  // OnHeaders delivers a header block on stream `id`: server side the
  // request (a new stream: set its data with Session::SetStreamData) or
  // trailers; client side a response (maybe informational) or trailers.
  // `end_stream`: the peer sends nothing more on this stream.
  virtual void OnHeaders(uint32_t id, void* stream_data, const ReceivedHeaders& headers,
                         bool end_stream) = 0;

  // OnData delivers DATA payload bytes (padding removed), valid only during
  // the call; one frame may come in several pieces. `end_stream` as above
  // (the last piece may be empty).
  virtual void OnData(uint32_t id, void* stream_data, absl::Span<const uint8_t> data,
                      bool end_stream) = 0;

  // OnStreamClose reports that stream `id` is gone; its data pointer is not
  // used again. `code` is the RST_STREAM/GOAWAY code where there is one.
  // Called also from inside the session calls that end a stream (SendData
  // with end_stream, SubmitHeaders, ResetStream, Abort).
  virtual void OnStreamClose(uint32_t id, void* stream_data, ErrorCode code,
                             CloseCause cause) = 0;

  // OnGoaway reports a GOAWAY from the peer: no new streams; streams above
  // `last_stream_id` were closed (kRefused) before this call.
  virtual void OnGoaway(uint32_t last_stream_id, ErrorCode code, absl::string_view debug) {}

  // OnPing reports a PING from the peer (ack = false; the session has
  // already answered it) or the answer to ours (ack = true).
  virtual void OnPing(uint64_t payload, bool ack) {}

  // OnWindowAvailable reports that a stream whose SendData fell short may
  // send again (its or the connection's window opened).
  virtual void OnWindowAvailable(uint32_t id, void* stream_data) {}

  // OnPeerSettings reports the peer's SETTINGS (after they are applied).
  virtual void OnPeerSettings(const Settings& settings) {}
};

// ErrorCodeOf returns the HTTP/2 error code a session status carries (a
// connection error), or kInternalError if it has none.
ErrorCode ErrorCodeOf(const absl::Status& status);

// Session is one HTTP/2 endpoint. Not thread-safe: one thread at a time.
class Session {
 public:
  // Session makes an endpoint for `role`. `options`, `handler` and `sink`
  // are borrowed and must outlive it. Call Start before anything else.
  Session(Role role, const SessionOptions* options, SessionHandler* handler, FrameSink* sink);
  // ~Session closes open streams (OnStreamClose, kConnectionClosed) unless
  // Abort did already.
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Start writes our connection preface: the client magic (client side), our
  // SETTINGS and the connection WINDOW_UPDATE.
  void Start();

  // Receive processes bytes from the peer. Returns OK, or the connection
  // error that ended the session (a GOAWAY with its code was written; every
  // stream was closed). Once ended, returns that error again.
  absl::Status Receive(absl::Span<const uint8_t> bytes);

  // SubmitRequest (client) opens a stream with request `headers` (validated
  // as a request: kInvalidArgument if malformed) and returns its id.
  // kUnavailable after a GOAWAY or once the session ended;
  // kResourceExhausted if the peer's MAX_CONCURRENT_STREAMS is reached (try
  // again after a stream closes) or stream ids are used up (use a new
  // connection).
  absl::StatusOr<uint32_t> SubmitRequest(absl::Span<const hpack::HeaderField> headers,
                                         bool end_stream, void* stream_data);

  // SubmitHeaders sends response headers (server) or trailers (either side;
  // trailers need end_stream). kNotFound for a stream that is not open,
  // kFailedPrecondition if we already ended it, kInvalidArgument for a
  // malformed block.
  absl::Status SubmitHeaders(uint32_t id, absl::Span<const hpack::HeaderField> headers,
                             bool end_stream);

  // SendData frames as much of `data` as the stream's and the connection's
  // windows allow and returns how many bytes it took; END_STREAM goes with
  // the last frame only when all of `data` was taken (empty `data` with
  // end_stream needs no window). When it takes less, OnWindowAvailable
  // follows. Errors as SubmitHeaders.
  absl::StatusOr<size_t> SendData(uint32_t id, absl::Span<const uint8_t> data, bool end_stream);

  // SendWindow returns the DATA bytes stream `id` may send now (0 if none or
  // if the stream is unknown).
  size_t SendWindow(uint32_t id) const;

  // ResetStream sends RST_STREAM with `code` and closes the stream
  // (OnStreamClose, kResetByUs). No-op for an unknown stream.
  void ResetStream(uint32_t id, ErrorCode code);

  // set_auto_window_update overrides SessionOptions::auto_window_update for
  // this session (a layer that always consumes by hand sets it off without
  // copying shared options). Call before Receive.
  void set_auto_window_update(bool on) { auto_window_update_ = on; }

  // Consume returns `n` bytes of stream `id`'s received DATA to the flow-
  // control windows (only with auto_window_update off).
  void Consume(uint32_t id, size_t n);

  // Ping sends a PING with `payload`; its ack comes through OnPing.
  void Ping(uint64_t payload);

  // GoAway sends GOAWAY with the last peer stream id. kNoError is graceful:
  // open streams finish, new ones are refused. Any other code ends the
  // session now (streams closed, kConnectionClosed).
  void GoAway(ErrorCode code, absl::string_view debug = {});

  // Abort ends the session without writing anything (the transport is
  // gone): every open stream is closed (kConnectionClosed).
  void Abort(const absl::Status& status);

  // CheckTimeouts ends the session with SETTINGS_TIMEOUT if our SETTINGS
  // were not acknowledged in time. Returns the session's status.
  absl::Status CheckTimeouts(absl::Time now);
  // next_deadline returns when CheckTimeouts is next due (InfiniteFuture if
  // never).
  absl::Time next_deadline() const;

  // OnOutputDrained tells the session that everything it wrote has reached
  // the peer's socket (resets the unflushed-control-frame count).
  void OnOutputDrained() { unflushed_control_frames_ = 0; }

  // SetStreamData attaches the owner's pointer to stream `id` (no-op if
  // unknown); stream_data returns it (nullptr if unknown).
  void SetStreamData(uint32_t id, void* data);
  void* stream_data(uint32_t id) const;

  // status returns OK, or the error that ended the session.
  const absl::Status& status() const { return status_; }
  // ended returns true once the session can carry nothing more: it failed,
  // or a GOAWAY went either way and no stream is left. The owner then
  // flushes the output and closes the transport.
  bool ended() const;
  // goaway_sent / goaway_received report GOAWAYs in each direction.
  bool goaway_sent() const { return goaway_sent_; }
  bool goaway_received() const { return goaway_received_; }
  // open_streams returns the streams open now (both directions' initiators).
  uint32_t open_streams() const { return open_streams_; }
  // stream_ids_exhausted returns true once this side can open no more
  // streams (a client then uses a new connection).
  bool stream_ids_exhausted() const { return next_stream_id_ > kMaxStreamId; }
  // last_peer_stream_id returns the highest stream id the peer opened.
  uint32_t last_peer_stream_id() const { return last_peer_stream_id_; }
  const Settings& peer_settings() const { return peer_; }
  Role role() const { return role_; }
  // HeapBytes returns the heap this session holds now: streams, a held
  // partial frame or header block, and the HPACK tables (sizeof(Session)
  // not included).
  size_t HeapBytes() const;

 private:
  struct Stream;
  class StreamIndex;
  enum class InState : uint8_t { kPreface, kHeader, kPayload, kData, kSkip, kDead };

  // Input.
  absl::Status ReceiveImpl(absl::Span<const uint8_t> in);
  absl::Status OnFrameHeader();
  absl::Status OnFramePayload(absl::Span<const uint8_t> payload);
  absl::Status OnDataBytes(absl::Span<const uint8_t>& in);
  absl::Status OnEmptyData();
  absl::Status OnHeadersFrame(absl::Span<const uint8_t> payload);
  absl::Status OnContinuationFrame(absl::Span<const uint8_t> payload);
  absl::Status OnHeaderBlock(uint32_t id, uint8_t flags, absl::Span<const uint8_t> block);
  absl::Status OnPriorityFrame(absl::Span<const uint8_t> payload);
  absl::Status OnRstStreamFrame(absl::Span<const uint8_t> payload);
  absl::Status OnSettingsFrame(absl::Span<const uint8_t> payload);
  absl::Status OnPingFrame(absl::Span<const uint8_t> payload);
  absl::Status OnGoawayFrame(absl::Span<const uint8_t> payload);
  absl::Status OnWindowUpdateFrame(absl::Span<const uint8_t> payload);
  absl::Status ApplyPeerSetting(uint16_t id, uint32_t value);
  absl::Status EndRemote(Stream* s);
  absl::Status Useless();
  absl::Status ReplyControlFrame();
  absl::Status CheckPeerReset();

  // Streams.
  // FreeStreams returns the calling thread's released stream objects.
  static std::vector<Stream*>& FreeStreams();
  Stream* Find(uint32_t id) const;
  Stream* NewStream(uint32_t id);
  void CloseStream(Stream* s, ErrorCode code, CloseCause cause);
  void CloseAll(ErrorCode code, CloseCause cause);
  bool PeerInitiated(uint32_t id) const;
  // IsIdle returns true for a stream id that has never been opened.
  bool IsIdle(uint32_t id) const;
  bool RecentlyReset(uint32_t id) const;
  void RememberReset(uint32_t id);

  // Errors.
  absl::Status ConnectionError(ErrorCode code, absl::string_view reason);
  // StreamError sends RST_STREAM(code) for `id` and closes it if open.
  absl::Status StreamError(uint32_t id, ErrorCode code);

  // Output.
  void WriteFrame(FrameType type, uint8_t flags, uint32_t id, absl::Span<const uint8_t> payload);
  void WriteHeaderBlock(uint32_t id, absl::Span<const hpack::HeaderField> headers,
                        bool end_stream);
  void WriteRstStream(uint32_t id, ErrorCode code);
  void WriteWindowUpdate(uint32_t id, uint32_t increment);
  void WriteGoaway(ErrorCode code, absl::string_view debug);
  void CreditConnection(size_t n);
  void CreditStream(Stream* s, size_t n);
  absl::Time Now() const;

  const Role role_;
  const SessionOptions* const options_;
  SessionHandler* const handler_;
  FrameSink* const sink_;
  absl::Status status_;

  Settings peer_;
  hpack::Decoder decoder_;
  hpack::Encoder encoder_;

  // Connection flow control: what we may still send, what the peer may
  // still send, and what was consumed but not yet announced.
  int64_t conn_send_window_ = kDefaultInitialWindowSize;
  int64_t conn_recv_window_ = kDefaultInitialWindowSize;
  uint32_t conn_recv_unacked_ = 0;
  // The stream receive window the peer assumes for new streams.
  uint32_t stream_recv_initial_ = kDefaultInitialWindowSize;

  // Streams: an intrusive list (few streams) plus an index for many.
  Stream* streams_ = nullptr;
  StreamIndex* index_ = nullptr;
  mutable Stream* last_found_ = nullptr;
  uint32_t open_streams_ = 0;
  uint32_t open_peer_streams_ = 0;
  uint32_t open_local_streams_ = 0;
  uint32_t next_stream_id_;
  uint32_t last_peer_stream_id_ = 0;
  uint32_t goaway_last_id_ = kMaxStreamId;  // peer's GOAWAY: streams above are refused
  uint32_t recently_reset_[8] = {};
  uint8_t recently_reset_next_ = 0;

  // Input state.
  InState in_state_;
  uint8_t header_held_ = 0;
  uint8_t header_buf_[kFrameHeaderSize];
  FrameHeader frame_;
  // A non-DATA frame split across deliveries: storage sized to the frame.
  std::unique_ptr<uint8_t[]> held_;
  uint32_t held_size_ = 0;
  // DATA frame being streamed.
  Stream* data_stream_ = nullptr;
  uint32_t data_left_ = 0;      // payload bytes of the frame not yet seen
  uint32_t data_padding_ = 0;   // trailing padding of the frame
  bool data_pad_pending_ = false;  // PADDED: the pad length byte is next
  bool data_precredited_ = false;  // discarded at its header, credited whole
  // Header block spread over HEADERS + CONTINUATION: storage sized to it.
  std::unique_ptr<uint8_t[]> block_;
  uint32_t block_size_ = 0;
  uint32_t block_stream_ = 0;  // nonzero while a CONTINUATION is expected
  uint8_t block_flags_ = 0;
  uint8_t continuations_ = 0;
  uint8_t preface_seen_ = 0;
  bool settings_seen_ = false;  // the peer's first SETTINGS arrived

  // Our SETTINGS awaiting the peer's ACK.
  bool settings_ack_pending_ = false;
  absl::Time settings_deadline_ = absl::InfiniteFuture();

  // Abuse accounting.
  uint32_t unflushed_control_frames_ = 0;
  uint32_t useless_frames_ = 0;
  double reset_tokens_;
  absl::Time reset_refill_ = absl::InfinitePast();

  bool auto_window_update_;
  bool started_ = false;
  bool goaway_sent_ = false;
  bool goaway_received_ = false;
};

}  // namespace alts::http2

#endif  // ALTS_HTTP2_SESSION_H_
