// h2_peer: an HTTP/2 server and client on this project's http2::Session and
// rpc::H2Transport, for live interop with other HTTP/2 implementations
// (nghttp, nghttpd, h2load, curl, python-h2) and with itself, over
// plaintext h2c (prior knowledge) or ALTS.
//
//   h2_peer --listen=HOST:PORT [--threads=N] [--verbose]
//           [--use_alts --alts_cert=CHAIN --alts_key=KEY --alts_roots=ROOTS
//            [--alts_allow=ACCOUNT,...]]
//   h2_peer --connect=HOST:PORT [--get=SIZES] [--echo=SIZES] [--repeat=N]
//           [--concurrent=N] [--get_prefix=/bytes/] [--echo_path=/echo]
//           [--authority=A] [--timeout_s=S]
//           [--use_alts --alts_cert=CHAIN --alts_key=KEY --alts_roots=ROOTS
//            [--alts_target=ACCOUNT,...]]
//   h2_peer --version     prints "h2_peer <version>"
//
// Server: GET /bytes/N answers N bytes of the pattern (tools/h2_peer/
// pattern.h), POST to any path echoes the body (peer_server.h). Prints
// "LISTENING HOST:PORT" once serving; SIGINT or SIGTERM stops it and prints
// "h2_peer: stopped: ..." with its counts.
//
// Client: GETs <get_prefix>N for each N of --get and POSTs an N-byte
// pattern body to --echo_path for each N of --echo, --repeat times, with up
// to --concurrent streams in flight on one connection, and checks every
// status, length and byte. SIZES are comma-separated byte counts, with an
// optional k or m suffix (KiB, MiB): --get=0,1,16k,1m. Prints one line:
//   h2_peer: OK <n> requests (<g> GET, <e> echo), <b> body bytes verified, ...
//   h2_peer: FAIL <f> of <n> requests: <the first failure>
//
// ALTS when --use_alts or any --alts_* file flag is given (files from
// alts_keygen); --alts_allow / --alts_target name the accepted peers.
// Flags take "--name=value" or "--name value". Exit status: 0 on success (a
// client whose every request passed; a server stopped by a signal), 1 on
// any failure or mismatch, 2 for a bad command line.

#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "alts_ondemand/version.h"
#include "tools/h2_peer/peer_client.h"
#include "tools/h2_peer/peer_server.h"
#include "tools/interop_server/interop_common.h"

namespace alts::h2peer {
namespace {

using interop::Flags;
using interop::kExitFailure;
using interop::kExitOk;
using interop::kExitUsage;

constexpr char kUsage[] =
    "usage: h2_peer --listen=HOST:PORT [--threads=N] [--verbose]\n"
    "               [--use_alts --alts_cert=CHAIN --alts_key=KEY --alts_roots=ROOTS\n"
    "                [--alts_allow=ACCOUNT,...]]\n"
    "       h2_peer --connect=HOST:PORT [--get=SIZES] [--echo=SIZES] [--repeat=N]\n"
    "               [--concurrent=N] [--get_prefix=/bytes/] [--echo_path=/echo]\n"
    "               [--authority=A] [--timeout_s=S]\n"
    "               [--use_alts --alts_cert=CHAIN --alts_key=KEY --alts_roots=ROOTS\n"
    "                [--alts_target=ACCOUNT,...]]\n"
    "       h2_peer --version\n"
    "SIZES: comma-separated byte counts, k/m suffixes allowed (0,1,16k,1m)\n";

// kMaxTimeoutSeconds bounds --timeout_s (a day: longer is a typo).
constexpr int64_t kMaxTimeoutSeconds = 86400;
// kMaxConcurrent bounds --concurrent: stream ids and the peer's limit cap
// it anyway, and every stream in flight holds its state.
constexpr int64_t kMaxConcurrent = 100000;

int Usage(absl::string_view message) {
  std::cerr << "h2_peer: " << message << "\n" << kUsage;
  return kExitUsage;
}

int Fail(absl::string_view what, const absl::Status& status) {
  std::cerr << "h2_peer: " << what << ": " << status << "\n";
  return kExitFailure;
}

// ParseSizes reads SIZES ("0,1,16k,1m") into `out`.
absl::Status ParseSizes(const std::vector<std::string>& items, const char* flag,
                        std::vector<uint64_t>* out) {
  for (const std::string& item : items) {
    std::string digits = absl::AsciiStrToLower(item);
    uint64_t unit = 1;
    if (!digits.empty() && (digits.back() == 'k' || digits.back() == 'm')) {
      unit = digits.back() == 'k' ? 1024 : 1024 * 1024;
      digits.pop_back();
    }
    uint64_t n = 0;
    if (!absl::SimpleAtoi(digits, &n) || n > kMaxGetBytes / unit) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, ": \"", item, "\" is not a size of at most ", kMaxGetBytes, " bytes"));
    }
    out->push_back(n * unit);
  }
  return absl::OkStatus();
}

// ReadAlts reads the ALTS flags if ALTS is asked for (nullopt otherwise).
absl::StatusOr<std::optional<interop::AltsFlags>> ReadAlts(Flags& flags, const char* peers_flag) {
  absl::StatusOr<bool> use_alts = flags.Bool("use_alts", false);
  if (!use_alts.ok()) return use_alts.status();
  if (!*use_alts && !flags.Has("alts_cert") && !flags.Has("alts_key") &&
      !flags.Has("alts_roots")) {
    return std::nullopt;
  }
  absl::StatusOr<interop::AltsFlags> a = interop::ReadAltsFlags(flags, peers_flag);
  if (!a.ok()) return a.status();
  return std::optional<interop::AltsFlags>(std::move(*a));
}

// BlockStopSignals makes SIGINT and SIGTERM wait for sigwait (the reactor
// threads inherit the mask) and returns the set.
sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int Serve(Flags& flags, const std::string& address) {
  absl::StatusOr<std::optional<interop::AltsFlags>> alts = ReadAlts(flags, "alts_allow");
  if (!alts.ok()) return Usage(alts.status().message());
  absl::StatusOr<int64_t> threads = flags.Int(
      "threads", static_cast<int64_t>(interop::kDefaultThreads), 1, interop::kMaxThreads);
  if (!threads.ok()) return Usage(threads.status().message());
  absl::StatusOr<bool> verbose = flags.Bool("verbose", false);
  if (!verbose.ok()) return Usage(verbose.status().message());
  if (absl::Status s = flags.CheckAllUsed(); !s.ok()) return Usage(s.message());

  const sigset_t stop = BlockStopSignals();
  std::shared_ptr<const HandshakerConfig> config;
  if (alts->has_value()) {
    absl::StatusOr<std::shared_ptr<HandshakerConfig>> c = interop::LoadAltsConfig(**alts, true);
    if (!c.ok()) return Fail("ALTS", c.status());
    config = std::move(*c);
  }
  absl::StatusOr<std::unique_ptr<interop::Runtime>> rt =
      interop::Runtime::Create(static_cast<size_t>(*threads));
  if (!rt.ok()) return Fail("cannot start reactors", rt.status());
  absl::StatusOr<std::unique_ptr<PeerServer>> server =
      PeerServer::Start(**rt, address, std::move(config), *verbose);
  if (!server.ok()) return Fail(absl::StrCat("cannot listen on ", address), server.status());
  interop::PrintLine(absl::StrCat("LISTENING ", (*server)->address()));

  int signal = 0;
  sigwait(&stop, &signal);
  (*server)->Stop();
  const ServerStats s = (*server)->stats();
  interop::PrintLine(absl::StrCat("h2_peer: stopped: ", s.connections, " connections, ",
                                  s.requests, " requests (", s.gets, " GET, ", s.echoes,
                                  " echo, ", s.refused, " refused), ", s.completed,
                                  " completed, ", s.reset, " reset, ", s.body_bytes_sent,
                                  " body bytes sent"));
  server->reset();
  return kExitOk;
}

int Connect(Flags& flags, const std::string& address) {
  ClientOptions o;
  o.address = address;
  absl::StatusOr<std::optional<interop::AltsFlags>> alts = ReadAlts(flags, "alts_target");
  if (!alts.ok()) return Usage(alts.status().message());
  if (absl::Status s = ParseSizes(flags.List("get"), "get", &o.get_sizes); !s.ok()) {
    return Usage(s.message());
  }
  if (absl::Status s = ParseSizes(flags.List("echo"), "echo", &o.echo_sizes); !s.ok()) {
    return Usage(s.message());
  }
  absl::StatusOr<int64_t> repeat =
      flags.Int("repeat", 1, 1, static_cast<int64_t>(kMaxRequests));
  if (!repeat.ok()) return Usage(repeat.status().message());
  o.repeat = static_cast<uint32_t>(*repeat);
  absl::StatusOr<int64_t> concurrent = flags.Int("concurrent", o.concurrent, 1, kMaxConcurrent);
  if (!concurrent.ok()) return Usage(concurrent.status().message());
  o.concurrent = static_cast<uint32_t>(*concurrent);
  absl::StatusOr<int64_t> timeout = flags.Int("timeout_s", 60, 1, kMaxTimeoutSeconds);
  if (!timeout.ok()) return Usage(timeout.status().message());
  o.timeout = absl::Seconds(*timeout);
  o.get_prefix = flags.String("get_prefix", o.get_prefix);
  o.echo_path = flags.String("echo_path", o.echo_path);
  o.authority = flags.String("authority");
  if (absl::Status s = flags.CheckAllUsed(); !s.ok()) return Usage(s.message());
  const uint64_t requests = (o.get_sizes.size() + o.echo_sizes.size()) * o.repeat;
  if (requests == 0) return Usage("--connect needs --get or --echo sizes");
  if (requests > kMaxRequests) {
    return Usage(absl::StrCat(requests, " requests: at most ", kMaxRequests, " per run"));
  }
  if (alts->has_value()) {
    absl::StatusOr<std::shared_ptr<HandshakerConfig>> c = interop::LoadAltsConfig(**alts, false);
    if (!c.ok()) return Fail("ALTS", c.status());
    o.alts = std::move(*c);
    for (const std::string& account : (*alts)->peers) o.alts_targets.push_back({account, {}});
  }

  // One reactor: the client's connection, its connector and dialer live there.
  absl::StatusOr<std::unique_ptr<interop::Runtime>> rt = interop::Runtime::Create(1);
  if (!rt.ok()) return Fail("cannot start reactors", rt.status());
  const ClientResult r = RunClient(**rt, o);
  rt->reset();
  if (!r.ok()) {
    interop::PrintLine(absl::StrCat("h2_peer: FAIL ", r.failed, " of ", r.requests,
                                    " requests: ", r.first_error));
    return kExitFailure;
  }
  interop::PrintLine(absl::StrFormat(
      "h2_peer: OK %d requests (%d GET, %d echo), %d body bytes verified, at most %d streams "
      "at once, %.3f s%s",
      r.requests, r.gets, r.echoes, r.bytes_verified, r.max_in_flight,
      absl::ToDoubleSeconds(r.elapsed),
      r.server_account.empty() ? "" : absl::StrCat(", ALTS server ", r.server_account)));
  return kExitOk;
}

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--version") {
    std::cout << "h2_peer " << kVersion << "\n";
    return kExitOk;
  }
  absl::StatusOr<Flags> parsed =
      Flags::Parse(args, {"use_alts", "verbose", "help"},
                   {"alts_roots", "alts_allow", "alts_target", "get", "echo"});
  if (!parsed.ok()) return Usage(parsed.status().message());
  Flags& flags = *parsed;
  if (flags.Has("help")) {
    (void)flags.Bool("help", false);
    std::cout << kUsage;
    return kExitOk;
  }
  const bool listen = flags.Has("listen"), connect = flags.Has("connect");
  if (listen == connect) return Usage("give exactly one of --listen and --connect");
  if (listen) return Serve(flags, flags.String("listen"));
  return Connect(flags, flags.String("connect"));
}

}  // namespace
}  // namespace alts::h2peer

int main(int argc, char** argv) { return alts::h2peer::Main(argc, argv); }
