#ifndef ALTS_TOOLS_ALTS_HANDSHAKER_SERVICE_SERVICE_FLAGS_H_
#define ALTS_TOOLS_ALTS_HANDSHAKER_SERVICE_SERVICE_FLAGS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "handshaker/handshake_limits.h"
#include "handshaker/identity.h"

namespace alts::handshaker_service {

// kServiceUsage is the command-line summary printed with usage errors and
// --help.
extern const char kServiceUsage[];

// kDefaultServiceThreads: reactor threads when --threads is not given; the
// service is mostly key agreements, one per core of a small machine.
inline constexpr size_t kDefaultServiceThreads = 2;
// kMaxConcurrentFlag bounds --max-concurrent: every running handshake holds
// its state (tens of KiB at most); more than this is a typo.
inline constexpr size_t kMaxConcurrentFlag = 100000;
// kMaxHandshakeTimeout bounds --handshake-timeout: a stalled peer holds a
// slot that long.
inline constexpr absl::Duration kMaxHandshakeTimeout = absl::Hours(1);
// kDefaultSocketMode: a unix socket is for this user only unless
// --socket-mode says otherwise (whoever can connect handshakes as the
// service's identities).
inline constexpr uint32_t kDefaultSocketMode = 0600;

// ServiceFlags is a parsed, validated command line.
struct ServiceFlags {
  // HOST:PORT or unix:PATH.
  std::string listen;
  // Workload credentials, pairwise (--cert i goes with --key i); the first
  // is the default identity.
  std::vector<std::string> cert_files;
  std::vector<std::string> key_files;
  std::vector<std::string> roots_files;
  // --allow: peers a server-side handshake accepts (empty: any trusted).
  std::vector<Identity> allowed;
  // 0: GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES, else gRPC's default (100).
  size_t max_concurrent = 0;
  absl::Duration handshake_timeout = kDefaultHandshakeDeadline;
  size_t threads = kDefaultServiceThreads;
  bool resumption = true;
  uint32_t socket_mode = kDefaultSocketMode;
  // --verbose: one line per completed handshake too, not only failures.
  bool verbose = false;
  // --help: print kServiceUsage and exit 0; nothing else is set.
  bool help = false;
};

// ParseAllowedIdentity parses an --allow value: "SERVICE_ACCOUNT" or
// "SERVICE_ACCOUNT,KEY=VALUE,..." (the peer must carry those attributes).
// kInvalidArgument for an empty account or a malformed attribute.
absl::StatusOr<Identity> ParseAllowedIdentity(absl::string_view value);

// ParseServiceFlags parses the arguments after the program name ("--name
// value" or "--name=value"). Returns kInvalidArgument naming the flag for
// anything unknown, missing, malformed or out of range.
absl::StatusOr<ServiceFlags> ParseServiceFlags(absl::Span<const std::string> args);

}  // namespace alts::handshaker_service

#endif  // ALTS_TOOLS_ALTS_HANDSHAKER_SERVICE_SERVICE_FLAGS_H_
