// rpc_stress: many gRPC channels under load, with churn, cancellations and
// deadlines, every byte checked on both sides.
//
// --conns channels (rpc::Channel, one connection each) and the rpc::Server
// they call live on one ReactorGroup of --threads reactors, in this process,
// over loopback TCP with real ALTS handshakes (a PKI made in this process:
// one root, a server leaf and a client leaf; the client requires the
// server's identity, the server accepts only the client's). Each channel
// runs --calls calls, one at a time (or calls until --duration-s is up). A
// call's shape is derived from (--seed, channel, call number), so reruns
// repeat it exactly:
//   unary     /stress.Echo/Unary: one message, echoed back;
//   stream    /stress.Echo/Bidi: 1..--stream-messages messages, each echoed
//             before the next is sent, then a half-close;
//   cancel    (--cancel-fraction of the calls) a Bidi call the client
//             cancels once its first echo arrived: must end CANCELLED;
//   deadline  (--deadline-fraction) /stress.Echo/Hold with a deadline of
//             --deadline-ms: the handler holds the call without answering,
//             so it must end DEADLINE_EXCEEDED.
// Messages are a 12-byte header (magic, offset, length) followed by `length`
// bytes (in [--min-size, --max-size]) of a random pattern from `offset`: the
// server checks every message it receives against the pattern, the client
// compares every echoed byte with what it sent.
//
// Churn: --churn-per-s channels a second, picked among those with a call in
// flight, are shut down (Channel::Shutdown: GOAWAY NO_ERROR "channel shut
// down", then the connection closes) and replaced by a new channel, which
// dials again on its next call. The Channel API has no other way to close
// its connection, so a call in flight on a churned channel may end in
// exactly two ways: as if nothing happened (its expected status, the close
// came after it was decided), or UNAVAILABLE with the close's own reason,
// "channel shut down" (the call was pending on the channel) or "connection
// closed: channel shut down" (it was on the connection). An interrupted call
// runs again, the same call, on the new channel, so the total number of
// calls and the mix of kinds do not depend on the churn. Any other status,
// on any call, is an error, printed with its message.
//
// Reported: calls/s over the load phase (every channel is connected before
// it starts), p50/p99 latency of the unary and stream calls that completed
// (histograms with buckets at most ~3% wide), calls of each kind, calls
// interrupted by the churn and channels reopened, bytes verified by the
// clients and by the server, errors, peak RSS, the pools' high-water marks
// (BufferPoolStats::high_water_outstanding), and RSS at the start (after a
// warm-up of one channel per reactor, so one-time lazy initialisation is not
// charged to the load) and after the run (every channel shut down, every
// server connection gone, the pools and the allocator trimmed). After -
// start must stay within --rss-margin-mb. What remains after a healthy run
// is not per-connection state: libevent's per-descriptor entries (about
// 1 MiB of live heap at 5,000 connections, as in stress) and the allocator
// pages they keep among those the calls' messages used at the peak, some
// 20 MiB at the defaults. The program exits 1 on any error, a short count
// of calls or an RSS overrun, 2 for bad flags.
//
//   rpc_stress [--conns=5000] [--threads=2] [--calls=20 | --duration-s=S]
//              [--min-size=1] [--max-size=16384] [--stream-messages=4]
//              [--churn-per-s=200] [--cancel-fraction=0.05]
//              [--deadline-fraction=0.05] [--deadline-ms=50]
//              [--rss-margin-mb=32] [--seed=1] [--json=PATH]
//
// Flags may be spelled with dashes or underscores. Progress goes to stderr;
// results to stdout (and --json).

#include <sys/resource.h>

#include <algorithm>
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
#include "conn/storage_pool.h"
#include "rpc/channel.h"
#include "rpc/server.h"

ABSL_FLAG(int, conns, 5000, "Concurrent channels, one ALTS connection each.");
ABSL_FLAG(int, threads, 2, "Reactor threads carrying the channels and the server.");
ABSL_FLAG(int, calls, 20, "Calls each channel slot runs (ignored with --duration-s).");
ABSL_FLAG(int, duration_s, 0,
          "The long version: run calls for this many seconds instead of --calls (0 = off).");
ABSL_FLAG(int, min_size, 1, "Smallest message payload, in bytes.");
ABSL_FLAG(int, max_size, 16384, "Largest message payload, in bytes.");
ABSL_FLAG(int, stream_messages, 4, "Most messages of a streaming call (at least 2).");
ABSL_FLAG(double, churn_per_s, 200,
          "Channels shut down mid-call and replaced, per second of load.");
ABSL_FLAG(double, cancel_fraction, 0.05, "Fraction of calls the client cancels mid-call.");
ABSL_FLAG(double, deadline_fraction, 0.05,
          "Fraction of calls to a handler that waits past their deadline.");
ABSL_FLAG(int, deadline_ms, 50, "The deadline of those calls, in milliseconds.");
ABSL_FLAG(int, rss_margin_mb, 32,
          "RSS after the run may exceed RSS at the start by at most this many MiB.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the call shapes, message sizes and contents.");
ABSL_FLAG(std::string, json, "", "Also write the results as JSON to this path ('-' for stdout).");

namespace alts::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

// kMaxMessageSize bounds --max-size: larger messages only test flow control,
// which the rpc tests cover.
constexpr int kMaxMessageSize = 1 << 20;
// kMaxStreamMessages bounds --stream-messages: a stream call is a ping-pong,
// so longer ones only make the run longer.
constexpr int kMaxStreamMessages = 1000;
// kMaxCalls bounds --calls so the call total fits any counter.
constexpr int kMaxCalls = 1 << 24;
// kMaxChurnPerS bounds --churn-per-s: each reopen is a handshake, and a
// couple of cores do a few thousand a second at most.
constexpr double kMaxChurnPerS = 100000;
// kMaxDeadlineMs bounds --deadline-ms: the held calls wait this long, and a
// minute-long hold is a stall, not a deadline test.
constexpr int kMaxDeadlineMs = 60000;
// kPatternExtra: messages start at a random offset in [0, kPatternExtra] of
// the shared random pattern, so an echo delivered to the wrong call, or a
// message repeated or skipped, does not match. Odd, so offsets do not line
// up with frame sizes.
constexpr size_t kPatternExtra = (1 << 20) + 17;
// kHeaderSize: a message's header: magic, offset and length, 32 bits each.
constexpr size_t kHeaderSize = 12;
// kMagic marks a message of this program ("RSTR").
constexpr uint32_t kMagic = 0x52545352;
// kSetupWindow: channels connecting at once during setup. The handshake
// deadline counts from the dial, and the server takes at most
// kDefaultMaxHandshakesPerSource (256) handshakes from one address at once.
constexpr size_t kSetupWindow = 128;
// kDrainTimeout: once every channel is shut down, the server's connections
// must be gone within this long.
constexpr absl::Duration kDrainTimeout = absl::Seconds(10);
// kMaxReportedErrors: distinct error messages kept for the report.
constexpr size_t kMaxReportedErrors = 10;
// kServerName, kClientName: the service accounts of the in-process PKI.
constexpr char kServerName[] = "rpc-stress-server@alts.test";
constexpr char kClientName[] = "rpc-stress-client@alts.test";
constexpr double kMiB = 1024.0 * 1024.0;

constexpr char kUnaryMethod[] = "/stress.Echo/Unary";
constexpr char kBidiMethod[] = "/stress.Echo/Bidi";
constexpr char kHoldMethod[] = "/stress.Echo/Hold";
// kChurnReasons: the statuses a call interrupted by Channel::Shutdown ends
// with: UNAVAILABLE "channel shut down" while pending on the channel (not
// yet on a connection), "connection closed: channel shut down" once on it.
constexpr absl::string_view kChurnReasons[] = {"channel shut down",
                                               "connection closed: channel shut down"};

// CallKind is the shape of one call.
enum class CallKind { kUnary, kStream, kCancel, kDeadline };

const char* KindName(CallKind k) {
  switch (k) {
    case CallKind::kUnary:
      return "unary";
    case CallKind::kStream:
      return "stream";
    case CallKind::kCancel:
      return "cancel";
    case CallKind::kDeadline:
      return "deadline";
  }
  return "?";
}

// ExpectedCode returns the status a call of kind `k` ends with.
absl::StatusCode ExpectedCode(CallKind k) {
  switch (k) {
    case CallKind::kCancel:
      return absl::StatusCode::kCancelled;
    case CallKind::kDeadline:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return absl::StatusCode::kOk;
  }
}

// IsChurnStatus returns true for the statuses a Channel::Shutdown gives the
// calls it interrupts.
bool IsChurnStatus(const absl::Status& s) {
  if (s.code() != absl::StatusCode::kUnavailable) return false;
  return std::find(std::begin(kChurnReasons), std::end(kChurnReasons), s.message()) !=
         std::end(kChurnReasons);
}

class Harness;
class Slot;

// ReactorState is what one reactor's thread owns: its channel slots, its
// churn timer and its statistics (the server's handlers on this reactor
// count here too).
struct alignas(64) ReactorState {
  Reactor* reactor = nullptr;
  std::vector<Slot*> slots;
  ChurnPacer churn;
  LatencyHistogram unary_latency;
  LatencyHistogram stream_latency;
  Counter unary_calls;
  Counter stream_calls;
  Counter cancelled_calls;
  Counter deadline_calls;
  Counter interrupted_calls;
  Counter reopened;
  Counter bytes_verified;
  Counter server_bytes_verified;
  Counter server_cancels;

  // Completed returns the calls that ended with their expected status.
  uint64_t Completed() const {
    return unary_calls.Get() + stream_calls.Get() + cancelled_calls.Get() + deadline_calls.Get();
  }
  void Reset() {
    unary_latency.Clear();
    stream_latency.Clear();
    for (Counter* c :
         {&unary_calls, &stream_calls, &cancelled_calls, &deadline_calls, &interrupted_calls,
          &reopened, &bytes_verified, &server_bytes_verified, &server_cancels}) {
      c->Reset();
    }
    churn.Restart();
  }
};

// RunConfig is one run's workload.
struct RunConfig {
  int conns = 0;
  int calls = 0;  // per slot; ignored when duration > 0
  absl::Duration duration = absl::ZeroDuration();
  size_t min_size = 1;
  size_t max_size = 1;
  int stream_messages = 2;
  double churn_per_s = 0;
  double cancel_fraction = 0;
  double deadline_fraction = 0;
  absl::Duration deadline = absl::Milliseconds(50);
  uint64_t seed = 0;
};

// RunResult is what one run measured.
struct RunResult {
  uint64_t calls = 0;  // completed with their expected status
  uint64_t unary_calls = 0, stream_calls = 0, cancelled_calls = 0, deadline_calls = 0;
  uint64_t interrupted_calls = 0;
  uint64_t reopened = 0;
  uint64_t bytes_verified = 0;
  uint64_t server_bytes_verified = 0;
  uint64_t server_cancels = 0;
  uint64_t errors = 0;
  double setup_s = 0;
  double load_s = 0;
  double p50_us = 0, p99_us = 0;
  double unary_p50_us = 0, unary_p99_us = 0;
  double stream_p50_us = 0, stream_p99_us = 0;
  bool aborted = false;
};

// CallPlan is one call's shape: its kind, its message count and the
// generator of its messages. Plan(slot, index) is a pure function, so a
// call run again after churn sends the same messages.
struct CallPlan {
  CallKind kind = CallKind::kUnary;
  int messages = 1;
  Rng rng;
};

// Harness owns the reactors, pools, server and channels, and runs loads.
class Harness {
 public:
  explicit Harness(std::vector<uint8_t> pattern) : pattern_(std::move(pattern)) {}
  ~Harness();

  // Init starts `threads` reactors with their timers, the pools, the PKI and
  // the server. Returns the first failure.
  absl::Status Init(int threads, size_t max_size);
  // Run connects config.conns channels, runs the load, and shuts every
  // channel down, counting every failure in RunResult::errors. Call from the
  // main thread, one run at a time; a stalled run aborts
  // (RunResult::aborted) and leaves the harness unable to run again.
  RunResult Run(const RunConfig& config, bool show_progress);
  // Trim returns cached memory: every reactor's pool caches, the depots, and
  // the allocator's free pages.
  void Trim();
  // read_pool_stats, write_pool_stats return the pools' counters.
  BufferPoolStats read_pool_stats() const { return stack_->read_pool->stats(); }
  BufferPoolStats write_pool_stats() const { return stack_->write_pool->stats(); }
  // server_stats returns the server's counters.
  rpc::ServerStats server_stats() const { return server_->stats(); }
  // errors returns the errors counted so far, with the first
  // kMaxReportedErrors messages.
  const LoadErrors& errors() const { return errors_; }

  // The rest is called by slots and handlers, on reactor threads.

  // Error counts one error and keeps its message if it is among the first.
  void Error(const std::string& what) { errors_.Add(what); }
  // aborting returns true once a stalled run is being torn down: failures
  // are then expected and not counted.
  bool aborting() const { return aborting_.load(std::memory_order_acquire); }
  // HasMoreWork returns true if a slot with `remaining` calls left should
  // start another.
  bool HasMoreWork(int64_t remaining) const;
  // Plan returns the shape of call `index` of slot `slot`.
  CallPlan Plan(uint32_t slot, uint64_t index) const;
  // FillMessage makes `out` the next message drawn from `rng`.
  void FillMessage(Rng& rng, std::string& out) const;
  // VerifyMessage returns true if `m` is a well-formed message whose bytes
  // match the pattern.
  bool VerifyMessage(absl::Span<const uint8_t> m) const;
  // NewChannel returns a channel to the server on reactor `index`.
  std::unique_ptr<rpc::Channel> NewChannel(size_t index);
  // state returns the state of reactor `r`.
  ReactorState& state(Reactor& r) { return *states_[r.index()]; }
  const RunConfig& config() const { return config_; }
  // SlotDone records that a slot ran its last call.
  void SlotDone() { slots_done_.fetch_add(1, std::memory_order_release); }

 private:
  absl::Status RegisterMethods();
  void Tick(ReactorState& st);
  uint64_t TotalCompleted() const;
  // ShutDownChannels shuts down and destroys every slot's channel from the
  // main thread (each Shutdown waits for its connection to end).
  void ShutDownChannels();

  const std::vector<uint8_t> pattern_;
  std::unique_ptr<LoadStack> stack_;
  ReactorGroup* group_ = nullptr;  // stack_'s
  std::vector<std::unique_ptr<ReactorState>> states_;
  std::unique_ptr<rpc::Server> server_;
  std::string address_;
  // One options object per reactor (placement_key = its index), shared by
  // the channels placed there.
  std::vector<std::shared_ptr<const rpc::ChannelOptions>> channel_options_;
  size_t max_size_ = 0;

  RunConfig config_;
  std::vector<std::unique_ptr<Slot>> slots_;
  SteadyClock::time_point deadline_;
  std::atomic<bool> load_running_{false};
  std::atomic<bool> aborting_{false};
  std::atomic<uint64_t> slots_done_{0};
  LoadErrors errors_{kMaxReportedErrors};
  std::unique_ptr<ReactorTicker> ticker_;

  friend class Slot;
};

// Slot is one of the --conns channels, across reopenings: it runs its calls
// one at a time on its channel's reactor and checks every echo.
class Slot final : public rpc::ClientCallHandler {
 public:
  Slot(Harness* harness, uint32_t id, ReactorState* state, int64_t calls)
      : harness_(harness), id_(id), state_(state), remaining_(calls) {
    channel_ = harness_->NewChannel(state_->reactor->index());
  }

  uint32_t id() const { return id_; }
  rpc::Channel* channel() const { return channel_.get(); }
  // TakeChannel hands the channel over (for the final shutdown).
  std::unique_ptr<rpc::Channel> TakeChannel() { return std::move(channel_); }

  // StartNext starts the next call, or finishes the slot if its work is
  // done. Reactor thread.
  void StartNext() {
    if (!harness_->HasMoreWork(remaining_)) {
      harness_->SlotDone();
      return;
    }
    plan_ = harness_->Plan(id_, index_);
    sent_ = 0;
    echoed_ = 0;
    awaiting_echo_ = false;
    write_in_flight_ = false;
    churned_ = false;
    failed_ = false;
    in_call_ = true;
    start_ = SteadyClock::now();
    rpc::CallOptions options;
    const char* method = kBidiMethod;
    if (plan_.kind == CallKind::kUnary) method = kUnaryMethod;
    if (plan_.kind == CallKind::kDeadline) {
      method = kHoldMethod;
      options.deadline = absl::Now() + harness_->config().deadline;
    }
    call_ = channel_->StartCall(method, std::move(options), this);
    SendNext();
  }

  // Churnable returns true if shutting the channel down now interrupts a
  // call.
  bool Churnable() const { return in_call_ && !churned_; }

  // Churn shuts the channel down and puts a new one in its place; the call
  // in flight ends with its expected status or a churn status (OnDone).
  void Churn() {
    churned_ = true;
    channel_->Shutdown();  // on the reactor thread: does not wait
    channel_ = harness_->NewChannel(state_->reactor->index());
    state_->reopened.Add(1);
  }

  void OnMessage(absl::Span<const uint8_t> message) override {
    if (failed_) return;
    if (!awaiting_echo_) {
      Fail(absl::StrCat(message.size(), "-byte message without a request in flight"));
      return;
    }
    if (message.size() != out_.size() || std::memcmp(message.data(), out_.data(), out_.size())) {
      Fail(absl::StrCat("echo of message ", echoed_, " differs from what was sent (",
                        message.size(), " bytes, ", out_.size(), " sent)"));
      return;
    }
    awaiting_echo_ = false;
    ++echoed_;
    state_->bytes_verified.Add(message.size());
    if (plan_.kind == CallKind::kCancel) {
      call_->Cancel();
      return;
    }
    if (plan_.kind == CallKind::kStream) SendNext();
  }

  void OnWriteDone(bool ok) override {
    write_in_flight_ = false;
    if (ok && !failed_ && plan_.kind == CallKind::kStream) SendNext();
  }

  void OnDone(const absl::Status& status, const rpc::Metadata&) override {
    in_call_ = false;
    call_ = nullptr;
    std::string().swap(out_);  // an idle slot holds no message
    const CallKind kind = plan_.kind;
    if (failed_) {
      Consume();  // counted as an error already
    } else if (status.code() == ExpectedCode(kind) && Complete(kind)) {
      Consume();
    } else if (churned_ && IsChurnStatus(status)) {
      state_->interrupted_calls.Add(1);  // the same call runs again
    } else if (!harness_->aborting()) {
      harness_->Error(absl::StrCat("slot ", id_, " call ", index_, " (", KindName(kind),
                                   ", messages echoed ", echoed_, "/", plan_.messages,
                                   churned_ ? ", churned" : "", "): ", status.ToString()));
      Consume();
    }
    if (harness_->aborting()) return;
    StartNext();
  }

 private:
  // SendNext writes the next message of the call, or half-closes once all
  // were echoed.
  void SendNext() {
    if (write_in_flight_ || awaiting_echo_) return;
    if (sent_ == plan_.messages) {
      if (plan_.kind == CallKind::kStream) call_->WritesDone();
      return;
    }
    harness_->FillMessage(plan_.rng, out_);
    ++sent_;
    // Unary and held calls half-close with their one message.
    const bool last = plan_.kind == CallKind::kUnary || plan_.kind == CallKind::kDeadline;
    write_in_flight_ = true;
    awaiting_echo_ = plan_.kind != CallKind::kDeadline;
    call_->Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(out_.data()), out_.size()),
                 last);
  }

  // Complete counts a call that ended with its expected status; false if
  // its echoes were short.
  bool Complete(CallKind kind) {
    const uint64_t ns = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start_).count());
    switch (kind) {
      case CallKind::kUnary:
      case CallKind::kStream:
        if (echoed_ != plan_.messages) return false;
        (kind == CallKind::kUnary ? state_->unary_latency : state_->stream_latency).Record(ns);
        (kind == CallKind::kUnary ? state_->unary_calls : state_->stream_calls).Add(1);
        return true;
      case CallKind::kCancel:
        if (echoed_ != 1) return false;
        state_->cancelled_calls.Add(1);
        return true;
      case CallKind::kDeadline:
        state_->deadline_calls.Add(1);
        return true;
    }
    return false;
  }

  // Consume moves on to the slot's next call.
  void Consume() {
    ++index_;
    --remaining_;
  }

  void Fail(std::string what) {
    failed_ = true;
    if (!harness_->aborting()) {
      harness_->Error(absl::StrCat("slot ", id_, " call ", index_, ": ", what));
    }
    call_->Cancel();
  }

  Harness* harness_;
  const uint32_t id_;
  ReactorState* state_;
  std::unique_ptr<rpc::Channel> channel_;
  int64_t remaining_;   // calls not yet completed (calls mode)
  uint64_t index_ = 0;  // the call being run
  // The call in flight.
  rpc::ClientCall* call_ = nullptr;
  CallPlan plan_;
  std::string out_;  // the message being sent and echoed
  int sent_ = 0;
  int echoed_ = 0;
  SteadyClock::time_point start_;
  bool in_call_ = false;
  bool write_in_flight_ = false;
  bool awaiting_echo_ = false;
  bool churned_ = false;
  bool failed_ = false;
};

// EchoHandler serves Unary, Bidi and Hold: it checks every request message,
// echoes it (Unary, Bidi; one write at a time, in order) or holds it (Hold:
// no answer, so the call ends at its deadline), and finishes OK at the
// half-close once everything is echoed.
class EchoHandler final : public rpc::ServerCallHandler {
 public:
  EchoHandler(Harness* harness, rpc::ServerCall* call, CallKind kind)
      : harness_(harness), call_(call), kind_(kind), state_(&harness->state(call->reactor())) {
    if (call_->peer() == nullptr || call_->peer()->service_account() != kClientName) {
      Fail("call from an unexpected peer");
    } else if (kind_ == CallKind::kDeadline && call_->deadline() == absl::InfiniteFuture()) {
      Fail("held call without a deadline");
    }
  }

  void OnMessage(absl::Span<const uint8_t> m) override {
    if (failed_) return;
    if (!harness_->VerifyMessage(m)) {
      Fail(absl::StrCat(call_->method(), ": a ", m.size(),
                        "-byte request differs from the pattern"));
      return;
    }
    state_->server_bytes_verified.Add(m.size());
    ++received_;
    if (kind_ == CallKind::kDeadline) return;  // held: never answered
    if (kind_ == CallKind::kUnary && received_ > 1) {
      Fail("a second request message on a unary call");
      return;
    }
    queue_.emplace_back(reinterpret_cast<const char*>(m.data()), m.size());
    if (queue_.size() == 1) WriteFront();
  }

  void OnWriteDone(bool ok) override {
    if (!ok || failed_) return;
    queue_.erase(queue_.begin());
    if (!queue_.empty()) {
      WriteFront();
    } else if (half_closed_) {
      call_->Finish(absl::OkStatus());
    }
  }

  void OnHalfClose() override {
    half_closed_ = true;
    if (failed_ || kind_ == CallKind::kDeadline) return;
    if (received_ == 0) {
      Fail(absl::StrCat(call_->method(), ": half-closed without a request"));
      return;
    }
    if (queue_.empty()) call_->Finish(absl::OkStatus());
  }

  void OnCancel() override { state_->server_cancels.Add(1); }

 private:
  void WriteFront() {
    const std::string& m = queue_.front();
    (void)call_->Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(m.data()), m.size()));
  }

  void Fail(std::string what) {
    failed_ = true;
    if (!harness_->aborting()) harness_->Error(absl::StrCat("server: ", what));
    call_->Finish(absl::DataLossError(what));
  }

  Harness* harness_;
  rpc::ServerCall* call_;
  const CallKind kind_;
  ReactorState* state_;
  std::vector<std::string> queue_;  // received, not yet echoed; front in flight
  int received_ = 0;
  bool half_closed_ = false;
  bool failed_ = false;
};

// ---------------------------------------------------------------------------

Harness::~Harness() {
  if (group_) {
    ticker_.reset();
    ShutDownChannels();
    if (server_) server_->Shutdown();
    group_->Shutdown();
  }
}

absl::Status Harness::Init(int threads, size_t max_size) {
  max_size_ = max_size;
  ReactorGroupOptions group_options;
  group_options.threads = static_cast<size_t>(threads);
  // Channels are placed by their options' placement_key: the reactor index.
  group_options.custom_placement = [](uint64_t key, size_t n) { return key % n; };
  absl::StatusOr<std::unique_ptr<LoadStack>> stack =
      LoadStack::Create(std::move(group_options), /*write_pool=*/true);
  if (!stack.ok()) return stack.status();
  stack_ = *std::move(stack);
  group_ = stack_->group.get();

  states_ = MakeReactorStates<ReactorState>(*group_);
  absl::StatusOr<std::unique_ptr<ReactorTicker>> ticker =
      ReactorTicker::Start(*group_, kLoadTick, [this](Reactor& r) { Tick(state(r)); });
  if (!ticker.ok()) return ticker.status();
  ticker_ = *std::move(ticker);

  // The PKI: one root, a leaf for each side.
  absl::StatusOr<BenchPki> pki = BenchPki::Create();
  if (!pki.ok()) return pki.status();
  absl::StatusOr<std::shared_ptr<HandshakerConfig>> server_config =
      pki->Config(kServerName, kLoadCredentialValidity);
  if (!server_config.ok()) return server_config.status();
  absl::StatusOr<std::shared_ptr<HandshakerConfig>> client_config =
      pki->Config(kClientName, kLoadCredentialValidity);
  if (!client_config.ok()) return client_config.status();
  (*server_config)->accepted_client_identities.push_back(Identity{kClientName, {}});

  rpc::ServerOptions server_options;
  server_options.group = group_;
  server_options.resources = &stack_->resources;
  server_options.alts = *server_config;
  absl::StatusOr<std::unique_ptr<rpc::Server>> server =
      rpc::Server::Create(std::move(server_options));
  if (!server.ok()) return server.status();
  server_ = *std::move(server);
  if (absl::Status s = RegisterMethods(); !s.ok()) return s;
  absl::StatusOr<std::string> address = server_->AddListener("127.0.0.1:0");
  if (!address.ok()) return address.status();
  address_ = *address;

  for (size_t i = 0; i < group_->size(); ++i) {
    auto options = std::make_shared<rpc::ChannelOptions>();
    options->group = group_;
    options->resources = &stack_->resources;
    options->alts = *client_config;
    options->alts_params.target_identities.push_back(Identity{kServerName, {}});
    options->max_receive_message_size = kHeaderSize + max_size_;
    options->placement_key = i;
    channel_options_.push_back(std::move(options));
  }
  return absl::OkStatus();
}

absl::Status Harness::RegisterMethods() {
  for (auto [path, kind] :
       {std::pair{kUnaryMethod, CallKind::kUnary}, std::pair{kBidiMethod, CallKind::kStream},
        std::pair{kHoldMethod, CallKind::kDeadline}}) {
    absl::Status s = server_->RegisterMethod(path, [this, kind](rpc::ServerCall* call) {
      return std::make_unique<EchoHandler>(this, call, kind);
    });
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::unique_ptr<rpc::Channel> Harness::NewChannel(size_t index) {
  absl::StatusOr<std::unique_ptr<rpc::Channel>> channel =
      rpc::Channel::Create(address_, channel_options_[index]);
  if (!channel.ok()) {
    // Only a malformed target fails, and the target is the server's own.
    Error(absl::StrCat("channel: ", channel.status().ToString()));
    return nullptr;
  }
  return *std::move(channel);
}

bool Harness::HasMoreWork(int64_t remaining) const {
  if (!load_running_.load(std::memory_order_acquire) || aborting()) return false;
  if (config_.duration > absl::ZeroDuration()) return SteadyClock::now() < deadline_;
  return remaining > 0;
}

CallPlan Harness::Plan(uint32_t slot, uint64_t index) const {
  CallPlan plan;
  plan.rng =
      Rng(config_.seed * 0x100000001b3ULL ^ (uint64_t{slot} << 32 | index) * 0x9e3779b97f4a7c15ULL);
  Rng& rng = plan.rng;
  const double r = static_cast<double>(rng.Next() >> 11) * 0x1.0p-53;
  if (r < config_.cancel_fraction) {
    plan.kind = CallKind::kCancel;
    plan.messages = static_cast<int>(rng.Uniform(2, config_.stream_messages));
  } else if (r < config_.cancel_fraction + config_.deadline_fraction) {
    plan.kind = CallKind::kDeadline;
    plan.messages = 1;
  } else if (rng.Next() & 1) {
    plan.kind = CallKind::kStream;
    plan.messages = static_cast<int>(rng.Uniform(1, config_.stream_messages));
  } else {
    plan.kind = CallKind::kUnary;
    plan.messages = 1;
  }
  return plan;
}

void Harness::FillMessage(Rng& rng, std::string& out) const {
  const uint32_t size = static_cast<uint32_t>(rng.Uniform(config_.min_size, config_.max_size));
  const uint32_t offset = static_cast<uint32_t>(rng.Uniform(0, kPatternExtra));
  out.resize(kHeaderSize + size);
  const uint32_t header[3] = {kMagic, offset, size};
  std::memcpy(out.data(), header, kHeaderSize);
  std::memcpy(out.data() + kHeaderSize, pattern_.data() + offset, size);
}

bool Harness::VerifyMessage(absl::Span<const uint8_t> m) const {
  if (m.size() < kHeaderSize) return false;
  uint32_t header[3];
  std::memcpy(header, m.data(), kHeaderSize);
  const uint32_t offset = header[1], size = header[2];
  return header[0] == kMagic && size == m.size() - kHeaderSize && size <= max_size_ &&
         offset <= kPatternExtra &&
         std::memcmp(m.data() + kHeaderSize, pattern_.data() + offset, size) == 0;
}

void Harness::Tick(ReactorState& st) {
  // Candidates are slots with a call in flight not yet churned.
  const bool running = load_running_.load(std::memory_order_acquire) && !aborting();
  st.churn.Tick(st.slots, running ? config_.churn_per_s / static_cast<double>(states_.size()) : 0);
}

uint64_t Harness::TotalCompleted() const {
  uint64_t n = 0;
  for (const auto& st : states_) n += st->Completed() + st->interrupted_calls.Get();
  return n;
}

void Harness::ShutDownChannels() {
  // Channels are handed over on their reactors (slots are touched there
  // only), then shut down here, where Shutdown waits for the connection.
  std::vector<std::unique_ptr<rpc::Channel>> channels;
  std::mutex mu;
  (void)group_->RunOnAllAndWait([&](Reactor& r) {
    std::lock_guard<std::mutex> lock(mu);
    for (Slot* s : state(r).slots) {
      if (s->channel() != nullptr) channels.push_back(s->TakeChannel());
    }
  });
  for (std::unique_ptr<rpc::Channel>& c : channels) c->Shutdown();
  channels.clear();
  (void)group_->RunOnAllAndWait([&](Reactor& r) { state(r).slots.clear(); });
  slots_.clear();
}

RunResult Harness::Run(const RunConfig& config, bool show_progress) {
  RunResult result;
  config_ = config;
  (void)group_->RunOnAllAndWait([&](Reactor& r) { state(r).Reset(); });
  slots_done_ = 0;
  const uint64_t errors_before = errors_.count();
  const size_t n = static_cast<size_t>(config.conns);
  const int64_t calls_per_slot = config.duration > absl::ZeroDuration() ? 0 : config.calls;

  // Slots live on their channel's reactor: slot i on reactor i % threads.
  slots_.clear();
  for (size_t i = 0; i < n; ++i) {
    ReactorState* st = states_[i % states_.size()].get();
    slots_.push_back(std::make_unique<Slot>(this, static_cast<uint32_t>(i), st, calls_per_slot));
    if (slots_.back()->channel() == nullptr) result.aborted = true;
  }
  (void)group_->RunOnAllAndWait([&](Reactor& r) {
    ReactorState& st = state(r);
    for (size_t i = r.index(); i < n; i += states_.size()) st.slots.push_back(slots_[i].get());
  });

  // Setup: every channel connected before the load starts, at most
  // kSetupWindow connecting at a time.
  const absl::Time setup_start = absl::Now();
  if (!result.aborted) {
    std::unique_ptr<ProgressLine> progress;
    if (show_progress) progress = std::make_unique<ProgressLine>("handshook", "channels", n);
    size_t issued = 0;
    uint64_t ready = 0, failed = 0;
    std::vector<rpc::Channel*> connecting;
    auto poll = [&] {
      for (size_t i = 0; i < connecting.size();) {
        const rpc::ConnectivityState s = connecting[i]->state();
        if (s == rpc::ConnectivityState::kReady || s == rpc::ConnectivityState::kTransientFailure) {
          if (s == rpc::ConnectivityState::kReady) {
            ++ready;
          } else {
            ++failed;
            Error("setup: a channel failed to connect");
          }
          connecting[i] = connecting.back();
          connecting.pop_back();
        } else {
          ++i;
        }
      }
      while (issued < n && connecting.size() < kSetupWindow) {
        rpc::Channel* c = slots_[issued++]->channel();
        c->Connect();
        connecting.push_back(c);
      }
      return ready + failed == n;
    };
    const bool ok = WaitForProgress(
        poll, [&] { return ready + failed; },
        [&] {
          if (progress) progress->Update(ready);
        },
        kLoadPoll, kLoadStallTimeout);
    if (progress) progress->Finish();
    if (!ok || failed > 0) {
      Error(absl::StrCat("setup: ", ready, " of ", n, " channels connected"));
      result.aborted = true;
    }
  }
  result.setup_s = absl::ToDoubleSeconds(absl::Now() - setup_start);

  // Load: start every slot at once; wait for every slot to finish.
  if (!result.aborted) {
    const uint64_t total_calls = n * static_cast<uint64_t>(calls_per_slot);
    LoadProgress progress(show_progress, "completed", "calls", total_calls, config.duration);
    const absl::Time load_start = absl::Now();
    deadline_ = SteadyClock::now() + absl::ToChronoNanoseconds(config.duration);
    load_running_.store(true, std::memory_order_release);
    (void)group_->RunOnAllAndWait([&](Reactor& r) {
      ReactorState& st = state(r);
      st.churn.Restart();
      for (Slot* s : st.slots) s->StartNext();
    });
    const bool ok =
        WaitForProgress([&] { return slots_done_.load(std::memory_order_acquire) == n; },
                        [&] { return TotalCompleted() + slots_done_.load(); },
                        [&] {
                          uint64_t done = 0;
                          for (const auto& st : states_) done += st->Completed();
                          progress.Update(done);
                        },
                        kLoadPoll, kLoadStallTimeout);
    result.load_s = absl::ToDoubleSeconds(absl::Now() - load_start);
    load_running_.store(false, std::memory_order_release);
    progress.Finish();
    if (!ok) {
      Error(absl::StrCat("load stalled: ", slots_done_.load(), " of ", n, " channels finished"));
      result.aborted = true;
    }
  }
  if (result.aborted) aborting_.store(true, std::memory_order_release);
  ShutDownChannels();
  // Every channel is gone; the server's ends must close too (those of
  // churned channels included).
  const absl::Time drain_start = absl::Now();
  while (server_->stats().connections_open > 0 && absl::Now() - drain_start < kDrainTimeout) {
    absl::SleepFor(kLoadPoll);
  }
  if (const uint64_t open = server_->stats().connections_open; open > 0 && !result.aborted) {
    Error(absl::StrCat(open, " server connections still open ", absl::FormatDuration(kDrainTimeout),
                       " after their channels shut down"));
  }

  LatencyHistogram all, unary, stream;
  std::mutex merge_mu;  // the reactors run the merge at the same time
  (void)group_->RunOnAllAndWait([&](Reactor& r) {
    std::lock_guard<std::mutex> lock(merge_mu);
    ReactorState& st = state(r);
    unary.Merge(st.unary_latency);
    stream.Merge(st.stream_latency);
    result.unary_calls += st.unary_calls.Get();
    result.stream_calls += st.stream_calls.Get();
    result.cancelled_calls += st.cancelled_calls.Get();
    result.deadline_calls += st.deadline_calls.Get();
    result.interrupted_calls += st.interrupted_calls.Get();
    result.reopened += st.reopened.Get();
    result.bytes_verified += st.bytes_verified.Get();
    result.server_bytes_verified += st.server_bytes_verified.Get();
    result.server_cancels += st.server_cancels.Get();
  });
  all.Merge(unary);
  all.Merge(stream);
  result.calls =
      result.unary_calls + result.stream_calls + result.cancelled_calls + result.deadline_calls;
  result.p50_us = all.Percentile(0.50) / 1000;
  result.p99_us = all.Percentile(0.99) / 1000;
  result.unary_p50_us = unary.Percentile(0.50) / 1000;
  result.unary_p99_us = unary.Percentile(0.99) / 1000;
  result.stream_p50_us = stream.Percentile(0.50) / 1000;
  result.stream_p99_us = stream.Percentile(0.99) / 1000;
  result.errors = errors_.count() - errors_before;
  if (calls_per_slot > 0 && !result.aborted &&
      result.calls != n * static_cast<uint64_t>(calls_per_slot)) {
    Error(absl::StrCat(result.calls, " calls completed, ",
                       n * static_cast<uint64_t>(calls_per_slot), " expected"));
    result.errors = errors_.count() - errors_before;
  }
  return result;
}

void Harness::Trim() { stack_->Trim(); }

// ---------------------------------------------------------------------------

// Main parses the flags, warms up, runs the load and reports.
int Main(int argc, char** argv) {
  ParseCommandLineWithDashes(argc, argv);
  // Sizes arrive as ints so that negative ones can be refused.
  const int threads = absl::GetFlag(FLAGS_threads), margin_mb = absl::GetFlag(FLAGS_rss_margin_mb);
  const int duration_s = absl::GetFlag(FLAGS_duration_s),
            deadline_ms = absl::GetFlag(FLAGS_deadline_ms);
  const int min_size = absl::GetFlag(FLAGS_min_size), max_size = absl::GetFlag(FLAGS_max_size);
  RunConfig config{.conns = absl::GetFlag(FLAGS_conns),
                   .calls = absl::GetFlag(FLAGS_calls),
                   .duration = absl::Seconds(duration_s),
                   .min_size = static_cast<size_t>(std::max(min_size, 0)),
                   .max_size = static_cast<size_t>(std::max(max_size, 0)),
                   .stream_messages = absl::GetFlag(FLAGS_stream_messages),
                   .churn_per_s = absl::GetFlag(FLAGS_churn_per_s),
                   .cancel_fraction = absl::GetFlag(FLAGS_cancel_fraction),
                   .deadline_fraction = absl::GetFlag(FLAGS_deadline_fraction),
                   .deadline = absl::Milliseconds(deadline_ms),
                   .seed = absl::GetFlag(FLAGS_seed)};
  if (config.conns < 1 || config.conns > kMaxLoadConns || threads < 1 ||
      static_cast<size_t>(threads) > kMaxReactorThreads || config.calls < 1 ||
      config.calls > kMaxCalls || duration_s < 0 || duration_s > kMaxLoadDurationS ||
      min_size < 1 || max_size < min_size || max_size > kMaxMessageSize ||
      config.stream_messages < 2 || config.stream_messages > kMaxStreamMessages ||
      !(config.churn_per_s >= 0 && config.churn_per_s <= kMaxChurnPerS) ||
      !(config.cancel_fraction >= 0 && config.deadline_fraction >= 0 &&
        config.cancel_fraction + config.deadline_fraction <= 1) ||
      deadline_ms < 1 || deadline_ms > kMaxDeadlineMs || margin_mb < 0) {
    std::fprintf(stderr,
                 "rpc_stress: need 1 <= --conns <= %d, 1 <= --threads <= %zu, "
                 "1 <= --calls <= %d, 0 <= --duration-s <= %d, "
                 "1 <= --min-size <= --max-size <= %d, 2 <= --stream-messages <= %d, "
                 "0 <= --churn-per-s <= %.0f, fractions >= 0 adding up to at most 1, "
                 "1 <= --deadline-ms <= %d, --rss-margin-mb >= 0\n",
                 kMaxLoadConns, kMaxReactorThreads, kMaxCalls, kMaxLoadDurationS, kMaxMessageSize,
                 kMaxStreamMessages, kMaxChurnPerS, kMaxDeadlineMs);
    return 2;
  }
  if (!RaiseFdLimitFor(config.conns, "rpc_stress")) return 2;

  MemoryReport memory(margin_mb);
  Harness harness(MakePattern(config.max_size + kPatternExtra, config.seed));
  if (absl::Status s = harness.Init(threads, config.max_size); !s.ok()) {
    std::fprintf(stderr, "rpc_stress: setup failed: %s\n", s.ToString().c_str());
    return 1;
  }

  // Warm-up: one channel per reactor, a few calls of every kind, no churn.
  RunConfig warmup = config;
  warmup.conns = threads;
  warmup.calls = 8;
  warmup.duration = absl::ZeroDuration();
  warmup.churn_per_s = 0;
  BufferPoolStats read_pool, write_pool;
  const std::string banner = absl::StrFormat(
      "rpc_stress: %d ALTS channels on %d reactor threads, %s, messages of %zu..%zu bytes, "
      "streams of up to %d, churn %.0f/s, %.0f%% cancelled, %.0f%% past a %d ms deadline",
      config.conns, threads,
      duration_s > 0 ? absl::StrCat(duration_s, " s of load")
                     : absl::StrCat(config.calls, " calls each"),
      config.min_size, config.max_size, config.stream_messages, config.churn_per_s,
      config.cancel_fraction * 100, config.deadline_fraction * 100, deadline_ms);
  const RunResult r = WarmUpAndRun(harness, warmup, config, banner, memory, [&] {
    read_pool = harness.read_pool_stats();
    write_pool = harness.write_pool_stats();
  });
  const bool rss_ok = memory.ok();
  const double calls_per_s = r.load_s > 0 ? r.calls / r.load_s : 0;

  TablePrinter table({"metric", "value"});
  (void)table.SetAlign(1, TablePrinter::Align::kLeft);
  auto row = [&](std::string name, std::string value) { (void)table.AddRow({name, value}); };
  row("setup", absl::StrFormat("%.2f s (%.0f channels/s)", r.setup_s,
                               r.setup_s > 0 ? config.conns / r.setup_s : 0));
  row("load", absl::StrFormat("%.2f s", r.load_s));
  row("calls",
      absl::StrFormat("%d (unary %d, stream %d, cancelled %d, deadline exceeded %d)", r.calls,
                      r.unary_calls, r.stream_calls, r.cancelled_calls, r.deadline_calls));
  row("calls/s", absl::StrFormat("%.0f", calls_per_s));
  row("latency p50", absl::StrFormat("%.0f us (unary %.0f, stream %.0f)", r.p50_us, r.unary_p50_us,
                                     r.stream_p50_us));
  row("latency p99", absl::StrFormat("%.0f us (unary %.0f, stream %.0f)", r.p99_us, r.unary_p99_us,
                                     r.stream_p99_us));
  row("bytes verified", absl::StrFormat("%d by clients (%.1f MiB), %d by the server (%.1f MiB)",
                                        r.bytes_verified, r.bytes_verified / kMiB,
                                        r.server_bytes_verified, r.server_bytes_verified / kMiB));
  row("churn", absl::StrFormat("%d channels reopened, %d calls interrupted and run again",
                               r.reopened, r.interrupted_calls));
  row("server calls cancelled", absl::StrCat(r.server_cancels));
  row("errors", absl::StrCat(r.errors));
  row("read pool high water", PoolHighWaterText(read_pool));
  row("write pool high water", PoolHighWaterText(write_pool));
  PrintLoadReport(table, memory, harness.errors(), r.errors, "rpc_stress");

  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    JsonResults json;
    JsonRow out;
    out.AddInt("conns", config.conns).AddInt("threads", threads);
    for (auto [key, value] : {std::pair{"calls_per_s", calls_per_s},
                              {"p50_us", r.p50_us},
                              {"p99_us", r.p99_us},
                              {"unary_p50_us", r.unary_p50_us},
                              {"unary_p99_us", r.unary_p99_us},
                              {"stream_p50_us", r.stream_p50_us},
                              {"stream_p99_us", r.stream_p99_us},
                              {"setup_s", r.setup_s},
                              {"load_s", r.load_s}}) {
      out.AddDouble(key, value);
    }
    for (auto [key, value] : std::initializer_list<std::pair<const char*, uint64_t>>{
             {"bytes_verified", r.bytes_verified},
             {"server_bytes_verified", r.server_bytes_verified},
             {"errors", r.errors},
             {"peak_rss_bytes", memory.peak_rss},
             {"pool_high_water", read_pool.high_water_outstanding},
             {"write_pool_high_water", write_pool.high_water_outstanding},
             {"rss_start_bytes", memory.rss_start},
             {"rss_after_bytes", memory.rss_after},
             {"calls", r.calls},
             {"unary_calls", r.unary_calls},
             {"stream_calls", r.stream_calls},
             {"cancelled_calls", r.cancelled_calls},
             {"deadline_calls", r.deadline_calls},
             {"interrupted_calls", r.interrupted_calls},
             {"reopened", r.reopened}}) {
      out.AddUint(key, value);
    }
    out.AddBool("rss_within_margin", rss_ok);
    json.Add(std::move(out));
    if (!WriteJsonResults(json, json_path, "rpc_stress")) return 1;
  }
  return r.errors == 0 && !r.aborted && rss_ok ? 0 : 1;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
