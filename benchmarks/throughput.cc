// throughput: one connection, --bytes sent one way over loopback TCP
// (127.0.0.1), in each of these modes:
//
//   tcp              plain send/recv, the ceiling
//   alts             the ALTS record layer (ALTSRP_GCM_AES128_REKEY, a fixed
//                    random key) at 16 KiB, 64 KiB and 1 MiB max frame size
//   tls13_boringssl  BoringSSL TLS 1.3 after a mutual-auth handshake
//                    (benchmarks/common/tls_baseline.h), 16 KiB records
//
// For each it reports MB/s (10^6 bytes per second of wall time) and CPU
// seconds per GB (getrusage(RUSAGE_SELF) user + system time of the whole
// process, sender and receiver threads, over the transfer, per 10^9 bytes),
// then the ratio of the best ALTS mode to TLS.
//
// ALTS: the receiver is the product's read path, a SecureConnection with the
// default options (on-demand 32 KiB pool buffers; frames larger than a buffer
// are assembled in storage sized to the frame) on a caller-driven Reactor in
// the main thread. The sender runs in a second thread as a blocking
// SecureStream or as a SecureConnection on its own reactor (--alts_sender);
// with "both" every frame size is measured with each and the faster is the
// one reported. The sender's pool buffers are sized to hold whole frames (a
// 32 KiB buffer cannot hold a 64 KiB frame), so the frames on the wire have
// the size being measured.
//
// Every byte is checked: the sender sends a random pattern of odd length over
// and over (so a lost, repeated or reordered frame misaligns everything after
// it) and the receiver compares each delivery with the pattern (memcmp). A
// short or corrupted transfer is reported as an error and the program exits
// with status 1, so a broken transfer cannot pass for a fast one. Connection
// setup and handshakes are not timed.
//
// Run:  build/<dir>/benchmarks/throughput [--bytes=N] [--json=PATH]
//           [--alts_sender=both|stream|connection]

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/mem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "alts/record_protocol.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/json_writer.h"
#include "benchmarks/common/progress_line.h"
#include "benchmarks/common/table_printer.h"
#include "benchmarks/common/tls_baseline.h"
#include "benchmarks/common/tls_drive.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/ready_reader.h"
#include "conn/secure_connection.h"
#include "conn/secure_stream.h"
#include "conn/storage_pool.h"
#include "conn/wake_queue.h"
#include "frame/frame_format.h"

ABSL_FLAG(uint64_t, bytes, uint64_t{1} << 30,
          "Bytes of payload to send one way in each mode (default 1 GiB).");
ABSL_FLAG(std::string, json, "",
          "Also write the results as JSON to this path ('-' for stdout).");
ABSL_FLAG(std::string, alts_sender, "both",
          "ALTS sender: 'stream' (blocking SecureStream), 'connection' "
          "(SecureConnection on its own reactor) or 'both' (measure both, "
          "report the faster).");

namespace alts::bench {
namespace {

// kMegabyte, kGigabyte: the decimal units results are reported in.
constexpr double kMegabyte = 1e6;
constexpr double kGigabyte = 1e9;

// kAltsFrameSizes: the max frame sizes measured: the gRPC default, a middle
// size and the largest the record layer allows.
constexpr size_t kAltsFrameSizes[] = {16 * 1024, 64 * 1024, kMaxMaxFrameSize};

// kTlsRecordSize: a TLS 1.3 record carries at most 16 KiB of plaintext; it is
// the frame_size reported for TLS.
constexpr size_t kTlsRecordSize = 16 * 1024;

// kPatternSize: length of the random pattern the sender repeats. Odd, so it is
// a multiple of no frame's or record's plaintext size and any skipped,
// repeated or reordered frame shows as a mismatch; larger than any single
// send so that every send is one contiguous slice of the doubled pattern.
constexpr size_t kPatternSize = 4 * 1024 * 1024 + 17;

// kAltsSliceTarget: plaintext handed to one ALTS Write call, rounded down to
// whole sender buffers of whole frames; large, so per-call costs vanish, and
// not above kPatternSize.
constexpr size_t kAltsSliceTarget = 4 * 1024 * 1024;
static_assert(kAltsSliceTarget <= kPatternSize);

// kSenderBufferTarget: size of an ALTS sender's pool buffer, rounded down to
// whole frames (at least one): the sender seals many frames per buffer and
// sends each buffer with one call, as a bulk writer does.
constexpr size_t kSenderBufferTarget = 256 * 1024;

// kChunkHeaderRoom: SecureConnection keeps its write-queue entry in the first
// 64 bytes of each write buffer (secure_connection.cc); its sender buffers
// are that much larger so they still hold whole frames.
constexpr size_t kChunkHeaderRoom = 64;

// kSocketIoSize: bytes per send/recv for plain TCP and per SSL_write/SSL_read
// call for TLS (BoringSSL cuts a write into 16 KiB records; a read returns at
// most one record).
constexpr size_t kSocketIoSize = 256 * 1024;
static_assert(kSocketIoSize <= kPatternSize);

// kStallTimeout: a transfer or handshake that makes no progress for this long
// has failed; a hung peer must not hang the benchmark.
constexpr absl::Duration kStallTimeout = absl::Seconds(30);

// SocketPair is a connected loopback TCP connection.
struct SocketPair {
  UniqueFd sender;
  UniqueFd receiver;
};

// LoopbackPair connects two TCP sockets over 127.0.0.1. Returns kInternal if
// a socket call fails.
absl::StatusOr<SocketPair> LoopbackPair() {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (listener.get() < 0) return ErrnoError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoError("bind");
  }
  if (listen(listener.get(), 1) != 0) return ErrnoError("listen");
  socklen_t len = sizeof(addr);
  if (getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoError("getsockname");
  }
  SocketPair pair;
  pair.sender = UniqueFd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (pair.sender.get() < 0) return ErrnoError("socket");
  if (connect(pair.sender.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoError("connect");
  }
  pair.receiver = UniqueFd(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (pair.receiver.get() < 0) return ErrnoError("accept");
  return pair;
}

// SetStallTimeouts bounds blocking send/recv on `fd` by kStallTimeout.
void SetStallTimeouts(int fd) {
  const timeval tv = absl::ToTimeval(kStallTimeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// WaitForPeerClose half-closes `fd` and waits until the peer closes too (EOF
// or an error), so the sender's close never races the receiver's reads.
void WaitForPeerClose(int fd) {
  shutdown(fd, SHUT_WR);
  uint8_t sink[256];
  for (;;) {
    if (!WaitFd(fd, POLLIN, kStallTimeout).ok()) return;
    const ssize_t n = recv(fd, sink, sizeof(sink), 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;
  }
}

// Pattern is kPatternSize random bytes stored twice in a row, so the stream's
// bytes [pos, pos + n) are one contiguous span for any n <= kPatternSize.
class Pattern {
 public:
  Pattern() : bytes_(2 * kPatternSize) {
    RAND_bytes(bytes_.data(), kPatternSize);
    memcpy(bytes_.data() + kPatternSize, bytes_.data(), kPatternSize);
  }

  // Slice returns the stream's bytes [pos, pos + n); n <= kPatternSize.
  absl::Span<const uint8_t> Slice(uint64_t pos, size_t n) const {
    return absl::MakeConstSpan(bytes_).subspan(pos % kPatternSize, n);
  }

 private:
  std::vector<uint8_t> bytes_;
};

// StreamChecker compares what arrives, in order, with the pattern stream.
class StreamChecker {
 public:
  explicit StreamChecker(const Pattern& pattern) : pattern_(pattern) {}

  // Consume checks `data`, the next bytes of the stream.
  void Consume(absl::Span<const uint8_t> data) {
    while (!data.empty()) {
      const size_t n = std::min(data.size(), kPatternSize);
      if (memcmp(data.data(), pattern_.Slice(received_, n).data(), n) != 0) ++mismatches_;
      received_ += n;
      data.remove_prefix(n);
    }
  }

  uint64_t received() const { return received_; }
  // mismatches counts deliveries (or pattern-sized parts of them) that
  // differed from the pattern.
  uint64_t mismatches() const { return mismatches_; }

 private:
  const Pattern& pattern_;
  uint64_t received_ = 0;
  uint64_t mismatches_ = 0;
};

// StartGate lines the sender thread up with the receiver: the sender does its
// setup (and handshake), arrives and waits; the receiver starts the clock and
// opens the gate. The sender arrives even if its setup failed.
class StartGate {
 public:
  // ArriveAndWait (sender) reports arrival and waits for Open.
  void ArriveAndWait() {
    std::unique_lock<std::mutex> lock(mu_);
    arrived_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  // WaitForArrival (receiver) waits until the sender has arrived.
  void WaitForArrival() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return arrived_; });
  }
  // Open lets the sender go.
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool arrived_ = false;
  bool open_ = false;
};

// Usage is a wall-clock and process CPU time reading.
struct Usage {
  std::chrono::steady_clock::time_point wall;
  double cpu_seconds = 0;

  static Usage Now() {
    Usage u;
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    u.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
    u.wall = std::chrono::steady_clock::now();
    return u;
  }
};

// RunResult is one measured transfer.
struct RunResult {
  RunResult(std::string mode_in, size_t frame_size_in, std::string sender_in)
      : mode(std::move(mode_in)), frame_size(frame_size_in), sender(std::move(sender_in)) {}

  std::string mode;  // "tcp", "alts" or "tls13_boringssl"
  size_t frame_size = 0;
  std::string sender;      // how the sender wrote
  uint64_t bytes = 0;      // payload bytes received and checked
  double seconds = 0;      // wall time of the transfer
  double cpu_seconds = 0;  // process CPU time over the transfer
  uint64_t errors = 0;     // failures and mismatches; 0 for a good run
  std::string first_error;
  bool reported = true;  // false for the slower of two ALTS senders
  // SecureConnection sender: short Writes after which the queue was already
  // empty, so that no OnWritable could follow (see SendWithConnection).
  uint64_t drained_short_writes = 0;

  double MbPerS() const { return seconds > 0 ? static_cast<double>(bytes) / kMegabyte / seconds : 0; }
  double CpuSPerGb() const {
    return bytes > 0 ? cpu_seconds / (static_cast<double>(bytes) / kGigabyte) : 0;
  }

  void AddError(const absl::Status& status) {
    if (status.ok()) return;
    ++errors;
    if (first_error.empty()) first_error = status.ToString();
  }
  void SetTimes(const Usage& start, const Usage& end) {
    seconds = std::chrono::duration<double>(end.wall - start.wall).count();
    cpu_seconds = end.cpu_seconds - start.cpu_seconds;
  }
  // Check records the checker's verdict for a transfer of `total` bytes.
  void Check(const StreamChecker& checker, uint64_t total) {
    bytes = checker.received();
    if (checker.mismatches() > 0) {
      errors += checker.mismatches();
      if (first_error.empty()) {
        first_error = absl::StrCat(checker.mismatches(), " deliveries differ from what was sent");
      }
    }
    if (checker.received() != total) {
      AddError(absl::DataLossError(
          absl::StrCat("received ", checker.received(), " of ", total, " bytes")));
    }
  }
};

// ---------------------------------------------------------------------------
// Plain TCP.

// RunTcp measures plain TCP: blocking send() in a second thread, recv() here.
RunResult RunTcp(const Pattern& pattern, uint64_t total) {
  RunResult result("tcp", 0, "send()");
  absl::StatusOr<SocketPair> pair = LoopbackPair();
  if (!pair.ok()) {
    result.AddError(pair.status());
    return result;
  }
  SetStallTimeouts(pair->sender.get());
  SetStallTimeouts(pair->receiver.get());
  StartGate gate;
  absl::Status sender_status;
  std::thread sender([&] {
    const int fd = pair->sender.get();
    gate.ArriveAndWait();
    uint64_t pos = 0;
    while (pos < total) {
      absl::Span<const uint8_t> slice =
          pattern.Slice(pos, static_cast<size_t>(std::min<uint64_t>(kSocketIoSize, total - pos)));
      const ssize_t n = send(fd, slice.data(), slice.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        sender_status = ErrnoError("send");
        break;
      }
      pos += static_cast<uint64_t>(n);
    }
    WaitForPeerClose(fd);
  });

  std::vector<uint8_t> buf(kSocketIoSize);
  StreamChecker checker(pattern);
  gate.WaitForArrival();
  const Usage start = Usage::Now();
  gate.Open();
  absl::Status receiver_status;
  while (checker.received() < total) {
    const ssize_t n = recv(pair->receiver.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      receiver_status = ErrnoError("recv");
      break;
    }
    if (n == 0) break;  // early EOF: Check reports the shortfall
    checker.Consume(absl::MakeConstSpan(buf.data(), static_cast<size_t>(n)));
  }
  const Usage end = Usage::Now();
  pair->receiver.Reset();  // lets the sender finish
  sender.join();
  result.SetTimes(start, end);
  result.AddError(receiver_status);
  result.AddError(sender_status);
  result.Check(checker, total);
  return result;
}

// ---------------------------------------------------------------------------
// ALTS.

// AltsSender is how the ALTS sender thread writes.
enum class AltsSender { kStream, kConnection };

// AltsSenderName returns the class the sender uses.
const char* AltsSenderName(AltsSender s) {
  return s == AltsSender::kStream ? "SecureStream" : "SecureConnection";
}

// SenderPlan sizes the sender's buffers and writes for one frame size so that
// every frame on the wire is a full one (except the very last).
struct SenderPlan {
  size_t pool_buffer_size = 0;
  size_t slice_size = 0;  // plaintext per Write call

  static SenderPlan For(size_t frame_size, AltsSender kind) {
    const size_t frames_per_buffer = std::max<size_t>(1, kSenderBufferTarget / frame_size);
    const size_t plaintext_per_frame = frame_size - kFrameOverhead;
    size_t slice_frames = kAltsSliceTarget / frame_size / frames_per_buffer * frames_per_buffer;
    slice_frames = std::max(slice_frames, frames_per_buffer);
    SenderPlan plan;
    plan.pool_buffer_size = frames_per_buffer * frame_size +
                            (kind == AltsSender::kConnection ? kChunkHeaderRoom : 0);
    plan.slice_size = std::min(slice_frames * plaintext_per_frame, kPatternSize);
    return plan;
  }
};

// MakeProtector returns a REKEY protector for `side` that seals frames of
// `frame_size`.
absl::StatusOr<RecordProtector> MakeProtector(Side side, absl::Span<const uint8_t> key,
                                              size_t frame_size) {
  return RecordProtector::Create(RecordProtocol::kAes128GcmRekey, side, key, frame_size);
}

// SendWithStream is the sender thread's body for AltsSender::kStream.
absl::Status SendWithStream(UniqueFd fd, absl::Span<const uint8_t> key, size_t frame_size,
                            const Pattern& pattern, uint64_t total, StartGate& gate) {
  const SenderPlan plan = SenderPlan::For(frame_size, AltsSender::kStream);
  absl::StatusOr<std::unique_ptr<BufferPool>> pool =
      BufferPool::Create({.buffer_size = plan.pool_buffer_size});
  absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
  absl::StatusOr<RecordProtector> protector = MakeProtector(Side::kClient, key, frame_size);
  absl::Status setup = !pool.ok()        ? pool.status()
                       : !storage.ok()   ? storage.status()
                       : !protector.ok() ? protector.status()
                                         : absl::OkStatus();
  std::unique_ptr<SecureStream> stream;
  if (setup.ok()) {
    absl::StatusOr<std::unique_ptr<SecureStream>> created = SecureStream::Create(
        fd.Release(), std::move(*protector), pool->get(), storage->get());
    if (created.ok()) {
      stream = std::move(*created);
    } else {
      setup = created.status();
    }
  }
  fd.Reset();  // on failure the receiver sees EOF at once
  gate.ArriveAndWait();
  if (!setup.ok()) return setup;

  absl::Status status;
  for (uint64_t pos = 0; pos < total && status.ok();) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(plan.slice_size, total - pos));
    status = stream->Write(pattern.Slice(pos, n));
    pos += n;
  }
  absl::Status closed = stream->Close();
  stream.reset();
  return status.ok() ? closed : status;
}

// SenderHandler is the sending SecureConnection's handler: it only waits for
// writability and the end (the receiver never writes).
class SenderHandler : public ReadyHandler {
 public:
  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override { unexpected_data_ = true; }
  void OnEnd(const absl::Status& status) override {
    ended_ = true;
    end_status_ = status;
  }
  void OnWritable() override { writable_ = true; }

  bool ended_ = false;
  bool writable_ = false;
  bool unexpected_data_ = false;
  absl::Status end_status_;
};

// SendWithConnection is the sender thread's body for AltsSender::kConnection:
// a SecureConnection on its own caller-driven reactor, writing with
// back-pressure (Write, then wait for OnWritable when it falls short).
absl::Status SendWithConnection(UniqueFd fd, absl::Span<const uint8_t> key,
                                size_t frame_size, const Pattern& pattern, uint64_t total,
                                StartGate& gate, uint64_t* drained_short_writes) {
  const SenderPlan plan = SenderPlan::For(frame_size, AltsSender::kConnection);
  absl::StatusOr<std::unique_ptr<Reactor>> reactor = Reactor::CreateUnthreaded();
  absl::StatusOr<std::unique_ptr<WakeQueue>> wake =
      reactor.ok() ? WakeQueue::Create((*reactor)->base())
                   : absl::StatusOr<std::unique_ptr<WakeQueue>>(reactor.status());
  absl::StatusOr<std::unique_ptr<BufferPool>> pool =
      BufferPool::Create({.buffer_size = plan.pool_buffer_size});
  absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
  absl::StatusOr<RecordProtector> protector = MakeProtector(Side::kClient, key, frame_size);
  absl::Status setup = !wake.ok()        ? wake.status()
                       : !pool.ok()      ? pool.status()
                       : !storage.ok()   ? storage.status()
                       : !protector.ok() ? protector.status()
                                         : absl::OkStatus();
  ConnectionResources resources;
  SenderHandler handler;
  std::unique_ptr<SecureConnection> conn;
  if (setup.ok()) {
    resources.read_pool = pool->get();
    resources.storage = storage->get();
    // Two buffers of frames in flight: the next is sealed while the kernel
    // drains the previous one.
    resources.options.write_high_water =
        std::max(kDefaultWriteHighWater, 2 * plan.pool_buffer_size);
    absl::StatusOr<std::unique_ptr<SecureConnection>> created = SecureConnection::Create(
        (*reactor)->base(), wake->get(), fd.Release(), std::move(*protector), &resources);
    if (created.ok()) {
      conn = std::move(*created);
      conn->Start(&handler);
    } else {
      setup = created.status();
    }
  }
  fd.Reset();
  gate.ArriveAndWait();
  if (!setup.ok()) return setup;

  absl::Status status;
  uint64_t pos = 0;
  while (pos < total) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(plan.slice_size, total - pos));
    absl::StatusOr<size_t> accepted = conn->Write(pattern.Slice(pos, n));
    if (!accepted.ok()) {
      status = accepted.status();
      break;
    }
    pos += *accepted;
    if (*accepted == n) continue;
    if (conn->pending_write_bytes() == 0) {
      // Write fell short, yet its final flush emptied the queue: no EV_WRITE
      // is armed, so no OnWritable will come. Write again at once.
      ++*drained_short_writes;
      continue;
    }
    handler.writable_ = false;
    status = (*reactor)->RunUntil([&] { return handler.writable_ || handler.ended_; },
                                  kStallTimeout);
    if (!status.ok()) break;
    if (handler.ended_) {
      status = handler.end_status_.ok()
                   ? absl::UnavailableError("receiver closed before the end")
                   : handler.end_status_;
      break;
    }
  }
  if (status.ok()) {
    // Flush, half-close, and wait for the receiver to close its end.
    conn->Close();
    status = (*reactor)->RunUntil([&] { return handler.ended_; }, kStallTimeout);
  }
  if (status.ok() && handler.unexpected_data_) {
    status = absl::InternalError("the receiver sent data");
  }
  conn.reset();
  wake->reset();
  reactor->reset();
  return status;
}

// VerifyingReceiver is the receiving SecureConnection's handler.
class VerifyingReceiver : public ReadyHandler {
 public:
  explicit VerifyingReceiver(const Pattern& pattern) : checker_(pattern) {}

  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override { checker_.Consume(data); }
  void OnEnd(const absl::Status& status) override {
    ended_ = true;
    end_status_ = status;
  }

  const StreamChecker& checker() const { return checker_; }
  bool ended() const { return ended_; }
  const absl::Status& end_status() const { return end_status_; }

 private:
  StreamChecker checker_;
  bool ended_ = false;
  absl::Status end_status_;
};

// RunAlts measures the ALTS record layer at `frame_size` with the `kind` of
// sender (see the top of this file).
RunResult RunAlts(const Pattern& pattern, uint64_t total, size_t frame_size, AltsSender kind,
                  absl::Span<const uint8_t> key) {
  RunResult result("alts", frame_size, AltsSenderName(kind));
  absl::StatusOr<SocketPair> pair = LoopbackPair();
  if (!pair.ok()) {
    result.AddError(pair.status());
    return result;
  }
  // The receiver: product defaults on a caller-driven reactor in this thread.
  absl::StatusOr<std::unique_ptr<Reactor>> reactor = Reactor::CreateUnthreaded();
  if (!reactor.ok()) {
    result.AddError(reactor.status());
    return result;
  }
  absl::StatusOr<std::unique_ptr<WakeQueue>> wake = WakeQueue::Create((*reactor)->base());
  absl::StatusOr<std::unique_ptr<BufferPool>> pool = BufferPool::Create();
  absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
  absl::StatusOr<RecordProtector> protector = MakeProtector(Side::kServer, key, frame_size);
  for (const absl::Status& s :
       {wake.status(), pool.status(), storage.status(), protector.status()}) {
    if (!s.ok()) {
      result.AddError(s);
      return result;
    }
  }
  ConnectionResources resources;  // default options: on-demand reads
  resources.read_pool = pool->get();
  resources.storage = storage->get();
  absl::StatusOr<std::unique_ptr<SecureConnection>> conn = SecureConnection::Create(
      (*reactor)->base(), wake->get(), pair->receiver.Release(), std::move(*protector),
      &resources);
  if (!conn.ok()) {
    result.AddError(conn.status());
    return result;
  }
  VerifyingReceiver receiver(pattern);
  (*conn)->Start(&receiver);

  StartGate gate;
  absl::Status sender_status;
  std::thread sender([&, fd = std::move(pair->sender)]() mutable {
    sender_status = kind == AltsSender::kStream
                        ? SendWithStream(std::move(fd), key, frame_size, pattern, total, gate)
                        : SendWithConnection(std::move(fd), key, frame_size, pattern, total,
                                             gate, &result.drained_short_writes);
  });
  gate.WaitForArrival();
  const Usage start = Usage::Now();
  gate.Open();
  absl::Status receiver_status;
  uint64_t seen = 0;
  for (;;) {
    receiver_status = (*reactor)->RunUntil(
        [&] { return receiver.checker().received() >= total || receiver.ended(); },
        kStallTimeout);
    if (receiver_status.code() != absl::StatusCode::kDeadlineExceeded ||
        receiver.checker().received() == seen) {
      break;
    }
    seen = receiver.checker().received();  // slow but moving: keep going
  }
  const Usage end = Usage::Now();
  if (receiver.ended()) receiver_status.Update(receiver.end_status());
  conn->reset();  // closes the socket: the sender sees EOF
  sender.join();
  result.SetTimes(start, end);
  result.AddError(receiver_status);
  result.AddError(sender_status);
  result.Check(receiver.checker(), total);
  return result;
}

// ---------------------------------------------------------------------------
// TLS 1.3 (BoringSSL).

// RunTls measures TLS 1.3: both handshakes (client in the sender thread,
// server here) are done before the clock starts.
RunResult RunTls(const Pattern& pattern, uint64_t total, const TlsCredentials& credentials) {
  RunResult result("tls13_boringssl", kTlsRecordSize, "SSL_write");
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> server_ctx = NewTlsServerContext(credentials);
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> client_ctx = NewTlsClientContext(credentials);
  absl::StatusOr<SocketPair> pair = LoopbackPair();
  for (const absl::Status& s : {server_ctx.status(), client_ctx.status(), pair.status()}) {
    if (!s.ok()) {
      result.AddError(s);
      return result;
    }
  }

  StartGate gate;
  absl::Status sender_status;
  std::thread sender([&] {
    const int fd = pair->sender.get();
    absl::StatusOr<bssl::UniquePtr<SSL>> ssl =
        NewTlsConnection(client_ctx->get(), fd, TlsRole::kClient);
    absl::Status setup = ssl.ok() ? DriveTlsHandshake(ssl->get(), kStallTimeout) : ssl.status();
    if (!setup.ok()) pair->sender.Reset();  // the receiver's handshake fails at once
    gate.ArriveAndWait();
    if (!setup.ok()) {
      sender_status = setup;
      return;
    }
    uint64_t pos = 0;
    while (pos < total) {
      absl::Span<const uint8_t> slice =
          pattern.Slice(pos, static_cast<size_t>(std::min<uint64_t>(kSocketIoSize, total - pos)));
      TlsResult r = TlsWrite(ssl->get(), slice);
      if (r.status == TlsStatus::kDone) {
        pos += r.bytes;
        continue;
      }
      if (r.would_block()) {
        sender_status =
            WaitFd(fd, r.status == TlsStatus::kWantRead ? POLLIN : POLLOUT, kStallTimeout);
        if (sender_status.ok()) continue;
      } else {
        sender_status = absl::InternalError(absl::StrCat("SSL_write: ", r.error));
      }
      break;
    }
    WaitForPeerClose(fd);
  });

  const int fd = pair->receiver.get();
  absl::StatusOr<bssl::UniquePtr<SSL>> ssl = NewTlsConnection(server_ctx->get(), fd,
                                                              TlsRole::kServer);
  absl::Status receiver_status =
      ssl.ok() ? DriveTlsHandshake(ssl->get(), kStallTimeout) : ssl.status();
  if (!receiver_status.ok()) pair->receiver.Reset();  // the sender's handshake fails
  std::vector<uint8_t> buf(kSocketIoSize);
  StreamChecker checker(pattern);
  gate.WaitForArrival();
  const Usage start = Usage::Now();
  gate.Open();
  while (receiver_status.ok() && checker.received() < total) {
    TlsResult r = TlsRead(ssl->get(), absl::MakeSpan(buf));
    if (r.status == TlsStatus::kDone) {
      checker.Consume(absl::MakeConstSpan(buf.data(), r.bytes));
    } else if (r.would_block()) {
      receiver_status =
          WaitFd(fd, r.status == TlsStatus::kWantRead ? POLLIN : POLLOUT, kStallTimeout);
    } else if (r.status == TlsStatus::kClosed) {
      break;  // early end: Check reports the shortfall
    } else {
      receiver_status = absl::InternalError(absl::StrCat("SSL_read: ", r.error));
    }
  }
  const Usage end = Usage::Now();
  if (ssl.ok()) ssl->reset();
  pair->receiver.Reset();
  sender.join();
  result.SetTimes(start, end);
  result.AddError(receiver_status);
  result.AddError(sender_status);
  result.Check(checker, total);
  return result;
}

// ---------------------------------------------------------------------------

// FormatFrame returns "16 KiB", "1 MiB", ... or "-" for 0.
std::string FormatFrame(size_t frame_size) {
  if (frame_size == 0) return "-";
  if (frame_size % (1024 * 1024) == 0) return absl::StrCat(frame_size / (1024 * 1024), " MiB");
  if (frame_size % 1024 == 0) return absl::StrCat(frame_size / 1024, " KiB");
  return absl::StrCat(frame_size);
}

// Main runs every mode in turn, prints the table and writes the JSON.
// Returns 1 if any transfer failed or was corrupted, 2 for bad flags.
int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const uint64_t total = absl::GetFlag(FLAGS_bytes);
  const std::string sender_flag = absl::GetFlag(FLAGS_alts_sender);
  std::vector<AltsSender> senders;
  if (sender_flag == "both" || sender_flag == "stream") senders.push_back(AltsSender::kStream);
  if (sender_flag == "both" || sender_flag == "connection") {
    senders.push_back(AltsSender::kConnection);
  }
  if (senders.empty() || total == 0) {
    std::fprintf(stderr, "throughput: --bytes must be positive and --alts_sender one of "
                         "both, stream, connection\n");
    return 2;
  }

  const Pattern pattern;
  std::vector<uint8_t> key(RecordKeySize(RecordProtocol::kAes128GcmRekey));
  RAND_bytes(key.data(), key.size());
  absl::StatusOr<TlsCredentials> credentials = GenerateTlsCredentials();
  if (!credentials.ok()) {
    std::fprintf(stderr, "throughput: %s\n", credentials.status().ToString().c_str());
    return 1;
  }

  std::vector<RunResult> results;
  ProgressLine progress("ran", "transfers",
                        2 + std::size(kAltsFrameSizes) * senders.size());
  results.push_back(RunTcp(pattern, total));
  progress.Update(results.size());
  for (size_t frame_size : kAltsFrameSizes) {
    const size_t first = results.size();
    for (AltsSender kind : senders) {
      results.push_back(RunAlts(pattern, total, frame_size, kind, key));
      progress.Update(results.size());
    }
    // Report the faster sender for this frame size (a failed run never wins).
    size_t best = first;
    for (size_t i = first; i < results.size(); ++i) {
      const bool better = results[i].errors == 0 &&
                          (results[best].errors != 0 || results[i].MbPerS() > results[best].MbPerS());
      if (better) best = i;
      results[i].reported = false;
    }
    results[best].reported = true;
  }
  results.push_back(RunTls(pattern, total, *credentials));
  progress.Update(results.size());
  progress.Finish();
  OPENSSL_cleanse(key.data(), key.size());

  TablePrinter table({"mode", "frame", "sender", "MB/s", "CPU s/GB", "checked MB", "errors"});
  (void)table.SetAlign(1, TablePrinter::Align::kRight);
  (void)table.SetAlign(2, TablePrinter::Align::kLeft);
  JsonResults json;
  uint64_t errors = 0;
  const RunResult* best_alts = nullptr;
  const RunResult* tls = nullptr;
  for (const RunResult& r : results) {
    errors += r.errors;
    const bool marked = r.mode == "alts" && senders.size() > 1 && r.reported;
    (void)table.AddRow({r.mode, FormatFrame(r.frame_size),
                        absl::StrCat(r.sender, marked ? " *" : ""),
                        absl::StrFormat("%.1f", r.MbPerS()),
                        absl::StrFormat("%.3f", r.CpuSPerGb()),
                        absl::StrFormat("%.1f", static_cast<double>(r.bytes) / kMegabyte),
                        absl::StrCat(r.errors)});
    if (!r.reported) continue;
    JsonRow row;
    row.AddString("mode", r.mode)
        .AddUint("frame_size", r.frame_size)
        .AddDouble("mb_per_s", r.MbPerS())
        .AddDouble("cpu_s_per_gb", r.CpuSPerGb())
        .AddString("sender", r.sender)
        .AddUint("bytes", r.bytes)
        .AddUint("errors", r.errors);
    json.Add(std::move(row));
    if (r.mode == "alts" && r.errors == 0 &&
        (best_alts == nullptr || r.MbPerS() > best_alts->MbPerS())) {
      best_alts = &r;
    }
    if (r.mode == "tls13_boringssl" && r.errors == 0) tls = &r;
  }
  std::printf("throughput: %s one way per mode over 127.0.0.1 (MB = 10^6 bytes, GB = 10^9 bytes;"
              " CPU = user + system of both threads)\n",
              absl::StrCat(total).c_str());
  table.Print(stdout);
  if (senders.size() > 1) {
    std::printf("* the faster ALTS sender for that frame size: the one reported in JSON and "
                "compared below\n");
  }
  if (best_alts != nullptr && tls != nullptr && tls->MbPerS() > 0 && best_alts->CpuSPerGb() > 0) {
    const double ratio = best_alts->MbPerS() / tls->MbPerS();
    std::printf("best ALTS (%s frames, %s) vs TLS 1.3: %.2fx the throughput (goal >= 1.3x: %s), "
                "%.2fx less CPU per GB\n",
                FormatFrame(best_alts->frame_size).c_str(), best_alts->sender.c_str(), ratio,
                ratio >= 1.3 ? "met" : "not met", tls->CpuSPerGb() / best_alts->CpuSPerGb());
  }
  for (const RunResult& r : results) {
    if (r.drained_short_writes > 0) {
      std::printf("note: alts %s (%s): %llu Writes fell short with nothing left queued, so no "
                  "OnWritable followed; the sender wrote again at once\n",
                  FormatFrame(r.frame_size).c_str(), r.sender.c_str(),
                  static_cast<unsigned long long>(r.drained_short_writes));
    }
    if (r.errors > 0) {
      std::fprintf(stderr, "throughput: %s %s (%s): %s\n", r.mode.c_str(),
                   FormatFrame(r.frame_size).c_str(), r.sender.c_str(), r.first_error.c_str());
    }
  }
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty() && !WriteJsonResults(json, json_path, "throughput")) return 1;
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
