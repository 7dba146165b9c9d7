// alloc_stats: heap allocations per operation of SecureConnection in steady
// state, with on-demand and with pinned read buffers. Each operation is run
// --warmup times unmeasured (pools, thread caches, the AEAD context cache and
// libevent's tables reach their working size), then --iterations times with
// the process-wide heap counters (benchmarks/common/heap_accounting.h) read
// just before and just after the part being measured:
//
//   write_1k            SecureConnection::Write of a 1 KiB message
//   read_1k             the reactor dispatch that reads, opens and delivers a
//                       1 KiB message (the peer wrote it beforehand)
//   echo_256k           the whole exchange: the client writes 256 KiB (with
//                       back-pressure), the server echoes every delivery, until
//                       the client has all 256 KiB back
//   empty_wakeup        a readiness wakeup that finds no data: the connection's
//                       read event is activated (event_active) with nothing in
//                       the socket and the loop runs one iteration
//   empty_frame_wakeup  a wakeup carrying one empty frame (24 bytes, no
//                       plaintext) and nothing else
//   read_1k_many_conns  write_1k and read_1k together, round-robin over
//                       kManyPairs connection pairs with keys of their own:
//                       more than the AEAD context cache's slots per thread
//                       (alts/aead_context_cache.h), so every operation sets
//                       its contexts up again (checked: the cache must miss)
//   read_1k_freed_elsewhere  (on-demand only) read_1k whose handler takes the
//                       read buffer's lease and hands it to another thread,
//                       which frees it; measured until that thread has (the
//                       buffer goes into that thread's cache, and back to the
//                       depot in batches); warmed up at least
//                       kFreedElsewhereWarmup times, since until that
//                       thread's cache is full every read takes a new buffer
//
// Both ends use the policy being measured; they are SecureConnections over a
// socketpair on one unthreaded Reactor, except for the two wakeups, whose
// peer is a plain socket and a RecordProtector (so it can send an empty
// frame, which Write never produces). Every delivery is compared with what
// was sent; a mismatch or failure counts as an error. The program exits
// with status 1 on any error and on any allocation in a measured operation
// (the goal is 0: tests/bench_smoke checks it).
//
// mean_count is allocations per operation. mean_bytes is the mean change in
// live heap bytes per operation (the counters track live bytes, not a total
// of bytes ever allocated), so memory allocated and freed inside one
// operation shows in mean_count only. The goal is 0 for both.
//
// Run:  build/<dir>/benchmarks/alloc_stats [--iterations=N] [--warmup=N]
//           [--json=PATH]

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "alts/aead_context_cache.h"
#include "alts/record_protocol.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/heap_accounting.h"
#include "benchmarks/common/json_writer.h"
#include "benchmarks/common/table_printer.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/ready_reader.h"
#include "conn/secure_connection.h"
#include "conn/storage_pool.h"
#include "conn/wake_queue.h"
#include "frame/frame_format.h"

ABSL_FLAG(uint64_t, iterations, 2000, "Measured operations of each kind, per policy.");
ABSL_FLAG(uint64_t, warmup, 200,
          "Unmeasured operations of each kind run first, so the measurement sees "
          "the steady state.");
ABSL_FLAG(std::string, json, "",
          "Also write the results as JSON to this path ('-' for stdout).");

namespace alts::bench {
namespace {

// kSmallMessageSize: the message of write_1k and read_1k.
constexpr size_t kSmallMessageSize = 1024;
// kEchoMessageSize: the message of echo_256k; as large as the default write
// high-water mark, so back-pressure and partial frames are part of it.
constexpr size_t kEchoMessageSize = 256 * 1024;
// kStepTimeout: an operation that has not completed in this long has failed
// (a broken connection must not hang the benchmark).
constexpr absl::Duration kStepTimeout = absl::Seconds(10);

// Operation is one kind of measured operation.
enum class Operation {
  kWrite1k,
  kRead1k,
  kEcho256k,
  kEmptyWakeup,
  kEmptyFrameWakeup,
  kRead1kManyConns,
  kRead1kFreedElsewhere,
};

constexpr std::array<Operation, 7> kOperations = {
    Operation::kWrite1k,          Operation::kRead1k,           Operation::kEcho256k,
    Operation::kEmptyWakeup,      Operation::kEmptyFrameWakeup, Operation::kRead1kManyConns,
    Operation::kRead1kFreedElsewhere};

// kManyPairs: connection pairs of read_1k_many_conns, each with its own key:
// more than twice the AEAD context cache's slots, so round-robin use always
// finds a connection's context evicted.
constexpr size_t kManyPairs = 2 * AeadContextCache::kSlots + 1;
// kFreedElsewhereWarmup: the least warm-up of read_1k_freed_elsewhere. Until
// the releasing thread's cache is full (BufferPoolOptions' default 32
// buffers) and has flushed a batch to the depot, each read needs a new
// buffer; after that, buffers cycle through the depot.
constexpr uint64_t kFreedElsewhereWarmup = 64;
// kReleaseTimeout: the releasing thread has this long to free a lease.
constexpr absl::Duration kReleaseTimeout = absl::Seconds(10);

// Runs returns true if `op` is measured under `policy`: a pinned
// connection delivers from its own buffer, with no lease to hand over.
bool Runs(Operation op, ReadBufferPolicy policy) {
  return op != Operation::kRead1kFreedElsewhere || policy == ReadBufferPolicy::kOnDemand;
}

// OperationName returns the name used in the table and the JSON.
const char* OperationName(Operation op) {
  switch (op) {
    case Operation::kWrite1k:
      return "write_1k";
    case Operation::kRead1k:
      return "read_1k";
    case Operation::kEcho256k:
      return "echo_256k";
    case Operation::kEmptyWakeup:
      return "empty_wakeup";
    case Operation::kEmptyFrameWakeup:
      return "empty_frame_wakeup";
    case Operation::kRead1kManyConns:
      return "read_1k_many_conns";
    case Operation::kRead1kFreedElsewhere:
      return "read_1k_freed_elsewhere";
  }
  return "?";
}

// PolicyName returns the name used in the table and the JSON.
const char* PolicyName(ReadBufferPolicy policy) {
  return policy == ReadBufferPolicy::kOnDemand ? "on_demand" : "pinned";
}

// RandomBytes returns `n` random bytes.
std::vector<uint8_t> RandomBytes(size_t n) {
  std::vector<uint8_t> bytes(n);
  RAND_bytes(bytes.data(), bytes.size());
  return bytes;
}

// WriteSome writes as much of `data` as `conn` accepts and returns the count.
// When Write falls short while nothing is left queued no OnWritable can
// follow (no write event is armed), so it writes again at once; when Write
// falls short with output queued, OnWritable follows and the caller resumes
// from there.
absl::StatusOr<size_t> WriteSome(SecureConnection& conn, absl::Span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    absl::StatusOr<size_t> n = conn.Write(data.subspan(done));
    if (!n.ok()) return n.status();
    done += *n;
    if (conn.pending_write_bytes() > 0 || *n == 0) break;
  }
  return done;
}

// Receiver is the part of a handler that checks deliveries against the
// message the peer is sending.
class Receiver {
 public:
  // Expect makes `message` the bytes expected from now on.
  void Expect(absl::Span<const uint8_t> message) {
    expected_ = message;
    received_ = 0;
  }
  // Check compares a delivery with the expected bytes.
  void Check(absl::Span<const uint8_t> data) {
    if (data.size() > expected_.size() - received_ ||
        memcmp(data.data(), expected_.data() + received_, data.size()) != 0) {
      ++mismatches_;
    }
    received_ += data.size();
    ++deliveries_;
  }
  size_t received() const { return received_; }
  uint64_t mismatches() const { return mismatches_; }
  uint64_t deliveries() const { return deliveries_; }

 private:
  absl::Span<const uint8_t> expected_;
  size_t received_ = 0;
  uint64_t mismatches_ = 0;
  uint64_t deliveries_ = 0;
};

// EndWatcher records OnEnd; no connection here should ever end.
class EndWatcher {
 public:
  void Ended(const absl::Status& status) {
    ended_ = true;
    end_status_ = status.ok() ? absl::UnavailableError("peer closed the connection") : status;
  }
  bool ended() const { return ended_; }
  const absl::Status& end_status() const { return end_status_; }

 private:
  bool ended_ = false;
  absl::Status end_status_;
};

// ServerHandler checks what the server receives and, in echo mode, writes
// every delivery back. When the connection does not accept all of it, the
// rest waits in a backlog allocated up front and reading pauses until
// OnWritable has drained it, so echoing allocates nothing either.
class ServerHandler : public ReadyHandler {
 public:
  ServerHandler() : backlog_(kEchoMessageSize) {}

  void Attach(SecureConnection* conn) { conn_ = conn; }
  // Expect sets the next message from the client and whether to echo it.
  void Expect(absl::Span<const uint8_t> message, bool echo) {
    receiver_.Expect(message);
    echo_ = echo;
  }

  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override {
    receiver_.Check(data);
    if (echo_) Echo(data);
  }
  void OnWritable() override { DrainBacklog(); }
  void OnEnd(const absl::Status& status) override { end_.Ended(status); }

  const Receiver& receiver() const { return receiver_; }
  const EndWatcher& end() const { return end_; }
  // status returns the first echo failure, or OK.
  const absl::Status& status() const { return status_; }

 private:
  void Echo(absl::Span<const uint8_t> data) {
    if (backlog_begin_ == backlog_end_) {
      absl::StatusOr<size_t> n = WriteSome(*conn_, data);
      if (!n.ok()) {
        status_.Update(n.status());
        return;
      }
      data.remove_prefix(*n);
    }
    if (data.empty()) return;
    if (data.size() > backlog_.size() - backlog_end_) {
      status_.Update(absl::ResourceExhaustedError("echo backlog overflow"));
      return;
    }
    memcpy(backlog_.data() + backlog_end_, data.data(), data.size());
    backlog_end_ += data.size();
    conn_->PauseReading();
  }

  void DrainBacklog() {
    if (backlog_begin_ == backlog_end_) return;
    absl::StatusOr<size_t> n = WriteSome(
        *conn_, absl::MakeConstSpan(backlog_).subspan(backlog_begin_, backlog_end_ - backlog_begin_));
    if (!n.ok()) {
      status_.Update(n.status());
      return;
    }
    backlog_begin_ += *n;
    if (backlog_begin_ == backlog_end_) {
      backlog_begin_ = backlog_end_ = 0;
      conn_->ResumeReading();
    }
  }

  SecureConnection* conn_ = nullptr;
  Receiver receiver_;
  EndWatcher end_;
  bool echo_ = false;
  std::vector<uint8_t> backlog_;
  size_t backlog_begin_ = 0;
  size_t backlog_end_ = 0;
  absl::Status status_;
};

// ClientHandler sends a message with back-pressure (the rest of it on each
// OnWritable) and checks the echo against it.
class ClientHandler : public ReadyHandler {
 public:
  void Attach(SecureConnection* conn) { conn_ = conn; }

  // Send starts sending `message`; the echo is expected to be the same bytes.
  void Send(absl::Span<const uint8_t> message) {
    outgoing_ = message;
    sent_ = 0;
    receiver_.Expect(message);
    Pump();
  }

  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override { receiver_.Check(data); }
  void OnWritable() override { Pump(); }
  void OnEnd(const absl::Status& status) override { end_.Ended(status); }

  const Receiver& receiver() const { return receiver_; }
  const EndWatcher& end() const { return end_; }
  const absl::Status& status() const { return status_; }

 private:
  void Pump() {
    if (sent_ == outgoing_.size()) return;
    absl::StatusOr<size_t> n = WriteSome(*conn_, outgoing_.subspan(sent_));
    if (!n.ok()) {
      status_.Update(n.status());
      return;
    }
    sent_ += *n;
  }

  SecureConnection* conn_ = nullptr;
  absl::Span<const uint8_t> outgoing_;
  size_t sent_ = 0;
  Receiver receiver_;
  EndWatcher end_;
  absl::Status status_;
};

// ProbeHandler is the handler of the connection the wakeups are measured on.
class ProbeHandler : public ReadyHandler {
 public:
  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override { receiver_.Check(data); }
  void OnEnd(const absl::Status& status) override { end_.Ended(status); }
  // Expect makes `message` the bytes expected from now on.
  void Expect(absl::Span<const uint8_t> message) { receiver_.Expect(message); }

  const Receiver& receiver() const { return receiver_; }
  const EndWatcher& end() const { return end_; }

 private:
  Receiver receiver_;
  EndWatcher end_;
};

// ReleaseThread frees the leases handed to it on a thread of its own. The
// hand-over allocates nothing: one slot, a mutex and a condition variable.
class ReleaseThread {
 public:
  ReleaseThread() : thread_([this] { Loop(); }) {}
  ~ReleaseThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Give hands `lease` over; the thread frees it soon.
  void Give(BufferLease lease) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      slot_ = std::move(lease);
      ++given_;
    }
    cv_.notify_all();
  }

  // WaitAllFreed waits until every lease given has been freed. Returns false
  // after kReleaseTimeout.
  bool WaitAllFreed() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(kReleaseTimeout),
                        [&] { return freed_ == given_; });
  }

  uint64_t given() const {
    std::lock_guard<std::mutex> lock(mu_);
    return given_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || freed_ != given_; });
      if (freed_ != given_) {
        BufferLease lease = std::move(slot_);
        lock.unlock();
        lease.Reset();  // the release under test, on this thread
        lock.lock();
        ++freed_;
        cv_.notify_all();
        continue;
      }
      if (stop_) return;
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  BufferLease slot_;
  uint64_t given_ = 0;
  uint64_t freed_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

// HandoffHandler checks what it receives and hands every read buffer's
// lease to a ReleaseThread.
class HandoffHandler : public ReadyHandler {
 public:
  explicit HandoffHandler(ReleaseThread* releaser) : releaser_(releaser) {}
  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override {
    receiver_.Check(data);
    if (lease) releaser_->Give(std::move(lease));
  }
  void OnEnd(const absl::Status& status) override { end_.Ended(status); }

  Receiver& receiver() { return receiver_; }
  const Receiver& receiver() const { return receiver_; }
  const EndWatcher& end() const { return end_; }

 private:
  ReleaseThread* releaser_;
  Receiver receiver_;
  EndWatcher end_;
};

// FindReadEvent returns the event registered for reading `fd` on `base`, or
// nullptr. Call it outside the loop.
event* FindReadEvent(event_base* base, evutil_socket_t fd) {
  struct Search {
    evutil_socket_t fd;
    event* found;
  } search{fd, nullptr};
  event_base_foreach_event(
      base,
      [](const event_base*, const event* ev, void* arg) -> int {
        auto* s = static_cast<Search*>(arg);
        if (event_get_fd(ev) != s->fd || (event_get_events(ev) & EV_READ) == 0) return 0;
        s->found = const_cast<event*>(ev);
        return 1;
      },
      &search);
  return search.found;
}

// BytesQueued returns the bytes waiting in `fd`'s receive queue, or -1.
int BytesQueued(int fd) {
  int n = 0;
  return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

// Bench holds the connections for one read-buffer policy and runs the
// operations on them.
class Bench {
 public:
  // Create sets up both connection pairs. Returns the first setup error.
  static absl::StatusOr<std::unique_ptr<Bench>> Create(ReadBufferPolicy policy) {
    std::unique_ptr<Bench> bench(new Bench());
    if (absl::Status s = bench->Init(policy); !s.ok()) return s;
    return bench;
  }

  ~Bench() {
    // Connections go first: they hold leases from the pools.
    client_.reset();
    server_.reset();
    probe_.reset();
    many_.clear();
    handoff_client_.reset();
    handoff_server_.reset();
    releaser_.reset();
    if (raw_peer_fd_ >= 0) close(raw_peer_fd_);
    OPENSSL_cleanse(key_.data(), key_.size());
  }

  // Run performs one `op` and stores the heap counters' change over the
  // measured part of it in `delta`. Returns an error if the operation failed
  // or delivered wrong bytes.
  absl::Status Run(Operation op, HeapDelta& delta) {
    switch (op) {
      case Operation::kWrite1k:
        return Write1k(delta);
      case Operation::kRead1k:
        return Read1k(delta);
      case Operation::kEcho256k:
        return Echo256k(delta);
      case Operation::kEmptyWakeup:
        return EmptyWakeup(delta);
      case Operation::kEmptyFrameWakeup:
        return EmptyFrameWakeup(delta);
      case Operation::kRead1kManyConns:
        return Read1kManyConns(delta);
      case Operation::kRead1kFreedElsewhere:
        return Read1kFreedElsewhere(delta);
    }
    return absl::InvalidArgumentError("unknown operation");
  }

 private:
  Bench() : small_(RandomBytes(kSmallMessageSize)), large_(RandomBytes(kEchoMessageSize)) {}

  absl::Status Init(ReadBufferPolicy policy) {
    absl::StatusOr<std::unique_ptr<Reactor>> reactor = Reactor::CreateUnthreaded();
    if (!reactor.ok()) return reactor.status();
    reactor_ = std::move(*reactor);
    absl::StatusOr<std::unique_ptr<WakeQueue>> wake = WakeQueue::Create(reactor_->base());
    if (!wake.ok()) return wake.status();
    wake_ = std::move(*wake);
    absl::StatusOr<std::unique_ptr<BufferPool>> pool = BufferPool::Create();
    if (!pool.ok()) return pool.status();
    pool_ = std::move(*pool);
    absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
    if (!storage.ok()) return storage.status();
    storage_ = std::move(*storage);
    resources_.read_pool = pool_.get();
    resources_.storage = storage_.get();
    resources_.options.read_policy = policy;
    policy_ = policy;
    key_.resize(RecordKeySize(RecordProtocol::kAes128GcmRekey));
    RAND_bytes(key_.data(), key_.size());

    if (absl::Status s = WrapPair(key_, &client_, &server_); !s.ok()) return s;
    client_handler_.Attach(client_.get());
    server_handler_.Attach(server_.get());
    client_->Start(&client_handler_);
    server_->Start(&server_handler_);

    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      return absl::InternalError(absl::StrCat("socketpair: ", strerror(errno)));
    }
    raw_peer_fd_ = pair[0];
    absl::StatusOr<RecordProtector> raw =
        RecordProtector::Create(RecordProtocol::kAes128GcmRekey, Side::kClient, key_);
    if (!raw.ok()) {
      close(pair[1]);
      return raw.status();
    }
    raw_peer_.emplace(std::move(*raw));
    absl::StatusOr<std::unique_ptr<SecureConnection>> probe = Wrap(pair[1], Side::kServer);
    if (!probe.ok()) return probe.status();
    probe_ = std::move(*probe);
    probe_->Start(&probe_handler_);

    // read_1k_many_conns: pairs with keys of their own.
    many_.resize(kManyPairs);
    for (ManyPair& m : many_) {
      m.key.resize(key_.size());
      RAND_bytes(m.key.data(), m.key.size());
      if (absl::Status s = WrapPair(m.key, &m.client, &m.server); !s.ok()) return s;
      m.client_handler = std::make_unique<ProbeHandler>();
      m.server_handler = std::make_unique<ProbeHandler>();
      m.client->Start(m.client_handler.get());
      m.server->Start(m.server_handler.get());
    }

    // read_1k_freed_elsewhere (on-demand only: a pinned connection delivers
    // from its own buffer).
    if (policy == ReadBufferPolicy::kOnDemand) {
      releaser_ = std::make_unique<ReleaseThread>();
      handoff_handler_ = std::make_unique<HandoffHandler>(releaser_.get());
      if (absl::Status s = WrapPair(key_, &handoff_client_, &handoff_server_); !s.ok()) return s;
      handoff_client_->Start(&handoff_client_handler_);
      handoff_server_->Start(handoff_handler_.get());
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<SecureConnection>> Wrap(int fd, Side side) {
    return Wrap(fd, side, key_);
  }

  // WrapPair connects a socketpair and wraps its ends as client and server
  // with `key` (not started).
  absl::Status WrapPair(absl::Span<const uint8_t> key, std::unique_ptr<SecureConnection>* client,
                        std::unique_ptr<SecureConnection>* server) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      return absl::InternalError(absl::StrCat("socketpair: ", strerror(errno)));
    }
    absl::StatusOr<std::unique_ptr<SecureConnection>> c = Wrap(pair[0], Side::kClient, key);
    absl::StatusOr<std::unique_ptr<SecureConnection>> s = Wrap(pair[1], Side::kServer, key);
    if (!c.ok()) return c.status();
    if (!s.ok()) return s.status();
    *client = std::move(*c);
    *server = std::move(*s);
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<SecureConnection>> Wrap(int fd, Side side,
                                                         absl::Span<const uint8_t> key) {
    absl::StatusOr<RecordProtector> protector =
        RecordProtector::Create(RecordProtocol::kAes128GcmRekey, side, key);
    if (!protector.ok()) {
      close(fd);
      return protector.status();
    }
    return SecureConnection::Create(reactor_->base(), wake_.get(), fd, std::move(*protector),
                                    &resources_);
  }

  // Health returns the first failure any handler has seen, or OK.
  absl::Status Health() const {
    absl::Status s = client_handler_.status();
    s.Update(server_handler_.status());
    if (client_handler_.end().ended()) s.Update(client_handler_.end().end_status());
    if (server_handler_.end().ended()) s.Update(server_handler_.end().end_status());
    if (probe_handler_.end().ended()) s.Update(probe_handler_.end().end_status());
    for (const ManyPair& m : many_) {
      for (const ProbeHandler* h : {m.client_handler.get(), m.server_handler.get()}) {
        if (h->end().ended()) s.Update(h->end().end_status());
        if (h->receiver().mismatches() > 0) {
          s.Update(absl::DataLossError("a delivery differed from what was sent"));
        }
      }
    }
    if (handoff_handler_ != nullptr) {
      if (handoff_handler_->end().ended()) s.Update(handoff_handler_->end().end_status());
      if (handoff_client_handler_.end().ended()) {
        s.Update(handoff_client_handler_.end().end_status());
      }
      if (handoff_handler_->receiver().mismatches() > 0) {
        s.Update(absl::DataLossError("a delivery differed from what was sent"));
      }
    }
    if (client_handler_.receiver().mismatches() + server_handler_.receiver().mismatches() +
            probe_handler_.receiver().mismatches() >
        0) {
      s.Update(absl::DataLossError("a delivery differed from what was sent"));
    }
    return s;
  }

  // Drive runs the loop until `done` or a failure, without measuring.
  absl::Status Drive(absl::FunctionRef<bool()> done) {
    absl::Status s = reactor_->RunUntil([&] { return done() || !Health().ok(); }, kStepTimeout);
    s.Update(Health());
    return s;
  }

  absl::Status Write1k(HeapDelta& delta) {
    server_handler_.Expect(small_, /*echo=*/false);
    const HeapSnapshot before = TakeHeapSnapshot();
    absl::StatusOr<size_t> n = client_->Write(small_);
    const HeapSnapshot after = TakeHeapSnapshot();
    delta = Diff(before, after);
    if (!n.ok()) return n.status();
    if (*n != small_.size()) {
      return absl::InternalError(absl::StrCat("Write accepted ", *n, " of ", small_.size()));
    }
    return Drive([&] { return server_handler_.receiver().received() == small_.size(); });
  }

  absl::Status Read1k(HeapDelta& delta) {
    server_handler_.Expect(small_, /*echo=*/false);
    absl::StatusOr<size_t> n = client_->Write(small_);
    if (!n.ok()) return n.status();
    if (*n != small_.size()) {
      return absl::InternalError(absl::StrCat("Write accepted ", *n, " of ", small_.size()));
    }
    const HeapSnapshot before = TakeHeapSnapshot();
    absl::Status s = reactor_->RunUntil(
        [&] { return server_handler_.receiver().received() == small_.size(); }, kStepTimeout);
    const HeapSnapshot after = TakeHeapSnapshot();
    delta = Diff(before, after);
    s.Update(Health());
    return s;
  }

  absl::Status Echo256k(HeapDelta& delta) {
    server_handler_.Expect(large_, /*echo=*/true);
    const HeapSnapshot before = TakeHeapSnapshot();
    client_handler_.Send(large_);
    absl::Status s = reactor_->RunUntil(
        [&] {
          return client_handler_.receiver().received() == large_.size() ||
                 !client_handler_.status().ok() || !server_handler_.status().ok();
        },
        kStepTimeout);
    const HeapSnapshot after = TakeHeapSnapshot();
    delta = Diff(before, after);
    s.Update(Health());
    if (s.ok() && server_handler_.receiver().received() != large_.size()) {
      s = absl::InternalError("the server received a different amount than was sent");
    }
    return s;
  }

  absl::Status EmptyWakeup(HeapDelta& delta) {
    event* ev = FindReadEvent(reactor_->base(), probe_->fd());
    if (ev == nullptr) return absl::InternalError("no read event registered for the connection");
    const ThreadCacheStats leases_before = pool_->thread_cache_stats();
    const uint64_t deliveries = probe_handler_.receiver().deliveries();
    const HeapSnapshot before = TakeHeapSnapshot();
    event_active(ev, EV_READ, 1);
    absl::Status s = reactor_->RunOnce();
    const HeapSnapshot after = TakeHeapSnapshot();
    delta = Diff(before, after);
    s.Update(Health());
    if (!s.ok()) return s;
    if (probe_handler_.receiver().deliveries() != deliveries) {
      return absl::InternalError("a wakeup without data delivered something");
    }
    const ThreadCacheStats leases_after = pool_->thread_cache_stats();
    if (policy_ == ReadBufferPolicy::kOnDemand &&
        leases_after.hits + leases_after.misses == leases_before.hits + leases_before.misses) {
      return absl::InternalError("the wakeup did not reach the read path (no buffer leased)");
    }
    return absl::OkStatus();
  }

  absl::Status EmptyFrameWakeup(HeapDelta& delta) {
    std::array<uint8_t, kMinFrameSize> frame;
    absl::StatusOr<size_t> sealed = raw_peer_->Seal({}, absl::MakeSpan(frame));
    if (!sealed.ok()) return sealed.status();
    if (*sealed != frame.size() ||
        write(raw_peer_fd_, frame.data(), frame.size()) != static_cast<ssize_t>(frame.size())) {
      return absl::InternalError("could not send an empty frame");
    }
    const uint64_t deliveries = probe_handler_.receiver().deliveries();
    const HeapSnapshot before = TakeHeapSnapshot();
    absl::Status s = reactor_->RunOnce();
    const HeapSnapshot after = TakeHeapSnapshot();
    delta = Diff(before, after);
    s.Update(Health());
    if (!s.ok()) return s;
    if (probe_handler_.receiver().deliveries() != deliveries) {
      return absl::InternalError("an empty frame delivered plaintext");
    }
    if (const int queued = BytesQueued(probe_->fd()); queued != 0) {
      return absl::InternalError(
          absl::StrCat("one loop iteration left ", queued, " bytes of the frame unread"));
    }
    return absl::OkStatus();
  }

  absl::Status Read1kManyConns(HeapDelta& delta) {
    ManyPair& m = many_[next_many_++ % many_.size()];
    m.server_handler->Expect(small_);
    const uint64_t inits = AeadContextCache::InitsForTesting();
    const HeapSnapshot before = TakeHeapSnapshot();
    absl::StatusOr<size_t> n = m.client->Write(small_);
    absl::Status s = n.ok() ? reactor_->RunUntil(
                                  [&] {
                                    return m.server_handler->receiver().received() ==
                                               small_.size() ||
                                           !Health().ok();
                                  },
                                  kStepTimeout)
                            : n.status();
    const HeapSnapshot after = TakeHeapSnapshot();
    delta = Diff(before, after);
    s.Update(Health());
    if (!s.ok()) return s;
    if (*n != small_.size()) {
      return absl::InternalError(absl::StrCat("Write accepted ", *n, " of ", small_.size()));
    }
    if (AeadContextCache::InitsForTesting() == inits) {
      return absl::InternalError("the AEAD context cache did not miss: too few connections");
    }
    return absl::OkStatus();
  }

  absl::Status Read1kFreedElsewhere(HeapDelta& delta) {
    if (handoff_handler_ == nullptr) return absl::FailedPreconditionError("on-demand only");
    handoff_handler_->receiver().Expect(small_);
    const uint64_t given = releaser_->given();
    const HeapSnapshot before = TakeHeapSnapshot();
    absl::StatusOr<size_t> n = handoff_client_->Write(small_);
    absl::Status s =
        n.ok() ? reactor_->RunUntil(
                     [&] {
                       return handoff_handler_->receiver().received() == small_.size() ||
                              !Health().ok();
                     },
                     kStepTimeout)
               : n.status();
    const bool freed = releaser_->WaitAllFreed();
    const HeapSnapshot after = TakeHeapSnapshot();
    delta = Diff(before, after);
    s.Update(Health());
    if (!s.ok()) return s;
    if (*n != small_.size()) {
      return absl::InternalError(absl::StrCat("Write accepted ", *n, " of ", small_.size()));
    }
    if (!freed) return absl::DeadlineExceededError("the other thread did not free the lease");
    if (releaser_->given() == given) {
      return absl::InternalError("no lease was handed to the other thread");
    }
    return absl::OkStatus();
  }

  // ManyPair is one pair of read_1k_many_conns, with its own key.
  struct ManyPair {
    std::vector<uint8_t> key;
    std::unique_ptr<ProbeHandler> client_handler;
    std::unique_ptr<ProbeHandler> server_handler;
    std::unique_ptr<SecureConnection> client;
    std::unique_ptr<SecureConnection> server;
  };

  const std::vector<uint8_t> small_;
  const std::vector<uint8_t> large_;
  std::vector<uint8_t> key_;
  ReadBufferPolicy policy_ = ReadBufferPolicy::kOnDemand;
  std::unique_ptr<Reactor> reactor_;
  std::unique_ptr<WakeQueue> wake_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  ClientHandler client_handler_;
  ServerHandler server_handler_;
  ProbeHandler probe_handler_;
  std::unique_ptr<SecureConnection> client_;
  std::unique_ptr<SecureConnection> server_;
  std::unique_ptr<SecureConnection> probe_;
  // The probe's peer: a plain socket that sends frames sealed here.
  int raw_peer_fd_ = -1;
  std::optional<RecordProtector> raw_peer_;
  std::vector<ManyPair> many_;
  size_t next_many_ = 0;
  std::unique_ptr<ReleaseThread> releaser_;
  std::unique_ptr<HandoffHandler> handoff_handler_;
  ProbeHandler handoff_client_handler_;
  std::unique_ptr<SecureConnection> handoff_client_;
  std::unique_ptr<SecureConnection> handoff_server_;
};

// OpStats sums the measured operations of one kind.
struct OpStats {
  uint64_t iterations = 0;
  uint64_t allocations = 0;
  int64_t net_bytes = 0;
  uint64_t allocating_ops = 0;  // operations with at least one allocation
  uint64_t max_allocations = 0;  // most allocations in one operation
  uint64_t errors = 0;
  std::string first_error;

  void Add(const HeapDelta& d) {
    ++iterations;
    allocations += d.allocations;
    net_bytes += d.bytes;
    if (d.allocations > 0) ++allocating_ops;
    max_allocations = std::max(max_allocations, d.allocations);
  }
  void AddError(const absl::Status& s) {
    ++errors;
    if (first_error.empty()) first_error = s.ToString();
  }
  double MeanCount() const {
    return iterations ? static_cast<double>(allocations) / static_cast<double>(iterations) : 0;
  }
  double MeanBytes() const {
    return iterations ? static_cast<double>(net_bytes) / static_cast<double>(iterations) : 0;
  }
};

// kMaxErrorsPerOperation: after this many failures an operation's loop stops
// (the connection is most likely dead; more attempts only repeat the error).
constexpr uint64_t kMaxErrorsPerOperation = 5;

// Main measures every operation under both policies, prints the table and
// writes the JSON. Returns 1 if an operation failed, 2 for bad flags.
int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const uint64_t iterations = absl::GetFlag(FLAGS_iterations);
  const uint64_t warmup = absl::GetFlag(FLAGS_warmup);
  if (iterations == 0) {
    std::fprintf(stderr, "alloc_stats: --iterations must be positive\n");
    return 2;
  }
  if (!HeapAccountingActive()) {
    std::fprintf(stderr, "alloc_stats: heap accounting is not active in this build "
                         "(sanitizer build?): the counts below mean nothing\n");
  }

  TablePrinter table({"operation", "policy", "allocs/op", "net bytes/op", "ops allocating",
                      "max allocs", "errors"});
  (void)table.SetAlign(1, TablePrinter::Align::kLeft);
  JsonResults json;
  uint64_t errors = 0;
  uint64_t allocations = 0;
  for (ReadBufferPolicy policy : {ReadBufferPolicy::kOnDemand, ReadBufferPolicy::kPinned}) {
    absl::StatusOr<std::unique_ptr<Bench>> bench = Bench::Create(policy);
    if (!bench.ok()) {
      std::fprintf(stderr, "alloc_stats: %s setup: %s\n", PolicyName(policy),
                   bench.status().ToString().c_str());
      return 1;
    }
    for (Operation op : kOperations) {
      if (!Runs(op, policy)) continue;
      OpStats stats;
      HeapDelta delta;
      const uint64_t op_warmup =
          op == Operation::kRead1kFreedElsewhere ? std::max(warmup, kFreedElsewhereWarmup) : warmup;
      for (uint64_t i = 0; i < op_warmup && stats.errors < kMaxErrorsPerOperation; ++i) {
        if (absl::Status s = (*bench)->Run(op, delta); !s.ok()) stats.AddError(s);
      }
      for (uint64_t i = 0; i < iterations && stats.errors < kMaxErrorsPerOperation; ++i) {
        absl::Status s = (*bench)->Run(op, delta);
        stats.Add(delta);
        if (!s.ok()) stats.AddError(s);
      }
      errors += stats.errors;
      allocations += stats.allocations;
      (void)table.AddRow({OperationName(op), PolicyName(policy),
                          absl::StrFormat("%.3f", stats.MeanCount()),
                          absl::StrFormat("%.1f", stats.MeanBytes()),
                          absl::StrCat(stats.allocating_ops, "/", stats.iterations),
                          absl::StrCat(stats.max_allocations), absl::StrCat(stats.errors)});
      JsonRow row;
      row.AddString("operation", OperationName(op))
          .AddString("policy", PolicyName(policy))
          .AddDouble("mean_bytes", stats.MeanBytes())
          .AddDouble("mean_count", stats.MeanCount())
          .AddUint("iterations", stats.iterations)
          .AddUint("allocating_ops", stats.allocating_ops)
          .AddUint("errors", stats.errors);
      json.Add(std::move(row));
      if (stats.errors > 0) {
        std::fprintf(stderr, "alloc_stats: %s %s: %s\n", OperationName(op), PolicyName(policy),
                     stats.first_error.c_str());
      }
    }
  }
  std::printf("alloc_stats: heap allocations per operation in steady state (%llu warm-up + "
              "%llu measured operations of each kind; net bytes = change in live heap bytes)\n",
              static_cast<unsigned long long>(warmup),
              static_cast<unsigned long long>(iterations));
  table.Print(stdout);
  std::printf("goal: 0 allocations per operation: %s\n", allocations == 0 ? "met" : "NOT met");
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty() && !WriteJsonResults(json, json_path, "alloc_stats")) return 1;
  if (allocations > 0 && HeapAccountingActive()) {
    std::fprintf(stderr, "alloc_stats: %llu allocations in measured operations\n",
                 static_cast<unsigned long long>(allocations));
    return 1;
  }
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
