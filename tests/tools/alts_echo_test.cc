// alts-test-labels: threads
// Runs the alts_echo binary end to end: a server and clients as separate
// processes over loopback, with credentials made by alts_keygen in a
// temporary directory. Hostile peers are written here: a raw socket for
// bytes before any handshake, and for bytes after a successful handshake a
// client that runs the handshake itself (the Handshaker engine over a
// blocking socket, with the same credential files) and then writes
// malformed or tampered frames straight to the socket.
//
// The label is for the tool: in the ThreadSanitizer build the alts_echo it
// runs (reactor threads, pools) is instrumented too.

#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "frame/frame_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/credential_file.h"
#include "handshaker/handshake_result.h"
#include "handshaker/handshaker.h"
#include "tests/tools/loopback_socket.h"
#include "tests/tools/process_runner.h"

namespace alts::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kAltsEcho[] = ALTS_ECHO_PATH;
constexpr char kAltsKeygen[] = ALTS_KEYGEN_PATH;

using Clock = std::chrono::steady_clock;

#ifdef ALTS_SANITIZER_BUILD
// Sanitizers make every handshake and byte several times dearer.
constexpr int kIdleConns = 50;
constexpr uint64_t kBulkBytes = 2u << 20;
#else
constexpr int kIdleConns = 200;
constexpr uint64_t kBulkBytes = 8u << 20;
#endif

constexpr char kServerAccount[] = "echo-server@example";
constexpr char kClientAccount[] = "echo-client@example";
constexpr char kIntruderAccount[] = "intruder@example";

// RawAltsClient is a client that runs the ALTS handshake itself over a
// blocking socket and then holds the record protector, so a test can write
// frames of its choice (valid, malformed or tampered) to the server.
class RawAltsClient {
 public:
  // Connect handshakes with the server at `port` using `config`.
  static absl::StatusOr<RawAltsClient> Connect(int port,
                                               std::shared_ptr<const HandshakerConfig> config) {
    LoopbackSocket server = LoopbackSocket::Connect(port);
    absl::StatusOr<std::unique_ptr<Handshaker>> handshaker =
        Handshaker::Create(Side::kClient, std::move(config), HandshakeParams{});
    if (!handshaker.ok()) return handshaker.status();
    std::string out;
    if (absl::Status s = (*handshaker)->Start(&out); !s.ok()) return s;
    uint8_t buf[4096];
    while (!(*handshaker)->done()) {
      if (!server.Send(out)) return absl::UnavailableError("handshake send failed");
      out.clear();
      const ssize_t n = server.ReadSome(absl::MakeSpan(buf));
      if (n <= 0) return absl::UnavailableError("server closed during the handshake");
      absl::StatusOr<size_t> consumed =
          (*handshaker)->Step(absl::MakeConstSpan(buf, static_cast<size_t>(n)), &out);
      if (!consumed.ok()) return consumed.status();
    }
    if (!server.Send(out)) return absl::UnavailableError("handshake send failed");
    absl::StatusOr<RecordProtector> protector = MakeRecordProtector((*handshaker)->result());
    if (!protector.ok()) return protector.status();
    return RawAltsClient(std::move(server), std::move(*protector));
  }

  // socket is the connection to the server.
  LoopbackSocket& socket() { return socket_; }

  // Seal returns `plaintext` sealed as the connection's next frame.
  std::vector<uint8_t> Seal(absl::string_view plaintext) {
    std::vector<uint8_t> frame(protector_.SealedSize(plaintext.size()));
    absl::StatusOr<size_t> n = protector_.Seal(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(plaintext.data()), plaintext.size()),
        absl::MakeSpan(frame));
    EXPECT_TRUE(n.ok()) << n.status();
    return frame;
  }

  // Echo sends `message` in one frame and returns the echoed plaintext
  // (empty if the echo did not come back whole).
  std::string Echo(absl::string_view message) {
    if (!socket_.Send(Seal(message))) return "";
    std::vector<uint8_t> in;
    std::string echoed;
    uint8_t buf[4096];
    while (echoed.size() < message.size()) {
      absl::StatusOr<OpenResult> opened = protector_.OpenNext(absl::MakeSpan(in));
      if (!opened.ok()) {
        ADD_FAILURE() << opened.status();
        return "";
      }
      if (opened->consumed > 0) {
        echoed.append(reinterpret_cast<const char*>(opened->plaintext.data()),
                      opened->plaintext.size());
        in.erase(in.begin(), in.begin() + static_cast<ptrdiff_t>(opened->consumed));
        continue;
      }
      const ssize_t n = socket_.ReadSome(absl::MakeSpan(buf));
      if (n <= 0) return "";
      in.insert(in.end(), buf, buf + n);
    }
    return echoed;
  }

 private:
  RawAltsClient(LoopbackSocket socket, RecordProtector protector)
      : socket_(std::move(socket)), protector_(std::move(protector)) {}

  LoopbackSocket socket_;
  RecordProtector protector_;
};

class AltsEchoTest : public ::testing::Test {
 protected:
  // The credentials are made once: a trusted root with a server, a client
  // and an intruder leaf, and an unrelated root with a client leaf.
  static void SetUpTestSuite() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "alts_echo_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = new std::string(tmpl);
    const std::vector<std::vector<std::string>> commands = {
        {"create-root", "--name", "echo-root", "--out", Path("root")},
        {"create-root", "--name", "other-root", "--out", Path("other")},
        {"issue-leaf", "--issuer-key", Path("root.key"), "--service-account", kServerAccount,
         "--attr", "env=test", "--out", Path("server")},
        {"issue-leaf", "--issuer-key", Path("root.key"), "--service-account", kClientAccount,
         "--attr", "team=qa", "--out", Path("client")},
        {"issue-leaf", "--issuer-key", Path("root.key"), "--service-account", kIntruderAccount,
         "--out", Path("intruder")},
        {"issue-leaf", "--issuer-key", Path("other.key"), "--service-account", kClientAccount,
         "--out", Path("stranger")},
    };
    for (const auto& command : commands) {
      ProcessResult r = RunToEnd(kAltsKeygen, command);
      ASSERT_EQ(r.exit_code, 0) << command[0] << "\n" << r;
    }
  }

  static void TearDownTestSuite() {
    if (dir_ == nullptr) return;
    std::error_code ignored;
    std::filesystem::remove_all(*dir_, ignored);
    delete dir_;
    dir_ = nullptr;
  }

  static std::string Path(absl::string_view name) { return absl::StrCat(*dir_, "/", name); }

  // Credential returns the --cert/--key/--roots flags for leaf `name` trusting
  // root `roots`.
  static std::vector<std::string> Credential(absl::string_view name,
                                             absl::string_view roots = "root") {
    return {"--cert",  Path(absl::StrCat(name, ".chain")),
            "--key",   Path(absl::StrCat(name, ".key")),
            "--roots", Path(absl::StrCat(roots, ".root"))};
  }

  // StartServer starts `alts_echo --listen 127.0.0.1:0` with the server
  // credential plus `extra` and reads the port it printed.
  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen", "127.0.0.1:0"};
    for (std::string& a : Credential("server")) args.push_back(std::move(a));
    for (std::string& a : extra) args.push_back(std::move(a));
    server_ = Process::Start(kAltsEcho, args);
    ASSERT_NE(server_, nullptr);
    const std::string line = server_->WaitForLine("LISTENING");
    constexpr absl::string_view kPrefix = "LISTENING 127.0.0.1:";
    ASSERT_TRUE(absl::StartsWith(line, kPrefix) &&
                absl::SimpleAtoi(absl::string_view(line).substr(kPrefix.size()), &port_) &&
                port_ > 0)
        << "bad LISTENING line '" << line << "'\n"
        << server_->Wait();
  }

  // RunClient runs `alts_echo --connect` to the server as leaf `name`.
  ProcessResult RunClient(std::vector<std::string> extra = {}, absl::string_view name = "client",
                          absl::string_view roots = "root") {
    std::vector<std::string> args = {"--connect", absl::StrCat("127.0.0.1:", port_)};
    for (std::string& a : Credential(name, roots)) args.push_back(std::move(a));
    for (std::string& a : extra) args.push_back(std::move(a));
    return RunToEnd(kAltsEcho, args);
  }

  // ExpectServerStillServes runs one good client and checks its echo.
  void ExpectServerStillServes() {
    ProcessResult r = RunClient({"--target", kServerAccount});
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_EQ(Line(r, "bytes verified: "), "bytes verified: 64") << r;
  }

  // StopServer sends SIGTERM and returns the server's result.
  ProcessResult StopServer() {
    server_->Signal(SIGTERM);
    ProcessResult r = server_->Wait();
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_EQ(r.err, "") << r;
    return r;
  }

  // ClientConfig is the client credential read from the files, for the
  // in-test client.
  static std::shared_ptr<const HandshakerConfig> ClientConfig() {
    auto config = std::make_shared<HandshakerConfig>();
    absl::StatusOr<std::shared_ptr<const WorkloadCredential>> credential =
        ReadWorkloadCredential(Path("client.chain"), Path("client.key"));
    EXPECT_TRUE(credential.ok()) << credential.status();
    absl::StatusOr<std::vector<TrustRoot>> roots = ReadTrustRoots(Path("root.root"));
    EXPECT_TRUE(roots.ok()) << roots.status();
    absl::StatusOr<std::shared_ptr<CertificateVerifier>> verifier =
        CertificateVerifier::Create(*roots);
    EXPECT_TRUE(verifier.ok()) << verifier.status();
    config->credential = *credential;
    config->verifier = *verifier;
    return config;
  }

  static std::string* dir_;
  std::unique_ptr<Process> server_;
  int port_ = 0;
};

std::string* AltsEchoTest::dir_ = nullptr;

TEST_F(AltsEchoTest, AuthenticatedEchoShowsBothIdentities) {
  StartServer();
  ProcessResult client = RunClient({"--target", kServerAccount});
  ASSERT_EQ(client.exit_code, 0) << client;
  EXPECT_EQ(client.err, "") << client;
  EXPECT_THAT(Line(client, "server identity: "),
              StartsWith(absl::StrCat("server identity: echo-server@example env=test (127.0.0.1:",
                                      port_, ", ALTSRP_GCM_AES128_REKEY, handshake ")))
      << client;
  EXPECT_EQ(Line(client, "connections established: "), "connections established: 1");
  EXPECT_EQ(Line(client, "connections failed: "), "connections failed: 0");
  EXPECT_THAT(Line(client, "handshake p50: "), StartsWith("handshake p50: "));
  EXPECT_THAT(Line(client, "handshake p99: "), StartsWith("handshake p99: "));
  EXPECT_EQ(Line(client, "bytes verified: "), "bytes verified: 64");
  EXPECT_THAT(Line(client, "throughput: "), StartsWith("throughput: "));

  const std::string accepted = server_->WaitForLine("accepted ");
  EXPECT_THAT(accepted, StartsWith("accepted 127.0.0.1:"));
  EXPECT_THAT(accepted, HasSubstr(": echo-client@example team=qa (ALTSRP_GCM_AES128_REKEY)"));
  const std::string peer = std::string(
      absl::string_view(accepted).substr(0, accepted.find(": ")).substr(strlen("accepted ")));
  EXPECT_EQ(server_->WaitForLine("closed "), absl::StrCat("closed ", peer, ": echoed 64 bytes"));
  ProcessResult server = StopServer();
  EXPECT_THAT(server.out, HasSubstr("received SIGTERM, shutting down\n"));
  EXPECT_THAT(server.out, HasSubstr("totals: accepted 1, rejected 0, closed 1, open at "
                                    "shutdown 0, bytes echoed 64\n"));
}

TEST_F(AltsEchoTest, IdleConnectionsHoldNoPoolBuffers) {
  StartServer();
  const auto start = Clock::now();
  ProcessResult client = RunClient(
      {"--conns", absl::StrCat(kIdleConns), "--idle-seconds", "1", "--message-size", "100"});
  ASSERT_EQ(client.exit_code, 0) << client;
  EXPECT_GE(Clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(Line(client, "connections established: "),
            absl::StrCat("connections established: ", kIdleConns));
  EXPECT_EQ(Line(client, "connections failed: "), "connections failed: 0");
  EXPECT_EQ(Line(client, "bytes verified: "), absl::StrCat("bytes verified: ", kIdleConns * 100));
  EXPECT_EQ(Line(client, "pool buffers outstanding while idle: "),
            "pool buffers outstanding while idle: 0")
      << client;
  // The heap an idle connection holds is its own object: no read buffer.
  const std::string heap = Line(client, "heap held by connections while idle: ");
  uint64_t bytes = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripPrefix(heap.substr(0, heap.find(" bytes")),
                                                 "heap held by connections while idle: "),
                               &bytes))
      << client;
  EXPECT_GT(bytes, 0u);
  EXPECT_LT(bytes / kIdleConns, 4096u) << heap;
  ProcessResult server = StopServer();
  EXPECT_THAT(server.out, HasSubstr(absl::StrCat("totals: accepted ", kIdleConns,
                                                 ", rejected 0, closed ", kIdleConns)));
}

TEST_F(AltsEchoTest, BulkBytesAreVerified) {
  StartServer({"--threads", "1"});
  ProcessResult client = RunClient({"--bytes", absl::StrCat(kBulkBytes)});
  ASSERT_EQ(client.exit_code, 0) << client;
  EXPECT_EQ(Line(client, "bytes verified: "), absl::StrCat("bytes verified: ", kBulkBytes));
  EXPECT_THAT(Line(client, "throughput: "),
              HasSubstr(absl::StrCat(" MB/s (", kBulkBytes, " bytes in ")));
  EXPECT_THAT(server_->WaitForLine("closed "),
              HasSubstr(absl::StrCat(": echoed ", kBulkBytes, " bytes")));
  ProcessResult server = StopServer();
  EXPECT_THAT(server.out, HasSubstr(absl::StrCat("bytes echoed ", kBulkBytes, "\n")));
}

TEST_F(AltsEchoTest, TargetMismatchFailsClearlyAndServerKeepsServing) {
  StartServer();
  ProcessResult client = RunClient({"--target", "someone-else@example"});
  EXPECT_EQ(client.exit_code, 1) << client;
  EXPECT_THAT(client.err, HasSubstr(absl::StrCat("alts_echo: handshake with 127.0.0.1:", port_,
                                                 " failed: PERMISSION_DENIED: server identity "
                                                 "echo-server@example is not a target identity\n")))
      << client;
  EXPECT_THAT(client.err, HasSubstr("alts_echo: 1 of 1 connections failed\n"));
  EXPECT_EQ(Line(client, "connections established: "), "connections established: 0");
  // The client gave up mid-handshake; the server says so and goes on.
  EXPECT_THAT(server_->WaitForLine("rejected "),
              HasSubstr(": UNAVAILABLE: peer closed the connection during the handshake"));
  ExpectServerStillServes();
  ProcessResult server = StopServer();
  EXPECT_THAT(server.out, HasSubstr("totals: accepted 1, rejected 1, closed 1,"));
}

TEST_F(AltsEchoTest, ClientFromAnotherRootIsRejectedWithTheReason) {
  StartServer();
  // The stranger trusts the server's root, but its own chain is from a root
  // the server does not know.
  ProcessResult client = RunClient({}, "stranger", "root");
  EXPECT_EQ(client.exit_code, 1) << client;
  EXPECT_THAT(client.err, HasSubstr("alts_echo: handshake with 127.0.0.1:")) << client;
  EXPECT_THAT(server_->WaitForLine("rejected "),
              ::testing::MatchesRegex("rejected 127\\.0\\.0\\.1:[0-9]+: UNAUTHENTICATED: .*"));
  ExpectServerStillServes();
  StopServer();
}

TEST_F(AltsEchoTest, AllowListRejectsOtherServiceAccounts) {
  StartServer({"--allow", kClientAccount, "--allow", "someone@example"});
  ProcessResult intruder = RunClient({}, "intruder");
  EXPECT_EQ(intruder.exit_code, 1) << intruder;
  EXPECT_THAT(server_->WaitForLine("rejected "), HasSubstr(": PERMISSION_DENIED: "));
  ExpectServerStillServes();
  StopServer();
}

TEST_F(AltsEchoTest, GarbageBeforeTheHandshakeIsRejected) {
  StartServer();
  {
    LoopbackSocket raw = LoopbackSocket::Connect(port_);
    const std::string peer = raw.LocalName();
    ASSERT_TRUE(raw.Send("GET / HTTP/1.1\r\nHost: example\r\n\r\n"));
    EXPECT_THAT(server_->WaitForLine("rejected "),
                StartsWith(absl::StrCat("rejected ", peer, ": INVALID_ARGUMENT: ")));
    EXPECT_TRUE(raw.ReadsEndOfStream());
  }
  ExpectServerStillServes();
  StopServer();
}

// AfterHandshakeCase is what an authenticated client sends after a valid
// echo, and the error the server must print for it.
struct AfterHandshakeCase {
  const char* name;
  const char* code;
};

void PrintTo(const AfterHandshakeCase& c, std::ostream* os) { *os << c.name; }

class AltsEchoAfterHandshakeTest : public AltsEchoTest,
                                   public ::testing::WithParamInterface<AfterHandshakeCase> {};

TEST_P(AltsEchoAfterHandshakeTest, BadFrameIsRejectedAndServerKeepsServing) {
  StartServer();
  {
    absl::StatusOr<RawAltsClient> client = RawAltsClient::Connect(port_, ClientConfig());
    ASSERT_TRUE(client.ok()) << client.status();
    const std::string peer = client->socket().LocalName();
    EXPECT_THAT(server_->WaitForLine("accepted "),
                StartsWith(absl::StrCat("accepted ", peer, ": echo-client@example team=qa")));
    // The session works before anything goes wrong.
    EXPECT_EQ(client->Echo("ping"), "ping");
    std::vector<uint8_t> bad;
    const absl::string_view name = GetParam().name;
    if (name == "Garbage") {
      // A plausible length, then text where the frame type should be.
      const absl::string_view text = "this is not an ALTS frame...";
      bad = {static_cast<uint8_t>(text.size()), 0, 0, 0};
      bad.insert(bad.end(), text.begin(), text.end());
    } else if (name == "OversizedLength") {
      // One byte more than the largest frame; nothing else needs to follow.
      const uint32_t length = kMaxFrameLengthField + 1;
      bad = {static_cast<uint8_t>(length), static_cast<uint8_t>(length >> 8),
             static_cast<uint8_t>(length >> 16), static_cast<uint8_t>(length >> 24)};
    } else {
      // A genuine next frame with one ciphertext bit flipped.
      bad = client->Seal("pong");
      bad[kFrameHeaderSize] ^= 0x01;
    }
    ASSERT_TRUE(client->socket().Send(bad));
    EXPECT_THAT(server_->WaitForLine("rejected "),
                StartsWith(absl::StrCat("rejected ", peer, ": ", GetParam().code, ": ")));
    EXPECT_TRUE(client->socket().ReadsEndOfStream());
  }
  ExpectServerStillServes();
  ProcessResult server = StopServer();
  EXPECT_THAT(server.out, HasSubstr("totals: accepted 2, rejected 1, closed 1,"));
}

INSTANTIATE_TEST_SUITE_P(Frames, AltsEchoAfterHandshakeTest,
                         ::testing::Values(AfterHandshakeCase{"Garbage", "INVALID_ARGUMENT"},
                                           AfterHandshakeCase{"OversizedLength",
                                                              "INVALID_ARGUMENT"},
                                           AfterHandshakeCase{"TamperedFrame", "DATA_LOSS"}),
                         [](const ::testing::TestParamInfo<AfterHandshakeCase>& info) {
                           return std::string(info.param.name);
                         });

TEST_F(AltsEchoTest, InterruptClosesOpenConnectionsAndPrintsTotals) {
  StartServer();
  std::unique_ptr<Process> client = Process::Start(kAltsEcho, [&] {
    std::vector<std::string> args = {"--connect", absl::StrCat("127.0.0.1:", port_),
                                     "--idle-seconds", "60"};
    for (std::string& a : Credential("client")) args.push_back(std::move(a));
    return args;
  }());
  ASSERT_NE(client, nullptr);
  ASSERT_THAT(server_->WaitForLine("accepted "), StartsWith("accepted "));
  server_->Signal(SIGINT);
  ProcessResult server = server_->Wait();
  EXPECT_EQ(server.exit_code, 0) << server;
  EXPECT_THAT(server.out, HasSubstr("received SIGINT, shutting down\n"));
  EXPECT_THAT(server.out, HasSubstr("totals: accepted 1, rejected 0, closed 0, open at "
                                    "shutdown 1, bytes echoed "));
  // The client notices long before its 60 idle seconds are up.
  const auto start = Clock::now();
  ProcessResult r = client->Wait();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("alts_echo: 1 of 1 connections failed")) << r;
}

TEST_F(AltsEchoTest, RuntimeFailuresExitOne) {
  // Missing credential file.
  ProcessResult missing =
      RunToEnd(kAltsEcho, {"--connect", "127.0.0.1:1", "--cert", Path("nope.chain"), "--key",
                           Path("client.key"), "--roots", Path("root.root")});
  EXPECT_EQ(missing.exit_code, 1) << missing;
  EXPECT_THAT(missing.err, StartsWith(absl::StrCat("alts_echo: NOT_FOUND: cannot load --cert ",
                                                   Path("nope.chain"))))
      << missing;
  // A roots file that is not one.
  ProcessResult bad_roots =
      RunToEnd(kAltsEcho, {"--listen", "127.0.0.1:0", "--cert", Path("server.chain"), "--key",
                           Path("server.key"), "--roots", Path("server.chain")});
  EXPECT_EQ(bad_roots.exit_code, 1) << bad_roots;
  EXPECT_THAT(bad_roots.err, HasSubstr("cannot load --roots ")) << bad_roots;
  // Nobody listening.
  const std::string unused = absl::StrCat("127.0.0.1:", UnusedLoopbackPort());
  ProcessResult refused = RunToEnd(kAltsEcho, [&] {
    std::vector<std::string> args = {"--connect", unused};
    for (std::string& a : Credential("client")) args.push_back(std::move(a));
    return args;
  }());
  EXPECT_EQ(refused.exit_code, 1) << refused;
  EXPECT_THAT(refused.err, HasSubstr(absl::StrCat("alts_echo: handshake with ", unused,
                                                  " failed: UNAVAILABLE: ")))
      << refused;
}

class AltsEchoUsageTest : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(AltsEchoUsageTest, ExitsTwoWithUsage) {
  ProcessResult r = RunToEnd(kAltsEcho, GetParam());
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, StartsWith("alts_echo: ")) << r;
  EXPECT_THAT(r.err, HasSubstr("usage:\n  alts_echo --listen")) << r;
  EXPECT_EQ(r.out, "") << r;
}

std::vector<std::string> Creds() {
  return {"--cert", "c.chain", "--key", "c.key", "--roots", "r.root"};
}

std::vector<std::string> With(std::vector<std::string> head, std::vector<std::string> tail = {}) {
  for (std::string& s : Creds()) head.push_back(std::move(s));
  for (std::string& s : tail) head.push_back(std::move(s));
  return head;
}

const std::vector<std::string> kListen = {"--listen", "127.0.0.1:0"};
const std::vector<std::string> kConnect = {"--connect", "127.0.0.1:1"};

INSTANTIATE_TEST_SUITE_P(
    BadCommandLines, AltsEchoUsageTest,
    ::testing::Values(
        std::vector<std::string>{}, With({}),
        With({"--listen", "127.0.0.1:0", "--connect", "127.0.0.1:1"}),
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--cert", "c", "--key", "k"},
        With(kListen, {"--target", "x@example"}), With(kConnect, {"--allow", "x@example"}),
        With(kListen, {"--conns", "3"}), With(kConnect, {"--conns", "0"}),
        With(kConnect, {"--conns", "-5"}), With(kConnect, {"--conns", "lots"}),
        With(kConnect, {"--conns", "1000001"}), With(kConnect, {"--threads", "0"}),
        With(kConnect, {"--message-size", "0"}), With(kConnect, {"--bytes", "0"}),
        With(kConnect, {"--bytes", "100", "--conns", "2"}),
        With(kConnect, {"--idle-seconds", "86401"}), With(kConnect, {"--verbose", "1"}),
        With(kConnect, {"stray"}), With(kConnect, {"--conns"}), With(kConnect, {"--cert", "again"}),
        With({"--listen", "127.0.0.1"}), With({"--connect", "example.com:443"})));

}  // namespace
}  // namespace alts::testing
