#include "benchmarks/common/tls_tuned.h"

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/time/time.h"
#include "benchmarks/common/tls_drive.h"
#include "gtest/gtest.h"

namespace alts::bench {
namespace {

// kStall: a handshake that makes no progress for this long has failed.
constexpr absl::Duration kStall = absl::Seconds(10);

class TlsTunedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TlsCredentials> creds = GenerateTlsCredentials();
    ASSERT_TRUE(creds.ok()) << creds.status();
    creds_ = *std::move(creds);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds_), 0);
  }
  void TearDown() override {
    close(fds_[0]);
    close(fds_[1]);
  }

  // Connect makes both SSL objects: the server tuned, the client from
  // `client_ctx`.
  void Connect(SSL_CTX* client_ctx) {
    auto server_ctx = NewTunedTlsServerContext(creds_);
    ASSERT_TRUE(server_ctx.ok()) << server_ctx.status();
    server_ctx_ = *std::move(server_ctx);
    auto client = NewTunedTlsConnection(client_ctx, fds_[0], TlsRole::kClient);
    auto server = NewTunedTlsConnection(server_ctx_.get(), fds_[1], TlsRole::kServer);
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(server.ok()) << server.status();
    client_ = *std::move(client);
    server_ = *std::move(server);
  }

  TlsCredentials creds_;
  int fds_[2] = {-1, -1};
  bssl::UniquePtr<SSL_CTX> server_ctx_;
  bssl::UniquePtr<SSL> client_;
  bssl::UniquePtr<SSL> server_;
};

TEST_F(TlsTunedTest, MutualHandshakeRetainsOnlyTheClientCertificateHash) {
  auto client_ctx = NewTunedTlsClientContext(creds_);
  ASSERT_TRUE(client_ctx.ok()) << client_ctx.status();
  ASSERT_NO_FATAL_FAILURE(Connect(client_ctx->get()));
  ASSERT_TRUE(DriveTlsHandshakes(client_.get(), server_.get(), kStall).ok());
  const uint8_t ping[] = {'p', 'i', 'n', 'g'};
  EXPECT_TRUE(ExchangeTlsRecord(client_.get(), server_.get(), ping, kStall).ok());
  EXPECT_TRUE(ExchangeTlsRecord(server_.get(), client_.get(), ping, kStall).ok());
  // The server keeps the hash of the client's certificate, not the
  // certificate; the client keeps the server's chain as buffers.
  absl::StatusOr<std::string> hash = TunedTlsPeerSha256(server_.get());
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(hash->size(), 32u);
  EXPECT_EQ(SSL_get0_peer_certificates(server_.get()), nullptr);
  const STACK_OF(CRYPTO_BUFFER)* chain = SSL_get0_peer_certificates(client_.get());
  ASSERT_NE(chain, nullptr);
  EXPECT_EQ(sk_CRYPTO_BUFFER_num(chain), 1u);
  EXPECT_EQ(TunedTlsPeerSha256(client_.get()).status().code(), absl::StatusCode::kNotFound);
  // The configuration was shed: the cipher list is gone.
  EXPECT_EQ(SSL_get_ciphers(server_.get()), nullptr);
}

TEST_F(TlsTunedTest, ClientRejectsAServerFromAnotherCa) {
  absl::StatusOr<TlsCredentials> other = GenerateTlsCredentials();
  ASSERT_TRUE(other.ok());
  // The client trusts `other`'s CA only, and presents `other`'s client
  // certificate, which the server does not trust either.
  auto client_ctx = NewTunedTlsClientContext(*other);
  ASSERT_TRUE(client_ctx.ok()) << client_ctx.status();
  ASSERT_NO_FATAL_FAILURE(Connect(client_ctx->get()));
  absl::Status s = DriveTlsHandshakes(client_.get(), server_.get(), kStall);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_NE(s.message().find("client"), absl::string_view::npos) << s;
}

TEST_F(TlsTunedTest, ServerRejectsAClientWithoutCertificate) {
  // An untuned client context without a certificate, talking to the tuned
  // server: the custom verifier requires one.
  TlsOptions options;
  options.client_presents_cert = false;
  auto client_ctx = NewTlsClientContext(creds_, options);
  ASSERT_TRUE(client_ctx.ok()) << client_ctx.status();
  auto server_ctx = NewTunedTlsServerContext(creds_);
  ASSERT_TRUE(server_ctx.ok());
  auto client = NewTlsConnection(client_ctx->get(), fds_[0], TlsRole::kClient);
  auto server = NewTunedTlsConnection(server_ctx->get(), fds_[1], TlsRole::kServer);
  ASSERT_TRUE(client.ok() && server.ok());
  absl::Status s = DriveTlsHandshakes(client->get(), server->get(), kStall);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_EQ(TunedTlsPeerSha256(server->get()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TlsTunedTest, NewTunedTlsConnectionRejectsBadFd) {
  auto ctx = NewTunedTlsServerContext(creds_);
  ASSERT_TRUE(ctx.ok());
  EXPECT_EQ(NewTunedTlsConnection(ctx->get(), -1, TlsRole::kServer).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace alts::bench
