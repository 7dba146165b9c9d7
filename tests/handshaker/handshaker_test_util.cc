#include "handshaker_test_util.h"

#include <algorithm>

#include <openssl/curve25519.h>

#include "gtest/gtest.h"
#include "handshaker/proto/transport_security_common.pb.h"

namespace alts::testing {

TestPki::TestPki(absl::Time now, absl::string_view root_name)
    : now(now),
      root(*SigningKey::Generate(root_name)),
      intermediate(*SigningKey::Generate("test-intermediate")) {
  CertificateParams params;
  params.kind = handshake::INTERMEDIATE;
  std::copy(intermediate.public_key().begin(), intermediate.public_key().end(),
            params.public_key.begin());
  params.subject = intermediate.name();
  params.not_before = now - absl::Hours(1);
  params.not_after = now + absl::Hours(24 * 30);
  params.serial = 1;
  intermediate_cert = *IssueCertificate(root, params);
}

std::shared_ptr<const WorkloadCredential> TestPki::Leaf(
    absl::string_view service_account, bool via_intermediate,
    std::map<std::string, std::string> attributes, absl::Duration valid_before,
    absl::Duration valid_after) {
  SecretArray<32> private_key;
  uint8_t public_key[32];
  X25519_keypair(public_key, private_key.data());
  CertificateParams params;
  params.kind = handshake::LEAF;
  std::copy(public_key, public_key + 32, params.public_key.begin());
  params.subject = std::string(service_account);
  params.attributes = std::move(attributes);
  params.not_before = now - valid_before;
  params.not_after = now + valid_after;
  params.serial = 2;
  absl::StatusOr<std::string> leaf = IssueCertificate(via_intermediate ? intermediate : root,
                                                      params);
  EXPECT_TRUE(leaf.ok()) << leaf.status();
  std::vector<std::string> chain = {*leaf};
  if (via_intermediate) chain.push_back(intermediate_cert);
  absl::StatusOr<std::shared_ptr<const WorkloadCredential>> credential =
      WorkloadCredential::Create(std::move(chain), private_key.span());
  EXPECT_TRUE(credential.ok()) << credential.status();
  return *credential;
}

std::string SignCertificate(const SigningKey& signer, const handshake::CertificateBody& body,
                            absl::string_view hint) {
  handshake::Certificate certificate;
  certificate.set_tbs(body.SerializeAsString());
  std::string message(kCertificateSignatureContext);
  message += certificate.tbs();
  const auto signature = signer.Sign(AsBytes(message));
  certificate.set_signature(signature.data(), signature.size());
  if (hint.empty()) {
    certificate.set_issuer_key_id(signer.key_id().data(), signer.key_id().size());
  } else {
    certificate.set_issuer_key_id(std::string(hint));
  }
  return certificate.SerializeAsString();
}

handshake::CertificateBody BodyFor(handshake::CertificateKind kind,
                                   absl::Span<const uint8_t> public_key,
                                   absl::string_view subject, const SigningKey& issuer,
                                   absl::Time now) {
  handshake::CertificateBody body;
  body.set_version(kCertificateVersion);
  body.set_kind(kind);
  body.set_public_key(public_key.data(), public_key.size());
  body.set_subject(std::string(subject));
  body.set_not_before(absl::ToUnixSeconds(now - absl::Hours(1)));
  body.set_not_after(absl::ToUnixSeconds(now + absl::Hours(24)));
  body.set_issuer(issuer.name());
  body.set_issuer_key_id(issuer.key_id().data(), issuer.key_id().size());
  body.set_serial(7);
  return body;
}

std::shared_ptr<CertificateVerifier> TestPki::Verifier(size_t cache) const {
  return *CertificateVerifier::Create({TrustRoot::FromSigningKey(root)}, cache);
}

std::shared_ptr<HandshakerConfig> MakeConfig(std::shared_ptr<const WorkloadCredential> credential,
                                             std::shared_ptr<CertificateVerifier> verifier,
                                             const Clock* clock) {
  auto config = std::make_shared<HandshakerConfig>();
  config->credential = std::move(credential);
  config->verifier = std::move(verifier);
  config->clock = clock;
  return config;
}

namespace {

void SetVersions(grpc::gcp::RpcProtocolVersions* v) {
  v->mutable_max_rpc_version()->set_major(2);
  v->mutable_max_rpc_version()->set_minor(1);
  v->mutable_min_rpc_version()->set_major(2);
  v->mutable_min_rpc_version()->set_minor(1);
}

}  // namespace

grpc::gcp::HandshakerReq ClientStartReq(std::vector<std::string> targets,
                                        uint32_t max_frame_size, absl::string_view target_name) {
  grpc::gcp::HandshakerReq req;
  auto* start = req.mutable_client_start();
  start->set_handshake_security_protocol(grpc::gcp::ALTS);
  start->add_application_protocols("grpc");
  start->add_record_protocols("ALTSRP_GCM_AES128_REKEY");
  for (const std::string& target : targets) {
    start->add_target_identities()->set_service_account(target);
  }
  start->set_target_name(std::string(target_name));
  SetVersions(start->mutable_rpc_versions());
  start->set_max_frame_size(max_frame_size);
  return req;
}

grpc::gcp::HandshakerReq ServerStartReq(absl::string_view in_bytes, uint32_t max_frame_size,
                                        const std::vector<std::string>& record_protocols) {
  grpc::gcp::HandshakerReq req;
  auto* start = req.mutable_server_start();
  start->add_application_protocols("grpc");
  auto& params = (*start->mutable_handshake_parameters())[grpc::gcp::ALTS];
  for (const std::string& p : record_protocols) params.add_record_protocols(p);
  start->set_in_bytes(std::string(in_bytes));
  SetVersions(start->mutable_rpc_versions());
  start->set_max_frame_size(max_frame_size);
  return req;
}

grpc::gcp::HandshakerReq NextReq(absl::string_view in_bytes) {
  grpc::gcp::HandshakerReq req;
  req.mutable_next()->set_in_bytes(std::string(in_bytes));
  return req;
}

void CheckRespRules(const grpc::gcp::HandshakerResp& resp, size_t in_size) {
  EXPECT_TRUE(resp.has_status()) << "rule 1: every response carries a status";
  if (resp.status().code() != 0) {
    EXPECT_FALSE(resp.status().details().empty());
    EXPECT_FALSE(resp.has_result());
    return;
  }
  if (!resp.has_result()) {
    EXPECT_EQ(resp.bytes_consumed(), in_size) << "rule 2: consume all in_bytes before the result";
    return;
  }
  EXPECT_LE(resp.bytes_consumed(), in_size) << "rule 3";
  const grpc::gcp::HandshakerResult& r = resp.result();
  EXPECT_FALSE(r.application_protocol().empty()) << "rule 4";
  EXPECT_FALSE(r.record_protocol().empty()) << "rule 4";
  EXPECT_GE(r.key_data().size(), 44u) << "rule 4";
  EXPECT_FALSE(r.peer_identity().service_account().empty()) << "rule 4";
  EXPECT_FALSE(r.local_identity().service_account().empty()) << "rule 4";
  EXPECT_TRUE(r.has_peer_rpc_versions()) << "rule 4";
  EXPECT_GT(r.max_frame_size(), 0u) << "rule 4";
}

namespace {

absl::Status ToStatus(const grpc::gcp::HandshakerResp& resp) {
  return absl::Status(static_cast<absl::StatusCode>(resp.status().code()),
                      resp.status().details());
}

}  // namespace

HandshakeRun RunHandshake(HandshakerEngine& client, HandshakerEngine& server,
                 const grpc::gcp::HandshakerReq& client_start, const RunOptions& options,
                 uint32_t server_max_frame_size) {
  HandshakeRun run;
  std::string to_server, to_client;
  auto send = [&](bool to_srv, std::string bytes) {
    if (bytes.empty()) return;
    std::string& stream = to_srv ? run.c2s : run.s2c;
    if (options.tamper) options.tamper(to_srv, stream.size(), bytes);
    stream += bytes;
    (to_srv ? to_server : to_client) += bytes;
  };
  grpc::gcp::HandshakerResp resp = client.Next(client_start);
  ++run.responses;
  CheckRespRules(resp, 0);
  run.client_status = ToStatus(resp);
  if (!run.client_status.ok()) return run;
  send(true, resp.out_frames());
  bool server_started = false;
  for (int iteration = 0; iteration < 1'000'000; ++iteration) {
    bool progress = false;
    if (!to_server.empty() && !run.server_done) {
      const size_t n = std::min(options.chunk, to_server.size());
      const std::string chunk = to_server.substr(0, n);
      to_server.erase(0, n);
      resp = server.Next(server_started ? NextReq(chunk)
                                        : ServerStartReq(chunk, server_max_frame_size,
                                                         options.server_record_protocols));
      ++run.responses;
      server_started = true;
      CheckRespRules(resp, n);
      run.server_status = ToStatus(resp);
      send(false, resp.out_frames());
      if (resp.has_result()) {
        run.server_done = true;
        run.server_result = resp.result();
        run.server_leftover = chunk.substr(resp.bytes_consumed()) + to_server;
        to_server.clear();
      }
      if (!run.server_status.ok()) return run;
      progress = true;
    }
    if (!to_client.empty() && !run.client_done) {
      const size_t n = std::min(options.chunk, to_client.size());
      const std::string chunk = to_client.substr(0, n);
      to_client.erase(0, n);
      resp = client.Next(NextReq(chunk));
      ++run.responses;
      CheckRespRules(resp, n);
      run.client_status = ToStatus(resp);
      std::string bytes = resp.out_frames();
      if (resp.has_result()) {
        run.client_done = true;
        run.client_result = resp.result();
        bytes += options.client_records;
        if (options.on_client_result) options.on_client_result(resp.result(), bytes);
      }
      send(true, std::move(bytes));
      if (!run.client_status.ok()) return run;
      progress = true;
    }
    if (run.client_done && run.server_done) return run;
    if (!progress) {
      // Both wait for bytes that will never come: let the deadline end it.
      if (options.clock == nullptr) return run;
      options.clock->Advance(kDefaultHandshakeDeadline + absl::Seconds(1));
      if (!run.client_done) {
        resp = client.Next(NextReq(""));
        CheckRespRules(resp, 0);
        run.client_status = ToStatus(resp);
      }
      if (!run.server_done && server_started) {
        resp = server.Next(NextReq(""));
        CheckRespRules(resp, 0);
        run.server_status = ToStatus(resp);
      }
      return run;
    }
  }
  return run;
}

std::vector<Message> SplitMessages(absl::string_view stream) {
  std::vector<Message> out;
  size_t offset = 0;
  while (stream.size() - offset >= 4) {
    const auto* p = reinterpret_cast<const uint8_t*>(stream.data()) + offset;
    const size_t len = (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
    if (stream.size() - offset < 4 + len) break;
    out.push_back(Message{p[0], offset, std::string(stream.substr(offset, 4 + len))});
    offset += 4 + len;
  }
  return out;
}

std::string Frame(uint8_t type, absl::string_view body) {
  std::string out;
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(body.size() >> 16));
  out.push_back(static_cast<char>(body.size() >> 8));
  out.push_back(static_cast<char>(body.size()));
  out.append(body.data(), body.size());
  return out;
}

bool SpecificCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kDeadlineExceeded:
      return true;
    default:
      return false;
  }
}

}  // namespace alts::testing
