// gRPC interop against grpc-go 1.33 (Debian's golang-google-grpc-dev), over
// plaintext h2c on loopback, both ways: tools/interop_client against the
// grpc-go TestService server and the grpc-go interop client against
// tools/interop_server, every case; grpc-go against itself (the peers agree
// with grpc-go); both clients catch a grpc-go server that misbehaves on
// purpose; and the grpc-go benchmark client's scenarios and idle-memory
// reports run against both servers.
//
// The grpc-go peers (tests/interop/go) are built by CMake with `go build`;
// without Go or grpc-go every test here is skipped, saying why.

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/interop/interop_test_util.h"

namespace alts::interop::testing {
namespace {

using alts::testing::ProcessResult;
using alts::testing::RunToEnd;

const std::string kServer = INTEROP_SERVER_PATH;
const std::string kClient = INTEROP_CLIENT_PATH;
const std::string kGoBin = GO_PEERS_DIR;  // "" when the Go peers are not built
const std::string kGoSkip = GO_PEERS_SKIP_REASON;
const std::string kGoServer = kGoBin + "/interop_server";
const std::string kGoClient = kGoBin + "/interop_client";
const std::string kGoBench = kGoBin + "/bench_client";

class InteropGrpcGoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kGoBin.empty()) GTEST_SKIP() << "grpc-go interop tests skipped: " << kGoSkip;
  }
};

TEST_F(InteropGrpcGoTest, OurClientPassesEveryCaseAgainstGrpcGo) {
  RunningServer server = StartServer(kGoServer, {});
  ASSERT_FALSE(server.port.empty());
  ExpectAllPass(RunClient(kClient, server.port));
}

TEST_F(InteropGrpcGoTest, GrpcGoClientPassesEveryCaseAgainstOurServer) {
  RunningServer server = StartServer(kServer, {});
  ASSERT_FALSE(server.port.empty());
  ExpectAllPass(RunClient(kGoClient, server.port));
}

TEST_F(InteropGrpcGoTest, GrpcGoPeersPassEveryCaseAgainstEachOther) {
  RunningServer server = StartServer(kGoServer, {});
  ASSERT_FALSE(server.port.empty());
  ExpectAllPass(RunClient(kGoClient, server.port));
}

// Each fault of the grpc-go server and the cases it must fail.
struct Fault {
  const char* name;
  std::vector<std::string> failing;
};

TEST_F(InteropGrpcGoTest, BothClientsCatchAMisbehavingServer) {
  const Fault faults[] = {
      {"no_echo", {"custom_metadata"}},
      {"short_payload",
       {"large_unary", "server_streaming", "ping_pong", "cancel_after_first_response",
        "custom_metadata"}},
      {"wrong_status_message", {"status_code_and_message", "special_status_message"}},
  };
  for (const Fault& fault : faults) {
    RunningServer server = StartServer(kGoServer, {absl::StrCat("--fault=", fault.name)});
    ASSERT_FALSE(server.port.empty());
    for (const std::string& client : {kClient, kGoClient}) {
      ClientRun run = RunClient(client, server.port);
      EXPECT_EQ(run.result.exit_code, 1) << fault.name << " " << client << "\n" << run.result;
      for (const char* name : kInteropCases) {
        const bool should_fail =
            std::find(fault.failing.begin(), fault.failing.end(), name) != fault.failing.end();
        EXPECT_TRUE(absl::StartsWith(run.lines[name], should_fail ? "FAIL " : "PASS "))
            << fault.name << " " << client << ": " << name << ": " << run.lines[name];
      }
    }
  }
}

// JsonField returns the text after "\"name\":" up to the next ',' or '}'.
std::string JsonField(const std::string& json, absl::string_view name) {
  const std::string key = absl::StrCat("\"", name, "\":");
  const size_t at = json.find(key);
  if (at == std::string::npos) return "";
  const size_t start = at + key.size();
  return json.substr(start, json.find_first_of(",}", start) - start);
}

TEST_F(InteropGrpcGoTest, BenchmarkScenariosRunAgainstBothServers) {
  for (const std::string& binary : {kServer, kGoServer}) {
    RunningServer server = StartServer(binary, {});
    ASSERT_FALSE(server.port.empty());
    for (const char* scenario :
         {"unary_pingpong", "unary_concurrent64", "bidi_pingpong", "bulk_stream"}) {
      for (const char* direction : {"upload", "download"}) {
        if (std::string(scenario) != "bulk_stream" && std::string(direction) == "download") {
          continue;
        }
        ProcessResult r = RunToEnd(
            kGoBench.c_str(),
            {"--server_addr=127.0.0.1:" + server.port, std::string("--scenario=") + scenario,
             "--count=300", "--warmup=0s", std::string("--direction=") + direction});
        ASSERT_EQ(r.exit_code, 0) << binary << " " << scenario << "\n" << r;
        EXPECT_EQ(JsonField(r.out, "calls"), "300") << r.out;
        EXPECT_EQ(JsonField(r.out, "scenario"), absl::StrCat("\"", scenario, "\"")) << r.out;
        for (const char* field : {"calls_per_s", "mb_per_s", "p50_us", "p99_us", "cpu_user_s"}) {
          EXPECT_FALSE(JsonField(r.out, field).empty()) << field << " in " << r.out;
        }
      }
    }
  }
}

TEST_F(InteropGrpcGoTest, IdleMemoryIsReportedByTheGrpcGoServerAndClient) {
  constexpr int kConnections = 20;
  RunningServer server =
      StartServer(kGoServer, {absl::StrCat("--idle_report_connections=", kConnections)});
  ASSERT_FALSE(server.port.empty());
  ProcessResult client = RunToEnd(
      kGoBench.c_str(), {"--server_addr=127.0.0.1:" + server.port, "--scenario=idle_connections",
                         absl::StrCat("--connections=", kConnections), "--idle_hold=3s"});
  ASSERT_EQ(client.exit_code, 0) << client;
  EXPECT_EQ(JsonField(client.out, "idle_connections"), absl::StrCat(kConnections)) << client.out;
  EXPECT_FALSE(JsonField(client.out, "heap_inuse_per_conn").empty()) << client.out;
  // The server reports once every connection completed its call.
  const std::string report = server.process->WaitForLine("\"idle_connections\"");
  EXPECT_EQ(JsonField(report, "idle_connections"), absl::StrCat(kConnections)) << report;
  EXPECT_FALSE(JsonField(report, "stack_inuse_per_conn").empty()) << report;
}

}  // namespace
}  // namespace alts::interop::testing
