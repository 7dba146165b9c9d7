// interop_server: gRPC's interop server (grpc.testing.TestService, see
// test_service.h) on this project's RPC layer, for any gRPC interop client.
//
//   interop_server [--port=PORT] [--host=HOST] [--use_tls=false]
//                  [--use_alts --alts_cert=CHAIN --alts_key=KEY
//                   --alts_roots=ROOTS[,ROOTS...] [--alts_allow=ACCOUNT[,...]]]
//                  [--threads=N]
//   interop_server --version      prints "interop_server <version>"
//
// --port 0 (the default) picks a free port. Plaintext (h2c) unless
// --use_alts; TLS is not supported (--use_tls=true is refused). The ALTS
// files are alts_keygen's (docs/handshake.md); --alts_allow accepts only
// those client service accounts. Flags take "--name=value" or
// "--name value"; booleans may stand alone.
//
// Output: "LISTENING HOST:PORT" (the bound port) once serving; on SIGINT or
// SIGTERM, a graceful shutdown and "stopped: <n> calls". Exit status: 0
// after a signal, 1 if it cannot serve, 2 for a bad command line.

#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alts_ondemand/version.h"
#include "rpc/server.h"
#include "tools/interop_server/interop_common.h"
#include "tools/interop_server/test_service.h"

namespace alts::interop {
namespace {

constexpr char kUsage[] =
    "usage: interop_server [--port=PORT] [--host=HOST] [--use_tls=false]\n"
    "                      [--use_alts --alts_cert=CHAIN --alts_key=KEY --alts_roots=ROOTS\n"
    "                       [--alts_allow=ACCOUNT,...]] [--threads=N]\n"
    "       interop_server --version\n";

// kShutdownGrace: calls in flight at SIGINT/SIGTERM get this long to finish.
constexpr absl::Duration kShutdownGrace = absl::Seconds(2);

int Usage(absl::string_view message) {
  std::cerr << "interop_server: " << message << "\n" << kUsage;
  return kExitUsage;
}

int Fail(absl::string_view what, const absl::Status& status) {
  std::cerr << "interop_server: " << what << ": " << status << "\n";
  return kExitFailure;
}

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--version") {
    std::cout << "interop_server " << kVersion << "\n";
    return kExitOk;
  }
  absl::StatusOr<Flags> parsed = Flags::Parse(
      args, {"use_tls", "use_alts", "help"}, {"alts_roots", "alts_allow"});
  if (!parsed.ok()) return Usage(parsed.status().message());
  Flags& flags = *parsed;
  if (flags.Has("help")) {
    std::cout << kUsage;
    return kExitOk;
  }
  absl::StatusOr<int64_t> port = flags.Int("port", 0, 0, 65535);
  if (!port.ok()) return Usage(port.status().message());
  const std::string host = flags.String("host", "0.0.0.0");
  absl::StatusOr<bool> use_tls = flags.Bool("use_tls", false);
  if (!use_tls.ok()) return Usage(use_tls.status().message());
  if (*use_tls) {
    return Usage("--use_tls=true: TLS is not supported; use plaintext (--use_tls=false) or "
                 "--use_alts");
  }
  absl::StatusOr<bool> use_alts = flags.Bool("use_alts", false);
  if (!use_alts.ok()) return Usage(use_alts.status().message());
  std::optional<AltsFlags> alts;
  if (*use_alts) {
    absl::StatusOr<AltsFlags> a = ReadAltsFlags(flags, "alts_allow");
    if (!a.ok()) return Usage(a.status().message());
    alts = std::move(*a);
  }
  absl::StatusOr<int64_t> threads =
      flags.Int("threads", static_cast<int64_t>(kDefaultThreads), 1, kMaxThreads);
  if (!threads.ok()) return Usage(threads.status().message());
  if (absl::Status s = flags.CheckAllUsed(); !s.ok()) return Usage(s.message());

  // Signals go to the thread that waits for them, not to the reactors.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<Runtime>> rt = Runtime::Create(static_cast<size_t>(*threads));
  if (!rt.ok()) return Fail("cannot start reactors", rt.status());
  rpc::ServerOptions options;
  options.group = &(*rt)->group();
  options.resources = (*rt)->resources();
  options.log_errors = true;
  if (alts.has_value()) {
    absl::StatusOr<std::shared_ptr<HandshakerConfig>> config = LoadAltsConfig(*alts, true);
    if (!config.ok()) return Fail("ALTS", config.status());
    options.alts = std::move(*config);
  }
  absl::StatusOr<std::unique_ptr<rpc::Server>> server = rpc::Server::Create(std::move(options));
  if (!server.ok()) return Fail("cannot create the server", server.status());
  if (absl::Status s = RegisterTestService(**server); !s.ok()) {
    return Fail("cannot register TestService", s);
  }
  const std::string wanted =
      absl::StrCat(host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host, ":",
                   *port);
  absl::StatusOr<std::string> bound = (*server)->AddListener(wanted);
  if (!bound.ok()) return Fail(absl::StrCat("cannot listen on ", wanted), bound.status());
  PrintLine(absl::StrCat("LISTENING ", *bound));

  int signal = 0;
  sigwait(&stop_signals, &signal);
  (*server)->Shutdown(kShutdownGrace);
  PrintLine(absl::StrCat("stopped: ", (*server)->stats().calls_started, " calls"));
  server->reset();
  return kExitOk;
}

}  // namespace
}  // namespace alts::interop

int main(int argc, char** argv) { return alts::interop::Main(argc, argv); }
