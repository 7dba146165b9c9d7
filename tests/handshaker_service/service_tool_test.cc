// alts_handshaker_service as a program: its flags, --version, a refused
// command line, unusable credentials, serving on a unix socket (created for
// the owner only) with credentials from alts_keygen, one handshake through
// it, and the totals at SIGTERM.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alts_ondemand/version.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/storage_pool.h"
#include "gtest/gtest.h"
#include "rpc/blocking.h"
#include "rpc/channel.h"
#include "tests/handshaker_service/hss_test_util.h"
#include "tests/tools/process_runner.h"
#include "tools/alts_handshaker_service/service_flags.h"

namespace alts::handshaker_service {
namespace {

using alts::testing::Process;
using alts::testing::ProcessResult;

ProcessResult RunTool(const std::vector<std::string>& args) {
  std::unique_ptr<Process> p = Process::Start(HSS_PATH, args);
  return p == nullptr ? ProcessResult{} : p->Wait();
}

TEST(ServiceFlagsTest, ParsesEveryFlag) {
  absl::StatusOr<ServiceFlags> f = ParseServiceFlags(
      {"--listen", "unix:/tmp/x", "--cert=a.chain", "--key", "a.key", "--cert", "b.chain",
       "--key", "b.key", "--roots", "r1", "--roots=r2", "--allow", "c@x,team=qa,env=ci",
       "--allow=d@x", "--max-concurrent", "7", "--handshake-timeout", "1.5s", "--threads", "3",
       "--no-resumption", "--socket-mode", "0660", "--verbose"});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->listen, "unix:/tmp/x");
  EXPECT_EQ(f->cert_files, (std::vector<std::string>{"a.chain", "b.chain"}));
  EXPECT_EQ(f->key_files, (std::vector<std::string>{"a.key", "b.key"}));
  EXPECT_EQ(f->roots_files.size(), 2u);
  ASSERT_EQ(f->allowed.size(), 2u);
  EXPECT_EQ(f->allowed[0].service_account, "c@x");
  EXPECT_EQ(f->allowed[0].attributes.at("team"), "qa");
  EXPECT_EQ(f->allowed[0].attributes.at("env"), "ci");
  EXPECT_EQ(f->max_concurrent, 7u);
  EXPECT_EQ(f->handshake_timeout, absl::Milliseconds(1500));
  EXPECT_EQ(f->threads, 3u);
  EXPECT_FALSE(f->resumption);
  EXPECT_EQ(f->socket_mode, 0660u);
  EXPECT_TRUE(f->verbose);
}

TEST(ServiceFlagsTest, RefusesBadCommandLines) {
  const std::vector<std::string> base = {"--listen", "127.0.0.1:0", "--cert", "a", "--key", "b",
                                         "--roots", "r"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return ParseServiceFlags(args).status();
  };
  EXPECT_TRUE(with({}).ok());
  EXPECT_NE(with({"--bogus"}).message().find("--bogus"), std::string::npos);
  EXPECT_NE(with({"--cert", "c"}).message().find("--key"), std::string::npos);
  EXPECT_NE(with({"--max-concurrent", "0"}).message().find("--max-concurrent"), std::string::npos);
  EXPECT_NE(with({"--handshake-timeout", "2h"}).message().find("--handshake-timeout"),
            std::string::npos);
  EXPECT_NE(with({"--handshake-timeout", "soon"}).message().find("--handshake-timeout"),
            std::string::npos);
  EXPECT_NE(with({"--socket-mode", "999"}).message().find("--socket-mode"), std::string::npos);
  EXPECT_NE(with({"--allow", ",x=y"}).message().find("--allow"), std::string::npos);
  EXPECT_NE(with({"--allow", "a@x,novalue"}).message().find("KEY=VALUE"), std::string::npos);
  EXPECT_NE(with({"--verbose=yes"}).message().find("--verbose"), std::string::npos);
  EXPECT_NE(with({"--listen", "x"}).message().find("twice"), std::string::npos);
  EXPECT_NE(with({"stray"}).message().find("stray"), std::string::npos);
  EXPECT_FALSE(ParseServiceFlags({"--cert", "a", "--key", "b", "--roots", "r"}).ok());
  EXPECT_FALSE(ParseServiceFlags({"--listen", "x", "--roots", "r"}).ok());
  EXPECT_FALSE(ParseServiceFlags({"--listen", "x", "--cert", "a", "--key", "b"}).ok());
  EXPECT_TRUE(ParseServiceFlags({"--help"})->help);
  for (const absl::Status& s : {with({"--bogus"}), with({"--max-concurrent", "0"})}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ServiceToolTest, VersionUsageAndBadCredentials) {
  ProcessResult v = RunTool({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out, absl::StrCat("alts_handshaker_service ", kVersion, "\n"));
  ProcessResult usage = RunTool({"--listen", "127.0.0.1:0"});
  EXPECT_EQ(usage.exit_code, 2) << usage;
  EXPECT_NE(usage.err.find("--cert"), std::string::npos) << usage;
  ProcessResult missing = RunTool({"--listen", "127.0.0.1:0", "--cert", "/nonexistent/a.chain",
                               "--key", "/nonexistent/a.key", "--roots", "/nonexistent/r"});
  EXPECT_EQ(missing.exit_code, 1) << missing;
  EXPECT_NE(missing.err.find("/nonexistent/a.chain"), std::string::npos) << missing;
}

class ServiceToolRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/hss_tool_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    Keygen({"create-root", "--name", "tool-root", "--out", dir_ + "/root"});
    Keygen({"issue-leaf", "--issuer-key", dir_ + "/root.key", "--service-account",
            "server@tool", "--out", dir_ + "/server"});
    Keygen({"issue-leaf", "--issuer-key", dir_ + "/root.key", "--service-account",
            "client@tool", "--attr", "team=qa", "--out", dir_ + "/client"});
  }
  void TearDown() override { (void)std::system(("rm -rf " + dir_).c_str()); }
  void Keygen(const std::vector<std::string>& args) {
    std::unique_ptr<Process> p = Process::Start(ALTS_KEYGEN_PATH, args);
    ASSERT_NE(p, nullptr);
    ProcessResult r = p->Wait();
    ASSERT_EQ(r.exit_code, 0) << r;
  }
  std::string dir_;
};

TEST_F(ServiceToolRunTest, ServesOnAUnixSocketAndReportsTotals) {
  const std::string socket = dir_ + "/hs.sock";
  std::unique_ptr<Process> service = Process::Start(
      HSS_PATH, {"--listen", "unix:" + socket, "--cert", dir_ + "/server.chain", "--key",
                 dir_ + "/server.key", "--cert", dir_ + "/client.chain", "--key",
                 dir_ + "/client.key", "--roots", dir_ + "/root.root", "--verbose"});
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->ReadLine(), "LISTENING unix:" + socket);
  EXPECT_EQ(service->ReadLine(), "identity server@tool (default)");
  EXPECT_EQ(service->ReadLine(), "identity client@tool team=qa");
  struct stat st {};
  ASSERT_EQ(stat(socket.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  {
    std::unique_ptr<ReactorGroup> group = std::move(*ReactorGroup::Create());
    std::unique_ptr<BufferPool> pool = std::move(*BufferPool::Create());
    std::unique_ptr<StoragePool> storage = std::move(*StoragePool::Create());
    ConnectionResources resources;
    resources.read_pool = pool.get();
    resources.storage = storage.get();
    rpc::ChannelOptions co;
    co.group = group.get();
    co.resources = &resources;
    std::unique_ptr<rpc::Channel> channel = std::move(*rpc::Channel::Create("unix:" + socket, co));
    auto open = [&] {
      rpc::CallOptions o;
      o.deadline = absl::Now() + absl::Seconds(30);
      return rpc::BlockingCall::Start(*channel, kDoHandshakeMethod, std::move(o));
    };
    auto send = [](rpc::BlockingCall& call) {
      return [&call](const grpc::gcp::HandshakerReq& req) {
        testing::Exchange ex;
        std::string bytes = req.SerializeAsString();
        (void)call.Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()),
                                             bytes.size()));
        std::string msg;
        if (call.Read(&msg)) {
          ex.has_response = true;
          EXPECT_TRUE(ex.resp.ParseFromString(msg));
        }
        ex.ended = ex.resp.has_result() || ex.resp.status().code() != 0 || !ex.has_response;
        if (ex.ended) ex.status = call.Finish();
        return ex;
      };
    };
    auto client = open();
    auto server = open();
    testing::PairRun run = testing::RunPair(send(*client), send(*server),
                                            testing::ClientStart({"server@tool"}, "client@tool"));
    EXPECT_TRUE(run.client_done && run.server_done) << run.client_status << run.server_status;
    EXPECT_EQ(run.server_result.peer_identity().service_account(), "client@tool");
    channel->Shutdown();
    group->Shutdown();
  }
  EXPECT_NE(service->WaitForLine("ok server as server@tool with client@tool"), "");
  service->Signal(SIGTERM);
  ProcessResult r = service->Wait();
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_NE(r.out.find("totals: streams 2, completed 2, failed 0, abandoned 0"), std::string::npos)
      << r;
}

}  // namespace
}  // namespace alts::handshaker_service
