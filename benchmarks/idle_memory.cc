// idle_memory: what an idle secure connection costs, in userland and in the
// kernel.
//
// N connection pairs over loopback TCP, both ends in the measuring process;
// each pair authenticates, exchanges one small message each way, then every
// endpoint sits idle with one libevent read event registered on the same
// kind of event_base, as a reactor-driven server would. Each endpoint keeps
// what a real server keeps after authentication: an ALTS endpoint its
// peer's identity (the interned PeerIdentity, shared by connections from
// the same peer), a TLS endpoint its peer's certificate (or, tuned, its
// SHA-256). Per endpoint (the deltas over the N pairs, divided by 2N):
//
//   heap    live bytes of every allocation in the process (malloc is
//           interposed: benchmarks/common/heap_accounting.h; BoringSSL,
//           libevent and protobuf included; pool buffers included)
//   pool    read/write pool buffers (32 KiB) leased
//   RSS     resident set growth (/proc/self/statm)
//   kernel  the kernel's share: sockbuf + slab (unknown when slab is)
//   sockbuf socket buffer memory of exactly these sockets, from the kernel's
//           per-socket counters (sock_diag, as `ss -m`): queued, reserved
//           and option memory; 0 for a socket with nothing queued
//   slab    kernel socket structures: /proc/slabinfo, active objects times
//           object size of the caches in kernel_memory.h; system-wide, root
//           only, and unknown when the delta is within the counter's
//           resolution (whole slabs per CPU: small N)
//
// RSS can be below heap: the untouched pages of a leased 32 KiB buffer are
// allocated but not resident.
//
// The endpoints sit idle for --idle_ms (250 ms) before the final snapshot.
// Before both snapshots the process settles the same way: the loop runs
// until nothing is pending, the shared pool and storage caches are trimmed
// (they are not per-connection state) and malloc_trim(0) returns free heap
// pages. A negative delta means the baseline was not steady: the run fails.
// The slab figure is a system-wide counter: other processes' sockets move
// it, so it is only meaningful on a quiet machine.
//
// Modes (kModes below; each run in its own child process):
//   on_demand              SecureConnection, ReadBufferPolicy::kOnDemand
//   pinned                 SecureConnection, ReadBufferPolicy::kPinned
//   tls13_boringssl        BoringSSL TLS 1.3, mutual auth, X25519, ECDSA P-256,
//                          no tickets: the untuned baseline (tls_baseline.h)
//   tls13_boringssl_tuned  the same, tuned as a careful BoringSSL user would
//                          (tls_tuned.h: CRYPTO_BUFFERs, shared certificate
//                          pool, shed handshake config, client-cert SHA-256)
//   rpc_on_demand          the whole stack: an rpc::Channel and an rpc::Server
//                          connection per pair over ALTS, after one unary call
//                          (transport, HTTP/2 session, HPACK tables, channel
//                          and server state, peer identity)
//
// Every figure is the median of --repeats runs, the modes alternating
// (A B C D A B C D ...). --sweep runs several N; --plot draws every figure
// of every mode against the number of idle endpoints as SVG (a sweep of
// kDefaultSweep unless --sweep says otherwise).
//
// Limits: one process holds both ends, 2N sockets, so N is at most
// (RLIMIT_NOFILE - kFdReserve) / 2: 9968 pairs (19936 endpoints) under a
// limit of 20000. Sweep points above that are skipped with a note.
//
//   idle_memory [--conns=N] [--modes=...] [--repeats=R] [--sweep=N1,N2,...]
//               [--setup=handshake|fixed_key] [--json=PATH] [--plot=PATH.svg]
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/rand.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "alts/record_protector.h"
#include "benchmarks/common/bench_pki.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/heap_accounting.h"
#include "benchmarks/common/json_writer.h"
#include "benchmarks/common/kernel_memory.h"
#include "benchmarks/common/progress_line.h"
#include "benchmarks/common/svg_plot.h"
#include "benchmarks/common/table_printer.h"
#include "benchmarks/common/tls_baseline.h"
#include "benchmarks/common/tls_drive.h"
#include "benchmarks/common/tls_tuned.h"
#include "conn/buffer_pool.h"
#include "conn/handshake_driver.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/socket_util.h"
#include "conn/storage_pool.h"
#include "handshaker/peer_identity.h"
#include "rpc/blocking.h"
#include "rpc/channel.h"
#include "rpc/server.h"

ABSL_FLAG(int, conns, 2000, "connection pairs (each pair is two idle endpoints)");
ABSL_FLAG(std::string, modes,
          "on_demand,pinned,tls13_boringssl,tls13_boringssl_tuned,rpc_on_demand",
          "modes to measure, in this order");
ABSL_FLAG(int, repeats, 3, "runs per mode and N, alternating modes; figures are medians");
ABSL_FLAG(std::string, sweep, "",
          "comma-separated pair counts to measure instead of --conns (--plot alone sweeps "
          "1000,5000,9900)");
ABSL_FLAG(std::string, json, "", "write the results as JSON to this path");
ABSL_FLAG(std::string, plot, "", "draw bytes per idle endpoint against endpoints as SVG here");
ABSL_FLAG(int, idle_ms, 250,
          "how long the endpoints idle before the final snapshot (below 200 ms the kernel may "
          "still hold socket buffer reserves from the last exchange)");
ABSL_FLAG(std::string, setup, "handshake",
          "how ALTS connections get their keys: 'handshake' (full mutual ALTS handshakes, "
          "peer identity kept) or 'fixed_key' (a random key per pair, no handshake, no identity)");

namespace alts::bench {
namespace {

// kFdReserve: descriptors besides the 2N sockets (listener, epoll, pipes,
// the warm-up pair, stdio).
constexpr int kFdReserve = 64;
// kMaxRepeats bounds --repeats: medians of more runs add only time.
constexpr int kMaxRepeats = 15;
// kMaxSweepPoints bounds --sweep; each point runs every mode --repeats times.
constexpr size_t kMaxSweepPoints = 12;
// kDefaultSweep: pair counts --plot measures without --sweep; the last is
// the largest round count under a 20000-descriptor limit.
constexpr int kDefaultSweep[] = {1000, 5000, 9900};
// kOnDemandHeapGoal: the published goal for an on-demand ALTS endpoint
// with its peer identity kept (tests/bench_smoke checks it).
constexpr double kOnDemandHeapGoal = 1024;
// kRpcHeapGoal: the published goal for a whole idle gRPC endpoint (channel
// or server connection: transport, HTTP/2 session, HPACK tables, call state).
constexpr double kRpcHeapGoal = 2048;
// kTlsStallTimeout: a TLS handshake or message that makes no progress on its
// sockets for this long has failed; a stuck peer must not hang the run.
constexpr absl::Duration kTlsStallTimeout = absl::Seconds(10);
// kAltsStepTimeout bounds each batch of ALTS handshakes and each exchange.
constexpr absl::Duration kAltsStepTimeout = absl::Seconds(60);
// kHandshakeBatch: ALTS handshakes in flight at once on the one loop.
constexpr int kHandshakeBatch = 64;
// kMaxIdleMs bounds --idle_ms (its default, 250 ms, is past TCP's longest
// delayed-ACK timer, after which the kernel gives back the socket buffer
// reserve of a socket with nothing queued).
constexpr int kMaxIdleMs = 60 * 1000;

// IdleFor returns how long the endpoints sit idle before the final snapshot.
absl::Duration IdleFor() { return absl::Milliseconds(absl::GetFlag(FLAGS_idle_ms)); }
constexpr char kPing[] = "ping";
constexpr char kPong[] = "pong";

absl::Span<const uint8_t> Bytes(const char* message) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(message), strlen(message));
}

// Sample is one run of one mode: per-endpoint figures (kernel_slab is NaN
// when /proc/slabinfo cannot be read or the delta is below its resolution)
// or an error.
struct Sample {
  double heap = 0;
  double pool_buffers = 0;
  double rss = 0;
  double kernel_sockbuf = 0;
  double kernel_slab = NAN;
  std::string error;
};

// Snapshot is the process's and the kernel's memory at one moment.
struct Snapshot {
  int64_t heap = 0;
  int64_t rss = 0;
  std::optional<SlabTotals> kernel_slab;
};

// TakeSnapshot returns malloc_trim(0) first, so free heap pages count in
// neither snapshot.
Snapshot TakeSnapshot() {
  malloc_trim(0);
  Snapshot s;
  s.heap = TakeHeapSnapshot().live_bytes;
  s.rss = static_cast<int64_t>(CurrentRssBytes());
  s.kernel_slab = SocketSlabTotals();
  return s;
}

// Measure fills `sample` with the per-endpoint deltas and the socket
// buffers of the 2N sockets connected through the listener on `port`. A
// negative delta is an error: something from before the baseline was
// freed, or (slab, beyond its resolution) another process freed sockets.
void Measure(const Snapshot& before, const Snapshot& after, uint16_t port, size_t endpoints,
             Sample& sample) {
  std::vector<std::string> negative;
  auto per = [&](const char* what, int64_t b, int64_t a) {
    if (a < b) negative.push_back(absl::StrCat(what, " ", a - b, " B"));
    return static_cast<double>(a - b) / static_cast<double>(endpoints);
  };
  sample.heap = per("heap", before.heap, after.heap);
  sample.rss = per("RSS", before.rss, after.rss);
  if (before.kernel_slab && after.kernel_slab) {
    const int64_t delta = after.kernel_slab->bytes - before.kernel_slab->bytes;
    const int64_t resolution = SlabResolution(*after.kernel_slab);
    if (delta < -resolution) {
      negative.push_back(absl::StrCat("kernel socket slabs ", delta, " B"));
    } else if (delta >= resolution) {
      sample.kernel_slab = static_cast<double>(delta) / static_cast<double>(endpoints);
    }
  }
  absl::StatusOr<SocketBuffers> buffers = TcpSocketBuffers(port);
  if (!buffers.ok()) {
    sample.error = std::string(buffers.status().message());
  } else if (buffers->sockets != static_cast<int64_t>(endpoints)) {
    sample.error = absl::StrCat("sock_diag found ", buffers->sockets, " of the ", endpoints,
                                " sockets");
  } else {
    sample.kernel_sockbuf = static_cast<double>(buffers->bytes) / static_cast<double>(endpoints);
  }
  if (!negative.empty() && sample.error.empty()) {
    sample.error = absl::StrCat("negative delta (baseline not steady): ",
                                absl::StrJoin(negative, ", "));
  }
}

// --------------------------------------------------------------------------
// ALTS.

class Endpoint : public ReadyHandler {
 public:
  void OnData(absl::Span<uint8_t> data, BufferLease&) override { received += data.size(); }
  void OnEnd(const absl::Status& status) override {
    if (!status.ok()) failed = true;
  }
  size_t received = 0;
  bool failed = false;
};

// AltsRun sets up and holds the ALTS endpoints of one run. Slot n is the
// warm-up pair, set up and torn down before the baseline.
class AltsRun {
 public:
  AltsRun(ReadBufferPolicy policy, int n) : n_(n), policy_(policy) {}

  Sample Run() {
    Sample sample;
    if (absl::Status s = Init(); !s.ok()) {
      sample.error = std::string(s.message());
      return sample;
    }
    // The warm-up pair takes every one-time cost (lazy tables, the AEAD
    // context cache, the first credential checks) before the baseline.
    if (absl::Status s = Establish(n_, n_ + 1, nullptr); !s.ok()) {
      sample.error = absl::StrCat("warm-up: ", s.message());
      return sample;
    }
    Release(n_, n_ + 1);
    Settle(absl::Milliseconds(20));
    const Snapshot before = TakeSnapshot();
    ProgressLine progress("set up", "connection pairs", static_cast<uint64_t>(n_));
    if (absl::Status s = Establish(0, n_, &progress); !s.ok()) {
      sample.error = std::string(s.message());
      return sample;
    }
    progress.Finish();
    Settle(IdleFor());
    sample.pool_buffers =
        static_cast<double>(pool_->stats().outstanding) / (2.0 * static_cast<double>(n_));
    Measure(before, TakeSnapshot(), port_, 2 * static_cast<size_t>(n_), sample);
    Release(0, n_);
    return sample;
  }

 private:
  absl::Status Init() {
    auto reactor = Reactor::CreateUnthreaded();
    auto pool = BufferPool::Create({});
    auto storage = StoragePool::Create();
    if (!reactor.ok() || !pool.ok() || !storage.ok()) return absl::InternalError("setup failed");
    reactor_ = std::move(*reactor);
    pool_ = std::move(*pool);
    storage_ = std::move(*storage);
    resources_.read_pool = pool_.get();
    resources_.storage = storage_.get();
    resources_.options.read_policy = policy_;
    // The harness's own slots exist before the baseline (a connection
    // pointer, a handler and an identity pointer: 40 bytes per endpoint);
    // what they point to is measured.
    const size_t slots = 2 * static_cast<size_t>(n_ + 1);
    handlers_.resize(slots);
    conns_.resize(slots);
    identities_.resize(slots);
    drivers_.reserve(2 * kHandshakeBatch);
    absl::StatusOr<int> listener = ListenLoopback();
    if (!listener.ok()) return listener.status();
    listener_.reset(new UniqueFd(*listener));
    absl::StatusOr<uint16_t> port = LocalPort(*listener);
    if (!port.ok()) return port.status();
    port_ = *port;
    handshake_ = absl::GetFlag(FLAGS_setup) == "handshake";
    if (!handshake_ && absl::GetFlag(FLAGS_setup) != "fixed_key") {
      return absl::InvalidArgumentError("--setup must be handshake or fixed_key");
    }
    if (handshake_) {
      absl::StatusOr<BenchPki> pki = BenchPki::Create();
      if (!pki.ok()) return pki.status();
      absl::StatusOr<std::shared_ptr<HandshakerConfig>> sc = pki->Config("server@idle-memory");
      absl::StatusOr<std::shared_ptr<HandshakerConfig>> cc = pki->Config("client@idle-memory");
      if (!sc.ok() || !cc.ok()) return absl::InternalError("credential setup failed");
      server_config_ = *sc;
      client_config_ = *cc;
    }
    return absl::OkStatus();
  }

  // Establish sets up pairs [begin, end): handshakes in batches, then one
  // message each way.
  absl::Status Establish(int begin, int end, ProgressLine* progress) {
    for (int batch = begin; batch < end; batch += kHandshakeBatch) {
      const int batch_end = std::min(end, batch + kHandshakeBatch);
      absl::Status failure;
      int pending = 0;
      for (int i = batch; i < batch_end; ++i) {
        absl::StatusOr<std::pair<int, int>> fds = ConnectedTcpPair(listener_->get());
        if (!fds.ok()) return fds.status();
        uint8_t key[44];  // fixed_key: one random key per pair
        RAND_bytes(key, sizeof(key));
        for (int side = 0; side < 2; ++side) {
          const Side s = side == 0 ? Side::kClient : Side::kServer;
          const int fd = side == 0 ? fds->first : fds->second;
          const size_t slot = 2 * static_cast<size_t>(i) + side;
          if (!handshake_) {
            auto protector = RecordProtector::Create(RecordProtocol::kAes128GcmRekey, s, key);
            if (!protector.ok()) return protector.status();
            auto conn = SecureConnection::Create(*reactor_, fd, std::move(*protector), &resources_);
            if (!conn.ok()) return conn.status();
            conns_[slot] = std::move(*conn);
            continue;
          }
          ++pending;
          auto driver = HandshakeDriver::Create(
              *reactor_, fd, s, s == Side::kServer ? server_config_ : client_config_,
              HandshakeParams{}, &resources_, /*limiter=*/nullptr,
              [this, slot, &pending, &failure](absl::StatusOr<EstablishedConnection> outcome) {
                --pending;
                if (!outcome.ok()) {
                  failure.Update(outcome.status());
                  return;
                }
                conns_[slot] = std::move(outcome->connection);
                // What a server keeps to authorize the peer's requests: the
                // interned identity, shared by every connection from the
                // same peer.
                identities_[slot] = std::move(outcome->peer);
              });
          if (!driver.ok()) return driver.status();
          drivers_.push_back(std::move(*driver));
        }
      }
      if (pending > 0) {
        (void)reactor_->RunUntil([&] { return pending == 0 || !failure.ok(); }, kAltsStepTimeout);
      }
      drivers_.clear();
      if (!failure.ok()) return absl::Status(failure.code(), absl::StrCat("handshake failed: ", failure.message()));
      if (pending > 0) return absl::DeadlineExceededError("handshakes did not complete");
      for (int i = batch; i < batch_end; ++i) {
        for (int side = 0; side < 2; ++side) {
          const size_t slot = 2 * static_cast<size_t>(i) + side;
          conns_[slot]->Start(&handlers_[slot]);
        }
      }
      if (progress != nullptr) progress->Update(static_cast<uint64_t>(batch_end - begin));
    }
    return Exchange(begin, end);
  }

  // Exchange sends one small message each way on pairs [begin, end).
  absl::Status Exchange(int begin, int end) {
    auto all_got = [&](int side, size_t size) {
      for (int i = begin; i < end; ++i) {
        const Endpoint& h = handlers_[2 * static_cast<size_t>(i) + side];
        if (h.received < size || h.failed) return false;
      }
      return true;
    };
    for (int i = begin; i < end; ++i) (void)conns_[2 * static_cast<size_t>(i)]->Write(Bytes(kPing));
    (void)reactor_->RunUntil([&] { return all_got(1, strlen(kPing)); }, kAltsStepTimeout);
    for (int i = begin; i < end; ++i) {
      (void)conns_[2 * static_cast<size_t>(i) + 1]->Write(Bytes(kPong));
    }
    (void)reactor_->RunUntil([&] { return all_got(0, strlen(kPong)); }, kAltsStepTimeout);
    if (!all_got(0, strlen(kPong)) || !all_got(1, strlen(kPing))) {
      return absl::DataLossError("message exchange did not complete");
    }
    return absl::OkStatus();
  }

  void Release(int begin, int end) {
    for (size_t slot = 2 * static_cast<size_t>(begin); slot < 2 * static_cast<size_t>(end);
         ++slot) {
      conns_[slot].reset();
      identities_[slot].reset();
    }
  }

  // Settle runs the loop for `idle` (deferred wakeups, closes) and trims the
  // shared caches.
  void Settle(absl::Duration idle) {
    (void)reactor_->RunUntil([] { return false; }, idle);
    pool_->Trim();
    storage_->Trim();
  }

  const int n_;
  const ReadBufferPolicy policy_;
  bool handshake_ = true;
  std::unique_ptr<Reactor> reactor_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  std::unique_ptr<UniqueFd> listener_;
  uint16_t port_ = 0;
  std::shared_ptr<HandshakerConfig> server_config_, client_config_;
  std::vector<Endpoint> handlers_;
  std::vector<std::unique_ptr<SecureConnection>> conns_;
  std::vector<std::shared_ptr<const PeerIdentity>> identities_;
  std::vector<std::unique_ptr<HandshakeDriver>> drivers_;
};

Sample RunOnDemand(int n) { return AltsRun(ReadBufferPolicy::kOnDemand, n).Run(); }
Sample RunPinned(int n) { return AltsRun(ReadBufferPolicy::kPinned, n).Run(); }

// --------------------------------------------------------------------------
// BoringSSL TLS 1.3.

// TlsFlavour makes the contexts and connections of one TLS mode.
struct TlsFlavour {
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> (*server_ctx)(const TlsCredentials&);
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> (*client_ctx)(const TlsCredentials&);
  absl::StatusOr<bssl::UniquePtr<SSL>> (*connection)(SSL_CTX*, int, TlsRole);
};

absl::StatusOr<bssl::UniquePtr<SSL_CTX>> UntunedServerCtx(const TlsCredentials& c) {
  return NewTlsServerContext(c);
}
absl::StatusOr<bssl::UniquePtr<SSL_CTX>> UntunedClientCtx(const TlsCredentials& c) {
  return NewTlsClientContext(c);
}

Sample RunTls(const TlsFlavour& flavour, int n) {
  Sample sample;
  auto reactor = Reactor::CreateUnthreaded();
  absl::StatusOr<TlsCredentials> creds = GenerateTlsCredentials();
  if (!reactor.ok() || !creds.ok()) {
    sample.error = "TLS setup failed";
    return sample;
  }
  auto server_ctx = flavour.server_ctx(*creds);
  auto client_ctx = flavour.client_ctx(*creds);
  if (!server_ctx.ok() || !client_ctx.ok()) {
    sample.error = "TLS context setup failed";
    return sample;
  }
  struct TlsEndpoint {
    bssl::UniquePtr<SSL> ssl;
    event* ev = nullptr;
  };
  std::vector<TlsEndpoint> eps(2 * static_cast<size_t>(n));
  absl::StatusOr<int> listener = ListenLoopback();
  if (!listener.ok()) {
    sample.error = std::string(listener.status().message());
    return sample;
  }
  UniqueFd listener_fd(*listener);
  absl::StatusOr<uint16_t> port = LocalPort(listener_fd.get());
  if (!port.ok()) {
    sample.error = std::string(port.status().message());
    return sample;
  }
  // One pair set up, used and torn down: BoringSSL's lazily initialised
  // tables and the certificate pool's first entries are not per-connection.
  auto connect_pair = [&](TlsEndpoint* client, TlsEndpoint* server) -> absl::Status {
    absl::StatusOr<std::pair<int, int>> fds = ConnectedTcpPair(listener_fd.get());
    if (!fds.ok()) return fds.status();
    auto c = flavour.connection(client_ctx->get(), fds->first, TlsRole::kClient);
    auto s = flavour.connection(server_ctx->get(), fds->second, TlsRole::kServer);
    if (!c.ok() || !s.ok()) {
      close(fds->first);
      close(fds->second);
      return absl::InternalError("TLS connection setup failed");
    }
    client->ssl = std::move(*c);
    server->ssl = std::move(*s);
    absl::Status hs = DriveTlsHandshakes(client->ssl.get(), server->ssl.get(), kTlsStallTimeout);
    if (hs.ok()) {
      hs = ExchangeTlsRecord(client->ssl.get(), server->ssl.get(), Bytes(kPing), kTlsStallTimeout);
    }
    if (hs.ok()) {
      hs = ExchangeTlsRecord(server->ssl.get(), client->ssl.get(), Bytes(kPong), kTlsStallTimeout);
    }
    for (TlsEndpoint* e : {client, server}) {
      e->ev = event_new((*reactor)->base(), SSL_get_fd(e->ssl.get()), EV_READ | EV_PERSIST,
                        [](evutil_socket_t, short, void*) {}, nullptr);
      event_add(e->ev, nullptr);
    }
    return hs;
  };
  auto release = [](TlsEndpoint& e) {
    if (e.ev != nullptr) event_free(e.ev);
    e.ev = nullptr;
    if (e.ssl) close(SSL_get_fd(e.ssl.get()));
    e.ssl.reset();
  };
  {
    TlsEndpoint warm[2];
    absl::Status s = connect_pair(&warm[0], &warm[1]);
    release(warm[0]);
    release(warm[1]);
    if (!s.ok()) {
      sample.error = absl::StrCat("warm-up: ", s.message());
      return sample;
    }
  }
  (void)(*reactor)->RunUntil([] { return false; }, absl::Milliseconds(20));
  const Snapshot before = TakeSnapshot();
  ProgressLine progress("set up", "connection pairs", static_cast<uint64_t>(n));
  for (int i = 0; i < n && sample.error.empty(); ++i) {
    absl::Status s = connect_pair(&eps[2 * i], &eps[2 * i + 1]);
    if (!s.ok()) sample.error = std::string(s.message());
    progress.Update(static_cast<uint64_t>(i + 1));
  }
  progress.Finish();
  if (sample.error.empty()) {
    (void)(*reactor)->RunUntil([] { return false; }, IdleFor());
    Measure(before, TakeSnapshot(), *port, 2 * static_cast<size_t>(n), sample);
  }
  for (TlsEndpoint& e : eps) release(e);
  return sample;
}

Sample RunTlsUntuned(int n) {
  return RunTls({UntunedServerCtx, UntunedClientCtx, NewTlsConnection}, n);
}
Sample RunTlsTuned(int n) {
  return RunTls({NewTunedTlsServerContext, NewTunedTlsClientContext, NewTunedTlsConnection}, n);
}

// --------------------------------------------------------------------------
// The RPC stack over ALTS.

// kRpcMethod is the one method the RPC mode calls.
constexpr char kRpcMethod[] = "/idle.Idle/Ping";

// RpcPong answers every call with its request.
class RpcPong final : public rpc::ServerCallHandler {
 public:
  explicit RpcPong(rpc::ServerCall* call) : call_(call) {}
  void OnMessage(absl::Span<const uint8_t> m) override { got_ = m.size(); }
  void OnHalfClose() override { (void)call_->Write(Bytes(kPong)); }
  void OnWriteDone(bool) override { call_->Finish(absl::OkStatus()); }

 private:
  rpc::ServerCall* call_;
  size_t got_ = 0;
};

Sample RunRpc(int n) {
  Sample sample;
  ReactorGroupOptions go;
  go.threads = 1;
  auto group = ReactorGroup::Create(std::move(go));
  auto read_pool = BufferPool::Create({});
  auto write_pool = BufferPool::Create({});
  auto storage = StoragePool::Create();
  absl::StatusOr<BenchPki> pki = BenchPki::Create();
  if (!group.ok() || !read_pool.ok() || !write_pool.ok() || !storage.ok() || !pki.ok()) {
    sample.error = "RPC setup failed";
    return sample;
  }
  absl::StatusOr<std::shared_ptr<HandshakerConfig>> sc = pki->Config("server@idle-memory");
  absl::StatusOr<std::shared_ptr<HandshakerConfig>> cc = pki->Config("client@idle-memory");
  if (!sc.ok() || !cc.ok()) {
    sample.error = "credential setup failed";
    return sample;
  }
  ConnectionResources resources;
  resources.read_pool = read_pool->get();
  resources.write_pool = write_pool->get();
  resources.storage = storage->get();
  rpc::ServerOptions so;
  so.group = group->get();
  so.resources = &resources;
  so.alts = *sc;
  auto server = rpc::Server::Create(std::move(so));
  if (!server.ok() || !(*server)->RegisterMethod(kRpcMethod, [](rpc::ServerCall* c) {
                                    return std::make_unique<RpcPong>(c);
                                  }).ok()) {
    sample.error = "RPC server setup failed";
    return sample;
  }
  absl::StatusOr<std::string> address = (*server)->AddListener("127.0.0.1:0");
  absl::StatusOr<SocketAddress> parsed =
      address.ok() ? ParseSocketAddress(*address) : absl::StatusOr<SocketAddress>(address.status());
  if (!parsed.ok()) {
    sample.error = std::string(parsed.status().message());
    return sample;
  }
  const uint16_t port =
      ntohs(reinterpret_cast<const sockaddr_in*>(&parsed->storage)->sin_port);
  auto options = std::make_shared<rpc::ChannelOptions>();
  options->group = group->get();
  options->resources = &resources;
  options->alts = *cc;
  options->alts_params.target_identities = {{"server@idle-memory", {}}};
  std::vector<std::unique_ptr<rpc::Channel>> channels;
  channels.reserve(static_cast<size_t>(n));
  auto call = [&](rpc::Channel& ch) {
    absl::StatusOr<std::string> r = rpc::BlockingUnaryCall(ch, kRpcMethod, Bytes(kPing));
    return r.ok() ? absl::OkStatus() : r.status();
  };
  // Shared caches, not per-connection state, are trimmed on the reactor
  // thread (its own buffer caches) and here before each snapshot.
  auto settle = [&](absl::Duration idle) {
    absl::SleepFor(idle);  // the loop runs on its own thread: let it go quiet
    (void)(*group)->RunOnAllAndWait([&](Reactor&) {
      (*read_pool)->Trim();
      (*write_pool)->Trim();
      (*storage)->Trim();
    });
    (*read_pool)->Trim();
    (*write_pool)->Trim();
    (*storage)->Trim();
  };
  {
    auto warm = rpc::Channel::Create(*address, std::shared_ptr<const rpc::ChannelOptions>(options));
    if (!warm.ok() || !call(**warm).ok()) {
      sample.error = "RPC warm-up call failed";
      return sample;
    }
  }
  settle(absl::Milliseconds(50));
  const Snapshot before = TakeSnapshot();
  ProgressLine progress("set up", "RPC connection pairs", static_cast<uint64_t>(n));
  for (int i = 0; i < n && sample.error.empty(); ++i) {
    auto ch = rpc::Channel::Create(*address, std::shared_ptr<const rpc::ChannelOptions>(options));
    if (!ch.ok()) {
      sample.error = std::string(ch.status().message());
      break;
    }
    channels.push_back(std::move(*ch));
    if (absl::Status s = call(*channels.back()); !s.ok()) {
      sample.error = absl::StrCat("call ", i, ": ", s.message());
    }
    progress.Update(static_cast<uint64_t>(i + 1));
  }
  progress.Finish();
  if (sample.error.empty()) {
    settle(IdleFor());
    size_t leased = 0;
    for (auto& ch : channels) leased += ch->ConnectionLeasedBuffers();
    sample.pool_buffers =
        static_cast<double>((*read_pool)->stats().outstanding) / (2.0 * static_cast<double>(n));
    if (leased != 0) sample.error = absl::StrCat(leased, " pool buffers held by idle channels");
    Measure(before, TakeSnapshot(), port, 2 * static_cast<size_t>(n), sample);
  }
  channels.clear();
  (*server)->Shutdown();
  (*group)->Shutdown();
  return sample;
}

// --------------------------------------------------------------------------
// Modes. To add one, write a Sample (*)(int pairs) that sets up the pairs,
// keeps them idle and fills the Sample through TakeSnapshot and Measure,
// then list it here: the table, the JSON and the plot pick it up.

struct ModeSpec {
  const char* name;
  const char* description;
  Sample (*run)(int pairs);
};

constexpr ModeSpec kModes[] = {
    {"on_demand", "ALTS, on-demand read buffers, peer identity kept", RunOnDemand},
    {"pinned", "ALTS, one read buffer pinned per connection, peer identity kept", RunPinned},
    {"tls13_boringssl", "BoringSSL TLS 1.3 mutual, untuned (X509 objects, config kept)",
     RunTlsUntuned},
    {"tls13_boringssl_tuned",
     "BoringSSL TLS 1.3 mutual, tuned (CRYPTO_BUFFERs, shed config, client-cert SHA-256 only)",
     RunTlsTuned},
    {"rpc_on_demand",
     "gRPC channel + server connection over ALTS (HTTP/2, HPACK, call state), after one call",
     RunRpc},
};

const ModeSpec* FindMode(absl::string_view name) {
  for (const ModeSpec& m : kModes) {
    if (name == m.name) return &m;
  }
  return nullptr;
}

// ParseSlab reads a slab figure back, "nan" included.
bool ParseSlab(absl::string_view text, double* value) {
  if (text == "nan" || text == "-nan") {
    *value = NAN;
    return true;
  }
  return absl::SimpleAtod(text, value);
}

// kSocketTeardownTimeout bounds the wait for a finished run's sockets to
// be freed (other processes' sockets may keep the count up).
constexpr absl::Duration kSocketTeardownTimeout = absl::Seconds(10);

// WaitForSocketsFreed waits until the machine's TCP socket count is back to
// `allocated` or below: the kernel frees a dead process's sockets after it
// exits, and a baseline taken meanwhile would see them go (a negative slab
// delta). Polls /proc/net/sockstat; gives up after kSocketTeardownTimeout.
void WaitForSocketsFreed(std::optional<int64_t> allocated) {
  if (!allocated) return;
  const absl::Time deadline = absl::Now() + kSocketTeardownTimeout;
  while (absl::Now() < deadline) {
    std::optional<int64_t> now = TcpSocketsAllocated();
    if (!now || *now <= *allocated) return;
    usleep(1000);  // polling /proc: nothing to wait on
  }
}

// RunIsolated runs one mode in a child process and reads its Sample back,
// then waits until the kernel has freed the child's sockets.
Sample RunIsolated(const ModeSpec& mode, int n) {
  const std::optional<int64_t> sockets_before = TcpSocketsAllocated();
  int pipefd[2];
  Sample failed;
  if (pipe(pipefd) != 0) {
    failed.error = "pipe failed";
    return failed;
  }
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    Sample s = mode.run(n);
    std::string line = absl::StrFormat("%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%s\n", s.heap,
                                       s.pool_buffers, s.rss, s.kernel_sockbuf, s.kernel_slab,
                                       s.error);
    (void)!write(pipefd[1], line.data(), line.size());
    _exit(0);
  }
  close(pipefd[1]);
  std::string out;
  char buf[512];
  ssize_t k;
  while ((k = read(pipefd[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(k));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  WaitForSocketsFreed(sockets_before);
  std::vector<std::string> f = absl::StrSplit(absl::StripTrailingAsciiWhitespace(out), '\t');
  Sample s;
  if (f.size() < 5 || !absl::SimpleAtod(f[0], &s.heap) ||
      !absl::SimpleAtod(f[1], &s.pool_buffers) || !absl::SimpleAtod(f[2], &s.rss) ||
      !absl::SimpleAtod(f[3], &s.kernel_sockbuf) || !ParseSlab(f[4], &s.kernel_slab)) {
    failed.error = absl::StrFormat("measurement process failed (wait status %d)", status);
    return failed;
  }
  if (f.size() > 5) s.error = f[5];
  return s;
}

// Row is one mode at one N: the runs and their medians.
struct Row {
  const ModeSpec* mode = nullptr;
  int conns = 0;
  std::vector<Sample> runs;
  Sample median;
  int errors = 0;
  std::string first_error;
};

// KernelTotal returns the kernel's share: socket buffers plus socket
// structures (NaN when the latter is unknown).
double KernelTotal(const Sample& s) { return s.kernel_sockbuf + s.kernel_slab; }

// OrNa formats a figure, or "n/a" if it is unknown (NaN).
std::string OrNa(double v) { return std::isnan(v) ? "n/a" : absl::StrFormat("%.0f", v); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Summarize fills the medians (over the runs without error) and the error
// count.
void Summarize(Row& row) {
  std::vector<double> heap, pool, rss, kernel, slab;
  for (const Sample& s : row.runs) {
    if (!s.error.empty()) {
      if (row.errors++ == 0) row.first_error = s.error;
      continue;
    }
    heap.push_back(s.heap);
    pool.push_back(s.pool_buffers);
    rss.push_back(s.rss);
    kernel.push_back(s.kernel_sockbuf);
    if (!std::isnan(s.kernel_slab)) slab.push_back(s.kernel_slab);
  }
  if (heap.empty()) return;
  row.median.heap = Median(heap);
  row.median.pool_buffers = Median(pool);
  row.median.rss = Median(rss);
  row.median.kernel_sockbuf = Median(kernel);
  row.median.kernel_slab = slab.size() == heap.size() ? Median(slab) : NAN;
}

// Runs returns one figure of every run (NaN, written as null, for a run
// that failed).
std::vector<double> Runs(const Row& row, double Sample::*field) {
  std::vector<double> v;
  for (const Sample& s : row.runs) v.push_back(s.error.empty() ? s.*field : NAN);
  return v;
}

absl::Status Plot(const std::vector<Row>& rows, const std::string& path, int repeats) {
  PlotSpec spec;
  spec.title = "Bytes per idle endpoint (median of " + absl::StrCat(repeats) + " runs)";
  spec.subtitle =
      "heap: live bytes of every malloc (interposed); RSS: /proc/self/statm growth; kernel: "
      "socket buffers (sock_diag) + socket slabs (/proc/slabinfo)\n"
      "Both ends of each loopback TCP connection in one process; ALTS endpoints keep the "
      "peer identity, TLS the peer certificate (tuned: its SHA-256)";
  spec.x_label = "idle endpoints in the process (2 per connection)";
  spec.y_label = "bytes per endpoint (log scale)";
  spec.style_names = {"heap", "RSS", "kernel (socket buffers + slabs)"};
  for (const ModeSpec& mode : kModes) {
    PlotSeries heap{mode.name, LineStyle::kSolid, {}};
    PlotSeries rss{mode.name, LineStyle::kDashed, {}};
    PlotSeries kernel{mode.name, LineStyle::kDotted, {}};
    for (const Row& r : rows) {
      if (r.mode != &mode || r.errors == static_cast<int>(r.runs.size())) continue;
      const double x = 2.0 * r.conns;
      heap.points.push_back({x, r.median.heap});
      rss.points.push_back({x, r.median.rss});
      if (!std::isnan(KernelTotal(r.median))) kernel.points.push_back({x, KernelTotal(r.median)});
    }
    for (PlotSeries* s : {&heap, &rss, &kernel}) {
      if (!s->points.empty()) spec.series.push_back(std::move(*s));
    }
  }
  return WriteSvgPlot(spec, path);
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int repeats = absl::GetFlag(FLAGS_repeats);
  if (repeats < 1 || repeats > kMaxRepeats) {
    fprintf(stderr, "idle_memory: --repeats must be 1..%d\n", kMaxRepeats);
    return 2;
  }
  const int idle_ms = absl::GetFlag(FLAGS_idle_ms);
  if (idle_ms < 0 || idle_ms > kMaxIdleMs) {
    fprintf(stderr, "idle_memory: --idle_ms must be 0..%d\n", kMaxIdleMs);
    return 2;
  }
  std::vector<const ModeSpec*> modes;
  for (absl::string_view name : absl::StrSplit(absl::GetFlag(FLAGS_modes), ',')) {
    const ModeSpec* m = FindMode(name);
    if (m == nullptr) {
      std::vector<std::string> known;
      for (const ModeSpec& k : kModes) known.push_back(k.name);
      fprintf(stderr, "idle_memory: unknown mode '%s' (known: %s)\n", std::string(name).c_str(),
              absl::StrJoin(known, ", ").c_str());
      return 2;
    }
    modes.push_back(m);
  }
  const std::string plot_path = absl::GetFlag(FLAGS_plot);
  std::vector<int> counts;
  const std::string sweep = absl::GetFlag(FLAGS_sweep);
  if (!sweep.empty()) {
    for (absl::string_view s : absl::StrSplit(sweep, ',')) {
      int v;
      if (!absl::SimpleAtoi(s, &v) || v < 1) {
        fprintf(stderr, "idle_memory: --sweep wants positive pair counts, got '%s'\n",
                std::string(s).c_str());
        return 2;
      }
      counts.push_back(v);
    }
  } else if (!plot_path.empty()) {
    counts.assign(std::begin(kDefaultSweep), std::end(kDefaultSweep));
  } else {
    counts.push_back(absl::GetFlag(FLAGS_conns));
  }
  if (counts.size() > kMaxSweepPoints) {
    fprintf(stderr, "idle_memory: at most %zu sweep points\n", kMaxSweepPoints);
    return 2;
  }
  // Both ends live here: 2N sockets. Raise the soft limit to the hard one
  // and skip what still does not fit.
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  const long long fd_limit = static_cast<long long>(rl.rlim_cur);
  const int max_pairs = static_cast<int>(std::max<long long>(0, (fd_limit - kFdReserve) / 2));
  std::vector<int> fitting;
  for (int n : counts) {
    if (n <= max_pairs) {
      fitting.push_back(n);
    } else {
      printf("idle_memory: skipping %d pairs: they need %d descriptors, the limit is %lld "
             "(at most %d pairs)\n",
             n, 2 * n + kFdReserve, fd_limit, max_pairs);
    }
  }
  if (fitting.empty()) {
    fprintf(stderr, "idle_memory: nothing fits the descriptor limit %lld\n", fd_limit);
    return 2;
  }
  if (!HeapAccountingActive()) {
    fprintf(stderr, "idle_memory: heap accounting is not active in this build (sanitizer "
                    "build?): the heap figures mean nothing\n");
  }
  printf("idle_memory: connection pairs over loopback TCP, both ends in one process; each "
         "authenticates (ALTS: %s), sends one message each way, then idles %d ms.\n"
         "Per endpoint, medians of %d runs (modes alternating, each run in its own process):\n"
         "  heap    userland: live bytes of every malloc in the process (interposed malloc), "
         "pool buffers included\n"
         "  pool    read/write pool buffers (32 KiB each) leased\n"
         "  RSS     userland: resident set growth (/proc/self/statm, after malloc_trim; below "
         "heap when leased buffers are untouched)\n"
         "  kernel  the kernel's share: sockbuf + slab\n"
         "  sockbuf kernel socket buffers of these sockets: queued + reserved + option memory "
         "(sock_diag, as ss -m)\n"
         "  slab    kernel socket structures: /proc/slabinfo TCP, sock_inode_cache, "
         "eventpoll_epi, eventpoll_pwq (system-wide; root only; n/a below its resolution)\n",
         absl::GetFlag(FLAGS_setup) == "handshake" ? "mutual handshakes, peer identity kept"
                                                   : "fixed keys, no identity",
         idle_ms, repeats);

  std::vector<Row> rows;
  for (int n : fitting) {
    const size_t first = rows.size();
    for (const ModeSpec* m : modes) rows.push_back(Row{m, n, {}, {}, 0, {}});
    for (int r = 0; r < repeats; ++r) {
      for (size_t i = 0; i < modes.size(); ++i) {
        rows[first + i].runs.push_back(RunIsolated(*modes[i], n));
      }
    }
    for (size_t i = first; i < rows.size(); ++i) Summarize(rows[i]);
  }

  TablePrinter table({"mode", "pairs", "heap B", "pool bufs", "RSS B", "kernel B",
                      "sockbuf B", "slab B", "RSS B range", "errors"});
  for (const Row& r : rows) {
    double lo = 0, hi = 0;
    bool any = false;
    for (const Sample& s : r.runs) {
      if (!s.error.empty()) continue;
      lo = any ? std::min(lo, s.rss) : s.rss;
      hi = any ? std::max(hi, s.rss) : s.rss;
      any = true;
    }
    (void)table.AddRow({r.mode->name, absl::StrCat(r.conns),
                        absl::StrFormat("%.0f", r.median.heap),
                        absl::StrFormat("%.3f", r.median.pool_buffers),
                        absl::StrFormat("%.0f", r.median.rss),
                        OrNa(KernelTotal(r.median)),
                        absl::StrFormat("%.0f", r.median.kernel_sockbuf),
                        OrNa(r.median.kernel_slab),
                        any ? absl::StrFormat("%.0f..%.0f", lo, hi) : std::string("-"),
                        absl::StrCat(r.errors)});
  }
  table.Print(stdout);
  for (const ModeSpec* m : modes) printf("  %-22s %s\n", m->name, m->description);
  int rc = 0;
  for (const Row& r : rows) {
    if (r.errors > 0) {
      fprintf(stderr, "idle_memory: %s, %d pairs: %d of %zu runs failed: %s\n", r.mode->name,
              r.conns, r.errors, r.runs.size(), r.first_error.c_str());
      rc = 1;
    }
    if (r.mode->run == RunOnDemand && r.errors == 0) {
      printf("goal: on_demand heap <= %.0f B per endpoint with the peer identity kept, at %d "
             "pairs: %s (%.0f B)\n",
             kOnDemandHeapGoal, r.conns, r.median.heap <= kOnDemandHeapGoal ? "met" : "NOT met",
             r.median.heap);
    }
    if (r.mode->run == RunRpc && r.errors == 0) {
      printf("goal: rpc_on_demand heap <= %.0f B per endpoint (gRPC over ALTS, idle after a "
             "call), at %d pairs: %s (%.0f B)\n",
             kRpcHeapGoal, r.conns, r.median.heap <= kRpcHeapGoal ? "met" : "NOT met",
             r.median.heap);
    }
  }

  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    JsonResults json;
    for (const Row& r : rows) {
      JsonRow row;
      row.AddString("mode", r.mode->name)
          .AddInt("conns", r.conns)
          .AddInt("endpoints", 2 * r.conns)
          .AddInt("repeats", static_cast<int64_t>(r.runs.size()))
          .AddDouble("heap_bytes_per_endpoint", r.median.heap)
          .AddDouble("pool_buffers_outstanding", r.median.pool_buffers)
          .AddDouble("rss_bytes_per_endpoint", r.median.rss)
          // null (NaN) when the slab figure is unknown.
          .AddDouble("kernel_bytes_per_endpoint", KernelTotal(r.median))
          .AddDouble("kernel_sockbuf_bytes_per_endpoint", r.median.kernel_sockbuf)
          .AddDouble("kernel_slab_bytes_per_endpoint", r.median.kernel_slab);
      row.AddDoubleArray("heap_runs", Runs(r, &Sample::heap))
          .AddDoubleArray("rss_runs", Runs(r, &Sample::rss))
          .AddDoubleArray("kernel_sockbuf_runs", Runs(r, &Sample::kernel_sockbuf))
          .AddDoubleArray("kernel_slab_runs", Runs(r, &Sample::kernel_slab))
          .AddInt("errors", r.errors);
      if (!r.first_error.empty()) row.AddString("error", r.first_error);
      json.Add(std::move(row));
    }
    if (!WriteJsonResults(json, json_path, "idle_memory")) {
      rc = 1;
    } else {
      printf("JSON: %s\n", json_path.c_str());
    }
  }
  if (!plot_path.empty()) {
    if (absl::Status s = Plot(rows, plot_path, repeats); !s.ok()) {
      fprintf(stderr, "idle_memory: plot: %s\n", s.ToString().c_str());
      rc = 1;
    } else {
      printf("SVG: %s\n", plot_path.c_str());
    }
  }
  return rc;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
