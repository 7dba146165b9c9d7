#include "tools/h2_peer/peer_server.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "rpc/h2_transport.h"
#include "tools/h2_peer/pattern.h"

namespace alts::h2peer {
namespace {

// kBytesPrefix is the path prefix of the pattern resource.
constexpr absl::string_view kBytesPrefix = "/bytes/";
// kPatternChunk: pattern bytes generated per SendData call; a few frames'
// worth, so one call fills the peer's window in few steps.
constexpr size_t kPatternChunk = 64 * 1024;

// PatternScratch is the calling thread's buffer for generated pattern bytes.
absl::Span<uint8_t> PatternScratch() {
  thread_local std::vector<uint8_t> buf(kPatternChunk);
  return absl::MakeSpan(buf);
}

}  // namespace

// ServerConnection is one client connection of a PeerServer; it lives on
// its reactor and deletes itself when the transport ends.
class ServerConnection final : public rpc::H2Transport {
 public:
  ServerConnection(PeerServer* server, Reactor& reactor, std::string peer)
      : H2Transport(reactor, http2::Role::kServer, &server->options_),
        server_(server),
        peer_(std::move(peer)) {}
  ~ServerConnection() override {
    EndSession(absl::CancelledError("server stopped"));
    Reap();
  }

  ServerConnection* prev = nullptr;
  ServerConnection* next = nullptr;

 private:
  enum class Kind : uint8_t { kGet, kEcho, kRefused };
  // Stream is one request's state, attached as the session's stream data.
  struct Stream {
    uint32_t id = 0;
    Kind kind = Kind::kRefused;
    uint64_t size = 0;  // kGet: the body's length
    uint64_t sent = 0;  // body bytes handed to the session
    // kEcho: received bytes not yet sent back ([pending_off, end)).
    std::string pending;
    size_t pending_off = 0;
    bool request_ended = false;
    bool response_ended = false;
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
    if (data != nullptr) Pump(static_cast<Stream*>(data));
  }
  // H2Transport:
  void OnTransportEnd(const absl::Status& status) override;
  void OnTransportWritable() override {
    for (Stream* s = live_; s != nullptr;) {
      Stream* next = s->next;  // Pump may close s (it stays allocated until Reap)
      Pump(s);
      s = next;
    }
  }
  void OnDispatchEnd() override { Reap(); }

  void StartRequest(uint32_t id, const http2::ReceivedHeaders& h, bool end);
  void Refuse(Stream* s, absl::string_view status);
  // Pump sends what `s` has to send, as far as the windows and the
  // transport's queue allow.
  void Pump(Stream* s);
  void PumpGet(Stream* s);
  void PumpEcho(Stream* s);
  void Reap();

  PeerServer* const server_;
  const std::string peer_;
  Stream* live_ = nullptr;  // open streams
  Stream* dead_ = nullptr;  // closed streams, freed at the end of the dispatch
};

void ServerConnection::OnHeaders(uint32_t id, void* data, const http2::ReceivedHeaders& h,
                                 bool end) {
  if (data == nullptr) {
    StartRequest(id, h, end);
    return;
  }
  // Trailers of a request.
  Stream* s = static_cast<Stream*>(data);
  if (end) {
    s->request_ended = true;
    Pump(s);
  }
}

void ServerConnection::StartRequest(uint32_t id, const http2::ReceivedHeaders& h, bool end) {
  server_->requests_.fetch_add(1, std::memory_order_relaxed);
  auto* s = new Stream;
  s->id = id;
  s->request_ended = end;
  s->next = live_;
  if (live_ != nullptr) live_->prev = s;
  live_ = s;
  session().SetStreamData(id, s);
  if (h.oversized) {
    Refuse(s, "431");
    return;
  }
  const absl::string_view method = h.pseudo.method;
  absl::string_view path = h.pseudo.path;
  path = path.substr(0, path.find('?'));
  if (method == "POST") {
    s->kind = Kind::kEcho;
    server_->echoes_.fetch_add(1, std::memory_order_relaxed);
    std::string length;
    std::vector<hpack::HeaderField> fields = {{":status", "200"},
                                              {"content-type", "application/octet-stream"}};
    if (h.pseudo.content_length >= 0) {
      length = absl::StrCat(h.pseudo.content_length);
      fields.push_back({"content-length", length});
    }
    const bool empty = end;  // no body will come: the response is complete too
    if (!session().SubmitHeaders(id, fields, empty).ok()) return;
    s->response_ended = empty;
    return;
  }
  if (method != "GET") {
    Refuse(s, "405");
    return;
  }
  uint64_t n = 0;
  if (!absl::StartsWith(path, kBytesPrefix)) {
    Refuse(s, "404");
    return;
  }
  if (!absl::SimpleAtoi(path.substr(kBytesPrefix.size()), &n) || n > kMaxGetBytes) {
    Refuse(s, "400");
    return;
  }
  s->kind = Kind::kGet;
  s->size = n;
  server_->gets_.fetch_add(1, std::memory_order_relaxed);
  const std::string length = absl::StrCat(n);
  const hpack::HeaderField fields[] = {{":status", "200"},
                                       {"content-type", "application/octet-stream"},
                                       {"content-length", length}};
  if (!session().SubmitHeaders(id, fields, n == 0).ok()) return;
  s->response_ended = n == 0;
  Pump(s);
}

void ServerConnection::Refuse(Stream* s, absl::string_view status) {
  server_->refused_.fetch_add(1, std::memory_order_relaxed);
  s->kind = Kind::kRefused;
  const hpack::HeaderField fields[] = {{":status", status}, {"content-length", "0"}};
  if (session().SubmitHeaders(s->id, fields, true).ok()) s->response_ended = true;
}

void ServerConnection::OnData(uint32_t id, void* data, absl::Span<const uint8_t> bytes,
                              bool end) {
  Stream* s = static_cast<Stream*>(data);
  if (s == nullptr || s->kind != Kind::kEcho) {
    session().Consume(id, bytes.size());  // a body nobody wants: discarded
    if (s != nullptr && end) s->request_ended = true;
    return;
  }
  if (s->pending_off > 0 && s->pending_off >= s->pending.size() / 2) {
    s->pending.erase(0, s->pending_off);
    s->pending_off = 0;
  }
  s->pending.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (end) s->request_ended = true;
  Pump(s);
}

void ServerConnection::Pump(Stream* s) {
  if (s->closed || s->response_ended) return;
  if (s->kind == Kind::kGet) {
    PumpGet(s);
  } else if (s->kind == Kind::kEcho) {
    PumpEcho(s);
  }
}

void ServerConnection::PumpGet(Stream* s) {
  absl::Span<uint8_t> scratch = PatternScratch();
  while (s->sent < s->size && !s->closed) {
    if (!can_send_data()) return;  // OnTransportWritable
    // With no window, SendData takes nothing and OnWindowAvailable follows:
    // offer one byte then.
    const size_t window = std::max<size_t>(session().SendWindow(s->id), 1);
    const uint64_t left = s->size - s->sent;
    const size_t n = static_cast<size_t>(std::min<uint64_t>({left, window, scratch.size()}));
    FillPattern(0, s->sent, scratch.first(n));
    const bool last = n == left;
    absl::StatusOr<size_t> took = session().SendData(s->id, scratch.first(n), last);
    if (!took.ok()) return;
    s->sent += *took;
    server_->body_bytes_sent_.fetch_add(*took, std::memory_order_relaxed);
    if (last && *took == n) s->response_ended = true;
    if (*took < n) return;  // OnWindowAvailable
  }
}

void ServerConnection::PumpEcho(Stream* s) {
  while (!s->closed && !s->response_ended) {
    const absl::string_view rest = absl::string_view(s->pending).substr(s->pending_off);
    if (rest.empty() && !s->request_ended) return;  // OnData brings more
    if (!rest.empty() && !can_send_data()) return;  // OnTransportWritable
    const auto bytes = absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(rest.data()),
                                           rest.size());
    absl::StatusOr<size_t> took = session().SendData(s->id, bytes, s->request_ended);
    if (!took.ok()) return;
    if (*took == rest.size() && s->request_ended) s->response_ended = true;
    if (s->closed) return;  // the session freed nothing, but the stream is over
    s->pending_off += *took;
    s->sent += *took;
    server_->body_bytes_sent_.fetch_add(*took, std::memory_order_relaxed);
    // Only bytes sent back open the peer's window again: the echo never
    // holds more than the windows we gave.
    session().Consume(s->id, *took);
    if (*took < rest.size()) return;  // OnWindowAvailable
  }
}

void ServerConnection::OnStreamClose(uint32_t, void* data, http2::ErrorCode,
                                     http2::CloseCause cause) {
  Stream* s = static_cast<Stream*>(data);
  if (s == nullptr) return;
  (cause == http2::CloseCause::kCompleted ? server_->completed_ : server_->reset_)
      .fetch_add(1, std::memory_order_relaxed);
  s->closed = true;
  if (s->prev != nullptr) s->prev->next = s->next;
  if (s->next != nullptr) s->next->prev = s->prev;
  if (live_ == s) live_ = s->next;
  s->prev = nullptr;
  s->next = dead_;
  dead_ = s;
}

void ServerConnection::Reap() {
  while (dead_ != nullptr) {
    Stream* s = dead_;
    dead_ = s->next;
    delete s;
  }
}

void ServerConnection::OnTransportEnd(const absl::Status& status) {
  if (server_->verbose_) {
    std::fprintf(stderr, "h2_peer: connection from %s ended: %s\n", peer_.c_str(),
                 status.ToString().c_str());
  }
  server_->Forget(this);
  DeleteLater();
}

// ---------------------------------------------------------------------------
// PeerServer

PeerServer::PeerServer(interop::Runtime& runtime, bool verbose)
    : runtime_(runtime), verbose_(verbose), heads_(runtime.group().size(), nullptr) {}

absl::StatusOr<std::unique_ptr<PeerServer>> PeerServer::Start(
    interop::Runtime& runtime, const std::string& address,
    std::shared_ptr<const HandshakerConfig> alts, bool verbose) {
  std::unique_ptr<PeerServer> server(new PeerServer(runtime, verbose));
  PeerServer* self = server.get();
  if (alts != nullptr) {
    ListenOptions lo;
    lo.resources = runtime.resources();
    absl::StatusOr<std::unique_ptr<SecureListener>> l = SecureListener::Listen(
        runtime.group(), address, std::move(alts), lo,
        [self](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
          if (!outcome.ok()) {
            std::fprintf(stderr, "h2_peer: handshake failed: %s\n",
                         outcome.status().ToString().c_str());
            return;
          }
          self->Adopt(r, std::move(outcome->connection), outcome->peer_address,
                      outcome->peer->service_account());
        });
    if (!l.ok()) return l.status();
    server->address_ = (*l)->address().ToString();
    server->alts_ = std::move(*l);
    return server;
  }
  absl::StatusOr<std::unique_ptr<PlainListener>> l = PlainListener::Listen(
      runtime.group(), address, runtime.resources(), [self](Reactor& r, PlainAccepted a) {
        self->Adopt(r, std::move(a.connection), a.peer_address, "");
      });
  if (!l.ok()) return l.status();
  server->address_ = (*l)->address();
  server->plain_ = std::move(*l);
  return server;
}

PeerServer::~PeerServer() { Stop(); }

void PeerServer::Adopt(Reactor& reactor, std::unique_ptr<SecureConnection> connection,
                       const std::string& peer, const std::string& account) {
  if (stopping_.load(std::memory_order_acquire)) return;  // dropped: the socket closes
  connections_.fetch_add(1, std::memory_order_relaxed);
  if (verbose_) {
    std::fprintf(stderr, "h2_peer: accepted %s%s%s\n", peer.c_str(), account.empty() ? "" : ": ",
                 account.c_str());
  }
  auto* c = new ServerConnection(this, reactor, peer);
  ServerConnection*& head = heads_[reactor.index()];
  c->next = head;
  if (head != nullptr) head->prev = c;
  head = c;
  c->Attach(std::move(connection));
}

void PeerServer::Forget(ServerConnection* c) {
  ServerConnection*& head = heads_[c->reactor().index()];
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (head == c) head = c->next;
  c->prev = c->next = nullptr;
}

void PeerServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true, std::memory_order_release);
  if (plain_ != nullptr) plain_->Close();
  if (alts_ != nullptr) alts_->Close();
  (void)runtime_.group().RunOnAllAndWait([this](Reactor& r) {
    while (ServerConnection* c = heads_[r.index()]) {
      Forget(c);
      delete c;  // from a task of its reactor, outside its callbacks
    }
  });
}

ServerStats PeerServer::stats() const {
  ServerStats s;
  s.connections = connections_.load();
  s.requests = requests_.load();
  s.gets = gets_.load();
  s.echoes = echoes_.load();
  s.refused = refused_.load();
  s.completed = completed_.load();
  s.reset = reset_.load();
  s.body_bytes_sent = body_bytes_sent_.load();
  return s;
}

}  // namespace alts::h2peer
