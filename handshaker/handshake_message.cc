#include "handshaker/handshake_message.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "alts/record_protector.h"

namespace alts {
namespace {

void WriteHeader(MessageType type, size_t body_size, uint8_t header[kMessageHeaderSize]) {
  header[0] = static_cast<uint8_t>(type);
  header[1] = static_cast<uint8_t>(body_size >> 16);
  header[2] = static_cast<uint8_t>(body_size >> 8);
  header[3] = static_cast<uint8_t>(body_size);
}

bool KnownType(uint8_t type) {
  return type >= static_cast<uint8_t>(MessageType::kClientInit) &&
         type <= static_cast<uint8_t>(MessageType::kServerRetry);
}

// CheckHeader validates a complete 4-byte header and returns the body size.
absl::StatusOr<size_t> CheckHeader(const uint8_t* header) {
  if (!KnownType(header[0])) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown handshake message type ", header[0]));
  }
  const size_t length =
      (size_t{header[1]} << 16) | (size_t{header[2]} << 8) | size_t{header[3]};
  if (length > kMaxHandshakeMessageSize) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "handshake message of ", length, " bytes exceeds kMaxHandshakeMessageSize"));
  }
  return length;
}

absl::Status CheckProtocolList(const google::protobuf::RepeatedPtrField<std::string>& names,
                               absl::string_view what) {
  if (static_cast<size_t>(names.size()) > kMaxOfferedProtocols) {
    return absl::InvalidArgumentError(absl::StrCat("too many ", what));
  }
  for (const std::string& name : names) {
    if (name.empty() || name.size() > kMaxProtocolNameSize) {
      return absl::InvalidArgumentError(absl::StrCat("bad length in ", what));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckChain(const google::protobuf::RepeatedPtrField<std::string>& chain) {
  if (static_cast<size_t>(chain.size()) > kMaxChainCertificates) {
    return absl::ResourceExhaustedError("certificate chain has too many certificates");
  }
  size_t total = 0;
  for (const std::string& certificate : chain) {
    if (certificate.size() > kMaxCertificateSize) {
      return absl::ResourceExhaustedError("certificate too large");
    }
    total += certificate.size();
  }
  if (total > kMaxCertificateChainSize) {
    return absl::ResourceExhaustedError("certificate chain too large");
  }
  return absl::OkStatus();
}

absl::Status CheckCommon(const std::string& random, const std::string& ephemeral_key,
                         bool has_rpc_versions, uint32_t max_frame_size) {
  if (random.size() != kRandomSize) return absl::InvalidArgumentError("random must be 32 bytes");
  if (ephemeral_key.size() != kX25519KeySize) {
    return absl::InvalidArgumentError("ephemeral key must be 32 bytes");
  }
  if (!has_rpc_versions) return absl::InvalidArgumentError("missing rpc_versions");
  if (max_frame_size != 0 && max_frame_size < kMinMaxFrameSize) {
    return absl::InvalidArgumentError("max_frame_size below kMinMaxFrameSize");
  }
  return absl::OkStatus();
}

}  // namespace

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kClientInit:
      return "ClientInit";
    case MessageType::kServerInit:
      return "ServerInit";
    case MessageType::kServerFinished:
      return "ServerFinished";
    case MessageType::kClientFinished:
      return "ClientFinished";
    case MessageType::kServerRetry:
      return "ServerRetry";
  }
  return "unknown";
}

absl::Status AppendMessage(MessageType type, const google::protobuf::MessageLite& body,
                           std::string* out) {
  const size_t size = body.ByteSizeLong();
  if (size > kMaxHandshakeMessageSize) {
    return absl::InternalError(
        absl::StrCat(MessageTypeName(type), " exceeds kMaxHandshakeMessageSize"));
  }
  const size_t start = out->size();
  out->resize(start + kMessageHeaderSize + size);
  auto* p = reinterpret_cast<uint8_t*>(out->data()) + start;
  WriteHeader(type, size, p);
  body.SerializeWithCachedSizesToArray(p + kMessageHeaderSize);
  return absl::OkStatus();
}

void AppendRawMessage(MessageType type, absl::Span<const uint8_t> body, std::string* out) {
  uint8_t header[kMessageHeaderSize];
  WriteHeader(type, body.size(), header);
  out->append(reinterpret_cast<const char*>(header), sizeof(header));
  out->append(reinterpret_cast<const char*>(body.data()), body.size());
}

absl::StatusOr<size_t> MessageReader::Consume(absl::Span<const uint8_t> in) {
  if (ready_) return absl::InternalError("MessageReader: Reset before consuming more");
  if (buffer_.empty() && in.size() >= kMessageHeaderSize) {
    // Fast path: the header (and maybe the whole message) is in `in`.
    absl::StatusOr<size_t> length = CheckHeader(in.data());
    if (!length.ok()) return length.status();
    const size_t total = kMessageHeaderSize + *length;
    if (in.size() >= total) {
      message_ = in.first(total);
      type_ = static_cast<MessageType>(in[0]);
      ready_ = true;
      return total;
    }
    buffer_.reserve(total);
    buffer_.assign(reinterpret_cast<const char*>(in.data()), in.size());
    return in.size();
  }
  size_t used = 0;
  if (buffer_.size() < kMessageHeaderSize) {
    const size_t n = std::min(kMessageHeaderSize - buffer_.size(), in.size());
    buffer_.append(reinterpret_cast<const char*>(in.data()), n);
    used += n;
    if (buffer_.size() < kMessageHeaderSize) return used;
    absl::StatusOr<size_t> length =
        CheckHeader(reinterpret_cast<const uint8_t*>(buffer_.data()));
    if (!length.ok()) return length.status();
    buffer_.reserve(kMessageHeaderSize + *length);
  }
  const auto* header = reinterpret_cast<const uint8_t*>(buffer_.data());
  const size_t total = kMessageHeaderSize + ((size_t{header[1]} << 16) |
                                             (size_t{header[2]} << 8) | size_t{header[3]});
  const size_t n = std::min(total - buffer_.size(), in.size() - used);
  buffer_.append(reinterpret_cast<const char*>(in.data()) + used, n);
  used += n;
  if (buffer_.size() == total) {
    message_ = absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(buffer_.data()),
                                         buffer_.size());
    type_ = static_cast<MessageType>(header[0]);
    ready_ = true;
  }
  return used;
}

void MessageReader::Reset() {
  buffer_.clear();
  message_ = {};
  ready_ = false;
}

absl::Status ParseClientInit(absl::Span<const uint8_t> body, handshake::ClientInit* out) {
  if (!out->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::InvalidArgumentError("ClientInit does not parse");
  }
  if (absl::Status s = CheckCommon(out->random(), out->ephemeral_key(), out->has_rpc_versions(),
                                   out->max_frame_size());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckProtocolList(out->record_protocols(), "record protocols"); !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckProtocolList(out->application_protocols(), "application protocols");
      !s.ok()) {
    return s;
  }
  if (out->record_protocols().empty() || out->application_protocols().empty()) {
    return absl::InvalidArgumentError("ClientInit offers no protocols");
  }
  if (out->ticket().size() > kMaxTicketSize) {
    return absl::ResourceExhaustedError("ticket exceeds kMaxTicketSize");
  }
  if (absl::Status s = CheckChain(out->certificate_chain()); !s.ok()) return s;
  const bool resuming = !out->ticket().empty();
  if (resuming != out->certificate_chain().empty()) {
    return absl::InvalidArgumentError(
        "ClientInit must carry either a certificate chain or a ticket");
  }
  return absl::OkStatus();
}

absl::Status ParseServerInit(absl::Span<const uint8_t> body, handshake::ServerInit* out) {
  if (!out->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return absl::InvalidArgumentError("ServerInit does not parse");
  }
  if (absl::Status s = CheckCommon(out->random(), out->ephemeral_key(), out->has_rpc_versions(),
                                   out->max_frame_size());
      !s.ok()) {
    return s;
  }
  if (out->record_protocol().empty() || out->record_protocol().size() > kMaxProtocolNameSize ||
      out->application_protocol().empty() ||
      out->application_protocol().size() > kMaxProtocolNameSize) {
    return absl::InvalidArgumentError("ServerInit: bad protocol choice");
  }
  if (out->new_ticket().size() > kMaxTicketSize) {
    return absl::ResourceExhaustedError("ticket exceeds kMaxTicketSize");
  }
  if (absl::Status s = CheckChain(out->certificate_chain()); !s.ok()) return s;
  if (out->resumed() != out->certificate_chain().empty()) {
    return absl::InvalidArgumentError(
        "ServerInit must carry a certificate chain unless resumed");
  }
  return absl::OkStatus();
}

}  // namespace alts
