#ifndef ALTS_HANDSHAKER_HANDSHAKE_RESULT_H_
#define ALTS_HANDSHAKER_HANDSHAKE_RESULT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "alts/record_protector.h"
#include "alts/record_protocol.h"
#include "handshaker/handshake_limits.h"
#include "handshaker/identity.h"
#include "handshaker/proto/altscontext.pb.h"
#include "handshaker/proto/handshaker.pb.h"
#include "handshaker/protocol_negotiation.h"
#include "handshaker/secret_array.h"

namespace alts {

// HandshakeResult is the typed outcome of a successful handshake: what the
// connection layer needs to build its record protector and what
// applications need for authorization. key_data is wiped with the result.
struct HandshakeResult {
  Side side = Side::kClient;
  std::string application_protocol;
  RecordProtocol record_protocol = RecordProtocol::kAes128GcmRekey;
  // 64 bytes, identical on both peers; the record layer uses a prefix.
  SecretArray<kKeyDataSize> key_data;
  Identity peer_identity;
  Identity local_identity;
  RpcVersionRange peer_rpc_versions;
  // The peer's max frame size as a HandshakerResult carries it: 16 KiB if
  // the peer stated none, at most 1 MiB.
  uint32_t peer_max_frame_size = 0;
  // What this side stated (0 = none).
  uint32_t local_max_frame_size = 0;
  // True for a resumed (ticket) handshake.
  bool resumed = false;
};

// MakeAltsContext builds the AltsContext applications read (security level
// INTEGRITY_AND_PRIVACY, protocols, both service accounts, peer RPC versions
// and peer attributes).
grpc::gcp::AltsContext MakeAltsContext(const HandshakeResult& result);

// FillHandshakerResult writes every field gRPC's rule 4 requires into
// `proto` (keep_channel_open false). The caller owns the key_data copy and
// should wipe it (WipeHandshakerResp) when done.
void FillHandshakerResult(const HandshakeResult& result, grpc::gcp::HandshakerResult* proto);

// MakeRecordProtector builds the record protector for this side from the
// result, sending frames of SendFrameSize(local, peer) bytes at most.
// Errors as RecordProtector::Create.
absl::StatusOr<RecordProtector> MakeRecordProtector(const HandshakeResult& result);

}  // namespace alts

#endif  // ALTS_HANDSHAKER_HANDSHAKE_RESULT_H_
