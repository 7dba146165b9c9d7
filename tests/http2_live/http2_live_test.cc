// Live HTTP/2 interop over loopback TCP (plaintext h2c with prior knowledge,
// and ALTS between our own ends), with real peers as separate processes:
//
//   nghttp, curl --http2-prior-knowledge, h2load, python-h2  -> tools/h2_peer --listen
//   tools/h2_peer --connect -> nghttpd --no-tls, python-h2, tools/h2_peer --listen (h2c, ALTS)
//
// Bodies of 0, 1, 16 KiB and over 1 MiB (past every default flow-control
// window) both ways, and many concurrent streams on one connection; every
// byte is checked against the pattern of tools/h2_peer/pattern.h (by the
// test for nghttp and curl, by the clients themselves otherwise). A suite
// whose peer is not installed skips with the package to install
// (tools/install-deps.sh installs them all).

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/interop/interop_test_util.h"
#include "tests/tools/loopback_socket.h"
#include "tests/tools/process_runner.h"
#include "tools/h2_peer/pattern.h"

namespace alts::h2peer::testing {
namespace {

using alts::interop::testing::TempDir;
using alts::testing::Line;
using alts::testing::Process;
using alts::testing::ProcessResult;
using alts::testing::RunToEnd;

constexpr char kPeer[] = H2_PEER_PATH;
constexpr char kKeygen[] = ALTS_KEYGEN_PATH;
constexpr char kPythonPeer[] = PYTHON_H2_PEER;
// kPython is Debian's interpreter, which has python3-h2 (not whichever
// python3 comes first on PATH).
constexpr char kPython[] = "/usr/bin/python3";

// kSizes are the body sizes every pairing carries: empty, one byte, one
// frame, and more than 1 MiB (over every default window, not a multiple of
// the frame size).
const std::vector<uint64_t> kSizes = {0, 1, 16384, 1049000};
// kSizesFlag is kSizes for the command lines that take SIZES.
constexpr char kSizesFlag[] = "0,1,16384,1049000";
// kManyStreams: concurrent streams in the many-streams runs (the peers'
// default MAX_CONCURRENT_STREAMS, ours included, is 100).
constexpr int kManyStreams = 100;

std::string Pattern(uint64_t n, uint32_t seed = 0) {
  std::string s(n, '\0');
  FillPattern(seed, 0, absl::MakeSpan(reinterpret_cast<uint8_t*>(s.data()), s.size()));
  return s;
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
  ASSERT_TRUE(f.good()) << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// FindTool returns the absolute path of `name` on PATH (or in the sbin
// directories, where nghttpd lives), or "" if it is not installed.
std::string FindTool(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::vector<std::string> dirs = absl::StrSplit(path != nullptr ? path : "", ':');
  for (const char* d : {"/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin",
                        "/sbin"}) {
    dirs.push_back(d);
  }
  for (const std::string& d : dirs) {
    if (d.empty()) continue;
    const std::string candidate = absl::StrCat(d, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// REQUIRE_TOOL sets `var` to the tool's path or skips the test naming the
// Debian package that has it.
#define REQUIRE_TOOL(var, name, package)                                               \
  const std::string var = FindTool(name);                                              \
  if (var.empty()) {                                                                   \
    GTEST_SKIP() << name << " is not installed (Debian package " << package           \
                 << "; tools/install-deps.sh installs it)";                            \
  }

// PythonH2Missing returns why python-h2 cannot run, or "" if it can.
std::string PythonH2Missing() {
  if (access(kPython, X_OK) != 0) return "no /usr/bin/python3";
  ProcessResult r = RunToEnd(kPython, {"-c", "import h2.connection"});
  if (r.exit_code != 0) return "python3 cannot import h2 (Debian package python3-h2)";
  return "";
}

// Server is a server process printing "LISTENING HOST:PORT".
struct Server {
  std::unique_ptr<Process> process;
  std::string port;

  std::string Url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", port, path);
  }
  // Stop sends SIGTERM and returns how the process ended.
  ProcessResult Stop() {
    process->Signal(SIGTERM);
    return process->Wait();
  }
};

Server StartListening(const char* binary, const std::vector<std::string>& args) {
  Server s;
  s.process = Process::Start(binary, args);
  if (s.process == nullptr) return s;
  const std::string line = s.process->WaitForLine("LISTENING ");
  const size_t colon = line.rfind(':');
  if (colon == std::string::npos) {
    ADD_FAILURE() << binary << " did not print LISTENING\n" << s.process->Wait();
    return s;
  }
  s.port = line.substr(colon + 1);
  return s;
}

Server StartOurServer(std::vector<std::string> extra = {}) {
  extra.insert(extra.begin(), "--listen=127.0.0.1:0");
  return StartListening(kPeer, extra);
}

// ExpectStopped stops our server and checks that it exited 0, that every
// stream it saw completed (none reset), and that it saw `connections`
// connections if that is not -1.
void ExpectStopped(Server& server, int connections = -1) {
  ProcessResult r = server.Stop();
  EXPECT_EQ(r.exit_code, 0) << r;
  const std::string stats = Line(r, "h2_peer: stopped:");
  EXPECT_TRUE(absl::StrContains(stats, " 0 reset")) << r;
  EXPECT_TRUE(absl::StrContains(stats, " 0 refused")) << r;
  if (connections >= 0) {
    EXPECT_TRUE(absl::StrContains(stats, absl::StrCat("stopped: ", connections, " connections")))
        << r;
  }
}

// RunOurClient runs h2_peer --connect against 127.0.0.1:`port` and returns
// its result.
ProcessResult RunOurClient(const std::string& port, std::vector<std::string> args) {
  args.insert(args.begin(), absl::StrCat("--connect=127.0.0.1:", port));
  args.push_back("--timeout_s=60");
  return RunToEnd(kPeer, args);
}

// ExpectOk checks that a client run exited 0 with an OK line for `requests`
// requests.
void ExpectOk(const ProcessResult& r, const std::string& ok_prefix, int requests) {
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat(ok_prefix, " OK ", requests, " requests")))
      << r;
}

// AtMostStreams returns N of "at most N streams at once" in a client's line.
int AtMostStreams(const ProcessResult& r) {
  const size_t at = r.out.find("at most ");
  int n = 0;
  if (at == std::string::npos ||
      !absl::SimpleAtoi(r.out.substr(at + 8, r.out.find(' ', at + 8) - at - 8), &n)) {
    return -1;
  }
  return n;
}

// ---------------------------------------------------------------------------
// Our client against our server.

class OursTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    for (const auto& command : std::vector<std::vector<std::string>>{
             {"create-root", "--name", "h2-root", "--out", dir_->Path("root")},
             {"issue-leaf", "--issuer-key", dir_->Path("root.key"), "--service-account",
              "h2-server@test", "--out", dir_->Path("server")},
             {"issue-leaf", "--issuer-key", dir_->Path("root.key"), "--service-account",
              "h2-client@test", "--out", dir_->Path("client")}}) {
      ProcessResult r = RunToEnd(kKeygen, command);
      ASSERT_EQ(r.exit_code, 0) << command[0] << "\n" << r;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::vector<std::string> Alts(const std::string& leaf) {
    return {"--alts_cert=" + dir_->Path(leaf + ".chain"), "--alts_key=" + dir_->Path(leaf + ".key"),
            "--alts_roots=" + dir_->Path("root.root")};
  }
  static TempDir* dir_;
};

TempDir* OursTest::dir_ = nullptr;

TEST_F(OursTest, EverySizeBothWaysOverPlaintext) {
  Server server = StartOurServer();
  ASSERT_FALSE(server.port.empty());
  ProcessResult r = RunOurClient(
      server.port, {absl::StrCat("--get=", kSizesFlag, ",3m"),
                    absl::StrCat("--echo=", kSizesFlag, ",3m"), "--concurrent=1"});
  ExpectOk(r, "h2_peer:", 10);
  ExpectStopped(server, 1);
}

TEST_F(OursTest, ManyConcurrentStreamsOverPlaintext) {
  Server server = StartOurServer();
  ASSERT_FALSE(server.port.empty());
  ProcessResult r = RunOurClient(
      server.port, {"--get=0,1,16k,1049000", "--echo=0,1,16k,1049000", "--repeat=50",
                    absl::StrCat("--concurrent=", 2 * kManyStreams)});
  ExpectOk(r, "h2_peer:", 400);
  // Never more than the server's MAX_CONCURRENT_STREAMS, and that many.
  EXPECT_EQ(AtMostStreams(r), kManyStreams) << r;
  ExpectStopped(server, 1);
}

TEST_F(OursTest, EverySizeAndManyStreamsOverAlts) {
  std::vector<std::string> server_args = Alts("server");
  server_args.push_back("--alts_allow=h2-client@test");
  Server server = StartOurServer(server_args);
  ASSERT_FALSE(server.port.empty());
  std::vector<std::string> args = Alts("client");
  args.push_back("--alts_target=h2-server@test");
  args.push_back(absl::StrCat("--get=", kSizesFlag));
  args.push_back(absl::StrCat("--echo=", kSizesFlag));
  args.push_back("--repeat=25");
  args.push_back(absl::StrCat("--concurrent=", kManyStreams));
  ProcessResult r = RunOurClient(server.port, args);
  ExpectOk(r, "h2_peer:", 200);
  EXPECT_TRUE(absl::StrContains(r.out, "ALTS server h2-server@test")) << r;
  ExpectStopped(server, 1);
}

TEST_F(OursTest, AltsRefusesTheWrongServerAndPlaintextPeers) {
  Server server = StartOurServer(Alts("server"));
  ASSERT_FALSE(server.port.empty());
  std::vector<std::string> args = Alts("client");
  args.push_back("--alts_target=someone-else@test");
  args.push_back("--get=1");
  ProcessResult wrong = RunOurClient(server.port, args);
  EXPECT_EQ(wrong.exit_code, 1) << wrong;
  EXPECT_TRUE(absl::StrContains(wrong.out, "h2_peer: FAIL 1 of 1 requests: cannot connect"))
      << wrong;
  EXPECT_TRUE(absl::StrContains(wrong.out, "not a target identity")) << wrong;
  ProcessResult plain = RunOurClient(server.port, {"--get=1"});
  EXPECT_EQ(plain.exit_code, 1) << plain;
  EXPECT_TRUE(absl::StrContains(plain.out, "h2_peer: FAIL 1 of 1 requests")) << plain;
  server.Stop();
}

TEST_F(OursTest, AWrongStatusFailsTheClient) {
  Server server = StartOurServer();
  ASSERT_FALSE(server.port.empty());
  ProcessResult r = RunOurClient(server.port, {"--get=1,2", "--get_prefix=/nothing/"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "h2_peer: FAIL 2 of 2 requests: GET /nothing/1: status 404"))
      << r;
  server.Stop();
}

TEST_F(OursTest, VersionAndBadCommandLines) {
  ProcessResult v = RunToEnd(kPeer, {"--version"});
  EXPECT_EQ(v.exit_code, 0) << v;
  EXPECT_TRUE(absl::StartsWith(v.out, "h2_peer ")) << v;
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"--listen=127.0.0.1:0", "--connect=127.0.0.1:1"},
           {"--connect=127.0.0.1:1"},
           {"--connect=127.0.0.1:1", "--get=12x"},
           {"--connect=127.0.0.1:1", "--get=1", "--concurrent=0"},
           {"--listen=127.0.0.1:0", "--alts_cert=x"},
           {"--listen=127.0.0.1:0", "--no_such_flag=1"}}) {
    ProcessResult r = RunToEnd(kPeer, args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << "\n" << r;
    EXPECT_FALSE(r.err.empty()) << r;
  }
}

// ---------------------------------------------------------------------------
// nghttp (nghttp2-client) against our server.

TEST(NghttpTest, FetchesEverySize) {
  REQUIRE_TOOL(nghttp, "nghttp", "nghttp2-client");
  Server server = StartOurServer();
  ASSERT_FALSE(server.port.empty());
  for (uint64_t n : kSizes) {
    ProcessResult r = RunToEnd(nghttp.c_str(), {server.Url(absl::StrCat("/bytes/", n))});
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_EQ(r.out.size(), n);
    EXPECT_TRUE(r.out == Pattern(n)) << "GET /bytes/" << n << ": the body differs";
  }
  ExpectStopped(server);
}

TEST(NghttpTest, UploadsAreEchoed) {
  REQUIRE_TOOL(nghttp, "nghttp", "nghttp2-client");
  TempDir dir;
  Server server = StartOurServer();
  ASSERT_FALSE(server.port.empty());
  for (uint64_t n : {uint64_t{1}, uint64_t{16384}, uint64_t{1049000}, uint64_t{3} << 20}) {
    const std::string body = Pattern(n, 7);
    const std::string file = dir.Path(absl::StrCat("upload", n));
    WriteFile(file, body);
    ProcessResult r = RunToEnd(nghttp.c_str(), {"-d", file, server.Url("/echo")});
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_EQ(r.out.size(), n);
    EXPECT_TRUE(r.out == body) << "POST of " << n << " bytes: the echo differs";
  }
  ExpectStopped(server);
}

TEST(NghttpTest, ManyConcurrentStreamsOnOneConnection) {
  REQUIRE_TOOL(nghttp, "nghttp", "nghttp2-client");
  Server server = StartOurServer();
  ASSERT_FALSE(server.port.empty());
  // kManyStreams distinct URIs (nghttp requests them all at once, on one
  // connection): the bodies arrive interleaved, so the total is checked
  // here and each stream's status and size in the statistics (-s) below.
  std::vector<std::string> uris;
  uint64_t total = 0;
  for (int i = 0; i < kManyStreams; ++i) {
    const uint64_t n = 16384 + static_cast<uint64_t>(i) * 1000;
    uris.push_back(server.Url(absl::StrCat("/bytes/", n)));
    total += n;
  }
  ProcessResult bodies = RunToEnd(nghttp.c_str(), uris);
  EXPECT_EQ(bodies.exit_code, 0) << bodies.err;
  EXPECT_EQ(bodies.out.size(), total);
  std::vector<std::string> stat_args = {"-n", "-s"};
  stat_args.insert(stat_args.end(), uris.begin(), uris.end());
  ProcessResult stats = RunToEnd(nghttp.c_str(), stat_args);
  EXPECT_EQ(stats.exit_code, 0) << stats;
  int ok = 0;
  for (absl::string_view line : absl::StrSplit(stats.out, '\n')) {
    if (absl::StrContains(line, " 200 ") && absl::StrContains(line, "/bytes/")) ++ok;
  }
  EXPECT_EQ(ok, kManyStreams) << stats.out;
  ExpectStopped(server, 2);
}

// ---------------------------------------------------------------------------
// curl --http2-prior-knowledge against our server.

TEST(CurlTest, FetchesAndEchoesEverySize) {
  REQUIRE_TOOL(curl, "curl", "curl");
  TempDir dir;
  Server server = StartOurServer();
  ASSERT_FALSE(server.port.empty());
  for (uint64_t n : kSizes) {
    ProcessResult r = RunToEnd(curl.c_str(), {"-sS", "--fail", "--http2-prior-knowledge",
                                              "-w", "%{stderr}http/%{http_version}",
                                              server.Url(absl::StrCat("/bytes/", n))});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "http/2");
    EXPECT_EQ(r.out.size(), n);
    EXPECT_TRUE(r.out == Pattern(n)) << "GET /bytes/" << n << ": the body differs";

    const std::string body = Pattern(n, 3);
    const std::string file = dir.Path(absl::StrCat("upload", n));
    WriteFile(file, body);
    ProcessResult e = RunToEnd(curl.c_str(), {"-sS", "--fail", "--http2-prior-knowledge",
                                              "--data-binary", "@" + file, server.Url("/echo")});
    EXPECT_EQ(e.exit_code, 0) << e.err;
    EXPECT_EQ(e.out.size(), n);
    EXPECT_TRUE(e.out == body) << "POST of " << n << " bytes: the echo differs";
  }
  ExpectStopped(server);
}

// Debian 12's curl (7.88.1) fails every transfer after the first on a
// reused prior-knowledge connection ("Error in the HTTP2 framing layer",
// against nghttpd and python-h2 too: curl issue 10634, fixed in 8.0), so
// its parallel transfers each get their own connection here
// (--parallel-immediate); nghttp, h2load and python-h2 multiplex.
TEST(CurlTest, ManyParallelTransfers) {
  REQUIRE_TOOL(curl, "curl", "curl");
  TempDir dir;
  Server server = StartOurServer();
  ASSERT_FALSE(server.port.empty());
  std::vector<std::string> args = {"-sS",        "--fail",
                                   "--http2-prior-knowledge", "--parallel",
                                   "--parallel-immediate",    "--parallel-max",
                                   absl::StrCat(kManyStreams)};
  std::vector<uint64_t> sizes;
  for (int i = 0; i < kManyStreams; ++i) {
    sizes.push_back(kSizes[i % kSizes.size()] + static_cast<uint64_t>(i));
    args.push_back("-o");
    args.push_back(dir.Path(absl::StrCat("out", i)));
    args.push_back(server.Url(absl::StrCat("/bytes/", sizes.back())));
  }
  ProcessResult r = RunToEnd(curl.c_str(), args);
  EXPECT_EQ(r.exit_code, 0) << r;
  for (int i = 0; i < kManyStreams; ++i) {
    EXPECT_TRUE(ReadFile(dir.Path(absl::StrCat("out", i))) == Pattern(sizes[i]))
        << "GET /bytes/" << sizes[i] << ": the body differs";
  }
  ExpectStopped(server, kManyStreams);
}

// ---------------------------------------------------------------------------
// h2load (nghttp2-client) against our server.

// ExpectAllSucceeded checks h2load's summary for `n` requests, all 2xx.
void ExpectAllSucceeded(const ProcessResult& r, int n) {
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(absl::StrContains(
      r.out, absl::StrCat("requests: ", n, " total, ", n, " started, ", n, " done, ", n,
                          " succeeded, 0 failed, 0 errored, 0 timeout")))
      << r;
  EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat("status codes: ", n, " 2xx, 0 3xx, 0 4xx, 0 5xx")))
      << r;
}

TEST(H2loadTest, ThousandsOfRequestsWithoutFailure) {
  REQUIRE_TOOL(h2load, "h2load", "nghttp2-client");
  Server server = StartOurServer();
  ASSERT_FALSE(server.port.empty());
  ProcessResult r = RunToEnd(h2load.c_str(), {"-n", "4000", "-c", "4", "-m", "32",
                                              server.Url("/bytes/1024")});
  ExpectAllSucceeded(r, 4000);
  ExpectStopped(server, 4);
}

TEST(H2loadTest, UploadsUnderLoad) {
  REQUIRE_TOOL(h2load, "h2load", "nghttp2-client");
  TempDir dir;
  const std::string file = dir.Path("upload");
  WriteFile(file, Pattern(100000, 5));
  Server server = StartOurServer();
  ASSERT_FALSE(server.port.empty());
  ProcessResult r = RunToEnd(h2load.c_str(), {"-n", "1000", "-c", "2", "-m", "16", "-d", file,
                                              server.Url("/echo")});
  ExpectAllSucceeded(r, 1000);
  ExpectStopped(server, 2);
}

// ---------------------------------------------------------------------------
// Our client against nghttpd (nghttp2-server).

// kPortAttempts: nghttpd is given a port that was free a moment ago; if it
// was taken meanwhile, a new one is tried.
constexpr int kPortAttempts = 3;

// WaitUntilAccepting returns true once 127.0.0.1:`port` accepts a TCP connection, false
// if it still refuses at kProcessDeadline.
bool WaitUntilAccepting(int port) {
  const auto deadline = std::chrono::steady_clock::now() + alts::testing::kProcessDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(fd);
    if (ok) return true;
    // nghttpd says nothing when it starts listening (only with -v, whose
    // per-frame output would fill its pipe): retry its port until it answers.
    poll(nullptr, 0, alts::testing::kPollSliceMs);
  }
  return false;
}

class NghttpdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nghttpd_ = FindTool("nghttpd");
    if (nghttpd_.empty()) {
      GTEST_SKIP() << "nghttpd is not installed (Debian package nghttp2-server; "
                      "tools/install-deps.sh installs it)";
    }
    ASSERT_EQ(mkdir(dir_.Path("bytes").c_str(), 0755), 0);
    for (uint64_t n : kSizes) WriteFile(dir_.Path(absl::StrCat("bytes/", n)), Pattern(n));
    WriteFile(dir_.Path("bytes/3145728"), Pattern(3 << 20));
  }

  // Start runs nghttpd on a free port with `args`; port_ is its port.
  void Start(std::vector<std::string> args) {
    args.insert(args.begin(), {"--no-tls", "-a", "127.0.0.1", "-d", dir_.Path("")});
    for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
      const int port = alts::testing::UnusedLoopbackPort();
      std::vector<std::string> a = args;
      a.push_back(absl::StrCat(port));
      server_ = Process::Start(nghttpd_.c_str(), a);
      ASSERT_NE(server_, nullptr);
      if (WaitUntilAccepting(port)) {
        port_ = absl::StrCat(port);
        return;
      }
      server_.reset();
    }
    FAIL() << "nghttpd did not start listening";
  }

  std::string nghttpd_;
  TempDir dir_;
  std::unique_ptr<Process> server_;
  std::string port_;
};

TEST_F(NghttpdTest, OurClientFetchesAndEchoesEverySize) {
  Start({"--echo-upload"});
  ProcessResult r = RunOurClient(port_, {absl::StrCat("--get=", kSizesFlag, ",3m"),
                                         absl::StrCat("--echo=", kSizesFlag, ",3m"),
                                         "--concurrent=1"});
  ExpectOk(r, "h2_peer:", 10);
}

TEST_F(NghttpdTest, OurClientRunsManyConcurrentStreams) {
  Start({"--echo-upload"});
  ProcessResult r = RunOurClient(
      port_, {absl::StrCat("--get=", kSizesFlag), "--echo=0,1,16k,1049000", "--repeat=50",
              absl::StrCat("--concurrent=", 2 * kManyStreams)});
  ExpectOk(r, "h2_peer:", 400);
  EXPECT_EQ(AtMostStreams(r), kManyStreams) << r;  // nghttpd's default limit
}

TEST_F(NghttpdTest, OurClientWithSmallPeerWindows) {
  // 2^14-1 byte windows, stream and connection: every large body stalls on
  // flow control many times in both directions.
  Start({"--echo-upload", "-w", "14", "-W", "14"});
  ProcessResult r = RunOurClient(port_, {"--get=1049000,3m", "--echo=1049000", "--repeat=3",
                                         "--concurrent=10"});
  ExpectOk(r, "h2_peer:", 9);
}

TEST_F(NghttpdTest, OurClientNoticesACorruptedBody) {
  std::string body = Pattern(16384);
  body[10000] ^= 1;
  WriteFile(dir_.Path("bytes/16384"), body);
  Start({});
  ProcessResult r = RunOurClient(port_, {"--get=1,16384"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "FAIL 1 of 2 requests: GET /bytes/16384: body byte 10000"))
      << r;
}

// ---------------------------------------------------------------------------
// python-h2 (a pure-Python HTTP/2 stack) both ways.

class PythonH2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string missing = PythonH2Missing();
    if (!missing.empty()) {
      GTEST_SKIP() << missing << " (tools/install-deps.sh installs python3-h2)";
    }
  }
};

TEST_F(PythonH2Test, PythonClientAgainstOurServer) {
  Server server = StartOurServer();
  ASSERT_FALSE(server.port.empty());
  ProcessResult every = RunToEnd(
      kPython, {kPythonPeer, "client", "--port=" + server.port, absl::StrCat("--get=", kSizesFlag),
                absl::StrCat("--echo=", kSizesFlag, ",3m"), "--concurrent=1"});
  ExpectOk(every, "python-h2 client:", 9);
  ProcessResult many = RunToEnd(
      kPython, {kPythonPeer, "client", "--port=" + server.port, "--get=0,1,16k",
                "--echo=0,1,16k", "--repeat=50", absl::StrCat("--concurrent=", kManyStreams)});
  ExpectOk(many, "python-h2 client:", 300);
  EXPECT_EQ(AtMostStreams(many), kManyStreams) << many;
  ExpectStopped(server, 2);
}

TEST_F(PythonH2Test, OurClientAgainstPythonServer) {
  Server server = StartListening(kPython, {kPythonPeer, "server"});
  ASSERT_FALSE(server.port.empty());
  ProcessResult every = RunOurClient(server.port, {absl::StrCat("--get=", kSizesFlag, ",3m"),
                                                   absl::StrCat("--echo=", kSizesFlag, ",3m"),
                                                   "--concurrent=1"});
  ExpectOk(every, "h2_peer:", 10);
  ProcessResult many = RunOurClient(
      server.port, {"--get=0,1,16k,1049000", "--echo=0,1,16k", "--repeat=30",
                    absl::StrCat("--concurrent=", kManyStreams)});
  ExpectOk(many, "h2_peer:", 210);
  EXPECT_EQ(AtMostStreams(many), kManyStreams) << many;
  server.Stop();
}

}  // namespace
}  // namespace alts::h2peer::testing
