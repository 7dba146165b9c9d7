#include "http2/session.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/cord.h"

namespace alts::http2 {
namespace {

// kErrorCodePayload is the absl::Status payload under which a session's
// status carries its HTTP/2 error code (as decimal text).
constexpr char kErrorCodePayload[] = "type.alts/http2_error_code";

// kIndexThreshold: with more open streams than this, lookups go through a
// hash index instead of the list (built then, freed when no stream is left).
constexpr uint32_t kIndexThreshold = 8;

// kMaxFreeStreamsPerThread bounds the stream objects a thread keeps for
// reuse (a burst of streams must not pin its peak forever).
constexpr size_t kMaxFreeStreamsPerThread = 1024;

// kMaxGoawayDebug bounds the debug data we send in GOAWAY.
constexpr size_t kMaxGoawayDebug = 256;

// kSelfDependency marks, in a held block's flags, a HEADERS frame whose
// priority field named its own stream (bit 0x40 is unused by HEADERS).
constexpr uint8_t kSelfDependency = 0x40;

absl::StatusCode CodeFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kEnhanceYourCalm:
      return absl::StatusCode::kResourceExhausted;
    case ErrorCode::kSettingsTimeout:
      return absl::StatusCode::kDeadlineExceeded;
    case ErrorCode::kProtocolError:
    case ErrorCode::kFlowControlError:
    case ErrorCode::kFrameSizeError:
    case ErrorCode::kCompressionError:
    case ErrorCode::kStreamClosed:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status WithCode(absl::StatusCode status_code, ErrorCode code, absl::string_view message) {
  absl::Status s(status_code, message);
  s.SetPayload(kErrorCodePayload, absl::Cord(absl::StrCat(static_cast<uint32_t>(code))));
  return s;
}

// HeaderArena collects one decoded header list in per-thread storage that
// keeps its capacity, so steady-state decoding allocates nothing.
struct HeaderArena {
  struct Offsets {
    uint32_t name, name_len, value, value_len;
  };
  std::string bytes;
  std::vector<Offsets> offsets;
  std::vector<hpack::HeaderField> fields;

  void Reset() {
    bytes.clear();
    offsets.clear();
    fields.clear();
  }
  void Add(absl::string_view name, absl::string_view value) {
    Offsets o;
    o.name = static_cast<uint32_t>(bytes.size());
    o.name_len = static_cast<uint32_t>(name.size());
    bytes.append(name.data(), name.size());
    o.value = static_cast<uint32_t>(bytes.size());
    o.value_len = static_cast<uint32_t>(value.size());
    bytes.append(value.data(), value.size());
    offsets.push_back(o);
  }
  // Finish makes `fields` views into `bytes` (stable from now on).
  void Finish() {
    fields.clear();
    for (const Offsets& o : offsets) {
      fields.push_back({absl::string_view(bytes.data() + o.name, o.name_len),
                        absl::string_view(bytes.data() + o.value, o.value_len)});
    }
  }
};

HeaderArena& ThreadArena() {
  thread_local HeaderArena arena;
  return arena;
}

std::vector<uint8_t>& EncodeScratch() {
  thread_local std::vector<uint8_t> scratch;
  return scratch;
}

std::vector<uint32_t>& NotifyScratch() {
  thread_local std::vector<uint32_t> ids;
  return ids;
}

}  // namespace

ErrorCode ErrorCodeOf(const absl::Status& status) {
  auto p = status.GetPayload(kErrorCodePayload);
  uint32_t v = 0;
  if (!p.has_value() || !absl::SimpleAtoi(std::string(*p), &v)) return ErrorCode::kInternalError;
  return static_cast<ErrorCode>(v);
}

// Stream is one open stream's state.
struct Session::Stream {
  uint32_t id = 0;
  bool local_closed = false;   // END_STREAM (or trailers) sent
  bool remote_closed = false;  // END_STREAM received
  bool headers_sent = false;   // our initial (non-1xx) headers went out
  bool final_response = false; // client: the final response headers arrived
  bool head_request = false;   // client: a HEAD request (its response has no content)
  bool blocked = false;        // SendData fell short: OnWindowAvailable owed
  int64_t send_window = 0;
  int64_t recv_window = 0;
  uint32_t recv_unacked = 0;    // consumed, not yet announced by WINDOW_UPDATE
  uint32_t recv_unconsumed = 0; // delivered, not yet Consume()d (manual mode)
  int64_t content_left = -1;    // content-length minus DATA seen; -1: none
  void* data = nullptr;
  Stream* prev = nullptr;
  Stream* next = nullptr;
};

class Session::StreamIndex {
 public:
  absl::flat_hash_map<uint32_t, Stream*> map;
};

namespace {

// StreamFreeList keeps a thread's released stream objects for reuse.
template <typename S>
struct StreamFreeList {
  std::vector<S*> free;
  ~StreamFreeList() {
    for (S* s : free) delete s;
  }
};

}  // namespace

Session::Session(Role role, const SessionOptions* options, SessionHandler* handler,
                 FrameSink* sink)
    : role_(role),
      options_(options),
      handler_(handler),
      sink_(sink),
      decoder_(std::min(std::max(options->header_table_size, hpack::kDefaultHeaderTableSize),
                        hpack::kMaxHeaderTableSize)),
      encoder_(std::min(options->encoder_table_size, hpack::kMaxHeaderTableSize)),
      next_stream_id_(role == Role::kClient ? 1 : 2),
      in_state_(role == Role::kServer ? InState::kPreface : InState::kHeader),
      reset_tokens_(options->peer_reset_burst),
      auto_window_update_(options->auto_window_update) {
  stream_recv_initial_ = std::max(options->initial_window_size, kDefaultInitialWindowSize);
}

Session::~Session() {
  // Nothing is written from here on: the sink may be going away too.
  if (status_.ok()) status_ = absl::CancelledError("http2: session destroyed");
  CloseAll(ErrorCode::kNoError, CloseCause::kConnectionClosed);
  delete index_;
}

absl::Time Session::Now() const { return options_->now != nullptr ? options_->now() : absl::Now(); }

// ---------------------------------------------------------------------------
// Output.

void Session::WriteFrame(FrameType type, uint8_t flags, uint32_t id,
                         absl::Span<const uint8_t> payload) {
  // Small frames go out as one write; larger ones as header + payload.
  uint8_t buf[kFrameHeaderSize + 64];
  WriteFrameHeader(buf, static_cast<uint32_t>(payload.size()), type, flags, id);
  if (payload.size() <= 64) {
    if (!payload.empty()) memcpy(buf + kFrameHeaderSize, payload.data(), payload.size());
    sink_->Write(absl::MakeConstSpan(buf, kFrameHeaderSize + payload.size()));
    return;
  }
  sink_->Write(absl::MakeConstSpan(buf, kFrameHeaderSize));
  sink_->Write(payload);
}

void Session::WriteHeaderBlock(uint32_t id, absl::Span<const hpack::HeaderField> headers,
                               bool end_stream) {
  std::vector<uint8_t>& scratch = EncodeScratch();
  const size_t bound = encoder_.MaxEncodedSize(headers);
  if (scratch.size() < bound) scratch.resize(bound);
  const size_t n = encoder_.Encode(headers, absl::MakeSpan(scratch.data(), bound));
  const size_t max_frame = peer_.max_frame_size;
  size_t off = 0;
  bool first = true;
  do {
    const size_t chunk = std::min(max_frame, n - off);
    const bool last = off + chunk == n;
    uint8_t flags = last ? kFlagEndHeaders : 0;
    if (first && end_stream) flags |= kFlagEndStream;
    WriteFrame(first ? FrameType::kHeaders : FrameType::kContinuation, flags, id,
               absl::MakeConstSpan(scratch.data() + off, chunk));
    off += chunk;
    first = false;
  } while (off < n);
}

void Session::WriteRstStream(uint32_t id, ErrorCode code) {
  uint8_t p[4];
  WriteU32(p, static_cast<uint32_t>(code));
  WriteFrame(FrameType::kRstStream, 0, id, p);
}

void Session::WriteWindowUpdate(uint32_t id, uint32_t increment) {
  uint8_t p[4];
  WriteU32(p, increment & 0x7fffffffu);
  WriteFrame(FrameType::kWindowUpdate, 0, id, p);
}

void Session::WriteGoaway(ErrorCode code, absl::string_view debug) {
  if (debug.size() > kMaxGoawayDebug) debug = debug.substr(0, kMaxGoawayDebug);
  uint8_t p[8 + kMaxGoawayDebug];
  WriteU32(p, last_peer_stream_id_);
  WriteU32(p + 4, static_cast<uint32_t>(code));
  if (!debug.empty()) memcpy(p + 8, debug.data(), debug.size());  // data() may be null
  WriteFrame(FrameType::kGoaway, 0, 0, absl::MakeConstSpan(p, 8 + debug.size()));
  goaway_sent_ = true;
}

void Session::CreditConnection(size_t n) {
  if (n == 0 || !status_.ok()) return;
  conn_recv_unacked_ += static_cast<uint32_t>(n);
  const uint32_t target = std::max(options_->connection_window, kDefaultInitialWindowSize);
  if (conn_recv_unacked_ >= target / 2) {
    WriteWindowUpdate(0, conn_recv_unacked_);
    conn_recv_window_ += conn_recv_unacked_;
    conn_recv_unacked_ = 0;
  }
}

void Session::CreditStream(Stream* s, size_t n) {
  if (n == 0 || s->remote_closed || !status_.ok()) return;
  s->recv_unacked += static_cast<uint32_t>(n);
  if (s->recv_unacked >= std::max<uint32_t>(options_->initial_window_size, 2) / 2) {
    WriteWindowUpdate(s->id, s->recv_unacked);
    s->recv_window += s->recv_unacked;
    s->recv_unacked = 0;
  }
}

void Session::Start() {
  if (started_) return;
  started_ = true;
  if (role_ == Role::kClient) {
    sink_->Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(kConnectionPreface.data()),
                                     kConnectionPreface.size()));
  }
  uint8_t p[6 * 6];
  size_t n = 0;
  auto add = [&](SettingId id, uint32_t v) {
    p[n] = static_cast<uint8_t>(static_cast<uint16_t>(id) >> 8);
    p[n + 1] = static_cast<uint8_t>(static_cast<uint16_t>(id));
    WriteU32(p + n + 2, v);
    n += 6;
  };
  const uint32_t table = std::min(options_->header_table_size, hpack::kMaxHeaderTableSize);
  if (table != hpack::kDefaultHeaderTableSize) add(SettingId::kHeaderTableSize, table);
  add(SettingId::kEnablePush, 0);
  if (options_->max_concurrent_streams != kUnlimited) {
    add(SettingId::kMaxConcurrentStreams, options_->max_concurrent_streams);
  }
  if (options_->initial_window_size != kDefaultInitialWindowSize) {
    add(SettingId::kInitialWindowSize,
        static_cast<uint32_t>(std::min<int64_t>(options_->initial_window_size, kMaxWindowSize)));
  }
  const uint32_t max_frame =
      std::clamp(options_->max_frame_size, kDefaultMaxFrameSize, kMaxMaxFrameSize);
  if (max_frame != kDefaultMaxFrameSize) add(SettingId::kMaxFrameSize, max_frame);
  if (options_->max_header_list_size != kUnlimited) {
    add(SettingId::kMaxHeaderListSize, options_->max_header_list_size);
  }
  WriteFrame(FrameType::kSettings, 0, 0, absl::MakeConstSpan(p, n));
  settings_ack_pending_ = true;
  if (options_->settings_ack_timeout != absl::InfiniteDuration()) {
    settings_deadline_ = Now() + options_->settings_ack_timeout;
  }
  if (options_->connection_window > kDefaultInitialWindowSize) {
    const uint32_t inc = static_cast<uint32_t>(
        std::min<int64_t>(options_->connection_window, kMaxWindowSize) - kDefaultInitialWindowSize);
    WriteWindowUpdate(0, inc);
    conn_recv_window_ += inc;
  }
}

// ---------------------------------------------------------------------------
// Errors and abuse accounting.

absl::Status Session::ConnectionError(ErrorCode code, absl::string_view reason) {
  if (!status_.ok()) return status_;
  WriteGoaway(code, reason);
  status_ = WithCode(CodeFor(code), code,
                     absl::StrCat("http2 connection error ", ErrorCodeName(code), ": ", reason));
  in_state_ = InState::kDead;
  // A dead session keeps no partial frame or header block (a peer could
  // otherwise leave kMaxHeaderBlockBytes behind in every failed session).
  held_.reset();
  held_size_ = 0;
  block_.reset();
  block_size_ = 0;
  block_stream_ = 0;
  CloseAll(code, CloseCause::kConnectionClosed);
  return status_;
}

absl::Status Session::StreamError(uint32_t id, ErrorCode code) {
  // Counted before writing, so no more than the limit is ever queued.
  absl::Status st = ReplyControlFrame();
  if (!st.ok()) return st;
  Stream* s = Find(id);
  // Resetting a stream the peer opened frees its slot as the peer's own
  // RST_STREAM would, so a peer that provokes resets ("MadeYouReset",
  // CVE-2025-8671) spends the same budget as one that sends them.
  if (s != nullptr && role_ == Role::kServer && PeerInitiated(id)) {
    st = CheckPeerReset();
    if (!st.ok()) return st;
  }
  WriteRstStream(id, code);
  RememberReset(id);
  if (s != nullptr) CloseStream(s, code, CloseCause::kResetByUs);
  return absl::OkStatus();
}

absl::Status Session::Useless() {
  if (++useless_frames_ > kMaxUselessFrames) {
    return ConnectionError(ErrorCode::kEnhanceYourCalm,
                           absl::StrCat("more than ", kMaxUselessFrames,
                                        " consecutive frames without progress"));
  }
  return absl::OkStatus();
}

absl::Status Session::ReplyControlFrame() {
  if (++unflushed_control_frames_ > kMaxUnflushedControlFrames) {
    return ConnectionError(ErrorCode::kEnhanceYourCalm,
                           absl::StrCat("more than ", kMaxUnflushedControlFrames,
                                        " replies queued while the peer does not read"));
  }
  return absl::OkStatus();
}

absl::Status Session::CheckPeerReset() {
  const absl::Time now = Now();
  if (reset_refill_ != absl::InfinitePast() && now > reset_refill_) {
    reset_tokens_ = std::min<double>(
        options_->peer_reset_burst,
        reset_tokens_ + absl::ToDoubleSeconds(now - reset_refill_) * options_->peer_resets_per_second);
  }
  reset_refill_ = now;
  if (reset_tokens_ < 1) {
    return ConnectionError(ErrorCode::kEnhanceYourCalm,
                           absl::StrCat("streams reset faster than ", options_->peer_resets_per_second,
                                        "/s after a burst of ", options_->peer_reset_burst));
  }
  reset_tokens_ -= 1;
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Streams.

std::vector<Session::Stream*>& Session::FreeStreams() {
  thread_local StreamFreeList<Stream> list;
  return list.free;
}

bool Session::PeerInitiated(uint32_t id) const {
  return (id & 1) == (role_ == Role::kServer ? 1u : 0u);
}

bool Session::IsIdle(uint32_t id) const {
  return PeerInitiated(id) ? id > last_peer_stream_id_ : id >= next_stream_id_;
}

bool Session::RecentlyReset(uint32_t id) const {
  for (uint32_t r : recently_reset_) {
    if (r == id) return true;
  }
  return false;
}

void Session::RememberReset(uint32_t id) {
  recently_reset_[recently_reset_next_] = id;
  recently_reset_next_ = static_cast<uint8_t>((recently_reset_next_ + 1) % 8);
}

Session::Stream* Session::Find(uint32_t id) const {
  if (id == 0) return nullptr;
  if (last_found_ != nullptr && last_found_->id == id) return last_found_;
  Stream* found = nullptr;
  if (index_ != nullptr) {
    auto it = index_->map.find(id);
    if (it != index_->map.end()) found = it->second;
  } else {
    for (Stream* s = streams_; s != nullptr; s = s->next) {
      if (s->id == id) {
        found = s;
        break;
      }
    }
  }
  if (found != nullptr) last_found_ = found;
  return found;
}

Session::Stream* Session::NewStream(uint32_t id) {
  auto& free = FreeStreams();
  Stream* s;
  if (!free.empty()) {
    s = free.back();
    free.pop_back();
    *s = Stream();
  } else {
    s = new Stream();
  }
  s->id = id;
  s->send_window = peer_.initial_window_size;
  s->recv_window = stream_recv_initial_;
  s->next = streams_;
  if (streams_ != nullptr) streams_->prev = s;
  streams_ = s;
  ++open_streams_;
  if (PeerInitiated(id)) {
    ++open_peer_streams_;
  } else {
    ++open_local_streams_;
  }
  if (index_ == nullptr && open_streams_ > kIndexThreshold) {
    index_ = new StreamIndex();
    for (Stream* t = streams_; t != nullptr; t = t->next) index_->map.emplace(t->id, t);
  } else if (index_ != nullptr) {
    index_->map.emplace(id, s);
  }
  last_found_ = s;
  return s;
}

void Session::CloseStream(Stream* s, ErrorCode code, CloseCause cause) {
  if (s->prev != nullptr) s->prev->next = s->next;
  if (s->next != nullptr) s->next->prev = s->prev;
  if (streams_ == s) streams_ = s->next;
  if (index_ != nullptr) index_->map.erase(s->id);
  --open_streams_;
  if (PeerInitiated(s->id)) {
    --open_peer_streams_;
  } else {
    --open_local_streams_;
  }
  if (open_streams_ == 0) {
    if (index_ != nullptr) {
      delete index_;
      index_ = nullptr;
    }
    // Idle now: the HPACK tables keep their entries but give back the slack
    // they grew with (nothing to do once their contents stop changing).
    decoder_.ShrinkToFit();
    encoder_.ShrinkToFit();
  }
  if (data_stream_ == s) data_stream_ = nullptr;
  if (last_found_ == s) last_found_ = nullptr;
  // Bytes delivered but never consumed still belong to the connection.
  CreditConnection(s->recv_unconsumed);
  const uint32_t id = s->id;
  void* data = s->data;
  auto& free = FreeStreams();
  if (free.size() < kMaxFreeStreamsPerThread) {
    free.push_back(s);
  } else {
    delete s;
  }
  handler_->OnStreamClose(id, data, code, cause);
}

void Session::CloseAll(ErrorCode code, CloseCause cause) {
  while (streams_ != nullptr) CloseStream(streams_, code, cause);
}

void Session::SetStreamData(uint32_t id, void* data) {
  if (Stream* s = Find(id)) s->data = data;
}

void* Session::stream_data(uint32_t id) const {
  Stream* s = Find(id);
  return s != nullptr ? s->data : nullptr;
}

size_t Session::SendWindow(uint32_t id) const {
  Stream* s = Find(id);
  if (s == nullptr) return 0;
  return static_cast<size_t>(std::max<int64_t>(0, std::min(s->send_window, conn_send_window_)));
}

bool Session::ended() const {
  return !status_.ok() || ((goaway_sent_ || goaway_received_) && open_streams_ == 0);
}

size_t Session::HeapBytes() const {
  size_t bytes = open_streams_ * sizeof(Stream);
  if (index_ != nullptr) {
    bytes += sizeof(StreamIndex) +
             index_->map.capacity() * (sizeof(std::pair<uint32_t, Stream*>) + 1);
  }
  if (held_ != nullptr) bytes += frame_.length;
  bytes += block_size_;
  return bytes + decoder_.HeapBytes() + encoder_.HeapBytes();
}

// ---------------------------------------------------------------------------
// Sending.

absl::StatusOr<uint32_t> Session::SubmitRequest(absl::Span<const hpack::HeaderField> headers,
                                                bool end_stream, void* stream_data) {
  if (role_ != Role::kClient) return absl::FailedPreconditionError("SubmitRequest on a server");
  if (!status_.ok()) return absl::UnavailableError(status_.message());
  if (goaway_received_ || goaway_sent_) {
    return absl::UnavailableError("http2: the connection is going away (GOAWAY)");
  }
  if (next_stream_id_ > kMaxStreamId) {
    return absl::ResourceExhaustedError("http2: stream ids of this connection are used up");
  }
  if (open_local_streams_ >= peer_.max_concurrent_streams) {
    return absl::ResourceExhaustedError(
        absl::StrCat("http2: the peer allows ", peer_.max_concurrent_streams,
                     " concurrent streams"));
  }
  PseudoHeaders pseudo;
  absl::Status v = ValidateHeaderBlock(HeaderBlockKind::kRequest, headers, &pseudo);
  if (!v.ok()) return v;
  const uint32_t id = next_stream_id_;
  next_stream_id_ += 2;
  Stream* s = NewStream(id);
  s->data = stream_data;
  s->headers_sent = true;
  s->head_request = pseudo.method == "HEAD";
  WriteHeaderBlock(id, headers, end_stream);
  if (end_stream) s->local_closed = true;
  return id;
}

absl::Status Session::SubmitHeaders(uint32_t id, absl::Span<const hpack::HeaderField> headers,
                                    bool end_stream) {
  if (!status_.ok()) return status_;
  Stream* s = Find(id);
  if (s == nullptr) return absl::NotFoundError(absl::StrCat("http2: stream ", id, " is not open"));
  if (s->local_closed) {
    return absl::FailedPreconditionError(absl::StrCat("http2: stream ", id, " already ended"));
  }
  const HeaderBlockKind kind = (role_ == Role::kServer && !s->headers_sent)
                                   ? HeaderBlockKind::kResponse
                                   : HeaderBlockKind::kTrailers;
  if (kind == HeaderBlockKind::kTrailers && !end_stream) {
    return absl::InvalidArgumentError("http2: trailers must end the stream");
  }
  PseudoHeaders pseudo;
  absl::Status v = ValidateHeaderBlock(kind, headers, &pseudo);
  if (!v.ok()) return v;
  const bool informational = kind == HeaderBlockKind::kResponse && pseudo.status[0] == '1';
  if (informational && end_stream) {
    return absl::InvalidArgumentError("http2: an informational response cannot end the stream");
  }
  if (peer_.max_header_list_size != kUnlimited) {
    size_t list = 0;
    for (const hpack::HeaderField& f : headers) list += hpack::FieldSize(f.name, f.value);
    if (list > peer_.max_header_list_size) {
      return absl::ResourceExhaustedError(
          absl::StrCat("http2: header list of ", list, " bytes exceeds the peer's limit of ",
                       peer_.max_header_list_size));
    }
  }
  WriteHeaderBlock(id, headers, end_stream);
  if (!informational) s->headers_sent = true;
  if (end_stream) {
    s->local_closed = true;
    if (s->remote_closed) CloseStream(s, ErrorCode::kNoError, CloseCause::kCompleted);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Session::SendData(uint32_t id, absl::Span<const uint8_t> data,
                                         bool end_stream) {
  if (!status_.ok()) return status_;
  Stream* s = Find(id);
  if (s == nullptr) return absl::NotFoundError(absl::StrCat("http2: stream ", id, " is not open"));
  if (s->local_closed) {
    return absl::FailedPreconditionError(absl::StrCat("http2: stream ", id, " already ended"));
  }
  if (!s->headers_sent) {
    return absl::FailedPreconditionError("http2: DATA before the stream's headers");
  }
  const int64_t avail = std::max<int64_t>(0, std::min(s->send_window, conn_send_window_));
  const size_t n = std::min<size_t>(data.size(), static_cast<size_t>(avail));
  const size_t max_frame = peer_.max_frame_size;
  const bool ending = end_stream && n == data.size();
  size_t off = 0;
  while (off < n) {
    const size_t chunk = std::min(max_frame, n - off);
    const bool last = off + chunk == n;
    WriteFrame(FrameType::kData, last && ending ? kFlagEndStream : 0, id,
               data.subspan(off, chunk));
    off += chunk;
  }
  s->send_window -= static_cast<int64_t>(n);
  conn_send_window_ -= static_cast<int64_t>(n);
  if (n < data.size()) {
    s->blocked = true;
  } else if (ending) {
    if (n == 0) WriteFrame(FrameType::kData, kFlagEndStream, id, {});
    s->local_closed = true;
    if (s->remote_closed) CloseStream(s, ErrorCode::kNoError, CloseCause::kCompleted);
  }
  return n;
}

void Session::ResetStream(uint32_t id, ErrorCode code) {
  Stream* s = Find(id);
  if (s == nullptr) return;
  if (status_.ok()) {
    WriteRstStream(id, code);
    RememberReset(id);
  }
  CloseStream(s, code, CloseCause::kResetByUs);
}

void Session::Consume(uint32_t id, size_t n) {
  if (auto_window_update_ || !status_.ok()) return;
  Stream* s = Find(id);
  if (s == nullptr) return;
  n = std::min<size_t>(n, s->recv_unconsumed);
  s->recv_unconsumed -= static_cast<uint32_t>(n);
  CreditConnection(n);
  CreditStream(s, n);
}

void Session::Ping(uint64_t payload) {
  if (!status_.ok()) return;
  uint8_t p[8];
  WriteU32(p, static_cast<uint32_t>(payload >> 32));
  WriteU32(p + 4, static_cast<uint32_t>(payload));
  WriteFrame(FrameType::kPing, 0, 0, p);
}

void Session::GoAway(ErrorCode code, absl::string_view debug) {
  if (!status_.ok()) return;
  if (code == ErrorCode::kNoError) {
    if (!goaway_sent_) WriteGoaway(code, debug);
    return;
  }
  WriteGoaway(code, debug);
  status_ = WithCode(absl::StatusCode::kUnavailable, code,
                     absl::StrCat("http2: GOAWAY sent: ", ErrorCodeName(code), ": ", debug));
  in_state_ = InState::kDead;
  CloseAll(code, CloseCause::kConnectionClosed);
}

void Session::Abort(const absl::Status& status) {
  if (status_.ok()) {
    status_ = status.ok() ? absl::UnavailableError("http2: connection closed") : status;
  }
  in_state_ = InState::kDead;
  CloseAll(ErrorCode::kNoError, CloseCause::kConnectionClosed);
}

absl::Status Session::CheckTimeouts(absl::Time now) {
  if (status_.ok() && settings_ack_pending_ && now >= settings_deadline_) {
    return ConnectionError(ErrorCode::kSettingsTimeout,
                           absl::StrCat("SETTINGS not acknowledged within ",
                                        absl::FormatDuration(options_->settings_ack_timeout)));
  }
  return status_;
}

absl::Time Session::next_deadline() const {
  return status_.ok() && settings_ack_pending_ ? settings_deadline_ : absl::InfiniteFuture();
}

// ---------------------------------------------------------------------------
// Receiving.

absl::Status Session::Receive(absl::Span<const uint8_t> bytes) {
  if (!status_.ok()) return status_;
  absl::Status s = ReceiveImpl(bytes);
  if (!s.ok()) return s;
  return status_;
}

absl::Status Session::ReceiveImpl(absl::Span<const uint8_t> in) {
  while (!in.empty()) {
    if (!status_.ok()) return status_;
    switch (in_state_) {
      case InState::kPreface: {
        const size_t n = std::min(in.size(), kConnectionPreface.size() - preface_seen_);
        if (memcmp(in.data(), kConnectionPreface.data() + preface_seen_, n) != 0) {
          // RFC 9113 3.4: a bad preface is a connection error.
          return ConnectionError(ErrorCode::kProtocolError, "invalid connection preface");
        }
        preface_seen_ = static_cast<uint8_t>(preface_seen_ + n);
        in.remove_prefix(n);
        if (preface_seen_ == kConnectionPreface.size()) in_state_ = InState::kHeader;
        break;
      }
      case InState::kHeader: {
        if (header_held_ == 0 && in.size() >= kFrameHeaderSize) {
          frame_ = ParseFrameHeader(in.data());
          in.remove_prefix(kFrameHeaderSize);
        } else {
          const size_t n = std::min<size_t>(in.size(), kFrameHeaderSize - header_held_);
          memcpy(header_buf_ + header_held_, in.data(), n);
          header_held_ = static_cast<uint8_t>(header_held_ + n);
          in.remove_prefix(n);
          if (header_held_ < kFrameHeaderSize) return absl::OkStatus();
          header_held_ = 0;
          frame_ = ParseFrameHeader(header_buf_);
        }
        absl::Status s = OnFrameHeader();
        if (!s.ok()) return s;
        break;
      }
      case InState::kPayload: {
        if (held_ == nullptr && in.size() >= frame_.length) {
          absl::Span<const uint8_t> payload = in.first(frame_.length);
          in.remove_prefix(frame_.length);
          in_state_ = InState::kHeader;
          absl::Status s = OnFramePayload(payload);
          if (!s.ok()) return s;
          break;
        }
        if (held_ == nullptr) {
          held_.reset(new uint8_t[frame_.length]);
          held_size_ = 0;
        }
        const size_t n = std::min<size_t>(in.size(), frame_.length - held_size_);
        memcpy(held_.get() + held_size_, in.data(), n);
        held_size_ += static_cast<uint32_t>(n);
        in.remove_prefix(n);
        if (held_size_ < frame_.length) return absl::OkStatus();
        std::unique_ptr<uint8_t[]> payload = std::move(held_);
        held_size_ = 0;
        in_state_ = InState::kHeader;
        absl::Status s = OnFramePayload(absl::MakeConstSpan(payload.get(), frame_.length));
        if (!s.ok()) return s;
        break;
      }
      case InState::kData: {
        absl::Status s = OnDataBytes(in);
        if (!s.ok()) return s;
        break;
      }
      case InState::kSkip: {
        const size_t n = std::min<size_t>(in.size(), data_left_);
        in.remove_prefix(n);
        data_left_ -= static_cast<uint32_t>(n);
        if (data_left_ == 0) in_state_ = InState::kHeader;
        break;
      }
      case InState::kDead:
        return status_;
    }
  }
  return absl::OkStatus();
}

absl::Status Session::OnFrameHeader() {
  const FrameHeader& f = frame_;
  const uint32_t max_frame =
      std::clamp(options_->max_frame_size, kDefaultMaxFrameSize, kMaxMaxFrameSize);
  if (f.length > max_frame) {
    return ConnectionError(ErrorCode::kFrameSizeError,
                           absl::StrCat("frame of ", f.length, " bytes exceeds SETTINGS_MAX_FRAME_SIZE ",
                                        max_frame));
  }
  const auto type = static_cast<FrameType>(f.type);
  if (block_stream_ != 0 && (type != FrameType::kContinuation || f.stream_id != block_stream_)) {
    return ConnectionError(ErrorCode::kProtocolError,
                           absl::StrCat("expected CONTINUATION for stream ", block_stream_));
  }
  if (!settings_seen_ && (type != FrameType::kSettings || f.has(kFlagAck))) {
    return ConnectionError(ErrorCode::kProtocolError,
                           "the peer's first frame must be SETTINGS");
  }
  switch (type) {
    case FrameType::kData: {
      if (f.stream_id == 0) return ConnectionError(ErrorCode::kProtocolError, "DATA on stream 0");
      conn_recv_window_ -= f.length;
      if (conn_recv_window_ < 0) {
        return ConnectionError(ErrorCode::kFlowControlError,
                               "DATA beyond the connection's flow-control window");
      }
      data_left_ = f.length;
      data_padding_ = 0;
      data_pad_pending_ = f.has(kFlagPadded);
      data_stream_ = nullptr;
      data_precredited_ = false;
      if (data_pad_pending_ && f.length == 0) {
        return ConnectionError(ErrorCode::kFrameSizeError, "padded DATA without a pad length");
      }
      Stream* s = Find(f.stream_id);
      if (s == nullptr) {
        if (IsIdle(f.stream_id)) {
          return ConnectionError(ErrorCode::kProtocolError, "DATA on an idle stream");
        }
        CreditConnection(f.length);  // discarded, so consumed at once
        data_precredited_ = true;
        if (!RecentlyReset(f.stream_id)) {
          absl::Status st = StreamError(f.stream_id, ErrorCode::kStreamClosed);
          if (!st.ok()) return st;
        }
        absl::Status st = Useless();
        if (!st.ok()) return st;
      } else if (s->remote_closed) {
        CreditConnection(f.length);
        data_precredited_ = true;
        absl::Status st = StreamError(f.stream_id, ErrorCode::kStreamClosed);
        if (!st.ok()) return st;
      } else if (role_ == Role::kClient && !s->final_response) {
        // DATA before the final response's HEADERS: malformed (RFC 9113 8.1).
        CreditConnection(f.length);
        data_precredited_ = true;
        absl::Status st = StreamError(f.stream_id, ErrorCode::kProtocolError);
        if (!st.ok()) return st;
      } else {
        s->recv_window -= f.length;
        if (s->recv_window < 0) {
          CreditConnection(f.length);
          data_precredited_ = true;
          absl::Status st = StreamError(f.stream_id, ErrorCode::kFlowControlError);
          if (!st.ok()) return st;
        } else {
          data_stream_ = s;
        }
      }
      in_state_ = InState::kData;
      if (!data_pad_pending_ && f.length == 0) {
        in_state_ = InState::kHeader;
        absl::Span<const uint8_t> none;
        return OnDataBytes(none);
      }
      return absl::OkStatus();
    }
    case FrameType::kHeaders:
      if (f.stream_id == 0) return ConnectionError(ErrorCode::kProtocolError, "HEADERS on stream 0");
      break;
    case FrameType::kPriority:
      if (f.stream_id == 0) return ConnectionError(ErrorCode::kProtocolError, "PRIORITY on stream 0");
      break;
    case FrameType::kRstStream:
      if (f.stream_id == 0) {
        return ConnectionError(ErrorCode::kProtocolError, "RST_STREAM on stream 0");
      }
      if (f.length != 4) {
        return ConnectionError(ErrorCode::kFrameSizeError, "RST_STREAM length is not 4");
      }
      break;
    case FrameType::kSettings:
      if (f.stream_id != 0) {
        return ConnectionError(ErrorCode::kProtocolError, "SETTINGS on a stream");
      }
      if (f.has(kFlagAck) && f.length != 0) {
        return ConnectionError(ErrorCode::kFrameSizeError, "SETTINGS ACK with a payload");
      }
      if (f.length % 6 != 0) {
        return ConnectionError(ErrorCode::kFrameSizeError,
                               "SETTINGS length is not a multiple of 6");
      }
      if (f.length / 6 > kMaxSettingsEntries) {
        return ConnectionError(ErrorCode::kEnhanceYourCalm,
                               absl::StrCat("SETTINGS with more than ", kMaxSettingsEntries,
                                            " parameters"));
      }
      break;
    case FrameType::kPushPromise:
      return ConnectionError(ErrorCode::kProtocolError,
                             role_ == Role::kServer ? "PUSH_PROMISE from a client"
                                                    : "PUSH_PROMISE while push is disabled");
    case FrameType::kPing:
      if (f.stream_id != 0) return ConnectionError(ErrorCode::kProtocolError, "PING on a stream");
      if (f.length != 8) return ConnectionError(ErrorCode::kFrameSizeError, "PING length is not 8");
      break;
    case FrameType::kGoaway:
      if (f.stream_id != 0) return ConnectionError(ErrorCode::kProtocolError, "GOAWAY on a stream");
      if (f.length < 8) {
        return ConnectionError(ErrorCode::kFrameSizeError, "GOAWAY shorter than 8 bytes");
      }
      break;
    case FrameType::kWindowUpdate:
      if (f.length != 4) {
        return ConnectionError(ErrorCode::kFrameSizeError, "WINDOW_UPDATE length is not 4");
      }
      break;
    case FrameType::kContinuation:
      if (block_stream_ == 0) {
        return ConnectionError(ErrorCode::kProtocolError, "CONTINUATION without a header block");
      }
      break;
    default: {
      // Unknown types are ignored (RFC 9113 4.1, 5.5).
      absl::Status st = Useless();
      if (!st.ok()) return st;
      data_left_ = f.length;
      in_state_ = f.length > 0 ? InState::kSkip : InState::kHeader;
      return absl::OkStatus();
    }
  }
  if (f.length == 0) {
    in_state_ = InState::kHeader;
    return OnFramePayload({});
  }
  in_state_ = InState::kPayload;
  return absl::OkStatus();
}

absl::Status Session::OnEmptyData() {
  // A DATA frame without content: its only effect is its flag.
  if (!frame_.has(kFlagEndStream)) return Useless();
  Stream* s = data_stream_;
  if (s == nullptr) return absl::OkStatus();
  // content-length short: malformed (RFC 9113 8.1.1), and the handler must
  // not see the message end first.
  if (s->content_left > 0) return StreamError(s->id, ErrorCode::kProtocolError);
  handler_->OnData(s->id, s->data, {}, true);
  if (!status_.ok()) return status_;
  if (data_stream_ == s) return EndRemote(s);
  return absl::OkStatus();
}

absl::Status Session::OnDataBytes(absl::Span<const uint8_t>& in) {
  if (data_pad_pending_) {
    if (in.empty()) return absl::OkStatus();
    const uint8_t pad = in[0];
    in.remove_prefix(1);
    --data_left_;
    data_pad_pending_ = false;
    if (pad > data_left_) {
      return ConnectionError(ErrorCode::kProtocolError, "DATA padding exceeds the payload");
    }
    data_padding_ = pad;
    if (data_stream_ != nullptr) {
      // Padding and its length byte are consumed at once.
      CreditConnection(pad + 1u);
      CreditStream(data_stream_, pad + 1u);
    }
    if (data_left_ == data_padding_) {
      in_state_ = data_left_ > 0 ? InState::kSkip : InState::kHeader;
      return OnEmptyData();
    }
  }
  if (data_left_ == 0) {
    in_state_ = InState::kHeader;
    return OnEmptyData();
  }
  const uint32_t content = data_left_ - data_padding_;
  const size_t n = std::min<size_t>(in.size(), content);
  if (n == 0) return absl::OkStatus();
  absl::Span<const uint8_t> piece = in.first(n);
  in.remove_prefix(n);
  data_left_ -= static_cast<uint32_t>(n);
  const bool last = data_left_ == data_padding_;
  if (last) in_state_ = data_padding_ > 0 ? InState::kSkip : InState::kHeader;
  Stream* s = data_stream_;
  if (s == nullptr) {
    // Discarded: a frame refused at its header was credited whole then; the
    // rest of a frame whose stream closed meanwhile is credited as it comes.
    if (!data_precredited_) CreditConnection(n);
    return absl::OkStatus();
  }
  useless_frames_ = 0;
  const bool end = last && frame_.has(kFlagEndStream);
  if (s->content_left >= 0) {
    if (n > static_cast<uint64_t>(s->content_left) ||
        (end && s->content_left != static_cast<int64_t>(n))) {
      CreditConnection(n);
      return StreamError(s->id, ErrorCode::kProtocolError);  // content-length mismatch
    }
    s->content_left -= static_cast<int64_t>(n);
  }
  if (!auto_window_update_) s->recv_unconsumed += static_cast<uint32_t>(n);
  handler_->OnData(s->id, s->data, piece, end);
  if (!status_.ok()) return status_;
  // The handler may have closed the stream; its bytes still count for the
  // connection.
  const bool alive = data_stream_ == s;
  if (auto_window_update_) {
    CreditConnection(n);
    if (alive) CreditStream(s, n);
  }
  if (alive && end) return EndRemote(s);
  return absl::OkStatus();
}

absl::Status Session::EndRemote(Stream* s) {
  s->remote_closed = true;
  if (data_stream_ == s) data_stream_ = nullptr;
  if (s->content_left > 0) return StreamError(s->id, ErrorCode::kProtocolError);
  if (s->local_closed) CloseStream(s, ErrorCode::kNoError, CloseCause::kCompleted);
  return absl::OkStatus();
}

absl::Status Session::OnFramePayload(absl::Span<const uint8_t> payload) {
  switch (static_cast<FrameType>(frame_.type)) {
    case FrameType::kHeaders:
      return OnHeadersFrame(payload);
    case FrameType::kContinuation:
      return OnContinuationFrame(payload);
    case FrameType::kPriority:
      return OnPriorityFrame(payload);
    case FrameType::kRstStream:
      return OnRstStreamFrame(payload);
    case FrameType::kSettings:
      return OnSettingsFrame(payload);
    case FrameType::kPing:
      return OnPingFrame(payload);
    case FrameType::kGoaway:
      return OnGoawayFrame(payload);
    case FrameType::kWindowUpdate:
      return OnWindowUpdateFrame(payload);
    default:
      return absl::OkStatus();
  }
}

absl::Status Session::OnHeadersFrame(absl::Span<const uint8_t> payload) {
  size_t pos = 0, pad = 0;
  uint8_t flags = frame_.flags & (kFlagEndStream | kFlagEndHeaders);
  if (frame_.has(kFlagPadded)) {
    if (payload.empty()) {
      return ConnectionError(ErrorCode::kFrameSizeError, "padded HEADERS without a pad length");
    }
    pad = payload[0];
    pos = 1;
  }
  if (frame_.has(kFlagPriority)) {
    if (payload.size() < pos + 5) {
      return ConnectionError(ErrorCode::kFrameSizeError, "HEADERS too short for its priority");
    }
    if ((ReadU32(payload.data() + pos) & kMaxStreamId) == frame_.stream_id) {
      flags |= kSelfDependency;
    }
    pos += 5;
  }
  if (pos + pad > payload.size()) {
    return ConnectionError(ErrorCode::kProtocolError, "HEADERS padding exceeds the payload");
  }
  absl::Span<const uint8_t> fragment = payload.subspan(pos, payload.size() - pos - pad);
  if (frame_.has(kFlagEndHeaders)) return OnHeaderBlock(frame_.stream_id, flags, fragment);
  // The block continues: keep it, sized to what arrived.
  block_.reset(new uint8_t[std::max<size_t>(fragment.size(), 1)]);
  if (!fragment.empty()) memcpy(block_.get(), fragment.data(), fragment.size());
  block_size_ = static_cast<uint32_t>(fragment.size());
  block_stream_ = frame_.stream_id;
  block_flags_ = flags;
  continuations_ = 0;
  return absl::OkStatus();
}

absl::Status Session::OnContinuationFrame(absl::Span<const uint8_t> payload) {
  if (++continuations_ > kMaxContinuationFrames) {
    return ConnectionError(ErrorCode::kEnhanceYourCalm,
                           absl::StrCat("header block in more than ", kMaxContinuationFrames,
                                        " CONTINUATION frames"));
  }
  if (block_size_ + payload.size() > kMaxHeaderBlockBytes) {
    return ConnectionError(ErrorCode::kEnhanceYourCalm,
                           absl::StrCat("header block exceeds ", kMaxHeaderBlockBytes, " bytes"));
  }
  if (!payload.empty()) {
    std::unique_ptr<uint8_t[]> grown(new uint8_t[block_size_ + payload.size()]);
    if (block_size_ > 0) memcpy(grown.get(), block_.get(), block_size_);
    memcpy(grown.get() + block_size_, payload.data(), payload.size());
    block_ = std::move(grown);
    block_size_ += static_cast<uint32_t>(payload.size());
  }
  if (!frame_.has(kFlagEndHeaders)) {
    return payload.empty() ? Useless() : absl::OkStatus();
  }
  std::unique_ptr<uint8_t[]> block = std::move(block_);
  const uint32_t size = block_size_;
  const uint32_t id = block_stream_;
  block_size_ = 0;
  block_stream_ = 0;
  return OnHeaderBlock(id, block_flags_, absl::MakeConstSpan(block.get(), size));
}

absl::Status Session::OnHeaderBlock(uint32_t id, uint8_t flags, absl::Span<const uint8_t> block) {
  // Decode first, whatever happens to the stream: the HPACK tables must stay
  // in sync with the peer's.
  HeaderArena& arena = ThreadArena();
  arena.Reset();
  absl::Status d = decoder_.Decode(block, options_->max_header_list_size,
                                   [&](absl::string_view name, absl::string_view value) {
                                     arena.Add(name, value);
                                     return absl::OkStatus();
                                   });
  bool oversized = false;
  if (!d.ok()) {
    if (d.code() != absl::StatusCode::kResourceExhausted) {
      return ConnectionError(ErrorCode::kCompressionError, d.message());
    }
    oversized = true;
    arena.Reset();
  }
  arena.Finish();
  const bool end_stream = (flags & kFlagEndStream) != 0;
  const bool self_dependent = (flags & kSelfDependency) != 0;
  useless_frames_ = 0;

  ReceivedHeaders h;
  h.oversized = oversized;
  Stream* s = Find(id);
  if (s == nullptr) {
    if (!IsIdle(id)) {
      if (RecentlyReset(id)) return Useless();  // late frame for a stream we reset
      // One of our own streams, closed here: the peer may have sent its
      // response before our RST_STREAM reached it, and we keep no state to
      // tell a late block from a violation. Ignored (it was decoded, so the
      // tables stay in sync) rather than ending every other stream.
      if (!PeerInitiated(id)) return Useless();
      // Below the peer's last stream the id may never have been opened (a
      // higher one closed it, RFC 9113 5.1.1): a stream id that does not
      // increase is PROTOCOL_ERROR. The last one was surely opened: closed.
      if (PeerInitiated(id) && id < last_peer_stream_id_) {
        return ConnectionError(ErrorCode::kProtocolError,
                               absl::StrCat("HEADERS on stream ", id, " below the last opened ",
                                            last_peer_stream_id_));
      }
      return ConnectionError(ErrorCode::kStreamClosed,
                             absl::StrCat("HEADERS on closed stream ", id));
    }
    if (!PeerInitiated(id)) {
      return ConnectionError(ErrorCode::kProtocolError,
                             absl::StrCat("HEADERS on idle stream ", id));
    }
    if (role_ == Role::kClient) {
      return ConnectionError(ErrorCode::kProtocolError, "the server opened a stream");
    }
    last_peer_stream_id_ = id;
    if (self_dependent) return StreamError(id, ErrorCode::kProtocolError);
    if (goaway_sent_) return StreamError(id, ErrorCode::kRefusedStream);
    if (open_peer_streams_ >= options_->max_concurrent_streams) {
      return StreamError(id, ErrorCode::kRefusedStream);
    }
    h.kind = HeaderBlockKind::kRequest;
    if (!oversized && !ValidateHeaderBlock(h.kind, arena.fields, &h.pseudo).ok()) {
      return StreamError(id, ErrorCode::kProtocolError);
    }
    if (end_stream && h.pseudo.content_length > 0) return StreamError(id, ErrorCode::kProtocolError);
    s = NewStream(id);
    s->remote_closed = end_stream;
    s->content_left = h.pseudo.content_length;
    h.fields = arena.fields;
    handler_->OnHeaders(id, nullptr, h, end_stream);
    return absl::OkStatus();
  }
  if (self_dependent) return StreamError(id, ErrorCode::kProtocolError);
  if (s->remote_closed) return StreamError(id, ErrorCode::kStreamClosed);
  h.kind = (role_ == Role::kClient && !s->final_response) ? HeaderBlockKind::kResponse
                                                           : HeaderBlockKind::kTrailers;
  if (h.kind == HeaderBlockKind::kTrailers && !end_stream) {
    return StreamError(id, ErrorCode::kProtocolError);  // a second block must end the stream
  }
  if (!oversized && !ValidateHeaderBlock(h.kind, arena.fields, &h.pseudo).ok()) {
    return StreamError(id, ErrorCode::kProtocolError);
  }
  if (h.kind == HeaderBlockKind::kResponse && !oversized) {
    if (h.pseudo.status[0] == '1') {
      // 101 has no meaning in HTTP/2; other 1xx precede the final response.
      if (end_stream || h.pseudo.status == "101") return StreamError(id, ErrorCode::kProtocolError);
      h.informational = true;
    } else {
      s->final_response = true;
      // Responses defined to have no content (RFC 9110 6.4.1: to HEAD, 204,
      // 304) may announce a length they do not carry (RFC 9113 8.1.1).
      const bool no_content =
          s->head_request || h.pseudo.status == "204" || h.pseudo.status == "304";
      s->content_left = no_content ? -1 : h.pseudo.content_length;
    }
  } else if (h.kind == HeaderBlockKind::kResponse) {
    s->final_response = true;
  }
  // A block that ends the message before content-length was seen is
  // malformed: refuse it before the handler sees the message end.
  if (end_stream && s->content_left > 0) return StreamError(id, ErrorCode::kProtocolError);
  h.fields = arena.fields;
  handler_->OnHeaders(id, s->data, h, end_stream);
  if (!status_.ok()) return status_;
  if (end_stream) {
    s = Find(id);
    if (s != nullptr) return EndRemote(s);
  }
  return absl::OkStatus();
}

absl::Status Session::OnPriorityFrame(absl::Span<const uint8_t> payload) {
  // Priority is parsed and ignored (RFC 9113 5.3.2): it costs no state.
  ErrorCode error = ErrorCode::kNoError;
  if (payload.size() != 5) {
    error = ErrorCode::kFrameSizeError;
  } else if ((ReadU32(payload.data()) & kMaxStreamId) == frame_.stream_id) {
    error = ErrorCode::kProtocolError;
  } else {
    return absl::OkStatus();
  }
  // RST_STREAM must not name an idle stream (RFC 9113 6.4): there the
  // stream error is a connection error.
  if (IsIdle(frame_.stream_id)) {
    return ConnectionError(error, error == ErrorCode::kFrameSizeError
                                      ? "PRIORITY length is not 5"
                                      : "PRIORITY: a stream depends on itself");
  }
  return StreamError(frame_.stream_id, error);
}

absl::Status Session::OnRstStreamFrame(absl::Span<const uint8_t> payload) {
  const auto code = static_cast<ErrorCode>(ReadU32(payload.data()));
  Stream* s = Find(frame_.stream_id);
  if (s == nullptr) {
    if (IsIdle(frame_.stream_id)) {
      return ConnectionError(ErrorCode::kProtocolError, "RST_STREAM on an idle stream");
    }
    return Useless();
  }
  if (role_ == Role::kServer) {
    absl::Status st = CheckPeerReset();
    if (!st.ok()) return st;
  }
  CloseStream(s, code,
              code == ErrorCode::kRefusedStream ? CloseCause::kRefused : CloseCause::kResetByPeer);
  return absl::OkStatus();
}

absl::Status Session::ApplyPeerSetting(uint16_t id, uint32_t value) {
  switch (static_cast<SettingId>(id)) {
    case SettingId::kHeaderTableSize:
      peer_.header_table_size = value;
      encoder_.SetPeerMaxTableSize(value);
      break;
    case SettingId::kEnablePush:
      if (value > 1) return ConnectionError(ErrorCode::kProtocolError, "SETTINGS_ENABLE_PUSH above 1");
      if (role_ == Role::kClient && value != 0) {
        return ConnectionError(ErrorCode::kProtocolError, "a server enabled push");
      }
      peer_.enable_push = value;
      break;
    case SettingId::kMaxConcurrentStreams:
      peer_.max_concurrent_streams = value;
      break;
    case SettingId::kInitialWindowSize: {
      if (value > kMaxWindowSize) {
        return ConnectionError(ErrorCode::kFlowControlError,
                               "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1");
      }
      const int64_t delta = int64_t{value} - peer_.initial_window_size;
      peer_.initial_window_size = value;
      for (Stream* s = streams_; s != nullptr; s = s->next) {
        s->send_window += delta;
        if (s->send_window > kMaxWindowSize) {
          return ConnectionError(ErrorCode::kFlowControlError,
                                 "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window");
        }
      }
      break;
    }
    case SettingId::kMaxFrameSize:
      if (value < kDefaultMaxFrameSize || value > kMaxMaxFrameSize) {
        return ConnectionError(ErrorCode::kProtocolError, "SETTINGS_MAX_FRAME_SIZE out of range");
      }
      peer_.max_frame_size = value;
      break;
    case SettingId::kMaxHeaderListSize:
      peer_.max_header_list_size = value;
      break;
    default:
      break;  // unknown settings are ignored
  }
  return absl::OkStatus();
}

absl::Status Session::OnSettingsFrame(absl::Span<const uint8_t> payload) {
  if (frame_.has(kFlagAck)) {
    if (!settings_ack_pending_) return Useless();
    settings_ack_pending_ = false;
    settings_deadline_ = absl::InfiniteFuture();
    // What we advertised is in force now.
    decoder_.SetMaxTableSize(std::min(options_->header_table_size, hpack::kMaxHeaderTableSize));
    const uint32_t advertised = options_->initial_window_size;
    if (advertised < stream_recv_initial_) {
      const int64_t delta = int64_t{advertised} - stream_recv_initial_;
      for (Stream* s = streams_; s != nullptr; s = s->next) s->recv_window += delta;
    }
    stream_recv_initial_ = advertised;
    return absl::OkStatus();
  }
  const bool first = !settings_seen_;
  settings_seen_ = true;
  const int64_t window_before = peer_.initial_window_size;
  for (size_t off = 0; off < payload.size(); off += 6) {
    const uint16_t id = static_cast<uint16_t>((payload[off] << 8) | payload[off + 1]);
    absl::Status st = ApplyPeerSetting(id, ReadU32(payload.data() + off + 2));
    if (!st.ok()) return st;
  }
  absl::Status st = ReplyControlFrame();
  if (!st.ok()) return st;
  WriteFrame(FrameType::kSettings, kFlagAck, 0, {});
  if (!first) {
    st = Useless();
    if (!st.ok()) return st;
  }
  handler_->OnPeerSettings(peer_);
  if (!status_.ok()) return status_;
  if (peer_.initial_window_size > window_before && conn_send_window_ > 0) {
    // Windows grew: blocked streams may go on.
    std::vector<uint32_t>& ids = NotifyScratch();
    ids.clear();
    for (Stream* s = streams_; s != nullptr; s = s->next) {
      if (s->blocked && s->send_window > 0) ids.push_back(s->id);
    }
    for (uint32_t id : ids) {
      Stream* s = Find(id);
      if (s == nullptr || !s->blocked) continue;
      s->blocked = false;
      handler_->OnWindowAvailable(id, s->data);
      if (!status_.ok()) return status_;
    }
  }
  return absl::OkStatus();
}

absl::Status Session::OnPingFrame(absl::Span<const uint8_t> payload) {
  const uint64_t value = (uint64_t{ReadU32(payload.data())} << 32) | ReadU32(payload.data() + 4);
  if (frame_.has(kFlagAck)) {
    handler_->OnPing(value, true);
    return absl::OkStatus();
  }
  absl::Status st = ReplyControlFrame();
  if (!st.ok()) return st;
  WriteFrame(FrameType::kPing, kFlagAck, 0, payload);
  handler_->OnPing(value, false);
  return absl::OkStatus();
}

absl::Status Session::OnGoawayFrame(absl::Span<const uint8_t> payload) {
  const uint32_t last = ReadU32(payload.data()) & kMaxStreamId;
  const auto code = static_cast<ErrorCode>(ReadU32(payload.data() + 4));
  const absl::string_view debug(reinterpret_cast<const char*>(payload.data() + 8),
                                payload.size() - 8);
  goaway_received_ = true;
  goaway_last_id_ = std::min(goaway_last_id_, last);
  // Our streams above the last id were never processed: refused.
  std::vector<uint32_t>& ids = NotifyScratch();
  ids.clear();
  for (Stream* s = streams_; s != nullptr; s = s->next) {
    if (!PeerInitiated(s->id) && s->id > goaway_last_id_) ids.push_back(s->id);
  }
  for (uint32_t id : ids) {
    if (Stream* s = Find(id)) CloseStream(s, ErrorCode::kRefusedStream, CloseCause::kRefused);
  }
  handler_->OnGoaway(last, code, debug);
  return absl::OkStatus();
}

absl::Status Session::OnWindowUpdateFrame(absl::Span<const uint8_t> payload) {
  const uint32_t inc = ReadU32(payload.data()) & 0x7fffffffu;
  if (frame_.stream_id == 0) {
    if (inc == 0) {
      return ConnectionError(ErrorCode::kProtocolError, "WINDOW_UPDATE with increment 0");
    }
    const bool was_blocked = conn_send_window_ <= 0;
    conn_send_window_ += inc;
    if (conn_send_window_ > kMaxWindowSize) {
      return ConnectionError(ErrorCode::kFlowControlError,
                             "connection window above 2^31-1");
    }
    if (conn_send_window_ <= 0) return absl::OkStatus();
    std::vector<uint32_t>& ids = NotifyScratch();
    ids.clear();
    for (Stream* s = streams_; s != nullptr; s = s->next) {
      if (s->blocked && s->send_window > 0) ids.push_back(s->id);
    }
    if (ids.empty() && !was_blocked) return Useless();
    for (uint32_t id : ids) {
      Stream* s = Find(id);
      if (s == nullptr || !s->blocked) continue;
      s->blocked = false;
      handler_->OnWindowAvailable(id, s->data);
      if (!status_.ok()) return status_;
    }
    return absl::OkStatus();
  }
  Stream* s = Find(frame_.stream_id);
  if (s == nullptr) {
    if (IsIdle(frame_.stream_id)) {
      return ConnectionError(ErrorCode::kProtocolError, "WINDOW_UPDATE on an idle stream");
    }
    return Useless();
  }
  if (inc == 0) return StreamError(frame_.stream_id, ErrorCode::kProtocolError);
  s->send_window += inc;
  if (s->send_window > kMaxWindowSize) {
    return StreamError(frame_.stream_id, ErrorCode::kFlowControlError);
  }
  if (s->blocked && s->send_window > 0 && conn_send_window_ > 0) {
    s->blocked = false;
    handler_->OnWindowAvailable(s->id, s->data);
  }
  return absl::OkStatus();
}

}  // namespace alts::http2
