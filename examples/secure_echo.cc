// secure_echo: an authenticated echo service and its client over ALTS, in
// one process. Both sides get certificates from a root made at start-up; the
// server accepts only the client's identity, the client only the server's.
// Prints each side's view of its peer and exits 0 once the echo came back.
#include <openssl/curve25519.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "alts_ondemand/version.h"
#include "conn/secure_listener.h"
#include "handshaker/certificate.h"
#include "handshaker/workload_credential.h"

namespace {

// Config issues a certificate for `account` under `root` and returns the
// handshake configuration of a workload with that identity that trusts
// `root`. Real workloads load alts_keygen's files instead, with
// alts::ReadWorkloadCredential and alts::ReadTrustRoots
// (handshaker/credential_file.h).
absl::StatusOr<std::shared_ptr<alts::HandshakerConfig>> Config(const alts::SigningKey& root,
                                                               const std::string& account) {
  alts::SecretArray<32> private_key;
  alts::CertificateParams leaf;
  X25519_keypair(leaf.public_key.data(), private_key.data());
  leaf.subject = account;
  leaf.not_before = absl::Now() - absl::Minutes(5);
  leaf.not_after = absl::Now() + absl::Hours(1);
  absl::StatusOr<std::string> cert = alts::IssueCertificate(root, leaf);
  if (!cert.ok()) return cert.status();
  auto credential = alts::WorkloadCredential::Create({*std::move(cert)}, private_key.span());
  if (!credential.ok()) return credential.status();
  auto verifier = alts::CertificateVerifier::Create({alts::TrustRoot::FromSigningKey(root)});
  if (!verifier.ok()) return verifier.status();
  auto config = std::make_shared<alts::HandshakerConfig>();
  config->credential = *std::move(credential);
  config->verifier = *std::move(verifier);
  return config;
}

// EchoSession serves one connection: it writes back what arrives (a short
// message; tools/alts_echo shows back-pressure for large ones) and deletes
// itself when the client has finished.
class EchoSession : public alts::ReadyHandler {
 public:
  explicit EchoSession(std::unique_ptr<alts::SecureConnection> conn) : conn_(std::move(conn)) {
    conn_->Start(this);
  }
  void OnData(absl::Span<uint8_t> data, alts::BufferLease&) override { (void)conn_->Write(data); }
  void OnEnd(const absl::Status&) override { delete this; }

 private:
  std::unique_ptr<alts::SecureConnection> conn_;
};

// EchoClient sends `message`, closes once all of it came back, and reports
// the outcome through `result`.
class EchoClient : public alts::ReadyHandler {
 public:
  EchoClient(std::unique_ptr<alts::SecureConnection> conn, std::string message,
             std::promise<absl::Status>* result)
      : conn_(std::move(conn)), message_(std::move(message)), result_(result) {
    conn_->Start(this);
    (void)conn_->Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(message_.data()),
                                           message_.size()));
  }
  void OnData(absl::Span<uint8_t> data, alts::BufferLease&) override {
    echoed_.append(reinterpret_cast<const char*>(data.data()), data.size());
    if (echoed_.size() >= message_.size()) conn_->Close();
  }
  void OnEnd(const absl::Status& status) override {
    absl::Status outcome = status;
    if (outcome.ok() && echoed_ != message_) outcome = absl::DataLossError("echo differs");
    if (outcome.ok()) std::printf("client: echoed \"%s\"\n", echoed_.c_str());
    std::promise<absl::Status>* result = result_;
    delete this;
    result->set_value(outcome);
  }

 private:
  std::unique_ptr<alts::SecureConnection> conn_;
  std::string message_, echoed_;
  std::promise<absl::Status>* result_;
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "secure_echo: %s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main() {
  std::printf("secure_echo on alts_ondemand %s\n", alts::kVersion);
  absl::StatusOr<alts::SigningKey> root = alts::SigningKey::Generate("example-root");
  if (!root.ok()) return Fail(root.status());
  auto server_config = Config(*root, "echo-server@example");
  auto client_config = Config(*root, "echo-client@example");
  if (!server_config.ok()) return Fail(server_config.status());
  if (!client_config.ok()) return Fail(client_config.status());
  (*server_config)->accepted_client_identities.push_back({"echo-client@example", {}});

  // Reactor threads, and the pools connections borrow read buffers from.
  auto group = alts::ReactorGroup::Create();
  auto pool = alts::BufferPool::Create();
  auto storage = alts::StoragePool::Create();
  if (!group.ok() || !pool.ok() || !storage.ok()) return Fail(absl::InternalError("setup"));
  alts::ConnectionResources resources;
  resources.read_pool = pool->get();
  resources.storage = storage->get();

  alts::ListenOptions listen_options;
  listen_options.resources = &resources;
  auto listener = alts::SecureListener::Listen(
      **group, "127.0.0.1:0", *server_config, listen_options,
      [](alts::Reactor&, absl::StatusOr<alts::EstablishedConnection> conn) {
        if (!conn.ok()) return (void)Fail(conn.status());
        std::printf("server: accepted %s\n", conn->peer->service_account().c_str());
        new EchoSession(std::move(conn->connection));
      });
  if (!listener.ok()) return Fail(listener.status());

  alts::DialerOptions dial_options;
  dial_options.resources = &resources;
  auto dialer = alts::SecureDialer::Create(**group, *client_config, dial_options);
  if (!dialer.ok()) return Fail(dialer.status());
  alts::HandshakeParams params;
  params.target_identities.push_back({"echo-server@example", {}});
  std::promise<absl::Status> result;  // set once: by a failed dial or the client
  std::future<absl::Status> done = result.get_future();
  (*dialer)->Dial((*listener)->address().ToString(), params,
                  [&result](alts::Reactor&, absl::StatusOr<alts::EstablishedConnection> conn) {
                    if (!conn.ok()) return result.set_value(conn.status());
                    std::printf("client: connected to %s (%s)\n",
                                conn->peer->service_account().c_str(),
                                std::string(conn->peer->record_protocol_name()).c_str());
                    new EchoClient(std::move(conn->connection), "hello over ALTS", &result);
                  });

  const absl::Status status = done.wait_for(std::chrono::seconds(10)) == std::future_status::ready
                                  ? done.get()
                                  : absl::DeadlineExceededError("no echo within 10 s");
  (*listener)->Close();
  (*dialer)->Close();
  (*group)->Shutdown();
  return status.ok() ? 0 : Fail(status);
}
