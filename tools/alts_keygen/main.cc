// alts_keygen: the credential tool of docs/handshake.md section 1.
//
//   alts_keygen create-root --name NAME --out PREFIX
//   alts_keygen issue-intermediate --issuer-key KEY [--issuer-chain CHAIN]
//       --name NAME --out PREFIX [--days N] [--not-before UNIX_SECONDS]
//       [--path-length N]
//   alts_keygen issue-leaf --issuer-key KEY [--issuer-chain CHAIN]
//       --service-account SA [--attr KEY=VALUE]... --out PREFIX
//       [--days N] [--not-before UNIX_SECONDS]
//   alts_keygen print FILE
//   alts_keygen verify --roots ROOTS --chain CHAIN [--max-intermediates N]
//   alts_keygen --version
//
// Exit status: 0 success, 1 failure, 2 usage error.
#include <openssl/curve25519.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "alts_ondemand/version.h"
#include "handshaker/certificate.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/credential_file.h"
#include "handshaker/workload_credential.h"

namespace alts {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
// kDefaultValidityDays: certificates are short-lived by default.
constexpr int64_t kDefaultValidityDays = 90;
// kMaxValidityDays bounds --days to something a certificate should live.
constexpr int64_t kMaxValidityDays = 3650;
// kClockSkewAllowance: not_before defaults this far in the past so a freshly
// issued certificate works on hosts whose clocks run slightly behind.
constexpr absl::Duration kClockSkewAllowance = absl::Minutes(5);

constexpr char kUsage[] =
    "usage:\n"
    "  alts_keygen create-root --name NAME --out PREFIX\n"
    "      writes PREFIX.key (signing key, mode 0600) and PREFIX.root (trust root)\n"
    "  alts_keygen issue-intermediate --issuer-key KEY [--issuer-chain CHAIN]\n"
    "      --name NAME --out PREFIX [--days N] [--not-before UNIX_SECONDS]\n"
    "      [--path-length N]   (intermediates it may sign below it; default 0)\n"
    "      writes PREFIX.key (signing key, 0600) and PREFIX.chain\n"
    "  alts_keygen issue-leaf --issuer-key KEY [--issuer-chain CHAIN]\n"
    "      --service-account SA [--attr KEY=VALUE]... --out PREFIX\n"
    "      [--days N] [--not-before UNIX_SECONDS]\n"
    "      writes PREFIX.key (X25519 private key, 0600) and PREFIX.chain\n"
    "  alts_keygen print FILE\n"
    "  alts_keygen verify --roots ROOTS --chain CHAIN [--max-intermediates N]\n"
    "      (N: 1 by default, at most 2)\n"
    "  alts_keygen --version\n";

// Flags is a parsed command line: --name value or --name=value; some flags
// may repeat.
struct Flags {
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> positional;

  bool Has(const std::string& name) const { return values.count(name) != 0; }
  std::string Get(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::string() : it->second.back();
  }
};

int Usage(const std::string& message) {
  std::cerr << "alts_keygen: " << message << "\n" << kUsage;
  return kExitUsage;
}

int Failure(const absl::Status& status) {
  std::cerr << "alts_keygen: " << status << "\n";
  return kExitFailure;
}

// ParseFlags accepts only `allowed` flags (`repeatable` ones more than once)
// and at most `max_positional` positional arguments.
bool ParseFlags(const std::vector<std::string>& args, const std::vector<std::string>& allowed,
                const std::vector<std::string>& repeatable, size_t max_positional, Flags* out,
                std::string* error) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) {
      out->positional.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2);
    std::string value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= args.size()) {
        *error = absl::StrCat("--", name, " needs a value");
        return false;
      }
      value = args[++i];
    }
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      *error = absl::StrCat("unknown flag --", name);
      return false;
    }
    if (out->Has(name) &&
        std::find(repeatable.begin(), repeatable.end(), name) == repeatable.end()) {
      *error = absl::StrCat("--", name, " given twice");
      return false;
    }
    out->values[name].push_back(value);
  }
  if (out->positional.size() > max_positional) {
    *error = absl::StrCat("unexpected argument ", out->positional[max_positional]);
    return false;
  }
  return true;
}

bool Require(const Flags& flags, const std::vector<std::string>& names, std::string* error) {
  for (const std::string& name : names) {
    if (!flags.Has(name) || flags.Get(name).empty()) {
      *error = absl::StrCat("missing --", name);
      return false;
    }
  }
  return true;
}

// Validity reads --not-before and --days.
bool Validity(const Flags& flags, absl::Time* not_before, absl::Time* not_after,
              std::string* error) {
  *not_before = absl::Now() - kClockSkewAllowance;
  if (flags.Has("not-before")) {
    int64_t seconds = 0;
    if (!absl::SimpleAtoi(flags.Get("not-before"), &seconds)) {
      *error = "--not-before must be Unix seconds";
      return false;
    }
    *not_before = absl::FromUnixSeconds(seconds);
  }
  int64_t days = kDefaultValidityDays;
  if (flags.Has("days") &&
      (!absl::SimpleAtoi(flags.Get("days"), &days) || days <= 0 || days > kMaxValidityDays)) {
    *error = absl::StrCat("--days must be 1..", kMaxValidityDays);
    return false;
  }
  *not_after = *not_before + absl::Hours(24 * days);
  return true;
}

uint64_t RandomSerial() {
  uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<uint8_t*>(&serial), sizeof(serial));
  return serial;
}

int CreateRoot(const std::vector<std::string>& args) {
  Flags flags;
  std::string error;
  if (!ParseFlags(args, {"name", "out"}, {}, 0, &flags, &error) ||
      !Require(flags, {"name", "out"}, &error)) {
    return Usage(error);
  }
  absl::StatusOr<SigningKey> key = SigningKey::Generate(flags.Get("name"));
  if (!key.ok()) return Failure(key.status());
  const std::string out = flags.Get("out");
  if (absl::Status s = WriteSigningKey(out + ".key", *key); !s.ok()) return Failure(s);
  const TrustRoot root = TrustRoot::FromSigningKey(*key);
  if (absl::Status s = WritePublicFile(out + ".root", EncodeTrustRoots({root})); !s.ok()) {
    std::remove((out + ".key").c_str());  // no key without its root file
    return Failure(s);
  }
  std::cout << "wrote " << out << ".key and " << out << ".root\n";
  return kExitOk;
}

int Issue(const std::vector<std::string>& args, bool leaf) {
  Flags flags;
  std::string error;
  const std::vector<std::string> allowed =
      leaf ? std::vector<std::string>{"issuer-key", "issuer-chain", "service-account", "attr",
                                      "out", "days", "not-before"}
           : std::vector<std::string>{"issuer-key", "issuer-chain", "name", "out", "days",
                                      "not-before", "path-length"};
  if (!ParseFlags(args, allowed, {"attr"}, 0, &flags, &error) ||
      !Require(flags, {"issuer-key", "out", leaf ? "service-account" : "name"}, &error)) {
    return Usage(error);
  }
  CertificateParams params;
  if (!Validity(flags, &params.not_before, &params.not_after, &error)) return Usage(error);
  if (flags.Has("path-length") &&
      (!absl::SimpleAtoi(flags.Get("path-length"), &params.max_path_length) ||
       params.max_path_length > kMaxChainCertificates - 2)) {
    return Usage(absl::StrCat("--path-length must be 0..", kMaxChainCertificates - 2));
  }
  if (leaf && flags.Has("attr")) {
    for (const std::string& attr : flags.values.at("attr")) {
      std::vector<std::string> kv = absl::StrSplit(attr, absl::MaxSplits('=', 1));
      if (kv.size() != 2 || kv[0].empty()) return Usage("--attr must be KEY=VALUE");
      if (!params.attributes.emplace(kv[0], kv[1]).second) {
        return Usage(absl::StrCat("attribute ", kv[0], " given twice"));
      }
    }
  }
  absl::StatusOr<SigningKey> issuer = ReadSigningKey(flags.Get("issuer-key"));
  if (!issuer.ok()) return Failure(issuer.status());
  std::vector<std::string> issuer_chain;
  if (flags.Has("issuer-chain")) {
    absl::StatusOr<std::vector<std::string>> chain = ReadCertificateChain(flags.Get("issuer-chain"));
    if (!chain.ok()) return Failure(chain.status());
    issuer_chain = std::move(*chain);
  }
  params.serial = RandomSerial();
  const std::string out = flags.Get("out");
  std::vector<std::string> chain;
  if (leaf) {
    params.kind = handshake::LEAF;
    params.subject = flags.Get("service-account");
    SecretArray<32> private_key;
    X25519_keypair(params.public_key.data(), private_key.data());
    absl::StatusOr<std::string> certificate = IssueCertificate(*issuer, params);
    if (!certificate.ok()) return Failure(certificate.status());
    chain.push_back(std::move(*certificate));
    chain.insert(chain.end(), issuer_chain.begin(), issuer_chain.end());
    absl::StatusOr<std::shared_ptr<const WorkloadCredential>> credential =
        WorkloadCredential::Create(chain, private_key.span());
    if (!credential.ok()) return Failure(credential.status());
    if (absl::Status s = WriteWorkloadCredential(out + ".chain", out + ".key", **credential);
        !s.ok()) {
      return Failure(s);
    }
  } else {
    params.kind = handshake::INTERMEDIATE;
    params.subject = flags.Get("name");
    absl::StatusOr<SigningKey> key = SigningKey::Generate(params.subject);
    if (!key.ok()) return Failure(key.status());
    std::copy(key->public_key().begin(), key->public_key().end(), params.public_key.begin());
    absl::StatusOr<std::string> certificate = IssueCertificate(*issuer, params);
    if (!certificate.ok()) return Failure(certificate.status());
    chain.push_back(std::move(*certificate));
    chain.insert(chain.end(), issuer_chain.begin(), issuer_chain.end());
    if (absl::Status s = WriteSigningKey(out + ".key", *key); !s.ok()) return Failure(s);
    if (absl::Status s = WritePublicFile(out + ".chain", EncodeCertificateChain(chain)); !s.ok()) {
      std::remove((out + ".key").c_str());  // no key without its chain
      return Failure(s);
    }
  }
  std::cout << "wrote " << out << ".key and " << out << ".chain\n";
  return kExitOk;
}

int Print(const std::vector<std::string>& args) {
  Flags flags;
  std::string error;
  if (!ParseFlags(args, {}, {}, 1, &flags, &error)) return Usage(error);
  if (flags.positional.size() != 1) return Usage("print needs one FILE");
  absl::StatusOr<std::string> text = ReadCredentialFile(flags.positional[0]);
  if (!text.ok()) return Failure(text.status());
  absl::StatusOr<std::vector<PemBlock>> blocks = DecodePemBlocks(*text);
  if (!blocks.ok()) return Failure(blocks.status());
  int printed = 0;
  for (const PemBlock& block : *blocks) {
    if (block.label == kCertificateLabel) {
      absl::StatusOr<ParsedCertificate> parsed = ParseCertificateUnverified(AsBytes(block.data));
      if (!parsed.ok()) return Failure(parsed.status());
      std::cout << "certificate " << printed << " (" << block.data.size() << " bytes)\n"
                << CertificateToText(*parsed);
      ++printed;
    } else if (block.label == kTrustRootLabel) {
      absl::StatusOr<std::vector<TrustRoot>> roots =
          DecodeTrustRoots(EncodePemBlock(block.label, AsBytes(block.data)));
      if (!roots.ok()) return Failure(roots.status());
      const TrustRoot& root = roots->front();
      const KeyId id = ComputeKeyId(root.public_key);
      std::cout << "trust root " << root.name << "\n  public key: "
                << absl::BytesToHexString(absl::string_view(
                       reinterpret_cast<const char*>(root.public_key.data()), 32))
                << "\n  key id:     "
                << absl::BytesToHexString(
                       absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()))
                << "\n";
      ++printed;
    } else {
      std::cout << block.label << " (secret, not printed)\n";
    }
  }
  if (printed == 0) return Failure(absl::InvalidArgumentError("no certificate or trust root"));
  return kExitOk;
}

int Verify(const std::vector<std::string>& args) {
  Flags flags;
  std::string error;
  if (!ParseFlags(args, {"roots", "chain", "max-intermediates"}, {}, 0, &flags, &error) ||
      !Require(flags, {"roots", "chain"}, &error)) {
    return Usage(error);
  }
  absl::StatusOr<std::vector<TrustRoot>> roots = ReadTrustRoots(flags.Get("roots"));
  if (!roots.ok()) return Failure(roots.status());
  absl::StatusOr<std::vector<std::string>> chain = ReadCertificateChain(flags.Get("chain"));
  if (!chain.ok()) return Failure(chain.status());
  VerifierOptions options;
  options.cache_capacity = 0;
  if (flags.Has("max-intermediates") &&
      (!absl::SimpleAtoi(flags.Get("max-intermediates"), &options.max_intermediates) ||
       options.max_intermediates > kMaxChainCertificates - 1)) {
    return Usage(absl::StrCat("--max-intermediates must be 0..", kMaxChainCertificates - 1));
  }
  absl::StatusOr<std::shared_ptr<CertificateVerifier>> verifier =
      CertificateVerifier::Create(std::move(*roots), options);
  if (!verifier.ok()) return Failure(verifier.status());
  std::vector<absl::Span<const uint8_t>> view;
  for (const std::string& c : *chain) view.push_back(AsBytes(c));
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> verified =
      (*verifier)->Verify(view, absl::Now());
  if (!verified.ok()) return Failure(verified.status());
  std::cout << "OK " << (*verified)->identity.service_account;
  for (const auto& [key, value] : (*verified)->identity.attributes) {
    std::cout << " " << key << "=" << value;
  }
  std::cout << " valid until "
            << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", (*verified)->not_after, absl::UTCTimeZone())
            << "\n";
  return kExitOk;
}

int Main(int argc, char** argv) {
  if (argc < 2) return Usage("missing subcommand");
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "create-root") return CreateRoot(args);
  if (command == "issue-intermediate") return Issue(args, /*leaf=*/false);
  if (command == "issue-leaf") return Issue(args, /*leaf=*/true);
  if (command == "print") return Print(args);
  if (command == "verify") return Verify(args);
  if (command == "--version") {
    std::cout << "alts_keygen " << kVersion << "\n";
    return kExitOk;
  }
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsage;
    return kExitOk;
  }
  return Usage(absl::StrCat("unknown subcommand ", command));
}

}  // namespace
}  // namespace alts

int main(int argc, char** argv) { return alts::Main(argc, argv); }
