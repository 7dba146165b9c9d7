// throughput: one connection, --bytes sent one way over loopback TCP
// (127.0.0.1), in each of these modes:
//
//   tcp                         plain send/recv of 256 KiB, the ceiling
//   tcp_aes_gcm                 the same with every 16 KiB frame sealed once
//                               and opened once in place by BoringSSL's
//                               AES-128-GCM and nothing else (no event loop,
//                               rekeying or framing state): the ceiling of
//                               any AES-GCM record protocol over this kernel
//                               path and this AES-GCM code
//   alts                        the ALTS record layer (ALTSRP_GCM_AES128_REKEY,
//                               a fixed random key) at 16 KiB, 64 KiB and
//                               1 MiB max frame size
//   tls13_boringssl             BoringSSL TLS 1.3 after a mutual-auth
//                               handshake (benchmarks/common/tls_baseline.h),
//                               16 KiB records, through a buffering BIO
//                               (benchmarks/common/tls_buffered_bio.h) sized
//                               like the ALTS buffers: the same batching
//   tls13_boringssl_socket_bio  the same over a plain socket BIO (SSL_set_fd):
//                               one write per record, two reads per record
//
// The headline compares equal record sizes: ALTS 16 KiB frames (16,360
// bytes of plaintext each) against TLS 16 KiB records (16,384), both with
// the same buffers: the ALTS receiver reads --read_buffer bytes per recv (its
// pool buffer size) and the TLS receiver's BIO reads ahead as much; the ALTS
// sender seals frames into --write_buffer buffers and sends each with one
// sendmsg, and the TLS sender's BIO coalesces as much ciphertext per send.
// Both write --slice bytes per call. Socket buffers are the kernel's
// defaults (autotuned) for every mode alike. Larger ALTS frames are extra
// rows.
//
// The modes run in --rounds rounds, in turn (odd rounds in reverse order, so
// a drift in machine load does not favour the modes that run first); each
// figure is the median over the rounds. Figures:
//   MB/s        10^6 bytes of plaintext per second of wall time, receiver's
//               clock, from the start gate to the last byte checked
//   CPU s/GB    getrusage(RUSAGE_SELF) user + system time of the whole
//               process (sender and receiver threads) over the transfer, per
//               10^9 bytes of plaintext
//   syscalls/MB system calls of both threads over the transfer per 10^6 bytes
//               of plaintext, counted by the kernel (perf tracepoint
//               raw_syscalls:sys_enter, benchmarks/common/syscall_counter.h;
//               "-" where perf events are not available)
//
// ALTS: the receiver is the product's read path, a SecureConnection with the
// default options (on-demand pool buffers; frames larger than a buffer are
// assembled in storage sized to the frame) on a caller-driven Reactor in the
// main thread. The sender runs in a second thread as a SecureConnection on
// its own reactor (--alts_sender=connection, the default) or as a blocking
// SecureStream (stream). The sender's pool buffers are sized to hold whole
// frames (a 256 KiB buffer holds 16 16-KiB frames; a 1 MiB frame gets a
// buffer of its own), so the frames on the wire have the size being measured.
//
// Every byte is checked: the sender sends a random pattern of odd length over
// and over (so a lost, repeated or reordered frame misaligns everything after
// it) and the receiver compares each delivery with the pattern (memcmp). A
// short or corrupted transfer is reported as an error and the program exits
// with status 1, so a broken transfer cannot pass for a fast one. Connection
// setup and handshakes are not timed.
//
// Run:  build/<dir>/benchmarks/throughput [--bytes=N] [--rounds=5] [--json=PATH]
//           [--alts_sender=connection|stream] [--read_buffer=N] [--write_buffer=N]
//           [--modes=tcp,tcp_aes_gcm,alts_16k,alts_64k,alts_1m,tls,tls_socket_bio]

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/aead.h>
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
#include <optional>
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
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "alts/record_protocol.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/json_writer.h"
#include "benchmarks/common/progress_line.h"
#include "benchmarks/common/syscall_counter.h"
#include "benchmarks/common/table_printer.h"
#include "benchmarks/common/tls_baseline.h"
#include "benchmarks/common/tls_buffered_bio.h"
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
          "Bytes of payload to send one way in each run (default 1 GiB).");
ABSL_FLAG(int, rounds, 5, "Runs per mode, alternating with the other modes; medians reported.");
ABSL_FLAG(std::string, json, "",
          "Also write the results as JSON to this path ('-' for stdout).");
ABSL_FLAG(std::string, alts_sender, "connection",
          "ALTS sender: 'connection' (SecureConnection on its own reactor) or 'stream' "
          "(blocking SecureStream).");
ABSL_FLAG(uint64_t, read_buffer, 256 * 1024,
          "ALTS receiver's pool buffer size = TLS receiver's read-ahead (bytes per recv).");
ABSL_FLAG(uint64_t, write_buffer, 256 * 1024,
          "ALTS sender's buffer = TLS sender's coalescing buffer (bytes per send).");
ABSL_FLAG(std::vector<std::string>, modes, {},
          "Modes to run: tcp, tcp_aes_gcm, alts_16k, alts_64k, alts_1m, tls, tls_socket_bio "
          "(empty: all).");

namespace alts::bench {
namespace {

// kMegabyte, kGigabyte: the decimal units results are reported in.
constexpr double kMegabyte = 1e6;
constexpr double kGigabyte = 1e9;

// kTlsRecordSize: a TLS 1.3 record carries at most 16 KiB of plaintext; it is
// the frame_size reported for TLS.
constexpr size_t kTlsRecordSize = 16 * 1024;

// kPatternSize: length of the random pattern the sender repeats. Odd, so it is
// a multiple of no frame's or record's plaintext size and any skipped,
// repeated or reordered frame shows as a mismatch; larger than any single
// send so that every send is one contiguous slice of the doubled pattern.
constexpr size_t kPatternSize = 4 * 1024 * 1024 + 17;

// kSliceTarget: plaintext handed to one ALTS Write or TLS SSL_write call
// (ALTS: rounded down to whole sender buffers of whole frames); large, so
// per-call costs vanish, and not above kPatternSize.
constexpr size_t kSliceTarget = 4 * 1024 * 1024;
static_assert(kSliceTarget <= kPatternSize);

// kMaxBufferFlag bounds --read_buffer and --write_buffer (the pool's limit).
constexpr size_t kMaxBufferFlag = kMaxPoolBufferSize;

// kChunkHeaderRoom: SecureConnection keeps its write-queue entry in the first
// 64 bytes of each write buffer (secure_connection.cc); its sender buffers
// are that much larger so they still hold whole frames.
constexpr size_t kChunkHeaderRoom = 64;

// kSocketIoSize: bytes per send/recv for plain TCP, and per SSL_write /
// SSL_read call over the plain socket BIO (BoringSSL cuts a write into 16 KiB
// records; a read returns at most one record).
constexpr size_t kSocketIoSize = 256 * 1024;
static_assert(kSocketIoSize <= kPatternSize);

// kMaxRounds bounds --rounds: a typo must not run for hours.
constexpr int kMaxRounds = 101;

// kStallTimeout: a transfer or handshake that makes no progress for this long
// has failed; a hung peer must not hang the benchmark.
constexpr absl::Duration kStallTimeout = absl::Seconds(30);

// Buffers are the sizes given by --read_buffer and --write_buffer.
struct Buffers {
  size_t read = 0;
  size_t write = 0;
};

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
  // ArriveAndWait (sender) reports arrival and waits for Open, then notes
  // the sender thread's CPU time (see SenderCpuSeconds).
  void ArriveAndWait() {
    std::unique_lock<std::mutex> lock(mu_);
    arrived_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
    sender_cpu_start_ = ThreadCpuSeconds();
  }
  // SenderCpuSeconds (sender, after ArriveAndWait) returns the sender
  // thread's CPU time since the gate opened.
  double SenderCpuSeconds() const { return ThreadCpuSeconds() - sender_cpu_start_; }
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
  double sender_cpu_start_ = 0;  // written and read by the sender thread only
};

// Usage is a wall-clock, process CPU time and system call count reading.
struct Usage {
  std::chrono::steady_clock::time_point wall;
  double cpu_seconds = 0;
  double thread_cpu_seconds = 0;
  uint64_t syscalls = 0;

  // Now reads the clocks and, if `counter` is set, the system call count.
  static Usage Now(const SyscallCounter* counter) {
    Usage u;
    if (counter != nullptr) u.syscalls = counter->Read();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    u.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
    u.thread_cpu_seconds = ThreadCpuSeconds();
    u.wall = std::chrono::steady_clock::now();
    return u;
  }
};

// NewCounter opens a system call counter for this thread and the threads it
// starts next (the run's sender), or returns nullopt where perf events are
// unavailable.
std::optional<SyscallCounter> NewCounter() {
  absl::StatusOr<SyscallCounter> counter = SyscallCounter::Create();
  if (!counter.ok()) return std::nullopt;
  return std::move(*counter);
}

// CounterOf returns the counter in `c`, or nullptr.
const SyscallCounter* CounterOf(const std::optional<SyscallCounter>& c) {
  return c.has_value() ? &*c : nullptr;
}

// RunResult is one measured transfer.
struct RunResult {
  RunResult(std::string mode_in, size_t frame_size_in, std::string sender_in)
      : mode(std::move(mode_in)), frame_size(frame_size_in), sender(std::move(sender_in)) {}

  std::string mode;  // "tcp", "alts", "tls13_boringssl", ...
  size_t frame_size = 0;
  std::string sender;      // how the sender wrote
  uint64_t bytes = 0;      // payload bytes received and checked
  double seconds = 0;      // wall time of the transfer
  double cpu_seconds = 0;  // process CPU time over the transfer
  double sender_cpu_seconds = 0;    // the sender thread's, from the gate to its end
  double receiver_cpu_seconds = 0;  // the receiver thread's over the transfer
  uint64_t syscalls = 0;   // system calls of both threads over the transfer
  bool syscalls_counted = false;
  uint64_t errors = 0;     // failures and mismatches; 0 for a good run
  std::string first_error;
  // SecureConnection sender: short Writes after which the queue was already
  // empty, so that no OnWritable could follow (see SendWithConnection).
  uint64_t drained_short_writes = 0;

  double MbPerS() const { return seconds > 0 ? static_cast<double>(bytes) / kMegabyte / seconds : 0; }
  double CpuSPerGb() const {
    return bytes > 0 ? cpu_seconds / (static_cast<double>(bytes) / kGigabyte) : 0;
  }
  double SenderCpuSPerGb() const {
    return bytes > 0 ? sender_cpu_seconds / (static_cast<double>(bytes) / kGigabyte) : 0;
  }
  double ReceiverCpuSPerGb() const {
    return bytes > 0 ? receiver_cpu_seconds / (static_cast<double>(bytes) / kGigabyte) : 0;
  }
  double SyscallsPerMb() const {
    return bytes > 0 ? static_cast<double>(syscalls) / (static_cast<double>(bytes) / kMegabyte)
                     : 0;
  }

  void AddError(const absl::Status& status) {
    if (status.ok()) return;
    ++errors;
    if (first_error.empty()) first_error = status.ToString();
  }
  void SetTimes(const Usage& start, const Usage& end, const SyscallCounter* counter) {
    seconds = std::chrono::duration<double>(end.wall - start.wall).count();
    cpu_seconds = end.cpu_seconds - start.cpu_seconds;
    receiver_cpu_seconds = end.thread_cpu_seconds - start.thread_cpu_seconds;
    syscalls_counted = counter != nullptr;
    if (syscalls_counted) syscalls = end.syscalls - start.syscalls;
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

// IdealAead is the least an AES-128-GCM record protocol has to do: seal each
// frame once and open it once, in place, with a counter nonce, with no
// framing state, rekeying, event loop or context cache. Frames have the
// ALTS 16 KiB layout (4-byte length, 4 bytes of type, 16,360 bytes of
// plaintext, 16-byte tag), so the bytes on the wire match alts 16 KiB.
class IdealAead {
 public:
  static constexpr size_t kFrame = 16 * 1024;
  static constexpr size_t kPayload = kFrame - kFrameOverhead;

  IdealAead() {
    uint8_t key[16];
    RAND_bytes(key, sizeof(key));
    ok_ = EVP_AEAD_CTX_init(&ctx_, EVP_aead_aes_128_gcm(), key, sizeof(key),
                            EVP_AEAD_DEFAULT_TAG_LENGTH, nullptr) == 1;
    OPENSSL_cleanse(key, sizeof(key));
  }
  ~IdealAead() { EVP_AEAD_CTX_cleanup(&ctx_); }
  IdealAead(const IdealAead&) = delete;
  IdealAead& operator=(const IdealAead&) = delete;

  bool ok() const { return ok_; }

  // Seal writes the frame of `plaintext` (at most kPayload bytes) to `out`
  // (room for kFrame bytes) and returns its size, 0 on failure.
  size_t Seal(absl::Span<const uint8_t> plaintext, uint8_t* out, uint64_t counter) const {
    size_t sealed = 0;
    uint8_t nonce[kNonceSize] = {};
    memcpy(nonce, &counter, sizeof(counter));
    if (EVP_AEAD_CTX_seal(&ctx_, out + kFrameHeaderSize, &sealed, kFrame - kFrameHeaderSize, nonce,
                          sizeof(nonce), plaintext.data(), plaintext.size(), nullptr, 0) != 1) {
      return 0;
    }
    const uint32_t length = static_cast<uint32_t>(kFrameTypeFieldSize + sealed);
    memcpy(out, &length, sizeof(length));
    memset(out + kFrameLengthFieldSize, 0, kFrameTypeFieldSize);
    return kFrameLengthFieldSize + length;
  }

  // FrameSize returns the size of the frame starting at `frame` (its header
  // must be there).
  static size_t FrameSize(const uint8_t* frame) {
    uint32_t length;
    memcpy(&length, frame, sizeof(length));
    return kFrameLengthFieldSize + length;
  }

  // Open opens the whole frame `frame` in place; returns its plaintext, empty
  // on failure.
  absl::Span<const uint8_t> Open(absl::Span<uint8_t> frame, uint64_t counter) const {
    uint8_t* sealed = frame.data() + kFrameHeaderSize;
    size_t opened = 0;
    uint8_t nonce[kNonceSize] = {};
    memcpy(nonce, &counter, sizeof(counter));
    if (EVP_AEAD_CTX_open(&ctx_, sealed, &opened, frame.size() - kFrameHeaderSize, nonce,
                          sizeof(nonce), sealed, frame.size() - kFrameHeaderSize,
                          nullptr, 0) != 1) {
      return {};
    }
    return absl::MakeConstSpan(sealed, opened);
  }

 private:
  static constexpr size_t kNonceSize = 12;

  EVP_AEAD_CTX ctx_;  // read-only after init: the two threads share it
  bool ok_ = false;
};

// SendAllBlocking sends `data` whole on the blocking socket `fd`.
absl::Status SendAllBlocking(int fd, absl::Span<const uint8_t> data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoError("send");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// RunTcp measures plain TCP: blocking send() in a second thread, recv() here,
// kSocketIoSize bytes per call. With `aead` (mode tcp_aes_gcm, the ceiling of
// any AES-GCM record protocol over this kernel path) the sender seals 16 KiB
// frames into a kSocketIoSize buffer before each send and the receiver opens
// every whole frame in place after each recv (moving a partial one to the
// front of its buffer), both with IdealAead.
RunResult RunTcp(const Pattern& pattern, uint64_t total, const IdealAead* aead) {
  RunResult result(aead != nullptr ? "tcp_aes_gcm" : "tcp",
                   aead != nullptr ? IdealAead::kFrame : 0,
                   aead != nullptr ? "send(), ideal seal" : "send()");
  absl::StatusOr<SocketPair> pair = LoopbackPair();
  if (!pair.ok()) {
    result.AddError(pair.status());
    return result;
  }
  SetStallTimeouts(pair->sender.get());
  SetStallTimeouts(pair->receiver.get());
  const std::optional<SyscallCounter> counter = NewCounter();
  StartGate gate;
  absl::Status sender_status;
  std::thread sender([&] {
    const int fd = pair->sender.get();
    std::vector<uint8_t> out(aead != nullptr ? kSocketIoSize : 0);
    gate.ArriveAndWait();
    uint64_t pos = 0;
    uint64_t frames = 0;
    while (pos < total && sender_status.ok()) {
      if (aead == nullptr) {
        sender_status = SendAllBlocking(
            fd, pattern.Slice(pos, static_cast<size_t>(std::min<uint64_t>(kSocketIoSize,
                                                                          total - pos))));
        pos += std::min<uint64_t>(kSocketIoSize, total - pos);
        continue;
      }
      size_t used = 0;
      while (used + IdealAead::kFrame <= out.size() && pos < total) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(IdealAead::kPayload, total - pos));
        const size_t sealed = aead->Seal(pattern.Slice(pos, n), out.data() + used, frames++);
        if (sealed == 0) {
          sender_status = absl::InternalError("seal failed");
          break;
        }
        used += sealed;
        pos += n;
      }
      if (sender_status.ok()) {
        sender_status = SendAllBlocking(fd, absl::MakeConstSpan(out.data(), used));
      }
    }
    WaitForPeerClose(fd);
    result.sender_cpu_seconds = gate.SenderCpuSeconds();
  });

  std::vector<uint8_t> buf(kSocketIoSize + (aead != nullptr ? IdealAead::kFrame : 0));
  StreamChecker checker(pattern);
  gate.WaitForArrival();
  const Usage start = Usage::Now(CounterOf(counter));
  gate.Open();
  absl::Status receiver_status;
  size_t have = 0;  // aead: bytes of an incomplete frame at the front of buf
  uint64_t frames = 0;
  while (checker.received() < total && receiver_status.ok()) {
    const ssize_t n = recv(pair->receiver.get(), buf.data() + have, kSocketIoSize, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      receiver_status = ErrnoError("recv");
      break;
    }
    if (n == 0) break;  // early EOF: Check reports the shortfall
    if (aead == nullptr) {
      checker.Consume(absl::MakeConstSpan(buf.data(), static_cast<size_t>(n)));
      continue;
    }
    have += static_cast<size_t>(n);
    size_t at = 0;
    while (have - at >= kFrameLengthFieldSize) {
      const size_t size = IdealAead::FrameSize(buf.data() + at);
      if (size > IdealAead::kFrame || size < kMinFrameSize) {
        receiver_status = absl::DataLossError("bad frame length");
        break;
      }
      if (have - at < size) break;
      absl::Span<const uint8_t> plaintext =
          aead->Open(absl::MakeSpan(buf.data() + at, size), frames++);
      if (plaintext.empty()) {
        receiver_status = absl::DataLossError("frame failed authentication");
        break;
      }
      checker.Consume(plaintext);
      at += size;
    }
    memmove(buf.data(), buf.data() + at, have - at);
    have -= at;
  }
  const Usage end = Usage::Now(CounterOf(counter));
  pair->receiver.Reset();  // lets the sender finish
  sender.join();
  result.SetTimes(start, end, CounterOf(counter));
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

  static SenderPlan For(size_t frame_size, AltsSender kind, size_t buffer_target) {
    const size_t frames_per_buffer = std::max<size_t>(1, buffer_target / frame_size);
    const size_t plaintext_per_frame = frame_size - kFrameOverhead;
    size_t slice_frames = kSliceTarget / frame_size / frames_per_buffer * frames_per_buffer;
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
                            const Buffers& buffers, const Pattern& pattern, uint64_t total,
                            StartGate& gate) {
  const SenderPlan plan = SenderPlan::For(frame_size, AltsSender::kStream, buffers.write);
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
                                size_t frame_size, const Buffers& buffers,
                                const Pattern& pattern, uint64_t total, StartGate& gate,
                                uint64_t* drained_short_writes) {
  const SenderPlan plan = SenderPlan::For(frame_size, AltsSender::kConnection, buffers.write);
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
                  const Buffers& buffers, absl::Span<const uint8_t> key) {
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
  absl::StatusOr<std::unique_ptr<BufferPool>> pool =
      BufferPool::Create({.buffer_size = buffers.read});
  absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
  absl::StatusOr<RecordProtector> protector = MakeProtector(Side::kServer, key, frame_size);
  for (const absl::Status& s :
       {wake.status(), pool.status(), storage.status(), protector.status()}) {
    if (!s.ok()) {
      result.AddError(s);
      return result;
    }
  }
  ConnectionResources resources;  // default options: on-demand reads, --read_buffer leases
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

  const std::optional<SyscallCounter> counter = NewCounter();
  StartGate gate;
  absl::Status sender_status;
  std::thread sender([&, fd = std::move(pair->sender)]() mutable {
    sender_status =
        kind == AltsSender::kStream
            ? SendWithStream(std::move(fd), key, frame_size, buffers, pattern, total, gate)
            : SendWithConnection(std::move(fd), key, frame_size, buffers, pattern, total, gate,
                                 &result.drained_short_writes);
    result.sender_cpu_seconds = gate.SenderCpuSeconds();
  });
  gate.WaitForArrival();
  const Usage start = Usage::Now(CounterOf(counter));
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
  const Usage end = Usage::Now(CounterOf(counter));
  if (receiver.ended()) receiver_status.Update(receiver.end_status());
  conn->reset();  // closes the socket: the sender sees EOF
  sender.join();
  result.SetTimes(start, end, CounterOf(counter));
  result.AddError(receiver_status);
  result.AddError(sender_status);
  result.Check(receiver.checker(), total);
  return result;
}

// ---------------------------------------------------------------------------
// TLS 1.3 (BoringSSL).

// TlsBio is how the TLS ends reach their sockets.
enum class TlsBio { kBuffered, kSocket };

// WaitTls waits until `fd` is ready for what `r` (kWantRead / kWantWrite)
// asks for.
absl::Status WaitTls(int fd, const TlsResult& r) {
  return WaitFd(fd, r.status == TlsStatus::kWantRead ? POLLIN : POLLOUT, kStallTimeout);
}

// SendTls is the TLS sender's loop after the handshake: SSL_write of `slice`
// bytes at a time, then (buffered BIO) a flush of what is left.
absl::Status SendTls(SSL* ssl, int fd, const Pattern& pattern, uint64_t total, size_t slice) {
  uint64_t pos = 0;
  while (pos < total) {
    TlsResult r = TlsWrite(
        ssl, pattern.Slice(pos, static_cast<size_t>(std::min<uint64_t>(slice, total - pos))));
    if (r.status == TlsStatus::kDone) {
      pos += r.bytes;
      continue;
    }
    if (!r.would_block()) return absl::InternalError(absl::StrCat("SSL_write: ", r.error));
    if (absl::Status s = WaitTls(fd, r); !s.ok()) return s;
  }
  for (;;) {
    TlsResult r = FlushTls(ssl);
    if (r.status == TlsStatus::kDone) return absl::OkStatus();
    if (!r.would_block()) return absl::InternalError(absl::StrCat("flush: ", r.error));
    if (absl::Status s = WaitTls(fd, r); !s.ok()) return s;
  }
}

// RunTls measures TLS 1.3 over `bio`: both handshakes (client in the sender
// thread, server here) are done before the clock starts.
RunResult RunTls(const Pattern& pattern, uint64_t total, const TlsCredentials& credentials,
                 TlsBio bio, const Buffers& buffers) {
  RunResult result(bio == TlsBio::kBuffered ? "tls13_boringssl" : "tls13_boringssl_socket_bio",
                   kTlsRecordSize,
                   bio == TlsBio::kBuffered ? "SSL_write, buffered BIO" : "SSL_write");
  const BufferedBioOptions bio_options{.read_ahead = buffers.read,
                                       .write_coalesce = buffers.write};
  // The same plaintext per write call as ALTS when batching alike; 256 KiB
  // over the socket BIO, where BoringSSL writes every record at once anyway.
  const size_t slice = bio == TlsBio::kBuffered ? kSliceTarget : kSocketIoSize;
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> server_ctx = NewTlsServerContext(credentials);
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> client_ctx = NewTlsClientContext(credentials);
  absl::StatusOr<SocketPair> pair = LoopbackPair();
  for (const absl::Status& s : {server_ctx.status(), client_ctx.status(), pair.status()}) {
    if (!s.ok()) {
      result.AddError(s);
      return result;
    }
  }
  // NewSsl makes one end's SSL object over `fd` with the run's BIO.
  auto new_ssl = [&](SSL_CTX* ctx, int fd, TlsRole role) -> absl::StatusOr<bssl::UniquePtr<SSL>> {
    absl::StatusOr<bssl::UniquePtr<SSL>> ssl = NewTlsConnection(ctx, fd, role);
    if (!ssl.ok() || bio == TlsBio::kSocket) return ssl;
    if (absl::Status s = AttachBufferedBio(ssl->get(), fd, bio_options); !s.ok()) return s;
    return ssl;
  };

  const std::optional<SyscallCounter> counter = NewCounter();
  StartGate gate;
  absl::Status sender_status;
  std::thread sender([&] {
    const int fd = pair->sender.get();
    absl::StatusOr<bssl::UniquePtr<SSL>> ssl = new_ssl(client_ctx->get(), fd, TlsRole::kClient);
    absl::Status setup = ssl.ok() ? DriveTlsHandshake(ssl->get(), kStallTimeout) : ssl.status();
    if (!setup.ok()) pair->sender.Reset();  // the receiver's handshake fails at once
    gate.ArriveAndWait();
    if (!setup.ok()) {
      sender_status = setup;
      return;
    }
    sender_status = SendTls(ssl->get(), fd, pattern, total, slice);
    WaitForPeerClose(fd);
    result.sender_cpu_seconds = gate.SenderCpuSeconds();
  });

  const int fd = pair->receiver.get();
  absl::StatusOr<bssl::UniquePtr<SSL>> ssl = new_ssl(server_ctx->get(), fd, TlsRole::kServer);
  absl::Status receiver_status =
      ssl.ok() ? DriveTlsHandshake(ssl->get(), kStallTimeout) : ssl.status();
  if (!receiver_status.ok()) pair->receiver.Reset();  // the sender's handshake fails
  std::vector<uint8_t> buf(kSocketIoSize);
  StreamChecker checker(pattern);
  gate.WaitForArrival();
  const Usage start = Usage::Now(CounterOf(counter));
  gate.Open();
  while (receiver_status.ok() && checker.received() < total) {
    TlsResult r = TlsRead(ssl->get(), absl::MakeSpan(buf));
    if (r.status == TlsStatus::kDone) {
      checker.Consume(absl::MakeConstSpan(buf.data(), r.bytes));
    } else if (r.would_block()) {
      receiver_status = WaitTls(fd, r);
    } else if (r.status == TlsStatus::kClosed) {
      break;  // early end: Check reports the shortfall
    } else {
      receiver_status = absl::InternalError(absl::StrCat("SSL_read: ", r.error));
    }
  }
  const Usage end = Usage::Now(CounterOf(counter));
  if (ssl.ok()) ssl->reset();
  pair->receiver.Reset();
  sender.join();
  result.SetTimes(start, end, CounterOf(counter));
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

// ModeKind is what a mode runs.
enum class ModeKind { kTcp, kTcpAesGcm, kAlts, kTlsBuffered, kTlsSocketBio };

// Mode is one row of the table: a flag name, what it runs, the frame size.
struct Mode {
  const char* flag;
  ModeKind kind;
  size_t frame_size;
};

// kModes lists every mode in the order a round runs them.
constexpr Mode kModes[] = {
    {"tcp", ModeKind::kTcp, 0},
    {"tcp_aes_gcm", ModeKind::kTcpAesGcm, IdealAead::kFrame},
    {"alts_16k", ModeKind::kAlts, 16 * 1024},
    {"tls", ModeKind::kTlsBuffered, kTlsRecordSize},
    {"alts_64k", ModeKind::kAlts, 64 * 1024},
    {"alts_1m", ModeKind::kAlts, kMaxMaxFrameSize},
    {"tls_socket_bio", ModeKind::kTlsSocketBio, kTlsRecordSize},
};

// ModeRuns collects one mode's runs.
struct ModeRuns {
  const Mode* mode = nullptr;
  std::vector<RunResult> runs;

  const RunResult& first() const { return runs.front(); }
  uint64_t errors() const {
    uint64_t e = 0;
    for (const RunResult& r : runs) e += r.errors;
    return e;
  }
  bool syscalls_counted() const {
    return std::all_of(runs.begin(), runs.end(),
                       [](const RunResult& r) { return r.syscalls_counted; });
  }
  // Figure returns the median over the runs of `f`.
  template <typename F>
  double Figure(F f) const {
    std::vector<double> v;
    for (const RunResult& r : runs) v.push_back(f(r));
    return MedianOf(v);
  }
  double MbPerS() const { return Figure([](const RunResult& r) { return r.MbPerS(); }); }
  double CpuSPerGb() const { return Figure([](const RunResult& r) { return r.CpuSPerGb(); }); }
  double SenderCpuSPerGb() const {
    return Figure([](const RunResult& r) { return r.SenderCpuSPerGb(); });
  }
  double ReceiverCpuSPerGb() const {
    return Figure([](const RunResult& r) { return r.ReceiverCpuSPerGb(); });
  }
  double SyscallsPerMb() const {
    return Figure([](const RunResult& r) { return r.SyscallsPerMb(); });
  }
  double MinMbPerS() const {
    double m = runs.front().MbPerS();
    for (const RunResult& r : runs) m = std::min(m, r.MbPerS());
    return m;
  }
  double MaxMbPerS() const {
    double m = 0;
    for (const RunResult& r : runs) m = std::max(m, r.MbPerS());
    return m;
  }
};

// PairedRatio returns the median over rounds of a's MB/s over b's in the
// same round (robust to load that shifts whole rounds), 0 if either is empty.
double PairedRatio(const ModeRuns& a, const ModeRuns& b) {
  std::vector<double> ratios;
  for (size_t i = 0; i < a.runs.size() && i < b.runs.size(); ++i) {
    if (b.runs[i].MbPerS() > 0) ratios.push_back(a.runs[i].MbPerS() / b.runs[i].MbPerS());
  }
  return MedianOf(ratios);
}

// Main runs every mode --rounds times, prints the table and writes the JSON.
// Returns 1 if any transfer failed or was corrupted, 2 for bad flags.
int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const uint64_t total = absl::GetFlag(FLAGS_bytes);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  const std::string sender_flag = absl::GetFlag(FLAGS_alts_sender);
  const Buffers buffers{.read = static_cast<size_t>(absl::GetFlag(FLAGS_read_buffer)),
                        .write = static_cast<size_t>(absl::GetFlag(FLAGS_write_buffer))};
  const std::vector<std::string> wanted = absl::GetFlag(FLAGS_modes);
  std::vector<ModeRuns> modes;
  for (const Mode& mode : kModes) {
    if (wanted.empty() || std::find(wanted.begin(), wanted.end(), mode.flag) != wanted.end()) {
      modes.push_back(ModeRuns{.mode = &mode, .runs = {}});
    }
  }
  for (const std::string& w : wanted) {
    if (std::none_of(std::begin(kModes), std::end(kModes),
                     [&](const Mode& m) { return w == m.flag; })) {
      std::fprintf(stderr, "throughput: unknown mode '%s' in --modes\n", w.c_str());
      return 2;
    }
  }
  if ((sender_flag != "connection" && sender_flag != "stream") || total == 0 || rounds < 1 ||
      rounds > kMaxRounds || buffers.read < 2 * kMinFrameSize + 64 || buffers.write < 1 ||
      buffers.read > kMaxBufferFlag || buffers.write > kMaxBufferFlag) {
    std::fprintf(stderr,
                 "throughput: --bytes must be positive, --rounds in [1, %d], --alts_sender "
                 "connection or stream, --read_buffer and --write_buffer in [%zu, %zu]\n",
                 kMaxRounds, 2 * kMinFrameSize + 64, kMaxBufferFlag);
    return 2;
  }
  const AltsSender sender = sender_flag == "stream" ? AltsSender::kStream : AltsSender::kConnection;

  const Pattern pattern;
  const IdealAead ideal;
  if (!ideal.ok()) {
    std::fprintf(stderr, "throughput: EVP_AEAD_CTX_init failed\n");
    return 1;
  }
  std::vector<uint8_t> key(RecordKeySize(RecordProtocol::kAes128GcmRekey));
  RAND_bytes(key.data(), key.size());
  absl::StatusOr<TlsCredentials> credentials = GenerateTlsCredentials();
  if (!credentials.ok()) {
    std::fprintf(stderr, "throughput: %s\n", credentials.status().ToString().c_str());
    return 1;
  }

  ProgressLine progress("ran", "transfers", static_cast<uint64_t>(rounds) * modes.size());
  uint64_t done = 0;
  for (int round = 0; round < rounds; ++round) {
    for (size_t k = 0; k < modes.size(); ++k) {
      // Odd rounds run the modes in reverse order.
      ModeRuns& m = modes[round % 2 == 0 ? k : modes.size() - 1 - k];
      switch (m.mode->kind) {
        case ModeKind::kTcp:
          m.runs.push_back(RunTcp(pattern, total, nullptr));
          break;
        case ModeKind::kTcpAesGcm:
          m.runs.push_back(RunTcp(pattern, total, &ideal));
          break;
        case ModeKind::kAlts:
          m.runs.push_back(RunAlts(pattern, total, m.mode->frame_size, sender, buffers, key));
          break;
        case ModeKind::kTlsBuffered:
          m.runs.push_back(RunTls(pattern, total, *credentials, TlsBio::kBuffered, buffers));
          break;
        case ModeKind::kTlsSocketBio:
          m.runs.push_back(RunTls(pattern, total, *credentials, TlsBio::kSocket, buffers));
          break;
      }
      progress.Update(++done);
    }
  }
  progress.Finish();
  OPENSSL_cleanse(key.data(), key.size());

  TablePrinter table({"mode", "frame", "sender", "MB/s", "(min-max)", "CPU s/GB", "send/recv",
                      "syscalls/MB", "errors"});
  (void)table.SetAlign(1, TablePrinter::Align::kRight);
  (void)table.SetAlign(2, TablePrinter::Align::kLeft);
  JsonResults json;
  uint64_t errors = 0;
  const ModeRuns* tcp = nullptr;
  const ModeRuns* ideal_aead = nullptr;
  const ModeRuns* alts16 = nullptr;
  const ModeRuns* best_alts = nullptr;
  const ModeRuns* tls = nullptr;
  for (const ModeRuns& m : modes) {
    const RunResult& r = m.first();
    errors += m.errors();
    const std::string syscalls =
        m.syscalls_counted() ? absl::StrFormat("%.1f", m.SyscallsPerMb()) : std::string("-");
    (void)table.AddRow({r.mode, FormatFrame(r.frame_size), r.sender,
                        absl::StrFormat("%.1f", m.MbPerS()),
                        absl::StrFormat("%.0f-%.0f", m.MinMbPerS(), m.MaxMbPerS()),
                        absl::StrFormat("%.3f", m.CpuSPerGb()),
                        absl::StrFormat("%.3f/%.3f", m.SenderCpuSPerGb(), m.ReceiverCpuSPerGb()),
                        syscalls,
                        absl::StrCat(m.errors())});
    JsonRow row;
    row.AddString("mode", r.mode)
        .AddUint("frame_size", r.frame_size)
        .AddDouble("mb_per_s", m.MbPerS())
        .AddDouble("cpu_s_per_gb", m.CpuSPerGb())
        .AddString("sender", r.sender)
        .AddUint("bytes", r.bytes)
        .AddUint("runs", m.runs.size())
        .AddUint("errors", m.errors());
    row.AddDouble("sender_cpu_s_per_gb", m.SenderCpuSPerGb())
        .AddDouble("receiver_cpu_s_per_gb", m.ReceiverCpuSPerGb());
    if (m.syscalls_counted()) row.AddDouble("syscalls_per_mb", m.SyscallsPerMb());
    json.Add(std::move(row));
    if (m.errors() != 0) continue;
    if (r.mode == "tcp") tcp = &m;
    if (r.mode == "tcp_aes_gcm") ideal_aead = &m;
    if (r.mode == "tls13_boringssl") tls = &m;
    if (r.mode == "alts") {
      if (r.frame_size == 16 * 1024) alts16 = &m;
      if (best_alts == nullptr || m.MbPerS() > best_alts->MbPerS()) best_alts = &m;
    }
  }
  std::printf(
      "throughput: %s bytes one way per run over 127.0.0.1, median of %d alternating runs per "
      "mode\n  MB/s: 10^6 bytes of plaintext per wall second; CPU s/GB: user + system time "
      "of both threads (getrusage) per 10^9 bytes; syscalls/MB: system calls of both threads "
      "(perf tracepoint raw_syscalls:sys_enter) per 10^6 bytes\n  ALTS receiver reads %zu "
      "bytes per recv (pool buffer), sender %s sends up to %zu bytes per call; TLS "
      "buffered BIO: %zu bytes read ahead, %zu coalesced per send\n",
      absl::StrCat(total).c_str(), rounds, buffers.read,
      sender == AltsSender::kStream ? "SecureStream" : "SecureConnection", buffers.write,
      buffers.read, buffers.write);
  table.Print(stdout);
  if (alts16 != nullptr && tls != nullptr && tls->MbPerS() > 0 && alts16->CpuSPerGb() > 0) {
    const double ratio = alts16->MbPerS() / tls->MbPerS();
    std::printf(
        "ALTS 16 KiB frames vs TLS 1.3 16 KiB records (same batching): %.2fx the throughput "
        "(median of per-round ratios %.2fx; goal >= 1.2x: %s), %.2fx less CPU per GB\n",
        ratio, PairedRatio(*alts16, *tls), ratio >= 1.2 ? "met" : "NOT met",
        tls->CpuSPerGb() / alts16->CpuSPerGb());
  }
  if (best_alts != nullptr && tcp != nullptr && tcp->MbPerS() > 0) {
    const double ratio = best_alts->MbPerS() / tcp->MbPerS();
    std::printf(
        "best ALTS (%s frames) vs plain TCP: %.0f%% of its throughput (median of per-round "
        "ratios %.0f%%; goal >= 90%%: %s)\n",
        FormatFrame(best_alts->first().frame_size).c_str(), 100 * ratio,
        100 * PairedRatio(*best_alts, *tcp), ratio >= 0.9 ? "met" : "NOT met");
  }
  if (ideal_aead != nullptr && ideal_aead->MbPerS() > 0) {
    // What the goals above would need of any AES-GCM record protocol here.
    if (tcp != nullptr && tcp->MbPerS() > 0) {
      std::printf("ceiling: seal + open with nothing else (tcp_aes_gcm) reaches %.0f%% of plain "
                  "TCP (median of per-round ratios %.0f%%)",
                  100 * ideal_aead->MbPerS() / tcp->MbPerS(),
                  100 * PairedRatio(*ideal_aead, *tcp));
      if (tls != nullptr && tls->MbPerS() > 0) {
        std::printf(" and %.2fx TLS 16 KiB", ideal_aead->MbPerS() / tls->MbPerS());
      }
      std::printf("\n");
    }
    if (alts16 != nullptr) {
      std::printf("ALTS 16 KiB frames reach %.0f%% of that ceiling (median of per-round ratios "
                  "%.0f%%)\n",
                  100 * alts16->MbPerS() / ideal_aead->MbPerS(),
                  100 * PairedRatio(*alts16, *ideal_aead));
    }
  }
  for (const ModeRuns& m : modes) {
    uint64_t drained = 0;
    for (const RunResult& r : m.runs) {
      drained += r.drained_short_writes;
      if (r.errors > 0) {
        std::fprintf(stderr, "throughput: %s %s (%s): %s\n", r.mode.c_str(),
                     FormatFrame(r.frame_size).c_str(), r.sender.c_str(), r.first_error.c_str());
      }
    }
    if (drained > 0) {
      std::printf("note: alts %s: %llu Writes fell short with nothing left queued, so no "
                  "OnWritable followed; the sender wrote again at once\n",
                  FormatFrame(m.first().frame_size).c_str(),
                  static_cast<unsigned long long>(drained));
    }
  }
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty() && !WriteJsonResults(json, json_path, "throughput")) return 1;
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
