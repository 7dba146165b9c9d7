// Certificate chain parsing and verification against a fixed root and clock:
// the input is up to 4 certificates, each [length (2, big-endian)][bytes].
// Verification runs twice so the verified-chain cache is exercised, and
// every certificate is also parsed unverified and printed.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "handshaker/certificate.h"
#include "handshaker/certificate_verifier.h"

namespace alts {
namespace {

constexpr int64_t kNowUnixSeconds = 1'800'000'000;

CertificateVerifier& Verifier() {
  // Lives for the whole fuzzing process.
  static std::shared_ptr<CertificateVerifier>* const verifier = [] {
    const std::string seed(32, 'r');  // the same root as the engine fuzzer
    SigningKey root = *SigningKey::FromSeed("fuzz-root", AsBytes(seed));
    return new std::shared_ptr<CertificateVerifier>(
        *CertificateVerifier::Create({TrustRoot::FromSigningKey(root)}, 64));
  }();
  return **verifier;
}

void RunOne(const uint8_t* data, size_t size) {
  std::vector<absl::Span<const uint8_t>> chain;
  size_t offset = 0;
  while (offset + 2 <= size && chain.size() < 4) {
    const size_t length = (size_t{data[offset]} << 8) | data[offset + 1];
    offset += 2;
    const size_t n = std::min(length, size - offset);
    chain.emplace_back(data + offset, n);
    offset += n;
  }
  const absl::Time now = absl::FromUnixSeconds(kNowUnixSeconds);
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> first = Verifier().Verify(chain, now);
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> second = Verifier().Verify(chain, now);
  if (first.ok() != second.ok()) __builtin_trap();
  if (first.ok() && (*first)->identity.service_account.empty()) __builtin_trap();
  for (absl::Span<const uint8_t> certificate : chain) {
    absl::StatusOr<ParsedCertificate> parsed = ParseCertificateUnverified(certificate);
    if (parsed.ok()) (void)CertificateToText(*parsed);
  }
}

}  // namespace
}  // namespace alts

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  alts::RunOne(data, size);
  return 0;
}
