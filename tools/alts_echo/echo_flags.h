#ifndef ALTS_TOOLS_ALTS_ECHO_ECHO_FLAGS_H_
#define ALTS_TOOLS_ALTS_ECHO_ECHO_FLAGS_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace alts {

// kEchoUsage is the alts_echo command-line summary printed with usage errors
// and --help.
extern const char kEchoUsage[];

// kDefaultEchoThreads: reactor threads when --threads is not given; two
// loops keep one core busy with crypto while the other accepts or dials.
inline constexpr size_t kDefaultEchoThreads = 2;
// kDefaultMessageSize: bytes each --conns connection exchanges by default,
// about one small RPC.
inline constexpr uint64_t kDefaultMessageSize = 64;
// kMaxEchoConns bounds --conns: more than a million sockets does not fit one
// process's file table on any host this tool targets, so a larger value is
// a typo and should fail before dialing anything.
inline constexpr uint64_t kMaxEchoConns = 1'000'000;
// kMaxMessageSize bounds --message-size: one message per connection, times
// every connection; bulk transfers belong to --bytes.
inline constexpr uint64_t kMaxMessageSize = 64u << 20;
// kMaxBulkBytes bounds --bytes: a terabyte takes hours even over loopback,
// so anything larger is a typo.
inline constexpr uint64_t kMaxBulkBytes = 1ull << 40;
// kMaxIdleSeconds bounds --idle-seconds to a day.
inline constexpr uint64_t kMaxIdleSeconds = 24 * 60 * 60;

// EchoMode says which end alts_echo plays.
enum class EchoMode {
  kListen,   // serve echo (--listen)
  kConnect,  // run clients (--connect)
};

// EchoFlags is a parsed, validated alts_echo command line.
struct EchoFlags {
  EchoMode mode = EchoMode::kListen;
  // HOST:PORT to listen on or connect to.
  std::string address;
  // This workload's credential (files written by alts_keygen issue-leaf).
  std::string cert_file;
  std::string key_file;
  // Trust roots (alts_keygen create-root); --roots may repeat.
  std::vector<std::string> roots_files;
  // Client: the server must be one of these service accounts (--target).
  std::vector<std::string> targets;
  // Server: only these client service accounts are accepted (--allow).
  std::vector<std::string> allowed;
  size_t threads = kDefaultEchoThreads;
  // Client: connections, each exchanging one message of message_size bytes.
  uint64_t conns = 1;
  uint64_t message_size = kDefaultMessageSize;
  // Client: seconds the connections stay open and idle after the exchange.
  uint64_t idle_seconds = 0;
  // Client: bulk echo of this many bytes on one connection (--bytes).
  std::optional<uint64_t> bulk_bytes;
  // --help was given: print kEchoUsage and exit 0; nothing else is set.
  bool help = false;
};

// ParseEchoFlags parses the arguments after the program name. Accepts
// "--name value" and "--name=value". Returns kInvalidArgument with a message
// naming the offending flag for anything malformed, unknown, missing,
// out of range or not applicable to the chosen mode.
absl::StatusOr<EchoFlags> ParseEchoFlags(absl::Span<const std::string> args);

}  // namespace alts

#endif  // ALTS_TOOLS_ALTS_ECHO_ECHO_FLAGS_H_
