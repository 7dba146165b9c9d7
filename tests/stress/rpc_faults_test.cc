// alts-test-labels: threads long
// RPC traffic under injected socket faults: an rpc::Server with a unary and
// a bidi-streaming echo method and a Channel, over loopback TCP on a
// two-thread reactor group, ALTS with real handshakes and plaintext h2c,
// many seeds per fault. Each run makes a few unary calls and a streaming
// call of many messages at once, every echoed byte verified, then one more
// unary call (the probe) once they have all ended. The client's and the
// server's socket of the channel's first connection are enrolled in the
// fault plan (both directions); a cut (reset, half-close) falls on one of
// them, in the ALTS handshake or in the HTTP/2 bytes. Every call either
// completes with every byte intact or ends with the status its cut explains
// (CheckCallEnd); what the cuts lost is counted, and none of it may have
// been acknowledged. Afterwards no fd, call, connection, pool buffer or
// storage is left behind.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/storage_pool.h"
#include "gtest/gtest.h"
#include "rpc/channel.h"
#include "rpc/server.h"
#include "tests/handshaker/handshaker_test_util.h"
#include "tests/stress/fault_injection.h"
#include "tests/stress/stress_test_util.h"

namespace alts::testing {
namespace {

// kSeedsPerCase: runs per (fault, transport); 18 cases share the file's
// time budget.
constexpr int kSeedsPerCase = Scaled(128);
// kUnaryCalls: unary calls a run makes beside its streaming call.
constexpr int kUnaryCalls = 4;
// kMaxStreamMessages: the most messages the streaming call sends.
constexpr int kMaxStreamMessages = 64;
// Message sizes: mostly small (many messages per HTTP/2 frame and per
// read), one in kLargeEvery up to kMaxLargeMessage (several HTTP/2 frames,
// more than a 32 KiB read buffer).
constexpr size_t kMaxSmallMessage = 2048;
constexpr size_t kMaxLargeMessage = 40 * 1024;
constexpr uint64_t kLargeEvery = 8;
// kCallDeadline: far above what a faulted call needs here, far below the
// run timeout, so a lost wakeup shows up as DEADLINE_EXCEEDED, not a hang.
constexpr absl::Duration kCallDeadline = absl::Seconds(10);
constexpr absl::Duration kRunTimeout = absl::Seconds(30);
// kRedialBackoff: the channel's first reconnect backoff, so that a call
// waiting for a connection after a cut handshake does not wait a second.
constexpr absl::Duration kRedialBackoff = absl::Milliseconds(5);
// kAcceptFaultRate: accept4 failures (EINTR and spurious EAGAIN each) in
// the accept case.
constexpr double kAcceptFaultRate = 0.3;
// kPrefaceCutBytes: a quarter of the h2c cuts fall in the first bytes (the
// preface, SETTINGS and the first HEADERS).
constexpr uint64_t kPrefaceCutBytes = 256;

constexpr char kUnaryMethod[] = "/stress.Echo/Unary";
constexpr char kStreamMethod[] = "/stress.Echo/Stream";
// kCallIdKey: request metadata naming the call's record in the run.
constexpr char kCallIdKey[] = "x-call";

// kAcceptStorms: the case whose faults hit accept4 on the server's listener
// (EINTR, spurious EAGAIN) instead of a connection's sockets; the other
// kinds index kAllScenarios.
constexpr int kAcceptStorms = static_cast<int>(std::size(kAllScenarios));
constexpr int kKinds = kAcceptStorms + 1;

enum class Transport { kAlts, kPlaintext };

std::string KindName(int kind) {
  return kind == kAcceptStorms ? "AcceptStorms" : ScenarioName(kAllScenarios[kind]);
}

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

bool SameBytes(absl::Span<const uint8_t> got, const std::string& want) {
  return got.size() == want.size() &&
         std::equal(got.begin(), got.end(), want.begin(),
                    [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); });
}

// Tally counts messages and their bytes.
struct Tally {
  int n = 0;
  int64_t bytes = 0;
  void Add(size_t size) {
    n++;
    bytes += static_cast<int64_t>(size);
  }
};

// CallRecord is one call of a run: its requests (the script) and what each
// side did with them. Guarded by RunState::mu.
struct CallRecord {
  bool stream = false;
  bool probe = false;
  std::vector<std::string> requests;
  // Client: messages handed to Write (the one whose OnWriteDone said !ok
  // included), the ones it reported written, the responses delivered.
  Tally handed;
  int accepted = 0;
  Tally received;
  bool done = false;
  absl::Status status;
  // Server: handlers made for the call, requests delivered to the handler,
  // responses it handed to Write, and how it ended.
  int handlers = 0;
  Tally delivered;
  Tally written;
  bool finished = false;
  bool cancelled = false;
  bool server_done = false;
  // A delivered message (either way) that differs from the one sent at
  // its position, or one more than were sent.
  bool corrupted = false;
};

// RunState is one run's calls, shared by the test thread and both reactors.
struct RunState {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<CallRecord> calls;  // sized before the first call starts
  int client_done = 0;
};

// ClientSide drives one call from the channel's reactor: it writes the
// call's requests one at a time (the last one half-closes) and checks each
// response against the request at its position.
class ClientSide final : public rpc::ClientCallHandler {
 public:
  ClientSide(RunState* run, int id) : run_(run), id_(id) {}

  // Start writes the first request; call on the channel's reactor thread
  // right after StartCall (the call cannot end before that task returns).
  void Start(rpc::ClientCall* call) {
    call_ = call;
    WriteNext();
  }

  void OnMessage(absl::Span<const uint8_t> message) override {
    std::lock_guard<std::mutex> lock(run_->mu);
    CallRecord& c = run_->calls[id_];
    if (c.received.n >= static_cast<int>(c.requests.size()) ||
        !SameBytes(message, c.requests[c.received.n])) {
      c.corrupted = true;
    }
    c.received.Add(message.size());
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return;  // the call ended; OnDone follows
    {
      std::lock_guard<std::mutex> lock(run_->mu);
      run_->calls[id_].accepted++;
    }
    WriteNext();
  }

  void OnDone(const absl::Status& status, const rpc::Metadata&) override {
    std::lock_guard<std::mutex> lock(run_->mu);
    CallRecord& c = run_->calls[id_];
    c.status = status;
    c.done = true;
    run_->client_done++;
    run_->cv.notify_all();
  }

 private:
  void WriteNext() {
    absl::Span<const uint8_t> message;
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(run_->mu);
      CallRecord& c = run_->calls[id_];
      if (c.handed.n == static_cast<int>(c.requests.size())) return;
      message = Bytes(c.requests[c.handed.n]);
      c.handed.Add(message.size());
      last = c.handed.n == static_cast<int>(c.requests.size());
    }
    // Not under the lock: Write may report OnWriteDone before it returns.
    call_->Write(message, last);
  }

  RunState* run_;
  const int id_;
  rpc::ClientCall* call_ = nullptr;
};

// ServerEcho serves both methods: the stream echoes each request as it
// arrives and finishes once the client half-closed and every echo went out;
// the unary call answers its request after the half-close, as a unary
// handler does. Each request is checked against the script.
class ServerEcho final : public rpc::ServerCallHandler {
 public:
  ServerEcho(rpc::ServerCall* call, RunState* run, bool stream)
      : call_(call), run_(run), stream_(stream) {
    // A call of no run (none here) is echoed without being recorded.
    std::optional<absl::string_view> id = call->client_metadata().Get(kCallIdKey);
    if (run_ == nullptr || !id.has_value() || !absl::SimpleAtoi(*id, &id_) || id_ < 0 ||
        id_ >= static_cast<int>(run_->calls.size())) {
      id_ = -1;
    }
    Record([](CallRecord& c) { c.handlers++; });
  }

  void OnMessage(absl::Span<const uint8_t> message) override {
    Record([&](CallRecord& c) {
      if (c.delivered.n >= static_cast<int>(c.requests.size()) ||
          !SameBytes(message, c.requests[c.delivered.n])) {
        c.corrupted = true;
      }
      c.delivered.Add(message.size());
    });
    queue_.emplace_back(reinterpret_cast<const char*>(message.data()), message.size());
    if (stream_ && queue_.size() == 1) WriteFront();
  }

  void OnHalfClose() override {
    half_closed_ = true;
    if (!queue_.empty() && !stream_) {
      WriteFront();
    } else if (queue_.empty()) {
      Finish();
    }
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return;  // the call ended; OnCancel and OnDone follow
    queue_.pop_front();
    if (!queue_.empty() && stream_) {
      WriteFront();
    } else if (queue_.empty() && half_closed_) {
      Finish();
    }
  }

  void OnCancel() override {
    Record([](CallRecord& c) { c.cancelled = true; });
  }
  void OnDone() override {
    Record([](CallRecord& c) { c.server_done = true; });
  }

 private:
  template <typename F>
  void Record(F fn) {
    if (id_ < 0) return;
    std::lock_guard<std::mutex> lock(run_->mu);
    fn(run_->calls[id_]);
  }

  void WriteFront() {
    // A deque keeps the message in place while more arrive; Write may
    // report OnWriteDone (which drops it) before it returns.
    const std::string& message = queue_.front();
    const size_t size = message.size();
    if (call_->Write(Bytes(message)).ok()) Record([&](CallRecord& c) { c.written.Add(size); });
  }

  void Finish() {
    Record([](CallRecord& c) { c.finished = true; });
    call_->Finish(absl::OkStatus());
  }

  rpc::ServerCall* call_;
  RunState* run_;
  const bool stream_;
  int id_ = -1;
  std::deque<std::string> queue_;
  bool half_closed_ = false;
};

// CheckCallEnd checks how a call may end: `status` is its client's status;
// `cut` says the run cut its connection, `dial_failed` that the cut failed
// the channel's first connection before it was up (a cut in the ALTS
// handshake, or an h2c reset that reached the client before its connect
// completed), `probe` that the call started only after every other call
// had ended. Allowed:
//  - OK: the call's trailers arrived (also when a cut came after them);
//  - kUnavailable, only for a call the cut connection carried when it
//    broke: the RPC layer ends every stream open on a connection that ends
//    (reset, EOF at a frame boundary, EOF or a bad record inside a frame)
//    with UNAVAILABLE, as gRPC does, and nothing later on that stream can
//    arrive. Never kDataLoss, kInternal or kCancelled (a truncated message
//    is never delivered as one), nor kDeadlineExceeded (a wakeup was lost);
//  - a failed dial had no call on it: the calls wait for the next
//    connection (wait_for_ready) and only OK is allowed; the same holds for
//    the probe, which starts once the cut connection has ended (the
//    channel dials a fresh, unfaulted one).
// Returns an empty string if allowed, else what is wrong.
std::string CheckCallEnd(const absl::Status& status, bool cut, bool dial_failed, bool probe) {
  if (status.ok()) return "";
  if (status.code() == absl::StatusCode::kUnavailable) {
    if (!cut) return "UNAVAILABLE without a cut: " + status.ToString();
    if (dial_failed) {
      return "UNAVAILABLE although the cut failed the dial, not a call: " + status.ToString();
    }
    if (probe) return "UNAVAILABLE for a call started after the cut: " + status.ToString();
    return "";
  }
  return "unexpected code: " + status.ToString();
}

// Lost counts what the cut runs lost, in messages and bytes: requests the
// client handed to Write that the server's handler never got, responses
// the handler handed to Write that the client never got, and of those the
// acknowledged ones, which must be none: a request whose echo came back or
// whose call ended OK, a response of a call that ended OK.
struct Lost {
  int64_t requests = 0, request_bytes = 0;
  int64_t responses = 0, response_bytes = 0;
  int64_t acknowledged = 0;
  int runs = 0, dial_failed_runs = 0;

  std::string ToString() const {
    return absl::StrCat(
        requests, " requests (", request_bytes,
        " B) handed to Write and never delivered to the handler, ", responses, " responses (",
        response_bytes, " B) written by the handler and never delivered to the client, in ", runs,
        " cut runs (", dial_failed_runs, " of them failed the dial); acknowledged ", acknowledged);
  }
};

struct CaseSummary {
  int runs = 0;
  FaultCounts faults;
  std::map<std::string, int> ends;  // "unary|stream|probe:CODE" -> calls
  int corrupted = 0;
  int64_t calls = 0, messages = 0, bytes = 0;  // completed OK, both ways
  uint64_t connects = 0;
  Lost lost;
};

class RpcFaultsTest : public ::testing::TestWithParam<std::tuple<int, Transport>> {
 protected:
  void SetUp() override {
    alts_ = std::get<1>(GetParam()) == Transport::kAlts;
    rpc::ServerOptions server_options;
    ReactorGroupOptions group_options;
    group_options.threads = 2;
    group_ = std::move(*ReactorGroup::Create(std::move(group_options)));
    read_pool_ = std::move(*BufferPool::Create());
    write_pool_ = std::move(*BufferPool::Create());
    storage_ = std::move(*StoragePool::Create());
    resources_.read_pool = read_pool_.get();
    resources_.write_pool = write_pool_.get();
    resources_.storage = storage_.get();
    server_options.group = group_.get();
    server_options.resources = &resources_;
    if (alts_) {
      server_options.alts = MakeConfig(pki_.Leaf("server@stress"), pki_.Verifier(), nullptr);
      client_config_ = MakeConfig(pki_.Leaf("client@stress"), pki_.Verifier(), nullptr);
    }
    server_ = std::move(*rpc::Server::Create(std::move(server_options)));
    ASSERT_TRUE(server_
                    ->RegisterMethod(kUnaryMethod,
                                     [this](rpc::ServerCall* call) {
                                       return std::make_unique<ServerEcho>(call, run_.load(),
                                                                           false);
                                     })
                    .ok());
    ASSERT_TRUE(server_
                    ->RegisterMethod(kStreamMethod,
                                     [this](rpc::ServerCall* call) {
                                       return std::make_unique<ServerEcho>(call, run_.load(), true);
                                     })
                    .ok());
    absl::StatusOr<std::string> address = server_->AddListener("127.0.0.1:0");
    ASSERT_TRUE(address.ok()) << address.status();
    address_ = *address;
  }

  void TearDown() override {
    server_->Shutdown();
    group_->Shutdown();
    EXPECT_EQ(read_pool_->stats().outstanding, 0u);
    EXPECT_EQ(write_pool_->stats().outstanding, 0u);
    EXPECT_EQ(storage_->OutstandingBytes(), 0u);
  }

  std::unique_ptr<rpc::Channel> NewChannel(uint64_t placement_key) {
    rpc::ChannelOptions options;
    options.group = group_.get();
    options.resources = &resources_;
    if (alts_) {
      options.alts = client_config_;
      options.alts_params.target_identities = {{"server@stress", {}}};
    }
    options.backoff.initial = kRedialBackoff;
    options.placement_key = placement_key;
    absl::StatusOr<std::unique_ptr<rpc::Channel>> channel =
        rpc::Channel::Create(address_, std::move(options));
    EXPECT_TRUE(channel.ok()) << channel.status();
    return channel.ok() ? std::move(*channel) : nullptr;
  }

  // StartCalls starts calls [first, last) of `run` on `channel`, from its
  // reactor thread.
  void StartCalls(rpc::Channel& channel, RunState* run, int first, int last,
                  std::vector<std::unique_ptr<ClientSide>>& clients) {
    for (int id = first; id < last; ++id) clients[id] = std::make_unique<ClientSide>(run, id);
    ASSERT_TRUE(channel.reactor().Post([&channel, run, first, last, &clients] {
      for (int id = first; id < last; ++id) {
        rpc::CallOptions options;
        options.deadline = absl::Now() + kCallDeadline;
        options.wait_for_ready = true;
        options.metadata.Add(kCallIdKey, absl::StrCat(id));
        const bool stream = run->calls[id].stream;  // the script: written before the post
        rpc::ClientCall* call = channel.StartCall(stream ? kStreamMethod : kUnaryMethod,
                                                  std::move(options), clients[id].get());
        clients[id]->Start(call);
      }
    }));
  }

  // WaitClientDone waits until `n` calls of `run` have ended; false on a hang.
  bool WaitClientDone(RunState* run, int n) {
    std::unique_lock<std::mutex> lock(run->mu);
    return run->cv.wait_for(lock, absl::ToChronoMilliseconds(kRunTimeout),
                            [&] { return run->client_done >= n; });
  }

  // WaitQuiet waits (up to kRunTimeout) until the fds are back to
  // `fds_before`, the server has no connection open and no pool buffer or
  // storage is out. A connection that has ended is destroyed in a later
  // reactor task (after the server stops counting it, after
  // Channel::Shutdown returns), and only then closes its socket and returns
  // what it held; and the server may still be finishing the handshake of a
  // connection whose client already gave up on it (a cut client socket),
  // which it then serves until it reads the reset. Each holds its socket:
  // once the fds are back, nothing of the run can come any more. Returns
  // what is still out then (it leaked), or an empty string.
  std::string WaitQuiet(int fds_before) {
    const absl::Time until = absl::Now() + kRunTimeout;
    std::string out;
    while (true) {
      (void)group_->RunOnAllAndWait([](Reactor&) {});
      out.clear();
      const int fds = CountOpenFds();
      if (fds != fds_before) absl::StrAppend(&out, "fds ", fds, " (before ", fds_before, "); ");
      const uint64_t open = server_->stats().connections_open;
      if (open != 0) absl::StrAppend(&out, "server connections open ", open, "; ");
      const size_t buffers = read_pool_->stats().outstanding + write_pool_->stats().outstanding;
      if (buffers != 0) absl::StrAppend(&out, "pool buffers out ", buffers, "; ");
      const size_t storage = storage_->OutstandingBytes();
      if (storage != 0) absl::StrAppend(&out, "storage out ", storage, " B; ");
      if (out.empty() || absl::Now() > until) return out;
      absl::SleepFor(absl::Milliseconds(1));
    }
  }

  // Calibrate measures each side's ALTS handshake bytes with a clean call.
  void Calibrate() {
    if (!alts_) return;
    RunState run;
    run.calls.resize(1);
    run.calls[0].requests = {"calibrate"};
    run_ = &run;
    const int fds_before = CountOpenFds();
    auto plan = std::make_unique<FaultPlan>(0);
    FdFaults capture;
    capture.capture = true;
    plan->EnrollConnected(capture);
    plan->EnrollAccepted(capture);
    std::unique_ptr<rpc::Channel> channel = NewChannel(0);
    ASSERT_NE(channel, nullptr);
    std::vector<std::unique_ptr<ClientSide>> clients(1);
    StartCalls(*channel, &run, 0, 1, clients);
    ASSERT_TRUE(WaitClientDone(&run, 1));
    channel->Shutdown();
    ASSERT_EQ(WaitQuiet(fds_before), "");
    run_ = nullptr;
    ASSERT_TRUE(run.calls[0].status.ok()) << run.calls[0].status;
    std::tie(client_handshake_bytes_, server_handshake_bytes_) =
        FullHandshakeBytes(plan->records());
    ASSERT_NE(client_handshake_bytes_, absl::string_view::npos);
    ASSERT_NE(server_handshake_bytes_, absl::string_view::npos);
  }

  void RunSeed(int kind, uint64_t seed, CaseSummary* summary);

  bool alts_ = false;
  TestPki pki_{absl::Now()};
  std::unique_ptr<ReactorGroup> group_;
  std::unique_ptr<BufferPool> read_pool_, write_pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  std::shared_ptr<HandshakerConfig> client_config_;
  std::unique_ptr<rpc::Server> server_;
  std::string address_;
  // The current run (one at a time); read by the handler factories.
  std::atomic<RunState*> run_{nullptr};
  size_t client_handshake_bytes_ = 0;
  size_t server_handshake_bytes_ = 0;
};

void RpcFaultsTest::RunSeed(int kind, uint64_t seed, CaseSummary* summary) {
  SCOPED_TRACE(absl::StrCat(KindName(kind), alts_ ? "/alts" : "/h2c", " seed ", seed));
  std::mt19937_64 rng(seed);
  const int fds_before = CountOpenFds();
  const rpc::ServerStats stats_before = server_->stats();

  // The script: kUnaryCalls unary calls and a stream, all at once, then
  // the probe. Payloads come from the seed.
  auto run_owner = std::make_unique<RunState>();
  RunState& run = *run_owner;
  const int stream_id = kUnaryCalls;
  const int probe_id = kUnaryCalls + 1;
  run.calls.resize(kUnaryCalls + 2);
  int64_t payload = 0;  // the request bytes of the calls before the probe
  for (int id = 0; id < static_cast<int>(run.calls.size()); ++id) {
    CallRecord& c = run.calls[id];
    c.stream = id == stream_id;
    c.probe = id == probe_id;
    const int messages = c.stream ? 1 + static_cast<int>(rng() % kMaxStreamMessages) : 1;
    for (int m = 0; m < messages; ++m) {
      const size_t size = rng() % kLargeEvery == 0 ? rng() % (kMaxLargeMessage + 1)
                                                   : rng() % (kMaxSmallMessage + 1);
      std::vector<uint8_t> bytes = RandomBytes(size, rng());
      c.requests.emplace_back(bytes.begin(), bytes.end());
      if (!c.probe) payload += static_cast<int64_t>(size);
    }
  }

  // Where a cut falls: on the client's or the server's socket (the echo
  // sends as many bytes each way); for ALTS a quarter in the handshake, for
  // h2c a quarter in the first bytes; the rest anywhere in the HTTP/2
  // bytes that carry the payload. Either way before the last bytes of the
  // calls' traffic, so the cut always happens before the probe.
  const bool cut = kind != kAcceptStorms && IsCut(kAllScenarios[kind]);
  const bool reset = cut && kAllScenarios[kind] == FaultScenario::kReset;
  const bool cut_client = rng() % 2 == 0;
  const uint64_t handshake_bytes =
      alts_ ? (cut_client ? client_handshake_bytes_ : server_handshake_bytes_) : 0;
  const bool early = rng() % 4 == 0;
  const bool cut_in_handshake = cut && alts_ && early;
  int64_t cut_at = 0;
  if (early) {
    cut_at = static_cast<int64_t>(
        alts_ ? rng() % handshake_bytes
              : rng() % std::min<uint64_t>(kPrefaceCutBytes, static_cast<uint64_t>(payload) + 1));
  } else {
    cut_at = static_cast<int64_t>(handshake_bytes + rng() % static_cast<uint64_t>(payload + 1));
  }
  // Nothing of the previous run is left, so the connection options can
  // change: half the runs pin their read buffers.
  resources_.options.read_policy =
      rng() % 2 == 0 ? ReadBufferPolicy::kPinned : ReadBufferPolicy::kOnDemand;
  resources_.options.max_reads_per_wakeup = 1 + rng() % kDefaultMaxReadsPerWakeup;
  const uint64_t placement_key = rng();
  SCOPED_TRACE(absl::StrCat(
      resources_.options.read_policy == ReadBufferPolicy::kPinned ? "pinned" : "on-demand",
      cut ? absl::StrCat(", cut ", cut_client ? "client" : "server", " at byte ", cut_at,
                         cut_in_handshake ? " (handshake)" : "")
          : ""));

  auto plan = std::make_unique<FaultPlan>(seed);
  FdFaults client_faults, server_faults;
  if (cut) {
    FdFaults& faults = cut_client ? client_faults : server_faults;
    (reset ? faults.reset_after : faults.half_close_after) = cut_at;
  } else if (kind == kAcceptStorms) {
    plan->SetAcceptFaults(kAcceptFaultRate, kAcceptFaultRate);
  } else {
    client_faults = ScenarioFaults(kAllScenarios[kind], seed * 2);
    server_faults = ScenarioFaults(kAllScenarios[kind], seed * 2 + 1);
  }
  plan->EnrollConnected(client_faults);
  plan->EnrollAccepted(server_faults);
  run_ = &run;

  std::unique_ptr<rpc::Channel> channel = NewChannel(placement_key);
  ASSERT_NE(channel, nullptr);
  auto clients_owner = std::make_unique<std::vector<std::unique_ptr<ClientSide>>>(run.calls.size());
  std::vector<std::unique_ptr<ClientSide>>& clients = *clients_owner;
  StartCalls(*channel, &run, 0, probe_id, clients);
  const bool calls_ended = WaitClientDone(&run, probe_id);
  // The accept case makes its probe on a second channel (a second accept).
  std::unique_ptr<rpc::Channel> probe_channel;
  if (calls_ended) {
    if (kind == kAcceptStorms) {
      channel->Shutdown();
      probe_channel = NewChannel(placement_key + 1);
      ASSERT_NE(probe_channel, nullptr);
    }
    StartCalls(probe_channel != nullptr ? *probe_channel : *channel, &run, probe_id, probe_id + 1,
               clients);
  }
  const bool probe_ended = calls_ended && WaitClientDone(&run, probe_id + 1);
  const rpc::ChannelStats channel_stats = channel->stats();
  // The first dial failed when the channel attempted one more connection
  // than it made.
  const bool dial_failed = channel_stats.connects_attempted > channel_stats.connects_succeeded;
  const size_t probe_leased =
      probe_ended ? (probe_channel != nullptr ? *probe_channel : *channel).ConnectionLeasedBuffers()
                  : 0;
  if (probe_channel != nullptr) probe_channel->Shutdown();
  channel->Shutdown();
  // After a hang, Shutdown has failed the calls left: let them report.
  (void)WaitClientDone(&run, calls_ended ? probe_id + 1 : probe_id);
  EXPECT_TRUE(plan->WaitForDelayedBytes(absl::Seconds(10)));
  const std::string not_quiet = WaitQuiet(fds_before);
  run_ = nullptr;
  summary->faults.Add(plan->counts());
  const std::vector<FdRecord> records = plan->records();
  plan.reset();
  // Every server reactor task touching the run is over once its sockets
  // are closed; the client's ended before Shutdown returned.
  std::unique_lock<std::mutex> lock(run.mu);
  std::string hang;
  for (const CallRecord& c : run.calls) {
    if (!c.done) absl::StrAppend(&hang, " call ", &c - run.calls.data(), " not done;");
  }
  if (!(calls_ended && probe_ended && not_quiet.empty())) {
    // Callbacks may still come: leave them the run and the handlers.
    lock.unlock();
    run_owner.release();
    clients_owner.release();
    FAIL() << "hang:" << hang << " " << not_quiet;
  }
  // An idle channel holds no read buffer: checked where the probe's
  // connection met no fault (after a cut, a fresh one; the accept case's
  // second channel) and does not pin its buffer.
  if ((cut || kind == kAcceptStorms) &&
      resources_.options.read_policy == ReadBufferPolicy::kOnDemand) {
    EXPECT_EQ(probe_leased, 0u);
  }

  // Each call's end, and what it delivered.
  int unavailable = 0;
  for (const CallRecord& c : run.calls) {
    const std::string which = c.probe ? "probe" : c.stream ? "stream" : "unary";
    SCOPED_TRACE(absl::StrCat(which, " call ", &c - run.calls.data(), ": ", c.status.ToString(),
                              "; requests ", c.requests.size(), " handed ", c.handed.n,
                              " accepted ", c.accepted, " delivered ", c.delivered.n,
                              "; responses written ", c.written.n, " received ", c.received.n,
                              "; server handlers ", c.handlers, c.finished ? " finished" : "",
                              c.cancelled ? " cancelled" : ""));
    summary->ends[absl::StrCat(which, ":", absl::StatusCodeToString(c.status.code()))]++;
    EXPECT_FALSE(c.corrupted) << "a delivered message differs from the one sent";
    if (c.corrupted) summary->corrupted++;
    EXPECT_EQ(CheckCallEnd(c.status, cut, dial_failed, c.probe), "");
    if (c.status.code() == absl::StatusCode::kUnavailable) unavailable++;
    // A call is served by one handler at most (there is no retry here).
    EXPECT_LE(c.handlers, 1);
    EXPECT_EQ(c.server_done, c.handlers == 1);
    EXPECT_LE(c.delivered.n, c.handed.n);
    EXPECT_LE(c.received.n, c.written.n);
    EXPECT_LE(c.written.n, c.delivered.n);
    if (c.status.ok()) {
      // Complete: every request reached the handler and every echo came
      // back; the handler finished (its trailers are what ended the call).
      EXPECT_EQ(c.handed.n, static_cast<int>(c.requests.size()));
      EXPECT_EQ(c.delivered.n, c.handed.n);
      EXPECT_EQ(c.received.n, c.delivered.n);
      EXPECT_TRUE(c.finished && !c.cancelled);
      summary->calls++;
      summary->messages += 2 * static_cast<int64_t>(c.requests.size());
      summary->bytes += c.handed.bytes + c.received.bytes;
    }
    if (!cut) {
      EXPECT_FALSE(c.cancelled) << "a server handler was cancelled without a cut";
    } else {
      summary->lost.requests += c.handed.n - c.delivered.n;
      summary->lost.request_bytes += c.handed.bytes - c.delivered.bytes;
      summary->lost.responses += c.written.n - c.received.n;
      summary->lost.response_bytes += c.written.bytes - c.received.bytes;
      // Acknowledged: echoed requests (the echo of request i is response
      // i), and all of a call that ended OK.
      const int acknowledged_requests = c.status.ok() ? c.handed.n : c.received.n;
      const int64_t acknowledged_lost =
          std::max(0, acknowledged_requests - c.delivered.n) +
          (c.status.ok() ? std::max(0, c.written.n - c.received.n) : 0);
      EXPECT_EQ(acknowledged_lost, 0) << "acknowledged messages were lost";
      summary->lost.acknowledged += acknowledged_lost;
    }
  }
  if (cut) {
    ASSERT_EQ(records.size(), 2u);
    const FdRecord& cut_record = records[cut_client ? 0 : 1];
    EXPECT_TRUE(reset ? cut_record.reset : cut_record.half_closed)
        << "the cut at " << cut_at << " never happened";
    // A cut in the handshake fails the dial; a cut in the HTTP/2 bytes
    // falls before the end of the calls' last bytes, so unless it failed
    // the dial, at least one call was on the connection when it broke.
    if (alts_) {
      EXPECT_EQ(dial_failed, cut_in_handshake) << "a cut in the handshake fails the dial, and "
                                                  "only such a cut";
    }
    if (!dial_failed) {
      EXPECT_GT(unavailable, 0) << "a cut that no call met";
    }
    summary->lost.runs++;
    if (dial_failed) summary->lost.dial_failed_runs++;
  } else {
    // Faults that cut nothing never make the channel dial twice.
    EXPECT_EQ(channel_stats.connects_attempted, 1u);
  }
  summary->connects += channel_stats.connects_succeeded;
  summary->runs++;
  lock.unlock();

  // Nothing is left: every call the server started ended, and no
  // connection, buffer, storage or fd remains.
  channel.reset();
  probe_channel.reset();
  const rpc::ServerStats stats = server_->stats();
  EXPECT_EQ(stats.calls_started - stats_before.calls_started,
            (stats.calls_finished - stats_before.calls_finished) +
                (stats.calls_cancelled - stats_before.calls_cancelled));
  EXPECT_EQ(stats.calls_rejected, stats_before.calls_rejected);
  EXPECT_EQ(stats.connections_open, 0u);
  const std::vector<size_t> server_heap = server_->ConnectionHeapBytes();
  EXPECT_TRUE(server_heap.empty()) << server_heap.size() << " server connections hold "
                                   << server_heap[0] << " B; accepted in the run "
                                   << stats.connections_accepted - stats_before.connections_accepted
                                   << ", open now " << server_->stats().connections_open;
  EXPECT_EQ(read_pool_->stats().outstanding, 0u);
  EXPECT_EQ(write_pool_->stats().outstanding, 0u);
  EXPECT_EQ(storage_->OutstandingBytes(), 0u);
  EXPECT_EQ(CountOpenFds(), fds_before) << "leaked fds";
}

TEST_P(RpcFaultsTest, EveryCallIntactOrEndedByItsCut) {
  const auto [kind, transport] = GetParam();
  Calibrate();
  ASSERT_FALSE(HasFatalFailure());
  const absl::Time start = absl::Now();
  CaseSummary summary;
  const uint64_t base =
      50000 + 1000 * static_cast<uint64_t>(kind) + 500 * static_cast<uint64_t>(transport);
  // ALTS_STRESS_SEED=<seed> reruns one seed alone (the failure messages
  // name it); ALTS_STRESS_SCALE the long version.
  const std::vector<uint64_t> seeds = StressSeeds(base, kSeedsPerCase);
  if (seeds.empty()) GTEST_SKIP() << "ALTS_STRESS_SEED is not one of this case's seeds";
  for (uint64_t seed : seeds) {
    if (HasFatalFailure()) break;
    RunSeed(kind, seed, &summary);
  }
  EXPECT_EQ(summary.runs, static_cast<int>(seeds.size()));
  EXPECT_EQ(summary.corrupted, 0);
  EXPECT_EQ(summary.lost.acknowledged, 0);
  const bool cut = kind != kAcceptStorms && IsCut(kAllScenarios[kind]);
  if (cut) {
    EXPECT_EQ(summary.faults[kAllScenarios[kind] == FaultScenario::kReset ? Fault::kReset
                                                                          : Fault::kHalfClose],
              seeds.size());
  } else {
    EXPECT_GT(summary.faults.Total(), 0u);
  }
  std::cout << "[ summary  ] " << KindName(kind) << (alts_ ? "/alts" : "/h2c") << " seeds " << base
            << ".." << base + kSeedsPerCase - 1 << ": faults " << summary.faults.ToString()
            << "; connections " << summary.connects << "; calls by end"
            << FormatCounts(summary.ends) << "; completed " << summary.calls << " calls, "
            << summary.messages << " messages, " << summary.bytes << " B intact; corrupted "
            << summary.corrupted << "; "
            << (cut ? absl::StrCat("lost at the cuts: ", summary.lost.ToString(), "; ")
                    : std::string())
            << absl::ToInt64Milliseconds(absl::Now() - start) << " ms\n";
}

INSTANTIATE_TEST_SUITE_P(Matrix, RpcFaultsTest,
                         ::testing::Combine(::testing::Range(0, kKinds),
                                            ::testing::Values(Transport::kAlts,
                                                              Transport::kPlaintext)),
                         [](const ::testing::TestParamInfo<RpcFaultsTest::ParamType>& info) {
                           return absl::StrCat(
                               KindName(std::get<0>(info.param)),
                               std::get<1>(info.param) == Transport::kAlts ? "Alts" : "Plaintext");
                         });

}  // namespace
}  // namespace alts::testing
