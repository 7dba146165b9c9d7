#include "tools/alts_echo/echo_server.h"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "conn/secure_listener.h"
#include "handshaker/handshake_limiter.h"
#include "tools/alts_echo/echo_common.h"

namespace alts {

// Session echoes one established connection. It lives in its reactor's
// PerReactor::sessions and dies there (Finish), on that reactor's thread.
class EchoServer::Session final : public ReadyHandler {
 public:
  Session(EchoServer* server, Reactor& reactor, std::string peer,
          std::unique_ptr<SecureConnection> connection)
      : server_(server),
        reactor_(reactor),
        peer_(std::move(peer)),
        connection_(std::move(connection)) {}

  void Begin() { connection_->Start(this); }

  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override {
    if (!pending_.empty()) {
      // Not expected (reading is paused while output waits), but never
      // reorder: queue behind what is already waiting.
      std::vector<uint8_t> merged(pending_.begin(), pending_.end());
      merged.insert(merged.end(), data.begin(), data.end());
      copy_ = std::move(merged);
      pending_ = absl::MakeConstSpan(copy_);
      held_.Reset();
      return;
    }
    const size_t accepted = Echo(data);
    if (accepted == data.size() || !connection_->status().ok()) return;
    // Back-pressure: keep the rest (inside the delivered lease when there is
    // one, so nothing is copied) and stop reading until it is out.
    if (lease) {
      held_ = std::move(lease);
      pending_ = data.subspan(accepted);
    } else {
      copy_.assign(data.begin() + static_cast<ptrdiff_t>(accepted), data.end());
      pending_ = absl::MakeConstSpan(copy_);
    }
    connection_->PauseReading();
  }

  void OnWritable() override {
    if (pending_.empty()) return;
    pending_ = pending_.subspan(Echo(pending_));
    if (!pending_.empty() || !connection_->status().ok()) return;
    held_.Reset();
    std::vector<uint8_t>().swap(copy_);  // a stall is rare: give the memory back
    if (peer_done_) {
      CloseAfterEcho();
    } else {
      connection_->ResumeReading();
    }
  }

  void OnEnd(const absl::Status& status) override {
    if (!status.ok()) {
      server_->rejected_.fetch_add(1, std::memory_order_relaxed);
      PrintLine(absl::StrCat("rejected ", peer_, ": ", status.ToString(absl::StatusToStringMode::kWithNoExtraData), " (after echoing ",
                             echoed_, " bytes)"));
      server_->Finish(this);  // destroys this
      return;
    }
    // The client finished sending: echo what is left, then close our side.
    peer_done_ = true;
    if (pending_.empty()) CloseAfterEcho();
  }

  // done returns true once the connection can be destroyed without losing
  // echo bytes: its socket is closed, it failed, or it lingered too long.
  bool done(absl::Time now) const {
    return connection_->fd() < 0 || !connection_->status().ok() ||
           now - close_started_ > kCloseLinger;
  }

  Reactor& reactor() const { return reactor_; }
  uint64_t echoed() const { return echoed_; }

 private:
  // Echo writes as much of `data` as the connection accepts and returns how
  // much that was (0 once the connection has failed: OnEnd follows).
  size_t Echo(absl::Span<const uint8_t> data) {
    absl::StatusOr<size_t> accepted = connection_->Write(data);
    if (!accepted.ok()) return 0;
    echoed_ += *accepted;
    return *accepted;
  }

  void CloseAfterEcho() {
    server_->closed_.fetch_add(1, std::memory_order_relaxed);
    PrintLine(absl::StrCat("closed ", peer_, ": echoed ", echoed_, " bytes"));
    connection_->Close();
    if (connection_->fd() < 0) {
      server_->Finish(this);  // destroys this
      return;
    }
    // The last echo bytes are still on their way out; the reaper frees the
    // connection once the socket is closed.
    close_started_ = absl::Now();
    server_->reactors_[reactor_.index()].closing.push_back(this);
  }

  EchoServer* const server_;
  Reactor& reactor_;
  const std::string peer_;
  std::unique_ptr<SecureConnection> connection_;
  // The unsent rest of a delivery under back-pressure, in held_ (the pool
  // buffer it arrived in) or in copy_.
  absl::Span<const uint8_t> pending_;
  BufferLease held_;
  std::vector<uint8_t> copy_;
  uint64_t echoed_ = 0;
  bool peer_done_ = false;
  absl::Time close_started_ = absl::InfiniteFuture();
};

EchoServer::EchoServer(std::shared_ptr<const HandshakerConfig> config)
    : config_(std::move(config)) {}

absl::StatusOr<std::unique_ptr<EchoServer>> EchoServer::Start(
    const std::string& address, size_t threads, std::shared_ptr<const HandshakerConfig> config) {
  absl::StatusOr<SocketAddress> parsed = ParseSocketAddress(address);
  if (!parsed.ok()) return parsed.status();
  std::unique_ptr<EchoServer> server(new EchoServer(std::move(config)));
  absl::StatusOr<std::unique_ptr<BufferPool>> pool = BufferPool::Create();
  if (!pool.ok()) return pool.status();
  server->pool_ = std::move(*pool);
  absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
  if (!storage.ok()) return storage.status();
  server->storage_ = std::move(*storage);
  server->resources_.read_pool = server->pool_.get();
  server->resources_.storage = server->storage_.get();

  absl::StatusOr<int> fd = ListenTcp(*parsed);
  if (!fd.ok()) return fd.status();
  server->listen_fd_ = *fd;
  absl::StatusOr<SocketAddress> bound = LocalAddress(*fd);
  if (!bound.ok()) return bound.status();
  server->address_ = *bound;

  ReactorGroupOptions group_options;
  group_options.threads = threads;
  absl::StatusOr<std::unique_ptr<ReactorGroup>> group =
      ReactorGroup::Create(std::move(group_options));
  if (!group.ok()) return group.status();
  server->group_ = std::move(*group);
  server->handshakes_ = std::make_unique<HandshakeSet>(*server->group_);
  server->reactors_.resize(server->group_->size());

  EchoServer* self = server.get();
  std::mutex mu;
  absl::Status status;
  absl::Status ran = self->group_->RunOnAllAndWait([&](Reactor& reactor) {
    PerReactor& mine = self->reactors_[reactor.index()];
    absl::StatusOr<std::unique_ptr<ReactorEvent>> reaper =
        ReactorEvent::CreateTimer(reactor, [self, &reactor](short) { self->Reap(reactor); });
    absl::Status s = reaper.ok() ? (*reaper)->Add(kReapInterval) : reaper.status();
    if (reaper.ok()) mine.reaper = std::move(*reaper);
    if (s.ok() && reactor.index() == 0) {
      absl::StatusOr<std::unique_ptr<ReactorEvent>> accept = ReactorEvent::Create(
          reactor, self->listen_fd_, EV_READ | EV_PERSIST, [self](short) { self->OnAcceptable(); });
      absl::StatusOr<std::unique_ptr<ReactorEvent>> retry =
          ReactorEvent::CreateTimer(reactor, [self](short) { self->ResumeAccepting(); });
      if (!accept.ok()) {
        s = accept.status();
      } else if (!retry.ok()) {
        s = retry.status();
      } else {
        self->accept_event_ = std::move(*accept);
        self->accept_retry_ = std::move(*retry);
        s = self->accept_event_->Add();
      }
    }
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      status.Update(s);
    }
  });
  if (!ran.ok()) return ran;
  if (!status.ok()) return status;
  return server;
}

EchoServer::~EchoServer() { Stop(); }

void EchoServer::OnAcceptable() {
  for (int i = 0; i < kMaxAcceptsPerWakeup && !stopping_.load(); ++i) {
    absl::StatusOr<int> fd = AcceptTcp(listen_fd_);
    if (!fd.ok()) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      // Out of descriptors or memory: the socket stays readable, so pause
      // instead of spinning, and say so.
      PrintError(absl::StrCat("accept failed: ", fd.status().ToString(), "; pausing accepts"));
      accept_event_->Remove();
      (void)accept_retry_->Add(kAcceptBackoff);
      return;
    }
    SocketAddress peer;
    peer.length = sizeof(peer.storage);
    std::string peer_name = "?";
    if (getpeername(*fd, reinterpret_cast<sockaddr*>(&peer.storage), &peer.length) == 0) {
      peer_name = peer.ToString();
    }
    Reactor& target = group_->Pick(static_cast<uint64_t>(*fd));
    auto start = [this, &target, fd = *fd, peer_name = std::move(peer_name)]() mutable {
      HandshakeParams params;
      handshakes_->Start(
          target, fd, Side::kServer, config_, std::move(params), &resources_,
          &HandshakeLimiter::Global(),
          [this, peer_name](Reactor& reactor, absl::StatusOr<EstablishedConnection> outcome) {
            OnOutcome(reactor, peer_name, std::move(outcome));
          });
    };
    if (target.InReactorThread()) {
      start();
    } else if (!target.Post(std::move(start))) {
      close(*fd);  // shutting down
    }
  }
}

void EchoServer::ResumeAccepting() {
  if (!stopping_.load() && accept_event_ != nullptr) (void)accept_event_->Add();
}

void EchoServer::OnOutcome(Reactor& reactor, const std::string& peer,
                           absl::StatusOr<EstablishedConnection> outcome) {
  // Handshakes cancelled by Stop are not the peer's fault.
  if (stopping_.load()) return;
  if (!outcome.ok()) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    PrintLine(absl::StrCat("rejected ", peer, ": ", outcome.status().ToString(absl::StatusToStringMode::kWithNoExtraData)));
    return;
  }
  accepted_.fetch_add(1, std::memory_order_relaxed);
  PrintLine(absl::StrCat("accepted ", peer, ": ", FormatPeerIdentity(*outcome->peer), " (",
                         outcome->peer->record_protocol_name(), outcome->resumed ? ", resumed" : "",
                         ")"));
  auto session = std::make_unique<Session>(this, reactor, peer, std::move(outcome->connection));
  Session* raw = session.get();
  reactors_[reactor.index()].sessions.emplace(raw, std::move(session));
  raw->Begin();
}

void EchoServer::Finish(Session* session) {
  PerReactor& mine = reactors_[session->reactor().index()];
  bytes_echoed_.fetch_add(session->echoed(), std::memory_order_relaxed);
  mine.closing.erase(std::remove(mine.closing.begin(), mine.closing.end(), session),
                     mine.closing.end());
  mine.sessions.erase(session);
}

void EchoServer::Reap(Reactor& reactor) {
  PerReactor& mine = reactors_[reactor.index()];
  const absl::Time now = absl::Now();
  std::vector<Session*> done;
  for (Session* session : mine.closing) {
    if (session->done(now)) done.push_back(session);
  }
  for (Session* session : done) Finish(session);
  (void)mine.reaper->Add(kReapInterval);
}

void EchoServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  if (group_ != nullptr) {
    // Round 1 stops accepting; accepts already made posted their handshakes
    // before it, so the set's Close (FIFO per reactor) sees them all.
    (void)group_->RunOnAllAndWait([this](Reactor& reactor) {
      if (reactor.index() != 0) return;
      accept_event_.reset();
      accept_retry_.reset();
    });
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
  if (handshakes_ != nullptr) handshakes_->Close();
  if (group_ != nullptr) {
    // Connections die on their reactor threads.
    (void)group_->RunOnAllAndWait([this](Reactor& reactor) {
      PerReactor& mine = reactors_[reactor.index()];
      for (auto& [raw, session] : mine.sessions) {
        bytes_echoed_.fetch_add(session->echoed(), std::memory_order_relaxed);
        if (std::find(mine.closing.begin(), mine.closing.end(), raw) == mine.closing.end()) {
          open_at_shutdown_.fetch_add(1, std::memory_order_relaxed);
        }
      }
      mine.closing.clear();
      mine.sessions.clear();
      mine.reaper.reset();
    });
    group_->Shutdown();
  }
}

EchoServerTotals EchoServer::totals() const {
  EchoServerTotals t;
  t.accepted = accepted_.load();
  t.rejected = rejected_.load();
  t.closed = closed_.load();
  t.open_at_shutdown = open_at_shutdown_.load();
  t.bytes_echoed = bytes_echoed_.load();
  return t;
}

int RunEchoServer(const EchoFlags& flags) {
  // Signals are taken synchronously by this thread (sigwait): block them
  // before the reactor threads start so they inherit the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (absl::Status s = RaiseOpenFileLimit(kFdHeadroom); !s.ok()) {
    PrintError(s.ToString());
    return kExitFailure;
  }
  absl::StatusOr<std::shared_ptr<HandshakerConfig>> config = LoadHandshakerConfig(flags);
  if (!config.ok()) {
    PrintError(config.status().ToString());
    return kExitFailure;
  }
  absl::StatusOr<std::unique_ptr<EchoServer>> server =
      EchoServer::Start(flags.address, flags.threads, *std::move(config));
  if (!server.ok()) {
    PrintError(absl::StrCat("cannot listen on ", flags.address, ": ", server.status().ToString()));
    return kExitFailure;
  }
  PrintLine(absl::StrCat("LISTENING ", (*server)->address().ToString()));
  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  PrintLine(
      absl::StrCat("received ", signal_number == SIGINT ? "SIGINT" : "SIGTERM", ", shutting down"));
  (*server)->Stop();
  const EchoServerTotals t = (*server)->totals();
  PrintLine(absl::StrCat("totals: accepted ", t.accepted, ", rejected ", t.rejected, ", closed ",
                         t.closed, ", open at shutdown ", t.open_at_shutdown, ", bytes echoed ",
                         t.bytes_echoed));
  return kExitOk;
}

}  // namespace alts
