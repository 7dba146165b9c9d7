// Runs the record_peer binary: two of them against each other over loopback,
// and against hostile or scripted peers written here on raw sockets. The
// frames the scripted peers send are gRPC's own vectors (spec section 5.2).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/ascii.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/tools/loopback_socket.h"
#include "tests/tools/process_runner.h"

namespace alts::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kRecordPeer[] = RECORD_PEER_PATH;

using Clock = std::chrono::steady_clock;

#ifdef ALTS_SANITIZER_BUILD
// Sanitized builds are several times slower; the large-frame run is scaled
// down (the small-chunk run still has to cross the 65536-frame rekey epoch).
constexpr uint64_t kLargeRunBytes = 8u << 20;
#else
constexpr uint64_t kLargeRunBytes = 32u << 20;
#endif
// kSmallChunkBytes with --chunk 16 (mean 8.5 bytes per chunk, one frame per
// chunk) gives about 94,000 frames each way: past the first REKEY epoch
// boundary at 65,536 frames in both directions.
constexpr uint64_t kSmallChunkBytes = 800000;

// Keys and frames from the record-protocol spec, section 5.2 (made by gRPC-Go).
constexpr char kGcmKey[] = "1f8b080000096e8802ffe2d24cce4f49";
constexpr char kRekeyKey[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b";
// A second 44-byte key, for the mismatch test.
constexpr char kOtherRekeyKey[] =
    "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b";
constexpr char kGcmClient0[] =
    "2200000006000000"                   // header
    "9773d4c2ceb633af4b1fe08c0cb5"       // ciphertext
    "2e9ef1609948ed363deda1b731a9f188";  // tag
constexpr char kGcmClient1[] =
    "2200000006000000"                   // header
    "f4c859d714f2c8185de73ba77996"       // ciphertext
    "76d700ee5b8e0b45d3d52623d2f5d86b";  // tag
constexpr char kGcmServer0[] =
    "2200000006000000"                   // header
    "3cfd6f77a53785449ed08bf49e6f"       // ciphertext
    "31a9aa1368d34786f91746b3ba4ab555";  // tag
constexpr char kGcmServer1[] =
    "2200000006000000"                   // header
    "5fb081c69191c7798c08159aceea"       // ciphertext
    "d39f8603791d6d196559f7d16b09dfdd";  // tag
constexpr char kRekeyClient0[] =
    "200000000600000017f9b12df8b3b90ae981b8da0735017b695bcc6e4fb959e908b81c17";
constexpr char kRekeyClient1[] =
    "200000000600000079cb68307f9bbf101efa59cb32d437bcddc6733ffd9b82e4f72bde33";
constexpr char kRekeyServer0[] =
    "2000000006000000fea178bcd2c89aa9b61a32a29ceefa5b6c55b743bf531451bf717dd8";
constexpr char kRekeyServer1[] =
    "200000000600000042fbc3cadb1ac386da86c27d72ac07cf8b8726a41bb69ce71b2321a4";

// FromHex decodes a hex string.
std::vector<uint8_t> FromHex(absl::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    uint32_t byte = 0;
    EXPECT_TRUE(absl::SimpleHexAtoi(hex.substr(i, 2), &byte)) << hex;
    out.push_back(static_cast<uint8_t>(byte));
  }
  return out;
}

// Concat returns `a` followed by `b`.
std::vector<uint8_t> Concat(std::vector<uint8_t> a,
                            const std::vector<uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// StartListener starts `record_peer --listen 127.0.0.1:<port>` plus `args`
// and returns it with the port it printed (0 on failure, test failed).
std::pair<std::unique_ptr<Process>, int> StartListener(
    const std::vector<std::string>& args, int port = 0) {
  std::vector<std::string> all = {"--listen", absl::StrCat("127.0.0.1:", port)};
  all.insert(all.end(), args.begin(), args.end());
  std::unique_ptr<Process> p = Process::Start(kRecordPeer, all);
  if (p == nullptr) return {nullptr, 0};
  std::string line = p->ReadLine();
  constexpr absl::string_view kPrefix = "LISTENING 127.0.0.1:";
  int listening_port = 0;
  if (!absl::StartsWith(line, kPrefix) ||
      !absl::SimpleAtoi(absl::string_view(line).substr(kPrefix.size()),
                        &listening_port) ||
      listening_port <= 0 || (port != 0 && listening_port != port)) {
    ADD_FAILURE() << "bad LISTENING line '" << line << "'\n" << p->Wait();
    return {nullptr, 0};
  }
  return {std::move(p), listening_port};
}

// WithConnect prepends "--connect 127.0.0.1:<port>" to `args`.
std::vector<std::string> WithConnect(int port, std::vector<std::string> args) {
  args.insert(args.begin(), {"--connect", absl::StrCat("127.0.0.1:", port)});
  return args;
}

// RunPair runs a listener and a connector to completion.
std::pair<ProcessResult, ProcessResult> RunPair(
    const std::vector<std::string>& listen_args,
    const std::vector<std::string>& connect_args) {
  auto [listener, port] = StartListener(listen_args);
  if (listener == nullptr) return {};
  std::unique_ptr<Process> connector =
      Process::Start(kRecordPeer, WithConnect(port, connect_args));
  if (connector == nullptr) return {};
  ProcessResult connect_result = connector->Wait();
  ProcessResult listen_result = listener->Wait();
  return {std::move(listen_result), std::move(connect_result)};
}

// Key returns the spec key for `protocol`.
std::string Key(absl::string_view protocol) {
  return protocol == "ALTSRP_GCM_AES128" ? kGcmKey : kRekeyKey;
}

// ExpectSuccess checks a clean run that printed exactly `line`.
void ExpectSuccess(const ProcessResult& r, absl::string_view line) {
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, absl::StrCat(line, "\n")) << r;
  EXPECT_EQ(r.err, "") << r;
}

class RecordPeerRoundTripTest : public ::testing::TestWithParam<const char*> {};

TEST_P(RecordPeerRoundTripTest, SmallChunksCrossTheRekeyBoundary) {
  const std::string protocol = GetParam();
  const std::string bytes = absl::StrCat(kSmallChunkBytes);
  auto [echo, check] = RunPair(
      {"--key", Key(protocol), "--protocol", protocol, "--mode", "echo"},
      {"--key", Key(protocol), "--protocol", protocol, "--mode", "check",
       "--bytes", bytes, "--chunk", "16", "--seed", "7"});
  ExpectSuccess(echo, "ECHOED " + bytes);
  ExpectSuccess(check, "CHECKED " + bytes);
}

TEST_P(RecordPeerRoundTripTest, MaxSizeFrames) {
  const std::string protocol = GetParam();
  const std::string bytes = absl::StrCat(kLargeRunBytes);
  auto [echo, check] = RunPair(
      {"--key", Key(protocol), "--protocol", protocol, "--mode", "echo",
       "--frame-size", "1048576"},
      {"--key", Key(protocol), "--protocol", protocol, "--mode", "check",
       "--bytes", bytes, "--chunk", "1048576", "--frame-size", "1048576"});
  ExpectSuccess(echo, "ECHOED " + bytes);
  ExpectSuccess(check, "CHECKED " + bytes);
}

TEST_P(RecordPeerRoundTripTest, ListenerChecksConnectorEchoesInTinyFrames) {
  // The echo side reseals 16 KiB frames into 64-byte ones (40 bytes each).
  const std::string protocol = GetParam();
  auto [check, echo] =
      RunPair({"--key", Key(protocol), "--protocol", protocol, "--mode",
               "check", "--bytes", "200000", "--chunk", "40000", "--seed", "3"},
              {"--key", Key(protocol), "--protocol", protocol, "--mode", "echo",
               "--frame-size", "64"});
  ExpectSuccess(check, "CHECKED 200000");
  ExpectSuccess(echo, "ECHOED 200000");
}

INSTANTIATE_TEST_SUITE_P(Protocols, RecordPeerRoundTripTest,
                         ::testing::Values("ALTSRP_GCM_AES128_REKEY",
                                           "ALTSRP_GCM_AES128"));

TEST(RecordPeerTest, ZeroBytesChecksAndClosesCleanly) {
  auto [echo, check] =
      RunPair({"--key", kRekeyKey},
              {"--key", kRekeyKey, "--mode", "check", "--bytes", "0"});
  ExpectSuccess(echo, "ECHOED 0");
  ExpectSuccess(check, "CHECKED 0");
}

TEST(RecordPeerTest, EchoesGrpcRekeyFramesByteForByte) {
  // gRPC's client frames #0 and #1 of "Hello, ALTS!"; the server's echo of
  // the same plaintext must be gRPC's server frames #0 and #1 exactly.
  auto [listener, port] = StartListener({"--key", kRekeyKey, "--mode", "echo"});
  ASSERT_NE(listener, nullptr);
  LoopbackSocket peer = LoopbackSocket::Connect(port);
  ASSERT_TRUE(
      peer.Send(Concat(FromHex(kRekeyClient0), FromHex(kRekeyClient1))));
  std::vector<uint8_t> want =
      Concat(FromHex(kRekeyServer0), FromHex(kRekeyServer1));
  EXPECT_EQ(peer.Read(want.size()), want);
  peer.ShutdownWrite();
  EXPECT_EQ(peer.ReadToEnd(), 0u);
  ExpectSuccess(listener->Wait(), "ECHOED 24");
}

TEST(RecordPeerTest, EchoesGrpcGcmFramesWithGrpcKeystream) {
  // gRPC's server vectors carry "Server Message"; the echo carries "Client
  // Message" under the same counters, so (GCM being a stream cipher) its
  // ciphertext is the vector's XOR the difference of the two plaintexts.
  auto [listener, port] = StartListener(
      {"--key", kGcmKey, "--protocol", "ALTSRP_GCM_AES128", "--mode", "echo"});
  ASSERT_NE(listener, nullptr);
  LoopbackSocket peer = LoopbackSocket::Connect(port);
  ASSERT_TRUE(peer.Send(FromHex(kGcmClient0)));
  std::vector<uint8_t> echo0 = peer.Read(38);
  ASSERT_TRUE(peer.Send(FromHex(kGcmClient1)));
  std::vector<uint8_t> echo1 = peer.Read(38);
  constexpr absl::string_view kSent = "Client Message";
  constexpr absl::string_view kInVector = "Server Message";
  for (auto [echo, vector] :
       {std::pair{&echo0, kGcmServer0}, std::pair{&echo1, kGcmServer1}}) {
    std::vector<uint8_t> want = FromHex(vector);
    for (size_t i = 0; i < kSent.size(); ++i) {
      want[8 + i] ^= static_cast<uint8_t>(kSent[i] ^ kInVector[i]);
    }
    ASSERT_EQ(echo->size(), want.size());
    // Everything but the tag (which covers the plaintext) is predictable.
    EXPECT_EQ(std::vector<uint8_t>(echo->begin(), echo->end() - 16),
              std::vector<uint8_t>(want.begin(), want.end() - 16));
  }
  peer.ShutdownWrite();
  EXPECT_EQ(peer.ReadToEnd(), 0u);
  ExpectSuccess(listener->Wait(), "ECHOED 28");
}

// HostileCase is a byte sequence that `record_peer --listen --mode echo` must
// refuse with exit 1 and `message` on stderr.
struct HostileCase {
  const char* name;
  const char* protocol;
  std::vector<uint8_t> bytes;
  bool close_after;  // send EOF after the bytes (else keep the socket open)
  const char* message;
};

// PrintTo names a case in gtest's failure messages.
void PrintTo(const HostileCase& c, std::ostream* os) { *os << c.name; }

std::vector<HostileCase> HostileCases() {
  std::vector<uint8_t> bad_type = FromHex("2200000007000000");
  bad_type.resize(38, 0x41);
  std::vector<uint8_t> tampered_tag = FromHex(kGcmClient0);
  tampered_tag.back() ^= 0x01;
  std::vector<uint8_t> tampered_ciphertext = FromHex(kGcmClient0);
  tampered_ciphertext[10] ^= 0x80;
  std::vector<uint8_t> truncated = FromHex(kRekeyClient0);
  truncated.resize(20);
  const char* kRekey = "ALTSRP_GCM_AES128_REKEY";
  const char* kGcm = "ALTSRP_GCM_AES128";
  const char* kMalformed =
      "record_peer: frame from peer rejected: INVALID_ARGUMENT: ";
  const char* kAuth = "record_peer: frame from peer rejected: DATA_LOSS: ";
  return {
      {"BadType", kRekey, bad_type, true, kMalformed},
      // Rejected from the 4 length bytes alone, without waiting for a body.
      {"OversizedLength", kRekey, FromHex("01001000"), false, kMalformed},
      {"LengthBelowTypePlusTag", kRekey, FromHex("1300000006000000"), false,
       kMalformed},
      {"TamperedTag", kGcm, tampered_tag, true, kAuth},
      {"TamperedCiphertext", kGcm, tampered_ciphertext, true, kAuth},
      {"ReplayedFrame", kRekey,
       Concat(FromHex(kRekeyClient0), FromHex(kRekeyClient0)), true, kAuth},
      {"ReflectedServerFrame", kRekey, FromHex(kRekeyServer0), true, kAuth},
      {"TruncatedFrameAtEof", kRekey, truncated, true,
       "record_peer: frame from peer rejected: DATA_LOSS: truncated frame at "
       "EOF"},
      {"TruncatedLengthAtEof", kRekey, FromHex("2000"), true,
       "record_peer: frame from peer rejected: DATA_LOSS: truncated frame at "
       "EOF"},
  };
}

class RecordPeerHostileTest : public ::testing::TestWithParam<HostileCase> {};

TEST_P(RecordPeerHostileTest, EchoSideRejectsWithSpecificError) {
  const HostileCase& c = GetParam();
  auto [listener, port] = StartListener(
      {"--key", Key(c.protocol), "--protocol", c.protocol, "--mode", "echo"});
  ASSERT_NE(listener, nullptr);
  LoopbackSocket peer = LoopbackSocket::Connect(port);
  peer.Send(c.bytes);
  if (c.close_after) peer.ShutdownWrite();
  ProcessResult r = listener->Wait();
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith(c.message)) << r;
  EXPECT_EQ(r.out, "") << r;
}

INSTANTIATE_TEST_SUITE_P(Frames, RecordPeerHostileTest,
                         ::testing::ValuesIn(HostileCases()),
                         [](const ::testing::TestParamInfo<HostileCase>& info) {
                           return std::string(info.param.name);
                         });

// RunCheckAgainst runs `record_peer --connect ... --mode check` plus `args`
// against a raw listener, lets `script` play the echo side, and returns the
// check side's result.
template <typename Script>
ProcessResult RunCheckAgainst(const std::vector<std::string>& args,
                              Script script) {
  int port = 0;
  LoopbackSocket listener = LoopbackSocket::Listen(port);
  std::unique_ptr<Process> check =
      Process::Start(kRecordPeer, WithConnect(port, args));
  if (check == nullptr) return {};
  {
    // Closed before waiting: the check side reads until the echo side closes.
    LoopbackSocket peer = listener.Accept();
    script(peer);
  }
  return check->Wait();
}

TEST(RecordPeerCheckTest, RejectsMalformedEchoFrame) {
  ProcessResult r = RunCheckAgainst(
      {"--key", kRekeyKey, "--mode", "check", "--bytes", "1000"},
      [](LoopbackSocket& peer) {
        std::vector<uint8_t> bad_type = FromHex("2000000005000000");
        bad_type.resize(32, 0);
        peer.Send(bad_type);
        peer.ReadToEnd();
      });
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("record_peer: frame from peer rejected: "
                                "INVALID_ARGUMENT: "))
      << r;
}

TEST(RecordPeerCheckTest, ReportsFirstMismatchingOffset) {
  // A valid server frame, but of "Hello, ALTS!" rather than the check data.
  ProcessResult r = RunCheckAgainst(
      {"--key", kRekeyKey, "--mode", "check", "--bytes", "1000"},
      [](LoopbackSocket& peer) {
        peer.Send(FromHex(kRekeyServer0));
        peer.ReadToEnd();
      });
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("record_peer: echo check failed: DATA_LOSS: "
                                "echo differs at offset "))
      << r;
}

TEST(RecordPeerCheckTest, RejectsEchoLongerThanSent) {
  ProcessResult r = RunCheckAgainst(
      {"--key", kRekeyKey, "--mode", "check", "--bytes", "5"},
      [](LoopbackSocket& peer) {
        peer.Send(FromHex(kRekeyServer0));  // 12 bytes of plaintext
        peer.ReadToEnd();
      });
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("record_peer: echo check failed: DATA_LOSS: "
                                "peer echoed more than was sent"))
      << r;
}

TEST(RecordPeerCheckTest, ReportsShortEchoWhenPeerCloses) {
  ProcessResult r = RunCheckAgainst(
      {"--key", kRekeyKey, "--mode", "check", "--bytes", "1000"},
      [](LoopbackSocket& peer) {
        // Swallow everything, echo nothing, close after the check side does.
        EXPECT_GT(peer.ReadToEnd(), 1000u);
      });
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("record_peer: echo check failed: DATA_LOSS: "
                                "echo incomplete: got 0 of 1000 bytes"))
      << r;
}

TEST(RecordPeerTest, KeyMismatchFailsBothSides) {
  auto [echo, check] = RunPair(
      {"--key", kRekeyKey, "--mode", "echo"},
      {"--key", kOtherRekeyKey, "--mode", "check", "--bytes", "100000"});
  EXPECT_EQ(echo.exit_code, 1) << echo;
  EXPECT_THAT(echo.err,
              StartsWith("record_peer: frame from peer rejected: DATA_LOSS: "))
      << echo;
  EXPECT_EQ(check.exit_code, 1) << check;
  EXPECT_THAT(check.err, HasSubstr("DATA_LOSS")) << check;
  EXPECT_EQ(check.out, "") << check;
}

// TcpAttemptFails returns the kernel's count of TCP connects that failed
// (the AttemptFails field of /proc/net/snmp's Tcp lines; a connect to a
// port nobody listens on counts), or -1 if it cannot be read.
int64_t TcpAttemptFails() {
  std::FILE* f = std::fopen("/proc/net/snmp", "r");
  if (f == nullptr) return -1;
  std::vector<std::string> tcp_lines;
  char line[4096];
  while (std::fgets(line, sizeof(line), f) != nullptr) {
    if (absl::StartsWith(line, "Tcp:")) tcp_lines.emplace_back(line);
  }
  std::fclose(f);
  if (tcp_lines.size() < 2) return -1;
  std::vector<absl::string_view> names = absl::StrSplit(tcp_lines[0], ' ', absl::SkipEmpty());
  std::vector<absl::string_view> values = absl::StrSplit(tcp_lines[1], ' ', absl::SkipEmpty());
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    int64_t v;
    if (absl::StripAsciiWhitespace(names[i]) == "AttemptFails" &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(values[i]), &v)) {
      return v;
    }
  }
  return -1;
}

TEST(RecordPeerTest, ConnectRetriesUntilTheListenerIsUp) {
  // Find a free port, release it, start the connector first.
  const int port = UnusedLoopbackPort();
  const int64_t fails_before = TcpAttemptFails();
  ASSERT_GE(fails_before, 0) << "cannot read /proc/net/snmp";
  std::unique_ptr<Process> check = Process::Start(
      kRecordPeer, WithConnect(port, {"--key", kRekeyKey, "--mode", "check",
                                      "--bytes", "1000"}));
  ASSERT_NE(check, nullptr);
  // Start the listener only once connects have been refused twice: the
  // connector's first attempt and its first retry (other processes' failed
  // connects count too, which can only make this wait shorter, never
  // longer than the connector's 5 s retry window).
  const auto deadline = Clock::now() + std::chrono::seconds(4);
  while (TcpAttemptFails() < fails_before + 2 && Clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_GE(TcpAttemptFails(), fails_before + 2) << "the connector never tried";
  auto [echo, listening_port] = StartListener({"--key", kRekeyKey}, port);
  ASSERT_NE(echo, nullptr);
  ExpectSuccess(check->Wait(), "CHECKED 1000");
  ExpectSuccess(echo->Wait(), "ECHOED 1000");
}

TEST(RecordPeerTest, ConnectGivesUpWhenNobodyListens) {
  const int port = UnusedLoopbackPort();
  const auto start = Clock::now();
  std::unique_ptr<Process> check = Process::Start(
      kRecordPeer, WithConnect(port, {"--key", kRekeyKey, "--mode", "check",
                                      "--bytes", "10"}));
  ASSERT_NE(check, nullptr);
  ProcessResult r = check->Wait();
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("record_peer: no connection: ")) << r;
  EXPECT_GE(Clock::now() - start, std::chrono::seconds(4));
}

class RecordPeerUsageTest
    : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(RecordPeerUsageTest, ExitsTwoWithUsage) {
  std::unique_ptr<Process> p = Process::Start(kRecordPeer, GetParam());
  ASSERT_NE(p, nullptr);
  ProcessResult r = p->Wait();
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, StartsWith("record_peer: ")) << r;
  EXPECT_THAT(r.err, HasSubstr("usage: record_peer")) << r;
  EXPECT_EQ(r.out, "") << r;
}

const std::string kListen = "--listen";
const std::string kAddr = "127.0.0.1:0";

INSTANTIATE_TEST_SUITE_P(
    BadCommandLines, RecordPeerUsageTest,
    ::testing::Values(
        std::vector<std::string>{},
        std::vector<std::string>{"--key", kRekeyKey},
        std::vector<std::string>{kListen, kAddr},
        std::vector<std::string>{kListen, kAddr, "--connect", kAddr, "--key",
                                 kRekeyKey},
        std::vector<std::string>{kListen, kAddr, "--key", kGcmKey},
        std::vector<std::string>{kListen, kAddr, "--key", "xyz0"},
        std::vector<std::string>{kListen, kAddr, "--key", "123"},
        std::vector<std::string>{kListen, kAddr, "--key", kRekeyKey,
                                 "--protocol", "ALTSRP_CHACHA"},
        std::vector<std::string>{kListen, kAddr, "--key", kRekeyKey, "--mode",
                                 "mirror"},
        std::vector<std::string>{kListen, kAddr, "--key", kRekeyKey,
                                 "--frame-size", "47"},
        std::vector<std::string>{kListen, kAddr, "--key", kRekeyKey,
                                 "--frame-size", "1048577"},
        std::vector<std::string>{kListen, kAddr, "--key", kRekeyKey, "--chunk",
                                 "0"},
        std::vector<std::string>{kListen, kAddr, "--key", kRekeyKey, "--bytes",
                                 "-1"},
        std::vector<std::string>{kListen, "127.0.0.1", "--key", kRekeyKey},
        std::vector<std::string>{kListen, "127.0.0.1:70000", "--key",
                                 kRekeyKey},
        std::vector<std::string>{kListen, kAddr, "--key", kRekeyKey, "--seed"},
        std::vector<std::string>{kListen, kAddr, "--key", kRekeyKey,
                                 "--verbose"},
        std::vector<std::string>{kListen, kAddr, "--key", kRekeyKey, "stray"}));

}  // namespace
}  // namespace alts::testing
