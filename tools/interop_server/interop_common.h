#ifndef ALTS_TOOLS_INTEROP_SERVER_INTEROP_COMMON_H_
#define ALTS_TOOLS_INTEROP_SERVER_INTEROP_COMMON_H_

// What interop_server and interop_client share: gRPC-interop-style command
// lines, the ALTS credential flags, and the reactors and pools the RPC layer
// runs on.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/secure_connection.h"
#include "conn/storage_pool.h"
#include "handshaker/handshaker.h"

namespace alts::interop {

// kExitOk, kExitFailure, kExitUsage are the tools' exit statuses: success,
// a failed run (a test case, a listener), a bad command line.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// kDefaultThreads: reactor threads by default; two let a server accept
// while another connection runs a handler.
inline constexpr size_t kDefaultThreads = 2;
// kMaxThreads bounds --threads: more reactors than this is a typo on any
// machine these tools run on.
inline constexpr int64_t kMaxThreads = 256;

// Flags is a parsed gRPC-interop-style command line: "--name=value",
// "--name value", and for boolean flags also a bare "--name" (true). Each
// getter marks its flag as used; CheckAllUsed then names any flag the tool
// does not know.
class Flags {
 public:
  // Parse reads `args` (without the program name). `bool_flags` names the
  // boolean flags, the only ones that may stand without a value. Returns
  // kInvalidArgument for an argument that is not a flag, a value missing at
  // the end, or a flag given twice (except those in `repeatable`).
  static absl::StatusOr<Flags> Parse(absl::Span<const std::string> args,
                                     absl::Span<const absl::string_view> bool_flags,
                                     absl::Span<const absl::string_view> repeatable = {});

  // Has returns true if `name` was given.
  bool Has(absl::string_view name) const;
  // String returns the flag's value, or `fallback` if absent.
  std::string String(absl::string_view name, absl::string_view fallback = "");
  // List returns every value of a repeatable flag, each split at commas
  // (empty pieces dropped).
  std::vector<std::string> List(absl::string_view name);
  // Int returns the flag's value as an integer in [min, max], or `fallback`
  // if absent; kInvalidArgument naming the flag otherwise.
  absl::StatusOr<int64_t> Int(absl::string_view name, int64_t fallback, int64_t min,
                              int64_t max);
  // Bool returns the flag's value ("true"/"false"/"1"/"0", or bare = true),
  // or `fallback` if absent; kInvalidArgument naming the flag otherwise.
  absl::StatusOr<bool> Bool(absl::string_view name, bool fallback);
  // CheckAllUsed returns kInvalidArgument naming the first flag no getter
  // asked for (an unknown or misspelt flag).
  absl::Status CheckAllUsed() const;

 private:
  struct Value {
    std::vector<std::string> values;
    bool used = false;
  };
  std::map<std::string, Value, std::less<>> flags_;
};

// AltsFlags name the ALTS credential files (written by alts_keygen) and the
// peer identities to require.
struct AltsFlags {
  std::string cert;                 // --alts_cert: this workload's chain
  std::string key;                  // --alts_key: its key
  std::vector<std::string> roots;   // --alts_roots: trust roots (repeatable)
  // Server: --alts_allow, the accepted client service accounts (empty = any
  // trusted client). Client: --alts_target, the server's (empty = any).
  std::vector<std::string> peers;
};

// ReadAltsFlags reads --alts_cert, --alts_key, --alts_roots and
// `peers_flag` (--alts_allow or --alts_target). kInvalidArgument naming the
// missing flag if cert, key or roots are absent.
absl::StatusOr<AltsFlags> ReadAltsFlags(Flags& flags, absl::string_view peers_flag);

// LoadAltsConfig reads the files `alts` names and builds the handshake
// configuration; on a server the peers become the accepted client
// identities. Errors keep their code and name the flag and file.
absl::StatusOr<std::shared_ptr<HandshakerConfig>> LoadAltsConfig(const AltsFlags& alts,
                                                                  bool server);

// Runtime owns what the RPC layer runs on: a reactor group and the pools.
class Runtime {
 public:
  // Create starts `threads` reactors and makes the pools; errors from the
  // reactor group or pools are returned unchanged.
  static absl::StatusOr<std::unique_ptr<Runtime>> Create(size_t threads);
  // ~Runtime stops the reactors (servers and channels on them must be gone).
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  ReactorGroup& group() { return *group_; }
  const ConnectionResources* resources() const { return &resources_; }

 private:
  Runtime() = default;
  std::unique_ptr<ReactorGroup> group_;
  std::unique_ptr<BufferPool> read_pool_;
  std::unique_ptr<BufferPool> write_pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
};

// PrintLine writes `line` and a newline to stdout and flushes.
void PrintLine(absl::string_view line);

}  // namespace alts::interop

#endif  // ALTS_TOOLS_INTEROP_SERVER_INTEROP_COMMON_H_
