#ifndef ALTS_BENCHMARKS_COMMON_TLS_TUNED_H_
#define ALTS_BENCHMARKS_COMMON_TLS_TUNED_H_

// The TLS baseline (tls_baseline.h: BoringSSL, TLS 1.3 only, mutual
// authentication, X25519, no tickets or session cache) tuned the way a
// careful BoringSSL user with many idle connections would tune it:
//
//  - no legacy X509 objects: the contexts use TLS_with_buffers_method(), so
//    certificates live as CRYPTO_BUFFERs (DER bytes) and are never parsed
//    into X509 structures that stay with the connection; the peer's chain is
//    verified by a custom verify callback that parses it only for the
//    duration of the check;
//  - one process-wide CRYPTO_BUFFER_POOL, so identical certificates received
//    on many connections are stored once;
//  - SSL_set_shed_handshake_config on every connection: the configuration
//    copied into the SSL object for the handshake is freed once it is done;
//  - SSL_CTX_set_retain_only_sha256_of_client_certs on the server: it keeps
//    the SHA-256 of the client's certificate (its identity for
//    authorization) instead of the certificate.
//
// The connections are driven with the same TlsHandshakeStep / TlsRead /
// TlsWrite and tls_drive.h functions as the untuned baseline.

#include <openssl/ssl.h>

#include "absl/status/statusor.h"
#include "benchmarks/common/tls_baseline.h"

namespace alts::bench {

// NewTunedTlsServerContext returns the tuned server context: the server
// certificate and key as buffers, a required client certificate verified
// against the credentials' CA by the custom verifier, only its SHA-256
// retained. Returns kInternal if BoringSSL fails.
absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewTunedTlsServerContext(
    const TlsCredentials& credentials);

// NewTunedTlsClientContext returns the tuned client context: it presents
// the client certificate and verifies the server's against the CA and
// kTlsServerName. Returns kInternal if BoringSSL fails.
absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewTunedTlsClientContext(
    const TlsCredentials& credentials);

// NewTunedTlsConnection returns an SSL object for `fd` in `role` on a tuned
// context, with configuration shedding on, and puts fd in non-blocking
// mode. The caller keeps owning fd and must keep ctx alive. Errors as
// NewTlsConnection.
absl::StatusOr<bssl::UniquePtr<SSL>> NewTunedTlsConnection(SSL_CTX* ctx, int fd,
                                                           TlsRole role);

// TunedTlsPeerSha256 returns the SHA-256 of the client certificate a tuned
// server retained (32 bytes). Returns kNotFound if there is none (not a
// server, no handshake yet, or no client certificate).
absl::StatusOr<std::string> TunedTlsPeerSha256(const SSL* ssl);

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_TLS_TUNED_H_
