#ifndef ALTS_HANDSHAKER_CREDENTIAL_FILE_H_
#define ALTS_HANDSHAKER_CREDENTIAL_FILE_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "handshaker/certificate.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/secret_array.h"
#include "handshaker/workload_credential.h"

namespace alts {

// Credential files (docs/handshake.md section 1.4): PEM-like text blocks
//   -----BEGIN <LABEL>-----
//   base64 of the payload, 64 characters a line
//   -----END <LABEL>-----
// Text outside blocks is ignored. Files holding secrets are created with mode
// 0600, never overwritten, and their decoded bytes are wiped after use.

inline constexpr absl::string_view kTrustRootLabel = "ALTS TRUST ROOT";
inline constexpr absl::string_view kSigningKeyLabel = "ALTS SIGNING KEY";
inline constexpr absl::string_view kCertificateLabel = "ALTS CERTIFICATE";
inline constexpr absl::string_view kX25519PrivateKeyLabel = "ALTS X25519 PRIVATE KEY";

// kMaxCredentialFileSize bounds what we read: a file holds a few small
// blocks; anything larger is not a credential file.
inline constexpr size_t kMaxCredentialFileSize = 64 * 1024;

// PemBlock is one decoded block. `data` may be secret: the owner wipes it.
struct PemBlock {
  std::string label;
  std::string data;
};

// EncodePemBlock returns one block of `data` under `label`.
std::string EncodePemBlock(absl::string_view label, absl::Span<const uint8_t> data);

// DecodePemBlocks returns every block of `text` in order. Returns
// kInvalidArgument for a block without its END line, mismatched labels or
// bad base64.
absl::StatusOr<std::vector<PemBlock>> DecodePemBlocks(absl::string_view text);

// WriteSecretFile creates `path` with mode 0600 holding `content`,
// atomically: the bytes go to a temporary file beside it (mode 0600 from
// creation), which is then hard-linked into place, so `path` never exists
// partially written and nothing at `path` (a file, a planted link) is ever
// replaced or followed. Returns kAlreadyExists if `path` exists, kInternal
// (or kPermissionDenied) on I/O errors; the temporary file is removed.
absl::Status WriteSecretFile(const std::string& path, absl::string_view content);

// WritePublicFile creates or replaces `path` (mode 0644) with `content`,
// atomically: temporary file beside it, then rename(). A symbolic or hard
// link planted at `path` is replaced, never written through. Errors as
// WriteSecretFile (never kAlreadyExists).
absl::Status WritePublicFile(const std::string& path, absl::string_view content);

// ReadCredentialFile reads a whole file of at most kMaxCredentialFileSize
// bytes. Returns kNotFound, kResourceExhausted (too large) or kInternal.
absl::StatusOr<std::string> ReadCredentialFile(const std::string& path);

// Trust roots: one "ALTS TRUST ROOT" block each.
std::string EncodeTrustRoots(absl::Span<const TrustRoot> roots);
absl::StatusOr<std::vector<TrustRoot>> DecodeTrustRoots(absl::string_view text);
absl::StatusOr<std::vector<TrustRoot>> ReadTrustRoots(const std::string& path);

// Signing keys (roots and intermediates): one "ALTS SIGNING KEY" block with
// the name and the Ed25519 seed. Written as a secret file.
absl::Status WriteSigningKey(const std::string& path, const SigningKey& key);
absl::StatusOr<SigningKey> ReadSigningKey(const std::string& path);

// Certificate chains: "ALTS CERTIFICATE" blocks, leaf first.
std::string EncodeCertificateChain(absl::Span<const std::string> chain);
absl::StatusOr<std::vector<std::string>> DecodeCertificateChain(absl::string_view text);
absl::StatusOr<std::vector<std::string>> ReadCertificateChain(const std::string& path);

// X25519 private keys: one "ALTS X25519 PRIVATE KEY" block. Secret file.
absl::Status WriteX25519PrivateKey(const std::string& path, const SecretArray<32>& key);
absl::StatusOr<SecretArray<32>> ReadX25519PrivateKey(const std::string& path);

// Workload credentials: a chain file plus a key file. If the chain cannot
// be written, the key file just written is removed again.
absl::Status WriteWorkloadCredential(const std::string& chain_path,
                                     const std::string& key_path,
                                     const WorkloadCredential& credential);
absl::StatusOr<std::shared_ptr<const WorkloadCredential>> ReadWorkloadCredential(
    const std::string& chain_path, const std::string& key_path);

}  // namespace alts

#endif  // ALTS_HANDSHAKER_CREDENTIAL_FILE_H_
