// alts-test-labels: threads long
// Record connections (fixed key, no handshake) under injected socket faults,
// over Unix socketpairs and loopback TCP, many seeds per fault: a client
// sends a random message in random-size writes, the server echoes it. Every
// run either completes with every byte intact or ends with the error code
// the fault implies; afterwards no fd, pool buffer or storage is held.
// (Threads: the shim's flusher sends held-back bytes for the stall faults.)
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alts/record_protector.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/socket_util.h"
#include "conn/storage_pool.h"
#include "gtest/gtest.h"
#include "tests/stress/fault_injection.h"
#include "tests/stress/stress_test_util.h"

namespace alts::testing {
namespace {

// kSeedsPerCase: runs per (fault, transport); 16 cases share the file's
// time budget.
constexpr int kSeedsPerCase = Scaled(96);
// kMaxMessage: the largest message a run sends (several read buffers, many
// frames).
constexpr size_t kMaxMessage = 160 * 1024;
// kRunTimeout: a run that has not ended by then is a hang.
constexpr absl::Duration kRunTimeout = absl::Seconds(20);
// kFrameSizes: send frame sizes a run picks from: small (many frames per
// read), the default, and larger than a 32 KiB read buffer (assembled in
// storage).
constexpr size_t kFrameSizes[] = {1024, kDefaultMaxFrameSize, 64 * 1024};
// kBudgetBuffers: the budget of the small pool budgeted runs use: two
// pinned buffers and one more, so connections regularly find the pool empty
// and must wait for a buffer to come back.
constexpr size_t kBudgetBuffers = 3;
// kBudgetedRunEvery: every n-th run (by seed) uses the budgeted pools (a
// budgeted read pool and a budgeted write pool); 0 disables them.
constexpr uint64_t kBudgetedRunEvery = 4;

enum class Transport { kSocketPair, kTcp };

std::vector<uint8_t> Key() {
  std::vector<uint8_t> key(44);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(0xa0 + i);
  return key;
}

struct CaseSummary {
  int runs = 0;
  FaultCounts faults;
  std::map<std::string, int> ends;  // "client/server" end codes -> runs
  int64_t bytes_lost = 0;           // bytes of completed runs that did not arrive
  int corrupted = 0;
  CutLoss cut_loss;                  // what the cut runs lost
  std::map<std::string, int> peer_ends;  // "boundary|inside:code" -> cut runs
};

class RecordFaultsTest
    : public ::testing::TestWithParam<std::tuple<FaultScenario, Transport>> {
 protected:
  void SetUp() override {
    auto reactor = Reactor::CreateUnthreaded();
    ASSERT_TRUE(reactor.ok()) << reactor.status();
    reactor_ = std::move(*reactor);
    pool_ = std::move(*BufferPool::Create({}));
    BufferPoolOptions budgeted;
    budgeted.max_bytes_outstanding = kBudgetBuffers * budgeted.buffer_size;
    budget_pool_ = std::move(*BufferPool::Create(budgeted));
    budget_write_pool_ = std::move(*BufferPool::Create(budgeted));
    storage_ = std::move(*StoragePool::Create());
    absl::StatusOr<int> listener = ListenTcp(*ParseSocketAddress("127.0.0.1:0"), 16);
    ASSERT_TRUE(listener.ok()) << listener.status();
    listen_fd_ = *listener;
  }

  void TearDown() override {
    close(listen_fd_);
    reactor_.reset();
  }

  std::pair<int, int> Pair(Transport transport) {
    if (transport == Transport::kTcp) {
      absl::StatusOr<std::pair<int, int>> pair = ConnectedTcpPair(listen_fd_);
      EXPECT_TRUE(pair.ok()) << pair.status();
      return pair.ok() ? *pair : std::make_pair(-1, -1);
    }
    int fds[2] = {-1, -1};
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    return {fds[0], fds[1]};
  }

  // RunSeed runs one connection under `seed` and checks its outcome.
  void RunSeed(FaultScenario scenario, Transport transport, uint64_t seed, CaseSummary* summary);

  std::unique_ptr<Reactor> reactor_;
  std::unique_ptr<BufferPool> pool_;
  // budget_pool_ holds few buffers, so readers and writers wait for them.
  std::unique_ptr<BufferPool> budget_pool_;
  std::unique_ptr<BufferPool> budget_write_pool_;
  std::unique_ptr<StoragePool> storage_;
  int listen_fd_ = -1;
};

void RecordFaultsTest::RunSeed(FaultScenario scenario, Transport transport, uint64_t seed,
                               CaseSummary* summary) {
  SCOPED_TRACE(absl::StrCat(ScenarioName(scenario), " seed ", seed));
  std::mt19937_64 rng(seed);
  const int fds_before = CountOpenFds();
  auto [client_fd, server_fd] = Pair(transport);
  ASSERT_GE(client_fd, 0);
  const size_t message_size = 1 + rng() % kMaxMessage;
  const size_t client_frame = kFrameSizes[rng() % 3];
  const size_t server_frame = kFrameSizes[rng() % 3];
  const bool cut_client = rng() % 2 == 0;
  // A quarter of the cuts aim at a likely frame boundary (the end of the
  // first few full frames); the rest fall anywhere.
  const size_t cut_frame = cut_client ? client_frame : server_frame;
  int64_t cut_at = static_cast<int64_t>(rng() % message_size);
  if (rng() % 4 == 0 && cut_frame * 3 < message_size) {
    cut_at = static_cast<int64_t>(cut_frame * (1 + rng() % 3));
  }
  std::vector<uint8_t> message = RandomBytes(message_size, seed);
  // The connection options vary too: read-buffer policy, reads per wakeup,
  // a pool budget that runs dry.
  ConnectionResources resources;
  const bool budgeted = kBudgetedRunEvery != 0 && seed % kBudgetedRunEvery == 0;
  BufferPool* pool = budgeted ? budget_pool_.get() : pool_.get();
  resources.read_pool = pool;
  if (budgeted) resources.write_pool = budget_write_pool_.get();
  resources.storage = storage_.get();
  resources.options.read_policy =
      rng() % 2 == 0 ? ReadBufferPolicy::kPinned : ReadBufferPolicy::kOnDemand;
  resources.options.max_reads_per_wakeup = 1 + rng() % kDefaultMaxReadsPerWakeup;
  resources.options.write_high_water =
      budgeted ? 2 * pool->buffer_size() : kDefaultWriteHighWater;
  SCOPED_TRACE(absl::StrCat(
      resources.options.read_policy == ReadBufferPolicy::kPinned ? "pinned" : "on-demand",
      budgeted ? ", budgeted pool" : "", ", reads per wakeup ",
      resources.options.max_reads_per_wakeup));

  auto plan = std::make_unique<FaultPlan>(seed);
  FdFaults client_faults, server_faults;
  if (IsCut(scenario)) {
    FdFaults& cut = cut_client ? client_faults : server_faults;
    (scenario == FaultScenario::kReset ? cut.reset_after : cut.half_close_after) = cut_at;
    cut.capture = true;
  } else {
    client_faults = ScenarioFaults(scenario, seed * 2);
    server_faults = ScenarioFaults(scenario, seed * 2 + 1);
  }
  const uint64_t client_ordinal = plan->Add(client_fd, client_faults);
  const uint64_t server_ordinal = plan->Add(server_fd, server_faults);

  auto client_protector = RecordProtector::Create("ALTSRP_GCM_AES128_REKEY", Side::kClient, Key(),
                                                  client_frame);
  auto server_protector = RecordProtector::Create("ALTSRP_GCM_AES128_REKEY", Side::kServer, Key(),
                                                  server_frame);
  ASSERT_TRUE(client_protector.ok() && server_protector.ok());
  auto client = SecureConnection::Create(*reactor_, client_fd, std::move(*client_protector),
                                         &resources);
  auto server = SecureConnection::Create(*reactor_, server_fd, std::move(*server_protector),
                                         &resources);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(server.ok()) << server.status();
  Sender sender(client->get(), message, seed, nullptr);
  Echo echo(server->get(), &message, nullptr);
  (*server)->Start(&echo);
  (*client)->Start(&sender);
  sender.Begin();

  absl::Status ran =
      reactor_->RunUntil([&] { return sender.ended() && echo.ended(); }, kRunTimeout);
  ASSERT_TRUE(ran.ok()) << "hang: " << ran << " client ended=" << sender.ended()
                        << " server ended=" << echo.ended() << " sent=" << sender.handed()
                        << " echoed=" << sender.echoed() << "/" << message_size
                        << " server received=" << echo.received() << "; client pending "
                        << (*client)->pending_write_bytes() << " leased "
                        << (*client)->LeasedBuffers() << "; server pending "
                        << (*server)->pending_write_bytes() << " leased "
                        << (*server)->LeasedBuffers() << "; pool outstanding "
                        << pool->stats().outstanding << " waiters " << pool->stats().waiters
                        << " allocated " << pool->stats().allocated;

  EXPECT_FALSE(sender.corrupted()) << "the echo differs from what was sent";
  EXPECT_FALSE(echo.corrupted()) << "the server received bytes that were not sent";
  if (sender.corrupted() || echo.corrupted()) summary->corrupted++;

  if (!IsCut(scenario)) {
    EXPECT_TRUE(sender.status().ok()) << sender.status();
    EXPECT_TRUE(echo.status().ok()) << echo.status();
    EXPECT_EQ(sender.echoed(), message_size);
    EXPECT_EQ(echo.received(), message_size);
    if (sender.status().ok()) summary->bytes_lost += static_cast<int64_t>(message_size - sender.echoed());
  } else {
    const bool reset = scenario == FaultScenario::kReset;
    const FdRecord cut_record = plan->record(cut_client ? client_ordinal : server_ordinal);
    EXPECT_TRUE(reset ? cut_record.reset : cut_record.half_closed)
        << "the cut at " << cut_at << " never happened";
    const absl::Status& cut_end = cut_client ? sender.status() : echo.status();
    const absl::Status& peer_end = cut_client ? echo.status() : sender.status();
    // The cut side fails on its own next write (ECONNRESET / EPIPE).
    EXPECT_EQ(cut_end.code(), absl::StatusCode::kUnavailable) << cut_end;
    const CutPosition position = RecordCut(cut_record.written, static_cast<size_t>(cut_at));
    const std::string where = absl::StrCat(
        "cut ", cut_client ? "client" : "server", " at ", cut_at,
        position == CutPosition::kInsideFrame ? " (inside a frame)" : " (frame boundary)");
    EXPECT_EQ(CheckCutPeerEnd(peer_end, reset, transport == Transport::kTcp, position), "")
        << where;
    // The peer delivered no more than the complete frames before the cut,
    // and all of them if it read to the end of the stream.
    const size_t delivered = cut_client ? echo.received() : sender.echoed();
    const size_t deliverable =
        DeliverablePlaintext(cut_record.written, static_cast<size_t>(cut_at));
    EXPECT_EQ(CheckCutDelivery(peer_end, delivered, deliverable), "") << where;
    EXPECT_LT(sender.echoed(), message_size);
    // What was lost: handed to Write, never delivered, both ways.
    EXPECT_GE(sender.handed(), echo.received());
    EXPECT_GE(echo.handed(), sender.echoed());
    summary->cut_loss.runs++;
    summary->cut_loss.lost += static_cast<int64_t>(sender.handed() - echo.received()) +
                              static_cast<int64_t>(echo.handed() - sender.echoed());
    if (deliverable > delivered) {
      summary->cut_loss.lost_after_arrival += static_cast<int64_t>(deliverable - delivered);
    }
    summary->peer_ends[absl::StrCat(
        position == CutPosition::kInsideFrame ? "inside:" : "boundary:",
        absl::StatusCodeToString(peer_end.code()))]++;
  }
  summary->runs++;
  summary->ends[absl::StrCat(absl::StatusCodeToString(sender.status().code()), "/",
                             absl::StatusCodeToString(echo.status().code()))]++;

  client->reset();
  server->reset();
  // Let deferred wakeups (none should remain for dead connections) run.
  (void)reactor_->RunUntil([] { return false; }, absl::Milliseconds(1));
  EXPECT_TRUE(plan->WaitForDelayedBytes(absl::Seconds(10)));
  summary->faults.Add(plan->counts());
  plan.reset();
  EXPECT_EQ(pool->stats().outstanding, 0u);
  EXPECT_EQ(storage_->OutstandingBytes(), 0u);
  EXPECT_EQ(CountOpenFds(), fds_before) << "leaked fds";
}

TEST_P(RecordFaultsTest, EveryByteIntactOrSpecificError) {
  const auto [scenario, transport] = GetParam();
  const absl::Time start = absl::Now();
  CaseSummary summary;
  const uint64_t base = 1000 * (static_cast<uint64_t>(scenario) + 1) +
                        100 * static_cast<uint64_t>(transport);
  // ALTS_STRESS_SEED=<seed> reruns one seed alone (the failure messages
  // name it); ALTS_STRESS_SCALE runs the long version.
  const std::vector<uint64_t> seeds = StressSeeds(base, kSeedsPerCase);
  if (seeds.empty()) GTEST_SKIP() << "ALTS_STRESS_SEED is not one of this case's seeds";
  const int expected_runs = static_cast<int>(seeds.size());
  for (uint64_t seed : seeds) {
    if (HasFatalFailure()) break;
    RunSeed(scenario, transport, seed, &summary);
  }
  EXPECT_EQ(summary.runs, expected_runs);
  EXPECT_EQ(summary.bytes_lost, 0);
  EXPECT_EQ(summary.corrupted, 0);
  // Each scenario did inject its fault.
  switch (scenario) {
    case FaultScenario::kShortReads:
      EXPECT_GT(summary.faults[Fault::kShortRead], 0u);
      break;
    case FaultScenario::kShortWrites:
      EXPECT_GT(summary.faults[Fault::kShortWrite], 0u);
      break;
    case FaultScenario::kEintrStorms:
      EXPECT_GT(summary.faults[Fault::kEintr], 0u);
      break;
    case FaultScenario::kEagainStorms:
      EXPECT_GT(summary.faults[Fault::kEagain], 0u);
      break;
    case FaultScenario::kStalls:
      EXPECT_GT(summary.faults[Fault::kStall], 0u);
      break;
    case FaultScenario::kMixed:
      EXPECT_GT(summary.faults.Total(), 0u);
      break;
    case FaultScenario::kReset:
      EXPECT_EQ(summary.faults[Fault::kReset], static_cast<uint64_t>(expected_runs));
      break;
    case FaultScenario::kHalfClose:
      EXPECT_EQ(summary.faults[Fault::kHalfClose], static_cast<uint64_t>(expected_runs));
      break;
  }
  std::cout << "[ summary  ] " << ScenarioName(scenario) << "/"
            << (transport == Transport::kTcp ? "tcp" : "socketpair") << " seeds " << base
            << ".." << base + kSeedsPerCase - 1 << ": faults " << summary.faults.ToString()
            << "; ends (client/server)" << FormatCounts(summary.ends) << "; bytes lost "
            << summary.bytes_lost
            << "; corrupted " << summary.corrupted << "; "
            << (IsCut(scenario) ? absl::StrCat("lost at the cuts: ", summary.cut_loss.ToString(),
                                               "; peer ends by cut position",
                                               FormatCounts(summary.peer_ends), "; ")
                                : std::string())
            << (kBudgetedRunEvery == 0
                    ? std::string()
                    : absl::StrCat("budgeted pools (read/write): ",
                                   budget_pool_->stats().exhausted, "/",
                                   budget_write_pool_->stats().exhausted, " acquires refused, ",
                                   budget_pool_->stats().wakeups, "/",
                                   budget_write_pool_->stats().wakeups, " waiters woken; "))
            << absl::ToInt64Milliseconds(absl::Now() - start) << " ms\n";
}

INSTANTIATE_TEST_SUITE_P(
    Matrix, RecordFaultsTest,
    ::testing::Combine(::testing::ValuesIn(kAllScenarios),
                       ::testing::Values(Transport::kSocketPair, Transport::kTcp)),
    [](const ::testing::TestParamInfo<RecordFaultsTest::ParamType>& info) {
      return absl::StrCat(ScenarioName(std::get<0>(info.param)),
                          std::get<1>(info.param) == Transport::kTcp ? "Tcp" : "SocketPair");
    });

}  // namespace
}  // namespace alts::testing
