// stress: many secure connections under load, with churn, every byte checked.
//
// --conns client connections (and their --conns server ends) live on one
// ReactorGroup of --threads reactors, in this process, over loopback TCP.
// Each client sends --messages messages, one at a time, of random sizes in
// [--min-size, --max-size]; the server echoes every byte and the client
// compares each echoed byte with what it sent and measures the round trip of
// every message. Meanwhile --churn-per-s connections a second are closed
// gracefully in the middle of a message (whose echo must still arrive whole)
// and reopened; the new connection carries on with the messages its slot
// has left, so the total number of messages does not depend on the churn.
//
// Connections are set up with real handshakes (SecureListener + SecureDialer,
// full handshakes with a PKI made in this process: one root, a server leaf and
// a client leaf; the client requires the server's identity and the server
// checks the client's), or with --fixed-key, with a fresh random record key
// per connection and no handshake (much faster setup). Reopened connections
// are made the same way.
//
// Reported: messages/s over the load phase (all connections are open before
// it starts), p50/p99 round-trip latency, bytes verified, errors, peak RSS,
// the read pool's high-water mark (BufferPoolStats::high_water_outstanding),
// and RSS at the start and after the run. Latency percentiles are read from
// a histogram with buckets at most ~3% wide. Errors are every verification
// failure, every unexpected connection or handshake error and every
// connection that ended before its work was done; there must be none. "Start"
// is measured after a warm-up run of one connection per reactor (so one-time
// lazy initialisation is not charged to the load); "after" once every
// connection is closed and destroyed and the pools and the allocator are
// trimmed. After - start must stay within --rss-margin-mb: the check prints
// PASS or FAIL. What remains after a healthy run is a few MiB that does not
// grow with run length or churn: libevent's per-descriptor tables, which grow
// to the highest fd number seen and never shrink, and the allocator pages
// they pin (heap live bytes, printed alongside, show it is not per-connection
// state). The program exits 1 if there were errors or the margin was
// exceeded, 2 for bad flags.
//
// --duration-s=S is the long (soak) version: instead of a fixed number of
// messages, every connection keeps sending until S seconds have passed, with
// churn all along.
//
//   stress [--conns=5000] [--threads=2] [--messages=20 | --duration-s=S]
//          [--min-size=1] [--max-size=16384] [--churn-per-s=200]
//          [--fixed-key] [--rss-margin-mb=16] [--seed=1] [--json=PATH]
//
// Flags may be spelled with dashes or underscores (--churn-per-s or
// --churn_per_s). Progress goes to stderr; results to stdout (and --json).

#include <openssl/mem.h>
#include <openssl/rand.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "alts/record_protocol.h"
#include "benchmarks/common/bench_pki.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/heap_accounting.h"
#include "benchmarks/common/json_writer.h"
#include "benchmarks/common/load_harness.h"
#include "benchmarks/common/load_stats.h"
#include "benchmarks/common/progress_line.h"
#include "benchmarks/common/table_printer.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/secure_listener.h"
#include "conn/socket_util.h"
#include "conn/storage_pool.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/handshake_limiter.h"
#include "handshaker/handshake_limits.h"
#include "handshaker/handshaker.h"
#include "handshaker/workload_credential.h"

ABSL_FLAG(int, conns, 5000, "Concurrent client connections (each with its server end).");
ABSL_FLAG(int, threads, 2, "Reactor threads carrying both ends of every connection.");
ABSL_FLAG(int, messages, 20, "Messages each connection slot sends (ignored with --duration-s).");
ABSL_FLAG(int, duration_s, 0,
          "The long version: send for this many seconds instead of --messages (0 = off).");
ABSL_FLAG(int, min_size, 1, "Smallest message, in bytes.");
ABSL_FLAG(int, max_size, 16384, "Largest message, in bytes.");
ABSL_FLAG(double, churn_per_s, 200,
          "Connections closed gracefully mid-message and reopened, per second of load.");
ABSL_FLAG(bool, fixed_key, false,
          "Skip handshakes: a random record key per connection (faster setup).");
ABSL_FLAG(int, rss_margin_mb, 16,
          "RSS after the run may exceed RSS at the start by at most this many MiB.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the message sizes and contents.");
ABSL_FLAG(std::string, json, "", "Also write the results as JSON to this path ('-' for stdout).");

namespace alts::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

// kMaxMessageSize bounds --max-size: the shared pattern is this much larger
// than the largest message, and bigger messages only test the write
// back-pressure path that throughput already covers.
constexpr int kMaxMessageSize = 1 << 20;
// kMaxMessages bounds --messages so the message total fits any counter.
constexpr int kMaxMessages = 1 << 24;
// kMaxChurnPerS bounds --churn-per-s: each reopen is a handshake, and a
// couple of cores do a few thousand a second at most.
constexpr double kMaxChurnPerS = 100000;
// kPatternExtra: messages start at a random offset in [0, kPatternExtra] of
// the shared random pattern, so an echo delivered to the wrong connection, or
// a frame repeated or skipped, does not match. Odd, so offsets do not line up
// with frame sizes.
constexpr size_t kPatternExtra = (1 << 20) + 17;
// kSetupWindow: connections being opened at once during setup. The handshake
// deadline counts from the Dial, so dialing thousands at once would leave the
// last ones queued behind the handshake limiter past their deadline.
constexpr int kSetupWindow = 256;
// kHandshakeConcurrency: handshakes each side runs at once (gRPC's cap).
constexpr size_t kHandshakeConcurrency = kDefaultMaxConcurrentHandshakes;
// kDrainTimeout: once every client is done, server ends must finish closing
// within this long.
constexpr absl::Duration kDrainTimeout = absl::Seconds(10);
// kMaxReportedErrors: distinct error messages kept for the report.
constexpr size_t kMaxReportedErrors = 5;
// kServerName, kClientName: the service accounts of the in-process PKI.
constexpr char kServerName[] = "stress-server@alts.test";
constexpr char kClientName[] = "stress-client@alts.test";

constexpr double kMiB = 1024.0 * 1024.0;
// kFixedKeySize: the key material of ALTSRP_GCM_AES128_REKEY, the protocol
// --fixed-key connections use (the one handshakes negotiate here).
constexpr size_t kFixedKeySize = 44;

class Harness;
class ClientConn;
class ServerConn;

// Slot is one of the --conns client connections, across reopenings: the
// work it has left and the generator of its messages.
struct Slot {
  uint32_t id = 0;
  int64_t remaining = 0;  // messages not yet started (messages mode)
  Rng rng;
  std::unique_ptr<ClientConn> client;
};

// ReactorState is what one reactor's thread owns: its connections, its
// housekeeping timer and its statistics.
struct alignas(64) ReactorState {
  Reactor* reactor = nullptr;
  std::vector<ClientConn*> clients;
  std::vector<std::unique_ptr<ServerConn>> servers;
  // Server ends that were told to close and are flushing their last bytes.
  std::vector<ServerConn*> draining;
  ChurnPacer churn;
  LatencyHistogram latency;
  Counter messages;
  Counter bytes_verified;
  Counter reopened;
};

// RunConfig is one run's workload.
struct RunConfig {
  int conns = 0;
  int messages = 0;  // per slot; ignored when duration > 0
  absl::Duration duration = absl::ZeroDuration();
  size_t min_size = 1;
  size_t max_size = 1;
  double churn_per_s = 0;
  uint64_t seed = 0;
};

// RunResult is what one run measured.
struct RunResult {
  uint64_t messages = 0;
  uint64_t bytes_verified = 0;
  uint64_t errors = 0;
  uint64_t reopened = 0;
  double setup_s = 0;
  double load_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  bool aborted = false;
};

// Harness owns the reactors, pools, listener and dialer, and runs loads.
class Harness {
 public:
  Harness(bool fixed_key, std::vector<uint8_t> pattern)
      : fixed_key_(fixed_key), pattern_(std::move(pattern)) {}
  ~Harness();

  // Init starts `threads` reactors with their timers, the pools, and either
  // the PKI, listener and dialer or (fixed keys) a plain loopback listener.
  // Returns the first failure.
  absl::Status Init(int threads);
  // Run opens config.conns connections, runs the load and closes them all,
  // counting every failure in RunResult::errors. Call from the main thread,
  // one run at a time; a stalled run aborts (RunResult::aborted) and leaves
  // the harness unable to run again.
  RunResult Run(const RunConfig& config, bool show_progress);
  // Trim returns cached memory: every reactor's pool caches, the depots, and
  // the allocator's free pages.
  void Trim();
  // pool_stats returns the read pool's counters.
  BufferPoolStats pool_stats() const { return pool_->stats(); }
  // errors returns the errors counted so far, with the first
  // kMaxReportedErrors messages.
  const LoadErrors& errors() const { return errors_; }

  // The rest is called by connections, on their reactor threads.

  // Error counts one error and keeps its message if it is among the first.
  void Error(const std::string& what) { errors_.Add(what); }
  // aborting returns true once a stalled run is being torn down: failures
  // are then expected and not counted.
  bool aborting() const { return aborting_.load(std::memory_order_acquire); }
  // load_running returns true between the start of the load and its end.
  bool load_running() const { return load_running_.load(std::memory_order_acquire); }
  // HasMoreWork returns true if `slot` should send another message.
  bool HasMoreWork(const Slot& slot) const;
  // TakeMessage charges one message to `slot`.
  void TakeMessage(Slot& slot) {
    if (config_.duration <= absl::ZeroDuration()) --slot.remaining;
  }
  // config returns the current run's workload.
  const RunConfig& config() const { return config_; }
  // pattern returns the random bytes every message is a slice of.
  absl::Span<const uint8_t> pattern() const { return pattern_; }
  // state returns the state of reactor `r`.
  ReactorState& state(Reactor& r) { return *states_[r.index()]; }
  // ClientEnded is the last thing a client connection does: it destroys the
  // connection and reopens the slot or finishes it.
  void ClientEnded(Slot* slot, bool reopen);
  // RemoveServer destroys a server end (on its reactor thread).
  void RemoveServer(ServerConn* server);

 private:
  // Open starts a new connection for `slot` (any thread). The outcome lands
  // in Established or OpenFailed on a reactor thread.
  void Open(Slot* slot);
  void OpenFixed(Slot* slot);
  void Established(Reactor& reactor, Slot* slot, std::unique_ptr<SecureConnection> conn);
  void OpenFailed(Slot* slot, const absl::Status& status);
  void AddServer(Reactor& reactor, std::unique_ptr<SecureConnection> conn);
  void SlotDone();
  void Tick(ReactorState& st);
  // WaitFor polls `done` until it holds; false after kLoadStallTimeout without
  // a change of `progress`.
  bool WaitFor(absl::FunctionRef<bool()> done, absl::FunctionRef<uint64_t()> progress,
               absl::FunctionRef<void()> on_poll);
  uint64_t TotalMessages() const;
  void Abort();
  void DestroyConnections();

  const bool fixed_key_;
  const std::vector<uint8_t> pattern_;
  std::unique_ptr<LoadStack> stack_;
  // stack_'s parts.
  ReactorGroup* group_ = nullptr;
  BufferPool* pool_ = nullptr;
  const ConnectionResources* resources_ = nullptr;
  std::vector<std::unique_ptr<ReactorState>> states_;
  // Handshake mode. Separate limiters per side (a process that dials itself
  // must not share one).
  std::unique_ptr<HandshakeLimiter> dial_limiter_, accept_limiter_;
  std::unique_ptr<SecureListener> listener_;
  std::unique_ptr<SecureDialer> dialer_;
  std::string address_;
  HandshakeParams client_params_;
  // Fixed-key mode: a plain listener to make TCP pairs with. ConnectedTcpPair
  // accepts whatever connection is first in the queue, so pairs are made one
  // at a time.
  int pair_listener_ = -1;
  std::mutex pair_mu_;

  RunConfig config_;
  std::vector<Slot> slots_;
  SteadyClock::time_point deadline_;
  std::atomic<bool> load_running_{false};
  std::atomic<bool> aborting_{false};
  std::atomic<uint64_t> opens_done_{0};
  std::atomic<uint64_t> slots_done_{0};
  std::atomic<uint64_t> servers_live_{0};
  LoadErrors errors_{kMaxReportedErrors};
  std::unique_ptr<ReactorTicker> ticker_;
};

// ClientConn sends its slot's messages one at a time and checks each echo.
class ClientConn final : public ReadyHandler {
 public:
  ClientConn(Harness* harness, Slot* slot, ReactorState* state,
             std::unique_ptr<SecureConnection> conn)
      : harness_(harness), slot_(slot), state_(state), conn_(std::move(conn)) {
    index_ = state_->clients.size();
    state_->clients.push_back(this);
  }
  ~ClientConn() override {
    conn_.reset();
    ClientConn* last = state_->clients.back();
    state_->clients[index_] = last;
    last->index_ = index_;
    state_->clients.pop_back();
  }

  // Start starts reading.
  void Start() { conn_->Start(this); }
  // slot returns the slot this connection works for.
  Slot* slot() const { return slot_; }

  // SendNext starts the next message, or closes if the slot's work is done.
  void SendNext() {
    if (!harness_->HasMoreWork(*slot_)) {
      closing_ = true;
      conn_->Close();
      return;
    }
    harness_->TakeMessage(*slot_);
    const RunConfig& config = harness_->config();
    size_ = slot_->rng.Uniform(config.min_size, config.max_size);
    offset_ = slot_->rng.Uniform(0, kPatternExtra);
    sent_ = 0;
    received_ = 0;
    in_flight_ = true;
    start_ = SteadyClock::now();
    SendMore();
  }

  // Churnable returns true if closing now interrupts a message in flight.
  bool Churnable() const {
    return in_flight_ && !closing_ && !churn_pending_ && harness_->HasMoreWork(*slot_);
  }

  // Churn closes gracefully once the message in flight is fully written;
  // its echo must still arrive before the end of the stream.
  void Churn() {
    churn_pending_ = true;
    if (sent_ == size_) CloseForChurn();
  }

  void OnData(absl::Span<uint8_t> data, BufferLease&) override {
    if (failed_) return;
    if (!in_flight_ || data.size() > size_ - received_) {
      Fail(absl::StrCat("client ", slot_->id, ": ", data.size(), " bytes arrived with ",
                        in_flight_ ? size_ - received_ : 0, " expected"));
      return;
    }
    if (std::memcmp(data.data(), harness_->pattern().data() + offset_ + received_, data.size()) !=
        0) {
      Fail(absl::StrCat("client ", slot_->id, ": echo differs from what was sent within bytes ",
                        received_, "..", received_ + data.size(), " of ", size_));
      return;
    }
    received_ += data.size();
    if (received_ < size_) return;
    in_flight_ = false;
    state_->latency.Record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start_).count()));
    state_->messages.Add(1);
    state_->bytes_verified.Add(size_);
    if (!closing_) SendNext();
  }

  void OnWritable() override {
    if (in_flight_ && sent_ < size_ && !closing_) SendMore();
  }

  void OnEnd(const absl::Status& status) override {
    bool reopen = false;
    if (!status.ok()) {
      if (!failed_ && !harness_->aborting()) {
        harness_->Error(absl::StrCat("client ", slot_->id, ": ", status.ToString()));
      }
    } else if (!closing_) {
      harness_->Error(absl::StrCat("client ", slot_->id, ": the server ended the stream"));
    } else if (in_flight_) {
      harness_->Error(absl::StrCat("client ", slot_->id, ": graceful close lost the echo (",
                                   received_, " of ", size_, " bytes)"));
    } else {
      reopen = churn_pending_ && harness_->HasMoreWork(*slot_);
    }
    harness_->ClientEnded(slot_, reopen);  // destroys this
  }

 private:
  void SendMore() {
    while (sent_ < size_) {
      absl::StatusOr<size_t> n =
          conn_->Write(harness_->pattern().subspan(offset_ + sent_, size_ - sent_));
      if (!n.ok()) return;  // the connection failed: OnEnd reports it
      if (*n == 0) return;  // OnWritable follows
      sent_ += *n;
    }
    if (churn_pending_) CloseForChurn();
  }

  void CloseForChurn() {
    if (closing_) return;
    closing_ = true;
    conn_->Close();
  }

  void Fail(std::string what) {
    failed_ = true;
    harness_->Error(what);
    conn_->Abort(absl::DataLossError(what));
  }

  Harness* harness_;
  Slot* slot_;
  ReactorState* state_;
  std::unique_ptr<SecureConnection> conn_;
  size_t index_ = 0;  // in state_->clients
  size_t size_ = 0, offset_ = 0, sent_ = 0, received_ = 0;
  SteadyClock::time_point start_;
  bool in_flight_ = false;
  bool closing_ = false;
  bool churn_pending_ = false;
  bool failed_ = false;
};

// ServerConn echoes everything; at the client's end of stream it flushes and
// closes, and is freed once its socket is closed.
class ServerConn final : public ReadyHandler {
 public:
  ServerConn(Harness* harness, ReactorState* state, std::unique_ptr<SecureConnection> conn)
      : harness_(harness), state_(state), conn_(std::move(conn)) {}

  // Start starts reading.
  void Start() { conn_->Start(this); }

  void OnData(absl::Span<uint8_t> data, BufferLease&) override {
    absl::Span<const uint8_t> rest = data;
    if (pending_.empty()) {
      absl::StatusOr<size_t> n = conn_->Write(rest);
      if (!n.ok()) return;  // OnEnd reports it
      rest.remove_prefix(*n);
      if (rest.empty()) return;
    }
    // Back-pressure: keep what the connection did not take, in order.
    pending_.insert(pending_.end(), rest.begin(), rest.end());
  }

  void OnWritable() override { Push(); }

  void OnEnd(const absl::Status& status) override {
    if (!status.ok()) {
      if (!harness_->aborting()) harness_->Error(absl::StrCat("server: ", status.ToString()));
      harness_->RemoveServer(this);  // destroys this
      return;
    }
    ended_ = true;
    Push();  // closes once everything is echoed; may destroy this
  }

  // Finished returns true once the socket is closed (or the connection failed).
  bool Finished() const { return conn_->fd() < 0 || !conn_->status().ok(); }
  // failed returns true if the connection ended with an error.
  bool failed() const { return !conn_->status().ok(); }
  // error returns the connection's status as text.
  std::string error() const { return conn_->status().ToString(); }
  // state returns the state of the reactor this end lives on.
  ReactorState* state() const { return state_; }

  // index is this end's position in state()->servers.
  size_t index = 0;

 private:
  void Push() {
    while (pending_sent_ < pending_.size()) {
      absl::StatusOr<size_t> n = conn_->Write(absl::MakeConstSpan(pending_).subspan(pending_sent_));
      if (!n.ok() || *n == 0) return;
      pending_sent_ += *n;
    }
    std::vector<uint8_t>().swap(pending_);  // idle servers hold nothing
    pending_sent_ = 0;
    if (ended_) CloseAndDrain();
  }

  void CloseAndDrain() {
    if (closing_) return;
    closing_ = true;
    conn_->Close();
    if (Finished()) {
      harness_->RemoveServer(this);  // destroys this
      return;
    }
    state_->draining.push_back(this);
  }

  Harness* harness_;
  ReactorState* state_;
  std::unique_ptr<SecureConnection> conn_;
  std::vector<uint8_t> pending_;
  size_t pending_sent_ = 0;
  bool ended_ = false;
  bool closing_ = false;
};

// ---------------------------------------------------------------------------

Harness::~Harness() {
  if (listener_) listener_->Close();
  if (dialer_) dialer_->Close();
  if (group_) {
    ticker_.reset();
    DestroyConnections();
    group_->Shutdown();
  }
  listener_.reset();
  dialer_.reset();
  if (pair_listener_ >= 0) close(pair_listener_);
}

absl::Status Harness::Init(int threads) {
  ReactorGroupOptions group_options;
  group_options.threads = static_cast<size_t>(threads);
  absl::StatusOr<std::unique_ptr<LoadStack>> stack =
      LoadStack::Create(std::move(group_options), /*write_pool=*/false);
  if (!stack.ok()) return stack.status();
  stack_ = *std::move(stack);
  group_ = stack_->group.get();
  pool_ = stack_->read_pool.get();
  resources_ = &stack_->resources;

  states_ = MakeReactorStates<ReactorState>(*group_);
  absl::StatusOr<std::unique_ptr<ReactorTicker>> ticker =
      ReactorTicker::Start(*group_, kLoadTick, [this](Reactor& r) { Tick(state(r)); });
  if (!ticker.ok()) return ticker.status();
  ticker_ = *std::move(ticker);

  if (fixed_key_) {
    absl::StatusOr<int> fd = ListenLoopback();
    if (!fd.ok()) return fd.status();
    pair_listener_ = *fd;
    return absl::OkStatus();
  }

  // The PKI: one root, a leaf for each side.
  absl::StatusOr<BenchPki> pki = BenchPki::Create();
  if (!pki.ok()) return pki.status();
  auto server_leaf = pki->Credential(kServerName, kLoadCredentialValidity);
  if (!server_leaf.ok()) return server_leaf.status();
  auto client_leaf = pki->Credential(kClientName, kLoadCredentialValidity);
  if (!client_leaf.ok()) return client_leaf.status();
  absl::StatusOr<std::shared_ptr<CertificateVerifier>> verifier =
      CertificateVerifier::Create({TrustRoot::FromSigningKey(pki->root())});
  if (!verifier.ok()) return verifier.status();
  auto server_config = std::make_shared<HandshakerConfig>();
  server_config->credential = *server_leaf;
  server_config->verifier = *verifier;
  server_config->accepted_client_identities.push_back(Identity{kClientName, {}});
  auto client_config = std::make_shared<HandshakerConfig>();
  client_config->credential = *client_leaf;
  client_config->verifier = *verifier;
  client_params_.target_identities.push_back(Identity{kServerName, {}});

  dial_limiter_ = std::make_unique<HandshakeLimiter>(kHandshakeConcurrency);
  accept_limiter_ = std::make_unique<HandshakeLimiter>(kHandshakeConcurrency);
  ListenOptions listen_options;
  listen_options.resources = resources_;
  listen_options.limiter = accept_limiter_.get();
  absl::StatusOr<std::unique_ptr<SecureListener>> listener = SecureListener::Listen(
      *group_, "127.0.0.1:0", server_config, std::move(listen_options),
      [this](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
        if (!outcome.ok()) {
          if (!aborting()) Error(absl::StrCat("accept: ", outcome.status().ToString()));
          return;
        }
        if (outcome->peer->service_account() != kClientName) {
          Error(absl::StrCat("accept: peer is '", outcome->peer->service_account(), "'"));
          return;
        }
        AddServer(r, std::move(outcome->connection));
      });
  if (!listener.ok()) return listener.status();
  listener_ = *std::move(listener);
  address_ = listener_->address().ToString();
  DialerOptions dial_options;
  dial_options.resources = resources_;
  dial_options.limiter = dial_limiter_.get();
  absl::StatusOr<std::unique_ptr<SecureDialer>> dialer =
      SecureDialer::Create(*group_, client_config, dial_options);
  if (!dialer.ok()) return dialer.status();
  dialer_ = *std::move(dialer);
  return absl::OkStatus();
}

bool Harness::HasMoreWork(const Slot& slot) const {
  if (!load_running()) return false;
  if (config_.duration > absl::ZeroDuration()) return SteadyClock::now() < deadline_;
  return slot.remaining > 0;
}

void Harness::Open(Slot* slot) {
  if (fixed_key_) {
    OpenFixed(slot);
    return;
  }
  dialer_->Dial(
      address_, client_params_,
      [this, slot](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
        if (!outcome.ok()) {
          OpenFailed(slot, outcome.status());
          return;
        }
        if (outcome->peer->service_account() != kServerName) {
          OpenFailed(slot, absl::PermissionDeniedError(absl::StrCat(
                               "peer is '", outcome->peer->service_account(), "'")));
          return;
        }
        Established(r, slot, std::move(outcome->connection));
      },
      slot->id);
}

void Harness::OpenFixed(Slot* slot) {
  absl::StatusOr<std::pair<int, int>> fds;
  {
    std::lock_guard<std::mutex> lock(pair_mu_);
    fds = ConnectedTcpPair(pair_listener_);
  }
  if (!fds.ok()) {
    OpenFailed(slot, fds.status());
    return;
  }
  UniqueFd client_fd(fds->first), server_fd(fds->second);
  std::array<uint8_t, kFixedKeySize> key;
  RAND_bytes(key.data(), key.size());
  absl::StatusOr<RecordProtector> client_protector =
      RecordProtector::Create(RecordProtocol::kAes128GcmRekey, Side::kClient, key);
  absl::StatusOr<RecordProtector> server_protector =
      RecordProtector::Create(RecordProtocol::kAes128GcmRekey, Side::kServer, key);
  OPENSSL_cleanse(key.data(), key.size());
  if (!client_protector.ok() || !server_protector.ok()) {
    OpenFailed(slot, client_protector.ok() ? server_protector.status() : client_protector.status());
    return;
  }
  // The two ends on different reactors (when there are several), so every
  // message crosses threads, as it would between processes.
  Reactor& rc = group_->Pick(slot->id);
  Reactor& rs = group_->reactor((rc.index() + 1) % group_->size());
  rs.Post(
      [this, &rs, fd = std::move(server_fd), protector = *std::move(server_protector)]() mutable {
        absl::StatusOr<std::unique_ptr<SecureConnection>> conn =
            SecureConnection::Create(rs, fd.Release(), std::move(protector), resources_);
        if (!conn.ok()) {
          if (!aborting()) Error(absl::StrCat("server: ", conn.status().ToString()));
          return;
        }
        AddServer(rs, *std::move(conn));
      });
  const bool posted = rc.Post([this, &rc, slot, fd = std::move(client_fd),
                               protector = *std::move(client_protector)]() mutable {
    absl::StatusOr<std::unique_ptr<SecureConnection>> conn =
        SecureConnection::Create(rc, fd.Release(), std::move(protector), resources_);
    if (!conn.ok()) {
      OpenFailed(slot, conn.status());
      return;
    }
    Established(rc, slot, *std::move(conn));
  });
  if (!posted) OpenFailed(slot, absl::CancelledError("reactor shutting down"));
}

void Harness::Established(Reactor& reactor, Slot* slot, std::unique_ptr<SecureConnection> conn) {
  if (aborting()) return;  // dropped: the connection closes
  ReactorState& st = state(reactor);
  slot->client = std::make_unique<ClientConn>(this, slot, &st, std::move(conn));
  ClientConn* client = slot->client.get();
  client->Start();
  opens_done_.fetch_add(1, std::memory_order_release);
  if (load_running()) {
    st.reopened.Add(1);
    client->SendNext();
  }
}

void Harness::OpenFailed(Slot* slot, const absl::Status& status) {
  if (aborting()) return;
  Error(absl::StrCat("open ", slot->id, ": ", status.ToString()));
  opens_done_.fetch_add(1, std::memory_order_release);
  SlotDone();
}

void Harness::AddServer(Reactor& reactor, std::unique_ptr<SecureConnection> conn) {
  if (aborting()) return;  // dropped: the connection closes
  ReactorState& st = state(reactor);
  auto server = std::make_unique<ServerConn>(this, &st, std::move(conn));
  ServerConn* raw = server.get();
  raw->index = st.servers.size();
  st.servers.push_back(std::move(server));
  servers_live_.fetch_add(1, std::memory_order_relaxed);
  raw->Start();
}

void Harness::RemoveServer(ServerConn* server) {
  ReactorState& st = *server->state();
  const size_t i = server->index;
  std::unique_ptr<ServerConn> doomed = std::move(st.servers[i]);
  if (i + 1 != st.servers.size()) {
    st.servers[i] = std::move(st.servers.back());
    st.servers[i]->index = i;
  }
  st.servers.pop_back();
  servers_live_.fetch_sub(1, std::memory_order_relaxed);
}  // doomed dies here

void Harness::ClientEnded(Slot* slot, bool reopen) {
  slot->client.reset();
  if (reopen && !aborting()) {
    Open(slot);
    return;
  }
  SlotDone();
}

void Harness::SlotDone() { slots_done_.fetch_add(1, std::memory_order_release); }

void Harness::Tick(ReactorState& st) {
  // Candidates are connections mid-message and not already closing.
  st.churn.Tick(st.clients,
                load_running() ? config_.churn_per_s / static_cast<double>(states_.size()) : 0);
  // Free the server ends whose last bytes have gone out.
  for (size_t i = st.draining.size(); i-- > 0;) {
    ServerConn* server = st.draining[i];
    if (!server->Finished()) continue;
    st.draining[i] = st.draining.back();
    st.draining.pop_back();
    if (server->failed() && !aborting()) Error(absl::StrCat("server: ", server->error()));
    RemoveServer(server);
  }
}

uint64_t Harness::TotalMessages() const {
  uint64_t n = 0;
  for (const auto& st : states_) n += st->messages.Get();
  return n;
}

bool Harness::WaitFor(absl::FunctionRef<bool()> done, absl::FunctionRef<uint64_t()> progress,
                      absl::FunctionRef<void()> on_poll) {
  return WaitForProgress(done, progress, on_poll, kLoadPoll, kLoadStallTimeout);
}

void Harness::DestroyConnections() {
  (void)group_->RunOnAllAndWait([&](Reactor& r) {
    ReactorState& st = state(r);
    // Each client removes itself from st.clients as it dies.
    while (!st.clients.empty()) st.clients.back()->slot()->client.reset();
    st.draining.clear();
    servers_live_.fetch_sub(st.servers.size(), std::memory_order_relaxed);
    st.servers.clear();
  });
}

void Harness::Abort() {
  aborting_.store(true, std::memory_order_release);
  load_running_.store(false, std::memory_order_release);
  if (listener_) listener_->Close();
  if (dialer_) dialer_->Close();
  DestroyConnections();
}

RunResult Harness::Run(const RunConfig& config, bool show_progress) {
  RunResult result;
  config_ = config;
  slots_.clear();
  slots_.resize(static_cast<size_t>(config.conns));
  for (size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].id = static_cast<uint32_t>(i);
    slots_[i].remaining = config.messages;
    slots_[i].rng = Rng(config.seed * 0x100000001b3ULL + i);
  }
  (void)group_->RunOnAllAndWait([&](Reactor& r) {
    ReactorState& st = state(r);
    st.latency.Clear();
    st.messages.Reset();
    st.bytes_verified.Reset();
    st.reopened.Reset();
    st.churn.Restart();
  });
  opens_done_ = 0;
  slots_done_ = 0;
  const uint64_t errors_before = errors_.count();
  const uint64_t n = slots_.size();

  // Setup: every connection open before the load starts, at most
  // kSetupWindow being opened at a time.
  const absl::Time setup_start = absl::Now();
  {
    std::unique_ptr<ProgressLine> progress;
    if (show_progress) {
      progress =
          std::make_unique<ProgressLine>(fixed_key_ ? "opened" : "handshook", "connections", n);
    }
    uint64_t issued = 0;
    auto opened = [&] { return opens_done_.load(std::memory_order_acquire); };
    const bool ok = WaitFor(
        [&] {
          while (issued < n && issued - opened() < kSetupWindow) Open(&slots_[issued++]);
          return opened() == n;
        },
        opened,
        [&] {
          if (progress) progress->Update(opened());
        });
    if (progress) progress->Finish();
    if (!ok) {
      Error(absl::StrCat("setup stalled: ", opened(), " of ", n, " connections opened"));
      result.aborted = true;
    }
  }
  result.setup_s = absl::ToDoubleSeconds(absl::Now() - setup_start);

  // Load: start every client at once; wait for every slot to finish.
  if (!result.aborted) {
    const uint64_t total_messages =
        config.duration > absl::ZeroDuration() ? 0 : n * static_cast<uint64_t>(config.messages);
    LoadProgress progress(show_progress, "echoed", "messages", total_messages, config.duration);
    const absl::Time load_start = absl::Now();
    deadline_ = SteadyClock::now() + absl::ToChronoNanoseconds(config.duration);
    load_running_.store(true, std::memory_order_release);
    (void)group_->RunOnAllAndWait([&](Reactor& r) {
      ReactorState& st = state(r);
      st.churn.Restart();
      const std::vector<ClientConn*> clients = st.clients;
      for (ClientConn* c : clients) c->SendNext();
    });
    const bool ok =
        WaitFor([&] { return slots_done_.load(std::memory_order_acquire) == n; },
                [&] { return TotalMessages() + slots_done_.load(); },
                [&] { progress.Update(TotalMessages()); });
    result.load_s = absl::ToDoubleSeconds(absl::Now() - load_start);
    load_running_.store(false, std::memory_order_release);
    progress.Finish();
    if (!ok) {
      Error(absl::StrCat("load stalled: ", slots_done_.load(), " of ", n, " connections finished"));
      result.aborted = true;
    }
  }
  // Every client is gone; the server ends must close too (including any
  // whose handshake was still finishing when its client closed).
  if (!result.aborted) {
    const absl::Time drain_start = absl::Now();
    auto busy = [&] {
      return servers_live_.load() > 0 || (listener_ && listener_->stats().in_progress > 0);
    };
    while (busy() && absl::Now() - drain_start < kDrainTimeout) absl::SleepFor(kLoadPoll);
    if (servers_live_.load() > 0) {
      Error(absl::StrCat(servers_live_.load(), " server connections still open ",
                         absl::FormatDuration(kDrainTimeout), " after their clients finished"));
    }
  }
  if (result.aborted) Abort();
  DestroyConnections();
  std::vector<Slot>().swap(slots_);  // bookkeeping is not what RSS measures

  LatencyHistogram latency;
  std::mutex merge_mu;  // the reactors run the merge at the same time
  (void)group_->RunOnAllAndWait([&](Reactor& r) {
    std::lock_guard<std::mutex> lock(merge_mu);
    ReactorState& st = state(r);
    latency.Merge(st.latency);
    result.messages += st.messages.Get();
    result.bytes_verified += st.bytes_verified.Get();
    result.reopened += st.reopened.Get();
  });
  result.p50_us = latency.Percentile(0.50) / 1000;
  result.p99_us = latency.Percentile(0.99) / 1000;
  result.errors = errors_.count() - errors_before;
  if (config.duration <= absl::ZeroDuration() && !result.aborted &&
      result.messages != n * static_cast<uint64_t>(config.messages)) {
    // Every failure above is already counted; this only catches a miscount.
    if (result.errors == 0) {
      Error(absl::StrCat(result.messages, " messages echoed, ",
                         n * static_cast<uint64_t>(config.messages), " expected"));
      result.errors = 1;
    }
  }
  return result;
}

void Harness::Trim() { stack_->Trim(); }

// ---------------------------------------------------------------------------

// Main parses the flags, warms up, runs the load and reports.
int Main(int argc, char** argv) {
  ParseCommandLineWithDashes(argc, argv);
  RunConfig config;
  config.conns = absl::GetFlag(FLAGS_conns);
  const int threads = absl::GetFlag(FLAGS_threads);
  config.messages = absl::GetFlag(FLAGS_messages);
  const int duration_s = absl::GetFlag(FLAGS_duration_s);
  config.duration = absl::Seconds(duration_s);
  const int min_size = absl::GetFlag(FLAGS_min_size);
  const int max_size = absl::GetFlag(FLAGS_max_size);
  config.churn_per_s = absl::GetFlag(FLAGS_churn_per_s);
  config.seed = absl::GetFlag(FLAGS_seed);
  const int margin_mb = absl::GetFlag(FLAGS_rss_margin_mb);
  const bool fixed_key = absl::GetFlag(FLAGS_fixed_key);
  if (config.conns < 1 || config.conns > kMaxLoadConns || threads < 1 ||
      static_cast<size_t>(threads) > kMaxReactorThreads || config.messages < 1 ||
      config.messages > kMaxMessages || duration_s < 0 || duration_s > kMaxLoadDurationS ||
      min_size < 1 || max_size < min_size || max_size > kMaxMessageSize ||
      !(config.churn_per_s >= 0 && config.churn_per_s <= kMaxChurnPerS) || margin_mb < 0) {
    std::fprintf(stderr,
                 "stress: need 1 <= --conns <= %d, 1 <= --threads <= %zu, 1 <= --messages <= %d, "
                 "0 <= --duration-s <= %d, 1 <= --min-size <= --max-size <= %d, "
                 "0 <= --churn-per-s <= %.0f, --rss-margin-mb >= 0\n",
                 kMaxLoadConns, kMaxReactorThreads, kMaxMessages, kMaxLoadDurationS, kMaxMessageSize,
                 kMaxChurnPerS);
    return 2;
  }
  config.min_size = static_cast<size_t>(min_size);
  config.max_size = static_cast<size_t>(max_size);
  if (!RaiseFdLimitFor(config.conns, "stress")) return 2;

  MemoryReport memory(margin_mb);
  Harness harness(fixed_key, MakePattern(config.max_size + kPatternExtra, config.seed));
  if (absl::Status s = harness.Init(threads); !s.ok()) {
    std::fprintf(stderr, "stress: setup failed: %s\n", s.ToString().c_str());
    return 1;
  }

  // Warm-up: one connection per reactor, a few messages, no churn.
  RunConfig warmup = config;
  warmup.conns = threads;
  warmup.messages = 2;
  warmup.duration = absl::ZeroDuration();
  warmup.churn_per_s = 0;
  BufferPoolStats pool;
  const std::string banner = absl::StrFormat(
      "stress: %d connections on %d reactor threads, %s, messages of %zu..%zu bytes, "
      "churn %.0f/s, %s",
      config.conns, threads,
      duration_s > 0 ? absl::StrCat(duration_s, " s of load")
                     : absl::StrCat(config.messages, " messages each"),
      config.min_size, config.max_size, config.churn_per_s,
      fixed_key ? "fixed keys" : "full handshakes");
  const RunResult r = WarmUpAndRun(harness, warmup, config, banner, memory,
                                   [&] { pool = harness.pool_stats(); });
  const bool rss_ok = memory.ok();
  const double messages_per_s = r.load_s > 0 ? r.messages / r.load_s : 0;

  TablePrinter table({"metric", "value"});
  (void)table.SetAlign(1, TablePrinter::Align::kLeft);
  auto row = [&](std::string name, std::string value) { (void)table.AddRow({name, value}); };
  row("setup", absl::StrFormat("%.2f s (%.0f connections/s)", r.setup_s,
                               r.setup_s > 0 ? config.conns / r.setup_s : 0));
  row("load", absl::StrFormat("%.2f s", r.load_s));
  row("messages", absl::StrCat(r.messages));
  row("messages/s", absl::StrFormat("%.0f", messages_per_s));
  row("round trip p50", absl::StrFormat("%.0f us", r.p50_us));
  row("round trip p99", absl::StrFormat("%.0f us", r.p99_us));
  row("bytes verified",
      absl::StrFormat("%d (%.1f MiB)", r.bytes_verified, r.bytes_verified / kMiB));
  row("connections reopened", absl::StrCat(r.reopened));
  row("errors", absl::StrCat(r.errors));
  row("pool high water", PoolHighWaterText(pool));
  PrintLoadReport(table, memory, harness.errors(), r.errors, "stress");

  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    JsonResults json;
    JsonRow out;
    out.AddInt("conns", config.conns)
        .AddDouble("messages_per_s", messages_per_s)
        .AddDouble("p50_us", r.p50_us)
        .AddDouble("p99_us", r.p99_us)
        .AddUint("bytes_verified", r.bytes_verified)
        .AddUint("errors", r.errors)
        .AddUint("peak_rss_bytes", memory.peak_rss)
        .AddUint("pool_high_water", pool.high_water_outstanding)
        .AddUint("rss_after_bytes", memory.rss_after)
        .AddUint("rss_start_bytes", memory.rss_start)
        .AddUint("messages", r.messages)
        .AddUint("reopened", r.reopened)
        .AddBool("rss_within_margin", rss_ok);
    json.Add(std::move(out));
    if (!WriteJsonResults(json, json_path, "stress")) return 1;
  }
  return r.errors == 0 && rss_ok ? 0 : 1;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
