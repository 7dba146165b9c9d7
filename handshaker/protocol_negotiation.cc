#include "handshaker/protocol_negotiation.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "alts/record_protector.h"

namespace alts {

absl::StatusOr<RpcVersion> NegotiateRpcVersions(const RpcVersionRange& local,
                                                const RpcVersionRange& peer) {
  const RpcVersion max_common = std::min(local.max, peer.max);
  const RpcVersion min_common = std::max(local.min, peer.min);
  if (max_common < min_common) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "incompatible RPC versions: local %u.%u-%u.%u, peer %u.%u-%u.%u",
        local.min.major, local.min.minor, local.max.major, local.max.minor,
        peer.min.major, peer.min.minor, peer.max.major, peer.max.minor));
  }
  return max_common;
}

std::optional<RpcVersionRange> RpcVersionsFromProto(
    const grpc::gcp::RpcProtocolVersions& proto) {
  if (!proto.has_max_rpc_version() || !proto.has_min_rpc_version()) return std::nullopt;
  RpcVersionRange range;
  range.max = {proto.max_rpc_version().major(), proto.max_rpc_version().minor()};
  range.min = {proto.min_rpc_version().major(), proto.min_rpc_version().minor()};
  return range;
}

void RpcVersionsToProto(const RpcVersionRange& range,
                        grpc::gcp::RpcProtocolVersions* proto) {
  proto->mutable_max_rpc_version()->set_major(range.max.major);
  proto->mutable_max_rpc_version()->set_minor(range.max.minor);
  proto->mutable_min_rpc_version()->set_major(range.min.major);
  proto->mutable_min_rpc_version()->set_minor(range.min.minor);
}

uint32_t PeerMaxFrameSizeForResult(uint32_t stated) {
  if (stated == 0) return static_cast<uint32_t>(kDefaultMaxFrameSize);
  return std::min<uint32_t>(stated, static_cast<uint32_t>(kMaxMaxFrameSize));
}

size_t SendFrameSize(uint32_t own, uint32_t peer) {
  const size_t own_size = own == 0 ? kDefaultMaxFrameSize : own;
  const size_t peer_size = peer == 0 ? kDefaultMaxFrameSize : peer;
  return std::clamp(std::min(own_size, peer_size), kMinMaxFrameSize, kMaxMaxFrameSize);
}

}  // namespace alts
