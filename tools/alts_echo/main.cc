// alts_echo: try the transport from two terminals. One side serves echo over
// authenticated ALTS connections, the other dials it, checks every byte that
// comes back and reports handshake times, throughput and what idle
// connections hold.
//
//   alts_echo --listen HOST:PORT --cert CHAIN --key KEY --roots ROOTS
//             [--allow SERVICE_ACCOUNT]... [--threads N]
//   alts_echo --connect HOST:PORT --cert CHAIN --key KEY --roots ROOTS
//             [--target SERVICE_ACCOUNT]... [--threads N]
//             [--conns N] [--message-size N] [--idle-seconds N] | [--bytes N]
//
// Credentials are the files alts_keygen writes (docs/handshake.md section 1).
//
// Server output, one line each, flushed as it happens:
//   LISTENING <host:port>
//   accepted <peer>: <service account> [key=value]... (<record protocol>)
//   closed <peer>: echoed <n> bytes
//   rejected <peer>: <status>             failed handshake or bad connection
//   totals: accepted ..., rejected ..., ... bytes echoed <n>   on SIGINT/SIGTERM
// Client output:
//   server identity: <service account> [key=value]... (<addr>, <protocol>,
//       handshake <ms> ms)
//   connections established / failed, handshake p50 / p99, bytes verified,
//   throughput, and while idle: pool buffers outstanding (0 by design) and
//   heap held by the connections (sum of SecureConnection::HeapBytes).
//   Handshake times run from the dial to the outcome, so with many
//   connections they include waiting for a handshake slot (at most
//   GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES, default 100, run at once per process).
//
//   alts_echo --version      prints "alts_echo <version>"
//
// Exit status: 0 success, 1 runtime failure (message on stderr), 2 usage.

#include <iostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "alts_ondemand/version.h"
#include "conn/socket_util.h"
#include "tools/alts_echo/echo_client.h"
#include "tools/alts_echo/echo_common.h"
#include "tools/alts_echo/echo_flags.h"
#include "tools/alts_echo/echo_server.h"

namespace alts {
namespace {

int Usage(absl::string_view message) {
  std::cerr << "alts_echo: " << message << "\n" << kEchoUsage;
  return kExitUsage;
}

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--version") {
    std::cout << "alts_echo " << kVersion << "\n";
    return kExitOk;
  }
  absl::StatusOr<EchoFlags> flags = ParseEchoFlags(args);
  if (!flags.ok()) return Usage(flags.status().message());
  if (flags->help) {
    std::cout << kEchoUsage;
    return kExitOk;
  }
  if (absl::StatusOr<SocketAddress> address = ParseSocketAddress(flags->address); !address.ok()) {
    return Usage(address.status().message());
  }
  return flags->mode == EchoMode::kListen ? RunEchoServer(*flags) : RunEchoClient(*flags);
}

}  // namespace
}  // namespace alts

int main(int argc, char** argv) { return alts::Main(argc, argv); }
