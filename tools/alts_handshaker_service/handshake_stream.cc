#include "tools/alts_handshaker_service/handshake_stream.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "handshaker/secret_array.h"
#include "handshaker/session_cache.h"
#include "handshaker/ticket_key_manager.h"

namespace alts::handshaker_service {
namespace {

constexpr int32_t kAltsHandshakeProtocol = grpc::gcp::ALTS;

// NamesNoIdentity returns true for an Identity message that says nothing
// (no service account, hostname or attribute): treated as "none given".
bool NamesNoIdentity(const grpc::gcp::Identity& identity) {
  return identity.identity_oneof_case() == grpc::gcp::Identity::IDENTITY_ONEOF_NOT_SET &&
         identity.attributes().empty();
}

absl::Status StatusFromResp(const grpc::gcp::HandshakerResp& resp) {
  const uint32_t code = resp.status().code();
  // The engine only uses gRPC's codes; anything else would be a bug there,
  // reported as such rather than passed on as an unknown number.
  if (code > static_cast<uint32_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::InternalError(absl::StrCat("handshake failed with code ", code, ": ",
                                            resp.status().details()));
  }
  return absl::Status(static_cast<absl::StatusCode>(code), resp.status().details());
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ServiceIdentities>> ServiceIdentities::Create(
    ServiceOptions options) {
  if (options.credentials.empty()) {
    return absl::InvalidArgumentError("the service needs at least one credential");
  }
  if (options.credentials.size() > kMaxServiceCredentials) {
    return absl::InvalidArgumentError(
        absl::StrCat("at most ", kMaxServiceCredentials, " credentials"));
  }
  if (options.verifier == nullptr) {
    return absl::InvalidArgumentError("the service needs trust roots");
  }
  if (options.handshake_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the handshake timeout must be positive");
  }
  for (size_t i = 0; i < options.credentials.size(); ++i) {
    if (options.credentials[i] == nullptr) return absl::InvalidArgumentError("null credential");
    for (size_t j = 0; j < i; ++j) {
      if (options.credentials[j]->identity() == options.credentials[i]->identity()) {
        return absl::InvalidArgumentError(
            absl::StrCat("two credentials for the same identity ",
                         options.credentials[i]->identity().service_account));
      }
    }
  }
  std::shared_ptr<TicketKeyManager> ticket_keys;
  std::shared_ptr<SessionCache> sessions;
  if (options.resumption) {
    TicketKeyManager::Options ticket_options;
    ticket_options.clock = options.clock;
    absl::StatusOr<std::shared_ptr<TicketKeyManager>> keys =
        TicketKeyManager::Create(ticket_options);
    if (!keys.ok()) return keys.status();
    ticket_keys = std::move(*keys);
    sessions = SessionCache::Create();
  }
  std::vector<std::shared_ptr<const HandshakerConfig>> configs;
  configs.reserve(options.credentials.size());
  for (std::shared_ptr<const WorkloadCredential>& credential : options.credentials) {
    auto config = std::make_shared<HandshakerConfig>();
    config->credential = std::move(credential);
    config->verifier = options.verifier;
    config->ticket_keys = ticket_keys;
    config->session_cache = sessions;
    config->accepted_client_identities = options.allowed_peers;
    config->deadline = options.handshake_timeout;
    config->clock = options.clock;
    configs.push_back(std::move(config));
  }
  return std::shared_ptr<const ServiceIdentities>(
      new ServiceIdentities(std::move(configs), options.handshake_timeout));
}

absl::StatusOr<std::shared_ptr<const HandshakerConfig>> ServiceIdentities::Match(
    absl::Span<const grpc::gcp::Identity* const> wanted) const {
  for (const std::shared_ptr<const HandshakerConfig>& config : configs_) {
    for (const grpc::gcp::Identity* identity : wanted) {
      if (IdentityMatches(IdentityFromProto(*identity), config->credential->identity())) {
        return config;
      }
    }
  }
  std::string names;
  for (const grpc::gcp::Identity* identity : wanted) {
    absl::StrAppend(&names, names.empty() ? "" : ", ",
                    identity->identity_oneof_case() == grpc::gcp::Identity::kHostname
                        ? absl::StrCat("hostname ", identity->hostname())
                        : identity->service_account());
  }
  return absl::NotFoundError(absl::StrCat("the handshaker service has no credential for ", names));
}

absl::StatusOr<std::shared_ptr<const HandshakerConfig>> ServiceIdentities::ForClient(
    const grpc::gcp::StartClientHandshakeReq& req) const {
  if (!req.has_local_identity() || NamesNoIdentity(req.local_identity())) return configs_.front();
  const grpc::gcp::Identity* wanted = &req.local_identity();
  return Match(absl::MakeConstSpan(&wanted, 1));
}

absl::StatusOr<std::shared_ptr<const HandshakerConfig>> ServiceIdentities::ForServer(
    const grpc::gcp::StartServerHandshakeReq& req) const {
  auto it = req.handshake_parameters().find(kAltsHandshakeProtocol);
  if (it == req.handshake_parameters().end()) {
    return absl::InvalidArgumentError("server_start has no ALTS handshake parameters");
  }
  const auto& identities = it->second.local_identities();
  if (static_cast<size_t>(identities.size()) > kMaxRequestedIdentities) {
    return absl::InvalidArgumentError(
        absl::StrCat("server_start lists more than ", kMaxRequestedIdentities, " local identities"));
  }
  std::vector<const grpc::gcp::Identity*> wanted;
  for (const grpc::gcp::Identity& identity : identities) {
    if (!NamesNoIdentity(identity)) wanted.push_back(&identity);
  }
  if (wanted.empty()) return configs_.front();
  return Match(wanted);
}

std::optional<Side> RequestSide(absl::Span<const uint8_t> message) {
  grpc::gcp::HandshakerReq req;
  if (message.size() > kMaxHandshakerRequestSize ||
      !req.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
    return std::nullopt;
  }
  switch (req.req_oneof_case()) {
    case grpc::gcp::HandshakerReq::kClientStart:
      return Side::kClient;
    case grpc::gcp::HandshakerReq::kServerStart:
      return Side::kServer;
    default:
      return std::nullopt;
  }
}

HandshakeStream::HandshakeStream(std::shared_ptr<const ServiceIdentities> identities)
    : identities_(std::move(identities)) {}

HandshakeStream::~HandshakeStream() = default;

StreamAction HandshakeStream::OnRequest(absl::Span<const uint8_t> message) {
  if (finished()) return {};
  const bool first = !started();
  if (message.size() > kMaxHandshakerRequestSize) {
    absl::Status status = absl::ResourceExhaustedError(
        absl::StrCat("HandshakerReq of ", message.size(), " bytes exceeds the limit of ",
                     kMaxHandshakerRequestSize));
    return first ? StatusResponse(status) : End(std::move(status), StreamOutcome::kFailed);
  }
  grpc::gcp::HandshakerReq req;
  if (!req.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
    absl::Status status = absl::InvalidArgumentError("HandshakerReq does not parse");
    return first ? StatusResponse(status) : End(std::move(status), StreamOutcome::kFailed);
  }
  ++requests_;
  return first ? HandleFirst(req) : HandleLater(req);
}

StreamAction HandshakeStream::HandleFirst(const grpc::gcp::HandshakerReq& req) {
  absl::StatusOr<std::shared_ptr<const HandshakerConfig>> config;
  switch (req.req_oneof_case()) {
    case grpc::gcp::HandshakerReq::kClientStart:
      side_ = Side::kClient;
      config = identities_->ForClient(req.client_start());
      break;
    case grpc::gcp::HandshakerReq::kServerStart:
      side_ = Side::kServer;
      config = identities_->ForServer(req.server_start());
      break;
    case grpc::gcp::HandshakerReq::kNext:
      return StatusResponse(
          absl::FailedPreconditionError("next before client_start or server_start"));
    default:
      return StatusResponse(
          absl::InvalidArgumentError("HandshakerReq has no client_start, server_start or next"));
  }
  if (!config.ok()) return StatusResponse(config.status());
  local_ = (*config)->credential->identity().service_account;
  engine_ = std::make_unique<HandshakerEngine>(std::move(*config));
  grpc::gcp::HandshakerResp resp;
  engine_->Next(req, &resp);
  return Respond(resp, /*first=*/true);
}

StreamAction HandshakeStream::HandleLater(const grpc::gcp::HandshakerReq& req) {
  switch (req.req_oneof_case()) {
    case grpc::gcp::HandshakerReq::kNext: {
      grpc::gcp::HandshakerResp resp;
      engine_->Next(req, &resp);
      return Respond(resp, /*first=*/false);
    }
    case grpc::gcp::HandshakerReq::kClientStart:
    case grpc::gcp::HandshakerReq::kServerStart:
      return End(absl::FailedPreconditionError("the handshake has already started"),
                 StreamOutcome::kFailed);
    default:
      return End(absl::InvalidArgumentError("HandshakerReq has no client_start, server_start or next"),
                 StreamOutcome::kFailed);
  }
}

StreamAction HandshakeStream::Respond(grpc::gcp::HandshakerResp& resp, bool first) {
  absl::Status status = StatusFromResp(resp);
  if (!status.ok()) {
    if (!first) {
      // Only the stream's status can reach every gRPC client now; bytes for
      // the peer would make gRPC-Go wait for an answer that never comes.
      WipeHandshakerResp(&resp);
      return End(std::move(status), StreamOutcome::kFailed);
    }
    StreamAction action = End(status, StreamOutcome::kFailed);
    action.write = true;
    resp.SerializeToString(&action.response);
    WipeHandshakerResp(&resp);
    return action;
  }
  StreamAction action;
  if (resp.has_result()) {
    peer_ = resp.result().peer_identity().service_account();
    action = End(absl::OkStatus(), StreamOutcome::kCompleted);
  }
  action.write = true;
  resp.SerializeToString(&action.response);
  WipeHandshakerResp(&resp);
  return action;
}

StreamAction HandshakeStream::StatusResponse(const absl::Status& status) {
  grpc::gcp::HandshakerResp resp;
  resp.mutable_status()->set_code(static_cast<uint32_t>(status.code()));
  resp.mutable_status()->set_details(std::string(status.message()));
  StreamAction action = End(status, StreamOutcome::kFailed);
  action.write = true;
  resp.SerializeToString(&action.response);
  return action;
}

StreamAction HandshakeStream::End(absl::Status status, StreamOutcome outcome) {
  outcome_ = outcome;
  status_ = status;
  // The engine wipes its secrets as it goes.
  engine_.reset();
  StreamAction action;
  action.finish = true;
  action.status = std::move(status);
  return action;
}

StreamAction HandshakeStream::OnHalfClose() {
  if (finished()) return {};
  return End(absl::CancelledError(
                 "the client half-closed the stream before the handshake finished"),
             StreamOutcome::kAbandoned);
}

StreamAction HandshakeStream::OnDeadline(bool first_request_waiting) {
  if (finished()) return {};
  absl::Status status = absl::DeadlineExceededError(
      absl::StrCat("the handshake did not finish within ",
                   absl::FormatDuration(identities_->handshake_timeout())));
  if (first_request_waiting && !started()) {
    StreamAction action = StatusResponse(status);
    outcome_ = StreamOutcome::kAbandoned;
    return action;
  }
  return End(std::move(status), StreamOutcome::kAbandoned);
}

StreamAction HandshakeStream::Refuse(absl::Status status) {
  if (finished()) return {};
  return StatusResponse(status);
}

StreamAction HandshakeStream::Fail(absl::Status status) {
  if (finished()) return {};
  return End(std::move(status), StreamOutcome::kFailed);
}

void HandshakeStream::OnCancel() {
  if (finished()) return;
  outcome_ = StreamOutcome::kAbandoned;
  status_ = absl::CancelledError("the client went away");
  engine_.reset();
}

}  // namespace alts::handshaker_service
