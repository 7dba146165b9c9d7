#ifndef ALTS_BENCHMARKS_COMMON_TLS_BASELINE_H_
#define ALTS_BENCHMARKS_COMMON_TLS_BASELINE_H_

// The TLS baseline the benchmarks compare against: BoringSSL, TLS 1.3 only,
// mutual authentication with ECDSA P-256 certificates from an in-memory CA,
// X25519 key exchange only, no session tickets or session cache (every
// handshake is a full one), non-blocking SSL objects over caller-owned fds.
//
// Buffers: SSL_MODE_RELEASE_BUFFERS is off by default and can be turned on
// (TlsOptions::release_buffers). Note that BoringSSL defines that mode as 0:
// it always frees its read and write buffers once they are empty, so with
// BoringSSL the option changes nothing (kTlsReleaseBuffersHasEffect tells
// which). The benchmarks report the idle memory they measure either way.

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace alts::bench {

// kTlsCaName, kTlsServerName, kTlsClientName are the common names of the
// generated certificates; the server and client names are also their DNS
// subjectAltNames, and the client checks the server's.
inline constexpr char kTlsCaName[] = "alts-bench-ca";
inline constexpr char kTlsServerName[] = "alts-bench-server";
inline constexpr char kTlsClientName[] = "alts-bench-client";

// kTlsReleaseBuffersHasEffect is false when the TLS library ignores
// SSL_MODE_RELEASE_BUFFERS (BoringSSL, which always releases).
inline constexpr bool kTlsReleaseBuffersHasEffect = SSL_MODE_RELEASE_BUFFERS != 0;

// TlsCredentials is the in-memory PKI: a self-signed CA and a server and a
// client certificate it issued, each with its P-256 key (the CA key is kept
// so more certificates can be issued). Move-only.
struct TlsCredentials {
  bssl::UniquePtr<EVP_PKEY> ca_key;
  bssl::UniquePtr<X509> ca_cert;
  bssl::UniquePtr<EVP_PKEY> server_key;
  bssl::UniquePtr<X509> server_cert;
  bssl::UniquePtr<EVP_PKEY> client_key;
  bssl::UniquePtr<X509> client_cert;
};

// TlsKeyType is the signature algorithm of every key in a PKI.
enum class TlsKeyType {
  // kP256: ECDSA P-256 with SHA-256 (the default).
  kP256,
  // kEd25519: Ed25519, the signature the ALTS handshake's certificates use.
  // Contexts made from such credentials sign and accept Ed25519 only
  // (BoringSSL does not offer it unless asked).
  kEd25519,
};

// GenerateTlsCredentials makes fresh keys and certificates of `key_type`
// valid from an hour ago for a day. Returns kInternal if BoringSSL fails.
absl::StatusOr<TlsCredentials> GenerateTlsCredentials(TlsKeyType key_type = TlsKeyType::kP256);

// TlsOptions adjusts the contexts.
struct TlsOptions {
  // release_buffers sets SSL_MODE_RELEASE_BUFFERS (see the top of this file).
  bool release_buffers = false;
  // client_presents_cert: when false, the client context has no certificate,
  // which the server must reject. Ignored for server contexts.
  bool client_presents_cert = true;
};

// NewTlsServerContext returns a server context: TLS 1.3 only, X25519 only,
// the server certificate and key, and a required, verified client
// certificate issued by the CA. Writes may be partial
// (SSL_MODE_ENABLE_PARTIAL_WRITE), as for any non-blocking server. Returns
// kInternal if BoringSSL fails.
absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewTlsServerContext(
    const TlsCredentials& credentials, const TlsOptions& options = {});

// NewTlsClientContext returns the matching client context: it verifies the
// server certificate against the CA and presents the client certificate
// (unless options.client_presents_cert is false). Returns kInternal if
// BoringSSL fails.
absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewTlsClientContext(
    const TlsCredentials& credentials, const TlsOptions& options = {});

// TlsRole says which end of the handshake an SSL object plays.
enum class TlsRole { kClient, kServer };

// NewTlsConnection returns an SSL object for `fd` in `role`, and puts fd in
// non-blocking mode. The caller keeps owning fd (SSL_free does not close it)
// and must keep ctx alive. A client also checks the server's name. Returns
// kInvalidArgument for a negative fd, kInternal if BoringSSL or fcntl fail.
absl::StatusOr<bssl::UniquePtr<SSL>> NewTlsConnection(SSL_CTX* ctx, int fd,
                                                      TlsRole role);

// TlsStatus is the outcome of one TLS call.
enum class TlsStatus {
  // kDone: the handshake finished, or `bytes` were read or written.
  kDone,
  // kWantRead / kWantWrite: would block; retry when fd is readable /
  // writable (a read can need to write and vice versa).
  kWantRead,
  kWantWrite,
  // kClosed: the peer closed the connection cleanly (close_notify or EOF).
  kClosed,
  // kError: fatal; `error` says why. The connection is unusable.
  kError,
};

// TlsResult is what TlsHandshakeStep, TlsRead and TlsWrite return.
struct TlsResult {
  // status is the outcome; see TlsStatus.
  TlsStatus status = TlsStatus::kError;
  // bytes read or written when status is kDone (0 for a handshake).
  size_t bytes = 0;
  // error describes a kError: SSL_get_error's name, BoringSSL's error queue
  // and, if certificate verification failed, its reason.
  std::string error;

  // would_block returns true for kWantRead and kWantWrite.
  bool would_block() const {
    return status == TlsStatus::kWantRead || status == TlsStatus::kWantWrite;
  }
};

// TlsHandshakeStep advances the handshake as far as the fd allows. Call it
// again after each kWantRead/kWantWrite until kDone or kError.
TlsResult TlsHandshakeStep(SSL* ssl);

// TlsRead reads up to out.size() bytes of plaintext.
TlsResult TlsRead(SSL* ssl, absl::Span<uint8_t> out);

// TlsWrite writes a prefix of `data` (possibly all of it; at least one
// record when kDone). On kWantWrite/kWantRead retry with the same bytes.
TlsResult TlsWrite(SSL* ssl, absl::Span<const uint8_t> data);

// TlsPeerCommonName returns the common name of the peer's verified leaf
// certificate. Returns kNotFound if the peer sent no certificate or it has
// no common name.
absl::StatusOr<std::string> TlsPeerCommonName(const SSL* ssl);

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_TLS_BASELINE_H_
