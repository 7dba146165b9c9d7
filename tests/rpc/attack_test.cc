// The known HTTP/2 and gRPC denial-of-service attacks against a live server
// over loopback, once over plaintext h2c and once over ALTS (real
// handshakes; the attacker's frames go out as records), while an honest
// client on the same transport keeps calling it. For each attack: the offender
// gets the GOAWAY (or stream error) that fits, with its reason; the memory
// its connection holds stays within the named limits; every honest call
// succeeds; nothing is leaked once the attacker is gone. Figures (bytes
// held, time to close) are printed per attack.

#include <malloc.h>
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "alts/record_protector.h"
#include "conn/buffer_pool.h"
#include "conn/handshake_driver.h"
#include "conn/plain_listener.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/socket_util.h"
#include "conn/storage_pool.h"
#include "gtest/gtest.h"
#include "http2/frame.h"
#include "http2/hpack/decoder.h"
#include "http2/session.h"
#include "rpc/blocking.h"
#include "rpc/h2_transport.h"
#include "rpc/message_reader.h"
#include "rpc/server.h"
#include "rpc/wire.h"
#include "tests/http2/h2_test_util.h"
#include "tests/rpc/rpc_test_util.h"

namespace alts::rpc {
namespace {

using http2::ErrorCode;
using http2::FrameType;
using testing::Bytes;
using testing::Pattern;
using testing::TestEnv;
namespace h2t = http2::testing;

constexpr absl::Duration kWait = absl::Seconds(20);

// GrpcMessage returns a length-prefixed uncompressed message.
std::string GrpcMessage(const std::string& m) {
  uint8_t p[5];
  WriteMessagePrefix(p, false, static_cast<uint32_t>(m.size()));
  return std::string(reinterpret_cast<char*>(p), 5) + m;
}

// Repeat returns `n` copies of `bytes` (a flood of one frame).
std::string Repeat(const std::string& bytes, int n) {
  std::string out;
  out.reserve(bytes.size() * n);
  for (int i = 0; i < n; ++i) out += bytes;
  return out;
}

// AltsRecordLayerBytes returns what a server connection may hold over ALTS
// beyond what it holds over plaintext, in storage sized to what arrived
// (rounded up to a storage class): first the records that came in behind
// the client's last handshake message, kept until the connection's first
// turn opens them (at most one handshake read, a read buffer: 32 KiB, in 64
// KiB of storage), afterwards the record it is assembling (at most one 16
// KiB record, the size the attackers' connections seal); never both at
// once. The record layer's keys and counters are part of the connection
// object on both transports, and sealed output waits in the same write
// buffers as plaintext output does.
size_t AltsRecordLayerBytes() {
  return std::max(StoragePool::ClassFor(kDefaultReadBufferSize),
                  StoragePool::ClassFor(alts::kDefaultMaxFrameSize));
}

// PeerConnection is the attacker's connection: a client SecureConnection on a
// reactor of its own that the test's thread drives, made by the project's
// connectors: PlainConnector (h2c), or HandshakeDriver after a real
// handshake (ALTS: what the attacker sends goes out sealed in records, what
// the server sends arrives opened). It reads only while the test waits to
// receive, so an attacker that does not read makes the server's output
// back up as it would against a raw socket.
class PeerConnection final : private ReadyHandler {
 public:
  // Connect connects to `address`: over ALTS with `alts` and `params`, or
  // plaintext if `alts` is null. Fails the test (and returns a connection whose
  // Send fails) if it cannot.
  static std::unique_ptr<PeerConnection> Connect(const std::string& address,
                                                 const ConnectionResources* resources,
                                                 std::shared_ptr<const HandshakerConfig> alts,
                                                 HandshakeParams params) {
    std::unique_ptr<PeerConnection> peer(new PeerConnection);
    PeerConnection* p = peer.get();
    absl::Status connected = absl::UnknownError("no outcome");
    auto done = [p, &connected](absl::StatusOr<std::unique_ptr<SecureConnection>> conn) {
      connected = conn.status();
      if (conn.ok()) {
        p->conn_ = std::move(*conn);
        p->conn_->Start(p);
        p->conn_->PauseReading();
      }
    };
    std::unique_ptr<PlainConnector> plain;
    std::unique_ptr<HandshakeDriver> driver;
    if (alts == nullptr) {
      plain = PlainConnector::Start(*p->reactor_, address, resources, kWait, done);
    } else {
      absl::StatusOr<SocketAddress> sa = ParseSocketAddress(address);
      EXPECT_TRUE(sa.ok()) << sa.status();
      absl::StatusOr<std::unique_ptr<HandshakeDriver>> d = HandshakeDriver::CreateDialing(
          *p->reactor_, sa.ok() ? *sa : SocketAddress(), std::move(alts), std::move(params),
          resources, /*limiter=*/nullptr, [&](absl::StatusOr<EstablishedConnection> outcome) {
            if (outcome.ok()) {
              done(std::move(outcome->connection));
            } else {
              done(outcome.status());
            }
          });
      EXPECT_TRUE(d.ok()) << d.status();
      if (d.ok()) driver = std::move(*d);
    }
    absl::Status run = p->reactor_->RunUntil([&] { return !absl::IsUnknown(connected); }, kWait);
    EXPECT_TRUE(run.ok()) << run;
    EXPECT_TRUE(connected.ok()) << connected;
    return peer;
  }
  // The destructor closes the connection at once.
  ~PeerConnection() override { conn_.reset(); }

  // Send writes what the connection takes of `bytes` now: the count (less
  // than all above its high-water mark: Wait to send more), -1 once it has
  // failed or ended.
  ssize_t Send(absl::string_view bytes) {
    if (conn_ == nullptr || ended_) return -1;
    absl::StatusOr<size_t> n = conn_->Write(h2t::Span(bytes));
    if (!n.ok()) return -1;
    writable_ = *n == bytes.size();
    return static_cast<ssize_t>(*n);
  }
  // Wait runs the connection for up to `ms` (at least one round of its
  // reactor) until there is something to receive (or the end) if
  // `receive`, or until it takes more if `send`. Returns true if `receive`
  // and there is something to receive.
  bool Wait(int ms, bool send, bool receive) {
    if (conn_ == nullptr) return receive;
    auto readable = [&] { return receive && (!in_.empty() || ended_); };
    if (receive) conn_->ResumeReading();
    (void)reactor_->RunUntil([&] { return readable() || (send && (writable_ || ended_)); },
                             absl::Milliseconds(ms));
    if (receive) conn_->PauseReading();
    return readable();
  }
  // Receive appends up to `max` bytes the server sent to `out`: the count,
  // 0 at the end of the stream (or an error), -1 if nothing is there yet.
  ssize_t Receive(std::string& out, size_t max) {
    if (in_.empty()) return ended_ || conn_ == nullptr ? 0 : -1;
    const size_t n = std::min(max, in_.size());
    out.append(in_, 0, n);
    in_.erase(0, n);
    return static_cast<ssize_t>(n);
  }
  // ShutdownWrite ends the stream to the server after what was sent.
  void ShutdownWrite() {
    if (conn_ != nullptr) conn_->Close();
  }

 private:
  PeerConnection() {
    absl::StatusOr<std::unique_ptr<Reactor>> r = Reactor::CreateUnthreaded();
    EXPECT_TRUE(r.ok()) << r.status();
    reactor_ = std::move(*r);
  }

  // ReadyHandler:
  void OnData(absl::Span<uint8_t> data, BufferLease&) override {
    in_.append(reinterpret_cast<const char*>(data.data()), data.size());
  }
  void OnWritable() override { writable_ = true; }
  void OnEnd(const absl::Status&) override { ended_ = true; }

  std::unique_ptr<Reactor> reactor_;
  std::unique_ptr<SecureConnection> conn_;  // destroyed before the reactor
  std::string in_;                          // what the server sent, not yet received
  bool writable_ = true;
  bool ended_ = false;
};

// RawPeer is an HTTP/2 client written frame by frame over a
// PeerConnection: it sends whatever a test builds and parses what the
// server answers.
class RawPeer {
 public:
  explicit RawPeer(std::unique_ptr<PeerConnection> connection)
      : connection_(std::move(connection)) {}
  ~RawPeer() { Close(); }
  void Close() { connection_.reset(); }

  // Preface sends the client magic and SETTINGS, and acknowledges the
  // server's.
  void Preface(std::initializer_list<h2t::Setting> settings = {}) {
    Send(absl::StrCat(http2::kConnectionPreface, h2t::SettingsFrame(settings), h2t::SettingsAck()));
  }

  // RequestBlock returns a gRPC request header block of literals without
  // indexing (no dynamic-table insertions, so blocks built by hand may be
  // mixed in).
  static std::string RequestBlock(const std::string& path, const h2t::HeaderList& extra = {}) {
    h2t::HeaderList list = {{":method", "POST"}, {":scheme", "http"},
                            {":path", path},     {":authority", "attack.test"},
                            {"te", "trailers"},  {"content-type", "application/grpc"}};
    list.insert(list.end(), extra.begin(), extra.end());
    return h2t::LiteralBlock(list);
  }
  // Headers returns a request's HEADERS frame (and CONTINUATIONs when the
  // block is larger than a frame).
  static std::string Headers(uint32_t id, const std::string& path, bool end_stream,
                             const h2t::HeaderList& extra = {}) {
    const std::string block = RequestBlock(path, extra);
    const size_t max = http2::kDefaultMaxFrameSize;
    std::string out = h2t::HeadersFrame(id, block.substr(0, max),
                                        (block.size() <= max ? http2::kFlagEndHeaders : 0) |
                                            (end_stream ? http2::kFlagEndStream : 0));
    for (size_t off = max; off < block.size(); off += max) {
      out += h2t::ContinuationFrame(id, block.substr(off, max),
                                    off + max >= block.size() ? http2::kFlagEndHeaders : 0);
    }
    return out;
  }
  // SendUnary sends a whole unary request with `message` on stream `id`.
  bool SendUnary(uint32_t id, const std::string& message, const h2t::HeaderList& extra = {}) {
    return Send(Headers(id, "/test.Echo/Unary", false, extra) +
                h2t::DataFrame(id, GrpcMessage(message), http2::kFlagEndStream));
  }
  // WaitForStatus waits until stream `id` has ended with a grpc-status.
  bool WaitForStatus(uint32_t id) {
    return WaitFor([&] { return GrpcStatus(id) >= 0; });
  }

  // Send writes all of `bytes`, reading (and parsing) whatever the server
  // sends meanwhile unless `read` is false. Returns false once the server
  // has closed the connection or sent GOAWAY.
  bool Send(const std::string& bytes, bool read = true) {
    size_t off = 0;
    const absl::Time deadline = absl::Now() + kWait;
    while (off < bytes.size() && connection_ != nullptr) {
      const ssize_t n = connection_->Send(absl::string_view(bytes).substr(off));
      if (n > 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0) return false;
      if (absl::Now() > deadline) return false;
      if (connection_->Wait(100, /*send=*/true, read) && !ReadSome()) return false;
    }
    if (read) {
      while (ReadSome(/*wait_ms=*/0)) {
        if (!pending_read_) break;
      }
    }
    return !eof_ && !goaway;
  }

  // SendData sends `bytes` on stream `id` in DATA frames of at most 16 KiB,
  // each when the server's windows allow it (reading its WINDOW_UPDATEs);
  // it stops early, returning true, if the server ends or resets the stream.
  bool SendData(uint32_t id, const std::string& bytes, bool end_stream) {
    size_t off = 0;
    do {
      const size_t n = std::min<size_t>(http2::kDefaultMaxFrameSize, bytes.size() - off);
      const bool last = off + n == bytes.size();
      auto gone = [&] { return resets.count(id) > 0 || ended[id]; };
      if (!WaitFor([&] {
            return gone() || (conn_window_ >= static_cast<int64_t>(n) &&
                              StreamWindow(id) >= static_cast<int64_t>(n));
          })) {
        return false;
      }
      if (gone()) return true;  // the server ended the stream: nothing more to send
      conn_window_ -= static_cast<int64_t>(n);
      stream_sent_[id] += static_cast<int64_t>(n);
      if (!Send(h2t::DataFrame(id, bytes.substr(off, n),
                               last && end_stream ? http2::kFlagEndStream : 0))) {
        return false;
      }
      off += n;
    } while (off < bytes.size());
    return true;
  }

  // WaitFor reads until `done()` holds, the server closes, or `timeout`.
  template <typename Pred>
  bool WaitFor(Pred done, absl::Duration timeout = kWait) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!done()) {
      if (eof_ || absl::Now() > deadline) return done();
      ReadSome(100);
    }
    return true;
  }
  // WaitForClose reads until the server closes the connection.
  // After a GOAWAY it closes its own side, as a peer that read it would.
  bool WaitForClose(absl::Duration timeout = kWait) {
    return WaitFor(
        [&] {
          if (goaway && connection_ != nullptr && !shut_) {
            connection_->ShutdownWrite();
            shut_ = true;
          }
          return eof_;
        },
        timeout);
  }

  // What the server sent.
  bool goaway = false;
  ErrorCode goaway_code = ErrorCode::kNoError;
  std::string goaway_debug;
  absl::Time goaway_at;
  std::map<uint32_t, ErrorCode> resets;
  // Decoded response headers and trailers per stream (name: value lines).
  std::map<uint32_t, std::vector<std::string>> blocks;
  std::map<uint32_t, bool> ended;  // END_STREAM seen
  std::map<uint32_t, std::string> data;
  int ping_acks = 0;
  size_t bytes_read = 0;
  bool eof() const { return eof_; }

  // GrpcStatus returns the grpc-status the server ended stream `id` with
  // (-1 if none yet).
  int GrpcStatus(uint32_t id) const {
    auto it = blocks.find(id);
    if (it == blocks.end()) return -1;
    for (const std::string& line : it->second) {
      int code;
      if (absl::StartsWith(line, "grpc-status: ") && absl::SimpleAtoi(line.substr(13), &code)) {
        return code;
      }
    }
    return -1;
  }
  std::string Trailers(uint32_t id) const {
    auto it = blocks.find(id);
    return it == blocks.end() ? "" : absl::StrJoin(it->second, "; ");
  }

 private:
  // ReadSome reads once (waiting up to `wait_ms`) and parses whole frames.
  // Returns false at EOF.
  bool ReadSome(int wait_ms = 100) {
    pending_read_ = false;
    if (connection_ == nullptr || eof_) return false;
    if (!connection_->Wait(wait_ms, /*send=*/false, /*receive=*/true)) return true;
    const ssize_t n = connection_->Receive(in_, 65536);
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (n < 0) return true;
    pending_read_ = true;
    bytes_read += static_cast<size_t>(n);
    Parse();
    return true;
  }

  void Parse() {
    size_t off = 0;
    while (in_.size() - off >= http2::kFrameHeaderSize) {
      http2::FrameHeader h =
          http2::ParseFrameHeader(reinterpret_cast<const uint8_t*>(in_.data()) + off);
      if (in_.size() - off - http2::kFrameHeaderSize < h.length) break;
      const std::string payload = in_.substr(off + http2::kFrameHeaderSize, h.length);
      off += http2::kFrameHeaderSize + h.length;
      OnFrame(h, payload);
    }
    in_.erase(0, off);
  }

  void OnFrame(const http2::FrameHeader& h, const std::string& payload) {
    const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
    switch (static_cast<FrameType>(h.type)) {
      case FrameType::kGoaway:
        goaway = true;
        goaway_at = absl::Now();
        goaway_code = static_cast<ErrorCode>(http2::ReadU32(p + 4));
        goaway_debug = payload.substr(8);
        break;
      case FrameType::kRstStream:
        resets[h.stream_id] = static_cast<ErrorCode>(http2::ReadU32(p));
        break;
      case FrameType::kPing:
        if (h.has(http2::kFlagAck)) ++ping_acks;
        break;
      case FrameType::kSettings:
        for (size_t off = 0; !h.has(http2::kFlagAck) && off + 6 <= payload.size(); off += 6) {
          if (((p[off] << 8) | p[off + 1]) ==
              static_cast<int>(http2::SettingId::kInitialWindowSize)) {
            stream_initial_ = http2::ReadU32(p + off + 2);
          }
        }
        break;
      case FrameType::kWindowUpdate:
        (h.stream_id == 0 ? conn_window_ : stream_credit_[h.stream_id]) +=
            http2::ReadU32(p) & 0x7fffffff;
        break;
      case FrameType::kData:
        data[h.stream_id] += payload;
        if (h.has(http2::kFlagEndStream)) ended[h.stream_id] = true;
        break;
      case FrameType::kHeaders:
      case FrameType::kContinuation: {
        block_ += payload;  // the server sends neither padding nor priority
        if (static_cast<FrameType>(h.type) == FrameType::kHeaders)
          block_end_stream_ = h.has(http2::kFlagEndStream);
        if (!h.has(http2::kFlagEndHeaders)) break;
        std::vector<std::string>& lines = blocks[h.stream_id];
        absl::Status s = decoder_.Decode(
            absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(block_.data()), block_.size()),
            1 << 20, [&](absl::string_view name, absl::string_view value) {
              lines.push_back(absl::StrCat(name, ": ", value));
              return absl::OkStatus();
            });
        EXPECT_TRUE(s.ok()) << s;
        block_.clear();
        if (block_end_stream_) ended[h.stream_id] = true;
        break;
      }
      default:
        break;
    }
  }

  int64_t StreamWindow(uint32_t id) {
    return stream_initial_ + stream_credit_[id] - stream_sent_[id];
  }

  std::unique_ptr<PeerConnection> connection_;
  // The server's flow-control windows for what we send.
  int64_t conn_window_ = http2::kDefaultInitialWindowSize;
  int64_t stream_initial_ = http2::kDefaultInitialWindowSize;
  std::map<uint32_t, int64_t> stream_credit_;
  std::map<uint32_t, int64_t> stream_sent_;
  bool eof_ = false;
  bool shut_ = false;
  bool pending_read_ = false;
  std::string in_;
  std::string block_;
  bool block_end_stream_ = false;
  hpack::Decoder decoder_;
};

// HeapInUse returns the process's allocated heap bytes (glibc's count).
size_t HeapInUse() { return mallinfo2().uordblks; }

// Watch samples, while an attack runs, the most any server connection holds
// (Server::ConnectionHeapBytes) and the process heap above its start.
class Watch {
 public:
  explicit Watch(Server& server) : server_(server), heap_start_(HeapInUse()) {
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        Sample();
        absl::SleepFor(absl::Milliseconds(2));
      }
    });
  }
  ~Watch() { Stop(); }
  void Stop() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
      Sample();
    }
  }
  size_t max_connection_bytes() const { return max_conn_; }
  size_t max_heap_growth() const { return max_heap_ > heap_start_ ? max_heap_ - heap_start_ : 0; }

 private:
  void Sample() {
    for (size_t b : server_.ConnectionHeapBytes()) max_conn_ = std::max(max_conn_, b);
    max_heap_ = std::max(max_heap_, HeapInUse());
  }
  Server& server_;
  const size_t heap_start_;
  size_t max_heap_ = 0;
  size_t max_conn_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Honest is a well-behaved client calling Unary in a loop on its own
// channel while an attack runs; every call must succeed with its bytes.
class Honest {
 public:
  explicit Honest(TestEnv& env) : channel_(env.NewChannel()) {
    thread_ = std::thread([this] {
      uint32_t seed = 0;
      while (!stop_.load()) {
        const std::string req = Pattern(1000, ++seed);
        CallOptions options;
        options.deadline = absl::Now() + absl::Seconds(10);
        absl::StatusOr<std::string> resp =
            BlockingUnaryCall(*channel_, "/test.Echo/Unary", Bytes(req), options);
        if (resp.ok() && *resp == req) {
          ++ok_;
        } else {
          ++failed_;
          if (first_failure_.empty()) {
            first_failure_ = resp.ok() ? "wrong bytes" : resp.status().ToString();
          }
        }
      }
    });
  }
  ~Honest() { Stop(); }
  void Stop() {
    if (thread_.joinable()) {
      stop_ = true;
      thread_.join();
    }
  }
  // WaitForCalls waits until at least `n` calls succeeded.
  void WaitForCalls(int n) {
    const absl::Time deadline = absl::Now() + kWait;
    while (ok_.load() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  }
  int ok() const { return ok_.load(); }
  int failed() const { return failed_.load(); }
  const std::string& first_failure() const { return first_failure_; }

 private:
  std::unique_ptr<Channel> channel_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  std::string first_failure_;
  std::thread thread_;
};

// AttackTest runs each attack over the transport its parameter names:
// plaintext h2c (false) or ALTS (true), for the attacker and the honest
// client alike.
class AttackTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    env_ = std::make_unique<TestEnv>(/*alts=*/GetParam());
    env_->StartServer([](ServerOptions& o) { o.log_errors = true; });
    // The honest client's connection is up and has made calls.
    honest_ = std::make_unique<Honest>(*env_);
    honest_->WaitForCalls(5);
    ASSERT_GE(honest_->ok(), 5);
    watch_ = std::make_unique<Watch>(env_->server());
    start_ = absl::Now();
  }

  // Connect opens the attacker's connection (over ALTS: handshake done);
  // the attack's time counts from its return.
  std::unique_ptr<PeerConnection> Connect() {
    std::unique_ptr<PeerConnection> connection = PeerConnection::Connect(
        env_->address(), env_->resources(), env_->client_config(), env_->client_params());
    start_ = absl::Now();
    return connection;
  }

  // Finish checks what every attack must leave: the honest client served
  // throughout (and after: a few more calls), the attacker's connection gone
  // with nothing leaked, and prints the figures. `connection_bound` is the
  // bound over plaintext; over ALTS the record layer may add
  // AltsRecordLayerBytes().
  void Finish(const std::string& name, RawPeer& peer, size_t connection_bound) {
    const absl::Duration to_close = (peer.goaway ? peer.goaway_at : absl::Now()) - start_;
    peer.Close();
    const int ok_before = honest_->ok();
    honest_->WaitForCalls(ok_before + 5);
    watch_->Stop();
    honest_->Stop();
    EXPECT_EQ(honest_->failed(), 0) << honest_->first_failure();
    EXPECT_GE(honest_->ok(), ok_before + 5) << "the honest client stalled";
    EXPECT_LE(watch_->max_connection_bytes(),
              connection_bound + (GetParam() ? AltsRecordLayerBytes() : 0));
    // Only the honest connection is left, and no call is left behind.
    auto settled = [](const ServerStats& st) {
      return st.connections_open == 1 && st.calls_started == st.calls_finished + st.calls_cancelled;
    };
    const absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline && !settled(env_->server().stats())) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    const ServerStats st = env_->server().stats();
    EXPECT_EQ(st.connections_open, 1u);
    EXPECT_EQ(st.calls_started, st.calls_finished + st.calls_cancelled);
    EXPECT_EQ(env_->sleeping.load(), 0);
    std::printf(
        "attack %-5s %-22s %s%-19s after %8.1f ms; most held by a connection %9zu "
        "B; process heap (attacker, server and honest client) "
        "+%zu B; honest calls %d ok, %d failed%s%s\n",
        GetParam() ? "alts" : "h2c", name.c_str(), peer.goaway ? "GOAWAY " : "",
        peer.goaway ? std::string(http2::ErrorCodeName(peer.goaway_code)).c_str()
                    : "(connection kept)",
        absl::ToDoubleMilliseconds(to_close), watch_->max_connection_bytes(),
        watch_->max_heap_growth(), honest_->ok(), honest_->failed(),
        peer.goaway_debug.empty() ? "" : ": ", peer.goaway_debug.c_str());
  }

  // ExpectGoaway waits for the server to close the connection after a GOAWAY
  // with `code` whose reason contains one of `reasons` (an attack may trip
  // either of two limits first, depending on how its bytes were batched).
  void ExpectGoaway(RawPeer& peer, ErrorCode code, std::vector<absl::string_view> reasons) {
    EXPECT_TRUE(peer.WaitForClose()) << "the server did not close the connection";
    ASSERT_TRUE(peer.goaway) << "no GOAWAY";
    EXPECT_EQ(peer.goaway_code, code)
        << http2::ErrorCodeName(peer.goaway_code) << ": " << peer.goaway_debug;
    bool matched = false;
    for (absl::string_view r : reasons)
      matched = matched || absl::StrContains(peer.goaway_debug, r);
    EXPECT_TRUE(matched) << peer.goaway_debug;
  }
  void ExpectGoaway(RawPeer& peer, ErrorCode code, absl::string_view reason) {
    ExpectGoaway(peer, code, std::vector<absl::string_view>{reason});
  }

  std::unique_ptr<TestEnv> env_;
  std::unique_ptr<Honest> honest_;
  std::unique_ptr<Watch> watch_;
  absl::Time start_;
};

INSTANTIATE_TEST_SUITE_P(Transport, AttackTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Alts" : "Plaintext"; });

// The bound on what one connection holds in these tests: the session's and
// transport's small state plus what each attack is allowed (named below).
constexpr size_t kConnectionState = 64 * 1024;

TEST_P(AttackTest, RapidReset) {
  // CVE-2023-44487: open a stream and reset it at once, as fast as possible.
  RawPeer peer(Connect());
  peer.Preface();
  uint32_t id = 1;
  for (int batch = 0; batch < 40 && !peer.eof(); ++batch) {
    std::string out;
    for (int i = 0; i < 100; ++i, id += 2) {
      out += RawPeer::Headers(id, "/test.Echo/Sleep", false);
      out += h2t::RstStreamFrame(id, ErrorCode::kCancel);
    }
    if (!peer.Send(out)) break;
  }
  ExpectGoaway(peer, ErrorCode::kEnhanceYourCalm, "reset faster than");
  Finish("rapid_reset", peer, kConnectionState);
}

TEST_P(AttackTest, ResetAfterData) {
  // Streams that start a message, then reset: the partial message goes too.
  RawPeer peer(Connect());
  peer.Preface();
  uint32_t id = 1;
  const std::string partial = GrpcMessage(std::string(20000, 'p')).substr(0, 10000);
  for (int i = 0; i < 2000; ++i, id += 2) {
    if (!peer.Send(RawPeer::Headers(id, "/test.Echo/ClientStream", false)) ||
        !peer.SendData(id, partial, false) ||
        !peer.Send(h2t::RstStreamFrame(id, ErrorCode::kCancel))) {
      break;
    }
  }
  ExpectGoaway(peer, ErrorCode::kEnhanceYourCalm, "reset faster than");
  // At most the open streams' partial messages (100 x 16 KiB class).
  Finish("reset_after_data", peer, kConnectionState + 100 * 16384);
}

TEST_P(AttackTest, ProvokedResets) {
  // CVE-2019-9514 / "MadeYouReset": frames that make the server reset the
  // stream (here a second header block that does not end it).
  RawPeer peer(Connect());
  peer.Preface();
  uint32_t id = 1;
  for (int batch = 0; batch < 40 && !peer.eof(); ++batch) {
    std::string out;
    for (int i = 0; i < 100; ++i, id += 2) {
      out += RawPeer::Headers(id, "/test.Echo/Sleep", false);
      out += h2t::HeadersFrame(id, RawPeer::RequestBlock("/x"), http2::kFlagEndHeaders);
    }
    if (!peer.Send(out)) break;
  }
  // Each provoked reset is a reply: the reset budget or the queued-reply
  // limit ends it.
  ExpectGoaway(peer, ErrorCode::kEnhanceYourCalm, {"reset faster than", "replies queued"});
  EXPECT_FALSE(peer.resets.empty());
  Finish("provoked_resets", peer, kConnectionState);
}

TEST_P(AttackTest, ContinuationFloodOfBigFrames) {
  // CVE-2024-27316 family: a header block that never ends.
  RawPeer peer(Connect());
  peer.Preface();
  peer.Send(h2t::HeadersFrame(1, RawPeer::RequestBlock("/test.Echo/Sleep"), 0));
  const std::string junk(16384, 'a');
  for (int i = 0; i < 200 && !peer.eof(); ++i) {
    if (!peer.Send(h2t::ContinuationFrame(1, junk, 0))) break;
  }
  ExpectGoaway(peer, ErrorCode::kEnhanceYourCalm, "header block exceeds");
  Finish("continuation_big", peer, kConnectionState + http2::kMaxHeaderBlockBytes);
}

TEST_P(AttackTest, ContinuationFloodOfEmptyFrames) {
  RawPeer peer(Connect());
  peer.Preface();
  peer.Send(h2t::HeadersFrame(1, RawPeer::RequestBlock("/test.Echo/Sleep"), 0));
  peer.Send(Repeat(h2t::ContinuationFrame(1, "", 0), 10000));
  ExpectGoaway(peer, ErrorCode::kEnhanceYourCalm, "CONTINUATION frames");
  Finish("continuation_empty", peer, kConnectionState);
}

TEST_P(AttackTest, HpackBombIsRefusedWhileDecodingAndTheConnectionGoesOn) {
  // A 16 KiB block that decodes to ~48 MB: one 4,000-byte field added to
  // the dynamic table, then referenced 12,000 times by its index (1 byte).
  RawPeer peer(Connect());
  peer.Preface();
  std::string block = RawPeer::RequestBlock("/test.Echo/Unary") +
                      h2t::IncrementalLiteral("x-bomb", std::string(4000, 'b'));
  block += Repeat(h2t::IndexedField(62), 12000);  // the dynamic entry, 1 byte each
  ASSERT_LE(block.size(), http2::kDefaultMaxFrameSize);
  const absl::Time t0 = absl::Now();
  peer.Send(h2t::HeadersFrame(1, block, http2::kFlagEndHeaders | http2::kFlagEndStream));
  ASSERT_TRUE(peer.WaitForStatus(1)) << "no answer";
  const absl::Duration took = absl::Now() - t0;
  EXPECT_EQ(peer.GrpcStatus(1), static_cast<int>(absl::StatusCode::kResourceExhausted))
      << peer.Trailers(1);
  // The decoder is still in step: the next request (which the table entry
  // above does not disturb) is served on the same connection.
  const std::string req = Pattern(3000, 7);
  peer.SendUnary(3, req);
  ASSERT_TRUE(peer.WaitForStatus(3));
  EXPECT_EQ(peer.GrpcStatus(3), 0) << peer.Trailers(3);
  EXPECT_EQ(peer.data[3], GrpcMessage(req));
  EXPECT_FALSE(peer.goaway);
  std::printf("hpack bomb (48 MB decoded size) refused in %.2f ms\n",
              absl::ToDoubleMilliseconds(took));
  Finish("hpack_bomb", peer, kConnectionState);
}

TEST_P(AttackTest, SettingsFlood) {
  RawPeer peer(Connect());
  peer.Preface();
  const std::string settings =
      h2t::SettingsFrame({{static_cast<uint16_t>(http2::SettingId::kMaxFrameSize), 16384}});
  peer.Send(Repeat(settings, 12000), /*read=*/false);  // and read nothing until the end
  // The acknowledgements pile up faster than they drain, or (read in small
  // pieces) the frames that change nothing pass their limit.
  ExpectGoaway(peer, ErrorCode::kEnhanceYourCalm,
               {"replies queued while the peer does not read", "without progress"});
  Finish("settings_flood", peer, kConnectionState);
}

TEST_P(AttackTest, PingFlood) {
  // CVE-2019-9512: the server answers PINGs only so often (keepalive
  // enforcement, as gRPC), then goes away.
  RawPeer peer(Connect());
  peer.Preface();
  std::string out;
  for (uint64_t i = 0; i < 10000; ++i) out += h2t::PingFrame(i);
  peer.Send(out, /*read=*/false);
  ExpectGoaway(peer, ErrorCode::kEnhanceYourCalm, "too_many_pings");
  Finish("ping_flood", peer, kConnectionState);
}

TEST_P(AttackTest, EmptyFrameFlood) {
  // CVE-2019-9518: empty DATA frames on an open stream.
  RawPeer peer(Connect());
  peer.Preface();
  peer.Send(RawPeer::Headers(1, "/test.Echo/Sleep", false));
  peer.Send(Repeat(h2t::DataFrame(1, ""), 12000));
  ExpectGoaway(peer, ErrorCode::kEnhanceYourCalm, "without progress");
  Finish("empty_frames", peer, kConnectionState);
}

TEST_P(AttackTest, SlowReaderCannotMakeTheServerBuffer) {
  // CVE-2019-9517: a peer that opens every window wide, asks for 100 x 3.2
  // MB of responses and never reads. The server holds at most its transport
  // high-water mark of queued output (plus the handlers' own buffers).
  RawPeer peer(Connect());
  peer.Preface({{static_cast<uint16_t>(http2::SettingId::kInitialWindowSize), 0x7fffffff}});
  std::string out = h2t::WindowUpdateFrame(0, 0x7fffffff - http2::kDefaultInitialWindowSize);
  for (uint32_t i = 0; i < 100; ++i) {
    out += RawPeer::Headers(1 + 2 * i, "/test.Echo/ServerStream", false) +
           h2t::DataFrame(1 + 2 * i, GrpcMessage("200 16384"), http2::kFlagEndStream);
  }
  peer.Send(out, /*read=*/false);
  absl::SleepFor(absl::Seconds(2));  // the server fills the socket, then waits
  Finish("slow_reader", peer, kConnectionState + 2 * kTransportDataHighWater + 100 * 512);
}

TEST_P(AttackTest, StreamIdsRunOut) {
  // The highest stream id is served; nothing can follow it.
  RawPeer peer(Connect());
  peer.Preface();
  const uint32_t last = http2::kMaxStreamId;
  const std::string req = Pattern(100, 3);
  peer.SendUnary(last, req);
  ASSERT_TRUE(peer.WaitForStatus(last));
  EXPECT_EQ(peer.GrpcStatus(last), 0) << peer.Trailers(last);
  peer.Send(RawPeer::Headers(1, "/test.Echo/Unary", false));
  ExpectGoaway(peer, ErrorCode::kProtocolError, "below the last opened");
  Finish("stream_ids_run_out", peer, kConnectionState);
}

TEST_P(AttackTest, WindowUpdateOverflowOnAStreamResetsIt) {
  RawPeer peer(Connect());
  peer.Preface();
  peer.Send(RawPeer::Headers(1, "/test.Echo/Sleep", false) + h2t::WindowUpdateFrame(1, 0x7fffffff));
  ASSERT_TRUE(peer.WaitFor([&] { return peer.resets.count(1) > 0; }));
  EXPECT_EQ(peer.resets[1], ErrorCode::kFlowControlError);
  const std::string req = Pattern(100, 4);
  peer.SendUnary(3, req);
  ASSERT_TRUE(peer.WaitForStatus(3));
  EXPECT_EQ(peer.GrpcStatus(3), 0);
  EXPECT_FALSE(peer.goaway);
  Finish("stream_window_overflow", peer, kConnectionState);
}

TEST_P(AttackTest, WindowUpdateOverflowOnTheConnectionEndsIt) {
  RawPeer peer(Connect());
  peer.Preface();
  peer.Send(h2t::WindowUpdateFrame(0, 0x7fffffff));
  ExpectGoaway(peer, ErrorCode::kFlowControlError, "");
  Finish("conn_window_overflow", peer, kConnectionState);
}

TEST_P(AttackTest, PriorityFramesInALoopCostNothing) {
  // Priority is ignored: 100,000 PRIORITY frames (cycles, idle streams)
  // change nothing held, and the connection serves a call afterwards.
  RawPeer peer(Connect());
  peer.Preface();
  const absl::Time t0 = absl::Now();
  for (int batch = 0; batch < 20; ++batch) {
    std::string out;
    for (uint32_t i = 0; i < 5000; ++i) {
      const uint32_t a = 1001 + 2 * (i % 500), b = 1001 + 2 * ((i + 1) % 500);
      out += h2t::PriorityFrame(a, b) + h2t::PriorityFrame(b, a);
    }
    ASSERT_TRUE(peer.Send(out));
  }
  const std::string req = Pattern(100, 5);
  peer.SendUnary(2001, req);
  ASSERT_TRUE(peer.WaitForStatus(2001));
  const absl::Duration took = absl::Now() - t0;
  EXPECT_EQ(peer.GrpcStatus(2001), 0) << peer.Trailers(2001);
  EXPECT_FALSE(peer.goaway);
  std::printf("200,000 PRIORITY frames and a call: %.1f ms (%.0f ns per frame)\n",
              absl::ToDoubleMilliseconds(took), absl::ToDoubleNanoseconds(took) / 200000);
  Finish("priority_loop", peer, kConnectionState);
}

TEST_P(AttackTest, AnnouncedMessagesTrickledHoldWhatArrivedOnly) {
  // 100 streams each announce a 4 MiB message, then trickle it: the server
  // holds about what was sent, not 100 x 4 MiB.
  RawPeer peer(Connect());
  peer.Preface();
  // The first 6 bytes of a message of 4 MiB - 1.
  const std::string start = GrpcMessage(std::string((4 << 20) - 1, 'x')).substr(0, 6);
  std::string out;
  for (uint32_t i = 0; i < 100; ++i) {
    out += RawPeer::Headers(1 + 2 * i, "/test.Echo/ClientStream", false) +
           h2t::DataFrame(1 + 2 * i, start);
  }
  peer.Send(out);
  for (int round = 0; round < 10; ++round) {
    out.clear();
    for (uint32_t i = 0; i < 100; ++i) out += h2t::DataFrame(1 + 2 * i, "yy");
    peer.Send(out);
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_FALSE(peer.goaway);
  // 100 partial messages of 21 bytes: the smallest storage each.
  Finish("trickled_4mib_prefixes", peer, kConnectionState + 100 * kAssemblyMinStorage);
}

TEST_P(AttackTest, PartialMessagesAreBoundedPerConnection) {
  // Streams that each send all but the last byte of a 4 MiB message: once
  // the partial messages would hold more than the per-connection limit, the
  // call that would go over fails with RESOURCE_EXHAUSTED; the others and
  // the connection go on.
  RawPeer peer(Connect());
  peer.Preface({{static_cast<uint16_t>(http2::SettingId::kInitialWindowSize), 0x7fffffff}});
  const std::string body = GrpcMessage(std::string((4 << 20) - 1, 'm'));
  const size_t kStreams = 6;
  for (uint32_t i = 0; i < kStreams; ++i) {
    const uint32_t id = 1 + 2 * i;
    ASSERT_TRUE(peer.Send(RawPeer::Headers(id, "/test.Echo/ClientStream", false)));
    // A stream the server failed is reset: what is left of it is not sent.
    if (peer.resets.count(id) == 0 && peer.GrpcStatus(id) < 0) {
      ASSERT_TRUE(peer.SendData(id, body.substr(0, body.size() - 1), false));
    }
  }
  ASSERT_TRUE(peer.WaitFor([&] { return !peer.resets.empty() || peer.GrpcStatus(9) >= 0; }));
  int exhausted = 0;
  for (uint32_t i = 0; i < kStreams; ++i) {
    if (peer.GrpcStatus(1 + 2 * i) == static_cast<int>(absl::StatusCode::kResourceExhausted)) {
      ++exhausted;
      EXPECT_NE(peer.Trailers(1 + 2 * i).find("above its limit"), std::string::npos);
    }
  }
  EXPECT_GE(exhausted, 1);
  EXPECT_FALSE(peer.goaway);
  // The first streams finish their messages and are answered.
  ASSERT_TRUE(peer.SendData(1, body.substr(body.size() - 1), true));
  ASSERT_TRUE(peer.WaitForStatus(1));
  EXPECT_EQ(peer.GrpcStatus(1), 0) << peer.Trailers(1);
  Finish("partial_message_budget", peer,
         kConnectionState + kDefaultMaxPartialMessageBytesPerConnection);
}

TEST_P(AttackTest, TinyDeadlineAndMaximalMetadata) {
  // grpc-timeout of 1 ns: DEADLINE_EXCEEDED at once. Metadata filling the
  // header list limit on every call: served; beyond it: RESOURCE_EXHAUSTED.
  RawPeer peer(Connect());
  peer.Preface();
  peer.Send(RawPeer::Headers(1, "/test.Echo/Sleep", true, {{"grpc-timeout", "1n"}}));
  ASSERT_TRUE(peer.WaitForStatus(1));
  EXPECT_EQ(peer.GrpcStatus(1), static_cast<int>(absl::StatusCode::kDeadlineExceeded))
      << peer.Trailers(1);
  // The request's own fields take ~250 B of the 16 KiB list.
  const std::string big(15000, 'v');
  uint32_t id = 3;
  for (int i = 0; i < 50; ++i, id += 2) {
    peer.SendUnary(id, "hi", {{"x-big", big}});
  }
  ASSERT_TRUE(peer.WaitForStatus(id - 2));
  for (uint32_t s = 3; s < id; s += 2) EXPECT_EQ(peer.GrpcStatus(s), 0) << s;
  peer.Send(RawPeer::Headers(id, "/test.Echo/Unary", true, {{"x-big", big + big}}));
  ASSERT_TRUE(peer.WaitForStatus(id));
  EXPECT_EQ(peer.GrpcStatus(id), static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_FALSE(peer.goaway);
  Finish("deadline_and_metadata", peer, kConnectionState);
}

}  // namespace
}  // namespace alts::rpc
