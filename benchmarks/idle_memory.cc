// idle_memory: what an idle secure connection costs.
//
// N connection pairs over loopback TCP; each pair exchanges one small
// message each way, then every connection sits idle. Per endpoint we report
// the heap bytes held (every malloc in the process is counted, BoringSSL's
// and libevent's included), the pool buffers outstanding and the RSS growth.
// Modes, each in its own child process so one cannot skew another:
//   on_demand        SecureConnection, ReadBufferPolicy::kOnDemand
//   pinned           SecureConnection, ReadBufferPolicy::kPinned (classic)
//   tls13_boringssl  BoringSSL TLS 1.3, mutual auth, X25519, ECDSA P-256,
//                    tickets off: the baseline
// Every endpoint, in every mode, has one libevent event registered on the
// same kind of event_base, as a reactor-driven server would.
//
// ALTS connections are set up with real mutual handshakes by default
// (--setup=fixed_key skips them: a random key per pair).
//
//   idle_memory [--conns=N] [--modes=on_demand,pinned,tls13_boringssl]
//               [--setup=handshake|fixed_key] [--json=PATH]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <openssl/rand.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "alts/record_protector.h"
#include "benchmarks/common/bench_pki.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/heap_accounting.h"
#include "benchmarks/common/json_writer.h"
#include "benchmarks/common/progress_line.h"
#include "benchmarks/common/table_printer.h"
#include "benchmarks/common/tls_baseline.h"
#include "benchmarks/common/tls_drive.h"
#include "conn/buffer_pool.h"
#include "conn/handshake_driver.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/socket_util.h"
#include "conn/storage_pool.h"
#include "conn/wake_queue.h"

ABSL_FLAG(int, conns, 2000, "connection pairs (1..9000)");
ABSL_FLAG(std::string, modes, "on_demand,pinned,tls13_boringssl", "modes to measure");
ABSL_FLAG(std::string, json, "", "write the results as JSON to this path");
ABSL_FLAG(std::string, setup, "handshake",
          "how ALTS connections get their keys: 'handshake' (full mutual ALTS handshakes) or "
          "'fixed_key' (a random key per pair, no handshake)");

namespace alts::bench {
namespace {

constexpr int kMaxConns = 9000;
constexpr char kPing[] = "ping";
constexpr char kPong[] = "pong";

// kTlsStallTimeout: a TLS handshake or message that makes no progress on its
// sockets for this long has failed; a stuck peer must not hang the run.
constexpr absl::Duration kTlsStallTimeout = absl::Seconds(10);

// Bytes returns the bytes of a message.
absl::Span<const uint8_t> Bytes(const char* message) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(message), strlen(message));
}

// Result is one mode's row.
struct Result {
  std::string mode;
  int conns = 0;
  double heap_bytes_per_endpoint = 0;
  double pool_buffers_outstanding = 0;
  double rss_bytes_per_endpoint = 0;
  std::string error;
};

// Baseline snapshot after everything that is not per-connection exists.
struct Baseline {
  size_t heap = 0;
  size_t rss = 0;
};

Baseline TakeBaseline() { return {TakeHeapSnapshot().live_bytes, CurrentRssBytes()}; }

void Finish(Result& r, const Baseline& before, size_t endpoints) {
  const size_t heap = TakeHeapSnapshot().live_bytes;
  const size_t rss = CurrentRssBytes();
  r.heap_bytes_per_endpoint =
      heap > before.heap ? static_cast<double>(heap - before.heap) / endpoints : 0;
  r.rss_bytes_per_endpoint =
      rss > before.rss ? static_cast<double>(rss - before.rss) / endpoints : 0;
}

// --------------------------------------------------------------------------
// ALTS record connections (fixed per-pair keys; the handshake is measured by
// handshake_bench).

class Endpoint : public ReadyHandler {
 public:
  void OnData(absl::Span<uint8_t> data, BufferLease&) override { received += data.size(); }
  void OnEnd(const absl::Status& status) override {
    if (!status.ok()) failed = true;
  }
  size_t received = 0;
  bool failed = false;
};

Result RunAlts(const std::string& mode, int n) {
  Result r;
  r.mode = mode;
  r.conns = n;
  auto reactor = Reactor::CreateUnthreaded();
  auto pool = BufferPool::Create({});
  auto storage = StoragePool::Create();
  if (!reactor.ok() || !pool.ok() || !storage.ok()) {
    r.error = "setup failed";
    return r;
  }
  ConnectionResources resources{pool->get(), storage->get(), {}};
  resources.options.read_policy =
      mode == "pinned" ? ReadBufferPolicy::kPinned : ReadBufferPolicy::kOnDemand;
  // Everything that is not per-connection is allocated before the baseline.
  std::vector<Endpoint> handlers(2 * static_cast<size_t>(n));
  std::vector<std::unique_ptr<SecureConnection>> conns(2 * static_cast<size_t>(n));
  // A real server keeps each peer's identity for the life of the
  // connection; it is interned, so this costs one shared_ptr per endpoint.
  std::vector<std::shared_ptr<const PeerIdentity>> peers(2 * static_cast<size_t>(n));
  absl::StatusOr<int> listener = ListenLoopback();
  if (!listener.ok()) {
    r.error = std::string(listener.status().message());
    return r;
  }
  // Warm the pools and the AEAD cache so their one-time costs are not
  // charged to the connections.
  { BufferLease warm = (*pool)->TryAcquire(); }
  const Baseline before = TakeBaseline();

  const bool handshake = absl::GetFlag(FLAGS_setup) == "handshake";
  std::shared_ptr<HandshakerConfig> server_config, client_config;
  if (handshake) {
    absl::StatusOr<BenchPki> pki = BenchPki::Create();
    absl::StatusOr<std::shared_ptr<HandshakerConfig>> sc =
        pki.ok() ? pki->Config("server@idle-memory") : pki.status();
    absl::StatusOr<std::shared_ptr<HandshakerConfig>> cc =
        pki.ok() ? pki->Config("client@idle-memory") : pki.status();
    if (!sc.ok() || !cc.ok()) {
      r.error = "credential setup failed";
      return r;
    }
    server_config = *sc;
    client_config = *cc;
  } else if (absl::GetFlag(FLAGS_setup) != "fixed_key") {
    r.error = "--setup must be handshake or fixed_key";
    return r;
  }
  // Handshakes run in batches on the same loop; their drivers are freed
  // before the measurement.
  constexpr int kBatch = 64;
  std::vector<std::unique_ptr<HandshakeDriver>> drivers;
  drivers.reserve(2 * kBatch);

  ProgressLine progress("set up", "connection pairs", static_cast<uint64_t>(n));
  for (int batch = 0; batch < n; batch += kBatch) {
    const int end = std::min(n, batch + kBatch);
    int pending = 0;
    for (int i = batch; i < end; ++i) {
      absl::StatusOr<std::pair<int, int>> fds = ConnectedTcpPair(*listener);
      if (!fds.ok()) {
        r.error = std::string(fds.status().message());
        return r;
      }
      uint8_t key[44];  // fixed_key: one random key per pair
      RAND_bytes(key, sizeof(key));
      for (int side = 0; side < 2; ++side) {
        const Side s = side == 0 ? Side::kClient : Side::kServer;
        const int fd = side == 0 ? fds->first : fds->second;
        std::unique_ptr<SecureConnection>* slot = &conns[2 * i + side];
        std::shared_ptr<const PeerIdentity>* peer = &peers[2 * i + side];
        if (!handshake) {
          auto protector = RecordProtector::Create(RecordProtocol::kAes128GcmRekey, s, key);
          auto conn = SecureConnection::Create(**reactor, fd, std::move(*protector), &resources);
          if (!conn.ok()) {
            r.error = std::string(conn.status().message());
            return r;
          }
          *slot = std::move(*conn);
          continue;
        }
        ++pending;
        auto driver = HandshakeDriver::Create(
            **reactor, fd, s, s == Side::kServer ? server_config : client_config,
            HandshakeParams{}, &resources, /*limiter=*/nullptr,
            [&, slot, peer](absl::StatusOr<EstablishedConnection> outcome) {
              --pending;
              if (!outcome.ok()) {
                r.error = "handshake failed: " + std::string(outcome.status().message());
                return;
              }
              *slot = std::move(outcome->connection);
              *peer = std::move(outcome->peer);
            });
        if (!driver.ok()) {
          r.error = std::string(driver.status().message());
          return r;
        }
        drivers.push_back(std::move(*driver));
      }
    }
    if (pending > 0) {
      (void)(*reactor)->RunUntil([&] { return pending == 0 || !r.error.empty(); },
                                 absl::Seconds(60));
    }
    drivers.clear();
    if (!r.error.empty()) return r;
    if (pending > 0) {
      r.error = "handshakes did not complete";
      return r;
    }
    for (int i = batch; i < end; ++i) {
      conns[2 * i]->Start(&handlers[2 * i]);
      conns[2 * i + 1]->Start(&handlers[2 * i + 1]);
    }
    progress.Update(static_cast<uint64_t>(end));
  }
  progress.Finish();

  // One small message each way.
  for (int i = 0; i < n; ++i) (void)conns[2 * i]->Write(Bytes(kPing));
  auto all_got = [&](int side, size_t size) {
    for (int i = 0; i < n; ++i) {
      if (handlers[2 * i + side].received < size || handlers[2 * i + side].failed) return false;
    }
    return true;
  };
  (void)(*reactor)->RunUntil([&] { return all_got(1, strlen(kPing)); }, absl::Seconds(60));
  for (int i = 0; i < n; ++i) (void)conns[2 * i + 1]->Write(Bytes(kPong));
  (void)(*reactor)->RunUntil([&] { return all_got(0, strlen(kPong)); }, absl::Seconds(60));
  if (!all_got(0, strlen(kPong)) || !all_got(1, strlen(kPing))) {
    r.error = "message exchange did not complete";
    return r;
  }
  // Idle. Shared pool caches are not per-connection state: trim them.
  (void)(*reactor)->RunUntil([] { return false; }, absl::Milliseconds(50));
  (*pool)->Trim();
  (*storage)->Trim();
  r.pool_buffers_outstanding =
      static_cast<double>((*pool)->stats().outstanding) / (2.0 * n);
  Finish(r, before, 2 * static_cast<size_t>(n));
  conns.clear();
  peers.clear();
  return r;
}

// --------------------------------------------------------------------------
// BoringSSL TLS 1.3 baseline.

Result RunTls(int n) {
  Result r;
  r.mode = "tls13_boringssl";
  r.conns = n;
  auto reactor = Reactor::CreateUnthreaded();
  absl::StatusOr<TlsCredentials> creds = GenerateTlsCredentials();
  if (!reactor.ok() || !creds.ok()) {
    r.error = "TLS setup failed";
    return r;
  }
  auto server_ctx = NewTlsServerContext(*creds);
  auto client_ctx = NewTlsClientContext(*creds);
  if (!server_ctx.ok() || !client_ctx.ok()) {
    r.error = "TLS context setup failed";
    return r;
  }
  struct TlsEndpoint {
    bssl::UniquePtr<SSL> ssl;
    event* ev = nullptr;
  };
  std::vector<TlsEndpoint> eps(2 * static_cast<size_t>(n));
  absl::StatusOr<int> listener = ListenLoopback();
  if (!listener.ok()) {
    r.error = std::string(listener.status().message());
    return r;
  }
  // Warm BoringSSL's lazily initialised tables with one throwaway connection.
  {
    auto fds = ConnectedTcpPair(*listener);
    if (fds.ok()) {
      auto c = NewTlsConnection(client_ctx->get(), fds->first, TlsRole::kClient);
      auto s = NewTlsConnection(server_ctx->get(), fds->second, TlsRole::kServer);
      if (c.ok() && s.ok()) (void)DriveTlsHandshakes(c->get(), s->get(), kTlsStallTimeout);
      close(fds->first);
      close(fds->second);
    }
  }
  const Baseline before = TakeBaseline();
  ProgressLine progress("set up", "connection pairs", static_cast<uint64_t>(n));
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<std::pair<int, int>> fds = ConnectedTcpPair(*listener);
    if (!fds.ok()) {
      r.error = std::string(fds.status().message());
      return r;
    }
    auto c = NewTlsConnection(client_ctx->get(), fds->first, TlsRole::kClient);
    auto s = NewTlsConnection(server_ctx->get(), fds->second, TlsRole::kServer);
    if (!c.ok() || !s.ok()) {
      r.error = "TLS connection setup failed";
      return r;
    }
    absl::Status hs = DriveTlsHandshakes(c->get(), s->get(), kTlsStallTimeout);
    if (hs.ok()) hs = ExchangeTlsRecord(c->get(), s->get(), Bytes(kPing), kTlsStallTimeout);
    if (hs.ok()) hs = ExchangeTlsRecord(s->get(), c->get(), Bytes(kPong), kTlsStallTimeout);
    if (!hs.ok()) {
      r.error = std::string(hs.message());
      return r;
    }
    eps[2 * i].ssl = std::move(*c);
    eps[2 * i + 1].ssl = std::move(*s);
    for (TlsEndpoint* e : {&eps[2 * i], &eps[2 * i + 1]}) {
      e->ev = event_new((*reactor)->base(), SSL_get_fd(e->ssl.get()), EV_READ | EV_PERSIST,
                        [](evutil_socket_t, short, void*) {}, nullptr);
      event_add(e->ev, nullptr);
    }
    progress.Update(static_cast<uint64_t>(i + 1));
  }
  progress.Finish();
  (void)(*reactor)->RunUntil([] { return false; }, absl::Milliseconds(50));
  Finish(r, before, 2 * static_cast<size_t>(n));
  for (auto& e : eps) {
    if (e.ev != nullptr) event_free(e.ev);
    if (e.ssl) close(SSL_get_fd(e.ssl.get()));
  }
  return r;
}

// --------------------------------------------------------------------------

Result RunMode(const std::string& mode, int n) {
  if (mode == "tls13_boringssl") return RunTls(n);
  if (mode == "on_demand" || mode == "pinned") return RunAlts(mode, n);
  Result r;
  r.mode = mode;
  r.error = "unknown mode (on_demand, pinned, tls13_boringssl)";
  return r;
}

// RunIsolated measures one mode in a child process and reads its row back.
Result RunIsolated(const std::string& mode, int n) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return RunMode(mode, n);
  fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    Result r = RunMode(mode, n);
    std::string line = absl::StrFormat("%s\t%d\t%.1f\t%.4f\t%.1f\t%s\n", r.mode, r.conns,
                                       r.heap_bytes_per_endpoint, r.pool_buffers_outstanding,
                                       r.rss_bytes_per_endpoint, r.error);
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
  Result r;
  r.mode = mode;
  r.conns = n;
  std::vector<std::string> f = absl::StrSplit(absl::StripTrailingAsciiWhitespace(out), '\t');
  if (f.size() < 5) {
    r.error = absl::StrFormat("measurement process failed (status %d)", status);
    return r;
  }
  r.heap_bytes_per_endpoint = std::stod(f[2]);
  r.pool_buffers_outstanding = std::stod(f[3]);
  r.rss_bytes_per_endpoint = std::stod(f[4]);
  if (f.size() > 5) r.error = f[5];
  return r;
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int n = absl::GetFlag(FLAGS_conns);
  if (n < 1 || n > kMaxConns) {
    fprintf(stderr, "idle_memory: --conns must be 1..%d\n", kMaxConns);
    return 2;
  }
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < static_cast<rlim_t>(2 * n + 64)) {
    fprintf(stderr, "idle_memory: %d pairs need %d fds, the limit is %llu\n", n, 2 * n + 64,
            static_cast<unsigned long long>(rl.rlim_cur));
    return 2;
  }
  printf("idle_memory: %d connection pairs over loopback TCP, one message each way, then idle\n",
         n);
  std::vector<Result> results;
  for (absl::string_view mode : absl::StrSplit(absl::GetFlag(FLAGS_modes), ',')) {
    results.push_back(RunIsolated(std::string(mode), n));
  }
  TablePrinter table({"mode", "conns", "heap B/endpoint", "pool bufs/endpoint",
                      "RSS B/endpoint", "note"});
  for (const Result& r : results) {
    (void)table.AddRow({r.mode, absl::StrCat(r.conns),
                        absl::StrFormat("%.0f", r.heap_bytes_per_endpoint),
                        absl::StrFormat("%.3f", r.pool_buffers_outstanding),
                        absl::StrFormat("%.0f", r.rss_bytes_per_endpoint), r.error});
  }
  table.Print(stdout);
  int rc = 0;
  for (const Result& r : results) {
    if (!r.error.empty()) rc = 1;
  }
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    JsonResults json;
    for (const Result& r : results) {
      JsonRow row;
      row.AddString("mode", r.mode)
          .AddInt("conns", r.conns)
          .AddDouble("heap_bytes_per_endpoint", r.heap_bytes_per_endpoint)
          .AddDouble("pool_buffers_outstanding", r.pool_buffers_outstanding)
          .AddDouble("rss_bytes_per_endpoint", r.rss_bytes_per_endpoint);
      if (!r.error.empty()) row.AddString("error", r.error);
      json.Add(std::move(row));
    }
    if (!WriteJsonResults(json, json_path, "idle_memory")) rc = 1;
  }
  return rc;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
