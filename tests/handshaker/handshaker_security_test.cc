// Attacks and misissued credentials the handshake must refuse, each with its
// specific code: keys that do not match certificates, well-formed
// downgrades, small-order keys, broken chains (issuer name and key id,
// a LEAF that signs, depth and path length), re-encoded certificates and
// the verified-chain cache, resumption across server identities and trust
// changes, and protocol state abuse.
#include <openssl/curve25519.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "handshaker/handshake_message.h"
#include "handshaker/handshaker_engine.h"
#include "handshaker/key_schedule.h"
#include "handshaker/proto/alts_handshake.pb.h"
#include "handshaker_test_util.h"

namespace alts::testing {
namespace {

using ::testing::HasSubstr;

std::vector<absl::Span<const uint8_t>> View(const std::vector<std::string>& chain) {
  std::vector<absl::Span<const uint8_t>> out;
  for (const std::string& c : chain) out.push_back(AsBytes(c));
  return out;
}

// kSmallOrderPoint: the point of order 1 (u = 1) on Curve25519's twist.
const std::string kSmallOrderPoint = std::string(1, '\x01') + std::string(31, '\0');

// RewriteServerInit returns a tamper hook that re-encodes the server's
// first flight with `edit` applied to its ServerInit (a well-formed change).
std::function<void(bool, size_t, std::string&)> RewriteServerInit(
    std::function<void(handshake::ServerInit&)> edit) {
  return [edit = std::move(edit)](bool to_server, size_t offset, std::string& bytes) {
    if (to_server || offset != 0) return;
    std::vector<Message> messages = SplitMessages(bytes);
    ASSERT_EQ(messages.size(), 2u);
    handshake::ServerInit init;
    ASSERT_TRUE(init.ParseFromString(messages[0].bytes.substr(4)));
    edit(init);
    bytes = Frame(2, init.SerializeAsString()) + messages[1].bytes;
  };
}

class SecurityTest : public ::testing::Test {
 protected:
  SecurityTest()
      : pki_(clock_.Now()),
        verifier_(pki_.Verifier()),
        client_config_(MakeConfig(pki_.Leaf("client@test"), verifier_, &clock_)),
        server_config_(MakeConfig(pki_.Leaf("server@test", true), verifier_, &clock_)) {}

  void EnableResumption() {
    TicketKeyManager::Options options;
    options.clock = &clock_;
    server_config_->ticket_keys = *TicketKeyManager::Create(options);
    client_config_->session_cache = SessionCache::Create();
  }

  HandshakeRun Handshake(RunOptions options = {},
                         const grpc::gcp::HandshakerReq& start = ClientStartReq()) {
    client_ = std::make_unique<HandshakerEngine>(client_config_);
    server_ = std::make_unique<HandshakerEngine>(server_config_);
    options.clock = &clock_;
    return RunHandshake(*client_, *server_, start, options);
  }

  static void ExpectSuccess(const HandshakeRun& run) {
    ASSERT_TRUE(run.client_status.ok()) << run.client_status;
    ASSERT_TRUE(run.server_status.ok()) << run.server_status;
    ASSERT_TRUE(run.client_done && run.server_done);
    EXPECT_EQ(run.client_result.key_data(), run.server_result.key_data());
  }

  bool Resumed() const { return client_->done() && client_->handshaker()->result().resumed; }

  // Credential wraps `chain` with a random private key (no key check: the
  // leaf key may be anything, or not match).
  std::shared_ptr<const WorkloadCredential> Credential(std::vector<std::string> chain) {
    SecretArray<32> key;
    uint8_t unused[32];
    X25519_keypair(unused, key.data());
    return *WorkloadCredential::CreateWithoutKeyCheckForTesting(std::move(chain), key.span());
  }

  FakeClock clock_;
  TestPki pki_;
  std::shared_ptr<CertificateVerifier> verifier_;
  std::shared_ptr<HandshakerConfig> client_config_;
  std::shared_ptr<HandshakerConfig> server_config_;
  std::unique_ptr<HandshakerEngine> client_;
  std::unique_ptr<HandshakerEngine> server_;
};

// A server that presents a genuine certificate without holding its private
// key cannot compute es: the client's ServerFinished check fails.
TEST_F(SecurityTest, ServerCertificateWithoutItsKeyFailsServerFinished) {
  server_config_->credential = Credential(server_config_->credential->chain());
  HandshakeRun run = Handshake();
  EXPECT_EQ(run.client_status.code(), absl::StatusCode::kDataLoss) << run.client_status;
  EXPECT_THAT(run.client_status.message(), HasSubstr("ServerFinished"));
  EXPECT_FALSE(run.client_done);
  EXPECT_FALSE(run.server_done);
}

// A well-formed downgrade: an attacker re-encodes the ClientInit without the
// stronger record protocol. The server picks what is left (the client did
// offer it), but the transcripts differ and ServerFinished fails.
TEST_F(SecurityTest, WellFormedDowngradeOfTheOfferIsDetected) {
  grpc::gcp::HandshakerReq start = ClientStartReq();
  start.mutable_client_start()->add_record_protocols("ALTSRP_GCM_AES128");
  RunOptions options;
  options.server_record_protocols = {"ALTSRP_GCM_AES128_REKEY", "ALTSRP_GCM_AES128"};
  ExpectSuccess(Handshake(options, start));  // baseline: REKEY is chosen
  EXPECT_EQ(client_->handshaker()->result().record_protocol, RecordProtocol::kAes128GcmRekey);
  int rewritten = 0;
  options.tamper = [&](bool to_server, size_t offset, std::string& bytes) {
    if (!to_server || offset != 0) return;
    handshake::ClientInit init;
    ASSERT_TRUE(init.ParseFromString(bytes.substr(4)));
    init.clear_record_protocols();
    init.add_record_protocols("ALTSRP_GCM_AES128");
    bytes = Frame(1, init.SerializeAsString());
    ++rewritten;
  };
  HandshakeRun run = Handshake(options, start);
  EXPECT_EQ(rewritten, 1);
  EXPECT_EQ(run.client_status.code(), absl::StatusCode::kDataLoss) << run.client_status;
  EXPECT_FALSE(run.server_done);
  // The server's choice, downgraded, is also caught when rewritten in the
  // ServerInit instead.
  options.tamper = RewriteServerInit(
      [](handshake::ServerInit& init) { init.set_record_protocol("ALTSRP_GCM_AES128"); });
  run = Handshake(options, start);
  EXPECT_EQ(run.client_status.code(), absl::StatusCode::kDataLoss) << run.client_status;
  EXPECT_FALSE(run.client_done);
}

// The client rejects a small-order server ephemeral (ee would be zero).
TEST_F(SecurityTest, ClientRejectsSmallOrderServerEphemeral) {
  RunOptions options;
  options.tamper = RewriteServerInit(
      [](handshake::ServerInit& init) { init.set_ephemeral_key(kSmallOrderPoint); });
  HandshakeRun run = Handshake(options);
  EXPECT_EQ(run.client_status.code(), absl::StatusCode::kInvalidArgument) << run.client_status;
  EXPECT_THAT(run.client_status.message(), HasSubstr("all zeros"));
}

// A certificate binding a small-order X25519 key is refused when verified,
// on either side, and cannot be issued.
TEST_F(SecurityTest, SmallOrderKeyInCertificateIsRefused) {
  CertificateParams params;
  std::copy(kSmallOrderPoint.begin(), kSmallOrderPoint.end(), params.public_key.begin());
  params.subject = "weak@test";
  params.not_before = clock_.Now() - absl::Hours(1);
  params.not_after = clock_.Now() + absl::Hours(1);
  EXPECT_EQ(IssueCertificate(pki_.root, params).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string weak = SignCertificate(
      pki_.root, BodyFor(handshake::LEAF, AsBytes(kSmallOrderPoint), "weak@test", pki_.root,
                         clock_.Now()));
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> verified =
      verifier_->Verify(View({weak}), clock_.Now());
  EXPECT_EQ(verified.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(verified.status().message(), HasSubstr("small-order"));
  // Presented by the server: the client refuses it.
  server_config_->credential = Credential({weak});
  HandshakeRun run = Handshake();
  EXPECT_EQ(run.client_status.code(), absl::StatusCode::kInvalidArgument) << run.client_status;
  // Presented by the client: the server refuses it.
  server_config_->credential = pki_.Leaf("server@test");
  client_config_->credential = Credential({weak});
  run = Handshake();
  EXPECT_EQ(run.server_status.code(), absl::StatusCode::kInvalidArgument) << run.server_status;
  EXPECT_THAT(run.server_status.message(), HasSubstr("small-order"));
}

TEST_F(SecurityTest, IssuerNameAndKeyIdMismatchesAreUnauthenticated) {
  uint8_t pub[32];
  SecretArray<32> priv;
  X25519_keypair(pub, priv.data());
  // The signed issuer name is not the root's name.
  handshake::CertificateBody body =
      BodyFor(handshake::LEAF, absl::MakeConstSpan(pub, 32), "svc@test", pki_.root, clock_.Now());
  body.set_issuer("another-root");
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> r =
      verifier_->Verify(View({SignCertificate(pki_.root, body)}), clock_.Now());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(r.status().message(), HasSubstr("issuer"));
  // The signed issuer key id is not the hint that picked the root.
  body = BodyFor(handshake::LEAF, absl::MakeConstSpan(pub, 32), "svc@test", pki_.root,
                 clock_.Now());
  body.set_issuer_key_id(std::string(kKeyIdSize, 'x'));
  r = verifier_->Verify(View({SignCertificate(pki_.root, body)}), clock_.Now());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(r.status().message(), HasSubstr("differs from the hint"));
  // Below an intermediate: issuer name of the leaf is not the intermediate's.
  body = BodyFor(handshake::LEAF, absl::MakeConstSpan(pub, 32), "svc@test", pki_.intermediate,
                 clock_.Now());
  body.set_issuer("test-root");
  r = verifier_->Verify(View({SignCertificate(pki_.intermediate, body), pki_.intermediate_cert}),
                        clock_.Now());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  // A leaf whose hint names the root but that the intermediate signed.
  body = BodyFor(handshake::LEAF, absl::MakeConstSpan(pub, 32), "svc@test", pki_.intermediate,
                 clock_.Now());
  const std::string root_id(reinterpret_cast<const char*>(pki_.root.key_id().data()), kKeyIdSize);
  r = verifier_->Verify(
      View({SignCertificate(pki_.intermediate, body, root_id), pki_.intermediate_cert}),
      clock_.Now());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(r.status().message(), HasSubstr("not issued by"));
}

// A LEAF certificate in a signer position is refused, even if its key bytes
// happen to be an Ed25519 key that signed the certificate below.
TEST_F(SecurityTest, LeafInSignerPositionIsRefused) {
  SigningKey signer = *SigningKey::Generate("leafy-signer");
  const std::string fake_signer = SignCertificate(
      pki_.root,
      BodyFor(handshake::LEAF, signer.public_key(), "leafy-signer", pki_.root, clock_.Now()));
  uint8_t pub[32];
  SecretArray<32> priv;
  X25519_keypair(pub, priv.data());
  const std::string leaf = SignCertificate(
      signer, BodyFor(handshake::LEAF, absl::MakeConstSpan(pub, 32), "svc@test", signer,
                      clock_.Now()));
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> r =
      verifier_->Verify(View({leaf, fake_signer}), clock_.Now());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("LEAF in a signer position"));
}

// root -> I1 -> I2 -> leaf: refused unless the verifier allows two
// intermediates AND I1's path length allows one below it.
TEST_F(SecurityTest, TwoIntermediatesNeedConfigurationAndPathLength) {
  SigningKey second = *SigningKey::Generate("second-intermediate");
  auto chain_with = [&](uint32_t top_path_length) {
    CertificateParams top;
    top.kind = handshake::INTERMEDIATE;
    std::copy(pki_.intermediate.public_key().begin(), pki_.intermediate.public_key().end(),
              top.public_key.begin());
    top.subject = pki_.intermediate.name();
    top.not_before = clock_.Now() - absl::Hours(1);
    top.not_after = clock_.Now() + absl::Hours(48);
    top.max_path_length = top_path_length;
    CertificateParams middle = top;
    std::copy(second.public_key().begin(), second.public_key().end(), middle.public_key.begin());
    middle.subject = second.name();
    middle.max_path_length = 0;
    uint8_t pub[32];
    SecretArray<32> priv;
    X25519_keypair(pub, priv.data());
    CertificateParams leaf;
    std::copy(pub, pub + 32, leaf.public_key.begin());
    leaf.subject = "deep@test";
    leaf.not_before = top.not_before;
    leaf.not_after = top.not_after;
    return std::vector<std::string>{*IssueCertificate(second, leaf),
                                    *IssueCertificate(pki_.intermediate, middle),
                                    *IssueCertificate(pki_.root, top)};
  };
  // Default policy: one intermediate at most.
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> r =
      verifier_->Verify(View(chain_with(1)), clock_.Now());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(r.status().message(), HasSubstr("intermediates"));
  VerifierOptions two;
  two.max_intermediates = 2;
  auto deep = *CertificateVerifier::Create({TrustRoot::FromSigningKey(pki_.root)}, two);
  // Configured for two, but the top intermediate signs leaves only.
  r = deep->Verify(View(chain_with(0)), clock_.Now());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(r.status().message(), HasSubstr("path length"));
  r = deep->Verify(View(chain_with(1)), clock_.Now());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->identity.service_account, "deep@test");
  // Beyond kMaxChainCertificates - 1 cannot be configured.
  VerifierOptions three;
  three.max_intermediates = 3;
  EXPECT_EQ(CertificateVerifier::Create({TrustRoot::FromSigningKey(pki_.root)}, three)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  // A leaf with a path length is malformed.
  CertificateParams leafy;
  leafy.subject = "x@test";
  leafy.not_before = clock_.Now() - absl::Hours(1);
  leafy.not_after = clock_.Now() + absl::Hours(1);
  leafy.public_key[0] = 9;
  leafy.max_path_length = 1;
  EXPECT_EQ(IssueCertificate(pki_.root, leafy).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The unsigned wrapper is accepted only in its canonical encoding: a
// re-encoded certificate is rejected before any signature work and never
// reaches the cache, so it can neither bypass nor flush it.
TEST_F(SecurityTest, ReEncodedCertificateWrappersAreRejected) {
  const std::vector<std::string> chain = client_config_->credential->chain();
  ASSERT_TRUE(verifier_->Verify(View(chain), clock_.Now()).ok());
  ASSERT_EQ(verifier_->cache_size(), 1u);
  handshake::Certificate parsed;
  ASSERT_TRUE(parsed.ParseFromString(chain[0]));
  std::vector<std::string> variants;
  variants.push_back(chain[0] + std::string("\x78\x01", 2));  // unknown field 15
  variants.push_back(chain[0] + std::string("\x1a\x08", 2) + parsed.issuer_key_id());  // repeated
  {
    handshake::Certificate reordered;
    reordered.set_signature(parsed.signature());
    std::string bytes = reordered.SerializeAsString();
    handshake::Certificate rest;
    rest.set_tbs(parsed.tbs());
    rest.set_issuer_key_id(parsed.issuer_key_id());
    variants.push_back(bytes + rest.SerializeAsString());  // signature first
  }
  {
    // A non-minimal length varint for the signature field.
    handshake::Certificate tbs_only;
    tbs_only.set_tbs(parsed.tbs());
    handshake::Certificate id_only;
    id_only.set_issuer_key_id(parsed.issuer_key_id());
    variants.push_back(tbs_only.SerializeAsString() + std::string("\x12\xc0\x00", 3) +
                       parsed.signature() + id_only.SerializeAsString());
  }
  for (size_t i = 0; i < variants.size(); ++i) {
    SCOPED_TRACE(i);
    handshake::Certificate check;
    ASSERT_TRUE(check.ParseFromString(variants[i]));  // protobuf itself accepts them
    EXPECT_EQ(check.tbs(), parsed.tbs());
    absl::StatusOr<std::shared_ptr<const VerifiedChain>> r =
        verifier_->Verify(View({variants[i]}), clock_.Now());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("non-canonical"));
  }
  EXPECT_EQ(verifier_->cache_size(), 1u);
  // The genuine chain is still a hit.
  const uint64_t hits = verifier_->cache_hits();
  ASSERT_TRUE(verifier_->Verify(View(chain), clock_.Now()).ok());
  EXPECT_EQ(verifier_->cache_hits(), hits + 1);
}

// A storm of chains seen once cannot evict chains that keep coming back.
TEST_F(SecurityTest, MissStormDoesNotEvictEstablishedChains) {
  auto verifier = pki_.Verifier(/*cache=*/10);
  const std::vector<std::string> established = client_config_->credential->chain();
  ASSERT_TRUE(verifier->Verify(View(established), clock_.Now()).ok());
  ASSERT_TRUE(verifier->Verify(View(established), clock_.Now()).ok());  // used again
  for (int i = 0; i < 40; ++i) {
    auto one_off = pki_.Leaf(absl::StrCat("storm", i, "@test"));
    ASSERT_TRUE(verifier->Verify(View(one_off->chain()), clock_.Now()).ok());
  }
  EXPECT_LE(verifier->cache_size(), 10u);
  const uint64_t hits = verifier->cache_hits();
  ASSERT_TRUE(verifier->Verify(View(established), clock_.Now()).ok());
  EXPECT_EQ(verifier->cache_hits(), hits + 1) << "the established chain was evicted";
}

// After a ServerRetry the client must come back without a ticket; a second
// ticket is a protocol violation. The client likewise accepts one retry.
TEST_F(SecurityTest, SecondTicketAfterRetryAndSecondRetryAreRefused) {
  EnableResumption();
  ClientSession forged;
  forged.ticket = std::string(100, 'x');
  forged.server_identity.service_account = "server@test";
  forged.expiry = forged.server_not_after = clock_.Now() + absl::Hours(1);
  forged.server_root_key_id = pki_.root.key_id();
  client_config_->session_cache->Put(SessionCacheKey("server.test", *client_config_->credential),
                                     std::move(forged));
  HandshakerEngine client(client_config_);
  grpc::gcp::HandshakerResp ci = client.Next(ClientStartReq());
  ASSERT_EQ(ci.status().code(), 0u);
  const std::string ticketed_init = ci.out_frames();
  HandshakerEngine server(server_config_);
  grpc::gcp::HandshakerResp retry = server.Next(ServerStartReq(ticketed_init));
  ASSERT_EQ(retry.status().code(), 0u);
  ASSERT_EQ(SplitMessages(retry.out_frames()).at(0).type,
            static_cast<uint8_t>(MessageType::kServerRetry));
  grpc::gcp::HandshakerResp again = server.Next(NextReq(ticketed_init));
  CheckRespRules(again, ticketed_init.size());
  EXPECT_EQ(again.status().code(), static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(again.status().details(), HasSubstr("ticket offered again"));
  // The client: one retry restarts it, a second one is refused.
  grpc::gcp::HandshakerResp restarted = client.Next(NextReq(retry.out_frames()));
  ASSERT_EQ(restarted.status().code(), 0u);
  grpc::gcp::HandshakerResp second = client.Next(NextReq(retry.out_frames()));
  EXPECT_EQ(second.status().code(), static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(second.status().details(), HasSubstr("unexpected ServerRetry"));
}

TEST_F(SecurityTest, OversizedProtocolListsAreRefused) {
  HandshakerEngine client(client_config_);
  handshake::ClientInit init;
  ASSERT_TRUE(init.ParseFromString(client.Next(ClientStartReq()).out_frames().substr(4)));
  auto server_status = [&](const handshake::ClientInit& message) {
    HandshakerEngine server(server_config_);
    grpc::gcp::HandshakerResp resp =
        server.Next(ServerStartReq(Frame(1, message.SerializeAsString())));
    return absl::Status(static_cast<absl::StatusCode>(resp.status().code()),
                        resp.status().details());
  };
  handshake::ClientInit too_many = init;
  for (size_t i = 0; i < kMaxOfferedProtocols; ++i) too_many.add_record_protocols("x");
  absl::Status s = server_status(too_many);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("too many record protocols"));
  too_many = init;
  for (size_t i = 0; i < kMaxOfferedProtocols; ++i) too_many.add_application_protocols("h2");
  EXPECT_EQ(server_status(too_many).code(), absl::StatusCode::kInvalidArgument);
  handshake::ClientInit long_name = init;
  long_name.add_application_protocols(std::string(kMaxProtocolNameSize + 1, 'a'));
  s = server_status(long_name);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("bad length"));
  // Start requests are bounded the same way.
  grpc::gcp::HandshakerReq start = ClientStartReq();
  for (size_t i = 0; i < kMaxOfferedProtocols; ++i) {
    start.mutable_client_start()->add_application_protocols(absl::StrCat("p", i));
  }
  EXPECT_EQ(HandshakerEngine(client_config_).Next(start).status().code(),
            static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
  grpc::gcp::HandshakerReq records = ClientStartReq();
  for (size_t i = 0; i < kMaxOfferedProtocols; ++i) {
    records.mutable_client_start()->add_record_protocols("ALTSRP_GCM_AES128");
  }
  EXPECT_EQ(HandshakerEngine(client_config_).Next(records).status().code(),
            static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
}

// Servers A and B share ticket keys. A ticket A issued does not resume
// against B: B answers with ServerRetry and the client verifies B's chain
// (and its target identities) in a full handshake.
TEST_F(SecurityTest, TicketFromAnotherServerIdentityDoesNotResume) {
  EnableResumption();
  ExpectSuccess(Handshake());
  ASSERT_EQ(client_config_->session_cache->size(), 1u);
  auto server_b = MakeConfig(pki_.Leaf("other-server@test", true), verifier_, &clock_);
  server_b->ticket_keys = server_config_->ticket_keys;
  std::swap(server_config_, server_b);
  HandshakeRun run = Handshake();
  ExpectSuccess(run);
  EXPECT_FALSE(Resumed());
  EXPECT_EQ(SplitMessages(run.s2c).at(0).type, static_cast<uint8_t>(MessageType::kServerRetry));
  EXPECT_EQ(run.client_result.peer_identity().service_account(), "other-server@test");
  // With A as the target, B is then refused outright.
  std::swap(server_config_, server_b);
  ExpectSuccess(Handshake());  // a fresh ticket from A
  std::swap(server_config_, server_b);
  run = Handshake({}, ClientStartReq({"server@test"}));
  EXPECT_EQ(run.client_status.code(), absl::StatusCode::kPermissionDenied) << run.client_status;
  // A itself still resumes its own tickets.
  std::swap(server_config_, server_b);
  ExpectSuccess(Handshake());
  ExpectSuccess(Handshake());
  EXPECT_TRUE(Resumed());
}

// Removing a root from the server's trust ends resumption for clients whose
// chains it anchored: the ticket falls back and the full handshake fails.
TEST_F(SecurityTest, RemovedRootEndsResumptionOnTheServer) {
  EnableResumption();
  ExpectSuccess(Handshake());
  ExpectSuccess(Handshake());
  ASSERT_TRUE(Resumed());
  TestPki other(clock_.Now(), "other-root");
  auto narrowed = MakeConfig(server_config_->credential, other.Verifier(), &clock_);
  narrowed->ticket_keys = server_config_->ticket_keys;
  server_config_ = narrowed;
  HandshakeRun run = Handshake();
  EXPECT_FALSE(run.server_done);
  EXPECT_EQ(SplitMessages(run.s2c).at(0).type, static_cast<uint8_t>(MessageType::kServerRetry));
  EXPECT_EQ(run.server_status.code(), absl::StatusCode::kUnauthenticated) << run.server_status;
}

// The client side: a session whose server chain's root is no longer trusted
// is not offered.
TEST_F(SecurityTest, RemovedRootEndsResumptionOnTheClient) {
  EnableResumption();
  ExpectSuccess(Handshake());
  TestPki other(clock_.Now(), "other-root");
  auto narrowed = MakeConfig(client_config_->credential, other.Verifier(), &clock_);
  narrowed->session_cache = client_config_->session_cache;
  client_config_ = narrowed;
  HandshakeRun run = Handshake();
  handshake::ClientInit first;
  ASSERT_TRUE(first.ParseFromString(SplitMessages(run.c2s).at(0).bytes.substr(4)));
  EXPECT_TRUE(first.ticket().empty()) << "a session under a removed root was offered";
  EXPECT_EQ(run.client_status.code(), absl::StatusCode::kUnauthenticated) << run.client_status;
}

TEST(KeyScheduleTest, DeriveAndMixKeyReportFailures) {
  ChainingKey ck = InitialChainingKey(false);
  TranscriptHash th{};
  std::vector<uint8_t> too_long(255 * 32 + 1, 0xaa);
  absl::Status s = Derive(ck, kLabelKeyData, th, absl::MakeSpan(too_long));
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_TRUE(std::all_of(too_long.begin(), too_long.end(), [](uint8_t b) { return b == 0; }))
      << "a failed Derive must not leave partial output";
  std::array<uint8_t, 32> out;
  EXPECT_EQ(Derive(ck, std::string(kMaxLabelSize + 1, 'l'), th, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInternal);
  EXPECT_TRUE(Derive(ck, kLabelKeyData, th, absl::MakeSpan(out)).ok());
  EXPECT_TRUE(MixKey(ck, out, th).ok());
  SecretArray<32> finished;
  std::array<uint8_t, 32> mac;
  EXPECT_TRUE(FinishedMac(finished, th, mac).ok());
}

}  // namespace
}  // namespace alts::testing
