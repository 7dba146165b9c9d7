#include "benchmarks/common/tls_baseline.h"

#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace alts::bench {
namespace {

using ::testing::HasSubstr;

// kMaxPumpSteps bounds every single-threaded pump loop, so a stall fails the
// test instead of hanging it.
constexpr int kMaxPumpSteps = 1000000;

// SocketPair is an AF_UNIX stream pair closed on destruction.
struct SocketPair {
  SocketPair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0) {
      client = fds[0];
      server = fds[1];
    }
  }
  ~SocketPair() {
    if (client >= 0) close(client);
    if (server >= 0) close(server);
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
  int client = -1;
  int server = -1;
};

bool Finished(const TlsResult& r) {
  return r.status == TlsStatus::kDone || r.status == TlsStatus::kError;
}

// Handshake steps both ends on one thread until each is done or failed.
std::pair<TlsResult, TlsResult> Handshake(SSL* client, SSL* server) {
  TlsResult c{TlsStatus::kWantWrite, 0, ""};
  TlsResult s{TlsStatus::kWantRead, 0, ""};
  for (int i = 0; i < kMaxPumpSteps && !(Finished(c) && Finished(s)); ++i) {
    if (!Finished(c)) c = TlsHandshakeStep(client);
    if (!Finished(s)) s = TlsHandshakeStep(server);
    // A failed end stops answering; the other cannot finish.
    if (c.status == TlsStatus::kError || s.status == TlsStatus::kError) break;
  }
  return {c, s};
}

class TlsBaselineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TlsCredentials> creds = GenerateTlsCredentials();
    ASSERT_TRUE(creds.ok()) << creds.status();
    creds_ = *std::move(creds);
  }

  // Connect makes both SSL objects over pair_ with the given contexts.
  void Connect(const TlsOptions& client_options = {},
               const TlsCredentials* client_creds = nullptr) {
    auto server_ctx = NewTlsServerContext(creds_);
    ASSERT_TRUE(server_ctx.ok()) << server_ctx.status();
    auto client_ctx = NewTlsClientContext(
        client_creds != nullptr ? *client_creds : creds_, client_options);
    ASSERT_TRUE(client_ctx.ok()) << client_ctx.status();
    server_ctx_ = *std::move(server_ctx);
    client_ctx_ = *std::move(client_ctx);
    auto server = NewTlsConnection(server_ctx_.get(), pair_.server,
                                   TlsRole::kServer);
    ASSERT_TRUE(server.ok()) << server.status();
    auto client = NewTlsConnection(client_ctx_.get(), pair_.client,
                                   TlsRole::kClient);
    ASSERT_TRUE(client.ok()) << client.status();
    server_ = *std::move(server);
    client_ = *std::move(client);
  }

  TlsCredentials creds_;
  SocketPair pair_;
  bssl::UniquePtr<SSL_CTX> server_ctx_;
  bssl::UniquePtr<SSL_CTX> client_ctx_;
  bssl::UniquePtr<SSL> server_;
  bssl::UniquePtr<SSL> client_;
};

TEST_F(TlsBaselineTest, MutualHandshakeWithTls13AndX25519) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  auto [c, s] = Handshake(client_.get(), server_.get());
  ASSERT_EQ(c.status, TlsStatus::kDone) << c.error;
  ASSERT_EQ(s.status, TlsStatus::kDone) << s.error;
  EXPECT_EQ(SSL_version(client_.get()), TLS1_3_VERSION);
  EXPECT_EQ(SSL_version(server_.get()), TLS1_3_VERSION);
  EXPECT_EQ(SSL_get_curve_id(server_.get()), SSL_CURVE_X25519);
  EXPECT_FALSE(SSL_session_reused(client_.get()));
  EXPECT_NE(SSL_get_options(server_.get()) & SSL_OP_NO_TICKET, 0u);
  EXPECT_EQ(SSL_get_verify_result(client_.get()), X509_V_OK);
  EXPECT_EQ(SSL_get_verify_result(server_.get()), X509_V_OK);
}

TEST_F(TlsBaselineTest, PeerCertificateSubjectsAreVisible) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  auto [c, s] = Handshake(client_.get(), server_.get());
  ASSERT_EQ(c.status, TlsStatus::kDone) << c.error;
  ASSERT_EQ(s.status, TlsStatus::kDone) << s.error;
  absl::StatusOr<std::string> seen_by_server = TlsPeerCommonName(server_.get());
  ASSERT_TRUE(seen_by_server.ok()) << seen_by_server.status();
  EXPECT_EQ(*seen_by_server, kTlsClientName);
  absl::StatusOr<std::string> seen_by_client = TlsPeerCommonName(client_.get());
  ASSERT_TRUE(seen_by_client.ok()) << seen_by_client.status();
  EXPECT_EQ(*seen_by_client, kTlsServerName);
}

TEST_F(TlsBaselineTest, EchoesOneMegabyteBothWays) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  auto [c, s] = Handshake(client_.get(), server_.get());
  ASSERT_EQ(c.status, TlsStatus::kDone) << c.error;
  ASSERT_EQ(s.status, TlsStatus::kDone) << s.error;

  constexpr size_t kBytes = 1 << 20;
  std::vector<uint8_t> sent(kBytes);
  RAND_bytes(sent.data(), sent.size());
  std::vector<uint8_t> at_server;  // read by the server, not yet echoed
  std::vector<uint8_t> echoed;
  size_t client_written = 0;
  size_t server_received = 0;
  std::vector<uint8_t> buf(64 * 1024);
  for (int i = 0; i < kMaxPumpSteps && echoed.size() < kBytes; ++i) {
    if (client_written < kBytes) {
      TlsResult w = TlsWrite(
          client_.get(), absl::MakeConstSpan(sent).subspan(client_written));
      ASSERT_TRUE(w.status == TlsStatus::kDone || w.would_block()) << w.error;
      client_written += w.bytes;
    }
    TlsResult r = TlsRead(server_.get(), absl::MakeSpan(buf));
    ASSERT_TRUE(r.status == TlsStatus::kDone || r.would_block()) << r.error;
    at_server.insert(at_server.end(), buf.begin(), buf.begin() + r.bytes);
    server_received += r.bytes;
    if (!at_server.empty()) {
      TlsResult w = TlsWrite(server_.get(), absl::MakeConstSpan(at_server));
      ASSERT_TRUE(w.status == TlsStatus::kDone || w.would_block()) << w.error;
      at_server.erase(at_server.begin(), at_server.begin() + w.bytes);
    }
    r = TlsRead(client_.get(), absl::MakeSpan(buf));
    ASSERT_TRUE(r.status == TlsStatus::kDone || r.would_block()) << r.error;
    echoed.insert(echoed.end(), buf.begin(), buf.begin() + r.bytes);
  }
  EXPECT_EQ(server_received, kBytes);
  ASSERT_EQ(echoed.size(), kBytes);
  EXPECT_TRUE(std::equal(echoed.begin(), echoed.end(), sent.begin()));

  // A clean close reads as kClosed.
  ASSERT_GE(SSL_shutdown(client_.get()), 0);
  TlsResult closed{TlsStatus::kWantRead, 0, ""};
  for (int i = 0; i < 100 && closed.would_block(); ++i) {
    closed = TlsRead(server_.get(), absl::MakeSpan(buf));
  }
  EXPECT_EQ(closed.status, TlsStatus::kClosed) << closed.error;
}

TEST_F(TlsBaselineTest, ServerRejectsClientWithoutCertificate) {
  TlsOptions no_cert;
  no_cert.client_presents_cert = false;
  ASSERT_NO_FATAL_FAILURE(Connect(no_cert));
  auto [c, s] = Handshake(client_.get(), server_.get());
  ASSERT_EQ(s.status, TlsStatus::kError);
  EXPECT_THAT(s.error, HasSubstr("PEER_DID_NOT_RETURN_A_CERTIFICATE"));
  // In TLS 1.3 the client finishes first and learns of the rejection from
  // the server's alert on its next read.
  TlsResult r = c;
  std::vector<uint8_t> buf(1024);
  for (int i = 0; i < 100 && r.status != TlsStatus::kError; ++i) {
    r = TlsRead(client_.get(), absl::MakeSpan(buf));
    ASSERT_NE(r.status, TlsStatus::kDone) << "client read data";
  }
  EXPECT_EQ(r.status, TlsStatus::kError);
  EXPECT_THAT(r.error, HasSubstr("ALERT"));
}

TEST_F(TlsBaselineTest, ClientRejectsServerFromAnotherCa) {
  // The client trusts a different CA, so the server's certificate fails.
  absl::StatusOr<TlsCredentials> other = GenerateTlsCredentials();
  ASSERT_TRUE(other.ok());
  ASSERT_NO_FATAL_FAILURE(Connect({}, &*other));
  auto [c, s] = Handshake(client_.get(), server_.get());
  ASSERT_EQ(c.status, TlsStatus::kError);
  EXPECT_THAT(c.error, HasSubstr("CERTIFICATE_VERIFY_FAILED"));
  EXPECT_THAT(c.error, HasSubstr("certificate verification"));
}

TEST_F(TlsBaselineTest, NewTlsConnectionRejectsBadFd) {
  auto ctx = NewTlsServerContext(creds_);
  ASSERT_TRUE(ctx.ok());
  EXPECT_EQ(NewTlsConnection(ctx->get(), -1, TlsRole::kServer).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TlsBaselineTest, PeerCommonNameBeforeHandshakeIsNotFound) {
  ASSERT_NO_FATAL_FAILURE(Connect());
  EXPECT_EQ(TlsPeerCommonName(server_.get()).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace alts::bench
