#include "handshaker/handshake_result.h"

namespace alts {

grpc::gcp::AltsContext MakeAltsContext(const HandshakeResult& result) {
  grpc::gcp::AltsContext context;
  context.set_application_protocol(result.application_protocol);
  const std::string_view record = RecordProtocolName(result.record_protocol);
  context.set_record_protocol(record.data(), record.size());
  context.set_security_level(grpc::gcp::INTEGRITY_AND_PRIVACY);
  context.set_peer_service_account(result.peer_identity.service_account);
  context.set_local_service_account(result.local_identity.service_account);
  RpcVersionsToProto(result.peer_rpc_versions, context.mutable_peer_rpc_versions());
  auto* attributes = context.mutable_peer_attributes();
  for (const auto& [key, value] : result.peer_identity.attributes) (*attributes)[key] = value;
  return context;
}

void FillHandshakerResult(const HandshakeResult& result, grpc::gcp::HandshakerResult* proto) {
  proto->set_application_protocol(result.application_protocol);
  const std::string_view record = RecordProtocolName(result.record_protocol);
  proto->set_record_protocol(record.data(), record.size());
  proto->set_key_data(result.key_data.data(), result.key_data.size());
  IdentityToProto(result.peer_identity, proto->mutable_peer_identity());
  IdentityToProto(result.local_identity, proto->mutable_local_identity());
  proto->set_keep_channel_open(false);
  RpcVersionsToProto(result.peer_rpc_versions, proto->mutable_peer_rpc_versions());
  proto->set_max_frame_size(result.peer_max_frame_size);
}

absl::StatusOr<RecordProtector> MakeRecordProtector(const HandshakeResult& result) {
  return RecordProtector::Create(
      result.record_protocol, result.side, result.key_data.span(),
      SendFrameSize(result.local_max_frame_size, result.peer_max_frame_size));
}

}  // namespace alts
