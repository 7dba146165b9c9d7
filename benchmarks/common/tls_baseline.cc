#include "benchmarks/common/tls_baseline.h"

#include <fcntl.h>
#include <openssl/bytestring.h>
#include <openssl/ec.h>
#include <openssl/curve25519.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"

namespace alts::bench {
namespace {

// kCertBackdateSeconds: certificates start an hour in the past so a peer
// whose clock is slightly behind still accepts them.
constexpr long kCertBackdateSeconds = 3600;
// kCertLifetimeSeconds: a day outlives any benchmark run.
constexpr long kCertLifetimeSeconds = 24 * 3600;
// kErrorQueueDrainLimit bounds how many queued BoringSSL errors go into one
// message; the first few carry the cause.
constexpr int kErrorQueueDrainLimit = 4;

// DrainErrors appends BoringSSL's queued errors to *out and clears the queue.
void DrainErrors(std::string* out) {
  for (int i = 0; i < kErrorQueueDrainLimit; ++i) {
    uint32_t code = ERR_get_error();
    if (code == 0) break;
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    absl::StrAppend(out, out->empty() ? "" : "; ", buf);
  }
  ERR_clear_error();
}

absl::Status SslError(std::string_view what) {
  std::string message(what);
  std::string queue;
  DrainErrors(&queue);
  if (!queue.empty()) absl::StrAppend(&message, ": ", queue);
  return absl::InternalError(message);
}

absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> NewP256Key() {
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  if (ec == nullptr || !EC_KEY_generate_key(ec.get())) {
    return SslError("P-256 key generation");
  }
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  if (key == nullptr || !EVP_PKEY_assign_EC_KEY(key.get(), ec.get())) {
    return SslError("EVP_PKEY_assign_EC_KEY");
  }
  ec.release();  // owned by key now
  return key;
}

absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> NewEd25519Key() {
  uint8_t public_key[32];
  uint8_t private_key[64];
  ED25519_keypair(public_key, private_key);
  // BoringSSL takes the 32-byte seed, the first half of the private key.
  bssl::UniquePtr<EVP_PKEY> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, private_key, 32));
  OPENSSL_cleanse(private_key, sizeof(private_key));
  if (key == nullptr) return SslError("Ed25519 key");
  return key;
}

bool IsEd25519(const EVP_PKEY* key) { return EVP_PKEY_id(key) == EVP_PKEY_ED25519; }

bool AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  bssl::UniquePtr<X509_EXTENSION> ext(
      X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
  return ext != nullptr && X509_add_ext(cert, ext.get(), -1);
}

// CertSpec describes one certificate to issue.
struct CertSpec {
  const char* common_name;
  long serial;
  bool is_ca;
  // extended_key_usage and dns_name are null for the CA.
  const char* extended_key_usage;
  const char* dns_name;
};

// IssueCert signs a certificate for `key` with `issuer_key`; a null issuer
// makes it self-signed.
absl::StatusOr<bssl::UniquePtr<X509>> IssueCert(const CertSpec& spec,
                                                EVP_PKEY* key, X509* issuer,
                                                EVP_PKEY* issuer_key) {
  bssl::UniquePtr<X509> cert(X509_new());
  if (cert == nullptr || !X509_set_version(cert.get(), X509_VERSION_3) ||
      !ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), spec.serial) ||
      !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kCertBackdateSeconds) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), kCertLifetimeSeconds)) {
    return SslError("X509 setup");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!X509_NAME_add_entry_by_txt(
          name, "CN", MBSTRING_UTF8,
          reinterpret_cast<const uint8_t*>(spec.common_name), -1, -1, 0) ||
      !X509_set_issuer_name(cert.get(), issuer != nullptr
                                            ? X509_get_subject_name(issuer)
                                            : name) ||
      !X509_set_pubkey(cert.get(), key)) {
    return SslError("X509 names");
  }
  X509* signer = issuer != nullptr ? issuer : cert.get();
  bool ok;
  if (spec.is_ca) {
    ok = AddExtension(cert.get(), signer, NID_basic_constraints,
                      "critical,CA:TRUE") &&
         AddExtension(cert.get(), signer, NID_key_usage,
                      "critical,keyCertSign,cRLSign");
  } else {
    const std::string san = absl::StrCat("DNS:", spec.dns_name);
    ok = AddExtension(cert.get(), signer, NID_basic_constraints,
                      "critical,CA:FALSE") &&
         AddExtension(cert.get(), signer, NID_key_usage,
                      "critical,digitalSignature") &&
         AddExtension(cert.get(), signer, NID_ext_key_usage,
                      spec.extended_key_usage) &&
         AddExtension(cert.get(), signer, NID_subject_alt_name, san.c_str());
  }
  if (!ok) return SslError("X509 extensions");
  // Ed25519 hashes internally: no digest is given for it.
  if (!X509_sign(cert.get(), issuer_key, IsEd25519(issuer_key) ? nullptr : EVP_sha256())) {
    return SslError("X509_sign");
  }
  return cert;
}

// NewBaseContext applies what both ends share.
absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewBaseContext(
    const TlsCredentials& credentials, const TlsOptions& options) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  if (ctx == nullptr ||
      !SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) ||
      !SSL_CTX_set1_curves_list(ctx.get(), "X25519")) {
    return SslError("SSL_CTX setup");
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
  if (options.release_buffers) mode |= SSL_MODE_RELEASE_BUFFERS;
  SSL_CTX_set_mode(ctx.get(), mode);
  if (IsEd25519(credentials.ca_key.get())) {
    // Sign and accept Ed25519 only, so the handshake measures it.
    static constexpr uint16_t kEd25519Only[] = {SSL_SIGN_ED25519};
    if (!SSL_CTX_set_signing_algorithm_prefs(ctx.get(), kEd25519Only, 1) ||
        !SSL_CTX_set_verify_algorithm_prefs(ctx.get(), kEd25519Only, 1)) {
      return SslError("Ed25519 signature preferences");
    }
  }
  // Trust exactly the generated CA.
  if (!X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()),
                           credentials.ca_cert.get())) {
    return SslError("X509_STORE_add_cert");
  }
  return ctx;
}

const char* SslErrorName(int code) {
  switch (code) {
    case SSL_ERROR_SSL:
      return "SSL_ERROR_SSL";
    case SSL_ERROR_SYSCALL:
      return "SSL_ERROR_SYSCALL";
    case SSL_ERROR_ZERO_RETURN:
      return "SSL_ERROR_ZERO_RETURN";
    case SSL_ERROR_WANT_READ:
      return "SSL_ERROR_WANT_READ";
    case SSL_ERROR_WANT_WRITE:
      return "SSL_ERROR_WANT_WRITE";
    default:
      return "SSL_ERROR_other";
  }
}

// Classify turns the return value of an SSL call into a TlsResult. The
// error queue must have been cleared before the call.
TlsResult Classify(SSL* ssl, int ret, int saved_errno) {
  TlsResult result;
  if (ret > 0) {
    result.status = TlsStatus::kDone;
    return result;
  }
  const int code = SSL_get_error(ssl, ret);
  switch (code) {
    case SSL_ERROR_WANT_READ:
      result.status = TlsStatus::kWantRead;
      return result;
    case SSL_ERROR_WANT_WRITE:
      result.status = TlsStatus::kWantWrite;
      return result;
    case SSL_ERROR_ZERO_RETURN:
      result.status = TlsStatus::kClosed;
      return result;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0 && saved_errno == 0) {
        // EOF without close_notify: the peer went away.
        result.status = TlsStatus::kClosed;
        return result;
      }
      break;
    default:
      break;
  }
  result.status = TlsStatus::kError;
  result.error = SslErrorName(code);
  if (code == SSL_ERROR_SYSCALL && saved_errno != 0) {
    absl::StrAppend(&result.error, ": errno ", saved_errno);
  }
  std::string queue;
  DrainErrors(&queue);
  if (!queue.empty()) absl::StrAppend(&result.error, ": ", queue);
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    absl::StrAppend(&result.error, " (certificate verification: ",
                    X509_verify_cert_error_string(verify), ")");
  }
  return result;
}

}  // namespace

absl::StatusOr<TlsCredentials> GenerateTlsCredentials(TlsKeyType key_type) {
  TlsCredentials creds;
  for (bssl::UniquePtr<EVP_PKEY>* key :
       {&creds.ca_key, &creds.server_key, &creds.client_key}) {
    absl::StatusOr<bssl::UniquePtr<EVP_PKEY>> made =
        key_type == TlsKeyType::kEd25519 ? NewEd25519Key() : NewP256Key();
    if (!made.ok()) return made.status();
    *key = *std::move(made);
  }
  absl::StatusOr<bssl::UniquePtr<X509>> ca =
      IssueCert({kTlsCaName, 1, true, nullptr, nullptr}, creds.ca_key.get(),
                nullptr, creds.ca_key.get());
  if (!ca.ok()) return ca.status();
  creds.ca_cert = *std::move(ca);
  absl::StatusOr<bssl::UniquePtr<X509>> server = IssueCert(
      {kTlsServerName, 2, false, "serverAuth", kTlsServerName},
      creds.server_key.get(), creds.ca_cert.get(), creds.ca_key.get());
  if (!server.ok()) return server.status();
  creds.server_cert = *std::move(server);
  absl::StatusOr<bssl::UniquePtr<X509>> client = IssueCert(
      {kTlsClientName, 3, false, "clientAuth", kTlsClientName},
      creds.client_key.get(), creds.ca_cert.get(), creds.ca_key.get());
  if (!client.ok()) return client.status();
  creds.client_cert = *std::move(client);
  return creds;
}

absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewTlsServerContext(
    const TlsCredentials& credentials, const TlsOptions& options) {
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx =
      NewBaseContext(credentials, options);
  if (!ctx.ok()) return ctx.status();
  SSL_CTX* c = ctx->get();
  if (!SSL_CTX_use_certificate(c, credentials.server_cert.get()) ||
      !SSL_CTX_use_PrivateKey(c, credentials.server_key.get()) ||
      !SSL_CTX_check_private_key(c) ||
      !SSL_CTX_add_client_CA(c, credentials.ca_cert.get())) {
    return SslError("server certificate");
  }
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     nullptr);
  return ctx;
}

absl::StatusOr<bssl::UniquePtr<SSL_CTX>> NewTlsClientContext(
    const TlsCredentials& credentials, const TlsOptions& options) {
  absl::StatusOr<bssl::UniquePtr<SSL_CTX>> ctx =
      NewBaseContext(credentials, options);
  if (!ctx.ok()) return ctx.status();
  SSL_CTX* c = ctx->get();
  if (options.client_presents_cert &&
      (!SSL_CTX_use_certificate(c, credentials.client_cert.get()) ||
       !SSL_CTX_use_PrivateKey(c, credentials.client_key.get()) ||
       !SSL_CTX_check_private_key(c))) {
    return SslError("client certificate");
  }
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  return ctx;
}

absl::StatusOr<bssl::UniquePtr<SSL>> NewTlsConnection(SSL_CTX* ctx, int fd,
                                                      TlsRole role) {
  if (fd < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("NewTlsConnection: bad fd ", fd));
  }
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return absl::InternalError(
        absl::StrCat("NewTlsConnection: fcntl O_NONBLOCK on fd ", fd));
  }
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx));
  if (ssl == nullptr || !SSL_set_fd(ssl.get(), fd)) {
    return SslError("SSL_new/SSL_set_fd");
  }
  if (role == TlsRole::kClient) {
    if (!SSL_set1_host(ssl.get(), kTlsServerName) ||
        !SSL_set_tlsext_host_name(ssl.get(), kTlsServerName)) {
      return SslError("SSL_set1_host");
    }
    SSL_set_connect_state(ssl.get());
  } else {
    SSL_set_accept_state(ssl.get());
  }
  return ssl;
}

TlsResult TlsHandshakeStep(SSL* ssl) {
  ERR_clear_error();
  errno = 0;
  const int ret = SSL_do_handshake(ssl);
  return Classify(ssl, ret, errno);
}

TlsResult TlsRead(SSL* ssl, absl::Span<uint8_t> out) {
  ERR_clear_error();
  errno = 0;
  const int len = static_cast<int>(std::min<size_t>(out.size(), INT_MAX));
  const int ret = SSL_read(ssl, out.data(), len);
  TlsResult result = Classify(ssl, ret, errno);
  if (result.status == TlsStatus::kDone) result.bytes = static_cast<size_t>(ret);
  return result;
}

TlsResult TlsWrite(SSL* ssl, absl::Span<const uint8_t> data) {
  ERR_clear_error();
  errno = 0;
  const int len = static_cast<int>(std::min<size_t>(data.size(), INT_MAX));
  const int ret = SSL_write(ssl, data.data(), len);
  TlsResult result = Classify(ssl, ret, errno);
  if (result.status == TlsStatus::kDone) result.bytes = static_cast<size_t>(ret);
  return result;
}

absl::StatusOr<std::string> TlsPeerCommonName(const SSL* ssl) {
  bssl::UniquePtr<X509> peer(SSL_get_peer_certificate(ssl));
  if (peer == nullptr) {
    return absl::NotFoundError("peer sent no certificate");
  }
  const X509_NAME* name = X509_get_subject_name(peer.get());
  const int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) {
    return absl::NotFoundError("peer certificate has no common name");
  }
  const ASN1_STRING* data =
      X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  uint8_t* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return SslError("ASN1_STRING_to_UTF8");
  std::string common_name(reinterpret_cast<const char*>(utf8),
                          static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return common_name;
}

}  // namespace alts::bench
