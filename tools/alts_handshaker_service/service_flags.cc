#include "tools/alts_handshaker_service/service_flags.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "conn/reactor.h"

namespace alts::handshaker_service {

const char kServiceUsage[] =
    "usage:\n"
    "  alts_handshaker_service --listen HOST:PORT|unix:PATH\n"
    "      --cert CHAIN --key KEY [--cert CHAIN --key KEY]... --roots ROOTS [--roots ROOTS]...\n"
    "      [--allow SERVICE_ACCOUNT[,KEY=VALUE]...]... [--max-concurrent N]\n"
    "      [--handshake-timeout DURATION] [--threads N] [--no-resumption]\n"
    "      [--socket-mode OCTAL] [--verbose]\n"
    "  Serves grpc.gcp.HandshakerService/DoHandshake over plaintext HTTP/2, the\n"
    "  handshaker gRPC's ALTS libraries dial. The first --cert/--key pair is the\n"
    "  default identity; requests name others with local_identity. --allow limits\n"
    "  the clients a server-side handshake accepts. --max-concurrent (client-side\n"
    "  and server-side handshakes each; more are queued) defaults to\n"
    "  GRPC_ALTS_MAX_CONCURRENT_HANDSHAKES or 100;\n"
    "  --handshake-timeout (e.g. 30s, 500ms) defaults to 30s. A unix socket is\n"
    "  created with --socket-mode (default 0600). Prints LISTENING ADDRESS, one\n"
    "  line per failed handshake (every handshake with --verbose), totals on\n"
    "  SIGINT/SIGTERM.\n"
    "  alts_handshaker_service --version\n"
    "  Exit status: 0 success, 1 failure, 2 usage.\n";

namespace {

absl::Status Invalid(absl::string_view message) { return absl::InvalidArgumentError(message); }

absl::Status ParseCount(const std::string& name, const std::string& value, uint64_t min,
                        uint64_t max, uint64_t* out) {
  uint64_t parsed = 0;
  if (value.empty() || value[0] == '-' || value[0] == '+' || !absl::SimpleAtoi(value, &parsed) ||
      parsed < min || parsed > max) {
    return Invalid(absl::StrCat("--", name, " must be an integer in [", min, ", ", max, "], got '",
                                value, "'"));
  }
  *out = parsed;
  return absl::OkStatus();
}

const std::set<std::string>& Repeatable() {
  static const auto* const names =
      new std::set<std::string>{"cert", "key", "roots", "allow"};
  return *names;
}

const std::set<std::string>& WithValue() {
  static const auto* const names =
      new std::set<std::string>{"listen", "cert", "key", "roots", "allow", "max-concurrent",
                                "handshake-timeout", "threads", "socket-mode"};
  return *names;
}

const std::set<std::string>& Switches() {
  static const auto* const names = new std::set<std::string>{"no-resumption", "verbose"};
  return *names;
}

}  // namespace

absl::StatusOr<Identity> ParseAllowedIdentity(absl::string_view value) {
  std::vector<absl::string_view> parts = absl::StrSplit(value, ',');
  Identity identity;
  identity.service_account = std::string(parts[0]);
  if (identity.service_account.empty()) {
    return Invalid(absl::StrCat("--allow needs a service account, got '", value, "'"));
  }
  if (identity.service_account.size() > kMaxIdentityFieldSize) {
    return Invalid("--allow: service account too long");
  }
  if (parts.size() - 1 > kMaxIdentityAttributes) return Invalid("--allow: too many attributes");
  for (size_t i = 1; i < parts.size(); ++i) {
    const size_t eq = parts[i].find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return Invalid(absl::StrCat("--allow attribute '", parts[i], "' is not KEY=VALUE"));
    }
    std::string key(parts[i].substr(0, eq));
    std::string val(parts[i].substr(eq + 1));
    if (key.size() > kMaxIdentityFieldSize || val.size() > kMaxIdentityFieldSize) {
      return Invalid("--allow: attribute too long");
    }
    if (!identity.attributes.emplace(std::move(key), std::move(val)).second) {
      return Invalid(absl::StrCat("--allow attribute '", parts[i], "' given twice"));
    }
  }
  return identity;
}

absl::StatusOr<ServiceFlags> ParseServiceFlags(absl::Span<const std::string> args) {
  std::map<std::string, std::vector<std::string>> values;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      ServiceFlags flags;
      flags.help = true;
      return flags;
    }
    if (arg.rfind("--", 0) != 0) return Invalid(absl::StrCat("unexpected argument '", arg, "'"));
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (Switches().count(name) != 0) {
      if (has_value) return Invalid(absl::StrCat("--", name, " takes no value"));
    } else if (WithValue().count(name) != 0) {
      if (!has_value) {
        if (i + 1 >= args.size()) return Invalid(absl::StrCat("--", name, " needs a value"));
        value = args[++i];
      }
    } else {
      return Invalid(absl::StrCat("unknown flag --", name));
    }
    std::vector<std::string>& slot = values[name];
    if (!slot.empty() && Repeatable().count(name) == 0) {
      return Invalid(absl::StrCat("--", name, " given twice"));
    }
    slot.push_back(std::move(value));
  }

  ServiceFlags flags;
  auto take = [&](const std::string& name) -> std::vector<std::string> {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>() : it->second;
  };
  std::vector<std::string> listen = take("listen");
  if (listen.empty() || listen[0].empty()) return Invalid("--listen HOST:PORT|unix:PATH is required");
  flags.listen = listen[0];
  flags.cert_files = take("cert");
  flags.key_files = take("key");
  if (flags.cert_files.empty()) return Invalid("--cert CHAIN and --key KEY are required");
  if (flags.cert_files.size() != flags.key_files.size()) {
    return Invalid(absl::StrCat("every --cert needs its --key: got ", flags.cert_files.size(),
                                " --cert and ", flags.key_files.size(), " --key"));
  }
  flags.roots_files = take("roots");
  if (flags.roots_files.empty()) return Invalid("--roots ROOTS is required");
  for (const std::string& allow : take("allow")) {
    absl::StatusOr<Identity> identity = ParseAllowedIdentity(allow);
    if (!identity.ok()) return identity.status();
    flags.allowed.push_back(std::move(*identity));
  }
  uint64_t n = 0;
  if (std::vector<std::string> v = take("max-concurrent"); !v.empty()) {
    if (absl::Status s = ParseCount("max-concurrent", v[0], 1, kMaxConcurrentFlag, &n); !s.ok()) {
      return s;
    }
    flags.max_concurrent = static_cast<size_t>(n);
  }
  if (std::vector<std::string> v = take("threads"); !v.empty()) {
    if (absl::Status s = ParseCount("threads", v[0], 1, kMaxReactorThreads, &n); !s.ok()) return s;
    flags.threads = static_cast<size_t>(n);
  }
  if (std::vector<std::string> v = take("handshake-timeout"); !v.empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(v[0], &d) || d <= absl::ZeroDuration() ||
        d > kMaxHandshakeTimeout) {
      return Invalid(absl::StrCat("--handshake-timeout must be a duration in (0, ",
                                  absl::FormatDuration(kMaxHandshakeTimeout), "], e.g. 30s; got '",
                                  v[0], "'"));
    }
    flags.handshake_timeout = d;
  }
  if (std::vector<std::string> v = take("socket-mode"); !v.empty()) {
    char* end = nullptr;
    const unsigned long mode = std::strtoul(v[0].c_str(), &end, 8);
    if (v[0].empty() || *end != '\0' || mode > 0777) {
      return Invalid(absl::StrCat("--socket-mode must be octal permissions like 0660, got '",
                                  v[0], "'"));
    }
    flags.socket_mode = static_cast<uint32_t>(mode);
  }
  flags.resumption = values.count("no-resumption") == 0;
  flags.verbose = values.count("verbose") != 0;
  return flags;
}

}  // namespace alts::handshaker_service
