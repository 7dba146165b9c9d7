#include "tools/alts_echo/echo_flags.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "conn/reactor.h"

namespace alts {

const char kEchoUsage[] =
    "usage:\n"
    "  alts_echo --listen HOST:PORT --cert CHAIN --key KEY --roots ROOTS\n"
    "            [--allow SERVICE_ACCOUNT]... [--threads N]\n"
    "      serves echo over authenticated connections; prints LISTENING HOST:PORT,\n"
    "      one line per connection, totals on SIGINT/SIGTERM\n"
    "  alts_echo --connect HOST:PORT --cert CHAIN --key KEY --roots ROOTS\n"
    "            [--target SERVICE_ACCOUNT]... [--threads N]\n"
    "            [--conns N] [--message-size N] [--idle-seconds N] | [--bytes N]\n"
    "      --conns connections each echo one message, stay idle, then close;\n"
    "      --bytes echoes N bytes on one connection; every byte is verified\n"
    "  CHAIN and KEY come from alts_keygen issue-leaf, ROOTS from create-root\n"
    "  (--roots may repeat). Exit status: 0 success, 1 failure, 2 usage.\n";

namespace {

// FlagSpec describes one flag: whether it may repeat and which modes use it.
struct FlagSpec {
  bool repeatable = false;
  bool listen = true;
  bool connect = true;
};

const std::map<std::string, FlagSpec>& Specs() {
  static const auto* const specs = new std::map<std::string, FlagSpec>{
      {"listen", {}},
      {"connect", {}},
      {"cert", {}},
      {"key", {}},
      {"roots", {.repeatable = true}},
      {"target", {.repeatable = true, .listen = false}},
      {"allow", {.repeatable = true, .connect = false}},
      {"threads", {}},
      {"conns", {.listen = false}},
      {"message-size", {.listen = false}},
      {"idle-seconds", {.listen = false}},
      {"bytes", {.listen = false}},
  };
  return *specs;
}

absl::Status Invalid(absl::string_view message) { return absl::InvalidArgumentError(message); }

// ParseCount parses a decimal integer in [min, max] for `--name`.
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

}  // namespace

absl::StatusOr<EchoFlags> ParseEchoFlags(absl::Span<const std::string> args) {
  std::map<std::string, std::vector<std::string>> values;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      EchoFlags flags;
      flags.help = true;
      return flags;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      return Invalid(absl::StrCat("unexpected argument '", arg, "'"));
    }
    std::string name = arg.substr(2);
    std::string value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    auto spec = Specs().find(name);
    if (spec == Specs().end()) return Invalid(absl::StrCat("unknown flag --", name));
    if (eq == std::string::npos) {
      if (i + 1 >= args.size()) return Invalid(absl::StrCat("--", name, " needs a value"));
      value = args[++i];
    }
    if (value.empty()) return Invalid(absl::StrCat("--", name, " needs a value"));
    if (values.count(name) != 0 && !spec->second.repeatable) {
      return Invalid(absl::StrCat("--", name, " given twice"));
    }
    values[name].push_back(value);
  }
  auto has = [&](const std::string& name) { return values.count(name) != 0; };
  auto get = [&](const std::string& name) { return values.at(name).back(); };

  EchoFlags flags;
  if (has("listen") == has("connect")) {
    return Invalid("give exactly one of --listen HOST:PORT and --connect HOST:PORT");
  }
  flags.mode = has("listen") ? EchoMode::kListen : EchoMode::kConnect;
  flags.address = get(has("listen") ? "listen" : "connect");
  for (const auto& [name, list] : values) {
    const FlagSpec& spec = Specs().at(name);
    if (flags.mode == EchoMode::kListen && !spec.listen) {
      return Invalid(absl::StrCat("--", name, " applies to --connect only"));
    }
    if (flags.mode == EchoMode::kConnect && !spec.connect) {
      return Invalid(absl::StrCat("--", name, " applies to --listen only"));
    }
  }
  for (const char* required : {"cert", "key", "roots"}) {
    if (!has(required)) return Invalid(absl::StrCat("missing --", required));
  }
  flags.cert_file = get("cert");
  flags.key_file = get("key");
  flags.roots_files = values["roots"];
  if (has("target")) flags.targets = values["target"];
  if (has("allow")) flags.allowed = values["allow"];

  uint64_t n = 0;
  if (has("threads")) {
    if (absl::Status s = ParseCount("threads", get("threads"), 1, kMaxReactorThreads, &n);
        !s.ok()) {
      return s;
    }
    flags.threads = static_cast<size_t>(n);
  }
  if (has("conns")) {
    if (absl::Status s = ParseCount("conns", get("conns"), 1, kMaxEchoConns, &flags.conns);
        !s.ok()) {
      return s;
    }
  }
  if (has("message-size")) {
    if (absl::Status s = ParseCount("message-size", get("message-size"), 1, kMaxMessageSize,
                                    &flags.message_size);
        !s.ok()) {
      return s;
    }
  }
  if (has("idle-seconds")) {
    if (absl::Status s = ParseCount("idle-seconds", get("idle-seconds"), 0, kMaxIdleSeconds,
                                    &flags.idle_seconds);
        !s.ok()) {
      return s;
    }
  }
  if (has("bytes")) {
    for (const char* other : {"conns", "message-size", "idle-seconds"}) {
      if (has(other)) {
        return Invalid(
            absl::StrCat("--bytes runs one bulk connection; --", other, " does not apply"));
      }
    }
    if (absl::Status s = ParseCount("bytes", get("bytes"), 1, kMaxBulkBytes, &n); !s.ok()) {
      return s;
    }
    flags.bulk_bytes = n;
  }
  return flags;
}

}  // namespace alts
