#include "benchmarks/common/tls_tuned.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pool.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace alts::bench {
namespace {

// TunedVerifier is what the custom verify callback checks a peer against:
// the trusted CA and, on a client, the name the server must have.
struct TunedVerifier {
  bssl::UniquePtr<X509_STORE> store;
  bool is_server = false;
};

absl::Status TunedSslError(absl::string_view what) {
  char buf[256] = "";
  const uint32_t code = ERR_get_error();
  if (code != 0) ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  std::string message(what);
  if (code != 0) absl::StrAppend(&message, ": ", buf);
  return absl::InternalError(message);
}

void FreeVerifier(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*index*/,
                  long /*argl*/, void* /*argp*/) {
  delete static_cast<TunedVerifier*>(ptr);
}

// VerifierIndex returns the SSL_CTX ex_data slot holding the TunedVerifier.
int VerifierIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeVerifier);
  return index;
}

// SharedCertPool returns the process-wide CRYPTO_BUFFER_POOL. It must
// outlive every context and connection that uses it, so it is never freed.
CRYPTO_BUFFER_POOL* SharedCertPool() {
  static CRYPTO_BUFFER_POOL* const pool = CRYPTO_BUFFER_POOL_new();
  return pool;
}

// ToBuffer returns `cert`'s DER encoding as a pooled CRYPTO_BUFFER.
bssl::UniquePtr<CRYPTO_BUFFER> ToBuffer(X509* cert) {
  uint8_t* der = nullptr;
  const int len = i2d_X509(cert, &der);
  if (len <= 0) return nullptr;
  bssl::UniquePtr<CRYPTO_BUFFER> buffer(
      CRYPTO_BUFFER_new(der, static_cast<size_t>(len), SharedCertPool()));
  OPENSSL_free(der);
  return buffer;
}

// VerifyPeer parses the peer's chain from its buffers, verifies it against
// the CA (and, on a client, the server's name) and frees the parsed copies
// again: nothing parsed stays with the connection.
ssl_verify_result_t VerifyPeer(SSL* ssl, uint8_t* out_alert) {
  const auto* verifier = static_cast<const TunedVerifier*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), VerifierIndex()));
  const STACK_OF(CRYPTO_BUFFER)* chain = SSL_get0_peer_certificates(ssl);
  if (verifier == nullptr || chain == nullptr || sk_CRYPTO_BUFFER_num(chain) == 0) {
    *out_alert = SSL_AD_CERTIFICATE_REQUIRED;
    return ssl_verify_invalid;
  }
  bssl::UniquePtr<X509> leaf(X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(chain, 0)));
  bssl::UniquePtr<STACK_OF(X509)> intermediates(sk_X509_new_null());
  if (leaf == nullptr || intermediates == nullptr) {
    *out_alert = SSL_AD_BAD_CERTIFICATE;
    return ssl_verify_invalid;
  }
  for (size_t i = 1; i < sk_CRYPTO_BUFFER_num(chain); ++i) {
    X509* cert = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(chain, i));
    if (cert == nullptr || !sk_X509_push(intermediates.get(), cert)) {
      X509_free(cert);
      *out_alert = SSL_AD_BAD_CERTIFICATE;
      return ssl_verify_invalid;
    }
  }
  bssl::UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  bool ok = ctx != nullptr &&
            X509_STORE_CTX_init(ctx.get(), verifier->store.get(), leaf.get(),
                                intermediates.get()) &&
            X509_STORE_CTX_set_default(ctx.get(),
                                       verifier->is_server ? "ssl_client" : "ssl_server");
  if (ok && !verifier->is_server) {
    ok = X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx.get()), kTlsServerName,
                                     sizeof(kTlsServerName) - 1);
  }
  ok = ok && X509_verify_cert(ctx.get()) == 1;
  ERR_clear_error();
  if (!ok) {
    *out_alert = SSL_AD_BAD_CERTIFICATE;
    return ssl_verify_invalid;
  }
  return ssl_verify_ok;
}

// NewTunedContext builds what both ends share, with `cert` and `key` as the
// context's own chain and key.
absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewTunedContext(const TlsCredentials& credentials,
                                                         X509* cert, EVP_PKEY* key,
                                                         bool is_server) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_with_buffers_method()));
  if (ctx == nullptr || !SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) ||
      !SSL_CTX_set1_curves_list(ctx.get(), "X25519")) {
    return TunedSslError("SSL_CTX setup");
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set0_buffer_pool(ctx.get(), SharedCertPool());
  bssl::UniquePtr<CRYPTO_BUFFER> leaf = ToBuffer(cert);
  CRYPTO_BUFFER* chain[] = {leaf.get()};
  if (leaf == nullptr || !SSL_CTX_set_chain_and_key(ctx.get(), chain, 1, key, nullptr)) {
    return TunedSslError("SSL_CTX_set_chain_and_key");
  }
  auto verifier = std::make_unique<TunedVerifier>();
  verifier->store.reset(X509_STORE_new());
  verifier->is_server = is_server;
  if (verifier->store == nullptr ||
      !X509_STORE_add_cert(verifier->store.get(), credentials.ca_cert.get()) ||
      !SSL_CTX_set_ex_data(ctx.get(), VerifierIndex(), verifier.get())) {
    return TunedSslError("verifier setup");
  }
  verifier.release();  // owned by the context's ex_data now
  SSL_CTX_set_custom_verify(
      ctx.get(), is_server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER,
      VerifyPeer);
  if (is_server) SSL_CTX_set_retain_only_sha256_of_client_certs(ctx.get(), 1);
  return ctx;
}

}  // namespace

absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewTunedTlsServerContext(
    const TlsCredentials& credentials) {
  return NewTunedContext(credentials, credentials.server_cert.get(),
                         credentials.server_key.get(), /*is_server=*/true);
}

absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewTunedTlsClientContext(
    const TlsCredentials& credentials) {
  return NewTunedContext(credentials, credentials.client_cert.get(),
                         credentials.client_key.get(), /*is_server=*/false);
}

absl::StatusOr<bssl::UniquePtr<SSL>> NewTunedTlsConnection(SSL_CTX* ctx, int fd, TlsRole role) {
  if (fd < 0) {
    return absl::InvalidArgumentError(absl::StrCat("NewTunedTlsConnection: bad fd ", fd));
  }
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return absl::InternalError(absl::StrCat("NewTunedTlsConnection: fcntl O_NONBLOCK on fd ", fd));
  }
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx));
  if (ssl == nullptr || !SSL_set_fd(ssl.get(), fd)) return TunedSslError("SSL_new/SSL_set_fd");
  SSL_set_shed_handshake_config(ssl.get(), 1);
  if (role == TlsRole::kClient) {
    if (!SSL_set_tlsext_host_name(ssl.get(), kTlsServerName)) {
      return TunedSslError("SSL_set_tlsext_host_name");
    }
    SSL_set_connect_state(ssl.get());
  } else {
    SSL_set_accept_state(ssl.get());
  }
  return ssl;
}

absl::StatusOr<std::string> TunedTlsPeerSha256(const SSL* ssl) {
  const SSL_SESSION* session = SSL_get_session(ssl);
  if (session == nullptr || !SSL_SESSION_has_peer_sha256(session)) {
    return absl::NotFoundError("no retained peer certificate hash");
  }
  const uint8_t* hash = nullptr;
  size_t len = 0;
  SSL_SESSION_get0_peer_sha256(session, &hash, &len);
  return std::string(reinterpret_cast<const char*>(hash), len);
}

}  // namespace alts::bench
