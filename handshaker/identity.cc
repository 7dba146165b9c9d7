#include "handshaker/identity.h"

#include "absl/strings/str_cat.h"
#include "handshaker/handshake_limits.h"

namespace alts {

bool IdentityMatches(const Identity& pattern, const Identity& identity) {
  if (pattern.service_account.empty() ||
      pattern.service_account != identity.service_account) {
    return false;
  }
  for (const auto& [key, value] : pattern.attributes) {
    auto it = identity.attributes.find(key);
    if (it == identity.attributes.end() || it->second != value) return false;
  }
  return true;
}

bool IdentityAllowed(const std::vector<Identity>& allowed, const Identity& identity) {
  if (allowed.empty()) return true;
  for (const Identity& pattern : allowed) {
    if (IdentityMatches(pattern, identity)) return true;
  }
  return false;
}

Identity IdentityFromProto(const grpc::gcp::Identity& proto) {
  Identity out;
  if (proto.identity_oneof_case() == grpc::gcp::Identity::kServiceAccount) {
    out.service_account = proto.service_account();
  }
  for (const auto& [key, value] : proto.attributes()) out.attributes[key] = value;
  return out;
}

void IdentityToProto(const Identity& identity, grpc::gcp::Identity* proto) {
  proto->set_service_account(identity.service_account);
  auto* attributes = proto->mutable_attributes();
  for (const auto& [key, value] : identity.attributes) (*attributes)[key] = value;
}

absl::Status IdentityFromWire(
    const std::string& service_account,
    const google::protobuf::RepeatedPtrField<handshake::Attribute>& attributes,
    Identity* out) {
  if (service_account.empty()) {
    return absl::InvalidArgumentError("identity: empty service account");
  }
  if (service_account.size() > kMaxIdentityFieldSize) {
    return absl::InvalidArgumentError("identity: service account too long");
  }
  if (static_cast<size_t>(attributes.size()) > kMaxIdentityAttributes) {
    return absl::InvalidArgumentError("identity: too many attributes");
  }
  out->service_account = service_account;
  out->attributes.clear();
  for (const handshake::Attribute& attribute : attributes) {
    if (attribute.key().empty() || attribute.key().size() > kMaxIdentityFieldSize ||
        attribute.value().size() > kMaxIdentityFieldSize) {
      return absl::InvalidArgumentError("identity: bad attribute size");
    }
    if (!out->attributes.emplace(attribute.key(), attribute.value()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("identity: duplicate attribute ", attribute.key()));
    }
  }
  return absl::OkStatus();
}

void AttributesToWire(const std::map<std::string, std::string>& attributes,
                      google::protobuf::RepeatedPtrField<handshake::Attribute>* out) {
  out->Clear();
  for (const auto& [key, value] : attributes) {
    handshake::Attribute* attribute = out->Add();
    attribute->set_key(key);
    attribute->set_value(value);
  }
}

}  // namespace alts
