#include "rpc/channel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "conn/handshake_driver.h"
#include "conn/plain_listener.h"
#include "conn/socket_util.h"
#include "handshaker/handshake_limiter.h"
#include "rpc/compression.h"
#include "rpc/h2_transport.h"
#include "rpc/header_list.h"
#include "rpc/message_io.h"
#include "rpc/message_reader.h"

namespace alts::rpc {

class ClientConnection;

namespace {

double Jitter(double jitter) {
  thread_local std::minstd_rand rng(std::random_device{}());
  std::uniform_real_distribution<double> d(-jitter, jitter);
  return 1.0 + d(rng);
}

}  // namespace

// ClientCallImpl is one call's state; it lives on the channel's reactor.
class ClientCallImpl final : public ClientCall {
 public:
  ClientCallImpl(std::shared_ptr<ChannelImpl> channel, absl::string_view method,
                 CallOptions options, ClientCallHandler* handler)
      : channel_(std::move(channel)),
        method_(method),
        options_(std::move(options)),
        handler_(handler) {}

  // ClientCall (any thread):
  void Write(absl::Span<const uint8_t> message, bool last, bool compress) override;
  void WritesDone() override;
  void Cancel() override;
  void PauseReads() override;
  void ResumeReads() override;
  const Metadata& initial_metadata() const override { return initial_md_; }
  Reactor& reactor() const override;

  // Reactor-thread side.
  void OpenOn(ClientConnection* conn);
  void PumpWrite();
  void OnResponseHeaders(const http2::ReceivedHeaders& h, bool end_stream);
  void OnResponseData(absl::Span<const uint8_t> bytes, bool end_stream);
  void OnStreamGone(http2::ErrorCode code, http2::CloseCause cause);
  // Finish ends the call with `status`: resets the stream if still open and
  // queues OnDone for a safe point.
  void Finish(absl::Status status);
  void DeliverDone();
  // RunHop runs `fn` on the reactor (now if already there), keeping the call
  // alive until it has run.
  template <typename F>
  void RunHop(F fn);
  void MaybeDelete();

  std::shared_ptr<ChannelImpl> channel_;
  ClientConnection* conn_ = nullptr;
  uint32_t stream_id_ = 0;
  std::string method_;
  CallOptions options_;
  ClientCallHandler* handler_;
  MessageReader reader_;
  Metadata initial_md_;
  Metadata trailers_;
  absl::Status status_;
  bool response_gzip_ = false;
  // The code Finish resets an open stream with.
  http2::ErrorCode rst_code_ = http2::ErrorCode::kCancel;

  OutgoingMessage out_;
  bool write_last_ = false;
  bool writes_done_ = false;  // half-close requested
  bool end_sent_ = false;     // END_STREAM went out
  bool in_write_loop_ = false;
  bool write_done_owed_ = false;
  bool waiting_transport_ = false;
  bool any_write_done_ = false;  // an OnWriteDone(true) happened: no transparent retry

  bool got_headers_ = false;
  bool done_ = false;            // status decided
  bool done_delivered_ = false;  // OnDone ran
  bool reads_paused_ = false;
  size_t unconsumed_ = 0;
  std::atomic<int> hops_{0};

  ClientCallImpl* prev = nullptr;
  ClientCallImpl* next = nullptr;
};

// ClientConnection is one connection of a channel.
class ClientConnection final : public H2Transport {
 public:
  ClientConnection(std::shared_ptr<ChannelImpl> channel, Reactor& reactor,
                   const http2::SessionOptions* options, bool secure)
      : H2Transport(reactor, http2::Role::kClient, options),
        channel_(std::move(channel)),
        secure_(secure),
        last_read_ns_(absl::GetCurrentTimeNanos()),
        idle_since_ns_(last_read_ns_) {}
  ~ClientConnection() override;

  bool secure() const { return secure_; }
  bool draining() const { return draining_; }
  void set_draining() { draining_ = true; }
  // CanOpen returns true if a new stream may open now.
  bool CanOpen() const;
  void AttachCall(ClientCallImpl* call);
  void DetachCall(ClientCallImpl* call);
  void QueueDone(ClientCallImpl* call);
  void WaitWritable(ClientCallImpl* call) { call->waiting_transport_ = true; }
  size_t HeapBytes() const;
  uint32_t live_calls() const { return live_calls_; }

  ClientConnection* next_draining = nullptr;

 private:
  // SessionHandler:
  void OnHeaders(uint32_t id, void* data, const http2::ReceivedHeaders& h, bool end) override;
  void OnData(uint32_t id, void* data, absl::Span<const uint8_t> bytes, bool end) override;
  void OnStreamClose(uint32_t id, void* data, http2::ErrorCode code, http2::CloseCause cause) override;
  void OnGoaway(uint32_t last, http2::ErrorCode code, absl::string_view debug) override;
  void OnPing(uint64_t payload, bool ack) override;
  void OnWindowAvailable(uint32_t id, void* data) override;
  // H2Transport:
  void OnTransportEnd(const absl::Status& status) override;
  void OnTransportWritable() override;
  absl::Time NextTimer() const override;
  void OnTimer(absl::Time now) override;
  void OnDispatchEnd() override;

  void Reap();
  // Touch notes a read, which keepalive measures from (only when it is on:
  // reading the clock costs).
  void Touch();
  absl::Time last_read() const { return absl::FromUnixNanos(last_read_ns_); }
  absl::Time idle_since() const { return absl::FromUnixNanos(idle_since_ns_); }
  bool KeepaliveActive() const;

  std::shared_ptr<ChannelImpl> channel_;
  ClientCallImpl* calls_ = nullptr;
  ClientCallImpl* done_ = nullptr;
  uint32_t live_calls_ = 0;
  bool secure_;
  bool draining_ = false;
  bool awaiting_ping_ack_ = false;
  // Times as Unix nanoseconds (8 bytes each: idle connections are many).
  int64_t last_read_ns_;
  int64_t idle_since_ns_;
};

// ChannelImpl is the channel's state, on its reactor thread.
class ChannelImpl : public std::enable_shared_from_this<ChannelImpl> {
 public:
  ChannelImpl(std::string target, std::shared_ptr<const ChannelOptions> options, Reactor& reactor)
      : target_(std::move(target)),
        shared_options_(std::move(options)),
        options_(*shared_options_),
        reactor_(reactor) {
    backoff_ = options_.backoff.initial;
  }

  void StartCall(ClientCallImpl* call);
  void Pump();
  void ConnectionEnded(ClientConnection* c, const absl::Status& status);
  void GoawayReceived(ClientConnection* c, http2::ErrorCode code, absl::string_view debug);
  void Retry(ClientCallImpl* call);
  void Shutdown();
  void Remove(ClientCallImpl* call);  // from the pending queue

  Reactor& reactor() const { return reactor_; }
  const ChannelOptions& options() const { return options_; }
  // authority returns :authority (the option, or the target).
  const std::string& authority() const {
    return options_.authority.empty() ? target_ : options_.authority;
  }
  ConnectivityState state() const { return state_.load(std::memory_order_acquire); }
  bool shut_down() const { return shutdown_; }
  size_t HeapBytesOnReactor() const;
  size_t LeasedOnReactor() const;
  // has_connections returns true while a connection has not ended.
  bool has_connections() const { return current_ != nullptr || draining_ != nullptr; }
  // on_ended_ runs once the last connection has ended after Shutdown:
  // Channel::Shutdown waits for it, so that no connection (each holding the
  // channel) is left for a reactor group that stops next.
  absl::AnyInvocable<void()> on_ended_;

  std::atomic<uint64_t> connects_attempted_{0}, connects_succeeded_{0}, calls_started_{0},
      calls_retried_{0}, keepalive_pings_{0};
  absl::Duration keepalive_time_ = absl::InfiniteDuration();

 private:
  void Dial();
  void Connected(std::unique_ptr<SecureConnection> conn);
  void DialFailed(const absl::Status& status);
  void FailPending(const absl::Status& status, bool keep_wait_for_ready);
  void UpdateTimer();
  void OnTimer();
  void Enqueue(ClientCallImpl* call);

  const std::string target_;
  // Options may be shared by many channels (Channel::Create's shared form).
  const std::shared_ptr<const ChannelOptions> shared_options_;
  const ChannelOptions& options_;
  Reactor& reactor_;
  ClientConnection* current_ = nullptr;
  ClientConnection* draining_ = nullptr;  // list via next_draining
  ClientCallImpl* pending_head_ = nullptr;
  ClientCallImpl* pending_tail_ = nullptr;
  std::unique_ptr<PlainConnector> plain_connect_;
  std::unique_ptr<HandshakeDriver> alts_connect_;
  bool connecting_ = false;
  bool shutdown_ = false;
  absl::Duration backoff_;
  absl::Time retry_at_ = absl::InfinitePast();
  absl::Status last_error_;
  std::unique_ptr<ReactorEvent> timer_;
  std::atomic<ConnectivityState> state_{ConnectivityState::kIdle};
  friend class Channel;
};

// ---------------------------------------------------------------------------
// ClientCallImpl

Reactor& ClientCallImpl::reactor() const { return channel_->reactor(); }

template <typename F>
void ClientCallImpl::RunHop(F fn) {
  Reactor& r = channel_->reactor();
  if (r.InReactorThread()) {
    if (conn_ != nullptr) {
      H2Transport::DispatchScope scope(conn_);
      fn();
    } else {
      fn();
    }
    return;
  }
  hops_.fetch_add(1, std::memory_order_relaxed);
  (void)r.Post([this, fn = std::move(fn)]() mutable {
    if (conn_ != nullptr) {
      H2Transport::DispatchScope scope(conn_);
      fn();
    } else {
      fn();
    }
    hops_.fetch_sub(1, std::memory_order_relaxed);
    MaybeDelete();
  });
}

void ClientCallImpl::MaybeDelete() {
  if (done_delivered_ && hops_.load(std::memory_order_relaxed) == 0) delete this;
}

void ClientCallImpl::Write(absl::Span<const uint8_t> message, bool last, bool compress) {
  RunHop([this, message, last, compress] {
    if (done_ || out_.pending() || writes_done_) {
      if (!done_) {
        // One write at a time, none after the half-close: report it as done
        // with !ok so the caller's state machine goes on.
        handler_->OnWriteDone(false);
      }
      return;
    }
    out_.Start(message, compress && options_.compression == "gzip");
    write_last_ = last;
    if (last) writes_done_ = true;
    PumpWrite();
  });
}

void ClientCallImpl::WritesDone() {
  RunHop([this] {
    if (done_ || writes_done_) return;
    writes_done_ = true;
    PumpWrite();
  });
}

void ClientCallImpl::Cancel() {
  RunHop([this] { Finish(absl::CancelledError("Cancelled")); });
}

void ClientCallImpl::PauseReads() {
  RunHop([this] { reads_paused_ = true; });
}

void ClientCallImpl::ResumeReads() {
  RunHop([this] {
    if (!reads_paused_) return;
    reads_paused_ = false;
    if (unconsumed_ > 0 && conn_ != nullptr && stream_id_ != 0) {
      conn_->session().Consume(stream_id_, unconsumed_);
    }
    unconsumed_ = 0;
  });
}

void ClientCallImpl::OpenOn(ClientConnection* conn) {
  const ChannelOptions& co = channel_->options();
  HeaderList& h = ThreadHeaderList();
  h.Add(":method", "POST");
  h.Add(":scheme", conn->secure() ? "https" : "http");
  h.Add(":path", method_);
  h.Add(":authority", channel_->authority());
  h.Add("content-type", kGrpcContentType);
  h.Add("te", "trailers");
  h.Add("user-agent", co.user_agent);
  h.Add("grpc-accept-encoding", kAcceptEncoding);
  if (options_.compression == "gzip") h.Add("grpc-encoding", "gzip");
  if (options_.deadline != absl::InfiniteFuture()) {
    h.AddOwned("grpc-timeout", EncodeTimeout(options_.deadline - absl::Now()),
               hpack::Indexing::kWithout);
  }
  h.AddMetadata(options_.metadata);
  const bool end = writes_done_ && !out_.pending();
  absl::StatusOr<uint32_t> id = conn->session().SubmitRequest(h.fields(), end, this);
  if (!id.ok()) {
    Finish(absl::Status(id.status().code() == absl::StatusCode::kInvalidArgument
                            ? absl::StatusCode::kInternal
                            : absl::StatusCode::kUnavailable,
                        id.status().message()));
    return;
  }
  stream_id_ = *id;
  end_sent_ = end;
  conn->AttachCall(this);
  PumpWrite();
}

void ClientCallImpl::PumpWrite() {
  if (in_write_loop_ || conn_ == nullptr || stream_id_ == 0 || done_) return;
  in_write_loop_ = true;
  while (true) {
    if (out_.pending() && stream_id_ != 0) {
      const OutgoingMessage::Progress p = out_.Send(*conn_, stream_id_, write_last_);
      if (p == OutgoingMessage::Progress::kDone) {
        if (write_last_) end_sent_ = true;
        write_done_owed_ = true;
      } else if (p == OutgoingMessage::Progress::kTransportBlocked) {
        conn_->WaitWritable(this);
      }
    }
    if (!out_.pending() && writes_done_ && !end_sent_ && stream_id_ != 0) {
      end_sent_ = true;
      (void)conn_->session().SendData(stream_id_, {}, true);
    }
    if (write_done_owed_) {
      write_done_owed_ = false;
      any_write_done_ = true;
      handler_->OnWriteDone(true);
      if (out_.pending() || write_done_owed_ || (writes_done_ && !end_sent_)) continue;
    }
    break;
  }
  in_write_loop_ = false;
}

void ClientCallImpl::OnResponseHeaders(const http2::ReceivedHeaders& h, bool end_stream) {
  if (done_) return;
  if (h.oversized) {
    Finish(absl::ResourceExhaustedError("response metadata exceeds the limit"));
    return;
  }
  absl::string_view grpc_status, grpc_message, content_type, encoding;
  bool has_status = false;
  for (const hpack::HeaderField& f : h.fields) {
    if (f.name == "grpc-status") {
      grpc_status = f.value;
      has_status = true;
    } else if (f.name == "grpc-message") {
      grpc_message = f.value;
    } else if (f.name == "content-type") {
      content_type = f.value;
    } else if (f.name == "grpc-encoding") {
      encoding = f.value;
    }
  }
  if (!got_headers_) {
    if (h.informational) return;
    got_headers_ = true;
    int http = 0;
    (void)absl::SimpleAtoi(h.pseudo.status, &http);
    if (http != 200) {
      absl::StatusCode code = has_status ? ParseGrpcStatus(grpc_status) : StatusCodeFromHttp(http);
      Finish(absl::Status(code, has_status ? PercentDecode(grpc_message)
                                           : absl::StrCat("HTTP status ", http)));
      return;
    }
    if (!end_stream) {
      if (!content_type.empty() && content_type.substr(0, kGrpcContentType.size()) != kGrpcContentType) {
        Finish(absl::UnknownError(absl::StrCat("invalid content-type '", content_type, "'")));
        return;
      }
      if (!encoding.empty() && !SupportedEncoding(encoding)) {
        Finish(absl::InternalError(absl::StrCat("unsupported response encoding '", encoding, "'")));
        return;
      }
      response_gzip_ = encoding == "gzip";
      ReceivedMetadata(h.fields, &initial_md_);
      handler_->OnInitialMetadata(initial_md_);
      return;
    }
    // Trailers-Only: the status is in these headers.
    ReceivedMetadata(h.fields, &trailers_);
  } else {
    if (!end_stream) return;  // the session refuses this; belt and braces
    ReceivedMetadata(h.fields, &trailers_);
  }
  // The server ended the stream: no RST_STREAM when we are done sending too
  // (the stream completes), NO_ERROR to stop a request still being sent.
  if (end_sent_) {
    stream_id_ = 0;
  } else {
    rst_code_ = http2::ErrorCode::kNoError;
  }
  if (!reader_.at_boundary()) {
    Finish(absl::InternalError("response ended inside a message"));
    return;
  }
  if (!has_status) {
    Finish(absl::UnknownError("response ended without grpc-status"));
    return;
  }
  Finish(absl::Status(ParseGrpcStatus(grpc_status), PercentDecode(grpc_message)));
}

void ClientCallImpl::OnResponseData(absl::Span<const uint8_t> bytes, bool end_stream) {
  if (done_) return;
  const uint32_t id = stream_id_;
  const size_t max = channel_->options().max_receive_message_size;
  absl::Status s = DeliverMessages(
      reader_, bytes, max, channel_->options().resources->storage, response_gzip_,
      [&] { return done_; }, [&](absl::Span<const uint8_t> msg) { handler_->OnMessage(msg); });
  if (conn_ != nullptr && id != 0 && stream_id_ == id) {
    if (reads_paused_) {
      unconsumed_ += bytes.size();
    } else {
      conn_->session().Consume(id, bytes.size());
    }
  }
  if (!s.ok()) {
    if (s.code() != absl::StatusCode::kCancelled) Finish(s);
    return;
  }
  if (end_stream) Finish(absl::InternalError("server ended the stream without trailers"));
}

void ClientCallImpl::OnStreamGone(http2::ErrorCode code, http2::CloseCause cause) {
  ClientConnection* conn = conn_;
  stream_id_ = 0;
  if (done_) return;
  if (cause == http2::CloseCause::kRefused && !any_write_done_ && !got_headers_ &&
      !channel_->shut_down()) {
    // Never processed by the server: safe to send again on a new connection.
    conn->DetachCall(this);
    reader_.Reset();
    out_.Rewind();
    end_sent_ = false;
    channel_->calls_retried_.fetch_add(1, std::memory_order_relaxed);
    channel_->Retry(this);
    return;
  }
  switch (cause) {
    case http2::CloseCause::kResetByPeer:
    case http2::CloseCause::kRefused:
      Finish(absl::Status(StatusCodeFromHttp2Error(code),
                          absl::StrCat("stream reset by the server: ", http2::ErrorCodeName(code))));
      break;
    case http2::CloseCause::kConnectionClosed: {
      absl::Status s = conn != nullptr ? conn->session().status() : absl::Status();
      Finish(absl::UnavailableError(
          s.ok() ? std::string("connection closed") : absl::StrCat("connection closed: ", s.message())));
      break;
    }
    default:
      Finish(absl::InternalError("stream closed before the call's status"));
      break;
  }
}

void ClientCallImpl::Finish(absl::Status status) {
  if (done_) return;
  done_ = true;
  status_ = std::move(status);
  if (out_.pending()) {
    out_.Clear();
    handler_->OnWriteDone(false);
  }
  if (conn_ != nullptr) {
    if (stream_id_ != 0) {
      const uint32_t id = stream_id_;
      stream_id_ = 0;
      conn_->session().ResetStream(id, rst_code_);
    }
    conn_->QueueDone(this);
    return;
  }
  // Not on a connection (queued in the channel): deliver from a task.
  channel_->Remove(this);
  hops_.fetch_add(1, std::memory_order_relaxed);
  ClientCallImpl* self = this;
  if (!channel_->reactor().Post([self] {
        self->hops_.fetch_sub(1, std::memory_order_relaxed);
        self->DeliverDone();
      })) {
    hops_.fetch_sub(1, std::memory_order_relaxed);
    DeliverDone();
  }
}

void ClientCallImpl::DeliverDone() {
  if (done_delivered_) return;
  done_delivered_ = true;
  reader_.Reset();
  handler_->OnDone(status_, trailers_);
  MaybeDelete();
}

// ---------------------------------------------------------------------------
// ClientConnection

ClientConnection::~ClientConnection() {
  EndSession(absl::UnavailableError("connection destroyed"));
  Reap();
}

bool ClientConnection::CanOpen() const {
  if (draining_ || transport_ended()) return false;
  const http2::Session& s = const_cast<ClientConnection*>(this)->session();
  return s.status().ok() && !s.goaway_received() &&
         s.open_streams() < s.peer_settings().max_concurrent_streams;
}

void ClientConnection::AttachCall(ClientCallImpl* call) {
  call->conn_ = this;
  call->prev = nullptr;
  call->next = calls_;
  if (calls_ != nullptr) calls_->prev = call;
  calls_ = call;
  ++live_calls_;
}

void ClientConnection::DetachCall(ClientCallImpl* call) {
  if (call->conn_ != this) return;
  if (call->prev != nullptr) call->prev->next = call->next;
  if (call->next != nullptr) call->next->prev = call->prev;
  if (calls_ == call) calls_ = call->next;
  call->prev = call->next = nullptr;
  call->conn_ = nullptr;
  if (--live_calls_ == 0) idle_since_ns_ = absl::GetCurrentTimeNanos();
}

void ClientConnection::QueueDone(ClientCallImpl* call) {
  DetachCall(call);
  call->next = done_;
  done_ = call;
}

void ClientConnection::Reap() {
  while (done_ != nullptr) {
    ClientCallImpl* c = done_;
    done_ = c->next;
    c->next = nullptr;
    c->DeliverDone();
  }
}

void ClientConnection::OnDispatchEnd() {
  Reap();
  // Streams freed up: queued calls may start.
  channel_->Pump();
}

size_t ClientConnection::HeapBytes() const {
  size_t bytes = sizeof(*this) + TransportHeapBytes();
  for (ClientCallImpl* c = calls_; c != nullptr; c = c->next) {
    bytes += sizeof(ClientCallImpl) + c->reader_.HeapBytes();
  }
  return bytes;
}

void ClientConnection::OnHeaders(uint32_t id, void* data, const http2::ReceivedHeaders& h,
                                 bool end) {
  Touch();
  if (data != nullptr) static_cast<ClientCallImpl*>(data)->OnResponseHeaders(h, end);
}

void ClientConnection::OnData(uint32_t id, void* data, absl::Span<const uint8_t> bytes, bool end) {
  Touch();
  if (data == nullptr) {
    session().Consume(id, bytes.size());
    return;
  }
  static_cast<ClientCallImpl*>(data)->OnResponseData(bytes, end);
}

void ClientConnection::OnStreamClose(uint32_t id, void* data, http2::ErrorCode code,
                                     http2::CloseCause cause) {
  if (data != nullptr) static_cast<ClientCallImpl*>(data)->OnStreamGone(code, cause);
}

void ClientConnection::OnGoaway(uint32_t last, http2::ErrorCode code, absl::string_view debug) {
  Touch();
  draining_ = true;
  channel_->GoawayReceived(this, code, debug);
}

void ClientConnection::OnPing(uint64_t payload, bool ack) {
  Touch();
  if (ack) awaiting_ping_ack_ = false;
}

void ClientConnection::OnWindowAvailable(uint32_t id, void* data) {
  if (data != nullptr) static_cast<ClientCallImpl*>(data)->PumpWrite();
}

void ClientConnection::OnTransportWritable() {
  for (ClientCallImpl* c = calls_; c != nullptr;) {
    ClientCallImpl* next = c->next;
    if (c->waiting_transport_) {
      c->waiting_transport_ = false;
      c->PumpWrite();
    }
    c = next;
  }
}

void ClientConnection::Touch() {
  if (channel_->keepalive_time_ != absl::InfiniteDuration()) {
    last_read_ns_ = absl::GetCurrentTimeNanos();
  }
}

bool ClientConnection::KeepaliveActive() const {
  return channel_->keepalive_time_ != absl::InfiniteDuration() &&
         (live_calls_ > 0 || channel_->options().keepalive_permit_without_calls);
}

absl::Time ClientConnection::NextTimer() const {
  absl::Time at = absl::InfiniteFuture();
  for (ClientCallImpl* c = calls_; c != nullptr; c = c->next) {
    at = std::min(at, c->options_.deadline);
  }
  // The watchdog: an ack (or any read) is due keepalive_timeout after the
  // ping, which went out keepalive_time after the last read.
  if (awaiting_ping_ack_) {
    at = std::min(at, last_read() + channel_->keepalive_time_ + channel_->options().keepalive_timeout);
  } else if (KeepaliveActive()) {
    at = std::min(at, last_read() + channel_->keepalive_time_);
  }
  const absl::Duration idle = channel_->options().idle_timeout;
  if (live_calls_ == 0 && idle != absl::InfiniteDuration() && !draining_) {
    at = std::min(at, idle_since() + idle);
  }
  return at;
}

void ClientConnection::OnTimer(absl::Time now) {
  for (ClientCallImpl* c = calls_; c != nullptr;) {
    ClientCallImpl* next = c->next;
    if (now >= c->options_.deadline) c->Finish(absl::DeadlineExceededError("Deadline Exceeded"));
    c = next;
  }
  if (awaiting_ping_ack_ &&
      now >= last_read() + channel_->keepalive_time_ + channel_->options().keepalive_timeout) {
    AbortTransport(absl::UnavailableError("keepalive watchdog timeout: no PING ack"));
    return;
  }
  if (!awaiting_ping_ack_ && KeepaliveActive() && now >= last_read() + channel_->keepalive_time_) {
    awaiting_ping_ack_ = true;
    session().Ping(static_cast<uint64_t>(absl::ToUnixNanos(now)));
    channel_->keepalive_pings_.fetch_add(1, std::memory_order_relaxed);
  }
  const absl::Duration idle = channel_->options().idle_timeout;
  if (live_calls_ == 0 && idle != absl::InfiniteDuration() && !draining_ &&
      now >= idle_since() + idle) {
    draining_ = true;
    channel_->GoawayReceived(this, http2::ErrorCode::kNoError, "idle");
    session().GoAway(http2::ErrorCode::kNoError, "client idle");
  }
}

void ClientConnection::OnTransportEnd(const absl::Status& status) {
  Reap();
  channel_->ConnectionEnded(this, status);
  DeleteLater();
}

// ---------------------------------------------------------------------------
// ChannelImpl

void ChannelImpl::StartCall(ClientCallImpl* call) {
  calls_started_.fetch_add(1, std::memory_order_relaxed);
  if (shutdown_) {
    call->Finish(absl::UnavailableError("channel shut down"));
    return;
  }
  absl::Status md = ValidateMetadata(call->options_.metadata);
  if (!md.ok()) {
    call->Finish(md);
    return;
  }
  if (call->options_.deadline <= absl::Now()) {
    call->Finish(absl::DeadlineExceededError("Deadline Exceeded"));
    return;
  }
  Enqueue(call);
  Pump();
}

void ChannelImpl::Enqueue(ClientCallImpl* call) {
  call->next = nullptr;
  call->prev = pending_tail_;
  if (pending_tail_ != nullptr) {
    pending_tail_->next = call;
  } else {
    pending_head_ = call;
  }
  pending_tail_ = call;
}

void ChannelImpl::Remove(ClientCallImpl* call) {
  bool queued = pending_head_ == call || call->prev != nullptr;
  if (!queued) return;
  if (call->prev != nullptr) call->prev->next = call->next;
  if (call->next != nullptr) call->next->prev = call->prev;
  if (pending_head_ == call) pending_head_ = call->next;
  if (pending_tail_ == call) pending_tail_ = call->prev;
  call->prev = call->next = nullptr;
}

void ChannelImpl::Retry(ClientCallImpl* call) {
  Enqueue(call);
  // Pumped at the end of the dispatch (ClientConnection::OnDispatchEnd).
}

void ChannelImpl::Pump() {
  if (shutdown_) return;
  while (pending_head_ != nullptr && current_ != nullptr && current_->CanOpen()) {
    ClientCallImpl* call = pending_head_;
    Remove(call);
    H2Transport::DispatchScope scope(current_);
    if (current_->session().stream_ids_exhausted()) {
      // This connection can open no more streams: drain it, use a new one.
      Enqueue(call);
      ClientConnection* old = current_;
      old->set_draining();
      GoawayReceived(old, http2::ErrorCode::kNoError, "stream ids used up");
      old->session().GoAway(http2::ErrorCode::kNoError, "stream ids used up");
      break;
    }
    call->OpenOn(current_);
  }
  if (pending_head_ == nullptr) {
    UpdateTimer();
    return;
  }
  if (current_ == nullptr && !connecting_) {
    if (absl::Now() < retry_at_) {
      FailPending(absl::UnavailableError(last_error_.message()), /*keep_wait_for_ready=*/true);
    } else {
      Dial();
    }
  }
  UpdateTimer();
}

void ChannelImpl::Dial() {
  connecting_ = true;
  state_.store(ConnectivityState::kConnecting, std::memory_order_release);
  connects_attempted_.fetch_add(1, std::memory_order_relaxed);
  std::weak_ptr<ChannelImpl> weak = weak_from_this();
  if (options_.alts != nullptr) {
    absl::StatusOr<SocketAddress> address = ParseSocketAddress(target_);
    if (!address.ok()) {
      DialFailed(address.status());
      return;
    }
    absl::StatusOr<std::unique_ptr<HandshakeDriver>> d = HandshakeDriver::CreateDialing(
        reactor_, *address, options_.alts, options_.alts_params, options_.resources,
        &HandshakeLimiter::Global(), [weak](absl::StatusOr<EstablishedConnection> outcome) {
          std::shared_ptr<ChannelImpl> self = weak.lock();
          if (self == nullptr) return;
          self->alts_connect_.reset();  // the driver moved this callback out first
          if (!outcome.ok()) {
            self->DialFailed(outcome.status());
          } else {
            self->Connected(std::move(outcome->connection));
          }
        });
    if (!d.ok()) {
      DialFailed(d.status());
      return;
    }
    alts_connect_ = std::move(*d);
    return;
  }
  const absl::Duration timeout = std::max(options_.backoff.min_connect_timeout, backoff_);
  plain_connect_ = PlainConnector::Start(
      reactor_, target_, options_.resources, timeout,
      [weak](absl::StatusOr<std::unique_ptr<SecureConnection>> conn) {
        std::shared_ptr<ChannelImpl> self = weak.lock();
        if (self == nullptr) return;
        self->plain_connect_.reset();  // the connector moved this callback out first
        if (!conn.ok()) {
          self->DialFailed(conn.status());
        } else {
          self->Connected(std::move(*conn));
        }
      });
}

void ChannelImpl::Connected(std::unique_ptr<SecureConnection> conn) {
  connecting_ = false;
  if (shutdown_) return;  // `conn` closes
  connects_succeeded_.fetch_add(1, std::memory_order_relaxed);
  backoff_ = options_.backoff.initial;
  retry_at_ = absl::InfinitePast();
  state_.store(ConnectivityState::kReady, std::memory_order_release);
  if (keepalive_time_ == absl::InfiniteDuration()) keepalive_time_ = options_.keepalive_time;
  auto* c = new ClientConnection(shared_from_this(), reactor_, &options_.http2,
                                 options_.alts != nullptr);
  current_ = c;
  c->Attach(std::move(conn));
  Pump();
}

void ChannelImpl::DialFailed(const absl::Status& status) {
  connecting_ = false;
  last_error_ = status;
  state_.store(ConnectivityState::kTransientFailure, std::memory_order_release);
  const absl::Duration wait = backoff_ * Jitter(options_.backoff.jitter);
  retry_at_ = absl::Now() + wait;
  backoff_ = std::min(backoff_ * options_.backoff.multiplier, options_.backoff.max);
  FailPending(absl::UnavailableError(absl::StrCat("connect to ", target_, " failed: ", status.message())),
              /*keep_wait_for_ready=*/true);
  UpdateTimer();
}

void ChannelImpl::FailPending(const absl::Status& status, bool keep_wait_for_ready) {
  ClientCallImpl* c = pending_head_;
  while (c != nullptr) {
    ClientCallImpl* next = c->next;
    if (!(keep_wait_for_ready && c->options_.wait_for_ready)) c->Finish(status);
    c = next;
  }
}

void ChannelImpl::UpdateTimer() {
  absl::Time at = absl::InfiniteFuture();
  bool waiting = false;
  for (ClientCallImpl* c = pending_head_; c != nullptr; c = c->next) {
    at = std::min(at, c->options_.deadline);
    waiting = true;
  }
  if (waiting && current_ == nullptr && !connecting_ && retry_at_ != absl::InfinitePast()) {
    at = std::min(at, retry_at_);
  }
  if (at == absl::InfiniteFuture()) {
    timer_.reset();
    return;
  }
  if (timer_ == nullptr) {
    absl::StatusOr<std::unique_ptr<ReactorEvent>> t =
        ReactorEvent::CreateTimer(reactor_, [this](short) { OnTimer(); });
    if (!t.ok()) return;
    timer_ = std::move(*t);
  }
  (void)timer_->Add(std::max(at - absl::Now(), absl::ZeroDuration()));
}

void ChannelImpl::OnTimer() {
  std::shared_ptr<ChannelImpl> keep = shared_from_this();
  const absl::Time now = absl::Now();
  for (ClientCallImpl* c = pending_head_; c != nullptr;) {
    ClientCallImpl* next = c->next;
    if (now >= c->options_.deadline) c->Finish(absl::DeadlineExceededError("Deadline Exceeded"));
    c = next;
  }
  Pump();
}

void ChannelImpl::ConnectionEnded(ClientConnection* c, const absl::Status& status) {
  if (current_ == c) {
    current_ = nullptr;
    if (!shutdown_) {
      last_error_ = status;
      state_.store(ConnectivityState::kIdle, std::memory_order_release);
    }
  }
  for (ClientConnection** p = &draining_; *p != nullptr; p = &(*p)->next_draining) {
    if (*p == c) {
      *p = c->next_draining;
      break;
    }
  }
  if (shutdown_ && !has_connections() && on_ended_) std::exchange(on_ended_, nullptr)();
}

void ChannelImpl::GoawayReceived(ClientConnection* c, http2::ErrorCode code,
                                 absl::string_view debug) {
  if (code == http2::ErrorCode::kEnhanceYourCalm && debug == "too_many_pings" &&
      keepalive_time_ != absl::InfiniteDuration()) {
    keepalive_time_ = std::min(keepalive_time_ * 2, absl::Hours(24 * 365));  // as gRPC
  }
  if (current_ == c) {
    current_ = nullptr;
    c->next_draining = draining_;
    draining_ = c;
    state_.store(ConnectivityState::kIdle, std::memory_order_release);
  }
}

void ChannelImpl::Shutdown() {
  if (shutdown_) return;
  shutdown_ = true;
  state_.store(ConnectivityState::kShutdown, std::memory_order_release);
  plain_connect_.reset();
  alts_connect_.reset();
  connecting_ = false;
  FailPending(absl::UnavailableError("channel shut down"), /*keep_wait_for_ready=*/false);
  timer_.reset();
  std::vector<ClientConnection*> all;
  if (current_ != nullptr) all.push_back(current_);
  for (ClientConnection* d = draining_; d != nullptr; d = d->next_draining) all.push_back(d);
  for (ClientConnection* c : all) {
    H2Transport::DispatchScope scope(c);
    c->session().GoAway(http2::ErrorCode::kNoError, "channel shut down");
    c->AbortTransport(absl::UnavailableError("channel shut down"));
  }
}

size_t ChannelImpl::HeapBytesOnReactor() const {
  size_t bytes = 0;
  if (current_ != nullptr) bytes += current_->HeapBytes();
  for (ClientConnection* d = draining_; d != nullptr; d = d->next_draining) bytes += d->HeapBytes();
  return bytes;
}

size_t ChannelImpl::LeasedOnReactor() const {
  size_t n = 0;
  if (current_ != nullptr) n += current_->LeasedBuffers();
  for (ClientConnection* d = draining_; d != nullptr; d = d->next_draining) n += d->LeasedBuffers();
  return n;
}

// ---------------------------------------------------------------------------
// Channel

absl::StatusOr<std::unique_ptr<Channel>> Channel::Create(const std::string& target,
                                                         ChannelOptions options) {
  return Create(target, std::make_shared<const ChannelOptions>(std::move(options)));
}

absl::StatusOr<std::unique_ptr<Channel>> Channel::Create(
    const std::string& target, std::shared_ptr<const ChannelOptions> shared) {
  if (shared == nullptr) return absl::InvalidArgumentError("Channel: options are required");
  const ChannelOptions& options = *shared;
  if (options.group == nullptr || options.resources == nullptr) {
    return absl::InvalidArgumentError("Channel: a reactor group and connection resources are required");
  }
  if (!ParseUnixAddress(target).has_value()) {
    absl::StatusOr<SocketAddress> parsed = ParseSocketAddress(target);
    if (!parsed.ok()) return parsed.status();
  } else if (options.alts != nullptr) {
    return absl::InvalidArgumentError("Channel: ALTS runs over TCP targets only");
  }
  Reactor& reactor = options.group->Pick(options.placement_key);
  auto impl = std::make_shared<ChannelImpl>(target, std::move(shared), reactor);
  return std::unique_ptr<Channel>(new Channel(std::move(impl)));
}

Channel::~Channel() { Shutdown(); }

ClientCall* Channel::StartCall(absl::string_view method, CallOptions options,
                               ClientCallHandler* handler) {
  auto* call = new ClientCallImpl(impl_, method, std::move(options), handler);
  std::shared_ptr<ChannelImpl> impl = impl_;
  if (impl->reactor().InReactorThread()) {
    impl->StartCall(call);
  } else {
    call->hops_.fetch_add(1, std::memory_order_relaxed);
    if (!impl->reactor().Post([impl, call] {
          call->hops_.fetch_sub(1, std::memory_order_relaxed);
          impl->StartCall(call);
        })) {
      call->hops_.fetch_sub(1, std::memory_order_relaxed);
      call->status_ = absl::UnavailableError("reactor shut down");
      call->done_ = true;
      call->DeliverDone();
    }
  }
  return call;
}

void Channel::Connect() {
  std::shared_ptr<ChannelImpl> impl = impl_;
  auto fn = [impl] {
    if (impl->current_ == nullptr && !impl->connecting_ && !impl->shutdown_) impl->Dial();
  };
  if (impl->reactor().InReactorThread()) {
    fn();
  } else {
    (void)impl->reactor().Post(fn);
  }
}

ConnectivityState Channel::state() const { return impl_->state(); }

void Channel::Shutdown() {
  std::shared_ptr<ChannelImpl> impl = impl_;
  if (impl->reactor().InReactorThread()) {
    impl->Shutdown();
    return;
  }
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  if (!impl->reactor().Post([&, impl] {
        impl->Shutdown();
        auto signal = [&] {
          std::lock_guard<std::mutex> lock(mu);
          done = true;
          cv.notify_all();
        };
        // Aborted connections end on the reactor's next turn: wait for them.
        if (impl->has_connections()) {
          impl->on_ended_ = std::move(signal);
        } else {
          signal();
        }
      })) {
    return;  // the reactor is gone: nothing runs there any more
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
}

Reactor& Channel::reactor() const { return impl_->reactor(); }

ChannelStats Channel::stats() const {
  ChannelStats s;
  s.connects_attempted = impl_->connects_attempted_.load(std::memory_order_relaxed);
  s.connects_succeeded = impl_->connects_succeeded_.load(std::memory_order_relaxed);
  s.calls_started = impl_->calls_started_.load(std::memory_order_relaxed);
  s.calls_retried = impl_->calls_retried_.load(std::memory_order_relaxed);
  s.keepalive_pings = impl_->keepalive_pings_.load(std::memory_order_relaxed);
  return s;
}

namespace {
template <typename T, typename F>
T OnReactorAndWait(Reactor& r, F fn) {
  if (r.InReactorThread()) return fn();
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  T out{};
  if (!r.Post([&] {
        T v = fn();
        std::lock_guard<std::mutex> lock(mu);
        out = v;
        done = true;
        cv.notify_all();
      })) {
    return out;
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  return out;
}
}  // namespace

size_t Channel::ConnectionHeapBytes() const {
  std::shared_ptr<ChannelImpl> impl = impl_;
  return OnReactorAndWait<size_t>(impl->reactor(), [impl] { return impl->HeapBytesOnReactor(); });
}

size_t Channel::ConnectionLeasedBuffers() const {
  std::shared_ptr<ChannelImpl> impl = impl_;
  return OnReactorAndWait<size_t>(impl->reactor(), [impl] { return impl->LeasedOnReactor(); });
}

}  // namespace alts::rpc
