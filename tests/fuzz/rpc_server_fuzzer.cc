// Fuzzes the RPC server as a client would reach it: a real rpc::Server
// (ServerConnection on an H2Transport, call dispatch, handlers, message
// reader, response writing) serves one end of a socketpair per input
// (Server::ServeConnectedSocket); the fuzzer writes the client preface and a
// SETTINGS frame, then the frame sequence the input describes, and reads
// what the server answers. The methods echo, stream, count, fail with a
// status, send messages larger than the windows, answer from a reactor task,
// hold the call, or are denied; their handlers check the event contract.
//
// Input layout:
//   byte 0   options: bit 0 the tight server (1 KiB messages, 4 KiB of
//            partial messages, 4 streams, small windows, strict keepalive,
//            5 ms idle limit) instead of the default one; bits 1-2 the
//            client's INITIAL_WINDOW_SIZE (65535, 0, 1000, 1 MiB); bit 3 a
//            1 MiB MAX_FRAME_SIZE; bit 4 HEADER_TABLE_SIZE 0; bit 5 Huffman
//            in the client's encoder; bit 6 the server's SETTINGS is not
//            acknowledged; bit 7 bytes go out after every operation
//   rest     operations (at most kMaxOps), one byte each, the low four bits
//            the kind, then the kind's own bytes: request HEADERS (gRPC
//            request headers from the project's HPACK encoder, sometimes
//            broken, split into CONTINUATIONs, padded), DATA with length-
//            prefixed messages (gzip-compressed when flagged; lengths agree
//            with the bytes unless the input says otherwise; within the
//            server's windows unless it says otherwise), RST_STREAM,
//            WINDOW_UPDATE, PING, SETTINGS, trailers, a raw frame, raw bytes,
//            a round trip (a PING the server must acknowledge, optionally
//            crediting the DATA received), GOAWAY, PRIORITY, half-close.
// Input that runs out reads as zeros.
//
// Invariants (abort on violation): handlers see OnMessage/OnHalfClose only
// before the call ends, OnWriteDone once per accepted Write, OnCancel only
// without Finish, OnDone last and once, and every Write answered before
// OnDone; what the server writes is HTTP/2 frames of the types a
// server sends, within the largest frame size announced, header blocks that
// decode, a grpc-status at the end of every gRPC response; after the client
// closes its side the server closes the connection (within kCloseWait), its
// open connection count and live calls return to 0, every handler is gone,
// and no read, write or storage buffer is held. A connection of the tight
// server stays within kTightConnectionBound at every round trip.
//
// RPC_SERVER_FUZZER_DEBUG=1 prints, per input, what the server answered on
// each stream (to check that seeds reach the handlers).

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/storage_pool.h"
#include "http2/frame.h"
#include "http2/hpack/decoder.h"
#include "http2/hpack/encoder.h"
#include "rpc/compression.h"
#include "rpc/server.h"

namespace {

using alts::http2::FrameType;
using alts::rpc::ServerCall;
using alts::rpc::ServerCallHandler;

// kMaxOps bounds the operations one input describes (time per input).
constexpr size_t kMaxOps = 48;
// kSyncWait bounds a round trip; one that times out ends round trips for
// the input (the server need not answer a session that failed).
constexpr absl::Duration kSyncWait = absl::Milliseconds(300);
// kCloseWait bounds how long the server may take to close its side once the
// client closed its own; longer is a hang.
constexpr absl::Duration kCloseWait = absl::Seconds(10);
// kTightMessage: the tight server's largest request message.
constexpr size_t kTightMessage = 1024;
// kTightConnectionBound: the most a connection of the tight server may
// hold at a round trip: its session (4 streams, a partial frame and header
// block, both HPACK tables), 4 KiB of partial messages, its calls and the
// output the socket did not take yet.
constexpr size_t kTightConnectionBound = 1 << 20;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "rpc_server_fuzzer: invariant broken: %s\n", what);
    std::abort();
  }
}

absl::Span<const uint8_t> Bytes(absl::string_view s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::atomic<int> g_live_handlers{0};

// CheckedHandler checks the handler event contract (server.h) and keeps
// the state the methods share.
class CheckedHandler : public ServerCallHandler {
 public:
  CheckedHandler(ServerCall* call, size_t max_message) : call_(call), max_message_(max_message) {
    g_live_handlers.fetch_add(1);
  }
  ~CheckedHandler() override {
    Check(done_, "handler deleted without OnDone");
    g_live_handlers.fetch_sub(1);
  }

  void OnMessage(absl::Span<const uint8_t> m) final {
    Check(!done_ && !half_closed_ && !cancelled_ && !finished_, "OnMessage after the end");
    Check(m.size() <= max_message_, "a message above the size limit");
    Message(m);
  }
  void OnHalfClose() final {
    Check(!done_ && !half_closed_ && !cancelled_, "OnHalfClose twice or after the end");
    half_closed_ = true;
    HalfClose();
  }
  void OnWriteDone(bool ok) final {
    Check(!done_ && writing_, "OnWriteDone without a write");
    writing_ = false;
    if (!ok) ended_ = true;
    WriteDone(ok);
  }
  void OnCancel() final {
    Check(!done_ && !cancelled_ && !finish_taken_, "OnCancel twice or after Finish");
    Check(call_->cancelled(), "OnCancel while not cancelled");
    cancelled_ = true;
  }
  void OnDone() final {
    Check(!done_, "OnDone twice");
    Check(!writing_, "a Write never answered by OnWriteDone");
    done_ = true;
  }

 protected:
  virtual void Message(absl::Span<const uint8_t> m) {}
  virtual void HalfClose() { Finish(absl::OkStatus()); }
  virtual void WriteDone(bool ok) {}

  // Write sends one message unless the call has ended.
  bool Write(absl::Span<const uint8_t> m, bool compress = false) {
    if (writing_ || finished_) return false;
    writing_ = true;  // OnWriteDone may come from inside Write
    absl::Status s = call_->Write(m, alts::rpc::WriteOptions{compress});
    if (s.ok()) return true;
    writing_ = false;
    Check(s.code() == absl::StatusCode::kCancelled, "Write refused other than for an ended call");
    return false;
  }
  void Finish(absl::Status status, alts::rpc::Metadata trailers = {}) {
    if (finished_) return;
    finished_ = true;
    // A Finish once the call has ended (a write answered !ok) is ignored.
    finish_taken_ = !ended_ && !call_->cancelled();
    call_->Finish(std::move(status), std::move(trailers));
  }

  ServerCall* const call_;
  const size_t max_message_;
  bool half_closed_ = false;
  bool writing_ = false;
  bool finished_ = false;
  bool finish_taken_ = false;  // Finish called while the call was live
  bool ended_ = false;         // a write was answered !ok: the call is over
  bool cancelled_ = false;
  bool done_ = false;
};

// Unary echoes the last request message (gzip when x-compress is sent).
class Unary final : public CheckedHandler {
 public:
  using CheckedHandler::CheckedHandler;
  void Message(absl::Span<const uint8_t> m) override { request_.assign(m.begin(), m.end()); }
  void HalfClose() override {
    const bool compress = call_->client_metadata().Get("x-compress").has_value();
    if (compress) call_->SetResponseCompression("gzip");
    (void)call_->AddInitialMetadata("x-echo", "1");
    if (!Write(absl::MakeConstSpan(request_), compress)) Finish(absl::OkStatus());
  }
  void WriteDone(bool ok) override {
    alts::rpc::Metadata t;
    t.Add("x-trailer", "done");
    Finish(absl::OkStatus(), std::move(t));
  }

 private:
  std::vector<uint8_t> request_;
};

// ServerStream answers a request [count, size/256, size%256] with count
// messages of that size (up to 64 KiB each: more than the default windows).
class ServerStream final : public CheckedHandler {
 public:
  using CheckedHandler::CheckedHandler;
  void Message(absl::Span<const uint8_t> m) override {
    left_ = m.empty() ? 1 : m[0] % 8;
    size_ = m.size() < 3 ? 10 : (size_t{m[1]} << 8 | m[2]);
    buf_.assign(size_, 'x');
    if (!half_closed_ && m.size() > 3 && m[3] == 's') Next();  // start before half-close
  }
  void HalfClose() override {
    if (!writing_) Next();
  }
  void WriteDone(bool ok) override {
    if (ok) Next();
  }

 private:
  void Next() {
    if (left_ == 0) {
      if (half_closed_) Finish(absl::OkStatus());
      return;
    }
    --left_;
    if (!Write(absl::MakeConstSpan(buf_))) Finish(absl::OkStatus());
  }
  int left_ = 0;
  size_t size_ = 0;
  std::vector<uint8_t> buf_;
};

// ClientStream answers the number of request bytes.
class ClientStream final : public CheckedHandler {
 public:
  using CheckedHandler::CheckedHandler;
  void Message(absl::Span<const uint8_t> m) override { total_ += m.size(); }
  void HalfClose() override {
    reply_ = std::to_string(total_);
    if (!Write(Bytes(reply_))) Finish(absl::OkStatus());
  }
  void WriteDone(bool ok) override { Finish(absl::OkStatus()); }

 private:
  size_t total_ = 0;
  std::string reply_;
};

// Bidi echoes every message, pausing reads while more than two wait.
class Bidi final : public CheckedHandler {
 public:
  using CheckedHandler::CheckedHandler;
  void Message(absl::Span<const uint8_t> m) override {
    queue_.emplace_back(m.begin(), m.end());
    if (queue_.size() > 2) call_->PauseReads();
    if (!writing_) (void)Write(absl::MakeConstSpan(queue_.front()));
  }
  void HalfClose() override {
    if (queue_.empty()) Finish(absl::OkStatus());
  }
  void WriteDone(bool ok) override {
    if (!queue_.empty()) queue_.erase(queue_.begin());
    if (queue_.size() <= 2) call_->ResumeReads();
    if (!ok) return;
    if (!queue_.empty()) {
      (void)Write(absl::MakeConstSpan(queue_.front()));
    } else if (half_closed_) {
      Finish(absl::OkStatus());
    }
  }

 private:
  std::vector<std::vector<uint8_t>> queue_;
};

// Fail ends the call with the status its first message names (code, then
// the message text), with trailing metadata, or INVALID_ARGUMENT at
// half-close without one.
class Fail final : public CheckedHandler {
 public:
  using CheckedHandler::CheckedHandler;
  void Message(absl::Span<const uint8_t> m) override {
    const int code = m.empty() ? 2 : 1 + m[0] % 16;
    std::string text(reinterpret_cast<const char*>(m.data()), m.size());
    if (!text.empty()) text.erase(0, 1);
    alts::rpc::Metadata t;
    t.Add("x-why", "fuzz");
    t.Add("x-raw-bin", text);
    if (!m.empty() && (m[0] & 0x80)) (void)call_->AddInitialMetadata("Bad Key", "v");
    Finish(absl::Status(static_cast<absl::StatusCode>(code), text), std::move(t));
  }
  void HalfClose() override { Finish(absl::InvalidArgumentError("no request\r\n100%")); }
};

// Big answers one message of 300 KiB (beyond the default windows) or, if
// the request's first byte has bit 1 set, 1 MiB (beyond what the socket
// takes at once plus the transport's high-water mark, so the call waits for
// the transport); compressed if that byte is odd.
class Big final : public CheckedHandler {
 public:
  using CheckedHandler::CheckedHandler;
  void Message(absl::Span<const uint8_t> m) override {
    compress_ = !m.empty() && (m[0] & 1);
    huge_ = !m.empty() && (m[0] & 2);
  }
  void HalfClose() override {
    static const std::vector<uint8_t>* body = [] {
      auto* b = new std::vector<uint8_t>(1 << 20);
      uint32_t x = 1;
      for (uint8_t& c : *b) c = static_cast<uint8_t>((x = x * 1103515245 + 12345) >> 16);
      return b;
    }();
    if (compress_) call_->SetResponseCompression("gzip");
    const size_t n = huge_ ? body->size() : 300 * 1024;
    if (!Write(absl::MakeConstSpan(body->data(), n), compress_)) Finish(absl::OkStatus());
  }
  void WriteDone(bool ok) override { Finish(absl::OkStatus()); }

 private:
  bool compress_ = false;
  bool huge_ = false;
};

// Async answers from reactor tasks (RunOnReactor): each message is echoed
// from a task, the call finished from another after half-close. A task
// that finds the call gone does not run.
class Async final : public CheckedHandler {
 public:
  using CheckedHandler::CheckedHandler;
  void Message(absl::Span<const uint8_t> m) override {
    last_.assign(m.begin(), m.end());
    call_->RunOnReactor([this] {
      Check(!done_, "a reactor task ran after OnDone");
      if (!cancelled_) (void)Write(absl::MakeConstSpan(last_));
    });
  }
  void HalfClose() override {
    call_->RunOnReactor([this] {
      Check(!done_, "a reactor task ran after OnDone");
      if (!writing_) Finish(absl::OkStatus());
      finish_after_write_ = true;
    });
  }
  void WriteDone(bool ok) override {
    if (ok && finish_after_write_) Finish(absl::OkStatus());
  }

 private:
  std::vector<uint8_t> last_;
  bool finish_after_write_ = false;
};

// Hold never answers: the call ends by reset, deadline or the connection.
class Hold final : public CheckedHandler {
 public:
  using CheckedHandler::CheckedHandler;
  void HalfClose() override {}
};

// The paths a request may name (the last ones are not served normally).
constexpr absl::string_view kPaths[] = {
    "/f.S/Unary", "/f.S/ServerStream", "/f.S/ClientStream", "/f.S/Bidi", "/f.S/Fail", "/f.S/Big",
    "/f.S/Async", "/f.S/Hold",         "/f.S/Denied",       "/f.S/Null", "/f.S/Nope", "",
    "f.S/Unary",
};
constexpr absl::string_view kTimeouts[] = {"1n", "1m",   "20m",       "5S",
                                           "1H", "junk", "99999999H", "0m"};

// World is the process's reactor, pools and the two servers.
struct World {
  std::unique_ptr<alts::ReactorGroup> group;
  std::unique_ptr<alts::BufferPool> read_pool, write_pool;
  std::unique_ptr<alts::StoragePool> storage;
  alts::ConnectionResources resources;
  std::unique_ptr<alts::rpc::Server> servers[2];
};

template <typename H>
alts::rpc::HandlerFactory Factory(size_t max_message) {
  return [max_message](ServerCall* c) { return std::make_unique<H>(c, max_message); };
}

std::unique_ptr<alts::rpc::Server> MakeServer(World& w, bool tight) {
  alts::rpc::ServerOptions o;
  o.group = w.group.get();
  o.resources = &w.resources;
  size_t max = alts::rpc::kDefaultMaxReceiveMessageSize;
  if (tight) {
    max = kTightMessage;
    o.max_receive_message_size = kTightMessage;
    o.max_partial_message_bytes_per_connection = 4096;
    o.http2.max_concurrent_streams = 4;
    o.http2.initial_window_size = 4096;
    o.http2.max_header_list_size = 2048;
    o.max_connection_idle = absl::Milliseconds(5);
  } else {
    o.keepalive_min_time = absl::ZeroDuration();
    o.keepalive_permit_without_calls = true;
  }
  auto server = std::move(*alts::rpc::Server::Create(std::move(o)));
  Check(server->RegisterMethod("/f.S/Unary", Factory<Unary>(max)).ok(), "register");
  Check(server->RegisterMethod("/f.S/ServerStream", Factory<ServerStream>(max)).ok(), "register");
  Check(server->RegisterMethod("/f.S/ClientStream", Factory<ClientStream>(max)).ok(), "register");
  Check(server->RegisterMethod("/f.S/Bidi", Factory<Bidi>(max)).ok(), "register");
  Check(server->RegisterMethod("/f.S/Fail", Factory<Fail>(max)).ok(), "register");
  Check(server->RegisterMethod("/f.S/Big", Factory<Big>(max)).ok(), "register");
  Check(server->RegisterMethod("/f.S/Async", Factory<Async>(max)).ok(), "register");
  Check(server->RegisterMethod("/f.S/Hold", Factory<Hold>(max)).ok(), "register");
  alts::rpc::MethodOptions denied;
  denied.authorize = [](const alts::rpc::CallInfo&) {
    return absl::PermissionDeniedError("not you");
  };
  Check(server->RegisterMethod("/f.S/Denied", Factory<Unary>(max), denied).ok(), "register");
  Check(server
            ->RegisterMethod("/f.S/Null",
                             [](ServerCall*) { return std::unique_ptr<ServerCallHandler>(); })
            .ok(),
        "register");
  return server;
}

World& TheWorld() {
  static World* w = [] {
    auto* w = new World;
    alts::ReactorGroupOptions go;
    go.threads = 1;
    w->group = std::move(*alts::ReactorGroup::Create(std::move(go)));
    w->read_pool = std::move(*alts::BufferPool::Create());
    w->write_pool = std::move(*alts::BufferPool::Create());
    w->storage = std::move(*alts::StoragePool::Create());
    w->resources.read_pool = w->read_pool.get();
    w->resources.write_pool = w->write_pool.get();
    w->resources.storage = w->storage.get();
    w->servers[0] = MakeServer(*w, false);
    w->servers[1] = MakeServer(*w, true);
    return w;
  }();
  return *w;
}

// Input reads the fuzz input; past its end it reads zeros.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() << 8 | U8()); }
  uint32_t U32() { return uint32_t{U16()} << 16 | U16(); }
  // Take returns up to `n` bytes of input.
  std::string Take(size_t n) {
    n = std::min(n, size_ - std::min(pos_, size_));
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

void PutU32(std::string* out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 4);
}

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream_id, absl::string_view payload) {
  std::string f(alts::http2::kFrameHeaderSize, '\0');
  const uint32_t n = static_cast<uint32_t>(payload.size());
  f[0] = static_cast<char>(n >> 16);
  f[1] = static_cast<char>(n >> 8);
  f[2] = static_cast<char>(n);
  f[3] = static_cast<char>(type);
  f[4] = static_cast<char>(flags);
  f.resize(5);
  PutU32(&f, stream_id);
  f.append(payload.data(), payload.size());
  return f;
}
std::string Frame(FrameType type, uint8_t flags, uint32_t stream_id, absl::string_view payload) {
  return Frame(static_cast<uint8_t>(type), flags, stream_id, payload);
}

std::string Setting(alts::http2::SettingId id, uint32_t value) {
  std::string s;
  s.push_back(static_cast<char>(static_cast<uint16_t>(id) >> 8));
  s.push_back(static_cast<char>(static_cast<uint16_t>(id)));
  PutU32(&s, value);
  return s;
}

// StreamState is what the client knows of one stream's response.
struct StreamState {
  int64_t send_window = 0;  // the server's window for our DATA
  uint64_t data_received = 0;
  int blocks = 0;
  bool grpc_response = false;  // first block: :status 200, application/grpc
  bool grpc_status = false;    // a block carried grpc-status
  bool ended = false;
};

// Client is the fuzzer's end of the socketpair: an HTTP/2 client writing
// what the input says and checking what the server writes.
class Client {
 public:
  Client(int fd, uint8_t config) : fd_(fd), encoder_(alts::hpack::kDefaultHeaderTableSize) {
    encoder_.SetUseHuffman((config & 0x20) != 0);
  }
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }

  void Send(const std::string& bytes) { out_ += bytes; }

  // Pump writes what is queued and reads what arrived, waiting up to
  // `wait_ms` for either; false once the server has closed its side.
  bool Pump(int wait_ms) {
    if (eof_) return false;
    pollfd p{fd_, POLLIN, 0};
    if (out_off_ < out_.size() && !write_failed_) p.events |= POLLOUT;
    if (poll(&p, 1, wait_ms) <= 0) return true;
    if (p.revents & POLLOUT) {
      ssize_t n = send(fd_, out_.data() + out_off_, out_.size() - out_off_, MSG_NOSIGNAL);
      if (n > 0) {
        out_off_ += static_cast<size_t>(n);
        if (out_off_ == out_.size()) {
          out_.clear();
          out_off_ = 0;
        }
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        write_failed_ = true;  // the server closed: what is left is dropped
      }
    }
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[65536];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        eof_ = true;
        return false;
      }
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
        Parse();
      }
    }
    return true;
  }

  // Flush writes everything queued (reading meanwhile), unless the server
  // closes first.
  void Flush() {
    const absl::Time deadline = absl::Now() + kCloseWait;
    while (out_off_ < out_.size() && !write_failed_ && Pump(100)) {
      Check(absl::Now() < deadline, "the server stopped reading");
    }
  }

  // Sync sends a PING and reads until the server acknowledges it; a round
  // trip that fails ends round trips for this connection. With `credit`,
  // the DATA received so far is credited back first, as a reading client
  // would.
  void Sync(bool credit) {
    if (sync_broken_ || eof_ || write_failed_ || failed_goaway_) return;
    if (credit) Credit();
    const uint64_t tag = ++ping_tag_;
    std::string payload;
    PutU32(&payload, static_cast<uint32_t>(tag >> 32));
    PutU32(&payload, static_cast<uint32_t>(tag));
    Send(Frame(FrameType::kPing, 0, 0, payload));
    Flush();
    const absl::Time deadline = absl::Now() + kSyncWait;
    while (acked_ping_ != tag && !failed_goaway_ && Pump(20)) {
      if (absl::Now() > deadline) {
        sync_broken_ = true;
        return;
      }
    }
  }

  // Credit sends WINDOW_UPDATEs for the DATA received and not credited.
  void Credit() {
    if (uncredited_ > 0) {
      std::string inc;
      PutU32(&inc, static_cast<uint32_t>(uncredited_));
      Send(Frame(FrameType::kWindowUpdate, 0, 0, inc));
      uncredited_ = 0;
    }
    for (auto& [id, n] : stream_uncredited_) {
      if (n == 0) continue;
      std::string inc;
      PutU32(&inc, static_cast<uint32_t>(n));
      Send(Frame(FrameType::kWindowUpdate, 0, id, inc));
      n = 0;
    }
  }

  // CloseAndDrain closes the write side and reads until the server closes.
  void CloseAndDrain() {
    Flush();
    shutdown(fd_, SHUT_WR);
    const absl::Time deadline = absl::Now() + kCloseWait;
    while (Pump(100)) {
      Check(absl::Now() < deadline, "the server did not close after the client did");
    }
  }

  // WaitSettings reads until the server's SETTINGS is in (its windows are
  // known before any DATA is sent), the server closes, or kSyncWait.
  void WaitSettings() {
    Flush();
    const absl::Time deadline = absl::Now() + kSyncWait;
    while (settings_seen_ == 0 && Pump(20) && absl::Now() < deadline) {
    }
  }

  // Request encodes `fields` with the client's encoder.
  std::string Encode(const std::vector<alts::hpack::HeaderField>& fields) {
    std::string block(encoder_.MaxEncodedSize(fields), '\0');
    block.resize(encoder_.Encode(
        fields, absl::MakeSpan(reinterpret_cast<uint8_t*>(block.data()), block.size())));
    return block;
  }

  // Window bookkeeping for our DATA.
  int64_t conn_window() const { return conn_window_; }
  int64_t StreamWindow(uint32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? stream_initial_ : it->second.send_window;
  }
  void Opened(uint32_t id) {
    if (streams_.count(id) == 0) streams_[id].send_window = stream_initial_;
    highest_opened_ = std::max(highest_opened_, id);
  }
  void Sent(uint32_t id, size_t n) {
    conn_window_ -= static_cast<int64_t>(n);
    streams_[id].send_window -= static_cast<int64_t>(n);
  }
  void AnnounceMaxFrame(uint32_t n) { max_frame_announced_ = std::max(max_frame_announced_, n); }
  void set_frames_strict(bool strict) { frames_strict_ = frames_strict_ && strict; }
  bool closed() const { return eof_ || write_failed_; }
  // Summary describes what the server answered, for RPC_SERVER_FUZZER_DEBUG.
  std::string Summary() const {
    std::string s;
    for (const auto& [id, st] : streams_) {
      s += " stream " + std::to_string(id) + ": " + std::to_string(st.blocks) + " blocks, " +
           std::to_string(st.data_received) + " data bytes" + (st.ended ? ", ended" : "") +
           (st.grpc_status ? ", grpc-status" : "") + ";";
    }
    return s + (failed_goaway_ ? " GOAWAY with an error" : "");
  }
  bool failed_goaway() const { return failed_goaway_; }

 private:
  void Parse() {
    size_t off = 0;
    while (in_.size() - off >= alts::http2::kFrameHeaderSize) {
      const auto* p = reinterpret_cast<const uint8_t*>(in_.data()) + off;
      const alts::http2::FrameHeader h = alts::http2::ParseFrameHeader(p);
      Check((p[5] & 0x80) == 0, "the server set a reserved stream-id bit");
      if (frames_strict_) Check(h.length <= max_frame_announced_, "a frame above MAX_FRAME_SIZE");
      if (in_.size() - off - alts::http2::kFrameHeaderSize < h.length) break;
      OnFrame(h, absl::string_view(in_).substr(off + alts::http2::kFrameHeaderSize, h.length));
      off += alts::http2::kFrameHeaderSize + h.length;
    }
    in_.erase(0, off);
  }

  void OnFrame(const alts::http2::FrameHeader& h, absl::string_view payload) {
    const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
    const auto type = static_cast<FrameType>(h.type);
    if (!block_.empty() || in_block_) {
      Check(type == FrameType::kContinuation && h.stream_id == block_stream_,
            "a frame inside a header block");
    }
    switch (type) {
      case FrameType::kSettings:
        Check(h.stream_id == 0, "SETTINGS on a stream");
        Check(h.has(alts::http2::kFlagAck) ? h.length == 0 : h.length % 6 == 0,
              "a malformed SETTINGS");
        for (size_t i = 0; !h.has(alts::http2::kFlagAck) && i + 6 <= payload.size(); i += 6) {
          const uint16_t id = static_cast<uint16_t>(p[i] << 8 | p[i + 1]);
          const uint32_t v = alts::http2::ReadU32(p + i + 2);
          if (id == static_cast<uint16_t>(alts::http2::SettingId::kInitialWindowSize)) {
            for (auto& [sid, st] : streams_) st.send_window += int64_t{v} - stream_initial_;
            stream_initial_ = v;
          }
        }
        if (!h.has(alts::http2::kFlagAck)) settings_seen_++;
        break;
      case FrameType::kPing:
        Check(h.stream_id == 0 && h.length == 8, "a malformed PING");
        if (h.has(alts::http2::kFlagAck)) {
          acked_ping_ = uint64_t{alts::http2::ReadU32(p)} << 32 | alts::http2::ReadU32(p + 4);
        }
        break;
      case FrameType::kGoaway:
        Check(h.stream_id == 0 && h.length >= 8, "a malformed GOAWAY");
        if (alts::http2::ReadU32(p + 4) != 0) failed_goaway_ = true;
        break;
      case FrameType::kWindowUpdate: {
        Check(h.length == 4, "a malformed WINDOW_UPDATE");
        const uint32_t inc = alts::http2::ReadU32(p) & 0x7fffffff;
        Check(inc != 0, "a WINDOW_UPDATE of 0");
        if (h.stream_id == 0) {
          conn_window_ += inc;
        } else {
          streams_[h.stream_id].send_window += inc;
        }
        break;
      }
      case FrameType::kRstStream:
        Check(h.stream_id != 0 && h.length == 4, "a malformed RST_STREAM");
        if (frames_strict_) {
          Check(h.stream_id % 2 == 1 && h.stream_id <= highest_opened_,
                "RST_STREAM for an idle stream");
        }
        break;
      case FrameType::kData: {
        Check(h.stream_id % 2 == 1, "DATA on a stream the client did not open");
        StreamState& st = streams_[h.stream_id];
        Check(!st.ended, "DATA after END_STREAM");
        Check(st.blocks > 0, "DATA before the response headers");
        st.data_received += h.length;
        uncredited_ += h.length;
        stream_uncredited_[h.stream_id] += h.length;
        if (h.has(alts::http2::kFlagEndStream)) End(h.stream_id);
        break;
      }
      case FrameType::kHeaders:
        Check(h.stream_id % 2 == 1, "HEADERS on a stream the client did not open");
        Check(!streams_[h.stream_id].ended, "HEADERS after END_STREAM");
        Check(!h.has(alts::http2::kFlagPadded) && !h.has(alts::http2::kFlagPriority),
              "the server padded or prioritized HEADERS");
        block_.assign(payload.data(), payload.size());
        block_stream_ = h.stream_id;
        block_end_stream_ = h.has(alts::http2::kFlagEndStream);
        in_block_ = true;
        if (h.has(alts::http2::kFlagEndHeaders)) EndBlock();
        break;
      case FrameType::kContinuation:
        Check(in_block_, "CONTINUATION outside a header block");
        block_.append(payload.data(), payload.size());
        if (h.has(alts::http2::kFlagEndHeaders)) EndBlock();
        break;
      case FrameType::kPriority:
      case FrameType::kPushPromise:
        Check(false, "the server sent PRIORITY or PUSH_PROMISE");
        break;
      default:
        Check(false, "the server sent a frame of an unknown type");
    }
  }

  void EndBlock() {
    in_block_ = false;
    StreamState& st = streams_[block_stream_];
    bool status_200 = false, grpc_type = false, grpc_status = false;
    absl::Status s = decoder_.Decode(
        Bytes(block_), 1 << 20, [&](absl::string_view name, absl::string_view value) {
          if (name == ":status" && value == "200") status_200 = true;
          if (name == "content-type" && absl::StartsWith(value, "application/grpc")) {
            grpc_type = true;
          }
          if (name == "grpc-status") {
            int code = -1;
            Check(absl::SimpleAtoi(value, &code) && code >= 0 && code <= 16,
                  "a grpc-status out of range");
            grpc_status = true;
          }
          return absl::OkStatus();
        });
    Check(s.ok(), "a server header block that does not decode");
    if (st.blocks == 0) st.grpc_response = status_200 && grpc_type;
    st.grpc_status = st.grpc_status || grpc_status;
    ++st.blocks;
    block_.clear();
    if (block_end_stream_) End(block_stream_);
  }

  void End(uint32_t id) {
    StreamState& st = streams_[id];
    st.ended = true;
    if (st.grpc_response) Check(st.grpc_status, "a gRPC response ended without grpc-status");
  }

  int fd_;
  alts::hpack::Encoder encoder_;
  alts::hpack::Decoder decoder_{alts::hpack::kMaxHeaderTableSize};
  std::string out_;
  size_t out_off_ = 0;
  std::string in_;
  bool eof_ = false;
  bool write_failed_ = false;
  bool sync_broken_ = false;
  bool failed_goaway_ = false;
  bool frames_strict_ = true;
  uint32_t max_frame_announced_ = alts::http2::kDefaultMaxFrameSize;
  uint64_t ping_tag_ = 0;
  uint64_t acked_ping_ = 0;
  int settings_seen_ = 0;
  // The server's windows for our DATA.
  int64_t conn_window_ = alts::http2::kDefaultInitialWindowSize;
  int64_t stream_initial_ = alts::http2::kDefaultInitialWindowSize;
  std::map<uint32_t, StreamState> streams_;
  uint32_t highest_opened_ = 0;
  // DATA received and not yet credited back.
  uint64_t uncredited_ = 0;
  std::map<uint32_t, uint64_t> stream_uncredited_;
  // A header block being received.
  std::string block_;
  uint32_t block_stream_ = 0;
  bool block_end_stream_ = false;
  bool in_block_ = false;
};

// Driver turns the operations of one input into frames.
class Driver {
 public:
  // `tight` is the server when it is the tight one (its connection's heap
  // is checked at every round trip), else nullptr.
  Driver(Input& in, Client& client, alts::rpc::Server* tight)
      : in_(in), c_(client), tight_(tight) {}

  // Stream picks a stream: a new one, a recent one, or any id.
  uint32_t Stream(uint8_t b) {
    switch (b % 4) {
      case 0:
        return NewStream();
      case 1:
      case 2:
        if (opened_.empty()) return NewStream();
        return opened_[opened_.size() - 1 - (b >> 2) % opened_.size()];
      default:
        return b >> 2;  // 0..63: idle, even, zero or closed
    }
  }
  uint32_t NewStream() {
    next_id_ += 2;
    opened_.push_back(next_id_);
    return next_id_;
  }

  void Headers() {
    const uint32_t id = Stream(in_.U8());
    const uint8_t path = in_.U8();
    const uint8_t f = in_.U8();
    const uint8_t g = in_.U8();
    std::vector<alts::hpack::HeaderField> fields;
    fields.push_back({":method", (g & 0x07) == 7 ? "GET" : "POST"});
    fields.push_back({":scheme", "http"});
    fields.push_back({":path", kPaths[path % std::size(kPaths)]});
    if ((g & 0x18) != 0x18) fields.push_back({":authority", "fuzz.test"});
    fields.push_back({"te", "trailers"});
    if ((g & 0x60) != 0x60) {
      fields.push_back(
          {"content-type", (g & 0x60) == 0x40 ? "application/grpc+proto" : "application/grpc"});
    } else {
      fields.push_back({"content-type", "text/plain"});
    }
    if (f & 0x02) fields.push_back({"grpc-timeout", kTimeouts[(g >> 5) % std::size(kTimeouts)]});
    if (f & 0x04) fields.push_back({"grpc-encoding", (g & 0x80) ? "deflate" : "gzip"});
    if (f & 0x08) fields.push_back({"grpc-accept-encoding", "identity, gzip"});
    if (f & 0x10) fields.push_back({"x-compress", "1"});
    std::string bin;
    if (f & 0x20) {
      bin = in_.Take(in_.U8() % 16);
      fields.push_back({"x-data", "v"});
      fields.push_back({"x-blob-bin", bin});
    }
    std::string big;
    if (g & 0x80) {
      big.assign(1 + in_.U8() * 16, 'b');
      fields.push_back({"x-big", big});
    }
    std::string block = c_.Encode(fields);
    c_.Opened(id);
    uint8_t flags = (f & 0x01) ? alts::http2::kFlagEndStream : 0;
    if (!(f & 0x40)) {
      c_.Send(Frame(FrameType::kHeaders, flags | alts::http2::kFlagEndHeaders, id, block));
      return;
    }
    // Split into HEADERS + CONTINUATIONs, with padding or priority fields.
    const uint8_t how = in_.U8();
    std::string first;
    if (how & 1) {
      flags |= alts::http2::kFlagPadded;
      first.push_back(static_cast<char>(how >> 4));
    }
    if (how & 2) {
      flags |= alts::http2::kFlagPriority;
      PutU32(&first, (how & 4) ? id : 0);  // sometimes depends on itself
      first.push_back(16);
    }
    const size_t cut = std::min<size_t>(block.size(), 1 + how % 7);
    first += block.substr(0, cut);
    if (how & 1) first.append(how >> 4, '\0');
    c_.Send(Frame(FrameType::kHeaders, flags, id, first));
    for (size_t off = cut; off < block.size();) {
      const size_t n = std::min<size_t>(block.size() - off, 1 + in_.U8() % 32);
      const bool last = off + n == block.size();
      // Sometimes another frame interrupts the block (a protocol error).
      if (!last && (how & 0x08) && off == cut) c_.Send(Frame(FrameType::kPing, 0, 0, "12345678"));
      c_.Send(Frame(FrameType::kContinuation, last ? alts::http2::kFlagEndHeaders : 0, id,
                    block.substr(off, n)));
      off += n;
    }
  }

  void Data() {
    const uint32_t id = Stream(in_.U8());
    const uint8_t f = in_.U8();
    const int messages = 1 + f % 3;
    std::string payload;
    for (int i = 0; i < messages; ++i) {
      const uint8_t m = in_.U8();
      std::string body;
      if (m & 0x40) {
        body.assign(size_t{in_.U16()} % 70000, 'm');  // large, cheap to describe
      } else {
        body = in_.Take(m & 0x1f);
      }
      bool compressed = (m & 0x80) != 0;
      if (compressed && !(f & 0x40)) {
        absl::StatusOr<absl::Span<const uint8_t>> z = alts::rpc::GzipCompress(Bytes(body));
        if (z.ok()) body.assign(reinterpret_cast<const char*>(z->data()), z->size());
      }
      uint32_t length = static_cast<uint32_t>(body.size());
      if (m & 0x20) length = (f & 0x80) ? in_.U32() : length + in_.U8();  // a lying length
      payload.push_back(compressed ? 1 : 0);
      PutU32(&payload, length);
      payload += body;
    }
    uint8_t flags = (f & 0x08) ? alts::http2::kFlagEndStream : 0;
    // Within the server's windows unless the input says otherwise.
    if (!(f & 0x10)) {
      int64_t room = std::min(c_.conn_window(), c_.StreamWindow(id));
      if (static_cast<int64_t>(payload.size()) > room) {
        c_.Sync(true);
        room = std::max<int64_t>(0, std::min(c_.conn_window(), c_.StreamWindow(id)));
        if (static_cast<int64_t>(payload.size()) > room) payload.resize(room);
      }
    }
    size_t off = 0;
    do {
      const size_t n = std::min<size_t>(payload.size() - off, alts::http2::kDefaultMaxFrameSize);
      const bool last = off + n == payload.size();
      std::string p = payload.substr(off, n);
      uint8_t fl = last ? flags : 0;
      if ((f & 0x20) && n + 256 <= alts::http2::kDefaultMaxFrameSize) {
        fl |= alts::http2::kFlagPadded;
        const uint8_t pad = in_.U8();
        p = std::string(1, static_cast<char>(pad)) + p + std::string(pad, '\0');
      }
      c_.Send(Frame(FrameType::kData, fl, id, p));
      c_.Sent(id, p.size());
      off += n;
    } while (off < payload.size());
  }

  void Op() {
    const uint8_t op = in_.U8();
    switch (op & 0x0f) {
      case 0:
      case 1:
      case 2:
        Headers();
        break;
      case 3:
      case 4:
        Data();
        break;
      case 5: {
        const uint32_t id = Stream(in_.U8());
        std::string code;
        PutU32(&code, in_.U8() % 15);
        c_.Send(Frame(FrameType::kRstStream, 0, id, code));
        break;
      }
      case 6: {
        const uint8_t b = in_.U8();
        const uint32_t id = (b & 1) ? 0 : Stream(b >> 1);
        uint32_t inc = (b & 0x80) ? in_.U32() : in_.U16();
        std::string p;
        PutU32(&p, inc);
        c_.Send(Frame(FrameType::kWindowUpdate, 0, id, p));
        break;
      }
      case 7: {
        std::string p = in_.Take(8);
        p.resize(8, '.');
        c_.Send(Frame(FrameType::kPing, (op & 0x10) ? alts::http2::kFlagAck : 0, 0, p));
        break;
      }
      case 8: {
        const uint8_t which = in_.U8();
        const uint32_t v = in_.U32();
        const auto id = static_cast<alts::http2::SettingId>(1 + which % 7);
        if (id == alts::http2::SettingId::kMaxFrameSize) c_.AnnounceMaxFrame(v);
        c_.Send(Frame(FrameType::kSettings, 0, 0, Setting(id, v)));
        break;
      }
      case 9: {
        const uint32_t id = Stream(in_.U8());
        std::vector<alts::hpack::HeaderField> t = {{"x-trailer", "t"}};
        c_.Opened(id);  // on a new stream these open it (a malformed request)
        c_.Send(Frame(FrameType::kHeaders,
                      alts::http2::kFlagEndStream | alts::http2::kFlagEndHeaders, id,
                      c_.Encode(t)));
        break;
      }
      case 10: {
        const uint8_t type = in_.U8() % 12;
        const uint8_t flags = in_.U8();
        const uint32_t id = Stream(in_.U8());
        if (type == static_cast<uint8_t>(FrameType::kSettings)) c_.set_frames_strict(false);
        if (type == static_cast<uint8_t>(FrameType::kHeaders)) c_.Opened(id);
        c_.Send(Frame(type, flags, id, in_.Take(in_.U8() % 64)));
        break;
      }
      case 11:
        c_.set_frames_strict(false);
        c_.Send(in_.Take(1 + in_.U8() % 64));
        break;
      case 12:
        c_.Sync((op & 0x10) != 0);
        if (tight_ != nullptr) {
          for (size_t b : tight_->ConnectionHeapBytes()) {
            Check(b <= kTightConnectionBound, "a connection holds more than its limits allow");
          }
        }
        break;
      case 13: {
        std::string p;
        PutU32(&p, (op & 0x10) ? next_id_ : 0);
        PutU32(&p, in_.U8() % 14);
        p += "bye";
        c_.Send(Frame(FrameType::kGoaway, 0, 0, p));
        break;
      }
      case 14: {
        const uint32_t id = Stream(in_.U8());
        std::string p;
        PutU32(&p, (op & 0x10) ? id : 0);
        p.push_back(static_cast<char>(in_.U8()));
        c_.Send(Frame(FrameType::kPriority, 0, id, p));
        break;
      }
      case 15:
        c_.Send(Frame(FrameType::kData, alts::http2::kFlagEndStream, Stream(in_.U8()), ""));
        break;
    }
  }

 private:
  Input& in_;
  Client& c_;
  alts::rpc::Server* tight_;
  uint32_t next_id_ = static_cast<uint32_t>(-1);  // the first new stream is 1
  std::vector<uint32_t> opened_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = TheWorld();
  if (size < 1) return 0;
  Input in(data, size);
  const uint8_t config = in.U8();
  alts::rpc::Server& server = *w.servers[config & 1];

  int fds[2];
  Check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  Check(server.ServeConnectedSocket(fds[1], "fuzz-peer").ok(), "ServeConnectedSocket");
  {
    Client client(fds[0], config);
    std::string settings;
    constexpr uint32_t kWindows[] = {65535, 0, 1000, 1 << 20};
    if (config & 0x06) {
      settings += Setting(alts::http2::SettingId::kInitialWindowSize, kWindows[(config >> 1) & 3]);
    }
    if (config & 0x08) {
      settings += Setting(alts::http2::SettingId::kMaxFrameSize, 1 << 20);
      client.AnnounceMaxFrame(1 << 20);
    }
    if (config & 0x10) settings += Setting(alts::http2::SettingId::kHeaderTableSize, 0);
    client.Send(std::string(alts::http2::kConnectionPreface) +
                Frame(FrameType::kSettings, 0, 0, settings));
    if (!(config & 0x40)) client.Send(Frame(FrameType::kSettings, alts::http2::kFlagAck, 0, ""));
    client.WaitSettings();
    Driver driver(in, client, (config & 1) ? &server : nullptr);
    for (size_t i = 0; i < kMaxOps && !in.empty() && !client.closed(); ++i) {
      driver.Op();
      if (config & 0x80) client.Flush();
    }
    // Let the server answer what it was sent, crediting its DATA, then close.
    client.Sync(true);
    client.CloseAndDrain();
    if (getenv("RPC_SERVER_FUZZER_DEBUG") != nullptr) {
      std::fprintf(stderr, "server answered:%s\n", client.Summary().c_str());
    }
  }

  // The server's side is gone: nothing of the connection may be left.
  const absl::Time deadline = absl::Now() + kCloseWait;
  alts::rpc::ServerStats st = server.stats();
  while (st.connections_open != 0 || st.calls_started != st.calls_finished + st.calls_cancelled ||
         g_live_handlers.load() != 0) {
    Check(absl::Now() < deadline, "the connection or its calls outlived the close");
    absl::SleepFor(absl::Microseconds(20));
    st = server.stats();
  }
  Check(w.read_pool->stats().outstanding == 0, "a read buffer held after the close");
  Check(w.write_pool->stats().outstanding == 0, "a write buffer held after the close");
  Check(w.storage->OutstandingBytes() == 0, "storage held after the close");
  return 0;
}
