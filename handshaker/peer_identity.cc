#include "handshaker/peer_identity.h"

#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "handshaker/handshake_result.h"

namespace alts {
namespace {

// StringHeap is what a std::string allocates beyond itself (libstdc++
// keeps up to 15 characters inline).
size_t StringHeap(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

// kMapNodeOverhead: a std::map node's links and colour (libstdc++: 32 bytes)
// plus the malloc header.
constexpr size_t kMapNodeOverhead = 48;

size_t IdentityHeap(const Identity& identity) {
  size_t n = StringHeap(identity.service_account);
  for (const auto& [key, value] : identity.attributes) {
    n += kMapNodeOverhead + 2 * sizeof(std::string) + StringHeap(key) + StringHeap(value);
  }
  return n;
}

}  // namespace

PeerIdentity::PeerIdentity(Identity peer, Identity local, std::string application_protocol,
                           RecordProtocol record_protocol, RpcVersionRange peer_rpc_versions)
    : peer_(std::move(peer)),
      local_(std::move(local)),
      application_protocol_(std::move(application_protocol)),
      record_protocol_(record_protocol),
      peer_rpc_versions_(peer_rpc_versions) {}

PeerIdentity PeerIdentity::FromResult(const HandshakeResult& result) {
  return PeerIdentity(result.peer_identity, result.local_identity, result.application_protocol,
                      result.record_protocol, result.peer_rpc_versions);
}

std::optional<absl::string_view> PeerIdentity::attribute(absl::string_view key) const {
  auto it = peer_.attributes.find(std::string(key));
  if (it == peer_.attributes.end()) return std::nullopt;
  return absl::string_view(it->second);
}

absl::string_view PeerIdentity::record_protocol_name() const {
  const std::string_view name = RecordProtocolName(record_protocol_);
  return absl::string_view(name.data(), name.size());
}

grpc::gcp::AltsContext PeerIdentity::ToAltsContext() const {
  grpc::gcp::AltsContext context;
  context.set_application_protocol(application_protocol_);
  const absl::string_view record = record_protocol_name();
  context.set_record_protocol(record.data(), record.size());
  context.set_security_level(security_level());
  context.set_peer_service_account(peer_.service_account);
  context.set_local_service_account(local_.service_account);
  RpcVersionsToProto(peer_rpc_versions_, context.mutable_peer_rpc_versions());
  auto* attributes = context.mutable_peer_attributes();
  for (const auto& [key, value] : peer_.attributes) (*attributes)[key] = value;
  return context;
}

size_t PeerIdentity::HeapBytes() const {
  return IdentityHeap(peer_) + IdentityHeap(local_) + StringHeap(application_protocol_);
}

// State is the table proper. Keys point at the interned objects themselves
// (hashed and compared by content), so nothing is stored twice.
struct PeerIdentityTable::State {
  struct Hash {
    using is_transparent = void;
    size_t operator()(const PeerIdentity* p) const { return absl::HashOf(*p); }
  };
  struct Eq {
    using is_transparent = void;
    bool operator()(const PeerIdentity* a, const PeerIdentity* b) const { return *a == *b; }
  };

  explicit State(size_t capacity) : capacity(capacity) {}
  const size_t capacity;
  mutable std::mutex mu;
  absl::flat_hash_map<const PeerIdentity*, std::weak_ptr<const PeerIdentity>, Hash, Eq> entries;
};

// Deleter drops an interned identity's entry when its last holder lets go.
// An equal identity interned meanwhile (after this one's count reached zero)
// has its own entry, which stays.
struct PeerIdentityTable::Deleter {
  std::shared_ptr<State> state;
  void operator()(const PeerIdentity* identity) const {
    {
      std::lock_guard<std::mutex> lock(state->mu);
      auto it = state->entries.find(identity);
      if (it != state->entries.end() && it->first == identity) state->entries.erase(it);
    }
    delete identity;
  }
};

std::shared_ptr<PeerIdentityTable> PeerIdentityTable::Create(size_t capacity) {
  return std::shared_ptr<PeerIdentityTable>(
      new PeerIdentityTable(std::make_shared<State>(std::max<size_t>(capacity, 1))));
}

PeerIdentityTable& PeerIdentityTable::Global() {
  static PeerIdentityTable* const table =
      new PeerIdentityTable(std::make_shared<State>(kDefaultPeerIdentityTableCapacity));
  return *table;
}

std::shared_ptr<const PeerIdentity> PeerIdentityTable::Intern(PeerIdentity identity) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->entries.find(&identity);
  if (it != state_->entries.end()) {
    if (std::shared_ptr<const PeerIdentity> live = it->second.lock()) return live;
    // Its last holder is gone and its deleter waits for the lock: replace it.
    state_->entries.erase(it);
  }
  if (state_->entries.size() >= state_->capacity) {
    return std::make_shared<const PeerIdentity>(std::move(identity));
  }
  const PeerIdentity* raw = new PeerIdentity(std::move(identity));
  std::shared_ptr<const PeerIdentity> shared(raw, Deleter{state_});
  state_->entries.emplace(raw, shared);
  return shared;
}

size_t PeerIdentityTable::size() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->entries.size();
}

size_t PeerIdentityTable::capacity() const { return state_->capacity; }

std::shared_ptr<const PeerIdentity> InternPeerIdentity(const HandshakeResult& result,
                                                       PeerIdentityTable* table) {
  PeerIdentityTable& t = table != nullptr ? *table : PeerIdentityTable::Global();
  return t.Intern(PeerIdentity::FromResult(result));
}

}  // namespace alts
