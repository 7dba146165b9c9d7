#ifndef ALTS_HANDSHAKER_PEER_IDENTITY_H_
#define ALTS_HANDSHAKER_PEER_IDENTITY_H_

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "alts/record_protocol.h"
#include "handshaker/identity.h"
#include "handshaker/proto/altscontext.pb.h"
#include "handshaker/protocol_negotiation.h"

namespace alts {

struct HandshakeResult;

// kDefaultPeerIdentityTableCapacity: distinct peer identities a table
// shares at once. Each costs a few hundred bytes; past the bound a new
// identity is still handed out, only not shared, so a flood of distinct
// certificates cannot grow the table without bound.
inline constexpr size_t kDefaultPeerIdentityTableCapacity = 16384;

// PeerIdentity is the authenticated peer of an established connection and
// what its handshake agreed: everything gRPC's AltsContext carries (peer
// service account and attributes, record and application protocol, the
// peer's RPC versions, the local identity). Immutable, so many connections
// from the same peer share one object (PeerIdentityTable); a connection
// keeps a std::shared_ptr<const PeerIdentity> (16 bytes) for its lifetime.
// This is what a server hands its handlers for authorization:
//   if (!peer->Matches({"frontend@prod", {{"env", "prod"}}})) deny();
class PeerIdentity {
 public:
  // PeerIdentity builds an identity from its parts (the driver builds it
  // from a HandshakeResult with FromResult; tests may build one directly).
  PeerIdentity(Identity peer, Identity local, std::string application_protocol,
               RecordProtocol record_protocol, RpcVersionRange peer_rpc_versions);

  // FromResult copies the identity parts of a successful handshake's result.
  static PeerIdentity FromResult(const HandshakeResult& result);

  // service_account returns the peer's authenticated service account (never
  // empty for an identity from a handshake).
  const std::string& service_account() const { return peer_.service_account; }
  // attributes returns the peer certificate's attributes, by key.
  const std::map<std::string, std::string>& attributes() const { return peer_.attributes; }
  // attribute returns the value of attribute `key`, or nullopt if the peer
  // has none.
  std::optional<absl::string_view> attribute(absl::string_view key) const;
  // identity returns the peer's service account and attributes together
  // (for IdentityMatches and friends).
  const Identity& identity() const { return peer_; }
  // Matches returns true if the peer satisfies `pattern` (IdentityMatches:
  // same service account, every attribute of the pattern present and equal).
  bool Matches(const Identity& pattern) const { return IdentityMatches(pattern, peer_); }

  // record_protocol returns the negotiated record protocol.
  RecordProtocol record_protocol() const { return record_protocol_; }
  // record_protocol_name returns its wire name ("ALTSRP_GCM_AES128_REKEY").
  absl::string_view record_protocol_name() const;
  // application_protocol returns the negotiated application protocol ("grpc").
  const std::string& application_protocol() const { return application_protocol_; }
  // peer_rpc_versions returns the RPC versions the peer stated.
  const RpcVersionRange& peer_rpc_versions() const { return peer_rpc_versions_; }
  // local_identity returns this side's own identity in the handshake.
  const Identity& local_identity() const { return local_; }
  // local_service_account returns this side's service account.
  const std::string& local_service_account() const { return local_.service_account; }
  // security_level is always INTEGRITY_AND_PRIVACY (AES-GCM records).
  grpc::gcp::SecurityLevel security_level() const { return grpc::gcp::INTEGRITY_AND_PRIVACY; }

  // ToAltsContext builds gRPC's AltsContext proto from this identity, for
  // callers that want the proto (it allocates; keep the PeerIdentity).
  grpc::gcp::AltsContext ToAltsContext() const;

  // HeapBytes returns an estimate of what this object holds beyond
  // sizeof(PeerIdentity): string and attribute-node allocations.
  size_t HeapBytes() const;

  friend bool operator==(const PeerIdentity&, const PeerIdentity&) = default;

  // AbslHashValue hashes every field (for the intern table).
  template <typename H>
  friend H AbslHashValue(H h, const PeerIdentity& p) {
    h = HashIdentity(std::move(h), p.peer_);
    h = HashIdentity(std::move(h), p.local_);
    return H::combine(std::move(h), p.application_protocol_, static_cast<int>(p.record_protocol_),
                      p.peer_rpc_versions_.max.major, p.peer_rpc_versions_.max.minor,
                      p.peer_rpc_versions_.min.major, p.peer_rpc_versions_.min.minor);
  }

 private:
  template <typename H>
  static H HashIdentity(H h, const Identity& identity) {
    h = H::combine(std::move(h), identity.service_account, identity.attributes.size());
    for (const auto& [key, value] : identity.attributes) h = H::combine(std::move(h), key, value);
    return h;
  }

  Identity peer_;
  Identity local_;
  std::string application_protocol_;
  RecordProtocol record_protocol_;
  RpcVersionRange peer_rpc_versions_;
};

// PeerIdentityTable interns peer identities: Intern returns the one shared
// object for equal identities that are alive, so 10k connections from one
// client hold 10k shared_ptrs to one PeerIdentity. The table holds weak
// references only: an identity dies with the last connection holding it,
// and its entry with it. Bounded (capacity entries; beyond it identities are
// handed out unshared). Thread-safe. The table may be destroyed while
// identities it handed out live on.
class PeerIdentityTable {
 public:
  // Create returns a table sharing up to `capacity` (at least 1) identities.
  static std::shared_ptr<PeerIdentityTable> Create(
      size_t capacity = kDefaultPeerIdentityTableCapacity);
  // Global returns the process-wide table (HandshakerConfig::peer_identities
  // == nullptr uses it). Never destroyed.
  static PeerIdentityTable& Global();

  // Intern returns the live identity equal to `identity`, or makes
  // `identity` the shared one. Never fails: past capacity the identity is
  // returned unshared.
  std::shared_ptr<const PeerIdentity> Intern(PeerIdentity identity);

  // size returns how many identities are interned (alive) now.
  size_t size() const;
  // capacity returns the bound on size().
  size_t capacity() const;

 private:
  struct State;
  struct Deleter;
  explicit PeerIdentityTable(std::shared_ptr<State> state) : state_(std::move(state)) {}
  // Identities keep the state alive through their deleter, so the table
  // object itself may die first.
  std::shared_ptr<State> state_;
};

// InternPeerIdentity returns the shared identity of a successful handshake's
// result from `table` (nullptr = PeerIdentityTable::Global()).
std::shared_ptr<const PeerIdentity> InternPeerIdentity(const HandshakeResult& result,
                                                       PeerIdentityTable* table);

}  // namespace alts

#endif  // ALTS_HANDSHAKER_PEER_IDENTITY_H_
