// alts_handshaker_service: gRPC's ALTS handshaker service
// (grpc.gcp.HandshakerService/DoHandshake) backed by this project's
// handshake, so that unmodified gRPC ALTS applications (grpc-go, C-core
// behind C++/Python/Ruby/PHP, Java) run anywhere with alts_keygen
// credentials, and talk to this project's own ALTS servers and clients.
// docs/handshaker-service.md says how to point each gRPC stack at it.
//
//   alts_handshaker_service --listen HOST:PORT|unix:PATH
//       --cert CHAIN --key KEY [--cert CHAIN --key KEY]... --roots ROOTS...
//       [--allow SERVICE_ACCOUNT[,KEY=VALUE]...]... [--max-concurrent N]
//       [--handshake-timeout DURATION] [--threads N] [--no-resumption]
//       [--socket-mode OCTAL] [--verbose]
//   alts_handshaker_service --version
//
// Output, one line each, flushed as it happens:
//   LISTENING <address>
//   identity <service account> [key=value]... [(default)]   one per --cert
//   failed <client|server> as <sa> for <client address>: <status>
//   ok <client|server> as <sa> with <peer sa> (<ms> ms)      with --verbose
//   totals: streams N, completed N, failed N, abandoned N    on SIGINT/SIGTERM
// Exit status: 0 success, 1 runtime failure, 2 usage.

#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "alts_ondemand/version.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/storage_pool.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/credential_file.h"
#include "handshaker/handshake_limiter.h"
#include "rpc/server.h"
#include "tools/alts_handshaker_service/handshake_stream.h"
#include "tools/alts_handshaker_service/handshaker_service.h"
#include "tools/alts_handshaker_service/service_flags.h"

namespace alts::handshaker_service {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

std::mutex& OutputMutex() {
  static auto* const mu = new std::mutex;
  return *mu;
}

void PrintLine(absl::string_view line) {
  std::lock_guard<std::mutex> lock(OutputMutex());
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

int Fail(absl::string_view message) {
  std::lock_guard<std::mutex> lock(OutputMutex());
  std::cerr << "alts_handshaker_service: " << message << std::endl;
  return kExitFailure;
}

int Usage(absl::string_view message) {
  std::cerr << "alts_handshaker_service: " << message << "\n" << kServiceUsage;
  return kExitUsage;
}

std::string FormatIdentity(const Identity& identity) {
  std::string out = identity.service_account;
  for (const auto& [key, value] : identity.attributes) absl::StrAppend(&out, " ", key, "=", value);
  return out;
}

absl::StatusOr<std::shared_ptr<const ServiceIdentities>> LoadIdentities(const ServiceFlags& flags) {
  ServiceOptions options;
  for (size_t i = 0; i < flags.cert_files.size(); ++i) {
    absl::StatusOr<std::shared_ptr<const WorkloadCredential>> credential =
        ReadWorkloadCredential(flags.cert_files[i], flags.key_files[i]);
    if (!credential.ok()) {
      return absl::Status(credential.status().code(),
                          absl::StrCat("cannot load --cert ", flags.cert_files[i], " / --key ",
                                       flags.key_files[i], ": ", credential.status().message()));
    }
    options.credentials.push_back(std::move(*credential));
  }
  std::vector<TrustRoot> roots;
  for (const std::string& file : flags.roots_files) {
    absl::StatusOr<std::vector<TrustRoot>> read = ReadTrustRoots(file);
    if (!read.ok()) {
      return absl::Status(read.status().code(), absl::StrCat("cannot load --roots ", file, ": ",
                                                             read.status().message()));
    }
    roots.insert(roots.end(), read->begin(), read->end());
  }
  absl::StatusOr<std::shared_ptr<CertificateVerifier>> verifier =
      CertificateVerifier::Create(std::move(roots));
  if (!verifier.ok()) {
    return absl::Status(verifier.status().code(),
                        absl::StrCat("bad --roots: ", verifier.status().message()));
  }
  options.verifier = std::move(*verifier);
  options.allowed_peers = flags.allowed;
  options.handshake_timeout = flags.handshake_timeout;
  options.resumption = flags.resumption;
  return ServiceIdentities::Create(std::move(options));
}

void LogStream(const StreamReport& r, bool verbose) {
  const char* side = r.side == Side::kClient ? "client" : "server";
  if (r.outcome == StreamOutcome::kCompleted) {
    if (verbose) {
      PrintLine(absl::StrCat("ok ", side, " as ", r.local, " with ", r.peer, " (",
                             absl::ToDoubleMilliseconds(r.elapsed), " ms)"));
    }
    return;
  }
  // Streams that never started (a server side whose client never came)
  // are only noise unless asked for.
  if (!r.started && r.outcome == StreamOutcome::kAbandoned && !verbose) return;
  PrintLine(absl::StrCat(r.outcome == StreamOutcome::kFailed ? "failed " : "abandoned ",
                         r.started ? side : "request", r.local.empty() ? "" : " as ", r.local,
                         " for ", r.client_address, ": ", r.status.ToString()));
}

// BlockSignals blocks SIGINT, SIGTERM and SIGPIPE in this thread and every
// thread started after it (the reactors); the main thread waits for the
// first two with sigwait.
sigset_t BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  sigdelset(&set, SIGPIPE);
  return set;
}

int Run(const ServiceFlags& flags) {
  absl::StatusOr<std::shared_ptr<const ServiceIdentities>> identities = LoadIdentities(flags);
  if (!identities.ok()) return Fail(identities.status().ToString());
  const sigset_t signals = BlockSignals();

  HandshakerServiceOptions service_options;
  service_options.max_concurrent = flags.max_concurrent != 0
                                       ? flags.max_concurrent
                                       : HandshakeLimiter::MaxConcurrentFromEnvironment();
  const bool verbose = flags.verbose;
  service_options.on_stream_end = [verbose](const StreamReport& r) { LogStream(r, verbose); };
  // Declared first: the service outlives the server and the reactors (slots
  // may be released by tasks the group drops at shutdown).
  HandshakerService service(*identities, std::move(service_options));

  absl::StatusOr<std::unique_ptr<BufferPool>> read_pool = BufferPool::Create();
  absl::StatusOr<std::unique_ptr<BufferPool>> write_pool = BufferPool::Create();
  absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
  if (!read_pool.ok() || !write_pool.ok() || !storage.ok()) return Fail("cannot create the pools");
  ConnectionResources resources;
  resources.read_pool = read_pool->get();
  resources.write_pool = write_pool->get();
  resources.storage = storage->get();
  ReactorGroupOptions group_options;
  group_options.threads = flags.threads;
  absl::StatusOr<std::unique_ptr<ReactorGroup>> group = ReactorGroup::Create(std::move(group_options));
  if (!group.ok()) return Fail(group.status().ToString());

  rpc::ServerOptions server_options;
  server_options.group = group->get();
  server_options.resources = &resources;
  HandshakerService::ConfigureServer(server_options);
  absl::StatusOr<std::unique_ptr<rpc::Server>> server = rpc::Server::Create(std::move(server_options));
  if (!server.ok()) return Fail(server.status().ToString());
  if (absl::Status s = service.Register(**server); !s.ok()) return Fail(s.ToString());

  const bool unix_socket = absl::StartsWith(flags.listen, "unix:");
  const mode_t old_umask = unix_socket ? umask(0777 & ~flags.socket_mode) : 0;
  absl::StatusOr<std::string> address = (*server)->AddListener(flags.listen);
  if (unix_socket) umask(old_umask);
  if (!address.ok()) return Fail(absl::StrCat("cannot listen on ", flags.listen, ": ",
                                              address.status().ToString()));
  if (unix_socket) {
    const std::string path = address->substr(5);
    if (chmod(path.c_str(), flags.socket_mode) != 0) {
      return Fail(absl::StrCat("chmod ", path, " failed"));
    }
  }
  PrintLine(absl::StrCat("LISTENING ", *address));
  for (size_t i = 0; i < service.identities().size(); ++i) {
    PrintLine(absl::StrCat("identity ", FormatIdentity(service.identities().identity(i)),
                           i == 0 ? " (default)" : ""));
  }

  int signal = 0;
  sigwait(&signals, &signal);
  (*server)->Shutdown(absl::Seconds(1));
  (*group)->Shutdown();
  const ServiceStats stats = service.stats();
  PrintLine(absl::StrCat("totals: streams ", stats.streams, ", completed ", stats.completed,
                         ", failed ", stats.failed, ", abandoned ", stats.abandoned));
  return kExitOk;
}

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--version") {
    std::cout << "alts_handshaker_service " << kVersion << "\n";
    return kExitOk;
  }
  absl::StatusOr<ServiceFlags> flags = ParseServiceFlags(args);
  if (!flags.ok()) return Usage(flags.status().message());
  if (flags->help) {
    std::cout << kServiceUsage;
    return kExitOk;
  }
  return Run(*flags);
}

}  // namespace
}  // namespace alts::handshaker_service

int main(int argc, char** argv) { return alts::handshaker_service::Main(argc, argv); }
