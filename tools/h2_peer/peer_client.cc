#include "tools/h2_peer/peer_client.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "alts_ondemand/version.h"
#include "conn/plain_listener.h"
#include "conn/secure_listener.h"
#include "rpc/h2_transport.h"
#include "tools/h2_peer/pattern.h"

namespace alts::h2peer {
namespace {

// kBodyChunk: request body bytes generated per SendData call.
constexpr size_t kBodyChunk = 64 * 1024;
// kEndGrace: after the last response, how long the run waits for the
// connection to close (our GOAWAY, the peer's EOF) before cutting it.
const absl::Duration kEndGrace = rpc::kCloseLinger + absl::Seconds(1);

// Request is one request of the run (retried as the same Request).
struct Request {
  bool echo = false;
  uint64_t size = 0;
  uint32_t seed = 0;  // of the echo body; GET bodies are seed 0
  int attempts = 0;
};

std::string Describe(const Request& r, const ClientOptions& o) {
  return r.echo ? absl::StrCat("POST ", o.echo_path, " (", r.size, " bytes, seed ", r.seed, ")")
                : absl::StrCat("GET ", o.get_prefix, r.size);
}

class ClientConnection;

// ClientRun is one RunClient call: the requests, the connection and what
// the main thread waits for. Everything but the mutex-guarded part runs on
// reactor 0.
class ClientRun {
 public:
  ClientRun(interop::Runtime& runtime, const ClientOptions& options);
  ClientResult Run();

  // The connection's side (reactor thread).
  const ClientOptions& options() const { return options_; }
  // Next returns the next request to send, or nullptr if none is waiting.
  Request* Next();
  void Requeue(Request* r) { queue_.push_front(r); }
  // Finished records the outcome of `r`; `error` empty means it passed.
  void Finished(const Request& r, uint64_t bytes_verified, const std::string& error);
  bool all_finished() const { return finished_ == requests_.size(); }
  void NoteInFlight(uint32_t n) { max_in_flight_ = std::max(max_in_flight_, n); }
  // TransportEnded: the connection is gone; unfinished requests fail.
  void TransportEnded(const absl::Status& status);

 private:
  void Dial();
  void Connected(std::unique_ptr<SecureConnection> connection, std::string account);
  void FailAll(const std::string& why);
  void MarkDone();

  interop::Runtime& runtime_;
  const ClientOptions options_;
  Reactor& reactor_;
  http2::SessionOptions session_options_;
  std::vector<Request> requests_;
  std::deque<Request*> queue_;
  size_t finished_ = 0;
  uint32_t max_in_flight_ = 0;
  absl::Time started_;
  std::unique_ptr<PlainConnector> connector_;
  std::unique_ptr<SecureDialer> dialer_;
  ClientConnection* conn_ = nullptr;

  std::mutex mu_;
  std::condition_variable cv_;
  ClientResult result_;  // guarded by mu_ once done_ or ended_ is set
  bool done_ = false;    // every request finished (or the run gave up)
  bool ended_ = false;   // the transport ended (or never started)
};

// ClientConnection runs the requests over one connection.
class ClientConnection final : public rpc::H2Transport {
 public:
  ClientConnection(ClientRun* run, Reactor& reactor, const http2::SessionOptions* options)
      : H2Transport(reactor, http2::Role::kClient, options), run_(run) {}
  ~ClientConnection() override {
    EndSession(absl::CancelledError("client run over"));
    Reap();
  }

 private:
  // Stream is one attempt of a request.
  struct Stream {
    Request* request = nullptr;
    uint32_t id = 0;
    uint64_t sent = 0;      // echo body bytes handed to the session
    uint64_t received = 0;  // response body bytes
    int status = -1;
    int64_t content_length = -1;
    std::string error;  // the first thing found wrong
    bool closed = false;
    Stream* prev = nullptr;
    Stream* next = nullptr;
  };

  // SessionHandler:
  void OnHeaders(uint32_t id, void* data, const http2::ReceivedHeaders& h, bool end) override;
  void OnData(uint32_t id, void* data, absl::Span<const uint8_t> bytes, bool end) override;
  void OnStreamClose(uint32_t id, void* data, http2::ErrorCode code,
                     http2::CloseCause cause) override;
  void OnWindowAvailable(uint32_t, void* data) override {
    if (data != nullptr) PumpBody(static_cast<Stream*>(data));
  }
  void OnPeerSettings(const http2::Settings&) override { ready_ = true; }
  void OnGoaway(uint32_t, http2::ErrorCode code, absl::string_view debug) override {
    if (code != http2::ErrorCode::kNoError) {
      goaway_error_ = absl::StrCat("GOAWAY ", http2::ErrorCodeName(code), " \"", debug, "\"");
    }
  }
  // H2Transport:
  void OnTransportEnd(const absl::Status& status) override { run_->TransportEnded(status); }
  void OnTransportWritable() override {
    for (Stream* s = live_; s != nullptr;) {
      Stream* next = s->next;  // PumpBody may close s (it stays allocated until Reap)
      PumpBody(s);
      s = next;
    }
  }
  void OnDispatchEnd() override;

  // StartMore opens streams for waiting requests while the server allows.
  void StartMore();
  bool Open(Request* r);
  void PumpBody(Stream* s);
  void Reap();

  ClientRun* const run_;
  Stream* live_ = nullptr;
  Stream* dead_ = nullptr;
  uint32_t in_flight_ = 0;
  bool ready_ = false;  // the server's SETTINGS arrived: its limits are known
  bool goaway_sent_ = false;
  std::string goaway_error_;
};

void ClientConnection::OnDispatchEnd() {
  Reap();
  if (transport_ended() || goaway_sent_) return;
  if (run_->all_finished()) {
    // Done: a graceful GOAWAY; the transport closes once it is out.
    goaway_sent_ = true;
    session().GoAway(http2::ErrorCode::kNoError, "done");
    return;
  }
  if (ready_) StartMore();
}

void ClientConnection::StartMore() {
  const uint32_t limit = std::max<uint32_t>(1, run_->options().concurrent);
  while (in_flight_ < limit) {
    Request* r = run_->Next();
    if (r == nullptr) return;
    if (!Open(r)) return;
  }
}

bool ClientConnection::Open(Request* r) {
  const ClientOptions& o = run_->options();
  const std::string path = r->echo ? o.echo_path : absl::StrCat(o.get_prefix, r->size);
  const std::string length = absl::StrCat(r->size);
  const std::string agent = absl::StrCat("h2_peer/", kVersion);
  std::vector<hpack::HeaderField> fields = {
      {":method", r->echo ? "POST" : "GET"},
      {":scheme", "http"},
      {":path", path},
      {":authority", o.authority.empty() ? o.address : o.authority},
      {"user-agent", agent},
  };
  if (r->echo) {
    fields.push_back({"content-type", "application/octet-stream"});
    fields.push_back({"content-length", length});
  }
  auto* s = new Stream;
  s->request = r;
  const bool end = !r->echo || r->size == 0;
  absl::StatusOr<uint32_t> id = session().SubmitRequest(fields, end, s);
  if (!id.ok()) {
    delete s;
    if (id.status().code() == absl::StatusCode::kResourceExhausted &&
        !session().stream_ids_exhausted()) {
      run_->Requeue(r);  // at the server's MAX_CONCURRENT_STREAMS: after a close
    } else {
      run_->Finished(*r, 0, absl::StrCat(Describe(*r, o), ": cannot open a stream: ",
                                          goaway_error_.empty() ? id.status().ToString()
                                                                : goaway_error_));
    }
    return false;
  }
  ++r->attempts;
  s->id = *id;
  s->next = live_;
  if (live_ != nullptr) live_->prev = s;
  live_ = s;
  ++in_flight_;
  run_->NoteInFlight(in_flight_);
  PumpBody(s);
  return true;
}

void ClientConnection::PumpBody(Stream* s) {
  if (!s->request->echo) return;
  thread_local std::vector<uint8_t> chunk(kBodyChunk);
  const Request& r = *s->request;
  while (s->sent < r.size && !s->closed) {
    if (!can_send_data()) return;  // OnTransportWritable
    // With no window, SendData takes nothing and OnWindowAvailable follows:
    // offer one byte then.
    const size_t window = std::max<size_t>(session().SendWindow(s->id), 1);
    const uint64_t left = r.size - s->sent;
    const size_t n = static_cast<size_t>(std::min<uint64_t>({left, window, chunk.size()}));
    FillPattern(r.seed, s->sent, absl::MakeSpan(chunk.data(), n));
    absl::StatusOr<size_t> took =
        session().SendData(s->id, absl::MakeConstSpan(chunk.data(), n), n == left);
    if (!took.ok()) return;
    s->sent += *took;
    if (*took < n) return;  // OnWindowAvailable
  }
}

void ClientConnection::OnHeaders(uint32_t, void* data, const http2::ReceivedHeaders& h, bool) {
  Stream* s = static_cast<Stream*>(data);
  if (s == nullptr || h.kind != http2::HeaderBlockKind::kResponse || h.informational) return;
  if (h.oversized) {
    if (s->error.empty()) s->error = "response headers over our limit";
    return;
  }
  int status = 0;
  if (!absl::SimpleAtoi(h.pseudo.status, &status)) status = 0;
  s->status = status;
  s->content_length = h.pseudo.content_length;
}

void ClientConnection::OnData(uint32_t id, void* data, absl::Span<const uint8_t> bytes, bool) {
  session().Consume(id, bytes.size());
  Stream* s = static_cast<Stream*>(data);
  if (s == nullptr || bytes.empty()) return;
  const Request& r = *s->request;
  const uint64_t offset = s->received;
  s->received += bytes.size();
  if (!s->error.empty()) return;
  if (s->received > r.size) {
    s->error = absl::StrCat("more than the ", r.size, " body bytes expected");
    return;
  }
  const uint32_t seed = r.echo ? r.seed : 0;
  if (std::optional<size_t> bad = FindMismatch(seed, offset, bytes)) {
    s->error = absl::StrFormat("body byte %d is 0x%02x, want 0x%02x", offset + *bad, bytes[*bad],
                               PatternByte(seed, offset + *bad));
  }
}

void ClientConnection::OnStreamClose(uint32_t, void* data, http2::ErrorCode code,
                                     http2::CloseCause cause) {
  Stream* s = static_cast<Stream*>(data);
  if (s == nullptr) return;
  s->closed = true;
  --in_flight_;
  if (s->prev != nullptr) s->prev->next = s->next;
  if (s->next != nullptr) s->next->prev = s->prev;
  if (live_ == s) live_ = s->next;
  s->prev = nullptr;
  s->next = dead_;
  dead_ = s;

  Request* r = s->request;
  if (cause == http2::CloseCause::kRefused && r->attempts < kMaxRequestAttempts) {
    run_->Requeue(r);  // the server did not process it: safe to send again
    return;
  }
  std::string error = s->error;
  if (error.empty()) {
    switch (cause) {
      case http2::CloseCause::kCompleted:
        if (s->status != 200) {
          error = absl::StrCat("status ", s->status);
        } else if (s->received != r->size) {
          error = absl::StrCat(s->received, " body bytes, want ", r->size);
        } else if (s->content_length >= 0 && static_cast<uint64_t>(s->content_length) != r->size) {
          error = absl::StrCat("content-length ", s->content_length, ", want ", r->size);
        }
        break;
      case http2::CloseCause::kResetByPeer:
        error = absl::StrCat("reset by the server: ", http2::ErrorCodeName(code));
        break;
      case http2::CloseCause::kResetByUs:
        error = absl::StrCat("reset by us: ", http2::ErrorCodeName(code));
        break;
      case http2::CloseCause::kRefused:
        error = absl::StrCat("refused ", r->attempts, " times");
        break;
      case http2::CloseCause::kConnectionClosed:
        error = absl::StrCat("connection closed: ",
                             goaway_error_.empty() ? session().status().ToString() : goaway_error_);
        break;
    }
  }
  const ClientOptions& o = run_->options();
  run_->Finished(*r, error.empty() ? s->received : 0,
                 error.empty() ? "" : absl::StrCat(Describe(*r, o), ": ", error));
}

void ClientConnection::Reap() {
  while (dead_ != nullptr) {
    Stream* s = dead_;
    dead_ = s->next;
    delete s;
  }
}

// ---------------------------------------------------------------------------
// ClientRun

ClientRun::ClientRun(interop::Runtime& runtime, const ClientOptions& options)
    : runtime_(runtime), options_(options), reactor_(runtime.group().reactor(0)) {
  for (uint32_t rep = 0; rep < options_.repeat; ++rep) {
    for (uint64_t n : options_.get_sizes) requests_.push_back(Request{false, n, 0});
    for (uint64_t n : options_.echo_sizes) {
      requests_.push_back(Request{true, n, static_cast<uint32_t>(requests_.size() + 1)});
    }
  }
  for (Request& r : requests_) queue_.push_back(&r);
  result_.requests = requests_.size();
}

Request* ClientRun::Next() {
  if (queue_.empty()) return nullptr;
  Request* r = queue_.front();
  queue_.pop_front();
  return r;
}

void ClientRun::Finished(const Request& r, uint64_t bytes_verified, const std::string& error) {
  if (all_finished()) return;  // the run gave up on it already (FailAll)
  ++finished_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error.empty()) {
      ++result_.passed;
      result_.bytes_verified += bytes_verified;
      ++(r.echo ? result_.echoes : result_.gets);
    } else {
      ++result_.failed;
      if (result_.first_error.empty()) result_.first_error = error;
    }
  }
  if (all_finished()) MarkDone();
}

void ClientRun::MarkDone() {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_) return;
  done_ = true;
  result_.elapsed = absl::Now() - started_;
  result_.max_in_flight = max_in_flight_;
  cv_.notify_all();
}

void ClientRun::FailAll(const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t left = requests_.size() - finished_;
    result_.failed += left;
    if (result_.first_error.empty() && left > 0) result_.first_error = why;
  }
  finished_ = requests_.size();
  queue_.clear();
  MarkDone();
}

void ClientRun::TransportEnded(const absl::Status& status) {
  if (!all_finished()) {
    const std::string why = status.ok() ? "closed by the server" : status.ToString();
    FailAll(conn_ == nullptr
                ? absl::StrCat("cannot connect to ", options_.address, ": ", why)
                : absl::StrCat("connection ended before every response: ", why));
  }
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = true;
  cv_.notify_all();
}

void ClientRun::Dial() {
  if (options_.alts == nullptr) {
    connector_ = PlainConnector::Start(
        reactor_, options_.address, runtime_.resources(), options_.timeout,
        [this](absl::StatusOr<std::unique_ptr<SecureConnection>> c) {
          connector_.reset();
          if (!c.ok()) {
            TransportEnded(c.status());
            return;
          }
          Connected(std::move(*c), "");
        });
    return;
  }
  DialerOptions dopts;
  dopts.resources = runtime_.resources();
  absl::StatusOr<std::unique_ptr<SecureDialer>> dialer =
      SecureDialer::Create(runtime_.group(), options_.alts, dopts);
  if (!dialer.ok()) {
    TransportEnded(dialer.status());
    return;
  }
  dialer_ = std::move(*dialer);
  HandshakeParams params;
  params.target_identities = options_.alts_targets;
  dialer_->Dial(options_.address, std::move(params),
                [this](Reactor&, absl::StatusOr<EstablishedConnection> outcome) {
                  if (!outcome.ok()) {
                    TransportEnded(outcome.status());
                    return;
                  }
                  Connected(std::move(outcome->connection), outcome->peer->service_account());
                });
}

void ClientRun::Connected(std::unique_ptr<SecureConnection> connection, std::string account) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    result_.server_account = std::move(account);
  }
  conn_ = new ClientConnection(this, reactor_, &session_options_);
  conn_->Attach(std::move(connection));
  if (requests_.empty()) MarkDone();
}

ClientResult ClientRun::Run() {
  started_ = absl::Now();
  if (!reactor_.Post([this] { Dial(); })) {
    result_.failed = result_.requests;
    result_.first_error = "the reactor is shutting down";
    return result_;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, absl::ToChronoMilliseconds(options_.timeout),
                    [this] { return done_; })) {
    lock.unlock();
    (void)runtime_.group().RunOnAllAndWait([this](Reactor& r) {
      if (&r != &reactor_) return;
      FailAll(absl::StrCat("timed out after ", absl::FormatDuration(options_.timeout), " with ",
                           finished_, " of ", requests_.size(), " requests done"));
    });
    lock.lock();
  }
  // The connection closes by itself after our GOAWAY; wait for that (bounded).
  cv_.wait_for(lock, absl::ToChronoMilliseconds(kEndGrace), [this] { return ended_; });
  lock.unlock();
  (void)runtime_.group().RunOnAllAndWait([this](Reactor& r) {
    if (&r != &reactor_) return;
    delete conn_;  // a task of its reactor, outside its callbacks
    conn_ = nullptr;
    connector_.reset();
  });
  if (dialer_ != nullptr) dialer_->Close();
  std::lock_guard<std::mutex> relock(mu_);
  return result_;
}

}  // namespace

ClientResult RunClient(interop::Runtime& runtime, const ClientOptions& options) {
  ClientRun run(runtime, options);
  return run.Run();
}

}  // namespace alts::h2peer
