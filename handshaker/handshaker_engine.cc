#include "handshaker/handshaker_engine.h"

#include "absl/strings/str_cat.h"
#include "handshaker/secret_array.h"

namespace alts {
namespace {

constexpr int32_t kAltsHandshakeProtocol = grpc::gcp::ALTS;

absl::Status ParseRecordProtocols(const google::protobuf::RepeatedPtrField<std::string>& names,
                                  std::vector<RecordProtocol>* out) {
  if (static_cast<size_t>(names.size()) > kMaxOfferedProtocols) {
    return absl::InvalidArgumentError("too many record protocols");
  }
  out->clear();
  for (const std::string& name : names) {
    // Names we do not implement are skipped: we can only offer our own.
    absl::StatusOr<RecordProtocol> protocol = ParseRecordProtocol(name);
    if (protocol.ok()) out->push_back(*protocol);
  }
  if (out->empty()) return absl::InvalidArgumentError("no supported record protocol requested");
  return absl::OkStatus();
}

absl::Status ParseApplicationProtocols(const google::protobuf::RepeatedPtrField<std::string>& names,
                                       std::vector<std::string>* out) {
  if (names.empty()) return absl::InvalidArgumentError("no application protocols");
  out->assign(names.begin(), names.end());
  return absl::OkStatus();
}

}  // namespace

HandshakerEngine::HandshakerEngine(std::shared_ptr<const HandshakerConfig> config)
    : config_(std::move(config)) {}

std::string SessionKeyFor(const grpc::gcp::StartClientHandshakeReq& req) {
  if (!req.target_name().empty()) return req.target_name();
  for (const grpc::gcp::Identity& target : req.target_identities()) {
    if (target.identity_oneof_case() == grpc::gcp::Identity::kServiceAccount) {
      return absl::StrCat("sa:", target.service_account());
    }
  }
  if (req.has_remote_endpoint() && !req.remote_endpoint().ip_address().empty()) {
    return absl::StrCat("ep:", req.remote_endpoint().ip_address(), ":",
                        req.remote_endpoint().port());
  }
  return std::string();
}

absl::Status HandshakerEngine::StartClient(const grpc::gcp::StartClientHandshakeReq& req,
                                           std::string* out) {
  if (req.handshake_security_protocol() != grpc::gcp::ALTS) {
    return absl::InvalidArgumentError("only the ALTS handshake protocol is supported");
  }
  HandshakeParams params;
  if (absl::Status s = ParseApplicationProtocols(req.application_protocols(),
                                                 &params.application_protocols);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseRecordProtocols(req.record_protocols(), &params.record_protocols);
      !s.ok()) {
    return s;
  }
  std::optional<RpcVersionRange> versions;
  if (req.has_rpc_versions()) versions = RpcVersionsFromProto(req.rpc_versions());
  if (!versions.has_value()) return absl::InvalidArgumentError("missing rpc_versions");
  params.rpc_versions = *versions;
  params.max_frame_size = req.max_frame_size();
  if (req.has_local_identity() &&
      req.local_identity().identity_oneof_case() == grpc::gcp::Identity::kServiceAccount &&
      req.local_identity().service_account() !=
          config_->credential->identity().service_account) {
    return absl::NotFoundError(absl::StrCat("no credential for local identity ",
                                            req.local_identity().service_account()));
  }
  for (const grpc::gcp::Identity& target : req.target_identities()) {
    params.target_identities.push_back(IdentityFromProto(target));
  }
  params.session_key = SessionKeyFor(req);
  absl::StatusOr<std::unique_ptr<Handshaker>> handshaker =
      Handshaker::Create(Side::kClient, config_, std::move(params));
  if (!handshaker.ok()) return handshaker.status();
  handshaker_ = std::move(*handshaker);
  return handshaker_->Start(out);
}

absl::Status HandshakerEngine::StartServer(const grpc::gcp::StartServerHandshakeReq& req) {
  auto it = req.handshake_parameters().find(kAltsHandshakeProtocol);
  if (it == req.handshake_parameters().end()) {
    return absl::InvalidArgumentError("server_start has no ALTS handshake parameters");
  }
  const grpc::gcp::ServerHandshakeParameters& alts_params = it->second;
  HandshakeParams params;
  if (absl::Status s = ParseApplicationProtocols(req.application_protocols(),
                                                 &params.application_protocols);
      !s.ok()) {
    return s;
  }
  if (!alts_params.record_protocols().empty()) {
    if (absl::Status s =
            ParseRecordProtocols(alts_params.record_protocols(), &params.record_protocols);
        !s.ok()) {
      return s;
    }
  }
  if (!alts_params.local_identities().empty()) {
    bool found = false;
    for (const grpc::gcp::Identity& identity : alts_params.local_identities()) {
      found = found || IdentityMatches(IdentityFromProto(identity), config_->credential->identity());
    }
    if (!found) return absl::NotFoundError("no credential for any requested local identity");
  }
  std::optional<RpcVersionRange> versions;
  if (req.has_rpc_versions()) versions = RpcVersionsFromProto(req.rpc_versions());
  if (!versions.has_value()) return absl::InvalidArgumentError("missing rpc_versions");
  params.rpc_versions = *versions;
  params.max_frame_size = req.max_frame_size();
  absl::StatusOr<std::unique_ptr<Handshaker>> handshaker =
      Handshaker::Create(Side::kServer, config_, std::move(params));
  if (!handshaker.ok()) return handshaker.status();
  handshaker_ = std::move(*handshaker);
  return absl::OkStatus();
}

void HandshakerEngine::Next(const grpc::gcp::HandshakerReq& req,
                            grpc::gcp::HandshakerResp* resp) {
  resp->Clear();
  std::string* out = resp->mutable_out_frames();
  absl::Status status = status_;
  const std::string* in_bytes = nullptr;
  if (status.ok()) {
    switch (req.req_oneof_case()) {
      case grpc::gcp::HandshakerReq::kClientStart:
        status = handshaker_ != nullptr
                     ? absl::FailedPreconditionError("handshake already started")
                     : StartClient(req.client_start(), out);
        break;
      case grpc::gcp::HandshakerReq::kServerStart:
        if (handshaker_ != nullptr) {
          status = absl::FailedPreconditionError("handshake already started");
        } else {
          status = StartServer(req.server_start());
          in_bytes = &req.server_start().in_bytes();
        }
        break;
      case grpc::gcp::HandshakerReq::kNext:
        if (handshaker_ == nullptr) {
          status = absl::FailedPreconditionError("next before client_start or server_start");
        } else {
          in_bytes = &req.next().in_bytes();
        }
        break;
      default:
        status = absl::InvalidArgumentError("empty HandshakerReq");
        break;
    }
    if (status.ok() && in_bytes != nullptr) {
      absl::StatusOr<size_t> consumed = handshaker_->Step(AsBytes(*in_bytes), out);
      if (consumed.ok()) {
        resp->set_bytes_consumed(static_cast<uint32_t>(*consumed));
      } else {
        status = consumed.status();
      }
    }
    // A request after completion is refused without undoing the result;
    // everything else that fails ends the handshake.
    if (!status.ok() && !done()) status_ = status;
  }
  resp->mutable_status()->set_code(static_cast<uint32_t>(status.code()));
  if (!status.ok()) {
    resp->mutable_status()->set_details(std::string(status.message()));
    return;
  }
  if (done() && in_bytes != nullptr) {
    FillHandshakerResult(handshaker_->result(), resp->mutable_result());
  }
}

grpc::gcp::HandshakerResp HandshakerEngine::Next(const grpc::gcp::HandshakerReq& req) {
  grpc::gcp::HandshakerResp resp;
  Next(req, &resp);
  return resp;
}

void WipeHandshakerResp(grpc::gcp::HandshakerResp* resp) {
  if (resp->has_result()) WipeString(*resp->mutable_result()->mutable_key_data());
  WipeString(*resp->mutable_out_frames());
}

}  // namespace alts
