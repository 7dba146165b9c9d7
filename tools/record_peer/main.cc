// record_peer: one end of an ALTS record-protocol connection over plain TCP,
// with a fixed key instead of a handshake. Used to check that this project's
// record layer and another ALTS implementation understand each other's bytes
// (see docs/interop.md), and by tests/tools/record_peer_test.cc.
//
//   record_peer (--listen HOST:PORT | --connect HOST:PORT) --key HEX
//               [--protocol ALTSRP_GCM_AES128_REKEY|ALTSRP_GCM_AES128]
//               [--mode echo|check] [--bytes N] [--chunk N]
//               [--frame-size N] [--seed S]
//   record_peer --version     prints "record_peer <version>"
//
// --listen is the server side of the record protocol, --connect the client.
// echo: sends back, frame by frame, every plaintext byte received until the
//       peer closes between frames; prints "ECHOED <n>".
// check: sends --bytes pseudo-random bytes (a function of --seed) in chunks of
//       random size 1..--chunk, each chunk sealed on its own, while reading
//       the echo and comparing it byte for byte; prints "CHECKED <n>".
//
// Exit status: 0 success, 1 any failure (message on stderr), 2 usage error.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "alts/record_protocol.h"
#include "alts_ondemand/version.h"
#include "frame/frame_format.h"
#include "openssl/mem.h"

namespace alts {
namespace {

// kExitFailure is the exit status for any failure after the arguments parsed.
constexpr int kExitFailure = 1;
// kExitUsage is the exit status for a malformed command line.
constexpr int kExitUsage = 2;

// kIoBufferSize is the initial read buffer and the echo send batch: large
// enough that a socket call moves many small frames, small enough to be
// negligible. The read buffer only grows to hold one larger frame.
constexpr size_t kIoBufferSize = 64 * 1024;
// kMinReadRoom: below this much free tail space the read buffer is compacted
// first, so reads stay large instead of nibbling a few bytes at a time.
constexpr size_t kMinReadRoom = 4 * 1024;
// kDefaultChunk is the default largest check-mode chunk.
constexpr uint64_t kDefaultChunk = 64 * 1024;
// kMaxChunk bounds --chunk: check mode holds one chunk and its sealed form
// in memory at once.
constexpr uint64_t kMaxChunk = 16 * 1024 * 1024;
// kDefaultBytes is how much check mode sends when --bytes is not given.
constexpr uint64_t kDefaultBytes = 1024 * 1024;
// kWriteBurst caps the bytes check mode writes before it reads again, so a
// fast writer never starves the echo reader.
constexpr size_t kWriteBurst = 256 * 1024;
// kConnectRetryWindow is how long --connect keeps retrying, so both peers can
// be started at the same time in any order.
constexpr std::chrono::seconds kConnectRetryWindow{5};
// kConnectRetryInterval is the pause between connect attempts.
constexpr std::chrono::milliseconds kConnectRetryInterval{50};

// kUsage is printed after every usage error, and alone for --help.
constexpr char kUsage[] =
    "usage: record_peer (--listen HOST:PORT | --connect HOST:PORT) --key HEX\n"
    "                   [--protocol "
    "ALTSRP_GCM_AES128_REKEY|ALTSRP_GCM_AES128]\n"
    "                   [--mode echo|check] [--bytes N] [--chunk N]\n"
    "                   [--frame-size N] [--seed S]\n"
    "  --listen HOST:PORT  accept one connection; server side. Port 0 picks a\n"
    "                      free port; prints 'LISTENING host:port' first.\n"
    "  --connect HOST:PORT connect (retrying for 5 s); client side.\n"
    "  --key HEX           record key: at least 32 hex digits for\n"
    "                      ALTSRP_GCM_AES128, 88 for ALTSRP_GCM_AES128_REKEY;\n"
    "                      longer keys are truncated.\n"
    "  --protocol P        record protocol (default ALTSRP_GCM_AES128_REKEY).\n"
    "  --mode echo|check   echo received bytes back, or send --bytes\n"
    "                      pseudo-random bytes and verify their echo\n"
    "                      (default echo).\n"
    "  --bytes N           check mode: bytes to send (default 1048576).\n"
    "  --chunk N           check mode: largest chunk, 1..16777216\n"
    "                      (default 65536).\n"
    "  --frame-size N      largest frame sent, 48..1048576 (default 16384).\n"
    "  --seed S            check mode: data and chunk-size seed (default 1).\n";

// Mode is what the tool does once connected (--mode).
enum class Mode { kEcho, kCheck };

// Options is the parsed command line. Move-only; wipes the key when it dies.
struct Options {
  bool listen = false;
  std::string host;
  std::string port;
  std::vector<uint8_t> key;
  RecordProtocol protocol = RecordProtocol::kAes128GcmRekey;
  Mode mode = Mode::kEcho;
  uint64_t bytes = kDefaultBytes;
  uint64_t chunk = kDefaultChunk;
  size_t frame_size = kDefaultMaxFrameSize;
  uint64_t seed = 1;

  Options() = default;
  Options(const Options&) = delete;
  Options& operator=(const Options&) = delete;
  Options(Options&&) = default;
  Options& operator=(Options&&) = default;
  ~Options() { OPENSSL_cleanse(key.data(), key.size()); }
};

// SplitHostPort splits "host:port" or "[v6addr]:port" into `host` and
// `port`. Returns kInvalidArgument if either part is missing or the port is
// not a number in [0, 65535].
absl::Status SplitHostPort(absl::string_view text, std::string& host,
                           std::string& port) {
  size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos || colon + 1 == text.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected HOST:PORT, got '", text, "'"));
  }
  absl::string_view h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
  }
  uint32_t port_number = 0;
  if (h.empty() || !absl::SimpleAtoi(text.substr(colon + 1), &port_number) ||
      port_number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected HOST:PORT, got '", text, "'"));
  }
  host = std::string(h);
  port = std::to_string(port_number);
  return absl::OkStatus();
}

// HexNibble returns the value of hex digit `c`, or -1 if it is not one.
int HexNibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// ParseHexKey decodes `hex` into `key`. Returns kInvalidArgument for an odd
// length or a non-hex digit (and leaves `key` empty).
absl::Status ParseHexKey(absl::string_view hex, std::vector<uint8_t>& key) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError("--key: odd number of hex digits");
  }
  key.assign(hex.size() / 2, 0);
  for (size_t i = 0; i < key.size(); ++i) {
    int hi = HexNibble(hex[2 * i]);
    int lo = HexNibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      OPENSSL_cleanse(key.data(), key.size());
      key.clear();
      return absl::InvalidArgumentError("--key: not a hex string");
    }
    key[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return absl::OkStatus();
}

// ParseCount parses a decimal integer in [min, max] into `out`. Returns
// kInvalidArgument naming `flag` otherwise.
absl::Status ParseCount(absl::string_view flag, absl::string_view text,
                        uint64_t min, uint64_t max, uint64_t& out) {
  if (!absl::SimpleAtoi(text, &out) || out < min || out > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": expected an integer in [", min, ", ", max,
                     "], got '", text, "'"));
  }
  return absl::OkStatus();
}

// ParseArgs parses argv. Returns kInvalidArgument describing the first
// problem; the caller prints it with the usage text and exits kExitUsage.
absl::StatusOr<Options> ParseArgs(int argc, char** argv) {
  Options options;
  std::optional<std::string> listen, connect, key_hex, protocol;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg.substr(0, 2) != "--") {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "'"));
    }
    absl::string_view name = arg;
    absl::string_view value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    } else if (i + 1 < argc) {
      value = argv[i + 1];
    }
    static constexpr absl::string_view kFlags[] = {
        "--listen", "--connect", "--key",        "--protocol", "--mode",
        "--bytes",  "--chunk",   "--frame-size", "--seed"};
    if (std::find(std::begin(kFlags), std::end(kFlags), name) ==
        std::end(kFlags)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag '", name, "'"));
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
      }
      ++i;
    }
    if (name == "--listen") {
      listen = std::string(value);
    } else if (name == "--connect") {
      connect = std::string(value);
    } else if (name == "--key") {
      key_hex = std::string(value);
    } else if (name == "--protocol") {
      protocol = std::string(value);
    } else if (name == "--mode") {
      if (value == "echo") {
        options.mode = Mode::kEcho;
      } else if (value == "check") {
        options.mode = Mode::kCheck;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("--mode: expected echo or check, got '", value, "'"));
      }
    } else if (name == "--bytes") {
      absl::Status s = ParseCount(name, value, 0, UINT64_MAX, options.bytes);
      if (!s.ok()) return s;
    } else if (name == "--chunk") {
      absl::Status s = ParseCount(name, value, 1, kMaxChunk, options.chunk);
      if (!s.ok()) return s;
    } else if (name == "--frame-size") {
      uint64_t frame_size = 0;
      absl::Status s = ParseCount(name, value, kMinMaxFrameSize,
                                  kMaxMaxFrameSize, frame_size);
      if (!s.ok()) return s;
      options.frame_size = static_cast<size_t>(frame_size);
    } else if (name == "--seed") {
      absl::Status s = ParseCount(name, value, 0, UINT64_MAX, options.seed);
      if (!s.ok()) return s;
    }
  }

  if (listen.has_value() == connect.has_value()) {
    return absl::InvalidArgumentError(
        "exactly one of --listen and --connect is required");
  }
  options.listen = listen.has_value();
  absl::Status s = SplitHostPort(options.listen ? *listen : *connect,
                                 options.host, options.port);
  if (!s.ok()) return s;

  if (protocol.has_value()) {
    absl::StatusOr<RecordProtocol> parsed =
        ParseRecordProtocol(std::string_view(*protocol));
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--protocol: unknown record protocol '", *protocol,
                       "' (ALTSRP_GCM_AES128_REKEY or ALTSRP_GCM_AES128)"));
    }
    options.protocol = *parsed;
  }

  if (!key_hex.has_value()) {
    return absl::InvalidArgumentError("--key is required");
  }
  s = ParseHexKey(*key_hex, options.key);
  OPENSSL_cleanse(key_hex->data(), key_hex->size());
  if (!s.ok()) return s;
  size_t key_size = RecordKeySize(options.protocol);
  std::string_view protocol_name = RecordProtocolName(options.protocol);
  if (options.key.size() < key_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--key: ",
        absl::string_view(protocol_name.data(), protocol_name.size()),
        " needs ", 2 * key_size, " hex digits, got ", 2 * options.key.size()));
  }
  return options;
}

// UniqueFd owns a file descriptor and closes it when it dies.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// AddrInfoList owns a getaddrinfo result.
class AddrInfoList {
 public:
  explicit AddrInfoList(addrinfo* list) : list_(list) {}
  AddrInfoList(AddrInfoList&& other) noexcept
      : list_(std::exchange(other.list_, nullptr)) {}
  AddrInfoList& operator=(AddrInfoList&&) = delete;
  AddrInfoList(const AddrInfoList&) = delete;
  AddrInfoList& operator=(const AddrInfoList&) = delete;
  ~AddrInfoList() {
    if (list_ != nullptr) freeaddrinfo(list_);
  }
  const addrinfo* get() const { return list_; }

 private:
  addrinfo* list_;
};

// Resolve looks up options.host:options.port for a stream socket (passive
// for --listen). Returns kInvalidArgument if the name does not resolve.
absl::StatusOr<AddrInfoList> Resolve(const Options& options) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG | (options.listen ? AI_PASSIVE : 0);
  addrinfo* list = nullptr;
  int rc =
      getaddrinfo(options.host.c_str(), options.port.c_str(), &hints, &list);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve ", options.host, ":", options.port, ": ",
                     gai_strerror(rc)));
  }
  return AddrInfoList(list);
}

// FormatAddress returns "host:port" ("[v6addr]:port" for IPv6), numeric.
std::string FormatAddress(const sockaddr* addr, socklen_t len) {
  char host[NI_MAXHOST];
  char port[NI_MAXSERV];
  if (getnameinfo(addr, len, host, sizeof(host), port, sizeof(port),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  if (addr->sa_family == AF_INET6) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

// SetNoDelay turns off Nagle's algorithm on a connected socket.
void SetNoDelay(int fd) {
  // The tool trades packet count for latency: small chunks go out at once
  // instead of waiting on the peer's delayed ACK.
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// ListenAndAccept binds, prints "LISTENING host:port" on stdout, accepts one
// connection and closes the listening socket.
absl::StatusOr<UniqueFd> ListenAndAccept(const Options& options) {
  absl::StatusOr<AddrInfoList> addrs = Resolve(options);
  if (!addrs.ok()) return addrs.status();
  absl::Status last = absl::UnavailableError("no address to listen on");
  for (const addrinfo* ai = addrs->get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd listener(
        socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (listener.get() < 0) {
      last = absl::ErrnoToStatus(errno, "socket");
      continue;
    }
    int one = 1;
    setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(listener.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      last = absl::ErrnoToStatus(
          errno, absl::StrCat("bind ", options.host, ":", options.port));
      continue;
    }
    if (listen(listener.get(), 1) != 0) {
      last = absl::ErrnoToStatus(errno, "listen");
      continue;
    }
    sockaddr_storage bound{};
    socklen_t bound_len = sizeof(bound);
    if (getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound),
                    &bound_len) != 0) {
      return absl::ErrnoToStatus(errno, "getsockname");
    }
    std::printf(
        "LISTENING %s\n",
        FormatAddress(reinterpret_cast<sockaddr*>(&bound), bound_len).c_str());
    std::fflush(stdout);
    while (true) {
      int fd = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        SetNoDelay(fd);
        return UniqueFd(fd);
      }
      if (errno != EINTR && errno != ECONNABORTED) {
        return absl::ErrnoToStatus(errno, "accept");
      }
    }
  }
  return last;
}

// IsSelfConnected reports whether a loopback connect to an unused port in
// the ephemeral range picked that same port as its source: TCP then connects
// the socket to itself, and the peer would read its own frames back.
bool IsSelfConnected(int fd) {
  sockaddr_storage local{};
  sockaddr_storage peer{};
  socklen_t local_len = sizeof(local);
  socklen_t peer_len = sizeof(peer);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
      getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
    return false;
  }
  return local_len == peer_len && std::memcmp(&local, &peer, local_len) == 0;
}

// ConnectWithRetry connects to the peer, retrying refused or unreachable
// attempts for kConnectRetryWindow.
absl::StatusOr<UniqueFd> ConnectWithRetry(const Options& options) {
  const auto deadline = std::chrono::steady_clock::now() + kConnectRetryWindow;
  absl::Status last = absl::UnavailableError("no address to connect to");
  while (true) {
    absl::StatusOr<AddrInfoList> addrs = Resolve(options);
    if (addrs.ok()) {
      for (const addrinfo* ai = addrs->get(); ai != nullptr; ai = ai->ai_next) {
        UniqueFd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                           ai->ai_protocol));
        if (fd.get() < 0) {
          last = absl::ErrnoToStatus(errno, "socket");
          continue;
        }
        int rc;
        do {
          rc = connect(fd.get(), ai->ai_addr, ai->ai_addrlen);
        } while (rc != 0 && errno == EINTR);
        if (rc == 0 && IsSelfConnected(fd.get())) {
          last = absl::UnavailableError(
              absl::StrCat("connect to ", options.host, ":", options.port,
                           ": connected to itself (nobody listening)"));
          continue;
        }
        if (rc == 0) {
          SetNoDelay(fd.get());
          return fd;
        }
        last = absl::ErrnoToStatus(
            errno,
            absl::StrCat("connect to ", options.host, ":", options.port));
      }
    } else {
      last = addrs.status();
    }
    if (std::chrono::steady_clock::now() >= deadline) return last;
    std::this_thread::sleep_for(kConnectRetryInterval);
  }
}

// SplitMix64 is a small deterministic PRNG: the same seed gives the same
// stream on every platform, so a peer can regenerate what was sent.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

// ByteStream is the check-mode payload: the little-endian bytes of a
// SplitMix64 sequence, identical however it is cut into pieces.
class ByteStream {
 public:
  explicit ByteStream(uint64_t seed) : rng_(seed) {}
  void Fill(absl::Span<uint8_t> out) {
    for (uint8_t& b : out) {
      if (left_ == 0) {
        word_ = rng_.Next();
        left_ = 8;
      }
      b = static_cast<uint8_t>(word_);
      word_ >>= 8;
      --left_;
    }
  }

 private:
  SplitMix64 rng_;
  uint64_t word_ = 0;
  int left_ = 0;
};

// PlaintextSink receives each non-empty frame plaintext, in order.
using PlaintextSink =
    absl::FunctionRef<absl::Status(absl::Span<const uint8_t>)>;

// ReadOutcome is the non-error result of FrameReader::ReadOnce.
enum class ReadOutcome {
  kProgress,    // bytes arrived (and every complete frame was delivered)
  kWouldBlock,  // non-blocking socket with nothing to read
  kEof,         // the peer closed between frames
  kReset,       // the peer reset the connection
};

// WithContext returns `status` with the same code and the message
// "<context>: <CODE>: <message>", the form record_peer prints.
absl::Status WithContext(absl::string_view context,
                         const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(context, ": ", status.ToString()));
}

// IoError returns the status for a failed socket call.
absl::Status IoError(int error, absl::string_view what) {
  return WithContext("connection failed", absl::ErrnoToStatus(error, what));
}

// IsConnectionLost reports whether a send error means the peer is gone.
bool IsConnectionLost(int error) {
  return error == EPIPE || error == ECONNRESET;
}

// FrameReader reads the peer's byte stream into one reusable buffer and opens
// every complete frame in place. The buffer starts at kIoBufferSize and only
// grows to hold one larger frame (at most kMaxFrameSize).
class FrameReader {
 public:
  explicit FrameReader(RecordProtector& protector)
      : protector_(protector), buffer_(kIoBufferSize) {}

  // ReadOnce does one read() and hands the plaintext of every frame it
  // completes to `sink`. Returns kEof when the peer closed between frames;
  // a close inside a frame is kDataLoss ("truncated frame at EOF"). A frame
  // the protector rejects returns its status, prefixed with "frame from peer
  // rejected: ". A sink error is returned as is; other read errors as
  // IoError.
  absl::StatusOr<ReadOutcome> ReadOnce(int fd, PlaintextSink sink) {
    ssize_t n;
    do {
      n = read(fd, buffer_.data() + end_, buffer_.size() - end_);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return ReadOutcome::kWouldBlock;
      if (errno == ECONNRESET) return ReadOutcome::kReset;
      return IoError(errno, "read from peer");
    }
    if (n == 0) {
      if (end_ != start_) {
        std::string frame =
            pending_frame_size_ == 0
                ? std::string("frame")
                : absl::StrCat(pending_frame_size_, "-byte frame");
        return Rejected(absl::DataLossError(
            absl::StrCat("truncated frame at EOF: got ", end_ - start_,
                         " bytes of a ", frame)));
      }
      return ReadOutcome::kEof;
    }
    end_ += static_cast<size_t>(n);
    absl::Status s = OpenBuffered(sink);
    if (!s.ok()) return s;
    return ReadOutcome::kProgress;
  }

  uint64_t frames_opened() const { return frames_opened_; }

 private:
  static absl::Status Rejected(const absl::Status& status) {
    return WithContext("frame from peer rejected", status);
  }

  absl::Status OpenBuffered(PlaintextSink sink) {
    while (true) {
      absl::StatusOr<OpenResult> result = protector_.OpenNext(
          absl::MakeSpan(buffer_).subspan(start_, end_ - start_));
      if (!result.ok()) return Rejected(result.status());
      if (result->consumed == 0) {
        pending_frame_size_ = result->pending_frame_size;
        break;
      }
      start_ += result->consumed;
      pending_frame_size_ = 0;
      ++frames_opened_;
      if (!result->plaintext.empty()) {
        absl::Status s = sink(result->plaintext);
        if (!s.ok()) return s;
      }
      if (start_ == end_) break;
    }
    MakeRoom();
    return absl::OkStatus();
  }

  // MakeRoom ensures the partial frame at [start_, end_) can be completed in
  // place, compacting or growing the buffer as needed.
  void MakeRoom() {
    size_t buffered = end_ - start_;
    if (buffered == 0) {
      start_ = end_ = 0;
      return;
    }
    // The frame being assembled: its exact size once the length field is in,
    // otherwise enough for the length field itself.
    size_t need = std::max(pending_frame_size_, kFrameLengthFieldSize);
    if (start_ + need > buffer_.size() ||
        buffer_.size() - end_ < kMinReadRoom) {
      std::memmove(buffer_.data(), buffer_.data() + start_, buffered);
      start_ = 0;
      end_ = buffered;
    }
    // OpenNext rejects length fields above the limit, so need <= kMaxFrameSize.
    if (need > buffer_.size()) buffer_.resize(need);
  }

  RecordProtector& protector_;
  std::vector<uint8_t> buffer_;
  size_t start_ = 0;  // first unopened byte
  size_t end_ = 0;    // one past the last byte read
  size_t pending_frame_size_ = 0;
  uint64_t frames_opened_ = 0;
};

// WriteAll writes `data` to a blocking socket.
absl::Status WriteAll(int fd, absl::Span<const uint8_t> data) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError(errno, "write to peer");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// SealError returns a Seal failure as record_peer reports it.
absl::Status SealError(const absl::Status& status) {
  return WithContext("sealing failed", status);
}

// RunEcho seals every received plaintext back to the peer, one echo per
// received frame, until the peer closes. Returns the bytes echoed.
absl::StatusOr<uint64_t> RunEcho(int fd, RecordProtector& protector) {
  FrameReader reader(protector);
  std::vector<uint8_t> out(std::max(kIoBufferSize, protector.max_frame_size()));
  size_t out_len = 0;
  uint64_t echoed = 0;

  auto echo = [&](absl::Span<const uint8_t> plaintext) -> absl::Status {
    size_t sealed_size = protector.SealedSize(plaintext.size());
    if (out_len + sealed_size > out.size()) {
      absl::Status s = WriteAll(fd, absl::MakeConstSpan(out).first(out_len));
      if (!s.ok()) return s;
      out_len = 0;
      // A large frame sealed into small frames can outgrow the batch buffer;
      // grow once to fit it (bounded by one max-size frame's worth).
      if (sealed_size > out.size()) out.resize(sealed_size);
    }
    absl::StatusOr<size_t> n =
        protector.Seal(plaintext, absl::MakeSpan(out).subspan(out_len));
    if (!n.ok()) return SealError(n.status());
    out_len += *n;
    echoed += plaintext.size();
    return absl::OkStatus();
  };

  while (true) {
    absl::StatusOr<ReadOutcome> r = reader.ReadOnce(fd, echo);
    if (!r.ok()) return r.status();
    if (*r == ReadOutcome::kReset) {
      return IoError(ECONNRESET, "read from peer");
    }
    if (out_len > 0) {
      absl::Status s = WriteAll(fd, absl::MakeConstSpan(out).first(out_len));
      if (!s.ok()) return s;
      out_len = 0;
    }
    if (*r == ReadOutcome::kEof) break;
  }
  return echoed;
}

// CheckFailed returns the kDataLoss status for an echo that is not what was
// sent.
absl::Status CheckFailed(absl::string_view what) {
  return WithContext("echo check failed", absl::DataLossError(what));
}

// RunCheck sends options.bytes of ByteStream(seed) in chunks of random size
// 1..options.chunk and verifies the echo, on one thread with a non-blocking
// socket. Returns the bytes verified, or kDataLoss for a mismatch or a short
// echo, or the error that ended the connection.
absl::StatusOr<uint64_t> RunCheck(int fd, RecordProtector& protector,
                                  const Options& options) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return IoError(errno, "fcntl(O_NONBLOCK)");
  }
  const uint64_t total = options.bytes;
  const size_t max_chunk = static_cast<size_t>(
      std::min<uint64_t>(options.chunk, std::max<uint64_t>(total, 1)));

  ByteStream send_stream(options.seed);
  SplitMix64 chunk_sizes(options.seed ^ 0x6a09e667f3bcc908ull);
  std::vector<uint8_t> chunk(max_chunk);
  std::vector<uint8_t> sealed(protector.SealedSize(max_chunk));
  size_t sealed_off = 0;
  size_t sealed_len = 0;
  uint64_t queued = 0;  // plaintext bytes sealed so far
  bool write_closed = false;
  std::string write_failure;

  FrameReader reader(protector);
  ByteStream expect_stream(options.seed);
  std::vector<uint8_t> expected(kIoBufferSize);
  uint64_t verified = 0;

  auto verify = [&](absl::Span<const uint8_t> plaintext) -> absl::Status {
    if (plaintext.size() > total - verified) {
      return CheckFailed(absl::StrCat(
          "peer echoed more than was sent: ", verified + plaintext.size(),
          " bytes of ", total));
    }
    while (!plaintext.empty()) {
      size_t n = std::min(plaintext.size(), expected.size());
      absl::Span<uint8_t> want = absl::MakeSpan(expected).first(n);
      expect_stream.Fill(want);
      if (std::memcmp(want.data(), plaintext.data(), n) != 0) {
        size_t i = 0;
        while (want[i] == plaintext[i]) ++i;
        return CheckFailed(absl::StrFormat(
            "echo differs at offset %d: expected 0x%02x, got 0x%02x",
            verified + i, want[i], plaintext[i]));
      }
      verified += n;
      plaintext.remove_prefix(n);
    }
    return absl::OkStatus();
  };

  auto short_echo = [&](absl::string_view why) {
    std::string detail =
        write_failure.empty()
            ? std::string(why)
            : absl::StrCat(why, "; sending failed: ", write_failure);
    return CheckFailed(absl::StrCat("echo incomplete: got ", verified, " of ",
                                    total, " bytes (", detail, ")"));
  };

  while (true) {
    bool progressed = false;
    size_t burst = 0;
    while (!write_closed && burst < kWriteBurst) {
      if (sealed_off == sealed_len) {
        if (queued == total) {
          shutdown(fd, SHUT_WR);
          write_closed = true;
          break;
        }
        size_t n = static_cast<size_t>(std::min<uint64_t>(
            chunk_sizes.Next() % max_chunk + 1, total - queued));
        absl::Span<uint8_t> plaintext = absl::MakeSpan(chunk).first(n);
        send_stream.Fill(plaintext);
        absl::StatusOr<size_t> len =
            protector.Seal(plaintext, absl::MakeSpan(sealed));
        if (!len.ok()) return SealError(len.status());
        sealed_off = 0;
        sealed_len = *len;
        queued += n;
      }
      ssize_t w = send(fd, sealed.data() + sealed_off, sealed_len - sealed_off,
                       MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (!IsConnectionLost(errno)) {
          return IoError(errno, "write to peer");
        }
        // The peer went away; keep reading to learn (and report) why the
        // echo stopped rather than just that the write failed.
        write_failure = std::strerror(errno);
        write_closed = true;
        break;
      }
      sealed_off += static_cast<size_t>(w);
      burst += static_cast<size_t>(w);
      progressed = true;
    }

    absl::StatusOr<ReadOutcome> r = reader.ReadOnce(fd, verify);
    if (!r.ok()) return r.status();
    if (*r == ReadOutcome::kReset) {
      return short_echo("connection reset by peer");
    }
    if (*r == ReadOutcome::kEof) {
      if (verified == total && write_closed && write_failure.empty()) {
        return verified;
      }
      return short_echo("peer closed the connection");
    }
    if (*r == ReadOutcome::kProgress) progressed = true;

    if (!progressed) {
      pollfd pfd{};
      pfd.fd = fd;
      pfd.events = static_cast<short>(POLLIN | (write_closed ? 0 : POLLOUT));
      if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
        return IoError(errno, "poll");
      }
    }
  }
}

// Run connects or accepts, then runs the mode. Returns the line to print.
absl::StatusOr<std::string> Run(Options& options) {
  absl::StatusOr<RecordProtector> protector = RecordProtector::Create(
      options.protocol, options.listen ? Side::kServer : Side::kClient,
      options.key, options.frame_size);
  OPENSSL_cleanse(options.key.data(), options.key.size());
  if (!protector.ok())
    return WithContext("bad record settings", protector.status());

  absl::StatusOr<UniqueFd> fd =
      options.listen ? ListenAndAccept(options) : ConnectWithRetry(options);
  if (!fd.ok()) return WithContext("no connection", fd.status());

  if (options.mode == Mode::kEcho) {
    absl::StatusOr<uint64_t> echoed = RunEcho(fd->get(), *protector);
    if (!echoed.ok()) return echoed.status();
    return absl::StrCat("ECHOED ", *echoed);
  }
  absl::StatusOr<uint64_t> checked = RunCheck(fd->get(), *protector, options);
  if (!checked.ok()) return checked.status();
  return absl::StrCat("CHECKED ", *checked);
}

}  // namespace
}  // namespace alts

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (absl::string_view(argv[i]) == "--help") {
      std::fputs(alts::kUsage, stdout);
      return 0;
    }
    if (absl::string_view(argv[i]) == "--version") {
      std::printf("record_peer %s\n", alts::kVersion);
      return 0;
    }
  }
  absl::StatusOr<alts::Options> options = alts::ParseArgs(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "record_peer: %s\n%s",
                 std::string(options.status().message()).c_str(), alts::kUsage);
    return alts::kExitUsage;
  }
  absl::StatusOr<std::string> line = alts::Run(*options);
  if (!line.ok()) {
    std::fprintf(stderr, "record_peer: %s\n",
                 std::string(line.status().message()).c_str());
    return alts::kExitFailure;
  }
  std::printf("%s\n", line->c_str());
  std::fflush(stdout);
  return 0;
}
