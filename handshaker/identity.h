#ifndef ALTS_HANDSHAKER_IDENTITY_H_
#define ALTS_HANDSHAKER_IDENTITY_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "handshaker/proto/alts_handshake.pb.h"
#include "handshaker/proto/handshaker.pb.h"

namespace alts {

// Identity is who a workload is: a service account plus attributes. It is
// what a leaf certificate binds to a static key and what a handshake result
// reports for each side.
struct Identity {
  std::string service_account;
  std::map<std::string, std::string> attributes;

  friend bool operator==(const Identity&, const Identity&) = default;
};

// IdentityMatches returns true if `identity` satisfies `pattern`: the same
// non-empty service account, and every attribute of the pattern present in
// the identity with the same value (the identity may have more).
bool IdentityMatches(const Identity& pattern, const Identity& identity);

// IdentityAllowed returns true if `allowed` is empty or any entry matches.
bool IdentityAllowed(const std::vector<Identity>& allowed, const Identity& identity);

// IdentityFromProto converts a gRPC identity. A hostname identity becomes a
// pattern with an empty service account, which never matches: certificates
// carry service accounts only.
Identity IdentityFromProto(const grpc::gcp::Identity& proto);

// IdentityToProto fills a gRPC identity (service_account + attributes).
void IdentityToProto(const Identity& identity, grpc::gcp::Identity* proto);

// IdentityFromWire checks a service account and attributes decoded from the
// wire: non-empty service account, at most kMaxIdentityAttributes unique
// keys, every field within kMaxIdentityFieldSize. Returns kInvalidArgument
// otherwise. On success fills `out`.
absl::Status IdentityFromWire(
    const std::string& service_account,
    const google::protobuf::RepeatedPtrField<handshake::Attribute>& attributes,
    Identity* out);

// AttributesToWire writes `attributes` to the wire form, in key order.
void AttributesToWire(const std::map<std::string, std::string>& attributes,
                      google::protobuf::RepeatedPtrField<handshake::Attribute>* out);

}  // namespace alts

#endif  // ALTS_HANDSHAKER_IDENTITY_H_
