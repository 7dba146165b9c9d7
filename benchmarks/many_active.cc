// many_active: --conns connections, all active at once, each exchanging small
// messages: messages per second and CPU per message, in each of these modes:
//
//   on_demand        ALTS SecureConnections with the default on-demand read
//                    buffers (a pool buffer per read, none held while idle)
//                    and AEAD contexts borrowed from the per-thread cache
//   pinned           the classic design: each connection holds a read buffer
//                    for life and its own AEAD context per direction
//                    (RecordProtector::PinAeadContexts), so nothing is ever
//                    re-keyed
//   tls13_boringssl  BoringSSL TLS 1.3 after a mutual handshake, every
//                    connection with its own SSL (its AEAD contexts are held
//                    for life) over the buffering BIO
//                    (benchmarks/common/tls_buffered_bio.h), driven by the
//                    same libevent reactor
//
// With thousands of connections taking turns on one thread, the AEAD context
// cache (alts/aead_context_cache.h, a few slots per thread) misses on nearly
// every seal and open, so on_demand pays a context set-up per message that
// pinned never pays: the comparison measures what holding no context (and no
// buffer) while idle costs a busy server.
//
// Two processes: this one is the server (every connection echoes what it
// reads), a child forked at start is the client (every connection sends a
// --message_size message, waits for the whole echo, checks every byte and
// sends the next). Two processes because 10,000 connections need 20,000 file
// descriptors, more than one process may have here. Each runs one
// single-threaded reactor; the two share the machine's cores.
//
// A run: the client connects --conns connections (ALTS: a fixed random key
// per connection, ALTSRP_GCM_AES128_REKEY, no handshake; TLS: a full
// handshake each), starts every connection's first message, runs
// --warmup_s, then measures --seconds, then stops sending and waits for the
// messages in flight. Connection setup is not measured. Modes run in turn
// for --rounds rounds (odd rounds in reverse order); figures are medians.
//
//   messages_per_s      messages delivered per second of the window, both
//                       directions counted (an echo round trip is two
//                       messages: each is sealed once and opened once)
//   cpu_us_per_message  user + system CPU time of both processes over the
//                       window (getrusage) per message
//   syscalls_per_message  system calls of both processes per message (perf
//                       tracepoint raw_syscalls:sys_enter; absent where perf
//                       events are not available)
//   aead_inits_per_message  AES-GCM context set-ups per message (ALTS only:
//                       AeadContextCache misses)
//
// Run:  build/<dir>/benchmarks/many_active [--conns=10000] [--message_size=128]
//           [--seconds=2] [--warmup_s=0.5] [--rounds=3] [--modes=on_demand,pinned,tls]
//           [--json=PATH]

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "alts/aead_context_cache.h"
#include "alts/record_protector.h"
#include "alts/record_protocol.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/json_writer.h"
#include "benchmarks/common/syscall_counter.h"
#include "benchmarks/common/table_printer.h"
#include "benchmarks/common/tls_baseline.h"
#include "benchmarks/common/tls_buffered_bio.h"
#include "benchmarks/common/tls_drive.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/ready_reader.h"
#include "conn/secure_connection.h"
#include "conn/socket_util.h"
#include "conn/storage_pool.h"

ABSL_FLAG(uint32_t, conns, 10000, "Connections, all active at once.");
ABSL_FLAG(uint32_t, message_size, 128, "Bytes per message.");
ABSL_FLAG(double, seconds, 2.0, "Measured seconds per run.");
ABSL_FLAG(double, warmup_s, 0.5, "Seconds of traffic before the measurement starts.");
ABSL_FLAG(int, rounds, 3, "Runs per mode, alternating with the other modes; medians reported.");
ABSL_FLAG(std::vector<std::string>, modes, {},
          "Modes to run: on_demand, pinned, tls (empty: all).");
ABSL_FLAG(std::string, json, "", "Also write the results as JSON to this path ('-' for stdout).");

namespace alts::bench {
namespace {

// kMaxConns bounds --conns: each process needs a descriptor per connection.
constexpr uint32_t kMaxConns = 100000;
// kMaxMessageSize bounds --message_size: these are small messages; larger
// ones are throughput's business.
constexpr uint32_t kMaxMessageSize = 16 * 1024;
// kMaxRounds bounds --rounds: a typo must not run for hours.
constexpr int kMaxRounds = 51;
// kMaxSeconds bounds --seconds and --warmup_s.
constexpr double kMaxSeconds = 3600;
// kSpareFds: descriptors each process needs beside its connections
// (listener, control socket, epoll, eventfds, perf counter, stdio).
constexpr rlim_t kSpareFds = 32;
// kStallTimeout: a setup step, handshake or drain that makes no progress for
// this long has failed.
constexpr absl::Duration kStallTimeout = absl::Seconds(30);
// kErrorTextSize: room for the first error's text in a control report.
constexpr size_t kErrorTextSize = 240;
// kScratchSize: bytes per SSL_read (more than a record).
constexpr size_t kScratchSize = 32 * 1024;
// kTlsBioBuffer: the TLS connections' read-ahead and write buffers, the
// size of an ALTS read buffer.
constexpr size_t kTlsBioBuffer = kDefaultReadBufferSize;

// Mode is what one run measures.
enum class Mode : uint32_t { kOnDemand = 0, kPinned = 1, kTls = 2 };

constexpr Mode kModes[] = {Mode::kOnDemand, Mode::kPinned, Mode::kTls};

// ModeName returns the JSON name; ModeFlag the --modes name.
const char* ModeName(Mode m) {
  switch (m) {
    case Mode::kOnDemand:
      return "on_demand";
    case Mode::kPinned:
      return "pinned";
    case Mode::kTls:
      return "tls13_boringssl";
  }
  return "?";
}
const char* ModeFlag(Mode m) { return m == Mode::kTls ? "tls" : ModeName(m); }

// ---------------------------------------------------------------------------
// The control channel between the two processes: fixed-size messages over a
// blocking AF_UNIX socket pair.

// Command is what the server asks the client to run.
struct Command {
  uint32_t quit = 0;
  Mode mode = Mode::kOnDemand;
  uint32_t conns = 0;
  uint32_t message_size = 0;
  uint32_t port = 0;
  double warmup_s = 0;
  double seconds = 0;
  uint8_t key_seed[32] = {};
};

// Tag starts every message from the client.
enum class Tag : uint8_t {
  kReady = 'R',    // all connections set up (a Report follows)
  kStarted = 'S',  // the window starts now
  kStopped = 'T',  // the window ends now
  kResult = 'D',   // done (a Report follows)
};

// Report is the client's setup outcome and result.
struct Report {
  uint64_t messages = 0;  // delivered in the window, both directions
  uint64_t aead_inits = 0;
  uint64_t syscalls = 0;
  uint32_t syscalls_counted = 0;
  double cpu_seconds = 0;
  double wall_seconds = 0;
  uint64_t errors = 0;
  char first_error[kErrorTextSize] = {};

  void AddError(const absl::Status& status) {
    if (status.ok()) return;
    if (errors++ == 0) {
      std::snprintf(first_error, sizeof(first_error), "%s", status.ToString().c_str());
    }
  }
};

absl::Status WriteAll(int fd, const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoError("control write");
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ReadAll(int fd, void* data, size_t size) {
  auto* p = static_cast<uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return absl::UnavailableError("control channel closed");
    if (n < 0) return ErrnoError("control read");
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status SendTag(int fd, Tag tag) { return WriteAll(fd, &tag, 1); }

// ---------------------------------------------------------------------------
// Shared by both ends.

// CpuSeconds returns this process's user + system time.
double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// KeyFor returns connection `index`'s record key, derived from the run's
// seed on both ends: SHA-256(seed || index || i) for i = 0, 1, truncated.
std::vector<uint8_t> KeyFor(const Command& command, uint32_t index) {
  std::vector<uint8_t> key(RecordKeySize(RecordProtocol::kAes128GcmRekey));
  uint8_t digest[2][SHA256_DIGEST_LENGTH];
  for (uint8_t i = 0; i < 2; ++i) {
    SHA256_CTX sha;
    SHA256_Init(&sha);
    SHA256_Update(&sha, command.key_seed, sizeof(command.key_seed));
    SHA256_Update(&sha, &index, sizeof(index));
    SHA256_Update(&sha, &i, 1);
    SHA256_Final(digest[i], &sha);
  }
  for (size_t i = 0; i < key.size(); ++i) key[i] = digest[i / 32][i % 32];
  OPENSSL_cleanse(digest, sizeof(digest));
  return key;
}

// ExpectedByte is byte `k` of message `seq` on connection `conn`: distinct
// per connection and message, so a crossed, repeated or lost message shows.
uint8_t ExpectedByte(uint32_t conn, uint64_t seq, size_t k) {
  return static_cast<uint8_t>(conn * 131 + seq * 7 + k);
}

// Resources are one process's pools for its ALTS connections.
struct AltsResources {
  std::unique_ptr<BufferPool> pool;
  std::unique_ptr<StoragePool> storage;
  ConnectionResources resources;

  static absl::StatusOr<AltsResources> Create(Mode mode) {
    AltsResources r;
    absl::StatusOr<std::unique_ptr<BufferPool>> pool = BufferPool::Create();
    if (!pool.ok()) return pool.status();
    absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
    if (!storage.ok()) return storage.status();
    r.pool = *std::move(pool);
    r.storage = *std::move(storage);
    r.resources.read_pool = r.pool.get();
    r.resources.storage = r.storage.get();
    r.resources.options.read_policy =
        mode == Mode::kPinned ? ReadBufferPolicy::kPinned : ReadBufferPolicy::kOnDemand;
    return r;
  }
};

// MakeProtector returns connection `index`'s protector for `side`; the
// pinned mode pins its AEAD contexts.
absl::StatusOr<RecordProtector> MakeProtector(const Command& command, uint32_t index, Side side) {
  std::vector<uint8_t> key = KeyFor(command, index);
  absl::StatusOr<RecordProtector> p =
      RecordProtector::Create(RecordProtocol::kAes128GcmRekey, side, key);
  OPENSSL_cleanse(key.data(), key.size());
  if (!p.ok()) return p.status();
  if (command.mode == Mode::kPinned) {
    if (absl::Status s = p->PinAeadContexts(); !s.ok()) return s;
  }
  return p;
}

// TlsEnd is one TLS connection on a reactor: an SSL over the buffered BIO,
// a persistent read event and a write event added only while output waits.
// OnBytes is called with each piece of plaintext read.
class TlsEnd {
 public:
  using OnBytes = absl::AnyInvocable<absl::Status(TlsEnd&, absl::Span<const uint8_t>)>;

  // Create wraps a connected, handshaken `ssl` over `fd` (both owned).
  static absl::StatusOr<std::unique_ptr<TlsEnd>> Create(Reactor& reactor, UniqueFd fd,
                                                        bssl::UniquePtr<SSL> ssl,
                                                        std::vector<uint8_t>* scratch,
                                                        OnBytes on_bytes) {
    std::unique_ptr<TlsEnd> end(
        new TlsEnd(std::move(fd), std::move(ssl), scratch, std::move(on_bytes)));
    TlsEnd* self = end.get();
    absl::StatusOr<std::unique_ptr<ReactorEvent>> read = ReactorEvent::Create(
        reactor, self->fd_.get(), EV_READ | EV_PERSIST, [self](short) { self->OnReadable(); });
    if (!read.ok()) return read.status();
    absl::StatusOr<std::unique_ptr<ReactorEvent>> write = ReactorEvent::Create(
        reactor, self->fd_.get(), EV_WRITE, [self](short) { self->Flush(); });
    if (!write.ok()) return write.status();
    end->read_ = *std::move(read);
    end->write_ = *std::move(write);
    if (absl::Status s = end->read_->Add(); !s.ok()) return s;
    return end;
  }

  // Send writes `data` (all of it) and flushes. Errors are recorded.
  void Send(absl::Span<const uint8_t> data) {
    while (!data.empty() && status_.ok()) {
      TlsResult r = TlsWrite(ssl_.get(), data);
      if (r.status != TlsStatus::kDone) {
        // The BIO holds a whole buffer of output: a small message can only
        // fail to fit if the peer stopped reading.
        Fail(absl::InternalError(absl::StrCat("SSL_write: ", r.error)));
        return;
      }
      data.remove_prefix(r.bytes);
    }
    Flush();
  }

  const absl::Status& status() const { return status_; }

 private:
  TlsEnd(UniqueFd fd, bssl::UniquePtr<SSL> ssl, std::vector<uint8_t>* scratch, OnBytes on_bytes)
      : fd_(std::move(fd)), ssl_(std::move(ssl)), scratch_(scratch),
        on_bytes_(std::move(on_bytes)) {}

  void Fail(absl::Status status) {
    if (status.ok() || !status_.ok()) return;
    status_ = std::move(status);
    read_->Remove();
    write_->Remove();
  }

  void OnReadable() {
    while (status_.ok()) {
      TlsResult r = TlsRead(ssl_.get(), absl::MakeSpan(*scratch_));
      if (r.status == TlsStatus::kDone) {
        Fail(on_bytes_(*this, absl::MakeConstSpan(scratch_->data(), r.bytes)));
        // The socket had no more when the BIO last read it: wait for the
        // next readiness instead of a recv that would say EAGAIN.
        if (TlsReadDrained(ssl_.get())) break;
        continue;
      }
      if (r.status == TlsStatus::kWantRead) break;
      Fail(r.status == TlsStatus::kClosed
               ? absl::UnavailableError("peer closed")
               : absl::InternalError(absl::StrCat("SSL_read: ", r.error)));
    }
  }

  void Flush() {
    if (!status_.ok()) return;
    TlsResult r = FlushTls(ssl_.get());
    if (r.status == TlsStatus::kWantWrite) {
      Fail(write_->Add());
    } else if (r.status != TlsStatus::kDone) {
      Fail(absl::InternalError(r.error));
    }
  }

  UniqueFd fd_;
  bssl::UniquePtr<SSL> ssl_;
  std::vector<uint8_t>* scratch_;
  OnBytes on_bytes_;
  std::unique_ptr<ReactorEvent> read_;
  std::unique_ptr<ReactorEvent> write_;
  absl::Status status_;
};

// NewBufferedTls returns a handshaken SSL over `fd` in `role` with the
// buffered BIO.
absl::StatusOr<bssl::UniquePtr<SSL>> NewBufferedTls(SSL_CTX* ctx, int fd, TlsRole role) {
  absl::StatusOr<bssl::UniquePtr<SSL>> ssl = NewTlsConnection(ctx, fd, role);
  if (!ssl.ok()) return ssl.status();
  if (absl::Status s = AttachBufferedBio(ssl->get(), fd,
                                         {.read_ahead = kTlsBioBuffer,
                                          .write_coalesce = kTlsBioBuffer});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = DriveTlsHandshake(ssl->get(), kStallTimeout); !s.ok()) return s;
  return ssl;
}

// ---------------------------------------------------------------------------
// The client process.

// Client runs one command's connections and load.
class Client {
 public:
  Client(const Command& command, const TlsCredentials& tls, Reactor& reactor)
      : command_(command), tls_(tls), reactor_(reactor), message_(command.message_size),
        scratch_(kScratchSize) {}

  ~Client() {
    // Connections first: they hold leases from the pools.
    alts_.clear();
    tls_ends_.clear();
  }

  // Setup connects every connection to the server.
  absl::Status Setup();
  // Run drives the load and reports over `control`.
  void Run(int control, Report& report);

 private:
  // AltsEnd is one client connection's handler.
  class AltsEnd final : public ReadyHandler {
   public:
    AltsEnd(Client* client, uint32_t index) : client_(client), index_(index) {}
    void OnData(absl::Span<uint8_t> data, BufferLease&) override {
      client_->Received(index_, data);
    }
    void OnEnd(const absl::Status& status) override {
      client_->Ended(status.ok() ? absl::UnavailableError("server closed") : status);
    }
    std::unique_ptr<SecureConnection> conn;

   private:
    Client* client_;
    uint32_t index_;
  };

  // ConnState is a connection's position in its message sequence.
  struct ConnState {
    uint64_t seq = 0;
    uint32_t got = 0;  // bytes of the current echo received
    bool in_flight = false;
  };

  void SendNext(uint32_t index);
  void Received(uint32_t index, absl::Span<const uint8_t> data);
  void Ended(const absl::Status& status) {
    if (!stopping_done_) report_->AddError(status);
  }

  const Command& command_;
  const TlsCredentials& tls_;
  Reactor& reactor_;
  std::optional<AltsResources> resources_;
  bssl::UniquePtr<SSL_CTX> tls_ctx_;
  std::vector<std::unique_ptr<AltsEnd>> alts_;
  std::vector<std::unique_ptr<TlsEnd>> tls_ends_;
  std::vector<ConnState> state_;
  std::vector<uint8_t> message_;
  std::vector<uint8_t> scratch_;
  Report* report_ = nullptr;
  Report setup_report_;
  bool sending_ = false;
  bool stopping_done_ = false;
  uint64_t completed_ = 0;  // echoes completed
  uint64_t in_flight_ = 0;
};

absl::Status Client::Setup() {
  report_ = &setup_report_;
  absl::StatusOr<SocketAddress> address =
      ParseSocketAddress(absl::StrCat("127.0.0.1:", command_.port));
  if (!address.ok()) return address.status();
  if (command_.mode == Mode::kTls) {
    absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx = NewTlsClientContext(tls_);
    if (!ctx.ok()) return ctx.status();
    tls_ctx_ = *std::move(ctx);
  } else {
    absl::StatusOr<AltsResources> resources = AltsResources::Create(command_.mode);
    if (!resources.ok()) return resources.status();
    resources_.emplace(*std::move(resources));
  }
  state_.assign(command_.conns, ConnState{});
  for (uint32_t i = 0; i < command_.conns; ++i) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return ErrnoError("socket");
    const int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&address->storage),
                address->length) != 0) {
      return ErrnoError("connect");
    }
    if (absl::Status s = WriteAll(fd.get(), &i, sizeof(i)); !s.ok()) return s;
    if (command_.mode == Mode::kTls) {
      absl::StatusOr<bssl::UniquePtr<SSL>> ssl =
          NewBufferedTls(tls_ctx_.get(), fd.get(), TlsRole::kClient);
      if (!ssl.ok()) return ssl.status();
      absl::StatusOr<std::unique_ptr<TlsEnd>> end = TlsEnd::Create(
          reactor_, std::move(fd), *std::move(ssl), &scratch_,
          [this, i](TlsEnd&, absl::Span<const uint8_t> data) {
            Received(i, data);
            return absl::OkStatus();
          });
      if (!end.ok()) return end.status();
      tls_ends_.push_back(*std::move(end));
    } else {
      absl::StatusOr<RecordProtector> protector = MakeProtector(command_, i, Side::kClient);
      if (!protector.ok()) return protector.status();
      auto end = std::make_unique<AltsEnd>(this, i);
      absl::StatusOr<std::unique_ptr<SecureConnection>> conn = SecureConnection::Create(
          reactor_, fd.Release(), *std::move(protector), &resources_->resources);
      if (!conn.ok()) return conn.status();
      end->conn = *std::move(conn);
      end->conn->Start(end.get());
      alts_.push_back(std::move(end));
    }
  }
  return absl::OkStatus();
}

void Client::SendNext(uint32_t index) {
  ConnState& s = state_[index];
  for (size_t k = 0; k < message_.size(); ++k) message_[k] = ExpectedByte(index, s.seq, k);
  s.in_flight = true;
  s.got = 0;
  ++in_flight_;
  if (command_.mode == Mode::kTls) {
    tls_ends_[index]->Send(message_);
    report_->AddError(tls_ends_[index]->status());
    return;
  }
  absl::StatusOr<size_t> n = alts_[index]->conn->Write(message_);
  if (!n.ok()) {
    report_->AddError(n.status());
  } else if (*n != message_.size()) {
    report_->AddError(absl::InternalError("Write took part of a small message"));
  }
}

void Client::Received(uint32_t index, absl::Span<const uint8_t> data) {
  ConnState& s = state_[index];
  for (uint8_t byte : data) {
    if (!s.in_flight || byte != ExpectedByte(index, s.seq, s.got)) {
      report_->AddError(absl::DataLossError(
          absl::StrCat("connection ", index, ": echo differs from message ", s.seq)));
      return;
    }
    if (++s.got == message_.size()) {
      s.in_flight = false;
      ++s.seq;
      --in_flight_;
      ++completed_;
      if (sending_) SendNext(index);
    }
  }
}

void Client::Run(int control, Report& report) {
  report_ = &report;
  std::optional<SyscallCounter> counter;
  if (absl::StatusOr<SyscallCounter> c = SyscallCounter::Create(); c.ok()) {
    counter.emplace(*std::move(c));
  }
  sending_ = true;
  for (uint32_t i = 0; i < command_.conns && report.errors == 0; ++i) SendNext(i);
  const absl::Time warm_end = absl::Now() + absl::Seconds(command_.warmup_s);
  absl::Status s = reactor_.RunUntil(
      [&] { return report.errors > 0 || absl::Now() >= warm_end; },
      absl::Seconds(command_.warmup_s) + kStallTimeout);
  report.AddError(s);
  const uint64_t completed0 = completed_;
  const uint64_t inits0 = AeadContextCache::InitsForTesting();
  const uint64_t syscalls0 = counter ? counter->Read() : 0;
  const double cpu0 = CpuSeconds();
  const absl::Time start = absl::Now();
  report.AddError(SendTag(control, Tag::kStarted));
  const absl::Time end = start + absl::Seconds(command_.seconds);
  s = reactor_.RunUntil([&] { return report.errors > 0 || absl::Now() >= end; },
                        absl::Seconds(command_.seconds) + kStallTimeout);
  report.AddError(s);
  const double cpu1 = CpuSeconds();
  const uint64_t syscalls1 = counter ? counter->Read() : 0;
  report.wall_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  report.AddError(SendTag(control, Tag::kStopped));
  report.messages = 2 * (completed_ - completed0);
  report.aead_inits = AeadContextCache::InitsForTesting() - inits0;
  report.syscalls = syscalls1 - syscalls0;
  report.syscalls_counted = counter.has_value() ? 1 : 0;
  report.cpu_seconds = cpu1 - cpu0;
  // Let the messages in flight finish, so the server ends with every echo
  // sent and no connection fails mid-message.
  sending_ = false;
  if (report.errors == 0) {
    report.AddError(reactor_.RunUntil([&] { return report.errors > 0 || in_flight_ == 0; },
                                      kStallTimeout));
  }
  stopping_done_ = true;
}

// ClientMain is the child process: it serves commands until told to quit.
// `tls` are the credentials made before the fork (the server's, so both
// trust the same CA).
int ClientMain(int control, const absl::StatusOr<TlsCredentials>& tls) {
  for (;;) {
    Command command;
    if (!ReadAll(control, &command, sizeof(command)).ok() || command.quit) break;
    Report report;
    absl::StatusOr<std::unique_ptr<Reactor>> reactor = Reactor::CreateUnthreaded();
    if (!tls.ok()) report.AddError(tls.status());
    if (!reactor.ok()) report.AddError(reactor.status());
    std::optional<Client> client;
    if (report.errors == 0) {
      client.emplace(command, *tls, **reactor);
      report.AddError(client->Setup());
    }
    if (!SendTag(control, Tag::kReady).ok() || !WriteAll(control, &report, sizeof(report)).ok()) {
      break;
    }
    if (report.errors == 0) {
      uint8_t go = 0;
      if (!ReadAll(control, &go, 1).ok()) break;
      client->Run(control, report);
    }
    client.reset();
    if (!SendTag(control, Tag::kResult).ok() || !WriteAll(control, &report, sizeof(report)).ok()) {
      break;
    }
    OPENSSL_cleanse(command.key_seed, sizeof(command.key_seed));
  }
  return 0;
}

// ---------------------------------------------------------------------------
// The server process.

// RunResult is one run's figures (both processes).
struct RunResult {
  uint64_t messages = 0;
  double seconds = 0;
  double cpu_seconds = 0;
  uint64_t aead_inits = 0;
  uint64_t syscalls = 0;
  bool syscalls_counted = false;
  uint64_t errors = 0;
  std::string first_error;

  double MessagesPerS() const { return seconds > 0 ? messages / seconds : 0; }
  double CpuUsPerMessage() const { return messages > 0 ? cpu_seconds * 1e6 / messages : 0; }
  double AeadInitsPerMessage() const {
    return messages > 0 ? static_cast<double>(aead_inits) / messages : 0;
  }
  double SyscallsPerMessage() const {
    return messages > 0 ? static_cast<double>(syscalls) / messages : 0;
  }
  void AddError(const absl::Status& status) {
    if (status.ok()) return;
    if (errors++ == 0) first_error = status.ToString();
  }
};

// Server is one run's server side.
class Server {
 public:
  Server(const Command& command, const TlsCredentials& tls, Reactor& reactor)
      : command_(command), tls_(tls), reactor_(reactor), scratch_(kScratchSize) {}
  ~Server() {
    alts_.clear();
    tls_ends_.clear();
  }

  // Accept takes every connection from `listener` and sets it up.
  absl::Status Accept(int listener);

  // result holds the echo failures.
  RunResult& result() { return result_; }
  // SetClosing marks the end of the run: connections closing now are not
  // failures.
  void SetClosing() { closing_ = true; }

 private:
  class AltsEcho final : public ReadyHandler {
   public:
    explicit AltsEcho(Server* server) : server_(server) {}
    void OnData(absl::Span<uint8_t> data, BufferLease&) override {
      absl::StatusOr<size_t> n = conn->Write(data);
      if (!n.ok()) {
        server_->result_.AddError(n.status());
      } else if (*n != data.size()) {
        server_->result_.AddError(absl::InternalError("Write took part of an echo"));
      }
    }
    void OnEnd(const absl::Status& status) override {
      if (!status.ok() && !server_->closing_) server_->result_.AddError(status);
    }
    std::unique_ptr<SecureConnection> conn;

   private:
    Server* server_;
  };

  const Command& command_;
  const TlsCredentials& tls_;
  Reactor& reactor_;
  std::optional<AltsResources> resources_;
  bssl::UniquePtr<SSL_CTX> tls_ctx_;
  std::vector<std::unique_ptr<AltsEcho>> alts_;
  std::vector<std::unique_ptr<TlsEnd>> tls_ends_;
  std::vector<uint8_t> scratch_;
  RunResult result_;
  bool closing_ = false;
};

absl::Status Server::Accept(int listener) {
  if (command_.mode == Mode::kTls) {
    absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx = NewTlsServerContext(tls_);
    if (!ctx.ok()) return ctx.status();
    tls_ctx_ = *std::move(ctx);
    tls_ends_.resize(command_.conns);
  } else {
    absl::StatusOr<AltsResources> resources = AltsResources::Create(command_.mode);
    if (!resources.ok()) return resources.status();
    resources_.emplace(*std::move(resources));
    alts_.resize(command_.conns);
  }
  for (uint32_t accepted = 0; accepted < command_.conns;) {
    absl::StatusOr<int> fd_or = AcceptTcp(listener);
    if (!fd_or.ok()) {
      if (absl::IsUnavailable(fd_or.status())) {
        if (absl::Status s = WaitFd(listener, POLLIN, kStallTimeout); !s.ok()) return s;
        continue;
      }
      return fd_or.status();
    }
    UniqueFd fd(*fd_or);
    uint32_t index = 0;
    if (absl::Status s = WaitFd(fd.get(), POLLIN, kStallTimeout); !s.ok()) return s;
    if (recv(fd.get(), &index, sizeof(index), MSG_WAITALL) != sizeof(index) ||
        index >= command_.conns) {
      return absl::DataLossError("bad connection index");
    }
    if (command_.mode == Mode::kTls) {
      if (tls_ends_[index] != nullptr) return absl::DataLossError("repeated connection index");
      absl::StatusOr<bssl::UniquePtr<SSL>> ssl =
          NewBufferedTls(tls_ctx_.get(), fd.get(), TlsRole::kServer);
      if (!ssl.ok()) return ssl.status();
      absl::StatusOr<std::unique_ptr<TlsEnd>> end = TlsEnd::Create(
          reactor_, std::move(fd), *std::move(ssl), &scratch_,
          [](TlsEnd& self, absl::Span<const uint8_t> data) {
            self.Send(data);
            return self.status();
          });
      if (!end.ok()) return end.status();
      tls_ends_[index] = *std::move(end);
    } else {
      if (alts_[index] != nullptr) return absl::DataLossError("repeated connection index");
      absl::StatusOr<RecordProtector> protector = MakeProtector(command_, index, Side::kServer);
      if (!protector.ok()) return protector.status();
      auto echo = std::make_unique<AltsEcho>(this);
      absl::StatusOr<std::unique_ptr<SecureConnection>> conn = SecureConnection::Create(
          reactor_, fd.Release(), *std::move(protector), &resources_->resources);
      if (!conn.ok()) return conn.status();
      echo->conn = *std::move(conn);
      echo->conn->Start(echo.get());
      alts_[index] = std::move(echo);
    }
    ++accepted;
  }
  return absl::OkStatus();
}

// RunOne runs `command` with the client over `control`, accepting on
// `listener`.
RunResult RunOne(Command command, const TlsCredentials& tls, int control, int listener) {
  RunResult result;
  RAND_bytes(command.key_seed, sizeof(command.key_seed));
  absl::StatusOr<std::unique_ptr<Reactor>> reactor = Reactor::CreateUnthreaded();
  if (!reactor.ok()) {
    result.AddError(reactor.status());
    return result;
  }
  if (absl::Status s = WriteAll(control, &command, sizeof(command)); !s.ok()) {
    result.AddError(s);
    return result;
  }
  std::optional<Server> server;
  server.emplace(command, tls, **reactor);
  result.AddError(server->Accept(listener));
  OPENSSL_cleanse(command.key_seed, sizeof(command.key_seed));  // every key is derived
  Tag tag{};
  Report report;
  absl::Status s = ReadAll(control, &tag, 1);
  if (s.ok()) s = ReadAll(control, &report, sizeof(report));
  if (s.ok() && tag != Tag::kReady) s = absl::InternalError("control: expected ready");
  result.AddError(s);
  if (report.errors > 0) result.AddError(absl::InternalError(report.first_error));
  if (result.errors > 0) {
    // Still collect the client's (empty) result so the channel stays in step.
    if (s.ok() && report.errors == 0) {
      const uint8_t go = 0;
      (void)WriteAll(control, &go, 1);
    }
    if (s.ok()) {
      (void)ReadAll(control, &tag, 1);
      (void)ReadAll(control, &report, sizeof(report));
    }
    return result;
  }

  std::optional<SyscallCounter> counter;
  if (absl::StatusOr<SyscallCounter> c = SyscallCounter::Create(); c.ok()) {
    counter.emplace(*std::move(c));
  }
  double cpu0 = 0, cpu1 = 0;
  uint64_t inits0 = 0, inits1 = 0, syscalls0 = 0, syscalls1 = 0;
  bool done = false;
  absl::StatusOr<std::unique_ptr<ReactorEvent>> control_event = ReactorEvent::Create(
      **reactor, control, EV_READ | EV_PERSIST, [&](short) {
        Tag t{};
        absl::Status rs = ReadAll(control, &t, 1);
        if (rs.ok() && t == Tag::kStarted) {
          cpu0 = CpuSeconds();
          inits0 = AeadContextCache::InitsForTesting();
          syscalls0 = counter ? counter->Read() : 0;
        } else if (rs.ok() && t == Tag::kStopped) {
          syscalls1 = counter ? counter->Read() : 0;
          inits1 = AeadContextCache::InitsForTesting();
          cpu1 = CpuSeconds();
        } else if (rs.ok() && t == Tag::kResult) {
          rs = ReadAll(control, &report, sizeof(report));
          done = true;
        } else {
          done = true;
          if (rs.ok()) rs = absl::InternalError("control: unexpected message");
        }
        result.AddError(rs);
      });
  if (!control_event.ok() || !(*control_event)->Add().ok()) {
    result.AddError(control_event.ok() ? absl::InternalError("control event")
                                       : control_event.status());
    return result;
  }
  const uint8_t go = 1;
  result.AddError(WriteAll(control, &go, 1));
  result.AddError((*reactor)->RunUntil(
      [&] { return done; },
      absl::Seconds(command.warmup_s + command.seconds) + 2 * kStallTimeout));
  server->SetClosing();
  result.AddError(server->result().errors > 0
                      ? absl::InternalError(server->result().first_error)
                      : absl::OkStatus());
  if (report.errors > 0) result.AddError(absl::InternalError(report.first_error));
  control_event->reset();
  server.reset();
  result.messages = report.messages;
  result.seconds = report.wall_seconds;
  result.cpu_seconds = report.cpu_seconds + (cpu1 - cpu0);
  result.aead_inits = report.aead_inits + (inits1 - inits0);
  result.syscalls_counted = counter.has_value() && report.syscalls_counted != 0;
  result.syscalls = report.syscalls + (syscalls1 - syscalls0);
  return result;
}

// ModeRuns collects one mode's runs.
struct ModeRuns {
  Mode mode = Mode::kOnDemand;
  std::vector<RunResult> runs;

  template <typename F>
  double Figure(F f) const {
    std::vector<double> v;
    for (const RunResult& r : runs) v.push_back(f(r));
    return MedianOf(v);
  }
  double MessagesPerS() const {
    return Figure([](const RunResult& r) { return r.MessagesPerS(); });
  }
  double CpuUsPerMessage() const {
    return Figure([](const RunResult& r) { return r.CpuUsPerMessage(); });
  }
  uint64_t errors() const {
    uint64_t e = 0;
    for (const RunResult& r : runs) e += r.errors;
    return e;
  }
};

// RaiseFdLimit raises RLIMIT_NOFILE's soft limit to `need` (or the hard
// limit). Returns kResourceExhausted if the hard limit is lower.
absl::Status RaiseFdLimit(rlim_t need) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return ErrnoError("getrlimit");
  if (rl.rlim_cur < need) {
    rl.rlim_cur = std::min(need, rl.rlim_max);
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur < need) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "need ", need, " file descriptors per process, the limit is ", rl.rlim_cur));
  }
  return absl::OkStatus();
}

// ServerMain runs every mode and round against the client `child`, prints
// the table and writes the JSON. Returns 1 on any error.
int ServerMain(int control, pid_t child, const absl::StatusOr<TlsCredentials>& tls) {
  const uint32_t conns = absl::GetFlag(FLAGS_conns);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const std::vector<std::string> wanted = absl::GetFlag(FLAGS_modes);
  std::vector<ModeRuns> modes;
  for (Mode m : kModes) {
    if (wanted.empty() || std::find(wanted.begin(), wanted.end(), ModeFlag(m)) != wanted.end()) {
      modes.push_back(ModeRuns{.mode = m, .runs = {}});
    }
  }
  absl::StatusOr<int> listener = ListenLoopback();
  absl::StatusOr<SocketAddress> local =
      listener.ok() ? LocalAddress(*listener) : absl::StatusOr<SocketAddress>(listener.status());
  int rc = 0;
  if (!tls.ok() || !local.ok()) {
    std::fprintf(stderr, "many_active: %s\n",
                 (!tls.ok() ? tls.status() : local.status()).ToString().c_str());
    rc = 1;
  }
  const UniqueFd listener_fd(listener.ok() ? *listener : -1);
  Command command;
  command.conns = conns;
  command.message_size = absl::GetFlag(FLAGS_message_size);
  command.warmup_s = absl::GetFlag(FLAGS_warmup_s);
  command.seconds = absl::GetFlag(FLAGS_seconds);
  if (rc == 0) {
    command.port = ntohs(reinterpret_cast<const sockaddr_in&>(local->storage).sin_port);
    for (int round = 0; round < rounds; ++round) {
      for (size_t k = 0; k < modes.size(); ++k) {
        ModeRuns& m = modes[round % 2 == 0 ? k : modes.size() - 1 - k];
        command.mode = m.mode;
        std::fprintf(stderr, "  round %d/%d: %s, %u connections\n", round + 1, rounds,
                     ModeName(m.mode), conns);
        m.runs.push_back(RunOne(command, *tls, control, listener_fd.get()));
      }
    }
  }
  Command quit;
  quit.quit = 1;
  (void)WriteAll(control, &quit, sizeof(quit));
  int status = 0;
  waitpid(child, &status, 0);

  TablePrinter table({"mode", "conns", "messages/s", "CPU us/msg", "syscalls/msg",
                      "AEAD inits/msg", "errors"});
  (void)table.SetAlign(0, TablePrinter::Align::kLeft);
  JsonResults json;
  const ModeRuns* on_demand = nullptr;
  const ModeRuns* pinned = nullptr;
  const ModeRuns* tls_runs = nullptr;
  for (const ModeRuns& m : modes) {
    const bool alts = m.mode != Mode::kTls;
    const bool counted = std::all_of(m.runs.begin(), m.runs.end(),
                                     [](const RunResult& r) { return r.syscalls_counted; });
    const double syscalls = m.Figure([](const RunResult& r) { return r.SyscallsPerMessage(); });
    const double inits = m.Figure([](const RunResult& r) { return r.AeadInitsPerMessage(); });
    (void)table.AddRow({ModeName(m.mode), absl::StrCat(conns),
                        absl::StrFormat("%.0f", m.MessagesPerS()),
                        absl::StrFormat("%.2f", m.CpuUsPerMessage()),
                        counted ? absl::StrFormat("%.2f", syscalls) : std::string("-"),
                        alts ? absl::StrFormat("%.2f", inits) : std::string("-"),
                        absl::StrCat(m.errors())});
    JsonRow row;
    row.AddString("mode", ModeName(m.mode))
        .AddUint("conns", conns)
        .AddDouble("messages_per_s", m.MessagesPerS())
        .AddDouble("cpu_us_per_message", m.CpuUsPerMessage())
        .AddUint("message_size", command.message_size)
        .AddUint("runs", m.runs.size())
        .AddUint("errors", m.errors());
    if (counted) row.AddDouble("syscalls_per_message", syscalls);
    if (alts) row.AddDouble("aead_inits_per_message", inits);
    json.Add(std::move(row));
    if (m.errors() > 0) {
      rc = 1;
      for (const RunResult& r : m.runs) {
        if (r.errors > 0) {
          std::fprintf(stderr, "many_active: %s: %s\n", ModeName(m.mode), r.first_error.c_str());
          break;
        }
      }
      continue;
    }
    if (m.mode == Mode::kOnDemand) on_demand = &m;
    if (m.mode == Mode::kPinned) pinned = &m;
    if (m.mode == Mode::kTls) tls_runs = &m;
  }
  std::printf(
      "many_active: %u connections, all active, %u-byte messages echoed; median of %d "
      "alternating runs of %.2f s (after %.2f s of warm-up)\n  a message is one way (an echo "
      "round trip is two); CPU: user + system of both processes (getrusage); syscalls: both "
      "processes (perf tracepoint raw_syscalls:sys_enter)\n",
      conns, command.message_size, rounds, command.seconds, command.warmup_s);
  table.Print(stdout);
  if (on_demand != nullptr && pinned != nullptr && pinned->MessagesPerS() > 0) {
    const double ratio = on_demand->MessagesPerS() / pinned->MessagesPerS();
    std::printf("on_demand vs pinned: %.1f%% of its messages/s (goal >= 90%%: %s), %.2fx its CPU "
                "per message\n",
                100 * ratio, ratio >= 0.9 ? "met" : "NOT met",
                on_demand->CpuUsPerMessage() / pinned->CpuUsPerMessage());
  }
  if (on_demand != nullptr && tls_runs != nullptr && tls_runs->MessagesPerS() > 0) {
    const double ratio = on_demand->MessagesPerS() / tls_runs->MessagesPerS();
    std::printf("on_demand vs TLS 1.3: %.2fx its messages/s (goal > 1: %s), %.2fx its CPU per "
                "message\n",
                ratio, ratio > 1 ? "met" : "NOT met",
                on_demand->CpuUsPerMessage() / tls_runs->CpuUsPerMessage());
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "many_active: the client process failed\n");
    rc = 1;
  }
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty() && !WriteJsonResults(json, json_path, "many_active")) return 1;
  return rc;
}

// Main checks the flags, forks the client and runs the server. Returns 1 on
// any error, 2 for bad flags.
int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  const uint32_t conns = absl::GetFlag(FLAGS_conns);
  const uint32_t message_size = absl::GetFlag(FLAGS_message_size);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const double warmup = absl::GetFlag(FLAGS_warmup_s);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  for (const std::string& w : absl::GetFlag(FLAGS_modes)) {
    if (std::none_of(std::begin(kModes), std::end(kModes),
                     [&](Mode m) { return w == ModeFlag(m); })) {
      std::fprintf(stderr, "many_active: unknown mode '%s' in --modes\n", w.c_str());
      return 2;
    }
  }
  if (conns < 1 || conns > kMaxConns || message_size < 1 || message_size > kMaxMessageSize ||
      !(seconds > 0) || seconds > kMaxSeconds || !(warmup >= 0) || warmup > kMaxSeconds ||
      rounds < 1 || rounds > kMaxRounds) {
    std::fprintf(stderr,
                 "many_active: --conns in [1, %u], --message_size in [1, %u], --seconds in "
                 "(0, %g], --warmup_s in [0, %g], --rounds in [1, %d]\n",
                 kMaxConns, kMaxMessageSize, kMaxSeconds, kMaxSeconds, kMaxRounds);
    return 2;
  }
  if (absl::Status s = RaiseFdLimit(conns + kSpareFds); !s.ok()) {
    std::fprintf(stderr, "many_active: %s\n", s.ToString().c_str());
    return 1;
  }
  // Fork before any thread exists (the reactors are unthreaded; nothing else
  // starts one), so the child is a clean single-threaded copy.
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    std::perror("many_active: socketpair");
    return 1;
  }
  // Both processes use the same PKI.
  const absl::StatusOr<TlsCredentials> tls = GenerateTlsCredentials();
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child < 0) {
    std::perror("many_active: fork");
    return 1;
  }
  if (child == 0) {
    close(fds[0]);
    const int rc = ClientMain(fds[1], tls);
    std::fflush(nullptr);
    _exit(rc);
  }
  close(fds[1]);
  const int rc = ServerMain(fds[0], child, tls);
  close(fds[0]);
  return rc;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
