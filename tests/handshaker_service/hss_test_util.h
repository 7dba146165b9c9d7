#ifndef ALTS_TESTS_HANDSHAKER_SERVICE_HSS_TEST_UTIL_H_
#define ALTS_TESTS_HANDSHAKER_SERVICE_HSS_TEST_UTIL_H_

// Shared pieces of the handshaker service tests: a PKI with the identities
// the tests use, and a driver that runs a client-role and a server-role
// DoHandshake conversation against each other the way gRPC's ALTS clients
// do (client_start; server_start with the client's first bytes; next with
// whatever the peer sent), over any transport.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "handshaker/proto/handshaker.pb.h"
#include "tests/handshaker/handshaker_test_util.h"
#include "tools/alts_handshaker_service/handshake_stream.h"

namespace alts::handshaker_service::testing {

// ServicePki is a root with the test workloads: server@test, client@test
// and other@test (an extra credential a service may hold), plus a second,
// untrusted root with its own client.
struct ServicePki {
  ServicePki();
  // Options returns service options holding `accounts` (first = default),
  // trusting the main root.
  ServiceOptions Options(const std::vector<std::string>& accounts) const;
  // Identities builds ServiceIdentities from Options(accounts), tuned by
  // `tune`; fails the test on error.
  std::shared_ptr<const ServiceIdentities> Identities(
      const std::vector<std::string>& accounts,
      const std::function<void(ServiceOptions&)>& tune = {}) const;

  alts::testing::TestPki pki;
  alts::testing::TestPki untrusted;
  std::shared_ptr<const WorkloadCredential> server;
  std::shared_ptr<const WorkloadCredential> client;
  std::shared_ptr<const WorkloadCredential> other;
  std::shared_ptr<const WorkloadCredential> stranger;  // under `untrusted`
};

// Exchange is one request's outcome as a gRPC client sees it: the response
// (if one came) and whether the stream ended, with which status.
struct Exchange {
  bool has_response = false;
  grpc::gcp::HandshakerResp resp;
  bool ended = false;
  absl::Status status;
};

// Sender sends one request on one stream and returns what came back.
using Sender = std::function<Exchange(const grpc::gcp::HandshakerReq&)>;

// PairRun is how a RunPair ended for each side.
struct PairRun {
  bool client_done = false;  // a result came back
  bool server_done = false;
  absl::Status client_status;  // the first failure each side saw
  absl::Status server_status;
  grpc::gcp::HandshakerResult client_result;
  grpc::gcp::HandshakerResult server_result;
  int requests = 0;
};

// ClientStart is a gRPC-Go client_start: ["grpc"], REKEY, rpc 2.1..2.1, no
// max_frame_size, the given target service accounts and local identity.
grpc::gcp::HandshakerReq ClientStart(const std::vector<std::string>& targets = {},
                                     const std::string& local = "");
// ServerStart is a gRPC-Go server_start with `in_bytes` and, if given,
// local identities for the ALTS parameters.
grpc::gcp::HandshakerReq ServerStart(const std::string& in_bytes,
                                     const std::vector<std::string>& locals = {});
// Next wraps peer bytes.
grpc::gcp::HandshakerReq Next(const std::string& in_bytes);

// RunPair runs a handshake between a client-role and a server-role stream:
// bytes flow between them in pieces of at most `chunk`, every response is
// checked against the service rules (status set on the first, everything
// consumed before the result, a complete result), until both have a result
// or one side's stream ended with an error.
PairRun RunPair(const Sender& client, const Sender& server,
                const grpc::gcp::HandshakerReq& client_start, size_t chunk = SIZE_MAX);

// StreamSender drives a HandshakeStream directly (no transport), checking
// that it never writes after it finished.
Sender StreamSender(HandshakeStream& stream);

// Call sends one request to a HandshakeStream and returns the exchange.
Exchange Call(HandshakeStream& stream, const grpc::gcp::HandshakerReq& req);

}  // namespace alts::handshaker_service::testing

#endif  // ALTS_TESTS_HANDSHAKER_SERVICE_HSS_TEST_UTIL_H_
