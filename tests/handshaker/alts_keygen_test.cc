// Runs the alts_keygen binary end to end: root, intermediate, leaves, print,
// verify, usage errors; then two engines handshake with the files it wrote.
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "handshaker/credential_file.h"
#include "handshaker/handshaker_engine.h"
#include "handshaker_test_util.h"

namespace alts::testing {
namespace {

using ::testing::HasSubstr;

#ifdef ALTS_KEYGEN_PATH
constexpr const char* kKeygen = ALTS_KEYGEN_PATH;
#else
constexpr const char* kKeygen = nullptr;
#endif

struct Result {
  int exit_code = -1;
  std::string output;
};

Result Keygen(const std::string& args) {
  Result result;
  const std::string command = absl::StrCat(kKeygen, " ", args, " 2>&1");
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

mode_t Mode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 0777;
}

class KeygenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kKeygen == nullptr) GTEST_SKIP() << "alts_keygen not built";
    std::string templ = ::testing::TempDir() + "alts_keygen_XXXXXX";
    ASSERT_NE(mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  std::string dir_;
};

TEST_F(KeygenTest, IssuesCredentialsThatHandshake) {
  const std::string d = dir_ + "/";
  Result r = Keygen(absl::StrCat("create-root --name test-root --out ", d, "root"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Mode(d + "root.key"), 0600u);
  r = Keygen(absl::StrCat("issue-intermediate --issuer-key ", d, "root.key --name region-a --days 30 --out ",
                          d, "int"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Mode(d + "int.key"), 0600u);
  r = Keygen(absl::StrCat("issue-leaf --issuer-key ", d, "int.key --issuer-chain ", d,
                          "int.chain --service-account server@test --attr zone=a --out ", d,
                          "server"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Mode(d + "server.key"), 0600u);
  r = Keygen(absl::StrCat("issue-leaf --issuer-key ", d,
                          "root.key --service-account=client@test --days=1 --out ", d, "client"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Mode(d + "client.key"), 0600u);

  r = Keygen(absl::StrCat("print ", d, "server.chain"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("LEAF"));
  EXPECT_THAT(r.output, HasSubstr("server@test"));
  EXPECT_THAT(r.output, HasSubstr("zone=a"));
  EXPECT_THAT(r.output, HasSubstr("INTERMEDIATE"));
  EXPECT_THAT(r.output, HasSubstr("issuer:         test-root"));
  r = Keygen(absl::StrCat("verify --roots ", d, "root.root --chain ", d, "server.chain"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("OK server@test zone=a"));

  // A second root does not verify the chain.
  ASSERT_EQ(Keygen(absl::StrCat("create-root --name other --out ", d, "other")).exit_code, 0);
  r = Keygen(absl::StrCat("verify --roots ", d, "other.root --chain ", d, "server.chain"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("untrusted root"));

  // The files work for a real handshake.
  auto roots = ReadTrustRoots(d + "root.root");
  ASSERT_TRUE(roots.ok()) << roots.status();
  auto verifier = *CertificateVerifier::Create(*roots);
  auto server_cred = ReadWorkloadCredential(d + "server.chain", d + "server.key");
  auto client_cred = ReadWorkloadCredential(d + "client.chain", d + "client.key");
  ASSERT_TRUE(server_cred.ok() && client_cred.ok());
  auto client_config = MakeConfig(*client_cred, verifier, nullptr);
  auto server_config = MakeConfig(*server_cred, verifier, nullptr);
  HandshakerEngine client(client_config), server(server_config);
  HandshakeRun run = RunHandshake(client, server, ClientStartReq({"server@test"}));
  ASSERT_TRUE(run.client_done && run.server_done)
      << run.client_status << " / " << run.server_status;
  EXPECT_EQ(run.client_result.key_data(), run.server_result.key_data());
  EXPECT_EQ(run.server_result.peer_identity().service_account(), "client@test");
  EXPECT_EQ(run.client_result.peer_identity().attributes().at("zone"), "a");
}

// Two intermediates need --path-length on the upper one and
// --max-intermediates 2 at the verifier.
TEST_F(KeygenTest, DeepChainsNeedPathLengthAndConfiguration) {
  const std::string d = dir_ + "/";
  ASSERT_EQ(Keygen(absl::StrCat("create-root --name root --out ", d, "root")).exit_code, 0);
  for (const char* path_length : {"0", "1"}) {
    SCOPED_TRACE(path_length);
    const std::string top = d + "top" + path_length;
    Result r = Keygen(absl::StrCat("issue-intermediate --issuer-key ", d, "root.key --name top",
                                   path_length, " --path-length ", path_length, " --out ", top));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = Keygen(absl::StrCat("issue-intermediate --issuer-key ", top, ".key --issuer-chain ", top,
                            ".chain --name low --out ", top, "-low"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = Keygen(absl::StrCat("issue-leaf --issuer-key ", top, "-low.key --issuer-chain ", top,
                            "-low.chain --service-account deep@test --out ", top, "-leaf"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string verify =
        absl::StrCat("verify --roots ", d, "root.root --chain ", top, "-leaf.chain");
    r = Keygen(verify);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_THAT(r.output, HasSubstr("at most 1 allowed"));
    r = Keygen(verify + " --max-intermediates 2");
    if (std::string(path_length) == "1") {
      EXPECT_EQ(r.exit_code, 0) << r.output;
      EXPECT_THAT(r.output, HasSubstr("OK deep@test"));
    } else {
      EXPECT_EQ(r.exit_code, 1);
      EXPECT_THAT(r.output, HasSubstr("path length"));
    }
  }
  EXPECT_EQ(Keygen(absl::StrCat("issue-intermediate --issuer-key ", d,
                                "root.key --name x --path-length 2 --out ", d, "x"))
                .exit_code,
            2);
  EXPECT_EQ(Keygen(absl::StrCat("verify --roots ", d, "root.root --chain ", d,
                                "top1.chain --max-intermediates 3"))
                .exit_code,
            2);
}

TEST_F(KeygenTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Keygen("").exit_code, 2);
  EXPECT_EQ(Keygen("frobnicate").exit_code, 2);
  EXPECT_EQ(Keygen("create-root --name x").exit_code, 2);                   // no --out
  EXPECT_EQ(Keygen("create-root --name x --out").exit_code, 2);             // no value
  EXPECT_EQ(Keygen("create-root --bogus 1 --name x --out y").exit_code, 2);  // unknown flag
  EXPECT_EQ(Keygen("issue-leaf --issuer-key k --out o").exit_code, 2);       // no service account
  EXPECT_EQ(Keygen("issue-leaf --issuer-key k --service-account s --out o --attr novalue")
                .exit_code,
            2);
  EXPECT_EQ(Keygen("issue-leaf --issuer-key k --service-account s --out o --days 0").exit_code,
            2);
  EXPECT_EQ(Keygen("print").exit_code, 2);
  EXPECT_EQ(Keygen("print a b").exit_code, 2);
  Result r = Keygen("frobnicate");
  EXPECT_THAT(r.output, HasSubstr("usage:"));
  // Runtime failures exit 1: missing files, existing key files.
  EXPECT_EQ(Keygen(absl::StrCat("print ", dir_, "/missing")).exit_code, 1);
  ASSERT_EQ(Keygen(absl::StrCat("create-root --name r --out ", dir_, "/r")).exit_code, 0);
  r = Keygen(absl::StrCat("create-root --name r --out ", dir_, "/r"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("ALREADY_EXISTS"));
}

}  // namespace
}  // namespace alts::testing
