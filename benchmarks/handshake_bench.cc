// handshake_bench: handshakes per second, client and server driven by one
// thread, over AF_UNIX socketpairs and over loopback TCP (127.0.0.1), in each
// of these modes:
//
//   alts_full               full ALTS handshake: a fresh Handshaker pair each
//                           time, and verifiers created with cache capacity 0,
//                           so every handshake verifies both chains (cold)
//   alts_full_cached        the same with the default verified-chain cache,
//                           warmed before the clock starts (every measured
//                           handshake is a cache hit on both sides)
//   alts_resumed            resumption: the server has a TicketKeyManager, the
//                           client a SessionCache and a session_key; every
//                           measured handshake resumes with the ticket the
//                           previous one left
//   alts_full_reactor       alts_full through the connection layer: a
//                           HandshakeDriver per side on one unthreaded Reactor,
//                           ending in two SecureConnections
//   tls13_mutual_boringssl  BoringSSL TLS 1.3, mutual authentication, X25519,
//                           ECDSA P-256 (benchmarks/common/tls_baseline.h; no
//                           tickets, every handshake is a full one)
//   tls13_mutual_ed25519_boringssl
//                           the same with Ed25519 certificates and
//                           CertificateVerify signatures (SSL_SIGN_ED25519
//                           only): the closest TLS gets to ALTS's
//                           cryptography (X25519 and Ed25519)
//
// What each side computes per handshake (printed with the results):
//   alts_full, alts_full_reactor  1 X25519 key generation, 3 X25519
//       agreements (ee, es, se), 1 Ed25519 verification (the peer's leaf,
//       signed by the root), no signature
//   alts_full_cached   1 key generation, 3 agreements, no verification (the
//       verified-chain cache), no signature
//   alts_resumed       1 key generation, 1 agreement, no signature or
//       verification; an AES-GCM ticket seal (server) or open
//   tls13_mutual_*     1 X25519 key generation, 1 agreement, 1 signature
//       (CertificateVerify), 2 verifications (the peer's CertificateVerify
//       and its certificate, signed by the CA), X.509 parsing and chain
//       building
//
// Each handshake runs on a fresh connected pair of non-blocking sockets. The
// typed ALTS modes drive Handshaker::Start/Step with real send/recv, polling
// both sockets only when neither side can move. Every handshake ends with one
// small record each way (ALTS: RecordProtector from MakeRecordProtector;
// TLS: SSL_write/SSL_read), checked byte for byte, and with checks of the
// peer identities and of what the mode claims (resumed or not, verifier cache
// cold or warm), so a broken handshake cannot pass for a fast one: any
// failure is reported and the program exits with status 1.
//
// Timing: the clock runs from a connected pair to both records checked;
// creating the pair (socketpair, or TCP connect + accept) and closing it are
// outside it and reported separately ("incl. setup"). Each mode's time is
// split into kRounds slots interleaved with the other modes, so a change in
// machine load hits every mode alike. CPU time is the thread's
// (CLOCK_THREAD_CPUTIME_ID; system time of socket calls included), which is
// less sensitive than wall time to other processes sharing the cores.
// Allocations per handshake come from the heap accounting interposer linked
// into every benchmark program.
//
// Run:  build/<dir>/benchmarks/handshake_bench [--seconds=2]
//           [--transport=socketpair|tcp|both] [--json=PATH]
//           [--modes=alts_full,tls13_mutual_boringssl,...]
//
// Profile:  valgrind --tool=callgrind build/<dir>/benchmarks/handshake_bench
//               --seconds=0.2 --transport=socketpair --modes=alts_full

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/marshalling.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "benchmarks/common/bench_pki.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/heap_accounting.h"
#include "benchmarks/common/json_writer.h"
#include "benchmarks/common/table_printer.h"
#include "benchmarks/common/tls_baseline.h"
#include "benchmarks/common/tls_drive.h"
#include "conn/buffer_pool.h"
#include "conn/handshake_driver.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/socket_util.h"
#include "conn/storage_pool.h"
#include "frame/frame_format.h"
#include "handshaker/certificate.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/handshake_result.h"
#include "handshaker/handshaker.h"
#include "handshaker/session_cache.h"
#include "handshaker/ticket_key_manager.h"
#include "handshaker/workload_credential.h"

ABSL_FLAG(double, seconds, 2.0,
          "Seconds of handshakes per mode and transport (split into interleaved rounds).");
ABSL_FLAG(std::string, transport, "both",
          "Socket pairs to handshake over: 'socketpair' (AF_UNIX), 'tcp' (127.0.0.1) "
          "or 'both'.");
ABSL_FLAG(std::string, json, "", "Also write the results as JSON to this path ('-' for stdout).");
ABSL_FLAG(std::vector<std::string>, modes, {},
          "Comma-separated modes to run (e.g. for a profiler); empty runs them all.");

namespace alts::bench {
namespace {

// kRounds: each mode's time is cut into this many slots, run in turn with the
// other modes', so a burst of load from other processes does not land on one
// mode only.
constexpr int kRounds = 5;

// kStallTimeout: a handshake or record exchange that makes no progress on its
// sockets for this long has failed; a stuck peer must not hang the benchmark.
constexpr absl::Duration kStallTimeout = absl::Seconds(10);

// kReadChunk: bytes per recv. A whole handshake flight (chain, ephemeral key,
// ticket, Finished) is a few KiB, so one read usually takes a whole flight.
constexpr size_t kReadChunk = 16 * 1024;

// kPingSize: plaintext bytes of the record each side sends after the
// handshake: small, so the record layer's cost stays a rounding error while
// still proving both sides derived the same keys.
constexpr size_t kPingSize = 32;

// kServerAccount / kClientAccount: the identities in the ALTS certificates,
// checked on every handshake.
constexpr char kServerAccount[] = "bench-server@alts.test";
constexpr char kClientAccount[] = "bench-client@alts.test";

// kSessionKey: the client's session cache key for the resumed mode.
constexpr char kSessionKey[] = "bench-server:443";

// Transport is what a handshake runs over.
enum class Transport { kSocketpair, kTcp };

// TransportName returns the name used in flags, the table and JSON.
const char* TransportName(Transport t) {
  return t == Transport::kSocketpair ? "socketpair" : "tcp";
}

// FdPair is one connection's two ends, both non-blocking.
struct FdPair {
  UniqueFd client;
  UniqueFd server;
};

// PairFactory makes connected socket pairs over one transport.
class PairFactory {
 public:
  // Create returns a factory; for TCP it opens a listener on 127.0.0.1.
  // Returns kInternal/kUnavailable if a socket call fails.
  static absl::StatusOr<PairFactory> Create(Transport transport) {
    PairFactory factory(transport);
    if (transport == Transport::kTcp) {
      absl::StatusOr<int> listener = ListenLoopback();
      if (!listener.ok()) return listener.status();
      factory.listener_ = UniqueFd(*listener);
    }
    return factory;
  }

  // Make returns a new connected pair, both ends non-blocking (TCP ends with
  // TCP_NODELAY, so small flights are never held back by Nagle).
  absl::StatusOr<FdPair> Make() {
    FdPair pair;
    if (transport_ == Transport::kSocketpair) {
      int fds[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
        return ErrnoError("socketpair");
      }
      pair.client = UniqueFd(fds[0]);
      pair.server = UniqueFd(fds[1]);
      return pair;
    }
    absl::StatusOr<std::pair<int, int>> fds = ConnectedTcpPair(listener_.get());
    if (!fds.ok()) return fds.status();
    pair.client = UniqueFd(fds->first);
    pair.server = UniqueFd(fds->second);
    for (int fd : {pair.client.get(), pair.server.get()}) {
      if (absl::Status s = SetNonBlocking(fd); !s.ok()) return s;
    }
    return pair;
  }

 private:
  explicit PairFactory(Transport transport) : transport_(transport) {}

  Transport transport_;
  UniqueFd listener_;
};

// MakePing returns the record plaintext for handshake `n` in direction
// `to_server`: distinct per handshake and direction, so a record replayed
// from an earlier connection or reflected back does not match.
std::array<uint8_t, kPingSize> MakePing(uint64_t n, bool to_server) {
  std::array<uint8_t, kPingSize> ping{};
  for (size_t i = 0; i < ping.size(); ++i) {
    ping[i] = static_cast<uint8_t>((n >> (8 * (i % 8))) + i * 31 + (to_server ? 0x5a : 0xa5));
  }
  return ping;
}

// HandshakeMode is one way of running handshakes. A mode keeps its own
// credentials' configs, caches and contexts across handshakes.
class HandshakeMode {
 public:
  virtual ~HandshakeMode() = default;

  // name returns the mode's name for the table and JSON.
  virtual const char* name() const = 0;

  // RunOne runs handshake number `n` over `pair` and one record each way.
  // Returns the first failure. The mode may take the fds.
  virtual absl::Status RunOne(FdPair& pair, uint64_t n) = 0;

  // Teardown releases what RunOne kept of the connection (outside the clock).
  virtual void Teardown() {}

  // StartMeasuring is called after the warm-up handshakes, before the clock.
  virtual void StartMeasuring() {}

  // CheckMeasured returns an error if the measured handshakes were not what
  // the mode claims (e.g. a cache hit in the cold mode).
  virtual absl::Status CheckMeasured() const { return absl::OkStatus(); }
};

// ---------------------------------------------------------------------------
// ALTS with the typed Handshaker.

// AltsKind is what an AltsMode measures.
enum class AltsKind { kFullCold, kFullCached, kResumed };

// AltsCredentials are the test PKI: one root, a client and a server leaf
// issued directly by it (one signature per chain, as the TLS baseline's).
struct AltsCredentials {
  std::vector<TrustRoot> roots;
  std::shared_ptr<const WorkloadCredential> client;
  std::shared_ptr<const WorkloadCredential> server;
};

// MakeAltsCredentials generates the PKI. Errors as BenchPki.
absl::StatusOr<AltsCredentials> MakeAltsCredentials() {
  absl::StatusOr<BenchPki> pki = BenchPki::Create();
  if (!pki.ok()) return pki.status();
  AltsCredentials credentials;
  credentials.roots.push_back(TrustRoot::FromSigningKey(pki->root()));
  absl::StatusOr<std::shared_ptr<const WorkloadCredential>> client =
      pki->Credential(kClientAccount);
  if (!client.ok()) return client.status();
  absl::StatusOr<std::shared_ptr<const WorkloadCredential>> server =
      pki->Credential(kServerAccount);
  if (!server.ok()) return server.status();
  credentials.client = *std::move(client);
  credentials.server = *std::move(server);
  return credentials;
}

// AltsConfigs are one mode's client and server configs.
struct AltsConfigs {
  std::shared_ptr<HandshakerConfig> client;
  std::shared_ptr<HandshakerConfig> server;
  HandshakeParams client_params;
};

// MakeAltsConfigs builds configs for `kind`, with verifiers of their own
// (cache capacity 0 for kFullCold), and for kResumed a ticket key manager on
// the server and a session cache on the client. Errors as the Create calls.
absl::StatusOr<AltsConfigs> MakeAltsConfigs(const AltsCredentials& credentials, AltsKind kind) {
  const size_t cache_capacity = kind == AltsKind::kFullCold ? 0 : kDefaultChainCacheCapacity;
  AltsConfigs configs;
  configs.client = std::make_shared<HandshakerConfig>();
  configs.server = std::make_shared<HandshakerConfig>();
  configs.client->credential = credentials.client;
  configs.server->credential = credentials.server;
  for (HandshakerConfig* config : {configs.client.get(), configs.server.get()}) {
    absl::StatusOr<std::shared_ptr<CertificateVerifier>> verifier =
        CertificateVerifier::Create(credentials.roots, cache_capacity);
    if (!verifier.ok()) return verifier.status();
    config->verifier = *std::move(verifier);
  }
  if (kind == AltsKind::kResumed) {
    absl::StatusOr<std::shared_ptr<TicketKeyManager>> ticket_keys =
        TicketKeyManager::Create(TicketKeyManager::Options{});
    if (!ticket_keys.ok()) return ticket_keys.status();
    configs.server->ticket_keys = *std::move(ticket_keys);
    configs.client->session_cache = SessionCache::Create();
    configs.client_params.session_key = kSessionKey;
  }
  return configs;
}

// CheckAltsResults returns kUnauthenticated unless each side saw the other's
// identity, and kFailedPrecondition unless both agree on whether the
// handshake resumed and that matches `expect_resumed`.
absl::Status CheckAltsResults(const HandshakeResult& client, const HandshakeResult& server,
                              bool expect_resumed) {
  if (client.peer_identity.service_account != kServerAccount ||
      server.peer_identity.service_account != kClientAccount) {
    return absl::UnauthenticatedError(absl::StrCat(
        "unexpected peer identities: client saw '", client.peer_identity.service_account,
        "', server saw '", server.peer_identity.service_account, "'"));
  }
  if (client.resumed != expect_resumed || server.resumed != expect_resumed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "expected a ", expect_resumed ? "resumed" : "full", " handshake; client ",
        client.resumed ? "resumed" : "full", ", server ", server.resumed ? "resumed" : "full"));
  }
  return absl::OkStatus();
}

// AltsMode drives a client and a server Handshaker over a socket pair in
// this thread, then exchanges one record each way.
class AltsMode final : public HandshakeMode {
 public:
  AltsMode(const char* name, AltsKind kind, AltsConfigs configs)
      : name_(name), kind_(kind), configs_(std::move(configs)), read_buf_(kReadChunk) {}

  const char* name() const override { return name_; }

  absl::Status RunOne(FdPair& pair, uint64_t n) override {
    absl::StatusOr<std::unique_ptr<Handshaker>> client =
        Handshaker::Create(Side::kClient, configs_.client, configs_.client_params);
    if (!client.ok()) return client.status();
    absl::StatusOr<std::unique_ptr<Handshaker>> server =
        Handshaker::Create(Side::kServer, configs_.server, HandshakeParams{});
    if (!server.ok()) return server.status();
    Endpoint ends[2] = {Endpoint(pair.client.get(), client->get()),
                        Endpoint(pair.server.get(), server->get())};
    if (absl::Status s = (*client)->Start(&ends[0].out); !s.ok()) return s;
    if (absl::Status s = Pump(ends); !s.ok()) return s;
    // The resumed mode's first warm-up handshake is a full one: it gets the
    // first ticket.
    if (absl::Status s = CheckAltsResults((*client)->result(), (*server)->result(),
                                          kind_ == AltsKind::kResumed && measuring_);
        !s.ok()) {
      return s;
    }

    absl::StatusOr<RecordProtector> client_protector = MakeRecordProtector((*client)->result());
    if (!client_protector.ok()) return client_protector.status();
    absl::StatusOr<RecordProtector> server_protector = MakeRecordProtector((*server)->result());
    if (!server_protector.ok()) return server_protector.status();
    const std::array<uint8_t, kPingSize> ping = MakePing(n, true);
    const std::array<uint8_t, kPingSize> pong = MakePing(n, false);
    if (absl::Status s = SendRecord(ends[0].fd, *client_protector, ping); !s.ok()) return s;
    if (absl::Status s = ReceiveRecord(ends[1], *server_protector, ping); !s.ok()) return s;
    if (absl::Status s = SendRecord(ends[1].fd, *server_protector, pong); !s.ok()) return s;
    return ReceiveRecord(ends[0], *client_protector, pong);
  }

  void StartMeasuring() override {
    measuring_ = true;
    for (int i = 0; i < 2; ++i) {
      const CertificateVerifier& verifier = Verifier(i);
      hits_at_start_[i] = verifier.cache_hits();
      misses_at_start_[i] = verifier.cache_misses();
    }
  }

  absl::Status CheckMeasured() const override {
    for (int i = 0; i < 2; ++i) {
      const CertificateVerifier& verifier = Verifier(i);
      const uint64_t hits = verifier.cache_hits() - hits_at_start_[i];
      const uint64_t misses = verifier.cache_misses() - misses_at_start_[i];
      const char* side = i == 0 ? "client" : "server";
      if (kind_ == AltsKind::kFullCold && hits != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat(name_, ": the cold ", side, " verifier had ", hits, " cache hits"));
      }
      if (kind_ == AltsKind::kFullCached && misses != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat(name_, ": the warm ", side, " verifier had ", misses, " cache misses"));
      }
      if (kind_ == AltsKind::kResumed && hits + misses != 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            name_, ": the ", side, " verified ", hits + misses, " chains in resumed handshakes"));
      }
    }
    return absl::OkStatus();
  }

 private:
  // Endpoint is one side's socket, handshaker, unsent output and the bytes
  // received after its last handshake message.
  struct Endpoint {
    Endpoint(int fd_in, Handshaker* handshaker_in) : fd(fd_in), handshaker(handshaker_in) {}
    int fd;
    Handshaker* handshaker;
    std::string out;
    size_t sent = 0;
    std::vector<uint8_t> records;
  };

  const CertificateVerifier& Verifier(int i) const {
    return *(i == 0 ? configs_.client : configs_.server)->verifier;
  }

  // Pump moves handshake bytes both ways until both handshakes are done and
  // all their output is written.
  absl::Status Pump(absl::Span<Endpoint> ends) {
    for (;;) {
      bool progress = false;
      bool finished = true;
      for (Endpoint& e : ends) {
        while (e.sent < e.out.size()) {
          const ssize_t n = send(e.fd, e.out.data() + e.sent, e.out.size() - e.sent, MSG_NOSIGNAL);
          if (n < 0 && errno == EINTR) continue;
          if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          if (n < 0) return ErrnoError("send");
          e.sent += static_cast<size_t>(n);
          progress = true;
        }
        if (e.sent == e.out.size()) {
          e.out.clear();
          e.sent = 0;
        }
        if (!e.handshaker->done()) {
          const ssize_t n = recv(e.fd, read_buf_.data(), read_buf_.size(), 0);
          if (n == 0) return absl::UnavailableError("peer closed during the handshake");
          if (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            return ErrnoError("recv");
          }
          if (n > 0) {
            const absl::Span<const uint8_t> in(read_buf_.data(), static_cast<size_t>(n));
            absl::StatusOr<size_t> consumed = e.handshaker->Step(in, &e.out);
            if (!consumed.ok()) return consumed.status();
            if (e.handshaker->done()) {
              const absl::Span<const uint8_t> rest = in.subspan(*consumed);
              e.records.assign(rest.begin(), rest.end());
            }
            progress = true;
          }
        }
        finished = finished && e.handshaker->done() && e.out.empty();
      }
      if (finished) return absl::OkStatus();
      if (progress) continue;
      pollfd fds[2];
      for (size_t i = 0; i < ends.size(); ++i) {
        const Endpoint& e = ends[i];
        fds[i] = pollfd{e.fd, 0, 0};
        if (!e.handshaker->done()) fds[i].events |= POLLIN;
        if (!e.out.empty()) fds[i].events |= POLLOUT;
      }
      if (absl::Status s = WaitFds(absl::MakeSpan(fds, ends.size()), kStallTimeout); !s.ok()) {
        return s;
      }
    }
  }

  // SendRecord seals `plaintext` as one frame and writes it.
  absl::Status SendRecord(int fd, RecordProtector& protector, absl::Span<const uint8_t> plaintext) {
    std::array<uint8_t, kPingSize + kFrameOverhead> frame;
    absl::StatusOr<size_t> sealed = protector.Seal(plaintext, absl::MakeSpan(frame));
    if (!sealed.ok()) return sealed.status();
    size_t sent = 0;
    while (sent < *sealed) {
      const ssize_t n = send(fd, frame.data() + sent, *sealed - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (absl::Status s = WaitFd(fd, POLLOUT, kStallTimeout); !s.ok()) return s;
        continue;
      }
      if (n < 0) return ErrnoError("send");
      sent += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  // ReceiveRecord reads until one whole frame is in, opens it and checks
  // that it holds `expected` and nothing follows it.
  absl::Status ReceiveRecord(Endpoint& e, RecordProtector& protector,
                             absl::Span<const uint8_t> expected) {
    for (;;) {
      if (!e.records.empty()) {
        absl::StatusOr<OpenResult> opened = protector.OpenNext(absl::MakeSpan(e.records));
        if (!opened.ok()) return opened.status();
        if (opened->consumed > 0) {
          if (opened->consumed != e.records.size()) {
            return absl::InvalidArgumentError("unexpected bytes after the record");
          }
          if (!std::equal(opened->plaintext.begin(), opened->plaintext.end(), expected.begin(),
                          expected.end())) {
            return absl::DataLossError("the record's plaintext differs from what was sent");
          }
          e.records.clear();
          return absl::OkStatus();
        }
      }
      const ssize_t n = recv(e.fd, read_buf_.data(), read_buf_.size(), 0);
      if (n > 0) {
        e.records.insert(e.records.end(), read_buf_.data(), read_buf_.data() + n);
        continue;
      }
      if (n == 0) return absl::UnavailableError("peer closed before its record");
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return ErrnoError("recv");
      if (absl::Status s = WaitFd(e.fd, POLLIN, kStallTimeout); !s.ok()) return s;
    }
  }

  const char* const name_;
  const AltsKind kind_;
  AltsConfigs configs_;
  std::vector<uint8_t> read_buf_;
  bool measuring_ = false;
  uint64_t hits_at_start_[2] = {0, 0};
  uint64_t misses_at_start_[2] = {0, 0};
};

// ---------------------------------------------------------------------------
// ALTS through the connection layer.

// CollectingHandler is a SecureConnection handler that keeps what arrives.
class CollectingHandler final : public ReadyHandler {
 public:
  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override {
    received.insert(received.end(), data.begin(), data.end());
  }
  void OnEnd(const absl::Status& status) override {
    ended = true;
    end_status = status;
  }

  std::vector<uint8_t> received;
  bool ended = false;
  absl::Status end_status;
};

// ReactorMode runs both handshakes as HandshakeDrivers on one unthreaded
// Reactor driven by this thread (no HandshakeLimiter), then one record each
// way through the SecureConnections they hand over.
class ReactorMode final : public HandshakeMode {
 public:
  // Create builds the reactor and pools. Errors as their Create calls.
  static absl::StatusOr<std::unique_ptr<ReactorMode>> Create(const char* name,
                                                             AltsConfigs configs) {
    absl::StatusOr<std::unique_ptr<Reactor>> reactor = Reactor::CreateUnthreaded();
    if (!reactor.ok()) return reactor.status();
    absl::StatusOr<std::unique_ptr<BufferPool>> pool = BufferPool::Create();
    if (!pool.ok()) return pool.status();
    absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
    if (!storage.ok()) return storage.status();
    return std::unique_ptr<ReactorMode>(new ReactorMode(
        name, std::move(configs), *std::move(reactor), *std::move(pool), *std::move(storage)));
  }

  ~ReactorMode() override { Teardown(); }

  const char* name() const override { return name_; }

  absl::Status RunOne(FdPair& pair, uint64_t n) override {
    std::optional<absl::StatusOr<EstablishedConnection>> outcomes[2];
    for (int i = 0; i < 2; ++i) {
      const bool is_client = i == 0;
      absl::StatusOr<std::unique_ptr<HandshakeDriver>> driver = HandshakeDriver::Create(
          *reactor_, (is_client ? pair.client : pair.server).Release(),
          is_client ? Side::kClient : Side::kServer, is_client ? configs_.client : configs_.server,
          is_client ? configs_.client_params : HandshakeParams{}, &resources_,
          /*limiter=*/nullptr, [&outcomes, i](absl::StatusOr<EstablishedConnection> outcome) {
            outcomes[i] = std::move(outcome);
          });
      if (!driver.ok()) return driver.status();
      drivers_[i] = *std::move(driver);
    }
    absl::Status status = reactor_->RunUntil(
        [&] { return outcomes[0].has_value() && outcomes[1].has_value(); }, kStallTimeout);
    if (!status.ok()) return status;
    for (int i = 0; i < 2; ++i) {
      if (!outcomes[i]->ok()) return outcomes[i]->status();
      EstablishedConnection& established = **outcomes[i];
      const char* expected = i == 0 ? kServerAccount : kClientAccount;
      if (established.peer->service_account() != expected || established.resumed) {
        return absl::UnauthenticatedError(absl::StrCat("unexpected outcome: peer '",
                                                       established.peer->service_account(),
                                                       "', resumed ", established.resumed));
      }
      handlers_[i].received.clear();
      handlers_[i].ended = false;
      connections_[i] = std::move(established.connection);
      connections_[i]->Start(&handlers_[i]);
    }
    const std::array<uint8_t, kPingSize> ping = MakePing(n, true);
    const std::array<uint8_t, kPingSize> pong = MakePing(n, false);
    if (absl::Status s = Exchange(0, ping); !s.ok()) return s;
    return Exchange(1, pong);
  }

  void Teardown() override {
    for (auto& connection : connections_) connection.reset();
    for (auto& driver : drivers_) driver.reset();
  }

 private:
  ReactorMode(const char* name, AltsConfigs configs, std::unique_ptr<Reactor> reactor,
              std::unique_ptr<BufferPool> pool, std::unique_ptr<StoragePool> storage)
      : name_(name),
        configs_(std::move(configs)),
        reactor_(std::move(reactor)),
        pool_(std::move(pool)),
        storage_(std::move(storage)) {
    resources_.read_pool = pool_.get();
    resources_.storage = storage_.get();
  }

  // Exchange writes `plaintext` on connection `from` and runs the reactor
  // until the other connection has received exactly it.
  absl::Status Exchange(int from, absl::Span<const uint8_t> plaintext) {
    const int to = 1 - from;
    absl::StatusOr<size_t> accepted = connections_[from]->Write(plaintext);
    if (!accepted.ok()) return accepted.status();
    if (*accepted != plaintext.size()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("a ", plaintext.size(), "-byte write was cut short"));
    }
    CollectingHandler& receiver = handlers_[to];
    absl::Status status = reactor_->RunUntil(
        [&] { return receiver.received.size() >= plaintext.size() || receiver.ended; },
        kStallTimeout);
    if (!status.ok()) return status;
    if (receiver.ended) {
      return receiver.end_status.ok() ? absl::UnavailableError("connection ended early")
                                      : receiver.end_status;
    }
    if (!std::equal(receiver.received.begin(), receiver.received.end(), plaintext.begin(),
                    plaintext.end())) {
      return absl::DataLossError("the record's plaintext differs from what was sent");
    }
    return absl::OkStatus();
  }

  const char* const name_;
  AltsConfigs configs_;
  // Declared before everything that lives on it, so it is destroyed last.
  std::unique_ptr<Reactor> reactor_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  CollectingHandler handlers_[2];
  std::unique_ptr<HandshakeDriver> drivers_[2];
  std::unique_ptr<SecureConnection> connections_[2];
};

// ---------------------------------------------------------------------------
// TLS 1.3 (BoringSSL).

// TlsMode runs BoringSSL client and server SSL objects over a socket pair in
// this thread, then one record each way.
class TlsMode final : public HandshakeMode {
 public:
  // Create makes the contexts from `credentials` (whose key type decides
  // the signature algorithm) for the mode called `name`. kInternal if
  // BoringSSL fails.
  static absl::StatusOr<std::unique_ptr<TlsMode>> Create(const char* name,
                                                         const TlsCredentials& credentials) {
    absl::StatusOr<bssl::UniquePtr<SSL_CTX>> client = NewTlsClientContext(credentials);
    if (!client.ok()) return client.status();
    absl::StatusOr<bssl::UniquePtr<SSL_CTX>> server = NewTlsServerContext(credentials);
    if (!server.ok()) return server.status();
    return std::unique_ptr<TlsMode>(new TlsMode(name, *std::move(client), *std::move(server)));
  }

  const char* name() const override { return name_; }

  absl::Status RunOne(FdPair& pair, uint64_t n) override {
    absl::StatusOr<bssl::UniquePtr<SSL>> client =
        NewTlsConnection(client_ctx_.get(), pair.client.get(), TlsRole::kClient);
    if (!client.ok()) return client.status();
    absl::StatusOr<bssl::UniquePtr<SSL>> server =
        NewTlsConnection(server_ctx_.get(), pair.server.get(), TlsRole::kServer);
    if (!server.ok()) return server.status();
    SSL* ssl[2] = {client->get(), server->get()};
    if (absl::Status s = DriveTlsHandshakes(ssl[0], ssl[1], kStallTimeout); !s.ok()) return s;
    if (absl::StatusOr<std::string> peer = TlsPeerCommonName(ssl[0]);
        !peer.ok() || *peer != kTlsServerName) {
      return absl::UnauthenticatedError("the client did not see the server's certificate");
    }
    if (absl::StatusOr<std::string> peer = TlsPeerCommonName(ssl[1]);
        !peer.ok() || *peer != kTlsClientName) {
      return absl::UnauthenticatedError("the server did not see the client's certificate");
    }
    const std::array<uint8_t, kPingSize> ping = MakePing(n, true);
    const std::array<uint8_t, kPingSize> pong = MakePing(n, false);
    if (absl::Status s = ExchangeTlsRecord(ssl[0], ssl[1], ping, kStallTimeout); !s.ok()) {
      return s;
    }
    return ExchangeTlsRecord(ssl[1], ssl[0], pong, kStallTimeout);
  }

 private:
  TlsMode(const char* name, bssl::UniquePtr<SSL_CTX> client_ctx,
          bssl::UniquePtr<SSL_CTX> server_ctx)
      : name_(name), client_ctx_(std::move(client_ctx)), server_ctx_(std::move(server_ctx)) {}

  const char* name_;
  bssl::UniquePtr<SSL_CTX> client_ctx_;
  bssl::UniquePtr<SSL_CTX> server_ctx_;
};

// ---------------------------------------------------------------------------
// Harness.

// Stats is one mode's results on one transport.
struct Stats {
  std::string mode;
  Transport transport = Transport::kSocketpair;
  uint64_t handshakes = 0;
  double handshake_seconds = 0;  // wall time inside the clock
  double cpu_seconds = 0;        // thread CPU time inside the clock
  double total_seconds = 0;      // wall time including pair setup and close
  uint64_t allocations = 0;      // heap allocations inside the clock
  uint64_t errors = 0;
  std::string first_error;

  double PerSecond() const { return handshake_seconds > 0 ? handshakes / handshake_seconds : 0; }
  double PerCpuSecond() const { return cpu_seconds > 0 ? handshakes / cpu_seconds : 0; }
  double PerSecondWithSetup() const { return total_seconds > 0 ? handshakes / total_seconds : 0; }
  double AllocationsPerHandshake() const {
    return handshakes > 0 ? static_cast<double>(allocations) / handshakes : 0;
  }
  void AddError(const absl::Status& status) {
    if (status.ok()) return;
    ++errors;
    if (first_error.empty()) first_error = status.ToString();
  }
};

// RunSlot runs handshakes of `mode` over pairs from `factory` for at least
// `seconds` (and at least one), adding to `stats`. Stops at the first failure.
void RunSlot(HandshakeMode& mode, PairFactory& factory, double seconds, uint64_t& counter,
             Stats& stats) {
  using SteadyClock = std::chrono::steady_clock;
  const SteadyClock::time_point slot_start = SteadyClock::now();
  const SteadyClock::time_point slot_end =
      slot_start +
      std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(seconds));
  do {
    absl::StatusOr<FdPair> pair = factory.Make();
    if (!pair.ok()) {
      stats.AddError(pair.status());
      return;
    }
    const HeapSnapshot heap_before = TakeHeapSnapshot();
    const double cpu_before = ThreadCpuSeconds();
    const SteadyClock::time_point before = SteadyClock::now();
    const absl::Status status = mode.RunOne(*pair, counter++);
    const SteadyClock::time_point after = SteadyClock::now();
    const double cpu_after = ThreadCpuSeconds();
    const HeapSnapshot heap_after = TakeHeapSnapshot();
    mode.Teardown();
    if (!status.ok()) {
      stats.AddError(status);
      return;
    }
    ++stats.handshakes;
    stats.handshake_seconds += std::chrono::duration<double>(after - before).count();
    stats.cpu_seconds += cpu_after - cpu_before;
    stats.allocations += Diff(heap_before, heap_after).allocations;
  } while (SteadyClock::now() < slot_end);
  stats.total_seconds += std::chrono::duration<double>(SteadyClock::now() - slot_start).count();
}

// RunTransport measures every mode over `transport`, interleaved in
// kRounds rounds, after one unmeasured warm-up handshake per mode (which
// also fills the warm verifier cache and the first resumption ticket).
std::vector<Stats> RunTransport(Transport transport,
                                const std::vector<std::unique_ptr<HandshakeMode>>& modes,
                                double seconds) {
  std::vector<Stats> stats(modes.size());
  for (size_t i = 0; i < modes.size(); ++i) {
    stats[i].mode = modes[i]->name();
    stats[i].transport = transport;
  }
  absl::StatusOr<PairFactory> factory = PairFactory::Create(transport);
  if (!factory.ok()) {
    for (Stats& s : stats) s.AddError(factory.status());
    return stats;
  }
  uint64_t counter = 0;
  for (size_t i = 0; i < modes.size(); ++i) {
    absl::StatusOr<FdPair> pair = factory->Make();
    absl::Status status = pair.ok() ? modes[i]->RunOne(*pair, counter++) : pair.status();
    modes[i]->Teardown();
    if (!status.ok()) {
      stats[i].AddError(absl::Status(status.code(), absl::StrCat("warm-up: ", status.message())));
    }
    modes[i]->StartMeasuring();
  }
  for (int round = 0; round < kRounds; ++round) {
    for (size_t i = 0; i < modes.size(); ++i) {
      if (stats[i].errors > 0) continue;
      RunSlot(*modes[i], *factory, seconds / kRounds, counter, stats[i]);
    }
  }
  for (size_t i = 0; i < modes.size(); ++i) {
    if (stats[i].errors == 0) stats[i].AddError(modes[i]->CheckMeasured());
  }
  return stats;
}

// kModeNames lists every mode in the order they run and are reported.
constexpr const char* kModeNames[] = {"alts_full",
                                      "alts_full_cached",
                                      "alts_resumed",
                                      "tls13_mutual_boringssl",
                                      "tls13_mutual_ed25519_boringssl",
                                      "alts_full_reactor"};

// kTlsP256 / kTlsEd25519 are the two TLS modes the ALTS modes are compared with.
constexpr char kTlsP256[] = "tls13_mutual_boringssl";
constexpr char kTlsEd25519[] = "tls13_mutual_ed25519_boringssl";

// MakeModes builds every mode with its own configs (so no cache or ticket is
// shared between modes), keeping those named in `wanted` (all if empty).
// Errors as the configs' and contexts' Create calls.
absl::StatusOr<std::vector<std::unique_ptr<HandshakeMode>>> MakeModes(
    const AltsCredentials& alts, const TlsCredentials& tls, const TlsCredentials& tls_ed25519,
    const std::vector<std::string>& wanted) {
  std::vector<std::unique_ptr<HandshakeMode>> modes;
  struct TypedMode {
    const char* name;
    AltsKind kind;
  };
  for (const TypedMode& m : {TypedMode{"alts_full", AltsKind::kFullCold},
                             TypedMode{"alts_full_cached", AltsKind::kFullCached},
                             TypedMode{"alts_resumed", AltsKind::kResumed}}) {
    absl::StatusOr<AltsConfigs> configs = MakeAltsConfigs(alts, m.kind);
    if (!configs.ok()) return configs.status();
    modes.push_back(std::make_unique<AltsMode>(m.name, m.kind, *std::move(configs)));
  }
  for (const auto& [name, credentials] :
       {std::pair<const char*, const TlsCredentials*>{kTlsP256, &tls},
        std::pair<const char*, const TlsCredentials*>{kTlsEd25519, &tls_ed25519}}) {
    absl::StatusOr<std::unique_ptr<TlsMode>> tls_mode = TlsMode::Create(name, *credentials);
    if (!tls_mode.ok()) return tls_mode.status();
    modes.push_back(*std::move(tls_mode));
  }
  absl::StatusOr<AltsConfigs> reactor_configs = MakeAltsConfigs(alts, AltsKind::kFullCold);
  if (!reactor_configs.ok()) return reactor_configs.status();
  absl::StatusOr<std::unique_ptr<ReactorMode>> reactor_mode =
      ReactorMode::Create("alts_full_reactor", *std::move(reactor_configs));
  if (!reactor_mode.ok()) return reactor_mode.status();
  modes.push_back(*std::move(reactor_mode));
  if (!wanted.empty()) {
    std::erase_if(modes, [&](const std::unique_ptr<HandshakeMode>& mode) {
      return std::find(wanted.begin(), wanted.end(), mode->name()) == wanted.end();
    });
  }
  return modes;
}

// FindStats returns the row for `mode` on `transport` if it ran cleanly.
const Stats* FindStats(const std::vector<Stats>& all, std::string_view mode, Transport transport) {
  for (const Stats& s : all) {
    if (s.mode == mode && s.transport == transport && s.errors == 0 && s.handshakes > 0) return &s;
  }
  return nullptr;
}

// PrintRatio prints `mode` against the TLS mode `tls_mode` on `transport` by
// wall and CPU time, and whether `goal` (0: none) is met by the wall-time
// ratio.
void PrintRatio(const std::vector<Stats>& all, Transport transport, std::string_view mode,
                std::string_view tls_mode, double goal) {
  const Stats* alts = FindStats(all, mode, transport);
  const Stats* tls = FindStats(all, tls_mode, transport);
  if (alts == nullptr || tls == nullptr || tls->PerSecond() <= 0 || tls->PerCpuSecond() <= 0) {
    return;
  }
  const double wall = alts->PerSecond() / tls->PerSecond();
  const double cpu = alts->PerCpuSecond() / tls->PerCpuSecond();
  std::printf("  %-10s %-18s / %-7s: %5.2fx (CPU time: %5.2fx)", TransportName(transport),
              std::string(mode).c_str(), tls_mode == kTlsEd25519 ? "Ed25519" : "P-256", wall,
              cpu);
  if (goal > 0) std::printf("  goal >= %.1fx: %s", goal, wall >= goal ? "met" : "NOT met");
  std::printf("\n");
}

// Main parses the flags, runs every transport, prints the table and ratios
// and writes the JSON. Returns 1 if any handshake failed, 2 for bad flags.
int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const std::string transport_flag = absl::GetFlag(FLAGS_transport);
  std::vector<Transport> transports;
  if (transport_flag == "socketpair" || transport_flag == "both") {
    transports.push_back(Transport::kSocketpair);
  }
  if (transport_flag == "tcp" || transport_flag == "both") transports.push_back(Transport::kTcp);
  if (transports.empty() || !(seconds > 0)) {
    std::fprintf(stderr,
                 "handshake_bench: --seconds must be positive and --transport one of "
                 "socketpair, tcp, both\n");
    return 2;
  }
  const std::vector<std::string> wanted = absl::GetFlag(FLAGS_modes);
  for (const std::string& mode : wanted) {
    if (std::find(std::begin(kModeNames), std::end(kModeNames), mode) == std::end(kModeNames)) {
      std::fprintf(stderr, "handshake_bench: unknown mode '%s' in --modes\n", mode.c_str());
      return 2;
    }
  }

  absl::StatusOr<AltsCredentials> alts = MakeAltsCredentials();
  absl::StatusOr<TlsCredentials> tls = GenerateTlsCredentials(TlsKeyType::kP256);
  absl::StatusOr<TlsCredentials> tls_ed25519 = GenerateTlsCredentials(TlsKeyType::kEd25519);
  for (const absl::Status& s : {alts.status(), tls.status(), tls_ed25519.status()}) {
    if (!s.ok()) {
      std::fprintf(stderr, "handshake_bench: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  absl::StatusOr<std::vector<std::unique_ptr<HandshakeMode>>> modes =
      MakeModes(*alts, *tls, *tls_ed25519, wanted);
  if (!modes.ok()) {
    std::fprintf(stderr, "handshake_bench: %s\n", modes.status().ToString().c_str());
    return 1;
  }

  std::vector<Stats> all;
  for (Transport transport : transports) {
    std::fprintf(stderr, "  handshaking over %s (%zu modes x %.2f s)\n", TransportName(transport),
                 modes->size(), seconds);
    std::vector<Stats> stats = RunTransport(transport, *modes, seconds);
    all.insert(all.end(), stats.begin(), stats.end());
  }

  TablePrinter table({"transport", "mode", "handshakes", "hs/s", "us/hs", "CPU us/hs",
                      "hs/s incl. setup", "allocs/hs", "errors"});
  (void)table.SetAlign(1, TablePrinter::Align::kLeft);
  JsonResults json;
  uint64_t errors = 0;
  for (const Stats& s : all) {
    errors += s.errors;
    const double us = s.handshakes > 0 ? s.handshake_seconds * 1e6 / s.handshakes : 0;
    const double cpu_us = s.handshakes > 0 ? s.cpu_seconds * 1e6 / s.handshakes : 0;
    (void)table.AddRow(
        {TransportName(s.transport), s.mode, absl::StrCat(s.handshakes),
         absl::StrFormat("%.0f", s.PerSecond()), absl::StrFormat("%.1f", us),
         absl::StrFormat("%.1f", cpu_us), absl::StrFormat("%.0f", s.PerSecondWithSetup()),
         HeapAccountingActive() ? absl::StrFormat("%.1f", s.AllocationsPerHandshake())
                                : std::string("-"),
         absl::StrCat(s.errors)});
    JsonRow row;
    row.AddString("mode", s.mode)
        .AddString("transport", TransportName(s.transport))
        .AddDouble("handshakes_per_s", s.PerSecond())
        .AddDouble("handshakes_per_cpu_s", s.PerCpuSecond())
        .AddDouble("handshakes_per_s_incl_setup", s.PerSecondWithSetup())
        .AddUint("handshakes", s.handshakes)
        .AddUint("errors", s.errors);
    json.Add(std::move(row));
  }
  std::printf(
      "handshake_bench: client and server in one thread, %.2f s per mode and transport "
      "in %d interleaved rounds; hs/s and us/hs exclude socket setup and close\n",
      seconds, kRounds);
  table.Print(stdout);
  std::printf(
      "alts_full, alts_full_reactor: verifiers with cache capacity 0, both chains "
      "verified every time; alts_full_cached: warm verified-chain cache; alts_resumed: "
      "ticket from the previous handshake\n"
      "what each side computes per handshake:\n"
      "  alts_full(_reactor)  1 X25519 keygen, 3 X25519 agreements, 0 signatures, "
      "1 Ed25519 verification (peer's leaf)\n"
      "  alts_full_cached     1 X25519 keygen, 3 X25519 agreements, 0 signatures, "
      "0 verifications (cached chain)\n"
      "  alts_resumed         1 X25519 keygen, 1 X25519 agreement, 0 signatures, "
      "0 verifications, 1 AES-GCM ticket seal or open\n"
      "  tls13_mutual_*       1 X25519 keygen, 1 X25519 agreement, 1 signature "
      "(CertificateVerify), 2 verifications (peer's CertificateVerify and certificate); "
      "P-256 ECDSA or Ed25519\n");
  std::printf("ratios (handshakes per second; CPU: per thread CPU second):\n");
  for (Transport transport : transports) {
    PrintRatio(all, transport, "alts_full", kTlsP256, 1.5);
    PrintRatio(all, transport, "alts_resumed", kTlsP256, 3.0);
    PrintRatio(all, transport, "alts_full_cached", kTlsP256, 0);
    PrintRatio(all, transport, "alts_full_reactor", kTlsP256, 0);
    PrintRatio(all, transport, "alts_full", kTlsEd25519, 0);
    PrintRatio(all, transport, "alts_resumed", kTlsEd25519, 0);
    PrintRatio(all, transport, "alts_full_cached", kTlsEd25519, 0);
    PrintRatio(all, transport, "alts_full_reactor", kTlsEd25519, 0);
  }
  for (const Stats& s : all) {
    if (s.errors > 0) {
      std::fprintf(stderr, "handshake_bench: %s over %s: %s\n", s.mode.c_str(),
                   TransportName(s.transport), s.first_error.c_str());
    }
  }
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty() && !WriteJsonResults(json, json_path, "handshake_bench")) return 1;
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
