#include "tools/interop_server/interop_common.h"

#include <cstdio>
#include <iostream>
#include <mutex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/credential_file.h"

namespace alts::interop {
namespace {

absl::Status Annotate(const absl::Status& status, absl::string_view what) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

bool Contains(absl::Span<const absl::string_view> names, absl::string_view name) {
  for (absl::string_view n : names) {
    if (n == name) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<Flags> Flags::Parse(absl::Span<const std::string> args,
                                   absl::Span<const absl::string_view> bool_flags,
                                   absl::Span<const absl::string_view> repeatable) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "'"));
    }
    arg.remove_prefix(2);
    std::string name;
    std::string value;
    if (size_t eq = arg.find('='); eq != absl::string_view::npos) {
      name = std::string(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
    } else if (Contains(bool_flags, arg)) {
      name = std::string(arg);
      value = "true";
    } else {
      if (i + 1 == args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", arg, " needs a value"));
      }
      name = std::string(arg);
      value = args[++i];
    }
    Value& slot = flags.flags_[name];
    if (!slot.values.empty() && !Contains(repeatable, name)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " given twice"));
    }
    slot.values.push_back(std::move(value));
  }
  return flags;
}

bool Flags::Has(absl::string_view name) const { return flags_.find(name) != flags_.end(); }

std::string Flags::String(absl::string_view name, absl::string_view fallback) {
  auto it = flags_.find(name);
  if (it == flags_.end()) return std::string(fallback);
  it->second.used = true;
  return it->second.values.back();
}

std::vector<std::string> Flags::List(absl::string_view name) {
  std::vector<std::string> out;
  auto it = flags_.find(name);
  if (it == flags_.end()) return out;
  it->second.used = true;
  for (const std::string& v : it->second.values) {
    for (absl::string_view piece : absl::StrSplit(v, ',', absl::SkipEmpty())) {
      out.emplace_back(piece);
    }
  }
  return out;
}

absl::StatusOr<int64_t> Flags::Int(absl::string_view name, int64_t fallback, int64_t min,
                                   int64_t max) {
  if (!Has(name)) return fallback;
  const std::string text = String(name);
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, "=", text, ": want an integer from ", min, " to ", max));
  }
  return v;
}

absl::StatusOr<bool> Flags::Bool(absl::string_view name, bool fallback) {
  if (!Has(name)) return fallback;
  const std::string text = String(name);
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return absl::InvalidArgumentError(absl::StrCat("--", name, "=", text, ": want true or false"));
}

absl::Status Flags::CheckAllUsed() const {
  for (const auto& [name, value] : flags_) {
    if (!value.used) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
  }
  return absl::OkStatus();
}

absl::StatusOr<AltsFlags> ReadAltsFlags(Flags& flags, absl::string_view peers_flag) {
  AltsFlags alts;
  alts.cert = flags.String("alts_cert");
  alts.key = flags.String("alts_key");
  alts.roots = flags.List("alts_roots");
  alts.peers = flags.List(peers_flag);
  for (auto [name, missing] : {std::pair{"alts_cert", alts.cert.empty()},
                               std::pair{"alts_key", alts.key.empty()},
                               std::pair{"alts_roots", alts.roots.empty()}}) {
    if (missing) {
      return absl::InvalidArgumentError(
          absl::StrCat("--use_alts needs --", name, " (files from alts_keygen)"));
    }
  }
  return alts;
}

absl::StatusOr<std::shared_ptr<HandshakerConfig>> LoadAltsConfig(const AltsFlags& alts,
                                                                  bool server) {
  absl::StatusOr<std::shared_ptr<const WorkloadCredential>> credential =
      ReadWorkloadCredential(alts.cert, alts.key);
  if (!credential.ok()) {
    return Annotate(credential.status(),
                    absl::StrCat("cannot load --alts_cert ", alts.cert, " / --alts_key ", alts.key));
  }
  std::vector<TrustRoot> roots;
  for (const std::string& file : alts.roots) {
    absl::StatusOr<std::vector<TrustRoot>> read = ReadTrustRoots(file);
    if (!read.ok()) return Annotate(read.status(), absl::StrCat("cannot load --alts_roots ", file));
    roots.insert(roots.end(), read->begin(), read->end());
  }
  absl::StatusOr<std::shared_ptr<CertificateVerifier>> verifier =
      CertificateVerifier::Create(std::move(roots));
  if (!verifier.ok()) return Annotate(verifier.status(), "bad --alts_roots");
  auto config = std::make_shared<HandshakerConfig>();
  config->credential = std::move(*credential);
  config->verifier = std::move(*verifier);
  if (server) {
    for (const std::string& account : alts.peers) {
      config->accepted_client_identities.push_back(Identity{account, {}});
    }
  }
  return config;
}

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Create(size_t threads) {
  std::unique_ptr<Runtime> rt(new Runtime);
  ReactorGroupOptions go;
  go.threads = threads;
  absl::StatusOr<std::unique_ptr<ReactorGroup>> group = ReactorGroup::Create(std::move(go));
  if (!group.ok()) return group.status();
  rt->group_ = std::move(*group);
  absl::StatusOr<std::unique_ptr<BufferPool>> read_pool = BufferPool::Create();
  if (!read_pool.ok()) return read_pool.status();
  rt->read_pool_ = std::move(*read_pool);
  absl::StatusOr<std::unique_ptr<BufferPool>> write_pool = BufferPool::Create();
  if (!write_pool.ok()) return write_pool.status();
  rt->write_pool_ = std::move(*write_pool);
  absl::StatusOr<std::unique_ptr<StoragePool>> storage = StoragePool::Create();
  if (!storage.ok()) return storage.status();
  rt->storage_ = std::move(*storage);
  rt->resources_.read_pool = rt->read_pool_.get();
  rt->resources_.write_pool = rt->write_pool_.get();
  rt->resources_.storage = rt->storage_.get();
  return rt;
}

Runtime::~Runtime() {
  if (group_ != nullptr) group_->Shutdown();
}

void PrintLine(absl::string_view line) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::cout << line << '\n' << std::flush;
}

}  // namespace alts::interop
