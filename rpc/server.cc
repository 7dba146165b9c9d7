#include "rpc/server.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "conn/handshake_driver.h"
#include "conn/plain_listener.h"
#include "conn/secure_listener.h"
#include "rpc/compression.h"
#include "rpc/h2_transport.h"
#include "rpc/header_list.h"
#include "rpc/message_io.h"
#include "rpc/message_reader.h"

namespace alts::rpc {

class ServerCallImpl;

// kNoCallsPingInterval: with no call active and pings not permitted without
// calls, clients must not ping more often than this (gRPC's rule).
constexpr absl::Duration kNoCallsPingInterval = absl::Hours(2);

namespace {


bool IsGrpcContentType(absl::string_view v) {
  return v == kGrpcContentType ||
         (absl::StartsWith(v, kGrpcContentType) && (v[kGrpcContentType.size()] == '+' ||
                                                    v[kGrpcContentType.size()] == ';'));
}

}  // namespace

// ServerConnection is one client connection: an H2Transport whose session
// events drive the calls on it.
class ServerConnection final : public H2Transport {
 public:
  ServerConnection(Server* server, Reactor& reactor, std::shared_ptr<const PeerIdentity> peer,
                   std::string peer_address)
      : H2Transport(reactor, http2::Role::kServer, &server->options().http2),
        server_(server),
        peer_(std::move(peer)),
        peer_address_(std::move(peer_address)),
        idle_since_(absl::Now()) {
    assembly_.limit = server->options().max_partial_message_bytes_per_connection;
  }
  ~ServerConnection() override;

  Server* server() const { return server_; }
  const PeerIdentity* peer() const { return peer_.get(); }
  absl::string_view peer_address() const { return peer_address_; }

  void BeginShutdown();
  void ForceClose();
  size_t HeapBytes() const;
  // assembly is what the partial request messages of all calls hold.
  AssemblyBudget& assembly() { return assembly_; }

  // The calls' view of the connection.
  void CallStarted(ServerCallImpl* call);
  void CallDone(ServerCallImpl* call);  // reaped at the end of the dispatch
  void ResetPingStrikes() { ping_strikes_ = 0; }
  void WaitWritable(ServerCallImpl* call);
  void RespondTrailersOnly(uint32_t id, const absl::Status& status);
  void RespondHttpError(uint32_t id, absl::string_view http_status);

  ServerConnection* prev = nullptr;
  ServerConnection* next = nullptr;

 private:
  // SessionHandler:
  void OnHeaders(uint32_t id, void* data, const http2::ReceivedHeaders& h, bool end) override;
  void OnData(uint32_t id, void* data, absl::Span<const uint8_t> bytes, bool end) override;
  void OnStreamClose(uint32_t id, void* data, http2::ErrorCode code, http2::CloseCause cause) override;
  void OnPing(uint64_t payload, bool ack) override;
  void OnWindowAvailable(uint32_t id, void* data) override;
  // H2Transport:
  void OnTransportEnd(const absl::Status& status) override;
  void OnTransportWritable() override;
  absl::Time NextTimer() const override;
  void OnTimer(absl::Time now) override;
  void OnDispatchEnd() override;

  void StartCall(uint32_t id, const http2::ReceivedHeaders& h, bool end_stream);
  void Reap();

  Server* const server_;
  std::shared_ptr<const PeerIdentity> peer_;
  std::string peer_address_;
  AssemblyBudget assembly_;
  ServerCallImpl* calls_ = nullptr;  // intrusive list of live calls
  ServerCallImpl* done_ = nullptr;   // calls to reap at the end of the dispatch
  uint32_t live_calls_ = 0;
  int ping_strikes_ = 0;
  absl::Time last_ping_ = absl::InfinitePast();
  absl::Time idle_since_;
  bool closed_reported_ = false;
  bool idle_goaway_ = false;
};

// ServerCallImpl is one call's state; it lives on its connection's reactor.
class ServerCallImpl final : public ServerCall {
 public:
  ServerCallImpl(ServerConnection* conn, uint32_t stream_id, absl::string_view method)
      : conn_(conn), stream_id_(stream_id), method_(method) {
    reader_.set_budget(&conn->assembly());
  }
  ~ServerCallImpl() {
    if (token_ != nullptr) token_->call = nullptr;
  }

  // ServerCall:
  absl::string_view method() const override { return method_; }
  const Metadata& client_metadata() const override { return metadata_; }
  const PeerIdentity* peer() const override { return conn_->peer(); }
  absl::string_view peer_address() const override { return conn_->peer_address(); }
  absl::Time deadline() const override { return deadline_; }
  bool cancelled() const override { return cancelled_; }
  Reactor& reactor() const override { return conn_->reactor(); }
  absl::Status AddInitialMetadata(std::string key, std::string value) override;
  void SetResponseCompression(absl::string_view encoding) override {
    response_gzip_ = encoding == "gzip" && client_accepts_gzip_;
  }
  absl::Status Write(absl::Span<const uint8_t> message, WriteOptions options) override;
  void Finish(absl::Status status, Metadata trailers) override;
  void PauseReads() override { reads_paused_ = true; }
  void ResumeReads() override;
  void RunOnReactor(absl::AnyInvocable<void()> fn) override;

  // The connection's side.
  void OnRequestData(absl::Span<const uint8_t> bytes, bool end_stream);
  void OnHalfClose();
  void OnStreamGone(http2::CloseCause cause);
  void PumpWrite();
  void CheckDeadline(absl::Time now);
  // Done: the call is over; OnDone runs from the reap.
  void MarkDone();
  void RunOnDone();

  ServerConnection* conn_;
  uint32_t stream_id_;  // 0 once the stream is gone
  absl::string_view method_;
  Metadata metadata_;
  Metadata initial_metadata_;
  absl::Time deadline_ = absl::InfiniteFuture();
  std::unique_ptr<ServerCallHandler> handler_;
  MessageReader reader_;
  bool request_gzip_ = false;
  bool client_accepts_gzip_ = false;
  bool response_gzip_ = false;

  // Write in flight: the prefix and the message (the caller's buffer, or
  // a compressed copy), and how much of it went out.
  OutgoingMessage out_;
  bool in_write_loop_ = false;
  bool write_done_owed_ = false;
  bool waiting_transport_ = false;

  bool headers_sent_ = false;
  bool finished_ = false;       // Finish called
  bool finish_queued_ = false;  // Finish waits for the write in flight
  absl::Status finish_status_;
  Metadata finish_trailers_;
  bool half_closed_ = false;
  bool cancelled_ = false;
  bool done_ = false;
  bool reads_paused_ = false;
  size_t unconsumed_ = 0;

  // RunOnReactor's link back to the call, made on first use.
  struct Token {
    ServerCallImpl* call;
  };
  std::shared_ptr<Token> token_;

  ServerCallImpl* prev = nullptr;
  ServerCallImpl* next = nullptr;

 private:
  void SendHeadersIfNeeded();
  void SendTrailers();
  void FailCall(const absl::Status& status);
  // AbandonWrite drops the write in flight, if any, and tells the handler
  // (OnWriteDone(false)): every accepted Write is answered once, also when
  // the call ends under it.
  void AbandonWrite();
};

// ---------------------------------------------------------------------------
// ServerCallImpl

absl::Status ServerCallImpl::AddInitialMetadata(std::string key, std::string value) {
  if (headers_sent_ || finished_) {
    return absl::FailedPreconditionError("initial metadata after the headers went out");
  }
  Metadata one;
  one.Add(key, value);
  absl::Status v = ValidateMetadata(one);
  if (!v.ok()) return v;
  initial_metadata_.Add(std::move(key), std::move(value));
  return absl::OkStatus();
}

void ServerCallImpl::SendHeadersIfNeeded() {
  if (headers_sent_ || stream_id_ == 0) return;
  headers_sent_ = true;
  HeaderList& h = ThreadHeaderList();
  h.Add(":status", "200");
  h.Add("content-type", kGrpcContentType);
  if (response_gzip_) h.Add("grpc-encoding", "gzip");
  h.Add("grpc-accept-encoding", kAcceptEncoding);
  h.AddMetadata(initial_metadata_);
  (void)conn_->session().SubmitHeaders(stream_id_, h.fields(), false);
  conn_->ResetPingStrikes();
}

absl::Status ServerCallImpl::Write(absl::Span<const uint8_t> message, WriteOptions options) {
  if (done_ || cancelled_ || stream_id_ == 0) return absl::CancelledError("the call has ended");
  if (finished_) return absl::FailedPreconditionError("Write after Finish");
  if (out_.pending()) return absl::FailedPreconditionError("a write is already in flight");
  H2Transport::DispatchScope scope(conn_);
  out_.Start(message, options.compress && response_gzip_);
  SendHeadersIfNeeded();
  PumpWrite();
  return absl::OkStatus();
}

void ServerCallImpl::PumpWrite() {
  if (in_write_loop_) return;  // OnWriteDone called Write: the loop below goes on
  in_write_loop_ = true;
  while (true) {
    if (out_.pending() && stream_id_ != 0) {
      bool sent = false;
      const OutgoingMessage::Progress p = out_.Send(*conn_, stream_id_, false, &sent);
      // Every DATA frame resets the ping strikes, as gRPC does: a client
      // sends BDP pings while a long message arrives.
      if (sent) conn_->ResetPingStrikes();
      if (p == OutgoingMessage::Progress::kDone) {
        write_done_owed_ = true;
      } else if (p == OutgoingMessage::Progress::kTransportBlocked) {
        conn_->WaitWritable(this);
      }
    }
    if (write_done_owed_) {
      write_done_owed_ = false;
      if (finish_queued_) {
        finish_queued_ = false;
        handler_->OnWriteDone(true);
        SendTrailers();
      } else {
        handler_->OnWriteDone(true);  // may Write again: the loop picks it up
      }
      if (out_.pending() || write_done_owed_) continue;
    }
    break;
  }
  in_write_loop_ = false;
}

void ServerCallImpl::Finish(absl::Status status, Metadata trailers) {
  if (finished_ || done_) return;
  finished_ = true;
  finish_status_ = std::move(status);
  finish_trailers_ = std::move(trailers);
  if (stream_id_ == 0) return;
  H2Transport::DispatchScope scope(conn_);
  if (out_.pending()) {
    finish_queued_ = true;
    return;
  }
  SendTrailers();
}

void ServerCallImpl::SendTrailers() {
  if (stream_id_ == 0) return;
  const absl::Status& st = finish_status_;
  HeaderList& h = ThreadHeaderList();
  if (!headers_sent_) {
    // Trailers-Only: the response is one HEADERS frame.
    h.Add(":status", "200");
    h.Add("content-type", kGrpcContentType);
    h.AddMetadata(initial_metadata_);
    headers_sent_ = true;
  }
  h.AddOwned("grpc-status", absl::StrCat(GrpcCode(st.code())));
  if (!st.message().empty()) {
    h.AddOwned("grpc-message", PercentEncode(st.message()), hpack::Indexing::kWithout);
  }
  h.AddMetadata(finish_trailers_);
  const uint32_t id = stream_id_;
  (void)conn_->session().SubmitHeaders(id, h.fields(), true);
  // A client still sending is told to stop (RST_STREAM NO_ERROR, as gRPC).
  if (stream_id_ != 0 && !half_closed_) conn_->session().ResetStream(id, http2::ErrorCode::kNoError);
}

void ServerCallImpl::AbandonWrite() {
  if (!out_.pending()) return;
  out_.Clear();
  handler_->OnWriteDone(false);
}

void ServerCallImpl::FailCall(const absl::Status& status) {
  // The library ends the call (bad message, size limit): the client hears
  // the status; the handler hears OnWriteDone(false) for a write in flight,
  // then OnDone.
  if (done_) return;
  if (!finished_) {
    finished_ = true;
    finish_status_ = status;
    finish_queued_ = false;
    AbandonWrite();
    SendTrailers();
  }
  if (stream_id_ != 0) {
    conn_->session().ResetStream(stream_id_, http2::ErrorCode::kCancel);
  }
}

void ServerCallImpl::ResumeReads() {
  if (!reads_paused_) return;
  reads_paused_ = false;
  if (unconsumed_ > 0 && stream_id_ != 0) {
    H2Transport::DispatchScope scope(conn_);
    conn_->session().Consume(stream_id_, unconsumed_);
  }
  unconsumed_ = 0;
}

void ServerCallImpl::RunOnReactor(absl::AnyInvocable<void()> fn) {
  if (token_ == nullptr) token_ = std::make_shared<Token>(Token{this});
  std::weak_ptr<Token> weak = token_;
  Reactor& r = conn_->reactor();
  (void)r.Post([weak, fn = std::move(fn)]() mutable {
    std::shared_ptr<Token> t = weak.lock();
    if (t == nullptr || t->call == nullptr) return;
    H2Transport::DispatchScope scope(t->call->conn_);
    fn();
  });
}

void ServerCallImpl::OnRequestData(absl::Span<const uint8_t> bytes, bool end_stream) {
  const uint32_t id = stream_id_;
  const size_t max = conn_->server()->options().max_receive_message_size;
  StoragePool* storage = conn_->server()->options().resources->storage;
  absl::Status s = DeliverMessages(
      reader_, bytes, max, storage, request_gzip_, [&] { return done_ || finished_; },
      [&](absl::Span<const uint8_t> msg) { handler_->OnMessage(msg); });
  if (stream_id_ != 0 && id != 0) {
    if (reads_paused_) {
      unconsumed_ += bytes.size();
    } else {
      conn_->session().Consume(id, bytes.size());
    }
  }
  if (!s.ok()) {
    if (s.code() != absl::StatusCode::kCancelled) FailCall(s);
    return;
  }
  if (end_stream) {
    if (!reader_.at_boundary()) {
      FailCall(absl::InternalError("request ended inside a message"));
      return;
    }
    OnHalfClose();
  }
}

void ServerCallImpl::OnHalfClose() {
  if (half_closed_) return;
  half_closed_ = true;
  if (!done_ && !cancelled_) handler_->OnHalfClose();
}

void ServerCallImpl::OnStreamGone(http2::CloseCause cause) {
  stream_id_ = 0;
  reader_.Reset();
  // Reset by the client, lost with the connection, or shut down: a call
  // the handler did not finish is cancelled. A write in flight is answered
  // either way (Finish may wait behind it).
  const bool cancel = !finished_;
  if (cancel) cancelled_ = true;
  AbandonWrite();
  if (cancel) handler_->OnCancel();
  MarkDone();
}

void ServerCallImpl::CheckDeadline(absl::Time now) {
  if (done_ || now < deadline_ || stream_id_ == 0) return;
  if (!finished_) {
    cancelled_ = true;
    finished_ = true;
    finish_status_ = absl::DeadlineExceededError("Deadline Exceeded");
    finish_queued_ = false;
    AbandonWrite();
    SendTrailers();
    if (stream_id_ != 0) conn_->session().ResetStream(stream_id_, http2::ErrorCode::kCancel);
    handler_->OnCancel();
  }
}

void ServerCallImpl::MarkDone() {
  if (done_) return;
  done_ = true;
  conn_->CallDone(this);
}

void ServerCallImpl::RunOnDone() {
  handler_->OnDone();
  handler_.reset();
}

// ---------------------------------------------------------------------------
// ServerConnection

ServerConnection::~ServerConnection() {
  EndSession(absl::CancelledError("server connection destroyed"));
  Reap();
  server_->ConnectionClosed(this);
}

size_t ServerConnection::HeapBytes() const {
  size_t bytes = sizeof(*this) + TransportHeapBytes();
  if (peer_address_.capacity() > 15) bytes += peer_address_.capacity() + 1;
  for (ServerCallImpl* c = calls_; c != nullptr; c = c->next) {
    bytes += sizeof(ServerCallImpl) + c->reader_.HeapBytes();
  }
  return bytes;
}

void ServerConnection::CallStarted(ServerCallImpl* call) {
  call->next = calls_;
  if (calls_ != nullptr) calls_->prev = call;
  calls_ = call;
  ++live_calls_;
  server_->calls_started_.fetch_add(1, std::memory_order_relaxed);
}

void ServerConnection::CallDone(ServerCallImpl* call) {
  if (call->prev != nullptr) call->prev->next = call->next;
  if (call->next != nullptr) call->next->prev = call->prev;
  if (calls_ == call) calls_ = call->next;
  --live_calls_;
  if (live_calls_ == 0) idle_since_ = absl::Now();
  (call->cancelled_ ? server_->calls_cancelled_ : server_->calls_finished_)
      .fetch_add(1, std::memory_order_relaxed);
  call->prev = nullptr;
  call->next = done_;
  done_ = call;
}

void ServerConnection::Reap() {
  while (done_ != nullptr) {
    ServerCallImpl* c = done_;
    done_ = c->next;
    c->RunOnDone();
    delete c;
  }
}

void ServerConnection::OnDispatchEnd() { Reap(); }

void ServerConnection::WaitWritable(ServerCallImpl* call) { call->waiting_transport_ = true; }

void ServerConnection::OnTransportWritable() {
  for (ServerCallImpl* c = calls_; c != nullptr;) {
    ServerCallImpl* next = c->next;
    if (c->waiting_transport_) {
      c->waiting_transport_ = false;
      c->PumpWrite();
    }
    c = next;
  }
}

void ServerConnection::OnWindowAvailable(uint32_t id, void* data) {
  if (data != nullptr) static_cast<ServerCallImpl*>(data)->PumpWrite();
}

void ServerConnection::RespondTrailersOnly(uint32_t id, const absl::Status& status) {
  server_->calls_rejected_.fetch_add(1, std::memory_order_relaxed);
  HeaderList& h = ThreadHeaderList();
  h.Add(":status", "200");
  h.Add("content-type", kGrpcContentType);
  h.AddOwned("grpc-status", absl::StrCat(GrpcCode(status.code())));
  if (!status.message().empty()) {
    h.AddOwned("grpc-message", PercentEncode(status.message()), hpack::Indexing::kWithout);
  }
  (void)session().SubmitHeaders(id, h.fields(), true);
  if (session().stream_data(id) == nullptr) session().ResetStream(id, http2::ErrorCode::kNoError);
}

void ServerConnection::RespondHttpError(uint32_t id, absl::string_view http_status) {
  server_->calls_rejected_.fetch_add(1, std::memory_order_relaxed);
  HeaderList& h = ThreadHeaderList();
  h.Add(":status", http_status);
  (void)session().SubmitHeaders(id, h.fields(), true);
  session().ResetStream(id, http2::ErrorCode::kNoError);
}

void ServerConnection::OnHeaders(uint32_t id, void* data, const http2::ReceivedHeaders& h,
                                 bool end_stream) {
  if (data != nullptr) {
    // Trailers from the client (gRPC clients send none, but HTTP/2 allows).
    if (end_stream) {
      auto* call = static_cast<ServerCallImpl*>(data);
      if (!call->reader_.at_boundary()) {
        call->Finish(absl::InternalError("request ended inside a message"), {});
        return;
      }
      call->OnHalfClose();
    }
    return;
  }
  StartCall(id, h, end_stream);
}

void ServerConnection::StartCall(uint32_t id, const http2::ReceivedHeaders& h, bool end_stream) {
  if (h.oversized) {
    RespondTrailersOnly(id, absl::ResourceExhaustedError("request metadata exceeds the limit"));
    return;
  }
  if (h.pseudo.method != "POST") {
    RespondHttpError(id, "405");
    return;
  }
  absl::string_view content_type;
  absl::string_view timeout, encoding, accept_encoding;
  for (const hpack::HeaderField& f : h.fields) {
    if (f.name == "content-type") {
      content_type = f.value;
    } else if (f.name == "grpc-timeout") {
      timeout = f.value;
    } else if (f.name == "grpc-encoding") {
      encoding = f.value;
    } else if (f.name == "grpc-accept-encoding") {
      accept_encoding = f.value;
    }
  }
  if (!IsGrpcContentType(content_type)) {
    RespondHttpError(id, "415");
    return;
  }
  const Server::Method* method = server_->FindMethod(h.pseudo.path);
  if (method == nullptr) {
    RespondTrailersOnly(id, absl::UnimplementedError(absl::StrCat("Method not found: ", h.pseudo.path)));
    return;
  }
  if (!encoding.empty() && !SupportedEncoding(encoding)) {
    RespondTrailersOnly(id, absl::UnimplementedError(
                                absl::StrCat("unsupported message encoding '", encoding, "'")));
    return;
  }
  std::unique_ptr<ServerCallImpl> call(new ServerCallImpl(this, id, h.pseudo.path));
  // method_ must outlive the headers: point it at the registered path.
  call->method_ = server_->FindMethodPath(h.pseudo.path);
  ReceivedMetadata(h.fields, &call->metadata_);
  if (!timeout.empty()) {
    std::optional<absl::Duration> t = ParseTimeout(timeout);
    if (!t.has_value()) {
      RespondTrailersOnly(id, absl::InternalError(absl::StrCat("malformed grpc-timeout '", timeout, "'")));
      return;
    }
    call->deadline_ = absl::Now() + *t;
  }
  call->request_gzip_ = encoding == "gzip";
  for (absl::string_view e : absl::StrSplit(accept_encoding, ',')) {
    if (absl::StripAsciiWhitespace(e) == "gzip") call->client_accepts_gzip_ = true;
  }
  CallInfo info;
  info.method = call->method_;
  info.metadata = &call->metadata_;
  info.peer = peer_.get();
  info.peer_address = peer_address_;
  absl::Status allowed = absl::OkStatus();
  if (method->options.authorize) allowed = method->options.authorize(info);
  if (allowed.ok() && server_->options().authorize) allowed = server_->options().authorize(info);
  if (!allowed.ok()) {
    RespondTrailersOnly(id, allowed);
    return;
  }
  call->handler_ = method->factory(call.get());
  if (call->handler_ == nullptr) {
    RespondTrailersOnly(id, absl::UnimplementedError("no handler for the method"));
    return;
  }
  ServerCallImpl* c = call.release();
  session().SetStreamData(id, c);
  CallStarted(c);
  if (c->deadline_ != absl::InfiniteFuture() && c->deadline_ <= absl::Now()) {
    c->CheckDeadline(absl::Now());
    return;
  }
  if (end_stream) c->OnHalfClose();
}

void ServerConnection::OnData(uint32_t id, void* data, absl::Span<const uint8_t> bytes, bool end) {
  if (data == nullptr) {
    session().Consume(id, bytes.size());
    return;
  }
  static_cast<ServerCallImpl*>(data)->OnRequestData(bytes, end);
}

void ServerConnection::OnStreamClose(uint32_t id, void* data, http2::ErrorCode code,
                                     http2::CloseCause cause) {
  if (data != nullptr) static_cast<ServerCallImpl*>(data)->OnStreamGone(cause);
}

void ServerConnection::OnPing(uint64_t payload, bool ack) {
  if (ack) return;
  const ServerOptions& o = server_->options();
  const absl::Time now = absl::Now();
  const absl::Duration min_interval =
      (live_calls_ == 0 && !o.keepalive_permit_without_calls) ? kNoCallsPingInterval
                                                              : o.keepalive_min_time;
  if (last_ping_ != absl::InfinitePast() && now - last_ping_ < min_interval) {
    if (++ping_strikes_ > o.keepalive_max_ping_strikes) {
      if (o.log_errors) {
        std::fprintf(stderr, "rpc server: %s pings too often: GOAWAY too_many_pings\n",
                     peer_address_.c_str());
      }
      session().GoAway(http2::ErrorCode::kEnhanceYourCalm, "too_many_pings");
    }
  }
  last_ping_ = now;
}

absl::Time ServerConnection::NextTimer() const {
  absl::Time at = absl::InfiniteFuture();
  for (ServerCallImpl* c = calls_; c != nullptr; c = c->next) {
    if (!c->finished_) at = std::min(at, c->deadline_);
  }
  const absl::Duration idle = server_->options().max_connection_idle;
  if (live_calls_ == 0 && idle != absl::InfiniteDuration() && !idle_goaway_) {
    at = std::min(at, idle_since_ + idle);
  }
  return at;
}

void ServerConnection::OnTimer(absl::Time now) {
  for (ServerCallImpl* c = calls_; c != nullptr;) {
    ServerCallImpl* next = c->next;
    c->CheckDeadline(now);
    c = next;
  }
  const absl::Duration idle = server_->options().max_connection_idle;
  if (live_calls_ == 0 && idle != absl::InfiniteDuration() && !idle_goaway_ &&
      now >= idle_since_ + idle) {
    idle_goaway_ = true;
    session().GoAway(http2::ErrorCode::kNoError, "max_idle");
  }
}

void ServerConnection::OnTransportEnd(const absl::Status& status) {
  if (server_->options().log_errors && !status.ok() &&
      status.code() != absl::StatusCode::kUnavailable) {
    std::fprintf(stderr, "rpc server: connection %s ended: %s\n", peer_address_.c_str(),
                 status.ToString().c_str());
  }
  DeleteLater();
}

void ServerConnection::BeginShutdown() {
  DispatchScope scope(this);
  session().GoAway(http2::ErrorCode::kNoError, "server shutting down");
}

void ServerConnection::ForceClose() {
  DispatchScope scope(this);
  for (ServerCallImpl* c = calls_; c != nullptr;) {
    ServerCallImpl* next = c->next;
    if (c->stream_id_ != 0) session().ResetStream(c->stream_id_, http2::ErrorCode::kCancel);
    c = next;
  }
  session().GoAway(http2::ErrorCode::kNoError, "server shut down");
  AbortTransport(absl::UnavailableError("server shut down"));
}

// ---------------------------------------------------------------------------
// Server

Server::Server(ServerOptions options) : options_(std::move(options)) {
  connection_heads_.assign(options_.group->size(), nullptr);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(ServerOptions options) {
  if (options.group == nullptr || options.resources == nullptr ||
      options.resources->read_pool == nullptr || options.resources->storage == nullptr) {
    return absl::InvalidArgumentError("Server: a reactor group and connection resources are required");
  }
  return std::unique_ptr<Server>(new Server(std::move(options)));
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

absl::Status Server::RegisterMethod(std::string path, HandlerFactory factory,
                                    MethodOptions options) {
  if (serving_.load()) return absl::FailedPreconditionError("RegisterMethod after AddListener");
  if (path.empty() || path[0] != '/' || !factory) {
    return absl::InvalidArgumentError("RegisterMethod: a \"/package.Service/Method\" path and a factory");
  }
  auto [it, inserted] = methods_.try_emplace(std::move(path), Method{std::move(factory), std::move(options)});
  if (!inserted) return absl::AlreadyExistsError(absl::StrCat("method ", it->first, " is registered"));
  return absl::OkStatus();
}

const Server::Method* Server::FindMethod(absl::string_view path) const {
  auto it = methods_.find(path);
  return it == methods_.end() ? nullptr : &it->second;
}

absl::string_view Server::FindMethodPath(absl::string_view path) const {
  auto it = methods_.find(path);
  return it == methods_.end() ? absl::string_view() : absl::string_view(it->first);
}

absl::StatusOr<std::string> Server::AddListener(const std::string& address) {
  if (shutting_down_.load()) return absl::FailedPreconditionError("server is shut down");
  serving_.store(true);
  if (options_.alts != nullptr) {
    ListenOptions lo;
    lo.params = options_.alts_params;
    lo.resources = options_.resources;
    absl::StatusOr<std::unique_ptr<SecureListener>> l = SecureListener::Listen(
        *options_.group, address, options_.alts, lo,
        [this](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
          if (!outcome.ok()) {
            if (options_.log_errors) {
              std::fprintf(stderr, "rpc server: handshake failed: %s\n",
                           outcome.status().ToString().c_str());
            }
            return;
          }
          Adopt(r, std::move(outcome->connection), std::move(outcome->peer),
                std::move(outcome->peer_address));
        });
    if (!l.ok()) return l.status();
    std::string bound = (*l)->address().ToString();
    std::lock_guard<std::mutex> lock(mu_);
    alts_listeners_.push_back(std::move(*l));
    return bound;
  }
  absl::StatusOr<std::unique_ptr<PlainListener>> l = PlainListener::Listen(
      *options_.group, address, options_.resources, [this](Reactor& r, PlainAccepted accepted) {
        Adopt(r, std::move(accepted.connection), nullptr, std::move(accepted.peer_address));
      });
  if (!l.ok()) return l.status();
  std::string bound = (*l)->address();
  std::lock_guard<std::mutex> lock(mu_);
  plain_listeners_.push_back(std::move(*l));
  return bound;
}

bool Server::Adopt(Reactor& reactor, std::unique_ptr<SecureConnection> connection,
                   std::shared_ptr<const PeerIdentity> peer, std::string peer_address) {
  if (shutting_down_.load(std::memory_order_acquire)) return false;  // dropped: closes the socket
  accepted_.fetch_add(1, std::memory_order_relaxed);
  auto* c = new ServerConnection(this, reactor, std::move(peer), std::move(peer_address));
  ConnectionOpened(c);
  c->Attach(std::move(connection));
  return true;
}

absl::Status Server::ServeConnectedSocket(int fd, std::string peer_address) {
  if (fd < 0) return absl::InvalidArgumentError("ServeConnectedSocket: no socket");
  if (options_.alts != nullptr || shutting_down_.load(std::memory_order_acquire)) {
    close(fd);
    return absl::FailedPreconditionError(
        options_.alts != nullptr ? "ServeConnectedSocket: an ALTS server needs a handshake"
                                 : "server is shut down");
  }
  serving_.store(true);
  auto serve = [this, fd, peer_address = std::move(peer_address)](Reactor& r) mutable {
    absl::StatusOr<std::unique_ptr<SecureConnection>> conn =
        SecureConnection::CreatePlaintext(r, fd, options_.resources);
    if (!conn.ok()) return conn.status();  // CreatePlaintext closed the fd
    if (!Adopt(r, std::move(*conn), nullptr, std::move(peer_address))) {
      return absl::FailedPreconditionError("server is shut down");
    }
    return absl::OkStatus();
  };
  // On one of the group's threads: serve here (waiting for another reactor
  // could wait on a thread that waits on this one).
  for (size_t i = 0; i < options_.group->size(); ++i) {
    Reactor& r = options_.group->reactor(i);
    if (r.InReactorThread()) return serve(r);
  }
  struct Outcome {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    absl::Status status;
  };
  auto outcome = std::make_shared<Outcome>();
  Reactor& target = options_.group->Pick(static_cast<uint64_t>(fd));
  if (!target.Post([outcome, &target, serve = std::move(serve)]() mutable {
        absl::Status s = serve(target);
        std::lock_guard<std::mutex> lock(outcome->mu);
        outcome->status = std::move(s);
        outcome->done = true;
        outcome->cv.notify_all();
      })) {
    close(fd);
    return absl::FailedPreconditionError("the server's reactors are shut down");
  }
  std::unique_lock<std::mutex> lock(outcome->mu);
  outcome->cv.wait(lock, [&] { return outcome->done; });
  return outcome->status;
}

void Server::ConnectionOpened(ServerConnection* c) {
  ServerConnection*& head = connection_heads_[c->reactor().index()];
  c->next = head;
  if (head != nullptr) head->prev = c;
  head = c;
  std::lock_guard<std::mutex> lock(mu_);
  ++open_;
}

void Server::ConnectionClosed(ServerConnection* c) {
  ServerConnection*& head = connection_heads_[c->reactor().index()];
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (head == c) head = c->next;
  std::lock_guard<std::mutex> lock(mu_);
  --open_;
  cv_.notify_all();
}

void Server::Shutdown(absl::Duration grace) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (shutting_down_.exchange(true)) {
      cv_.wait(lock, [&] { return shut_down_; });
      return;
    }
  }
  for (auto& l : alts_listeners_) l->Close();
  for (auto& l : plain_listeners_) l->Close();
  (void)options_.group->RunOnAllAndWait([this](Reactor& r) {
    for (ServerConnection* c = connection_heads_[r.index()]; c != nullptr;) {
      ServerConnection* next = c->next;
      c->BeginShutdown();
      c = next;
    }
  });
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoNanoseconds(grace), [&] { return open_ == 0; });
  }
  (void)options_.group->RunOnAllAndWait([this](Reactor& r) {
    for (ServerConnection* c = connection_heads_[r.index()]; c != nullptr;) {
      ServerConnection* next = c->next;
      c->ForceClose();
      c = next;
    }
  });
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return open_ == 0; });
  alts_listeners_.clear();
  plain_listeners_.clear();
  shut_down_ = true;
  cv_.notify_all();
}

ServerStats Server::stats() const {
  ServerStats s;
  s.connections_accepted = accepted_.load(std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.connections_open = open_;
  }
  s.calls_started = calls_started_.load(std::memory_order_relaxed);
  s.calls_finished = calls_finished_.load(std::memory_order_relaxed);
  s.calls_cancelled = calls_cancelled_.load(std::memory_order_relaxed);
  s.calls_rejected = calls_rejected_.load(std::memory_order_relaxed);
  return s;
}

std::vector<size_t> Server::ConnectionHeapBytes() {
  std::vector<size_t> out;
  std::mutex out_mu;
  (void)options_.group->RunOnAllAndWait([&](Reactor& r) {
    std::vector<size_t> mine;
    for (ServerConnection* c = connection_heads_[r.index()]; c != nullptr; c = c->next) {
      mine.push_back(c->HeapBytes());
    }
    std::lock_guard<std::mutex> lock(out_mu);
    out.insert(out.end(), mine.begin(), mine.end());
  });
  return out;
}

}  // namespace alts::rpc
