// interop_client: gRPC's interop test cases (interop_cases.h) on this
// project's RPC layer, against any gRPC interop server.
//
//   interop_client --server_port=PORT [--server_host=HOST]
//                  [--server_host_override=AUTHORITY] [--test_case=NAME|all]
//                  [--use_tls=false] [--use_test_ca=false]
//                  [--use_alts --alts_cert=CHAIN --alts_key=KEY
//                   --alts_roots=ROOTS[,ROOTS...] [--alts_target=ACCOUNT[,...]]]
//                  [--expect_username=ACCOUNT]
//   interop_client --version      prints "interop_client <version>"
//
// --server_host defaults to localhost, --test_case to large_unary; "all"
// runs every case in order over one channel. Plaintext (h2c) unless
// --use_alts; TLS is not supported (--use_tls=true is refused). The ALTS
// files are alts_keygen's; --alts_target requires the server to be one of
// those service accounts. --expect_username makes large_unary ask for
// fill_username and require that name (the client's own ALTS service
// account, as the server sees it).
//
// Output: "PASS <case> (<ms> ms)" or "FAIL <case>: <what failed>" per case,
// then "<n> passed, <m> failed". Exit status: 0 if every case passed, 1 if
// any failed, 2 for a bad command line or an unknown case.

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "alts_ondemand/version.h"
#include "rpc/channel.h"
#include "tools/interop_client/interop_cases.h"
#include "tools/interop_server/interop_common.h"

namespace alts::interop {
namespace {

constexpr char kUsage[] =
    "usage: interop_client --server_port=PORT [--server_host=HOST]\n"
    "                      [--server_host_override=AUTHORITY] [--test_case=NAME|all]\n"
    "                      [--use_tls=false] [--use_alts --alts_cert=CHAIN --alts_key=KEY\n"
    "                       --alts_roots=ROOTS [--alts_target=ACCOUNT,...]]\n"
    "                      [--expect_username=ACCOUNT]\n"
    "       interop_client --version\n";

int Usage(absl::string_view message) {
  std::cerr << "interop_client: " << message << "\n" << kUsage;
  return kExitUsage;
}

std::string CaseNames() {
  std::vector<std::string> names;
  for (const InteropCase& c : InteropCases()) names.emplace_back(c.name);
  return absl::StrJoin(names, ", ");
}

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--version") {
    std::cout << "interop_client " << kVersion << "\n";
    return kExitOk;
  }
  absl::StatusOr<Flags> parsed = Flags::Parse(
      args, {"use_tls", "use_test_ca", "use_alts", "help"}, {"alts_roots", "alts_target"});
  if (!parsed.ok()) return Usage(parsed.status().message());
  Flags& flags = *parsed;
  if (flags.Has("help")) {
    std::cout << kUsage << "test cases: " << CaseNames() << ", all\n";
    return kExitOk;
  }
  if (!flags.Has("server_port")) return Usage("--server_port is required");
  absl::StatusOr<int64_t> port = flags.Int("server_port", 0, 1, 65535);
  if (!port.ok()) return Usage(port.status().message());
  const std::string host = flags.String("server_host", "localhost");
  const std::string authority = flags.String("server_host_override");
  const std::string test_case = flags.String("test_case", "large_unary");
  CaseOptions case_options;
  case_options.expect_username = flags.String("expect_username");
  for (const char* tls_flag : {"use_tls", "use_test_ca"}) {
    absl::StatusOr<bool> on = flags.Bool(tls_flag, false);
    if (!on.ok()) return Usage(on.status().message());
    if (*on) {
      return Usage(absl::StrCat("--", tls_flag,
                                "=true: TLS is not supported; use plaintext or --use_alts"));
    }
  }
  absl::StatusOr<bool> use_alts = flags.Bool("use_alts", false);
  if (!use_alts.ok()) return Usage(use_alts.status().message());
  std::optional<AltsFlags> alts;
  if (*use_alts) {
    absl::StatusOr<AltsFlags> a = ReadAltsFlags(flags, "alts_target");
    if (!a.ok()) return Usage(a.status().message());
    alts = std::move(*a);
  }
  if (absl::Status s = flags.CheckAllUsed(); !s.ok()) return Usage(s.message());

  std::vector<const InteropCase*> cases;
  if (test_case == "all") {
    for (const InteropCase& c : InteropCases()) cases.push_back(&c);
  } else if (const InteropCase* c = FindInteropCase(test_case)) {
    cases.push_back(c);
  } else {
    return Usage(absl::StrCat("unknown --test_case=", test_case, " (known: ", CaseNames(),
                              ", all)"));
  }

  absl::StatusOr<std::unique_ptr<Runtime>> rt = Runtime::Create(1);
  if (!rt.ok()) {
    std::cerr << "interop_client: cannot start reactors: " << rt.status() << "\n";
    return kExitFailure;
  }
  rpc::ChannelOptions options;
  options.group = &(*rt)->group();
  options.resources = (*rt)->resources();
  options.authority = authority;
  if (alts.has_value()) {
    absl::StatusOr<std::shared_ptr<HandshakerConfig>> config = LoadAltsConfig(*alts, false);
    if (!config.ok()) {
      std::cerr << "interop_client: ALTS: " << config.status() << "\n";
      return kExitFailure;
    }
    options.alts = std::move(*config);
    for (const std::string& account : alts->peers) {
      options.alts_params.target_identities.push_back(Identity{account, {}});
    }
  }
  const std::string target =
      absl::StrCat(host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host, ":",
                   *port);
  absl::StatusOr<std::unique_ptr<rpc::Channel>> channel =
      rpc::Channel::Create(target, std::move(options));
  if (!channel.ok()) return Usage(channel.status().message());

  int passed = 0;
  int failed = 0;
  for (const InteropCase* c : cases) {
    const absl::Time start = absl::Now();
    absl::Status s = c->run(**channel, case_options);
    if (s.ok()) {
      ++passed;
      PrintLine(absl::StrCat("PASS ", c->name, " (",
                             absl::ToInt64Milliseconds(absl::Now() - start), " ms)"));
    } else {
      ++failed;
      PrintLine(absl::StrCat("FAIL ", c->name, ": ", s.message()));
    }
  }
  PrintLine(absl::StrCat(passed, " passed, ", failed, " failed"));
  channel->reset();
  return failed == 0 ? kExitOk : kExitFailure;
}

}  // namespace
}  // namespace alts::interop

int main(int argc, char** argv) { return alts::interop::Main(argc, argv); }
