#include "handshaker/certificate_verifier.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace alts {
namespace {

// ChainDigest hashes each certificate length-prefixed, so that chain
// boundaries are part of the key.
std::array<uint8_t, 32> ChainDigest(CertificateChain chain) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  for (absl::Span<const uint8_t> certificate : chain) {
    const uint32_t n = static_cast<uint32_t>(certificate.size());
    const uint8_t len[4] = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                            static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
    SHA256_Update(&ctx, len, sizeof(len));
    SHA256_Update(&ctx, certificate.data(), certificate.size());
  }
  std::array<uint8_t, 32> out;
  SHA256_Final(out.data(), &ctx);
  return out;
}

bool SameChain(const std::string& stored, CertificateChain chain) {
  size_t offset = 0;
  for (absl::Span<const uint8_t> certificate : chain) {
    if (stored.size() - offset < 4 + certificate.size()) return false;
    const auto* p = reinterpret_cast<const uint8_t*>(stored.data()) + offset;
    const uint32_t n = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                       (uint32_t{p[2]} << 8) | uint32_t{p[3]};
    if (n != certificate.size() ||
        (n != 0 && std::memcmp(p + 4, certificate.data(), n) != 0)) {
      return false;
    }
    offset += 4 + n;
  }
  return offset == stored.size();
}

std::string ChainBytes(CertificateChain chain) {
  std::string out;
  for (absl::Span<const uint8_t> certificate : chain) {
    const uint32_t n = static_cast<uint32_t>(certificate.size());
    const char len[4] = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                         static_cast<char>(n >> 8), static_cast<char>(n)};
    out.append(len, sizeof(len));
    out.append(reinterpret_cast<const char*>(certificate.data()), certificate.size());
  }
  return out;
}

std::vector<KeyId> RootIds(const std::vector<TrustRoot>& roots) {
  std::vector<KeyId> ids;
  for (const TrustRoot& root : roots) ids.push_back(ComputeKeyId(root.public_key));
  return ids;
}

}  // namespace

absl::Status ParseCertificateWrapper(absl::Span<const uint8_t> bytes,
                                     handshake::Certificate* out) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError("does not parse");
  }
  handshake::Certificate canonical;
  canonical.set_tbs(out->tbs());
  canonical.set_signature(out->signature());
  canonical.set_issuer_key_id(out->issuer_key_id());
  const std::string encoded = canonical.SerializeAsString();
  if (encoded.size() != bytes.size() ||
      std::memcmp(encoded.data(), bytes.data(), bytes.size()) != 0) {
    return absl::InvalidArgumentError(
        "non-canonical encoding (unknown, repeated or misordered fields)");
  }
  return absl::OkStatus();
}

TrustRoot TrustRoot::FromSigningKey(const SigningKey& key) {
  TrustRoot root;
  root.name = key.name();
  std::copy(key.public_key().begin(), key.public_key().end(), root.public_key.begin());
  return root;
}

absl::Status CheckValidity(absl::Time not_before, absl::Time not_after, absl::Time now) {
  if (now < not_before) return absl::OutOfRangeError("certificate not yet valid");
  if (now >= not_after) return absl::OutOfRangeError("certificate expired");
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<CertificateVerifier>> CertificateVerifier::Create(
    std::vector<TrustRoot> roots, size_t cache_capacity) {
  VerifierOptions options;
  options.cache_capacity = cache_capacity;
  return Create(std::move(roots), options);
}

absl::StatusOr<std::shared_ptr<CertificateVerifier>> CertificateVerifier::Create(
    std::vector<TrustRoot> roots, VerifierOptions options) {
  if (roots.empty()) return absl::InvalidArgumentError("no trust roots");
  for (size_t i = 0; i < roots.size(); ++i) {
    for (size_t j = i + 1; j < roots.size(); ++j) {
      if (ComputeKeyId(roots[i].public_key) == ComputeKeyId(roots[j].public_key)) {
        return absl::InvalidArgumentError("duplicate trust root key id");
      }
    }
  }
  if (options.max_intermediates > kMaxChainCertificates - 1) {
    return absl::InvalidArgumentError("max_intermediates exceeds kMaxChainCertificates - 1");
  }
  return std::shared_ptr<CertificateVerifier>(
      new CertificateVerifier(std::move(roots), options));
}

CertificateVerifier::CertificateVerifier(std::vector<TrustRoot> roots, VerifierOptions options)
    : roots_(std::move(roots)),
      root_ids_(RootIds(roots_)),
      cache_capacity_(options.cache_capacity),
      // A fifth of the cache (at least one entry) takes newcomers.
      protected_capacity_(options.cache_capacity -
                          std::min(options.cache_capacity,
                                   std::max<size_t>(1, options.cache_capacity / 5))),
      max_intermediates_(options.max_intermediates) {}

size_t CertificateVerifier::cache_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return probation_.size() + protected_.size();
}

bool CertificateVerifier::TrustsRoot(const KeyId& key_id) const {
  return std::find(root_ids_.begin(), root_ids_.end(), key_id) != root_ids_.end();
}

const TrustRoot* CertificateVerifier::FindRoot(absl::Span<const uint8_t> key_id) const {
  if (key_id.size() != kKeyIdSize) return nullptr;
  for (size_t i = 0; i < roots_.size(); ++i) {
    if (std::equal(root_ids_[i].begin(), root_ids_[i].end(), key_id.begin())) return &roots_[i];
  }
  return nullptr;
}

void CertificateVerifier::Touch(EntryList::iterator it) {
  if (it->is_protected) {
    protected_.splice(protected_.begin(), protected_, it);
    return;
  }
  // Used again: promote, demoting the least recently used protected entry
  // if the protected segment is full.
  it->is_protected = true;
  protected_.splice(protected_.begin(), probation_, it);
  if (protected_.size() > protected_capacity_) {
    auto last = std::prev(protected_.end());
    last->is_protected = false;
    probation_.splice(probation_.begin(), protected_, last);
  }
}

void CertificateVerifier::Insert(const Digest& digest, CertificateChain chain,
                                 std::shared_ptr<const VerifiedChain> verified) {
  probation_.push_front(Entry{digest, ChainBytes(chain), std::move(verified), false});
  index_[digest] = probation_.begin();
  while (probation_.size() + protected_.size() > cache_capacity_) {
    EntryList& victims = probation_.empty() ? protected_ : probation_;
    index_.erase(victims.back().digest);
    victims.pop_back();
  }
}

absl::StatusOr<std::shared_ptr<const VerifiedChain>> CertificateVerifier::Verify(
    CertificateChain chain, absl::Time now) {
  if (chain.empty()) return absl::InvalidArgumentError("empty certificate chain");
  if (chain.size() > kMaxChainCertificates) {
    return absl::ResourceExhaustedError("certificate chain has too many certificates");
  }
  size_t total = 0;
  for (absl::Span<const uint8_t> certificate : chain) {
    if (certificate.size() > kMaxCertificateSize) {
      return absl::ResourceExhaustedError("certificate too large");
    }
    total += certificate.size();
  }
  if (total > kMaxCertificateChainSize) {
    return absl::ResourceExhaustedError("certificate chain too large");
  }
  if (chain.size() - 1 > max_intermediates_) {
    return absl::UnauthenticatedError(absl::StrCat("chain has ", chain.size() - 1,
                                                   " intermediates; at most ",
                                                   max_intermediates_, " allowed"));
  }
  Digest digest{};
  if (cache_capacity_ > 0) {
    digest = ChainDigest(chain);
    std::shared_ptr<const VerifiedChain> cached;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = index_.find(digest);
      if (it != index_.end() && SameChain(it->second->chain_bytes, chain)) {
        cached = it->second->verified;
        Touch(it->second);
      }
    }
    if (cached != nullptr) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      if (absl::Status s = CheckValidity(cached->not_before, cached->not_after, now); !s.ok()) {
        return s;
      }
      return cached;
    }
    misses_.fetch_add(1, std::memory_order_relaxed);
  }
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> verified = VerifyUncached(chain, now);
  if (!verified.ok() || cache_capacity_ == 0) return verified;
  std::lock_guard<std::mutex> lock(mu_);
  if (index_.contains(digest)) return verified;  // another thread raced us
  Insert(digest, chain, *verified);
  return verified;
}

absl::StatusOr<std::shared_ptr<const VerifiedChain>> CertificateVerifier::VerifyUncached(
    CertificateChain chain, absl::Time now) const {
  auto verified = std::make_shared<VerifiedChain>();
  verified->not_before = absl::InfinitePast();
  verified->not_after = absl::InfiniteFuture();
  // Walk from the top of the chain (signed by a root) down to the leaf. The
  // verifying key and the expected issuer name come from the level above.
  std::array<uint8_t, kEd25519PublicKeySize> signer_key{};
  std::string signer_name;
  handshake::Certificate wrapper;
  handshake::CertificateBody body;
  for (size_t i = chain.size(); i-- > 0;) {
    const absl::Span<const uint8_t> bytes = chain[i];
    if (absl::Status s = ParseCertificateWrapper(bytes, &wrapper); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("certificate ", i, ": ", s.message()));
    }
    if (wrapper.signature().size() != kEd25519SignatureSize ||
        wrapper.issuer_key_id().size() != kKeyIdSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate ", i, ": bad signature or key id size"));
    }
    if (i == chain.size() - 1) {
      const TrustRoot* root = FindRoot(AsBytes(wrapper.issuer_key_id()));
      if (root == nullptr) {
        return absl::UnauthenticatedError(
            absl::StrCat("certificate ", i, ": untrusted root (key id ",
                         absl::BytesToHexString(wrapper.issuer_key_id()), ")"));
      }
      signer_key = root->public_key;
      signer_name = root->name;
      std::copy(wrapper.issuer_key_id().begin(), wrapper.issuer_key_id().end(),
                verified->root_key_id.begin());
    } else {
      const KeyId expected = ComputeKeyId(signer_key);
      if (wrapper.issuer_key_id() !=
          absl::string_view(reinterpret_cast<const char*>(expected.data()), expected.size())) {
        return absl::UnauthenticatedError(
            absl::StrCat("certificate ", i, ": not issued by the next certificate's key"));
      }
    }
    if (!VerifyCertificateSignature(AsBytes(wrapper.tbs()), AsBytes(wrapper.signature()),
                                    signer_key)) {
      return absl::UnauthenticatedError(absl::StrCat("certificate ", i, ": bad signature"));
    }
    // Only now, with the signature checked, is the body parsed.
    if (!body.ParseFromString(wrapper.tbs())) {
      return absl::InvalidArgumentError(absl::StrCat("certificate ", i, ": body does not parse"));
    }
    if (body.version() != kCertificateVersion || body.public_key().size() != 32 ||
        body.subject().empty() || body.subject().size() > kMaxIdentityFieldSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate ", i, ": bad version, key or subject"));
    }
    if (i == 0 && body.kind() != handshake::LEAF) {
      return absl::InvalidArgumentError("certificate 0: not a LEAF");
    }
    if (i > 0 && body.kind() != handshake::INTERMEDIATE) {
      return absl::InvalidArgumentError(absl::StrCat(
          "certificate ", i, ": a ", body.kind() == handshake::LEAF ? "LEAF" : "certificate",
          " in a signer position (only an INTERMEDIATE signs)"));
    }
    if (i == 0 && body.max_path_length() != 0) {
      return absl::InvalidArgumentError("certificate 0: a LEAF has no path length");
    }
    // Path length: an intermediate allows at most max_path_length further
    // intermediates below it (the leaf does not count).
    if (i > 0 && body.max_path_length() < i - 1) {
      return absl::UnauthenticatedError(absl::StrCat(
          "certificate ", i, ": path length ", body.max_path_length(), " allows fewer than the ",
          i - 1, " intermediates below it"));
    }
    if (body.issuer_key_id() != wrapper.issuer_key_id()) {
      return absl::UnauthenticatedError(
          absl::StrCat("certificate ", i, ": signed issuer key id differs from the hint"));
    }
    if (body.issuer() != signer_name) {
      return absl::UnauthenticatedError(absl::StrCat(
          "certificate ", i, ": issuer ", absl::CHexEscape(body.issuer()), " is not ",
          absl::CHexEscape(signer_name)));
    }
    const absl::Time not_before = absl::FromUnixSeconds(body.not_before());
    const absl::Time not_after = absl::FromUnixSeconds(body.not_after());
    if (not_before >= not_after) {
      return absl::InvalidArgumentError(absl::StrCat("certificate ", i, ": empty validity"));
    }
    verified->not_before = std::max(verified->not_before, not_before);
    verified->not_after = std::min(verified->not_after, not_after);
    if (absl::Status s = CheckValidity(not_before, not_after, now); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("certificate ", i, ": ", s.message()));
    }
    if (i == 0) {
      if (IsSmallOrderX25519Key(AsBytes(body.public_key()))) {
        return absl::InvalidArgumentError("certificate 0: small-order X25519 key");
      }
      if (absl::Status s = IdentityFromWire(body.subject(), body.attributes(),
                                            &verified->identity);
          !s.ok()) {
        return s;
      }
      std::copy(body.public_key().begin(), body.public_key().end(),
                verified->static_key.begin());
    } else {
      std::copy(body.public_key().begin(), body.public_key().end(), signer_key.begin());
      signer_name = body.subject();
    }
  }
  return std::shared_ptr<const VerifiedChain>(std::move(verified));
}

}  // namespace alts
