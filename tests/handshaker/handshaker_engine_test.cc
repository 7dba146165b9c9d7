#include "handshaker/handshaker_engine.h"

#include <openssl/curve25519.h>

#include <algorithm>
#include <string>
#include <vector>

#include "alts/record_protector.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "handshaker/handshake_message.h"
#include "handshaker/proto/alts_handshake.pb.h"
#include "handshaker_test_util.h"

namespace alts::testing {
namespace {

using ::testing::HasSubstr;

absl::StatusCode Code(const absl::Status& s) { return s.code(); }

class EngineTest : public ::testing::Test {
 protected:
  EngineTest()
      : pki_(clock_.Now()),
        client_cred_(pki_.Leaf("client@test", /*via_intermediate=*/false, {{"env", "test"}})),
        server_cred_(pki_.Leaf("server@test", /*via_intermediate=*/true)),
        verifier_(pki_.Verifier()),
        client_config_(MakeConfig(client_cred_, verifier_, &clock_)),
        server_config_(MakeConfig(server_cred_, verifier_, &clock_)) {}

  void EnableResumption() {
    TicketKeyManager::Options options;
    options.clock = &clock_;
    server_config_->ticket_keys = *TicketKeyManager::Create(options);
    client_config_->session_cache = SessionCache::Create();
  }

  HandshakeRun Handshake(RunOptions options = {},
                const grpc::gcp::HandshakerReq& start = ClientStartReq(),
                uint32_t server_max_frame_size = 0) {
    client_ = std::make_unique<HandshakerEngine>(client_config_);
    server_ = std::make_unique<HandshakerEngine>(server_config_);
    options.clock = &clock_;
    return RunHandshake(*client_, *server_, start, options, server_max_frame_size);
  }

  // SessionKey is the cache key of the client's sessions with server.test.
  std::string SessionKey() const {
    return SessionCacheKey("server.test", *client_config_->credential);
  }

  static void ExpectSuccess(const HandshakeRun& run) {
    ASSERT_TRUE(run.client_status.ok()) << run.client_status;
    ASSERT_TRUE(run.server_status.ok()) << run.server_status;
    ASSERT_TRUE(run.client_done);
    ASSERT_TRUE(run.server_done);
    EXPECT_EQ(run.client_result.key_data(), run.server_result.key_data());
    EXPECT_EQ(run.client_result.key_data().size(), kKeyDataSize);
  }

  FakeClock clock_;
  TestPki pki_;
  std::shared_ptr<const WorkloadCredential> client_cred_;
  std::shared_ptr<const WorkloadCredential> server_cred_;
  std::shared_ptr<CertificateVerifier> verifier_;
  std::shared_ptr<HandshakerConfig> client_config_;
  std::shared_ptr<HandshakerConfig> server_config_;
  std::unique_ptr<HandshakerEngine> client_;
  std::unique_ptr<HandshakerEngine> server_;
};

TEST_F(EngineTest, FullHandshakeFillsEveryResultField) {
  HandshakeRun run = Handshake({}, ClientStartReq({"server@test"}, 32768), 65536);
  ExpectSuccess(run);
  const auto& c = run.client_result;
  const auto& s = run.server_result;
  EXPECT_EQ(c.application_protocol(), "grpc");
  EXPECT_EQ(c.record_protocol(), "ALTSRP_GCM_AES128_REKEY");
  EXPECT_EQ(s.record_protocol(), "ALTSRP_GCM_AES128_REKEY");
  EXPECT_EQ(c.peer_identity().service_account(), "server@test");
  EXPECT_EQ(c.local_identity().service_account(), "client@test");
  EXPECT_EQ(s.peer_identity().service_account(), "client@test");
  EXPECT_EQ(s.peer_identity().attributes().at("env"), "test");
  EXPECT_EQ(s.local_identity().service_account(), "server@test");
  EXPECT_EQ(c.peer_rpc_versions().max_rpc_version().major(), 2u);
  EXPECT_EQ(c.peer_rpc_versions().min_rpc_version().minor(), 1u);
  // Rule 7: each result carries the PEER's max frame size.
  EXPECT_EQ(c.max_frame_size(), 65536u);
  EXPECT_EQ(s.max_frame_size(), 32768u);
  EXPECT_FALSE(c.keep_channel_open());
  // Four messages, two flights each way.
  std::vector<Message> c2s = SplitMessages(run.c2s), s2c = SplitMessages(run.s2c);
  ASSERT_EQ(c2s.size(), 2u);
  ASSERT_EQ(s2c.size(), 2u);
  EXPECT_EQ(c2s[0].type, static_cast<uint8_t>(MessageType::kClientInit));
  EXPECT_EQ(s2c[0].type, static_cast<uint8_t>(MessageType::kServerInit));
  EXPECT_EQ(s2c[1].type, static_cast<uint8_t>(MessageType::kServerFinished));
  EXPECT_EQ(c2s[1].type, static_cast<uint8_t>(MessageType::kClientFinished));
  // The typed view agrees, and the AltsContext is built from it.
  const HandshakeResult& typed = client_->handshaker()->result();
  EXPECT_FALSE(typed.resumed);
  grpc::gcp::AltsContext context = MakeAltsContext(server_->handshaker()->result());
  EXPECT_EQ(context.security_level(), grpc::gcp::INTEGRITY_AND_PRIVACY);
  EXPECT_EQ(context.peer_service_account(), "client@test");
  EXPECT_EQ(context.local_service_account(), "server@test");
  EXPECT_EQ(context.record_protocol(), "ALTSRP_GCM_AES128_REKEY");
  EXPECT_EQ(context.application_protocol(), "grpc");
  EXPECT_EQ(context.peer_attributes().at("env"), "test");
  EXPECT_EQ(context.peer_rpc_versions().max_rpc_version().major(), 2u);
}

TEST_F(EngineTest, UnstatedMaxFrameSizeIs16KiB) {
  HandshakeRun run = Handshake();
  ExpectSuccess(run);
  EXPECT_EQ(run.client_result.max_frame_size(), 16384u);
  EXPECT_EQ(run.server_result.max_frame_size(), 16384u);
  EXPECT_EQ(SendFrameSize(0, 0), 16384u);
  EXPECT_EQ(SendFrameSize(32768, 65536), 32768u);
  EXPECT_EQ(SendFrameSize(0, 1u << 30), 16384u);
  EXPECT_EQ(SendFrameSize(4u << 20, 4u << 20), 1u << 20);
}

TEST_F(EngineTest, EveryChunkingFullAndResumed) {
  EnableResumption();
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{17}, size_t{64},
                       size_t{1000}, SIZE_MAX}) {
    SCOPED_TRACE(chunk);
    RunOptions options;
    options.chunk = chunk;
    client_config_->session_cache = SessionCache::Create();
    HandshakeRun full = Handshake(options);
    ExpectSuccess(full);
    EXPECT_FALSE(client_->handshaker()->result().resumed);
    HandshakeRun resumed = Handshake(options);
    ExpectSuccess(resumed);
    EXPECT_TRUE(client_->handshaker()->result().resumed);
    EXPECT_TRUE(server_->handshaker()->result().resumed);
    EXPECT_NE(full.client_result.key_data(), resumed.client_result.key_data());
  }
}

// ClientFinished coalesced with the first record frames: the server's
// bytes_consumed stops exactly at the end of ClientFinished and the rest
// opens with a RecordProtector built from the server's result.
TEST_F(EngineTest, ClientFinishedCoalescedWithRecordFrames) {
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{100}, SIZE_MAX}) {
    SCOPED_TRACE(chunk);
    std::string sealed;
    RunOptions options;
    options.chunk = chunk;
    options.on_client_result = [&](const grpc::gcp::HandshakerResult& result,
                                   std::string& bytes) {
      absl::StatusOr<RecordProtector> protector = RecordProtector::Create(
          result.record_protocol(), Side::kClient, AsBytes(result.key_data()),
          SendFrameSize(0, result.max_frame_size()));
      ASSERT_TRUE(protector.ok()) << protector.status();
      const std::string hello = "first record from the client";
      sealed.resize(protector->SealedSize(hello.size()));
      ASSERT_TRUE(protector
                      ->Seal(AsBytes(hello), absl::MakeSpan(reinterpret_cast<uint8_t*>(
                                                                sealed.data()),
                                                            sealed.size()))
                      .ok());
      bytes += sealed;
    };
    HandshakeRun run = Handshake(options);
    ExpectSuccess(run);
    ASSERT_EQ(run.server_leftover, sealed);
    absl::StatusOr<RecordProtector> server = MakeRecordProtector(server_->handshaker()->result());
    ASSERT_TRUE(server.ok()) << server.status();
    std::string frames = run.server_leftover;
    absl::StatusOr<OpenResult> opened = server->OpenNext(
        absl::MakeSpan(reinterpret_cast<uint8_t*>(frames.data()), frames.size()));
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(opened->consumed, frames.size());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(opened->plaintext.data()),
                          opened->plaintext.size()),
              "first record from the client");
  }
}

TEST_F(EngineTest, KeysWorkWithRecordProtectorBothWaysForBothProtocols) {
  for (const char* protocol : {"ALTSRP_GCM_AES128_REKEY", "ALTSRP_GCM_AES128"}) {
    SCOPED_TRACE(protocol);
    grpc::gcp::HandshakerReq start = ClientStartReq();
    start.mutable_client_start()->clear_record_protocols();
    start.mutable_client_start()->add_record_protocols(protocol);
    RunOptions options;
    options.server_record_protocols = {"ALTSRP_GCM_AES128_REKEY", "ALTSRP_GCM_AES128"};
    HandshakeRun run = Handshake(options, start);
    ExpectSuccess(run);
    EXPECT_EQ(run.client_result.record_protocol(), protocol);
    absl::StatusOr<RecordProtector> client = MakeRecordProtector(client_->handshaker()->result());
    absl::StatusOr<RecordProtector> server = MakeRecordProtector(server_->handshaker()->result());
    ASSERT_TRUE(client.ok() && server.ok());
    for (int direction = 0; direction < 2; ++direction) {
      RecordProtector& sender = direction == 0 ? *client : *server;
      RecordProtector& receiver = direction == 0 ? *server : *client;
      const std::string message = direction == 0 ? "ping" : "pong";
      std::string frame(sender.SealedSize(message.size()), '\0');
      ASSERT_TRUE(sender.Seal(AsBytes(message),
                              absl::MakeSpan(reinterpret_cast<uint8_t*>(frame.data()),
                                             frame.size()))
                      .ok());
      absl::StatusOr<OpenResult> opened = receiver.OpenNext(
          absl::MakeSpan(reinterpret_cast<uint8_t*>(frame.data()), frame.size()));
      ASSERT_TRUE(opened.ok()) << opened.status();
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(opened->plaintext.data()),
                            opened->plaintext.size()),
                message);
    }
  }
}

TEST_F(EngineTest, ResumedHandshakeSendsNoCertificates) {
  EnableResumption();
  HandshakeRun full = Handshake();
  ExpectSuccess(full);
  EXPECT_EQ(client_config_->session_cache->size(), 1u);
  HandshakeRun resumed = Handshake();
  ExpectSuccess(resumed);
  EXPECT_TRUE(client_->handshaker()->result().resumed);
  std::vector<Message> c2s = SplitMessages(resumed.c2s), s2c = SplitMessages(resumed.s2c);
  ASSERT_EQ(c2s.size(), 2u);
  ASSERT_EQ(s2c.size(), 2u);
  handshake::ClientInit ci;
  ASSERT_TRUE(ci.ParseFromString(c2s[0].bytes.substr(4)));
  EXPECT_EQ(ci.certificate_chain_size(), 0);
  EXPECT_FALSE(ci.ticket().empty());
  handshake::ServerInit si;
  ASSERT_TRUE(si.ParseFromString(s2c[0].bytes.substr(4)));
  EXPECT_TRUE(si.resumed());
  EXPECT_EQ(si.certificate_chain_size(), 0);
  EXPECT_FALSE(si.new_ticket().empty());
  // Identities survive resumption, attributes included.
  EXPECT_EQ(resumed.client_result.peer_identity().service_account(), "server@test");
  EXPECT_EQ(resumed.server_result.peer_identity().service_account(), "client@test");
  EXPECT_EQ(resumed.server_result.peer_identity().attributes().at("env"), "test");
  // The ticket was single-use and replaced by the new one.
  EXPECT_EQ(client_config_->session_cache->size(), 1u);
  HandshakeRun again = Handshake();
  ExpectSuccess(again);
  EXPECT_TRUE(client_->handshaker()->result().resumed);
}

TEST_F(EngineTest, SessionsAreBoundToTheClientCredential) {
  EnableResumption();
  ExpectSuccess(Handshake());
  // Another workload sharing the session cache does not get this session.
  auto other = MakeConfig(pki_.Leaf("other@test"), verifier_, &clock_);
  other->session_cache = client_config_->session_cache;
  std::swap(client_config_, other);
  HandshakeRun run = Handshake();
  ExpectSuccess(run);
  EXPECT_FALSE(client_->handshaker()->result().resumed);
  EXPECT_EQ(run.server_result.peer_identity().service_account(), "other@test");
  std::swap(client_config_, other);
  ExpectSuccess(Handshake());
  EXPECT_TRUE(client_->handshaker()->result().resumed);
}

TEST_F(EngineTest, ForgedTicketFallsBackToFullHandshake) {
  EnableResumption();
  ClientSession forged;
  forged.ticket = std::string(100, 'x');
  forged.server_identity.service_account = "server@test";
  forged.expiry = clock_.Now() + absl::Hours(1);
  forged.server_not_after = clock_.Now() + absl::Hours(1);
  forged.server_root_key_id = pki_.root.key_id();
  client_config_->session_cache->Put(SessionKey(), std::move(forged));
  HandshakeRun run = Handshake();
  ExpectSuccess(run);
  EXPECT_FALSE(client_->handshaker()->result().resumed);
  std::vector<Message> s2c = SplitMessages(run.s2c), c2s = SplitMessages(run.c2s);
  ASSERT_EQ(s2c.size(), 3u);
  EXPECT_EQ(s2c[0].type, static_cast<uint8_t>(MessageType::kServerRetry));
  ASSERT_EQ(c2s.size(), 3u);  // ClientInit(ticket), ClientInit(full), ClientFinished
  EXPECT_EQ(c2s[1].type, static_cast<uint8_t>(MessageType::kClientInit));
}

TEST_F(EngineTest, TamperedTicketFallsBackToFullHandshake) {
  EnableResumption();
  ExpectSuccess(Handshake());
  std::optional<ClientSession> session =
      client_config_->session_cache->Take(SessionKey(), clock_.Now());
  ASSERT_TRUE(session.has_value());
  session->ticket[session->ticket.size() / 2] ^= 0x01;
  client_config_->session_cache->Put(SessionKey(), std::move(*session));
  HandshakeRun run = Handshake();
  ExpectSuccess(run);
  EXPECT_FALSE(client_->handshaker()->result().resumed);
}

TEST_F(EngineTest, ExpiredTicketFallsBackToFullHandshake) {
  EnableResumption();
  ExpectSuccess(Handshake());
  // Keep the client willing to offer it; the server must refuse it.
  std::optional<ClientSession> session =
      client_config_->session_cache->Take(SessionKey(), clock_.Now());
  ASSERT_TRUE(session.has_value());
  session->expiry = absl::InfiniteFuture();
  client_config_->session_cache->Put(SessionKey(), std::move(*session));
  clock_.Advance(kDefaultTicketLifetime + absl::Minutes(1));
  HandshakeRun run = Handshake();
  ExpectSuccess(run);
  EXPECT_FALSE(client_->handshaker()->result().resumed);
  EXPECT_EQ(SplitMessages(run.s2c)[0].type, static_cast<uint8_t>(MessageType::kServerRetry));
}

TEST_F(EngineTest, TicketFromRotatedOutKeyFallsBack) {
  EnableResumption();
  ExpectSuccess(Handshake());
  server_config_->ticket_keys->Rotate();
  server_config_->ticket_keys->Rotate();
  HandshakeRun run = Handshake();
  ExpectSuccess(run);
  EXPECT_FALSE(client_->handshaker()->result().resumed);
}

TEST_F(EngineTest, ServerWithoutTicketKeysAnswersTicketWithRetry) {
  EnableResumption();
  ExpectSuccess(Handshake());
  server_config_->ticket_keys = nullptr;
  HandshakeRun run = Handshake();
  ExpectSuccess(run);
  EXPECT_FALSE(client_->handshaker()->result().resumed);
}

// A party that replays a workload's certificate without its static key gets
// a ticket it cannot use: the resumption secret came from se.
TEST_F(EngineTest, TicketIsUselessWithoutTheClientStaticKey) {
  EnableResumption();
  SecretArray<32> mallory_key;
  uint8_t unused[32];
  X25519_keypair(unused, mallory_key.data());
  auto impostor = MakeConfig(
      *WorkloadCredential::CreateWithoutKeyCheckForTesting(client_cred_->chain(),
                                                           mallory_key.span()),
      verifier_, &clock_);
  impostor->session_cache = SessionCache::Create();
  client_config_ = impostor;
  HandshakeRun run = Handshake();
  // The impostor cannot verify ServerFinished (its se differs).
  EXPECT_EQ(Code(run.client_status), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(run.server_done);
  // It did see the ticket; the best it can do is guess the secret.
  std::vector<Message> s2c = SplitMessages(run.s2c);
  handshake::ServerInit si;
  ASSERT_TRUE(si.ParseFromString(s2c[0].bytes.substr(4)));
  ASSERT_FALSE(si.new_ticket().empty());
  ClientSession stolen;
  stolen.ticket = si.new_ticket();
  stolen.server_identity.service_account = "server@test";
  stolen.expiry = stolen.server_not_after = clock_.Now() + absl::Hours(1);
  stolen.server_root_key_id = pki_.root.key_id();
  impostor->session_cache->Put(SessionCacheKey("server.test", *impostor->credential), std::move(stolen));
  HandshakeRun resumed = Handshake();
  // The server accepts the ticket (it is genuine) but nobody completes.
  EXPECT_EQ(Code(resumed.client_status), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(resumed.server_done);
  handshake::ServerInit resumed_si;
  ASSERT_TRUE(resumed_si.ParseFromString(SplitMessages(resumed.s2c)[0].bytes.substr(4)));
  EXPECT_TRUE(resumed_si.resumed());
}

TEST_F(EngineTest, WrongRootIsUnauthenticated) {
  TestPki other(clock_.Now(), "other-root");
  server_config_->verifier = other.Verifier();
  HandshakeRun run = Handshake();
  EXPECT_EQ(Code(run.server_status), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(run.server_status.message(), HasSubstr("untrusted root"));
  EXPECT_FALSE(run.client_done);
}

TEST_F(EngineTest, ExpiredAndNotYetValidCertificatesAreOutOfRange) {
  client_config_->credential = pki_.Leaf("client@test", false, {}, absl::Hours(2), -absl::Hours(1));
  HandshakeRun expired = Handshake();
  EXPECT_EQ(Code(expired.server_status), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(expired.server_status.message(), HasSubstr("expired"));

  client_config_->credential = pki_.Leaf("client@test", true, {}, -absl::Hours(1), absl::Hours(2));
  HandshakeRun early = Handshake();
  EXPECT_EQ(Code(early.server_status), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(early.server_status.message(), HasSubstr("not yet valid"));

  // The client checks the server's chain the same way.
  client_config_->credential = client_cred_;
  server_config_->credential = pki_.Leaf("server@test", true, {}, absl::Hours(2), -absl::Hours(1));
  HandshakeRun server_expired = Handshake();
  EXPECT_TRUE(server_expired.server_status.ok());
  EXPECT_EQ(Code(server_expired.client_status), absl::StatusCode::kOutOfRange);
}

TEST_F(EngineTest, BadChainSignatureIsUnauthenticated) {
  std::vector<std::string> chain = client_cred_->chain();
  handshake::Certificate certificate;
  ASSERT_TRUE(certificate.ParseFromString(chain[0]));
  std::string signature = certificate.signature();
  signature[10] ^= 0x40;
  certificate.set_signature(signature);
  chain[0] = certificate.SerializeAsString();
  client_config_->credential =
      *WorkloadCredential::Create(chain, client_cred_->private_key().span());
  HandshakeRun run = Handshake();
  EXPECT_EQ(Code(run.server_status), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(run.server_status.message(), HasSubstr("bad signature"));
}

TEST_F(EngineTest, TargetIdentityMismatchIsPermissionDenied) {
  HandshakeRun run = Handshake({}, ClientStartReq({"someone-else@test"}));
  EXPECT_EQ(Code(run.client_status), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(run.server_done);
  ExpectSuccess(Handshake({}, ClientStartReq({"someone-else@test", "server@test"})));
  // A hostname target never matches a service-account certificate.
  grpc::gcp::HandshakerReq start = ClientStartReq();
  start.mutable_client_start()->add_target_identities()->set_hostname("server.test");
  EXPECT_EQ(Code(Handshake({}, start).client_status), absl::StatusCode::kPermissionDenied);
}

TEST_F(EngineTest, ServerMayRestrictClientIdentities) {
  server_config_->accepted_client_identities = {Identity{"other@test", {}}};
  HandshakeRun denied = Handshake();
  EXPECT_EQ(Code(denied.server_status), absl::StatusCode::kPermissionDenied);
  server_config_->accepted_client_identities = {Identity{"client@test", {{"env", "prod"}}}};
  EXPECT_EQ(Code(Handshake().server_status), absl::StatusCode::kPermissionDenied);
  server_config_->accepted_client_identities = {Identity{"client@test", {{"env", "test"}}}};
  ExpectSuccess(Handshake());
  // Also enforced on resumption.
  EnableResumption();
  ExpectSuccess(Handshake());
  server_config_->accepted_client_identities = {Identity{"other@test", {}}};
  EXPECT_EQ(Code(Handshake().server_status), absl::StatusCode::kPermissionDenied);
}

TEST_F(EngineTest, NoCommonProtocolIsFailedPrecondition) {
  grpc::gcp::HandshakerReq start = ClientStartReq();
  start.mutable_client_start()->clear_record_protocols();
  start.mutable_client_start()->add_record_protocols("ALTSRP_GCM_AES128");
  client_ = std::make_unique<HandshakerEngine>(client_config_);
  server_ = std::make_unique<HandshakerEngine>(server_config_);
  grpc::gcp::HandshakerResp ci = client_->Next(start);
  grpc::gcp::HandshakerResp resp = server_->Next(ServerStartReq(ci.out_frames()));
  CheckRespRules(resp, ci.out_frames().size());
  EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(resp.status().details(), HasSubstr("record protocol"));

  start = ClientStartReq();
  start.mutable_client_start()->set_application_protocols(0, "h2");
  EXPECT_EQ(Code(Handshake({}, start).server_status), absl::StatusCode::kFailedPrecondition);
}

TEST_F(EngineTest, RpcVersionMismatchIsFailedPrecondition) {
  grpc::gcp::HandshakerReq start = ClientStartReq();
  auto* v = start.mutable_client_start()->mutable_rpc_versions();
  v->mutable_max_rpc_version()->set_major(3);
  v->mutable_min_rpc_version()->set_major(3);
  v->mutable_min_rpc_version()->set_minor(0);
  HandshakeRun run = Handshake({}, start);
  EXPECT_EQ(Code(run.server_status), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(run.server_status.message(), HasSubstr("RPC versions"));
}

TEST(RpcVersionsTest, RuleSix) {
  const RpcVersionRange v21{{2, 1}, {2, 1}};
  EXPECT_EQ(*NegotiateRpcVersions(v21, v21), (RpcVersion{2, 1}));
  EXPECT_EQ(*NegotiateRpcVersions({{3, 0}, {2, 0}}, {{2, 5}, {1, 0}}), (RpcVersion{2, 5}));
  EXPECT_EQ(NegotiateRpcVersions({{3, 0}, {3, 0}}, v21).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(NegotiateRpcVersions({{2, 0}, {2, 0}}, v21).status().code(),
            absl::StatusCode::kFailedPrecondition);
  grpc::gcp::RpcProtocolVersions missing;
  missing.mutable_max_rpc_version()->set_major(2);
  EXPECT_FALSE(RpcVersionsFromProto(missing).has_value());
}

TEST_F(EngineTest, OversizedMessageRejectedAfterItsHeader) {
  server_ = std::make_unique<HandshakerEngine>(server_config_);
  const std::string header("\x01\x01\x00\x01", 4);  // ClientInit of 65537 bytes
  grpc::gcp::HandshakerResp resp = server_->Next(ServerStartReq(header));
  CheckRespRules(resp, 4);
  EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kResourceExhausted));
  // Sticky.
  resp = server_->Next(NextReq("more"));
  EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kResourceExhausted));
}

TEST_F(EngineTest, TruncatedMessageBodyIsInvalidArgument) {
  client_ = std::make_unique<HandshakerEngine>(client_config_);
  std::string ci = client_->Next(ClientStartReq()).out_frames();
  const std::string cut = Frame(1, ci.substr(4, ci.size() - 5));
  server_ = std::make_unique<HandshakerEngine>(server_config_);
  grpc::gcp::HandshakerResp resp = server_->Next(ServerStartReq(cut));
  EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
  // A message cut short on the wire is not an error: it waits for the rest,
  // until the deadline.
  server_ = std::make_unique<HandshakerEngine>(server_config_);
  resp = server_->Next(ServerStartReq(ci.substr(0, ci.size() - 1)));
  CheckRespRules(resp, ci.size() - 1);
  EXPECT_EQ(resp.status().code(), 0u);
  clock_.Advance(kDefaultHandshakeDeadline);
  resp = server_->Next(NextReq(""));
  EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(EngineTest, UnknownMessageTypeIsInvalidArgument) {
  server_ = std::make_unique<HandshakerEngine>(server_config_);
  grpc::gcp::HandshakerResp resp = server_->Next(ServerStartReq(Frame(9, "abc")));
  EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
  server_ = std::make_unique<HandshakerEngine>(server_config_);
  resp = server_->Next(ServerStartReq(Frame(4, std::string(32, 'x'))));  // Finished first
  EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(resp.status().details(), HasSubstr("unexpected ClientFinished"));
}

TEST_F(EngineTest, DeadlineExceeded) {
  client_ = std::make_unique<HandshakerEngine>(client_config_);
  server_ = std::make_unique<HandshakerEngine>(server_config_);
  grpc::gcp::HandshakerResp ci = client_->Next(ClientStartReq());
  grpc::gcp::HandshakerResp si = server_->Next(ServerStartReq(ci.out_frames()));
  ASSERT_EQ(si.status().code(), 0u);
  clock_.Advance(kDefaultHandshakeDeadline + absl::Milliseconds(1));
  grpc::gcp::HandshakerResp resp = client_->Next(NextReq(si.out_frames()));
  CheckRespRules(resp, si.out_frames().size());
  EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kDeadlineExceeded));
  resp = server_->Next(NextReq(""));
  EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kDeadlineExceeded));
  // A shorter configured deadline applies too.
  server_config_->deadline = absl::Seconds(1);
  server_ = std::make_unique<HandshakerEngine>(server_config_);
  ASSERT_EQ(server_->Next(ServerStartReq("\x01")).status().code(), 0u);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(server_->Next(NextReq("\x00")).status().code(),
            static_cast<uint32_t>(absl::StatusCode::kDeadlineExceeded));
}

// A replayed ClientInit meets a fresh server ephemeral: the server never
// completes a session, and the replayed ClientFinished does not verify.
TEST_F(EngineTest, ReplayedClientInitNeverCompletes) {
  HandshakeRun original = Handshake();
  ExpectSuccess(original);
  std::vector<Message> c2s = SplitMessages(original.c2s);
  ASSERT_EQ(c2s.size(), 2u);
  const std::string original_si = SplitMessages(original.s2c)[0].bytes;
  for (bool coalesced : {false, true}) {
    SCOPED_TRACE(coalesced);
    HandshakerEngine server(server_config_);
    grpc::gcp::HandshakerResp resp =
        server.Next(ServerStartReq(coalesced ? original.c2s : c2s[0].bytes));
    CheckRespRules(resp, coalesced ? original.c2s.size() : c2s[0].bytes.size());
    if (!coalesced) {
      ASSERT_EQ(resp.status().code(), 0u);
      const std::string replay_si = SplitMessages(resp.out_frames())[0].bytes;
      EXPECT_NE(replay_si, original_si);  // fresh ephemeral and random
      resp = server.Next(NextReq(c2s[1].bytes));
    }
    EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kDataLoss));
    EXPECT_FALSE(resp.has_result());
    EXPECT_FALSE(server.done());
  }
}

TEST_F(EngineTest, SmallOrderEphemeralIsRejected) {
  client_ = std::make_unique<HandshakerEngine>(client_config_);
  const std::string ci = client_->Next(ClientStartReq()).out_frames();
  handshake::ClientInit init;
  ASSERT_TRUE(init.ParseFromString(ci.substr(4)));
  // 0 and 1 are small-order points: the shared secret is all zeros.
  for (uint8_t low : {uint8_t{0}, uint8_t{1}}) {
    std::string point(32, '\0');
    point[0] = static_cast<char>(low);
    init.set_ephemeral_key(point);
    HandshakerEngine server(server_config_);
    grpc::gcp::HandshakerResp resp =
        server.Next(ServerStartReq(Frame(1, init.SerializeAsString())));
    EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(resp.status().details(), HasSubstr("all zeros"));
  }
}

TEST_F(EngineTest, RequestsOutOfOrderAndBadStarts) {
  HandshakerEngine fresh(server_config_);
  EXPECT_EQ(fresh.Next(NextReq("x")).status().code(),
            static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition));
  // Sticky from now on.
  EXPECT_EQ(fresh.Next(ServerStartReq("")).status().code(),
            static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition));

  HandshakerEngine empty(server_config_);
  EXPECT_EQ(empty.Next(grpc::gcp::HandshakerReq()).status().code(),
            static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));

  grpc::gcp::HandshakerReq tls = ClientStartReq();
  tls.mutable_client_start()->set_handshake_security_protocol(grpc::gcp::TLS);
  EXPECT_EQ(HandshakerEngine(client_config_).Next(tls).status().code(),
            static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));

  grpc::gcp::HandshakerReq no_versions = ClientStartReq();
  no_versions.mutable_client_start()->clear_rpc_versions();
  EXPECT_EQ(HandshakerEngine(client_config_).Next(no_versions).status().code(),
            static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));

  grpc::gcp::HandshakerReq no_alts = ServerStartReq("");
  no_alts.mutable_server_start()->clear_handshake_parameters();
  EXPECT_EQ(HandshakerEngine(server_config_).Next(no_alts).status().code(),
            static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));

  grpc::gcp::HandshakerReq wrong_local = ClientStartReq();
  wrong_local.mutable_client_start()->mutable_local_identity()->set_service_account("x@test");
  EXPECT_EQ(HandshakerEngine(client_config_).Next(wrong_local).status().code(),
            static_cast<uint32_t>(absl::StatusCode::kNotFound));

  // After the result, further requests are refused but the result stands.
  HandshakeRun run = Handshake();
  ExpectSuccess(run);
  grpc::gcp::HandshakerResp after = server_->Next(NextReq("x"));
  EXPECT_EQ(after.status().code(), static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(server_->done());
  EXPECT_EQ(client_->Next(ClientStartReq()).status().code(),
            static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition));
}

TEST_F(EngineTest, BothChainShapesWork) {
  for (bool client_via_intermediate : {false, true}) {
    for (bool server_via_intermediate : {false, true}) {
      client_config_->credential = pki_.Leaf("client@test", client_via_intermediate);
      server_config_->credential = pki_.Leaf("server@test", server_via_intermediate);
      ExpectSuccess(Handshake());
    }
  }
}

TEST_F(EngineTest, TypedHandshakerWithoutProtobufRequests) {
  auto client = *Handshaker::Create(Side::kClient, client_config_, HandshakeParams());
  auto server = *Handshaker::Create(Side::kServer, server_config_, HandshakeParams());
  std::string c2s, s2c;
  ASSERT_TRUE(client->Start(&c2s).ok());
  absl::StatusOr<size_t> n = server->Step(AsBytes(c2s), &s2c);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, c2s.size());
  c2s.clear();
  n = client->Step(AsBytes(s2c), &c2s);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_TRUE(client->done());
  n = server->Step(AsBytes(c2s), &s2c);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_TRUE(server->done());
  EXPECT_TRUE(std::equal(client->result().key_data.span().begin(),
                         client->result().key_data.span().end(),
                         server->result().key_data.span().begin()));
  EXPECT_EQ(client->result().peer_identity.service_account, "server@test");
  EXPECT_EQ(server->result().side, Side::kServer);
}

}  // namespace
}  // namespace alts::testing
