#include "tools/alts_echo/echo_client.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/secure_listener.h"
#include "conn/storage_pool.h"
#include "tools/alts_echo/echo_common.h"

namespace alts {

void FillEchoPattern(uint64_t seed, uint64_t offset, absl::Span<uint8_t> out) {
  size_t i = 0;
  while (i < out.size()) {
    const uint64_t position = offset + i;
    // splitmix64 of (word index, seed): cheap, and every word differs.
    uint64_t z = (position >> 3) + (seed + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    for (size_t b = position & 7; b < 8 && i < out.size(); ++b, ++i) {
      out[i] = static_cast<uint8_t>(z >> (8 * b));
    }
  }
}

namespace {

using SteadyClock = std::chrono::steady_clock;

// kWaitSlice: how often the main thread re-checks for progress while it
// waits (progress counted in bytes does not signal the condition variable).
constexpr std::chrono::milliseconds kWaitSlice{200};

double Millis(SteadyClock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

class EchoRun;

// EchoConn is one client connection: it sends `total` pattern bytes,
// verifies the echo as it arrives, then idles until told to close.
// Everything but the constructor and the read-only accessors used after the
// reactors stopped runs on the connection's reactor thread.
class EchoConn final : public ReadyHandler {
 public:
  enum class Phase { kDialing, kExchanging, kIdle, kClosing, kDone };

  EchoConn(EchoRun* run, uint64_t index, uint64_t total)
      : run_(run), index_(index), total_(total) {}

  // OnDialed takes the handshake's outcome and starts the exchange.
  void OnDialed(Reactor& reactor, absl::StatusOr<EstablishedConnection> outcome);

  void OnData(absl::Span<uint8_t> data, BufferLease&) override;
  void OnWritable() override {
    if (phase_ == Phase::kExchanging) SendMore();
  }
  void OnEnd(const absl::Status& status) override;

  // Close closes an idle connection gracefully; the server's close ends it.
  void Close() {
    if (phase_ != Phase::kIdle) return;
    phase_ = Phase::kClosing;
    connection_->Close();
  }
  // Destroy drops the connection (on its reactor thread).
  void Destroy() { connection_.reset(); }

  Reactor* reactor() const { return reactor_.load(std::memory_order_acquire); }
  Phase phase() const { return phase_; }
  const SecureConnection* connection() const { return connection_.get(); }
  bool established() const { return established_; }
  SteadyClock::duration handshake_time() const { return handshake_time_; }
  SteadyClock::time_point exchange_start() const { return exchange_start_; }
  SteadyClock::time_point exchange_end() const { return exchange_end_; }
  uint64_t verified() const { return verified_; }
  void set_dial_start(SteadyClock::time_point t) { dial_start_ = t; }

 private:
  void SendMore();
  // Fail aborts the connection with `status`; OnEnd reports it.
  void Fail(absl::Status status) { connection_->Abort(std::move(status)); }

  EchoRun* const run_;
  const uint64_t index_;
  const uint64_t total_;
  std::atomic<Reactor*> reactor_{nullptr};
  std::unique_ptr<SecureConnection> connection_;
  Phase phase_ = Phase::kDialing;
  bool established_ = false;
  SteadyClock::time_point dial_start_;
  SteadyClock::duration handshake_time_{};
  SteadyClock::time_point exchange_start_;
  SteadyClock::time_point exchange_end_;
  uint64_t sent_ = 0;
  uint64_t verified_ = 0;
};

// EchoRun is one `alts_echo --connect` run: its pools, reactors, dialer and
// connections, and the bookkeeping the main thread waits on.
class EchoRun {
 public:
  EchoRun(const EchoFlags& flags, std::shared_ptr<const HandshakerConfig> config)
      : flags_(flags), config_(std::move(config)) {}

  int Run();

  // Called by connections on their reactor threads.
  void OnEstablished(const EchoConn& conn, const PeerIdentity& peer);
  void OnExchanged(const EchoConn& conn, const absl::Status& status);
  void OnEnded(const EchoConn& conn, const absl::Status& status);
  void AddVerified(uint64_t bytes) { bytes_verified_.fetch_add(bytes, std::memory_order_relaxed); }

 private:
  // WaitUntil waits for `done` (checked under mu_), failing with
  // kDeadlineExceeded when nothing progresses for kStallTimeout.
  absl::Status WaitUntil(std::unique_lock<std::mutex>& lock, const std::function<bool()>& done,
                         absl::string_view what);
  void RecordFailure(std::string message);
  void Teardown();
  void PrintFigures(SteadyClock::duration phase_time, size_t idle_outstanding, size_t idle_heap,
                    uint64_t idle_conns);

  const EchoFlags& flags_;
  std::shared_ptr<const HandshakerConfig> config_;
  // Declared before the group so they outlive its threads.
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  std::vector<std::unique_ptr<EchoConn>> conns_;
  std::unique_ptr<ReactorGroup> group_;
  std::unique_ptr<SecureDialer> dialer_;

  std::atomic<bool> identity_printed_{false};
  std::atomic<uint64_t> bytes_verified_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_.
  uint64_t events_ = 0;  // any outcome, exchange or end: progress
  uint64_t exchanged_ = 0;
  uint64_t idle_entered_ = 0;
  uint64_t ended_after_idle_ = 0;
  uint64_t failures_ = 0;
  std::vector<std::string> reported_;
};

void EchoConn::OnDialed(Reactor& reactor, absl::StatusOr<EstablishedConnection> outcome) {
  reactor_.store(&reactor, std::memory_order_release);
  handshake_time_ = SteadyClock::now() - dial_start_;
  if (!outcome.ok()) {
    phase_ = Phase::kDone;
    run_->OnExchanged(*this, outcome.status());
    return;
  }
  established_ = true;
  connection_ = std::move(outcome->connection);
  run_->OnEstablished(*this, *outcome->peer);
  phase_ = Phase::kExchanging;
  exchange_start_ = SteadyClock::now();
  connection_->Start(this);
  SendMore();
}

void EchoConn::SendMore() {
  uint8_t chunk[kEchoChunkSize];
  while (sent_ < total_) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof(chunk), total_ - sent_));
    FillEchoPattern(index_, sent_, absl::MakeSpan(chunk, n));
    absl::StatusOr<size_t> accepted = connection_->Write(absl::MakeConstSpan(chunk, n));
    if (!accepted.ok()) return;  // OnEnd reports the error
    sent_ += *accepted;
    if (*accepted < n) return;  // back-pressure: OnWritable resumes
  }
}

void EchoConn::OnData(absl::Span<uint8_t> data, BufferLease&) {
  if (verified_ + data.size() > sent_) {
    Fail(absl::DataLossError(absl::StrCat("server echoed ", verified_ + data.size(),
                                          " bytes but only ", sent_, " were sent")));
    return;
  }
  uint8_t expected[kEchoChunkSize];
  for (size_t done = 0; done < data.size();) {
    const size_t n = std::min(sizeof(expected), data.size() - done);
    FillEchoPattern(index_, verified_ + done, absl::MakeSpan(expected, n));
    if (std::memcmp(expected, data.data() + done, n) != 0) {
      size_t at = 0;
      while (expected[at] == data[done + at]) ++at;
      Fail(absl::DataLossError(
          absl::StrCat("echo differs from what was sent at byte ", verified_ + done + at)));
      return;
    }
    done += n;
  }
  verified_ += data.size();
  run_->AddVerified(data.size());
  if (verified_ == total_ && phase_ == Phase::kExchanging) {
    phase_ = Phase::kIdle;
    exchange_end_ = SteadyClock::now();
    run_->OnExchanged(*this, absl::OkStatus());
  }
}

void EchoConn::OnEnd(const absl::Status& status) {
  const Phase was = phase_;
  phase_ = Phase::kDone;
  if (was == Phase::kExchanging) {
    run_->OnExchanged(*this, status.ok() ? absl::DataLossError(absl::StrCat(
                                               "server closed the connection after echoing ",
                                               verified_, " of ", total_, " bytes"))
                                         : status);
    return;
  }
  // kIdle (the server ended it first) or kClosing (our close completed).
  absl::Status end = status;
  if (end.ok() && was == Phase::kIdle) {
    end = absl::UnavailableError("server closed the idle connection");
  }
  run_->OnEnded(*this, end);
}

void EchoRun::OnEstablished(const EchoConn& conn, const PeerIdentity& peer) {
  if (identity_printed_.exchange(true)) return;
  PrintLine(absl::StrFormat("server identity: %s (%s, %s, handshake %.3f ms)",
                            FormatPeerIdentity(peer), flags_.address, peer.record_protocol_name(),
                            Millis(conn.handshake_time())));
}

void EchoRun::OnExchanged(const EchoConn& conn, const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++events_;
  ++exchanged_;
  if (status.ok()) {
    ++idle_entered_;
  } else {
    RecordFailure(
        conn.established()
            ? absl::StrCat("echo with ", flags_.address, " failed: ", status.ToString(absl::StatusToStringMode::kWithNoExtraData))
            : absl::StrCat("handshake with ", flags_.address, " failed: ", status.ToString(absl::StatusToStringMode::kWithNoExtraData)));
  }
  cv_.notify_all();
}

void EchoRun::OnEnded(const EchoConn& conn, const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++events_;
  ++ended_after_idle_;
  if (!status.ok()) {
    RecordFailure(
        absl::StrCat("connection to ", flags_.address, " ended badly: ", status.ToString(absl::StatusToStringMode::kWithNoExtraData)));
  }
  cv_.notify_all();
}

void EchoRun::RecordFailure(std::string message) {
  ++failures_;
  if (reported_.size() < kMaxReportedFailures) reported_.push_back(std::move(message));
}

absl::Status EchoRun::WaitUntil(std::unique_lock<std::mutex>& lock,
                                const std::function<bool()>& done, absl::string_view what) {
  uint64_t last_events = events_;
  uint64_t last_bytes = bytes_verified_.load(std::memory_order_relaxed);
  SteadyClock::time_point last_progress = SteadyClock::now();
  const auto stall = std::chrono::nanoseconds(absl::ToInt64Nanoseconds(kStallTimeout));
  while (!done()) {
    cv_.wait_for(lock, kWaitSlice);
    const uint64_t bytes = bytes_verified_.load(std::memory_order_relaxed);
    if (events_ != last_events || bytes != last_bytes) {
      last_events = events_;
      last_bytes = bytes;
      last_progress = SteadyClock::now();
    } else if (SteadyClock::now() - last_progress > stall) {
      return absl::DeadlineExceededError(
          absl::StrCat("no progress for ", absl::FormatDuration(kStallTimeout), " while ", what));
    }
  }
  return absl::OkStatus();
}

void EchoRun::Teardown() {
  if (dialer_ != nullptr) dialer_->Close();
  if (group_ != nullptr) {
    (void)group_->RunOnAllAndWait([this](Reactor& reactor) {
      for (auto& conn : conns_) {
        if (conn->reactor() == &reactor) conn->Destroy();
      }
    });
    group_->Shutdown();
  }
}

int EchoRun::Run() {
  const uint64_t count = flags_.bulk_bytes.has_value() ? 1 : flags_.conns;
  const uint64_t total = flags_.bulk_bytes.value_or(flags_.message_size);
  if (absl::Status s = RaiseOpenFileLimit(count + kFdHeadroom); !s.ok()) {
    PrintError(absl::StrCat("--conns ", count, ": ", s.ToString()));
    return kExitFailure;
  }
  absl::StatusOr<std::unique_ptr<BufferPool>> pool = BufferPool::Create();
  absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
  ReactorGroupOptions group_options;
  group_options.threads = flags_.threads;
  absl::StatusOr<std::unique_ptr<ReactorGroup>> group =
      ReactorGroup::Create(std::move(group_options));
  for (const absl::Status& s : {pool.status(), storage.status(), group.status()}) {
    if (!s.ok()) {
      PrintError(s.ToString());
      return kExitFailure;
    }
  }
  pool_ = std::move(*pool);
  storage_ = std::move(*storage);
  group_ = std::move(*group);
  resources_.read_pool = pool_.get();
  resources_.storage = storage_.get();
  absl::StatusOr<std::unique_ptr<SecureDialer>> dialer = SecureDialer::Create(
      *group_, config_, DialerOptions{.resources = &resources_, .limiter = nullptr});
  if (!dialer.ok()) {
    PrintError(dialer.status().ToString());
    Teardown();
    return kExitFailure;
  }
  dialer_ = std::move(*dialer);
  HandshakeParams params;
  for (const std::string& target : flags_.targets) {
    params.target_identities.push_back(Identity{target, {}});
  }
  conns_.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    conns_.push_back(std::make_unique<EchoConn>(this, i, total));
  }

  const SteadyClock::time_point start = SteadyClock::now();
  absl::Status waited = absl::OkStatus();
  {
    std::unique_lock<std::mutex> lock(mu_);
    for (uint64_t i = 0; i < count && waited.ok(); ++i) {
      const uint64_t dialed = i;
      waited = WaitUntil(
          lock, [&] { return dialed - exchanged_ < kMaxDialsInFlight; }, "dialing");
      if (!waited.ok()) break;
      EchoConn* conn = conns_[i].get();
      conn->set_dial_start(SteadyClock::now());
      lock.unlock();
      dialer_->Dial(
          flags_.address, params,
          [conn](Reactor& reactor, absl::StatusOr<EstablishedConnection> outcome) {
            conn->OnDialed(reactor, std::move(outcome));
          },
          i);
      lock.lock();
    }
    if (waited.ok()) {
      waited = WaitUntil(
          lock, [&] { return exchanged_ == count; }, "exchanging messages");
    }
  }
  const SteadyClock::duration phase_time = SteadyClock::now() - start;
  uint64_t idle_conns = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle_conns = idle_entered_ - ended_after_idle_;
  }
  if (waited.ok() && idle_conns > 0 && flags_.idle_seconds > 0) {
    // Idle, unless the server ends every connection first.
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, SteadyClock::now() + std::chrono::seconds(flags_.idle_seconds),
                   [&] { return ended_after_idle_ == idle_entered_; });
  }
  // Measured on the reactor threads, where the connections live.
  std::atomic<size_t> idle_heap{0};
  std::atomic<size_t> idle_leased{0};
  std::atomic<uint64_t> measured{0};
  size_t idle_outstanding = 0;
  if (waited.ok()) {
    (void)group_->RunOnAllAndWait([&](Reactor& reactor) {
      for (auto& conn : conns_) {
        if (conn->reactor() != &reactor || conn->phase() != EchoConn::Phase::kIdle) continue;
        idle_heap.fetch_add(conn->connection()->HeapBytes());
        idle_leased.fetch_add(conn->connection()->LeasedBuffers());
        measured.fetch_add(1);
      }
    });
    idle_outstanding = pool_->stats().outstanding;
    // Close every idle connection and wait for the server to close its side.
    (void)group_->RunOnAllAndWait([&](Reactor& reactor) {
      for (auto& conn : conns_) {
        if (conn->reactor() == &reactor) conn->Close();
      }
    });
    std::unique_lock<std::mutex> lock(mu_);
    waited = WaitUntil(
        lock, [&] { return ended_after_idle_ == idle_entered_; }, "closing connections");
  }
  Teardown();

  PrintFigures(phase_time, idle_outstanding, idle_heap.load(), measured.load());
  int exit_code = kExitOk;
  if (!waited.ok()) {
    PrintError(waited.ToString());
    exit_code = kExitFailure;
  }
  for (const std::string& failure : reported_) PrintError(failure);
  if (failures_ > reported_.size()) {
    PrintError(absl::StrCat("... and ", failures_ - reported_.size(), " more failures"));
  }
  if (failures_ > 0) {
    PrintError(absl::StrCat(failures_, " of ", count, " connections failed"));
    exit_code = kExitFailure;
  }
  if (idle_outstanding != 0 || idle_leased.load() != 0) {
    PrintError(
        absl::StrCat("idle connections held ", idle_outstanding, " pool buffers (expected 0)"));
    exit_code = kExitFailure;
  }
  return exit_code;
}

void EchoRun::PrintFigures(SteadyClock::duration phase_time, size_t idle_outstanding,
                           size_t idle_heap, uint64_t idle_conns) {
  std::vector<double> handshakes;
  uint64_t established = 0;
  uint64_t verified = 0;
  for (const auto& conn : conns_) {
    verified += conn->verified();
    if (!conn->established()) continue;
    ++established;
    handshakes.push_back(Millis(conn->handshake_time()));
  }
  PrintLine(absl::StrCat("connections established: ", established));
  PrintLine(absl::StrCat("connections failed: ", conns_.size() - established));
  if (!handshakes.empty()) {
    std::sort(handshakes.begin(), handshakes.end());
    // Nearest rank: the smallest value with at least p% of the samples at
    // or below it.
    auto percentile = [&](size_t p) {
      const size_t rank = (p * handshakes.size() + 99) / 100;
      return handshakes[std::clamp<size_t>(rank, 1, handshakes.size()) - 1];
    };
    PrintLine(absl::StrFormat("handshake p50: %.3f ms", percentile(50)));
    PrintLine(absl::StrFormat("handshake p99: %.3f ms", percentile(99)));
  }
  PrintLine(absl::StrCat("bytes verified: ", verified));
  // Bulk: from the first byte sent to the last byte verified. Otherwise the
  // whole phase, handshakes included.
  SteadyClock::duration elapsed = phase_time;
  if (flags_.bulk_bytes.has_value() && conns_[0]->phase() != EchoConn::Phase::kDialing &&
      conns_[0]->exchange_end() > conns_[0]->exchange_start()) {
    elapsed = conns_[0]->exchange_end() - conns_[0]->exchange_start();
  }
  const double seconds = std::chrono::duration<double>(elapsed).count();
  PrintLine(absl::StrFormat("throughput: %.1f MB/s (%d bytes in %.3f s)",
                            seconds > 0 ? static_cast<double>(verified) / seconds / 1e6 : 0.0,
                            verified, seconds));
  if (idle_conns > 0) {
    PrintLine(absl::StrCat("pool buffers outstanding while idle: ", idle_outstanding));
    PrintLine(absl::StrCat("heap held by connections while idle: ", idle_heap, " bytes (",
                           idle_heap / idle_conns, " per connection)"));
  }
}

}  // namespace

int RunEchoClient(const EchoFlags& flags) {
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<std::shared_ptr<HandshakerConfig>> config = LoadHandshakerConfig(flags);
  if (!config.ok()) {
    PrintError(config.status().ToString());
    return kExitFailure;
  }
  EchoRun run(flags, *std::move(config));
  return run.Run();
}

}  // namespace alts
