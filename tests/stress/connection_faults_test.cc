// alts-test-labels: threads long
// Full connections (SecureListener + SecureDialer, real handshakes over
// loopback TCP on a two-thread reactor group) under injected socket faults,
// many seeds per fault. The faults start with the first handshake byte; the
// cuts (reset, half-close) fall in the handshake or in the records. Every
// run either completes with every byte echoed intact or ends with the code
// the fault implies; afterwards no fd, pool buffer, storage or handshake is
// left behind.
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/secure_listener.h"
#include "conn/storage_pool.h"
#include "gtest/gtest.h"
#include "tests/handshaker/handshaker_test_util.h"
#include "tests/stress/fault_injection.h"
#include "tests/stress/stress_test_util.h"

namespace alts::testing {
namespace {

// kSeedsPerScenario: runs per fault scenario (each a full handshake and an
// echo of up to kMaxMessage bytes).
constexpr int kSeedsPerScenario = Scaled(200);
constexpr size_t kMaxMessage = 128 * 1024;
// kRunTimeout: a run whose two ends have not both finished by then is a hang.
constexpr absl::Duration kRunTimeout = absl::Seconds(20);
// kHandshakeDeadline: far above what a stalled handshake needs here, far
// below the run timeout, so a lost wakeup shows up as a deadline, not a hang.
constexpr absl::Duration kHandshakeDeadline = absl::Seconds(10);
// kAcceptFaultRate: accept4 failures (EINTR / spurious EAGAIN) in the
// storm scenarios.
constexpr double kAcceptFaultRate = 0.3;

// One run: what each end saw. Written on reactor threads under mu.
struct DialRun {
  std::mutex mu;
  std::condition_variable cv;
  bool client_done = false;
  bool server_done = false;
  absl::Status client_handshake;
  absl::Status server_handshake;
  absl::Status client_end;
  absl::Status server_end;
  size_t echoed = 0;
  size_t server_received = 0;
  // Bytes each side's Write accepted (the client's message, the echo).
  size_t client_sent = 0;
  size_t server_sent = 0;
  bool corrupted = false;
  // Objects that live on the reactors; destroyed there.
  Reactor* client_reactor = nullptr;
  Reactor* server_reactor = nullptr;
  std::unique_ptr<SecureConnection> client_conn, server_conn;
  std::unique_ptr<Sender> sender;
  std::unique_ptr<Echo> echo;
};

struct ScenarioSummary {
  int runs = 0;
  int handshake_cuts = 0;
  FaultCounts faults;
  std::map<std::string, int> ends;
  int64_t bytes_lost = 0;
  int corrupted = 0;
  CutLoss cut_loss;                      // what the cuts in the records lost
  std::map<std::string, int> peer_ends;  // "boundary|inside:code" -> runs
};

class ConnectionFaultsTest : public ::testing::TestWithParam<FaultScenario> {
 protected:
  void SetUp() override {
    ReactorGroupOptions group_options;
    group_options.threads = 2;
    group_ = std::move(*ReactorGroup::Create(std::move(group_options)));
    pool_ = std::move(*BufferPool::Create({}));
    storage_ = std::move(*StoragePool::Create());
    resources_.read_pool = pool_.get();
    resources_.storage = storage_.get();
    server_config_ = MakeConfig(pki_.Leaf("server@stress"), pki_.Verifier(), nullptr);
    client_config_ = MakeConfig(pki_.Leaf("client@stress"), pki_.Verifier(), nullptr);
    server_config_->deadline = client_config_->deadline = kHandshakeDeadline;
    ListenOptions options;
    options.resources = &resources_;
    options.limiter = &server_limiter_;
    auto listener = SecureListener::Listen(
        *group_, "127.0.0.1:0", server_config_, options,
        [this](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
          OnServerOutcome(r, std::move(outcome));
        });
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = std::move(*listener);
    DialerOptions dopts;
    dopts.resources = &resources_;
    dopts.limiter = &client_limiter_;
    dialer_ = std::move(*SecureDialer::Create(*group_, client_config_, dopts));
  }

  void TearDown() override {
    listener_->Close();
    dialer_->Close();
    group_->Shutdown();
    EXPECT_EQ(pool_->stats().outstanding, 0u);
    EXPECT_EQ(storage_->OutstandingBytes(), 0u);
  }

  void OnServerOutcome(Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
    DialRun* run = run_;
    std::lock_guard<std::mutex> lock(run->mu);
    if (!outcome.ok()) {
      run->server_handshake = outcome.status();
      run->server_done = true;
      run->cv.notify_all();
      return;
    }
    run->server_reactor = &r;
    run->server_conn = std::move(outcome->connection);
    run->echo = std::make_unique<Echo>(run->server_conn.get(), message_.load(), [run] {
      std::lock_guard<std::mutex> lock(run->mu);
      run->server_end = run->echo->status();
      run->server_received = run->echo->received();
      run->server_sent = run->echo->handed();
      run->corrupted |= run->echo->corrupted();
      run->server_done = true;
      run->cv.notify_all();
    });
    run->server_conn->Start(run->echo.get());
  }

  void OnClientOutcome(DialRun* run, uint64_t seed, Reactor& r,
                       absl::StatusOr<EstablishedConnection> outcome) {
    std::unique_lock<std::mutex> lock(run->mu);
    if (!outcome.ok()) {
      run->client_handshake = outcome.status();
      run->client_done = true;
      run->cv.notify_all();
      return;
    }
    run->client_reactor = &r;
    run->client_conn = std::move(outcome->connection);
    run->sender = std::make_unique<Sender>(run->client_conn.get(), *message_, seed, [run] {
      std::lock_guard<std::mutex> lock(run->mu);
      run->client_end = run->sender->status();
      run->echoed = run->sender->echoed();
      run->client_sent = run->sender->handed();
      run->corrupted |= run->sender->corrupted();
      run->client_done = true;
      run->cv.notify_all();
    });
    Sender* sender = run->sender.get();
    run->client_conn->Start(sender);
    lock.unlock();  // the sender's callbacks take the lock
    sender->Begin();
  }

  // Dial runs one connection to its end and returns false on a hang.
  bool Dial(DialRun* run, uint64_t seed) {
    run_ = run;
    dialer_->Dial(listener_->address().ToString(), HandshakeParams{},
                  [this, run, seed](Reactor& r, absl::StatusOr<EstablishedConnection> outcome) {
                    OnClientOutcome(run, seed, r, std::move(outcome));
                  });
    std::unique_lock<std::mutex> lock(run->mu);
    return run->cv.wait_for(lock, absl::ToChronoMilliseconds(kRunTimeout),
                            [&] { return run->client_done && run->server_done; });
  }

  // Dispose destroys the run's connections and handlers on their reactors.
  void Dispose(DialRun* run) {
    ASSERT_TRUE(group_->RunOnAllAndWait([&](Reactor& r) {
      std::lock_guard<std::mutex> lock(run->mu);
      if (run->client_reactor == &r) run->client_conn.reset();
      if (run->server_reactor == &r) run->server_conn.reset();
    }).ok());
    std::lock_guard<std::mutex> lock(run->mu);
    run->sender.reset();
    run->echo.reset();
  }

  // Calibrate measures each side's handshake bytes with a clean run.
  void Calibrate() {
    FaultPlan plan(0);
    FdFaults capture;
    capture.capture = true;
    plan.EnrollConnected(capture);
    plan.EnrollAccepted(capture);
    std::vector<uint8_t> message = RandomBytes(100, 0);
    message_ = &message;
    DialRun run;
    ASSERT_TRUE(Dial(&run, 0));
    ASSERT_TRUE(run.client_end.ok()) << run.client_end << run.client_handshake;
    Dispose(&run);
    std::tie(client_handshake_bytes_, server_handshake_bytes_) = FullHandshakeBytes(plan.records());
    ASSERT_NE(client_handshake_bytes_, absl::string_view::npos);
    ASSERT_NE(server_handshake_bytes_, absl::string_view::npos);
  }

  void RunSeed(FaultScenario scenario, uint64_t seed, ScenarioSummary* summary);

  TestPki pki_{absl::Now()};
  std::unique_ptr<ReactorGroup> group_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  HandshakeLimiter server_limiter_{8, 64};
  HandshakeLimiter client_limiter_{8, 64};
  std::shared_ptr<HandshakerConfig> server_config_, client_config_;
  std::unique_ptr<SecureListener> listener_;
  std::unique_ptr<SecureDialer> dialer_;
  // The current run and its message (one connection at a time); read on
  // the reactor threads.
  std::atomic<DialRun*> run_{nullptr};
  std::atomic<const std::vector<uint8_t>*> message_{nullptr};
  size_t client_handshake_bytes_ = 0;
  size_t server_handshake_bytes_ = 0;
};

void ConnectionFaultsTest::RunSeed(FaultScenario scenario, uint64_t seed,
                                   ScenarioSummary* summary) {
  SCOPED_TRACE(absl::StrCat(ScenarioName(scenario), " seed ", seed));
  std::mt19937_64 rng(seed);
  const int fds_before = CountOpenFds();
  const size_t message_size = 1 + rng() % kMaxMessage;
  const std::vector<uint8_t> message = RandomBytes(message_size, seed);
  message_ = &message;
  const bool cut_client = rng() % 2 == 0;
  const size_t handshake_bytes = cut_client ? client_handshake_bytes_ : server_handshake_bytes_;
  // Half the cuts fall in the handshake, half in the records.
  const bool cut_in_handshake = rng() % 2 == 0;
  const int64_t cut_at = static_cast<int64_t>(
      cut_in_handshake ? rng() % handshake_bytes : handshake_bytes + rng() % message_size);
  // Nothing of the previous run is left, so the options can change: half
  // the runs pin their read buffers.
  resources_.options.read_policy =
      rng() % 2 == 0 ? ReadBufferPolicy::kPinned : ReadBufferPolicy::kOnDemand;
  resources_.options.max_reads_per_wakeup = 1 + rng() % kDefaultMaxReadsPerWakeup;
  SCOPED_TRACE(resources_.options.read_policy == ReadBufferPolicy::kPinned ? "pinned"
                                                                            : "on-demand");

  auto plan = std::make_unique<FaultPlan>(seed);
  FdFaults client_faults, server_faults;
  if (IsCut(scenario)) {
    FdFaults& cut = cut_client ? client_faults : server_faults;
    (scenario == FaultScenario::kReset ? cut.reset_after : cut.half_close_after) = cut_at;
    cut.capture = true;
  } else {
    client_faults = ScenarioFaults(scenario, seed * 2);
    server_faults = ScenarioFaults(scenario, seed * 2 + 1);
    if (scenario == FaultScenario::kEintrStorms) plan->SetAcceptFaults(kAcceptFaultRate, 0);
    if (scenario == FaultScenario::kEagainStorms) plan->SetAcceptFaults(0, kAcceptFaultRate);
    if (scenario == FaultScenario::kMixed) {
      plan->SetAcceptFaults(kAcceptFaultRate / 2, kAcceptFaultRate / 2);
    }
  }
  plan->EnrollConnected(client_faults);
  plan->EnrollAccepted(server_faults);

  DialRun run;
  const bool ended = Dial(&run, seed);
  std::unique_lock<std::mutex> lock(run.mu);
  ASSERT_TRUE(ended) << "hang: client done=" << run.client_done
                     << " server done=" << run.server_done << " client handshake "
                     << run.client_handshake << " server handshake " << run.server_handshake;
  EXPECT_FALSE(run.corrupted) << "bytes differ from what was sent";
  if (run.corrupted) summary->corrupted++;

  if (!IsCut(scenario)) {
    EXPECT_TRUE(run.client_handshake.ok()) << run.client_handshake;
    EXPECT_TRUE(run.server_handshake.ok()) << run.server_handshake;
    EXPECT_TRUE(run.client_end.ok()) << run.client_end;
    EXPECT_TRUE(run.server_end.ok()) << run.server_end;
    EXPECT_EQ(run.echoed, message_size);
    EXPECT_EQ(run.server_received, message_size);
    if (run.client_end.ok()) {
      summary->bytes_lost += static_cast<int64_t>(message_size - run.echoed);
    }
  } else {
    const bool reset = scenario == FaultScenario::kReset;
    std::vector<FdRecord> records = plan->records();
    ASSERT_EQ(records.size(), 2u);
    const FdRecord& cut_record = records[cut_client ? 0 : 1];
    EXPECT_TRUE(reset ? cut_record.reset : cut_record.half_closed)
        << "the cut at " << cut_at << " never happened";
    if (cut_in_handshake) {
      // Neither side can finish its handshake: the cut side fails on its
      // write, the other reads a truncated flight, then EOF or a reset.
      summary->handshake_cuts++;
      EXPECT_EQ(run.client_handshake.code(), absl::StatusCode::kUnavailable)
          << run.client_handshake;
      EXPECT_EQ(run.server_handshake.code(), absl::StatusCode::kUnavailable)
          << run.server_handshake;
    } else {
      EXPECT_TRUE(run.client_handshake.ok()) << run.client_handshake;
      EXPECT_TRUE(run.server_handshake.ok()) << run.server_handshake;
      const absl::Status& cut_end = cut_client ? run.client_end : run.server_end;
      const absl::Status& peer_end = cut_client ? run.server_end : run.client_end;
      EXPECT_EQ(cut_end.code(), absl::StatusCode::kUnavailable) << cut_end;
      const size_t records_cut = static_cast<size_t>(cut_at) - handshake_bytes;
      const CutPosition position =
          RecordCut(absl::string_view(cut_record.written).substr(handshake_bytes), records_cut);
      const std::string where = absl::StrCat("cut ", cut_client ? "client" : "server",
                                             " at record byte ", records_cut);
      EXPECT_EQ(CheckCutPeerEnd(peer_end, reset, /*tcp=*/true, position), "") << where;
      const size_t delivered = cut_client ? run.server_received : run.echoed;
      const size_t deliverable = DeliverablePlaintext(
          absl::string_view(cut_record.written).substr(handshake_bytes), records_cut);
      EXPECT_EQ(CheckCutDelivery(peer_end, delivered, deliverable), "") << where;
      // What was lost: handed to Write, never delivered, both ways.
      EXPECT_GE(run.client_sent, run.server_received);
      EXPECT_GE(run.server_sent, run.echoed);
      summary->cut_loss.runs++;
      summary->cut_loss.lost += static_cast<int64_t>(run.client_sent - run.server_received) +
                                static_cast<int64_t>(run.server_sent - run.echoed);
      if (deliverable > delivered) {
        summary->cut_loss.lost_after_arrival += static_cast<int64_t>(deliverable - delivered);
      }
      summary->peer_ends[absl::StrCat(
          position == CutPosition::kInsideFrame ? "inside:" : "boundary:",
          absl::StatusCodeToString(peer_end.code()))]++;
    }
    EXPECT_LT(run.echoed, message_size);
  }
  summary->runs++;
  auto code = [](const absl::Status& handshake, const absl::Status& end) {
    return handshake.ok() ? absl::StatusCodeToString(end.code())
                          : absl::StrCat("handshake:", absl::StatusCodeToString(handshake.code()));
  };
  summary->ends[absl::StrCat(code(run.client_handshake, run.client_end), "/",
                             code(run.server_handshake, run.server_end))]++;
  lock.unlock();

  Dispose(&run);
  EXPECT_TRUE(plan->WaitForDelayedBytes(absl::Seconds(10)));
  summary->faults.Add(plan->counts());
  plan.reset();
  EXPECT_EQ(listener_->stats().in_progress, 0u);
  EXPECT_EQ(dialer_->stats().in_progress, 0u);
  EXPECT_EQ(pool_->stats().outstanding, 0u);
  EXPECT_EQ(storage_->OutstandingBytes(), 0u);
  EXPECT_EQ(CountOpenFds(), fds_before) << "leaked fds";
}

TEST_P(ConnectionFaultsTest, HandshakeAndRecordsIntactOrSpecificError) {
  const FaultScenario scenario = GetParam();
  Calibrate();
  ASSERT_FALSE(HasFatalFailure());
  const absl::Time start = absl::Now();
  ScenarioSummary summary;
  const uint64_t base = 10000 * (static_cast<uint64_t>(scenario) + 1);
  // ALTS_STRESS_SEED=<seed> reruns one seed alone (the failure messages
  // name it); ALTS_STRESS_SCALE runs the long version.
  const std::vector<uint64_t> seeds = StressSeeds(base, kSeedsPerScenario);
  if (seeds.empty()) GTEST_SKIP() << "ALTS_STRESS_SEED is not one of this case's seeds";
  const int expected_runs = static_cast<int>(seeds.size());
  for (uint64_t seed : seeds) {
    if (HasFatalFailure()) break;
    RunSeed(scenario, seed, &summary);
  }
  EXPECT_EQ(summary.runs, expected_runs);
  EXPECT_EQ(summary.bytes_lost, 0);
  EXPECT_EQ(summary.corrupted, 0);
  if (IsCut(scenario)) {
    EXPECT_EQ(summary.faults[scenario == FaultScenario::kReset ? Fault::kReset
                                                                : Fault::kHalfClose],
              static_cast<uint64_t>(expected_runs));
  } else {
    EXPECT_GT(summary.faults.Total(), 0u);
  }
  std::cout << "[ summary  ] " << ScenarioName(scenario) << " seeds " << base << ".."
            << base + kSeedsPerScenario - 1 << " (handshake bytes client "
            << client_handshake_bytes_ << ", server " << server_handshake_bytes_
            << "): faults " << summary.faults.ToString() << "; cuts in the handshake "
            << summary.handshake_cuts << "; ends (client/server)" << FormatCounts(summary.ends)
            << "; bytes lost " << summary.bytes_lost << "; corrupted " << summary.corrupted << "; "
            << (IsCut(scenario) ? absl::StrCat("lost at the cuts in the records: ",
                                               summary.cut_loss.ToString(),
                                               "; peer ends by cut position",
                                               FormatCounts(summary.peer_ends), "; ")
                                : std::string())
            << absl::ToInt64Milliseconds(absl::Now() - start) << " ms\n";
}

INSTANTIATE_TEST_SUITE_P(Matrix, ConnectionFaultsTest, ::testing::ValuesIn(kAllScenarios),
                         [](const ::testing::TestParamInfo<FaultScenario>& info) {
                           return std::string(ScenarioName(info.param));
                         });

}  // namespace
}  // namespace alts::testing
