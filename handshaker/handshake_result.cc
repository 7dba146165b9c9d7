#include "handshaker/handshake_result.h"

#include "handshaker/peer_identity.h"

namespace alts {

grpc::gcp::AltsContext MakeAltsContext(const HandshakeResult& result) {
  return PeerIdentity::FromResult(result).ToAltsContext();
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
