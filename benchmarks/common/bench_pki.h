#ifndef ALTS_BENCHMARKS_COMMON_BENCH_PKI_H_
#define ALTS_BENCHMARKS_COMMON_BENCH_PKI_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "handshaker/certificate.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/handshaker.h"
#include "handshaker/workload_credential.h"

namespace alts::bench {

// BenchPki is an in-memory trust root that issues workload credentials, for
// benchmark programs that set connections up with real handshakes.
class BenchPki {
 public:
  // Create generates a root key. Returns the key generation error, if any.
  static absl::StatusOr<BenchPki> Create();

  // kDefaultValidity: how long from now a credential stays valid unless
  // asked otherwise; a day is beyond any ordinary run.
  static constexpr absl::Duration kDefaultValidity = absl::Hours(24);

  // Credential issues an X25519 leaf for `service_account` directly under
  // the root, valid from an hour ago until `valid_for` from now.
  absl::StatusOr<std::shared_ptr<const WorkloadCredential>> Credential(
      absl::string_view service_account, absl::Duration valid_for = kDefaultValidity) const;

  // Config returns a handshaker config for `service_account` (its leaf valid
  // for `valid_for`, as Credential) trusting this root (verified-chain cache
  // on, default deadline).
  absl::StatusOr<std::shared_ptr<HandshakerConfig>> Config(
      absl::string_view service_account, absl::Duration valid_for = kDefaultValidity) const;

  const SigningKey& root() const { return root_; }

 private:
  explicit BenchPki(SigningKey root) : root_(std::move(root)) {}
  SigningKey root_;
};

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_BENCH_PKI_H_
