// tools/interop_client against tools/interop_server as separate processes
// over loopback: every gRPC interop case over plaintext h2c and over ALTS
// (credentials made by alts_keygen in a temporary directory), fill_username,
// and the refusals (wrong ALTS target, ALTS against plaintext, TLS, unknown
// cases and flags).

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/interop/interop_test_util.h"

namespace alts::interop::testing {
namespace {

using alts::testing::ProcessResult;
using alts::testing::RunToEnd;

const std::string kServer = INTEROP_SERVER_PATH;
const std::string kClient = INTEROP_CLIENT_PATH;
constexpr char kKeygen[] = ALTS_KEYGEN_PATH;
constexpr char kServerAccount[] = "interop-server@test";
constexpr char kClientAccount[] = "interop-client@test";

class InteropToolsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    const std::vector<std::vector<std::string>> commands = {
        {"create-root", "--name", "interop-root", "--out", dir_->Path("root")},
        {"issue-leaf", "--issuer-key", dir_->Path("root.key"), "--service-account",
         kServerAccount, "--out", dir_->Path("server")},
        {"issue-leaf", "--issuer-key", dir_->Path("root.key"), "--service-account",
         kClientAccount, "--out", dir_->Path("client")},
    };
    for (const auto& command : commands) {
      ProcessResult r = RunToEnd(kKeygen, command);
      ASSERT_EQ(r.exit_code, 0) << command[0] << "\n" << r;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // Alts returns --use_alts and the credential flags of leaf `name`.
  static std::vector<std::string> Alts(const std::string& name) {
    return {"--use_alts", "--alts_cert=" + dir_->Path(name + ".chain"),
            "--alts_key=" + dir_->Path(name + ".key"),
            "--alts_roots=" + dir_->Path("root.root")};
  }

  static TempDir* dir_;
};

TempDir* InteropToolsTest::dir_ = nullptr;

TEST_F(InteropToolsTest, EveryCasePassesOverPlaintext) {
  RunningServer server = StartServer(kServer, {});
  ASSERT_FALSE(server.port.empty());
  ExpectAllPass(RunClient(kClient, server.port));
}

TEST_F(InteropToolsTest, EveryCasePassesOverAltsAndTheServerSeesTheClientAccount) {
  std::vector<std::string> server_args = Alts("server");
  server_args.push_back(std::string("--alts_allow=") + kClientAccount);
  RunningServer server = StartServer(kServer, server_args);
  ASSERT_FALSE(server.port.empty());
  std::vector<std::string> client_args = Alts("client");
  client_args.push_back(std::string("--alts_target=") + kServerAccount);
  client_args.push_back(std::string("--expect_username=") + kClientAccount);
  ExpectAllPass(RunClient(kClient, server.port, client_args));
}

TEST_F(InteropToolsTest, TheUsernameCheckCanFail) {
  RunningServer server = StartServer(kServer, Alts("server"));
  ASSERT_FALSE(server.port.empty());
  std::vector<std::string> client_args = Alts("client");
  client_args.push_back("--test_case=large_unary");
  client_args.push_back("--expect_username=someone-else@test");
  ClientRun run = RunClient(kClient, server.port, client_args);
  EXPECT_EQ(run.result.exit_code, 1) << run.result;
  EXPECT_TRUE(absl::StrContains(run.lines["large_unary"], "username \"interop-client@test\""))
      << run.result;
}

TEST_F(InteropToolsTest, AWrongAltsTargetFailsEveryCase) {
  RunningServer server = StartServer(kServer, Alts("server"));
  ASSERT_FALSE(server.port.empty());
  std::vector<std::string> client_args = Alts("client");
  client_args.push_back("--alts_target=someone-else@test");
  ClientRun run = RunClient(kClient, server.port, client_args);
  EXPECT_EQ(run.result.exit_code, 1) << run.result;
  EXPECT_TRUE(absl::StrContains(run.result.out, "0 passed, 14 failed")) << run.result;
  EXPECT_TRUE(absl::StrContains(run.lines["empty_unary"], "not a target identity")) << run.result;
}

TEST_F(InteropToolsTest, AnAltsClientCannotTalkToAPlaintextServer) {
  RunningServer server = StartServer(kServer, {});
  ASSERT_FALSE(server.port.empty());
  std::vector<std::string> client_args = Alts("client");
  client_args.push_back("--test_case=empty_unary");
  ClientRun run = RunClient(kClient, server.port, client_args);
  EXPECT_EQ(run.result.exit_code, 1) << run.result;
  EXPECT_TRUE(absl::StartsWith(run.lines["empty_unary"], "FAIL ")) << run.result;
}

TEST_F(InteropToolsTest, BadCommandLinesAreRefusedWithExitTwo) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> runs = {
      {kServer, {"--use_tls=true"}},
      {kServer, {"--use_tls"}},
      {kServer, {"--use_alts"}},
      {kServer, {"--port=70000"}},
      {kServer, {"--prot=1"}},
      {kClient, {"--server_port=1", "--use_tls=true"}},
      {kClient, {"--server_port=1", "--test_case=no_such_case"}},
      {kClient, {"--test_case=all"}},
      {kClient, {"--server_port=1", "--use_alts", "--alts_cert=x"}},
  };
  for (const auto& [binary, args] : runs) {
    ProcessResult r = RunToEnd(binary.c_str(), args);
    EXPECT_EQ(r.exit_code, 2) << binary << " " << args[0] << "\n" << r;
    EXPECT_FALSE(r.err.empty()) << r;
  }
  ProcessResult tls = RunToEnd(kServer.c_str(), {"--use_tls=true"});
  EXPECT_TRUE(absl::StrContains(tls.err, "TLS is not supported")) << tls;
}

TEST_F(InteropToolsTest, VersionsArePrinted) {
  for (const std::string& binary : {kServer, kClient}) {
    ProcessResult r = RunToEnd(binary.c_str(), {"--version"});
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_TRUE(absl::StartsWith(r.out, binary.substr(binary.rfind('/') + 1) + " ")) << r;
  }
}

}  // namespace
}  // namespace alts::interop::testing
