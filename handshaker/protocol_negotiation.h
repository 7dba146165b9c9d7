#ifndef ALTS_HANDSHAKER_PROTOCOL_NEGOTIATION_H_
#define ALTS_HANDSHAKER_PROTOCOL_NEGOTIATION_H_

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "handshaker/proto/transport_security_common.pb.h"

namespace alts {

// RpcVersion is an RPC protocol version, ordered as (major, minor).
struct RpcVersion {
  uint32_t major = 0;
  uint32_t minor = 0;
  friend auto operator<=>(const RpcVersion&, const RpcVersion&) = default;
};

// RpcVersionRange is the [min, max] range of RPC versions a peer supports.
struct RpcVersionRange {
  RpcVersion max;
  RpcVersion min;
  friend bool operator==(const RpcVersionRange&, const RpcVersionRange&) = default;
};

// kDefaultRpcVersions is what gRPC sends: max 2.1, min 2.1.
inline constexpr RpcVersionRange kDefaultRpcVersions{{2, 1}, {2, 1}};

// NegotiateRpcVersions applies handshaker-service rule 6:
// max_common = min(local.max, peer.max), min_common = max(local.min,
// peer.min); compatible iff max_common >= min_common. Returns max_common, or
// kFailedPrecondition if the ranges do not overlap.
absl::StatusOr<RpcVersion> NegotiateRpcVersions(const RpcVersionRange& local,
                                                const RpcVersionRange& peer);

// RpcVersionsFromProto converts gRPC's RpcProtocolVersions. Returns nullopt
// if either bound is missing: a missing value fails negotiation (rule 6).
std::optional<RpcVersionRange> RpcVersionsFromProto(
    const grpc::gcp::RpcProtocolVersions& proto);

// RpcVersionsToProto fills gRPC's RpcProtocolVersions.
void RpcVersionsToProto(const RpcVersionRange& range,
                        grpc::gcp::RpcProtocolVersions* proto);

// PeerMaxFrameSizeForResult maps the max frame size a peer stated (0 = none)
// to what a HandshakerResult carries: 16 KiB when none was stated (gRPC's
// default), never above 1 MiB (rule 7).
uint32_t PeerMaxFrameSizeForResult(uint32_t stated);

// SendFrameSize is the largest frame a side sends (rule 7): min(own, peer),
// where an unstated (0) value counts as 16 KiB, clamped to [kMinMaxFrameSize,
// 1 MiB].
size_t SendFrameSize(uint32_t own, uint32_t peer);

}  // namespace alts

#endif  // ALTS_HANDSHAKER_PROTOCOL_NEGOTIATION_H_
