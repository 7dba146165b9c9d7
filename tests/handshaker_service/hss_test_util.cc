#include "tests/handshaker_service/hss_test_util.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace alts::handshaker_service::testing {

ServicePki::ServicePki()
    : pki(absl::Now()),
      untrusted(absl::Now(), "untrusted-root"),
      server(pki.Leaf("server@test", false, {{"env", "test"}})),
      client(pki.Leaf("client@test", true, {{"team", "qa"}})),
      other(pki.Leaf("other@test")),
      stranger(untrusted.Leaf("client@test")) {}

ServiceOptions ServicePki::Options(const std::vector<std::string>& accounts) const {
  ServiceOptions options;
  for (const std::string& account : accounts) {
    if (account == "server@test") {
      options.credentials.push_back(server);
    } else if (account == "client@test") {
      options.credentials.push_back(client);
    } else if (account == "other@test") {
      options.credentials.push_back(other);
    } else if (account == "stranger") {
      options.credentials.push_back(stranger);
    } else {
      ADD_FAILURE() << "no test credential " << account;
    }
  }
  options.verifier = pki.Verifier();
  return options;
}

std::shared_ptr<const ServiceIdentities> ServicePki::Identities(
    const std::vector<std::string>& accounts,
    const std::function<void(ServiceOptions&)>& tune) const {
  ServiceOptions options = Options(accounts);
  if (tune) tune(options);
  absl::StatusOr<std::shared_ptr<const ServiceIdentities>> identities =
      ServiceIdentities::Create(std::move(options));
  EXPECT_TRUE(identities.ok()) << identities.status();
  return identities.ok() ? *identities : nullptr;
}

namespace {

// SetGrpcVersions sets gRPC's RPC versions, 2.1 to 2.1.
void SetGrpcVersions(grpc::gcp::RpcProtocolVersions* versions) {
  versions->mutable_max_rpc_version()->set_major(2);
  versions->mutable_max_rpc_version()->set_minor(1);
  versions->mutable_min_rpc_version()->set_major(2);
  versions->mutable_min_rpc_version()->set_minor(1);
}

}  // namespace

grpc::gcp::HandshakerReq ClientStart(const std::vector<std::string>& targets,
                                     const std::string& local) {
  grpc::gcp::HandshakerReq req;
  grpc::gcp::StartClientHandshakeReq* start = req.mutable_client_start();
  start->set_handshake_security_protocol(grpc::gcp::ALTS);
  start->add_application_protocols("grpc");
  start->add_record_protocols("ALTSRP_GCM_AES128_REKEY");
  for (const std::string& t : targets) start->add_target_identities()->set_service_account(t);
  if (!local.empty()) start->mutable_local_identity()->set_service_account(local);
  start->set_target_name("127.0.0.1:443");
  SetGrpcVersions(start->mutable_rpc_versions());
  return req;
}

grpc::gcp::HandshakerReq ServerStart(const std::string& in_bytes,
                                     const std::vector<std::string>& locals) {
  grpc::gcp::HandshakerReq req;
  grpc::gcp::StartServerHandshakeReq* start = req.mutable_server_start();
  start->add_application_protocols("grpc");
  grpc::gcp::ServerHandshakeParameters& params =
      (*start->mutable_handshake_parameters())[grpc::gcp::ALTS];
  params.add_record_protocols("ALTSRP_GCM_AES128_REKEY");
  for (const std::string& l : locals) params.add_local_identities()->set_service_account(l);
  start->set_in_bytes(in_bytes);
  SetGrpcVersions(start->mutable_rpc_versions());
  return req;
}

grpc::gcp::HandshakerReq Next(const std::string& in_bytes) {
  grpc::gcp::HandshakerReq req;
  req.mutable_next()->set_in_bytes(in_bytes);
  return req;
}

namespace {

// Accept checks one exchange against the service rules. Returns false (and
// records the failure in `status`) if the side cannot go on.
bool Accept(const Exchange& ex, size_t in_size, absl::Status* status, bool* done,
            grpc::gcp::HandshakerResult* result) {
  if (!ex.has_response) {
    EXPECT_TRUE(ex.ended) << "no response, yet the stream goes on";
    *status = ex.status.ok() ? absl::InternalError("the stream ended without a response")
                             : ex.status;
    return false;
  }
  if (ex.resp.status().code() != 0) {
    EXPECT_TRUE(ex.ended) << "a failed response must end the stream";
    EXPECT_FALSE(ex.resp.has_result());
    *status = absl::Status(static_cast<absl::StatusCode>(ex.resp.status().code()),
                           ex.resp.status().details());
    return false;
  }
  if (!ex.resp.has_result()) {
    EXPECT_FALSE(ex.ended) << "the stream ended before the result: " << ex.status;
    EXPECT_EQ(ex.resp.bytes_consumed(), in_size) << "rule 2: everything consumed before the result";
    if (ex.ended) {
      *status = ex.status;
      return false;
    }
    return true;
  }
  EXPECT_TRUE(ex.ended) << "rule 5: the stream ends right after the result";
  EXPECT_TRUE(ex.status.ok()) << ex.status;
  EXPECT_LE(ex.resp.bytes_consumed(), in_size);
  const grpc::gcp::HandshakerResult& r = ex.resp.result();
  EXPECT_EQ(r.application_protocol(), "grpc");
  EXPECT_EQ(r.record_protocol(), "ALTSRP_GCM_AES128_REKEY");
  EXPECT_GE(r.key_data().size(), 44u);
  EXPECT_FALSE(r.peer_identity().service_account().empty());
  EXPECT_FALSE(r.local_identity().service_account().empty());
  EXPECT_TRUE(r.has_peer_rpc_versions());
  EXPECT_GT(r.max_frame_size(), 0u);
  *done = true;
  *result = r;
  return true;
}

std::string Take(std::string& from, size_t chunk) {
  std::string piece = from.substr(0, std::min(chunk, from.size()));
  from.erase(0, piece.size());
  return piece;
}

}  // namespace

PairRun RunPair(const Sender& client, const Sender& server,
                const grpc::gcp::HandshakerReq& client_start, size_t chunk) {
  PairRun run;
  Exchange first = client(client_start);
  ++run.requests;
  EXPECT_TRUE(!first.has_response || first.resp.has_status()) << "rule 1: status on every response";
  if (!Accept(first, 0, &run.client_status, &run.client_done, &run.client_result)) return run;
  std::string to_server = first.resp.out_frames();
  std::string to_client;
  bool server_started = false;
  // A handshake is two flights each way at most; more rounds are a stall.
  for (int round = 0; round < 8 && !(run.client_done && run.server_done); ++round) {
    bool progressed = false;
    while (!to_server.empty() && !run.server_done) {
      const std::string piece = Take(to_server, chunk);
      Exchange ex = server(server_started ? Next(piece) : ServerStart(piece));
      server_started = true;
      ++run.requests;
      progressed = true;
      if (!Accept(ex, piece.size(), &run.server_status, &run.server_done, &run.server_result)) {
        return run;
      }
      to_client += ex.resp.out_frames();
    }
    while (!to_client.empty() && !run.client_done) {
      const std::string piece = Take(to_client, chunk);
      Exchange ex = client(Next(piece));
      ++run.requests;
      progressed = true;
      if (!Accept(ex, piece.size(), &run.client_status, &run.client_done, &run.client_result)) {
        return run;
      }
      to_server += ex.resp.out_frames();
    }
    if (!progressed) break;
  }
  return run;
}

Exchange Call(HandshakeStream& stream, const grpc::gcp::HandshakerReq& req) {
  const bool was_finished = stream.finished();
  std::string bytes;
  req.SerializeToString(&bytes);
  StreamAction action = stream.OnRequest(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  Exchange ex;
  if (was_finished) {
    EXPECT_FALSE(action.write || action.finish) << "a finished stream acted";
  }
  if (action.write) {
    ex.has_response = true;
    EXPECT_TRUE(ex.resp.ParseFromString(action.response));
  }
  ex.ended = action.finish;
  ex.status = action.status;
  if (!was_finished) EXPECT_EQ(action.finish, stream.finished());
  return ex;
}

Sender StreamSender(HandshakeStream& stream) {
  return [&stream](const grpc::gcp::HandshakerReq& req) { return Call(stream, req); };
}

}  // namespace alts::handshaker_service::testing
