#include "tools/alts_echo/echo_common.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/credential_file.h"

namespace alts {
namespace {

// OutputMutex serialises PrintLine and PrintError across reactor threads.
std::mutex& OutputMutex() {
  static auto* const mu = new std::mutex;
  return *mu;
}

absl::Status Annotate(const absl::Status& status, absl::string_view what) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

}  // namespace

absl::StatusOr<std::shared_ptr<HandshakerConfig>> LoadHandshakerConfig(const EchoFlags& flags) {
  absl::StatusOr<std::shared_ptr<const WorkloadCredential>> credential =
      ReadWorkloadCredential(flags.cert_file, flags.key_file);
  if (!credential.ok()) {
    return Annotate(credential.status(), absl::StrCat("cannot load --cert ", flags.cert_file,
                                                      " / --key ", flags.key_file));
  }
  std::vector<TrustRoot> roots;
  for (const std::string& file : flags.roots_files) {
    absl::StatusOr<std::vector<TrustRoot>> read = ReadTrustRoots(file);
    if (!read.ok()) return Annotate(read.status(), absl::StrCat("cannot load --roots ", file));
    roots.insert(roots.end(), read->begin(), read->end());
  }
  absl::StatusOr<std::shared_ptr<CertificateVerifier>> verifier =
      CertificateVerifier::Create(std::move(roots));
  if (!verifier.ok()) return Annotate(verifier.status(), "bad --roots");
  auto config = std::make_shared<HandshakerConfig>();
  config->credential = std::move(*credential);
  config->verifier = std::move(*verifier);
  for (const std::string& account : flags.allowed) {
    config->accepted_client_identities.push_back(Identity{account, {}});
  }
  return config;
}

std::string FormatPeerIdentity(const PeerIdentity& peer) {
  std::string out = peer.service_account();
  for (const auto& [key, value] : peer.attributes()) absl::StrAppend(&out, " ", key, "=", value);
  return out;
}

absl::Status RaiseOpenFileLimit(uint64_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::InternalError(absl::StrCat("getrlimit: ", std::strerror(errno)));
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      return absl::InternalError(absl::StrCat("setrlimit: ", std::strerror(errno)));
    }
  }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed) {
    return absl::ResourceExhaustedError(
        absl::StrCat("this run needs about ", needed, " open files but the limit is ",
                     limit.rlim_cur, " (raise the hard limit, e.g. ulimit -Hn)"));
  }
  return absl::OkStatus();
}

void PrintLine(absl::string_view line) {
  std::lock_guard<std::mutex> lock(OutputMutex());
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void PrintError(absl::string_view message) {
  std::lock_guard<std::mutex> lock(OutputMutex());
  std::fprintf(stderr, "alts_echo: %.*s\n", static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

}  // namespace alts
