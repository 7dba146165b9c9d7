// The handshaker service's per-stream logic without a transport: both roles
// against each other (whole and byte-at-a-time), identity selection, target
// and --allow enforcement, and every error path of the service rules: which
// failures answer on the first response, which end the stream with a
// status, and that a finished stream stays silent.

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/handshaker_service/hss_test_util.h"
#include "tools/alts_handshaker_service/handshake_stream.h"

namespace alts::handshaker_service {
namespace {

using testing::Call;
using testing::ClientStart;
using testing::Exchange;
using testing::Next;
using testing::PairRun;
using testing::RunPair;
using testing::ServerStart;
using testing::ServicePki;
using testing::StreamSender;

class HandshakeStreamTest : public ::testing::Test {
 protected:
  ServicePki pki_;
};

TEST_F(HandshakeStreamTest, ClientAndServerCompleteWithIdenticalKeys) {
  auto client_ids = pki_.Identities({"client@test"});
  auto server_ids = pki_.Identities({"server@test"});
  HandshakeStream client(client_ids), server(server_ids);
  PairRun run = RunPair(StreamSender(client), StreamSender(server), ClientStart({"server@test"}));
  ASSERT_TRUE(run.client_done) << run.client_status;
  ASSERT_TRUE(run.server_done) << run.server_status;
  EXPECT_EQ(run.client_result.key_data(), run.server_result.key_data());
  EXPECT_EQ(run.client_result.peer_identity().service_account(), "server@test");
  EXPECT_EQ(run.client_result.peer_identity().attributes().at("env"), "test");
  EXPECT_EQ(run.server_result.peer_identity().service_account(), "client@test");
  EXPECT_EQ(run.server_result.peer_identity().attributes().at("team"), "qa");
  EXPECT_EQ(run.client_result.local_identity().service_account(), "client@test");
  EXPECT_EQ(run.client_result.peer_rpc_versions().max_rpc_version().major(), 2u);
  EXPECT_EQ(client.outcome(), StreamOutcome::kCompleted);
  EXPECT_EQ(server.outcome(), StreamOutcome::kCompleted);
  EXPECT_EQ(client.peer(), "server@test");
  EXPECT_EQ(server.peer(), "client@test");
  // The engines are gone with their secrets.
  EXPECT_EQ(client.engine(), nullptr);
  EXPECT_EQ(server.engine(), nullptr);
}

TEST_F(HandshakeStreamTest, OneByteAtATimeEveryRequestAnsweredAndConsumed) {
  auto ids = pki_.Identities({"server@test", "client@test"});
  HandshakeStream client(ids), server(ids);
  PairRun run = RunPair(StreamSender(client), StreamSender(server),
                        ClientStart({"server@test"}, "client@test"), 1);
  ASSERT_TRUE(run.client_done) << run.client_status;
  ASSERT_TRUE(run.server_done) << run.server_status;
  EXPECT_EQ(run.client_result.key_data(), run.server_result.key_data());
  EXPECT_GT(run.requests, 100);
}

TEST_F(HandshakeStreamTest, OneServiceServesBothSidesAndResumes) {
  auto ids = pki_.Identities({"server@test", "client@test"});
  for (int i = 0; i < 2; ++i) {
    HandshakeStream client(ids), server(ids);
    PairRun run = RunPair(StreamSender(client), StreamSender(server),
                          ClientStart({"server@test"}, "client@test"));
    ASSERT_TRUE(run.client_done && run.server_done) << run.client_status << run.server_status;
    EXPECT_EQ(run.server_result.peer_identity().service_account(), "client@test");
    EXPECT_EQ(run.client_result.peer_identity().service_account(), "server@test");
  }
}

TEST_F(HandshakeStreamTest, LocalIdentitySelectsTheCredential) {
  auto ids = pki_.Identities({"server@test", "other@test", "client@test"});
  HandshakeStream client(ids), server(ids);
  // The client asks for client@test; the server side lists other@test.
  grpc::gcp::HandshakerReq start = ClientStart({"other@test"}, "client@test");
  Exchange first = Call(client, start);
  ASSERT_TRUE(first.has_response);
  ASSERT_EQ(first.resp.status().code(), 0u) << first.resp.status().details();
  Exchange s = Call(server, ServerStart(first.resp.out_frames(), {"nobody@test", "other@test"}));
  ASSERT_EQ(s.resp.status().code(), 0u) << s.resp.status().details();
  Exchange c = Call(client, Next(s.resp.out_frames()));
  ASSERT_TRUE(c.resp.has_result());
  EXPECT_EQ(c.resp.result().local_identity().service_account(), "client@test");
  EXPECT_EQ(c.resp.result().peer_identity().service_account(), "other@test");
  Exchange done = Call(server, Next(c.resp.out_frames()));
  ASSERT_TRUE(done.resp.has_result());
  EXPECT_EQ(done.resp.result().local_identity().service_account(), "other@test");
  EXPECT_EQ(done.resp.result().peer_identity().service_account(), "client@test");
  EXPECT_EQ(server.local(), "other@test");
}

TEST_F(HandshakeStreamTest, LocalIdentityWithAttributesMustMatchThem) {
  auto ids = pki_.Identities({"client@test"});
  {
    HandshakeStream stream(ids);
    grpc::gcp::HandshakerReq start = ClientStart();
    auto* local = start.mutable_client_start()->mutable_local_identity();
    local->set_service_account("client@test");
    (*local->mutable_attributes())["team"] = "qa";
    EXPECT_EQ(Call(stream, start).resp.status().code(), 0u);
  }
  HandshakeStream stream(ids);
  grpc::gcp::HandshakerReq start = ClientStart();
  auto* local = start.mutable_client_start()->mutable_local_identity();
  local->set_service_account("client@test");
  (*local->mutable_attributes())["team"] = "ops";
  Exchange ex = Call(stream, start);
  EXPECT_EQ(ex.resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kNotFound));
}

TEST_F(HandshakeStreamTest, UnknownLocalIdentityIsNotFoundOnTheFirstResponse) {
  auto ids = pki_.Identities({"client@test"});
  for (bool hostname : {false, true}) {
    HandshakeStream stream(ids);
    grpc::gcp::HandshakerReq start = ClientStart({}, hostname ? "" : "nobody@test");
    if (hostname) start.mutable_client_start()->mutable_local_identity()->set_hostname("h.test");
    Exchange ex = Call(stream, start);
    ASSERT_TRUE(ex.has_response);
    EXPECT_EQ(ex.resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kNotFound));
    EXPECT_NE(ex.resp.status().details().find(hostname ? "hostname h.test" : "nobody@test"),
              std::string::npos)
        << ex.resp.status().details();
    EXPECT_TRUE(ex.ended);
    EXPECT_EQ(ex.status.code(), absl::StatusCode::kNotFound);
    EXPECT_EQ(stream.outcome(), StreamOutcome::kFailed);
  }
  HandshakeStream server(ids);
  Exchange ex = Call(server, ServerStart("", {"nobody@test"}));
  EXPECT_EQ(ex.resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kNotFound));
}

TEST_F(HandshakeStreamTest, FirstRequestThatCannotStartGetsAStatusResponse) {
  auto ids = pki_.Identities({"server@test"});
  struct Case {
    std::string name;
    grpc::gcp::HandshakerReq req;
    absl::StatusCode code;
  };
  std::vector<Case> cases;
  cases.push_back({"next first", Next("abc"), absl::StatusCode::kFailedPrecondition});
  cases.push_back({"empty", grpc::gcp::HandshakerReq(), absl::StatusCode::kInvalidArgument});
  grpc::gcp::HandshakerReq tls = ClientStart();
  tls.mutable_client_start()->set_handshake_security_protocol(grpc::gcp::TLS);
  cases.push_back({"TLS", tls, absl::StatusCode::kInvalidArgument});
  grpc::gcp::HandshakerReq no_versions = ClientStart();
  no_versions.mutable_client_start()->clear_rpc_versions();
  cases.push_back({"no rpc versions", no_versions, absl::StatusCode::kInvalidArgument});
  grpc::gcp::HandshakerReq no_apps = ClientStart();
  no_apps.mutable_client_start()->clear_application_protocols();
  cases.push_back({"no application protocols", no_apps, absl::StatusCode::kInvalidArgument});
  grpc::gcp::HandshakerReq bad_record = ClientStart();
  bad_record.mutable_client_start()->clear_record_protocols();
  bad_record.mutable_client_start()->add_record_protocols("ALTSRP_NONE");
  cases.push_back({"unknown record protocol", bad_record, absl::StatusCode::kInvalidArgument});
  grpc::gcp::HandshakerReq no_alts = ServerStart("");
  no_alts.mutable_server_start()->mutable_handshake_parameters()->clear();
  cases.push_back({"server_start without ALTS", no_alts, absl::StatusCode::kInvalidArgument});
  grpc::gcp::HandshakerReq many = ServerStart("");
  for (size_t i = 0; i <= kMaxRequestedIdentities; ++i) {
    (*many.mutable_server_start()->mutable_handshake_parameters())[grpc::gcp::ALTS]
        .add_local_identities()
        ->set_service_account("server@test");
  }
  cases.push_back({"too many local identities", many, absl::StatusCode::kInvalidArgument});
  grpc::gcp::HandshakerReq garbage_init = ServerStart(std::string("\x09\x00\x00\x01x", 5));
  cases.push_back({"server_start with garbage", garbage_init, absl::StatusCode::kInvalidArgument});
  for (const Case& c : cases) {
    HandshakeStream stream(ids);
    Exchange ex = Call(stream, c.req);
    ASSERT_TRUE(ex.has_response) << c.name;
    EXPECT_EQ(ex.resp.status().code(), static_cast<uint32_t>(c.code))
        << c.name << ": " << ex.resp.status().details();
    EXPECT_FALSE(ex.resp.status().details().empty()) << c.name;
    EXPECT_TRUE(ex.ended) << c.name;
    EXPECT_EQ(ex.status.code(), c.code) << c.name;
    // Silent afterwards.
    Exchange after = Call(stream, Next("x"));
    EXPECT_FALSE(after.has_response || after.ended) << c.name;
  }
}

TEST_F(HandshakeStreamTest, UnparsableAndOversizedRequests) {
  auto ids = pki_.Identities({"server@test"});
  {
    HandshakeStream stream(ids);
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    StreamAction a = stream.OnRequest(junk);
    ASSERT_TRUE(a.write);
    grpc::gcp::HandshakerResp resp;
    ASSERT_TRUE(resp.ParseFromString(a.response));
    EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
    EXPECT_TRUE(a.finish);
  }
  {
    HandshakeStream stream(ids);
    std::string big(kMaxHandshakerRequestSize + 1, 'x');
    StreamAction a = stream.OnRequest(
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(big.data()), big.size()));
    ASSERT_TRUE(a.write);
    EXPECT_EQ(a.status.code(), absl::StatusCode::kResourceExhausted);
  }
  {
    // Later: the stream ends with the status and no response.
    HandshakeStream stream(ids);
    ASSERT_EQ(Call(stream, ServerStart("")).resp.status().code(), 0u);
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    StreamAction a = stream.OnRequest(junk);
    EXPECT_FALSE(a.write);
    EXPECT_TRUE(a.finish);
    EXPECT_EQ(a.status.code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(HandshakeStreamTest, LaterFailuresEndTheStreamWithoutAResponse) {
  auto ids = pki_.Identities({"server@test"});
  {
    HandshakeStream stream(ids);
    ASSERT_EQ(Call(stream, ServerStart("")).resp.status().code(), 0u);
    Exchange again = Call(stream, ClientStart());
    EXPECT_FALSE(again.has_response);
    EXPECT_TRUE(again.ended);
    EXPECT_EQ(again.status.code(), absl::StatusCode::kFailedPrecondition);
  }
  {
    HandshakeStream stream(ids);
    ASSERT_EQ(Call(stream, ServerStart("")).resp.status().code(), 0u);
    Exchange empty = Call(stream, grpc::gcp::HandshakerReq());
    EXPECT_FALSE(empty.has_response);
    EXPECT_EQ(empty.status.code(), absl::StatusCode::kInvalidArgument);
  }
  {
    // A message type the server does not expect, in a later request.
    HandshakeStream stream(ids);
    ASSERT_EQ(Call(stream, ServerStart("")).resp.status().code(), 0u);
    Exchange bad = Call(stream, Next(std::string("\x04\x00\x00\x20", 4) + std::string(32, 'm')));
    EXPECT_FALSE(bad.has_response);
    EXPECT_TRUE(bad.ended);
    EXPECT_EQ(bad.status.code(), absl::StatusCode::kInvalidArgument) << bad.status;
  }
}

TEST_F(HandshakeStreamTest, TargetIdentityMismatchFailsTheClientWithPermissionDenied) {
  auto ids = pki_.Identities({"server@test", "client@test"});
  HandshakeStream client(ids), server(ids);
  PairRun run = RunPair(StreamSender(client), StreamSender(server),
                        ClientStart({"someone-else@test"}, "client@test"));
  EXPECT_FALSE(run.client_done);
  EXPECT_EQ(run.client_status.code(), absl::StatusCode::kPermissionDenied) << run.client_status;
  EXPECT_NE(run.client_status.message().find("server@test"), std::string::npos);
  EXPECT_FALSE(run.server_done);
  EXPECT_EQ(client.outcome(), StreamOutcome::kFailed);
}

TEST_F(HandshakeStreamTest, AllowListRefusesOtherClients) {
  auto client_ids = pki_.Identities({"other@test", "client@test"});
  auto server_ids = pki_.Identities({"server@test"}, [](ServiceOptions& o) {
    o.allowed_peers = {Identity{"client@test", {{"team", "qa"}}}};
  });
  {
    HandshakeStream client(client_ids), server(server_ids);
    PairRun run = RunPair(StreamSender(client), StreamSender(server),
                          ClientStart({"server@test"}, "client@test"));
    EXPECT_TRUE(run.client_done && run.server_done) << run.server_status;
  }
  HandshakeStream client(client_ids), server(server_ids);
  PairRun run = RunPair(StreamSender(client), StreamSender(server),
                        ClientStart({"server@test"}, "other@test"));
  EXPECT_FALSE(run.server_done);
  // The server refuses on its first response (ClientInit is in server_start).
  EXPECT_EQ(run.server_status.code(), absl::StatusCode::kPermissionDenied) << run.server_status;
  EXPECT_NE(run.server_status.message().find("other@test"), std::string::npos);
}

TEST_F(HandshakeStreamTest, UntrustedRootsFailOnBothSides) {
  // The client's chain is under a root the server does not trust.
  auto stranger_ids = pki_.Identities({"stranger"});
  auto server_ids = pki_.Identities({"server@test"});
  {
    HandshakeStream client(stranger_ids), server(server_ids);
    PairRun run = RunPair(StreamSender(client), StreamSender(server), ClientStart());
    EXPECT_EQ(run.server_status.code(), absl::StatusCode::kUnauthenticated) << run.server_status;
  }
  // The server's chain is not trusted by the client's service.
  auto client_ids = pki_.Identities({"client@test"}, [&](ServiceOptions& o) {
    o.verifier = pki_.untrusted.Verifier();
  });
  HandshakeStream client(client_ids), server(server_ids);
  PairRun run = RunPair(StreamSender(client), StreamSender(server), ClientStart());
  EXPECT_FALSE(run.client_done);
  EXPECT_EQ(run.client_status.code(), absl::StatusCode::kUnauthenticated) << run.client_status;
}

TEST_F(HandshakeStreamTest, TamperedFlightEndsTheStreamWithDataLoss) {
  auto ids = pki_.Identities({"server@test", "client@test"});
  HandshakeStream client(ids), server(ids);
  Exchange c = Call(client, ClientStart({}, "client@test"));
  Exchange s = Call(server, ServerStart(c.resp.out_frames()));
  std::string flight = s.resp.out_frames();
  flight.back() ^= 1;  // the ServerFinished MAC
  Exchange bad = Call(client, Next(flight));
  EXPECT_FALSE(bad.has_response);
  EXPECT_EQ(bad.status.code(), absl::StatusCode::kDataLoss) << bad.status;
}

TEST_F(HandshakeStreamTest, HalfCloseDeadlineRefuseCancelAndFail) {
  auto ids = pki_.Identities({"server@test"}, [](ServiceOptions& o) {
    o.handshake_timeout = absl::Milliseconds(250);
  });
  {
    HandshakeStream stream(ids);
    ASSERT_EQ(Call(stream, ServerStart("")).resp.status().code(), 0u);
    StreamAction a = stream.OnHalfClose();
    EXPECT_FALSE(a.write);
    EXPECT_TRUE(a.finish);
    EXPECT_EQ(a.status.code(), absl::StatusCode::kCancelled);
    EXPECT_EQ(stream.outcome(), StreamOutcome::kAbandoned);
    EXPECT_FALSE(stream.OnHalfClose().finish);  // once
  }
  {
    HandshakeStream stream(ids);
    ASSERT_EQ(Call(stream, ServerStart("")).resp.status().code(), 0u);
    StreamAction a = stream.OnDeadline(false);
    EXPECT_FALSE(a.write);
    EXPECT_EQ(a.status.code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_NE(a.status.message().find("250ms"), std::string::npos) << a.status;
  }
  {
    // A first request still waiting for a slot is answered with the status.
    HandshakeStream stream(ids);
    StreamAction a = stream.OnDeadline(true);
    ASSERT_TRUE(a.write);
    grpc::gcp::HandshakerResp resp;
    ASSERT_TRUE(resp.ParseFromString(a.response));
    EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kDeadlineExceeded));
    EXPECT_EQ(stream.outcome(), StreamOutcome::kAbandoned);
  }
  {
    HandshakeStream stream(ids);
    StreamAction a = stream.Refuse(absl::ResourceExhaustedError("full"));
    ASSERT_TRUE(a.write);
    EXPECT_EQ(a.status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_FALSE(stream.Refuse(absl::ResourceExhaustedError("again")).write);
  }
  {
    HandshakeStream stream(ids);
    ASSERT_EQ(Call(stream, ServerStart("")).resp.status().code(), 0u);
    ASSERT_NE(stream.engine(), nullptr);
    stream.OnCancel();
    EXPECT_TRUE(stream.finished());
    EXPECT_EQ(stream.engine(), nullptr);
    EXPECT_FALSE(Call(stream, Next("x")).has_response);
  }
  {
    HandshakeStream stream(ids);
    ASSERT_EQ(Call(stream, ServerStart("")).resp.status().code(), 0u);
    StreamAction a = stream.Fail(absl::FailedPreconditionError("out of step"));
    EXPECT_FALSE(a.write);
    EXPECT_TRUE(a.finish);
    EXPECT_EQ(stream.outcome(), StreamOutcome::kFailed);
  }
}

TEST_F(HandshakeStreamTest, EngineDeadlineCountsFromTheInjectedClock) {
  alts::testing::FakeClock clock(absl::Now());
  auto ids = pki_.Identities({"server@test", "client@test"}, [&](ServiceOptions& o) {
    o.clock = &clock;
    o.handshake_timeout = absl::Seconds(5);
  });
  HandshakeStream client(ids), server(ids);
  Exchange c = Call(client, ClientStart());
  Exchange s = Call(server, ServerStart(c.resp.out_frames()));
  clock.Advance(absl::Seconds(6));
  Exchange late = Call(client, Next(s.resp.out_frames()));
  EXPECT_FALSE(late.has_response);
  EXPECT_EQ(late.status.code(), absl::StatusCode::kDeadlineExceeded) << late.status;
}

TEST(ServiceIdentitiesTest, CreateRejectsBadOptions) {
  ServicePki pki;
  ServiceOptions none = pki.Options({});
  EXPECT_EQ(ServiceIdentities::Create(none).status().code(), absl::StatusCode::kInvalidArgument);
  ServiceOptions no_roots = pki.Options({"server@test"});
  no_roots.verifier = nullptr;
  EXPECT_EQ(ServiceIdentities::Create(no_roots).status().code(),
            absl::StatusCode::kInvalidArgument);
  ServiceOptions twice = pki.Options({"server@test", "server@test"});
  EXPECT_EQ(ServiceIdentities::Create(twice).status().code(), absl::StatusCode::kInvalidArgument);
  ServiceOptions zero = pki.Options({"server@test"});
  zero.handshake_timeout = absl::ZeroDuration();
  EXPECT_EQ(ServiceIdentities::Create(zero).status().code(), absl::StatusCode::kInvalidArgument);
  ServiceOptions ok = pki.Options({"server@test", "client@test"});
  absl::StatusOr<std::shared_ptr<const ServiceIdentities>> ids = ServiceIdentities::Create(ok);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ((*ids)->size(), 2u);
  EXPECT_EQ((*ids)->identity(0).service_account, "server@test");
}

}  // namespace
}  // namespace alts::handshaker_service
